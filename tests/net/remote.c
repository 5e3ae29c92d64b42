/*
 * tests/net/remote.c - reaching actors of another node through proxies:
 * send and ask by name, a proxy registered locally, exported names, an
 * unknown name (TRP_ENOENT), an ask that times out and its late reply.
 *
 * The peer is a net_test_node process; the test process runs its own
 * runtime and node "main". Each test ends with both nodes quiescent and
 * checks the cluster-wide identity sent == received + lost.
 */
#include "net_util.h"

/* A payload of @len bytes of pattern @salt (caller frees). */
static unsigned char *pattern(size_t len, unsigned salt)
{
	unsigned char *b = malloc(len > 0 ? len : 1);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = net_pattern(i, salt);
	return b;
}

/* ------------------------------------------------ send and ask by name -- */

/* Outcome of a future delivered to an actor (trp_future_then). */
static atomic_int outcome_seen;
static atomic_int outcome_status;
static atomic_size_t outcome_size;
static atomic_uint_least64_t outcome_sum;

static void outcome_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	(void)self;
	(void)state;
	if (m->type != NET_T_OUTCOME)
		return;
	atomic_store(&outcome_status, m->status);
	atomic_store(&outcome_size, m->size);
	atomic_store(&outcome_sum, net_sum(m->data, m->size));
	atomic_fetch_add(&outcome_seen, 1);
}

static void test_send_and_ask_by_name(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "echo", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	net_local_start(fx, "main", NULL);
	trp_actor_t *echo = net_proxy(fx, "peer", NET_ECHO);

	/* The same (node, name): the same proxy. */
	trp_actor_t *again = net_proxy(fx, "peer", NET_ECHO);
	assert_int_equal(trp_actor_id(again), trp_actor_id(echo));

	/* Asks: the reply is the payload, for sizes around the inline
	 * limits and a few large ones. */
	static const size_t sizes[] = { 0,  1,	7,  15,	  16,	17,    31,
					32, 33, 64, 1000, 4096, 65536, 200000 };
	uint64_t asks = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		unsigned char *req = pattern(n, (unsigned)i);
		unsigned char *rep = malloc(n > 0 ? n : 1);
		assert_non_null(rep);
		size_t got = SIZE_MAX;
		NET_OK(net_ask(echo, NET_T_PING, n > 0 ? req : NULL, n, 10000,
			       rep, n, &got));
		assert_int_equal(got, n);
		assert_true(n == 0 || memcmp(req, rep, n) == 0);
		asks++;
		free(req);
		free(rep);
	}

	/* One-way sends by name, then an ask behind them in the same
	 * stream: the echo has seen them all, the last one intact. */
	uint64_t oneway = 0, last_size = 0, last_sum = 0;
	for (unsigned i = 0; i < 10; i++) {
		size_t n = 100 + i * 37;
		unsigned char *b = pattern(n, 100 + i);
		NET_OK(trp_send(echo, NET_T_BLOB, b, n));
		last_size = n;
		last_sum = net_sum(b, n);
		oneway++;
		free(b);
	}
	/* An owned buffer: the runtime frees it (LSan checks). */
	unsigned char *owned = pattern(3000, 7);
	last_size = 3000;
	last_sum = net_sum(owned, 3000);
	NET_OK(trp_send_owned(echo, NET_T_BLOB, owned, 3000, NULL));
	oneway++;
	struct net_echo_stats es = net_ask_echo(echo, 10000);
	assert_int_equal(es.oneway, oneway);
	assert_int_equal(es.last_size, last_size);
	assert_int_equal(es.last_sum, last_sum);
	assert_int_equal(es.asks, asks);

	/* A proxy registered under a local name: trp_lookup finds it and
	 * trp_send_named goes through it. */
	NET_OK(trp_register(fx->rt, "remote-echo", echo));
	trp_actor_t *found = NULL;
	NET_OK(trp_lookup(fx->rt, "remote-echo", &found));
	assert_int_equal(trp_actor_id(found), trp_actor_id(echo));
	trp_actor_release(found);
	for (unsigned i = 0; i < 5; i++) {
		unsigned char b[40];
		for (size_t k = 0; k < sizeof b; k++)
			b[k] = net_pattern(k, 200 + i);
		NET_OK(trp_send_named(fx->rt, "remote-echo", NET_T_BLOB, b,
				      sizeof b));
		last_size = sizeof b;
		last_sum = net_sum(b, sizeof b);
		oneway++;
	}
	es = net_ask_echo(echo, 10000);
	assert_int_equal(es.oneway, oneway);
	assert_int_equal(es.last_size, last_size);
	assert_int_equal(es.last_sum, last_sum);

	/* trp_future_then: the outcome of a remote ask as a message to a
	 * local actor. */
	trp_actor_def_t def = { 0 };
	def.behavior = outcome_behavior;
	trp_actor_t *collector = NULL;
	NET_OK(trp_actor_spawn(fx->rt, &def, NULL, &collector));
	net_keep(fx, collector);
	unsigned char *req = pattern(500, 9);
	trp_future_t *f = NULL;
	atomic_store(&outcome_seen, 0);
	NET_OK(trp_ask(echo, NET_T_PING, req, 500, &f));
	NET_OK(trp_future_then(f, collector, NET_T_OUTCOME));
	asks++;
	int64_t deadline = net_now() + 10 * NET_SEC;
	while (atomic_load(&outcome_seen) == 0 && net_now() < deadline)
		net_sleep_ms(1);
	assert_int_equal(atomic_load(&outcome_seen), 1);
	assert_int_equal(atomic_load(&outcome_status), 0);
	assert_int_equal(atomic_load(&outcome_size), 500);
	assert_int_equal(atomic_load(&outcome_sum), net_sum(req, 500));
	trp_future_release(f);
	free(req);

	trp_node_stats_t ls = net_local_stats(fx);
	assert_true(ls.asks_out >= asks + 2); /* + the two STATS asks */
	assert_true(ls.replies_in >= asks + 2);
	assert_int_equal(ls.peers, 1);

	struct net_peer_final pf = net_finish_pair(fx, peer);
	assert_int_equal(pf.echo.asks, asks);
	assert_int_equal(pf.echo.oneway, oneway);
	assert_int_equal(pf.node.undeliverable, 0);

	/* After the node stopped, its proxies refuse (node.h). */
	NET_RC(trp_send(echo, NET_T_BLOB, "x", 1), TRP_EDEAD);
	trp_future_t *nf = NULL;
	NET_RC(trp_ask(echo, NET_T_PING, "x", 1, &nf), TRP_EDEAD);
	assert_null(nf);
	net_local_destroy(fx);
}

