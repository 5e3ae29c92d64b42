/*
 * examples/distributed_exchange - the seeds' get_exchange('name') program
 * (recipe 12.11, shared/seeds/cookbook-actor-exchange.txt; the
 * single-process port is examples/exchange.c) across three processes, each
 * one a node of one cluster that bridges the exchange "name"
 * (trp_node_bridge):
 *
 *     exc = get_exchange('name')
 *     d = DisplayMessages(); exc.attach(d)
 *     with exc.subscribe(task_a, task_b):
 *         exc.send('msg1')
 *         exc.send('msg2')
 *     exc.send('msg3')          # after the block: reaches nobody
 *
 * Every node ("alpha", "beta", "gamma") has the seed's subscribers: two
 * task actors that print what they get ("beta task_a got: msg1") and a
 * DisplayMessages tap ("beta msg: type=1 size=4 data=\"msg1\""). The
 * publisher is on alpha: its exc.send() is a trp_exchange_publish() on
 * alpha's local exchange, and the bridge carries each publish to the
 * other two nodes, where it is republished to their local subscribers.
 * So every subscriber on every node gets msg1 and msg2; msg3, published
 * once every node has left its `with` block, reaches nobody anywhere (it
 * still crosses to beta and gamma: their bridges count it, xreceived).
 *
 * One command (starts a private nats-server on a free loopback port, runs
 * beta and gamma as child processes and alpha here, checks, stops
 * everything, exits 0):
 *
 *     example_distributed_exchange
 *
 * nats-server comes from $TROUPE_NATS_SERVER, else PATH, else /usr/sbin.
 * Against a server that is already running (the same, without starting
 * one): example_distributed_exchange --nats nats://127.0.0.1:4222
 *
 * By hand, in three terminals plus the server's (start them in any order;
 * alpha waits up to 30 s for the others, they wait up to 300 s for alpha):
 *
 *     nats-server -a 127.0.0.1 -p 4222
 *     example_distributed_exchange --role beta  --nats nats://127.0.0.1:4222
 *     example_distributed_exchange --role gamma --nats nats://127.0.0.1:4222
 *     example_distributed_exchange --role alpha --nats nats://127.0.0.1:4222
 *
 * Each terminal shows its node's lines; all three exit when alpha is done
 * (alpha's status says whether every subscriber got every message).
 * --cluster NAME (default "exchange"; the one-command mode uses
 * "exchange-<pid>") keeps separate runs on one server apart.
 *
 * How alpha runs the seed across nodes (each step bounded in time):
 *   1. trp_node_wait_peer() for beta and gamma, then a ping to each one's
 *      control actor ("control", a thread actor registered last: an
 *      answer means that node bridged "name" and attached its subscribers);
 *   2. alpha enters its own `with` block and publishes msg1 and msg2;
 *   3. alpha asks each control FINISH: the node waits until its three
 *      subscribers got both messages, leaves its `with` block (detaches
 *      task_a and task_b; the tap is detached too, as in examples/
 *      exchange.c) and answers with its counts; alpha leaves its block;
 *   4. alpha publishes msg3 (nobody is subscribed on any node now);
 *   5. alpha asks each control QUIT: the node waits until its bridge has
 *      republished all three publishes (xreceived), checks that its
 *      subscribers still have two each, answers with its counts, prints
 *      its tap count and stops. Alpha waits for its children to exit,
 *      checks every count, stops its node last.
 *
 * Output: each line is printed by the process of the subscriber that
 * prints it (the children share our stdout), one write per line (line
 * buffered: a pipe takes a line whole), so the three processes' lines
 * interleave but never mix; the expected file is compared as a set of
 * lines.
 *
 * Errors: one line on stderr, "distributed_exchange[ (role)]: what", and
 * exit status 1 (2 for bad usage). No process outlives the run: on every
 * path the children and the server are stopped by PID, and should this
 * process die, the kernel kills them (PR_SET_PDEATHSIG; the child
 * processes are examples/common/child_proc.c).
 */
