/*
 * troupe/node.h - nodes: a runtime joins a cluster of processes over NATS,
 * and its actors reach registered actors of other nodes through ordinary
 * actor handles (proxies).
 *
 * A node is one NATS connection, a node name unique in its cluster, and a
 * random incarnation drawn at every trp_node_start() (a restarted process
 * is a new peer). Reachable from other nodes are the runtime's registered
 * names (names.h) and the names exported with trp_node_export(); nothing
 * else.
 *
 * Proxies: trp_node_proxy() returns a handle for "actor NAME on node N".
 * trp_send(), trp_send_owned(), trp_ask(), trp_register() and exchange
 * subscriptions work on it unchanged: a message to a proxy leaves in the
 * next frame to N and is delivered there by name with an ordinary send; a
 * request's answer (or its error: TRP_ENOENT when N has no actor of that
 * name, TRP_ENOTCONN when N is not there) comes back in N's stream and
 * completes the asker's future.
 *
 * Proxies live as long as their node: the node's table holds one reference
 * to each, so a proxy registered under a local name keeps working after
 * the caller released its handle; trp_node_stop() closes them all.
 *
 * Order: messages from one sender to one remote actor arrive in the order
 * they were sent (all traffic from node A to node B is one ordered stream).
 * "Arrive" means: handed to the remote actor's mailbox, as a local send
 * does; to know that a remote actor has processed something, ask it (its
 * answer comes after everything sent to it before the ask).
 *
 * Monitors and links on proxies (troupe/monitor.h) watch the remote actor:
 * the remote node monitors it on our behalf, and its stop comes back in
 * its node's ordered stream, after its last messages to us, with the real
 * reason and code: each trp_monitor() on the proxy gets one DOWN, each
 * actor linked to the proxy its exit signal (trp_down_t.actor_id is the
 * proxy's id). The other way, when an actor linked to a proxy stops, its
 * exit signal travels in our stream to the remote node, after everything
 * it sent through that proxy: the remote actor stops with TRP_STOP_LINKED
 * if the reason is abnormal, or, if it traps exits, gets the exit message
 * with the real reason and code (actor_id: the stopped actor's id on its
 * own node); normal stops reach trappers only, as locally. trp_unlink()
 * cancels both directions. When the remote node goes down, every monitor
 * and link on its proxies fires once with TRP_STOP_NOCONNECTION (a DOWN
 * racing the node's loss is not delivered twice); the other way, when our
 * node goes down as the remote node sees it (our trp_node_stop()
 * included), each of its actors linked to one of ours hears
 * TRP_STOP_NOCONNECTION once per link. A proxy is an address by name:
 * after its actor stopped, the next monitor or link watches whoever holds
 * the name then.
 *
 * Payloads cross as bytes: their byte order and layout are the
 * application's (both ends of a cluster on one architecture can share
 * structs; otherwise encode them, in the payload).
 *
 * Quiescence: trp_runtime_wait_idle() says nothing about messages on their
 * way to or from other nodes (in the outbound thread, in NATS); the
 * conservation identity below holds once every node's runtime is idle and
 * no frame is in flight (after the senders' trp_node_stop(), for one).
 *
 * Delivery is at most once, and no loss is silent: each stream numbers its
 * messages, so a gap is an exact count, and every message that leaves a
 * proxy is either received by the other node or counted in one cause of
 * trp_node_stats_t.lost (and reported to the config's on_loss hook). At
 * quiescence, summed over the nodes of a cluster:
 *     sent == received + the sum of lost[] over all causes.
 * Messages still in a proxy's mailbox when the node stops are the local
 * runtime's dead letters (TRP_DEAD_STOPPED), as for any actor.
 *
 * Threads: a node adds a fixed number of threads whatever the number of
 * peers: one inbound thread (it reads and writes the connection's socket
 * itself, on its own event loop, decodes frames and delivers their
 * messages), one outbound thread actor (turns what the proxies queued into
 * frames and publishes them), one heartbeat thread, and the NATS client's
 * delivery threads for three subscriptions ("no responders" answers and
 * credit, heartbeats, bridged exchanges). Workers never block on the
 * connection: a message to an idle stream may be published from the
 * sender's thread, with a write that never waits.
 *
 * Backpressure: the inbound thread waits while a bounded receiver's
 * mailbox is full, so a receiver that cannot keep up makes frames wait in
 * the node's NATS subscription, which drops them beyond its pending limits
 * (pending_frames, pending_bytes): counted exactly as gaps. Meanwhile other
 * messages to this node wait too.
 */
