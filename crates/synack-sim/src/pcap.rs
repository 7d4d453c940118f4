//! A capture sink that writes classic pcap files.
//!
//! The file format (libpcap "classic", as documented in the pcap-savefile man page and
//! draft-ietf-opsawg-pcap): a 24-byte global header, then per packet a 16-byte record header
//! (seconds, sub-second fraction, captured length, original length) and the bytes. Links
//! here carry bare IP datagrams, so the link type is `LINKTYPE_RAW` (101), which Wireshark
//! and tcpdump read as IPv4 or IPv6 by the version nibble.

use std::io::{self, Write};

use synack::Instant;

use crate::capture::{CaptureSink, PacketEvent, Tap};

/// `LINKTYPE_RAW`: each packet is a raw IPv4 or IPv6 datagram.
pub const LINKTYPE_RAW: u32 = 101;

/// The magic number of a classic pcap file with microsecond timestamps.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// The magic number of a classic pcap file with nanosecond timestamps.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;

/// Writes the packets a [`Tap`] sees to a classic pcap file (little-endian, `LINKTYPE_RAW`),
/// with virtual time as the timestamps (time zero is the Unix epoch in the file).
///
/// Write errors do not stop the simulation: the first one is kept and returned by
/// [`PcapSink::finish`], and nothing more is written after it.
pub struct PcapSink<W: Write> {
    tap: Tap,
    out: W,
    nanos: bool,
    snaplen: u32,
    error: Option<io::Error>,
    packets: u64,
}

impl<W: Write> PcapSink<W> {
    /// A sink writing what `tap` sees to `out`, with microsecond timestamps (the most widely
    /// read variant) and a snapshot length of 65535. Writes the file header at once.
    pub fn new(out: W, tap: Tap) -> io::Result<PcapSink<W>> {
        PcapSink::with_options(out, tap, false, 65_535)
    }

    /// A sink with nanosecond timestamps if `nanos`, and packets truncated to `snaplen` bytes.
    pub fn with_options(
        mut out: W,
        tap: Tap,
        nanos: bool,
        snaplen: u32,
    ) -> io::Result<PcapSink<W>> {
        let mut h = [0u8; 24];
        let magic = if nanos { MAGIC_NANOS } else { MAGIC_MICROS };
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs are zero.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapSink {
            tap,
            out,
            nanos,
            snaplen,
            error: None,
            packets: 0,
        })
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The writer so far (for an in-memory capture, the bytes written).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes and returns the writer, or the first write error.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn record(&mut self, time: Instant, data: &[u8]) -> io::Result<()> {
        let ns = time.as_nanos();
        let secs = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
        let frac = if self.nanos {
            (ns % 1_000_000_000) as u32
        } else {
            ((ns % 1_000_000_000) / 1_000) as u32
        };
        let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let caplen = orig.min(self.snaplen);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&caplen.to_le_bytes());
        h[12..16].copy_from_slice(&orig.to_le_bytes());
        self.out.write_all(&h)?;
        self.out
            .write_all(data.get(..caplen as usize).unwrap_or(data))
    }
}

impl<W: Write> CaptureSink for PcapSink<W> {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        if self.error.is_some() || !self.tap.matches(ev) {
            return;
        }
        match self.record(ev.time, ev.data) {
            Ok(()) => self.packets += 1,
            Err(e) => self.error = Some(e),
        }
    }
}
