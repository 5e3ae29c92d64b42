/*
 * core/node.c - nodes: start and stop, the feature row, the shared tables
 * (exports, pending asks), statistics and loss accounting. See node.h for
 * the whole path of a message between nodes.
 */
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "alloc.h"
#include "node.h"
#include "request.h"
#include "runtime.h"
#include "troupe/node.h"
#include "worker.h"

#define DEFAULT_SERVER "nats://127.0.0.1:4222"
#define DEFAULT_PROXY_MAILBOX 65536u
#define DEFAULT_CREDIT_WINDOW 65536u
#define DEFAULT_CONNECT_NS ((int64_t)2000000000)
#define DEFAULT_STOP_NS ((int64_t)5000000000)
#define DEFAULT_HEARTBEAT_NS ((uint64_t)250000000)
#define DEFAULT_HEARTBEAT_MISSES 4u
/* A frame must hold at least one item with a full name and some payload. */
#define MIN_FRAME 4096u

/* ------------------------------------------------------------------ */
/* the feature: at most one node per runtime; destroy stops it         */

struct nodes_state {
	struct trp__mutex lock;
	struct trp_node *node; /* the running node, or NULL */
	bool claimed;	       /* a start is under way or a node runs */
};

static struct nodes_state *nodes_of(struct trp_runtime *rt)
{
	return trp__feature_state(rt, TRP__FEATURE_NODES);
}

static void nodes_quiesce(struct trp_runtime *rt, void *state)
{
	(void)rt;
	struct nodes_state *s = state;
	trp__mutex_lock(&s->lock);
	struct trp_node *node = s->node;
	trp__mutex_unlock(&s->lock);
	if (node != NULL)
		(void)trp_node_stop(node, -1);
}

const struct trp__feature trp__feature_nodes = {
	.name = "nodes",
	.state_size = sizeof(struct nodes_state),
	.quiesce = nodes_quiesce,
};

/* ------------------------------------------------------------------ */
/* tables                                                              */

