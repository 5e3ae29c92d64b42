/*
 * core/node_peers.c - failure detection: heartbeats, the peers' up/down
 * state, and what a peer going down does (troupe/node.h, "Failure
 * detection").
 *
 * Heartbeats never wait behind data: they are published by a thread of
 * their own (trp-node-hb) on trp.<cluster>.hb.<node>, and received on an
 * asynchronous subscription to trp.<cluster>.hb.* (the NATS client's
 * delivery thread), not by the inbound thread, which a full receiver may
 * hold (node_in.c: backpressure). A busy stream can therefore not make a
 * live peer look dead; frames count as signs of life too.
 *
 * A beat (24 bytes, little-endian): u32 magic "TRHB", u8 version 1, u8
 * flags (bit 0: leaving), u16 0, u64 incarnation, u64 the sender's beat
 * interval in ns (each peer is judged by its own interval).
 *
 * Up and down are decided under the peers' mutex, so each up period ends
 * exactly once whichever of the detectors (missed beats on trp-node-hb,
 * a goodbye on the inbound thread, "no responders" or a leaving beat or a
 * new incarnation on the client's thread) sees it first; the effects
 * (killing proxies, failing asks, telling node monitors) run after the
 * decision, outside the mutex.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "node.h"

#define BEAT_MAGIC 0x42485254u /* "TRHB" read as little-endian bytes */
#define BEAT_VERSION 1u
#define BEAT_LEAVING 1u
#define BEAT_SIZE 24u
#define MAX_INTERVAL_NS ((uint64_t)60 * 1000000000) /* a sane bound */

struct peer {
	uint64_t incarnation;
	uint64_t last_ns;     /* last beat or frame */
	uint64_t interval_ns; /* its announced beat interval */
	bool up;
	uint8_t len;
	char name[TRP_NODE_TOKEN_MAX + 1];
};

struct watcher {
	struct trp_actor *actor; /* one reference */
	uint32_t type;
};

/* ------------------------------------------------------------------ */
/* events to node monitors                                             */

static void tell(struct trp_node *node, const trp_node_event_t *ev)
{
	/* Under the peers' lock: watchers see events in the order they were
	 * decided. A send never calls back into the node. */
	for (size_t i = 0; i < node->nwatchers;) {
		struct watcher *w = &((struct watcher *)node->watchers)[i];
		int rc = trp_send(w->actor, w->type, ev, sizeof *ev);
		if (rc == TRP_EDEAD || rc == TRP_ESHUTDOWN) {
			/* it ended: forget it */
			trp_actor_release(w->actor);
			*w = ((struct watcher *)
				      node->watchers)[--node->nwatchers];
			continue;
		}
		i++;
	}
}

static void event_of(trp_node_event_t *ev, const struct peer *p, bool up,
		     uint32_t reason)
{
	memset(ev, 0, sizeof *ev);
	ev->up = up;
	ev->reason = up ? 0 : reason;
	ev->incarnation = p->incarnation;
	memcpy(ev->node, p->name, p->len);
}

/* ------------------------------------------------------------------ */
/* up and down                                                         */

static struct peer *peer_get(struct trp_node *node, const char *name,
			     size_t len)
{
	struct peer *p = trp__node_table_get(&node->peer_tbl, name, len);
	if (p != NULL)
		return p;
	p = trp__calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	memcpy(p->name, name, len);
	p->len = (uint8_t)len;
	if (trp__node_table_put(&node->peer_tbl, name, len, p) != 0) {
		trp__free(p, sizeof *p);
		return NULL;
	}
	return p;
}

/* What a peer going down does, after the decision (no lock held). */
static void down_effects(struct trp_node *node, const char *name, size_t len)
{
	trp__node_asks_fail(node, name, len, TRP_ENOTCONN);
	trp__node_proxies_kill(node, name, len, TRP_STOP_NOCONNECTION);
	/* its watches of our actors: nobody there to tell */
	trp__node_watches_drop(node, name, len);
}

/* Marks @p down (caller holds the lock; @p is up). */
static void mark_down(struct trp_node *node, struct peer *p, uint32_t reason)
{
	p->up = false;
	trp__node_count(node, peer_downs, 1);
	/* relaxed: a gauge. */
	atomic_fetch_sub_explicit(&node->st.peers_up, 1, memory_order_relaxed);
	trp_node_event_t ev;
	event_of(&ev, p, false, reason);
	tell(node, &ev);
}

