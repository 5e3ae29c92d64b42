/*
 * core/node_out.c - the outbound thread: one thread actor per node turns
 * everything the proxies (and the answers to remote asks) queued into
 * frames, one stream per destination node, and publishes them.
 *
 * Batching follows troupe's turn rule: the thread takes messages while its
 * mailbox has any (trp_recv with no wait) and publishes every frame it
 * started once the mailbox is empty, or a frame as soon as the next item
 * would not fit. Under load frames fill by themselves; at low load a frame
 * leaves with its one message at once (the connection sends without
 * waiting for the client's flusher: SendAsap, node.c).
 *
 * Why a thread and not the proxies' workers: a publish may block on the
 * connection (its socket buffer full, a reconnect in progress); a worker
 * blocked there would stall every actor queued behind it. Except at low
 * load: a message to a node whose outbound traffic is sparse and idle is
 * published by its sender's thread (direct(), below), which saves the
 * hand-off to this thread. The streams are written under one lock (struct
 * out), held by this thread for a whole batch or by one direct publisher,
 * so a stream's sequence numbers are assigned in publishing order.
 *
 * Sequence numbers: a frame takes the stream's next `count` numbers only
 * once it was handed to the connection; a frame the connection refused
 * (closed, reconnect buffer full) is counted lost (TRP_LOSS_UNSENT) and
 * its numbers are used again by the next frame, so the receiver does not
 * count the same messages once more as a gap.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "backpressure.h"
#include "mailbox.h"
#include "node.h"
#include "worker.h"
#include "troupe/thread_actor.h"

#define OUT_ITEM 1u	/* a struct trp__node_out and what follows */
#define OUT_CREDIT 2u	/* credit came for a stream holding items */
#define GOODBYE_TRIES 3 /* a goodbye lost behind a full queue */
#define SMALL_ITEM 512	/* items up to this are copied by the send */

struct peer {
	struct peer *next_dirty;
	bool dirty;    /* a frame is open and on the dirty list */
	bool exchange; /* "x.<name>": a bridged exchange's stream */
	/* the receiver said goodbye (trp__node_out_gone): its frames are
	 * lost, counted, not published, until it is seen up again */
	bool gone;
	/* the receiver's incarnation when it was last seen up (0: not
	 * yet), named in each frame's reply subject so that a "no
	 * responders" says which incarnation it is about */
	uint64_t dst_inc;
	uint8_t dst_len;
	char dst[TRP__NODE_DST_MAX + 1];
	char subject[TRP__NODE_SUBJECT_MAX];
	uint64_t next_seq; /* first number of the next frame */
	uint32_t flags;	   /* of the open frame: TRP__WIRE_F_RESTART */
	struct trp__wire_buf buf;
	/* flow control (NULL gate: off for this stream) */
	struct trp__node_gate *gate;
	uint64_t asked;		   /* credit asked for up to here */
	struct held *held;	   /* items past the window, in order */
	struct held **held_tail;   /* where the next one goes */
	uint64_t nheld;		   /* how many */
	struct peer *next_holding; /* on out.holding while held != NULL */
	uint64_t acked_seen;	   /* gate->acked at the last progress */
	uint64_t stalled_ns;	   /* when it last made progress or asked */
	uint64_t progress_ns;	   /* when it last made progress */
};

/* An item held back: the OUT_ITEM message's bytes. */
struct held {
	struct held *next;
	size_t size;
	unsigned char data[];
};

struct out {
	struct trp_node *node;
	/* The streams (peers: their numbers and buffers) are written under
	 * this lock: by the thread for a whole batch (its first take to its
	 * last flush), or by a sender publishing directly (trylock only). */
	struct trp__mutex lock;
	struct trp__node_table peers; /* under lock */
	struct peer *dirty;	      /* under lock */
	/* Items handed to the thread (trp__node_out_item) and not yet
	 * published: a sender publishes directly only when it is 0, so that
	 * nothing sent before (by itself, or by whoever it heard from) is
	 * overtaken. Incremented before the hand-off, decremented under the
	 * lock after the batch that took them was published. */
	_Atomic(uint64_t) queued;
	uint64_t taken; /* this thread: items of the current batch */
	/* the sparse rule (direct()): heuristics, relaxed atomics, written
	 * under the lock except the early "not sparse" of a narrow gap */
	_Atomic(uint64_t) last_pub_ns; /* the last publish's end */
	_Atomic(bool) sparse;	   /* the gap before the last item was wide */
	bool closed;		   /* under lock: the thread ended */
	struct trp__wire_buf dbuf; /* under lock: a direct publish's frame */
	struct peer *holding;	   /* under lock: streams holding items */
	uint64_t deadline; /* of the goodbyes, set by trp__node_out_stop */
};

/* ------------------------------------------------------------------ */
/* streams                                                             */

