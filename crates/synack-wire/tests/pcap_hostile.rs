//! Hostile capture files: truncation at every offset, bad magic, absurd lengths, and
//! awkward readers. Every case ends in packets, a clean end, or an error value.

use std::io::{self, Read};

use synack_wire::pcap::{
    ByteOrder, CaptureReader, LinkType, PcapError, PcapWriter, PcapngWriter, Source, Timestamp,
    TsPrecision,
};

fn classic(order: ByteOrder, precision: TsPrecision) -> (Vec<u8>, Vec<usize>) {
    let mut w =
        PcapWriter::with_byte_order(Vec::new(), LinkType::RAW, 0, precision, order).unwrap();
    let mut ends = vec![24];
    for (i, len) in [5usize, 0, 13].into_iter().enumerate() {
        let data: Vec<u8> = (0..len as u8).collect();
        w.write_packet(Timestamp::new(i as i64, 7), &data, len as u32)
            .unwrap();
        ends.push(ends.last().unwrap() + 16 + len);
    }
    (w.into_inner(), ends)
}

fn pcapng(order: ByteOrder) -> (Vec<u8>, Vec<usize>) {
    let mut w = PcapngWriter::with_byte_order(Vec::new(), order).unwrap();
    let a = w
        .add_interface(LinkType::ETHERNET, 0, TsPrecision::Nano)
        .unwrap();
    let b = w
        .add_interface(LinkType::RAW, 0, TsPrecision::Micro)
        .unwrap();
    // SHB 28, IDB 32 each; EPB 32 + padded data.
    let mut ends = vec![28 + 32 + 32];
    for (i, len) in [3usize, 0, 9].into_iter().enumerate() {
        let data: Vec<u8> = (0..len as u8).collect();
        let iface = if i % 2 == 0 { a } else { b };
        w.write_packet(iface, Timestamp::new(i as i64, 7), &data, len as u32)
            .unwrap();
        ends.push(ends.last().unwrap() + 32 + len.div_ceil(4) * 4);
    }
    let bytes = w.into_inner();
    assert_eq!(*ends.last().unwrap(), bytes.len());
    (bytes, ends)
}

/// Reads a whole capture: the packets' data, and how it ended.
fn drain<S: Source>(r: Result<CaptureReader<S>, PcapError>) -> (Vec<Vec<u8>>, Option<PcapError>) {
    let mut r = match r {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        match p {
            Ok(p) => out.push(p.data.to_vec()),
            Err(e) => {
                assert!(r.next_packet().is_none(), "reader must stop after an error");
                return (out, Some(e));
            }
        }
    }
    (out, None)
}

/// Cuts `file` at every offset; a cut at a record boundary (after the header) reads the
/// records before it and ends cleanly, any other cut reads them and ends with `Truncated`.
/// `ends[0]` is the end of the file header, `ends[1..]` the ends of the packet records;
/// `other_boundaries` are further clean cut points (pcapng blocks before the first packet).
fn truncate_everywhere(file: &[u8], ends: &[usize], other_boundaries: &[usize]) {
    let (all, end) = drain(CaptureReader::from_slice(file));
    assert!(end.is_none());
    assert_eq!(all.len(), ends.len() - 1);
    for cut in 0..file.len() {
        let prefix = &file[..cut];
        let complete = ends.iter().skip(1).filter(|&&e| e <= cut).count();
        let clean = ends.contains(&cut) || other_boundaries.contains(&cut);
        for (got, end) in [
            drain(CaptureReader::from_slice(prefix)),
            drain(CaptureReader::new(prefix)),
            drain(CaptureReader::new(OneByteAtATime(prefix))),
        ] {
            assert_eq!(got, all[..complete], "cut at {cut}");
            if clean {
                assert!(end.is_none(), "cut at {cut}: {end:?}");
            } else {
                assert!(
                    matches!(end, Some(PcapError::Truncated { .. })),
                    "cut at {cut}: {end:?}"
                );
            }
        }
    }
}

#[test]
fn classic_truncated_at_every_offset() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        for precision in [TsPrecision::Micro, TsPrecision::Nano] {
            let (file, ends) = classic(order, precision);
            truncate_everywhere(&file, &ends, &[]);
        }
    }
}

#[test]
fn pcapng_truncated_at_every_offset() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let (file, ends) = pcapng(order);
        // After the SHB (no interface yet: an empty capture) and after the first IDB.
        truncate_everywhere(&file, &ends, &[28, 60]);
    }
}

