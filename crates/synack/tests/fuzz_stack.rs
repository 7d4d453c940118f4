//! Structured fuzz smoke of the whole receive path: peer input never panics the stack.
//!
//! Random bytes rarely get past the IP and TCP checksums, so most of this harness builds
//! *valid* datagrams whose fields come from the fuzz input: any of the nine flags, sequence
//! and acknowledgment numbers near the live connection's (so the segment acceptability,
//! RST, SYN and ACK rules of RFC 9293 §3.10.7.4 and RFC 5961 all run), any window, urgent
//! pointer and payload, and option bytes that are well formed or not. Application calls
//! and timer jumps are interleaved, and a share of the inputs are raw bytes. The stack must
//! never panic, and every datagram it emits must parse with correct checksums.
//!
//! Run as a plain test it draws `BOLERO_RANDOM_ITERATIONS` inputs (100,000 by default,
//! each a short script of operations); `.ci/run` runs it in release with more.

mod stack_common;

use stack_common::*;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use synack::stack::{Family, RecvFlags, Shutdown, SocketId, Stack};
use synack::{Duration, Instant, TcpFlags};
use synack_wire::checksum::PseudoHeader;
use synack_wire::ipv4::{Ipv4Packet, Ipv4Repr, PROTO_TCP};
use synack_wire::tcp::TcpRepr;
use synack_wire::tcp_options::TcpOptionBuf;

/// Reads fuzz input bytes as little numbers; zeros once the input runs out.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// A server stack `B` with a listener on port 80 and one connection established by a real
/// client stack `A` (whose 4-tuple the fuzz input then impersonates).
fn setup() -> (Stack, SocketId, SocketId, SocketAddr, Instant) {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (conn, peer) = net.b.accept(l).expect("handshake completes");
    let now = net.now;
    (net.b, l, conn, peer, now)
}

/// Checks a datagram the stack sent: it must parse and carry correct checksums.
fn check_emitted(pkt: &[u8]) {
    let ip = Ipv4Packet::new_checked(pkt).expect("emitted datagram parses");
    assert!(ip.checksum_ok(), "emitted IPv4 header checksum is wrong");
    if ip.protocol() == PROTO_TCP {
        let h = synack_wire::tcp::TcpHeader::parse(ip.payload()).expect("emitted TCP parses");
        assert!(
            h.verify_checksum(&PseudoHeader::v4(ip.src(), ip.dst())),
            "emitted TCP checksum is wrong"
        );
    }
}

fn drain(s: &mut Stack, now: Instant, buf: &mut [u8]) {
    let mut n = 0;
    while let Some(len) = s.poll_transmit(now, buf) {
        check_emitted(&buf[..len]);
        n += 1;
        assert!(n < 100_000, "runaway poll_transmit");
    }
}

static OPS: AtomicU64 = AtomicU64::new(0);
/// TCP segments that passed the IP and TCP checks and reached demultiplexing.
static SEGS: AtomicU64 = AtomicU64::new(0);

