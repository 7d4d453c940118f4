//! The `synack` command: one binary, one subcommand per tool.
//!
//! Each subcommand lives in its own module and parses its own arguments, because some of
//! them (`dump`) must accept exactly the flag syntax of the tool they mirror (`tcpdump -ntS`).

mod drill;
mod dump;
mod lab;
mod net;

use std::process::ExitCode;

const USAGE: &str = "\
usage: synack <command> [args...]

commands:
  dump    print packets from a pcap/pcapng file exactly as tcpdump does
  drill   run packetdrill scripts against the synack stack
  lab     replay the TCP notes' experiments on the simulated network
  serve   run services (echo, discard, chargen, http) on a synack stack over TUN
  connect connect to a TCP server through a synack stack over TUN (netcat-like)
  ss      show the connection table of a running synack instance
  help    show this message
";

fn main() -> ExitCode {
    // Like tcpdump and every Unix filter, end quietly when the reader of our output goes
    // away (`synack dump ... | head`): Rust ignores SIGPIPE, so writes would panic instead.
    // SAFETY: restoring a signal's default disposition before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.collect();
    match cmd.as_str() {
        "dump" => dump::main(&rest),
        "drill" => drill::main(&rest),
        "lab" => lab::main(&rest),
        "serve" => net::serve(&rest),
        "connect" => net::connect(&rest),
        "ss" => net::ss(&rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("synack: unknown command '{other}'\n");
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