#define _GNU_SOURCE /* clock_gettime, nanosleep under -std=gnu11 */

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/node.h>
#include <troupe/troupe.h>

#include "child_proc.h"
#include "nats_server.h"
#include "node_args.h"

#define PROGRAM "distributed_exchange"
#define EXCHANGE "name" /* get_exchange('name') */
#define CONTROL "control"
#define DEFAULT_CLUSTER "exchange"
#define NNODES 3
#define NMSGS 2	     /* msg1, msg2: what each subscriber gets */
#define NPUBLISHED 3 /* and msg3, which reaches nobody */
/* Sinks left on a node's exchange after its `with` block: the bridge's
 * own callback sink (it hands local publishes to the other nodes). */
#define BRIDGE_SINKS 1

static const char *const node_names[NNODES] = { "alpha", "beta", "gamma" };

enum {
	MSG_TEXT = 1,	/* the seed's messages: text without a NUL */
	MSG_PING = 2,	/* asks to a control actor, see above */
	MSG_FINISH = 3, /* reply: struct report */
	MSG_QUIT = 4	/* reply: struct report */
};

#define MS 1000000LL
#define SEC 1000000000LL
/* Bounds of the waits, in ns. */
#define READY_NS (30 * SEC)	/* beta and gamma answer a ping */
#define PING_NS (1 * SEC)	/* one ping's answer */
#define ASK_NS (15 * SEC)	/* FINISH and QUIT answers */
#define ARRIVE_NS (10 * SEC)	/* a node's subscribers get everything */
#define LIFETIME_NS (300 * SEC) /* beta and gamma wait for QUIT */
#define EXIT_NS (15 * SEC)	/* a child process exits */
#define STOP_NS (2 * SEC)	/* trp_node_stop's goodbyes */

/* ---------------------------------------------------------- errors -- */

static void error_line(const char *role, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void error_line(const char *role, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (role != NULL)
		fprintf(stderr, PROGRAM " (%s): %s\n", role, line);
	else
		fprintf(stderr, PROGRAM ": %s\n", line);
	fflush(stderr);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * MS };

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------- one node's subscribers -- */

/* A task's state (the seed's Task): written by its behaviour, read by
 * other threads of this process through the counter. */
struct task {
	const char *node;
	const char *name;
	/* ORDER: release after the line is printed, so that a reader that
	 * sees the count sees the line written (FINISH answers after it). */
	atomic_uint received;
	atomic_uint bad; /* relaxed: read once everything is done */
};

/* What a node reports to alpha (a reply of at most 32 bytes: kept in the
 * future without an allocation). */
struct report {
	uint32_t task_a, task_b, tap; /* messages each subscriber got */
	uint32_t subscribers;	      /* sinks attached now (the bridge's) */
	uint64_t xreceived;	      /* publishes of other nodes republished */
	uint64_t xlost;		      /* ... and lost between nodes */
};

/* One node: its runtime, its node, the exchange and the seed's
 * subscribers. */
struct dx_node {
	const char *role; /* its name: alpha, beta or gamma */
	trp_runtime_t *rt;
	trp_node_t *node;
	trp_exchange_t *exc;
	trp_actor_t *task_a, *task_b;
	struct task a, b;
	trp_tap_t d; /* DisplayMessages */
	char tap_label[TRP_NODE_TOKEN_MAX + 8];
	trp_exchange_scope_t scope; /* the `with` block (followers) */
	int failures;		    /* checks that failed (control thread) */
};

/* Task.send(msg): print it, as in examples/exchange.c, with the node. */
static void task_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct task *t = state;

	(void)self;
	if (msg->type != MSG_TEXT) {
		/* relaxed: a count read after the run. */
		atomic_fetch_add_explicit(&t->bad, 1, memory_order_relaxed);
		return;
	}
	printf("%s %s got: %.*s\n", t->node, t->name, (int)msg->size,
	       (const char *)msg->data);
	/* ORDER: publishes the printed line to whoever acquires the count
	 * (wait_received). */
	atomic_fetch_add_explicit(&t->received, 1, memory_order_release);
}

