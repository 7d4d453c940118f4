//! Time-sequence graphs as SVG: the picture tcptrace and Wireshark's "Stevens" / "tcptrace"
//! views draw for one direction of a TCP connection.
//!
//! Time runs to the right and sequence numbers (relative to the sender's ISN) upwards:
//!
//! - each data segment is a vertical bar from its first to its last sequence number at the
//!   time it was sent (black; red when it covers sequence space sent before, a
//!   retransmission; grey and crossed when the link lost it); SYN and FIN are tagged;
//! - the ACK line (green) steps up as the receiver's cumulative ACKs arrive back;
//! - the receive-window line (olive) is ACK + advertised window (scaled per RFC 7323 §2.2
//!   once both SYNs carried the option); a sender never sends above it;
//! - SACK blocks (purple, RFC 2018) are drawn as short bars at the time of the ACK that
//!   carried them.

use core::fmt::Write as _;
use core::net::SocketAddr;

use synack::Instant;

use crate::lab::Seg;

/// One direction of a connection: the data flows from `src` to `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The data sender.
    pub src: SocketAddr,
    /// The data receiver.
    pub dst: SocketAddr,
}

impl Flow {
    /// The opposite direction.
    pub fn reverse(self) -> Flow {
        Flow {
            src: self.dst,
            dst: self.src,
        }
    }

    /// Picks the direction that sent the most sequence space (payload, SYN and FIN) among
    /// `segs`; `None` if there are no segments.
    pub fn busiest(segs: &[Seg]) -> Option<Flow> {
        let mut totals: Vec<(Flow, u64)> = Vec::new();
        for s in segs {
            let f = Flow {
                src: s.src,
                dst: s.dst,
            };
            let n = u64::from(s.seg_len());
            match totals.iter_mut().find(|(g, _)| *g == f) {
                Some((_, t)) => *t += n,
                None => totals.push((f, n)),
            }
        }
        // Ties go to the flow seen first (the one that opened the connection).
        let mut best: Option<(Flow, u64)> = None;
        for (f, t) in totals {
            if best.is_none_or(|(_, b)| t > b) {
                best = Some((f, t));
            }
        }
        best.map(|(f, _)| f)
    }
}

/// What kind of mark a data segment gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegKind {
    /// New sequence space.
    New,
    /// Covers sequence space sent before: a retransmission.
    Retransmission,
}

/// A data-direction segment on the graph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataMark {
    /// Seconds since time zero.
    pub t: f64,
    /// First relative sequence number.
    pub lo: i64,
    /// One past the last relative sequence number (equal to `lo` for a bare ACK).
    pub hi: i64,
    /// New or retransmitted.
    pub kind: SegKind,
    /// Carries SYN.
    pub syn: bool,
    /// Carries FIN.
    pub fin: bool,
    /// The link lost it.
    pub lost: bool,
}

/// One point of the ACK / window lines (from the receiver's segments).
#[derive(Clone, Debug, PartialEq)]
pub struct AckMark {
    /// Seconds since time zero.
    pub t: f64,
    /// Relative cumulative ACK.
    pub ack: i64,
    /// Relative right edge of the advertised window (ACK + scaled window).
    pub wnd_edge: i64,
    /// SACK blocks, relative.
    pub sack: Vec<(i64, i64)>,
}

/// A time-sequence graph of one direction of one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeqGraph {
    /// The direction drawn.
    pub flow: Flow,
    /// The sequence number drawn as 0 (the sender's ISN, or its first sequence number seen).
    pub base: u32,
    /// Data-direction segments that occupy sequence space (payload, SYN or FIN).
    pub data: Vec<DataMark>,
    /// The receiver's ACKs.
    pub acks: Vec<AckMark>,
    /// The sender's congestion window over time (from `TCP_INFO` samples), drawn in a
    /// panel under the graph when not empty.
    pub cwnd: Vec<CwndMark>,
    /// The sender's pacing rate over time, `(seconds, Mbit/s)`, drawn in the cwnd panel on
    /// its own (right) axis when not empty.
    pub pacing: Vec<(f64, f64)>,
}

