//! Linux's kernel TCP through std sockets, inside a private network namespace.
//!
//! [`Netns::create`] makes `synack-bench-<pid>-<n>` with `ip netns add`, brings its `lo`
//! up and sets the namespace's own sysctls; the workload runs on a thread that has joined
//! it with `setns(2)`, on 127.0.0.1 only; dropping the [`Netns`] deletes it (also when the
//! workload failed or panicked; [`remove_stale`] clears those of a killed run). The root
//! namespace's configuration is never touched.
//! The workloads run on one thread with the client and server sockets side by side (as the
//! in-process stacks do), so Linux does its loopback delivery in the sender's context.

use crate::{Bulk, Many, RR_MESSAGE, Run};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static SERIAL: AtomicU32 = AtomicU32::new(0);

/// Whether this process may create network namespaces (it runs as root).
pub fn available() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A private network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes `synack-bench-<pid>-<n>` namespaces left by a run of ours that was killed
/// (its process no longer exists), so an interrupted run does not leak them.
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return removed;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("synack-bench-") else {
            continue;
        };
        let Some(Ok(pid)) = rest.split('-').next().map(str::parse::<u32>) else {
            continue;
        };
        if pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            && ip(&["netns", "del", &name]).is_ok()
        {
            removed.push(name);
        }
    }
    removed
}

