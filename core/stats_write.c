/*
 * core/stats_write.c - trp_stats_write (troupe/metrics.h): the metrics as
 * Prometheus text exposition (format 0.0.4) or as one JSON object. Built
 * on the public reads only (trp_runtime_metrics, trp_runtime_worker_metrics), so
 * it is lock-free but for stdio's lock on the caller's FILE.
 *
 * Names (docs/architecture.md, "Metrics"): troupe_<what>[_<unit>][_total];
 * per-worker series carry worker="<index>"; durations are in seconds;
 * histograms have cumulative _bucket{le="<seconds>"} series up to
 * le="+Inf", then _sum and _count.
 *
 * Who may call: any thread.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "alloc.h"
#include "troupe/metrics.h"

/* Names of trp_dead_reason_t values (index = reason; NULL: unused). */
static const char *const dead_names[TRP_DEAD_REASONS] = {
	[TRP_DEAD_STOPPED] = "stopped",
	[TRP_DEAD_SHUTDOWN] = "shutdown",
	[TRP_DEAD_LATE_REPLY] = "late_reply",
	[TRP_DEAD_FAILED] = "failed",
	[TRP_DEAD_KILLED] = "killed",
	[TRP_DEAD_DEMONITORED] = "demonitored",
};

#define NS_PER_S 1e9

/* ------------------------------------------------------------------ */
/* Prometheus                                                          */

static void prom_head(FILE *f, const char *name, const char *type,
		      const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One series per worker of the field at @off in trp_worker_metrics_t. */
static void prom_workers(FILE *f, const trp_worker_metrics_t *wm, uint32_t n,
			 const char *name, const char *help, size_t off,
			 bool seconds)
{
	prom_head(f, name, "counter", help);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t v =
			*(const uint64_t *)(const void *)((const char *)&wm[i] +
							  off);
		if (seconds)
			fprintf(f, "%s{worker=\"%" PRIu32 "\"} %.9f\n", name, i,
				(double)v / NS_PER_S);
		else
			fprintf(f, "%s{worker=\"%" PRIu32 "\"} %" PRIu64 "\n",
				name, i, v);
	}
}

