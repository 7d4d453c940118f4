//! SYN cookies (RFC 4987 §3.6; D. J. Bernstein's scheme as Linux lays it out): when the SYN
//! queue overflows, the listener answers statelessly and encodes what it must remember in
//! the ISS (and, with timestamps, in the low bits of the SYN-ACK's TSval).
//!
//! ISS = H₀(tuple) + SEG.SEQ + (t << 24) + ((H_t(tuple) + mss_index) mod 2²⁴), where `t` is a
//! minute counter, H₀ and H_t are SipHash-2-4 under keys derived from the stack secret. The
//! final ACK (SEG.ACK − 1 = ISS) is valid when `t` is at most one minute old and the
//! recovered index is in range.

use crate::isn::{FourTuple, siphash24};
use crate::seq::Seq;
use crate::time::Instant;
use core::net::IpAddr;

const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// A cookie is valid during the minute it was made and the next one (Linux: age < 2).
const MAX_AGE_MINUTES: u32 = 2;

/// MSS values a cookie can carry for IPv4 (Linux's table: 536, 1300, 1440, 1460).
pub const MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
/// MSS values a cookie can carry for IPv6 (1280, 1480, 1500 and 9000 minus 60).
pub const MSS_V6: [u16; 4] = [1220, 1420, 1440, 8940];

/// Low TSval bits that carry options when timestamps are on.
pub const TS_OPT_BITS: u32 = 6;
const TS_WSCALE_MASK: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;

/// The options a cookie's TSval remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CookieOptions {
    /// The peer's window-scale shift, if it sent one (and scaling is on).
    pub wscale: Option<u8>,
    /// The peer sent SACK-permitted (and SACK is on).
    pub sack: bool,
    /// The peer asked for ECN (and ECN is on).
    pub ecn: bool,
}

/// The cookie keys, derived from the stack secret.
#[derive(Clone, Copy)]
pub struct CookieJar {
    k: [(u64, u64); 2],
}

impl core::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CookieJar { .. }")
    }
}

fn tuple_bytes(t: &FourTuple, extra: u32, out: &mut [u8; 44]) -> usize {
    let mut n = 0;
    for a in [t.local, t.remote] {
        match a.ip() {
            IpAddr::V4(ip) => {
                out[n..n + 4].copy_from_slice(&ip.octets());
                n += 4;
            }
            IpAddr::V6(ip) => {
                out[n..n + 16].copy_from_slice(&ip.octets());
                n += 16;
            }
        }
        out[n..n + 2].copy_from_slice(&a.port().to_be_bytes());
        n += 2;
    }
    out[n..n + 4].copy_from_slice(&extra.to_be_bytes());
    n + 4
}

impl CookieJar {
    /// Keys derived from the 128-bit stack secret.
    pub fn new(secret: [u8; 16]) -> CookieJar {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&secret[..8]);
        hi.copy_from_slice(&secret[8..]);
        let (a, b) = (u64::from_le_bytes(lo), u64::from_le_bytes(hi));
        let d = |label: &[u8]| (siphash24(a, b, label), siphash24(b, a, label));
        CookieJar {
            k: [d(b"synack cookie h0"), d(b"synack cookie ht")],
        }
    }

    fn hash(&self, which: usize, t: &FourTuple, count: u32) -> u32 {
        let mut buf = [0u8; 44];
        let n = tuple_bytes(t, count, &mut buf);
        let (k0, k1) = self.k[which & 1];
        siphash24(k0, k1, &buf[..n]) as u32
    }

    /// The minute counter at `now`.
    pub fn minute(now: Instant) -> u32 {
        (now.as_nanos() / 60_000_000_000) as u32
    }

    /// The index of the largest table MSS not above the peer's `mss`.
    pub fn mss_index(mss: u16, ipv6: bool) -> u32 {
        let table = if ipv6 { &MSS_V6 } else { &MSS_V4 };
        table.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32
    }

    /// The MSS an index stands for.
    pub fn mss_of(index: u32, ipv6: bool) -> u16 {
        let table = if ipv6 { &MSS_V6 } else { &MSS_V4 };
        table[(index & 3) as usize]
    }

    /// The cookie ISS for a SYN with sequence number `peer_isn` and MSS index `data`.
    pub fn make(&self, now: Instant, t: &FourTuple, peer_isn: Seq, data: u32) -> Seq {
        let count = CookieJar::minute(now);
        let v = self
            .hash(0, t, 0)
            .wrapping_add(peer_isn.0)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(self.hash(1, t, count).wrapping_add(data) & COOKIE_MASK);
        Seq(v)
    }

    /// Validates the cookie echoed in a final ACK (`iss` = SEG.ACK − 1, `peer_isn` =
    /// SEG.SEQ − 1); returns the MSS index it carries.
    pub fn check(&self, now: Instant, t: &FourTuple, peer_isn: Seq, iss: Seq) -> Option<u32> {
        let count = CookieJar::minute(now);
        let c = iss
            .0
            .wrapping_sub(self.hash(0, t, 0))
            .wrapping_sub(peer_isn.0);
        let diff = count.wrapping_sub(c >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if diff >= MAX_AGE_MINUTES {
            return None;
        }
        let data = c.wrapping_sub(self.hash(1, t, count.wrapping_sub(diff))) & COOKIE_MASK;
        (data < 4).then_some(data)
    }
}

