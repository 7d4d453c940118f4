//! Goodput through the impairment bridge (root only; namespaces of its own, addresses in
//! 198.18.0.0/15 that exist only there). The same link model ([`Impairment`]: one-way
//! delay, loss, reordering, applied once per direction) sits:
//!
//! - between two TUN devices in two namespaces (a forwarder of two [`Driver`]s, the model
//!   on one of them), with Linux's TCP at both ends: the baseline;
//! - between a TUN device and our stack ([`SharedDriver`] of an [`Impaired`] stack), with
//!   Linux at the other end; our stack sends, then receives.
//!
//! Usage: `impair_bench [RUNS] [MEGABYTES] [LOSS_PERCENT] [DELAY_MS] [LINUX_CC]` (defaults
//! 3, 4, 1, 20, cubic; the congestion control of the Linux ends). Prints Markdown table rows (median, then every run) in Mbit/s of goodput.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use synack::stack::{Errno, Family, RecvFlags, Stack};
use synack_tun::impair::{Impaired, Impairment};
use synack_tun::netns::{self, Netns, TunNet};
use synack_tun::{Driver, DriverHandle, Limits, PacketHandler, SharedDriver};

type Res<T> = Result<T, Box<dyn std::error::Error>>;
type Q = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// One side of a forwarder: what the device gives goes to the peer's queue.
struct Pipe {
    out_to_peer: Q,
    from_peer: Q,
    peer: Option<DriverHandle>,
}

impl PacketHandler for Pipe {
    fn receive(&mut self, _now: synack::Instant, p: &[u8]) {
        let mut q = self.out_to_peer.lock().unwrap_or_else(|e| e.into_inner());
        // A bounded queue, as a router's.
        if q.len() < 4096 {
            q.push_back(p.to_vec());
        }
        drop(q);
        if let Some(h) = &self.peer {
            h.wake();
        }
    }
    fn poll_transmit(&mut self, _now: synack::Instant, buf: &mut [u8]) -> Option<usize> {
        let p = self
            .from_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()?;
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        Some(n)
    }
    fn poll_timeout(&mut self) -> Option<synack::Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: synack::Instant) {}
}

fn net(tun: &str, kernel: [u8; 4], ours: [u8; 4]) -> TunNet {
    TunNet {
        tun_name: tun.into(),
        kernel_v4: Ipv4Addr::from(kernel),
        ours_v4: Ipv4Addr::from(ours),
        prefix_v4: 24,
        kernel_v6: None,
        ..TunNet::default()
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn row(name: &str, mut v: Vec<f64>) {
    let all: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
    let m = median(&mut v);
    println!("| {name} | {m:.2} Mbit/s | {} |", all.join(", "));
}

fn mbit(n: u64, t: Instant) -> f64 {
    n as f64 * 8.0 / t.elapsed().as_secs_f64() / 1e6
}

/// Writes `n` bytes, half-closes, reads to EOF; goodput from connect to the peer's FIN.
fn send_n(s: &mut TcpStream, n: u64, t: Instant) -> std::io::Result<f64> {
    let buf = vec![0x61u8; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..k])?;
        left -= k as u64;
    }
    s.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 1024];
    while s.read(&mut sink)? != 0 {}
    Ok(mbit(n, t))
}

/// Reads to EOF; returns the bytes read.
fn drain(s: &mut TcpStream) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    loop {
        let k = s.read(&mut buf)?;
        if k == 0 {
            return Ok(got);
        }
        got += k as u64;
    }
}

