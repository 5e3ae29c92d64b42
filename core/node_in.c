/*
 * core/node_in.c - the inbound thread: one NATS subscription per node
 * (trp.<cluster>.n.<node>.>), read on a thread troupe owns, so that a
 * slow frame never holds up the client's own reader.
 *
 * A frame from node S (subject ...f.<S>) is checked against S's stream:
 *   - a new incarnation of S starts a new stream at the frame's first
 *     number (messages lost before the first frame a stream shows are the
 *     sender's to count: "no responders", or unsent);
 *   - a frame past the next expected number counts the gap exactly
 *     (TRP_LOSS_GAP: NATS dropped frames for us, a slow consumer);
 *   - a frame of an incarnation that said goodbye, or behind what was
 *     received, is stale (TRP_LOSS_STALE);
 *   - then the whole frame is validated before any item is delivered (a
 *     frame whose items are unreadable costs its count, TRP_LOSS_MALFORMED,
 *     never the node); a frame whose header is unreadable costs one
 *     counter and shows up as a gap at the next frame.
 * Items are delivered with ordinary sends from this thread: a SEND to the
 * exported or registered actor, an ASK with a reply target whose answer
 * goes back to S as a REPLY item (the answer may come from any thread,
 * any time later), a REPLY to the pending ask it names (node.c).
 *
 * A message on ...p.<S> with a reply subject is trp_node_wait_peer's ping
 * from S: answered, nothing else.
 *
 * A CREDIT frame on trp.<cluster>.r.<us>.<D> (same subscription) is D's
 * credit for our stream to it (flow control, node_out.c).
 *
 * A "no responders" status on
 * trp.<cluster>.r.<us>.<D>.<incarnation>.<first>.<count> says one of our
 * frames to D (as we last saw it up: that incarnation, 16 hex digits, 0
 * if not yet) reached nobody: its messages are lost
 * (counted here, on the sending node) and the asks pending at D fail at
 * once (TRP_ENOTCONN). It comes on its own asynchronous subscription
 * (trp__node_on_no_responders, on the client's delivery thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "alloc.h"
#include "backpressure.h"
#include "mailbox.h"
#include "node.h"
#include "park.h"
#include "quiescence.h"
#include "send.h"

#define WAIT_MS 50 /* how often the thread looks at its stop flag */

/* Frames taken and delivered, freed in batches: the client hands every
 * freed message to its collector thread and wakes it if it sleeps, which
 * at low load is one more thread woken per frame (BENCHMARKS.md,
 * remote_pingpong). Freed at SPENT_MAX frames or SPENT_BYTES bytes, when
 * the loop found nothing to do for WAIT_MS, and when the thread goes
 * quiet. */
#define SPENT_MAX 64
#define SPENT_BYTES (1u << 20)

struct in {
	struct trp_node *node;
	natsMsg *spent[SPENT_MAX];
	uint32_t nspent;
	size_t spent_bytes;
	struct trp__node_table streams; /* this thread only */
	struct trp__wire_buf credit;	/* a CREDIT frame being sent */
	/* the target of the frame's previous item (a frame's items mostly
	 * go to one actor): looked up once */
	struct trp_actor *last;
	uint16_t last_len;
	char last_name[TRP_NAME_MAX];
};

/* ------------------------------------------------------------------ */
/* answers to remote asks                                              */

struct remote_ask {
	struct trp__reply_to base; /* first */
	struct trp_node *node;
	_Atomic(uint32_t) refs;
	_Atomic(uint32_t) done;
	uint8_t src_len;
	char src[TRP_NODE_TOKEN_MAX];
	uint64_t ref, corr;
};

