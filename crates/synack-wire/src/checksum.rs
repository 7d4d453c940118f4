//! The Internet checksum (RFC 1071) with IPv4/IPv6 pseudo-headers and incremental update
//! (RFC 1624).
//!
//! The sum is computed eight bytes at a time into a 128-bit accumulator: RFC 1071 §2(B)
//! notes that the one's-complement sum is independent of byte order and §2(C) that it may
//! be computed over wider words and folded down at the end, so the words are read in the
//! machine's native order, added without per-word carry handling (a `u128` cannot overflow
//! for any slice that fits in memory), and the carries are folded into 16 bits once, in
//! [`Checksum::finish`].
//!
//! ```
//! use synack_wire::checksum::{checksum, Checksum};
//!
//! // RFC 1071 §3 example: the sum of these bytes is 0xddf2.
//! let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
//! assert_eq!(checksum(&data), !0xddf2);
//!
//! // The accumulator gives the same result across any split points.
//! let mut c = Checksum::new();
//! c.add_bytes(&data[..3]);
//! c.add_bytes(&data[3..]);
//! assert_eq!(c.finish(), !0xddf2);
//! ```

use core::net::{Ipv4Addr, Ipv6Addr};

/// IP protocol number of TCP (used in pseudo-headers).
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP (used in pseudo-headers).
pub const PROTO_UDP: u8 = 17;
/// IPv6 next-header number of ICMPv6 (RFC 4443 §2.3 uses the pseudo-header too).
pub const PROTO_ICMPV6: u8 = 58;

