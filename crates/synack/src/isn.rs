//! Initial sequence numbers (RFC 6528) and SipHash-2-4.
//!
//! RFC 6528 §3: `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)` where `M`
//! is a timer ticking every 4 µs and `F` a keyed pseudorandom function. `F` here is
//! SipHash-2-4 (Aumasson and Bernstein, 2012) under a 128-bit secret the host injects, so
//! tests and the simulator are deterministic. The same keyed hash yields the per-connection
//! timestamp offset (RFC 7323 §5.4 recommends randomising the TSval clock per connection).

use crate::seq::Seq;
use crate::time::Instant;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// SipHash-2-4 of `data` under the 128-bit key `(k0, k1)` (little-endian halves).
pub fn siphash24(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut h = Sip24::new(k0, k1);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h.block(u64::from_le_bytes(word));
    }
    h.finish(chunks.remainder(), data.len())
}

/// SipHash-2-4 one 8-byte block at a time, so that the state after a common prefix can be
/// kept and continued (the same result as [`siphash24`] of the whole message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sip24 {
    v: [u64; 4],
}

impl Sip24 {
    /// The initial state under the key `(k0, k1)`.
    #[inline(always)]
    pub(crate) fn new(k0: u64, k1: u64) -> Sip24 {
        Sip24 {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        let [v0, v1, v2, v3] = &mut self.v;
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13);
        *v1 ^= *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16);
        *v3 ^= *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21);
        *v3 ^= *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17);
        *v1 ^= *v2;
        *v2 = v2.rotate_left(32);
    }

    /// Absorbs one full block, the little-endian word `m` (two compression rounds).
    #[inline(always)]
    pub(crate) fn block(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.round();
        self.v[0] ^= m;
    }

    /// The hash of a message of `len` bytes whose full blocks were absorbed and whose
    /// last `len % 8` bytes are `rest`.
    #[inline(always)]
    pub(crate) fn finish(mut self, rest: &[u8], len: usize) -> u64 {
        // Last block: remaining bytes, zero padding, and the length's low byte on top.
        let mut last = [0u8; 8];
        let take = rest.len().min(7);
        last[..take].copy_from_slice(&rest[..take]);
        last[7] = len as u8;
        self.block(u64::from_le_bytes(last));
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        let [v0, v1, v2, v3] = self.v;
        v0 ^ v1 ^ v2 ^ v3
    }
}

/// A [`FourTuple`] as a connection stores it: 40 bytes instead of two 32-byte
/// `SocketAddr`s. Both addresses take 16 bytes (an IPv4 one the first 4) next to the ports;
/// a tuple this cannot hold exactly (mixed families, an IPv6 flow label or scope id) is
/// kept whole in a box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PackedTuple {
    /// Two addresses of one family without flow label or scope id: local, then remote.
    Plain {
        /// IPv6 addresses (else IPv4).
        v6: bool,
        /// The local and the remote port.
        ports: [u16; 2],
        /// The local and the remote address.
        ips: [[u8; 16]; 2],
    },
    /// Any other tuple.
    Full(Box<FourTuple>),
}

impl PackedTuple {
    /// Packs `t`.
    pub(crate) fn new(t: FourTuple) -> PackedTuple {
        match (t.local, t.remote) {
            (SocketAddr::V4(l), SocketAddr::V4(r)) => {
                let mut ips = [[0; 16]; 2];
                ips[0][..4].copy_from_slice(&l.ip().octets());
                ips[1][..4].copy_from_slice(&r.ip().octets());
                PackedTuple::Plain {
                    v6: false,
                    ports: [l.port(), r.port()],
                    ips,
                }
            }
            (SocketAddr::V6(l), SocketAddr::V6(r))
                if l.flowinfo() == 0
                    && l.scope_id() == 0
                    && r.flowinfo() == 0
                    && r.scope_id() == 0 =>
            {
                PackedTuple::Plain {
                    v6: true,
                    ports: [l.port(), r.port()],
                    ips: [l.ip().octets(), r.ip().octets()],
                }
            }
            _ => PackedTuple::Full(Box::new(t)),
        }
    }

    /// The local port, without unpacking.
    #[inline]
    pub(crate) fn local_port(&self) -> u16 {
        match self {
            PackedTuple::Plain { ports, .. } => ports[0],
            PackedTuple::Full(t) => t.local.port(),
        }
    }

