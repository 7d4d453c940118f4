//! Out-of-order reassembly (RFC 9293 §3.10.7.4 "Seventh"): segments beyond RCV.NXT are held,
//! overlaps and duplicates are trimmed so each byte is delivered once, a FIN beyond a gap
//! waits for it, and PSH reaches the reader as a push signal.

mod common;
use common::{A, F, P, data, established_server, one};
use synack::{Instant, State};

const CLIENT_ISS: u32 = common::CLIENT_ISS;
const SERVER_ISS: u32 = common::SERVER_ISS;

fn read_all(s: &mut synack::Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    while let Ok(n) = s.recv(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn rfc9293_3_10_7_4_out_of_order_overlapping_and_duplicate_segments() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    let base = CLIENT_ISS + 1;
    // "stream of bytes!" arriving as: [6..10) " of ", [12..16) "tes!", [4..9) "am of"
    // (overlapping both ends of what is held), a duplicate of [6..10), then [0..6).
    s.on_segment(now, &data(base + 6, SERVER_ISS + 1, A, b" of "));
    // Out of order: a duplicate ACK at once, nothing readable.
    assert_eq!(one(&mut s, now).ack(), base);
    assert_eq!(s.recv_queued(), 0);
    s.on_segment(now, &data(base + 12, SERVER_ISS + 1, A, b"tes!"));
    s.on_segment(now, &data(base + 4, SERVER_ISS + 1, A, b"am of"));
    s.on_segment(now, &data(base + 6, SERVER_ISS + 1, A, b" of "));
    for o in common::drain(&mut s, now) {
        assert_eq!(o.ack(), base, "still waiting for byte 0");
    }
    assert_eq!(s.stats().ooo_queued, 4);
    // The gap before byte 4 fills; the gap [10..12) remains.
    s.on_segment(now, &data(base, SERVER_ISS + 1, A, b"stream"));
    assert_eq!(one(&mut s, now).ack(), base + 10);
    s.on_segment(now, &data(base + 9, SERVER_ISS + 1, P | A, b" by"));
    assert_eq!(one(&mut s, now).ack(), base + 16);
    assert_eq!(read_all(&mut s), b"stream of bytes!");
    // A retransmission of old data changes nothing and is acknowledged.
    s.on_segment(now, &data(base + 2, SERVER_ISS + 1, A, b"ream"));
    assert_eq!(one(&mut s, now).ack(), base + 16);
    assert_eq!(s.recv_queued(), 0);
}

#[test]
fn rfc9293_3_10_7_4_fin_beyond_a_gap_waits_for_the_gap() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    let base = CLIENT_ISS + 1;
    s.on_segment(now, &data(base + 3, SERVER_ISS + 1, F | P | A, b"def"));
    assert_eq!(
        one(&mut s, now).ack(),
        base,
        "the FIN is not acknowledged yet"
    );
    assert_eq!(s.state(), State::Established);
    s.on_segment(now, &data(base, SERVER_ISS + 1, A, b"abc"));
    // The gap fills: the data and the FIN are acknowledged together.
    let ack = one(&mut s, now);
    assert_eq!(ack.ack(), base + 7);
    assert_eq!(s.state(), State::CloseWait);
    assert_eq!(read_all(&mut s), b"abcdef");
    let mut buf = [0u8; 4];
    assert_eq!(s.recv(&mut buf), Ok(0), "end of stream after the data");
}

#[test]
fn psh_is_delivered_as_a_push_signal() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    s.on_segment(now, &data(CLIENT_ISS + 1, SERVER_ISS + 1, A, b"part"));
    assert!(!s.pushed());
    s.on_segment(now, &data(CLIENT_ISS + 5, SERVER_ISS + 1, P | A, b"end"));
    assert!(s.pushed());
    assert_eq!(read_all(&mut s), b"partend");
    assert!(!s.pushed(), "cleared once the pushed data is read");
}

#[test]
fn text_beyond_the_window_is_trimmed_and_the_fin_after_it_ignored() {
    let now = Instant::ZERO;
    // The FreeBSD flavor trims by RFC 9293 §3.10.7.4; the Linux flavor would take this
    // first in-order segment whole (tests/receive_memory.rs).
    let cfg = synack::Config {
        recv_buffer: 8,
        flavor: Some(synack::Flavor::FreeBsd),
        ..common::plain()
    };
    let mut s = synack::Connection::listen_with_iss(
        now,
        cfg,
        common::server_tuple(),
        synack::Seq(SERVER_ISS),
        0,
    );
    s.on_segment(now, &common::seg(CLIENT_ISS, 0, common::S, 65535));
    assert_eq!(one(&mut s, now).seg.wnd, 8);
    s.on_segment(now, &common::seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535));
    s.on_segment(
        now,
        &data(CLIENT_ISS + 1, SERVER_ISS + 1, F | A, b"0123456789"),
    );
    let ack = one(&mut s, now);
    assert_eq!((ack.ack(), ack.seg.wnd), (CLIENT_ISS + 9, 0));
    assert_eq!(
        s.state(),
        State::Established,
        "the FIN was beyond the window"
    );
    assert_eq!(read_all(&mut s), b"01234567");
}

