//! `synack dump`: tcpdump-identical printing of capture files (placeholder).

use std::process::ExitCode;

/// Runs `synack dump` with its arguments (after the subcommand name).
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("synack dump: not built yet");
    ExitCode::from(2)
}
