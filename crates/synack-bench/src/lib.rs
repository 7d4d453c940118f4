//! Benchmark workloads for synack side by side with its baselines: smoltcp (in the same
//! process, over an in-memory link) and Linux's kernel TCP (std sockets inside a private
//! network namespace).
//!
//! Every workload does identical work for each implementation and reports the elapsed
//! wall-clock time; the `synack-bench` binary runs them several times, takes medians and
//! prints one table with ratios. [`callgrind`] counts instructions of the per-segment paths
//! under valgrind, for a CI check against a committed baseline.

pub mod callgrind;
pub mod counting;
pub mod linux;
pub mod smol;
pub mod synack_pair;

/// Parameters shared by every implementation of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bulk {
    /// Bytes moved one way.
    pub bytes: u64,
    /// The link MTU (1500 gives MSS 1460; 65535 gives a 64 KiB MSS).
    pub mtu: u16,
    /// Send and receive buffer size of each socket, in bytes (as the socket holds it).
    pub buffer: usize,
    /// How the applications hand bytes to and take them from the stack.
    pub api: BulkApi,
}

/// How a bulk workload's applications move their bytes; the same for synack and smoltcp
/// (Linux's sockets always copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkApi {
    /// Slices copied in and out (`send`/`recv`; smoltcp's `send_slice`/`recv_slice`):
    /// the sender's bytes are ready in a 64 KiB buffer, the reader reads into one.
    Copy,
    /// The stack lends its rings (`send_with`/`recv_with`; smoltcp's closure-based
    /// `send`/`recv`): the sender writes its bytes (0x5a) straight into the send ring,
    /// the reader takes whole slices of the receive ring, looking at their first byte.
    Lend,
}

impl BulkApi {
    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            BulkApi::Copy => "copy",
            BulkApi::Lend => "lend",
        }
    }
}

/// The many-active workload: `conns` connections at once, each moving `bytes` each way
/// (client to server and server to client), written in rounds of at most `round` bytes
/// per socket: every round each socket writes what its send buffer takes, the link runs,
/// and every socket reads what has arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Many {
    /// Connections open and active at the same time.
    pub conns: usize,
    /// Bytes each connection moves in each direction.
    pub bytes: u64,
    /// The most bytes one socket writes per round.
    pub round: usize,
    /// Send and receive buffer size of each socket, in bytes (as the socket holds it).
    pub buffer: usize,
}

impl Many {
    /// Bytes moved in all, both directions of every connection.
    pub fn total(&self) -> u64 {
        self.conns as u64 * 2 * self.bytes
    }
}

/// The result of one timed run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    /// Wall-clock seconds of the timed part.
    pub secs: f64,
    /// How often the driver found nothing to do and jumped the clock to the next timer
    /// (0 in a healthy run: a stall means the stack waited on a timer).
    pub stalls: u64,
}

/// The IPv4 address of the client host in the in-process pairs.
pub const CLIENT_ADDR: core::net::Ipv4Addr = core::net::Ipv4Addr::new(10, 0, 0, 1);
/// The IPv4 address of the server host in the in-process pairs.
pub const SERVER_ADDR: core::net::Ipv4Addr = core::net::Ipv4Addr::new(10, 0, 0, 2);

/// The size of one request and one response in the request/response workload.
pub const RR_MESSAGE: usize = 1024;

/// A small deterministic generator (xorshift64*) for picking connections.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed (zero is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
