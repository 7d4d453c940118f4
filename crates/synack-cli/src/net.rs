//! `synack serve`, `synack connect` and `synack ss`: the stack on a real TUN device.
//!
//! - `serve` runs echo (RFC 862), discard (RFC 863), chargen (RFC 864) and an HTTP/1.1
//!   server (hyper on the tokio driver) on a synack stack over a TUN device, and answers
//!   `synack ss` on a control Unix socket.
//! - `connect` is netcat on the blocking driver (or on the kernel's TCP without `--tun`,
//!   for comparison), with `--send-bytes`/`--recv-bytes` transfer modes.
//! - `ss` asks a running `serve` for its connection table.

mod connect;
mod serve;

use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use synack::stack::Stack;
use synack_tun::{Tun, TunOptions};

pub use connect::connect;
pub use serve::serve;

/// Where `serve` listens for `ss` requests unless `--control` says otherwise.
const CONTROL_DIR: &str = "/run/synack";

/// The default control socket of the instance on device `name`.
fn control_path(name: &str) -> String {
    format!("{CONTROL_DIR}/{name}.sock")
}

/// Prints `msg` and the usage line; exit status 2.
fn usage(cmd: &str, text: &str, msg: &str) -> ExitCode {
    if !msg.is_empty() {
        eprintln!("synack {cmd}: {msg}");
    }
    eprint!("{text}");
    ExitCode::from(2)
}

/// `ADDR/PREFIX` (or a bare address, taken as a host route).
fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| format!("bad address {a:?}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("bad prefix length in {s:?}"))?,
        None => max,
    };
    Ok((addr, prefix))
}

/// A size with an optional `k`, `M` or `G` suffix (powers of 1000; `KiB`, `MiB`, `GiB`
/// for powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = [
        ("KiB", 1u64 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("k", 1_000),
        ("K", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
    .unwrap_or((s, 1));
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("bad size {s:?}"))
}

/// The device options shared by `serve` and `connect --tun`.
#[derive(Debug, Default)]
struct DevArgs {
    tun: Option<String>,
    addr: Option<(IpAddr, u8)>,
    addr6: Option<(IpAddr, u8)>,
    host_addr: Option<(IpAddr, u8)>,
    host_addr6: Option<(IpAddr, u8)>,
    mtu: Option<u32>,
    offload: bool,
    pcap: Option<String>,
}

const DEV_HELP: &str = "\
device options:
  --tun NAME          TUN device to create (IFF_TUN, IFF_NO_PI)
  --addr CIDR         our IPv4 (or IPv6) address on the far side of the device
  --addr6 CIDR        our IPv6 address
  --host-addr CIDR    give the kernel's side of the device this address (ip addr add)
  --host-addr6 CIDR   the kernel's IPv6 address (added with nodad)
  --mtu N             device MTU (default 1500)
  --offload           virtio-net header with TSO/GSO and checksum offloads
  --pcap FILE         capture both directions to FILE
";

