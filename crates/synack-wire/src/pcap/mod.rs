//! pcap and pcapng capture files: readers (one entry point that sniffs the format) and
//! writers.
//!
//! Formats: classic pcap as in draft-ietf-opsawg-pcap (magic `0xa1b2c3d4` for
//! microsecond and `0xa1b23c4d` for nanosecond time stamps, either byte order), and pcapng
//! as in draft-ietf-opsawg-pcapng (SHB, IDB, EPB, SPB and the obsolete PB; NRB, ISB, DSB,
//! custom and unknown blocks are skipped).
//!
//! ```no_run
//! # fn main() -> Result<(), synack_wire::pcap::PcapError> {
//! use synack_wire::pcap::CaptureReader;
//! let file = std::io::BufReader::new(std::fs::File::open("x.pcap").map_err(synack_wire::pcap::PcapError::Io)?);
//! let mut reader = CaptureReader::new(file)?;
//! while let Some(packet) = reader.next_packet() {
//!     let packet = packet?;
//!     println!("{:?} {} bytes", packet.timestamp, packet.data.len());
//! }
//! # Ok(()) }
//! ```
//!
//! # What tcpdump 4.99.3 (libpcap 1.10.3) does with time stamps
//!
//! Checked by hand against files written by hand and by [`PcapWriter`]/[`PcapngWriter`]:
//!
//! - tcpdump opens every file at microsecond precision unless given `--nano`
//!   (`--time-stamp-precision=nano`). A nanosecond-magic pcap, and a pcapng whose interface
//!   has `if_tsresol` 9, print six fractional digits, *truncated* (1.123456789 prints as
//!   `1.123456`); with `--nano` they print nine digits. A microsecond file printed with
//!   `--nano` gets three zeros appended.
//! - pcapng fractions are converted as `floor(fraction * 10^6 / units_per_second)`, for
//!   powers of 10 and of 2 alike; [`Timestamp::micros`] of our normalised nanoseconds gives
//!   the same digits (`floor(floor(x * 1000) / 1000) == floor(x)`).
//! - Classic pcap seconds are read as a *signed* 32-bit number (libpcap's `bpf_int32`):
//!   `0x80000000` becomes a negative time, which tcpdump prints as `[Error converting
//!   time]` in every `-t` mode. We read it the same way (negative [`Timestamp::secs`]).
//! - A classic fraction of a second or more (µs field ≥ 1,000,000) is printed by tcpdump
//!   unnormalised (`1.1500000`); we normalise it into the seconds (`2.500000`).
//! - libpcap 1.10.3 refuses pcapng files whose interfaces have different link types or
//!   snapshot lengths (`an interface has a type N different from the type of the first
//!   interface`); this reader accepts them and reports each packet's own link type.
//!   libpcap compares its `DLT_` value with each later IDB's `LINKTYPE_` value, so even
//!   two IDBs of `LINKTYPE_RAW` (101; `DLT_RAW` is 12) make tcpdump fail after the header
//!   line; one IDB, or link types whose two numbers agree (0, 1, 113, 276), are fine.
//! - For pcapng (any `if_tsresol`, powers of 10 or 2) and `--nano`, the nanoseconds are
//!   `floor(fraction * 10^9 / units_per_second)`, which is [`Timestamp::nanos`] here
//!   (checked against tcpdump in `tests/pcap_tcpdump.rs`).
//! - A pcapng EPB whose captured length exceeds the interface's snapshot length is an
//!   error in libpcap; this reader hands the bytes out (at most 262144 of them).
//! - A classic record longer than the header's snapshot length (but at most 262144 bytes)
//!   is cut to the snapshot length, as libpcap does; longer than 262144 is an error.
//! - Link type 14 (OpenBSD's `DLT_RAW`) is rejected by tcpdump on Linux (`unknown data
//!   link type 14`); link type 12 prints as `RAW`.

mod classic;
mod ng;
mod source;

