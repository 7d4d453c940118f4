//! The simulator: hosts, links and one virtual clock, driven by an event queue.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use synack::{Duration, Instant};

use crate::capture::{
    AnnotationEvent, CaptureSink, Direction, DropEvent, End, PacketEvent, PacketPoint,
};
use crate::config::{ChannelConfig, LinkConfig, NotEctPolicy};
use crate::host::{Host, HostId, IfaceId, LinkId};
use crate::packet::{self, Ecn};
use crate::rng::{self, Rng};
use crate::stats::{ChannelStats, DropReason};

/// The default livelock limit: more events than this at one virtual instant means a host
/// keeps asking to be woken in the past (or two hosts ping-pong over zero-delay links
/// forever), which is reported by a panic rather than a hang. See
/// [`Sim::set_max_events_per_instant`].
pub const MAX_EVENTS_PER_INSTANT: u64 = 1 << 24;

/// Released packet buffers kept for reuse (so steady-state forwarding does not allocate).
const POOL_LIMIT: usize = 4096;

/// Seed domain of the per-link-direction random streams (ASCII "LINK").
const LINK_STREAMS: u64 = 0x4c49_4e4b;
/// Seed domain of [`Sim::derive_seed`] (ASCII "HOST").
const HOST_SEEDS: u64 = 0x484f_5354;

/// A scripted packet filter: given the time and the packet, `true` drops it.
pub type Filter = Box<dyn FnMut(Instant, &[u8]) -> bool>;

/// A scheduled piece of scenario code.
type Action<H> = Box<dyn FnOnce(&mut Sim<H>)>;

/// Simulator-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events processed so far.
    pub events: u64,
    /// Packets a host emitted on an interface with no link attached (discarded).
    pub unroutable: u64,
}

enum EventKind<H> {
    /// A packet reaches the end of a link.
    Deliver {
        link: LinkId,
        dir: Direction,
        /// The link's epoch when the packet was sent; a cut in between loses it.
        epoch: u64,
        /// Position in the channel's send order, to detect reordering.
        order: u64,
        data: Vec<u8>,
    },
    /// A host's deadline; stale unless `generation` is the host's current one.
    Timer { host: HostId, generation: u64 },
    /// A link goes down or comes up.
    LinkState { link: LinkId, up: bool },
    /// A host crashes (stops, packets to it are dropped).
    Crash(HostId),
    /// A host restarts with its state lost.
    Restart(HostId),
    /// Scenario code.
    Action(Action<H>),
}

struct Event<H> {
    at: Instant,
    seq: u64,
    kind: EventKind<H>,
}

// The heap is a max-heap: order events so the earliest (time, sequence) is the greatest.
// Sequence numbers are unique, so this is a total order and ties in time are broken by
// insertion order: the run is deterministic.
impl<H> PartialEq for Event<H> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<H> Eq for Event<H> {}
impl<H> PartialOrd for Event<H> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<H> Ord for Event<H> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct HostSlot<H> {
    host: H,
    name: String,
    /// Interface `i` is attached to `ifaces[i]`: (link, direction this host sends in).
    ifaces: Vec<(LinkId, Direction)>,
    up: bool,
    /// The deadline currently in the event queue, if any.
    timer: Option<Instant>,
    generation: u64,
    /// Scenario code touched the host: poll it before the next event.
    dirty: bool,
}

/// One direction of a link: configuration, random stream, queue state and counters.
struct Channel {
    cfg: ChannelConfig,
    rng: Rng,
    filters: Vec<Filter>,
    /// When the wire finishes serializing the last accepted packet.
    wire_free_at: Instant,
    /// Packets waiting for the wire: (time their serialization starts, length).
    waiting: VecDeque<(Instant, usize)>,
    waiting_bytes: usize,
    /// Latest arrival time scheduled for a packet that was not held back (FIFO clamp).
    last_arrival: Instant,
    /// Gilbert–Elliott state: true while Bad.
    ge_bad: bool,
    next_order: u64,
    highest_delivered: Option<u64>,
    stats: ChannelStats,
}

