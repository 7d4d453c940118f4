//! Host configuration by Linux sysctl names (`net.ipv4.tcp_syn_retries`, ...), with Linux's
//! defaults and a FreeBSD-like profile, readable and settable at run time with validation.

use crate::config::OptionLayout;
use core::fmt;

/// Why a sysctl could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysctlError {
    /// No such key (Linux: `cannot stat /proc/sys/...: No such file or directory`).
    UnknownKey(String),
    /// The value does not parse or is out of range (Linux: `Invalid argument`).
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What was expected.
        expected: String,
    },
}

impl fmt::Display for SysctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlError::UnknownKey(k) => write!(f, "sysctl: unknown key \"{k}\""),
            SysctlError::InvalidValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "sysctl: setting key \"{key}\" to \"{value}\": Invalid argument (expected {expected})"
            ),
        }
    }
}

impl std::error::Error for SysctlError {}

/// The stack profile whose defaults a [`Sysctl`] starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// Linux's defaults (the default).
    #[default]
    Linux,
    /// FreeBSD-like: BSD option order, 64 KiB buffers advertising 65535, window scale 6.
    FreeBsd,
}

/// The host's TCP/IP settings, named after Linux's sysctls (`net.ipv4.*`, `net.core.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctl {
    /// The profile the defaults came from.
    pub profile: Profile,
    /// `net.ipv4.tcp_syn_retries` (6): SYN retransmissions before ETIMEDOUT (1..=127).
    pub tcp_syn_retries: u8,
    /// `net.ipv4.tcp_synack_retries` (5): SYN-ACK retransmissions (1..=255).
    pub tcp_synack_retries: u8,
    /// `net.ipv4.tcp_retries1` (3): retransmissions before the path is suspected.
    pub tcp_retries1: u8,
    /// `net.ipv4.tcp_retries2` (15): data retransmissions before ETIMEDOUT.
    pub tcp_retries2: u8,
    /// `net.ipv4.tcp_orphan_retries` (0, meaning 8 on Linux): retries for orphans.
    pub tcp_orphan_retries: u8,
    /// `net.ipv4.tcp_fin_timeout` (60 s): FIN_WAIT_2 lifetime of an orphan.
    pub tcp_fin_timeout: u32,
    /// `net.ipv4.tcp_max_orphans` (65536 here; Linux scales it with memory).
    pub tcp_max_orphans: u32,
    /// `net.ipv4.tcp_window_scaling` (1).
    pub tcp_window_scaling: bool,
    /// `net.ipv4.tcp_sack` (1).
    pub tcp_sack: bool,
    /// `net.ipv4.tcp_dsack` (1); stored for the byte-stream work (RFC 2883).
    pub tcp_dsack: bool,
    /// `net.ipv4.tcp_timestamps` (1; Linux also accepts 2, timestamps without random offsets).
    pub tcp_timestamps: u8,
    /// `net.ipv4.tcp_syncookies` (1): 0 never, 1 when the SYN queue overflows, 2 always.
    pub tcp_syncookies: u8,
    /// `net.ipv4.tcp_max_syn_backlog` (4096 here; Linux scales it with memory).
    pub tcp_max_syn_backlog: u32,
    /// `net.core.somaxconn` (4096): the cap on a `listen` backlog.
    pub somaxconn: u32,
    /// `net.ipv4.tcp_rmem` (4096 131072 6291456): min, default and max receive buffer.
    pub tcp_rmem: [u32; 3],
    /// `net.ipv4.tcp_wmem` (4096 16384 4194304): min, default and max send buffer.
    pub tcp_wmem: [u32; 3],
    /// `net.ipv4.tcp_keepalive_time` (7200 s); stored for the byte-stream work.
    pub tcp_keepalive_time: u32,
    /// `net.ipv4.tcp_keepalive_intvl` (75 s); stored for the byte-stream work.
    pub tcp_keepalive_intvl: u32,
    /// `net.ipv4.tcp_keepalive_probes` (9); stored for the byte-stream work.
    pub tcp_keepalive_probes: u32,
    /// `net.ipv4.tcp_ecn` (2: accept ECN when asked, never ask); stored (the engine has no ECN).
    pub tcp_ecn: u8,
    /// `net.ipv4.tcp_congestion_control` (`cubic`); stored for the byte-stream work.
    pub tcp_congestion_control: String,
    /// `net.ipv4.tcp_rfc1337` (0): ignore RST in TIME_WAIT when 1.
    pub tcp_rfc1337: bool,
    /// `net.ipv4.tcp_challenge_ack_limit` (1000 per second, RFC 5961 §7).
    pub tcp_challenge_ack_limit: u32,
    /// `net.ipv4.tcp_abort_on_overflow` (0): RST instead of dropping when the accept queue is full.
    pub tcp_abort_on_overflow: bool,
    /// `net.ipv4.tcp_tw_reuse` (2): connect() may reuse a TIME_WAIT 4-tuple (1 always, 2
    /// loopback only) when timestamps were negotiated and the TIME_WAIT is over 1 s old.
    pub tcp_tw_reuse: u8,
    /// `net.ipv4.ip_local_port_range` (32768 60999): the ephemeral ports.
    pub ip_local_port_range: (u16, u16),
    /// `net.ipv4.icmp_echo_ignore_all` (0): ignore ICMP echo requests when 1.
    pub icmp_echo_ignore_all: bool,
    /// `net.ipv4.tcp_msl_ms` (synack extension; FreeBSD `net.inet.tcp.msl`, 30000 ms):
    /// TIME_WAIT lasts 2×MSL.
    pub tcp_msl_ms: u32,
    /// `net.ipv4.tcp_rfc5961` (synack extension, 1): RFC 5961 mitigations; FreeBSD's
    /// `net.inet.tcp.insecure_rst=1` turns them off.
    pub tcp_rfc5961: bool,
    /// `net.ipv4.tcp_option_layout` (synack extension): `linux` or `bsd` option order.
    pub tcp_option_layout: OptionLayout,
    /// `net.ipv4.tcp_mtu` (synack extension, 1500): the link MTU the MSS is derived from.
    pub tcp_mtu: u16,
    /// `net.ipv4.tcp_rto_min_ms` (synack extension; Linux `TCP_RTO_MIN` 200 ms, FreeBSD
    /// `net.inet.tcp.rexmit_min` 30 ms): the floor of the computed RTO.
    pub tcp_rto_min_ms: u32,
    /// `net.ipv4.tcp_delack_min_ms` (synack extension; Linux `TCP_ATO_MIN` 40 ms, FreeBSD
    /// `net.inet.tcp.delacktime` 40 ms): the shortest delayed-ACK timeout.
    pub tcp_delack_min_ms: u32,
    /// `net.ipv4.tcp_delack_max_ms` (synack extension; Linux `TCP_DELACK_MAX` 200 ms,
    /// FreeBSD 40 ms): the longest delayed-ACK timeout (RFC 9293 MUST-40: at most 500).
    pub tcp_delack_max_ms: u32,
    /// `net.ipv4.tcp_quickacks` (synack extension; Linux `TCP_MAX_QUICKACKS` 16, FreeBSD 0):
    /// segments acknowledged at once at the start of a connection.
    pub tcp_quickacks: u8,
    /// `net.ipv4.tcp_drop_synfin` (synack extension; FreeBSD `net.inet.tcp.drop_synfin`,
    /// 0): silently drop every segment carrying both SYN and FIN.
    pub tcp_drop_synfin: bool,
    /// `net.ipv4.tcp_icmp_may_rst` (synack extension; FreeBSD `net.inet.tcp.icmp_may_rst`,
    /// 1): under the FreeBSD profile, ICMP port/protocol unreachable, administratively
    /// prohibited and TTL exceeded drop a connection in SYN-SENT.
    pub tcp_icmp_may_rst: bool,
    /// `net.ipv4.tcp_slow_start_after_idle` (1): the congestion window restarts after an
    /// idle period longer than the RTO (RFC 5681 §4.1).
    pub tcp_slow_start_after_idle: bool,
    /// `net.ipv4.tcp_early_retrans` (Linux 3, the FreeBSD profile 0): 3 and 4 turn on
    /// RACK-TLP loss detection and tail loss probes (RFC 8985); FreeBSD's default stack
    /// has neither.
    pub tcp_early_retrans: u8,
    /// `net.ipv4.tcp_keepinit` (synack extension; FreeBSD `net.inet.tcp.keepinit`, in ms
    /// there; 75 s): under the FreeBSD profile, how long an active open may stay in
    /// SYN-SENT (`TCP_KEEPINIT`).
    pub tcp_keepinit: u32,
    /// `net.ipv4.tcp_min_tso_segs` (2; 1..=255): the fewest segments a TSO chunk is sized
    /// to (`tcp_tso_autosize()`'s floor); the Linux flavor ends its PSH-marked chunks there.
    pub tcp_min_tso_segs: u8,
    /// `net.ipv4.tcp_tso_win_divisor` (3; 0..=255): Linux defers a send that could take less
    /// than 1/divisor of min(send window, congestion window) to build a bigger TSO chunk
    /// (`tcp_tso_should_defer()`; 0 means "defer while at most 3 segments fit").
    pub tcp_tso_win_divisor: u8,
}

