/*
 * core/node.h - the nodes feature inside the runtime (public API in
 * troupe/node.h), shared by its files:
 *
 *   node.c        start, stop, the feature row, exports, stats, losses
 *   node_proxy.c  the proxy kind: a local address for a remote actor
 *   node_out.c    the outbound thread: frames, publishing, goodbyes
 *   node_in.c     the inbound thread: streams, decoding, delivery,
 *                 answers to remote asks
 *   node_peers.c  failure detection: heartbeats, peers up and down
 *   node_watch.c  remote monitors: WATCH and DOWN items, the agent
 *   node_bridge.c exchanges across nodes
 *   node_wire.c   the frame format (node_wire.h)
 *
 * One message's way from actor S on node A to actor T on node B:
 *   1. S sends to the proxy P for (B, "T"): an ordinary bounded send
 *      (the proxy kind refuses a payload that cannot fit a frame).
 *   2. P's turn (a worker) wraps it (struct trp__node_out) and sends it
 *      to A's outbound thread actor; a request's reply target moves into
 *      A's pending asks under a fresh correlation id.
 *   3. The outbound thread appends it to the frame it is building for B;
 *      when its mailbox is empty (everything queued has been taken) or
 *      the frame is full, the frame gets the stream's next sequence
 *      numbers and is published on trp.<cluster>.n.<B>.f.<A> with the
 *      reply subject trp.<cluster>.r.<A>.<B>.<first>.<count>, so that a
 *      frame nobody receives comes back to A as "no responders" saying
 *      exactly which messages were lost (a second subscription of A's,
 *      asynchronous: a synchronous one gets that status without the
 *      message, so without its subject).
 *   4. B's inbound thread (one NATS subscription, trp.<cluster>.n.<B>.>)
 *      checks the stream's sequence (gaps are counted), validates the
 *      whole frame, then delivers each item with an ordinary send to the
 *      exported or registered actor; an ask is sent with a reply target
 *      whose answer goes back as a REPLY item in B's stream to A.
 *   5. A's inbound thread answers the pending ask's reply target.
 * At low load step 3 is done by the sender's thread itself (node_out.c,
 * direct()). Flow control: A may have credit_window messages on their
 * way to B; B returns credit (CREDIT frames on trp.<cluster>.r.<A>.<B>)
 * as it delivers; past the window A holds messages back and mutes the
 * senders to its proxies for B on the stream's gate (node_out.c).
 *
 * Threads: the outbound streams and frame buffers are written under the
 * outbound state's lock (the outbound thread for a batch, or one sender
 * publishing directly: node_out.c); the inbound thread owns the
 * inbound streams; both read the node's immutable fields. The tables
 * shared with user threads (proxies, exports, pending asks) each have a
 * mutex (cold: lookups per frame, not per message, and per ask). Counters
 * are relaxed atomics: statistics, read after quiescence for the
 * conservation check.
 */
#ifndef TRP_CORE_NODE_H
#define TRP_CORE_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <nats/nats.h>

#include "actor.h"
#include "message.h"
#include "node_wire.h"
#include "platform.h"
#include "troupe/names.h"
#include "troupe/node.h"

/* Subject of a node's frames: "trp." + cluster + ".n." + node + ".f." +
 * node; reply subjects add ".nr." + node + two 20-digit numbers. */
#define TRP__NODE_SUBJECT_MAX (4 * TRP_NODE_TOKEN_MAX + 96)

/* Longest destination of an outbound stream: a node's name, or "x." and a
 * bridged exchange's name (node_bridge.c). */
#define TRP__NODE_DST_MAX (TRP_NODE_TOKEN_MAX + 2)

/* What a proxy hands to the outbound thread (the message's payload): this
 * header, the destination node's name, the actor's name, the payload. */
struct trp__node_out {
	uint8_t op; /* enum trp__wire_op */
	uint8_t dst_len;
	uint16_t name_len;
	uint8_t gated; /* counted in its gate's backlog (node_out.c) */
	uint32_t type;
	uint32_t len;
	int32_t status;
	uint64_t ref;
	uint64_t corr;
	/* char dst[dst_len], name[name_len], payload[len] follow */
};

/* A key of the proxy and export tables. */
struct trp__node_name {
	uint8_t len;
	char s[TRP_NAME_MAX + 1];
};