/// Runs one fuzz input as a script of operations against a fresh stack.
fn run(input: &[u8]) {
    let (mut b, listener, conn, peer, mut now) = setup();
    let setup_segs = b.counters().in_segs;
    let mut out = vec![0u8; 65536];
    let mut cur = Cursor(input);
    let mut ops = 0u64;
    while !cur.is_empty() && ops < 64 {
        ops += 1;
        let op = cur.u8();
        match op % 16 {
            // A segment on the established 4-tuple, numbered near the live values.
            0..=7 => {
                let st = b.status(conn).ok();
                let (rcv_nxt, snd_nxt) = st
                    .map(|s| (s.rcv_nxt.get(), s.snd_nxt.get()))
                    .unwrap_or((0, 0));
                let seq = rcv_nxt.wrapping_add(i32::from(cur.u16() as i16) as u32);
                let ack = snd_nxt.wrapping_add(i32::from(cur.u16() as i16) as u32);
                let seg = segment(&mut cur, peer, seq, ack);
                b.receive(now, &seg);
            }
            // A segment to the listener from a new port (SYNs, stray ACKs, cookies).
            8 | 9 => {
                let port = 1024 + (cur.u16() % 1000);
                let seq = u32::from(cur.u16()) << 16;
                let ack = u32::from(cur.u16()) << 8;
                let seg = segment(&mut cur, SocketAddr::new(IpAddr::V4(PEER), port), seq, ack);
                b.receive(now, &seg);
                while b.accept(listener).is_ok() {}
            }
            10 => {
                let n = usize::from(cur.u8()) * 97;
                let _ = b.send(now, conn, &vec![0x5a; n]);
            }
            11 => {
                let flags = RecvFlags {
                    peek: cur.u8() & 1 == 1,
                    oob: cur.u8() & 1 == 1,
                };
                let _ = b.recv(now, conn, &mut out, flags);
            }
            12 => {
                let _ = match cur.u8() % 4 {
                    0 => b.shutdown(now, conn, Shutdown::Read),
                    1 => b.shutdown(now, conn, Shutdown::Write),
                    2 => b.shutdown(now, conn, Shutdown::Both),
                    _ => b.close(now, conn),
                };
            }
            13 => {
                now += Duration::from_millis(u64::from(cur.u16()) * 7);
                b.handle_timeout(now);
            }
            // Raw bytes, possibly with a valid IPv4 header in front.
            14 => {
                let n = usize::from(cur.u8());
                let raw = cur.take(n).to_vec();
                if op & 0x10 != 0 {
                    b.receive(now, &Ipv4Repr::new(PEER, US, PROTO_TCP).emit(&raw));
                } else {
                    b.receive(now, &raw);
                }
            }
            // Jump to the stack's own next deadline.
            _ => {
                if let Some(t) = b.poll_timeout() {
                    now = now.max(t);
                    b.handle_timeout(now);
                }
            }
        }
        drain(&mut b, now, &mut out);
    }
    OPS.fetch_add(ops, Ordering::Relaxed);
    SEGS.fetch_add(b.counters().in_segs - setup_segs, Ordering::Relaxed);
}

/// A checksum-valid IPv4/TCP datagram from `from` to our port 80 with input-chosen fields.
fn segment(cur: &mut Cursor<'_>, from: SocketAddr, seq: u32, ack: u32) -> Vec<u8> {
    let flags = TcpFlags::from_bits(cur.u16());
    let window = cur.u16();
    let urgent_ptr = cur.u16();
    let opt_len = usize::from(cur.u8() % 41);
    let options = TcpOptionBuf::from_bytes(cur.take(opt_len)).unwrap_or_default();
    let payload_len = usize::from(cur.u8()) * 11;
    let payload = vec![0xa5u8; payload_len];
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: 80,
        seq,
        ack,
        flags,
        reserved: 0,
        window,
        urgent_ptr,
        options,
    };
    let IpAddr::V4(src) = from.ip() else {
        unreachable!("the harness impersonates IPv4 peers only")
    };
    let mut seg = vec![0u8; repr.header_len() + payload.len()];
    let n = repr
        .emit(&mut seg, &payload, PseudoHeader::v4(src, US))
        .expect("buffer sized for the segment");
    seg.truncate(n);
    Ipv4Repr::new(src, US, PROTO_TCP).emit(&seg)
}

#[test]
fn structured_segments_never_panic_the_stack() {
    let iterations = std::env::var("BOLERO_RANDOM_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000usize);
    let inputs = AtomicU64::new(0);
    bolero::check!()
        .with_iterations(iterations)
        .for_each(|input: &[u8]| {
            inputs.fetch_add(1, Ordering::Relaxed);
            run(input);
        });
    let n = inputs.load(Ordering::Relaxed);
    assert!(
        n >= iterations as u64,
        "bolero ran {n} inputs, fewer than {iterations}"
    );
    // Most inputs must reach the engine with several operations each, or the harness is
    // not exercising what it claims to.
    let (ops, segs) = (OPS.load(Ordering::Relaxed), SEGS.load(Ordering::Relaxed));
    println!("fuzz_stack: {n} inputs, {ops} operations, {segs} TCP segments reached demux");
    assert!(ops >= n, "too few operations per input");
    assert!(segs >= n / 2, "too few segments reached the TCP layer");
}
