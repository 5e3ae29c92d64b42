/*
 * tests/net/net_util.h - what the net tests share: a fixture (a
 * nats-server of its own, the test's runtime + node, peer processes), the
 * peer protocol of test_node.c, and the cluster-wide checks.
 *
 * Include this header FIRST (it selects the feature level before any
 * system header). Header-only: each test is one translation unit.
 *
 * Checks are cmocka's, on the test's thread only; hooks and behaviours
 * count into atomics the test thread reads. Every wait is bounded in time
 * (and in rounds): a hang is a failure with a message, not a ctest
 * timeout. Peers are separate processes (net_test_node) talking over
 * pipes (protocol: test_node.c's header); a peer dies with the test (EOF
 * on its stdin, and PR_SET_PDEATHSIG).
 */
#ifndef TRP_TESTS_NET_UTIL_H
#define TRP_TESTS_NET_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* close_range via syscall, prctl */
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include <troupe/node.h>
#include <troupe/troupe.h>

#include "../common/balance.h"
#include "../common/nats_server.h"
#include "net_proto.h"

#define NET_SEC 1000000000LL
#define NET_MS 1000000LL
/* Bound of "the cluster settles" waits. */
#define NET_SETTLE_NS (20 * NET_SEC)
/* Bound of a peer's start (connect + subscribe) and of its replies. */
#define NET_PEER_START_MS 15000
#define NET_PEER_REPLY_MS 15000
#define NET_PEERS_MAX 4
/* The load tests (fifo, slow_consumer) saturate both cores on purpose,
 * and sanitizers slow everything 5-15x: they judge peers down only after
 * 20 heartbeat intervals (5 s) instead of 4 (1 s), so what they check
 * (order, conservation) is not cut short by a false "down". Failure
 * detection itself is checked where it is the subject (absent.c). */
#define NET_LOAD_MISSES 20
#define NET_LOAD_MISSES_STR "20"

#ifndef NET_TEST_NODE
#define NET_TEST_NODE "net_test_node"
#endif

/* --------------------------------------------------------------- time -- */

static inline int64_t net_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NET_SEC + ts.tv_nsec;
}

static inline void net_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* base × TRP_STRESS_SCALE (float > 0, default 1), at least @min. */
static inline uint64_t net_scaled(uint64_t base, uint64_t min)
{
	double scale = 1.0;
	const char *e = getenv("TRP_STRESS_SCALE");
	if (e != NULL && *e != '\0') {
		char *end = NULL;
		double v = strtod(e, &end);
		if (end != e && v > 0 && v < 1e6)
			scale = v;
	}
	double n = (double)base * scale;
	return n < (double)min ? min : (uint64_t)n;
}

#define NET_RC(expr, want)                                                     \
	do {                                                                   \
		int net_rc_ = (expr);                                          \
		int net_want_ = (want);                                        \
		if (net_rc_ != net_want_)                                      \
			fail_msg("%s: %s (%d), want %s", #expr,                \
				 trp_errname(net_rc_), net_rc_,                \
				 trp_errname(net_want_));                      \
	} while (0)
#define NET_OK(expr) NET_RC((expr), 0)

/* -------------------------------------------------------------- hooks -- */

/* What the test runtime's dead-letter hook and the test node's loss hook
 * saw. Reset by the fixture's setup. */
struct net_hooks {
	atomic_uint_least64_t dead[TRP_DEAD_REASONS];
	atomic_uint_least64_t dead_late_to_nonnull; /* LATE_REPLY with to */
	atomic_uint_least64_t loss_msgs[TRP_LOSS_CAUSES];
	atomic_uint_least64_t loss_events[TRP_LOSS_CAUSES];
	atomic_uint_least64_t loss_bad; /* cause out of range, NULL peer */
	char loss_peer[TRP_NODE_TOKEN_MAX + 1];	  /* last peer (racy copy) */
	atomic_uint_least64_t loss_peer_mismatch; /* != expect_peer */
	char expect_peer[TRP_NODE_TOKEN_MAX + 1]; /* "" : any */
};
static struct net_hooks net_hooks;
/* When the fixture started (for the node events' times). */
static int64_t net_t0;
/* Down events the test node reported (net_node_watcher). */
static atomic_uint_least64_t net_downs_seen;

