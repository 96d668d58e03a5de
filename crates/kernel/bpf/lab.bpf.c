// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * tcpmortem lab: the kernel's view of a run. The same four tracepoints the lab reads in a
 * tracefs instance where BPF is refused, recorded field for field as the tracepoints do,
 * for the sockets of the run's own namespaces only (by inode number, in lab_netns). Loading
 * these few programs costs a run far less than a tracefs instance, whose clock and buffer
 * set-up and whose removal each wait on RCU grace periods. Built by scripts/build-bpf into
 * lab.bpf.o (committed); loaded by crates/kernel/src/bpf.rs.
 */
/* A run's events are a few dozen. */
#define TM_RING_SIZE (256 << 10)
#include "tcp.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u8);
} lab_netns SEC(".maps");

static __always_inline int lab_ours(__u32 inum)
{
	return bpf_map_lookup_elem(&lab_netns, &inum) != 0;
}

/* A record of a full socket with the tracepoints' addresses (TP_STORE_ADDR_PORTS()). */
static __always_inline struct tm_event *lab_sock_event(const struct sock *sk, __u8 kind)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (!lab_ours(sk_netns(sk)))
		return 0;
	struct tm_event *e = reserve(kind);
	if (!e)
		return 0;
	sock_addrs(e, sk, local_port(sk, bpf_skc_to_tcp_sock((void *)sk)));
	return e;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(lab_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct tm_event *e = lab_sock_event(sk, TM_STATE);
	if (!e)
		return 0;
	e->state = oldstate;
	e->new_state = newstate;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(lab_receive_reset, struct sock *sk)
{
	struct tm_event *e = lab_sock_event(sk, TM_RST_IN);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/inet_sk_error_report")
int BPF_PROG(lab_error, const struct sock *sk)
{
	struct tm_event *e = lab_sock_event(sk, TM_ERROR);
	if (!e)
		return 0;
	e->sk_err = sk->sk_err;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* As the tracepoint records it (include/trace/events/tcp.h): a full socket's own addresses,
 * a listener's included (its peer is 0.0.0.0:0); otherwise (no socket, time-wait, request)
 * the answered segment's, reversed; state 0 without a socket. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(lab_send_reset, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	__u32 inum = sk ? sk_netns(sk) : (skb ? skb_netns(skb) : 0);
	if (!lab_ours(inum))
		return 0;
	struct tm_event *e = reserve(TM_LAB_RST);
	if (!e)
		return 0;
	e->reason = reason;
	e->netns = inum;
	struct seg g = {};
	int have_seg = skb && !skb_seg(&g, skb);
	if (sk) {
		unsigned char state = sk->__sk_common.skc_state;
		e->state = state;
		if (state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV) {
			sock_addrs(e, sk, local_port(sk, bpf_skc_to_tcp_sock((void *)sk)));
			e->tcp_flags = g.tcp_flags;
			bpf_ringbuf_submit(e, 0);
			return 0;
		}
	}
	if (have_seg)
		seg_addrs(e, &g, 1);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