static struct peer *peer_get(struct out *o, const char *dst, size_t dst_len)
{
	struct peer *p = trp__node_table_get(&o->peers, dst, dst_len);
	if (p != NULL)
		return p;
	p = trp__calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	memcpy(p->dst, dst, dst_len);
	p->dst_len = (uint8_t)dst_len;
	p->next_seq = 1;
	/* node names have no '.': "x." names an exchange's stream */
	p->exchange = dst_len > 2 && dst[0] == 'x' && dst[1] == '.';
	if (p->exchange)
		snprintf(p->subject, sizeof p->subject, "trp.%s.x.%s.%s",
			 o->node->cluster, p->dst + 2, o->node->name);
	else
		snprintf(p->subject, sizeof p->subject, "trp.%s.n.%s.f.%s",
			 o->node->cluster, p->dst, o->node->name);
	if (trp__node_table_put(&o->peers, dst, dst_len, p) != 0) {
		trp__free(p, sizeof *p);
		return NULL;
	}
	p->held_tail = &p->held;
	if (!p->exchange) {
		trp__node_count(o->node, peers, 1);
		p->gate = trp__node_gate_get(o->node, dst, dst_len);
		/* up already: trp__node_out_gone found no stream to tell */
		if (trp__node_peer_state(o->node, dst, dst_len, &p->dst_inc) !=
		    1)
			p->dst_inc = 0;
	}
	return p;
}

/* Sets the finished frame @b's header flags: @flags, and a request for
 * credit when the stream's window needs it (a quarter of the window sent
 * since the last request), or always (@ask). */
static void frame_flags(struct out *o, struct peer *p, struct trp__wire_buf *b,
			uint32_t flags, bool ask)
{
	if (p->gate != NULL) {
		uint64_t end = p->next_seq + b->count;
		uint32_t quarter = o->node->credit_window / 4;
		if (ask || end - p->asked >= (quarter != 0 ? quarter : 1)) {
			flags |= TRP__WIRE_F_CREDIT;
			p->asked = end;
		}
	}
	trp__wire_set_flags(b, flags);
}

/* Publishes the finished frame @b of stream @p (under o->lock). */
static void publish(struct out *o, struct peer *p, struct trp__wire_buf *b)
{
	struct trp_node *node = o->node;
	uint32_t count = b->count;
	if (p->exchange) {
		/* To every node that bridged it, or to nobody (not a loss:
		 * a local exchange without subscribers). */
		if (trp__node_publish(node, p->subject, NULL, b->data,
				      b->len) == NATS_OK) {
			p->next_seq += count;
			trp__node_count(node, frames_out, 1);
			trp__node_count(node, bytes_out, b->len);
		} else {
			trp__node_count(node, xlost, count);
		}
		return;
	}
	if (p->gone) {
		/* Published after the receiver's goodbye was acknowledged,
		 * it might reach nobody and nobody would count it. */
		trp__node_lost(node, TRP_LOSS_UNSENT, p->dst, p->dst_len,
			       count);
		trp__node_asks_fail(node, p->dst, p->dst_len, TRP_ENOTCONN);
		return;
	}
	char reply[TRP__NODE_SUBJECT_MAX];
	/* "No responders" comes back on this subject, naming the frame's
	 * messages exactly (node_in.c). */
	snprintf(reply, sizeof reply, "trp.%s.r.%s.%s.%016llx.%llu.%u",
		 node->cluster, node->name, p->dst,
		 (unsigned long long)p->dst_inc,
		 (unsigned long long)p->next_seq, count);
	natsStatus s =
		trp__node_publish(node, p->subject, reply, b->data, b->len);
	if (s == NATS_OK) {
		p->next_seq += count;
		trp__node_count(node, frames_out, 1);
		trp__node_count(node, bytes_out, b->len);
	} else {
		trp__node_lost(node, TRP_LOSS_UNSENT, p->dst, p->dst_len,
			       count);
		/* Its asks will not be answered. */
		trp__node_asks_fail(node, p->dst, p->dst_len, TRP_ENOTCONN);
	}
}

/* Publishes @p's open frame (this thread). The client buffers what the
 * socket does not take at once (node_loop.c): this thread waits while it
 * holds more than two frames, as a blocking write would have, so that a
 * slow connection holds up this thread, never memory without bound. */
static void flush(struct out *o, struct peer *p)
{
	trp__wire_finish(&p->buf);
	frame_flags(o, p, &p->buf, p->flags, false);
	publish(o, p, &p->buf);
	trp__node_loop_bound(o->node, 2 * o->node->max_frame);
}

static void flush_all(struct out *o)
{
	struct peer *p = o->dirty;
	o->dirty = NULL;
	for (struct peer *next; p != NULL; p = next) {
		next = p->next_dirty;
		p->dirty = false;
		flush(o, p);
	}
}

/* Whether the next frame to @p must restart the receiver's count (a frame
 * to it was counted lost here: trp__node_out_restart). */
static bool restart_wanted(struct trp_node *node, struct peer *p)
{
	/* acquire: pairs with trp__node_out_restart's release; the common
	 * case is one load. */
	if (atomic_load_explicit(&node->restarts_pending,
				 memory_order_acquire) == 0)
		return false;
	trp__mutex_lock(&node->restarts.lock);
	bool want = trp__node_table_del(&node->restarts, p->dst, p->dst_len) !=
		    NULL;
	/* relaxed: under the lock; a stale 1 only costs the next frame one
	 * lock. */
	atomic_store_explicit(&node->restarts_pending, node->restarts.n != 0,
			      memory_order_relaxed);
	trp__mutex_unlock(&node->restarts.lock);
	return want;
}

void trp__node_out_restart(struct trp_node *node, const char *dst,
			   size_t dst_len)
{
	trp__mutex_lock(&node->restarts.lock);
	if (trp__node_table_get(&node->restarts, dst, dst_len) == NULL)
		(void)trp__node_table_put(&node->restarts, dst, dst_len, node);
	/* release: pairs with restart_wanted's acquire peek. */
	atomic_store_explicit(&node->restarts_pending, 1, memory_order_release);
	trp__mutex_unlock(&node->restarts.lock);
}

