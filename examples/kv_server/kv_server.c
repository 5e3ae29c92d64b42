/*
 * examples/kv_server/kv_server.c - a small Redis-protocol server on libuv
 * whose keys are actors (issue 14).
 *
 *     example_kv_server [--port P] [--workers W] [--idle-spins N]
 *
 * --workers defaults to 1 (the loop thread is the other busy thread of a
 * 2-core machine); --idle-spins sets trp_config_t.idle_spins. Unless
 * given, it is 0 (park at once, no polling) when the workers and the loop
 * thread together fill the online cores, else the runtime's default: a
 * worker that polls for work takes the core the loop thread (and, on one
 * machine, the clients) need next. Measured with redis-benchmark INCR, 50
 * clients, 1 worker on 2 cores: 69 k requests/s polling, 89-97 k not
 * (BENCHMARKS.md). --port 0 (the default) picks a free
 * port; the server prints "kv_server: listening on port N" once it
 * listens. SIGINT and SIGTERM shut it down cleanly (exit 0); a second
 * signal during the shutdown ends it at once (the default action).
 *
 * Threads. One libuv loop thread owns every socket and a troupe port; the
 * runtime's workers run the key actors. The loop parses requests (resp.c)
 * and sends each to the actor owning its key (key.c), found in a hash
 * table the loop alone touches (a key's actor is spawned on its first
 * use, and lives as long as the server). The message carries the
 * connection id and the request's sequence number on that connection;
 * the actor answers the port with both, and the port's handler - run on
 * the loop by trp_port_drain() when the port's eventfd, watched with
 * uv_poll, is readable - puts the reply in its slot.
 *
 * Bursts. Consecutive requests of one connection for one key parsed from
 * one read (a pipeline) go to the key's actor as one KV_BATCH message and
 * come back as one reply message holding all their replies: one send and
 * one port message per burst (struct batch below). Batching one key's
 * requests from all connections per loop iteration (uv_check) was tried
 * and is not faster: the loop stops overlapping its reads with the
 * worker's turn (BENCHMARKS.md, "Batching across connections").
 *
 * Order. Replies must leave in request order per connection even when a
 * pipeline's requests go to different actors and come back in any order.
 * Each connection has a ring of pending replies indexed by sequence
 * number; a reply fills its slot, and the loop writes the completed
 * prefix of the ring. Requests the loop answers itself (PING, INFO,
 * errors) fill their slot at once, behind the ones still pending. At most
 * MAX_PENDING replies are pending per connection; past that the loop
 * stops reading the socket until replies drain (backpressure instead of
 * unbounded memory).
 *
 * Disconnects. A connection id is (slot, generation): when a client goes
 * away its slot's generation changes, so replies still on their way are
 * recognised as stale by the port's handler and dropped (the runtime
 * frees them after the handler returns). Nothing else refers to a closed
 * connection but its exchange subscriptions, which are detached before
 * its memory is freed.
 *
 * Pub/sub. A channel is the troupe exchange "kv.ch.<channel>". SUBSCRIBE
 * attaches a callback sink whose context names the connection; PUBLISH
 * (on the loop) publishes the RESP push message once, and each sink's
 * callback sends it to the port with its connection id: subscribers get
 * their messages through the port like every other reply. The callbacks
 * run on the publishing thread - the loop - so PUBLISH counts its
 * receivers exactly. Attach and detach wait for a grace period
 * (exchange.h): SUBSCRIBE, UNSUBSCRIBE and the close of a subscribed
 * connection block the loop that briefly; publishing never does.
 *
 * INFO returns troupe's metrics (troupe/metrics.h) in Redis's INFO format
 * (# Troupe: counters, actors, the scheduling-latency percentiles); INFO
 * PROMETHEUS and INFO JSON return trp_stats_write()'s text instead (a
 * scraper's sidecar can serve it: the library opens no port).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include <uv.h>

#include <troupe/troupe.h>

#include "kv.h"
#include "resp.h"

#define MAX_PENDING 4096u  /* pending replies per connection */
#define DRAIN_BUDGET 1024u /* port messages per drain */
#define READ_CHUNK 65536u  /* free space offered to each read */
#define SMALL_INLINE 24u   /* replies stored in their slot */
#define CHANNEL_PREFIX "kv.ch."
#define CHANNEL_MAX (TRP_NAME_MAX - (sizeof(CHANNEL_PREFIX) - 1))

/* ------------------------------------------------------------ tables -- */

/* A string-keyed open-addressing hash table (loop thread only). */
struct entry {
	char *key; /* NULL: empty */
	size_t len;
	uint64_t hash;
	void *val;
};

struct table {
	struct entry *e;
	size_t cap; /* power of two */
	size_t n;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static struct entry *table_find(struct table *t, const char *k, size_t len,
				uint64_t h)
{
	if (t->cap == 0)
		return NULL;
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		struct entry *e = &t->e[i];

		if (!e->key)
			return e;
		if (e->hash == h && e->len == len &&
		    memcmp(e->key, k, len) == 0)
			return e;
	}
}

/* Inserts (k, val): k is copied. 0, or -1 out of memory. */
static int table_put(struct table *t, const char *k, size_t len, uint64_t h,
		     void *val)
{
	struct entry *e;
	char *copy;

	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct entry *ne = calloc(cap, sizeof(*ne));
		struct table nt = { ne, cap, 0 };

		if (!ne)
			return -1;
		for (size_t i = 0; i < t->cap; i++) {
			if (t->e[i].key) {
				*table_find(&nt, t->e[i].key, t->e[i].len,
					    t->e[i].hash) = t->e[i];
				nt.n++;
			}
		}
		free(t->e);
		*t = nt;
	}
	copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	memcpy(copy, k, len);
	e = table_find(t, k, len, h);
	e->key = copy;
	e->len = len;
	e->hash = h;
	e->val = val;
	t->n++;
	return 0;
}

