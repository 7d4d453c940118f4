//! TCP options (RFC 9293 §3.1 and §3.2): parsing, emitting, the SYN and established-state
//! layouts Linux and FreeBSD send, and a parsed summary for the engine.
//!
//! Parsing never panics: [`options`] yields `Result<TcpOption, OptionError>` items, and a
//! malformed option is an error value that says what was wrong and where. Emitting goes
//! through [`emit_options`] or [`TcpOptionBuf`], which can also produce deliberately
//! malformed options ([`TcpOption::Raw`]) for test corpora.
//!
//! ```
//! use synack_wire::tcp_options::{options, SynOptions, TcpOption};
//!
//! // Linux's SYN: mss,sackOK,TS,nop,wscale (20 bytes).
//! let syn = SynOptions {
//!     mss: Some(65495),
//!     window_scale: Some(7),
//!     sack_permitted: true,
//!     timestamps: Some((3913303147, 0)),
//! };
//! let buf = syn.linux_layout();
//! let parsed: Vec<_> = options(buf.as_bytes()).map(|o| o.unwrap()).collect();
//! assert_eq!(
//!     parsed,
//!     [
//!         TcpOption::Mss(65495),
//!         TcpOption::SackPermitted,
//!         TcpOption::Timestamps { tsval: 3913303147, tsecr: 0 },
//!         TcpOption::Nop,
//!         TcpOption::WindowScale(7),
//!     ]
//! );
//! ```

use core::fmt;
use core::ops::Deref;

/// Option kind numbers (IANA "TCP Option Kind Numbers").
pub mod kind {
    /// End of option list (RFC 9293 §3.1).
    pub const EOL: u8 = 0;
    /// No-operation (RFC 9293 §3.1).
    pub const NOP: u8 = 1;
    /// Maximum segment size (RFC 9293 §3.1, §3.7.1).
    pub const MSS: u8 = 2;
    /// Window scale (RFC 7323 §2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323 §3).
    pub const TIMESTAMPS: u8 = 8;
    /// TCP MD5 signature (RFC 2385).
    pub const MD5: u8 = 19;
    /// TCP-AO (RFC 5925).
    pub const AUTH: u8 = 29;
    /// Multipath TCP (RFC 8684).
    pub const MPTCP: u8 = 30;
    /// TCP Fast Open cookie (RFC 7413).
    pub const FAST_OPEN: u8 = 34;
    /// RFC 3692-style experiment 1 (RFC 6994 shared use).
    pub const EXPERIMENT_1: u8 = 253;
    /// RFC 3692-style experiment 2 (RFC 6994 shared use).
    pub const EXPERIMENT_2: u8 = 254;
}

/// Maximum bytes of options in a TCP header: data offset 15 words minus the fixed 5.
pub const MAX_OPTIONS_LEN: usize = 40;

/// Wire length of the MSS option.
pub const MSS_LEN: u8 = 4;
/// Wire length of the window-scale option.
pub const WINDOW_SCALE_LEN: u8 = 3;
/// Wire length of the SACK-permitted option.
pub const SACK_PERMITTED_LEN: u8 = 2;
/// Wire length of the timestamps option.
pub const TIMESTAMPS_LEN: u8 = 10;

/// One to four SACK blocks `(left edge, right edge)` (RFC 2018 §3), stored inline.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [(u32, u32); SackBlocks::MAX],
    len: u8,
}

impl SackBlocks {
    /// The most blocks a SACK option can carry in 40 bytes of options (RFC 2018 §3).
    pub const MAX: usize = 4;

    /// No blocks.
    pub const fn new() -> SackBlocks {
        SackBlocks {
            blocks: [(0, 0); SackBlocks::MAX],
            len: 0,
        }
    }

    /// The blocks of `blocks`, or `None` if there are more than [`SackBlocks::MAX`].
    pub fn from_slice(blocks: &[(u32, u32)]) -> Option<SackBlocks> {
        let mut s = SackBlocks::new();
        for &b in blocks {
            if !s.push(b) {
                return None;
            }
        }
        Some(s)
    }

    /// Appends a block; returns false (and changes nothing) when already full.
    pub fn push(&mut self, block: (u32, u32)) -> bool {
        let Some(slot) = self.blocks.get_mut(self.len as usize) else {
            return false;
        };
        *slot = block;
        self.len += 1;
        true
    }

    /// The blocks as a slice.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..self.len as usize]
    }
}

