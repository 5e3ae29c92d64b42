/*
 * tests/net/exchange_churn.c - a bridged exchange across three processes
 * while subscribers attach and detach (issue 13, node.h "Bridged
 * exchanges"): each subscriber gets exactly its membership window of each
 * publishing node's messages, minus counted gaps, and the cluster
 * conserves every publish.
 *
 * Nodes: this process ("main", publisher 0) and two net_test_node peers
 * ("p1", "p2", role xchg, publishers 1 and 2). Each bridges NET_XCHG, has
 * a checker attached for the whole run, and publishes numbered messages
 * from a thread (net_xchg.h). Meanwhile subscribers attach and detach,
 * two at a time, overlapping, in turn on each of the three nodes (a
 * peer's through its "xattach"/"xdetach" commands).
 *
 * What "exactly its window" means with an asynchronous attach. A remote
 * message reaches a node's subscribers when its bridge republishes it, so
 * the window of subscriber S for publisher P is defined on P's ordered
 * stream by markers (publishes whose numbers the test learns):
 *   - open[P], published by P after S's attach returned: every message
 *     from open[P] on arrives after the attach, so S must have it;
 *   - close[P], published later; S is detached only once it got close[P]
 *     from every P, so S must have everything up to close[P];
 *   - after[P], published after the detach returned: S cannot have it nor
 *     anything after it.
 * So S's numbers from P must be one contiguous run [first, last] (holes
 * only where the subscriber's node counted a gap: xlost), in order, without
 * duplicates, with first <= open[P], close[P] <= last < after[P]. For
 * the publisher of the subscriber's own node the start is exact too:
 * first > the number it had published before the attach (a local publish
 * is synchronous), and there are no holes.
 *
 * Conservation at the end, exactly: on each node, xreceived + xlost ==
 * the sum of the other nodes' xsent; the full-time checkers got every
 * number 1..sent of every publisher minus the holes their node counted;
 * and the node streams' identity (net_assert_conserved).
 *
 * Sized for a 2-core box: three publishers pausing 200 us between
 * publishes, 10 subscribers, about half a second; every wait bounded.
 */
#include "net_util.h"
#include "net_xchg.h"

#define ROUNDS 10
#define PAUSE_US 200

struct xrec {
	uint64_t first, last, count, holes, violations;
};

/* Subscriber r lives on node r % NET_XPUBS (main: here; a peer: its slot
 * r, test_node.c "xattach"). */
struct sub {
	int node;
	struct net_xcheck c; /* main's */
	trp_sub_t id;	     /* main's */
	uint64_t pre;	     /* its node's own number before the attach */
	uint64_t open[NET_XPUBS], close[NET_XPUBS], after[NET_XPUBS];
};

static struct sub subs[ROUNDS];
static struct net_xcheck full; /* main's checker for the whole run */

static struct net_peer *peers[NET_XPUBS]; /* [0] unused: main */
static struct net_xpub pub0;

/* The next number of every publisher, published now (markers). */
static void marks(uint64_t out[NET_XPUBS])
{
	out[0] = net_xpub_mark(&pub0);
	for (int i = 1; i < NET_XPUBS; i++) {
		char line[256];
		net_peer_cmd(peers[i], "xmark", "xmark", line, sizeof line);
		if (!net_kv(line, "seq", &out[i]))
			fail_msg("peer %s: bad xmark line: %s", peers[i]->name,
				 line);
	}
}

static uint64_t pub0_seq(void)
{
	pthread_mutex_lock(&pub0.mu);
	uint64_t s = pub0.seq;
	pthread_mutex_unlock(&pub0.mu);
	return s;
}

/* Sends @cmd with slot @k to peer @n, returns the answer in @line. */
static void slot_cmd(int n, const char *cmd, int k, char *line, size_t cap)
{
	char c[32];
	snprintf(c, sizeof c, "%s %d", cmd, k);
	net_peer_cmd(peers[n], c, cmd, line, cap);
}

