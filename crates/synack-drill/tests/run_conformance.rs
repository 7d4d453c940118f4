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