static uint64_t hash_key(const void *key, size_t n)
{
	/* FNV-1a: keys are short names and ids; no adversary picks them
	 * faster than it could flood the node anyway. */
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static struct trp__node_hash_entry **slot_of(struct trp__node_table *t,
					     const void *key, size_t klen)
{
	if (t->nb == 0)
		return NULL;
	struct trp__node_hash_entry **pp =
		&t->b[hash_key(key, klen) & (t->nb - 1)];
	while (*pp != NULL &&
	       ((*pp)->klen != klen || memcmp((*pp)->key, key, klen) != 0))
		pp = &(*pp)->next;
	return pp;
}

void *trp__node_table_get(struct trp__node_table *t, const void *key,
			  size_t klen)
{
	struct trp__node_hash_entry **pp = slot_of(t, key, klen);
	return pp != NULL && *pp != NULL ? (*pp)->value : NULL;
}

static int grow(struct trp__node_table *t)
{
	size_t nb = t->nb == 0 ? 64 : t->nb * 2;
	struct trp__node_hash_entry **b = trp__calloc(nb, sizeof *b);
	if (b == NULL)
		return TRP_ENOMEM;
	for (size_t i = 0; i < t->nb; i++) {
		struct trp__node_hash_entry *e = t->b[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			size_t k = hash_key(e->key, e->klen) & (nb - 1);
			e->next = b[k];
			b[k] = e;
		}
	}
	trp__free(t->b, t->nb * sizeof *t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

int trp__node_table_put(struct trp__node_table *t, const void *key, size_t klen,
			void *value)
{
	trp__assert(klen <= UINT8_MAX);
	if (t->n >= t->nb && grow(t) != 0)
		return TRP_ENOMEM;
	struct trp__node_hash_entry *e = trp__alloc(sizeof *e + klen);
	if (e == NULL)
		return TRP_ENOMEM;
	memcpy(e->key, key, klen);
	e->klen = (uint8_t)klen;
	e->value = value;
	struct trp__node_hash_entry **head =
		&t->b[hash_key(key, klen) & (t->nb - 1)];
	e->next = *head;
	*head = e;
	t->n++;
	return 0;
}

void *trp__node_table_del(struct trp__node_table *t, const void *key,
			  size_t klen)
{
	struct trp__node_hash_entry **pp = slot_of(t, key, klen);
	if (pp == NULL || *pp == NULL)
		return NULL;
	struct trp__node_hash_entry *e = *pp;
	void *value = e->value;
	*pp = e->next;
	trp__free(e, sizeof *e + e->klen);
	t->n--;
	return value;
}

size_t trp__node_table_take(struct trp__node_table *t,
			    bool (*match)(const void *key, size_t klen,
					  void *value, void *ctx),
			    void *ctx, void **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nb && n < max; i++) {
		struct trp__node_hash_entry **pp = &t->b[i];
		while (*pp != NULL && n < max) {
			struct trp__node_hash_entry *e = *pp;
			if (match(e->key, e->klen, e->value, ctx)) {
				*pp = e->next;
				out[n++] = e->value;
				trp__free(e, sizeof *e + e->klen);
				t->n--;
			} else {
				pp = &e->next;
			}
		}
	}
	return n;
}

void trp__node_table_clear(struct trp__node_table *t,
			   void (*fn)(void *value, void *ctx), void *ctx)
{
	for (size_t i = 0; i < t->nb; i++) {
		struct trp__node_hash_entry *e = t->b[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			if (fn != NULL)
				fn(e->value, ctx);
			trp__free(e, sizeof *e + e->klen);
		}
		t->b[i] = NULL;
	}
	t->n = 0;
}

void trp__node_table_free(struct trp__node_table *t)
{
	trp__assert(t->n == 0);
	trp__free(t->b, t->nb * sizeof *t->b);
	t->b = NULL;
	t->nb = 0;
}

/* ------------------------------------------------------------------ */
/* pending asks                                                        */

struct pending_ask {
	struct trp__reply_to *to; /* the reference moved in from the request */
	uint8_t dst_len;
	char dst[TRP_NODE_TOKEN_MAX];
};

int trp__node_ask_file(struct trp_node *node, struct trp__reply_to *r,
		       const char *dst, size_t dst_len, uint64_t *corr)
{
	struct pending_ask *p = trp__alloc(sizeof *p);
	if (p == NULL)
		return TRP_ENOMEM;
	p->to = r;
	p->dst_len = (uint8_t)dst_len;
	memcpy(p->dst, dst, dst_len);
	/* relaxed: only uniqueness matters. */
	uint64_t id = atomic_fetch_add_explicit(&node->next_corr, 1,
						memory_order_relaxed);
	trp__mutex_lock(&node->asks.lock);
	int rc = trp__node_table_put(&node->asks, &id, sizeof id, p);
	trp__mutex_unlock(&node->asks.lock);
	if (rc != 0) {
		trp__free(p, sizeof *p);
		return rc;
	}
	*corr = id;
	return 0;
}

/* Answers @p and frees it. A reply (or a failure) the remote user made
 * that comes too late is a dead letter (TRP_DEAD_LATE_REPLY), as a local
 * one is; the node's own failures (TRP_ENOTCONN) are just dropped. */
static void answer(struct pending_ask *p, int status, const void *data,
		   size_t len, bool by_user)
{
	trp__reply_answer(p->to, 0, status, data, len, by_user);
	trp__free(p, sizeof *p);
}

void trp__node_ask_unfile(struct trp_node *node, uint64_t corr)
{
	trp__mutex_lock(&node->asks.lock);
	struct pending_ask *p =
		trp__node_table_del(&node->asks, &corr, sizeof corr);
	trp__mutex_unlock(&node->asks.lock);
	/* the reply target's reference goes back to the caller untouched */
	trp__free(p, sizeof *p);
}

bool trp__node_ask_answer(struct trp_node *node, uint64_t corr, int status,
			  const void *data, size_t len)
{
	trp__mutex_lock(&node->asks.lock);
	struct pending_ask *p =
		trp__node_table_del(&node->asks, &corr, sizeof corr);
	trp__mutex_unlock(&node->asks.lock);
	if (p == NULL)
		return false;
	answer(p, status, data, len, true);
	return true;
}

static bool ask_to(const void *key, size_t klen, void *value, void *ctx)
{
	(void)key;
	(void)klen;
	const struct pending_ask *p = value;
	return trp__node_to_is(ctx, p->dst, p->dst_len);
}

void trp__node_asks_fail(struct trp_node *node, const char *dst, size_t dst_len,
			 int status)
{
	/* Taken under the lock, answered outside it (an answer may run a
	 * future's continuation, which sends). */
	struct trp__node_to t = { dst, dst_len };
	for (;;) {
		void *batch[64];
		trp__mutex_lock(&node->asks.lock);
		size_t n = trp__node_table_take(&node->asks, ask_to, &t, batch,
						64);
		trp__mutex_unlock(&node->asks.lock);
		for (size_t i = 0; i < n; i++)
			answer(batch[i], status, NULL, 0, false);
		if (n < 64)
			return;
	}
}

/* ------------------------------------------------------------------ */
/* streams, receiving side                                             */

void trp__node_stream_data(struct trp__node_stream *st,
			   const struct trp__wire_frame *f,
			   struct trp__node_seq *out)
{
	out->gap = 0;
	out->stale = 0;
	out->accept = false;
	if (f->src_inc == st->ended) {
		out->stale = f->count;
		return;
	}
	if (st->inc != f->src_inc) {
		/* a new incarnation: the old one's frames are stale from now
		 * on (a frame of it still on its way must not restart it) */
		if (st->inc != 0)
			st->ended = st->inc;
		st->inc = f->src_inc;
		st->expected = f->first_seq;
	} else if ((f->flags & TRP__WIRE_F_RESTART) != 0 &&
		   f->first_seq > st->expected) {
		/* the sender counted the hole before this frame itself */
		st->expected = f->first_seq;
	}
	if (f->first_seq < st->expected) {
		out->stale = f->count;
		return;
	}
	out->gap = f->first_seq - st->expected;
	st->expected = f->first_seq + f->count;
	out->accept = true;
}

uint64_t trp__node_stream_goodbye(struct trp__node_stream *st,
				  const struct trp__wire_frame *f)
{
	uint64_t gap = 0;
	if (st->inc == f->src_inc) {
		if (f->first_seq > st->expected)
			gap = f->first_seq - st->expected;
		st->inc = 0;
	}
	st->ended = f->src_inc;
	return gap;
}

/* ------------------------------------------------------------------ */
/* losses and statistics                                               */

void trp__node_lost(struct trp_node *node, trp_loss_cause_t cause,
		    const char *peer, size_t peer_len, uint64_t messages)
{
	if (messages == 0)
		return;
	trp__node_count(node, lost[cause], messages);
	if (node->on_loss != NULL) {
		char name[TRP_NODE_TOKEN_MAX + 1];
		size_t n = peer_len < TRP_NODE_TOKEN_MAX ? peer_len :
							   TRP_NODE_TOKEN_MAX;
		memcpy(name, peer, n);
		name[n] = '\0';
		trp_node_loss_t loss = { .cause = cause,
					 .peer = name,
					 .messages = messages };
		node->on_loss(&loss, node->loss_ctx);
	}
}

const char *trp_loss_cause_name(trp_loss_cause_t cause)
{
	switch (cause) {
	case TRP_LOSS_GAP:
		return "gap";
	case TRP_LOSS_NO_RESPONDERS:
		return "no_responders";
	case TRP_LOSS_UNSENT:
		return "unsent";
	case TRP_LOSS_STALE:
		return "stale";
	case TRP_LOSS_MALFORMED:
		return "malformed";
	case TRP_LOSS_CAUSES:
		break;
	}
	return "?";
}

int trp_node_stats(const trp_node_t *node, trp_node_stats_t *out)
{
	if (node == NULL || out == NULL)
		return TRP_EINVAL;
		/* relaxed: counters. */
#define LOAD(f) atomic_load_explicit(&node->st.f, memory_order_relaxed)
	memset(out, 0, sizeof *out);
	out->sent = LOAD(sent);
	out->received = LOAD(received);
	out->delivered = LOAD(delivered);
	out->undeliverable = LOAD(undeliverable);
	for (int i = 0; i < TRP_LOSS_CAUSES; i++)
		out->lost[i] = LOAD(lost[i]);
	out->frames_out = LOAD(frames_out);
	out->frames_in = LOAD(frames_in);
	out->bytes_out = LOAD(bytes_out);
	out->bytes_in = LOAD(bytes_in);
	out->malformed_frames = LOAD(malformed_frames);
	out->slow_consumer_frames = LOAD(slow_consumer_frames);
	out->asks_out = LOAD(asks_out);
	out->replies_in = LOAD(replies_in);
	out->peers = LOAD(peers);
	out->peers_up = LOAD(peers_up);
	out->peer_downs = LOAD(peer_downs);
	out->disconnects = LOAD(disconnects);
	out->reconnects = LOAD(reconnects);
	out->xsent = LOAD(xsent);
	out->xreceived = LOAD(xreceived);
	out->xlost = LOAD(xlost);
	out->held = LOAD(held);
	out->held_max = LOAD(held_max);
	out->windows_full = LOAD(windows_full);
	out->credits_in = LOAD(credits_in);
#undef LOAD
	return 0;
}

const char *trp_node_name(const trp_node_t *node)
{
	return node != NULL ? node->name : NULL;
}

uint64_t trp_node_incarnation(const trp_node_t *node)
{
	return node != NULL ? node->incarnation : 0;
}

size_t trp_node_max_payload(const trp_node_t *node, size_t name_len)
{
	if (node == NULL || name_len > TRP_NAME_MAX)
		return 0;
	/* The largest L with header + pad8(item + name + L) <= max_frame:
	 * the item's padded size may use every byte left, down to a
	 * multiple of 8. */
	size_t room = (node->max_frame - TRP__WIRE_HEADER) & ~(size_t)7u;
	size_t fixed = TRP__WIRE_ITEM + name_len;
	return room > fixed ? room - fixed : 0;
}

/* ------------------------------------------------------------------ */
/* waiting for a peer                                                  */

int trp_node_wait_peer(trp_node_t *node, const char *node_name,
		       int64_t timeout_ns)
{
	if (node == NULL || node_name == NULL)
		return TRP_EINVAL;
	size_t n = strnlen(node_name, TRP_NODE_TOKEN_MAX + 1);
	if (!trp__node_token_ok(node_name, n))
		return TRP_EINVAL;
	if (trp__worker_of(node->rt) != NULL)
		return TRP_EDEADLK;
	char subject[TRP__NODE_SUBJECT_MAX];
	snprintf(subject, sizeof subject, "trp.%s.n.%s.p.%s", node->cluster,
		 node_name, node->name);
	uint64_t deadline = trp__deadline(timeout_ns);
	for (;;) {
		/* One try waits up to 200 ms for the answer; "no responders"
		 * comes back at once while the peer is not subscribed. */
		/* timeout 0: one whole try */
		int64_t left = trp__remaining(timeout_ns, deadline);
		int64_t ms = left <= 0 || left > 200000000 ? 200 :
							     left / 1000000 + 1;
		natsMsg *reply = NULL;
		natsStatus s = natsConnection_Request(&reply, node->nc, subject,
						      NULL, 0, ms);
		if (s == NATS_OK && natsMsg_GetDataLength(reply) == 8) {
			/* The answer names the peer's incarnation: it is up
			 * from now on, and watched by heartbeats like any
			 * peer (a peer that dies before its first beat goes
			 * down too). */
			const unsigned char *b =
				(const unsigned char *)natsMsg_GetData(reply);
			uint64_t inc = 0;
			for (int i = 0; i < 8; i++)
				inc |= (uint64_t)b[i] << (8 * i);
			trp__node_peer_seen(node, node_name, n, inc, 0, false);
		}
		natsMsg_Destroy(reply);
		if (s == NATS_OK)
			return 0;
		if (s != NATS_NO_RESPONDERS && s != NATS_TIMEOUT)
			return TRP_ENOTCONN;
		if (trp__remaining(timeout_ns, deadline) == 0)
			return TRP_ETIMEDOUT;
		if (s == NATS_NO_RESPONDERS) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
}

/* ------------------------------------------------------------------ */
/* exports                                                             */

static int name_check(const char *name, size_t *len)
{
	if (name == NULL)
		return TRP_EINVAL;
	size_t n = strnlen(name, TRP_NAME_MAX + 1);
	if (n == 0)
		return TRP_EINVAL;
	if (n > TRP_NAME_MAX)
		return TRP_ENAMETOOLONG;
	*len = n;
	return 0;
}

int trp_node_export(trp_node_t *node, const char *name, trp_actor_t *a)
{
	size_t n;
	if (node == NULL || a == NULL)
		return TRP_EINVAL;
	int rc = name_check(name, &n);
	if (rc != 0)
		return rc;
	trp__mutex_lock(&node->exports.lock);
	if (trp__node_table_get(&node->exports, name, n) != NULL) {
		rc = TRP_EEXIST;
	} else {
		rc = trp__node_table_put(&node->exports, name, n,
					 trp_actor_retain(a));
		if (rc != 0)
			trp_actor_release(a);
	}
	trp__mutex_unlock(&node->exports.lock);
	return rc;
}

int trp_node_unexport(trp_node_t *node, const char *name)
{
	size_t n;
	if (node == NULL)
		return TRP_EINVAL;
	int rc = name_check(name, &n);
	if (rc != 0)
		return rc == TRP_ENAMETOOLONG ? TRP_ENOENT : rc;
	trp__mutex_lock(&node->exports.lock);
	trp_actor_t *a = trp__node_table_del(&node->exports, name, n);
	trp__mutex_unlock(&node->exports.lock);
	if (a == NULL)
		return TRP_ENOENT;
	trp_actor_release(a);
	return 0;
}

static void release_actor(void *value, void *ctx)
{
	(void)ctx;
	trp_actor_release(value);
}

/* ------------------------------------------------------------------ */
/* start and stop                                                      */

bool trp__node_token_ok(const char *s, size_t len)
{
	if (len == 0 || len > TRP_NODE_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool token_ok(const char *s)
{
	return s != NULL &&
	       trp__node_token_ok(s, strnlen(s, TRP_NODE_TOKEN_MAX + 1));
}

static int config_check(const trp_node_config_t *cfg)
{
	if (cfg == NULL)
		return TRP_EINVAL;
	if (cfg->version != TRP_NODE_CONFIG_VERSION)
		return TRP_EVERSION;
	if (!token_ok(cfg->cluster) || !token_ok(cfg->name))
		return TRP_EINVAL;
	if (cfg->nservers > 0 && cfg->servers == NULL)
		return TRP_EINVAL;
	for (size_t i = 0; i < cfg->nservers; i++)
		if (cfg->servers[i] == NULL || cfg->servers[i][0] == '\0')
			return TRP_EINVAL;
	if (cfg->max_frame != 0 && cfg->max_frame < MIN_FRAME)
		return TRP_EINVAL;
	if (cfg->pending_frames < 0 || cfg->pending_bytes < 0 ||
	    cfg->connect_timeout_ns < 0 || cfg->heartbeat_ns < 0 ||
	    cfg->heartbeat_ns > (int64_t)60 * 1000000000)
		return TRP_EINVAL;
	return 0;
}

static uint64_t fresh_incarnation(void)
{
	uint64_t v = 0;
	while (v == 0) {
		if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
			/* no entropy syscall: time and address still make
			 * two starts differ */
			v = trp__now_ns() ^ (uint64_t)(uintptr_t)&v;
	}
	return v;
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	struct trp_node *node = closure;
	trp__node_count(node, disconnects, 1);
	/* relaxed: a time stamp read as a hint (node_in.c). Stamped here
	 * too, not only on the reconnect: the client flushes what it
	 * buffered meanwhile as soon as it is back, and a "no responders"
	 * for it can come (on another client thread) before it runs our
	 * reconnected callback; net.cluster's restarts once saw a live peer
	 * taken down that way under ASan. */
	atomic_store_explicit(&node->conn_change_ns, trp__now_ns(),
			      memory_order_relaxed);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	struct trp_node *node = closure;
	trp__node_count(node, reconnects, 1);
	/* relaxed: as in on_disconnected. */
	atomic_store_explicit(&node->conn_change_ns, trp__now_ns(),
			      memory_order_relaxed);
}

/* Called last of all the connection's callbacks (the client runs them in
 * order on one thread): after it, none uses the node again. */
static void on_closed(natsConnection *nc, void *closure)
{
	(void)nc;
	struct trp_node *node = closure;
	/* release: pairs with close_nats's acquire wait. */
	atomic_store_explicit(&node->nats_closed, 1, memory_order_release);
	trp__futex_wake(&node->nats_closed, 1);
}

static int connect_nats(struct trp_node *node, const trp_node_config_t *cfg)
{
	natsOptions *o = NULL;
	static const char *const dflt[] = { DEFAULT_SERVER };
	const char *const *servers = cfg->nservers > 0 ? cfg->servers : dflt;
	int nservers = cfg->nservers > 0 ? (int)cfg->nservers : 1;
	int64_t timeout = cfg->connect_timeout_ns > 0 ?
				  cfg->connect_timeout_ns :
				  DEFAULT_CONNECT_NS;
	char cname[2 * TRP_NODE_TOKEN_MAX + 8];
	snprintf(cname, sizeof cname, "trp.%s.%s", node->cluster, node->name);
	natsStatus s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)servers, nservers);
	/* A frame leaves at once: the outbound thread already batched it
	 * (without this, a publish waits ~1 ms for the flusher thread). */
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, cname);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, timeout / 1000000 + 1);
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, node);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, node);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, on_closed, node);
	/* Our loop reads and writes the socket (node_loop.c). */
	if (s == NATS_OK)
		s = trp__node_loop_options(node, o);
	if (s == NATS_OK)
		s = natsConnection_Connect(&node->nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK)
		return 0;
	node->nc = NULL;
	return s == NATS_NO_MEMORY ? TRP_ENOMEM : TRP_ENOTCONN;
}

