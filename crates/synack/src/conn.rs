//! The connection: a TCB (RFC 9293 §3.3.1) and its event processing (RFC 9293 §3.10).
//!
//! Sans-IO: every entry point takes `now`; segments enter through
//! [`Connection::on_segment`] and leave through [`Connection::poll_transmit`]; the next
//! deadline is [`Connection::poll_timeout`] and expiries are fed to
//! [`Connection::on_timeout`]. Nothing here allocates per segment, reads a clock or locks.
//!
//! Output is kept as *intent* (flags such as "an ACK is owed", "the SYN must go out") and
//! turned into segments only in `poll_transmit`, so several reasons to ACK collapse into one
//! segment and a data segment carries the owed ACK (RFC 9293 §3.10.7.4, "piggybacked").
//!
//! Two engines back to back, the way a driver uses them:
//!
//! ```
//! use synack::{Config, Connection, FourTuple, Instant, IsnGenerator, State};
//!
//! let isn = IsnGenerator::new([7; 16]);
//! let client = FourTuple::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
//! let server = FourTuple::new(client.remote, client.local);
//! let now = Instant::ZERO;
//! let mut a = Connection::connect(now, Config::default(), client, &isn);
//! let mut b = Connection::listen(now, Config::default(), server, &isn);
//! a.send(now, b"hello").unwrap();
//! let mut buf = [0u8; 1500];
//! // Deliver segments until both sides are quiet (a real driver serialises them).
//! loop {
//!     let mut moved = false;
//!     while let Some(seg) = a.poll_transmit(now, &mut buf) {
//!         b.on_segment(now, &seg.as_segment_in(&buf[..seg.payload_len]));
//!         moved = true;
//!     }
//!     while let Some(seg) = b.poll_transmit(now, &mut buf) {
//!         a.on_segment(now, &seg.as_segment_in(&buf[..seg.payload_len]));
//!         moved = true;
//!     }
//!     if !moved {
//!         break;
//!     }
//! }
//! assert_eq!((a.state(), b.state()), (State::Established, State::Established));
//! let mut got = [0u8; 16];
//! assert_eq!(b.recv(&mut got), Ok(5));
//! assert_eq!(&got[..5], b"hello");
//! // The driver sleeps until the earliest deadline, then calls `on_timeout`.
//! assert_eq!(a.poll_timeout(), None);
//! ```

mod delivery;
mod fastpath;
mod output;
pub use output::TxBurst;
mod paced;
#[cfg(test)]
pub(crate) mod testlink;
mod timers;
mod undo;
mod wants;

use crate::buffer::{RecvBuffer, SendBuffer};
use crate::cc::CongestionControl;
use crate::config::Config;
use crate::cubic::Cubic;
use crate::error::Error;
use crate::event::{DropReason, Event, EventQueue, SegSummary};
use crate::isn::{FourTuple, IsnGenerator, PackedTuple};
use crate::rtt::RttEstimator;
use crate::sack::{Scoreboard, is_dsack};
use crate::segment::{SegmentIn, SegmentOut, reset_for_no_connection};
use crate::seq::Seq;
use crate::state::State;
use crate::time::{Duration, Instant, Nanos, OptNanos};
use std::sync::Arc;
use synack_wire::TcpFlags;

/// RFC 7323 §5.5: TS.Recent older than 24 days is no longer valid for PAWS.
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 60 * 60);
/// Linux's `TCP_MIN_MSS`: a peer's absurdly small MSS option is raised to this.
const MIN_MSS: u16 = 88;
/// Linux: output corked by `TCP_CORK` is held at most 200 ms.
const CORK_TIMEOUT: Duration = Duration::from_millis(200);
/// RFC 5681 §3.2: duplicate ACKs that trigger fast retransmit.
const DUPACK_THRESHOLD: u32 = 3;

/// Where the ISS of a connection comes from.
#[derive(Clone, Copy, Debug)]
enum IssSource {
    /// A fixed ISS and TSval offset (tests, SYN cookies, a host's own choice).
    Fixed { iss: Seq, ts_offset: u32 },
    /// RFC 6528: computed from the 4-tuple when the SYN is sent or received.
    Generator(IsnGenerator),
}

/// The stream offset of the urgent byte, in 8 bytes (`Option<u64>` takes 16): `u64::MAX`
/// for none, an offset no connection reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UrgMark(u64);

impl UrgMark {
    const NONE: UrgMark = UrgMark(u64::MAX);

    fn at(offset: u64) -> UrgMark {
        UrgMark(offset.min(u64::MAX - 1))
    }

    fn get(self) -> Option<u64> {
        (self.0 != u64::MAX).then_some(self.0)
    }
}

/// The kinds of timer a connection runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Retransmission of SYN, SYN-ACK, data or FIN (`ss`: `on`).
    Retransmit,
    /// 2×MSL in TIME_WAIT (`ss`: `timewait`).
    TimeWait,
    /// tcp_fin_timeout for an orphan in FIN_WAIT_2 (`ss`: `timewait` on Linux too).
    FinWait2,
    /// Zero-window probing (RFC 9293 §3.8.6.1; `ss`: `persist`).
    Persist,
    /// Keepalive probing (RFC 9293 §3.8.4; `ss`: `keepalive`).
    Keepalive,
}

/// TCP_INFO-style figures of one connection (`ss -i`, `getsockopt(TCP_INFO)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// Current state.
    pub state: State,
    /// Retransmission timeout in force (with backoff).
    pub rto: Duration,
    /// Smoothed RTT (zero before the first sample).
    pub rtt: Duration,
    /// RTT variation.
    pub rttvar: Duration,
    /// Smallest RTT sample.
    pub min_rtt: Duration,
    /// Effective send MSS.
    pub snd_mss: u32,
    /// Largest segment received (the receive MSS estimate).
    pub rcv_mss: u32,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes (`u32::MAX` until the first loss).
    pub ssthresh: u32,
    /// Consecutive retransmissions of the head (`tcpi_retransmits`).
    pub retransmits: u8,
    /// Segments retransmitted over the connection's life (`tcpi_total_retrans`).
    pub total_retrans: u64,
    /// Bytes sent and not yet acknowledged (`tcpi_unacked`, in bytes here).
    pub unacked: u32,
    /// Bytes acknowledged by the peer (`tcpi_bytes_acked`).
    pub bytes_acked: u64,
    /// Bytes received in order (`tcpi_bytes_received`).
    pub bytes_received: u64,
    /// The peer's send window, bytes.
    pub snd_wnd: u32,
    /// Our receive window, bytes.
    pub rcv_wnd: u32,
    /// Unanswered zero-window or keepalive probes (`tcpi_probes`).
    pub probes: u8,
    /// Backoff exponent of the retransmission or persist timer (`tcpi_backoff`).
    pub backoff: u8,
    /// Congestion-control algorithm.
    pub congestion: &'static str,
    /// Bytes the peer SACKed above SND.UNA (`tcpi_sacked`, in bytes here).
    pub sacked: u32,
    /// Bytes presumed lost and not yet retransmitted (`tcpi_lost`, in bytes here).
    pub lost: u32,
    /// Bytes in flight by RFC 6675's SetPipe.
    pub pipe: u32,
    /// In loss recovery (`tcpi_ca_state` Recovery).
    pub in_recovery: bool,
    /// ECN negotiated (`tcpi_options` TCPI_OPT_ECN).
    pub ecn: bool,
    /// Delivery rate, bytes per second: the latest rate sample when the algorithm samples
    /// rates (BBR; draft-cheng-iccrg-delivery-rate-estimation), else the bytes cumulatively
    /// acknowledged over the last completed round trip divided by its length (zero before
    /// the first).
    pub delivery_rate: u64,
    /// Pacing rate, bytes per second (`tcpi_pacing_rate`); zero when not paced.
    pub pacing_rate: u64,
    /// BBR's model and state (`TCP_CC_INFO`), with BBR.
    pub bbr: Option<crate::bbr::BbrInfo>,
}

/// A snapshot of a connection, the RFC 9293 §3.10.6 STATUS call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Current state.
    pub state: State,
    /// The 4-tuple.
    pub tuple: FourTuple,
    /// Initial send sequence number.
    pub iss: Seq,
    /// Oldest unacknowledged sequence number.
    pub snd_una: Seq,
    /// Next sequence number to send.
    pub snd_nxt: Seq,
    /// Send window (scaled, bytes).
    pub snd_wnd: u32,
    /// Initial receive sequence number.
    pub irs: Seq,
    /// Next sequence number expected.
    pub rcv_nxt: Seq,
    /// Receive window (bytes).
    pub rcv_wnd: u32,
    /// Effective send MSS: payload bytes per full segment (RFC 9293 §3.7.1, MUST-16).
    pub snd_mss: u16,
    /// Our send window-scale shift (what the peer's windows are multiplied by).
    pub snd_wscale: u8,
    /// Our receive window-scale shift.
    pub rcv_wscale: u8,
    /// Timestamps negotiated.
    pub timestamps: bool,
    /// SACK permitted by both sides.
    pub sack_permitted: bool,
    /// Bytes in the send buffer (unacknowledged plus unsent).
    pub send_queued: usize,
    /// Bytes waiting to be read.
    pub recv_queued: usize,
    /// Retransmissions of the current head since the last forward progress.
    pub retransmits: u8,
    /// The pending error, if any.
    pub error: Option<Error>,
}

/// Counters for one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments passed to `on_segment`.
    pub segs_in: u64,
    /// Segments returned by `poll_transmit`.
    pub segs_out: u64,
    /// Segments retransmitted (SYN, SYN-ACK, data, FIN).
    pub retransmits: u64,
    /// RST segments sent.
    pub rsts_out: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limiter (RFC 5961 §7).
    pub challenge_acks_limited: u64,
    /// Segments dropped by PAWS (RFC 7323 §5).
    pub paws_drops: u64,
    /// Segments dropped for any reason.
    pub drops: u64,
    /// Out-of-order segments queued for reassembly.
    pub ooo_queued: u64,
    /// Fast retransmits (RFC 5681 §3.2).
    pub fast_retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Keepalive probes sent.
    pub keepalive_probes: u64,
    /// Delayed ACKs sent when their timer fired.
    pub delayed_acks: u64,
    /// D-SACK blocks received (RFC 2883): the peer got something twice.
    pub dsacks_received: u64,
    /// D-SACK blocks sent for duplicate segments (RFC 2883).
    pub dsacks_sent: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub loss_probes: u64,
    /// Segments retransmitted from the SACK scoreboard during recovery (RFC 6675 NextSeg).
    pub sack_retransmits: u64,
    /// Segments that arrived with CE marked (RFC 3168).
    pub ecn_ce_received: u64,
    /// Window reductions in answer to ECE (RFC 3168 §6.1.2).
    pub ecn_reductions: u64,
    /// Spurious retransmissions detected and undone: by their timestamps (RFC 3522, RFC
    /// 4015), by F-RTO (RFC 5682) or by D-SACKs (RFC 3708).
    pub spurious_undos: u64,
}

/// Counters of the loss-detection extensions ([`Connection::loss_stats`]; kept apart from
/// [`Stats`] so the connection itself does not grow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossStats {
    /// Timeouts F-RTO found spurious and undid (RFC 5682; part of `spurious_undos`).
    pub frto_undos: u64,
    /// Episodes whose every retransmission came back D-SACKed, undone (RFC 3708; part of
    /// `spurious_undos`).
    pub dsack_undos: u64,
    /// RACK reorder timer expirations (RFC 8985 §6.3).
    pub reorder_timeouts: u64,
}

/// One TCP connection: the TCB and its state machine.
#[derive(Debug)]
pub struct Connection {
    /// Shared, read-only configuration (one per listener or socket option set, not a copy
    /// per connection).
    cfg: Arc<Config>,
    state: State,
    tuple: PackedTuple,
    ipv6: bool,
    /// Opened with a passive OPEN (decides SYN_RCVD → LISTEN, RFC 9293 §3.10.7.4).
    passive: bool,

    // RFC 9293 §3.3.1 send sequence variables.
    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    snd_wnd: u32,
    snd_up: Seq,
    snd_wl1: Seq,
    snd_wl2: Seq,
    /// Largest window the peer has offered (RFC 5961 §5 MAX.SND.WND).
    max_snd_wnd: u32,
    /// Sequence number of the first byte in `sndbuf`.
    snd_buf_seq: Seq,

    // RFC 9293 §3.3.1 receive sequence variables.
    irs: Seq,
    rcv_nxt: Seq,
    rcv_up: Seq,

    // Negotiated options.
    snd_mss: u16,
    snd_wscale: u8,
    rcv_wscale: u8,
    /// Both SYNs carried the window-scale option (RFC 7323 §2.2).
    wscale_ok: bool,
    sack_ok: bool,
    ts_ok: bool,
    /// RFC 7323 §4.3 TS.Recent and when it was recorded.
    ts_recent: u32,
    ts_recent_at: Instant,
    ts_offset: u32,
    /// RFC 7323 §4.3 Last.ACK.sent.
    last_ack_sent: Seq,
    /// The receive window (bytes) in the last segment sent.
    last_wnd_sent: u32,

    sndbuf: SendBuffer,
    rcvbuf: RecvBuffer,
    /// The user asked for CLOSE: a FIN follows the queued data.
    fin_queued: bool,
    /// Sequence number of our FIN once sent.
    fin_seq: Option<Seq>,
    /// The ACK owed is a challenge ACK (RFC 5961 §3.2, §4.2), which FreeBSD sends in
    /// `tcp_respond()`'s bare form, never with a resent FIN.
    challenge_due: bool,
    /// The peer's FIN has been received (end of stream for `recv`).
    fin_rcvd: bool,
    /// The application released the connection (`close`); it lives on as an orphan.
    orphaned: bool,

    // Output intent.
    syn_due: bool,
    ack_due: bool,
    rtx_due: bool,
    /// A RST to send (boxed: rare, and 80 bytes inline in every connection otherwise).
    rst_due: Option<Box<SegmentOut>>,

    // Timers.
    /// RFC 6298 estimator.
    rtt: RttEstimator,
    /// Karn's rule: the one segment being timed (its end, when sent); dropped when
    /// anything is retransmitted (RFC 6298 §3).
    rtt_timed: Option<(Seq, Instant)>,
    /// Retransmissions of the head since the last forward progress (the backoff exponent).
    rtx_count: u8,
    rtx_deadline: Option<Instant>,
    time_wait_deadline: Option<Instant>,
    fin_wait_2_deadline: Option<Instant>,

