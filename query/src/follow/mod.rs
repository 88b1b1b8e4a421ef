//! Following: the last matches from the index, then every new match as it is
//! acknowledged, with no gap and no duplicate between the two.
//!
//! - [`session`]: one follower ([`Follow`]): the seam between history and live, the
//!   resume [`FollowCursor`], resynchronisation after an overflow.
//! - [`hub`]: the engine's live feed fanned out to followers through bounded queues.
//! - [`matcher`]: a query evaluated against live records in memory.
//! - [`scan`]: history and catch-up reads from the index, bounded by ingest order.

pub mod hub;
pub mod matcher;
pub mod scan;
pub mod session;

pub use hub::{Hub, HubLimits};
pub use matcher::LiveMatcher;
pub use session::{Follow, FollowCursor, FollowError, FollowEvent, FollowRequest};
