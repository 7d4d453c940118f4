//! The sender's SACK scoreboard (RFC 2018, RFC 6675 §3) and D-SACK recognition (RFC 2883).
//!
//! The scoreboard keeps the ranges of sent data above SND.UNA that the peer reported with
//! SACK blocks, merged and sorted. From it the sender answers RFC 6675's questions: is a
//! sequence number SACKed, is it lost (`IsLost`), how many bytes are in flight (`SetPipe`)
//! and which bytes to send next (`NextSeg`).

use crate::lazyvec::LazyVec;
use crate::seq::Seq;

/// Most SACKed ranges remembered; a peer splitting its reports finer than this loses the
/// oldest information (the scoreboard stays bounded whatever the peer sends).
const MAX_RANGES: usize = 64;

/// RFC 6675 §2: DupThresh, the number of duplicate ACKs (or SACKed segments) that mark a
/// loss.
pub const DUP_THRESH: u32 = 3;

/// SACKed ranges above SND.UNA, each `[left, right)`, sorted and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scoreboard {
    /// One word until the first SACK block.
    ranges: LazyVec<(Seq, Seq)>,
}

impl Scoreboard {
    /// An empty scoreboard.
    pub fn new() -> Scoreboard {
        Scoreboard::default()
    }

    /// Forgets everything (the connection left the established states).
    pub fn clear(&mut self) {
        if let Some(v) = self.ranges.as_vec_mut() {
            v.clear();
        }
    }

    /// Whether nothing is SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The SACKed ranges, in sequence order.
    pub fn ranges(&self) -> &[(Seq, Seq)] {
        &self.ranges[..]
    }

    /// Records the SACK blocks of an ACK for `[una, nxt)` and returns how many bytes became
    /// SACKed for the first time (RFC 6937's DeliveredData counts them). Blocks outside the
    /// window or empty are ignored (RFC 2018 §4 and RFC 2883 §4: a D-SACK block reports
    /// a duplicate, not new data; call [`is_dsack`] first).
    pub fn update(&mut self, una: Seq, nxt: Seq, blocks: &[(Seq, Seq)]) -> u32 {
        let before = self.sacked_bytes();
        for &(l, r) in blocks {
            // Clamp to what is outstanding; a hostile block cannot grow the scoreboard
            // beyond SND.NXT or below SND.UNA.
            let l = if l.lt(una) { una } else { l };
            let r = if r.gt(nxt) { nxt } else { r };
            if !l.lt(r) || !l.ge(una) || !r.le(nxt) {
                continue;
            }
            self.insert(l, r);
        }
        self.advance(una);
        self.sacked_bytes().saturating_sub(before)
    }

    fn insert(&mut self, l: Seq, r: Seq) {
        // Allocated once, on the first SACK block (nothing is allocated per segment).
        let ranges = self.ranges.get_mut(MAX_RANGES + 1);
        let mut l = l;
        let mut r = r;
        // Merge with every range overlapping or touching [l, r).
        ranges.retain(|&(a, b)| {
            if b.lt(l) || a.gt(r) {
                true
            } else {
                if a.lt(l) {
                    l = a;
                }
                if b.gt(r) {
                    r = b;
                }
                false
            }
        });
        let at = ranges
            .iter()
            .position(|&(a, _)| a.gt(l))
            .unwrap_or(ranges.len());
        ranges.insert(at, (l, r));
        if ranges.len() > MAX_RANGES {
            // Keep the ranges nearest SND.UNA: they decide what is retransmitted next.
            ranges.truncate(MAX_RANGES);
        }
    }

    /// Drops what SND.UNA (`una`) has passed.
    ///
    /// A range reaching down to SND.UNA is dropped too: the receiver holds that data yet
    /// did not acknowledge it cumulatively, so it may have reneged (RFC 2018 §8); the sender
    /// must be ready to send it again.
    pub fn advance(&mut self, una: Seq) {
        if let Some(v) = self.ranges.as_vec_mut() {
            v.retain(|&(l, _)| l.gt(una));
        }
    }

