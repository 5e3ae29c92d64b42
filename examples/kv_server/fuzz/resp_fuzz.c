/*
 * examples/kv_server/fuzz/resp_fuzz.c - libFuzzer target for the RESP
 * parser (resp.c), by hand (not in ctest; resp_test.c is the ctest):
 *
 *     clang -g -O1 -fsanitize=fuzzer,address,undefined -I.. \
 *             resp_fuzz.c ../resp.c -o resp_fuzzer
 *     ./resp_fuzzer -max_total_time=60
 *
 * The input is split in two at its first byte's value, as a connection's
 * reads would split it: both pieces are parsed into one growing buffer
 * exactly as kv_server.c does (requests consumed from the front, the
 * parser resumed on more bytes), and every result is checked against the
 * parser's contract: a request lies within the bytes given, its
 * arguments within the request, an error has an "-ERR" text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_parser p;
	size_t split, have = 0, off = 0;
	char *buf;

	if (size == 0)
		return 0;
	split = 1 + data[0] % size;
	data++;
	size--;
	if (split > size)
		split = size;
	buf = malloc(size ? size : 1);
	resp_parser_init(&p);
	for (int piece = 0; piece < 2; piece++) {
		size_t end = piece == 0 ? split : size;

		memcpy(buf + have, data + have, end - have);
		have = end;
		for (;;) {
			int rc = resp_parse(&p, buf + off, have - off);

			if (rc == RESP_MORE)
				break;
			if (rc == RESP_ERROR) {
				if (!p.err || strncmp(p.err, "-ERR ", 5) != 0)
					abort();
				goto out;
			}
			if (p.pos == 0 || p.pos > have - off)
				abort();
			for (uint32_t i = 0; i < p.nargs; i++)
				if (p.args[i].off + p.args[i].len > p.pos)
					abort();
			off += p.pos;
			resp_parser_reset(&p);
		}
	}
out:
	resp_parser_free(&p);
	free(buf);
	return 0;
}
