// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * tcpmortem watch: one record per TCP socket end, read from the socket itself when it reaches
 * TCP_CLOSE, plus the resets sent and the TCP segments dropped. Built by scripts/build-bpf
 * into watch.bpf.o (committed; crates/kernel/tests/bpf_object.rs checks it is up to date) and
 * loaded by crates/kernel/src/bpf.rs with aya.
 * The kernel types and the helpers it shares with lab.bpf.c are in tcp.bpf.h.
 */
#define TM_RING_SIZE (16 << 20)
#include "tcp.bpf.h"

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
		e->netns = sk_netns(sk);
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
