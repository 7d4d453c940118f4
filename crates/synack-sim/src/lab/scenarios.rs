//! The scenarios: one per experiment in the notes, each with the checks that say whether
//! the run behaved as the notes describe.
//!
//! Every scenario runs a `client` (192.168.1.108) and a `server` (192.168.1.109) on a link
//! with 1 ms one-way delay unless said otherwise; the trace is what tcpdump on the client
//! would print, unless the experiment was observed on the server.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack::stack::{Linger, SockOpt};
use synack::{Duration, Instant};

use super::bbr;
use super::recovery;
use super::{Act, CLIENT_ADDR, Checks, Lab, Outcome, Peer, SERVER_ADDR, Scenario, Seg, sa};
use crate::capture::Direction;
use crate::config::{ChannelConfig, LinkConfig};
use crate::packet;
use crate::stack_host::AppCtx;

/// Every scenario, in the order of the notes.
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "handshake",
        title: "three-way handshake (telnet to port 80)",
        explain: "The client's SYN carries its ISN and options (mss 1460, sackOK, TS, wscale 7);
            the server answers SYN-ACK with its own ISN and ack = client ISN + 1; the client's
            ACK completes the handshake. tcpdump shows relative sequence numbers after the
            SYNs (ack 1). Both ends go to ESTABLISHED: the client on the SYN-ACK, the server
            on the final ACK.",
        tour: true,
        build: build_handshake,
        check: check_handshake,
    },
    Scenario {
        name: "close",
        title: "four-way close: FIN, ACK, FIN, ACK (server closes 1 s after EOF)",
        explain: "The client closes first (active close): FIN_WAIT_1, then FIN_WAIT_2 when its FIN
            is acknowledged. The server's TCP ACKs the FIN at once (CLOSE_WAIT) and its
            application closes a second later: FIN, LAST_ACK. The client ACKs that FIN and
            waits in TIME_WAIT for 2 MSL (60 s on Linux) before CLOSED.",
        tour: true,
        build: build_close,
        check: check_close,
    },
    Scenario {
        name: "close-piggyback",
        title: "three-segment close: the server closes at once, its FIN carries the ACK",
        explain: "When the server's application closes as soon as it reads end-of-stream, the ACK
            of the client's FIN and the server's own FIN leave in one segment (F.): the
            four-way close takes three segments, as in most real traces.",
        tour: false,
        build: build_close_piggyback,
        check: check_close_piggyback,
    },
    Scenario {
        name: "half-close",
        title: "half-close: shutdown(SHUT_WR), then the server still sends",
        explain: "The client sends a request and shuts down its sending direction: its FIN goes
            out and it sits in FIN_WAIT_2. The connection is half-closed: the server
            (CLOSE_WAIT) keeps sending its reply, which the client still reads, and only
            then closes.",
        tour: true,
        build: build_half_close,
        check: check_half_close,
    },
    Scenario {
        name: "rst-closed-port",
        title: "RST from a closed port (telnet to port 54321)",
        explain: "Nothing listens on 54321, so the server's TCP answers the SYN with a reset:
            flags [R.], seq 0, ack = the SYN's seq + 1, win 0 (RFC 9293 §3.10.7.1). The
            client's connect() fails with ECONNREFUSED.",
        tour: true,
        build: build_rst_closed_port,
        check: check_rst_closed_port,
    },
    Scenario {
        name: "connect-timeout",
        title: "connect timeout: every SYN dropped (iptables --syn -j DROP), syn_retries 5",
        explain: "A filter drops every SYN the client sends, like the notes' iptables rule. The
            client retransmits the SYN with the same sequence number, doubling the timeout
            each time (RFC 6298 §5.5): 0, 1, 3, 7, 15, 31 s, then gives up 32 s after the
            last one: connect() fails with ETIMEDOUT at 63 s.",
        tour: true,
        build: build_connect_timeout,
        check: check_connect_timeout,
    },
    Scenario {
        name: "synack-retries",
        title: "SYN-ACK retries to a client that vanished (tcp_synack_retries 5)",
        explain: "The client crashes right after sending its SYN. The server (this trace is its
            tcpdump) answers SYN-ACK and retransmits it after 1, 2, 4, 8 and 16 s (each
            copy is lost: the host is down), then drops the half-open connection.",
        tour: true,
        build: build_synack_retries,
        check: check_synack_retries,
    },
    Scenario {
        name: "time-wait-reuseaddr",
        title: "TIME_WAIT holds the port: bind fails with EADDRINUSE, SO_REUSEADDR allows it",
        explain: "The client (like `nc -p 12345`) closes first and its connection stays in
            TIME_WAIT. Binding a new socket to port 12345 fails with EADDRINUSE; with
            SO_REUSEADDR set, bind succeeds, and the new socket connects (to the server's
            port 8080: the old 4-tuple itself stays reserved until TIME_WAIT ends).",
        tour: true,
        build: build_time_wait,
        check: check_time_wait_reuse,
    },
    Scenario {
        name: "linger-abort",
        title: "abortive close with SO_LINGER 0: RST instead of FIN",
        explain: "With SO_LINGER {on, 0}, close() aborts the connection (RFC 9293 §3.10.5): the
            client sends a reset instead of a FIN and keeps no TIME_WAIT. The server's next
            read fails with ECONNRESET.",
        tour: true,
        build: build_linger_abort,
        check: check_linger_abort,
    },
    Scenario {
        name: "half-open",
        title: "half-open connection: the server restarts, the client's data draws a RST",
        explain: "After the server reboots it knows nothing of the connection; the client still
            thinks it is ESTABLISHED (half-open). When the client writes 3 bytes, the server
            answers with a reset whose seq is the segment's ack, no ACK flag (RFC 9293
            §3.10.7.1), and the client's connection dies with ECONNRESET.",
        tour: true,
        build: build_half_open,
        check: check_half_open,
    },
    Scenario {
        name: "simultaneous-open",
        title: "simultaneous open: both ends connect, the SYNs cross",
        explain: "Each end sends a SYN from a fixed port to the other's. Each SYN arrives in
            SYN_SENT, so each end goes to SYN_RCVD and answers SYN-ACK (RFC 9293 §3.5,
            figure 8); each SYN-ACK completes the other end's open: four segments, both
            ESTABLISHED, with no listener at all.",
        tour: true,
        build: build_simultaneous_open,
        check: check_simultaneous_open,
    },
    Scenario {
        name: "simultaneous-close",
        title: "simultaneous close: both FINs cross, CLOSING on both ends",
        explain: "Both applications close at the same moment. Each FIN arrives in FIN_WAIT_1, so
            both ends go to CLOSING, then to TIME_WAIT when their own FIN is acknowledged
            (RFC 9293 §3.6, figure 13); both wait 2 MSL.",
        tour: true,
        build: build_simultaneous_close,
        check: check_simultaneous_close,
    },
    Scenario {
        name: "interactive",
        title: "interactive data: telnet `ls`, piggybacked echoes, Nagle, delayed ACK",
        explain: "Each keystroke is one 1-byte segment; the server's echo carries the ACK of it
            (piggybacking), so the server never sends a bare ACK. The client ACKs each
            echo: at once during the first 16 segments (Linux's quick-ACK start), then
            delayed by 40 ms or more (delayed ACK, RFC 1122 §4.2.3.2). The prompt, written
            just after the 173-byte listing, waits for the ACK of it (Nagle): the notes'
            eleven segments for `ls`.",
        tour: true,
        build: build_interactive,
        check: check_interactive,
    },
    Scenario {
        name: "nagle-wan",
        title: "Nagle on a 200 ms WAN: 40 keystrokes in a dozen segments",
        explain:
            "The client types a character every 50 ms over a link with 100 ms each way. The first
            one leaves at once; after that Nagle's algorithm (RFC 896, RFC 1122 §4.2.3.4)
            holds small data while any is unacknowledged, so each ACK releases everything
            typed meanwhile: about four characters per segment, one segment per round trip.",
        tour: true,
        build: build_nagle_wan,
        check: check_nagle_wan,
    },
    Scenario {
        name: "nagle-wan-long",
        title: "Nagle on a 200 ms WAN, 120 keystrokes: delayed ACKs meet the retransmission timer",
        explain: "Like nagle-wan, but typing lasts long enough for the server to leave quick-ACK
            mode: its ACKs are then delayed 40 ms or more. The retransmission timer must not
            fire before a delayed ACK arrives: Linux's RTO is SRTT + max(4·RTTVAR, 200 ms),
            well above RTT + delayed ACK, so nothing is retransmitted on this loss-free
            link (RFC 6298 allows a floor; RFC 1122 §4.2.3.2 bounds the ACK delay).",
        tour: false,
        build: build_nagle_wan_long,
        check: check_nagle_wan_long,
    },
    Scenario {
        name: "bulk",
        title: "bulk transfer with window scaling: 1 MiB at 100 Mbit/s, 20 ms RTT",
        explain: "Both SYNs carry wscale 7, so the 16-bit window field counts 128-byte units (RFC
            7323 §2): `win 1024` means 128 KiB. The bandwidth-delay product (250 KB) is
            larger than 64 KiB, so without scaling the sender would stall; with it, more
            than 64 KiB is in flight and the sender stays within the offered window. The
            receiver checks every byte.",
        tour: false,
        build: build_bulk,
        check: check_bulk,
    },
    Scenario {
        name: "zero-window",
        title: "zero window and persist probes: the receiver stops reading for 5 s",
        explain: "The server's application does not read and its 16 KiB buffer fills: it advertises
            win 0. The client then sends only window probes (zero-length segments, RFC 9293
            §3.8.6.1), backing off 0.4, 0.8, 1.6 s; each draws win 0 again. When the
            application reads at 5 s, a window update reopens the window and the transfer
            completes.",
        tour: true,
        build: build_zero_window,
        check: check_zero_window,
    },
    Scenario {
        name: "fast-retransmit",
        title: "fast retransmit: one segment lost in a 256 KiB transfer (SACK off)",
        explain: "The link loses the 30th data segment; SACK is off (tcp_sack=0), as in the notes.
            Every later segment makes the receiver repeat its ACK for the missing byte
            (duplicate ACKs); on the third duplicate the sender retransmits the segment at
            once (RFC 5681 §3.2) instead of waiting for the retransmission timeout, and
            recovers with NewReno (RFC 6582). The transfer completes byte-exact. With SACK
            on, see sack-recovery.",
        tour: true,
        build: recovery::build_fast_retransmit,
        check: recovery::check_fast_retransmit,
    },
    Scenario {
        name: "sack-recovery",
        title: "SACK recovery: three segments lost in one window (RFC 6675)",
        explain:
            "The link loses the 30th, 32nd and 34th data segments; SACK is on (the default). The
            duplicate ACKs carry SACK blocks (RFC 2018) for what arrived past the holes:
            purple on the --svg graph. The sender keeps a scoreboard: the first hole counts
            as lost once more than two segments above it are SACKed (RFC 6675 IsLost,
            DupThresh 3), and recovery starts on that ACK. The holes are retransmitted in
            order, each once, and nothing SACKed is sent again; PRR (RFC 6937) paces the
            rest.",
        tour: true,
        build: recovery::build_sack_recovery,
        check: recovery::check_sack_recovery,
    },
    Scenario {
        name: "congestion",
        title: "congestion control (Reno) on a 10 Mbit/s bottleneck: cwnd over time",
        explain:
            "The client sends 4 MiB through a 10 Mbit/s link with a 50-packet queue, 40 ms round
            trip, with tcp_congestion_control=reno, and logs TCP_INFO's cwnd/ssthresh when
            they change. Slow start from 10 segments (RFC 6928) doubles cwnd each round trip
            until the queue overflows; on the loss ssthresh = FlightSize / 2 (RFC 5681 §3.2);
            SACK recovery with PRR (RFC 6937) brings cwnd down to ssthresh; then congestion
            avoidance adds one segment per window of ACKed data: the sawtooth. --svg draws
            cwnd under the time-sequence graph.",
        tour: true,
        build: recovery::build_congestion,
        check: recovery::check_congestion,
    },
    Scenario {
        name: "congestion-cubic",
        title: "congestion control (CUBIC, the default) on the same bottleneck",
        explain:
            "The congestion scenario with CUBIC (RFC 9438) and HyStart++ (RFC 9406). On each loss
            ssthresh = 0.7 · cwnd (β_cubic, §4.6) instead of Reno's half; after recovery the
            window grows along the cubic curve, slowly near the old maximum, then faster.",
        tour: false,
        build: recovery::build_congestion_cubic,
        check: recovery::check_congestion_cubic,
    },
    Scenario {
        name: "bbr",
        title: "BBR v1 with pacing on a 5 Mbit/s bottleneck: every mode in 12 s",
        explain:
            "The client sends 7 MiB through a 5 Mbit/s link (40 ms round trip, a 60-packet queue)
            with tcp_congestion_control=bbr and logs TCP_INFO's cwnd and, from TCP_CC_INFO,
            BBR's mode, gains, bottleneck-bandwidth estimate and pacing rate. STARTUP paces at
            2.89 x the measured delivery rate until three rounds add less than 25%; DRAIN
            (gain 0.35) empties the queue it built; PROBE_BW cycles the pacing gain 1.25, 0.75,
            1, 1, 1, 1, 1, 1, one RTprop each; after 10 s without a lower RTT sample PROBE_RTT
            holds cwnd at 4 segments for 200 ms. Segments leave paced (len / pacing rate
            apart), not in ACK-clocked bursts. --svg draws cwnd under the graph.",
        tour: false,
        build: bbr::build_bbr,
        check: bbr::check_bbr,
    },
    Scenario {
        name: "rto-backoff",
        title: "retransmission timeout with backoff: the link is cut under a request",
        explain:
            "SACK and tail loss probes are off. The link goes down at 0.4 s; at 0.5 s the client
            writes a 4000-byte request, lost. With no ACK coming back, the retransmission
            timer fires after 202 ms: on this 2 ms path the RTO is SRTT + the 200 ms floor
            (RTO_min; Linux's rule, RFC 6298 §2.4 allows a floor). Each timeout doubles the
            RTO and restarts the timer (§5.5-5.6): retransmissions at 0.702, 1.106, 1.914,
            3.530 s. Only the first segment goes each time: after a timeout cwnd is one
            segment (RFC 5681 §3.1). The link is back at 5 s; the retransmission at 6.762 s
            gets through and the rest follows in slow start.",
        tour: true,
        build: recovery::build_rto_backoff,
        check: recovery::check_rto_backoff,
    },
    Scenario {
        name: "tail-loss-probe",
        title: "tail loss probe: the last three segments of a request are lost (RFC 8985)",
        explain: "The client sends ten segments; the link loses the last three, so no duplicate ACK
            can come. Instead of waiting for the retransmission timeout, the sender sends a
            loss probe 2·SRTT (80 ms) after its last transmission: the last segment again
            (RFC 8985 §7). Its ACK SACKs it, RACK marks the two older segments lost, and they
            are retransmitted at once: recovered in about two round trips, no RTO.",
        tour: true,
        build: recovery::build_tail_loss_probe,
        check: recovery::check_tail_loss_probe,
    },
    Scenario {
        name: "ecn",
        title: "ECN: the bottleneck marks CE instead of dropping (RFC 3168)",
        explain: "Both ends negotiate ECN (the SYN carries ECE and CWR, the SYN-ACK ECE; the notes'
            ECE/CWR flags). Data goes out ECT(0). When the bottleneck's queue holds 20
            packets it marks arriving packets CE instead of dropping them. The receiver
            echoes ECE on its ACKs until it sees CWR; the sender reduces cwnd as for a loss
            (CUBIC: ssthresh = 0.7 · cwnd), at most once per window, and sets CWR on its next
            segment. No packet is lost, nothing is retransmitted. This trace is the
            server's: ECE shows as [.E], CWR as [.W]; the CE marks are in its pcap
            (`tcpdump -v -r` prints `tos 0x3`).",
        tour: false,
        build: recovery::build_ecn,
        check: recovery::check_ecn,
    },
    Scenario {
        name: "syn-flood",
        title: "SYN flood: spoofed SYNs fill the SYN queue, SYN cookies keep the server open",
        explain:
            "An attacker sends 64 SYNs from spoofed addresses. The first 16 fill the listener's SYN
            queue (somaxconn 16; their SYN-ACKs are retransmitted in vain); after that the
            server answers with SYN cookies (RFC 4987 §3.6) and keeps no state. A real
            client connecting during the flood gets a cookie SYN-ACK, its ACK returns the
            cookie, and the connection works. This trace is the server's.",
        tour: false,
        build: build_syn_flood,
        check: check_syn_flood,
    },
    Scenario {
        name: "urgent",
        title: "urgent data: send(MSG_OOB), the URG flag and the urgent pointer",
        explain:
            "The client writes \"ab\" and then \"c\" with MSG_OOB. The segment carrying them has
            the URG flag, and the urgent pointer (`urg 3`) marks where the urgent data ends
            (RFC 9293 §3.8.5; BSD and Linux point one past the urgent byte). The server's
            poll() reports POLLPRI; recv(MSG_OOB) returns the urgent byte \"c\", and the
            normal stream holds \"ab\" (without SO_OOBINLINE the byte leaves the stream).",
        tour: true,
        build: build_urgent,
        check: check_urgent,
    },
    Scenario {
        name: "random",
        title: "random link impairments and application behaviour, chosen by --seed",
        explain: "The seed picks each direction's delay, jitter, rate, queue, loss (up to 30%),
            reordering, duplication and corruption, and what the applications do: a
            half-closed exchange of up to 64 KiB and 16 KiB, or an abort. Whatever happens,
            no byte may arrive wrong, the run must end, and a connection may only fail
            with the error its situation calls for (ETIMEDOUT or ECONNRESET on a lossy
            link, ECONNRESET after an abort). The property test runs 10,000 seeds.",
        tour: false,
        build: build_random,
        check: check_random,
    },
];

