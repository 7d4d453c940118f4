//! A packetdrill-compatible script parser and runner for synack.
//!
//! [`parse_script`] turns the text of a packetdrill script into a [`Script`]: option lines
//! and timed [`Event`]s (packets, system calls, shell commands, `%{ }%` blocks), each with
//! its source line. [`features`] counts which syscalls, socket options and packet features
//! a set of scripts uses.
//!
//! ```
//! use synack_drill::{EventKind, PacketBody, parse_script};
//!
//! let script = parse_script(
//!     "--tolerance_usecs=10000\n\
//!      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
//!      +.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n",
//! )?;
//! assert_eq!(script.tolerance_usecs(), Some(10_000));
//! let EventKind::Packet(p) = &script.events[1].kind else { unreachable!() };
//! let PacketBody::Tcp(seg) = &p.body else { unreachable!() };
//! assert!(seg.flags.syn());
//! assert_eq!(script.events[1].line, 3);
//! assert_eq!(script.events[1].to_string(), "+0.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>");
//! # Ok::<(), synack_drill::ParseError>(())
//! ```

pub mod ast;
pub mod features;
pub mod parser;
pub mod run;

pub use ast::{
    Direction, Ecn, Event, EventKind, EventTime, Expr, Field, Guard, IcmpMessage, IcmpName,
    IcmpQuoted, IpField, Packet, PacketBody, Script, ScriptOption, SeqRange, Syscall, TcpOption,
    TcpOptions, TcpSegment, TimeBase, Timestamp, UdpDatagram,
};
pub use parser::{ParseError, parse_file, parse_named, parse_script};

use std::path::{Path, PathBuf};

/// All `.pkt` files under `root` (or `root` itself if it is a file), sorted by path.
pub fn find_scripts(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if root.is_file() {
        out.push(root.to_path_buf());
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "pkt") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
