//! `synack ... | head`: when the reader of our output goes away, the command ends the way
//! Unix filters do (SIGPIPE), never with a Rust panic about a broken pipe.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["lab", "tour"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("synack runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).expect("the tour prints");
    drop(stdout);
    let out = child.wait_with_output().expect("synack ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "synack panicked: {stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "expected death by SIGPIPE, got {:?}",
        out.status
    );
}
