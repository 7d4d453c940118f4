//! TUN benchmarks for BENCHMARKS.md (root only; everything runs in namespaces this program
//! creates, with addresses in 198.18.0.0/15 that exist only there):
//!
//! - Linux↔Linux through a plain TUN-to-TUN forwarder (two namespaces, one TUN device in
//!   each, two threads of this program copying packets between them): the baseline.
//! - Linux↔synack: `synack serve` (tokio driver) discard and chargen, with and without
//!   offloads; `synack connect` (blocking driver) sending to and receiving from Linux.
//! - Connections per second accepted from a Linux client (connect, close), for synack
//!   serve and for Linux through the forwarder.
//!
//! Usage: `tun_bench SYNACK_BINARY [RUNS] [MEGABYTES] [CONN_SECONDS]` (defaults 5, 200, 2).
//! Prints one Markdown table row per case: the median and every run.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use synack_tun::netns::{self, Netns, Proc, TunNet};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn net(tun: &str, kernel: [u8; 4], ours: [u8; 4]) -> TunNet {
    TunNet {
        tun_name: tun.into(),
        kernel_v4: Ipv4Addr::from(kernel),
        ours_v4: Ipv4Addr::from(ours),
        prefix_v4: 24,
        kernel_v6: None,
        ..TunNet::default()
    }
}

