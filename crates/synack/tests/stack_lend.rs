//! The lending send and receive calls (`Stack::send_with`, `Stack::recv_with`): the same
//! application steps through them and through the copying `send`/`recv` give the same
//! bytes to the reader and the same datagrams on the wire, across ring wraps, partial
//! takes and an urgent mark.

mod stack_common;

use stack_common::*;
use synack::Duration;
use synack::stack::{Errno, Family, RecvFlags, SockOpt, SocketId};

/// Captured datagrams in order: (sent by a, bytes).
type Log = std::rc::Rc<std::cell::RefCell<Vec<(bool, Vec<u8>)>>>;

/// A deterministic xorshift.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Moves `total` bytes from a to b in random-sized application steps, small buffers so
/// both rings wrap many times; an urgent byte goes at step 40. With `lend`, the writes
/// and reads go through the closures (each taking at most the step's size in total, in
/// one or two slices), otherwise through `send`/`recv` with slices of that size. Returns
/// what b read and every datagram moved.
fn run(lend: bool, total: usize) -> (Vec<u8>, Vec<(bool, Vec<u8>)>) {
    let mut net = Net::new();
    let log: Log = Default::default();
    let l2 = log.clone();
    net.tap = Some(Box::new(move |from_a, pkt| {
        l2.borrow_mut().push((from_a, pkt.to_vec()));
        true
    }));
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    net.a.setsockopt(c, SockOpt::SndBuf(3000)).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _): (SocketId, _) = net.b.accept(l).unwrap();
    net.b.setsockopt(s, SockOpt::RcvBuf(5000)).unwrap();
    let data: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut sent, mut got) = (0usize, Vec::new());
    let mut step = 0;
    // The urgent byte is taken out of band, so the reader sees one byte less.
    while got.len() < total - 1 && step < 100_000 {
        step += 1;
        let now = net.now;
        if step == 40 && sent < total {
            let n = net.a.send_urgent(now, c, &data[sent..sent + 1]).unwrap();
            sent += n;
        }
        let want = (rng.below(4000) + 1).min(total - sent);
        if want > 0 {
            let r = if lend {
                let mut left = want;
                let mut at = sent;
                net.a.send_with(now, c, |free| {
                    let k = free.len().min(left);
                    free[..k].copy_from_slice(&data[at..at + k]);
                    left -= k;
                    at += k;
                    k
                })
            } else {
                net.a.send(now, c, &data[sent..sent + want])
            };
            match r {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN) => {}
                Err(e) => panic!("send: {e:?}"),
            }
        }
        net.pump();
        let want = rng.below(3000);
        let r = if lend {
            let mut left = want;
            net.b.recv_with(now, s, |bytes| {
                let k = bytes.len().min(left);
                got.extend_from_slice(&bytes[..k]);
                left -= k;
                k
            })
        } else {
            let mut buf = vec![0u8; want];
            let r = net.b.recv(now, s, &mut buf, RecvFlags::default());
            if let Ok(n) = r {
                got.extend_from_slice(&buf[..n]);
            }
            r
        };
        match r {
            Ok(_) | Err(Errno::EAGAIN) => {}
            Err(e) => panic!("recv: {e:?}"),
        }
        net.pump();
        net.advance(Duration::from_millis(1));
    }
    let log = log.borrow().clone();
    (got, log)
}

#[test]
fn lending_calls_match_the_copying_calls_on_the_wire_and_in_the_bytes() {
    let total = 200_000;
    let (copied, wire_copy) = run(false, total);
    let (lent, wire_lend) = run(true, total);
    assert_eq!(copied.len(), total - 1);
    assert_eq!(lent, copied);
    assert_eq!(wire_lend.len(), wire_copy.len());
    assert!(wire_lend == wire_copy, "the datagrams differ");
}

#[test]
fn lending_calls_report_full_buffers_and_end_of_stream() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    let c = net.a.socket(Family::V4).unwrap();
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    let (s, _) = net.b.accept(l).unwrap();
    let now = net.now;
    // Nothing to read yet: EAGAIN without calling the closure.
    assert_eq!(
        net.b.recv_with(now, s, |_| unreachable!("no data")),
        Err(Errno::EAGAIN)
    );
    // A closure that writes nothing queues nothing.
    assert_eq!(net.a.send_with(now, c, |_| 0), Ok(0));
    // Fill the send buffer (the peer's window is not opened by reading).
    let mut queued = 0;
    loop {
        match net.a.send_with(now, c, |free| {
            free.fill(0xab);
            free.len()
        }) {
            Ok(n) => queued += n,
            Err(Errno::EAGAIN) => break,
            Err(e) => panic!("{e:?}"),
        }
        net.pump();
        assert!(queued < 64 << 20, "the send buffer never fills");
    }
    assert_eq!(
        net.a.send_with(now, c, |_| unreachable!("full")),
        Err(Errno::EAGAIN)
    );
    // Read it all in place, then the peer's FIN is the end of the stream.
    net.a
        .shutdown(now, c, synack::stack::Shutdown::Write)
        .unwrap();
    let mut read = 0;
    loop {
        net.pump();
        match net.b.recv_with(net.now, s, |bytes| {
            assert!(bytes.iter().all(|&b| b == 0xab));
            bytes.len()
        }) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(Errno::EAGAIN) => net.advance(Duration::from_millis(10)),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(read, queued);
}