impl Deref for SackBlocks {
    type Target = [(u32, u32)];
    fn deref(&self) -> &[(u32, u32)] {
        self.as_slice()
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl core::hash::Hash for SackBlocks {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0). The parser stops after it: what follows is padding.
    Eol,
    /// No-operation (kind 1), used for alignment.
    Nop,
    /// Maximum segment size (kind 2, length 4; RFC 9293 §3.7.1).
    Mss(u16),
    /// Window scale shift count (kind 3, length 3; RFC 7323 §2). Kept as sent: values
    /// above 14 are the receiver's to clamp (RFC 7323 §2.3).
    WindowScale(u8),
    /// SACK permitted (kind 4, length 2; RFC 2018 §2).
    SackPermitted,
    /// SACK blocks (kind 5, length 2 + 8n for n in 1..=4; RFC 2018 §3).
    Sack(SackBlocks),
    /// Timestamps (kind 8, length 10; RFC 7323 §3).
    Timestamps {
        /// TSval, the sender's timestamp clock.
        tsval: u32,
        /// TSecr, the echoed timestamp.
        tsecr: u32,
    },
    /// Any other kind with a well-formed length, data kept raw (TFO 34, MD5 19, MPTCP 30,
    /// experiments 253/254, ...). Emitted with length `data.len() + 2`.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The bytes after the kind and length bytes.
        data: &'a [u8],
    },
    /// Emit-only: these bytes written verbatim, kind and length bytes included, with no
    /// checks, to build malformed options for test corpora. The parser never yields it.
    Raw(&'a [u8]),
}

impl TcpOption<'_> {
    /// The option's kind byte (for [`TcpOption::Raw`], its first byte, or EOL if empty).
    pub fn kind(&self) -> u8 {
        match self {
            TcpOption::Eol => kind::EOL,
            TcpOption::Nop => kind::NOP,
            TcpOption::Mss(_) => kind::MSS,
            TcpOption::WindowScale(_) => kind::WINDOW_SCALE,
            TcpOption::SackPermitted => kind::SACK_PERMITTED,
            TcpOption::Sack(_) => kind::SACK,
            TcpOption::Timestamps { .. } => kind::TIMESTAMPS,
            TcpOption::Unknown { kind, .. } => *kind,
            TcpOption::Raw(bytes) => bytes.first().copied().unwrap_or(kind::EOL),
        }
    }

    /// Bytes this option occupies on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            TcpOption::Eol | TcpOption::Nop => 1,
            TcpOption::Mss(_) => MSS_LEN as usize,
            TcpOption::WindowScale(_) => WINDOW_SCALE_LEN as usize,
            TcpOption::SackPermitted => SACK_PERMITTED_LEN as usize,
            TcpOption::Sack(b) => 2 + 8 * b.len(),
            TcpOption::Timestamps { .. } => TIMESTAMPS_LEN as usize,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
            TcpOption::Raw(bytes) => bytes.len(),
        }
    }

    /// Writes the option at the start of `buf`, returning the bytes written.
    ///
    /// Fails if `buf` is too short, or if an [`TcpOption::Unknown`] has more than 253
    /// data bytes (its length would not fit in the length byte).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let n = self.wire_len();
        let Some(out) = buf.get_mut(..n) else {
            return Err(EmitError::BufferTooSmall {
                needed: n,
                available: buf.len(),
            });
        };
        match self {
            TcpOption::Eol | TcpOption::Nop => out[0] = self.kind(),
            TcpOption::Mss(mss) => {
                out[..2].copy_from_slice(&[kind::MSS, MSS_LEN]);
                out[2..].copy_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => {
                out.copy_from_slice(&[kind::WINDOW_SCALE, WINDOW_SCALE_LEN, *shift]);
            }
            TcpOption::SackPermitted => {
                out.copy_from_slice(&[kind::SACK_PERMITTED, SACK_PERMITTED_LEN]);
            }
            TcpOption::Sack(blocks) => {
                // At most 4 blocks: the length is at most 34 and fits a byte.
                out[..2].copy_from_slice(&[kind::SACK, n as u8]);
                for (chunk, &(left, right)) in out[2..].chunks_exact_mut(8).zip(blocks.iter()) {
                    chunk[..4].copy_from_slice(&left.to_be_bytes());
                    chunk[4..].copy_from_slice(&right.to_be_bytes());
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                out[..2].copy_from_slice(&[kind::TIMESTAMPS, TIMESTAMPS_LEN]);
                out[2..6].copy_from_slice(&tsval.to_be_bytes());
                out[6..].copy_from_slice(&tsecr.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                let len = u8::try_from(n).map_err(|_| EmitError::OptionTooLong { len: n })?;
                out[..2].copy_from_slice(&[*kind, len]);
                out[2..].copy_from_slice(data);
            }
            TcpOption::Raw(bytes) => out.copy_from_slice(bytes),
        }
        Ok(n)
    }
}

/// Why emitting options failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The output buffer is shorter than the options.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// An option's length does not fit its one-byte length field.
    OptionTooLong {
        /// The option's length.
        len: usize,
    },
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::BufferTooSmall { needed, available } => {
                write!(f, "buffer too small: need {needed} bytes, have {available}")
            }
            EmitError::OptionTooLong { len } => write!(f, "option length {len} exceeds 255"),
        }
    }
}

impl core::error::Error for EmitError {}

/// What was wrong with a malformed option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptionErrorReason {
    /// The kind byte is the last byte: there is no length byte.
    MissingLength,
    /// The length byte is below 2, so it cannot cover its own kind and length bytes.
    LengthTooSmall,
    /// The length runs past the end of the options.
    PastEnd,
    /// A known kind with a length its definition does not allow (e.g. MSS not 4, SACK
    /// not 2 + 8n with n in 1..=4). The option is skipped and parsing continues.
    BadLength,
}

