//! Real-network tests: each runs in a network namespace of its own with a TUN device
//! inside, addresses only from 198.18.0.0/15 and fd00::/8, and removes it afterwards.
//! Without root, `/dev/net/tun` or `ip`, each prints `SKIP: ...` and passes.

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synack_tun::netns::{self, Netns, TunNet};
use synack_tun::{Driver, EchoResponder, Exit, Limits};
use synack_wire::icmp::{self, IcmpPacket};
use synack_wire::ipv4::Ipv4Packet;
use synack_wire::ipv6::Ipv6Packet;
use synack_wire::pcap::{CaptureReader, LinkType};

/// A `Write` into a shared buffer, to read a capture back after the driver is done.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts (echo requests in, echo replies out) in a LINKTYPE_RAW capture.
fn count_echo(capture: &[u8]) -> (usize, usize) {
    let mut r = CaptureReader::from_slice(capture).expect("capture parses");
    assert_eq!(r.link_type(), Some(LinkType::RAW));
    let (mut req, mut rep) = (0, 0);
    while let Some(p) = r.next_packet() {
        let p = p.expect("record parses");
        let kind = match p.data.first().map(|b| b >> 4) {
            Some(4) => Ipv4Packet::new_checked(p.data)
                .ok()
                .and_then(|ip| IcmpPacket::new_checked(ip.payload()).ok())
                .map(|m| m.msg_type()),
            Some(6) => Ipv6Packet::new_checked(p.data)
                .ok()
                .and_then(|ip| ip.upper_layer().ok())
                .filter(|u| u.protocol == 58)
                .and_then(|u| IcmpPacket::new_checked(u.payload).ok())
                .map(|m| m.msg_type()),
            _ => None,
        };
        match kind {
            Some(icmp::ECHO_REQUEST | icmp::ECHO6_REQUEST) => req += 1,
            Some(icmp::ECHO_REPLY | icmp::ECHO6_REPLY) => rep += 1,
            _ => {}
        }
    }
    (req, rep)
}

