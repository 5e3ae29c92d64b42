/*
 * core/node_watch.c - remote monitors and links: a monitor (or link) on a
 * proxy is one on the remote actor (troupe/node.h, "Monitors and links on
 * proxies").
 *
 * On node A, the first monitor or link made on the proxy P for (B, "t")
 * (the proxy kind's `watched` hook) sends a WATCH item for "t" with P's id
 * to B; one is outstanding per proxy at a time. On B, the inbound thread
 * resolves "t" and monitors it on A's behalf, with the node's agent actor
 * as the watcher (a name that resolves to nothing answers DOWN(noproc)
 * at once). When "t" stops, the agent turns its DOWN into a DOWN item for
 * A carrying the real reason and code; A's inbound thread fires P's
 * monitors and links with them (monitor.h: trp__monitors_fire), so each
 * of P's watchers gets exactly one DOWN. If B goes down first, P is
 * killed with TRP_STOP_NOCONNECTION (node_peers.c): the same monitors fire
 * once with that reason, and whichever comes first wins (the monitor
 * layer's state machine).
 *
 * Order: the DOWN comes after the target's last message to A. Those
 * messages may still sit in B's proxies to A when the target stops, so
 * the DOWN does not go to the outbound thread directly: a marker (a
 * system message) walks through every proxy of B to A, each forwarding
 * everything it had before the marker first, and the last one hands the
 * DOWN item to the outbound thread, behind all of them.
 *
 * Records (B side: monitor ref -> who watches, and a reference to the
 * target) live in node->watches under its lock; a watcher node that goes
 * down, and the node's stop, drop its records (demonitor).
 *
 * Links: a link of a local actor L with P is a link of the two on A (the
 * DOWN fires it like P's monitors), mirrored on B: the link's WATCH
 * carries L's id, which B files in the record's set of links (a WATCH for
 * a proxy that has a record adds to it), and trp_unlink's UNLINK takes it
 * out. If A goes down, B signals each link still filed with
 * TRP_STOP_NOCONNECTION (trp__node_watches_drop). When L stops, monitor.c
 * hands the exit signal for P to the proxy kind's link_exit hook: an
 * exit_sig system message goes through P's mailbox (behind what L sent
 * through P), and P's turn turns it into an EXIT item for "t" with P's
 * id. B finds the record of (A, P's id), takes L out of its links and
 * gives the target the exit signal by the local rule (monitor.h:
 * trp__link_signal); without the record or the link (the target stopped
 * meanwhile, the WATCH failed, or the link is gone) the EXIT changes
 * nothing, so a new actor under the same name is never killed for the old
 * one's link.
 */
#include <string.h>

#include "alloc.h"
#include "message.h"
#include "monitor.h"
#include "node.h"
#include "send.h"
#include "troupe/monitor.h"

#define AGENT_DOWN 1u /* the agent's DOWN messages */

/* B side: a monitor made for a remote proxy. */
struct watch {
	uint8_t peer_len;
	uint16_t name_len;
	uint64_t proxy_id;	  /* on the watching node */
	struct trp_actor *target; /* one reference (exit signals) */
	uint64_t *links;	  /* the watching node's actors linked to the
				     proxy (their ids), a set */
	uint32_t nlinks, clinks;
	char peer[TRP_NODE_TOKEN_MAX];
	char name[TRP_NAME_MAX];
};

/* The DOWN on its way through B's proxies to the watching node. */
struct marker {
	struct trp__sys_msg sys; /* first: messages point here */
	_Atomic(uint32_t) refs;
	struct trp_node *node; /* one reference */
	struct watch w;
	int32_t reason, code;
	size_t n, next;		   /* chain[next] gets it next */
	struct trp_actor *chain[]; /* proxies to w.peer, one reference each */
};

static void marker_unref(struct marker *m)
{
	/* acq_rel: the last holder frees it after every other's use. */
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < m->n; i++)
		trp_actor_release(m->chain[i]);
	trp__node_unref(m->node);
	trp__free(m, sizeof *m + m->n * sizeof m->chain[0]);
}

static bool marker_admit(struct trp__sys_msg *s)
{
	(void)s;
	return true;
}

/* Frees a record (B side). */
static void watch_free(struct watch *w)
{
	if (w->target != NULL)
		trp_actor_release(w->target);
	trp__free(w->links, w->clinks * sizeof w->links[0]);
	trp__free(w, sizeof *w);
}