#[test]
fn bad_magic() {
    for file in [
        &b"\0\0\0\0rest of a file"[..],
        b"GIF89a....",
        b"\xd4\xc3\xb2",
    ] {
        let r = CaptureReader::from_slice(file);
        match file.len() {
            3 => assert!(matches!(r, Err(PcapError::Truncated { .. }))),
            _ => assert!(matches!(r, Err(PcapError::BadMagic(_)))),
        }
    }
    assert!(matches!(
        CaptureReader::from_slice(b""),
        Err(PcapError::Truncated { .. })
    ));
}

#[test]
fn huge_classic_lengths_are_errors() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let (mut file, _) = classic(order, TsPrecision::Micro);
        // First record's incl_len (offset 24 + 8).
        let huge = match order {
            ByteOrder::Little => u32::MAX.to_le_bytes(),
            ByteOrder::Big => u32::MAX.to_be_bytes(),
        };
        file[32..36].copy_from_slice(&huge);
        for (got, end) in [
            drain(CaptureReader::from_slice(&file)),
            drain(CaptureReader::new(&file[..])),
        ] {
            assert!(got.is_empty());
            assert!(
                matches!(
                    end,
                    Some(PcapError::TooLarge {
                        offset: 24,
                        len: 0xffff_ffff,
                        ..
                    })
                ),
                "{end:?}"
            );
        }
    }
}

#[test]
fn huge_pcapng_lengths_are_errors() {
    let (file, _) = pcapng(ByteOrder::Little);
    // Block length of the first EPB (offset 92 + 4).
    let mut f = file.clone();
    f[96..100].copy_from_slice(&0xffff_fffcu32.to_le_bytes());
    let (got, end) = drain(CaptureReader::new(&f[..]));
    assert!(got.is_empty());
    assert!(
        matches!(end, Some(PcapError::TooLarge { offset: 92, .. })),
        "{end:?}"
    );
    // Block length not a multiple of 4, or below the minimum.
    for bad in [13u32, 8, 0] {
        let mut f = file.clone();
        f[96..100].copy_from_slice(&bad.to_le_bytes());
        let (_, end) = drain(CaptureReader::from_slice(&f));
        assert!(
            matches!(end, Some(PcapError::Malformed { offset: 92, .. })),
            "{end:?}"
        );
    }
    // EPB captured length larger than the block (but small) or absurd.
    for (caplen, too_large) in [(100u32, false), (0x7fff_ffff, true)] {
        let mut f = file.clone();
        f[92 + 20..92 + 24].copy_from_slice(&caplen.to_le_bytes());
        let (got, end) = drain(CaptureReader::from_slice(&f));
        assert!(got.is_empty());
        if too_large {
            assert!(matches!(end, Some(PcapError::TooLarge { .. })), "{end:?}");
        } else {
            assert!(matches!(end, Some(PcapError::Malformed { .. })), "{end:?}");
        }
    }
    // SHB with an absurd length: refused before reading on.
    let mut f = file.clone();
    f[4..8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    assert!(matches!(
        CaptureReader::new(&f[..]),
        Err(PcapError::TooLarge { offset: 0, .. })
    ));
}

#[test]
fn io_errors_are_reported_and_interruptions_retried() {
    let (file, _) = classic(ByteOrder::Little, TsPrecision::Micro);
    let (got, end) = drain(CaptureReader::new(Interrupting {
        data: &file,
        calls: 0,
    }));
    assert_eq!(got.len(), 3);
    assert!(end.is_none());
    let (got, end) = drain(CaptureReader::new(FailAfter {
        data: &file,
        left: 50,
    }));
    assert_eq!(got.len(), 1);
    assert!(matches!(end, Some(PcapError::Io(_))), "{end:?}");
}

/// Hands out one byte per `read`.
struct OneByteAtATime<'a>(&'a [u8]);

impl Read for OneByteAtATime<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Fails every other `read` with `Interrupted`.
struct Interrupting<'a> {
    data: &'a [u8],
    calls: u32,
}

impl Read for Interrupting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 2 == 1 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.data.len()).min(7);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Serves `left` bytes, then fails.
struct FailAfter<'a> {
    data: &'a [u8],
    left: usize,
}

impl Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.left).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.left -= n;
        Ok(n)
    }
}