#[test]
fn kernel_pings_our_echo_responder_over_tun() {
    if !netns::can_run("kernel_pings_our_echo_responder_over_tun") {
        return;
    }
    let ns = Netns::new("echo").expect("create namespace");
    let cfg = TunNet::default();
    let mut tun = ns.tun_network(&cfg).expect("TUN up with addresses");
    assert_eq!(tun.mtu().unwrap(), cfg.mtu);
    let cap = SharedBuf::default();
    tun.capture_to(Box::new(cap.clone())).unwrap();
    let kernel6 = cfg.kernel_v6.expect("IPv6 configured");
    let responder = EchoResponder::new(&[cfg.ours_v4], &[cfg.ours_v6]);
    let mut driver = Driver::new(tun, responder).expect("driver");
    let stop = driver.handle();

    let (v4, v6, tool) = std::thread::scope(|s| {
        // Inside the scope: a panic below stops the driver before the scope joins it.
        let _stop_guard = stop.stop_on_drop();
        let d = s.spawn(|| {
            driver.run(Limits::duration(Duration::from_secs(30)), |_, _| {
                std::ops::ControlFlow::Continue(())
            })
        });
        let v4 = ns.ping(cfg.ours_v4, 3);
        let v6 = ns.ping(cfg.ours_v6, 3);
        // The system `ping`, when installed, must see the same.
        // The system `ping`, when installed, must see the same (both families).
        let tool: Vec<_> = if netns::have_command("ping") {
            [cfg.ours_v4.to_string(), cfg.ours_v6.to_string()]
                .iter()
                .map(|addr| {
                    ns.exec(
                        &["ping", "-c", "3", "-W", "1", addr],
                        Duration::from_secs(15),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        stop.stop();
        let exit = d.join().expect("driver thread").expect("driver ran");
        assert_eq!(exit, Exit::Stopped);
        (v4, v6, tool)
    });
    assert_eq!(v4.expect("ping v4"), 3, "IPv4 echo replies");
    assert_eq!(v6.expect("ping v6"), 3, "IPv6 echo replies");
    for out in &tool {
        let out = out.as_ref().expect("ping ran");
        assert!(out.status.success(), "ping: {}", out.stdout_text());
        assert!(
            out.stdout_text().contains("3 received"),
            "{}",
            out.stdout_text()
        );
    }
    if tool.is_empty() {
        println!("note: no `ping` command; raw-socket pings only");
    }
    let stats = driver.handler().stats().clone();
    let per_family = if tool.is_empty() { 3 } else { 6 };
    assert_eq!(stats.replies_v4, per_family);
    assert_eq!(stats.replies_v6, per_family);
    let d = driver.stats().clone();
    assert_eq!(d.packets_out, 2 * per_family, "{d:?}");
    assert_eq!(d.send_errors, 0, "{d:?}");
    driver.tun_mut().finish_capture().unwrap();
    let bytes = cap.0.lock().unwrap().clone();
    let (req, rep) = count_echo(&bytes);
    assert_eq!((req as u64, rep as u64), (2 * per_family, 2 * per_family));
    // The kernel's own IPv6 chatter (router solicitations, MLD reports) reached us too
    // and was ignored.
    println!(
        "echo: {stats:?}; driver: {d:?}; kernel {} / {kernel6}",
        cfg.kernel_v4
    );
}

#[test]
fn tun_device_basics_inside_a_namespace() {
    if !netns::can_run("tun_device_basics_inside_a_namespace") {
        return;
    }
    let ns = Netns::new("basics").expect("create namespace");
    let mut tun = ns.open_tun("synk%d").expect("open TUN");
    assert!(tun.name().starts_with("synk"), "{}", tun.name());
    assert_eq!(tun.mtu().unwrap(), 1500, "Linux's default TUN MTU");
    tun.set_mtu(1280).unwrap();
    assert_eq!(tun.mtu().unwrap(), 1280);
    tun.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let e = tun.recv(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    tun.set_up().unwrap();
    // The device exists only in its namespace.
    let dev = tun.name().to_owned();
    let out = ns
        .exec(
            &["ip", "link", "show", "dev", &dev],
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(out.status.success(), "{}", out.stderr_text());
    assert!(out.stdout_text().contains(",UP"), "{}", out.stdout_text());
    assert!(
        !Path::new(&format!("/sys/class/net/{dev}")).exists(),
        "{dev} leaked into the root namespace"
    );
    // IFF_NO_PI: the kernel checks the version nibble of what we write (Linux
    // drivers/net/tun.c refuses anything but 4 or 6 with EINVAL).
    let e = tun.send(&[0x00; 20]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
}

#[test]
fn namespace_is_removed_on_panic_and_stale_ones_are_cleaned() {
    if !netns::can_run("namespace_is_removed_on_panic_and_stale_ones_are_cleaned") {
        return;
    }
    let name = Arc::new(Mutex::new(String::new()));
    let n2 = name.clone();
    let r = std::thread::spawn(move || {
        let ns = Netns::new("panic").unwrap();
        *n2.lock().unwrap() = ns.name().to_owned();
        assert!(ns.path().exists());
        panic!("deliberate panic with a namespace alive");
    })
    .join();
    assert!(r.is_err());
    let name = name.lock().unwrap().clone();
    assert!(name.starts_with("synack-panic-"), "{name}");
    assert!(
        !Path::new(netns::NETNS_DIR).join(&name).exists(),
        "{name} left behind"
    );

    // A namespace named for a process that has exited is stale and gets removed.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("synack-stale-{dead}-0");
    let st = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(st.success());
    let removed = netns::cleanup_stale();
    let gone = !Path::new(netns::NETNS_DIR).join(&stale).exists();
    if !gone {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &stale])
            .status();
    }
    assert!(gone && removed.contains(&stale), "{removed:?}");
}

/// A capture file of both directions reads back in `tcpdump` (when installed) as the
/// kernel's requests and our replies.
#[test]
fn capture_file_reads_in_tcpdump() {
    if !netns::can_run("capture_file_reads_in_tcpdump") {
        return;
    }
    let ns = Netns::new("pcap").expect("create namespace");
    let cfg = TunNet::default();
    let mut tun = ns.tun_network(&cfg).expect("TUN up with addresses");
    let path = std::env::temp_dir().join(format!("synack-tun-{}.pcap", std::process::id()));
    tun.capture_file(&path).expect("create capture");
    let responder = EchoResponder::new(&[cfg.ours_v4], &[cfg.ours_v6]);
    let mut driver = Driver::new(tun, responder).expect("driver");
    let h = driver.handle();
    let (v4, v6) = std::thread::scope(|s| {
        let _guard = h.stop_on_drop();
        let d = s.spawn(|| {
            driver.run(Limits::duration(Duration::from_secs(30)), |_, _| {
                std::ops::ControlFlow::Continue(())
            })
        });
        let r = (ns.ping(cfg.ours_v4, 2), ns.ping(cfg.ours_v6, 2));
        h.stop();
        assert_eq!(d.join().unwrap().unwrap(), Exit::Stopped);
        r
    });
    assert_eq!((v4.unwrap(), v6.unwrap()), (2, 2));
    assert!(driver.tun().captured().unwrap() >= 8);
    driver.tun_mut().finish_capture().expect("capture written");
    let bytes = std::fs::read(&path).expect("capture file");
    assert_eq!(count_echo(&bytes), (4, 4));
    if netns::have_command("tcpdump") {
        let out = std::process::Command::new("tcpdump")
            .args(["-n", "-r"])
            .arg(&path)
            .output()
            .expect("tcpdump ran");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
        assert_eq!(
            count("198.18.0.1 > 198.18.0.2: ICMP echo request"),
            2,
            "{text}"
        );
        assert_eq!(
            count("198.18.0.2 > 198.18.0.1: ICMP echo reply"),
            2,
            "{text}"
        );
        assert_eq!(count("fd00::1 > fd00::2: ICMP6, echo request"), 2, "{text}");
        assert_eq!(count("fd00::2 > fd00::1: ICMP6, echo reply"), 2, "{text}");
    } else {
        let _ = std::fs::remove_file(&path);
        println!("note: no tcpdump; capture checked with synack-wire only");
    }
}
