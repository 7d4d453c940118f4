//! TCP_CONGESTION through the host's socket API (Linux `tcp_set_congestion_control()`).

mod stack_common;

use stack_common::*;
use synack::stack::{Errno, Family, Sysctl};

#[test]
fn tcp_congestion_set_before_connect_on_a_listener_and_on_a_live_connection() {
    let mut net = Net::new();
    let l = listener(&mut net.b, B, 80, 16);
    // The sysctl default before anything is set.
    assert_eq!(net.b.congestion(l), Ok("cubic"));
    assert_eq!(net.b.set_congestion(l, "reno"), Ok(()));
    assert_eq!(net.b.congestion(l), Ok("reno"));
    // Unknown algorithms: ENOENT, and the setting stays.
    assert_eq!(net.b.set_congestion(l, "vegas"), Err(Errno::ENOENT));
    assert_eq!(net.b.congestion(l), Ok("reno"));

    let c = net.a.socket(Family::V4).unwrap();
    // `newreno` (FreeBSD's name) is Reno.
    assert_eq!(net.a.set_congestion(c, "newreno"), Ok(()));
    assert_eq!(net.a.congestion(c), Ok("reno"));
    let _ = net.a.connect(net.now, c, addr(B, 80));
    net.pump();
    // The connection opened with the socket's choice, not the sysctl's CUBIC.
    assert_eq!(net.a.congestion(c), Ok("reno"));
    assert_eq!(net.a.tcp_info(c).unwrap().congestion, "reno");
    // The accepted connection inherits the listener's.
    let (s, _) = net.b.accept(l).unwrap();
    assert_eq!(net.b.congestion(s), Ok("reno"));
    // Switched on a live connection, at once.
    assert_eq!(net.b.set_congestion(s, "cubic"), Ok(()));
    assert_eq!(net.b.congestion(s), Ok("cubic"));
    assert_eq!(net.b.tcp_info(s).unwrap().congestion, "cubic");
    assert_eq!(
        net.b.tcp_info(s).unwrap().pacing_rate,
        0,
        "CUBIC is not paced"
    );
    // BBR, too: it paces from the start (the initial window over the RTT at the STARTUP
    // gain).
    assert_eq!(net.b.set_congestion(s, "bbr"), Ok(()));
    assert_eq!(net.b.tcp_info(s).unwrap().congestion, "bbr");
    assert!(net.b.tcp_info(s).unwrap().pacing_rate > 0);
    let bbr = net.b.bbr_info(s).unwrap().expect("TCP_CC_INFO under BBR");
    assert_eq!(bbr.mode, synack::bbr::Mode::Startup);
    assert_eq!(net.a.bbr_info(c), Ok(None), "not under reno");
    // `ss -i` shows the pacing and delivery rates of a paced connection only.
    let rows: Vec<String> = net.b.ss().iter().map(|r| r.to_string()).collect();
    assert!(
        rows.iter()
            .any(|r| r.contains(" bbr ") && r.contains(" pacing_rate ") && r.contains("bps")),
        "{rows:?}"
    );
    let rows: Vec<String> = net.a.ss().iter().map(|r| r.to_string()).collect();
    assert!(rows.iter().all(|r| !r.contains("pacing_rate")), "{rows:?}");
}

#[test]
fn tcp_congestion_default_follows_the_sysctl() {
    let mut net = Net::with(Sysctl::freebsd(), Sysctl::linux());
    let c = net.a.socket(Family::V4).unwrap();
    assert_eq!(net.a.congestion(c), Ok("reno"));
    net.a.close(net.now, c).unwrap();
    assert_eq!(net.a.congestion(c), Err(Errno::EBADF));
}