impl Default for Sysctl {
    fn default() -> Sysctl {
        Sysctl::linux()
    }
}

/// Every key [`Sysctl::get`] and [`Sysctl::set`] know, in `sysctl -a` order.
pub const KEYS: &[&str] = &[
    "net.core.somaxconn",
    "net.ipv4.icmp_echo_ignore_all",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_challenge_ack_limit",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_delack_max_ms",
    "net.ipv4.tcp_delack_min_ms",
    "net.ipv4.tcp_drop_synfin",
    "net.ipv4.tcp_dsack",
    "net.ipv4.tcp_early_retrans",
    "net.ipv4.tcp_ecn",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_icmp_may_rst",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepinit",
    "net.ipv4.tcp_max_orphans",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_min_tso_segs",
    "net.ipv4.tcp_msl_ms",
    "net.ipv4.tcp_mtu",
    "net.ipv4.tcp_option_layout",
    "net.ipv4.tcp_orphan_retries",
    "net.ipv4.tcp_quickacks",
    "net.ipv4.tcp_retries1",
    "net.ipv4.tcp_retries2",
    "net.ipv4.tcp_rfc1337",
    "net.ipv4.tcp_rfc5961",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_rto_min_ms",
    "net.ipv4.tcp_sack",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_tso_win_divisor",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_window_scaling",
    "net.ipv4.tcp_wmem",
];

