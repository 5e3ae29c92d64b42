/*
 * tests/stress/rt_monitor_race.c - monitors and demonitors racing the stop
 * of their targets, from several threads.
 *
 * One round: a runtime of 2 workers, NW watcher actors and NT target
 * actors; target i belongs to watcher i % NW. Main sends each target GO(k)
 * with a random k: it sends k numbered messages to its watcher, then
 * stops: normally, by failing (code = its index), or it is killed by main
 * before or while it works. Meanwhile NM outside threads start on a
 * barrier and make monitors of random (watcher, target) pairs, and
 * demonitor a random third of them at once or a little later.
 *
 * Checks:
 * - every DOWN's payload is well formed: a known target, a reason among
 *   normal, failed (with the target's code), killed, noproc;
 * - per ref: at most one DOWN ever; exactly one unless trp_demonitor
 *   returned 0 for it; none if it did (no DOWN after a demonitor);
 * - order: a DOWN at the watcher a target belongs to comes after every
 *   message the target sent it (the watcher has received all k of them,
 *   and they arrived in order 0..k-1);
 * - the delivery identity at quiescence (voided DOWNs are dead letters).
 *
 * Sizes: 20 × scale rounds (at least 4), NM × 400 × scale monitors each.
 */
#include "rt_util.h"

#include <pthread.h>

#define NW 4u
#define NT 64u
#define NM 3u
#define ROUNDS_BASE 20u
#define MONS_BASE 400u

enum {
	MSG_GO = 1,
	MSG_DATA,
	MSG_DOWN
};

/* refs seen in DOWNs and demonitored ones: a locked open-address table */
struct refmap {
	pthread_mutex_t lock;
	uint64_t cap;
	uint64_t *key;
	uint32_t *downs;
	uint8_t *demon_ok; /* trp_demonitor returned 0 */
	uint8_t *made;	   /* trp_monitor returned it */
};

static struct refmap refs;

static uint64_t *slot_of(uint64_t ref)
{
	uint64_t i = (ref * 0x9e3779b97f4a7c15ull) & (refs.cap - 1);
	while (refs.key[i] != 0 && refs.key[i] != ref)
		i = (i + 1) & (refs.cap - 1);
	refs.key[i] = ref;
	return &refs.key[i];
}

static void ref_note(uint64_t ref, int what)
{
	pthread_mutex_lock(&refs.lock);
	uint64_t i = (uint64_t)(slot_of(ref) - refs.key);
	if (what == 0)
		refs.downs[i]++;
	else if (what == 1)
		refs.demon_ok[i] = 1;
	else
		refs.made[i] = 1;
	pthread_mutex_unlock(&refs.lock);
}

struct target {
	trp_actor_t *a;
	uint64_t id;
	_Atomic(uint64_t) sent; /* messages sent to its watcher */
	uint32_t mode;		/* 0 stop, 1 fail */
};

struct watcher {
	trp_actor_t *a;
	uint64_t recv[NT]; /* messages received from each target */
	_Atomic(uint64_t) downs;
};

static struct target tg[NT];
static struct watcher wt[NW];
static struct rt_idset ids;

static void target_behavior(trp_actor_t *self, void *state,
			    const trp_msg_t *msg)
{
	struct target *t = *(struct target **)state;
	uint32_t me = (uint32_t)(t - tg);
	struct rt_payload p = rt_payload_of(msg);
	for (uint64_t s = 0; s < p.seq; s++) {
		int rc = rt_rc("send data",
			       rt_send(wt[me % NW].a, MSG_DATA, me, 0, s),
			       RT_OK | RT_E(TRP_EDEAD));
		if (rc != 0)
			break;
		rt_add(&t->sent, 1);
	}
	if (t->mode == 1)
		RT_MUST("fail", trp_actor_fail(self, (int32_t)me));
	else
		RT_MUST("stop", trp_actor_stop(self));
}