/// A malformed option: where it starts, its kind, its length byte and what was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OptionError {
    /// Offset of the option's kind byte within the option bytes.
    pub offset: usize,
    /// The option kind.
    pub kind: u8,
    /// The length byte, if there was one.
    pub len: Option<u8>,
    /// What was wrong.
    pub reason: OptionErrorReason,
}

impl OptionError {
    /// Whether parsing cannot continue past this error (the option's extent is unknown).
    pub fn is_fatal(&self) -> bool {
        self.reason != OptionErrorReason::BadLength
    }
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.reason {
            OptionErrorReason::MissingLength => "missing length byte",
            OptionErrorReason::LengthTooSmall => "length below 2",
            OptionErrorReason::PastEnd => "length runs past the end of the options",
            OptionErrorReason::BadLength => "wrong length for its kind",
        };
        write!(f, "TCP option kind {} at offset {}", self.kind, self.offset)?;
        if let Some(len) = self.len {
            write!(f, " length {len}")?;
        }
        write!(f, ": {what}")
    }
}

impl core::error::Error for OptionError {}

/// Iterates over the options in `bytes` (the bytes between the fixed TCP header and the
/// data offset).
pub fn options(bytes: &[u8]) -> OptionIter<'_> {
    OptionIter {
        bytes,
        pos: 0,
        done: false,
    }
}

/// Iterator over TCP options, yielding each option or the error that describes a malformed
/// one. It ends after EOL (RFC 9293 §3.1: the remaining bytes are padding), at the end of
/// the bytes, or after a fatal error ([`OptionError::is_fatal`]).
#[derive(Clone, Debug)]
pub struct OptionIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> OptionIter<'a> {
    /// Offset of the next option to be parsed.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The bytes not yet parsed (after EOL: the padding; after a fatal error: the bytes
    /// from the malformed option on).
    pub fn remainder(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or(&[])
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<TcpOption<'a>, OptionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let offset = self.pos;
        let rest = self.remainder();
        let Some(&k) = rest.first() else {
            self.done = true;
            return None;
        };
        match k {
            kind::EOL => {
                self.pos += 1;
                self.done = true;
                return Some(Ok(TcpOption::Eol));
            }
            kind::NOP => {
                self.pos += 1;
                return Some(Ok(TcpOption::Nop));
            }
            _ => {}
        }
        let mut err = OptionError {
            offset,
            kind: k,
            len: None,
            reason: OptionErrorReason::MissingLength,
        };
        // RFC 9293 §3.1: every other option is kind, length (including both), data.
        let Some(&len) = rest.get(1) else {
            self.done = true;
            return Some(Err(err));
        };
        err.len = Some(len);
        if len < 2 {
            err.reason = OptionErrorReason::LengthTooSmall;
            self.done = true;
            return Some(Err(err));
        }
        let Some(data) = rest.get(2..len as usize) else {
            err.reason = OptionErrorReason::PastEnd;
            self.done = true;
            return Some(Err(err));
        };
        self.pos += len as usize;
        let parsed = match (k, data.len()) {
            (kind::MSS, 2) => Some(TcpOption::Mss(u16::from_be_bytes([data[0], data[1]]))),
            (kind::WINDOW_SCALE, 1) => Some(TcpOption::WindowScale(data[0])),
            (kind::SACK_PERMITTED, 0) => Some(TcpOption::SackPermitted),
            (kind::TIMESTAMPS, 8) => Some(TcpOption::Timestamps {
                tsval: be32(&data[..4]),
                tsecr: be32(&data[4..]),
            }),
            (kind::SACK, n) if n > 0 && n % 8 == 0 && n / 8 <= SackBlocks::MAX => {
                let mut blocks = SackBlocks::new();
                for b in data.chunks_exact(8) {
                    blocks.push((be32(&b[..4]), be32(&b[4..])));
                }
                Some(TcpOption::Sack(blocks))
            }
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::TIMESTAMPS
                | kind::SACK,
                _,
            ) => None,
            _ => Some(TcpOption::Unknown { kind: k, data }),
        };
        Some(parsed.ok_or(OptionError {
            reason: OptionErrorReason::BadLength,
            ..err
        }))
    }
}

impl core::iter::FusedIterator for OptionIter<'_> {}

/// Reads a big-endian u32 from a 4-byte slice (callers pass exactly 4 bytes).
fn be32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(b);
    u32::from_be_bytes(w)
}

