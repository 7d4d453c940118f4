//! Blocking sockets in the manner of `std::net`, on a [`Stack`] driven by a
//! [`SharedDriver`] thread.
//!
//! A [`Net`] owns the driver; [`TcpListener`] and [`TcpStream`] hold a clone of it and
//! make the stack's non-blocking calls, waiting between tries with
//! [`SharedDriver::wait_for`] (which sleeps on a condition variable the driver notifies
//! after every turn, so a blocked reader never holds the stack's lock while it waits).
//! Errors carry the Linux `errno` the stack returned ([`io::Error::raw_os_error`]).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use synack::Instant;
use synack::stack::{
    Errno, Family, RecvFlags, Shutdown, SockOpt, SockOptName, SockOptValue, SocketId, Stack,
    TcpInfo,
};

use crate::driver::{Clock, DriverHandle, DriverStats, Exit, Limits};
use crate::shared::SharedDriver;
use crate::tun::Tun;

/// How long one wait lasts before a caller with no timeout checks the driver is alive.
const SLICE: Duration = Duration::from_secs(1);
/// `connect` without an explicit timeout gives up after this long (Linux's default SYN
/// retries take about two minutes; a test network needs far less).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(75);

/// The `errno` as an [`io::Error`] (Linux numbers, so `raw_os_error` matches the kernel's).
pub fn errno_to_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.0)
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the synack driver has stopped")
}

fn timed_out() -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

/// A stack on a TUN device, driven on a thread of its own; cheap to clone.
#[derive(Clone, Debug)]
pub struct Net {
    driver: Arc<SharedDriver<Stack>>,
}

impl Net {
    /// Starts driving `stack` on `tun` until [`Net::stop`] or `limits` end it.
    pub fn spawn(tun: Tun, stack: Stack, limits: Limits) -> io::Result<Net> {
        Ok(Net {
            driver: Arc::new(SharedDriver::spawn(tun, stack, limits)?),
        })
    }

    /// Runs `f` on the stack under its lock, then wakes the driver (see
    /// [`SharedDriver::with`]).
    pub fn with<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        self.driver.with(f)
    }

    /// The driver's clock.
    pub fn clock(&self) -> Clock {
        self.driver.clock()
    }

    /// A handle that stops or wakes the driver.
    pub fn handle(&self) -> DriverHandle {
        self.driver.handle()
    }

    /// Whether the driver thread is still turning.
    pub fn is_running(&self) -> bool {
        self.driver.is_running()
    }

    /// The stack's connection table, as `ss -tani` prints it.
    pub fn ss_text(&self) -> String {
        self.with(|st, _| st.ss_text())
    }

    /// Stops the driver; every socket call fails afterwards.
    pub fn stop(&self) {
        self.driver.handle().stop();
    }

    /// Stops the driver and returns the device, the driver's counters and how the run
    /// ended (`None` if the driver thread panicked); gives `self` back when sockets or other clones still share the driver.
    pub fn into_parts(self) -> Result<Option<(Tun, DriverStats, io::Result<Exit>)>, Net> {
        match Arc::try_unwrap(self.driver) {
            // `None`: the driver thread panicked.
            Ok(mut d) => Ok(d.stop()),
            Err(driver) => Err(Net { driver }),
        }
    }

    /// Blocks until `f` returns `Some`, at most `timeout` (forever with `None`), failing
    /// if the driver stops.
    fn block<R>(
        &self,
        timeout: Option<Duration>,
        mut f: impl FnMut(&mut Stack, Instant) -> Option<R>,
    ) -> io::Result<R> {
        let start = std::time::Instant::now();
        loop {
            let slice = match timeout {
                Some(t) => {
                    let left = t.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        return Err(timed_out());
                    }
                    left.min(SLICE)
                }
                None => SLICE,
            };
            if let Some(r) = self.driver.wait_for(slice, &mut f) {
                return Ok(r);
            }
            if !self.driver.is_running() {
                return Err(stopped());
            }
        }
    }
}

/// Checks a timeout as `std::net` does: zero is refused.
fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

/// The socket family for `addr` (shared by the blocking and tokio drivers).
pub(crate) fn family(addr: &SocketAddr) -> Family {
    if addr.is_ipv6() {
        Family::V6
    } else {
        Family::V4
    }
}

