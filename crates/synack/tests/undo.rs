//! Undoing spurious reductions and tolerating reordering, conversation style: F-RTO after a
//! timeout without timestamps (RFC 5682, basic and SACK-enhanced), D-SACK-based undo of a
//! fast retransmit caused by reordering (RFC 3708), and RACK's reordering window and
//! reorder timer (RFC 8985 §6.2, §6.3).

mod common;
use common::data_offsets as offsets;
use common::sack_ack as ack;
use common::{drain, plain};
use synack::{Config, Connection, Duration, Instant};

const MSS: u32 = 1000;

use common::ms;

/// A client without timestamps (MSS 1000) whose handshake measured 100 ms; SACK as asked.
fn client(sack: bool) -> Connection {
    common::established_at_100ms(Config { sack, ..plain() }, 65535)
}

/// Sends 10 segments and lets the timers run until the retransmission timeout has fired
/// (a tail loss probe first on a SACK connection): returns the RTO's time, the window
/// before it, and the offsets of the probe (if any).
fn until_rto(c: &mut Connection) -> (Instant, (u32, u32), Vec<u32>) {
    let t = ms(100);
    c.send(t, &[7u8; 30_000]).unwrap();
    assert_eq!(
        offsets(&drain(c, t)),
        (0..10).map(|i| i * MSS).collect::<Vec<_>>()
    );
    let before = (c.info().cwnd, c.info().ssthresh);
    let mut probe = Vec::new();
    loop {
        let at = c.poll_timeout().unwrap();
        let timeouts = c.stats().timeouts;
        c.on_timeout(at);
        let out = drain(c, at);
        if c.stats().timeouts > timeouts {
            // RFC 5682 step 1 (and RFC 6298 §5.4): the head goes again, alone.
            assert_eq!(offsets(&out), [0]);
            assert_eq!(c.info().cwnd, MSS);
            return (at, before, probe);
        }
        probe.extend(offsets(&out));
    }
}

fn spurious_timeout_undone(sack: bool) {
    let mut c = client(sack);
    let (rto, before, probe) = until_rto(&mut c);
    // A SACK connection probed the tail first with new data.
    assert_eq!(probe, if sack { vec![10_000] } else { vec![] });
    let next = 10_000 + MSS * probe.len() as u32;
    // The ACKs were only late: the first acknowledges the original head. F-RTO step 2b:
    // two new segments, not the next retransmission.
    let t1 = rto + Duration::from_millis(5);
    c.on_segment(t1, &ack(MSS, &[]));
    assert_eq!(offsets(&drain(&mut c, t1)), [next, next + MSS]);
    // The second acknowledges data sent before the timeout and never retransmitted: the
    // timeout was spurious (step 3b) and the reduction is undone.
    let t2 = t1 + Duration::from_millis(1);
    c.on_segment(t2, &ack(2 * MSS, &[]));
    let info = c.info();
    let st = c.stats();
    assert_eq!((c.loss_stats().frto_undos, st.spurious_undos), (1, 1));
    assert_eq!(info.ssthresh, before.1);
    assert!(info.cwnd >= before.0, "{} < {}", info.cwnd, before.0);
    // Nothing old is resent: the rest of the window was never lost.
    let out = drain(&mut c, t2);
    assert!(
        offsets(&out).iter().all(|&o| o >= next + 2 * MSS),
        "{:?}",
        offsets(&out)
    );
    assert_eq!(st.retransmits, 1, "only the head was retransmitted");
}

#[test]
fn rfc5682_sack_enhanced_frto_undoes_a_spurious_timeout() {
    spurious_timeout_undone(true);
}

#[test]
fn rfc5682_basic_frto_undoes_a_spurious_timeout() {
    spurious_timeout_undone(false);
}

fn real_timeout_not_undone(sack: bool) {
    let mut c = client(sack);
    let (rto, _, probe) = until_rto(&mut c);
    let next = 10_000 + MSS * probe.len() as u32;
    // Everything was lost: the retransmitted head is acknowledged alone ...
    let t1 = rto + Duration::from_millis(100);
    c.on_segment(t1, &ack(MSS, &[]));
    assert_eq!(offsets(&drain(&mut c, t1)), [next, next + MSS]);
    // ... and the new data arrives while the old does not: a duplicate ACK (with SACK,
    // one reporting the new data above "recover"). Step 3a: the timeout was real; going
    // back over the window resumes, cwnd at most 3 segments.
    let t2 = t1 + Duration::from_millis(100);
    let blocks: &[(u32, u32)] = if sack { &[(next, next + MSS)] } else { &[] };
    c.on_segment(t2, &ack(MSS, blocks));
    let out = offsets(&drain(&mut c, t2));
    assert_eq!(out.first(), Some(&MSS), "{out:?}");
    assert!(c.info().cwnd <= 3 * MSS);
    assert_eq!(c.stats().spurious_undos, 0);
    assert_eq!(c.loss_stats().frto_undos, 0);
}