    // Retransmission and congestion control.
    cc: crate::cc::CcBox,
    /// Whether `cc` keeps a rate sampler (`cc.rate().is_some()`, BBR), read once when the
    /// algorithm is installed: the per-segment checks then need no call through the box.
    cc_rate: bool,
    /// After a timeout: the next sequence number to resend, going back over everything
    /// outstanding (up to SND.NXT) segment by segment as the window allows.
    rtx_nxt: Option<Seq>,
    /// Fast retransmit of the head segment is owed (RFC 5681 §3.2, RFC 6582).
    fast_rtx_due: bool,
    dupacks: u32,
    /// NewReno recovery point (RFC 6582): SND.NXT when fast retransmit began.
    recover: Option<Seq>,
    /// RFC 6675 SACK scoreboard.
    scoreboard: Scoreboard,
    /// RFC 6675 HighRxt: the highest sequence number retransmitted during this recovery.
    high_rxt: Seq,
    // RFC 6937 prr_delivered, prr_out and RecoverFS, and when the recovery began: in
    // `loss` (used only during recovery).
    /// RFC 6937 sndcnt: bytes recovery may still send before the next ACK.
    prr_budget: u32,
    /// Without SACK: bytes credited as delivered by duplicate ACKs (RFC 6937 DeliveredData,
    /// and the pipe estimate).
    dupack_credit: u32,
    /// RFC 8985 §6: when each segment of new data was sent (its end, the time), oldest
    /// first; RACK declares a hole lost once data sent after it was delivered and a round
    /// trip (plus the reordering window) has passed since it was sent.
    sent_log: output::SentLog,
    /// RFC 8985 §7: the retransmission timer currently runs as the probe timeout (PTO).
    tlp_armed: bool,
    /// A tail loss probe is owed.
    tlp_due: bool,
    /// A probe is outstanding until SND.UNA passes this (one probe per tail).
    tlp_high: Option<Seq>,
    /// When data was last sent (tcp_slow_start_after_idle).
    last_send_at: Option<Instant>,
    /// RFC 3168 §6.1.1: ECN negotiated.
    ecn_ok: bool,
    /// RFC 3168 §6.1.3: CE arrived; ECE goes on every ACK until a CWR arrives.
    ece_due: bool,
    /// RFC 3168 §6.1.2: the window was reduced; the next new data carries CWR.
    cwr_due: bool,
    /// One reduction per window (RFC 3168 §6.1.2): none until SND.UNA passes this.
    reduce_hold: Option<Seq>,
    /// Eifel, F-RTO and D-SACK undo, RACK's reordering window and timer (`conn/undo.rs`;
    /// out of line, allocated with the first data sent).
    loss: undo::LossBox,
    /// When the head was first retransmitted (TCP_USER_TIMEOUT).
    rtx_start: Option<Instant>,

    // Interactive flow.
    nodelay: bool,
    cork: bool,
    /// A partial segment held by TCP_CORK goes out at this time.
    cork_deadline: Option<Instant>,
    /// Minshall's Nagle: the end of the last small segment sent (RFC 896, RFC 9293 §3.7.4).
    snd_sml: Seq,
    /// RFC 9293 §3.8.6.3 delayed ACK timer.
    delack_deadline: Option<Instant>,
    /// Linux's ACK timeout estimate (`ato`), 40–200 ms.
    ato: Nanos,
    /// Segments still to be acknowledged at once (Linux quick-ACK mode).
    quickacks: u8,
    /// Interactive mode: ACKs wait to ride on the reply (Linux `pingpong`).
    pingpong: bool,
    last_data_at: Option<Instant>,
    /// Largest payload received: the receive-MSS estimate (RFC 9293 §3.8.6.3).
    rcv_mss: u32,
    /// RFC 9293 §3.8.6.2.2: the right edge of the window last advertised (never moved back).
    rcv_adv: Seq,
    /// A PSH arrived with data not yet read (the push signal, RFC 9293 §3.9.1.2).
    push_seen: bool,

    // Zero-window probing (RFC 9293 §3.8.6.1).
    persist_deadline: Option<Instant>,
    persist_backoff: u32,
    /// Probes sent since the peer last answered.
    persist_unanswered: u8,
    probe_due: bool,

    // Keepalive (RFC 9293 §3.8.4).
    keepalive: bool,
    ka_unanswered: u8,
    ka_deadline: Option<Instant>,
    ka_probe_due: bool,
    last_rcv_at: Instant,

    // Urgent data (RFC 9293 §3.8.5, RFC 6093).
    oobinline: bool,
    /// Urgent data, the held FIN, keepalive and user-timeout settings, the SYN text and
    /// the ISS generator: out of line until first used (`Rare`).
    rare: RareBox,

    // TCP_INFO counters.
    bytes_acked: u64,
    bytes_received: u64,

    error: Option<Error>,
    events: EventQueue,
    stats: StatCounters,
}

impl Connection {
    #[inline(always)]
    fn new(now: Instant, cfg: Arc<Config>, tuple: FourTuple, iss_source: IssSource) -> Connection {
        let ipv6 = tuple.local.is_ipv6();
        let events = EventQueue::new(cfg.events, cfg.event_capacity);
        let (iss_gen, iss, ts_offset) = match iss_source {
            IssSource::Fixed { iss, ts_offset } => (None, iss, ts_offset),
            IssSource::Generator(g) => (Some(g), Seq(0), 0),
        };
        let mut rare = RareBox::default();
        if iss_gen.is_some() {
            rare.iss_gen = iss_gen;
        }
        let mut cc = crate::cc::by_name(cfg.congestion_control).unwrap_or_else(|| Cubic::boxed());
        cc.set_slow_start_limit(Self::slow_start_limit(&cfg));
        let cc = crate::cc::CcBox::new(cc);
        Connection {
            state: State::Closed,
            tuple: PackedTuple::new(tuple),
            ipv6,
            passive: false,
            rare,
            iss,
            snd_una: Seq(0),
            snd_nxt: Seq(0),
            snd_wnd: 0,
            snd_up: Seq(0),
            snd_wl1: Seq(0),
            snd_wl2: Seq(0),
            max_snd_wnd: 0,
            snd_buf_seq: Seq(0),
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_up: Seq(0),
            snd_mss: Config::default_peer_mss(ipv6),
            snd_wscale: 0,
            rcv_wscale: 0,
            wscale_ok: false,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: Instant::ZERO,
            ts_offset,
            last_ack_sent: Seq(0),
            last_wnd_sent: 0,
            sndbuf: SendBuffer::new(cfg.send_buffer),
            rcvbuf: RecvBuffer::new(cfg.recv_buffer),
            fin_queued: false,
            fin_seq: None,
            challenge_due: false,
            fin_rcvd: false,
            orphaned: false,
            syn_due: false,
            ack_due: false,
            rtx_due: false,
            rst_due: None,
            rtt: Self::new_rtt(&cfg),
            rtt_timed: None,
            rtx_count: 0,
            rtx_deadline: None,
            time_wait_deadline: None,
            fin_wait_2_deadline: None,
            cc_rate: cc.rate().is_some(),
            cc,
            rtx_nxt: None,
            fast_rtx_due: false,
            dupacks: 0,
            recover: None,
            scoreboard: Scoreboard::new(),
            high_rxt: Seq(0),
            prr_budget: 0,
            dupack_credit: 0,
            sent_log: output::SentLog::new(),
            tlp_armed: false,
            tlp_due: false,
            tlp_high: None,
            last_send_at: None,
            ecn_ok: false,
            ece_due: false,
            cwr_due: false,
            reduce_hold: None,
            loss: undo::LossBox::default(),
            rtx_start: None,
            nodelay: cfg.nodelay,
            cork: false,
            cork_deadline: None,
            snd_sml: Seq(0),
            delack_deadline: None,
            ato: Nanos::new(cfg.delack_min),
            quickacks: cfg.quickacks,
            pingpong: false,
            last_data_at: None,
            rcv_mss: u32::from(Config::default_peer_mss(ipv6)),
            rcv_adv: Seq(0),
            push_seen: false,
            persist_deadline: None,
            persist_backoff: 0,
            persist_unanswered: 0,
            probe_due: false,
            keepalive: cfg.keepalive,
            ka_unanswered: 0,
            ka_deadline: None,
            ka_probe_due: false,
            last_rcv_at: now,
            oobinline: cfg.oobinline,
            bytes_acked: 0,
            bytes_received: 0,
            error: None,
            events,
            stats: StatCounters::default(),
            cfg,
        }
    }

    // ------------------------------------------------------------------------------------
    // RFC 9293 §3.10.1 OPEN
    // ------------------------------------------------------------------------------------

    /// Active OPEN (RFC 9293 §3.10.1): CLOSED → SYN_SENT, ISS from RFC 6528. `cfg` is a
    /// [`Config`] or an `Arc<Config>` shared with other connections (a host shares one per
    /// set of socket options, so a connection carries a pointer, not a copy).
    pub fn connect(
        now: Instant,
        cfg: impl Into<Arc<Config>>,
        tuple: FourTuple,
        isn: &IsnGenerator,
    ) -> Connection {
        // RFC 6528: the ISS is chosen now, so the generator is not kept.
        let (iss, ts_offset) = isn.isn_and_ts_offset(now, &tuple);
        let source = IssSource::Fixed { iss, ts_offset };
        let mut c = Connection::new(now, cfg.into(), tuple, source);
        c.open_active(now);
        c
    }

    /// Active OPEN with a caller-chosen ISS and TSval offset.
    pub fn connect_with_iss(
        now: Instant,
        cfg: impl Into<Arc<Config>>,
        tuple: FourTuple,
        iss: Seq,
        ts_offset: u32,
    ) -> Connection {
        let mut c = Connection::new(now, cfg.into(), tuple, IssSource::Fixed { iss, ts_offset });
        c.open_active(now);
        c
    }

    /// Passive OPEN (RFC 9293 §3.10.1): CLOSED → LISTEN. `tuple.remote` may be unspecified
    /// (`0.0.0.0:0`) or name the one peer allowed; the ISS is computed (RFC 6528) when the
    /// SYN arrives.
    pub fn listen(
        now: Instant,
        cfg: impl Into<Arc<Config>>,
        tuple: FourTuple,
        isn: &IsnGenerator,
    ) -> Connection {
        let mut c = Connection::new(now, cfg.into(), tuple, IssSource::Generator(*isn));
        c.open_passive(now);
        c
    }

    /// Passive OPEN with a caller-chosen ISS and TSval offset for the SYN-ACK.
    pub fn listen_with_iss(
        now: Instant,
        cfg: impl Into<Arc<Config>>,
        tuple: FourTuple,
        iss: Seq,
        ts_offset: u32,
    ) -> Connection {
        let mut c = Connection::new(now, cfg.into(), tuple, IssSource::Fixed { iss, ts_offset });
        c.open_passive(now);
        c
    }

    /// Completes a passive open that kept no SYN_RCVD state (SYN cookies, RFC 4987 §3.6):
    /// `syn` is the SYN as the host reconstructs it from the cookie (SEG.SEQ = IRS and the
    /// options the cookie encodes), `iss` the cookie our SYN-ACK carried, and `ack` the
    /// segment that came back. Returns the connection (ESTABLISHED, or CLOSE_WAIT if `ack`
    /// also carried FIN, with any text delivered), or `None` when `ack` does not complete the
    /// handshake; nothing is sent for the SYN-ACK, which already left.
    pub fn from_syn_cookie(
        now: Instant,
        cfg: impl Into<Arc<Config>>,
        tuple: FourTuple,
        iss: Seq,
        ts_offset: u32,
        syn: &SegmentIn<'_>,
        ack: &SegmentIn<'_>,
    ) -> Option<Connection> {
        if !syn.flags.syn()
            || syn
                .flags
                .intersects(TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN)
        {
            return None;
        }
        let mut c = Connection::listen_with_iss(now, cfg, tuple, iss, ts_offset);
        c.on_segment(now, syn);
        if c.state != State::SynReceived {
            return None;
        }
        // The SYN-ACK was sent statelessly: record it as sent (RFC 7323 Last.ACK.sent) and
        // start no retransmission timer for it.
        c.syn_due = false;
        c.last_ack_sent = c.rcv_nxt;
        c.last_wnd_sent = c.rcv_wnd().min(65535);
        c.on_segment(now, ack);
        if c.state.is_synchronized() {
            Some(c)
        } else {
            None
        }
    }

    fn choose_iss(&mut self, now: Instant) {
        let (iss, ts_offset) = match &self.rare.iss_gen {
            None => (self.iss, self.ts_offset),
            Some(g) => {
                let t = self.tuple.get();
                g.isn_and_ts_offset(now, &t)
            }
        };
        self.iss = iss;
        self.ts_offset = ts_offset;
        // RFC 9293 §3.10.1: SND.UNA <- ISS, SND.NXT <- ISS+1.
        self.snd_una = iss;
        self.snd_nxt = iss + 1u32;
        self.snd_up = iss;
        self.snd_sml = iss;
        self.snd_buf_seq = iss + 1u32;
    }

    fn open_active(&mut self, now: Instant) {
        self.choose_iss(now);
        self.passive = false;
        self.syn_due = true;
        self.set_state(now, State::SynSent);
    }

    fn open_passive(&mut self, now: Instant) {
        self.passive = true;
        self.set_state(now, State::Listen);
    }

    // ------------------------------------------------------------------------------------
    // Queries
    // ------------------------------------------------------------------------------------

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The 4-tuple.
    pub fn tuple(&self) -> FourTuple {
        self.tuple.get()
    }

    /// Whether the connection runs over IPv6 (its local address is one).
    #[inline]
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The local port (without unpacking [`Connection::tuple`]).
    #[inline]
    pub fn local_port(&self) -> u16 {
        self.tuple.local_port()
    }

    /// Whether this connection's 4-tuple is `t` (cheaper than comparing [`Connection::tuple`]).
    #[inline]
    pub fn has_tuple(&self, t: &FourTuple) -> bool {
        self.tuple.is(t)
    }

    /// Whether the TCB is gone (CLOSED): the host may drop it once `poll_transmit` is empty.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// RFC 9293 §3.10.6 STATUS.
    pub fn status(&self) -> Status {
        Status {
            state: self.state,
            tuple: self.tuple.get(),
            iss: self.iss,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_wnd: self.snd_wnd,
            irs: self.irs,
            rcv_nxt: self.rcv_nxt,
            rcv_wnd: self.rcv_wnd(),
            snd_mss: self.eff_snd_mss(),
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            timestamps: self.ts_ok,
            sack_permitted: self.sack_ok,
            send_queued: self.sndbuf.len(),
            recv_queued: self.rcvbuf.len(),
            retransmits: self.rtx_count,
            error: self.error,
        }
    }

    /// Bytes allocated for the data of the send and receive rings (memory accounting).
    pub fn buffer_storage(&self) -> usize {
        self.sndbuf.storage() + self.rcvbuf.storage()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats.to_stats()
    }

    /// F-RTO, D-SACK undo and RACK reorder-timer counters.
    pub fn loss_stats(&self) -> LossStats {
        self.loss.stats
    }

    /// The pending error, cleared by reading it (`SO_ERROR`).
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// The next recorded event (empty unless [`Config::events`] is on).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// RFC 6191 §2 / RFC 9293 §3.10.7.4: whether a SYN arriving for this TIME_WAIT
    /// connection may open a new incarnation. The host asks before `on_segment`; on `true`
    /// it drops this TCB and hands the SYN to its listener.
    ///
    /// With timestamps on both the old connection and the SYN, the SYN's TSval must be
    /// greater than TS.Recent; otherwise its sequence number must be greater than RCV.NXT
    /// (RFC 1122 §4.2.2.13).
    pub fn time_wait_accepts_syn(&self, seg: &SegmentIn<'_>) -> bool {
        if self.state != State::TimeWait
            || !seg.flags.syn()
            || seg.flags.intersects(TcpFlags::ACK | TcpFlags::RST)
        {
            return false;
        }
        match (self.ts_ok, seg.options.timestamps) {
            (true, Some(ts)) => Seq(ts.tsval).gt(Seq(self.ts_recent)),
            _ => seg.seq.gt(self.rcv_nxt),
        }
    }

