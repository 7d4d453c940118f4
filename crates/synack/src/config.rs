//! Engine configuration, with Linux defaults (sysctl names in the field docs).

use crate::time::{Duration, Instant};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The order in which SYN options are laid out on the wire.
///
/// The engine only decides *which* options a segment carries; the serializer honours this
/// layout so traces match the stack being imitated byte for byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum OptionLayout {
    /// Linux: `mss,sackOK,TS val ecr,nop,wscale` (SYN); `nop,nop,TS` afterwards.
    #[default]
    Linux,
    /// BSD: `mss,nop,wscale,sackOK,TS val ecr` (SYN); `nop,nop,TS` afterwards.
    Bsd,
}

/// Which stack's behaviour the engine imitates where the RFCs leave a choice (RTO formula,
/// receive window offers, acknowledgement policy, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Flavor {
    /// Linux (the default).
    #[default]
    Linux,
    /// FreeBSD.
    FreeBsd,
}

/// A challenge-ACK rate limiter (RFC 5961 §7), like Linux's `tcp_challenge_ack_limit`.
///
/// At most `limit` challenge ACKs are allowed per one-second window. The limiter uses only
/// atomics, so a host can share one (`Arc`) between all its connections without locks.
#[derive(Debug)]
pub struct ChallengeAckLimiter {
    limit: u32,
    window_start_s: AtomicU64,
    count: AtomicU32,
}

impl ChallengeAckLimiter {
    /// A limiter allowing `limit` challenge ACKs per second.
    pub fn new(limit: u32) -> ChallengeAckLimiter {
        ChallengeAckLimiter {
            limit,
            window_start_s: AtomicU64::new(u64::MAX),
            count: AtomicU32::new(0),
        }
    }

    /// The configured limit per second.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Whether one more challenge ACK may be sent at `now`; counts it if so.
    pub fn allow(&self, now: Instant) -> bool {
        let sec = now.as_nanos() / 1_000_000_000;
        if self.window_start_s.swap(sec, Ordering::Relaxed) != sec {
            self.count.store(0, Ordering::Relaxed);
        }
        let used = self.count.fetch_add(1, Ordering::Relaxed);
        if used >= self.limit {
            // Keep the counter from wrapping on a long flood.
            self.count.store(self.limit, Ordering::Relaxed);
            false
        } else {
            true
        }
    }
}