/* Adds @id to @w's links (a set); false: no memory. Under the lock. */
static bool watch_link(struct watch *w, uint64_t id)
{
	for (uint32_t i = 0; i < w->nlinks; i++)
		if (w->links[i] == id)
			return true;
	if (w->nlinks == w->clinks) {
		uint32_t c = w->clinks != 0 ? 2 * w->clinks : 2;
		uint64_t *v = trp__alloc(c * sizeof *v);
		if (v == NULL)
			return false;
		if (w->nlinks != 0)
			memcpy(v, w->links, w->nlinks * sizeof *v);
		trp__free(w->links, w->clinks * sizeof *v);
		w->links = v;
		w->clinks = c;
	}
	w->links[w->nlinks++] = id;
	return true;
}

/* Removes @id from @w's links; false if it was not there. Under the
 * lock. */
static bool watch_unlink(struct watch *w, uint64_t id)
{
	for (uint32_t i = 0; i < w->nlinks; i++)
		if (w->links[i] == id) {
			w->links[i] = w->links[--w->nlinks];
			return true;
		}
	return false;
}

/* A record of proxy @proxy_id of node @src holding the link of @link (0:
 * any record), or NULL. Under the lock; a scan: links and exit signals
 * are as rare as the stops of linked actors. (A monitor's WATCH racing a
 * link's may file two records for one proxy.) */
static struct watch *watch_find(struct trp_node *node, const char *src,
				size_t src_len, uint64_t proxy_id,
				uint64_t link)
{
	for (size_t i = 0; i < node->watches.nb; i++)
		for (struct trp__node_hash_entry *e = node->watches.b[i];
		     e != NULL; e = e->next) {
			struct watch *w = e->value;
			if (w->proxy_id != proxy_id || w->peer_len != src_len ||
			    memcmp(w->peer, src, src_len) != 0)
				continue;
			for (uint32_t k = 0; link != 0 && k < w->nlinks; k++)
				if (w->links[k] == link)
					return w;
			if (link == 0)
				return w;
		}
	return NULL;
}

static void marker_release(struct trp__sys_msg *s)
{
	marker_unref((struct marker *)(void *)s);
}

static const struct trp__sys_ops marker_ops = {
	.admit = marker_admit,
	.release = marker_release,
};

/* Sends the DOWN item itself (the marker's walk is over). */
static void down_item(struct trp_node *node, const struct watch *w,
		      int32_t reason, int32_t code)
{
	struct trp__node_out h = {
		.op = TRP__WIRE_DOWN,
		.name_len = w->name_len,
		.type = (uint32_t)code,
		.status = reason,
		.ref = w->proxy_id,
	};
	if (trp__node_out_item(node, w->peer, w->peer_len, &h, w->name, NULL) ==
	    0)
		trp__node_count(node, sent, 1);
}

/* Hands @m to the next proxy of its chain that takes it, or, at the end,
 * sends the DOWN item. Consumes the caller's reference. */
static void marker_walk(struct marker *m)
{
	while (m->next < m->n) {
		struct trp_actor *p = m->chain[m->next++];
		/* relaxed: the reference below is published by the send. */
		atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
		struct trp__send_opts o = { .sys = &m->sys, .now = true };
		if (trp__actor_send(p, 0, NULL, 0, &o) == 0) {
			marker_unref(m); /* the message holds one now */
			return;
		}
		/* that proxy is gone: it holds nothing of the target's */
		/* relaxed: we still hold our own reference. */
		atomic_fetch_sub_explicit(&m->refs, 1, memory_order_relaxed);
	}
	down_item(m->node, &m->w, m->reason, m->code);
	marker_unref(m);
}

/* A local actor linked to a proxy stopped: its exit signal on the way
 * through the proxy (A side), so that it follows what the proxy holds. */
struct exit_sig {
	struct trp__sys_msg sys; /* first: the message points here */
	struct trp_node *node;	 /* one reference */
	uint64_t proxy_id, from;
	int32_t reason, code;
	uint8_t dst_len;
	uint16_t name_len;
	char dst[TRP_NODE_TOKEN_MAX];
	char name[TRP_NAME_MAX];
};

static void exit_release(struct trp__sys_msg *s)
{
	struct exit_sig *x = (struct exit_sig *)(void *)s;
	trp__node_unref(x->node);
	trp__free(x, sizeof *x);
}

