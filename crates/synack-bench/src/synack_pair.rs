//! synack: two host [`Stack`]s back to back in one process.
//!
//! Every segment crosses the link as a whole IPv4 datagram: [`Stack::poll_transmit_burst`]
//! serialises it with `synack_wire` (IPv4 header checksum and TCP checksum computed) and
//! [`Stack::receive`] parses it and verifies both checksums, the same work the stack does
//! on a real interface.

use crate::{Bulk, BulkApi, CLIENT_ADDR, Many, RR_MESSAGE, Rng, Run, SERVER_ADDR};
use core::net::{IpAddr, SocketAddr};
use synack::stack::{ConnId, Errno, Family, RecvFlags, SockOpt, SocketId, Stack, Sysctl};
use synack::{Duration, Instant};

/// The clock a [`Pair`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Wall-clock time since the pair was made (plus any jumps to a timer).
    Real,
    /// Time that moves only when the driver jumps it.
    Virtual,
}

/// Whether the pairs made from now on coalesce received runs
/// (`Stack::set_receive_coalescing`; on unless `--no-coalesce`).
pub static COALESCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Datagrams per transmit burst in [`Pair::pump`].
pub const BURST: usize = 16;

/// Two stacks, a client (10.0.0.1) and a server (10.0.0.2), and the link between them.
pub struct Pair {
    /// The client host.
    pub a: Stack,
    /// The server host.
    pub b: Stack,
    /// Frames for one transmit burst ([`Stack::poll_transmit_burst`]) and their lengths.
    frames: Vec<Vec<u8>>,
    lens: Vec<usize>,
    clock: Clock,
    start: std::time::Instant,
    /// Nanoseconds added to the clock by jumps.
    offset: u64,
    /// The clock as [`Pair::service`] last read it.
    serviced_at: Instant,
    /// Datagrams moved so far.
    pub datagrams: u64,
    /// Clock jumps to a timer because nothing else could move.
    pub stalls: u64,
}

impl core::fmt::Debug for Pair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pair")
            .field("datagrams", &self.datagrams)
            .field("stalls", &self.stalls)
            .finish_non_exhaustive()
    }
}

/// `addr:port` on the server.
pub fn server(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SERVER_ADDR), port)
}

fn err(what: &str, e: Errno) -> String {
    format!("synack: {what}: {}", e.name())
}

impl Pair {
    /// A pair with Linux defaults, `tcp_mtu` = `mtu`, and the given clock.
    pub fn new(mtu: u16, clock: Clock) -> Pair {
        Pair::with_sysctl(mtu, clock, Sysctl::linux())
    }

    /// A pair whose hosts both use `sysctl` (with `tcp_mtu` = `mtu`).
    pub fn with_sysctl(mtu: u16, clock: Clock, mut sysctl: Sysctl) -> Pair {
        sysctl.tcp_mtu = mtu;
        let mut a = Stack::new([1; 16], sysctl.clone());
        a.add_address(IpAddr::V4(CLIENT_ADDR));
        let mut b = Stack::new([2; 16], sysctl);
        b.add_address(IpAddr::V4(SERVER_ADDR));
        let coalesce = COALESCE.load(std::sync::atomic::Ordering::Relaxed);
        a.set_receive_coalescing(coalesce);
        b.set_receive_coalescing(coalesce);
        Pair {
            a,
            b,
            frames: vec![vec![0; usize::from(mtu) + 64]; BURST],
            lens: vec![0; BURST],
            clock,
            start: std::time::Instant::now(),
            offset: 0,
            serviced_at: Instant::from_secs(1),
            datagrams: 0,
            stalls: 0,
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        let real = match self.clock {
            Clock::Real => self.start.elapsed().as_nanos() as u64,
            Clock::Virtual => 0,
        };
        Instant::from_secs(1).saturating_add(Duration::from_nanos(real + self.offset))
    }

    /// The time [`Pair::service`] last read from the clock: what the application's calls
    /// between two services use, so that the request/response loop reads the clock once
    /// per service, as the smoltcp pair does (`smol::Pair::service`).
    pub fn clock(&self) -> Instant {
        self.serviced_at
    }

    /// Fires due timers, then moves datagrams both ways until both hosts are quiet
    /// (reading the clock once). Returns the number of datagrams moved.
    pub fn service(&mut self) -> u64 {
        let now = self.now();
        self.serviced_at = now;
        for s in [&mut self.a, &mut self.b] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
        self.pump(now)
    }

    /// Moves datagrams both ways until both hosts are quiet, in transmit bursts of up to
    /// [`BURST`] datagrams (the same datagrams as one `poll_transmit` at a time: what the
    /// receiver does cannot change what the sender has to send). Each burst of several
    /// datagrams reaches the receiver in one `Stack::receive_batch`, as a NIC driver hands
    /// over one NAPI poll's datagrams, so that the receiver coalesces runs of in-order
    /// data segments; a lone datagram goes to `Stack::receive`.
    pub fn pump(&mut self, now: Instant) -> u64 {
        let mut total = 0;
        loop {
            let mut n = 0;
            for a_to_b in [true, false] {
                let (src, dst) = if a_to_b {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                // A host with nothing to send is not polled (`has_pending_transmit` is
                // exact when it says no), as the smoltcp pair stops polling once both
                // directions are quiet.
                while src.has_pending_transmit() {
                    let k = src.poll_transmit_burst(now, &mut self.frames, &mut self.lens);
                    if k == 1 {
                        dst.receive(now, &self.frames[0][..self.lens[0]]);
                    } else if k > 1 {
                        let mut batch: [&[u8]; BURST] = [&[]; BURST];
                        for ((b, f), &len) in batch.iter_mut().zip(&self.frames).zip(&self.lens) {
                            *b = &f[..len];
                        }
                        dst.receive_batch(now, &batch[..k]);
                    }
                    n += k as u64;
                    if k < self.frames.len() {
                        break;
                    }
                }
            }
            total += n;
            if n == 0 {
                break;
            }
        }
        self.datagrams += total;
        total
    }

    /// Jumps the clock forward by `d`, then services both hosts.
    pub fn advance(&mut self, d: Duration) -> u64 {
        self.offset += d.as_nanos() as u64;
        self.service()
    }

    /// Nothing could move: jumps the clock to the earlier deadline of the two hosts and
    /// services them. `false` when neither host has a timer.
    pub fn jump_to_timer(&mut self) -> bool {
        let next = match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(x), Some(y)) => x.min(y),
            (x, y) => match x.or(y) {
                Some(t) => t,
                None => return false,
            },
        };
        let now = self.now();
        if next > now {
            self.offset += next.saturating_duration_since(now).as_nanos() as u64;
        }
        self.stalls += 1;
        self.service();
        true
    }