#ifndef TROUPE_NODE_H
#define TROUPE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trp_node trp_node_t;

/** Cluster and node names: 1 to TRP_NODE_TOKEN_MAX bytes of [A-Za-z0-9_-]
 *  (they are NATS subject tokens). */
#define TRP_NODE_TOKEN_MAX 32

/** The version trp_node_config_t.version must carry. */
#define TRP_NODE_CONFIG_VERSION 1u

/** Why messages sent to another node were lost. The values are stable. */
typedef enum trp_loss_cause {
	/** Receiver: a sequence gap in a stream (frames the receiver's
	 *  NATS subscription dropped as a slow consumer, or the server
	 *  lost). Counted exactly, in messages, when a later frame or the
	 *  sender's goodbye arrives. */
	TRP_LOSS_GAP = 0,
	/** Sender: a frame reached no subscriber (the node was not there:
	 *  NATS's "no responders"). */
	TRP_LOSS_NO_RESPONDERS = 1,
	/** Sender: a frame could not be published (connection closed, or
	 *  disconnected past the client's reconnect buffer). */
	TRP_LOSS_UNSENT = 2,
	/** Receiver: a frame of an incarnation that said goodbye, or a
	 *  frame behind what the stream has received already. */
	TRP_LOSS_STALE = 3,
	/** Receiver: a frame whose header was readable but whose items
	 *  were not (a frame with an unreadable header is counted in
	 *  trp_node_stats_t.malformed_frames; its messages show up as a
	 *  gap). */
	TRP_LOSS_MALFORMED = 4,
	TRP_LOSS_CAUSES = 5
} trp_loss_cause_t;

/** One loss event, as the on_loss hook sees it. */
typedef struct trp_node_loss {
	trp_loss_cause_t cause;
	const char *peer;  /**< the other node's name (valid in the call) */
	uint64_t messages; /**< how many messages this event lost */
} trp_node_loss_t;

/** Called for every loss event on one of the node's threads (inbound,
 *  outbound, or the NATS client's thread that reports "no responders");
 *  calls may be concurrent. It must not block or call trp_node_stop(). */
typedef void (*trp_node_loss_fn)(const trp_node_loss_t *loss, void *ctx);

/** Node configuration: start from TRP_NODE_CONFIG_INIT. */
typedef struct trp_node_config {
	uint32_t version;    /**< TRP_NODE_CONFIG_VERSION */
	const char *cluster; /**< cluster name (a token, see above) */
	const char *name;    /**< this node's name, unique in the cluster */
	/** NATS server URLs (a cluster's servers); NULL or 0 entries:
	 *  "nats://127.0.0.1:4222". */
	const char *const *servers;
	size_t nservers;
	/** Largest frame in bytes; 0: the server's max_payload (1 MiB by
	 *  default). A message that cannot fit one frame with its name is
	 *  refused by the send (TRP_EMSGSIZE): trp_node_max_payload(). */
	size_t max_frame;
	/** Inbound subscription's pending limits (frames, bytes) before
	 *  NATS drops frames as a slow consumer; 0: the client's defaults
	 *  (65536 frames, 64 MiB). */
	int pending_frames;
	int64_t pending_bytes;
	/** Bound of a proxy's mailbox: a send to a full proxy is refused
	 *  (TRP_EFULL) and an actor sender is muted as for any bounded
	 *  mailbox; 0: 65536. */
	uint32_t proxy_mailbox;
	/** How long trp_node_start() waits for a server, ns; 0: 2 s. */
	int64_t connect_timeout_ns;
	/** Loss events (may be NULL). */
	trp_node_loss_fn on_loss;
	void *loss_ctx;
	/** Interval of this node's heartbeats, ns; 0: 250 ms. Peers are
	 *  judged by their own interval, which they announce. */
	int64_t heartbeat_ns;
	/** A peer is down after this many of its intervals without a beat
	 *  or a frame; 0: 4. */
	uint32_t heartbeat_misses;
	/** Flow control: how many messages this node may have on their way
	 *  to one other node before that node reports them delivered into
	 *  its actors' mailboxes (it returns credit as its inbound side
	 *  delivers, and withholds it while the receiving actor holds
	 *  TRP__MUTE_HIGH = 16384 messages or more). Past the window, the
	 *  node holds messages back and mutes the actors that send to its
	 *  proxies to that node, as a sender to an overloaded mailbox is
	 *  muted; once a window's worth is held, sends to those proxies
	 *  return TRP_EFULL (a message may travel as a frame of its own,
	 *  and a window waits in the receiver's NATS pending queue at
	 *  most). So a slow receiver never makes NATS drop while the
	 *  receiver's pending limits (pending_frames, pending_bytes) exceed
	 *  the sum of its senders' windows, in frames and in bytes. What is
	 *  held when the receiver is found down, or at trp_node_stop(), is
	 *  lost and counted (TRP_LOSS_UNSENT). 0: 65536 (the client's default
	 *  pending_frames);
	 *  TRP_NODE_CREDIT_OFF: no flow control (the receiver's pending
	 *  limits are then the only bound: beyond them NATS drops, counted
	 *  as gaps). */
	uint32_t credit_window;
} trp_node_config_t;

