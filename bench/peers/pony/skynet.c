/*
 * bench/peers/pony/skynet.c - troupe-peer-pony: shared/WORKLOADS.md's skynet
 * on Pony's runtime (libponyrt), driven from C the way ponyc's generated
 * code drives it (issue 16).
 *
 *     troupe-peer-pony skynet [--depth D] [--workers W] [--runs R]
 *     workload=skynet runtime=pony messages=1111110 seconds=0.811240
 *     rate=1369645 check=ok workers=2 depth=6 actors=1111111
 *     total=499999500000 quiesce_s=0.477918 peak_rss_kb=521840
 *
 * (one line; wrapped here). Same CLI shape, parameter, defaults and
 * messages=/rate= semantics as troupe-bench skynet and the Go peer; a failed
 * check prints the line with check=FAILED (no rate) on stderr and exits 1;
 * bad options print the usage on stderr and exit 2.
 *
 * The program is what ponyc emits for this Pony source, written by hand:
 *
 *     actor Main
 *       new create(env: Env) => Skynet(this, 0, 1_000_000)
 *       be done(total: U64) => ...
 *     actor Skynet
 *       let _parent: (Main | Skynet)
 *       var _sum: U64 = 0
 *       var _replies: U64 = 0
 *       new create(parent: (Main | Skynet), num: U64, size: U64) =>
 *         _parent = parent
 *         if size == 1 then parent.done(num) else
 *           for i in Range[U64](0, 10) do
 *             Skynet(this, num + (i * (size / 10)), size / 10) end end
 *       be done(n: U64) =>
 *         _sum = _sum + n; _replies = _replies + 1
 *         if _replies == 10 then _parent.done(_sum) end
 *
 * that is: a constructor call whose result is discarded creates the actor
 * orphaned (pony_create(..., true): no reference count held by the creator)
 * and sends it its create message with pony_sendv_single; that message holds
 * an actor reference (the parent), so the sender traces it between
 * pony_gc_send and pony_send_done and the receiver between pony_gc_recv and
 * pony_recv_done, as generated code does; done(U64) carries no reference and
 * goes by pony_sendv. Each actor type has a trace function for its fields
 * (the parent) and a dispatch function. The bootstrap is ponyc's main():
 * pony_init, create Main, become it, send it its create message, become
 * nothing, pony_start.
 *
 * Runtime options (what a Pony user passes for a benchmark): pony_init gets
 * --ponymaxthreads W --ponynoscale: exactly W scheduler threads, none
 * suspended or woken by the scaler; threads are not pinned (no --ponypin),
 * like troupe's and Go's. Everything else at libponyrt's defaults (cycle
 * detector on, GC defaults, batch 100).
 *
 * Runs: the runtime can be started once per process, so each run is a
 * child process (fork before pony_init) that prints its own line; the parent
 * stops at the first failed run. Timing: seconds= is from Main's first
 * behaviour (it spawns the root Skynet) to Main receiving the root's total,
 * as troupe's spans spawning the root to wait_idle. quiesce_s= is the extra
 * time until pony_start returns (the tree reaped, quiescence detected).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* From ponyc's source tree (-I src/libponyrt -I src/common). */
#include "actor/actor.h" /* pony_actor_pad_t, ponyint_become */
#include "mem/pool.h"	 /* POOL_INDEX */
#include "pony.h"

#define FANOUT 10u

/* Behaviour ids (ponyc uses vtable indices; any id below the runtime's
 * ACTORMSG_* range will do). */
enum {
	BE_CREATE = 1,
	BE_DONE = 2
};

typedef struct msg_create {
	pony_msg_t hdr;
	pony_actor_t *parent;
	uint64_t num, size;
} msg_create_t;

typedef struct msg_u64 {
	pony_msg_t hdr;
	uint64_t v;
} msg_u64_t;

typedef struct sky {
	pony_actor_pad_t base; /* the runtime's actor header */
	pony_actor_t *parent;
	uint64_t sum, replies;
} sky_t;

typedef struct main_actor {
	pony_actor_pad_t base;
} main_actor_t;

/* One run per process: written by Main's behaviours (one scheduler thread
 * at a time, each behaviour happens-after the sends that caused it), read by
 * main() after pony_start returned (the runtime's threads joined). */
static struct {
	uint64_t leaves, actors, want;
	uint64_t total, t0, t1;
	int done;
} run;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sky_trace(pony_ctx_t *ctx, void *p);
static void sky_dispatch(pony_ctx_t *ctx, pony_actor_t *self, pony_msg_t *m);
static void main_dispatch(pony_ctx_t *ctx, pony_actor_t *self, pony_msg_t *m);

