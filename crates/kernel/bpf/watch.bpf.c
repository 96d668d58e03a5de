// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * tcpmortem watch: one record per TCP socket end, read from the socket itself when it reaches
 * TCP_CLOSE, plus the resets sent and the TCP segments dropped. Built by scripts/build-bpf
 * into watch.bpf.o (committed; crates/kernel/tests/bpf_object.rs checks it is up to date) and
 * loaded by crates/kernel/src/bpf.rs with aya.
 *
 * Kernel types are declared here with only the fields used and preserve_access_index: the
 * loader relocates every access against the running kernel's BTF (CO-RE), so no vmlinux.h.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "watch.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* include/net/tcp_states.h */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define TCP_NEW_SYN_RECV 12

#define SOCK_DEAD 0 /* enum sock_flags */
#define SOCK_DONE 1

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct in6_addr {
	__u8 s6_addr[16];
};
struct ns_common {
	unsigned int inum;
};
struct net {
	struct ns_common ns;
};
typedef struct {
	struct net *net;
} possible_net_t;
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	unsigned long skc_flags;
};
struct sock {
	struct sock_common __sk_common;
	__u8 sk_shutdown;
	__u16 sk_protocol;
	int sk_err;
	int sk_err_soft;
};
struct inet_sock {
	__be16 inet_sport;
};
struct inet_connection_sock {
	struct inet_sock icsk_inet;
};
struct tcp_sock {
	struct inet_connection_sock inet_conn;
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 bytes_sent;
	__u64 bytes_retrans;
	__u32 snd_nxt;
	__u32 total_retrans;
	__u32 srtt_us;
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 write_seq;
	__u32 snd_una;
};
struct net_device {
	possible_net_t nd_net;
};
struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned char *head;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
};
struct task_struct {
	int tgid;
	struct task_struct *group_leader;
	char comm[16];
	struct files_struct *files;
};
struct file {
	void *private_data;
};
struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};
struct files_struct {
	struct fdtable *fdt;
};
struct socket {
	struct sock *sk;
};
#pragma clang attribute pop

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* What watch keeps per socket between its birth and its end. */
struct tm_sk {
	__u64 start_ns;
	__u32 pid;
	__u8 flags;
	__u8 pad[3];
	char comm[16];
};

struct owner {
	__u32 pid;
	__u32 pad;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tm_sk);
} socks SEC(".maps");

/* accept() hands the owner over by socket address; consumed when the socket ends. LRU keeps
 * it bounded if a socket ever ends unseen. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u64);
	__type(value, struct owner);
} accepted SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TM_LOST_N);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &what);
	if (n)
		*n += 1;
}

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

/* The calling process, in a tp_btf program: its tgid and its main thread's name (as
 * /proc/PID/comm), by direct loads from the task (no helper call per field). */
static __always_inline void current_owner_btf(__u32 *pid, char *comm)
{
	struct task_struct *t = bpf_get_current_task_btf();
	*pid = bpf_get_current_pid_tgid() >> 32;
	__builtin_memcpy(comm, t->group_leader->comm, 16);
}

/* The same in a classic tracepoint, through bpf_probe_read_kernel(). */
static __always_inline void current_owner(__u32 *pid, char *comm)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	*pid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	bpf_probe_read_kernel_str(comm, 16, &leader->comm);
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
	e->netns = sk->__sk_common.skc_net.net->ns.inum;
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

