//! The engine's view of segments: what the host hands in, what the engine hands out.
//!
//! The host parses the wire (synack-wire) into a [`SegmentIn`] and serialises a
//! [`SegmentOut`] back, honouring [`SegmentOut::layout`] for the option order. Both are plain
//! values: no allocation, no references into the engine.

use crate::config::OptionLayout;
use crate::seq::Seq;
use synack_wire::TcpFlags;

/// RFC 7323 timestamps option values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the echoed TS.Recent.
    pub tsecr: u32,
}

/// Up to four SACK blocks (RFC 2018 §3), stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SackBlocks {
    blocks: [(Seq, Seq); 4],
    len: u8,
}

impl SackBlocks {
    /// Appends a block `[left, right)`; returns `false` when four are already held.
    pub fn push(&mut self, left: Seq, right: Seq) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = (left, right);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The blocks held, in order.
    pub fn as_slice(&self) -> &[(Seq, Seq)] {
        &self.blocks[..usize::from(self.len.min(4))]
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The TCP options the engine cares about, already parsed (or to be emitted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SegOptions {
    /// Maximum segment size (RFC 9293 §3.7.1), SYN only.
    pub mss: Option<u16>,
    /// Window scale shift (RFC 7323 §2), SYN only; the raw value as sent (may exceed 14).
    pub wscale: Option<u8>,
    /// SACK-permitted (RFC 2018), SYN only.
    pub sack_permitted: bool,
    /// Timestamps (RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (RFC 2018).
    pub sack_blocks: SackBlocks,
}

/// An arriving segment as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentIn<'a> {
    /// SEG.SEQ.
    pub seq: Seq,
    /// SEG.ACK (meaningful only with ACK set).
    pub ack: Seq,
    /// Control flags.
    pub flags: TcpFlags,
    /// SEG.WND as on the wire (not yet scaled).
    pub wnd: u16,
    /// SEG.UP as on the wire.
    pub up: u16,
    /// Parsed options.
    pub options: SegOptions,
    /// The segment text.
    pub payload: &'a [u8],
}

impl<'a> SegmentIn<'a> {
    /// A segment with the given fields, no options and no payload.
    pub const fn new(seq: Seq, ack: Seq, flags: TcpFlags, wnd: u16) -> SegmentIn<'a> {
        SegmentIn {
            seq,
            ack,
            flags,
            wnd,
            up: 0,
            options: SegOptions {
                mss: None,
                wscale: None,
                sack_permitted: false,
                timestamps: None,
                sack_blocks: SackBlocks {
                    blocks: [(Seq(0), Seq(0)); 4],
                    len: 0,
                },
            },
            payload: &[],
        }
    }

    /// SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4).
    pub fn seg_len(&self) -> u32 {
        let n = u32::try_from(self.payload.len()).unwrap_or(u32::MAX);
        n.saturating_add(u32::from(self.flags.syn()))
            .saturating_add(u32::from(self.flags.fin()))
    }
}

/// A segment the engine wants sent. The payload bytes were written into the caller's buffer
/// by `poll_transmit`; `payload_len` says how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentOut {
    /// SEG.SEQ.
    pub seq: Seq,
    /// SEG.ACK (zero when ACK is not set).
    pub ack: Seq,
    /// Control flags.
    pub flags: TcpFlags,
    /// The window field as it goes on the wire (already scaled down).
    pub wnd: u16,
    /// The urgent pointer field.
    pub up: u16,
    /// The options to emit.
    pub options: SegOptions,
    /// The order the serializer must lay the options out in.
    pub layout: OptionLayout,
    /// Number of payload bytes written to the caller's buffer.
    pub payload_len: usize,
    /// RFC 3168 §6.1.2: the host marks the IP header ECT(0) (new data on an ECN
    /// connection; never SYNs, pure ACKs or retransmissions, §6.1.5).
    pub ect: bool,
}

