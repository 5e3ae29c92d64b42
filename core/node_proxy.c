/*
 * core/node_proxy.c - proxies: local addresses of remote actors.
 *
 * A proxy is an event actor of its own kind: a bounded mailbox (so a
 * sender to a remote actor gets TRP_EFULL or is muted exactly as with a
 * local bounded actor) and an admit hook that refuses a payload no frame
 * can carry (TRP_EMSGSIZE at the send, not a loss later). Its behaviour
 * wraps each message for the outbound thread; a request's reply target
 * moves into the node's pending asks (node.c) under a correlation id that
 * the REPLY item echoes.
 *
 * Order: a sender's messages to one proxy are processed in order by its
 * turns, which send them in that order to the one outbound thread, which
 * frames them in that order into the one stream to the proxy's node.
 *
 * The node's table holds one reference to each proxy and gives the same
 * proxy for the same (node, name) while it lives; each proxy holds a
 * reference to the node (its stop hook drops it), so a proxy running a
 * late turn never sees freed node memory.
 */
#include <string.h>

#include "alloc.h"
#include "dead_letter.h"
#include "message.h"
#include "node.h"
#include "request.h"
#include "runtime.h"
#include "send.h"
#include "worker.h"

struct proxy {
	struct trp_node *node;
	struct trp__node_gate *gate; /* flow control (NULL: off) */
	/* a WATCH is outstanding (node_watch.c): set by the first monitor or
	 * link, cleared when the DOWN comes back */
	_Atomic(uint32_t) watching;
	size_t max_payload;
	uint8_t dst_len;
	uint16_t name_len;
	char dst[TRP_NODE_TOKEN_MAX];
	char name[TRP_NAME_MAX];
};

static int proxy_forward(struct trp_actor *to, uint32_t type, const void *data,
			 size_t len, const struct trp__send_opts *opt);

static int proxy_admit(const struct trp_actor *to, size_t len)
{
	const struct proxy *p = to->state;
	if (len > p->max_payload)
		return TRP_EMSGSIZE;
	return p->gate != NULL ? trp__node_gate_admit(p->node, p->gate) : 0;
}

static void proxy_watched(struct trp_actor *a)
{
	struct proxy *p = a->state;
	/* acq_rel: one WATCH per outstanding period; pairs with
	 * trp__node_proxy_unwatched's release. */
	if (atomic_exchange_explicit(&p->watching, 1, memory_order_acq_rel) ==
	    0)
		trp__node_proxy_watch(p->node, p->dst, p->dst_len, p->name,
				      p->name_len, a->id);
}

void trp__node_proxy_unwatched(struct trp_actor *a)
{
	struct proxy *p = a->state;
	/* release: pairs with proxy_watched's acq_rel exchange. */
	atomic_store_explicit(&p->watching, 0, memory_order_release);
}

/* A linked actor stopped: the exit signal goes to the real target, behind
 * what this proxy holds (node_watch.c). */
static void proxy_link_exit(struct trp_actor *a, uint64_t from,
			    trp_stop_reason_t why, int32_t code)
{
	struct proxy *p = a->state;
	/* relaxed: a proxy that stopped forwards nothing (its stop hook
	 * may have let go of the node); one stopping meanwhile refuses the
	 * signal's send. */
	if (atomic_load_explicit(&a->lifecycle, memory_order_relaxed) !=
	    TRP__ALIVE)
		return;
	trp__node_proxy_exit(p->node, a, p->dst, p->dst_len, p->name,
			     p->name_len, from, why, code);
}

/* A link with @peer is made (@on) or removed: mirrored on the target's
 * node (node_watch.c); a link's WATCH serves the monitors too. */
static void proxy_linked(struct trp_actor *a, uint64_t peer, bool on)
{
	struct proxy *p = a->state;
	if (on)
		/* acq_rel: as proxy_watched's exchange. */
		(void)atomic_exchange_explicit(&p->watching, 1,
					       memory_order_acq_rel);
	trp__node_proxy_link(p->node, p->dst, p->dst_len, p->name, p->name_len,
			     a->id, peer, on);
}

/* Remote proxies: event actors (turns on the workers), bounded, with a
 * size check at the send; monitors and links on them watch the remote
 * actor, and links pass exit signals on to it. */
static const struct trp__actor_kind kind_proxy = {
	.name = "proxy",
	.wake = NULL,
	.batches = true,
	.admit = proxy_admit,
	.watched = proxy_watched,
	.link_exit = proxy_link_exit,
	.linked = proxy_linked,
	.forward = proxy_forward,
};

/* The request inside @msg, taken over by the caller (its reference moves
 * out of the message: the turn no longer answers it TRP_ENOREPLY), or
 * NULL for a one-way message. */