static int subscribe(struct trp_node *node, const trp_node_config_t *cfg)
{
	snprintf(node->sub_subject, sizeof node->sub_subject, "trp.%s.n.%s.>",
		 node->cluster, node->name);
	natsStatus s = natsConnection_SubscribeSync(&node->sub, node->nc,
						    node->sub_subject);
	snprintf(node->nr_subject, sizeof node->nr_subject, "trp.%s.r.%s.>",
		 node->cluster, node->name);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&node->nr_sub, node->nc,
					     node->nr_subject,
					     trp__node_on_no_responders, node);
	snprintf(node->hb_prefix, sizeof node->hb_prefix, "trp.%s.hb.",
		 node->cluster);
	snprintf(node->hb_subject, sizeof node->hb_subject, "trp.%s.hb.%s",
		 node->cluster, node->name);
	char hb_all[TRP__NODE_SUBJECT_MAX];
	snprintf(hb_all, sizeof hb_all, "trp.%s.hb.*", node->cluster);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&node->hb_sub, node->nc, hb_all,
					     trp__node_on_beat, node);
	snprintf(node->x_prefix, sizeof node->x_prefix, "trp.%s.x.",
		 node->cluster);
	char x_all[TRP__NODE_SUBJECT_MAX];
	snprintf(x_all, sizeof x_all, "trp.%s.x.>", node->cluster);
	if (s == NATS_OK)
		s = natsConnection_Subscribe(&node->x_sub, node->nc, x_all,
					     trp__node_on_exchange, node);
	if (s == NATS_OK && (cfg->pending_frames > 0 || cfg->pending_bytes > 0))
		s = natsSubscription_SetPendingLimits(
			node->sub,
			cfg->pending_frames > 0 ? cfg->pending_frames : 65536,
			cfg->pending_bytes > 0 ? cfg->pending_bytes :
						 (int64_t)64 << 20);
	/* The server knows the subscription before start returns, so a peer
	 * that sends to us afterwards never gets "no responders". */
	if (s == NATS_OK)
		s = natsConnection_FlushTimeout(node->nc, 5000);
	return s == NATS_OK ? 0 : TRP_ENOTCONN;
}