/* ------------------------------------------------------- connections -- */

struct reply {
	uint32_t len;
	uint32_t done;	/* filled */
	uint32_t parts; /* KV_PART shares still to come (DEL of n keys) */
	int64_t ival;	/* their sum so far */
	char *big;	/* len > SMALL_INLINE */
	char small[SMALL_INLINE];
};

struct sub {
	struct sub *next;
	struct conn_ctx *owner;
	trp_exchange_t *ex;
	trp_sub_t id;
	uint64_t conn;
	char *chan;
	size_t chan_len;
};

struct conn_ctx {
	uv_tcp_t tcp;
	uint64_t id;
	struct resp_parser parser;
	char *in; /* unparsed input; in[0] starts the current request */
	size_t in_len, in_cap;
	struct reply *ring; /* pending replies; slot = seq & (ring_cap - 1) */
	uint32_t ring_cap;
	uint64_t head; /* oldest seq not yet written */
	uint64_t tail; /* next seq */
	char *out;     /* completed replies not yet handed to libuv */
	size_t out_len, out_cap;
	char *wbuf; /* the buffer of the uv_write in flight */
	size_t wbuf_cap;
	uv_write_t wreq;
	int writing;
	int paused;  /* reading stopped: too many pending replies */
	int closing; /* uv_close called */
	int quit;    /* close once the replies are written */
	int dirty;   /* on the server's dirty list */
	struct conn_ctx *dirty_next;
	struct sub *subs;
	uint32_t nsubs;
};

/*
 * The burst being collected while one connection's input is parsed:
 * consecutive requests of that connection for one key go to its actor as
 * one KV_BATCH message (one send, one reply message for the burst, e.g.
 * the 16 INCRs of a redis-benchmark -P 16 pipeline) instead of one each.
 * Sent when a request breaks the run (another key, a reply the loop
 * makes itself), at a size bound, and at the end of process_input(), so
 * a batch never outlives the callback that built it.
 */
struct batch {
	trp_actor_t *actor; /* NULL: no batch */
	struct conn_ctx *conn;
	uint64_t seq; /* the first request's */
	uint32_t count;
	char *buf; /* struct kv_req, then count struct kv_item + value */
	size_t len, cap;
};

#define BATCH_MAX_COUNT 256u
#define BATCH_MAX_BYTES ((size_t)64 << 10)

struct server {
	uv_loop_t loop;
	struct batch batch;
	uv_tcp_t listener;
	uv_poll_t port_poll;
	uv_signal_t sigint, sigterm;
	trp_runtime_t *rt;
	trp_actor_t *port;
	struct table keys;     /* key -> trp_actor_t * */
	struct table channels; /* channel -> trp_exchange_t * */
	struct conn_ctx **slots;
	uint32_t *gens;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t nconns;
	struct conn_ctx *dirty;
	uint64_t pushed; /* deliveries counted by the sink callbacks */
	uint64_t commands;
	uint64_t connections;
	int stopping;
};

static struct server S;

static uint64_t conn_id(uint32_t slot, uint32_t gen)
{
	return ((uint64_t)gen << 32) | slot;
}

static struct conn_ctx *conn_lookup(uint64_t id)
{
	uint32_t slot = (uint32_t)id;

	if (slot >= S.nslots || S.gens[slot] != (uint32_t)(id >> 32))
		return NULL;
	return S.slots[slot];
}

static void mark_dirty(struct conn_ctx *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		c->dirty_next = S.dirty;
		S.dirty = c;
	}
}

static int reserve(char **buf, size_t *cap, size_t need)
{
	size_t n;
	char *p;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n);
	if (!p)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/* Claims the next reply slot; NULL when out of memory. */
static struct reply *reply_slot(struct conn_ctx *c, uint64_t *seq)
{
	struct reply *r;

	if (c->tail - c->head == c->ring_cap) {
		uint32_t cap = c->ring_cap ? c->ring_cap * 2 : 16;
		struct reply *nr = calloc(cap, sizeof(*nr));

		if (!nr)
			return NULL;
		for (uint64_t s = c->head; s < c->tail; s++)
			nr[s & (cap - 1)] = c->ring[s & (c->ring_cap - 1)];
		free(c->ring);
		c->ring = nr;
		c->ring_cap = cap;
	}
	*seq = c->tail++;
	r = &c->ring[*seq & (c->ring_cap - 1)];
	memset(r, 0, sizeof(*r));
	return r;
}

static void reply_fill(struct conn_ctx *c, struct reply *r, const char *data,
		       size_t len)
{
	if (len > SMALL_INLINE) {
		r->big = malloc(len);
		if (!r->big) {
			static const char oom[] = "-ERR out of memory\r\n";

			data = oom;
			len = sizeof(oom) - 1;
			r->big = malloc(len);
			if (!r->big)
				abort(); /* cannot keep the stream in step */
		}
		memcpy(r->big, data, len);
	} else {
		memcpy(r->small, data, len);
	}
	r->len = (uint32_t)len;
	r->done = 1;
	mark_dirty(c);
}

/* Queues a reply answered by the loop itself. */
static void reply_now(struct conn_ctx *c, const char *data, size_t len)
{
	uint64_t seq;
	struct reply *r = reply_slot(c, &seq);

	if (!r) {
		c->quit = 1; /* out of memory: drop the client */
		mark_dirty(c);
		return;
	}
	reply_fill(c, r, data, len);
}

static void reply_str(struct conn_ctx *c, const char *s)
{
	reply_now(c, s, strlen(s));
}

static void conn_close(struct conn_ctx *c);
static void process_input(struct conn_ctx *c);

static void on_write(uv_write_t *req, int status);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void flush_dirty(void);

