//! One test per construct of the packetdrill language: what it parses to, how it prints,
//! and the errors (with line and column) for malformed input.

use synack_drill::ast::TcpFlags;
use synack_drill::{
    Direction, Ecn, Event, EventKind, EventTime, Expr, Field, Guard, IcmpQuoted, IpField,
    PacketBody, ParseError, Script, SeqRange, Syscall, TcpOption, TcpOptions, TcpSegment, TimeBase,
    Timestamp, parse_named, parse_script,
};

fn parse(text: &str) -> Script {
    match parse_script(text) {
        Ok(s) => s,
        Err(e) => panic!("{e}\n--- input ---\n{text}"),
    }
}

fn one(text: &str) -> Event {
    let s = parse(text);
    assert_eq!(s.events.len(), 1, "{text}");
    s.events.into_iter().next().unwrap()
}

fn err(text: &str) -> ParseError {
    match parse_script(text) {
        Ok(s) => panic!("expected an error for {text:?}, got {s:?}"),
        Err(e) => e,
    }
}

fn tcp(text: &str) -> TcpSegment {
    match one(text).kind {
        EventKind::Packet(p) => match p.body {
            PacketBody::Tcp(t) => t,
            other => panic!("not TCP: {other:?}"),
        },
        other => panic!("not a packet: {other:?}"),
    }
}

fn syscall(text: &str) -> Syscall {
    match one(text).kind {
        EventKind::Syscall(s) => s,
        other => panic!("not a syscall: {other:?}"),
    }
}

fn abs(micros: u64) -> Timestamp {
    Timestamp {
        base: TimeBase::Absolute,
        micros,
    }
}

fn rel(micros: u64) -> Timestamp {
    Timestamp {
        base: TimeBase::Relative,
        micros,
    }
}

fn sym(s: &str) -> Expr {
    Expr::Symbol(s.into())
}

/// Printing an event and parsing the result gives the same event.
fn round_trip(text: &str) {
    let a = one(text);
    let printed = a.to_string();
    let b = one(&printed);
    assert_eq!(
        (&a.time, &a.end, &a.kind),
        (&b.time, &b.end, &b.kind),
        "{text} -> {printed}"
    );
}

#[test]
fn option_lines_and_comments() {
    let s = parse(
        "// header comment\n\
         /* a block\n   comment */\n\
         --ip_version=ipv4\n\
         --tolerance_usecs=75000   // trailing\n\
         --define=FOO=bar\n\
         --non_fatal\n\
         \n\
         0 close(3) = 0 /* inline */ // and more\n",
    );
    assert_eq!(s.option("ip_version"), Some("ipv4"));
    assert_eq!(s.tolerance_usecs(), Some(75000));
    assert_eq!(s.option("non_fatal"), Some(""));
    assert_eq!(s.option("missing"), None);
    assert_eq!(s.defines(), vec![("FOO", "bar")]);
    assert_eq!(s.options[1].line, 5);
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].line, 9);
    assert_eq!(s.events[0].column, 1);
}

#[test]
fn times() {
    assert_eq!(one("0.100 close(3) = 0").time, EventTime::At(abs(100_000)));
    assert_eq!(one("  1 close(3) = 0").time, EventTime::At(abs(1_000_000)));
    assert_eq!(one("+.1 close(3) = 0").time, EventTime::At(rel(100_000)));
    assert_eq!(one("+0 close(3) = 0").time, EventTime::At(rel(0)));
    assert_eq!(one("+ 0.05 close(3) = 0").time, EventTime::At(rel(50_000)));
    assert_eq!(one(".25 close(3) = 0").time, EventTime::At(abs(250_000)));
    assert_eq!(one("0.000001 close(3) = 0").time, EventTime::At(abs(1)));
    assert_eq!(
        one("0.1000000 close(3) = 0").time,
        EventTime::At(abs(100_000))
    );
    assert_eq!(one("* close(3) = 0").time, EventTime::Any);
    assert_eq!(
        one("0.1~0.2 close(3) = 0").time,
        EventTime::Range(abs(100_000), abs(200_000))
    );
    assert_eq!(
        one("+.3~+.310 > . 1:1(0) ack 1").time,
        EventTime::Range(rel(300_000), rel(310_000))
    );
    let e = one("`echo hi`");
    assert_eq!(e.time, EventTime::Unspecified);
    assert_eq!(e.end, None);
}

