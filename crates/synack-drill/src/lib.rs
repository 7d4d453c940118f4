//! A packetdrill-compatible script parser and runner for synack.
//!
//! [`parse_script`] turns the text of a packetdrill script into a [`Script`]: option lines
//! and timed [`Event`]s (packets, system calls, shell commands, `%{ }%` blocks), each with
//! its source line. [`features`] counts which syscalls, socket options and packet features
//! a set of scripts uses.

pub mod ast;
pub mod features;
pub mod parser;

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
