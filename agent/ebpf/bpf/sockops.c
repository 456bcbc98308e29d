// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// FlowLens sock_ops collector. One sock_ops program, attached to a cgroup v2,
// follows every TCP socket of the cgroup from connect (or accept) to close:
// it keeps the socket's latest cumulative counters in a hash map keyed by
// socket cookie (user space reads the map every second for snapshots) and
// sends the events that must not be missed (opened, closed, failed, RTT
// samples) through a ring buffer.
//
// Cost: a short connection that no snapshot saw costs no event at all: at
// close its final counters, its opening or failure and its RTT and
// handshake samples are added to its flow's entry in the current flow map
// (flow_maps[0], atomic adds; see aggregate()), which user space swaps and
// drains once per report. A socket a snapshot did see (user space knows
// it) sends its final event through the ring buffer, as does any socket
// when the flow map is full. RTT samples of long-lived sockets are batched
// per socket in the map (RTT_BATCH per event).
//
// sock_ops counters can only be read inside a callback, and a socket that
// only receives gets no RTT callbacks, so a tcp iterator (flowlens_refresh),
// run by user space before each snapshot, refreshes the counters of the
// tracked sockets from their tcp_sock, and enables the callbacks of sockets
// that existed before the program was attached.
//
// Verifier notes: everything here is bounded straight-line code; the event
// and state structs are built in ring buffer memory or on a small stack
// (< 200 bytes); map-full and ring-full conditions are counted, never fatal.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOL_TCP 6
#define ECONNREFUSED 111

// Event kinds and failure reasons: the values of collect.Kind and
// collect.FailReason.
enum event_kind {
	KIND_SNAPSHOT = 1,
	KIND_CLOSED = 3,
	KIND_FAILED = 4,
	KIND_RTT = 5,
};

enum fail_reason {
	REASON_NONE = 0,
	REASON_REFUSED = 1,
	REASON_TIMEOUT = 2,
	REASON_RESET = 3,
};

// Socket phases kept in sock_state.phase.
enum sock_phase {
	PHASE_CONNECTING = 1,
	PHASE_ESTABLISHED = 2,
	PHASE_PREEXISTING = 3, // established before the program saw it
};

// Indexes of the per-CPU stats array.
enum stat_index {
	STAT_MAP_FULL = 0, // an insert into socks failed
	STAT_SAMPLED = 1,  // a socket left untracked because socks was full
	STAT_LOST = 2,     // an event the ring buffer could not take
	STAT_PENDING = 3,  // of those, final/opened events left in the map
	STAT_AGGREGATED = 4, // sockets whose end was added to the flow map
	STAT_FLOW_FULL = 5,  // sockets sent through the ring: flow map full
	STAT_MAX = 6,
};

// RTT_BATCH samples make one RTT event; a socket's samples wait in its
// map entry until the batch is full, the oldest is rtt_flush_ns old, or
// the socket closes (the final event carries them).
#define RTT_BATCH 8

// A socket that has sent and received fewer data segments than this is
// young: its RTT callbacks are skipped without looking it up.
#define RTT_YOUNG_SEGS 4

// Callbacks a socket needs, by stage. A connecting socket needs only its
// state changes (its close says the connect failed); an established one
// its state changes and RTT callbacks (the RTT samples). Retransmission
// and RTO callbacks only refreshed counters that the tcp iterator refreshes
// before every snapshot and the close reads anyway, so they are enabled
// only where that is not so: without the iterator (update_cbs, set by user
// space) or without tcp_sock.total_rto (kernels < 6.7 count RTOs from the
// callbacks).
#define CB_CONNECTING BPF_SOCK_OPS_STATE_CB_FLAG
#define CB_ESTABLISHED (BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_RTT_CB_FLAG)
#define CB_UPDATES (BPF_SOCK_OPS_RETRANS_CB_FLAG | BPF_SOCK_OPS_RTO_CB_FLAG)

// NUM_BINS is flow.NumBins: the log-linear latency histogram (4 bins per
// power of two over 0 µs to 2^32 µs).
#define NUM_BINS 129