impl Netns {
    /// Creates the namespace, brings `lo` up with `mtu`, and sets `sysctls` (name, value)
    /// inside it.
    pub fn create(mtu: u32, sysctls: &[(&str, &str)]) -> Result<Netns, String> {
        let name = format!(
            "synack-bench-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name])?;
        // From here on, drop deletes the namespace whatever happens next.
        let ns = Netns { name };
        let mtu = mtu.to_string();
        ip(&["-n", &ns.name, "link", "set", "lo", "mtu", &mtu, "up"])?;
        for (k, v) in sysctls {
            let kv = format!("{k}={v}");
            let out = Command::new("ip")
                .args(["netns", "exec", &ns.name, "sysctl", "-q", "-w", &kv])
                .output()
                .map_err(|e| format!("sysctl {kv}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "sysctl {kv} in {}: {}",
                    ns.name,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on a new thread inside the namespace and returns its result (a panic in
    /// `f` becomes an error).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
                // SAFETY: a valid namespace fd; CLONE_NEWNET moves only this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
                }
                f()
            })
            .join()
            .unwrap_or_else(|_| Err("linux: workload panicked".into()))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

fn set_int(fd: i32, level: i32, name: i32, v: i32) -> Result<(), String> {
    // SAFETY: `v` outlives the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(format!("setsockopt: {}", std::io::Error::last_os_error()))
    }
}

/// `SO_SNDBUF` and `SO_RCVBUF` set to half of `buffer` (Linux doubles them).
fn set_buffers(fd: i32, buffer: usize) -> Result<(), String> {
    let half = i32::try_from(buffer / 2).unwrap_or(i32::MAX);
    set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, half)?;
    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, half)
}

/// A client socket with its buffers set before `connect` (so the window scale follows).
fn connect_with_buffers(to: SocketAddr, buffer: usize) -> Result<TcpStream, String> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh socket we own; the stream closes it.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    set_buffers(fd, buffer)?;
    let SocketAddr::V4(v4) = to else {
        return Err("linux: IPv4 only".into());
    };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a valid sockaddr_in and its size is passed.
    let r = unsafe {
        libc::connect(
            fd,
            (&sin as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(format!("connect: {}", std::io::Error::last_os_error()));
    }
    Ok(stream)
}

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("linux: {what}: {e}")
}

/// Bulk: `w.bytes` one way on 127.0.0.1 with `lo` at `w.mtu`, both sockets non-blocking
/// on one thread: write until the send buffer is full, then read until nothing is left.
pub fn bulk(w: Bulk) -> Result<Run, String> {
    let ns = Netns::create(u32::from(w.mtu).max(1280), &[])?;
    ns.run(|| {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 5001)).map_err(io("bind"))?;
        // Inherited by the accepted socket; set before any SYN arrives.
        set_buffers(l.as_raw_fd(), w.buffer)?;
        let mut c = connect_with_buffers(l.local_addr().map_err(io("getsockname"))?, w.buffer)?;
        let (mut s, _) = l.accept().map_err(io("accept"))?;
        c.set_nonblocking(true).map_err(io("nonblocking"))?;
        s.set_nonblocking(true).map_err(io("nonblocking"))?;
        let app = vec![0x5au8; 64 << 10];
        let mut sink = vec![0u8; 64 << 10];
        let (mut written, mut read) = (0u64, 0u64);
        let t0 = std::time::Instant::now();
        while read < w.bytes {
            while written < w.bytes {
                let n = (w.bytes - written).min(app.len() as u64) as usize;
                match c.write(&app[..n]) {
                    Ok(k) => written += k as u64,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io("write")(e)),
                }
            }
            loop {
                match s.read(&mut sink) {
                    Ok(0) => return Err("linux: unexpected end of stream".into()),
                    Ok(k) => read += k as u64,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(io("read")(e)),
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        if sink[0] != 0x5a {
            return Err("linux: received bytes differ".into());
        }
        Ok(Run { secs, stalls: 0 })
    })
}

/// Raises this process's open-file limit to at least `n` (root may raise the hard limit).
fn raise_nofile(n: u64) -> Result<(), String> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if r.rlim_cur >= n {
        return Ok(());
    }
    r.rlim_cur = n;
    let hard = r.rlim_max;
    r.rlim_max = r.rlim_max.max(n);
    // SAFETY: `r` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(format!(
            "needs {n} open files, above the hard limit of {hard} here, which this process \
             may not raise ({})",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Many active: `w.conns` connections on 127.0.0.1 (`lo` MTU 1500, ephemeral ports
/// 1024–65535) opened in waves of 1000 (untimed), then every socket non-blocking on one
/// thread, each connection moving `w.bytes` each way in rounds (see [`Many`]).
pub fn many(w: Many) -> Result<Run, String> {
    raise_nofile(2 * w.conns as u64 + 64)?;
    let ns = Netns::create(
        1500,
        &[
            ("net.ipv4.ip_local_port_range", "1024 65535"),
            ("net.core.somaxconn", "4096"),
        ],
    )?;
    ns.run(|| {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 5002)).map_err(io("bind"))?;
        set_buffers(l.as_raw_fd(), w.buffer)?;
        // A backlog for a whole wave (std listens with 128); listen(2) again only resizes.
        // SAFETY: `l` is a bound, listening socket we own.
        if unsafe { libc::listen(l.as_raw_fd(), 4096) } != 0 {
            return Err(format!("listen: {}", std::io::Error::last_os_error()));
        }
        let to = l.local_addr().map_err(io("getsockname"))?;
        let mut ends: Vec<TcpStream> = Vec::with_capacity(2 * w.conns);
        while ends.len() < 2 * w.conns {
            let wave = (w.conns - ends.len() / 2).min(1000);
            let mut clients = Vec::with_capacity(wave);
            for _ in 0..wave {
                clients.push(connect_with_buffers(to, w.buffer)?);
            }
            for c in clients {
                let (s, _) = l.accept().map_err(io("accept"))?;
                ends.push(c);
                ends.push(s);
            }
        }
        for e in &ends {
            e.set_nonblocking(true).map_err(io("nonblocking"))?;
        }
        let app = vec![0x5au8; w.round];
        let mut sink = vec![0u8; 64 << 10];
        let mut sent = vec![0u64; ends.len()];
        let mut got = vec![0u64; ends.len()];
        let (mut read, total) = (0u64, w.total());
        let t0 = std::time::Instant::now();
        while read < total {
            for (k, e) in ends.iter_mut().enumerate() {
                let n = (w.bytes - sent[k]).min(w.round as u64) as usize;
                if n == 0 {
                    continue;
                }
                match e.write(&app[..n]) {
                    Ok(m) => sent[k] += m as u64,
                    Err(x) if x.kind() == ErrorKind::WouldBlock => {}
                    Err(x) => return Err(io("write")(x)),
                }
            }
            for (k, e) in ends.iter_mut().enumerate() {
                while got[k] < w.bytes {
                    match e.read(&mut sink) {
                        Ok(0) => return Err("linux: unexpected end of stream".into()),
                        Ok(m) => {
                            got[k] += m as u64;
                            read += m as u64;
                        }
                        Err(x) if x.kind() == ErrorKind::WouldBlock => break,
                        Err(x) => return Err(io("read")(x)),
                    }
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        if sink[0] != 0x5a {
            return Err("linux: received bytes differ".into());
        }
        Ok(Run { secs, stalls: 0 })
    })
}

/// Request/response: `count` round trips of 1 KiB each way with TCP_NODELAY, blocking
/// sockets on one thread.
pub fn request_response(count: u64) -> Result<Run, String> {
    let ns = Netns::create(65536, &[])?;
    ns.run(|| {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 7)).map_err(io("bind"))?;
        let mut c = TcpStream::connect(l.local_addr().map_err(io("getsockname"))?)
            .map_err(io("connect"))?;
        let (mut s, _) = l.accept().map_err(io("accept"))?;
        c.set_nodelay(true).map_err(io("nodelay"))?;
        s.set_nodelay(true).map_err(io("nodelay"))?;
        let req = [0x11u8; RR_MESSAGE];
        let resp = [0x22u8; RR_MESSAGE];
        let mut buf = [0u8; RR_MESSAGE];
        let t0 = std::time::Instant::now();
        for _ in 0..count {
            c.write_all(&req).map_err(io("write"))?;
            s.read_exact(&mut buf).map_err(io("read"))?;
            s.write_all(&resp).map_err(io("write"))?;
            c.read_exact(&mut buf).map_err(io("read"))?;
        }
        let secs = t0.elapsed().as_secs_f64();
        if buf != resp {
            return Err("linux: response bytes differ".into());
        }
        Ok(Run { secs, stalls: 0 })
    })
}

/// Connection churn: `count` cycles of connect, accept, one byte each way, close by the
/// client, end of stream and close by the server; blocking sockets on one thread. A fresh
/// namespace per run, ephemeral ports 1024–65535 in it, so the clients' TIME_WAITs
/// (which last 60 s) never run out of ports below 64,000 cycles. `buffer`: both buffers'
/// size as the socket holds it, or `None` for the kernel's defaults.
pub fn churn(count: u64, buffer: Option<usize>) -> Result<Run, String> {
    if count > 64_000 {
        return Err("linux: churn is limited to 64,000 cycles per run (ephemeral ports)".into());
    }
    let ns = Netns::create(65536, &[("net.ipv4.ip_local_port_range", "1024 65535")])?;
    ns.run(|| {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 80)).map_err(io("bind"))?;
        if let Some(b) = buffer {
            set_buffers(l.as_raw_fd(), b)?;
        }
        let to = l.local_addr().map_err(io("getsockname"))?;
        let mut one = [0u8; 1];
        let t0 = std::time::Instant::now();
        for _ in 0..count {
            let mut c = match buffer {
                Some(b) => connect_with_buffers(to, b)?,
                None => TcpStream::connect(to).map_err(io("connect"))?,
            };
            let (mut s, _) = l.accept().map_err(io("accept"))?;
            c.write_all(b"q").map_err(io("write"))?;
            s.read_exact(&mut one).map_err(io("read"))?;
            s.write_all(b"r").map_err(io("write"))?;
            c.read_exact(&mut one).map_err(io("read"))?;
            drop(c);
            if s.read(&mut one).map_err(io("read"))? != 0 {
                return Err("linux: server expected end of stream".into());
            }
            drop(s);
        }
        Ok(Run {
            secs: t0.elapsed().as_secs_f64(),
            stalls: 0,
        })
    })
}