/* Sends the REPLY item for @corr/@ref to @src. */
static void reply_item(struct trp_node *node, const char *src, size_t src_len,
		       uint64_t ref, uint64_t corr, int status,
		       const void *data, size_t len)
{
	if (status == 0 && len > trp_node_max_payload(node, 0)) {
		status = TRP_EMSGSIZE; /* the answer cannot travel */
		len = 0;
	}
	struct trp__node_out h = {
		.op = TRP__WIRE_REPLY,
		.status = status,
		.len = status == 0 ? (uint32_t)len : 0,
		.ref = ref,
		.corr = corr,
	};
	if (trp__node_out_item(node, src, src_len, &h, "", data) == 0)
		trp__node_count(node, sent, 1);
}

static bool remote_answer(struct trp__reply_to *r, int status, const void *data,
			  size_t len)
{
	struct remote_ask *a = (struct remote_ask *)(void *)r;
	/* acq_rel: one answer wins. */
	if (atomic_exchange_explicit(&a->done, 1, memory_order_acq_rel) != 0)
		return false;
	reply_item(a->node, a->src, a->src_len, a->ref, a->corr, status, data,
		   len);
	return true;
}

static void remote_release(struct trp__reply_to *r)
{
	struct remote_ask *a = (struct remote_ask *)(void *)r;
	/* acq_rel: the last holder frees it after every other's use. */
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1) {
		trp__node_unref(a->node);
		trp__free(a, sizeof *a);
	}
}

static const struct trp__reply_ops remote_ops = {
	.answer = remote_answer,
	.release = remote_release,
};

/* ------------------------------------------------------------------ */
/* delivery                                                            */

static struct trp_actor *resolve(struct in *s, const char *name, size_t n)
{
	if (s->last != NULL && s->last_len == n &&
	    memcmp(s->last_name, name, n) == 0)
		return s->last;
	if (s->last != NULL)
		trp_actor_release(s->last);
	s->last = NULL;
	struct trp_node *node = s->node;
	struct trp_actor *a;
	trp__mutex_lock(&node->exports.lock);
	a = trp__node_table_get(&node->exports, name, n);
	if (a != NULL)
		trp_actor_retain(a);
	trp__mutex_unlock(&node->exports.lock);
	if (a == NULL) {
		char z[TRP_NAME_MAX + 1];
		memcpy(z, name, n);
		z[n] = '\0';
		if (trp_lookup(node->rt, z, &a) != 0)
			a = NULL;
	}
	if (a != NULL) {
		s->last = a;
		s->last_len = (uint16_t)n;
		memcpy(s->last_name, name, n);
	}
	return a;
}

/*
 * Sends @it to @to; while @to's bounded mailbox is full, waits (sleeping
 * from 20 us up to 1 ms between tries) until it has room, @to stops or
 * the node stops. So a receiver that cannot keep up holds the inbound
 * thread, frames wait in the subscription's pending queue, and credit
 * (below) is not returned: a flow-controlled sender stops at its window,
 * and NATS drops nothing while the pending limits exceed the windows. A
 * sender without flow control (TRP_NODE_CREDIT_OFF) goes on, and beyond
 * the limits NATS drops frames: a slow consumer, counted exactly as a
 * sequence gap. The cost either way is head-of-line blocking of
 * everything else sent to this node meanwhile (one inbound thread).
 */
static int send_waiting(struct trp_node *node, struct trp_actor *to,
			const struct trp__wire_item *it,
			const struct trp__send_opts *opt)
{
	long pause_ns = 20000;
	for (;;) {
		int rc = trp__actor_send(to, it->type, it->payload, it->len,
					 opt);
		/* relaxed: the flag only ends the wait. */
		if (rc != TRP_EFULL ||
		    atomic_load_explicit(&node->in_stop,
					 memory_order_relaxed) != 0)
			return rc;
		trp__node_loop_pause(node, pause_ns);
		if (pause_ns < 1000000)
			pause_ns *= 2;
	}
}