/// A running one's-complement sum over a byte stream (RFC 1071).
///
/// Bytes may be added in any number of calls with any lengths, odd or even: the result is
/// that of summing the concatenation. [`Checksum::finish`] returns the complemented sum,
/// i.e. the value to store in a checksum field; over data that already contains a correct
/// checksum field it returns 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Sum of 16-bit words read in native byte order, carries not yet folded.
    acc: u128,
    /// The first byte of a 16-bit word whose second byte has not arrived yet.
    pending: Option<u8>,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Checksum {
        Checksum {
            acc: 0,
            pending: None,
        }
    }

    /// Adds bytes to the stream, continuing where the previous call left off (including
    /// mid-word after an odd-length call).
    #[inline]
    pub fn add_bytes(&mut self, mut data: &[u8]) -> &mut Self {
        if let Some(hi) = self.pending {
            let Some((&lo, rest)) = data.split_first() else {
                return self;
            };
            self.acc += u16::from_ne_bytes([hi, lo]) as u128;
            self.pending = None;
            data = rest;
        }
        let (sum, odd) = sum_native(data);
        self.acc += sum as u128;
        self.pending = odd;
        self
    }

    /// Adds a 16-bit value, as if its two bytes (network order) were added with
    /// [`Checksum::add_bytes`].
    #[inline]
    pub fn add_u16(&mut self, value: u16) -> &mut Self {
        if self.pending.is_some() {
            return self.add_bytes(&value.to_be_bytes());
        }
        self.acc += u16::from_ne_bytes(value.to_be_bytes()) as u128;
        self
    }

    /// Adds a 32-bit value, as if its four bytes (network order) were added with
    /// [`Checksum::add_bytes`].
    #[inline]
    pub fn add_u32(&mut self, value: u32) -> &mut Self {
        if self.pending.is_some() {
            return self.add_bytes(&value.to_be_bytes());
        }
        self.acc += u32::from_ne_bytes(value.to_be_bytes()) as u128;
        self
    }

    /// Copies `src` into `dst` and adds the copied bytes to the sum in the same pass over
    /// them (one read of each byte instead of one for the copy and one for the sum). Copies
    /// `min(dst.len(), src.len())` bytes and returns that count; the sum is the same as
    /// [`Checksum::add_bytes`] over the bytes copied, including mid-word continuation.
    ///
    /// On x86-64 with AVX2 (detected at run time) the bulk of the copy goes 32 bytes at a
    /// time through vector registers: the words are widened into 32-bit lanes (RFC 1071
    /// §2(C): a wider accumulator, folded at the end) while the same registers are stored.
    #[inline]
    pub fn add_copy(&mut self, dst: &mut [u8], src: &[u8]) -> usize {
        let n = dst.len().min(src.len());
        let (mut dst, mut src) = (&mut dst[..n], &src[..n]);
        if let Some(hi) = self.pending {
            let (Some((&lo, rest)), Some((d0, drest))) = (src.split_first(), dst.split_first_mut())
            else {
                return 0;
            };
            *d0 = lo;
            self.acc += u16::from_ne_bytes([hi, lo]) as u128;
            self.pending = None;
            src = rest;
            dst = drest;
        }
        let bulk = src.len() & !(LANE_BYTES - 1);
        let (dst_bulk, dst_tail) = dst.split_at_mut(bulk);
        let (src_bulk, src_tail) = src.split_at(bulk);
        let wide = copy_sum_blocks(dst_bulk, src_bulk);
        let (tail, odd) = copy_sum_tail(dst_tail, src_tail);
        self.acc += wide as u128 + tail as u128;
        self.pending = odd;
        n
    }

    /// Appends the sum of a byte stream that follows this one, as if its bytes had been
    /// added here. This holds when the bytes added so far are an even count (a header in
    /// front of its payload: TCP headers are multiples of four bytes); otherwise nothing
    /// changes and `false` is returned, since `other`'s bytes would pair differently.
    #[inline]
    pub fn append(&mut self, other: &Checksum) -> bool {
        if self.pending.is_some() {
            return false;
        }
        self.acc += other.acc;
        self.pending = other.pending;
        true
    }

    /// The folded (uncomplemented) 16-bit one's-complement sum of everything added so far;
    /// a trailing odd byte is padded with a zero byte (RFC 1071 §4.1).
    #[inline]
    pub fn sum(&self) -> u16 {
        let mut acc = self.acc;
        if let Some(hi) = self.pending {
            acc += u16::from_ne_bytes([hi, 0]) as u128;
        }
        let folded = fold_to_u16(fold_to_u64(acc));
        // The words were read in native order; the folded sum is therefore in native
        // order too (RFC 1071 §2(B)), so convert it back to a number.
        u16::from_be_bytes(folded.to_ne_bytes())
    }

    /// The checksum: the one's complement of [`Checksum::sum`]. This is the value to store
    /// in a header's checksum field, and 0 when verifying data that includes a correct one.
    #[inline]
    pub fn finish(&self) -> u16 {
        !self.sum()
    }

    /// A sum seeded with the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): source and
    /// destination address, zero, protocol, and the upper-layer length.
    pub fn pseudo_ipv4(
        src: impl Into<Ipv4Addr>,
        dst: impl Into<Ipv4Addr>,
        protocol: u8,
        length: u16,
    ) -> Checksum {
        // Whole 32-bit words at an even offset of an empty sum: added directly, the same
        // as `add_bytes` of the octets.
        let mut c = Checksum::new();
        c.add_u32(src.into().to_bits());
        c.add_u32(dst.into().to_bits());
        c.add_u32(u32::from(protocol) << 16 | u32::from(length));
        c
    }

    /// A sum seeded with the IPv6 pseudo-header (RFC 8200 §8.1): source and destination
    /// address (the final destination if a routing header is present), the 32-bit
    /// upper-layer packet length, three zero bytes and the next-header value.
    pub fn pseudo_ipv6(
        src: impl Into<Ipv6Addr>,
        dst: impl Into<Ipv6Addr>,
        next_header: u8,
        length: u32,
    ) -> Checksum {
        let mut c = Checksum::new();
        c.add_bytes(&src.into().octets());
        c.add_bytes(&dst.into().octets());
        c.add_u32(length);
        c.add_u32(next_header as u32);
        c
    }
}

/// The Internet checksum of `data`: the complement of its one's-complement sum, the
/// value to store in a checksum field (RFC 1071).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    // The accumulator's logic without its state: no pending byte can precede `data`.
    let (sum, odd) = sum_native(data);
    let c = Checksum {
        acc: sum as u128,
        pending: odd,
    };
    c.finish()
}

/// Copies `src` into `dst` and returns the Internet checksum of the copied bytes, in one
/// pass (see [`Checksum::add_copy`]); copies `min(dst.len(), src.len())` bytes.
#[inline]
pub fn copy_and_checksum(dst: &mut [u8], src: &[u8]) -> u16 {
    let mut c = Checksum::new();
    c.add_copy(dst, src);
    c.finish()
}