/* Opens a frame for @p in its buffer. */
static void begin(struct out *o, struct peer *p)
{
	struct trp_node *node = o->node;
	trp__wire_begin(&p->buf, TRP__WIRE_DATA, node->incarnation, 0,
			p->next_seq);
	p->flags = !p->exchange && restart_wanted(node, p) ?
			   TRP__WIRE_F_RESTART :
			   0;
}

/* The wire item for header @h with its @name and @payload. */
static struct trp__wire_item item_of(const struct trp__node_out *h,
				     const char *name, const void *payload)
{
	return (struct trp__wire_item){
		.op = h->op,
		.name_len = h->name_len,
		.type = h->type,
		.len = h->len,
		.status = h->status,
		.ref = h->ref,
		.corr = h->corr,
		.name = name,
		.payload = h->len != 0 ? payload : NULL,
	};
}

/* The item in @data (an OUT_ITEM message's bytes) and its destination. */
static const char *parse(const void *data, struct trp__node_out *h,
			 struct trp__wire_item *it)
{
	memcpy(h, data, sizeof *h);
	const char *dst = (const char *)data + sizeof *h;
	*it = item_of(h, dst + h->dst_len, dst + h->dst_len + h->name_len);
	return dst;
}

/* Appends @it to @p's open frame (opening one, or publishing a full one
 * first). */
static void frame_item(struct out *o, struct peer *p,
		       const struct trp__wire_item *it)
{
	struct trp_node *node = o->node;
	size_t need = trp__wire_item_size(it->name_len, it->len);
	if (p->dirty &&
	    (p->buf.len + need > node->max_frame ||
	     (p->gate != NULL && p->buf.count >= node->credit_window / 4))) {
		/* full (a frame of a flow-controlled stream holds at most a
		 * quarter window, so credit for one comes while the next
		 * ones travel): it leaves now, out of the dirty list's order (the
		 * order between streams does not matter) */
		flush(o, p);
		begin(o, p);
	} else if (!p->dirty) {
		begin(o, p);
		p->dirty = true;
		p->next_dirty = o->dirty;
		o->dirty = p;
	}
	if (trp__wire_add(&p->buf, it) != 0)
		trp__node_lost(node, TRP_LOSS_UNSENT, p->dst, p->dst_len, 1);
}

/* ------------------------------------------------------------------ */
/* flow control: the sender's side                                     */

/*
 * Each stream to another node may have credit_window items that its
 * receiver has not reported delivered (gate->acked, moved by its CREDIT
 * frames; node_in.c sends one after delivering a frame that asks for it,
 * and frames ask once per quarter window). An item past the window is
 * held here, in order (everything after it too), and the gate closes:
 * senders to the node's proxies are muted at the end of their turn, on
 * the gate's actor, exactly as senders to an overloaded mailbox are
 * (backpressure.h), and once a window's worth is held, sends to those
 * proxies are refused (TRP_EFULL) as by a full bounded mailbox (outside
 * threads cannot be muted). Credit frames the held items as the window
 * allows; when none is left the gate opens and the muted senders are
 * rescheduled. So what a slow receiver costs its senders is bounded: a
 * window in flight, at most about a window held, the proxies' bounded
 * mailboxes. A stream stalled for STALL_NS asks again (a frame without
 * items, asking for credit: a request or a credit NATS dropped, or a
 * receiver that restarted, must not stall it forever); a receiver that
 * is down loses what is held (TRP_LOSS_UNSENT) and its window restarts.
 */
#define STALL_NS 100000000ull /* 100 ms without credit: ask again */
#define TICK_MS 20	      /* the thread's wait while items are held */

static bool window_full(struct out *o, struct peer *p)
{
	/* ORDER: seq_cst, the Dekker pair with trp__node_on_credit (see
	 * hold()); otherwise a stale value only holds an item longer. */
	uint64_t acked =
		atomic_load_explicit(&p->gate->acked, memory_order_seq_cst);
	uint64_t end = p->next_seq + (p->dirty ? p->buf.count : 0);
	return end > acked && end - acked >= o->node->credit_window;
}

static void gate_close(struct trp_node *node, struct trp__node_gate *g)
{
	/* relaxed: one writer (this thread); admit peeks at it. */
	if (atomic_load_explicit(&g->closed, memory_order_relaxed) != 0)
		return;
	atomic_store_explicit(&g->closed, 1, memory_order_relaxed);
	trp__node_count(node, windows_full, 1);
	/* ORDER: seq_cst (inside): the muter's half of the backpressure
	 * Dekker pair sees the count, or we see it on the stack when the
	 * gate opens (backpressure.h). A sender that saw `closed` before
	 * the count went up is unmuted at once and mutes again at its next
	 * send. */
	(void)trp__mailbox_count_add(&g->actor->mailbox, TRP__MUTE_HIGH);
}

static void gate_open(struct trp_node *node, struct trp__node_gate *g)
{
	/* relaxed: one writer (this thread). */
	if (atomic_load_explicit(&g->closed, memory_order_relaxed) == 0)
		return;
	atomic_store_explicit(&g->closed, 0, memory_order_relaxed);
	/* ORDER: seq_cst, the receiver's half of the Dekker pair. */
	(void)trp__mailbox_count_sub(&g->actor->mailbox, TRP__MUTE_HIGH);
	trp__unmute_all(node->rt, g->actor);
}

