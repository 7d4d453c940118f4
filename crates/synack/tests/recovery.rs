//! Loss recovery and congestion control, conversation style: SACK-based recovery (RFC 6675)
//! with PRR (RFC 6937), tail loss probes (RFC 8985), D-SACK (RFC 2883), limited transmit
//! (RFC 3042) and ECN (RFC 3168).

mod common;
use common::data_offsets as offsets;
use common::{A, CLIENT_ISS, F, S, SERVER_ISS, data, drain, one, plain, sack_ack, seg};
use synack::{Config, Connection, Instant, SegOptions, SegmentIn, Seq, TcpFlags};

const MSS: u32 = 1000;
/// The client's first data byte.
const BASE: u32 = common::DATA_BASE;

use common::ms;

/// A SACK-permitted client (no timestamps, MSS 1000) whose handshake measured 100 ms.
fn sack_client(cfg: Config) -> Connection {
    common::established_at_100ms(Config { sack: true, ..cfg }, 65535)
}

#[test]
fn rfc6675_sack_holes_resent_in_order_and_nothing_sacked_resent() {
    let mut c = sack_client(plain());
    let t = ms(100);
    c.send(t, &[7u8; 10_000]).unwrap();
    let first = drain(&mut c, t);
    assert_eq!(
        offsets(&first),
        (0..10).map(|i| i * MSS).collect::<Vec<_>>()
    );
    // Segments at 1000 and 4000 are lost; the rest arrive and are SACKed.
    c.on_segment(ms(200), &sack_ack(1000, &[]));
    assert!(drain(&mut c, ms(200)).is_empty());
    let cwnd = c.info().cwnd;
    c.on_segment(ms(201), &sack_ack(1000, &[(2000, 3000)]));
    c.on_segment(ms(202), &sack_ack(1000, &[(2000, 4000)]));
    // Two SACKed segments above the hole: not yet lost (RFC 6675 IsLost needs more than
    // (DupThresh − 1)·SMSS bytes), and no new data exists for limited transmit.
    assert!(drain(&mut c, ms(202)).is_empty());
    assert!(!c.info().in_recovery);
    // The third SACKed segment: the first hole is lost; it alone goes (4000 is not lost:
    // only one segment is SACKed above it).
    c.on_segment(ms(203), &sack_ack(1000, &[(5000, 6000), (2000, 4000)]));
    let rtx = drain(&mut c, ms(203));
    assert_eq!(offsets(&rtx), [1000]);
    assert_eq!(rtx[0].data.len(), MSS as usize);
    let info = c.info();
    assert!(info.in_recovery);
    // CUBIC's multiplicative decrease: ssthresh = 0.7·cwnd (RFC 9438 §4.6).
    assert_eq!(info.ssthresh, cwnd * 7 / 10);
    assert_eq!(info.sacked, 3000);
    // More SACKs: now 4000 is lost too, and goes next — not the SACKed 2000..4000.
    c.on_segment(ms(204), &sack_ack(1000, &[(5000, 7000), (2000, 4000)]));
    c.on_segment(ms(205), &sack_ack(1000, &[(5000, 8000), (2000, 4000)]));
    let rtx2 = drain(&mut c, ms(205));
    assert_eq!(offsets(&rtx2), [4000]);
    c.on_segment(ms(206), &sack_ack(1000, &[(5000, 10000), (2000, 4000)]));
    assert!(offsets(&drain(&mut c, ms(206))).is_empty());
    // The retransmissions arrive: a partial ACK, then the full ACK ends recovery with
    // cwnd = ssthresh (RFC 6937).
    c.on_segment(ms(300), &sack_ack(4000, &[(5000, 10000)]));
    c.on_segment(ms(301), &sack_ack(10000, &[]));
    let info = c.info();
    assert!(!info.in_recovery);
    assert_eq!(
        (info.cwnd, info.unacked, info.sacked),
        (info.ssthresh, 0, 0)
    );
    assert_eq!(c.stats().retransmits, 2);
    assert_eq!(c.stats().timeouts, 0);
}