struct endpoints {
	__u32 local_ip[4];  // network order; IPv4 in local_ip[0]
	__u32 remote_ip[4];
	__u16 local_port;   // host order
	__u16 remote_port;  // host order
	__u16 family;
	__u8 passive;
	__u8 _pad;
};

struct counters {
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 segs_out;
	__u64 segs_in;
	__u64 total_retrans;
	__u64 total_rto;
	__u32 srtt_us;
	__u32 _pad;
};

// sock_state is the value of socks: one tracked socket.
struct sock_state {
	struct endpoints ep;
	struct counters c;
	__u64 connect_ns;    // TCP_CONNECT_CB time, for the handshake latency
	__u64 last_rtt_ns;   // last RTT sample taken, for rate limiting
	__u64 rtt_first_ns;  // when the oldest batched sample was taken
	__u64 version;       // bumped on every counter update; user space emits
			     // a snapshot only when it moved
	__u32 rtt[RTT_BATCH]; // batched RTT samples (µs), rtt_n of them
	__u32 rto_cbs;       // RTO callbacks, when tcp_sock has no total_rto
	__u32 handshake_us;
	__u8 phase;
	__u8 pending; // KIND_CLOSED/FAILED the ring could not take
	__u8 reason;
	__u8 rtt_n;
	__u8 sampled; // an RTT sample was ever taken
	__u8 _pad[3];
	__u64 gen;   // snap_gen when the socket was entered or established:
		     // equal to snap_gen at close, no snapshot has seen it
};

// flow_key is the flow a socket belongs to, as far as the kernel knows it:
// the ephemeral port dropped (user space unmaps IPv4-mapped addresses).
struct flow_key {
	__u32 local_ip[4];  // network order; IPv4 in local_ip[0]
	__u32 remote_ip[4];
	__u16 port;         // the service port, host order
	__u16 family;
	__u8 passive;
	__u8 _pad[3];
};

// latency is flow.Latency: count, sum, min, max and the histogram. min is
// stored inverted (0xffffffff - min) so that 0 means "none yet" and both
// bounds move up with compare-and-exchange.
struct latency {
	__u64 count;
	__u64 sum_us;
	__u32 min_inv;
	__u32 max_us;
	__u32 bins[NUM_BINS];
	__u32 _pad;
};

// flow_agg is the value of a flow map: the ends of one interval's short
// sockets of one flow, summed.
struct flow_agg {
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 segs_out;
	__u64 segs_in;
	__u64 total_retrans;
	__u64 total_rto;
	__u64 opened;
	__u64 closed;
	__u64 refused;
	__u64 timeout;
	__u64 reset;
	struct latency rtt;
	struct latency handshake;
};

// event is a final (closed/failed) event or a batch of RTT samples. A
// final event of a socket the program saw establish has established set:
// user space counts the connection opened unless a snapshot already did.
struct event {
	__u64 cookie;
	struct endpoints ep;
	struct counters c;
	__u32 rtt[RTT_BATCH];
	__u32 handshake_us;
	__u8 kind;
	__u8 reason;
	__u8 rtt_n;
	__u8 established;
	__u8 _pad[4];
};

// Set by user space before loading.
const volatile __u64 rtt_sample_ns = 200000000ULL; // min gap between RTT samples of a socket
const volatile __u64 rtt_flush_ns = 10000000000ULL; // max wait of a batched RTT sample
const volatile __u64 ring_bytes = 1 << 20;          // size of events
const volatile __u64 target_cgroup_id = 0;          // iterator: adopt sockets under this cgroup (0: all)
const volatile __u32 target_cgroup_level = 0;
const volatile __u64 rtt_budget = 16;       // RTT callbacks examined per CPU per budget window
const volatile __u32 rtt_window_shift = 24; // a budget window is 2^shift ns of the coarse clock

// Written by user space while the program runs.
// snap_gen is bumped before each snapshot reads socks (see sock_state.gen).
volatile __u64 snap_gen = 1;
// update_cbs: enable the retransmission and RTO callbacks (no iterator).
volatile __u32 update_cbs = 0;

