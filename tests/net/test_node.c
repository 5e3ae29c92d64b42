/*
 * tests/net/test_node.c - the peer node of the net tests: a separate
 * process (so that a kill is real) running a troupe runtime and a node
 * with some roles. Public API only.
 *
 *   net_test_node --url URL --cluster C --name N [--role R]...
 *                 [--pending-frames N] [--max-frame N] [--slow-us N]
 *                 [--sink-limit N] [--heartbeat-misses N] [--workers N]
 *
 * Roles (actor names in net_proto.h):
 *   echo      "echo": answers every ask with its payload (the reply keeps
 *             the request's type); one-way messages are counted with the
 *             size and checksum of the last; an ask of type NET_T_STATS
 *             gets struct net_echo_stats.
 *   sink      "sink": takes struct net_seq one-way messages and checks
 *             per-sender FIFO (each sender's seq counts up from 0: a
 *             number below the next expected is a duplicate or a reorder,
 *             a violation; one above it skips the missing ones, counted
 *             as losses); an ask of type NET_T_STATS gets struct
 *             net_sink_stats.
 *   slow      as sink, but each message spins --slow-us microseconds
 *             (default 50, at most 100000).
 *   --sink-limit N bounds the sink's mailbox (default: unbounded): the
 *             node's inbound thread then waits for a full sink (node.h,
 *             "Backpressure").
 *   hold      "hold": takes every request it is asked and holds it
 *             unanswered (at most 64); a one-way NET_T_RELEASE answers
 *             all of them with "late" (late replies, for timeout tests).
 *   linked    "victim", "keeper" and "trapper" (net_proto.h), for links
 *             across nodes: NET_T_FAIL (int32 code) makes one fail with
 *             that code, NET_T_STOPME stop normally; NET_T_SEQ messages
 *             are counted; "trapper" traps exits (NET_T_EXIT) and counts
 *             them, with the last one's reason, code and sender id, and
 *             how many NET_T_SEQ it had taken when the first came.
 *   xchg      bridges the exchange NET_XCHG (net_xchg.h), attaches a
 *             checker to it at once and publishes numbered messages as
 *             publisher --xpub-id N (0..2) from a thread, pausing
 *             --xpub-us microseconds (default 100) after each.
 *   exported  "exp": exported with trp_node_export(), not registered;
 *             answers asks with "exp:" + payload. And "shadow": an actor
 *             registered under that name answers "registered", another
 *             exported under the same name answers "exported" (an export
 *             shadows a registered name).
 *
 * Protocol with the parent test, one line each way, on stdin/stdout:
 *   out  "ready name=N inc=I max_payload=M"  once the node runs and the
 *        roles are registered; or "error <what> <TRP_E...>" and exit 2.
 *   in   "stats"    out "stats sent=... lost_...=..." (net_proto.h)
 *   in   "sink"     out "sink count=C violations=V skipped=S senders=N
 *                         stats_asks=A unexpected=U"
 *   in   "echo"     out "echo asks=A oneway=O last_size=L last_sum=S"
 *   in   "unexport" out "unexport rc=<TRP_E...>" (trp_node_unexport "exp")
 *   in   "xstart"   starts publishing, out "xstart rc=<TRP_E...>"
 *   in   "xmark"    publishes a marker now, out "xmark seq=S"
 *   in   "xstop"    stops publishing, out "xstop seq=S err=<TRP_E...>"
 *   in   "xsub"     out "xsub bad=B" and for each publisher i
 *                   " p<i>_first=F p<i>_last=L p<i>_count=C p<i>_holes=H
 *                   p<i>_violations=V" (its checker's records)
 *   in   "xattach K" attaches a fresh checker in slot K (0..15), out
 *                   "xattach rc=<TRP_E...> pre=S" (S: the number this
 *                   node's publisher had published before the attach)
 *   in   "xdetach K" detaches it, out "xdetach rc=<TRP_E...>"
 *   in   "xslot K"  out "xslot bad=B ..." as "xsub", for slot K
 *   in   "linked"   out "linked v_reason=R v_code=C k_reason=R k_seqs=N
 *                         t_reason=R
 *                         t_exits=N t_exit_reason=R t_exit_code=C
 *                         t_exit_from=I t_seqs=N t_seqs_at_exit=N"
 *                   (a reason 0: still running)
 *   in   "stop"     waits until the runtime is idle (at most 10 s), stops
 *                   the node, then out the final "stats" (the node's
 *                   counters after its stop: trp_node_stop_ex), "sink"
 *                   and "echo" lines, out "stopped rc=<TRP_E...>",
 *                   destroys the runtime, out "runtime sent=S
 *                   processed=P dead=D balanced=0|1", out "bye", exit 0.
 *   EOF on stdin (the parent died) is a quiet "stop".
 * Unknown commands get "error unknown-command". Diagnostics go to stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <troupe/node.h>
#include <troupe/troupe.h>

#include "../common/balance.h"
#include "net_proto.h"
#include "net_xchg.h"

#define SEC 1000000000LL
#define HOLD_MAX 64

/* Counters the behaviours write and the main thread reads (after the
 * runtime is idle for the final lines; as snapshots otherwise). Relaxed:
 * each is a statistic with one writer (the actor that owns it); the
 * final read is ordered by trp_runtime_wait_idle(). */
