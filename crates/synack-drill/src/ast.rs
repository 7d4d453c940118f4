//! The syntax tree of a packetdrill script.
//!
//! A [`Script`] is a list of option lines (`--tolerance_usecs=...`) and a list of timed
//! [`Event`]s. Every event carries its source line and column so a runner can name the line
//! that failed, and every node implements `Display` back to script form so a runner can quote
//! the expected line in a mismatch report.

use core::fmt;

pub use synack_wire::TcpFlags;

/// A parsed packetdrill script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// Command-line-style option lines (`--name=value`), in script order.
    pub options: Vec<ScriptOption>,
    /// The events, in script order.
    pub events: Vec<Event>,
}

impl Script {
    /// The value of the last option line named `name` (without the leading `--`), if any.
    ///
    /// An option given without `=value` yields `Some("")`.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|o| o.name == name)
            .map(|o| o.value.as_deref().unwrap_or(""))
    }

    /// `--tolerance_usecs`, the allowed lateness of an event in microseconds, when given and
    /// numeric.
    pub fn tolerance_usecs(&self) -> Option<u64> {
        self.option("tolerance_usecs")?.parse().ok()
    }

    /// The `--define=NAME=VALUE` options as `(NAME, VALUE)` pairs (VALUE empty when absent).
    pub fn defines(&self) -> Vec<(&str, &str)> {
        self.options
            .iter()
            .filter(|o| o.name == "define")
            .filter_map(|o| o.value.as_deref())
            .map(|v| v.split_once('=').unwrap_or((v, "")))
            .collect()
    }

    /// The events whose `#ifdef` guards hold, given which names are defined.
    pub fn active_events<'a>(
        &'a self,
        defined: &'a dyn Fn(&str) -> bool,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.is_active(defined))
    }
}

/// One `--name[=value]` line at the top of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptOption {
    /// The option name without the leading `--` (e.g. `tolerance_usecs`).
    pub name: String,
    /// The text after `=`, if present.
    pub value: Option<String>,
    /// 1-based source line.
    pub line: u32,
}

/// One timed line of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// 1-based source line where the event starts.
    pub line: u32,
    /// 1-based source column where the event starts.
    pub column: u32,
    /// When the event happens (or must happen).
    pub time: EventTime,
    /// For a blocking system call `T...E`: the end time `E` exactly as written (absolute
    /// or `+`relative). The public scripts write a plain number here (`+0...0.200`); how it
    /// combines with a relative start is the runner's rule to define.
    pub end: Option<Timestamp>,
    /// The `#ifdef`/`#ifndef`/`#else` conditions enclosing the event, outermost first; the
    /// event is part of the script only when all of them hold.
    pub guards: Vec<Guard>,
    /// What happens.
    pub kind: EventKind,
}

impl Event {
    /// Whether every guard of this event holds, given which names are defined.
    pub fn is_active(&self, defined: &dyn Fn(&str) -> bool) -> bool {
        self.guards.iter().all(|g| defined(&g.name) == g.defined)
    }
}

/// A preprocessor condition: the enclosed events apply only when `name` is defined
/// (`defined == true`, from `#ifdef`) or not defined (`false`, from `#ifndef` or `#else`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    /// The macro name tested.
    pub name: String,
    /// Whether the name must be defined.
    pub defined: bool,
}

/// The time specification of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventTime {
    /// No time was written (e.g. a leading shell command): the event follows the previous
    /// one immediately, like `+0`.
    Unspecified,
    /// `*`: any time is acceptable.
    Any,
    /// A single point in time, within the script's tolerance.
    At(Timestamp),
    /// `start~end`: any time in the closed interval is acceptable.
    Range(Timestamp, Timestamp),
}

/// Whether a timestamp counts from the script start or from the previous event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeBase {
    /// `0.100`: microseconds since the start of the script.
    Absolute,
    /// `+0.100`: microseconds after the previous event.
    Relative,
}

/// A time written in the script, exact to the microsecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Absolute or relative.
    pub base: TimeBase,
    /// The offset in microseconds.
    pub micros: u64,
}

/// What an event does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A packet to inject (`<`) or expect (`>`).
    Packet(Packet),
    /// A system call with its expected result.
    Syscall(Syscall),
    /// A back-quoted shell command; the text between the back quotes, verbatim.
    Command(String),
    /// A `%{ ... }%` Python block; the text between the delimiters, verbatim.
    Code(String),
}

/// The direction of a packet line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `<`: the script injects the packet into the stack under test.
    Inbound,
    /// `>`: the stack under test must send the packet.
    Outbound,
}