static uint32_t received(struct task *t)
{
	/* ORDER: pairs with the release in task_behavior. */
	return atomic_load_explicit(&t->received, memory_order_acquire);
}

static struct report node_report(struct dx_node *n)
{
	struct report r;
	trp_node_stats_t ns;
	trp_exchange_stats_t es;

	memset(&r, 0, sizeof r);
	r.task_a = received(&n->a);
	r.task_b = received(&n->b);
	r.tap = (uint32_t)trp_tap_count(&n->d);
	if (trp_exchange_stats(n->exc, &es) == 0)
		r.subscribers = es.subscribers;
	if (trp_node_stats(n->node, &ns) == 0) {
		r.xreceived = ns.xreceived;
		r.xlost = ns.xlost;
	}
	return r;
}

/* Waits up to ARRIVE_NS until each subscriber of @n got NMSGS messages.
 * True if they did. */
static bool wait_received(struct dx_node *n)
{
	int64_t deadline = now_ns() + ARRIVE_NS;

	for (;;) {
		struct report r = node_report(n);

		if (r.task_a >= NMSGS && r.task_b >= NMSGS && r.tap >= NMSGS)
			return true;
		if (now_ns() > deadline)
			return false;
		sleep_ms(2);
	}
}

/* Waits up to ARRIVE_NS until the bridge republished @want publishes of
 * other nodes here (or lost some: counted). */
static bool wait_xreceived(struct dx_node *n, uint64_t want)
{
	int64_t deadline = now_ns() + ARRIVE_NS;

	for (;;) {
		struct report r = node_report(n);

		if (r.xreceived + r.xlost >= want)
			return r.xlost == 0 && r.xreceived == want;
		if (now_ns() > deadline)
			return false;
		sleep_ms(2);
	}
}

static int spawn_task(struct dx_node *n, struct task *t, const char *name,
		      trp_actor_t **out)
{
	trp_actor_def_t def = { .behavior = task_behavior };

	t->node = n->role;
	t->name = name;
	atomic_init(&t->received, 0);
	atomic_init(&t->bad, 0);
	return trp_actor_spawn(n->rt, &def, t, out);
}

/* Starts the runtime and the node @n->role in @cluster at @url, bridges
 * the exchange and spawns the tasks. 0, or prints why and returns the
 * troupe error (nothing left running). */
static int node_up(struct dx_node *n, const char *url, const char *cluster)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_node_config_t ncfg = TRP_NODE_CONFIG_INIT;
	const char *servers[1] = { url };
	int rc;

	cfg.workers = 2;
	rc = trp_runtime_create(&cfg, &n->rt);
	if (rc != 0) {
		error_line(n->role, "trp_runtime_create: %s", trp_strerror(rc));
		return rc;
	}
	ncfg.cluster = cluster;
	ncfg.name = n->role;
	ncfg.servers = servers;
	ncfg.nservers = 1;
	rc = trp_node_start(n->rt, &ncfg, &n->node);
	if (rc != 0) {
		if (rc == TRP_ENOTCONN)
			error_line(n->role, "no NATS server answered at %s",
				   url);
		else
			error_line(n->role, "node %s at %s: %s", n->role, url,
				   trp_strerror(rc));
		n->node = NULL;
		(void)trp_runtime_destroy(n->rt);
		n->rt = NULL;
		return rc;
	}
	/* get_exchange('name'), bridged: publishes on any node reach the
	 * subscribers of every node. */
	rc = trp_node_bridge(n->node, EXCHANGE);
	if (rc == 0)
		rc = trp_exchange_get(n->rt, EXCHANGE, &n->exc);
	if (rc == 0)
		rc = spawn_task(n, &n->a, "task_a", &n->task_a);
	if (rc == 0)
		rc = spawn_task(n, &n->b, "task_b", &n->task_b);
	snprintf(n->tap_label, sizeof n->tap_label, "%s msg", n->role);
	trp_tap_init(&n->d, stdout, n->tap_label);
	if (rc != 0)
		error_line(n->role, "setting up the exchange: %s",
			   trp_strerror(rc));
	return rc;
}