impl Channel {
    fn new(cfg: ChannelConfig, rng: Rng) -> Channel {
        Channel {
            cfg,
            rng,
            filters: Vec::new(),
            wire_free_at: Instant::ZERO,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            last_arrival: Instant::ZERO,
            ge_bad: false,
            next_order: 0,
            highest_delivered: None,
            stats: ChannelStats::default(),
        }
    }

    /// Forget queued and in-flight packets (the link was cut).
    fn flush(&mut self, now: Instant) {
        self.waiting.clear();
        self.waiting_bytes = 0;
        self.wire_free_at = now;
        self.last_arrival = now;
    }
}

struct Link {
    a: HostId,
    b: HostId,
    iface_a: IfaceId,
    iface_b: IfaceId,
    up: bool,
    /// Incremented each time the link goes down.
    epoch: u64,
    chans: [Channel; 2],
}

impl Link {
    /// (sender, receiver, receiver's interface) for packets travelling in `dir`.
    fn ends(&self, dir: Direction) -> (HostId, HostId, IfaceId) {
        match dir {
            Direction::AtoB => (self.a, self.b, self.iface_b),
            Direction::BtoA => (self.b, self.a, self.iface_a),
        }
    }
}

/// Everything but the hosts, so a host can be borrowed while its output goes onto links.
struct Net<H> {
    seed: u64,
    now: Instant,
    next_seq: u64,
    events: BinaryHeap<Event<H>>,
    links: Vec<Link>,
    sinks: Vec<Box<dyn CaptureSink>>,
    pool: Vec<Vec<u8>>,
    stats: SimStats,
    /// Events processed at `now` so far (livelock detection).
    events_at_now: u64,
    max_events_at_now: u64,
}

/// A deterministic network of hosts and links under one virtual clock.
///
/// Time only moves when an event is processed: the simulator jumps from one event (a packet
/// arrival, a host deadline, a scripted fault) to the next, so a minute of simulated
/// time with a handful of packets takes microseconds. Events at the same instant run in the
/// order they were scheduled. Given the same seed, the same hosts and the same calls, two runs
/// are identical to the byte.
///
/// All hosts have the same type `H`; use an enum or `Box<dyn Host>` to mix kinds.
///
/// Ids ([`HostId`], [`LinkId`]) are indices into this simulation; passing one that did not
/// come from it panics.
pub struct Sim<H> {
    hosts: Vec<HostSlot<H>>,
    /// Hosts touched by scenario code since they were last polled, in the order touched.
    dirty: Vec<HostId>,
    net: Net<H>,
}

impl<H: Host> Sim<H> {
    /// An empty network at virtual time zero, with every random stream derived from `seed`.
    pub fn new(seed: u64) -> Sim<H> {
        Sim {
            hosts: Vec::new(),
            dirty: Vec::new(),
            net: Net {
                seed,
                now: Instant::ZERO,
                next_seq: 0,
                events: BinaryHeap::new(),
                links: Vec::new(),
                sinks: Vec::new(),
                pool: Vec::new(),
                stats: SimStats::default(),
                events_at_now: 0,
                max_events_at_now: MAX_EVENTS_PER_INSTANT,
            },
        }
    }

    /// The seed this simulation was created with.
    pub fn seed(&self) -> u64 {
        self.net.seed
    }

    /// A seed derived from the simulation seed and `key`, for a host's own randomness (ISNs,
    /// ports): the same simulation seed and key always give the same value, and it is
    /// independent of the links' random streams.
    pub fn derive_seed(&self, key: u64) -> u64 {
        rng::derive_seed(rng::derive_seed(self.net.seed, HOST_SEEDS), key)
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.net.now
    }

    /// Sets the livelock limit (default [`MAX_EVENTS_PER_INSTANT`]): processing more events
    /// than this at one virtual instant panics.
    pub fn set_max_events_per_instant(&mut self, limit: u64) {
        self.net.max_events_at_now = limit;
    }

