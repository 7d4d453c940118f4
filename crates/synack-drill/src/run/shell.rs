//! Back-quoted shell lines. None is run on the host: sysctls map onto the target's
//! configuration, `defaults.sh` applies packetdrill's Linux defaults, FreeBSD's `sockstat`
//! pipelines and `tcpdrop` are answered from the target's socket table, lines that only
//! concern a real packetdrill host are ignored (and noted), and anything else makes the
//! script UNSUPPORTED, naming the command.

use super::target::{SysctlError, Target};
use super::{Profile, Runner, Stop};
use crate::ast::Event;
use synack::State;

/// Knobs the target may lack, with the value that is that system's default behaviour:
/// setting a knob to its default is a no-op for a stack modelling that system.
const DEFAULTS: &[(&str, &str)] = &[
    ("net.inet.tcp.rfc1323", "1"),
    ("net.inet.tcp.blackhole", "0"),
    ("kern.ipc.maxsockbuf", "2097152"),
    ("net.inet.tcp.ecn.enable", "2"),
    ("net.inet.tcp.rexmit_drop_options", "0"),
    ("net.inet.tcp.rexmit_slop", "200"),
    ("net.inet.tcp.rexmit_initial", "1000"),
    ("net.inet.tcp.keepinit", "75000"),
    ("net.inet.tcp.keepintvl", "75000"),
    ("net.inet.tcp.icmp_may_rst", "1"),
    ("net.inet.tcp.syncookies", "1"),
    ("net.inet.tcp.syncookies_only", "0"),
    ("net.ipv4.tcp_frto", "2"),
    ("net.ipv4.tcp_fack", "0"),
    ("net.ipv4.tcp_reordering", "3"),
];

/// FreeBSD knobs a target may know under synack's own names (same units), tried when the
/// target does not know the FreeBSD name.
const ALIASES: &[(&str, &[&str])] = &[
    (
        "net.inet.tcp.delacktime",
        &["net.ipv4.tcp_delack_min_ms", "net.ipv4.tcp_delack_max_ms"],
    ),
    ("net.inet.tcp.rexmit_min", &["net.ipv4.tcp_rto_min_ms"]),
];

/// Knobs whose setting is an action with nothing to act on in a userspace stack.
const ACTIONS: &[&str] = &["net.inet.tcp.hostcache.purgenow"];

/// What packetdrill's `defaults.sh` sets (gtests/net/common/defaults.sh): the knobs that
/// matter to a TCP stack. The rest (pacing ratios, fastopen keys, MPTCP, qdisc) are noted
/// as not modelled when the target lacks them.
const LINUX_DEFAULTS: &[(&str, &str)] = &[
    ("net.ipv4.tcp_rmem", "4096 540000 15728640"),
    ("net.ipv4.tcp_wmem", "4096 262144 4194304"),
    ("net.ipv4.tcp_timestamps", "1"),
    ("net.ipv4.tcp_syn_retries", "5"),
    ("net.ipv4.tcp_synack_retries", "5"),
    ("net.ipv4.tcp_frto", "2"),
    ("net.ipv4.tcp_sack", "1"),
    ("net.ipv4.tcp_dsack", "1"),
    ("net.ipv4.tcp_fack", "0"),
    ("net.ipv4.tcp_reordering", "3"),
    ("net.ipv4.tcp_congestion_control", "cubic"),
    ("net.ipv4.tcp_slow_start_after_idle", "0"),
    ("net.ipv4.tcp_early_retrans", "4"),
    ("net.ipv4.tcp_recovery", "1"),
    ("net.ipv4.tcp_tso_win_divisor", "3"),
    ("net.ipv4.tcp_ecn", "0"),
    ("net.ipv4.tcp_syncookies", "1"),
];