/* Stops everything node_up started. Returns 0, or 1 after a message. */
static int node_down(struct dx_node *n)
{
	int status = 0, rc;

	if (n->rt == NULL)
		return 0;
	trp_exchange_scope_exit(&n->scope); /* idempotent */
	if (n->node != NULL) {
		rc = trp_node_stop(n->node, STOP_NS);
		if (rc != 0) {
			error_line(n->role, "trp_node_stop: %s",
				   trp_strerror(rc));
			status = 1;
		}
	}
	if (n->exc != NULL)
		trp_exchange_release(n->exc);
	if (n->task_a != NULL)
		trp_actor_release(n->task_a);
	if (n->task_b != NULL)
		trp_actor_release(n->task_b);
	/* After a failure the runtime may not be idle: destroy stops what
	 * is left (and counts it as dead letters). */
	rc = trp_runtime_destroy(n->rt);
	if (rc != 0) {
		error_line(n->role, "trp_runtime_destroy: %s",
			   trp_strerror(rc));
		status = 1;
	}
	n->rt = NULL;
	fflush(stdout);
	return status;
}

/* exc.subscribe(task_a, task_b) plus exc.attach(d): all three. */
static int enter_scope(struct dx_node *n)
{
	n->scope = trp_exchange_scope_enter(
		n->exc,
		(const trp_sink_t[]){ trp_sink_actor(n->task_a),
				      trp_sink_actor(n->task_b),
				      trp_sink_tap(&n->d) },
		3);
	if (n->scope.rc != 0)
		error_line(n->role, "subscribing: %s",
			   trp_strerror(n->scope.rc));
	return n->scope.rc;
}

static bool report_ok(const struct report *r, bool after_msg3)
{
	return r->task_a == NMSGS && r->task_b == NMSGS && r->tap == NMSGS &&
	       r->subscribers == BRIDGE_SINKS && r->xlost == 0 &&
	       (!after_msg3 || r->xreceived == NPUBLISHED);
}

static void print_report(const char *role, const char *node, const char *when,
			 const struct report *r)
{
	error_line(role,
		   "node %s %s: task_a got %u, task_b got %u, tap %u (want "
		   "%u each), %u sinks (want %d: the bridge's), xreceived "
		   "%llu, xlost %llu",
		   node, when, r->task_a, r->task_b, r->tap, NMSGS,
		   r->subscribers, BRIDGE_SINKS,
		   (unsigned long long)r->xreceived,
		   (unsigned long long)r->xlost);
}

/* ------------------------------------------------- beta and gamma -- */

/*
 * The control thread of beta and gamma: answers PING, FINISH (leave the
 * `with` block once everything arrived) and QUIT (everything crossed,
 * nothing more reached a subscriber), then returns.
 */
static void control(trp_actor_t *self, void *arg)
{
	struct dx_node *n = arg;
	int64_t deadline = now_ns() + LIFETIME_NS;
	const trp_msg_t *msg;
	struct report r;
	int rc;

	n->failures = 1; /* until QUIT says otherwise */
	while ((rc = trp_recv(self, deadline - now_ns(), &msg)) == 0) {
		switch (msg->type) {
		case MSG_PING:
			rc = trp_reply(msg, NULL, 0);
			break;
		case MSG_FINISH:
			/* The end of the `with` block: msg1 and msg2 came. */
			if (!wait_received(n))
				error_line(n->role, "msg1 and msg2 did not "
						    "reach every subscriber");
			trp_exchange_scope_exit(&n->scope);
			r = node_report(n);
			rc = trp_reply(msg, &r, sizeof r);
			break;
		case MSG_QUIT:
			/* msg3 crossed too, and reached nobody. */
			if (!wait_xreceived(n, NPUBLISHED))
				error_line(n->role,
					   "the bridge did not republish the "
					   "%d publishes of alpha",
					   NPUBLISHED);
			r = node_report(n);
			n->failures = report_ok(&r, true) ? 0 : 1;
			if (n->failures != 0)
				print_report(n->role, n->role, "at the end",
					     &r);
			rc = trp_reply(msg, &r, sizeof r);
			if (rc != 0)
				error_line(n->role, "trp_reply: %s",
					   trp_strerror(rc));
			return;
		default:
			error_line(n->role, "control: unexpected message %u",
				   (unsigned)msg->type);
			continue;
		}
		if (rc != 0)
			error_line(n->role, "trp_reply: %s", trp_strerror(rc));
	}
	error_line(n->role, "no QUIT from alpha within %lld s (%s)",
		   (long long)(LIFETIME_NS / SEC), trp_strerror(rc));
}

