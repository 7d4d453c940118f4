//! The host `Stack` on a real TUN device, talking to the Linux kernel inside a network
//! namespace of the test's own (addresses in 198.18.0.0/15 and fd00::/8 only): the kernel
//! pings it, a Linux TCP client (python3) exchanges data with a synack server, and a synack
//! client with a Linux server, byte-exact. Without root, `/dev/net/tun`, `ip` or `python3`
//! each test prints `SKIP: ...` and passes.

use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::time::Duration;

use synack::Instant;
use synack::stack::{Errno, Family, RecvFlags, Shutdown, SocketId, Stack, TcpInfo};
use synack_tun::netns::{self, Netns, TunNet};
use synack_tun::{Driver, Exit, Limits};

/// Bytes each way in the TCP tests.
const LEN: usize = 256 * 1024;
/// Bytes each way with offloads (enough for the kernel to build super-packets).
const LEN_OFFLOAD: usize = 2 * 1024 * 1024;
/// Every driver run is bounded by this.
const RUN_LIMIT: Duration = Duration::from_secs(40);

/// The test pattern (not periodic in any small power of two).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

/// The same pattern in Python, for the Linux side.
const PY_PATTERN: &str = "bytes((i * 7 + i // 251) % 256 for i in range(n))";

/// A Linux client: connects, prints what `TCP_INFO` says was negotiated (`options O
/// wscale SND RCV`, O masked to TS|SACK|WS), sends the pattern, half-closes, reads until
/// end of stream, and prints `LEN ok` when it read back exactly what it sent.
fn py_client() -> String {
    format!(
        r#"
import socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = {PY_PATTERN}
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(20)
s.connect((host, port))
ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
# struct tcp_info: byte 5 tcpi_options; byte 6 snd_wscale (low nibble), rcv_wscale (high).
print("options", ti[5] & 7, "wscale", ti[6] & 15, ti[6] >> 4, flush=True)
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
ok = bytes(got) == data
print(len(got), "ok" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
"#
    )
}

/// A Linux echo server for one connection: echoes until end of stream, then half-closes
/// and prints how many bytes it echoed and whether they were the pattern.
fn py_server() -> String {
    format!(
        r#"
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
l = socket.socket(fam, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, port))
l.listen(1)
l.settimeout(20)
c, _ = l.accept()
c.settimeout(20)
got = bytearray()
while True:
    b = c.recv(65536)
    if not b:
        break
    got.extend(b)
    c.sendall(b)
c.shutdown(socket.SHUT_WR)
c.close()
ok = bytes(got) == {PY_PATTERN}
print(len(got), "ok" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
"#
    )
}

/// Common checks: root, TUN, `ip` and `python3`.
fn can_run(test: &str) -> bool {
    if !netns::can_run(test) {
        return false;
    }
    if !netns::have_command("python3") {
        println!("SKIP: {test}: python3 is missing");
        return false;
    }
    true
}

/// A stack owning the far-side addresses of `cfg`.
fn stack_for(cfg: &TunNet) -> Stack {
    let mut secret = [0u8; 16];
    let seed = u64::from(std::process::id()) ^ 0x5eed_0f5a_5a00_0001;
    secret[..8].copy_from_slice(&seed.to_le_bytes());
    let mut st = Stack::with_address(secret, IpAddr::V4(cfg.ours_v4));
    st.add_address(IpAddr::V6(cfg.ours_v6));
    st
}

/// A namespace with a TUN network and a driver for a fresh stack on it.
fn setup(tag: &str, offload: bool) -> (Netns, TunNet, Driver<Stack>) {
    let ns = Netns::new(tag).expect("create namespace");
    let cfg = TunNet {
        offload,
        ..TunNet::default()
    };
    let mut tun = ns.tun_network(&cfg).expect("TUN up with addresses");
    // For a look with tcpdump/Wireshark: SYNACK_TEST_PCAP_DIR=/some/dir cargo test ...
    if let Some(dir) = std::env::var_os("SYNACK_TEST_PCAP_DIR") {
        let path = std::path::Path::new(&dir).join(format!("{tag}.pcap"));
        tun.capture_file(&path).expect("create capture file");
    }
    let driver = Driver::new(tun, stack_for(&cfg)).expect("driver");
    (ns, cfg, driver)
}

#[test]
fn kernel_pings_the_stack_over_tun() {
    if !netns::can_run("kernel_pings_the_stack_over_tun") {
        return;
    }
    let (ns, cfg, mut driver) = setup("stkping", false);
    let stop = driver.handle();
    let (v4, v6) = std::thread::scope(|s| {
        let _guard = stop.stop_on_drop();
        let d = s.spawn(|| {
            driver.run(
                Limits::duration(RUN_LIMIT),
                |_, _| ControlFlow::Continue(()),
            )
        });
        let v4 = ns.ping(cfg.ours_v4, 3);
        let v6 = ns.ping(cfg.ours_v6, 3);
        stop.stop();
        assert_eq!(d.join().unwrap().unwrap(), Exit::Stopped);
        (v4, v6)
    });
    assert_eq!(v4.expect("ping v4"), 3);
    assert_eq!(v6.expect("ping v6"), 3);
    let c = driver.handler().counters();
    assert_eq!(c.icmp_in_echos, 6, "{c:?}");
    assert_eq!(c.icmp_out_echo_reps, 6, "{c:?}");
}

/// A synack echo server for one connection, driven from the driver's callback.
struct EchoServer {
    listener: SocketId,
    conn: Option<SocketId>,
    pending: Vec<u8>,
    received: Vec<u8>,
    eof: bool,
    closed: bool,
    error: Option<String>,
    /// Our `TCP_INFO` right after accept.
    info: Option<TcpInfo>,
}

impl EchoServer {
    fn new(listener: SocketId) -> EchoServer {
        EchoServer {
            listener,
            conn: None,
            pending: Vec::new(),
            received: Vec::new(),
            eof: false,
            closed: false,
            error: None,
            info: None,
        }
    }

    fn step(&mut self, st: &mut Stack, now: Instant) {
        if self.closed || self.error.is_some() {
            return;
        }
        let s = match self.conn {
            Some(s) => s,
            None => match st.accept(self.listener) {
                Ok((s, _peer)) => {
                    self.conn = Some(s);
                    self.info = st.tcp_info(s).ok();
                    s
                }
                Err(Errno::EAGAIN) => return,
                Err(e) => return self.fail(format!("accept: {e:?}")),
            },
        };
        let mut buf = [0u8; 16 * 1024];
        // Bounded: at most 64 reads and 64 writes per turn.
        for _ in 0..64 {
            if self.eof {
                break;
            }
            match st.recv(now, s, &mut buf, RecvFlags::default()) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    self.received.extend_from_slice(&buf[..n]);
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => return self.fail(format!("recv: {e:?}")),
            }
        }
        for _ in 0..64 {
            if self.pending.is_empty() {
                break;
            }
            match st.send(now, s, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => return self.fail(format!("send: {e:?}")),
            }
        }
        if self.eof && self.pending.is_empty() {
            // Half-close after echoing everything, then let the stack finish as an orphan.
            if let Err(e) = st.shutdown(now, s, Shutdown::Write) {
                return self.fail(format!("shutdown: {e:?}"));
            }
            if let Err(e) = st.close(now, s) {
                return self.fail(format!("close: {e:?}"));
            }
            self.closed = true;
        }
    }

    fn fail(&mut self, e: String) {
        self.error = Some(e);
    }
}