/// Copies packets from `from` to `to` until `stop` (poll with a timeout so it notices).
/// The descriptors stay open: their `Tun`s outlive the threads (joined before they drop).
fn pump(rfd: RawFd, wfd: RawFd, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 65536];
    // SAFETY: fcntl on an open descriptor; reads below return EAGAIN instead of blocking.
    unsafe {
        let fl = libc::fcntl(rfd, libc::F_GETFL);
        libc::fcntl(rfd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    while !stop.load(Ordering::Relaxed) {
        // Moves everything queued, then sleeps in poll until more comes.
        loop {
            // SAFETY: reads into a live buffer of its length from an open descriptor.
            let n = unsafe { libc::read(rfd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            // SAFETY: writes `n` initialised bytes of `buf` to an open descriptor; a
            // refused packet is dropped, as a router would drop it.
            let _ = unsafe { libc::write(wfd, buf.as_ptr().cast(), n as usize) };
        }
        let mut p = libc::pollfd {
            fd: rfd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        unsafe { libc::poll(&mut p, 1, 100) };
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn row(name: &str, unit: &str, mut v: Vec<f64>) {
    let all: Vec<String> = v.iter().map(|x| format!("{x:.0}")).collect();
    let m = median(&mut v);
    println!("| {name} | {m:.0} {unit} | {} |", all.join(", "));
}

/// Sends `n` bytes on a kernel socket, half-closes, waits for the peer's close.
fn send_n(mut s: TcpStream, n: u64) -> std::io::Result<f64> {
    let buf = vec![0x5au8; 256 * 1024];
    let t = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..k])?;
        left -= k as u64;
    }
    s.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 1024];
    while s.read(&mut sink)? != 0 {}
    Ok(n as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e6)
}

/// Reads `n` bytes from a kernel socket (or until EOF); Mbit/s from the first byte.
fn recv_n(mut s: TcpStream, n: u64) -> std::io::Result<f64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    let k = s.read(&mut buf)?;
    let t = Instant::now();
    got += k as u64;
    while got < n {
        let k = s.read(&mut buf)?;
        if k == 0 {
            break;
        }
        got += k as u64;
    }
    Ok(got.saturating_sub(k as u64) as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e6)
}

/// Connects and closes for `secs`; connections per second.
fn churn(addr: SocketAddr, secs: f64) -> std::io::Result<f64> {
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs && n < 1_000_000 {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        drop(s);
        n += 1;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

fn connect_in(ns: &Netns, addr: SocketAddr) -> Res<TcpStream> {
    Ok(ns.run_in(move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(10)).and_then(|s| {
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .map(|()| s)
        })
    })??)
}

fn listen_in(ns: &Netns, addr: SocketAddr) -> Res<TcpListener> {
    Ok(ns.run_in(move || TcpListener::bind(addr))??)
}

/// `synack serve` in `ns` with discard on 9 and chargen on 19.
fn serve(bin: &str, ns: &Netns, dev: &str, offload: bool) -> Res<(Proc, PathBuf)> {
    let control =
        std::env::temp_dir().join(format!("synack-bench-{}-{dev}.sock", std::process::id()));
    let _ = std::fs::remove_file(&control);
    let ctl = control.to_string_lossy().into_owned();
    let mut argv = vec![
        bin,
        "serve",
        "--tun",
        dev,
        "--addr",
        "198.18.2.2/24",
        "--host-addr",
        "198.18.2.1/24",
        "--discard",
        "9",
        "--chargen",
        "19",
        "--echo",
        "7",
        "--control",
        &ctl,
        "--duration",
        "600",
    ];
    if offload {
        argv.push("--offload");
    }
    let mut p = ns.spawn(&argv)?;
    let t = Instant::now();
    while !control.exists() {
        if p.has_exited()? || t.elapsed() > Duration::from_secs(20) {
            return Err("synack serve did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((p, control))
}

/// The client closes first, so its TIME_WAIT sockets hold ephemeral ports for 60 s; let
/// it reuse them (RFC 7323 timestamps make that safe) and use the whole port range, or
/// the connection-rate runs after the first measure Linux's port search instead.
fn client_sysctls(ns: &Netns) -> Res<()> {
    ns.sysctl("net.ipv4.tcp_tw_reuse", "1")?;
    ns.sysctl("net.ipv4.ip_local_port_range", "1024 65535")?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(bin) = args.first().cloned() else {
        eprintln!("usage: tun_bench SYNACK_BINARY [RUNS] [MEGABYTES] [CONN_SECONDS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(1).map_or(Ok(5), |s| s.parse())?;
    let bytes: u64 = args.get(2).map_or(Ok(200), |s| s.parse::<u64>())? * 1_000_000;
    let conn_secs: f64 = args.get(3).map_or(Ok(2.0), |s| s.parse())?;
    if !netns::can_run("tun_bench") {
        return Ok(());
    }
    println!("| case | median | runs |");
    println!("|---|---|---|");

    // Linux↔Linux through the forwarder: a (198.18.1.1) ↔ b (198.18.1.2).
    {
        let a = Netns::new("bencha")?;
        client_sysctls(&a)?;
        let b = Netns::new("benchb")?;
        let ta = a.tun_network(&net("fwa0", [198, 18, 1, 1], [198, 18, 1, 2]))?;
        let tb = b.tun_network(&net("fwb0", [198, 18, 1, 2], [198, 18, 1, 1]))?;
        let (fa, fb) = (ta.as_raw_fd(), tb.as_raw_fd());
        let stop = Arc::new(AtomicBool::new(false));
        let p1 = {
            let s = stop.clone();
            std::thread::spawn(move || pump(fa, fb, s))
        };
        let p2 = {
            let s = stop.clone();
            std::thread::spawn(move || pump(fb, fa, s))
        };
        let srv = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)), 5001);
        let l = listen_in(&b, srv)?;
        let mut v = Vec::new();
        for _ in 0..runs {
            let c = connect_in(&a, srv)?;
            let (s, _) = l.accept()?;
            let sink = std::thread::spawn(move || {
                let mut s = s;
                let mut buf = vec![0u8; 256 * 1024];
                while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
            });
            v.push(send_n(c, bytes)?);
            sink.join().map_err(|_| "sink panicked")?;
        }
        row("Linux → Linux, TUN forwarder", "Mbit/s", v);
        // Connections per second accepted by Linux through the forwarder.
        let stop_acc = Arc::new(AtomicBool::new(false));
        l.set_nonblocking(true)?;
        let acc = {
            let s = stop_acc.clone();
            std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok((c, _)) => drop(c),
                        Err(_) => std::thread::sleep(Duration::from_micros(200)),
                    }
                }
            })
        };
        let mut v = Vec::new();
        for _ in 0..runs {
            v.push(a.run_in(move || churn(srv, conn_secs))??);
        }
        row(
            "connections/s accepted, Linux server via forwarder",
            "conn/s",
            v,
        );
        stop_acc.store(true, Ordering::Relaxed);
        let _ = acc.join();
        stop.store(true, Ordering::Relaxed);
        let _ = (p1.join(), p2.join());
        drop((ta, tb));
    }

    // synack serve (tokio driver) with and without offloads.
    for offload in [false, true] {
        let tag = if offload { "offloads" } else { "no offloads" };
        let ns = Netns::new(if offload { "benchso" } else { "benchs" })?;
        client_sysctls(&ns)?;
        let (p, control) = serve(&bin, &ns, "bsrv0", offload)?;
        let discard = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 2, 2)), 9);
        let chargen = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 2, 2)), 19);
        let echo = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 2, 2)), 7);
        let mut up = Vec::new();
        let mut down = Vec::new();
        for _ in 0..runs {
            up.push(send_n(connect_in(&ns, discard)?, bytes)?);
            down.push(recv_n(connect_in(&ns, chargen)?, bytes)?);
        }
        row(
            &format!("Linux → synack serve (discard), {tag}"),
            "Mbit/s",
            up,
        );
        row(
            &format!("synack serve (chargen) → Linux, {tag}"),
            "Mbit/s",
            down,
        );
        if !offload {
            let mut v = Vec::new();
            for _ in 0..runs {
                v.push(ns.run_in(move || churn(echo, conn_secs))??);
            }
            row("connections/s accepted, synack serve", "conn/s", v);
        }
        // SAFETY: kill(2) on our own child's pid.
        if let Some(pid) = p.id() {
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        let _ = p.wait_timeout(Duration::from_secs(20));
        let _ = std::fs::remove_file(control);
    }

    // synack connect (blocking driver) to and from a Linux server.
    {
        let ns = Netns::new("benchc")?;
        let mut up = Vec::new();
        let mut down = Vec::new();
        let srv = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 3, 1)), 5002);
        let n = bytes.to_string();
        for (i, mode) in ["--send-bytes", "--recv-bytes"]
            .into_iter()
            .cycle()
            .take(2 * runs)
            .enumerate()
        {
            let l = ns.run_in(move || {
                let s = socket_freebind(srv)?;
                Ok::<_, std::io::Error>(s)
            })??;
            let dev = format!("bcon{i}");
            let p = ns.spawn(&[
                &bin,
                "connect",
                "198.18.3.1",
                "5002",
                "--tun",
                &dev,
                "--addr",
                "198.18.3.2/24",
                "--host-addr",
                "198.18.3.1/24",
                "--quiet",
                mode,
                &n,
            ])?;
            let (s, _) = l.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            if mode == "--send-bytes" {
                // Linux receives: Mbit/s from the first byte to the FIN.
                up.push(recv_n(s, bytes)?);
            } else {
                down.push(send_n(s, bytes)?);
            }
            let _ = p.wait_timeout(Duration::from_secs(60));
        }
        row(
            "synack connect (blocking) → Linux, no offloads",
            "Mbit/s",
            up,
        );
        row(
            "Linux → synack connect (blocking), no offloads",
            "Mbit/s",
            down,
        );
    }
    Ok(())
}

/// A listener on `addr` that may bind before the address exists (`IP_FREEBIND`), as the
/// device carrying it is created by the `synack connect` process started next.
fn socket_freebind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    // SAFETY: plain socket calls on a descriptor owned here; the sockaddr is a live local.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        use std::os::fd::FromRawFd;
        let l = TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        for opt in [
            (libc::SOL_IP, libc::IP_FREEBIND),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        ] {
            libc::setsockopt(fd, opt.0, opt.1, (&raw const one).cast(), 4);
        }
        let IpAddr::V4(ip) = addr.ip() else {
            return Err(std::io::Error::other("IPv4 only"));
        };
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        if libc::bind(
            fd,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        ) < 0
            || libc::listen(fd, 16) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(l)
    }
}