/// Scenarios written and runnable (`synack lab run NAME`) but not listed: the engine does
/// not behave as the notes describe yet, so they fail their checks. Each explanation says
/// what is missing. Empty now: every scenario passes.
pub static PENDING: &[Scenario] = &[];

// ------------------------------------------------------------------------------- helpers

pub(super) const MS: fn(u64) -> Duration = Duration::from_millis;

/// Seconds since time zero, to the microsecond.
pub(super) fn secs(t: Instant) -> f64 {
    t.as_micros() as f64 / 1e6
}

/// Seconds from `a` to `b`, to the microsecond (negative if `b` is earlier).
pub(super) fn gap(a: Instant, b: Instant) -> f64 {
    (b.as_micros() as f64 - a.as_micros() as f64) / 1e6
}

/// Interval checks on times, to the microsecond.
pub(super) fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

pub(super) fn any4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
}

fn flags(segs: &[&Seg]) -> Vec<String> {
    segs.iter().map(|s| s.flag_str()).collect()
}

/// The segments after the three of the handshake.
fn after_handshake<'a>(segs: &[&'a Seg]) -> Vec<&'a Seg> {
    segs.iter().skip(3).copied().collect()
}

fn all(out: &Outcome) -> Vec<&Seg> {
    out.segs.iter().collect()
}

