//! pcapng (draft-ietf-opsawg-pcapng): reader state and a small writer.

use std::io::{self, Write};

use super::{
    ByteOrder, LinkType, MAX_SNAPLEN, PCAPNG_SHB, Packet, PcapError, Source, Timestamp, TsPrecision,
};

/// Interface Description Block.
const BT_IDB: u32 = 0x0000_0001;
/// Packet Block (obsolete).
const BT_PB: u32 = 0x0000_0002;
/// Simple Packet Block.
const BT_SPB: u32 = 0x0000_0003;
/// Enhanced Packet Block.
const BT_EPB: u32 = 0x0000_0006;
/// The byte-order magic of a Section Header Block.
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Option codes (§3.5 and §4.2 of the draft).
const OPT_ENDOFOPT: u16 = 0;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;
/// The largest block accepted (libpcap's initial limit); bigger is taken as corruption.
pub(super) const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;
/// Smallest SHB: header 8, byte-order magic 4, versions 4, section length 8, trailer 4.
const MIN_SHB_LEN: u32 = 28;

/// A pcapng `if_tsresol` value: time-stamp units per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TsResolution {
    /// 10^-n seconds per unit (`if_tsresol` with the top bit clear); n ≤ 19.
    Pow10(u8),
    /// 2^-n seconds per unit (`if_tsresol` with the top bit set); n ≤ 63.
    Pow2(u8),
}

impl TsResolution {
    /// Decodes an `if_tsresol` byte; `None` if the units per second overflow 64 bits
    /// (libpcap rejects those too).
    pub fn from_option(byte: u8) -> Option<TsResolution> {
        let n = byte & 0x7f;
        if byte & 0x80 != 0 {
            (n <= 63).then_some(TsResolution::Pow2(n))
        } else {
            (n <= 19).then_some(TsResolution::Pow10(n))
        }
    }

    /// The `if_tsresol` byte.
    pub fn to_option(self) -> u8 {
        match self {
            TsResolution::Pow10(n) => n & 0x7f,
            TsResolution::Pow2(n) => 0x80 | (n & 0x7f),
        }
    }

    /// Time-stamp units per second (never 0).
    pub fn units_per_second(self) -> u64 {
        match self {
            TsResolution::Pow10(n) => 10u64.checked_pow(u32::from(n)).unwrap_or(u64::MAX),
            TsResolution::Pow2(n) => 1u64.checked_shl(u32::from(n)).unwrap_or(1 << 63),
        }
    }

    /// What a printer can show: microseconds for 10^6 units per second or fewer.
    pub fn precision(self) -> TsPrecision {
        if self.units_per_second() > 1_000_000 {
            TsPrecision::Nano
        } else {
            TsPrecision::Micro
        }
    }

    /// Converts a count of units (plus `if_tsoffset` seconds) to a time stamp; the
    /// nanoseconds are truncated, not rounded.
    pub fn to_timestamp(self, units: u64, offset_secs: i64) -> Timestamp {
        let per = self.units_per_second().max(1);
        let secs = i128::from(units / per) + i128::from(offset_secs);
        let frac = u128::from(units % per);
        // frac < per <= 2^63, so frac * 10^9 < 2^93: no overflow; the quotient is < 10^9.
        let nanos = (frac * 1_000_000_000 / u128::from(per)) as u32;
        let secs = i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX });
        Timestamp { secs, nanos }
    }

    /// Converts a time stamp to a count of units; `None` before the epoch or past 2^64
    /// units.
    pub fn from_timestamp(self, ts: Timestamp) -> Option<u64> {
        let secs = u128::try_from(ts.secs).ok()?;
        let per = u128::from(self.units_per_second());
        let units = secs * per + u128::from(ts.nanos) * per / 1_000_000_000;
        u64::try_from(units).ok()
    }
}

/// One pcapng interface (from its Interface Description Block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Link type of packets on this interface.
    pub link_type: LinkType,
    /// Snapshot length as recorded (0: unlimited).
    pub snaplen: u32,
    /// Time-stamp resolution (`if_tsresol`, default 10^-6).
    pub resolution: TsResolution,
    /// Seconds added to every time stamp (`if_tsoffset`, default 0).
    pub offset_secs: i64,
}

