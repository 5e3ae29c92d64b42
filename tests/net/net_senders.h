/*
 * tests/net/net_senders.h - the streaming senders of the load tests
 * (fifo.c, slow_consumer.c, flow_control.c): SENDERS actors on the test
 * node, each sending struct net_seq {id, magic, 0..per_sender-1} to one
 * proxy, `chunk` messages per turn, then messaging itself to go on. A
 * send refused with TRP_EFULL (a full proxy, or flow control's bound) is
 * retried in a later turn and counted (efull); any other error stops the
 * sender and is counted (errors, first_error).
 *
 * Threads: the counters are written by the senders' turns and read by the
 * test's thread (atomics; relaxed where they are only counts).
 */
#ifndef TROUPE_TESTS_NET_SENDERS_H
#define TROUPE_TESTS_NET_SENDERS_H

#include "net_util.h"

struct net_run {
	trp_actor_t *proxy;
	uint64_t per_sender;
	int chunk; /* messages per turn */
	atomic_int done;
	atomic_int errors;
	atomic_int first_error;
	atomic_uint_least64_t efull;
	atomic_uint_least64_t sent;
};

struct net_sender {
	struct net_run *run;
	uint32_t id;
	uint64_t next;
};

static void net_sender_behavior(trp_actor_t *self, void *state,
				const trp_msg_t *m)
{
	struct net_sender *s = state;
	struct net_run *r = s->run;
	(void)m;
	if (s->next >= r->per_sender)
		return;
	for (int i = 0; i < r->chunk && s->next < r->per_sender; i++) {
		struct net_seq q = { s->id, NET_SEQ_MAGIC, s->next };
		int rc = trp_send(r->proxy, NET_T_SEQ, &q, sizeof q);
		if (rc == TRP_EFULL) {
			atomic_fetch_add_explicit(&r->efull, 1,
						  memory_order_relaxed);
			break; /* retry on a later turn */
		}
		if (rc != 0) {
			if (atomic_fetch_add(&r->errors, 1) == 0)
				atomic_store(&r->first_error, rc);
			return;
		}
		s->next++;
		atomic_fetch_add_explicit(&r->sent, 1, memory_order_relaxed);
	}
	if (s->next == r->per_sender) {
		atomic_fetch_add(&r->done, 1);
		return;
	}
	int rc = trp_send(self, NET_T_TICK, NULL, 0);
	if (rc != 0 && atomic_fetch_add(&r->errors, 1) == 0)
		atomic_store(&r->first_error, rc);
}

/* Spawns @n senders for @r (kept by the fixture) and starts them. */
static inline void net_senders_start(struct net_fixture *fx, struct net_run *r,
				     uint32_t n)
{
	trp_actor_def_t def = { 0 };
	def.behavior = net_sender_behavior;
	def.state_size = sizeof(struct net_sender);
	def.mailbox_limit = TRP_MAILBOX_UNBOUNDED;
	for (uint32_t i = 0; i < n; i++) {
		struct net_sender init = { r, i, 0 };
		trp_actor_t *a;
		NET_OK(trp_actor_spawn(fx->rt, &def, &init, &a));
		net_keep(fx, a);
		NET_OK(trp_send(a, NET_T_TICK, NULL, 0));
	}
}

/* While @r's @n senders run (bounded: 2000 pulses, 120 s), stops @peer
 * for 50 ms every 70 ms, so that frames pile up in the server and reach
 * the peer in bursts; the peer is continued before this returns. Returns
 * the number of pulses. */
static inline int net_senders_pulse(struct net_peer *peer, struct net_run *r,
				    int n)
{
	int pulses = 0;
	int64_t hard = net_now() + 120 * NET_SEC;
	while (atomic_load(&r->done) + atomic_load(&r->errors) < n &&
	       net_now() < hard && pulses < 2000) {
		kill(peer->pid, SIGSTOP);
		net_sleep_ms(50);
		kill(peer->pid, SIGCONT);
		pulses++;
		net_sleep_ms(20);
	}
	kill(peer->pid, SIGCONT);
	return pulses;
}

/* Fails the test if a sender's send failed or they did not all finish. */
static inline void net_senders_check(struct net_run *r, int n)
{
	if (atomic_load(&r->errors) != 0)
		fail_msg("a sender's trp_send failed: %s",
			 trp_errname(atomic_load(&r->first_error)));
	if (atomic_load(&r->done) != n)
		fail_msg("senders did not finish: %" PRIu64 " of %" PRIu64
			 " sent",
			 (uint64_t)atomic_load(&r->sent),
			 r->per_sender * (uint64_t)n);
}

#endif /* TROUPE_TESTS_NET_SENDERS_H */
