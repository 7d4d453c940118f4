//! synack: a userspace TCP/IP stack with a sans-IO core.
//!
//! The engine never reads a clock or performs I/O: time enters as an argument, packets as
//! byte slices, and segments leave as values.

pub mod time;

pub mod bbr;
pub mod buffer;
pub mod cc;
pub mod config;
pub mod conn;
pub mod cubic;
pub mod error;
pub mod event;
pub mod isn;
mod lazyvec;
pub mod rate;
pub mod rtt;
pub mod sack;
pub mod segment;
pub mod seq;
pub mod stack;
pub mod state;

pub use synack_wire::TcpFlags;
pub use time::{Duration, Instant};

pub use cc::{CongestionControl, Reno};
pub use config::{ChallengeAckLimiter, Config, Flavor, OptionLayout};
pub use conn::{Connection, Info, LossStats, Stats, Status, TimerKind};
pub use cubic::Cubic;
pub use error::Error;
pub use event::{DropReason, Event, SegSummary};
pub use isn::{FourTuple, IsnGenerator, siphash24};
pub use rtt::{RtoRule, RttEstimator};
pub use segment::{
    SackBlocks, SegOptions, SegmentIn, SegmentOut, Timestamps, reset_for_no_connection,
};
pub use seq::Seq;
pub use state::State;