struct sink_counts {
	atomic_uint_least64_t count, violations, skipped, senders, stats_asks,
		unexpected;
};
struct echo_counts {
	atomic_uint_least64_t asks, oneway, last_size, last_sum;
};

static struct sink_counts sink_c;
static struct echo_counts echo_c;
static int64_t slow_ns;

static uint64_t ld(atomic_uint_least64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void add(atomic_uint_least64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static void st(atomic_uint_least64_t *v, uint64_t n)
{
	atomic_store_explicit(v, n, memory_order_relaxed);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* ------------------------------------------------------------- sink -- */

struct sink_state {
	uint64_t next[NET_SENDERS_MAX]; /* next expected seq per sender */
	bool seen[NET_SENDERS_MAX];
};

static void sink_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	struct sink_state *s = state;
	(void)self;
	if (m->type == NET_T_STATS) {
		struct net_sink_stats r = {
			ld(&sink_c.count),
			ld(&sink_c.violations),
			ld(&sink_c.skipped),
			ld(&sink_c.senders),
		};
		add(&sink_c.stats_asks, 1);
		int rc = trp_reply(m, &r, sizeof r);
		if (rc != 0)
			fprintf(stderr, "test_node: sink reply: %s\n",
				trp_errname(rc));
		return;
	}
	if (m->type != NET_T_SEQ) {
		add(&sink_c.unexpected, 1);
		return;
	}
	struct net_seq q;
	if (m->size != sizeof q || m->data == NULL) {
		add(&sink_c.violations, 1);
		return;
	}
	memcpy(&q, m->data, sizeof q);
	if (q.magic != NET_SEQ_MAGIC || q.sender >= NET_SENDERS_MAX) {
		add(&sink_c.violations, 1);
		return;
	}
	if (!s->seen[q.sender]) {
		s->seen[q.sender] = true;
		add(&sink_c.senders, 1);
	}
	if (q.seq < s->next[q.sender]) {
		add(&sink_c.violations, 1); /* duplicate or reordered */
	} else {
		if (q.seq > s->next[q.sender])
			add(&sink_c.skipped, q.seq - s->next[q.sender]);
		s->next[q.sender] = q.seq + 1;
	}
	add(&sink_c.count, 1);
	if (slow_ns > 0) {
		/* A slow consumer: spin (bounded by the clock). */
		int64_t until = now_ns() + slow_ns;
		while (now_ns() < until)
			;
	}
}

/* ------------------------------------------------------------- echo -- */

static void echo_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	(void)self;
	(void)state;
	if (m->type == NET_T_STATS) {
		struct net_echo_stats r = {
			ld(&echo_c.asks),
			ld(&echo_c.oneway),
			ld(&echo_c.last_size),
			ld(&echo_c.last_sum),
		};
		int rc = trp_reply(m, &r, sizeof r);
		if (rc != 0)
			fprintf(stderr, "test_node: echo stats reply: %s\n",
				trp_errname(rc));
		return;
	}
	int rc = trp_reply(m, m->data, m->size);
	if (rc == 0) {
		add(&echo_c.asks, 1);
	} else if (rc == TRP_ENOTREQUEST) {
		st(&echo_c.last_size, m->size);
		st(&echo_c.last_sum, net_sum(m->data, m->size));
		add(&echo_c.oneway, 1);
	} else {
		fprintf(stderr, "test_node: echo reply (%zu bytes): %s\n",
			m->size, trp_errname(rc));
	}
}

/* ------------------------------------------------------------- hold -- */

struct hold_state {
	trp_request_t *held[HOLD_MAX];
	int n;
};

static void hold_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	struct hold_state *h = state;
	(void)self;
	if (m->type == NET_T_RELEASE) {
		for (int i = 0; i < h->n; i++) {
			int rc = trp_request_reply(h->held[i], "late", 4);
			if (rc != 0) {
				fprintf(stderr, "test_node: hold reply: %s\n",
					trp_errname(rc));
				trp_request_release(h->held[i]);
			}
		}
		h->n = 0;
		return;
	}
	if (h->n >= HOLD_MAX)
		return; /* answered TRP_ENOREPLY by the runtime */
	int rc = trp_request_take(m, &h->held[h->n]);
	if (rc == 0)
		h->n++;
	else
		fprintf(stderr, "test_node: hold take: %s\n", trp_errname(rc));
}