void trp__node_peer_seen(struct trp_node *node, const char *name, size_t len,
			 uint64_t incarnation, uint64_t interval_ns,
			 bool leaving)
{
	if (len == node->name_len && memcmp(name, node->name, len) == 0)
		return; /* our own beat */
	uint64_t now = trp__now_ns();
	bool down_old = false;
	trp__mutex_lock(&node->peer_tbl.lock);
	struct peer *p = peer_get(node, name, len);
	if (p == NULL) {
		trp__mutex_unlock(&node->peer_tbl.lock);
		return; /* no memory: it stays unknown, nothing breaks */
	}
	if (p->up && p->incarnation != incarnation) {
		/* a restart we did not see go down */
		mark_down(node, p, TRP_NODE_DOWN_RESTARTED);
		down_old = true;
	}
	if (leaving) {
		if (p->up && p->incarnation == incarnation) {
			mark_down(node, p, TRP_NODE_DOWN_GOODBYE);
			down_old = true;
		}
		p->incarnation = incarnation;
		trp__mutex_unlock(&node->peer_tbl.lock);
		if (down_old)
			down_effects(node, name, len);
		return;
	}
	p->last_ns = now;
	if (interval_ns != 0)
		p->interval_ns = interval_ns;
	bool came_up = !p->up;
	if (!p->up) {
		p->up = true;
		p->incarnation = incarnation;
		/* relaxed: a gauge. */
		atomic_fetch_add_explicit(&node->st.peers_up, 1,
					  memory_order_relaxed);
		trp_node_event_t ev;
		event_of(&ev, p, true, 0);
		tell(node, &ev);
	}
	trp__mutex_unlock(&node->peer_tbl.lock);
	if (came_up)
		trp__node_out_gone(node, name, len, false, incarnation);
	if (down_old)
		down_effects(node, name, len);
}

void trp__node_peer_down(struct trp_node *node, const char *name, size_t len,
			 uint64_t incarnation, uint32_t reason)
{
	trp__mutex_lock(&node->peer_tbl.lock);
	struct peer *p = trp__node_table_get(&node->peer_tbl, name, len);
	bool down = p != NULL && p->up &&
		    (incarnation == 0 || p->incarnation == incarnation);
	if (down)
		mark_down(node, p, reason);
	trp__mutex_unlock(&node->peer_tbl.lock);
	if (down)
		down_effects(node, name, len);
}

/* Peers silent for too long (the heartbeat thread). */
static void check_silent(struct trp_node *node)
{
	uint64_t now = trp__now_ns();
	char names[16][TRP_NODE_TOKEN_MAX];
	uint8_t lens[16];
	size_t n;
	/* In batches of 16: a peer marked down is skipped by the next scan,
	 * so the loop ends when a scan finds fewer than a full batch. */
	do {
		n = 0;
		trp__mutex_lock(&node->peer_tbl.lock);
		for (size_t i = 0; i < node->peer_tbl.nb && n < 16; i++) {
			for (struct trp__node_hash_entry *e =
				     node->peer_tbl.b[i];
			     e != NULL && n < 16; e = e->next) {
				struct peer *p = e->value;
				uint64_t iv = p->interval_ns != 0 ?
						      p->interval_ns :
						      node->hb_interval;
				/* last_ns may be after now: a beat taken by
				 * another thread since we read the clock (not
				 * silent; unsigned, it would wrap to "silent
				 * for ever": remote_pingpong saw a live peer
				 * taken down that way once in ~50 runs) */
				if (p->up && p->last_ns < now &&
				    now - p->last_ns > iv * node->hb_misses) {
					mark_down(node, p,
						  TRP_NODE_DOWN_HEARTBEAT);
					memcpy(names[n], p->name, p->len);
					lens[n++] = p->len;
				}
			}
		}
		trp__mutex_unlock(&node->peer_tbl.lock);
		for (size_t i = 0; i < n; i++)
			down_effects(node, names[i], lens[i]);
	} while (n == 16);
}

