/*
 * tests/net/config.c - what trp_node_start(), trp_node_proxy(),
 * trp_node_export() and trp_node_stop() refuse, with the codes node.h
 * documents; names and incarnations; an unreachable server within the
 * connect timeout; a server list whose first entry is dead.
 */
#include "net_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A runtime of one worker, the fixture's (its teardown destroys it if
 * a check fails first). */
static trp_runtime_t *runtime(struct net_fixture *fx)
{
	trp_config_t rcfg = TRP_CONFIG_INIT;
	rcfg.workers = 1;
	NET_OK(trp_runtime_create(&rcfg, &fx->rt));
	return fx->rt;
}

static void destroy(struct net_fixture *fx)
{
	trp_runtime_t *rt = fx->rt;
	fx->rt = NULL;
	NET_OK(trp_runtime_destroy(rt));
}

/* A node config for @fx's server. */
static trp_node_config_t config(struct net_fixture *fx, const char *name)
{
	static const char *servers[1];
	servers[0] = fx->server.url;
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	cfg.cluster = fx->cluster;
	cfg.name = name;
	cfg.servers = servers;
	cfg.nservers = 1;
	return cfg;
}

/* A behaviour that calls trp_node_start() (refused there). */
static atomic_int starter_rc = 1;
static _Atomic(trp_node_t *) starter_node;
static void starter(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	trp_node_t *node = NULL;
	(void)m;
	atomic_store(&starter_rc,
		     trp_node_start(trp_actor_runtime(self),
				    (trp_node_config_t *)state, &node));
	atomic_store(&starter_node, node);
}

static void test_bad_start(void **state)
{
	struct net_fixture *fx = *state;
	trp_runtime_t *rt = runtime(fx);
	trp_node_t *node = NULL;
	trp_node_config_t cfg = config(fx, "n1");

	NET_RC(trp_node_start(NULL, &cfg, &node), TRP_EINVAL);
	NET_RC(trp_node_start(rt, NULL, &node), TRP_EINVAL);
	NET_RC(trp_node_start(rt, &cfg, NULL), TRP_EINVAL);
	assert_null(node);

	char longest[TRP_NODE_TOKEN_MAX + 1], too_long[TRP_NODE_TOKEN_MAX + 2];
	memset(longest, 'a', TRP_NODE_TOKEN_MAX);
	longest[TRP_NODE_TOKEN_MAX] = '\0';
	memset(too_long, 'b', TRP_NODE_TOKEN_MAX + 1);
	too_long[TRP_NODE_TOKEN_MAX + 1] = '\0';
	const char *bad[] = { "a.b", "",   too_long, "*", ">",	 "a b",
			      "a*",  "a>", "a\tb",   "é", "a/b", "$SYS",
			      ".",   "a.", ".a",     NULL };
	for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
		trp_node_config_t c = config(fx, "n1");
		c.name = bad[i];
		if (trp_node_start(rt, &c, &node) != TRP_EINVAL)
			fail_msg("node name \"%s\" accepted or not EINVAL",
				 bad[i] != NULL ? bad[i] : "(null)");
		c = config(fx, "n1");
		c.cluster = bad[i];
		if (trp_node_start(rt, &c, &node) != TRP_EINVAL)
			fail_msg("cluster name \"%s\" accepted or not EINVAL",
				 bad[i] != NULL ? bad[i] : "(null)");
		assert_null(node);
	}

	cfg.version = 0;
	NET_RC(trp_node_start(rt, &cfg, &node), TRP_EVERSION);
	cfg.version = TRP_NODE_CONFIG_VERSION + 1;
	NET_RC(trp_node_start(rt, &cfg, &node), TRP_EVERSION);
	assert_null(node);

	/* The longest token, and every character class, are fine. */
	cfg = config(fx, longest);
	NET_OK(trp_node_start(rt, &cfg, &node));
	assert_string_equal(trp_node_name(node), longest);
	/* One node per runtime. */
	trp_node_t *second = NULL;
	trp_node_config_t c2 = config(fx, "Az09_-");
	NET_RC(trp_node_start(rt, &c2, &second), TRP_EEXIST);
	assert_null(second);
	NET_OK(trp_node_stop(node, 5 * NET_SEC));

	/* trp_node_start from a behaviour: refused (it blocks). */
	trp_actor_def_t sdef = { 0 };
	sdef.behavior = starter;
	trp_actor_t *st = NULL;
	NET_OK(trp_actor_spawn(rt, &sdef, &c2, &st));
	net_keep(fx, st);
	NET_OK(trp_send(st, 0, NULL, 0));
	NET_OK(trp_runtime_wait_idle(rt, NET_SETTLE_NS));
	NET_RC(atomic_load(&starter_rc), TRP_EDEADLK);
	assert_null(atomic_load(&starter_node));

	/* After a stop the runtime may start a node again: a new
	 * incarnation. */
	uint64_t inc1 = 0;
	NET_OK(trp_node_start(rt, &c2, &node));
	assert_string_equal(trp_node_name(node), "Az09_-");
	inc1 = trp_node_incarnation(node);
	assert_true(inc1 != 0);
	NET_OK(trp_node_stop(node, 5 * NET_SEC));
	NET_OK(trp_node_start(rt, &c2, &node));
	assert_true(trp_node_incarnation(node) != 0);
	assert_true(trp_node_incarnation(node) != inc1);
	NET_OK(trp_node_stop(node, 5 * NET_SEC));

	NET_RC(trp_node_stop(NULL, 0), TRP_EINVAL);
	destroy(fx);
}