// rtt_budget_state is one CPU's RTT budget (the value of rtt_budgets).
struct rtt_budget_state {
	__u64 window;  // coarse time >> rtt_window_shift
	__u64 used;    // callbacks examined in this window
	__u64 skipped; // callbacks skipped over budget, ever
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); // resized by user space
	__type(key, __u64);
	__type(value, struct sock_state);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); // resized by user space
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rtt_budget_state);
} rtt_budgets SEC(".maps");

// flow_map is the type of the two flow maps. Not preallocated: an entry
// costs ~1.2 KB, and most of the map is empty most of the time.
struct flow_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096); // resized by user space
	__type(key, struct flow_key);
	__type(value, struct flow_agg);
} flows_a SEC(".maps"), flows_b SEC(".maps");

// flow_maps[0] is the flow map closing sockets add to. User space swaps
// it for the other (drained) one before it reads: an update of a
// map-in-map returns only after every program run that could still use
// the old map has ended (synchronize_rcu), so the map it then reads and
// clears is complete and nothing writes it any more.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct flow_map);
} flow_maps SEC(".maps") = {
	.values = { [0] = &flows_a },
};

// flow_zero is a zeroed flow_agg to insert from (it does not fit on the
// stack); nothing writes it.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_agg);
} flow_zero SEC(".maps");

// Force BTF for the types user space decodes.
const struct event *unused_event __attribute__((unused));
const struct sock_state *unused_sock_state __attribute__((unused));
const struct flow_key *unused_flow_key __attribute__((unused));
const struct flow_agg *unused_flow_agg __attribute__((unused));

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline void read_endpoints(struct bpf_sock_ops *ops, struct endpoints *ep, bool passive)
{
	ep->family = ops->family;
	ep->passive = passive;
	ep->local_port = ops->local_port;                  // host order
	ep->remote_port = bpf_ntohl(ops->remote_port);     // network order in the high half
	if (ops->family == AF_INET) {
		ep->local_ip[0] = ops->local_ip4;
		ep->remote_ip[0] = ops->remote_ip4;
		return;
	}
	ep->local_ip[0] = ops->local_ip6[0];
	ep->local_ip[1] = ops->local_ip6[1];
	ep->local_ip[2] = ops->local_ip6[2];
	ep->local_ip[3] = ops->local_ip6[3];
	ep->remote_ip[0] = ops->remote_ip6[0];
	ep->remote_ip[1] = ops->remote_ip6[1];
	ep->remote_ip[2] = ops->remote_ip6[2];
	ep->remote_ip[3] = ops->remote_ip6[3];
}

// total_rto returns the kernel's RTO count (tcp_sock.total_rto, kernels >=
// 6.7) or, without it, the RTO callbacks counted in st.
static __always_inline __u64 total_rto(struct bpf_sock_ops *ops, struct sock_state *st)
{
	if (bpf_core_field_exists(struct tcp_sock, total_rto)) {
		struct bpf_sock *sk = ops->sk;
		if (sk) {
			struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
			if (tp)
				return BPF_CORE_READ(tp, total_rto);
		}
	}
	return st->rto_cbs;
}

// read_counters stores the socket's cumulative counters from the sock_ops
// context, the only place sock_ops programs can read them.
// total_rto (a BTF read) is refreshed only when with_rto is set: at close
// and on RTO callbacks, the only times it moves or matters between
// iterator refreshes.
static __always_inline void read_counters(struct bpf_sock_ops *ops, struct sock_state *st, bool with_rto)
{
	st->c.bytes_acked = ops->bytes_acked;
	st->c.bytes_received = ops->bytes_received;
	st->c.segs_out = ops->segs_out;
	st->c.segs_in = ops->segs_in;
	st->c.total_retrans = ops->total_retrans;
	st->c.srtt_us = ops->srtt_us >> 3;
	if (with_rto)
		st->c.total_rto = total_rto(ops, st);
	st->version++;
}

// wakeup_flags batches the consumer's wakeups: a wakeup per event would
// cost user space a context switch per event (it was most of its CPU at
// 1,000 connections/s). The reader wakes up on its own every second (a
// read deadline, DrainEvery); the program wakes it early only when the
// ring is a quarter full.
static __always_inline __u64 wakeup_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	return avail > ring_bytes / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