static void node_free(struct trp_node *node)
{
	trp__node_peers_fini(node);
	trp__node_xstreams_free(node);
	trp__node_table_free(&node->bridges);
	trp__node_table_clear(&node->restarts, NULL, NULL);
	trp__node_table_free(&node->restarts);
	trp__node_watches_drop(node, NULL, 0);
	trp__node_table_free(&node->watches);
	if (node->agent != NULL)
		trp_actor_release(node->agent);
	if (node->out != NULL)
		trp_actor_release(node->out);
	trp__node_out_free(node);
	trp__node_table_free(&node->proxies);
	trp__node_table_free(&node->exports);
	trp__node_table_free(&node->asks);
	trp__free(node, sizeof *node);
}

void trp__node_unref(struct trp_node *node)
{
	/* acq_rel: every user's writes happen before the free. */
	if (atomic_fetch_sub_explicit(&node->refs, 1, memory_order_acq_rel) ==
	    1)
		node_free(node);
}

/* Drained, an asynchronous subscription's callback has returned for the
 * last time (it uses the node, which is freed after this). */
static void drain_async(natsSubscription **sub)
{
	if (*sub == NULL)
		return;
	if (natsSubscription_Drain(*sub) == NATS_OK)
		(void)natsSubscription_WaitForDrainCompletion(*sub, 2000);
	else
		natsSubscription_Unsubscribe(*sub);
	natsSubscription_Destroy(*sub);
	*sub = NULL;
}