/// An IP ECN codepoint mark `[...]` on a packet line (RFC 3168 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// `[noecn]`: Not-ECT (00).
    NoEcn,
    /// `[ect0]`: ECT(0) (10).
    Ect0,
    /// `[ect1]`: ECT(1) (01).
    Ect1,
    /// `[ect01]`: either ECT(0) or ECT(1).
    Ect01,
    /// `[ce]`: Congestion Experienced (11).
    Ce,
}

/// One IP header override in `( ... )` before a packet's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpField {
    /// `tos 0x20`: the whole IPv4 TOS / IPv6 traffic class byte.
    Tos(u8),
    /// `ttl 64`: IPv4 TTL / IPv6 hop limit.
    Ttl(u8),
    /// `id 1234`: IPv4 identification.
    Id(u16),
    /// `flowlabel 0x12345`: IPv6 flow label.
    FlowLabel(u32),
    /// `df`: IPv4 Don't Fragment set.
    Df,
    /// `mf`: IPv4 More Fragments set.
    Mf,
}

/// A packet line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Inbound or outbound.
    pub direction: Direction,
    /// The ECN mark, if written.
    pub ecn: Option<Ecn>,
    /// IP header overrides, in script order.
    pub ip: Vec<IpField>,
    /// The transport part.
    pub body: PacketBody,
    /// `/udp(SRC > DST)`: the segment travels UDP-encapsulated (RFC 6951) between these ports.
    pub udp_encap: Option<(u16, u16)>,
}

/// The transport part of a packet line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketBody {
    /// A TCP segment.
    Tcp(TcpSegment),
    /// `udp (LEN)`: a UDP datagram with LEN payload bytes.
    Udp(UdpDatagram),
    /// `icmp TYPE [CODE] ...`: an ICMP message.
    Icmp(IcmpMessage),
}

/// A TCP segment line: `FLAGS START:END(LEN) [ack N] [win N] [urg N] [<options>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    /// The control flags (`S`, `.`, `P.`, `-` for none, ...).
    pub flags: TcpFlags,
    /// The sequence range.
    pub seq: SeqRange,
    /// `ack N`, relative to the peer's initial sequence number.
    pub ack: Option<u32>,
    /// `win N`: the raw (unscaled) window field; `None` means "do not check".
    pub win: Option<u32>,
    /// `urg N`: the urgent pointer.
    pub urg: Option<u32>,
    /// The option list; `None` when no `<...>` was written.
    pub options: Option<TcpOptions>,
}

/// `START:END(LEN)` (or `...(LEN)`), optionally followed by `!`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqRange {
    /// `(START, END)`, relative to the sender's ISN unless `absolute`; `None` for `...`
    /// (any sequence number).
    pub bounds: Option<(u32, u32)>,
    /// The payload length in bytes.
    pub len: u32,
    /// `!` after the range: the numbers are absolute, not relative to the ISN (as in a RST
    /// with SEQ=0 answering a segment without ACK, RFC 9293 §3.10.7.1).
    pub absolute: bool,
}

/// The `<...>` part of a TCP line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOptions {
    /// `<...>`: any options are acceptable.
    Any,
    /// An exact list, in order.
    List(Vec<TcpOption>),
}

/// One TCP option in a `<...>` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    /// `eol` (kind 0, RFC 9293 §3.2).
    Eol,
    /// `nop` (kind 1).
    Nop,
    /// `mss N` (kind 2).
    Mss(u16),
    /// `wscale N` (kind 3, RFC 7323 §2).
    WindowScale(u8),
    /// `sackOK` (kind 4, RFC 2018).
    SackPermitted,
    /// `sack L:R L:R ...` (kind 5, RFC 2018), edges relative to the ISN.
    Sack(Vec<(u32, u32)>),
    /// `TS val V ecr E` (kind 8, RFC 7323 §3).
    Timestamp {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// `md5 valid|invalid` (kind 19, RFC 2385); `None` when no qualifier was written.
    Md5(Option<bool>),
    /// `FO [cookie]` (kind 34, RFC 7413), cookie bytes from hex.
    FastOpen(Vec<u8>),
    /// `FOEXP [cookie]` (kind 254 with magic 0xF989, RFC 7413 §4.1.3 experimental form).
    FastOpenExp(Vec<u8>),
}

impl TcpOption {
    /// The option kind number on the wire.
    pub fn kind(&self) -> u8 {
        match self {
            TcpOption::Eol => 0,
            TcpOption::Nop => 1,
            TcpOption::Mss(_) => 2,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 4,
            TcpOption::Sack(_) => 5,
            TcpOption::Timestamp { .. } => 8,
            TcpOption::Md5(_) => 19,
            TcpOption::FastOpen(_) => 34,
            TcpOption::FastOpenExp(_) => 254,
        }
    }