struct trp__node_hash_entry {
	struct trp__node_hash_entry *next;
	void *value;
	uint8_t klen;
	unsigned char key[];
};

/* A mutex-protected chained hash of names (proxies, exports, pending
 * asks keyed by correlation id, streams). */
struct trp__node_table {
	struct trp__mutex lock;
	struct trp__node_hash_entry **b;
	size_t nb;
	size_t n;
};

struct trp_node {
	/* immutable after start */
	struct trp_runtime *rt;
	char cluster[TRP_NODE_TOKEN_MAX + 1];
	char name[TRP_NODE_TOKEN_MAX + 1];
	size_t name_len;
	uint64_t incarnation;
	size_t max_frame;
	uint32_t proxy_mailbox;
	trp_node_loss_fn on_loss;
	void *loss_ctx;
	natsConnection *nc;
	_Atomic(uint32_t) nats_closed; /* the closed callback ran */
	/* our last disconnect or reconnect, or 0 (node_in.c: "no responders"
	 * right after one says nothing about the peer) */
	_Atomic(uint64_t) conn_change_ns;
	natsSubscription *sub;	  /* frames: trp.<cluster>.n.<name>.> */
	natsSubscription *nr_sub; /* no responders: trp.<cluster>.r.<name>.> */
	char sub_subject[TRP__NODE_SUBJECT_MAX];
	char nr_subject[TRP__NODE_SUBJECT_MAX];

	/* the outbound thread actor (node_out.c) and its state; the handle
	 * lives until the node is freed */
	struct trp_actor *out;
	/* the outbound state: set by trp__node_out_start (release) while
	 * the heartbeat subscription may already read it (acquire) */
	_Atomic(void *) out_state;
	/* the inbound thread (node_in.c): started before the connection,
	 * whose event loop it runs (node_loop.c), and ended after it closed;
	 * it takes frames once the subscription is made (in_ready) and
	 * until it is told to stop (in_stop), which it acknowledges
	 * (in_quiet: it delivers nothing after) */
	struct trp__thread in_thread;
	_Atomic(uint32_t) in_ready, in_stop, in_quiet;
	struct {
		int bell;	 /* an eventfd: wakes the loop */
		_Atomic(int) fd; /* the connection's socket, or -1 */
		_Atomic(natsConnection *) nc; /* set by the attach */
		/* the client's read and write interests; the loop's end */
		_Atomic(uint32_t) want_read, want_write, stop;
		struct trp__mutex write; /* node_loop.c: write_some */
	} loop;

	/* failure detection (node_peers.c): the peers' state and the node
	 * monitors, both under peer_tbl.lock */
	struct trp__node_table peer_tbl; /* name -> struct peer */
	void *watchers;			 /* struct watcher[cwatchers] */
	size_t nwatchers, cwatchers;
	uint64_t hb_interval; /* ns */
	uint32_t hb_misses;
	natsSubscription *hb_sub;		/* trp.<cluster>.hb.* */
	char hb_subject[TRP__NODE_SUBJECT_MAX]; /* ours */
	char hb_prefix[TRP__NODE_SUBJECT_MAX];	/* "trp.<cluster>.hb." */
	struct trp__thread hb_thread;
	_Atomic(uint32_t) hb_stop;

	/* remote monitors (node_watch.c): the agent actor watching local
	 * actors for other nodes, and its records (monitor ref -> watch) */
	struct trp_actor *agent;
	struct trp__node_table watches;

	/* bridged exchanges (node_bridge.c): name -> bridge, under its lock;
	 * the receiving streams, the x subscription's thread only */
	struct trp__node_table bridges;
	struct trp__node_table xstreams;
	natsSubscription *x_sub;	      /* trp.<cluster>.x.> */
	char x_prefix[TRP__NODE_SUBJECT_MAX]; /* "trp.<cluster>.x." */

	/* streams whose next frame restarts the receiver's count (a frame
	 * to them was counted lost: "no responders"); node_out.c */
	struct trp__node_table restarts;
	_Atomic(uint32_t) restarts_pending;

	/* flow control (node_out.c): the window in items per stream to
	 * another node (0: off), and one gate per such node (dst -> struct
	 * trp__node_gate), under its lock; gates live until the node is
	 * freed */
	uint32_t credit_window;
	struct trp__node_table gates;

