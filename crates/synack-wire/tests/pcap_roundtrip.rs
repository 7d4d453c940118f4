//! Classic pcap: write with `PcapWriter`, read back with `CaptureReader` (both magics, both
//! byte orders, `Read` and slice sources), plus header details read from hand-made files.

use synack_wire::pcap::{
    ByteOrder, CaptureFormat, CaptureReader, LinkType, MAX_SNAPLEN, PcapError, PcapWriter,
    Timestamp, TsPrecision,
};

/// Deterministic packets of assorted sizes (0..=1600 bytes).
fn packets() -> Vec<(Timestamp, Vec<u8>)> {
    let mut x: u32 = 0x1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    (0..40)
        .map(|i| {
            let len = match i {
                0 => 0,
                1 => 1,
                2 => 1600,
                _ => (next() % 1500) as usize,
            };
            let data = (0..len).map(|_| next() as u8).collect();
            let ts = Timestamp::new(1_700_000_000 + i64::from(i), next() % 1_000_000_000);
            (ts, data)
        })
        .collect()
}

fn write(order: ByteOrder, precision: TsPrecision, snaplen: u32, link: LinkType) -> Vec<u8> {
    let mut w = PcapWriter::with_byte_order(Vec::new(), link, snaplen, precision, order).unwrap();
    for (ts, data) in packets() {
        w.write_packet(ts, &data, data.len() as u32).unwrap();
    }
    w.into_inner()
}

fn expected_ts(ts: Timestamp, precision: TsPrecision) -> Timestamp {
    match precision {
        TsPrecision::Micro => Timestamp::new(ts.secs, ts.micros() * 1000),
        TsPrecision::Nano => ts,
    }
}

fn check_reader<S: synack_wire::pcap::Source>(
    mut r: CaptureReader<S>,
    order: ByteOrder,
    precision: TsPrecision,
    snaplen: u32,
    link: LinkType,
) {
    match r.format() {
        CaptureFormat::Pcap(h) => {
            assert_eq!(h.byte_order, order);
            assert_eq!(h.precision, precision);
            assert_eq!((h.version_major, h.version_minor), (2, 4));
            assert_eq!(h.snaplen, snaplen);
            assert_eq!(h.link_type, link);
            assert_eq!(h.fcs_len, None);
        }
        other => panic!("expected classic pcap, got {other:?}"),
    }
    assert_eq!(r.link_type(), Some(link));
    assert_eq!(r.precision(), Some(precision));
    let want = packets();
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let (ts, data) = &want[n];
        let cut = if snaplen == 0 {
            data.len()
        } else {
            data.len().min(snaplen as usize)
        };
        assert_eq!(p.data, &data[..cut], "packet {n}");
        assert_eq!(p.incl_len() as usize, cut);
        assert_eq!(p.orig_len as usize, data.len());
        assert_eq!(p.is_truncated(), cut < data.len());
        assert_eq!(p.timestamp, expected_ts(*ts, precision), "packet {n}");
        assert_eq!(p.precision, precision);
        assert_eq!(p.link_type, link);
        assert_eq!(p.interface_id, 0);
        n += 1;
    }
    assert_eq!(n, want.len());
    // Fused: stays at the end.
    assert!(r.next_packet().is_none());
}

#[test]
fn round_trip_both_magics_both_byte_orders() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        for precision in [TsPrecision::Micro, TsPrecision::Nano] {
            for (snaplen, link) in [
                (65535, LinkType::RAW),
                (0, LinkType::ETHERNET),
                (100, LinkType::LINUX_SLL2),
            ] {
                let bytes = write(order, precision, snaplen, link);
                // Magic bytes as laid out on disk.
                let magic = match precision {
                    TsPrecision::Micro => 0xa1b2_c3d4u32,
                    TsPrecision::Nano => 0xa1b2_3c4d,
                };
                let on_disk = match order {
                    ByteOrder::Big => magic.to_be_bytes(),
                    ByteOrder::Little => magic.to_le_bytes(),
                };
                assert_eq!(bytes[..4], on_disk);
                check_reader(
                    CaptureReader::new(&bytes[..]).unwrap(),
                    order,
                    precision,
                    snaplen,
                    link,
                );
                check_reader(
                    CaptureReader::from_slice(&bytes).unwrap(),
                    order,
                    precision,
                    snaplen,
                    link,
                );
            }
        }
    }
}

#[test]
fn default_writer_is_little_endian_version_2_4() {
    let w = PcapWriter::new(Vec::new(), LinkType::RAW, 1234, TsPrecision::Micro).unwrap();
    let b = w.into_inner();
    assert_eq!(
        b,
        [
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd2, 0x04, 0, 0, 101, 0,
            0, 0
        ]
    );
}