static void close_nats(struct trp_node *node)
{
	trp__node_in_quiet(node); /* before node->sub goes */
	drain_async(&node->nr_sub);
	drain_async(&node->hb_sub);
	drain_async(&node->x_sub);
	if (node->sub != NULL) {
		natsSubscription_Unsubscribe(node->sub);
		natsSubscription_Destroy(node->sub);
		node->sub = NULL;
	}
	if (node->nc != NULL) {
		natsConnection_Close(node->nc);
		/* The client runs the connection's callbacks (disconnected,
		 * closed) later on a thread of its own, and Destroy does not
		 * wait for them: wait for the closed one, the last, before
		 * the node can be freed (bounded: a client that never calls
		 * it would leave us here for 5 s, then we leak the node
		 * rather than free memory it may still write). */
		uint64_t deadline = trp__deadline(5000000000);
		/* acquire: pairs with on_closed's release store. */
		while (atomic_load_explicit(&node->nats_closed,
					    memory_order_acquire) == 0) {
			int64_t left = trp__remaining(5000000000, deadline);
			if (left == 0) {
				/* relaxed: our own reference keeps it. */
				atomic_fetch_add_explicit(&node->refs, 1,
							  memory_order_relaxed);
				break;
			}
			trp__futex_wait(&node->nats_closed, 0, left);
		}
	}
	/* The loop ran until the connection closed (a close flushes and
	 * waits for the server's answer, which the loop reads). */
	trp__node_in_join(node);
	if (node->nc != NULL) {
		natsConnection_Destroy(node->nc);
		node->nc = NULL;
	}
	trp__node_loop_fini(node);
}