/// pcapng reading state: the current section's byte order and interfaces.
#[derive(Debug)]
pub(super) struct Reader {
    order: ByteOrder,
    interfaces: Vec<InterfaceInfo>,
}

/// A block header, the SHB already dealt with.
struct BlockHead {
    offset: u64,
    block_type: u32,
    total_len: u32,
}

fn malformed(offset: u64, reason: &'static str) -> PcapError {
    PcapError::Malformed { offset, reason }
}

impl Reader {
    /// Reads the first section header (its type already consumed) and the blocks up to and
    /// including the first Interface Description Block.
    pub(super) fn open<S: Source>(src: &mut S) -> Result<Self, PcapError> {
        let mut r = Reader {
            order: ByteOrder::Little,
            interfaces: Vec::new(),
        };
        r.read_shb(src, 0)?;
        // Read ahead to the first IDB so the link type is known before the first packet.
        while r.interfaces.is_empty() {
            let Some(head) = r.next_head(src)? else {
                break;
            };
            if matches!(head.block_type, BT_EPB | BT_SPB | BT_PB) {
                return Err(malformed(
                    head.offset,
                    "packet block before any interface description",
                ));
            }
            r.read_other(src, &head)?;
        }
        Ok(r)
    }

    pub(super) fn byte_order(&self) -> ByteOrder {
        self.order
    }

    pub(super) fn interfaces(&self) -> &[InterfaceInfo] {
        &self.interfaces
    }

    /// Reads the rest of a Section Header Block whose 4 type bytes started at `offset`.
    fn read_shb<S: Source>(&mut self, src: &mut S, offset: u64) -> Result<(), PcapError> {
        let mut first = [0u8; 8];
        match src.chunk(8)? {
            Some(b) => first.copy_from_slice(b),
            None => {
                return Err(PcapError::Truncated {
                    offset: offset + 4,
                    wanted: 8,
                    got: 0,
                });
            }
        }
        // The byte-order magic tells how to read everything else, including the length
        // that precedes it (§4.1).
        let order = if u32::from_le_bytes([first[4], first[5], first[6], first[7]])
            == BYTE_ORDER_MAGIC
        {
            ByteOrder::Little
        } else if u32::from_be_bytes([first[4], first[5], first[6], first[7]]) == BYTE_ORDER_MAGIC {
            ByteOrder::Big
        } else {
            return Err(malformed(offset, "bad byte-order magic in section header"));
        };
        let total_len = order.u32_at(&first, 0);
        check_len(offset, total_len, MIN_SHB_LEN)?;
        // total_len >= 28, so the subtraction cannot underflow.
        let rest_len = (total_len - 12) as usize;
        let rest = need_chunk(src, offset + 12, rest_len)?;
        let major = order.u16_at(rest, 0);
        let minor = order.u16_at(rest, 2);
        // The trailer repeats the total length (§3.1).
        if order.u32_at(rest, rest_len - 4) != total_len {
            return Err(malformed(
                offset,
                "block trailer length differs from header",
            ));
        }
        if major != 1 {
            return Err(PcapError::UnsupportedVersion { major, minor });
        }
        // A new section starts with no interfaces (§4.1); its byte order may differ.
        self.order = order;
        self.interfaces.clear();
        Ok(())
    }

    /// Reads block headers, consuming section headers, until another kind of block (or
    /// a clean end of file).
    fn next_head<S: Source>(&mut self, src: &mut S) -> Result<Option<BlockHead>, PcapError> {
        loop {
            let offset = src.position();
            let mut hdr = [0u8; 4];
            match src.chunk(4)? {
                None => return Ok(None),
                Some(b) => hdr.copy_from_slice(b),
            }
            // SHB's type reads the same in both byte orders.
            if u32::from_le_bytes(hdr) == PCAPNG_SHB {
                self.read_shb(src, offset)?;
                continue;
            }
            let block_type = self.order.u32_at(&hdr, 0);
            let total_len = match src.chunk(4)? {
                Some(b) => self.order.u32_at(b, 0),
                None => {
                    return Err(PcapError::Truncated {
                        offset,
                        wanted: 8,
                        got: 4,
                    });
                }
            };
            check_len(offset, total_len, 12)?;
            return Ok(Some(BlockHead {
                offset,
                block_type,
                total_len,
            }));
        }
    }

