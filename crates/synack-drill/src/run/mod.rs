//! The packetdrill runner: plays a [`Script`] against a [`Target`] under virtual time and
//! reports PASS, FAIL (the first mismatch, with the expected line, the actual packet in
//! script and tcpdump form, and the time) or UNSUPPORTED (the missing feature, named).
//!
//! # Time
//!
//! Script time starts at 0 µs. An absolute time is used as written; a relative time `+T`
//! counts from the moment the previous event finished (packetdrill's rule), except that
//! consecutive inbound packets are anchored to each other's script times. A blocking call
//! `T...E` starts at `T`; its end `E` is absolute when `T` is, and otherwise counts from
//! the same base as `T` (so `+.1...0.2` starts 0.1 s and ends 0.2 s after the previous
//! event), the reading packetdrill's scripts rely on. Events happen within
//! `--tolerance_usecs` (default 4000 µs, as packetdrill) of their time, `T1~T2` anywhere in
//! the range (widened by the tolerance), and `*` at any time.
//!
//! Virtual time only moves forward, to the next script event or the target's next timer,
//! whichever is first, so the run is deterministic and as fast as the target.
//!
//! # Packets
//!
//! Inbound lines are built with the script's own remote ISN (remote sequence numbers are
//! used as written) and our local ISN mapped in (for `ack` and SACK edges); outbound
//! segments are compared field by field (see the `wire` module). Consecutive outbound segments are
//! aggregated into one expected line when the line carries more payload than the first
//! segment (TSO, as Linux's GSO shows packetdrill), unless `strict_segments` is set.

mod code;
mod shell;
pub mod stack;
mod suite;
mod syscall;
pub mod target;
mod wire;

pub use stack::StackTarget;
pub use suite::{
    DirStats, ScriptResult, Suite, SuiteReport, check_passing, read_passing, result_line,
};
pub use target::{
    CallError, CallResult, Errno, Family, Fd, How, MsgFlags, SockOpt, SocketRow, SysctlError,
    Target, TcpInfo,
};
pub use wire::Relax;

use crate::ast::{
    Direction, Event, EventKind, EventTime, Packet, PacketBody, Script, TcpSegment, TimeBase,
    Timestamp,
};
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::collections::{HashMap, VecDeque};
use synack::Instant;
use synack_wire::TcpFlags;
use wire::{Flow, Live, MatchRules};

/// The stack profile a script is run against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Linux defaults (the default).
    #[default]
    Linux,
    /// FreeBSD defaults; defines `FreeBSD` for `#ifdef`.
    FreeBsd,
}

impl Profile {
    /// Parses `linux` or `freebsd`.
    pub fn parse(s: &str) -> Option<Profile> {
        match s.to_ascii_lowercase().as_str() {
            "linux" => Some(Profile::Linux),
            "freebsd" | "bsd" => Some(Profile::FreeBsd),
            _ => None,
        }
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Linux => "linux",
            Profile::FreeBsd => "freebsd",
        }
    }

    /// `O_NONBLOCK` on this system.
    pub fn o_nonblock(self) -> i64 {
        match self {
            Profile::Linux => 0o4000,
            Profile::FreeBsd => 0x4,
        }
    }
}

/// The live addresses: the target's (local) and the script's peer (remote).
pub const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The script peer's IPv4 address.
pub const REMOTE_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The target's IPv6 address (`fd00::1`).
pub const LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// The script peer's IPv6 address (`fd00::2`).
pub const REMOTE_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// The port `bind(..., ...)` binds and `connect(..., ...)` connects to (packetdrill's 8080).
pub const SCRIPT_PORT: u16 = 8080;
/// The first port the script's peer uses for a passive open.
pub const FIRST_REMOTE_PORT: u16 = 40000;
/// packetdrill's default `--tolerance_usecs`.
pub const DEFAULT_TOLERANCE_USECS: u64 = 4000;