	/* tables shared with user threads */
	struct trp__node_table proxies; /* (node, name) -> proxy actor */
	struct trp__node_table exports; /* name -> actor */
	struct trp__node_table asks;	/* corr -> pending ask */
	_Atomic(uint64_t) next_corr;
	_Atomic(uint32_t) stopping; /* trp_node_stop began */

	/* references: the node's own (dropped by stop) + one per remote
	 * ask answer target still alive (node_in.c) */
	_Atomic(uint64_t) refs;

	/* counters (troupe/node.h trp_node_stats_t) */
	struct {
		_Atomic(uint64_t) sent, received, delivered, undeliverable;
		_Atomic(uint64_t) lost[TRP_LOSS_CAUSES];
		_Atomic(uint64_t) frames_out, frames_in, bytes_out, bytes_in;
		_Atomic(uint64_t) malformed_frames, slow_consumer_frames;
		_Atomic(uint64_t) asks_out, replies_in, peers;
		_Atomic(uint64_t) peers_up, peer_downs, disconnects, reconnects;
		_Atomic(uint64_t) xsent, xreceived, xlost;
		_Atomic(uint64_t) held, held_max, windows_full, credits_in;
	} st;
};

/* relaxed: statistics. */
#define trp__node_count(node, field, n)                                        \
	atomic_fetch_add_explicit(&(node)->st.field, (uint64_t)(n),            \
				  memory_order_relaxed)

/* Counts @messages lost to @cause with peer @peer (@peer_len bytes) and
 * tells the user's hook. Any of the node's threads. */
void trp__node_lost(struct trp_node *node, trp_loss_cause_t cause,
		    const char *peer, size_t peer_len, uint64_t messages);

/* Drops a reference to @node (frees it at 0). */
void trp__node_unref(struct trp_node *node);

/* Checks a cluster or node name: 1..TRP_NODE_TOKEN_MAX of [A-Za-z0-9_-]. */
bool trp__node_token_ok(const char *s, size_t len);

/* ---- tables (node.c) ---- */

/* Finds the value under @key (@klen bytes); NULL if none. Caller holds
 * the table's lock. */
void *trp__node_table_get(struct trp__node_table *t, const void *key,
			  size_t klen);
/* Inserts (@key, @value); TRP_ENOMEM. Caller holds the lock and has
 * checked the key is absent. */
int trp__node_table_put(struct trp__node_table *t, const void *key, size_t klen,
			void *value);
/* Removes @key and returns its value, or NULL. Caller holds the lock. */
void *trp__node_table_del(struct trp__node_table *t, const void *key,
			  size_t klen);
/* Removes up to @max entries for which @match says true, storing their
 * values in @out; returns how many. Caller holds the lock. */
size_t trp__node_table_take(struct trp__node_table *t,
			    bool (*match)(const void *key, size_t klen,
					  void *value, void *ctx),
			    void *ctx, void **out, size_t max);
/* Removes every entry, calling @fn on each value. Caller holds the lock. */
void trp__node_table_clear(struct trp__node_table *t,
			   void (*fn)(void *value, void *ctx), void *ctx);
/* Frees the table's memory (empty it first). */
void trp__node_table_free(struct trp__node_table *t);

/* ---- streams, receiving side (node.c) ---- */

/* One sender's stream as a receiver sees it (node streams: node_in.c;
 * exchange streams: node_bridge.c). */
struct trp__node_stream {
	uint64_t inc;	   /* the sender's current incarnation, 0: none */
	uint64_t ended;	   /* the last incarnation that ended or was replaced */
	uint64_t expected; /* next sequence number of the current one */
};

/* What a frame means for its stream. */
struct trp__node_seq {
	uint64_t gap;	/* messages missing before the frame: lost */
	uint64_t stale; /* the frame is stale: its messages are lost */
	bool accept;	/* deliver it (when its items check out) */
};

/* Checks the DATA frame @f against @st and advances @st: a new
 * incarnation starts a new stream at its first frame (the messages before
 * it are the sender's to count), a replaced or ended one is stale, a frame
 * behind the stream is stale, a hole before it is a gap unless the sender
 * says it counted it (TRP__WIRE_F_RESTART). */
void trp__node_stream_data(struct trp__node_stream *st,
			   const struct trp__wire_frame *f,
			   struct trp__node_seq *out);