// emit sends one event for a tracked socket, with its batched RTT samples.
// When the ring buffer is full a final event is left in the map (pending)
// for user space to pick up at the next snapshot, so that opened/closed
// counts stay exact; a batch of RTT samples is kept for the next try.
static __always_inline bool emit(__u64 cookie, struct sock_state *st, __u8 kind)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(STAT_LOST);
		if (kind != KIND_RTT) {
			st->pending = kind;
			count(STAT_PENDING);
		}
		return false;
	}
	e->cookie = cookie;
	e->ep = st->ep;
	e->c = st->c;
	__builtin_memcpy(e->rtt, st->rtt, sizeof(e->rtt));
	e->rtt_n = st->rtt_n;
	e->handshake_us = st->handshake_us;
	e->kind = kind;
	e->reason = st->reason;
	e->established = st->phase == PHASE_ESTABLISHED;
	st->rtt_n = 0;
	bpf_ringbuf_submit(e, wakeup_flags());
	return true;
}

// established_cbs are the callbacks of an established socket.
static __always_inline int established_cbs(void)
{
	int flags = CB_ESTABLISHED;
	if (update_cbs || !bpf_core_field_exists(struct tcp_sock, total_rto))
		flags |= CB_UPDATES;
	return flags;
}

// connecting_cbs are the callbacks of a connecting socket: its RTOs count
// from callbacks only where tcp_sock has no total_rto.
static __always_inline int connecting_cbs(void)
{
	int flags = CB_CONNECTING;
	if (!bpf_core_field_exists(struct tcp_sock, total_rto))
		flags |= BPF_SOCK_OPS_RTO_CB_FLAG;
	return flags;
}

// track inserts a new socket from its complete initial state (no lookup
// afterwards: a hash operation is most of what a callback costs); when the
// map is full the socket is counted and left alone (no callbacks enabled),
// never an error. It returns false only when the map was full.
static __always_inline bool track(__u64 cookie, struct sock_state *init, bool count_full, __u64 flags)
{
	if (bpf_map_update_elem(&socks, &cookie, init, flags) == 0)
		return true;
	if (bpf_map_lookup_elem(&socks, &cookie))
		return true; // raced with another insert
	if (count_full)
		count(STAT_MAP_FULL);
	return false;
}

static __always_inline void on_connect(struct bpf_sock_ops *ops)
{
	__u64 cookie = bpf_get_socket_cookie(ops);
	struct sock_state init = {};

	read_endpoints(ops, &init.ep, false);
	init.connect_ns = bpf_ktime_get_ns();
	init.phase = PHASE_CONNECTING;
	init.gen = snap_gen;
	// A socket may connect again after a failed connect: start afresh
	// (BPF_ANY replaces an old entry in one operation).
	if (!track(cookie, &init, true, BPF_ANY)) {
		count(STAT_SAMPLED);
		return;
	}
	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags | connecting_cbs());
}

// established moves a socket's state to its established stage.
// A snapshot skips a connecting socket, so one that saw it connect has not
// seen it: gen is taken anew.
static __always_inline void established(struct bpf_sock_ops *ops, struct sock_state *st, __u64 now)
{
	st->phase = PHASE_ESTABLISHED;
	st->last_rtt_ns = now;
	st->gen = snap_gen;
	read_counters(ops, st, false);
}

// on_established handles the end of a handshake. The active handshake
// latency is connect to established; the passive one is the SYN-ACK to ACK
// round trip, which the kernel has just measured into srtt. Nothing is
// sent: the opening is reported with the socket's end, or by user space
// from the map at the next snapshot if the socket is still open then. The
// first RTT sample is taken rtt_sample_ns after the handshake, so that a
// short connection costs no sample until its close.
static __always_inline void on_established(struct bpf_sock_ops *ops, bool passive)
{
	__u64 cookie = bpf_get_socket_cookie(ops);
	__u64 now = bpf_ktime_get_ns();
	// An active socket was entered at connect (unless it connected before
	// the program was attached, or the map was full then); a passive one
	// is new.
	struct sock_state *st = passive ? NULL : bpf_map_lookup_elem(&socks, &cookie);

	if (st) {
		if (st->connect_ns)
			st->handshake_us = (now - st->connect_ns) / 1000;
		established(ops, st, now);
	} else {
		struct sock_state init = {};
		read_endpoints(ops, &init.ep, passive);
		if (passive)
			init.handshake_us = ops->srtt_us >> 3;
		established(ops, &init, now);
		// An active socket left out at connect was counted then.
		if (!track(cookie, &init, passive, BPF_NOEXIST)) {
			if (passive)
				count(STAT_SAMPLED);
			return;
		}
	}
	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags | established_cbs());
}

