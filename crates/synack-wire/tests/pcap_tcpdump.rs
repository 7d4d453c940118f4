//! Interoperability: files from `PcapWriter` / `PcapngWriter`, in every link type, read by
//! the real `tcpdump` (and `tshark` when installed). Prints a skip line when a tool is
//! absent.

use std::path::PathBuf;
use std::process::Command;

use synack_wire::link::{
    ARPHRD_ETHER, ARPHRD_LOOPBACK, BSD_AF_INET6_DARWIN, Encapsulation, LinkType, NetworkProtocol,
    PACKET_HOST, PACKET_OUTGOING, VlanTag,
};
use synack_wire::pcap::{
    ByteOrder, CaptureReader, PcapWriter, PcapngWriter, Timestamp, TsPrecision, TsResolution,
};

/// The 60-byte SYN of seed 000 (section 三.3).
const SYN: [u8; 60] = [
    0x45, 0x10, 0x00, 0x3c, 0xca, 0x49, 0x40, 0x00, 0x40, 0x06, 0x72, 0x60, 0x7f, 0x00, 0x00, 0x01,
    0x7f, 0x00, 0x00, 0x01, 0x96, 0xa0, 0x00, 0x17, 0xfc, 0xe5, 0x5d, 0x4e, 0x00, 0x00, 0x00, 0x00,
    0xa0, 0x02, 0xff, 0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a,
    0xe9, 0x40, 0x44, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];
const LINE: &str = "IP 127.0.0.1.38560 > 127.0.0.1.23: Flags [S], seq 4242890062, win 65495, \
     options [mss 65495,sackOK,TS val 3913303147 ecr 0,nop,wscale 7], length 0";
const TS: Timestamp = Timestamp {
    secs: 1_700_000_000,
    nanos: 123_456_789,
};

fn tool(name: &str) -> bool {
    let ok = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP: {name} is not installed; interoperability not checked");
    }
    ok
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("synack-wire-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every encapsulation, named, with the text tcpdump puts right before `IP` (without
/// `-e`). For SLL2 tcpdump prints the interface *name* for the ifindex, looked up on the
/// reading host (`lo` for 1 on Linux, with a warning), then the direction: `lo    In  `.
fn encapsulations<'a>(tags: &'a [VlanTag]) -> Vec<(&'static str, Encapsulation<'a>, &'static str)> {
    vec![
        ("raw101", Encapsulation::Raw(LinkType::RAW), ""),
        ("raw12", Encapsulation::Raw(LinkType::DLT_RAW_12), ""),
        ("ipv4", Encapsulation::Raw(LinkType::IPV4), ""),
        (
            "eth",
            Encapsulation::Ethernet {
                dst: [0, 0, 0, 0, 0, 0],
                src: [0, 0, 0, 0, 0, 0],
                vlan_tags: &[],
            },
            "",
        ),
        (
            "eth-qinq",
            Encapsulation::Ethernet {
                dst: [2, 0, 0, 0, 0, 1],
                src: [2, 0, 0, 0, 0, 2],
                vlan_tags: tags,
            },
            "",
        ),
        (
            "sll",
            Encapsulation::Sll {
                packet_type: PACKET_OUTGOING,
                arphrd_type: ARPHRD_LOOPBACK,
                addr: &[0; 6],
                vlan_tags: &[],
            },
            "",
        ),
        (
            "sll2",
            Encapsulation::Sll2 {
                packet_type: PACKET_HOST as u8,
                arphrd_type: ARPHRD_ETHER,
                ifindex: 1,
                addr: &[2, 0, 0, 0, 0, 1],
                vlan_tags: &[],
            },
            "In  ",
        ),
        (
            "null-le",
            Encapsulation::Null {
                byte_order: ByteOrder::Little,
                inet6_family: BSD_AF_INET6_DARWIN,
            },
            "",
        ),
        (
            "null-be",
            Encapsulation::Null {
                byte_order: ByteOrder::Big,
                inet6_family: BSD_AF_INET6_DARWIN,
            },
            "",
        ),
        ("loop", Encapsulation::Loop { inet6_family: 24 }, ""),
    ]
}