    /// Whether this is `t`, without unpacking.
    #[inline]
    pub(crate) fn is(&self, t: &FourTuple) -> bool {
        match (self, t.local, t.remote) {
            (
                PackedTuple::Plain {
                    v6: false,
                    ports,
                    ips,
                },
                SocketAddr::V4(l),
                SocketAddr::V4(r),
            ) => {
                *ports == [l.port(), r.port()]
                    && ips[0][..4] == l.ip().octets()
                    && ips[1][..4] == r.ip().octets()
            }
            (PackedTuple::Plain { v6: true, .. }, SocketAddr::V6(_), SocketAddr::V6(_)) => {
                self.get() == *t
            }
            (PackedTuple::Full(f), _, _) => **f == *t,
            _ => false,
        }
    }

    /// The tuple.
    #[inline]
    pub(crate) fn get(&self) -> FourTuple {
        let addr = |v6: bool, ip: &[u8; 16], port: u16| {
            let ip = if v6 {
                IpAddr::V6(Ipv6Addr::from(*ip))
            } else {
                IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]))
            };
            SocketAddr::new(ip, port)
        };
        match self {
            PackedTuple::Plain { v6, ports, ips } => {
                FourTuple::new(addr(*v6, &ips[0], ports[0]), addr(*v6, &ips[1], ports[1]))
            }
            PackedTuple::Full(t) => **t,
        }
    }
}

/// A connection's 4-tuple: the local and the remote socket address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

impl FourTuple {
    /// Builds a tuple.
    pub const fn new(local: SocketAddr, remote: SocketAddr) -> FourTuple {
        FourTuple { local, remote }
    }

    /// Serialises the tuple into `buf` (at most 36 bytes) and returns the used length.
    fn encode(&self, buf: &mut [u8; 40]) -> usize {
        let mut n = 0;
        for addr in [self.local, self.remote] {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    buf[n..n + 4].copy_from_slice(&ip.octets());
                    n += 4;
                }
                IpAddr::V6(ip) => {
                    buf[n..n + 16].copy_from_slice(&ip.octets());
                    n += 16;
                }
            }
            buf[n..n + 2].copy_from_slice(&addr.port().to_be_bytes());
            n += 2;
        }
        n
    }
}

/// The RFC 6528 ISN generator: a 4 µs clock plus SipHash-2-4 of the 4-tuple.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IsnGenerator {
    k0: u64,
    k1: u64,
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.write_str("IsnGenerator { .. }")
    }
}