    /// Simulator-wide counters.
    pub fn sim_stats(&self) -> SimStats {
        self.net.stats
    }

    // ---------------------------------------------------------------- building the network

    /// Adds a host. It is polled (for packets and its first deadline) before the next event.
    pub fn add_host(&mut self, name: impl Into<String>, host: H) -> HostId {
        let id = HostId(u32::try_from(self.hosts.len()).expect("more than 2^32 hosts"));
        self.hosts.push(HostSlot {
            host,
            name: name.into(),
            ifaces: Vec::new(),
            up: true,
            timer: None,
            generation: 0,
            dirty: true,
        });
        self.dirty.push(id);
        id
    }

    /// Connects host `a` and host `b` with a point-to-point link. Each host gets a new
    /// interface (the next free [`IfaceId`]) for it; see [`Sim::link_ifaces`].
    ///
    /// Each direction draws from its own random stream, keyed by the link's index, so adding
    /// a link never changes what happens on the others.
    pub fn add_link(&mut self, a: HostId, b: HostId, cfg: LinkConfig) -> LinkId {
        let index = self.net.links.len();
        let id = LinkId(u32::try_from(index).expect("more than 2^32 links"));
        let iface_a = self.attach(a, id, Direction::AtoB);
        let iface_b = self.attach(b, id, Direction::BtoA);
        let streams = rng::derive_seed(self.net.seed, LINK_STREAMS);
        let key = (index as u64) << 1;
        self.net.links.push(Link {
            a,
            b,
            iface_a,
            iface_b,
            up: true,
            epoch: 0,
            chans: [
                Channel::new(cfg.a_to_b, Rng::stream(streams, key)),
                Channel::new(cfg.b_to_a, Rng::stream(streams, key | 1)),
            ],
        });
        id
    }

    fn attach(&mut self, h: HostId, link: LinkId, dir: Direction) -> IfaceId {
        let slot = &mut self.hosts[h.0 as usize];
        let iface = IfaceId(u16::try_from(slot.ifaces.len()).expect("more than 2^16 interfaces"));
        slot.ifaces.push((link, dir));
        iface
    }

    /// The (host A, host B) of a link.
    pub fn link_hosts(&self, link: LinkId) -> (HostId, HostId) {
        let l = &self.net.links[link.0 as usize];
        (l.a, l.b)
    }

    /// The interfaces a link occupies on (host A, host B).
    pub fn link_ifaces(&self, link: LinkId) -> (IfaceId, IfaceId) {
        let l = &self.net.links[link.0 as usize];
        (l.iface_a, l.iface_b)
    }

    /// The host at one end of a link.
    pub fn link_end(&self, link: LinkId, end: End) -> HostId {
        let l = &self.net.links[link.0 as usize];
        match end {
            End::A => l.a,
            End::B => l.b,
        }
    }

    /// The configuration of one direction of a link.
    pub fn channel_config(&self, link: LinkId, dir: Direction) -> &ChannelConfig {
        &self.net.links[link.0 as usize].chans[dir.index()].cfg
    }

    /// Changes one direction of a link from now on (packets already on their way keep the
    /// treatment they got when sent).
    pub fn channel_config_mut(&mut self, link: LinkId, dir: Direction) -> &mut ChannelConfig {
        &mut self.net.links[link.0 as usize].chans[dir.index()].cfg
    }

    /// Adds a scripted filter to one direction of a link: every packet sent that way is
    /// offered to it (with the current time), and dropped if it returns `true`. For example
    /// `sim.add_filter(l, Direction::AtoB, |_, p| synack_sim::packet::is_tcp_syn(p))`
    /// is the notes' `iptables ... --syn -j DROP`.
    pub fn add_filter(
        &mut self,
        link: LinkId,
        dir: Direction,
        filter: impl FnMut(Instant, &[u8]) -> bool + 'static,
    ) {
        self.net.links[link.0 as usize].chans[dir.index()]
            .filters
            .push(Box::new(filter));
    }

