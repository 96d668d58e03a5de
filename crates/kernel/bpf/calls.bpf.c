// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * The lab's call tracer: the socket calls of the user's programs (`client exec curl ...`),
 * one record per call when it returns, with the socket's addresses read from the calling
 * task's own descriptor table at the call. Built by scripts/build-bpf into calls.bpf.o
 * (committed; crates/kernel/tests/bpf_object.rs checks it is up to date) and loaded by
 * crates/kernel/src/calls_bpf.rs with aya.
 *
 * - raw_syscalls:sys_enter/sys_exit (tp_btf) fire for every system call of every task: the
 *   call number is looked up first (the `syscalls` map, filled by the loader from the
 *   architecture's numbers), then the caller's tgid in `traced`; the rest returns at once.
 * - sched_process_fork adds a traced process's children to `traced` (as tracefs' event-fork),
 *   and the children of the lab's spawning thread (the program itself, before its exec).
 * - Only calls on TCP sockets (AF_INET/AF_INET6, SOCK_STREAM, IPPROTO_TCP) on descriptors
 *   above 2 are kept; everything else is dropped here.
 *
 * The kernel types are in kernel.bpf.h, but for struct pt_regs below.
 */
#include "kernel.bpf.h"
#include "calls.h"

/* x86_64's: the loader refuses other architectures. */
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct pt_regs {
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long r10;
};
#pragma clang attribute pop

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* The syscall number → TC_* (0: not traced). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} syscalls SEC(".maps");

/* TC_TRACED tgids and TC_SPAWNER tids. Entries stay until the run ends (the map with it).
 * The hash maps are not preallocated: loading stays a few ms faster, and they hold a handful. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u32);
} traced SEC(".maps");

/* A call between its entry and its return, by thread; what is left at the end was blocked. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct tc_call);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

DECLARE_LOST_COUNTERS(TC_LOST_N)

/* The TCP socket behind descriptor `fd` of the current task, as fs/file.c's files_lookup_fd
 * finds it (task->files->fdt->fd[fd]), its ends into `c`. -1 for anything else: no such
 * descriptor, not a socket (inode mode, as S_ISSOCK), or not TCP over IPv4/IPv6. */
static __always_inline int tcp_ends(struct tc_call *c, int fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return -1;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return -1;
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so || BPF_CORE_READ(so, type) != SOCK_STREAM)
		return -1;
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return -1;
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(c->saddr, &s, 4);
		__builtin_memcpy(c->daddr, &d, 4);
	} else if (family == AF_INET6) {
		/* The whole struct: s6_addr is a macro over the kernel's in6_u union. */
		struct in6_addr s6, d6;
		BPF_CORE_READ_INTO(&s6, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&d6, sk, __sk_common.skc_v6_daddr);
		__builtin_memcpy(c->saddr, &s6, 16);
		__builtin_memcpy(c->daddr, &d6, 16);
	} else {
		return -1;
	}
	c->family = family;
	/* skc_num is 0 once the port is released (inet_put_port(), a failed connect);
	 * inet_sport keeps what it was bound to. */
	__u16 num = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->sport = num ? num : bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	c->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c->flags |= TC_F_ENDS;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_enter, struct pt_regs *regs, long id)
{
	if (id < 0 || id >= 1024)
		return 0;
	__u32 nr = id;
	__u32 *kind = bpf_map_lookup_elem(&syscalls, &nr);
	if (!kind || !*kind)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	__u32 *v = bpf_map_lookup_elem(&traced, &tgid);
	if (!v || *v != TC_TRACED)
		return 0;
	int fd = (int)BPF_CORE_READ(regs, di);
	/* 0-2 are the program's stdin, stdout and stderr (/dev/null and pipes). */
	if (fd <= 2)
		return 0;
	struct tc_call c = {};
	c.start_ns = bpf_ktime_get_ns();
	c.pid = tgid;
	c.tid = tid;
	c.fd = fd;
	c.call = *kind;
	/* The socket as it is when the call starts; close needs it now, before it is gone. */
	if (tcp_ends(&c, fd))
		return 0;
	switch (c.call) {
	case TC_READ:
	case TC_WRITE:
	case TC_RECVFROM:
	case TC_SENDTO:
	case TC_READV:
	case TC_WRITEV:
		/* count, size or len; for readv/writev the number of buffers (vlen) */
		c.size = BPF_CORE_READ(regs, dx);
		c.flags |= TC_F_SIZE;
		break;
	case TC_SENDFILE:
		/* sendfile64(out_fd, in_fd, offset, count) */
		c.size = BPF_CORE_READ(regs, r10);
		c.flags |= TC_F_SIZE;
		break;
	}
	bpf_get_current_comm(c.comm, sizeof(c.comm));
	if (bpf_map_update_elem(&pending, &tid, &c, BPF_ANY))
		count_lost(TC_LOST_PENDING);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_exit, struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tc_call *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	struct tc_call *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);
	if (!c) {
		count_lost(TC_LOST_RINGBUF);
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	__builtin_memcpy(c, p, sizeof(*c));
	bpf_map_delete_elem(&pending, &tid);
	c->end_ns = bpf_ktime_get_ns();
	c->ret = ret;
	c->flags |= TC_F_RETURNED;
	if ((c->call == TC_ACCEPT || c->call == TC_ACCEPT4) && ret >= 0) {
		/* The new descriptor (fd_install() is done by now): its socket's ends. */
		c->flags &= ~TC_F_ENDS;
		__builtin_memset(c->saddr, 0, sizeof(c->saddr));
		__builtin_memset(c->daddr, 0, sizeof(c->daddr));
		tcp_ends(c, (int)ret);
	} else if (c->call == TC_CONNECT) {
		/* Bound by now (inet_hash_connect() in tcp_v4_connect()/tcp_v6_connect()). */
		__builtin_memset(c->saddr, 0, sizeof(c->saddr));
		__builtin_memset(c->daddr, 0, sizeof(c->daddr));
		c->flags &= ~TC_F_ENDS;
		tcp_ends(c, c->fd);
	}
	bpf_ringbuf_submit(c, 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), ptid = BPF_CORE_READ(parent, pid);
	__u32 *v = bpf_map_lookup_elem(&traced, &ptgid);
	if (!v || *v != TC_TRACED) {
		v = bpf_map_lookup_elem(&traced, &ptid);
		if (!v || *v != TC_SPAWNER)
			return 0;
	}
	__u32 ctgid = BPF_CORE_READ(child, tgid), one = TC_TRACED;
	bpf_map_update_elem(&traced, &ctgid, &one, BPF_NOEXIST);
	return 0;
}
