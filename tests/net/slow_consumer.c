/*
 * tests/net/slow_consumer.c - losses under overload are counted exactly.
 *
 * The peer runs a slow sink (it spins per message, its mailbox holds 64
 * messages) and a node whose inbound subscription holds at most 8 frames
 * (pending_frames). The test node's frames are small (max_frame 4096, ~70
 * messages each: many frames) and its senders send as fast as they can.
 * The peer's inbound thread waits for the full sink (node.h,
 * "Backpressure"), so frames pile up in its subscription; those beyond
 * the pending limit are dropped by its NATS client (a slow consumer) and
 * show up as sequence gaps. After the senders finish, the peer drains, the
 * test node says goodbye (so the peer also counts a gap at the very end
 * of the stream), and then, exactly:
 *     sent (test node) == received (peer) + lost (both nodes),
 * with losses > 0 (otherwise the test tested nothing), the sink still
 * seeing every sender's messages in order (gaps allowed, no duplicates),
 * and every message the peer delivered counted by the sink.
 *
 * Overload is made certain rather than hoped for: besides the slow sink,
 * the test stops the peer process (SIGSTOP) for 50 ms at a time while
 * the senders run, so frames pile up in the server and arrive in bursts
 * far larger than 8 frames when it continues (SIGCONT).
 */
#include "net_senders.h"

#define SENDERS 4
#define CHUNK 128

/* The peer's received + its gap count (what it has accounted for). */
static uint64_t accounted(const trp_node_stats_t *s)
{
	return s->received + net_lost_total(s);
}

static void test_slow_consumer(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role",
				"slow",
				"--slow-us",
				"20",
				"--pending-frames",
				"8",
				"--sink-limit",
				"64",
				"--heartbeat-misses",
				NET_LOAD_MISSES_STR,
				NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	snprintf(net_hooks.expect_peer, sizeof net_hooks.expect_peer, "peer");
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	cfg.max_frame = 4096;
	cfg.heartbeat_misses = NET_LOAD_MISSES;
	/* no flow control: the overload must reach NATS (flow_control.c
	 * tests the same load with it) */
	cfg.credit_window = TRP_NODE_CREDIT_OFF;
	net_local_start(fx, "main", &cfg);

	static struct net_run run;
	memset(&run, 0, sizeof run);
	run.proxy = net_proxy(fx, "peer", NET_SINK);
	run.chunk = CHUNK;
	run.per_sender = net_scaled(25000, 2000);
	const uint64_t total = run.per_sender * SENDERS;
	printf("  %d senders x %" PRIu64 " messages to a slow sink\n", SENDERS,
	       run.per_sender);
	net_senders_start(fx, &run, SENDERS);
	/* Pulses while the senders run. */
	int pulses = net_senders_pulse(peer, &run, SENDERS);
	/* A last burst after the senders finished: the tail of the
	 * streams is overloaded as well. */
	kill(peer->pid, SIGSTOP);
	net_sleep_ms(50);
	kill(peer->pid, SIGCONT);
	net_senders_check(&run, SENDERS);
	printf("  senders done after %d pulses\n", pulses);

	/* Let the test node publish everything and the peer's NATS client
	 * take or drop every frame, so that the goodbye below finds an
	 * empty queue. Awaited, not guessed from a quiet spell: each frame
	 * we published (frames_out) is either taken by the peer's inbound
	 * thread (frames_in) or dropped by its client (slow_consumer_frames,
	 * which the inbound thread refreshes every 50 ms while it waits).
	 * The last frame may still be on its way when this holds; the
	 * goodbye is published behind it. Bounded. */
	NET_OK(trp_runtime_wait_idle(fx->rt, NET_SETTLE_NS));
	int64_t deadline = net_now() + 60 * NET_SEC;
	for (;;) {
		trp_node_stats_t ls = net_local_stats(fx);
		trp_node_stats_t ps = net_peer_stats(peer);
		if (ls.sent == total &&
		    ps.frames_in + ps.slow_consumer_frames >= ls.frames_out)
			break;
		if (net_now() > deadline)
			fail_msg("the peer did not take or drop every frame: "
				 "sent %" PRIu64 " of %" PRIu64
				 ", frames out %" PRIu64 ", peer frames in "
				 "%" PRIu64 " + dropped %" PRIu64
				 ", peer disconnects %" PRIu64,
				 ls.sent, total, ls.frames_out, ps.frames_in,
				 ps.slow_consumer_frames, ps.disconnects);
		net_sleep_ms(20);
	}

	/* Goodbye: the peer counts the gap at the end of our stream. */
	trp_node_stats_t local = net_local_stop(fx);
	assert_int_equal(local.sent, total);
	uint64_t sender_lost = net_lost_total(&local);
	deadline = net_now() + 20 * NET_SEC;
	trp_node_stats_t ps;
	for (;;) {
		ps = net_peer_stats(peer);
		if (accounted(&ps) + sender_lost >= total ||
		    net_now() > deadline)
			break;
		net_sleep_ms(20);
	}

	struct net_peer_final pf;
	net_peer_stop(peer, &pf);
	net_print_stats("main", &local);
	net_print_stats("peer", &pf.node);
	printf("  sink: count %" PRIu64 " violations %" PRIu64
	       " skipped %" PRIu64 "\n",
	       pf.sink.count, pf.sink.violations, pf.sink.skipped);
	const trp_node_stats_t *all[2] = { &local, &pf.node };
	net_assert_conserved(all, 2);

	uint64_t lost = sender_lost + net_lost_total(&pf.node);
	assert_int_equal(pf.node.received + lost, total);
	if (lost == 0)
		fail_msg("no message was lost: the overload did not happen "
			 "(slow_consumer_frames %" PRIu64 "), the test tested "
			 "nothing",
			 pf.node.slow_consumer_frames);
	/* Gaps from dropped frames: the peer's NATS client saw them. */
	assert_true(pf.node.lost[TRP_LOSS_GAP] > 0);
	assert_true(pf.node.slow_consumer_frames > 0);
	/* Order survived the losses; the sink took all that arrived. */
	assert_int_equal(pf.sink.violations, 0);
	assert_int_equal(pf.sink_unexpected, 0);
	assert_int_equal(pf.node.delivered, pf.sink.count);
	assert_int_equal(pf.node.undeliverable, 0);
	assert_int_equal(pf.sink.count + lost, total);
	assert_true(pf.sink.skipped <= pf.node.lost[TRP_LOSS_GAP]);
	/* The test node's hook saw its own losses (if any), for "peer". */
	assert_int_equal(net_ld(&net_hooks.loss_bad), 0);
	assert_int_equal(net_ld(&net_hooks.loss_peer_mismatch), 0);
	uint64_t hooked = 0;
	for (int c = 0; c < TRP_LOSS_CAUSES; c++)
		hooked += net_ld(&net_hooks.loss_msgs[c]);
	assert_int_equal(hooked, sender_lost);

	net_local_destroy(fx);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slow_consumer, net_setup,
						net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