/// FreeBSD's `net.inet.tcp.rfc1323`, which switches two Linux knobs at once
/// (`tcp_window_scaling` and `tcp_timestamps`).
const RFC1323: &str = "net.inet.tcp.rfc1323";

/// FreeBSD's `kern.ipc.maxsockbuf` (sb_max): the largest socket buffer, which is
/// `tcp_rmem[2]` and `tcp_wmem[2]` here.
const MAXSOCKBUF: &str = "kern.ipc.maxsockbuf";

/// Congestion control names accepted by `tcp_congestion_control`.
pub const CONGESTION_CONTROLS: &[&str] = &["reno", "cubic", "newreno", "bbr"];

impl Sysctl {
    /// Linux's defaults.
    pub fn linux() -> Sysctl {
        Sysctl {
            profile: Profile::Linux,
            tcp_syn_retries: 6,
            tcp_synack_retries: 5,
            tcp_retries1: 3,
            tcp_retries2: 15,
            tcp_orphan_retries: 0,
            tcp_fin_timeout: 60,
            tcp_max_orphans: 65536,
            tcp_window_scaling: true,
            tcp_sack: true,
            tcp_dsack: true,
            tcp_timestamps: 1,
            tcp_syncookies: 1,
            tcp_max_syn_backlog: 4096,
            somaxconn: 4096,
            tcp_rmem: [4096, 131072, 6291456],
            tcp_wmem: [4096, 16384, 4194304],
            tcp_keepalive_time: 7200,
            tcp_keepalive_intvl: 75,
            tcp_keepalive_probes: 9,
            tcp_ecn: 2,
            tcp_congestion_control: "cubic".to_string(),
            tcp_rfc1337: false,
            tcp_challenge_ack_limit: 1000,
            tcp_abort_on_overflow: false,
            tcp_tw_reuse: 2,
            ip_local_port_range: (32768, 60999),
            icmp_echo_ignore_all: false,
            tcp_msl_ms: 30_000,
            tcp_rfc5961: true,
            tcp_option_layout: OptionLayout::Linux,
            tcp_mtu: 1500,
            tcp_rto_min_ms: 200,
            tcp_delack_min_ms: 40,
            tcp_delack_max_ms: 200,
            tcp_quickacks: 16,
            tcp_drop_synfin: false,
            tcp_icmp_may_rst: true,
            tcp_slow_start_after_idle: true,
            tcp_early_retrans: 3,
            tcp_keepinit: 75,
            tcp_min_tso_segs: 2,
            tcp_tso_win_divisor: 3,
        }
    }

    /// A FreeBSD-like profile: BSD option order, 64 KiB send and receive buffers (the SYN
    /// advertises 65535), window scale 6 (from `kern.ipc.maxsockbuf` 2 MiB), ephemeral ports
    /// 49152–65535, `newreno`, RTO floor 30 ms, 40 ms delayed ACK, no quick-ACK, RST ignored
    /// in TIME_WAIT (RFC 1337).
    pub fn freebsd() -> Sysctl {
        Sysctl {
            profile: Profile::FreeBsd,
            tcp_rmem: [4096, 65536, 2097152],
            tcp_wmem: [4096, 32768, 2097152],
            tcp_congestion_control: "newreno".to_string(),
            tcp_option_layout: OptionLayout::Bsd,
            ip_local_port_range: (49152, 65535),
            tcp_ecn: 2,
            tcp_max_syn_backlog: 512,
            somaxconn: 128,
            tcp_rto_min_ms: 30,
            // FreeBSD tcp_timer.h: TCPTV_DELACK is hz/25, 40 ms (net.inet.tcp.delacktime).
            tcp_delack_min_ms: 40,
            tcp_delack_max_ms: 40,
            tcp_quickacks: 0,
            // FreeBSD tcp_twcheck(): a RST in TIME_WAIT is dropped (RFC 1337, Stevens
            // vol. 2 p. 964), whatever its sequence number.
            tcp_rfc1337: true,
            tcp_early_retrans: 0,
            // FreeBSD tcp_timer.h: TCP_MAXRXTSHIFT, 12 retransmissions of a SYN before
            // ETIMEDOUT (unless net.inet.tcp.keepinit runs out first).
            tcp_syn_retries: 12,
            ..Sysctl::linux()
        }
    }