fn check_states(c: &mut Checks, out: &Outcome, host: &str, expected: &[&str]) {
    let got = out.states(host);
    c.eq(
        &format!("{host} states"),
        got,
        expected.iter().map(|s| s.to_string()).collect(),
    );
}

/// A note of `host` containing `text` exists.
pub(super) fn check_note(c: &mut Checks, out: &Outcome, host: &str, text: &str) -> Option<Instant> {
    let n = out.note(host, text);
    c.check(
        n.is_some(),
        match n {
            Some(n) => format!("{host}: `{}` at {}", n.text, n.time),
            None => format!("{host}: expected a line containing `{text}`, found none"),
        },
    );
    n.map(|n| n.time)
}

/// Data segments that start below the highest sequence number already sent.
pub(super) fn retransmissions(data: &[&Seg]) -> usize {
    let mut high: Option<u32> = None;
    let mut n = 0;
    for s in data {
        let end = s.seq.wrapping_add(s.len);
        match high {
            Some(h) if (s.seq.wrapping_sub(h) as i32) < 0 => n += 1,
            _ => {}
        }
        high = Some(match high {
            Some(h) if (end.wrapping_sub(h) as i32) <= 0 => h,
            _ => end,
        });
    }
    n
}

/// The largest amount of data `sender` had sent and not yet seen acknowledged, counting
/// only ACKs the receiver had sent by then (an upper bound on what the sender knew).
fn max_flight(out: &Outcome, sender: &str, receiver: &str) -> u64 {
    flight_series(out, sender, receiver, Duration::ZERO)
        .iter()
        .map(|(_, f)| *f)
        .max()
        .unwrap_or(0)
}

/// (time, bytes in flight) at each data segment `sender` sends, with the receiver's ACKs
/// taking effect `ack_delay` after it sent them (the reverse path's one-way delay).
fn flight_series(
    out: &Outcome,
    sender: &str,
    receiver: &str,
    ack_delay: Duration,
) -> Vec<(Instant, u64)> {
    let data: Vec<&Seg> = out
        .sent_by(sender)
        .into_iter()
        .filter(|s| s.len > 0)
        .collect();
    let acks: Vec<&Seg> = out
        .sent_by(receiver)
        .into_iter()
        .filter(|s| s.flags.ack())
        .collect();
    let mut series = Vec::new();
    let mut high: Option<u32> = None;
    let mut acked: Option<u32> = None;
    let mut next_ack = 0;
    for s in data {
        while let Some(a) = acks.get(next_ack) {
            if a.time + ack_delay > s.time {
                break;
            }
            acked = Some(match acked {
                Some(k) if (a.ack.wrapping_sub(k) as i32) <= 0 => k,
                _ => a.ack,
            });
            next_ack += 1;
        }
        let end = s.seq.wrapping_add(s.len);
        high = Some(match high {
            Some(h) if (end.wrapping_sub(h) as i32) <= 0 => h,
            _ => end,
        });
        let base = acked.unwrap_or(s.seq);
        let f = high.map_or(0, |h| h.wrapping_sub(base) as i32).max(0);
        series.push((s.time, f as u64));
    }
    series
}

/// No data segment of `sender` goes beyond the right edge of any window the receiver had
/// advertised by then (RFC 9293 §3.8.6: the sender must not exceed the offered window).
fn check_window_respected(c: &mut Checks, out: &Outcome, sender: &str, receiver: &str, shift: u32) {
    let acks: Vec<&Seg> = out
        .sent_by(receiver)
        .into_iter()
        .filter(|s| s.flags.ack() && !s.flags.syn())
        .collect();
    let mut edge: Option<u32> = None;
    let mut next = 0;
    let mut bad = None;
    for s in out.sent_by(sender).into_iter().filter(|s| s.len > 1) {
        while let Some(a) = acks.get(next) {
            if a.time > s.time {
                break;
            }
            let e = a.ack.wrapping_add(u32::from(a.win) << shift);
            edge = Some(match edge {
                Some(x) if (e.wrapping_sub(x) as i32) <= 0 => x,
                _ => e,
            });
            next += 1;
        }
        if let Some(e) = edge
            && (s.seq.wrapping_add(s.len).wrapping_sub(e) as i32) > 0
        {
            bad = Some(format!(
                "segment {}:{} at {} beyond edge {e}",
                s.seq,
                s.seq.wrapping_add(s.len),
                s.time
            ));
            break;
        }
    }
    c.check(
        bad.is_none(),
        format!(
            "the sender stays inside the advertised window{}",
            bad.map(|b| format!(": {b}")).unwrap_or_default()
        ),
    );
}

pub(super) fn check_handshake_segs(c: &mut Checks, segs: &[&Seg]) {
    let hs: Vec<&Seg> = segs.iter().take(3).copied().collect();
    c.eq(
        "handshake flags",
        flags(&hs),
        vec!["S".into(), "S.".into(), ".".into()],
    );
    if let [syn, synack, ack] = hs[..] {
        c.eq(
            "SYN-ACK acknowledges ISN + 1",
            synack.ack,
            syn.seq.wrapping_add(1),
        );
        c.eq(
            "final ACK acknowledges server ISN + 1",
            ack.ack,
            synack.seq.wrapping_add(1),
        );
        c.eq(
            "final ACK's seq is client ISN + 1",
            ack.seq,
            syn.seq.wrapping_add(1),
        );
    }
}

// ----------------------------------------------------------------------------- handshake

fn build_handshake(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(80)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)),
    );
    lab.limit = Instant::from_secs(10);
    Ok(())
}

fn check_handshake(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    c.eq("segments on the wire", segs.len(), 3);
    check_handshake_segs(c, &segs);
    if let Some(syn) = segs.first() {
        c.eq("SYN options: mss", syn.mss, Some(1460));
        c.eq("SYN options: wscale", syn.wscale, Some(7));
    }
    check_states(c, out, "client", &["CLOSED", "SYN_SENT", "ESTABLISHED"]);
    let server: Vec<String> = out
        .transitions("server")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    c.check(
        server.iter().any(|t| t.ends_with("-> SYN_RCVD"))
            && server.iter().any(|t| t == "SYN_RCVD -> ESTABLISHED"),
        format!("server passes SYN_RCVD to ESTABLISHED: {server:?}"),
    );
    check_note(c, out, "client", "connect(3, 192.168.1.109:80) = 0");
    check_note(c, out, "server", "accept(3) = 4");
}

// --------------------------------------------------------------------------------- close

