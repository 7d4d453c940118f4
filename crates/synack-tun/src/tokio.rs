//! A tokio runtime for the stack: [`TcpListener`] and [`TcpStream`] implementing tokio's
//! [`AsyncRead`]/[`AsyncWrite`], so hyper, axum and tokio-util codecs work unchanged.
//!
//! One driver task per stack ([`Net::spawn`]) owns the device: it waits on the TUN
//! descriptor (through [`AsyncFd`]), the stack's next deadline and a [`Notify`] that
//! socket calls use to have their output sent at once. The only lock on the data path is
//! the stack's own mutex, taken for each socket call and each driver step and never held
//! across an `.await`. Every socket that found nothing to do registers its task's waker
//! (one for reading, one for writing); after each driver step the wakers of sockets
//! whose readiness ([`Stack::poll`]) now allows progress are woken, and only those.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use synack::Instant;
use synack::stack::{
    Errno, RecvFlags, Shutdown, SockOpt, SockOptName, SockOptValue, SocketId, Stack, TcpInfo,
};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::sync::Notify;

use crate::blocking::{errno_to_io, family, listening_socket};
use crate::driver::{Clock, DriverStats, Io};
use crate::tun::Tun;

/// Wakers of the tasks waiting on one socket.
#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
}

struct State {
    stack: Stack,
    wakers: HashMap<SocketId, Wakers>,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes the driver task (a socket call queued something, or a stop).
    notify: Notify,
    stop: AtomicBool,
    clock: Clock,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Wakes, outside the lock, the tasks whose sockets became ready.
fn ready_wakers(st: &mut State) -> Vec<Waker> {
    let mut out = Vec::new();
    let State { stack, wakers } = st;
    wakers.retain(|s, w| {
        let (read, write) = match stack.poll(*s) {
            Ok(r) => (
                r.readable || r.error || r.hangup,
                r.writable || r.error || r.hangup,
            ),
            // The socket is gone: let its waiters see that.
            Err(_) => (true, true),
        };
        if read && let Some(x) = w.read.take() {
            out.push(x);
        }
        if write && let Some(x) = w.write.take() {
            out.push(x);
        }
        w.read.is_some() || w.write.is_some()
    });
    out
}

/// The TUN descriptor for [`AsyncFd`], borrowed from the [`Io`] that owns it.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The device and its registration; `afd` is declared first so that it is dropped (and
/// deregistered) before `io` closes the descriptor.
struct Dev {
    afd: AsyncFd<Fd>,
    io: Io,
}

/// A stack driven by a tokio task; cheap to clone.
#[derive(Clone)]
pub struct Net {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("tokio::Net")
            .field("stopped", &self.inner.stop.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// What the driver task returns: the device and the driver's counters.
pub type DriverResult = io::Result<(Tun, DriverStats)>;

impl Net {
    /// Spawns the driver task for `stack` on `tun` (inside a tokio runtime with I/O and
    /// time enabled). The task runs until [`Net::stop`] and then returns the device.
    pub fn spawn(
        tun: Tun,
        stack: Stack,
    ) -> io::Result<(Net, tokio::task::JoinHandle<DriverResult>)> {
        let clock = Clock::new();
        let io = Io::new(tun, clock)?;
        let fd = Fd(io.tun.as_raw_fd());
        // SAFETY: the descriptor belongs to `io.tun`, which `Dev` keeps open for as long as
        // the `AsyncFd` (its field is declared first, so it is dropped first).
        let afd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                stack,
                wakers: HashMap::new(),
            }),
            notify: Notify::new(),
            stop: AtomicBool::new(false),
            clock,
        });
        let task = tokio::spawn(drive(inner.clone(), Dev { afd, io }));
        Ok((Net { inner }, task))
    }

    /// Runs `f` on the stack under its lock, then wakes the driver so that whatever `f`
    /// queued goes out now.
    pub fn with<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let r = {
            let mut st = self.inner.lock();
            f(&mut st.stack, self.inner.clock.now())
        };
        self.inner.notify.notify_one();
        r
    }

    /// The stack's connection table, as `ss -tani` prints it.
    pub fn ss_text(&self) -> String {
        self.with(|st, _| st.ss_text())
    }

    /// Asks the driver task to end (it returns the device); socket calls still work on
    /// the stack but nothing more is sent or received.
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.notify.notify_one();
    }

    /// Tries `f` on the socket `s`; on `EAGAIN` registers the task's waker (read side or
    /// write side) under the same lock, so a readiness change cannot slip between.
    fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        s: SocketId,
        write: bool,
        f: impl FnOnce(&mut Stack, Instant) -> Result<R, Errno>,
    ) -> Poll<io::Result<R>> {
        let r = {
            let mut st = self.inner.lock();
            let now = self.inner.clock.now();
            match f(&mut st.stack, now) {
                Err(Errno::EAGAIN | Errno::EALREADY | Errno::EINPROGRESS)
                    if self.inner.stop.load(Ordering::SeqCst) =>
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the synack driver has stopped",
                    )));
                }
                Err(Errno::EAGAIN | Errno::EALREADY | Errno::EINPROGRESS) => {
                    let w = st.wakers.entry(s).or_default();
                    let slot = if write { &mut w.write } else { &mut w.read };
                    match slot {
                        Some(old) if old.will_wake(cx.waker()) => {}
                        _ => *slot = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
                r => r,
            }
        };
        self.inner.notify.notify_one();
        Poll::Ready(r.map_err(errno_to_io))
    }

    fn forget(&self, s: SocketId) {
        let mut st = self.inner.lock();
        st.wakers.remove(&s);
        let now = self.inner.clock.now();
        let _ = st.stack.close(now, s);
        drop(st);
        self.inner.notify.notify_one();
    }
}

