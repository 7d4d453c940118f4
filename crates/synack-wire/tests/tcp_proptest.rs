//! Property tests: TCP headers and options survive emit → parse unchanged, and parsing
//! arbitrary option bytes is consistent with re-emitting what was parsed.

use core::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use synack_wire::TcpFlags;
use synack_wire::checksum::PseudoHeader;
use synack_wire::tcp::{TcpHeader, TcpRepr};
use synack_wire::tcp_options::{
    MAX_OPTIONS_LEN, SackBlocks, TcpOption, TcpOptionBuf, TcpOptionsSummary, emit_options, options,
    options_len,
};

/// An owned option, so that `Unknown` can own its data inside a strategy.
#[derive(Clone, Debug)]
enum Opt {
    Nop,
    Mss(u16),
    Ws(u8),
    SackOk,
    Sack(Vec<(u32, u32)>),
    Ts(u32, u32),
    Unknown(u8, Vec<u8>),
}

impl Opt {
    fn as_option(&self) -> TcpOption<'_> {
        match self {
            Opt::Nop => TcpOption::Nop,
            Opt::Mss(m) => TcpOption::Mss(*m),
            Opt::Ws(w) => TcpOption::WindowScale(*w),
            Opt::SackOk => TcpOption::SackPermitted,
            Opt::Sack(b) => TcpOption::Sack(SackBlocks::from_slice(b).expect("1..=4 blocks")),
            Opt::Ts(v, e) => TcpOption::Timestamps {
                tsval: *v,
                tsecr: *e,
            },
            Opt::Unknown(k, d) => TcpOption::Unknown { kind: *k, data: d },
        }
    }
}

fn opt() -> impl Strategy<Value = Opt> {
    prop_oneof![
        Just(Opt::Nop),
        any::<u16>().prop_map(Opt::Mss),
        any::<u8>().prop_map(Opt::Ws),
        Just(Opt::SackOk),
        vec(any::<(u32, u32)>(), 1..=4).prop_map(Opt::Sack),
        any::<(u32, u32)>().prop_map(|(v, e)| Opt::Ts(v, e)),
        // Kinds with no parsed form of their own (EOL, NOP, MSS, WS, SACK-permitted, SACK
        // and timestamps excluded).
        (
            any::<u8>().prop_filter("unparsed kind", |k| ![0, 1, 2, 3, 4, 5, 8].contains(k)),
            vec(any::<u8>(), 0..=38)
        )
            .prop_map(|(k, d)| Opt::Unknown(k, d)),
    ]
}

/// Option lists that fit in 40 bytes, optionally terminated by EOL.
fn opt_list() -> impl Strategy<Value = (Vec<Opt>, bool)> {
    (vec(opt(), 0..12), any::<bool>()).prop_map(|(mut list, eol)| {
        let room = MAX_OPTIONS_LEN - usize::from(eol);
        while list.iter().map(|o| o.as_option().wire_len()).sum::<usize>() > room {
            list.pop();
        }
        (list, eol)
    })
}

fn flags() -> impl Strategy<Value = TcpFlags> {
    (0u16..0x200).prop_map(TcpFlags::from_bits)
}

fn pseudo() -> impl Strategy<Value = PseudoHeader> {
    prop_oneof![
        any::<([u8; 4], [u8; 4])>().prop_map(|(s, d)| PseudoHeader::v4(s, d)),
        any::<([u8; 16], [u8; 16])>()
            .prop_map(|(s, d)| PseudoHeader::v6(Ipv6Addr::from(s), Ipv6Addr::from(d))),
    ]
}

