/*
 * examples/kv_server/resp.c - the RESP request parser (see resp.h).
 *
 * Every length read from the wire is checked against a bound before it is
 * used, and every index against the length given, so any byte sequence
 * yields a request, "more" or an error: the parser has a standalone test
 * that feeds it malformed and random input (resp_test.c).
 */
#include "resp.h"

#include <stdlib.h>
#include <string.h>

void resp_parser_init(struct resp_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->bulk = -1;
}

void resp_parser_free(struct resp_parser *p)
{
	free(p->args);
	p->args = NULL;
	p->cap = 0;
}

void resp_parser_reset(struct resp_parser *p)
{
	p->nargs = 0;
	p->pos = 0;
	p->err = NULL;
	p->want = 0;
	p->bulk = -1;
	p->inline_req = 0;
}

static int fail(struct resp_parser *p, const char *err)
{
	p->err = err;
	return RESP_ERROR;
}

static int push_arg(struct resp_parser *p, size_t off, size_t len)
{
	if (p->nargs == RESP_MAX_ARGS)
		return -1;
	if (p->nargs == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 8;
		struct resp_arg *a;

		if (cap > RESP_MAX_ARGS)
			cap = RESP_MAX_ARGS;
		a = realloc(p->args, cap * sizeof(*a));
		if (!a)
			return -1;
		p->args = a;
		p->cap = cap;
	}
	p->args[p->nargs].off = off;
	p->args[p->nargs].len = len;
	p->nargs++;
	return 0;
}

/*
 * Finds the "\r\n" ending the header line at buf[from]: 1 (*end is the
 * offset of '\r'), 0 (not there yet), -1 (longer than RESP_MAX_LINE).
 */
static int find_line(const char *buf, size_t len, size_t from, size_t *end)
{
	size_t lim = len - from < RESP_MAX_LINE ? len : from + RESP_MAX_LINE;

	for (size_t i = from; i + 1 < lim; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			*end = i;
			return 1;
		}
	}
	return len - from >= RESP_MAX_LINE ? -1 : 0;
}

/* Parses buf[from, to) as a decimal integer (optional '-'); 0 on success. */
static int parse_ll(const char *buf, size_t from, size_t to, long long *out)
{
	long long v = 0;
	int neg = 0;

	if (from < to && buf[from] == '-') {
		neg = 1;
		from++;
	}
	if (from == to || to - from > 18)
		return -1;
	for (size_t i = from; i < to; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		v = v * 10 + (buf[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

static int parse_inline(struct resp_parser *p, const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	size_t end, i;

	if (!nl) {
		if (len > RESP_MAX_INLINE)
			return fail(p, "-ERR Protocol error: too big inline "
				       "request");
		return RESP_MORE;
	}
	end = (size_t)(nl - buf);
	if (end > RESP_MAX_INLINE)
		return fail(p, "-ERR Protocol error: too big inline request");
	p->pos = end + 1;
	if (end > 0 && buf[end - 1] == '\r')
		end--;
	i = 0;
	while (i < end) {
		size_t start;

		while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		if (i == end)
			break;
		start = i;
		while (i < end && buf[i] != ' ' && buf[i] != '\t')
			i++;
		if (push_arg(p, start, i - start) != 0)
			return fail(p, "-ERR Protocol error: too many "
				       "arguments");
	}
	return RESP_REQUEST;
}

int resp_parse(struct resp_parser *p, const char *buf, size_t len)
{
	size_t end;
	long long v;
	int rc;

	if (p->pos == 0 && p->want == 0 && !p->inline_req) {
		if (len == 0)
			return RESP_MORE;
		if (buf[0] != '*')
			p->inline_req = 1;
	}
	if (p->inline_req) {
		p->nargs = 0; /* rescanned whole: inline requests are short */
		return parse_inline(p, buf, len);
	}
	if (p->want == 0) {
		rc = find_line(buf, len, 1, &end);
		if (rc < 0)
			return fail(p, "-ERR Protocol error: invalid "
				       "multibulk length");
		if (rc == 0)
			return RESP_MORE;
		if (parse_ll(buf, 1, end, &v) != 0 ||
		    v > (long long)RESP_MAX_ARGS)
			return fail(p, "-ERR Protocol error: invalid "
				       "multibulk length");
		p->pos = end + 2;
		if (v <= 0) /* *0 and *-1: an empty request, skipped */
			return RESP_REQUEST;
		p->want = (uint32_t)v;
	}
	while (p->nargs < p->want) {
		if (p->bulk < 0) {
			if (p->pos >= len)
				return RESP_MORE;
			if (buf[p->pos] != '$')
				return fail(p, "-ERR Protocol error: expected "
					       "'$'");
			rc = find_line(buf, len, p->pos + 1, &end);
			if (rc < 0)
				return fail(p, "-ERR Protocol error: invalid "
					       "bulk length");
			if (rc == 0)
				return RESP_MORE;
			if (parse_ll(buf, p->pos + 1, end, &v) != 0 || v < 0 ||
			    (size_t)v > RESP_MAX_BULK)
				return fail(p, "-ERR Protocol error: invalid "
					       "bulk length");
			if (end + 2 + (size_t)v > RESP_MAX_REQUEST)
				return fail(p, "-ERR Protocol error: request "
					       "too big");
			p->bulk = v;
			p->pos = end + 2;
		}
		if (len - p->pos < (size_t)p->bulk + 2)
			return RESP_MORE;
		if (buf[p->pos + (size_t)p->bulk] != '\r' ||
		    buf[p->pos + (size_t)p->bulk + 1] != '\n')
			return fail(p, "-ERR Protocol error: bulk string not "
				       "ended by CRLF");
		if (push_arg(p, p->pos, (size_t)p->bulk) != 0)
			return fail(p, "-ERR out of memory");
		p->pos += (size_t)p->bulk + 2;
		p->bulk = -1;
	}
	return RESP_REQUEST;
}