static void attach(trp_exchange_t *ex, struct sub *s, int r)
{
	if (s->node == 0) {
		memset(&s->c, 0, sizeof s->c);
		s->pre = pub0_seq();
		NET_OK(trp_exchange_attach(
			ex, trp_sink_callback(net_xcheck_sink, &s->c), &s->id));
		return;
	}
	char line[256];
	slot_cmd(s->node, "xattach", r, line, sizeof line);
	if (strstr(line, "rc=TRP_OK") == NULL || !net_kv(line, "pre", &s->pre))
		fail_msg("peer %s: %s", peers[s->node]->name, line);
}

static struct xrec rec_of(struct net_xrec *r)
{
	struct xrec x = { net_xld(&r->first), net_xld(&r->last),
			  net_xld(&r->count), net_xld(&r->holes),
			  net_xld(&r->violations) };
	return x;
}

static struct xrec peer_rec(const char *line, int p);

/* Subscriber @r's records, per publisher, now. */
static void records(struct sub *s, int r, struct xrec out[NET_XPUBS])
{
	if (s->node == 0) {
		assert_int_equal(net_xld(&s->c.bad), 0);
		for (int p = 0; p < NET_XPUBS; p++)
			out[p] = rec_of(&s->c.from[p]);
		return;
	}
	char line[1024];
	uint64_t bad = 1;
	slot_cmd(s->node, "xslot", r, line, sizeof line);
	if (!net_kv(line, "bad", &bad) || bad != 0)
		fail_msg("peer %s: %s", peers[s->node]->name, line);
	for (int p = 0; p < NET_XPUBS; p++)
		out[p] = peer_rec(line, p);
}

/* Waits (bounded) until @s got close[P] of every P, detaches it, and
 * marks after[]. */
static void detach(trp_exchange_t *ex, struct sub *s, int r)
{
	int64_t deadline = net_now() + 10 * NET_SEC;
	for (;;) {
		struct xrec x[NET_XPUBS];
		bool all = true;
		records(s, r, x);
		for (int p = 0; p < NET_XPUBS; p++)
			all = all && x[p].last >= s->close[p];
		if (all || net_now() >= deadline)
			break;
		net_sleep_ms(1);
	}
	if (s->node == 0) {
		NET_OK(trp_exchange_detach(ex, s->id));
	} else {
		char line[256];
		slot_cmd(s->node, "xdetach", r, line, sizeof line);
		if (strstr(line, "rc=TRP_OK") == NULL)
			fail_msg("peer %s: %s", peers[s->node]->name, line);
	}
	marks(s->after);
}

static struct xrec peer_rec(const char *line, int p)
{
	struct xrec x = { 0, 0, 0, 0, 0 };
	char k[5][32];
	snprintf(k[0], sizeof k[0], "p%d_first", p);
	snprintf(k[1], sizeof k[1], "p%d_last", p);
	snprintf(k[2], sizeof k[2], "p%d_count", p);
	snprintf(k[3], sizeof k[3], "p%d_holes", p);
	snprintf(k[4], sizeof k[4], "p%d_violations", p);
	if (!net_kv(line, k[0], &x.first) || !net_kv(line, k[1], &x.last) ||
	    !net_kv(line, k[2], &x.count) || !net_kv(line, k[3], &x.holes) ||
	    !net_kv(line, k[4], &x.violations))
		fail_msg("bad xsub line: %s", line);
	return x;
}

/* A checker that was there all along: every number 1..sent[p], minus
 * the holes its node counted as lost (@xlost). */
static void check_full(const char *who, const struct xrec *r,
		       const uint64_t sent[NET_XPUBS], uint64_t xlost)
{
	uint64_t holes = 0;
	for (int p = 0; p < NET_XPUBS; p++) {
		printf("  %s from publisher %d: %llu of %llu (holes %llu)\n",
		       who, p, (unsigned long long)r[p].count,
		       (unsigned long long)sent[p],
		       (unsigned long long)r[p].holes);
		assert_int_equal(r[p].violations, 0);
		assert_int_equal(r[p].count + r[p].holes, r[p].last);
		/* the tail: a lost tail is a gap counted at the goodbye,
		 * after these lines; none on loopback at this rate */
		assert_int_equal(r[p].last, sent[p]);
		holes += r[p].holes;
	}
	assert_true(holes <= xlost);
}