/// How to run scripts.
#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    /// The stack profile.
    pub profile: Profile,
    /// Relaxed comparisons.
    pub relax: Relax,
    /// Extra names defined for `#ifdef` (the profile's own is always defined).
    pub defines: Vec<String>,
    /// Never aggregate outbound segments into one expected line.
    pub strict_segments: bool,
    /// Overrides the script's `--tolerance_usecs`.
    pub tolerance_usecs: Option<u64>,
    /// Keep a trace of every event and packet in [`Outcome::log`].
    pub verbose: bool,
    /// Sysctls of the host the scripts run on (`NAME`, `VALUE`), set on a fresh target
    /// before the script's first line, as an administrator configures a host before running
    /// packetdrill; the script's own sysctl lines still apply after them.
    pub host_sysctls: Vec<(String, String)>,
}

/// The first mismatch of a failing script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Script line.
    pub line: u32,
    /// The event as written.
    pub expected: String,
    /// What went wrong.
    pub message: String,
    /// The actual packet in script form (relative numbers), if a packet was involved.
    pub actual: Option<String>,
    /// The actual packet as tcpdump prints it (`-n -S`).
    pub actual_tcpdump: Option<String>,
    /// Script time of the failure, µs.
    pub time_usecs: u64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} at {}: {}\n  expected: {}",
            self.line,
            secs(self.time_usecs),
            self.message,
            self.expected
        )?;
        if let Some(a) = &self.actual {
            write!(f, "\n  actual:   {a}")?;
        }
        if let Some(t) = &self.actual_tcpdump {
            write!(f, "\n  tcpdump:  {t}")?;
        }
        Ok(())
    }
}

/// Seconds with microseconds, as packetdrill prints times.
pub fn secs(usecs: u64) -> String {
    format!("{}.{:06}", usecs / 1_000_000, usecs % 1_000_000)
}

/// The result of one script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every event happened as written.
    Pass,
    /// The first mismatch.
    Fail(Box<Failure>),
    /// A feature the runner or target lacks, named.
    Unsupported(String),
}

impl Verdict {
    /// `PASS`, `FAIL` or `UNSUPPORTED`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail(_) => "FAIL",
            Verdict::Unsupported(_) => "UNSUPPORTED",
        }
    }
}

/// A verdict with the run's notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// PASS, FAIL or UNSUPPORTED.
    pub verdict: Verdict,
    /// Non-fatal notes: ignored host-only commands, `--non_fatal` mismatches.
    pub notes: Vec<String>,
    /// The trace (with [`RunConfig::verbose`]).
    pub log: Vec<String>,
}

/// Why a run stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    Fail(Box<Failure>),
    Unsupported(String),
}

/// What the runner knows about the socket under test (packetdrill's notion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No listening or connecting socket yet.
    Idle,
    /// `listen()` succeeded: the next inbound SYN starts a new connection.
    Listening,
    /// A connection (passive child or active open) owns the flow.
    Connection,
}

/// A blocking call waiting to complete.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub event: Event,
    pub call: syscall::Blocked,
    /// Latest acceptable completion (µs), `None` for "must finish within tolerance".
    pub end: Option<u64>,
    pub start: u64,
}

/// The time window an event must happen in.
#[derive(Clone, Copy, Debug)]
enum Window {
    At(u64),
    Range(u64, u64),
    Any,
}

/// Runs `script` against `target`.
pub fn run_script<T: Target + ?Sized>(script: &Script, target: &mut T, cfg: &RunConfig) -> Outcome {
    let mut r = match Runner::new(script, target, cfg) {
        Ok(r) => r,
        Err(feature) => {
            return Outcome {
                verdict: Verdict::Unsupported(feature),
                notes: Vec::new(),
                log: Vec::new(),
            };
        }
    };
    let verdict = match r.run(script) {
        Ok(()) => Verdict::Pass,
        Err(Stop::Fail(f)) => Verdict::Fail(f),
        Err(Stop::Unsupported(s)) => Verdict::Unsupported(s),
    };
    Outcome {
        verdict,
        notes: r.notes,
        log: r.log,
    }
}