/// Addresses for a pseudo-header, IPv4 or IPv6; the protocol and length are supplied when
/// the sum is built (see [`PseudoHeader::checksum`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PseudoHeader {
    /// IPv4 source and destination (RFC 9293 §3.1).
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// IPv6 source and (final) destination (RFC 8200 §8.1).
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Final destination address.
        dst: Ipv6Addr,
    },
}

impl PseudoHeader {
    /// An IPv4 pseudo-header.
    pub fn v4(src: impl Into<Ipv4Addr>, dst: impl Into<Ipv4Addr>) -> PseudoHeader {
        PseudoHeader::V4 {
            src: src.into(),
            dst: dst.into(),
        }
    }

    /// An IPv6 pseudo-header.
    pub fn v6(src: impl Into<Ipv6Addr>, dst: impl Into<Ipv6Addr>) -> PseudoHeader {
        PseudoHeader::V6 {
            src: src.into(),
            dst: dst.into(),
        }
    }

    /// A sum seeded with this pseudo-header for `protocol` and an upper-layer length of
    /// `length` bytes. For IPv4 the length is truncated to 16 bits, as the field is.
    pub fn checksum(&self, protocol: u8, length: u32) -> Checksum {
        match *self {
            PseudoHeader::V4 { src, dst } => {
                Checksum::pseudo_ipv4(src, dst, protocol, length as u16)
            }
            PseudoHeader::V6 { src, dst } => Checksum::pseudo_ipv6(src, dst, protocol, length),
        }
    }
}

/// Updates checksum `hc` after a 16-bit field changed from `old` to `new`, per RFC 1624
/// eqn. 3: `HC' = ~(~HC + ~m + m')`.
pub fn update_u16(hc: u16, old: u16, new: u16) -> u16 {
    let sum = (!hc) as u32 + (!old) as u32 + new as u32;
    !fold_u32(sum)
}

/// Updates checksum `hc` after a 32-bit field (aligned on a 16-bit boundary) changed from
/// `old` to `new`: RFC 1624 eqn. 3 applied to both halves.
pub fn update_u32(hc: u16, old: u32, new: u32) -> u16 {
    let sum = (!hc) as u32
        + (!(old >> 16) as u16) as u32
        + (!(old as u16)) as u32
        + (new >> 16)
        + (new & 0xffff);
    !fold_u32(sum)
}

/// Folds a 32-bit sum of 16-bit words into 16 bits with end-around carry.
fn fold_u32(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Folds a 128-bit accumulator into 64 bits with end-around carry.
fn fold_to_u64(acc: u128) -> u64 {
    let (s, carry) = (acc as u64).overflowing_add((acc >> 64) as u64);
    // If the add overflowed, `s` is at most 2^64 - 2, so adding the carry cannot.
    s + carry as u64
}

/// Folds a 64-bit sum into 16 bits with end-around carry (RFC 1071 §2(C)).
fn fold_to_u16(x: u64) -> u16 {
    let (s, c) = ((x as u32) as u64).overflowing_add(x >> 32);
    let x32 = s + c as u64; // at most 2^33 - 2
    let x32 = (x32 & 0xffff_ffff) + (x32 >> 32);
    let x32 = (x32 & 0xffff_ffff) + (x32 >> 32);
    let x16 = (x32 & 0xffff) + (x32 >> 16);
    let x16 = (x16 & 0xffff) + (x16 >> 16);
    x16 as u16
}

/// Reads eight bytes at `at` in native order. `at + 8 <= data.len()` is guaranteed by the
/// callers (they index fixed-size chunks).
#[inline(always)]
fn word(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[at..at + 8]);
    u64::from_ne_bytes(b)
}

