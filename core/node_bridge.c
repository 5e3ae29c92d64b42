/*
 * core/node_bridge.c - exchanges across nodes (troupe/node.h, "Bridged
 * exchanges").
 *
 * trp_node_bridge(node, "prices") attaches a callback sink to the local
 * named exchange "prices". A local publish reaches it in the publisher's
 * thread; it hands the message to the outbound thread (node_out.c) like a
 * proxy does, for the stream "x.prices", which the outbound thread frames
 * per turn and publishes on trp.<cluster>.x.prices.<this node>: every
 * node that bridged "prices" receives one NATS message per frame (per
 * publish at low load, per many under load), whatever the number of
 * subscribers there.
 *
 * Receiving: one asynchronous subscription per node, trp.<cluster>.x.>
 * (the client's delivery thread: heartbeats and data never share a
 * thread), checks each (exchange, publishing node) stream's sequence
 * numbers as node_in.c does for node streams (gaps, a restarted publisher,
 * a goodbye) and republishes the frame's messages into the local
 * exchange, runs of equal type and size with one trp_exchange_publish_n.
 * The local subscribers are reached through the exchange's lock-free
 * subscriber set, exactly as by a local publish. While this thread
 * republishes, the bridge's own sink ignores what it sees (a thread-local
 * mark), so nothing travels back.
 *
 * Order: per publishing node (one stream). At most once: a gap in a stream
 * counts its messages in trp_node_stats_t.xlost; messages published where
 * no other node bridged the exchange reach nobody, as a local exchange
 * without subscribers (not a loss).
 */
#include <string.h>

#include "alloc.h"
#include "node.h"
#include "troupe/exchange.h"

struct bridge {
	_Atomic(uint32_t) refs;
	struct trp_node *node;
	trp_exchange_t *ex; /* one reference */
	trp_sub_t sub;
	uint8_t len;
	char name[TRP_NODE_TOKEN_MAX + 1];
	char dst[TRP__NODE_DST_MAX + 1]; /* "x." + name */
};

/* The bridge this thread is republishing into, if any. */
static _Thread_local const struct bridge *t_inbound;