/// `socket` + `SO_REUSEADDR` + `bind(addr)` + `listen(backlog)`, closing the socket again
/// if any step fails (shared by the blocking and tokio drivers).
pub(crate) fn listening_socket(
    st: &mut Stack,
    now: Instant,
    addr: SocketAddr,
    backlog: i32,
) -> Result<SocketId, Errno> {
    let s = st.socket(family(&addr))?;
    let r = st
        .setsockopt(s, SockOpt::ReuseAddr(true))
        .and_then(|()| st.bind(s, addr))
        .and_then(|()| st.listen(s, backlog));
    if let Err(e) = r {
        let _ = st.close(now, s);
        return Err(e);
    }
    Ok(s)
}

/// A listening socket, like [`std::net::TcpListener`].
#[derive(Debug)]
pub struct TcpListener {
    net: Net,
    id: SocketId,
}

impl TcpListener {
    /// `socket` + `SO_REUSEADDR` + `bind(addr)` + `listen(128)`.
    pub fn bind(net: &Net, addr: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(net, addr, 128)
    }

    /// Like [`TcpListener::bind`] with the given backlog.
    pub fn bind_with_backlog(net: &Net, addr: SocketAddr, backlog: i32) -> io::Result<Self> {
        let id = net
            .with(|st, now| listening_socket(st, now, addr, backlog))
            .map_err(errno_to_io)?;
        Ok(TcpListener {
            net: net.clone(),
            id,
        })
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_inner(None)
    }

    /// Waits at most `timeout` for a connection ([`io::ErrorKind::TimedOut`] after).
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(TcpStream, SocketAddr)> {
        check_timeout(Some(timeout))?;
        self.accept_inner(Some(timeout))
    }

    fn accept_inner(&self, timeout: Option<Duration>) -> io::Result<(TcpStream, SocketAddr)> {
        let id = self.id;
        let (s, peer) = self
            .net
            .block(timeout, |st, _| match st.accept(id) {
                Err(Errno::EAGAIN) => None,
                r => Some(r),
            })?
            .map_err(errno_to_io)?;
        Ok((TcpStream::from_id(&self.net, s), peer))
    }

    /// An endless iterator of accepted connections, as [`std::net::TcpListener::incoming`].
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        std::iter::repeat_with(|| self.accept().map(|(s, _)| s))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let id = self.id;
        self.net
            .with(|st, _| st.local_addr(id))
            .map_err(errno_to_io)
    }

    /// The stack's socket.
    pub fn id(&self) -> SocketId {
        self.id
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let id = self.id;
        let _ = self.net.with(|st, now| st.close(now, id));
    }
}

/// The socket one or more [`TcpStream`] clones share; closed when the last goes.
#[derive(Debug)]
struct Sock {
    net: Net,
    id: SocketId,
}

impl Drop for Sock {
    fn drop(&mut self) {
        let id = self.id;
        let _ = self.net.with(|st, now| st.close(now, id));
    }
}

/// A connected stream, like [`std::net::TcpStream`]: [`Read`] and [`Write`] (also on
/// `&TcpStream`, so one clone can read while another writes).
#[derive(Debug)]
pub struct TcpStream {
    sock: Arc<Sock>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl TcpStream {
    fn from_id(net: &Net, id: SocketId) -> TcpStream {
        TcpStream {
            sock: Arc::new(Sock {
                net: net.clone(),
                id,
            }),
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// Opens a connection to `addr` (at most 75 s for the handshake).
    pub fn connect(net: &Net, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_timeout(net, addr, CONNECT_TIMEOUT)
    }

    /// Opens a connection to `addr`, giving up after `timeout`.
    pub fn connect_timeout(net: &Net, addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        check_timeout(Some(timeout))?;
        let id = net
            .with(|st, now| {
                let s = st.socket(family(&addr))?;
                match st.connect(now, s, addr) {
                    Ok(()) | Err(Errno::EINPROGRESS) => Ok(s),
                    Err(e) => {
                        let _ = st.close(now, s);
                        Err(e)
                    }
                }
            })
            .map_err(errno_to_io)?;
        // Owned from here: an early return closes it.
        let stream = TcpStream::from_id(net, id);
        let r = net.block(Some(timeout), |st, now| match st.connect(now, id, addr) {
            Err(Errno::EALREADY | Errno::EINPROGRESS) => None,
            Ok(()) | Err(Errno::EISCONN) => Some(Ok(())),
            Err(e) => Some(Err(e)),
        })?;
        r.map_err(errno_to_io)?;
        Ok(stream)
    }

    fn net(&self) -> &Net {
        &self.sock.net
    }

    /// The stack's socket.
    pub fn id(&self) -> SocketId {
        self.sock.id
    }

    /// Another handle on the same socket (the socket closes when the last one drops).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            sock: self.sock.clone(),
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
        })
    }

