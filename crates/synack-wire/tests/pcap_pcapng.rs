//! pcapng: files built by hand here (several sections in both byte orders, several
//! interfaces, `if_tsresol` / `if_tsoffset` variants, skipped block types, SPB and PB),
//! and `PcapngWriter` round trips.

use synack_wire::pcap::{
    ByteOrder, CaptureFormat, CaptureReader, LinkType, PcapError, PcapngWriter, Timestamp,
    TsPrecision, TsResolution,
};

/// Builds pcapng blocks in one byte order.
struct Ng {
    order: ByteOrder,
    out: Vec<u8>,
}

impl Ng {
    fn u16(&self, v: u16) -> [u8; 2] {
        match self.order {
            ByteOrder::Big => v.to_be_bytes(),
            ByteOrder::Little => v.to_le_bytes(),
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        match self.order {
            ByteOrder::Big => v.to_be_bytes(),
            ByteOrder::Little => v.to_le_bytes(),
        }
    }
    fn u64(&self, v: u64) -> [u8; 8] {
        match self.order {
            ByteOrder::Big => v.to_be_bytes(),
            ByteOrder::Little => v.to_le_bytes(),
        }
    }
    fn block(&mut self, block_type: u32, body: &[u8]) {
        assert_eq!(body.len() % 4, 0);
        let total = (12 + body.len()) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&self.u32(block_type));
        b.extend_from_slice(&self.u32(total));
        b.extend_from_slice(body);
        b.extend_from_slice(&self.u32(total));
        self.out.extend(b);
    }
    fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend_from_slice(&self.u16(code));
        body.extend_from_slice(&self.u16(value.len() as u16));
        body.extend_from_slice(value);
        while body.len() % 4 != 0 {
            body.push(0);
        }
    }
    fn shb(&mut self, with_comment: bool) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(0x1a2b_3c4d));
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u64(u64::MAX));
        if with_comment {
            self.option(&mut body, 1, b"made by hand");
            self.option(&mut body, 0, &[]);
        }
        self.block(0x0a0d_0d0a, &body);
    }
    fn idb(&mut self, link: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(link));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32(snaplen));
        self.option(&mut body, 2, b"eth0");
        if let Some(r) = tsresol {
            self.option(&mut body, 9, &[r]);
        }
        if let Some(o) = tsoffset {
            let v = self.u64(o as u64);
            self.option(&mut body, 14, &v);
        }
        self.option(&mut body, 0, &[]);
        self.block(1, &body);
    }
    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }
    fn epb(&mut self, iface: u32, units: u64, data: &[u8], orig: u32) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(iface));
        body.extend_from_slice(&self.u32((units >> 32) as u32));
        body.extend_from_slice(&self.u32(units as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(orig));
        body.extend(Self::padded(data));
        // epb_flags option: inbound.
        self.option(&mut body, 2, &self.u32(1));
        self.option(&mut body, 0, &[]);
        self.block(6, &body);
    }
    fn spb(&mut self, data: &[u8], orig: u32) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(orig));
        body.extend(Self::padded(data));
        self.block(3, &body);
    }
    fn pb(&mut self, iface: u16, units: u64, data: &[u8], orig: u32) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(iface));
        body.extend_from_slice(&self.u16(0)); // drops
        body.extend_from_slice(&self.u32((units >> 32) as u32));
        body.extend_from_slice(&self.u32(units as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(orig));
        body.extend(Self::padded(data));
        self.block(2, &body);
    }
    fn skippable_blocks(&mut self) {
        // NRB: one IPv4 record, then end of records.
        let mut nrb = Vec::new();
        nrb.extend_from_slice(&self.u16(1));
        nrb.extend_from_slice(&self.u16(14));
        nrb.extend_from_slice(&Self::padded(b"\x0a\x00\x00\x01host.a\0\0\0\0"));
        nrb.extend_from_slice(&[0; 4]);
        self.block(4, &nrb);
        // ISB for interface 0.
        let mut isb = Vec::new();
        isb.extend_from_slice(&self.u32(0));
        isb.extend_from_slice(&self.u32(0));
        isb.extend_from_slice(&self.u32(77));
        self.block(5, &isb);
        // DSB (TLS keys), custom blocks (copiable and not), an unknown type.
        let mut dsb = Vec::new();
        dsb.extend_from_slice(&self.u32(0x544c_534b));
        dsb.extend_from_slice(&self.u32(4));
        dsb.extend_from_slice(b"keys");
        self.block(0x0000_000a, &dsb);
        self.block(0x0000_0bad, &[0, 0, 0x7e, 0x39, 1, 2, 3, 4]);
        self.block(0x4000_0bad, &[0, 0, 0x7e, 0x39]);
        self.block(0x1234_5678, &[9; 12]);
        self.block(0x0000_0007, &[]); // IRIG timestamp block, unsupported
    }
}

