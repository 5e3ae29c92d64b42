/*
 * examples/kv_server/key.c - the key actor: one per key, owning its value.
 *
 * Every request for a key goes to its actor, so requests on one key are
 * serialized by the actor's mailbox (INCR needs no lock and no CAS) and
 * requests on different keys run in parallel on the workers. A burst of
 * requests (pipelined, or from many clients) is handled in one turn, and
 * the replies of that turn to the port are enqueued together (actor.h,
 * "Timing"): one atomic operation and at most one eventfd write for up
 * to 64 replies.
 *
 * Lifetime: an actor lives as long as the server (the loop's key table
 * holds its handle); DEL empties it. Redis's keyspace has no bound
 * either; expiring idle key actors is left out to keep the example short.
 */
#include <inttypes.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

/*
 * A reply under construction: RESP bytes, on the stack while they fit.
 * It becomes one struct kv_rep; for a batch, the replies of all its
 * requests back to back (the loop writes them as they are).
 */
struct out {
	struct kv_rep *r; /* &stack.h, or malloc */
	size_t cap;	  /* bytes of data room */
	int failed;	  /* out of memory: the reply is dropped */
	struct {
		struct kv_rep h;
		char buf[1024];
	} stack;
};

static void out_init(struct out *o, const struct kv_req *rq, uint32_t count)
{
	o->r = &o->stack.h;
	o->cap = sizeof(o->stack.buf);
	o->failed = 0;
	memset(o->r, 0, sizeof(*o->r));
	o->r->conn = rq->conn;
	o->r->seq = rq->seq;
	o->r->count = count;
}

/* Room for @p n more bytes; NULL when out of memory. */
static char *out_room(struct out *o, size_t n)
{
	if (o->failed)
		return NULL;
	if (o->r->len + n > o->cap) {
		size_t cap = o->cap * 2;
		struct kv_rep *r;

		while (cap < o->r->len + n)
			cap *= 2;
		if (o->r == &o->stack.h) {
			r = malloc(sizeof(*r) + cap);
			if (r)
				memcpy(r, o->r, sizeof(*r) + o->r->len);
		} else {
			r = realloc(o->r, sizeof(*r) + cap);
		}
		if (!r) {
			o->failed = 1;
			return NULL;
		}
		o->r = r;
		o->cap = cap;
	}
	return o->r->data + o->r->len;
}

static void out_put(struct out *o, const char *s, size_t n)
{
	char *p = out_room(o, n);

	if (p) {
		memcpy(p, s, n);
		o->r->len += (uint32_t)n;
	}
}

/* Sends the reply to the port (copied when on the stack). */
static void out_send(struct kv_key_state *k, struct out *o, uint32_t type)
{
	int rc;

	if (o->failed) {
		if (o->r != &o->stack.h)
			free(o->r);
		return; /* the connection waits; see kv_server.c */
	}
	if (o->r == &o->stack.h) {
		rc = trp_send(k->port, type, o->r, sizeof(*o->r) + o->r->len);
	} else {
		rc = trp_send_owned(k->port, type, o->r,
				    sizeof(*o->r) + o->r->len, NULL);
		if (rc != 0)
			free(o->r);
	}
	/* rc != 0: the port is closed (shutdown); nobody waits any more. */
	(void)rc;
}

static int set_value(struct kv_key_state *k, const char *v, size_t len)
{
	if (len > k->cap || (k->cap > 4096 && len < k->cap / 4)) {
		char *n = realloc(k->val, len ? len : 1);

		if (!n)
			return -1;
		k->val = n;
		k->cap = len ? len : 1;
	}
	if (len)
		memcpy(k->val, v, len);
	k->len = len;
	k->exists = 1;
	return 0;
}

/* Redis's string2ll: the whole value, no spaces, no '+', no leading 0. */
static int value_ll(const struct kv_key_state *k, int64_t *out)
{
	char buf[24];
	char *end;
	long long v;

	if (!k->exists) {
		*out = 0;
		return 0;
	}
	if (k->len == 0 || k->len >= sizeof(buf))
		return -1;
	memcpy(buf, k->val, k->len);
	buf[k->len] = 0;
	if (buf[0] == '+' || buf[0] == ' ' || (buf[0] == '0' && k->len > 1) ||
	    (buf[0] == '-' && (k->len == 1 || buf[1] == '0')))
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (*end != 0 || errno != 0)
		return -1;
	*out = v;
	return 0;
}

