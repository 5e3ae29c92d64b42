/*
 * tests/net/links.c - links across nodes (troupe/monitor.h, node.h
 * "Remote monitors and links"): a local actor linked to a proxy is linked
 * to the remote actor.
 *
 *   remote_fail      the remote actor fails: a linked local actor stops
 *                    with TRP_STOP_LINKED, one that traps exits gets one
 *                    exit message with the real reason and code
 *   local_fail       a local actor fails: the remote actor linked to it
 *                    stops with TRP_STOP_LINKED, a remote trapper gets one
 *                    exit message, after every message the local actor
 *                    sent it (checked on the peer process)
 *   node_down        kill -9 of the peer: each link of a local actor to
 *                    it fires exactly once with TRP_STOP_NOCONNECTION
 *   our_node_down    the test's node stops: on the peer, each actor
 *                    linked to one of ours hears TRP_STOP_NOCONNECTION
 *                    once per link (a link removed before: not at all)
 *   unlink           trp_unlink() cancels both directions
 *   normal           normal stops do not propagate either way; trappers
 *                    still hear of them
 *
 * The peer is a net_test_node process with the "linked" role (victim,
 * keeper, trapper); the test process runs node "main". Each test but
 * node_down ends with both nodes quiescent and checks the cluster-wide
 * identity sent == received + lost; node_down checks the local node's.
 */
#include "net_util.h"

/* ------------------------------------------------------ local actors -- */

#define LOCALS 8

/* What local actor i saw (relaxed atomics: one writer, the actor). */
struct local_counts {
	atomic_int started, reason, exits, exit_reason, exit_code;
	atomic_uint_least64_t exit_from;
};
static struct local_counts lc[LOCALS];

struct local_state {
	int idx;
	int trap;
	trp_actor_t *target; /* NET_T_TICK sends NET_T_SEQ here (borrowed) */
};

static void local_start(trp_actor_t *self, void *state)
{
	struct local_state *s = state;
	/* checked by the test thread: a trapper that is not one is
	 * killed by its first exit signal */
	if (s->trap && trp_actor_trap_exits(self, NET_T_EXIT) != 0)
		return;
	atomic_store(&lc[s->idx].started, 1);
}

static void local_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	struct local_state *s = state;
	struct local_counts *c = &lc[s->idx];
	if (net_stop_control(self, m)) {
		return;
	} else if (m->type == NET_T_TICK && m->size == sizeof(uint32_t)) {
		uint32_t n;
		memcpy(&n, m->data, sizeof n);
		for (uint32_t i = 0; i < n; i++) {
			struct net_seq q = { 0, NET_SEQ_MAGIC, i };
			/* unbounded wait-free: the proxy's bound is far */
			(void)trp_send(s->target, NET_T_SEQ, &q, sizeof q);
		}
	} else if (m->type == NET_T_EXIT && m->size == sizeof(trp_down_t)) {
		trp_down_t d;
		memcpy(&d, m->data, sizeof d);
		atomic_store(&c->exit_reason, d.reason);
		atomic_store(&c->exit_code, d.code);
		atomic_store(&c->exit_from, d.actor_id);
		atomic_fetch_add(&c->exits, 1);
	}
}

static void local_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct local_state *s = state;
	(void)self;
	atomic_store(&lc[s->idx].reason, (int)why);
}

/* Waits (bounded) until *@v is at least @want; returns its value. */
static int wait_int(atomic_int *v, int want)
{
	int64_t deadline = net_now() + 10 * NET_SEC;
	while (atomic_load(v) < want && net_now() < deadline)
		net_sleep_ms(1);
	return atomic_load(v);
}

static trp_actor_t *local(struct net_fixture *fx, int idx, int trap,
			  trp_actor_t *target)
{
	struct local_state s = { idx, trap, target };
	trp_actor_def_t def = { 0 };
	trp_actor_t *a = NULL;
	def.behavior = local_behavior;
	def.start = local_start;
	def.stop = local_stop;
	def.state_size = sizeof s;
	def.mailbox_limit = TRP_MAILBOX_UNBOUNDED;
	NET_OK(trp_actor_spawn(fx->rt, &def, &s, &a));
	/* it traps exits before anything is linked to it */
	assert_int_equal(wait_int(&lc[idx].started, 1), 1);
	return net_keep(fx, a);
}