    /// The defaults of `profile`.
    pub fn for_profile(profile: Profile) -> Sysctl {
        match profile {
            Profile::Linux => Sysctl::linux(),
            Profile::FreeBsd => Sysctl::freebsd(),
        }
    }

    /// Normalises a key: `net/ipv4/tcp_sack` and `net.ipv4.tcp_sack` are the same; a bare
    /// `tcp_sack` is looked up under `net.ipv4`; FreeBSD names (`net.inet.tcp.sack.enable`)
    /// map onto the Linux key they correspond to.
    pub fn canonical_key(key: &str) -> Option<&'static str> {
        let dotted = key.trim().replace('/', ".");
        let k = dotted.strip_prefix("proc.sys.").unwrap_or(&dotted);
        let linux = match k {
            "net.inet.tcp.sack.enable" => "net.ipv4.tcp_sack",
            "net.inet.tcp.syncookies" | "net.inet.tcp.syncookies_only" => "net.ipv4.tcp_syncookies",
            "net.inet.tcp.msl" => "net.ipv4.tcp_msl_ms",
            "net.inet.tcp.ecn.enable" => "net.ipv4.tcp_ecn",
            "net.inet.tcp.recvspace" => "net.ipv4.tcp_rmem",
            "net.inet.tcp.sendspace" => "net.ipv4.tcp_wmem",
            "net.inet.tcp.insecure_rst" | "net.inet.tcp.insecure_syn" => "net.ipv4.tcp_rfc5961",
            "net.inet.tcp.cc.algorithm" => "net.ipv4.tcp_congestion_control",
            "net.inet.tcp.keepidle" => "net.ipv4.tcp_keepalive_time",
            "net.inet.tcp.keepintvl" => "net.ipv4.tcp_keepalive_intvl",
            "net.inet.tcp.keepcnt" => "net.ipv4.tcp_keepalive_probes",
            "net.inet.tcp.keepinit" => "net.ipv4.tcp_keepinit",
            "net.inet.tcp.rexmit_min" => "net.ipv4.tcp_rto_min_ms",
            "net.inet.tcp.delacktime" => "net.ipv4.tcp_delack_min_ms",
            "net.inet.tcp.drop_synfin" => "net.ipv4.tcp_drop_synfin",
            "net.inet.tcp.icmp_may_rst" => "net.ipv4.tcp_icmp_may_rst",
            "kern.ipc.somaxconn" => "net.core.somaxconn",
            "net.inet.icmp.drop_redirect" => return None,
            other => other,
        };
        let full = if linux.contains('.') {
            linux.to_string()
        } else if linux == "somaxconn" {
            "net.core.somaxconn".to_string()
        } else {
            format!("net.ipv4.{linux}")
        };
        KEYS.iter().copied().find(|k| *k == full)
    }

    /// Reads a key, formatted as `sysctl -n` prints it (`4096\t131072\t6291456` for triples).
    pub fn get(&self, key: &str) -> Result<String, SysctlError> {
        if key.trim() == RFC1323 {
            let v = u8::from(self.tcp_window_scaling) | (u8::from(self.tcp_timestamps != 0) << 1);
            // FreeBSD: 1 both, 2 window scaling only, 3 timestamps only, 0 neither.
            return Ok(match v {
                3 => 1,
                1 => 2,
                2 => 3,
                _ => 0,
            }
            .to_string());
        }
        if key.trim() == MAXSOCKBUF {
            return Ok(self.tcp_rmem[2].max(self.tcp_wmem[2]).to_string());
        }
        let freebsd = key.trim().starts_with("net.inet.");
        let k = Sysctl::canonical_key(key).ok_or_else(|| SysctlError::UnknownKey(key.into()))?;
        let b = |v: bool| u8::from(v).to_string();
        Ok(match k {
            "net.core.somaxconn" => self.somaxconn.to_string(),
            "net.ipv4.icmp_echo_ignore_all" => b(self.icmp_echo_ignore_all),
            "net.ipv4.ip_local_port_range" => format!(
                "{}\t{}",
                self.ip_local_port_range.0, self.ip_local_port_range.1
            ),
            "net.ipv4.tcp_abort_on_overflow" => b(self.tcp_abort_on_overflow),
            "net.ipv4.tcp_challenge_ack_limit" => self.tcp_challenge_ack_limit.to_string(),
            "net.ipv4.tcp_congestion_control" => self.tcp_congestion_control.clone(),
            "net.ipv4.tcp_delack_max_ms" => self.tcp_delack_max_ms.to_string(),
            "net.ipv4.tcp_delack_min_ms" => self.tcp_delack_min_ms.to_string(),
            "net.ipv4.tcp_drop_synfin" => b(self.tcp_drop_synfin),
            "net.ipv4.tcp_dsack" => b(self.tcp_dsack),
            "net.ipv4.tcp_early_retrans" => self.tcp_early_retrans.to_string(),
            "net.ipv4.tcp_ecn" => self.tcp_ecn.to_string(),
            "net.ipv4.tcp_fin_timeout" => self.tcp_fin_timeout.to_string(),
            "net.ipv4.tcp_icmp_may_rst" => b(self.tcp_icmp_may_rst),
            // FreeBSD's keepidle and keepintvl are in milliseconds.
            "net.ipv4.tcp_keepalive_intvl" if freebsd => {
                (self.tcp_keepalive_intvl * 1000).to_string()
            }
            "net.ipv4.tcp_keepalive_intvl" => self.tcp_keepalive_intvl.to_string(),
            "net.ipv4.tcp_keepalive_probes" => self.tcp_keepalive_probes.to_string(),
            "net.ipv4.tcp_keepalive_time" if freebsd => {
                (self.tcp_keepalive_time * 1000).to_string()
            }
            "net.ipv4.tcp_keepalive_time" => self.tcp_keepalive_time.to_string(),
            "net.ipv4.tcp_keepinit" if freebsd => (self.tcp_keepinit * 1000).to_string(),
            "net.ipv4.tcp_keepinit" => self.tcp_keepinit.to_string(),
            "net.ipv4.tcp_max_orphans" => self.tcp_max_orphans.to_string(),
            "net.ipv4.tcp_max_syn_backlog" => self.tcp_max_syn_backlog.to_string(),
            "net.ipv4.tcp_min_tso_segs" => self.tcp_min_tso_segs.to_string(),
            "net.ipv4.tcp_msl_ms" => self.tcp_msl_ms.to_string(),
            "net.ipv4.tcp_mtu" => self.tcp_mtu.to_string(),
            "net.ipv4.tcp_option_layout" => match self.tcp_option_layout {
                OptionLayout::Linux => "linux".into(),
                OptionLayout::Bsd => "bsd".into(),
            },
            "net.ipv4.tcp_orphan_retries" => self.tcp_orphan_retries.to_string(),
            "net.ipv4.tcp_quickacks" => self.tcp_quickacks.to_string(),
            "net.ipv4.tcp_rto_min_ms" => self.tcp_rto_min_ms.to_string(),
            "net.ipv4.tcp_retries1" => self.tcp_retries1.to_string(),
            "net.ipv4.tcp_retries2" => self.tcp_retries2.to_string(),
            "net.ipv4.tcp_rfc1337" => b(self.tcp_rfc1337),
            "net.ipv4.tcp_rfc5961" => b(self.tcp_rfc5961),
            "net.ipv4.tcp_rmem" => triple(self.tcp_rmem),
            "net.ipv4.tcp_sack" => b(self.tcp_sack),
            "net.ipv4.tcp_slow_start_after_idle" => b(self.tcp_slow_start_after_idle),
            "net.ipv4.tcp_syn_retries" => self.tcp_syn_retries.to_string(),
            "net.ipv4.tcp_synack_retries" => self.tcp_synack_retries.to_string(),
            "net.ipv4.tcp_syncookies" => self.tcp_syncookies.to_string(),
            "net.ipv4.tcp_timestamps" => self.tcp_timestamps.to_string(),
            "net.ipv4.tcp_tso_win_divisor" => self.tcp_tso_win_divisor.to_string(),
            "net.ipv4.tcp_tw_reuse" => self.tcp_tw_reuse.to_string(),
            "net.ipv4.tcp_window_scaling" => b(self.tcp_window_scaling),
            "net.ipv4.tcp_wmem" => triple(self.tcp_wmem),
            _ => return Err(SysctlError::UnknownKey(key.into())),
        })
    }

    /// Sets a key from its text form, validating it; on error nothing changes. FreeBSD
    /// keys with different meanings are translated (`net.inet.tcp.insecure_rst=1` turns
    /// RFC 5961 off; `net.inet.tcp.recvspace=N` sets the default receive buffer).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SysctlError> {
        if key.trim() == RFC1323 {
            // FreeBSD (tcp_subr.c, V_tcp_do_rfc1323): 0 neither, 1 window scaling and
            // timestamps (RFC 7323), 2 window scaling only, 3 timestamps only.
            let (ws, ts) = match value.trim() {
                "0" => (false, false),
                "1" => (true, true),
                "2" => (true, false),
                "3" => (false, true),
                _ => {
                    return Err(SysctlError::InvalidValue {
                        key: RFC1323.to_string(),
                        value: value.to_string(),
                        expected: "0, 1, 2 or 3".to_string(),
                    });
                }
            };
            self.tcp_window_scaling = ws;
            self.tcp_timestamps = u8::from(ts);
            return Ok(());
        }
        if key.trim() == MAXSOCKBUF {
            // FreeBSD: sb_max caps every socket buffer, and the window scale requested in
            // a SYN is the smallest whose 65535 << scale reaches it (tcp_output.c).
            let n = value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 65536)
                .ok_or_else(|| SysctlError::InvalidValue {
                    key: MAXSOCKBUF.to_string(),
                    value: value.to_string(),
                    expected: "an integer of at least 65536".to_string(),
                })?;
            for t in [&mut self.tcp_rmem, &mut self.tcp_wmem] {
                t[2] = n;
                t[1] = t[1].min(n);
                t[0] = t[0].min(n);
            }
            return Ok(());
        }
        let k = Sysctl::canonical_key(key).ok_or_else(|| SysctlError::UnknownKey(key.into()))?;
        let v = value.trim();
        let bad = |expected: &str| SysctlError::InvalidValue {
            key: k.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        let num = |lo: u64, hi: u64| -> Result<u64, SysctlError> {
            v.parse::<u64>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| bad(&format!("an integer in {lo}..={hi}")))
        };
        let boolean = || -> Result<bool, SysctlError> {
            match v {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(bad("0 or 1")),
            }
        };
        let freebsd = key.trim().starts_with("net.inet.") || key.trim().starts_with("kern.");
        match k {
            "net.core.somaxconn" => self.somaxconn = num(0, i32::MAX as u64)? as u32,
            "net.ipv4.icmp_echo_ignore_all" => self.icmp_echo_ignore_all = boolean()?,
            "net.ipv4.ip_local_port_range" => {
                let mut it = v.split_whitespace().map(str::parse::<u16>);
                let (Some(Ok(lo)), Some(Ok(hi)), None) = (it.next(), it.next(), it.next()) else {
                    return Err(bad("two ports \"LOW HIGH\""));
                };
                // Linux (ipv4_local_port_range): low <= high, both non-zero.
                if lo == 0 || lo > hi {
                    return Err(bad("1 <= LOW <= HIGH <= 65535"));
                }
                self.ip_local_port_range = (lo, hi);
            }
            "net.ipv4.tcp_abort_on_overflow" => self.tcp_abort_on_overflow = boolean()?,
            "net.ipv4.tcp_challenge_ack_limit" => {
                self.tcp_challenge_ack_limit = num(0, u32::MAX as u64)? as u32
            }
            "net.ipv4.tcp_congestion_control" => {
                if !CONGESTION_CONTROLS.contains(&v) {
                    return Err(bad(&format!("one of {}", CONGESTION_CONTROLS.join(", "))));
                }
                self.tcp_congestion_control = v.to_string();
            }
            // RFC 9293 §3.8.6.3 (MUST-40): an ACK may not be delayed more than 0.5 s.
            "net.ipv4.tcp_delack_max_ms" => {
                let v = num(1, 500)? as u32;
                if v < self.tcp_delack_min_ms {
                    return Err(bad(&format!(
                        "at least tcp_delack_min_ms ({})",
                        self.tcp_delack_min_ms
                    )));
                }
                self.tcp_delack_max_ms = v;
            }
            "net.ipv4.tcp_delack_min_ms" => {
                let v = num(1, 500)? as u32;
                if freebsd {
                    // FreeBSD's delacktime is the one delayed-ACK timeout.
                    self.tcp_delack_max_ms = v;
                } else if v > self.tcp_delack_max_ms {
                    return Err(bad(&format!(
                        "at most tcp_delack_max_ms ({})",
                        self.tcp_delack_max_ms
                    )));
                }
                self.tcp_delack_min_ms = v;
            }
            "net.ipv4.tcp_drop_synfin" => self.tcp_drop_synfin = boolean()?,
            "net.ipv4.tcp_dsack" => self.tcp_dsack = boolean()?,
            "net.ipv4.tcp_early_retrans" => self.tcp_early_retrans = num(0, 4)? as u8,
            "net.ipv4.tcp_ecn" => self.tcp_ecn = num(0, 2)? as u8,
            "net.ipv4.tcp_fin_timeout" => self.tcp_fin_timeout = num(1, 86400)? as u32,
            "net.ipv4.tcp_icmp_may_rst" => self.tcp_icmp_may_rst = boolean()?,
            // FreeBSD's keepidle and keepintvl are milliseconds; the stack keeps seconds
            // (rounded up, as the socket options read them back).
            "net.ipv4.tcp_keepalive_intvl" if freebsd => {
                self.tcp_keepalive_intvl = num(1, 32_767_000)?.div_ceil(1000) as u32
            }
            "net.ipv4.tcp_keepalive_intvl" => self.tcp_keepalive_intvl = num(1, 32767)? as u32,
            "net.ipv4.tcp_keepalive_probes" => self.tcp_keepalive_probes = num(1, 127)? as u32,
            "net.ipv4.tcp_keepalive_time" if freebsd => {
                self.tcp_keepalive_time = num(1, 32_767_000)?.div_ceil(1000) as u32
            }
            "net.ipv4.tcp_keepalive_time" => self.tcp_keepalive_time = num(1, 32767)? as u32,
            "net.ipv4.tcp_keepinit" if freebsd => {
                self.tcp_keepinit = num(1, 32_767_000)?.div_ceil(1000) as u32
            }
            "net.ipv4.tcp_keepinit" => self.tcp_keepinit = num(1, 32767)? as u32,
            "net.ipv4.tcp_max_orphans" => self.tcp_max_orphans = num(0, i32::MAX as u64)? as u32,
            "net.ipv4.tcp_max_syn_backlog" => {
                self.tcp_max_syn_backlog = num(1, i32::MAX as u64)? as u32
            }
            // Linux (sysctl_net_ipv4.c): both are u8 sysctls; tcp_min_tso_segs is at least 1.
            "net.ipv4.tcp_min_tso_segs" => self.tcp_min_tso_segs = num(1, 255)? as u8,
            "net.ipv4.tcp_msl_ms" => self.tcp_msl_ms = num(1, 3_600_000)? as u32,
            // RFC 791: every IPv4 link carries 68-byte datagrams.
            "net.ipv4.tcp_mtu" => self.tcp_mtu = num(68, 65535)? as u16,
            "net.ipv4.tcp_option_layout" => {
                self.tcp_option_layout = match v {
                    "linux" => OptionLayout::Linux,
                    "bsd" | "freebsd" => OptionLayout::Bsd,
                    _ => return Err(bad("linux or bsd")),
                }
            }
            "net.ipv4.tcp_orphan_retries" => self.tcp_orphan_retries = num(0, 255)? as u8,
            "net.ipv4.tcp_quickacks" => self.tcp_quickacks = num(0, 255)? as u8,
            "net.ipv4.tcp_rto_min_ms" => self.tcp_rto_min_ms = num(1, 120_000)? as u32,
            "net.ipv4.tcp_retries1" => self.tcp_retries1 = num(0, 255)? as u8,
            "net.ipv4.tcp_retries2" => self.tcp_retries2 = num(0, 255)? as u8,
            "net.ipv4.tcp_rfc1337" => self.tcp_rfc1337 = boolean()?,
            "net.ipv4.tcp_rfc5961" => {
                let on = boolean()?;
                // FreeBSD's insecure_rst/insecure_syn say the opposite of "mitigations on".
                self.tcp_rfc5961 = if freebsd { !on } else { on };
            }
            "net.ipv4.tcp_rmem" => {
                self.tcp_rmem = if freebsd {
                    let n = num(1, i32::MAX as u64)? as u32;
                    [self.tcp_rmem[0].min(n), n, self.tcp_rmem[2].max(n)]
                } else {
                    parse_triple(v).ok_or_else(|| bad("three sizes \"MIN DEFAULT MAX\""))?
                }
            }
            "net.ipv4.tcp_sack" => self.tcp_sack = boolean()?,
            "net.ipv4.tcp_slow_start_after_idle" => self.tcp_slow_start_after_idle = boolean()?,
            // Linux: tcp_syn_retries is limited to 127 (MAX_TCP_SYNCNT).
            "net.ipv4.tcp_syn_retries" => self.tcp_syn_retries = num(1, 127)? as u8,
            "net.ipv4.tcp_synack_retries" => self.tcp_synack_retries = num(0, 255)? as u8,
            "net.ipv4.tcp_syncookies" => self.tcp_syncookies = num(0, 2)? as u8,
            "net.ipv4.tcp_timestamps" => self.tcp_timestamps = num(0, 2)? as u8,
            "net.ipv4.tcp_tso_win_divisor" => self.tcp_tso_win_divisor = num(0, 255)? as u8,
            "net.ipv4.tcp_tw_reuse" => self.tcp_tw_reuse = num(0, 2)? as u8,
            "net.ipv4.tcp_window_scaling" => self.tcp_window_scaling = boolean()?,
            "net.ipv4.tcp_wmem" => {
                self.tcp_wmem = if freebsd {
                    let n = num(1, i32::MAX as u64)? as u32;
                    [self.tcp_wmem[0].min(n), n, self.tcp_wmem[2].max(n)]
                } else {
                    parse_triple(v).ok_or_else(|| bad("three sizes \"MIN DEFAULT MAX\""))?
                }
            }
            _ => return Err(SysctlError::UnknownKey(key.into())),
        }
        Ok(())
    }

    /// Every key with its value, as `sysctl -a` lists them.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .filter_map(|k| self.get(k).ok().map(|v| (*k, v)))
            .collect()
    }
}

