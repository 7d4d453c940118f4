//! Byte sources the capture readers pull from: any `std::io::Read`, or a byte slice
//! (zero-copy).

use std::io::Read;

use super::PcapError;

mod sealed {
    pub trait Sealed {}
}

/// Where a [`CaptureReader`](super::CaptureReader) gets its bytes: [`IoSource`] (any
/// `Read`, one reused buffer) or [`SliceSource`] (a byte slice, no copying).
///
/// This trait is sealed: only this module implements it.
pub trait Source: sealed::Sealed {
    /// Takes the next `n` bytes. `Ok(None)` means end of input before any byte; fewer than
    /// `n` bytes is [`PcapError::Truncated`]. The bytes stay valid until the next call.
    fn chunk(&mut self, n: usize) -> Result<Option<&[u8]>, PcapError>;

    /// Number of bytes consumed so far.
    fn position(&self) -> u64;
}

/// A [`Source`] reading from any `Read`, through one buffer reused for every record.
///
/// Reads are issued as asked for; wrap files in a `std::io::BufReader`.
#[derive(Debug)]
pub struct IoSource<R> {
    inner: R,
    buf: Vec<u8>,
    pos: u64,
}

impl<R: Read> IoSource<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        IoSource {
            inner,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> sealed::Sealed for IoSource<R> {}

impl<R: Read> Source for IoSource<R> {
    fn chunk(&mut self, n: usize) -> Result<Option<&[u8]>, PcapError> {
        self.buf.clear();
        let start = self.pos;
        // `read_to_end` through `take` grows the buffer only as bytes actually arrive, so
        // a hostile length on a short file never allocates more than the file holds; the
        // buffer keeps its capacity, so steady-state reading does not allocate.
        let limit = u64::try_from(n).unwrap_or(u64::MAX);
        let got = (&mut self.inner)
            .take(limit)
            .read_to_end(&mut self.buf)
            .map_err(PcapError::Io)?;
        self.pos = self
            .pos
            .saturating_add(u64::try_from(got).unwrap_or(u64::MAX));
        if got == n {
            Ok(Some(&self.buf))
        } else if got == 0 {
            Ok(None)
        } else {
            Err(PcapError::Truncated {
                offset: start,
                wanted: n,
                got,
            })
        }
    }

    fn position(&self) -> u64 {
        self.pos
    }
}

/// A [`Source`] over a byte slice: records are handed out without copying.
#[derive(Clone, Debug)]
pub struct SliceSource<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        SliceSource { data, pos: 0 }
    }
}

impl sealed::Sealed for SliceSource<'_> {}

impl Source for SliceSource<'_> {
    fn chunk(&mut self, n: usize) -> Result<Option<&[u8]>, PcapError> {
        let rest = self.data.get(self.pos..).unwrap_or(&[]);
        if n == 0 {
            return Ok(Some(&[]));
        }
        if rest.is_empty() {
            return Ok(None);
        }
        match rest.get(..n) {
            Some(bytes) => {
                self.pos += n;
                Ok(Some(bytes))
            }
            None => {
                let start = self.pos;
                self.pos = self.data.len();
                Err(PcapError::Truncated {
                    offset: start as u64,
                    wanted: n,
                    got: rest.len(),
                })
            }
        }
    }

    fn position(&self) -> u64 {
        self.pos as u64
    }
}
