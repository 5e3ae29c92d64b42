/*
 * examples/kv_server/resp_test.c - the RESP parser on good, split,
 * malformed and random input (ctest example.kv_resp).
 *
 * Checks: well-formed requests parse to the right arguments whether they
 * arrive whole, byte by byte or pipelined; each malformed request gives
 * RESP_ERROR with an "-ERR" message; random bytes (a fixed seed, so a
 * failure repeats) never make the parser read past its input (run it
 * under ASan) or report a request longer than its input. Exit 0 on
 * success, 1 with a message on the first failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "resp_test:%d: ", __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

/*
 * Feeds @p in to a fresh parser @p step bytes at a time (0: whole), each
 * piece in its own heap copy of exactly the bytes given so far (so ASan
 * sees any read past them); returns the last status and leaves the
 * arguments in @p p, the buffer in *keep.
 */
static int feed(struct resp_parser *p, const char *in, size_t len, size_t step,
		char **keep)
{
	int rc = RESP_MORE;
	size_t have = step ? 0 : len;

	resp_parser_init(p);
	*keep = NULL;
	for (;;) {
		char *buf = malloc(have ? have : 1);

		memcpy(buf, in, have);
		rc = resp_parse(p, buf, have);
		free(*keep);
		*keep = buf;
		if (rc != RESP_MORE || have == len)
			break;
		have = have + step > len ? len : have + step;
	}
	return rc;
}

static void expect_request(const char *in, size_t len, uint32_t nargs,
			   const char *const *args)
{
	for (size_t step = 0; step <= 3; step++) {
		struct resp_parser p;
		char *buf;
		int rc = feed(&p, in, len, step, &buf);

		CHECK(rc == RESP_REQUEST, "%.*s (step %zu): rc %d", (int)len,
		      in, step, rc);
		if (rc == RESP_REQUEST) {
			CHECK(p.nargs == nargs, "nargs %u != %u", p.nargs,
			      nargs);
			CHECK(p.pos == len, "pos %zu != %zu", p.pos, len);
			for (uint32_t i = 0; i < p.nargs && i < nargs; i++)
				CHECK(p.args[i].len == strlen(args[i]) &&
					      memcmp(buf + p.args[i].off,
						     args[i],
						     p.args[i].len) == 0,
				      "arg %u != %s", i, args[i]);
		}
		free(buf);
		resp_parser_free(&p);
	}
}

static void expect_error(const char *in, size_t len)
{
	for (size_t step = 0; step <= (len > 4096 ? 0 : 2); step++) {
		struct resp_parser p;
		char *buf;
		int rc = feed(&p, in, len, step, &buf);

		CHECK(rc == RESP_ERROR, "%.*s (step %zu): rc %d, want error",
		      (int)len, in, step, rc);
		if (rc == RESP_ERROR)
			CHECK(p.err && strncmp(p.err, "-ERR ", 5) == 0,
			      "error text %s", p.err ? p.err : "(null)");
		free(buf);
		resp_parser_free(&p);
	}
}

static void expect_more(const char *in, size_t len)
{
	struct resp_parser p;
	char *buf;
	int rc = feed(&p, in, len, 0, &buf);

	CHECK(rc == RESP_MORE, "%.*s: rc %d, want more", (int)len, in, rc);
	free(buf);
	resp_parser_free(&p);
}

#define S(lit) lit, sizeof(lit) - 1

static void good(void)
{
	static const char *const set[] = { "SET", "key", "va\r\nl" };
	static const char *const ping[] = { "PING" };
	static const char *const inl[] = { "set", "a", "1" };
	static const char *const empty_arg[] = { "GET", "" };

	expect_request(S("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"),
		       3, set);
	expect_request(S("*1\r\n$4\r\nPING\r\n"), 1, ping);
	expect_request(S("PING\r\n"), 1, ping);
	expect_request(S("PING\n"), 1, ping);
	expect_request(S("  set  a\t1 \r\n"), 3, inl);
	expect_request(S("*2\r\n$3\r\nGET\r\n$0\r\n\r\n"), 2, empty_arg);
	expect_request(S("*0\r\n"), 0, NULL);
	expect_request(S("*-1\r\n"), 0, NULL);
	expect_request(S("\r\n"), 0, NULL);
}

static void pipelined(void)
{
	static const char in[] = "*1\r\n$4\r\nPING\r\n"
				 "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n"
				 "GET k\r\n";
	struct resp_parser p;
	size_t off = 0;
	uint32_t want[] = { 1, 2, 2 };

	resp_parser_init(&p);
	for (int i = 0; i < 3; i++) {
		int rc = resp_parse(&p, in + off, sizeof(in) - 1 - off);

		CHECK(rc == RESP_REQUEST && p.nargs == want[i],
		      "pipelined request %d: rc %d nargs %u", i, rc, p.nargs);
		off += p.pos;
		resp_parser_reset(&p);
	}
	CHECK(off == sizeof(in) - 1, "pipeline consumed %zu", off);
	CHECK(resp_parse(&p, in + off, 0) == RESP_MORE, "empty input");
	resp_parser_free(&p);
}