static void set_held(struct out *o, struct peer *p, uint64_t n)
{
	struct trp_node *node = o->node;
	/* relaxed: statistics; this thread is the only writer of held_max
	 * (the total is the sum of each stream's changes, wrapping). */
	uint64_t now = atomic_fetch_add_explicit(&node->st.held, n - p->nheld,
						 memory_order_relaxed) +
		       (n - p->nheld);
	if (now >
	    atomic_load_explicit(&node->st.held_max, memory_order_relaxed))
		atomic_store_explicit(&node->st.held_max, now,
				      memory_order_relaxed);
	p->nheld = n;
	/* ORDER: seq_cst, the Dekker pair with trp__node_on_credit (see
	 * hold()). */
	atomic_store_explicit(&p->gate->held, n, memory_order_seq_cst);
}

static void release(struct out *o, struct peer *p);

/* An item of a proxy (@h->gated) leaves the gate's backlog. */
static void framed(struct peer *p, const struct trp__node_out *h)
{
	if (h->gated && p->gate != NULL)
		/* relaxed: see trp__node_out_item_gated. */
		atomic_fetch_sub_explicit(&p->gate->backlog, 1,
					  memory_order_relaxed);
}

/* Holds the item @data/@size back for @p. */
static void hold(struct out *o, struct peer *p, const void *data, size_t size)
{
	struct held *h = trp__alloc(sizeof *h + size);
	if (h == NULL) {
		trp__node_lost(o->node, TRP_LOSS_UNSENT, p->dst, p->dst_len, 1);
		return;
	}
	h->next = NULL;
	h->size = size;
	memcpy(h->data, data, size);
	if (p->held == NULL) {
		p->next_holding = o->holding;
		o->holding = p;
		/* relaxed: see window_full. */
		p->acked_seen = atomic_load_explicit(&p->gate->acked,
						     memory_order_relaxed);
		p->stalled_ns = p->progress_ns = trp__now_ns();
	}
	*p->held_tail = h;
	p->held_tail = &h->next;
	set_held(o, p, p->nheld + 1);
	gate_close(o->node, p->gate);
	/* ORDER: set_held's seq_cst store, then window_full's seq_cst load
	 * of acked; trp__node_on_credit does the mirror (seq_cst CAS of
	 * acked, then a seq_cst load of held): a credit that came after
	 * the first look either sees `held` (and wakes this thread) or is
	 * seen here. */
	if (!window_full(o, p))
		release(o, p);
}

static void holding_remove(struct out *o, struct peer *p)
{
	for (struct peer **q = &o->holding; *q != NULL; q = &(*q)->next_holding)
		if (*q == p) {
			*q = p->next_holding;
			return;
		}
}

/* Frames @p's held items while its window allows; opens its gate when
 * none is left. */
static void release(struct out *o, struct peer *p)
{
	/* relaxed: a new credit after this sends another wake-up. */
	atomic_store_explicit(&p->gate->wake, 0, memory_order_relaxed);
	uint64_t n = p->nheld;
	while (p->held != NULL && !window_full(o, p)) {
		struct held *h = p->held;
		p->held = h->next;
		struct trp__node_out hd;
		struct trp__wire_item it;
		(void)parse(h->data, &hd, &it);
		framed(p, &hd);
		frame_item(o, p, &it);
		trp__free(h, sizeof *h + h->size);
		n--;
	}
	if (p->held == NULL) {
		p->held_tail = &p->held;
		holding_remove(o, p);
	}
	set_held(o, p, n);
	if (p->held == NULL)
		gate_open(o->node, p->gate);
}

/* Drops what @p holds (its receiver is down): lost, counted. */
static void drop_held(struct out *o, struct peer *p)
{
	uint64_t n = 0;
	while (p->held != NULL) {
		struct held *h = p->held;
		p->held = h->next;
		struct trp__node_out hd;
		memcpy(&hd, h->data, sizeof hd);
		framed(p, &hd);
		trp__free(h, sizeof *h + h->size);
		n++;
	}
	p->held_tail = &p->held;
	holding_remove(o, p);
	set_held(o, p, 0);
	trp__node_lost(o->node, TRP_LOSS_UNSENT, p->dst, p->dst_len, n);
	gate_open(o->node, p->gate);
}

/* Every STALL_NS without credit: a receiver that is down loses what is
 * held and its window starts afresh; one that is up is asked again. */
static void tick(struct out *o)
{
	struct trp_node *node = o->node;
	uint64_t now = trp__now_ns();
	for (struct peer *p = o->holding, *next; p != NULL; p = next) {
		next = p->next_holding;
		/* relaxed: see window_full. */
		uint64_t acked = atomic_load_explicit(&p->gate->acked,
						      memory_order_relaxed);
		if (acked != p->acked_seen) {
			/* credit came (its wake-up may have missed the hold:
			 * the tick makes up for it) */
			p->acked_seen = acked;
			p->stalled_ns = p->progress_ns = now;
			release(o, p);
			continue;
		}
		if (now - p->stalled_ns < STALL_NS)
			continue;
		p->stalled_ns = now;
		/* Down: what is held is lost. Never seen: it may be starting
		 * (its first beat not here yet, a slow machine), so it gets
		 * the time heartbeats would take to judge it down, asked
		 * meanwhile; net.flow_control once lost a window to a peer
		 * whose frames were arriving while its first beat was late. */
		int state =
			trp__node_peer_state(node, p->dst, p->dst_len, NULL);
		if (state == 0 ||
		    (state < 0 &&
		     now - p->progress_ns >
			     node->hb_interval * node->hb_misses)) {
			/* relaxed: this thread's own window. */
			atomic_store_explicit(&p->gate->acked, p->next_seq,
					      memory_order_relaxed);
			drop_held(o, p);
			continue;
		}
		if (p->dirty)
			continue; /* its open frame asks when it leaves */
		/* A frame without items that asks for credit. */
		trp__wire_begin(&o->dbuf, TRP__WIRE_DATA, node->incarnation, 0,
				p->next_seq);
		trp__wire_finish(&o->dbuf);
		frame_flags(o, p, &o->dbuf, 0, true);
		publish(o, p, &o->dbuf);
	}
}