static const struct trp__sys_ops exit_ops = {
	.admit = marker_admit,
	.release = exit_release,
};

void trp__node_proxy_exit(struct trp_node *node, struct trp_actor *proxy,
			  const char *dst, size_t dst_len, const char *name,
			  size_t name_len, uint64_t from, trp_stop_reason_t why,
			  int32_t code)
{
	struct exit_sig *x = trp__alloc(sizeof *x);
	if (x == NULL)
		return; /* as a link that could not be told (no memory) */
	x->sys.ops = &exit_ops;
	/* relaxed: the proxy's reference keeps the node above 0 here. */
	atomic_fetch_add_explicit(&node->refs, 1, memory_order_relaxed);
	x->node = node;
	x->proxy_id = proxy->id;
	x->from = from;
	x->reason = (int32_t)why;
	x->code = code;
	x->dst_len = (uint8_t)dst_len;
	x->name_len = (uint16_t)name_len;
	memcpy(x->dst, dst, dst_len);
	memcpy(x->name, name, name_len);
	struct trp__send_opts o = { .sys = &x->sys, .now = true };
	/* A proxy that stopped meanwhile (its node went down, the node
	 * stops) reaches nobody: the signal goes with it. */
	if (trp__actor_send(proxy, 0, NULL, 0, &o) != 0)
		exit_release(&x->sys);
}

/* On the proxy's turn: everything it had before the signal has been
 * handed to the outbound thread; the EXIT item follows. */
static void exit_item(const struct exit_sig *x)
{
	struct trp__node_out h = {
		.op = TRP__WIRE_EXIT,
		.name_len = x->name_len,
		.type = (uint32_t)x->code,
		.status = x->reason,
		.ref = x->proxy_id,
		.corr = x->from,
	};
	if (trp__node_out_item(x->node, x->dst, x->dst_len, &h, x->name,
			       NULL) == 0)
		trp__node_count(x->node, sent, 1);
}

bool trp__node_watch_marker(const trp_msg_t *msg)
{
	if (msg != trp__current_msg)
		return false;
	struct trp__msg *m =
		(struct trp__msg *)(void *)((char *)msg -
					    offsetof(struct trp__msg, pub));
	if (m->hold != TRP__HOLD_SYS || m->u.sys == NULL)
		return false;
	if (m->u.sys->ops == &exit_ops) {
		exit_item((const struct exit_sig *)(const void *)m->u.sys);
		return true;
	}
	if (m->u.sys->ops != &marker_ops)
		return false;
	struct marker *mk = (struct marker *)(void *)m->u.sys;
	/* Everything this proxy had before the marker has been handed to
	 * the outbound thread: pass it on (with a reference of our own;
	 * the message's is dropped after this behaviour). */
	/* relaxed: the message's reference keeps it above 0 here. */
	atomic_fetch_add_explicit(&mk->refs, 1, memory_order_relaxed);
	marker_walk(mk);
	return true;
}

/* ------------------------------------------------------------------ */
/* B side: the agent                                                   */

static void agent_down(struct trp_node *node, const trp_down_t *d)
{
	trp__mutex_lock(&node->watches.lock);
	struct watch *w =
		trp__node_table_del(&node->watches, &d->ref, sizeof d->ref);
	trp__mutex_unlock(&node->watches.lock);
	if (w == NULL)
		return; /* dropped meanwhile (its node went down, we stop) */
	/* A snapshot of our proxies to the watching node (each retained). */
	trp__mutex_lock(&node->proxies.lock);
	size_t cap = node->proxies.n;
	struct marker *m =
		trp__alloc(sizeof *m + (cap != 0 ? cap : 1) * sizeof(void *));
	size_t n = 0;
	if (m != NULL) {
		struct trp__node_to t = { w->peer, w->peer_len };
		for (size_t i = 0; i < node->proxies.nb; i++)
			for (struct trp__node_hash_entry *e =
				     node->proxies.b[i];
			     e != NULL && n < cap; e = e->next)
				if (trp__node_to_key(&t, e->key, e->klen))
					m->chain[n++] =
						trp_actor_retain(e->value);
	}
	trp__mutex_unlock(&node->proxies.lock);
	if (m == NULL) {
		/* no memory for the walk: the DOWN goes without it */
		down_item(node, w, d->reason, d->code);
		watch_free(w);
		return;
	}
	m->sys.ops = &marker_ops;
	atomic_init(&m->refs, 1);
	/* relaxed: our own reference keeps it alive here. */
	atomic_fetch_add_explicit(&node->refs, 1, memory_order_relaxed);
	m->node = node;
	m->w = *w;
	m->w.target = NULL; /* the marker needs names only */
	m->w.links = NULL;
	m->w.nlinks = m->w.clinks = 0;
	m->reason = d->reason;
	m->code = d->code;
	m->n = n;
	m->next = 0;
	watch_free(w);
	marker_walk(m);
}