    /// Bytes SACKed.
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges
            .iter()
            .fold(0u32, |n, &(l, r)| n.saturating_add(r.since(l)))
    }

    /// The highest SACKed sequence number (the right edge of the last range), if any.
    pub fn highest_sacked(&self) -> Option<Seq> {
        self.ranges.last().map(|&(_, r)| r)
    }

    /// Whether `seq` is SACKed.
    pub fn is_sacked(&self, seq: Seq) -> bool {
        self.ranges.iter().any(|&(l, r)| seq.ge(l) && seq.lt(r))
    }

    /// The end of the SACKed range holding `seq`, or `None` when `seq` is not SACKed.
    pub fn sacked_until(&self, seq: Seq) -> Option<Seq> {
        self.ranges
            .iter()
            .find(|&&(l, r)| seq.ge(l) && seq.lt(r))
            .map(|&(_, r)| r)
    }

    /// The first SACKed sequence number at or above `seq` (the end of the hole holding it).
    pub fn next_sacked(&self, seq: Seq) -> Option<Seq> {
        self.ranges
            .iter()
            .find(|&&(_, r)| r.gt(seq))
            .map(|&(l, _)| if l.lt(seq) { seq } else { l })
    }

    /// RFC 6675 §4 IsLost(seq): more than (DupThresh − 1) × SMSS bytes are SACKed above
    /// `seq` (the byte form of "DupThresh discontiguous SACKed sequences").
    pub fn is_lost(&self, seq: Seq, mss: u32) -> bool {
        if self.is_sacked(seq) {
            return false;
        }
        let above = self.ranges.iter().fold(0u32, |n, &(l, r)| {
            if r.le(seq) {
                n
            } else {
                let l = if l.lt(seq) { seq } else { l };
                n.saturating_add(r.since(l))
            }
        });
        above > (DUP_THRESH - 1).saturating_mul(mss)
    }

    /// The loss boundary: every unSACKed byte below it satisfies IsLost (IsLost is monotone
    /// in the sequence number, since fewer bytes are SACKed above a higher one).
    pub fn lost_boundary(&self, una: Seq, mss: u32) -> Seq {
        let threshold = (DUP_THRESH - 1).saturating_mul(mss);
        let mut above = 0u32;
        // Walk down from the highest range until more than the threshold lies above.
        for &(l, r) in self.ranges.iter().rev() {
            let len = r.since(l);
            if above.saturating_add(len) > threshold {
                // The boundary lies inside this range: bytes below the point where the
                // sum first exceeds the threshold are lost if unSACKed.
                let need = threshold - above;
                let point = r - (need + 1);
                return if point.lt(una) { una } else { point };
            }
            above = above.saturating_add(len);
        }
        una
    }

    /// RFC 6675 §4 SetPipe for `[una, nxt)`: bytes neither SACKed nor lost, plus lost bytes
    /// already retransmitted (below `high_rxt`).
    ///
    /// `boundary` is where loss detection stands: unSACKed bytes below it are lost
    /// ([`Scoreboard::lost_boundary`], or further up when RACK says so).
    pub fn pipe(&self, una: Seq, nxt: Seq, high_rxt: Seq, boundary: Seq) -> u32 {
        if !una.lt(nxt) {
            return 0;
        }
        let mut pipe = 0u32;
        let mut at = una;
        // Walks the holes (unSACKed stretches) without allocating: between ranges, then
        // from the last range to SND.NXT.
        let ends = self.ranges.iter().map(|&(l, r)| (l, r)).chain([(nxt, nxt)]);
        for (l, r) in ends {
            let hole_end = if l.gt(nxt) { nxt } else { l };
            if at.lt(hole_end) {
                // The part of the hole below the boundary is lost; retransmitted lost
                // bytes (below HighRxt) are back in flight.
                let lost_end = clamp(boundary, at, hole_end);
                let rxt_end = clamp(high_rxt, at, lost_end);
                pipe = pipe
                    .saturating_add(rxt_end.since(at))
                    .saturating_add(hole_end.since(lost_end));
            }
            if r.gt(at) {
                at = r;
            }
        }
        pipe
    }

    /// RFC 6675 §4 NextSeg rule 1: the first unSACKed, lost byte at or above `high_rxt` (and
    /// SND.UNA) with the end of its hole; `None` when no lost byte waits.
    /// `boundary` as for [`Scoreboard::pipe`].
    pub fn next_lost(&self, una: Seq, high_rxt: Seq, boundary: Seq) -> Option<(Seq, Seq)> {
        let mut at = if high_rxt.gt(una) { high_rxt } else { una };
        while at.lt(boundary) {
            match self.sacked_until(at) {
                Some(end) => at = end,
                None => {
                    let end = self.next_sacked(at).unwrap_or(boundary);
                    return Some((at, end));
                }
            }
        }
        None
    }
}