#[test]
fn rfc3042_limited_transmit_on_the_first_two_duplicate_acks() {
    let mut c = sack_client(plain());
    let t = ms(100);
    c.send(t, &[1u8; 14_000]).unwrap();
    assert_eq!(drain(&mut c, t).len(), 10);
    // Segment 0 is lost: each of the first two duplicate ACKs lets one new segment go.
    c.on_segment(ms(200), &sack_ack(0, &[(1000, 2000)]));
    assert_eq!(offsets(&drain(&mut c, ms(200))), [10_000]);
    c.on_segment(ms(201), &sack_ack(0, &[(1000, 3000)]));
    assert_eq!(offsets(&drain(&mut c, ms(201))), [11_000]);
    // The third: recovery, the hole first.
    c.on_segment(ms(202), &sack_ack(0, &[(1000, 4000)]));
    let out = drain(&mut c, ms(202));
    assert_eq!(offsets(&out)[0], 0);
    assert_eq!(c.stats().fast_retransmits, 1);
}

#[test]
fn rfc8985_tail_loss_recovered_by_a_probe_not_a_timeout() {
    let mut c = sack_client(plain());
    let t = ms(100);
    c.send(t, &[3u8; 10_000]).unwrap();
    assert_eq!(drain(&mut c, t).len(), 10);
    // The last two segments are lost; the rest is acknowledged one round trip later.
    c.on_segment(ms(200), &sack_ack(8000, &[]));
    assert!(drain(&mut c, ms(200)).is_empty());
    let info = c.info();
    let (kind, pto) = c.timer().unwrap();
    assert_eq!(kind, synack::TimerKind::Retransmit);
    // PTO = 2·SRTT (RFC 8985 §7.2), sooner than the RTO.
    assert_eq!(pto, ms(200) + info.rtt * 2);
    assert!(pto < ms(200) + info.rto);
    c.on_timeout(pto);
    // No new data: the probe is the last segment again.
    let probe = drain(&mut c, pto);
    assert_eq!(offsets(&probe), [9000]);
    assert_eq!(c.stats().loss_probes, 1);
    assert_eq!(
        c.info().cwnd,
        info.cwnd,
        "a probe does not touch the window"
    );
    // Its SACK shows the segment before it missing: RACK marks it lost (it was sent long
    // before the probe) and it is retransmitted at once.
    let t2 = pto + synack::Duration::from_millis(100);
    c.on_segment(t2, &sack_ack(8000, &[(9000, 10000)]));
    let rtx = drain(&mut c, t2);
    assert_eq!(offsets(&rtx), [8000]);
    c.on_segment(
        t2 + synack::Duration::from_millis(100),
        &sack_ack(10000, &[]),
    );
    assert_eq!(c.info().unacked, 0);
    assert_eq!(c.stats().timeouts, 0, "no retransmission timeout");
}

#[test]
fn rfc8985_probe_resends_the_short_last_segment_as_sent() {
    let mut c = sack_client(plain());
    let t = ms(100);
    // Two segments: 1000 bytes and a 500-byte tail.
    c.send(t, &[5u8; 1500]).unwrap();
    let sent = drain(&mut c, t);
    assert_eq!(offsets(&sent), [0, 1000]);
    let (_, pto) = c.timer().unwrap();
    c.on_timeout(pto);
    // RFC 8985 §7.3 (and Linux's `tcp_send_loss_probe()`): the highest segment sent, not
    // the last MSS worth of bytes.
    let probe = drain(&mut c, pto);
    assert_eq!(offsets(&probe), [1000]);
    assert_eq!(probe[0].data.len(), 500);
}