// classify says how a socket that reached CLOSE from old ended. sk_err is
// set by the kernel before it moves the socket to CLOSE (tcp_done_with_error):
// ECONNREFUSED for a RST (or ICMP port unreachable) answering a SYN, the
// soft error or ETIMEDOUT when SYN retransmissions ran out, ECONNRESET/EPIPE
// for a RST on an established socket, ETIMEDOUT when its retransmissions ran
// out. A connect closed by its owner before it finished (sk_err 0) was not
// answered in time: a timeout.
static __always_inline __u8 classify(struct tcp_sock *tp, __u32 old, __u8 *reason)
{
	int err = 0;

	if (tp)
		err = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_err);
	if (old == BPF_TCP_SYN_SENT) {
		*reason = err == ECONNREFUSED ? REASON_REFUSED : REASON_TIMEOUT;
		return KIND_FAILED;
	}
	if (err != 0) {
		*reason = REASON_RESET;
		return KIND_FAILED;
	}
	*reason = REASON_NONE;
	return KIND_CLOSED;
}

// bin_of is flow.BinOf: bin 0 holds 0 µs, bin 1+4k+j holds
// [2^k(1+j/4), 2^k(1+(j+1)/4)).
static __always_inline __u32 bin_of(__u32 us)
{
	if (us == 0)
		return 0;
	__u32 v = us, k = 0, s;
	s = (v > 0xFFFF) << 4; v >>= s; k |= s;
	s = (v > 0xFF) << 3; v >>= s; k |= s;
	s = (v > 0xF) << 2; v >>= s; k |= s;
	s = (v > 0x3) << 1; v >>= s; k |= s;
	k |= v >> 1; // 2^k <= us < 2^(k+1)
	__u32 frac = k >= 2 ? (us >> (k - 2)) & 3 : (us << (2 - k)) & 3;
	return 1 + k * 4 + frac;
}

// raise_u32 moves *p up to v with compare-and-exchange. Each failed
// exchange means another CPU raised *p meanwhile, so the loop ends once v
// is no longer above it; the bound is for the verifier (it would take as
// many CPUs raising the same bound of the same flow at the same moment).
static __always_inline void raise_u32(__u32 *p, __u32 v)
{
	for (int i = 0; i < 16; i++) {
		__u32 old = *p;
		if (old >= v)
			return;
		if (__sync_val_compare_and_swap(p, old, v) == old)
			return;
	}
}

// observe adds one sample (µs, > 0) to a latency.
static __always_inline void observe(struct latency *l, __u32 us)
{
	__sync_fetch_and_add(&l->count, 1);
	__sync_fetch_and_add(&l->sum_us, us);
	__u32 b = bin_of(us);
	if (b < NUM_BINS)
		__sync_fetch_and_add(&l->bins[b], 1);
	raise_u32(&l->max_us, us);
	raise_u32(&l->min_inv, 0xffffffff - us);
}

static __always_inline void add_u64(__u64 *p, __u64 v)
{
	if (v)
		__sync_fetch_and_add(p, v);
}

// flow_of derives a socket's flow key (the ephemeral port dropped).
static __always_inline void flow_of(const struct endpoints *ep, struct flow_key *k)
{
	__builtin_memcpy(k->local_ip, ep->local_ip, sizeof(k->local_ip));
	__builtin_memcpy(k->remote_ip, ep->remote_ip, sizeof(k->remote_ip));
	k->port = ep->passive ? ep->local_port : ep->remote_port;
	k->family = ep->family;
	k->passive = ep->passive;
}