static struct trp__reply_to *take_request(const trp_msg_t *msg)
{
	/* Requests are never bundled (send.c), so a request is always the
	 * message the turn is handling on its own. */
	if (msg != trp__current_msg)
		return NULL;
	struct trp__msg *m =
		(struct trp__msg *)(void *)((char *)msg -
					    offsetof(struct trp__msg, pub));
	if (m->request != TRP__REQ_PENDING)
		return NULL;
	struct trp__reply_to *r = m->u.reply;
	m->request = TRP__REQ_ANSWERED;
	m->u.reply = NULL;
	return r;
}

static void proxy_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct proxy *p = state;
	struct trp_node *node = p->node;
	if (trp__node_watch_marker(msg))
		return; /* a remote DOWN or an EXIT passing through */
	struct trp__node_out h = {
		.op = TRP__WIRE_SEND,
		.name_len = p->name_len,
		.type = msg->type,
		.len = (uint32_t)msg->size,
		.status = msg->status,
	};
	struct trp__reply_to *r = take_request(msg);
	if (r != NULL) {
		uint64_t corr;
		int rc = trp__node_ask_file(node, r, p->dst, p->dst_len, &corr);
		if (rc != 0) {
			trp__reply_answer(r, 0, rc, NULL, 0, false);
			return;
		}
		h.op = TRP__WIRE_ASK;
		h.corr = corr;
		h.ref = trp_actor_id(self);
		trp__node_count(node, asks_out, 1);
	}
	int rc = trp__node_out_item_gated(node, p->gate, p->dst, p->dst_len, &h,
					  p->name, msg->data);
	if (rc == 0) {
		trp__node_count(node, sent, 1);
		return;
	}
	/* The outbound thread is gone (the node is stopping and this proxy
	 * was killed late): the message never left. */
	if (r != NULL)
		(void)trp__node_ask_answer(node, h.corr, TRP_ENOTCONN, NULL, 0);
	else
		trp__dead_letter_unsent(node->rt, trp__worker_of(node->rt),
					self, msg, TRP_DEAD_STOPPED);
}

/* The kind's forward: a send that found the proxy idle goes to the
 * outbound thread at once, in the sender's thread (actor.h). */
static int proxy_forward(struct trp_actor *to, uint32_t type, const void *data,
			 size_t len, const struct trp__send_opts *opt)
{
	if (opt->sys != NULL)
		return TRP__FORWARD_DECLINED; /* markers, DOWNs: a turn */
	struct proxy *p = to->state;
	struct trp_node *node = p->node;
	struct trp__node_out h = {
		.op = TRP__WIRE_SEND,
		.name_len = p->name_len,
		.type = type,
		.len = (uint32_t)len,
		.status = opt->status <= 0 ? opt->status : 0,
	};
	if (opt->reply != NULL) {
		uint64_t corr;
		int rc = trp__node_ask_file(node, opt->reply, p->dst,
					    p->dst_len, &corr);
		if (rc != 0)
			return rc; /* the reply target stays the caller's */
		h.op = TRP__WIRE_ASK;
		h.corr = corr;
		h.status = 0;
		h.ref = to->id;
	}
	int rc = trp__node_out_item_gated(node, p->gate, p->dst, p->dst_len, &h,
					  p->name, data);
	if (rc != 0) {
		if (opt->reply != NULL)
			/* a failed send keeps nothing: the caller keeps its
			 * reply target (and gets no future) */
			trp__node_ask_unfile(node, h.corr);
		return TRP_EDEAD; /* the node is stopping */
	}
	trp__node_count(node, sent, 1);
	if (h.op == TRP__WIRE_ASK)
		trp__node_count(node, asks_out, 1);
	if (opt->owned_free != NULL)
		opt->owned_free((void *)data);
	return 0;
}

static void proxy_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	(void)self;
	(void)why;
	struct proxy *p = state;
	trp__node_unref(p->node);
}

/* Table key: node name, a NUL, actor name. */
static size_t make_key(char *key, const char *dst, size_t dst_len,
		       const char *name, size_t name_len)
{
	memcpy(key, dst, dst_len);
	key[dst_len] = '\0';
	memcpy(key + dst_len + 1, name, name_len);
	return dst_len + 1 + name_len;
}

static bool stopped(struct trp_actor *a)
{
	/* acquire: pairs with the consumer's STOPPED store. */
	return atomic_load_explicit(&a->lifecycle, memory_order_acquire) ==
	       TRP__STOPPED;
}