    /// The script keyword of this option (`mss`, `sackOK`, `TS`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            TcpOption::Eol => "eol",
            TcpOption::Nop => "nop",
            TcpOption::Mss(_) => "mss",
            TcpOption::WindowScale(_) => "wscale",
            TcpOption::SackPermitted => "sackOK",
            TcpOption::Sack(_) => "sack",
            TcpOption::Timestamp { .. } => "TS",
            TcpOption::Md5(_) => "md5",
            TcpOption::FastOpen(_) => "FO",
            TcpOption::FastOpenExp(_) => "FOEXP",
        }
    }
}

/// `udp (LEN)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpDatagram {
    /// Payload length in bytes.
    pub len: u32,
}

/// A named or numeric ICMP type or code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IcmpName {
    /// The word as written (`unreachable`, `frag_needed`, `type_3`, `code_4`).
    pub name: String,
    /// Its numeric value.
    pub value: u8,
}

/// `icmp TYPE [CODE] [mtu N] [[QUOTED]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpMessage {
    /// The ICMP type.
    pub icmp_type: IcmpName,
    /// The ICMP code, if written (0 otherwise).
    pub code: Option<IcmpName>,
    /// `mtu N` for "fragmentation needed" (RFC 1191 §4).
    pub mtu: Option<u32>,
    /// The quoted offending packet, `[START:END(LEN)]` or `[udp (LEN)]`.
    pub quoted: Option<IcmpQuoted>,
}

/// The packet an ICMP error quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpQuoted {
    /// A TCP segment with this sequence range (relative to the stack's ISN).
    Tcp(SeqRange),
    /// A UDP datagram with this payload length.
    Udp(u32),
}

/// A system call line: `name(args) = result [ERRNO] [(note)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// The call name (`socket`, `setsockopt`, ...).
    pub name: String,
    /// The arguments.
    pub args: Vec<Expr>,
    /// The expected return value.
    pub result: Expr,
    /// The expected errno symbol (`EINPROGRESS`), if written.
    pub errno: Option<String>,
    /// The parenthesised text after the result (`Operation now in progress`,
    /// `flags O_RDWR`), verbatim; informational only.
    pub note: Option<String>,
}

/// A system call argument or result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// An integer literal (decimal, hex, possibly negative).
    Int(i64),
    /// A string literal, escapes resolved.
    Str(Vec<u8>),
    /// `NULL`.
    Null,
    /// `...`: elided, the runner chooses a suitable value.
    Elided,
    /// A symbolic constant (`SOL_SOCKET`, `O_NONBLOCK`, `ECONNRESET`).
    Symbol(String),
    /// `[a, b, ...]`: an array, also used for pointers to values (`[1]`).
    Array(Vec<Expr>),
    /// `{name=value, ...}`: a struct.
    Struct(Vec<Field>),
    /// `a | b | ...`: bitwise or of two or more operands, none of them itself an `Or`.
    Or(Vec<Expr>),
    /// `name(args)`: a helper such as `htons(8080)` or `inet_addr("192.0.2.1")`.
    Call(String, Vec<Expr>),
}

/// One member of a struct expression: `name=value`, or a bare value (including `...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The member name, if written.
    pub name: Option<String>,
    /// The member value.
    pub value: Expr,
}

impl Expr {
    /// The integer value, if this is an integer literal.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Expr::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The symbol name, if this is a symbolic constant.
    pub fn as_symbol(&self) -> Option<&str> {
        match self {
            Expr::Symbol(s) => Some(s),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Display: back to script form.

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.base == TimeBase::Relative {
            f.write_str("+")?;
        }
        let secs = self.micros / 1_000_000;
        let frac = self.micros % 1_000_000;
        if frac == 0 {
            write!(f, "{secs}")
        } else {
            let digits = format!("{frac:06}");
            write!(f, "{secs}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventTime::Unspecified => Ok(()),
            EventTime::Any => f.write_str("*"),
            EventTime::At(t) => write!(f, "{t}"),
            EventTime::Range(a, b) => write!(f, "{a}~{b}"),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.time)?;
        if let Some(end) = &self.end {
            write!(f, "...{end}")?;
        }
        if self.time != EventTime::Unspecified || self.end.is_some() {
            f.write_str(" ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Packet(p) => write!(f, "{p}"),
            EventKind::Syscall(s) => write!(f, "{s}"),
            EventKind::Command(c) => write!(f, "`{c}`"),
            EventKind::Code(c) => write!(f, "%{{{c}}}%"),
        }
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.options {
            match &o.value {
                Some(v) => writeln!(f, "--{}={v}", o.name)?,
                None => writeln!(f, "--{}", o.name)?,
            }
        }
        let mut open: &[Guard] = &[];
        for e in &self.events {
            // Close guards not shared with this event, then open the new ones.
            let common = open
                .iter()
                .zip(&e.guards)
                .take_while(|(a, b)| a == b)
                .count();
            for _ in common..open.len() {
                writeln!(f, "#endif")?;
            }
            for g in e.guards.iter().skip(common) {
                let d = if g.defined { "ifdef" } else { "ifndef" };
                writeln!(f, "#{d} {}", g.name)?;
            }
            open = &e.guards;
            writeln!(f, "{e}")?;
        }
        for _ in open {
            writeln!(f, "#endif")?;
        }
        Ok(())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "<",
            Direction::Outbound => ">",
        })
    }
}

impl fmt::Display for Ecn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ecn::NoEcn => "[noecn]",
            Ecn::Ect0 => "[ect0]",
            Ecn::Ect1 => "[ect1]",
            Ecn::Ect01 => "[ect01]",
            Ecn::Ce => "[ce]",
        })
    }
}