/* The GOODBYE @f ends @st; returns the gap at the stream's end. */
uint64_t trp__node_stream_goodbye(struct trp__node_stream *st,
				  const struct trp__wire_frame *f);

/* Selecting entries "of node @dst" in the tables (trp__node_table_take's
 * match): a proxy's key is "<node>\0<name>" (node_proxy.c). */
struct trp__node_to {
	const char *dst; /* NULL: every node */
	size_t dst_len;
};

static inline bool trp__node_to_is(const struct trp__node_to *t,
				   const char *name, size_t len)
{
	return t->dst == NULL ||
	       (len == t->dst_len && memcmp(name, t->dst, len) == 0);
}

static inline bool trp__node_to_key(const struct trp__node_to *t,
				    const void *key, size_t klen)
{
	return klen > t->dst_len && memcmp(key, t->dst, t->dst_len) == 0 &&
	       ((const char *)key)[t->dst_len] == '\0';
}

/* ---- pending asks (node.c) ---- */

/* Files @r (the reference moves in) under a fresh correlation id for
 * node @dst; 0 and *corr, or TRP_ENOMEM (the reference stays the
 * caller's). */
int trp__node_ask_file(struct trp_node *node, struct trp__reply_to *r,
		       const char *dst, size_t dst_len, uint64_t *corr);
/* Takes the ask @corr out without answering it: the reply target's
 * reference is the caller's again (a send that failed after filing). */
void trp__node_ask_unfile(struct trp_node *node, uint64_t corr);
/* Takes the ask @corr out and answers it (reply @data/@len or @status).
 * False if there was none (answered already). */
bool trp__node_ask_answer(struct trp_node *node, uint64_t corr, int status,
			  const void *data, size_t len);
/* Answers with @status every pending ask to @dst (NULL: to anyone). */
void trp__node_asks_fail(struct trp_node *node, const char *dst, size_t dst_len,
			 int status);

/* ---- proxies (node_proxy.c) ---- */

/* Closes every proxy and waits (until @deadline, ns, 0: none) for each to
 * have handed its messages to the outbound thread; kills the rest. */
void trp__node_proxies_close(struct trp_node *node, uint64_t deadline);

/* Takes every proxy to node @dst out of the table and kills it with @why
 * (TRP_STOP_NOCONNECTION when @dst went down): trp_node_proxy() makes
 * fresh ones afterwards. */
void trp__node_proxies_kill(struct trp_node *node, const char *dst,
			    size_t dst_len, trp_stop_reason_t why);

/* ---- failure detection (node_peers.c) ---- */

/* A sign of life from @name (a beat, or a frame): up if it was not (a new
 * incarnation first takes the old one down); a beat that says it leaves
 * takes it down. @interval_ns: its announced beat interval, 0 if unknown. */
void trp__node_peer_seen(struct trp_node *node, const char *name, size_t len,
			 uint64_t incarnation, uint64_t interval_ns,
			 bool leaving);
/* @name (@incarnation, 0: whichever) is down for @reason, if it was up:
 * decided once, then its proxies are killed (TRP_STOP_NOCONNECTION), its
 * pending asks fail, node monitors are told. Any thread, no lock held. */
void trp__node_peer_down(struct trp_node *node, const char *name, size_t len,
			 uint64_t incarnation, uint32_t reason);
/* How this node sees @name: 1 up, 0 down (seen, then lost), -1 never
 * seen (it may still be starting); *@incarnation (if not NULL): the one
 * last seen, 0 if none. Any thread; takes the peer table's lock (after the
 * streams' lock, if the caller holds that). */
int trp__node_peer_state(struct trp_node *node, const char *name, size_t len,
			 uint64_t *incarnation);
/* The callback of node->hb_sub. */
void trp__node_on_beat(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		       void *closure);
/* Starts / stops the heartbeat thread (stop sends a last, leaving beat). */
int trp__node_peers_start(struct trp_node *node);
void trp__node_peers_stop(struct trp_node *node);
/* Frees the peers' state and drops the node monitors (after the
 * subscriptions are gone). */
void trp__node_peers_fini(struct trp_node *node);

/* ---- remote monitors (node_watch.c) ---- */

/* Spawns the agent / drops every record and closes the agent. */
int trp__node_watch_start(struct trp_node *node);
void trp__node_watch_stop(struct trp_node *node);
/* A proxy's first monitor or link (A side): WATCH item to @dst. */
void trp__node_proxy_watch(struct trp_node *node, const char *dst,
			   size_t dst_len, const char *name, size_t name_len,
			   uint64_t proxy_id);