    /// A listener on the server at `port`, with `opts` set before `listen` (accepted
    /// sockets inherit them).
    pub fn listen(
        &mut self,
        port: u16,
        backlog: i32,
        opts: &[SockOpt],
    ) -> Result<SocketId, String> {
        let l = self.b.socket(Family::V4).map_err(|e| err("socket", e))?;
        for &o in opts {
            self.b.setsockopt(l, o).map_err(|e| err("setsockopt", e))?;
        }
        self.b.bind(l, server(port)).map_err(|e| err("bind", e))?;
        self.b.listen(l, backlog).map_err(|e| err("listen", e))?;
        Ok(l)
    }

    /// A client socket with `opts`, connecting to the server's `port` (not yet serviced).
    pub fn connect(&mut self, port: u16, opts: &[SockOpt]) -> Result<SocketId, String> {
        let now = self.now();
        let c = self.a.socket(Family::V4).map_err(|e| err("socket", e))?;
        for &o in opts {
            self.a.setsockopt(c, o).map_err(|e| err("setsockopt", e))?;
        }
        match self.a.connect(now, c, server(port)) {
            Err(Errno::EINPROGRESS) | Ok(()) => Ok(c),
            Err(e) => Err(err("connect", e)),
        }
    }

    /// Connects a client to a listener and accepts it: `(client, server side)`.
    pub fn establish(
        &mut self,
        listener: SocketId,
        port: u16,
        opts: &[SockOpt],
    ) -> Result<(SocketId, SocketId), String> {
        let c = self.connect(port, opts)?;
        for _ in 0..16 {
            self.service();
            match self.b.accept(listener) {
                Ok((s, _)) => return Ok((c, s)),
                Err(Errno::EAGAIN) => {
                    if !self.jump_to_timer() {
                        break;
                    }
                }
                Err(e) => return Err(err("accept", e)),
            }
        }
        Err("synack: handshake did not complete".into())
    }
}

/// Reads exactly `buf.len()` bytes from `s` on `host`, servicing the pair (and jumping to
/// timers when stuck) between attempts.
fn read_exact(p: &mut Pair, client: bool, s: SocketId, buf: &mut [u8]) -> Result<(), String> {
    let mut got = 0;
    let mut idle = 0;
    while got < buf.len() {
        let now = p.clock();
        let host = if client { &mut p.a } else { &mut p.b };
        match host.recv(now, s, &mut buf[got..], RecvFlags::default()) {
            Ok(0) => return Err("synack: unexpected end of stream".into()),
            Ok(k) => {
                got += k;
                idle = 0;
            }
            Err(Errno::EAGAIN) => {
                if p.service() == 0 {
                    idle += 1;
                    if idle > 64 || !p.jump_to_timer() {
                        return Err("synack: read stalled".into());
                    }
                }
            }
            Err(e) => return Err(err("recv", e)),
        }
    }
    Ok(())
}

/// The socket options of the bulk workload: both buffers at `buffer` bytes as held by
/// the socket (`SO_SNDBUF`/`SO_RCVBUF` store twice the value set, as on Linux).
fn buffer_opts(buffer: usize) -> [SockOpt; 2] {
    let half = i32::try_from(buffer / 2).unwrap_or(i32::MAX);
    [SockOpt::SndBuf(half), SockOpt::RcvBuf(half)]
}

