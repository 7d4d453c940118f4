//! SYN options (RFC 9293 §3.7.1 MSS, RFC 7323 window scale and timestamps, RFC 2018
//! SACK-permitted): what is offered, what is agreed, and timestamps/PAWS afterwards.

mod common;
use common::*;
use synack::{
    Config, Connection, FourTuple, Instant, OptionLayout, SegOptions, Seq, State, Timestamps,
};

fn syn_with(options: SegOptions) -> synack::SegmentIn<'static> {
    let mut s = seg(CLIENT_ISS, 0, S, 65535);
    s.options = options;
    s
}

#[test]
fn linux_syn_offers_mss_sackok_ts_wscale_like_the_seed_trace() {
    // Seed: `Flags [S] ... options [mss 1460,sackOK,TS val 383644 ecr 0,nop,wscale 7]`.
    let now = ms(383_644);
    let mut c = Connection::connect_with_iss(now, linux(), client_tuple(), Seq(589530732), 0);
    let syn = one(&mut c, now);
    let o = syn.seg.options;
    assert_eq!(o.mss, Some(1460));
    assert!(o.sack_permitted);
    assert_eq!(
        o.timestamps,
        Some(Timestamps {
            tsval: 383644,
            tsecr: 0
        })
    );
    assert_eq!(o.wscale, Some(7));
    assert_eq!(syn.seg.layout, OptionLayout::Linux);
    // RFC 7323 §2.2: the SYN's window is not scaled.
    assert_eq!(syn.seg.wnd, 65535);
}

#[test]
fn option_layout_is_carried_for_the_serializer() {
    let cfg = Config {
        option_layout: OptionLayout::Bsd,
        ..linux()
    };
    let mut c = Connection::connect_with_iss(Instant::ZERO, cfg, client_tuple(), Seq(1), 0);
    assert_eq!(one(&mut c, Instant::ZERO).seg.layout, OptionLayout::Bsd);
}

#[test]
fn disabled_options_are_neither_offered_nor_accepted() {
    let cfg = Config {
        timestamps: false,
        sack: false,
        window_scaling: false,
        ..linux()
    };
    let mut c = Connection::connect_with_iss(Instant::ZERO, cfg.clone(), client_tuple(), Seq(1), 0);
    let o = one(&mut c, Instant::ZERO).seg.options;
    assert_eq!(
        (o.mss, o.wscale, o.sack_permitted, o.timestamps),
        (Some(1460), None, false, None)
    );
    let mut s = listener(cfg, Instant::ZERO);
    s.on_segment(Instant::ZERO, &syn_with(linux_syn_options(1)));
    let o = one(&mut s, Instant::ZERO).seg.options;
    assert_eq!(
        (o.wscale, o.sack_permitted, o.timestamps),
        (None, false, None)
    );
    let st = s.status();
    assert!(!st.timestamps && !st.sack_permitted && st.snd_wscale == 0 && st.rcv_wscale == 0);
}

#[test]
fn rfc9293_3_7_1_syn_ack_echoes_only_what_the_peer_offered_and_mss_defaults_to_536() {
    let mut s = listener(linux(), Instant::ZERO);
    s.on_segment(Instant::ZERO, &seg(CLIENT_ISS, 0, S, 65535));
    let sa = one(&mut s, Instant::ZERO);
    let o = sa.seg.options;
    assert_eq!(
        (o.mss, o.wscale, o.sack_permitted, o.timestamps),
        (Some(1460), None, false, None)
    );
    let st = s.status();
    assert_eq!(
        (
            st.snd_mss,
            st.timestamps,
            st.sack_permitted,
            st.snd_wscale,
            st.rcv_wscale
        ),
        (536, false, false, 0, 0)
    );
}

#[test]
fn ipv6_mss_is_mtu_minus_60_and_defaults_to_1220() {
    let tuple = FourTuple::new(
        "[2001:db8::2]:80".parse().unwrap(),
        "[2001:db8::1]:40000".parse().unwrap(),
    );
    let mut s = Connection::listen_with_iss(Instant::ZERO, linux(), tuple, Seq(9), 0);
    s.on_segment(Instant::ZERO, &seg(CLIENT_ISS, 0, S, 65535));
    assert_eq!(one(&mut s, Instant::ZERO).seg.options.mss, Some(1440));
    assert_eq!(s.status().snd_mss, 1220);
}

