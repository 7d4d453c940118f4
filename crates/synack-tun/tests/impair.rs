//! The impairment bridge on real packets: a Linux client (kernel socket in a namespace of
//! the test's own, 198.18.0.0/24 only) exchanges data both ways with our echo server
//! through 1% loss each way, 20 ms of one-way delay and 2% reordering; every byte must
//! come back exact. Without root, `/dev/net/tun` or `ip`: `SKIP: ...`.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use synack::stack::{Errno, Family, RecvFlags, Stack};
use synack_tun::impair::{Impaired, Impairment};
use synack_tun::netns::{self, Netns, TunNet};
use synack_tun::{Limits, SharedDriver};

const LEN: usize = 512 * 1024;
const STEP: Duration = Duration::from_secs(20);

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

#[test]
fn echo_through_loss_delay_and_reordering_is_byte_exact() {
    let test = "echo_through_loss_delay_and_reordering_is_byte_exact";
    if !netns::can_run(test) {
        return;
    }
    let ns = Netns::new("impair").expect("namespace");
    let cfg = TunNet::default();
    let tun = ns.tun_network(&cfg).expect("TUN network");
    let stack = Stack::with_address([9; 16], IpAddr::V4(cfg.ours_v4));
    let link = Impairment {
        delay: Duration::from_millis(20),
        loss: 0.01,
        reorder: 0.02,
        reorder_delay: Duration::from_millis(3),
        seed: 7,
    };
    let d = SharedDriver::spawn(
        tun,
        Impaired::new(stack, link),
        Limits::duration(Duration::from_secs(120)),
    )
    .expect("driver");
    let ours = SocketAddr::new(IpAddr::V4(cfg.ours_v4), 7);
    let l = d
        .with(|h, _| {
            let st = h.inner_mut();
            let l = st.socket(Family::V4)?;
            st.bind(l, ours)?;
            st.listen(l, 8)?;
            Ok::<_, Errno>(l)
        })
        .expect("listen");
    let client = ns
        .spawn_in(move || {
            let mut s = std::net::TcpStream::connect_timeout(&ours, Duration::from_secs(20))?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            let mut r = s.try_clone()?;
            let t = std::thread::spawn(move || {
                let mut got = Vec::new();
                r.read_to_end(&mut got).map(|_| got)
            });
            s.write_all(&pattern(LEN))?;
            s.shutdown(Shutdown::Write)?;
            t.join().expect("reader")
        })
        .expect("client");

    let (c, _) = d
        .wait_for(STEP, |h, _| h.inner_mut().accept(l).ok())
        .expect("accepted");
    let started = Instant::now();
    let mut buf = vec![0u8; 32 * 1024];
    let mut echoed = 0usize;
    loop {
        assert!(started.elapsed() < Duration::from_secs(90), "too slow");
        let n = d
            .wait_for(STEP, |h, now| {
                match h.inner_mut().recv(now, c, &mut buf, RecvFlags::default()) {
                    Err(Errno::EAGAIN) => None,
                    r => Some(r),
                }
            })
            .expect("read in time")
            .expect("read");
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            let k = d
                .wait_for(STEP, |h, now| {
                    match h.inner_mut().send(now, c, &buf[off..n]) {
                        Err(Errno::EAGAIN) => None,
                        r => Some(r),
                    }
                })
                .expect("write in time")
                .expect("write");
            off += k;
        }
        echoed += n;
    }
    d.with(|h, now| {
        h.inner_mut()
            .shutdown(now, c, synack::stack::Shutdown::Write)
    })
    .expect("half-close");
    let got = client.join().unwrap().expect("setns").expect("client");
    assert_eq!(echoed, LEN);
    assert!(got == pattern(LEN), "echo differs after the impaired link");
    let stats = d.with(|h, _| h.stats().clone());
    // The link really was impaired in both directions.
    assert!(stats.lost_in > 0 && stats.lost_out > 0, "{stats:?}");
    assert!(stats.reordered > 0, "{stats:?}");
    println!(
        "impaired echo of {LEN} bytes each way in {:.2} s; {stats:?}",
        started.elapsed().as_secs_f64()
    );
}