static inline uint64_t net_ld(atomic_uint_least64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static inline void net_dead_hook(void *ctx, trp_actor_t *to,
				 const trp_msg_t *msg, trp_dead_reason_t why)
{
	(void)ctx;
	(void)msg;
	if ((int)why >= 0 && (int)why < TRP_DEAD_REASONS)
		atomic_fetch_add(&net_hooks.dead[why], 1);
	if (why == TRP_DEAD_LATE_REPLY && to != NULL)
		atomic_fetch_add(&net_hooks.dead_late_to_nonnull, 1);
}

static inline void net_loss_hook(const trp_node_loss_t *loss, void *ctx)
{
	(void)ctx;
	if (loss == NULL || (int)loss->cause < 0 ||
	    loss->cause >= TRP_LOSS_CAUSES || loss->peer == NULL) {
		atomic_fetch_add(&net_hooks.loss_bad, 1);
		return;
	}
	atomic_fetch_add(&net_hooks.loss_msgs[loss->cause], loss->messages);
	atomic_fetch_add(&net_hooks.loss_events[loss->cause], 1);
	if (net_hooks.expect_peer[0] != '\0' &&
	    strcmp(loss->peer, net_hooks.expect_peer) != 0)
		atomic_fetch_add(&net_hooks.loss_peer_mismatch, 1);
}

/* -------------------------------------------------------------- peers -- */

/* A peer node: a net_test_node process. */
struct net_peer {
	pid_t pid;
	int in_fd;  /* its stdin (we write) */
	int out_fd; /* its stdout (we read) */
	char name[TRP_NODE_TOKEN_MAX + 1];
	uint64_t inc;
	uint64_t max_payload;
	char rbuf[8192];
	size_t rlen;
	int exit_status;
};

/* Finds " key=<u64>" (or "key=" at the line's second word) in @line. */
static inline bool net_kv(const char *line, const char *key, uint64_t *out)
{
	size_t k = strlen(key);
	const char *p = line;
	/* Each round moves past one space: bounded by the line. */
	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		if (strncmp(p, key, k) == 0 && p[k] == '=') {
			char *end = NULL;
			errno = 0;
			unsigned long long v = strtoull(p + k + 1, &end, 10);
			if (errno != 0 || end == p + k + 1 ||
			    (*end != ' ' && *end != '\0'))
				return false;
			*out = v;
			return true;
		}
	}
	return false;
}