#[test]
fn rfc2883_duplicate_segment_reported_with_dsack() {
    let mut c = sack_client(plain());
    let t = ms(100);
    c.on_segment(t, &data(SERVER_ISS + 1, BASE, A, b"hello"));
    let ack = one(&mut c, t);
    assert_eq!(ack.ack(), SERVER_ISS + 6);
    assert!(ack.seg.options.sack_blocks.is_empty());
    // The same segment again (a spurious retransmission): the ACK carries a D-SACK block
    // for it (RFC 2883 §4), below the cumulative ACK.
    c.on_segment(ms(150), &data(SERVER_ISS + 1, BASE, A, b"hello"));
    let dup = one(&mut c, ms(150));
    assert_eq!(
        dup.seg.options.sack_blocks.as_slice(),
        &[(Seq(SERVER_ISS + 1), Seq(SERVER_ISS + 6))]
    );
    assert_eq!(c.stats().dsacks_sent, 1);
    // Reported once only.
    c.on_segment(ms(160), &data(SERVER_ISS + 6, BASE, A | F, b""));
    // Linux delays the ACK of a FIN once data has flowed (CLOSE-WAIT is ping-pong mode).
    assert!(common::drain(&mut c, ms(160)).is_empty());
    let at = c.poll_timeout().unwrap();
    c.on_timeout(at);
    let fin_ack = one(&mut c, at);
    assert_eq!(fin_ack.ack(), SERVER_ISS + 7);
    assert!(fin_ack.seg.options.sack_blocks.is_empty());
}

#[test]
fn rfc3168_ecn_negotiation_echo_and_cwr() {
    // The client asks for ECN (tcp_ecn = 1): ECE|CWR on its SYN.
    let cfg = Config {
        ecn: 1,
        sack: true,
        ..plain()
    };
    let mut c = Connection::connect_with_iss(
        Instant::ZERO,
        cfg.clone(),
        common::client_tuple(),
        Seq(CLIENT_ISS),
        0,
    );
    let syn = one(&mut c, Instant::ZERO);
    assert_eq!(syn.flags(), S | TcpFlags::ECE | TcpFlags::CWR);
    assert!(!syn.seg.ect, "never ECT on a SYN");
    // A server with the default tcp_ecn = 2 accepts: ECE alone on its SYN-ACK.
    let mut s = Connection::listen_with_iss(
        Instant::ZERO,
        Config {
            sack: true,
            ..plain()
        },
        common::server_tuple(),
        Seq(SERVER_ISS),
        0,
    );
    s.on_segment(Instant::ZERO, &syn.as_in());
    let synack = one(&mut s, Instant::ZERO);
    assert_eq!(synack.flags(), S | A | TcpFlags::ECE);
    c.on_segment(ms(100), &synack.as_in());
    let ack = one(&mut c, ms(100));
    s.on_segment(ms(150), &ack.as_in());
    assert!(c.info().ecn && s.info().ecn);
    // Data is ECT(0); the pure ACK is not.
    c.send(ms(150), &[9u8; 3000]).unwrap();
    let out = drain(&mut c, ms(150));
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|o| o.seg.ect && !o.data.is_empty()));
    // The first arrives CE-marked: the receiver echoes ECE at once, and on every ACK
    // until CWR arrives (RFC 3168 §6.1.3).
    s.on_segment_ecn(ms(200), &out[0].as_in(), true);
    let echo = drain(&mut s, ms(200));
    assert!(!echo.is_empty());
    assert!(echo.iter().all(|o| o.flags().ece() && !o.seg.ect));
    s.on_segment(ms(201), &out[1].as_in());
    s.on_segment(ms(201), &out[2].as_in());
    let echo2 = drain(&mut s, ms(201));
    assert!(echo2.iter().all(|o| o.flags().ece()));
    // The sender halves its window once (Reno-like for ECN: cwnd = ssthresh) and marks the
    // next new data CWR.
    let before = c.info().cwnd;
    c.on_segment(ms(250), &echo[0].as_in());
    let info = c.info();
    assert!(info.cwnd < before);
    assert_eq!(info.cwnd, info.ssthresh);
    // Further echoes of the same congestion (CWR not yet sent) change nothing.
    for e in &echo2 {
        c.on_segment(ms(250), &e.as_in());
    }
    assert!(c.info().ssthresh == info.ssthresh);
    assert_eq!(c.stats().ecn_reductions, 1, "one reduction per window");
    c.send(ms(250), &[9u8; 100]).unwrap();
    let next = drain(&mut c, ms(250));
    assert!(next[0].flags().cwr() && next[0].seg.ect);
    // CWR ends the echo.
    s.on_segment(ms(300), &next[0].as_in());
    let after = drain(&mut s, ms(300));
    assert!(after.iter().all(|o| !o.flags().ece()));
}