fn new(order: ByteOrder) -> Ng {
    Ng {
        order,
        out: Vec::new(),
    }
}

#[derive(Debug, PartialEq)]
struct Seen {
    ts: Timestamp,
    precision: TsPrecision,
    link: LinkType,
    iface: u32,
    orig: u32,
    data: Vec<u8>,
}

fn read_all(bytes: &[u8]) -> Vec<Seen> {
    let collect = |mut r: CaptureReader<_>| {
        let mut v = Vec::new();
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            v.push(Seen {
                ts: p.timestamp,
                precision: p.precision,
                link: p.link_type,
                iface: p.interface_id,
                orig: p.orig_len,
                data: p.data.to_vec(),
            });
        }
        v
    };
    let from_slice = collect(CaptureReader::from_slice(bytes).unwrap());
    let mut from_read = Vec::new();
    let mut r = CaptureReader::new(bytes).unwrap();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        from_read.push(Seen {
            ts: p.timestamp,
            precision: p.precision,
            link: p.link_type,
            iface: p.interface_id,
            orig: p.orig_len,
            data: p.data.to_vec(),
        });
    }
    assert_eq!(from_slice, from_read);
    from_slice
}

fn seen(
    ts: Timestamp,
    precision: TsPrecision,
    link: u32,
    iface: u32,
    data: &[u8],
    orig: u32,
) -> Seen {
    Seen {
        ts,
        precision,
        link: LinkType(link),
        iface,
        orig,
        data: data.to_vec(),
    }
}

#[test]
fn sections_interfaces_resolutions_and_skipped_blocks() {
    use TsPrecision::{Micro, Nano};
    let mut le = new(ByteOrder::Little);
    le.shb(true);
    le.skippable_blocks();
    le.idb(1, 65535, None, None); // 0: Ethernet, default 10^-6
    le.idb(101, 0, Some(9), None); // 1: raw IP, ns
    le.idb(113, 128, Some(3), Some(1_000)); // 2: SLL, ms, +1000 s
    le.idb(276, 65535, Some(0x80 | 20), None); // 3: SLL2, 2^-20 s
    le.idb(0, 65535, Some(0x80 | 10), Some(-5)); // 4: NULL, 2^-10 s, -5 s
    le.skippable_blocks();
    le.epb(0, 1_700_000_000_123_456, b"eth", 60);
    le.epb(1, 1_700_000_000_123_456_789, b"raw ip!", 7);
    le.epb(2, 42_999, b"cooked", 6);
    // 3.75 s in 2^-20 units, plus one unit (0.95367431640625 µs).
    le.epb(3, 3 * (1 << 20) + (3 << 18) + 1, b"cooked2", 7);
    le.epb(4, 10 * 1024 + 512, b"", 0);
    le.spb(b"simple packet", 13);
    le.pb(1, 5_000_000_001, b"old", 3);

    // A second section, big-endian, with its own interfaces (ids restart at 0).
    let mut be = new(ByteOrder::Big);
    be.shb(false);
    be.idb(229, 4, Some(6), None);
    be.spb(b"abcdefgh", 8); // cut to the snaplen, 4
    be.epb(0, 2_000_000, b"v6", 2);
    be.skippable_blocks();
    // A third section, little-endian again, with an SPB cut by the snapshot length.
    let mut le2 = new(ByteOrder::Little);
    le2.shb(false);
    le2.idb(1, 4, None, None);
    le2.spb(b"wxyz", 1000);

    let mut file = le.out;
    file.extend(be.out);
    file.extend(le2.out);
    let got = read_all(&file);
    let want = vec![
        seen(
            Timestamp::new(1_700_000_000, 123_456_000),
            Micro,
            1,
            0,
            b"eth",
            60,
        ),
        seen(
            Timestamp::new(1_700_000_000, 123_456_789),
            Nano,
            101,
            1,
            b"raw ip!",
            7,
        ),
        seen(
            Timestamp::new(1_042, 999_000_000),
            Micro,
            113,
            2,
            b"cooked",
            6,
        ),
        seen(Timestamp::new(3, 750_000_953), Nano, 276, 3, b"cooked2", 7),
        seen(Timestamp::new(5, 500_000_000), Micro, 0, 4, b"", 0),
        seen(Timestamp::new(0, 0), Micro, 1, 0, b"simple packet", 13),
        seen(Timestamp::new(5, 1), Nano, 101, 1, b"old", 3),
        seen(Timestamp::new(0, 0), Micro, 229, 0, b"abcd", 8),
        seen(Timestamp::new(2, 0), Micro, 229, 0, b"v6", 2),
        seen(Timestamp::new(0, 0), Micro, 1, 0, b"wxyz", 1000),
    ];
    assert_eq!(got, want);
}