/* Starts writing c->out if no write is in flight. */
static void start_write(struct conn_ctx *c)
{
	uv_buf_t b;
	int n, rc;

	if (c->writing || c->out_len == 0 || c->closing)
		return;
	b = uv_buf_init(c->out, (unsigned int)c->out_len);
	n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (n == (int)c->out_len) {
		c->out_len = 0;
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		conn_close(c);
		return;
	}
	if (n < 0)
		n = 0;
	/* The rest goes through uv_write from wbuf; out keeps collecting. */
	{
		char *t = c->wbuf;
		size_t tc = c->wbuf_cap;

		c->wbuf = c->out;
		c->wbuf_cap = c->out_cap;
		c->out = t;
		c->out_cap = tc;
	}
	b = uv_buf_init(c->wbuf + n, (unsigned int)(c->out_len - (size_t)n));
	c->out_len = 0;
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc != 0) {
		conn_close(c);
		return;
	}
	c->writing = 1;
}

/*
 * Moves the completed prefix of the ring to the output and writes it. The
 * dirty flag is flush_dirty()'s alone: c may be on the list while another
 * callback (on_write) flushes it, and must not be pushed twice.
 */
static void flush(struct conn_ctx *c)
{
	if (c->closing)
		return;
	while (c->head < c->tail) {
		struct reply *r = &c->ring[c->head & (c->ring_cap - 1)];

		if (!r->done)
			break;
		if (reserve(&c->out, &c->out_cap, c->out_len + r->len) != 0) {
			conn_close(c);
			return;
		}
		memcpy(c->out + c->out_len, r->big ? r->big : r->small, r->len);
		c->out_len += r->len;
		free(r->big);
		r->big = NULL;
		c->head++;
	}
	start_write(c);
	if (c->closing)
		return;
	if (c->quit && c->head == c->tail && !c->writing && c->out_len == 0) {
		conn_close(c);
		return;
	}
	if (c->paused && !c->quit && c->tail - c->head < MAX_PENDING / 2) {
		c->paused = 0;
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
			conn_close(c);
			return;
		}
		process_input(c);
	}
}

static void flush_dirty(void)
{
	while (S.dirty) {
		struct conn_ctx *c = S.dirty;

		S.dirty = c->dirty_next;
		c->dirty = 0;
		flush(c);
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct conn_ctx *c = req->data;

	c->writing = 0;
	if (status < 0) {
		conn_close(c);
		return;
	}
	flush(c);
	flush_dirty();
}

/* ---------------------------------------------------------- pub/sub -- */

/* Sink callback: runs on the publishing thread (the loop, in PUBLISH). */
static void sub_deliver(void *ctx, const trp_msg_t *msg)
{
	struct sub *s = ctx;
	struct kv_rep *r = malloc(sizeof(*r) + msg->size);

	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	r->conn = s->conn;
	r->len = (uint32_t)msg->size;
	memcpy(r->data, msg->data, msg->size);
	if (trp_send_owned(S.port, KV_PUSH, r, sizeof(*r) + msg->size, NULL) !=
	    0) {
		free(r);
		return;
	}
	S.pushed++;
}

static trp_exchange_t *channel_get(const char *ch, size_t len)
{
	uint64_t h = hash_bytes(ch, len);
	struct entry *e = table_find(&S.channels, ch, len, h);
	char name[TRP_NAME_MAX + 1];
	trp_exchange_t *ex;

	if (e && e->key)
		return e->val;
	memcpy(name, CHANNEL_PREFIX, sizeof(CHANNEL_PREFIX) - 1);
	memcpy(name + sizeof(CHANNEL_PREFIX) - 1, ch, len);
	name[sizeof(CHANNEL_PREFIX) - 1 + len] = 0;
	if (trp_exchange_get(S.rt, name, &ex) != 0)
		return NULL;
	if (table_put(&S.channels, ch, len, h, ex) != 0) {
		trp_exchange_release(ex);
		return NULL;
	}
	return ex;
}

static int channel_ok(const char *ch, size_t len)
{
	return len > 0 && len <= CHANNEL_MAX && !memchr(ch, 0, len);
}

static void reply_subscription(struct conn_ctx *c, const char *kind,
			       const char *ch, size_t len, uint32_t count)
{
	char head[64];
	char *buf;
	int n;

	buf = malloc(len + 128);
	if (!buf) {
		c->quit = 1;
		return;
	}
	n = snprintf(head, sizeof(head), "*3\r\n$%zu\r\n%s\r\n", strlen(kind),
		     kind);
	memcpy(buf, head, (size_t)n);
	if (ch) {
		n += sprintf(buf + n, "$%zu\r\n", len);
		memcpy(buf + n, ch, len);
		n += (int)len;
		n += sprintf(buf + n, "\r\n:%u\r\n", count);
	} else {
		n += sprintf(buf + n, "$-1\r\n:%u\r\n", count);
	}
	reply_now(c, buf, (size_t)n);
	free(buf);
}

static struct sub **sub_find(struct conn_ctx *c, const char *ch, size_t len)
{
	struct sub **p;

	for (p = &c->subs; *p; p = &(*p)->next)
		if ((*p)->chan_len == len && memcmp((*p)->chan, ch, len) == 0)
			return p;
	return p;
}

static void sub_remove(struct conn_ctx *c, struct sub **p)
{
	struct sub *s = *p;

	/* When detach returns the exchange no longer touches s. */
	(void)trp_exchange_detach(s->ex, s->id);
	*p = s->next;
	c->nsubs--;
	free(s->chan);
	free(s);
}

static void cmd_subscribe(struct conn_ctx *c, const char *buf,
			  const struct resp_arg *a, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		const char *ch = buf + a[i].off;
		size_t len = a[i].len;
		trp_exchange_t *ex;
		struct sub *s;

		if (!channel_ok(ch, len)) {
			reply_str(c, "-ERR channel name empty or too long\r\n");
			continue;
		}
		if (!*sub_find(c, ch, len)) {
			ex = channel_get(ch, len);
			s = calloc(1, sizeof(*s));
			if (s)
				s->chan = malloc(len);
			if (!ex || !s || !s->chan) {
				if (s)
					free(s->chan);
				free(s);
				reply_str(c, "-ERR out of memory\r\n");
				continue;
			}
			memcpy(s->chan, ch, len);
			s->chan_len = len;
			s->owner = c;
			s->conn = c->id;
			s->ex = ex;
			if (trp_exchange_attach(
				    ex, trp_sink_callback(sub_deliver, s),
				    &s->id) != 0) {
				free(s->chan);
				free(s);
				reply_str(c, "-ERR subscribe failed\r\n");
				continue;
			}
			s->next = c->subs;
			c->subs = s;
			c->nsubs++;
		}
		reply_subscription(c, "subscribe", ch, len, c->nsubs);
	}
}