/// `TCP_CONGESTION` on a Linux socket (per socket: a namespace may not change the default).
fn set_cc(s: &TcpStream, cc: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt with a live buffer of the given length on an open socket.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            cc.as_ptr().cast(),
            cc.len() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.first().map_or(Ok(3), |s| s.parse())?;
    let bytes: u64 = args.get(1).map_or(Ok(4), |s| s.parse::<u64>())? * 1_000_000;
    let loss: f64 = args.get(2).map_or(Ok(1.0), |s| s.parse::<f64>())? / 100.0;
    let delay: u64 = args.get(3).map_or(Ok(20), |s| s.parse())?;
    let cc = args.get(4).cloned().unwrap_or_else(|| "cubic".into());
    if !netns::can_run("impair_bench") {
        return Ok(());
    }
    let link = |seed| Impairment {
        delay: Duration::from_millis(delay),
        loss,
        reorder: 0.01,
        reorder_delay: Duration::from_millis(2),
        seed,
    };
    let limit = Limits::duration(Duration::from_secs(600));
    println!("| case | median | runs |");
    println!("|---|---|---|");

    // Linux ↔ Linux through the forwarder; the model on device a's driver only (so each
    // direction crosses it once).
    {
        let a = Netns::new("impa")?;
        let b = Netns::new("impb")?;
        let ta = a.tun_network(&net("ima0", [198, 18, 4, 1], [198, 18, 4, 2]))?;
        let tb = b.tun_network(&net("imb0", [198, 18, 4, 2], [198, 18, 4, 1]))?;
        let (ab, ba): (Q, Q) = Default::default();
        let mut da = Driver::new(
            ta,
            Impaired::new(
                Pipe {
                    out_to_peer: ab.clone(),
                    from_peer: ba.clone(),
                    peer: None,
                },
                link(11),
            ),
        )?;
        let mut db = Driver::new(
            tb,
            Pipe {
                out_to_peer: ba,
                from_peer: ab,
                peer: None,
            },
        )?;
        let (ha, hb) = (da.handle(), db.handle());
        da.handler_mut().inner_mut().peer = Some(hb.clone());
        db.handler_mut().peer = Some(ha.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<std::thread::JoinHandle<()>> = [
            {
                let s = stop.clone();
                std::thread::spawn(move || {
                    let _ = da.run(limit, |_, _| {
                        if s.load(Ordering::Relaxed) {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    });
                })
            },
            {
                let s = stop.clone();
                std::thread::spawn(move || {
                    let _ = db.run(limit, |_, _| {
                        if s.load(Ordering::Relaxed) {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    });
                })
            },
        ]
        .into();
        let handles = [ha, hb];
        let srv = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 4, 2)), 5001);
        let l = b.run_in(move || TcpListener::bind(srv))??;
        let mut v = Vec::new();
        for _ in 0..runs {
            let cc = cc.clone();
            let client = a.spawn_in(move || {
                let t = Instant::now();
                let mut c = TcpStream::connect_timeout(&srv, Duration::from_secs(20))?;
                c.set_read_timeout(Some(Duration::from_secs(120)))?;
                set_cc(&c, &cc)?;
                send_n(&mut c, bytes, t)
            })?;
            let (mut s, _) = l.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            drain(&mut s)?;
            drop(s);
            v.push(client.join().map_err(|_| "client panicked")???);
        }
        row(&format!("Linux ({cc}) → Linux through the bridge"), v);
        stop.store(true, Ordering::Relaxed);
        for h in &handles {
            h.wake();
        }
        for t in threads {
            let _ = t.join();
        }
    }

    // Our stack behind the same model, Linux on the other side of the device.
    {
        let ns = Netns::new("impc")?;
        let tun = ns.tun_network(&net("imc0", [198, 18, 5, 1], [198, 18, 5, 2]))?;
        let ours = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 5, 2)), 5002);
        let stack = Stack::with_address([4; 16], ours.ip());
        let d = SharedDriver::spawn(tun, Impaired::new(stack, link(12)), limit)?;
        let l = d.with(|h, _| {
            let st = h.inner_mut();
            let l = st.socket(Family::V4)?;
            st.bind(l, ours)?;
            st.listen(l, 8)?;
            Ok::<_, Errno>(l)
        })?;
        let step = Duration::from_secs(120);
        let mut tx = Vec::new();
        let mut rx = Vec::new();
        for _ in 0..runs {
            // We send: Linux measures from connect to our FIN.
            let client = ns.spawn_in(move || {
                let t = Instant::now();
                let mut c = TcpStream::connect_timeout(&ours, Duration::from_secs(20))?;
                c.set_read_timeout(Some(Duration::from_secs(120)))?;
                let n = drain(&mut c)?;
                Ok::<_, std::io::Error>(mbit(n, t))
            })?;
            let (c, _) = d
                .wait_for(step, |h, _| h.inner_mut().accept(l).ok())
                .ok_or("no connection")?;
            let chunk = vec![0x62u8; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let k = left.min(chunk.len() as u64) as usize;
                let w = d
                    .wait_for(step, |h, now| {
                        match h.inner_mut().send(now, c, &chunk[..k]) {
                            Err(Errno::EAGAIN) => None,
                            r => Some(r),
                        }
                    })
                    .ok_or("send timed out")??;
                left -= w as u64;
            }
            d.with(|h, now| {
                h.inner_mut()
                    .shutdown(now, c, synack::stack::Shutdown::Write)
            })?;
            tx.push(client.join().map_err(|_| "client panicked")???);
            d.with(|h, now| h.inner_mut().close(now, c))?;

            // We receive: Linux sends and waits for our FIN.
            let cc = cc.clone();
            let client = ns.spawn_in(move || {
                let t = Instant::now();
                let mut c = TcpStream::connect_timeout(&ours, Duration::from_secs(20))?;
                c.set_read_timeout(Some(Duration::from_secs(120)))?;
                set_cc(&c, &cc)?;
                send_n(&mut c, bytes, t)
            })?;
            let (c, _) = d
                .wait_for(step, |h, _| h.inner_mut().accept(l).ok())
                .ok_or("no connection")?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = d
                    .wait_for(step, |h, now| {
                        match h.inner_mut().recv(now, c, &mut buf, RecvFlags::default()) {
                            Err(Errno::EAGAIN) => None,
                            r => Some(r),
                        }
                    })
                    .ok_or("recv timed out")??;
                if n == 0 {
                    break;
                }
            }
            d.with(|h, now| h.inner_mut().close(now, c))?;
            rx.push(client.join().map_err(|_| "client panicked")???);
        }
        row("synack → Linux through the bridge", tx);
        row(&format!("Linux ({cc}) → synack through the bridge"), rx);
        let stats = d.with(|h, _| h.stats().clone());
        eprintln!("bridge counters (our side): {stats:?}");
    }
    Ok(())
}
