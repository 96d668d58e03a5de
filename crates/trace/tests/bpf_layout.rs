//! The Rust decoder reads `struct tm_event` at the offsets `crates/kernel/bpf/watch.h` asserts
//! (its `_Static_assert`s are what clang compiled the programs against).

use tcpmortem_trace::bpf::{RECORD_SIZE, off};

#[test]
fn decoder_offsets_match_the_c_header() {
    let h = include_str!("../../kernel/bpf/watch.h");
    let ours = [
        ("ts_ns", off::TS_NS),
        ("cookie", off::COOKIE),
        ("start_ns", off::START_NS),
        ("bytes_acked", off::BYTES_ACKED),
        ("bytes_received", off::BYTES_RECEIVED),
        ("bytes_sent", off::BYTES_SENT),
        ("bytes_retrans", off::BYTES_RETRANS),
        ("netns", off::NETNS),
        ("pid", off::PID),
        ("reason", off::REASON),
        ("sk_err", off::SK_ERR),
        ("sk_err_soft", off::SK_ERR_SOFT),
        ("total_retrans", off::TOTAL_RETRANS),
        ("srtt_us", off::SRTT_US),
        ("rcv_unread", off::RCV_UNREAD),
        ("send_q", off::SEND_Q),
        ("in_flight", off::IN_FLIGHT),
        ("sport", off::SPORT),
        ("dport", off::DPORT),
        ("kind", off::KIND),
        ("family", off::FAMILY),
        ("state", off::STATE),
        ("flags", off::FLAGS),
        ("tcp_flags", off::TCP_FLAGS),
        ("new_state", off::NEW_STATE),
        ("saddr", off::SADDR),
        ("daddr", off::DADDR),
        ("comm", off::COMM),
    ];
    let mut asserted = 0;
    for line in h.lines() {
        let Some(rest) = line.strip_prefix("_Static_assert(__builtin_offsetof(struct tm_event, ")
        else {
            continue;
        };
        let (field, rest) = rest.split_once(')').unwrap();
        let n: usize = rest
            .trim_start_matches(" == ")
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mine = ours
            .iter()
            .find(|(f, _)| *f == field)
            .unwrap_or_else(|| panic!("{field} not decoded"));
        assert_eq!(mine.1, n, "offset of {field}");
        asserted += 1;
    }
    assert_eq!(asserted, ours.len(), "every field is asserted in watch.h");
    assert!(h.contains(&format!("sizeof(struct tm_event) == {RECORD_SIZE}")));
}
