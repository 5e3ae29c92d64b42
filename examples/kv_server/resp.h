/*
 * examples/kv_server/resp.h - an incremental, bounded RESP request parser.
 *
 * Parses client requests of the Redis protocol: multibulk arrays of bulk
 * strings (*N\r\n$len\r\n...\r\n) and inline commands (words separated by
 * spaces, ended by \n). The parser keeps its place between calls, so a
 * request that arrives in pieces is scanned once, not again for each
 * piece: the caller hands it the bytes of the current request from its
 * first byte on (the caller keeps them, appending what arrives), and the
 * parser resumes where it stopped.
 *
 * Bounds: at most RESP_MAX_ARGS arguments, bulk strings of at most
 * RESP_MAX_BULK bytes and RESP_MAX_REQUEST in all, inline requests and header lines of at most
 * RESP_MAX_INLINE / RESP_MAX_LINE bytes. Anything else is a protocol
 * error (a message in Redis's words); after one the stream is out of step
 * and the caller closes the connection, as redis-server does. The parser
 * never reads past the length it was given and allocates only its
 * argument table (at most RESP_MAX_ARGS entries).
 *
 * Threads: a parser belongs to one thread (the connection's loop).
 */
#ifndef KV_RESP_H
#define KV_RESP_H

#include <stddef.h>
#include <stdint.h>

#define RESP_MAX_ARGS 1024u
#define RESP_MAX_BULK ((size_t)8 << 20)
#define RESP_MAX_REQUEST ((size_t)16 << 20)
#define RESP_MAX_INLINE ((size_t)64 << 10)
#define RESP_MAX_LINE 32u

enum resp_status {
	RESP_ERROR = -1, /* protocol error: resp_parser.err says which */
	RESP_MORE = 0,	 /* the request is incomplete: call again with more */
	RESP_REQUEST = 1 /* a request: args[0..nargs), pos bytes long */
};

/* One argument: offset and length in the caller's buffer. */
struct resp_arg {
	size_t off;
	size_t len;
};

struct resp_parser {
	/* results (RESP_REQUEST) */
	struct resp_arg *args;
	uint32_t nargs;	 /* 0 for an empty request (to be skipped) */
	size_t pos;	 /* bytes of the request scanned (all, on REQUEST) */
	const char *err; /* RESP_ERROR: "-ERR ..." without \r\n */
	/* private */
	uint32_t cap;
	uint32_t want;	/* multibulk: arguments announced, 0: not yet */
	long long bulk; /* -1: expecting a '$' header */
	int inline_req; /* the request is inline */
};

void resp_parser_init(struct resp_parser *p);
void resp_parser_free(struct resp_parser *p);
/* Forgets the current request (after RESP_REQUEST, before the next one). */
void resp_parser_reset(struct resp_parser *p);

/*
 * Scans the request that starts at buf[0]; @p len bytes are available.
 * Returns RESP_REQUEST, RESP_MORE or RESP_ERROR (see above). Between a
 * RESP_MORE and the next call the bytes already given must stay the same
 * (only more may be appended).
 */
int resp_parse(struct resp_parser *p, const char *buf, size_t len);

#endif /* KV_RESP_H */