/* ----------------------------------------------------------- linked -- */

/* What the linked roles saw (relaxed: each has one writer, the actor;
 * the main thread reads snapshots). */
struct linked_counts {
	atomic_uint_least64_t reason, code, seqs, exits, exit_reason, exit_code,
		exit_from, seqs_at_exit;
};
static struct linked_counts linked_c[3]; /* victim, keeper, trapper */

static void linked_start(trp_actor_t *self, void *state)
{
	if (*(int *)state == 2) {
		int rc = trp_actor_trap_exits(self, NET_T_EXIT);
		if (rc != 0)
			fprintf(stderr, "test_node: trap_exits: %s\n",
				trp_errname(rc));
	}
}

static void linked_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	struct linked_counts *c = &linked_c[*(int *)state];
	if (net_stop_control(self, m)) {
		return;
	} else if (m->type == NET_T_SEQ) {
		add(&c->seqs, 1);
	} else if (m->type == NET_T_EXIT && m->size == sizeof(trp_down_t)) {
		trp_down_t d;
		memcpy(&d, m->data, sizeof d);
		if (ld(&c->exits) == 0)
			st(&c->seqs_at_exit, ld(&c->seqs));
		st(&c->exit_reason, (uint64_t)d.reason);
		st(&c->exit_code, (uint64_t)(uint32_t)d.code);
		st(&c->exit_from, d.actor_id);
		add(&c->exits, 1);
	}
}

static void linked_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct linked_counts *c = &linked_c[*(int *)state];
	st(&c->code, (uint64_t)(uint32_t)trp_actor_exit_code(self));
	st(&c->reason, (uint64_t)why);
}

static void print_linked(void)
{
	printf("linked v_reason=%" PRIu64 " v_code=%" PRIu64
	       " k_reason=%" PRIu64 " k_seqs=%" PRIu64 " t_reason=%" PRIu64
	       " t_exits=%" PRIu64 " t_exit_reason=%" PRIu64
	       " t_exit_code=%" PRIu64 " t_exit_from=%" PRIu64
	       " t_seqs=%" PRIu64 " t_seqs_at_exit=%" PRIu64 "\n",
	       ld(&linked_c[0].reason), ld(&linked_c[0].code),
	       ld(&linked_c[1].reason), ld(&linked_c[1].seqs),
	       ld(&linked_c[2].reason), ld(&linked_c[2].exits),
	       ld(&linked_c[2].exit_reason), ld(&linked_c[2].exit_code),
	       ld(&linked_c[2].exit_from), ld(&linked_c[2].seqs),
	       ld(&linked_c[2].seqs_at_exit));
}