/// Most timer firings at one instant before the target is declared livelocked.
const MAX_FIRINGS_PER_INSTANT: u32 = 10_000;
/// How long `*` waits for an outbound packet (virtual time).
const ANY_TIME_WAIT_USECS: u64 = 3_600_000_000;

pub(crate) struct Runner<'a, T: Target + ?Sized> {
    pub(crate) t: &'a mut T,
    pub(crate) cfg: RunConfig,
    pub(crate) tolerance: u64,
    ts_tick: u64,
    non_fatal_packet: bool,
    pub(crate) v6: bool,
    /// Virtual time, µs of script time.
    pub(crate) now: u64,
    /// Outbound datagrams not yet matched, in send order.
    out: VecDeque<Live>,
    pub(crate) flow: Flow,
    phase: Phase,
    next_remote_port: u16,
    /// Script fd → target fd.
    pub(crate) fds: HashMap<i64, Fd>,
    /// Target fds set `O_NONBLOCK`.
    pub(crate) nonblocking: HashMap<Fd, bool>,
    /// The fd `%{ }%` blocks read `TCP_INFO` from.
    pub(crate) sut_fd: Option<Fd>,
    pub(crate) pending: Option<Pending>,
    /// (whether the previous event was an inbound packet, its script time)
    prev: Option<(bool, u64)>,
    pub(crate) notes: Vec<String>,
    pub(crate) log: Vec<String>,
    defined: Vec<String>,
}

impl<'a, T: Target + ?Sized> Runner<'a, T> {
    fn new(script: &Script, t: &'a mut T, cfg: &RunConfig) -> Result<Runner<'a, T>, String> {
        let v6 = match script.option("ip_version") {
            None | Some("ipv4") => false,
            Some("ipv6") => true,
            Some(other) => return Err(format!("--ip_version={other}")),
        };
        if script.option("udp_encapsulation").is_some() {
            return Err("UDP encapsulation (--udp_encapsulation)".into());
        }
        if script.option("tcp_md5_secret").is_some() {
            return Err("TCP MD5 signatures (--tcp_md5_secret)".into());
        }
        let tolerance = cfg
            .tolerance_usecs
            .or(script.tolerance_usecs())
            .unwrap_or(DEFAULT_TOLERANCE_USECS);
        let ts_tick = script
            .option("tcp_ts_tick_usecs")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let non_fatal_packet = script
            .option("non_fatal")
            .is_some_and(|v| v.split(',').any(|x| x.trim() == "packet"));
        let (local_ip, remote_ip) = if v6 {
            (IpAddr::V6(LOCAL_V6), IpAddr::V6(REMOTE_V6))
        } else {
            (IpAddr::V4(LOCAL_V4), IpAddr::V4(REMOTE_V4))
        };
        let mut defined = cfg.defines.clone();
        if cfg.profile == Profile::FreeBsd {
            defined.push("FreeBSD".into());
        }
        for (name, _) in script.defines() {
            defined.push(name.to_string());
        }
        let r = Runner {
            t,
            cfg: cfg.clone(),
            tolerance,
            ts_tick,
            non_fatal_packet,
            v6,
            now: 0,
            out: VecDeque::new(),
            flow: Flow::new(
                SocketAddr::new(local_ip, SCRIPT_PORT),
                SocketAddr::new(remote_ip, FIRST_REMOTE_PORT),
            ),
            phase: Phase::Idle,
            next_remote_port: FIRST_REMOTE_PORT,
            fds: HashMap::new(),
            nonblocking: HashMap::new(),
            sut_fd: None,
            pending: None,
            prev: None,
            notes: Vec::new(),
            log: Vec::new(),
            defined,
        };
        for (k, v) in &cfg.host_sysctls {
            r.t.sysctl(k, v)
                .map_err(|e| format!("host sysctl {k}={v}: {e:?}"))?;
        }
        if let Some(mtu) = script.option("mtu") {
            r.t.sysctl("net.ipv4.tcp_mtu", mtu)
                .map_err(|_| format!("--mtu={mtu}"))?;
        }
        Ok(r)
    }

    pub(crate) fn instant(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    pub(crate) fn trace(&mut self, msg: impl FnOnce() -> String) {
        if self.cfg.verbose {
            let m = msg();
            self.log.push(format!("{} {m}", secs(self.now)));
        }
    }

    pub(crate) fn local_ip(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(LOCAL_V6)
        } else {
            IpAddr::V4(LOCAL_V4)
        }
    }

    pub(crate) fn remote_ip(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(REMOTE_V6)
        } else {
            IpAddr::V4(REMOTE_V4)
        }
    }