#[test]
fn rfc5682_sack_enhanced_frto_a_real_timeout_is_not_undone() {
    real_timeout_not_undone(true);
}

#[test]
fn rfc5682_basic_frto_a_real_timeout_is_not_undone() {
    real_timeout_not_undone(false);
}

/// Ten segments at `t` (from offset `from`); the one at `late` is delayed: the next three
/// arrive first and are SACKed at `t + 100 ms` + 1, 2, 3 ms. Returns what the sender sent
/// in answer to those SACKs.
fn late_segment(c: &mut Connection, t: Instant, from: u32, late: u32) -> Vec<u32> {
    c.send(t, &[1u8; 10_000]).unwrap();
    let sent = offsets(&drain(c, t));
    assert_eq!(sent, (0..10).map(|i| from + i * MSS).collect::<Vec<_>>());
    let mut out = Vec::new();
    for i in 1..=3u32 {
        let at = t + Duration::from_millis(100 + u64::from(i));
        c.on_segment(at, &ack(late, &[(late + MSS, late + MSS + i * MSS)]));
        out.extend(offsets(&drain(c, at)));
    }
    out
}

#[test]
fn rfc3708_reordering_fast_retransmit_undone_by_the_dsack() {
    let mut c = client(true);
    let before = (c.info().cwnd, c.info().ssthresh);
    // Segment 0 is late; three SACKs: a fast retransmit (no reordering seen yet).
    let out = late_segment(&mut c, ms(100), 0, 0);
    assert_eq!(out, [0]);
    assert!(c.info().in_recovery);
    assert!(c.info().ssthresh < before.0);
    // The original arrives: everything is acknowledged, recovery ends reduced.
    c.on_segment(ms(205), &ack(10 * MSS, &[]));
    assert!(!c.info().in_recovery);
    assert!(c.info().cwnd < before.0);
    assert_eq!(c.loss_stats().dsack_undos, 0);
    // Then the retransmission arrives, a duplicate: its D-SACK shows the only
    // retransmission of the episode was unnecessary — the reduction is undone.
    c.on_segment(ms(300), &ack(10 * MSS, &[(0, MSS)]));
    let info = c.info();
    assert_eq!(c.loss_stats().dsack_undos, 1);
    assert_eq!(c.stats().spurious_undos, 1);
    assert!(info.cwnd >= before.0, "{} < {}", info.cwnd, before.0);
    assert_eq!(info.ssthresh, before.1);
}

#[test]
fn rfc3708_dsack_of_what_was_not_retransmitted_undoes_nothing() {
    let mut c = client(true);
    // Two segments lost (0 and 1000): two retransmissions in the episode.
    c.send(ms(100), &[1u8; 10_000]).unwrap();
    drain(&mut c, ms(100));
    for i in 1..=4u32 {
        let at = ms(200 + u64::from(i));
        c.on_segment(at, &ack(0, &[(2 * MSS, 2 * MSS + i * MSS)]));
        drain(&mut c, at);
    }
    assert!(c.info().in_recovery);
    c.on_segment(ms(250), &ack(MSS, &[(2 * MSS, 6 * MSS)]));
    drain(&mut c, ms(250));
    c.on_segment(ms(300), &ack(10 * MSS, &[]));
    drain(&mut c, ms(300));
    assert!(c.stats().retransmits >= 2);
    let reduced = c.info();
    // A D-SACK for data never retransmitted (a duplicate made by the network), then one
    // for a single retransmission (its original was late): the other retransmission
    // repaired a real loss, so nothing is undone.
    c.on_segment(ms(310), &ack(10 * MSS, &[(5 * MSS, 6 * MSS)]));
    c.on_segment(ms(320), &ack(10 * MSS, &[(0, MSS)]));
    assert_eq!(c.stats().dsacks_received, 2);
    assert_eq!(c.loss_stats().dsack_undos, 0);
    assert_eq!(c.info().ssthresh, reduced.ssthresh);
}

