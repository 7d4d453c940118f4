//! Interop between the real `synack` binary and Linux's TCP, each test inside a network
//! namespace of its own (addresses 198.18.0.0/24 and fd00::/64 exist only there; the
//! namespace is removed on drop, also when a test fails):
//!
//! - Linux clients to `synack serve`: curl fetches the page and a generated file
//!   (SHA-256 compared; 8 MB by default, 100 MB with `SYNACK_INTEROP_FULL=1`), a python3
//!   client exchanges data both ways with half-close, nc (when installed) too, ping answers.
//! - `synack connect` to Linux servers (python3): byte-exact each way.
//! - Linux's view: `ss -tin` in the namespace shows the options we negotiated.
//!
//! Without root, `/dev/net/tun`, `ip` or a needed tool: `SKIP: ...` and pass.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use synack_tun::netns::{self, Netns, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_synack");
const OURS_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const OURS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

/// The size of the large transfers: 8 MB, or 100 MB with `SYNACK_INTEROP_FULL=1`.
fn big() -> usize {
    if std::env::var("SYNACK_INTEROP_FULL").is_ok_and(|v| v == "1") {
        100_000_000
    } else {
        8_000_000
    }
}

/// Byte `i` is `(7i + i/251) mod 256`, as `synack serve`'s `/bytes/N` and
/// `synack connect --send-bytes` make it.
fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i.wrapping_mul(7).wrapping_add(i / 251)) & 0xff) as u8)
        .collect()
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Whether namespace tests and the given commands are available; prints `SKIP` if not.
fn can_run(test: &str, cmds: &[&str]) -> bool {
    if !netns::can_run(test) {
        return false;
    }
    for c in cmds {
        if !netns::have_command(c) {
            println!("SKIP: {test}: {c} is missing");
            return false;
        }
    }
    true
}

/// A running `synack serve` in a namespace; stopped with SIGTERM (or killed) on drop.
struct Server {
    proc: Option<Proc>,
    control: PathBuf,
}