/// Splits a shell line into words, honouring single and double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl<T: Target + ?Sized> Runner<'_, T> {
    /// Runs a back-quoted command.
    pub(crate) fn command(&mut self, ev: &Event, text: &str) -> Result<(), Stop> {
        // Join continuation lines, then take one command per line.
        let joined = text.replace("\\\n", " ");
        for line in joined.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.command_line(ev, line)?;
        }
        Ok(())
    }

    fn command_line(&mut self, ev: &Event, line: &str) -> Result<(), Stop> {
        let w = words(line);
        let Some(first) = w.first().map(String::as_str) else {
            return Ok(());
        };
        if first.ends_with("defaults.sh") {
            return self.linux_defaults(ev);
        }
        if first.contains("sysctl_restore") {
            self.notes.push(format!(
                "ignored host-only command `{line}` (restores the host's sysctls)"
            ));
            return Ok(());
        }
        match first {
            "sysctl" => {
                for kv in w.iter().skip(1).filter(|a| !a.starts_with('-')) {
                    let Some((k, v)) = kv.split_once('=') else {
                        return Err(Stop::Unsupported(format!("reading sysctl `{line}`")));
                    };
                    self.set_sysctl(ev, k, v)?;
                }
                Ok(())
            }
            f if f.ends_with("set_sysctls.py") => {
                for kv in w.iter().skip(1) {
                    let Some((k, v)) = kv.split_once('=') else {
                        return Err(Stop::Unsupported(format!("command `{line}`")));
                    };
                    let key = k.trim_start_matches("/proc/sys/").replace('/', ".");
                    self.set_sysctl(ev, &key, v)?;
                }
                Ok(())
            }
            "sockstat" => self.sockstat(ev, line),
            "tcpdrop" => self.tcpdrop(ev, line, &w),
            "ethtool" | "tc" => {
                self.notes.push(format!(
                    "ignored host-only command `{line}` (host interface settings)"
                ));
                Ok(())
            }
            "ip" if w.get(1).is_some_and(|s| s == "tcp_metrics") => {
                self.notes.push(format!(
                    "ignored host-only command `{line}` (no TCP metrics cache)"
                ));
                Ok(())
            }
            "kldstat" | "kldload" | "setkey" => {
                Err(Stop::Unsupported(format!("TCP MD5 signatures (`{line}`)")))
            }
            _ => Err(Stop::Unsupported(format!("shell command `{line}`"))),
        }
    }

    fn set_sysctl(&mut self, ev: &Event, key: &str, value: &str) -> Result<(), Stop> {
        match self.t.sysctl(key, value) {
            Ok(()) => {
                self.trace(|| format!("sysctl {key}={value}"));
                Ok(())
            }
            Err(SysctlError::Invalid(msg)) => {
                Err(self.fail(ev, format!("sysctl {key}={value} refused: {msg}")))
            }
            Err(SysctlError::Unknown) => {
                if let Some((_, names)) = ALIASES.iter().find(|(k, _)| *k == key) {
                    for n in *names {
                        match self.t.sysctl(n, value) {
                            Ok(()) => {}
                            Err(SysctlError::Unknown) => {
                                return Err(Stop::Unsupported(format!("sysctl {key}={value}")));
                            }
                            Err(SysctlError::Invalid(msg)) => {
                                return Err(
                                    self.fail(ev, format!("sysctl {key}={value} refused: {msg}"))
                                );
                            }
                        }
                    }
                    self.trace(|| format!("sysctl {key}={value} as {}", names.join(", ")));
                    return Ok(());
                }
                if ACTIONS.contains(&key) {
                    self.notes
                        .push(format!("sysctl {key}={value}: nothing to act on, ignored"));
                    return Ok(());
                }
                if DEFAULTS
                    .iter()
                    .any(|(k, v)| *k == key && *v == value.trim())
                {
                    self.notes.push(format!(
                        "sysctl {key}={value}: the system's default, which the profile models"
                    ));
                    return Ok(());
                }
                Err(Stop::Unsupported(format!("sysctl {key}={value}")))
            }
        }
    }

    /// packetdrill's `defaults.sh`: the Linux settings its tests expect.
    fn linux_defaults(&mut self, ev: &Event) -> Result<(), Stop> {
        let mut missing = Vec::new();
        for (k, v) in LINUX_DEFAULTS {
            match self.t.sysctl(k, v) {
                Ok(()) => {}
                Err(SysctlError::Unknown) => missing.push(format!("{k}={v}")),
                Err(SysctlError::Invalid(msg)) => {
                    return Err(self.fail(ev, format!("defaults.sh: {k}={v} refused: {msg}")));
                }
            }
        }
        if !missing.is_empty() {
            self.notes
                .push(format!("defaults.sh: not modelled: {}", missing.join(" ")));
        }
        if self.cfg.profile != Profile::Linux {
            self.notes
                .push("defaults.sh applied under a non-Linux profile".to_string());
        }
        Ok(())
    }

    /// The lines FreeBSD's `sockstat -s` would print for the target's sockets.
    fn sockstat_lines(&mut self, args: &[String]) -> Result<Vec<String>, Stop> {
        let mut v4 = true;
        let mut v6 = true;
        let mut port: Option<u16> = None;
        let mut it = args.iter().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "-4" => v6 = false,
                "-6" => v4 = false,
                "-s" | "-n" | "-w" | "-c" | "-l" => {}
                "-P" => {
                    let p = it.next().map(String::as_str).unwrap_or("");
                    if p != "tcp" {
                        return Err(Stop::Unsupported(format!("sockstat -P {p}")));
                    }
                }
                "-p" => {
                    let p = it.next().and_then(|p| p.parse().ok());
                    if p.is_none() {
                        return Err(Stop::Unsupported("sockstat -p with a port list".into()));
                    }
                    port = p;
                }
                other => return Err(Stop::Unsupported(format!("sockstat {other}"))),
            }
        }
        let mut lines = Vec::new();
        for row in self.t.sockets() {
            let fam_v6 = row.local.or(row.remote).is_some_and(|a| a.is_ipv6());
            if (fam_v6 && !v6) || (!fam_v6 && !v4) {
                continue;
            }
            if let Some(p) = port {
                let hit = row.local.is_some_and(|a| a.port() == p)
                    || row.remote.is_some_and(|a| a.port() == p);
                if !hit {
                    continue;
                }
            }
            let show = |a: Option<core::net::SocketAddr>| {
                a.map_or("*:*".to_string(), |a| format!("{}:{}", a.ip(), a.port()))
            };
            let state = match row.state {
                State::Closed => "CLOSED",
                s => s.name(),
            };
            lines.push(format!(
                "root     packetdrill 1000 3  tcp{} {} {} {state}",
                if fam_v6 { "6" } else { "4" },
                show(row.local),
                show(row.remote)
            ));
        }
        Ok(lines)
    }

    /// `sockstat ... | grep ... | grep -c ... | grep N`, evaluated over the socket table.
    fn sockstat(&mut self, ev: &Event, line: &str) -> Result<(), Stop> {
        let stages: Vec<Vec<String>> = line.split('|').map(words).collect();
        let mut lines = self.sockstat_lines(&stages[0])?;
        let mut status = true;
        for st in &stages[1..] {
            let (count, pat) = match st.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                ["grep", "-c", p] => (true, p.to_string()),
                ["grep", p] => (false, p.to_string()),
                _ => {
                    return Err(Stop::Unsupported(format!(
                        "pipeline stage `{}`",
                        st.join(" ")
                    )));
                }
            };
            let hits: Vec<String> = lines.into_iter().filter(|l| l.contains(&pat)).collect();
            status = !hits.is_empty();
            lines = if count {
                vec![hits.len().to_string()]
            } else {
                hits
            };
        }
        self.trace(|| format!("sockstat pipeline -> {lines:?} (status {status})"));
        if !status {
            let table: Vec<String> = self.sockstat_lines(&stages[0])?.into_iter().collect();
            return Err(self.fail(
                ev,
                format!("command failed: `{line}`; sockets: [{}]", table.join("; ")),
            ));
        }
        Ok(())
    }

    /// `tcpdrop -s STATE`: drops every connection in that state.
    fn tcpdrop(&mut self, ev: &Event, line: &str, w: &[String]) -> Result<(), Stop> {
        let [_, flag, state] = w else {
            return Err(Stop::Unsupported(format!("command `{line}`")));
        };
        if flag != "-s" {
            return Err(Stop::Unsupported(format!("command `{line}`")));
        }
        let st = [
            State::Closed,
            State::Listen,
            State::SynSent,
            State::SynReceived,
            State::Established,
            State::FinWait1,
            State::FinWait2,
            State::CloseWait,
            State::Closing,
            State::LastAck,
            State::TimeWait,
        ]
        .into_iter()
        .find(|s| s.name() == state)
        .ok_or_else(|| self.fail(ev, format!("tcpdrop: unknown state {state}")))?;
        let now = self.instant();
        match self.t.drop_connections(now, st) {
            Ok(n) => {
                self.trace(|| format!("tcpdrop dropped {n} connection(s) in {state}"));
                self.drain();
                Ok(())
            }
            Err(super::CallError::Unsupported(s)) => Err(Stop::Unsupported(s)),
            Err(super::CallError::Errno(e)) => Err(self.fail(ev, format!("tcpdrop: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn shell_words() {
        assert_eq!(
            words(r#"sysctl -q net.ipv4.tcp_rmem="4096 1 2" x"#),
            ["sysctl", "-q", "net.ipv4.tcp_rmem=4096 1 2", "x"]
        );
    }
}
