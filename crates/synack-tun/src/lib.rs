//! Linux TUN device and runtime drivers for synack.
//!
//! - [`tun`]: a TUN device (`IFF_TUN | IFF_NO_PI`) carrying raw IPv4 and IPv6 packets, with
//!   an optional pcap capture of both directions and optional offloads
//!   ([`TunOptions::offload`]).
//! - [`vnet`]: the virtio-net header; partial checksums completed, the kernel's TCP
//!   super-packets cut into segments, and runs of our segments joined into super-packets.
//! - [`driver`]: the loop that moves packets between a device and a sans-IO
//!   [`PacketHandler`] (the host stack), on a monotonic clock, with a stop handle.
//! - [`shared`]: the driver on its own thread with the handler behind a lock, for callers
//!   that block (the ground under blocking sockets).
//! - [`blocking`]: `std::net`-like `TcpListener`/`TcpStream` on a [`SharedDriver`].
//! - `tokio` (feature `tokio`): tokio `TcpListener`/`TcpStream` (`AsyncRead`/`AsyncWrite`)
//!   with one driver task per stack.
//! - [`impair`]: an impairment bridge (delay, loss, reordering) between the device and a
//!   handler.
//! - [`echo`]: a tiny handler answering ICMP/ICMPv6 echo, to prove a device path.
//! - [`netns`]: the network-namespace test harness (root only; hidden from the docs, for
//!   this workspace's own tests).
//!
//! Future work: handing the stack received super-packets whole (GRO-like, once the stack
//! takes segments larger than the MSS) instead of cutting them, and multi-queue devices
//! (`IFF_MULTI_QUEUE`).
#![cfg(target_os = "linux")]

pub mod blocking;
pub mod driver;
pub mod echo;
pub mod impair;
#[doc(hidden)]
pub mod netns;
mod ping;
pub mod shared;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod tun;
pub mod vnet;

pub use driver::{
    Clock, Driver, DriverHandle, DriverStats, Exit, Limits, PacketHandler, StopGuard,
};
pub use echo::EchoResponder;
pub use shared::SharedDriver;
pub use tun::{OffloadStats, Tun, TunOptions};