    fn run(&mut self, script: &Script) -> Result<(), Stop> {
        let defined = self.defined.clone();
        let is_defined = |n: &str| defined.iter().any(|d| d == n);
        let events: Vec<Event> = script.active_events(&is_defined).cloned().collect();
        for ev in &events {
            self.event(ev)?;
        }
        // A blocking call still running must finish by its end time.
        self.finish_pending()?;
        Ok(())
    }

    /// The absolute script time of a timestamp written on this event.
    fn resolve(&self, ts: Timestamp, base: u64) -> u64 {
        match ts.base {
            TimeBase::Absolute => ts.micros,
            TimeBase::Relative => base.saturating_add(ts.micros),
        }
    }

    fn event(&mut self, ev: &Event) -> Result<(), Stop> {
        let inbound = matches!(&ev.kind, EventKind::Packet(p) if p.direction == Direction::Inbound);
        // packetdrill: relative times count from when the previous event finished, except
        // that consecutive inbound packets anchor to each other's script times.
        let base = match self.prev {
            Some((true, t)) if inbound => t,
            _ => self.now,
        };
        let window = match ev.time {
            EventTime::Unspecified => Window::At(base),
            EventTime::Any => Window::Any,
            EventTime::At(ts) => Window::At(self.resolve(ts, base)),
            EventTime::Range(a, b) => Window::Range(self.resolve(a, base), self.resolve(b, base)),
        };
        let start = match window {
            Window::At(t) | Window::Range(t, _) => t,
            Window::Any => self.now,
        };
        // The end of a blocking call: absolute with an absolute start, else from the base.
        let end = ev.end.map(|e| match (ev.time, e.base) {
            (_, TimeBase::Relative) => start.saturating_add(e.micros),
            (EventTime::At(s), TimeBase::Absolute) if s.base == TimeBase::Absolute => e.micros,
            _ => base.saturating_add(e.micros),
        });
        self.trace(|| format!("line {}: {ev}", ev.line));
        match &ev.kind {
            EventKind::Packet(p) if p.direction == Direction::Outbound => {
                self.expect_packet(ev, p, window)?;
            }
            EventKind::Packet(p) => {
                self.wait_until(ev, start)?;
                self.inject(ev, p)?;
            }
            EventKind::Syscall(sc) => {
                self.wait_until(ev, start)?;
                self.syscall(ev, sc, end)?;
            }
            EventKind::Command(c) => {
                self.wait_until(ev, start)?;
                self.command(ev, c)?;
            }
            EventKind::Code(c) => {
                self.wait_until(ev, start)?;
                self.code(ev, c)?;
            }
        }
        self.prev = Some((inbound, start));
        Ok(())
    }

    pub(crate) fn fail(&self, ev: &Event, message: impl Into<String>) -> Stop {
        Stop::Fail(Box::new(Failure {
            line: ev.line,
            expected: ev.to_string(),
            message: message.into(),
            actual: None,
            actual_tcpdump: None,
            time_usecs: self.now,
        }))
    }