/* Takes one message of the thread's mailbox. */
static void take(struct out *o, const trp_msg_t *m)
{
	if (m->type == OUT_CREDIT) {
		for (struct peer *p = o->holding, *next; p != NULL; p = next) {
			next = p->next_holding;
			release(o, p);
		}
		return;
	}
	struct trp__node_out h;
	struct trp__wire_item it;
	trp__assert(m->type == OUT_ITEM && m->size >= sizeof h);
	const char *dst = parse(m->data, &h, &it);
	struct peer *p = peer_get(o, dst, h.dst_len);
	if (p == NULL) {
		trp__node_lost(o->node, TRP_LOSS_UNSENT, dst, h.dst_len, 1);
		struct peer none = { .gate = h.gated ? trp__node_gate_get(
							       o->node, dst,
							       h.dst_len) :
						       NULL };
		framed(&none, &h); /* out of its gate's backlog */
		return;
	}
	if (p->gate != NULL && (p->held != NULL || window_full(o, p))) {
		hold(o, p, m->data, m->size);
		return;
	}
	framed(p, &h);
	frame_item(o, p, &it);
}

/* Tells @p's node that our stream ends at p->next_seq, so that it can
 * count a gap at its end; waits for the acknowledgement until the
 * deadline (a goodbye dropped behind a full queue is sent again). */
static void goodbye(struct out *o, struct peer *p)
{
	struct trp_node *node = o->node;
	trp__wire_begin(&p->buf, TRP__WIRE_GOODBYE, node->incarnation, 0,
			p->next_seq);
	trp__wire_finish(&p->buf);
	if (p->exchange) {
		/* many receivers, none to wait for */
		(void)trp__node_publish(node, p->subject, NULL, p->buf.data,
					p->buf.len);
		return;
	}
	for (int i = 0; i < GOODBYE_TRIES; i++) {
		uint64_t now = trp__now_ns();
		if (now >= o->deadline)
			return;
		int64_t ms = (int64_t)((o->deadline - now) / 1000000) /
			     (GOODBYE_TRIES - i);
		natsMsg *ack = NULL;
		natsStatus s = natsConnection_Request(&ack, node->nc,
						      p->subject, p->buf.data,
						      (int)p->buf.len,
						      ms > 0 ? ms : 1);
		natsMsg_Destroy(ack);
		if (s == NATS_OK || s == NATS_NO_RESPONDERS)
			return; /* acknowledged, or nobody is there */
		if (s != NATS_TIMEOUT)
			return; /* the connection is gone */
	}
}

static void free_peer(void *value, void *ctx)
{
	(void)ctx;
	struct peer *p = value;
	trp__wire_buf_free(&p->buf);
	trp__free(p, sizeof *p);
}

static void goodbye_each(void *value, void *ctx)
{
	struct peer *p = value;
	goodbye(ctx, p);
	free_peer(p, NULL);
}

/* Takes o->lock for a batch. It is held at most for one direct publish (a
 * small write): spin for it rather than sleep on it, which would make this
 * thread wait for the scheduler to wake it on a busy machine, while
 * senders queue behind it. */
static void lock_spinning(struct out *o)
{
	for (uint32_t i = 1; !trp__mutex_trylock(&o->lock); i++) {
		if ((i & 63u) == 0)
			sched_yield();
		else
			trp__cpu_relax();
	}
}

/* End of a batch: everything it took was published. */
static void batch_end(struct out *o)
{
	/* relaxed: read under o->lock by direct publishers (the unlock
	 * below orders it before their reads); a sender's own increment
	 * precedes it in the modification order (coherence). */
	atomic_fetch_sub_explicit(&o->queued, o->taken, memory_order_relaxed);
	/* relaxed: heuristics (struct out). */
	if (o->taken > 1)
		atomic_store_explicit(&o->sparse, false, memory_order_relaxed);
	o->taken = 0;
	atomic_store_explicit(&o->last_pub_ns, trp__now_ns(),
			      memory_order_relaxed);
	trp__mutex_unlock(&o->lock);
}

