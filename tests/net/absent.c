/*
 * tests/net/absent.c - a peer that is not there: never started, or
 * killed (SIGKILL, a real crash of its process).
 *
 * NATS answers a frame to a subject nobody subscribes with "no
 * responders" (FACTS.md §6: ~0.14 ms): an ask completes with TRP_ENOTCONN
 * at once, one-way messages are counted in
 * lost[TRP_LOSS_NO_RESPONDERS]. The 1 s bounds below are not speed
 * checks (the nominal time is ~1000x smaller), they say "no timeout was
 * involved".
 */
#include "net_util.h"

static void test_peer_never_started(void **state)
{
	struct net_fixture *fx = *state;
	snprintf(net_hooks.expect_peer, sizeof net_hooks.expect_peer, "ghost");
	net_local_start(fx, "main", NULL);
	trp_actor_t *ghost = net_proxy(fx, "ghost", NET_ECHO);

	int64_t t0 = net_now();
	NET_RC(net_ask(ghost, NET_T_PING, "?", 1, 10000, NULL, 0, NULL),
	       TRP_ENOTCONN);
	int64_t took = net_now() - t0;
	printf("  ENOTCONN after %.3f ms\n", (double)took / 1e6);
	assert_true(took < NET_SEC);

	/* One-way messages: accepted, then lost, every one counted. */
	const int sends = 10;
	for (int i = 0; i < sends; i++)
		NET_OK(trp_send(ghost, NET_T_BLOB, &i, sizeof i));
	/* A second ask, behind the sends in the stream. */
	t0 = net_now();
	NET_RC(net_ask(ghost, NET_T_PING, "?", 1, 10000, NULL, 0, NULL),
	       TRP_ENOTCONN);
	assert_true(net_now() - t0 < NET_SEC);

	trp_node_stats_t s;
	int64_t deadline = net_now() + 10 * NET_SEC;
	for (;;) {
		s = net_local_stats(fx);
		if (s.lost[TRP_LOSS_NO_RESPONDERS] >= (uint64_t)sends + 2 ||
		    net_now() > deadline)
			break;
		net_sleep_ms(1);
	}
	net_print_stats("main", &s);
	/* Everything that left the proxy was lost there, nothing
	 * received: sends and both asks. */
	assert_int_equal(s.sent, sends + 2);
	assert_int_equal(s.lost[TRP_LOSS_NO_RESPONDERS], sends + 2);
	assert_int_equal(net_lost_total(&s), s.sent);
	assert_int_equal(s.received, 0);
	assert_int_equal(s.asks_out, 2);
	assert_int_equal(s.replies_in, 0);
	/* The hook saw the same messages, all for "ghost". */
	assert_int_equal(net_ld(&net_hooks.loss_msgs[TRP_LOSS_NO_RESPONDERS]),
			 sends + 2);
	assert_true(net_ld(&net_hooks.loss_events[TRP_LOSS_NO_RESPONDERS]) >=
		    1);
	assert_int_equal(net_ld(&net_hooks.loss_bad), 0);
	assert_int_equal(net_ld(&net_hooks.loss_peer_mismatch), 0);

	/* No permanent quarantine: once "ghost" runs (trp_node_wait_peer
	 * says when its subscription answers), it is reachable through the
	 * same proxy, at the first try. */
	NET_RC(trp_node_wait_peer(fx->node, "ghost", 0), TRP_ETIMEDOUT);
	t0 = net_now();
	NET_RC(trp_node_wait_peer(fx->node, "ghost", 100 * NET_MS),
	       TRP_ETIMEDOUT);
	took = net_now() - t0;
	assert_true(took >= 90 * NET_MS && took < 5 * NET_SEC);
	const char *roles[] = { "--role", "echo", NULL };
	struct net_peer *peer = net_peer_start(fx, "ghost", roles);
	NET_OK(trp_node_wait_peer(fx->node, "ghost", 10 * NET_SEC));
	char buf[8];
	size_t got = 0;
	NET_OK(net_ask(ghost, NET_T_PING, "back", 4, 10000, buf, sizeof buf,
		       &got));
	assert_int_equal(got, 4);
	assert_memory_equal(buf, "back", 4);
	/* Waiting for a node that is there succeeds (bounded: with 0, the
	 * one try gives the answer only ~1 ms, too little on a loaded
	 * machine). */
	NET_OK(trp_node_wait_peer(fx->node, "ghost", 5 * NET_SEC));
	/* The pings of trp_node_wait_peer are not messages. */
	trp_node_stats_t after = net_local_stats(fx);
	assert_int_equal(after.sent, s.sent + 1);

	trp_node_stats_t local = net_local_stop(fx);
	struct net_peer_final pf;
	net_peer_stop(peer, &pf);
	const trp_node_stats_t *all[2] = { &local, &pf.node };
	net_assert_conserved(all, 2);
	net_local_destroy(fx);
}

