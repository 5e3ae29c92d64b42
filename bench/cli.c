/*
 * bench/cli.c - troupe-bench: runs the workloads of shared/WORKLOADS.md.
 *
 *     troupe-bench WORKLOAD [--PARAM VALUE]... [--workers W[,W]...]
 *                  [--runs R]
 *
 * Prints one line per run on stdout:
 *
 *     workload=storm runtime=troupe messages=30001000 seconds=1.234
 *     rate=24312345 check=ok workers=2 counters=1000 n=10000 peak_rss_kb=5120
 *
 * (one line; wrapped here). A workload with several modes (ask) prints one
 * line per mode per run. With a list of worker counts (--workers 1,2) every
 * run is made once per count, the counts alternating (1 2 1 2 ...) so that
 * drift on a shared machine hits every count alike; workers= tells the
 * lines apart. A run whose check fails prints its details and a
 * check=FAILED line (no rate) on stderr, and troupe-bench exits 1 at once.
 * Bad options print the usage on stderr and exit 2.
 *
 * The workloads and their table are in bench/workloads/ (workloads.h);
 * troupe-microbench runs the same code as Google Benchmark benchmarks.
 *
 * Remote workloads (remote_* and node_down, built with BENCH_REMOTE: nodes
 * over NATS, bench/workloads/remote.h) run as two processes or more (one
 * far process per round in node_down, two in remote_pubsub): with no more
 * options each run starts a nats-server on a free loopback port and this
 * program again as the far node; --nats URL uses a running server instead. The
 * far node's own command line is troupe-bench WORKLOAD --role far --nats
 * URL --cluster C ... (hidden options: the measuring side passes them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "workloads/workloads.h"
#ifdef BENCH_REMOTE
#include "workloads/remote.h"
#endif

/* WORKLOADS.md: "Run with exactly 2 workers unless a benchmark sweeps". */
#define DEFAULT_WORKERS 2u
#define DEFAULT_RUNS 1u
#define MAX_WORKERS 256u
/* Most worker counts one --workers list may hold. */
#define MAX_WORKER_COUNTS 32

/* The remote workloads are in troupe-bench only (BENCH_REMOTE): the
 * statically linked troupe-bench-static has no libnats. */
static size_t nremote(void)
{
#ifdef BENCH_REMOTE
	return bench_nremote_workloads;
#else
	return 0;
#endif
}

/* Workload @i of the local table, then of the remote one. */
static const struct bench_workload *workload_at(size_t i)
{
	if (i < bench_nworkloads)
		return bench_workloads[i];
#ifdef BENCH_REMOTE
	return bench_remote_workloads[i - bench_nworkloads];
#else
	return NULL;
#endif
}

static const struct bench_workload *find_workload(const char *name)
{
	for (size_t i = 0; i < bench_nworkloads + nremote(); i++) {
		if (strcmp(workload_at(i)->name, name) == 0)
			return workload_at(i);
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: troupe-bench WORKLOAD [options]\n"
		"\n"
		"common options:\n"
		"  --workers W   worker threads (default %u; 0 = online cores,\n"
		"                at most %u); a comma list (--workers 1,2,4)\n"
		"                sweeps: each run is made once per count, the\n"
		"                counts alternating (1 2 4 1 2 4 ...), one line\n"
		"                each (workers= tells them apart)\n"
		"  --runs R      measured runs (default %u), one line per run\n"
		"                and worker count (and mode: ask)\n"
		"  --batch B     the runtime's messages per turn\n"
		"                (trp_config_t.batch; default 0 = troupe's)\n"
		"  --help        this text\n",
		DEFAULT_WORKERS, MAX_WORKERS, DEFAULT_RUNS);
#ifdef BENCH_REMOTE
	fprintf(f, "remote workloads (remote_*, node_down) also take:\n"
		   "  --nats URL    a running nats-server (default: start one "
		   "on a\n"
		   "                free loopback port for each run)\n");
#endif
	for (size_t i = 0; i < bench_nworkloads + nremote(); i++) {
		const struct bench_workload *w = workload_at(i);

		fprintf(f, "\n%s: %s\n", w->name, w->summary);
		for (size_t j = 0; j < w->nparams; j++) {
			const struct bench_param *p = &w->params[j];

			fprintf(f, "  --%-11s %s (default %llu, %llu..%llu)\n",
				p->name, p->help, (unsigned long long)p->def,
				(unsigned long long)p->min,
				(unsigned long long)p->max);
		}
	}
}

/* Prints "troupe-bench: WHAT 'ARG'" (or just WHAT) and the usage. */
static int bad_usage(const char *what, const char *arg)
{
	if (arg != NULL)
		fprintf(stderr, "troupe-bench: %s '%s'\n\n", what, arg);
	else
		fprintf(stderr, "troupe-bench: %s\n\n", what);
	usage(stderr);
	return 2;
}

/* Matches "--name" (value in the next argument) or "--name=value". */
static bool match_option(const char *arg, const char *name, const char **eq)
{
	size_t len = strlen(name);

	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, len) != 0)
		return false;
	if (arg[2 + len] == '\0') {
		*eq = NULL;
		return true;
	}
	if (arg[2 + len] == '=') {
		*eq = arg + 3 + len;
		return true;
	}
	return false;
}

