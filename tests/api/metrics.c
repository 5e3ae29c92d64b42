/*
 * tests/api/metrics.c - troupe/metrics.h: the always-on counters in a
 * controlled scenario (known messages, dead letters, stops, failures,
 * restarts), the merged scheduling-latency histogram, per-actor backlog
 * high-water mark and processing time, the top-N by backlog, and both
 * trp_stats_write() formats, parsed (a checker of the Prometheus text
 * exposition grammar below; JSON by a small structural parser here, and
 * by python3's json module in the ctest api.metrics_json, which runs this
 * program with --dump-json).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_util.h"

enum {
	T_WORK = 1,
	T_GATE = 2,
	T_FAIL = 3,
	T_STOP = 4,
	T_PING = 5
};

static atomic_int gate_open;
static atomic_long gate_in; /* gate calls begun */
static atomic_long handled;

static void pause_100us(void)
{
	struct timespec ts = { 0, 100000 };
	nanosleep(&ts, NULL);
}

static void counting(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	if (msg->type == T_GATE)
		atomic_fetch_add(&gate_in, 1);
	if (msg->type == T_GATE)
		while (!atomic_load(&gate_open))
			pause_100us();
	if (msg->type == T_FAIL) {
		(void)trp_actor_fail(self, 7);
		return;
	}
	if (msg->type == T_STOP) {
		(void)trp_actor_stop(self);
		return;
	}
	if (msg->type == T_PING) {
		/* bounce until the count in the payload runs out */
		int64_t n;
		memcpy(&n, msg->data, sizeof n);
		if (n > 0) {
			n--;
			int rc = trp_send(self, T_PING, &n, sizeof n);
			if (rc != 0)
				note_error(rc);
		}
	}
	atomic_fetch_add(&handled, 1);
}

static trp_runtime_t *make_rt(uint32_t workers)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	cfg.workers = workers;
	CHECK_OK(trp_runtime_create(&cfg, &rt));
	return rt;
}

static trp_actor_t *spawn(trp_runtime_t *rt)
{
	trp_actor_def_t def = { .behavior = counting };
	trp_actor_t *a;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	return a;
}

/* ------------------------------------------------------------------ */
/* always-on counters                                                  */

static void test_counters(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_metrics_t m = TRP_METRICS_INIT;
	CHECK_OK(trp_runtime_metrics(rt, &m));
	assert_int_equal(m.workers, 2);
	assert_int_equal(m.totals.processed, 0);
	assert_int_equal(m.actors_alive, 0);

	/* 3 actors x 100 messages */
	trp_actor_t *a[3];
	for (int i = 0; i < 3; i++) {
		a[i] = spawn(rt);
		for (int k = 0; k < 100; k++)
			CHECK_OK(trp_send(a[i], T_WORK, NULL, 0));
	}
	settle(rt);
	CHECK_OK(trp_runtime_metrics(rt, &m));
	assert_int_equal(m.totals.processed, 300);
	assert_int_equal(m.totals.sent, 300);
	assert_int_equal(m.totals.spawned, 3);
	assert_int_equal(m.actors_alive, 3);
	assert_int_equal(m.inject_depth, 0);
	assert_true(m.turns >= 3 && m.turns <= 300);
	uint64_t msgs = 0, turns = 0, busy = 0;
	for (uint32_t i = 0; i < m.workers; i++) {
		trp_worker_metrics_t w;
		CHECK_OK(trp_runtime_worker_metrics(rt, i, &w));
		msgs += w.messages;
		turns += w.turns;
		busy += w.busy_ns;
	}
	assert_int_equal(msgs, 300);
	assert_int_equal(turns, m.turns);
	assert_true(busy > 0);
	trp_worker_metrics_t w;
	assert_int_equal(trp_runtime_worker_metrics(rt, 2, &w), TRP_EINVAL);

	/* a[0] fails; a[1] stops on a gate message with 4 more queued
	 * behind it: 4 dead letters (stopped), 1 failed message */
	CHECK_OK(trp_send(a[0], T_FAIL, NULL, 0));
	atomic_store(&gate_open, 0);
	CHECK_OK(trp_send(a[1], T_GATE, NULL, 0));
	CHECK_OK(trp_send(a[1], T_STOP, NULL, 0));
	for (int k = 0; k < 4; k++)
		CHECK_OK(trp_send(a[1], T_WORK, NULL, 0));
	atomic_store(&gate_open, 1);
	trp_stats_t st = api_assert_balanced(rt);
	(void)st;
	CHECK_OK(trp_runtime_metrics(rt, &m));
	assert_int_equal(m.actors_failed, 1);
	assert_int_equal(m.totals.stopped, 2);
	assert_int_equal(m.actors_alive, 1);
	assert_int_equal(m.totals.dead_by_reason[TRP_DEAD_STOPPED], 4);
	assert_int_equal(m.totals.dead_by_reason[TRP_DEAD_FAILED], 1);
	assert_int_equal(m.totals.dead_lettered, 5);
	assert_int_equal(m.actors_restarted, 0);
	for (int i = 0; i < 3; i++)
		trp_actor_release(a[i]);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_no_behaviour_errors();
}