static void test_peer_killed(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "echo", NULL };
	struct net_peer *peer = net_peer_start(fx, "victim", roles);
	net_local_start(fx, "main", NULL);
	trp_actor_t *echo = net_proxy(fx, "victim", NET_ECHO);
	NET_OK(net_ask(echo, NET_T_PING, "x", 1, 10000, NULL, 0, NULL));
	uint64_t inc = 0;
	assert_int_equal(trp_node_peer_up(fx->node, "victim", &inc), 1);
	assert_int_equal(inc, peer->inc);
	/* Whoever watches the proxy hears of the node's loss. */
	trp_future_t *watch = NULL;
	NET_OK(trp_actor_watch(echo, &watch));

	net_peer_kill(peer);
	assert_true(WIFSIGNALED(peer->exit_status));

	/* The server drops the dead client's subscription when it sees
	 * the socket close; the first frame after that finds no
	 * subscriber: the node is down (node.h, "Failure detection"), the
	 * pending ask fails with TRP_ENOTCONN and the proxy is killed, so
	 * a later ask on it is refused (TRP_EDEAD). Heartbeats may take
	 * the node down first (EDEAD at once). Until the server noticed,
	 * an ask may go unanswered (ETIMEDOUT). Nothing else is
	 * acceptable, and the whole wait is bounded. */
	int down = 0, timeouts = 0;
	int64_t deadline = net_now() + 10 * NET_SEC;
	for (int i = 0; i < 100 && down == 0 && net_now() < deadline; i++) {
		int64_t t0 = net_now();
		int rc = net_ask(echo, NET_T_PING, "x", 1, 500, NULL, 0, NULL);
		if (rc == TRP_ENOTCONN || rc == TRP_EDEAD) {
			down = rc;
			printf("  %s after %.3f ms (%d timeouts before)\n",
			       trp_errname(rc), (double)(net_now() - t0) / 1e6,
			       timeouts);
			assert_true(net_now() - t0 < NET_SEC);
		} else if (rc == TRP_ETIMEDOUT) {
			timeouts++;
		} else {
			fail_msg("ask to a killed peer: %s", trp_errname(rc));
		}
	}
	assert_true(down != 0);

	/* The proxy was killed for the lost connection, exactly once. */
	const trp_msg_t *r = NULL;
	NET_OK(trp_future_wait(watch, 10 * NET_SEC, &r));
	assert_int_equal(r->size, sizeof(trp_down_t));
	trp_down_t d;
	memcpy(&d, r->data, sizeof d);
	assert_int_equal(d.reason, TRP_STOP_NOCONNECTION);
	assert_int_equal(d.actor_id, trp_actor_id(echo));
	trp_future_release(watch);
	assert_false(trp_actor_alive(echo));
	NET_RC(trp_send(echo, NET_T_BLOB, "x", 1), TRP_EDEAD);
	assert_int_equal(trp_node_peer_up(fx->node, "victim", NULL), 0);

	/* A fresh proxy: its asks fail fast with TRP_ENOTCONN, its one-way
	 * messages are counted as no responders. */
	trp_actor_t *fresh = net_proxy(fx, "victim", NET_ECHO);
	assert_true(trp_actor_id(fresh) != trp_actor_id(echo));
	int64_t t0 = net_now();
	NET_RC(net_ask(fresh, NET_T_PING, "x", 1, 10000, NULL, 0, NULL),
	       TRP_ENOTCONN);
	assert_true(net_now() - t0 < NET_SEC);
	trp_node_stats_t before = net_local_stats(fx);
	for (int i = 0; i < 5; i++)
		NET_OK(trp_send(fresh, NET_T_BLOB, &i, sizeof i));
	trp_node_stats_t s = before;
	deadline = net_now() + 10 * NET_SEC;
	while (s.lost[TRP_LOSS_NO_RESPONDERS] <
		       before.lost[TRP_LOSS_NO_RESPONDERS] + 5 &&
	       net_now() < deadline) {
		net_sleep_ms(1);
		s = net_local_stats(fx);
	}
	assert_int_equal(s.lost[TRP_LOSS_NO_RESPONDERS],
			 before.lost[TRP_LOSS_NO_RESPONDERS] + 5);
	assert_int_equal(s.peer_downs, 1);
	assert_true(trp_actor_alive(fresh)); /* down once per up period */

	/* The test node itself is fine, and stops cleanly (its goodbye
	 * finds nobody: the stop is bounded by its timeout). */
	t0 = net_now();
	trp_node_stats_t fin = net_local_stop(fx);
	assert_true(net_now() - t0 < 10 * NET_SEC);
	/* Conservation: the peer's counters died with it, so only the
	 * local half of the identity can be checked: what arrived here was
	 * delivered or refused, and every message sent after the peer's
	 * death was counted lost (above). */
	assert_int_equal(fin.received, fin.delivered + fin.undeliverable);
	net_local_destroy(fx);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_peer_never_started,
						net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(test_peer_killed, net_setup,
						net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