static void deliver(struct in *s, const char *src, size_t src_len,
		    const struct trp__wire_item *it)
{
	struct trp_node *node = s->node;
	if (it->op == TRP__WIRE_REPLY) {
		trp__node_count(node, replies_in, 1);
		if (trp__node_ask_answer(node, it->corr, it->status,
					 it->payload, it->len))
			trp__node_count(node, delivered, 1);
		else
			trp__node_count(node, undeliverable, 1);
		return;
	}
	if (it->op == TRP__WIRE_DOWN || it->op == TRP__WIRE_EXIT ||
	    it->op == TRP__WIRE_UNLINK) {
		trp__node_on_watch_item(node, src, src_len, it);
		trp__node_count(node, delivered, 1);
		return;
	}
	struct trp_actor *to = resolve(s, it->name, it->name_len);
	if (it->op == TRP__WIRE_WATCH) {
		trp__node_on_watch(node, src, src_len, to, it);
		trp__node_count(node, delivered, 1);
		return;
	}
	struct trp__send_opts opt = { .status = it->status, .entered = true };
	int rc = TRP_ENOENT;
	if (it->op == TRP__WIRE_SEND) {
		if (to != NULL)
			rc = send_waiting(node, to, it, &opt);
	} else if (to != NULL) {
		struct remote_ask *a = trp__alloc(sizeof *a);
		rc = TRP_ENOMEM;
		if (a != NULL) {
			a->base.ops = &remote_ops;
			a->base.rt = node->rt;
			a->base.receiver = to;
			a->node = node;
			atomic_init(&a->refs, 1);
			atomic_init(&a->done, 0);
			a->src_len = (uint8_t)src_len;
			memcpy(a->src, src, src_len);
			a->ref = it->ref;
			a->corr = it->corr;
			/* relaxed: our own reference keeps it alive here. */
			atomic_fetch_add_explicit(&node->refs, 1,
						  memory_order_relaxed);
			opt.reply = &a->base;
			rc = send_waiting(node, to, it, &opt);
			if (rc != 0) {
				trp__node_unref(node);
				trp__free(a, sizeof *a);
			}
		}
	}
	if (rc == 0) {
		trp__node_count(node, delivered, 1);
		return;
	}
	trp__node_count(node, undeliverable, 1);
	if (it->op == TRP__WIRE_ASK)
		/* the asker learns why at once */
		reply_item(node, src, src_len, it->ref, it->corr, rc, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* flow control: the receiver's side                                   */

/*
 * Credit is returned as this thread delivers: a frame that asks for it
 * (TRP__WIRE_F_CREDIT, once per quarter of the sender's window) is
 * answered, after its items went into their actors' mailboxes, with a
 * CREDIT frame on trp.<cluster>.r.<sender>.<us> (the sender's "no
 * responders" subscription, so credit never waits behind data) saying
 * how far the stream was delivered (every message before `expected`;
 * cumulative, so a lost CREDIT is made good by the next). Delivered
 * rather than processed: a bounded receiver holds this thread while it
 * is full (send_waiting), and an unbounded one that holds TRP__MUTE_HIGH
 * messages or more holds it too, until it is below TRP__MUTE_LOW, as a
 * muted sender would wait (wait_overloaded): either way the credit waits
 * with it. So at most a window per sender waits in NATS's pending queue,
 * and nothing is dropped while the pending limits exceed the windows.
 * A frame that shows a gap is answered too (a request may be what was
 * lost).
 */
static void wait_overloaded(struct trp_node *node, struct trp_actor *to)
{
	long pause_ns = 20000;
	/* ORDER: seq_cst reads of the count (mailbox.h); relaxed flags:
	 * they only end the wait. */
	if (trp__mailbox_count(&to->mailbox) < TRP__MUTE_HIGH)
		return;
	while (trp__mailbox_count(&to->mailbox) >= TRP__MUTE_LOW &&
	       atomic_load_explicit(&to->lifecycle, memory_order_relaxed) ==
		       TRP__ALIVE &&
	       atomic_load_explicit(&node->in_stop, memory_order_relaxed) ==
		       0) {
		trp__node_loop_pause(node, pause_ns);
		if (pause_ns < 1000000)
			pause_ns *= 2;
	}
}

static void credit(struct in *s, const char *src, size_t n, uint64_t src_inc,
		   uint64_t expected)
{
	struct trp_node *node = s->node;
	char subject[TRP__NODE_SUBJECT_MAX];
	snprintf(subject, sizeof subject, "trp.%s.r.%.*s.%s", node->cluster,
		 (int)n, src, node->name);
	trp__wire_begin(&s->credit, TRP__WIRE_CREDIT, node->incarnation,
			src_inc, expected);
	trp__wire_finish(&s->credit);
	if (s->credit.len != 0)
		(void)trp__node_publish(node, subject, NULL, s->credit.data,
					s->credit.len);
}

/* ------------------------------------------------------------------ */
/* streams                                                             */

static struct trp__node_stream *stream_get(struct in *s, const char *src,
					   size_t n)
{
	struct trp__node_stream *st = trp__node_table_get(&s->streams, src, n);
	if (st != NULL)
		return st;
	st = trp__calloc(1, sizeof *st);
	if (st != NULL && trp__node_table_put(&s->streams, src, n, st) != 0) {
		trp__free(st, sizeof *st);
		st = NULL;
	}
	return st;
}

static void on_frame(struct in *s, natsMsg *msg, const char *src, size_t n)
{
	struct trp_node *node = s->node;
	const void *data = natsMsg_GetData(msg);
	int len = natsMsg_GetDataLength(msg);
	trp__node_count(node, frames_in, 1);
	trp__node_count(node, bytes_in, len > 0 ? (uint64_t)len : 0);
	struct trp__wire_frame f;
	if (!trp__node_token_ok(src, n) || len <= 0 ||
	    trp__wire_header(data, (size_t)len, &f) != TRP__WIRE_OK) {
		trp__node_count(node, malformed_frames, 1);
		return;
	}
	struct trp__node_stream *st = stream_get(s, src, n);
	if (st == NULL) {
		/* no memory for the stream: as if NATS had dropped it */
		trp__node_count(node, malformed_frames, 1);
		return;
	}
	if (f.kind == TRP__WIRE_GOODBYE) {
		trp__node_lost(node, TRP_LOSS_GAP, src, n,
			       trp__node_stream_goodbye(st, &f));
		/* Before the acknowledgement: nothing we send it after the
		 * acknowledgement goes uncounted. */
		trp__node_out_gone(node, src, n, true, 0);
		const char *reply = natsMsg_GetReply(msg);
		if (reply != NULL)
			(void)trp__node_publish(node, reply, NULL, NULL, 0);
		trp__node_peer_down(node, src, n, f.src_inc,
				    TRP_NODE_DOWN_GOODBYE);
		return;
	}
	if (f.dst_inc != 0 && f.dst_inc != node->incarnation) {
		trp__node_lost(node, TRP_LOSS_STALE, src, n, f.count);
		return;
	}
	struct trp__node_seq q;
	trp__node_stream_data(st, &f, &q);
	if (!q.accept) {
		trp__node_lost(node, TRP_LOSS_STALE, src, n, q.stale);
		return;
	}
	/* a frame is a sign of life */
	trp__node_peer_seen(node, src, n, f.src_inc, 0, false);
	trp__node_lost(node, TRP_LOSS_GAP, src, n, q.gap);
	if (trp__wire_check_items(&f) != TRP__WIRE_OK) {
		trp__node_lost(node, TRP_LOSS_MALFORMED, src, n, f.count);
		return;
	}
	trp__node_count(node, received, f.count);
	bool entered = trp__outside_enter(node->rt) == 0;
	size_t off = 0;
	for (uint32_t i = 0; i < f.count; i++) {
		struct trp__wire_item it;
		trp__wire_item_at(&f, &off, &it);
		if (entered) {
			deliver(s, src, n, &it);
		} else {
			/* the runtime is going away */
			trp__node_count(node, undeliverable, 1);
		}
	}
	if ((f.flags & TRP__WIRE_F_CREDIT) != 0 || q.gap != 0) {
		/* the sender is flow controlled: credit once delivered */
		if (s->last != NULL)
			wait_overloaded(node, s->last);
		credit(s, src, n, f.src_inc, st->expected);
	}
	if (s->last != NULL) {
		trp_actor_release(s->last);
		s->last = NULL;
	}
	if (entered)
		trp__outside_leave(node->rt);
}

/* "No responders" for trp.<cluster>.r.<us>.<dst>.<inc>.<first>.<count>. */
void trp__node_on_no_responders(natsConnection *nc, natsSubscription *sub,
				natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct trp_node *node = closure;
	const char *subj = natsMsg_GetSubject(msg);
	/* our prefix: the subscription's subject without its ">" */
	size_t plen = strlen(node->nr_subject) - 1;
	if (!natsMsg_IsNoResponders(msg) &&
	    strncmp(subj, node->nr_subject, plen) == 0 &&
	    strchr(subj + plen, '.') == NULL) {
		/* trp.<cluster>.r.<us>.<src>: a CREDIT (one token after us;
		 * a reply subject has three) */
		const char *src = subj + plen;
		size_t n = strlen(src);
		struct trp__wire_frame f;
		int len = natsMsg_GetDataLength(msg);
		if (trp__node_token_ok(src, n) && len > 0 &&
		    trp__wire_header(natsMsg_GetData(msg), (size_t)len, &f) ==
			    TRP__WIRE_OK &&
		    f.kind == TRP__WIRE_CREDIT)
			trp__node_on_credit(node, src, n, &f);
		else
			trp__node_count(node, malformed_frames, 1);
	} else if (natsMsg_IsNoResponders(msg) &&
		   strncmp(subj, node->nr_subject, plen) == 0) {
		const char *rest = subj + plen;
		const char *dot = strchr(rest, '.');
		char *end = NULL;
		unsigned long long inc = 0, count = 0;
		if (dot != NULL) {
			inc = strtoull(dot + 1, &end, 16);
			if (*end == '.')
				(void)strtoull(end + 1, &end, 10); /* first */
			if (*end == '.')
				count = strtoull(end + 1, &end, 10);
			else
				end = NULL;
		}
		size_t dst_len = dot != NULL ? (size_t)(dot - rest) : 0;
		char rest_z[TRP_NODE_TOKEN_MAX + 1];
		if (end != NULL && *end == '\0' &&
		    trp__node_token_ok(rest, dst_len)) {
			memcpy(rest_z, rest, dst_len);
			rest_z[dst_len] = '\0';
			/* Right after our own disconnect or reconnect, the
			 * server we found may not know the peer's
			 * subscription yet (interest travels between a
			 * cluster's servers): "no
			 * responders" then says nothing about a peer that is
			 * up. Its heartbeats decide, and the peer, alive,
			 * counts these messages as a gap when our next frame
			 * comes: counting them here too would count them
			 * twice. Otherwise the peer is down: we count them,
			 * and our next frame to it restarts its count, so a
			 * peer that was alive after all does not count them
			 * again (a frame we sent before this answer came can
			 * still make it do so: a window of about a round
			 * trip). */
			/* relaxed: a time stamp, a hint (on_disconnected). */
			uint64_t since = atomic_load_explicit(
				&node->conn_change_ns, memory_order_relaxed);
			uint64_t window = node->hb_interval * node->hb_misses;
			bool grace = since != 0 &&
				     trp__now_ns() - since <= window;
			if (!grace ||
			    trp_node_peer_up(node, rest_z, NULL) != 1) {
				trp__node_lost(node, TRP_LOSS_NO_RESPONDERS,
					       rest, dst_len, count);
				trp__node_out_restart(node, rest, dst_len);
			}
			/* Its asks will not be answered (counted first: an
			 * asker that sees the failure sees the count). */
			trp__node_asks_fail(node, rest, dst_len, TRP_ENOTCONN);
			/* Down only the incarnation the frame was sent to:
			 * one that came up (or restarted) since is not what
			 * this answer is about (a frame sent before we saw
			 * it names 0), and its beats decide. */
			if (!grace && inc != 0)
				trp__node_peer_down(
					node, rest, dst_len, inc,
					TRP_NODE_DOWN_NO_RESPONDERS);
		}
	}
	natsMsg_Destroy(msg);
}

static void on_msg(struct in *s, natsMsg *msg)
{
	struct trp_node *node = s->node;
	const char *subj = natsMsg_GetSubject(msg);
	/* our prefix: the subscription's subject without its ">" */
	size_t plen = strlen(node->sub_subject) - 1;
	if (strncmp(subj, node->sub_subject, plen) != 0)
		return;
	const char *rest = subj + plen;
	if (strncmp(rest, "f.", 2) == 0) {
		on_frame(s, msg, rest + 2, strlen(rest + 2));
	} else if (strncmp(rest, "p.", 2) == 0) {
		/* trp_node_wait_peer's ping: not a frame, only answered with
		 * our incarnation, so the pinger counts us up at once (it
		 * waits behind the frames before it, which is fine) */
		const char *reply = natsMsg_GetReply(msg);
		unsigned char inc[8];
		for (int i = 0; i < 8; i++)
			inc[i] = (unsigned char)(node->incarnation >> (8 * i));
		if (reply != NULL)
			(void)trp__node_publish(node, reply, NULL, inc,
						sizeof inc);
	} else {
		trp__node_count(node, malformed_frames, 1);
	}
}

static void check_dropped(struct trp_node *node)
{
	int64_t dropped = 0;
	if (natsSubscription_GetDropped(node->sub, &dropped) == NATS_OK &&
	    dropped > 0)
		/* relaxed: a statistic; the client keeps the total. */
		atomic_store_explicit(&node->st.slow_consumer_frames,
				      (uint64_t)dropped, memory_order_relaxed);
}

static void free_stream(void *value, void *ctx)
{
	(void)ctx;
	trp__free(value, sizeof(struct trp__node_stream));
}

static void free_spent(struct in *s)
{
	for (uint32_t i = 0; i < s->nspent; i++)
		natsMsg_Destroy(s->spent[i]);
	s->nspent = 0;
	s->spent_bytes = 0;
}

static void spend(struct in *s, natsMsg *msg)
{
	int len = natsMsg_GetDataLength(msg);
	s->spent[s->nspent++] = msg;
	s->spent_bytes += len > 0 ? (size_t)len : 0;
	if (s->nspent == SPENT_MAX || s->spent_bytes >= SPENT_BYTES)
		free_spent(s);
}

/* Takes up to @max frames the loop queued on the subscription. How many. */
static uint32_t take(struct in *s, uint32_t max, uint32_t *n)
{
	struct trp_node *node = s->node;
	uint32_t took = 0;
	/* How many are queued first: NextMsg on an empty queue reports a
	 * timeout through the client's error stack, which formats a message
	 * each time (most of a look that finds nothing). */
	int queued = 0;
	if (natsSubscription_GetPending(node->sub, &queued, NULL) != NATS_OK ||
	    queued <= 0)
		return 0;
	if ((uint32_t)queued < max)
		max = (uint32_t)queued;
	while (took < max) {
		natsMsg *msg = NULL;
		natsStatus st = natsSubscription_NextMsg(&msg, node->sub, 0);
		if (st == NATS_SLOW_CONSUMER) {
			check_dropped(node); /* said once, then frames again */
			continue;
		}
		if (st != NATS_OK)
			break;
		/* The last frame queued: we will most likely sleep after
		 * it, so its wake-ups may put a worker on our CPU. */
		trp__waker_sleeps = took + 1 == (uint32_t)queued;
		on_msg(s, msg);
		trp__waker_sleeps = false;
		spend(s, msg);
		took++;
		if ((++*n & 1023) == 0)
			check_dropped(node);
	}
	return took;
}

#define BATCH 64 /* frames taken between two looks at the socket */

/* Tells trp__node_in_quiet that this thread delivers no more. */
static void say_quiet(struct trp_node *node)
{
	atomic_store(&node->in_quiet, 1u); /* seq_cst: see in_main */
	trp__futex_wake(&node->in_quiet, 1);
}

static void *in_main(void *arg)
{
	struct in s = { .node = arg };
	struct trp_node *node = s.node;
	trp__thread_name("trp-node-in");
	uint32_t n = 0;
	bool quiet = false;
	/* ORDER: seq_cst flags. in_ready's store follows node->sub's (its
	 * reader sees the subscription); in_stop is answered with in_quiet
	 * after the last delivery; loop.stop ends the thread. */
	while (atomic_load(&node->loop.stop) == 0) {
		uint32_t took = 0;
		if (!quiet && atomic_load(&node->in_stop) != 0) {
			free_spent(&s);
			quiet = true;
			check_dropped(node);
			say_quiet(node);
		}
		if (!quiet && atomic_load(&node->in_ready) != 0)
			took = take(&s, BATCH, &n);
		/* a full batch: more may be queued; look at the socket
		 * without waiting, then take again */
		if (!trp__node_loop_run(
			    node, took == BATCH ? 0 : WAIT_MS * 1000000ll) &&
		    took == 0)
			free_spent(&s); /* nothing came meanwhile */
	}
	free_spent(&s);
	if (!quiet) /* a start that failed: nobody waits, but be sure */
		say_quiet(node);
	trp__wire_buf_free(&s.credit);
	if (s.last != NULL)
		trp_actor_release(s.last);
	trp__node_table_clear(&s.streams, free_stream, NULL);
	trp__node_table_free(&s.streams);
	return NULL;
}

int trp__node_in_start(struct trp_node *node)
{
	atomic_init(&node->in_ready, 0u);
	atomic_init(&node->in_stop, 0u);
	atomic_init(&node->in_quiet, 0u);
	return trp__thread_start(&node->in_thread, in_main, node);
}

void trp__node_in_ready(struct trp_node *node)
{
	atomic_store(&node->in_ready, 1u); /* seq_cst: see in_main */
	trp__node_loop_ring(node);
}

void trp__node_in_quiet(struct trp_node *node)
{
	atomic_store(&node->in_stop, 1u);
	trp__node_loop_ring(node);
	while (atomic_load(&node->in_quiet) == 0)
		trp__futex_wait(&node->in_quiet, 0, 10000000);
}

void trp__node_in_join(struct trp_node *node)
{
	atomic_store(&node->loop.stop, 1u);
	trp__node_loop_ring(node);
	trp__thread_join(&node->in_thread);
}

void trp__node_in_stop(struct trp_node *node, uint64_t deadline)
{
	/* Drain: the server stops sending to us (a peer's later frames get
	 * "no responders", counted on its side), and the frames already on
	 * their way or pending here are still taken and delivered, so none
	 * is lost uncounted. Then the thread delivers no more; it goes on
	 * reading for the connection until it closes (trp__node_in_join). */
	if (natsSubscription_Drain(node->sub) == NATS_OK) {
		uint64_t now = trp__now_ns();
		int64_t ms = now < deadline ?
				     (int64_t)((deadline - now) / 1000000) :
				     0;
		(void)natsSubscription_WaitForDrainCompletion(node->sub,
							      ms > 0 ? ms : 1);
	}
	trp__node_in_quiet(node);
}
