/*
 * tests/fuzz/node_wire_fuzz.c - libFuzzer target for the frame decoder
 * (core/node_wire.h).
 *
 * Each input is one frame as NATS would deliver it. The target runs the
 * receiver's path: the header, then the items check, then every item read
 * with every byte of its name and payload touched (summed into a volatile,
 * so no read is optimized away and ASan sees each one). What it asserts:
 *   - the decoder never reads outside the input (ASan: the input is a
 *     heap copy of exactly the input's size under libFuzzer and under
 *     replay_main.c);
 *   - no undefined behaviour on any input (UBSan, no recovery);
 *   - a frame the decoder accepts re-encodes, through the real encoder,
 *     to exactly the input's bytes: one encoding per frame, so nothing a
 *     receiver accepts can differ from what a sender could have meant;
 *   - the decoded values respect the rules (item spans inside the frame,
 *     names within TRP_NAME_MAX, ...), checked again here independently.
 * A violation aborts, which libFuzzer reports as a crash.
 *
 * Built two ways: by clang with -fsanitize=fuzzer (tests/fuzz/run.sh and
 * the fuzz.node_wire.run test), and with the project's compiler plus
 * replay_main.c, which replays the committed corpus (fuzz.node_wire.replay).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_wire.h"
#include "troupe/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keeps every read of a name or payload byte observable. */
static volatile unsigned sink;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "node_wire_fuzz: %s:%d: %s\n",         \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

static unsigned touch(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += b[i];
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trp__wire_frame f;
	if (trp__wire_header(data, size, &f) != TRP__WIRE_OK)
		return 0;
	/* A readable header is what the receiver's loss accounting trusts:
	 * its count is bounded by the frame. */
	CHECK(size >= TRP__WIRE_HEADER);
	CHECK(f.items == data + TRP__WIRE_HEADER);
	CHECK(f.items_len == size - TRP__WIRE_HEADER);
	CHECK(f.count <= f.items_len / TRP__WIRE_ITEM);
	CHECK(f.src_inc != 0 && f.first_seq != 0);
	CHECK(f.first_seq <= UINT64_MAX - f.count);
	if (trp__wire_check_items(&f) != TRP__WIRE_OK)
		return 0;

	struct trp__wire_buf b = { 0 };
	trp__wire_begin(&b, (enum trp__wire_kind)f.kind, f.src_inc, f.dst_inc,
			f.first_seq);
	trp__wire_set_flags(&b, f.flags);
	CHECK(b.len == TRP__WIRE_HEADER);
	unsigned sum = 0;
	size_t off = 0;
	for (uint32_t k = 0; k < f.count; k++) {
		struct trp__wire_item it;
		size_t start = off;
		trp__wire_item_at(&f, &off, &it);
		CHECK(start % 8 == 0);
		CHECK(off > start && off <= f.items_len);
		CHECK(it.name_len <= TRP_NAME_MAX);
		CHECK(it.name ==
		      (const char *)f.items + start + TRP__WIRE_ITEM);
		CHECK((it.payload == NULL) == (it.len == 0));
		CHECK(it.len <=
		      f.items_len - start - TRP__WIRE_ITEM - it.name_len);
		sum += touch(it.name, it.name_len);
		CHECK(memchr(it.name, 0, it.name_len) == NULL);
		if (it.len != 0)
			sum += touch(it.payload, it.len);
		sum += it.op + it.type + (unsigned)it.status;
		CHECK(trp__wire_add(&b, &it) == 0);
	}
	CHECK(off == f.items_len);
	trp__wire_finish(&b);
	CHECK(b.len == size);
	CHECK(memcmp(b.data, data, size) == 0);
	trp__wire_buf_free(&b);
	sink += sum;
	return 0;
}