static void out_main(trp_actor_t *self, void *arg)
{
	struct out *o = arg;
	trp__thread_name("trp-node-out");
	int64_t wait = -1;
	bool locked = false;
	for (;;) {
		const trp_msg_t *m;
		int rc = trp_recv(self, wait, &m);
		if (rc == TRP_ETIMEDOUT) {
			/* the mailbox ran dry: everything taken leaves */
			if (!locked)
				lock_spinning(o); /* a tick's timeout */
			if (o->holding != NULL)
				tick(o);
			flush_all(o);
			wait = o->holding != NULL ? TICK_MS * 1000000ll : -1;
			batch_end(o);
			locked = false;
			continue;
		}
		if (rc != 0)
			break; /* closed, and everything before it taken */
		if (!locked) {
			lock_spinning(o);
			locked = true;
		}
		take(o, m);
		if (m->type == OUT_ITEM)
			o->taken++;
		wait = 0;
	}
	if (!locked)
		lock_spinning(o);
	o->closed = true; /* no direct publish from now on */
	/* What credit allows leaves; the rest never will. */
	for (struct peer *p = o->holding, *next; p != NULL; p = next) {
		next = p->next_holding;
		release(o, p);
		if (p->held != NULL)
			drop_held(o, p);
	}
	flush_all(o);
	trp__node_table_clear(&o->peers, goodbye_each, o);
	trp__node_table_free(&o->peers);
	batch_end(o);
}

/*
 * Publishing from the sender's thread. A message whose stream has nothing
 * waiting is framed and published by the thread that sends it (a proxy's
 * sender, an answer's): one thread hand-off less each way, which is most
 * of a round trip's cost at low load (BENCHMARKS.md). Only when:
 *   - nothing handed to the outbound thread is still unpublished (queued
 *     is 0: so nothing sent before is overtaken, and the outbound thread
 *     is idle, so the connection is not busy with a batch of ours),
 *   - the lock is free at once (the outbound thread is not framing, no
 *     other sender is publishing: trylock, never a wait),
 *   - and the traffic is sparse: the last two items each came
 *     DIRECT_GAP_NS or more after the node's previous publish, and no
 *     batch of more than one item came between. A sender that sends fast
 *     (a producer's burst, 64 asks in flight) hands its messages to the
 *     thread, which packs them into frames, instead of writing one frame
 *     per message itself (one wide gap alone is not enough: remote_ask
 *     has ~10 k of them in 2 * 10^5 messages, and publishing those
 *     directly halved its rate).
 * The lock makes the publisher the streams' only writer for the while,
 * so sequence numbers still follow publishing order. With SendAsap the
 * client writes the frame to the socket at once, under its own lock: a
 * worker waits for one small write (a few us), never behind a batch.
 */
#define DIRECT_GAP_NS 50000u