    // ------------------------------------------------------------------------------------
    // RFC 9293 §3.10.2 SEND, §3.10.3 RECEIVE
    // ------------------------------------------------------------------------------------

    /// RFC 9293 §3.10.2 SEND: queues bytes; returns how many were taken.
    pub fn send(&mut self, now: Instant, data: &[u8]) -> Result<usize, Error> {
        self.send_op(now, data.is_empty(), |b| b.write(data))
    }

    /// SEND without a copy: `f` writes the bytes straight into the send buffer's free
    /// space (see [`SendBuffer::write_with`]: the free space up to the ring's end, then,
    /// only if `f` filled that, the rest) and returns how many it wrote each time; those
    /// are queued as by [`Connection::send`]. Returns the total, `Ok(0)` when `f` wrote
    /// nothing, and the errors of [`Connection::send`] (`WouldBlock` without calling `f`
    /// when the buffer is full).
    pub fn send_with<F: FnMut(&mut [u8]) -> usize>(
        &mut self,
        now: Instant,
        f: F,
    ) -> Result<usize, Error> {
        if self.sndbuf.free() == 0 {
            // The errors of the states come first, as in `send`.
            return self.send_op(now, false, |_| 0);
        }
        match self.send_op(now, false, |b| b.write_with(f)) {
            Err(Error::WouldBlock) => Ok(0),
            r => r,
        }
    }

    /// The state checks of SEND, then `write` (unless `empty`: `Ok(0)`); `write`
    /// returning 0 is `WouldBlock`.
    fn send_op(
        &mut self,
        now: Instant,
        empty: bool,
        write: impl FnOnce(&mut SendBuffer) -> usize,
    ) -> Result<usize, Error> {
        let _ = now;
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.state {
            // RFC 9293 §3.10.2 CLOSED: "connection does not exist". LISTEN → SYN_SENT on SEND
            // is optional and not offered: the host makes an active OPEN instead.
            State::Closed | State::Listen => Err(Error::NotConnected),
            // RFC 9293 §3.10.2: queued in SYN-SENT/SYN-RECEIVED until ESTABLISHED.
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {
                if self.fin_queued || self.orphaned {
                    return Err(Error::BrokenPipe);
                }
                if empty {
                    return Ok(0);
                }
                match write(&mut self.sndbuf) {
                    0 => Err(Error::WouldBlock),
                    n => Ok(n),
                }
            }
            // RFC 9293 §3.10.2: "connection closing" — EPIPE.
            State::FinWait1
            | State::FinWait2
            | State::Closing
            | State::LastAck
            | State::TimeWait => Err(Error::BrokenPipe),
        }
    }

