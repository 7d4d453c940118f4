//! Shared harness for the conversation tests: virtual time, helpers to build arriving
//! segments, and two engines wired back to back.
#![allow(dead_code)]

use synack::{
    Config, Connection, Duration, Event, FourTuple, Instant, SegOptions, SegmentIn, SegmentOut,
    Seq, State, TcpFlags, Timestamps,
};

/// Client ISS from the seed notes' telnet trace.
pub const CLIENT_ISS: u32 = 535734930;
/// Server ISS from the same trace.
pub const SERVER_ISS: u32 = 2159701207;

pub const S: TcpFlags = TcpFlags::SYN;
pub const A: TcpFlags = TcpFlags::ACK;
pub const F: TcpFlags = TcpFlags::FIN;
pub const R: TcpFlags = TcpFlags::RST;
pub const P: TcpFlags = TcpFlags::PSH;

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub fn secs(n: u64) -> Instant {
    Instant::from_secs(n)
}

pub fn client_tuple() -> FourTuple {
    FourTuple::new(
        "192.168.1.108:60871".parse().unwrap(),
        "192.168.1.109:80".parse().unwrap(),
    )
}

pub fn server_tuple() -> FourTuple {
    FourTuple::new(
        "192.168.1.109:80".parse().unwrap(),
        "192.168.1.108:60871".parse().unwrap(),
    )
}

/// Linux defaults, events on, and the SYN options off (plain RFC 9293 segments) unless a
/// test turns them on.
pub fn plain() -> Config {
    Config {
        events: true,
        window_scaling: false,
        sack: false,
        timestamps: false,
        ..Config::default()
    }
}

/// Linux defaults with events on (all options enabled).
pub fn linux() -> Config {
    Config {
        events: true,
        ..Config::default()
    }
}

/// A segment as it goes out, with its payload bytes.
#[derive(Clone, Debug)]
pub struct Out {
    pub seg: SegmentOut,
    pub data: Vec<u8>,
}

impl Out {
    pub fn flags(&self) -> TcpFlags {
        self.seg.flags
    }
    pub fn seq(&self) -> u32 {
        self.seg.seq.get()
    }
    pub fn ack(&self) -> u32 {
        self.seg.ack.get()
    }
    pub fn as_in(&self) -> SegmentIn<'_> {
        self.seg.as_segment_in(&self.data)
    }
}

/// Every segment the connection wants to send now.
pub fn drain(c: &mut Connection, now: Instant) -> Vec<Out> {
    let mut v = Vec::new();
    let mut buf = [0u8; 65536];
    while let Some(seg) = c.poll_transmit(now, &mut buf) {
        v.push(Out {
            seg,
            data: buf[..seg.payload_len].to_vec(),
        });
        assert!(v.len() < 10_000, "runaway poll_transmit");
    }
    v
}

/// Exactly one segment, which the test then inspects.
pub fn one(c: &mut Connection, now: Instant) -> Out {
    let mut v = drain(c, now);
    assert_eq!(v.len(), 1, "expected exactly one segment, got {v:#?}");
    v.remove(0)
}

/// Nothing to send.
pub fn none(c: &mut Connection, now: Instant) {
    let v = drain(c, now);
    assert!(v.is_empty(), "expected no segment, got {v:#?}");
}

/// An arriving segment.
pub fn seg(seq: u32, ack: u32, flags: TcpFlags, wnd: u16) -> SegmentIn<'static> {
    SegmentIn::new(Seq(seq), Seq(ack), flags, wnd)
}