    /// Removes every filter from one direction of a link.
    pub fn clear_filters(&mut self, link: LinkId, dir: Direction) {
        self.net.links[link.0 as usize].chans[dir.index()]
            .filters
            .clear();
    }

    /// Registers an observer of packets, drops and annotations.
    pub fn add_sink(&mut self, sink: impl CaptureSink + 'static) {
        self.net.sinks.push(Box::new(sink));
    }

    // ---------------------------------------------------------------------------- hosts

    /// The number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// A host.
    pub fn host(&self, id: HostId) -> &H {
        &self.hosts[id.0 as usize].host
    }

    /// A host, for scenario code (opening a socket, writing data). The simulator polls it for
    /// packets and its deadline before processing the next event.
    pub fn host_mut(&mut self, id: HostId) -> &mut H {
        let slot = &mut self.hosts[id.0 as usize];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(id);
        }
        &mut slot.host
    }

    /// Runs `f` on a host with the current time, then polls the host at once, so packets it
    /// queued leave at this instant.
    pub fn with_host<R>(&mut self, id: HostId, f: impl FnOnce(&mut H, Instant) -> R) -> R {
        let now = self.net.now;
        let r = f(&mut self.hosts[id.0 as usize].host, now);
        self.service(id);
        r
    }

    /// A host's name.
    pub fn host_name(&self, id: HostId) -> &str {
        &self.hosts[id.0 as usize].name
    }

    /// Whether a host is running (not crashed).
    pub fn host_is_up(&self, id: HostId) -> bool {
        self.hosts[id.0 as usize].up
    }

    // ----------------------------------------------------------------- scripted faults

    /// Whether a link is up.
    pub fn link_is_up(&self, link: LinkId) -> bool {
        self.net.links[link.0 as usize].up
    }

    /// Cuts (`false`) or restores (`true`) a link now, in both directions. Cutting it loses
    /// every packet queued on it or in flight; while it is down, packets sent on it are lost.
    pub fn set_link_up(&mut self, link: LinkId, up: bool) {
        let now = self.net.now;
        let l = &mut self.net.links[link.0 as usize];
        if l.up == up {
            return;
        }
        l.up = up;
        if !up {
            l.epoch += 1;
            for ch in &mut l.chans {
                ch.flush(now);
            }
        }
        let text = format!("{link} {}", if up { "up" } else { "down" });
        self.net.annotate(None, "sim", &text);
    }

    /// Crashes a host now: it stops running, its deadline is forgotten, and packets that
    /// reach it are dropped ([`DropReason::HostDown`]) until [`Sim::restart_host`].
    pub fn crash_host(&mut self, id: HostId) {
        let slot = &mut self.hosts[id.0 as usize];
        if !slot.up {
            return;
        }
        slot.up = false;
        slot.timer = None;
        slot.generation += 1;
        let text = format!("host {} crashed", slot.name);
        self.net.annotate(Some(id), "sim", &text);
    }

    /// Restarts a host now, losing its state ([`Host::restart`]); it also brings a crashed
    /// host back.
    pub fn restart_host(&mut self, id: HostId) {
        let now = self.net.now;
        let slot = &mut self.hosts[id.0 as usize];
        slot.host.restart(now);
        slot.up = true;
        slot.timer = None;
        slot.generation += 1;
        let text = format!("host {} restarted", slot.name);
        self.net.annotate(Some(id), "sim", &text);
        self.service(id);
    }

    /// Schedules [`Sim::set_link_up`] at `at`.
    pub fn schedule_link_state(&mut self, at: Instant, link: LinkId, up: bool) {
        self.net.push(at, EventKind::LinkState { link, up });
    }

    /// Schedules [`Sim::crash_host`] at `at`.
    pub fn schedule_crash(&mut self, at: Instant, host: HostId) {
        self.net.push(at, EventKind::Crash(host));
    }

    /// Schedules [`Sim::restart_host`] at `at`.
    pub fn schedule_restart(&mut self, at: Instant, host: HostId) {
        self.net.push(at, EventKind::Restart(host));
    }

    /// Schedules scenario code to run at `at` (or now, if `at` is in the past). Hosts it
    /// touches through [`Sim::host_mut`] are polled right after it returns.
    pub fn schedule(&mut self, at: Instant, action: impl FnOnce(&mut Sim<H>) + 'static) {
        self.net.push(at, EventKind::Action(Box::new(action)));
    }

    /// Adds an annotation from the scenario to every sink, stamped with the current time.
    pub fn annotate(&mut self, host: Option<HostId>, text: &str) {
        let name = match host {
            Some(h) => self.hosts[h.0 as usize].name.as_str(),
            None => "sim",
        };
        self.net.annotate(host, name, text);
    }

    // ---------------------------------------------------------------------- statistics

    /// The counters of one direction of a link.
    pub fn stats(&self, link: LinkId, dir: Direction) -> &ChannelStats {
        &self.net.links[link.0 as usize].chans[dir.index()].stats
    }

    /// The number of links.
    pub fn link_count(&self) -> usize {
        self.net.links.len()
    }

    // ------------------------------------------------------------------------- running

    /// The time of the next event, if any (hosts touched through [`Sim::host_mut`] are only
    /// polled when the simulation runs, so their new deadlines are not counted yet).
    pub fn next_event_time(&self) -> Option<Instant> {
        self.net.events.peek().map(|e| e.at)
    }

    /// True if nothing is scheduled and no host waits to be polled.
    pub fn is_idle(&self) -> bool {
        self.net.events.is_empty() && self.dirty.is_empty()
    }

    /// Processes the next event, jumping the clock to it. Returns its time, or `None` if
    /// nothing was scheduled (the clock does not move).
    pub fn step(&mut self) -> Option<Instant> {
        self.flush_dirty();
        let ev = self.net.events.pop()?;
        if ev.at > self.net.now {
            self.net.now = ev.at;
            self.net.events_at_now = 0;
        }
        self.net.events_at_now += 1;
        assert!(
            self.net.events_at_now <= self.net.max_events_at_now,
            "synack-sim: livelock: more than {} events at {} (a host keeps asking to be woken \
             in the past?)",
            self.net.max_events_at_now,
            self.net.now
        );
        self.net.stats.events += 1;
        let at = self.net.now;
        self.dispatch(ev.kind);
        self.flush_dirty();
        Some(at)
    }

    /// Processes every event up to and including `t`, then sets the clock to `t` (if it is
    /// not already later).
    pub fn run_until(&mut self, t: Instant) {
        self.flush_dirty();
        while self.net.events.peek().is_some_and(|e| e.at <= t) {
            self.step();
        }
        if t > self.net.now {
            self.net.now = t;
            self.net.events_at_now = 0;
        }
    }

    /// [`Sim::run_until`] `d` from now.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.net.now + d;
        self.run_until(t);
    }

    /// Runs until `pred` holds (checked before the first event and after each one) or the
    /// clock would pass `limit`. Returns `true` if `pred` held; the clock then stays at the
    /// event that made it true. Returns `false` at `limit`, with the clock set to `limit`.
    pub fn run_until_pred(
        &mut self,
        limit: Instant,
        mut pred: impl FnMut(&Sim<H>) -> bool,
    ) -> bool {
        self.flush_dirty();
        if pred(self) {
            return true;
        }
        while self.net.events.peek().is_some_and(|e| e.at <= limit) {
            self.step();
            if pred(self) {
                return true;
            }
        }
        if limit > self.net.now {
            self.net.now = limit;
            self.net.events_at_now = 0;
        }
        false
    }

    /// Runs until nothing is left to do or the clock would pass `limit`. Returns `true` if
    /// the network went idle (the clock stays at the last event), `false` at `limit`.
    pub fn run_until_idle(&mut self, limit: Instant) -> bool {
        self.run_until_pred(limit, |s| s.is_idle())
    }

    fn flush_dirty(&mut self) {
        // Only scenario code marks hosts dirty, never polling, so one pass empties the list.
        // A host polled since it was marked (by `with_host`) is skipped.
        for id in core::mem::take(&mut self.dirty) {
            if self.hosts[id.0 as usize].dirty {
                self.service(id);
            }
        }
    }

    fn dispatch(&mut self, kind: EventKind<H>) {
        match kind {
            EventKind::Deliver {
                link,
                dir,
                epoch,
                order,
                data,
            } => self.deliver(link, dir, epoch, order, data),
            EventKind::Timer { host, generation } => {
                let now = self.net.now;
                let slot = &mut self.hosts[host.0 as usize];
                if !slot.up || slot.generation != generation {
                    return; // superseded by a newer deadline, a crash or a restart
                }
                slot.timer = None;
                slot.host.handle_timeout(now);
                self.service(host);
            }
            EventKind::LinkState { link, up } => self.set_link_up(link, up),
            EventKind::Crash(h) => self.crash_host(h),
            EventKind::Restart(h) => self.restart_host(h),
            EventKind::Action(f) => f(self),
        }
    }

    fn deliver(&mut self, link: LinkId, dir: Direction, epoch: u64, order: u64, data: Vec<u8>) {
        let now = self.net.now;
        let Net {
            links, sinks, pool, ..
        } = &mut self.net;
        let l = &mut links[link.0 as usize];
        let (from, to, iface) = l.ends(dir);
        let link_ok = l.up && l.epoch == epoch;
        let ch = &mut l.chans[dir.index()];
        let reason = if !link_ok {
            Some(DropReason::LinkDown)
        } else if !self.hosts[to.0 as usize].up {
            Some(DropReason::HostDown)
        } else {
            None
        };
        if let Some(reason) = reason {
            ch.stats.dropped.add(reason);
            let ev = DropEvent {
                time: now,
                link,
                dir,
                from,
                to,
                reason,
                data: &data,
            };
            sinks.iter_mut().for_each(|s| s.dropped(&ev));
            recycle(pool, data);
            return;
        }
        ch.stats.delivered += 1;
        ch.stats.delivered_bytes += data.len() as u64;
        match ch.highest_delivered {
            Some(h) if order < h => ch.stats.reordered += 1,
            _ => ch.highest_delivered = Some(order),
        }
        let ev = PacketEvent {
            time: now,
            link,
            dir,
            point: PacketPoint::Delivered,
            from,
            to,
            data: &data,
        };
        sinks.iter_mut().for_each(|s| s.packet(&ev));
        self.hosts[to.0 as usize].host.receive(now, iface, &data);
        recycle(pool, data);
        self.service(to);
    }

    /// Polls a host after anything happened to it: its packets go onto links, its
    /// annotations to the sinks, and its deadline into the event queue.
    fn service(&mut self, id: HostId) {
        let Sim { hosts, net, .. } = self;
        let slot = &mut hosts[id.0 as usize];
        slot.dirty = false;
        if !slot.up {
            return;
        }
        let now = net.now;
        let (ifaces, name) = (&slot.ifaces, &slot.name);
        // Annotations made while handling the event come before the packets it caused;
        // those made while emitting (a state change on sending a FIN) come after them.
        slot.host
            .poll_annotations(&mut |text| net.annotate(Some(id), name, text));
        slot.host.poll_transmit(now, &mut |iface, data| {
            net.transmit(id, ifaces, iface, data);
        });
        slot.host
            .poll_annotations(&mut |text| net.annotate(Some(id), name, text));
        let deadline = slot.host.poll_timeout();
        if deadline != slot.timer {
            slot.generation += 1;
            slot.timer = deadline;
            if let Some(t) = deadline {
                let generation = slot.generation;
                net.push(
                    t,
                    EventKind::Timer {
                        host: id,
                        generation,
                    },
                );
            }
        }
    }
}

