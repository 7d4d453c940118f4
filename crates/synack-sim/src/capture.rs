//! Watching a simulation: packet capture, drops, annotations, and text traces.
//!
//! Every packet is reported twice to each [`CaptureSink`]: when the sending host puts it on a
//! link ([`PacketPoint::Sent`], before any impairment) and when the link hands it to the
//! receiving host ([`PacketPoint::Delivered`], with any corruption or CE mark it picked up).
//! A [`Tap`] picks the packets one observer would see, e.g. tcpdump on one host's interface.

use std::cell::RefCell;
use std::rc::Rc;

use synack::Instant;

use crate::host::{HostId, LinkId};
use crate::stats::DropReason;

/// One direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the link's host A to its host B.
    AtoB,
    /// From the link's host B to its host A.
    BtoA,
}

impl Direction {
    /// Both directions, A to B first.
    pub const BOTH: [Direction; 2] = [Direction::AtoB, Direction::BtoA];

    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::AtoB => Direction::BtoA,
            Direction::BtoA => Direction::AtoB,
        }
    }

    /// The direction in which `end` sends.
    pub fn from_end(end: End) -> Direction {
        match end {
            End::A => Direction::AtoB,
            End::B => Direction::BtoA,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Direction::AtoB => 0,
            Direction::BtoA => 1,
        }
    }
}

/// One end of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    /// The first host given to `Sim::add_link`.
    A,
    /// The second host given to `Sim::add_link`.
    B,
}

/// Where on its way a packet was observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketPoint {
    /// Put on the link by the sending host (as the sender sent it).
    Sent,
    /// Taken off the link by the receiving host (as the receiver got it).
    Delivered,
}

/// A packet observed on a link.
#[derive(Clone, Copy, Debug)]
pub struct PacketEvent<'a> {
    /// Virtual time of the observation.
    pub time: Instant,
    /// The link.
    pub link: LinkId,
    /// The direction it travels.
    pub dir: Direction,
    /// Put on, or taken off, the link.
    pub point: PacketPoint,
    /// The sending host.
    pub from: HostId,
    /// The receiving host.
    pub to: HostId,
    /// The IP datagram.
    pub data: &'a [u8],
}

/// A packet the link lost, and why.
#[derive(Clone, Copy, Debug)]
pub struct DropEvent<'a> {
    /// Virtual time of the drop.
    pub time: Instant,
    /// The link.
    pub link: LinkId,
    /// The direction it was travelling.
    pub dir: Direction,
    /// The sending host.
    pub from: HostId,
    /// The host it was meant for.
    pub to: HostId,
    /// Why it was lost.
    pub reason: DropReason,
    /// The IP datagram, as it was when dropped.
    pub data: &'a [u8],
}

impl<'a> DropEvent<'a> {
    /// The dropped packet as a [`PacketPoint::Sent`] event at the time of the drop.
    pub fn as_sent(&self) -> PacketEvent<'a> {
        PacketEvent {
            time: self.time,
            link: self.link,
            dir: self.dir,
            point: PacketPoint::Sent,
            from: self.from,
            to: self.to,
            data: self.data,
        }
    }
}

/// A line of commentary to interleave with a trace: a host's state transition, or a scripted
/// fault ("link0 down", "host server restarted").
#[derive(Clone, Copy, Debug)]
pub struct AnnotationEvent<'a> {
    /// Virtual time.
    pub time: Instant,
    /// The host it is about, if any.
    pub host: Option<HostId>,
    /// That host's name (`"sim"` for the simulator's own annotations).
    pub host_name: &'a str,
    /// The text.
    pub text: &'a str,
}

/// An observer of a simulation. Register one with `Sim::add_sink`; to get it back after the
/// run, register an `Rc<RefCell<S>>` and keep a clone.
pub trait CaptureSink {
    /// A packet was put on or taken off a link.
    fn packet(&mut self, ev: &PacketEvent<'_>);

    /// A packet was lost on a link. The default ignores it.
    fn dropped(&mut self, ev: &DropEvent<'_>) {
        let _ = ev;
    }

    /// An annotation was made. The default ignores it.
    fn annotation(&mut self, ev: &AnnotationEvent<'_>) {
        let _ = ev;
    }
}

impl<S: CaptureSink + ?Sized> CaptureSink for Box<S> {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        (**self).packet(ev)
    }
    fn dropped(&mut self, ev: &DropEvent<'_>) {
        (**self).dropped(ev)
    }
    fn annotation(&mut self, ev: &AnnotationEvent<'_>) {
        (**self).annotation(ev)
    }
}

impl<S: CaptureSink + ?Sized> CaptureSink for Rc<RefCell<S>> {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        self.borrow_mut().packet(ev)
    }
    fn dropped(&mut self, ev: &DropEvent<'_>) {
        self.borrow_mut().dropped(ev)
    }
    fn annotation(&mut self, ev: &AnnotationEvent<'_>) {
        self.borrow_mut().annotation(ev)
    }
}

/// A sink made of a closure called for every packet event.
pub struct FnSink<F>(pub F);

impl<F: FnMut(&PacketEvent<'_>)> CaptureSink for FnSink<F> {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        (self.0)(ev)
    }
}

/// Which packet events one observer sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tap {
    /// Everything one host sends and receives, on all its interfaces (`tcpdump -i any` on
    /// that host).
    Host(HostId),
    /// One end of a link: what that end's host sends onto it and receives from it
    /// (`tcpdump -i IFACE` on that host).
    LinkEnd(LinkId, End),
    /// One direction of one link, observed at one point.
    Channel(LinkId, Direction, PacketPoint),
    /// Every event (each delivered packet appears twice: sent and delivered).
    All,
}