/// Engine configuration. `Config::default()` gives Linux's defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Link MTU; the advertised MSS is MTU − 40 (IPv4) or MTU − 60 (IPv6).
    pub mtu: u16,
    /// `net.ipv4.tcp_syn_retries` (6): SYN retransmissions before ETIMEDOUT.
    pub syn_retries: u8,
    /// `net.ipv4.tcp_synack_retries` (5): SYN-ACK retransmissions before giving up.
    pub synack_retries: u8,
    /// `net.ipv4.tcp_retries2` (15): retransmissions of data/FIN before ETIMEDOUT.
    pub retries2: u8,
    /// `net.ipv4.tcp_orphan_retries` as Linux applies it (0 means 8): the retransmission
    /// limit for data/FIN of a connection the application has closed.
    pub orphan_retries: u8,
    /// `net.ipv4.tcp_fin_timeout` (60 s): FIN_WAIT_2 lifetime of an orphaned connection.
    pub fin_timeout: Duration,
    /// MSL; TIME_WAIT lasts 2×MSL (Linux's fixed TIME_WAIT is 60 s, so MSL 30 s).
    pub msl: Duration,
    /// Initial retransmission timeout (RFC 6298 §2.1: 1 s).
    pub rto_initial: Duration,
    /// Upper bound of the backed-off retransmission timeout (Linux `TCP_RTO_MAX`, 120 s).
    pub rto_max: Duration,
    /// Lower bound of the computed RTO (RFC 6298 §2.4 says 1 s; Linux `TCP_RTO_MIN` 200 ms).
    pub rto_min: Duration,
    /// Shortest delayed-ACK timeout (Linux `TCP_ATO_MIN`, 40 ms).
    pub delack_min: Duration,
    /// Longest delayed-ACK timeout (Linux `TCP_DELACK_MAX`, 200 ms; RFC 9293 §3.8.6.3
    /// MUST-40 allows at most 0.5 s).
    pub delack_max: Duration,
    /// Segments acknowledged at once at the start of a connection (Linux
    /// `TCP_MAX_QUICKACKS`, 16).
    pub quickacks: u8,
    /// `TCP_NODELAY` for new connections (off: Nagle's algorithm on).
    pub nodelay: bool,
    /// `SO_KEEPALIVE` for new connections (off).
    pub keepalive: bool,
    /// `net.ipv4.tcp_keepalive_time` (7200 s): idle time before the first probe.
    pub keepalive_time: Duration,
    /// `net.ipv4.tcp_keepalive_intvl` (75 s): time between unanswered probes.
    pub keepalive_intvl: Duration,
    /// `net.ipv4.tcp_keepalive_probes` (9): unanswered probes before ETIMEDOUT.
    pub keepalive_probes: u8,
    /// `TCP_USER_TIMEOUT` for new connections (`None`: off, `tcp_retries2` decides).
    pub user_timeout: Option<Duration>,
    /// `SO_OOBINLINE` for new connections (off: the urgent byte is read out of band).
    pub oobinline: bool,
    /// `net.ipv4.tcp_window_scaling` (1): offer and honour RFC 7323 window scaling.
    pub window_scaling: bool,
    /// `net.ipv4.tcp_sack` (1): offer and honour SACK-permitted (RFC 2018).
    pub sack: bool,
    /// `net.ipv4.tcp_timestamps` (1): offer and honour RFC 7323 timestamps.
    pub timestamps: bool,
    /// Order of options on the wire.
    pub option_layout: OptionLayout,
    /// RFC 5961 mitigations (exact-match RST, challenge ACKs, ACK range check); `false`
    /// gives RFC 793 behaviour.
    pub rfc5961: bool,
    /// `net.ipv4.tcp_rfc1337` (0 on Linux): ignore RST in TIME_WAIT (RFC 1337 TIME-WAIT
    /// assassination fix). Linux's default 0 lets a RST end TIME_WAIT.
    pub rfc1337: bool,
    /// Challenge ACK limiter (`net.ipv4.tcp_challenge_ack_limit`, 1000/s), shareable.
    pub challenge_ack_limiter: Arc<ChallengeAckLimiter>,
    /// Send buffer size in bytes (`tcp_wmem` default 16384), allocated on first write.
    pub send_buffer: usize,
    /// Receive buffer size in bytes (`tcp_rmem` default 131072), allocated on first byte.
    pub recv_buffer: usize,
    /// Largest receive buffer the connection may grow to (`tcp_rmem` max 6291456); the
    /// window-scale shift is chosen so this fits in a 16-bit window (RFC 7323 §2.3).
    pub recv_buffer_max: usize,
    /// `net.ipv4.tcp_congestion_control` (`cubic`): the algorithm of new connections, by
    /// name ([`crate::cc::by_name`]; an unknown name falls back to CUBIC).
    pub congestion_control: &'static str,
    /// `net.ipv4.tcp_ecn` (2): 0 off, 1 request ECN on outgoing connections and accept it
    /// on incoming ones, 2 accept it only when the peer requests it (RFC 3168 §6.1.1).
    pub ecn: u8,
    /// `net.ipv4.tcp_slow_start_after_idle` (1): after an idle period longer than the RTO,
    /// the window restarts (halved per RTO idle, not below the initial window; RFC 7661
    /// §4 describes the problem, this is Linux's answer).
    pub slow_start_after_idle: bool,
    /// `net.ipv4.tcp_early_retrans` (3 on Linux): RACK-TLP (RFC 8985) loss detection and
    /// tail loss probes on SACK connections.
    pub rack_tlp: bool,
    /// `net.ipv4.tcp_dsack` (1): report duplicate segments with D-SACK (RFC 2883).
    pub dsack: bool,
    /// `net.ipv4.tcp_frto` (2 on Linux, 0 under the FreeBSD profile): F-RTO (RFC 5682)
    /// after retransmission timeouts on connections without timestamps.
    pub frto: bool,
    /// FreeBSD `net.inet.tcp.rexmit_slop` (200 ms): added to every computed or backed-off
    /// retransmission timeout under the FreeBSD flavor (`TCPT_RANGESET`); unused by Linux.
    pub rexmit_slop: Duration,
    /// `net.ipv4.tcp_min_tso_segs` (2): the Linux flavor's TSO chunks are sized to at least
    /// this many segments (`tcp_tso_autosize()`), still at most half the congestion window.
    pub min_tso_segs: u8,
    /// `net.ipv4.tcp_tso_win_divisor` (3): Linux's TSO deferral threshold
    /// (`tcp_tso_should_defer()`), carried for the Linux flavor.
    pub tso_win_divisor: u8,
    /// The stack imitated where the RFCs leave a choice; `None` follows
    /// [`Config::option_layout`] (BSD layout: FreeBSD). See [`Config::flavor`].
    pub flavor: Option<Flavor>,
    /// Header prediction (on by default): an in-order data segment or a pure ACK for new
    /// data in ESTABLISHED, with nothing unusual about it, skips the general checks of
    /// RFC 9293 §3.10.7.4 that cannot apply to it (see `conn/fastpath.rs`); the outcome is
    /// the same either way, so turning it off only costs time (tests compare the two).
    pub header_prediction: bool,
    /// Transmit bursts (on by default): when [`crate::Connection::poll_transmit_burst`]
    /// (and so [`crate::stack::Stack::poll_transmit_burst`]) sends full-sized segments
    /// back to back at one instant, each after the first is built from the one before
    /// (same ACK, window, timestamps) instead of anew, and the Linux flavor's TSO chunk
    /// size is worked out once; the segments and the state afterwards are the same either
    /// way (tests compare the two), so turning it off only costs time.
    pub tx_burst: bool,
    /// Record [`crate::Event`]s (off by default: no cost when unused).
    pub events: bool,
    /// Most events kept before the oldest are dropped.
    pub event_capacity: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mtu: 1500,
            syn_retries: 6,
            synack_retries: 5,
            retries2: 15,
            orphan_retries: 8,
            fin_timeout: Duration::from_secs(60),
            msl: Duration::from_secs(30),
            rto_initial: Duration::from_secs(1),
            rto_max: Duration::from_secs(120),
            rto_min: Duration::from_millis(200),
            delack_min: Duration::from_millis(40),
            delack_max: Duration::from_millis(200),
            quickacks: 16,
            nodelay: false,
            keepalive: false,
            keepalive_time: Duration::from_secs(7200),
            keepalive_intvl: Duration::from_secs(75),
            keepalive_probes: 9,
            user_timeout: None,
            oobinline: false,
            window_scaling: true,
            sack: true,
            timestamps: true,
            option_layout: OptionLayout::Linux,
            rfc5961: true,
            rfc1337: false,
            challenge_ack_limiter: Arc::new(ChallengeAckLimiter::new(1000)),
            send_buffer: 16384,
            recv_buffer: 131072,
            recv_buffer_max: 6291456,
            congestion_control: crate::cc::DEFAULT,
            ecn: 2,
            slow_start_after_idle: true,
            rack_tlp: true,
            frto: true,
            dsack: true,
            rexmit_slop: Duration::from_millis(200),
            min_tso_segs: 2,
            tso_win_divisor: 3,
            flavor: None,
            header_prediction: true,
            tx_burst: true,
            events: false,
            event_capacity: 4096,
        }
    }
}

