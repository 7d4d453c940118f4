//! The seed packet of `../shared/seeds/000_*.txt` (section 三.3): `synack dump -nt` must print
//! exactly the line tcpdump printed for it, and `-x` its hex dump.

use std::path::PathBuf;
use std::process::Command;

use synack_wire::pcap::{LinkType, PcapWriter, Timestamp, TsPrecision};

/// The 60-byte SYN from the seed's hex dump (IPv4 + TCP with Linux's SYN options).
const SEED_HEX: &str = "\
4510 003c ca49 4000 4006 7260 7f00 0001
7f00 0001 96a0 0017 fce5 5d4e 0000 0000
a002 ffd7 fe30 0000 0204 ffd7 0402 080a
e940 446b 0000 0000 0103 0307";

const SEED_LINE: &str = "IP 127.0.0.1.38560 > 127.0.0.1.23: Flags [S], seq 4242890062, win 65495, options [mss 65495,sackOK,TS val 3913303147 ecr 0,nop,wscale 7], length 0";

fn parse_hex(s: &str) -> Vec<u8> {
    let digits: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    digits
        .as_bytes()
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn seed_pcap(name: &str) -> PathBuf {
    let pkt = parse_hex(SEED_HEX);
    assert_eq!(pkt.len(), 60);
    let mut w = PcapWriter::new(Vec::new(), LinkType::RAW, 262_144, TsPrecision::Micro).unwrap();
    w.write_packet(Timestamp::new(1_700_000_000, 123_456_000), &pkt, 60)
        .unwrap();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, w.into_inner()).unwrap();
    path
}

fn synack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .arg("dump")
        .args(args)
        .output()
        .unwrap()
}

/// If the seed file is where the repository layout puts it, its hex dump is ours.
#[test]
fn seed_hex_matches_the_seed_file() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seeds");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return; // the shared directory is not beside this checkout
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("000_") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        let mut hex = String::new();
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("0x00") {
                // "0x0010:  7f00 ..." -> the groups after the offset
                hex.push_str(rest.split_once(':').map_or("", |(_, h)| h));
                hex.push('\n');
            }
        }
        assert_eq!(parse_hex(&hex), parse_hex(SEED_HEX));
        assert!(text.contains(SEED_LINE));
    }
}

#[test]
fn seed_line_is_printed_exactly() {
    let path = seed_pcap("seed.pcap");
    let out = synack(&["-nt", "-r", path.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{SEED_LINE}\n")
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        format!(
            "reading from file {}, link-type RAW (Raw IP), snapshot length 262144\n",
            path.display()
        )
    );
}

#[test]
fn seed_hex_dump_and_verbose() {
    let path = seed_pcap("seed_x.pcap");
    let p = path.to_str().unwrap();
    let out = synack(&["-ntx", &format!("-r{p}")]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(SEED_LINE));
    let dump: Vec<&str> = lines.collect();
    assert_eq!(
        dump,
        [
            "\t0x0000:  4510 003c ca49 4000 4006 7260 7f00 0001",
            "\t0x0010:  7f00 0001 96a0 0017 fce5 5d4e 0000 0000",
            "\t0x0020:  a002 ffd7 fe30 0000 0204 ffd7 0402 080a",
            "\t0x0030:  e940 446b 0000 0000 0103 0307",
        ]
    );
    // Captured on loopback with checksum offload: the field holds only the pseudo-header
    // sum, and tcpdump 4.99.3 reports it as incorrect, as we must.
    let out = synack(&["-ntv", "-r", p]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "IP (tos 0x10, ttl 64, id 51785, offset 0, flags [DF], proto TCP (6), length 60)\n    \
         127.0.0.1.38560 > 127.0.0.1.23: Flags [S], cksum 0xfe30 (incorrect -> 0x316a), seq 4242890062, \
         win 65495, options [mss 65495,sackOK,TS val 3913303147 ecr 0,nop,wscale 7], length 0\n"
    );
    let out = synack(&["-ntt", "-r", p]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("1700000000.123456 IP 127.0.0.1.38560")
    );
}

#[test]
fn unreadable_files_fail_clearly() {
    let out = synack(&["-nt", "-r", "/nonexistent/x.pcap"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");
    let junk = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file").unwrap();
    let out = synack(&["-r", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("junk.pcap"));
    let out = synack(&["-nt"]);
    assert!(!out.status.success());
    let out = synack(&["-k", "-r", junk.to_str().unwrap()]);
    assert!(!out.status.success());
}

/// A file cut in the middle of a record: the packets before it are printed, then a clear
/// error and a non-zero exit, as tcpdump does.
#[test]
fn truncated_file_prints_what_it_can_then_fails() {
    let full = std::fs::read(seed_pcap("seed_cut_src.pcap")).unwrap();
    let mut twice = full.clone();
    twice.extend_from_slice(&full[24..]); // a second record
    let cut = &twice[..twice.len() - 7];
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("seed_cut.pcap");
    std::fs::write(&path, cut).unwrap();
    let out = synack(&["-nt", "-r", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{SEED_LINE}\n")
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("truncated"), "{err}");
}

/// `-r -` reads the capture from the standard input.
#[test]
fn reads_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let bytes = std::fs::read(seed_pcap("seed_stdin.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["dump", "-nt", "-r", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{SEED_LINE}\n")
    );
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .starts_with("reading from file -, link-type RAW (Raw IP)")
    );
}
