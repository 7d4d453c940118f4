//! Send and receive byte buffers: bounded ring buffers, allocated lazily.
//!
//! Both buffers are byte streams (字节流): writes and reads of any size, unrelated to segment
//! boundaries. Each allocates its ring on first use, small at first ([`SMALL_RING`] bytes) and
//! at its configured capacity (SO_SNDBUF / SO_RCVBUF) once it holds more, without zeroing
//! either: at most two allocations per buffer, none per segment afterwards. Small rings
//! freed by a closed connection are kept for the next one (a bounded per-thread pool), so
//! a short connection's buffers need no allocator call at all.
//!
//! The receive buffer also holds out-of-order data (RFC 9293 §3.10.7.4 "Seventh": segments
//! beyond RCV.NXT "may be held for later processing"): it is written straight into the ring
//! at its offset past the in-order bytes, and a small bounded range set remembers which
//! parts are present, so reassembly needs no per-segment storage.
//!
//! Both sides can checksum the payload while copying it (one pass over the bytes): the send
//! buffer sums what [`SendBuffer::copy_out`] copies into a datagram, and the receive buffer
//! can [`RecvBuffer::stage`] a segment's payload into its free space while the caller sums
//! it, before the segment is known to be valid; nothing is committed until the engine
//! inserts those same bytes.

use crate::lazyvec::LazyVec;
use synack_wire::checksum::Checksum;

/// Disjoint out-of-order ranges always allowed, and the range set's first allocation.
pub const MAX_OOO_RANGES: usize = 32;

/// Buffer bytes per further out-of-order range allowed: a segment that would create more
/// ranges than `max(MAX_OOO_RANGES, capacity / OOO_BYTES_PER_RANGE)` is dropped (bounded
/// bookkeeping against a peer sending one byte per hole). Linux bounds its out-of-order
/// queue only by memory (`tcp_data_queue_ofo()`, `tcp_prune_ofo_queue()`); every range
/// needs a segment and a hole of at least one segment each, so with segments of 1024 bytes
/// or more any loss pattern of a full buffer fits. A fixed small bound made the receiver
/// drop most of a slow-start overshoot's data above the 32nd hole, which the sender then
/// had to send again.
pub const OOO_BYTES_PER_RANGE: usize = 2048;

/// The first ring a buffer gets, when its capacity is larger: enough for a request, a
/// response or a handshake's first bytes, so a short connection never touches its full
/// SO_SNDBUF / SO_RCVBUF worth of memory.
pub const SMALL_RING: usize = 4096;

/// Most freed [`SMALL_RING`]-byte rings a thread keeps for reuse (256 KiB).
const POOL_MAX: usize = 64;

std::thread_local! {
    /// Freed small rings, empty (length 0) with exactly [`SMALL_RING`] bytes of capacity.
    static POOL: core::cell::RefCell<Vec<Vec<u8>>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// A small ring's storage: a pooled one, or a new allocation.
fn take_small() -> Vec<u8> {
    POOL.try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(SMALL_RING))
}

/// Returns a small ring's storage to the pool (or frees it when the pool is full).
fn give_small(mut v: Vec<u8>) {
    if v.capacity() != SMALL_RING {
        return;
    }
    v.clear();
    // During thread teardown the pool may be gone: the vector is then just freed.
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut()
            && p.len() < POOL_MAX
        {
            p.push(v);
        }
    });
}

/// `n` as a ring size: buffers are limited to 4 GiB - 1 (far above the 1 GiB a scaled
/// window can offer, RFC 7323 §2.3).
fn clamp32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A bounded byte ring with lazily allocated, lazily initialised storage.
///
/// Storage comes in at most two steps: [`SMALL_RING`] bytes for the first write, then the
/// full capacity once more is held. Neither is zeroed: `buf.len()` is the high-water mark
/// of bytes ever written, and a write past it extends the vector with the bytes
/// themselves (the vector's allocation is `phys` bytes from the start, so extending never
/// reallocates). Every logical position that can be read has been written, so reads stay
/// below the mark.
#[derive(Debug, Default)]
struct Ring {
    buf: Vec<u8>,
    head: usize,
    /// The physical ring size (the modulus); 0 before the first write. 32 bits (as is the
    /// capacity) keep the ring, and so each buffer, one word smaller.
    phys32: u32,
    cap32: u32,
}

