//! A synack [`Stack`] as a simulated host, with an optional application driving its
//! sockets.
//!
//! The stack is sans-IO, so the adapter only moves bytes and time: a datagram arriving on
//! any interface goes to [`Stack::receive`]; every datagram from [`Stack::poll_transmit`]
//! leaves on interface 0 (lab hosts have one link); the host's deadline is the earlier of
//! the stack's and the application's; state transitions the stack reports
//! ([`Stack::poll_annotation`]) and the application's log lines become trace annotations.
//!
//! An [`App`] stands for a program using blocking socket calls: it is stepped after every
//! event on the host (a packet arrived, a timer fired, scenario code touched the host), so
//! it sees readiness changes at the virtual instant they happen, and it may ask to be woken
//! at a time of its own (`sleep`).

use core::net::IpAddr;

use core::net::SocketAddr;

use synack::Instant;
use synack::stack::{
    Errno, Family, MAX_HEADERS, RecvFlags, Shutdown, SockOpt, SocketId, Stack, Sysctl, SysctlError,
};

use crate::host::{Host, IfaceId};

/// What an application step sees: the time, its host's stack, a log, and its wake-up.
pub struct AppCtx<'a> {
    /// The current virtual time.
    pub now: Instant,
    /// Do not log successful `send` and `recv` calls (bulk transfers).
    pub quiet: bool,
    /// The host's stack (its socket API).
    pub stack: &'a mut Stack,
    log: &'a mut Vec<String>,
    wake: &'a mut Option<Instant>,
}