/** trp_node_config_t.credit_window: no flow control. */
#define TRP_NODE_CREDIT_OFF UINT32_MAX

#define TRP_NODE_CONFIG_INIT                                                   \
	{                                                                      \
		.version = TRP_NODE_CONFIG_VERSION, .cluster = NULL,           \
		.name = NULL, .servers = NULL, .nservers = 0, .max_frame = 0,  \
		.pending_frames = 0, .pending_bytes = 0, .proxy_mailbox = 0,   \
		.connect_timeout_ns = 0, .on_loss = NULL, .loss_ctx = NULL,    \
		.heartbeat_ns = 0, .heartbeat_misses = 0, .credit_window = 0   \
	}

/** Counters of one node (monotonic from its start; relaxed reads). */
typedef struct trp_node_counters {
	uint64_t sent;		/**< messages framed to other nodes */
	uint64_t received;	/**< messages taken from frames in order */
	uint64_t delivered;	/**< received and accepted by a local actor */
	uint64_t undeliverable; /**< received, but no such name here or
					the actor refused it (asks are
					answered with the error) */
	uint64_t lost[TRP_LOSS_CAUSES]; /**< by trp_loss_cause_t */
	uint64_t frames_out;
	uint64_t frames_in;
	uint64_t bytes_out;
	uint64_t bytes_in;
	uint64_t malformed_frames;     /**< frames with an unreadable header */
	uint64_t slow_consumer_frames; /**< frames NATS dropped for us, as
					    the client counts them */
	uint64_t asks_out;	       /**< requests sent through proxies */
	uint64_t replies_in;	       /**< answers received for them */
	uint64_t peers;		       /**< nodes this one streams to */
	uint64_t peers_up;	       /**< nodes up now (heartbeats) */
	uint64_t peer_downs;	       /**< down events so far */
	uint64_t disconnects;	       /**< our connection lost its server */
	uint64_t reconnects;	       /**< ... and found one again */
	uint64_t xsent;	    /**< local publishes sent to bridged exchanges */
	uint64_t xreceived; /**< other nodes' publishes republished here */
	uint64_t xlost;	    /**< publishes lost between nodes: gaps in a
			       publisher's stream (counted by the receiver),
			       or too big / unsent (by the publisher) */
	/* flow control (trp_node_config_t.credit_window) */
	uint64_t held;	       /**< messages held back now (windows full) */
	uint64_t held_max;     /**< the most ever held back at once */
	uint64_t windows_full; /**< times a window ran out (senders muted) */
	uint64_t credits_in;   /**< CREDIT frames received */
} trp_node_stats_t;

/** Why a node was reported down (trp_node_event_t.reason). */
typedef enum trp_node_down_reason {
	TRP_NODE_DOWN_HEARTBEAT = 1,	 /**< heartbeat_misses intervals without
					  a beat or a frame from it */
	TRP_NODE_DOWN_GOODBYE = 2,	 /**< it left (trp_node_stop) */
	TRP_NODE_DOWN_NO_RESPONDERS = 3, /**< a frame to it reached nobody */
	TRP_NODE_DOWN_RESTARTED = 4, /**< a new incarnation of it appeared */
} trp_node_down_reason_t;

/** The payload of a node monitor's messages (trp_node_monitor_nodes). */
typedef struct trp_node_event {
	uint32_t up;	      /**< 1: the node is up, 0: it went down */
	uint32_t reason;      /**< down: a trp_node_down_reason_t; up: 0 */
	uint64_t incarnation; /**< the incarnation that came up or went down */
	char node[TRP_NODE_TOKEN_MAX + 1]; /**< its name, NUL-terminated */
} trp_node_event_t;