static void test_churn(void **state)
{
	struct net_fixture *fx = *state;
	char us[16], id[NET_XPUBS][16];
	snprintf(us, sizeof us, "%d", PAUSE_US);
	static const char *const names[NET_XPUBS] = { "main", "p1", "p2" };
	for (int i = 1; i < NET_XPUBS; i++) {
		snprintf(id[i], sizeof id[i], "%d", i);
		const char *args[] = { "--role",
				       "xchg",
				       "--xpub-id",
				       id[i],
				       "--xpub-us",
				       us,
				       "--heartbeat-misses",
				       NET_LOAD_MISSES_STR,
				       NULL };
		peers[i] = net_peer_start(fx, names[i], args);
	}
	trp_node_config_t tmpl = TRP_NODE_CONFIG_INIT;
	tmpl.heartbeat_misses = NET_LOAD_MISSES;
	net_local_start(fx, "main", &tmpl);
	NET_OK(trp_node_bridge(fx->node, NET_XCHG));
	trp_exchange_t *ex = NULL;
	NET_OK(trp_exchange_get(fx->rt, NET_XCHG, &ex));
	memset(&full, 0, sizeof full);
	trp_sub_t full_id;
	NET_OK(trp_exchange_attach(
		ex, trp_sink_callback(net_xcheck_sink, &full), &full_id));
	for (int i = 1; i < NET_XPUBS; i++)
		NET_OK(trp_node_wait_peer(fx->node, names[i], 10 * NET_SEC));

	/* every node bridged and subscribed (node start flushes its
	 * subscriptions): publishing starts everywhere */
	net_xpub_init(&pub0, ex, 0, PAUSE_US);
	assert_int_equal(net_xpub_start(&pub0), 0);
	for (int i = 1; i < NET_XPUBS; i++) {
		char line[256];
		net_peer_cmd(peers[i], "xstart", "xstart", line, sizeof line);
		assert_non_null(strstr(line, "rc=TRP_OK"));
	}

	/* subscriber r attaches in round r and leaves in round r + 2 */
	for (int r = 0; r < ROUNDS + 2; r++) {
		uint64_t m[NET_XPUBS];
		if (r < ROUNDS) {
			subs[r].node = r % NET_XPUBS;
			attach(ex, &subs[r], r);
		}
		marks(m);
		if (r < ROUNDS)
			memcpy(subs[r].open, m, sizeof m);
		if (r >= 2) {
			memcpy(subs[r - 2].close, m, sizeof m);
			detach(ex, &subs[r - 2], r - 2);
		}
		net_sleep_ms(20);
	}

	uint64_t sent[NET_XPUBS];
	sent[0] = net_xpub_stop(&pub0);
	assert_int_equal(pub0.err, 0);
	for (int i = 1; i < NET_XPUBS; i++) {
		char line[256];
		net_peer_cmd(peers[i], "xstop", "xstop", line, sizeof line);
		if (!net_kv(line, "seq", &sent[i]) ||
		    strstr(line, "err=TRP_OK") == NULL)
			fail_msg("peer %s: xstop: %s", names[i], line);
	}
	printf("  published: main %llu, p1 %llu, p2 %llu\n",
	       (unsigned long long)sent[0], (unsigned long long)sent[1],
	       (unsigned long long)sent[2]);

	/* settled: each node took every other node's publishes (received
	 * or counted lost) */
	trp_node_stats_t st[NET_XPUBS];
	int64_t deadline = net_now() + NET_SETTLE_NS;
	for (;;) {
		bool settled = true;
		st[0] = net_local_stats(fx);
		for (int i = 1; i < NET_XPUBS; i++)
			st[i] = net_peer_stats(peers[i]);
		for (int n = 0; n < NET_XPUBS; n++) {
			uint64_t want = 0;
			for (int p = 0; p < NET_XPUBS; p++)
				if (p != n)
					want += sent[p];
			settled = settled &&
				  st[n].xreceived + st[n].xlost >= want;
		}
		if (settled || net_now() >= deadline)
			break;
		net_sleep_ms(5);
	}

	/* the windows */
	for (int r = 0; r < ROUNDS; r++) {
		struct sub *s = &subs[r];
		struct xrec xs[NET_XPUBS];
		records(s, r, xs);
		for (int p = 0; p < NET_XPUBS; p++) {
			struct xrec x = xs[p];
			/* its own node's publisher: exact at both ends */
			bool own = p == s->node;
			if (x.first > s->open[p] || x.last < s->close[p] ||
			    x.last >= s->after[p] || x.violations != 0 ||
			    (own && x.first <= s->pre) ||
			    (own && x.holes != 0) ||
			    x.holes > st[s->node].xlost)
				fail_msg("subscriber %d (node %d), publisher "
					 "%d: got %llu..%llu (%llu, holes "
					 "%llu, violations %llu), window "
					 "%llu..%llu, after %llu, before %llu",
					 r, s->node, p,
					 (unsigned long long)x.first,
					 (unsigned long long)x.last,
					 (unsigned long long)x.count,
					 (unsigned long long)x.holes,
					 (unsigned long long)x.violations,
					 (unsigned long long)s->open[p],
					 (unsigned long long)s->close[p],
					 (unsigned long long)s->after[p],
					 (unsigned long long)s->pre);
			assert_int_equal(x.count + x.holes,
					 x.last - x.first + 1);
		}
	}
	printf("  %d subscribers on 3 nodes: windows exact (subscriber 3, "
	       "on main: %llu..%llu of p1)\n",
	       ROUNDS, (unsigned long long)net_xld(&subs[3].c.from[1].first),
	       (unsigned long long)net_xld(&subs[3].c.from[1].last));

	/* the checkers that were there all along, on every node */
	struct xrec fr[NET_XPUBS];
	for (int p = 0; p < NET_XPUBS; p++)
		fr[p] = rec_of(&full.from[p]);
	check_full("main", fr, sent, st[0].xlost);
	for (int i = 1; i < NET_XPUBS; i++) {
		char line[1024];
		net_peer_cmd(peers[i], "xsub", "xsub", line, sizeof line);
		uint64_t bad = 1;
		assert_true(net_kv(line, "bad", &bad));
		assert_int_equal(bad, 0);
		for (int p = 0; p < NET_XPUBS; p++)
			fr[p] = peer_rec(line, p);
		check_full(names[i], fr, sent, st[i].xlost);
	}
	NET_OK(trp_exchange_detach(ex, full_id));

	/* conservation: per node and cluster-wide, exactly */
	uint64_t xs = 0, xr = 0, xl = 0;
	for (int n = 0; n < NET_XPUBS; n++) {
		uint64_t want = 0;
		for (int p = 0; p < NET_XPUBS; p++)
			if (p != n)
				want += sent[p];
		assert_int_equal(st[n].xsent, sent[n]);
		assert_int_equal(st[n].xreceived + st[n].xlost, want);
		xs += st[n].xsent;
		xr += st[n].xreceived;
		xl += st[n].xlost;
	}
	printf("  cluster: xsent %llu, xreceived %llu, xlost %llu\n",
	       (unsigned long long)xs, (unsigned long long)xr,
	       (unsigned long long)xl);
	assert_int_equal(xr + xl, (NET_XPUBS - 1) * xs);

	/* and the node streams' identity over the three final counters */
	trp_exchange_release(ex);
	trp_node_stats_t fin[NET_XPUBS];
	fin[0] = net_local_stop(fx);
	for (int i = 1; i < NET_XPUBS; i++) {
		struct net_peer_final pf;
		net_peer_stop(peers[i], &pf);
		fin[i] = pf.node;
	}
	const trp_node_stats_t *all[NET_XPUBS] = { &fin[0], &fin[1], &fin[2] };
	net_assert_conserved(all, NET_XPUBS);
	net_local_destroy(fx);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_churn, net_setup,
						net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
