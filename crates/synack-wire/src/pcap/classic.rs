//! Classic pcap (draft-ietf-opsawg-pcap): reader state and writer.

use std::io::{self, Write};

use super::{
    ByteOrder, LinkType, MAX_SNAPLEN, PCAP_MAGIC_MICROS, PCAP_MAGIC_NANOS, Packet, PcapError,
    Source, Timestamp, TsPrecision,
};

/// Length of the classic pcap file header.
const FILE_HEADER_LEN: usize = 24;
/// Length of a classic pcap record header.
const RECORD_HEADER_LEN: usize = 16;

/// The fields of a classic pcap file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapHeader {
    /// Byte order the file was written in.
    pub byte_order: ByteOrder,
    /// Microsecond or nanosecond magic.
    pub precision: TsPrecision,
    /// Major version (2).
    pub version_major: u16,
    /// Minor version (4).
    pub version_minor: u16,
    /// Snapshot length as recorded (0 is read as [`MAX_SNAPLEN`]).
    pub snaplen: u32,
    /// Link type, with the FCS bits of the field masked off.
    pub link_type: LinkType,
    /// Frame check sequence length in 16-bit words, when the file's link-type field says
    /// frames carry one (draft-ietf-opsawg-pcap §4: the F bit and FCS length bits).
    pub fcs_len: Option<u8>,
}

/// How the caplen/len fields are ordered (pre-2.3 files swapped them).
#[derive(Clone, Copy, Debug)]
enum Lengths {
    Normal,
    Swapped,
    MaybeSwapped,
}

/// Classic pcap reading state.
#[derive(Debug)]
pub(super) struct Reader {
    header: PcapHeader,
    lengths: Lengths,
    /// The snapshot length libpcap would use: the header's, or [`MAX_SNAPLEN`] when 0 or
    /// larger.
    effective_snaplen: u32,
}

impl Reader {
    /// Reads the rest of the file header after `magic`; `Ok(None)` if `magic` is not a
    /// classic pcap magic.
    pub(super) fn open<S: Source>(src: &mut S, magic: [u8; 4]) -> Result<Option<Self>, PcapError> {
        let (byte_order, precision) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (PCAP_MAGIC_MICROS, _) => (ByteOrder::Little, TsPrecision::Micro),
            (PCAP_MAGIC_NANOS, _) => (ByteOrder::Little, TsPrecision::Nano),
            (_, PCAP_MAGIC_MICROS) => (ByteOrder::Big, TsPrecision::Micro),
            (_, PCAP_MAGIC_NANOS) => (ByteOrder::Big, TsPrecision::Nano),
            _ => return Ok(None),
        };
        let rest = src
            .chunk(FILE_HEADER_LEN - 4)?
            .ok_or(PcapError::Truncated {
                offset: 4,
                wanted: FILE_HEADER_LEN - 4,
                got: 0,
            })?;
        let o = byte_order;
        let version_major = o.u16_at(rest, 0);
        let version_minor = o.u16_at(rest, 2);
        // rest[4..12]: thiszone and sigfigs, always 0 in practice and ignored.
        let snaplen = o.u32_at(rest, 12);
        let raw_link = o.u32_at(rest, 16);
        // Versions 2.0 to 2.4 (and DG/UX's 543.0) are what libpcap reads; before 2.3 the
        // caplen and len fields were in the other order.
        let lengths = match (version_major, version_minor) {
            (2, 0..=2) | (543, 0) => Lengths::Swapped,
            (2, 3) => Lengths::MaybeSwapped,
            (2, 4) => Lengths::Normal,
            (major, minor) => return Err(PcapError::UnsupportedVersion { major, minor }),
        };
        // draft-ietf-opsawg-pcap §4: the upper bits of the link-type field carry the FCS
        // length (bits 28-31) and its presence flag (bit 26); the link type proper is the
        // rest, as libpcap's LT_LINKTYPE takes it.
        let link_type = LinkType(raw_link & 0x03ff_ffff);
        let fcs_len = (raw_link & 0x0400_0000 != 0).then_some((raw_link >> 28) as u8);
        let effective_snaplen = if snaplen == 0 || snaplen > MAX_SNAPLEN {
            MAX_SNAPLEN
        } else {
            snaplen
        };
        Ok(Some(Reader {
            header: PcapHeader {
                byte_order,
                precision,
                version_major,
                version_minor,
                snaplen,
                link_type,
                fcs_len,
            },
            lengths,
            effective_snaplen,
        }))
    }

    pub(super) fn header(&self) -> PcapHeader {
        self.header
    }

    pub(super) fn next<'s, S: Source>(
        &mut self,
        src: &'s mut S,
    ) -> Result<Option<Packet<'s>>, PcapError> {
        let offset = src.position();
        let mut rec = [0u8; RECORD_HEADER_LEN];
        match src.chunk(RECORD_HEADER_LEN)? {
            None => return Ok(None),
            Some(b) => rec.copy_from_slice(b),
        }
        let o = self.header.byte_order;
        // libpcap's record header holds the seconds as a signed 32-bit value.
        let secs = i64::from(o.u32_at(&rec, 0) as i32);
        let frac = o.u32_at(&rec, 4);
        let (mut caplen, mut len) = (o.u32_at(&rec, 8), o.u32_at(&rec, 12));
        match self.lengths {
            Lengths::Normal => {}
            Lengths::MaybeSwapped if caplen <= len => {}
            Lengths::MaybeSwapped | Lengths::Swapped => core::mem::swap(&mut caplen, &mut len),
        }
        if caplen > MAX_SNAPLEN {
            return Err(PcapError::TooLarge {
                offset,
                len: u64::from(caplen),
                limit: u64::from(MAX_SNAPLEN),
            });
        }
        // caplen <= MAX_SNAPLEN, which fits usize on every supported target.
        let want = caplen as usize;
        let data = match src.chunk(want)? {
            Some(d) => d,
            None => {
                return Err(PcapError::Truncated {
                    offset: offset + RECORD_HEADER_LEN as u64,
                    wanted: want,
                    got: 0,
                });
            }
        };
        // Like libpcap: a record longer than the snapshot length is cut to it.
        let keep = want.min(self.effective_snaplen as usize);
        let timestamp = match self.header.precision {
            TsPrecision::Micro => Timestamp::new(secs, 0).add_frac(u64::from(frac) * 1000),
            TsPrecision::Nano => Timestamp::new(secs, 0).add_frac(u64::from(frac)),
        };
        Ok(Some(Packet {
            timestamp,
            precision: self.header.precision,
            link_type: self.header.link_type,
            interface_id: 0,
            orig_len: len,
            data: data.get(..keep).unwrap_or(data),
        }))
    }
}