/// Sums `data` as native-order 16-bit words (in wide lanes), returning the sum folded to
/// 64 bits and a trailing odd byte, if any.
#[inline]
fn sum_native(data: &[u8]) -> (u64, Option<u8>) {
    let mut acc: u128 = 0;
    let mut acc2: u128 = 0;
    let mut chunks = data.chunks_exact(32);
    for c in &mut chunks {
        // Two independent accumulators let the add-with-carry chains overlap.
        acc += word(c, 0) as u128;
        acc2 += word(c, 8) as u128;
        acc += word(c, 16) as u128;
        acc2 += word(c, 24) as u128;
    }
    let mut rest = chunks.remainder();
    while let Some((w, tail)) = rest.split_first_chunk::<8>() {
        acc += u64::from_ne_bytes(*w) as u128;
        rest = tail;
    }
    if let Some((w, tail)) = rest.split_first_chunk::<4>() {
        acc += u32::from_ne_bytes(*w) as u128;
        rest = tail;
    }
    if let Some((w, tail)) = rest.split_first_chunk::<2>() {
        acc += u16::from_ne_bytes(*w) as u128;
        rest = tail;
    }
    let odd = rest.first().copied();
    (fold_to_u64(acc + fold_to_u64(acc2) as u128), odd)
}

/// The fused copy-and-sum routines move whole steps of this many bytes (one AVX2
/// register); the rest goes through the scalar path.
const LANE_BYTES: usize = 32;

/// The portable fused copy-and-sum: copies `src` to `dst` (equal lengths, a multiple of
/// [`LANE_BYTES`]) and returns the sum of its native-order 16-bit words folded to 64 bits,
/// eight bytes at a time into two 128-bit accumulators as [`sum_native`] does.
#[inline]
fn copy_sum_portable(dst: &mut [u8], src: &[u8]) -> u64 {
    let mut acc: u128 = 0;
    let mut acc2: u128 = 0;
    for (d, s) in dst.chunks_exact_mut(16).zip(src.chunks_exact(16)) {
        let (Ok(d), Ok(s)) = (<&mut [u8; 16]>::try_from(d), <&[u8; 16]>::try_from(s)) else {
            continue;
        };
        *d = *s;
        let (lo, hi) = s.split_at(8);
        acc += word(lo, 0) as u128;
        acc2 += word(hi, 0) as u128;
    }
    fold_to_u64(acc + fold_to_u64(acc2) as u128)
}

/// Bytes per AVX2 block: each 32-bit lane of each of the four accumulators takes one value
/// in [-65536, 65534] per 128 bytes (plus at most one more), so over 512 KiB a lane stays
/// within ±2^28 and the four lanes' sum inside an `i32`.
#[cfg(target_arch = "x86_64")]
const AVX2_BLOCK: usize = 1 << 19;

/// The AVX2 fused copy-and-sum: the same contract as [`copy_sum_portable`]. Each 32-byte
/// register is stored to `dst` and, biased by 0x8000 per word so that it reads as signed,
/// multiplied by one and added in pairs into 32-bit lanes (`vpmaddwd`), 128 bytes per
/// step into four accumulators; the bias is added back at the end (RFC 1071 §2(C): any wider sum folds to the same 16 bits).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_sum_avx2(dst: &mut [u8], src: &[u8]) -> u64 {
    use core::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi16,
        _mm256_setzero_si256, _mm256_storeu_si256, _mm256_xor_si256,
    };
    let n = src.len().min(dst.len()) & !(LANE_BYTES - 1);
    let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
    let bias = _mm256_set1_epi16(i16::MIN);
    let ones = _mm256_set1_epi16(1);
    let zero = _mm256_setzero_si256();
    let mut total: i64 = 0;
    let mut i = 0;
    while i < n {
        let end = n.min(i + AVX2_BLOCK);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        // SAFETY (all loads and stores below): each access covers `[at, at + 32)` with
        // `at + 32 <= end <= n`, and `n` is at most the length of both slices; unaligned
        // loads and stores are used.
        let step = |acc: __m256i, at: usize| {
            let v = unsafe { _mm256_loadu_si256(sp.add(at).cast::<__m256i>()) };
            unsafe { _mm256_storeu_si256(dp.add(at).cast::<__m256i>(), v) };
            _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_xor_si256(v, bias), ones))
        };
        while i + 4 * LANE_BYTES <= end {
            a0 = step(a0, i);
            a1 = step(a1, i + LANE_BYTES);
            a2 = step(a2, i + 2 * LANE_BYTES);
            a3 = step(a3, i + 3 * LANE_BYTES);
            i += 4 * LANE_BYTES;
        }
        // At most three single steps remain (not a loop, which the compiler would turn into
        // a `memcpy` call and a separate summing loop).
        if i + LANE_BYTES <= end {
            a0 = step(a0, i);
            i += LANE_BYTES;
        }
        if i + LANE_BYTES <= end {
            a1 = step(a1, i);
            i += LANE_BYTES;
        }
        if i + LANE_BYTES <= end {
            a2 = step(a2, i);
            i += LANE_BYTES;
        }
        // Each accumulator's lanes are within ±2^28 (see `AVX2_BLOCK`): their sum fits.
        let a = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
        let mut lanes = [0i32; 8];
        // SAFETY: the array is exactly one 32-byte register wide.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), a) };
        total += lanes.iter().map(|&l| i64::from(l)).sum::<i64>();
    }
    // Every one of the n / 2 words was read 0x8000 low.
    (total + (n as i64 / 2) * 0x8000) as u64
}