#[test]
fn tcp_congestion_control_by_name() {
    let mut c = sack_client(plain());
    assert_eq!(c.info().congestion, "cubic");
    c.set_congestion_control_by_name("reno").unwrap();
    assert_eq!(c.info().congestion, "reno");
    assert_eq!(c.info().cwnd, 10 * MSS, "RFC 6928 initial window");
    assert!(c.set_congestion_control_by_name("nope").is_err());
    let cfg = Config {
        congestion_control: "reno",
        ..plain()
    };
    assert_eq!(sack_client(cfg).info().congestion, "reno");
}

#[test]
fn slow_start_after_idle_restarts_the_window() {
    let mut c = sack_client(Config {
        send_buffer: 1 << 20,
        ..plain()
    });
    c.set_nodelay(true);
    let mut now = ms(100);
    // Grow the window over two round trips (the peer's 64 KiB window bounds it).
    for _ in 0..2 {
        let n = c.info().cwnd as usize;
        c.send(now, &vec![0u8; n]).unwrap();
        let out = drain(&mut c, now);
        now += synack::Duration::from_millis(100);
        // One ACK per segment: slow start adds one MSS each (RFC 5681 §3.1).
        for o in &out {
            let end = o.seq() + o.data.len() as u32;
            c.on_segment(now, &seg(SERVER_ISS + 1, end, A, 65535));
        }
    }
    let grown = c.info().cwnd;
    assert_eq!(grown, 40 * MSS, "doubled each round trip");
    // Idle for several RTOs: the next send starts from a restarted window.
    now += synack::Duration::from_secs(5);
    c.send(now, &[0u8; 1000]).unwrap();
    drain(&mut c, now);
    assert_eq!(c.info().cwnd, 10 * MSS);
}

#[path = "link/mod.rs"]
mod link;

/// Bulk data both ways over a link that drops, duplicates and reorders, with SACK and
/// timestamps, for each algorithm: the stream stays byte-exact, SACK recovery and the
/// probes do the repairs, and timeouts stay rare.
#[test]
fn sack_recovery_over_a_lossy_link_byte_exact_per_algorithm() {
    let imp = link::Impair {
        delay: synack::Duration::from_millis(20),
        loss: 0.03,
        dup: 0.01,
        reorder: 0.05,
        jitter: synack::Duration::from_millis(2),
    };
    for cc in ["reno", "cubic"] {
        let (mut sack_rtx, mut fast, mut rto, mut probes) = (0, 0, 0, 0);
        for seed in 0..40 {
            let cfg = Config {
                congestion_control: cc,
                send_buffer: 256 << 10,
                ..Config::default()
            };
            let mut net = link::Net::connected(cfg.clone(), cfg, imp, imp, seed);
            link::transfer_both_ways(&mut net, 200_000, 8192, synack::Duration::from_secs(3600));
            for c in [&net.a, &net.b] {
                assert_eq!(c.info().congestion, cc);
                let st = c.stats();
                sack_rtx += st.sack_retransmits;
                fast += st.fast_retransmits;
                rto += st.timeouts;
                probes += st.loss_probes;
            }
        }
        assert!(
            fast > 0 && sack_rtx > 0 && probes > 0,
            "{cc}: fast {fast} sack {sack_rtx} probes {probes} rto {rto}"
        );
        // Most losses are repaired without waiting for the retransmission timer.
        assert!(
            rto < fast,
            "{cc}: fast {fast} sack {sack_rtx} probes {probes} rto {rto}"
        );
    }
}

/// A client with timestamps (TSval = milliseconds, offset 0) and SACK, MSS 1000 + 12.
fn ts_client() -> Connection {
    let mut c = common::client(
        Config {
            sack: true,
            timestamps: true,
            ..plain()
        },
        Instant::ZERO,
    );
    let mut synack = seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535);
    synack.options = SegOptions {
        mss: Some(MSS as u16 + 12),
        sack_permitted: true,
        timestamps: Some(synack::Timestamps {
            tsval: 5000,
            tsecr: 0,
        }),
        ..SegOptions::default()
    };
    c.on_segment(ms(100), &synack);
    drain(&mut c, ms(100));
    assert!(c.status().timestamps);
    c
}

