//! Wire formats for synack: IPv4, IPv6, TCP and its options, UDP and ICMP headers as
//! zero-copy views plus emitters; the Internet checksum; pcap and pcapng files; and the
//! tcpdump text format.
//!
//! Every parser here takes untrusted bytes and returns an error value for malformed
//! input; none of them may panic.

pub mod checksum;
pub mod flags;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod link;
pub mod pcap;
pub mod tcp;
pub mod tcp_options;
pub mod tcpdump;
pub mod udp;

pub use flags::TcpFlags;
