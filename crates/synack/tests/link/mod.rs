//! A link between two engines for byte-stream tests: one-way delay, and optionally loss,
//! duplication and reordering (extra random delay), all from a seeded generator so every
//! run is reproducible. Applications are modelled as byte-stream writers and readers that
//! check every byte against a position-dependent pattern.
#![allow(dead_code)]

use synack::{Config, Connection, Duration, FourTuple, Instant, SegmentOut, Seq, State, TcpFlags};

/// xorshift64*: small, deterministic, good enough for test schedules.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
    /// A size from 1 to `max`, log-uniform (small sizes as often as large ones).
    pub fn size(&mut self, max: usize) -> usize {
        let bits = 64 - (max as u64).leading_zeros() as u64;
        let b = self.range(0, bits);
        let hi = (1u64 << b).min(max as u64);
        self.range(1, hi.max(1)) as usize
    }
}

/// The byte at stream offset `i` of direction `dir`: position-dependent, so a lost,
/// duplicated or misplaced byte is caught.
pub fn pattern(dir: u64, i: u64) -> u8 {
    let x = (i ^ (dir << 60)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 53) as u8
}

/// One direction's application: writes `total` bytes in random-size writes.
#[derive(Debug)]
pub struct Writer {
    pub dir: u64,
    pub total: u64,
    pub written: u64,
    pub max_write: usize,
    pub close_when_done: bool,
    pub closed: bool,
}

/// One direction's application: reads in random sizes and checks every byte.
#[derive(Debug)]
pub struct Reader {
    pub dir: u64,
    pub read: u64,
    pub max_read: usize,
    pub eof: bool,
    /// Stop reading (a slow application).
    pub paused: bool,
}

impl Writer {
    pub fn new(dir: u64, total: u64, max_write: usize) -> Writer {
        Writer {
            dir,
            total,
            written: 0,
            max_write,
            close_when_done: true,
            closed: false,
        }
    }

    /// Writes until the connection pushes back; returns whether anything was taken.
    pub fn pump(
        &mut self,
        c: &mut Connection,
        now: Instant,
        rng: &mut Rng,
        buf: &mut [u8],
    ) -> bool {
        let mut any = false;
        while self.written < self.total {
            let want = rng
                .size(self.max_write)
                .min((self.total - self.written) as usize);
            let want = want.min(buf.len());
            for (k, b) in buf[..want].iter_mut().enumerate() {
                *b = pattern(self.dir, self.written + k as u64);
            }
            match c.send(now, &buf[..want]) {
                Ok(n) => {
                    assert!(n <= want);
                    self.written += n as u64;
                    any |= n > 0;
                    if n < want {
                        break;
                    }
                }
                Err(synack::Error::WouldBlock) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        if self.written == self.total && self.close_when_done && !self.closed {
            c.shutdown_write(now).unwrap();
            self.closed = true;
            any = true;
        }
        any
    }
}

impl Reader {
    pub fn new(dir: u64, max_read: usize) -> Reader {
        Reader {
            dir,
            read: 0,
            max_read,
            eof: false,
            paused: false,
        }
    }

    /// Reads what is ready; returns whether anything was read.
    pub fn pump(&mut self, c: &mut Connection, rng: &mut Rng, buf: &mut [u8]) -> bool {
        let mut any = false;
        while !self.paused && !self.eof {
            let want = rng.size(self.max_read).min(buf.len());
            match c.recv(&mut buf[..want]) {
                Ok(0) => {
                    self.eof = true;
                    any = true;
                }
                Ok(n) => {
                    for (k, &b) in buf[..n].iter().enumerate() {
                        let at = self.read + k as u64;
                        assert_eq!(
                            b,
                            pattern(self.dir, at),
                            "byte {at} of direction {}",
                            self.dir
                        );
                    }
                    self.read += n as u64;
                    any = true;
                }
                Err(synack::Error::WouldBlock) => break,
                Err(e) => panic!("recv failed: {e}"),
            }
        }
        any
    }
}

/// Impairments of one direction of the link.
#[derive(Clone, Copy, Debug, Default)]
pub struct Impair {
    pub delay: Duration,
    pub loss: f64,
    pub dup: f64,
    /// Probability that a segment is held back by up to `jitter` extra (reordering).
    pub reorder: f64,
    pub jitter: Duration,
}

struct InFlight {
    at: Instant,
    order: u64,
    to_b: bool,
    seg: SegmentOut,
    data: Vec<u8>,
}

/// Two engines joined by an impaired link under one virtual clock.
pub struct Net {
    pub a: Connection,
    pub b: Connection,
    pub now: Instant,
    pub a_to_b: Impair,
    pub b_to_a: Impair,
    pub rng: Rng,
    flight: Vec<InFlight>,
    order: u64,
    /// Every segment sent: (time, from A?, segment, payload length).
    pub log: Vec<(Instant, bool, SegmentOut)>,
    pub keep_log: bool,
    /// Segments delivered.
    pub delivered: u64,
    /// Called with each segment sent (checksum work, counting).
    pub on_send: Option<fn(&SegmentOut, &[u8])>,
    buf: Vec<u8>,
}

pub fn tuples() -> (FourTuple, FourTuple) {
    let a = FourTuple::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    );
    (a, FourTuple::new(a.remote, a.local))
}

impl Net {
    /// A connected pair (A active, B passive) with the given configurations.
    pub fn connected(
        cfg_a: Config,
        cfg_b: Config,
        a_to_b: Impair,
        b_to_a: Impair,
        seed: u64,
    ) -> Net {
        let now = Instant::ZERO;
        let (ta, tb) = tuples();
        let a = Connection::connect_with_iss(now, cfg_a, ta, Seq(1_000_000), 0);
        let b = Connection::listen_with_iss(now, cfg_b, tb, Seq(2_000_000), 0);
        let mut n = Net {
            a,
            b,
            now,
            a_to_b,
            b_to_a,
            rng: Rng::new(seed),
            flight: Vec::new(),
            order: 0,
            log: Vec::new(),
            keep_log: false,
            delivered: 0,
            on_send: None,
            buf: vec![0; 65536],
        };
        let deadline = now + Duration::from_secs(300);
        while !(n.a.state() == State::Established && n.b.state() == State::Established) {
            assert!(
                n.step(deadline),
                "handshake did not complete: {:?} {:?}",
                n.a.status(),
                n.b.status()
            );
        }
        n
    }

