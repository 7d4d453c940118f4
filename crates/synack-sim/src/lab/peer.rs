//! A scriptable application for scenarios: a client that connects (or a server that
//! accepts one connection), reads everything that arrives, and performs timed actions
//! after the connection is established and after the peer's end of stream.

use core::net::SocketAddr;

use synack::stack::{Errno, Shutdown, SockOpt, SocketId};
use synack::{Duration, Instant};

use crate::stack_host::AppCtx;

/// Something the application does to its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// `send` these bytes (all of them, retrying while the buffer is full).
    Send(Vec<u8>),
    /// `send` this many bytes of the test pattern (byte `i` of the stream is `i % 251`),
    /// which a peer with [`Peer::check_pattern`] verifies.
    SendPattern(usize),
    /// `shutdown(SHUT_WR)`: half-close.
    ShutdownWrite,
    /// `close()`.
    Close,
}

/// Which list of timed actions.
#[derive(Clone, Copy)]
enum List {
    Connect,
    Eof,
    Absolute,
}

/// How the application gets its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// `connect` to this address, optionally from a bound local address.
    Connect {
        /// The server.
        dst: SocketAddr,
        /// `bind` before connecting (a fixed port, like `nc -p`).
        bind: Option<SocketAddr>,
    },
    /// `bind` and `listen` on this address, then `accept` one connection.
    Listen {
        /// The listening address (`0.0.0.0:80`).
        addr: SocketAddr,
    },
}

/// The application. Build it with [`Peer::client`] or [`Peer::server`] and the builder
/// methods, then install it with `Lab::app`.
#[derive(Clone, Debug)]
pub struct Peer {
    role: Role,
    opts: Vec<SockOpt>,
    start: Duration,
    after_connect: Vec<(Duration, Act)>,
    after_eof: Vec<(Duration, Act)>,
    absolute: Vec<(Duration, Act)>,
    read: bool,
    read_after: Duration,
    quiet: bool,
    check_pattern: bool,
    sample_every: Option<Duration>,
    // State.
    next_sample: Option<Instant>,
    last_sample: Option<(Option<u32>, Option<u32>)>,
    /// BBR's mode and pacing gain at the last sample.
    last_bbr: Option<(synack::bbr::Mode, u32)>,
    started: Option<Instant>,
    listener: Option<SocketId>,
    sock: Option<SocketId>,
    connecting: bool,
    done: bool,
    established: Option<Instant>,
    eof: Option<Instant>,
    next_connect: usize,
    next_eof: usize,
    next_abs: usize,
    pending_send: Vec<u8>,
    /// Bytes of the pattern queued so far (the position of the next pattern byte).
    pattern_sent: usize,
    received: Vec<u8>,
    received_total: usize,
    mismatch: Option<usize>,
}

impl Peer {
    fn new(role: Role) -> Peer {
        Peer {
            role,
            opts: Vec::new(),
            start: Duration::ZERO,
            after_connect: Vec::new(),
            after_eof: Vec::new(),
            absolute: Vec::new(),
            read: true,
            read_after: Duration::ZERO,
            quiet: false,
            check_pattern: false,
            sample_every: None,
            next_sample: None,
            last_sample: None,
            last_bbr: None,
            started: None,
            listener: None,
            sock: None,
            connecting: false,
            done: false,
            established: None,
            eof: None,
            next_connect: 0,
            next_eof: 0,
            next_abs: 0,
            pending_send: Vec::new(),
            pattern_sent: 0,
            received: Vec::new(),
            received_total: 0,
            mismatch: None,
        }
    }

    /// A client connecting to `dst` from an ephemeral port.
    pub fn client(dst: SocketAddr) -> Peer {
        Peer::new(Role::Connect { dst, bind: None })
    }

    /// A server accepting one connection on `addr`.
    pub fn server(addr: SocketAddr) -> Peer {
        Peer::new(Role::Listen { addr })
    }

    /// Binds the client to `local` first.
    pub fn bind(mut self, local: SocketAddr) -> Peer {
        if let Role::Connect { bind, .. } = &mut self.role {
            *bind = Some(local);
        }
        self
    }

    /// Sets a socket option right after `socket()`.
    pub fn opt(mut self, o: SockOpt) -> Peer {
        self.opts.push(o);
        self
    }

    /// Starts (connects, or listens) `d` after the app is installed.
    pub fn start_after(mut self, d: Duration) -> Peer {
        self.start = d;
        self
    }

    /// Does `act` `d` after the connection is established (accepted, for a server).
    pub fn at(mut self, d: Duration, act: Act) -> Peer {
        self.after_connect.push((d, act));
        self
    }