fn build_close_with(lab: &mut Lab, server_delay: Duration) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80)).on_eof(server_delay, Act::Close),
    );
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)).at(Duration::from_secs(1), Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn build_close(lab: &mut Lab) -> Result<(), String> {
    build_close_with(lab, Duration::from_secs(1))
}

fn build_close_piggyback(lab: &mut Lab) -> Result<(), String> {
    build_close_with(lab, Duration::ZERO)
}

fn check_time_wait(c: &mut Checks, out: &Outcome, host: &str) {
    let tr = out.transitions(host);
    let enter = tr
        .iter()
        .find(|(_, t)| t.ends_with("-> TIME_WAIT"))
        .map(|(t, _)| *t);
    let leave = tr
        .iter()
        .find(|(_, t)| t == "TIME_WAIT -> CLOSED")
        .map(|(t, _)| *t);
    match (enter, leave) {
        (Some(a), Some(b)) => {
            c.eq(
                &format!("{host}: TIME_WAIT lasts 2 MSL (s)"),
                gap(a, b),
                60.0,
            );
        }
        _ => {
            c.check(false, format!("{host}: TIME_WAIT entered and left: {tr:?}"));
        }
    }
}

fn check_close(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    check_handshake_segs(c, &segs);
    let rest = after_handshake(&segs);
    c.eq(
        "teardown flags",
        flags(&rest),
        vec!["F.".into(), ".".into(), "F.".into(), ".".into()],
    );
    if let [fin1, ack1, fin2, ack2] = rest[..] {
        c.eq(
            "client sends the first FIN",
            fin1.src.ip(),
            IpAddr::V4(CLIENT_ADDR),
        );
        c.eq(
            "server ACKs the FIN (seq + 1)",
            ack1.ack,
            fin1.seq.wrapping_add(1),
        );
        c.eq(
            "server's FIN is 1 s later (s)",
            gap(ack1.time, fin2.time),
            1.0,
        );
        c.eq(
            "client ACKs the server's FIN",
            ack2.ack,
            fin2.seq.wrapping_add(1),
        );
    }
    check_states(
        c,
        out,
        "client",
        &[
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED",
        ],
    );
    let server = out.states("server");
    c.check(
        server.ends_with(&[
            "ESTABLISHED".to_string(),
            "CLOSE_WAIT".to_string(),
            "LAST_ACK".to_string(),
            "CLOSED".to_string(),
        ]),
        format!("server: ESTABLISHED, CLOSE_WAIT, LAST_ACK, CLOSED: {server:?}"),
    );
    check_time_wait(c, out, "client");
}

fn check_close_piggyback(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    check_handshake_segs(c, &segs);
    let rest = after_handshake(&segs);
    c.eq(
        "teardown flags",
        flags(&rest),
        vec!["F.".into(), "F.".into(), ".".into()],
    );
    if let [fin1, fin2, _] = rest[..] {
        c.eq(
            "server's FIN acknowledges the client's",
            fin2.ack,
            fin1.seq.wrapping_add(1),
        );
    }
    check_states(
        c,
        out,
        "client",
        &[
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "TIME_WAIT",
            "CLOSED",
        ],
    );
    check_time_wait(c, out, "client");
}

// ---------------------------------------------------------------------------- half-close

const REPLY: &[&[u8]] = &[b"reply part 1\n", b"reply part 2\n", b"reply part 3\n"];

fn build_half_close(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    let mut server = Peer::server(any4(80));
    for (i, r) in REPLY.iter().enumerate() {
        server = server.on_eof(MS(500 * (i as u64 + 1)), Act::Send(r.to_vec()));
    }
    server = server.on_eof(Duration::from_secs(2), Act::Close);
    lab.app(s, Instant::ZERO, server);
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80))
            .at(MS(100), Act::Send(b"GET / HTTP/1.0\r\n\r\n".to_vec()))
            .at(MS(100), Act::ShutdownWrite)
            .on_eof(Duration::ZERO, Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_half_close(out: &Outcome, c: &mut Checks) {
    let client_fin = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    let server_fin = out
        .sent_by("server")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    let (Some(cf), Some(sf)) = (client_fin, server_fin) else {
        c.check(false, "both ends send a FIN");
        return;
    };
    let data_after: Vec<&Seg> = out
        .sent_by("server")
        .into_iter()
        .filter(|s| s.len > 0 && s.time > cf.time && s.time <= sf.time)
        .collect();
    let bytes: Vec<u8> = data_after.iter().flat_map(|s| s.payload.clone()).collect();
    c.eq(
        "server data sent after the client's FIN",
        String::from_utf8_lossy(&bytes).into_owned(),
        REPLY
            .concat()
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>(),
    );
    c.check(
        data_after
            .iter()
            .all(|s| s.ack == cf.seq.wrapping_add(cf.len + 1)),
        "each reply segment acknowledges the client's FIN",
    );
    for r in REPLY {
        let text = String::from_utf8_lossy(r).replace('\n', "\\n");
        check_note(c, out, "client", &format!("recv(3, \"{text}\""));
    }
    check_note(c, out, "client", "shutdown(3, SHUT_WR) = 0");
    check_states(
        c,
        out,
        "client",
        &[
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED",
        ],
    );
}

// ----------------------------------------------------------------------- rst-closed-port

fn build_rst_closed_port(lab: &mut Lab) -> Result<(), String> {
    let (c, _, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 54321)),
    );
    lab.limit = Instant::from_secs(10);
    Ok(())
}

fn check_rst_closed_port(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    c.eq("segments", flags(&segs), vec!["S".into(), "R.".into()]);
    if let [syn, rst] = segs[..] {
        c.eq("RST seq", rst.seq, 0);
        c.eq("RST ack = SYN seq + 1", rst.ack, syn.seq.wrapping_add(1));
        c.eq("RST window", rst.win, 0);
        c.eq("RST length", rst.len, 0);
        c.eq("RST from port 54321", rst.src.port(), 54321);
    }
    check_note(c, out, "client", "= -1 ECONNREFUSED");
    check_states(c, out, "client", &["CLOSED", "SYN_SENT", "CLOSED"]);
}

// ----------------------------------------------------------------------- connect-timeout

fn build_connect_timeout(lab: &mut Lab) -> Result<(), String> {
    let (c, s, l) = lab.pair(MS(1), &[("net.ipv4.tcp_syn_retries", "5")], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(23)));
    // The notes' `iptables -I INPUT -p tcp --syn -j DROP` on the server.
    lab.sim
        .add_filter(l, Direction::AtoB, |_, p| packet::is_tcp_syn(p));
    lab.app(c, Instant::ZERO, Peer::client(sa(SERVER_ADDR, 23)));
    lab.limit = Instant::from_secs(200);
    Ok(())
}

fn check_connect_timeout(out: &Outcome, c: &mut Checks) {
    let syns: Vec<&Seg> = out
        .sent_by("client")
        .into_iter()
        .filter(|s| s.is_syn())
        .collect();
    let t0 = syns.first().map_or(0.0, |s| secs(s.time));
    let times: Vec<f64> = syns.iter().map(|s| secs(s.time) - t0).collect();
    let expected = [0.0, 1.0, 3.0, 7.0, 15.0, 31.0];
    c.check(
        times.len() == expected.len() && times.iter().zip(expected).all(|(a, b)| close_to(*a, b)),
        format!("SYNs at {expected:?} s: got {times:?}"),
    );
    c.check(
        syns.windows(2).all(|w| w[0].seq == w[1].seq),
        "every retransmitted SYN has the same sequence number",
    );
    c.check(
        syns.iter().all(|s| s.dropped.is_some()),
        "every SYN was dropped by the filter",
    );
    c.eq("segments other than SYNs", out.segs.len() - syns.len(), 0);
    let failed = out
        .note("client", "= -1 ETIMEDOUT")
        .map(|n| secs(n.time) - t0);
    c.check(
        failed.is_some_and(|t| close_to(t, 63.0)),
        format!("connect() fails with ETIMEDOUT at 63 s: {failed:?}"),
    );
}

// ------------------------------------------------------------------------ synack-retries

fn build_synack_retries(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[("net.ipv4.tcp_synack_retries", "5")])?;
    lab.observer = Some(s);
    lab.app(s, Instant::ZERO, Peer::server(any4(80)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)),
    );
    // The client vanishes just after its SYN left.
    lab.sim.schedule_crash(Instant::from_micros(10_100), c);
    lab.limit = Instant::from_secs(200);
    Ok(())
}

fn check_synack_retries(out: &Outcome, c: &mut Checks) {
    let sa: Vec<&Seg> = out
        .sent_by("server")
        .into_iter()
        .filter(|s| s.is_syn_ack())
        .collect();
    let gaps: Vec<f64> = sa.windows(2).map(|w| gap(w[0].time, w[1].time)).collect();
    let expected = [1.0, 2.0, 4.0, 8.0, 16.0];
    c.check(
        gaps.len() == expected.len() && gaps.iter().zip(expected).all(|(a, b)| close_to(*a, b)),
        format!("SYN-ACK retransmitted after {expected:?} s: got {gaps:?}"),
    );
    c.check(
        sa.windows(2).all(|w| w[0].seq == w[1].seq),
        "every SYN-ACK carries the same ISN",
    );
    let client_sent = out.sent_by("client");
    c.eq(
        "client sent only its SYN",
        flags(&client_sent),
        vec!["S".to_string()],
    );
    let tr: Vec<String> = out
        .transitions("server")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    c.check(
        tr.iter().any(|t| t.starts_with("SYN_RCVD -> ")),
        format!("server gives the half-open connection up: {tr:?}"),
    );
    if let Some(s) = out.host_id("server") {
        c.eq(
            "server connections left",
            out.sim.host(s).stack.connection_count(),
            0,
        );
    }
}

// ------------------------------------------------------------------- time-wait-reuseaddr

