//! In-order send and receive byte buffers.
//!
//! Part 1 of the engine needs a real byte stream for FIN-with-data and half-close; the
//! buffers are bounded, allocate lazily (a `VecDeque` allocates on first write, never per
//! segment once grown) and are deliberately small types so part 2 (reassembly, SACK,
//! lazily grown ring buffers) can replace them behind the same methods.

use std::collections::VecDeque;

/// The send buffer: every byte from SND.UNA onward, sent or not yet sent.
#[derive(Debug, Default)]
pub struct SendBuffer {
    data: VecDeque<u8>,
    capacity: usize,
}

impl SendBuffer {
    /// An empty buffer holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> SendBuffer {
        SendBuffer {
            data: VecDeque::new(),
            capacity,
        }
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.data.extend(&bytes[..n]);
        n
    }

    /// Bytes held (unacknowledged plus unsent).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Room left.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// Drops `n` acknowledged bytes from the front (fewer if fewer are held).
    pub fn ack(&mut self, n: usize) {
        let n = n.min(self.data.len());
        self.data.drain(..n);
    }

    /// Copies bytes starting `offset` bytes after SND.UNA into `dst`; returns the count.
    pub fn copy_out(&self, offset: usize, dst: &mut [u8]) -> usize {
        if offset >= self.data.len() {
            return 0;
        }
        let n = dst.len().min(self.data.len() - offset);
        let (a, b) = self.data.as_slices();
        let mut copied = 0;
        for (i, slot) in dst[..n].iter_mut().enumerate() {
            let idx = offset + i;
            *slot = if idx < a.len() {
                a[idx]
            } else {
                b[idx - a.len()]
            };
            copied += 1;
        }
        copied
    }

    /// Discards everything (abort).
    pub fn clear(&mut self) {
        self.data.clear();
    }
}

/// The receive buffer: in-order bytes not yet read by the application.
#[derive(Debug, Default)]
pub struct RecvBuffer {
    data: VecDeque<u8>,
    capacity: usize,
}

impl RecvBuffer {
    /// An empty buffer holding at most `capacity` bytes.
    pub fn new(capacity: usize) -> RecvBuffer {
        RecvBuffer {
            data: VecDeque::new(),
            capacity,
        }
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.data.extend(&bytes[..n]);
        n
    }

    /// Moves up to `dst.len()` bytes to `dst`; returns the count.
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.data.len());
        for (slot, byte) in dst.iter_mut().zip(self.data.drain(..n)) {
            *slot = byte;
        }
        n
    }

    /// Bytes waiting to be read.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Room left: the receive window we can offer.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// Discards everything.
    pub fn clear(&mut self) {
        self.data.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_buffer_bounds_and_offsets() {
        let mut b = SendBuffer::new(5);
        assert_eq!(b.write(b"hello world"), 5);
        let mut out = [0u8; 3];
        assert_eq!(b.copy_out(2, &mut out), 3);
        assert_eq!(&out, b"llo");
        b.ack(2);
        assert_eq!(b.copy_out(0, &mut out), 3);
        assert_eq!(&out, b"llo");
        assert_eq!(b.copy_out(9, &mut out), 0);
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
    }
}