/// Total wire length of `opts` once padded to a multiple of 4 bytes.
pub fn options_len(opts: &[TcpOption<'_>]) -> usize {
    opts.iter()
        .map(TcpOption::wire_len)
        .sum::<usize>()
        .next_multiple_of(4)
}

/// Writes `opts` in order into `buf` and pads with zero bytes (EOL, RFC 9293 §3.1) to a
/// multiple of 4, returning the bytes written. No NOPs are inserted: the caller chooses the
/// layout (see [`SynOptions`] and [`established_layout`] for the usual ones).
pub fn emit_options(opts: &[TcpOption<'_>], buf: &mut [u8]) -> Result<usize, EmitError> {
    let total = options_len(opts);
    if buf.len() < total {
        return Err(EmitError::BufferTooSmall {
            needed: total,
            available: buf.len(),
        });
    }
    let mut at = 0;
    for opt in opts {
        at += opt.emit(&mut buf[at..])?;
    }
    buf[at..total].fill(kind::EOL);
    Ok(total)
}

/// Up to 40 bytes of encoded options, always a multiple of 4 long: what a TCP header
/// carries between its fixed part and the data offset. Stored inline (no heap).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpOptionBuf {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl Default for TcpOptionBuf {
    fn default() -> Self {
        TcpOptionBuf::new()
    }
}

impl TcpOptionBuf {
    /// No options.
    pub const fn new() -> TcpOptionBuf {
        TcpOptionBuf {
            bytes: [0; MAX_OPTIONS_LEN],
            len: 0,
        }
    }

    /// Encodes `opts` in order, zero-padded to a multiple of 4 (see [`emit_options`]).
    pub fn from_options(opts: &[TcpOption<'_>]) -> Result<TcpOptionBuf, EmitError> {
        let mut b = TcpOptionBuf::new();
        let n = emit_options(opts, &mut b.bytes)?;
        b.len = n as u8;
        Ok(b)
    }

    /// Takes already-encoded option bytes verbatim (well-formed or not), zero-padded to a
    /// multiple of 4. Fails if they exceed 40 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<TcpOptionBuf, EmitError> {
        let padded = bytes.len().next_multiple_of(4);
        if padded > MAX_OPTIONS_LEN {
            return Err(EmitError::BufferTooSmall {
                needed: padded,
                available: MAX_OPTIONS_LEN,
            });
        }
        let mut b = TcpOptionBuf::new();
        b.bytes[..bytes.len()].copy_from_slice(bytes);
        b.len = padded as u8;
        Ok(b)
    }

    /// The encoded bytes (a multiple of 4 long).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in bytes (a multiple of 4, at most 40).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterates over the options.
    pub fn iter(&self) -> OptionIter<'_> {
        options(self.as_bytes())
    }

    /// The parsed summary of the options.
    pub fn summary(&self) -> TcpOptionsSummary {
        TcpOptionsSummary::parse(self.as_bytes())
    }
}

impl fmt::Debug for TcpOptionBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The options a SYN or SYN-ACK may carry, to be laid out as a given stack does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SynOptions {
    /// MSS to announce.
    pub mss: Option<u16>,
    /// Window scale shift to announce.
    pub window_scale: Option<u8>,
    /// Whether to send SACK-permitted.
    pub sack_permitted: bool,
    /// Timestamps `(tsval, tsecr)` to send.
    pub timestamps: Option<(u32, u32)>,
}

impl SynOptions {
    /// Linux's layout (`tcp_options_write`): `mss`, then `sackOK,TS` when both are on or
    /// `nop,nop,TS`, then `nop,nop,sackOK` if SACK went without TS, then `nop,wscale`.
    /// All on: `mss,sackOK,TS,nop,wscale`; no TS: `mss,nop,nop,sackOK,nop,wscale`; TS
    /// without SACK: `mss,nop,nop,TS,nop,wscale`. Always a multiple of 4 without padding.
    pub fn linux_layout(&self) -> TcpOptionBuf {
        // The bytes written in place (at most 24), not an option list encoded afterwards.
        let mut w = OptionWriter::new();
        if let Some(mss) = self.mss {
            w.mss(mss);
        }
        let mut sack_pending = self.sack_permitted;
        if let Some((tsval, tsecr)) = self.timestamps {
            if sack_pending {
                w.put(&[kind::SACK_PERMITTED, SACK_PERMITTED_LEN]);
                sack_pending = false;
            } else {
                w.put(&[kind::NOP, kind::NOP]);
            }
            w.timestamps(tsval, tsecr);
        }
        if sack_pending {
            w.put(&[
                kind::NOP,
                kind::NOP,
                kind::SACK_PERMITTED,
                SACK_PERMITTED_LEN,
            ]);
        }
        if let Some(ws) = self.window_scale {
            w.put(&[kind::NOP, kind::WINDOW_SCALE, WINDOW_SCALE_LEN, ws]);
        }
        w.finish()
    }

    /// FreeBSD's layout (`tcp_addoptions`): options in the order mss, wscale, sackOK, TS,
    /// each preceded by the NOPs that align it — wscale at an odd offset, sackOK at an even
    /// one, TS at 2 mod 4 — and the end padded with EOL. All on:
    /// `mss,nop,wscale,sackOK,TS`; no TS: `mss,nop,wscale,sackOK,eol,eol`; TS without
    /// SACK: `mss,nop,wscale,nop,nop,TS`; MSS and SACK only: `mss,sackOK,eol,eol`.
    pub fn bsd_layout(&self) -> TcpOptionBuf {
        // Written in place (at most 24 bytes with the padding).
        let mut w = OptionWriter::new();
        if let Some(mss) = self.mss {
            w.mss(mss);
        }
        if let Some(ws) = self.window_scale {
            while w.len == 0 || w.len % 2 != 1 {
                w.put(&[kind::NOP]);
            }
            w.put(&[kind::WINDOW_SCALE, WINDOW_SCALE_LEN, ws]);
        }
        if self.sack_permitted {
            while w.len % 2 != 0 {
                w.put(&[kind::NOP]);
            }
            w.put(&[kind::SACK_PERMITTED, SACK_PERMITTED_LEN]);
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            while w.len == 0 || w.len % 4 != 2 {
                w.put(&[kind::NOP]);
            }
            w.timestamps(tsval, tsecr);
        }
        w.finish()
    }
}