fn build_time_wait(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80)).on_eof(Duration::ZERO, Act::Close),
    );
    lab.app(s, Instant::ZERO, Peer::server(any4(8080)));
    // `nc -p 12345 server 80`, then ctrl+c: the client closes first.
    let first = Peer::client(sa(SERVER_ADDR, 80))
        .bind(sa(CLIENT_ADDR, 12345))
        .at(MS(500), Act::Close);
    lab.app(c, Instant::from_millis(10), first);
    // At 2 s, still in TIME_WAIT: `nc -p 12345` again.
    lab.at(c, Instant::from_secs(2), |cx| {
        if let Ok(s) = cx.socket() {
            let _ = cx.bind(s, sa(CLIENT_ADDR, 12345));
            let _ = cx.close(s);
        }
    });
    // At 3 s, with SO_REUSEADDR.
    lab.app(
        c,
        Instant::from_secs(3),
        Peer::client(sa(SERVER_ADDR, 8080))
            .opt(SockOpt::ReuseAddr(true))
            .bind(sa(CLIENT_ADDR, 12345)),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_time_wait_reuse(out: &Outcome, c: &mut Checks) {
    let tr = out.transitions("client");
    let tw_in = tr
        .iter()
        .find(|(_, t)| t.ends_with("-> TIME_WAIT"))
        .map(|(t, _)| *t);
    let tw_out = tr
        .iter()
        .find(|(_, t)| t == "TIME_WAIT -> CLOSED")
        .map(|(t, _)| *t);
    let refused = check_note(c, out, "client", "192.168.1.108:12345) = -1 EADDRINUSE");
    c.check(
        match (tw_in, refused, tw_out) {
            (Some(a), Some(r), Some(b)) => a < r && r < b,
            _ => false,
        },
        format!("bind fails while the old connection is in TIME_WAIT ({tw_in:?} .. {tw_out:?})"),
    );
    check_note(c, out, "client", "ReuseAddr(true)) = 0");
    let bound = out
        .notes_of("client")
        .into_iter()
        .filter(|n| n.text.contains("192.168.1.108:12345) = 0") && n.text.starts_with("bind("))
        .map(|n| n.time)
        .collect::<Vec<_>>();
    c.check(
        bound.len() == 2 && bound.get(1).is_some_and(|t| tw_out.is_some_and(|o| *t < o)),
        format!("with SO_REUSEADDR the bind succeeds during TIME_WAIT: {bound:?}"),
    );
    check_note(c, out, "client", "192.168.1.109:8080) = 0");
    let syn2 = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.is_syn() && s.dst.port() == 8080)
        .cloned();
    c.check(
        syn2.is_some_and(|s| s.src.port() == 12345),
        "the new connection comes from port 12345",
    );
    check_time_wait(c, out, "client");
}

// -------------------------------------------------------------------------- linger-abort

fn build_linger_abort(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(80)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80))
            .opt(SockOpt::Linger(Linger { on: true, secs: 0 }))
            .at(MS(100), Act::Send(b"hello\n".to_vec()))
            .at(MS(200), Act::Close),
    );
    lab.limit = Instant::from_secs(100);
    Ok(())
}

fn check_linger_abort(out: &Outcome, c: &mut Checks) {
    let client = out.sent_by("client");
    c.check(
        !client.iter().any(|s| s.flags.fin()),
        "the client sends no FIN",
    );
    let rst = client.iter().find(|s| s.flags.rst());
    c.check(rst.is_some(), "the client sends a RST on close()");
    let data = client.iter().find(|s| s.len > 0);
    if let (Some(rst), Some(data)) = (rst, data) {
        c.eq(
            "RST seq = next sequence number",
            rst.seq,
            data.seq.wrapping_add(data.len),
        );
        c.eq(
            "RST 100 ms after the data (s)",
            gap(data.time, rst.time),
            0.1,
        );
    }
    let tr: Vec<String> = out
        .transitions("client")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    c.check(
        !tr.iter().any(|t| t.contains("TIME_WAIT")),
        format!("no TIME_WAIT on the client: {tr:?}"),
    );
    check_note(c, out, "server", "recv(4, \"hello\\n\", 6) = 6");
    check_note(c, out, "server", "= -1 ECONNRESET");
}

// ----------------------------------------------------------------------------- half-open

fn build_half_open(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(12345)));
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 12345))
            .at(Duration::from_secs(5), Act::Send(b"a\r\n".to_vec())),
    );
    lab.sim.schedule_restart(Instant::from_secs(2), s);
    lab.limit = Instant::from_secs(100);
    Ok(())
}

fn check_half_open(out: &Outcome, c: &mut Checks) {
    let data = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.len > 0)
        .cloned();
    let rst = out
        .sent_by("server")
        .into_iter()
        .find(|s| s.flags.rst())
        .cloned();
    check_note(c, out, "sim", "host server restarted");
    let (Some(d), Some(r)) = (data, rst) else {
        c.check(false, "the client's data draws a RST from the server");
        return;
    };
    c.eq("data length", d.len, 3);
    c.eq("RST flags", r.flag_str(), "R".to_string());
    c.eq("RST seq = the data segment's ack", r.seq, d.ack);
    c.check(r.time >= d.time, "the RST answers the data");
    check_note(c, out, "client", "ESTABLISHED -> CLOSED");
}

// --------------------------------------------------------------------- simultaneous-open

fn build_simultaneous_open(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(5), &[], &[])?;
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 7001)).bind(sa(CLIENT_ADDR, 7000)),
    );
    lab.app(
        s,
        Instant::from_millis(10),
        Peer::client(sa(CLIENT_ADDR, 7000)).bind(sa(SERVER_ADDR, 7001)),
    );
    lab.limit = Instant::from_secs(10);
    Ok(())
}

fn check_simultaneous_open(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    c.eq(
        "segments",
        flags(&segs),
        vec!["S".into(), "S".into(), "S.".into(), "S.".into()],
    );
    for h in ["client", "server"] {
        check_states(
            c,
            out,
            h,
            &["CLOSED", "SYN_SENT", "SYN_RCVD", "ESTABLISHED"],
        );
        check_note(c, out, h, "connect(3, ");
    }
    check_note(c, out, "client", "connect(3, 192.168.1.109:7001) = 0");
    check_note(c, out, "server", "connect(3, 192.168.1.108:7000) = 0");
}

// -------------------------------------------------------------------- simultaneous-close

fn build_simultaneous_close(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(5), &[], &[])?;
    let at = Instant::from_secs(1);
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80)).at_time(at, Act::Close),
    );
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 80)).at_time(at, Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_simultaneous_close(out: &Outcome, c: &mut Checks) {
    let cf = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    let sf = out
        .sent_by("server")
        .into_iter()
        .find(|s| s.flags.fin())
        .cloned();
    match (cf, sf) {
        (Some(a), Some(b)) => {
            c.eq(
                "both FINs leave at 1 s",
                (secs(a.time), secs(b.time)),
                (1.0, 1.0),
            );
            c.eq(
                "the client's FIN does not acknowledge the server's",
                a.ack,
                b.seq,
            );
            c.eq(
                "the server's FIN does not acknowledge the client's",
                b.ack,
                a.seq,
            );
        }
        _ => {
            c.check(false, "both ends send a FIN");
        }
    }
    let tail = [
        "ESTABLISHED",
        "FIN_WAIT_1",
        "CLOSING",
        "TIME_WAIT",
        "CLOSED",
    ];
    for h in ["client", "server"] {
        let st = out.states(h);
        c.check(
            st.ends_with(&tail.map(String::from)),
            format!("{h}: {tail:?} at the end of {st:?}"),
        );
        check_time_wait(c, out, h);
    }
}

// ---------------------------------------------------------------------------- interactive

/// What `ls` prints in the notes' session: 171 bytes (the echoed CR LF makes 173).
const LS_OUTPUT: usize = 171;
/// The shell prompt that follows, written separately: 52 bytes.
const PROMPT: usize = 52;

/// A telnet-like server: echoes each keystroke; on CR LF writes the echo and the `ls`
/// output, and 1 ms later (when the shell is back) the prompt, in a second write.
fn telnet_server(port: u16) -> impl FnMut(&mut AppCtx<'_>) {
    let mut listener = None;
    let mut conn = None;
    let mut line: Vec<u8> = Vec::new();
    let mut prompt_at: Option<Instant> = None;
    move |cx: &mut AppCtx<'_>| {
        if listener.is_none() {
            let Ok(l) = cx.socket() else { return };
            if cx.bind(l, any4(port)).is_err() || cx.listen(l, 16).is_err() {
                return;
            }
            listener = Some(l);
        }
        if conn.is_none()
            && let Some(l) = listener
            && let Ok((c, _)) = cx.accept(l)
        {
            conn = Some(c);
        }
        let Some(c) = conn else { return };
        if let Some(t) = prompt_at {
            if cx.now >= t {
                prompt_at = None;
                let _ = cx.send(c, &[b'$'; PROMPT]);
            } else {
                cx.wake_at(t);
            }
        }
        let mut buf = [0u8; 512];
        while let Ok(n) = cx.recv(c, &mut buf) {
            if n == 0 {
                let _ = cx.close(c);
                conn = None;
                return;
            }
            let got = &buf[..n];
            line.extend_from_slice(got);
            if line.ends_with(b"\r\n") {
                line.clear();
                let mut out = got.to_vec();
                out.extend((0..LS_OUTPUT).map(|i| b"abcdefgh \n"[i % 10]));
                let _ = cx.send(c, &out);
                let t = cx.now + MS(1);
                prompt_at = Some(t);
                cx.wake_at(t);
            } else {
                let _ = cx.send(c, got);
            }
        }
    }
}

