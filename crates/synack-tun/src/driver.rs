//! The driver loop: moves packets between a [`Tun`] and a sans-IO [`PacketHandler`], waking
//! it at its next deadline.
//!
//! One turn of the loop: hand every queued outgoing packet to the device; wait with
//! `ppoll(2)` until the device is readable, the handler's next deadline passes, or a
//! [`DriverHandle`] is used; feed every readable packet to the handler; run its timers; and
//! flush again. Time is a monotonic clock ([`Clock`]) mapped onto [`synack::Instant`].

use std::io;
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use synack::Instant;

use crate::tun::{MAX_PACKET, Tun};

/// A sans-IO packet processor (the host `Stack`, or anything with its surface).
pub trait PacketHandler {
    /// Takes one packet received from the network at `now`.
    fn receive(&mut self, now: Instant, packet: &[u8]);
    /// Writes the next packet to send into `buf` and returns its length, or `None` when
    /// nothing is queued.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// The next instant at which [`PacketHandler::handle_timeout`] must be called.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// Runs the timers due at `now`.
    fn handle_timeout(&mut self, now: Instant);
}

/// The host stack is driven as it is: its sans-IO surface is this trait's.
impl PacketHandler for synack::stack::Stack {
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        synack::stack::Stack::receive(self, now, packet);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        synack::stack::Stack::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        synack::stack::Stack::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        synack::stack::Stack::handle_timeout(self, now);
    }
}

/// A monotonic clock read as [`synack::Instant`]: nanoseconds since the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose epoch ([`Instant::ZERO`]) is now.
    pub fn new() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The current time (saturating after 584 years).
    pub fn now(&self) -> Instant {
        let ns = self.origin.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// The standard-library instant that `t` stands for.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.origin + Duration::from_nanos(t.as_nanos())
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

/// Stops or wakes a running [`Driver`] from any thread (a flag, and an eventfd the
/// driver's `ppoll` watches).
#[derive(Clone, Debug)]
pub struct DriverHandle {
    flag: Arc<AtomicBool>,
    wake: Arc<OwnedFd>,
}

impl DriverHandle {
    fn new() -> io::Result<DriverHandle> {
        // SAFETY: eventfd has no memory preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DriverHandle {
            flag: Arc::new(AtomicBool::new(false)),
            // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
            wake: Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }),
        })
    }

    /// Asks the driver to return from [`Driver::run`] at its next turn.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the driver from its wait so that it makes a turn, and calls the application
    /// callback of [`Driver::run`], now (after another thread changed what it acts on).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to the eventfd. A full counter (EAGAIN)
        // already means "wake up", so the result is not needed.
        let _ = unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                (&raw const one).cast::<libc::c_void>(),
                8,
            )
        };
    }

    /// A guard that calls [`DriverHandle::stop`] when dropped, so a driver thread ends soon
    /// even when the code waiting on it panics.
    pub fn stop_on_drop(&self) -> StopGuard {
        StopGuard(self.clone())
    }

    /// Whether [`DriverHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (nothing to drain) is fine.
        let _ = unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                (&raw mut v).cast::<libc::c_void>(),
                8,
            )
        };
    }
}

/// Stops a driver when dropped; see [`DriverHandle::stop_on_drop`].
#[derive(Debug)]
pub struct StopGuard(DriverHandle);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Bounds on [`Driver::run`]; every field left `None` is unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Return after this much wall-clock time.
    pub max_duration: Option<Duration>,
    /// Return after this many turns.
    pub max_turns: Option<u64>,
}

impl Limits {
    /// Limits of `d` wall-clock time and no turn limit.
    pub fn duration(d: Duration) -> Limits {
        Limits {
            max_duration: Some(d),
            max_turns: None,
        }
    }
}

/// Why [`Driver::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A [`DriverHandle`] was used.
    Stopped,
    /// The application callback returned [`ControlFlow::Break`].
    Done,
    /// [`Limits::max_duration`] passed.
    TimeLimit,
    /// [`Limits::max_turns`] were made.
    TurnLimit,
}

/// Counters kept by a [`Driver`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Turns of the loop made.
    pub turns: u64,
    /// Packets read from the device.
    pub packets_in: u64,
    /// Bytes read from the device.
    pub bytes_in: u64,
    /// Packets written to the device.
    pub packets_out: u64,
    /// Bytes written to the device.
    pub bytes_out: u64,
    /// Packets the device refused (each is dropped, as a NIC would drop it).
    pub send_errors: u64,
    /// The last error a send met.
    pub last_send_error: Option<io::ErrorKind>,
    /// Calls to [`PacketHandler::handle_timeout`].
    pub timeouts: u64,
}

/// Most packets moved in one direction per turn, so neither direction starves the other.
const MAX_BURST: usize = 256;
/// Most timer runs per turn (a handler whose deadline stays in the past cannot spin here).
const MAX_TIMER_RUNS: usize = 8;