    /// Does `act` `d` after reading the peer's end of stream.
    pub fn on_eof(mut self, d: Duration, act: Act) -> Peer {
        self.after_eof.push((d, act));
        self
    }

    /// Does `act` at virtual time `t` (if the connection exists by then).
    pub fn at_time(mut self, t: Instant, act: Act) -> Peer {
        self.absolute.push((t - Instant::ZERO, act));
        self
    }

    /// Never reads (the data stays in the receive buffer).
    pub fn no_read(mut self) -> Peer {
        self.read = false;
        self
    }

    /// Starts reading only `d` after the connection is established (the data waits in
    /// the receive buffer meanwhile).
    pub fn read_after(mut self, d: Duration) -> Peer {
        self.read_after = d;
        self
    }

    /// Does not log each successful send and recv (for bulk transfers).
    pub fn quiet(mut self) -> Peer {
        self.quiet = true;
        self
    }

    /// Verifies that the bytes read follow the pattern of [`Act::SendPattern`] instead of
    /// keeping them, and logs `read N bytes, pattern intact` (or where it broke) at the
    /// end of the stream.
    pub fn check_pattern(mut self) -> Peer {
        self.check_pattern = true;
        self
    }

    /// Reads `TCP_INFO` every `every` while connected and logs the congestion window and
    /// slow-start threshold (in segments) when they changed: `tcp_info: cwnd 10 ssthresh -`.
    pub fn sample_cwnd(mut self, every: Duration) -> Peer {
        self.sample_every = Some(every);
        self
    }

    /// The bytes read so far.
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// One step: called after every event on the host.
    pub fn step(&mut self, cx: &mut AppCtx<'_>) {
        cx.quiet = self.quiet;
        let now = cx.now;
        let started = *self.started.get_or_insert(now);
        let mut wake: Option<Instant> = None;
        let mut want = |t: Instant| {
            if t > now {
                wake = Some(wake.map_or(t, |w: Instant| w.min(t)));
            }
        };
        if !self.done && self.sock.is_none() && self.established.is_none() {
            if now < started + self.start {
                want(started + self.start);
            } else {
                self.open(cx);
            }
        }
        if let (Some(s), Some(every)) = (self.sock, self.sample_every) {
            let due = *self.next_sample.get_or_insert(now);
            if now >= due {
                if let Ok(info) = cx.stack.tcp_info(s) {
                    let sample = (info.snd_cwnd, info.snd_ssthresh);
                    if self.last_sample != Some(sample) {
                        let show = |v: Option<u32>| match v {
                            Some(0x7fff_ffff) | None => String::from("-"),
                            Some(v) => v.to_string(),
                        };
                        cx.log(format!(
                            "tcp_info: cwnd {} ssthresh {}",
                            show(sample.0),
                            show(sample.1)
                        ));
                        self.last_sample = Some(sample);
                    }
                    // BBR (TCP_CC_INFO): a line when the mode or the pacing gain changes.
                    if let Ok(Some(b)) = cx.stack.bbr_info(s)
                        && self.last_bbr != Some((b.mode, b.pacing_gain))
                    {
                        self.last_bbr = Some((b.mode, b.pacing_gain));
                        cx.log(format!(
                            "bbr: {:?} pacing_gain {:.2} cwnd_gain {:.2} btl_bw {} B/s \
                             pacing_rate {} B/s delivery_rate {} B/s min_rtt {} us",
                            b.mode,
                            f64::from(b.pacing_gain) / 256.0,
                            f64::from(b.cwnd_gain) / 256.0,
                            b.btl_bw,
                            info.pacing_rate,
                            info.delivery_rate,
                            b.min_rtt.map_or(0, |d| d.as_micros())
                        ));
                    }
                }
                self.next_sample = Some(now + every);
            }
            if let Some(n) = self.next_sample {
                want(n);
            }
        }
        if let (Some(_), Some(est)) = (self.sock, self.established) {
            self.run_acts(cx, est, List::Connect, &mut want);
            self.run_acts(cx, Instant::ZERO, List::Absolute, &mut want);
        }
        if self.read {
            match self.established {
                Some(est) if now < est + self.read_after => want(est + self.read_after),
                Some(_) => self.read_all(cx),
                None => {}
            }
        }
        if let (Some(_), Some(eof)) = (self.sock, self.eof) {
            self.run_acts(cx, eof, List::Eof, &mut want);
        }
        self.flush_send(cx);
        match wake {
            Some(w) => cx.wake_at(w),
            None => cx.clear_wake(),
        }
    }

