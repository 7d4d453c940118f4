//! Test harness: throw-away Linux network namespaces with a TUN device inside.
//!
//! Everything a test does with real networking happens inside a namespace it creates
//! here, with addresses from 198.18.0.0/15 (RFC 2544 benchmarking) and fd00::/8 (RFC 4193
//! unique local) that exist only in that namespace. The root namespace is never
//! configured. A [`Netns`] removes its namespace when dropped (also while unwinding from a
//! panic), and the first [`Netns::new`] of a process removes namespaces left behind by
//! earlier runs of ours that crashed (names `synack-TAG-PID-N` whose PID is gone).
//!
//! Needs root (`CAP_SYS_ADMIN` and `CAP_NET_ADMIN`), `/dev/net/tun` and the `ip` command;
//! [`skip_reason`] says which is missing so tests can print `SKIP: ...` and pass.
//!
//! Kernel behaviour the harness accounts for (Linux 6.x):
//! - A TUN device is created in the namespace of the thread that opens `/dev/net/tun`, so
//!   [`Netns::open_tun`] opens it on a thread moved there with `setns(2)`; the descriptor
//!   then works from any thread. Interface ioctls by name (`SIOCGIFMTU`) resolve the name
//!   in the namespace of the socket used, so a [`Tun`] keeps a socket from its own.
//! - A new IPv6 address runs duplicate address detection (RFC 4862 §5.4) and cannot be
//!   used as a source for about a second; the addresses are added with `nodad`.
//! - Once up, the kernel sends its own IPv6 traffic into the device (router
//!   solicitations, MLD reports from a link-local address); handlers must ignore it.
//! - Writes to an `IFF_NO_PI` device must start with IP version 4 or 6 (else `EINVAL`).
//! - The kernel only builds TCP super-packets for the device after `TUNSETOFFLOAD`.
//! - Machines may have no `ping` (CI installs none): [`Netns::ping`] uses raw sockets,
//!   and the kernel fills in ICMPv6 checksums on raw ICMPv6 sockets (RFC 3542 §3.1).
//! - `ss` 6.1 on a 6.18 kernel prints no `ts`/`sack` in `ss -ti` even between two Linux
//!   sockets; `TCP_INFO` (`tcpi_options`) is the reliable view.

use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use crate::ping::ping;
use crate::tun::{Tun, TunOptions};

/// Prefix of every namespace this harness creates.
pub const PREFIX: &str = "synack-";
/// Where `ip netns` keeps its namespace handles.
pub const NETNS_DIR: &str = "/var/run/netns";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CLEANUP: Once = Once::new();

/// Why namespace tests cannot run here, or `None` if they can.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "not root (network namespaces and TUN need CAP_SYS_ADMIN/CAP_NET_ADMIN)".into(),
        );
    }
    if !crate::tun::tun_available() {
        return Some("/dev/net/tun is missing".into());
    }
    match Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => None,
        _ => Some("the `ip` command (iproute2) is missing".into()),
    }
}

/// Prints `SKIP: TEST: REASON` and returns false when namespace tests cannot run.
pub fn can_run(test: &str) -> bool {
    match skip_reason() {
        None => true,
        Some(why) => {
            println!("SKIP: {test}: {why}");
            false
        }
    }
}

/// Whether `cmd` is an executable on `PATH`.
pub fn have_command(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            let p = d.join(cmd);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    })
}

/// The PID a harness namespace name carries (`synack-TAG-PID-N`), if it is one of ours.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.rsplit('-');
    let n = parts.next()?;
    let pid = parts.next()?;
    parts.next()?; // the tag
    n.parse::<u32>().ok()?;
    pid.parse::<u32>().ok()
}