int trp_node_proxy(trp_node_t *node, const char *node_name,
		   const char *actor_name, trp_actor_t **out)
{
	if (node == NULL || node_name == NULL || actor_name == NULL ||
	    out == NULL)
		return TRP_EINVAL;
	size_t dst_len = strnlen(node_name, TRP_NODE_TOKEN_MAX + 1);
	if (!trp__node_token_ok(node_name, dst_len))
		return TRP_EINVAL;
	size_t name_len = strnlen(actor_name, TRP_NAME_MAX + 1);
	if (name_len == 0)
		return TRP_EINVAL;
	if (name_len > TRP_NAME_MAX)
		return TRP_ENAMETOOLONG;
	char key[TRP_NODE_TOKEN_MAX + 1 + TRP_NAME_MAX];
	size_t klen = make_key(key, node_name, dst_len, actor_name, name_len);

	struct proxy init = {
		.node = node,
		.gate = trp__node_gate_get(node, node_name, dst_len),
		.max_payload = trp_node_max_payload(node, name_len),
		.dst_len = (uint8_t)dst_len,
		.name_len = (uint16_t)name_len,
	};
	memcpy(init.dst, node_name, dst_len);
	memcpy(init.name, actor_name, name_len);
	trp_actor_def_t def = {
		.behavior = proxy_behavior,
		.stop = proxy_stop,
		.state_size = sizeof(struct proxy),
		.mailbox_limit = node->proxy_mailbox,
	};

	int rc = 0;
	trp__mutex_lock(&node->proxies.lock);
	/* acquire: trp_node_stop's CAS; under the lock, so once stop has
	 * emptied the table no proxy is added behind it. */
	if (atomic_load_explicit(&node->stopping, memory_order_acquire) != 0) {
		rc = TRP_ESHUTDOWN;
		goto unlock;
	}
	struct trp_actor *a = trp__node_table_get(&node->proxies, key, klen);
	/* relaxed: a proxy closed or killed meanwhile is replaced by the
	 * next call; its sends already return TRP_EDEAD. */
	if (a != NULL &&
	    atomic_load_explicit(&a->lifecycle, memory_order_relaxed) ==
		    TRP__ALIVE) {
		*out = trp_actor_retain(a);
		goto unlock;
	}
	if (a != NULL) {
		/* closed or killed by a user: a fresh one replaces it */
		(void)trp__node_table_del(&node->proxies, key, klen);
		trp_actor_release(a);
	}
	/* relaxed: the node's own reference keeps it above 0 here. */
	atomic_fetch_add_explicit(&node->refs, 1, memory_order_relaxed);
	rc = trp__actor_create(node->rt, &def, &init, &kind_proxy, &a);
	if (rc != 0) {
		atomic_fetch_sub_explicit(&node->refs, 1, memory_order_relaxed);
		goto unlock;
	}
	rc = trp__node_table_put(&node->proxies, key, klen, a);
	if (rc != 0) {
		/* Its stop hook drops the node reference. */
		(void)trp_actor_close(a);
		trp_actor_release(a);
		goto unlock;
	}
	*out = trp_actor_retain(a);
unlock:
	trp__mutex_unlock(&node->proxies.lock);
	return rc;
}

static bool proxy_to(const void *key, size_t klen, void *value, void *ctx)
{
	(void)value;
	return trp__node_to_key(ctx, key, klen);
}

void trp__node_proxies_kill(struct trp_node *node, const char *dst,
			    size_t dst_len, trp_stop_reason_t why)
{
	struct trp__node_to t = { dst, dst_len };
	for (;;) {
		void *batch[64];
		trp__mutex_lock(&node->proxies.lock);
		size_t n = trp__node_table_take(&node->proxies, proxy_to, &t,
						batch, 64);
		trp__mutex_unlock(&node->proxies.lock);
		for (size_t i = 0; i < n; i++) {
			/* Its monitors get DOWN(@why), its links the exit
			 * signal; what it still holds is dead-lettered. */
			(void)trp__actor_kill(batch[i], why);
			trp_actor_release(batch[i]);
		}
		if (n < 64)
			return;
	}
}

struct collect {
	struct trp_actor **v;
	size_t n, cap;
};

static void collect(void *value, void *ctx)
{
	struct collect *c = ctx;
	if (c->n < c->cap)
		c->v[c->n++] = value;
	else
		/* no memory for the list: close it now, let it go */
		(void)trp_actor_close(value), trp_actor_release(value);
}

void trp__node_proxies_close(struct trp_node *node, uint64_t deadline)
{
	trp__mutex_lock(&node->proxies.lock);
	struct collect c = { .cap = node->proxies.n };
	c.v = c.cap != 0 ? trp__alloc(c.cap * sizeof *c.v) : NULL;
	if (c.v == NULL)
		c.cap = 0;
	trp__node_table_clear(&node->proxies, collect, &c);
	trp__mutex_unlock(&node->proxies.lock);

	/* A closed proxy takes what was sent before the close, forwards it
	 * to the outbound thread, then stops. */
	for (size_t i = 0; i < c.n; i++)
		(void)trp_actor_close(c.v[i]);
	for (size_t i = 0; i < c.n; i++) {
		while (!stopped(c.v[i]) && trp__now_ns() < deadline)
			trp__thread_yield();
		if (!stopped(c.v[i]))
			/* out of time: what it still holds is dead-lettered
			 * (TRP_DEAD_KILLED) */
			(void)trp_actor_kill(c.v[i]);
		trp_actor_release(c.v[i]);
	}
	trp__free(c.v, c.cap * sizeof *c.v);
	/* The table stays (empty) until the node is freed (node_free): the
	 * inbound thread still looks names up in it until it stops (TSan
	 * saw a DOWN's lookup race a free here). */
}
