//! Fuzz smoke tests (bolero): arbitrary bytes never panic the IPv4, IPv6, UDP and ICMP
//! views, and what parses re-emits consistently. Under plain `cargo test` bolero draws
//! `ITERATIONS` random inputs per target (`BOLERO_RANDOM_ITERATIONS` overrides it).

use std::sync::atomic::{AtomicUsize, Ordering};

use bolero::check;
use synack_wire::icmp::IcmpPacket;
use synack_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use synack_wire::ipv6::Ipv6Packet;
use synack_wire::udp::UdpPacket;

const ITERATIONS: usize = 100_000;

fn expected_runs() -> usize {
    if std::env::var_os("BOLERO_RANDOM_ITERATIONS").is_some()
        || std::env::var_os("BOLERO_RANDOM_TEST_TIME_MS").is_some()
    {
        1
    } else {
        ITERATIONS
    }
}

#[test]
fn fuzz_ipv4_view() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static PARSED: AtomicUsize = AtomicUsize::new(0);
    check!()
        .with_iterations(ITERATIONS)
        .with_max_len(80)
        .for_each(|raw: &[u8]| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            // Most random bytes fail the version check: force it on half the inputs.
            let mut bytes = raw.to_vec();
            if let Some(b) = bytes.first_mut()
                && raw.len() % 2 == 0
            {
                *b = 0x40 | (*b & 0x0f);
            }
            if let Ok(p) = Ipv4Packet::new_checked(&bytes) {
                PARSED.fetch_add(1, Ordering::Relaxed);
                let _ = (p.tos(), p.ecn(), p.dscp(), p.id(), p.df(), p.mf(), p.ttl());
                let _ = (
                    p.protocol(),
                    p.src(),
                    p.dst(),
                    p.frag_offset(),
                    p.is_fragment(),
                );
                assert!(p.header_len() >= 20 && p.header_len() <= bytes.len());
                assert_eq!(p.options().len() + 20, p.header_len());
                assert!(p.header_len() + p.payload().len() <= bytes.len());
                let _ = (p.checksum_ok(), p.expected_checksum());
                // Re-emitting the parsed header with its own fields gives the same header.
                let again = Ipv4Repr::parse(&p).emit(p.payload());
                assert_eq!(&again[..p.header_len()], p.header());
            }
        });
    let runs = RUNS.load(Ordering::Relaxed);
    assert!(runs >= expected_runs());
    assert!(runs < 1000 || PARSED.load(Ordering::Relaxed) * 10 >= runs);
}

#[test]
fn fuzz_ipv6_chain_udp_icmp() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    check!()
        .with_iterations(ITERATIONS)
        .with_max_len(120)
        .for_each(|raw: &[u8]| {
            RUNS.fetch_add(1, Ordering::Relaxed);
            let mut bytes = raw.to_vec();
            if let Some(b) = bytes.first_mut() {
                *b = 0x60 | (*b & 0x0f);
            }
            // Point the next header at an extension header often.
            if let Some(b) = bytes.get_mut(6)
                && raw.len() % 3 != 0
            {
                *b = [0, 43, 44, 60, 6, 17][usize::from(*b) % 6];
            }
            if let Ok(p) = Ipv6Packet::new_checked(&bytes) {
                let _ = (
                    p.traffic_class(),
                    p.flow_label(),
                    p.hop_limit(),
                    p.src(),
                    p.dst(),
                );
                let mut end = 40;
                for h in p.ext_headers() {
                    match h {
                        Ok(h) => {
                            assert_eq!(h.offset, end);
                            end += h.bytes.len();
                            assert!(end <= bytes.len());
                        }
                        Err(_) => break,
                    }
                }
                if let Ok(up) = p.upper_layer() {
                    assert!(up.offset <= bytes.len());
                    assert!(up.offset + up.payload.len() <= bytes.len());
                }
            }
            if let Ok(u) = UdpPacket::new_checked(raw) {
                let _ = (
                    u.src_port(),
                    u.dst_port(),
                    u.len(),
                    u.checksum(),
                    u.payload(),
                );
            }
            if let Ok(i) = IcmpPacket::new_checked(raw) {
                let _ = (
                    i.msg_type(),
                    i.code(),
                    i.checksum(),
                    i.echo_id(),
                    i.echo_seq(),
                );
                let _ = i.payload();
            }
        });
    assert!(RUNS.load(Ordering::Relaxed) >= expected_runs());
}