static int follower_main(const char *role, const char *url, const char *cluster)
{
	struct dx_node n;
	trp_actor_t *ctl = NULL;
	int status = 1, rc;

	memset(&n, 0, sizeof n);
	n.role = role;
	if (node_up(&n, url, cluster) != 0) {
		(void)node_down(&n);
		return 1;
	}
	/* d = DisplayMessages(); exc.attach(d); with exc.subscribe(a, b): */
	if (enter_scope(&n) != 0)
		goto out;
	/* Registered last: an answer to a ping means we are ready. */
	rc = trp_thread_actor_spawn(n.rt, control, &n, &ctl);
	if (rc == 0)
		rc = trp_register(n.rt, CONTROL, ctl);
	if (rc != 0) {
		error_line(role, "control actor: %s", trp_strerror(rc));
		goto out;
	}
	rc = trp_actor_join(ctl, LIFETIME_NS + SEC);
	if (rc != 0) {
		error_line(role, "waiting for alpha: %s", trp_strerror(rc));
		goto out;
	}
	if (n.failures != 0)
		goto out;
	printf("%s tap count: %llu\n", role, trp_tap_count(&n.d));
	status = 0;
out:
	if (ctl != NULL)
		trp_actor_release(ctl);
	if (node_down(&n) != 0)
		status = 1;
	return status;
}

/* ---------------------------------------------------------- alpha -- */

/* Asks @ctl @type; its answer within @timeout_ns into @r (may be NULL):
 * 0, or the error (TRP_ENOTCONN: no such node; TRP_ENOENT: no control
 * actor yet; TRP_ETIMEDOUT; TRP_EINVAL: a reply of the wrong size). */
static int ask_control(trp_actor_t *ctl, uint32_t type, int64_t timeout_ns,
		       struct report *r)
{
	const trp_msg_t *reply = NULL;
	trp_future_t *f;
	int rc = trp_ask(ctl, type, NULL, 0, &f);

	if (rc != 0)
		return rc;
	rc = trp_future_wait(f, timeout_ns, &reply);
	if (rc == 0 && r != NULL) {
		if (reply == NULL || reply->size != sizeof *r)
			rc = TRP_EINVAL;
		else
			memcpy(r, reply->data, sizeof *r);
	}
	trp_future_release(f);
	return rc;
}

/* Waits for the follower @peer (trp_node_wait_peer, then pings until its
 * control answers), READY_NS at most. */