fn linux_client_to_synack_server(ipv6: bool, offload: bool) {
    let tag = match (ipv6, offload) {
        (false, false) => "srv4",
        (true, false) => "srv6",
        (false, true) => "srv4o",
        (true, true) => "srv6o",
    };
    let len = if offload { LEN_OFFLOAD } else { LEN };
    linux_client_case(tag, ipv6, offload, len, &[], &[]);
}

/// A Linux client exchanges `len` bytes each way with a synack echo server, with the
/// given sysctls set on the Linux side (inside the namespace) and on ours first; the
/// transfer must be byte-exact and both ends must agree on the options negotiated.
fn linux_client_case(
    tag: &str,
    ipv6: bool,
    offload: bool,
    len: usize,
    linux: &[(&str, &str)],
    ours: &[(&str, &str)],
) -> Option<TcpInfo> {
    let test = format!("linux_client_case_{tag}");
    if !can_run(&test) {
        return None;
    }
    let (ns, cfg, mut driver) = setup(tag, offload);
    for (k, v) in linux {
        ns.sysctl(k, v).expect("Linux sysctl");
        assert_eq!(ns.sysctl_get(k).unwrap(), *v);
    }
    for (k, v) in ours {
        driver.handler_mut().sysctl_set(k, v).expect("our sysctl");
    }
    let addr: IpAddr = if ipv6 {
        cfg.ours_v6.into()
    } else {
        cfg.ours_v4.into()
    };
    let st = driver.handler_mut();
    let l = st
        .socket(if ipv6 { Family::V6 } else { Family::V4 })
        .unwrap();
    st.bind(l, SocketAddr::new(addr, 7)).unwrap();
    st.listen(l, 16).unwrap();
    let mut server = EchoServer::new(l);
    let stop = driver.handle();
    let script = py_client();
    let out = std::thread::scope(|s| {
        let _guard = stop.stop_on_drop();
        let srv = &mut server;
        let drv = &mut driver;
        let d = s.spawn(move || {
            drv.run(Limits::duration(RUN_LIMIT), |st, now| {
                srv.step(st, now);
                ControlFlow::Continue(())
            })
        });
        let host = addr.to_string();
        let n = len.to_string();
        let out = ns.exec(
            &["python3", "-c", &script, &host, "7", &n],
            Duration::from_secs(35),
        );
        // Let our FIN and the final ACKs cross before stopping.
        std::thread::sleep(Duration::from_millis(200));
        stop.stop();
        let exit = d.join().unwrap();
        (out, exit)
    });
    let (out, exit) = out;
    let stats = driver.stats().clone();
    assert_eq!(exit.expect("driver ran"), Exit::Stopped);
    let out = out.expect("python client ran");
    assert!(
        out.status.success(),
        "client: {} {}; stats {stats:?}; server error {:?}",
        out.stdout_text(),
        out.stderr_text(),
        server.error
    );
    let info = server.info.expect("our tcp_info at accept");
    // Linux's send scale is our receive scale and the other way round.
    let expect = format!(
        "options {} wscale {} {}\n{len} ok",
        info.options & 7,
        info.rcv_wscale,
        info.snd_wscale
    );
    assert_eq!(out.stdout_text().trim(), expect, "ours: {info:?}");
    println!("{test}: {}", out.stdout_text().lines().next().unwrap_or(""));
    assert_eq!(server.error, None);
    assert!(server.eof && server.closed);
    assert!(
        server.received == pattern(len),
        "server received other bytes"
    );
    let off = driver.tun().offload_stats();
    println!("{test}: {stats:?}; {off:?}");
    if offload {
        assert!(
            off.super_packets > 0,
            "no super-packets from the kernel: {off:?}"
        );
        assert!(
            off.super_packets_out > 0,
            "none of our runs went out as one: {off:?}"
        );
        assert_eq!(off.malformed, 0, "{off:?}");
    }
    Some(info)
}