/* A TCP listener on 127.0.0.1 that accepts nothing and says nothing (a
 * server that does not answer): connects succeed into its backlog, the
 * NATS handshake never comes. Returns the fd; *port its port. */
static int silent_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port nothing listens on (bound, then closed: refused). */
static int closed_port(void)
{
	int port = 0;
	int fd = silent_listener(&port);
	close(fd);
	return port;
}

static void test_unreachable(void **state)
{
	struct net_fixture *fx = *state;
	trp_runtime_t *rt = runtime(fx);
	trp_node_t *node = NULL;
	char url[64];
	const char *servers[2] = { url, NULL };
	trp_node_config_t cfg = config(fx, "n1");
	cfg.servers = servers;
	cfg.nservers = 1;
	cfg.connect_timeout_ns = 500 * NET_MS;

	/* Refused at once. */
	snprintf(url, sizeof url, "nats://127.0.0.1:%d", closed_port());
	int64_t t0 = net_now();
	NET_RC(trp_node_start(rt, &cfg, &node), TRP_ENOTCONN);
	printf("  refused: ENOTCONN after %.1f ms\n",
	       (double)(net_now() - t0) / 1e6);
	assert_true(net_now() - t0 < 5 * NET_SEC);
	assert_null(node);

	/* Accepted by TCP, never answered: bounded by the timeout. */
	int port = 0;
	int lfd = silent_listener(&port);
	snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
	t0 = net_now();
	NET_RC(trp_node_start(rt, &cfg, &node), TRP_ENOTCONN);
	int64_t took = net_now() - t0;
	printf("  silent: ENOTCONN after %.1f ms (timeout 500 ms)\n",
	       (double)took / 1e6);
	assert_true(took < 500 * NET_MS + 4 * NET_SEC);
	assert_null(node);
	close(lfd);

	/* A list whose first server is dead: the node uses the next. */
	snprintf(url, sizeof url, "nats://127.0.0.1:%d", closed_port());
	servers[1] = fx->server.url;
	cfg.nservers = 2;
	cfg.connect_timeout_ns = 2 * NET_SEC;
	NET_OK(trp_node_start(rt, &cfg, &node));
	NET_OK(trp_node_stop(node, 5 * NET_SEC));

	/* The runtime is unharmed by the failed starts. */
	destroy(fx);
}

/* A behaviour that calls the blocking node calls (refused there). */
static atomic_int stop_rc = 1, wait_rc = 1, start_rc = 1;
static void stopper(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	trp_node_t *node = state;
	(void)self;
	(void)m;
	atomic_store(&wait_rc, trp_node_wait_peer(node, "n1", 0));
	atomic_store(&stop_rc, trp_node_stop(node, 0));
	/* A second node on this runtime: refused for being a behaviour
	 * (or for the node there already); never started. */
	static const char *servers[1] = { "nats://127.0.0.1:1" };
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	trp_node_t *other = NULL;
	cfg.cluster = "c";
	cfg.name = "other";
	cfg.servers = servers;
	cfg.nservers = 1;
	atomic_store(&start_rc,
		     trp_node_start(trp_actor_runtime(self), &cfg, &other));
}