/// Bulk: `w.bytes` from client to server. With [`BulkApi::Copy`], 64 KiB application
/// writes and reads (`send`/`recv`); with [`BulkApi::Lend`], the sender writes its bytes
/// straight into the send ring (`send_with`) and the reader takes whole slices of the
/// receive ring (`recv_with`), looking at the first byte of each.
pub fn bulk(w: Bulk) -> Result<Run, String> {
    let mut p = Pair::new(w.mtu, Clock::Real);
    let opts = buffer_opts(w.buffer);
    let l = p.listen(5001, 128, &opts)?;
    let (c, s) = p.establish(l, 5001, &opts)?;
    let app = vec![0x5au8; 64 << 10];
    let mut sink = vec![0u8; 64 << 10];
    let (mut written, mut read) = (0u64, 0u64);
    let mut seen = 0x5au8;
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    while read < w.bytes {
        let mut progress = false;
        let now = p.now();
        while written < w.bytes {
            let n = (w.bytes - written).min(app.len() as u64) as usize;
            let r = match w.api {
                BulkApi::Copy => p.a.send(now, c, &app[..n]),
                BulkApi::Lend => {
                    let left = w.bytes - written;
                    p.a.send_with(now, c, |free| {
                        let k = (free.len() as u64).min(left) as usize;
                        free[..k].fill(0x5a);
                        k
                    })
                }
            };
            match r {
                Ok(k) => {
                    written += k as u64;
                    progress |= k > 0;
                    if k == 0 {
                        break;
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(err("send", e)),
            }
        }
        progress |= p.service() > 0;
        let now = p.now();
        loop {
            let r = match w.api {
                BulkApi::Copy => p.b.recv(now, s, &mut sink, RecvFlags::default()),
                BulkApi::Lend => p.b.recv_with(now, s, |data| {
                    seen &= data[0];
                    data.len()
                }),
            };
            match r {
                Ok(0) => return Err("synack: unexpected end of stream".into()),
                Ok(k) => {
                    read += k as u64;
                    progress = true;
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(err("recv", e)),
            }
        }
        if !progress && !p.jump_to_timer() {
            return Err("synack: bulk stalled with no timer".into());
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let first = match w.api {
        BulkApi::Copy => sink[0],
        BulkApi::Lend => seen,
    };
    if first != 0x5a {
        return Err("synack: received bytes differ".into());
    }
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}

/// Many active: `w.conns` connections opened in waves of 2048 (untimed), then each moves
/// `w.bytes` each way in rounds (see [`Many`]); the time is that of the data rounds.
pub fn many(w: Many) -> Result<Run, String> {
    const PORT: u16 = 5002;
    const WAVE: usize = 2048;
    if w.conns > 28_000 {
        return Err("synack: many is limited to 28,000 connections (ephemeral ports)".into());
    }
    let mut p = Pair::new(1500, Clock::Real);
    let opts = buffer_opts(w.buffer);
    let l = p.listen(PORT, 4096, &opts)?;
    let (mut clients, mut servers) = (Vec::new(), Vec::new());
    while clients.len() < w.conns {
        let wave = (w.conns - clients.len()).min(WAVE);
        for _ in 0..wave {
            clients.push(p.connect(PORT, &opts)?);
        }
        p.service();
        while let Ok((s, _)) = p.b.accept(l) {
            servers.push(s);
        }
        if servers.len() != clients.len() {
            return Err(format!(
                "synack: {} of {} accepted",
                servers.len(),
                clients.len()
            ));
        }
    }
    let app = vec![0x5au8; w.round];
    let mut sink = vec![0u8; 64 << 10];
    // Per socket (client i at 2i, server i at 2i + 1): bytes written and read.
    let mut sent = vec![0u64; 2 * w.conns];
    let mut got = vec![0u64; 2 * w.conns];
    let (mut read, total) = (0u64, w.total());
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    while read < total {
        let mut progress = false;
        let now = p.now();
        for i in 0..w.conns {
            for (k, host, sock) in [
                (2 * i, &mut p.a, clients[i]),
                (2 * i + 1, &mut p.b, servers[i]),
            ] {
                let n = (w.bytes - sent[k]).min(w.round as u64) as usize;
                if n == 0 {
                    continue;
                }
                match host.send(now, sock, &app[..n]) {
                    Ok(m) => {
                        sent[k] += m as u64;
                        progress |= m > 0;
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(e) => return Err(err("send", e)),
                }
            }
        }
        progress |= p.service() > 0;
        let now = p.now();
        for i in 0..w.conns {
            for (k, host, sock) in [
                (2 * i, &mut p.a, clients[i]),
                (2 * i + 1, &mut p.b, servers[i]),
            ] {
                while got[k] < w.bytes {
                    match host.recv(now, sock, &mut sink, RecvFlags::default()) {
                        Ok(0) => return Err("synack: unexpected end of stream".into()),
                        Ok(m) => {
                            got[k] += m as u64;
                            read += m as u64;
                            progress = true;
                        }
                        Err(Errno::EAGAIN) => break,
                        Err(e) => return Err(err("recv", e)),
                    }
                }
            }
        }
        if !progress && !p.jump_to_timer() {
            return Err("synack: many stalled with no timer".into());
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if sink[0] != 0x5a {
        return Err("synack: received bytes differ".into());
    }
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}

/// Request/response: `count` round trips of a 1 KiB request and a 1 KiB response, with
/// TCP_NODELAY on both sockets.
pub fn request_response(count: u64) -> Result<Run, String> {
    let mut p = Pair::new(1500, Clock::Real);
    let opts = [SockOpt::NoDelay(true)];
    let l = p.listen(7, 128, &opts)?;
    let (c, s) = p.establish(l, 7, &opts)?;
    let req = [0x11u8; RR_MESSAGE];
    let resp = [0x22u8; RR_MESSAGE];
    let mut buf = [0u8; RR_MESSAGE];
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    for _ in 0..count {
        // The clock is read once per `service` (as in `smol::request_response`): the
        // application's calls use the time of the last one.
        let now = p.clock();
        if p.a.send(now, c, &req) != Ok(RR_MESSAGE) {
            return Err("synack: request not accepted whole".into());
        }
        p.service();
        read_exact(&mut p, false, s, &mut buf)?;
        let now = p.clock();
        if p.b.send(now, s, &resp) != Ok(RR_MESSAGE) {
            return Err("synack: response not accepted whole".into());
        }
        p.service();
        read_exact(&mut p, true, c, &mut buf)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    if buf != resp {
        return Err("synack: response bytes differ".into());
    }
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}

/// Connection churn: `count` cycles of handshake, one byte each way, close by the client
/// then the server, and TIME_WAIT's end (the virtual clock jumps past 2×MSL after every
/// cycle, so the client's TIME_WAIT expires and its port is free again). `buffer`: both
/// buffers' size as the socket holds it, or `None` for the defaults (`tcp_wmem`/`tcp_rmem`).
pub fn churn(count: u64, buffer: Option<usize>) -> Result<Run, String> {
    let mut p = Pair::new(1500, Clock::Virtual);
    let opts: Vec<SockOpt> = buffer.map(|b| buffer_opts(b).to_vec()).unwrap_or_default();
    let l = p.listen(80, 4096, &opts)?;
    let mut one = [0u8; 1];
    let msl2 = Duration::from_millis(2 * u64::from(p.a.sysctl().tcp_msl_ms) + 1000);
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    for _ in 0..count {
        let (c, s) = p.establish(l, 80, &opts)?;
        let now = p.now();
        if p.a.send(now, c, b"q") != Ok(1) {
            return Err("synack: client byte not accepted".into());
        }
        p.service();
        read_exact(&mut p, false, s, &mut one)?;
        let now = p.now();
        if p.b.send(now, s, b"r") != Ok(1) {
            return Err("synack: server byte not accepted".into());
        }
        p.service();
        read_exact(&mut p, true, c, &mut one)?;
        let now = p.now();
        p.a.close(now, c).map_err(|e| err("close", e))?;
        p.service();
        let now = p.now();
        match p.b.recv(now, s, &mut one, RecvFlags::default()) {
            Ok(0) => {}
            other => return Err(format!("synack: server expected EOF, got {other:?}")),
        }
        p.b.close(now, s).map_err(|e| err("close", e))?;
        p.service();
        p.advance(msl2);
    }
    let secs = t0.elapsed().as_secs_f64();
    if p.a.connection_count() != 0 || p.b.connection_count() != 0 {
        return Err(format!(
            "synack: {} + {} connections left after churn",
            p.a.connection_count(),
            p.b.connection_count()
        ));
    }
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}

/// What the scale workload measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Established connections (each has a client and a server endpoint).
    pub conns: usize,
    /// Wall-clock seconds to open and accept all of them.
    pub setup_secs: f64,
    /// Live heap bytes per endpoint (both stacks' growth over 2 × `conns`), data buffers
    /// excluded (they are allocated on first data and none has moved), or `None` when the
    /// counting allocator is not installed.
    pub bytes_per_endpoint: Option<f64>,
    /// Nanoseconds per `Stack::receive` of a one-byte segment to a random established
    /// connection (uniform over a warmed subset of at most [`DEMUX_WARM`] connections),
    /// at this many connections.
    pub demux_ns: f64,
    /// The same segments through `Stack::receive_batch` (one call per batch of 256).
    pub demux_batch_ns: f64,
    /// Nanoseconds per demux lookup alone (`Stack::has_connection` of a random
    /// established 4-tuple, uniform over all connections: hash, table probe, tuple check
    /// in the connection).
    pub lookup_ns: f64,
    /// The oracle baselines and the hot working set: see [`Oracle`].
    pub oracle: Oracle,
}

/// What a perfect demux would cost, measured in the same run and access pattern as the
/// demux itself (batches of each interleaved), and the same for a hot working set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Oracle {
    /// `Stack::bench_has_connection_oracle` (straight to the connection's slot by index)
    /// over the same uniform pattern as [`Scale::lookup_ns`].
    pub lookup_ns: f64,
    /// `Stack::has_connection` over a hot working set of [`HOT`] connections among all.
    pub hot_lookup_ns: f64,
    /// The oracle lookup over the hot working set.
    pub hot_lookup_oracle_ns: f64,
    /// `Stack::bench_receive_oracle` (receive with the demux lookup replaced by the
    /// connection's index) over the same uniform pattern as [`Scale::demux_ns`].
    pub receive_ns: f64,
    /// `Stack::receive` over the hot working set (batches of [`HOT`] packets, one to each
    /// hot connection, in random order).
    pub hot_receive_ns: f64,
    /// The oracle receive over the hot working set.
    pub hot_receive_oracle_ns: f64,
}

/// Connections in the hot working set (the active few among many idle ones).
pub const HOT: usize = 64;

/// Opens `n` idle connections between the pair (server ports from 10000, one listener per
/// 60,000 connections, ephemeral ports 1024–65535) and returns the client sockets.
fn open_many(
    p: &mut Pair,
    n: usize,
    clients: &mut Vec<SocketId>,
    servers: &mut Vec<SocketId>,
) -> Result<(), String> {
    const PER_PORT: usize = 60_000;
    const WAVE: usize = 2048;
    // Small buffers: the demux step writes one byte here and there, which allocates the
    // rings of the connections it touches (after the memory was measured).
    let opts = [
        SockOpt::SndBuf(2304),
        SockOpt::RcvBuf(2304),
        SockOpt::NoDelay(true),
    ];
    let ports = n.div_ceil(PER_PORT);
    let mut listeners = Vec::with_capacity(ports);
    for i in 0..ports {
        listeners.push(p.listen(10_000 + i as u16, 4096, &opts)?);
    }
    let mut opened = 0;
    while opened < n {
        let wave = (n - opened).min(WAVE);
        for k in 0..wave {
            let port = 10_000 + ((opened + k) / PER_PORT) as u16;
            clients.push(p.connect(port, &opts)?);
        }
        p.service();
        for &l in &listeners {
            while let Ok((s, _)) = p.b.accept(l) {
                servers.push(s);
            }
        }
        opened += wave;
        if servers.len() != opened {
            return Err(format!("synack: {} of {opened} accepted", servers.len()));
        }
    }
    Ok(())
}

/// `Stack::receive` of a demux packet with at most 10 connections (a separate symbol for
/// `valgrind --tool=callgrind --toggle-collect=*callgrind_demux_few*`).
#[inline(never)]
fn callgrind_demux_few(b: &mut Stack, now: Instant, frame: &[u8]) {
    b.receive(now, frame);
}

/// `Stack::receive` of a demux packet with more than 10 connections (its body differs
/// from [`callgrind_demux_few`]'s so that the two are never merged into one symbol).
#[inline(never)]
fn callgrind_demux_many(b: &mut Stack, now: Instant, frame: &[u8]) -> u64 {
    b.receive(now, frame);
    std::hint::black_box(0xdeu64)
}

/// `Stack::receive` of a demux packet to the hot working set with more than 10
/// connections (`--toggle-collect=*callgrind_demux_hot*`).
#[inline(never)]
fn callgrind_demux_hot(b: &mut Stack, now: Instant, frame: &[u8]) {
    b.receive(now, frame);
    std::hint::black_box(0x407u32);
}

/// `Stack::bench_receive_oracle` of a demux packet, uniform pattern
/// (`--toggle-collect=*callgrind_oracle_many*`).
#[inline(never)]
fn callgrind_oracle_many(b: &mut Stack, now: Instant, frame: &[u8], id: ConnId) {
    b.bench_receive_oracle(now, frame, id);
}

/// `Stack::bench_receive_oracle` of a demux packet to the hot working set
/// (`--toggle-collect=*callgrind_oracle_hot*`).
#[inline(never)]
fn callgrind_oracle_hot(b: &mut Stack, now: Instant, frame: &[u8], id: ConnId) {
    b.bench_receive_oracle(now, frame, id);
    std::hint::black_box(0x407u32);
}

/// How a batch of demux packets is received.
#[derive(Clone, Copy)]
enum How<'a> {
    /// `Stack::receive`, one call per datagram (`hot`: to the hot working set).
    Receive {
        /// To the hot working set (a separate callgrind symbol).
        hot: bool,
    },
    /// `Stack::receive_batch`, one call for the batch.
    Batch,
    /// `Stack::bench_receive_oracle`, with the server connection of each client.
    Oracle {
        /// Each client's server connection.
        ids: &'a [ConnId],
        /// To the hot working set (a separate callgrind symbol).
        hot: bool,
    },
}

/// Frames for one batch of demux packets.
struct Batch {
    frames: Vec<Vec<u8>>,
    lens: Vec<usize>,
}

/// Sends one byte on each picked client, then times the server's `receive` of the whole
/// batch (through the `callgrind_demux_*` wrappers when `timed`, so a callgrind run that
/// toggles on them sees only the measured packets); the server reads the bytes and the
/// pair is serviced, untimed. Returns the nanoseconds spent in `receive`.
fn one_batch(
    p: &mut Pair,
    clients: &[SocketId],
    servers: &[SocketId],
    picked: &[usize],
    b: &mut Batch,
    timed: bool,
    how: How<'_>,
) -> Result<u128, String> {
    let batched = matches!(how, How::Batch);
    let mut one = [0u8; 16];
    for (slot, &i) in picked.iter().enumerate() {
        let now = p.now();
        if p.a.send(now, clients[i], b"z") != Ok(1) {
            return Err("synack: demux byte not accepted".into());
        }
        let mut len = p.a.poll_transmit(now, &mut b.frames[slot]);
        if len.is_none() {
            // Held by the congestion window: let the ACKs in and try again.
            p.jump_to_timer();
            len = p.a.poll_transmit(p.now(), &mut b.frames[slot]);
        }
        b.lens[slot] = len.ok_or("synack: demux segment not sent")?;
    }
    let now = p.now();
    let slices: Vec<&[u8]> = if batched {
        b.frames
            .iter()
            .zip(&b.lens)
            .take(picked.len())
            .map(|(f, &len)| &f[..len])
            .collect()
    } else {
        Vec::new()
    };
    let t0 = std::time::Instant::now();
    let few = clients.len() <= 10;
    if batched {
        p.b.receive_batch(now, &slices);
    }
    for (k, (f, &len)) in b.frames.iter().zip(&b.lens).take(picked.len()).enumerate() {
        if batched {
            break;
        }
        match how {
            How::Oracle { ids, .. } if few => {
                p.b.bench_receive_oracle(now, &f[..len], ids[picked[k]]);
            }
            How::Oracle { ids, hot: false } => {
                callgrind_oracle_many(&mut p.b, now, &f[..len], ids[picked[k]]);
            }
            How::Oracle { ids, hot: true } => {
                callgrind_oracle_hot(&mut p.b, now, &f[..len], ids[picked[k]]);
            }
            _ if !timed => p.b.receive(now, &f[..len]),
            _ if few => callgrind_demux_few(&mut p.b, now, &f[..len]),
            How::Receive { hot: true } => callgrind_demux_hot(&mut p.b, now, &f[..len]),
            _ => {
                std::hint::black_box(callgrind_demux_many(&mut p.b, now, &f[..len]));
            }
        }
    }
    let ns = t0.elapsed().as_nanos();
    for &i in picked {
        match p.b.recv(now, servers[i], &mut one, RecvFlags::default()) {
            Ok(k) if k >= 1 => {}
            other => return Err(format!("synack: demux byte not received: {other:?}")),
        }
    }
    p.service();
    Ok(ns)
}

/// Most connections the demux step touches: the first byte on a connection allocates its
/// rings, so the measured packets go to a warmed-up subset (every connection when there
/// are at most this many) while the demux table holds all of them.
const DEMUX_WARM: usize = 100_000;

/// Per-packet receive cost: a warm-up sends one byte on each connection of a random subset
/// (at most [`DEMUX_WARM`]; with `hot`, the [`HOT`] connections of the working set),
/// untimed; then batches of one-byte segments (at most 256 distinct connections of the
/// subset per batch, chosen at random; with `hot`, each hot connection once, in random
/// order) are built by the client and the server's receive of each whole batch is timed.
/// About `packets` segments are timed; the figure is the median over batches of the
/// nanoseconds per packet. With `ids` (each client's server connection),
/// batches alternate between `Stack::receive` and the oracle
/// (`Stack::bench_receive_oracle`), and the second figure is the oracle's; otherwise it
/// is 0.
fn demux_cost(
    p: &mut Pair,
    clients: &[SocketId],
    servers: &[SocketId],
    packets: usize,
    batched: bool,
    hot: bool,
    ids: Option<&[ConnId]>,
) -> Result<(f64, f64), String> {
    let mut rng = Rng::new(if hot { 0x407 } else { 0x5eed });
    let n = clients.len();
    let keep = if hot { HOT } else { DEMUX_WARM };
    let subset: Vec<usize> = if n <= keep {
        (0..n).collect()
    } else {
        // A random subset, sampled without replacement (partial Fisher–Yates).
        let mut all: Vec<usize> = (0..n).collect();
        for k in 0..keep {
            let j = k + rng.below(n - k);
            all.swap(k, j);
        }
        all.truncate(keep);
        all
    };
    let batch = subset.len().min(256);
    let mut b = Batch {
        frames: (0..batch).map(|_| vec![0u8; 128]).collect(),
        lens: vec![0; batch],
    };
    for chunk in subset.chunks(batch) {
        one_batch(
            p,
            clients,
            servers,
            chunk,
            &mut b,
            false,
            How::Receive { hot },
        )?;
    }
    let mut picked = Vec::with_capacity(batch);
    let (mut total_ns, mut oracle_ns) = (Vec::new(), Vec::new());
    let (mut done, mut oracle_done) = (0usize, 0usize);
    let mut turn = 0usize;
    while done + oracle_done < packets {
        picked.clear();
        if batch == subset.len() {
            // Every connection of the subset once, in random order.
            picked.extend_from_slice(&subset);
            for k in (1..picked.len()).rev() {
                picked.swap(k, rng.below(k + 1));
            }
        }
        while picked.len() < batch {
            let i = subset[rng.below(subset.len())];
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        turn += 1;
        match ids {
            Some(ids) if turn.is_multiple_of(2) => {
                let ns = one_batch(
                    p,
                    clients,
                    servers,
                    &picked,
                    &mut b,
                    true,
                    How::Oracle { ids, hot },
                )?;
                oracle_ns.push(ns as f64 / batch as f64);
                oracle_done += batch;
            }
            _ => {
                let how = if batched {
                    How::Batch
                } else {
                    How::Receive { hot }
                };
                let ns = one_batch(p, clients, servers, &picked, &mut b, true, how)?;
                total_ns.push(ns as f64 / batch as f64);
                done += batch;
            }
        }
    }
    Ok((median_of(total_ns), median_of(oracle_ns)))
}

/// Nanoseconds per demux lookup of a random established 4-tuple on the server side
/// (`Stack::has_connection`) and per oracle lookup (`Stack::bench_has_connection_oracle`,
/// straight to the connection by index), over about `lookups` lookups, the two
/// interleaved in groups of 256 (the figures are medians over groups); the tuples are
/// read first, untimed. Uniform over all
/// connections, or with `hot` over [`HOT`] of them chosen at random.
fn lookup_cost(
    p: &Pair,
    servers: &[SocketId],
    ids: &[ConnId],
    lookups: usize,
    hot: bool,
) -> Result<(f64, f64), String> {
    let mut rng = Rng::new(if hot { 0x4077 } else { 0x100c });
    let set: Vec<usize> = if hot && servers.len() > HOT {
        let mut set = Vec::with_capacity(HOT);
        while set.len() < HOT {
            let i = rng.below(servers.len());
            if !set.contains(&i) {
                set.push(i);
            }
        }
        set
    } else {
        (0..servers.len()).collect()
    };
    let mut tuples = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let i = set[rng.below(set.len())];
        let s = servers[i];
        let local = p.b.local_addr(s).map_err(|e| err("getsockname", e))?;
        let peer = p.b.peer_addr(s).map_err(|e| err("getpeername", e))?;
        tuples.push((local, peer, ids[i]));
    }
    let (mut ns, mut oracle_ns) = (Vec::new(), Vec::new());
    let (mut found, mut oracle_found) = (0usize, 0usize);
    let (mut done, mut oracle_done) = (0usize, 0usize);
    // Each lookup's input depends on the previous result (`chain`, always 0, which the
    // compiler cannot know), so lookups run one after another as the lookups of
    // successive packets do, instead of overlapping their cache misses.
    let zero = std::hint::black_box(0usize);
    let mut chain = 0usize;
    for (k, group) in tuples.chunks(256).enumerate() {
        let t0 = std::time::Instant::now();
        if k.is_multiple_of(2) {
            for j in 0..group.len() {
                let (l, r, _) = group[(j + chain).min(group.len() - 1)];
                let hit = p.b.has_connection(l, r);
                chain = usize::from(hit) & zero;
                found += usize::from(hit);
            }
            ns.push(t0.elapsed().as_nanos() as f64 / group.len() as f64);
            done += group.len();
        } else {
            for j in 0..group.len() {
                let (_, _, id) = group[(j + chain).min(group.len() - 1)];
                let hit = p.b.bench_has_connection_oracle(id);
                chain = usize::from(hit) & zero;
                oracle_found += usize::from(hit);
            }
            oracle_ns.push(t0.elapsed().as_nanos() as f64 / group.len() as f64);
            oracle_done += group.len();
        }
    }
    if found != done || oracle_found != oracle_done {
        return Err(format!(
            "synack: {found} of {done} lookups found, {oracle_found} of {oracle_done} oracle"
        ));
    }
    Ok((median_of(ns), median_of(oracle_ns)))
}

/// The median of per-batch figures (a batch the scheduler interrupted moves it little),
/// 0 for none.
fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Pairs each client with its accepted server socket (by the client's port).
fn match_servers(
    p: &Pair,
    clients: &[SocketId],
    servers: &[SocketId],
) -> Result<Vec<SocketId>, String> {
    let mut by_port = std::collections::HashMap::with_capacity(servers.len());
    for &s in servers {
        let peer = p.b.peer_addr(s).map_err(|e| err("getpeername", e))?;
        by_port.insert(
            (
                peer.port(),
                p.b.local_addr(s).map_err(|e| err("getsockname", e))?.port(),
            ),
            s,
        );
    }
    clients
        .iter()
        .map(|&c| {
            let me = p.a.local_addr(c).map_err(|e| err("getsockname", e))?;
            let them = p.a.peer_addr(c).map_err(|e| err("getpeername", e))?;
            by_port
                .get(&(me.port(), them.port()))
                .copied()
                .ok_or_else(|| "synack: client without a server socket".to_string())
        })
        .collect()
}

/// The pair the scale workloads open their connections on: Linux defaults with the whole
/// port range above 1023 and a listen backlog that never limits.
fn scale_pair() -> Pair {
    let mut s = Sysctl::linux();
    s.ip_local_port_range = (1024, 65535);
    s.somaxconn = 65535;
    Pair::with_sysctl(1500, Clock::Real, s)
}

/// Scale after traffic: `n` established connections that each moved `bytes` each way
/// (written, read by the peer and acknowledged), then went idle; live heap bytes per
/// endpoint, excluding the rings' data storage (the bytes of each send and receive ring's
/// allocation, [`Stack::buffer_storage`]), or `None` without the counting allocator.
pub fn scale_after_traffic(n: usize, bytes: usize) -> Result<Option<f64>, String> {
    let mut p = scale_pair();
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    let before = crate::counting::live_bytes();
    open_many(&mut p, n, &mut clients, &mut servers)?;
    let servers = match_servers(&p, &clients, &servers)?;
    let app = vec![0x5au8; bytes];
    let mut sink = vec![0u8; bytes.max(1)];
    // Per socket (client i at 2i, server i at 2i + 1): bytes written and read.
    let mut sent = vec![0usize; 2 * n];
    let mut got = vec![0usize; 2 * n];
    let mut open: Vec<usize> = (0..n).collect();
    while !open.is_empty() {
        let mut progress = false;
        let now = p.now();
        for &i in &open {
            for (k, host, sock) in [
                (2 * i, &mut p.a, clients[i]),
                (2 * i + 1, &mut p.b, servers[i]),
            ] {
                if sent[k] < bytes {
                    match host.send(now, sock, &app[sent[k]..]) {
                        Ok(m) => {
                            sent[k] += m;
                            progress |= m > 0;
                        }
                        Err(Errno::EAGAIN) => {}
                        Err(e) => return Err(err("send", e)),
                    }
                }
            }
        }
        progress |= p.service() > 0;
        let now = p.now();
        for &i in &open {
            // What client i sent, server i reads (k = 2i + 1), and the other way round.
            for (k, host, sock) in [
                (2 * i, &mut p.a, clients[i]),
                (2 * i + 1, &mut p.b, servers[i]),
            ] {
                while got[k] < bytes {
                    match host.recv(now, sock, &mut sink, RecvFlags::default()) {
                        Ok(0) => return Err("synack: unexpected end of stream".into()),
                        Ok(m) => {
                            got[k] += m;
                            progress = true;
                        }
                        Err(Errno::EAGAIN) => break,
                        Err(e) => return Err(err("recv", e)),
                    }
                }
            }
        }
        let (a, b) = (&p.a, &p.b);
        let done = |i: usize| {
            got[2 * i] == bytes
                && got[2 * i + 1] == bytes
                && a.ioctl_outq(clients[i]) == Ok(0)
                && b.ioctl_outq(servers[i]) == Ok(0)
        };
        open.retain(|&i| !done(i));
        if !open.is_empty() && !progress && !p.jump_to_timer() {
            return Err("synack: after-traffic exchange stalled with no timer".into());
        }
    }
    if bytes > 0 && sink[0] != 0x5a {
        return Err("synack: received bytes differ".into());
    }
    // Idle: let the delayed ACKs and any other pending timers fire (no data moves).
    for _ in 0..64 {
        if !p.jump_to_timer() {
            break;
        }
    }
    let after = crate::counting::live_bytes();
    let rings = p.a.buffer_storage() + p.b.buffer_storage();
    Ok(match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b + rings) as f64 / (2 * n) as f64),
        _ => None,
    })
}

/// Scale: `n` idle established connections (setup time, memory per endpoint), then the
/// per-packet receive cost at `n` connections.
pub fn scale(n: usize, demux_packets: usize) -> Result<Scale, String> {
    let mut p = scale_pair();
    let mut clients = Vec::with_capacity(n);
    let mut servers = Vec::with_capacity(n);
    let before = crate::counting::live_bytes();
    let t0 = std::time::Instant::now();
    open_many(&mut p, n, &mut clients, &mut servers)?;
    let setup_secs = t0.elapsed().as_secs_f64();
    let after = crate::counting::live_bytes();
    let bytes_per_endpoint = match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / (2 * n) as f64),
        _ => None,
    };
    let servers = match_servers(&p, &clients, &servers)?;
    let ids = servers
        .iter()
        .map(|&s| {
            p.b.bench_socket_conn(s)
                .ok_or("synack: server socket without a connection")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (lookup_ns, lookup_oracle_ns) = lookup_cost(&p, &servers, &ids, demux_packets, false)?;
    let (hot_lookup_ns, hot_lookup_oracle_ns) =
        lookup_cost(&p, &servers, &ids, demux_packets, true)?;
    let (demux_ns, receive_oracle_ns) = demux_cost(
        &mut p,
        &clients,
        &servers,
        demux_packets,
        false,
        false,
        Some(&ids),
    )?;
    let (demux_batch_ns, _) = demux_cost(
        &mut p,
        &clients,
        &servers,
        demux_packets / 2,
        true,
        false,
        None,
    )?;
    let (hot_receive_ns, hot_receive_oracle_ns) = demux_cost(
        &mut p,
        &clients,
        &servers,
        demux_packets,
        false,
        true,
        Some(&ids),
    )?;
    let oracle = Oracle {
        lookup_ns: lookup_oracle_ns,
        hot_lookup_ns,
        hot_lookup_oracle_ns,
        receive_ns: receive_oracle_ns,
        hot_receive_ns,
        hot_receive_oracle_ns,
    };
    Ok(Scale {
        oracle,
        demux_batch_ns,
        lookup_ns,
        conns: n,
        setup_secs,
        bytes_per_endpoint,
        demux_ns,
    })
}
