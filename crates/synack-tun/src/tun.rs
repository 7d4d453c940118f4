//! A Linux TUN device: layer-3 packets (IPv4 and IPv6) to and from the kernel through
//! `/dev/net/tun`, opened with `IFF_TUN | IFF_NO_PI` so every read and write is exactly one
//! IP packet with no packet-information prefix (Linux `Documentation/networking/tuntap.rst`).
//!
//! The device lives in the network namespace of the thread that opens it; the file
//! descriptor may afterwards be used from any thread (see [`crate::netns`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::SystemTime;

use synack_wire::pcap::{LinkType, PcapWriter, Timestamp, TsPrecision};

use crate::vnet;

/// Longest interface name the kernel accepts, without the terminating NUL.
pub const MAX_NAME_LEN: usize = libc::IFNAMSIZ - 1;

/// A read buffer this large holds any packet a TUN device without offloads delivers
/// (the largest IPv4 or non-jumbo IPv6 packet).
pub const MAX_PACKET: usize = 65_535;

/// A TUN device opened with `IFF_TUN | IFF_NO_PI`.
///
/// Reads and writes carry one raw IP packet each. The device is removed by the kernel when
/// the last descriptor is closed (it is not made persistent).
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    /// A datagram socket opened in the same namespace, for interface ioctls by name
    /// (`SIOCGIFMTU`, `SIOCSIFFLAGS`): those resolve the name in the socket's namespace.
    ctl: OwnedFd,
    name: String,
    capture: Option<Capture>,
    vnet: Option<Box<Vnet>>,
}

struct Capture {
    writer: PcapWriter<Box<dyn Write + Send>>,
    packets: u64,
    error: Option<io::Error>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("packets", &self.packets)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An `ifreq` with `name` copied in; the name must be shorter than `IFNAMSIZ` and hold no NUL.
fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    if name.len() > MAX_NAME_LEN || name.bytes().any(|b| b == 0 || b == b'/' || b == b' ') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?} (at most {MAX_NAME_LEN} bytes, no NUL, '/', ' ')"),
        ));
    }
    // SAFETY: ifreq is a plain C struct (an array and a union of integers, sockaddrs and a
    // pointer) for which all-zero bytes are a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

fn ifreq_name(ifr: &libc::ifreq) -> String {
    let bytes: Vec<u8> = ifr
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `TUN_F_TSO6` (Linux `if_tun.h`).
const TUN_F_TSO6: libc::c_uint = 0x04;
/// `TUN_F_TSO_ECN`.
const TUN_F_TSO_ECN: libc::c_uint = 0x08;

/// How to open a [`Tun`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunOptions {
    /// Put a virtio-net header before every packet (`IFF_VNET_HDR`) and let the kernel
    /// hand us TCP super-packets of up to 64 KiB with partial checksums (`TUNSETOFFLOAD`
    /// with `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN`). [`Tun::recv`] still
    /// returns one MTU-sized packet per call: the super-packets are cut here (see
    /// [`crate::vnet`]), which saves the kernel's segmentation and one read per segment.
    /// In the other direction [`Tun::send_coalescing`] joins runs of our segments into
    /// one GSO write.
    pub offload: bool,
}

/// Counters of the virtio-net path (all zero without [`TunOptions::offload`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffloadStats {
    /// TCP super-packets read.
    pub super_packets: u64,
    /// Segments cut from them.
    pub segments: u64,
    /// Partial checksums completed on ordinary packets.
    pub checksums_completed: u64,
    /// Packets dropped as malformed (bad virtio header, GSO or checksum position).
    pub malformed: u64,
    /// Super-packets written (runs of our segments joined, see [`Tun::send_coalescing`]).
    pub super_packets_out: u64,
    /// Segments that went out inside them.
    pub segments_coalesced: u64,
}

/// Read state of the virtio-net path: the last raw read and how far it has been cut.
struct Vnet {
    raw: Vec<u8>,
    /// Length of the packet in `raw` after the header, and the GSO layout being cut.
    gso: Option<(usize, vnet::TcpLayout, usize)>,
    out: vnet::Coalescer,
    stats: OffloadStats,
}

