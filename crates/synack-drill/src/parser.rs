//! A recursive-descent parser for packetdrill scripts.
//!
//! The language is line-oriented: one event per line, except that back-quoted shell
//! commands, `%{ }%` blocks, `/* */` comments and anything inside brackets, braces or
//! parentheses may span lines. Written from the documented syntax (the packetdrill paper
//! and README) and the public scripts, not from packetdrill's grammar.
//!
//! The parser works on bytes and never indexes out of bounds or overflows: every error is
//! a [`ParseError`] naming the line, the column and what was expected.

use core::fmt;

use crate::ast::{
    Direction, Ecn, Event, EventKind, EventTime, Expr, Field, Guard, IcmpMessage, IcmpName,
    IcmpQuoted, IpField, Packet, PacketBody, Script, ScriptOption, SeqRange, Syscall, TcpFlags,
    TcpOption, TcpOptions, TcpSegment, TimeBase, Timestamp, UdpDatagram, icmp_code_value,
    icmp_type_value,
};

/// Deepest nesting of expressions accepted (arrays, structs, calls); deeper input is an
/// error rather than a stack overflow.
const MAX_DEPTH: u32 = 64;

/// A syntax error in a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The script's file name, when known (see [`parse_file`] and [`parse_named`]).
    pub file: Option<String>,
    /// 1-based line of the error.
    pub line: u32,
    /// 1-based column (in bytes) of the error.
    pub column: u32,
    /// What the parser expected at that point.
    pub expected: String,
    /// What it found instead.
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_deref().unwrap_or("<script>");
        write!(
            f,
            "{file}:{}:{}: expected {}, found {}",
            self.line, self.column, self.expected, self.found
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a script's text.
pub fn parse_script(text: &str) -> Result<Script, ParseError> {
    Parser::new(text.as_bytes()).script()
}

/// Parses a script's text, naming `file` in any error.
pub fn parse_named(file: &str, text: &str) -> Result<Script, ParseError> {
    parse_script(text).map_err(|mut e| {
        e.file = Some(file.to_owned());
        e
    })
}

/// Reads and parses a script file; an unreadable file is reported as an error at line 0.
pub fn parse_file(path: &std::path::Path) -> Result<Script, ParseError> {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_named(&name, &String::from_utf8_lossy(&bytes)),
        Err(e) => Err(ParseError {
            file: Some(name),
            line: 0,
            column: 0,
            expected: "a readable file".into(),
            found: e.to_string(),
        }),
    }
}