static void send_fail(trp_actor_t *to, int32_t code)
{
	NET_OK(trp_send(to, NET_T_FAIL, &code, sizeof code));
}

static void send_tick(trp_actor_t *to, uint32_t n)
{
	NET_OK(trp_send(to, NET_T_TICK, &n, sizeof n));
}

/* The DOWN of a future from trp_actor_watch(), waited for (bounded). */
static trp_down_t wait_down(trp_future_t *f)
{
	const trp_msg_t *r = NULL;
	NET_OK(trp_future_wait(f, 10 * NET_SEC, &r));
	assert_int_equal(r->size, sizeof(trp_down_t));
	trp_down_t d;
	memcpy(&d, r->data, sizeof d);
	trp_future_release(f);
	return d;
}

/* ------------------------------------------------------------ the peer -- */

struct linked {
	uint64_t v_reason, v_code, k_reason, k_seqs, t_reason, t_exits,
		t_exit_reason, t_exit_code, t_exit_from, t_seqs, t_seqs_at_exit;
};

static struct linked peer_linked(struct net_peer *p)
{
	char line[1024];
	struct linked l;
	net_peer_cmd(p, "linked", "linked", line, sizeof line);
	bool ok = net_kv(line, "v_reason", &l.v_reason) &&
		  net_kv(line, "v_code", &l.v_code) &&
		  net_kv(line, "k_reason", &l.k_reason) &&
		  net_kv(line, "k_seqs", &l.k_seqs) &&
		  net_kv(line, "t_reason", &l.t_reason) &&
		  net_kv(line, "t_exits", &l.t_exits) &&
		  net_kv(line, "t_exit_reason", &l.t_exit_reason) &&
		  net_kv(line, "t_exit_code", &l.t_exit_code) &&
		  net_kv(line, "t_exit_from", &l.t_exit_from) &&
		  net_kv(line, "t_seqs", &l.t_seqs) &&
		  net_kv(line, "t_seqs_at_exit", &l.t_seqs_at_exit);
	if (!ok)
		fail_msg("peer %s: bad linked line: %s", p->name, line);
	return l;
}

/* Polls the peer (bounded) until @done says its counters are there. */
static struct linked peer_wait(struct net_peer *p,
			       bool (*done)(const struct linked *))
{
	struct linked l = peer_linked(p);
	int64_t deadline = net_now() + 10 * NET_SEC;
	while (!done(&l) && net_now() < deadline) {
		net_sleep_ms(5);
		l = peer_linked(p);
	}
	return l;
}