#[test]
fn blocking_calls() {
    let e = one("0.1...0.2 accept(3, ..., ...) = 4");
    assert_eq!(e.time, EventTime::At(abs(100_000)));
    assert_eq!(e.end, Some(abs(200_000)));
    let e = one("+0...0.200 accept(3, ..., ...) = 4");
    assert_eq!(e.time, EventTime::At(rel(0)));
    assert_eq!(e.end, Some(abs(200_000)));
    let e = one("+.01...+0.011 connect(3, ..., ...) = 0");
    assert_eq!(e.end, Some(rel(11_000)));
    round_trip("+0...0.200 accept(3, ..., ...) = 4");
}

#[test]
fn time_errors() {
    let e = err("0.0000001 close(3) = 0");
    assert_eq!((e.line, e.column), (1, 9));
    assert!(e.expected.contains("microsecond"), "{e}");
    let e = err("+ close(3) = 0");
    assert!(e.expected.contains("time"), "{e}");
    let e = err("99999999999999999999 close(3) = 0");
    assert!(e.expected.contains("too large"), "{e}");
}

#[test]
fn syscall_basic_and_results() {
    let s = syscall("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3");
    assert_eq!(s.name, "socket");
    assert_eq!(
        s.args,
        vec![Expr::Elided, sym("SOCK_STREAM"), sym("IPPROTO_TCP")]
    );
    assert_eq!(s.result, Expr::Int(3));
    assert_eq!(s.errno, None);
    assert_eq!(s.note, None);

    let s = syscall("1.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
    assert_eq!(s.result, Expr::Int(-1));
    assert_eq!(s.errno.as_deref(), Some("EINPROGRESS"));
    assert_eq!(s.note.as_deref(), Some("Operation now in progress"));

    let s = syscall("+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)");
    assert_eq!(s.result, Expr::Int(2));
    assert_eq!(s.errno, None);
    assert_eq!(s.note.as_deref(), Some("flags O_RDWR"));

    let s = syscall("+0 open(\"x\") = -1 ENOENT (No such file (or directory))");
    assert_eq!(s.note.as_deref(), Some("No such file (or directory)"));

    // A space between the name and `(`.
    let s = syscall("+0 write (4, ..., 1000) = 1000");
    assert_eq!(s.name, "write");
    assert_eq!(s.args.len(), 3);

    let s = syscall("+0 getpid() = ...");
    assert!(s.args.is_empty());
    assert_eq!(s.result, Expr::Elided);

    round_trip("1.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)");
    round_trip("+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)");
}

#[test]
fn syscall_expressions() {
    let s = syscall(
        "+0 f(0x1F, -7, 0, NULL, \"a\\\"b\\n\\t\\\\\\x41\\101\", O_RDWR | O_NONBLOCK|O_APPEND, \
         [1], [], [1000], [SO_ERROR, 2], htons(8080), inet_addr(\"192.0.2.1\"), \
         {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\"), ...}, \
         {...}, {}, {1, 2}) = 0",
    );
    let or3 = Expr::Or(vec![sym("O_RDWR"), sym("O_NONBLOCK"), sym("O_APPEND")]);
    let named = |n: &str, v: Expr| Field {
        name: Some(n.into()),
        value: v,
    };
    let bare = |v: Expr| Field {
        name: None,
        value: v,
    };
    let expected = vec![
        Expr::Int(31),
        Expr::Int(-7),
        Expr::Int(0),
        Expr::Null,
        Expr::Str(b"a\"b\n\t\\AA".to_vec()),
        or3,
        Expr::Array(vec![Expr::Int(1)]),
        Expr::Array(vec![]),
        Expr::Array(vec![Expr::Int(1000)]),
        Expr::Array(vec![sym("SO_ERROR"), Expr::Int(2)]),
        Expr::Call("htons".into(), vec![Expr::Int(8080)]),
        Expr::Call("inet_addr".into(), vec![Expr::Str(b"192.0.2.1".to_vec())]),
        Expr::Struct(vec![
            named("sa_family", sym("AF_INET")),
            named(
                "sin_port",
                Expr::Call("htons".into(), vec![Expr::Int(8080)]),
            ),
            named(
                "sin_addr",
                Expr::Call("inet_addr".into(), vec![Expr::Str(b"192.0.2.1".to_vec())]),
            ),
            bare(Expr::Elided),
        ]),
        Expr::Struct(vec![bare(Expr::Elided)]),
        Expr::Struct(vec![]),
        Expr::Struct(vec![bare(Expr::Int(1)), bare(Expr::Int(2))]),
    ];
    assert_eq!(s.args, expected);
    assert_eq!(s.args[5].to_string(), "O_RDWR|O_NONBLOCK|O_APPEND");
    assert_eq!(Expr::Int(-7).as_int(), Some(-7));
    assert_eq!(sym("X").as_symbol(), Some("X"));
    round_trip(
        "+0 f(0x1F, -7, NULL, \"a\\\"b\\n\\x01\", O_RDWR|O_NONBLOCK, [1], \
         {sa_family=AF_INET, sin_port=htons(8080), ...}, {...}) = 0",
    );
}

#[test]
fn syscall_arguments_may_span_lines() {
    let s = syscall("+0 setsockopt(3,\n   SOL_SOCKET,\n   SO_REUSEADDR, [1], 4) = 0");
    assert_eq!(s.args.len(), 5);
}

#[test]
fn syscall_integer_limits() {
    assert_eq!(
        syscall("0 f(-9223372036854775808) = 0").args,
        vec![Expr::Int(i64::MIN)]
    );
    assert_eq!(
        syscall("0 f(0x7fffffffffffffff) = 0").args,
        vec![Expr::Int(i64::MAX)]
    );
    assert!(
        err("0 f(9223372036854775808) = 0")
            .expected
            .contains("range")
    );
    assert!(
        err("0 f(-9223372036854775809) = 0")
            .expected
            .contains("range")
    );
    assert!(
        err("0 f(99999999999999999999999) = 0")
            .expected
            .contains("large")
    );
}

#[test]
fn syscall_errors() {
    let e = err("0 close(3)");
    assert_eq!((e.line, e.column), (1, 11));
    assert_eq!(e.expected, "`=`");
    assert_eq!(e.found, "end of file");
    let e = err("0 close(3 4) = 0");
    assert_eq!(e.column, 11);
    let e = err("0 f(\"abc) = 0\n");
    assert!(e.expected.contains("closing this string"), "{e}");
    assert_eq!(e.column, 5);
    let e = err("0 f(\"\\q\") = 0");
    assert!(e.expected.contains("escape"), "{e}");
    let e = err("0 f(\"\\777\") = 0");
    assert!(e.expected.contains("octal"), "{e}");
    let e = err("0 close(3) = 0 (unclosed");
    assert!(e.expected.contains("closing this note"), "{e}");
    let e = err("0 close(3) = 0 trailing words");
    assert_eq!(e.expected, "end of line");
}

#[test]
fn tcp_packets() {
    let t = tcp("0.100 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>");
    assert_eq!(t.flags, TcpFlags::SYN);
    assert_eq!(
        t.seq,
        SeqRange {
            bounds: Some((0, 0)),
            len: 0,
            absolute: false
        }
    );
    assert_eq!(t.ack, None);
    assert_eq!(t.win, Some(32792));
    assert_eq!(
        t.options,
        Some(TcpOptions::List(vec![
            TcpOption::Mss(1000),
            TcpOption::SackPermitted,
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::WindowScale(7),
        ]))
    );

    let t = tcp("+0 > P. 1:1461(1460) ack 1 win 65535 urg 3");
    assert_eq!(t.flags, TcpFlags::PSH | TcpFlags::ACK);
    assert_eq!(t.seq.bounds, Some((1, 1461)));
    assert_eq!(t.seq.len, 1460);
    assert_eq!((t.ack, t.win, t.urg), (Some(1), Some(65535), Some(3)));
    assert_eq!(t.options, None);

    // Sequence numbers wrap.
    let t = tcp("+0 < . 4294967295:999(1000) ack 1 win 100");
    assert_eq!(t.seq.bounds, Some((u32::MAX, 999)));

    let t = tcp("+0 > S. ...(0) ack 65537 win 65535 <...>");
    assert_eq!(t.seq.bounds, None);
    assert_eq!(t.options, Some(TcpOptions::Any));

    let t = tcp("+0.00 > R. 0:0(0)! ack 2 win 0");
    assert!(t.seq.absolute);
    assert_eq!(t.flags, TcpFlags::RST | TcpFlags::ACK);

    for line in [
        "0.100 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>",
        "+0 > P. 1:1461(1460) ack 1 win 65535 urg 3",
        "+0 > S. ...(0) ack 65537 win 65535 <...>",
        "+0.00 > R. 0:0(0)! ack 2 win 0",
        "+0 < - 0:0(0) win 0",
    ] {
        round_trip(line);
    }
}

#[test]
fn tcp_flags() {
    let cases: &[(&str, TcpFlags)] = &[
        ("S", TcpFlags::SYN),
        ("S.", TcpFlags::SYN | TcpFlags::ACK),
        (".", TcpFlags::ACK),
        ("P.", TcpFlags::PSH | TcpFlags::ACK),
        ("F.", TcpFlags::FIN | TcpFlags::ACK),
        ("FP.", TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK),
        ("R", TcpFlags::RST),
        ("R.", TcpFlags::RST | TcpFlags::ACK),
        ("SF", TcpFlags::SYN | TcpFlags::FIN),
        ("SEW", TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR),
        ("SE.", TcpFlags::SYN | TcpFlags::ECE | TcpFlags::ACK),
        ("U.", TcpFlags::URG | TcpFlags::ACK),
        ("N.", TcpFlags::NS | TcpFlags::ACK),
        ("-", TcpFlags::NONE),
    ];
    for (text, flags) in cases {
        let line = format!("+0 < {text} 0:0(0) win 0");
        assert_eq!(tcp(&line).flags, *flags, "{line}");
        round_trip(&line);
    }
    for bad in ["SS", "S-", "-S", "X", "s"] {
        let e = err(&format!("+0 < {bad} 0:0(0) win 0"));
        assert!(e.expected.contains("flags"), "{bad}: {e}");
    }
}

#[test]
fn tcp_options_all_kinds() {
    let t = tcp(
        "+0 > . 1:1(0) ack 1 <nop, nop,TS val 100 ecr 0,sack 1:2 3:4, eol,md5 valid,\
         md5 invalid,md5,FO abcd1234,FO,FOEXP 00ff,sack>",
    );
    let Some(TcpOptions::List(list)) = t.options else {
        panic!("no options");
    };
    assert_eq!(
        list,
        vec![
            TcpOption::Nop,
            TcpOption::Nop,
            TcpOption::Timestamp { val: 100, ecr: 0 },
            TcpOption::Sack(vec![(1, 2), (3, 4)]),
            TcpOption::Eol,
            TcpOption::Md5(Some(true)),
            TcpOption::Md5(Some(false)),
            TcpOption::Md5(None),
            TcpOption::FastOpen(vec![0xab, 0xcd, 0x12, 0x34]),
            TcpOption::FastOpen(vec![]),
            TcpOption::FastOpenExp(vec![0x00, 0xff]),
            TcpOption::Sack(vec![]),
        ]
    );
    let kinds: Vec<u8> = list.iter().map(TcpOption::kind).collect();
    assert_eq!(kinds, vec![1, 1, 8, 5, 0, 19, 19, 19, 34, 34, 254, 5]);
    round_trip(
        "+0 > . 1:1(0) ack 1 <nop,nop,TS val 100 ecr 0,sack 1:2 3:4,eol,md5 valid,\
         FO abcd1234,FOEXP 00ff>",
    );
    // An empty list is a list.
    assert_eq!(
        tcp("+0 > . 1:1(0) ack 1 <>").options,
        Some(TcpOptions::List(vec![]))
    );
}

#[test]
fn tcp_option_errors() {
    let e = err("+0 > . 1:1(0) ack 1 <mss 99999>");
    assert!(e.expected.contains("out of range"), "{e}");
    assert_eq!(e.column, 26);
    let e = err("+0 > . 1:1(0) ack 1 <bogus 3>");
    assert!(e.expected.contains("TCP option"), "{e}");
    let e = err("+0 > . 1:1(0) ack 1 <FO abc>");
    assert!(e.expected.contains("even"), "{e}");
    let e = err("+0 > . 1:1(0) ack 1 <TS 1 2>");
    assert_eq!(e.expected, "`val`");
    let e = err("+0 > . 1:1(0) ack 1 <nop nop>");
    assert!(e.expected.contains("`,` or `>`"), "{e}");
    let e = err("+0 > . 1:1(0) ack 1 <nop");
    assert_eq!(e.found, "end of file");
}

#[test]
fn tcp_field_errors() {
    let e = err("+0 < . 1:2(3) ack 1 win 0");
    assert!(e.expected.contains("length 1"), "{e}");
    assert_eq!(e.column, 11);
    let e = err("+0 < . 1:1(0) ack 1 ack 2");
    assert!(e.expected.contains("at most one"), "{e}");
    let e = err("+0 < . 1:1(0) win 1 win 2");
    assert!(e.expected.contains("at most one"), "{e}");
    let e = err("+0 < . 1:1(0) wnd 1");
    assert!(e.expected.contains("`ack`, `win`"), "{e}");
    let e = err("+0 < . 1:1(0) ack 4294967296");
    assert!(e.expected.contains("out of range"), "{e}");
    let e = err("+0 < . 1:1 ack 1");
    assert_eq!(e.expected, "`(`");
    let e = err("+0 < . 1x:1(0)");
    assert!(e.expected.contains("number"), "{e}");
}

#[test]
fn ecn_ip_fields_and_udp_encapsulation() {
    let e = one("+0.01 <[noecn] . 1:1(0) ack 1 win 65535");
    let EventKind::Packet(p) = e.kind else {
        panic!()
    };
    assert_eq!(p.direction, Direction::Inbound);
    assert_eq!(p.ecn, Some(Ecn::NoEcn));
    for (mark, ecn) in [
        ("ect0", Ecn::Ect0),
        ("ect1", Ecn::Ect1),
        ("ect01", Ecn::Ect01),
        ("ce", Ecn::Ce),
    ] {
        let line = format!("+0 >[{mark}] P. 1:11(10) ack 1");
        let EventKind::Packet(p) = one(&line).kind else {
            panic!()
        };
        assert_eq!(p.direction, Direction::Outbound);
        assert_eq!(p.ecn, Some(ecn));
        round_trip(&line);
    }
    assert!(err("+0 >[ect2] . 1:1(0)").expected.contains("ECN"));

    let line = "+0.00 > (tos 0x20) R.    0:0(0)!      ack    2 win     0/udp(9811 > 1)";
    let EventKind::Packet(p) = one(line).kind else {
        panic!()
    };
    assert_eq!(p.ip, vec![IpField::Tos(0x20)]);
    assert_eq!(p.udp_encap, Some((9811, 1)));
    let PacketBody::Tcp(t) = &p.body else {
        panic!()
    };
    assert_eq!(t.win, Some(0));
    assert!(t.seq.absolute);
    round_trip(line);

    let line = "+0 < (ttl 64, id 7, flowlabel 0x12345, df, mf) . 1:1(0) ack 1 win 10";
    let EventKind::Packet(p) = one(line).kind else {
        panic!()
    };
    assert_eq!(
        p.ip,
        vec![
            IpField::Ttl(64),
            IpField::Id(7),
            IpField::FlowLabel(0x12345),
            IpField::Df,
            IpField::Mf
        ]
    );
    round_trip(line);
    // ECN mark and IP fields together.
    round_trip("+0 < [ect0] (tos 0x2) S 0:0(0) win 10");
    assert!(err("+0 < (ttl 256) S 0:0(0)").expected.contains("range"));
    assert!(
        err("+0 < (bogus 1) S 0:0(0)")
            .expected
            .contains("IP header")
    );
    assert!(
        err("+0 < (flowlabel 0x100000) S 0:0(0)")
            .expected
            .contains("20-bit")
    );
    assert!(err("+0 < S 0:0(0)/udp(1 9811)").expected.contains('>'));
}

#[test]
fn icmp_packets() {
    let icmp = |text: &str| match one(text).kind {
        EventKind::Packet(p) => match p.body {
            PacketBody::Icmp(i) => i,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let i = icmp("0.304 < icmp unreachable frag_needed mtu 1234");
    assert_eq!(
        (i.icmp_type.name.as_str(), i.icmp_type.value),
        ("unreachable", 3)
    );
    let code = i.code.unwrap();
    assert_eq!((code.name.as_str(), code.value), ("frag_needed", 4));
    assert_eq!(i.mtu, Some(1234));
    assert_eq!(i.quoted, None);

    let i = icmp("+0.00 <icmp unreachable net_unreachable [0:0(0)]");
    assert_eq!(i.code.unwrap().value, 0);
    assert_eq!(
        i.quoted,
        Some(IcmpQuoted::Tcp(SeqRange {
            bounds: Some((0, 0)),
            len: 0,
            absolute: false
        }))
    );
    let i = icmp("+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]");
    assert_eq!(i.mtu, Some(1200));
    let i = icmp("+0 < icmp unreachable port_unreachable [udp (100)]");
    assert_eq!(i.quoted, Some(IcmpQuoted::Udp(100)));
    let i = icmp("+0 < icmp time_exceeded ttl_exceeded_in_transit [tcp 4294967295:4294967295(0)]");
    assert_eq!((i.icmp_type.value, i.code.unwrap().value), (11, 0));
    let i = icmp("0.400 < icmp echo_reply");
    assert_eq!((i.icmp_type.value, i.code), (0, None));
    let i = icmp("0.462 < icmp type_255 code_7");
    assert_eq!((i.icmp_type.value, i.code.unwrap().value), (255, 7));

    for line in [
        "0.304 < icmp unreachable frag_needed mtu 1234",
        "+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]",
        "+0 < icmp unreachable port_unreachable [udp (100)]",
        "0.462 < icmp type_255 code_7",
    ] {
        round_trip(line);
    }
    assert!(err("0 < icmp bogus").expected.contains("ICMP type"));
    assert!(err("0 < icmp type_256").expected.contains("ICMP type"));
    // Code names belong to their type.
    assert!(
        err("0 < icmp redirect frag_needed")
            .expected
            .contains("ICMP code")
    );
    assert!(err("0 < icmp unreachable [0:0(0)").expected.contains(']'));
}

#[test]
fn udp_packets() {
    let EventKind::Packet(p) = one("+0 < udp (1000)").kind else {
        panic!()
    };
    assert_eq!(
        p.body,
        PacketBody::Udp(synack_drill::UdpDatagram { len: 1000 })
    );
    round_trip("+0 > udp (0)");
}

#[test]
fn shell_commands() {
    let e = one(" 0.00 `sysctl -w net.inet.tcp.rfc1323=1`");
    assert_eq!(
        e.kind,
        EventKind::Command("sysctl -w net.inet.tcp.rfc1323=1".into())
    );
    let s = parse(
        "`../common/defaults.sh\nsysctl -q net.ipv4.tcp_tso_win_divisor=100`\n\n0 close(3) = 0\n",
    );
    assert_eq!(
        s.events[0].kind,
        EventKind::Command(
            "../common/defaults.sh\nsysctl -q net.ipv4.tcp_tso_win_divisor=100".into()
        )
    );
    assert_eq!(s.events[1].line, 4);
    round_trip("+0 `echo 'a \"b\"' | grep -c a`");
    let e = err("\n  0 `never closed\n\n");
    assert_eq!((e.line, e.column), (2, 5));
    assert!(e.expected.contains("back quote"), "{e}");
}

#[test]
fn python_blocks() {
    let e = one("+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%");
    assert_eq!(
        e.kind,
        EventKind::Code(" assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd ".into())
    );
    let e = one("+0 %{\nassert tcpi_state == TCPI_SYN_RECEIVED\nprint(x)\n}%");
    assert_eq!(
        e.kind,
        EventKind::Code("\nassert tcpi_state == TCPI_SYN_RECEIVED\nprint(x)\n".into())
    );
    round_trip("+0 %{ assert tcpi_advmss == 1100, tcpi_advmss }%");
    assert!(err("+0 %{ assert x").expected.contains("}%"));
}

#[test]
fn ifdef_guards() {
    let s = parse(
        "0 close(1) = 0\n\
         #ifdef FreeBSD\n\
         +0 close(2) = 0\n\
         #ifndef STANDARD\n\
         +0 close(3) = 0\n\
         #else\n\
         +0 close(4) = 0\n\
         #endif\n\
         #endif\n\
         +0 close(5) = 0\n",
    );
    let g = |n: &str, d: bool| Guard {
        name: n.into(),
        defined: d,
    };
    let guards: Vec<Vec<Guard>> = s.events.iter().map(|e| e.guards.clone()).collect();
    assert_eq!(
        guards,
        vec![
            vec![],
            vec![g("FreeBSD", true)],
            vec![g("FreeBSD", true), g("STANDARD", false)],
            vec![g("FreeBSD", true), g("STANDARD", true)],
            vec![],
        ]
    );
    let fds = |defined: &dyn Fn(&str) -> bool| -> Vec<i64> {
        s.active_events(defined)
            .map(|e| match &e.kind {
                EventKind::Syscall(c) => c.args[0].as_int().unwrap(),
                _ => panic!(),
            })
            .collect()
    };
    assert_eq!(fds(&|n| n == "FreeBSD"), vec![1, 2, 3, 5]);
    assert_eq!(fds(&|_| true), vec![1, 2, 4, 5]);
    assert_eq!(fds(&|_| false), vec![1, 5]);

    // The printed script keeps the guards.
    let again = parse(&s.to_string());
    let guards2: Vec<Vec<Guard>> = again.events.iter().map(|e| e.guards.clone()).collect();
    assert_eq!(guards, guards2);

    assert!(
        err("#ifdef X\n0 close(3) = 0\n")
            .expected
            .contains("#endif")
    );
    let e = err("0 close(3) = 0\n#endif\n");
    assert_eq!((e.line, e.column), (2, 1));
    assert!(err("#else\n").expected.contains("#else"));
    assert!(err("#include <x>\n").expected.contains("directive"));
}

#[test]
fn whole_script_display() {
    let text = "--tolerance_usecs=10000\n\
                `../common/defaults.sh`\n\
                0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                +0...0.2 accept(3, ..., ...) = 4\n\
                +.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n\
                +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n\
                +0 %{ assert tcpi_snd_cwnd == 10 }%\n";
    let s = parse(text);
    let printed = s.to_string();
    assert_eq!(
        printed,
        "--tolerance_usecs=10000\n\
         `../common/defaults.sh`\n\
         0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0...0.2 accept(3, ..., ...) = 4\n\
         +0.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n\
         +0 %{ assert tcpi_snd_cwnd == 10 }%\n"
    );
}

#[test]
fn error_messages_name_file_line_and_column() {
    let e = parse_named("x.pkt", "0 close(3) = 0\n+0 < Q 0:0(0)\n").unwrap_err();
    assert_eq!(e.file.as_deref(), Some("x.pkt"));
    assert_eq!((e.line, e.column), (2, 6));
    assert_eq!(
        e.to_string(),
        "x.pkt:2:6: expected TCP flags (letters of `SFRPUEWN.` or `-`), found `Q`"
    );
    let e = parse_script("+0 ? close(3) = 0").unwrap_err();
    assert!(
        e.to_string().starts_with("<script>:1:4: expected a packet"),
        "{e}"
    );
    let e = parse_script("0 close(3) = 0 /* never closed").unwrap_err();
    assert_eq!((e.line, e.column), (1, 16));
    let e = synack_drill::parse_file(std::path::Path::new("/nonexistent/x.pkt")).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.to_string().contains("/nonexistent/x.pkt"));
}

#[test]
fn option_line_errors() {
    assert!(err("--\n").expected.contains("option name"));
    assert!(err("--a=b c\n").expected.contains("end of line"));
}

#[test]
fn direction_display() {
    assert_eq!(Direction::Inbound.to_string(), "<");
    assert_eq!(Direction::Outbound.to_string(), ">");
    assert_eq!(rel(1_500_000).to_string(), "+1.5");
    assert_eq!(abs(1).to_string(), "0.000001");
    assert_eq!(EventTime::Any.to_string(), "*");
}
