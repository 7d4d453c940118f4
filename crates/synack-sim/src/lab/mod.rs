//! The lab: the experiments of the TCP notes as named, replayable scenarios.
//!
//! A [`Scenario`] has a name, a title, a short explanation of what to look at, a build
//! function that sets up hosts, links, faults and applications on a [`Lab`], and a checker
//! that compares what happened with what the notes describe. [`run`] builds the scenario,
//! runs the simulation (until it goes idle or reaches the scenario's time limit), and
//! returns an [`Outcome`]: the tcpdump-style trace with virtual time stamps and the hosts'
//! state transitions interleaved, every segment sent, the pcap bytes, and the checks.
//!
//! ```no_run
//! let sc = synack_sim::lab::find("handshake").unwrap();
//! let out = synack_sim::lab::run(sc, &synack_sim::lab::RunOptions::default()).unwrap();
//! print!("{}", out.trace_text());
//! assert!(out.passed());
//! ```

mod bbr;
mod peer;
mod recovery;
mod scenarios;
mod seg;
mod trace;

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::cell::RefCell;
use std::rc::Rc;

use synack::{Duration, Instant};

use crate::capture::Tap;
use crate::config::LinkConfig;
use crate::host::{HostId, LinkId};
use crate::pcap::PcapSink;
use crate::sim::Sim;
use crate::stack_host::StackHost;
use crate::svg::{Flow, TimeSeqGraph};

pub use peer::{Act, Peer, Role};
pub use scenarios::{PENDING, SCENARIOS};
pub use seg::{Note, Recorder, Seg};
pub use trace::LabTrace;

/// The client's address in the scenarios (the notes' 192.168.1.108).
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 108);
/// The server's address in the scenarios (the notes' 192.168.1.109).
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 109);

/// One experiment.
pub struct Scenario {
    /// Short name, for `synack lab run NAME`.
    pub name: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// What to look at in the trace (a few lines).
    pub explain: &'static str,
    /// Whether `synack lab tour` includes it.
    pub tour: bool,
    /// Sets up hosts, links, faults and applications.
    pub build: fn(&mut Lab) -> Result<(), String>,
    /// Compares the outcome with the behaviour the notes describe.
    pub check: fn(&Outcome, &mut Checks),
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The scenario with this name, listed or [`PENDING`].
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().chain(PENDING).find(|s| s.name == name)
}

/// Whether a scenario is one of the [`PENDING`] ones (runnable, not listed, known to fail).
pub fn is_pending(name: &str) -> bool {
    PENDING.iter().any(|s| s.name == name)
}

/// How to run a scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The simulation seed (link randomness, and the hosts' ISNs and ports).
    pub seed: u64,
    /// Sysctl overrides applied to every host after the scenario's own settings, as
    /// `(name, value)`: `("net.ipv4.tcp_syn_retries", "3")`.
    pub sets: Vec<(String, String)>,
}

/// A scenario being built: the simulation and what to observe.
pub struct Lab {
    /// The simulation.
    pub sim: Sim<StackHost>,
    /// Whose interface the trace and the pcap show (`tcpdump -i` on that host); the first
    /// host added unless the scenario says otherwise.
    pub observer: Option<HostId>,
    /// The run stops when the network goes idle or at this virtual time.
    pub limit: Instant,
    sets: Vec<(String, String)>,
    hosts: u64,
}

