//! Goodput of the engine's congestion control over a simulated path: 100 Mbit/s, 50 ms RTT,
//! a BDP-sized drop-tail queue, random loss on the data direction; one row per algorithm and
//! loss rate, with the Mathis et al. bound for Reno (MSS/RTT · 1.22/√p).
//!
//! `cargo run -p synack-sim --example goodput [MBYTES]` (default 20 MB per transfer; the
//! issue's 100 MB, `... --example goodput 100`, takes about 10 s in a debug build). With ECN
//! the queue marks CE above 83 packets (a fifth of the BDP); with loss, the loss is random
//! and independent on the data direction only.
//!
//! Two bare engines talk through the simulator without the host stack (so each connection's
//! algorithm can be chosen directly): a segment travels as a 20-byte IPv4 header (protocol
//! 253, ECN bits from `SegmentOut::ect`) and a compact 26-byte TCP encoding plus SACK
//! blocks — within a few bytes of the 52-byte TCP/IP header with timestamps.

use synack::{
    Config, Connection, Duration, FourTuple, Instant, SackBlocks, SegOptions, SegmentIn, Seq,
    TcpFlags, Timestamps,
};
use synack_sim::{ChannelConfig, EcnMarking, Host, IfaceId, LinkConfig, NotEctPolicy, Sim};

const HDR: usize = 20 + 26;

fn encode(seg: &synack::SegmentOut, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let total = HDR + 8 * seg.options.sack_blocks.as_slice().len() + payload.len();
    // IPv4 header: version/IHL, ECN in the TOS byte (ECT(0) = 0b10), total length.
    out.extend_from_slice(&[0x45, if seg.ect { 0b10 } else { 0 }]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    out.extend_from_slice(&seg.seq.get().to_be_bytes());
    out.extend_from_slice(&seg.ack.get().to_be_bytes());
    out.extend_from_slice(&seg.flags.bits().to_be_bytes());
    out.extend_from_slice(&seg.wnd.to_be_bytes());
    let ts = seg
        .options
        .timestamps
        .unwrap_or(Timestamps { tsval: 0, tsecr: 0 });
    out.extend_from_slice(&ts.tsval.to_be_bytes());
    out.extend_from_slice(&ts.tsecr.to_be_bytes());
    let blocks = seg.options.sack_blocks.as_slice();
    out.push(blocks.len() as u8);
    let o = &seg.options;
    let bits = u8::from(o.timestamps.is_some())
        | u8::from(o.sack_permitted) << 1
        | u8::from(o.mss.is_some()) << 2
        | u8::from(o.wscale.is_some()) << 3;
    out.push(bits);
    out.extend_from_slice(&o.mss.unwrap_or(0).to_be_bytes());
    out.push(o.wscale.unwrap_or(0));
    out.push(0);
    for &(l, r) in blocks {
        out.extend_from_slice(&l.get().to_be_bytes());
        out.extend_from_slice(&r.get().to_be_bytes());
    }
    out.extend_from_slice(payload);
}

fn u32_at(p: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]])
}

fn u16_at(p: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([p[i], p[i + 1]])
}

/// Decodes a packet from `encode`; returns the segment and whether CE was marked.
fn decode(p: &[u8]) -> Option<(SegmentIn<'_>, bool)> {
    if p.len() < HDR {
        return None;
    }
    let ce = p[1] & 0b11 == 0b11;
    let t = 20;
    let n = usize::from(p[t + 20]);
    let bits = p[t + 21];
    let start = HDR + 8 * n;
    if p.len() < start || n > 4 {
        return None;
    }
    let mut s = SegmentIn::new(
        Seq(u32_at(p, t)),
        Seq(u32_at(p, t + 4)),
        TcpFlags::from_bits(u16_at(p, t + 8)),
        u16_at(p, t + 10),
    );
    let mut sack = SackBlocks::default();
    for i in 0..n {
        let b = HDR + 8 * i;
        sack.push(Seq(u32_at(p, b)), Seq(u32_at(p, b + 4)));
    }
    s.options = SegOptions {
        mss: (bits & 4 != 0).then(|| u16_at(p, t + 22)),
        wscale: (bits & 8 != 0).then_some(p[t + 24]),
        sack_permitted: bits & 2 != 0,
        timestamps: (bits & 1 != 0).then(|| Timestamps {
            tsval: u32_at(p, t + 12),
            tsecr: u32_at(p, t + 16),
        }),
        sack_blocks: sack,
    };
    s.payload = &p[start..];
    Some((s, ce))
}

/// One end: a sender writing `total` bytes, or a receiver reading everything.
struct End {
    conn: Connection,
    total: u64,
    written: u64,
    done_at: Option<Instant>,
    buf: Vec<u8>,
    pkt: Vec<u8>,
}