    /// Moves time to `t` (running timers on the way) and checks the event is not late.
    fn wait_until(&mut self, ev: &Event, t: u64) -> Result<(), Stop> {
        self.advance_to(t)?;
        if self.now > t.saturating_add(self.tolerance) && !self.cfg.relax.timing {
            return Err(self.fail(
                ev,
                format!(
                    "timing error: expected event at {} but it happened at {}; tolerance {}",
                    secs(t),
                    secs(self.now),
                    secs(self.tolerance)
                ),
            ));
        }
        Ok(())
    }

    /// Drains every datagram the target wants to send now.
    pub(crate) fn drain(&mut self) {
        let mut buf = vec![0u8; 65536];
        let now = self.instant();
        while let Some(n) = self.t.poll_transmit(now, &mut buf) {
            let bytes = buf.get(..n).unwrap_or(&buf).to_vec();
            match Live::parse(self.now, bytes) {
                Some(live) => {
                    if self.cfg.verbose {
                        let line = live.tcpdump();
                        self.log.push(format!("{} sent: {line}", secs(self.now)));
                    }
                    self.out.push_back(live);
                }
                None => self.notes.push(format!(
                    "{}: the target sent a datagram the runner cannot parse ({n} bytes)",
                    secs(self.now)
                )),
            }
        }
    }

    /// The target's next timer, in µs (rounded up).
    fn next_timer(&mut self) -> Option<u64> {
        self.t
            .poll_timeout()
            .map(|i| i.as_nanos().div_ceil(1000).max(self.now))
    }

    /// Advances to the next timer before `limit` (running it) or to `limit`; returns
    /// whether `limit` was reached.
    fn step(&mut self, limit: u64, firings: &mut u32) -> Result<bool, Stop> {
        self.drain();
        self.poll_pending()?;
        match self.next_timer() {
            Some(d) if d <= limit => {
                if d == self.now {
                    *firings += 1;
                    if *firings > MAX_FIRINGS_PER_INSTANT {
                        return Err(Stop::Fail(Box::new(Failure {
                            line: 0,
                            expected: String::new(),
                            message: format!(
                                "the target's timers fire without end at {}",
                                secs(self.now)
                            ),
                            actual: None,
                            actual_tcpdump: None,
                            time_usecs: self.now,
                        })));
                    }
                } else {
                    *firings = 0;
                }
                self.now = d;
                let now = self.instant();
                self.t.handle_timeout(now);
                self.drain();
                self.poll_pending()?;
                Ok(false)
            }
            _ => {
                self.now = self.now.max(limit);
                self.drain();
                self.poll_pending()?;
                Ok(true)
            }
        }
    }

    /// Advances virtual time to `t`, running the target's timers on the way.
    pub(crate) fn advance_to(&mut self, t: u64) -> Result<(), Stop> {
        let mut firings = 0;
        while !self.step(t, &mut firings)? {}
        Ok(())
    }

    /// Whether an outbound datagram belongs to the socket under test; an active open
    /// learns its local address from its first SYN.
    fn claims(&mut self, live: &Live) -> bool {
        let Some((src, dst)) = live.tuple() else {
            return false;
        };
        if self.flow.local_known {
            return src == self.flow.local && dst == self.flow.remote;
        }
        let syn = live
            .tcp
            .as_ref()
            .is_some_and(|t| t.flags.contains(TcpFlags::SYN) && !t.flags.contains(TcpFlags::ACK));
        if syn && dst == self.flow.remote {
            self.flow.local = src;
            self.flow.local_known = true;
            return true;
        }
        false
    }

    /// The next outbound segment of the flow, waiting until `deadline`.
    fn next_segment(&mut self, deadline: u64) -> Result<Option<Live>, Stop> {
        let mut firings = 0;
        loop {
            while let Some(p) = self.out.pop_front() {
                if self.claims(&p) {
                    return Ok(Some(p));
                }
                let line = p.tcpdump();
                self.trace(|| format!("ignored (not the socket under test): {line}"));
            }
            if self.now >= deadline {
                return Ok(None);
            }
            self.step(deadline, &mut firings)?;
        }
    }