static inline bool net_kv_str(const char *line, const char *key, char *out,
			      size_t cap)
{
	size_t k = strlen(key);
	const char *p = line;
	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		if (strncmp(p, key, k) == 0 && p[k] == '=') {
			size_t n = strcspn(p + k + 1, " ");
			if (n >= cap)
				return false;
			memcpy(out, p + k + 1, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

/* Parses a "stats ..." line; false (and a message) if a key is missing. */
static inline bool net_parse_stats(const char *line, trp_node_stats_t *s)
{
	memset(s, 0, sizeof *s);
	if (strncmp(line, "stats ", 6) != 0)
		return false;
	bool ok = true;
#define NET_PARSE_FIELD(key, expr)                                             \
	{                                                                      \
		uint64_t v_ = 0;                                               \
		if (!net_kv(line, #key, &v_)) {                                \
			fprintf(stderr, "stats line without " #key ": %s\n",   \
				line);                                         \
			ok = false;                                            \
		}                                                              \
		(expr) = v_;                                                   \
	}
	NET_NODE_STATS_FIELDS(NET_PARSE_FIELD)
#undef NET_PARSE_FIELD
	for (int c = 0; c < TRP_LOSS_CAUSES; c++) {
		if (!net_kv(line, net_loss_keys[c], &s->lost[c])) {
			fprintf(stderr, "stats line without %s: %s\n",
				net_loss_keys[c], line);
			ok = false;
		}
	}
	return ok;
}

static inline void net_print_stats(const char *who, const trp_node_stats_t *s)
{
	char line[1024];
	net_format_stats(s, line, sizeof line);
	printf("  %s: %s\n", who, line);
}

/* Reads one line from @p into @out (without the newline), waiting at most
 * @ms: 0, -ETIMEDOUT, or -EPIPE (the peer closed its stdout). */
static inline int net_peer_line(struct net_peer *p, char *out, size_t cap,
				int ms)
{
	int64_t deadline = net_now() + (int64_t)ms * NET_MS;
	for (int round = 0; round < 100000; round++) {
		char *nl = memchr(p->rbuf, '\n', p->rlen);
		if (nl != NULL) {
			size_t n = (size_t)(nl - p->rbuf);
			size_t c = n < cap - 1 ? n : cap - 1;
			memcpy(out, p->rbuf, c);
			out[c] = '\0';
			memmove(p->rbuf, nl + 1, p->rlen - n - 1);
			p->rlen -= n + 1;
			return 0;
		}
		if (p->rlen == sizeof p->rbuf) /* a line too long: cut it */
			p->rlen = 0;
		int64_t left = (deadline - net_now()) / NET_MS;
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = { p->out_fd, POLLIN, 0 };
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue; /* timeout: the deadline check ends it */
		ssize_t got = read(p->out_fd, p->rbuf + p->rlen,
				   sizeof p->rbuf - p->rlen);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -EPIPE;
		p->rlen += (size_t)got;
	}
	return -ETIMEDOUT;
}

/* Reads lines until one starts with @prefix (others are echoed to stdout
 * as "peer N: ..."), at most @ms: 0 with the line in @out, or < 0. */
static inline int net_peer_expect(struct net_peer *p, const char *prefix,
				  char *out, size_t cap, int ms)
{
	int64_t deadline = net_now() + (int64_t)ms * NET_MS;
	for (int round = 0; round < 1000; round++) {
		int64_t left = (deadline - net_now()) / NET_MS;
		if (left <= 0)
			return -ETIMEDOUT;
		int rc = net_peer_line(p, out, cap, (int)left);
		if (rc != 0)
			return rc;
		if (strncmp(out, prefix, strlen(prefix)) == 0)
			return 0;
		printf("  peer %s: %s\n", p->name, out);
		if (strncmp(out, "error", 5) == 0 &&
		    strncmp(prefix, "error", 5) != 0)
			return -EPROTO;
	}
	return -ETIMEDOUT;
}

/* Says how peer @p ended, if it did (within 1 s): a failed command then
 * tells a crash or a signal from a clean exit. */
static inline void net_peer_why(struct net_peer *p)
{
	for (int i = 0; i < 500 && p->pid > 0; i++) {
		int st = 0;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			p->exit_status = st;
			p->pid = 0;
			if (WIFSIGNALED(st))
				fprintf(stderr,
					"peer %s: killed by signal %d (%s)\n",
					p->name, WTERMSIG(st),
					strsignal(WTERMSIG(st)));
			else
				fprintf(stderr, "peer %s: exited with %d\n",
					p->name, WEXITSTATUS(st));
			return;
		}
		if (r < 0)
			return;
		net_sleep_ms(2);
	}
}

static inline void net_peer_send(struct net_peer *p, const char *cmd)
{
	char line[128];
	int n = snprintf(line, sizeof line, "%s\n", cmd);
	if (write(p->in_fd, line, (size_t)n) != n) {
		int e = errno;
		net_peer_why(p);
		fail_msg("peer %s: writing \"%s\": %s", p->name, cmd,
			 strerror(e));
	}
}

/* Sends @cmd and returns the answer line starting with @prefix. */
static inline void net_peer_cmd(struct net_peer *p, const char *cmd,
				const char *prefix, char *out, size_t cap)
{
	net_peer_send(p, cmd);
	int rc = net_peer_expect(p, prefix, out, cap, NET_PEER_REPLY_MS);
	if (rc == -EPIPE)
		net_peer_why(p);
	if (rc != 0)
		fail_msg("peer %s: no \"%s\" answer to \"%s\": %s", p->name,
			 prefix, cmd, strerror(-rc));
}

static inline trp_node_stats_t net_peer_stats(struct net_peer *p)
{
	char line[1024];
	trp_node_stats_t s;
	net_peer_cmd(p, "stats", "stats", line, sizeof line);
	if (!net_parse_stats(line, &s))
		fail_msg("peer %s: bad stats line: %s", p->name, line);
	return s;
}

/* Reaps @p within @ms (SIGKILL if it has not exited then). */
static inline void net_peer_reap(struct net_peer *p, int ms)
{
	if (p->pid <= 0)
		return;
	int64_t deadline = net_now() + (int64_t)ms * NET_MS;
	for (int round = 0; round < ms / 2 + 2; round++) {
		int st = 0;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid || (r < 0 && errno == ECHILD)) {
			p->exit_status = r == p->pid ? st : -1;
			p->pid = 0;
			break;
		}
		if (net_now() > deadline) {
			fprintf(stderr,
				"peer %s did not exit in %d ms: "
				"SIGKILL\n",
				p->name, ms);
			kill(p->pid, SIGKILL);
			if (waitpid(p->pid, &st, 0) == p->pid)
				p->exit_status = st;
			p->pid = 0;
			break;
		}
		net_sleep_ms(2);
	}
	if (p->in_fd >= 0)
		close(p->in_fd);
	if (p->out_fd >= 0)
		close(p->out_fd);
	p->in_fd = p->out_fd = -1;
}

/* SIGKILLs a running peer (a crash) and reaps it. */
static inline void net_peer_kill(struct net_peer *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	net_peer_reap(p, 5000);
}

/*
 * Starts net_test_node as node @name with @args (NULL-terminated extra
 * arguments: roles, options) and waits for its "ready" line. Returns 0,
 * or -1 after printing why (its "error ..." line, or a timeout).
 */
static inline int net_peer_try_start(struct net_peer *p, const char *url,
				     const char *cluster, const char *name,
				     const char *const *args)
{
	const char *argv[32];
	int argc = 0;
	const char *bin = getenv("TROUPE_TEST_NODE");
	if (bin == NULL || *bin == '\0')
		bin = NET_TEST_NODE;
	memset(p, 0, sizeof *p);
	p->in_fd = p->out_fd = -1;
	snprintf(p->name, sizeof p->name, "%s", name);
	argv[argc++] = bin;
	argv[argc++] = "--url";
	argv[argc++] = url;
	argv[argc++] = "--cluster";
	argv[argc++] = cluster;
	argv[argc++] = "--name";
	argv[argc++] = name;
	for (int i = 0; args != NULL && args[i] != NULL && argc < 31; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;

	int to_child[2], from_child[2];
	if (pipe(to_child) != 0)
		return -1;
	if (pipe(from_child) != 0) {
		close(to_child[0]);
		close(to_child[1]);
		return -1;
	}
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		for (int i = 0; i < 2; i++) {
			close(to_child[i]);
			close(from_child[i]);
		}
		return -1;
	}
	if (pid == 0) {
		/* Async-signal-safe calls only until execv. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		if (dup2(to_child[0], STDIN_FILENO) < 0 ||
		    dup2(from_child[1], STDOUT_FILENO) < 0)
			_exit(125);
		/* Nothing else of ours: above all not the test node's
		 * NATS socket, which would outlive its close. */
		if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
			for (int fd = 3; fd < 4096; fd++)
				close(fd);
		signal(SIGPIPE, SIG_DFL);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	(void)fcntl(to_child[1], F_SETFD, FD_CLOEXEC);
	(void)fcntl(from_child[0], F_SETFD, FD_CLOEXEC);
	p->pid = pid;
	p->in_fd = to_child[1];
	p->out_fd = from_child[0];

	char line[512];
	int rc = net_peer_expect(p, "ready", line, sizeof line,
				 NET_PEER_START_MS);
	if (rc != 0) {
		fprintf(stderr, "peer %s (%s) did not start: %s\n", name, bin,
			rc == -EPROTO ? "it said error" : strerror(-rc));
		net_peer_kill(p);
		return -1;
	}
	if (!net_kv(line, "inc", &p->inc) ||
	    !net_kv(line, "max_payload", &p->max_payload)) {
		fprintf(stderr, "peer %s: bad ready line: %s\n", name, line);
		net_peer_kill(p);
		return -1;
	}
	return 0;
}

/* Final counters of a peer that was told to stop. */
struct net_peer_final {
	trp_node_stats_t node; /* after its stop (trp_node_stop_ex) */
	struct net_sink_stats sink;
	uint64_t sink_stats_asks, sink_unexpected;
	struct net_echo_stats echo;
};

/* Tells @p to stop and collects its final lines; checks that its node
 * stopped with 0, its runtime balanced and the process exited 0. */
static inline void net_peer_stop(struct net_peer *p, struct net_peer_final *f)
{
	char line[1024];
	memset(f, 0, sizeof *f);
	net_peer_send(p, "stop");
	int rc = net_peer_expect(p, "stats", line, sizeof line,
				 NET_PEER_REPLY_MS);
	if (rc != 0 || !net_parse_stats(line, &f->node))
		fail_msg("peer %s: no final stats (%s): %s", p->name,
			 strerror(-rc), line);
	bool ok = true;
	if (net_peer_expect(p, "sink", line, sizeof line, NET_PEER_REPLY_MS) !=
		    0 ||
	    !net_kv(line, "count", &f->sink.count) ||
	    !net_kv(line, "violations", &f->sink.violations) ||
	    !net_kv(line, "skipped", &f->sink.skipped) ||
	    !net_kv(line, "senders", &f->sink.senders) ||
	    !net_kv(line, "stats_asks", &f->sink_stats_asks) ||
	    !net_kv(line, "unexpected", &f->sink_unexpected))
		ok = false;
	if (ok && (net_peer_expect(p, "echo", line, sizeof line,
				   NET_PEER_REPLY_MS) != 0 ||
		   !net_kv(line, "asks", &f->echo.asks) ||
		   !net_kv(line, "oneway", &f->echo.oneway) ||
		   !net_kv(line, "last_size", &f->echo.last_size) ||
		   !net_kv(line, "last_sum", &f->echo.last_sum)))
		ok = false;
	if (!ok)
		fail_msg("peer %s: bad final sink/echo line: %s", p->name,
			 line);
	char what[32] = "";
	if (net_peer_expect(p, "stopped", line, sizeof line,
			    NET_PEER_REPLY_MS) != 0 ||
	    !net_kv_str(line, "rc", what, sizeof what))
		fail_msg("peer %s: no \"stopped\" line", p->name);
	if (strcmp(what, "TRP_OK") != 0)
		fail_msg("peer %s: trp_node_stop returned %s", p->name, what);
	uint64_t balanced = 0;
	if (net_peer_expect(p, "runtime", line, sizeof line,
			    NET_PEER_REPLY_MS) != 0 ||
	    !net_kv(line, "balanced", &balanced))
		fail_msg("peer %s: no \"runtime\" line", p->name);
	if (balanced != 1)
		fail_msg("peer %s: runtime not balanced at destroy: %s",
			 p->name, line);
	if (net_peer_expect(p, "bye", line, sizeof line, NET_PEER_REPLY_MS) !=
	    0)
		fail_msg("peer %s: no \"bye\"", p->name);
	net_peer_reap(p, 10000);
	if (!(WIFEXITED(p->exit_status) && WEXITSTATUS(p->exit_status) == 0))
		fail_msg("peer %s exited with status 0x%x", p->name,
			 (unsigned)p->exit_status);
}

/* ------------------------------------------------------------ fixture -- */

struct net_fixture {
	struct nats_server server;
	char cluster[TRP_NODE_TOKEN_MAX + 1];
	trp_runtime_t *rt;
	trp_node_t *node; /* NULL once stopped */
	struct net_peer peers[NET_PEERS_MAX];
	int npeers;
	/* Handles released by the teardown, after the runtime is gone (so
	 * a failed check leaks nothing LSan would report over it). */
	trp_actor_t *held[64];
	int nheld;
};

/* Hands @a to the fixture, which releases it at teardown; returns @a. */
static inline trp_actor_t *net_keep(struct net_fixture *fx, trp_actor_t *a)
{
	if (fx->nheld >= (int)(sizeof fx->held / sizeof fx->held[0]))
		fail_msg("net_keep: too many handles");
	fx->held[fx->nheld++] = a;
	return a;
}

/* cmocka setup: a nats-server and a cluster name of its own. */
static inline int net_setup(void **state)
{
	struct net_fixture *fx = calloc(1, sizeof *fx);
	if (fx == NULL)
		return -1;
	memset(&net_hooks, 0, sizeof net_hooks);
	atomic_store(&net_downs_seen, 0);
	net_t0 = net_now();
	if (nats_server_start(&fx->server, NULL) != 0) {
		free(fx);
		return -1;
	}
	snprintf(fx->cluster, sizeof fx->cluster, "t%ld", (long)getpid());
	*state = fx;
	return 0;
}

/* cmocka teardown: whatever the test left (after a failed check too). */
static inline int net_teardown(void **state)
{
	struct net_fixture *fx = *state;
	if (fx == NULL)
		return 0;
	for (int i = 0; i < fx->npeers; i++) {
		if (fx->peers[i].pid > 0) {
			/* EOF first (a clean exit), then the kill bound. */
			if (fx->peers[i].in_fd >= 0) {
				close(fx->peers[i].in_fd);
				fx->peers[i].in_fd = -1;
			}
			net_peer_reap(&fx->peers[i], 10000);
		}
	}
	if (fx->rt != NULL) {
		/* Stops a node still running (node.h). */
		trp_runtime_destroy(fx->rt);
		fx->rt = NULL;
		fx->node = NULL;
	}
	for (int i = 0; i < fx->nheld; i++)
		trp_actor_release(fx->held[i]);
	int rc = nats_server_stop(&fx->server);
	free(fx);
	*state = NULL;
	return rc == 0 ? 0 : -1;
}

/* Starts a peer of @fx (fails the test if it does not start). */
static inline struct net_peer *net_peer_start(struct net_fixture *fx,
					      const char *name,
					      const char *const *args)
{
	if (fx->npeers >= NET_PEERS_MAX)
		fail_msg("too many peers");
	struct net_peer *p = &fx->peers[fx->npeers];
	if (net_peer_try_start(p, fx->server.url, fx->cluster, name, args) !=
	    0) {
		nats_server_log_tail(&fx->server, stderr, 20);
		fail_msg("peer %s did not start", name);
	}
	fx->npeers++;
	return p;
}

static inline const char *net_down_reason(uint32_t r)
{
	switch (r) {
	case TRP_NODE_DOWN_HEARTBEAT:
		return "heartbeat";
	case TRP_NODE_DOWN_GOODBYE:
		return "goodbye";
	case TRP_NODE_DOWN_NO_RESPONDERS:
		return "no_responders";
	case TRP_NODE_DOWN_RESTARTED:
		return "restarted";
	default:
		return "?";
	}
}

/* Node up/down events of the test node, printed as they come: when a
 * test fails, the log says whether a peer was taken down, and why. */
static inline void net_node_watcher(trp_actor_t *self, void *state,
				    const trp_msg_t *m)
{
	trp_node_event_t ev;
	(void)self;
	(void)state;
	if (m->type != NET_T_NODE_EVENT || m->size != sizeof ev)
		return;
	memcpy(&ev, m->data, sizeof ev);
	ev.node[TRP_NODE_TOKEN_MAX] = '\0';
	if (!ev.up)
		atomic_fetch_add(&net_downs_seen, 1);
	printf("  [%.3f s] node %s %s (incarnation %016" PRIx64 "%s%s)\n",
	       (double)(net_now() - net_t0) / 1e9, ev.node,
	       ev.up ? "up" : "DOWN", ev.incarnation, ev.up ? "" : ", ",
	       ev.up ? "" : net_down_reason(ev.reason));
}

/* The test's own runtime (2 workers, the dead-letter hook) and node
 * @name; @tmpl (may be NULL) gives the other node options. */
static inline void net_local_start(struct net_fixture *fx, const char *name,
				   const trp_node_config_t *tmpl)
{
	trp_config_t rcfg = TRP_CONFIG_INIT;
	rcfg.workers = 2;
	rcfg.dead_letter = net_dead_hook;
	NET_OK(trp_runtime_create(&rcfg, &fx->rt));
	static const char *servers[1];
	servers[0] = fx->server.url;
	trp_node_config_t cfg = TRP_NODE_CONFIG_INIT;
	if (tmpl != NULL)
		cfg = *tmpl;
	cfg.cluster = fx->cluster;
	cfg.name = name;
	cfg.servers = servers;
	cfg.nservers = 1;
	cfg.on_loss = net_loss_hook;
	NET_OK(trp_node_start(fx->rt, &cfg, &fx->node));
	assert_string_equal(trp_node_name(fx->node), name);
	assert_true(trp_node_incarnation(fx->node) != 0);
	trp_actor_def_t def = { 0 };
	trp_actor_t *w = NULL;
	def.behavior = net_node_watcher;
	def.mailbox_limit = TRP_MAILBOX_UNBOUNDED;
	NET_OK(trp_actor_spawn(fx->rt, &def, NULL, &w));
	net_keep(fx, w);
	NET_OK(trp_node_monitor_nodes(fx->node, w, NET_T_NODE_EVENT));
}

static inline trp_node_stats_t net_local_stats(struct net_fixture *fx)
{
	trp_node_stats_t s;
	NET_OK(trp_node_stats(fx->node, &s));
	return s;
}

/* Stops the test node (goodbyes) and returns its final counters. */
static inline trp_node_stats_t net_local_stop(struct net_fixture *fx)
{
	trp_node_stats_t s;
	NET_OK(trp_runtime_wait_idle(fx->rt, NET_SETTLE_NS));
	NET_OK(trp_node_stop_ex(fx->node, 5 * NET_SEC, &s));
	fx->node = NULL;
	return s;
}

/* Destroys the test runtime and checks the delivery identity. */
static inline trp_stats_t net_local_destroy(struct net_fixture *fx)
{
	trp_stats_t fin;
	char why[256];
	int rc = trp_runtime_destroy_ex(fx->rt, &fin);
	fx->rt = NULL;
	fx->node = NULL;
	NET_OK(rc);
	if (!balance_holds(&fin, why, sizeof why))
		fail_msg("test runtime after destroy: %s", why);
	return fin;
}

/* A proxy for @actor on @peer (its reference is the fixture's). */
static inline trp_actor_t *net_proxy(struct net_fixture *fx, const char *peer,
				     const char *actor)
{
	trp_actor_t *a = NULL;
	NET_OK(trp_node_proxy(fx->node, peer, actor, &a));
	assert_non_null(a);
	return net_keep(fx, a);
}

/* Asks @to and waits at most @ms: the status; the reply copied to @out
 * (up to @cap bytes, *@len its size) when 0. */
static inline int net_ask(trp_actor_t *to, uint32_t type, const void *data,
			  size_t len, int ms, void *out, size_t cap,
			  size_t *got)
{
	trp_future_t *f = NULL;
	int rc = trp_ask(to, type, data, len, &f);
	if (rc != 0)
		return rc;
	const trp_msg_t *r = NULL;
	rc = trp_future_wait(f, (int64_t)ms * NET_MS, &r);
	if (rc == 0) {
		if (r == NULL)
			fail_msg("future completed with 0 but no reply");
		if (r->type != type)
			fail_msg("reply type %u, request type %u", r->type,
				 type);
		if (got != NULL)
			*got = r->size;
		if (out != NULL && r->size > 0)
			memcpy(out, r->data, r->size < cap ? r->size : cap);
	}
	trp_future_release(f);
	return rc;
}

static inline struct net_sink_stats net_ask_sink(trp_actor_t *sink, int ms)
{
	struct net_sink_stats s;
	size_t got = 0;
	memset(&s, 0, sizeof s);
	NET_OK(net_ask(sink, NET_T_STATS, NULL, 0, ms, &s, sizeof s, &got));
	assert_int_equal(got, sizeof s);
	return s;
}

static inline struct net_echo_stats net_ask_echo(trp_actor_t *echo, int ms)
{
	struct net_echo_stats s;
	size_t got = 0;
	memset(&s, 0, sizeof s);
	NET_OK(net_ask(echo, NET_T_STATS, NULL, 0, ms, &s, sizeof s, &got));
	assert_int_equal(got, sizeof s);
	return s;
}

/*
 * The cluster-wide identity of node.h at quiescence over @n nodes' final
 * counters: sum of sent == sum of received + sum of lost[], and on each
 * node received == delivered + undeliverable.
 */
static inline void net_assert_conserved(const trp_node_stats_t *const *s, int n)
{
	uint64_t sent = 0, received = 0, lost = 0;
	for (int i = 0; i < n; i++) {
		sent += s[i]->sent;
		received += s[i]->received;
		lost += net_lost_total(s[i]);
		if (s[i]->received != s[i]->delivered + s[i]->undeliverable)
			fail_msg("node %d: received %" PRIu64
				 " != delivered %" PRIu64
				 " + undeliverable %" PRIu64,
				 i, s[i]->received, s[i]->delivered,
				 s[i]->undeliverable);
	}
	if (sent != received + lost) {
		for (int i = 0; i < n; i++) {
			char who[32];
			snprintf(who, sizeof who, "node %d", i);
			net_print_stats(who, s[i]);
		}
		fail_msg("not conserved: sent %" PRIu64 " != received %" PRIu64
			 " + lost %" PRIu64 " (difference %" PRId64 ")",
			 sent, received, lost,
			 (int64_t)(sent - received - lost));
	}
}

/* Stops the test node and then @peer (the test's first, so the peer
 * counts the end of its stream) and checks the cluster-wide identity over
 * the two. Returns the peer's final counters; the test runtime stays for
 * the test to destroy. */
static inline struct net_peer_final net_finish_pair(struct net_fixture *fx,
						    struct net_peer *peer)
{
	struct net_peer_final pf;
	trp_node_stats_t local = net_local_stop(fx);
	net_peer_stop(peer, &pf);
	const trp_node_stats_t *all[2] = { &local, &pf.node };
	net_print_stats("main", &local);
	net_print_stats(peer->name, &pf.node);
	net_assert_conserved(all, 2);
	return pf;
}

#endif /* TRP_TESTS_NET_UTIL_H */