static void cmd_unsubscribe(struct conn_ctx *c, const char *buf,
			    const struct resp_arg *a, uint32_t n)
{
	if (n == 1) {
		if (!c->subs)
			reply_subscription(c, "unsubscribe", NULL, 0, 0);
		while (c->subs) {
			struct sub *s = c->subs;
			char *ch = s->chan;
			size_t len = s->chan_len;

			s->chan = NULL;
			sub_remove(c, &c->subs);
			reply_subscription(c, "unsubscribe", ch, len, c->nsubs);
			free(ch);
		}
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		struct sub **p = sub_find(c, buf + a[i].off, a[i].len);

		if (*p)
			sub_remove(c, p);
		reply_subscription(c, "unsubscribe", buf + a[i].off, a[i].len,
				   c->nsubs);
	}
}

static void cmd_publish(struct conn_ctx *c, const char *ch, size_t len,
			const char *msg, size_t mlen)
{
	trp_exchange_t *ex;
	char *push;
	char num[32];
	size_t n = 0;
	uint64_t before = S.pushed;

	if (!channel_ok(ch, len)) {
		reply_str(c, ":0\r\n");
		return;
	}
	ex = channel_get(ch, len);
	push = malloc(len + mlen + 64);
	if (!ex || !push) {
		free(push);
		reply_str(c, "-ERR out of memory\r\n");
		return;
	}
	/* The push message, RESP-encoded once for every subscriber. */
	n += (size_t)sprintf(push, "*3\r\n$7\r\nmessage\r\n$%zu\r\n", len);
	memcpy(push + n, ch, len);
	n += len;
	n += (size_t)sprintf(push + n, "\r\n$%zu\r\n", mlen);
	memcpy(push + n, msg, mlen);
	n += mlen;
	memcpy(push + n, "\r\n", 2);
	n += 2;
	if (trp_exchange_publish(ex, KV_PUSH, push, n) != 0) {
		free(push);
		reply_str(c, "-ERR publish failed\r\n");
		return;
	}
	free(push);
	snprintf(num, sizeof(num), ":%" PRIu64 "\r\n", S.pushed - before);
	reply_str(c, num);
}

/* ------------------------------------------------------------- INFO -- */

static int is_cmd(const char *buf, const struct resp_arg *a, const char *name);

/* Replies @p body (@p n bytes) as one bulk string. */
static void reply_bulk(struct conn_ctx *c, const char *body, size_t n)
{
	char *out = malloc(n + 32);

	if (!out) {
		reply_str(c, "-ERR out of memory\r\n");
		return;
	}
	int h = sprintf(out, "$%zu\r\n", n);
	memcpy(out + h, body, n);
	memcpy(out + h + n, "\r\n", 2);
	reply_now(c, out, (size_t)h + n + 2);
	free(out);
}

/* The smallest bucket bound (in us) under which @p q of @p h's samples
 * fall: a percentile, rounded up to its log2 bucket. 0 with no samples. */
static double hist_quantile_us(const trp_histogram_t *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;

	if (h->count == 0)
		return 0;
	for (unsigned b = 0; b < TRP_HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= want && b + 1 < TRP_HIST_BUCKETS)
			return (double)trp_hist_upper_ns(b) / 1e3;
	}
	return (double)trp_hist_upper_ns(TRP_HIST_BUCKETS - 2) / 1e3;
}

/* INFO PROMETHEUS / INFO JSON: trp_stats_write() into a memory stream. */
static void cmd_info_format(struct conn_ctx *c, int format)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f) {
		reply_str(c, "-ERR out of memory\r\n");
		return;
	}
	rc = trp_stats_write(S.rt, f, format);
	if (fclose(f) != 0 || rc != 0)
		reply_str(c, "-ERR metrics could not be written\r\n");
	else
		reply_bulk(c, buf, len);
	free(buf);
}