    /// The peer's address (`getpeername`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let id = self.id();
        self.net()
            .with(|st, _| st.peer_addr(id))
            .map_err(errno_to_io)
    }

    /// The local address (`getsockname`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let id = self.id();
        self.net()
            .with(|st, _| st.local_addr(id))
            .map_err(errno_to_io)
    }

    /// `shutdown(how)`: `Write` sends a FIN after the queued data (half-close).
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => Shutdown::Read,
            std::net::Shutdown::Write => Shutdown::Write,
            std::net::Shutdown::Both => Shutdown::Both,
        };
        let id = self.id();
        self.net()
            .with(|st, now| st.shutdown(now, id, how))
            .map_err(errno_to_io)
    }

    /// `TCP_NODELAY`: turns Nagle's algorithm (RFC 896) off or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let id = self.id();
        self.net()
            .with(|st, now| st.setsockopt_at(now, id, SockOpt::NoDelay(nodelay)))
            .map_err(errno_to_io)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        let id = self.id();
        match self
            .net()
            .with(|st, _| st.getsockopt(id, SockOptName::NoDelay))
            .map_err(errno_to_io)?
        {
            SockOptValue::Int(v) => Ok(v != 0),
            _ => Err(io::Error::other("TCP_NODELAY is not an integer")),
        }
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let id = self.id();
        self.net()
            .with(|st, _| st.take_error(id))
            .map(|e| e.map(errno_to_io))
            .map_err(errno_to_io)
    }

    /// `TCP_INFO`.
    pub fn tcp_info(&self) -> io::Result<TcpInfo> {
        let id = self.id();
        self.net()
            .with(|st, _| st.tcp_info(id))
            .map_err(errno_to_io)
    }

    /// Reads block at most this long (`None`: forever); zero is refused.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.read_timeout = t;
        Ok(())
    }

    /// Writes block at most this long (`None`: forever); zero is refused.
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.write_timeout = t;
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.read_timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.write_timeout)
    }

    fn read_inner(&self, buf: &mut [u8], flags: RecvFlags) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let id = self.id();
        let timeout = self.read_timeout;
        self.net()
            .block(timeout, |st, now| match st.recv(now, id, buf, flags) {
                Err(Errno::EAGAIN) => None,
                r => Some(r),
            })
            // A read timeout is EAGAIN on Linux (WouldBlock), as std reports it.
            .map_err(|e| {
                if e.kind() == io::ErrorKind::TimedOut {
                    io::Error::from(io::ErrorKind::WouldBlock)
                } else {
                    e
                }
            })?
            .map_err(errno_to_io)
    }

    /// Reads without consuming (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(
            buf,
            RecvFlags {
                peek: true,
                oob: false,
            },
        )
    }

    fn write_inner(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let id = self.id();
        let timeout = self.write_timeout;
        self.net()
            .block(timeout, |st, now| match st.send(now, id, buf) {
                Err(Errno::EAGAIN) => None,
                r => Some(r),
            })
            .map_err(|e| {
                if e.kind() == io::ErrorKind::TimedOut {
                    io::Error::from(io::ErrorKind::WouldBlock)
                } else {
                    e
                }
            })?
            .map_err(errno_to_io)
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf, RecvFlags::default())
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_inner(buf, RecvFlags::default())
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf)
    }
    /// Queued data is already the stack's to send: nothing to do.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_inner(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