impl Timestamp {
    /// Adds a non-negative number of nanoseconds (possibly a second or more), saturating.
    pub(super) fn add_frac(self, nanos: u64) -> Timestamp {
        let extra_secs = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
        // The remainder is below 10^9 and fits a u32.
        Timestamp::new(
            self.secs.saturating_add(extra_secs),
            self.nanos + (nanos % 1_000_000_000) as u32,
        )
    }
}

/// Writes a classic pcap file.
///
/// ```
/// use synack_wire::pcap::{PcapWriter, LinkType, Timestamp, TsPrecision};
/// let mut w = PcapWriter::new(Vec::new(), LinkType::RAW, 65535, TsPrecision::Micro).unwrap();
/// w.write_packet(Timestamp::new(1, 500), &[0x45, 0, 0, 20], 4).unwrap();
/// let bytes = w.into_inner();
/// assert_eq!(bytes.len(), 24 + 16 + 4);
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    order: ByteOrder,
    precision: TsPrecision,
    snaplen: u32,
    scratch: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes a little-endian pcap file header (version 2.4) and returns the writer.
    ///
    /// Packets longer than `snaplen` are written cut to `snaplen` bytes (their original
    /// length is kept); `snaplen` 0 means no cut (readers take a 0 in the header as 262144).
    pub fn new(
        w: W,
        link_type: LinkType,
        snaplen: u32,
        precision: TsPrecision,
    ) -> io::Result<Self> {
        PcapWriter::with_byte_order(w, link_type, snaplen, precision, ByteOrder::Little)
    }

    /// Like [`PcapWriter::new`], in the given byte order.
    pub fn with_byte_order(
        mut w: W,
        link_type: LinkType,
        snaplen: u32,
        precision: TsPrecision,
        order: ByteOrder,
    ) -> io::Result<Self> {
        let mut hdr = Vec::with_capacity(FILE_HEADER_LEN);
        let magic = match precision {
            TsPrecision::Micro => PCAP_MAGIC_MICROS,
            TsPrecision::Nano => PCAP_MAGIC_NANOS,
        };
        order.put_u32(&mut hdr, magic);
        order.put_u16(&mut hdr, 2);
        order.put_u16(&mut hdr, 4);
        order.put_u32(&mut hdr, 0); // thiszone
        order.put_u32(&mut hdr, 0); // sigfigs
        order.put_u32(&mut hdr, snaplen);
        order.put_u32(&mut hdr, link_type.0);
        w.write_all(&hdr)?;
        Ok(PcapWriter {
            w,
            order,
            precision,
            snaplen,
            scratch: Vec::with_capacity(RECORD_HEADER_LEN),
        })
    }

    /// Writes one record: `data` cut to the snapshot length, with `orig_len` as the length
    /// on the wire (normally `data.len()`).
    ///
    /// The seconds must fit the 32-bit field as libpcap reads it (`0..=i32::MAX`, i.e.
    /// before 2038-01-19); otherwise this fails with `InvalidInput`.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let secs = u32::try_from(ts.secs)
            .ok()
            .filter(|s| *s <= i32::MAX as u32)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "time stamp outside the pcap range 1970..2038",
                )
            })?;
        let frac = match self.precision {
            TsPrecision::Micro => ts.nanos / 1000,
            TsPrecision::Nano => ts.nanos,
        };
        let mut incl = data.len();
        if self.snaplen != 0 {
            incl = incl.min(self.snaplen as usize);
        }
        let incl32 = u32::try_from(incl)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet over 4 GiB"))?;
        self.scratch.clear();
        let o = self.order;
        o.put_u32(&mut self.scratch, secs);
        o.put_u32(&mut self.scratch, frac);
        o.put_u32(&mut self.scratch, incl32);
        o.put_u32(&mut self.scratch, orig_len);
        self.w.write_all(&self.scratch)?;
        self.w.write_all(&data[..incl])
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.w
    }

    /// The underlying writer, mutably (writing to it directly corrupts the file).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.w
    }
}
