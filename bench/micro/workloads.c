/*
 * bench/micro/workloads.c - the workloads of bench/workloads/ (the
 * WORKLOADS.md programs troupe-bench runs) as benchmarks: workload/<name>,
 * or workload/<name>/<mode> for a workload with modes (ask).
 *
 * The same code as troupe-bench (bench_workloads[], each run() as is), at
 * sizes where one run takes ~0.1-0.5 s on the 2-core VM in a release build
 * (table below; parameters not listed keep their WORKLOADS.md defaults):
 *
 * - one iteration = one run(): a fresh runtime of 2 workers (WORKLOADS.md),
 *   setup, the measured part, the check, teardown; ITERATIONS of them,
 *   fixed, wall-clock time;
 * - the time of an iteration is the run's own measured interval (first
 *   send to quiescence, or what WORKLOADS.md says; cbench_use_manual_time),
 *   not its setup and teardown; items_per_second counts the workload's
 *   unit (messages, round trips, hops, actors, deliveries:
 *   bench_result_items) over it, so it matches troupe-bench's rate=; the
 *   counter `rate` is that too, all iterations' items over all their
 *   seconds;
 * - the other numeric key=value fields of the result (latency percentiles:
 *   p50_ns, p99_ns, ...) become counters, from the last iteration;
 * - a run whose check fails, or a troupe call that fails, ends the
 *   benchmark with cbench_skip_with_error (no rate reported); the details
 *   are on stderr.
 *
 * With --workload_size=smoke (main.c) the sizes are the ctest smoke sizes
 * of troupe-bench and a benchmark is one iteration: the code runs, the
 * checks hold, in well under a second each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "micro.h"
#include "workloads/workloads.h"

/* WORKLOADS.md: "Run with exactly 2 workers unless a benchmark sweeps". */
#define WORKERS 2
#define ITERATIONS 3

/* A parameter's value in the benchmark and in the smoke test. */
struct size {
	const char *workload, *param;
	uint64_t bench, smoke;
};

/*
 * Bench sizes: one iteration took 0.2-0.45 s on the 2-core VM (release, 2
 * workers; troupe-microbench --benchmark_filter=^workload/, 9 s in all):
 * storm 0.34 s, storm_private 0.34, pingpong 0.19, ring 0.20, fanin 0.21,
 * spawn 0.47 (10^6 actors, the default), pubsub 0.40, skynet 0.43 (10^6
 * leaves, the default), ask outside 0.08 at 10^4 (now 2*10^4; it varies
 * 3x with where the server runs), ask actor 0.26; restart 0.15-0.25 s at
 * 3*10^5 restarts, down 0.2 s at 5*10^5 DOWNs (from troupe-bench rates).
 */
static const struct size sizes[] = {
	{ "storm", "counters", 1000, 100 },
	{ "storm", "n", 3000, 2000 },
	{ "storm_private", "counters", 1000, 100 },
	{ "storm_private", "n", 2000, 2000 },
	{ "pingpong", "p", 2000000, 20000 },
	{ "ring", "actors", 1000, 100 },
	{ "ring", "t", 5000000, 50000 },
	{ "fanin", "m", 1500000, 20000 },
	{ "spawn", "n", 1000000, 20000 },
	{ "pubsub", "subscribers", 100, 10 },
	{ "pubsub", "m", 50000, 2000 },
	{ "skynet", "depth", 6, 4 },
	{ "ask", "n", 2000000, 20000 },
	{ "ask", "outside", 20000, 2000 },
	{ "restart", "n", 300000, 2000 },
	{ "down", "n", 500000, 20000 },
	{ "port", "n", 5000, 500 },
	{ "port", "m", 3000000, 20000 },
	{ "port", "fill", 100000, 5000 },
	{ "blocked_wake", "rounds", 100, 20 },
	{ "idle", "n", 1000000, 20000 },
	{ "idle", "max_bytes", 0, 0 }, /* later iterations reuse memory */
};

/* One registered benchmark: a workload, a mode, its parameter values. */
struct wl_bench {
	const struct bench_workload *w;
	size_t mode;
	uint64_t values[BENCH_MAX_PARAMS];
};