#[test]
fn reader_reports_first_interface_and_section_byte_order() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let mut f = new(order);
        f.shb(true);
        f.skippable_blocks();
        f.idb(276, 1500, Some(9), Some(7));
        f.idb(1, 65535, None, None);
        let r = CaptureReader::from_slice(&f.out).unwrap();
        assert_eq!(r.format(), CaptureFormat::Pcapng(order));
        assert_eq!(r.link_type(), Some(LinkType::LINUX_SLL2));
        assert_eq!(r.snaplen(), Some(1500));
        assert_eq!(r.precision(), Some(TsPrecision::Nano));
        // The constructor reads up to the first interface only.
        assert_eq!(r.interfaces().len(), 1);
        assert_eq!(r.interfaces()[0].offset_secs, 7);
        assert_eq!(r.interfaces()[0].resolution, TsResolution::Pow10(9));
    }
}

#[test]
fn file_with_no_interfaces_is_empty() {
    let mut f = new(ByteOrder::Little);
    f.shb(false);
    f.skippable_blocks();
    let mut r = CaptureReader::from_slice(&f.out).unwrap();
    assert_eq!(r.link_type(), None);
    assert!(r.next_packet().is_none());
}

#[test]
fn structural_errors() {
    // Packet block before any IDB.
    let mut f = new(ByteOrder::Little);
    f.shb(false);
    f.epb(0, 0, b"x", 1);
    assert!(matches!(
        CaptureReader::from_slice(&f.out),
        Err(PcapError::Malformed { offset: 28, .. })
    ));
    // Packet on an interface that does not exist (in this section).
    let mut f = new(ByteOrder::Little);
    f.shb(false);
    f.idb(1, 0, None, None);
    f.shb(false);
    f.idb(1, 0, None, None);
    f.epb(1, 0, b"x", 1);
    let mut r = CaptureReader::from_slice(&f.out).unwrap();
    assert!(matches!(
        r.next_packet(),
        Some(Err(PcapError::UnknownInterface { id: 1, .. }))
    ));
    assert!(r.next_packet().is_none());
    // An SPB holding fewer bytes than min(original length, snaplen).
    let mut f = new(ByteOrder::Little);
    f.shb(false);
    f.idb(1, 0, None, None);
    f.spb(b"xy", 1000);
    let mut r = CaptureReader::from_slice(&f.out).unwrap();
    assert!(matches!(
        r.next_packet(),
        Some(Err(PcapError::Malformed { .. }))
    ));
    // Resolution finer than 64 bits of units.
    for resol in [20u8, 0x80 | 64] {
        let mut f = new(ByteOrder::Big);
        f.shb(false);
        f.idb(1, 0, Some(resol), None);
        assert!(matches!(
            CaptureReader::from_slice(&f.out),
            Err(PcapError::Malformed { .. })
        ));
    }
    // Trailer disagreeing with the header.
    let mut f = new(ByteOrder::Little);
    f.shb(false);
    f.idb(1, 0, None, None);
    let n = f.out.len();
    f.out[n - 1] ^= 0x40;
    assert!(matches!(
        CaptureReader::from_slice(&f.out),
        Err(PcapError::Malformed { .. })
    ));
    // Unsupported major version.
    let mut f = new(ByteOrder::Little);
    f.shb(false);
    f.out[12] = 2;
    assert!(matches!(
        CaptureReader::from_slice(&f.out),
        Err(PcapError::UnsupportedVersion { major: 2, minor: 0 })
    ));
    // Bad byte-order magic.
    let mut f = new(ByteOrder::Little);
    f.shb(false);
    f.out[8] = 0;
    assert!(matches!(
        CaptureReader::from_slice(&f.out),
        Err(PcapError::Malformed { .. })
    ));
}

