//! A back-to-back harness for `Stack` tests: two hosts, datagrams moved between them by
//! destination address, virtual time advanced to the next deadline.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use synack::stack::{Family, SocketId, Stack, Sysctl};
use synack::{Instant, TcpFlags};
use synack_wire::checksum::PseudoHeader;
use synack_wire::ipv4::{Ipv4Repr, PROTO_TCP};
use synack_wire::tcp::TcpRepr;
use synack_wire::tcp_options::SynOptions;

pub const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// A datagram filter: `(from_a, bytes)` → deliver?
pub type Tap = Box<dyn FnMut(bool, &[u8]) -> bool>;

pub struct Net {
    pub a: Stack,
    pub b: Stack,
    pub now: Instant,
    buf: Vec<u8>,
    /// Datagrams moved a→b and b→a so far.
    pub moved: u64,
    /// Datagrams whose destination is neither host (e.g. replies to spoofed sources).
    pub blackholed: u64,
    /// Optional tap: return false to drop a datagram (`from_a`, bytes).
    pub tap: Option<Tap>,
}

impl Net {
    pub fn new() -> Net {
        Net::with(Sysctl::linux(), Sysctl::linux())
    }

    pub fn with(sa: Sysctl, sb: Sysctl) -> Net {
        let mut a = Stack::new([1; 16], sa);
        a.add_address(A);
        let mut b = Stack::new([2; 16], sb);
        b.add_address(B);
        Net {
            a,
            b,
            now: Instant::from_secs(1),
            buf: vec![0; 2048],
            moved: 0,
            blackholed: 0,
            tap: None,
        }
    }

    fn dst(pkt: &[u8]) -> Option<IpAddr> {
        let b: [u8; 4] = pkt.get(16..20)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(b)))
    }

    /// Moves datagrams until both hosts are quiet; returns how many moved.
    pub fn pump(&mut self) -> u64 {
        let mut total = 0;
        loop {
            let mut n = 0;
            for from_a in [true, false] {
                loop {
                    let (src, dst) = if from_a {
                        (&mut self.a, &mut self.b)
                    } else {
                        (&mut self.b, &mut self.a)
                    };
                    let Some(len) = src.poll_transmit(self.now, &mut self.buf) else {
                        break;
                    };
                    n += 1;
                    let pkt = &self.buf[..len];
                    if let Some(tap) = self.tap.as_mut()
                        && !tap(from_a, pkt)
                    {
                        continue;
                    }
                    match Net::dst(pkt) {
                        Some(d) if dst.is_local(d) => dst.receive(self.now, pkt),
                        _ => self.blackholed += 1,
                    }
                }
            }
            total += n;
            if n == 0 {
                break;
            }
        }
        self.moved += total;
        total
    }

    /// The earlier of both hosts' deadlines.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Jumps to the next deadline (if it is not after `limit`), fires timers and pumps.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.pump();
        let Some(t) = self.next_deadline() else {
            return false;
        };
        if t > limit {
            return false;
        }
        self.now = self.now.max(t);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.pump();
        true
    }

    /// Runs timers until `limit`, then sets the clock to `limit`.
    pub fn run_until(&mut self, limit: Instant) {
        while self.step(limit) {}
        self.now = self.now.max(limit);
        self.pump();
    }

    /// Advances the clock by `d` without firing anything first.
    pub fn advance(&mut self, d: synack::Duration) {
        self.run_until(self.now + d);
    }
}

pub fn addr(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// A listening socket on `ip:port`.
pub fn listener(s: &mut Stack, ip: IpAddr, port: u16, backlog: i32) -> SocketId {
    let l = s.socket(Family::V4).unwrap();
    s.bind(l, addr(ip, port)).unwrap();
    s.listen(l, backlog).unwrap();
    l
}

/// An IPv4 TCP datagram built with synack-wire's emitters (for spoofing and fuzzing).
pub fn tcp_packet(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    syn: Option<SynOptions>,
    payload: &[u8],
) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        panic!("v4 only")
    };
    let repr = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        reserved: 0,
        window: 65535,
        urgent_ptr: 0,
        options: syn.map(|o| o.linux_layout()).unwrap_or_default(),
    };
    let mut seg = vec![0u8; repr.header_len() + payload.len()];
    let n = repr
        .emit(&mut seg, payload, PseudoHeader::v4(s, d))
        .unwrap();
    seg.truncate(n);
    Ipv4Repr::new(s, d, PROTO_TCP).emit(&seg)
}

/// A deterministic xorshift.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// An impaired link applied to one round's datagrams in order: 2% lost, 3% swapped with
/// the next, 1% duplicated.
pub fn impair<T: Clone>(out: &mut Vec<T>, rng: &mut Rng) {
    let mut i = 0;
    while i < out.len() {
        let r = rng.below(100);
        if r < 2 {
            out.remove(i);
            continue;
        }
        if r < 5 && i + 1 < out.len() {
            out.swap(i, i + 1);
        } else if r < 6 {
            let d = out[i].clone();
            out.insert(i, d);
            i += 1;
        }
        i += 1;
    }
}

/// The application side and the clock of one round of the equivalence tests
/// (`stack_burst`, `stack_coalesce`): B's reader drains its socket except on 12 rounds of
/// every 53 (so its window fills now and then), A's always; then the clock moves on by
/// 0.3 to 15.3 ms and due timers fire at both hosts.
pub fn read_and_tick(
    net: &mut Net,
    (c, s): (SocketId, SocketId),
    round: u32,
    sink: &mut [u8],
    rng: &mut Rng,
) {
    let now = net.now;
    let flags = synack::stack::RecvFlags::default();
    if round % 53 <= 40 {
        while let Ok(n) = net.b.recv(now, s, sink, flags) {
            if n == 0 {
                break;
            }
        }
    }
    while let Ok(n) = net.a.recv(now, c, sink, flags) {
        if n == 0 {
            break;
        }
    }
    net.now = now + synack::Duration::from_micros(300 + rng.below(15_000));
    if net.next_deadline().is_some_and(|t| t <= net.now) {
        net.a.handle_timeout(net.now);
        net.b.handle_timeout(net.now);
    }
}