impl std::fmt::Debug for Vnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vnet")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// `read(2)` retried on EINTR.
fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast::<libc::c_void>(), buf.len()) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `writev(2)` of up to two parts, retried on EINTR.
fn write_fd(fd: RawFd, head: &[u8], packet: &[u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: head.as_ptr() as *mut libc::c_void,
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: packet.as_ptr() as *mut libc::c_void,
            iov_len: packet.len(),
        },
    ];
    loop {
        // SAFETY: both iovecs describe live slices that the kernel only reads.
        let r = unsafe { libc::writev(fd, iov.as_ptr(), 2) };
        if r >= 0 {
            return Ok((r as usize).saturating_sub(head.len()));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name` in the calling thread's network
    /// namespace. An empty name lets the kernel choose (`tun0`, `tun1`, ...); a name with
    /// `%d` is numbered by the kernel. The descriptor is close-on-exec and blocking.
    pub fn open(name: &str) -> io::Result<Tun> {
        Tun::open_with(name, TunOptions::default())
    }

    /// Like [`Tun::open`], with options.
    pub fn open_with(name: &str, options: TunOptions) -> io::Result<Tun> {
        let mut ifr = ifreq_named(name)?;
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
        if options.offload {
            flags |= libc::IFF_VNET_HDR;
        }
        ifr.ifr_ifru.ifru_flags = flags as libc::c_short;
        let path = c"/dev/net/tun";
        // SAFETY: `path` is a NUL-terminated string; open has no other preconditions.
        let raw = check(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
        // SAFETY: `raw` was just returned by open and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `ifr` is.
        check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut ifr) })?;
        let vnet = if options.offload {
            let off = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
            // SAFETY: TUNSETOFFLOAD takes the flags as the integer argument itself.
            check(unsafe {
                libc::ioctl(
                    fd.as_raw_fd(),
                    libc::TUNSETOFFLOAD as _,
                    libc::c_ulong::from(off),
                )
            })?;
            Some(Box::new(Vnet {
                raw: vec![0; vnet::HDR_LEN + MAX_PACKET + 1],
                gso: None,
                out: vnet::Coalescer::new(),
                stats: OffloadStats::default(),
            }))
        } else {
            None
        };
        let name = ifreq_name(&ifr);
        // SAFETY: socket has no memory preconditions.
        let s =
            check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })
                .or_else(|_| {
                    // SAFETY: as above; a kernel without IPv4 still has AF_UNIX.
                    check(unsafe {
                        libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
                    })
                })?;
        // SAFETY: `s` was just returned by socket and is owned by nobody else.
        let ctl = unsafe { OwnedFd::from_raw_fd(s) };
        Ok(Tun {
            fd,
            ctl,
            name,
            capture: None,
            vnet,
        })
    }

    /// Whether the device was opened with [`TunOptions::offload`].
    pub fn offload(&self) -> bool {
        self.vnet.is_some()
    }

    /// Counters of the offload path.
    pub fn offload_stats(&self) -> OffloadStats {
        self.vnet
            .as_ref()
            .map(|v| v.stats.clone())
            .unwrap_or_default()
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Puts the descriptor into (or out of) non-blocking mode; a non-blocking
    /// [`Tun::recv`] with nothing queued fails with [`io::ErrorKind::WouldBlock`].
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
        let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        let flags = if nonblocking {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        // SAFETY: as above.
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) })?;
        Ok(())
    }

    /// Reads one packet into `buf` and returns its length. A packet longer than `buf` is
    /// cut (the rest is lost), so pass at least the MTU, or [`MAX_PACKET`] bytes.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.vnet.as_deref_mut() {
            None => read_fd(self.fd.as_raw_fd(), buf)?,
            Some(v) => Tun::recv_vnet(self.fd.as_raw_fd(), v, buf)?,
        };
        let pkt = buf.get(..n).unwrap_or(buf);
        self.record(pkt);
        Ok(n)
    }

    /// The offload path of [`Tun::recv`]: the next segment of a super-packet being cut,
    /// or the next read, its checksum completed if the kernel left it partial. Malformed
    /// packets are counted and skipped (at most 64 per call).
    fn recv_vnet(fd: RawFd, v: &mut Vnet, buf: &mut [u8]) -> io::Result<usize> {
        for _ in 0..64 {
            if let Some((len, lay, next)) = v.gso {
                let pkt = v.raw.get(vnet::HDR_LEN..vnet::HDR_LEN + len).unwrap_or(&[]);
                let r = vnet::tcp_segment(pkt, &lay, next, buf);
                v.gso = (next + 1 < lay.segments).then_some((len, lay, next + 1));
                match r {
                    Ok(n) => {
                        v.stats.segments += 1;
                        return Ok(n);
                    }
                    Err(_) => {
                        // One bad segment spoils the rest of the super-packet.
                        v.stats.malformed += 1;
                        v.gso = None;
                        continue;
                    }
                }
            }
            let n = read_fd(fd, &mut v.raw)?;
            let Ok(hdr) = vnet::VnetHdr::parse(&v.raw[..n.min(v.raw.len())]) else {
                v.stats.malformed += 1;
                continue;
            };
            let len = n - vnet::HDR_LEN;
            let pkt = &mut v.raw[vnet::HDR_LEN..n];
            if hdr.gso_kind() != vnet::GSO_NONE {
                match vnet::tcp_layout(&hdr, pkt) {
                    Ok(lay) => {
                        v.stats.super_packets += 1;
                        v.gso = Some((len, lay, 0));
                    }
                    Err(_) => v.stats.malformed += 1,
                }
                continue;
            }
            if hdr.flags & vnet::F_NEEDS_CSUM != 0 {
                let start = usize::from(hdr.csum_start);
                let off = usize::from(hdr.csum_offset);
                if vnet::complete_checksum(pkt, start, off).is_err() {
                    v.stats.malformed += 1;
                    continue;
                }
                v.stats.checksums_completed += 1;
            }
            let m = len.min(buf.len());
            buf[..m].copy_from_slice(&pkt[..m]);
            return Ok(m);
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "64 malformed packets in a row; try again",
        ))
    }

    /// Writes one packet (a whole IPv4 or IPv6 packet) to the kernel. With offloads, a
    /// virtio-net header saying "no GSO, checksum complete" goes first, after any run
    /// held by [`Tun::send_coalescing`].
    pub fn send(&mut self, packet: &[u8]) -> io::Result<usize> {
        let head: &[u8] = if self.vnet.is_some() {
            self.flush_coalesced()?;
            &[0u8; vnet::HDR_LEN]
        } else {
            &[]
        };
        let n = write_fd(self.fd.as_raw_fd(), head, packet)?;
        self.record(packet);
        Ok(n)
    }

    /// Like [`Tun::send`], but with offloads a TCP data segment that continues the run of
    /// segments held is only added to it (see [`vnet::Coalescer`]); the run is written as
    /// one super-packet when a segment cannot join, when it is full or closed, and by
    /// [`Tun::flush_coalesced`], which the caller must call after a burst. An error may
    /// belong to earlier segments of the run (they are lost, as on a NIC).
    pub fn send_coalescing(&mut self, packet: &[u8]) -> io::Result<usize> {
        let Some(v) = self.vnet.as_deref_mut() else {
            return self.send(packet);
        };
        if !v.out.push(packet) {
            self.flush_coalesced()?;
            let Some(v) = self.vnet.as_deref_mut() else {
                return self.send(packet);
            };
            if !v.out.push(packet) {
                return self.send(packet);
            }
        }
        self.record(packet);
        let closed = self.vnet.as_deref().is_some_and(|v| v.out.is_closed());
        if closed {
            self.flush_coalesced()?;
        }
        Ok(packet.len())
    }

    /// Writes the run [`Tun::send_coalescing`] holds, if any.
    pub fn flush_coalesced(&mut self) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        let Some(v) = self.vnet.as_deref_mut() else {
            return Ok(());
        };
        let segments = v.out.segments() as u64;
        let Some((hdr, pkt)) = v.out.finish() else {
            return Ok(());
        };
        write_fd(fd, &hdr.emit(), pkt)?;
        if segments > 1 {
            v.stats.super_packets_out += 1;
            v.stats.segments_coalesced += segments;
        }
        Ok(())
    }

    /// The interface MTU (`SIOCGIFMTU`).
    pub fn mtu(&self) -> io::Result<u32> {
        let mut ifr = ifreq_named(&self.name)?;
        // SAFETY: SIOCGIFMTU fills `ifru_mtu` of the `struct ifreq` passed.
        check(unsafe { libc::ioctl(self.ctl.as_raw_fd(), libc::SIOCGIFMTU as _, &mut ifr) })?;
        // SAFETY: the kernel wrote the mtu member of the union.
        let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
        u32::try_from(mtu).map_err(|_| io::Error::other(format!("negative MTU {mtu}")))
    }

    /// Sets the interface MTU (`SIOCSIFMTU`; needs `CAP_NET_ADMIN`).
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        let mut ifr = ifreq_named(&self.name)?;
        ifr.ifr_ifru.ifru_mtu = i32::try_from(mtu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU too large"))?;
        // SAFETY: SIOCSIFMTU reads the `struct ifreq` passed.
        check(unsafe { libc::ioctl(self.ctl.as_raw_fd(), libc::SIOCSIFMTU as _, &mut ifr) })?;
        Ok(())
    }

    /// Brings the interface administratively up (`SIOCSIFFLAGS` with `IFF_UP`; needs
    /// `CAP_NET_ADMIN`). Addresses are configured separately (see [`crate::netns`]).
    pub fn set_up(&self) -> io::Result<()> {
        let mut ifr = ifreq_named(&self.name)?;
        // SAFETY: SIOCGIFFLAGS fills `ifru_flags` of the `struct ifreq` passed.
        check(unsafe { libc::ioctl(self.ctl.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut ifr) })?;
        // SAFETY: the kernel wrote the flags member of the union.
        let flags = unsafe { ifr.ifr_ifru.ifru_flags };
        ifr.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
        // SAFETY: SIOCSIFFLAGS reads the `struct ifreq` passed.
        check(unsafe { libc::ioctl(self.ctl.as_raw_fd(), libc::SIOCSIFFLAGS as _, &mut ifr) })?;
        Ok(())
    }

    /// Starts capturing every packet read from and written to the device into a classic
    /// pcap stream on `w` (LINKTYPE_RAW, nanosecond wall-clock time stamps), replacing any
    /// capture in progress (which is flushed first).
    pub fn capture_to(&mut self, w: Box<dyn Write + Send>) -> io::Result<()> {
        self.finish_capture()?;
        let writer = PcapWriter::new(w, LinkType::RAW, 0, TsPrecision::Nano)?;
        self.capture = Some(Capture {
            writer,
            packets: 0,
            error: None,
        });
        Ok(())
    }

    /// Starts capturing into a new file at `path` (see [`Tun::capture_to`]).
    pub fn capture_file(&mut self, path: impl AsRef<Path>) -> io::Result<()> {
        let f = File::create(path)?;
        self.capture_to(Box::new(BufWriter::new(f)))
    }

    /// Number of packets captured so far, if a capture is running.
    pub fn captured(&self) -> Option<u64> {
        self.capture.as_ref().map(|c| c.packets)
    }

    /// Stops the capture and flushes it. Returns the first write error the capture met
    /// (a failing capture stops recording but never interrupts the packet path).
    pub fn finish_capture(&mut self) -> io::Result<()> {
        match self.capture.take() {
            None => Ok(()),
            Some(mut c) => match c.error.take() {
                Some(e) => Err(e),
                None => c.writer.flush(),
            },
        }
    }

    fn record(&mut self, pkt: &[u8]) {
        let Some(c) = self.capture.as_mut() else {
            return;
        };
        if c.error.is_some() {
            return;
        }
        let ts = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(Timestamp::from_duration)
            .unwrap_or_default();
        let orig = u32::try_from(pkt.len()).unwrap_or(u32::MAX);
        match c.writer.write_packet(ts, pkt, orig) {
            Ok(()) => c.packets += 1,
            Err(e) => c.error = Some(e),
        }
    }
}

impl Drop for Tun {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; callers wanting them use finish_capture.
        let _ = self.finish_capture();
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Whether `/dev/net/tun` exists (the `tun` module is loaded or built in).
pub fn tun_available() -> bool {
    Path::new("/dev/net/tun").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(ifreq_named("tun0").is_ok());
        assert!(ifreq_named("").is_ok());
        assert!(ifreq_named("a-name-of-15-ch").is_ok());
        assert!(ifreq_named("a-name-of-16-chr").is_err());
        assert!(ifreq_named("a/b").is_err());
        assert!(ifreq_named("a\0b").is_err());
        let ifr = ifreq_named("syn0").unwrap();
        assert_eq!(ifreq_name(&ifr), "syn0");
    }
}
