/*
 * tests/net/fifo.c - per-pair FIFO between nodes, and conservation.
 *
 * 4 sender actors on the test node each send 10^5 (× TRP_STRESS_SCALE)
 * messages (sender id, seq) to the remote sink through one proxy. The
 * sink checks that each sender's sequence arrives in order without
 * duplicates. A NET_T_STATS ask sent through the same proxy after every
 * sender finished travels behind all their messages in the one ordered
 * stream test -> peer, so its answer is the sink's final count.
 *
 * At the end, both nodes quiescent: sum of sent == sum of received + sum
 * of lost[] (node.h), the peer received == delivered + undeliverable, the
 * sink counted every message delivered, and no message was lost or
 * skipped that the counters do not account for.
 *
 * Senders run as actors: each turn sends up to a chunk, then a "tick" to
 * itself for the next turn. A full proxy (TRP_EFULL) is retried on a later
 * turn; muting (a proxy is an actor mailbox) slows senders down before
 * that happens.
 */
#include "net_senders.h"

#define SENDERS 4
#define CHUNK 256

/* One run; frames of at most @max_frame bytes (0: the server's 1 MiB). */
static void run_fifo(struct net_fixture *fx, size_t max_frame)
{
	const char *roles[] = { "--role", "sink", "--heartbeat-misses",
				NET_LOAD_MISSES_STR, NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	cfg.max_frame = max_frame;
	cfg.heartbeat_misses = NET_LOAD_MISSES;
	net_local_start(fx, "main", &cfg);

	static struct net_run run;
	memset(&run, 0, sizeof run);
	run.proxy = net_proxy(fx, "peer", NET_SINK);
	run.chunk = CHUNK;
	run.per_sender = net_scaled(100000, 1000);
	const uint64_t total = run.per_sender * SENDERS;
	printf("  %d senders x %" PRIu64 " messages, max_frame %zu\n", SENDERS,
	       run.per_sender, max_frame);
	int64_t t0 = net_now();
	net_senders_start(fx, &run, SENDERS);

	/* Bounded: progress must not stop for 20 s, and 240 s in all. */
	int64_t last_move = net_now(), hard = net_now() + 240 * NET_SEC;
	uint64_t last_sent = 0;
	while (atomic_load(&run.done) + atomic_load(&run.errors) < SENDERS) {
		uint64_t now_sent = atomic_load(&run.sent);
		if (now_sent != last_sent) {
			last_sent = now_sent;
			last_move = net_now();
		}
		if (net_now() - last_move > 20 * NET_SEC || net_now() > hard)
			fail_msg("senders stalled at %" PRIu64 " of %" PRIu64
				 " messages",
				 now_sent, total);
		net_sleep_ms(2);
	}
	if (atomic_load(&run.errors) != 0)
		fail_msg("a sender's trp_send failed: %s",
			 trp_errname(atomic_load(&run.first_error)));
	int64_t t_sent = net_now() - t0;

	/* Behind every message in the stream: the sink's final count. */
	struct net_sink_stats ss = net_ask_sink(run.proxy, 60000);
	int64_t t_all = net_now() - t0;
	printf("  sent in %.2f s, all counted at the sink after %.2f s "
	       "(%.0f msgs/s); EFULL retries %" PRIu64 "\n",
	       (double)t_sent / 1e9, (double)t_all / 1e9,
	       (double)total / ((double)t_all / 1e9),
	       (uint64_t)atomic_load(&run.efull));
	printf("  sink: count %" PRIu64 " violations %" PRIu64
	       " skipped %" PRIu64 " senders %" PRIu64 "\n",
	       ss.count, ss.violations, ss.skipped, ss.senders);
	assert_int_equal(ss.violations, 0);
	assert_int_equal(ss.senders, SENDERS);

	trp_node_stats_t local = net_local_stop(fx);
	struct net_peer_final pf;
	net_peer_stop(peer, &pf);
	net_print_stats("main", &local);
	net_print_stats("peer", &pf.node);
	const trp_node_stats_t *all[2] = { &local, &pf.node };
	net_assert_conserved(all, 2);

	/* What the sink saw is what the peer's node delivered: the data,
	 * plus the one STATS ask. */
	assert_int_equal(pf.sink.violations, 0);
	assert_int_equal(pf.sink_unexpected, 0);
	assert_int_equal(pf.sink_stats_asks, 1);
	assert_int_equal(pf.node.delivered, pf.sink.count + 1);
	assert_int_equal(pf.node.undeliverable, 0);
	/* Every message the senders' proxy took is accounted for: the
	 * sink counted it, or it was lost (and then the sink skipped its
	 * number, or it was the tail of a sequence). */
	uint64_t lost = net_lost_total(&local) + net_lost_total(&pf.node);
	assert_int_equal(local.sent, total + 1);
	assert_int_equal(pf.sink.count + lost, total);
	assert_true(pf.sink.skipped <= lost);
	if (lost != 0)
		printf("  NOTE: %" PRIu64 " messages lost (counted) under "
		       "default pending limits\n",
		       lost);
	else
		assert_int_equal(ss.count, total);

	net_local_destroy(fx);
}

/* Large frames: few of them, thousands of messages each. */
static void test_fifo_large_frames(void **state)
{
	run_fifo(*state, 0);
}

/* 4 KiB frames (~70 messages each): thousands of frames, so order must
 * hold across frame boundaries, batches of the outbound thread and the
 * inbound thread's deliveries. */
static void test_fifo_small_frames(void **state)
{
	run_fifo(*state, 4096);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fifo_large_frames,
						net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_small_frames,
						net_setup, net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