/// A SACK client that has learned the path reorders: a spurious fast retransmit, undone
/// by its D-SACK (RACK.reordering_seen, and reo_wnd_mult 2 for the D-SACK round).
fn reordering_client() -> Connection {
    let mut c = client(true);
    assert_eq!(late_segment(&mut c, ms(100), 0, 0), [0]);
    c.on_segment(ms(205), &ack(10 * MSS, &[]));
    c.on_segment(ms(210), &ack(10 * MSS, &[(0, MSS)]));
    assert_eq!(c.loss_stats().dsack_undos, 1);
    c
}

#[test]
fn rfc8985_reordering_within_reo_wnd_is_not_a_loss_once_reordering_was_seen() {
    let mut c = reordering_client();
    let rtx = c.stats().retransmits;
    // Now the same reordering again (segment 10000 late by a few ms, three segments
    // SACKed above it): RACK waits for its reordering window instead of counting
    // duplicate ACKs, and the late segment arrives in time.
    let out = late_segment(&mut c, ms(300), 10 * MSS, 10 * MSS);
    assert!(out.iter().all(|&o| o >= 20 * MSS), "{out:?}");
    assert!(!c.info().in_recovery);
    // The reorder timer waits for the late segment's deadline: xmit_ts + RACK.rtt +
    // reo_wnd = 300 + 103 + 2 · min_RTT / 4.
    assert_eq!(c.poll_timeout(), Some(ms(453)));
    c.on_segment(ms(406), &ack(20 * MSS, &[]));
    drain(&mut c, ms(406));
    assert_eq!(c.stats().retransmits, rtx, "nothing resent");
    assert_eq!(c.stats().fast_retransmits, 1);
    assert_eq!(c.loss_stats().reorder_timeouts, 0);
}

#[test]
fn rfc8985_reorder_timer_finds_a_loss_without_three_duplicate_acks() {
    let mut c = reordering_client();
    let t = ms(300);
    // Three segments; the first is lost, the other two are SACKed: two duplicate ACKs
    // only, and no more data to send.
    c.send(t, &[2u8; 3000]).unwrap();
    assert_eq!(offsets(&drain(&mut c, t)), [10 * MSS, 11 * MSS, 12 * MSS]);
    let (_, pto) = c.timer().unwrap();
    c.on_segment(ms(400), &ack(10 * MSS, &[(11 * MSS, 12 * MSS)]));
    c.on_segment(ms(401), &ack(10 * MSS, &[(11 * MSS, 13 * MSS)]));
    assert!(drain(&mut c, ms(401)).is_empty());
    assert!(!c.info().in_recovery);
    // RFC 8985 §6.3: the reorder timer, at xmit_ts + RACK.rtt + reo_wnd (RACK.rtt from
    // the latest SACKed segment, 101 ms; reo_wnd 2 · min_RTT / 4), comes before the
    // probe timeout and the RTO.
    let at = c.poll_timeout().unwrap();
    assert_eq!(at, ms(300 + 101 + 50));
    assert!(at < pto);
    let before = c.stats();
    c.on_timeout(at);
    let out = drain(&mut c, at);
    assert_eq!(offsets(&out), [10 * MSS]);
    let st = c.stats();
    assert_eq!(c.loss_stats().reorder_timeouts, 1);
    assert_eq!(
        (st.timeouts, st.loss_probes),
        (before.timeouts, before.loss_probes)
    );
    assert!(c.info().in_recovery);
    c.on_segment(at + Duration::from_millis(100), &ack(13 * MSS, &[]));
    assert_eq!(c.info().unacked, 0);
}

#[test]
fn rfc8985_a_repaired_hole_marks_the_unsacked_tail_lost() {
    let mut c = client(true);
    c.send(ms(100), &[3u8; 10_000]).unwrap();
    drain(&mut c, ms(100));
    // Segment 0 and the whole tail from 5000 are lost; 1000..5000 arrive and are SACKed.
    for i in 1..=4u32 {
        let at = ms(200 + u64::from(i));
        c.on_segment(at, &ack(0, &[(MSS, MSS + i * MSS)]));
        drain(&mut c, at);
    }
    assert!(c.info().in_recovery);
    assert_eq!(c.stats().retransmits, 1);
    // The retransmission of 0 is acknowledged cumulatively; nothing is SACKed any more.
    // It was sent after the tail: RACK.xmit_ts moves to it (RFC 8985 §6.2 step 2 counts
    // cumulatively acknowledged segments), and the tail, sent more than RACK.rtt +
    // reo_wnd ago, is lost — resent now, not after a timeout.
    c.on_segment(ms(305), &ack(5 * MSS, &[]));
    let out = offsets(&drain(&mut c, ms(305)));
    assert_eq!(out.first(), Some(&(5 * MSS)), "{out:?}");
    assert_eq!(c.stats().timeouts, 0);
}