/// What the user types, one write per keystroke (CR LF is one write, as telnet sends it):
/// the notes' `ls`, then a longer command.
const TYPED: &[&[u8]] = &[
    b"l", b"s", b"\r\n", b"c", b"a", b"t", b" ", b"n", b"o", b"t", b"e", b"s", b".", b"t", b"x",
    b"t", b"\r\n",
];

fn build_interactive(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.sim.schedule(Instant::ZERO, move |sim| {
        sim.with_host(s, |h, now| h.start_app(now, telnet_server(23)));
    });
    let mut client = Peer::client(sa(SERVER_ADDR, 23));
    for (i, k) in TYPED.iter().enumerate() {
        client = client.at(MS(1000 + 300 * i as u64), Act::Send(k.to_vec()));
    }
    lab.app(c, Instant::from_millis(10), client);
    lab.limit = Instant::from_secs(30);
    Ok(())
}

fn check_interactive(out: &Outcome, c: &mut Checks) {
    let segs = all(out);
    let rest = after_handshake(&segs);
    // The notes' eleven segments for `ls`: keystroke, echo, ACK, keystroke, echo, ACK,
    // CR LF, output, ACK, prompt, ACK.
    let shape: Vec<String> = rest
        .iter()
        .take(11)
        .map(|s| format!("{} {}", s.flag_str(), s.len))
        .collect();
    let expected = [
        "P. 1", "P. 1", ". 0", "P. 1", "P. 1", ". 0", "P. 2", "P. 173", ". 0", "P. 52", ". 0",
    ];
    c.eq(
        "the `ls` exchange, as in the notes",
        shape,
        expected.map(String::from).to_vec(),
    );
    // Piggybacking: the server never sends a bare ACK; each echo acknowledges the keystroke.
    let server: Vec<&Seg> = after_handshake(&segs)
        .into_iter()
        .filter(|s| s.src.ip() == IpAddr::V4(SERVER_ADDR))
        .collect();
    c.check(
        server.iter().all(|s| s.len > 0),
        "every server segment carries data: the ACKs ride on the echoes",
    );
    let keys: Vec<&Seg> = rest
        .iter()
        .filter(|s| s.src.ip() == IpAddr::V4(CLIENT_ADDR) && s.len > 0)
        .copied()
        .collect();
    let piggy = keys.iter().all(|k| {
        server
            .iter()
            .find(|s| s.time > k.time)
            .is_some_and(|s| s.ack == k.seq.wrapping_add(k.len))
    });
    c.check(
        piggy,
        "each keystroke is acknowledged by the echo that answers it",
    );
    // Nagle: the prompt, written 1 ms after the output, waits for the ACK of the output.
    let out173 = server.iter().find(|s| s.len == 173).copied();
    let prompt = server.iter().find(|s| s.len == PROMPT as u32).copied();
    if let (Some(o), Some(p)) = (out173, prompt) {
        let ack = rest
            .iter()
            .find(|s| s.src.ip() == IpAddr::V4(CLIENT_ADDR) && s.ack == o.seq.wrapping_add(o.len));
        let arrival = ack.map(|a| gap(Instant::ZERO, a.time) + 0.001);
        c.check(
            arrival.is_some_and(|t| close_to(secs(p.time), t)),
            format!(
                "Nagle: the prompt leaves when the ACK of the output arrives ({:?}), at {}",
                arrival,
                secs(p.time)
            ),
        );
    } else {
        c.check(false, "the server sends the output and the prompt");
    }
    // ACK delays of the client: at once while quick-ACKing (the first 16 segments, Linux's
    // TCP_MAX_QUICKACKS), then delayed by at least 40 ms (TCP_ATO_MIN), never over 200 ms.
    let mut delays = Vec::new();
    for a in rest
        .iter()
        .filter(|s| s.src.ip() == IpAddr::V4(CLIENT_ADDR) && s.len == 0)
    {
        if let Some(d) = server
            .iter()
            .rev()
            .find(|d| d.seq.wrapping_add(d.len) == a.ack)
        {
            delays.push(((gap(d.time, a.time) - 0.001) * 1000.0).round() as i64);
        }
    }
    c.check(
        delays.iter().take(4).all(|&d| d == 0),
        format!("the first ACKs go at once (quick ACK): {delays:?} ms"),
    );
    c.check(
        delays.iter().any(|&d| d >= 40) && delays.iter().all(|&d| d <= 200),
        format!("later ACKs are delayed, 40 to 200 ms (delayed ACK): {delays:?} ms"),
    );
}
// ------------------------------------------------------------------------------ nagle-wan

/// Keystrokes typed in `nagle-wan`, one every 50 ms.
const KEYSTROKES: u64 = 40;
/// Keystrokes typed in `nagle-wan-long`: enough to outlast the receiver's quick ACKs.
const KEYSTROKES_LONG: u64 = 120;

fn build_nagle_wan(lab: &mut Lab) -> Result<(), String> {
    build_typing(lab, KEYSTROKES)
}

fn build_nagle_wan_long(lab: &mut Lab) -> Result<(), String> {
    build_typing(lab, KEYSTROKES_LONG)
}

fn check_nagle_wan(out: &Outcome, c: &mut Checks) {
    check_typing(out, c, KEYSTROKES);
}

fn check_nagle_wan_long(out: &Outcome, c: &mut Checks) {
    check_typing(out, c, KEYSTROKES_LONG);
}

fn build_typing(lab: &mut Lab, keystrokes: u64) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(100), &[], &[])?;
    lab.app(s, Instant::ZERO, Peer::server(any4(23)));
    let mut client = Peer::client(sa(SERVER_ADDR, 23));
    for i in 0..keystrokes {
        client = client.at(
            Duration::from_secs(1) + MS(50 * i),
            Act::Send(vec![b'a' + (i % 26) as u8]),
        );
    }
    lab.app(c, Instant::ZERO, client);
    lab.limit = Instant::from_secs(30);
    Ok(())
}

fn check_typing(out: &Outcome, c: &mut Checks, keystrokes: u64) {
    let data: Vec<&Seg> = out
        .sent_by("client")
        .into_iter()
        .filter(|s| s.len > 0)
        .collect();
    let acks: Vec<&Seg> = out
        .sent_by("server")
        .into_iter()
        .filter(|s| s.flags.ack())
        .collect();
    let bytes: u32 = data.iter().map(|s| s.len).sum();
    c.eq("bytes sent (one per keystroke)", bytes, keystrokes as u32);
    c.check(
        data.len() < keystrokes as usize / 2,
        format!("{keystrokes} writes coalesce into {} segments", data.len()),
    );
    c.check(
        data.iter().any(|s| s.len > 1),
        "later segments carry several keystrokes",
    );
    // RFC 896 / RFC 1122 §4.2.3.4: a small segment is sent only when nothing is
    // outstanding, i.e. exactly when the ACK of the previous one arrives (100 ms later).
    let mut ok = true;
    let mut bad = String::new();
    for w in data.windows(2) {
        let arrival = acks
            .iter()
            .find(|a| a.ack == w[1].seq)
            .map(|a| gap(Instant::ZERO, a.time) + 0.1);
        if !arrival.is_some_and(|t| close_to(t, secs(w[1].time))) {
            ok = false;
            bad = format!(
                "segment at {} s vs ACK arrival {arrival:?}",
                secs(w[1].time)
            );
            break;
        }
    }
    c.check(
        ok,
        format!("each segment waits for the ACK of the one before {bad}"),
    );
    let first_key = Instant::from_secs(1) + MS(200);
    c.check(
        data.first().is_some_and(|s| s.time == first_key),
        "the first keystroke leaves at once (nothing outstanding)",
    );
    let retrans = data
        .windows(2)
        .filter(|w| w[1].seq != w[0].seq.wrapping_add(w[0].len))
        .count();
    c.eq("retransmissions on this loss-free link", retrans, 0);
}
// ----------------------------------------------------------------------------------- bulk

/// Bytes sent in `bulk`.
const BULK_BYTES: usize = 1 << 20;

