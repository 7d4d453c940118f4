//! Buffers are allocated lazily, once, and nothing is allocated per segment (DESIGN.md
//! principle 1): a counting global allocator watches two engines moving data back to back,
//! including out-of-order arrivals and retransmissions.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use synack::{Config, Connection, FourTuple, Instant, Seq, State};

struct Counting;

static COUNT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Only the thread that runs the engines counts: the test harness's own threads (its
    // "running for over 60 seconds" notice, output capture) allocate when they like, and
    // counting them made the test fail now and then on a loaded machine.
    static ON: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    // `try_with`: no panic while the thread-local is being torn down.
    ON.try_with(Cell::get).unwrap_or(false)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Moves data A→B and B→A; every third segment from A is held back one round and delivered
/// after the next (reordering), so the receiver's reassembly path runs too.
fn run(a: &mut Connection, b: &mut Connection, now: &mut Instant, rounds: usize) -> u64 {
    let mut seg_buf = [0u8; 2048];
    let mut held = [0u8; 2048];
    let mut held_seg = None;
    let mut app = [0u8; 3000];
    let mut moved = 0u64;
    let mut k = 0u64;
    for i in 0..rounds {
        app.iter_mut()
            .enumerate()
            .for_each(|(k, x)| *x = (i + k) as u8);
        let _ = a.send(*now, &app[..1000 + (i * 997) % 2000]);
        let _ = b.send(*now, &app[..700]);
        while let Some(s) = a.poll_transmit(*now, &mut seg_buf) {
            k += 1;
            if k % 3 == 0 && held_seg.is_none() && s.payload_len > 0 {
                held[..s.payload_len].copy_from_slice(&seg_buf[..s.payload_len]);
                held_seg = Some(s);
                continue;
            }
            b.on_segment(*now, &s.as_segment_in(&seg_buf[..s.payload_len]));
            if let Some(h) = held_seg.take() {
                b.on_segment(*now, &h.as_segment_in(&held[..h.payload_len]));
            }
        }
        if let Some(h) = held_seg.take() {
            b.on_segment(*now, &h.as_segment_in(&held[..h.payload_len]));
        }
        while let Some(s) = b.poll_transmit(*now, &mut seg_buf) {
            a.on_segment(*now, &s.as_segment_in(&seg_buf[..s.payload_len]));
        }
        while let Ok(n) = b.recv(&mut app) {
            if n == 0 {
                break;
            }
            moved += n as u64;
        }
        while let Ok(n) = a.recv(&mut app) {
            if n == 0 {
                break;
            }
            moved += n as u64;
        }
        *now += synack::Duration::from_millis(1);
        for c in [&mut *a, &mut *b] {
            if c.poll_timeout().is_some_and(|t| t <= *now) {
                c.on_timeout(*now);
            }
        }
    }
    moved
}

#[test]
fn no_allocation_per_segment_in_steady_state() {
    let mut now = Instant::ZERO;
    let ta = FourTuple::new(
        "10.0.0.1:1000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    );
    let tb = FourTuple::new(ta.remote, ta.local);
    let mut a = Connection::connect_with_iss(now, Config::default(), ta, Seq(1), 0);
    let mut b = Connection::listen_with_iss(now, Config::default(), tb, Seq(2), 0);
    // Warm up: handshake, first data (the lazily allocated rings and range set appear).
    let warm = run(&mut a, &mut b, &mut now, 50);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    assert!(warm > 0);
    assert!(b.stats().ooo_queued > 0, "the reassembly path ran");
    ON.with(|on| on.set(true));
    let moved = run(&mut a, &mut b, &mut now, 500);
    ON.with(|on| on.set(false));
    assert!(moved > 500_000, "moved {moved}");
    assert_eq!(
        COUNT.load(Ordering::SeqCst),
        0,
        "heap allocations in steady state"
    );
}