static void prom_scalar(FILE *f, const char *name, const char *type,
			const char *help, uint64_t v)
{
	prom_head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void prom_hist(FILE *f, const char *name, const char *help,
		      const trp_histogram_t *h)
{
	uint64_t cum = 0;
	prom_head(f, name, "histogram", help);
	for (unsigned b = 0; b + 1 < TRP_HIST_BUCKETS; b++) {
		cum += h->bucket[b];
		fprintf(f, "%s_bucket{le=\"%.9g\"} %" PRIu64 "\n", name,
			(double)trp_hist_upper_ns(b) / NS_PER_S, cum);
	}
	cum += h->bucket[TRP_HIST_BUCKETS - 1];
	fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	fprintf(f, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name,
		(double)h->sum_ns / NS_PER_S, name, cum);
}

#define WOFF(field) offsetof(trp_worker_metrics_t, field)

static void write_prometheus(FILE *f, const trp_metrics_t *m,
			     const trp_worker_metrics_t *wm)
{
	uint32_t n = m->workers;
	prom_scalar(f, "troupe_workers", "gauge", "Worker threads.", n);
	prom_workers(f, wm, n, "troupe_worker_turns_total",
		     "Actor turns run by the worker.", WOFF(turns), false);
	prom_workers(f, wm, n, "troupe_worker_messages_total",
		     "Messages processed by the worker.", WOFF(messages),
		     false);
	prom_workers(f, wm, n, "troupe_worker_busy_seconds_total",
		     "Time the worker spent outside idle polling and parking.",
		     WOFF(busy_ns), true);
	prom_workers(f, wm, n, "troupe_worker_steals_total",
		     "Successful steals by the worker.", WOFF(steals), false);
	prom_workers(f, wm, n, "troupe_worker_parks_total",
		     "Times the worker parked.", WOFF(parks), false);
	prom_workers(f, wm, n, "troupe_worker_idle_wakeups_total",
		     "Wake-ups of the worker that found no work.",
		     WOFF(idle_wakeups), false);
	prom_scalar(f, "troupe_inject_queue_depth", "gauge",
		    "Actors waiting in the injection queue.", m->inject_depth);
	prom_scalar(f, "troupe_messages_sent_total", "counter",
		    "Messages accepted by a send.", m->totals.sent);
	prom_scalar(f, "troupe_messages_processed_total", "counter",
		    "Behaviour invocations.", m->totals.processed);
	prom_scalar(f, "troupe_messages_rejected_total", "counter",
		    "Sends refused because a mailbox was full.",
		    m->totals.rejected);
	prom_head(f, "troupe_dead_letters_total", "counter",
		  "Accepted messages never processed, by reason.");
	for (unsigned r = 1; r < TRP_DEAD_REASONS; r++) {
		uint64_t v = m->totals.dead_by_reason[r];
		if (dead_names[r] != NULL)
			fprintf(f,
				"troupe_dead_letters_total{reason=\"%s\"} "
				"%" PRIu64 "\n",
				dead_names[r], v);
		else if (v != 0)
			fprintf(f,
				"troupe_dead_letters_total{reason=\"reason_%u\"} "
				"%" PRIu64 "\n",
				r, v);
	}
	prom_scalar(f, "troupe_actors_alive", "gauge", "Actors alive.",
		    m->actors_alive);
	prom_scalar(f, "troupe_actors_spawned_total", "counter",
		    "Actors spawned.", m->totals.spawned);
	prom_scalar(f, "troupe_actors_stopped_total", "counter",
		    "Actors stopped.", m->totals.stopped);
	prom_scalar(f, "troupe_actors_failed_total", "counter",
		    "Actors stopped by trp_actor_fail().", m->actors_failed);
	prom_scalar(f, "troupe_actors_restarted_total", "counter",
		    "Children restarted by supervisors.", m->actors_restarted);
	prom_hist(f, "troupe_sched_latency_seconds",
		  "Sampled delay from runnable to running (1 schedule in "
		  "64).",
		  &m->sched_latency);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static void json_hist(FILE *f, const trp_histogram_t *h)
{
	fprintf(f,
		"{\"count\":%" PRIu64 ",\"sum_ns\":%" PRIu64 ",\"buckets\":[",
		h->count, h->sum_ns);
	for (unsigned b = 0; b < TRP_HIST_BUCKETS; b++)
		fprintf(f, "%s%" PRIu64, b ? "," : "", h->bucket[b]);
	fputs("]}", f);
}

static void write_json(FILE *f, const trp_metrics_t *m,
		       const trp_worker_metrics_t *wm)
{
	fprintf(f, "{\"version\":%" PRIu32 ",\"workers\":[", m->version);
	for (uint32_t i = 0; i < m->workers; i++) {
		const trp_worker_metrics_t *w = &wm[i];
		fprintf(f,
			"%s{\"worker\":%" PRIu32 ",\"turns\":%" PRIu64
			",\"messages\":%" PRIu64 ",\"busy_ns\":%" PRIu64
			",\"steals\":%" PRIu64 ",\"parks\":%" PRIu64
			",\"idle_wakeups\":%" PRIu64 ",\"sched_latency\":",
			i ? "," : "", i, w->turns, w->messages, w->busy_ns,
			w->steals, w->parks, w->idle_wakeups);
		json_hist(f, &w->sched_latency);
		fputc('}', f);
	}
	fprintf(f,
		"],\"inject_queue_depth\":%" PRIu64 ",\"sent\":%" PRIu64
		",\"processed\":%" PRIu64 ",\"rejected\":%" PRIu64
		",\"dead_lettered\":%" PRIu64 ",\"dead_letters\":{",
		m->inject_depth, m->totals.sent, m->totals.processed,
		m->totals.rejected, m->totals.dead_lettered);
	bool first = true;
	for (unsigned r = 1; r < TRP_DEAD_REASONS; r++) {
		if (dead_names[r] == NULL && m->totals.dead_by_reason[r] == 0)
			continue;
		if (dead_names[r] != NULL)
			fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",",
				dead_names[r], m->totals.dead_by_reason[r]);
		else
			fprintf(f, "%s\"reason_%u\":%" PRIu64, first ? "" : ",",
				r, m->totals.dead_by_reason[r]);
		first = false;
	}
	fprintf(f,
		"},\"actors\":{\"alive\":%" PRIu64 ",\"spawned\":%" PRIu64
		",\"stopped\":%" PRIu64 ",\"failed\":%" PRIu64
		",\"restarted\":%" PRIu64 "},\"sched_latency\":",
		m->actors_alive, m->totals.spawned, m->totals.stopped,
		m->actors_failed, m->actors_restarted);
	json_hist(f, &m->sched_latency);
	fputs("}\n", f);
}

/* ------------------------------------------------------------------ */

int trp_stats_write(trp_runtime_t *rt, FILE *f, int format)
{
	if (rt == NULL || f == NULL ||
	    (format != TRP_STATS_PROMETHEUS && format != TRP_STATS_JSON))
		return TRP_EINVAL;
	trp_metrics_t m = TRP_METRICS_INIT;
	int rc = trp_runtime_metrics(rt, &m);
	if (rc != 0)
		return rc;
	trp_worker_metrics_t *wm = trp__calloc(m.workers, sizeof *wm);
	if (wm == NULL)
		return TRP_ENOMEM;
	for (uint32_t i = 0; i < m.workers; i++)
		(void)trp_runtime_worker_metrics(rt, i, &wm[i]);
	if (format == TRP_STATS_PROMETHEUS)
		write_prometheus(f, &m, wm);
	else
		write_json(f, &m, wm);
	trp__free(wm, 0);
	return ferror(f) ? TRP_ESYSTEM : 0;
}
