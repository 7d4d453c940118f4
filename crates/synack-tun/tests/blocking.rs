//! `synack_tun::blocking`: std-like sockets on our stack against Linux's TCP inside a
//! namespace of the test's own (198.18.0.0/24 and fd00::/64 only). The Linux side uses
//! kernel sockets opened on a thread moved into the namespace. Without root,
//! `/dev/net/tun` or `ip`: `SKIP: ...`.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::Duration;

use synack::stack::Stack;
use synack_tun::blocking::{Net, TcpListener, TcpStream};
use synack_tun::netns::{self, Netns, TunNet};
use synack_tun::{Exit, Limits};

const LEN: usize = 2 * 1024 * 1024;

fn pattern(n: usize, salt: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 7 + i / 251 + salt) % 256) as u8)
        .collect()
}

fn setup(tag: &str) -> (Netns, TunNet, Net) {
    let ns = Netns::new(tag).expect("namespace");
    let cfg = TunNet::default();
    let tun = ns.tun_network(&cfg).expect("TUN network");
    let mut stack = Stack::with_address([3; 16], IpAddr::V4(cfg.ours_v4));
    stack.add_address(IpAddr::V6(cfg.ours_v6));
    let net = Net::spawn(tun, stack, Limits::duration(Duration::from_secs(90))).expect("driver");
    (ns, cfg, net)
}

/// Our server, Linux client: both directions at once, half-close from each side.
#[test]
fn blocking_server_exchanges_both_ways_with_half_close() {
    let test = "blocking_server_exchanges_both_ways_with_half_close";
    if !netns::can_run(test) {
        return;
    }
    let (ns, cfg, net) = setup("blksrv");
    let ours = SocketAddr::new(IpAddr::V6(cfg.ours_v6), 9000);
    let listener = TcpListener::bind(&net, ours).expect("bind");
    assert_eq!(listener.local_addr().unwrap(), ours);

    // The Linux client: a kernel socket opened inside the namespace.
    let client = ns
        .spawn_in(move || {
            let mut s = std::net::TcpStream::connect_timeout(&ours, Duration::from_secs(10))?;
            s.set_read_timeout(Some(Duration::from_secs(20)))?;
            let mut r = s.try_clone()?;
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                r.read_to_end(&mut got).map(|_| got)
            });
            s.write_all(&pattern(LEN, 1))?;
            s.shutdown(Shutdown::Write)?;
            reader.join().expect("reader thread")
        })
        .expect("client thread");

    let (mut conn, peer) = listener
        .accept_timeout(Duration::from_secs(10))
        .expect("accept");
    assert_eq!(peer.ip(), IpAddr::V6(cfg.kernel_v6.unwrap()));
    assert_eq!(conn.peer_addr().unwrap(), peer);
    assert_eq!(conn.local_addr().unwrap(), ours);
    conn.set_nodelay(true).unwrap();
    assert!(conn.nodelay().unwrap());
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert!(conn.set_read_timeout(Some(Duration::ZERO)).is_err());

    // Write from a clone while this thread reads.
    let writer = conn.try_clone().unwrap();
    let w = std::thread::spawn(move || {
        let mut writer = writer;
        writer.write_all(&pattern(LEN, 2))?;
        writer.shutdown(Shutdown::Write)
    });
    let mut got = Vec::new();
    conn.read_to_end(&mut got)
        .expect("read to the client's FIN");
    w.join().unwrap().expect("write and half-close");
    assert!(got == pattern(LEN, 1), "server received other bytes");
    let theirs = client.join().unwrap().expect("setns").expect("client");
    assert!(theirs == pattern(LEN, 2), "client received other bytes");
    let info = conn.tcp_info().expect("TCP_INFO");
    assert!(info.snd_mss > 0);
    drop(conn);
    drop(listener);
    let (_tun, stats, exit) = net
        .into_parts()
        .expect("last owner")
        .expect("driver joined");
    assert_eq!(exit.unwrap(), Exit::Stopped);
    assert_eq!(stats.send_errors, 0, "{stats:?}");
}

/// Our client, Linux server: byte-exact each way; a read timeout fires on silence; a
/// refused connection reports ECONNREFUSED.
#[test]
fn blocking_client_to_linux_server() {
    let test = "blocking_client_to_linux_server";
    if !netns::can_run(test) {
        return;
    }
    let (ns, cfg, net) = setup("blkcli");
    let theirs = SocketAddr::new(IpAddr::V4(cfg.kernel_v4), 9001);
    let server = ns
        .run_in(move || std::net::TcpListener::bind(theirs))
        .expect("namespace thread")
        .expect("bind in the namespace");
    let srv = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let (mut s, _) = server.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        // Silence first, so the client's read timeout can fire.
        std::thread::sleep(Duration::from_millis(600));
        s.write_all(&pattern(LEN, 3))?;
        s.shutdown(Shutdown::Write)?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)?;
        Ok(got)
    });

    let mut c = TcpStream::connect_timeout(&net, theirs, Duration::from_secs(10)).expect("connect");
    assert_eq!(c.peer_addr().unwrap(), theirs);
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut one = [0u8; 1];
    let e = c.read(&mut one).expect_err("nothing to read yet");
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("read");
    assert!(got == pattern(LEN, 3), "client received other bytes");
    c.write_all(&pattern(LEN / 2, 4)).expect("write");
    c.shutdown(Shutdown::Write).expect("half-close");
    let srv_got = srv.join().unwrap().expect("server");
    assert!(
        srv_got == pattern(LEN / 2, 4),
        "server received other bytes"
    );

    // Nobody listens on 9002: RST, ECONNREFUSED.
    let closed = SocketAddr::new(IpAddr::V4(cfg.kernel_v4), 9002);
    let e = TcpStream::connect_timeout(&net, closed, Duration::from_secs(10)).expect_err("refused");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    drop(ns);
}