/**
 * Joins the runtime @p rt to the cluster: connects to NATS, subscribes to
 * the node's subject and starts the node's two threads. *out receives the
 * node (one per runtime).
 * Threads: any outside thread. Errors: TRP_EINVAL (bad config, a name or
 * cluster that is not a token), TRP_EVERSION, TRP_EEXIST (@p rt has a node
 * already), TRP_ENOTCONN (no server answered in time: the same code an ask
 * gets when its peer node is not there), TRP_ENOMEM, TRP_ESYSTEM,
 * TRP_ESHUTDOWN, TRP_EDEADLK (called from a behaviour).
 */
TRP_API int trp_node_start(trp_runtime_t *rt, const trp_node_config_t *cfg,
			   trp_node_t **out);

/**
 * Leaves the cluster: closes every proxy (their queued messages become
 * dead letters), sends what the outbound thread holds, says goodbye to
 * each peer (so that it can count a gap at the end of our stream), waits
 * up to @p timeout_ns (< 0: 5 s) for the goodbyes to be acknowledged,
 * stops the node's threads and closes the connection. Messages from other
 * nodes that arrive later are not delivered. Proxy handles stay valid
 * (sends return TRP_EDEAD); @p node is freed. trp_runtime_destroy() stops
 * a node still running as this call with the default timeout would.
 * Two nodes that stop at the same moment each wait for the other's
 * acknowledgement of its goodbye while draining: stopping the nodes one
 * after the other (the one that sends last first) is quicker.
 * Threads: any outside thread, not a behaviour (TRP_EDEADLK).
 * Errors: TRP_EINVAL, TRP_EDEADLK.
 */
TRP_API int trp_node_stop(trp_node_t *node, int64_t timeout_ns);

/**
 * trp_node_stop(), and the node's final counters into @p final (may be
 * NULL): taken after its threads stopped, so they include what the stop
 * itself counted (frames delivered while the subscription drained, the gap
 * at the end of a stream whose sender said goodbye, messages held back
 * and never sent). trp_node_stats() just before a stop misses those: use
 * these to check the conservation identity above.
 * Errors: those of trp_node_stop() (@p final is then untouched).
 */
TRP_API int trp_node_stop_ex(trp_node_t *node, int64_t timeout_ns,
			     trp_node_stats_t *final);

/**
 * A handle for the actor registered (or exported) as @p actor_name on the
 * node @p node_name of this cluster. The same (node, name) gives the same
 * proxy while it lives; *out receives a new reference. Sends to it return
 * TRP_EFULL when its bounded mailbox (proxy_mailbox) is full or a window
 * of messages to @p node_name is waiting (credit_window), and mute an
 * actor sender while that node's window is exhausted.
 * Threads: any. Errors: TRP_EINVAL (not a node token, empty name),
 * TRP_ENAMETOOLONG (> TRP_NAME_MAX), TRP_ENOMEM, TRP_ESHUTDOWN (the node
 * stopped).
 */
TRP_API int trp_node_proxy(trp_node_t *node, const char *node_name,
			   const char *actor_name, trp_actor_t **out);

/**
 * Waits until the node @p node_name of this cluster is there (its inbound
 * subscription answers), up to @p timeout_ns (< 0: forever, 0: one try).
 * Messages sent to a node that is not there yet are lost (counted as
 * TRP_LOSS_NO_RESPONDERS): a program that starts its nodes together
 * waits for its peers first.
 * Threads: any outside thread (it blocks). Errors: TRP_EINVAL (not a
 * token), TRP_ETIMEDOUT, TRP_ENOTCONN (our own connection is closed),
 * TRP_EDEADLK (called from a behaviour).
 */
TRP_API int trp_node_wait_peer(trp_node_t *node, const char *node_name,
			       int64_t timeout_ns);

/**
 * Makes @p a reachable from other nodes as @p name without registering it
 * in the runtime's names (a registered name is reachable already; an
 * export shadows a registered name). The node holds a reference until
 * trp_node_unexport() or the node stops.
 * Threads: any. Errors: TRP_EINVAL, TRP_ENAMETOOLONG, TRP_EEXIST,
 * TRP_ENOMEM.
 */
TRP_API int trp_node_export(trp_node_t *node, const char *name, trp_actor_t *a);

/** Undoes trp_node_export(). Errors: TRP_EINVAL, TRP_ENOENT. */
TRP_API int trp_node_unexport(trp_node_t *node, const char *name);

