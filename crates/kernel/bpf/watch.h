/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The records tcpmortem watch's BPF programs put in the ring buffer. The Rust decoder
 * (crates/trace/src/bpf.rs) reads them by these offsets; the _Static_asserts below are
 * checked against its constants by a test (crates/trace/tests/bpf_layout.rs).
 */
#ifndef TCPMORTEM_WATCH_H
#define TCPMORTEM_WATCH_H

/* tm_event.kind */
#define TM_END 1  /* a socket reached TCP_CLOSE from a connected state */
#define TM_RST 2  /* tcp:tcp_send_reset, with or without a socket */
#define TM_DROP 3 /* skb:kfree_skb of a TCP segment */
/* The lab's kernel view: the same four tracepoints the lab reads in tracefs, with the same
 * fields, for sockets in the namespaces of its lab_netns map only. */
#define TM_STATE 4    /* sock:inet_sock_set_state of a TCP socket: state -> new_state */
#define TM_RST_IN 5   /* tcp:tcp_receive_reset */
#define TM_ERROR 6    /* sock:inet_sk_error_report of a TCP socket: sk_err */
#define TM_LAB_RST 7  /* tcp:tcp_send_reset with the tracepoint's own addresses */

/* tm_event.flags */
#define TM_F_RST_RECEIVED 0x01 /* tcp:tcp_receive_reset fired on this socket */
#define TM_F_ORPHAN 0x02       /* SOCK_DEAD: the application had closed it */
#define TM_F_CLIENT 0x04       /* watch saw it go SYN_SENT (connect) */
#define TM_F_SERVER 0x08       /* watch saw it created by a listener (SYN_RECV) */
#define TM_F_OWNER 0x10        /* pid/comm are the owner's (connect or accept) */
#define TM_F_FROM_SKB 0x20     /* addresses read from the segment, not a socket */
#define TM_F_FIN_RECEIVED 0x40 /* SOCK_DONE: the peer's FIN arrived (tcp_fin()) */
#define TM_F_SHUT_BOTH 0x80    /* sk_shutdown == SHUTDOWN_MASK: close() or shutdown(RDWR) */

/* tm_event.lost index (the per-CPU counters map) */
#define TM_LOST_RINGBUF 0 /* the ring buffer was full */
#define TM_LOST_STORAGE 1 /* no per-socket storage could be allocated */
#define TM_LOST_N 2

struct tm_event {
	__u64 ts_ns;          /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cookie;         /* socket cookie (as sock_diag's), 0 without a socket */
	__u64 start_ns;       /* TM_END: when watch saw SYN_SENT/SYN_RECV, 0 if before */
	__u64 bytes_acked;    /* tcp_sock.bytes_acked (a SYN and a FIN count one each) */
	__u64 bytes_received; /* tcp_sock.bytes_received (a FIN counts one) */
	__u64 bytes_sent;     /* tcp_sock.bytes_sent: payload, retransmissions included */
	__u64 bytes_retrans;  /* tcp_sock.bytes_retrans */
	__u32 netns;          /* net->ns.inum */
	__u32 pid;            /* tgid; with TM_F_OWNER the owner's, else 0 */
	__u32 reason;         /* TM_RST: enum sk_rst_reason; TM_DROP: enum skb_drop_reason */
	__s32 sk_err;
	__s32 sk_err_soft;
	__u32 total_retrans;
	__u32 srtt_us;        /* smoothed RTT in microseconds (tcp_sock.srtt_us >> 3) */
	__u32 rcv_unread;     /* rcv_nxt - copied_seq (an unread FIN counts one) */
	__u32 send_q;         /* write_seq - snd_una (an unacknowledged SYN or FIN counts one) */
	__u32 in_flight;      /* snd_nxt - snd_una */
	__u16 sport;          /* host order; TM_END/TM_RST: local; TM_DROP: the segment's source */
	__u16 dport;
	__u8 kind;
	__u8 family;          /* AF_INET or AF_INET6 */
	__u8 state;           /* TM_END: the state before CLOSE; TM_RST: the socket's (0: none) */
	__u8 flags;
	__u8 tcp_flags;       /* TM_RST/TM_DROP: the segment's TCP flags when there is one */
	__u8 new_state;       /* TM_STATE: the state entered (state: the one left) */
	__u8 pad[2];
	__u8 saddr[16];       /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	char comm[16];
	__u8 pad2[4];
};

_Static_assert(__builtin_offsetof(struct tm_event, ts_ns) == 0, "ts_ns");
_Static_assert(__builtin_offsetof(struct tm_event, cookie) == 8, "cookie");
_Static_assert(__builtin_offsetof(struct tm_event, start_ns) == 16, "start_ns");
_Static_assert(__builtin_offsetof(struct tm_event, bytes_acked) == 24, "bytes_acked");
_Static_assert(__builtin_offsetof(struct tm_event, bytes_received) == 32, "bytes_received");
_Static_assert(__builtin_offsetof(struct tm_event, bytes_sent) == 40, "bytes_sent");
_Static_assert(__builtin_offsetof(struct tm_event, bytes_retrans) == 48, "bytes_retrans");
_Static_assert(__builtin_offsetof(struct tm_event, netns) == 56, "netns");
_Static_assert(__builtin_offsetof(struct tm_event, pid) == 60, "pid");
_Static_assert(__builtin_offsetof(struct tm_event, reason) == 64, "reason");
_Static_assert(__builtin_offsetof(struct tm_event, sk_err) == 68, "sk_err");
_Static_assert(__builtin_offsetof(struct tm_event, sk_err_soft) == 72, "sk_err_soft");
_Static_assert(__builtin_offsetof(struct tm_event, total_retrans) == 76, "total_retrans");
_Static_assert(__builtin_offsetof(struct tm_event, srtt_us) == 80, "srtt_us");
_Static_assert(__builtin_offsetof(struct tm_event, rcv_unread) == 84, "rcv_unread");
_Static_assert(__builtin_offsetof(struct tm_event, send_q) == 88, "send_q");
_Static_assert(__builtin_offsetof(struct tm_event, in_flight) == 92, "in_flight");
_Static_assert(__builtin_offsetof(struct tm_event, sport) == 96, "sport");
_Static_assert(__builtin_offsetof(struct tm_event, dport) == 98, "dport");
_Static_assert(__builtin_offsetof(struct tm_event, kind) == 100, "kind");
_Static_assert(__builtin_offsetof(struct tm_event, family) == 101, "family");
_Static_assert(__builtin_offsetof(struct tm_event, state) == 102, "state");
_Static_assert(__builtin_offsetof(struct tm_event, flags) == 103, "flags");
_Static_assert(__builtin_offsetof(struct tm_event, tcp_flags) == 104, "tcp_flags");
_Static_assert(__builtin_offsetof(struct tm_event, new_state) == 105, "new_state");
_Static_assert(__builtin_offsetof(struct tm_event, saddr) == 108, "saddr");
_Static_assert(__builtin_offsetof(struct tm_event, daddr) == 124, "daddr");
_Static_assert(__builtin_offsetof(struct tm_event, comm) == 140, "comm");
_Static_assert(sizeof(struct tm_event) == 160, "size");

#endif