fn build_bulk(lab: &mut Lab) -> Result<(), String> {
    let c = lab.host(
        "client",
        CLIENT_ADDR,
        &[("net.ipv4.tcp_wmem", "4096 1048576 4194304")],
    )?;
    let s = lab.host("server", SERVER_ADDR, &[])?;
    lab.link(
        c,
        s,
        LinkConfig::symmetric(ChannelConfig::bottleneck(MS(10), 100_000_000, 1000)),
    );
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(21))
            .quiet()
            .check_pattern()
            .on_eof(Duration::ZERO, Act::Close),
    );
    lab.app(
        c,
        Instant::ZERO,
        Peer::client(sa(SERVER_ADDR, 21))
            .quiet()
            .at(Duration::ZERO, Act::SendPattern(BULK_BYTES))
            .at(Duration::ZERO, Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_bulk(out: &Outcome, c: &mut Checks) {
    let client = out.sent_by("client");
    let server = out.sent_by("server");
    let (syn, synack) = (client.first(), server.first());
    c.eq("client SYN wscale", syn.and_then(|s| s.wscale), Some(7));
    c.eq(
        "server SYN-ACK wscale",
        synack.and_then(|s| s.wscale),
        Some(7),
    );
    let shift = 7;
    let max_wnd = server
        .iter()
        .filter(|s| !s.flags.syn())
        .map(|s| u64::from(s.win) << shift)
        .max()
        .unwrap_or(0);
    c.check(
        max_wnd > 65535,
        format!("the scaled receive window exceeds 64 KiB: {max_wnd} bytes"),
    );
    let flight = max_flight(out, "client", "server");
    c.check(
        flight > 65535,
        format!("more than 64 KiB in flight at once (needs window scaling): {flight} bytes"),
    );
    check_window_respected(c, out, "client", "server", shift);
    check_note(
        c,
        out,
        "server",
        &format!("read {} bytes, pattern intact", BULK_BYTES),
    );
    let data: Vec<&Seg> = client.iter().filter(|s| s.len > 0).copied().collect();
    c.eq(
        "retransmissions on this loss-free link",
        retransmissions(&data),
        0,
    );
}
// ---------------------------------------------------------------------------- zero-window

/// Bytes the client sends in `zero-window`.
const ZW_BYTES: usize = 32 * 1024;

fn build_zero_window(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    // A small receive buffer, and an application that does not read for 5 s.
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(21))
            .opt(SockOpt::RcvBuf(8192))
            .quiet()
            .check_pattern()
            .read_after(Duration::from_secs(5))
            .on_eof(Duration::ZERO, Act::Close),
    );
    lab.app(
        c,
        Instant::from_millis(10),
        Peer::client(sa(SERVER_ADDR, 21))
            .quiet()
            .at(Duration::ZERO, Act::SendPattern(ZW_BYTES))
            .at(Duration::ZERO, Act::Close),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

// ------------------------------------------------------------------------------ syn-flood

/// Spoofed SYNs the attacker sends in `syn-flood`.
const FLOOD: u32 = 64;
/// The server's listen backlog (`net.core.somaxconn`) in `syn-flood`.
const FLOOD_BACKLOG: u32 = 16;

fn build_syn_flood(lab: &mut Lab) -> Result<(), String> {
    let backlog = FLOOD_BACKLOG.to_string();
    let (c, s, _) = lab.pair(MS(1), &[], &[("net.core.somaxconn", backlog.as_str())])?;
    lab.observer = Some(s);
    let a = lab.host("attacker", Ipv4Addr::new(10, 66, 0, 1), &[])?;
    lab.link(a, s, LinkConfig::with_delay(MS(1)));
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80)).opt(SockOpt::ReuseAddr(true)),
    );
    // SYNs from spoofed addresses, one every 2.5 ms from 0.1 s on.
    for i in 0..FLOOD {
        let at = Instant::from_micros(100_000 + 2_500 * u64::from(i));
        lab.sim.schedule(at, move |sim| {
            let src = [10, 99, (i >> 8) as u8, i as u8];
            let sport = 1024 + (i % 60000) as u16;
            let syn = crate::toy::ipv4_tcp(
                src,
                SERVER_ADDR.octets(),
                sport,
                80,
                packet::tcp_flag::SYN,
                &[],
            );
            sim.with_host(a, |h, _| h.inject(syn));
        });
    }
    lab.app(
        c,
        Instant::from_millis(600),
        Peer::client(sa(SERVER_ADDR, 80)).at(MS(10), Act::Send(b"hello\n".to_vec())),
    );
    lab.limit = Instant::from_secs(300);
    Ok(())
}

fn check_zero_window(out: &Outcome, c: &mut Checks) {
    let server = out.sent_by("server");
    let client = out.sent_by("client");
    let zero = server
        .iter()
        .find(|s| s.win == 0 && s.flags.ack() && !s.flags.syn())
        .copied();
    let Some(z) = zero else {
        c.check(false, "the receiver advertises a zero window");
        return;
    };
    c.check(
        true,
        format!(
            "the receiver advertises win 0 at {} (its buffer is full)",
            z.time
        ),
    );
    // While the window is zero the sender only probes: zero-length segments, answered
    // with win 0 again, at exponentially growing intervals (RFC 9293 §3.8.6.1).
    let reopen = server
        .iter()
        .find(|s| s.time > z.time && s.win > 0)
        .map(|s| s.time);
    let probes: Vec<&Seg> = client
        .iter()
        .filter(|s| s.time > z.time && reopen.is_none_or(|r| s.time <= r))
        .copied()
        .collect();
    c.check(
        probes.len() >= 3 && probes.iter().all(|p| p.len == 0),
        format!("{} window probes, all zero-length", probes.len()),
    );
    let gaps: Vec<f64> = probes
        .windows(2)
        .map(|w| gap(w[0].time, w[1].time))
        .collect();
    c.check(
        !gaps.is_empty() && gaps.windows(2).all(|g| close_to(g[1], 2.0 * g[0])),
        format!("probe intervals double: {gaps:?} s"),
    );
    let answered = probes.iter().all(|p| {
        server
            .iter()
            .find(|s| s.time >= p.time)
            .is_some_and(|s| s.win == 0 || reopen.is_some_and(|r| s.time == r))
    });
    c.check(
        answered,
        "each probe is answered with the (still zero) window",
    );
    match reopen {
        Some(r) => {
            c.check(
                r >= Instant::from_secs(5),
                format!("the window reopens at {r}, when the application reads"),
            );
            c.check(
                client.iter().any(|s| s.time >= r && s.len > 1),
                "data flows again after the window update",
            );
        }
        None => {
            c.check(false, "the window reopens");
        }
    }
    check_window_respected(c, out, "client", "server", 0);
    check_note(
        c,
        out,
        "server",
        &format!("read {ZW_BYTES} bytes, pattern intact"),
    );
}

fn check_syn_flood(out: &Outcome, c: &mut Checks) {
    let Some(s) = out.host_id("server") else {
        return;
    };
    let k = out.sim.host(s).stack.counters();
    c.check(
        k.syncookies_sent >= u64::from(FLOOD) - u64::from(FLOOD_BACKLOG),
        format!(
            "SYN cookies sent once the SYN queue is full: {}",
            k.syncookies_sent
        ),
    );
    c.check(
        k.syncookies_recv >= 1,
        format!("valid cookies received: {}", k.syncookies_recv),
    );
    let connected = out
        .note("client", "connect(3, 192.168.1.109:80) = 0")
        .map(|n| n.time);
    c.check(
        connected.is_some_and(|t| t < Instant::from_millis(700)),
        format!("the real client connects during the flood, within one round trip: {connected:?}"),
    );
    check_note(c, out, "server", "recv(4, \"hello\\n\", 6) = 6");
    let half_open = out
        .notes_of("server")
        .into_iter()
        .filter(|n| n.text.ends_with("LISTEN -> SYN_RCVD"))
        .count();
    c.check(
        half_open <= FLOOD_BACKLOG as usize,
        format!("half-open connections kept: {half_open} (the SYN queue's size, {FLOOD_BACKLOG})"),
    );
}

// --------------------------------------------------------------------------------- urgent

/// A server that reads the urgent byte out of band when poll() reports POLLPRI, and the
/// normal stream otherwise.
fn oob_server(port: u16) -> impl FnMut(&mut AppCtx<'_>) {
    let mut listener = None;
    let mut conn = None;
    move |cx: &mut AppCtx<'_>| {
        if listener.is_none() {
            let Ok(l) = cx.socket() else { return };
            if cx.bind(l, any4(port)).is_err() || cx.listen(l, 16).is_err() {
                return;
            }
            listener = Some(l);
        }
        if conn.is_none()
            && let Some(l) = listener
            && let Ok((c, _)) = cx.accept(l)
        {
            conn = Some(c);
        }
        let Some(c) = conn else { return };
        let mut buf = [0u8; 64];
        if cx.stack.poll(c).is_ok_and(|r| r.urgent) {
            cx.log(format!(
                "poll({}) = POLLIN|POLLPRI",
                crate::stack_host::fd(c)
            ));
            let _ = cx.recv_oob(c, &mut buf);
        }
        while let Ok(n) = cx.recv(c, &mut buf) {
            if n == 0 {
                let _ = cx.close(c);
                conn = None;
                return;
            }
        }
    }
}

fn build_urgent(lab: &mut Lab) -> Result<(), String> {
    let (c, s, _) = lab.pair(MS(1), &[], &[])?;
    lab.sim.schedule(Instant::ZERO, move |sim| {
        sim.with_host(s, |h, now| h.start_app(now, oob_server(7000)));
    });
    let mut sock = None;
    lab.sim.schedule(Instant::ZERO, move |sim| {
        sim.with_host(c, |h, now| {
            h.start_app(now, move |cx| {
                if sock.is_none() {
                    let Ok(fd) = cx.socket() else { return };
                    let _ = cx.connect(fd, sa(SERVER_ADDR, 7000));
                    sock = Some((fd, 0u8));
                }
                let Some((fd, step)) = sock.as_mut() else {
                    return;
                };
                match *step {
                    0 if cx.connect(*fd, sa(SERVER_ADDR, 7000)).is_ok() => {
                        *step = 1;
                        cx.wake_at(cx.now + Duration::from_secs(1));
                    }
                    1 if cx.wake().is_none() => {
                        let _ = cx.send(*fd, b"ab");
                        let _ = cx.send_oob(*fd, b"c");
                        *step = 2;
                        cx.wake_at(cx.now + Duration::from_secs(1));
                    }
                    2 if cx.wake().is_none() => {
                        let _ = cx.close(*fd);
                        *step = 3;
                    }
                    _ => {}
                }
            })
        });
    });
    lab.limit = Instant::from_secs(120);
    Ok(())
}