static int wait_follower(struct dx_node *n, trp_actor_t *ctl,
			 struct ex_child *c, const char *peer, const char *url,
			 const char *cluster)
{
	int64_t deadline = now_ns() + READY_NS;
	bool told = false;
	int rc;

	for (;;) {
		rc = trp_node_wait_peer(n->node, peer, 200 * MS);
		if (rc == 0)
			rc = ask_control(ctl, MSG_PING, PING_NS, NULL);
		if (rc == 0)
			return 0;
		if (rc != TRP_ENOTCONN && rc != TRP_ENOENT &&
		    rc != TRP_ETIMEDOUT) {
			error_line(n->role, "ping to %s: %s", peer,
				   trp_strerror(rc));
			return rc;
		}
		if (!ex_child_running(c)) {
			char why[64];

			error_line(n->role,
				   "the %s process %s before it "
				   "answered",
				   peer, ex_child_why(c, why, sizeof why));
			return TRP_ENOTCONN;
		}
		if (now_ns() > deadline) {
			error_line(n->role,
				   "no node \"%s\" answered in cluster \"%s\" "
				   "at %s within %lld s (last: %s)",
				   peer, cluster, url,
				   (long long)(READY_NS / SEC),
				   trp_strerror(rc));
			return rc;
		}
		if (c == NULL && !told) {
			fprintf(stderr,
				PROGRAM " (alpha): waiting for %s: run --role "
					"%s --nats %s --cluster %s\n",
				peer, peer, url, cluster);
			told = true;
		}
		sleep_ms(50);
	}
}

static void send_text(struct dx_node *n, const char *text, int *status)
{
	int rc = trp_exchange_publish(n->exc, MSG_TEXT, text, strlen(text));

	if (rc != 0) {
		error_line(n->role, "trp_exchange_publish: %s",
			   trp_strerror(rc));
		*status = 1;
	}
}

/* Alpha: the publisher and the judge. @spawn: start beta and gamma as
 * child processes (else they run in other terminals). */
static int alpha_main(const char *self, const char *url, const char *cluster,
		      bool spawn)
{
	struct dx_node n;
	struct ex_child kids[NNODES - 1];
	trp_actor_t *ctl[NNODES - 1] = { NULL };
	struct report rep[NNODES - 1];
	trp_node_stats_t ns;
	int status = 0, rc;

	memset(&n, 0, sizeof n);
	memset(kids, 0, sizeof kids);
	memset(rep, 0, sizeof rep);
	n.role = node_names[0];
	/* The children first, before this process opens any socket. */
	for (int i = 0; spawn && i < NNODES - 1; i++) {
		kids[i] = (struct ex_child){ .program = PROGRAM,
					     .self = self,
					     .role = node_names[i + 1],
					     .url = url,
					     .cluster = cluster };
		if (ex_child_start(&kids[i]) != 0) {
			status = 1;
			goto out;
		}
	}
	if (node_up(&n, url, cluster) != 0) {
		status = 1;
		goto out;
	}
	for (int i = 0; i < NNODES - 1; i++) {
		rc = trp_node_proxy(n.node, node_names[i + 1], CONTROL,
				    &ctl[i]);
		if (rc != 0) {
			ctl[i] = NULL;
			error_line(n.role, "proxy for %s's control: %s",
				   node_names[i + 1], trp_strerror(rc));
			status = 1;
			goto out;
		}
	}
	for (int i = 0; i < NNODES - 1; i++) {
		if (wait_follower(&n, ctl[i], spawn ? &kids[i] : NULL,
				  node_names[i + 1], url, cluster) != 0) {
			status = 1;
			goto out;
		}
	}

	{
		/* with exc.subscribe(task_a, task_b) (and d attached): */
		if (enter_scope(&n) != 0) {
			status = 1;
			goto out;
		}
		send_text(&n, "msg1", &status);
		send_text(&n, "msg2", &status);
		if (!wait_received(&n)) {
			error_line(n.role, "msg1 and msg2 did not reach every "
					   "subscriber");
			status = 1;
		}
		/* Every node leaves its block once both messages came. */
		for (int i = 0; i < NNODES - 1; i++) {
			rc = ask_control(ctl[i], MSG_FINISH, ASK_NS, &rep[i]);
			if (rc != 0) {
				error_line(n.role, "FINISH to %s: %s",
					   node_names[i + 1], trp_strerror(rc));
				status = 1;
				goto out;
			}
		}
		trp_exchange_scope_exit(&n.scope);
	}
	send_text(&n, "msg3", &status); /* nobody is subscribed anywhere */

	for (int i = 0; i < NNODES - 1; i++) {
		rc = ask_control(ctl[i], MSG_QUIT, ASK_NS, &rep[i]);
		if (rc != 0) {
			error_line(n.role, "QUIT to %s: %s", node_names[i + 1],
				   trp_strerror(rc));
			status = 1;
			continue;
		}
		if (!report_ok(&rep[i], true)) {
			print_report(n.role, node_names[i + 1], "at the end",
				     &rep[i]);
			status = 1;
		}
	}
	for (int i = 0; spawn && i < NNODES - 1; i++) {
		if (ex_child_wait(&kids[i], EXIT_NS) != 0)
			status = 1;
	}
	/* Our own subscribers: two each, nothing after the block. */
	rc = trp_runtime_wait_idle(n.rt, 10 * SEC);
	if (rc != 0) {
		error_line(n.role, "trp_runtime_wait_idle: %s",
			   trp_strerror(rc));
		status = 1;
	}
	{
		struct report own = node_report(&n);

		if (!report_ok(&own, false) ||
		    atomic_load_explicit(&n.a.bad, memory_order_relaxed) != 0 ||
		    atomic_load_explicit(&n.b.bad, memory_order_relaxed) != 0) {
			print_report(n.role, n.role, "at the end", &own);
			status = 1;
		}
	}
	if (trp_node_stats(n.node, &ns) != 0 || ns.xsent != NPUBLISHED ||
	    ns.xlost != 0) {
		error_line(n.role,
			   "node counters: xsent %llu (want %d) xlost %llu",
			   (unsigned long long)ns.xsent, NPUBLISHED,
			   (unsigned long long)ns.xlost);
		status = 1;
	}
	if (status == 0)
		printf("%s tap count: %llu\n", n.role, trp_tap_count(&n.d));

out:
	for (int i = 0; i < NNODES - 1; i++) {
		if (ctl[i] != NULL)
			trp_actor_release(ctl[i]);
	}
	/* After a failure, end the children (reaped on success). */
	for (int i = 0; spawn && i < NNODES - 1; i++)
		ex_child_kill(&kids[i], SIGTERM);
	if (node_down(&n) != 0)
		status = 1;
	return status;
}