/// One congestion-window sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CwndMark {
    /// Time, seconds.
    pub t: f64,
    /// Congestion window, segments.
    pub cwnd: u32,
    /// Slow-start threshold, segments (`None` while unset).
    pub ssthresh: Option<u32>,
}

fn secs(t: Instant) -> f64 {
    t.as_nanos() as f64 / 1e9
}

fn rel(seq: u32, base: u32) -> i64 {
    // Signed distance in sequence space (RFC 9293 §3.4: arithmetic modulo 2^32).
    i64::from(seq.wrapping_sub(base) as i32)
}

impl TimeSeqGraph {
    /// Builds the graph of `flow` from captured segments (any order of flows; segments of
    /// other connections are ignored). `None` if `flow` sent nothing.
    pub fn build(segs: &[Seg], flow: Flow) -> Option<TimeSeqGraph> {
        let fwd = |s: &&Seg| s.src == flow.src && s.dst == flow.dst;
        let rev = |s: &&Seg| s.src == flow.dst && s.dst == flow.src;
        let first = segs.iter().find(fwd)?;
        let base = segs
            .iter()
            .filter(fwd)
            .find(|s| s.flags.syn())
            .map_or(first.seq, |s| s.seq);
        // RFC 7323 §2.2: windows are scaled only when both SYNs carried the option, and
        // never in a SYN itself. The receiver's shift is in its own SYN.
        let fwd_ws = segs
            .iter()
            .filter(fwd)
            .find(|s| s.flags.syn())
            .and_then(|s| s.wscale);
        let rev_ws = segs
            .iter()
            .filter(rev)
            .find(|s| s.flags.syn())
            .and_then(|s| s.wscale);
        let shift = match (fwd_ws, rev_ws) {
            (Some(_), Some(r)) => u32::from(r.min(14)),
            _ => 0,
        };
        let mut data = Vec::new();
        let mut acks = Vec::new();
        let mut highest: Option<i64> = None;
        for s in segs {
            if fwd(&s) {
                if s.seg_len() == 0 || s.flags.rst() {
                    continue;
                }
                let lo = rel(s.seq, base);
                let hi = lo + i64::from(s.seg_len());
                let kind = match highest {
                    Some(h) if lo < h => SegKind::Retransmission,
                    _ => SegKind::New,
                };
                highest = Some(highest.map_or(hi, |h| h.max(hi)));
                data.push(DataMark {
                    t: secs(s.time),
                    lo,
                    hi,
                    kind,
                    syn: s.flags.syn(),
                    fin: s.flags.fin(),
                    lost: s.dropped.is_some(),
                });
            } else if rev(&s) && s.flags.ack() && !s.flags.rst() && s.dropped.is_none() {
                let ack = rel(s.ack, base);
                let scale = if s.flags.syn() { 0 } else { shift };
                let wnd = i64::from(s.win) << scale;
                acks.push(AckMark {
                    t: secs(s.time),
                    ack,
                    wnd_edge: ack + wnd,
                    sack: s
                        .sack
                        .iter()
                        .map(|&(l, r)| (rel(l, base), rel(r, base)))
                        .collect(),
                });
            }
        }
        Some(TimeSeqGraph {
            flow,
            base,
            data,
            acks,
            cwnd: Vec::new(),
            pacing: Vec::new(),
        })
    }

    /// Adds pacing-rate samples `(time, bytes per second)`, drawn in the cwnd panel.
    pub fn with_pacing(mut self, samples: &[(Instant, f64)]) -> TimeSeqGraph {
        self.pacing = samples
            .iter()
            .map(|&(t, rate)| (secs(t), rate * 8.0 / 1e6))
            .collect();
        self
    }

    /// Adds congestion-window samples `(time, cwnd, ssthresh)` in segments, drawn as a
    /// panel under the time-sequence graph with the same time axis.
    pub fn with_cwnd(mut self, samples: &[(Instant, u32, Option<u32>)]) -> TimeSeqGraph {
        self.cwnd = samples
            .iter()
            .map(|&(t, cwnd, ssthresh)| CwndMark {
                t: secs(t),
                cwnd,
                ssthresh,
            })
            .collect();
        self
    }