int trp_node_start(trp_runtime_t *rt, const trp_node_config_t *cfg,
		   trp_node_t **out)
{
	if (rt == NULL || out == NULL)
		return TRP_EINVAL;
	int rc = config_check(cfg);
	if (rc != 0)
		return rc;
	rc = trp__runtime_blocking_call(rt);
	if (rc != 0)
		return rc;
	if (rt->sim != NULL)
		return TRP_ENOTSUP; /* threads and sockets of its own */
	struct nodes_state *ns = nodes_of(rt);
	trp__mutex_lock(&ns->lock);
	bool taken = ns->claimed;
	ns->claimed = true;
	trp__mutex_unlock(&ns->lock);
	if (taken)
		return TRP_EEXIST;

	struct trp_node *node = trp__calloc(1, sizeof *node);
	if (node == NULL) {
		rc = TRP_ENOMEM;
		goto unclaim;
	}
	node->rt = rt;
	strcpy(node->cluster, cfg->cluster);
	strcpy(node->name, cfg->name);
	node->name_len = strlen(node->name);
	node->hb_interval = cfg->heartbeat_ns > 0 ?
				    (uint64_t)cfg->heartbeat_ns :
				    DEFAULT_HEARTBEAT_NS;
	node->hb_misses = cfg->heartbeat_misses > 0 ? cfg->heartbeat_misses :
						      DEFAULT_HEARTBEAT_MISSES;
	node->incarnation = fresh_incarnation();
	node->proxy_mailbox = cfg->proxy_mailbox != 0 ? cfg->proxy_mailbox :
							DEFAULT_PROXY_MAILBOX;
	node->credit_window = cfg->credit_window == TRP_NODE_CREDIT_OFF ? 0 :
			      cfg->credit_window != 0 ? cfg->credit_window :
							DEFAULT_CREDIT_WINDOW;
	node->on_loss = cfg->on_loss;
	node->loss_ctx = cfg->loss_ctx;
	atomic_init(&node->refs, 1);
	atomic_init(&node->next_corr, 1);

	node->loop.bell = -1;
	rc = trp__node_loop_init(node);
	if (rc != 0)
		goto free_node;
	/* The inbound thread runs the connection's loop: first. */
	rc = trp__node_in_start(node);
	if (rc != 0) {
		trp__node_loop_fini(node);
		goto free_node;
	}
	rc = connect_nats(node, cfg);
	if (rc != 0)
		goto close;
	size_t server_max = (size_t)natsConnection_GetMaxPayload(node->nc);
	node->max_frame = cfg->max_frame != 0 && cfg->max_frame < server_max ?
				  cfg->max_frame :
				  server_max;
	if (node->max_frame < MIN_FRAME) {
		rc = TRP_ENOTCONN; /* a server that takes no useful frame */
		goto close;
	}
	rc = subscribe(node, cfg);
	if (rc != 0)
		goto close;
	rc = trp__node_watch_start(node);
	if (rc != 0)
		goto close;
	rc = trp__node_out_start(node);
	if (rc != 0)
		goto close;
	trp__node_in_ready(node);
	rc = trp__node_peers_start(node);
	if (rc != 0) {
		trp__node_in_stop(node, trp__deadline(DEFAULT_STOP_NS));
		trp__node_out_stop(node, trp__deadline(DEFAULT_STOP_NS));
		goto close;
	}
	trp__mutex_lock(&ns->lock);
	ns->node = node;
	trp__mutex_unlock(&ns->lock);
	*out = node;
	return 0;

close:
	trp__node_watch_stop(node);
	close_nats(node);
free_node:
	trp__node_unref(node);
unclaim:
	trp__mutex_lock(&ns->lock);
	ns->claimed = false;
	trp__mutex_unlock(&ns->lock);
	return rc;
}