/* Clears a proxy's "WATCH outstanding" flag (node_proxy.c). */
void trp__node_proxy_unwatched(struct trp_actor *proxy);
/* The inbound thread got a WATCH for @target (NULL: no such name) from
 * @src (B side). */
void trp__node_on_watch(struct trp_node *node, const char *src, size_t src_len,
			struct trp_actor *target,
			const struct trp__wire_item *it);
/* A linked actor (@from) of @proxy's stopped (A side, the proxy kind's
 * link_exit): an EXIT item to the target's node, behind what @proxy
 * holds. */
void trp__node_proxy_exit(struct trp_node *node, struct trp_actor *proxy,
			  const char *dst, size_t dst_len, const char *name,
			  size_t name_len, uint64_t from, trp_stop_reason_t why,
			  int32_t code);
/* A link of a proxy with the local actor @peer is made (@on: a WATCH
 * with corr = @peer, before the link exists) or removed (UNLINK). */
void trp__node_proxy_link(struct trp_node *node, const char *dst,
			  size_t dst_len, const char *name, size_t name_len,
			  uint64_t proxy_id, uint64_t peer, bool on);
/* The inbound thread got a DOWN (A side), an EXIT or an UNLINK (B side)
 * from @src. */
void trp__node_on_watch_item(struct trp_node *node, const char *src,
			     size_t src_len, const struct trp__wire_item *it);
/* Drops the records of watchers on node @peer, which went down: the
 * actors they hold links of are signalled TRP_STOP_NOCONNECTION. */
void trp__node_watches_drop(struct trp_node *node, const char *peer,
			    size_t peer_len);
/* In a proxy's behaviour: true if @msg is a DOWN's marker or an EXIT
 * (handled). */
bool trp__node_watch_marker(const trp_msg_t *msg);

/* ---- bridged exchanges (node_bridge.c) ---- */

/* The callback of node->x_sub. */
void trp__node_on_exchange(natsConnection *nc, natsSubscription *sub,
			   natsMsg *msg, void *closure);
/* Unbridges every exchange (their sinks are detached when it returns). */
void trp__node_bridges_stop(struct trp_node *node);
/* Frees the receiving streams (after x_sub is drained). */
void trp__node_xstreams_free(struct trp_node *node);

/* ---- flow control (node_out.c) ---- */

/*
 * A stream's window, as the threads that need it share it: the outbound
 * thread (holds items past the window, closes and opens the gate), the
 * proxies to the node (their admit hook mutes senders while the gate is
 * closed) and the thread that receives the node's CREDIT frames (moves
 * `acked` forward and wakes the outbound thread).
 */
struct trp__node_gate {
	/* muted senders wait on this actor (it never gets a message): its
	 * mailbox count holds TRP__MUTE_HIGH while the gate is closed, so
	 * the backpressure protocol (backpressure.h) mutes and unmutes them
	 * exactly as for an overloaded mailbox */
	struct trp_actor *actor;
	_Atomic(uint64_t) acked;  /* the receiver delivered everything
				     before this sequence number */
	_Atomic(uint32_t) closed; /* the window is exhausted */
	_Atomic(uint32_t) wake;	  /* a credit wake-up is on its way */
	_Atomic(uint64_t) held;	  /* items the outbound thread holds */
	/* items proxies handed to the outbound thread and it has not framed
	 * yet (held ones included): what admit bounds */
	_Atomic(uint64_t) backlog;
	uint8_t dst_len;
	char dst[TRP_NODE_TOKEN_MAX];
};

/* The gate of the stream to @dst (made on first use), or NULL when flow
 * control is off or memory is short (then nothing is gated). Any thread. */
struct trp__node_gate *trp__node_gate_get(struct trp_node *node,
					  const char *dst, size_t dst_len);
/* The admit hook's part (a proxy's sender thread): 0, or TRP_EFULL when
 * the gate is closed and holds a window's worth already; a sender that is
 * an actor is muted on the gate at the end of its turn. */
int trp__node_gate_admit(struct trp_node *node, struct trp__node_gate *g);
/* A CREDIT frame @f from @src (the client's delivery thread). */
void trp__node_on_credit(struct trp_node *node, const char *src, size_t len,
			 const struct trp__wire_frame *f);

