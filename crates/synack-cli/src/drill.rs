//! `synack drill`: runs packetdrill scripts against the synack stack (placeholder).

use std::process::ExitCode;

/// Runs `synack drill` with its arguments (after the subcommand name).
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("synack drill: not built yet");
    ExitCode::from(2)
}
