/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * What the objects that write tm_event records (watch.bpf.c, lab.bpf.c) share: their ring
 * buffer and loss counters, and how a socket's or a segment's addresses and namespace are
 * read. The kernel types are in kernel.bpf.h. Define TM_RING_SIZE before including it.
 */
#ifndef TCPMORTEM_TCP_BPF_H
#define TCPMORTEM_TCP_BPF_H

#include "kernel.bpf.h"
#include "watch.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TM_RING_SIZE);
} events SEC(".maps");

DECLARE_LOST_COUNTERS(TM_LOST_N)

static __always_inline struct tm_event *reserve(__u8 kind)
{
	struct tm_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(TM_LOST_RINGBUF);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->ts_ns = bpf_ktime_get_ns();
	return e;
}

/* Namespaces by inode number. Read with probe reads: a direct load through the nested
 * pointers makes the verifier look each pointer's type up in the kernel's BTF by name
 * (btf_nested_type_is_trusted(), a linear search), ~10 ms a program. */
static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline __u32 skb_netns(const struct sk_buff *skb)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (dev)
		return BPF_CORE_READ(dev, nd_net.net, ns.inum);
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (sk)
		return sk_netns(sk);
	return 0;
}

/* The local port of a socket. A full socket's skc_num is already 0 when it reaches CLOSE
 * (inet_put_port() runs before inet_sk_state_store()); inet_sport stays, as the tracepoint
 * itself prints it. Time-wait and request sockets have no inet_sport, and keep skc_num. */
static __always_inline __u16 local_port(const struct sock *sk, struct tcp_sock *tp)
{
	unsigned char state = sk->__sk_common.skc_state;
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV || !tp)
		return sk->__sk_common.skc_num;
	return bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
}

static __always_inline void sock_addrs(struct tm_event *e, const struct sock *sk, __u16 sport)
{
	e->family = sk->__sk_common.skc_family;
	e->sport = sport;
	e->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	e->netns = sk_netns(sk);
	if (e->family == AF_INET) {
		__be32 s = sk->__sk_common.skc_rcv_saddr, d = sk->__sk_common.skc_daddr;
		__builtin_memcpy(e->saddr, &s, 4);
		__builtin_memcpy(e->daddr, &d, 4);
	} else {
		__builtin_memcpy(e->saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(e->daddr, &sk->__sk_common.skc_v6_daddr, 16);
	}
}

/* A segment's addresses, ports and TCP flags. */
struct seg {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 tcp_flags;
};

/* Reads the IP and TCP headers of a TCP segment (two or three reads); -1 for anything else. */
static __always_inline int skb_seg(struct seg *g, const struct sk_buff *skb)
{
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header, th = skb->transport_header;
	__u8 ip[40];
	__u8 tcp[14];

	if (nh == (__u16)~0U)
		return -1;
	if (bpf_probe_read_kernel(ip, 20, head + nh))
		return -1;
	if ((ip[0] >> 4) == 4) {
		if (ip[9] != IPPROTO_TCP)
			return -1;
		g->family = AF_INET;
		__builtin_memcpy(g->saddr, ip + 12, 4);
		__builtin_memcpy(g->daddr, ip + 16, 4);
		if (th == (__u16)~0U || th <= nh)
			th = nh + (ip[0] & 0xf) * 4;
	} else if ((ip[0] >> 4) == 6) {
		if (ip[6] != IPPROTO_TCP)
			return -1;
		if (bpf_probe_read_kernel(ip + 20, 20, head + nh + 20))
			return -1;
		g->family = AF_INET6;
		__builtin_memcpy(g->saddr, ip + 8, 16);
		__builtin_memcpy(g->daddr, ip + 24, 16);
		if (th == (__u16)~0U || th <= nh)
			th = nh + 40;
	} else {
		return -1;
	}
	if (bpf_probe_read_kernel(tcp, sizeof(tcp), head + th))
		return -1;
	g->sport = (tcp[0] << 8) | tcp[1];
	g->dport = (tcp[2] << 8) | tcp[3];
	g->tcp_flags = tcp[13];
	return 0;
}

/* The segment into the record, reversed when `reverse` (a RST answers it). */
static __always_inline void seg_addrs(struct tm_event *e, const struct seg *g, int reverse)
{
	e->family = g->family;
	if (reverse) {
		__builtin_memcpy(e->saddr, g->daddr, 16);
		__builtin_memcpy(e->daddr, g->saddr, 16);
		e->sport = g->dport;
		e->dport = g->sport;
	} else {
		__builtin_memcpy(e->saddr, g->saddr, 16);
		__builtin_memcpy(e->daddr, g->daddr, 16);
		e->sport = g->sport;
		e->dport = g->dport;
	}
	e->tcp_flags = g->tcp_flags;
	e->flags |= TM_F_FROM_SKB;
}

#endif