    /// RFC 9293 §3.10.3 RECEIVE: copies in-order bytes into `buf`. `Ok(0)` with a non-empty
    /// `buf` is end of stream (the peer's FIN has been read).
    ///
    /// As on BSD and Linux, a read stops at the urgent mark (RFC 6093 §2); unless
    /// `SO_OOBINLINE` is set, the urgent byte itself is skipped (it is read with
    /// [`Connection::recv_urgent`]).
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let max = buf.len();
        self.recv_op(max, |b, limit| b.read(&mut buf[..limit]))
    }

    /// RECEIVE without a copy: `f` reads in-order bytes straight from the receive buffer
    /// (see [`RecvBuffer::read_with`]: the bytes up to the ring's end, then, only if `f`
    /// took all of those, the rest) and returns how many it took each time; those are
    /// consumed as by [`Connection::recv`], with the same stop at the urgent mark and the
    /// same results otherwise (`Ok(0)` is the end of the stream, or `f` taking nothing).
    pub fn recv_with<F: FnMut(&[u8]) -> usize>(&mut self, f: F) -> Result<usize, Error> {
        self.recv_op(usize::MAX, |b, limit| b.read_with(limit, f))
    }

    /// RECEIVE of at most `max` bytes (0: nothing is read): the urgent-mark rules, then
    /// `read(buffer, limit)` takes at most `limit` bytes.
    fn recv_op(
        &mut self,
        max: usize,
        read: impl FnOnce(&mut RecvBuffer, usize) -> usize,
    ) -> Result<usize, Error> {
        if self.orphaned {
            return Err(Error::NotConnected);
        }
        if max != 0 && !self.rcvbuf.is_empty() {
            let base = self.rcvbuf.read_offset();
            if self.rare.urg_mark.get() == Some(base) && !self.oobinline {
                // The urgent byte was taken out of band: skip it.
                self.rcvbuf.discard(1);
                self.rare.urg_mark = UrgMark::NONE;
            }
        }
        if !self.rcvbuf.is_empty() {
            let base = self.rcvbuf.read_offset();
            let mut limit = max;
            if let Some(mark) = self.rare.urg_mark.get()
                && mark > base
            {
                limit = limit.min(usize::try_from(mark - base).unwrap_or(usize::MAX));
            }
            let n = read(&mut self.rcvbuf, limit);
            if self
                .rare
                .urg_mark
                .get()
                .is_some_and(|m| m < self.rcvbuf.read_offset())
            {
                // Read past the (inline) urgent byte.
                self.rare.urg_mark = UrgMark::NONE;
            }
            if self.rcvbuf.is_empty() {
                self.push_seen = false;
            }
            self.window_update_check();
            return Ok(n);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_rcvd {
            return Ok(0);
        }
        match self.state {
            State::Closed | State::Listen => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }

    /// `recv(MSG_PEEK)`: copies in-order data into `buf` without consuming it, with the
    /// same results as [`Connection::recv`] otherwise (the out-of-band urgent byte is
    /// skipped and a read stops at it; 0 at the end of the stream).
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.orphaned {
            return Err(Error::NotConnected);
        }
        if !self.rcvbuf.is_empty() {
            let base = self.rcvbuf.read_offset();
            let mut skip = 0usize;
            if self.rare.urg_mark.get() == Some(base) && !self.oobinline {
                skip = 1;
            }
            let mut end = self.rcvbuf.len();
            if let Some(mark) = self.rare.urg_mark.get()
                && mark > base
            {
                end = end.min(usize::try_from(mark - base).unwrap_or(usize::MAX));
            }
            let mut n = 0;
            for (i, slot) in buf.iter_mut().enumerate() {
                match self.rcvbuf.peek(skip + i) {
                    Some(b) if skip + i < end => *slot = b,
                    _ => break,
                }
                n += 1;
            }
            if n > 0 || buf.is_empty() || skip == 0 {
                return Ok(n);
            }
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_rcvd {
            return Ok(0);
        }
        match self.state {
            State::Closed | State::Listen => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }

    /// RFC 9293 §3.8.6.2.2: after the application reads, announce the opened window once the
    /// right edge may move (by min(half the buffer, one receive MSS), see `rcv_wnd`) — and,
    /// as Linux does (`tcp_cleanup_rbuf`), only when the window still offered is at most half
    /// the buffer and the new one at least twice it, so a reader keeping up with a bulk flow
    /// adds no ACKs of its own.
    fn window_update_check(&mut self) {
        if !matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        ) {
            return;
        }
        let offered = if self.rcv_adv.gt(self.rcv_nxt) {
            self.rcv_adv.since(self.rcv_nxt)
        } else {
            0
        };
        let new = self.rcv_wnd();
        let half_closed = u64::from(offered) * 2 <= self.rcvbuf.capacity() as u64;
        if (self.rcv_nxt + new).gt(self.rcv_adv)
            && half_closed
            && u64::from(new) >= 2 * u64::from(offered)
        {
            self.ack_due = true;
        }
    }

    /// Whether a PSH arrived with the data now waiting (the push signal of RFC 9293
    /// §3.9.1.2: the reader should hand the data on without waiting for more).
    pub fn pushed(&self) -> bool {
        self.push_seen
    }

    /// `send(MSG_OOB)`: queues `data` as urgent data (RFC 9293 §3.8.5). The urgent pointer
    /// of every segment up to it points to the byte after its last byte (RFC 6093 §4, as
    /// deployed stacks do), and it is pushed at once, past Nagle and TCP_CORK.
    pub fn send_urgent(&mut self, now: Instant, data: &[u8]) -> Result<usize, Error> {
        let n = self.send(now, data)?;
        if n > 0 {
            self.rare.snd_urg = Some(self.snd_buf_seq + self.sndbuf.len());
        }
        Ok(n)
    }

    /// `recv(MSG_OOB)`: the last urgent byte out of band. `EINVAL` with SO_OOBINLINE set or
    /// when no urgent byte is readable (none came, or it was read); `EAGAIN` while the
    /// urgent pointer has arrived and the byte has not (Linux's answers).
    pub fn recv_urgent(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.oobinline {
            return Err(Error::InvalidState);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let byte = match self.rare.oob_byte {
            // Taken only when held: `rare` is not allocated by a read that finds nothing.
            Some(_) => self.rare.oob_byte.take(),
            None => None,
        };
        match byte {
            Some(b) => {
                buf[0] = b;
                Ok(1)
            }
            None if self.rare.urg_pending.is_some() => Err(Error::WouldBlock),
            None => Err(Error::InvalidState),
        }
    }

    /// `SIOCATMARK`: whether the next byte to read is at the urgent mark.
    pub fn at_mark(&self) -> bool {
        self.rare.urg_mark.get() == Some(self.rcvbuf.read_offset())
    }

    /// Whether the peer signalled urgent data since the last call (SIGURG); clears it.
    pub fn take_urgent_signal(&mut self) -> bool {
        // Read first: `rare` is not allocated by a call that finds nothing.
        self.rare.urgent_signal && core::mem::take(&mut self.rare.urgent_signal)
    }

    /// `TCP_NODELAY`: `true` turns Nagle's algorithm off (RFC 9293 §3.7.4 MUST-17 lets
    /// the application do so).
    pub fn set_nodelay(&mut self, on: bool) {
        self.nodelay = on;
    }

    /// `TCP_NODELAY` in force.
    pub fn nodelay(&self) -> bool {
        self.nodelay
    }

    /// `TCP_CORK`: while on, partial segments are held until the cork is removed or for at
    /// most 200 ms (Linux).
    pub fn set_cork(&mut self, on: bool) {
        self.cork = on;
        if !on {
            self.cork_deadline = None;
        }
    }

    /// `TCP_CORK` in force.
    pub fn cork(&self) -> bool {
        self.cork
    }

    /// `SO_KEEPALIVE` (RFC 9293 §3.8.4, off by default as MUST-24 requires).
    pub fn set_keepalive(&mut self, now: Instant, on: bool) {
        self.keepalive = on;
        self.ka_unanswered = 0;
        self.ka_deadline = None;
        if on {
            self.last_rcv_at = now;
            self.rearm_keepalive(now);
        }
    }

    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` (Linux defaults 7200 s, 75 s, 9).
    pub fn set_keepalive_params(&mut self, now: Instant, idle: Duration, intvl: Duration, cnt: u8) {
        let rare = &mut *self.rare;
        rare.ka_idle = Some(Nanos::new(idle));
        rare.ka_intvl = Some(Nanos::new(intvl));
        rare.ka_cnt = Some(cnt.max(1));
        if self.keepalive && self.ka_unanswered == 0 {
            self.ka_deadline = None;
            self.rearm_keepalive(now);
        }
    }

    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged (and probes
    /// unanswered) before the connection fails with ETIMEDOUT; `None` leaves it to
    /// `tcp_retries2`.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.rare.user_timeout = Some(OptNanos::new(timeout.filter(|d| !d.is_zero())));
    }

    /// `SO_OOBINLINE`: leave the urgent byte in the stream.
    pub fn set_oobinline(&mut self, on: bool) {
        self.oobinline = on;
    }

    /// `SO_SNDBUF`: the send buffer size (never below the bytes it holds).
    pub fn set_send_buffer(&mut self, bytes: usize) {
        self.sndbuf.set_capacity(bytes);
    }

    /// `SO_RCVBUF`: the receive buffer size (never below the bytes it holds). The window
    /// already advertised is honoured even if the buffer shrinks (RFC 9293 §3.8.6.2.2).
    pub fn set_recv_buffer(&mut self, bytes: usize) {
        self.rcvbuf.set_capacity(bytes);
    }

    /// Send buffer size.
    pub fn send_buffer(&self) -> usize {
        self.sndbuf.capacity()
    }

    /// Receive buffer size.
    pub fn recv_buffer(&self) -> usize {
        self.rcvbuf.capacity()
    }

    /// Path MTU discovery (RFC 9293 §3.7.3, RFC 1191 / RFC 8201): the path can carry at most
    /// `mtu` bytes per IP packet, so the send MSS drops to `mtu` − 40 (IPv4) or − 60 (IPv6),
    /// never below Linux's minimum of 88 and never above what was negotiated. Segments
    /// already in flight are resent at the new size if they are lost. Returns the new MSS.
    pub fn set_path_mtu(&mut self, mtu: u16) -> u16 {
        let overhead = if self.ipv6 { 60 } else { 40 };
        let mss = mtu.saturating_sub(overhead).max(MIN_MSS);
        if mss < self.snd_mss {
            self.snd_mss = mss;
        }
        self.eff_snd_mss()
    }

    /// Slow start's per-ACK growth limit for the flavor (RFC 3465 §2.2 L, in segments): 2
    /// for FreeBSD (`net.inet.tcp.abc_l_var`); none for Linux, which adds every segment an
    /// ACK delivers up to ssthresh (`tcp_slow_start()`).
    fn slow_start_limit(cfg: &Config) -> u32 {
        match cfg.flavor() {
            crate::config::Flavor::Linux => 0,
            crate::config::Flavor::FreeBsd => 2,
        }
    }

    /// `TCP_CONGESTION`: selects the algorithm by name (`reno`, `cubic`); `InvalidState`
    /// (Linux answers ENOENT) for an unknown name.
    pub fn set_congestion_control_by_name(&mut self, name: &str) -> Result<(), Error> {
        let cc = crate::cc::by_name(name).ok_or(Error::InvalidState)?;
        self.set_congestion_control(cc);
        Ok(())
    }

    /// Replaces the congestion-control algorithm (the default is
    /// [`Config::congestion_control`], CUBIC).
    pub fn set_congestion_control(&mut self, cc: Box<dyn CongestionControl>) {
        self.cc = crate::cc::CcBox::new(cc);
        self.cc_rate = self.cc.rate().is_some();
        self.cc
            .set_slow_start_limit(Self::slow_start_limit(&self.cfg));
        if self.state.is_synchronized() {
            let mss = u32::from(self.eff_snd_mss());
            self.cc.on_established(mss);
        }
    }

    /// TCP_INFO-style figures.
    pub fn info(&self) -> Info {
        Info {
            state: self.state,
            rto: self.current_rto(),
            rtt: self.rtt.srtt().unwrap_or(Duration::ZERO),
            rttvar: self.rtt.rttvar(),
            min_rtt: self.rtt.min_rtt().unwrap_or(Duration::ZERO),
            snd_mss: u32::from(self.eff_snd_mss()),
            rcv_mss: self.rcv_mss,
            cwnd: self.cc.cwnd(),
            // BBR has no slow-start threshold: "infinite", as Linux leaves it.
            ssthresh: if self.has_rate() {
                u32::MAX
            } else {
                self.cc.ssthresh()
            },
            retransmits: self.rtx_count,
            total_retrans: self.stats.retransmits,
            unacked: self.snd_nxt.since(self.snd_una),
            bytes_acked: self.bytes_acked,
            bytes_received: self.bytes_received,
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rcv_wnd(),
            probes: self.persist_unanswered.max(self.ka_unanswered),
            backoff: u8::try_from(self.persist_backoff)
                .unwrap_or(u8::MAX)
                .max(self.rtx_count),
            congestion: self.cc.name(),
            sacked: self.scoreboard.sacked_bytes(),
            lost: self.lost_bytes(),
            pipe: self.pipe_now(),
            in_recovery: self.recover.is_some(),
            ecn: self.ecn_ok,
            pacing_rate: self.rates().map_or(0, |r| r.0),
            bbr: self.cc.bbr_info(),
            // BBR's latest rate sample, else the bytes acknowledged over the last round trip.
            delivery_rate: match self.rates() {
                Some((_, rate)) => rate,
                None => self.loss.delivery.rate(),
            },
        }
    }

    /// Unsacked bytes below the loss boundary not yet retransmitted, as of the last event.
    fn lost_bytes(&self) -> u32 {
        if !self.sack_ok || self.snd_una == self.snd_nxt {
            return 0;
        }
        let now = self.last_rcv_at;
        let boundary = self.loss_boundary(now);
        let mut lost = 0u32;
        let mut at = self.high_rxt.max(self.snd_una);
        while let Some((l, r)) = self.scoreboard.next_lost(self.snd_una, at, boundary) {
            lost = lost.saturating_add(r.since(l));
            at = r;
        }
        lost
    }

    /// SetPipe as of the last segment received (for TCP_INFO).
    fn pipe_now(&self) -> u32 {
        self.pipe(self.last_rcv_at)
    }

    /// Bytes ready to read.
    pub fn recv_queued(&self) -> usize {
        self.rcvbuf.len()
    }

    /// Room in the send buffer.
    pub fn send_capacity(&self) -> usize {
        self.sndbuf.free()
    }

    // ------------------------------------------------------------------------------------
    // RFC 9293 §3.10.4 CLOSE, §3.10.5 ABORT
    // ------------------------------------------------------------------------------------

    /// `shutdown(SHUT_WR)`: RFC 9293 §3.10.4 CLOSE — no more sends, a FIN follows the queued
    /// data, and receiving goes on (half-close).
    pub fn shutdown_write(&mut self, now: Instant) -> Result<(), Error> {
        match self.state {
            State::Closed => Err(self.error.unwrap_or(Error::NotConnected)),
            // RFC 9293 §3.10.4 LISTEN / SYN-SENT: delete the TCB.
            State::Listen | State::SynSent => {
                self.enter_closed(now);
                Ok(())
            }
            // RFC 9293 §3.10.4 SYN-RECEIVED: with nothing queued, send FIN, FIN-WAIT-1;
            // otherwise wait for ESTABLISHED (the FIN follows the data either way here).
            State::SynReceived => {
                self.fin_queued = true;
                if self.sndbuf.is_empty() {
                    self.set_state(now, State::FinWait1);
                }
                Ok(())
            }
            // RFC 9293 §3.10.4 ESTABLISHED: FIN after the queued data; FIN-WAIT-1.
            State::Established => {
                self.fin_queued = true;
                self.set_state(now, State::FinWait1);
                Ok(())
            }
            // RFC 9293 §3.10.4 CLOSE-WAIT: FIN after the queued data; LAST-ACK.
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(now, State::LastAck);
                Ok(())
            }
            // RFC 9293 §3.10.4 FIN-WAIT-1/2: already closing; "ok" (Linux returns 0).
            State::FinWait1 | State::FinWait2 => Ok(()),
            // RFC 9293 §3.10.4 CLOSING/LAST-ACK/TIME-WAIT: "connection closing".
            State::Closing | State::LastAck | State::TimeWait => Err(Error::Already),
        }
    }

    /// `close()`: the application releases the connection. It sends a FIN as
    /// [`Connection::shutdown_write`] does and lives on as an orphan (tcp_fin_timeout bounds
    /// FIN_WAIT_2) — unless unread data is waiting, in which case RFC 2525 §2.17 (and Linux)
    /// reset the connection instead.
    pub fn close(&mut self, now: Instant) -> Result<(), Error> {
        if self.orphaned {
            return Err(Error::NotConnected);
        }
        if !self.rcvbuf.is_empty() && self.state.is_synchronized() {
            // RFC 2525 §2.17: closing with unread data sends RST, not FIN.
            self.rcvbuf.clear();
            self.abort(now);
            self.orphaned = true;
            return Ok(());
        }
        let result = match self.state {
            State::Closed => {
                self.orphaned = true;
                return Ok(());
            }
            State::Closing | State::LastAck | State::TimeWait => Ok(()),
            _ => self.shutdown_write(now),
        };
        self.orphaned = true;
        if self.state == State::FinWait2 && self.fin_wait_2_deadline.is_none() {
            self.fin_wait_2_deadline = Some(now + self.cfg.fin_timeout);
        }
        result
    }

    /// RFC 9293 §3.10.5 ABORT (and `SO_LINGER` with zero timeout): discard queued data, send
    /// `<SEQ=SND.NXT><CTL=RST>` from SYN_RCVD, ESTABLISHED, FIN_WAIT_1/2 and CLOSE_WAIT, and
    /// enter CLOSED. As on Linux the RST also carries ACK (`<ACK=RCV.NXT>`), the window and,
    /// once negotiated, timestamps.
    pub fn abort(&mut self, now: Instant) {
        match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => {
                // Linux (tcp_send_active_reset) also sets ACK, with RCV.NXT, the current
                // window and timestamps: `Flags [R.], seq SND.NXT, ack RCV.NXT`.
                self.queue_rst(self.segment(now, self.snd_nxt, TcpFlags::RST | TcpFlags::ACK));
            }
            // RFC 9293 §3.10.5 LISTEN/SYN-SENT/CLOSING/LAST-ACK/TIME-WAIT: no RST.
            _ => {}
        }
        self.sndbuf.clear();
        self.rcvbuf.clear();
        self.error = None;
        if self.state != State::Closed {
            self.enter_closed(now);
        }
    }

    // ------------------------------------------------------------------------------------
    // RFC 9293 §3.10.7 SEGMENT ARRIVES
    // ------------------------------------------------------------------------------------

    /// Processes an arriving segment whose IP header carried ECN codepoint CE (`ce`,
    /// RFC 3168 §5): as [`Connection::on_segment`], and on an ECN connection the receiver
    /// then echoes ECE on its ACKs until the sender's CWR arrives (§6.1.3). The host calls
    /// this instead of `on_segment` when it reads the ECN field.
    pub fn on_segment_ecn(&mut self, now: Instant, seg: &SegmentIn<'_>, ce: bool) {
        self.on_segment(now, seg);
        if ce && self.ecn_ok && self.state.is_synchronized() {
            self.stats.ecn_ce_received += 1;
            self.ece_due = true;
            // Linux acknowledges a CE-marked segment at once (quick ACK).
            self.ack_due = true;
        }
    }

    /// Processes an arriving segment (RFC 9293 §3.10.7), in the RFC's order.
    pub fn on_segment(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        self.stats.segs_in += 1;
        self.events.push(Event::Received {
            at: now,
            seg: SegSummary::of_in(seg),
        });
        // Any segment from the peer shows it is alive (keepalive, RFC 9293 §3.8.4).
        self.last_rcv_at = now;
        if self.keepalive && self.state.is_synchronized() {
            self.ka_unanswered = 0;
            self.ka_probe_due = false;
            self.ka_deadline = None;
            self.rearm_keepalive(now);
        }
        match self.state {
            State::Closed => self.seg_closed(seg),
            State::Listen => self.seg_listen(now, seg),
            State::SynSent => self.seg_syn_sent(now, seg),
            _ => self.seg_other(now, seg),
        }
    }

    /// RFC 9293 §3.10.7.1 CLOSED: all data discarded; RST answered per the rules.
    fn seg_closed(&mut self, seg: &SegmentIn<'_>) {
        if let Some(rst) = reset_for_no_connection(seg) {
            self.queue_rst(rst);
        }
    }

    /// RFC 9293 §3.10.7.2 LISTEN.
    fn seg_listen(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        // First, check for a RST: "An incoming RST segment could not be valid ... ignored".
        if seg.flags.rst() {
            return self.drop_seg(now, DropReason::Ignored);
        }
        // Second, check for an ACK: "<SEQ=SEG.ACK><CTL=RST>".
        if seg.flags.ack() {
            self.queue_rst(SegmentOut::bare(seg.ack, Seq(0), TcpFlags::RST, 0));
            return self.drop_seg(now, DropReason::BadAck);
        }
        // Third, check for a SYN. Like Linux, a SYN that also carries FIN is discarded
        // (no legitimate stack sends one; it is a scanner's probe).
        if seg.flags.syn() && seg.flags.fin() {
            return self.drop_seg(now, DropReason::Ignored);
        }
        if seg.flags.syn() {
            // RCV.NXT <- SEG.SEQ+1, IRS <- SEG.SEQ; ISS selected; SYN,ACK sent.
            self.irs = seg.seq;
            self.rcv_nxt = seg.seq + 1u32;
            self.rcv_up = self.rcv_nxt;
            self.choose_iss(now);
            self.negotiate(now, seg);
            // RFC 7323 §2.2: the window of a SYN is never scaled.
            self.snd_wnd = u32::from(seg.wnd);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = self.iss;
            self.syn_due = true;
            self.rtx_count = 0;
            // Text or FIN on the SYN is not queued: it is not acknowledged, so the peer
            // sends it again after the handshake (RFC 9293 §3.10.7.2 allows queueing).
            return self.set_state(now, State::SynReceived);
        }
        // Fourth, other text or control: drop.
        self.drop_seg(now, DropReason::Ignored)
    }

    /// RFC 9293 §3.10.7.3 SYN-SENT.
    fn seg_syn_sent(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        // First, check the ACK bit: SEG.ACK =< ISS or SEG.ACK > SND.NXT is unacceptable.
        if seg.flags.ack() && (seg.ack.le(self.iss) || seg.ack.gt(self.snd_nxt)) {
            if !seg.flags.rst() {
                self.queue_rst(SegmentOut::bare(seg.ack, Seq(0), TcpFlags::RST, 0));
            }
            return self.drop_seg(now, DropReason::BadAck);
        }
        // Second, check the RST bit: with an acceptable ACK the connection is refused
        // (RFC 5961 §3.2: a RST in SYN-SENT is valid only if it acknowledges the SYN).
        if seg.flags.rst() {
            if seg.flags.ack() {
                return self.fail(now, Error::ConnectionRefused);
            }
            return self.drop_seg(now, DropReason::BadRst);
        }
        // Third, security: no IP security compartments are modelled.
        // Fourth, check the SYN bit.
        if seg.flags.syn() {
            self.irs = seg.seq;
            self.rcv_nxt = seg.seq + 1u32;
            self.rcv_up = self.rcv_nxt;
            self.negotiate(now, seg);
            if seg.flags.ack() {
                self.rtt_on_ack(now, seg);
                self.snd_una = seg.ack;
            }
            // RFC 7323 §2.2: the window of a SYN is never scaled.
            self.snd_wnd = u32::from(seg.wnd);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            if self.snd_una.gt(self.iss) {
                // Our SYN is acknowledged: ESTABLISHED, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
                self.syn_due = false;
                self.rtx_done();
                self.ack_due = true;
                self.set_state(now, State::Established);
                // "continue processing at the sixth step below where the URG bit is
                // checked" — text and FIN start after the SYN.
                return self.seg_text_and_fin(now, seg, seg.seq + 1u32);
            }
            // Simultaneous open: SYN_RCVD, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
            self.syn_due = true;
            if self.cfg.flavor() == crate::config::Flavor::FreeBsd && !seg.payload.is_empty() {
                // FreeBSD keeps the text (not a FIN) and delivers it once the handshake
                // completes; at most one buffer's worth.
                let n = seg.payload.len().min(self.cfg.recv_buffer);
                self.rare.syn_text = seg.payload[..n].to_vec();
            }
            return self.set_state(now, State::SynReceived);
        }
        // Fifth, neither SYN nor RST: drop.
        self.drop_seg(now, DropReason::Ignored)
    }

    /// RFC 9293 §3.10.7.4, "Otherwise": SYN-RECEIVED and every synchronized state.
    fn seg_other(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        // Header prediction: the common in-order segment, with the same outcome.
        if self.cfg.header_prediction && self.fast_path(now, seg) {
            return;
        }
        // Simultaneous open (RFC 9293 §3.5 figure 7): in SYN-RECEIVED of an active OPEN the
        // peer's SYN,ACK repeats its SYN (SEG.SEQ = IRS) and acknowledges ours. Like Linux
        // (RFC 5961 §4.2 exception) it is taken as the ACK completing the handshake, so the
        // open takes four segments instead of six.
        if self.state == State::SynReceived
            && !self.passive
            && seg.flags.syn()
            && seg.flags.ack()
            && !seg.flags.intersects(TcpFlags::RST | TcpFlags::FIN)
            && seg.payload.is_empty()
            && seg.seq == self.irs
            && seg.ack == self.snd_nxt
        {
            let mut ack = *seg;
            ack.flags = seg.flags.without(TcpFlags::SYN);
            ack.seq = seg.seq + 1u32;
            return self.seg_other(now, &ack);
        }
        let rst = seg.flags.rst();

        // FreeBSD tcp_twcheck(): in TIME-WAIT every segment with ACK that is not a pure
        // duplicate ACK is answered with an ACK (a retransmitted FIN restarts 2 MSL);
        // nothing else happens. (Its host drops RSTs and segments without ACK.)
        if self.state == State::TimeWait
            && self.cfg.flavor() == crate::config::Flavor::FreeBsd
            && seg.flags.ack()
            && !rst
        {
            if seg.flags.fin() && seg.seq + seg.seg_len() == self.rcv_nxt {
                self.time_wait_deadline = Some(now + self.cfg.time_wait());
            }
            let dup_ack = seg.flags == TcpFlags::ACK
                && seg.payload.is_empty()
                && seg.seq == self.rcv_nxt
                && seg.ack == self.snd_nxt;
            if !dup_ack {
                self.ack_due = true;
            }
            return;
        }

        // RFC 9293 §3.10.7.4 TIME-WAIT / Linux: a retransmission of the peer's FIN (it ends
        // exactly at RCV.NXT) is acknowledged again and restarts the 2 MSL timer.
        if self.state == State::TimeWait
            && seg.flags.fin()
            && !rst
            && !seg.flags.syn()
            && seg.seq + seg.seg_len() == self.rcv_nxt
        {
            self.ack_due = true;
            self.time_wait_deadline = Some(now + self.cfg.time_wait());
            return;
        }

        if self.ts_ok {
            match seg.options.timestamps {
                // RFC 7323 §3.2: once negotiated, a non-RST segment without TSopt is dropped.
                None if !rst => return self.drop_seg(now, DropReason::MissingTimestamp),
                // RFC 7323 §5.3 R1 (PAWS): SEG.TSval < TS.Recent with a valid TS.Recent and
                // no RST: not acceptable — ACK and drop.
                Some(ts)
                    if !rst
                        && Seq(ts.tsval).lt(Seq(self.ts_recent))
                        && now.saturating_duration_since(self.ts_recent_at) <= PAWS_IDLE_LIMIT =>
                {
                    self.stats.paws_drops += 1;
                    self.ack_due = true;
                    return self.drop_seg(now, DropReason::Paws);
                }
                _ => {}
            }
        }

        // Linux tcp_check_req() (and FreeBSD's syncache): a retransmission of the SYN that
        // opened this connection means our SYN-ACK was lost: send it again.
        if self.state == State::SynReceived
            && self.passive
            && seg.flags.syn()
            && !seg.flags.ack()
            && !rst
            && seg.seq == self.irs
        {
            self.rtx_due = true;
            return;
        }

        // First, check the sequence number (the four-case acceptability table).
        if !self.acceptable(seg) {
            if !rst {
                // "<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>" then drop.
                self.ack_due = true;
                // FreeBSD answers any SYN here with tcp_respond()'s challenge ACK.
                self.challenge_due |= seg.flags.syn();
                let end = seg.seq + seg.payload.len();
                if !seg.payload.is_empty() && end.le(self.rcv_nxt) {
                    // RFC 2883 §4: the duplicate is reported in a D-SACK block.
                    self.note_dsack(seg.seq, end);
                }
            }
            return self.drop_seg(now, DropReason::OutOfWindow);
        }

        // RFC 7323 §4.3 (§5.3 R3): SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent.
        if self.ts_ok
            && let Some(ts) = seg.options.timestamps
            && Seq(ts.tsval).ge(Seq(self.ts_recent))
            && seg.seq.le(self.last_ack_sent)
        {
            self.ts_recent = ts.tsval;
            self.ts_recent_at = now;
        }

        // RFC 3168 §6.1.3: the sender's CWR ends the echo.
        if self.ecn_ok && seg.flags.cwr() && !rst {
            self.ece_due = false;
        }

        // Second, check the RST bit.
        if rst {
            return self.seg_rst(now, seg);
        }

        // Third, check security: no IP security compartments are modelled.

        // Fourth, check the SYN bit.
        if seg.flags.syn() {
            if self.state == State::SynReceived && self.passive {
                // "If the connection was initiated with a passive OPEN, then return this
                // connection to the LISTEN state and return."
                return self.return_to_listen(now);
            }
            if self.cfg.rfc5961 {
                // RFC 5961 §4.2 / RFC 9293: any SYN in a synchronized state gets a challenge
                // ACK, whatever its sequence number.
                self.challenge_ack(now);
                return self.drop_seg(now, DropReason::UnexpectedSyn);
            }
            // RFC 793: a SYN in the window is an error: reset and close.
            if self.cfg.flavor() == crate::config::Flavor::FreeBsd {
                // FreeBSD tcp_drop() → tcp_output() in CLOSED: `R.` from the connection's
                // own sequence numbers.
                self.queue_rst(SegmentOut::bare(
                    self.snd_nxt,
                    self.rcv_nxt,
                    TcpFlags::RST | TcpFlags::ACK,
                    0,
                ));
            } else if let Some(r) = reset_for_no_connection(seg) {
                self.queue_rst(r);
            }
            return self.fail(now, Error::ConnectionReset);
        }

        // Fifth, check the ACK field: "if the ACK bit is off, drop the segment and return".
        if !seg.flags.ack() {
            return self.drop_seg(now, DropReason::NoAck);
        }

        if self.state == State::SynReceived {
            // SYN-RECEIVED: SND.UNA < SEG.ACK =< SND.NXT → ESTABLISHED, else RST.
            if seg.ack.gt(self.snd_una) && seg.ack.le(self.snd_nxt) {
                self.snd_wnd = self.scaled_wnd(seg.wnd);
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.set_state(now, State::Established);
                if !self.rare.syn_text.is_empty() {
                    // The simultaneous open's SYN text, queued until now.
                    let text = std::mem::take(&mut self.rare.syn_text);
                    let n = self.rcvbuf.push(&text);
                    self.rcv_nxt += n;
                    self.bytes_received += n as u64;
                }
                if self.fin_queued {
                    // RFC 9293 §3.10.4: a CLOSE issued in SYN-RECEIVED with data queued is
                    // processed once ESTABLISHED: the FIN follows the data, FIN-WAIT-1.
                    self.set_state(now, State::FinWait1);
                }
            } else {
                self.queue_rst(SegmentOut::bare(seg.ack, Seq(0), TcpFlags::RST, 0));
                return self.drop_seg(now, DropReason::BadAck);
            }
        }

        if !self.process_ack(now, seg) {
            return;
        }

        match self.state {
            // FIN-WAIT-1: "if the FIN segment is now acknowledged, enter FIN-WAIT-2" — done
            // after the FIN check below, so a FIN+ACK goes straight to TIME-WAIT (step eight:
            // "If our FIN has been ACKed (perhaps in this segment), then enter TIME-WAIT").
            // CLOSING: "if the ACK acknowledges our FIN, enter TIME-WAIT; otherwise ignore".
            State::Closing => {
                if self.our_fin_acked() {
                    self.enter_time_wait(now);
                }
                return;
            }
            // LAST-ACK: "if our FIN is now acknowledged, delete the TCB, enter CLOSED".
            State::LastAck => {
                if self.our_fin_acked() {
                    self.enter_closed(now);
                }
                return;
            }
            _ => {}
        }

        self.seg_text_and_fin(now, seg, seg.seq);
        if self.state == State::FinWait1 && self.our_fin_acked() {
            self.set_state(now, State::FinWait2);
        }
    }

    /// RFC 9293 §3.10.7.4 "Second, check the RST bit" for an in-window RST.
    fn seg_rst(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        // RFC 1337 §3 (tcp_rfc1337): ignore RST in TIME-WAIT.
        if self.state == State::TimeWait && self.cfg.rfc1337 {
            return self.drop_seg(now, DropReason::RstInTimeWait);
        }
        // RFC 5961 §3.2: only SEG.SEQ == RCV.NXT resets; any other in-window RST earns a
        // challenge ACK. RFC 793 mode: any in-window RST resets.
        if self.cfg.rfc5961 && seg.seq != self.rcv_nxt {
            self.challenge_ack(now);
            return self.drop_seg(now, DropReason::BadRst);
        }
        match self.state {
            // SYN-RECEIVED: passive → back to LISTEN; active → "connection refused".
            State::SynReceived => {
                if self.passive {
                    self.return_to_listen(now)
                } else {
                    self.fail(now, Error::ConnectionRefused)
                }
            }
            // ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT: "connection reset", flush, CLOSED.
            // CLOSING and LAST-ACK: RFC 9293 only deletes the TCB, but Linux (tcp_reset())
            // and FreeBSD (tcp_input(): so_error = ECONNRESET) report the reset as well.
            State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait
            | State::Closing
            | State::LastAck => self.fail(now, Error::ConnectionReset),
            // TIME-WAIT: delete the TCB, CLOSED.
            _ => self.enter_closed(now),
        }
    }

    /// The ACK processing shared by ESTABLISHED and the later states (RFC 9293 §3.10.7.4
    /// "Fifth", ESTABLISHED STATE). Returns `false` when the segment was dropped.
    fn process_ack(&mut self, now: Instant, seg: &SegmentIn<'_>) -> bool {
        // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK,
        // drop the segment, and return" (RFC 5961 §5.2: rate-limited like a challenge ACK).
        if seg.ack.gt(self.snd_nxt) {
            if self.cfg.rfc5961 {
                self.challenge_ack(now);
            } else {
                self.ack_due = true;
            }
            self.drop_seg(now, DropReason::BadAck);
            return false;
        }
        // RFC 5961 §5.2: SEG.ACK below SND.UNA - MAX.SND.WND is discarded with an ACK.
        if self.cfg.rfc5961 && seg.ack.lt(self.snd_una - self.max_snd_wnd) {
            self.challenge_ack(now);
            self.drop_seg(now, DropReason::BadAck);
            return false;
        }
        let mss = u32::from(self.eff_snd_mss());
        // RFC 2018 / RFC 6675: record the SACK blocks first; a D-SACK block (RFC 2883 §4)
        // reports a duplicate, not new data.
        let sacked_before = self.scoreboard.sacked_bytes();
        let reorder_probe = self.reorder_probe();
        let mut dsack = None;
        let mut new_sack = false;
        if self.sack_ok && !seg.options.sack_blocks.is_empty() {
            let blocks = seg.options.sack_blocks.as_slice();
            let blocks = if is_dsack(seg.ack, blocks) {
                self.stats.dsacks_received += 1;
                dsack = blocks.first().copied();
                blocks.get(1..).unwrap_or(&[])
            } else {
                blocks
            };
            let una = seg.ack.max(self.snd_una);
            new_sack = self.scoreboard.update(una, self.snd_nxt, blocks) > 0;
        }
        let mut delivered = 0u32;
        let mut ack_advanced = false;
        let mut rack_acked = None;
        // "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK" and remove what is
        // acknowledged from the retransmission queue.
        if seg.ack.gt(self.snd_una) {
            ack_advanced = true;
            let acked = seg.ack.since(self.snd_una);
            let data_acked = seg
                .ack
                .since(self.snd_buf_seq)
                .min(self.sndbuf.len() as u32);
            if seg.ack.gt(self.snd_buf_seq) {
                self.sndbuf.ack(data_acked as usize);
                self.snd_buf_seq += data_acked;
                self.bytes_acked += u64::from(data_acked);
            }
            self.rtt_on_ack(now, seg);
            if let Some(srtt) = self.rtt.srtt_nanos() {
                self.cc.on_rtt_nanos(srtt);
            }
            self.snd_una = seg.ack;
            self.scoreboard.advance(self.snd_una);
            // Data was sent (its loss state exists): measure the round's delivery.
            if self.bytes_acked > 0 && !self.has_rate() {
                let (una, nxt, acked_all) = (self.snd_una, self.snd_nxt, self.bytes_acked);
                let flight = nxt.since(una).saturating_add(acked);
                self.loss.delivery.on_ack(now, una, nxt, acked_all, flight);
            }
            while let Some(&(end, sent)) = self.sent_log.front()
                && end.le(self.snd_una)
            {
                // RFC 8985 §6.2 step 2: cumulatively acknowledged transmissions move
                // RACK.xmit_ts too (a repaired hole's retransmission among them).
                rack_acked = Some(rack_acked.map_or(sent, |t: Instant| t.max(sent)));
                self.sent_log.pop_front();
            }
            if self.high_rxt.lt(self.snd_una) {
                self.high_rxt = self.snd_una;
            }
            self.eifel_check(seg);
            if self.tlp_high.is_some_and(|h| self.snd_una.ge(h)) {
                self.tlp_high = None;
            }
            if self.reduce_hold.is_some_and(|h| self.snd_una.ge(h)) {
                self.reduce_hold = None;
            }
            if self.rare.snd_urg.is_some_and(|up| self.snd_una.ge(up)) {
                // RFC 9293 §3.8.5: urgent mode ends once the urgent data is acknowledged.
                self.rare.snd_urg = None;
            }
            if let Some(p) = self.rtx_nxt
                && p.lt(self.snd_una)
            {
                self.rtx_nxt = Some(self.snd_una);
            }
            if self.rtx_nxt == Some(self.snd_nxt) {
                self.rtx_nxt = None;
            }
            // RFC 6937 DeliveredData: the change in SND.UNA plus the change in SACKed bytes;
            // without SACK, less what duplicate ACKs already credited.
            delivered = if self.sack_ok {
                let after = self.scoreboard.sacked_bytes();
                (u64::from(acked) + u64::from(after))
                    .saturating_sub(u64::from(sacked_before))
                    .min(u64::from(u32::MAX)) as u32
            } else {
                let credited = self.dupack_credit.min(acked);
                self.dupack_credit -= credited;
                acked - credited
            };
            match self.recover {
                // RFC 6582 §3.2 step 3: without SACK a partial ACK retransmits the next hole
                // at once; with SACK, NextSeg finds the holes (RFC 6675 §5).
                Some(rec) if self.snd_una.lt(rec) => {
                    if !self.sack_ok {
                        self.fast_rtx_due = true;
                    }
                }
                // RFC 6582 / RFC 6675 full ACK: recovery ends; RFC 6937: cwnd = ssthresh.
                Some(_) => {
                    self.recover = None;
                    self.prr_budget = 0;
                    self.dupack_credit = 0;
                    self.cc.on_recovery_end();
                    self.loss.on_recovery_exit();
                }
                None if self.cfg.flavor() == crate::config::Flavor::Linux => {
                    // Linux tcp_cong_control(): the window grows by what the ACK delivered,
                    // cumulatively or newly SACKed (`acked_sacked`; in slow start every
                    // segment, tcp_slow_start()), and only while the window limits the flow
                    // (tcp_is_cwnd_limited(): the largest flight of the last round filled
                    // it, or in slow start the window is under twice that flight).
                    let flight = self.loss.delivery.max_flight();
                    let cwnd = self.cc.cwnd();
                    if flight.saturating_add(mss) > cwnd
                        || (cwnd / 2 < flight && cwnd < self.cc.ssthresh())
                    {
                        let grown = delivered.saturating_sub(acked.saturating_sub(data_acked));
                        self.cc.on_ack(now, grown, mss);
                    }
                }
                None => self.cc.on_ack(now, data_acked, mss),
            }
            self.dupacks = 0;
            // RFC 6298 §5.2 (all acknowledged: stop) and §5.3 (new data acknowledged: restart
            // with the current RTO); the backoff ends with forward progress.
            self.rtx_count = 0;
            self.rtx_due = false;
            self.rtx_start = None;
            self.rtx_deadline = None;
            self.tlp_armed = false;
            if self.snd_una != self.snd_nxt {
                self.arm_rtx(now);
                self.arm_tlp(now);
            }
        } else if seg.ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && self.snd_una != self.snd_nxt
            && self.scaled_wnd(seg.wnd) == self.snd_wnd
        {
            // RFC 5681 §2: a duplicate ACK.
            self.dupacks = self.dupacks.saturating_add(1);
            delivered = if self.sack_ok {
                self.scoreboard.sacked_bytes().saturating_sub(sacked_before)
            } else {
                // RFC 6937: without SACK a duplicate ACK delivered one segment.
                let flight = self.snd_nxt.since(self.snd_una);
                let credit = mss.min(flight.saturating_sub(self.dupack_credit));
                self.dupack_credit += credit;
                credit
            };
        }
        // RFC 8985 §6.2 (reordering, RACK.xmit_ts, D-SACK rounds), RFC 3708 (D-SACK undo)
        // and RFC 5682 (F-RTO after a timeout).
        self.loss_on_ack(now, reorder_probe, dsack, rack_acked);
        self.frto_on_ack(seg, ack_advanced, new_sack);
        // Loss detection: three duplicate ACKs (RFC 5681 §3.2), DupThresh segments SACKed
        // above SND.UNA (RFC 6675 §5 IsLost), or RACK's time rule (RFC 8985 §6). Once
        // reordering was seen, RACK alone decides (RFC 8985 §6.2: DupThresh would undo
        // the reordering window).
        let mut entering = false;
        if self.recover.is_none()
            && self.rtx_nxt.is_none()
            && !self.loss.frto_active()
            && self.snd_una != self.snd_nxt
            && self.snd_una != self.iss
        {
            let lost = if self.sack_ok {
                let dupthresh = !(self.cfg.rack_tlp && self.loss.reordering_seen);
                (dupthresh && self.dupacks >= DUPACK_THRESHOLD)
                    || self.loss_boundary(now).gt(self.snd_una)
            } else {
                !ack_advanced && self.dupacks == DUPACK_THRESHOLD
            };
            if lost {
                self.enter_recovery(now);
                entering = true;
            }
        }
        if self.recover.is_some() && !entering && delivered > 0 {
            self.rack_lost_retransmission();
        }
        if self.recover.is_some() && (ack_advanced || delivered > 0 || entering) {
            self.prr_update(now, delivered, entering);
        }
        self.rate_on_ack(now);
        if self.rack_on() {
            self.arm_reorder_timer(now);
        }
        // RFC 3168 §6.1.2: ECE asks for a reduction, once per window and not during
        // recovery; CWR goes on the next new data. Until that CWR is sent the receiver
        // keeps echoing the same congestion, so those ECEs ask for nothing new.
        if self.ecn_ok
            && seg.flags.ece()
            && self.recover.is_none()
            && self.reduce_hold.is_none()
            && !self.cwr_due
            && self.snd_una != self.iss
        {
            let flight = self.snd_nxt.since(self.snd_una);
            self.cc.on_congestion(now, flight, mss);
            let ssthresh = self.cc.ssthresh();
            self.cc.set_cwnd(ssthresh.max(mss));
            self.reduce_hold = Some(self.snd_nxt);
            self.cwr_due = true;
            self.stats.ecn_reductions += 1;
            self.loss.forget_undo();
        }
        // An ACK answers our zero-window probes: the peer is alive (RFC 9293 §3.8.6.1).
        self.persist_unanswered = 0;
        // Window update: "If SND.UNA =< SEG.ACK =< SND.NXT" and (SND.WL1 < SEG.SEQ or
        // (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)).
        if self.snd_una.le(seg.ack)
            && (self.snd_wl1.lt(seg.seq) || (self.snd_wl1 == seg.seq && self.snd_wl2.le(seg.ack)))
        {
            self.snd_wnd = self.scaled_wnd(seg.wnd);
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
        }
        true
    }

    /// RFC 3522: remembers the state before a reduction (only with timestamps, and not over
    /// an earlier episode); the TSval to compare with is that of the first retransmission
    /// still outstanding (`LossState::rtx_out`, Linux `retrans_stamp`).
    pub(super) fn save_undo(&mut self) {
        self.loss.begin(
            self.cc.cwnd(),
            self.cc.ssthresh(),
            self.snd_una,
            self.snd_nxt,
        );
        // BBR does not reduce its model on loss: nothing to undo (and an Eifel undo on an
        // ACK echoing an earlier episode's retransmission restarted recovery, resending
        // holes already resent).
        if self.ts_ok && self.loss.eifel.is_none() && !self.has_rate() {
            self.loss.eifel = Some((self.cc.cwnd(), self.cc.ssthresh()));
        }
        // Retransmissions of an earlier episode still outstanding keep their (older) stamp.
        if self
            .loss
            .rtx_out
            .is_some_and(|(high, _)| !self.snd_una.lt(high))
        {
            self.loss.rtx_out = None;
        }
    }

    /// RFC 3522 §3.2 (Eifel detection) with the RFC 4015 response: an ACK of new data whose
    /// TSecr is older than the first retransmission still outstanding (Linux
    /// `tcp_packet_delayed`: `retrans_stamp`, which an earlier episode's retransmissions keep)
    /// was sent for an original transmission. It proves the episode spurious only once it
    /// covers every retransmission (Linux `tcp_try_undo_partial` waits for `retrans_out` to
    /// reach 0): the reduction is undone and going back over the outstanding data stops. An
    /// ACK echoing a retransmission confirms the loss.
    fn eifel_check(&mut self, seg: &SegmentIn<'_>) {
        let Some((cwnd, ssthresh)) = self.loss.eifel else {
            return;
        };
        let Some(ts) = seg.options.timestamps.filter(|t| t.tsecr != 0) else {
            return;
        };
        // Nothing retransmitted yet: this ACK says nothing about a retransmission.
        let Some((rtx_high, rtx_tsval)) = self.loss.rtx_out else {
            return;
        };
        if !Seq(ts.tsecr).lt(Seq(rtx_tsval)) {
            // TSecr only grows (RFC 7323 §4.3): no later ACK can prove it spurious.
            self.loss.eifel = None;
            return;
        }
        if self.snd_una.lt(rtx_high) {
            // Another retransmission is outstanding: wait for the ACK that covers it.
            return;
        }
        self.loss.eifel = None;
        // The episode is undone once (no D-SACK undo after it).
        self.loss.take_prior();
        if self.recover.is_some() {
            // Linux (tcp_try_undo_partial): the hole was filled by the delayed original.
            self.loss.reordering_seen = true;
        }
        self.undo_reduction(cwnd, ssthresh);
    }

    /// RFC 2883: remembers a duplicate `[l, r)` for the next ACK's first SACK block.
    fn note_dsack(&mut self, l: Seq, r: Seq) {
        if self.sack_ok && self.cfg.dsack && l.lt(r) {
            self.rare.dsack_due = Some((l, r));
            if self.cfg.flavor() == crate::config::Flavor::FreeBsd {
                // FreeBSD tcp_input(): "ACK now, as the next in-sequence segment will clear
                // the DSACK block again".
                self.ack_due = true;
            }
        }
    }

    /// Enters loss recovery (RFC 6675 §5, RFC 6582 §3.2, RFC 6937): one multiplicative
    /// decrease, the recovery point at SND.NXT, and the head retransmitted at once.
    fn enter_recovery(&mut self, now: Instant) {
        let mss = u32::from(self.eff_snd_mss());
        let flight = self.snd_nxt.since(self.snd_una);
        self.save_undo();
        self.cc.on_congestion(now, flight, mss);
        self.recover = Some(self.snd_nxt);
        self.loss.recovery_start = Some(now);
        self.high_rxt = self.snd_una;
        self.loss.relost = None;
        self.loss.prr_delivered = 0;
        self.loss.prr_out = 0;
        // RFC 6937 §3: RecoverFS = snd.nxt - snd.una.
        self.loss.recover_fs = flight.max(1);
        self.fast_rtx_due = true;
        self.tlp_due = false;
        if self.tlp_armed {
            // RFC 8985 §7: no probes during recovery; the timer is the RTO again.
            self.tlp_armed = false;
            self.rtx_deadline = Some(now + self.current_rto());
        }
        // RFC 3168 §6.1.2: a loss and an ECN echo in the same window reduce it once.
        self.reduce_hold = Some(self.snd_nxt);
        self.cwr_due = self.ecn_ok;
        self.stats.fast_retransmits += 1;
    }

    /// RFC 6937 §3 Proportional Rate Reduction, with the slow-start reduction bound
    /// (PRR-SSRB): how much may be sent on this ACK; cwnd = pipe + sndcnt.
    fn prr_update(&mut self, now: Instant, delivered: u32, entering: bool) {
        if self.has_rate() {
            // A rate-driven algorithm (BBR) sets the window in recovery itself.
            return;
        }
        let mss = u32::from(self.eff_snd_mss());
        self.loss.prr_delivered = self.loss.prr_delivered.saturating_add(delivered);
        let pipe = self.pipe(now);
        let ssthresh = self.cc.ssthresh();
        let sndcnt = if pipe > ssthresh {
            // Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let fs = u64::from(self.loss.recover_fs.max(1));
            let target = (u64::from(self.loss.prr_delivered) * u64::from(ssthresh)).div_ceil(fs);
            target
                .saturating_sub(u64::from(self.loss.prr_out))
                .min(u64::from(u32::MAX)) as u32
        } else {
            // Slow-start reduction bound: limit = MAX(prr_delivered - prr_out,
            // DeliveredData) + MSS; sndcnt = MIN(ssthresh - pipe, limit).
            let limit = self
                .loss
                .prr_delivered
                .saturating_sub(self.loss.prr_out)
                .max(delivered)
                .saturating_add(mss);
            (ssthresh - pipe).min(limit)
        };
        // RFC 6937 §3: the fast retransmit goes regardless.
        let sndcnt = if entering { sndcnt.max(mss) } else { sndcnt };
        self.prr_budget = sndcnt;
        self.cc.set_cwnd(pipe.saturating_add(sndcnt).max(mss));
    }

    /// RFC 6675 §4 SetPipe: bytes in flight. Without SACK, the flight less what duplicate
    /// ACKs reported delivered (as Linux counts them).
    pub(super) fn pipe(&self, now: Instant) -> u32 {
        if self.sack_ok {
            let boundary = self.loss_boundary(now);
            self.scoreboard
                .pipe(self.snd_una, self.snd_nxt, self.high_rxt, boundary)
        } else {
            self.snd_nxt
                .since(self.snd_una)
                .saturating_sub(self.dupack_credit)
        }
    }

    /// Where loss detection stands: every unSACKed byte below the returned sequence number
    /// is lost — by RFC 6675 IsLost (DupThresh segments SACKed above) or by RACK (RFC 8985
    /// §6.2: data sent after it was delivered, and it was sent more than RTT + reo_wnd ago).
    pub(super) fn loss_boundary(&self, now: Instant) -> Seq {
        if !self.sack_ok {
            return self.snd_una;
        }
        let mss = u32::from(self.eff_snd_mss());
        let dupthresh = self.scoreboard.lost_boundary(self.snd_una, mss);
        // RACK's time rule runs during recovery, once a tail probe is out, and once
        // reordering has been seen; before that, entering recovery from the open state
        // takes DupThresh (the lab's fast-retransmit and sack-recovery scenarios and RFC
        // 5681 §3.2 expect it; RFC 8985 §6.2 step 4 is RACK with a zero window there).
        // After reordering is seen RACK alone decides, with its reordering window.
        if !self.rack_active() {
            return dupthresh;
        }
        let dupthresh = if self.loss.reordering_seen {
            self.snd_una
        } else {
            dupthresh
        };
        let Some((rack_xmit, rack_rtt, rack_end)) = self.rack_state() else {
            return dupthresh;
        };
        let reo_wnd = self.reo_wnd();
        // RFC 8985 §6.2 RACK_detect_loss: a segment sent before the latest delivered one
        // is lost once Segment.xmit_ts + RACK.rtt + reo_wnd has passed (at the ACK that
        // set RACK.xmit_ts, the same as RACK.xmit_ts >= Segment.xmit_ts + reo_wnd; later,
        // the reorder timer's question). SACKed segments and those already retransmitted
        // (below HighRxt) do not stop the walk; a segment sent at RACK.xmit_ts ends it if
        // it lies above RACK.end_seq (RACK_sent_after).
        let mut rack = self.snd_una;
        let mut seg_start = self.snd_una;
        for &(end, sent) in &self.sent_log {
            let handled = seg_start.lt(self.high_rxt) || self.scoreboard.is_sacked(seg_start);
            let after = sent > rack_xmit || (sent == rack_xmit && end.gt(rack_end));
            if !handled && (after || sent + rack_rtt + reo_wnd > now) {
                break;
            }
            rack = end;
            seg_start = end;
        }
        dupthresh.max(rack)
    }

    /// RFC 8985 §6.2: RACK.xmit_ts — the latest transmission time of data the peer has
    /// SACKed (retransmissions update their entry) — and reo_wnd ([`Connection::reo_wnd`]).
    fn rack_clock(&self) -> Option<(Instant, Duration)> {
        let mut seg_start = self.snd_una;
        let mut rack_xmit: Option<Instant> = None;
        for &(end, sent) in &self.sent_log {
            if seg_start.lt(end) && self.scoreboard.is_sacked(end - 1u32) {
                rack_xmit = Some(rack_xmit.map_or(sent, |t| t.max(sent)));
            }
            seg_start = end;
        }
        Some((rack_xmit?, self.reo_wnd()))
    }

    /// RFC 8985 §6.2 for retransmissions: a retransmission is one more transmission with
    /// its own send time (its `sent_log` entry), lost once data sent more than reo_wnd after
    /// it was delivered while it is still unSACKed. Only such retransmissions go again
    /// ([`Connection::next_lost_retransmission`]); HighRxt stays, so holes retransmitted and
    /// still in flight are not resent.
    fn rack_lost_retransmission(&mut self) {
        if !self.sack_ok || !self.cfg.rack_tlp {
            return;
        }
        let Some((rack_xmit, reo_wnd)) = self.rack_clock() else {
            return;
        };
        self.loss.relost = Some((self.snd_una, rack_xmit, reo_wnd));
    }

    /// The first retransmission of this recovery that RACK finds lost (from the cursor
    /// [`Connection::rack_lost_retransmission`] left), as `[start, end)`; clears the cursor
    /// when there is none.
    pub(super) fn next_lost_retransmission(&mut self) -> Option<(Seq, Seq)> {
        let (from, rack_xmit, reo_wnd) = self.loss.relost?;
        let since = self.loss.recovery_start?;
        let from = from.max(self.snd_una);
        // The log is in sequence order: skip what ends at or below the cursor.
        let base = self.snd_una;
        let i = self
            .sent_log
            .partition_point(|&(end, _)| end.since(base) <= from.since(base));
        let mut seg_start = match i.checked_sub(1).and_then(|j| self.sent_log.get(j)) {
            Some(&(end, _)) => end.max(base),
            None => base,
        };
        for &(end, sent) in self.sent_log.range(i..) {
            if !seg_start.lt(self.high_rxt) {
                break;
            }
            // Sent during this recovery (a retransmission: below HighRxt), and sent
            // before the latest delivered transmission by more than reo_wnd.
            if sent >= since && sent + reo_wnd <= rack_xmit && !self.scoreboard.is_sacked(seg_start)
            {
                self.loss.relost = Some((seg_start, rack_xmit, reo_wnd));
                return Some((seg_start, end));
            }
            seg_start = end;
        }
        self.loss.relost = None;
        None
    }

    /// RFC 8985 §7.2: on a SACK connection with an RTT estimate and outside recovery, the
    /// retransmission timer runs as the probe timeout PTO = 2·SRTT (plus the worst-case
    /// delayed ACK when one segment is in flight), never later than the RTO.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        if !self.cfg.rack_tlp
            || !self.sack_ok
            || self.recover.is_some()
            || self.rtx_nxt.is_some()
            || self.loss.frto_active()
            || self.rtx_count > 0
            || self.tlp_high.is_some()
            || self.snd_una == self.snd_nxt
            || !self.state_sends_data()
        {
            return;
        }
        // In whole nanoseconds (this runs for every segment sent).
        let Some(srtt) = self.rtt.srtt_nanos() else {
            return;
        };
        let mut pto = srtt.saturating_mul(2);
        let mss = u32::from(self.eff_snd_mss());
        if self.snd_nxt.since(self.snd_una) <= mss {
            // RFC 8985 §7.2: WCDelAckT, the receiver's longest delayed ACK.
            let delack = u64::try_from(self.cfg.delack_max.as_nanos()).unwrap_or(u64::MAX);
            pto = pto.saturating_add(delack);
        }
        // RFC 8985 §7.2: PTO = min(PTO, RTO) — as Linux, the probe goes at the RTO's time
        // at the latest, and the RTO runs behind it.
        let pto = pto.max(10_000_000).min(self.current_rto_nanos());
        self.rtx_deadline = Some(now.saturating_add_nanos(pto));
        self.tlp_armed = true;
    }

    /// RFC 9293 §3.10.7.4 "Sixth" (URG), "Seventh" (text) and "Eighth" (FIN); `data_seq` is
    /// the sequence number of the first payload byte.
    fn seg_text_and_fin(&mut self, now: Instant, seg: &SegmentIn<'_>, data_seq: Seq) {
        let receiving = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );

        // Sixth, check the URG bit (ESTABLISHED, FIN-WAIT-1/2): RCV.UP <- max(RCV.UP, SEG.UP).
        if receiving && seg.flags.urg() && seg.up > 0 {
            self.urgent_pointer(now, data_seq + u32::from(seg.up));
        }

        // Seventh, process the segment text.
        let fin_seq = data_seq + seg.payload.len();
        let mut fin_ok = true;
        if !seg.payload.is_empty() && receiving {
            if self.orphaned {
                // Linux (tcp_rcv_state_process): data for a connection the application has
                // closed cannot be delivered: reset it (RFC 2525 §2.17's spirit), answering
                // the segment as RFC 9293 §3.10.7.1 does (`R`, seq = SEG.ACK).
                self.rst_due = reset_for_no_connection(seg).map(Box::new);
                return self.enter_closed(now);
            }
            let len = u32::try_from(seg.payload.len()).unwrap_or(u32::MAX);
            self.rcv_mss = self.rcv_mss.max(len.min(65535));
            // Bytes before RCV.NXT were received already (RFC 9293 §3.10.7.4: duplicates
            // are trimmed); the rest goes in at its offset past RCV.NXT.
            let (offset, fresh) = if data_seq.lt(self.rcv_nxt) {
                let skip = self.rcv_nxt.since(data_seq) as usize;
                // RFC 2883 §4: the part received before is reported in a D-SACK block.
                let dup_end = (data_seq + seg.payload.len()).min(self.rcv_nxt);
                self.note_dsack(data_seq, dup_end);
                (0usize, seg.payload.get(skip..).unwrap_or(&[]))
            } else {
                (data_seq.since(self.rcv_nxt) as usize, seg.payload)
            };
            // "Trim ... to the window": text beyond RCV.NXT + RCV.WND is not kept.
            let window = self.rcv_accept_wnd() as usize;
            let mut take = fresh.len().min(window.saturating_sub(offset));
            // Linux tcp_data_queue(): an in-order segment that starts in an open window is
            // queued whole (its tail is not trimmed); when its memory cannot be charged but
            // nothing waits to be read, the charge is forced (`sk_forced_mem_schedule`).
            // The buffer then holds more than its size and offers no window until the
            // application reads below it.
            let forced = take < fresh.len()
                && offset == 0
                && window > 0
                && self.rcvbuf.is_empty()
                && !self.rcvbuf.has_gap()
                && self.cfg.flavor() == crate::config::Flavor::Linux;
            if forced {
                take = fresh.len();
            }
            if self.rare.dsack_due.is_none() {
                // RFC 2883 §4.1.3 (and §5): bytes already held out of order are duplicates
                // too; the first such run is reported in a D-SACK block.
                let (lo, hi) = (offset, offset + take);
                let dup = self
                    .rcvbuf
                    .ooo_ranges()
                    .iter()
                    .find(|&&(s, e)| s < hi && e > lo)
                    .map(|&(s, e)| (s.max(lo), e.min(hi)));
                if let Some((s, e)) = dup {
                    self.note_dsack(self.rcv_nxt + s, self.rcv_nxt + e);
                }
            }
            let had_gap = self.rcvbuf.has_gap();
            let stored = if forced {
                Some(self.rcvbuf.force_push(fresh))
            } else {
                self.rcvbuf.insert(offset, &fresh[..take])
            };
            match stored {
                Some(advance) if offset == 0 => {
                    self.rcv_nxt += advance;
                    self.bytes_received += advance as u64;
                    if seg.flags.psh() {
                        self.push_seen = true;
                    }
                    if had_gap {
                        // RFC 5681 §4.2: ACK at once when a segment fills a gap.
                        self.ack_due = true;
                    } else {
                        self.data_ack(now);
                    }
                }
                Some(_) => {
                    // RFC 9293 §3.10.7.4: held for later processing; RFC 5681 §4.2: an
                    // out-of-order segment is acknowledged at once (a duplicate ACK).
                    self.stats.ooo_queued += 1;
                    self.rare.sack_recent.rotate_right(1);
                    self.rare.sack_recent[0] = data_seq.max(self.rcv_nxt);
                    self.rare.sack_recent_len = (self.rare.sack_recent_len + 1).min(4);
                    self.ack_due = true;
                }
                None => {
                    fin_ok = false;
                    self.ack_due = true;
                }
            }
            if take < fresh.len() {
                // Text beyond the window was trimmed (a zero-window probe, or a peer
                // overrunning the window): a FIN after it is not acceptable; ACK at once so
                // the sender learns the window (RFC 9293 §3.8.6.1).
                fin_ok = false;
                self.ack_due = true;
            }
            self.capture_urgent(now);
        }
        // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: text "should not occur, since a FIN has
        // been received from the remote side. Ignore the segment text."

        // Eighth, check the FIN bit (only when it is the next octet expected). A FIN beyond
        // a gap is held until the gap fills.
        let fin_now = if seg.flags.fin() && fin_ok && fin_seq == self.rcv_nxt {
            true
        } else if receiving && self.rare.fin_pending == Some(self.rcv_nxt) {
            self.rare.fin_pending = None;
            true
        } else {
            false
        };
        if !fin_now {
            if seg.flags.fin() && fin_ok && receiving && fin_seq.gt(self.rcv_nxt) {
                // Beyond a gap: remember it and send a duplicate ACK for what is missing.
                self.rare.fin_pending = Some(fin_seq);
                self.ack_due = true;
            }
            return;
        }
        match self.state {
            State::SynReceived | State::Established => {
                let owed = self.ack_due;
                self.accept_fin();
                self.set_state(now, State::CloseWait);
                if self.cfg.flavor() == crate::config::Flavor::Linux
                    && self.state == State::CloseWait
                    && !owed
                    && self.last_data_at.is_some()
                    // With the buffer over-committed the memory charge fails again and
                    // Linux ACKs at once (ICSK_ACK_NOMEM | ICSK_ACK_NOW).
                    && self.rcvbuf.len() <= self.rcvbuf.capacity()
                {
                    // Linux tcp_fin(): CLOSE-WAIT enters ping-pong mode (the application
                    // is expected to answer), so the FIN's ACK waits for the delayed-ACK
                    // timer (ato) and may ride on the reply. Before any data arrived ato
                    // is still 0 (tcp_event_data_recv() sets it) and the ACK goes at once.
                    self.ack_due = false;
                    self.pingpong = true;
                    if self.delack_deadline.is_none() {
                        self.delack_deadline = Some(now + self.ato.get());
                    }
                }
            }
            State::FinWait1 => {
                self.accept_fin();
                // "If our FIN has been ACKed ... enter TIME-WAIT ...; otherwise, enter CLOSING."
                if self.our_fin_acked() {
                    self.enter_time_wait(now);
                } else {
                    self.set_state(now, State::Closing);
                }
            }
            State::FinWait2 => {
                self.accept_fin();
                self.enter_time_wait(now);
            }
            State::TimeWait => {
                // "Remain in the TIME-WAIT state. Restart the 2 MSL time-wait timeout."
                self.ack_due = true;
                self.time_wait_deadline = Some(now + self.cfg.time_wait());
            }
            // CLOSE-WAIT, CLOSING, LAST-ACK: remain.
            _ => {}
        }
    }

    /// RFC 9293 §3.8.6.3 delayed ACK for in-order data: quick-ACK at the start (Linux),
    /// an ACK at least every second full-sized segment (SHLD-19), otherwise within `ato`
    /// (40–200 ms as Linux, MUST-40's 0.5 s at most), unless data carries it sooner.
    fn data_ack(&mut self, now: Instant) {
        // Linux's ato estimate (tcp_event_data_recv) from the gap between data arrivals.
        // In whole nanoseconds (this runs for every data segment; the same figures as
        // `Duration` arithmetic, whose halving floors the total nanoseconds too).
        let min = crate::time::nanos_of(self.cfg.delack_min);
        let mut ato = self.ato.nanos();
        if let Some(last) = self.last_data_at {
            let m = now.as_nanos().saturating_sub(last.as_nanos());
            if m <= min / 2 {
                ato = (ato / 2).saturating_add(min / 2);
            } else if m < ato {
                ato = (ato / 2).saturating_add(m).min(self.current_rto_nanos());
            }
        }
        let max = crate::time::nanos_of(self.cfg.delack_max).max(min);
        self.ato = Nanos::from_nanos(ato.clamp(min, max));
        self.last_data_at = Some(now);
        let unacked = self.rcv_nxt.since(self.last_ack_sent);
        if self.quickacks > 0 && !self.pingpong {
            self.quickacks -= 1;
            self.ack_due = true;
        } else if self.cfg.flavor() == crate::config::Flavor::FreeBsd {
            // FreeBSD DELAY_ACK(): a segment is acknowledged later only when no ACK is
            // owed yet, so every second segment is acknowledged at once, whatever its size.
            if self.delack_deadline.is_some() {
                self.ack_due = true;
            } else {
                self.delack_deadline = Some(now + self.ato.get());
            }
        } else if unacked >= self.rcv_mss.saturating_mul(2) {
            self.ack_due = true;
        } else if self.delack_deadline.is_none() {
            self.delack_deadline = Some(now + self.ato.get());
        }
    }

    /// RFC 9293 §3.8.5 / RFC 6093: the urgent pointer `ptr` (the byte after the urgent data)
    /// arrived. RCV.UP <- max(RCV.UP, SEG.UP); a new pointer signals the application.
    fn urgent_pointer(&mut self, now: Instant, ptr: Seq) {
        let byte = ptr - 1u32;
        if !ptr.gt(self.rcv_up) {
            return;
        }
        self.rcv_up = ptr;
        if byte.lt(self.rcv_nxt) {
            // Points into data already received; Linux ignores such a pointer too.
            return;
        }
        self.rare.urg_pending = Some(byte);
        self.rare.urgent_signal = true;
        self.events.push(Event::Urgent { at: now, seq: byte });
    }

    /// Once the urgent byte is in order, takes it out of band (or marks it inline).
    fn capture_urgent(&mut self, now: Instant) {
        let _ = now;
        let Some(byte) = self.rare.urg_pending else {
            return;
        };
        if !byte.lt(self.rcv_nxt) {
            return;
        }
        self.rare.urg_pending = None;
        let behind = self.rcv_nxt.since(byte) as usize;
        let Some(offset) = self.rcvbuf.len().checked_sub(behind) else {
            // Already read (the pointer trailed its data): nothing to mark.
            return;
        };
        if let Some(b) = self.rcvbuf.peek(offset) {
            // An earlier urgent byte not yet passed stays in the stream (one mark at a time).
            self.rare.oob_byte = if self.oobinline { None } else { Some(b) };
            self.rare.urg_mark = UrgMark::at(self.rcvbuf.read_offset() + offset as u64);
        }
    }

    /// RFC 6298 / RFC 7323 §4: an RTT sample from an ACK of new data — from the echoed
    /// timestamp when negotiated, else from the one timed segment (Karn's rule).
    fn rtt_on_ack(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        if self.ts_ok
            && let Some(ts) = seg.options.timestamps
            && ts.tsecr != 0
        {
            let ms = self.tsval(now).wrapping_sub(ts.tsecr);
            // A TSecr from the future or absurdly old is no sample.
            if ms < 1 << 30 {
                let sample = Duration::from_millis(u64::from(ms));
                self.rtt.sample_nanos(u64::from(ms) * 1_000_000);
                self.cc.on_rtt_sample(sample, seg.ack, self.snd_nxt);
                self.rtt_timed = None;
                return;
            }
        }
        if let Some((end, sent)) = self.rtt_timed
            && seg.ack.ge(end)
        {
            self.rtt.sample(now - sent);
            self.cc.on_rtt_sample(now - sent, seg.ack, self.snd_nxt);
            self.rtt_timed = None;
        }
    }

    /// The retransmission timeout in force, with backoff (RFC 6298 §5.5).
    fn current_rto(&self) -> Duration {
        Duration::from_nanos(self.current_rto_nanos())
    }

    /// [`Connection::current_rto`] in nanoseconds (integer arithmetic: it is computed for
    /// every segment sent and every ACK).
    pub(super) fn current_rto_nanos(&self) -> u64 {
        let rto = self.rtt.backed_off_nanos(u32::from(self.rtx_count));
        if self.cfg.flavor() == crate::config::Flavor::FreeBsd
            && (self.rtx_count > 0 || self.rtt.srtt_nanos().is_some())
        {
            // FreeBSD TCPT_RANGESET(): every timeout it computes (after an RTT sample or a
            // backoff; not the initial one) gets net.inet.tcp.rexmit_slop added.
            let slop = u64::try_from(self.cfg.rexmit_slop.as_nanos()).unwrap_or(u64::MAX);
            return rto.saturating_add(slop).min(self.rtt.rto_max_nanos());
        }
        rto
    }

    /// Starts the keepalive idle timer (RFC 9293 §3.8.4) if keepalive is on and idle.
    fn rearm_keepalive(&mut self, now: Instant) {
        if self.keepalive
            && self.ka_deadline.is_none()
            && matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait1 | State::FinWait2
            )
        {
            let _ = now;
            self.ka_deadline = Some(self.last_rcv_at + self.ka_idle());
        }
    }

    /// Advances RCV.NXT over the peer's FIN and owes an ACK for it.
    fn accept_fin(&mut self) {
        self.rcv_nxt += 1u32;
        // The FIN takes a sequence number but no buffer space, so the right edge moves
        // with it: Linux and FreeBSD both offer the same free space after a FIN as
        // before (receiver SWS avoidance, RFC 9293 §3.8.6.2.2, is about buffer space).
        if self.rcv_adv.ge(self.rcv_nxt - 1u32) {
            self.rcv_adv += 1u32;
        }
        self.fin_rcvd = true;
        self.ack_due = true;
    }

    /// RFC 9293 §3.10.7.4 segment acceptability (the four cases), with the zero-window
    /// allowance for ACKs, URGs and RSTs at exactly RCV.NXT.
    fn acceptable(&self, seg: &SegmentIn<'_>) -> bool {
        let len = seg.seg_len();
        let wnd = self.rcv_accept_wnd();
        let end = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => seg.seq.in_range(self.rcv_nxt, end),
            // "If the RCV.WND is zero, no segments will be acceptable, but special allowance
            // should be made to accept valid ACKs, URGs, and RSTs" — the text is trimmed.
            (_, 0) => seg.seq == self.rcv_nxt,
            (_, _) => {
                seg.seq.in_range(self.rcv_nxt, end)
                    || (seg.seq + (len - 1)).in_range(self.rcv_nxt, end)
            }
        }
    }

    // ------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------

    /// Records the options of the peer's SYN and what both sides agreed on.
    fn negotiate(&mut self, now: Instant, seg: &SegmentIn<'_>) {
        let o = &seg.options;
        // RFC 9293 §3.7.1 (MUST-15): 536 (IPv4) / 1220 (IPv6) when no MSS option came.
        let peer_mss = o
            .mss
            .unwrap_or(Config::default_peer_mss(self.ipv6))
            .max(MIN_MSS);
        self.snd_mss = peer_mss.min(self.cfg.advertised_mss(self.ipv6));
        // RFC 7323 §2.2: scaling only when both SYNs carry the option; §2.3: clamp to 14.
        match o.wscale {
            Some(shift) if self.cfg.window_scaling => {
                self.wscale_ok = true;
                self.snd_wscale = shift.min(14);
                self.rcv_wscale = self.cfg.rcv_wscale();
            }
            _ => {
                self.wscale_ok = false;
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        // RFC 3168 §6.1.1: an ECN-setup SYN carries ECE and CWR; the SYN-ACK answers with
        // ECE alone. tcp_ecn 1 requests and accepts, 2 only accepts.
        self.ecn_ok = if seg.flags.ack() {
            self.cfg.ecn == 1 && seg.flags.ece() && !seg.flags.cwr()
        } else {
            self.cfg.ecn >= 1 && seg.flags.ece() && seg.flags.cwr()
        };
        // RFC 2018 §2: SACK only when both sides sent SACK-permitted.
        self.sack_ok = self.cfg.sack && o.sack_permitted;
        // RFC 7323 §3.2: timestamps only when both SYNs carry TSopt; TS.Recent <- TSval.
        match o.timestamps {
            Some(ts) if self.cfg.timestamps => {
                self.ts_ok = true;
                self.ts_recent = ts.tsval;
                self.ts_recent_at = now;
            }
            _ => self.ts_ok = false,
        }
        // RFC 9293 §3.8.6.2.2: the window's right edge starts at RCV.NXT.
        self.rcv_adv = self.rcv_nxt;
    }

    fn our_fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| self.snd_una.gt(f))
    }

    fn challenge_ack(&mut self, now: Instant) {
        // RFC 5961 §7: challenge ACKs are rate-limited (tcp_challenge_ack_limit).
        if self.cfg.challenge_ack_limiter.allow(now) {
            self.stats.challenge_acks += 1;
            self.ack_due = true;
            self.challenge_due = true;
        } else {
            self.stats.challenge_acks_limited += 1;
        }
    }

    fn drop_seg(&mut self, now: Instant, reason: DropReason) {
        self.stats.drops += 1;
        self.events.push(Event::Dropped { at: now, reason });
    }

    fn set_state(&mut self, now: Instant, to: State) {
        if self.state == to {
            return;
        }
        let from = self.state;
        self.state = to;
        self.events.push(Event::StateChange { at: now, from, to });
        if to == State::Established {
            // RFC 6928: the initial window is counted in segments of the agreed MSS.
            let mss = u32::from(self.eff_snd_mss());
            self.cc.on_established(mss);
            if let Some(srtt) = self.rtt.srtt() {
                // The handshake's RTT (BBR sets its first pacing rate from it).
                self.cc.on_rtt(srtt);
            }
            self.rearm_keepalive(now);
        }
        if to == State::FinWait2 && self.orphaned {
            // tcp_fin_timeout applies only to connections the application has closed.
            self.fin_wait_2_deadline = Some(now + self.cfg.fin_timeout);
        }
    }

    fn enter_time_wait(&mut self, now: Instant) {
        // RFC 9293 §3.10.7.4: "Start the time-wait timer, turn off the other timers."
        self.stop_timers();
        self.time_wait_deadline = Some(now + self.cfg.time_wait());
        self.set_state(now, State::TimeWait);
    }

    fn enter_closed(&mut self, now: Instant) {
        self.stop_timers();
        self.time_wait_deadline = None;
        self.syn_due = false;
        self.ack_due = false;
        self.rtx_due = false;
        self.sndbuf.clear();
        self.set_state(now, State::Closed);
    }

    /// Ends the connection with an error for the application; queues are flushed
    /// (RFC 9293 §3.10.7.4: "all segment queues should be flushed").
    fn fail(&mut self, now: Instant, error: Error) {
        self.error = Some(error);
        self.rcvbuf.clear();
        self.events.push(Event::Failed { at: now, error });
        self.enter_closed(now);
    }

    /// Queues a RST for `poll_transmit` (replacing one not yet sent).
    fn queue_rst(&mut self, rst: SegmentOut) {
        self.rst_due = Some(Box::new(rst));
    }

    /// SYN-RECEIVED of a passive OPEN goes back to LISTEN (RFC 9293 §3.10.7.4).
    /// A fresh RTT estimator: Linux's RTO rule for the Linux flavor, RFC 6298's otherwise.
    fn new_rtt(cfg: &Config) -> RttEstimator {
        let rule = match cfg.flavor() {
            crate::config::Flavor::Linux => crate::rtt::RtoRule::Linux,
            crate::config::Flavor::FreeBsd => crate::rtt::RtoRule::Rfc6298,
        };
        RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max).with_rule(rule)
    }

    fn return_to_listen(&mut self, now: Instant) {
        self.stop_timers();
        self.syn_due = false;
        self.ack_due = false;
        self.rtx_count = 0;
        self.rtx_start = None;
        self.rtt = Self::new_rtt(&self.cfg);
        self.rtt_timed = None;
        self.sndbuf.clear();
        self.rcvbuf.clear();
        self.fin_queued = false;
        self.fin_seq = None;
        self.fin_rcvd = false;
        self.ts_ok = false;
        self.sack_ok = false;
        self.wscale_ok = false;
        self.snd_wscale = 0;
        self.rcv_wscale = 0;
        self.set_state(now, State::Listen);
    }
}

/// What few connections ever use: urgent data, a FIN held beyond a gap, the D-SACK and
/// SACK ordering of a receiver that saw duplicates or reordering, keepalive and
/// user-timeout settings changed after the connection was made (else `Config`'s apply), a
/// simultaneous open's SYN text, an engine-level passive open's ISS generator. Out of line
/// ([`RareBox`], reached through `Deref`): the others carry one word for all of it.
#[derive(Debug)]
struct Rare {
    /// Urgent mode on the sending side: SND.UP, the byte after the urgent data.
    pub(super) snd_urg: Option<Seq>,
    /// The urgent pointer arrived; the urgent byte (this sequence number) has not.
    pub(super) urg_pending: Option<Seq>,
    /// The last urgent byte, readable out of band until read.
    pub(super) oob_byte: Option<u8>,
    /// Stream offset of the urgent byte (the mark) while the reader has not passed it.
    pub(super) urg_mark: UrgMark,
    /// The peer entered urgent mode since the application last asked (SIGURG).
    pub(super) urgent_signal: bool,
    /// A FIN received beyond a gap, held until the gap fills (RFC 9293 §3.10.7.4).
    pub(super) fin_pending: Option<Seq>,
    /// Text of a simultaneous open's SYN, held until ESTABLISHED (RFC 9293 §3.10.7.3:
    /// "queue them for processing after the ESTABLISHED state has been reached"); FreeBSD
    /// flavor only (Linux discards it).
    pub(super) syn_text: Vec<u8>,
    /// RFC 6528's generator for a passive open that computes its ISS when the SYN arrives
    /// (only an engine-level `listen` keeps one; a host computes the ISS itself, an active
    /// open at once, so they store a fixed ISS in `iss` and `ts_offset`).
    pub(super) iss_gen: Option<IsnGenerator>,
    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` set on this connection.
    pub(super) ka_idle: Option<Nanos>,
    pub(super) ka_intvl: Option<Nanos>,
    pub(super) ka_cnt: Option<u8>,
    /// `TCP_USER_TIMEOUT` set on this connection.
    pub(super) user_timeout: Option<OptNanos>,
    /// RFC 2883: a duplicate segment arrived; the next ACK reports it first (D-SACK).
    pub(super) dsack_due: Option<(Seq, Seq)>,
    /// The first sequence numbers of the out-of-order segments that arrived last, most
    /// recent first (RFC 2018 §4: their blocks are reported in that order); the first
    /// `sack_recent_len` are set (16 bytes and one, where `[Option<Seq>; 4]` takes 32).
    pub(super) sack_recent: [Seq; 4],
    pub(super) sack_recent_len: u8,
}

/// What a connection that never used [`Rare`] state reads.
static NO_RARE: Rare = Rare {
    snd_urg: None,
    urg_pending: None,
    oob_byte: None,
    urg_mark: UrgMark::NONE,
    urgent_signal: false,
    fin_pending: None,
    syn_text: Vec::new(),
    iss_gen: None,
    ka_idle: None,
    ka_intvl: None,
    ka_cnt: None,
    user_timeout: None,
    dsack_due: None,
    sack_recent: [Seq(0); 4],
    sack_recent_len: 0,
};

/// [`Rare`] out of line: reads of a connection without it see [`NO_RARE`]; the first
/// write allocates it.
#[derive(Debug, Default)]
struct RareBox(Option<Box<Rare>>);

impl core::ops::Deref for RareBox {
    type Target = Rare;
    #[inline]
    fn deref(&self) -> &Rare {
        self.0.as_deref().unwrap_or(&NO_RARE)
    }
}

impl core::ops::DerefMut for RareBox {
    fn deref_mut(&mut self) -> &mut Rare {
        self.0.get_or_insert_with(|| {
            Box::new(Rare {
                syn_text: Vec::new(),
                ..NO_RARE
            })
        })
    }
}

impl Connection {
    /// Keepalive idle time (`TCP_KEEPIDLE`, else the configuration's).
    fn ka_idle(&self) -> Duration {
        self.rare
            .ka_idle
            .map_or(self.cfg.keepalive_time, |n| n.get())
    }

    /// Keepalive probe interval (`TCP_KEEPINTVL`, else the configuration's).
    fn ka_intvl(&self) -> Duration {
        self.rare
            .ka_intvl
            .map_or(self.cfg.keepalive_intvl, |n| n.get())
    }

    /// Keepalive probes before giving up (`TCP_KEEPCNT`, else the configuration's).
    fn ka_cnt(&self) -> u8 {
        self.rare.ka_cnt.unwrap_or(self.cfg.keepalive_probes)
    }

    /// `TCP_USER_TIMEOUT` (set on the connection, else the configuration's).
    fn user_timeout(&self) -> Option<Duration> {
        match self.rare.user_timeout {
            Some(t) => t.get(),
            None => self.cfg.user_timeout,
        }
    }
}

/// [`Stats`] as a connection stores them: the per-segment counters and the retransmissions
/// (which the host turns into deltas) in 64 bits, the others (events much rarer than
/// segments) in 32 bits that wrap, as Linux's `tcp_info` counters do. The rare ones live
/// out of line ([`RareCounters`], reached through `Deref`): a connection that never counts
/// one (most idle connections) carries 8 bytes for them, not 60.
#[derive(Debug, Default)]
struct StatCounters {
    segs_in: u64,
    segs_out: u64,
    retransmits: u64,
    /// Counted on every delayed ACK sent, common in ordinary traffic: kept inline so that
    /// traffic without loss or errors never allocates [`RareCounters`].
    delayed_acks: Count32,
    rare: Option<Box<RareCounters>>,
}

/// The counters of rarer events (errors, loss, probes); see [`StatCounters`].
#[derive(Clone, Copy, Debug, Default)]
struct RareCounters {
    rsts_out: Count32,
    challenge_acks: Count32,
    challenge_acks_limited: Count32,
    paws_drops: Count32,
    drops: Count32,
    ooo_queued: Count32,
    fast_retransmits: Count32,
    timeouts: Count32,
    window_probes: Count32,
    keepalive_probes: Count32,
    dsacks_received: Count32,
    dsacks_sent: Count32,
    loss_probes: Count32,
    sack_retransmits: Count32,
    ecn_ce_received: Count32,
    ecn_reductions: Count32,
    spurious_undos: Count32,
}

/// What a connection that never counted a rare event reads.
static NO_RARE_COUNTS: RareCounters = RareCounters {
    rsts_out: Count32(0),
    challenge_acks: Count32(0),
    challenge_acks_limited: Count32(0),
    paws_drops: Count32(0),
    drops: Count32(0),
    ooo_queued: Count32(0),
    fast_retransmits: Count32(0),
    timeouts: Count32(0),
    window_probes: Count32(0),
    keepalive_probes: Count32(0),
    dsacks_received: Count32(0),
    dsacks_sent: Count32(0),
    loss_probes: Count32(0),
    sack_retransmits: Count32(0),
    ecn_ce_received: Count32(0),
    ecn_reductions: Count32(0),
    spurious_undos: Count32(0),
};

impl core::ops::Deref for StatCounters {
    type Target = RareCounters;
    fn deref(&self) -> &RareCounters {
        self.rare.as_deref().unwrap_or(&NO_RARE_COUNTS)
    }
}

impl core::ops::DerefMut for StatCounters {
    /// Allocates the rare counters on the first count.
    fn deref_mut(&mut self) -> &mut RareCounters {
        self.rare.get_or_insert_with(Box::default)
    }
}

impl StatCounters {
    fn to_stats(&self) -> Stats {
        let r: &RareCounters = self;
        Stats {
            segs_in: self.segs_in,
            segs_out: self.segs_out,
            retransmits: self.retransmits,
            rsts_out: u64::from(r.rsts_out.0),
            challenge_acks: u64::from(r.challenge_acks.0),
            challenge_acks_limited: u64::from(r.challenge_acks_limited.0),
            paws_drops: u64::from(r.paws_drops.0),
            drops: u64::from(r.drops.0),
            ooo_queued: u64::from(r.ooo_queued.0),
            fast_retransmits: u64::from(r.fast_retransmits.0),
            timeouts: u64::from(r.timeouts.0),
            window_probes: u64::from(r.window_probes.0),
            keepalive_probes: u64::from(r.keepalive_probes.0),
            delayed_acks: u64::from(self.delayed_acks.0),
            dsacks_received: u64::from(r.dsacks_received.0),
            dsacks_sent: u64::from(r.dsacks_sent.0),
            loss_probes: u64::from(r.loss_probes.0),
            sack_retransmits: u64::from(r.sack_retransmits.0),
            ecn_ce_received: u64::from(r.ecn_ce_received.0),
            ecn_reductions: u64::from(r.ecn_reductions.0),
            spurious_undos: u64::from(r.spurious_undos.0),
        }
    }
}

/// A 32-bit event counter that wraps instead of overflowing.
#[derive(Clone, Copy, Debug, Default)]
struct Count32(u32);

impl core::ops::AddAssign<u32> for Count32 {
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}
