//! synack: a userspace TCP/IP stack with a sans-IO core.
//!
//! The engine never reads a clock or performs I/O: time enters as an argument, packets as
//! byte slices, and segments leave as values.

pub mod time;

pub use synack_wire::TcpFlags;
pub use time::{Duration, Instant};
