//! `synack serve`, `synack connect` and `synack ss`: the stack on a real TUN device
//! (placeholder).

use std::process::ExitCode;

/// Runs `synack serve`.
pub fn serve(_args: &[String]) -> ExitCode {
    eprintln!("synack serve: not built yet");
    ExitCode::from(2)
}

/// Runs `synack connect`.
pub fn connect(_args: &[String]) -> ExitCode {
    eprintln!("synack connect: not built yet");
    ExitCode::from(2)
}

/// Runs `synack ss`.
pub fn ss(_args: &[String]) -> ExitCode {
    eprintln!("synack ss: not built yet");
    ExitCode::from(2)
}