static void malformed(void)
{
	char big[64];

	expect_error(S("*abc\r\n"));
	expect_error(S("*1x\r\n"));
	expect_error(S("*\r\n"));
	expect_error(S("*99999999999999999999\r\n"));
	expect_error(S("*1025\r\n"));
	expect_error(S("*1\r\nPING\r\n"));
	expect_error(S("*1\r\n$abc\r\n"));
	expect_error(S("*1\r\n$-5\r\n"));
	expect_error(S("*1\r\n$\r\n"));
	expect_error(S("*1\r\n$4\r\nPINGxx"));
	expect_error(S("*1\r\n$999999999\r\n"));
	expect_error(S("*2\r\n$3\r\nGET\r\n:5\r\n"));
	/* a header line that never ends */
	expect_error(S("*111111111111111111111111111111111111111111"));
	expect_error(S("*1\r\n$1111111111111111111111111111111111111111"));
	snprintf(big, sizeof(big), "*1\r\n$%zu\r\n", RESP_MAX_BULK + 1);
	expect_error(big, strlen(big));
	/* too big in all: two bulks that each fit */
	snprintf(big, sizeof(big), "*3\r\n$%zu\r\n", RESP_MAX_BULK);
	{
		size_t n = strlen(big);
		size_t len = n + RESP_MAX_BULK + 2 + 32;
		char *in = malloc(len);
		struct resp_parser p;
		int rc;

		memcpy(in, big, n);
		memset(in + n, 'x', RESP_MAX_BULK);
		memcpy(in + n + RESP_MAX_BULK, "\r\n", 2);
		n += RESP_MAX_BULK + 2;
		n += (size_t)sprintf(in + n, "$%zu\r\n", RESP_MAX_BULK);
		resp_parser_init(&p);
		rc = resp_parse(&p, in, n);
		CHECK(rc == RESP_ERROR, "request over RESP_MAX_REQUEST: %d",
		      rc);
		resp_parser_free(&p);
		free(in);
	}
	/* an inline request longer than RESP_MAX_INLINE without a newline */
	{
		size_t len = RESP_MAX_INLINE + 10;
		char *in = malloc(len);

		memset(in, 'a', len);
		expect_error(in, len);
		free(in);
	}
	/* incomplete is not an error */
	expect_more(S("*2\r\n$3\r\nGET\r\n"));
	expect_more(S("*2\r\n$3\r\nGE"));
	expect_more(S("PIN"));
	expect_more(S("*1\r\n$4\r\nPING\r"));
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random bytes from a RESP-heavy alphabet, split at random. */
static void random_input(int rounds)
{
	static const char alpha[] = "*$\r\n0123456789-+ :abcPING";

	for (int r = 0; r < rounds; r++) {
		size_t len = next() % 96;
		char *in = malloc(len ? len : 1);
		struct resp_parser p;
		size_t off = 0, have = 0;

		for (size_t i = 0; i < len; i++)
			in[i] = (next() & 3) ?
					alpha[next() % (sizeof(alpha) - 1)] :
					(char)next();
		resp_parser_init(&p);
		while (off < len) {
			char *buf;
			int rc;

			have += 1 + next() % 8;
			if (have > len - off)
				have = len - off;
			buf = malloc(have ? have : 1);
			memcpy(buf, in + off, have);
			rc = resp_parse(&p, buf, have);
			free(buf);
			if (rc == RESP_ERROR) {
				CHECK(p.err && p.err[0] == '-', "error text");
				break;
			}
			if (rc == RESP_REQUEST) {
				CHECK(p.pos > 0 && p.pos <= have,
				      "request of %zu bytes in %zu", p.pos,
				      have);
				for (uint32_t i = 0; i < p.nargs; i++)
					CHECK(p.args[i].off + p.args[i].len <=
						      p.pos,
					      "argument past the request");
				off += p.pos;
				have = 0;
				resp_parser_reset(&p);
			} else if (have == len - off) {
				break;
			}
		}
		resp_parser_free(&p);
		free(in);
	}
}

int main(void)
{
	const char *scale = getenv("TRP_STRESS_SCALE");
	int rounds = 200000 * (scale ? atoi(scale) > 0 ? atoi(scale) : 1 : 1);

	good();
	pipelined();
	malformed();
	random_input(rounds);
	if (failures) {
		fprintf(stderr, "resp_test: %d failures\n", failures);
		return 1;
	}
	printf("resp_test: ok (%d random inputs)\n", rounds);
	return 0;
}