#[test]
fn rfc3522_spurious_timeout_undone_by_the_echoed_timestamp() {
    let mut c = ts_client();
    let t = ms(100);
    c.send(t, &[5u8; 5000]).unwrap();
    let first = drain(&mut c, t);
    assert_eq!(first.len(), 5);
    let before = c.info();
    // The ACKs are late: first the tail loss probe (the last segment again) ...
    let (_, pto) = c.timer().unwrap();
    c.on_timeout(pto);
    assert_eq!(offsets(&drain(&mut c, pto)), [4000]);
    // ... then the RTO: the head goes again (cwnd 1 segment).
    let (_, rto) = c.timer().unwrap();
    c.on_timeout(rto);
    let rtx = drain(&mut c, rto);
    assert_eq!(offsets(&rtx), [0]);
    assert_eq!(c.info().cwnd, MSS);
    // Then the ACK for the original transmission arrives: it echoes the original TSval
    // (100 ms), older than the retransmission's — the timeout was spurious (RFC 3522):
    // the window comes back and nothing more is resent.
    let mut ack = sack_ack(5000, &[]);
    ack.options.timestamps = Some(synack::Timestamps {
        tsval: 5100,
        tsecr: first[0].seg.options.timestamps.unwrap().tsval,
    });
    c.on_segment(rto + synack::Duration::from_millis(5), &ack);
    assert!(drain(&mut c, rto + synack::Duration::from_millis(5)).is_empty());
    let after = c.info();
    assert_eq!(c.stats().spurious_undos, 1);
    assert_eq!(after.ssthresh, before.ssthresh);
    assert!(
        after.cwnd >= before.cwnd,
        "{} < {}",
        after.cwnd,
        before.cwnd
    );
}

#[test]
fn rfc3522_a_real_loss_is_not_undone() {
    let mut c = ts_client();
    let t = ms(100);
    c.send(t, &[5u8; 5000]).unwrap();
    drain(&mut c, t);
    let (_, pto) = c.timer().unwrap();
    c.on_timeout(pto);
    drain(&mut c, pto);
    let (_, rto) = c.timer().unwrap();
    c.on_timeout(rto);
    let rtx = drain(&mut c, rto);
    // The ACK echoes the retransmission's TSval: the original was lost.
    let mut ack = sack_ack(1000, &[]);
    ack.options.timestamps = Some(synack::Timestamps {
        tsval: 5200,
        tsecr: rtx[0].seg.options.timestamps.unwrap().tsval,
    });
    c.on_segment(rto + synack::Duration::from_millis(100), &ack);
    assert_eq!(c.stats().spurious_undos, 0);
    assert!(c.info().cwnd <= 2 * MSS);
    // Going back over the outstanding data continues.
    assert!(!offsets(&drain(&mut c, rto + synack::Duration::from_millis(100))).is_empty());
}