use core::fmt;

pub use crate::link::LinkType;
pub use classic::{PcapHeader, PcapWriter};
pub use ng::{InterfaceInfo, PcapngWriter, TsResolution};
pub use source::{IoSource, SliceSource, Source};

/// Classic pcap magic for microsecond time stamps (as read in the file's byte order).
pub const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Classic pcap magic for nanosecond time stamps.
pub const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// pcapng Section Header Block type (a byte-order palindrome).
pub const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
/// The largest record libpcap accepts for ordinary link types (`MAXIMUM_SNAPLEN`); larger
/// captured lengths are rejected as corrupt.
pub const MAX_SNAPLEN: u32 = 262_144;

/// Byte order of a capture file (or of a BSD loopback header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Most significant byte first.
    Big,
    /// Least significant byte first.
    Little,
}

impl ByteOrder {
    /// The byte order of the machine running this code.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };

    /// Reads a u16 at `at`, or 0 when out of range (callers check lengths first).
    pub(crate) fn u16_at(self, b: &[u8], at: usize) -> u16 {
        let Some(s) = at.checked_add(2).and_then(|end| b.get(at..end)) else {
            return 0;
        };
        let a = [s[0], s[1]];
        match self {
            ByteOrder::Big => u16::from_be_bytes(a),
            ByteOrder::Little => u16::from_le_bytes(a),
        }
    }

    /// Reads a u32 at `at`, or 0 when out of range (callers check lengths first).
    pub(crate) fn u32_at(self, b: &[u8], at: usize) -> u32 {
        let Some(s) = at.checked_add(4).and_then(|end| b.get(at..end)) else {
            return 0;
        };
        let a = [s[0], s[1], s[2], s[3]];
        match self {
            ByteOrder::Big => u32::from_be_bytes(a),
            ByteOrder::Little => u32::from_le_bytes(a),
        }
    }

    /// Reads a u64 at `at`, or 0 when out of range (callers check lengths first).
    pub(crate) fn u64_at(self, b: &[u8], at: usize) -> u64 {
        let hi_first = (
            u64::from(self.u32_at(b, at)),
            u64::from(self.u32_at(b, at + 4)),
        );
        match self {
            ByteOrder::Big => (hi_first.0 << 32) | hi_first.1,
            ByteOrder::Little => (hi_first.1 << 32) | hi_first.0,
        }
    }

    pub(crate) fn put_u16(self, out: &mut Vec<u8>, v: u16) {
        match self {
            ByteOrder::Big => out.extend_from_slice(&v.to_be_bytes()),
            ByteOrder::Little => out.extend_from_slice(&v.to_le_bytes()),
        }
    }

    pub(crate) fn put_u32(self, out: &mut Vec<u8>, v: u32) {
        match self {
            ByteOrder::Big => out.extend_from_slice(&v.to_be_bytes()),
            ByteOrder::Little => out.extend_from_slice(&v.to_le_bytes()),
        }
    }