/// The SYN-ACK TSval carrying `opts` in its low 6 bits, never above the clock `ts_now`
/// (so the connection's later TSvals do not go backwards).
pub fn encode_ts(ts_now: u32, opts: CookieOptions) -> u32 {
    let mut o = opts.wscale.map_or(TS_WSCALE_MASK, |w| u32::from(w.min(14)));
    if opts.sack {
        o |= TS_SACK;
    }
    if opts.ecn {
        o |= TS_ECN;
    }
    let ts = (ts_now >> TS_OPT_BITS << TS_OPT_BITS) | o;
    if Seq(ts).gt(Seq(ts_now)) {
        ts.wrapping_sub(1 << TS_OPT_BITS)
    } else {
        ts
    }
}

/// The options echoed back in a final ACK's TSecr.
pub fn decode_ts(tsecr: u32) -> CookieOptions {
    let w = tsecr & TS_WSCALE_MASK;
    CookieOptions {
        wscale: (w != TS_WSCALE_MASK).then_some(w as u8),
        sack: tsecr & TS_SACK != 0,
        ecn: tsecr & TS_ECN != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple() -> FourTuple {
        FourTuple::new(
            "10.0.0.1:80".parse().unwrap(),
            "10.0.0.2:40000".parse().unwrap(),
        )
    }

    #[test]
    fn cookie_round_trip_and_expiry() {
        let j = CookieJar::new([3; 16]);
        let t = tuple();
        let now = Instant::from_secs(1000);
        for idx in 0..4 {
            let iss = j.make(now, &t, Seq(12345), idx);
            assert_eq!(j.check(now, &t, Seq(12345), iss), Some(idx));
            // Still valid 59 s later (same or next minute), gone after two minutes.
            assert_eq!(
                j.check(Instant::from_secs(1059), &t, Seq(12345), iss),
                Some(idx)
            );
            assert_eq!(j.check(Instant::from_secs(1200), &t, Seq(12345), iss), None);
            // A different peer ISN shifts the minute field: rejected. (Small shifts only
            // move the index, as in every cookie scheme of this shape; the ACK must still
            // match a tuple and a minute.)
            assert_eq!(j.check(now, &t, Seq(12345 + (1 << 25)), iss), None);
        }
        let other = FourTuple::new(t.local, "10.0.0.3:40000".parse().unwrap());
        let iss = j.make(now, &t, Seq(1), 2);
        assert_eq!(j.check(now, &other, Seq(1), iss), None);
        assert_eq!(CookieJar::new([4; 16]).check(now, &t, Seq(1), iss), None);
    }

    #[test]
    fn mss_table_and_timestamp_options() {
        assert_eq!(CookieJar::mss_index(1460, false), 3);
        assert_eq!(CookieJar::mss_index(1400, false), 1);
        assert_eq!(CookieJar::mss_index(100, false), 0);
        assert_eq!(CookieJar::mss_of(2, true), 1440);
        let o = CookieOptions {
            wscale: Some(7),
            sack: true,
            ecn: false,
        };
        let ts = encode_ts(1_000_000, o);
        assert!(Seq(ts).le(Seq(1_000_000)));
        assert_eq!(decode_ts(ts), o);
        assert_eq!(
            decode_ts(encode_ts(5, CookieOptions::default())).wscale,
            None
        );
    }
}
