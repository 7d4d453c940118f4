//! A driver on a thread of its own, with the handler behind a mutex, for callers on other
//! threads that block: the ground under blocking sockets (`TcpStream::read` is a
//! [`SharedDriver::wait_for`] on `recv` returning something other than EAGAIN).
//!
//! The driver thread holds the lock only while it works on the handler, never while it
//! waits in `ppoll`; after every turn it notifies a condition variable that blocked
//! callers wait on. A caller that changed something (queued data, closed a socket) wakes
//! the driver through its eventfd so the change is sent at once.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use synack::Instant;

use crate::driver::{self, Clock, DriverHandle, DriverStats, Exit, Io, Limits, PacketHandler};
use crate::tun::Tun;

struct Shared<H> {
    handler: Mutex<H>,
    /// Notified after every turn of the driver and when it ends.
    turned: Condvar,
    running: AtomicBool,
}

impl<H> Shared<H> {
    /// The handler; a panic in another holder (a poisoned lock) does not make it unusable.
    fn lock(&self) -> MutexGuard<'_, H> {
        self.handler.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the driver thread hands back when it ends.
type Finished = (Tun, DriverStats, io::Result<Exit>);

/// A [`PacketHandler`] driven on its own thread and shared with any number of others.
pub struct SharedDriver<H> {
    shared: Arc<Shared<H>>,
    handle: DriverHandle,
    clock: Clock,
    thread: Option<JoinHandle<Finished>>,
}

impl<H> std::fmt::Debug for SharedDriver<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDriver")
            .field("running", &self.shared.running.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl<H: PacketHandler + Send + 'static> SharedDriver<H> {
    /// Starts a thread driving `handler` on `tun` until stopped or a limit passes.
    pub fn spawn(tun: Tun, handler: H, limits: Limits) -> io::Result<SharedDriver<H>> {
        let clock = Clock::new();
        let mut io = Io::new(tun, clock)?;
        let handle = io.stop.clone();
        let shared = Arc::new(Shared {
            handler: Mutex::new(handler),
            turned: Condvar::new(),
            running: AtomicBool::new(true),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("synack-driver".into())
            .spawn(move || {
                let result = drive(&mut io, &sh, limits);
                sh.running.store(false, Ordering::SeqCst);
                sh.turned.notify_all();
                (io.tun, io.stats, result)
            })?;
        Ok(SharedDriver {
            shared,
            handle,
            clock,
            thread: Some(thread),
        })
    }
}

/// The driver thread's loop.
fn drive<H: PacketHandler>(io: &mut Io, sh: &Shared<H>, limits: Limits) -> io::Result<Exit> {
    let end = driver::deadline(&limits);
    let mut turns = 0u64;
    loop {
        let max_wait = match driver::next_wait(&io.stop, &limits, end, turns) {
            Ok(w) => w,
            Err(exit) => return Ok(exit),
        };
        let wait = io.before_wait(&mut *sh.lock(), max_wait);
        let ready = io.wait(wait)?;
        io.after_wait(&mut *sh.lock(), ready)?;
        sh.turned.notify_all();
        turns += 1;
    }
}

impl<H> SharedDriver<H> {
    /// A handle that stops or wakes the driver.
    pub fn handle(&self) -> DriverHandle {
        self.handle.clone()
    }

    /// The driver's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Whether the driver thread is still turning.
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// Runs `f` on the handler under the lock, then wakes the driver so that whatever
    /// `f` queued goes out now.
    pub fn with<R>(&self, f: impl FnOnce(&mut H, Instant) -> R) -> R {
        let r = {
            let mut h = self.shared.lock();
            f(&mut h, self.clock.now())
        };
        self.handle.wake();
        r
    }

    /// Blocks until `f` returns `Some` (tried now and after every turn of the driver), or
    /// until `timeout` passes or the driver ends (`None`). The driver is woken after a
    /// successful `f`, as by [`SharedDriver::with`].
    pub fn wait_for<R>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&mut H, Instant) -> Option<R>,
    ) -> Option<R> {
        let start = std::time::Instant::now();
        let mut h = self.shared.lock();
        loop {
            if let Some(r) = f(&mut h, self.clock.now()) {
                drop(h);
                self.handle.wake();
                return Some(r);
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() || !self.is_running() {
                return None;
            }
            h = self
                .shared
                .turned
                .wait_timeout(h, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Stops the driver thread and returns the device, its counters and how the run
    /// ended (the handler stays shared; take it with [`SharedDriver::into_handler`]).
    pub fn stop(&mut self) -> Option<(Tun, DriverStats, io::Result<Exit>)> {
        self.handle.stop();
        let t = self.thread.take()?;
        t.join().ok()
    }

    /// Stops the driver and returns the handler (`None` if another thread still holds
    /// a reference to it, which cannot happen through this API, or the lock is broken).
    pub fn into_handler(mut self) -> Option<H> {
        let _ = self.stop();
        let shared = self.shared.clone();
        drop(self);
        let shared = Arc::into_inner(shared)?;
        Some(
            shared
                .handler
                .into_inner()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }
}

impl<H> Drop for SharedDriver<H> {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
