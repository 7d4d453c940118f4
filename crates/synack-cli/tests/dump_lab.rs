//! `synack dump` against tcpdump on the captures of synack's own lab scenarios: real
//! conversations of our stack (handshakes, data, SACK, retransmissions, resets, closes).

use std::path::PathBuf;
use std::process::Command;

use synack_sim::lab::{self, RunOptions, SCENARIOS};

fn tcpdump_available() -> bool {
    Command::new("tcpdump")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
}

#[test]
fn dump_matches_tcpdump_on_lab_captures() {
    if !tcpdump_available() {
        if std::env::var_os("CI").is_some() {
            panic!("tcpdump is not installed, but CI is set: CI must install tcpdump");
        }
        println!("SKIP: tcpdump not installed");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dump_lab");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let synack = env!("CARGO_BIN_EXE_synack");
    let mut runs = 0;
    let mut packets = 0;
    for sc in SCENARIOS {
        for seed in [1u64, 0x5eed] {
            let out = lab::run(
                sc,
                &RunOptions {
                    seed,
                    sets: Vec::new(),
                },
            )
            .unwrap();
            let path = dir.join(format!("{}-{seed}.pcap", sc.name));
            std::fs::write(&path, &out.pcap).unwrap();
            for flags in ["-nt", "-ntS", "-ntv", "-n", "-ntt", "-ntvvx"] {
                let want = stdout(Command::new("tcpdump").arg(flags).arg("-r").arg(&path));
                let got = stdout(
                    Command::new(synack)
                        .arg("dump")
                        .arg(flags)
                        .arg("-r")
                        .arg(&path),
                );
                if want != got {
                    let line = want
                        .lines()
                        .zip(got.lines())
                        .find(|(a, b)| a != b)
                        .map(|(a, b)| format!("\n  tcpdump: {a}\n  synack:  {b}"))
                        .unwrap_or_else(|| "line counts differ".to_string());
                    panic!("{} {flags}: {line}", path.display());
                }
                runs += 1;
                if flags == "-nt" {
                    packets += want.lines().count();
                }
            }
        }
    }
    assert!(packets > 100, "lab captures too small: {packets} packets");
    println!("{runs} runs over {packets} lab packets: identical");
}