static void watcher_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	(void)self;
	struct watcher *w = *(struct watcher **)state;
	uint32_t me = (uint32_t)(w - wt);
	if (msg->type == MSG_DATA) {
		struct rt_payload p = rt_payload_of(msg);
		STRESS_CHECK(p.sender < NT && p.sender % NW == me,
			     "data from target %u at watcher %u", p.sender, me);
		STRESS_CHECK(p.seq == w->recv[p.sender],
			     "target %u: seq %" PRIu64 " after %" PRIu64,
			     p.sender, p.seq, w->recv[p.sender]);
		w->recv[p.sender]++;
		return;
	}
	STRESS_CHECK(msg->type == MSG_DOWN && msg->size == sizeof(trp_down_t),
		     "watcher %u: message type %u size %zu", me, msg->type,
		     msg->size);
	trp_down_t d;
	memcpy(&d, msg->data, sizeof d);
	int64_t t = rt_idset_find(&ids, d.actor_id);
	STRESS_CHECK(t >= 0 && t < (int64_t)NT,
		     "DOWN of unknown actor %" PRIu64, d.actor_id);
	STRESS_CHECK(d.reason == TRP_STOP_NORMAL ||
			     d.reason == TRP_STOP_KILLED ||
			     d.reason == TRP_STOP_NOPROC ||
			     (d.reason == TRP_STOP_FAILED && d.code == t),
		     "DOWN of target %" PRId64 ": reason %d code %d", t,
		     d.reason, d.code);
	if ((uint64_t)t % NW == me)
		/* per-pair order: everything it sent came first */
		STRESS_CHECK(w->recv[t] == rt_get(&tg[t].sent),
			     "DOWN of target %" PRId64 " after %" PRIu64
			     " of its %" PRIu64 " messages",
			     t, w->recv[t], rt_get(&tg[t].sent));
	ref_note(d.ref, 0);
	rt_add(&w->downs, 1);
}

static struct stress_barrier go;
static uint64_t mons_per_thread;
static uint64_t seed;

static void *monitor_main(void *arg)
{
	uintptr_t k = (uintptr_t)arg;
	uint64_t rng = stress_rand_init(seed, 100 + k);
	trp_ref_t pending[8];
	uint32_t pw[8], np = 0;
	stress_barrier_wait(&go);
	for (uint64_t i = 0; i < mons_per_thread; i++) {
		uint32_t w = (uint32_t)stress_rand_below(&rng, NW);
		uint32_t t = (uint32_t)stress_rand_below(&rng, NT);
		trp_ref_t ref = 0;
		RT_MUST("monitor",
			trp_monitor(wt[w].a, tg[t].a, MSG_DOWN, &ref));
		ref_note(ref, 2);
		uint64_t r = stress_rand_below(&rng, 6);
		if (r == 0 || (r == 1 && np == 8)) {
			if (rt_rc("demonitor", trp_demonitor(wt[w].a, ref),
				  RT_OK | RT_E(TRP_ENOENT)) == 0)
				ref_note(ref, 1);
		} else if (r == 1) {
			pending[np] = ref;
			pw[np++] = w;
		}
		if (np != 0 && stress_rand_below(&rng, 4) == 0) {
			np--;
			if (rt_rc("demonitor later",
				  trp_demonitor(wt[pw[np]].a, pending[np]),
				  RT_OK | RT_E(TRP_ENOENT)) == 0)
				ref_note(pending[np], 1);
		}
	}
	while (np != 0) {
		np--;
		if (rt_rc("demonitor last",
			  trp_demonitor(wt[pw[np]].a, pending[np]),
			  RT_OK | RT_E(TRP_ENOENT)) == 0)
			ref_note(pending[np], 1);
	}
	return NULL;
}

