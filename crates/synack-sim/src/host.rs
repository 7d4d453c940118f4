//! The interface between the simulator and the hosts it runs.

use core::fmt;
use synack::Instant;

/// A host's network interface, numbered from 0 in the order links were attached to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfaceId(pub u16);

/// A host in a [`crate::Sim`], numbered from 0 in the order hosts were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub u32);

/// A link in a [`crate::Sim`], numbered from 0 in the order links were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u32);

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host{}", self.0)
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link{}", self.0)
    }
}

/// A sans-IO network host the simulator can drive: a synack `Stack`, or a toy for tests.
///
/// Packets are raw IP datagrams (links are point-to-point, with no link-layer header). The
/// simulator calls the host in this pattern, always with a non-decreasing `now`:
///
/// - [`Host::receive`] when a packet arrives on one of its interfaces;
/// - [`Host::handle_timeout`] when the deadline from [`Host::poll_timeout`] is reached;
/// - after each of those calls (and after scenario code touched the host, and after a
///   restart): [`Host::poll_annotations`], then [`Host::poll_transmit`], which must emit
///   every packet the host wants to send now, then [`Host::poll_annotations`] again, then
///   [`Host::poll_timeout`] to learn the next deadline.
///
/// A host must not rely on being called at any other time: between events, virtual time
/// jumps.
pub trait Host {
    /// A packet arrived on interface `iface` at time `now`.
    fn receive(&mut self, now: Instant, iface: IfaceId, packet: &[u8]);

    /// Emit every packet ready to be sent at `now`, each with the interface to send it on.
    /// The slice is copied before `emit` returns, so the host may reuse its buffer.
    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(IfaceId, &[u8]));

    /// The next instant at which the host wants [`Host::handle_timeout`], if any.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The deadline from [`Host::poll_timeout`] has been reached (`now` is at or after it).
    fn handle_timeout(&mut self, now: Instant);

    /// The host reboots at `now`: it must lose all of its state (connections, timers, queued
    /// packets), keeping only its configuration (addresses, settings), as if power-cycled.
    fn restart(&mut self, now: Instant);

    /// Report events worth interleaving with a packet trace (for example TCP state
    /// transitions: `"10.0.0.1.1234 > 10.0.0.2.80 SYN_SENT -> ESTABLISHED"`), each stamped
    /// with the current virtual time by the simulator. The default reports nothing.
    fn poll_annotations(&mut self, emit: &mut dyn FnMut(&str)) {
        let _ = emit;
    }
}

impl<T: Host + ?Sized> Host for Box<T> {
    fn receive(&mut self, now: Instant, iface: IfaceId, packet: &[u8]) {
        (**self).receive(now, iface, packet)
    }
    fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(IfaceId, &[u8])) {
        (**self).poll_transmit(now, emit)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now)
    }
    fn restart(&mut self, now: Instant) {
        (**self).restart(now)
    }
    fn poll_annotations(&mut self, emit: &mut dyn FnMut(&str)) {
        (**self).poll_annotations(emit)
    }
}
