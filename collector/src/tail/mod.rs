//! Following one log file through its rotations, every byte read once.
//!
//! [`FileTail`] is synchronous and poll-driven: the agent wakes it on an inotify event
//! or a timer, and each [`FileTail::poll`] returns the complete lines that arrived,
//! tagged with a *logical position*. Positions strictly increase over the life of a
//! tail, across rotations, truncations and restarts, which is what lets a record's
//! `_seq` be derived from them.
//!
//! - [`file_id`]: which file is which (device + inode, birth time, fingerprint);
//! - [`rotation`]: the naming [`Layout`]s and finding a file's successors;
//! - [`catcher`]: new files opened on file notifications, ahead of the tail's polls, and
//!   the count of files gone before anything could open them;
//! - [`follower`]: the [`FileTail`] itself, its [`Chunk`]s and checkpoint positions.
//!
//! A checkpoint is a [`TailPosition`] from [`FileTail::position_at`], stored after the
//! lines up to it were acknowledged; [`FileTail::open`] resumes there.

pub mod catcher;
pub mod file_id;
pub mod follower;
pub mod rotation;

#[cfg(test)]
mod follower_tests;
#[cfg(test)]
mod model_tests;

pub use catcher::Catcher;
pub use file_id::FileId;
pub use follower::{Chunk, FileEnd, FileTail, Loss, LossKind, ResumeLoss, DEFAULT_MAX_LINE_BYTES};
pub use rotation::Layout;

use serde::{Deserialize, Serialize};

/// Where a follower stands, as stored in a checkpoint (serde, JSON-friendly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailPosition {
    /// The file being read.
    pub file: FileId,
    /// Byte offset in that file to resume at.
    pub offset: u64,
    /// Logical position of that file's byte 0.
    pub base: u64,
}

impl TailPosition {
    /// The logical position this names: `base + offset`.
    pub fn logical(&self) -> u64 {
        self.base + self.offset
    }
}