/// Option bytes written in place into a [`TcpOptionBuf`] by the SYN layouts, which know
/// their total stays far below 40 bytes (at most 24).
struct OptionWriter {
    buf: TcpOptionBuf,
    len: usize,
}

impl OptionWriter {
    fn new() -> OptionWriter {
        OptionWriter {
            buf: TcpOptionBuf::new(),
            len: 0,
        }
    }

    /// Appends `bytes`; beyond 40 bytes (no layout gets there) they are dropped.
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        if let Some(out) = self.buf.bytes.get_mut(self.len..self.len + bytes.len()) {
            out.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    /// Kind 2, length 4, the MSS (RFC 9293 §3.2).
    #[inline(always)]
    fn mss(&mut self, mss: u16) {
        let [a, b] = mss.to_be_bytes();
        self.put(&[kind::MSS, MSS_LEN, a, b]);
    }

    /// Kind 8, length 10, TSval, TSecr (RFC 7323 §3.2).
    #[inline(always)]
    fn timestamps(&mut self, tsval: u32, tsecr: u32) {
        let [a, b, c, d] = tsval.to_be_bytes();
        let [e, f, g, h] = tsecr.to_be_bytes();
        self.put(&[kind::TIMESTAMPS, TIMESTAMPS_LEN, a, b, c, d, e, f, g, h]);
    }

    /// The options padded with EOL to a multiple of 4 (RFC 9293 §3.1); the buffer starts
    /// zeroed and EOL is zero.
    #[inline(always)]
    fn finish(mut self) -> TcpOptionBuf {
        self.buf.len = self.len.next_multiple_of(4) as u8;
        self.buf
    }
}

/// The options of an established-state segment as Linux and FreeBSD lay them out:
/// `nop,nop,TS` and then `nop,nop,sack` with the blocks (RFC 7323 Appendix A alignment).
/// Blocks that do not fit are dropped from the end: at most 3 with timestamps, 4 without
/// (RFC 2018 §3).
pub fn established_layout(timestamps: Option<(u32, u32)>, sack: &[(u32, u32)]) -> TcpOptionBuf {
    let mut list = [TcpOption::Nop; 6];
    let mut n = 0;
    if let Some((tsval, tsecr)) = timestamps {
        list[2] = TcpOption::Timestamps { tsval, tsecr };
        n = 3;
    }
    let max_blocks = if timestamps.is_some() { 3 } else { 4 };
    let blocks = &sack[..sack.len().min(max_blocks)];
    if let Some(blocks) = SackBlocks::from_slice(blocks).filter(|b| !b.is_empty()) {
        list[n + 2] = TcpOption::Sack(blocks);
        n += 3;
    }
    layout_buf(&list[..n])
}

/// Encodes a layout that is known to fit in 40 bytes.
fn layout_buf(list: &[TcpOption<'_>]) -> TcpOptionBuf {
    // Every layout built above is at most 40 bytes, so this cannot fail; fall back to
    // no options rather than panic should that ever change.
    TcpOptionBuf::from_options(list).unwrap_or_default()
}

/// The options that matter to a TCP engine, extracted from an option list. When a kind
/// appears more than once, the last occurrence wins (as in Linux's `tcp_parse_options`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpOptionsSummary {
    /// MSS option value (RFC 9293 §3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift as sent (RFC 7323 §2.3: clamp values above 14 to 14).
    pub window_scale: Option<u8>,
    /// SACK-permitted was present (RFC 2018 §2).
    pub sack_permitted: bool,
    /// Timestamps `(tsval, tsecr)` (RFC 7323 §3).
    pub timestamps: Option<(u32, u32)>,
    /// SACK blocks (RFC 2018 §3); empty if none.
    pub sack_blocks: SackBlocks,
    /// Number of options of other kinds (kept raw by the parser).
    pub unknown: u8,
    /// The first malformed option, if any. Options before it (and, for a non-fatal one,
    /// after it) are still reported.
    pub malformed: Option<OptionError>,
}

impl TcpOptionsSummary {
    /// Summarizes the options in `bytes`; never fails, malformed options are reported in
    /// [`TcpOptionsSummary::malformed`].
    ///
    /// The same walk as [`options`] (and the same result as folding its items), done in
    /// place: no [`TcpOption`] or `Result` per option is built and moved, which cost a SYN
    /// several hundred instructions.
    pub fn parse(bytes: &[u8]) -> TcpOptionsSummary {
        let mut s = TcpOptionsSummary::default();
        let mut pos = 0;
        while let Some(&k) = bytes.get(pos) {
            match k {
                // RFC 9293 §3.1: EOL ends the list; what follows is padding.
                kind::EOL => break,
                kind::NOP => {
                    pos += 1;
                    continue;
                }
                _ => {}
            }
            let err = |len, reason| OptionError {
                offset: pos,
                kind: k,
                len,
                reason,
            };
            // RFC 9293 §3.1: every other option is kind, length (including both), data.
            // A missing, too small or overlong length ends the walk (fatal errors).
            let Some(&len) = bytes.get(pos + 1) else {
                s.malformed
                    .get_or_insert(err(None, OptionErrorReason::MissingLength));
                break;
            };
            if len < 2 {
                s.malformed
                    .get_or_insert(err(Some(len), OptionErrorReason::LengthTooSmall));
                break;
            }
            let Some(data) = bytes.get(pos + 2..pos + len as usize) else {
                s.malformed
                    .get_or_insert(err(Some(len), OptionErrorReason::PastEnd));
                break;
            };
            match (k, data) {
                (kind::MSS, &[a, b]) => s.mss = Some(u16::from_be_bytes([a, b])),
                (kind::WINDOW_SCALE, &[w]) => s.window_scale = Some(w),
                (kind::SACK_PERMITTED, []) => s.sack_permitted = true,
                (kind::TIMESTAMPS, &[v0, v1, v2, v3, e0, e1, e2, e3]) => {
                    s.timestamps = Some((
                        u32::from_be_bytes([v0, v1, v2, v3]),
                        u32::from_be_bytes([e0, e1, e2, e3]),
                    ));
                }
                (kind::SACK, d)
                    if !d.is_empty() && d.len() % 8 == 0 && d.len() / 8 <= SackBlocks::MAX =>
                {
                    let mut blocks = SackBlocks::new();
                    for b in d.chunks_exact(8) {
                        blocks.push((be32(&b[..4]), be32(&b[4..])));
                    }
                    s.sack_blocks = blocks;
                }
                // A known kind with a length its definition does not allow: reported, and
                // the walk goes on after it.
                (
                    kind::MSS
                    | kind::WINDOW_SCALE
                    | kind::SACK_PERMITTED
                    | kind::TIMESTAMPS
                    | kind::SACK,
                    _,
                ) => {
                    s.malformed
                        .get_or_insert(err(Some(len), OptionErrorReason::BadLength));
                }
                _ => s.unknown = s.unknown.saturating_add(1),
            }
            pos += len as usize;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Vec<Result<TcpOption<'_>, OptionError>> {
        options(bytes).collect()
    }

    /// The SYN layouts as they were built before they were written in place: an option
    /// list encoded by [`emit_options`]. The reference for `syn_layouts_match_the_encoder`.
    fn layout_by_list(o: &SynOptions, linux: bool) -> TcpOptionBuf {
        let mut list = Vec::new();
        let len = |l: &Vec<TcpOption<'_>>| l.iter().map(|o| o.wire_len()).sum::<usize>();
        if let Some(mss) = o.mss {
            list.push(TcpOption::Mss(mss));
        }
        let ts = o
            .timestamps
            .map(|(tsval, tsecr)| TcpOption::Timestamps { tsval, tsecr });
        if linux {
            let mut sack_pending = o.sack_permitted;
            if let Some(ts) = ts {
                if sack_pending {
                    list.push(TcpOption::SackPermitted);
                    sack_pending = false;
                } else {
                    list.extend([TcpOption::Nop, TcpOption::Nop]);
                }
                list.push(ts);
            }
            if sack_pending {
                list.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted]);
            }
            if let Some(ws) = o.window_scale {
                list.extend([TcpOption::Nop, TcpOption::WindowScale(ws)]);
            }
        } else {
            if let Some(ws) = o.window_scale {
                while len(&list) == 0 || len(&list) % 2 != 1 {
                    list.push(TcpOption::Nop);
                }
                list.push(TcpOption::WindowScale(ws));
            }
            if o.sack_permitted {
                while len(&list) % 2 != 0 {
                    list.push(TcpOption::Nop);
                }
                list.push(TcpOption::SackPermitted);
            }
            if let Some(ts) = ts {
                while len(&list) == 0 || len(&list) % 4 != 2 {
                    list.push(TcpOption::Nop);
                }
                list.push(ts);
            }
        }
        TcpOptionBuf::from_options(&list).unwrap()
    }

