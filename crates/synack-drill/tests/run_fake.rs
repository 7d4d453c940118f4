//! The runner against a tiny fake target: a scripted responder that speaks just enough TCP
//! (one connection, passive or active) to show that matching, timing, blocking calls and
//! error reporting are right, and that each of them can fail.

use core::net::{IpAddr, SocketAddr};
use synack::{Instant, State};
use synack_drill::parse_script;
use synack_drill::run::{
    CallResult, Errno, Family, Fd, How, MsgFlags, Profile, Relax, RunConfig, SockOpt, SocketRow,
    SysctlError, Target, TcpInfo, Verdict, run_script,
};
use synack_wire::TcpFlags;
use synack_wire::checksum::PseudoHeader;
use synack_wire::ipv4::{Ipv4Packet, Ipv4Repr, PROTO_TCP};
use synack_wire::tcp::{TcpHeader, TcpRepr};
use synack_wire::tcp_options::TcpOptionBuf;

const ISS: u32 = 0x1000_0000;
const DELACK_US: u64 = 40_000;
const SYN_RTO_US: u64 = 1_000_000;

/// One fake connection. Sequence numbers are absolute.
struct Conn {
    state: State,
    local: SocketAddr,
    remote: SocketAddr,
    snd_nxt: u32,
    rcv_nxt: u32,
    rx: Vec<u8>,
    fin_in: bool,
    accepted: bool,
    delack_at: Option<u64>,
    syn_rto_at: Option<u64>,
}

/// A fake target: one listener or one connecting socket, one connection.
struct Fake {
    mss: usize,
    listen_fd: Option<Fd>,
    conn_fd: Option<Fd>,
    conn: Option<Conn>,
    out: Vec<Vec<u8>>,
    sysctls: Vec<(String, String)>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            mss: 1000,
            listen_fd: None,
            conn_fd: None,
            conn: None,
            out: Vec::new(),
            sysctls: Vec::new(),
        }
    }

    fn emit(&mut self, flags: TcpFlags, seq: u32, payload: &[u8], syn_opts: bool) {
        let Some(c) = &self.conn else { return };
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (c.local.ip(), c.remote.ip()) else {
            return;
        };
        let opts: &[u8] = if syn_opts {
            &[2, 4, 5, 0xb4, 1, 3, 3, 7]
        } else {
            &[]
        };
        let repr = TcpRepr {
            src_port: c.local.port(),
            dst_port: c.remote.port(),
            seq,
            ack: if flags.contains(TcpFlags::ACK) {
                c.rcv_nxt
            } else {
                0
            },
            flags,
            reserved: 0,
            window: 65535,
            urgent_ptr: 0,
            options: TcpOptionBuf::from_bytes(opts).unwrap(),
        };
        let mut buf = vec![0u8; repr.header_len() + payload.len()];
        repr.emit(&mut buf, payload, PseudoHeader::v4(src, dst))
            .unwrap();
        self.out.push(Ipv4Repr::new(src, dst, PROTO_TCP).emit(&buf));
    }
}

fn us(now: Instant) -> u64 {
    now.as_micros()
}

