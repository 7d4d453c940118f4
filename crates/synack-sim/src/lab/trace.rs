//! The lab's text trace: tcpdump lines for what one host's interface sees, with virtual
//! time stamps, interleaved with the hosts' annotations and short notes for lost packets.

use synack_wire::tcpdump::{LINKTYPE_RAW, Options, Printer, TimestampFormat};

use crate::capture::{AnnotationEvent, CaptureSink, DropEvent, PacketEvent, Tap};
use crate::lab::Seg;

/// A trace sink: `0.012000 IP a.1 > b.2: Flags [S.], ...` lines for packets `tap` sees,
/// `0.012000 client: ...` lines for annotations, and `0.012000 sim: dropped (reason): ...`
/// lines for packets the link lost.
pub struct LabTrace {
    tap: Tap,
    printer: Printer,
    lines: Vec<String>,
}

impl LabTrace {
    /// A trace of what `tap` sees, printed as `tcpdump -n` prints it.
    pub fn new(tap: Tap) -> LabTrace {
        LabTrace {
            tap,
            printer: Printer::new(Options {
                ts: TimestampFormat::None,
                ..Options::default()
            }),
            lines: Vec::new(),
        }
    }

    /// Takes the lines so far.
    pub fn take_lines(&mut self) -> Vec<String> {
        core::mem::take(&mut self.lines)
    }
}

impl CaptureSink for LabTrace {
    fn packet(&mut self, ev: &PacketEvent<'_>) {
        if !self.tap.matches(ev) {
            return;
        }
        let orig_len = u32::try_from(ev.data.len()).unwrap_or(u32::MAX);
        let text = self.printer.format(LINKTYPE_RAW, 0, 0, ev.data, orig_len);
        for (i, l) in text.trim_end_matches('\n').split('\n').enumerate() {
            if i == 0 {
                self.lines.push(format!("{} {l}", ev.time));
            } else {
                self.lines.push(format!("    {l}"));
            }
        }
    }

    fn dropped(&mut self, ev: &DropEvent<'_>) {
        if !self.tap.matches_drop(ev) {
            return;
        }
        let what = match Seg::parse(ev.time, ev.from, ev.data) {
            Some(s) => format!(
                "{}.{} > {}.{} Flags [{}], seq {}, length {}",
                s.src.ip(),
                s.src.port(),
                s.dst.ip(),
                s.dst.port(),
                s.flag_str(),
                s.seq,
                s.len
            ),
            None => format!("{} bytes", ev.data.len()),
        };
        self.lines.push(format!(
            "{} sim: lost on the link ({}): {what}",
            ev.time, ev.reason
        ));
    }

    fn annotation(&mut self, ev: &AnnotationEvent<'_>) {
        self.lines
            .push(format!("{} {}: {}", ev.time, ev.host_name, ev.text));
    }
}