/// RFC 2018 §4: with SACK permitted, ACKs report the out-of-order data held, the block with
/// the latest segment first (three blocks beside timestamps).
#[test]
fn rfc2018_4_acks_carry_sack_blocks_latest_first() {
    let now = Instant::ZERO;
    let mut s = common::listener(common::linux(), now);
    let mut syn = common::seg(CLIENT_ISS, 0, common::S, 65535);
    syn.options = common::linux_syn_options(100);
    s.on_segment(now, &syn);
    one(&mut s, now);
    let base = CLIENT_ISS + 1;
    let ack = common::with_ts(common::seg(base, SERVER_ISS + 1, A, 512), 101, 0);
    s.on_segment(now, &ack);
    assert!(s.status().sack_permitted);
    let blocks = |o: &common::Out| -> Vec<(u32, u32)> {
        o.seg
            .options
            .sack_blocks
            .as_slice()
            .iter()
            .map(|&(l, r)| (l.get() - base, r.get() - base))
            .collect()
    };
    for (i, off) in [10u32, 30, 50, 70].into_iter().enumerate() {
        s.on_segment(
            now,
            &common::with_ts(
                data(base + off, SERVER_ISS + 1, A, b"xxxxx"),
                102 + i as u32,
                0,
            ),
        );
    }
    let acks = common::drain(&mut s, now);
    let last = acks.last().unwrap();
    assert_eq!(last.ack(), base);
    // Then the most recently reported blocks, most recent first (RFC 2018 §4).
    assert_eq!(blocks(last), [(70, 75), (50, 55), (30, 35)]);
    // A segment extending a held block moves that block to the front.
    s.on_segment(
        now,
        &common::with_ts(data(base + 35, SERVER_ISS + 1, A, b"yy"), 110, 0),
    );
    assert_eq!(blocks(&one(&mut s, now)), [(30, 37), (70, 75), (50, 55)]);
    // Once everything is in order, no SACK blocks — only the D-SACK of the first run of
    // bytes the fill repeated from those held (RFC 2883 §4; Linux's tcp_ofo_queue()).
    let fill: &'static [u8] = Box::leak(vec![b'z'; 75].into_boxed_slice());
    s.on_segment(
        now,
        &common::with_ts(data(base, SERVER_ISS + 1, A, fill), 111, 0),
    );
    let ack = one(&mut s, now);
    assert_eq!((ack.ack(), blocks(&ack)), (base + 75, vec![(10, 15)]));
    s.on_segment(
        now,
        &common::with_ts(data(base + 75, SERVER_ISS + 1, A, b"w"), 112, 0),
    );
    let later = common::drain(&mut s, now + synack::Duration::from_millis(300));
    assert!(later.iter().all(|o| blocks(o).is_empty()), "{later:?}");
}

#[test]
fn peek_leaves_data_and_window_alone_and_sees_a_filled_hole() {
    let now = Instant::ZERO;
    let mut s = common::established_server(now);
    let base = common::CLIENT_ISS + 1;
    let ack = common::SERVER_ISS + 1;
    s.on_segment(now, &common::data(base, ack, common::A, b"a"));
    // Out of order: bytes 3..8, then the hole 1..3.
    s.on_segment(now, &common::data(base + 3, ack, common::A, b"defgh"));
    let mut buf = [0u8; 64];
    assert_eq!(s.peek(&mut buf), Ok(1));
    s.on_segment(now, &common::data(base + 1, ack, common::A, b"bc"));
    assert_eq!(s.peek(&mut buf), Ok(8));
    assert_eq!(&buf[..8], b"abcdefgh");
    // Peeking again gives the same bytes; nothing was consumed, no window opened.
    let before = (s.status().rcv_wnd, s.recv_queued());
    assert_eq!(s.peek(&mut buf[..3]), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!((s.status().rcv_wnd, s.recv_queued()), before);
    assert_eq!(before.1, 8);
    assert_eq!(s.recv(&mut buf), Ok(8));
    assert_eq!(&buf[..8], b"abcdefgh");
    assert_eq!(s.peek(&mut buf), Err(synack::Error::WouldBlock));
}

/// A server that agreed to SACK (no timestamps: four blocks fit).
fn sack_server() -> synack::Connection {
    sack_server_with(synack::Flavor::Linux)
}

/// [`sack_server`] with `flavor` and no quick-ACK phase.
fn sack_server_with(flavor: synack::Flavor) -> synack::Connection {
    let now = Instant::ZERO;
    let cfg = synack::Config {
        sack: true,
        flavor: Some(flavor),
        quickacks: 0,
        ..common::plain()
    };
    let mut s = common::listener(cfg, now);
    let mut syn = common::seg(CLIENT_ISS, 0, common::S, 65535);
    syn.options.sack_permitted = true;
    s.on_segment(now, &syn);
    one(&mut s, now);
    s.on_segment(now, &common::seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535));
    assert!(s.status().sack_permitted);
    s
}

