/* Shared with crates/kernel/src/relay.rs, which mirrors it (keep both in step). */
#ifndef TM_RELAY_H
#define TM_RELAY_H

/* Two sockets per proxied connection. */
#define TM_RELAY_MAX_SOCKETS 65536

struct tm_link {
	__u64 peer; /* the partner's socket cookie */
	__u32 pass; /* nonzero: leave segments to user space */
	__u32 pad;
};

#endif