/// The driver task: flush and timers, wait for the device, a deadline or a wake-up,
/// feed what arrived, then wake the sockets that became ready.
async fn drive(inner: Arc<Inner>, dev: Dev) -> DriverResult {
    let Dev { afd, mut io } = dev;
    let result = async {
        loop {
            if inner.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let (wait, wakers) = {
                let mut st = inner.lock();
                let wait = io.before_wait(&mut st.stack, Duration::from_secs(1));
                (wait, ready_wakers(&mut st))
            };
            wakers.into_iter().for_each(Waker::wake);
            tokio::select! {
                guard = afd.readable() => {
                    let mut guard = guard?;
                    let (drained, wakers) = {
                        let mut st = inner.lock();
                        let drained = io.receive(&mut st.stack)?;
                        io.timers(&mut st.stack);
                        io.flush(&mut st.stack);
                        (drained, ready_wakers(&mut st))
                    };
                    // Edge-triggered readiness is cleared only once the device said EAGAIN.
                    if drained {
                        guard.clear_ready();
                    }
                    wakers.into_iter().for_each(Waker::wake);
                }
                () = tokio::time::sleep(wait) => {}
                () = inner.notify.notified() => {}
            }
        }
    }
    .await;
    // Waiters learn that nothing more will come.
    let wakers: Vec<Waker> = {
        let mut st = inner.lock();
        st.wakers
            .drain()
            .flat_map(|(_, w)| w.read.into_iter().chain(w.write))
            .collect()
    };
    wakers.into_iter().for_each(Waker::wake);
    drop(afd);
    result.map(|()| {
        let stats = io.stats.clone();
        (io.tun, stats)
    })
}

/// A listening socket, like [`tokio::net::TcpListener`].
#[derive(Debug)]
pub struct TcpListener {
    net: Net,
    id: SocketId,
}

impl TcpListener {
    /// `socket` + `SO_REUSEADDR` + `bind(addr)` + `listen(backlog)`.
    pub fn bind(net: &Net, addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
        let id = net
            .with(|st, now| listening_socket(st, now, addr, backlog))
            .map_err(errno_to_io)?;
        Ok(TcpListener {
            net: net.clone(),
            id,
        })
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let id = self.id;
        self.net
            .poll_op(cx, id, false, |st, _| st.accept(id))
            .map_ok(|(s, peer)| (TcpStream::from_id(&self.net, s), peer))
    }

    /// Waits for a connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let id = self.id;
        self.net
            .with(|st, _| st.local_addr(id))
            .map_err(errno_to_io)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.net.forget(self.id);
    }
}

/// A connected stream implementing tokio's [`AsyncRead`] and [`AsyncWrite`].
#[derive(Debug)]
pub struct TcpStream {
    net: Net,
    id: SocketId,
}

impl TcpStream {
    fn from_id(net: &Net, id: SocketId) -> TcpStream {
        TcpStream {
            net: net.clone(),
            id,
        }
    }

    /// Opens a connection to `addr` (wrap in [`tokio::time::timeout`] to bound it; the
    /// stack gives up by itself after its SYN retries).
    pub async fn connect(net: &Net, addr: SocketAddr) -> io::Result<TcpStream> {
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
        // Owned from here: dropping the future closes the socket.
        let stream = TcpStream::from_id(net, id);
        poll_fn(|cx| {
            stream
                .net
                .poll_op(cx, id, true, |st, now| match st.connect(now, id, addr) {
                    Err(Errno::EISCONN) => Ok(()),
                    r => r,
                })
        })
        .await?;
        Ok(stream)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let id = self.id;
        self.net.with(|st, _| st.peer_addr(id)).map_err(errno_to_io)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let id = self.id;
        self.net
            .with(|st, _| st.local_addr(id))
            .map_err(errno_to_io)
    }

    /// `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let id = self.id;
        self.net
            .with(|st, now| st.setsockopt_at(now, id, SockOpt::NoDelay(nodelay)))
            .map_err(errno_to_io)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        let id = self.id;
        match self
            .net
            .with(|st, _| st.getsockopt(id, SockOptName::NoDelay))
            .map_err(errno_to_io)?
        {
            SockOptValue::Int(v) => Ok(v != 0),
            _ => Err(io::Error::other("TCP_NODELAY is not an integer")),
        }
    }

    /// `TCP_INFO`.
    pub fn tcp_info(&self) -> io::Result<TcpInfo> {
        let id = self.id;
        self.net.with(|st, _| st.tcp_info(id)).map_err(errno_to_io)
    }

    /// `shutdown(how)` at once (`Write` queues a FIN after the data: a half-close).
    pub fn shutdown_now(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => Shutdown::Read,
            std::net::Shutdown::Write => Shutdown::Write,
            std::net::Shutdown::Both => Shutdown::Both,
        };
        let id = self.id;
        self.net
            .with(|st, now| st.shutdown(now, id, how))
            .map_err(errno_to_io)
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.net.forget(self.id);
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let id = self.id;
        let dst = buf.initialize_unfilled();
        if dst.is_empty() {
            return Poll::Ready(Ok(()));
        }
        match self.net.poll_op(cx, id, false, |st, now| {
            st.recv(now, id, dst, RecvFlags::default())
        }) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let id = self.id;
        self.net
            .poll_op(cx, id, true, |st, now| st.send(now, id, buf))
    }

    /// Queued bytes already belong to the stack: nothing to flush.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-closes (`SHUT_WR`): a FIN follows the queued data.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.shutdown_now(std::net::Shutdown::Write) {
            // Already shut down or reset: nothing left to do, as tokio's own stream.
            Err(e) if e.raw_os_error() == Some(Errno::ENOTCONN.0) => Ok(()),
            r => r,
        })
    }
}