impl Drop for Ring {
    fn drop(&mut self) {
        give_small(core::mem::take(&mut self.buf));
    }
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        Ring {
            buf: Vec::new(),
            head: 0,
            phys32: 0,
            cap32: clamp32(capacity),
        }
    }

    /// Bytes allocated for the data (0 before the first write).
    fn storage(&self) -> usize {
        self.buf.capacity()
    }

    /// The physical ring size.
    #[inline]
    fn phys(&self) -> usize {
        self.phys32 as usize
    }

    /// The configured capacity.
    #[inline]
    fn capacity(&self) -> usize {
        self.cap32 as usize
    }

    /// Grows the storage so that logical offsets `[0, need)` fit, keeping the first `live`
    /// logical bytes.
    #[inline]
    fn grow(&mut self, need: usize, live: usize) {
        if self.phys() == 0 && need <= SMALL_RING && self.capacity() >= SMALL_RING {
            // The first write of a buffer of at least a small ring: a pooled small ring. No
            // storage yet (`phys` 0), so nothing to keep and no allocation to give back.
            debug_assert!(live == 0 && self.buf.capacity() == 0);
            self.buf = take_small();
            self.phys32 = SMALL_RING as u32;
            self.head = 0;
            return;
        }
        self.grow_general(need, live);
    }

    /// [`Ring::grow`] past the first small ring (or for a buffer smaller than one).
    #[inline(never)]
    fn grow_general(&mut self, need: usize, live: usize) {
        let phys = if need <= SMALL_RING && self.phys() == 0 {
            SMALL_RING.min(self.capacity())
        } else {
            self.capacity()
        };
        let mut buf = if phys == SMALL_RING {
            take_small()
        } else {
            Vec::with_capacity(phys)
        };
        if live > 0 {
            let start = self.head;
            let first = live.min(self.phys() - start);
            buf.extend_from_slice(&self.buf[start..start + first]);
            buf.extend_from_slice(&self.buf[..live - first]);
        }
        give_small(core::mem::replace(&mut self.buf, buf));
        self.phys32 = clamp32(phys);
        self.head = 0;
    }

    /// Writes `src` at physical position `pos`, extending the initialised part as needed
    /// (`pos + src.len() <= phys`); with `sum`, the bytes are added to it as they are
    /// copied.
    fn put(&mut self, pos: usize, src: &[u8], sum: Option<&mut Checksum>) {
        let init = self.buf.len();
        if pos + src.len() <= init {
            let dst = &mut self.buf[pos..pos + src.len()];
            match sum {
                Some(c) => {
                    c.add_copy(dst, src);
                }
                None => dst.copy_from_slice(src),
            }
        } else if pos <= init {
            let (inside, beyond) = src.split_at(init - pos);
            match sum {
                Some(c) => {
                    c.add_copy(&mut self.buf[pos..], inside);
                    c.add_bytes(beyond);
                }
                None => self.buf[pos..].copy_from_slice(inside),
            }
            self.buf.extend_from_slice(beyond);
        } else {
            // A write past a gap (out-of-order data): the gap gets defined contents.
            self.buf.resize(pos, 0);
            self.buf.extend_from_slice(src);
            if let Some(c) = sum {
                c.add_bytes(src);
            }
        }
    }

    /// Makes room for `n` bytes at logical offset `at` (growing the storage, keeping the
    /// first `live` logical bytes) and returns the physical size, the physical start and
    /// how many of the `n` bytes fit before the physical end (the rest wraps to the front).
    #[inline]
    fn place(&mut self, at: usize, n: usize, live: usize) -> (usize, usize, usize) {
        let end = at + n;
        if end > self.phys() {
            self.grow(end, live);
        }
        let phys = self.phys();
        let mut start = self.head + at;
        if start >= phys {
            start -= phys;
        }
        (phys, start, n.min(phys - start))
    }

    /// Writes `bytes` at logical offset `at` (from the head), keeping the first `live`
    /// logical bytes if the storage has to grow; the caller keeps `at + bytes.len()` within
    /// the capacity.
    fn write_at(&mut self, at: usize, bytes: &[u8], live: usize) {
        self.write_at_sum(at, bytes, live, None);
    }

    /// [`Ring::write_at`], adding the bytes to `sum` (when given) as they are copied.
    fn write_at_sum(
        &mut self,
        at: usize,
        bytes: &[u8],
        live: usize,
        mut sum: Option<&mut Checksum>,
    ) {
        if bytes.is_empty() || self.capacity() == 0 {
            return;
        }
        let (phys, start, first) = self.place(at, bytes.len(), live);
        if first < bytes.len() || start < self.head {
            // The write wraps to the front, past positions between the mark and the end
            // that may never have been written: define them so reads stay in bounds.
            self.buf.resize(phys, 0);
        }
        self.put(start, &bytes[..first], sum.as_deref_mut());
        // The wrapped rest, when there is one (most writes end before the physical end).
        if first < bytes.len() {
            self.put(0, &bytes[first..], sum);
        }
    }

    /// Lends the logical range `[at, at + n)` for writing, growing the storage as
    /// [`Ring::write_at`] does (keeping the first `live` bytes): `f` gets the part up to
    /// the physical end, and the wrapped rest only if it filled the first part; it returns
    /// how many bytes from the start of each part it wrote (at most the part's length).
    /// Returns the total written.
    fn write_with<F: FnMut(&mut [u8]) -> usize>(
        &mut self,
        at: usize,
        n: usize,
        live: usize,
        mut f: F,
    ) -> usize {
        if n == 0 || self.capacity() == 0 {
            return 0;
        }
        let (phys, start, first) = self.place(at, n, live);
        let second = n - first;
        // Lent bytes must be defined: those past the high-water mark are zeroed once (the
        // mark reaches the physical end after the first lap round the ring).
        let init = if second > 0 || start < self.head {
            phys
        } else {
            start + first
        };
        if self.buf.len() < init {
            self.buf.resize(init, 0);
        }
        let k = f(&mut self.buf[start..start + first]).min(first);
        if k < first || second == 0 {
            return k;
        }
        k + f(&mut self.buf[..second]).min(second)
    }

    /// Lends the first `n` logical bytes (which must have been written) for reading: `f`
    /// gets the part up to the physical end, and the wrapped rest only if it took all of
    /// the first part; it returns how many bytes of each part it took. Returns the total.
    fn read_with<F: FnMut(&[u8]) -> usize>(&self, n: usize, mut f: F) -> usize {
        if n == 0 || self.phys() == 0 {
            return 0;
        }
        let start = self.head;
        let first = n.min(self.phys() - start);
        let k = f(&self.buf[start..start + first]).min(first);
        if k < first || first == n {
            return k;
        }
        k + f(&self.buf[..n - first]).min(n - first)
    }

    /// [`Ring::read_at`], adding the bytes to `sum` as they are copied.
    fn read_at_sum(&self, at: usize, dst: &mut [u8], sum: &mut Checksum) {
        if dst.is_empty() || self.phys() == 0 {
            return;
        }
        let mut start = self.head + at;
        if start >= self.phys() {
            start -= self.phys();
        }
        let first = dst.len().min(self.phys() - start);
        let (a, b) = dst.split_at_mut(first);
        sum.add_copy(a, &self.buf[start..start + first]);
        // The wrapped rest, when there is one (most reads end before the physical end).
        if !b.is_empty() {
            let n = b.len();
            sum.add_copy(b, &self.buf[..n]);
        }
    }

    /// Copies from logical offset `at` into `dst`; the caller keeps it within the bytes
    /// written.
    fn read_at(&self, at: usize, dst: &mut [u8]) {
        if dst.is_empty() || self.phys() == 0 {
            return;
        }
        let mut start = self.head + at;
        if start >= self.phys() {
            start -= self.phys();
        }
        let first = dst.len().min(self.phys() - start);
        dst[..first].copy_from_slice(&self.buf[start..start + first]);
        let n = dst.len() - first;
        dst[first..].copy_from_slice(&self.buf[..n]);
    }

    fn advance(&mut self, n: usize) {
        let phys = self.phys();
        if phys > 0 {
            // `head < phys` and `n` is at most the bytes held, so one subtraction wraps it
            // (a division per ACK and per read otherwise); `%` stays for anything larger.
            let h = self.head + n;
            self.head = if h < phys {
                h
            } else if h - phys < phys {
                h - phys
            } else {
                h % phys
            };
        }
    }

    /// Changes the capacity, keeping the first `keep` bytes (which must fit).
    fn resize(&mut self, capacity: usize, keep: usize) {
        if self.phys() <= capacity {
            // The storage fits the new capacity as it is; it grows to it when needed.
            self.cap32 = clamp32(capacity);
            if self.phys32 == 0 {
                self.head = 0;
            }
            return;
        }
        let mut tmp = vec![0; keep];
        self.read_at(0, &mut tmp);
        self.cap32 = clamp32(capacity);
        self.buf = Vec::new();
        self.phys32 = 0;
        self.head = 0;
        self.write_at(0, &tmp, 0);
    }
}

