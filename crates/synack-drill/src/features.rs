//! Feature census of a set of scripts: which system calls, socket options, packet kinds,
//! TCP options, shell commands and script options they use, and how often.
//!
//! Used to write `FEATURES.md` (see `examples/features.rs`) so the runner can support the
//! most used features first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::ast::{
    Direction, EventKind, EventTime, Expr, IcmpQuoted, IpField, PacketBody, Script, TcpOptions,
    write_flags,
};

/// Per-feature counts: how many events use it and in how many scripts.
#[derive(Clone, Debug, Default)]
pub struct Census {
    scripts: usize,
    sections: BTreeMap<&'static str, BTreeMap<String, (usize, BTreeSet<usize>)>>,
}

/// The section titles, in output order.
const SECTIONS: &[&str] = &[
    "System calls",
    "Socket options (setsockopt/getsockopt level, name)",
    "fcntl and ioctl commands",
    "Expected errno values",
    "Symbolic constants in system call arguments",
    "Packet kinds",
    "TCP flags (direction, flags)",
    "TCP options",
    "Packet line features",
    "Event timing",
    "Shell commands",
    "Sysctl knobs set by shell lines",
    "Python blocks (tcpi_* fields referenced)",
    "Script options",
    "#ifdef names",
];

impl Census {
    /// An empty census.
    pub fn new() -> Self {
        Census::default()
    }

    /// The number of scripts added.
    pub fn scripts(&self) -> usize {
        self.scripts
    }

    /// The `(feature, events, scripts)` rows of a section, most used first.
    pub fn rows(&self, section: &str) -> Vec<(String, usize, usize)> {
        let mut rows: Vec<_> = self
            .sections
            .get(section)
            .map(|m| {
                m.iter()
                    .map(|(k, (n, s))| (k.clone(), *n, s.len()))
                    .collect()
            })
            .unwrap_or_default();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }

    fn add(&mut self, section: &'static str, feature: impl Into<String>) {
        let id = self.scripts;
        let entry = self
            .sections
            .entry(section)
            .or_default()
            .entry(feature.into())
            .or_default();
        entry.0 += 1;
        entry.1.insert(id);
    }