/* Writes v in decimal at out (room for 20 digits and a sign); returns the
 * length. snprintf was a tenth of the loop-and-actor CPU time under
 * pipelined INCR (perf). */
static size_t fmt_i64(char *out, int64_t v)
{
	char tmp[24];
	size_t n = 0, len = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[len++] = '-';
	while (n)
		out[len++] = tmp[--n];
	return len;
}

static void run_op(struct kv_key_state *k, uint32_t op, const char *val,
		   size_t vlen, struct out *o)
{
	char buf[48];
	size_t n;
	int64_t v;

	switch (op) {
	case KV_GET: {
		char *p;

		if (!k->exists) {
			out_put(o, "$-1\r\n", 5);
			break;
		}
		buf[0] = '$';
		n = 1 + fmt_i64(buf + 1, (int64_t)k->len);
		p = out_room(o, n + k->len + 4);
		if (!p)
			break;
		memcpy(p, buf, n);
		memcpy(p + n, "\r\n", 2);
		if (k->len)
			memcpy(p + n + 2, k->val, k->len);
		memcpy(p + n + 2 + k->len, "\r\n", 2);
		o->r->len += (uint32_t)(n + k->len + 4);
		break;
	}
	case KV_SET:
		if (set_value(k, val, vlen) != 0)
			out_put(o, "-ERR out of memory\r\n", 20);
		else
			out_put(o, "+OK\r\n", 5);
		break;
	case KV_INCR:
		if (value_ll(k, &v) != 0) {
			static const char e[] = "-ERR value is not an integer "
						"or out of range\r\n";
			out_put(o, e, sizeof(e) - 1);
			break;
		}
		if (v == INT64_MAX) {
			static const char e[] = "-ERR increment or decrement "
						"would overflow\r\n";
			out_put(o, e, sizeof(e) - 1);
			break;
		}
		v++;
		buf[0] = ':';
		n = fmt_i64(buf + 1, v);
		if (set_value(k, buf + 1, n) != 0) {
			out_put(o, "-ERR out of memory\r\n", 20);
			break;
		}
		memcpy(buf + 1 + n, "\r\n", 2);
		out_put(o, buf, n + 3);
		break;
	default:
		out_put(o, "-ERR unknown operation\r\n", 25);
		break;
	}
}

static void key_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct kv_key_state *k = state;
	const struct kv_req *rq = msg->data;
	struct out o;

	(void)self;
	if (msg->size < sizeof(*rq))
		return;
	if (msg->type == KV_BATCH) {
		/* A burst of one connection's requests with consecutive
		 * sequence numbers: one reply for all of them. */
		const char *p = (const char *)msg->data + sizeof(*rq);
		size_t left = msg->size - sizeof(*rq);

		out_init(&o, rq, rq->vlen);
		for (uint32_t i = 0; i < rq->vlen; i++) {
			struct kv_item it;

			if (left < sizeof(it))
				break; /* malformed: never from the loop */
			memcpy(&it, p, sizeof(it));
			p += sizeof(it);
			left -= sizeof(it);
			if (left < it.vlen)
				break;
			run_op(k, it.op, p, it.vlen, &o);
			p += it.vlen;
			left -= it.vlen;
		}
		out_send(k, &o, KV_REP);
		return;
	}
	if (msg->type != KV_REQ || msg->size - sizeof(*rq) < rq->vlen)
		return;
	if (rq->op == KV_DEL) {
		out_init(&o, rq, 1);
		o.r->ival = k->exists ? 1 : 0;
		out_send(k, &o, KV_PART);
		k->exists = 0;
		k->len = 0;
		if (k->cap > 4096) {
			free(k->val);
			k->val = NULL;
			k->cap = 0;
		}
		return;
	}
	out_init(&o, rq, 1);
	run_op(k, rq->op, rq->val, rq->vlen, &o);
	out_send(k, &o, KV_REP);
}

static void key_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct kv_key_state *k = state;

	(void)self;
	(void)why;
	free(k->val);
	k->val = NULL;
}

const trp_actor_def_t kv_key_def = {
	.behavior = key_behavior,
	.stop = key_stop,
	.state_size = sizeof(struct kv_key_state),
};