// aggregate adds the end of a socket that no snapshot has seen to its
// flow's entry in the current flow map: final counters, opened (if the
// program saw it establish), closed or failed by reason, its RTT samples
// and its handshake latency. It returns false when the flow map has no
// room for a new flow (counted): the caller sends the final event through
// the ring buffer instead, so totals stay exact.
static __always_inline bool aggregate(struct sock_state *st, __u8 kind)
{
	__u32 zero = 0;
	void *flows = bpf_map_lookup_elem(&flow_maps, &zero);
	if (!flows)
		return false;
	struct flow_key k = {};
	flow_of(&st->ep, &k);
	struct flow_agg *a = bpf_map_lookup_elem(flows, &k);
	if (!a) {
		struct flow_agg *z = bpf_map_lookup_elem(&flow_zero, &zero);
		if (!z)
			return false;
		// BPF_NOEXIST: another CPU may have inserted it meanwhile.
		bpf_map_update_elem(flows, &k, z, BPF_NOEXIST);
		a = bpf_map_lookup_elem(flows, &k);
		if (!a) {
			count(STAT_FLOW_FULL);
			return false;
		}
	}
	add_u64(&a->bytes_acked, st->c.bytes_acked);
	add_u64(&a->bytes_received, st->c.bytes_received);
	add_u64(&a->segs_out, st->c.segs_out);
	add_u64(&a->segs_in, st->c.segs_in);
	add_u64(&a->total_retrans, st->c.total_retrans);
	add_u64(&a->total_rto, st->c.total_rto);
	if (st->phase == PHASE_ESTABLISHED) {
		__sync_fetch_and_add(&a->opened, 1);
		if (st->handshake_us)
			observe(&a->handshake, st->handshake_us);
	}
	if (kind == KIND_CLOSED)
		__sync_fetch_and_add(&a->closed, 1);
	else if (st->reason == REASON_REFUSED)
		__sync_fetch_and_add(&a->refused, 1);
	else if (st->reason == REASON_TIMEOUT)
		__sync_fetch_and_add(&a->timeout, 1);
	else
		__sync_fetch_and_add(&a->reset, 1);
	for (int i = 0; i < RTT_BATCH; i++) {
		if (i >= st->rtt_n)
			break;
		__u32 us = st->rtt[i];
		if (us)
			observe(&a->rtt, us);
	}
	count(STAT_AGGREGATED);
	return true;
}

static __always_inline void on_close(struct bpf_sock_ops *ops)
{
	__u64 cookie = bpf_get_socket_cookie(ops);
	struct sock_state *st = bpf_map_lookup_elem(&socks, &cookie);

	if (!st)
		return;
	// One conversion for both reads of the tcp_sock.
	struct tcp_sock *tp = NULL;
	struct bpf_sock *sk = ops->sk;
	if (sk)
		tp = bpf_skc_to_tcp_sock(sk);
	read_counters(ops, st, false);
	if (!bpf_core_field_exists(struct tcp_sock, total_rto))
		st->c.total_rto = st->rto_cbs;
	else if (tp)
		st->c.total_rto = BPF_CORE_READ(tp, total_rto);
	__u8 kind = classify(tp, ops->args[0], &st->reason);
	// A connection that never got a sample (shorter than rtt_sample_ns)
	// gets its final srtt as its one sample.
	if (!st->sampled && st->phase != PHASE_CONNECTING && st->c.srtt_us && st->rtt_n < RTT_BATCH) {
		st->rtt[st->rtt_n & (RTT_BATCH - 1)] = st->c.srtt_us;
		st->rtt_n++;
	}
	// A socket no snapshot has seen is unknown to user space: its end is
	// summed in the kernel. One older than the agent (preexisting) needs
	// its baseline subtracted, which only user space knows.
	if (st->gen == snap_gen && st->phase != PHASE_PREEXISTING && aggregate(st, kind)) {
		bpf_map_delete_elem(&socks, &cookie);
		return;
	}
	if (emit(cookie, st, kind))
		bpf_map_delete_elem(&socks, &cookie);
	// else: pending, user space emits it from the map and deletes it.
}

