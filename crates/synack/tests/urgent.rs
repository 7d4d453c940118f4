//! Urgent data (RFC 9293 §3.8.5, RFC 6093; the notes' 带外数据): the sender's URG flag and
//! urgent pointer, the receiver's out-of-band byte, SO_OOBINLINE, the mark and the signal.

mod common;
use common::{A, P, data, established_client, established_server, one};
use synack::{Error, Event, Instant, Seq, TcpFlags};

const CLIENT_ISS: u32 = common::CLIENT_ISS;
const SERVER_ISS: u32 = common::SERVER_ISS;
const U: TcpFlags = TcpFlags::URG;

#[test]
fn rfc6093_sender_urgent_pointer_points_after_the_urgent_byte() {
    let now = Instant::ZERO;
    let mut c = established_client(now);
    c.set_nodelay(true);
    c.send(now, b"abc").unwrap();
    let plain = one(&mut c, now);
    assert!(!plain.flags().urg());
    c.send_urgent(now, b"!").unwrap();
    let urg = one(&mut c, now);
    // `Flags [P.U], seq 4:5, urg 1`: the pointer is the offset of the byte after `!`.
    assert_eq!(urg.flags(), P | A | U);
    assert_eq!(
        (urg.seq(), urg.data.as_slice()),
        (CLIENT_ISS + 4, &b"!"[..])
    );
    assert_eq!(urg.seg.up, 1);
    // A retransmission of the urgent segment carries URG again; a pure ACK at SND.NXT
    // (after the urgent data) does not.
    c.on_timeout(Instant::from_secs(1));
    let again = one(&mut c, Instant::from_secs(1));
    assert_eq!(
        (again.flags(), again.seq(), again.seg.up),
        (P | A | U, CLIENT_ISS + 1, 4)
    );
    c.on_segment(now, &data(SERVER_ISS + 1, CLIENT_ISS + 4, P | A, b"x"));
    let ack = one(&mut c, now);
    assert_eq!((ack.flags(), ack.seg.up), (A, 0));
    c.on_segment(now, &common::seg(SERVER_ISS + 2, CLIENT_ISS + 5, A, 65535));
    c.send(now, b"z").unwrap();
    assert!(!one(&mut c, now).flags().urg());
}

#[test]
fn urgent_byte_is_read_out_of_band_and_reads_stop_at_the_mark() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    let mut seg = data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A | U, b"abc!def");
    seg.up = 4; // urgent byte `!` at offset 3
    s.on_segment(now, &seg);
    assert!(s.take_urgent_signal(), "SIGURG");
    assert!(!s.take_urgent_signal());
    let mut events = Vec::new();
    while let Some(e) = s.poll_event() {
        events.push(e);
    }
    assert!(events.contains(&Event::Urgent {
        at: now,
        seq: Seq(CLIENT_ISS + 4)
    }));
    let mut buf = [0u8; 16];
    // A read stops at the mark.
    assert!(!s.at_mark());
    assert_eq!(s.recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert!(s.at_mark(), "SIOCATMARK");
    assert_eq!(s.recv_urgent(&mut buf), Ok(1));
    assert_eq!(buf[0], b'!');
    assert_eq!(
        s.recv_urgent(&mut buf),
        Err(Error::InvalidState),
        "read once"
    );
    // The urgent byte is not in the stream.
    assert_eq!(s.recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"def");
    assert!(!s.at_mark());
}

#[test]
fn oobinline_leaves_the_urgent_byte_in_the_stream() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    s.set_oobinline(true);
    let mut seg = data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A | U, b"ab!cd");
    seg.up = 3;
    s.on_segment(now, &seg);
    let mut buf = [0u8; 16];
    assert_eq!(s.recv_urgent(&mut buf), Err(Error::InvalidState));
    assert_eq!(s.recv(&mut buf), Ok(2));
    assert!(s.at_mark());
    assert_eq!(s.recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"!cd");
    assert!(!s.at_mark());
}

#[test]
fn urgent_pointer_ahead_of_its_byte_signals_first_then_delivers() {
    let now = Instant::ZERO;
    let mut s = established_server(now);
    // The pointer says the urgent byte is the 6th; only 2 bytes arrive.
    let mut seg = data(CLIENT_ISS + 1, SERVER_ISS + 1, A | U, b"ab");
    seg.up = 6;
    s.on_segment(now, &seg);
    assert!(s.take_urgent_signal());
    let mut buf = [0u8; 16];
    assert_eq!(s.recv_urgent(&mut buf), Err(Error::WouldBlock), "EAGAIN");
    let mut seg = data(CLIENT_ISS + 3, SERVER_ISS + 1, P | A | U, b"cdeXf");
    seg.up = 4;
    s.on_segment(now, &seg);
    assert!(!s.take_urgent_signal(), "the same pointer signals once");
    assert_eq!(s.recv_urgent(&mut buf), Ok(1));
    assert_eq!(buf[0], b'X');
    assert_eq!(s.recv(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"abcde");
    assert_eq!(s.recv(&mut buf), Ok(1));
    assert_eq!(buf[0], b'f');
    let acks = common::drain(&mut s, now);
    assert_eq!(acks.last().unwrap().ack(), CLIENT_ISS + 8);
}

/// End to end: urgent data overtakes nothing in the stream but is signalled and readable
/// out of band, and it is pushed past Nagle.
#[test]
fn urgent_between_two_engines() {
    let now = Instant::ZERO;
    let mut p = common::Pair::new(
        synack::Connection::connect_with_iss(
            now,
            common::linux(),
            common::client_tuple(),
            Seq(CLIENT_ISS),
            0,
        ),
        common::listener(common::linux(), now),
        now,
    );
    p.exchange();
    p.a.send(now, b"interrupt ").unwrap();
    p.a.send_urgent(now, b"\xff").unwrap();
    p.a.send(now, b"after").unwrap();
    p.exchange();
    assert!(p.b.take_urgent_signal());
    let mut buf = [0u8; 32];
    assert_eq!(p.b.recv(&mut buf), Ok(10));
    assert!(p.b.at_mark());
    assert_eq!(p.b.recv_urgent(&mut buf), Ok(1));
    assert_eq!(buf[0], 0xff);
    assert_eq!(p.b.recv(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"after");
}
