//! smoltcp: two interfaces back to back in one process over an in-memory link.
//!
//! The baseline in its lean configuration (IP medium, so no Ethernet or ARP; IPv4; TCP
//! sockets only). The link device reports the default checksum capabilities, so smoltcp
//! computes and verifies the IPv4 and TCP checksums in software, as synack does. Frames are
//! kept in a free list and reused, so the link itself allocates nothing per packet.

use crate::{Bulk, BulkApi, CLIENT_ADDR, Many, RR_MESSAGE, Run, SERVER_ADDR};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::collections::VecDeque;

/// One direction of the link: frames in flight and spare frames.
#[derive(Debug, Default)]
struct Dir {
    queue: VecDeque<(Vec<u8>, usize)>,
    free: Vec<Vec<u8>>,
}

/// One end of the link as a smoltcp device.
struct End<'a> {
    rx: &'a mut Dir,
    tx: &'a mut Dir,
    mtu: usize,
}

struct Rx<'a> {
    frame: Vec<u8>,
    len: usize,
    free: &'a mut Vec<Vec<u8>>,
}

struct Tx<'a> {
    dir: &'a mut Dir,
    mtu: usize,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.frame[..self.len]);
        self.free.push(self.frame);
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = self
            .dir
            .free
            .pop()
            .unwrap_or_else(|| vec![0; self.mtu.max(len)]);
        if frame.len() < len {
            frame.resize(len, 0);
        }
        let r = f(&mut frame[..len]);
        self.dir.queue.push_back((frame, len));
        r
    }
}

impl Device for End<'_> {
    type RxToken<'b>
        = Rx<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = Tx<'b>
    where
        Self: 'b;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let (frame, len) = self.rx.queue.pop_front()?;
        Some((
            Rx {
                frame,
                len,
                free: &mut self.rx.free,
            },
            Tx {
                dir: self.tx,
                mtu: self.mtu,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            dir: self.tx,
            mtu: self.mtu,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        // Compute on transmit and verify on receive (the default, stated explicitly).
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}

/// Two smoltcp hosts, a client (10.0.0.1) and a server (10.0.0.2), and their link.
pub struct Pair {
    a: Interface,
    b: Interface,
    /// The client's sockets.
    pub sa: SocketSet<'static>,
    /// The server's sockets.
    pub sb: SocketSet<'static>,
    ab: Dir,
    ba: Dir,
    mtu: usize,
    start: std::time::Instant,
    virtual_clock: bool,
    offset: i64,
    /// Clock jumps to a timer because nothing else could move.
    pub stalls: u64,
}

impl core::fmt::Debug for Pair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pair")
            .field("stalls", &self.stalls)
            .finish_non_exhaustive()
    }
}

fn iface(
    mtu: usize,
    addr: core::net::Ipv4Addr,
    seed: u64,
    dir: &mut Dir,
    now: Instant,
) -> Interface {
    let mut cfg = Config::new(HardwareAddress::Ip);
    cfg.random_seed = seed;
    let mut spare = Dir::default();
    let mut dev = End {
        rx: dir,
        tx: &mut spare,
        mtu,
    };
    let mut i = Interface::new(cfg, &mut dev, now);
    i.update_ip_addrs(|a| {
        // A fresh interface has room for its first address.
        let _ = a.push(IpCidr::new(IpAddress::Ipv4(addr), 24));
    });
    i
}