static void cmd_info(struct conn_ctx *c, const char *buf,
		     const struct resp_arg *a, uint32_t n)
{
	trp_metrics_t m = TRP_METRICS_INIT;
	const trp_stats_t *st = &m.totals;
	char body[4096];
	int len;

	if (n >= 2 && is_cmd(buf, &a[1], "prometheus")) {
		cmd_info_format(c, TRP_STATS_PROMETHEUS);
		return;
	}
	if (n >= 2 && is_cmd(buf, &a[1], "json")) {
		cmd_info_format(c, TRP_STATS_JSON);
		return;
	}
	trp_runtime_metrics(S.rt, &m);
	len = snprintf(body, sizeof(body),
		       "# Server\r\n"
		       "redis_version:7.0.0\r\n"
		       "server_name:troupe_kv_server\r\n"
		       "process_id:%ld\r\n"
		       "\r\n# Clients\r\n"
		       "connected_clients:%u\r\n"
		       "\r\n# Stats\r\n"
		       "total_connections_received:%" PRIu64 "\r\n"
		       "total_commands_processed:%" PRIu64 "\r\n"
		       "\r\n# Keyspace\r\n"
		       "key_actors:%zu\r\n"
		       "channels:%zu\r\n"
		       "\r\n# Troupe\r\n"
		       "troupe_workers:%u\r\n"
		       "troupe_sent:%" PRIu64 "\r\n"
		       "troupe_processed:%" PRIu64 "\r\n"
		       "troupe_dead_lettered:%" PRIu64 "\r\n"
		       "troupe_rejected:%" PRIu64 "\r\n"
		       "troupe_spawned:%" PRIu64 "\r\n"
		       "troupe_stopped:%" PRIu64 "\r\n"
		       "troupe_actors_alive:%" PRIu64 "\r\n"
		       "troupe_actors_failed:%" PRIu64 "\r\n"
		       "troupe_actors_restarted:%" PRIu64 "\r\n"
		       "troupe_turns:%" PRIu64 "\r\n"
		       "troupe_busy_seconds:%.6f\r\n"
		       "troupe_steals:%" PRIu64 "\r\n"
		       "troupe_parks:%" PRIu64 "\r\n"
		       "troupe_idle_wakeups:%" PRIu64 "\r\n"
		       "troupe_inject_queue_depth:%" PRIu64 "\r\n"
		       "troupe_sched_latency_samples:%" PRIu64 "\r\n"
		       "troupe_sched_latency_p50_us:%.3f\r\n"
		       "troupe_sched_latency_p99_us:%.3f\r\n"
		       "troupe_port_mailbox:%u\r\n",
		       (long)uv_os_getpid(), S.nconns, S.connections,
		       S.commands, S.keys.n, S.channels.n, m.workers, st->sent,
		       st->processed, st->dead_lettered, st->rejected,
		       st->spawned, st->stopped, m.actors_alive,
		       m.actors_failed, m.actors_restarted, m.turns,
		       (double)m.busy_ns / 1e9, st->steals, st->parks,
		       m.idle_wakeups, m.inject_depth, m.sched_latency.count,
		       hist_quantile_us(&m.sched_latency, 0.5),
		       hist_quantile_us(&m.sched_latency, 0.99),
		       trp_actor_mailbox_len(S.port));
	if (len < 0)
		len = 0;
	else if ((size_t)len >= sizeof(body))
		len = (int)sizeof(body) - 1; /* truncated: still one bulk */
	reply_bulk(c, body, (size_t)len);
}

/* --------------------------------------------------------- commands -- */

/* The key's actor; spawned on first use when @p create. */
static trp_actor_t *key_actor(const char *k, size_t len, int create)
{
	uint64_t h = hash_bytes(k, len);
	struct entry *e = table_find(&S.keys, k, len, h);
	struct kv_key_state init = { 0 };
	trp_actor_t *a;

	if (e && e->key)
		return e->val;
	if (!create)
		return NULL;
	init.port = S.port;
	if (trp_actor_spawn(S.rt, &kv_key_def, &init, &a) != 0)
		return NULL;
	if (table_put(&S.keys, k, len, h, a) != 0) {
		trp_actor_close(a);
		trp_actor_release(a);
		return NULL;
	}
	return a;
}

/* Sends a request to the key's actor; its reply fills slot @p seq. */
static int key_send(trp_actor_t *a, uint64_t conn, uint64_t seq, uint32_t op,
		    const char *val, size_t vlen)
{
	struct {
		struct kv_req h;
		char v[240];
	} small;
	struct kv_req *rq = &small.h;
	int rc;

	if (vlen > sizeof(small.v)) {
		rq = malloc(sizeof(*rq) + vlen);
		if (!rq)
			return TRP_ENOMEM;
	}
	rq->conn = conn;
	rq->seq = seq;
	rq->op = op;
	rq->vlen = (uint32_t)vlen;
	if (vlen)
		memcpy(rq->val, val, vlen);
	if (rq == &small.h)
		return trp_send(a, KV_REQ, rq, sizeof(*rq) + vlen);
	rc = trp_send_owned(a, KV_REQ, rq, sizeof(*rq) + vlen, NULL);
	if (rc != 0)
		free(rq);
	return rc;
}

/* Sends the batch being collected, if any. */
static void batch_flush(void)
{
	struct batch *b = &S.batch;
	struct kv_req rq;
	int rc;

	if (!b->actor)
		return;
	memset(&rq, 0, sizeof(rq));
	rq.conn = b->conn->id;
	rq.seq = b->seq;
	rq.vlen = b->count;
	memcpy(b->buf, &rq, sizeof(rq));
	rc = trp_send(b->actor, KV_BATCH, b->buf, b->len);
	if (rc != 0) {
		for (uint32_t i = 0; i < b->count; i++) {
			struct conn_ctx *c = b->conn;

			reply_fill(c,
				   &c->ring[(b->seq + i) & (c->ring_cap - 1)],
				   "-ERR key actor unavailable\r\n", 28);
		}
	}
	b->actor = NULL;
}

/* Adds the request of slot @p seq to the batch for @p a. */
static void batch_add(struct conn_ctx *c, trp_actor_t *a, uint64_t seq,
		      uint32_t op, const char *v, size_t vlen)
{
	struct batch *b = &S.batch;
	struct kv_item it = { op, (uint32_t)vlen };

	if (b->actor &&
	    (b->actor != a || b->conn != c || b->seq + b->count != seq ||
	     b->count == BATCH_MAX_COUNT ||
	     b->len + sizeof(it) + vlen > BATCH_MAX_BYTES))
		batch_flush();
	if (!b->actor) {
		b->actor = a;
		b->conn = c;
		b->seq = seq;
		b->count = 0;
		b->len = sizeof(struct kv_req);
	}
	if (reserve(&b->buf, &b->cap, b->len + sizeof(it) + vlen) != 0) {
		/* Out of memory: send what there is, then this one alone. */
		batch_flush();
		if (key_send(a, c->id, seq, op, v, vlen) != 0)
			reply_fill(c, &c->ring[seq & (c->ring_cap - 1)],
				   "-ERR key actor unavailable\r\n", 28);
		return;
	}
	memcpy(b->buf + b->len, &it, sizeof(it));
	if (vlen)
		memcpy(b->buf + b->len + sizeof(it), v, vlen);
	b->len += sizeof(it) + vlen;
	b->count++;
}

