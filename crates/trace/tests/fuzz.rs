//! Hostile bytes through the decoders: BPF records, BTF and trace_pipe lines never panic.

use proptest::prelude::*;
use tcpmortem_trace::bpf::{RECORD_SIZE, Record, decode};
use tcpmortem_trace::{btf, parse_line, tcp_event};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn any_record_decodes_or_is_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2 * RECORD_SIZE)) {
        if let Some(Record::End(e)) = decode(&bytes) {
            // The derived numbers saturate instead of wrapping or panicking.
            let _ = (e.bytes_sent(), e.bytes_received(), e.unread(), e.unacked(), e.errno());
        }
    }

    #[test]
    fn any_btf_is_safe(bytes in proptest::collection::vec(any::<u8>(), 0..512), name in "[a-z_]{0,12}") {
        let _ = btf::enum_names(&bytes, &name, "");
    }

    #[test]
    fn any_trace_line_is_safe(line in "\\PC{0,200}") {
        if let Some(l) = parse_line(&line) {
            let _ = tcp_event(&l);
        }
    }
}