static int direct(struct out *o, const char *dst, size_t dst_len,
		  const struct trp__node_out *h, const char *name,
		  const void *payload)
{
	struct trp_node *node = o->node;
	/* relaxed: a peek; decided again under the lock. */
	if (atomic_load_explicit(&o->queued, memory_order_relaxed) != 0 ||
	    (dst_len > 2 && dst[0] == 'x' && dst[1] == '.'))
		return TRP__FORWARD_DECLINED; /* exchanges: always batched */
	uint64_t now = trp__now_ns();
	/* relaxed: heuristics (struct out); a narrow gap declines without
	 * touching the lock (dense traffic must not contend for it). */
	if (now - atomic_load_explicit(&o->last_pub_ns, memory_order_relaxed) <
	    DIRECT_GAP_NS) {
		atomic_store_explicit(&o->sparse, false, memory_order_relaxed);
		return TRP__FORWARD_DECLINED;
	}
	if (!trp__mutex_trylock(&o->lock))
		return TRP__FORWARD_DECLINED;
	int rc = TRP__FORWARD_DECLINED;
	/* relaxed: under the lock (see batch_end). */
	if (o->closed ||
	    atomic_load_explicit(&o->queued, memory_order_relaxed) != 0)
		goto unlock;
	/* relaxed: heuristics, as above; a batch may have ended since. */
	uint64_t last =
		atomic_load_explicit(&o->last_pub_ns, memory_order_relaxed);
	if (last > now || now - last < DIRECT_GAP_NS)
		goto unlock;
	bool was_sparse = atomic_exchange_explicit(&o->sparse, true,
						   memory_order_relaxed);
	if (!was_sparse)
		goto unlock;
	struct peer *p = peer_get(o, dst, dst_len);
	if (p == NULL ||
	    TRP__WIRE_HEADER + trp__wire_item_size(h->name_len, h->len) >
		    node->max_frame ||
	    (p->gate != NULL && (p->held != NULL || window_full(o, p))))
		goto unlock;
	struct trp__wire_item it = item_of(h, name, payload);
	trp__wire_begin(&o->dbuf, TRP__WIRE_DATA, node->incarnation, 0,
			p->next_seq);
	if (trp__wire_add(&o->dbuf, &it) != 0)
		goto unlock; /* no memory: the thread tries */
	trp__wire_finish(&o->dbuf);
	frame_flags(o, p, &o->dbuf,
		    restart_wanted(node, p) ? TRP__WIRE_F_RESTART : 0, false);
	publish(o, p, &o->dbuf);
	/* relaxed: heuristics (struct out). */
	atomic_store_explicit(&o->last_pub_ns, trp__now_ns(),
			      memory_order_relaxed);
	rc = 0;
unlock:
	trp__mutex_unlock(&o->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the node's side                                                     */

static void gate_stop(void *value, void *ctx);

static struct out *out_of(struct trp_node *node)
{
	/* ORDER: acquire pairs with the release store in
	 * trp__node_out_start: the state's fields are visible. */
	return atomic_load_explicit(&node->out_state, memory_order_acquire);
}

void trp__node_out_gone(struct trp_node *node, const char *dst, size_t dst_len,
			bool gone, uint64_t incarnation)
{
	struct out *o = out_of(node);
	if (o == NULL)
		return;
	/* Under the streams' lock: a frame to @dst is published before this
	 * (so before the caller's acknowledgement of the goodbye, on the
	 * same connection: the leaving node receives it before it stops
	 * reading) or sees the mark and is counted instead. */
	trp__mutex_lock(&o->lock);
	struct peer *p = trp__node_table_get(&o->peers, dst, dst_len);
	/* A node we have not sent to yet gets its stream now, marked: a
	 * first frame to it published after the acknowledgement would
	 * otherwise go to a subscription being drained, and its "no
	 * responders" could come after we stop reading (net.links once
	 * lost a DOWN that way under ASan). Not after the outbound thread
	 * closed: the table is freed then, and nothing is published. */
	if (p == NULL && gone && !o->closed)
		p = peer_get(o, dst, dst_len);
	if (p != NULL) {
		p->gone = gone;
		if (!gone)
			p->dst_inc = incarnation;
	}
	trp__mutex_unlock(&o->lock);
}

int trp__node_out_start(struct trp_node *node)
{
	struct out *o = trp__calloc(1, sizeof *o);
	if (o == NULL)
		return TRP_ENOMEM;
	o->node = node;
	o->closed = true; /* until the thread runs */
	/* ORDER: release publishes the zeroed state to out_of. */
	atomic_store_explicit(&node->out_state, o, memory_order_release);
	int rc = trp_thread_actor_spawn(node->rt, out_main, o, &node->out);
	if (rc != 0) {
		/* relaxed: unpublished before it is freed; a heartbeat that
		 * came in between start and here may still hold it (the
		 * thread could not be spawned: the start fails anyway). */
		atomic_store_explicit(&node->out_state, NULL,
				      memory_order_relaxed);
		trp__free(o, sizeof *o);
		return rc;
	}
	trp__mutex_lock(&o->lock);
	o->closed = false;
	trp__mutex_unlock(&o->lock);
	return 0;
}

void trp__node_out_stop(struct trp_node *node, uint64_t deadline)
{
	struct out *o = out_of(node);
	if (o == NULL)
		return;
	/* Written before the close, read by the thread after its last
	 * receive: the close's release and trp_recv's acquire order it. */
	o->deadline = deadline;
	(void)trp_actor_close(node->out);
	(void)trp_actor_join(node->out, -1);
	/* Gates: open, their actors closed (the structs stay until the node
	 * is freed: a late send to a proxy still looks at one). The table
	 * is walked without taking entries out. */
	trp__mutex_lock(&node->gates.lock);
	for (size_t i = 0; i < node->gates.nb; i++)
		for (struct trp__node_hash_entry *e = node->gates.b[i];
		     e != NULL; e = e->next)
			gate_stop(e->value, node);
	trp__mutex_unlock(&node->gates.lock);
	/* The handle and the state stay until the node is freed: the
	 * inbound thread and the answer targets of remote asks may still
	 * send to it (and get TRP_EDEAD) or look at o->closed. */
}

/* ------------------------------------------------------------------ */
/* flow control: gates                                                 */

static void gate_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg; /* never sent to */
}

struct trp__node_gate *trp__node_gate_get(struct trp_node *node,
					  const char *dst, size_t dst_len)
{
	if (node->credit_window == 0)
		return NULL;
	trp__mutex_lock(&node->gates.lock);
	/* acquire: trp_node_stop's CAS; under the lock, so no gate is made
	 * behind trp__node_out_stop's walk. */
	if (atomic_load_explicit(&node->stopping, memory_order_acquire) != 0) {
		trp__mutex_unlock(&node->gates.lock);
		return NULL;
	}
	struct trp__node_gate *g =
		trp__node_table_get(&node->gates, dst, dst_len);
	if (g == NULL && (g = trp__calloc(1, sizeof *g)) != NULL) {
		trp_actor_def_t def = {
			.behavior = gate_behavior,
			.mailbox_limit = TRP_MAILBOX_UNBOUNDED,
		};
		atomic_init(&g->acked, 1); /* streams start at 1 */
		g->dst_len = (uint8_t)dst_len;
		memcpy(g->dst, dst, dst_len);
		if (trp_actor_spawn(node->rt, &def, NULL, &g->actor) != 0 ||
		    trp__node_table_put(&node->gates, dst, dst_len, g) != 0) {
			if (g->actor != NULL) {
				(void)trp_actor_close(g->actor);
				trp_actor_release(g->actor);
			}
			trp__free(g, sizeof *g);
			g = NULL;
		}
	}
	trp__mutex_unlock(&node->gates.lock);
	return g;
}

int trp__node_gate_admit(struct trp_node *node, struct trp__node_gate *g)
{
	/* relaxed: a look; a send that slips past a closing gate is held
	 * by the outbound thread like the ones before it. */
	uint64_t backlog =
		atomic_load_explicit(&g->backlog, memory_order_relaxed);
	if (atomic_load_explicit(&g->closed, memory_order_relaxed) == 0 &&
	    backlog < node->credit_window)
		return 0;
	/* an actor sender is muted at the end of its turn, on the gate (at
	 * once unmuted if the gate is open: it only ends the turn) */
	trp__note_overloaded(trp__worker_of(node->rt), g->actor,
			     TRP__MUTE_HIGH);
	/* a window's worth waiting: as a full mailbox */
	return backlog >= node->credit_window ? TRP_EFULL : 0;
}

void trp__node_on_credit(struct trp_node *node, const char *src, size_t len,
			 const struct trp__wire_frame *f)
{
	trp__node_count(node, credits_in, 1);
	if (f->dst_inc != node->incarnation)
		return; /* for an earlier run of this node */
	trp__mutex_lock(&node->gates.lock);
	struct trp__node_gate *g = trp__node_table_get(&node->gates, src, len);
	trp__mutex_unlock(&node->gates.lock);
	if (g == NULL)
		return;
	/* ORDER: seq_cst CAS, then the seq_cst load of held below: the
	 * Dekker pair with hold() (we see the item held, or hold() sees
	 * this credit); the largest wins (credits may arrive out of order
	 * after a reconnect). */
	uint64_t cur = atomic_load_explicit(&g->acked, memory_order_relaxed);
	while (cur < f->first_seq &&
	       !atomic_compare_exchange_weak_explicit(
		       &g->acked, &cur, f->first_seq, memory_order_seq_cst,
		       memory_order_relaxed))
		;
	/* ORDER: seq_cst (see above); the wake flag is relaxed: one
	 * wake-up at a time, re-armed by release(). */
	if (atomic_load_explicit(&g->held, memory_order_seq_cst) != 0 &&
	    atomic_exchange_explicit(&g->wake, 1, memory_order_relaxed) == 0 &&
	    trp_send(node->out, OUT_CREDIT, NULL, 0) != 0)
		atomic_store_explicit(&g->wake, 0, memory_order_relaxed);
}

static void gate_stop(void *value, void *ctx)
{
	struct trp__node_gate *g = value;
	gate_open(ctx, g); /* nobody stays muted on it */
	(void)trp_actor_close(g->actor);
}

static void gate_free(void *value, void *ctx)
{
	(void)ctx;
	struct trp__node_gate *g = value;
	trp_actor_release(g->actor);
	trp__free(g, sizeof *g);
}

void trp__node_out_free(struct trp_node *node)
{
	trp__mutex_lock(&node->gates.lock);
	trp__node_table_clear(&node->gates, gate_free, NULL);
	trp__mutex_unlock(&node->gates.lock);
	trp__node_table_free(&node->gates);
	struct out *o = out_of(node);
	if (o == NULL)
		return;
	/* relaxed: nobody reads it any more (the node's subscriptions are
	 * closed before it is freed). */
	atomic_store_explicit(&node->out_state, NULL, memory_order_relaxed);
	trp__wire_buf_free(&o->dbuf);
	trp__free(o, sizeof *o);
}

static void out_free(void *buf)
{
	trp__free(buf, 0);
}

static int queue_item(struct trp_node *node, const char *dst, size_t dst_len,
		      const struct trp__node_out *h, const char *name,
		      const void *payload);

int trp__node_out_item(struct trp_node *node, const char *dst, size_t dst_len,
		       const struct trp__node_out *h, const char *name,
		       const void *payload)
{
	return trp__node_out_item_gated(node, NULL, dst, dst_len, h, name,
					payload);
}

int trp__node_out_item_gated(struct trp_node *node, struct trp__node_gate *g,
			     const char *dst, size_t dst_len,
			     const struct trp__node_out *h, const char *name,
			     const void *payload)
{
	trp__assert(dst_len <= TRP__NODE_DST_MAX);
	struct out *o = out_of(node);
	if (o == NULL)
		return TRP_EDEAD;
	int drc = direct(o, dst, dst_len, h, name, payload);
	if (drc != TRP__FORWARD_DECLINED)
		return drc;
	/* relaxed: see struct out (queued); the hand-off below publishes
	 * it to the thread. */
	atomic_fetch_add_explicit(&o->queued, 1, memory_order_relaxed);
	struct trp__node_out hd = *h;
	if (g != NULL) {
		hd.gated = 1;
		/* relaxed: a bound admit reads; the thread subtracts what
		 * it frames. */
		atomic_fetch_add_explicit(&g->backlog, 1, memory_order_relaxed);
	}
	int rc = queue_item(node, dst, dst_len, &hd, name, payload);
	if (rc != 0) {
		/* relaxed: as above. */
		atomic_fetch_sub_explicit(&o->queued, 1, memory_order_relaxed);
		if (g != NULL)
			atomic_fetch_sub_explicit(&g->backlog, 1,
						  memory_order_relaxed);
	}
	return rc;
}

static int queue_item(struct trp_node *node, const char *dst, size_t dst_len,
		      const struct trp__node_out *h, const char *name,
		      const void *payload)
{
	struct trp__node_out hd = *h;
	hd.dst_len = (uint8_t)dst_len;
	size_t size = sizeof hd + dst_len + hd.name_len + hd.len;
	unsigned char small[SMALL_ITEM];
	unsigned char *b = size <= sizeof small ? small : trp__alloc(size);
	if (b == NULL)
		return TRP_ENOMEM;
	memcpy(b, &hd, sizeof hd);
	memcpy(b + sizeof *h, dst, dst_len);
	memcpy(b + sizeof *h + dst_len, name, h->name_len);
	if (h->len != 0)
		memcpy(b + sizeof *h + dst_len + h->name_len, payload, h->len);
	if (b == small)
		return trp_send(node->out, OUT_ITEM, b, size);
	int rc = trp_send_owned(node->out, OUT_ITEM, b, size, out_free);
	if (rc != 0)
		trp__free(b, size);
	return rc;
}
