/*
 * examples/kv_server/kv.h - what the loop thread and the key actors say to
 * each other.
 *
 * The loop sends a key actor a struct kv_req (type KV_REQ) naming the
 * connection and the request's sequence number on it; the actor answers
 * the port with a struct kv_rep carrying the same two numbers and the
 * RESP-encoded reply, which the loop puts in its place in the
 * connection's queue of pending replies. Pub/sub pushes reach the port
 * as kv_rep too (KV_PUSH: no sequence number, appended to the queue).
 */
#ifndef KV_KV_H
#define KV_KV_H

#include <stddef.h>
#include <stdint.h>

#include <troupe/troupe.h>

enum kv_msg_type {
	KV_REQ = 1,   /* loop -> key actor: struct kv_req */
	KV_REP = 2,   /* key actor -> port: struct kv_rep, a whole reply */
	KV_PART = 3,  /* key actor -> port: struct kv_rep, ival is one key's
			share of an integer reply (DEL of several keys) */
	KV_PUSH = 4,  /* exchange sink -> port: struct kv_rep, a pushed
			pub/sub message (seq unused) */
	KV_BATCH = 5, /* loop -> key actor: struct kv_req whose vlen is a
			 count of struct kv_item that follow, for sequence
			 numbers seq, seq + 1, ...; answered by one KV_REP
			 with that count */
};

enum kv_op {
	KV_GET = 1,
	KV_SET = 2,
	KV_INCR = 3,
	KV_DEL = 4,
};

struct kv_req {
	uint64_t conn; /* connection id (slot and generation) */
	uint64_t seq;  /* the request's place in the connection's replies */
	uint32_t op;   /* enum kv_op */
	uint32_t vlen; /* SET: value length */
	char val[];    /* SET: the value */
};

/* One request of a KV_BATCH: op, then vlen bytes of value. */
struct kv_item {
	uint32_t op;
	uint32_t vlen;
};

struct kv_rep {
	uint64_t conn;
	uint64_t seq;
	int64_t ival;	/* KV_PART */
	uint32_t len;	/* bytes of RESP in data (KV_REP, KV_PUSH) */
	uint32_t count; /* KV_REP: the replies in data, for seq, seq + 1,
			   ... (a batch's); 0 means 1 */
	char data[];
};

/* The key actor's definition: state_size is set, spawn with a port. */
extern const trp_actor_def_t kv_key_def;

/* Spawn argument / state of a key actor. */
struct kv_key_state {
	trp_actor_t *port; /* the loop's port; the loop holds the reference */
	char *val;	   /* value bytes (malloc), NULL when absent */
	size_t len;
	size_t cap;
	int exists;
};

#endif /* KV_KV_H */