static void bridge_unref(struct bridge *b)
{
	/* acq_rel: the last holder frees it after every other's use. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	trp_exchange_release(b->ex);
	trp__node_unref(b->node);
	trp__free(b, sizeof *b);
}

/* ------------------------------------------------------------------ */
/* out: local publishes to the cluster                                 */

static void bridge_sink(void *ctx, const trp_msg_t *msg)
{
	struct bridge *b = ctx;
	if (t_inbound == b)
		return; /* our own republishing of a remote message */
	struct trp_node *node = b->node;
	if (msg->size > trp_node_max_payload(node, b->len)) {
		/* cannot travel: lost to the other nodes, counted */
		trp__node_count(node, xlost, 1);
		return;
	}
	struct trp__node_out h = {
		.op = TRP__WIRE_SEND,
		.name_len = b->len,
		.type = msg->type,
		.len = (uint32_t)msg->size,
		.status = msg->status <= 0 ? msg->status : 0,
	};
	if (trp__node_out_item(node, b->dst, (size_t)b->len + 2, &h, b->name,
			       msg->data) == 0)
		trp__node_count(node, xsent, 1);
	else
		trp__node_count(node, xlost, 1);
}

int trp_node_bridge(trp_node_t *node, const char *exchange)
{
	if (node == NULL || exchange == NULL)
		return TRP_EINVAL;
	size_t len = strnlen(exchange, TRP_NODE_TOKEN_MAX + 1);
	if (!trp__node_token_ok(exchange, len))
		return TRP_EINVAL;
	struct bridge *b = trp__calloc(1, sizeof *b);
	if (b == NULL)
		return TRP_ENOMEM;
	int rc = trp_exchange_get(node->rt, exchange, &b->ex);
	if (rc != 0) {
		trp__free(b, sizeof *b);
		return rc;
	}
	atomic_init(&b->refs, 1);
	/* relaxed: the caller's use of the node keeps it alive here. */
	atomic_fetch_add_explicit(&node->refs, 1, memory_order_relaxed);
	b->node = node;
	b->len = (uint8_t)len;
	memcpy(b->name, exchange, len);
	b->dst[0] = 'x';
	b->dst[1] = '.';
	memcpy(b->dst + 2, exchange, len);

	trp__mutex_lock(&node->bridges.lock);
	/* acquire: trp_node_stop's CAS; under the lock, so once stop has
	 * emptied the table no bridge is added behind it. */
	if (atomic_load_explicit(&node->stopping, memory_order_acquire) != 0)
		rc = TRP_ESHUTDOWN;
	else if (trp__node_table_get(&node->bridges, exchange, len) != NULL)
		rc = TRP_EEXIST;
	else
		rc = trp__node_table_put(&node->bridges, exchange, len, b);
	trp__mutex_unlock(&node->bridges.lock);
	if (rc == 0) {
		rc = trp_exchange_attach(
			b->ex, trp_sink_callback(bridge_sink, b), &b->sub);
		if (rc != 0) {
			trp__mutex_lock(&node->bridges.lock);
			(void)trp__node_table_del(&node->bridges, exchange,
						  len);
			trp__mutex_unlock(&node->bridges.lock);
		}
	}
	if (rc != 0)
		bridge_unref(b);
	return rc;
}

static void unbridge(struct bridge *b)
{
	/* After detach returns the sink is not called again. */
	(void)trp_exchange_detach(b->ex, b->sub);
	bridge_unref(b); /* the table's reference */
}

int trp_node_unbridge(trp_node_t *node, const char *exchange)
{
	if (node == NULL || exchange == NULL)
		return TRP_EINVAL;
	size_t len = strnlen(exchange, TRP_NODE_TOKEN_MAX + 1);
	if (!trp__node_token_ok(exchange, len))
		return TRP_EINVAL;
	trp__mutex_lock(&node->bridges.lock);
	struct bridge *b = trp__node_table_del(&node->bridges, exchange, len);
	trp__mutex_unlock(&node->bridges.lock);
	if (b == NULL)
		return TRP_ENOENT;
	unbridge(b);
	return 0;
}

static bool any(const void *key, size_t klen, void *value, void *ctx)
{
	(void)key;
	(void)klen;
	(void)value;
	(void)ctx;
	return true;
}

void trp__node_bridges_stop(struct trp_node *node)
{
	for (;;) {
		void *batch[64];
		trp__mutex_lock(&node->bridges.lock);
		size_t n = trp__node_table_take(&node->bridges, any, NULL,
						batch, 64);
		trp__mutex_unlock(&node->bridges.lock);
		for (size_t i = 0; i < n; i++)
			unbridge(batch[i]);
		if (n < 64)
			return;
	}
}

/* ------------------------------------------------------------------ */
/* in: other nodes' publishes                                          */

static struct trp__node_stream *xstream_get(struct trp_node *node,
					    const char *name, size_t len,
					    const char *src, size_t n)
{
	char key[2 * TRP_NODE_TOKEN_MAX + 1];
	memcpy(key, name, len);
	key[len] = '\0';
	memcpy(key + len + 1, src, n);
	size_t klen = len + 1 + n;
	struct trp__node_stream *st =
		trp__node_table_get(&node->xstreams, key, klen);
	if (st != NULL)
		return st;
	st = trp__calloc(1, sizeof *st);
	if (st != NULL &&
	    trp__node_table_put(&node->xstreams, key, klen, st) != 0) {
		trp__free(st, sizeof *st);
		st = NULL;
	}
	return st;
}

/* Republishes the checked frame @f's items into @b's exchange. */
static void republish(struct bridge *b, const struct trp__wire_frame *f)
{
	t_inbound = b;
	size_t off = 0;
	struct trp__wire_item run, it;
	uint32_t k = 0;
	while (k < f->count) {
		trp__wire_item_at(f, &off, &run);
		k++;
		/* a run of equal type and size: consecutive in the frame,
		 * each payload padded to 8 bytes after a fixed-size item
		 * header, so not contiguous: publish_n needs them packed */
		size_t n = 1;
		size_t peek = off;
		unsigned char stack[4096];
		unsigned char *packed = NULL;
		while (k < f->count && run.len <= 240 &&
		       (n + 1) * run.len <= sizeof stack) {
			size_t save = peek;
			trp__wire_item_at(f, &peek, &it);
			if (it.type != run.type || it.len != run.len) {
				peek = save;
				break;
			}
			if (packed == NULL) {
				packed = stack;
				if (run.len != 0)
					memcpy(packed, run.payload, run.len);
			}
			if (it.len != 0)
				memcpy(packed + n * run.len, it.payload,
				       it.len);
			n++;
			k++;
			off = peek;
		}
		if (n == 1)
			(void)trp_exchange_publish(b->ex, run.type, run.payload,
						   run.len);
		else
			(void)trp_exchange_publish_n(b->ex, run.type, packed,
						     run.len, n);
	}
	t_inbound = NULL;
}

void trp__node_on_exchange(natsConnection *nc, natsSubscription *sub,
			   natsMsg *msg, void *closure)
{
	(void)nc;
	(void)sub;
	struct trp_node *node = closure;
	const char *subj = natsMsg_GetSubject(msg);
	size_t plen = strlen(node->x_prefix);
	const char *name = subj + plen;
	const char *dot = strncmp(subj, node->x_prefix, plen) == 0 ?
				  strchr(name, '.') :
				  NULL;
	size_t len = dot != NULL ? (size_t)(dot - name) : 0;
	const char *src = dot != NULL ? dot + 1 : NULL;
	size_t n = src != NULL ? strlen(src) : 0;
	if (src == NULL || !trp__node_token_ok(name, len) ||
	    !trp__node_token_ok(src, n)) {
		trp__node_count(node, malformed_frames, 1);
		goto done;
	}
	if (n == node->name_len && memcmp(src, node->name, n) == 0)
		goto done; /* our own publishes come back to us too */
	trp__mutex_lock(&node->bridges.lock);
	struct bridge *b = trp__node_table_get(&node->bridges, name, len);
	if (b != NULL)
		/* relaxed: the table's reference keeps it above 0 here. */
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	trp__mutex_unlock(&node->bridges.lock);
	if (b == NULL)
		goto done; /* not bridged here */
	const void *data = natsMsg_GetData(msg);
	int dlen = natsMsg_GetDataLength(msg);
	struct trp__wire_frame f;
	struct trp__node_stream *st = NULL;
	if (dlen <= 0 ||
	    trp__wire_header(data, (size_t)dlen, &f) != TRP__WIRE_OK ||
	    (st = xstream_get(node, name, len, src, n)) == NULL) {
		trp__node_count(node, malformed_frames, 1);
		goto unref;
	}
	trp__node_peer_seen(node, src, n, f.src_inc, 0, false);
	if (f.kind == TRP__WIRE_GOODBYE) {
		trp__node_count(node, xlost, trp__node_stream_goodbye(st, &f));
		goto unref;
	}
	struct trp__node_seq q;
	trp__node_stream_data(st, &f, &q);
	trp__node_count(node, xlost, q.gap + q.stale);
	if (!q.accept)
		goto unref;
	if (trp__wire_check_items(&f) != TRP__WIRE_OK) {
		trp__node_count(node, xlost, f.count);
		goto unref;
	}
	trp__node_count(node, xreceived, f.count);
	republish(b, &f);
unref:
	bridge_unref(b);
done:
	natsMsg_Destroy(msg);
}

static void free_xstream(void *value, void *ctx)
{
	(void)ctx;
	trp__free(value, sizeof(struct trp__node_stream));
}

void trp__node_xstreams_free(struct trp_node *node)
{
	trp__node_table_clear(&node->xstreams, free_xstream, NULL);
	trp__node_table_free(&node->xstreams);
}
