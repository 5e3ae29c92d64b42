/*
 * tests/net/payload.c - the largest payload a proxy takes: one byte more
 * is refused by the send (TRP_EMSGSIZE, the caller keeps its payload), the
 * maximum itself is accepted and arrives intact, with the server's frame
 * size (1 MiB by default) and with a small configured max_frame.
 */
#include "net_util.h"

static unsigned char *pattern(size_t len, unsigned salt)
{
	unsigned char *b = malloc(len + 1);
	assert_non_null(b);
	for (size_t i = 0; i < len + 1; i++)
		b[i] = net_pattern(i, salt);
	return b;
}

/* The checks for one node whose frames are at most @frame bytes (0: the
 * server's default, 1 MiB). */
static void check_limits(struct net_fixture *fx, struct net_peer *peer,
			 size_t frame)
{
	trp_actor_t *echo = net_proxy(fx, peer->name, NET_ECHO);
	size_t max = trp_node_max_payload(fx->node, strlen(NET_ECHO));
	size_t limit = frame != 0 ? frame : (size_t)1 << 20;
	printf("  max_frame %zu: max payload for \"%s\" %zu\n", frame, NET_ECHO,
	       max);
	/* A frame holds a header (40 bytes) and the item (32 + name +
	 * payload, padded to 8): nothing else may eat into it. */
	assert_true(max > 0 && max <= limit - 40 - 32 - strlen(NET_ECHO));
	assert_true(max + 40 + 32 + strlen(NET_ECHO) + 8 > limit);

	unsigned char *buf = pattern(max, 3);
	unsigned char *rep = malloc(max + 1);
	assert_non_null(rep);

	/* One byte over: refused by every way of sending. */
	NET_RC(trp_send(echo, NET_T_BLOB, buf, max + 1), TRP_EMSGSIZE);
	trp_future_t *f = NULL;
	NET_RC(trp_ask(echo, NET_T_PING, buf, max + 1, &f), TRP_EMSGSIZE);
	assert_null(f);
	unsigned char *owned = pattern(max, 4);
	/* Refused: the buffer is still ours (ASan: no double free). */
	NET_RC(trp_send_owned(echo, NET_T_BLOB, owned, max + 1, NULL),
	       TRP_EMSGSIZE);
	free(owned);

	/* Exactly the maximum: accepted, delivered, answered. */
	size_t got = 0;
	NET_OK(net_ask(echo, NET_T_PING, buf, max, 30000, rep, max + 1, &got));
	assert_int_equal(got, max);
	assert_memory_equal(rep, buf, max);
	NET_OK(trp_send(echo, NET_T_BLOB, buf, max));
	struct net_echo_stats es = net_ask_echo(echo, 30000);
	assert_int_equal(es.last_size, max);
	assert_int_equal(es.last_sum, net_sum(buf, max));

	/* A longer name leaves less room. */
	char longname[TRP_NAME_MAX + 1];
	memset(longname, 'n', TRP_NAME_MAX);
	longname[TRP_NAME_MAX] = '\0';
	size_t lmax = trp_node_max_payload(fx->node, TRP_NAME_MAX);
	assert_true(lmax < max);
	assert_true(lmax + 40 + 32 + TRP_NAME_MAX + 8 > limit);
	trp_actor_t *far = net_proxy(fx, peer->name, longname);
	NET_RC(trp_send(far, NET_T_BLOB, buf, lmax + 1), TRP_EMSGSIZE);
	/* Accepted (and undeliverable there: no such name). */
	NET_OK(trp_send(far, NET_T_BLOB, buf, lmax));

	free(buf);
	free(rep);
}

static void finish(struct net_fixture *fx, struct net_peer *peer,
		   uint64_t undeliverable)
{
	trp_node_stats_t local = net_local_stop(fx);
	struct net_peer_final pf;
	net_peer_stop(peer, &pf);
	const trp_node_stats_t *all[2] = { &local, &pf.node };
	net_assert_conserved(all, 2);
	assert_int_equal(pf.node.undeliverable, undeliverable);
	assert_int_equal(net_lost_total(&local) + net_lost_total(&pf.node), 0);
	net_local_destroy(fx);
}

static void test_default_frame(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "echo", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	net_local_start(fx, "main", NULL);
	check_limits(fx, peer, 0);
	/* The peer computed the same maximum for "echo" (same server). */
	assert_int_equal(peer->max_payload,
			 trp_node_max_payload(fx->node, strlen(NET_ECHO)));
	finish(fx, peer, 1);
}

static void test_small_frame(void **state)
{
	struct net_fixture *fx = *state;
	const char *roles[] = { "--role", "echo", "--max-frame", "4096", NULL };
	struct net_peer *peer = net_peer_start(fx, "peer", roles);
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	cfg.max_frame = 4096;
	net_local_start(fx, "main", &cfg);
	check_limits(fx, peer, 4096);
	assert_int_equal(peer->max_payload,
			 trp_node_max_payload(fx->node, strlen(NET_ECHO)));
	finish(fx, peer, 1);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_frame, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_small_frame, net_setup,
						net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