/// Removes harness namespaces whose creating process no longer exists; returns their
/// names. Namespaces of live processes (other tests running now) are left alone.
pub fn cleanup_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return removed;
    };
    for entry in dir.flatten().take(10_000) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if ip(&["netns", "del", &name]).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Runs `ip ARGS...` and fails with its standard error if it fails.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A network namespace created for one test, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace `synack-TAG-PID-N` (`tag`: letters, digits and `_`) with its
    /// loopback up. The first call in a process first removes stale namespaces.
    pub fn new(tag: &str) -> io::Result<Netns> {
        if tag.is_empty()
            || tag.len() > 32
            || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad namespace tag {tag:?}"),
            ));
        }
        CLEANUP.call_once(|| {
            for n in cleanup_stale() {
                eprintln!("netns: removed stale namespace {n}");
            }
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{tag}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on the guard owns the namespace: an error below still removes it.
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace handle file.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.name)
    }

    /// Runs `ip -n NAME ARGS...` (configuration inside the namespace only).
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Writes `value` to the network sysctl `key` (dotted, e.g. `net.ipv4.tcp_sack`)
    /// inside the namespace, through `/proc/sys` on a thread moved there (so no `sysctl`
    /// command is needed; `/proc/sys/net` shows the reading thread's namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = sysctl_path(key)?;
        let value = format!("{value}\n");
        self.run_in(|| std::fs::write(&path, value.as_bytes()))?
            .map_err(|e| io::Error::new(e.kind(), format!("{key}: {e}")))
    }

    /// Reads the network sysctl `key` inside the namespace (trimmed).
    pub fn sysctl_get(&self, key: &str) -> io::Result<String> {
        let path = sysctl_path(key)?;
        let text = self.run_in(|| std::fs::read_to_string(&path))??;
        Ok(text.trim().to_owned())
    }

    /// Starts `argv` inside the namespace (`ip netns exec NAME argv...`) with standard
    /// input closed and output captured; the returned guard kills it if dropped unwaited.
    pub fn spawn(&self, argv: &[&str]) -> io::Result<Proc> {
        self.spawn_with_stdin(argv, Stdio::null())
    }

    /// Like [`Netns::spawn`], with the given standard input.
    pub fn spawn_with_stdin(&self, argv: &[&str], stdin: Stdio) -> io::Result<Proc> {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(Proc::new(child, argv.join(" ")))
    }

    /// Runs `argv` inside the namespace to completion, killing it after `timeout`
    /// (which is an error of kind [`io::ErrorKind::TimedOut`]).
    pub fn exec(&self, argv: &[&str], timeout: Duration) -> io::Result<ProcOutput> {
        self.spawn(argv)?.wait_timeout(timeout)
    }

    /// Starts a thread whose network namespace is this one (`setns(2)` on the handle,
    /// `CLONE_NEWNET`) and runs `f` on it. Only that thread moves; sockets and TUN
    /// devices it opens belong to the namespace and may be used from any thread after.
    pub fn spawn_in<F, T>(&self, f: F) -> io::Result<JoinHandle<io::Result<T>>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = File::open(self.path())?;
        thread::Builder::new()
            .name(format!("netns-{}", self.name))
            .spawn(move || {
                enter(&handle)?;
                Ok(f())
            })
    }

    /// Runs `f` on a scoped thread inside the namespace and returns its result; a panic
    /// in `f` is resumed on the caller.
    pub fn run_in<F, T>(&self, f: F) -> io::Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let handle = File::open(self.path())?;
        thread::scope(|s| {
            let h = s.spawn(move || {
                enter(&handle)?;
                Ok(f())
            });
            match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }

    /// Pings `dst` `count` times from inside the namespace with raw ICMP sockets (see
    /// [`ping`]); returns the matching replies.
    pub fn ping(&self, dst: impl Into<IpAddr>, count: u16) -> io::Result<u16> {
        let dst = dst.into();
        let payload = format!("synack ping {dst}");
        self.run_in(|| ping(dst, count, payload.as_bytes()))?
    }

    /// Opens a TUN device called `name` inside the namespace (not yet up or addressed).
    pub fn open_tun(&self, name: &str) -> io::Result<Tun> {
        self.open_tun_with(name, TunOptions::default())
    }

    /// Like [`Netns::open_tun`], with options.
    pub fn open_tun_with(&self, name: &str, options: TunOptions) -> io::Result<Tun> {
        let name = name.to_owned();
        self.run_in(move || Tun::open_with(&name, options))?
    }

    /// Opens a TUN device and configures the kernel's side of a point-to-point test
    /// network on it as `cfg` says: addresses, MTU, link up.
    pub fn tun_network(&self, cfg: &TunNet) -> io::Result<Tun> {
        let options = TunOptions {
            offload: cfg.offload,
        };
        let tun = self.open_tun_with(&cfg.tun_name, options)?;
        let dev = tun.name().to_owned();
        let v4 = format!("{}/{}", cfg.kernel_v4, cfg.prefix_v4);
        self.ip(&["addr", "add", &v4, "dev", &dev])?;
        if let Some(k6) = cfg.kernel_v6 {
            let v6 = format!("{k6}/{}", cfg.prefix_v6);
            // `nodad`: skip duplicate address detection (RFC 4862 §5.4), which would leave
            // the address tentative, and unusable as a source, for about a second.
            self.ip(&["-6", "addr", "add", &v6, "dev", &dev, "nodad"])?;
        }
        let mtu = cfg.mtu.to_string();
        self.ip(&["link", "set", "dev", &dev, "mtu", &mtu, "up"])?;
        Ok(tun)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("netns: could not remove {}: {e}", self.name);
        }
    }
}

/// `/proc/sys/net/...` for a dotted `net.` key; refuses anything else (no `..`, no other
/// trees: only per-namespace network settings).
fn sysctl_path(key: &str) -> io::Result<PathBuf> {
    let ok = key.starts_with("net.")
        && key.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a network sysctl: {key:?}"),
        ));
    }
    Ok(Path::new("/proc/sys").join(key.replace('.', "/")))
}