static pony_type_t sky_type = {
	.id = 1,
	.size = sizeof(sky_t),
	.field_count = 3,
	.field_offset = offsetof(sky_t, parent),
	.trace = sky_trace,
	.dispatch = sky_dispatch,
	.might_reference_actor = true,
};

static pony_type_t main_type = {
	.id = 2,
	.size = sizeof(main_actor_t),
	.dispatch = main_dispatch,
	.might_reference_actor = true,
};

/* The GC's view of a Skynet's fields: its parent, of a union type. */
static void sky_trace(pony_ctx_t *ctx, void *p)
{
	sky_t *s = p;

	pony_traceunknown(ctx, s->parent, PONY_TRACE_OPAQUE);
}

/* parent.done(v) */
static void send_done(pony_ctx_t *ctx, pony_actor_t *to, uint64_t v)
{
	msg_u64_t *m =
		(msg_u64_t *)pony_alloc_msg(POOL_INDEX(sizeof(*m)), BE_DONE);

	m->v = v;
	pony_sendv(ctx, to, &m->hdr, &m->hdr, true);
}

/* Skynet(self, num, size), result discarded. */
static void spawn(pony_ctx_t *ctx, pony_actor_t *self, pony_type_t *self_type,
		  uint64_t num, uint64_t size)
{
	pony_actor_t *child = pony_create(ctx, &sky_type, true);
	msg_create_t *m = (msg_create_t *)pony_alloc_msg(POOL_INDEX(sizeof(*m)),
							 BE_CREATE);

	m->parent = self;
	m->num = num;
	m->size = size;
	pony_gc_send(ctx, child);
	pony_traceknown(ctx, self, self_type, PONY_TRACE_OPAQUE);
	pony_send_done(ctx);
	pony_sendv_single(ctx, child, &m->hdr, &m->hdr, true);
}

static void sky_dispatch(pony_ctx_t *ctx, pony_actor_t *self, pony_msg_t *msg)
{
	sky_t *s = (sky_t *)self;

	if (msg->id == BE_CREATE) {
		msg_create_t *m = (msg_create_t *)msg;
		uint64_t step = m->size / FANOUT;

		pony_gc_recv(ctx);
		pony_traceunknown(ctx, m->parent, PONY_TRACE_OPAQUE);
		pony_recv_done(ctx);
		s->parent = m->parent;
		if (m->size == 1) {
			send_done(ctx, s->parent, m->num);
			return;
		}
		for (uint64_t i = 0; i < FANOUT; i++)
			spawn(ctx, self, &sky_type, m->num + i * step, step);
	} else if (msg->id == BE_DONE) {
		s->sum += ((msg_u64_t *)msg)->v;
		if (++s->replies == FANOUT)
			send_done(ctx, s->parent, s->sum);
	}
}

static void main_dispatch(pony_ctx_t *ctx, pony_actor_t *self, pony_msg_t *msg)
{
	if (msg->id == BE_CREATE) {
		run.t0 = now_ns();
		spawn(ctx, self, &main_type, 0, run.leaves);
	} else if (msg->id == BE_DONE) {
		run.t1 = now_ns();
		run.total = ((msg_u64_t *)msg)->v;
		run.done++;
	}
}

/* ponyc emits this for Main.runtime_override_defaults (the default one does
 * nothing); pony_init calls it before parsing the --pony options. */
