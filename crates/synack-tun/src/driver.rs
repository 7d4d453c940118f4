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

/// Runs a [`PacketHandler`] on a [`Tun`].
#[derive(Debug)]
pub struct Driver<H> {
    tun: Tun,
    handler: H,
    clock: Clock,
    stop: DriverHandle,
    rx: Vec<u8>,
    tx: Vec<u8>,
    stats: DriverStats,
}

impl<H: PacketHandler> Driver<H> {
    /// A driver for `handler` on `tun`, which it puts into non-blocking mode. Outgoing
    /// packets are limited to the device MTU as it is now (1500 if it cannot be read).
    pub fn new(tun: Tun, handler: H) -> io::Result<Driver<H>> {
        Driver::with_clock(tun, handler, Clock::new())
    }

    /// Like [`Driver::new`], with the given clock (to share one epoch with other code).
    pub fn with_clock(tun: Tun, handler: H, clock: Clock) -> io::Result<Driver<H>> {
        tun.set_nonblocking(true)?;
        let mtu = tun.mtu().unwrap_or(1500).clamp(68, MAX_PACKET as u32) as usize;
        Ok(Driver {
            tun,
            handler,
            clock,
            stop: DriverHandle::new()?,
            rx: vec![0; MAX_PACKET],
            tx: vec![0; mtu],
            stats: DriverStats::default(),
        })
    }

    /// A handle that stops or wakes [`Driver::run`] from another thread.
    pub fn handle(&self) -> DriverHandle {
        self.stop.clone()
    }

    /// The clock the driver reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
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
        &self.tun
    }

    /// The device, mutably (for example to start or finish a capture).
    pub fn tun_mut(&mut self) -> &mut Tun {
        &mut self.tun
    }

    /// The counters so far.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Takes the driver apart.
    pub fn into_parts(self) -> (Tun, H) {
        (self.tun, self.handler)
    }

    /// Sends what the handler has queued, at most [`MAX_BURST`] packets.
    fn flush(&mut self) {
        for _ in 0..MAX_BURST {
            let now = self.clock.now();
            let Some(n) = self.handler.poll_transmit(now, &mut self.tx) else {
                self.flush_device();
                return;
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
        self.flush_device();
    }

    /// Writes a run of segments the device still holds.
    fn flush_device(&mut self) {
        if let Err(e) = self.tun.flush_coalesced() {
            self.stats.send_errors += 1;
            self.stats.last_send_error = Some(e.kind());
        }
    }

    /// Runs the handler's timers that are due.
    fn timers(&mut self) {
        for _ in 0..MAX_TIMER_RUNS {
            let now = self.clock.now();
            match self.handler.poll_timeout() {
                Some(t) if t <= now => {
                    self.handler.handle_timeout(now);
                    self.stats.timeouts += 1;
                }
                _ => return,
            }
        }
    }

    /// One turn: flush, wait at most `max_wait` (less if a deadline is nearer, not at all
    /// if one has passed), read what arrived, run due timers, flush again.
    pub fn turn(&mut self, max_wait: Duration) -> io::Result<()> {
        self.stats.turns += 1;
        self.flush();
        self.timers();
        self.flush();
        let now = self.clock.now();
        let wait = match self.handler.poll_timeout() {
            Some(t) => max_wait.min(t - now),
            None => max_wait,
        };
        let (tun_ready, woken) = self.wait(wait)?;
        if woken {
            self.stop.drain();
        }
        if tun_ready {
            for _ in 0..MAX_BURST {
                match self.tun.recv(&mut self.rx) {
                    Ok(n) => {
                        self.stats.packets_in += 1;
                        self.stats.bytes_in += n as u64;
                        let now = self.clock.now();
                        if let Some(pkt) = self.rx.get(..n) {
                            self.handler.receive(now, pkt);
                        }
                        self.flush();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        self.timers();
        self.flush();
        Ok(())
    }

    /// `ppoll` on the device and the stop eventfd; returns (device readable, woken).
    fn wait(&self, wait: Duration) -> io::Result<(bool, bool)> {
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
                return Ok((false, false));
            }
            return Err(e);
        }
        let bad = libc::POLLERR | libc::POLLNVAL;
        if fds[0].revents & libc::POLLNVAL != 0 {
            return Err(io::Error::other("TUN descriptor is not open"));
        }
        let tun_ready = fds[0].revents & (libc::POLLIN | bad) != 0;
        let woken = fds[1].revents & libc::POLLIN != 0;
        Ok((tun_ready, woken))
    }

    /// Turns until stopped, until `app` breaks, or until a limit passes. `app` is called
    /// after every turn with the handler and the current time (to make socket calls on
    /// the driver's thread); its side effects are flushed at the next turn.
    pub fn run(
        &mut self,
        limits: Limits,
        mut app: impl FnMut(&mut H, Instant) -> ControlFlow<()>,
    ) -> io::Result<Exit> {
        let start = std::time::Instant::now();
        let end = limits.max_duration.map(|d| start + d);
        let mut turns = 0u64;
        loop {
            if self.stop.is_stopped() {
                return Ok(Exit::Stopped);
            }
            if limits.max_turns.is_some_and(|m| turns >= m) {
                return Ok(Exit::TurnLimit);
            }
            let max_wait = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(Exit::TimeLimit);
                    }
                    left
                }
                // Unbounded runs still come round once a second (harmless, keeps the
                // time-stamp mapping and limits honest).
                None => Duration::from_secs(1),
            };
            self.turn(max_wait)?;
            turns += 1;
            let now = self.clock.now();
            if app(&mut self.handler, now).is_break() {
                self.flush();
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