    fn inject(&mut self, ev: &Event, p: &Packet) -> Result<(), Stop> {
        if matches!(p.body, PacketBody::Tcp(_)) {
            match self.phase {
                // Any segment to a listener starts packetdrill's new child socket, from a
                // new port; later segments go to that child.
                Phase::Listening => {
                    let port = self.next_remote_port;
                    self.next_remote_port = self.next_remote_port.wrapping_add(1).max(1024);
                    let local = self.flow.local;
                    self.flow = Flow::new(local, SocketAddr::new(self.remote_ip(), port));
                    self.phase = Phase::Connection;
                }
                // Before any listener, segments come from the first port: a later child
                // must not reuse it.
                Phase::Idle if self.flow.remote.port() == self.next_remote_port => {
                    self.next_remote_port = self.next_remote_port.wrapping_add(1);
                }
                _ => {}
            }
        }
        let bytes = match wire::build_inbound(p, &self.flow) {
            Ok(b) => b,
            Err(wire::BuildError::Unsupported(s)) => return Err(Stop::Unsupported(s)),
            Err(wire::BuildError::Invalid(s)) => return Err(self.fail(ev, s)),
        };
        let now = self.instant();
        self.t.inject(now, &bytes);
        self.drain();
        self.poll_pending()?;
        Ok(())
    }

    fn expect_packet(&mut self, ev: &Event, p: &Packet, window: Window) -> Result<(), Stop> {
        let PacketBody::Tcp(seg) = &p.body else {
            return Err(Stop::Unsupported(format!(
                "outbound {} packets",
                match &p.body {
                    PacketBody::Udp(_) => "UDP",
                    _ => "ICMP",
                }
            )));
        };
        if p.udp_encap.is_some() {
            return Err(Stop::Unsupported("UDP encapsulation (RFC 6951)".into()));
        }
        let deadline = match window {
            Window::At(t) => t.saturating_add(self.tolerance),
            Window::Range(_, b) => b.saturating_add(self.tolerance),
            Window::Any => self.now.saturating_add(ANY_TIME_WAIT_USECS),
        };
        let deadline = if self.cfg.relax.timing {
            deadline.max(self.now.saturating_add(ANY_TIME_WAIT_USECS))
        } else {
            deadline
        };
        let Some(mut live) = self.next_segment(deadline)? else {
            return Err(self.fail(
                ev,
                format!(
                    "expected packet not sent by {} (waited until {})",
                    secs(deadline),
                    secs(self.now)
                ),
            ));
        };
        if !self.cfg.strict_segments {
            live = self.aggregate(live, seg, deadline)?;
        }
        let Some(t) = live.tcp.clone() else {
            return Err(self.fail(ev, "expected a TCP segment"));
        };
        // The ISN of our side comes from the first SYN: the script's from its line, ours
        // from the segment (packetdrill's script/live ISN pair).
        if seg.flags.contains(TcpFlags::SYN) && !seg.seq.absolute {
            self.flow.script_isn = seg.seq.bounds.map_or(0, |b| b.0);
            self.flow.live_isn = t.seq;
        }
        wire::learn_ts(seg, &t, &mut self.flow);
        let rules = MatchRules {
            relax: self.cfg.relax,
            ts_tick_usecs: self.ts_tick,
            tolerance_usecs: self.tolerance,
        };
        let mut result = wire::compare_tcp(p, seg, &live, &self.flow, &rules);
        if result.is_ok() && !self.cfg.relax.timing {
            result = self.check_packet_time(window, live.time);
        }
        if let Err(message) = result {
            let failure = Failure {
                line: ev.line,
                expected: ev.to_string(),
                message,
                actual: Some(format!(
                    "{} {}",
                    secs(live.time),
                    wire::script_form(&t, &self.flow)
                )),
                actual_tcpdump: Some(if live.parts.is_empty() {
                    live.tcpdump()
                } else {
                    format!(
                        "{} (aggregated with: {})",
                        live.tcpdump(),
                        live.parts.join(" | ")
                    )
                }),
                time_usecs: live.time,
            };
            if self.non_fatal_packet {
                self.notes.push(format!("non-fatal: {failure}"));
                return Ok(());
            }
            return Err(Stop::Fail(Box::new(failure)));
        }
        Ok(())
    }