#[test]
fn full_negotiation_both_sides_agree_on_everything() {
    let mut s = listener(linux(), ms(383_292));
    s.on_segment(ms(383_292), &syn_with(linux_syn_options(383644)));
    let sa = one(&mut s, ms(383_292));
    let o = sa.seg.options;
    assert_eq!(o.mss, Some(1460));
    assert_eq!(o.wscale, Some(7));
    assert!(o.sack_permitted);
    // Seed: `[S.] ... TS val 383292 ecr 383644`.
    assert_eq!(
        o.timestamps,
        Some(Timestamps {
            tsval: 383292,
            tsecr: 383644
        })
    );
    let st = s.status();
    assert_eq!(
        (
            st.snd_mss,
            st.timestamps,
            st.sack_permitted,
            st.snd_wscale,
            st.rcv_wscale
        ),
        // MUST-16: 1460 less the 12 bytes of `nop,nop,TS` on every segment, as `ss` shows.
        (1448, true, true, 7, 7)
    );
}

#[test]
fn rfc7323_2_3_shift_above_14_is_clamped() {
    let mut s = listener(linux(), Instant::ZERO);
    let mut o = linux_syn_options(1);
    o.wscale = Some(15);
    s.on_segment(Instant::ZERO, &syn_with(o));
    one(&mut s, Instant::ZERO);
    assert_eq!(s.status().snd_wscale, 14);
}

#[test]
fn rfc7323_2_2_scaling_applies_after_the_handshake_only() {
    let mut s = listener(linux(), Instant::ZERO);
    let mut syn = syn_with(linux_syn_options(100));
    syn.wnd = 29200;
    s.on_segment(Instant::ZERO, &syn);
    one(&mut s, Instant::ZERO);
    assert_eq!(s.status().snd_wnd, 29200, "SYN window unscaled");
    let ack = with_ts(seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 229), 101, 0);
    s.on_segment(Instant::ZERO, &ack);
    assert_eq!(s.state(), State::Established);
    assert_eq!(s.status().snd_wnd, 229 << 7);
    // Our advertised window is scaled down by our shift.
    s.on_segment(
        Instant::ZERO,
        &with_ts(data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"x"), 102, 0),
    );
    let a = one(&mut s, Instant::ZERO);
    assert_eq!(u32::from(a.seg.wnd), s.status().rcv_wnd >> 7);
}

#[test]
fn peer_mss_bounds_segment_size() {
    let mut s = listener(plain(), Instant::ZERO);
    let mut syn = seg(CLIENT_ISS, 0, S, 65535);
    syn.options.mss = Some(100);
    s.on_segment(Instant::ZERO, &syn);
    one(&mut s, Instant::ZERO);
    s.on_segment(
        Instant::ZERO,
        &seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 65535),
    );
    s.send(Instant::ZERO, &[1u8; 250]).unwrap();
    let sizes: Vec<usize> = drain(&mut s, Instant::ZERO)
        .iter()
        .map(|o| o.data.len())
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
}

/// An established Linux-style server (timestamps on) whose TS.Recent is `ts`.
fn ts_server(ts: u32) -> Connection {
    let mut s = listener(linux(), Instant::ZERO);
    s.on_segment(Instant::ZERO, &syn_with(linux_syn_options(ts)));
    one(&mut s, Instant::ZERO);
    s.on_segment(
        Instant::ZERO,
        &with_ts(seg(CLIENT_ISS + 1, SERVER_ISS + 1, A, 229), ts, 0),
    );
    assert_eq!(s.state(), State::Established);
    s
}

#[test]
fn rfc7323_3_2_timestamps_on_every_segment_echoing_ts_recent() {
    let mut s = ts_server(1000);
    s.on_segment(
        ms(5),
        &with_ts(data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"abc"), 1005, 0),
    );
    let a = one(&mut s, ms(5));
    assert_eq!(
        a.seg.options.timestamps,
        Some(Timestamps {
            tsval: 5,
            tsecr: 1005
        })
    );
    s.send(ms(7), b"reply").unwrap();
    let d = one(&mut s, ms(7));
    assert_eq!(
        d.seg.options.timestamps,
        Some(Timestamps {
            tsval: 7,
            tsecr: 1005
        })
    );
    assert_eq!(d.seg.options.mss, None, "MSS only on SYNs");
}

#[test]
fn rfc7323_4_3_ts_recent_is_not_updated_by_segments_beyond_last_ack_sent() {
    let mut s = ts_server(1000);
    // In window but beyond Last.ACK.sent (out of order): TS.Recent stays.
    s.on_segment(
        ms(1),
        &with_ts(
            data(CLIENT_ISS + 10, SERVER_ISS + 1, P | A, b"later"),
            2000,
            0,
        ),
    );
    let a = one(&mut s, ms(1));
    assert_eq!(a.seg.options.timestamps.unwrap().tsecr, 1000);
}