/// An arriving segment with payload.
pub fn data(seq: u32, ack: u32, flags: TcpFlags, payload: &'static [u8]) -> SegmentIn<'static> {
    let mut s = SegmentIn::new(Seq(seq), Seq(ack), flags, 65535);
    s.payload = payload;
    s
}

/// Adds timestamps to a segment.
pub fn with_ts(mut s: SegmentIn<'static>, tsval: u32, tsecr: u32) -> SegmentIn<'static> {
    s.options.timestamps = Some(Timestamps { tsval, tsecr });
    s
}

/// Linux's SYN options: mss 1460, sackOK, TS, wscale 7.
pub fn linux_syn_options(tsval: u32) -> SegOptions {
    SegOptions {
        mss: Some(1460),
        wscale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps { tsval, tsecr: 0 }),
        ..SegOptions::default()
    }
}

/// A client in SYN_SENT (its SYN already drained) with the trace's ISS.
pub fn client(cfg: Config, now: Instant) -> Connection {
    let mut c = Connection::connect_with_iss(now, cfg, client_tuple(), Seq(CLIENT_ISS), 0);
    let syn = one(&mut c, now);
    assert_eq!(syn.flags(), S);
    c
}

/// A client without timestamps whose handshake measured 100 ms: the peer's SYN-ACK offers
/// MSS 1000, a window of `wnd`, and SACK when `cfg.sack` asks for it.
pub fn established_at_100ms(cfg: Config, wnd: u16) -> Connection {
    let sack = cfg.sack;
    let mut c = client(cfg, Instant::ZERO);
    let mut synack = seg(SERVER_ISS, CLIENT_ISS + 1, S | A, wnd);
    synack.options = SegOptions {
        mss: Some(1000),
        sack_permitted: sack,
        ..SegOptions::default()
    };
    c.on_segment(ms(100), &synack);
    assert_eq!(c.state(), State::Established);
    drain(&mut c, ms(100));
    assert_eq!(c.status().sack_permitted, sack);
    assert!(!c.status().timestamps);
    c
}

/// A listener with the trace's server ISS.
pub fn listener(cfg: Config, now: Instant) -> Connection {
    Connection::listen_with_iss(now, cfg, server_tuple(), Seq(SERVER_ISS), 0)
}

/// A client ESTABLISHED with a peer whose ISS is `SERVER_ISS` (no options).
pub fn established_client(now: Instant) -> Connection {
    let mut c = client(plain(), now);
    c.on_segment(now, &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    let ack = one(&mut c, now);
    assert_eq!(ack.flags(), A);
    assert_eq!(c.state(), State::Established);
    c
}

/// A server ESTABLISHED (passive open) with the client's ISS `CLIENT_ISS`.
pub fn established_server(now: Instant) -> Connection {
    let mut s = listener(plain(), now);
    s.on_segment(now, &seg(CLIENT_ISS, 0, S, 65535));
    let synack = one(&mut s, now);
    assert_eq!(synack.flags(), S | A);
    s.on_segment(now, &seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535));
    none(&mut s, now);
    assert_eq!(s.state(), State::Established);
    s
}

/// The state sequence recorded in the event stream, starting from CLOSED.
pub fn state_trail(c: &mut Connection) -> Vec<State> {
    let mut trail = vec![State::Closed];
    while let Some(ev) = c.poll_event() {
        if let Event::StateChange { from, to, .. } = ev {
            assert_eq!(trail.last(), Some(&from), "event stream skipped a state");
            trail.push(to);
        }
    }
    trail
}

/// The state sequence as the notes write it: `CLOSED→SYN_SENT→...`.
pub fn trail_text(c: &mut Connection) -> String {
    state_trail(c)
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join("→")
}

/// Which side sent a logged segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// Two engines back to back over a lossless, zero-delay link, under one virtual clock.
pub struct Pair {
    pub a: Connection,
    pub b: Connection,
    pub now: Instant,
    /// Every segment delivered, in order.
    pub log: Vec<(Instant, Side, Out)>,
    /// Drop everything A sends (a silent or dead peer).
    pub drop_from_a: bool,
    /// Drop everything B sends.
    pub drop_from_b: bool,
}

impl Pair {
    pub fn new(a: Connection, b: Connection, now: Instant) -> Pair {
        Pair {
            a,
            b,
            now,
            log: Vec::new(),
            drop_from_a: false,
            drop_from_b: false,
        }
    }

    /// Delivers segments both ways until neither side has anything to send.
    pub fn exchange(&mut self) {
        for _ in 0..10_000 {
            let from_a = drain(&mut self.a, self.now);
            let from_b = drain(&mut self.b, self.now);
            if from_a.is_empty() && from_b.is_empty() {
                return;
            }
            for o in from_a {
                if !self.drop_from_a {
                    self.b.on_segment(self.now, &o.as_in());
                }
                self.log.push((self.now, Side::A, o));
            }
            for o in from_b {
                if !self.drop_from_b {
                    self.a.on_segment(self.now, &o.as_in());
                }
                self.log.push((self.now, Side::B, o));
            }
        }
        panic!("exchange did not settle");
    }

    /// Exchanges, then advances time through every timer up to `until`.
    pub fn run_until(&mut self, until: Instant) {
        self.exchange();
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.a.on_timeout(self.now);
                    self.b.on_timeout(self.now);
                    self.exchange();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    /// Advances the clock by `d` through the timers.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// The log as tcpdump-like lines (`A > B: Flags [S], seq ..., ack ..., length n`).
    pub fn trace(&self) -> Vec<String> {
        self.log
            .iter()
            .map(|(_, side, o)| {
                let dir = if *side == Side::A { "A > B" } else { "B > A" };
                format!(
                    "{dir}: {} seq {} ack {} len {}",
                    flag_text(o.flags()),
                    o.seq(),
                    o.ack(),
                    o.data.len()
                )
            })
            .collect()
    }
}

/// tcpdump's flag letters: `S`, `S.`, `.`, `F.`, `R`, `R.`, `P.`, `FP.`.
pub fn flag_text(f: TcpFlags) -> String {
    // tcpdump's order (print-tcp.c tcp_flag_values): F S R P . U E W.
    let mut s = String::new();
    for (flag, ch) in [
        (f.fin(), 'F'),
        (f.syn(), 'S'),
        (f.rst(), 'R'),
        (f.psh(), 'P'),
        (f.ack(), '.'),
    ] {
        if flag {
            s.push(ch);
        }
    }
    format!("[{s}]")
}

/// The client's first data byte (ISS + 1): recovery tests count offsets from it.
pub const DATA_BASE: u32 = CLIENT_ISS + 1;

/// An ACK from the server for `ack` with SACK blocks, all as offsets from [`DATA_BASE`] (a
/// first block below `ack` is a D-SACK, RFC 2883).
pub fn sack_ack(ack: u32, blocks: &[(u32, u32)]) -> SegmentIn<'static> {
    let mut s = seg(SERVER_ISS + 1, DATA_BASE + ack, A, 65535);
    for &(l, r) in blocks {
        s.options
            .sack_blocks
            .push(Seq(DATA_BASE + l), Seq(DATA_BASE + r));
    }
    s
}

/// The offsets from [`DATA_BASE`] of the data segments in `out`.
pub fn data_offsets(out: &[Out]) -> Vec<u32> {
    out.iter()
        .filter(|o| !o.data.is_empty())
        .map(|o| o.seq().wrapping_sub(DATA_BASE))
        .collect()
}
