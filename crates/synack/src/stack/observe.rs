//! Observability: per-reason drop counters, `nstat`-style counters and an `ss -tani`-style
//! connection table.

use crate::state::State;
use core::fmt;
use core::net::SocketAddr;

macro_rules! drop_reasons {
    ($($name:ident => $text:expr,)*) => {
        /// Why the stack dropped an inbound datagram (each has its own counter).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DropReason {
            $(
                #[doc = $text]
                $name,
            )*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];

            /// A short description.
            pub const fn describe(self) -> &'static str {
                match self {
                    $(DropReason::$name => $text,)*
                }
            }
        }
    };
}

drop_reasons! {
    Truncated => "shorter than its IP header",
    BadIpVersion => "IP version is neither 4 nor 6",
    BadIpHeader => "malformed IP header (IHL, extension headers)",
    BadIpChecksum => "IPv4 header checksum wrong",
    BadIpLength => "IP length field larger than the datagram",
    Martian => "martian source or destination address",
    NotLocal => "destination is not one of our addresses",
    Fragment => "fragment (reassembly failed, timed out, or IPv6)",
    UnknownProtocol => "neither TCP nor ICMP",
    BadTcpHeader => "TCP header truncated or bad data offset",
    BadTcpChecksum => "TCP checksum wrong",
    BadPort => "TCP port zero",
    NoSocket => "no connection or listener (answered with RST)",
    ListenOverflow => "accept queue full",
    SynQueueFull => "SYN queue full and cookies off",
    BadCookie => "ACK to a listener with an invalid SYN cookie",
    ListenerIgnored => "segment to a listener that is neither SYN nor valid ACK",
    BadIcmp => "malformed or ignored ICMP message",
    IcmpOutOfWindow => "ICMP error failing the RFC 5927 sequence check",
    TxQueueFull => "reply queue full (RST/ICMP not sent)",
    SynFin => "SYN and FIN together, dropped by tcp_drop_synfin",
    TimeWaitNoAck => "segment without ACK in TIME_WAIT (FreeBSD profile, tcp_twcheck)",
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self)
    }
}

macro_rules! counters {
    ($($field:ident => $name:expr, $doc:expr;)*) => {
        /// Host-wide counters named as `nstat` prints them (`TcpActiveOpens`, ...).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            $(
                #[doc = $doc]
                pub $field: u64,
            )*
            /// Drops per [`DropReason`], indexed by `reason as usize`.
            pub drops: [u64; DropReason::ALL.len()],
        }

        impl Counters {
            /// `(nstat name, value)` pairs, drop counters last as `SynackDrop<Reason>`.
            pub fn nstat(&self) -> Vec<(String, u64)> {
                let mut v = vec![$(($name.to_string(), self.$field),)*];
                for r in DropReason::ALL {
                    v.push((format!("SynackDrop{r:?}"), self.drops[*r as usize]));
                }
                v
            }
        }
    };
}

counters! {
    ip_in_receives => "IpInReceives", "Datagrams handed to `receive`.";
    ip_in_hdr_errors => "IpInHdrErrors", "Datagrams with header errors.";
    ip_in_addr_errors => "IpInAddrErrors", "Datagrams not for us or from martians.";
    ip_in_unknown_protos => "IpInUnknownProtos", "Datagrams of other protocols.";
    ip_in_delivers => "IpInDelivers", "Datagrams delivered to TCP or ICMP.";
    ip_out_requests => "IpOutRequests", "Datagrams sent.";
    ip_reasm_oks => "IpReasmOKs", "IPv4 datagrams reassembled.";
    ip_reasm_fails => "IpReasmFails", "IPv4 reassemblies abandoned.";
    icmp_in_msgs => "IcmpInMsgs", "ICMP messages received.";
    icmp_in_echos => "IcmpInEchos", "Echo requests received.";
    icmp_in_dest_unreachs => "IcmpInDestUnreachs", "Destination unreachable / packet too big received.";
    icmp_out_msgs => "IcmpOutMsgs", "ICMP messages sent.";
    icmp_out_echo_reps => "IcmpOutEchoReps", "Echo replies sent.";
    active_opens => "TcpActiveOpens", "CLOSED → SYN_SENT.";
    passive_opens => "TcpPassiveOpens", "SYN_RCVD → ESTABLISHED via a listener.";
    attempt_fails => "TcpAttemptFails", "SYN_SENT/SYN_RCVD → CLOSED or LISTEN.";
    estab_resets => "TcpEstabResets", "ESTABLISHED/CLOSE_WAIT → CLOSED.";
    curr_estab => "TcpCurrEstab", "Connections now in ESTABLISHED or CLOSE_WAIT.";
    in_segs => "TcpInSegs", "Segments received (checksum good).";
    out_segs => "TcpOutSegs", "Segments sent.";
    retrans_segs => "TcpRetransSegs", "Segments retransmitted.";
    in_errs => "TcpInErrs", "Segments received with errors.";
    in_csum_errors => "TcpInCsumErrors", "Segments with a bad checksum.";
    out_rsts => "TcpOutRsts", "RST segments sent.";
    syncookies_sent => "TcpExtSyncookiesSent", "SYN-ACKs carrying a cookie.";
    syncookies_recv => "TcpExtSyncookiesRecv", "Valid cookies received.";
    syncookies_failed => "TcpExtSyncookiesFailed", "Invalid cookies received.";
    listen_overflows => "TcpExtListenOverflows", "Accept queue full.";
    listen_drops => "TcpExtListenDrops", "SYNs or ACKs dropped by a listener.";
    tcp_abort_on_memory => "TcpExtTCPAbortOnMemory", "Orphans reset beyond tcp_max_orphans.";
    tcp_abort_on_close => "TcpExtTCPAbortOnClose", "Closes with unread data or SO_LINGER 0.";
    tcp_abort_on_linger => "TcpExtTCPAbortOnLinger", "Closes with SO_LINGER 0.";
    tcp_time_wait_reuse => "TcpExtTCPTimeWaitReuse", "TIME_WAIT tuples reused (SYN or connect).";
    tcp_orphans => "TcpExtTCPOrphanCount", "Orphaned connections now alive.";
}

