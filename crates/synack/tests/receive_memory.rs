//! Linux's receive rule for an in-order segment larger than the window
//! (`tcp_data_queue()`): a segment that starts in an open window is queued whole when
//! nothing waits to be read (the memory charge is forced), and the window offered is then 0
//! until the application reads below the buffer size; a bare FIN at that zero window is
//! still accepted and ACKed at once. The FreeBSD flavor trims the text to the window.

mod common;
use common::{A, CLIENT_ISS, F, P, S, SERVER_ISS, drain, listener, none, one, seg};
use synack::{Config, Connection, Flavor, Instant, State};

const BUF: usize = 4000;

fn server(flavor: Flavor, now: Instant) -> Connection {
    let cfg = Config {
        events: true,
        window_scaling: false,
        sack: false,
        timestamps: false,
        recv_buffer: BUF,
        recv_buffer_max: BUF,
        flavor: Some(flavor),
        ..Config::default()
    };
    let mut s = listener(cfg, now);
    s.on_segment(now, &seg(CLIENT_ISS, 0, S, 65535));
    assert_eq!(one(&mut s, now).flags(), S | A);
    s.on_segment(now, &seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535));
    none(&mut s, now);
    assert_eq!(s.state(), State::Established);
    s
}

fn big(seq: u32, payload: &'static [u8]) -> synack::SegmentIn<'static> {
    let mut s = seg(seq, SERVER_ISS + 1, P | A, 65535);
    s.payload = payload;
    s
}

static DATA: [u8; 6000] = [5u8; 6000];

#[test]
fn linux_takes_an_in_order_segment_whole_then_offers_zero_until_read_below_the_buffer() {
    let now = common::ms(0);
    let mut s = server(Flavor::Linux, now);
    s.on_segment(now, &big(CLIENT_ISS + 1, &DATA));
    let ack = drain(&mut s, now).pop().expect("an ACK");
    assert_eq!(ack.ack(), CLIENT_ISS + 1 + 6000);
    assert_eq!(ack.seg.wnd, 0);
    assert_eq!(s.recv_buffer(), BUF);
    // More data while the buffer is over-committed is not taken (the window is 0).
    s.on_segment(now, &big(CLIENT_ISS + 6001, &DATA[..100]));
    let ack = drain(&mut s, now).pop().expect("an ACK");
    assert_eq!((ack.ack(), ack.seg.wnd), (CLIENT_ISS + 6001, 0));
    // A bare FIN at the zero window is accepted and ACKed at once.
    s.on_segment(now, &seg(CLIENT_ISS + 6001, SERVER_ISS + 1, F | A, 65535));
    let ack = one(&mut s, now);
    assert_eq!((ack.ack(), ack.seg.wnd), (CLIENT_ISS + 6002, 0));
    assert_eq!(s.state(), State::CloseWait);
    // Reading 1500 leaves 4500 > 4000 queued: still no room.
    let mut buf = [0u8; 6000];
    assert_eq!(s.recv(&mut buf[..1500]).unwrap(), 1500);
    assert_eq!(s.recv_buffer(), BUF);
    // Reading below the buffer size frees space again, bounded by the buffer size.
    assert_eq!(s.recv(&mut buf[..2500]).unwrap(), 2500);
    assert_eq!(s.recv_buffer(), BUF);
    assert_eq!(s.recv(&mut buf).unwrap(), 2000);
    assert_eq!(s.recv(&mut buf).unwrap(), 0);
}

#[test]
fn linux_trims_to_the_window_when_data_waits_to_be_read() {
    let now = common::ms(0);
    let mut s = server(Flavor::Linux, now);
    s.on_segment(now, &big(CLIENT_ISS + 1, &DATA[..1000]));
    drain(&mut s, now);
    // 1000 bytes wait: the next segment is trimmed to the 3000 bytes left.
    s.on_segment(now, &big(CLIENT_ISS + 1001, &DATA));
    let ack = drain(&mut s, now).pop().expect("an ACK");
    assert_eq!((ack.ack(), ack.seg.wnd), (CLIENT_ISS + 1 + BUF as u32, 0));
}

#[test]
fn freebsd_trims_an_oversized_segment_to_the_buffer() {
    let now = common::ms(0);
    let mut s = server(Flavor::FreeBsd, now);
    s.on_segment(now, &big(CLIENT_ISS + 1, &DATA));
    let ack = drain(&mut s, now).pop().expect("an ACK");
    assert_eq!(ack.ack(), CLIENT_ISS + 1 + BUF as u32);
}