static void echo_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	(void)self;
	(void)state;
	(void)trp_reply(m, m->data, m->size);
}

static void test_bad_proxy_export_stop(void **state)
{
	struct net_fixture *fx = *state;
	trp_runtime_t *rt = runtime(fx);
	trp_node_t *node = NULL;
	trp_node_config_t cfg = config(fx, "n1");
	NET_OK(trp_node_start(rt, &cfg, &node));
	trp_actor_t *p = NULL;

	char too_long_token[TRP_NODE_TOKEN_MAX + 2];
	memset(too_long_token, 'x', TRP_NODE_TOKEN_MAX + 1);
	too_long_token[TRP_NODE_TOKEN_MAX + 1] = '\0';
	const char *bad_nodes[] = { "a.b",	    "",	   "*", ">",
				    too_long_token, "a b", NULL };
	for (int i = 0; i < (int)(sizeof bad_nodes / sizeof bad_nodes[0]);
	     i++) {
		if (trp_node_proxy(node, bad_nodes[i], "echo", &p) !=
		    TRP_EINVAL)
			fail_msg("proxy to node \"%s\" not EINVAL",
				 bad_nodes[i] != NULL ? bad_nodes[i] :
							"(null)");
		assert_null(p);
	}
	char name_max[TRP_NAME_MAX + 1], name_over[TRP_NAME_MAX + 2];
	memset(name_max, 'm', TRP_NAME_MAX);
	name_max[TRP_NAME_MAX] = '\0';
	memset(name_over, 'o', TRP_NAME_MAX + 1);
	name_over[TRP_NAME_MAX + 1] = '\0';
	NET_RC(trp_node_proxy(node, "peer", "", &p), TRP_EINVAL);
	NET_RC(trp_node_proxy(node, "peer", NULL, &p), TRP_EINVAL);
	NET_RC(trp_node_proxy(node, "peer", name_over, &p), TRP_ENAMETOOLONG);
	NET_RC(trp_node_proxy(NULL, "peer", "echo", &p), TRP_EINVAL);
	NET_RC(trp_node_proxy(node, "peer", "echo", NULL), TRP_EINVAL);
	assert_null(p);
	/* Names are any bytes (names.h): dots and spaces are fine. */
	NET_OK(trp_node_proxy(node, "peer", name_max, &p));
	trp_actor_release(p);
	NET_OK(trp_node_proxy(node, "peer", "a.b c>*", &p));
	trp_actor_release(p);
	p = NULL;

	/* Exports. */
	trp_actor_def_t def = { 0 };
	def.behavior = echo_behavior;
	trp_actor_t *a = NULL, *b = NULL;
	NET_OK(trp_actor_spawn(rt, &def, NULL, &a));
	net_keep(fx, a);
	NET_OK(trp_actor_spawn(rt, &def, NULL, &b));
	net_keep(fx, b);
	NET_RC(trp_node_export(node, "x", NULL), TRP_EINVAL);
	NET_RC(trp_node_export(node, "", a), TRP_EINVAL);
	NET_RC(trp_node_export(node, NULL, a), TRP_EINVAL);
	NET_RC(trp_node_export(NULL, "x", a), TRP_EINVAL);
	NET_RC(trp_node_export(node, name_over, a), TRP_ENAMETOOLONG);
	NET_OK(trp_node_export(node, "x", a));
	NET_RC(trp_node_export(node, "x", b), TRP_EEXIST);
	NET_OK(trp_node_export(node, name_max, b));
	NET_RC(trp_node_unexport(node, "nope"), TRP_ENOENT);
	NET_RC(trp_node_unexport(node, NULL), TRP_EINVAL);
	NET_RC(trp_node_unexport(NULL, "x"), TRP_EINVAL);
	NET_OK(trp_node_unexport(node, "x"));
	NET_RC(trp_node_unexport(node, "x"), TRP_ENOENT);
	NET_OK(trp_node_export(node, "x", b)); /* free again */

	/* Stats and names. */
	trp_node_stats_t st;
	NET_RC(trp_node_stats(NULL, &st), TRP_EINVAL);
	NET_RC(trp_node_stats(node, NULL), TRP_EINVAL);
	NET_OK(trp_node_stats(node, &st));
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.received, 0);
	assert_string_equal(trp_loss_cause_name(TRP_LOSS_GAP), "gap");
	assert_string_equal(trp_loss_cause_name(TRP_LOSS_NO_RESPONDERS),
			    "no_responders");
	for (int c = 0; c < TRP_LOSS_CAUSES; c++) {
		const char *n = trp_loss_cause_name((trp_loss_cause_t)c);
		assert_non_null(n);
		assert_string_not_equal(n, "?");
	}
	assert_string_equal(trp_loss_cause_name(TRP_LOSS_CAUSES), "?");
	assert_string_equal(trp_loss_cause_name((trp_loss_cause_t)-1), "?");

	/* trp_node_stop from a behaviour: refused (it would wait on a
	 * worker). */
	trp_actor_def_t sdef = { 0 };
	sdef.behavior = stopper;
	trp_actor_t *s = NULL;
	NET_OK(trp_actor_spawn(rt, &sdef, node, &s));
	net_keep(fx, s);
	NET_OK(trp_send(s, 0, NULL, 0));
	NET_OK(trp_runtime_wait_idle(rt, NET_SETTLE_NS));
	NET_RC(atomic_load(&stop_rc), TRP_EDEADLK);
	NET_RC(atomic_load(&wait_rc), TRP_EDEADLK);
	int src = atomic_load(&start_rc);
	assert_true(src == TRP_EDEADLK || src == TRP_EEXIST);

	/* trp_node_wait_peer: tokens only; itself is there. */
	NET_RC(trp_node_wait_peer(NULL, "n1", 0), TRP_EINVAL);
	NET_RC(trp_node_wait_peer(node, NULL, 0), TRP_EINVAL);
	NET_RC(trp_node_wait_peer(node, "a.b", 0), TRP_EINVAL);
	NET_RC(trp_node_wait_peer(node, "", 0), TRP_EINVAL);
	NET_RC(trp_node_wait_peer(node, too_long_token, 0), TRP_EINVAL);
	NET_OK(trp_node_wait_peer(node, "n1", 5 * NET_SEC));
	NET_RC(trp_node_wait_peer(node, "nobody", 50 * NET_MS), TRP_ETIMEDOUT);

	/* After the stop: proxies made before refuse sends, new ones are
	 * refused. */
	trp_actor_t *before = NULL;
	NET_OK(trp_node_proxy(node, "peer", "echo", &before));
	net_keep(fx, before);
	NET_OK(trp_node_stop(node, 5 * NET_SEC));
	NET_RC(trp_send(before, 1, "x", 1), TRP_EDEAD);
	destroy(fx);
}