static struct net_peer *start(struct net_fixture *fx)
{
	const char *roles[] = { "--role", "linked", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	net_local_start(fx, "main", NULL);
	NET_OK(trp_node_wait_peer(fx->node, "peer", 10 * NET_SEC));
	/* reachable is not up yet: up comes with its first beat, and only
	 * a peer that is up can go down (node_peers.c) */
	int64_t deadline = net_now() + 10 * NET_SEC;
	while (trp_node_peer_up(fx->node, "peer", NULL) != 1 &&
	       net_now() < deadline)
		net_sleep_ms(5);
	assert_int_equal(trp_node_peer_up(fx->node, "peer", NULL), 1);
	memset(lc, 0, sizeof lc);
	return peer;
}

/* Stops both nodes, checks the cluster-wide identity, destroys ours. */
static void finish(struct net_fixture *fx, struct net_peer *peer)
{
	(void)net_finish_pair(fx, peer);
	net_local_destroy(fx);
}

/* ------------------------------------------------------------- tests -- */

static void test_remote_fail(void **state)
{
	struct net_fixture *fx = *state;
	struct net_peer *peer = start(fx);
	trp_actor_t *pv = net_proxy(fx, peer->name, NET_VICTIM);
	trp_actor_t *l0 = local(fx, 0, 0, NULL);
	trp_actor_t *l1 = local(fx, 1, 1, NULL);
	NET_OK(trp_link(l0, pv));
	NET_OK(trp_link(pv, l1)); /* either order */
	trp_future_t *w0 = NULL;
	NET_OK(trp_actor_watch(l0, &w0));

	send_fail(pv, 42);
	trp_down_t d = wait_down(w0);
	assert_int_equal(d.reason, TRP_STOP_LINKED);
	assert_int_equal(wait_int(&lc[1].exits, 1), 1);
	assert_int_equal(atomic_load(&lc[1].exit_reason), TRP_STOP_FAILED);
	assert_int_equal(atomic_load(&lc[1].exit_code), 42);
	assert_int_equal(atomic_load(&lc[1].exit_from), trp_actor_id(pv));
	assert_true(trp_actor_alive(l1));
	struct linked l = peer_linked(peer);
	assert_int_equal(l.v_reason, TRP_STOP_FAILED);
	assert_int_equal(l.v_code, 42);
	/* exactly once */
	net_sleep_ms(200);
	assert_int_equal(atomic_load(&lc[1].exits), 1);
	finish(fx, peer);
}

static bool victim_and_trapper(const struct linked *l)
{
	return l->v_reason != 0 && l->t_exits >= 1;
}

static void test_local_fail(void **state)
{
	struct net_fixture *fx = *state;
	struct net_peer *peer = start(fx);
	trp_actor_t *pv = net_proxy(fx, peer->name, NET_VICTIM);
	trp_actor_t *pt = net_proxy(fx, peer->name, NET_TRAPPER);
	trp_actor_t *l0 = local(fx, 0, 0, NULL);
	trp_actor_t *l1 = local(fx, 1, 0, pt);
	NET_OK(trp_link(pv, l0));
	NET_OK(trp_link(l1, pt));
	trp_future_t *w1 = NULL;
	NET_OK(trp_actor_watch(l1, &w1));

	/* l1 sends 100 messages to the trapper, then fails: the exit
	 * message comes after all of them */
	send_tick(l1, 100);
	send_fail(l1, 9);
	send_fail(l0, 5);
	assert_int_equal(wait_down(w1).reason, TRP_STOP_FAILED);
	struct linked l = peer_wait(peer, victim_and_trapper);
	printf("  victim stopped with %llu; trapper: %llu exit(s), reason "
	       "%llu code %llu, after %llu of %llu messages\n",
	       (unsigned long long)l.v_reason, (unsigned long long)l.t_exits,
	       (unsigned long long)l.t_exit_reason,
	       (unsigned long long)l.t_exit_code,
	       (unsigned long long)l.t_seqs_at_exit,
	       (unsigned long long)l.t_seqs);
	assert_int_equal(l.v_reason, TRP_STOP_LINKED);
	assert_int_equal(l.t_exits, 1);
	assert_int_equal(l.t_exit_reason, TRP_STOP_FAILED);
	assert_int_equal(l.t_exit_code, 9);
	assert_int_equal(l.t_exit_from, trp_actor_id(l1));
	assert_int_equal(l.t_seqs_at_exit, 100);
	assert_int_equal(l.t_reason, 0); /* it traps: still running */
	assert_int_equal(l.k_reason, 0);
	assert_int_equal(atomic_load(&lc[0].reason), TRP_STOP_FAILED);
	/* the proxies are addresses: still usable */
	assert_true(trp_actor_alive(pv));
	assert_true(trp_actor_alive(pt));
	finish(fx, peer);
}

static void test_node_down(void **state)
{
	struct net_fixture *fx = *state;
	struct net_peer *peer = start(fx);
	trp_actor_t *pv = net_proxy(fx, peer->name, NET_VICTIM);
	trp_actor_t *pk = net_proxy(fx, peer->name, NET_KEEPER);
	trp_actor_t *l0 = local(fx, 0, 0, NULL);
	trp_actor_t *l1 = local(fx, 1, 1, NULL);
	trp_actor_t *l2 = local(fx, 2, 1, NULL);
	NET_OK(trp_link(l0, pv));
	NET_OK(trp_link(l1, pv));
	NET_OK(trp_link(l2, pv));
	NET_OK(trp_link(l2, pk));
	trp_future_t *w0 = NULL;
	NET_OK(trp_actor_watch(l0, &w0));

	int64_t t0 = net_now();
	net_peer_kill(peer);
	assert_int_equal(wait_down(w0).reason, TRP_STOP_LINKED);
	assert_int_equal(wait_int(&lc[1].exits, 1), 1);
	assert_int_equal(wait_int(&lc[2].exits, 2), 2);
	printf("  every link fired %.0f ms after the kill\n",
	       (double)(net_now() - t0) / 1e6);
	assert_int_equal(atomic_load(&lc[1].exit_reason),
			 TRP_STOP_NOCONNECTION);
	assert_int_equal(atomic_load(&lc[2].exit_reason),
			 TRP_STOP_NOCONNECTION);
	/* exactly once: nothing more comes */
	net_sleep_ms(300);
	assert_int_equal(atomic_load(&lc[1].exits), 1);
	assert_int_equal(atomic_load(&lc[2].exits), 2);
	assert_true(trp_actor_alive(l1) && trp_actor_alive(l2));
	assert_int_equal(net_local_stats(fx).peer_downs, 1);
	/* the local node's own identity (the peer's counters died with it) */
	trp_node_stats_t s = net_local_stop(fx);
	assert_int_equal(s.received, s.delivered + s.undeliverable);
	net_local_destroy(fx);
}

static bool trapper_seqs_1(const struct linked *l)
{
	return l->t_seqs >= 1;
}

static bool keeper_and_trapper(const struct linked *l)
{
	return l->k_reason != 0 && l->t_exits >= 2;
}

static void test_our_node_down(void **state)
{
	struct net_fixture *fx = *state;
	struct net_peer *peer = start(fx);
	trp_actor_t *pk = net_proxy(fx, peer->name, NET_KEEPER);
	trp_actor_t *pt = net_proxy(fx, peer->name, NET_TRAPPER);
	trp_actor_t *l0 = local(fx, 0, 0, NULL);
	trp_actor_t *l1 = local(fx, 1, 0, NULL);
	trp_actor_t *l2 = local(fx, 2, 0, NULL);
	trp_actor_t *l3 = local(fx, 3, 0, NULL);
	trp_actor_t *l4 = local(fx, 4, 0, pt);
	NET_OK(trp_link(l0, pk));
	NET_OK(trp_link(l1, pt));
	NET_OK(trp_link(pt, l2));
	NET_OK(trp_link(l3, pt));
	NET_OK(trp_link(l3, pt)); /* one link */
	NET_OK(trp_unlink(l3, pt));
	/* l4's message through the trapper's proxy comes after the links
	 * and the unlink in our stream: once it is there, so are they */
	send_tick(l4, 1);
	struct linked l = peer_wait(peer, trapper_seqs_1);
	assert_int_equal(l.t_seqs, 1);

	/* our node leaves (its goodbye): the peer takes it down and breaks
	 * the links of its actors with ours */
	trp_node_stats_t local_fin = net_local_stop(fx);
	l = peer_wait(peer, keeper_and_trapper);
	printf("  keeper stopped with %llu; trapper: %llu exits, the last "
	       "with %llu\n",
	       (unsigned long long)l.k_reason, (unsigned long long)l.t_exits,
	       (unsigned long long)l.t_exit_reason);
	assert_int_equal(l.k_reason, TRP_STOP_LINKED);
	assert_int_equal(l.t_exits, 2); /* l1 and l2; not l3 */
	assert_int_equal(l.t_exit_reason, TRP_STOP_NOCONNECTION);
	assert_true(l.t_exit_from == trp_actor_id(l1) ||
		    l.t_exit_from == trp_actor_id(l2));
	net_sleep_ms(100);
	assert_int_equal(peer_linked(peer).t_exits, 2); /* exactly once */
	/* our actors heard their proxies close (normal): they go on */
	assert_true(trp_actor_alive(l0) && trp_actor_alive(l1));
	struct net_peer_final pf;
	net_peer_stop(peer, &pf);
	const trp_node_stats_t *all[2] = { &local_fin, &pf.node };
	net_assert_conserved(all, 2);
	net_local_destroy(fx);
}

static bool trapper_seqs_10(const struct linked *l)
{
	return l->t_seqs >= 10;
}

static void test_unlink(void **state)
{
	struct net_fixture *fx = *state;
	struct net_peer *peer = start(fx);
	trp_actor_t *pv = net_proxy(fx, peer->name, NET_VICTIM);
	trp_actor_t *pt = net_proxy(fx, peer->name, NET_TRAPPER);
	trp_actor_t *l0 = local(fx, 0, 0, NULL);
	trp_actor_t *l1 = local(fx, 1, 1, NULL);
	trp_actor_t *l2 = local(fx, 2, 0, NULL);
	trp_actor_t *l3 = local(fx, 3, 0, pt);
	NET_OK(trp_link(l0, pv));
	NET_OK(trp_link(l1, pv));
	NET_OK(trp_link(l2, pt));
	NET_OK(trp_unlink(l0, pv));
	NET_OK(trp_unlink(pv, l1));
	NET_OK(trp_unlink(l2, pt));
	NET_RC(trp_unlink(l2, pt), TRP_ENOENT);

	/* the victim fails: a monitor hears it, the unlinked do not */
	trp_future_t *wv = NULL;
	NET_OK(trp_actor_watch(pv, &wv));
	send_fail(pv, 3);
	trp_down_t d = wait_down(wv);
	assert_int_equal(d.reason, TRP_STOP_FAILED);
	assert_int_equal(d.code, 3);
	net_sleep_ms(50);
	assert_true(trp_actor_alive(l0));
	assert_int_equal(atomic_load(&lc[1].exits), 0);

	/* l2 fails: the trapper hears nothing; l3's messages through the
	 * same proxy afterwards show that nothing came before them */
	trp_future_t *w2 = NULL;
	NET_OK(trp_actor_watch(l2, &w2));
	send_fail(l2, 4);
	assert_int_equal(wait_down(w2).reason, TRP_STOP_FAILED);
	send_tick(l3, 10);
	struct linked l = peer_wait(peer, trapper_seqs_10);
	assert_int_equal(l.t_seqs, 10);
	assert_int_equal(l.t_exits, 0);
	assert_int_equal(l.t_reason, 0);
	finish(fx, peer);
}

static bool trapper_exit_keeper_seq(const struct linked *l)
{
	return l->t_exits >= 1 && l->k_seqs >= 1;
}

static void test_normal(void **state)
{
	struct net_fixture *fx = *state;
	struct net_peer *peer = start(fx);
	trp_actor_t *pv = net_proxy(fx, peer->name, NET_VICTIM);
	trp_actor_t *pk = net_proxy(fx, peer->name, NET_KEEPER);
	trp_actor_t *pt = net_proxy(fx, peer->name, NET_TRAPPER);
	trp_actor_t *l0 = local(fx, 0, 0, NULL);
	trp_actor_t *l1 = local(fx, 1, 1, NULL);
	trp_actor_t *l2 = local(fx, 2, 0, NULL);
	trp_actor_t *l3 = local(fx, 3, 0, NULL);
	trp_actor_t *l4 = local(fx, 4, 0, pk);
	NET_OK(trp_link(l0, pv));
	NET_OK(trp_link(l1, pv));
	NET_OK(trp_link(l2, pk));
	NET_OK(trp_link(l3, pt));

	/* the victim stops normally: l0 goes on, the trapper l1 hears */
	trp_future_t *wv = NULL;
	NET_OK(trp_actor_watch(pv, &wv));
	NET_OK(trp_send(pv, NET_T_STOPME, NULL, 0));
	assert_int_equal(wait_down(wv).reason, TRP_STOP_NORMAL);
	assert_int_equal(wait_int(&lc[1].exits, 1), 1);
	assert_int_equal(atomic_load(&lc[1].exit_reason), TRP_STOP_NORMAL);
	assert_true(trp_actor_alive(l0));

	/* l2 and l3 stop normally: the keeper goes on, the trapper hears */
	trp_future_t *w2 = NULL;
	NET_OK(trp_actor_watch(l2, &w2));
	NET_OK(trp_send(l2, NET_T_STOPME, NULL, 0));
	NET_OK(trp_send(l3, NET_T_STOPME, NULL, 0));
	assert_int_equal(wait_down(w2).reason, TRP_STOP_NORMAL);
	send_tick(l4, 1); /* behind l2's exit signal, through the keeper's
			     proxy */
	struct linked l = peer_wait(peer, trapper_exit_keeper_seq);
	assert_int_equal(l.t_exits, 1);
	assert_int_equal(l.t_exit_reason, TRP_STOP_NORMAL);
	assert_int_equal(l.k_seqs, 1);
	assert_int_equal(l.k_reason, 0);
	assert_int_equal(l.v_reason, TRP_STOP_NORMAL);
	finish(fx, peer);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("NET_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("NET_TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_remote_fail, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_local_fail, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_node_down, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_our_node_down, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_unlink, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_normal, net_setup,
						net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