void Main_runtime_override_defaults_oo(void *options);
void Main_runtime_override_defaults_oo(void *options)
{
	(void)options;
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

#define MAX_PONY_ARGS 16

/* --pony* options from the command line, passed on to pony_init. */
static char *pony_extra[MAX_PONY_ARGS];
static int npony_extra;

/* One run in this (child) process; returns its exit status. */
static int run_once(unsigned workers, uint64_t depth)
{
	char threads[16];
	char *pargv[4 + MAX_PONY_ARGS + 1] = { "troupe-peer-pony",
					       "--ponymaxthreads", threads,
					       "--ponynoscale" };
	int pargc = 4;
	char flags[256] = "";
	pony_ctx_t *ctx;
	pony_actor_t *main_actor;
	msg_u64_t *start;
	uint64_t t_end;
	bool ok;

	snprintf(threads, sizeof(threads), "%u", workers);
	for (int i = 0; i < npony_extra; i++) {
		pargv[pargc++] = pony_extra[i];
		snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags),
			 "%s%s", i ? "," : " pony_flags=", pony_extra[i]);
	}
	pargv[pargc] = NULL;
	run.leaves = 1;
	run.actors = 1;
	for (uint64_t i = 0; i < depth; i++) {
		run.leaves *= FANOUT;
		run.actors += run.leaves;
	}
	run.want = run.leaves % 2 == 0 ? (run.leaves / 2) * (run.leaves - 1) :
					 run.leaves * ((run.leaves - 1) / 2);

	pony_init(pargc, pargv);
	ctx = pony_ctx();
	main_actor = pony_create(ctx, &main_type, false);
	ponyint_become(ctx, main_actor);
	start = (msg_u64_t *)pony_alloc_msg(POOL_INDEX(sizeof(*start)),
					    BE_CREATE);
	start->v = 0;
	pony_sendv_single(ctx, main_actor, &start->hdr, &start->hdr, true);
	ponyint_become(ctx, NULL);
	if (!pony_start(NULL, NULL)) {
		fprintf(stderr, "skynet: pony_start failed\n");
		return 1;
	}
	t_end = now_ns();

	ok = run.done == 1 && run.total == run.want;
	if (!ok)
		fprintf(stderr,
			"skynet: check failed: root total %llu (replies %d), "
			"expected %llu\n",
			(unsigned long long)run.total, run.done,
			(unsigned long long)run.want);
	double secs = (double)(run.t1 - run.t0) / 1e9;
	FILE *out = ok ? stdout : stderr;

	fprintf(out, "workload=skynet runtime=pony messages=%llu seconds=%.6f",
		(unsigned long long)(run.actors - 1), secs);
	if (ok)
		fprintf(out, " rate=%.0f check=ok",
			secs > 0 ? (double)run.actors / secs : 0.0);
	else
		fprintf(out, " check=FAILED");
	fprintf(out,
		" workers=%u depth=%llu actors=%llu total=%llu quiesce_s=%.6f"
		"%s peak_rss_kb=%ld\n",
		workers, (unsigned long long)depth,
		(unsigned long long)run.actors, (unsigned long long)run.total,
		run.done ? (double)(t_end - run.t1) / 1e9 : 0.0, flags,
		peak_rss_kb());
	fflush(out);
	return ok ? 0 : 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: troupe-peer-pony skynet [--depth D] [--workers W] "
		"[--runs R]\n"
		"  --depth D     levels below the root (10^D leaves; default 6, "
		"0..8)\n"
		"  --workers W   Pony scheduler threads (--ponymaxthreads W "
		"--ponynoscale;\n"
		"                default 2; 0 = online cores)\n"
		"  --runs R      runs, each in its own process (default 1)\n"
		"  --pony...     any other --pony option goes to pony_init "
		"(e.g. --ponynoblock)\n");
}

static void bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "troupe-peer-pony: %s %s\n", what, arg);
	usage(stderr);
	exit(2);
}

static unsigned long long parse_num(const char *s, unsigned long long min,
				    unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min ||
	    v > max)
		bad_usage("not a number or out of range:", s);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long long workers = 2, runs = 1, depth = 6;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	if (argc < 2)
		bad_usage("missing", "WORKLOAD");
	if (strcmp(argv[1], "skynet") != 0)
		bad_usage("unknown workload (only skynet):", argv[1]);
	for (int i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = strchr(opt, '=');
		size_t len = val ? (size_t)(val - opt) : strlen(opt);
		unsigned long long *dst, min, max;

		if (strncmp(opt, "--pony", 6) == 0) {
			/* one word each: flags, or --ponyNAME=VALUE */
			if (npony_extra == MAX_PONY_ARGS)
				bad_usage("too many options:", opt);
			pony_extra[npony_extra++] = argv[i];
			continue;
		}
		/* --NAME VALUE or --NAME=VALUE */
		if (strncmp(opt, "--workers", len) == 0 && len == 9)
			dst = &workers, min = 0, max = 256;
		else if (strncmp(opt, "--runs", len) == 0 && len == 6)
			dst = &runs, min = 1, max = 1000;
		else if (strncmp(opt, "--depth", len) == 0 && len == 7)
			dst = &depth, min = 0, max = 8;
		else
			bad_usage("unknown option", opt);
		if (val != NULL) {
			val++;
		} else {
			if (i + 1 >= argc)
				bad_usage("missing value for", opt);
			val = argv[++i];
		}
		*dst = parse_num(val, min, max);
	}
	if (workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (unsigned long long)n : 1;
	}

	for (unsigned long long r = 0; r < runs; r++) {
		int status;
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("troupe-peer-pony: fork");
			return 1;
		}
		if (pid == 0)
			_exit(run_once((unsigned)workers, depth));
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "troupe-peer-pony: run %llu failed\n",
				r + 1);
			return 1;
		}
	}
	return 0;
}