static __always_inline __u32 skb_netns(const struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;
	if (dev)
		return dev->nd_net.net->ns.inum;
	struct sock *sk = skb->sk;
	if (sk)
		return sk->__sk_common.skc_net.net->ns.inum;
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV) {
		struct tm_sk *st =
			bpf_sk_storage_get(&socks, (void *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			count_lost(TM_LOST_STORAGE);
			return 0;
		}
		st->start_ns = bpf_ktime_get_ns();
		if (newstate == TCP_SYN_SENT) {
			/* tcp_v4_connect()/tcp_v6_connect(): the connect() caller's context. */
			current_owner_btf(&st->pid, st->comm);
			st->flags = TM_F_CLIENT | TM_F_OWNER;
		} else {
			/* inet_csk_clone_lock() in softirq: the owner comes with accept(). */
			__u64 key = (__u64)sk;
			st->flags = TM_F_SERVER;
			st->pid = 0;
			bpf_map_delete_elem(&accepted, &key);
		}
		return 0;
	}
	if (newstate != TCP_CLOSE || oldstate == TCP_LISTEN || oldstate == TCP_CLOSE)
		return 0;

	struct tm_event *e = reserve(TM_END);
	if (!e)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	sock_addrs(e, sk, local_port(sk, tp));
	e->cookie = bpf_get_socket_cookie((void *)sk);
	e->state = oldstate;
	e->sk_err = sk->sk_err;
	e->sk_err_soft = sk->sk_err_soft;
	unsigned long skflags = sk->__sk_common.skc_flags;
	if (skflags & (1UL << SOCK_DEAD))
		e->flags |= TM_F_ORPHAN;
	if (skflags & (1UL << SOCK_DONE))
		e->flags |= TM_F_FIN_RECEIVED;
	/* __tcp_close() sets it first, before tcp_disconnect() or the RST of unread data. */
	if (sk->sk_shutdown == 3)
		e->flags |= TM_F_SHUT_BOTH;
	if (tp) {
		e->bytes_acked = tp->bytes_acked;
		e->bytes_received = tp->bytes_received;
		e->bytes_sent = tp->bytes_sent;
		e->bytes_retrans = tp->bytes_retrans;
		e->in_flight = tp->snd_nxt - tp->snd_una;
		e->total_retrans = tp->total_retrans;
		e->srtt_us = tp->srtt_us >> 3;
		e->rcv_unread = tp->rcv_nxt - tp->copied_seq;
		e->send_q = tp->write_seq - tp->snd_una;
	}
	struct tm_sk *st = bpf_sk_storage_get(&socks, (void *)sk, 0, 0);
	if (st) {
		e->start_ns = st->start_ns;
		e->flags |= st->flags;
		if (st->flags & TM_F_OWNER) {
			e->pid = st->pid;
			__builtin_memcpy(e->comm, st->comm, 16);
		}
	}
	if (!(e->flags & TM_F_OWNER)) {
		__u64 key = (__u64)sk;
		struct owner *o = bpf_map_lookup_elem(&accepted, &key);
		if (o) {
			e->pid = o->pid;
			__builtin_memcpy(e->comm, o->comm, 16);
			e->flags |= TM_F_OWNER;
			bpf_map_delete_elem(&accepted, &key);
		}
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_receive_reset, struct sock *sk)
{
	struct tm_sk *st = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st)
		st->flags |= TM_F_RST_RECEIVED;
	else
		count_lost(TM_LOST_STORAGE);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_send_reset, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	struct tm_event *e = reserve(TM_RST);
	if (!e)
		return 0;
	e->reason = reason;
	if (sk) {
		e->state = sk->__sk_common.skc_state;
		e->cookie = bpf_get_socket_cookie((void *)sk);
		e->netns = sk->__sk_common.skc_net.net->ns.inum;
	}
	/* A listener's own addresses name no peer (tcp_v4_send_reset() from tcp_check_req(),
	 * or a bad segment to a listener): the segment being answered does. */
	struct seg g;
	int have_seg = skb && !skb_seg(&g, skb);
	if (sk && e->state != TCP_LISTEN) {
		/* bpf_skc_to_tcp_sock() is NULL for time-wait and request sockets. */
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
		sock_addrs(e, sk, local_port(sk, tp));
		/* The segment's flags tell a SYN (refused) from data (half-open). */
		if (have_seg)
			e->tcp_flags = g.tcp_flags;
	} else if (have_seg) {
		seg_addrs(e, &g, 1);
		if (!e->netns)
			e->netns = skb_netns(skb);
	}
	/* No pid: resets are mostly sent in softirq, where the current task is not the owner;
	 * the owner comes with the socket's own end (same cookie). */
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(on_kfree_skb, struct sk_buff *skb, void *location, int reason, struct sock *rx_sk)
{
	__be16 proto = skb->protocol;
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return 0;
	struct seg g;
	if (skb_seg(&g, skb))
		return 0;
	struct tm_event *r = reserve(TM_DROP);
	if (!r)
		return 0;
	seg_addrs(r, &g, 0);
	r->reason = reason;
	r->netns = skb_netns(skb);
	if (rx_sk)
		r->cookie = bpf_get_socket_cookie(rx_sk);
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* accept()/accept4() returned a descriptor: its socket's owner is the caller. */
static __always_inline void accepted_fd(long fd)
{
	if (fd < 0)
		return;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so)
		return;
	__u64 key = (__u64)BPF_CORE_READ(so, sk);
	if (!key)
		return;
	struct owner o = {};
	current_owner(&o.pid, o.comm);
	bpf_map_update_elem(&accepted, &key, &o, BPF_ANY);
}

/* The classic syscall tracepoints' record: common header, __syscall_nr, ret. */
struct syscall_exit {
	__u64 common;
	long nr;
	long ret;
};

SEC("tracepoint/syscalls/sys_exit_accept4")
int on_accept4(struct syscall_exit *ctx)
{
	accepted_fd(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int on_accept(struct syscall_exit *ctx)
{
	accepted_fd(ctx->ret);
	return 0;
}

/* ---- The lab's kernel view ----
 * The lab records the same four tracepoints as its tracefs fallback reads, field for field,
 * for the sockets of its own namespaces only (the run's three, by inode number in
 * lab_netns). Loading a few programs costs the lab far less than a tracefs instance, whose
 * trace_clock and buffer set-up and whose removal each wait on RCU grace periods. */

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
	if (!lab_ours(sk->__sk_common.skc_net.net->ns.inum))
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
	__u32 inum = sk ? sk->__sk_common.skc_net.net->ns.inum : (skb ? skb_netns(skb) : 0);
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