/* Restarts every peer's silence window at @now (after our own stall). */
static void grace(struct trp_node *node, uint64_t now)
{
	trp__mutex_lock(&node->peer_tbl.lock);
	for (size_t i = 0; i < node->peer_tbl.nb; i++)
		for (struct trp__node_hash_entry *e = node->peer_tbl.b[i];
		     e != NULL; e = e->next) {
			struct peer *p = e->value;
			p->last_ns = now;
		}
	trp__mutex_unlock(&node->peer_tbl.lock);
}

/* ------------------------------------------------------------------ */
/* beats                                                               */

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void beat(struct trp_node *node, bool leaving)
{
	unsigned char b[BEAT_SIZE] = { 0 };
	put_le(b, BEAT_MAGIC, 4);
	b[4] = BEAT_VERSION;
	b[5] = leaving ? BEAT_LEAVING : 0;
	put_le(b + 8, node->incarnation, 8);
	put_le(b + 16, node->hb_interval, 8);
	(void)trp__node_publish(node, node->hb_subject, NULL, b, BEAT_SIZE);
}

void trp__node_on_beat(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		       void *closure)
{
	(void)nc;
	(void)sub;
	struct trp_node *node = closure;
	const char *subj = natsMsg_GetSubject(msg);
	const unsigned char *b = (const unsigned char *)natsMsg_GetData(msg);
	size_t plen = strlen(node->hb_prefix);
	if (strncmp(subj, node->hb_prefix, plen) != 0 ||
	    natsMsg_GetDataLength(msg) != (int)BEAT_SIZE ||
	    get_le(b, 4) != BEAT_MAGIC || b[4] != BEAT_VERSION ||
	    (b[5] & ~BEAT_LEAVING) != 0 || get_le(b + 8, 8) == 0) {
		trp__node_count(node, malformed_frames, 1);
		natsMsg_Destroy(msg);
		return;
	}
	const char *name = subj + plen;
	size_t len = strlen(name);
	uint64_t iv = get_le(b + 16, 8);
	if (trp__node_token_ok(name, len))
		trp__node_peer_seen(node, name, len, get_le(b + 8, 8),
				    iv > 0 && iv <= MAX_INTERVAL_NS ? iv : 0,
				    (b[5] & BEAT_LEAVING) != 0);
	else
		trp__node_count(node, malformed_frames, 1);
	natsMsg_Destroy(msg);
}

static void *hb_main(void *arg)
{
	struct trp_node *node = arg;
	trp__thread_name("trp-node-hb");
	/* Beats every interval; looks for silent peers four times as often,
	 * so a peer is found down at most a quarter interval after its
	 * window ended (1.06 s after the last beat with the defaults, not
	 * up to 1.25 s). */
	uint64_t tick = node->hb_interval / 4 > 0 ? node->hb_interval / 4 : 1;
	uint64_t next_beat = trp__now_ns() + node->hb_interval;
	uint64_t last = trp__now_ns();
	/* acquire: the flag only ends the loop. */
	while (atomic_load_explicit(&node->hb_stop, memory_order_acquire) ==
	       0) {
		uint64_t now = trp__now_ns();
		if (now >= next_beat) {
			beat(node, false);
			next_beat = now + node->hb_interval;
		}
		if (now - last > 2 * tick + node->hb_interval)
			/* We were stalled ourselves (stopped, starved of CPU):
			 * the beats that came meanwhile wait unread in the
			 * subscription. Judge nobody by that silence: every
			 * peer gets a whole window from now. */
			grace(node, now);
		else
			check_silent(node);
		last = now;
		trp__futex_wait(&node->hb_stop, 0, (int64_t)tick);
	}
	return NULL;
}

int trp__node_peers_start(struct trp_node *node)
{
	atomic_init(&node->hb_stop, 0);
	beat(node, false); /* peers see us up at once */
	return trp__thread_start(&node->hb_thread, hb_main, node);
}

void trp__node_peers_stop(struct trp_node *node)
{
	/* release: pairs with hb_main's acquire load; the futex wakes it. */
	atomic_store_explicit(&node->hb_stop, 1, memory_order_release);
	trp__futex_wake(&node->hb_stop, 1);
	trp__thread_join(&node->hb_thread);
	beat(node, true); /* everyone, streamed to or not, sees us leave */
}