    #[test]
    fn syn_layouts_match_the_encoder() {
        let mut n = 0;
        for mss in [
            None,
            Some(0),
            Some(536),
            Some(1460),
            Some(0xfffe),
            Some(u16::MAX),
        ] {
            for window_scale in [None, Some(0), Some(7), Some(14), Some(255)] {
                for sack_permitted in [false, true] {
                    for timestamps in [None, Some((0, 0)), Some((0xdead_beef, 0x0102_0304))] {
                        let o = SynOptions {
                            mss,
                            window_scale,
                            sack_permitted,
                            timestamps,
                        };
                        for linux in [true, false] {
                            let got = if linux {
                                o.linux_layout()
                            } else {
                                o.bsd_layout()
                            };
                            let want = layout_by_list(&o, linux);
                            assert!(got == want, "{o:?} linux {linux}: {got:?} != {want:?}");
                            assert_eq!(got.len() % 4, 0);
                            n += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(n, 6 * 5 * 2 * 3 * 2);
    }

    #[test]
    fn linux_syn_layouts() {
        let all = SynOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 0)),
        };
        assert_eq!(
            all.linux_layout().as_bytes(),
            [
                2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7
            ]
        );
        let no_ts = SynOptions {
            timestamps: None,
            ..all
        };
        assert_eq!(
            no_ts.linux_layout().as_bytes(),
            [2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]
        );
        let no_sack = SynOptions {
            sack_permitted: false,
            ..all
        };
        let b = no_sack.linux_layout();
        assert_eq!(&b.as_bytes()[..8], [2, 4, 5, 180, 1, 1, 8, 10]);
        assert_eq!(&b.as_bytes()[16..], [1, 3, 3, 7]);
        let mss_only = SynOptions {
            mss: Some(536),
            ..SynOptions::default()
        };
        assert_eq!(mss_only.linux_layout().as_bytes(), [2, 4, 2, 24]);
        let no_ws = SynOptions {
            window_scale: None,
            ..all
        };
        assert_eq!(no_ws.linux_layout().len(), 16);
    }

    #[test]
    fn bsd_syn_layouts() {
        let all = SynOptions {
            mss: Some(1460),
            window_scale: Some(6),
            sack_permitted: true,
            timestamps: Some((100, 0)),
        };
        assert_eq!(
            all.bsd_layout().as_bytes(),
            [
                2, 4, 5, 180, 1, 3, 3, 6, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0
            ]
        );
        let mss_sack = SynOptions {
            mss: Some(1460),
            sack_permitted: true,
            ..SynOptions::default()
        };
        assert_eq!(mss_sack.bsd_layout().as_bytes(), [2, 4, 5, 180, 4, 2, 0, 0]);
        let ts_no_sack = SynOptions {
            sack_permitted: false,
            ..all
        };
        assert_eq!(
            &ts_no_sack.bsd_layout().as_bytes()[..12],
            [2, 4, 5, 180, 1, 3, 3, 6, 1, 1, 8, 10]
        );
    }

    #[test]
    fn established_layouts() {
        let b = established_layout(Some((7, 9)), &[(1, 2), (3, 4), (5, 6), (7, 8)]);
        let got: Vec<_> = b.iter().map(|o| o.unwrap()).collect();
        assert_eq!(got.len(), 6);
        assert_eq!(got[2], TcpOption::Timestamps { tsval: 7, tsecr: 9 });
        assert_eq!(
            got[5],
            TcpOption::Sack(SackBlocks::from_slice(&[(1, 2), (3, 4), (5, 6)]).unwrap())
        );
        assert_eq!(b.len(), 12 + 2 + 2 + 24);
        let b = established_layout(None, &[(1, 2)]);
        assert_eq!(b.as_bytes(), [1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert!(established_layout(None, &[]).is_empty());
    }

    #[test]
    fn malformed_options_are_errors() {
        // MSS with length 3: skipped, parsing continues.
        let r = parse_all(&[2, 3, 1, 1, 0]);
        assert_eq!(
            r[0],
            Err(OptionError {
                offset: 0,
                kind: 2,
                len: Some(3),
                reason: OptionErrorReason::BadLength
            })
        );
        assert_eq!(r[1], Ok(TcpOption::Nop));
        assert_eq!(r[2], Ok(TcpOption::Eol));
        assert_eq!(r.len(), 3);
        // Length 0 and 1 are fatal.
        let r = parse_all(&[1, 8, 1, 1, 1]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].unwrap_err().reason, OptionErrorReason::LengthTooSmall);
        // Past the end.
        let r = parse_all(&[8, 10, 0, 0]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].unwrap_err().reason, OptionErrorReason::PastEnd);
        // Missing length.
        let r = parse_all(&[1, 1, 1, 30]);
        assert_eq!(r[3].unwrap_err().reason, OptionErrorReason::MissingLength);
        // SACK with zero blocks, 5 blocks, and a non-multiple of 8.
        for len in [2u8, 42, 11] {
            let mut b = vec![5, len];
            b.resize(len as usize, 0);
            assert_eq!(
                parse_all(&b)[0].unwrap_err().reason,
                OptionErrorReason::BadLength
            );
        }
    }

    #[test]
    fn unknown_and_raw() {
        let tfo = [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4];
        let opts = [
            TcpOption::Unknown {
                kind: kind::FAST_OPEN,
                data: &tfo,
            },
            TcpOption::Raw(&[2, 3, 9]),
        ];
        let b = TcpOptionBuf::from_options(&opts).unwrap();
        assert_eq!(b.len(), 16);
        let r: Vec<_> = b.iter().collect();
        assert_eq!(r[0], Ok(opts[0]));
        assert_eq!(r[1].unwrap_err().reason, OptionErrorReason::BadLength);
        assert_eq!(r[2], Ok(TcpOption::Eol));
        let s = b.summary();
        assert_eq!(s.unknown, 1);
        assert_eq!(s.malformed.map(|e| e.kind), Some(2));
    }

    #[test]
    fn summary_of_linux_syn() {
        let s = SynOptions {
            mss: Some(65495),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((3913303147, 0)),
        }
        .linux_layout()
        .summary();
        assert_eq!(s.mss, Some(65495));
        assert_eq!(s.window_scale, Some(7));
        assert!(s.sack_permitted);
        assert_eq!(s.timestamps, Some((3913303147, 0)));
        assert!(s.sack_blocks.is_empty());
        assert_eq!(s.malformed, None);
    }

    /// The summary as a fold of [`options`]' items: what [`TcpOptionsSummary::parse`] did
    /// before it walked the bytes itself, kept as the reference it must equal.
    fn summary_by_iter(bytes: &[u8]) -> TcpOptionsSummary {
        let mut s = TcpOptionsSummary::default();
        for opt in options(bytes) {
            match opt {
                Ok(TcpOption::Mss(m)) => s.mss = Some(m),
                Ok(TcpOption::WindowScale(w)) => s.window_scale = Some(w),
                Ok(TcpOption::SackPermitted) => s.sack_permitted = true,
                Ok(TcpOption::Timestamps { tsval, tsecr }) => s.timestamps = Some((tsval, tsecr)),
                Ok(TcpOption::Sack(b)) => s.sack_blocks = b,
                Ok(TcpOption::Unknown { .. } | TcpOption::Raw(_)) => {
                    s.unknown = s.unknown.saturating_add(1);
                }
                Ok(TcpOption::Eol | TcpOption::Nop) => {}
                Err(e) => {
                    s.malformed.get_or_insert(e);
                }
            }
        }
        s
    }

    /// The in-place walk of `TcpOptionsSummary::parse` equals the fold of the option
    /// iterator on 300,000 option strings built from option-like pieces (every known kind
    /// with right and wrong lengths, EOL, NOP, unknown kinds, lengths 0, 1 and past the
    /// end, repeated options, 255 unknown options for the saturating count) and on random
    /// bytes.
    #[test]
    fn summary_walk_equals_the_iterator() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let known = [
            kind::EOL,
            kind::NOP,
            kind::MSS,
            kind::WINDOW_SCALE,
            kind::SACK_PERMITTED,
            kind::SACK,
            kind::TIMESTAMPS,
            kind::MD5,
            kind::FAST_OPEN,
        ];
        let mut checked = 0;
        for case in 0..300_000u32 {
            let mut bytes = Vec::new();
            let cap = (next() % 48) as usize;
            while bytes.len() < cap {
                let r = next();
                if case % 10 == 0 {
                    bytes.push(r as u8);
                    continue;
                }
                let k = if r % 8 == 0 {
                    (r >> 8) as u8
                } else {
                    known[(r >> 8) as usize % known.len()]
                };
                bytes.push(k);
                if k == kind::EOL || k == kind::NOP {
                    continue;
                }
                let right = match k {
                    kind::MSS => 4,
                    kind::WINDOW_SCALE => 3,
                    kind::SACK_PERMITTED => 2,
                    kind::TIMESTAMPS => 10,
                    kind::SACK => 2 + 8 * (1 + (r >> 16) % 5) as u8,
                    _ => 2 + ((r >> 16) % 9) as u8,
                };
                let len = match (r >> 24) % 6 {
                    0 => ((r >> 32) % 12) as u8,
                    1 => (r >> 32) as u8,
                    _ => right,
                };
                if (r >> 40) % 16 != 0 {
                    bytes.push(len);
                }
                for _ in 2..len.min(40) {
                    bytes.push((next() >> 3) as u8);
                }
            }
            assert_eq!(
                TcpOptionsSummary::parse(&bytes),
                summary_by_iter(&bytes),
                "{bytes:?}"
            );
            checked += 1;
        }
        assert_eq!(checked, 300_000);
        // Saturation of the unknown count and the last of repeated options.
        let mut many = Vec::new();
        for i in 0..300u32 {
            many.extend_from_slice(&[99, 2, kind::MSS, 4, 0, i as u8]);
        }
        let s = TcpOptionsSummary::parse(&many);
        assert_eq!(s, summary_by_iter(&many));
        assert_eq!((s.unknown, s.mss), (255, Some(299 % 256)));
    }

    #[test]
    fn emit_errors() {
        let mut small = [0u8; 3];
        assert!(matches!(
            emit_options(&[TcpOption::Mss(1)], &mut small),
            Err(EmitError::BufferTooSmall { needed: 4, .. })
        ));
        let big = [0u8; 300];
        let mut out = [0u8; 400];
        assert!(matches!(
            emit_options(
                &[TcpOption::Unknown {
                    kind: 99,
                    data: &big
                }],
                &mut out
            ),
            Err(EmitError::OptionTooLong { len: 302 })
        ));
        assert!(TcpOptionBuf::from_bytes(&[1; 41]).is_err());
        assert_eq!(TcpOptionBuf::from_bytes(&[1; 5]).unwrap().len(), 8);
    }
}
