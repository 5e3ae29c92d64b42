/*
 * bench/micro/metrics.c - the cost of a full stats read (troupe/metrics.h):
 * trp_runtime_metrics() plus trp_runtime_worker_metrics() for every worker,
 * lock-free, on a 2-worker runtime that is idle (metrics_read/idle) or
 * whose workers write their counters meanwhile (metrics_read/busy: an
 * actor messaging itself without pause, so the reader's loads miss on
 * lines a worker keeps writing). stats_write/prometheus and /json add the
 * formatting into a memory stream. Items = reads.
 *
 * Check: every read's processed count is >= the one before (a counter
 * never goes back), and after the run the runtime's counters balance
 * (sent == processed + dead_lettered). A failed check skips the benchmark
 * with an error instead of printing a rate.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#include "micro.h"

enum {
	MODE_IDLE,
	MODE_BUSY,
	MODE_PROM,
	MODE_JSON
};

static atomic_int stop_loop;

static void self_loop(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	if (!atomic_load_explicit(&stop_loop, memory_order_relaxed))
		(void)trp_send(self, 1, NULL, 0);
}

static void bm_metrics(cbench_state *st, void *arg)
{
	int mode = (int)(intptr_t)arg;
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	trp_actor_t *a = NULL;
	bool ok = true;

	cfg.workers = 2;
	if (trp_runtime_create(&cfg, &rt) != 0) {
		cbench_skip_with_error(st, "trp_runtime_create failed");
		return;
	}
	atomic_store(&stop_loop, 0);
	if (mode == MODE_BUSY) {
		trp_actor_def_t def = { .behavior = self_loop };
		if (trp_actor_spawn(rt, &def, NULL, &a) != 0 ||
		    trp_send(a, 1, NULL, 0) != 0) {
			cbench_skip_with_error(st, "spawn/send failed");
			trp_runtime_destroy(rt);
			return;
		}
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	uint64_t last = 0;
	trp_worker_metrics_t wm[2];
	while (cbench_keep_running(st)) {
		trp_metrics_t m = TRP_METRICS_INIT;
		if (mode == MODE_PROM || mode == MODE_JSON) {
			rewind(mem);
			ok &= trp_stats_write(rt, mem,
					      mode == MODE_PROM ?
						      TRP_STATS_PROMETHEUS :
						      TRP_STATS_JSON) == 0;
			continue;
		}
		ok &= trp_runtime_metrics(rt, &m) == 0;
		for (uint32_t i = 0; i < m.workers && i < 2; i++)
			ok &= trp_runtime_worker_metrics(rt, i, &wm[i]) == 0;
		ok &= m.totals.processed >= last;
		last = m.totals.processed;
		micro_use(&m);
		micro_use(wm);
	}
	cbench_set_items_processed(st, cbench_iterations(st));
	fclose(mem);
	free(buf);
	atomic_store(&stop_loop, 1);
	trp_runtime_wait_idle(rt, -1);
	trp_stats_t s;
	ok &= trp_runtime_stats(rt, &s) == 0 &&
	      s.sent == s.processed + s.dead_lettered &&
	      (mode != MODE_BUSY || s.processed > 0);
	if (a != NULL)
		trp_actor_release(a);
	trp_runtime_destroy(rt);
	if (!ok)
		cbench_skip_with_error(st, "check failed: a read went back, "
					   "failed, or the counters do not "
					   "balance");
}

void micro_register_metrics(void)
{
	cbench_register("metrics_read/idle", bm_metrics,
			(void *)(intptr_t)MODE_IDLE);
	cbench_register("metrics_read/busy", bm_metrics,
			(void *)(intptr_t)MODE_BUSY);
	cbench_register("stats_write/prometheus", bm_metrics,
			(void *)(intptr_t)MODE_PROM);
	cbench_register("stats_write/json", bm_metrics,
			(void *)(intptr_t)MODE_JSON);
}