    /// Number of retransmitted segments.
    pub fn retransmissions(&self) -> usize {
        self.data
            .iter()
            .filter(|d| d.kind == SegKind::Retransmission)
            .count()
    }

    /// Renders the graph as a standalone SVG document.
    pub fn to_svg(&self, title: &str) -> String {
        const W: f64 = 960.0;
        const H: f64 = 600.0;
        const L: f64 = 90.0; // left margin (sequence labels)
        const R: f64 = 20.0;
        const T: f64 = 50.0;
        const B: f64 = 70.0;

        let mut t_min = f64::INFINITY;
        let mut t_max = f64::NEG_INFINITY;
        let mut s_min = i64::MAX;
        let mut s_max = i64::MIN;
        for d in &self.data {
            t_min = t_min.min(d.t);
            t_max = t_max.max(d.t);
            s_min = s_min.min(d.lo);
            s_max = s_max.max(d.hi);
        }
        let mut wnd_max = i64::MIN;
        for a in &self.acks {
            t_min = t_min.min(a.t);
            t_max = t_max.max(a.t);
            s_min = s_min.min(a.ack);
            s_max = s_max.max(a.ack);
            wnd_max = wnd_max.max(a.wnd_edge);
            for &(l, r) in &a.sack {
                s_min = s_min.min(l);
                s_max = s_max.max(r);
            }
        }
        // The window line may lie far above the data (a 128 KiB window over a few bytes):
        // show at most half the data's height above it, and clip the line there.
        if wnd_max > s_max && s_min <= s_max {
            let room = ((s_max - s_min) / 2).max(1);
            s_max = wnd_max.min(s_max.saturating_add(room));
        }
        if !t_min.is_finite() {
            t_min = 0.0;
            t_max = 1.0;
        }
        if s_min > s_max {
            s_min = 0;
            s_max = 1;
        }
        let t_span = (t_max - t_min).max(1e-6);
        let t_lo = (t_min - t_span * 0.02).max(0.0);
        let t_hi = t_max + t_span * 0.02;
        let s_span = ((s_max - s_min) as f64).max(1.0);
        let s_lo = s_min as f64 - s_span * 0.03;
        let s_hi = s_max as f64 + s_span * 0.03;
        let x = |t: f64| L + (t - t_lo) / (t_hi - t_lo) * (W - L - R);
        let y = |s: f64| H - B - (s - s_lo) / (s_hi - s_lo) * (H - T - B);
        // The cwnd panel, when there are samples, goes under the legend.
        let panel = if self.cwnd.is_empty() { 0.0 } else { 240.0 };
        let h_all = H + panel;

        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h_all}" viewBox="0 0 {W} {h_all}" font-family="monospace" font-size="11">"#
        );
        let _ = writeln!(o, r#"<rect width="{W}" height="{h_all}" fill="white"/>"#);
        let _ = writeln!(
            o,
            r#"<text x="{}" y="20" font-size="14" text-anchor="middle">{}</text>"#,
            W / 2.0,
            escape(title)
        );
        let _ = writeln!(
            o,
            r#"<text x="{}" y="36" text-anchor="middle">{} &#8594; {} (relative sequence numbers; ISN {})</text>"#,
            W / 2.0,
            self.flow.src,
            self.flow.dst,
            self.base
        );
        // Axes and ticks.
        let _ = writeln!(
            o,
            r##"<path d="M{L} {T} V{} H{}" stroke="#444" fill="none"/>"##,
            H - B,
            W - R
        );
        for v in ticks(t_lo, t_hi) {
            let px = x(v);
            let _ = writeln!(
                o,
                r##"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{T}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
                H - B,
                H - B + 15.0,
                fmt_num(v)
            );
        }
        for v in ticks(s_lo, s_hi) {
            let py = y(v);
            let _ = writeln!(
                o,
                r##"<line x1="{L}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - R,
                L - 5.0,
                py + 4.0,
                fmt_num(v)
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">time (s)</text>"#,
            (L + W - R) / 2.0,
            H - B + 35.0
        );
        let _ = writeln!(
            o,
            r#"<text x="15" y="{}" transform="rotate(-90 15 {})" text-anchor="middle">sequence number</text>"#,
            (T + H - B) / 2.0,
            (T + H - B) / 2.0
        );

        // Receive-window and ACK lines: steps through the receiver's ACKs.
        for (pick, color, name) in [(1usize, "#9a9a00", "window"), (0usize, "#0a0", "ack")] {
            if self.acks.is_empty() {
                continue;
            }
            let mut d = String::new();
            let mut prev: Option<f64> = None;
            for a in &self.acks {
                let v = if pick == 0 { a.ack } else { a.wnd_edge } as f64;
                let v = v.min(s_hi);
                match prev {
                    None => {
                        let _ = write!(d, "M{:.1} {:.1}", x(a.t), y(v));
                    }
                    Some(_) => {
                        let _ = write!(d, " H{:.1} V{:.1}", x(a.t), y(v));
                    }
                }
                prev = Some(v);
            }
            let _ = write!(d, " H{:.1}", x(t_hi));
            let _ = writeln!(
                o,
                r#"<path class="{name}" d="{d}" stroke="{color}" stroke-width="1.2" fill="none"/>"#
            );
        }
        // SACK blocks.
        for a in &self.acks {
            for &(l, r) in &a.sack {
                let px = x(a.t) + 2.0;
                let _ = writeln!(
                    o,
                    r##"<line class="sack" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#a0a" stroke-width="2"/>"##,
                    y(l as f64),
                    y(r as f64)
                );
            }
        }
        // Data segments: I-bars.
        for d in &self.data {
            let (color, class) = match (d.lost, d.kind) {
                (true, _) => ("#999", "lost"),
                (false, SegKind::Retransmission) => ("#d00", "retransmission"),
                (false, SegKind::New) => ("#000", "segment"),
            };
            let px = x(d.t);
            let (y0, y1) = (y(d.lo as f64), y(d.hi as f64));
            let _ = writeln!(
                o,
                r#"<path class="{class}" d="M{:.1} {y0:.1} H{:.1} M{px:.1} {y0:.1} V{y1:.1} M{:.1} {y1:.1} H{:.1}" stroke="{color}" stroke-width="{}" fill="none"/>"#,
                px - 2.0,
                px + 2.0,
                px - 2.0,
                px + 2.0,
                if d.kind == SegKind::Retransmission {
                    2.5
                } else {
                    1.2
                }
            );
            if d.kind == SegKind::Retransmission && !d.lost {
                // A ring makes a retransmission stand out among the new segments.
                let _ = writeln!(
                    o,
                    r##"<circle cx="{px:.1}" cy="{:.1}" r="5" stroke="#d00" stroke-width="1.5" fill="none"/>"##,
                    (y0 + y1) / 2.0
                );
            }
            if d.lost {
                let ym = (y0 + y1) / 2.0;
                let _ = writeln!(
                    o,
                    r##"<path d="M{:.1} {:.1} l6 6 m0 -6 l-6 6" stroke="#999"/>"##,
                    px - 3.0,
                    ym - 3.0
                );
            }
            for (on, tag) in [(d.syn, "SYN"), (d.fin, "FIN")] {
                if on {
                    let _ = writeln!(
                        o,
                        r#"<text x="{:.1}" y="{:.1}" fill="{color}">{tag}</text>"#,
                        px + 4.0,
                        y1 - 2.0
                    );
                }
            }
        }
        // Legend.
        let items = [
            ("#000", "segment"),
            ("#d00", "retransmission"),
            ("#999", "lost on the link"),
            ("#0a0", "ACK"),
            ("#9a9a00", "receive window"),
            ("#a0a", "SACK"),
        ];
        for (i, (color, name)) in items.iter().enumerate() {
            let lx = L + 10.0 + i as f64 * 135.0;
            let ly = H - 12.0;
            let _ = writeln!(
                o,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{name}</text>"#,
                lx + 18.0,
                lx + 22.0,
                ly + 4.0
            );
        }
        if !self.cwnd.is_empty() {
            self.cwnd_panel(&mut o, H + 10.0, panel - 50.0, &x, t_hi);
        }
        o.push_str("</svg>\n");
        o
    }

    /// Draws the cwnd (and ssthresh) step lines in a panel `height` high from `top`, on
    /// the graph's time axis `x`.
    fn cwnd_panel(&self, o: &mut String, top: f64, height: f64, x: &dyn Fn(f64) -> f64, t_hi: f64) {
        const L: f64 = 90.0;
        const R: f64 = 20.0;
        const W: f64 = 960.0;
        let max = self
            .cwnd
            .iter()
            .map(|c| c.cwnd.max(c.ssthresh.unwrap_or(0)))
            .max()
            .unwrap_or(1)
            .max(1);
        let v_hi = f64::from(max) * 1.05;
        let bottom = top + height;
        let y = |v: f64| bottom - v / v_hi * height;
        let _ = writeln!(
            o,
            r##"<path d="M{L} {top} V{bottom} H{}" stroke="#444" fill="none"/>"##,
            W - R
        );
        for v in ticks(0.0, v_hi) {
            let py = y(v);
            let _ = writeln!(
                o,
                r##"<line x1="{L}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - R,
                L - 5.0,
                py + 4.0,
                fmt_num(v)
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="15" y="{0:.1}" transform="rotate(-90 15 {0:.1})" text-anchor="middle">cwnd (segments)</text>"#,
            top + height / 2.0
        );
        for (class, color, dash, pick) in [
            ("ssthresh", "#e80", r#" stroke-dasharray="6 3""#, true),
            ("cwnd", "#06c", "", false),
        ] {
            let mut d = String::new();
            let mut on = false;
            for c in &self.cwnd {
                let v = if pick { c.ssthresh } else { Some(c.cwnd) };
                match (v, on) {
                    (Some(v), false) => {
                        let _ = write!(d, "M{:.1} {:.1}", x(c.t), y(f64::from(v)));
                        on = true;
                    }
                    (Some(v), true) => {
                        let _ = write!(d, " H{:.1} V{:.1}", x(c.t), y(f64::from(v)));
                    }
                    (None, _) => on = false,
                }
            }
            if on {
                let _ = write!(d, " H{:.1}", x(t_hi));
            }
            if !d.is_empty() {
                let _ = writeln!(
                    o,
                    r#"<path class="{class}" d="{d}" stroke="{color}" stroke-width="1.5"{dash} fill="none"/>"#
                );
            }
        }
        if !self.pacing.is_empty() {
            // The pacing rate on its own scale, labelled on the right.
            let r_hi = self
                .pacing
                .iter()
                .map(|p| p.1)
                .fold(0.0f64, f64::max)
                .max(1e-3)
                * 1.05;
            let yr = |v: f64| bottom - v / r_hi * height;
            let mut d = String::new();
            for (i, &(t, v)) in self.pacing.iter().enumerate() {
                if i == 0 {
                    let _ = write!(d, "M{:.1} {:.1}", x(t), yr(v));
                } else {
                    let _ = write!(d, " H{:.1} V{:.1}", x(t), yr(v));
                }
            }
            let _ = write!(d, " H{:.1}", x(t_hi));
            let _ = writeln!(
                o,
                r##"<path class="pacing" d="{d}" stroke="#2a2" stroke-width="1.2" fill="none"/>"##
            );
            for v in ticks(0.0, r_hi) {
                let _ = writeln!(
                    o,
                    r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#2a2">{}</text>"##,
                    W - R - 2.0,
                    yr(v) - 2.0,
                    fmt_num(v)
                );
            }
        }
        let legend: &[(&str, &str)] = if self.pacing.is_empty() {
            &[("#06c", "cwnd"), ("#e80", "ssthresh")]
        } else {
            &[
                ("#06c", "cwnd"),
                ("#e80", "ssthresh"),
                ("#2a2", "pacing rate (Mbit/s, right)"),
            ]
        };
        for (i, (color, name)) in legend.iter().enumerate() {
            let lx = L + 10.0 + i as f64 * 135.0;
            let ly = bottom + 30.0;
            let _ = writeln!(
                o,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{name}</text>"#,
                lx + 18.0,
                lx + 22.0,
                ly + 4.0
            );
        }
    }
}

/// Round tick positions (1, 2 or 5 times a power of ten) covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let raw = span / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 8.0)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi && out.len() < 20 {
        out.push(v);
        v += step;
    }
    out
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v.fract().abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostId;
    use synack_wire::TcpFlags;

    fn seg(t_ms: u64, src: &str, dst: &str, seq: u32, ack: u32, flags: TcpFlags, len: u32) -> Seg {
        Seg {
            time: Instant::from_millis(t_ms),
            from: HostId(0),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack,
            flags,
            win: 1000,
            urg_ptr: 0,
            len,
            mss: None,
            wscale: None,
            sack: Vec::new(),
            payload: Vec::new(),
            dropped: None,
            ecn: 0,
            sack_ok: false,
        }
    }

    #[test]
    fn marks_retransmissions_acks_and_sack() {
        let (c, s) = ("10.0.0.1:1000", "10.0.0.2:80");
        let a = TcpFlags::ACK;
        let mut segs = vec![
            seg(0, c, s, 100, 0, TcpFlags::SYN, 0),
            seg(10, s, c, 500, 101, TcpFlags::SYN | a, 0),
            seg(20, c, s, 101, 501, a, 100),
            seg(20, c, s, 201, 501, a, 100),
            seg(20, c, s, 301, 501, a, 100),
        ];
        segs[3].dropped = Some(crate::DropReason::Loss);
        let mut sack = seg(30, s, c, 501, 201, a, 0);
        sack.sack = vec![(301, 401)];
        segs.push(sack);
        segs.push(seg(40, c, s, 201, 501, a, 100));
        segs.push(seg(50, s, c, 501, 401, a, 0));
        assert_eq!(Flow::busiest(&segs).unwrap().src, c.parse().unwrap());
        let g = TimeSeqGraph::build(&segs, Flow::busiest(&segs).unwrap()).unwrap();
        assert_eq!(g.base, 100);
        assert_eq!(g.data.len(), 5);
        assert!(g.data[0].syn);
        assert!(g.data[2].lost);
        assert_eq!(g.retransmissions(), 1);
        assert_eq!((g.data[4].lo, g.data[4].hi), (101, 201));
        assert_eq!(g.acks.len(), 3);
        assert_eq!(g.acks[1].sack, vec![(201, 301)]);
        assert_eq!(g.acks[2].wnd_edge, 301 + 1000);
        let svg = g.to_svg("a <test>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;test&gt;"));
        assert_eq!(svg.matches(r#"class="retransmission""#).count(), 1);
        assert_eq!(svg.matches(r#"class="sack""#).count(), 1);
        assert_eq!(svg.matches(r#"class="lost""#).count(), 1);
        assert!(svg.contains(r#"class="ack""#) && svg.contains(r#"class="window""#));
    }

    #[test]
    fn window_scale_applies_after_both_syns() {
        let (c, s) = ("10.0.0.1:1000", "10.0.0.2:80");
        let mut syn = seg(0, c, s, 0, 0, TcpFlags::SYN, 0);
        syn.wscale = Some(7);
        let mut synack = seg(1, s, c, 0, 1, TcpFlags::SYN | TcpFlags::ACK, 0);
        synack.wscale = Some(2);
        let data = seg(2, c, s, 1, 1, TcpFlags::ACK, 10);
        let ack = seg(3, s, c, 1, 11, TcpFlags::ACK, 0);
        let g = TimeSeqGraph::build(
            &[syn.clone(), synack.clone(), data.clone(), ack.clone()],
            Flow {
                src: c.parse().unwrap(),
                dst: s.parse().unwrap(),
            },
        )
        .unwrap();
        // The SYN-ACK's own window is never scaled; the later ACK's is (<< 2).
        assert_eq!(g.acks[0].wnd_edge, 1 + 1000);
        assert_eq!(g.acks[1].wnd_edge, 11 + 4000);
        // Without the option in our SYN, nothing is scaled.
        syn.wscale = None;
        let g = TimeSeqGraph::build(
            &[syn, synack, data, ack],
            Flow {
                src: c.parse().unwrap(),
                dst: s.parse().unwrap(),
            },
        )
        .unwrap();
        assert_eq!(g.acks[1].wnd_edge, 11 + 1000);
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert!(ticks(1.0, 1.0).is_empty());
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(2_500_000.0), "2.50M");
    }
}