    /// Reads the body and trailer of a block, returning the body.
    fn body<'s, S: Source>(&self, src: &'s mut S, head: &BlockHead) -> Result<&'s [u8], PcapError> {
        // check_len guaranteed total_len >= 12.
        let n = (head.total_len - 8) as usize;
        let rest = need_chunk(src, head.offset + 8, n)?;
        let body_len = n - 4;
        if self.order.u32_at(rest, body_len) != head.total_len {
            return Err(malformed(
                head.offset,
                "block trailer length differs from header",
            ));
        }
        Ok(&rest[..body_len])
    }

    /// Handles a block that is not a packet: an IDB is recorded, anything else skipped.
    fn read_other<S: Source>(&mut self, src: &mut S, head: &BlockHead) -> Result<(), PcapError> {
        let order = self.order;
        let body = self.body(src, head)?;
        if head.block_type != BT_IDB {
            // NRB, ISB, DSB, custom and unknown blocks carry nothing we need (§3.1:
            // readers skip blocks they do not understand).
            return Ok(());
        }
        if body.len() < 8 {
            return Err(malformed(
                head.offset,
                "interface description block too short",
            ));
        }
        let link_type = LinkType(u32::from(order.u16_at(body, 0)));
        let snaplen = order.u32_at(body, 4);
        let mut info = InterfaceInfo {
            link_type,
            snaplen,
            resolution: TsResolution::Pow10(6),
            offset_secs: 0,
        };
        let (mut saw_resol, mut saw_offset) = (false, false);
        let mut opts = &body[8..];
        while !opts.is_empty() {
            if opts.len() < 4 {
                return Err(malformed(head.offset, "option header cut short"));
            }
            let code = order.u16_at(opts, 0);
            let len = usize::from(order.u16_at(opts, 2));
            // Option values are padded to 32 bits (§3.5).
            let padded = (len + 3) & !3;
            let Some(value) = opts.get(4..4 + len) else {
                return Err(malformed(head.offset, "option value cut short"));
            };
            if opts.len() - 4 < padded {
                return Err(malformed(head.offset, "option value cut short"));
            }
            match code {
                OPT_ENDOFOPT => break,
                IF_TSRESOL => {
                    if len != 1 || saw_resol {
                        return Err(malformed(head.offset, "bad if_tsresol option"));
                    }
                    saw_resol = true;
                    info.resolution = TsResolution::from_option(value[0])
                        .ok_or_else(|| malformed(head.offset, "if_tsresol too fine"))?;
                }
                IF_TSOFFSET => {
                    if len != 8 || saw_offset {
                        return Err(malformed(head.offset, "bad if_tsoffset option"));
                    }
                    saw_offset = true;
                    // The offset is a signed 64-bit count of seconds.
                    info.offset_secs = order.u64_at(value, 0) as i64;
                }
                _ => {}
            }
            opts = &opts[4 + padded..];
        }
        self.interfaces.push(info);
        Ok(())
    }

    pub(super) fn next<'s, S: Source>(
        &mut self,
        src: &'s mut S,
    ) -> Result<Option<Packet<'s>>, PcapError> {
        // Skip to the next packet block, handling the others on the way. (The packet's
        // body is read after this loop so that its borrow of `src` can be returned.)
        let head = loop {
            let Some(head) = self.next_head(src)? else {
                return Ok(None);
            };
            if matches!(head.block_type, BT_EPB | BT_SPB | BT_PB) {
                break head;
            }
            self.read_other(src, &head)?;
        };
        let order = self.order;
        let body = self.body(src, &head)?;
        let interface = |id: u32| -> Result<InterfaceInfo, PcapError> {
            usize::try_from(id)
                .ok()
                .and_then(|i| self.interfaces.get(i))
                .copied()
                .ok_or(PcapError::UnknownInterface {
                    offset: head.offset,
                    id,
                })
        };
        let (id, units, data, orig_len) = match head.block_type {
            BT_EPB | BT_PB => {
                if body.len() < 20 {
                    return Err(malformed(head.offset, "packet block too short"));
                }
                let id = if head.block_type == BT_EPB {
                    order.u32_at(body, 0)
                } else {
                    u32::from(order.u16_at(body, 0))
                };
                let units =
                    (u64::from(order.u32_at(body, 4)) << 32) | u64::from(order.u32_at(body, 8));
                let caplen = order.u32_at(body, 12);
                let orig_len = order.u32_at(body, 16);
                if caplen > MAX_SNAPLEN {
                    return Err(PcapError::TooLarge {
                        offset: head.offset,
                        len: u64::from(caplen),
                        limit: u64::from(MAX_SNAPLEN),
                    });
                }
                // caplen <= MAX_SNAPLEN fits usize.
                let Some(data) = body.get(20..20 + caplen as usize) else {
                    return Err(malformed(head.offset, "captured length exceeds the block"));
                };
                (id, units, data, orig_len)
            }
            _ => {
                // Simple Packet Block (§4.4): interface 0, no time stamp; the captured
                // length is the original length cut to the snapshot length (and to what
                // the block holds).
                if body.len() < 4 {
                    return Err(malformed(head.offset, "simple packet block too short"));
                }
                let orig_len = order.u32_at(body, 0);
                let snaplen = interface(0)?.snaplen;
                let mut caplen = orig_len.min(MAX_SNAPLEN);
                if snaplen != 0 {
                    caplen = caplen.min(snaplen);
                }
                // caplen <= MAX_SNAPLEN fits usize.
                let Some(data) = body.get(4..4 + caplen as usize) else {
                    return Err(malformed(
                        head.offset,
                        "simple packet block shorter than its captured length",
                    ));
                };
                (0, 0, data, orig_len)
            }
        };
        let iface = interface(id)?;
        Ok(Some(Packet {
            timestamp: iface.resolution.to_timestamp(units, iface.offset_secs),
            precision: iface.resolution.precision(),
            link_type: iface.link_type,
            interface_id: id,
            orig_len,
            data,
        }))
    }
}