impl Lab {
    /// Adds a host with the given address. The scenario's sysctls are applied first, then
    /// the run's `--set` overrides.
    pub fn host(
        &mut self,
        name: &str,
        addr: Ipv4Addr,
        sysctls: &[(&str, &str)],
    ) -> Result<HostId, String> {
        let seed = self.sim.derive_seed(self.hosts);
        self.hosts += 1;
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&seed.to_le_bytes());
        secret[8..].copy_from_slice(&(!seed).rotate_left(17).to_le_bytes());
        let mut h = StackHost::new(secret, IpAddr::V4(addr));
        for (k, v) in sysctls {
            h.sysctl_set(k, v)
                .map_err(|e| format!("host {name}: sysctl {k}={v}: {e}"))?;
        }
        for (k, v) in &self.sets {
            h.sysctl_set(k, v)
                .map_err(|e| format!("--set {k}={v}: {e}"))?;
        }
        let id = self.sim.add_host(name, h);
        if self.observer.is_none() {
            self.observer = Some(id);
        }
        Ok(id)
    }

    /// Joins two hosts with a link.
    pub fn link(&mut self, a: HostId, b: HostId, cfg: LinkConfig) -> LinkId {
        self.sim.add_link(a, b, cfg)
    }

    /// Installs `peer` as the application of `host` at virtual time `at`.
    pub fn app(&mut self, host: HostId, at: Instant, peer: Peer) {
        self.sim.schedule(at, move |sim| {
            let mut peer = peer;
            sim.with_host(host, |h, now| h.start_app(now, move |cx| peer.step(cx)));
        });
    }

    /// Runs scenario code on `host` at virtual time `at` (socket calls through the
    /// [`crate::stack_host::AppCtx`] are logged to the trace).
    pub fn at(
        &mut self,
        host: HostId,
        at: Instant,
        f: impl FnOnce(&mut crate::stack_host::AppCtx<'_>) + 'static,
    ) {
        self.sim.schedule(at, move |sim| {
            sim.with_host(host, |h, now| h.act(now, f));
        });
    }

    /// The usual pair: `client` (192.168.1.108) and `server` (192.168.1.109) on a LAN link
    /// with `delay` each way. Returns (client, server, link).
    pub fn pair(
        &mut self,
        delay: Duration,
        client_sysctls: &[(&str, &str)],
        server_sysctls: &[(&str, &str)],
    ) -> Result<(HostId, HostId, LinkId), String> {
        let c = self.host("client", CLIENT_ADDR, client_sysctls)?;
        let s = self.host("server", SERVER_ADDR, server_sysctls)?;
        let l = self.link(c, s, LinkConfig::with_delay(delay));
        Ok((c, s, l))
    }
}

/// A single check and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Whether it held.
    pub ok: bool,
    /// What was checked, and on failure what was seen instead.
    pub text: String,
}

/// The checks a checker made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checks {
    /// In order.
    pub list: Vec<Check>,
}

impl Checks {
    /// Records a check.
    pub fn check(&mut self, ok: bool, text: impl Into<String>) -> bool {
        self.list.push(Check {
            ok,
            text: text.into(),
        });
        ok
    }

    /// Records that `actual` equals `expected`.
    pub fn eq<T: PartialEq + fmt::Debug>(&mut self, what: &str, actual: T, expected: T) -> bool {
        let ok = actual == expected;
        let text = if ok {
            format!("{what}: {actual:?}")
        } else {
            format!("{what}: expected {expected:?}, got {actual:?}")
        };
        self.check(ok, text)
    }

    /// Whether every check held (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.list.is_empty() && self.list.iter().all(|c| c.ok)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.list.iter().filter(|c| !c.ok)
    }
}

/// What a run produced.
pub struct Outcome {
    /// The scenario's name.
    pub name: &'static str,
    /// The seed it ran with.
    pub seed: u64,
    /// The simulation after the run (hosts can be inspected).
    pub sim: Sim<StackHost>,
    /// The observer host.
    pub observer: Option<HostId>,
    /// The trace: tcpdump lines with virtual time stamps, with drops and annotations.
    pub trace: Vec<String>,
    /// Every TCP segment sent on any link, in order, at the time it was sent.
    pub segs: Vec<Seg>,
    /// The TCP segments the observer saw, at the times it saw them (what its tcpdump
    /// shows; lost ones it sent are marked).
    pub view: Vec<Seg>,
    /// Every annotation (state transitions, socket calls, faults), in order.
    pub notes: Vec<Note>,
    /// The observer's capture as a pcap file.
    pub pcap: Vec<u8>,
    /// When the run stopped.
    pub end: Instant,
    /// Whether the network went idle (no timer, no packet left) before the time limit.
    pub idle: bool,
    /// The checker's verdict.
    pub checks: Checks,
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcome")
            .field("name", &self.name)
            .field("seed", &self.seed)
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

impl Outcome {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.passed()
    }

