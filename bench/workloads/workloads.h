/*
 * bench/workloads/workloads.h - the workloads of troupe-bench and
 * troupe-microbench.
 *
 * Each workload of shared/WORKLOADS.md lives in bench/workloads/<name>.c and
 * exposes one `const struct bench_workload bench_<name>`, declared below and
 * listed in bench_workloads[] (workloads.c). The same code serves two
 * drivers, which differ only in how they report:
 *
 * - bench/cli.c (troupe-bench) parses the common options (--workers,
 *   --runs) and the workload's own parameters (from its params table), then
 *   calls run() once per mode per run and prints one result line each;
 * - bench/micro/workloads.c (troupe-microbench) registers one Google
 *   Benchmark benchmark per workload and mode (`workload/<name>`,
 *   `workload/<name>/<mode>`), each iteration one call of run().
 *
 * A workload's run() creates its own runtime from @cfg, builds its actors,
 * times from the first send to quiescence, checks its result, destroys the
 * runtime and fills a bench_result. It prints the details of a failed check
 * to stderr itself, and nothing to stdout (the drivers own stdout).
 *
 * Threads: run() is called from one thread at a time (it creates and
 * destroys its runtime; two runs at once would only measure each other).
 */
#ifndef TROUPE_BENCH_WORKLOADS_H
#define TROUPE_BENCH_WORKLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <troupe/troupe.h>

/* Most parameters a workload may declare. */
#define BENCH_MAX_PARAMS 8

/* One numeric parameter: `--name VALUE`, printed as `name=VALUE`. */
struct bench_param {
	const char *name; /* option name without "--"; also the output key */
	const char *help;
	uint64_t def, min, max;
};

struct bench_result {
	uint64_t messages; /* messages the run moved (the `messages=` field) */
	uint64_t items;	   /* what `rate=` counts per second; 0 = messages */
	double seconds;	   /* first send to quiescence */
	uint32_t workers;  /* worker threads actually used */
	bool ok;	   /* the workload's check passed */
	uint64_t parks;	   /* worker parks and steals over the whole run */
	uint64_t steals;   /* (bench_check_stats fills them) */
	char extra[256];   /* more " key=value" fields for the line, without
			      the leading space; "" for none */
};

/*
 * Options of the remote workloads (nodes over NATS; remote.h), which run
 * as two processes: troupe-bench measuring, and troupe-bench again as the
 * far node (--role far, a hidden option the measuring side passes).
 */
struct bench_remote_args {
	const char *nats;    /* --nats URL: a running server; NULL: start one */
	const char *cluster; /* far role: --cluster C, chosen by the parent */
	bool far;	     /* --role far */
};

struct bench_workload {
	const char *name;
	const char *summary; /* one line for --help */
	const struct bench_param *params;
	size_t nparams; /* <= BENCH_MAX_PARAMS */
	/*
	 * Most workloads measure one thing (modes NULL, nmodes 0: one mode,
	 * 0). One that measures several (ask: from outside, actor to actor)
	 * names them here; a run of it is one run() per mode, in this order,
	 * each reporting on its own (its extra says mode=NAME).
	 */
	const char *const *modes;
	size_t nmodes;
	/*
	 * One measured run of mode @mode. @values holds one value per params
	 * entry, in the same order. Returns 0 when the run completed (whether
	 * or not its check passed: see out->ok), or a negative TRP_E* code
	 * when a troupe call failed outside the measured behaviours (already
	 * reported on stderr).
	 */
	int (*run)(const trp_config_t *cfg, const uint64_t *values, size_t mode,
		   struct bench_result *out);
	/*
	 * Remote workloads (bench/workloads/remote_*.c) have run NULL and
	 * these two instead; they are in bench_remote_workloads[] (remote.h),
	 * not in bench_workloads[], and only troupe-bench runs them (it
	 * starts itself again as the far node; the microbench cannot).
	 * run_remote is run()'s measuring side, with the remote options;
	 * run_far is the far node's whole life: it sets up, says ready,
	 * serves until the measuring side says stop, reports its counters
	 * (remote.h) and returns 0 or a negative TRP_E* code.
	 */
	int (*run_remote)(const trp_config_t *cfg, const uint64_t *values,
			  size_t mode, const struct bench_remote_args *ra,
			  struct bench_result *out);
	int (*run_far)(const trp_config_t *cfg, const uint64_t *values,
		       const struct bench_remote_args *ra);
};

extern const struct bench_workload bench_storm;
extern const struct bench_workload bench_pubsub;
extern const struct bench_workload bench_storm_private;
extern const struct bench_workload bench_pingpong;
extern const struct bench_workload bench_ring;
extern const struct bench_workload bench_fanin;
extern const struct bench_workload bench_spawn;
extern const struct bench_workload bench_skynet;
extern const struct bench_workload bench_ask;
extern const struct bench_workload bench_restart;
extern const struct bench_workload bench_down;
extern const struct bench_workload bench_port;
extern const struct bench_workload bench_blocked_wake;
extern const struct bench_workload bench_idle;

/* Every workload, in --help order; bench_nworkloads entries. */
extern const struct bench_workload *const bench_workloads[];
extern const size_t bench_nworkloads;

/* The workload called @name, or NULL. */
const struct bench_workload *bench_workload_find(const char *name);

/* Modes of @w: at least 1. */
static inline size_t bench_workload_nmodes(const struct bench_workload *w)
{
	return w->nmodes != 0 ? w->nmodes : 1;
}

/* What @r's rate counts (its unit: messages, round trips, hops, actors). */
static inline uint64_t bench_result_items(const struct bench_result *r)
{
	return r->items != 0 ? r->items : r->messages;
}

#endif /* TROUPE_BENCH_WORKLOADS_H */