/* ------------------------------------------------------------- xchg -- */

#define XSLOTS 16

static struct net_xcheck xcheck;
static struct net_xcheck xslot[XSLOTS];
static trp_sub_t xslot_id[XSLOTS];
static struct net_xpub xpub;

static void print_xsub(const char *what, struct net_xcheck *c)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "%s bad=%" PRIu64, what,
			 net_xld(&c->bad));
	for (int i = 0; i < NET_XPUBS && n > 0 && (size_t)n < sizeof line;
	     i++) {
		struct net_xrec *r = &c->from[i];
		n += snprintf(line + n, sizeof line - (size_t)n,
			      " p%d_first=%" PRIu64 " p%d_last=%" PRIu64
			      " p%d_count=%" PRIu64 " p%d_holes=%" PRIu64
			      " p%d_violations=%" PRIu64,
			      i, net_xld(&r->first), i, net_xld(&r->last), i,
			      net_xld(&r->count), i, net_xld(&r->holes), i,
			      net_xld(&r->violations));
	}
	printf("%s\n", line);
}

/* --------------------------------------------------------- exported -- */

static void tag_behavior(trp_actor_t *self, void *state, const trp_msg_t *m)
{
	const char *tag = state;
	char buf[256];
	size_t t = strlen(tag);
	size_t n = m->size < sizeof buf - t ? m->size : sizeof buf - t;
	(void)self;
	memcpy(buf, tag, t);
	if (n > 0)
		memcpy(buf + t, m->data, n);
	(void)trp_reply(m, buf, t + n);
}

/* ------------------------------------------------------------- main -- */

static void print_stats(trp_node_t *node)
{
	trp_node_stats_t s;
	char line[1024];
	int rc = trp_node_stats(node, &s);
	if (rc != 0) {
		printf("error stats %s\n", trp_errname(rc));
		return;
	}
	net_format_stats(&s, line, sizeof line);
	printf("%s\n", line);
}

static void print_sink(void)
{
	printf("sink count=%" PRIu64 " violations=%" PRIu64 " skipped=%" PRIu64
	       " senders=%" PRIu64 " stats_asks=%" PRIu64 " unexpected=%" PRIu64
	       "\n",
	       ld(&sink_c.count), ld(&sink_c.violations), ld(&sink_c.skipped),
	       ld(&sink_c.senders), ld(&sink_c.stats_asks),
	       ld(&sink_c.unexpected));
}

static void print_echo(void)
{
	printf("echo asks=%" PRIu64 " oneway=%" PRIu64 " last_size=%" PRIu64
	       " last_sum=%" PRIu64 "\n",
	       ld(&echo_c.asks), ld(&echo_c.oneway), ld(&echo_c.last_size),
	       ld(&echo_c.last_sum));
}

static void die_usage(const char *why)
{
	fprintf(stderr,
		"test_node: %s\nusage: net_test_node --url URL --cluster C "
		"--name N [--role echo|sink|slow|hold|exported]... "
		"[--pending-frames N] [--max-frame N] [--slow-us N] "
		"[--workers N]\n",
		why);
	printf("error usage %s\n", why);
	exit(2);
}

/* Spawns an actor (and registers it under @name if not NULL) with a
 * mailbox of @limit messages (0: unbounded). */