impl Config {
    /// The flavor in effect: [`Config::flavor`] when set, else FreeBSD for the BSD option
    /// layout and Linux otherwise.
    pub fn flavor(&self) -> Flavor {
        self.flavor.unwrap_or(match self.option_layout {
            OptionLayout::Bsd => Flavor::FreeBsd,
            OptionLayout::Linux => Flavor::Linux,
        })
    }

    /// The MSS we advertise: MTU − 40 for IPv4, MTU − 60 for IPv6 (RFC 9293 §3.7.1).
    pub fn advertised_mss(&self, ipv6: bool) -> u16 {
        let overhead = if ipv6 { 60 } else { 40 };
        self.mtu.saturating_sub(overhead).max(1)
    }

    /// The send MSS assumed when the peer sends no MSS option: 536 for IPv4 (RFC 9293
    /// §3.7.1, MUST-15) and 1220 for IPv6 (RFC 8200 minimum MTU 1280 − 60).
    pub const fn default_peer_mss(ipv6: bool) -> u16 {
        if ipv6 { 1220 } else { 536 }
    }

    /// Our window-scale shift: the smallest shift that fits `recv_buffer_max` into 16 bits,
    /// clamped to 14 (RFC 7323 §2.3).
    pub fn rcv_wscale(&self) -> u8 {
        let mut shift = 0u8;
        while shift < 14 && (self.recv_buffer_max >> shift) > 65535 {
            shift += 1;
        }
        shift
    }

    /// TIME_WAIT duration: 2×MSL (RFC 9293 §3.4.2).
    pub fn time_wait(&self) -> Duration {
        self.msl.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_defaults() {
        let c = Config::default();
        assert_eq!(c.syn_retries, 6);
        assert_eq!(c.synack_retries, 5);
        assert_eq!(c.time_wait(), Duration::from_secs(60));
        assert_eq!(c.advertised_mss(false), 1460);
        assert_eq!(c.advertised_mss(true), 1440);
        assert_eq!(c.rcv_wscale(), 7);
        assert_eq!(Config::default_peer_mss(false), 536);
    }

    #[test]
    fn rfc5961_7_limiter_counts_per_second() {
        let l = ChallengeAckLimiter::new(2);
        let t = Instant::from_secs(10);
        assert!(l.allow(t));
        assert!(l.allow(t + Duration::from_millis(10)));
        assert!(!l.allow(t + Duration::from_millis(20)));
        assert!(l.allow(Instant::from_secs(11)));
    }
}