impl IsnGenerator {
    /// A generator keyed with a 128-bit secret (RFC 6528 §3: chosen at boot, kept secret).
    pub const fn new(secret: [u8; 16]) -> IsnGenerator {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            lo[i] = secret[i];
            hi[i] = secret[i + 8];
            i += 1;
        }
        IsnGenerator {
            k0: u64::from_le_bytes(lo),
            k1: u64::from_le_bytes(hi),
        }
    }

    /// SipHash-2-4 of the serialised tuple: its low 32 bits are `F` of RFC 6528, its high
    /// 32 bits the timestamp offset.
    fn prf(&self, tuple: &FourTuple) -> u64 {
        let mut buf = [0u8; 40];
        let n = tuple.encode(&mut buf);
        siphash24(self.k0, self.k1, &buf[..n])
    }

    /// `F(tuple, secret)`: the keyed hash of the 4-tuple, truncated to 32 bits.
    pub fn offset(&self, tuple: &FourTuple) -> u32 {
        self.prf(tuple) as u32
    }

    /// RFC 6528 §3: `ISN = M + F(...)`, `M` a 4-microsecond clock.
    pub fn isn(&self, now: Instant, tuple: &FourTuple) -> Seq {
        self.isn_and_ts_offset(now, tuple).0
    }

    /// A per-connection TSval offset (RFC 7323 §5.4): the other 32 bits of the keyed hash
    /// whose low 32 are `F`. The halves of a PRF's output are independent, so seeing one
    /// tells nothing about the other (as with two hashes under different keys).
    pub fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        (self.prf(tuple) >> 32) as u32
    }

    /// [`IsnGenerator::isn`] and [`IsnGenerator::ts_offset`] from one hash.
    pub fn isn_and_ts_offset(&self, now: Instant, tuple: &FourTuple) -> (Seq, u32) {
        let m = (now.as_micros() / 4) as u32;
        let f = self.prf(tuple);
        (Seq(m.wrapping_add(f as u32)), (f >> 32) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_key() -> (u64, u64) {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let g = IsnGenerator::new(key);
        (g.k0, g.k1)
    }

    #[test]
    fn siphash_paper_appendix_a_vector() {
        // SipHash paper, Appendix A: key 00..0f, message 00..0e → a129ca6149be45e5.
        let (k0, k1) = paper_key();
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn siphash_reference_vectors() {
        // Reference implementation's vectors: message 00..(n-1) under key 00..0f.
        let (k0, k1) = paper_key();
        let msg: [u8; 64] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(k0, k1, &msg[..0]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(k0, k1, &msg[..1]), 0x74f8_39c5_93dc_67fd);
        assert_eq!(siphash24(k0, k1, &msg[..8]), 0x93f5_f579_9a93_2462);
    }

    /// Hashing block by block from a kept state gives what hashing the whole message does.
    #[test]
    fn sip24_blocks_match_the_whole_message() {
        let (k0, k1) = paper_key();
        let msg: Vec<u8> = (0..80u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..msg.len() {
            let data = &msg[..len];
            let mut h = Sip24::new(k0, k1);
            let mut prefix = h;
            for (i, chunk) in data.chunks_exact(8).enumerate() {
                h.block(u64::from_le_bytes(chunk.try_into().unwrap()));
                if i == 1 {
                    prefix = h;
                }
            }
            let rest = &data[len / 8 * 8..];
            assert_eq!(h.finish(rest, len), siphash24(k0, k1, data), "len {len}");
            if len >= 24 {
                // Continued from the state after two blocks.
                let mut c = prefix;
                for chunk in data[16..].chunks_exact(8) {
                    c.block(u64::from_le_bytes(chunk.try_into().unwrap()));
                }
                assert_eq!(c.finish(rest, len), siphash24(k0, k1, data), "len {len}");
            }
        }
    }

    #[test]
    fn rfc6528_isn_advances_with_4us_clock_and_depends_on_tuple() {
        let g = IsnGenerator::new([7; 16]);
        let t = FourTuple::new(
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        let u = FourTuple::new(
            "10.0.0.1:40001".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
        );
        let a = g.isn(Instant::from_secs(1), &t);
        let b = g.isn(Instant::from_secs(1) + crate::Duration::from_micros(40), &t);
        assert_eq!(b.since(a), 10);
        // One hash gives both: F in the low half, the TSval offset in the high half.
        let (isn, ts) = g.isn_and_ts_offset(Instant::from_secs(1), &t);
        assert_eq!((isn, ts), (a, g.ts_offset(&t)));
        assert_ne!(ts, g.offset(&t));
        assert_ne!(g.ts_offset(&u), ts);
        assert_ne!(g.isn(Instant::from_secs(1), &u), a);
        assert_ne!(IsnGenerator::new([8; 16]).isn(Instant::from_secs(1), &t), a);
        let v6 = FourTuple::new("[::1]:1".parse().unwrap(), "[::2]:2".parse().unwrap());
        let _ = g.isn(Instant::ZERO, &v6);
    }

    #[test]
    fn packed_tuple_round_trips_every_tuple() {
        let tuples = [
            ("198.18.0.1:80", "198.18.0.2:65535"),
            ("[fd00::1]:1", "[fd00::2]:2"),
            ("[fe80::1%3]:1", "[fe80::2%4]:2"),
            ("198.18.0.1:80", "[fd00::2]:2"),
        ];
        for (l, r) in tuples {
            let t = FourTuple::new(l.parse().unwrap(), r.parse().unwrap());
            assert_eq!(PackedTuple::new(t).get(), t);
            assert_eq!(PackedTuple::new(t).local_port(), t.local.port());
            assert!(PackedTuple::new(t).is(&t));
            let other = FourTuple::new(t.local, "198.18.0.9:80".parse().unwrap());
            assert!(!PackedTuple::new(t).is(&other));
            assert!(!PackedTuple::new(other).is(&t));
        }
        let mut flow: core::net::SocketAddrV6 = "[fd00::1]:1".parse().unwrap();
        flow.set_flowinfo(7);
        let t = FourTuple::new(SocketAddr::V6(flow), "[fd00::2]:2".parse().unwrap());
        assert_eq!(PackedTuple::new(t).get(), t);
        assert_eq!(PackedTuple::new(t).local_port(), 1);
        assert!(matches!(PackedTuple::new(t), PackedTuple::Full(_)));
    }
}