/// The device side of a driver, apart from the handler: device, clock, wake-up eventfd,
/// buffers and counters. Its steps take the handler as an argument, so that a driver
/// can keep the handler behind a lock and not hold it while waiting (see
/// [`crate::shared`]).
#[derive(Debug)]
pub(crate) struct Io {
    pub(crate) tun: Tun,
    pub(crate) clock: Clock,
    pub(crate) stop: DriverHandle,
    rx: Vec<u8>,
    tx: Vec<u8>,
    pub(crate) stats: DriverStats,
}

impl Io {
    pub(crate) fn new(tun: Tun, clock: Clock) -> io::Result<Io> {
        tun.set_nonblocking(true)?;
        let mtu = tun.mtu().unwrap_or(1500).clamp(68, MAX_PACKET as u32) as usize;
        Ok(Io {
            tun,
            clock,
            stop: DriverHandle::new()?,
            rx: vec![0; MAX_PACKET],
            tx: vec![0; mtu],
            stats: DriverStats::default(),
        })
    }

    /// Sends what the handler has queued, at most [`MAX_BURST`] packets.
    pub(crate) fn flush<H: PacketHandler>(&mut self, h: &mut H) {
        for _ in 0..MAX_BURST {
            let now = self.clock.now();
            let Some(n) = h.poll_transmit(now, &mut self.tx) else {
                break;
            };
            let Some(pkt) = self.tx.get(..n) else {
                // A handler claiming more than the buffer: count it as a refused packet.
                self.stats.send_errors += 1;
                self.stats.last_send_error = Some(io::ErrorKind::InvalidInput);
                continue;
            };
            // With offloads, runs of segments go out as super-packets.
            match self.tun.send_coalescing(pkt) {
                Ok(w) => {
                    self.stats.packets_out += 1;
                    self.stats.bytes_out += w as u64;
                }
                Err(e) => {
                    self.stats.send_errors += 1;
                    self.stats.last_send_error = Some(e.kind());
                }
            }
        }
        // Writes a run of segments the device still holds.
        if let Err(e) = self.tun.flush_coalesced() {
            self.stats.send_errors += 1;
            self.stats.last_send_error = Some(e.kind());
        }
    }

    /// Runs the handler's timers that are due.
    pub(crate) fn timers<H: PacketHandler>(&mut self, h: &mut H) {
        for _ in 0..MAX_TIMER_RUNS {
            let now = self.clock.now();
            match h.poll_timeout() {
                Some(t) if t <= now => {
                    h.handle_timeout(now);
                    self.stats.timeouts += 1;
                }
                _ => return,
            }
        }
    }

    /// The first half of a turn: flush, run due timers, flush; returns how long to wait
    /// (at most `max_wait`, less if a deadline is nearer, zero if one has passed).
    pub(crate) fn before_wait<H: PacketHandler>(
        &mut self,
        h: &mut H,
        max_wait: Duration,
    ) -> Duration {
        self.stats.turns += 1;
        self.flush(h);
        self.timers(h);
        self.flush(h);
        let now = self.clock.now();
        match h.poll_timeout() {
            Some(t) => max_wait.min(t - now),
            None => max_wait,
        }
    }

    /// The second half: feed what the device has (if `ready`), run timers, flush.
    pub(crate) fn after_wait<H: PacketHandler>(
        &mut self,
        h: &mut H,
        ready: bool,
    ) -> io::Result<()> {
        if ready {
            self.receive(h)?;
        }
        self.timers(h);
        self.flush(h);
        Ok(())
    }