/// Moves the calling thread into the namespace whose handle is `ns`.
fn enter(ns: &File) -> io::Result<()> {
    // SAFETY: setns takes a descriptor we keep open for the duration of the call.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A point-to-point test network over a TUN device: the kernel's addresses on the device,
/// and the addresses our stack claims on the far side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunNet {
    /// Device name (at most 15 bytes).
    pub tun_name: String,
    /// The kernel's IPv4 address on the device.
    pub kernel_v4: Ipv4Addr,
    /// Our stack's IPv4 address.
    pub ours_v4: Ipv4Addr,
    /// IPv4 prefix length of the device route.
    pub prefix_v4: u8,
    /// The kernel's IPv6 address on the device, if IPv6 is used.
    pub kernel_v6: Option<Ipv6Addr>,
    /// Our stack's IPv6 address.
    pub ours_v6: Ipv6Addr,
    /// IPv6 prefix length of the device route.
    pub prefix_v6: u8,
    /// Device MTU.
    pub mtu: u32,
    /// Open the device with [`TunOptions::offload`].
    pub offload: bool,
}

impl Default for TunNet {
    /// `syn0`; kernel 198.18.0.1/24 and fd00::1/64, ours 198.18.0.2 and fd00::2; MTU 1500;
    /// no offloads.
    fn default() -> TunNet {
        TunNet {
            tun_name: "syn0".into(),
            kernel_v4: Ipv4Addr::new(198, 18, 0, 1),
            ours_v4: Ipv4Addr::new(198, 18, 0, 2),
            prefix_v4: 24,
            kernel_v6: Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            ours_v6: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
            prefix_v6: 64,
            mtu: 1500,
            offload: false,
        }
    }
}

/// A process started in a namespace; killed (and reaped) if dropped before it is waited.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    what: String,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
}

/// What a finished [`Proc`] produced.
#[derive(Debug)]
pub struct ProcOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl ProcOutput {
    /// Standard output as (lossy) text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Standard error as (lossy) text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Reads a pipe to its end on a thread of its own, so a chatty child cannot block.
fn collect<R: Read + Send + 'static>(r: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    let mut r = r?;
    thread::Builder::new()
        .name("netns-pipe".into())
        .spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
        .ok()
}

impl Proc {
    fn new(mut child: Child, what: String) -> Proc {
        let out = collect(child.stdout.take());
        let err = collect(child.stderr.take());
        Proc {
            child: Some(child),
            what,
            out,
            err,
        }
    }

    /// The process id.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it has exited (without reaping the output).
    pub fn has_exited(&mut self) -> io::Result<bool> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?.is_some()),
            None => Ok(true),
        }
    }

    /// Waits at most `timeout` for the process to exit and returns its output; past that
    /// it is killed and an error of kind [`io::ErrorKind::TimedOut`] carries what it wrote.
    pub fn wait_timeout(mut self, timeout: Duration) -> io::Result<ProcOutput> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| io::Error::other("process already waited"))?;
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break Some(s);
            }
            if start.elapsed() >= timeout {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let stdout = self
            .out
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = self
            .err
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        match status {
            Some(status) => Ok(ProcOutput {
                status,
                stdout,
                stderr,
            }),
            None => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "`{}` still running after {timeout:?}, killed; stdout: {}; stderr: {}",
                    self.what,
                    String::from_utf8_lossy(&stdout).trim(),
                    String::from_utf8_lossy(&stderr).trim()
                ),
            )),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_only_our_names() {
        assert_eq!(owner_pid("synack-ping-1234-0"), Some(1234));
        assert_eq!(owner_pid("synack-a_b-77-12"), Some(77));
        assert_eq!(owner_pid("synack-1234-0"), None);
        assert_eq!(owner_pid("other-ping-1234-0"), None);
        assert_eq!(owner_pid("synack-ping-x-0"), None);
        assert_eq!(owner_pid("synack-ping-12-y"), None);
    }

    #[test]
    fn sysctl_keys_are_network_only() {
        assert_eq!(
            sysctl_path("net.ipv4.tcp_sack").unwrap(),
            Path::new("/proc/sys/net/ipv4/tcp_sack")
        );
        assert!(sysctl_path("kernel.panic").is_err());
        assert!(sysctl_path("net..x").is_err());
        assert!(sysctl_path("net.ipv4/../../x").is_err());
        assert!(sysctl_path("net").is_err());
    }

    #[test]
    fn bad_tags_are_refused_before_anything_runs() {
        assert!(Netns::new("").is_err());
        assert!(Netns::new("a-b").is_err());
        assert!(Netns::new("a/b").is_err());
    }
}