impl Tap {
    /// Whether this tap sees `ev`.
    pub fn matches(&self, ev: &PacketEvent<'_>) -> bool {
        match *self {
            Tap::Host(h) => match ev.point {
                PacketPoint::Sent => ev.from == h,
                PacketPoint::Delivered => ev.to == h,
            },
            Tap::LinkEnd(l, end) => {
                ev.link == l
                    && match ev.point {
                        PacketPoint::Sent => ev.dir == Direction::from_end(end),
                        PacketPoint::Delivered => ev.dir == Direction::from_end(end).reverse(),
                    }
            }
            Tap::Channel(l, d, p) => ev.link == l && ev.dir == d && ev.point == p,
            Tap::All => true,
        }
    }

    /// Whether a drop concerns this tap: the tap saw the packet being sent.
    pub fn matches_drop(&self, ev: &DropEvent<'_>) -> bool {
        self.matches(&ev.as_sent())
    }
}

/// Formats one packet for a text trace: everything after the time stamp. It gets the whole
/// event, so it can also show the direction or the hosts.
pub type PacketFormatter = Box<dyn FnMut(&PacketEvent<'_>) -> String>;

/// The default time stamp of a trace line: seconds since the start of the simulation with
/// microsecond precision, as `tcpdump -tt` prints a capture that starts at the epoch
/// (`12.000345`).
pub fn format_time(t: Instant) -> String {
    t.to_string()
}

/// A text trace: one line per packet seen by a [`Tap`], stamped with virtual time, with
/// drops and annotations interleaved in time order.
///
/// ```text
/// 0.000000 IP 10.0.0.1.40000 > 10.0.0.2.80: tcp [S] length 60
/// 0.000000 sim: link0 down
/// 0.010000 client: SYN_SENT -> ESTABLISHED
/// 0.020000 IP 10.0.0.1.40000 > 10.0.0.2.80: tcp [.] length 40 [dropped: loss]
/// ```
///
/// The packet text comes from a pluggable formatter (by default
/// [`crate::packet::summary`]); the tcpdump-identical formatter of `synack-wire` plugs in
/// with [`TextTrace::with_formatter`]. The time stamp comes from [`TextTrace::time_format`].
pub struct TextTrace {
    tap: Tap,
    format: PacketFormatter,
    /// How time stamps are written (default [`format_time`]).
    pub time_format: fn(Instant) -> String,
    /// Whether to include a line for each packet the link dropped (default true).
    pub show_drops: bool,
    /// Whether to include annotations (default true).
    pub show_annotations: bool,
    lines: Vec<String>,
}

impl TextTrace {
    /// A trace of what `tap` sees, formatted by [`crate::packet::summary`].
    pub fn new(tap: Tap) -> TextTrace {
        TextTrace::with_formatter(
            tap,
            Box::new(|ev: &PacketEvent<'_>| crate::packet::summary(ev.data)),
        )
    }

    /// A trace of what `tap` sees, each packet formatted by `format`.
    pub fn with_formatter(tap: Tap, format: PacketFormatter) -> TextTrace {
        TextTrace {
            tap,
            format,
            time_format: format_time,
            show_drops: true,
            show_annotations: true,
            lines: Vec::new(),
        }
    }

    /// A trace of what `tap` sees, each packet printed as tcpdump 4.99 prints it with
    /// `opts` (by `synack_wire::tcpdump::Printer`, which keeps tcpdump's per-connection state
    /// for relative sequence numbers). The time stamp is the trace's own
    /// ([`TextTrace::time_format`]), so `opts.ts` is ignored. With `-v` a packet may take
    /// more than one line; the trace keeps them together as one entry.
    pub fn tcpdump(tap: Tap, opts: synack_wire::tcpdump::Options) -> TextTrace {
        let mut printer = synack_wire::tcpdump::Printer::new(synack_wire::tcpdump::Options {
            ts: synack_wire::tcpdump::TimestampFormat::None,
            ..opts
        });
        TextTrace::with_formatter(
            tap,
            Box::new(move |ev: &PacketEvent<'_>| {
                let orig_len = u32::try_from(ev.data.len()).unwrap_or(u32::MAX);
                let mut line =
                    printer.format(synack_wire::tcpdump::LINKTYPE_RAW, 0, 0, ev.data, orig_len);
                while line.ends_with('\n') {
                    line.pop();
                }
                line
            }),
        )
    }

    /// The lines so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Takes the lines so far, leaving the trace empty.
    pub fn take_lines(&mut self) -> Vec<String> {
        core::mem::take(&mut self.lines)
    }

    /// The whole trace, one line per entry, each ending in a newline.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

impl CaptureSink for TextTrace {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        if self.tap.matches(ev) {
            let body = (self.format)(ev);
            self.lines
                .push(format!("{} {}", (self.time_format)(ev.time), body));
        }
    }

    fn dropped(&mut self, ev: &DropEvent<'_>) {
        if self.show_drops && self.tap.matches_drop(ev) {
            let body = (self.format)(&ev.as_sent());
            self.lines.push(format!(
                "{} {} [dropped: {}]",
                (self.time_format)(ev.time),
                body,
                ev.reason
            ));
        }
    }

    fn annotation(&mut self, ev: &AnnotationEvent<'_>) {
        if self.show_annotations {
            self.lines.push(format!(
                "{} {}: {}",
                (self.time_format)(ev.time),
                ev.host_name,
                ev.text
            ));
        }
    }
}