// rtt_budget_take says whether this RTT callback may look at its socket's
// state. RTT callbacks come with every acknowledgment; looking a socket up
// is most of their cost (its state is cold: a cache miss or two per
// callback), so each CPU examines at most rtt_budget of them per window
// and skips the rest (counted) at the price of a per-CPU counter. Under
// the budget every callback is examined; over it, which sockets get a
// sample is left to chance, which keeps the statistics unbiased.
static __always_inline bool rtt_budget_take(void)
{
	__u32 zero = 0;
	struct rtt_budget_state *b = bpf_map_lookup_elem(&rtt_budgets, &zero);
	if (!b)
		return true;
	__u64 window = bpf_ktime_get_coarse_ns() >> rtt_window_shift;
	if (b->window != window) {
		b->window = window;
		b->used = 0;
	}
	if (b->used >= rtt_budget) {
		b->skipped++;
		return false;
	}
	b->used++;
	return true;
}

// on_rtt runs on every acknowledgment that updates the RTT estimate: within
// the CPU's RTT budget it takes at most one srtt sample per rtt_sample_ns
// (a time-based sampling of the smoothed RTT, like polling `ss` would) and
// refreshes the counters with it; the rest of the calls return early.
static __always_inline void on_rtt(struct bpf_sock_ops *ops)
{
	// A young socket (a short connection's whole life) is not sampled:
	// on_established held its first sample back by rtt_sample_ns, and its
	// close takes one. Its data segment counts, read from the socket
	// itself, say so without the state lookup.
	if (ops->data_segs_in + ops->data_segs_out < RTT_YOUNG_SEGS)
		return;
	if (!rtt_budget_take())
		return;
	__u64 cookie = bpf_get_socket_cookie(ops);
	struct sock_state *st = bpf_map_lookup_elem(&socks, &cookie);

	if (!st || st->phase == PHASE_CONNECTING)
		return;
	__u64 now = bpf_ktime_get_ns();
	if (st->last_rtt_ns && now - st->last_rtt_ns < rtt_sample_ns)
		return;
	__u32 srtt = ops->srtt_us >> 3;
	if (!srtt)
		return;
	st->last_rtt_ns = now;
	read_counters(ops, st, false);
	if (st->rtt_n >= RTT_BATCH) // a batch the ring could not take
		emit(cookie, st, KIND_RTT);
	if (st->rtt_n >= RTT_BATCH)
		return; // still full: this sample is lost
	if (st->rtt_n == 0)
		st->rtt_first_ns = now;
	st->rtt[st->rtt_n & (RTT_BATCH - 1)] = srtt;
	st->rtt_n++;
	st->sampled = 1;
	if (st->rtt_n == RTT_BATCH || now - st->rtt_first_ns >= rtt_flush_ns)
		emit(cookie, st, KIND_RTT);
}

static __always_inline void on_update(struct bpf_sock_ops *ops, bool rto)
{
	__u64 cookie = bpf_get_socket_cookie(ops);
	struct sock_state *st = bpf_map_lookup_elem(&socks, &cookie);

	if (!st)
		return;
	// RTO_CB fires on every retransmission timeout, including the last
	// one, which gives up instead of retransmitting (args[2] set); the
	// kernel's total_rto counts only the ones that retransmitted.
	if (rto && ops->args[2] == 0)
		st->rto_cbs++;
	read_counters(ops, st, rto);
}

SEC("sockops")
int flowlens_sockops(struct bpf_sock_ops *ops)
{
	if (ops->family != AF_INET && ops->family != AF_INET6)
		return 1;
	switch (ops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		on_connect(ops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_established(ops, false);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_established(ops, true);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ops->args[1] == BPF_TCP_CLOSE)
			on_close(ops);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		on_rtt(ops);
		break;
	case BPF_SOCK_OPS_RETRANS_CB:
		on_update(ops, false);
		break;
	case BPF_SOCK_OPS_RTO_CB:
		on_update(ops, true);
		break;
	}
	return 1;
}