/// The SACK blocks of the ACK `s` sends now, as offsets from the first data byte.
fn sack_of(s: &mut synack::Connection) -> Vec<(u32, u32)> {
    let ack = one(s, Instant::ZERO);
    let base = CLIENT_ISS + 1;
    ack.seg
        .options
        .sack_blocks
        .as_slice()
        .iter()
        .map(|&(l, r)| (l.0.wrapping_sub(base), r.0.wrapping_sub(base)))
        .collect()
}

#[test]
fn rfc2018_4_blocks_in_order_of_arrival_and_rfc2883_duplicate_of_held_data() {
    let mut s = sack_server();
    let base = CLIENT_ISS + 1;
    let ack = SERVER_ISS + 1;
    let now = Instant::ZERO;
    static D: [u8; 100] = [7; 100];
    s.on_segment(now, &data(base + 200, ack, A, &D));
    assert_eq!(sack_of(&mut s), [(200, 300)]);
    s.on_segment(now, &data(base + 400, ack, A, &D));
    assert_eq!(sack_of(&mut s), [(400, 500), (200, 300)]);
    s.on_segment(now, &data(base + 600, ack, A, &D));
    // RFC 2018 §4: the latest first, then the previously reported ones, most recent first
    // (not in sequence order).
    assert_eq!(sack_of(&mut s), [(600, 700), (400, 500), (200, 300)]);
    // A segment 0..250 fills the hole and repeats 200..250, which was held out of order:
    // RFC 2883's D-SACK block reports the duplicate first.
    static E: [u8; 250] = [7; 250];
    s.on_segment(now, &data(base, ack, A, &E));
    let out = one(&mut s, now);
    assert_eq!(out.ack(), base + 300);
    let blocks: Vec<(u32, u32)> = out
        .seg
        .options
        .sack_blocks
        .as_slice()
        .iter()
        .map(|&(l, r)| (l.0.wrapping_sub(base), r.0.wrapping_sub(base)))
        .collect();
    assert_eq!(blocks, [(200, 250), (600, 700), (400, 500)]);
}

#[test]
fn freebsd_acks_a_partial_duplicate_at_once_with_its_dsack() {
    let base = CLIENT_ISS + 1;
    let ack = SERVER_ISS + 1;
    let now = Instant::ZERO;
    static D: [u8; 100] = [7; 100];
    static E: [u8; 200] = [7; 200];
    for (flavor, at_once) in [
        (synack::Flavor::FreeBsd, true),
        (synack::Flavor::Linux, false),
    ] {
        let mut s = sack_server_with(flavor);
        s.on_segment(now, &data(base, ack, A, &D));
        common::drain(&mut s, now);
        s.on_timeout(Instant::from_millis(300));
        common::drain(&mut s, Instant::from_millis(300));
        // 0..200 repeats 0..100: FreeBSD's tcp_input() ACKs now with the D-SACK block;
        // Linux queues the new half and lets the delayed ACK carry it.
        let t = Instant::from_millis(400);
        s.on_segment(t, &data(base, ack, A, &E));
        let out = common::drain(&mut s, t);
        if at_once {
            assert_eq!(out.len(), 1, "{flavor:?}");
            assert_eq!(out[0].ack(), base + 200);
            let blocks = out[0].seg.options.sack_blocks.as_slice();
            assert_eq!(blocks, [(synack::Seq(base), synack::Seq(base + 100))]);
        } else {
            assert!(out.is_empty(), "{flavor:?}: {out:?}");
        }
    }
}
