//! A bounded pinger for the test harness: ICMP/ICMPv6 echo requests sent through raw
//! sockets of the calling thread's namespace, so the kernel's own IP stack builds, routes
//! and receives them. (CI machines have no `ping` command.)

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use synack_wire::checksum::checksum;
use synack_wire::icmp::{self, EchoRepr, IcmpPacket};
use synack_wire::ipv4::Ipv4Packet;

/// Pings `dst` `count` times from the calling thread's network namespace; returns how many
/// matching replies (same identifier, sequence and data) came back. Each request waits at
/// most one second and reads at most 50 packets. Needs `CAP_NET_RAW`.
pub fn ping(dst: IpAddr, count: u16, payload: &[u8]) -> io::Result<u16> {
    match dst {
        IpAddr::V4(a) => ping_v4(a, count, payload),
        IpAddr::V6(a) => ping_v6(a, count, payload),
    }
}

fn raw_socket(domain: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket has no memory preconditions.
    let fd = unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: SO_RCVTIMEO takes a timeval of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn send_to(fd: &OwnedFd, msg: &[u8], addr: *const libc::sockaddr, len: usize) -> io::Result<()> {
    // SAFETY: `msg` is live for its length; `addr` points to a live sockaddr of `len` bytes.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr().cast(),
            msg.len(),
            0,
            addr,
            len as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `buf` is live and writable for its length.
    let r = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    usize::try_from(r).ok()
}

/// Pings `dst` `count` times from the calling thread's namespace with a raw ICMP socket
/// (the kernel's IPv4 stack builds and routes the packets); returns the matching replies.
/// Bounded: each request waits at most 1 s and reads at most 50 packets.
fn ping_v4(dst: Ipv4Addr, count: u16, payload: &[u8]) -> io::Result<u16> {
    let fd = raw_socket(libc::AF_INET, libc::IPPROTO_ICMP)?;
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from(dst).to_be();
    let id = (std::process::id() & 0xffff) as u16;
    let mut got = 0;
    for seq in 1..=count {
        let req = EchoRepr {
            msg_type: icmp::ECHO_REQUEST,
            id,
            seq,
        }
        .emit_v4(payload);
        send_to(
            &fd,
            &req,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_in>(),
        )?;
        let start = Instant::now();
        let mut buf = [0u8; 2048];
        for _ in 0..50 {
            if start.elapsed() > Duration::from_secs(1) {
                break;
            }
            let Some(n) = recv(&fd, &mut buf) else {
                continue;
            };
            // A raw IPv4 socket delivers the IP header too.
            let Ok(ip) = Ipv4Packet::new_checked(&buf[..n]) else {
                continue;
            };
            let Ok(m) = IcmpPacket::new_checked(ip.payload()) else {
                continue;
            };
            if ip.src() == dst
                && m.msg_type() == icmp::ECHO_REPLY
                && m.echo_id() == Some(id)
                && m.echo_seq() == Some(seq)
                && m.payload() == payload
                && checksum(ip.payload()) == 0
            {
                got += 1;
                break;
            }
        }
    }
    Ok(got)
}

/// As [`ping_v4`] for IPv6 (the kernel fills in the ICMPv6 checksum of a raw socket).
fn ping_v6(dst: Ipv6Addr, count: u16, payload: &[u8]) -> io::Result<u16> {
    let fd = raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6)?;
    // SAFETY: all-zero is a valid sockaddr_in6.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = dst.octets();
    let id = (std::process::id() & 0xffff) as u16 ^ 0x5a5a;
    let mut got = 0;
    for seq in 1..=count {
        // Checksum left zero: the kernel computes it for ICMPv6 raw sockets (RFC 3542 §3.1).
        let mut req = vec![icmp::ECHO6_REQUEST, 0, 0, 0];
        req.extend_from_slice(&id.to_be_bytes());
        req.extend_from_slice(&seq.to_be_bytes());
        req.extend_from_slice(payload);
        send_to(
            &fd,
            &req,
            (&raw const sa).cast(),
            size_of::<libc::sockaddr_in6>(),
        )?;
        let start = Instant::now();
        let mut buf = [0u8; 2048];
        for _ in 0..50 {
            if start.elapsed() > Duration::from_secs(1) {
                break;
            }
            let Some(n) = recv(&fd, &mut buf) else {
                continue;
            };
            // A raw IPv6 socket delivers the ICMPv6 message alone (the kernel has already
            // verified its checksum).
            let Ok(m) = IcmpPacket::new_checked(&buf[..n]) else {
                continue;
            };
            if m.msg_type() == icmp::ECHO6_REPLY
                && m.echo_id() == Some(id)
                && m.echo_seq() == Some(seq)
                && m.payload() == payload
            {
                got += 1;
                break;
            }
        }
    }
    Ok(got)
}