    /// Counts the features of one script.
    pub fn add_script(&mut self, script: &Script) {
        for o in &script.options {
            self.add("Script options", format!("--{}", o.name));
        }
        for e in &script.events {
            for g in &e.guards {
                self.add("#ifdef names", g.name.clone());
            }
            let timing = match e.time {
                EventTime::Unspecified => "no time",
                EventTime::Any => "* (any time)",
                EventTime::At(t) if t.base == crate::TimeBase::Relative => "relative +T",
                EventTime::At(_) => "absolute T",
                EventTime::Range(..) => "range T1~T2",
            };
            self.add("Event timing", timing);
            if e.end.is_some() {
                self.add("Event timing", "blocking T...E");
            }
            match &e.kind {
                EventKind::Syscall(s) => self.syscall(s),
                EventKind::Packet(p) => {
                    let dir = match p.direction {
                        Direction::Inbound => "inbound <",
                        Direction::Outbound => "outbound >",
                    };
                    if let Some(ecn) = p.ecn {
                        self.add("Packet line features", format!("ECN mark {ecn}"));
                    }
                    for f in &p.ip {
                        let name = match f {
                            IpField::Tos(_) => "(tos N)",
                            IpField::Ttl(_) => "(ttl N)",
                            IpField::Id(_) => "(id N)",
                            IpField::FlowLabel(_) => "(flowlabel N)",
                            IpField::Df => "(df)",
                            IpField::Mf => "(mf)",
                        };
                        self.add("Packet line features", format!("IP field {name}"));
                    }
                    if p.udp_encap.is_some() {
                        self.add("Packet line features", "UDP encapsulation /udp(S > D)");
                    }
                    match &p.body {
                        PacketBody::Tcp(t) => {
                            self.add("Packet kinds", format!("TCP {dir}"));
                            let mut flags = String::new();
                            let _ = write_flags(&mut flags, t.flags);
                            self.add("TCP flags (direction, flags)", format!("{dir} {flags}"));
                            if t.seq.bounds.is_none() {
                                self.add("Packet line features", "elided sequence ...(N)");
                            }
                            if t.seq.absolute {
                                self.add("Packet line features", "absolute sequence N:N(N)!");
                            }
                            if t.seq.len > 0 {
                                self.add("Packet line features", format!("payload ({dir})"));
                            }
                            if t.win.is_none() {
                                self.add("Packet line features", format!("no win ({dir})"));
                            }
                            if t.urg.is_some() {
                                self.add("Packet line features", "urg N");
                            }
                            match &t.options {
                                None => {}
                                Some(TcpOptions::Any) => self.add("TCP options", "<...> (any)"),
                                Some(TcpOptions::List(list)) => {
                                    for o in list {
                                        self.add("TCP options", o.keyword());
                                    }
                                }
                            }
                        }
                        PacketBody::Udp(_) => self.add("Packet kinds", format!("UDP {dir}")),
                        PacketBody::Icmp(i) => {
                            let mut k = format!("ICMP {dir} {}", i.icmp_type.name);
                            if let Some(c) = &i.code {
                                k.push(' ');
                                k.push_str(&c.name);
                            }
                            if i.mtu.is_some() {
                                k.push_str(" mtu");
                            }
                            k.push_str(match i.quoted {
                                Some(IcmpQuoted::Tcp(_)) => " [tcp]",
                                Some(IcmpQuoted::Udp(_)) => " [udp]",
                                None => "",
                            });
                            self.add("Packet kinds", k);
                        }
                    }
                }
                EventKind::Command(c) => self.command(c),
                EventKind::Code(c) => {
                    let mut any = false;
                    for word in c.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')) {
                        if word.starts_with("tcpi_") {
                            self.add("Python blocks (tcpi_* fields referenced)", word);
                            any = true;
                        }
                    }
                    if !any {
                        self.add(
                            "Python blocks (tcpi_* fields referenced)",
                            "(no tcpi_ field)",
                        );
                    }
                }
            }
        }
        self.scripts += 1;
    }

    fn syscall(&mut self, s: &crate::ast::Syscall) {
        self.add("System calls", s.name.clone());
        for a in &s.args {
            self.symbols(a);
        }
        let sym = |i: usize| s.args.get(i).map(expr_key).unwrap_or_default();
        match s.name.as_str() {
            "setsockopt" | "getsockopt" => self.add(
                "Socket options (setsockopt/getsockopt level, name)",
                format!("{} {} {}", s.name, sym(1), sym(2)),
            ),
            "fcntl" | "ioctl" => {
                self.add("fcntl and ioctl commands", format!("{} {}", s.name, sym(1)))
            }
            _ => {}
        }
        if let Some(e) = &s.errno {
            self.add("Expected errno values", format!("{e} ({})", s.name));
        }
        // SO_ERROR values expected through getsockopt.
        if s.name == "getsockopt" {
            if let Some(Expr::Array(v)) = s.args.get(3) {
                if let Some(Expr::Symbol(e)) = v.first() {
                    self.add("Expected errno values", format!("{e} (SO_ERROR)"));
                }
            }
        }
    }

    fn symbols(&mut self, e: &Expr) {
        match e {
            Expr::Symbol(s) => self.add("Symbolic constants in system call arguments", s.clone()),
            Expr::Array(items) => items.iter().for_each(|i| self.symbols(i)),
            Expr::Struct(fields) => fields.iter().for_each(|f| self.symbols(&f.value)),
            Expr::Or(items) => items.iter().for_each(|i| self.symbols(i)),
            Expr::Call(name, args) => {
                self.add(
                    "Symbolic constants in system call arguments",
                    format!("{name}()"),
                );
                args.iter().for_each(|a| self.symbols(a));
            }
            Expr::Int(_) | Expr::Str(_) | Expr::Null | Expr::Elided => {}
        }
    }

    fn command(&mut self, c: &str) {
        let words: Vec<&str> = c.split_whitespace().collect();
        let head = words.first().copied().unwrap_or("");
        let base = head.rsplit('/').next().unwrap_or(head);
        let key = if base.starts_with("sysctl_restore") {
            "sysctl_restore_*.sh".to_owned()
        } else {
            base.to_owned()
        };
        let mut any_sysctl = false;
        for (i, w) in words.iter().enumerate() {
            let prev = if i > 0 {
                words.get(i - 1).copied()
            } else {
                None
            };
            let is_sysctl_arg = !w.starts_with('-')
                && w.contains('=')
                && (prev.is_some_and(|p| p.starts_with('-') || p.ends_with("sysctl"))
                    || w.starts_with("/proc/sys/"));
            if is_sysctl_arg {
                let name = w.split('=').next().unwrap_or(w);
                let name = name
                    .strip_prefix("/proc/sys/")
                    .map_or_else(|| name.to_owned(), |n| n.replace('/', "."));
                self.add("Sysctl knobs set by shell lines", name);
                any_sysctl = true;
            }
        }
        if any_sysctl && key != "sysctl" && key != "set_sysctls.py" {
            self.add("Shell commands", format!("{key} (+ sysctls)"));
        } else {
            self.add("Shell commands", key);
        }
    }

    /// Renders the census as Markdown tables.
    pub fn to_markdown(&self, title: &str, parsed: usize, total: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {title}\n");
        let _ = writeln!(
            out,
            "Generated by `cargo run -p synack-drill --example features`; do not edit.\n\n\
             {parsed} of {total} scripts parse. Each table counts events (lines) using a \
             feature and the scripts containing at least one.\n"
        );
        for section in SECTIONS {
            let rows = self.rows(section);
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "## {section}\n");
            let _ = writeln!(out, "| feature | events | scripts |");
            let _ = writeln!(out, "|---|---:|---:|");
            for (k, n, s) in rows {
                let k = k.replace('|', "\\|");
                let _ = writeln!(out, "| `{k}` | {n} | {s} |");
            }
            let _ = writeln!(out);
        }
        out
    }
}

/// A short key for an argument: the symbol, `[SYMBOL]`, or the literal.
fn expr_key(e: &Expr) -> String {
    match e {
        Expr::Symbol(s) => s.clone(),
        other => other.to_string(),
    }
}