#[test]
fn rfc8985_only_the_lost_retransmission_goes_again() {
    let mut c = sack_client(plain());
    let t = ms(100);
    c.send(t, &[7u8; 10_000]).unwrap();
    assert_eq!(offsets(&drain(&mut c, t)).len(), 10);
    // Segments at 1000 (A), 3000 (B) and 5000 (C) are lost; the rest arrive.
    c.on_segment(ms(200), &sack_ack(1000, &[]));
    c.on_segment(ms(201), &sack_ack(1000, &[(2000, 3000)]));
    c.on_segment(ms(202), &sack_ack(1000, &[(4000, 5000), (2000, 3000)]));
    assert!(offsets(&drain(&mut c, ms(202))).is_empty());
    // Three segments SACKed above A: recovery, A retransmitted at 203 ms.
    let blocks = [(6000, 7000), (4000, 5000), (2000, 3000)];
    c.on_segment(ms(203), &sack_ack(1000, &blocks));
    assert_eq!(offsets(&drain(&mut c, ms(203))), [1000]);
    // B and C are lost too: retransmitted at 240 and 241 ms.
    let blocks = [(6000, 8000), (4000, 5000), (2000, 3000)];
    c.on_segment(ms(240), &sack_ack(1000, &blocks));
    assert_eq!(offsets(&drain(&mut c, ms(240))), [3000]);
    let blocks = [(6000, 10000), (4000, 5000), (2000, 3000)];
    c.on_segment(ms(241), &sack_ack(1000, &blocks));
    assert_eq!(offsets(&drain(&mut c, ms(241))), [5000]);
    let rtx = c.stats().retransmits;
    // C's retransmission is SACKed: RACK.xmit_ts = 241 ms. A's retransmission, sent 38 ms
    // before it (more than reo_wnd = min_RTT/4 = 25 ms), is lost (RFC 8985 §6.2) and goes
    // again; B's, sent 1 ms before C's, is still in flight and must not be resent.
    c.on_segment(ms(340), &sack_ack(1000, &[(4000, 10000), (2000, 3000)]));
    assert_eq!(offsets(&drain(&mut c, ms(340))), [1000]);
    assert_eq!(c.stats().retransmits, rtx + 1);
    // B's retransmission and then A's second arrive: recovery ends without a timeout and
    // nothing else was sent twice.
    c.on_segment(ms(341), &sack_ack(1000, &[(2000, 10000)]));
    assert!(offsets(&drain(&mut c, ms(341))).is_empty());
    c.on_segment(ms(440), &sack_ack(10000, &[]));
    assert!(!c.info().in_recovery);
    assert_eq!(c.stats().retransmits, rtx + 1);
    assert_eq!(c.stats().timeouts, 0);
}

/// A SACK ACK with timestamps: TSval `tsval`, echoing `tsecr`.
fn ts_ack(ack: u32, blocks: &[(u32, u32)], tsval: u32, tsecr: u32) -> SegmentIn<'static> {
    let mut s = sack_ack(ack, blocks);
    s.options.timestamps = Some(synack::Timestamps { tsval, tsecr });
    s
}

#[test]
fn rfc3522_no_undo_while_another_retransmission_is_outstanding() {
    let mut c = ts_client();
    let t = ms(100);
    c.send(t, &[5u8; 10_000]).unwrap();
    let first = drain(&mut c, t);
    assert_eq!(first.len(), 10);
    let orig = first[0].seg.options.timestamps.unwrap().tsval;
    // Segment 0 is delayed, segment 5000 lost; the others arrive.
    for (i, hi) in [2000, 3000, 4000].into_iter().enumerate() {
        let at = ms(200 + i as u64);
        c.on_segment(at, &ts_ack(0, &[(1000, hi)], 5100, orig));
        drain(&mut c, at);
    }
    assert!(c.info().in_recovery);
    let mut rtx = Vec::new();
    for (i, hi) in [6000, 7000, 8000, 9000, 10000].into_iter().enumerate() {
        let at = ms(203 + i as u64);
        let blocks: &[(u32, u32)] = if hi == 6000 {
            &[(1000, 5000)]
        } else {
            &[(6000, hi), (1000, 5000)]
        };
        c.on_segment(at, &ts_ack(0, blocks, 5100, orig));
        rtx.extend(drain(&mut c, at));
    }
    // 5000 was retransmitted (0 went at once, on entering recovery).
    let second = rtx
        .iter()
        .find(|o| o.seq().wrapping_sub(BASE) == 5000)
        .unwrap();
    let second_ts = second.seg.options.timestamps.unwrap().tsval;
    assert!(second_ts > orig);
    // The delayed original of 0 arrives: the ACK echoes its TSval, older than every
    // retransmission — but 5000's retransmission is still outstanding, so this proves
    // nothing about it (Linux tcp_try_undo_partial waits for retrans_out == 0): no undo.
    c.on_segment(ms(230), &ts_ack(5000, &[(6000, 10000)], 5130, orig));
    assert_eq!(c.stats().spurious_undos, 0);
    assert!(c.info().in_recovery);
    // 5000's retransmission arrives: the ACK echoes it — a real loss, still not undone.
    c.on_segment(ms(310), &ts_ack(10000, &[], 5210, second_ts));
    assert_eq!(c.stats().spurious_undos, 0);
    let info = c.info();
    assert!(!info.in_recovery);
    assert_eq!(info.cwnd, info.ssthresh);
}