    /// The trace as text, one entry per line.
    pub fn trace_text(&self) -> String {
        let mut s = String::new();
        for l in &self.trace {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// The host with this name.
    pub fn host_id(&self, name: &str) -> Option<HostId> {
        (0..self.sim.host_count())
            .map(|i| HostId(i as u32))
            .find(|&h| self.sim.host_name(h) == name)
    }

    /// The segments `host` sent.
    pub fn sent_by(&self, name: &str) -> Vec<&Seg> {
        let h = self.host_id(name);
        self.segs.iter().filter(|s| Some(s.from) == h).collect()
    }

    /// The annotations of host `name` (or `"sim"`).
    pub fn notes_of(&self, name: &str) -> Vec<&Note> {
        self.notes.iter().filter(|n| n.host == name).collect()
    }

    /// The first annotation of `host` containing `text`.
    pub fn note(&self, host: &str, text: &str) -> Option<&Note> {
        self.notes
            .iter()
            .find(|n| n.host == host && n.text.contains(text))
    }

    /// The state transitions host `name` reported, as `(time, "FROM -> TO")`.
    pub fn transitions(&self, name: &str) -> Vec<(Instant, String)> {
        self.notes
            .iter()
            .filter(|n| n.host == name)
            .filter_map(|n| {
                let idx = n.text.find(" -> ")?;
                let before = n.text.get(..idx)?.rsplit(' ').next()?;
                let after = n.text.get(idx + 4..)?.split(' ').next()?;
                Some((n.time, format!("{before} -> {after}")))
            })
            .collect()
    }

    /// The sequence of states host `name` went through (its first connection's view:
    /// the first `FROM` then every `TO`), e.g. `["SYN_SENT", "ESTABLISHED", ...]`.
    pub fn states(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, t) in self.transitions(name) {
            if let Some((from, to)) = t.split_once(" -> ") {
                if out.is_empty() {
                    out.push(from.to_string());
                }
                out.push(to.to_string());
            }
        }
        out
    }

    /// The time-sequence graph of the direction that sent the most, as the observer saw
    /// it (like tcptrace on the observer's capture), or `None` if it saw no TCP segment.
    /// With a congestion-window panel when the scenario sampled `TCP_INFO`.
    pub fn graph(&self) -> Option<TimeSeqGraph> {
        let g = TimeSeqGraph::build(&self.view, Flow::busiest(&self.view)?)?;
        Some(
            g.with_cwnd(&recovery::cwnd_samples(self))
                .with_pacing(&bbr::pacing_samples(self)),
        )
    }

    /// The time-sequence graph as an SVG document.
    pub fn svg(&self) -> Option<String> {
        let title = find(self.name).map_or(self.name, |s| s.title);
        Some(
            self.graph()?
                .to_svg(&format!("synack lab: {} ({title})", self.name)),
        )
    }
}

/// Builds and runs a scenario; `Err` when it cannot be set up (a bad `--set`).
pub fn run(sc: &Scenario, opts: &RunOptions) -> Result<Outcome, String> {
    let mut lab = Lab {
        sim: Sim::new(opts.seed),
        observer: None,
        limit: Instant::from_secs(600),
        sets: opts.sets.clone(),
        hosts: 0,
    };
    (sc.build)(&mut lab)?;
    let Lab {
        mut sim,
        observer,
        limit,
        ..
    } = lab;
    let tap = observer.map_or(Tap::All, Tap::Host);
    let recorder = Rc::new(RefCell::new(Recorder::with_view(tap)));
    let trace = Rc::new(RefCell::new(LabTrace::new(tap)));
    let pcap = Rc::new(RefCell::new(
        PcapSink::new(Vec::new(), tap).map_err(|e| format!("pcap: {e}"))?,
    ));
    sim.add_sink(recorder.clone());
    sim.add_sink(trace.clone());
    sim.add_sink(pcap.clone());
    let idle = sim.run_until_idle(limit);
    let end = sim.now();
    let trace = trace.borrow_mut().take_lines();
    let pcap = pcap.borrow().get_ref().clone();
    let rec = core::mem::take(&mut *recorder.borrow_mut());
    let mut out = Outcome {
        name: sc.name,
        seed: opts.seed,
        sim,
        observer,
        trace,
        segs: rec.segs,
        view: rec.view,
        notes: rec.notes,
        pcap,
        end,
        idle,
        checks: Checks::default(),
    };
    let mut checks = Checks::default();
    (sc.check)(&out, &mut checks);
    out.checks = checks;
    Ok(out)
}

/// Seconds (with microseconds) of a virtual time, for messages.
pub fn fmt_time(t: Instant) -> String {
    t.to_string()
}

/// A socket address from an IPv4 address and port.
pub fn sa(addr: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(addr), port)
}