impl Counters {
    /// Counts a drop.
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r as usize] += 1;
    }

    /// The drop counter of `r`.
    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }
}

/// One row of the `ss -tani`-style table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsRow {
    /// State (`LISTEN` for listeners).
    pub state: State,
    /// Recv-Q: unread bytes (listeners: accept queue length).
    pub recv_q: usize,
    /// Send-Q: unacknowledged and unsent bytes (listeners: the backlog).
    pub send_q: usize,
    /// Local address.
    pub local: SocketAddr,
    /// Peer address (unspecified for listeners).
    pub peer: SocketAddr,
    /// The pending timer, as `ss -o` shows it (`on`, `timewait`, ...) with its deadline.
    pub timer: Option<(&'static str, crate::Instant)>,
    /// Effective send MSS.
    pub mss: u16,
    /// Retransmissions of the current head.
    pub retrans: u8,
    /// Total retransmissions.
    pub total_retrans: u64,
    /// Send window scale and receive window scale when negotiated.
    pub wscale: Option<(u8, u8)>,
    /// Timestamps in use.
    pub ts: bool,
    /// SACK in use.
    pub sack: bool,
    /// Orphaned (closed by the application).
    pub orphan: bool,
    /// Retransmission timeout in force.
    pub rto: Option<crate::Duration>,
    /// Smoothed RTT and its variation.
    pub rtt: Option<(crate::Duration, crate::Duration)>,
    /// Congestion window in segments.
    pub cwnd: Option<u32>,
    /// Congestion-control algorithm.
    pub congestion: &'static str,
    /// Pacing rate, bytes per second, when paced (`ss -i` `pacing_rate`).
    pub pacing_rate: Option<u64>,
    /// The latest delivery-rate sample, bytes per second (`ss -i` `delivery_rate`).
    pub delivery_rate: Option<u64>,
}

/// A rate in bytes per second the way `ss` prints it: bits per second with a unit
/// (`12.5Mbps`).
fn fmt_bps(bytes_per_sec: u64) -> String {
    let b = bytes_per_sec as f64 * 8.0;
    if b >= 1e9 {
        format!("{:.1}Gbps", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1}Mbps", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1}Kbps", b / 1e3)
    } else {
        format!("{b}bps")
    }
}

impl fmt::Display for SsRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECV",
            State::Established => "ESTAB",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
            State::Closed => "UNCONN",
        };
        let peer = if self.state == State::Listen {
            "*:*".to_string()
        } else {
            self.peer.to_string()
        };
        write!(
            f,
            "{state:<11}{:>6} {:>6} {:<25} {:<25}",
            self.recv_q, self.send_q, self.local, peer
        )?;
        if let Some((name, at)) = self.timer {
            write!(f, " timer:({name},{at})")?;
        }
        if self.state != State::Listen {
            write!(f, "\n\t")?;
            if self.ts {
                write!(f, " ts")?;
            }
            if self.sack {
                write!(f, " sack")?;
            }
            if let Some((s, r)) = self.wscale {
                write!(f, " wscale:{s},{r}")?;
            }
            if !self.congestion.is_empty() {
                write!(f, " {}", self.congestion)?;
            }
            let ms = |d: crate::Duration| d.as_secs_f64() * 1000.0;
            if let Some(rto) = self.rto {
                write!(f, " rto:{}", ms(rto))?;
            }
            if let Some((rtt, var)) = self.rtt {
                write!(f, " rtt:{:.3}/{:.3}", ms(rtt), ms(var))?;
            }
            write!(f, " mss:{}", self.mss)?;
            if let Some(c) = self.cwnd {
                write!(f, " cwnd:{c}")?;
            }
            if let Some(r) = self.pacing_rate {
                write!(f, " pacing_rate {}", fmt_bps(r))?;
            }
            if let Some(r) = self.delivery_rate {
                write!(f, " delivery_rate {}", fmt_bps(r))?;
            }
            if self.retrans > 0 || self.total_retrans > 0 {
                write!(f, " retrans:{}/{}", self.retrans, self.total_retrans)?;
            }
            if self.orphan {
                write!(f, " orphan")?;
            }
        }
        Ok(())
    }
}

/// The `ss -tani` header line.
pub const SS_HEADER: &str = "State      Recv-Q Send-Q Local Address:Port        Peer Address:Port";