/* ------------------------------------ a proxy only a name refers to -- */

/* node.h: the node's table holds a reference to each proxy, so a proxy
 * registered under a local name works after its creator released it, until
 * trp_node_stop() closes it (and its name goes with it). */
static void test_registered_proxy(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "echo", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	net_local_start(fx, "main", NULL);

	trp_actor_t *p = NULL;
	NET_OK(trp_node_proxy(fx->node, "peer", NET_ECHO, &p));
	NET_OK(trp_register(fx->rt, "remote-echo", p));
	uint64_t id = trp_actor_id(p);
	trp_actor_release(p);
	p = NULL;

	for (unsigned i = 0; i < 5; i++) {
		unsigned char b[24];
		for (size_t k = 0; k < sizeof b; k++)
			b[k] = net_pattern(k, i);
		NET_OK(trp_send_named(fx->rt, "remote-echo", NET_T_BLOB, b,
				      sizeof b));
	}
	trp_actor_t *h = NULL;
	NET_OK(trp_lookup(fx->rt, "remote-echo", &h));
	assert_int_equal(trp_actor_id(h), id);
	struct net_echo_stats es = net_ask_echo(h, 10000);
	trp_actor_release(h);
	assert_int_equal(es.oneway, 5);
	/* Still the same proxy for the same (node, name). */
	NET_OK(trp_node_proxy(fx->node, "peer", NET_ECHO, &h));
	assert_int_equal(trp_actor_id(h), id);
	trp_actor_release(h);

	net_finish_pair(fx, peer);
	/* Closed by the stop: the name went with it. */
	int rc = trp_send_named(fx->rt, "remote-echo", NET_T_BLOB, "x", 1);
	if (rc != TRP_ENOENT && rc != TRP_EDEAD)
		fail_msg("send by name to a closed proxy: %s", trp_errname(rc));
	net_local_destroy(fx);
}

/* ---------------------------------------------------- exported names -- */

static void test_exported(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "exported", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	net_local_start(fx, "main", NULL);
	trp_actor_t *exp = net_proxy(fx, "peer", NET_EXPORTED);
	trp_actor_t *shadow = net_proxy(fx, "peer", NET_SHADOW);
	char buf[64];
	size_t got = 0;

	/* Exported without a registered name: reachable. */
	NET_OK(net_ask(exp, NET_T_PING, "hi", 2, 10000, buf, sizeof buf, &got));
	assert_int_equal(got, 6);
	assert_memory_equal(buf, "exp:hi", 6);

	/* An export shadows a registered name. */
	NET_OK(net_ask(shadow, NET_T_PING, NULL, 0, 10000, buf, sizeof buf,
		       &got));
	assert_int_equal(got, strlen("exported"));
	assert_memory_equal(buf, "exported", got);

	/* Unexported: gone for other nodes. */
	char line[128];
	net_peer_cmd(peer, "unexport", "unexport", line, sizeof line);
	assert_non_null(strstr(line, "rc=TRP_OK"));
	NET_RC(net_ask(exp, NET_T_PING, "hi", 2, 10000, NULL, 0, NULL),
	       TRP_ENOENT);
	net_peer_cmd(peer, "unexport", "unexport", line, sizeof line);
	assert_non_null(strstr(line, "rc=TRP_ENOENT"));

	struct net_peer_final pf = net_finish_pair(fx, peer);
	assert_int_equal(pf.node.undeliverable, 1);
	net_local_destroy(fx);
}