impl Target for Fake {
    fn sysctl(&mut self, key: &str, value: &str) -> Result<(), SysctlError> {
        if key.starts_with("net.fake.") {
            self.sysctls.push((key.into(), value.into()));
            Ok(())
        } else {
            Err(SysctlError::Unknown)
        }
    }
    fn socket(&mut self, _: Instant, _: Family) -> CallResult<Fd> {
        Ok(if self.listen_fd.is_none() && self.conn_fd.is_none() {
            10
        } else {
            11
        })
    }
    fn bind(&mut self, _: Instant, _: Fd, _: SocketAddr) -> CallResult<()> {
        Ok(())
    }
    fn listen(&mut self, _: Instant, fd: Fd, _: i32) -> CallResult<()> {
        self.listen_fd = Some(fd);
        Ok(())
    }
    fn accept(&mut self, _: Instant, _: Fd) -> CallResult<Fd> {
        match &mut self.conn {
            Some(c) if c.state == State::Established && !c.accepted => {
                c.accepted = true;
                self.conn_fd = Some(20);
                Ok(20)
            }
            _ => Err(Errno::EAGAIN.into()),
        }
    }
    fn connect(&mut self, now: Instant, fd: Fd, addr: SocketAddr) -> CallResult<()> {
        let local = SocketAddr::new(IpAddr::V4([198, 18, 0, 1].into()), 55555);
        self.conn = Some(Conn {
            state: State::SynSent,
            local,
            remote: addr,
            snd_nxt: ISS.wrapping_add(1),
            rcv_nxt: 0,
            rx: Vec::new(),
            fin_in: false,
            accepted: true,
            delack_at: None,
            syn_rto_at: Some(us(now) + SYN_RTO_US),
        });
        self.conn_fd = Some(fd);
        self.emit(TcpFlags::SYN, ISS, &[], true);
        Err(Errno::EINPROGRESS.into())
    }
    fn connect_status(&mut self, _: Instant, _: Fd) -> CallResult<bool> {
        Ok(self
            .conn
            .as_ref()
            .is_some_and(|c| c.state == State::Established))
    }
    fn send(&mut self, _: Instant, _: Fd, data: &[u8], _: MsgFlags) -> CallResult<usize> {
        let mss = self.mss;
        for chunk in data.chunks(mss) {
            let seq = self.conn.as_ref().map_or(0, |c| c.snd_nxt);
            self.emit(TcpFlags::ACK | TcpFlags::PSH, seq, chunk, false);
            if let Some(c) = &mut self.conn {
                c.snd_nxt = c.snd_nxt.wrapping_add(chunk.len() as u32);
            }
        }
        Ok(data.len())
    }
    fn recv(&mut self, _: Instant, _: Fd, buf: &mut [u8], flags: MsgFlags) -> CallResult<usize> {
        let Some(c) = &mut self.conn else {
            return Err(Errno(107).into());
        };
        if c.rx.is_empty() {
            return if c.fin_in {
                Ok(0)
            } else {
                Err(Errno::EAGAIN.into())
            };
        }
        let n = buf.len().min(c.rx.len());
        buf[..n].copy_from_slice(&c.rx[..n]);
        if !flags.peek {
            c.rx.drain(..n);
        }
        Ok(n)
    }
    fn shutdown(&mut self, _: Instant, _: Fd, _: How) -> CallResult<()> {
        Ok(())
    }
    fn close(&mut self, _: Instant, fd: Fd) -> CallResult<()> {
        if Some(fd) == self.conn_fd {
            let seq = self.conn.as_ref().map_or(0, |c| c.snd_nxt);
            self.emit(TcpFlags::FIN | TcpFlags::ACK, seq, &[], false);
            if let Some(c) = &mut self.conn {
                c.snd_nxt = c.snd_nxt.wrapping_add(1);
                c.state = State::FinWait1;
            }
        }
        Ok(())
    }
    fn setsockopt(&mut self, _: Instant, _: Fd, _: SockOpt, _: i64) -> CallResult<()> {
        Ok(())
    }
    fn getsockopt(&mut self, _: Instant, _: Fd, opt: SockOpt) -> CallResult<i64> {
        match opt {
            SockOpt::RcvBuf => Ok(65536),
            _ => Ok(0),
        }
    }
    fn bytes_readable(&mut self, _: Fd) -> CallResult<usize> {
        Ok(self.conn.as_ref().map_or(0, |c| c.rx.len()))
    }
    fn tcp_info(&mut self, _: Fd) -> CallResult<TcpInfo> {
        let state = self.conn.as_ref().map_or(State::Listen, |c| c.state);
        Ok(TcpInfo {
            state,
            snd_cwnd_bytes: Some(10_000),
            snd_mss: 1000,
            advmss: None,
            options: 0,
        })
    }
    fn sockets(&mut self) -> Vec<SocketRow> {
        self.conn
            .iter()
            .map(|c| SocketRow {
                local: Some(c.local),
                remote: Some(c.remote),
                state: c.state,
            })
            .collect()
    }
    fn drop_connections(&mut self, _: Instant, state: State) -> CallResult<usize> {
        if self.conn.as_ref().is_some_and(|c| c.state == state) {
            self.conn = None;
            return Ok(1);
        }
        Ok(0)
    }
    fn inject(&mut self, now: Instant, datagram: &[u8]) {
        let Ok(ip) = Ipv4Packet::new_checked(datagram) else {
            return;
        };
        let Ok(h) = TcpHeader::parse(ip.payload()) else {
            return;
        };
        let f = h.flags();
        let from = SocketAddr::new(IpAddr::V4(ip.src()), h.src_port());
        let to = SocketAddr::new(IpAddr::V4(ip.dst()), h.dst_port());
        if f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK) && self.listen_fd.is_some() {
            self.conn = Some(Conn {
                state: State::SynReceived,
                local: to,
                remote: from,
                snd_nxt: ISS.wrapping_add(1),
                rcv_nxt: h.seq().wrapping_add(1),
                rx: Vec::new(),
                fin_in: false,
                accepted: false,
                delack_at: None,
                syn_rto_at: None,
            });
            self.emit(TcpFlags::SYN | TcpFlags::ACK, ISS, &[], true);
            return;
        }
        let Some(c) = &mut self.conn else { return };
        if c.state == State::SynSent && f.contains(TcpFlags::SYN | TcpFlags::ACK) {
            c.rcv_nxt = h.seq().wrapping_add(1);
            c.state = State::Established;
            c.syn_rto_at = None;
            let seq = c.snd_nxt;
            self.emit(TcpFlags::ACK, seq, &[], false);
            return;
        }
        if c.state == State::SynReceived && f.contains(TcpFlags::ACK) && h.ack() == c.snd_nxt {
            c.state = State::Established;
        }
        let data = h.payload();
        if !data.is_empty() && h.seq() == c.rcv_nxt {
            c.rx.extend_from_slice(data);
            c.rcv_nxt = c.rcv_nxt.wrapping_add(data.len() as u32);
            // Delayed ACK (RFC 9293 §3.8.6.3), one timer.
            c.delack_at.get_or_insert(us(now) + DELACK_US);
        }
        if f.contains(TcpFlags::FIN) {
            c.rcv_nxt = c.rcv_nxt.wrapping_add(1);
            c.fin_in = true;
            c.delack_at = None;
            let seq = c.snd_nxt;
            self.emit(TcpFlags::ACK, seq, &[], false);
        }
    }
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.out.is_empty() {
            return None;
        }
        let p = self.out.remove(0);
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        let c = self.conn.as_ref()?;
        [c.delack_at, c.syn_rto_at]
            .into_iter()
            .flatten()
            .min()
            .map(Instant::from_micros)
    }
    fn handle_timeout(&mut self, now: Instant) {
        let t = us(now);
        let Some(c) = &mut self.conn else { return };
        if c.delack_at.is_some_and(|d| d <= t) {
            c.delack_at = None;
            let seq = c.snd_nxt;
            self.emit(TcpFlags::ACK, seq, &[], false);
        } else if c.syn_rto_at.is_some_and(|d| d <= t) {
            c.syn_rto_at = Some(t + 2 * SYN_RTO_US);
            self.emit(TcpFlags::SYN, ISS, &[], true);
        }
    }
}