static void free_peer(void *value, void *ctx)
{
	(void)ctx;
	trp__free(value, sizeof(struct peer));
}

void trp__node_peers_fini(struct trp_node *node)
{
	trp__mutex_lock(&node->peer_tbl.lock);
	trp__node_table_clear(&node->peer_tbl, free_peer, NULL);
	trp__node_table_free(&node->peer_tbl);
	struct watcher *w = node->watchers;
	for (size_t i = 0; i < node->nwatchers; i++)
		trp_actor_release(w[i].actor);
	trp__free(node->watchers, 0);
	node->watchers = NULL;
	node->nwatchers = node->cwatchers = 0;
	trp__mutex_unlock(&node->peer_tbl.lock);
}

/* ------------------------------------------------------------------ */
/* the public calls                                                    */

int trp_node_monitor_nodes(trp_node_t *node, trp_actor_t *watcher,
			   uint32_t type)
{
	if (node == NULL || watcher == NULL)
		return TRP_EINVAL;
	int rc = 0;
	trp__mutex_lock(&node->peer_tbl.lock);
	struct watcher *w = node->watchers;
	for (size_t i = 0; i < node->nwatchers; i++)
		if (w[i].actor == watcher) {
			rc = TRP_EEXIST;
			goto unlock;
		}
	if (node->nwatchers == node->cwatchers) {
		size_t cap = node->cwatchers == 0 ? 4 : node->cwatchers * 2;
		struct watcher *nw = trp__alloc(cap * sizeof *nw);
		if (nw == NULL) {
			rc = TRP_ENOMEM;
			goto unlock;
		}
		if (node->nwatchers != 0)
			memcpy(nw, w, node->nwatchers * sizeof *nw);
		trp__free(w, 0);
		node->watchers = w = nw;
		node->cwatchers = cap;
	}
	w[node->nwatchers++] =
		(struct watcher){ trp_actor_retain(watcher), type };
	/* the nodes up now */
	for (size_t i = 0; i < node->peer_tbl.nb; i++)
		for (struct trp__node_hash_entry *e = node->peer_tbl.b[i];
		     e != NULL; e = e->next) {
			struct peer *p = e->value;
			if (!p->up)
				continue;
			trp_node_event_t ev;
			event_of(&ev, p, true, 0);
			(void)trp_send(watcher, type, &ev, sizeof ev);
		}
unlock:
	trp__mutex_unlock(&node->peer_tbl.lock);
	return rc;
}

int trp_node_demonitor_nodes(trp_node_t *node, trp_actor_t *watcher)
{
	if (node == NULL || watcher == NULL)
		return TRP_EINVAL;
	int rc = TRP_ENOENT;
	trp__mutex_lock(&node->peer_tbl.lock);
	struct watcher *w = node->watchers;
	for (size_t i = 0; i < node->nwatchers; i++)
		if (w[i].actor == watcher) {
			trp_actor_release(w[i].actor);
			w[i] = w[--node->nwatchers];
			rc = 0;
			break;
		}
	trp__mutex_unlock(&node->peer_tbl.lock);
	return rc;
}

int trp__node_peer_state(struct trp_node *node, const char *name, size_t len,
			 uint64_t *incarnation)
{
	trp__mutex_lock(&node->peer_tbl.lock);
	struct peer *p = trp__node_table_get(&node->peer_tbl, name, len);
	int state = p == NULL ? -1 : p->up ? 1 : 0;
	if (incarnation != NULL)
		*incarnation = p != NULL ? p->incarnation : 0;
	trp__mutex_unlock(&node->peer_tbl.lock);
	return state;
}

int trp_node_peer_up(const trp_node_t *node, const char *node_name,
		     uint64_t *incarnation)
{
	if (node == NULL || node_name == NULL)
		return TRP_EINVAL;
	size_t len = strnlen(node_name, TRP_NODE_TOKEN_MAX + 1);
	if (!trp__node_token_ok(node_name, len))
		return TRP_EINVAL;
	uint64_t inc = 0;
	int up = trp__node_peer_state((struct trp_node *)node, node_name, len,
				      &inc) == 1;
	if (up && incarnation != NULL)
		*incarnation = inc;
	return up;
}