/* ----------------------------------------------------- unknown names -- */

static void test_unknown_name(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "echo", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	net_local_start(fx, "main", NULL);
	trp_actor_t *nobody = net_proxy(fx, "peer", "nobody");

	int64_t t0 = net_now();
	NET_RC(net_ask(nobody, NET_T_PING, "?", 1, 10000, NULL, 0, NULL),
	       TRP_ENOENT);
	printf("  ENOENT after %.3f ms\n", (double)(net_now() - t0) / 1e6);

	/* A one-way send to the unknown name is accepted here and counted
	 * as undeliverable there (no error can come back). */
	NET_OK(trp_send(nobody, NET_T_BLOB, "?", 1));
	/* Behind it in the stream: once this is answered, the peer has
	 * handled the send. */
	trp_actor_t *echo = net_proxy(fx, "peer", NET_ECHO);
	NET_OK(net_ask(echo, NET_T_PING, "x", 1, 10000, NULL, 0, NULL));
	trp_node_stats_t ps = net_peer_stats(peer);
	assert_int_equal(ps.undeliverable, 2);

	struct net_peer_final pf = net_finish_pair(fx, peer);
	assert_int_equal(pf.node.undeliverable, 2);
	assert_int_equal(pf.echo.oneway, 0);
	net_local_destroy(fx);
}

/* --------------------------------------------- timeout and late reply -- */

static void test_ask_timeout_late_reply(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "hold", "--role", "echo", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	net_local_start(fx, "main", NULL);
	trp_actor_t *hold = net_proxy(fx, "peer", NET_HOLD);
	trp_actor_t *echo = net_proxy(fx, "peer", NET_ECHO);

	/* Held, never answered in time: the waiter's timeout completes
	 * the future with TRP_ETIMEDOUT. The first future is released at
	 * once, the second kept. */
	trp_future_t *f1 = NULL, *f2 = NULL;
	const trp_msg_t *r = NULL;
	NET_OK(trp_ask(hold, NET_T_PING, "a", 1, &f1));
	int64_t t0 = net_now();
	NET_RC(trp_future_wait(f1, 200 * NET_MS, &r), TRP_ETIMEDOUT);
	int64_t took = net_now() - t0;
	assert_true(took >= 150 * NET_MS && took < 5 * NET_SEC);
	trp_future_release(f1);
	NET_OK(trp_ask(hold, NET_T_PING, "b", 1, &f2));
	NET_RC(trp_future_wait(f2, 100 * NET_MS, &r), TRP_ETIMEDOUT);

	/* Now the holder answers both: two late replies, dead letters
	 * here (TRP_DEAD_LATE_REPLY, no receiver), nothing else. */
	uint64_t late0 = net_ld(&net_hooks.dead[TRP_DEAD_LATE_REPLY]);
	NET_OK(trp_send(hold, NET_T_RELEASE, NULL, 0));
	int64_t deadline = net_now() + 10 * NET_SEC;
	while (net_ld(&net_hooks.dead[TRP_DEAD_LATE_REPLY]) < late0 + 2 &&
	       net_now() < deadline)
		net_sleep_ms(1);
	assert_int_equal(net_ld(&net_hooks.dead[TRP_DEAD_LATE_REPLY]),
			 late0 + 2);
	assert_int_equal(net_ld(&net_hooks.dead_late_to_nonnull), 0);
	/* The kept future completed once, with the timeout. */
	assert_true(trp_future_done(f2));
	NET_RC(trp_future_wait(f2, 0, &r), TRP_ETIMEDOUT);
	trp_future_release(f2);

	/* The node goes on. */
	char buf[8];
	size_t got = 0;
	NET_OK(net_ask(echo, NET_T_PING, "alive", 5, 10000, buf, sizeof buf,
		       &got));
	assert_int_equal(got, 5);
	trp_stats_t rs;
	NET_OK(trp_runtime_stats(fx->rt, &rs));
	assert_int_equal(rs.dead_by_reason[TRP_DEAD_LATE_REPLY], 2);

	net_finish_pair(fx, peer);
	trp_stats_t fin = net_local_destroy(fx);
	assert_int_equal(fin.dead_by_reason[TRP_DEAD_LATE_REPLY], 2);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_send_and_ask_by_name,
						net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(test_registered_proxy,
						net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(test_exported, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_unknown_name, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_ask_timeout_late_reply,
						net_setup, net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
