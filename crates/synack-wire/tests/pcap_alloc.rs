//! Allocation behaviour of the readers, measured with a counting global allocator: no
//! allocation per packet once the buffer has grown, and no allocation sized by a hostile
//! length field. (One test per binary: the counters are process-wide.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use synack_wire::pcap::{
    ByteOrder, CaptureReader, LinkType, PcapWriter, PcapngWriter, Timestamp, TsPrecision,
};

struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// atomics and do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: same layout contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    COUNT.store(0, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
    let t = f();
    ON.store(false, Ordering::Relaxed);
    (
        t,
        COUNT.load(Ordering::Relaxed),
        LARGEST.load(Ordering::Relaxed),
    )
}

#[test]
fn readers_allocate_neither_per_packet_nor_by_hostile_lengths() {
    // 2000 packets, the largest first so the buffer grows once.
    let sizes = (0..2000).map(|i| if i == 0 { 1500 } else { (i * 37) % 1500 });
    let mut pcap = PcapWriter::new(Vec::new(), LinkType::RAW, 0, TsPrecision::Nano).unwrap();
    let mut ng = PcapngWriter::with_byte_order(Vec::new(), ByteOrder::Big).unwrap();
    let a = ng
        .add_interface(LinkType::ETHERNET, 0, TsPrecision::Micro)
        .unwrap();
    let b = ng
        .add_interface(LinkType::RAW, 0, TsPrecision::Nano)
        .unwrap();
    for (i, n) in sizes.enumerate() {
        let data = vec![i as u8; n];
        let ts = Timestamp::new(i as i64, 0);
        pcap.write_packet(ts, &data, n as u32).unwrap();
        ng.write_packet(if i % 2 == 0 { a } else { b }, ts, &data, n as u32)
            .unwrap();
    }
    for file in [pcap.into_inner(), ng.into_inner()] {
        let mut r = CaptureReader::new(&file[..]).unwrap();
        // Warm up: the first (largest) packet sizes the buffer.
        assert_eq!(r.next_packet().unwrap().unwrap().data.len(), 1500);
        let (n, allocs, _) = measure(|| {
            let mut n = 0;
            while let Some(p) = r.next_packet() {
                p.unwrap();
                n += 1;
            }
            n
        });
        assert_eq!(n, 1999);
        assert_eq!(allocs, 0, "reading 1999 packets allocated {allocs} times");
        // The slice reader never allocates for packets at all.
        let mut r = CaptureReader::from_slice(&file).unwrap();
        let (_, allocs, _) = measure(|| while r.next_packet().is_some() {});
        assert_eq!(allocs, 0);
    }

    // A record claiming 256 KiB in a 60-byte file, and a pcapng block claiming 16 MiB.
    let mut hostile = PcapWriter::new(Vec::new(), LinkType::RAW, 0, TsPrecision::Micro)
        .unwrap()
        .into_inner();
    for f in [1u32, 0, 262_144, 262_144] {
        hostile.extend_from_slice(&f.to_le_bytes());
    }
    hostile.extend_from_slice(&[0x45; 20]);
    let mut ng = PcapngWriter::new(Vec::new()).unwrap();
    ng.add_interface(LinkType::RAW, 0, TsPrecision::Micro)
        .unwrap();
    let mut hostile_ng = ng.into_inner();
    hostile_ng.extend_from_slice(&6u32.to_le_bytes());
    hostile_ng.extend_from_slice(&(16u32 << 20).to_le_bytes());
    hostile_ng.extend_from_slice(&[0; 40]);
    for file in [hostile, hostile_ng] {
        let (res, _, largest) = measure(|| {
            let mut r = CaptureReader::new(&file[..]).unwrap();
            let p = r.next_packet().map(|p| p.map(|p| p.data.len()));
            format!("{p:?}")
        });
        assert!(res.contains("Truncated"), "{res}");
        assert!(
            largest <= 4096,
            "a hostile length caused a {largest}-byte allocation"
        );
    }
}