impl Pair {
    /// A pair with link MTU `mtu`, on the wall clock or a virtual one.
    pub fn new(mtu: usize, virtual_clock: bool) -> Pair {
        let mut ab = Dir::default();
        let mut ba = Dir::default();
        let t = Instant::from_secs(1);
        Pair {
            a: iface(mtu, CLIENT_ADDR, 1, &mut ba, t),
            b: iface(mtu, SERVER_ADDR, 2, &mut ab, t),
            sa: SocketSet::new(vec![]),
            sb: SocketSet::new(vec![]),
            ab,
            ba,
            mtu,
            start: std::time::Instant::now(),
            virtual_clock,
            offset: 0,
            stalls: 0,
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        let real = if self.virtual_clock {
            0
        } else {
            self.start.elapsed().as_micros() as i64
        };
        Instant::from_micros(1_000_000 + real + self.offset)
    }

    /// Polls both interfaces until the link is empty (reading the clock once, as
    /// `synack_pair::Pair::service` does); returns whether anything moved.
    pub fn service(&mut self) -> bool {
        let mut moved = false;
        let now = self.now();
        loop {
            let mut dev = End {
                rx: &mut self.ba,
                tx: &mut self.ab,
                mtu: self.mtu,
            };
            self.a.poll(now, &mut dev, &mut self.sa);
            let sent = !self.ab.queue.is_empty();
            let mut dev = End {
                rx: &mut self.ab,
                tx: &mut self.ba,
                mtu: self.mtu,
            };
            self.b.poll(now, &mut dev, &mut self.sb);
            let back = !self.ba.queue.is_empty();
            moved |= sent || back;
            if !back && self.ab.queue.is_empty() {
                return moved;
            }
        }
    }

    /// Jumps the clock by `d` and services the pair.
    pub fn advance(&mut self, d: Duration) {
        self.offset += d.total_micros() as i64;
        self.service();
    }

    /// Nothing could move: jumps the clock to the earlier deadline of the two interfaces.
    pub fn jump_to_timer(&mut self) -> bool {
        let now = self.now();
        let next = match (self.a.poll_at(now, &self.sa), self.b.poll_at(now, &self.sb)) {
            (Some(x), Some(y)) => x.min(y),
            (x, y) => match x.or(y) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > now {
            self.offset += (next - now).total_micros() as i64;
        }
        self.stalls += 1;
        self.service();
        true
    }

    /// A client socket and a server socket, each with `buffer`-byte receive and send
    /// rings. Returns `(client, server)`.
    pub fn sockets(&mut self, buffer: usize) -> (SocketHandle, SocketHandle) {
        let mk = || {
            tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; buffer]),
                tcp::SocketBuffer::new(vec![0; buffer]),
            )
        };
        let c = self.sa.add(mk());
        let s = self.sb.add(mk());
        (c, s)
    }

    /// Listens on `s` and connects `c` to it; services until both are established.
    pub fn establish(
        &mut self,
        c: SocketHandle,
        s: SocketHandle,
        port: u16,
        local_port: u16,
    ) -> Result<(), String> {
        self.sb
            .get_mut::<tcp::Socket>(s)
            .listen(port)
            .map_err(|e| format!("smoltcp: listen: {e}"))?;
        let cx = self.a.context();
        self.sa
            .get_mut::<tcp::Socket>(c)
            .connect(cx, (IpAddress::Ipv4(SERVER_ADDR), port), local_port)
            .map_err(|e| format!("smoltcp: connect: {e}"))?;
        for _ in 0..16 {
            self.service();
            if self.sa.get::<tcp::Socket>(c).state() == tcp::State::Established
                && self.sb.get::<tcp::Socket>(s).state() == tcp::State::Established
            {
                return Ok(());
            }
            if !self.jump_to_timer() {
                break;
            }
        }
        Err("smoltcp: handshake did not complete".into())
    }
}

fn read_exact(p: &mut Pair, client: bool, h: SocketHandle, buf: &mut [u8]) -> Result<(), String> {
    let mut got = 0;
    let mut idle = 0;
    while got < buf.len() {
        let set = if client { &mut p.sa } else { &mut p.sb };
        let k = set
            .get_mut::<tcp::Socket>(h)
            .recv_slice(&mut buf[got..])
            .map_err(|e| format!("smoltcp: recv: {e}"))?;
        got += k;
        if k == 0 && !p.service() {
            idle += 1;
            if idle > 64 || !p.jump_to_timer() {
                return Err("smoltcp: read stalled".into());
            }
        }
    }
    Ok(())
}