impl<H> Net<H> {
    /// Schedules an event (never in the past).
    fn push(&mut self, at: Instant, kind: EventKind<H>) {
        let at = at.max(self.now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push(Event { at, seq, kind });
    }

    fn annotate(&mut self, host: Option<HostId>, host_name: &str, text: &str) {
        let ev = AnnotationEvent {
            time: self.now,
            host,
            host_name,
            text,
        };
        self.sinks.iter_mut().for_each(|s| s.annotation(&ev));
    }

    fn drop_packet(&mut self, link: LinkId, dir: Direction, reason: DropReason, data: &[u8]) {
        let l = &mut self.links[link.0 as usize];
        let (from, to, _) = l.ends(dir);
        l.chans[dir.index()].stats.dropped.add(reason);
        let ev = DropEvent {
            time: self.now,
            link,
            dir,
            from,
            to,
            reason,
            data,
        };
        self.sinks.iter_mut().for_each(|s| s.dropped(&ev));
    }

    /// A host puts a packet on interface `iface`: the impairments before the queue.
    fn transmit(
        &mut self,
        from: HostId,
        ifaces: &[(LinkId, Direction)],
        iface: IfaceId,
        data: &[u8],
    ) {
        let Some(&(link, dir)) = ifaces.get(usize::from(iface.0)) else {
            self.stats.unroutable += 1;
            return;
        };
        let now = self.now;
        let l = &mut self.links[link.0 as usize];
        let (_, to, _) = l.ends(dir);
        let up = l.up;
        let ch = &mut l.chans[dir.index()];
        ch.stats.sent += 1;
        ch.stats.sent_bytes += data.len() as u64;
        let ev = PacketEvent {
            time: now,
            link,
            dir,
            point: PacketPoint::Sent,
            from,
            to,
            data,
        };
        self.sinks.iter_mut().for_each(|s| s.packet(&ev));

        let l = &mut self.links[link.0 as usize];
        let ch = &mut l.chans[dir.index()];
        let verdict = if !up {
            Some(DropReason::LinkDown)
        } else if ch.filters.iter_mut().any(|f| f(now, data)) {
            Some(DropReason::Filtered)
        } else if ch.cfg.mtu.is_some_and(|mtu| data.len() > mtu) {
            Some(DropReason::Mtu)
        } else {
            let random = ch.rng.chance(ch.cfg.loss);
            // Gilbert–Elliott: every packet that gets this far is lost or not by the current
            // state, then moves the chain (whether or not random loss took it too).
            let burst = match ch.cfg.burst_loss {
                None => false,
                Some(ge) => {
                    let lost = ch
                        .rng
                        .chance(if ch.ge_bad { ge.loss_bad } else { ge.loss_good });
                    if ch.ge_bad {
                        if ch.rng.chance(ge.r) {
                            ch.ge_bad = false;
                        }
                    } else if ch.rng.chance(ge.p) {
                        ch.ge_bad = true;
                    }
                    lost
                }
            };
            if random {
                Some(DropReason::Loss)
            } else if burst {
                Some(DropReason::BurstLoss)
            } else {
                None
            }
        };
        if let Some(reason) = verdict {
            self.drop_packet(link, dir, reason, data);
            return;
        }

        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        let ch = &mut self.links[link.0 as usize].chans[dir.index()];
        if !buf.is_empty() && ch.rng.chance(ch.cfg.corrupt) {
            let bits = (buf.len() as u64) * 8;
            for _ in 0..ch.cfg.corrupt_bits {
                let bit = ch.rng.below(bits);
                if let Some(b) = buf.get_mut((bit / 8) as usize) {
                    *b ^= 1 << (bit % 8);
                }
            }
            ch.stats.corrupted += 1;
        }
        let duplicate = if ch.rng.chance(ch.cfg.duplicate) {
            ch.stats.duplicated += 1;
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(&buf);
            Some(copy)
        } else {
            None
        };
        self.enqueue(link, dir, buf);
        if let Some(copy) = duplicate {
            self.enqueue(link, dir, copy);
        }
    }

    /// The queue, the wire and propagation: schedules the packet's arrival.
    fn enqueue(&mut self, link: LinkId, dir: Direction, mut buf: Vec<u8>) {
        let now = self.now;
        let l = &mut self.links[link.0 as usize];
        let epoch = l.epoch;
        let ch = &mut l.chans[dir.index()];
        let len = buf.len();
        let bandwidth = ch.cfg.bandwidth_bps.is_some();
        let mut start = now;
        if bandwidth {
            // Packets whose serialization has begun have left the queue for the wire.
            while let Some(&(begin, n)) = ch.waiting.front() {
                if begin > now {
                    break;
                }
                ch.waiting.pop_front();
                ch.waiting_bytes -= n;
            }
            start = now.max(ch.wire_free_at);
        }
        let must_wait = start > now;
        // Drop-tail: a packet that would have to wait is dropped if the queue is full.
        let full = must_wait
            && (ch
                .cfg
                .queue_packets
                .is_some_and(|max| ch.waiting.len() >= max)
                || ch
                    .cfg
                    .queue_bytes
                    .is_some_and(|max| ch.waiting_bytes.saturating_add(len) > max));
        if full {
            self.drop_packet(link, dir, DropReason::QueueFull, &buf);
            recycle(&mut self.pool, buf);
            return;
        }
        let ecn = ch
            .cfg
            .ecn
            .filter(|e| ch.waiting.len() >= e.threshold_packets);
        if let Some(e) = ecn {
            // RFC 3168 §5: signal congestion with CE on an ECN-capable packet; a Not-ECT
            // packet gets the signal the queue would give without ECN, a drop.
            if packet::mark_ce(&mut buf) {
                ch.stats.ecn_marked += 1;
            } else if e.not_ect == NotEctPolicy::Drop && !matches!(packet::ecn(&buf), Some(Ecn::Ce))
            {
                self.drop_packet(link, dir, DropReason::Aqm, &buf);
                recycle(&mut self.pool, buf);
                return;
            }
        }
        let ch = &mut self.links[link.0 as usize].chans[dir.index()];
        let finish = start + ch.cfg.serialization_time(len);
        if bandwidth {
            ch.wire_free_at = finish;
        }
        if must_wait {
            ch.waiting.push_back((start, len));
            ch.waiting_bytes += len;
            ch.stats.queue_high_water = ch.stats.queue_high_water.max(ch.waiting.len());
            ch.stats.queue_high_water_bytes = ch.stats.queue_high_water_bytes.max(ch.waiting_bytes);
        }

        let mut arrival = finish + ch.cfg.delay;
        if !ch.cfg.jitter.is_zero() {
            let max = u64::try_from(ch.cfg.jitter.as_nanos()).unwrap_or(u64::MAX);
            arrival += Duration::from_nanos(ch.rng.up_to(max));
        }
        if !ch.cfg.jitter_reorders {
            arrival = arrival.max(ch.last_arrival);
        }
        if ch.rng.chance(ch.cfg.reorder) {
            // Held back: later packets may overtake it; it does not hold them up.
            arrival += ch.cfg.reorder_delay;
            ch.stats.held_back += 1;
        } else {
            ch.last_arrival = ch.last_arrival.max(arrival);
        }
        let order = ch.next_order;
        ch.next_order += 1;
        self.push(
            arrival,
            EventKind::Deliver {
                link,
                dir,
                epoch,
                order,
                data: buf,
            },
        );
    }
}

fn recycle(pool: &mut Vec<Vec<u8>>, buf: Vec<u8>) {
    if pool.len() < POOL_LIMIT {
        pool.push(buf);
    }
}
