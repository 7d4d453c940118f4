//! `synack_tun::tokio`: an async echo server and client on our stack against Linux's TCP
//! inside a namespace of the test's own (198.18.0.0/24 only), many connections at once
//! on one driver task. Without root, `/dev/net/tun` or `ip`: `SKIP: ...`.
#![cfg(feature = "tokio")]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack::stack::Stack;
use synack_tun::netns::{self, Netns, TunNet};
use synack_tun::tokio::{Net, TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LEN: usize = 1024 * 1024;
const CONNS: usize = 8;

fn pattern(n: usize, salt: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 13 + i / 509 + salt) % 256) as u8)
        .collect()
}

#[test]
fn tokio_echo_server_and_client_against_linux() {
    let test = "tokio_echo_server_and_client_against_linux";
    if !netns::can_run(test) {
        return;
    }
    let ns = Netns::new("tokio").expect("namespace");
    let cfg = TunNet::default();
    let tun = ns.tun_network(&cfg).expect("TUN network");
    let ours = SocketAddr::new(IpAddr::V4(cfg.ours_v4), 7);
    let theirs = SocketAddr::new(IpAddr::V4(cfg.kernel_v4), 7007);

    // Linux echo server (kernel sockets opened inside the namespace).
    let linux_listener = ns
        .run_in(move || std::net::TcpListener::bind(theirs))
        .unwrap()
        .unwrap();
    // Linux clients' sockets, made inside the namespace (not yet connected).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut stack = Stack::with_address([5; 16], IpAddr::V4(cfg.ours_v4));
        stack.add_address(IpAddr::V6(cfg.ours_v6));
        let (net, driver) = Net::spawn(tun, stack).expect("driver task");

        // Our echo server.
        let l = TcpListener::bind(&net, ours, 64).expect("listen");
        let server = tokio::spawn(async move {
            for _ in 0..CONNS {
                let (mut s, _) = l.accept().await?;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = s.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n]).await?;
                    }
                    s.shutdown().await
                });
            }
            Ok::<_, std::io::Error>(l)
        });

        // Linux clients, each on a blocking thread in the namespace.
        let mut clients = Vec::new();
        for i in 0..CONNS {
            let h = ns
                .spawn_in(move || {
                    use std::io::{Read, Write};
                    let mut s =
                        std::net::TcpStream::connect_timeout(&ours, Duration::from_secs(10))?;
                    s.set_read_timeout(Some(Duration::from_secs(30)))?;
                    let mut r = s.try_clone()?;
                    let t = std::thread::spawn(move || {
                        let mut got = Vec::new();
                        r.read_to_end(&mut got).map(|_| got)
                    });
                    s.write_all(&pattern(LEN / 4, i))?;
                    s.shutdown(std::net::Shutdown::Write)?;
                    let got = t.join().expect("reader")?;
                    Ok::<_, std::io::Error>(got == pattern(LEN / 4, i))
                })
                .unwrap();
            clients.push(h);
        }

        // Linux echo server thread.
        let linux = std::thread::spawn(move || -> std::io::Result<()> {
            use std::io::{Read, Write};
            let (mut s, _) = linux_listener.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut buf = vec![0u8; 65536];
            loop {
                let n = s.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n])?;
            }
            s.shutdown(std::net::Shutdown::Write)
        });

        // Our client against Linux, both directions at once.
        let c = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&net, theirs))
            .await
            .expect("connect in time")
            .expect("connect");
        c.set_nodelay(true).unwrap();
        assert_eq!(c.peer_addr().unwrap(), theirs);
        let (mut rd, mut wr) = tokio::io::split(c);
        let writer = tokio::spawn(async move {
            wr.write_all(&pattern(LEN, 99)).await?;
            wr.shutdown().await
        });
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut got))
            .await
            .expect("echo in time")
            .expect("read");
        writer.await.unwrap().expect("write");
        assert!(got == pattern(LEN, 99), "echo from Linux differs");
        linux.join().unwrap().expect("linux echo");

        let l = tokio::time::timeout(Duration::from_secs(60), server)
            .await
            .expect("all accepted")
            .unwrap()
            .expect("server");
        for h in clients {
            assert!(
                h.join().unwrap().expect("setns").expect("client"),
                "echo from synack differs"
            );
        }
        let ss = net.ss_text();
        assert!(ss.contains("LISTEN") && ss.contains("198.18.0.2:7"), "{ss}");
        drop(l);
        net.stop();
        let (_tun, stats) = driver.await.unwrap().expect("driver");
        assert_eq!(stats.send_errors, 0, "{stats:?}");
    });
    drop(ns);
}
