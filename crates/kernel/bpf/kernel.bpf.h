/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The kernel types tcpmortem's BPF objects read, declared with only the fields they use and
 * preserve_access_index: the loader relocates every access against the running kernel's BTF
 * (CO-RE), so there is no vmlinux.h. A type declared here and not used by an object costs
 * that object nothing. Also the constants they test, and their loss counters.
 */
#ifndef TCPMORTEM_KERNEL_BPF_H
#define TCPMORTEM_KERNEL_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
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
	int pid;
	int tgid;
	struct task_struct *group_leader;
	char comm[16];
	struct files_struct *files;
};
struct inode {
	unsigned short i_mode;
};
struct file {
	struct inode *f_inode;
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
	short type;
	struct sock *sk;
};
#pragma clang attribute pop

/* Per-CPU counters of what an object could not record, indexed by its own *_LOST_* numbers,
 * and their increment. */
#define DECLARE_LOST_COUNTERS(n)                                               \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                        \
		__uint(max_entries, n);                                        \
		__type(key, __u32);                                            \
		__type(value, __u64);                                          \
	} lost SEC(".maps");                                                   \
	static __always_inline void count_lost(__u32 what)                     \
	{                                                                      \
		__u64 *n_ = bpf_map_lookup_elem(&lost, &what);                  \
		if (n_)                                                        \
			*n_ += 1;                                              \
	}

#endif