/* ------------------------------------------------------ command line -- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: example_distributed_exchange [--nats URL] "
		"[--cluster NAME]\n"
		"       example_distributed_exchange --role alpha|beta|gamma "
		"--nats URL [--cluster NAME]\n"
		"The seeds' get_exchange('name') on three nodes that bridge "
		"it: subscribers\n"
		"on each, the publisher on alpha. Without --role: all three, "
		"beta and gamma\n"
		"as child processes, on a private nats-server unless --nats "
		"is given.\n");
}

int main(int argc, char **argv)
{
	const char *url, *role, *cluster;
	struct ex_node_args args;
	char own_cluster[TRP_NODE_TOKEN_MAX + 1];
	struct nats_server srv;
	int status;

	/* One write per line, whoever shares our stdout (see above). */
	setvbuf(stdout, NULL, _IOLBF, 0);

	ex_node_args_parse(PROGRAM, argc, argv, node_names, NNODES, usage,
			   &args);
	url = args.url;
	role = args.role;
	cluster = args.cluster;

	if (role != NULL) {
		if (cluster == NULL)
			cluster = DEFAULT_CLUSTER;
		if (strcmp(role, node_names[0]) == 0)
			return alpha_main(argv[0], url, cluster, false);
		return follower_main(role, url, cluster);
	}

	/* One command: a server (unless given), beta and gamma as child
	 * processes, alpha here. */
	if (cluster == NULL) {
		snprintf(own_cluster, sizeof own_cluster,
			 DEFAULT_CLUSTER "-%ld", (long)getpid());
		cluster = own_cluster;
	}
	if (ex_server_start(PROGRAM, &srv, &url) != 0)
		return 1;
	status = alpha_main(argv[0], url, cluster, true);
	if (nats_server_stop(&srv) != 0)
		status = 1;
	return status;
}