/// `SendBuffer::copy_len` when no copy's sum is remembered.
const NO_COPY: u32 = u32::MAX;

/// The send buffer: every byte from SND.UNA onward, sent or not yet sent.
#[derive(Debug, Default)]
pub struct SendBuffer {
    ring: Ring,
    len: usize,
    /// The length of the last [`SendBuffer::copy_out`] ([`NO_COPY`] when forgotten) and
    /// the folded sum of the bytes it copied (two fields, not an `Option` of a pair, so
    /// they fit the padding after `len`).
    copy_len: u32,
    copy_sum: u16,
    /// How many segments the engine's current transmission burst has taken out of the
    /// buffer (where the Linux flavor's TSO chunks end); it lives here because it fits
    /// the padding after `copy_sum`.
    burst: u16,
}

impl SendBuffer {
    /// An empty buffer holding at most `capacity` bytes (no memory until the first write).
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer {
            ring: Ring::new(capacity),
            len: 0,
            copy_len: NO_COPY,
            copy_sum: 0,
            burst: 0,
        }
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.ring.write_at(self.len, &bytes[..n], self.len);
        self.len += n;
        n
    }

    /// Lends the free space to `f` to write bytes in place (no copy): `f` gets the free
    /// space up to the ring's end, then, only if it filled that, the free space wrapped to
    /// the front, and returns each time how many bytes it wrote from the start of the slice
    /// it got (at most its length; more is taken as its length). The bytes written are
    /// appended, as [`SendBuffer::write`] would; returns how many. The ring gets its full
    /// storage, since `f` may fill all the free space.
    pub fn write_with<F: FnMut(&mut [u8]) -> usize>(&mut self, f: F) -> usize {
        let n = self.ring.write_with(self.len, self.free(), self.len, f);
        self.len += n;
        n
    }

    /// Bytes held (unacknowledged plus unsent).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left.
    pub fn free(&self) -> usize {
        self.ring.capacity().saturating_sub(self.len)
    }

    /// The configured capacity (SO_SNDBUF).
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Bytes allocated for the ring's data (0 before the first write).
    pub fn storage(&self) -> usize {
        self.ring.storage()
    }

    /// Whether the ring has been allocated yet.
    pub fn is_allocated(&self) -> bool {
        self.ring.phys() > 0
    }

    /// Changes the capacity; never below the bytes already held.
    pub fn set_capacity(&mut self, capacity: usize) {
        let capacity = capacity.max(self.len);
        self.ring.resize(capacity, self.len);
    }

    /// Drops `n` acknowledged bytes from the front (fewer if fewer are held).
    pub fn ack(&mut self, n: usize) {
        let n = n.min(self.len);
        self.ring.advance(n);
        self.len -= n;
    }

    /// Copies bytes starting `offset` bytes after SND.UNA into `dst`; returns the count.
    ///
    /// The bytes are summed as they are copied (RFC 1071), so the datagram's checksum need
    /// not read them again: [`SendBuffer::last_copy_sum`] returns the sum.
    pub fn copy_out(&mut self, offset: usize, dst: &mut [u8]) -> usize {
        self.copy_len = NO_COPY;
        if offset >= self.len {
            return 0;
        }
        let n = dst.len().min(self.len - offset);
        let mut sum = Checksum::new();
        self.ring.read_at_sum(offset, &mut dst[..n], &mut sum);
        self.copy_len = u32::try_from(n).unwrap_or(NO_COPY);
        self.copy_sum = sum.sum();
        n
    }

    /// The folded one's-complement sum (uncomplemented, RFC 1071; an odd last byte padded
    /// with zero) of the bytes the last [`SendBuffer::copy_out`] copied, if it copied
    /// exactly `len` bytes (at least one); `None` otherwise or after
    /// [`SendBuffer::forget_copy_sum`].
    pub fn last_copy_sum(&self, len: usize) -> Option<u16> {
        (len > 0 && self.copy_len != NO_COPY && self.copy_len as usize == len)
            .then_some(self.copy_sum)
    }

    /// Segments the current transmission burst has sent (the engine keeps the count).
    pub fn burst(&self) -> u16 {
        self.burst
    }

    /// Sets the count [`SendBuffer::burst`] returns.
    pub fn set_burst(&mut self, segments: u16) {
        self.burst = segments;
    }

    /// Forgets the sum of the last copy (so a later caller cannot take a stale one).
    pub fn forget_copy_sum(&mut self) {
        self.copy_len = NO_COPY;
    }

    /// Discards everything (abort).
    pub fn clear(&mut self) {
        self.ring.advance(self.len);
        self.len = 0;
    }
}