impl Host for End {
    fn receive(&mut self, now: Instant, _iface: IfaceId, packet: &[u8]) {
        if let Some((seg, ce)) = decode(packet) {
            self.conn.on_segment_ecn(now, &seg, ce);
        }
        while let Ok(n) = self.conn.recv(&mut self.buf) {
            if n == 0 {
                break;
            }
        }
        if self.total > 0 && self.done_at.is_none() && self.conn.info().bytes_acked >= self.total {
            self.done_at = Some(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(IfaceId, &[u8])) {
        while self.written < self.total {
            let n = ((self.total - self.written) as usize).min(self.buf.len());
            match self.conn.send(now, &self.buf[..n]) {
                Ok(k) if k > 0 => self.written += k as u64,
                _ => break,
            }
        }
        let mut payload = [0u8; 1500];
        while let Some(seg) = self.conn.poll_transmit(now, &mut payload) {
            let mut pkt = std::mem::take(&mut self.pkt);
            encode(&seg, &payload[..seg.payload_len], &mut pkt);
            emit(IfaceId(0), &pkt);
            self.pkt = pkt;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.conn.on_timeout(now);
    }

    fn restart(&mut self, _now: Instant) {}
}

struct Row {
    goodput_mbps: f64,
    retrans_segs: u64,
    timeouts: u64,
    secs: f64,
}

fn run(cc: &'static str, loss: f64, ecn: bool, bytes: u64, seed: u64) -> Option<Row> {
    let cfg = Config {
        congestion_control: cc,
        send_buffer: 8 << 20,
        recv_buffer: 4 << 20,
        ecn: if ecn { 1 } else { 2 },
        ..Config::default()
    };
    let client = FourTuple::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:5001".parse().unwrap(),
    );
    let server = FourTuple::new(client.remote, client.local);
    let t0 = Instant::ZERO;
    let a = End {
        conn: Connection::connect_with_iss(t0, cfg.clone(), client, Seq(1), 0),
        total: bytes,
        written: 0,
        done_at: None,
        buf: vec![0x5a; 1 << 16],
        pkt: Vec::new(),
    };
    let b = End {
        conn: Connection::listen_with_iss(t0, cfg, server, Seq(1 << 30), 0),
        total: 0,
        written: 0,
        done_at: None,
        buf: vec![0; 1 << 16],
        pkt: Vec::new(),
    };
    let mut sim: Sim<End> = Sim::new(seed);
    let ha = sim.add_host("sender", a);
    let hb = sim.add_host("receiver", b);
    // 100 Mbit/s, 25 ms each way, a drop-tail queue of one BDP (625 kB ≈ 416 packets).
    let mut fwd = ChannelConfig::with_delay(Duration::from_millis(25));
    fwd.bandwidth_bps = Some(100_000_000);
    fwd.queue_packets = Some(416);
    fwd.loss = loss;
    if ecn {
        // CE-mark ECT packets above a fifth of the queue, as a simple AQM would.
        fwd.ecn = Some(EcnMarking {
            threshold_packets: 83,
            not_ect: NotEctPolicy::Enqueue,
        });
    }
    let mut back = ChannelConfig::with_delay(Duration::from_millis(25));
    back.bandwidth_bps = Some(100_000_000);
    sim.add_link(
        ha,
        hb,
        LinkConfig {
            a_to_b: fwd,
            b_to_a: back,
        },
    );
    let limit = Instant::from_secs(3600);
    sim.run_until_pred(limit, |s| s.host(ha).done_at.is_some());
    let end = sim.host(ha);
    let done = end.done_at?;
    let secs = (done - t0).as_secs_f64();
    let st = end.conn.stats();
    Some(Row {
        goodput_mbps: bytes as f64 * 8.0 / secs / 1e6,
        retrans_segs: st.retransmits,
        timeouts: st.timeouts,
        secs,
    })
}

fn main() {
    let mbytes: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let bytes = mbytes * 1_000_000;
    println!("{mbytes} MB per transfer; 100 Mbit/s, 50 ms RTT, BDP drop-tail queue; seed 1\n");
    println!(
        "| CC | loss | ECN | goodput (Mbit/s) | time (s) | retransmitted segments | RTOs | Mathis bound for Reno (Mbit/s) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let cases: [(f64, bool); 5] = [
        (0.0, false),
        (0.0, true),
        (0.001, false),
        (0.01, false),
        (0.05, false),
    ];
    for &(loss, ecn) in &cases {
        for cc in ["reno", "cubic"] {
            let mathis = if loss > 0.0 {
                // MSS/RTT · C/√p with C = √(3/2) ≈ 1.22, MSS 1448 bytes, RTT 50 ms.
                format!("{:.1}", 1448.0 * 8.0 / 0.05 * 1.22 / loss.sqrt() / 1e6)
            } else {
                "—".to_string()
            };
            match run(cc, loss, ecn, bytes, 1) {
                Some(r) => println!(
                    "| {cc} | {:.1}% | {} | {:.1} | {:.2} | {} | {} | {mathis} |",
                    loss * 100.0,
                    if ecn { "yes" } else { "no" },
                    r.goodput_mbps,
                    r.secs,
                    r.retrans_segs,
                    r.timeouts
                ),
                None => println!(
                    "| {cc} | {:.1}% | did not finish within an hour |",
                    loss * 100.0
                ),
            }
        }
    }
}