impl SegmentOut {
    /// A bare segment (no options, no payload).
    pub fn bare(seq: Seq, ack: Seq, flags: TcpFlags, wnd: u16) -> SegmentOut {
        SegmentOut {
            seq,
            ack,
            flags,
            wnd,
            up: 0,
            options: SegOptions::default(),
            layout: OptionLayout::Linux,
            payload_len: 0,
            ect: false,
        }
    }

    /// SEG.LEN of this segment.
    pub fn seg_len(&self) -> u32 {
        let n = u32::try_from(self.payload_len).unwrap_or(u32::MAX);
        n.saturating_add(u32::from(self.flags.syn()))
            .saturating_add(u32::from(self.flags.fin()))
    }

    /// This segment as the receiving engine would see it, with `payload` as its text
    /// (for back-to-back tests and wire-free simulations).
    pub fn as_segment_in<'a>(&self, payload: &'a [u8]) -> SegmentIn<'a> {
        SegmentIn {
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            wnd: self.wnd,
            up: self.up,
            options: self.options,
            payload,
        }
    }
}

/// The reset answering a segment that reached no connection (RFC 9293 §3.10.7.1), or `None`
/// when the segment itself carries RST (an incoming RST is discarded, never answered).
///
/// - ACK off: `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>` — tcpdump's `Flags [R.], seq 0`.
/// - ACK on: `<SEQ=SEG.ACK><CTL=RST>` — tcpdump's `Flags [R]`.
///
/// The window is zero and no options are sent, as Linux does.
pub fn reset_for_no_connection(seg: &SegmentIn<'_>) -> Option<SegmentOut> {
    if seg.flags.rst() {
        return None;
    }
    Some(if seg.flags.ack() {
        SegmentOut::bare(seg.ack, Seq(0), TcpFlags::RST, 0)
    } else {
        SegmentOut::bare(
            Seq(0),
            seg.seq + seg.seg_len(),
            TcpFlags::RST | TcpFlags::ACK,
            0,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9293_3_10_7_1_reset_to_syn_on_closed_port() {
        // Seed trace: `Flags [S], seq 21621375` → `Flags [R.], seq 0, ack 21621376, win 0`.
        let syn = SegmentIn::new(Seq(21621375), Seq(0), TcpFlags::SYN, 14600);
        let rst = reset_for_no_connection(&syn).unwrap();
        assert_eq!(rst.flags, TcpFlags::RST | TcpFlags::ACK);
        assert_eq!(
            (rst.seq, rst.ack, rst.wnd, rst.payload_len),
            (Seq(0), Seq(21621376), 0, 0)
        );
    }

    #[test]
    fn rfc9293_3_10_7_1_reset_to_ack_uses_seg_ack() {
        // Seed trace (half-open): `[P.], seq 1:4, ack 1` → `Flags [R], seq 1495337792`.
        let mut data = SegmentIn::new(
            Seq(3093809366),
            Seq(1495337792),
            TcpFlags::ACK | TcpFlags::PSH,
            229,
        );
        data.payload = b"a\r\n";
        let rst = reset_for_no_connection(&data).unwrap();
        assert_eq!(rst.flags, TcpFlags::RST);
        assert_eq!((rst.seq, rst.ack), (Seq(1495337792), Seq(0)));
    }

    #[test]
    fn rfc9293_3_10_7_1_reset_counts_syn_fin_and_text() {
        let mut seg = SegmentIn::new(Seq(u32::MAX), Seq(0), TcpFlags::SYN | TcpFlags::FIN, 0);
        seg.payload = b"xyz";
        assert_eq!(reset_for_no_connection(&seg).unwrap().ack, Seq(4));
        let rst = SegmentIn::new(Seq(1), Seq(2), TcpFlags::RST, 0);
        assert!(reset_for_no_connection(&rst).is_none());
    }

    #[test]
    fn sack_blocks_hold_at_most_four() {
        let mut s = SackBlocks::default();
        for i in 0..4 {
            assert!(s.push(Seq(i), Seq(i + 1)));
        }
        assert!(!s.push(Seq(9), Seq(10)));
        assert_eq!(s.as_slice().len(), 4);
    }
}