/** The largest payload a proxy accepts for an actor name of @p name_len
 *  bytes (depends on the frame size negotiated at start). */
TRP_API size_t trp_node_max_payload(const trp_node_t *node, size_t name_len);

/** Copies the node's counters. Errors: TRP_EINVAL. */
TRP_API int trp_node_stats(const trp_node_t *node, trp_node_stats_t *out);

/** This node's name (as configured) and incarnation (random, per start). */
TRP_API const char *trp_node_name(const trp_node_t *node);
TRP_API uint64_t trp_node_incarnation(const trp_node_t *node);

/**
 * Failure detection. Every node publishes a heartbeat on its own subject
 * (trp.<cluster>.hb.<node>, never behind data) every heartbeat_ns, and
 * listens to everyone's. A peer is up from its first beat or frame; it is
 * down after heartbeat_misses of its intervals without either, at once
 * when it says goodbye (or its last beat says it is leaving), when a
 * frame to it finds no subscriber, or when a new incarnation of it shows
 * up (the old one is down, the new one up). Down, exactly once per up
 * period:
 *   - every proxy to it is killed with TRP_STOP_NOCONNECTION, so each
 *     monitor on a proxy gets DOWN(TRP_STOP_NOCONNECTION) exactly once,
 *     each link one exit signal with that reason (a linked actor stops
 *     with TRP_STOP_LINKED, a trapper gets one exit message), and its
 *     queued messages are dead letters
 *     (TRP_DEAD_KILLED); trp_node_proxy() gives fresh proxies later;
 *   - every ask pending at it fails with TRP_ENOTCONN;
 *   - node monitors get a down event.
 * Nothing is quarantined: a peer seen again (same or new incarnation) is
 * up again. A disconnect of our own connection does not take peers down
 * by itself: the client reconnects (typically in ~0.1 s) and only a
 * silence longer than the down window does (stats count disconnects).
 */

/**
 * Reports node up and down events to @p watcher as messages of type
 * @p type whose payload is a trp_node_event_t; the nodes up now are
 * reported at once. The node holds a reference to @p watcher until
 * trp_node_demonitor_nodes(), its stop, or the watcher's end.
 * Threads: any. Errors: TRP_EINVAL, TRP_EEXIST (watching already),
 * TRP_ENOMEM.
 */
TRP_API int trp_node_monitor_nodes(trp_node_t *node, trp_actor_t *watcher,
				   uint32_t type);

/** Stops the events to @p watcher. Errors: TRP_EINVAL, TRP_ENOENT. */
TRP_API int trp_node_demonitor_nodes(trp_node_t *node, trp_actor_t *watcher);

/**
 * Whether @p node_name is up as this node sees it: 1 (and *incarnation,
 * if not NULL) or 0. Errors: TRP_EINVAL.
 */
TRP_API int trp_node_peer_up(const trp_node_t *node, const char *node_name,
			     uint64_t *incarnation);

/**
 * Bridged exchanges: bridges the local named exchange @p exchange (a
 * token, see above; created if needed) to the cluster. A publish on any
 * node that bridged it reaches the exchange's subscribers on every such
 * node: each node receives one NATS message per frame of publishes (one
 * per publish at low load, many publishes per frame under load) and fans
 * it out through its local subscriber set. Order: per publishing node.
 * At most once: losses between nodes are counted (trp_node_stats_t.xlost);
 * a publish where no other node bridged the exchange reaches only the
 * local subscribers, as usual. Each subscriber gets the messages published
 * while it is attached, per publishing node, minus counted losses. The
 * bridge is a callback sink of the exchange itself: its stats count it
 * among the subscribers (trp_exchange_stats: one more than the user's).
 * Threads: any. Errors: TRP_EINVAL (not a token), TRP_EEXIST (bridged
 * already), TRP_ENOMEM, TRP_ESHUTDOWN, and those of trp_exchange_get()
 * and trp_exchange_attach().
 */
TRP_API int trp_node_bridge(trp_node_t *node, const char *exchange);

/** Ends trp_node_bridge(): local publishes stay local, other nodes'
 *  publishes are not republished here. Errors: TRP_EINVAL, TRP_ENOENT. */
TRP_API int trp_node_unbridge(trp_node_t *node, const char *exchange);

/** A loss cause's name ("gap", "no_responders", ...; "?" if unknown). */
TRP_API const char *trp_loss_cause_name(trp_loss_cause_t cause);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_NODE_H */