impl fmt::Display for IpField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpField::Tos(v) => write!(f, "tos {v:#04x}"),
            IpField::Ttl(v) => write!(f, "ttl {v}"),
            IpField::Id(v) => write!(f, "id {v}"),
            IpField::FlowLabel(v) => write!(f, "flowlabel {v:#x}"),
            IpField::Df => f.write_str("df"),
            IpField::Mf => f.write_str("mf"),
        }
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.direction)?;
        if let Some(e) = self.ecn {
            write!(f, "{e}")?;
        }
        if !self.ip.is_empty() {
            f.write_str(" (")?;
            for (i, field) in self.ip.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{field}")?;
            }
            f.write_str(")")?;
        }
        write!(f, " {}", self.body)?;
        if let Some((s, d)) = self.udp_encap {
            write!(f, "/udp({s} > {d})")?;
        }
        Ok(())
    }
}

impl fmt::Display for PacketBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketBody::Tcp(t) => write!(f, "{t}"),
            PacketBody::Udp(u) => write!(f, "udp ({})", u.len),
            PacketBody::Icmp(i) => write!(f, "{i}"),
        }
    }
}

/// Writes flags in packetdrill letter form (`S.`, `P.`, `F.`, `SEW`, `-` for none).
pub fn write_flags(f: &mut dyn fmt::Write, flags: TcpFlags) -> fmt::Result {
    if flags.is_empty() {
        return f.write_str("-");
    }
    let letters = [
        (TcpFlags::SYN, 'S'),
        (TcpFlags::FIN, 'F'),
        (TcpFlags::RST, 'R'),
        (TcpFlags::PSH, 'P'),
        (TcpFlags::URG, 'U'),
        (TcpFlags::ECE, 'E'),
        (TcpFlags::CWR, 'W'),
        (TcpFlags::NS, 'N'),
        (TcpFlags::ACK, '.'),
    ];
    for (flag, c) in letters {
        if flags.contains(flag) {
            f.write_char(c)?;
        }
    }
    Ok(())
}

impl fmt::Display for SeqRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.bounds {
            Some((s, e)) => write!(f, "{s}:{e}({})", self.len)?,
            None => write!(f, "...({})", self.len)?,
        }
        if self.absolute {
            f.write_str("!")?;
        }
        Ok(())
    }
}

