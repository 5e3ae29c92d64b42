/*
 * tests/net/net_proto.h - what the net tests and their peer program
 * (test_node.c) agree on: message types, payload layouts, the actor names
 * of the roles and the text of the stats lines.
 *
 * Payloads are C structs of fixed-width fields: both ends are the same
 * build on the same machine, so no byte order question arises.
 */
#ifndef TRP_TESTS_NET_PROTO_H
#define TRP_TESTS_NET_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <troupe/node.h>

/* Message types (trp_msg_t.type). */
enum {
	NET_T_SEQ = 1,	      /* sink: struct net_seq, one-way */
	NET_T_STATS = 2,      /* ask sink or echo for its counters */
	NET_T_PING = 3,	      /* echo: any payload, answered with itself */
	NET_T_BLOB = 4,	      /* echo: one-way, counted and checksummed */
	NET_T_RELEASE = 5,    /* hold: answer every request held so far */
	NET_T_TICK = 6,	      /* test-local: a sender's "go on" */
	NET_T_OUTCOME = 7,    /* test-local: a future's outcome */
	NET_T_NODE_EVENT = 8, /* test-local: trp_node_event_t */
	NET_T_FAIL = 9,	      /* linked roles: fail with the int32 code */
	NET_T_STOPME = 10,    /* linked roles: stop normally */
	NET_T_EXIT = 11,      /* exit messages (trp_down_t) of trappers */
};

/* Actor names of the linked roles on the peer (test_node.c, "linked"):
 * "victim" and "keeper" do not trap exits, "trapper" does. */
#define NET_VICTIM "victim"
#define NET_KEEPER "keeper"
#define NET_TRAPPER "trapper"

/* Actor names of the roles on the peer. */
#define NET_ECHO "echo"
#define NET_SINK "sink"
#define NET_HOLD "hold"
#define NET_EXPORTED "exp"  /* exported, not registered */
#define NET_SHADOW "shadow" /* registered AND exported: export wins */

/* Senders a sink tells apart (sender ids 0 .. NET_SENDERS_MAX-1). */
#define NET_SENDERS_MAX 64

/* The linked roles' and the links test's actors: NET_T_FAIL fails @self
 * with the int32 code, NET_T_STOPME stops it; true if @m was one. */
static inline bool net_stop_control(trp_actor_t *self, const trp_msg_t *m)
{
	if (m->type == NET_T_FAIL && m->size == sizeof(int32_t)) {
		int32_t code;
		memcpy(&code, m->data, sizeof code);
		(void)trp_actor_fail(self, code);
		return true;
	}
	if (m->type == NET_T_STOPME) {
		(void)trp_actor_stop(self);
		return true;
	}
	return false;
}

/* One message of a per-sender sequence: seq counts from 0. */
struct net_seq {
	uint32_t sender;
	uint32_t magic; /* NET_SEQ_MAGIC */
	uint64_t seq;
};
#define NET_SEQ_MAGIC 0x7365716eu

/* A sink's answer to NET_T_STATS (32 bytes: fits a future inline). */
struct net_sink_stats {
	uint64_t count;	     /* NET_T_SEQ messages taken */
	uint64_t violations; /* duplicates, reorders, bad payloads */
	uint64_t skipped;    /* sequence numbers never seen (losses) */
	uint64_t senders;    /* distinct senders seen */
};

/* An echo's answer to NET_T_STATS. */
struct net_echo_stats {
	uint64_t asks;	    /* requests answered (NET_T_STATS not counted) */
	uint64_t oneway;    /* one-way messages (NET_T_BLOB) */
	uint64_t last_size; /* size of the last one-way message */
	uint64_t last_sum;  /* net_sum() of its payload */
};

/* FNV-1a over @len bytes: the checksum of one-way blobs. */
static inline uint64_t net_sum(const void *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The byte at @i of the test pattern @salt (payload contents). */
static inline unsigned char net_pattern(size_t i, unsigned salt)
{
	return (unsigned char)((i * 131u + salt * 7u + (i >> 8)) & 0xffu);
}

/* Keys of lost[] in the stats line, by trp_loss_cause_t (the test's own
 * table: the line must not depend on the code under test). */
static const char *const net_loss_keys[TRP_LOSS_CAUSES] = {
	"lost_gap",   "lost_no_responders", "lost_unsent",
	"lost_stale", "lost_malformed",
};

/*
 * The node stats line: "stats sent=N received=N ..." with one key per
 * field, then lost[] under net_loss_keys. X(key, expression of a
 * trp_node_stats_t *s) for the fields that are not lost[].
 */
#define NET_NODE_STATS_FIELDS(X)                                               \
	X(sent, s->sent)                                                       \
	X(received, s->received)                                               \
	X(delivered, s->delivered)                                             \
	X(undeliverable, s->undeliverable)                                     \
	X(frames_out, s->frames_out)                                           \
	X(frames_in, s->frames_in)                                             \
	X(bytes_out, s->bytes_out)                                             \
	X(bytes_in, s->bytes_in)                                               \
	X(malformed_frames, s->malformed_frames)                               \
	X(slow_consumer_frames, s->slow_consumer_frames)                       \
	X(asks_out, s->asks_out)                                               \
	X(replies_in, s->replies_in)                                           \
	X(peers, s->peers)                                                     \
	X(peers_up, s->peers_up)                                               \
	X(peer_downs, s->peer_downs)                                           \
	X(disconnects, s->disconnects)                                         \
	X(reconnects, s->reconnects)                                           \
	X(xsent, s->xsent)                                                     \
	X(xreceived, s->xreceived)                                             \
	X(xlost, s->xlost)

/* The sum of lost[] over every cause. */
static inline uint64_t net_lost_total(const trp_node_stats_t *s)
{
	uint64_t n = 0;
	for (int c = 0; c < TRP_LOSS_CAUSES; c++)
		n += s->lost[c];
	return n;
}

/* Writes @s as a stats line (no newline) into @buf. */
static inline void net_format_stats(const trp_node_stats_t *s, char *buf,
				    size_t len)
{
	size_t used = 0;
	int w = snprintf(buf, len, "stats");
#define NET_FMT_FIELD(key, expr)                                               \
	if (w > 0 && (size_t)w < len - used) {                                 \
		used += (size_t)w;                                             \
		w = snprintf(buf + used, len - used, " " #key "=%llu",         \
			     (unsigned long long)(expr));                      \
	}
	NET_NODE_STATS_FIELDS(NET_FMT_FIELD)
#undef NET_FMT_FIELD
	for (int c = 0; c < TRP_LOSS_CAUSES; c++) {
		if (w > 0 && (size_t)w < len - used) {
			used += (size_t)w;
			w = snprintf(buf + used, len - used, " %s=%llu",
				     net_loss_keys[c],
				     (unsigned long long)s->lost[c]);
		}
	}
}

#endif /* TRP_TESTS_NET_PROTO_H */