/// Bulk: `w.bytes` from client to server. With [`BulkApi::Copy`], 64 KiB application
/// writes and reads (`send_slice` and `recv_slice`: one copy in, one copy out, as with
/// synack's `send`/`recv`); with [`BulkApi::Lend`], smoltcp's closure-based `send` and
/// `recv` (each lends one contiguous part of the ring per call): the sender writes its
/// bytes straight into the send ring and the reader takes whole slices, looking at the
/// first byte of each, as synack's `send_with`/`recv_with` do.
pub fn bulk(w: Bulk) -> Result<Run, String> {
    let mut p = Pair::new(usize::from(w.mtu), false);
    let (c, s) = p.sockets(w.buffer);
    p.establish(c, s, 5001, 49152)?;
    let app = vec![0x5au8; 64 << 10];
    let mut sink = vec![0u8; 64 << 10];
    let (mut written, mut read) = (0u64, 0u64);
    let mut seen = 0x5au8;
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    while read < w.bytes {
        let mut progress = false;
        while written < w.bytes {
            let n = (w.bytes - written).min(app.len() as u64) as usize;
            let sock = p.sa.get_mut::<tcp::Socket>(c);
            let k = match w.api {
                BulkApi::Copy => sock.send_slice(&app[..n]),
                BulkApi::Lend => {
                    let left = w.bytes - written;
                    sock.send(|free| {
                        let k = (free.len() as u64).min(left) as usize;
                        free[..k].fill(0x5a);
                        (k, k)
                    })
                }
            }
            .map_err(|e| format!("smoltcp: send: {e}"))?;
            if k == 0 {
                break;
            }
            written += k as u64;
            progress = true;
        }
        progress |= p.service();
        loop {
            let sock = p.sb.get_mut::<tcp::Socket>(s);
            let k = match w.api {
                BulkApi::Copy => sock.recv_slice(&mut sink),
                BulkApi::Lend => sock.recv(|data| {
                    if let Some(&b) = data.first() {
                        seen &= b;
                    }
                    (data.len(), data.len())
                }),
            }
            .map_err(|e| format!("smoltcp: recv: {e}"))?;
            if k == 0 {
                break;
            }
            read += k as u64;
            progress = true;
        }
        if !progress && !p.jump_to_timer() {
            return Err("smoltcp: bulk stalled with no timer".into());
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let first = match w.api {
        BulkApi::Copy => sink[0],
        BulkApi::Lend => seen,
    };
    if first != 0x5a {
        return Err("smoltcp: received bytes differ".into());
    }
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}

/// Many active: `w.conns` socket pairs with `w.buffer`-byte rings, every server socket
/// listening on port 5002 and client `i` connecting from port 10000 + `i`, all established
/// (untimed); then each moves `w.bytes` each way in rounds (see [`Many`]). Which server
/// socket answers which client does not matter: every socket writes and reads the same.
pub fn many(w: Many) -> Result<Run, String> {
    const PORT: u16 = 5002;
    if w.conns > 55_000 {
        return Err("smoltcp: many is limited to 55,000 connections (ports)".into());
    }
    let mut p = Pair::new(1500, false);
    let mut socks = Vec::with_capacity(w.conns);
    for _ in 0..w.conns {
        socks.push(p.sockets(w.buffer));
    }
    let cx = p.a.context();
    for (i, &(c, s)) in socks.iter().enumerate() {
        p.sb.get_mut::<tcp::Socket>(s)
            .listen(PORT)
            .map_err(|e| format!("smoltcp: listen: {e}"))?;
        p.sa.get_mut::<tcp::Socket>(c)
            .connect(cx, (IpAddress::Ipv4(SERVER_ADDR), PORT), 10_000 + i as u16)
            .map_err(|e| format!("smoltcp: connect: {e}"))?;
    }
    let established = |p: &Pair| {
        socks.iter().all(|&(c, s)| {
            p.sa.get::<tcp::Socket>(c).state() == tcp::State::Established
                && p.sb.get::<tcp::Socket>(s).state() == tcp::State::Established
        })
    };
    let mut tries = 0;
    while !established(&p) {
        tries += 1;
        if !p.service() && (tries > 64 || !p.jump_to_timer()) {
            return Err("smoltcp: many: handshakes did not complete".into());
        }
    }
    let app = vec![0x5au8; w.round];
    let mut sink = vec![0u8; 64 << 10];
    let mut sent = vec![0u64; 2 * w.conns];
    let mut got = vec![0u64; 2 * w.conns];
    let (mut read, total) = (0u64, w.total());
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    while read < total {
        let mut progress = false;
        for (i, &(c, s)) in socks.iter().enumerate() {
            for (k, set, h) in [(2 * i, &mut p.sa, c), (2 * i + 1, &mut p.sb, s)] {
                let n = (w.bytes - sent[k]).min(w.round as u64) as usize;
                if n == 0 {
                    continue;
                }
                let m = set
                    .get_mut::<tcp::Socket>(h)
                    .send_slice(&app[..n])
                    .map_err(|e| format!("smoltcp: send: {e}"))?;
                sent[k] += m as u64;
                progress |= m > 0;
            }
        }
        progress |= p.service();
        for (i, &(c, s)) in socks.iter().enumerate() {
            for (k, set, h) in [(2 * i, &mut p.sa, c), (2 * i + 1, &mut p.sb, s)] {
                while got[k] < w.bytes {
                    let m = set
                        .get_mut::<tcp::Socket>(h)
                        .recv_slice(&mut sink)
                        .map_err(|e| format!("smoltcp: recv: {e}"))?;
                    if m == 0 {
                        break;
                    }
                    got[k] += m as u64;
                    read += m as u64;
                    progress = true;
                }
            }
        }
        if !progress && !p.jump_to_timer() {
            return Err("smoltcp: many stalled with no timer".into());
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if sink[0] != 0x5a {
        return Err("smoltcp: received bytes differ".into());
    }
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}

/// Request/response: `count` round trips of 1 KiB each way, Nagle off on both sockets.
pub fn request_response(count: u64) -> Result<Run, String> {
    let mut p = Pair::new(1500, false);
    let (c, s) = p.sockets(64 << 10);
    p.sa.get_mut::<tcp::Socket>(c).set_nagle_enabled(false);
    p.sb.get_mut::<tcp::Socket>(s).set_nagle_enabled(false);
    p.establish(c, s, 7, 49152)?;
    let req = [0x11u8; RR_MESSAGE];
    let resp = [0x22u8; RR_MESSAGE];
    let mut buf = [0u8; RR_MESSAGE];
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    for _ in 0..count {
        let k = p.sa.get_mut::<tcp::Socket>(c).send_slice(&req);
        if k != Ok(RR_MESSAGE) {
            return Err("smoltcp: request not accepted whole".into());
        }
        p.service();
        read_exact(&mut p, false, s, &mut buf)?;
        let k = p.sb.get_mut::<tcp::Socket>(s).send_slice(&resp);
        if k != Ok(RR_MESSAGE) {
            return Err("smoltcp: response not accepted whole".into());
        }
        p.service();
        read_exact(&mut p, true, c, &mut buf)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    if buf != resp {
        return Err("smoltcp: response bytes differ".into());
    }
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}

/// Connection churn: `count` cycles of handshake, one byte each way, close by the client
/// then the server, and TIME_WAIT's end (the virtual clock jumps past smoltcp's 10 s
/// TIME_WAIT after every cycle, so both sockets are closed and reusable). The client's
/// port changes every cycle. The two sockets and their `buffer`-byte rings (64 KiB for
/// `None`) are made once and reused, as smoltcp applications do.
pub fn churn(count: u64, buffer: Option<usize>) -> Result<Run, String> {
    let mut p = Pair::new(1500, true);
    let (c, s) = p.sockets(buffer.unwrap_or(64 << 10));
    let mut one = [0u8; 1];
    let stalls0 = p.stalls;
    let t0 = std::time::Instant::now();
    for i in 0..count {
        p.establish(c, s, 80, 1024 + (i % 64_000) as u16)?;
        if p.sa.get_mut::<tcp::Socket>(c).send_slice(b"q") != Ok(1) {
            return Err("smoltcp: client byte not accepted".into());
        }
        p.service();
        read_exact(&mut p, false, s, &mut one)?;
        if p.sb.get_mut::<tcp::Socket>(s).send_slice(b"r") != Ok(1) {
            return Err("smoltcp: server byte not accepted".into());
        }
        p.service();
        read_exact(&mut p, true, c, &mut one)?;
        p.sa.get_mut::<tcp::Socket>(c).close();
        p.service();
        if p.sb.get::<tcp::Socket>(s).may_recv() {
            return Err("smoltcp: server did not see the FIN".into());
        }
        p.sb.get_mut::<tcp::Socket>(s).close();
        p.service();
        p.advance(Duration::from_secs(11));
        if p.sa.get::<tcp::Socket>(c).state() != tcp::State::Closed
            || p.sb.get::<tcp::Socket>(s).state() != tcp::State::Closed
        {
            return Err(format!(
                "smoltcp: sockets not closed after the cycle ({} / {})",
                p.sa.get::<tcp::Socket>(c).state(),
                p.sb.get::<tcp::Socket>(s).state()
            ));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Run {
        secs,
        stalls: p.stalls - stalls0,
    })
}