static void cmd_key(struct conn_ctx *c, uint32_t op, const char *k, size_t klen,
		    const char *v, size_t vlen)
{
	trp_actor_t *a = key_actor(k, klen, op != KV_GET);
	uint64_t seq;

	if (!a) {
		if (op == KV_GET)
			reply_str(c, "$-1\r\n");
		else
			reply_str(c, "-ERR cannot start the key's actor\r\n");
		return;
	}
	if (!reply_slot(c, &seq)) {
		c->quit = 1;
		mark_dirty(c);
		return;
	}
	batch_add(c, a, seq, op, v, vlen);
}

static void cmd_del(struct conn_ctx *c, const char *buf,
		    const struct resp_arg *a, uint32_t n)
{
	struct reply *r;
	uint64_t seq;

	r = reply_slot(c, &seq);
	if (!r) {
		c->quit = 1;
		mark_dirty(c);
		return;
	}
	/* DEL's parts go straight to the actors: send the batch first so
	 * they cannot overtake the requests in it. */
	batch_flush();
	r->parts = 1; /* held until every key was sent */
	for (uint32_t i = 1; i < n; i++) {
		trp_actor_t *k = key_actor(buf + a[i].off, a[i].len, 0);

		if (k && key_send(k, c->id, seq, KV_DEL, NULL, 0) == 0)
			r->parts++;
	}
	/* The sends may already be answered only once the loop drains the
	 * port, which it does after this returns, so r is still in place. */
	if (--r->parts == 0) {
		char num[32];

		snprintf(num, sizeof(num), ":%" PRId64 "\r\n", r->ival);
		reply_fill(c, r, num, strlen(num));
	}
}

static int is_cmd(const char *buf, const struct resp_arg *a, const char *name)
{
	size_t len = strlen(name);

	return a->len == len && strncasecmp(buf + a->off, name, len) == 0;
}

static void reply_arity(struct conn_ctx *c, const char *buf,
			const struct resp_arg *a)
{
	char msg[128];
	int len = a->len > 32 ? 32 : (int)a->len;

	snprintf(msg, sizeof(msg),
		 "-ERR wrong number of arguments for '%.*s' command\r\n", len,
		 buf + a->off);
	reply_str(c, msg);
}

