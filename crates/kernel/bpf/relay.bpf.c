// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * tcpmortem proxy's fast path: an sk_skb stream verdict on a SOCKHASH of connected TCP
 * sockets that sends every segment arriving on one socket out of its partner's (the client's
 * socket and the upstream one of a proxied connection), so that bytes with no toxic to meet
 * never reach user space. Built by scripts/build-bpf into relay.bpf.o (committed;
 * crates/kernel/tests/bpf_object.rs checks it is up to date) and loaded by
 * crates/kernel/src/relay.rs with aya.
 *
 * Sockets are keyed by their cookie (SO_COOKIE). `links` gives each socket its partner and a
 * `pass` flag: set, the segment stays on its own socket (SK_PASS: the psock's ingress queue,
 * which recvmsg() reads), so user space takes the connection over. `moved` counts the bytes
 * each socket redirected, for the hand-over to know when they have all been queued on the
 * partner (net/core/skmsg.c: sk_psock_skb_redirect() queues them on the partner's psock and
 * its work item, sk_psock_backlog(), sends them).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "relay.h"

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, TM_RELAY_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u32); /* a socket descriptor when updated from user space */
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TM_RELAY_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct tm_link);
} links SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TM_RELAY_MAX_SOCKETS);
	__type(key, __u64);
	__type(value, __u64);
} moved SEC(".maps");

SEC("sk_skb/stream_verdict")
int relay(struct __sk_buff *skb)
{
	__u64 me = bpf_get_socket_cookie(skb);
	struct tm_link *l = bpf_map_lookup_elem(&links, &me);

	/* A segment with no payload (a bare FIN) has nothing to carry: the FIN itself was
	 * handled by TCP (tcp_fin()) and user space sees it as EOF. */
	if (skb->len == 0)
		return SK_DROP;
	if (!l || l->pass)
		return SK_PASS;
	__u64 *n = bpf_map_lookup_elem(&moved, &me);
	if (n)
		__sync_fetch_and_add(n, skb->len);
	return bpf_sk_redirect_hash(skb, &socks, &l->peer, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