/* Reports every numeric "key=value" of @extra as a counter. */
static void extra_counters(cbench_state *st, const char *extra)
{
	char buf[sizeof(((struct bench_result *)0)->extra)];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", extra);
	for (char *tok = strtok_r(buf, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t v;

		if (eq == NULL)
			continue;
		*eq = '\0';
		if (bench_parse_u64(eq + 1, &v)) /* mode=actor is not */
			cbench_counter(st, tok, (double)v, 0);
	}
}

static void bm_workload(cbench_state *st, void *arg)
{
	const struct wl_bench *b = arg;
	trp_config_t cfg = TRP_CONFIG_INIT;
	struct bench_result r = { 0 };
	uint64_t items = 0;
	double seconds = 0;
	char msg[160];

	cfg.workers = WORKERS;
	while (cbench_keep_running(st)) {
		int rc = b->w->run(&cfg, b->values, b->mode, &r);

		if (rc != 0) {
			snprintf(msg, sizeof(msg), "%s: %s", b->w->name,
				 trp_strerror(rc));
			cbench_skip_with_error(st, msg);
			return;
		}
		if (!r.ok) {
			snprintf(msg, sizeof(msg),
				 "%s: check=FAILED (details on stderr)",
				 b->w->name);
			cbench_skip_with_error(st, msg);
			return;
		}
		items += bench_result_items(&r);
		seconds += r.seconds;
		cbench_set_iteration_time(st, r.seconds);
	}
	cbench_set_items_processed(st, (int64_t)items);
	cbench_counter(st, "rate", seconds > 0 ? (double)items / seconds : 0,
		       0);
	extra_counters(st, r.extra);
}

/* Index of parameter @name of @w, or -1. */
static int param_index(const struct bench_workload *w, const char *name)
{
	for (size_t j = 0; j < w->nparams; j++) {
		if (strcmp(w->params[j].name, name) == 0)
			return (int)j;
	}
	return -1;
}

/*
 * Fills @values with @w's sizes. Every workload needs at least one entry
 * in sizes[] (its defaults may run for seconds) and every entry must name
 * a real parameter within range: a mistake aborts at registration, which
 * the ctest smoke run catches.
 */
static void fill_values(const struct bench_workload *w, bool smoke,
			uint64_t *values)
{
	bool listed = false;

	if (w->nparams > BENCH_MAX_PARAMS) {
		fprintf(stderr, "workload %s: too many parameters\n", w->name);
		abort();
	}
	for (size_t j = 0; j < w->nparams; j++)
		values[j] = w->params[j].def;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		const struct size *s = &sizes[i];
		uint64_t v = smoke ? s->smoke : s->bench;
		int j;

		if (strcmp(s->workload, w->name) != 0)
			continue;
		j = param_index(w, s->param);
		if (j < 0 || v < w->params[j].min || v > w->params[j].max) {
			fprintf(stderr,
				"bench/micro/workloads.c: workload %s has no "
				"parameter %s taking %llu\n",
				w->name, s->param, (unsigned long long)v);
			abort();
		}
		values[j] = v;
		listed = true;
	}
	if (!listed) {
		fprintf(stderr,
			"bench/micro/workloads.c: no sizes for workload %s\n",
			w->name);
		abort();
	}
}

void micro_register_workloads(bool smoke)
{
	size_t n = 0, k = 0;
	struct wl_bench *b;

	for (size_t i = 0; i < bench_nworkloads; i++)
		n += bench_workload_nmodes(bench_workloads[i]);
	/* Lives as long as the process: the harness holds pointers to it. */
	b = calloc(n, sizeof(*b));
	if (b == NULL) {
		fprintf(stderr, "micro_register_workloads: out of memory\n");
		abort();
	}
	for (size_t i = 0; i < bench_nworkloads; i++) {
		const struct bench_workload *w = bench_workloads[i];

		for (size_t mode = 0; mode < bench_workload_nmodes(w); mode++) {
			char name[96];
			cbench *cb;

			b[k].w = w;
			b[k].mode = mode;
			fill_values(w, smoke, b[k].values);
			if (w->nmodes != 0)
				snprintf(name, sizeof(name), "workload/%s/%s",
					 w->name, w->modes[mode]);
			else
				snprintf(name, sizeof(name), "workload/%s",
					 w->name);
			cb = cbench_register(name, bm_workload, &b[k]);
			cbench_use_manual_time(cb);
			cbench_iterations_fixed(cb, smoke ? 1 : ITERATIONS);
			k++;
		}
	}
}
