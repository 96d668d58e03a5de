//! The Rust decoders read `struct tm_event` and `struct tc_call` at the offsets
//! `crates/kernel/bpf/watch.h` and `calls.h` assert (their `_Static_assert`s are what clang
//! compiled the programs against).

use tcpmortem_trace::bpf::{RECORD_SIZE, off};

/// Checks every `_Static_assert(__builtin_offsetof(struct NAME, field) == N)` of header `h`
/// against `ours`, and that every field of `ours` is asserted.
fn assert_offsets(h: &str, name: &str, ours: &[(&str, usize)]) {
    let prefix = format!("_Static_assert(__builtin_offsetof(struct {name}, ");
    let mut asserted = 0;
    for line in h.lines() {
        let Some(rest) = line.strip_prefix(prefix.as_str()) else {
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
    assert_eq!(asserted, ours.len(), "every field of {name} is asserted");
}

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
    assert_offsets(h, "tm_event", &ours);
    assert!(h.contains(&format!("sizeof(struct tm_event) == {RECORD_SIZE}")));
}

#[test]
fn call_decoder_offsets_match_the_c_header() {
    use tcpmortem_trace::syscall::SOCKET_CALLS;
    use tcpmortem_trace::syscall::bpf::{RECORD_SIZE, call_name, off};
    let h = include_str!("../../kernel/bpf/calls.h");
    let ours = [
        ("start_ns", off::START_NS),
        ("end_ns", off::END_NS),
        ("ret", off::RET),
        ("size", off::SIZE),
        ("pid", off::PID),
        ("tid", off::TID),
        ("fd", off::FD),
        ("sport", off::SPORT),
        ("dport", off::DPORT),
        ("call", off::CALL),
        ("family", off::FAMILY),
        ("flags", off::FLAGS),
        ("saddr", off::SADDR),
        ("daddr", off::DADDR),
        ("comm", off::COMM),
    ];
    assert_offsets(h, "tc_call", &ours);
    assert!(h.contains(&format!("sizeof(struct tc_call) == {RECORD_SIZE}")));
    // TC_CONNECT.. in calls.h are SOCKET_CALLS' indices.
    for (i, name) in SOCKET_CALLS.iter().enumerate().skip(1) {
        assert_eq!(call_name(i as u8), Some(*name));
        let define = match *name {
            "sendfile64" => "SENDFILE".to_string(),
            n => n.to_uppercase(),
        };
        assert!(
            h.contains(&format!("#define TC_{define} {i}\n")),
            "TC_{define} is {i}"
        );
    }
}