    /// Moves everything both engines want to send onto the link.
    pub fn transmit(&mut self) {
        for from_a in [true, false] {
            loop {
                let c = if from_a { &mut self.a } else { &mut self.b };
                let Some(seg) = c.poll_transmit(self.now, &mut self.buf) else {
                    break;
                };
                let data = self.buf[..seg.payload_len].to_vec();
                if let Some(f) = self.on_send {
                    f(&seg, &data);
                }
                if self.keep_log {
                    self.log.push((self.now, from_a, seg));
                }
                let imp = if from_a { self.a_to_b } else { self.b_to_a };
                if self.rng.chance(imp.loss) {
                    continue;
                }
                let copies = if self.rng.chance(imp.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let mut at = self.now + imp.delay;
                    if self.rng.chance(imp.reorder) {
                        let j = imp.jitter.as_nanos() as u64;
                        at += Duration::from_nanos(self.rng.range(0, j.max(1)));
                    }
                    self.order += 1;
                    self.flight.push(InFlight {
                        at,
                        order: self.order,
                        to_b: from_a,
                        seg,
                        data: data.clone(),
                    });
                }
            }
        }
        let _ = TcpFlags::ACK;
    }

    /// The next instant anything happens (a delivery or a timer).
    pub fn next_event(&self) -> Option<Instant> {
        let d = self.flight.iter().map(|f| f.at).min();
        [d, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Transmits, then advances to the next event (no later than `limit`) and handles it.
    /// Returns `false` when nothing is left to happen before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.transmit();
        let Some(t) = self.next_event() else {
            return false;
        };
        if t > limit {
            return false;
        }
        self.now = self.now.max(t);
        // Deliver every segment due, in arrival order.
        let mut due: Vec<InFlight> = Vec::new();
        let mut i = 0;
        while i < self.flight.len() {
            if self.flight[i].at <= self.now {
                due.push(self.flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|f| (f.at, f.order));
        for f in due {
            let seg = f.seg.as_segment_in(&f.data);
            if f.to_b {
                self.b.on_segment(self.now, &seg);
            } else {
                self.a.on_segment(self.now, &seg);
            }
            self.delivered += 1;
        }
        if self.a.poll_timeout().is_some_and(|d| d <= self.now) {
            self.a.on_timeout(self.now);
        }
        if self.b.poll_timeout().is_some_and(|d| d <= self.now) {
            self.b.on_timeout(self.now);
        }
        true
    }

    /// Runs until `limit` or until nothing more happens.
    pub fn run_until(&mut self, limit: Instant) {
        while self.step(limit) {}
        self.now = self.now.max(limit);
    }

    /// Segments in flight.
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }
}

/// A bidirectional transfer of `bytes` each way with random-size writes and reads; runs
/// until both readers saw end of stream. Returns the virtual time taken.
pub fn transfer_both_ways(
    net: &mut Net,
    bytes: u64,
    max_io: usize,
    time_limit: Duration,
) -> Duration {
    let start = net.now;
    let mut wa = Writer::new(0, bytes, max_io);
    let mut wb = Writer::new(1, bytes, max_io);
    let mut ra = Reader::new(1, max_io);
    let mut rb = Reader::new(0, max_io);
    let mut rng = net.rng.clone();
    let mut buf = vec![0u8; max_io.max(1)];
    let limit = start + time_limit;
    loop {
        wa.pump(&mut net.a, net.now, &mut rng, &mut buf);
        wb.pump(&mut net.b, net.now, &mut rng, &mut buf);
        rb.pump(&mut net.b, &mut rng, &mut buf);
        ra.pump(&mut net.a, &mut rng, &mut buf);
        if ra.eof && rb.eof {
            break;
        }
        assert!(
            net.step(limit),
            "stalled at {:?}: a {:?} wrote {} read {}, b {:?} wrote {} read {}\na {:?}\nb {:?}",
            net.now,
            net.a.state(),
            wa.written,
            ra.read,
            net.b.state(),
            wb.written,
            rb.read,
            net.a.status(),
            net.b.status()
        );
    }
    assert_eq!((ra.read, rb.read), (bytes, bytes));
    net.now - start
}