    fn open(&mut self, cx: &mut AppCtx<'_>) {
        match self.role.clone() {
            Role::Connect { dst, bind } => {
                if !self.connecting {
                    let Ok(s) = cx.socket() else {
                        self.done = true;
                        return;
                    };
                    for o in self.opts.clone() {
                        let _ = cx.setsockopt(s, o);
                    }
                    if let Some(b) = bind
                        && cx.bind(s, b).is_err()
                    {
                        self.done = true;
                        return;
                    }
                    self.listener = Some(s);
                    self.connecting = true;
                }
                let Some(s) = self.listener else { return };
                // A blocking connect(): the first call starts the handshake, later ones
                // report its outcome.
                match cx.connect(s, dst) {
                    Ok(()) => {
                        self.sock = Some(s);
                        self.listener = None;
                        self.established = Some(cx.now);
                    }
                    Err(e) if e == Errno::EINPROGRESS || e == Errno::EALREADY => {}
                    Err(_) => {
                        let _ = cx.close(s);
                        self.listener = None;
                        self.done = true;
                    }
                }
            }
            Role::Listen { addr } => {
                if self.listener.is_none() {
                    let Ok(l) = cx.socket() else {
                        self.done = true;
                        return;
                    };
                    for o in self.opts.clone() {
                        let _ = cx.setsockopt(l, o);
                    }
                    if cx.bind(l, addr).is_err() || cx.listen(l, 128).is_err() {
                        self.done = true;
                        return;
                    }
                    self.listener = Some(l);
                }
                if let Some(l) = self.listener
                    && let Ok((c, _)) = cx.accept(l)
                {
                    self.sock = Some(c);
                    self.established = Some(cx.now);
                }
            }
        }
    }

    fn run_acts(
        &mut self,
        cx: &mut AppCtx<'_>,
        base: Instant,
        which: List,
        want: &mut impl FnMut(Instant),
    ) {
        loop {
            let (list, next) = match which {
                List::Connect => (&self.after_connect, self.next_connect),
                List::Eof => (&self.after_eof, self.next_eof),
                List::Absolute => (&self.absolute, self.next_abs),
            };
            let Some((d, act)) = list.get(next).cloned() else {
                return;
            };
            if !self.pending_send.is_empty() {
                // A blocking send() has not returned yet: later actions wait for it.
                return;
            }
            if base + d > cx.now {
                want(base + d);
                return;
            }
            match which {
                List::Connect => self.next_connect += 1,
                List::Eof => self.next_eof += 1,
                List::Absolute => self.next_abs += 1,
            }
            let Some(s) = self.sock else { return };
            match act {
                Act::Send(data) => {
                    self.pending_send.extend_from_slice(&data);
                    self.flush_send(cx);
                }
                Act::SendPattern(n) => {
                    let start = self.pattern_sent;
                    self.pending_send
                        .extend((start..start + n).map(|i| (i % 251) as u8));
                    self.pattern_sent += n;
                    self.flush_send(cx);
                }
                Act::ShutdownWrite => {
                    self.flush_send(cx);
                    let _ = cx.shutdown(s, Shutdown::Write);
                }
                Act::Close => {
                    let _ = cx.close(s);
                    self.sock = None;
                    self.done = true;
                    return;
                }
            }
        }
    }

    fn flush_send(&mut self, cx: &mut AppCtx<'_>) {
        let Some(s) = self.sock else { return };
        while !self.pending_send.is_empty() {
            match cx.send(s, &self.pending_send) {
                Ok(n) if n > 0 => {
                    self.pending_send.drain(..n.min(self.pending_send.len()));
                }
                Ok(_) | Err(_) => return,
            }
        }
    }

    fn read_all(&mut self, cx: &mut AppCtx<'_>) {
        let Some(s) = self.sock else { return };
        if self.eof.is_some() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match cx.recv(s, &mut buf) {
                Ok(0) => {
                    self.eof = Some(cx.now);
                    if self.check_pattern {
                        cx.log(match self.mismatch {
                            None => format!("read {} bytes, pattern intact", self.received_total),
                            Some(at) => format!(
                                "read {} bytes, pattern BROKEN at offset {at}",
                                self.received_total
                            ),
                        });
                    }
                    return;
                }
                Ok(n) => {
                    let got = &buf[..n.min(buf.len())];
                    if self.check_pattern {
                        if self.mismatch.is_none() {
                            let base = self.received_total;
                            self.mismatch = got
                                .iter()
                                .enumerate()
                                .find(|(i, b)| **b != ((base + i) % 251) as u8)
                                .map(|(i, _)| base + i);
                        }
                    } else {
                        self.received.extend_from_slice(got);
                    }
                    self.received_total += got.len();
                }
                Err(e) if e == Errno::EAGAIN => return,
                Err(_) => {
                    // A reset: the program sees the error and gives up the connection.
                    let _ = cx.close(s);
                    self.sock = None;
                    self.done = true;
                    return;
                }
            }
        }
    }
}