// in_target_cgroup says whether a socket belongs to the cgroup the sock_ops
// program is attached to (or one of its descendants), as the program's own
// scope would: an iterator sees every socket of the network namespace.
static __always_inline bool in_target_cgroup(struct tcp_sock *tp)
{
	if (target_cgroup_id == 0)
		return true; // the root: everything
	struct cgroup *cg = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup);
	if (!cg)
		return false;
	if (BPF_CORE_READ(cg, level) < (int)target_cgroup_level)
		return false;
	struct cgroup *anc = NULL;
	bpf_probe_read_kernel(&anc, sizeof(anc), &cg->ancestors[target_cgroup_level]);
	return anc && BPF_CORE_READ(anc, kn, id) == target_cgroup_id;
}

// refresh copies a socket's counters from its tcp_sock; the version moves
// only when they changed, so idle sockets cost user space nothing.
static __always_inline void refresh(struct tcp_sock *tp, struct sock_state *st)
{
	struct counters c = {};

	c.bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	c.bytes_received = BPF_CORE_READ(tp, bytes_received);
	c.segs_out = BPF_CORE_READ(tp, segs_out);
	c.segs_in = BPF_CORE_READ(tp, segs_in);
	c.total_retrans = BPF_CORE_READ(tp, total_retrans);
	c.srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	if (bpf_core_field_exists(struct tcp_sock, total_rto))
		c.total_rto = BPF_CORE_READ(tp, total_rto);
	else
		c.total_rto = st->rto_cbs;
	if (c.bytes_acked == st->c.bytes_acked && c.bytes_received == st->c.bytes_received &&
	    c.segs_out == st->c.segs_out && c.segs_in == st->c.segs_in &&
	    c.total_retrans == st->c.total_retrans && c.total_rto == st->c.total_rto)
		return;
	st->c = c;
	st->version++;
}

static __always_inline void skc_endpoints(struct sock_common *skc, struct endpoints *ep)
{
	ep->family = BPF_CORE_READ(skc, skc_family);
	ep->local_port = BPF_CORE_READ(skc, skc_num);
	ep->remote_port = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	if (ep->family == AF_INET) {
		ep->local_ip[0] = BPF_CORE_READ(skc, skc_rcv_saddr);
		ep->remote_ip[0] = BPF_CORE_READ(skc, skc_daddr);
		return;
	}
	BPF_CORE_READ_INTO(&ep->local_ip, skc, skc_v6_rcv_saddr.in6_u.u6_addr32);
	BPF_CORE_READ_INTO(&ep->remote_ip, skc, skc_v6_daddr.in6_u.u6_addr32);
}

// adopt starts tracking an established socket that predates the program
// (or was left out when the map was full): it enables the socket's
// callbacks, which only a BPF program can do, so its close and counters are
// seen from now on.
static __always_inline void adopt(struct sock_common *skc, struct tcp_sock *tp, __u64 cookie)
{
	struct sock_state init = {};

	skc_endpoints(skc, &init.ep);
	init.phase = PHASE_PREEXISTING;
	refresh(tp, &init);
	// A full map is not counted here: the iterator would count the same
	// sockets again every second.
	if (!track(cookie, &init, false, BPF_NOEXIST))
		return;
	int flags = BPF_CORE_READ(tp, bpf_sock_ops_cb_flags) | established_cbs();
	bpf_setsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
}

// flowlens_refresh runs over the TCP sockets of the agent's network
// namespace each time user space reads its iterator, just before a
// snapshot: it refreshes the tracked sockets' counters (a socket that only
// receives gets no RTT callbacks) and adopts untracked established ones.
SEC("iter/tcp")
int flowlens_refresh(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; // request and TIME_WAIT sockets
	__u64 cookie = bpf_get_socket_cookie(tp);
	struct sock_state *st = bpf_map_lookup_elem(&socks, &cookie);
	if (st) {
		if (st->phase != PHASE_CONNECTING)
			refresh(tp, st);
		return 0;
	}
	__u8 state = BPF_CORE_READ(skc, skc_state);
	if (state != BPF_TCP_ESTABLISHED && state != BPF_TCP_CLOSE_WAIT)
		return 0;
	__u16 family = BPF_CORE_READ(skc, skc_family);
	if ((family != AF_INET && family != AF_INET6) || !in_target_cgroup(tp))
		return 0;
	adopt(skc, tp, cookie);
	return 0;
}