static void agent_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	struct trp_node *node = *(struct trp_node **)state;
	if (msg->type == AGENT_DOWN && msg->size == sizeof(trp_down_t)) {
		trp_down_t d;
		memcpy(&d, msg->data, sizeof d);
		agent_down(node, &d);
	}
}

int trp__node_watch_start(struct trp_node *node)
{
	trp_actor_def_t def = {
		.behavior = agent_behavior,
		.state_size = sizeof(struct trp_node *),
		.mailbox_limit = TRP_MAILBOX_UNBOUNDED,
	};
	return trp_actor_spawn(node->rt, &def, &node, &node->agent);
}

/* ------------------------------------------------------------------ */
/* B side: WATCH items                                                 */

void trp__node_on_watch(struct trp_node *node, const char *src, size_t src_len,
			struct trp_actor *target,
			const struct trp__wire_item *it)
{
	struct watch w = {
		.peer_len = (uint8_t)src_len,
		.name_len = it->name_len,
		.proxy_id = it->ref,
	};
	memcpy(w.peer, src, src_len);
	memcpy(w.name, it->name, it->name_len);
	if (it->corr != 0) {
		/* a link: the proxy's record, if it has one, mirrors it (WATCH
		 * items come from this thread only: no other can file one
		 * meanwhile) */
		trp__mutex_lock(&node->watches.lock);
		struct watch *rec = watch_find(node, src, src_len, it->ref, 0);
		if (rec != NULL)
			(void)watch_link(rec, it->corr);
		trp__mutex_unlock(&node->watches.lock);
		if (rec != NULL)
			/* mirrored; without memory for it, the link is
			 * not signalled if this node goes down */
			return;
	}
	if (target == NULL) {
		/* nobody of that name: DOWN(noproc) at once */
		down_item(node, &w, TRP_STOP_NOPROC, 0);
		return;
	}
	struct watch *rec = trp__alloc(sizeof *rec);
	if (rec == NULL) {
		/* cannot watch: tell the watcher it is gone rather than
		 * promise a DOWN that would never come */
		down_item(node, &w, TRP_STOP_NOPROC, 0);
		return;
	}
	*rec = w;
	rec->target = trp_actor_retain(target);
	if (it->corr != 0 && !watch_link(rec, it->corr)) {
		watch_free(rec);
		down_item(node, &w, TRP_STOP_NOPROC, 0);
		return;
	}
	/* The record is filed before the monitor can fire: the agent's
	 * DOWN finds it (the table's lock orders the two). */
	trp__mutex_lock(&node->watches.lock);
	trp_ref_t ref = 0;
	int rc = trp_monitor(node->agent, target, AGENT_DOWN, &ref);
	if (rc == 0)
		rc = trp__node_table_put(&node->watches, &ref, sizeof ref, rec);
	trp__mutex_unlock(&node->watches.lock);
	if (rc != 0) {
		if (ref != 0)
			(void)trp_demonitor(node->agent, ref);
		watch_free(rec);
		down_item(node, &w, TRP_STOP_NOPROC, 0);
	}
}

/* An EXIT or UNLINK for the link of the proxy @it->ref of node @src with
 * its actor it->corr. EXIT: the target hears the exit signal. Nothing if
 * the record or the link is not there: the target stopped (its DOWN is on
 * its way back), the WATCH failed, or the link was gone. */
static void on_link_item(struct trp_node *node, const char *src, size_t src_len,
			 const struct trp__wire_item *it)
{
	struct trp_actor *target = NULL;
	trp__mutex_lock(&node->watches.lock);
	struct watch *w = watch_find(node, src, src_len, it->ref, it->corr);
	if (w != NULL && watch_unlink(w, it->corr) && it->op == TRP__WIRE_EXIT)
		target = trp_actor_retain(w->target);
	trp__mutex_unlock(&node->watches.lock);
	if (target == NULL)
		return;
	trp__link_signal(target, it->corr, (trp_stop_reason_t)it->status,
			 (int32_t)it->type);
	trp_actor_release(target);
}