#[test]
fn resolution_conversions() {
    let r = TsResolution::from_option(0x80 | 20).unwrap();
    assert_eq!(r, TsResolution::Pow2(20));
    assert_eq!(r.units_per_second(), 1 << 20);
    assert_eq!(r.precision(), TsPrecision::Nano);
    assert_eq!(TsResolution::Pow10(6).precision(), TsPrecision::Micro);
    assert_eq!(TsResolution::Pow2(19).precision(), TsPrecision::Micro);
    assert_eq!(
        TsResolution::Pow10(19).units_per_second(),
        10_000_000_000_000_000_000
    );
    // 10^-12 units truncate to whole nanoseconds.
    let ts = TsResolution::Pow10(12).to_timestamp(1_000_000_000_999_999, 0);
    assert_eq!(ts, Timestamp::new(1000, 999));
    // Offsets apply to seconds; extreme values saturate instead of overflowing.
    assert_eq!(
        TsResolution::Pow10(0).to_timestamp(u64::MAX, i64::MAX).secs,
        i64::MAX
    );
    assert_eq!(
        TsResolution::Pow10(0).to_timestamp(0, i64::MIN),
        Timestamp::new(i64::MIN, 0)
    );
    // The writer's inverse.
    for res in [
        TsResolution::Pow10(6),
        TsResolution::Pow10(9),
        TsResolution::Pow2(30),
    ] {
        let ts = Timestamp::new(1_700_000_000, 123_456_789);
        let units = res.from_timestamp(ts).unwrap();
        let back = res.to_timestamp(units, 0);
        assert_eq!(back.secs, ts.secs);
        assert!(ts.nanos - back.nanos < 1000, "{res:?}: {back:?}");
    }
    assert_eq!(
        TsResolution::Pow10(9).from_timestamp(Timestamp::new(-1, 0)),
        None
    );
}

#[test]
fn writer_round_trip_both_byte_orders() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let mut w = PcapngWriter::with_byte_order(Vec::new(), order).unwrap();
        let a = w
            .add_interface(LinkType::ETHERNET, 0, TsPrecision::Micro)
            .unwrap();
        let b = w
            .add_interface(LinkType::RAW, 5, TsPrecision::Nano)
            .unwrap();
        let c = w
            .add_interface_with_resolution(LinkType::NULL, 0, TsResolution::Pow2(24))
            .unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        let t = Timestamp::new(1_700_000_000, 987_654_321);
        w.write_packet(a, t, b"0123456789", 10).unwrap();
        w.write_packet(b, t, b"0123456789", 10).unwrap();
        w.write_packet(c, t, b"abc", 3).unwrap();
        assert!(w.write_packet(3, t, b"", 0).is_err());
        assert!(w.write_packet(a, Timestamp::new(-1, 0), b"", 0).is_err());
        let bytes = w.into_inner();
        let got = read_all(&bytes);
        let c_ts = TsResolution::Pow2(24)
            .to_timestamp(TsResolution::Pow2(24).from_timestamp(t).unwrap(), 0);
        assert_eq!(
            got,
            vec![
                seen(
                    Timestamp::new(t.secs, 987_654_000),
                    TsPrecision::Micro,
                    1,
                    0,
                    b"0123456789",
                    10
                ),
                seen(t, TsPrecision::Nano, 101, 1, b"01234", 10),
                seen(c_ts, TsPrecision::Nano, 0, 2, b"abc", 3),
            ]
        );
    }
}

#[test]
fn writer_rejects_wide_link_types() {
    let mut w = PcapngWriter::new(Vec::new()).unwrap();
    assert!(
        w.add_interface(LinkType(70_000), 0, TsPrecision::Micro)
            .is_err()
    );
}
