//! The driver loop's timers, limits, stop and wake, on a real (idle, down) TUN device in a
//! namespace of the test's own. Without root, `/dev/net/tun` or `ip`: `SKIP: ...`.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use synack::Instant;
use synack_tun::netns::{self, Netns};
use synack_tun::{Driver, Exit, Limits, PacketHandler};

/// Asks to be woken every `period`; counts the wake-ups and everything else it is given.
struct Ticker {
    period: Duration,
    next: Option<Instant>,
    fired: Vec<Instant>,
    received: usize,
}

impl PacketHandler for Ticker {
    fn receive(&mut self, _now: Instant, _packet: &[u8]) {
        self.received += 1;
    }
    fn poll_transmit(&mut self, _now: Instant, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.fired.push(now);
        self.next = Some(now + self.period);
    }
}

fn ticker(period_ms: u64) -> Ticker {
    Ticker {
        period: Duration::from_millis(period_ms),
        next: Some(Instant::ZERO),
        fired: Vec::new(),
        received: 0,
    }
}

#[test]
fn timers_fire_at_their_deadlines_and_limits_end_runs() {
    if !netns::can_run("timers_fire_at_their_deadlines_and_limits_end_runs") {
        return;
    }
    let ns = Netns::new("drvtime").expect("namespace");
    let tun = ns.open_tun("drv0").expect("TUN");
    let mut d = Driver::new(tun, ticker(20)).expect("driver");
    // Runs until the handler has been woken five times.
    let exit = d
        .run(Limits::duration(Duration::from_secs(20)), |h, _| {
            if h.fired.len() >= 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(exit, Exit::Done);
    let fired = &d.handler().fired;
    assert_eq!(fired.len(), 5, "{fired:?}");
    // Never early: each wake-up at least one period after the one before.
    for w in fired.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_millis(20), "{fired:?}");
    }
    assert_eq!(d.stats().timeouts, 5);
    assert_eq!(d.handler().received, 0, "a down device delivers nothing");

    // A turn limit ends the run; a time limit too.
    assert_eq!(
        d.run(
            Limits {
                max_duration: None,
                max_turns: Some(3)
            },
            |_, _| ControlFlow::Continue(())
        )
        .unwrap(),
        Exit::TurnLimit
    );
    assert_eq!(
        d.run(Limits::duration(Duration::from_millis(50)), |_, _| {
            ControlFlow::Continue(())
        })
        .unwrap(),
        Exit::TimeLimit
    );
}

#[test]
fn wake_and_stop_reach_a_sleeping_driver() {
    if !netns::can_run("wake_and_stop_reach_a_sleeping_driver") {
        return;
    }
    let ns = Netns::new("drvwake").expect("namespace");
    let tun = ns.open_tun("drv1").expect("TUN");
    // No deadlines: without a wake the driver would sleep until the 30 s limit.
    let mut idle = ticker(1);
    idle.next = None;
    let mut d = Driver::new(tun, idle).expect("driver");
    let h = d.handle();
    let flag = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let exit = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            flag.store(true, Ordering::SeqCst);
            h.wake();
        });
        d.run(Limits::duration(Duration::from_secs(30)), |_, _| {
            if flag.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap()
    });
    assert_eq!(exit, Exit::Done);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "wake was not seen"
    );
    assert!(!h.is_stopped(), "a wake is not a stop");

    let started = std::time::Instant::now();
    let exit = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            h.stop();
        });
        d.run(Limits::duration(Duration::from_secs(30)), |_, _| {
            ControlFlow::Continue(())
        })
        .unwrap()
    });
    assert_eq!(exit, Exit::Stopped);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stop was not seen"
    );
}