    fn check_packet_time(&self, window: Window, at: u64) -> Result<(), String> {
        let tol = self.tolerance;
        match window {
            Window::Any => Ok(()),
            Window::At(t) => {
                if at.saturating_add(tol) < t || at > t.saturating_add(tol) {
                    Err(format!(
                        "timing error: expected outbound packet at {} but it was sent at {}; tolerance {}",
                        secs(t),
                        secs(at),
                        secs(tol)
                    ))
                } else {
                    Ok(())
                }
            }
            Window::Range(a, b) => {
                if at.saturating_add(tol) < a || at > b.saturating_add(tol) {
                    Err(format!(
                        "timing error: expected outbound packet in {}~{} but it was sent at {}",
                        secs(a),
                        secs(b),
                        secs(at)
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// TSO-style aggregation: joins consecutive, contiguous segments with the same header
    /// until the expected payload length is reached.
    fn aggregate(&mut self, first: Live, seg: &TcpSegment, deadline: u64) -> Result<Live, Stop> {
        let want = seg.seq.len as usize;
        let Some(mut agg) = first.tcp.clone() else {
            return Ok(first);
        };
        if agg.payload.is_empty() || agg.payload.len() >= want {
            return Ok(first);
        }
        let mut merged = first.clone();
        let mut parts = 1;
        while agg.payload.len() < want {
            let Some(next) = self.next_segment(deadline)? else {
                break;
            };
            let Some(n) = next.tcp.as_ref() else {
                self.out.push_front(next);
                break;
            };
            let mut fa = agg.flags;
            let mut fb = n.flags;
            for f in [TcpFlags::PSH, TcpFlags::FIN] {
                fa = fa.without(f);
                fb = fb.without(f);
            }
            let contiguous = n.seq == agg.seq.wrapping_add(agg.payload.len() as u32);
            // A TSO burst leaves at one instant; segments sent apart are not one line.
            if fa != fb
                || next.time != first.time
                || !contiguous
                || n.ack != agg.ack
                || n.payload.is_empty()
                || agg.payload.len() + n.payload.len() > want
            {
                self.out.push_front(next);
                break;
            }
            // The aggregate carries the last part's PSH/FIN and window.
            agg.flags = n.flags;
            agg.window = n.window;
            agg.payload.extend_from_slice(&n.payload);
            parts += 1;
            let line = next.tcpdump();
            merged.parts.push(line);
        }
        if parts == 1 {
            return Ok(first);
        }
        self.trace(|| {
            format!(
                "aggregated {parts} segments into one ({} bytes)",
                agg.payload.len()
            )
        });
        merged.tcp = Some(agg);
        Ok(merged)
    }

    /// Records how `socket()`/`listen()`/`connect()`/`accept()` change the socket under
    /// test.
    pub(crate) fn on_listen(&mut self) {
        self.phase = Phase::Listening;
        let ip = self.local_ip();
        self.flow.local = SocketAddr::new(ip, SCRIPT_PORT);
        self.flow.local_known = true;
    }

    pub(crate) fn on_connect(&mut self) {
        self.phase = Phase::Connection;
        let remote = SocketAddr::new(self.remote_ip(), SCRIPT_PORT);
        let local = SocketAddr::new(self.local_ip(), 0);
        self.flow = Flow::new(local, remote);
        self.flow.local_known = false;
    }
}