impl fmt::Display for TcpSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_flags(f, self.flags)?;
        write!(f, " {}", self.seq)?;
        if let Some(a) = self.ack {
            write!(f, " ack {a}")?;
        }
        if let Some(w) = self.win {
            write!(f, " win {w}")?;
        }
        if let Some(u) = self.urg {
            write!(f, " urg {u}")?;
        }
        if let Some(o) = &self.options {
            write!(f, " {o}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TcpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOptions::Any => f.write_str("<...>"),
            TcpOptions::List(list) => {
                f.write_str("<")?;
                for (i, o) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{o}")?;
                }
                f.write_str(">")
            }
        }
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TcpOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOption::Eol | TcpOption::Nop | TcpOption::SackPermitted => {
                f.write_str(self.keyword())
            }
            TcpOption::Mss(v) => write!(f, "mss {v}"),
            TcpOption::WindowScale(v) => write!(f, "wscale {v}"),
            TcpOption::Sack(blocks) => {
                f.write_str("sack")?;
                for (l, r) in blocks {
                    write!(f, " {l}:{r}")?;
                }
                Ok(())
            }
            TcpOption::Timestamp { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
            TcpOption::Md5(None) => f.write_str("md5"),
            TcpOption::Md5(Some(true)) => f.write_str("md5 valid"),
            TcpOption::Md5(Some(false)) => f.write_str("md5 invalid"),
            TcpOption::FastOpen(c) | TcpOption::FastOpenExp(c) => {
                f.write_str(self.keyword())?;
                if !c.is_empty() {
                    f.write_str(" ")?;
                    write_hex(f, c)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for IcmpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "icmp {}", self.icmp_type.name)?;
        if let Some(c) = &self.code {
            write!(f, " {}", c.name)?;
        }
        if let Some(m) = self.mtu {
            write!(f, " mtu {m}")?;
        }
        match &self.quoted {
            Some(IcmpQuoted::Tcp(r)) => write!(f, " [{r}]")?,
            Some(IcmpQuoted::Udp(l)) => write!(f, " [udp ({l})]")?,
            None => {}
        }
        Ok(())
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        write_list(f, &self.args)?;
        write!(f, ") = {}", self.result)?;
        if let Some(e) = &self.errno {
            write!(f, " {e}")?;
        }
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, a) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Int(v) => write!(f, "{v}"),
            Expr::Str(bytes) => {
                f.write_str("\"")?;
                for &b in bytes {
                    match b {
                        b'"' => f.write_str("\\\"")?,
                        b'\\' => f.write_str("\\\\")?,
                        b'\n' => f.write_str("\\n")?,
                        b'\r' => f.write_str("\\r")?,
                        b'\t' => f.write_str("\\t")?,
                        0x20..=0x7e => write!(f, "{}", b as char)?,
                        _ => write!(f, "\\x{b:02x}")?,
                    }
                }
                f.write_str("\"")
            }
            Expr::Null => f.write_str("NULL"),
            Expr::Elided => f.write_str("..."),
            Expr::Symbol(s) => f.write_str(s),
            Expr::Array(items) => {
                f.write_str("[")?;
                write_list(f, items)?;
                f.write_str("]")
            }
            Expr::Struct(fields) => {
                f.write_str("{")?;
                for (i, fl) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(n) = &fl.name {
                        write!(f, "{n}=")?;
                    }
                    write!(f, "{}", fl.value)?;
                }
                f.write_str("}")
            }
            Expr::Or(items) => {
                for (i, a) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
            Expr::Call(name, args) => {
                write!(f, "{name}(")?;
                write_list(f, args)?;
                f.write_str(")")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// ICMP names (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1 for codes 13-15).

/// The numeric ICMPv4 type for a script keyword, or `type_N`.
pub fn icmp_type_value(name: &str) -> Option<u8> {
    let v = match name {
        "echo_reply" => 0,
        "unreachable" => 3,
        "source_quench" => 4,
        "redirect" => 5,
        "echo_request" => 8,
        "time_exceeded" => 11,
        "parameter_problem" => 12,
        "timestamp_request" => 13,
        "timestamp_reply" => 14,
        "information_request" => 15,
        "information_reply" => 16,
        "address_mask_request" => 17,
        "address_mask_reply" => 18,
        _ => return numbered(name, "type_"),
    };
    Some(v)
}

/// The numeric ICMPv4 code for a script keyword under type `icmp_type`, or `code_N`.
pub fn icmp_code_value(icmp_type: u8, name: &str) -> Option<u8> {
    if let Some(v) = numbered(name, "code_") {
        return Some(v);
    }
    let v = match (icmp_type, name) {
        (3, "net_unreachable") => 0,
        (3, "host_unreachable") => 1,
        (3, "protocol_unreachable") => 2,
        (3, "port_unreachable") => 3,
        (3, "frag_needed") => 4,
        (3, "source_route_failed") => 5,
        (3, "net_unknown") => 6,
        (3, "host_unknown") => 7,
        (3, "source_host_isolated") => 8,
        (3, "net_prohibited") => 9,
        (3, "host_prohibited") => 10,
        (3, "net_unreachable_for_tos") => 11,
        (3, "host_unreachable_for_tos") => 12,
        (3, "packet_filtered") => 13,
        (3, "precedence_violation") => 14,
        (3, "precedence_cutoff") => 15,
        (5, "net_redirect") => 0,
        (5, "host_redirect") => 1,
        (5, "tos_net_redirect") => 2,
        (5, "tos_host_redirect") => 3,
        (11, "ttl_exceeded_in_transit") => 0,
        (11, "frag_reass_exceeded") => 1,
        _ => return None,
    };
    Some(v)
}

fn numbered(name: &str, prefix: &str) -> Option<u8> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