/// Copies `src` into `dst` (the same length: the part of a fused copy after its whole
/// [`LANE_BYTES`] steps) four bytes at a time while summing them as [`sum_native`] does,
/// instead of a `memcpy` call and a second pass; returns the sum (at most seven 32-bit
/// words and one 16-bit word here, far from overflowing) and a trailing odd byte.
#[inline]
fn copy_sum_tail(dst: &mut [u8], src: &[u8]) -> (u64, Option<u8>) {
    let mut acc = 0u64;
    let mut d = dst.chunks_exact_mut(4);
    let mut s = src.chunks_exact(4);
    for (d, s) in (&mut d).zip(&mut s) {
        let w = [s[0], s[1], s[2], s[3]];
        d.copy_from_slice(&w);
        acc += u64::from(u32::from_ne_bytes(w));
    }
    let mut odd = None;
    match (d.into_remainder(), s.remainder()) {
        ([d0, d1, dr @ ..], [s0, s1, sr @ ..]) => {
            (*d0, *d1) = (*s0, *s1);
            acc += u64::from(u16::from_ne_bytes([*s0, *s1]));
            if let ([d2], [s2]) = (dr, sr) {
                *d2 = *s2;
                odd = Some(*s2);
            }
        }
        ([d0, ..], [s0, ..]) => {
            *d0 = *s0;
            odd = Some(*s0);
        }
        _ => {}
    }
    (acc, odd)
}

