/*
 * tests/net/held_inbound.c - a node whose inbound thread is held by a full
 * receiver keeps reading its connection.
 *
 * The inbound thread reads the connection's socket itself (node_loop.c),
 * and it waits while a bounded receiver is full (node.h, "Backpressure").
 * Its waits run the connection's loop, so heartbeats keep arriving, and
 * nobody judges the other side down for a wait. This test holds the
 * thread well past the heartbeat window and checks that.
 *
 * Setup: the peer's sink spins 100 ms per message and holds at most one
 * message (--sink-limit 1). MESSAGES messages to it hold the peer's
 * inbound thread for about MESSAGES x 100 ms (4 s), twice the heartbeat
 * window of both nodes (250 ms x 8 misses = 2 s).
 *
 * Had the waits stopped reading, the peer would have missed our beats for
 * that long and taken us down: its peer_downs would be 1, and its proxies
 * and asks to us would fail. So, at the end:
 *   - neither node saw the other go down;
 *   - every message arrived, in order;
 *   - sent == received + lost over both nodes, with nothing lost.
 */
#include "net_util.h"

#define MESSAGES 40
#define MISSES 8

static void test_held_inbound_keeps_reading(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role",
				"slow",
				"--slow-us",
				"100000",
				"--sink-limit",
				"1",
				"--heartbeat-misses",
				"8",
				NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	snprintf(net_hooks.expect_peer, sizeof net_hooks.expect_peer, "peer");
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	cfg.heartbeat_misses = MISSES;
	net_local_start(fx, "main", &cfg);
	trp_actor_t *sink = net_proxy(fx, "peer", NET_SINK);

	int64_t t0 = net_now();
	for (uint64_t i = 0; i < MESSAGES; i++) {
		struct net_seq m = { .sender = 0,
				     .magic = NET_SEQ_MAGIC,
				     .seq = i };
		NET_OK(trp_send(sink, NET_T_SEQ, &m, sizeof m));
	}

	/* Wait until the sink has taken them all (bounded). */
	int64_t deadline = net_now() + 60 * NET_SEC;
	trp_node_stats_t ps;
	for (;;) {
		ps = net_peer_stats(peer);
		if (ps.delivered >= MESSAGES)
			break;
		if (net_now() > deadline)
			fail_msg("the peer delivered %" PRIu64 " of %d "
				 "messages in 60 s",
				 ps.delivered, MESSAGES);
		net_sleep_ms(50);
	}
	double held_s = (double)(net_now() - t0) / 1e9;
	printf("  %d messages delivered after %.2f s (heartbeat window "
	       "%.2f s)\n",
	       MESSAGES, held_s, 0.25 * MISSES);
	/* The sink's pace held the thread past the heartbeat window:
	 * otherwise the test tested nothing. */
	assert_true(held_s > 0.25 * MISSES);

	trp_node_stats_t ls = net_local_stats(fx);
	assert_int_equal(ls.peer_downs, 0);
	assert_int_equal(ps.peer_downs, 0);

	struct net_peer_final pf = net_finish_pair(fx, peer);
	assert_int_equal(pf.sink.count, MESSAGES);
	assert_int_equal(pf.sink.violations, 0);
	assert_int_equal(pf.sink.skipped, 0);
	assert_int_equal(pf.node.received, MESSAGES);
	assert_int_equal(net_lost_total(&pf.node), 0);
	/* Taken down at the end by our goodbye only (the peer's stats
	 * after its stop count that one). */
	assert_true(pf.node.peer_downs <= 1);
	net_local_destroy(fx);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_held_inbound_keeps_reading,
						net_setup, net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