/* ---- outbound (node_out.c) ---- */

/* Spawns the outbound thread actor. 0 or an error of trp_thread_actor_spawn.
 */
int trp__node_out_start(struct trp_node *node);
/* Closes it: it sends what it holds, says goodbye to each peer (waiting
 * until @deadline for acknowledgements), and is joined. */
void trp__node_out_stop(struct trp_node *node, uint64_t deadline);
/* Frees the outbound state (node_free, after the stop). */
void trp__node_out_free(struct trp_node *node);
/* The next frame to @dst tells its receiver to start counting afresh
 * (this node counted the messages of a frame that reached nobody). */
void trp__node_out_restart(struct trp_node *node, const char *dst,
			   size_t dst_len);
/* Node @dst said goodbye (@gone; call before acknowledging it) or is up
 * again as @incarnation (!@gone): while gone, frames to it are counted as
 * lost (unsent) instead of being published; once up, its frames name
 * @incarnation in their reply subject. Takes the streams' lock; call with
 * no other node lock held. */
void trp__node_out_gone(struct trp_node *node, const char *dst, size_t dst_len,
			bool gone, uint64_t incarnation);
/* Queues an item for node @dst (a REPLY from an answer target, or any
 * item): 0 or a send error (the outbound thread is gone: TRP_EDEAD). */
int trp__node_out_item(struct trp_node *node, const char *dst, size_t dst_len,
		       const struct trp__node_out *h, const char *name,
		       const void *payload);
/* The same from a proxy whose stream has the gate @g (NULL: none): the
 * item counts in the gate's backlog until it is framed. */
int trp__node_out_item_gated(struct trp_node *node, struct trp__node_gate *g,
			     const char *dst, size_t dst_len,
			     const struct trp__node_out *h, const char *name,
			     const void *payload);

/* ---- the connection's event loop (node_loop.c) ---- */

/* The loop's bell (an eventfd); 0 or TRP_ESYSTEM. */
int trp__node_loop_init(struct trp_node *node);
void trp__node_loop_fini(struct trp_node *node);
/* Puts the loop's callbacks into the connection's options. */
natsStatus trp__node_loop_options(struct trp_node *node, natsOptions *o);
/* Wakes the loop. */
void trp__node_loop_ring(struct trp_node *node);
/* One turn of the loop (inbound thread): waits up to @timeout_ns (< 0:
 * for ever) for the socket or the bell and lets the client read or write.
 * Whether it read. */
bool trp__node_loop_run(struct trp_node *node, int64_t timeout_ns);
/* Runs the loop for @ns (inbound thread: its waits keep reading). */
void trp__node_loop_pause(struct trp_node *node, long ns);
/* Publishes (with @reply unless NULL) and writes it to the socket on the
 * calling thread, without blocking (the loop writes what the socket did
 * not take). Every publish of the node's goes through it. */
natsStatus trp__node_publish(struct trp_node *node, const char *subject,
			     const char *reply, const void *data, size_t len);
/* Waits (bounded) while the client buffers more than @limit bytes for a
 * connected socket, writing meanwhile: the outbound thread's bound. */
void trp__node_loop_bound(struct trp_node *node, size_t limit);

/* ---- inbound (node_in.c) ---- */

/* Starts the inbound thread: the connection's loop at once, the frames
 * once node->sub is made (trp__node_in_ready). */
int trp__node_in_start(struct trp_node *node);
/* node->sub is made: the thread may take frames. */
void trp__node_in_ready(struct trp_node *node);
/* The thread delivers nothing from now on (it goes on running the loop);
 * returns once it acknowledged. Idempotent. */
void trp__node_in_quiet(struct trp_node *node);
/* After the connection closed: ends and joins the thread. */
void trp__node_in_join(struct trp_node *node);
/* The callback of node->nr_sub (runs on the client's delivery thread). */
void trp__node_on_no_responders(natsConnection *nc, natsSubscription *sub,
				natsMsg *msg, void *closure);
/* Drains the subscription (until @deadline: frames on their way are still
 * delivered), then quiets the inbound thread (trp__node_in_quiet). */
void trp__node_in_stop(struct trp_node *node, uint64_t deadline);

#endif /* TRP_CORE_NODE_H */