fn check_len(offset: u64, total_len: u32, min: u32) -> Result<(), PcapError> {
    if total_len < min || total_len % 4 != 0 {
        return Err(malformed(offset, "bad block length"));
    }
    if total_len > MAX_BLOCK_LEN {
        return Err(PcapError::TooLarge {
            offset,
            len: u64::from(total_len),
            limit: u64::from(MAX_BLOCK_LEN),
        });
    }
    Ok(())
}

fn need_chunk<S: Source>(src: &mut S, offset: u64, n: usize) -> Result<&[u8], PcapError> {
    src.chunk(n)?.ok_or(PcapError::Truncated {
        offset,
        wanted: n,
        got: 0,
    })
}

/// Writes a pcapng file: one section, any number of interfaces, Enhanced Packet Blocks.
///
/// ```
/// use synack_wire::pcap::{PcapngWriter, LinkType, Timestamp, TsPrecision};
/// let mut w = PcapngWriter::new(Vec::new()).unwrap();
/// let eth = w.add_interface(LinkType::ETHERNET, 65535, TsPrecision::Nano).unwrap();
/// w.write_packet(eth, Timestamp::new(1, 5), &[0; 60], 60).unwrap();
/// ```
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    w: W,
    order: ByteOrder,
    interfaces: Vec<(TsResolution, u32)>,
    scratch: Vec<u8>,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes a little-endian Section Header Block (version 1.0, unknown section length).
    pub fn new(w: W) -> io::Result<Self> {
        PcapngWriter::with_byte_order(w, ByteOrder::Little)
    }

    /// Like [`PcapngWriter::new`], in the given byte order.
    pub fn with_byte_order(w: W, order: ByteOrder) -> io::Result<Self> {
        let mut me = PcapngWriter {
            w,
            order,
            interfaces: Vec::new(),
            scratch: Vec::new(),
        };
        let mut body = Vec::with_capacity(16);
        order.put_u32(&mut body, BYTE_ORDER_MAGIC);
        order.put_u16(&mut body, 1);
        order.put_u16(&mut body, 0);
        order.put_u64(&mut body, u64::MAX); // section length: not specified (-1)
        me.write_block(PCAPNG_SHB, &body, &[])?;
        Ok(me)
    }

    /// Describes a new interface and returns its id. `snaplen` 0 means no cut; the
    /// time-stamp resolution is 10^-6 (`Micro`) or 10^-9 (`Nano`).
    pub fn add_interface(
        &mut self,
        link_type: LinkType,
        snaplen: u32,
        precision: TsPrecision,
    ) -> io::Result<u32> {
        let resolution = match precision {
            TsPrecision::Micro => TsResolution::Pow10(6),
            TsPrecision::Nano => TsResolution::Pow10(9),
        };
        self.add_interface_with_resolution(link_type, snaplen, resolution)
    }

    /// Describes a new interface with any time-stamp resolution and returns its id.
    pub fn add_interface_with_resolution(
        &mut self,
        link_type: LinkType,
        snaplen: u32,
        resolution: TsResolution,
    ) -> io::Result<u32> {
        let lt = u16::try_from(link_type.0).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "pcapng link types are 16 bits")
        })?;
        let id = u32::try_from(self.interfaces.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many interfaces"))?;
        let o = self.order;
        let mut body = Vec::with_capacity(20);
        o.put_u16(&mut body, lt);
        o.put_u16(&mut body, 0);
        o.put_u32(&mut body, snaplen);
        // if_tsresol: 1-byte value padded to 4 (§4.2), then opt_endofopt.
        o.put_u16(&mut body, IF_TSRESOL);
        o.put_u16(&mut body, 1);
        body.extend_from_slice(&[resolution.to_option(), 0, 0, 0]);
        o.put_u16(&mut body, OPT_ENDOFOPT);
        o.put_u16(&mut body, 0);
        self.write_block(BT_IDB, &body, &[])?;
        self.interfaces.push((resolution, snaplen));
        Ok(id)
    }

    /// Writes an Enhanced Packet Block: `data` cut to the interface's snapshot length,
    /// `orig_len` the length on the wire. Fails with `InvalidInput` for an unknown
    /// interface or a time stamp before the epoch.
    pub fn write_packet(
        &mut self,
        interface: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let invalid = |m: &'static str| io::Error::new(io::ErrorKind::InvalidInput, m);
        let &(resolution, snaplen) = usize::try_from(interface)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .ok_or_else(|| invalid("unknown interface"))?;
        let units = resolution
            .from_timestamp(ts)
            .ok_or_else(|| invalid("time stamp not representable"))?;
        let mut incl = data.len();
        if snaplen != 0 {
            incl = incl.min(snaplen as usize);
        }
        let incl32 = u32::try_from(incl).map_err(|_| invalid("packet over 4 GiB"))?;
        let o = self.order;
        let mut fixed = Vec::with_capacity(20);
        o.put_u32(&mut fixed, interface);
        o.put_u32(&mut fixed, (units >> 32) as u32);
        o.put_u32(&mut fixed, units as u32);
        o.put_u32(&mut fixed, incl32);
        o.put_u32(&mut fixed, orig_len);
        self.write_block(BT_EPB, &fixed, &data[..incl])
    }

    /// Writes one block: header, `fixed`, `data` padded to 32 bits, trailer.
    fn write_block(&mut self, block_type: u32, fixed: &[u8], data: &[u8]) -> io::Result<()> {
        let pad = (4 - data.len() % 4) % 4;
        let total = 12 + fixed.len() + data.len() + pad;
        let total32 = u32::try_from(total)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "block over 4 GiB"))?;
        let o = self.order;
        self.scratch.clear();
        o.put_u32(&mut self.scratch, block_type);
        o.put_u32(&mut self.scratch, total32);
        self.scratch.extend_from_slice(fixed);
        self.scratch.extend_from_slice(data);
        self.scratch.extend_from_slice(&[0u8; 3][..pad]);
        o.put_u32(&mut self.scratch, total32);
        self.w.write_all(&self.scratch)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.w
    }
}