impl AppCtx<'_> {
    /// Writes a line to the trace, attributed to this host (like strace output).
    pub fn log(&mut self, line: impl Into<String>) {
        self.log.push(line.into());
    }

    /// Asks to be stepped again at `at` (replacing an earlier request).
    pub fn wake_at(&mut self, at: Instant) {
        *self.wake = Some(at);
    }

    /// The pending wake-up request, if any.
    pub fn wake(&self) -> Option<Instant> {
        *self.wake
    }

    /// Cancels the pending wake-up request.
    pub fn clear_wake(&mut self) {
        *self.wake = None;
    }

    // Socket calls, logged the way strace shows them (`connect(3, ...) = -1 EINPROGRESS
    // (Operation now in progress)`). Calls that would block (EAGAIN, EALREADY) are not
    // logged: an application retries them at its next step, as a blocking call would wait.

    fn ret<T>(&mut self, call: String, r: &Result<T, Errno>, ok: impl FnOnce(&T) -> String) {
        match r {
            Ok(_) if self.quiet && (call.starts_with("send(") || call.starts_with("recv(")) => {}
            Ok(v) => self.log(format!("{call} = {}", ok(v))),
            Err(e) if *e == Errno::EAGAIN || *e == Errno::EALREADY => {}
            Err(e) => self.log(format!("{call} = -1 {e}")),
        }
    }

    /// `socket(AF_INET, SOCK_STREAM, 0)`.
    pub fn socket(&mut self) -> Result<SocketId, Errno> {
        let r = self.stack.socket(Family::V4);
        self.ret(String::from("socket(AF_INET, SOCK_STREAM, 0)"), &r, |s| {
            fd(*s).to_string()
        });
        r
    }

    /// `setsockopt(s, opt)`.
    pub fn setsockopt(&mut self, s: SocketId, opt: SockOpt) -> Result<(), Errno> {
        let r = self.stack.setsockopt(s, opt);
        self.ret(format!("setsockopt({}, {opt:?})", fd(s)), &r, |_| {
            String::from("0")
        });
        r
    }

    /// `bind(s, addr)`.
    pub fn bind(&mut self, s: SocketId, addr: SocketAddr) -> Result<(), Errno> {
        let r = self.stack.bind(s, addr);
        self.ret(format!("bind({}, {addr})", fd(s)), &r, |_| {
            String::from("0")
        });
        r
    }

    /// `listen(s, backlog)`.
    pub fn listen(&mut self, s: SocketId, backlog: i32) -> Result<(), Errno> {
        let r = self.stack.listen(s, backlog);
        self.ret(format!("listen({}, {backlog})", fd(s)), &r, |_| {
            String::from("0")
        });
        r
    }

    /// `accept(s)`; EAGAIN means no connection yet.
    pub fn accept(&mut self, s: SocketId) -> Result<(SocketId, SocketAddr), Errno> {
        let r = self.stack.accept(s);
        self.ret(format!("accept({})", fd(s)), &r, |(c, peer)| {
            format!("{} (from {peer})", fd(*c))
        });
        r
    }

    /// `connect(s, addr)`: the first call returns EINPROGRESS; later calls EALREADY while
    /// the handshake runs, then the outcome (0, or ECONNREFUSED, ETIMEDOUT, ...).
    pub fn connect(&mut self, s: SocketId, addr: SocketAddr) -> Result<(), Errno> {
        let r = self.stack.connect(self.now, s, addr);
        self.ret(format!("connect({}, {addr})", fd(s)), &r, |_| {
            String::from("0")
        });
        r
    }

    /// `send(s, data)`.
    pub fn send(&mut self, s: SocketId, data: &[u8]) -> Result<usize, Errno> {
        let r = self.stack.send(self.now, s, data);
        self.ret(format!("send({}, {})", fd(s), show(data)), &r, |n| {
            n.to_string()
        });
        r
    }

    /// `recv(s, buf)`; EAGAIN means nothing yet, `Ok(0)` end of stream.
    pub fn recv(&mut self, s: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        let r = self.stack.recv(self.now, s, buf, RecvFlags::default());
        let shown = match &r {
            Ok(n) => show(buf.get(..*n).unwrap_or(&[])),
            Err(_) => String::from("..."),
        };
        self.ret(format!("recv({}, {shown})", fd(s)), &r, |n| n.to_string());
        r
    }

    /// `send(s, data, MSG_OOB)`: urgent data (RFC 9293 §3.8.5).
    pub fn send_oob(&mut self, s: SocketId, data: &[u8]) -> Result<usize, Errno> {
        let r = self.stack.send_urgent(self.now, s, data);
        self.ret(
            format!("send({}, {}, MSG_OOB)", fd(s), show(data)),
            &r,
            |n| n.to_string(),
        );
        r
    }

    /// `recv(s, buf, MSG_OOB)`: the urgent byte; EINVAL when there is none.
    pub fn recv_oob(&mut self, s: SocketId, buf: &mut [u8]) -> Result<usize, Errno> {
        let flags = RecvFlags {
            oob: true,
            ..RecvFlags::default()
        };
        let r = self.stack.recv(self.now, s, buf, flags);
        let shown = match &r {
            Ok(n) => show(buf.get(..*n).unwrap_or(&[])),
            Err(_) => String::from("..."),
        };
        self.ret(format!("recv({}, {shown}, MSG_OOB)", fd(s)), &r, |n| {
            n.to_string()
        });
        r
    }

    /// `shutdown(s, how)`.
    pub fn shutdown(&mut self, s: SocketId, how: Shutdown) -> Result<(), Errno> {
        let r = self.stack.shutdown(self.now, s, how);
        let name = match how {
            Shutdown::Read => "SHUT_RD",
            Shutdown::Write => "SHUT_WR",
            Shutdown::Both => "SHUT_RDWR",
        };
        self.ret(format!("shutdown({}, {name})", fd(s)), &r, |_| {
            String::from("0")
        });
        r
    }

    /// `close(s)`.
    pub fn close(&mut self, s: SocketId) -> Result<(), Errno> {
        let r = self.stack.close(self.now, s);
        self.ret(format!("close({})", fd(s)), &r, |_| String::from("0"));
        r
    }
}

/// The file-descriptor-like number shown for a socket (slab index + 3, after stdio).
pub fn fd(s: SocketId) -> u32 {
    s.index().saturating_add(3)
}

/// Data as strace shows it: a quoted, escaped prefix and the length.
fn show(data: &[u8]) -> String {
    let mut q = String::from("\"");
    for &b in data.iter().take(24) {
        match b {
            b'\n' => q.push_str("\\n"),
            b'\r' => q.push_str("\\r"),
            b'"' => q.push_str("\\\""),
            b'\\' => q.push_str("\\\\"),
            0x20..=0x7e => q.push(char::from(b)),
            _ => q.push_str(&format!("\\x{b:02x}")),
        }
    }
    q.push('"');
    if data.len() > 24 {
        q.push_str("...");
    }
    format!("{q}, {}", data.len())
}

