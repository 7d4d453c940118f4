//! A capture sink that writes classic pcap files, through `synack_wire::pcap::PcapWriter`.
//!
//! Links carry bare IP datagrams, so the link type is `LINKTYPE_RAW` (101), which Wireshark
//! and tcpdump read as IPv4 or IPv6 by the version nibble. Virtual time becomes the time
//! stamps: time zero is the Unix epoch in the file (`tcpdump -tt` prints `0.000000`).

use std::io::{self, Write};

use synack_wire::pcap::{LinkType, PcapWriter, Timestamp, TsPrecision};

use crate::capture::{CaptureSink, PacketEvent, Tap};

/// Writes the packets a [`Tap`] sees to a little-endian classic pcap file.
///
/// Write errors do not stop the simulation: the first one is kept and returned by
/// [`PcapSink::finish`], and nothing more is written after it.
pub struct PcapSink<W: Write> {
    tap: Tap,
    writer: PcapWriter<W>,
    error: Option<io::Error>,
    packets: u64,
}

impl<W: Write> PcapSink<W> {
    /// A sink writing what `tap` sees to `out`, with microsecond time stamps (what tcpdump
    /// and Wireshark read by default) and a snapshot length of 262144 (nothing is cut).
    /// Writes the file header at once.
    pub fn new(out: W, tap: Tap) -> io::Result<PcapSink<W>> {
        PcapSink::with_options(out, tap, TsPrecision::Micro, 262_144)
    }

    /// A sink with the given time-stamp precision, and packets cut to `snaplen` bytes.
    pub fn with_options(
        out: W,
        tap: Tap,
        precision: TsPrecision,
        snaplen: u32,
    ) -> io::Result<PcapSink<W>> {
        Ok(PcapSink {
            tap,
            writer: PcapWriter::new(out, LinkType::RAW, snaplen, precision)?,
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
        self.writer.get_ref()
    }

    /// Flushes and returns the writer, or the first write error.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.writer.flush()?;
        Ok(self.writer.into_inner())
    }
}

impl<W: Write> CaptureSink for PcapSink<W> {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        if self.error.is_some() || !self.tap.matches(ev) {
            return;
        }
        let ts = Timestamp::from_nanos(ev.time.as_nanos());
        let orig_len = u32::try_from(ev.data.len()).unwrap_or(u32::MAX);
        match self.writer.write_packet(ts, ev.data, orig_len) {
            Ok(()) => self.packets += 1,
            Err(e) => self.error = Some(e),
        }
    }
}