impl DevArgs {
    /// Takes `args[*i]` (and its value) if it is a device option.
    fn take(&mut self, args: &[String], i: &mut usize) -> Result<bool, String> {
        let flag = args[*i].as_str();
        let needs_value = matches!(
            flag,
            "--tun" | "--addr" | "--addr6" | "--host-addr" | "--host-addr6" | "--mtu" | "--pcap"
        );
        if flag == "--offload" {
            self.offload = true;
            return Ok(true);
        }
        if !needs_value {
            return Ok(false);
        }
        *i += 1;
        let v = args
            .get(*i)
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        match flag {
            "--tun" => self.tun = Some(v.to_owned()),
            "--addr" => self.addr = Some(parse_cidr(v)?),
            "--addr6" => self.addr6 = Some(parse_cidr(v)?),
            "--host-addr" => self.host_addr = Some(parse_cidr(v)?),
            "--host-addr6" => self.host_addr6 = Some(parse_cidr(v)?),
            "--mtu" => {
                self.mtu = Some(
                    v.parse()
                        .ok()
                        .filter(|m| (576..=65535).contains(m))
                        .ok_or_else(|| format!("bad MTU {v:?}"))?,
                )
            }
            "--pcap" => self.pcap = Some(v.to_owned()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Our addresses (IPv4 and/or IPv6).
    fn ours(&self) -> Vec<IpAddr> {
        self.addr.iter().chain(&self.addr6).map(|a| a.0).collect()
    }

    /// Opens and configures the device and makes the stack owning our addresses.
    fn open(&self) -> Result<(Tun, Stack), String> {
        let name = self.tun.as_deref().ok_or("--tun NAME is required")?;
        let ours = self.ours();
        let Some(first) = ours.first() else {
            return Err("--addr (or --addr6) is required with --tun".into());
        };
        let mut tun = Tun::open_with(
            name,
            TunOptions {
                offload: self.offload,
            },
        )
        .map_err(|e| format!("cannot open TUN {name}: {e}"))?;
        if let Some(p) = &self.pcap {
            tun.capture_file(p)
                .map_err(|e| format!("cannot write {p}: {e}"))?;
        }
        let dev = tun.name().to_owned();
        for (a, p) in self.host_addr.iter().chain(&self.host_addr6) {
            let cidr = format!("{a}/{p}");
            let mut argv = vec!["addr", "add", cidr.as_str(), "dev", dev.as_str()];
            if a.is_ipv6() {
                // RFC 4862 §5.4: skip duplicate address detection on a point-to-point
                // device, or the address stays tentative for about a second.
                argv.push("nodad");
            }
            run_ip(&argv)?;
        }
        tun.set_mtu(self.mtu.unwrap_or(1500))
            .map_err(|e| format!("cannot set the MTU of {dev}: {e}"))?;
        tun.set_up()
            .map_err(|e| format!("cannot bring {dev} up: {e}"))?;
        let mut stack = Stack::with_address(secret(), *first);
        for a in ours.iter().skip(1) {
            stack.add_address(*a);
        }
        Ok((tun, stack))
    }
}

/// Runs `ip ARGS` (configuration of our own device only).
fn run_ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A secret for ISNs and SYN cookies (RFC 6528), from the kernel's random source.
fn secret() -> [u8; 16] {
    let mut s = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut s));
    if ok.is_err() {
        // Fall back to the clock: weaker, but still different on every run.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        s.copy_from_slice(&t.to_le_bytes());
    }
    s
}

/// The generated content of `/bytes/N`, `--send-bytes` and the tests: byte `i` is
/// `(7·i + ⌊i/251⌋) mod 256` (so a shifted copy never matches).
pub(crate) fn pattern_fill(offset: u64, buf: &mut [u8]) {
    let mut i = offset;
    for b in buf {
        *b = (i.wrapping_mul(7).wrapping_add(i / 251) & 0xff) as u8;
        i = i.wrapping_add(1);
    }
}

/// Hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const SS_HELP: &str = "\
usage: synack ss [NAME | --control PATH] [--nstat]

Prints the connection table (ss -tani style) of the `synack serve` running on TUN device
NAME (control socket /run/synack/NAME.sock), or its counters with --nstat.
";

/// Runs `synack ss`.
pub fn ss(args: &[String]) -> ExitCode {
    let mut path = None;
    let mut what = "ss";
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => {
                print!("{SS_HELP}");
                return ExitCode::SUCCESS;
            }
            "--nstat" => what = "nstat",
            "--control" => {
                i += 1;
                match args.get(i) {
                    Some(p) => path = Some(p.clone()),
                    None => return usage("ss", SS_HELP, "--control needs a path"),
                }
            }
            a if !a.starts_with('-') && path.is_none() => path = Some(control_path(a)),
            a => return usage("ss", SS_HELP, &format!("unknown argument {a:?}")),
        }
        i += 1;
    }
    let Some(path) = path else {
        return usage("ss", SS_HELP, "which instance? give NAME or --control PATH");
    };
    match ask(&path, what) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synack ss: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sends one request line to a control socket and returns the whole answer.
fn ask(path: &str, what: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{what}\n").as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_and_sizes_parse() {
        assert_eq!(
            parse_cidr("198.18.0.2/24").unwrap(),
            ("198.18.0.2".parse().unwrap(), 24)
        );
        assert_eq!(parse_cidr("fd00::2").unwrap().1, 128);
        assert!(parse_cidr("198.18.0.2/33").is_err());
        assert!(parse_cidr("nonsense/8").is_err());
        assert_eq!(parse_size("8M").unwrap(), 8_000_000);
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("17").unwrap(), 17);
        assert!(parse_size("99999999999G").is_err());
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn pattern_is_position_dependent() {
        let mut a = [0u8; 600];
        pattern_fill(0, &mut a);
        let mut b = [0u8; 100];
        pattern_fill(500, &mut b);
        assert_eq!(&a[500..], &b[..]);
        assert_eq!(a[1], 7);
        assert_eq!(a[251], ((251 * 7 + 1) % 256) as u8);
    }
}
