/*
 * bench/workloads/idle.c - the memory of idle actors (issue 16: 10^6 idle
 * actors with 16 bytes of state).
 *
 * The main thread spawns N actors (no start hook, so each begins idle and
 * is never scheduled), each with `state` bytes of state (default 16, the
 * first 16 of them its ordinal i and ~i), and keeps their handles. The
 * resident set (/proc/self/statm) is read before the first spawn and after
 * the last: bytes_per_actor= is the difference over N, everything an idle
 * actor costs (its block and its share of the allocator's metadata; the
 * array of handles is touched before the first reading, so it is not
 * counted). rate= counts actors spawned per second from an outside
 * thread.
 *
 * Check: every actor is then sent one message; it checks its state (i and
 * ~i), adds i to a sum and stops itself. The sum is N(N-1)/2 over N
 * replies, the runtime's counters agree (N spawned, N stopped, N sent and
 * processed, nothing dead-lettered), and, unless --max_bytes is 0,
 * bytes_per_actor is at most max_bytes (the budget of issue 16: 256).
 *
 * Only a process's first run measures fresh memory: later runs (--runs R,
 * the microbench's iterations) reuse what the first one freed and read
 * less. bench/ab runs one process per reading.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../bench_util.h"
#include "workloads.h"

enum {
	MSG_CHECK = 1
};

enum {
	P_N,
	P_STATE,
	P_MAX_BYTES
};

static const struct bench_param idle_params[] = {
	[P_N] = { "n", "idle actors to create (N)", 1000000, 1, 100000000 },
	[P_STATE] = { "state", "bytes of state per actor (>= 16)", 16, 16,
		      4096 },
	[P_MAX_BYTES] = { "max_bytes",
			  "fail the check above this many bytes per actor "
			  "(0: no budget)",
			  256, 0, 1000000 },
};

/* What every actor's check adds to: relaxed counters, read after
 * trp_runtime_wait_idle(), which orders every turn before it returns. */
struct idle_totals {
	alignas(64) _Atomic(uint64_t) count;
	_Atomic(uint64_t) sum;
	_Atomic(uint64_t) bad;
};

static struct idle_totals totals;

static void idle_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	uint64_t v[2];

	memcpy(v, state, sizeof(v));
	if (msg->type != MSG_CHECK || v[1] != ~v[0] ||
	    trp_actor_stop(self) != 0) {
		atomic_fetch_add_explicit(&totals.bad, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&totals.count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&totals.sum, v[0], memory_order_relaxed);
}

static int report(const char *what, int rc)
{
	fprintf(stderr, "idle: %s: %s\n", what, trp_strerror(rc));
	return rc;
}