#[test]
fn linux_client_to_synack_server_v4() {
    linux_client_to_synack_server(false, false);
}

#[test]
fn linux_client_to_synack_server_v4_offload() {
    linux_client_to_synack_server(false, true);
}

#[test]
fn linux_client_to_synack_server_v6() {
    linux_client_to_synack_server(true, false);
}

#[test]
fn linux_client_to_synack_server_v6_offload() {
    linux_client_to_synack_server(true, true);
}

/// A synack client: connects, sends the pattern, half-closes, reads to end of stream.
struct Client {
    sock: SocketId,
    peer: SocketAddr,
    connected: bool,
    data: Vec<u8>,
    sent: usize,
    shut: bool,
    received: Vec<u8>,
    eof: bool,
    error: Option<String>,
}

impl Client {
    fn step(&mut self, st: &mut Stack, now: Instant) -> ControlFlow<()> {
        if !self.connected {
            match st.connect(now, self.sock, self.peer) {
                Ok(()) | Err(Errno::EISCONN) => self.connected = true,
                Err(Errno::EINPROGRESS | Errno::EALREADY) => return ControlFlow::Continue(()),
                Err(e) => {
                    self.error = Some(format!("connect: {e:?}"));
                    return ControlFlow::Break(());
                }
            }
        }
        for _ in 0..64 {
            if self.sent == self.data.len() {
                break;
            }
            match st.send(now, self.sock, &self.data[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    self.error = Some(format!("send: {e:?}"));
                    return ControlFlow::Break(());
                }
            }
        }
        if self.sent == self.data.len() && !self.shut {
            if let Err(e) = st.shutdown(now, self.sock, Shutdown::Write) {
                self.error = Some(format!("shutdown: {e:?}"));
                return ControlFlow::Break(());
            }
            self.shut = true;
        }
        let mut buf = [0u8; 16 * 1024];
        for _ in 0..64 {
            match st.recv(now, self.sock, &mut buf, RecvFlags::default()) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    self.error = Some(format!("recv: {e:?}"));
                    return ControlFlow::Break(());
                }
            }
        }
        if self.eof && self.shut {
            if let Err(e) = st.close(now, self.sock) {
                self.error = Some(format!("close: {e:?}"));
            }
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// Waits (bounded) until something in `ns` listens on TCP `port`.
fn wait_listening(ns: &Netns, port: u16) -> bool {
    let filter = format!("sport = :{port}");
    for _ in 0..100 {
        if let Ok(out) = ns.exec(&["ss", "-Hltn", &filter], Duration::from_secs(5))
            && out.status.success()
            && !out.stdout.is_empty()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn synack_client_to_linux_server(ipv6: bool, offload: bool) {
    let len = if offload { LEN_OFFLOAD } else { LEN };
    let test = format!(
        "synack_client_to_linux_server_{}",
        if ipv6 { "v6" } else { "v4" }
    ) + if offload { "_offload" } else { "" };
    if !can_run(&test) {
        return;
    }
    let (ns, cfg, mut driver) = setup(
        match (ipv6, offload) {
            (false, false) => "cli4",
            (true, false) => "cli6",
            (false, true) => "cli4o",
            (true, true) => "cli6o",
        },
        offload,
    );
    let kernel: IpAddr = if ipv6 {
        cfg.kernel_v6.expect("IPv6 configured").into()
    } else {
        cfg.kernel_v4.into()
    };
    let port = 9000;
    let script = py_server();
    let host = kernel.to_string();
    let n = len.to_string();
    let server = ns
        .spawn(&["python3", "-c", &script, &host, &port.to_string(), &n])
        .expect("start python server");
    assert!(wait_listening(&ns, port), "python server did not listen");
    let st = driver.handler_mut();
    let sock = st
        .socket(if ipv6 { Family::V6 } else { Family::V4 })
        .unwrap();
    let mut client = Client {
        sock,
        peer: SocketAddr::new(kernel, port),
        connected: false,
        data: pattern(len),
        sent: 0,
        shut: false,
        received: Vec::new(),
        eof: false,
        error: None,
    };
    let exit = driver
        .run(Limits::duration(RUN_LIMIT), |st, now| client.step(st, now))
        .expect("driver ran");
    // Keep answering for a moment so the kernel's last ACK of our FIN is handled.
    let _ = driver.run(Limits::duration(Duration::from_millis(200)), |_, _| {
        ControlFlow::Continue(())
    });
    let out = server
        .wait_timeout(Duration::from_secs(10))
        .expect("python server finished");
    assert_eq!(exit, Exit::Done, "client: {:?}", client.error);
    assert_eq!(client.error, None);
    assert!(
        out.status.success(),
        "server: {} {}",
        out.stdout_text(),
        out.stderr_text()
    );
    assert_eq!(out.stdout_text().trim(), format!("{len} ok"));
    assert_eq!(client.received.len(), len);
    assert!(
        client.received == client.data,
        "client received other bytes"
    );
    let off = driver.tun().offload_stats();
    println!("{test}: {:?}; {off:?}", driver.stats());
    if offload {
        assert!(
            off.super_packets > 0,
            "no super-packets from the kernel: {off:?}"
        );
        assert!(
            off.super_packets_out > 0,
            "none of our runs went out as one: {off:?}"
        );
        assert_eq!(off.malformed, 0, "{off:?}");
    }
}

#[test]
fn synack_client_to_linux_server_v4() {
    synack_client_to_linux_server(false, false);
}

#[test]
fn synack_client_to_linux_server_v4_offload() {
    synack_client_to_linux_server(false, true);
}

#[test]
fn synack_client_to_linux_server_v6() {
    synack_client_to_linux_server(true, false);
}

#[test]
fn synack_client_to_linux_server_v6_offload() {
    synack_client_to_linux_server(true, true);
}

/// Linux's view of a connection to our stack shows the options our side says were
/// negotiated: `TCP_INFO` (timestamps, SACK, window scaling and both scales) read by the
/// client, and the scales in `ss -tin` inside the namespace. (ss 6.1 on a 6.18 kernel
/// prints no `ts`/`sack` even between two Linux sockets, so those come from `TCP_INFO`.)
#[test]
fn linux_view_of_a_connection_matches_ours() {
    let test = "linux_view_of_a_connection_matches_ours";
    if !can_run(test) {
        return;
    }
    let (ns, cfg, mut driver) = setup("ssview", false);
    let st = driver.handler_mut();
    let l = st.socket(Family::V4).unwrap();
    st.bind(l, SocketAddr::new(cfg.ours_v4.into(), 7)).unwrap();
    st.listen(l, 4).unwrap();
    // The client holds the connection open until we close it (or 15 s pass).
    let script = r#"
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=15)
b = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
# struct tcp_info: byte 5 tcpi_options; byte 6 snd_wscale (low nibble), rcv_wscale (high).
print("options", b[5] & 7, "wscale", b[6] & 15, b[6] >> 4, flush=True)
while s.recv(4096):
    pass
print("closed")
"#;
    let host = cfg.ours_v4.to_string();
    let client = ns
        .spawn(&["python3", "-c", script, &host])
        .expect("start python client");
    let stop = driver.handle();
    let (info_tx, info_rx) = std::sync::mpsc::channel();
    let close = std::sync::atomic::AtomicBool::new(false);
    let (ss, client_out) = std::thread::scope(|s| {
        let _guard = stop.stop_on_drop();
        let drv = &mut driver;
        let close = &close;
        let d = s.spawn(move || {
            let (mut conn, mut closed) = (None, false);
            // Runs until stopped: after our close the kernel's FIN still needs an ACK.
            drv.run(Limits::duration(RUN_LIMIT), |st, now| {
                match conn {
                    None if !closed => {
                        if let Ok((c, _)) = st.accept(l) {
                            conn = Some(c);
                            let _ = info_tx.send(st.tcp_info(c));
                        }
                    }
                    Some(c) if close.load(std::sync::atomic::Ordering::SeqCst) => {
                        let _ = st.close(now, c);
                        (conn, closed) = (None, true);
                    }
                    _ => {}
                }
                ControlFlow::Continue(())
            })
        });
        let info = info_rx.recv_timeout(Duration::from_secs(15));
        let ss = ns.exec(
            &["ss", "-tin", "state", "established", "dport", "=", ":7"],
            Duration::from_secs(10),
        );
        close.store(true, std::sync::atomic::Ordering::SeqCst);
        stop.wake();
        let client_out = client.wait_timeout(Duration::from_secs(15));
        // Answer the kernel's last ACKs, then stop.
        std::thread::sleep(Duration::from_millis(200));
        stop.stop();
        assert_eq!(
            d.join().expect("driver thread").expect("driver ran"),
            Exit::Stopped
        );
        ((info, ss), client_out)
    });
    let (info, ss) = ss;
    let info = info.expect("accepted").expect("tcp_info");
    let ss = ss.expect("ss ran").stdout_text();
    println!("ours: {info:?}\nss -tin:\n{ss}");
    assert!(
        ss.contains(&format!("{}:7", cfg.ours_v4)),
        "no connection: {ss}"
    );
    // Linux prints its send scale first: our receive scale, then our send scale.
    let ws = format!("wscale:{},{}", info.rcv_wscale, info.snd_wscale);
    assert!(ss.contains(&ws), "expected {ws}: {ss}");
    let out = client_out.expect("python client finished");
    assert!(out.status.success(), "{}", out.stderr_text());
    // RFC 7323 / RFC 2018 options as tcpi_options has them (1 TS, 2 SACK, 4 WS), and
    // Linux's scales are ours swapped.
    let linux = format!(
        "options {} wscale {} {}\nclosed",
        info.options & 7,
        info.rcv_wscale,
        info.snd_wscale
    );
    assert_eq!(out.stdout_text().trim(), linux);
    assert_eq!(info.options & 7, 7, "TS, SACK and WS with Linux defaults");
}

/// Sysctl settings for one side.
type Sysctls<'a> = &'a [(&'a str, &'a str)];

/// Bytes each way in the negotiation matrix.
const LEN_MATRIX: usize = 64 * 1024;

/// One option off on one side: the connection goes without it, both ends say so, and the
/// data still arrives byte-exact. (Item 4 of the TUN issue, against the real kernel.)
fn matrix(tag: &str, key: &str, linux_side: bool, bit: u8) {
    let set = [(key, "0")];
    let (linux, ours): (Sysctls, Sysctls) = if linux_side { (&set, &[]) } else { (&[], &set) };
    if let Some(info) = linux_client_case(tag, false, false, LEN_MATRIX, linux, ours) {
        // tcpi_options: 1 timestamps, 2 SACK, 4 window scaling.
        assert_eq!(info.options & bit, 0, "{key} off, yet negotiated: {info:?}");
        assert_eq!(info.options | bit, 7, "only {key} is off: {info:?}");
    }
}

#[test]
fn matrix_sack_off_on_linux() {
    matrix("nosackL", "net.ipv4.tcp_sack", true, 2);
}

#[test]
fn matrix_sack_off_on_ours() {
    matrix("nosackO", "net.ipv4.tcp_sack", false, 2);
}

#[test]
fn matrix_timestamps_off_on_linux() {
    matrix("notsL", "net.ipv4.tcp_timestamps", true, 1);
}

#[test]
fn matrix_timestamps_off_on_ours() {
    matrix("notsO", "net.ipv4.tcp_timestamps", false, 1);
}

#[test]
fn matrix_window_scaling_off_on_linux() {
    matrix("nowsL", "net.ipv4.tcp_window_scaling", true, 4);
}

#[test]
fn matrix_window_scaling_off_on_ours() {
    matrix("nowsO", "net.ipv4.tcp_window_scaling", false, 4);
}

#[test]
fn matrix_ecn_requested_by_linux() {
    linux_client_case(
        "ecnL",
        false,
        false,
        LEN_MATRIX,
        &[("net.ipv4.tcp_ecn", "1")],
        &[],
    );
}

#[test]
fn matrix_ecn_enabled_on_ours() {
    linux_client_case(
        "ecnO",
        false,
        false,
        LEN_MATRIX,
        &[("net.ipv4.tcp_ecn", "1")],
        &[("net.ipv4.tcp_ecn", "1")],
    );
}
