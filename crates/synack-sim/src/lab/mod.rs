//! lab
mod seg;
pub use seg::{Note, Recorder, Seg};