/* Resident bytes of the process, or 0 if /proc cannot tell. */
static uint64_t resident_bytes(void)
{
	unsigned long long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int got;

	if (f == NULL)
		return 0;
	got = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (got != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static bool idle_check(trp_runtime_t *rt, uint64_t n, uint64_t failed,
		       uint64_t per_actor, uint64_t max_bytes)
{
	/* 0 + 1 + ... + (n - 1) */
	uint64_t want_sum = n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
	uint64_t count =
		atomic_load_explicit(&totals.count, memory_order_relaxed);
	uint64_t sum = atomic_load_explicit(&totals.sum, memory_order_relaxed);
	uint64_t bad = atomic_load_explicit(&totals.bad, memory_order_relaxed);
	trp_stats_t st;
	bool ok = true;
	int rc;

	if (failed != 0 || count != n || sum != want_sum || bad != 0) {
		fprintf(stderr,
			"idle: %llu failed spawns/sends; checked %llu (want "
			"%llu) sum=%llu (want %llu) bad=%llu\n",
			(unsigned long long)failed, (unsigned long long)count,
			(unsigned long long)n, (unsigned long long)sum,
			(unsigned long long)want_sum, (unsigned long long)bad);
		ok = false;
	}
	rc = trp_runtime_stats(rt, &st);
	if (rc != 0) {
		report("trp_runtime_stats", rc);
		return false;
	}
	if (st.spawned != n || st.stopped != n) {
		fprintf(stderr,
			"idle: runtime spawned %llu actors, stopped %llu "
			"(want %llu each)\n",
			(unsigned long long)st.spawned,
			(unsigned long long)st.stopped, (unsigned long long)n);
		ok = false;
	}
	if (max_bytes != 0 && per_actor == 0) {
		fprintf(stderr, "idle: no resident set size (/proc/self/statm)"
				" or it did not grow\n");
		ok = false;
	} else if (max_bytes != 0 && per_actor > max_bytes) {
		fprintf(stderr,
			"idle: %llu bytes per idle actor, over the budget of "
			"%llu\n",
			(unsigned long long)per_actor,
			(unsigned long long)max_bytes);
		ok = false;
	}
	return ok;
}

static int idle_run(const trp_config_t *cfg, const uint64_t *values,
		    size_t mode, struct bench_result *out)
{
	uint64_t n = values[P_N];
	size_t state_size = (size_t)values[P_STATE];
	trp_actor_def_t def = { .behavior = idle_behavior,
				.state_size = state_size };
	trp_actor_t **actors = NULL;
	unsigned char *init = NULL;
	trp_runtime_t *rt = NULL;
	uint64_t failed = 0, spawned = 0, rss0, rss1, t0, t1;
	int rc = 0;

	(void)mode; /* one mode */
	memset(out, 0, sizeof(*out));
	atomic_store_explicit(&totals.count, 0, memory_order_relaxed);
	atomic_store_explicit(&totals.sum, 0, memory_order_relaxed);
	atomic_store_explicit(&totals.bad, 0, memory_order_relaxed);
	actors = calloc(n, sizeof(*actors));
	init = calloc(1, state_size);
	if (actors == NULL || init == NULL) {
		rc = report("allocating handles", TRP_ENOMEM);
		goto done;
	}
	/* calloc may hand out untouched zero pages: make them resident now,
	 * so that the second reading counts only the actors. */
	memset(actors, 0xff, n * sizeof(*actors));
	memset(actors, 0, n * sizeof(*actors));
	rc = trp_runtime_create(cfg, &rt);
	if (rc != 0) {
		report("trp_runtime_create", rc);
		rt = NULL;
		goto done;
	}
	out->workers = trp_runtime_workers(rt);

	rss0 = resident_bytes();
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v[2] = { i, ~i };

		memcpy(init, v, sizeof(v));
		if (trp_actor_spawn(rt, &def, init, &actors[i]) != 0) {
			actors[i] = NULL;
			failed++;
			continue;
		}
		spawned++;
	}
	t1 = bench_now_ns();
	rss1 = resident_bytes();

	for (uint64_t i = 0; i < n; i++)
		if (actors[i] != NULL &&
		    trp_send(actors[i], MSG_CHECK, NULL, 0) != 0)
			failed++;
	rc = trp_runtime_wait_idle(rt, -1);
	if (rc != 0) {
		report("trp_runtime_wait_idle", rc);
		goto done;
	}

	uint64_t per_actor = rss1 > rss0 && spawned != 0 ?
				     (rss1 - rss0 + spawned / 2) / spawned :
				     0;
	out->messages = n;
	out->items = n;
	out->seconds = (double)(t1 - t0) / 1e9;
	out->ok = idle_check(rt, n, failed, per_actor, values[P_MAX_BYTES]);
	if (!bench_check_stats(rt, "idle", n, out))
		out->ok = false;
	snprintf(out->extra, sizeof(out->extra),
		 "bytes_per_actor=%llu rss_delta_kb=%llu",
		 (unsigned long long)per_actor,
		 (unsigned long long)(rss1 > rss0 ? (rss1 - rss0) / 1024 : 0));
done:
	if (rt != NULL) {
		int drc = trp_runtime_destroy(rt);

		if (drc != 0 && rc == 0)
			rc = report("trp_runtime_destroy", drc);
	}
	if (actors != NULL)
		for (uint64_t i = 0; i < n; i++)
			trp_actor_release(actors[i]);
	free(actors);
	free(init);
	return rc;
}

const struct bench_workload bench_idle = {
	.name = "idle",
	.summary = "N idle actors with 16 bytes of state: resident bytes per "
		   "actor (bytes_per_actor=, budget --max_bytes); actors "
		   "spawned per second",
	.params = idle_params,
	.nparams = sizeof(idle_params) / sizeof(idle_params[0]),
	.run = idle_run,
};