int trp_node_stop(trp_node_t *node, int64_t timeout_ns)
{
	return trp_node_stop_ex(node, timeout_ns, NULL);
}

int trp_node_stop_ex(trp_node_t *node, int64_t timeout_ns,
		     trp_node_stats_t *final)
{
	if (node == NULL)
		return TRP_EINVAL;
	if (trp__worker_of(node->rt) != NULL)
		return TRP_EDEADLK;
	uint32_t was = 0;
	/* acq_rel: one stop; trp_node_proxy sees it under its lock too. */
	if (!atomic_compare_exchange_strong_explicit(&node->stopping, &was, 1,
						     memory_order_acq_rel,
						     memory_order_acquire))
		return TRP_EINVAL;
	uint64_t deadline =
		trp__deadline(timeout_ns < 0 ? DEFAULT_STOP_NS : timeout_ns);
	if (deadline == 0)
		deadline = trp__now_ns();

	/* 1. Proxies hand what they hold to the outbound thread; 2. it
	 * frames and publishes everything and says goodbye; 3. the inbound
	 * thread stops taking frames. */
	trp__node_proxies_close(node, deadline);
	trp__node_bridges_stop(node);
	trp__node_out_stop(node, deadline);
	trp__node_in_stop(node, deadline);
	trp__node_peers_stop(node);
	trp__node_watch_stop(node);
	close_nats(node);
	/* Asks whose answer can no longer come. */
	trp__node_asks_fail(node, NULL, 0, TRP_ENOTCONN);
	if (final != NULL)
		(void)trp_node_stats(node, final);

	trp__mutex_lock(&node->exports.lock);
	trp__node_table_clear(&node->exports, release_actor, NULL);
	trp__mutex_unlock(&node->exports.lock);

	struct nodes_state *ns = nodes_of(node->rt);
	trp__mutex_lock(&ns->lock);
	ns->node = NULL;
	ns->claimed = false;
	trp__mutex_unlock(&ns->lock);
	trp__node_unref(node);
	return 0;
}