type PResult<T> = Result<T, ParseError>;

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    line_starts: Vec<usize>,
    guards: Vec<Guard>,
    depth: u32,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Parser<'a> {
    fn new(src: &'a [u8]) -> Self {
        let mut line_starts = vec![0];
        for (i, &b) in src.iter().enumerate() {
            if b == b'\n' {
                line_starts.push(i.saturating_add(1));
            }
        }
        Parser {
            src,
            pos: 0,
            line_starts,
            guards: Vec::new(),
            depth: 0,
        }
    }

    // --- low-level cursor -----------------------------------------------------------

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.src.get(self.pos.saturating_add(n)).copied()
    }

    fn bump(&mut self) {
        if self.pos < self.src.len() {
            self.pos += 1;
        }
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.src
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    fn eat(&mut self, s: &[u8]) -> bool {
        if self.starts_with(s) {
            self.pos = self.pos.saturating_add(s.len()).min(self.src.len());
            true
        } else {
            false
        }
    }

    fn slice(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(self.src.get(start..end).unwrap_or(&[])).into_owned()
    }

    fn line_col(&self, pos: usize) -> (u32, u32) {
        let idx = match self.line_starts.binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(idx).copied().unwrap_or(0);
        let line = u32::try_from(idx.saturating_add(1)).unwrap_or(u32::MAX);
        let col = u32::try_from(pos.saturating_sub(start).saturating_add(1)).unwrap_or(u32::MAX);
        (line, col)
    }

    fn found_at(&self, pos: usize) -> String {
        match self.src.get(pos) {
            None => "end of file".into(),
            Some(b'\n') => "end of line".into(),
            Some(_) => {
                let rest = self.src.get(pos..).unwrap_or(&[]);
                let n = rest
                    .iter()
                    .take(20)
                    .take_while(|b| !b.is_ascii_whitespace())
                    .count()
                    .max(1);
                format!(
                    "`{}`",
                    String::from_utf8_lossy(rest.get(..n).unwrap_or(&[]))
                )
            }
        }
    }

    fn err_at<T>(&self, pos: usize, expected: impl Into<String>) -> PResult<T> {
        let (line, column) = self.line_col(pos);
        Err(ParseError {
            file: None,
            line,
            column,
            expected: expected.into(),
            found: self.found_at(pos),
        })
    }

    fn err<T>(&self, expected: impl Into<String>) -> PResult<T> {
        self.err_at(self.pos, expected)
    }

    fn expect(&mut self, s: &str) -> PResult<()> {
        if self.eat(s.as_bytes()) {
            Ok(())
        } else {
            self.err(format!("`{s}`"))
        }
    }

    /// Skips spaces, tabs, carriage returns and comments, but not newlines (a `/* */`
    /// comment may contain newlines).
    fn skip_inline(&mut self) -> PResult<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | 0x0b | 0x0c) => self.bump(),
                Some(b'/') if self.peek_at(1) == Some(b'/') => {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.bump();
                    }
                }
                Some(b'/') if self.peek_at(1) == Some(b'*') => {
                    let start = self.pos;
                    self.pos = self.pos.saturating_add(2);
                    loop {
                        if self.eat(b"*/") {
                            break;
                        }
                        if self.peek().is_none() {
                            return self.err_at(start, "`*/` closing this comment");
                        }
                        self.bump();
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Skips whitespace including newlines, and comments.
    fn skip_all(&mut self) -> PResult<()> {
        loop {
            self.skip_inline()?;
            if self.peek() == Some(b'\n') {
                self.bump();
            } else {
                return Ok(());
            }
        }
    }

    fn expect_line_end(&mut self) -> PResult<()> {
        self.skip_inline()?;
        match self.peek() {
            None => Ok(()),
            Some(b'\n') => {
                self.bump();
                Ok(())
            }
            Some(_) => self.err("end of line"),
        }
    }

    fn ident(&mut self) -> Option<String> {
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        let start = self.pos;
        while self.peek().is_some_and(is_ident) {
            self.bump();
        }
        Some(self.slice(start, self.pos))
    }

    fn expect_ident(&mut self, what: &str) -> PResult<String> {
        match self.ident() {
            Some(s) => Ok(s),
            None => self.err(what),
        }
    }

    /// The identifier at the cursor, without consuming it.
    fn peek_ident(&self) -> Option<&'a [u8]> {
        let rest = self.src.get(self.pos..)?;
        if !rest.first().copied().is_some_and(is_ident_start) {
            return None;
        }
        let n = rest.iter().take_while(|b| is_ident(**b)).count();
        rest.get(..n)
    }

    /// An unsigned decimal or `0x` hex integer.
    fn unsigned(&mut self, what: &str) -> PResult<u64> {
        let start = self.pos;
        let (radix, digits_start) = if self.starts_with(b"0x") || self.starts_with(b"0X") {
            (16, self.pos.saturating_add(2))
        } else {
            (10, self.pos)
        };
        self.pos = digits_start.min(self.src.len());
        let mut value: u64 = 0;
        let mut any = false;
        while let Some(d) = self.peek().and_then(|b| (b as char).to_digit(radix)) {
            value = match value
                .checked_mul(u64::from(radix))
                .and_then(|v| v.checked_add(u64::from(d)))
            {
                Some(v) => v,
                None => return self.err_at(start, format!("{what} (too large)")),
            };
            any = true;
            self.bump();
        }
        if !any {
            self.pos = start;
            return self.err(what);
        }
        if self.peek().is_some_and(is_ident) {
            return self.err(format!("{what} (a number)"));
        }
        Ok(value)
    }

    fn number<T: TryFrom<u64>>(&mut self, what: &str) -> PResult<T> {
        let start = self.pos;
        let v = self.unsigned(what)?;
        match T::try_from(v) {
            Ok(v) => Ok(v),
            Err(_) => self.err_at(start, format!("{what} (out of range)")),
        }
    }

    // --- script structure -----------------------------------------------------------

    fn script(&mut self) -> PResult<Script> {
        let mut script = Script::default();
        loop {
            self.skip_all()?;
            let Some(b) = self.peek() else { break };
            if b == b'-' && self.peek_at(1) == Some(b'-') {
                let opt = self.option_line()?;
                script.options.push(opt);
            } else if b == b'#' {
                self.directive()?;
            } else {
                let ev = self.event()?;
                script.events.push(ev);
            }
            self.expect_line_end()?;
        }
        if !self.guards.is_empty() {
            return self.err("`#endif`");
        }
        Ok(script)
    }

    fn option_line(&mut self) -> PResult<ScriptOption> {
        let (line, _) = self.line_col(self.pos);
        self.pos = self.pos.saturating_add(2);
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| is_ident(b) || b == b'-' || b == b'.')
        {
            self.bump();
        }
        if self.pos == start {
            return self.err("an option name after `--`");
        }
        let name = self.slice(start, self.pos);
        let value = if self.eat(b"=") {
            let vstart = self.pos;
            while self.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
                self.bump();
            }
            Some(self.slice(vstart, self.pos))
        } else {
            None
        };
        Ok(ScriptOption { name, value, line })
    }

    fn directive(&mut self) -> PResult<()> {
        let at = self.pos;
        self.bump();
        let word = self.expect_ident("a directive (`ifdef`, `ifndef`, `else`, `endif`)")?;
        match word.as_str() {
            "ifdef" | "ifndef" => {
                self.skip_inline()?;
                let name = self.expect_ident("a macro name")?;
                self.guards.push(Guard {
                    name,
                    defined: word == "ifdef",
                });
            }
            "else" => match self.guards.last_mut() {
                Some(g) => g.defined = !g.defined,
                None => return self.err_at(at, "`#else` only after `#ifdef` or `#ifndef`"),
            },
            "endif" => {
                if self.guards.pop().is_none() {
                    return self.err_at(at, "`#endif` only after `#ifdef` or `#ifndef`");
                }
            }
            _ => return self.err_at(at, "a directive (`ifdef`, `ifndef`, `else`, `endif`)"),
        }
        Ok(())
    }

    fn event(&mut self) -> PResult<Event> {
        let (line, column) = self.line_col(self.pos);
        let time = self.event_time()?;
        let end = if self.eat(b"...") {
            Some(self.timestamp()?)
        } else {
            None
        };
        self.skip_inline()?;
        let kind = match self.peek() {
            Some(b'<') => EventKind::Packet(self.packet(Direction::Inbound)?),
            Some(b'>') => EventKind::Packet(self.packet(Direction::Outbound)?),
            Some(b'`') => EventKind::Command(self.delimited(b"`", b"`", "closing back quote")?),
            Some(b'%') if self.peek_at(1) == Some(b'{') => {
                EventKind::Code(self.delimited(b"%{", b"}%", "`}%` closing this block")?)
            }
            Some(b) if is_ident_start(b) => EventKind::Syscall(self.syscall()?),
            _ => {
                return self.err(
                    "a packet (`<` or `>`), a system call, a `shell command` or a %{ }% block",
                );
            }
        };
        Ok(Event {
            line,
            column,
            time,
            end,
            guards: self.guards.clone(),
            kind,
        })
    }

    fn event_time(&mut self) -> PResult<EventTime> {
        match self.peek() {
            Some(b'*') => {
                self.bump();
                Ok(EventTime::Any)
            }
            Some(b'+') => self.time_or_range(),
            Some(b) if b.is_ascii_digit() => self.time_or_range(),
            Some(b'.') if self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) => {
                self.time_or_range()
            }
            _ => Ok(EventTime::Unspecified),
        }
    }

    fn time_or_range(&mut self) -> PResult<EventTime> {
        let start = self.timestamp()?;
        if self.eat(b"~") {
            let end = self.timestamp()?;
            Ok(EventTime::Range(start, end))
        } else {
            Ok(EventTime::At(start))
        }
    }

    /// `[+]SECS[.FRACTION]` or `[+].FRACTION`, exact to the microsecond.
    fn timestamp(&mut self) -> PResult<Timestamp> {
        let at = self.pos;
        let base = if self.eat(b"+") {
            // Some scripts write `+ 0.00`.
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.bump();
            }
            TimeBase::Relative
        } else {
            TimeBase::Absolute
        };
        let mut secs: u64 = 0;
        let mut any = false;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            secs = match secs
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
            {
                Some(v) => v,
                None => return self.err_at(at, "a time (too large)"),
            };
            any = true;
            self.bump();
        }
        let mut micros: u64 = 0;
        // A `.` starts a fraction unless it begins `...` (blocking end time).
        if self.peek() == Some(b'.') && self.peek_at(1) != Some(b'.') {
            self.bump();
            let mut scale: u64 = 100_000;
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                let d = u64::from(d - b'0');
                if scale == 0 {
                    if d != 0 {
                        return self.err("a time with at most microsecond precision");
                    }
                } else {
                    micros = micros.saturating_add(d.saturating_mul(scale));
                    scale /= 10;
                }
                any = true;
                self.bump();
            }
        }
        if !any {
            self.pos = at;
            return self.err("a time (`0.100`, `+0.1`, `*`)");
        }
        match secs
            .checked_mul(1_000_000)
            .and_then(|v| v.checked_add(micros))
        {
            Some(micros) => Ok(Timestamp { base, micros }),
            None => self.err_at(at, "a time (too large)"),
        }
    }

    /// Raw text between `open` and `close`, verbatim.
    fn delimited(&mut self, open: &[u8], close: &[u8], what: &str) -> PResult<String> {
        let at = self.pos;
        self.pos = self.pos.saturating_add(open.len()).min(self.src.len());
        let start = self.pos;
        loop {
            if self.starts_with(close) {
                let text = self.slice(start, self.pos);
                self.pos = self.pos.saturating_add(close.len()).min(self.src.len());
                return Ok(text);
            }
            if self.peek().is_none() {
                return self.err_at(at, what);
            }
            self.bump();
        }
    }

    // --- packets --------------------------------------------------------------------

    fn packet(&mut self, direction: Direction) -> PResult<Packet> {
        self.bump();
        let mut ecn = None;
        let mut ip = Vec::new();
        loop {
            self.skip_inline()?;
            match self.peek() {
                Some(b'[') if ecn.is_none() => ecn = Some(self.ecn()?),
                Some(b'(') if ip.is_empty() => ip = self.ip_fields()?,
                _ => break,
            }
        }
        let word = self.peek_ident();
        let body = match word {
            Some(b"icmp") => {
                self.pos = self.pos.saturating_add(4);
                PacketBody::Icmp(self.icmp()?)
            }
            Some(b"udp") => {
                self.pos = self.pos.saturating_add(3);
                self.skip_inline()?;
                PacketBody::Udp(UdpDatagram {
                    len: self.paren_number("a UDP payload length")?,
                })
            }
            _ => PacketBody::Tcp(self.tcp()?),
        };
        let mut udp_encap = None;
        if let PacketBody::Tcp(_) = body {
            // The TCP parser stops in front of `/udp(`.
            if self.eat(b"/udp") {
                udp_encap = Some(self.encap_ports()?);
            }
        }
        Ok(Packet {
            direction,
            ecn,
            ip,
            body,
            udp_encap,
        })
    }

    fn ecn(&mut self) -> PResult<Ecn> {
        self.bump();
        let at = self.pos;
        let word = self.ident().unwrap_or_default();
        let ecn = match word.as_str() {
            "noecn" => Ecn::NoEcn,
            "ect0" => Ecn::Ect0,
            "ect1" => Ecn::Ect1,
            "ect01" => Ecn::Ect01,
            "ce" => Ecn::Ce,
            _ => return self.err_at(at, "an ECN mark (`noecn`, `ect0`, `ect1`, `ect01`, `ce`)"),
        };
        self.expect("]")?;
        Ok(ecn)
    }

    fn ip_fields(&mut self) -> PResult<Vec<IpField>> {
        self.bump();
        let mut fields = Vec::new();
        loop {
            self.skip_all()?;
            let at = self.pos;
            let name = self.expect_ident("an IP header field (`tos`, `ttl`, `id`, `df`, ...)")?;
            self.skip_inline()?;
            let field = match name.as_str() {
                "tos" => IpField::Tos(self.number("a TOS byte")?),
                "ttl" => IpField::Ttl(self.number("a TTL")?),
                "id" => IpField::Id(self.number("an IP identification")?),
                "flowlabel" => {
                    let v: u32 = self.number("a flow label")?;
                    if v > 0xf_ffff {
                        return self.err_at(at, "a 20-bit flow label");
                    }
                    IpField::FlowLabel(v)
                }
                "df" => IpField::Df,
                "mf" => IpField::Mf,
                _ => {
                    return self.err_at(at, "an IP header field (`tos`, `ttl`, `id`, `df`, ...)");
                }
            };
            fields.push(field);
            self.skip_all()?;
            if self.eat(b")") {
                return Ok(fields);
            }
            self.expect(",")?;
        }
    }

    fn paren_number<T: TryFrom<u64>>(&mut self, what: &str) -> PResult<T> {
        self.expect("(")?;
        self.skip_all()?;
        let v = self.number(what)?;
        self.skip_all()?;
        self.expect(")")?;
        Ok(v)
    }

    fn encap_ports(&mut self) -> PResult<(u16, u16)> {
        self.skip_inline()?;
        self.expect("(")?;
        self.skip_all()?;
        let src = self.number("a UDP source port")?;
        self.skip_all()?;
        self.expect(">")?;
        self.skip_all()?;
        let dst = self.number("a UDP destination port")?;
        self.skip_all()?;
        self.expect(")")?;
        Ok((src, dst))
    }

    fn flags(&mut self) -> PResult<TcpFlags> {
        let at = self.pos;
        let mut flags = TcpFlags::NONE;
        let mut count = 0;
        let mut dash = false;
        while let Some(b) = self.peek() {
            let flag = match b {
                b'S' => TcpFlags::SYN,
                b'F' => TcpFlags::FIN,
                b'R' => TcpFlags::RST,
                b'P' => TcpFlags::PSH,
                b'.' => TcpFlags::ACK,
                b'U' => TcpFlags::URG,
                b'E' => TcpFlags::ECE,
                b'W' => TcpFlags::CWR,
                b'N' => TcpFlags::NS,
                b'-' => TcpFlags::NONE,
                b if b.is_ascii_whitespace() => break,
                _ => return self.err("TCP flags (letters of `SFRPUEWN.` or `-`)"),
            };
            if flags.intersects(flag) || dash || (b == b'-' && count > 0) {
                return self.err("TCP flags (each at most once; `-` stands alone)");
            }
            dash |= b == b'-';
            flags |= flag;
            count += 1;
            self.bump();
        }
        if count == 0 {
            return self.err_at(at, "TCP flags (`S`, `S.`, `.`, `P.`, `F.`, `R`, `-`, ...)");
        }
        Ok(flags)
    }

    fn seq_range(&mut self) -> PResult<SeqRange> {
        let bounds = if self.eat(b"...") {
            None
        } else {
            let start: u32 = self.number("a sequence number")?;
            self.expect(":")?;
            let end: u32 = self.number("an end sequence number")?;
            Some((start, end))
        };
        let len_at = self.pos;
        let len: u32 = self.paren_number("a payload length")?;
        if let Some((start, end)) = bounds {
            // The length counts payload bytes only, so END - START must equal it (mod 2^32).
            if end.wrapping_sub(start) != len {
                return self.err_at(len_at, format!("length {}", end.wrapping_sub(start)));
            }
        }
        let absolute = self.eat(b"!");
        Ok(SeqRange {
            bounds,
            len,
            absolute,
        })
    }

    fn tcp(&mut self) -> PResult<TcpSegment> {
        let flags = self.flags()?;
        self.skip_inline()?;
        let seq = self.seq_range()?;
        let mut seg = TcpSegment {
            flags,
            seq,
            ack: None,
            win: None,
            urg: None,
            options: None,
        };
        loop {
            self.skip_inline()?;
            let at = self.pos;
            match self.peek_ident() {
                Some(b"ack") => {
                    self.pos = self.pos.saturating_add(3);
                    self.skip_inline()?;
                    let v = self.number("an acknowledgment number")?;
                    if seg.ack.replace(v).is_some() {
                        return self.err_at(at, "at most one `ack`");
                    }
                }
                Some(b"win") => {
                    self.pos = self.pos.saturating_add(3);
                    self.skip_inline()?;
                    let v = self.number("a window")?;
                    if seg.win.replace(v).is_some() {
                        return self.err_at(at, "at most one `win`");
                    }
                }
                Some(b"urg") => {
                    self.pos = self.pos.saturating_add(3);
                    self.skip_inline()?;
                    let v = self.number("an urgent pointer")?;
                    if seg.urg.replace(v).is_some() {
                        return self.err_at(at, "at most one `urg`");
                    }
                }
                Some(_) => return self.err("`ack`, `win`, `urg`, `<options>` or end of line"),
                None if self.peek() == Some(b'<') => {
                    let opts = self.tcp_options()?;
                    if seg.options.replace(opts).is_some() {
                        return self.err_at(at, "at most one option list");
                    }
                }
                None => return Ok(seg),
            }
        }
    }

    fn tcp_options(&mut self) -> PResult<TcpOptions> {
        self.bump();
        self.skip_all()?;
        if self.eat(b"...") {
            self.skip_all()?;
            self.expect(">")?;
            return Ok(TcpOptions::Any);
        }
        let mut list = Vec::new();
        if self.eat(b">") {
            return Ok(TcpOptions::List(list));
        }
        loop {
            list.push(self.tcp_option()?);
            self.skip_all()?;
            if self.eat(b">") {
                return Ok(TcpOptions::List(list));
            }
            if !self.eat(b",") {
                return self.err("`,` or `>` in the TCP option list");
            }
            self.skip_all()?;
        }
    }

    fn tcp_option(&mut self) -> PResult<TcpOption> {
        let at = self.pos;
        const WHAT: &str =
            "a TCP option (`nop`, `eol`, `mss`, `wscale`, `sackOK`, `sack`, `TS`, `md5`, `FO`)";
        let word = self.expect_ident(WHAT)?;
        let opt = match word.as_str() {
            "nop" => TcpOption::Nop,
            "eol" => TcpOption::Eol,
            "sackOK" => TcpOption::SackPermitted,
            "mss" => {
                self.skip_inline()?;
                TcpOption::Mss(self.number("an MSS value")?)
            }
            "wscale" => {
                self.skip_inline()?;
                TcpOption::WindowScale(self.number("a window scale shift")?)
            }
            "sack" => {
                let mut blocks = Vec::new();
                loop {
                    self.skip_inline()?;
                    if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                        break;
                    }
                    let l = self.number("a SACK left edge")?;
                    self.expect(":")?;
                    let r = self.number("a SACK right edge")?;
                    blocks.push((l, r));
                }
                TcpOption::Sack(blocks)
            }
            "TS" => {
                self.skip_inline()?;
                self.expect("val")?;
                self.skip_inline()?;
                let val = self.number("a TSval")?;
                self.skip_inline()?;
                self.expect("ecr")?;
                self.skip_inline()?;
                let ecr = self.number("a TSecr")?;
                TcpOption::Timestamp { val, ecr }
            }
            "md5" => {
                self.skip_inline()?;
                match self.peek_ident() {
                    Some(b"valid") => {
                        self.pos = self.pos.saturating_add(5);
                        TcpOption::Md5(Some(true))
                    }
                    Some(b"invalid") => {
                        self.pos = self.pos.saturating_add(7);
                        TcpOption::Md5(Some(false))
                    }
                    _ => TcpOption::Md5(None),
                }
            }
            "FO" => TcpOption::FastOpen(self.hex_cookie()?),
            "FOEXP" => TcpOption::FastOpenExp(self.hex_cookie()?),
            _ => return self.err_at(at, WHAT),
        };
        Ok(opt)
    }

    fn hex_cookie(&mut self) -> PResult<Vec<u8>> {
        self.skip_inline()?;
        let at = self.pos;
        let mut digits = Vec::new();
        while let Some(d) = self.peek().and_then(|b| (b as char).to_digit(16)) {
            digits.push(d as u8);
            self.bump();
        }
        if self.peek().is_some_and(is_ident) {
            return self.err("a hex cookie");
        }
        if digits.len() % 2 != 0 {
            return self.err_at(at, "a hex cookie with an even number of digits");
        }
        Ok(digits
            .chunks_exact(2)
            .map(|c| match c {
                [hi, lo] => (hi << 4) | lo,
                _ => 0,
            })
            .collect())
    }

    fn icmp(&mut self) -> PResult<IcmpMessage> {
        self.skip_inline()?;
        let at = self.pos;
        let name = self.expect_ident("an ICMP type (`unreachable`, `type_N`, ...)")?;
        let Some(value) = icmp_type_value(&name) else {
            return self.err_at(at, "an ICMP type (`unreachable`, `type_N`, ...)");
        };
        let icmp_type = IcmpName { name, value };
        self.skip_inline()?;
        let mut code = None;
        if let Some(word) = self.peek_ident().filter(|w| *w != b"mtu") {
            let at = self.pos;
            let name = String::from_utf8_lossy(word).into_owned();
            let Some(value) = icmp_code_value(icmp_type.value, &name) else {
                return self.err(format!("an ICMP code for type `{}`", icmp_type.name));
            };
            self.pos = at.saturating_add(word.len());
            code = Some(IcmpName { name, value });
            self.skip_inline()?;
        }
        let mut mtu = None;
        if self.peek_ident() == Some(b"mtu") {
            self.pos = self.pos.saturating_add(3);
            self.skip_inline()?;
            mtu = Some(self.number("an MTU")?);
            self.skip_inline()?;
        }
        let mut quoted = None;
        if self.eat(b"[") {
            self.skip_all()?;
            if self.peek_ident() == Some(b"udp") {
                self.pos = self.pos.saturating_add(3);
                self.skip_inline()?;
                quoted = Some(IcmpQuoted::Udp(self.paren_number("a UDP payload length")?));
            } else {
                if self.peek_ident() == Some(b"tcp") {
                    self.pos = self.pos.saturating_add(3);
                    self.skip_inline()?;
                }
                quoted = Some(IcmpQuoted::Tcp(self.seq_range()?));
            }
            self.skip_all()?;
            self.expect("]")?;
        }
        Ok(IcmpMessage {
            icmp_type,
            code,
            mtu,
            quoted,
        })
    }

    // --- system calls ---------------------------------------------------------------

    fn syscall(&mut self) -> PResult<Syscall> {
        let name = self.expect_ident("a system call name")?;
        self.skip_inline()?;
        self.expect("(")?;
        let args = self.expr_list(b')')?;
        self.skip_inline()?;
        self.expect("=")?;
        self.skip_inline()?;
        let result = self.expr()?;
        self.skip_inline()?;
        let errno = self.ident();
        self.skip_inline()?;
        let note = if self.peek() == Some(b'(') {
            Some(self.note()?)
        } else {
            None
        };
        Ok(Syscall {
            name,
            args,
            result,
            errno,
            note,
        })
    }

    /// Free text in balanced parentheses after a result, e.g. `(Operation now in progress)`.
    fn note(&mut self) -> PResult<String> {
        let at = self.pos;
        self.bump();
        let start = self.pos;
        let mut depth = 1u32;
        loop {
            match self.peek() {
                None | Some(b'\n') => return self.err_at(at, "`)` closing this note"),
                Some(b'(') => depth = depth.saturating_add(1),
                Some(b')') => {
                    depth -= 1;
                    if depth == 0 {
                        let text = self.slice(start, self.pos);
                        self.bump();
                        return Ok(text.trim().to_owned());
                    }
                }
                Some(_) => {}
            }
            self.bump();
        }
    }

    /// Comma-separated expressions up to `close` (the opening bracket is already eaten).
    fn expr_list(&mut self, close: u8) -> PResult<Vec<Expr>> {
        let mut items = Vec::new();
        self.skip_all()?;
        if self.peek() == Some(close) {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            self.skip_all()?;
            if self.peek() == Some(close) {
                self.bump();
                return Ok(items);
            }
            if !self.eat(b",") {
                return self.err(format!("`,` or `{}`", close as char));
            }
            self.skip_all()?;
        }
    }

    fn expr(&mut self) -> PResult<Expr> {
        if self.depth >= MAX_DEPTH {
            return self.err("less deeply nested expressions");
        }
        self.depth += 1;
        let result = self.or_expr();
        self.depth -= 1;
        result
    }

    fn or_expr(&mut self) -> PResult<Expr> {
        let first = self.primary()?;
        let mut items = Vec::new();
        loop {
            let save = self.pos;
            self.skip_all()?;
            if self.peek() == Some(b'|') {
                self.bump();
                self.skip_all()?;
                items.push(self.primary()?);
            } else {
                self.pos = save;
                break;
            }
        }
        if items.is_empty() {
            Ok(first)
        } else {
            items.insert(0, first);
            Ok(Expr::Or(items))
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        match self.peek() {
            Some(b'.') if self.starts_with(b"...") => {
                self.pos = self.pos.saturating_add(3);
                Ok(Expr::Elided)
            }
            Some(b'-') => {
                let at = self.pos;
                self.bump();
                let mag = self.unsigned("an integer")?;
                match 0i64.checked_sub_unsigned(mag) {
                    Some(v) => Ok(Expr::Int(v)),
                    None => self.err_at(at, "an integer (out of range)"),
                }
            }
            Some(b) if b.is_ascii_digit() => {
                let at = self.pos;
                let v = self.unsigned("an integer")?;
                match i64::try_from(v) {
                    Ok(v) => Ok(Expr::Int(v)),
                    Err(_) => self.err_at(at, "an integer (out of range)"),
                }
            }
            Some(b'"') => self.string(),
            Some(b'[') => {
                self.bump();
                Ok(Expr::Array(self.expr_list(b']')?))
            }
            Some(b'{') => {
                self.bump();
                self.struct_fields()
            }
            Some(b) if is_ident_start(b) => {
                let name = self.expect_ident("an identifier")?;
                // A call needs `(` right after the name, so `EINPROGRESS (note)` is not one.
                if self.peek() == Some(b'(') {
                    self.bump();
                    let args = self.expr_list(b')')?;
                    Ok(Expr::Call(name, args))
                } else if name == "NULL" {
                    Ok(Expr::Null)
                } else {
                    Ok(Expr::Symbol(name))
                }
            }
            _ => self.err("an expression (number, string, symbol, `...`, `[...]`, `{...}`)"),
        }
    }

    fn struct_fields(&mut self) -> PResult<Expr> {
        let mut fields = Vec::new();
        self.skip_all()?;
        if self.eat(b"}") {
            return Ok(Expr::Struct(fields));
        }
        loop {
            // `name=value` or a bare value.
            let save = self.pos;
            let mut name = None;
            if let Some(id) = self.ident() {
                self.skip_all()?;
                if self.peek() == Some(b'=') {
                    self.bump();
                    self.skip_all()?;
                    name = Some(id);
                } else {
                    self.pos = save;
                }
            }
            let value = self.expr()?;
            fields.push(Field { name, value });
            self.skip_all()?;
            if self.eat(b"}") {
                return Ok(Expr::Struct(fields));
            }
            if !self.eat(b",") {
                return self.err("`,` or `}`");
            }
            self.skip_all()?;
        }
    }

    fn string(&mut self) -> PResult<Expr> {
        let at = self.pos;
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\n') => return self.err_at(at, "`\"` closing this string"),
                Some(b'"') => {
                    self.bump();
                    return Ok(Expr::Str(out));
                }
                Some(b'\\') => {
                    self.bump();
                    let esc = self.pos;
                    let c = self.peek();
                    self.bump();
                    let b = match c {
                        Some(b'n') => b'\n',
                        Some(b't') => b'\t',
                        Some(b'r') => b'\r',
                        Some(b'\\') => b'\\',
                        Some(b'"') => b'"',
                        Some(b'\'') => b'\'',
                        Some(b'x') => {
                            let mut v: u8 = 0;
                            let mut n = 0;
                            while n < 2 {
                                let Some(d) = self.peek().and_then(|b| (b as char).to_digit(16))
                                else {
                                    break;
                                };
                                v = (v << 4) | d as u8;
                                n += 1;
                                self.bump();
                            }
                            if n == 0 {
                                return self.err("hex digits after `\\x`");
                            }
                            v
                        }
                        Some(d @ b'0'..=b'7') => {
                            let mut v: u32 = u32::from(d - b'0');
                            let mut n = 1;
                            while n < 3 {
                                let Some(d) = self.peek().filter(|b| (b'0'..=b'7').contains(b))
                                else {
                                    break;
                                };
                                v = v * 8 + u32::from(d - b'0');
                                n += 1;
                                self.bump();
                            }
                            match u8::try_from(v) {
                                Ok(v) => v,
                                Err(_) => return self.err_at(esc, "an octal escape up to \\377"),
                            }
                        }
                        _ => return self.err_at(esc, "an escape (`\\n`, `\\t`, `\\xHH`, ...)"),
                    };
                    out.push(b);
                }
                Some(b) => {
                    out.push(b);
                    self.bump();
                }
            }
        }
    }
}