#[test]
fn writer_rejects_unrepresentable_time_stamps() {
    let mut w = PcapWriter::new(Vec::new(), LinkType::RAW, 0, TsPrecision::Micro).unwrap();
    assert!(w.write_packet(Timestamp::new(-1, 0), &[], 0).is_err());
    assert!(w.write_packet(Timestamp::new(1 << 31, 0), &[], 0).is_err());
    w.write_packet(Timestamp::new((1 << 31) - 1, 999_999_999), &[1], 1)
        .unwrap();
    let b = w.into_inner();
    let mut r = CaptureReader::from_slice(&b).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.timestamp, Timestamp::new((1 << 31) - 1, 999_999_000));
    assert!(r.next_packet().is_none());
}

/// A hand-made little-endian header.
fn header(magic: u32, major: u16, minor: u16, snaplen: u32, link: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&magic.to_le_bytes());
    v.extend_from_slice(&major.to_le_bytes());
    v.extend_from_slice(&minor.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&snaplen.to_le_bytes());
    v.extend_from_slice(&link.to_le_bytes());
    v
}

fn record(secs: u32, frac: u32, caplen: u32, len: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for f in [secs, frac, caplen, len] {
        v.extend_from_slice(&f.to_le_bytes());
    }
    v.extend_from_slice(data);
    v
}

#[test]
fn fcs_bits_are_masked_off_the_link_type() {
    // F bit (26) set, FCS length 2 (bits 28-31).
    let file = header(0xa1b2_c3d4, 2, 4, 65535, 0x2400_0001);
    let r = CaptureReader::from_slice(&file).unwrap();
    assert_eq!(r.link_type(), Some(LinkType::ETHERNET));
    let CaptureFormat::Pcap(h) = r.format() else {
        panic!()
    };
    assert_eq!(h.fcs_len, Some(2));
}

#[test]
fn signed_seconds_and_unnormalised_fractions() {
    let mut file = header(0xa1b2_c3d4, 2, 4, 65535, 101);
    file.extend(record(0x8000_0000, 5, 0, 0, &[]));
    file.extend(record(1, 1_500_000, 0, 0, &[]));
    let mut r = CaptureReader::from_slice(&file).unwrap();
    // libpcap reads the seconds as a signed 32-bit number.
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.timestamp, Timestamp::new(-(1 << 31), 5000));
    // A fraction of more than a second is carried into the seconds.
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.timestamp, Timestamp::new(2, 500_000_000));
}

#[test]
fn old_versions_swap_caplen_and_len() {
    // Version 2.2: the fields are (len, caplen).
    let mut file = header(0xa1b2_c3d4, 2, 2, 65535, 101);
    file.extend(record(1, 0, 100, 3, &[7, 8, 9]));
    let mut r = CaptureReader::from_slice(&file).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!((p.data, p.orig_len), (&[7u8, 8, 9][..], 100));
    // Version 2.3: swapped only when caplen > len.
    let mut file = header(0xa1b2_c3d4, 2, 3, 65535, 101);
    file.extend(record(1, 0, 3, 100, &[1, 2, 3]));
    file.extend(record(1, 0, 50, 2, &[4, 5]));
    let mut r = CaptureReader::from_slice(&file).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!((p.data, p.orig_len), (&[1u8, 2, 3][..], 100));
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!((p.data, p.orig_len), (&[4u8, 5][..], 50));
}

#[test]
fn unsupported_versions_are_errors() {
    for (major, minor) in [(1, 0), (2, 5), (3, 0)] {
        let file = header(0xa1b2_c3d4, major, minor, 65535, 1);
        match CaptureReader::from_slice(&file) {
            Err(PcapError::UnsupportedVersion { major: a, minor: b }) => {
                assert_eq!((a, b), (major, minor))
            }
            other => panic!("{major}.{minor}: {other:?}"),
        }
    }
}

#[test]
fn record_longer_than_snaplen_is_cut_like_libpcap() {
    let mut file = header(0xa1b2_c3d4, 2, 4, 4, 101);
    file.extend(record(1, 0, 6, 6, &[1, 2, 3, 4, 5, 6]));
    file.extend(record(2, 0, 1, 1, &[9]));
    let mut r = CaptureReader::new(&file[..]).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data, &[1, 2, 3, 4]);
    assert_eq!(p.orig_len, 6);
    // The discarded bytes were skipped: the next record is intact.
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data, &[9]);
}

#[test]
fn max_snaplen_record_is_accepted_one_more_is_not() {
    let big = vec![0xabu8; MAX_SNAPLEN as usize];
    let mut file = header(0xa1b2_c3d4, 2, 4, 0, 101);
    file.extend(record(1, 0, MAX_SNAPLEN, MAX_SNAPLEN, &big));
    let mut r = CaptureReader::new(&file[..]).unwrap();
    assert_eq!(r.next_packet().unwrap().unwrap().data.len(), big.len());
    let mut file = header(0xa1b2_c3d4, 2, 4, 0, 101);
    file.extend(record(1, 0, MAX_SNAPLEN + 1, MAX_SNAPLEN + 1, &big));
    let mut r = CaptureReader::new(&file[..]).unwrap();
    assert!(matches!(
        r.next_packet(),
        Some(Err(PcapError::TooLarge { offset: 24, .. }))
    ));
    assert!(r.next_packet().is_none());
}
