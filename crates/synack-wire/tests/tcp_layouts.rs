//! Our SYN and established option layouts, rendered in packetdrill's notation, against the
//! layouts Linux and FreeBSD are expected to send in the packetdrill scripts under
//! `shared/conformance/` (strings copied from the `>` lines of those scripts).

use synack_wire::tcp_options::{
    SynOptions, TcpOption, TcpOptionBuf, established_layout, kind, options,
};

/// Renders options as packetdrill writes them (`mss 1460,nop,wscale 7,...`).
fn render(buf: &TcpOptionBuf) -> String {
    let mut parts = Vec::new();
    let mut it = options(buf.as_bytes());
    for o in &mut it {
        parts.push(match o.expect("well-formed layout") {
            TcpOption::Eol => "eol".to_string(),
            TcpOption::Nop => "nop".to_string(),
            TcpOption::Mss(m) => format!("mss {m}"),
            TcpOption::WindowScale(w) => format!("wscale {w}"),
            TcpOption::SackPermitted => "sackOK".to_string(),
            TcpOption::Sack(b) => {
                let blocks: Vec<_> = b.iter().map(|(l, r)| format!("{l}:{r}")).collect();
                format!("sack {}", blocks.join(" "))
            }
            TcpOption::Timestamps { tsval, tsecr } => format!("TS val {tsval} ecr {tsecr}"),
            TcpOption::Unknown { kind, .. } => format!("kind {kind}"),
            TcpOption::Raw(_) => unreachable!("the parser never yields Raw"),
        });
    }
    // Padding after EOL is zero bytes; packetdrill spells each as another eol.
    parts.extend(it.remainder().iter().map(|&b| {
        assert_eq!(b, kind::EOL);
        "eol".to_string()
    }));
    parts.join(",")
}

fn syn(mss: u16, ws: Option<u8>, sack: bool, ts: Option<(u32, u32)>) -> SynOptions {
    SynOptions {
        mss: Some(mss),
        window_scale: ws,
        sack_permitted: sack,
        timestamps: ts,
    }
}

#[test]
fn linux_syn_layouts_match_packetdrill() {
    // linux/google__gtests__net__tcp__blocking__blocking-read.pkt and others.
    let cases = [
        (
            syn(1460, Some(8), true, None),
            "mss 1460,nop,nop,sackOK,nop,wscale 8",
        ),
        (syn(1460, Some(8), false, None), "mss 1460,nop,wscale 8"),
        (syn(1460, None, true, None), "mss 1460,nop,nop,sackOK"),
        (
            syn(1460, None, true, Some((100, 100))),
            "mss 1460,sackOK,TS val 100 ecr 100",
        ),
        // The seed's SYN (seeds/000, section 三.3, as tcpdump prints it).
        (
            syn(65495, Some(7), true, Some((3913303147, 0))),
            "mss 65495,sackOK,TS val 3913303147 ecr 0,nop,wscale 7",
        ),
        // tcp_options_write: TS without SACK goes behind two NOPs.
        (
            syn(1460, Some(7), false, Some((1, 2))),
            "mss 1460,nop,nop,TS val 1 ecr 2,nop,wscale 7",
        ),
    ];
    for (opts, want) in cases {
        assert_eq!(render(&opts.linux_layout()), want);
    }
}

#[test]
fn freebsd_syn_layouts_match_packetdrill() {
    // freebsd/rcv-data-segments/reordering-51234.pkt and many others.
    let cases = [
        (
            syn(1460, Some(6), true, Some((100, 0))),
            "mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0",
        ),
        (syn(1460, None, true, None), "mss 1460,sackOK,eol,eol"),
        (syn(1460, None, false, None), "mss 1460"),
        // tcp_addoptions alignment rules for the remaining combinations.
        (
            syn(1460, Some(6), false, Some((100, 0))),
            "mss 1460,nop,wscale 6,nop,nop,TS val 100 ecr 0",
        ),
        (
            syn(1460, Some(6), true, None),
            "mss 1460,nop,wscale 6,sackOK,eol,eol",
        ),
        (
            syn(1460, None, true, Some((100, 0))),
            "mss 1460,sackOK,TS val 100 ecr 0",
        ),
    ];
    for (opts, want) in cases {
        assert_eq!(render(&opts.bsd_layout()), want);
    }
}

#[test]
fn established_layouts_match_packetdrill() {
    assert_eq!(
        render(&established_layout(Some((300, 800)), &[])),
        "nop,nop,TS val 300 ecr 800"
    );
    assert_eq!(
        render(&established_layout(None, &[(1, 1001), (2001, 3001)])),
        "nop,nop,sack 1:1001 2001:3001"
    );
    assert_eq!(
        render(&established_layout(Some((5, 6)), &[(10, 20)])),
        "nop,nop,TS val 5 ecr 6,nop,nop,sack 10:20"
    );
}