fn run_with(text: &str, cfg: &RunConfig) -> Verdict {
    let script = parse_script(text).expect("script parses");
    let mut fake = Fake::new();
    let out = run_script(&script, &mut fake, cfg);
    out.verdict
}

fn run(text: &str) -> Verdict {
    run_with(text, &RunConfig::default())
}

const PASSIVE: &str = "\
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
+0 > S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 7>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
";

fn fail_of(v: Verdict) -> synack_drill::run::Failure {
    match v {
        Verdict::Fail(f) => *f,
        other => panic!("expected FAIL, got {other:?}"),
    }
}

#[test]
fn passive_open_data_and_delayed_ack_pass() {
    let s = format!(
        "{PASSIVE}+.1 < P. 1:11(10) ack 1 win 257\n+.04 > . 1:1(0) ack 11\n\
         +0 read(4, ..., 100) = 10\n+0 write(4, ..., 5) = 5\n+0 > P. 1:6(5) ack 11\n"
    );
    assert_eq!(run(&s), Verdict::Pass);
}

#[test]
fn wrong_window_fails_with_expected_and_actual() {
    let s = PASSIVE.replace("ack 1 win 65535", "ack 1 win 1000");
    let f = fail_of(run(&s));
    assert_eq!(f.line, 6);
    assert!(
        f.message
            .contains("tcp window: expected 1000 vs actual 65535"),
        "{f}"
    );
    // The actual packet, in script space (relative seq) and tcpdump form (absolute).
    let actual = f.actual.unwrap();
    assert!(
        actual.contains("S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 7>"),
        "{actual}"
    );
    let td = f.actual_tcpdump.unwrap();
    assert!(
        td.contains("198.18.0.1.8080 > 198.18.0.2.40000: Flags [S.], seq 268435456"),
        "{td}"
    );
    assert_eq!(f.time_usecs, 100_000);
    // The same script passes when the window is relaxed.
    let cfg = RunConfig {
        relax: Relax::parse("window").unwrap(),
        ..RunConfig::default()
    };
    assert_eq!(run_with(&s, &cfg), Verdict::Pass);
}