proptest! {
    /// parse(emit(x)) == x for arbitrary headers, options and payloads.
    #[test]
    fn header_round_trip(
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        ack in any::<u32>(),
        flags in flags(),
        reserved in 0u8..8,
        window in any::<u16>(),
        urgent_ptr in any::<u16>(),
        (list, eol) in opt_list(),
        payload in vec(any::<u8>(), 0..200),
        pseudo in pseudo(),
    ) {
        let mut opts: Vec<TcpOption<'_>> = list.iter().map(Opt::as_option).collect();
        if eol {
            opts.push(TcpOption::Eol);
        }
        let repr = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq,
            ack,
            flags,
            reserved,
            window,
            urgent_ptr,
            options: TcpOptionBuf::from_options(&opts).unwrap(),
        };
        let mut buf = vec![0u8; repr.header_len() + payload.len()];
        let n = repr.emit(&mut buf, &payload, pseudo).unwrap();
        prop_assert_eq!(n, buf.len());
        let h = TcpHeader::parse(&buf).unwrap();
        prop_assert_eq!(TcpRepr::from_header(&h), repr);
        prop_assert_eq!(h.payload(), &payload[..]);
        prop_assert_eq!(h.header_len(), repr.header_len());
        prop_assert!(h.verify_checksum(&pseudo));
        prop_assert_eq!(h.compute_checksum(&pseudo), h.checksum());

        // Any single flipped bit breaks the checksum (one's-complement sums detect all
        // single-bit errors).
        let bit = (seq as usize) % (buf.len() * 8);
        buf[bit / 8] ^= 1 << (bit % 8);
        if let Ok(h) = TcpHeader::parse_lenient(&buf) {
            prop_assert!(!h.verify_checksum(&pseudo));
        }
    }

    /// Options: parse(emit(list)) == list, followed by EOL when padding was needed.
    #[test]
    fn options_round_trip((list, eol) in opt_list()) {
        let mut opts: Vec<TcpOption<'_>> = list.iter().map(Opt::as_option).collect();
        if eol {
            opts.push(TcpOption::Eol);
        }
        let mut buf = [0u8; MAX_OPTIONS_LEN];
        let n = emit_options(&opts, &mut buf).unwrap();
        prop_assert_eq!(n, options_len(&opts));
        prop_assert_eq!(n % 4, 0);
        let parsed: Vec<_> = options(&buf[..n]).collect::<Result<_, _>>().unwrap();
        let unpadded: usize = opts.iter().map(TcpOption::wire_len).sum();
        let mut want = opts.clone();
        if !eol && unpadded < n {
            want.push(TcpOption::Eol);
        }
        prop_assert_eq!(parsed, want);

        // The summary reports the last of each kind.
        let s = TcpOptionsSummary::parse(&buf[..n]);
        prop_assert_eq!(s.malformed, None);
        let last_mss = opts.iter().rev().find_map(|o| match o {
            TcpOption::Mss(m) => Some(*m),
            _ => None,
        });
        prop_assert_eq!(s.mss, last_mss);
        let any_sack_ok = opts.iter().any(|o| matches!(o, TcpOption::SackPermitted));
        prop_assert_eq!(s.sack_permitted, any_sack_ok);
    }

    /// Arbitrary option bytes: whatever parses cleanly re-emits to the same bytes, and the
    /// iterator's offsets never leave the buffer.
    #[test]
    fn arbitrary_option_bytes(bytes in vec(any::<u8>(), 0..=60)) {
        let mut it = options(&bytes);
        let mut out = Vec::new();
        let mut clean = true;
        while let Some(item) = it.next() {
            prop_assert!(it.offset() <= bytes.len());
            match item {
                Ok(o) => {
                    let mut tmp = [0u8; 64];
                    let k = o.emit(&mut tmp).unwrap();
                    out.extend_from_slice(&tmp[..k]);
                }
                Err(e) => {
                    clean = false;
                    prop_assert!(e.offset < bytes.len());
                    prop_assert_eq!(bytes[e.offset], e.kind);
                }
            }
        }
        if clean {
            prop_assert_eq!(&out[..], &bytes[..it.offset()]);
        }
        let _ = TcpOptionsSummary::parse(&bytes);
    }
}

#[test]
fn ipv4_pseudo_from_addrs() {
    // Both address forms give the same pseudo-header.
    let a = PseudoHeader::v4([192, 0, 2, 1], [198, 51, 100, 7]);
    let b = PseudoHeader::v4(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 7));
    assert_eq!(a, b);
}