/// The receive buffer: in-order bytes not yet read, followed (inside the same ring) by
/// out-of-order bytes waiting for the gap before them to fill.
#[derive(Debug, Default)]
pub struct RecvBuffer {
    ring: Ring,
    /// In-order bytes waiting to be read.
    len: usize,
    /// Bytes ever consumed by the reader: the stream offset of the ring's head.
    base: u64,
    /// Out-of-order ranges `[start, end)` as offsets past the in-order end, sorted and
    /// disjoint (never adjacent).
    ooo: LazyVec<(usize, usize)>,
    /// The address of the source of the payload [`RecvBuffer::stage`] copied to the
    /// in-order end, 0 when none is staged: an in-order [`RecvBuffer::insert`] of a prefix
    /// of those same bytes needs no copy.
    staged: usize,
}

impl RecvBuffer {
    /// An empty buffer holding at most `capacity` bytes (no memory until the first byte).
    pub fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            ring: Ring::new(capacity),
            len: 0,
            base: 0,
            ooo: LazyVec::default(),
            staged: 0,
        }
    }

    /// Appends in-order bytes, as much as fits; returns how many were taken. Out-of-order
    /// bytes the append reaches become in order too (see [`RecvBuffer::insert`]).
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.insert(0, &bytes[..n]);
        n
    }

    /// Stores in-order `bytes` into an empty buffer (no out-of-order ranges) even past its
    /// size, as Linux does when it forces the memory charge for a segment nothing waits
    /// ahead of (`tcp_data_queue()`, `sk_forced_mem_schedule()`); returns how many were
    /// stored (all, or none if the buffer was not empty or has no size). Until the reader
    /// has taken the buffer below its size [`RecvBuffer::free`] is 0. The storage grows at
    /// most to `bytes.len()` (one segment).
    pub fn force_push(&mut self, bytes: &[u8]) -> usize {
        // Copies whatever was staged (the ring may be replaced below): forget the mark.
        self.staged = 0;
        if self.len != 0 || !self.ooo.is_empty() || self.ring.capacity() == 0 {
            return 0;
        }
        if bytes.len() > self.ring.phys() {
            self.ring.buf = Vec::with_capacity(bytes.len());
            self.ring.phys32 = clamp32(bytes.len());
            self.ring.head = 0;
        }
        let n = bytes.len().min(self.ring.phys());
        self.ring.write_at(0, &bytes[..n], 0);
        self.len = n;
        n
    }

    /// Stores `bytes` starting `offset` bytes past the in-order end (offset 0 is RCV.NXT),
    /// trimmed to the capacity. Returns how far the in-order end advanced (RCV.NXT moves by
    /// this), or `None` when the bytes were not stored (no room, or the range set is full).
    ///
    /// RFC 9293 §3.10.7.4: overlapping and duplicate bytes are merged, so each byte is
    /// delivered once.
    pub fn insert(&mut self, offset: usize, bytes: &[u8]) -> Option<usize> {
        let room = self.free();
        if offset >= room && !bytes.is_empty() {
            return None;
        }
        let n = bytes.len().min(room.saturating_sub(offset));
        if n == 0 {
            return Some(0);
        }
        let (start, end) = (offset, offset + n);
        if start > 0 && !self.can_add_range(start, end) {
            return None;
        }
        let staged = core::mem::take(&mut self.staged);
        if start > 0 || staged != bytes.as_ptr() as usize {
            let live = self.len + self.ooo.last().map_or(0, |r| r.1);
            self.ring.write_at(self.len + start, &bytes[..n], live);
        }
        if start > 0 {
            self.add_range(start, end);
            return Some(0);
        }
        // In order: the in-order end moves to `end`, then over every range it now reaches.
        let mut advance = end;
        let mut drop = 0;
        for &(s, e) in &self.ooo {
            if s <= advance {
                advance = advance.max(e);
                drop += 1;
            } else {
                break;
            }
        }
        if let Some(ooo) = self.ooo.as_vec_mut() {
            ooo.drain(..drop);
        }
        for r in self.ooo.iter_mut() {
            r.0 -= advance;
            r.1 -= advance;
        }
        self.len += advance;
        Some(advance)
    }

    /// Copies `bytes`, the payload of a segment that would start at the in-order end, into
    /// the free space there while adding them to `sum`, before the segment is verified:
    /// nothing visible changes (the in-order length, the out-of-order ranges and every
    /// byte held stay as they were). A following [`RecvBuffer::insert`] at offset 0 of
    /// `bytes` or a prefix of it (the same slice) then commits them without copying again.
    /// Returns `false`, copying and summing nothing, when the bytes do not fit the free
    /// space or would overlap held out-of-order data.
    ///
    /// The caller clears the mark with [`RecvBuffer::unstage`] once the segment has been
    /// handled (or rejected), since the source buffer may be reused.
    pub fn stage(&mut self, bytes: &[u8], sum: &mut Checksum) -> bool {
        let n = bytes.len();
        if n == 0 || n > self.free() || self.ooo.first().is_some_and(|r| r.0 < n) {
            return false;
        }
        let live = self.len + self.ooo.last().map_or(0, |r| r.1);
        self.ring.write_at_sum(self.len, bytes, live, Some(sum));
        self.staged = bytes.as_ptr() as usize;
        true
    }

    /// Forgets a staged payload (see [`RecvBuffer::stage`]); its bytes stay in free space.
    pub fn unstage(&mut self) {
        self.staged = 0;
    }

    fn can_add_range(&self, start: usize, end: usize) -> bool {
        if self.ooo.len() < MAX_OOO_RANGES.max(self.capacity() / OOO_BYTES_PER_RANGE) {
            return true;
        }
        // Full: only a range touching or overlapping an existing one (no new entry).
        self.ooo.iter().any(|&(s, e)| start <= e && end >= s)
    }

    fn add_range(&mut self, start: usize, end: usize) {
        // One allocation for most connections' lifetime, never per segment; past
        // MAX_OOO_RANGES (heavy loss in a large window) the set doubles as it grows.
        let ooo = self.ooo.get_mut(MAX_OOO_RANGES + 1);
        let (mut s, mut e) = (start, end);
        let first = ooo.partition_point(|&(_, re)| re < s);
        let mut last = first;
        while last < ooo.len() && ooo[last].0 <= e {
            s = s.min(ooo[last].0);
            e = e.max(ooo[last].1);
            last += 1;
        }
        ooo.splice(first..last, [(s, e)]);
    }

    /// The out-of-order ranges held, as `(start, end)` offsets past RCV.NXT (for SACK).
    pub fn ooo_ranges(&self) -> &[(usize, usize)] {
        &self.ooo[..]
    }

    /// Whether out-of-order data is held (a gap exists).
    pub fn has_gap(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Moves up to `dst.len()` in-order bytes to `dst`; returns the count.
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len);
        self.ring.read_at(0, &mut dst[..n]);
        self.discard(n);
        n
    }

    /// Lends up to `max` in-order bytes to `f` in place (no copy): `f` gets them up to the
    /// ring's end, then, only if it took all of those, the rest wrapped to the front, and
    /// returns each time how many bytes from the start of the slice it took (at most its
    /// length). The bytes taken are consumed as by [`RecvBuffer::read`]; returns how many.
    pub fn read_with<F: FnMut(&[u8]) -> usize>(&mut self, max: usize, f: F) -> usize {
        let n = self.ring.read_with(max.min(self.len), f);
        self.discard(n);
        n
    }

    /// Drops `n` in-order bytes unread (fewer if fewer are held).
    pub fn discard(&mut self, n: usize) {
        self.staged = 0;
        let n = n.min(self.len);
        self.ring.advance(n);
        self.len -= n;
        self.base += n as u64;
    }

    /// The in-order byte `offset` bytes past the read position, if held.
    pub fn peek(&self, offset: usize) -> Option<u8> {
        if offset >= self.len {
            return None;
        }
        let mut b = [0u8; 1];
        self.ring.read_at(offset, &mut b);
        Some(b[0])
    }

    /// The stream offset of the next byte to read (bytes consumed so far).
    pub fn read_offset(&self) -> u64 {
        self.base
    }

    /// Bytes waiting to be read.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left past the in-order bytes: the most receive window we can offer.
    pub fn free(&self) -> usize {
        self.ring.capacity().saturating_sub(self.len)
    }

    /// The configured capacity (SO_RCVBUF).
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Bytes allocated for the ring's data (0 before the first write).
    pub fn storage(&self) -> usize {
        self.ring.storage()
    }

    /// Whether the ring has been allocated yet.
    pub fn is_allocated(&self) -> bool {
        self.ring.phys() > 0
    }

    /// Changes the capacity; never below the bytes already held (out-of-order data beyond
    /// the new capacity is forgotten; the peer retransmits it).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.staged = 0;
        let capacity = capacity.max(self.len);
        let room = capacity - self.len;
        if let Some(ooo) = self.ooo.as_vec_mut() {
            ooo.retain(|&(_, e)| e <= room);
        }
        let keep = self.len + self.ooo.last().map_or(0, |r| r.1);
        self.ring.resize(capacity, keep);
    }

    /// Discards everything.
    pub fn clear(&mut self) {
        self.staged = 0;
        self.discard(self.len);
        if let Some(ooo) = self.ooo.as_vec_mut() {
            ooo.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rings_are_reused_empty() {
        let mut a = SendBuffer::new(1 << 16);
        assert_eq!(a.write(b"secret"), 6);
        let first = a.ring.buf.as_ptr();
        drop(a);
        // The next buffer on this thread gets the same storage, holding nothing readable.
        let mut r = RecvBuffer::new(1 << 16);
        assert_eq!(r.push(b"xy"), 2);
        assert_eq!(r.ring.buf.as_ptr(), first);
        assert_eq!(r.ring.buf.len(), 2);
        let mut out = [0u8; 8];
        assert_eq!(r.read(&mut out), 2);
        assert_eq!(&out[..2], b"xy");
        // Growing to the full capacity hands the small ring back as well.
        let mut b = SendBuffer::new(1 << 16);
        assert_eq!(b.write(&[7; 5000]), 5000);
        assert_eq!(b.ring.phys(), 1 << 16);
        let mut c = SendBuffer::new(100_000);
        assert_eq!(c.write(b"z"), 1);
        assert_eq!(c.ring.phys(), SMALL_RING);
        assert_eq!(c.ring.buf.len(), 1);
        // A full-size ring is freed, not pooled; the small ones go back.
        let pooled = || POOL.with(|p| p.borrow().len());
        let before = pooled();
        drop(b);
        assert_eq!(pooled(), before);
        drop(c);
        assert_eq!(pooled(), before + 1);
    }

    #[test]
    fn send_buffer_bounds_and_offsets() {
        let mut b = SendBuffer::new(5);
        assert!(!b.is_allocated());
        assert_eq!(b.write(b"hello world"), 5);
        assert!(b.is_allocated());
        let mut out = [0u8; 3];
        assert_eq!(b.copy_out(2, &mut out), 3);
        assert_eq!(&out, b"llo");
        b.ack(2);
        assert_eq!(b.copy_out(0, &mut out), 3);
        assert_eq!(&out, b"llo");
        assert_eq!(b.copy_out(9, &mut out), 0);
        // Wraps around the ring.
        assert_eq!(b.write(b"XYZ"), 2);
        let mut all = [0u8; 5];
        assert_eq!(b.copy_out(0, &mut all), 5);
        assert_eq!(&all, b"lloXY");
        b.ack(100);
        assert!(b.is_empty());
    }

    #[test]
    fn recv_buffer_bounds() {
        let mut r = RecvBuffer::new(4);
        assert_eq!(r.push(b"abcdef"), 4);
        assert_eq!(r.free(), 0);
        let mut out = [0u8; 3];
        assert_eq!(r.read(&mut out), 3);
        assert_eq!(&out, b"abc");
        assert_eq!(r.free(), 3);
        assert_eq!(r.read_offset(), 3);
    }

    #[test]
    fn rfc9293_3_10_7_4_reassembly_merges_overlaps_and_fills_gaps() {
        let mut r = RecvBuffer::new(16);
        assert_eq!(r.insert(4, b"efg"), Some(0));
        assert_eq!(r.insert(9, b"jk"), Some(0));
        assert_eq!(r.ooo_ranges(), &[(4, 7), (9, 11)]);
        // Overlapping duplicate of part of a range and a bridge between the two.
        assert_eq!(r.insert(6, b"ghij"), Some(0));
        assert_eq!(r.ooo_ranges(), &[(4, 11)]);
        // The gap fills: the in-order end jumps over everything held.
        assert_eq!(r.insert(0, b"abcde"), Some(11));
        assert!(!r.has_gap());
        let mut out = [0u8; 16];
        assert_eq!(r.read(&mut out), 11);
        assert_eq!(&out[..11], b"abcdefghijk");
        // Beyond the capacity: not stored.
        assert_eq!(r.insert(16, b"z"), None);
        assert_eq!(r.insert(14, b"xyz"), Some(0));
        assert_eq!(r.ooo_ranges(), &[(14, 16)]);
    }

    #[test]
    fn reassembly_range_set_is_bounded() {
        let mut r = RecvBuffer::new(1000);
        for i in 0..MAX_OOO_RANGES {
            assert_eq!(r.insert(2 + 2 * i, b"x"), Some(0));
        }
        assert_eq!(
            r.insert(900, b"y"),
            None,
            "a new hole beyond the bound is dropped"
        );
        assert_eq!(
            r.insert(3, b"x"),
            Some(0),
            "merging into held ranges still works"
        );
        assert_eq!(r.ooo_ranges().len(), MAX_OOO_RANGES - 1);
    }

    /// A large buffer holds as many holes as a loss pattern of segments can make in it
    /// (a slow-start overshoot loses every second or third segment of a window).
    #[test]
    fn reassembly_range_bound_grows_with_the_buffer() {
        let limit = 100;
        let mut r = RecvBuffer::new(limit * OOO_BYTES_PER_RANGE);
        for i in 0..limit {
            assert_eq!(r.insert(1000 + 1000 * i, &[7; 500]), Some(0), "range {i}");
        }
        assert_eq!(r.ooo_ranges().len(), limit);
        assert_eq!(r.insert(1000 * (limit + 2), &[7; 500]), None);
        assert_eq!(r.insert(1500, &[7; 500]), Some(0), "merging still works");
        assert_eq!(r.ooo_ranges().len(), limit - 1);
    }

    #[test]
    fn resize_keeps_data() {
        let mut r = RecvBuffer::new(4);
        r.push(b"ab");
        r.set_capacity(8);
        assert_eq!(r.push(b"cdefgh"), 6);
        let mut out = [0u8; 8];
        assert_eq!(r.read(&mut out), 8);
        assert_eq!(&out, b"abcdefgh");
        let mut s = SendBuffer::new(2);
        s.write(b"ab");
        s.set_capacity(4);
        assert_eq!(s.write(b"cde"), 2);
    }

    #[test]
    fn rings_grow_small_then_full_and_keep_data() {
        let mut s = SendBuffer::new(64 << 10);
        assert_eq!(s.write(b"x"), 1);
        assert_eq!(s.ring.phys(), SMALL_RING);
        // Wrap inside the small ring, then grow past it with data held across the wrap.
        s.ack(1);
        let data: Vec<u8> = (0..SMALL_RING as u32 + 100)
            .map(|i| (i * 7) as u8)
            .collect();
        assert_eq!(s.write(&data[..SMALL_RING - 10]), SMALL_RING - 10);
        assert_eq!(s.ring.phys(), SMALL_RING);
        assert_eq!(s.write(&data[SMALL_RING - 10..]), 110);
        assert_eq!(s.ring.phys(), 64 << 10);
        let mut out = vec![0u8; data.len()];
        assert_eq!(s.copy_out(0, &mut out), data.len());
        assert_eq!(out, data);

        // Out-of-order data past the high-water mark, then the gap, then a wrap.
        let mut r = RecvBuffer::new(2 * SMALL_RING);
        assert_eq!(r.insert(100, b"later"), Some(0));
        assert_eq!(r.insert(0, &[1u8; 100]), Some(105));
        let mut got = [0u8; 105];
        assert_eq!(r.read(&mut got), 105);
        assert_eq!(&got[100..], b"later");
        let big: Vec<u8> = (0..SMALL_RING as u32 * 2 - 10).map(|i| i as u8).collect();
        assert_eq!(r.insert(3000, &big[3000..5000]), Some(0));
        assert_eq!(r.ring.phys(), 2 * SMALL_RING);
        assert_eq!(r.insert(0, &big[..3000]), Some(5000));
        let mut out = vec![0u8; 5000];
        assert_eq!(r.read(&mut out), 5000);
        assert_eq!(out, &big[..5000]);
        // Wrapping writes and out-of-order data across the end of the ring.
        assert_eq!(r.insert(4000, &big[..1000]), Some(0));
        assert_eq!(r.insert(0, &big[1000..5000]), Some(5000));
        let mut out = vec![0u8; 5000];
        assert_eq!(r.read(&mut out), 5000);
        assert_eq!(&out[..4000], &big[1000..5000]);
        assert_eq!(&out[4000..], &big[..1000]);
    }

    #[test]
    fn stage_copies_into_free_space_and_insert_commits_without_a_copy() {
        let mut r = RecvBuffer::new(64);
        r.push(&[1u8; 40]);
        let mut out = [0u8; 40];
        r.read(&mut out[..30]);
        // 10 bytes held at the ring's end; a staged 30-byte payload wraps to the front.
        let payload: Vec<u8> = (0..30u8).collect();
        let mut sum = Checksum::new();
        assert!(r.stage(&payload, &mut sum));
        assert_eq!(sum.finish(), synack_wire::checksum::checksum(&payload));
        assert_eq!(r.len(), 10, "staging commits nothing");
        r.unstage();
        // Unstaged: an insert of other bytes copies them.
        let other = [9u8; 30];
        assert_eq!(r.insert(0, &other), Some(30));
        assert_eq!(r.read(&mut out), 40);
        assert_eq!(&out[10..], &other[..]);
        // Staged and inserted (a prefix of the same slice): the staged bytes are kept.
        let mut sum = Checksum::new();
        assert!(r.stage(&payload, &mut sum));
        assert_eq!(r.insert(0, &payload[..20]), Some(20));
        assert_eq!(r.read(&mut out), 20);
        assert_eq!(&out[..20], &payload[..20]);
        // Refused: beyond the free space, or over held out-of-order bytes.
        let mut sum = Checksum::new();
        assert!(!r.stage(&[0u8; 65], &mut sum));
        assert_eq!(r.insert(5, b"held"), Some(0));
        assert!(!r.stage(&[0u8; 6], &mut sum));
        assert_eq!(sum, Checksum::new(), "nothing summed when refused");
        assert!(r.stage(&[7u8; 5], &mut sum));
    }

    #[test]
    fn copy_out_sums_what_it_copies() {
        let mut b = SendBuffer::new(100);
        let data: Vec<u8> = (0..100u32).map(|i| (i * 37 + 1) as u8).collect();
        b.write(&data[..90]);
        b.ack(80);
        b.write(&data[90..]); // wraps
        let mut out = [0u8; 33];
        assert_eq!(b.copy_out(3, &mut out[..17]), 17);
        let mut want = Checksum::new();
        want.add_bytes(&out[..17]);
        assert_eq!(b.last_copy_sum(17), Some(want.sum()));
        assert_eq!(b.last_copy_sum(16), None);
        b.forget_copy_sum();
        assert_eq!(b.last_copy_sum(17), None);
        assert_eq!(b.copy_out(50, &mut out), 0);
        assert_eq!(b.last_copy_sum(0), None);
    }
}