fn run(cmd: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(cmd)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tcpdump_reads_every_link_type_both_formats() {
    if !tool("tcpdump") {
        return;
    }
    let scratch = Scratch::new("tcpdump_reads_every_link_type_both_formats");
    let tags = [VlanTag::dot1ad(0, 100), VlanTag::dot1q(0, 200)];
    for (name, enc, prefix) in encapsulations(&tags) {
        let line = format!("{prefix}{LINE}\n");
        let mut frame = Vec::new();
        enc.encapsulate(NetworkProtocol::Ipv4, &SYN, &mut frame)
            .unwrap();
        for (order, precision) in [
            (ByteOrder::Little, TsPrecision::Micro),
            (ByteOrder::Big, TsPrecision::Nano),
        ] {
            let path = scratch.path(&format!("{name}-{order:?}-{precision:?}.pcap"));
            let file = std::fs::File::create(&path).unwrap();
            let mut w = PcapWriter::with_byte_order(file, enc.link_type(), 65535, precision, order)
                .unwrap();
            w.write_packet(TS, &frame, frame.len() as u32).unwrap();
            drop(w);
            let p = path.to_str().unwrap();
            let (out, err) = run("tcpdump", &["-n", "-r", p]);
            let (name_lt, _) = enc.link_type().name().unwrap();
            assert!(
                err.contains(&format!("link-type {name_lt} ")),
                "{name}: {err}"
            );
            assert!(
                out.lines().count() == 1 && out.ends_with(&line),
                "{name} {order:?} {precision:?}: {out:?} {err}"
            );
            // Microseconds, truncated, even for a nanosecond file...
            assert!(out.starts_with("22:13:20.123456 "), "{name}: {out}");
            // ... and nanoseconds with --nano.
            let (out, _) = run("tcpdump", &["--nano", "-ntt", "-r", p]);
            let want = match precision {
                TsPrecision::Micro => "1700000000.123456000 ",
                TsPrecision::Nano => "1700000000.123456789 ",
            };
            assert!(out.starts_with(want), "{name}: {out}");
        }
        // pcapng, nanosecond interface.
        let path = scratch.path(&format!("{name}.pcapng"));
        let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
        let i = w
            .add_interface(enc.link_type(), 0, TsPrecision::Nano)
            .unwrap();
        w.write_packet(i, TS, &frame, frame.len() as u32).unwrap();
        drop(w);
        let p = path.to_str().unwrap();
        let (out, err) = run("tcpdump", &["-ntt", "-r", p]);
        assert!(out.starts_with("1700000000.123456 "), "{name}: {out} {err}");
        assert!(
            out.lines().count() == 1 && out.ends_with(&line),
            "{name}: {out}"
        );
        if prefix.is_empty() {
            assert_eq!(out, format!("1700000000.123456 {line}"), "{name}: {err}");
        }
        let (out, _) = run("tcpdump", &["--nano", "-ntt", "-r", p]);
        assert!(out.starts_with("1700000000.123456789 "), "{name}: {out}");
    }
}

/// Our reader's time stamps, printed as tcpdump's `-tt` does, match tcpdump's for odd
/// pcapng resolutions (binary and decimal, coarse and fine) and offsets.
#[test]
fn tcpdump_agrees_on_pcapng_time_stamps() {
    if !tool("tcpdump") {
        return;
    }
    let scratch = Scratch::new("tcpdump_agrees_on_pcapng_time_stamps");
    let path = scratch.path("resol.pcapng");
    let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
    // libpcap 1.10.3 wants one link type and snaplen for all interfaces of a file, and
    // compares its DLT_ value with each later IDB's LINKTYPE_ value: several IDBs of
    // LINKTYPE_RAW (101, DLT_RAW 12) fail with "an interface has a type 101 different
    // from the type of the first interface". Ethernet (1 = 1) does not hit that.
    let mut frame = Vec::new();
    Encapsulation::Ethernet {
        dst: [0; 6],
        src: [0; 6],
        vlan_tags: &[],
    }
    .encapsulate(NetworkProtocol::Ipv4, &SYN, &mut frame)
    .unwrap();
    let resolutions = [
        TsResolution::Pow2(20),
        TsResolution::Pow2(10),
        TsResolution::Pow2(32),
        TsResolution::Pow10(3),
        TsResolution::Pow10(7),
        TsResolution::Pow10(10),
    ];
    let ids: Vec<u32> = resolutions
        .iter()
        .map(|r| {
            w.add_interface_with_resolution(LinkType::ETHERNET, 0, *r)
                .unwrap()
        })
        .collect();
    for (k, id) in ids.iter().enumerate() {
        for nanos in [0, 1, 999, 123_456_789, 999_999_999] {
            let ts = Timestamp::new(1_600_000_000 + k as i64, nanos);
            w.write_packet(*id, ts, &frame, 74).unwrap();
        }
    }
    drop(w);
    let p = path.to_str().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut r = CaptureReader::from_slice(&bytes).unwrap();
    let (mut micro, mut nano) = (String::new(), String::new());
    while let Some(pkt) = r.next_packet() {
        let t = pkt.unwrap().timestamp;
        micro += &format!("{}.{:06} {LINE}\n", t.secs, t.micros());
        nano += &format!("{}.{:09} {LINE}\n", t.secs, t.nanos);
    }
    assert_eq!(run("tcpdump", &["-ntt", "-r", p]).0, micro);
    assert_eq!(run("tcpdump", &["--nano", "-ntt", "-r", p]).0, nano);
}

#[test]
fn tcpdump_sees_snaplen_truncation() {
    if !tool("tcpdump") {
        return;
    }
    let scratch = Scratch::new("tcpdump_sees_snaplen_truncation");
    let path = scratch.path("snap.pcap");
    let mut w = PcapWriter::new(
        std::fs::File::create(&path).unwrap(),
        LinkType::RAW,
        40,
        TsPrecision::Micro,
    )
    .unwrap();
    w.write_packet(TS, &SYN, 60).unwrap();
    drop(w);
    let (out, err) = run("tcpdump", &["-nt", "-r", path.to_str().unwrap()]);
    assert!(err.contains("snapshot length 40"), "{err}");
    // The 20-byte TCP header fits, the options do not.
    assert!(
        out.starts_with("IP 127.0.0.1.38560 > 127.0.0.1.23: Flags [S]"),
        "{out}"
    );
    assert!(out.contains("[|tcp]"), "{out}");
}

#[test]
fn tshark_reads_our_files() {
    if !tool("tshark") {
        return;
    }
    let scratch = Scratch::new("tshark_reads_our_files");
    let tags = [VlanTag::dot1q(0, 7)];
    for (name, enc, _) in encapsulations(&tags) {
        let mut frame = Vec::new();
        enc.encapsulate(NetworkProtocol::Ipv4, &SYN, &mut frame)
            .unwrap();
        let path = scratch.path(&format!("tshark-{name}.pcapng"));
        let mut w =
            PcapngWriter::with_byte_order(std::fs::File::create(&path).unwrap(), ByteOrder::Big)
                .unwrap();
        let i = w
            .add_interface(enc.link_type(), 0, TsPrecision::Micro)
            .unwrap();
        w.write_packet(i, TS, &frame, frame.len() as u32).unwrap();
        drop(w);
        let (out, err) = run(
            "tshark",
            &[
                "-n",
                "-r",
                path.to_str().unwrap(),
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
                "-e",
                "tcp.srcport",
                "-e",
                "tcp.seq_raw",
                "-e",
                "tcp.options.mss_val",
            ],
        );
        assert_eq!(
            out.trim(),
            "1700000000.123456000\t38560\t4242890062\t65495",
            "{name}: {err}"
        );
    }
}
