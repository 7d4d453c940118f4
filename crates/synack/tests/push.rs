//! The PSH bit on data segments (RFC 9293 §3.9.1 leaves where to set it to the sender).
//! Under the Linux flavor a burst goes out as TSO chunks sized like Linux's
//! `tcp_tso_autosize()` (two segments at a low pacing rate) and PSH ends every whole
//! chunk; a lone segment that a window lets out (limited transmit) carries PSH only when it
//! holds the last byte written. The FreeBSD flavor sets PSH only when the send queue
//! empties.

mod common;
use common::{A, CLIENT_ISS, P, S, SERVER_ISS, client, drain, ms, one, plain, seg};
use synack::{Config, Connection, Flavor};

/// A client ESTABLISHED after a 100 ms handshake (SRTT 100 ms), no options (MSS 536),
/// the peer offering 65535 bytes.
fn established(cfg: Config) -> Connection {
    let mut c = client(cfg, ms(0));
    c.on_segment(ms(100), &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 65535));
    assert_eq!(one(&mut c, ms(100)).flags(), A);
    c
}

/// Which segments of `segs` carry PSH, as 0/1 in order.
fn psh_bits(segs: &[common::Out]) -> Vec<u8> {
    segs.iter().map(|o| u8::from(o.flags().psh())).collect()
}

#[test]
fn linux_window_limited_burst_ends_its_two_segment_chunks_with_psh() {
    let mut c = established(plain());
    assert_eq!(c.send(ms(100), &[7u8; 15000]).unwrap(), 15000);
    // IW10: ten 536-byte segments, in five two-segment TSO chunks.
    let burst = drain(&mut c, ms(100));
    assert_eq!(burst.len(), 10);
    assert!(burst.iter().all(|o| o.data.len() == 536));
    assert_eq!(psh_bits(&burst), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    // RFC 3042: a duplicate ACK lets one new segment out; a one-segment chunk, no PSH.
    c.on_segment(ms(210), &seg(SERVER_ISS + 1, CLIENT_ISS + 1, A, 65535));
    let lt = one(&mut c, ms(210));
    assert_eq!(lt.data.len(), 536);
    assert!(!lt.flags().psh(), "limited transmit carries no PSH: {lt:?}");
}

#[test]
fn linux_chunks_are_at_most_half_the_cwnd_and_one_cut_by_the_window_ends_with_psh() {
    // A 1 ms RTT: tcp_tso_autosize() allows far more than half of cwnd 10, so chunks are
    // five segments; a peer window of seven segments cuts the second chunk at two.
    let mut c = client(plain(), ms(0));
    c.on_segment(ms(1), &seg(SERVER_ISS, CLIENT_ISS + 1, S | A, 7 * 536));
    assert_eq!(one(&mut c, ms(1)).flags(), A);
    c.send(ms(1), &[3u8; 15000]).unwrap();
    let burst = drain(&mut c, ms(1));
    assert_eq!(burst.len(), 7);
    assert_eq!(psh_bits(&burst), [0, 0, 0, 0, 1, 0, 1]);
}

#[test]
fn linux_last_byte_written_carries_psh() {
    let mut c = established(plain());
    c.send(ms(100), &[1u8; 700]).unwrap();
    let segs = drain(&mut c, ms(100));
    assert_eq!(segs.len(), 2);
    // Chunk of two: its end is also the last byte written.
    assert_eq!(psh_bits(&segs), [0, 1]);
    assert_eq!(segs[1].flags(), A | P);
}

#[test]
fn freebsd_flavor_sets_psh_only_when_the_queue_empties() {
    let cfg = Config {
        flavor: Some(Flavor::FreeBsd),
        ..plain()
    };
    let mut c = established(cfg);
    c.send(ms(100), &[7u8; 15000]).unwrap();
    let burst = drain(&mut c, ms(100));
    assert!(!burst.is_empty());
    assert!(
        burst.iter().all(|o| !o.flags().psh()),
        "{:?}",
        psh_bits(&burst)
    );
}
