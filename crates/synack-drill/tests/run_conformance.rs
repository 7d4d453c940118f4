//! Our own scripts in `conformance/` against synack's `Stack`: every script under
//! `conformance/tcp/` passes strictly, and so does every `conformance/` entry of
//! `conformance/passing.txt` (the public suites' entries are checked by CI with
//! `synack drill --check-passing`, since they live outside the repository).

use std::path::{Path, PathBuf};
use synack_drill::run::{
    Profile, RunConfig, StackTarget, Suite, Target, Verdict, check_passing, read_passing,
    result_line,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn own_scripts_pass_strictly() {
    let mut factory = |p: Profile| -> Box<dyn Target> { Box::new(StackTarget::new(p)) };
    let mut suite = Suite::new(RunConfig::default(), &mut factory);
    let report = suite
        .run_paths(&[repo_root().join("conformance/tcp")])
        .expect("conformance/tcp is readable");
    assert!(
        report.results.len() >= 6,
        "{} scripts",
        report.results.len()
    );
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.outcome.verdict != Verdict::Pass)
        .map(result_line)
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn listed_own_scripts_still_pass() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("conformance/passing.txt")).unwrap();
    let list = read_passing(&text).unwrap();
    let own: Vec<(Profile, PathBuf)> = list
        .into_iter()
        .filter(|(_, p)| p.starts_with("conformance"))
        .collect();
    assert!(own.len() >= 6);
    let mut factory = |p: Profile| -> Box<dyn Target> { Box::new(StackTarget::new(p)) };
    let mut suite = Suite::new(RunConfig::default(), &mut factory);
    let report = check_passing(&mut suite, &own, &root);
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.outcome.verdict != Verdict::Pass)
        .map(result_line)
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_wrong_expectation_fails_against_the_stack() {
    // The same handshake with one field wrong must not pass: the runner really compares.
    let text = std::fs::read_to_string(repo_root().join("conformance/tcp/passive-half-close.pkt"))
        .unwrap()
        .replace("+0 > . 1:1(0) ack 2\n", "+0 > . 1:1(0) ack 3\n");
    let script = synack_drill::parse_script(&text).unwrap();
    let mut t = StackTarget::new(Profile::Linux);
    let out = synack_drill::run::run_script(&script, &mut t, &RunConfig::default());
    match out.verdict {
        Verdict::Fail(f) => assert!(f.message.contains("tcp ack: expected 3 vs actual 2"), "{f}"),
        other => panic!("expected FAIL, got {other:?}"),
    }
}

/// A passive open whose SYN-ACK must carry `wscale 6`: Linux picks the scale from
/// max(tcp_rmem[2], rmem_max) (ilog2(space) - 15), so 6 means a host whose tcp_rmem[2] is
/// between 2 and 4 MiB (Linux sizes it at boot from free memory, capped at 6 MiB).
const WSCALE_6: &str = "\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.1 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 6>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
";

fn run_wscale_6(prefix: &str, host: &[(&str, &str)]) -> Verdict {
    let script = synack_drill::parse_script(&format!("{prefix}{WSCALE_6}")).unwrap();
    let mut t = StackTarget::new(Profile::Linux);
    let cfg = RunConfig {
        host_sysctls: host
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..RunConfig::default()
    };
    synack_drill::run::run_script(&script, &mut t, &cfg).verdict
}

#[test]
fn host_sysctls_configure_the_stack_before_the_script() {
    let small = [("net.ipv4.tcp_rmem", "4096 131072 3145728")];
    // Linux's defaults (tcp_rmem[2] = 6 MiB) give wscale 7: the script fails.
    match run_wscale_6("", &[]) {
        Verdict::Fail(f) => assert!(f.message.contains("wscale 7"), "{f}"),
        other => panic!("expected FAIL, got {other:?}"),
    }
    // A host whose tcp_rmem[2] is 3 MiB gives wscale 6.
    assert_eq!(run_wscale_6("", &small), Verdict::Pass);
    // The script's own sysctl line comes after the host's and wins.
    let own = "`sysctl -q net.ipv4.tcp_rmem=\"4096 131072 6291456\"`\n";
    assert!(matches!(run_wscale_6(own, &small), Verdict::Fail(_)));
    // A setting the stack refuses is reported, not ignored.
    let bad = [("net.ipv4.tcp_rmem", "not a number")];
    assert!(!matches!(run_wscale_6("", &bad), Verdict::Pass));
}