impl Server {
    /// Starts `synack serve` on device `dev` with the kernel at 198.18.0.1/24 and
    /// fd00::1/64, us at .2 and ::2, echo on 7, discard on 9, HTTP on 80.
    fn start(ns: &Netns, dev: &str, extra: &[&str]) -> Server {
        let control =
            std::env::temp_dir().join(format!("synack-interop-{}-{dev}.sock", std::process::id()));
        let _ = std::fs::remove_file(&control);
        let ctl = control.to_string_lossy().into_owned();
        let mut argv = vec![
            BIN,
            "serve",
            "--tun",
            dev,
            "--addr",
            "198.18.0.2/24",
            "--host-addr",
            "198.18.0.1/24",
            "--addr6",
            "fd00::2/64",
            "--host-addr6",
            "fd00::1/64",
            "--echo",
            "7",
            "--discard",
            "9",
            "--http",
            "80",
            "--control",
            &ctl,
            // Bounded even if nobody stops it.
            "--duration",
            "240",
        ];
        argv.extend_from_slice(extra);
        let mut proc = ns.spawn(&argv).expect("synack serve started");
        // Ready once the control socket exists (it is bound after every service).
        let t = Instant::now();
        while !control.exists() {
            if proc.has_exited().unwrap_or(true) {
                let out = proc.wait_timeout(Duration::from_secs(1));
                panic!("synack serve exited early: {out:?}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "synack serve not ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            proc: Some(proc),
            control,
        }
    }

    /// `synack ss --control ...`.
    fn ss(&self) -> String {
        let out = std::process::Command::new(BIN)
            .args(["ss", "--control"])
            .arg(&self.control)
            .output()
            .expect("synack ss ran");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGTERM, then the output (the server must exit cleanly).
    fn stop(mut self) -> netns::ProcOutput {
        let p = self.proc.take().expect("running");
        if let Some(pid) = p.id() {
            // SAFETY: kill(2) on the pid of our own child, which is not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        p.wait_timeout(Duration::from_secs(20))
            .expect("synack serve stopped on SIGTERM")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A Proc still here is killed by its own drop.
        let _ = std::fs::remove_file(&self.control);
    }
}

#[test]
fn curl_fetches_the_page_and_a_large_file_and_ping_answers() {
    let test = "curl_fetches_the_page_and_a_large_file_and_ping_answers";
    if !can_run(test, &["curl"]) {
        return;
    }
    let ns = Netns::new("icurl").expect("namespace");
    let dir = std::env::temp_dir().join(format!("synack-interop-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("serve.pcap");
    let pcap_s = pcap.to_string_lossy().into_owned();
    let srv = Server::start(&ns, "icurl0", &["--pcap", &pcap_s]);

    // The page, over IPv4 and IPv6.
    for url in ["http://198.18.0.2/", "http://[fd00::2]/"] {
        let out = ns
            .exec(&["curl", "-sS", "-m", "20", url], Duration::from_secs(30))
            .expect("curl ran");
        assert!(out.status.success(), "{url}: {}", out.stderr_text());
        assert!(
            out.stdout_text().contains("Hello from synack"),
            "{url}: {}",
            out.stdout_text()
        );
    }

    // A large generated file, compared by SHA-256.
    let n = big();
    let file = dir.join("bytes");
    let file_s = file.to_string_lossy().into_owned();
    let url = format!("http://198.18.0.2/bytes/{n}");
    let out = ns
        .exec(
            &["curl", "-sS", "-m", "200", "-o", &file_s, &url],
            Duration::from_secs(210),
        )
        .expect("curl ran");
    assert!(out.status.success(), "{}", out.stderr_text());
    let body = std::fs::read(&file).expect("downloaded file");
    assert_eq!(body.len(), n);
    assert_eq!(sha256(&body), sha256(&pattern(n)), "the file differs");

    // ICMP echo through the same stack.
    assert_eq!(ns.ping(OURS_V4, 3).expect("ping"), 3);
    assert_eq!(ns.ping(OURS_V6, 3).expect("ping6"), 3);

    let out = srv.stop();
    assert!(out.status.success(), "{}", out.stderr_text());
    assert!(
        out.stderr_text().contains(" 0 send errors"),
        "{}",
        out.stderr_text()
    );
    // The capture was finished on SIGTERM: a pcap header and packets.
    let cap = std::fs::read(&pcap).expect("capture file");
    assert!(cap.len() > 24 + n, "capture holds {} bytes", cap.len());
    let _ = std::fs::remove_dir_all(&dir);
}

const PY_CLIENT: &str = r#"
import socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# The pattern repeats every 251 * 256 bytes, so one period is enough to build it fast.
period = bytes(((i * 7 + i // 251) % 256) for i in range(251 * 256))
data = (period * (n // len(period) + 1))[:n]
s = socket.create_connection((host, port), timeout=60)
got = bytearray()
def reader():
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        got.extend(b)
t = threading.Thread(target=reader)
t.start()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
t.join(120)
print(len(got), "ok" if bytes(got) == data else "MISMATCH")
"#;

#[test]
fn python_client_exchanges_both_ways_with_half_close() {
    let test = "python_client_exchanges_both_ways_with_half_close";
    if !can_run(test, &["python3"]) {
        return;
    }
    let ns = Netns::new("ipy").expect("namespace");
    let srv = Server::start(&ns, "ipy0", &[]);
    let n = big();
    let ns_s = n.to_string();
    for host in ["198.18.0.2", "fd00::2"] {
        let out = ns
            .exec(
                &["python3", "-c", PY_CLIENT, host, "7", &ns_s],
                Duration::from_secs(180),
            )
            .expect("python client ran");
        assert_eq!(
            out.stdout_text().trim(),
            format!("{n} ok"),
            "{host}: {}",
            out.stderr_text()
        );
    }
    let out = srv.stop();
    assert!(out.status.success(), "{}", out.stderr_text());
}

#[test]
fn nc_exchanges_with_half_close() {
    let test = "nc_exchanges_with_half_close";
    if !can_run(test, &["nc", "sh"]) {
        return;
    }
    let ns = Netns::new("inc").expect("namespace");
    let srv = Server::start(&ns, "inc0", &[]);
    let dir = std::env::temp_dir().join(format!("synack-interop-nc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = big();
    let input = dir.join("in");
    std::fs::write(&input, pattern(n)).unwrap();
    let output = dir.join("out");
    // OpenBSD nc: -N shuts the socket down for writing at stdin's EOF, then reads on.
    let script = format!(
        "nc -N -w 30 198.18.0.2 7 < {} > {}",
        input.display(),
        output.display()
    );
    let out = ns
        .exec(&["sh", "-c", &script], Duration::from_secs(120))
        .expect("nc ran");
    if !out.status.success() && out.stderr_text().contains("invalid option") {
        println!("SKIP: {test}: this nc has no -N (not netcat-openbsd)");
        return;
    }
    assert!(out.status.success(), "{}", out.stderr_text());
    let got = std::fs::read(&output).unwrap();
    assert_eq!(got.len(), n);
    assert!(got == pattern(n), "nc received other bytes");
    let _ = std::fs::remove_dir_all(&dir);
    let out = srv.stop();
    assert!(out.status.success(), "{}", out.stderr_text());
}

/// Holds a connection to our echo server open while `ss -tin` looks at it from Linux's
/// side; `synack ss` shows it too.
const PY_HOLD: &str = r#"
import socket, sys, time
s = socket.create_connection(("198.18.0.2", 7), timeout=20)
s.sendall(b"x" * 10000)
got = 0
while got < 10000:
    got += len(s.recv(65536))
sys.stdout.write("connected\n"); sys.stdout.flush()
time.sleep(float(sys.argv[1]))
s.close()
"#;

#[test]
fn ss_in_the_namespace_shows_the_negotiated_options() {
    let test = "ss_in_the_namespace_shows_the_negotiated_options";
    if !can_run(test, &["python3", "ss"]) {
        return;
    }
    let ns = Netns::new("iss").expect("namespace");
    let srv = Server::start(&ns, "iss0", &[]);
    let hold = ns
        .spawn(&["python3", "-c", PY_HOLD, "4"])
        .expect("python started");
    // Bounded poll until the connection shows up established on both sides.
    let t = Instant::now();
    let (linux, ours) = loop {
        let out = ns
            .exec(
                &["ss", "-tin", "state", "established", "dst", "198.18.0.2"],
                Duration::from_secs(10),
            )
            .expect("ss ran");
        let linux = out.stdout_text();
        let ours = srv.ss();
        if linux.contains("198.18.0.2:7") && ours.contains("ESTAB") {
            break (linux, ours);
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no connection: {linux}\n{ours}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Our view: RFC 7323 timestamps and RFC 2018 SACK agreed with Linux's SYN.
    let our_opts = ours
        .lines()
        .skip_while(|l| !(l.contains("ESTAB") && l.contains("198.18.0.2:7")))
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let words: Vec<&str> = our_opts.split_whitespace().collect();
    assert!(words.contains(&"ts") && words.contains(&"sack"), "{ours}");
    // Linux's view. (This host's iproute2 prints no `ts`/`sack` words even between two
    // Linux sockets, so they are read from what they imply.) Timestamps: Linux's MSS is
    // 1460 less the 12 bytes of the option (RFC 7323 §3); window scaling: Linux's
    // `wscale:SND,RCV` is ours swapped (RFC 7323 §2.2, each side's own shift).
    let lw: Vec<&str> = linux.split_whitespace().collect();
    assert!(lw.contains(&"mss:1448"), "timestamps not in use:\n{linux}");
    let linux_ws = lw
        .iter()
        .find_map(|w| w.strip_prefix("wscale:"))
        .unwrap_or_else(|| panic!("no window scaling in Linux's view:\n{linux}"));
    let our_ws = words
        .iter()
        .find_map(|w| w.strip_prefix("wscale:"))
        .unwrap_or_else(|| panic!("no window scaling in our view:\n{ours}"));
    let swap = |s: &str| {
        let (a, b) = s.split_once(',').unwrap_or((s, ""));
        format!("{b},{a}")
    };
    assert_eq!(swap(our_ws), linux_ws, "Linux:\n{linux}\nours:\n{ours}");
    assert!(
        ours.contains("198.18.0.2:7") && ours.contains("198.18.0.1:"),
        "{ours}"
    );
    let out = hold.wait_timeout(Duration::from_secs(20)).expect("python");
    assert_eq!(
        out.stdout_text().trim(),
        "connected",
        "{}",
        out.stderr_text()
    );
    let out = srv.stop();
    assert!(out.status.success(), "{}", out.stderr_text());
}

/// A Linux server for `synack connect`: sends N generated bytes, or reads and checks
/// them. `IP_FREEBIND` (15) lets it bind 198.18.0.1 before `synack connect` has created
/// the device that carries it.
const PY_SERVER: &str = r#"
import socket, sys
mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# The pattern repeats every 251 * 256 bytes, so one period is enough to build it fast.
period = bytes(((i * 7 + i // 251) % 256) for i in range(251 * 256))
data = (period * (n // len(period) + 1))[:n]
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_IP, 15, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("198.18.0.1", port))
l.listen(1)
l.settimeout(60)
sys.stdout.write("listening\n"); sys.stdout.flush()
c, _ = l.accept()
c.settimeout(120)
if mode == "send":
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    print("sent", n)
else:
    got = bytearray()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        got.extend(b)
    print(len(got), "ok" if bytes(got) == data else "MISMATCH")
c.close()
"#;

/// Runs `synack connect` through its own TUN device to a python server in `ns`.
fn synack_connect(ns: &Netns, dev: &str, port: &str, mode: &[&str]) -> netns::ProcOutput {
    let mut argv = vec![
        BIN,
        "connect",
        "198.18.0.1",
        port,
        "--tun",
        dev,
        "--addr",
        "198.18.0.2/24",
        "--host-addr",
        "198.18.0.1/24",
        "--timeout",
        "150",
    ];
    argv.extend_from_slice(mode);
    ns.exec(&argv, Duration::from_secs(170))
        .expect("synack connect ran")
}

fn wait_listening(p: &mut Proc, port: &str, ns: &Netns) {
    let t = Instant::now();
    loop {
        let out = ns
            .exec(&["ss", "-tln", "sport", "=", port], Duration::from_secs(10))
            .expect("ss ran");
        if out.stdout_text().contains(&format!(":{port}")) {
            return;
        }
        assert!(!p.has_exited().unwrap_or(true), "python server exited");
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "server not listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn synack_connect_to_linux_servers_is_byte_exact_each_way() {
    let test = "synack_connect_to_linux_servers_is_byte_exact_each_way";
    if !can_run(test, &["python3", "ss"]) {
        return;
    }
    let ns = Netns::new("iconn").expect("namespace");
    let n = big();
    let ns_s = n.to_string();

    // Linux sends, we receive: the SHA-256 `synack connect` prints must match.
    let mut srv = ns
        .spawn(&["python3", "-c", PY_SERVER, "send", "5001", &ns_s])
        .expect("python server");
    wait_listening(&mut srv, "5001", &ns);
    let out = synack_connect(&ns, "iconn0", "5001", &["--recv-bytes", &ns_s]);
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(
        out.stdout_text().trim(),
        format!("received {n} bytes sha256 {}", sha256(&pattern(n))),
        "{}",
        out.stderr_text()
    );
    let s = srv.wait_timeout(Duration::from_secs(30)).expect("server");
    assert_eq!(
        s.stdout_text().lines().last(),
        Some(format!("sent {n}").as_str()),
        "{}",
        s.stderr_text()
    );

    // We send, Linux checks every byte.
    let mut srv = ns
        .spawn(&["python3", "-c", PY_SERVER, "recv", "5002", &ns_s])
        .expect("python server");
    wait_listening(&mut srv, "5002", &ns);
    let out = synack_connect(&ns, "iconn1", "5002", &["--send-bytes", &ns_s]);
    assert!(out.status.success(), "{}", out.stderr_text());
    assert!(
        out.stderr_text().contains(&format!("sent {n} bytes")),
        "{}",
        out.stderr_text()
    );
    let s = srv.wait_timeout(Duration::from_secs(30)).expect("server");
    assert_eq!(
        s.stdout_text().lines().last(),
        Some(format!("{n} ok").as_str()),
        "{}",
        s.stderr_text()
    );

    // netcat mode: stdin to the socket with a half-close, the answer to stdout.
    let mut srv = ns
        .spawn(&["python3", "-c", PY_SERVER, "recv", "5003", "5"])
        .expect("python server");
    wait_listening(&mut srv, "5003", &ns);
    let script = format!(
        "printf '\\000\\007\\016\\025\\034' | {BIN} connect 198.18.0.1 5003 --tun iconn2 \
         --addr 198.18.0.2/24 --host-addr 198.18.0.1/24 --timeout 30"
    );
    let out = ns
        .exec(&["sh", "-c", &script], Duration::from_secs(40))
        .expect("netcat mode ran");
    assert!(out.status.success(), "{}", out.stderr_text());
    let s = srv.wait_timeout(Duration::from_secs(30)).expect("server");
    assert_eq!(
        s.stdout_text().lines().last(),
        Some("5 ok"),
        "{}",
        s.stderr_text()
    );
}