#[test]
fn options_are_compared_in_order() {
    let s = PASSIVE.replace("<mss 1460,nop,wscale 7>", "<nop,wscale 7,mss 1460>");
    let f = fail_of(run(&s));
    assert!(f.message.starts_with("tcp options"), "{f}");
    let cfg = RunConfig {
        relax: Relax::parse("options-order").unwrap(),
        ..RunConfig::default()
    };
    assert_eq!(run_with(&s, &cfg), Verdict::Pass);
    // `<...>` accepts any options; a missing list means none.
    assert_eq!(
        run(&PASSIVE.replace("<mss 1460,nop,wscale 7>", "<...>")),
        Verdict::Pass
    );
    let f = fail_of(run(&PASSIVE.replace(" <mss 1460,nop,wscale 7>", "")));
    assert!(f.message.starts_with("tcp options"), "{f}");
}

#[test]
fn timing_is_checked_within_tolerance() {
    // The delayed ACK leaves 40 ms after the data: expecting it at once is a timing error.
    let s = format!("{PASSIVE}+.1 < P. 1:11(10) ack 1 win 257\n+0 > . 1:1(0) ack 11\n");
    let f = fail_of(run(&s));
    assert!(
        f.message.contains("expected packet not sent by 0.304000"),
        "{f}"
    );
    // 38 ms is within the default 4 ms tolerance of 40 ms, 30 ms is not.
    let ok = s.replace("+0 > . 1:1(0) ack 11", "+.038 > . 1:1(0) ack 11");
    assert_eq!(run(&ok), Verdict::Pass);
    let early = s.replace("+0 > . 1:1(0) ack 11", "+.060 > . 1:1(0) ack 11");
    let f = fail_of(run(&early));
    assert!(f.message.contains("timing error"), "{f}");
    assert!(f.message.contains("sent at 0.340000"), "{f}");
    // --tolerance_usecs widens it; a range covers it.
    assert_eq!(
        run(&format!("--tolerance_usecs=25000\n{early}")),
        Verdict::Pass
    );
    let range = s.replace("+0 > . 1:1(0) ack 11", "+.03~+.05 > . 1:1(0) ack 11");
    assert_eq!(run(&range), Verdict::Pass);
    let any = s.replace("+0 > . 1:1(0) ack 11", "* > . 1:1(0) ack 11");
    assert_eq!(run(&any), Verdict::Pass);
}

#[test]
fn syscall_results_and_errno_are_checked() {
    let s = format!("{PASSIVE}+.1 < P. 1:11(10) ack 1 win 257\n+0 read(4, ..., 100) = 5\n");
    let f = fail_of(run(&s));
    assert_eq!(f.message, "read returned 10, expected 5");
    let s = format!(
        "{PASSIVE}+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 read(4, ..., 100) = -1 EAGAIN (Resource temporarily unavailable)\n"
    );
    assert_eq!(run(&s), Verdict::Pass);
    let s2 = s.replace("EAGAIN", "ECONNRESET");
    let f = fail_of(run(&s2));
    assert!(
        f.message
            .contains("returned -1 EAGAIN, expected -1 ECONNRESET"),
        "{f}"
    );
    // Pointer results: getsockopt's value.
    let s = format!("{PASSIVE}+0 getsockopt(4, SOL_SOCKET, SO_RCVBUF, [65536], [4]) = 0\n");
    assert_eq!(run(&s), Verdict::Pass);
    let f = fail_of(run(&s.replace("[65536]", "[1]")));
    assert!(
        f.message.contains("returned value 65536, expected 1"),
        "{f}"
    );
    // F_GETFL reports O_NONBLOCK in the profile's numbering.
    let s = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)\n\
             +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n+0 fcntl(3, F_GETFL) = 0x6\n";
    let cfg = RunConfig {
        profile: Profile::FreeBsd,
        ..RunConfig::default()
    };
    assert_eq!(run_with(s, &cfg), Verdict::Pass);
    assert!(matches!(run(s), Verdict::Fail(_)));
}

#[test]
fn blocking_calls_end_when_the_script_says() {
    // A blocking read started at 0.2 returns when the data arrives at 0.3.
    let s = format!("{PASSIVE}+0...0.1 read(4, ..., 100) = 10\n+.1 < P. 1:11(10) ack 1 win 257\n");
    assert_eq!(run(&s), Verdict::Pass);
    let late = s.replace("+0...0.1 read", "+0...0.2 read");
    let f = fail_of(run(&late));
    assert!(
        f.message
            .contains("expected system call to return at 0.400000"),
        "{f}"
    );
    // Not written as blocking: a call that blocks is an error.
    let f = fail_of(run(&format!("{PASSIVE}+0 read(4, ..., 100) = 10\n")));
    assert!(f.message.contains("blocking call did not return"), "{f}");
}