#[test]
fn rfc7323_5_3_paws_drops_old_timestamps_with_an_ack() {
    let mut s = ts_server(1000);
    s.on_segment(
        ms(1),
        &with_ts(data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"old"), 999, 0),
    );
    let a = one(&mut s, ms(1));
    assert_eq!((a.flags(), a.ack()), (A, CLIENT_ISS + 1));
    assert_eq!(s.recv_queued(), 0);
    assert_eq!(s.stats().paws_drops, 1);
    // Wrapped comparison: 0x0000_0010 is after 0xffff_fff0.
    let mut s = ts_server(0xffff_fff0);
    s.on_segment(
        ms(1),
        &with_ts(data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"new"), 0x10, 0),
    );
    assert_eq!(s.recv_queued(), 3);
}

#[test]
fn rfc7323_5_3_paws_does_not_apply_to_rst() {
    let mut s = ts_server(1000);
    s.on_segment(ms(1), &with_ts(seg(CLIENT_ISS + 1, 0, R, 0), 5, 0));
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn rfc7323_3_2_segment_without_timestamps_is_dropped_once_negotiated() {
    let mut s = ts_server(1000);
    s.on_segment(ms(1), &data(CLIENT_ISS + 1, SERVER_ISS + 1, P | A, b"bare"));
    none(&mut s, ms(1));
    assert_eq!(s.recv_queued(), 0);
}

#[test]
fn two_linux_engines_negotiate_and_keep_timestamps_running() {
    let now = ms(383_644);
    let s = listener(linux(), now);
    let c = Connection::connect_with_iss(now, linux(), client_tuple(), Seq(589530732), 0);
    let mut p = Pair::new(c, s, now);
    p.exchange();
    assert_eq!(
        (p.a.state(), p.b.state()),
        (State::Established, State::Established)
    );
    for side in [p.a.status(), p.b.status()] {
        assert!(side.timestamps && side.sack_permitted);
        assert_eq!(
            (side.snd_wscale, side.rcv_wscale, side.snd_mss),
            (7, 7, 1448)
        );
    }
    p.a.send(p.now, &[5u8; 3000]).unwrap();
    p.exchange();
    let mut buf = [0u8; 4000];
    assert_eq!(p.b.recv(&mut buf), Ok(3000));
    let sizes: Vec<usize> = p
        .log
        .iter()
        .filter(|(_, s, _)| *s == Side::A)
        .map(|(_, _, o)| o.data.len())
        .collect();
    assert_eq!(
        sizes,
        [0, 0, 1448, 1448, 104],
        "full segments are 1448 bytes with timestamps"
    );
    // Every segment after the SYNs carries timestamps.
    assert!(
        p.log
            .iter()
            .all(|(_, _, o)| o.seg.options.timestamps.is_some())
    );
    p.a.close(p.now).unwrap();
    p.b.close(p.now).unwrap();
    p.exchange();
    assert_eq!(
        (p.a.state(), p.b.state()),
        (State::TimeWait, State::TimeWait)
    );
}

#[test]
fn syn_cookie_completion_rebuilds_the_negotiated_connection() {
    let now = ms(10);
    let cookie = Seq(0x1234_5678);
    // The SYN as the host reconstructs it from the cookie: IRS, MSS, wscale, SACK, TS.
    let mut syn = seg(CLIENT_ISS, 0, S, 65535);
    syn.options = linux_syn_options(777);
    let ack = with_ts(
        data(CLIENT_ISS + 1, cookie.get() + 1, P | A, b"GET"),
        778,
        10,
    );
    let mut s = Connection::from_syn_cookie(now, linux(), server_tuple(), cookie, 0, &syn, &ack)
        .expect("handshake completes");
    assert_eq!(s.state(), State::Established);
    let st = s.status();
    assert_eq!(
        (st.iss, st.snd_una, st.irs, st.rcv_nxt),
        (cookie, cookie + 1u32, Seq(CLIENT_ISS), Seq(CLIENT_ISS + 4))
    );
    assert!(st.timestamps && st.sack_permitted && st.snd_wscale == 7);
    assert_eq!(s.poll_timeout(), None);
    // The first thing sent is the ACK of the text, echoing the ACK's TSval.
    let a = one(&mut s, now);
    assert_eq!((a.flags(), a.ack()), (A, CLIENT_ISS + 4));
    assert_eq!(a.seg.options.timestamps.unwrap().tsecr, 778);
    let mut buf = [0u8; 8];
    assert_eq!(s.recv(&mut buf), Ok(3));
    // A wrong cookie (ACK not acknowledging ISS+1) does not complete it.
    let bad = with_ts(seg(CLIENT_ISS + 1, cookie.get() + 9, A, 100), 778, 10);
    assert!(
        Connection::from_syn_cookie(now, linux(), server_tuple(), cookie, 0, &syn, &bad).is_none()
    );
}
