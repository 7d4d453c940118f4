//! `synack lab`: the notes' experiments on the simulated network (placeholder).

use std::process::ExitCode;

/// Runs `synack lab` with its arguments (after the subcommand name).
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("synack lab: not built yet");
    ExitCode::from(2)
}
