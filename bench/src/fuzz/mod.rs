//! Fuzzing the parsers a user can reach (`bench/fuzz`):
//!
//! - [`gen`]: the seeded RNG, grammar-aware generators and the byte mutator.
//! - [`targets`]: each parser behind one function, with its generator and seeds.

pub mod gen;
pub mod targets;
