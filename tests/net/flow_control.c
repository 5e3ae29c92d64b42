/*
 * tests/net/flow_control.c - a slow receiver behind credit flow control:
 * zero losses, bounded memory on both sides (issue 13, "Flow control").
 *
 * The load of slow_consumer.c: four senders stream as fast as they can
 * into a slow sink on a peer whose inbound subscription holds few frames
 * (320), and the peer process is stopped (SIGSTOP) for 50 ms at a time
 * while they run, so without flow control NATS drops frames (that test
 * checks the count, with 8). Here the test node's window is WINDOW
 * messages (credit_window), which the peer's pending limit exceeds in
 * frames (node.h: a window is at most WINDOW frames in flight), and:
 *   - nothing is lost: sent == received by the peer == counted by the
 *     sink, in order, with no gap; the peer's client dropped nothing;
 *   - the window ran out (windows_full > 0: the senders were held back,
 *     the test tested something) and credit came back (credits_in > 0);
 *   - the sender's memory stayed bounded: the most it ever held back is
 *     at most a window plus what the proxy's bounded mailbox and one turn
 *     of each sender can add before sends are refused (held_max);
 *   - the receiver's memory stayed bounded: at most the pending frames
 *     (no slow-consumer drop) and the sink's mailbox (64 messages in the
 *     bounded case; in the unbounded case the peer's inbound thread waits
 *     while the sink holds TRP__MUTE_HIGH, 16384, and withholds the
 *     credit, checked by the same zero-loss count).
 * Senders that get TRP_EFULL retry in their next turn (not an error).
 */
#include "net_senders.h"

#define SENDERS 4
#define CHUNK 128
#define WINDOW 256
#define PROXY_MAILBOX 1024
/* The peer's pending limit in frames: above the window (each message of
 * a window may travel in a frame of its own) and the odd frame that only
 * asks for credit; far below what the senders push in one 50 ms stop. */
#define PENDING_STR "320"

static void slow_receiver(void **state, bool bounded_sink)
{
	struct net_fixture *fx = *state;
	const char *roles_bounded[] = { "--role",
					"slow",
					"--slow-us",
					"20",
					"--pending-frames",
					PENDING_STR,
					"--sink-limit",
					"64",
					"--heartbeat-misses",
					NET_LOAD_MISSES_STR,
					NULL };
	const char *roles_unbounded[] = { "--role",
					  "slow",
					  "--slow-us",
					  "5",
					  "--pending-frames",
					  PENDING_STR,
					  "--heartbeat-misses",
					  NET_LOAD_MISSES_STR,
					  NULL };
	struct net_peer *peer = net_peer_start(
		fx, "peer", bounded_sink ? roles_bounded : roles_unbounded);
	snprintf(net_hooks.expect_peer, sizeof net_hooks.expect_peer, "peer");
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	cfg.max_frame = 4096;
	cfg.heartbeat_misses = NET_LOAD_MISSES;
	cfg.credit_window = WINDOW;
	cfg.proxy_mailbox = PROXY_MAILBOX;
	net_local_start(fx, "main", &cfg);

	static struct net_run run;
	memset(&run, 0, sizeof run);
	run.proxy = net_proxy(fx, "peer", NET_SINK);
	run.chunk = CHUNK;
	run.per_sender = bounded_sink ? net_scaled(25000, 2000) :
					net_scaled(10000, 1000);
	const uint64_t total = run.per_sender * SENDERS;
	printf("  %d senders x %" PRIu64 " messages to a slow sink (%s), "
	       "window %d\n",
	       SENDERS, run.per_sender, bounded_sink ? "bounded" : "unbounded",
	       WINDOW);
	net_senders_start(fx, &run, SENDERS);
	int pulses = net_senders_pulse(peer, &run, SENDERS);
	net_senders_check(&run, SENDERS);
	printf("  senders done after %d pulses, %" PRIu64 " EFULL retries\n",
	       pulses, (uint64_t)atomic_load(&run.efull));

	/* Everything reaches the peer: its received count gets to the
	 * total (bounded wait). */
	NET_OK(trp_runtime_wait_idle(fx->rt, NET_SETTLE_NS));
	int64_t deadline = net_now() + 30 * NET_SEC;
	trp_node_stats_t ps;
	for (;;) {
		ps = net_peer_stats(peer);
		if (ps.received + net_lost_total(&ps) >= total)
			break;
		if (net_now() > deadline) {
			trp_node_stats_t ls;
			(void)trp_node_stats(fx->node, &ls);
			net_print_stats("main", &ls);
			net_print_stats("peer", &ps);
			fail_msg("the peer received %" PRIu64 " of %" PRIu64
				 " (held %" PRIu64 ", windows_full %" PRIu64
				 ", credits_in %" PRIu64 ")",
				 ps.received, total, ls.held, ls.windows_full,
				 ls.credits_in);
		}
		net_sleep_ms(20);
	}

	trp_node_stats_t local = net_local_stop(fx);
	struct net_peer_final pf;
	net_peer_stop(peer, &pf);
	net_print_stats("main", &local);
	net_print_stats("peer", &pf.node);
	printf("  flow: windows_full %" PRIu64 " credits_in %" PRIu64
	       " held_max %" PRIu64 " held %" PRIu64 "\n",
	       local.windows_full, local.credits_in, local.held_max,
	       local.held);
	printf("  sink: count %" PRIu64 " violations %" PRIu64
	       " skipped %" PRIu64 "\n",
	       pf.sink.count, pf.sink.violations, pf.sink.skipped);
	const trp_node_stats_t *all[2] = { &local, &pf.node };
	net_assert_conserved(all, 2);

	/* zero losses */
	assert_int_equal(local.sent, total);
	assert_int_equal(net_lost_total(&local), 0);
	assert_int_equal(net_lost_total(&pf.node), 0);
	assert_int_equal(pf.node.slow_consumer_frames, 0);
	assert_int_equal(pf.node.received, total);
	assert_int_equal(pf.node.delivered, total);
	assert_int_equal(pf.sink.count, total);
	assert_int_equal(pf.sink.violations, 0);
	assert_int_equal(pf.sink.skipped, 0);
	assert_int_equal(pf.sink_unexpected, 0);
	/* flow control did the holding back */
	if (local.windows_full == 0)
		fail_msg("the window never ran out: the test tested nothing");
	assert_true(local.credits_in > 0);
	/* the sender's memory: bounded */
	assert_int_equal(local.held, 0);
	assert_true(local.held_max <=
		    WINDOW + PROXY_MAILBOX + (uint64_t)SENDERS * CHUNK);
	assert_int_equal(net_ld(&net_hooks.loss_bad), 0);

	net_local_destroy(fx);
}

static void test_flow_bounded_sink(void **state)
{
	slow_receiver(state, true);
}

static void test_flow_unbounded_sink(void **state)
{
	slow_receiver(state, false);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flow_bounded_sink,
						net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(test_flow_unbounded_sink,
						net_setup, net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