static void test_bad_args(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	trp_metrics_t m = TRP_METRICS_INIT;
	assert_int_equal(trp_runtime_metrics(NULL, &m), TRP_EINVAL);
	assert_int_equal(trp_runtime_metrics(rt, NULL), TRP_EINVAL);
	m.version = 99;
	assert_int_equal(trp_runtime_metrics(rt, &m), TRP_EVERSION);
	assert_int_equal(trp_stats_write(rt, stdout, 0), TRP_EINVAL);
	assert_int_equal(trp_stats_write(rt, stdout, 3), TRP_EINVAL);
	assert_int_equal(trp_stats_write(rt, NULL, TRP_STATS_JSON), TRP_EINVAL);
	assert_int_equal(trp_actor_metrics_enable(NULL), TRP_EINVAL);
	trp_actor_t *a = spawn(rt);
	trp_actor_metrics_t am;
	assert_int_equal(trp_actor_metrics_get(a, &am), TRP_ENOENT);
	assert_int_equal(trp_runtime_top_backlog(rt, NULL, 1, NULL),
			 TRP_EINVAL);
	size_t found = 9;
	CHECK_OK(trp_runtime_top_backlog(rt, NULL, 0, &found));
	assert_int_equal(found, 0);
	CHECK_OK(trp_actor_close(a));
	settle(rt);
	assert_int_equal(trp_actor_metrics_enable(a), TRP_EDEAD);
	trp_actor_release(a);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* A supervised child that fails is restarted: counted per runtime. */
static void test_restarts(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_child_spec_t child = { .def = { .behavior = counting },
				   .name = "metrics-child",
				   .restart = TRP_RESTART_PERMANENT };
	trp_supervisor_spec_t spec = TRP_SUPERVISOR_SPEC_INIT;
	spec.children = &child;
	spec.nchildren = 1;
	trp_actor_t *sup;
	CHECK_OK(trp_supervisor_start(rt, &spec, &sup));
	trp_metrics_t m = TRP_METRICS_INIT;
	for (int round = 0; round < 2; round++) {
		/* wait for the (re)started child, then make it fail */
		int64_t deadline = now_ns() + SETTLE_NS;
		for (;;) {
			CHECK_OK(trp_runtime_metrics(rt, &m));
			if (m.actors_restarted == (uint64_t)round &&
			    trp_send_named(rt, "metrics-child", T_FAIL, NULL,
					   0) == 0)
				break;
			assert_true(now_ns() < deadline);
			pause_100us();
		}
		int64_t until = now_ns() + SETTLE_NS;
		do {
			CHECK_OK(trp_runtime_metrics(rt, &m));
			if (m.actors_restarted == (uint64_t)round + 1)
				break;
			pause_100us();
		} while (now_ns() < until);
		assert_int_equal(m.actors_restarted, round + 1);
	}
	settle(rt);
	CHECK_OK(trp_runtime_metrics(rt, &m));
	assert_int_equal(m.actors_failed, 2);
	CHECK_OK(trp_supervisor_stop(sup));
	trp_actor_release(sup);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* the sampled scheduling latency                                      */

static void check_hist(const trp_histogram_t *h)
{
	uint64_t n = 0;
	for (unsigned b = 0; b < TRP_HIST_BUCKETS; b++)
		n += h->bucket[b];
	assert_int_equal(n, h->count);
}

static void test_sched_latency(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn(rt);
	/* Every other send finds the actor idle and schedules it: 1024
	 * schedules by this thread or more, 1 in TRP_SCHED_SAMPLE of them
	 * timed. */
	for (int k = 0; k < 2048; k++) {
		int64_t n = 0;
		CHECK_OK(trp_send(a, T_PING, &n, sizeof n));
		/* on while it may run (k = 1023, 1024 may still wait): what
		 * follows is timed */
		if (k == 1024)
			CHECK_OK(trp_actor_metrics_enable(a));
		if (k % 2 == 0)
			settle(rt);
	}
	settle(rt);
	trp_actor_metrics_t am;
	CHECK_OK(trp_actor_metrics_get(a, &am));
	if (!(am.processed >= 1023 && am.processed <= 1025))
		fail_msg("processed %" PRIu64, am.processed);
	assert_int_equal(am.processing.count, am.processed);
	trp_metrics_t m = TRP_METRICS_INIT;
	CHECK_OK(trp_runtime_metrics(rt, &m));
	check_hist(&m.sched_latency);
	/* at most one sample per TRP_SCHED_SAMPLE schedules per thread */
	assert_true(m.sched_latency.count >= 1024 / TRP_SCHED_SAMPLE);
	assert_true(m.sched_latency.count <= m.turns / TRP_SCHED_SAMPLE + 3);
	trp_histogram_t merged = { 0 };
	for (uint32_t i = 0; i < m.workers; i++) {
		trp_worker_metrics_t w;
		CHECK_OK(trp_runtime_worker_metrics(rt, i, &w));
		check_hist(&w.sched_latency);
		merged.count += w.sched_latency.count;
		merged.sum_ns += w.sched_latency.sum_ns;
		for (unsigned b = 0; b < TRP_HIST_BUCKETS; b++)
			merged.bucket[b] += w.sched_latency.bucket[b];
	}
	assert_memory_equal(&merged, &m.sched_latency, sizeof merged);
	/* the bounds */
	assert_int_equal(trp_hist_upper_ns(0), 1);
	assert_int_equal(trp_hist_upper_ns(10), 1024);
	assert_true(trp_hist_upper_ns(TRP_HIST_BUCKETS - 1) == UINT64_MAX);
	trp_actor_release(a);
	CHECK_OK(trp_runtime_destroy(rt));
	assert_no_behaviour_errors();
}

/* ------------------------------------------------------------------ */
/* per actor                                                           */

static void test_actor_backlog(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn(rt);
	CHECK_OK(trp_actor_metrics_enable(a));
	CHECK_OK(trp_actor_metrics_enable(a)); /* idempotent */
	atomic_store(&gate_open, 0);
	atomic_store(&gate_in, 0);
	atomic_store(&handled, 0);
	/* the gate blocks the first behaviour call while 99 more queue */
	CHECK_OK(trp_send(a, T_GATE, NULL, 0));
	for (int k = 0; k < 99; k++)
		CHECK_OK(trp_send(a, T_WORK, NULL, 0));
	trp_actor_metrics_t am;
	CHECK_OK(trp_actor_metrics_get(a, &am));
	assert_int_equal(am.backlog, 100);
	assert_int_equal(am.backlog_hwm, 100);
	/* the gate's call lasts >= 2 ms */
	assert_true(wait_for(&gate_in, 1));
	struct timespec ts = { 0, 2000000 };
	nanosleep(&ts, NULL);
	atomic_store(&gate_open, 1);
	settle(rt);
	CHECK_OK(trp_actor_metrics_get(a, &am));
	assert_int_equal(am.backlog, 0);
	assert_int_equal(am.backlog_hwm, 100);
	assert_int_equal(am.processed, 100);
	check_hist(&am.processing);
	assert_int_equal(am.processing.count, 100);
	assert_true(am.processing.sum_ns >= 2000000);
	/* the slowest call is in a bucket of 2^21 ns (~2.1 ms) or above */
	uint64_t slow = 0;
	for (unsigned b = 21; b < TRP_HIST_BUCKETS; b++)
		slow += am.processing.bucket[b];
	assert_true(slow >= 1);
	/* a second burst smaller than the first leaves the mark */
	for (int k = 0; k < 10; k++)
		CHECK_OK(trp_send(a, T_WORK, NULL, 0));
	settle(rt);
	CHECK_OK(trp_actor_metrics_get(a, &am));
	assert_int_equal(am.backlog_hwm, 100);
	assert_int_equal(am.processed, 110);
	trp_actor_release(a);
	CHECK_OK(trp_runtime_destroy(rt));
}

static void port_handler(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
}

static void test_top_backlog(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	/* ports: their mail waits until the test drains it */
	static const int sizes[5] = { 3, 7, 1, 5, 0 };
	trp_actor_t *p[5];
	for (int i = 0; i < 5; i++) {
		CHECK_OK(trp_port_open(rt, port_handler, NULL, &p[i]));
		for (int k = 0; k < sizes[i]; k++)
			CHECK_OK(trp_send(p[i], T_WORK, NULL, 0));
	}
	trp_actor_t *idle = spawn(rt); /* backlog 0 */
	trp_backlog_entry_t top[3];
	size_t found = 0;
	CHECK_OK(trp_runtime_top_backlog(rt, top, 3, &found));
	assert_int_equal(found, 3);
	const int want[3] = { 1, 3, 0 }; /* 7, 5, 3 */
	for (int i = 0; i < 3; i++) {
		assert_ptr_equal(top[i].actor, p[want[i]]);
		assert_int_equal(top[i].backlog, sizes[want[i]]);
		assert_int_equal(top[i].id, trp_actor_id(p[want[i]]));
		trp_actor_release(top[i].actor);
	}
	/* more rows than actors: every live actor, longest first */
	trp_backlog_entry_t all[16];
	CHECK_OK(trp_runtime_top_backlog(rt, all, 16, &found));
	assert_int_equal(found, 6);
	for (size_t i = 0; i < found; i++) {
		if (i > 0)
			assert_true(all[i - 1].backlog >= all[i].backlog);
		trp_actor_release(all[i].actor);
	}
	assert_int_equal(all[0].backlog, 7);
	assert_int_equal(all[5].backlog, 0);
	/* a port's high-water mark: the count before its drain lowers it */
	CHECK_OK(trp_actor_metrics_enable(p[1]));
	assert_int_equal(trp_port_drain(p[1], 100), 7);
	trp_actor_metrics_t am;
	CHECK_OK(trp_actor_metrics_get(p[1], &am));
	assert_int_equal(am.backlog, 0);
	assert_int_equal(am.backlog_hwm, 7);
	for (int i = 0; i < 5; i++) {
		CHECK_OK(trp_port_close(p[i]));
		while (trp_port_drain(p[i], 100) != TRP_ECLOSED)
			;
		trp_actor_release(p[i]);
	}
	trp_actor_release(idle);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* ------------------------------------------------------------------ */
/* formats                                                             */

/* Runs a small known workload (5 processed, 2 dead letters, 1 failed). */
static trp_runtime_t *known_runtime(void)
{
	trp_runtime_t *rt = make_rt(2);
	trp_actor_t *a = spawn(rt);
	for (int k = 0; k < 5; k++)
		CHECK_OK(trp_send(a, T_WORK, NULL, 0));
	atomic_store(&gate_open, 0);
	CHECK_OK(trp_send(a, T_GATE, NULL, 0));
	CHECK_OK(trp_send(a, T_FAIL, NULL, 0));
	CHECK_OK(trp_send(a, T_WORK, NULL, 0));
	CHECK_OK(trp_send(a, T_WORK, NULL, 0));
	atomic_store(&gate_open, 1);
	settle(rt);
	trp_actor_release(a);
	return rt;
}

static char *write_to_string(trp_runtime_t *rt, int format)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	CHECK_OK(trp_stats_write(rt, f, format));
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* --- a checker of the Prometheus text exposition format (0.0.4) --- */

struct family {
	char name[128];
	char type[256];
	bool help;
};

static bool is_name(const char *s, size_t n)
{
	if (n == 0 ||
	    !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' ||
		      s[i] == ':'))
			return false;
	return true;
}

static bool parse_value(const char *s, double *v)
{
	if (strcmp(s, "+Inf") == 0) {
		*v = INFINITY;
		return true;
	}
	char *end;
	*v = strtod(s, &end);
	return end != s && *end == '\0';
}

/* Does @sample (a sample's metric name) belong to @f? */
static bool in_family(const struct family *f, const char *sample)
{
	size_t n = strlen(f->name);
	if (strncmp(sample, f->name, n) != 0)
		return false;
	const char *rest = sample + n;
	if (*rest == '\0')
		return true;
	return strcmp(f->type, "histogram") == 0 &&
	       (strcmp(rest, "_bucket") == 0 || strcmp(rest, "_sum") == 0 ||
		strcmp(rest, "_count") == 0);
}

/* Checks @text line by line; returns the value of sample @want (its
 * full text before the value, labels included) via *@got, if found.
 * Histograms: buckets cumulative in increasing le, ending with +Inf,
 * which equals _count. */
static void check_exposition(char *text, const char *want, double *got)
{
	struct family fam[64];
	int nfam = 0, samples = 0;
	double last_le = -1, last_cum = -1, inf_cum = -1;
	bool found = false;
	for (char *line = strtok(text, "\n"); line != NULL;
	     line = strtok(NULL, "\n")) {
		if (line[0] == '#') {
			char kw[8], name[128], rest[256];
			int n = sscanf(line, "# %7s %127s %255[^\n]", kw, name,
				       rest);
			assert_int_equal(n, 3);
			assert_true(is_name(name, strlen(name)));
			if (strcmp(kw, "HELP") == 0) {
				assert_true(nfam < 64);
				struct family *f = &fam[nfam++];
				snprintf(f->name, sizeof f->name, "%s", name);
				f->type[0] = '\0';
				f->help = true;
				last_le = last_cum = inf_cum = -1;
			} else {
				assert_string_equal(kw, "TYPE");
				assert_true(nfam > 0);
				struct family *f = &fam[nfam - 1];
				assert_string_equal(f->name, name);
				assert_true(strcmp(rest, "counter") == 0 ||
					    strcmp(rest, "gauge") == 0 ||
					    strcmp(rest, "histogram") == 0);
				snprintf(f->type, sizeof f->type, "%s", rest);
			}
			continue;
		}
		/* name{labels} value | name value */
		assert_true(nfam > 0 && fam[nfam - 1].type[0] != '\0');
		struct family *f = &fam[nfam - 1];
		size_t nlen = strcspn(line, "{ ");
		char sname[160];
		assert_true(nlen < sizeof sname && is_name(line, nlen));
		memcpy(sname, line, nlen);
		sname[nlen] = '\0';
		assert_true(in_family(f, sname));
		const char *p = line + nlen;
		double le = NAN;
		if (*p == '{') {
			p++;
			while (*p != '}') {
				size_t ln = strcspn(p, "=");
				assert_true(is_name(p, ln));
				bool is_le = ln == 2 &&
					     strncmp(p, "le", 2) == 0;
				p += ln;
				assert_true(p[0] == '=' && p[1] == '"');
				p += 2;
				const char *v = p;
				while (*p != '"') {
					assert_true(*p != '\0' && *p != '\\');
					p++;
				}
				if (is_le) {
					char lv[64];
					size_t vl = (size_t)(p - v);
					assert_true(vl < sizeof lv);
					memcpy(lv, v, vl);
					lv[vl] = '\0';
					assert_true(parse_value(lv, &le));
				}
				p++;
				if (*p == ',')
					p++;
				else
					assert_int_equal(*p, '}');
			}
			p++;
		}
		assert_int_equal(*p, ' ');
		double v;
		assert_true(parse_value(p + 1, &v));
		samples++;
		if (strncmp(line, want, strlen(want)) == 0 &&
		    line[strlen(want)] == ' ') {
			*got = v;
			found = true;
		}
		if (strcmp(f->type, "histogram") == 0) {
			size_t fl = strlen(f->name);
			if (strcmp(sname + fl, "_bucket") == 0) {
				assert_false(isnan(le));
				assert_true(le > last_le);
				assert_true(v >= last_cum);
				last_le = le;
				last_cum = v;
				if (isinf(le))
					inf_cum = v;
			} else if (strcmp(sname + fl, "_count") == 0) {
				assert_true(inf_cum >= 0);
				assert_true(v == inf_cum);
			}
		}
	}
	for (int i = 0; i < nfam; i++)
		assert_true(fam[i].help && fam[i].type[0] != '\0');
	assert_true(samples > 20);
	assert_true(found);
}

static void test_prometheus(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = known_runtime();
	char *text = write_to_string(rt, TRP_STATS_PROMETHEUS);
	char *copy = strdup(text);
	double v = -1;
	check_exposition(copy, "troupe_messages_processed_total", &v);
	assert_true(v == 6.0); /* 5, then the gate */
	free(copy);
	const char *expect[] = {
		"troupe_dead_letters_total{reason=\"failed\"} 1\n",
		"troupe_dead_letters_total{reason=\"stopped\"} 2\n",
		"troupe_actors_failed_total 1\n",
		"troupe_actors_alive 0\n",
		"troupe_workers 2\n",
		"troupe_worker_turns_total{worker=\"1\"} ",
		"troupe_sched_latency_seconds_bucket{le=\"+Inf\"} ",
	};
	for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
		if (strstr(text, expect[i]) == NULL)
			fail_msg("missing: %s", expect[i]);
	free(text);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* --- a small JSON parser: structure only, and a key's number --- */

struct json {
	const char *p;
	int depth;
};

static void ws(struct json *j)
{
	while (isspace((unsigned char)*j->p))
		j->p++;
}

static void value(struct json *j);

static void string(struct json *j)
{
	assert_int_equal(*j->p, '"');
	j->p++;
	while (*j->p != '"') {
		assert_true(*j->p != '\0' && (unsigned char)*j->p >= 0x20);
		if (*j->p == '\\')
			j->p++;
		j->p++;
	}
	j->p++;
}

static void value(struct json *j)
{
	ws(j);
	assert_true(++j->depth < 32);
	if (*j->p == '{' || *j->p == '[') {
		char close = *j->p == '{' ? '}' : ']';
		bool obj = close == '}';
		j->p++;
		ws(j);
		if (*j->p != close) {
			for (;;) {
				ws(j);
				if (obj) {
					string(j);
					ws(j);
					assert_int_equal(*j->p, ':');
					j->p++;
				}
				value(j);
				ws(j);
				if (*j->p != ',')
					break;
				j->p++;
			}
		}
		assert_int_equal(*j->p, close);
		j->p++;
	} else if (*j->p == '"') {
		string(j);
	} else {
		char *end;
		(void)strtod(j->p, &end);
		assert_true(end != j->p);
		j->p = end;
	}
	j->depth--;
}

static uint64_t json_number(const char *text, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(text, pat);
	if (p == NULL)
		fail_msg("no key %s", key);
	return strtoull(p + strlen(pat), NULL, 10);
}

static void test_json(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = known_runtime();
	char *text = write_to_string(rt, TRP_STATS_JSON);
	struct json j = { text, 0 };
	value(&j);
	ws(&j);
	assert_int_equal(*j.p, '\0');
	assert_int_equal(json_number(text, "processed"), 6);
	assert_int_equal(json_number(text, "dead_lettered"), 3);
	assert_int_equal(json_number(text, "failed"), 1);
	assert_int_equal(json_number(text, "spawned"), 1);
	assert_non_null(strstr(text, "\"worker\":1,"));
	free(text);
	CHECK_OK(trp_runtime_destroy(rt));
}

/* For api.metrics_json: the known workload's JSON on stdout. */
static int dump_json(void)
{
	trp_runtime_t *rt = known_runtime();
	int rc = trp_stats_write(rt, stdout, TRP_STATS_JSON);
	fflush(stdout);
	trp_runtime_destroy(rt);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--dump-json") == 0)
		return dump_json();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_restarts),
		cmocka_unit_test(test_sched_latency),
		cmocka_unit_test(test_actor_backlog),
		cmocka_unit_test(test_top_backlog),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