static void print_result(FILE *f, const struct bench_workload *w,
			 const uint64_t *values, const struct bench_result *r)
{
	uint64_t items = bench_result_items(r);

	fprintf(f, "workload=%s runtime=troupe messages=%llu seconds=%.6f",
		w->name, (unsigned long long)r->messages, r->seconds);
	if (r->ok)
		fprintf(f, " rate=%.0f check=ok",
			r->seconds > 0 ? (double)items / r->seconds : 0.0);
	else
		fprintf(f, " check=FAILED");
	fprintf(f, " workers=%u", (unsigned)r->workers);
	for (size_t j = 0; j < w->nparams; j++)
		fprintf(f, " %s=%llu", w->params[j].name,
			(unsigned long long)values[j]);
	if (r->extra[0] != '\0')
		fprintf(f, " %s", r->extra);
	fprintf(f, " parks=%llu steals=%llu", (unsigned long long)r->parks,
		(unsigned long long)r->steals);
	fprintf(f, " peak_rss_kb=%llu\n",
		(unsigned long long)bench_peak_rss_kb());
	fflush(f);
}

/*
 * Parses a comma list of worker counts ("2", "1,2,4") into @out (at most
 * MAX_WORKER_COUNTS, each 0..MAX_WORKERS). Returns the count, 0 if @s is
 * not such a list.
 */
static size_t parse_workers(const char *s, uint64_t *out)
{
	size_t n = 0;

	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
		char num[24];

		if (n == MAX_WORKER_COUNTS || len == 0 || len >= sizeof(num))
			return 0;
		memcpy(num, s, len);
		num[len] = '\0';
		if (!bench_parse_u64(num, &out[n]) || out[n] > MAX_WORKERS)
			return 0;
		n++;
		if (comma == NULL)
			return n;
		s = comma + 1;
	}
}

/*
 * One run of @w on @workers workers: every mode, one line each. Returns
 * false (after reporting on stderr) at the first error or failed check.
 */
static bool run_once(const struct bench_workload *w, const uint64_t *values,
		     uint64_t workers, uint64_t batch,
		     const struct bench_remote_args *ra)
{
	trp_config_t cfg = TRP_CONFIG_INIT;

	cfg.workers = (uint32_t)workers;
	if (batch != 0)
		cfg.batch = (uint32_t)batch;
	for (size_t mode = 0; mode < bench_workload_nmodes(w); mode++) {
		struct bench_result res = { 0 };
		int rc = w->run != NULL ?
				 w->run(&cfg, values, mode, &res) :
				 w->run_remote(&cfg, values, mode, ra, &res);

		if (rc != 0) {
			fprintf(stderr, "troupe-bench: %s failed: %s\n",
				w->name, trp_strerror(rc));
			return false;
		}
		if (!res.ok) {
			print_result(stderr, w, values, &res);
			return false;
		}
		print_result(stdout, w, values, &res);
	}
	return true;
}

int main(int argc, char **argv)
{
	const struct bench_workload *w;
	uint64_t values[BENCH_MAX_PARAMS];
	uint64_t workers[MAX_WORKER_COUNTS] = { DEFAULT_WORKERS };
	uint64_t runs = DEFAULT_RUNS;
	uint64_t batch = 0;
	size_t nworkers = 1;
	struct bench_remote_args ra = { NULL, NULL, false };
	const char *role = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	if (argc < 2 || argv[1][0] == '-')
		return bad_usage("missing WORKLOAD", NULL);
	w = find_workload(argv[1]);
	if (w == NULL)
		return bad_usage("unknown workload", argv[1]);
	if (w->nparams > BENCH_MAX_PARAMS)
		return bad_usage("too many parameters in workload", w->name);
	for (size_t j = 0; j < w->nparams; j++)
		values[j] = w->params[j].def;

	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		uint64_t *dst = NULL, min = 0, max = 0, v;
		bool is_workers = false;
		const char **str = NULL;

		if (w->run == NULL && match_option(arg, "nats", &val)) {
			str = &ra.nats;
		} else if (w->run == NULL &&
			   match_option(arg, "cluster", &val)) {
			str = &ra.cluster;
		} else if (w->run == NULL && match_option(arg, "role", &val)) {
			str = &role;
		} else if (match_option(arg, "workers", &val)) {
			is_workers = true;
		} else if (match_option(arg, "runs", &val)) {
			dst = &runs;
			min = 1;
			max = 1000;
		} else if (match_option(arg, "batch", &val)) {
			dst = &batch;
			min = 0;
			max = UINT32_MAX;
		} else {
			for (size_t j = 0; j < w->nparams; j++) {
				const struct bench_param *p = &w->params[j];

				if (match_option(arg, p->name, &val)) {
					dst = &values[j];
					min = p->min;
					max = p->max;
					break;
				}
			}
		}
		if (dst == NULL && !is_workers && str == NULL)
			return bad_usage("unknown option", arg);
		if (val == NULL) {
			if (i + 1 >= argc)
				return bad_usage("missing value for", arg);
			val = argv[++i];
		}
		if (str != NULL) {
			*str = val;
			continue;
		}
		if (is_workers) {
			nworkers = parse_workers(val, workers);
			if (nworkers == 0)
				return bad_usage("not a list of worker counts:",
						 val);
			continue;
		}
		if (!bench_parse_u64(val, &v) || v < min || v > max)
			return bad_usage("not a number or out of range:", val);
		*dst = v;
	}

	if (role != NULL) {
		trp_config_t cfg = TRP_CONFIG_INIT;

		if (strcmp(role, "far") != 0)
			return bad_usage("--role takes far, not", role);
		if (nworkers != 1)
			return bad_usage("--role far takes one worker count",
					 NULL);
		ra.far = true;
		cfg.workers = (uint32_t)workers[0];
		if (batch != 0)
			cfg.batch = (uint32_t)batch;
		/* The far node of one run of the measuring side. */
		return w->run_far(&cfg, values, &ra) == 0 ? 0 : 1;
	}
	for (uint64_t r = 0; r < runs; r++) {
		for (size_t k = 0; k < nworkers; k++) {
			if (!run_once(w, values, workers[k], batch, &ra))
				return 1;
		}
	}
	return 0;
}