fn clamp(x: Seq, lo: Seq, hi: Seq) -> Seq {
    if x.lt(lo) {
        lo
    } else if x.gt(hi) {
        hi
    } else {
        x
    }
}

/// RFC 2883 §4: whether the first SACK block of an ACK reports a duplicate (D-SACK): it lies
/// below the cumulative ACK, or inside the second block.
pub fn is_dsack(ack: Seq, blocks: &[(Seq, Seq)]) -> bool {
    match blocks {
        [] => false,
        [(l, r), rest @ ..] => {
            r.le(ack) || l.lt(ack) || rest.first().is_some_and(|&(l2, r2)| l.ge(l2) && r.le(r2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6675_scoreboard_merges_and_finds_losses() {
        let mut sb = Scoreboard::new();
        let una = Seq(1000);
        let nxt = Seq(11000);
        // Segments of 1000 bytes: 1000..2000 lost, 2000..5000 SACKed, 6000..7000 SACKed.
        assert_eq!(sb.update(una, nxt, &[(Seq(2000), Seq(3000))]), 1000);
        assert_eq!(sb.update(una, nxt, &[(Seq(3000), Seq(5000))]), 2000);
        assert_eq!(sb.update(una, nxt, &[(Seq(6000), Seq(7000))]), 1000);
        assert_eq!(
            sb.ranges(),
            &[(Seq(2000), Seq(5000)), (Seq(6000), Seq(7000))]
        );
        // 4000 bytes SACKed above 1000: lost; above 5000 only 1000: not lost.
        assert!(sb.is_lost(Seq(1000), 1000));
        assert!(!sb.is_lost(Seq(5000), 1000));
        assert!(!sb.is_lost(Seq(2500), 1000));
        let b = sb.lost_boundary(una, 1000);
        assert_eq!(sb.next_lost(una, una, b), Some((Seq(1000), Seq(2000))));
        assert_eq!(sb.next_lost(una, Seq(2000), b), None);
        // pipe: 5000..6000 and 7000..11000 in flight = 5000; the lost hole is not.
        assert_eq!(sb.pipe(una, nxt, una, b), 5000);
        assert_eq!(sb.pipe(una, nxt, Seq(2000), b), 6000);
        // RACK moving the boundary to 7000 makes 5000..6000 lost as well.
        assert_eq!(sb.pipe(una, nxt, una, Seq(7000)), 4000);
        assert_eq!(
            sb.next_lost(una, Seq(2000), Seq(7000)),
            Some((Seq(5000), Seq(6000)))
        );
        // Hostile blocks beyond SND.NXT are clamped; below SND.UNA ignored.
        sb.update(una, nxt, &[(Seq(10500), Seq(90000)), (Seq(0), Seq(900))]);
        assert_eq!(sb.highest_sacked(), Some(nxt));
        // A cumulative ACK landing inside a SACKed range drops it (possible reneging).
        sb.advance(Seq(4000));
        assert_eq!(sb.ranges(), &[(Seq(6000), Seq(7000)), (Seq(10500), nxt)]);
    }

    #[test]
    fn rfc2883_dsack_recognised() {
        assert!(is_dsack(Seq(100), &[(Seq(50), Seq(60))]));
        assert!(is_dsack(
            Seq(100),
            &[(Seq(150), Seq(160)), (Seq(140), Seq(200))]
        ));
        assert!(!is_dsack(
            Seq(100),
            &[(Seq(150), Seq(160)), (Seq(170), Seq(200))]
        ));
        assert!(!is_dsack(Seq(100), &[]));
    }
}