    pub(crate) fn put_u64(self, out: &mut Vec<u8>, v: u64) {
        match self {
            ByteOrder::Big => out.extend_from_slice(&v.to_be_bytes()),
            ByteOrder::Little => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// The time-stamp precision of a file (or a pcapng interface): what tcpdump can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TsPrecision {
    /// Microseconds (or coarser): classic magic `0xa1b2c3d4`, pcapng `if_tsresol` ≤ 10^6
    /// units per second.
    Micro,
    /// Finer than microseconds: classic magic `0xa1b23c4d`, pcapng `if_tsresol` above 10^6
    /// units per second.
    Nano,
}

/// A packet time stamp: seconds since the Unix epoch plus nanoseconds (always < 10^9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01 00:00:00 UTC (negative before).
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// A time stamp from seconds and nanoseconds; nanoseconds of a second or more are
    /// carried into the seconds (saturating at the extremes).
    pub fn new(secs: i64, nanos: u32) -> Timestamp {
        Timestamp {
            secs: secs.saturating_add(i64::from(nanos / 1_000_000_000)),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// A time stamp `nanos` nanoseconds after the epoch.
    pub fn from_nanos(nanos: u64) -> Timestamp {
        // The quotient of a u64 by 10^9 is below 2^35 and fits an i64; the remainder < 10^9.
        Timestamp {
            secs: (nanos / 1_000_000_000) as i64,
            nanos: (nanos % 1_000_000_000) as u32,
        }
    }

    /// A time stamp `d` after the epoch (saturating past year 292 billion).
    pub fn from_duration(d: core::time::Duration) -> Timestamp {
        Timestamp {
            secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: d.subsec_nanos(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// The microseconds within the second, truncated: what tcpdump prints without `--nano`.
    pub fn micros(self) -> u32 {
        self.nanos / 1000
    }
}

/// One captured packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// When the packet was captured.
    pub timestamp: Timestamp,
    /// The time-stamp precision of the file or interface the packet came from.
    pub precision: TsPrecision,
    /// Link type of `data`.
    pub link_type: LinkType,
    /// pcapng interface id (index within the current section); 0 for classic pcap.
    pub interface_id: u32,
    /// Length of the packet on the wire (may exceed `data.len()` when truncated).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

impl Packet<'_> {
    /// The captured length (`incl_len`): `data.len()`.
    pub fn incl_len(&self) -> u32 {
        u32::try_from(self.data.len()).unwrap_or(u32::MAX)
    }

    /// Whether fewer bytes were captured than were on the wire.
    pub fn is_truncated(&self) -> bool {
        u64::from(self.orig_len) > self.data.len() as u64
    }
}

/// Why a capture file could not be read.
#[derive(Debug)]
pub enum PcapError {
    /// The underlying reader failed.
    Io(std::io::Error),
    /// The first four bytes are neither pcap nor pcapng magic.
    BadMagic(u32),
    /// The file ends in the middle of a header, record or block.
    Truncated {
        /// File offset where the incomplete item starts.
        offset: u64,
        /// Bytes the item needs.
        wanted: usize,
        /// Bytes that were there.
        got: usize,
    },
    /// A file (or pcapng section) version this reader does not handle.
    UnsupportedVersion {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A record or block length beyond what any sane capture holds.
    TooLarge {
        /// File offset of the record or block header.
        offset: u64,
        /// The length found.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A structurally invalid pcapng block or option.
    Malformed {
        /// File offset of the block.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A pcapng packet refers to an interface with no Interface Description Block.
    UnknownInterface {
        /// File offset of the block.
        offset: u64,
        /// The interface id.
        id: u32,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "read error: {e}"),
            PcapError::BadMagic(m) => write!(f, "not a pcap or pcapng file (magic {m:#010x})"),
            PcapError::Truncated {
                offset,
                wanted,
                got,
            } => write!(
                f,
                "truncated capture file at offset {offset}: wanted {wanted} bytes, got {got}"
            ),
            PcapError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported capture file version {major}.{minor}")
            }
            PcapError::TooLarge { offset, len, limit } => write!(
                f,
                "length {len} at offset {offset} exceeds the maximum of {limit}"
            ),
            PcapError::Malformed { offset, reason } => {
                write!(f, "malformed pcapng block at offset {offset}: {reason}")
            }
            PcapError::UnknownInterface { offset, id } => write!(
                f,
                "packet at offset {offset} on interface {id}, which has no description block"
            ),
        }
    }
}

impl std::error::Error for PcapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PcapError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Which format a [`CaptureReader`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap, with its file header.
    Pcap(PcapHeader),
    /// pcapng; the byte order of the current section.
    Pcapng(ByteOrder),
}

enum State {
    Classic(classic::Reader),
    Ng(ng::Reader),
}

/// Reads packets from a classic pcap or a pcapng file, whichever the magic says.
///
/// Construct with [`CaptureReader::new`] (any `Read`) or [`CaptureReader::from_slice`]
/// (zero-copy). After the first error, or at the end, `next_packet` returns `None`.
pub struct CaptureReader<S> {
    src: S,
    state: State,
    done: bool,
}

impl<R: std::io::Read> CaptureReader<IoSource<R>> {
    /// Opens a capture read from `reader` (wrap files in a `BufReader`); reads the file
    /// header (pcap) or the first section header up to the first interface (pcapng).
    pub fn new(reader: R) -> Result<Self, PcapError> {
        CaptureReader::with_source(IoSource::new(reader))
    }
}

impl<'a> CaptureReader<SliceSource<'a>> {
    /// Opens a capture held in memory; packet data is borrowed from `data`, not copied.
    pub fn from_slice(data: &'a [u8]) -> Result<Self, PcapError> {
        CaptureReader::with_source(SliceSource::new(data))
    }
}

impl<S: Source> CaptureReader<S> {
    /// Opens a capture from any [`Source`].
    pub fn with_source(mut src: S) -> Result<Self, PcapError> {
        let magic: [u8; 4] = match src.chunk(4)? {
            Some(b) => [b[0], b[1], b[2], b[3]],
            None => {
                return Err(PcapError::Truncated {
                    offset: 0,
                    wanted: 4,
                    got: 0,
                });
            }
        };
        let le = u32::from_le_bytes(magic);
        let state = if le == PCAPNG_SHB {
            State::Ng(ng::Reader::open(&mut src)?)
        } else if let Some(r) = classic::Reader::open(&mut src, magic)? {
            State::Classic(r)
        } else {
            return Err(PcapError::BadMagic(u32::from_be_bytes(magic)));
        };
        Ok(CaptureReader {
            src,
            state,
            done: false,
        })
    }

    /// The next packet, `None` at the end of the file (or after an error was returned).
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, PcapError>> {
        if self.done {
            return None;
        }
        let res = match &mut self.state {
            State::Classic(r) => r.next(&mut self.src),
            State::Ng(r) => r.next(&mut self.src),
        };
        match res {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// The format found, with the pcap header fields.
    pub fn format(&self) -> CaptureFormat {
        match &self.state {
            State::Classic(r) => CaptureFormat::Pcap(r.header()),
            State::Ng(r) => CaptureFormat::Pcapng(r.byte_order()),
        }
    }

    /// The link type of the file (pcap) or of the first interface (pcapng); `None` for a
    /// pcapng file with no interface yet.
    pub fn link_type(&self) -> Option<LinkType> {
        match &self.state {
            State::Classic(r) => Some(r.header().link_type),
            State::Ng(r) => r.interfaces().first().map(|i| i.link_type),
        }
    }

    /// The snapshot length as recorded in the file header (pcap) or the first interface
    /// (pcapng).
    pub fn snaplen(&self) -> Option<u32> {
        match &self.state {
            State::Classic(r) => Some(r.header().snaplen),
            State::Ng(r) => r.interfaces().first().map(|i| i.snaplen),
        }
    }

    /// The time-stamp precision of the file (pcap) or of the first interface (pcapng).
    pub fn precision(&self) -> Option<TsPrecision> {
        match &self.state {
            State::Classic(r) => Some(r.header().precision),
            State::Ng(r) => r.interfaces().first().map(|i| i.resolution.precision()),
        }
    }

    /// The interfaces of the current pcapng section seen so far (empty for classic pcap).
    pub fn interfaces(&self) -> &[InterfaceInfo] {
        match &self.state {
            State::Classic(_) => &[],
            State::Ng(r) => r.interfaces(),
        }
    }

    /// Bytes consumed from the input so far.
    pub fn position(&self) -> u64 {
        self.src.position()
    }
}

impl<S> fmt::Debug for CaptureReader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