#[test]
fn active_open_learns_the_isn_and_sees_the_syn_retransmission() {
    let s = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
             +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
             +0 > S 0:0(0) win 65535 <mss 1460,nop,wscale 7>\n\
             +1 > S 0:0(0) win 65535 <mss 1460,nop,wscale 7>\n\
             +.1 < S. 0:0(0) ack 1 win 5792 <mss 1460>\n\
             +0 > . 1:1(0) ack 1\n\
             +0 write(3, ..., 2000) = 2000\n\
             +0 > P. 1:2001(2000) ack 1\n";
    assert_eq!(run(s), Verdict::Pass);
    // Without TSO-style aggregation the two 1000-byte segments do not make one line.
    let cfg = RunConfig {
        strict_segments: true,
        ..RunConfig::default()
    };
    let f = fail_of(run_with(s, &cfg));
    assert!(
        f.message
            .contains("payload length: expected 2000 vs actual 1000"),
        "{f}"
    );
    // The retransmission comes 1 s later, not 0.5 s (nor 1.5 s).
    let f = fail_of(run(&s.replace("+1 > S", "+.5 > S")));
    assert!(
        f.message.contains("expected packet not sent by 0.504000"),
        "{f}"
    );
    let f = fail_of(run(&s.replace("+1 > S", "+1.5 > S")));
    assert!(f.message.contains("timing error"), "{f}");
}

#[test]
fn missing_and_unexpected_packets_fail() {
    let s = format!("{PASSIVE}+0 > F. 1:1(0) ack 1\n");
    let f = fail_of(run(&s));
    assert!(f.message.starts_with("expected packet not sent"), "{f}");
    // The close() FIN is the next segment: expecting a data segment sees it instead.
    let s = format!("{PASSIVE}+0 close(4) = 0\n+0 > P. 1:2(1) ack 1\n");
    let f = fail_of(run(&s));
    assert!(
        f.message.contains("tcp flags: expected P. vs actual F."),
        "{f}"
    );
}

#[test]
fn commands_and_code_blocks() {
    let ok = format!(
        "{PASSIVE}+0 `sockstat -4 -P tcp -s | grep packetdril | grep -c ESTABLISHED | grep 1`\n\
         +0 `sockstat -4 -P tcp -s -p 8080 | grep -c SYN_RCVD | grep 0`\n\
         +0 %{{ assert tcpi_state == TCPI_ESTABLISHED }}%\n\
         +0 `sysctl -w net.fake.knob=3`\n\
         +0 `sysctl -w net.inet.tcp.rfc1323=1`\n"
    );
    assert_eq!(run(&ok), Verdict::Pass);
    let f = fail_of(run(&ok.replace("-c ESTABLISHED", "-c TIME_WAIT")));
    assert!(f.message.starts_with("command failed"), "{f}");
    let f = fail_of(run(&ok.replace("== TCPI_ESTABLISHED", "== TCPI_CLOSE_WAIT")));
    assert!(f.message.contains("ESTABLISHED == CLOSE_WAIT"), "{f}");
    assert_eq!(
        run(&ok.replace("net.inet.tcp.rfc1323=1", "net.inet.tcp.rfc1323=0")),
        Verdict::Unsupported("sysctl net.inet.tcp.rfc1323=0".into())
    );
    assert_eq!(
        run("0 `modprobe tcp_bbr`\n"),
        Verdict::Unsupported("shell command `modprobe tcp_bbr`".into())
    );
    assert!(matches!(
        run(&format!("{PASSIVE}+0 %{{ print(tcpi_rtt) }}%\n")),
        Verdict::Unsupported(_)
    ));
}

#[test]
fn ifdef_follows_the_profile() {
    let s = format!(
        "{PASSIVE}#ifdef FreeBSD\n+0 read(4, ..., 10) = 99\n#else\n+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n#endif\n"
    );
    assert_eq!(run(&s), Verdict::Pass);
    let cfg = RunConfig {
        profile: Profile::FreeBsd,
        ..RunConfig::default()
    };
    assert!(matches!(run_with(&s, &cfg), Verdict::Fail(_)));
}

#[test]
fn inbound_ack_and_fin_map_to_the_live_isn() {
    // The fake's ISN is 0x10000000; the script says 1 and the runner maps it.
    let s = format!(
        "{PASSIVE}+.1 < F. 1:1(0) ack 1 win 257\n+0 > . 1:1(0) ack 2\n+0 read(4, ..., 10) = 0\n"
    );
    assert_eq!(run(&s), Verdict::Pass);
}
