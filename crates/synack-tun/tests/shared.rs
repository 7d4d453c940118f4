//! The shared driver with blocking callers: a synack echo server written as plain
//! blocking code on the test thread (accept, read, write, shut down) while the driver
//! turns on its own thread, serving a Linux client (python3) inside a namespace of the
//! test's own. Without root, `/dev/net/tun`, `ip` or `python3`: `SKIP: ...`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack::stack::{Errno, Family, RecvFlags, Shutdown, SocketId, Stack};
use synack_tun::netns::{self, Netns, TunNet};
use synack_tun::{Exit, Limits, SharedDriver};

const LEN: usize = 512 * 1024;
const STEP: Duration = Duration::from_secs(10);

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

const CLIENT: &str = r#"
import socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytes((i * 7 + i // 251) % 256 for i in range(n))
s = socket.create_connection((host, port), timeout=20)
got = bytearray()
def reader():
    while True:
        b = s.recv(65536)
        if not b:
            break
        got.extend(b)
t = threading.Thread(target=reader)
t.start()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
t.join(25)
print(len(got), "ok" if bytes(got) == data else "MISMATCH")
"#;

/// `recv` that blocks: waits until data, end of stream or an error.
fn read(d: &SharedDriver<Stack>, s: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
    d.wait_for(STEP, |st, now| {
        match st.recv(now, s, buf, RecvFlags::default()) {
            Err(Errno::EAGAIN) => None,
            r => Some(r),
        }
    })
    .unwrap_or(Err(Errno::ETIMEDOUT))
}

/// `send` of everything, blocking while the send buffer is full.
fn write_all(d: &SharedDriver<Stack>, s: SocketId, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        let n = d
            .wait_for(STEP, |st, now| match st.send(now, s, data) {
                Err(Errno::EAGAIN) => None,
                r => Some(r),
            })
            .unwrap_or(Err(Errno::ETIMEDOUT))?;
        data = &data[n..];
    }
    Ok(())
}

#[test]
fn blocking_echo_server_on_the_shared_driver() {
    let test = "blocking_echo_server_on_the_shared_driver";
    if !netns::can_run(test) {
        return;
    }
    if !netns::have_command("python3") {
        println!("SKIP: {test}: python3 is missing");
        return;
    }
    let ns = Netns::new("shared").expect("namespace");
    let cfg = TunNet::default();
    let tun = ns.tun_network(&cfg).expect("TUN network");
    let mut stack = Stack::with_address([7; 16], IpAddr::V4(cfg.ours_v4));
    stack.add_address(IpAddr::V6(cfg.ours_v6));
    let d = SharedDriver::spawn(tun, stack, Limits::duration(Duration::from_secs(60)))
        .expect("driver thread");
    let l = d.with(|st, _| {
        let l = st.socket(Family::V4)?;
        st.bind(l, SocketAddr::new(cfg.ours_v4.into(), 7))?;
        st.listen(l, 8)?;
        Ok::<_, Errno>(l)
    });
    let l = l.expect("listen");
    let host = cfg.ours_v4.to_string();
    let n = LEN.to_string();
    let client = ns
        .spawn(&["python3", "-c", CLIENT, &host, "7", &n])
        .expect("python client");

    // Plain blocking code from here on.
    let (c, peer) = d
        .wait_for(STEP, |st, _| st.accept(l).ok())
        .expect("accepted a connection");
    assert_eq!(peer.ip(), IpAddr::V4(cfg.kernel_v4));
    let mut received = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "echo took too long"
        );
        let k = read(&d, c, &mut buf).expect("read");
        if k == 0 {
            break;
        }
        received.extend_from_slice(&buf[..k]);
        write_all(&d, c, &buf[..k]).expect("write");
    }
    d.with(|st, now| st.shutdown(now, c, Shutdown::Write))
        .expect("half-close");
    let out = client
        .wait_timeout(Duration::from_secs(30))
        .expect("client finished");
    d.with(|st, now| st.close(now, c)).expect("close");
    assert_eq!(
        out.stdout_text().trim(),
        format!("{LEN} ok"),
        "{}",
        out.stderr_text()
    );
    assert!(received == pattern(LEN), "server received other bytes");

    let mut d = d;
    let (_tun, stats, exit) = d.stop().expect("driver thread joined");
    assert_eq!(exit.expect("driver ran"), Exit::Stopped);
    assert_eq!(stats.send_errors, 0, "{stats:?}");
    assert!(!d.is_running());
    let stack = d.into_handler().expect("handler back");
    assert!(
        stack.connection_count() <= 1,
        "{}",
        stack.connection_count()
    );
}