static trp_actor_t *spawn(trp_runtime_t *rt, trp_behavior_fn fn,
			  size_t state_size, void *arg, const char *name,
			  uint32_t limit)
{
	trp_actor_def_t def = { 0 };
	trp_actor_t *a = NULL;
	def.behavior = fn;
	def.state_size = state_size;
	def.mailbox_limit = limit != 0 ? limit : TRP_MAILBOX_UNBOUNDED;
	int rc = trp_actor_spawn(rt, &def, arg, &a);
	if (rc == 0 && name != NULL)
		rc = trp_register(rt, name, a);
	if (rc != 0) {
		printf("error spawn-%s %s\n", name != NULL ? name : "?",
		       trp_errname(rc));
		exit(2);
	}
	return a;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *cluster = NULL, *name = NULL;
	bool echo = false, sink = false, slow = false, hold = false,
	     exported = false, linked = false, xchg = false;
	long xpub_id = 0, xpub_us = 100;
	long pending = 0, max_frame = 0, slow_us = 50, workers = 2;
	long sink_limit = 0, hb_misses = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			die_usage("an option without its value");
		i++;
		if (strcmp(a, "--url") == 0)
			url = v;
		else if (strcmp(a, "--cluster") == 0)
			cluster = v;
		else if (strcmp(a, "--name") == 0)
			name = v;
		else if (strcmp(a, "--pending-frames") == 0)
			pending = strtol(v, NULL, 10);
		else if (strcmp(a, "--max-frame") == 0)
			max_frame = strtol(v, NULL, 10);
		else if (strcmp(a, "--slow-us") == 0)
			slow_us = strtol(v, NULL, 10);
		else if (strcmp(a, "--heartbeat-misses") == 0)
			hb_misses = strtol(v, NULL, 10);
		else if (strcmp(a, "--sink-limit") == 0)
			sink_limit = strtol(v, NULL, 10);
		else if (strcmp(a, "--workers") == 0)
			workers = strtol(v, NULL, 10);
		else if (strcmp(a, "--role") == 0 && strcmp(v, "echo") == 0)
			echo = true;
		else if (strcmp(a, "--role") == 0 && strcmp(v, "sink") == 0)
			sink = true;
		else if (strcmp(a, "--role") == 0 && strcmp(v, "slow") == 0)
			slow = true;
		else if (strcmp(a, "--role") == 0 && strcmp(v, "hold") == 0)
			hold = true;
		else if (strcmp(a, "--role") == 0 && strcmp(v, "exported") == 0)
			exported = true;
		else if (strcmp(a, "--role") == 0 && strcmp(v, "linked") == 0)
			linked = true;
		else if (strcmp(a, "--role") == 0 && strcmp(v, "xchg") == 0)
			xchg = true;
		else if (strcmp(a, "--xpub-id") == 0)
			xpub_id = strtol(v, NULL, 10);
		else if (strcmp(a, "--xpub-us") == 0)
			xpub_us = strtol(v, NULL, 10);
		else
			die_usage("unknown option or role");
	}
	if (url == NULL || cluster == NULL || name == NULL)
		die_usage("--url, --cluster and --name are required");
	if (sink && slow)
		die_usage("sink and slow both register \"sink\"");
	if (slow_us < 0 || slow_us > 100000 || pending < 0 ||
	    pending > 1000000 || max_frame < 0 || workers < 1 || workers > 8 ||
	    sink_limit < 0 || sink_limit > 1000000 || hb_misses < 0 ||
	    hb_misses > 1000 || xpub_id < 0 || xpub_id >= NET_XPUBS ||
	    xpub_us < 0 || xpub_us > 100000)
		die_usage("a value out of range");
	if (slow)
		slow_ns = slow_us * 1000;

	trp_config_t rcfg = TRP_CONFIG_INIT;
	rcfg.workers = (uint32_t)workers;
	trp_runtime_t *rt = NULL;
	int rc = trp_runtime_create(&rcfg, &rt);
	if (rc != 0) {
		printf("error runtime %s\n", trp_errname(rc));
		return 2;
	}
	const char *servers[1] = { url };
	trp_node_config_t ncfg = TRP_NODE_CONFIG_INIT;
	ncfg.cluster = cluster;
	ncfg.name = name;
	ncfg.servers = servers;
	ncfg.nservers = 1;
	ncfg.pending_frames = (int)pending;
	ncfg.max_frame = (size_t)max_frame;
	ncfg.heartbeat_misses = (uint32_t)hb_misses;
	trp_node_t *node = NULL;
	rc = trp_node_start(rt, &ncfg, &node);
	if (rc != 0) {
		printf("error node-start %s\n", trp_errname(rc));
		trp_runtime_destroy(rt);
		return 2;
	}

	trp_actor_t *actors[12];
	int nactors = 0;
	if (echo)
		actors[nactors++] =
			spawn(rt, echo_behavior, 0, NULL, NET_ECHO, 0);
	if (sink || slow)
		actors[nactors++] = spawn(rt, sink_behavior,
					  sizeof(struct sink_state), NULL,
					  NET_SINK, (uint32_t)sink_limit);
	if (hold)
		actors[nactors++] = spawn(rt, hold_behavior,
					  sizeof(struct hold_state), NULL,
					  NET_HOLD, 0);
	if (exported) {
		static char exp_tag[] = "exp:";
		static char reg_tag[] = "registered";
		static char shadow_tag[] = "exported";
		trp_actor_t *e = spawn(rt, tag_behavior, 0, exp_tag, NULL, 0);
		actors[nactors++] = e;
		rc = trp_node_export(node, NET_EXPORTED, e);
		trp_actor_t *r =
			spawn(rt, tag_behavior, 0, reg_tag, NET_SHADOW, 0);
		actors[nactors++] = r;
		trp_actor_t *x =
			spawn(rt, tag_behavior, 0, shadow_tag, NULL, 0);
		actors[nactors++] = x;
		if (rc == 0)
			rc = trp_node_export(node, NET_SHADOW, x);
		if (rc != 0) {
			printf("error export %s\n", trp_errname(rc));
			return 2;
		}
	}
	if (linked) {
		static int idx[3] = { 0, 1, 2 };
		static const char *const names[3] = { NET_VICTIM, NET_KEEPER,
						      NET_TRAPPER };
		for (int i = 0; i < 3; i++) {
			trp_actor_def_t def = { 0 };
			trp_actor_t *a = NULL;
			def.behavior = linked_behavior;
			def.start = linked_start;
			def.stop = linked_stop;
			def.state_size = sizeof(int);
			def.mailbox_limit = TRP_MAILBOX_UNBOUNDED;
			rc = trp_actor_spawn(rt, &def, &idx[i], &a);
			if (rc == 0)
				rc = trp_register(rt, names[i], a);
			if (rc != 0) {
				printf("error spawn-%s %s\n", names[i],
				       trp_errname(rc));
				return 2;
			}
			actors[nactors++] = a;
		}
	}
	trp_exchange_t *xex = NULL;
	trp_sub_t xsub;
	if (xchg) {
		/* bridged and watched before "ready": the test publishes
		 * only once every node is ready */
		rc = trp_node_bridge(node, NET_XCHG);
		if (rc == 0)
			rc = trp_exchange_get(rt, NET_XCHG, &xex);
		if (rc == 0)
			rc = trp_exchange_attach(
				xex,
				trp_sink_callback(net_xcheck_sink, &xcheck),
				&xsub);
		if (rc != 0) {
			printf("error xchg %s\n", trp_errname(rc));
			return 2;
		}
		net_xpub_init(&xpub, xex, (uint32_t)xpub_id, (unsigned)xpub_us);
	}
	printf("ready name=%s inc=%" PRIu64 " max_payload=%zu\n",
	       trp_node_name(node), trp_node_incarnation(node),
	       trp_node_max_payload(node, strlen(NET_ECHO)));

	char line[256];
	bool quiet = true;
	/* One command per line until "stop" or EOF. */
	while (fgets(line, sizeof line, stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "stop") == 0) {
			quiet = false;
			break;
		} else if (strcmp(line, "stats") == 0) {
			print_stats(node);
		} else if (strcmp(line, "sink") == 0) {
			print_sink();
		} else if (strcmp(line, "echo") == 0) {
			print_echo();
		} else if (xchg && strcmp(line, "xstart") == 0) {
			printf("xstart rc=%s\n",
			       trp_errname(net_xpub_start(&xpub) == 0 ?
						   0 :
						   TRP_ENOMEM));
		} else if (xchg && strcmp(line, "xmark") == 0) {
			printf("xmark seq=%" PRIu64 "\n", net_xpub_mark(&xpub));
		} else if (xchg && strcmp(line, "xstop") == 0) {
			uint64_t last = net_xpub_stop(&xpub);
			printf("xstop seq=%" PRIu64 " err=%s\n", last,
			       trp_errname(xpub.err));
		} else if (xchg && strcmp(line, "xsub") == 0) {
			print_xsub("xsub", &xcheck);
		} else if (xchg && strncmp(line, "xattach ", 8) == 0) {
			long k = strtol(line + 8, NULL, 10);
			int arc = TRP_EINVAL;
			uint64_t pre = 0;
			if (k >= 0 && k < XSLOTS) {
				memset(&xslot[k], 0, sizeof xslot[k]);
				pthread_mutex_lock(&xpub.mu);
				pre = xpub.seq;
				pthread_mutex_unlock(&xpub.mu);
				arc = trp_exchange_attach(
					xex,
					trp_sink_callback(net_xcheck_sink,
							  &xslot[k]),
					&xslot_id[k]);
			}
			printf("xattach rc=%s pre=%" PRIu64 "\n",
			       trp_errname(arc), pre);
		} else if (xchg && strncmp(line, "xdetach ", 8) == 0) {
			long k = strtol(line + 8, NULL, 10);
			printf("xdetach rc=%s\n",
			       trp_errname(k >= 0 && k < XSLOTS ?
						   trp_exchange_detach(
							   xex, xslot_id[k]) :
						   TRP_EINVAL));
		} else if (xchg && strncmp(line, "xslot ", 6) == 0) {
			long k = strtol(line + 6, NULL, 10);
			if (k >= 0 && k < XSLOTS)
				print_xsub("xslot", &xslot[k]);
			else
				printf("error xslot\n");
		} else if (strcmp(line, "linked") == 0) {
			print_linked();
		} else if (strcmp(line, "unexport") == 0) {
			printf("unexport rc=%s\n",
			       trp_errname(
				       trp_node_unexport(node, NET_EXPORTED)));
		} else {
			printf("error unknown-command\n");
		}
	}

	if (xchg) {
		(void)net_xpub_stop(&xpub);
		(void)trp_exchange_detach(xex, xsub);
	}
	rc = trp_runtime_wait_idle(rt, 10 * SEC);
	if (rc != 0)
		fprintf(stderr, "test_node %s: wait_idle: %s\n", name,
			trp_errname(rc));
	if (quiet && ferror(stdin))
		/* not an EOF: a test that still waits for answers says how
		 * we ended (net_util.h), this says why */
		fprintf(stderr, "test_node %s: reading commands failed\n",
			name);
	/* The final counters, taken after the node's threads stopped: what
	 * the stop itself counts is in them (trp_node_stop_ex). */
	trp_node_stats_t final;
	rc = trp_node_stop_ex(node, 5 * SEC, &final);
	if (!quiet) {
		char sline[1024];
		if (rc == 0) {
			net_format_stats(&final, sline, sizeof sline);
			printf("%s\n", sline);
		} else {
			printf("error stats %s\n", trp_errname(rc));
		}
		print_sink();
		print_echo();
		printf("stopped rc=%s\n", trp_errname(rc));
	}
	for (int i = 0; i < nactors; i++)
		trp_actor_release(actors[i]);
	if (xex != NULL)
		trp_exchange_release(xex);
	trp_stats_t fin;
	rc = trp_runtime_destroy_ex(rt, &fin);
	char why[256] = "";
	bool balanced = rc == 0 && balance_holds(&fin, why, sizeof why);
	if (!balanced)
		fprintf(stderr, "test_node %s: destroy %s: %s\n", name,
			trp_errname(rc), why);
	if (!quiet) {
		printf("runtime sent=%" PRIu64 " processed=%" PRIu64
		       " dead=%" PRIu64 " balanced=%d\n",
		       fin.sent, fin.processed, fin.dead_lettered,
		       balanced ? 1 : 0);
		printf("bye\n");
	}
	return 0;
}
