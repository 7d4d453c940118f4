//! `%{ }%` blocks: packetdrill runs them in Python with the socket's `TCP_INFO`. The
//! runner evaluates the simple form the public scripts use, `assert tcpi_X OP VALUE[, msg]`
//! (several per block, `;` or newline separated, `and` allowed), against
//! [`Target::tcp_info`]; anything else is UNSUPPORTED.

use super::target::{CallError, Target, TcpInfo};
use super::{Profile, Runner, Stop};
use crate::ast::Event;
use synack::State;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Int(i64),
    State(State),
}

fn state_constant(name: &str) -> Option<State> {
    let bare = name
        .strip_prefix("TCPI_")
        .or_else(|| name.strip_prefix("TCPS_"))
        .or_else(|| name.strip_prefix("TCP_"))?;
    Some(match bare {
        "ESTABLISHED" => State::Established,
        "SYN_SENT" => State::SynSent,
        "SYN_RECV" | "SYN_RECEIVED" | "SYN_RCVD" => State::SynReceived,
        "FIN_WAIT1" | "FIN_WAIT_1" => State::FinWait1,
        "FIN_WAIT2" | "FIN_WAIT_2" => State::FinWait2,
        "TIME_WAIT" => State::TimeWait,
        "CLOSE" | "CLOSED" => State::Closed,
        "CLOSE_WAIT" => State::CloseWait,
        "LAST_ACK" => State::LastAck,
        "LISTEN" => State::Listen,
        "CLOSING" => State::Closing,
        _ => return None,
    })
}

fn term(t: &str, info: &TcpInfo, profile: Profile) -> Result<Value, String> {
    let t = t.trim();
    if let Some(parts) = t.split_once('|').map(|_| t.split('|').collect::<Vec<_>>()) {
        let mut v = 0;
        for p in parts {
            match term(p, info, profile)? {
                Value::Int(i) => v |= i,
                Value::State(_) => return Err(format!("`{t}`")),
            }
        }
        return Ok(Value::Int(v));
    }
    if let Ok(v) = t.parse::<i64>() {
        return Ok(Value::Int(v));
    }
    if let Some(h) = t.strip_prefix("0x")
        && let Ok(v) = i64::from_str_radix(h, 16)
    {
        return Ok(Value::Int(v));
    }
    if let Some(s) = state_constant(t) {
        return Ok(Value::State(s));
    }
    let int = |v: u32| Ok(Value::Int(i64::from(v)));
    let missing = |f: &str| Err(format!("`{f}` (not exposed by the target)"));
    match t {
        "tcpi_state" => Ok(Value::State(info.state)),
        // Linux counts the window in segments, FreeBSD in bytes.
        "tcpi_snd_cwnd" => match (info.snd_cwnd_bytes, profile) {
            (None, _) => missing(t),
            (Some(b), Profile::Linux) => int(b / info.snd_mss.max(1)),
            (Some(b), Profile::FreeBsd) => int(b),
        },
        "tcpi_snd_mss" => int(info.snd_mss),
        "tcpi_advmss" => info.advmss.map_or_else(|| missing(t), int),
        "tcpi_options" => int(u32::from(info.options)),
        "TCPI_OPT_TIMESTAMPS" => Ok(Value::Int(1)),
        "TCPI_OPT_SACK" => Ok(Value::Int(2)),
        "TCPI_OPT_WSCALE" => Ok(Value::Int(4)),
        "TCPI_OPT_ECN" => Ok(Value::Int(8)),
        other => Err(format!("`{other}`")),
    }
}

fn compare(expr: &str, info: &TcpInfo, profile: Profile) -> Result<Result<(), String>, String> {
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((a, b)) = expr.split_once(op) {
            let (x, y) = (term(a, info, profile)?, term(b, info, profile)?);
            let ok = match (x, y, op) {
                (_, _, "==") => x == y,
                (_, _, "!=") => x != y,
                (Value::Int(p), Value::Int(q), "<=") => p <= q,
                (Value::Int(p), Value::Int(q), ">=") => p >= q,
                (Value::Int(p), Value::Int(q), "<") => p < q,
                (Value::Int(p), Value::Int(q), ">") => p > q,
                _ => return Err(format!("ordering of states in `{expr}`")),
            };
            let show = |v: Value| match v {
                Value::Int(i) => i.to_string(),
                Value::State(s) => s.name().to_string(),
            };
            return Ok(if ok {
                Ok(())
            } else {
                Err(format!(
                    "assertion failed: {} ({} {op} {})",
                    expr.trim(),
                    show(x),
                    show(y)
                ))
            });
        }
    }
    Err(format!("`{}`", expr.trim()))
}

/// Evaluates a block against `info`: `Err(feature)` when it is not the simple form,
/// `Ok(Err(msg))` when an assertion fails.
pub(crate) fn evaluate(
    code: &str,
    info: &TcpInfo,
    profile: Profile,
) -> Result<Result<(), String>, String> {
    for stmt in code
        .split([';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
    {
        let Some(rest) = stmt.strip_prefix("assert ") else {
            return Err(format!("`{stmt}`"));
        };
        // `assert cond, message`: the message is not evaluated.
        let cond = rest.split_once(',').map_or(rest, |(c, _)| c);
        for part in cond.split(" and ") {
            if let Err(msg) = compare(part, info, profile)? {
                return Ok(Err(msg));
            }
        }
    }
    Ok(Ok(()))
}

impl<T: Target + ?Sized> Runner<'_, T> {
    /// Runs a `%{ }%` block against the socket under test.
    pub(crate) fn code(&mut self, ev: &Event, code: &str) -> Result<(), Stop> {
        let Some(fd) = self.sut_fd else {
            return Err(Stop::Unsupported("%{ }% block without a socket".into()));
        };
        let info = match self.t.tcp_info(fd) {
            Ok(i) => i,
            Err(CallError::Unsupported(s)) => return Err(Stop::Unsupported(s)),
            Err(CallError::Errno(e)) => {
                return Err(self.fail(ev, format!("TCP_INFO failed: {e}")));
            }
        };
        match evaluate(code, &info, self.cfg.profile) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(self.fail(ev, msg)),
            Err(feature) => Err(Stop::Unsupported(format!("Python code {feature}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TcpInfo {
        TcpInfo {
            state: State::Established,
            snd_cwnd_bytes: Some(14600),
            snd_mss: 1460,
            advmss: Some(1460),
            options: 7,
        }
    }

    #[test]
    fn simple_asserts() {
        let i = info();
        assert_eq!(
            evaluate(
                " assert tcpi_state == TCPI_ESTABLISHED ",
                &i,
                Profile::FreeBsd
            ),
            Ok(Ok(()))
        );
        assert_eq!(
            evaluate(
                "assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd",
                &i,
                Profile::Linux
            ),
            Ok(Ok(()))
        );
        assert!(matches!(
            evaluate("assert tcpi_snd_cwnd == 10", &i, Profile::FreeBsd),
            Ok(Err(_))
        ));
        assert!(evaluate("print(tcpi_rtt)", &i, Profile::Linux).is_err());
        assert!(evaluate("assert tcpi_rtt > 0", &i, Profile::Linux).is_err());
        assert_eq!(
            evaluate(
                "assert tcpi_options == TCPI_OPT_SACK | TCPI_OPT_WSCALE | TCPI_OPT_TIMESTAMPS",
                &i,
                Profile::Linux
            ),
            Ok(Ok(()))
        );
    }
}