fn check_urgent(out: &Outcome, c: &mut Checks) {
    let urg = out
        .sent_by("client")
        .into_iter()
        .find(|s| s.flags.urg())
        .cloned();
    let Some(u) = urg else {
        c.check(false, "the client sends a segment with the URG flag");
        return;
    };
    c.eq(
        "the urgent segment's payload",
        String::from_utf8_lossy(&u.payload).into_owned(),
        "abc".to_string(),
    );
    c.eq("urgent pointer: one past the urgent byte", u.urg_ptr, 3);
    check_note(c, out, "server", "= POLLIN|POLLPRI");
    check_note(c, out, "server", "recv(4, \"c\", 1, MSG_OOB) = 1");
    check_note(c, out, "server", "recv(4, \"ab\", 2) = 2");
    c.check(
        out.note("server", "recv(4, \"abc\"").is_none(),
        "the urgent byte is not in the normal stream",
    );
}

// --------------------------------------------------------------------------------- random

/// What the applications do in `random`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RandomMode {
    /// The client sends, half-closes and reads the server's reply to the end; the server
    /// reads to the end, replies and closes.
    HalfClose,
    /// Like `HalfClose`, but the client aborts (SO_LINGER 0) at a random time.
    Abort,
}

/// The random choices of one `random` run.
#[derive(Clone, Debug)]
struct RandomPlan {
    a_to_b: ChannelConfig,
    b_to_a: ChannelConfig,
    mode: RandomMode,
    up: usize,
    down: usize,
    abort_after: Duration,
}

fn random_channel(r: &mut crate::rng::Rng) -> ChannelConfig {
    let mut ch = ChannelConfig::with_delay(Duration::from_micros(100 + r.below(50_000)));
    if r.chance(0.5) {
        ch.jitter = Duration::from_micros(r.below(10_000));
        ch.jitter_reorders = r.chance(0.5);
    }
    if r.chance(0.5) {
        ch.bandwidth_bps = Some(1_000_000 + r.below(99_000_000));
        ch.queue_packets = r.chance(0.5).then(|| 10 + r.below(190) as usize);
    }
    if r.chance(0.7) {
        ch.loss = r.next_f64() * 0.3;
    }
    if r.chance(0.3) {
        ch.reorder = r.next_f64() * 0.2;
        ch.reorder_delay = Duration::from_micros(r.below(30_000));
    }
    if r.chance(0.3) {
        ch.duplicate = r.next_f64() * 0.1;
    }
    if r.chance(0.3) {
        ch.corrupt = r.next_f64() * 0.05;
    }
    ch
}

fn random_plan(seed: u64) -> RandomPlan {
    let mut r = crate::rng::Rng::stream(seed, 0x5241_4e44);
    let a_to_b = random_channel(&mut r);
    let b_to_a = random_channel(&mut r);
    let mode = if r.chance(0.2) {
        RandomMode::Abort
    } else {
        RandomMode::HalfClose
    };
    RandomPlan {
        a_to_b,
        b_to_a,
        mode,
        up: r.below(64 * 1024 + 1) as usize,
        down: r.below(16 * 1024 + 1) as usize,
        abort_after: Duration::from_micros(r.below(2_000_000)),
    }
}

/// Whether a direction can lose or damage packets.
fn impaired(ch: &ChannelConfig) -> bool {
    ch.loss > 0.0 || ch.corrupt > 0.0 || ch.queue_packets.is_some()
}

fn build_random(lab: &mut Lab) -> Result<(), String> {
    let plan = random_plan(lab.sim.seed());
    let c = lab.host("client", CLIENT_ADDR, &[])?;
    let s = lab.host("server", SERVER_ADDR, &[])?;
    lab.link(
        c,
        s,
        LinkConfig {
            a_to_b: plan.a_to_b.clone(),
            b_to_a: plan.b_to_a.clone(),
        },
    );
    lab.app(
        s,
        Instant::ZERO,
        Peer::server(any4(80))
            .quiet()
            .check_pattern()
            .on_eof(Duration::ZERO, Act::SendPattern(plan.down))
            .on_eof(Duration::ZERO, Act::Close),
    );
    let mut client = Peer::client(sa(SERVER_ADDR, 80))
        .quiet()
        .check_pattern()
        .at(Duration::ZERO, Act::SendPattern(plan.up))
        .at(Duration::ZERO, Act::ShutdownWrite)
        .on_eof(Duration::ZERO, Act::Close);
    if plan.mode == RandomMode::Abort {
        client = client
            .opt(SockOpt::Linger(Linger { on: true, secs: 0 }))
            .at_time(Instant::from_millis(10) + plan.abort_after, Act::Close);
    }
    lab.app(c, Instant::from_millis(10), client);
    // Long enough for every timer: SYN retries (127 s), data retries (15 with a 120 s
    // cap: about 925 s), FIN_WAIT_2 and TIME_WAIT.
    lab.limit = Instant::from_secs(4 * 3600);
    Ok(())
}

fn check_random(out: &Outcome, c: &mut Checks) {
    let plan = random_plan(out.seed);
    let ch = |x: &ChannelConfig| {
        format!(
            "delay {:?} jitter {:?} rate {:?} queue {:?} loss {:.3} reorder {:.3} dup {:.3} \
             corrupt {:.3}",
            x.delay,
            x.jitter,
            x.bandwidth_bps,
            x.queue_packets,
            x.loss,
            x.reorder,
            x.duplicate,
            x.corrupt
        )
    };
    c.check(
        true,
        format!(
            "plan: {:?} up {} down {}; client to server: {}; server to client: {}",
            plan.mode,
            plan.up,
            plan.down,
            ch(&plan.a_to_b),
            ch(&plan.b_to_a)
        ),
    );
    c.check(
        out.idle,
        format!("the run ends (all timers done) by {}", out.end),
    );
    let broken = out.notes.iter().find(|n| n.text.contains("BROKEN"));
    c.check(
        broken.is_none(),
        format!(
            "no byte arrives wrong{}",
            broken.map(|n| format!(": {}", n.text)).unwrap_or_default()
        ),
    );
    let lossy = impaired(&plan.a_to_b) || impaired(&plan.b_to_a);
    let errors: Vec<String> = out
        .notes
        .iter()
        .filter(|n| n.host != "sim" && n.text.contains(" = -1 "))
        .filter(|n| !n.text.contains("EINPROGRESS"))
        .map(|n| format!("{}: {}", n.host, n.text))
        .collect();
    let allowed = |e: &String| match plan.mode {
        _ if e.contains("ETIMEDOUT") => lossy,
        // A reset reaches the server after an abort; on a lossy link a peer that gave up
        // (or a RST to a retransmission after it did) resets the other end.
        _ if e.contains("ECONNRESET") || e.contains("EPIPE") => {
            plan.mode == RandomMode::Abort || lossy
        }
        // After an abort the client's later calls see a closed socket.
        RandomMode::Abort => e.contains("EBADF") || e.contains("ENOTCONN"),
        RandomMode::HalfClose => false,
    };
    let bad: Vec<&String> = errors.iter().filter(|e| !allowed(e)).collect();
    c.check(
        bad.is_empty(),
        format!("only the errors the situation calls for: {errors:?}"),
    );
    let server_ok = out.note("server", &format!("read {} bytes, pattern intact", plan.up));
    let client_ok = out.note(
        "client",
        &format!("read {} bytes, pattern intact", plan.down),
    );
    // The server's connection is an orphan after its close(): if its retransmissions run
    // out (tcp_orphan_retries), no application hears of it and the client, still waiting
    // for the rest of the reply, stays in FIN_WAIT_2 (no timer while its socket is open).
    let server_fin_end = out
        .sent_by("server")
        .into_iter()
        .find(|s| s.flags.fin())
        .map(|s| s.seq.wrapping_add(s.seg_len()));
    let fin_acked = server_fin_end.is_some_and(|end| {
        out.sent_by("client")
            .into_iter()
            .any(|s| s.dropped.is_none() && s.flags.ack() && s.ack == end)
    });
    let server_gave_up = server_fin_end.is_some()
        && !fin_acked
        && out
            .transitions("server")
            .last()
            .is_some_and(|(_, t)| t.ends_with("-> CLOSED"));
    if plan.mode == RandomMode::HalfClose {
        let complete = server_ok.is_some() && client_ok.is_some();
        c.check(
            complete || (lossy && (!errors.is_empty() || server_gave_up)),
            format!(
                "the exchange completes (server read {}, client read {}), or fails on a lossy \
                 link with an error or with the orphaned server giving up (gave up: \
                 {server_gave_up})",
                server_ok.is_some(),
                client_ok.is_some()
            ),
        );
    }
}