static void dispatch(struct conn_ctx *c, const char *buf,
		     const struct resp_arg *a, uint32_t n)
{
	S.commands++;
	if (c->nsubs > 0 && !is_cmd(buf, a, "subscribe") &&
	    !is_cmd(buf, a, "unsubscribe") && !is_cmd(buf, a, "ping") &&
	    !is_cmd(buf, a, "quit")) {
		reply_str(c, "-ERR Can't execute this command: only (P|S)"
			     "SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
			     "RESET are allowed in this context\r\n");
		return;
	}
	if (is_cmd(buf, a, "get")) {
		if (n != 2) {
			reply_arity(c, buf, a);
			return;
		}
		cmd_key(c, KV_GET, buf + a[1].off, a[1].len, NULL, 0);
	} else if (is_cmd(buf, a, "set")) {
		if (n < 3) {
			reply_arity(c, buf, a);
			return;
		}
		if (n > 3) {
			reply_str(c, "-ERR syntax error\r\n");
			return;
		}
		cmd_key(c, KV_SET, buf + a[1].off, a[1].len, buf + a[2].off,
			a[2].len);
	} else if (is_cmd(buf, a, "incr")) {
		if (n != 2) {
			reply_arity(c, buf, a);
			return;
		}
		cmd_key(c, KV_INCR, buf + a[1].off, a[1].len, NULL, 0);
	} else if (is_cmd(buf, a, "del")) {
		if (n < 2) {
			reply_arity(c, buf, a);
			return;
		}
		cmd_del(c, buf, a, n);
	} else if (is_cmd(buf, a, "ping") || is_cmd(buf, a, "echo")) {
		if (n > 2 || (n != 2 && is_cmd(buf, a, "echo"))) {
			reply_arity(c, buf, a);
			return;
		}
		if (n == 2) {
			char *b = malloc(a[1].len + 32);
			int h;

			if (!b) {
				reply_str(c, "-ERR out of memory\r\n");
				return;
			}
			h = sprintf(b, "$%zu\r\n", a[1].len);
			memcpy(b + h, buf + a[1].off, a[1].len);
			memcpy(b + h + a[1].len, "\r\n", 2);
			reply_now(c, b, (size_t)h + a[1].len + 2);
			free(b);
		} else if (c->nsubs > 0) {
			reply_str(c, "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
		} else {
			reply_str(c, "+PONG\r\n");
		}
	} else if (is_cmd(buf, a, "publish")) {
		if (n != 3) {
			reply_arity(c, buf, a);
			return;
		}
		cmd_publish(c, buf + a[1].off, a[1].len, buf + a[2].off,
			    a[2].len);
	} else if (is_cmd(buf, a, "subscribe")) {
		if (n < 2) {
			reply_arity(c, buf, a);
			return;
		}
		cmd_subscribe(c, buf, a, n);
	} else if (is_cmd(buf, a, "unsubscribe")) {
		cmd_unsubscribe(c, buf, a, n);
	} else if (is_cmd(buf, a, "info")) {
		cmd_info(c, buf, a, n);
	} else if (is_cmd(buf, a, "config") && n == 3 &&
		   is_cmd(buf, &a[1], "get") && a[2].len <= 64) {
		/* redis-benchmark asks CONFIG GET save and appendonly at
		 * start: every parameter reads as empty. */
		char msg[128];
		int h = sprintf(msg, "*2\r\n$%zu\r\n", a[2].len);

		memcpy(msg + h, buf + a[2].off, a[2].len);
		memcpy(msg + h + a[2].len, "\r\n$0\r\n\r\n", 8);
		reply_now(c, msg, (size_t)h + a[2].len + 8);
	} else if (is_cmd(buf, a, "command")) {
		reply_str(c, "*0\r\n");
	} else if (is_cmd(buf, a, "quit")) {
		reply_str(c, "+OK\r\n");
		c->quit = 1;
	} else {
		char name[33], msg[128];
		size_t len = a->len > 32 ? 32 : a->len;

		for (size_t i = 0; i < len; i++) { /* one line, printable */
			char ch = buf[a->off + i];

			name[i] = ch >= 32 && ch < 127 ? ch : '?';
		}
		name[len] = 0;
		snprintf(msg, sizeof(msg), "-ERR unknown command '%s'\r\n",
			 name);
		reply_str(c, msg);
	}
}

/* Parses and dispatches the buffered requests. */
static void process_input(struct conn_ctx *c)
{
	size_t off = 0;

	while (!c->quit && !c->closing) {
		int rc;

		if (c->tail - c->head >= MAX_PENDING) {
			if (!c->paused) {
				c->paused = 1;
				uv_read_stop((uv_stream_t *)&c->tcp);
			}
			break;
		}
		rc = resp_parse(&c->parser, c->in + off, c->in_len - off);
		if (rc == RESP_MORE)
			break;
		if (rc == RESP_ERROR) {
			char msg[160];

			snprintf(msg, sizeof(msg), "%s\r\n", c->parser.err);
			reply_str(c, msg);
			/* The stream is out of step: answer, then close, as
			 * redis-server does. */
			c->quit = 1;
			uv_read_stop((uv_stream_t *)&c->tcp);
			break;
		}
		if (c->parser.nargs > 0)
			dispatch(c, c->in + off, c->parser.args,
				 c->parser.nargs);
		off += c->parser.pos;
		resp_parser_reset(&c->parser);
	}
	batch_flush();
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (c->quit && !c->closing)
		uv_read_stop((uv_stream_t *)&c->tcp);
	mark_dirty(c);
}

/* ----------------------------------------------------- socket events -- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn_ctx *c = h->data;

	(void)hint;
	if (reserve(&c->in, &c->in_cap, c->in_len + READ_CHUNK) != 0) {
		*buf = uv_buf_init(NULL, 0); /* UV_ENOBUFS: closes */
		return;
	}
	*buf = uv_buf_init(c->in + c->in_len,
			   (unsigned int)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn_ctx *c = st->data;

	(void)buf;
	if (nread < 0) {
		conn_close(c); /* EOF, reset, or no buffer */
		return;
	}
	c->in_len += (size_t)nread;
	process_input(c);
	flush_dirty();
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn_ctx *c = h->data;

	for (uint64_t s = c->head; s < c->tail; s++)
		free(c->ring[s & (c->ring_cap - 1)].big);
	free(c->ring);
	free(c->in);
	free(c->out);
	free(c->wbuf);
	resp_parser_free(&c->parser);
	free(c);
}