/// Copies and sums whole [`LANE_BYTES`] steps, with AVX2 when the CPU has it.
#[inline]
fn copy_sum_blocks(dst: &mut [u8], src: &[u8]) -> u64 {
    if src.is_empty() {
        return 0;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 support was just detected.
        return unsafe { copy_sum_avx2(dst, src) };
    }
    copy_sum_portable(dst, src)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: 16 bits at a time, big-endian, end-around carry after each add.
    fn naive(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut i = 0;
        while i < data.len() {
            let hi = data[i] as u32;
            let lo = data.get(i + 1).copied().unwrap_or(0) as u32;
            sum += (hi << 8) | lo;
            sum = (sum & 0xffff) + (sum >> 16);
            i += 2;
        }
        !(sum as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let mut c = Checksum::new();
        c.add_bytes(&data);
        assert_eq!(c.sum(), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn empty_and_zero() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0; 7]), 0xffff);
        assert_eq!(Checksum::new().sum(), 0);
    }

    #[test]
    fn odd_lengths_match_naive() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 151 + 7) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(checksum(&data[..len]), naive(&data[..len]), "len {len}");
        }
    }

    #[test]
    fn all_ones_carries() {
        let data = [0xffu8; 1000];
        assert_eq!(checksum(&data), naive(&data));
        let data = [0xfeu8; 1001];
        assert_eq!(checksum(&data), naive(&data));
    }

    #[test]
    fn split_points() {
        let data: Vec<u8> = (0..97u32).map(|i| (i * 37 + 3) as u8).collect();
        let want = naive(&data);
        for a in 0..data.len() {
            for b in a..data.len() {
                let mut c = Checksum::new();
                c.add_bytes(&data[..a]).add_bytes(&data[a..b]);
                c.add_bytes(&data[b..]);
                assert_eq!(c.finish(), want, "split {a} {b}");
            }
        }
    }

    #[test]
    fn add_u16_u32_match_bytes() {
        let mut a = Checksum::new();
        a.add_bytes(&[0x12]).add_u16(0x3456).add_u32(0x789a_bcde);
        let mut b = Checksum::new();
        b.add_bytes(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde]);
        assert_eq!(a.finish(), b.finish());
        let mut a = Checksum::new();
        a.add_u16(0xfedc).add_u32(0xffff_ffff).add_u16(1);
        assert_eq!(
            a.finish(),
            naive(&[0xfe, 0xdc, 0xff, 0xff, 0xff, 0xff, 0, 1])
        );
    }

    #[test]
    fn pseudo_headers() {
        let v4 = Checksum::pseudo_ipv4([10, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 2), PROTO_TCP, 20);
        let bytes = [10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 20];
        assert_eq!(v4.finish(), naive(&bytes));
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        let v6 = Checksum::pseudo_ipv6(src, dst, PROTO_TCP, 0x1_0020);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 1, 0, 0x20, 0, 0, 0, 6]);
        assert_eq!(v6.finish(), naive(&bytes));
        assert_eq!(PseudoHeader::v6(src, dst).checksum(PROTO_TCP, 0x1_0020), v6);
    }

    #[test]
    fn incremental_updates() {
        let mut pkt: Vec<u8> = (0..40u32).map(|i| (i * 73 + 11) as u8).collect();
        pkt[10] = 0;
        pkt[11] = 0;
        let hc = checksum(&pkt);
        let old16 = u16::from_be_bytes([pkt[4], pkt[5]]);
        pkt[4..6].copy_from_slice(&0xbeefu16.to_be_bytes());
        let mut want = pkt.clone();
        want[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(update_u16(hc, old16, 0xbeef), checksum(&want));
        let hc = checksum(&want);
        let old32 = u32::from_be_bytes([pkt[20], pkt[21], pkt[22], pkt[23]]);
        want[20..24].copy_from_slice(&0xdead_0001u32.to_be_bytes());
        assert_eq!(update_u32(hc, old32, 0xdead_0001), checksum(&want));
    }

    #[test]
    fn verify_is_zero() {
        let mut pkt = [
            0x45u8, 0, 0, 40, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let c = checksum(&pkt);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&pkt), 0);
    }

    #[test]
    fn copy_and_checksum_all_lengths_and_alignments() {
        let src: Vec<u8> = (0..700u32).map(|i| (i * 151 + 7) as u8).collect();
        for len in 0..300 {
            for src_off in 0..9 {
                for dst_off in 0..9 {
                    let s = &src[src_off..src_off + len];
                    let mut dst = vec![0xa5u8; len + 16];
                    let ck = copy_and_checksum(&mut dst[dst_off..dst_off + len], s);
                    assert_eq!(ck, naive(s), "len {len} src+{src_off} dst+{dst_off}");
                    assert_eq!(&dst[dst_off..dst_off + len], s);
                    assert!(dst[..dst_off].iter().all(|&b| b == 0xa5));
                    assert!(dst[dst_off + len..].iter().all(|&b| b == 0xa5));
                }
            }
        }
        // Long inputs (several kernel steps, all-ones carries) against the plain sum.
        for len in [1460usize, 1461, 65_535, 65_536, 200_001] {
            let data: Vec<u8> = (0..len).map(|i| (i * 131 + 17) as u8).collect();
            let ones = vec![0xffu8; len];
            for d in [&data, &ones] {
                let mut out = vec![0u8; len];
                assert_eq!(copy_and_checksum(&mut out, d), checksum(d), "len {len}");
                assert_eq!(&out, d);
            }
        }
    }

    #[test]
    fn portable_kernel_matches_plain_sum() {
        // The path taken without AVX2, called directly so it is tested on any CPU.
        for len in [0usize, 32, 64, 1440, 65_536] {
            let data: Vec<u8> = (0..len).map(|i| (i * 29 + 5) as u8).collect();
            let mut out = vec![0u8; len];
            let wide = copy_sum_portable(&mut out, &data);
            let c = Checksum {
                acc: wide as u128,
                pending: None,
            };
            assert_eq!(c.finish(), checksum(&data), "len {len}");
            assert_eq!(out, data);
        }
    }

    #[test]
    fn lane_block_boundary_does_not_overflow() {
        // Blocks of 0xffff and of 0x0000 words (the extremes of the biased lanes) and a bit:
        // the lanes fold before they wrap.
        let len = (2 << 20) + 100;
        for fill in [0xffu8, 0x00, 0x80, 0x7f] {
            let data = vec![fill; len];
            let mut out = vec![1u8; len];
            assert_eq!(
                copy_and_checksum(&mut out, &data),
                naive(&data),
                "{fill:#x}"
            );
            assert_eq!(out, data);
        }
    }

    #[test]
    fn add_copy_continues_and_append_joins() {
        let data: Vec<u8> = (0..257u32).map(|i| (i * 37 + 3) as u8).collect();
        let want = naive(&data);
        for a in 0..data.len() {
            let mut out = vec![0u8; data.len()];
            let mut c = Checksum::new();
            c.add_bytes(&data[..a]);
            assert_eq!(c.add_copy(&mut out[a..], &data[a..]), data.len() - a);
            assert_eq!(c.finish(), want, "split {a}");
            assert_eq!(&out[a..], &data[a..]);
            // A separately computed tail sum appends exactly when the head is even.
            let mut head = Checksum::new();
            head.add_bytes(&data[..a]);
            let mut tail = Checksum::new();
            tail.add_bytes(&data[a..]);
            assert_eq!(head.append(&tail), a % 2 == 0);
            if a % 2 == 0 {
                assert_eq!(head.finish(), want, "append at {a}");
            }
        }
        // Unequal lengths copy the shorter.
        let mut short = [0u8; 3];
        let mut c = Checksum::new();
        assert_eq!(c.add_copy(&mut short, &data), 3);
        assert_eq!(c.finish(), naive(&data[..3]));
        assert_eq!(c.add_copy(&mut [], &data), 0);
    }

    proptest::proptest! {
        #[test]
        fn prop_copy_sum_matches_plain(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            head in 0usize..3000, src_off in 0usize..32, dst_off in 0usize..32,
        ) {
            let src_off = src_off.min(data.len());
            let src = &data[src_off..];
            let head = head.min(src.len());
            let mut dst = vec![0u8; src.len() + dst_off];
            let mut c = Checksum::new();
            c.add_bytes(&src[..head]);
            c.add_copy(&mut dst[dst_off + head..], &src[head..]);
            proptest::prop_assert_eq!(c.finish(), checksum(src));
            proptest::prop_assert_eq!(&dst[dst_off + head..], &src[head..]);
        }

        #[test]
        fn prop_matches_naive(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
                              cut1 in 0usize..600, cut2 in 0usize..600) {
            let want = naive(&data);
            proptest::prop_assert_eq!(checksum(&data), want);
            let (a, b) = (cut1.min(data.len()), cut2.min(data.len()));
            let (a, b) = (a.min(b), a.max(b));
            let mut c = Checksum::new();
            c.add_bytes(&data[..a]).add_bytes(&data[a..b]).add_bytes(&data[b..]);
            proptest::prop_assert_eq!(c.finish(), want);
        }

        #[test]
        fn prop_incremental_equals_recomputed(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 12..200),
            at in 0usize..100, new16 in proptest::prelude::any::<u16>(),
            new32 in proptest::prelude::any::<u32>(),
        ) {
            // Word 0 stays non-zero (as a pseudo-header's protocol word does), so the
            // all-zero corner where 0x0000 and 0xffff differ cannot arise.
            let mut data = data;
            data[0] = 0x01;
            data[2] = 0;
            data[3] = 0;
            let hc = checksum(&data);
            let at = 4 + 2 * (at % ((data.len() - 8) / 2));
            let old16 = u16::from_be_bytes([data[at], data[at + 1]]);
            let mut d16 = data.clone();
            d16[at..at + 2].copy_from_slice(&new16.to_be_bytes());
            proptest::prop_assert_eq!(update_u16(hc, old16, new16), checksum(&d16));
            let old32 = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            let mut d32 = data.clone();
            d32[at..at + 4].copy_from_slice(&new32.to_be_bytes());
            proptest::prop_assert_eq!(update_u32(hc, old32, new32), checksum(&d32));
        }
    }
}
