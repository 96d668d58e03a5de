/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The records the lab's call tracer (calls.bpf.c) puts in its ring buffer: one per socket call
 * of a traced program, written when the call returns. The Rust decoder
 * (crates/trace/src/syscall.rs, `bpf` module) reads them by these offsets; a test
 * (crates/trace/tests/bpf_layout.rs) checks the _Static_asserts below against its constants.
 */
#ifndef TCPMORTEM_CALLS_H
#define TCPMORTEM_CALLS_H

/* tc_call.call: which call (the user space fills the syscall-number map with these). */
#define TC_CONNECT 1
#define TC_ACCEPT4 2
#define TC_ACCEPT 3
#define TC_READ 4
#define TC_RECVFROM 5
#define TC_RECVMSG 6
#define TC_READV 7
#define TC_WRITE 8
#define TC_SENDTO 9
#define TC_SENDMSG 10
#define TC_WRITEV 11
#define TC_SENDFILE 12
#define TC_SHUTDOWN 13
#define TC_CLOSE 14
#define TC_N 15

/* tc_call.flags */
#define TC_F_SIZE 0x01     /* size is the count the call asked for */
#define TC_F_ENDS 0x02     /* family, addresses and ports name the socket's ends */
#define TC_F_RETURNED 0x04 /* end_ns and ret are set (else still blocked at the end) */

/* the lost counters (a per-CPU array) */
#define TC_LOST_RINGBUF 0 /* a returned call found the ring buffer full */
#define TC_LOST_PENDING 1 /* no room to remember a call between its entry and its return */
#define TC_LOST_N 2

/* The traced map's values. */
#define TC_TRACED 1  /* key: a traced process (tgid) */
#define TC_SPAWNER 2 /* key: a thread of the lab's (tid) whose children are traced */

struct tc_call {
	__u64 start_ns; /* bpf_ktime_get_ns() at entry: CLOCK_MONOTONIC */
	__u64 end_ns;   /* at return */
	__s64 ret;      /* a count, a new descriptor, or -errno */
	__u64 size;     /* with TC_F_SIZE */
	__u32 pid;      /* tgid */
	__u32 tid;
	__s32 fd;       /* the descriptor called on (accept: the listener's) */
	__u16 sport;    /* host order: the socket's local port (accept: the new socket's) */
	__u16 dport;
	__u8 call;      /* TC_* */
	__u8 family;    /* AF_INET or AF_INET6 */
	__u8 flags;
	__u8 pad;
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	char comm[16];  /* the calling thread's */
	__u8 pad2[4];
};

_Static_assert(__builtin_offsetof(struct tc_call, start_ns) == 0, "start_ns");
_Static_assert(__builtin_offsetof(struct tc_call, end_ns) == 8, "end_ns");
_Static_assert(__builtin_offsetof(struct tc_call, ret) == 16, "ret");
_Static_assert(__builtin_offsetof(struct tc_call, size) == 24, "size");
_Static_assert(__builtin_offsetof(struct tc_call, pid) == 32, "pid");
_Static_assert(__builtin_offsetof(struct tc_call, tid) == 36, "tid");
_Static_assert(__builtin_offsetof(struct tc_call, fd) == 40, "fd");
_Static_assert(__builtin_offsetof(struct tc_call, sport) == 44, "sport");
_Static_assert(__builtin_offsetof(struct tc_call, dport) == 46, "dport");
_Static_assert(__builtin_offsetof(struct tc_call, call) == 48, "call");
_Static_assert(__builtin_offsetof(struct tc_call, family) == 49, "family");
_Static_assert(__builtin_offsetof(struct tc_call, flags) == 50, "flags");
_Static_assert(__builtin_offsetof(struct tc_call, saddr) == 52, "saddr");
_Static_assert(__builtin_offsetof(struct tc_call, daddr) == 68, "daddr");
_Static_assert(__builtin_offsetof(struct tc_call, comm) == 84, "comm");
_Static_assert(sizeof(struct tc_call) == 104, "size");

#endif