static void conn_close(struct conn_ctx *c)
{
	uint32_t slot = (uint32_t)c->id;

	if (c->closing)
		return;
	c->closing = 1;
	while (c->subs)
		sub_remove(c, &c->subs);
	/* Replies still on their way find another generation and are
	 * dropped by the port's handler. */
	S.slots[slot] = NULL;
	S.gens[slot]++;
	S.free_slots[S.nfree++] = slot;
	S.nconns--;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static int slot_take(uint32_t *slot)
{
	if (S.nfree == 0) {
		uint32_t n = S.nslots ? S.nslots * 2 : 64;
		struct conn_ctx **sl = realloc(S.slots, n * sizeof(*sl));
		uint32_t *g, *f;

		if (!sl)
			return -1;
		S.slots = sl;
		g = realloc(S.gens, n * sizeof(*g));
		if (!g)
			return -1;
		S.gens = g;
		f = realloc(S.free_slots, n * sizeof(*f));
		if (!f)
			return -1;
		S.free_slots = f;
		for (uint32_t i = n; i > S.nslots; i--) {
			S.slots[i - 1] = NULL;
			S.gens[i - 1] = 1;
			S.free_slots[S.nfree++] = i - 1;
		}
		S.nslots = n;
	}
	*slot = S.free_slots[--S.nfree];
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct conn_ctx *c;
	uint32_t slot;

	if (status < 0 || S.stopping)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	if (uv_tcp_init(&S.loop, &c->tcp) != 0) {
		free(c);
		return;
	}
	c->tcp.data = c;
	c->wreq.data = c;
	resp_parser_init(&c->parser);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    slot_take(&slot) != 0) {
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
		return;
	}
	c->id = conn_id(slot, S.gens[slot]);
	S.slots[slot] = c;
	S.nconns++;
	S.connections++;
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ------------------------------------------------------------- port -- */

/* The port's handler: runs on the loop thread inside trp_port_drain(). */
static void port_handler(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	const struct kv_rep *r = msg->data;
	struct conn_ctx *c;
	struct reply *slot;
	uint64_t seq;
	uint32_t n;

	(void)self;
	(void)state;
	if (msg->size < sizeof(*r) || msg->size - sizeof(*r) < r->len)
		return;
	c = conn_lookup(r->conn);
	if (!c || c->closing)
		return; /* the client left: the reply is dropped */
	switch (msg->type) {
	case KV_REP:
	case KV_PART:
		n = msg->type == KV_REP && r->count > 1 ? r->count : 1;
		if (r->seq < c->head || r->seq >= c->tail ||
		    c->tail - r->seq < n)
			return;
		slot = &c->ring[r->seq & (c->ring_cap - 1)];
		if (msg->type == KV_REP) {
			/* A batch's replies, back to back, fill its first
			 * slot; the others are done and empty. */
			reply_fill(c, slot, r->data, r->len);
			for (uint32_t i = 1; i < n; i++)
				reply_fill(c,
					   &c->ring[(r->seq + i) &
						    (c->ring_cap - 1)],
					   "", 0);
		} else {
			slot->ival += r->ival;
			if (--slot->parts == 0) {
				char num[32];

				snprintf(num, sizeof(num), ":%" PRId64 "\r\n",
					 slot->ival);
				reply_fill(c, slot, num, strlen(num));
			}
		}
		break;
	case KV_PUSH:
		slot = reply_slot(c, &seq);
		if (!slot) {
			c->quit = 1;
			mark_dirty(c);
			return;
		}
		reply_fill(c, slot, r->data, r->len);
		break;
	default:
		break;
	}
}

static void on_port(uv_poll_t *h, int status, int events)
{
	int rc;

	(void)h;
	(void)status;
	(void)events;
	/* uv_poll is level-triggered and the port re-signals itself when
	 * the budget leaves mail: one drain per readiness. */
	rc = trp_port_drain(S.port, DRAIN_BUDGET);
	flush_dirty();
	if (rc == TRP_ECLOSED)
		uv_poll_stop(&S.port_poll);
}

/* --------------------------------------------------------- shutdown -- */

static void close_conn_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (h->type == UV_TCP && h != (uv_handle_t *)&S.listener &&
	    !uv_is_closing(h))
		conn_close(h->data);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	(void)sig;
	(void)signum;
	if (S.stopping)
		return;
	S.stopping = 1;
	uv_close((uv_handle_t *)&S.listener, NULL);
	uv_walk(&S.loop, close_conn_walk, NULL);
	uv_close((uv_handle_t *)&S.port_poll, NULL);
	uv_close((uv_handle_t *)&S.sigint, NULL);
	uv_close((uv_handle_t *)&S.sigterm, NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: example_kv_server [--port P] [--workers W] "
			"[--idle-spins N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int namelen = sizeof(bound);
	long port = 0, workers = 1, spins = -1;
	int rc;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
			port = strtol(argv[++i], &end, 10);
			if (*end || port < 0 || port > 65535)
				usage();
		} else if (i + 1 < argc &&
			   strcmp(argv[i], "--idle-spins") == 0) {
			spins = strtol(argv[++i], &end, 10);
			if (*end || spins < 0 || spins > 1000000000)
				usage();
		} else if (i + 1 < argc && strcmp(argv[i], "--workers") == 0) {
			workers = strtol(argv[++i], &end, 10);
			if (*end || workers < 0 || workers > 256)
				usage();
		} else {
			usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);

	cfg.workers = (uint32_t)workers;
	if (spins < 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		long busy = (workers != 0 ? workers : cores) + 1; /* + loop */
		if (cores > 0 && busy >= cores)
			spins = 0; /* no core to spare for polling */
	}
	if (spins >= 0)
		cfg.idle_spins = (uint32_t)spins;
	rc = trp_runtime_create(&cfg, &S.rt);
	if (rc == 0)
		rc = trp_port_open(S.rt, port_handler, NULL, &S.port);
	if (rc != 0) {
		fprintf(stderr, "kv_server: %s\n", trp_strerror(rc));
		return 1;
	}

	uv_loop_init(&S.loop);
	uv_poll_init(&S.loop, &S.port_poll, trp_port_fd(S.port));
	uv_poll_start(&S.port_poll, UV_READABLE, on_port);
	uv_signal_init(&S.loop, &S.sigint);
	uv_signal_start(&S.sigint, on_signal, SIGINT);
	uv_signal_init(&S.loop, &S.sigterm);
	uv_signal_start(&S.sigterm, on_signal, SIGTERM);

	uv_tcp_init(&S.loop, &S.listener);
	uv_ip4_addr("127.0.0.1", (int)port, &addr);
	rc = uv_tcp_bind(&S.listener, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&S.listener, 511, on_connection);
	if (rc == 0)
		rc = uv_tcp_getsockname(&S.listener, (struct sockaddr *)&bound,
					&namelen);
	if (rc != 0) {
		fprintf(stderr, "kv_server: listen: %s\n", uv_strerror(rc));
		return 1;
	}
	printf("kv_server: listening on port %d\n",
	       ntohs(((struct sockaddr_in *)&bound)->sin_port));
	fflush(stdout);

	uv_run(&S.loop, UV_RUN_DEFAULT);

	/* Every handle is closed. Destroying the runtime stops the key
	 * actors (their stop hooks free the values) and the port (replies
	 * still queued become dead letters, freed by the runtime). */
	rc = trp_runtime_destroy(S.rt);
	if (rc != 0)
		fprintf(stderr, "kv_server: destroy: %s\n", trp_strerror(rc));
	for (size_t i = 0; i < S.keys.cap; i++) {
		if (S.keys.e[i].key) {
			trp_actor_release(S.keys.e[i].val);
			free(S.keys.e[i].key);
		}
	}
	for (size_t i = 0; i < S.channels.cap; i++) {
		if (S.channels.e[i].key) {
			trp_exchange_release(S.channels.e[i].val);
			free(S.channels.e[i].key);
		}
	}
	free(S.keys.e);
	free(S.channels.e);
	free(S.batch.buf);
	trp_actor_release(S.port);
	free(S.slots);
	free(S.gens);
	free(S.free_slots);
	uv_loop_close(&S.loop);
	printf("kv_server: stopped\n");
	return rc == 0 ? 0 : 1;
}