/* trp_runtime_destroy() with a node still running stops it. */
static void test_destroy_running(void **state)
{
	struct net_fixture *fx = *state;
	trp_runtime_t *rt = runtime(fx);
	trp_node_t *node = NULL;
	trp_node_config_t cfg = config(fx, "n1");
	NET_OK(trp_node_start(rt, &cfg, &node));
	trp_actor_t *p = NULL;
	NET_OK(trp_node_proxy(node, "elsewhere", "echo", &p));
	net_keep(fx, p);
	for (int i = 0; i < 100; i++)
		NET_OK(trp_send(p, 1, &i, sizeof i));
	/* A cluster of one: everything sent is lost, every loss counted
	 * (no responders), exactly: sent == received + lost. */
	trp_node_stats_t s;
	int64_t deadline = net_now() + 10 * NET_SEC;
	do {
		net_sleep_ms(1);
		NET_OK(trp_node_stats(node, &s));
	} while ((s.sent < 100 || net_lost_total(&s) < s.sent) &&
		 net_now() < deadline);
	const trp_node_stats_t *all[1] = { &s };
	assert_int_equal(s.sent, 100);
	net_assert_conserved(all, 1);
	int64_t t0 = net_now();
	trp_stats_t fin;
	fx->rt = NULL;
	NET_OK(trp_runtime_destroy_ex(rt, &fin));
	assert_true(net_now() - t0 < 10 * NET_SEC);
	char why[256];
	if (!balance_holds(&fin, why, sizeof why))
		fail_msg("%s", why);
	/* The proxy handle outlives the runtime. */
	int rc = trp_send(p, 1, "x", 1);
	assert_true(rc == TRP_EDEAD || rc == TRP_ESHUTDOWN);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bad_start, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_unreachable, net_setup,
						net_teardown),
		cmocka_unit_test_setup_teardown(test_bad_proxy_export_stop,
						net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_running, net_setup,
						net_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