void trp__node_watches_drop(struct trp_node *node, const char *peer,
			    size_t peer_len)
{
	struct trp__node_to t = { peer, peer_len };
	for (;;) {
		void *batch[64];
		trp_ref_t refs[64];
		size_t n = 0;
		trp__mutex_lock(&node->watches.lock);
		/* keys are the monitor refs: collect them with the values */
		for (size_t i = 0; i < node->watches.nb && n < 64; i++)
			for (struct trp__node_hash_entry *e =
				     node->watches.b[i];
			     e != NULL && n < 64; e = e->next)
				if (trp__node_to_is(
					    &t,
					    ((struct watch *)e->value)->peer,
					    ((struct watch *)e->value)
						    ->peer_len))
					memcpy(&refs[n++], e->key,
					       sizeof refs[0]);
		for (size_t i = 0; i < n; i++)
			batch[i] = trp__node_table_del(&node->watches, &refs[i],
						       sizeof refs[i]);
		trp__mutex_unlock(&node->watches.lock);
		for (size_t i = 0; i < n; i++) {
			struct watch *w = batch[i];
			if (node->agent != NULL)
				(void)trp_demonitor(node->agent, refs[i]);
			/* the watching node went down (not we stop): its
			 * links break, each signalled once (the record left
			 * the table under the lock) */
			for (uint32_t k = 0; peer != NULL && k < w->nlinks; k++)
				trp__link_signal(w->target, w->links[k],
						 TRP_STOP_NOCONNECTION, 0);
			watch_free(w);
		}
		if (n < 64)
			return;
	}
}

void trp__node_watch_stop(struct trp_node *node)
{
	trp__node_watches_drop(node, NULL, 0);
	if (node->agent != NULL)
		(void)trp_actor_close(node->agent);
}

/* ------------------------------------------------------------------ */
/* A side                                                              */

void trp__node_proxy_watch(struct trp_node *node, const char *dst,
			   size_t dst_len, const char *name, size_t name_len,
			   uint64_t proxy_id)
{
	struct trp__node_out h = {
		.op = TRP__WIRE_WATCH,
		.name_len = (uint16_t)name_len,
		.ref = proxy_id,
	};
	if (trp__node_out_item(node, dst, dst_len, &h, name, NULL) == 0)
		trp__node_count(node, sent, 1);
}

void trp__node_proxy_link(struct trp_node *node, const char *dst,
			  size_t dst_len, const char *name, size_t name_len,
			  uint64_t proxy_id, uint64_t peer, bool on)
{
	struct trp__node_out h = {
		.op = on ? TRP__WIRE_WATCH : TRP__WIRE_UNLINK,
		.name_len = (uint16_t)name_len,
		.ref = proxy_id,
		.corr = peer,
	};
	if (trp__node_out_item(node, dst, dst_len, &h, name, NULL) == 0)
		trp__node_count(node, sent, 1);
}

static void on_down(struct trp_node *node, const char *src, size_t src_len,
		    const struct trp__wire_item *it)
{
	char key[TRP_NODE_TOKEN_MAX + 1 + TRP_NAME_MAX];
	memcpy(key, src, src_len);
	key[src_len] = '\0';
	memcpy(key + src_len + 1, it->name, it->name_len);
	trp__mutex_lock(&node->proxies.lock);
	struct trp_actor *p = trp__node_table_get(&node->proxies, key,
						  src_len + 1 + it->name_len);
	if (p != NULL && trp_actor_id(p) == it->ref) {
		trp_actor_retain(p);
		trp__node_proxy_unwatched(p);
	} else {
		p = NULL; /* replaced or gone: its monitors fired already */
	}
	trp__mutex_unlock(&node->proxies.lock);
	if (p == NULL)
		return;
	trp__monitors_fire(p, (trp_stop_reason_t)it->status, (int32_t)it->type);
	trp_actor_release(p);
}

void trp__node_on_watch_item(struct trp_node *node, const char *src,
			     size_t src_len, const struct trp__wire_item *it)
{
	if (it->op == TRP__WIRE_DOWN)
		on_down(node, src, src_len, it);
	else
		on_link_item(node, src, src_len, it);
}