/// An application on a host: called after every event on the host.
pub type App = Box<dyn FnMut(&mut AppCtx<'_>)>;

/// A [`Stack`] with an optional application, as a simulator [`Host`].
pub struct StackHost {
    /// The host's TCP/IP stack.
    pub stack: Stack,
    /// The running applications, each with its wake-up request.
    apps: Vec<(App, Option<Instant>)>,
    /// Wake-up requests of scenario code run through [`StackHost::act`] (unused).
    wake: Option<Instant>,
    log: Vec<String>,
    buf: Vec<u8>,
    /// Raw datagrams to send, bypassing the stack (a packet generator, an attacker).
    raw: Vec<Vec<u8>>,
}

impl StackHost {
    /// A host with Linux defaults, the given address, and a stack keyed by `secret`
    /// (ISNs, ports and cookies derive from it: the same secret gives the same run).
    /// State-transition annotations are on.
    pub fn new(secret: [u8; 16], addr: IpAddr) -> StackHost {
        let mut stack = Stack::new(secret, Sysctl::linux());
        stack.add_address(addr);
        stack.set_annotations(true);
        StackHost {
            stack,
            apps: Vec::new(),
            wake: None,
            log: Vec::new(),
            raw: Vec::new(),
            // The largest datagram the stack writes: the MTU it may be configured with is at
            // most 64 KiB, plus room for headers.
            buf: vec![0; 65_536 + MAX_HEADERS],
        }
    }

    /// Sets a sysctl by its Linux name (`net.ipv4.tcp_syn_retries`, or the short
    /// `tcp_syn_retries`).
    pub fn sysctl_set(&mut self, key: &str, value: &str) -> Result<(), SysctlError> {
        self.stack.sysctl_set(key, value)
    }

    /// Starts an application (next to those already running) and steps it at once.
    pub fn start_app(&mut self, now: Instant, app: impl FnMut(&mut AppCtx<'_>) + 'static) {
        self.apps.push((Box::new(app), None));
        self.step_app(now);
    }

    /// Removes every application (the programs exit; their sockets stay as they are).
    pub fn clear_apps(&mut self) {
        self.apps.clear();
    }

    /// The number of running applications.
    pub fn app_count(&self) -> usize {
        self.apps.len()
    }

    /// Queues a raw IP datagram to send on interface 0 at the next poll, bypassing the
    /// stack (spoofed SYNs of a flood, hand-made segments).
    pub fn inject(&mut self, packet: Vec<u8>) {
        self.raw.push(packet);
    }

    /// Writes a line to the trace from scenario code, attributed to this host.
    pub fn log(&mut self, line: impl Into<String>) {
        self.log.push(line.into());
    }

    /// Runs `f` on the stack as an application would, with logging: for scenario code
    /// scheduled at a fixed time (`sim.with_host(h, |host, now| host.act(now, |cx| ...))`).
    pub fn act<R>(&mut self, now: Instant, f: impl FnOnce(&mut AppCtx<'_>) -> R) -> R {
        let mut cx = AppCtx {
            now,
            quiet: false,
            stack: &mut self.stack,
            log: &mut self.log,
            wake: &mut self.wake,
        };
        f(&mut cx)
    }

    /// Moves the stack's annotations into the log, so they keep their order with the
    /// application's lines.
    fn drain_stack_notes(&mut self) {
        while let Some(a) = self.stack.poll_annotation() {
            self.log.push(a);
        }
    }

    fn step_app(&mut self, now: Instant) {
        self.drain_stack_notes();
        for (app, wake) in &mut self.apps {
            if wake.is_some_and(|w| w <= now) {
                *wake = None;
            }
            let mut cx = AppCtx {
                now,
                quiet: false,
                stack: &mut self.stack,
                log: &mut self.log,
                wake,
            };
            app(&mut cx);
        }
    }
}

impl Host for StackHost {
    fn receive(&mut self, now: Instant, _iface: IfaceId, packet: &[u8]) {
        self.stack.receive(now, packet);
        self.step_app(now);
    }

    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(IfaceId, &[u8])) {
        for p in self.raw.drain(..) {
            emit(IfaceId(0), &p);
        }
        while let Some(n) = self.stack.poll_transmit(now, &mut self.buf) {
            if let Some(pkt) = self.buf.get(..n) {
                emit(IfaceId(0), pkt);
            }
        }
        // Sending may change states (a FIN out: FIN_WAIT_1), which the app may wait for.
        self.step_app(now);
        while let Some(n) = self.stack.poll_transmit(now, &mut self.buf) {
            if let Some(pkt) = self.buf.get(..n) {
                emit(IfaceId(0), pkt);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let apps = self.apps.iter().filter_map(|(_, w)| *w).min();
        match (self.stack.poll_timeout(), apps) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        self.step_app(now);
    }

    fn restart(&mut self, now: Instant) {
        // Power cycle: connections, sockets and the running program are gone.
        self.stack.restart(now);
        self.apps.clear();
        self.raw.clear();
        self.wake = None;
        self.log.push(String::from("booted"));
    }

    fn poll_annotations(&mut self, emit: &mut dyn FnMut(&str)) {
        self.drain_stack_notes();
        for l in self.log.drain(..) {
            emit(&l);
        }
    }
}
