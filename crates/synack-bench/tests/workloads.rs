//! Every workload completes on small sizes for each implementation, and the Linux
//! namespace is gone after use (when running as root).

use synack_bench::{Bulk, BulkApi, Many, linux, smol, synack_pair};

const SMALL: Bulk = Bulk {
    bytes: 2 << 20,
    mtu: 1500,
    buffer: 256 << 10,
    api: BulkApi::Copy,
};

const SMALL_LENT: Bulk = Bulk {
    api: BulkApi::Lend,
    ..SMALL
};

/// More connections than one wave of handshakes, bytes over several rounds, and an odd
/// round size so writes end mid-segment.
const MANY: Many = Many {
    conns: 2100,
    bytes: 10_000,
    round: 3000,
    buffer: 4608,
};

const BIG_MSS: Bulk = Bulk {
    bytes: 4 << 20,
    mtu: 65535,
    buffer: 256 << 10,
    api: BulkApi::Copy,
};

#[test]
fn synack_workloads_complete() {
    let r = synack_pair::bulk(SMALL).unwrap();
    assert!(r.secs > 0.0);
    assert_eq!(r.stalls, 0, "bulk waited on a timer");
    synack_pair::bulk(BIG_MSS).unwrap();
    let r = synack_pair::bulk(SMALL_LENT).unwrap();
    assert_eq!(r.stalls, 0, "bulk (lent rings) waited on a timer");
    synack_pair::bulk(Bulk {
        api: BulkApi::Lend,
        ..BIG_MSS
    })
    .unwrap();
    synack_pair::request_response(200).unwrap();
    synack_pair::churn(50, None).unwrap();
    synack_pair::churn(50, Some(4608)).unwrap();
    let r = synack_pair::many(MANY).unwrap();
    assert_eq!(r.stalls, 0, "many waited on a timer");
}

#[test]
fn synack_scale_opens_every_connection() {
    let s = synack_pair::scale(3000, 2000).unwrap();
    assert_eq!(s.conns, 3000);
    assert!(s.setup_secs > 0.0);
    assert!(s.demux_ns > 0.0);
    // The oracle baselines and the hot working set ran (every lookup found, checked
    // inside).
    let q = s.oracle;
    for x in [
        q.lookup_ns,
        q.hot_lookup_ns,
        q.hot_lookup_oracle_ns,
        q.receive_ns,
        q.hot_receive_ns,
        q.hot_receive_oracle_ns,
    ] {
        assert!(x > 0.0, "{q:?}");
    }
    // The test binary does not install the counting allocator.
    assert_eq!(s.bytes_per_endpoint, None);
    let few = synack_pair::scale(10, 200).unwrap();
    assert!(few.demux_ns > 0.0);
}

#[test]
fn smoltcp_workloads_complete() {
    let r = smol::bulk(SMALL).unwrap();
    assert!(r.secs > 0.0);
    smol::bulk(BIG_MSS).unwrap();
    smol::bulk(SMALL_LENT).unwrap();
    smol::request_response(200).unwrap();
    smol::churn(50, None).unwrap();
    smol::churn(50, Some(4608)).unwrap();
    smol::many(MANY).unwrap();
}

#[test]
fn linux_workloads_complete_and_namespaces_go() {
    if !linux::available() {
        eprintln!("not root: the Linux baseline is skipped");
        return;
    }
    linux::bulk(SMALL).unwrap();
    linux::request_response(200).unwrap();
    linux::churn(50, Some(4608)).unwrap();
    linux::many(MANY).unwrap();
    let ns = linux::Netns::create(1500, &[]).unwrap();
    let path = format!("/run/netns/{}", ns.name());
    assert!(std::path::Path::new(&path).exists());
    // A failing workload still leaves no namespace behind.
    let err: Result<(), String> = ns.run(|| Err("deliberate".into()));
    assert_eq!(err, Err("deliberate".into()));
    drop(ns);
    assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
}
