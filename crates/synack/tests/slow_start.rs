//! Slow start's growth per ACK, flavor by flavor: Linux adds every segment an ACK delivers,
//! cumulatively or newly SACKed (`tcp_slow_start()`), and only while the congestion window
//! limits the flow (`tcp_is_cwnd_limited()`); FreeBSD grows by at most two segments per
//! ACK (RFC 3465 §2.2, `net.inet.tcp.abc_l_var`).

mod common;
use common::data_offsets as offsets;
use common::{drain, plain, sack_ack};
use synack::{Config, Connection, Flavor};

const MSS: u32 = 1000;

use common::ms;

/// A SACK-permitted client (MSS 1000, no timestamps) running `cc`, whose peer offers
/// `wnd` bytes; the handshake measured 100 ms.
fn client(cfg: Config, cc: &'static str, wnd: u16) -> Connection {
    let cfg = Config {
        sack: true,
        congestion_control: cc,
        ..cfg
    };
    let c = common::established_at_100ms(cfg, wnd);
    assert_eq!(c.info().congestion, cc);
    assert_eq!(c.info().cwnd, 10 * MSS, "IW10 (RFC 6928)");
    c
}

fn freebsd() -> Config {
    Config {
        flavor: Some(Flavor::FreeBsd),
        ..plain()
    }
}

/// `slow-start-ack-per-2pkt.pkt`: an ACK of two segments grows the window by two under
/// Linux (it was one, RFC 3465's L = 1); an ACK of four by four under Linux and by two
/// under FreeBSD.
#[test]
fn linux_slow_start_grows_by_every_segment_an_ack_delivers() {
    for cc in ["reno", "cubic"] {
        let mut c = client(plain(), cc, 65535);
        c.send(ms(100), &[1u8; 30_000]).unwrap();
        assert_eq!(drain(&mut c, ms(100)).len(), 10);
        c.on_segment(ms(200), &sack_ack(2 * MSS, &[]));
        assert_eq!(c.info().cwnd, 12 * MSS, "{cc}: ACK of 2 segments");
        assert_eq!(
            offsets(&drain(&mut c, ms(200))),
            [10_000, 11_000, 12_000, 13_000]
        );
        c.on_segment(ms(201), &sack_ack(6 * MSS, &[]));
        assert_eq!(c.info().cwnd, 16 * MSS, "{cc}: ACK of 4 segments");

        let mut f = client(freebsd(), cc, 65535);
        f.send(ms(100), &[1u8; 30_000]).unwrap();
        drain(&mut f, ms(100));
        f.on_segment(ms(200), &sack_ack(4 * MSS, &[]));
        assert_eq!(f.info().cwnd, 12 * MSS, "{cc}: FreeBSD, abc_l_var 2");
    }
}

/// Linux grows the window only while it limits the flow (`tcp_is_cwnd_limited()`: in slow
/// start while cwnd is under twice the flight): an application writing little, or a small
/// receive window, leaves it where it is.
#[test]
fn linux_slow_start_does_not_grow_a_window_that_does_not_limit() {
    for cc in ["reno", "cubic"] {
        // Application-limited: 3 segments in flight, cwnd 10 ≥ 2·3.
        let mut c = client(plain(), cc, 65535);
        c.send(ms(100), &[1u8; 3000]).unwrap();
        assert_eq!(drain(&mut c, ms(100)).len(), 3);
        c.on_segment(ms(200), &sack_ack(3 * MSS, &[]));
        assert_eq!(c.info().cwnd, 10 * MSS, "{cc}: application-limited");
        // Six in flight: 10 < 2·6, the window grows by what is acknowledged.
        c.send(ms(300), &[1u8; 6000]).unwrap();
        assert_eq!(drain(&mut c, ms(300)).len(), 6);
        c.on_segment(ms(400), &sack_ack(9 * MSS, &[]));
        assert_eq!(c.info().cwnd, 16 * MSS, "{cc}: six in flight");

        // Receive-window-limited: the peer offers 4000 bytes.
        let mut w = client(plain(), cc, 4000);
        w.send(ms(100), &[1u8; 30_000]).unwrap();
        assert_eq!(drain(&mut w, ms(100)).len(), 4);
        let mut ack = sack_ack(4 * MSS, &[]);
        ack.wnd = 4000;
        w.on_segment(ms(200), &ack);
        assert_eq!(w.info().cwnd, 10 * MSS, "{cc}: window-limited");
    }
}

/// Segments an ACK newly SACKs count as delivered (Linux `acked_sacked`); the cumulative
/// ACK that later covers them does not count them again.
#[test]
fn linux_slow_start_counts_newly_sacked_segments_once() {
    let mut c = client(plain(), "reno", 65535);
    c.send(ms(100), &[1u8; 40_000]).unwrap();
    assert_eq!(drain(&mut c, ms(100)).len(), 10);
    // Segments 0 and 1 acknowledged, 2 missing, 3 and 4 SACKed: four delivered.
    c.on_segment(ms(200), &sack_ack(2 * MSS, &[(3 * MSS, 5 * MSS)]));
    let info = c.info();
    assert!(!info.in_recovery);
    assert_eq!((info.cwnd, info.sacked), (14 * MSS, 2 * MSS));
    drain(&mut c, ms(200));
    // Segment 2 arrives: the ACK jumps to 5, delivering one segment more.
    c.on_segment(ms(201), &sack_ack(5 * MSS, &[]));
    assert_eq!(c.info().cwnd, 15 * MSS);
}