fn triple(t: [u32; 3]) -> String {
    format!("{}\t{}\t{}", t[0], t[1], t[2])
}

/// `MIN DEFAULT MAX`, each at least 1 and in non-decreasing order.
fn parse_triple(v: &str) -> Option<[u32; 3]> {
    let mut out = [0u32; 3];
    let mut it = v.split_whitespace();
    for slot in &mut out {
        *slot = it.next()?.parse().ok()?;
    }
    if it.next().is_some() || out[0] == 0 || out[0] > out[1] || out[1] > out[2] {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_defaults_read_back() {
        let s = Sysctl::linux();
        assert_eq!(s.get("net.ipv4.tcp_syn_retries").unwrap(), "6");
        assert_eq!(s.get("net/ipv4/tcp_rmem").unwrap(), "4096\t131072\t6291456");
        assert_eq!(s.get("ip_local_port_range").unwrap(), "32768\t60999");
        assert_eq!(s.all().len(), KEYS.len());
    }

    #[test]
    fn freebsd_names_translate() {
        let mut s = Sysctl::freebsd();
        s.set("net.inet.tcp.insecure_rst", "1").unwrap();
        assert!(!s.tcp_rfc5961);
        s.set("net.inet.tcp.recvspace", "32768").unwrap();
        assert_eq!(s.tcp_rmem[1], 32768);
        s.set("net.inet.tcp.keepintvl", "75000").unwrap();
        assert_eq!(s.tcp_keepalive_intvl, 75);
        assert_eq!(s.get("net.inet.tcp.keepintvl").unwrap(), "75000");
        assert_eq!(s.get("net.ipv4.tcp_keepalive_intvl").unwrap(), "75");
        s.set("net.inet.tcp.keepidle", "1500").unwrap();
        assert_eq!(s.tcp_keepalive_time, 2);
        s.set("net.inet.tcp.drop_synfin", "1").unwrap();
        assert!(s.tcp_drop_synfin);
        s.set("net.inet.tcp.rfc1323", "0").unwrap();
        assert!(!s.tcp_window_scaling);
        assert_eq!(s.tcp_timestamps, 0);
        s.set("net.inet.tcp.rfc1323", "3").unwrap();
        assert_eq!(s.get("net.inet.tcp.rfc1323").unwrap(), "3");
        assert!(s.set("net.inet.tcp.rfc1323", "4").is_err());
        s.set("net.inet.tcp.rfc1323", "1").unwrap();
        assert!(s.tcp_window_scaling && s.tcp_timestamps == 1);
        s.set("kern.ipc.maxsockbuf", "73728").unwrap();
        assert_eq!((s.tcp_rmem[2], s.tcp_wmem[2]), (73728, 73728));
        assert_eq!(s.get("kern.ipc.maxsockbuf").unwrap(), "73728");
        assert!(s.set("kern.ipc.maxsockbuf", "1000").is_err());
    }

    #[test]
    fn tso_knobs_validate() {
        let mut s = Sysctl::linux();
        assert_eq!(s.get("net.ipv4.tcp_min_tso_segs").unwrap(), "2");
        assert_eq!(s.get("tcp_tso_win_divisor").unwrap(), "3");
        s.set("net/ipv4/tcp_min_tso_segs", "10").unwrap();
        assert_eq!(s.tcp_min_tso_segs, 10);
        assert!(s.set("net.ipv4.tcp_min_tso_segs", "0").is_err());
        assert!(s.set("net.ipv4.tcp_min_tso_segs", "256").is_err());
        assert_eq!(s.tcp_min_tso_segs, 10);
        s.set("net.ipv4.tcp_tso_win_divisor", "100").unwrap();
        s.set("net.ipv4.tcp_tso_win_divisor", "0").unwrap();
        assert_eq!(s.tcp_tso_win_divisor, 0);
        assert!(s.set("net.ipv4.tcp_tso_win_divisor", "-1").is_err());
        assert!(s.set("net.ipv4.tcp_tso_win_divisor", "256").is_err());
    }
}