    /// Feeds the handler what the device has, at most [`MAX_BURST`] packets, flushing
    /// after each; returns whether the device was drained (it said EAGAIN), which an
    /// edge-triggered waiter needs to know before it clears readiness.
    pub(crate) fn receive<H: PacketHandler>(&mut self, h: &mut H) -> io::Result<bool> {
        for _ in 0..MAX_BURST {
            match self.tun.recv(&mut self.rx) {
                Ok(n) => {
                    self.stats.packets_in += 1;
                    self.stats.bytes_in += n as u64;
                    let now = self.clock.now();
                    if let Some(pkt) = self.rx.get(..n) {
                        h.receive(now, pkt);
                    }
                    self.flush(h);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// `ppoll` on the device and the wake-up eventfd for at most `wait`; returns whether
    /// the device is readable (a wake-up is drained here).
    pub(crate) fn wait(&self, wait: Duration) -> io::Result<bool> {
        let mut fds = [
            libc::pollfd {
                fd: self.tun.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.stop.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
            // Below 10^9, so it fits a 32-bit c_long too.
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `fds` is a live array of two pollfd, `ts` a live timespec, no sigmask.
        let r = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        if fds[0].revents & libc::POLLNVAL != 0 {
            return Err(io::Error::other("TUN descriptor is not open"));
        }
        if fds[1].revents & libc::POLLIN != 0 {
            self.stop.drain();
        }
        Ok(fds[0].revents & (libc::POLLIN | libc::POLLERR) != 0)
    }
}

/// When a run ends, from its limits: the deadline, or `None` for an unbounded run.
pub(crate) fn deadline(limits: &Limits) -> Option<std::time::Instant> {
    limits.max_duration.map(|d| std::time::Instant::now() + d)
}

/// How long the next wait may be under `limits`, or why the run is over.
pub(crate) fn next_wait(
    stop: &DriverHandle,
    limits: &Limits,
    end: Option<std::time::Instant>,
    turns: u64,
) -> Result<Duration, Exit> {
    if stop.is_stopped() {
        return Err(Exit::Stopped);
    }
    if limits.max_turns.is_some_and(|m| turns >= m) {
        return Err(Exit::TurnLimit);
    }
    match end {
        Some(end) => {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                Err(Exit::TimeLimit)
            } else {
                Ok(left)
            }
        }
        // Unbounded runs still come round once a second.
        None => Ok(Duration::from_secs(1)),
    }
}

/// Runs a [`PacketHandler`] on a [`Tun`].
#[derive(Debug)]
pub struct Driver<H> {
    io: Io,
    handler: H,
}

impl<H: PacketHandler> Driver<H> {
    /// A driver for `handler` on `tun`, which it puts into non-blocking mode. Outgoing
    /// packets are limited to the device MTU as it is now (1500 if it cannot be read).
    pub fn new(tun: Tun, handler: H) -> io::Result<Driver<H>> {
        Driver::with_clock(tun, handler, Clock::new())
    }

    /// Like [`Driver::new`], with the given clock (to share one epoch with other code).
    pub fn with_clock(tun: Tun, handler: H, clock: Clock) -> io::Result<Driver<H>> {
        Ok(Driver {
            io: Io::new(tun, clock)?,
            handler,
        })
    }

    /// A handle that stops or wakes [`Driver::run`] from another thread.
    pub fn handle(&self) -> DriverHandle {
        self.io.stop.clone()
    }

    /// The clock the driver reads.
    pub fn clock(&self) -> &Clock {
        &self.io.clock
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably (for socket calls between turns).
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The device.
    pub fn tun(&self) -> &Tun {
        &self.io.tun
    }

    /// The device, mutably (for example to start or finish a capture).
    pub fn tun_mut(&mut self) -> &mut Tun {
        &mut self.io.tun
    }

    /// The counters so far.
    pub fn stats(&self) -> &DriverStats {
        &self.io.stats
    }

    /// Takes the driver apart.
    pub fn into_parts(self) -> (Tun, H) {
        (self.io.tun, self.handler)
    }

    /// One turn: flush, wait at most `max_wait` (less if a deadline is nearer, not at all
    /// if one has passed), read what arrived, run due timers, flush again.
    pub fn turn(&mut self, max_wait: Duration) -> io::Result<()> {
        let wait = self.io.before_wait(&mut self.handler, max_wait);
        let ready = self.io.wait(wait)?;
        self.io.after_wait(&mut self.handler, ready)
    }

    /// Turns until stopped, until `app` breaks, or until a limit passes. `app` is called
    /// after every turn with the handler and the current time (to make socket calls on
    /// the driver's thread); its side effects are flushed at the next turn.
    pub fn run(
        &mut self,
        limits: Limits,
        mut app: impl FnMut(&mut H, Instant) -> ControlFlow<()>,
    ) -> io::Result<Exit> {
        let end = deadline(&limits);
        let mut turns = 0u64;
        loop {
            let max_wait = match next_wait(&self.io.stop, &limits, end, turns) {
                Ok(w) => w,
                Err(exit) => return Ok(exit),
            };
            self.turn(max_wait)?;
            turns += 1;
            let now = self.io.clock.now();
            if app(&mut self.handler, now).is_break() {
                self.io.flush(&mut self.handler);
                return Ok(Exit::Done);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_maps_back() {
        let c = Clock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let s = c.to_std(b);
        assert!(s <= std::time::Instant::now());
        assert!(s >= c.origin);
    }

    #[test]
    fn stop_handle_sets_flag_and_wakes() {
        let h = DriverHandle::new().unwrap();
        assert!(!h.is_stopped());
        h.clone().stop();
        assert!(h.is_stopped());
        let mut pfd = libc::pollfd {
            fd: h.wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd, zero timeout.
        let r = unsafe { libc::poll(&mut pfd, 1, 0) };
        assert_eq!(r, 1);
        h.drain();
        pfd.revents = 0;
        // SAFETY: as above.
        let r = unsafe { libc::poll(&mut pfd, 1, 0) };
        assert_eq!(r, 0);
    }
}