static void round_run(uint32_t round)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	cfg.workers = 2;
	trp_runtime_t *rt;
	RT_MUST("create", trp_runtime_create(&cfg, &rt));
	uint64_t rng = stress_rand_init(seed, round);
	memset(tg, 0, sizeof tg);
	memset(wt, 0, sizeof wt);
	rt_idset_init(&ids, NT);
	pthread_mutex_lock(&refs.lock);
	memset(refs.key, 0, refs.cap * sizeof *refs.key);
	memset(refs.downs, 0, refs.cap * sizeof *refs.downs);
	memset(refs.demon_ok, 0, refs.cap);
	memset(refs.made, 0, refs.cap);
	pthread_mutex_unlock(&refs.lock);
	for (uint32_t i = 0; i < NW; i++) {
		struct watcher *p = &wt[i];
		trp_actor_def_t d = { .behavior = watcher_behavior,
				      .state_size = sizeof p };
		RT_MUST("spawn watcher", trp_actor_spawn(rt, &d, &p, &wt[i].a));
	}
	for (uint32_t i = 0; i < NT; i++) {
		struct target *p = &tg[i];
		tg[i].mode = (uint32_t)stress_rand_below(&rng, 2);
		trp_actor_def_t d = { .behavior = target_behavior,
				      .state_size = sizeof p };
		RT_MUST("spawn target", trp_actor_spawn(rt, &d, &p, &tg[i].a));
		tg[i].id = trp_actor_id(tg[i].a);
		STRESS_CHECK(rt_idset_add(&ids, tg[i].id) == i, "idset");
	}
	pthread_t th[NM];
	stress_barrier_init(&go, NM + 1);
	for (uintptr_t k = 0; k < NM; k++)
		STRESS_CHECK(pthread_create(&th[k], NULL, monitor_main,
					    (void *)k) == 0,
			     "pthread_create");
	stress_barrier_wait(&go);
	for (uint32_t i = 0; i < NT; i++) {
		uint64_t r = stress_rand_below(&rng, 8);
		if (r == 0) {
			(void)rt_rc("kill", trp_actor_kill(tg[i].a),
				    RT_OK | RT_E(TRP_EDEAD));
			continue;
		}
		(void)rt_rc("go",
			    rt_send(tg[i].a, MSG_GO, 0, 0,
				    stress_rand_below(&rng, 64)),
			    RT_OK | RT_E(TRP_EDEAD));
		if (r == 1)
			(void)rt_rc("kill racing", trp_actor_kill(tg[i].a),
				    RT_OK | RT_E(TRP_EDEAD));
	}
	for (uint32_t k = 0; k < NM; k++)
		pthread_join(th[k], NULL);
	(void)rt_assert_balanced(rt, "monitor race");
	/* every ref: one DOWN unless demonitored (then none) */
	uint64_t made = 0, voided = 0, downs = 0;
	for (uint64_t i = 0; i < refs.cap; i++) {
		if (refs.key[i] == 0)
			continue;
		STRESS_CHECK(refs.made[i], "DOWN for a ref nobody made");
		made++;
		downs += refs.downs[i];
		if (refs.demon_ok[i]) {
			voided++;
			STRESS_CHECK(refs.downs[i] == 0,
				     "ref %" PRIu64 ": DOWN after demonitor",
				     refs.key[i]);
		} else {
			STRESS_CHECK(refs.downs[i] == 1,
				     "ref %" PRIu64 ": %u DOWNs", refs.key[i],
				     refs.downs[i]);
		}
	}
	STRESS_CHECK(made == NM * mons_per_thread,
		     "refs %" PRIu64 " of %" PRIu64, made,
		     NM * mons_per_thread);
	uint64_t seen = 0;
	for (uint32_t i = 0; i < NW; i++) {
		seen += rt_get(&wt[i].downs);
		trp_actor_release(wt[i].a);
	}
	STRESS_CHECK(seen == downs && downs == made - voided,
		     "DOWNs %" PRIu64 " seen, %" PRIu64 " counted, %" PRIu64
		     " expected",
		     seen, downs, made - voided);
	for (uint32_t i = 0; i < NT; i++)
		trp_actor_release(tg[i].a);
	rt_idset_free(&ids);
	RT_MUST("destroy", trp_runtime_destroy(rt));
}

int main(void)
{
	seed = stress_init("rt_monitor_race");
	uint64_t rounds = stress_scaled(ROUNDS_BASE, 4);
	mons_per_thread = stress_scaled(MONS_BASE, 50);
	pthread_mutex_init(&refs.lock, NULL);
	refs.cap = 1;
	while (refs.cap < 4 * NM * mons_per_thread)
		refs.cap <<= 1;
	refs.key = calloc(refs.cap, sizeof *refs.key);
	refs.downs = calloc(refs.cap, sizeof *refs.downs);
	refs.demon_ok = calloc(refs.cap, 1);
	refs.made = calloc(refs.cap, 1);
	STRESS_CHECK(refs.key && refs.downs && refs.demon_ok && refs.made,
		     "calloc");
	for (uint32_t r = 0; r < rounds; r++)
		round_run(r);
	free(refs.key);
	free(refs.downs);
	free(refs.demon_ok);
	free(refs.made);
	printf("rt_monitor_race: %" PRIu64 " rounds of %" PRIu64
	       " monitors: ok\n",
	       rounds, NM * mons_per_thread);
	return 0;
}
