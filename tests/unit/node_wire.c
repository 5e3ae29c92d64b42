/*
 * tests/unit/node_wire.c - core/node_wire.h: frames built by the encoder
 * decode to what was put in (every op, name and payload lengths around the
 * padding boundary, a GOODBYE, extreme field values), the encoder's own
 * errors, and one test per rule the decoder enforces: each malformed frame
 * is a valid one with one field changed, and must be refused with the
 * expected code. A last test flips every bit of a valid frame: the decoder
 * refuses the result or accepts it and it re-encodes to the same bytes.
 *
 * core/node*.c is only in the library when nodes are built (TROUPE_NODES,
 * which defines TRP_HAVE_NODES); without them there is nothing to test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(TRP_HAVE_NODES)

#include "alloc.h"
#include "node_wire.h"
#include "troupe/error.h"
#include "troupe/names.h"

/* ------------------------------------------------------------ helpers -- */

/* Field offsets, restated from node_wire.h's table on purpose: the tests
 * check the encoder against the document, not against itself. */
#define H_VERSION 2
#define H_KIND 3
#define H_COUNT 4
#define H_SRC_INC 8
#define H_DST_INC 16
#define H_FIRST_SEQ 24
#define H_LENGTH 32
#define H_FLAGS 36
#define I_OP 0
#define I_FLAGS 1
#define I_NAME_LEN 2
#define I_TYPE 4
#define I_LEN 8
#define I_STATUS 12
#define I_REF 16
#define I_CORR 24

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A frame as a test holds it: its own copy, exactly len bytes (malloc'd,
 * so ASan catches a decoder reading one byte past it). */
struct frame {
	unsigned char *p;
	size_t len;
};

static struct frame frame_copy(const void *p, size_t len)
{
	struct frame f = { malloc(len != 0 ? len : 1), len };
	assert_non_null(f.p);
	if (len != 0)
		memcpy(f.p, p, len);
	return f;
}

static struct frame build(enum trp__wire_kind kind, uint64_t src_inc,
			  uint64_t dst_inc, uint64_t first_seq,
			  const struct trp__wire_item *items, size_t n)
{
	struct trp__wire_buf b = { 0 };
	trp__wire_begin(&b, kind, src_inc, dst_inc, first_seq);
	assert_int_equal(b.len, TRP__WIRE_HEADER);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(trp__wire_add(&b, &items[i]), 0);
	trp__wire_finish(&b);
	assert_int_equal(b.count, n);
	struct frame f = frame_copy(b.data, b.len);
	trp__wire_buf_free(&b);
	return f;
}

static int decode(const struct frame *f)
{
	struct trp__wire_frame h;
	int rc = trp__wire_header(f->p, f->len, &h);
	if (rc != TRP__WIRE_OK)
		return rc;
	return trp__wire_check_items(&h);
}

/* Decodes @f, expects it accepted with these header values and items, and
 * that every item starts 8-byte aligned and its padding is zero. */
static void expect_frame(const struct frame *f, enum trp__wire_kind kind,
			 uint64_t src_inc, uint64_t dst_inc, uint64_t first_seq,
			 const struct trp__wire_item *items, size_t n)
{
	struct trp__wire_frame h;
	assert_int_equal(f->len % 8, 0);
	assert_int_equal(trp__wire_header(f->p, f->len, &h), TRP__WIRE_OK);
	assert_int_equal(h.kind, kind);
	assert_int_equal(h.count, n);
	assert_true(h.src_inc == src_inc);
	assert_true(h.dst_inc == dst_inc);
	assert_true(h.first_seq == first_seq);
	assert_ptr_equal(h.items, f->p + TRP__WIRE_HEADER);
	assert_int_equal(h.items_len, f->len - TRP__WIRE_HEADER);
	assert_int_equal(trp__wire_check_items(&h), TRP__WIRE_OK);

	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		const struct trp__wire_item *e = &items[i];
		struct trp__wire_item it;
		size_t start = off;
		assert_int_equal(start % 8, 0);
		trp__wire_item_at(&h, &off, &it);
		assert_int_equal(it.op, e->op);
		assert_int_equal(it.name_len, e->name_len);
		assert_int_equal(it.type, e->type);
		assert_int_equal(it.len, e->len);
		assert_int_equal(it.status, e->status);
		assert_true(it.ref == e->ref);
		assert_true(it.corr == e->corr);
		assert_ptr_equal(it.name, h.items + start + TRP__WIRE_ITEM);
		assert_memory_equal(it.name, e->name ? e->name : "",
				    e->name_len);
		if (e->len == 0) {
			assert_null(it.payload);
		} else {
			assert_non_null(it.payload);
			assert_memory_equal(it.payload, e->payload, e->len);
		}
		size_t size = trp__wire_item_size(e->name_len, e->len);
		assert_int_equal(off - start, size);
		for (size_t k = TRP__WIRE_ITEM + e->name_len + e->len; k < size;
		     k++)
			assert_int_equal(h.items[start + k], 0);
	}
	assert_int_equal(off, h.items_len);
}

static struct trp__wire_item send_item(const char *name, uint32_t type,
				       const void *payload, uint32_t len)
{
	return (struct trp__wire_item){
		.op = TRP__WIRE_SEND,
		.name_len = (uint16_t)strlen(name),
		.type = type,
		.len = len,
		.name = name,
		.payload = payload,
	};
}

static struct trp__wire_item ask_item(const char *name, uint32_t type,
				      const void *payload, uint32_t len,
				      uint64_t ref, uint64_t corr)
{
	struct trp__wire_item it = send_item(name, type, payload, len);
	it.op = TRP__WIRE_ASK;
	it.ref = ref;
	it.corr = corr;
	return it;
}

static struct trp__wire_item reply_item(int32_t status, uint32_t type,
					const void *payload, uint32_t len,
					uint64_t ref, uint64_t corr)
{
	return (struct trp__wire_item){
		.op = TRP__WIRE_REPLY,
		.type = type,
		.len = len,
		.status = status,
		.ref = ref,
		.corr = corr,
		.payload = payload,
	};
}

/* -------------------------------------------------------- round trips -- */

static void test_empty_data_frame(void **state)
{
	(void)state;
	struct frame f = build(TRP__WIRE_DATA, 7, 9, 1, NULL, 0);
	assert_int_equal(f.len, TRP__WIRE_HEADER);
	/* the header, byte by byte as node_wire.h draws it */
	/* clang-format off */
	static const unsigned char want[TRP__WIRE_HEADER] = {
		'T', 'R', 1, 1,   0, 0, 0, 0, /* magic version kind count */
		7, 0, 0, 0, 0, 0, 0, 0,       /* src_inc */
		9, 0, 0, 0, 0, 0, 0, 0,       /* dst_inc */
		1, 0, 0, 0, 0, 0, 0, 0,       /* first_seq */
		40, 0, 0, 0,      0, 0, 0, 0, /* length flags */
	};
	/* clang-format on */
	assert_memory_equal(f.p, want, sizeof(want));
	expect_frame(&f, TRP__WIRE_DATA, 7, 9, 1, NULL, 0);
	free(f.p);
}

static void test_goodbye(void **state)
{
	(void)state;
	struct frame f =
		build(TRP__WIRE_GOODBYE, 0x1122334455667788u, 0, 42, NULL, 0);
	assert_int_equal(f.len, TRP__WIRE_HEADER);
	assert_int_equal(f.p[H_KIND], TRP__WIRE_GOODBYE);
	expect_frame(&f, TRP__WIRE_GOODBYE, 0x1122334455667788u, 0, 42, NULL,
		     0);
	free(f.p);
}

static void test_one_item_of_each_op(void **state)
{
	(void)state;
	const char payload[] = "hello";
	struct trp__wire_item items[] = {
		send_item("a", 3, payload, 5),
		ask_item("server", 4, payload, 6, 11, 12),
		reply_item(0, 5, payload, 2, 11, 12),
		reply_item(TRP_ENOENT, 0, NULL, 0, 13, 14),
	};
	for (size_t i = 0; i < 4; i++) {
		struct frame f = build(TRP__WIRE_DATA, 1, 2, 100, &items[i], 1);
		expect_frame(&f, TRP__WIRE_DATA, 1, 2, 100, &items[i], 1);
		free(f.p);
	}
	struct frame f = build(TRP__WIRE_DATA, 1, 2, 100, items, 4);
	expect_frame(&f, TRP__WIRE_DATA, 1, 2, 100, items, 4);
	free(f.p);
}

/* WATCH, DOWN, EXIT and UNLINK: a name, a nonzero ref, no payload; DOWN's
 * and EXIT's status is a stop reason (> 0), their type the failure code;
 * a WATCH's corr is 0 (a monitor) or the linked actor's id, EXIT's and
 * UNLINK's that id (never 0). */
static void test_watch_and_down(void **state)
{
	(void)state;
	struct trp__wire_item ok[] = {
		{ .op = TRP__WIRE_WATCH,
		  .name_len = 3,
		  .name = "abc",
		  .ref = 7 },
		{ .op = TRP__WIRE_DOWN,
		  .name_len = 3,
		  .name = "abc",
		  .ref = 7,
		  .status = 4,
		  .type = 42 },
		{ .op = TRP__WIRE_EXIT,
		  .name_len = 3,
		  .name = "abc",
		  .ref = 7,
		  .corr = UINT64_MAX,
		  .status = 6,
		  .type = 0xffffffffu },
		{ .op = TRP__WIRE_WATCH,
		  .name_len = 1,
		  .name = "t",
		  .ref = 1,
		  .corr = 5 },
		{ .op = TRP__WIRE_UNLINK,
		  .name_len = 1,
		  .name = "t",
		  .ref = 1,
		  .corr = 5 },
	};
	struct frame f = build(TRP__WIRE_DATA, 1, 2, 100, ok, 5);
	expect_frame(&f, TRP__WIRE_DATA, 1, 2, 100, ok, 5);
	free(f.p);
	struct trp__wire_item bad[] = {
		ok[0], ok[0], ok[0], ok[0], ok[1], ok[1], ok[1], ok[1],
		ok[2], ok[2], ok[2], ok[2], ok[2], ok[4], ok[4], ok[4],
	};
	bad[0].ref = 0;			      /* WATCH without a proxy */
	bad[1].status = 1;		      /* WATCH with a status */
	bad[2].name_len = 0;		      /* WATCH without a name */
	bad[3].len = 1, bad[3].payload = "x"; /* WATCH with a payload */
	bad[4].status = 0;		      /* DOWN without a reason */
	bad[5].status = TRP_ENOENT; /* DOWN with a code, not a reason */
	bad[6].ref = 0;		    /* DOWN to no proxy */
	bad[7].len = 1, bad[7].payload = "x"; /* DOWN with a payload */
	bad[8].status = 0;		      /* EXIT without a reason */
	bad[9].status = TRP_EDEAD;	      /* EXIT with a code */
	bad[10].ref = 0;		      /* EXIT to no proxy */
	bad[11].name_len = 0;		      /* EXIT without a name */
	bad[12].corr = 0;		      /* EXIT of no actor */
	bad[13].corr = 0;		      /* UNLINK of no actor */
	bad[14].status = 6;		      /* UNLINK with a reason */
	bad[15].ref = 0;		      /* UNLINK of no proxy */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct trp__wire_buf b = { 0 };
		trp__wire_begin(&b, TRP__WIRE_DATA, 1, 2, 100);
		assert_int_not_equal(trp__wire_add(&b, &bad[i]), 0);
		trp__wire_buf_free(&b);
	}
}

static void test_name_lengths(void **state)
{
	(void)state;
	char longest[TRP_NAME_MAX + 1];
	for (size_t i = 0; i < TRP_NAME_MAX; i++)
		longest[i] = (char)('a' + i % 26);
	longest[TRP_NAME_MAX] = '\0';
	/* 1 and TRP_NAME_MAX bytes, as SEND and ASK, with payloads that
	 * end on and off the 8-byte boundary */
	struct trp__wire_item items[] = {
		send_item("x", 1, NULL, 0),
		send_item(longest, 2, NULL, 0),
		ask_item("x", 3, "abc", 3, 1, 2),
		ask_item(longest, 4, "abcdefgh", 8, 3, 4),
		send_item(longest, 5, "abcdefghi", 9),
	};
	assert_int_equal(items[1].name_len, TRP_NAME_MAX);
	struct frame f = build(TRP__WIRE_DATA, 5, 6, 7, items, 5);
	expect_frame(&f, TRP__WIRE_DATA, 5, 6, 7, items, 5);
	free(f.p);
}

static void test_payload_lengths(void **state)
{
	(void)state;
	static const uint32_t lens[] = { 0, 1, 7, 8, 9 };
	static const char bytes[] = "0123456789";
	/* one item per frame, so the frame's length shows the padding:
	 * 32 + 1 (name) + len, rounded up to 8 */
	static const size_t want_item[] = { 40, 40, 40, 48, 48 };
	for (size_t i = 0; i < 5; i++) {
		struct trp__wire_item items[] = {
			send_item("n", 9, bytes, lens[i]),
			reply_item(0, 9, bytes, lens[i], 1, 2),
		};
		struct frame f = build(TRP__WIRE_DATA, 1, 0, 1, items, 1);
		assert_int_equal(f.len, TRP__WIRE_HEADER + want_item[i]);
		expect_frame(&f, TRP__WIRE_DATA, 1, 0, 1, items, 1);
		free(f.p);
		f = build(TRP__WIRE_DATA, 1, 0, 1, items, 2);
		expect_frame(&f, TRP__WIRE_DATA, 1, 0, 1, items, 2);
		free(f.p);
	}
}

/* xorshift64: a fixed sequence, so a failure reproduces. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_many_items(void **state)
{
	(void)state;
	enum {
		N = 2000
	};
	static struct trp__wire_item items[N];
	static char names[N][TRP_NAME_MAX];
	static unsigned char payloads[N][200];
	uint64_t seed = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < N; i++) {
		size_t name_len = 1 + next_rand(&seed) % TRP_NAME_MAX;
		for (size_t k = 0; k < name_len; k++)
			names[i][k] = (char)(1 + next_rand(&seed) % 255);
		uint32_t len = (uint32_t)(next_rand(&seed) % 200);
		for (size_t k = 0; k < len; k++)
			payloads[i][k] = (unsigned char)next_rand(&seed);
		uint32_t type = (uint32_t)next_rand(&seed);
		uint64_t ref = next_rand(&seed), corr = next_rand(&seed);
		switch (i % 4) {
		case 0:
			items[i] = (struct trp__wire_item){
				.op = TRP__WIRE_SEND,
				.name_len = (uint16_t)name_len,
				.type = type,
				.len = len,
				.name = names[i],
				.payload = payloads[i],
			};
			break;
		case 1:
			items[i] = (struct trp__wire_item){
				.op = TRP__WIRE_ASK,
				.name_len = (uint16_t)name_len,
				.type = type,
				.len = len,
				.ref = ref,
				.corr = corr,
				.name = names[i],
				.payload = payloads[i],
			};
			break;
		case 2:
			items[i] = reply_item(0, type, payloads[i], len, ref,
					      corr);
			break;
		default:
			items[i] = reply_item(-(int32_t)(1 + i % 20), type,
					      NULL, 0, ref, corr);
			break;
		}
	}
	struct frame f = build(TRP__WIRE_DATA, 77, 88, 1000, items, N);
	expect_frame(&f, TRP__WIRE_DATA, 77, 88, 1000, items, N);
	free(f.p);
}

static void test_extreme_values(void **state)
{
	(void)state;
	struct trp__wire_item items[] = {
		ask_item("z", UINT32_MAX, "\xff", 1, UINT64_MAX, UINT64_MAX),
		reply_item(INT32_MIN, UINT32_MAX, NULL, 0, UINT64_MAX,
			   UINT64_MAX),
		reply_item(-1, 0, NULL, 0, 0, 0),
	};
	/* the last sequence number a frame of 3 can start at */
	uint64_t first = UINT64_MAX - 3;
	struct frame f =
		build(TRP__WIRE_DATA, UINT64_MAX, UINT64_MAX, first, items, 3);
	expect_frame(&f, TRP__WIRE_DATA, UINT64_MAX, UINT64_MAX, first, items,
		     3);
	free(f.p);
	/* a GOODBYE may carry the very last "next" number */
	f = build(TRP__WIRE_GOODBYE, 1, 0, UINT64_MAX, NULL, 0);
	expect_frame(&f, TRP__WIRE_GOODBYE, 1, 0, UINT64_MAX, NULL, 0);
	free(f.p);
}

/* ------------------------------------------------------------ encoder -- */

static void test_encoder_reuses_and_grows(void **state)
{
	(void)state;
	struct trp__wire_buf b = { 0 };
	static const unsigned char big[5000];
	struct trp__wire_item it = send_item("big", 1, big, sizeof(big));
	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, 1);
	size_t cap0 = b.cap;
	assert_true(cap0 >= TRP__WIRE_HEADER);
	for (int i = 0; i < 10; i++)
		assert_int_equal(trp__wire_add(&b, &it), 0);
	trp__wire_finish(&b);
	assert_true(b.cap > cap0);
	assert_int_equal(b.len,
			 TRP__WIRE_HEADER + 10 * trp__wire_item_size(3, 5000));
	struct frame f = frame_copy(b.data, b.len);
	assert_int_equal(decode(&f), TRP__WIRE_OK);
	free(f.p);

	/* begin again: same memory, a fresh frame */
	unsigned char *data = b.data;
	size_t cap = b.cap;
	trp__wire_begin(&b, TRP__WIRE_GOODBYE, 2, 3, 4);
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.count, 0);
	trp__wire_finish(&b);
	f = frame_copy(b.data, b.len);
	expect_frame(&f, TRP__WIRE_GOODBYE, 2, 3, 4, NULL, 0);
	free(f.p);

	trp__wire_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	trp__wire_buf_free(&b); /* twice: harmless */
}

/* An unfinished frame is already a valid frame with no items. */
static void test_unfinished_frame_is_empty(void **state)
{
	(void)state;
	struct trp__wire_buf b = { 0 };
	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, 1);
	struct frame f = frame_copy(b.data, b.len);
	expect_frame(&f, TRP__WIRE_DATA, 1, 0, 1, NULL, 0);
	free(f.p);
	trp__wire_buf_free(&b);
}

static int disarm_alloc_failure(void **state)
{
	(void)state;
	trp__alloc_fail_nth(0);
	return 0;
}

static void test_encoder_out_of_memory(void **state)
{
	(void)state;
	struct trp__wire_buf b = { 0 };
	/* begin cannot get its first block: no frame */
	trp__alloc_fail_nth(1);
	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, 1);
	assert_int_equal(b.len, 0);
	struct trp__wire_item it = send_item("a", 1, "x", 1);
	assert_int_equal(trp__wire_add(&b, &it), TRP_ENOMEM);
	trp__wire_finish(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.count, 0);

	/* growing fails: the frame is unchanged and still valid */
	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, 1);
	assert_int_equal(b.len, TRP__WIRE_HEADER);
	assert_int_equal(trp__wire_add(&b, &it), 0);
	size_t len = b.len;
	static const unsigned char big[100000];
	struct trp__wire_item huge = send_item("b", 2, big, sizeof(big));
	trp__alloc_fail_nth(1);
	assert_int_equal(trp__wire_add(&b, &huge), TRP_ENOMEM);
	assert_int_equal(b.len, len);
	assert_int_equal(b.count, 1);
	trp__wire_finish(&b);
	struct frame f = frame_copy(b.data, b.len);
	expect_frame(&f, TRP__WIRE_DATA, 1, 0, 1, &it, 1);
	free(f.p);
	trp__alloc_fail_nth(0);
	trp__wire_buf_free(&b);
}

static void test_encoder_refuses_what_decoder_refuses(void **state)
{
	(void)state;
	char too_long[TRP_NAME_MAX + 2];
	memset(too_long, 'n', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	struct trp__wire_item bad[] = {
		send_item("", 1, NULL, 0),		 /* SEND without name */
		ask_item("", 1, NULL, 0, 1, 2),		 /* ASK without name */
		send_item(too_long, 1, NULL, 0),	 /* name too long */
		reply_item(TRP_ENOENT, 1, "x", 1, 1, 2), /* code + payload */
		reply_item(1, 1, NULL, 0, 1, 2),	 /* positive status */
		send_item("a", 1, NULL, 0),
		send_item("a", 1, NULL, 0),
		send_item("a", 1, NULL, 0),
		send_item("a", 1, NULL, 0),
		reply_item(0, 1, NULL, 0, 1, 2),
		{ .op = 0, .name_len = 1, .name = "a" },
		{ .op = 6, .name_len = 1, .name = "a" },
	};
	bad[5].ref = 1;	     /* SEND with ref */
	bad[6].corr = 1;     /* SEND with corr */
	bad[7].status = 1;   /* SEND with a positive status */
	bad[8].name = "\0";  /* NUL in a name */
	bad[9].name_len = 1; /* REPLY with a name */
	bad[9].name = "a";
	struct trp__wire_buf b = { 0 };
	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = trp__wire_add(&b, &bad[i]);
		if (rc != TRP_EINVAL)
			fail_msg("bad item %zu: %d, want TRP_EINVAL", i, rc);
	}
	assert_int_equal(b.len, TRP__WIRE_HEADER);
	assert_int_equal(b.count, 0);

	/* no items in a GOODBYE */
	struct trp__wire_item ok = send_item("a", 1, NULL, 0);
	trp__wire_begin(&b, TRP__WIRE_GOODBYE, 1, 0, 1);
	assert_int_equal(trp__wire_add(&b, &ok), TRP_EINVAL);

	/* first_seq + count may not overflow: two items fit after
	 * UINT64_MAX - 2, a third does not */
	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, UINT64_MAX - 2);
	assert_int_equal(trp__wire_add(&b, &ok), 0);
	assert_int_equal(trp__wire_add(&b, &ok), 0);
	assert_int_equal(trp__wire_add(&b, &ok), TRP_EINVAL);
	trp__wire_finish(&b);
	struct frame f = frame_copy(b.data, b.len);
	assert_int_equal(decode(&f), TRP__WIRE_OK);
	free(f.p);

	/* past the u32 length: refused before anything is read or
	 * allocated (the payload pointer is never followed) */
	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, 1);
	struct trp__wire_item huge = send_item("a", 1, "", UINT32_MAX);
	assert_int_equal(trp__wire_add(&b, &huge), TRP_EMSGSIZE);
	huge.len = UINT32_MAX - TRP__WIRE_HEADER - TRP__WIRE_ITEM;
	assert_int_equal(trp__wire_add(&b, &huge), TRP_EMSGSIZE);
	assert_int_equal(b.len, TRP__WIRE_HEADER);
	trp__wire_buf_free(&b);
}

static void test_rc_names(void **state)
{
	(void)state;
	assert_string_equal(trp__wire_rc_name(TRP__WIRE_OK), "TRP__WIRE_OK");
	assert_string_equal(trp__wire_rc_name(TRP__WIRE_ESHORT),
			    "TRP__WIRE_ESHORT");
	assert_string_equal(trp__wire_rc_name(TRP__WIRE_EMAGIC),
			    "TRP__WIRE_EMAGIC");
	assert_string_equal(trp__wire_rc_name(TRP__WIRE_EHEADER),
			    "TRP__WIRE_EHEADER");
	assert_string_equal(trp__wire_rc_name(TRP__WIRE_EITEM),
			    "TRP__WIRE_EITEM");
	assert_string_equal(trp__wire_rc_name(TRP__WIRE_ECOUNT),
			    "TRP__WIRE_ECOUNT");
	assert_string_equal(trp__wire_rc_name(-99), "TRP__WIRE_E?");
}

/* ---------------------------------------------------------- malformed -- */

/* The valid frame the malformed tests start from: header 40, then
 *   item 0 at  40: SEND "ab", payload "xyz"    (32 + 2 + 3 = 37, 40)
 *   item 1 at  80: ASK "svc", payload 8 bytes  (32 + 3 + 8 = 43, 48)
 *   item 2 at 128: REPLY status 0, 1 byte      (32 + 0 + 1 = 33, 40)
 *   item 3 at 168: REPLY TRP_ENOENT, nothing   (32, 32)
 * length 200, first_seq 10. */
#define IT0 40
#define IT1 80
#define IT2 128
#define IT3 168
#define VALID_LEN 200

static struct frame valid(void)
{
	struct trp__wire_item items[] = {
		send_item("ab", 1, "xyz", 3),
		ask_item("svc", 2, "12345678", 8, 5, 6),
		reply_item(0, 3, "r", 1, 7, 8),
		reply_item(TRP_ENOENT, 4, NULL, 0, 9, 10),
	};
	struct frame f = build(TRP__WIRE_DATA, 3, 4, 10, items, 4);
	assert_int_equal(f.len, VALID_LEN);
	assert_int_equal(decode(&f), TRP__WIRE_OK);
	return f;
}

/* Expects @f refused with @want, then frees it. */
static void expect_rc(struct frame f, int want, const char *what)
{
	int rc = decode(&f);
	if (rc != want)
		fail_msg("%s: %s, want %s", what, trp__wire_rc_name(rc),
			 trp__wire_rc_name(want));
	free(f.p);
}

/* A copy of @f at @len bytes (shorter: cut; longer: zeros appended). */
static struct frame resized(const struct frame *f, size_t len)
{
	struct frame g = { calloc(1, len != 0 ? len : 1), len };
	assert_non_null(g.p);
	memcpy(g.p, f->p, len < f->len ? len : f->len);
	return g;
}

static void test_truncated_everywhere(void **state)
{
	(void)state;
	struct frame f = valid();
	for (size_t n = 0; n < f.len; n++) {
		struct frame g = resized(&f, n);
		int rc = decode(&g);
		assert_int_equal(rc, n < TRP__WIRE_HEADER ? TRP__WIRE_ESHORT :
							    TRP__WIRE_EHEADER);
		free(g.p);
		/* cut, and the length field told the same lie: the items
		 * check has to notice */
		if (n >= TRP__WIRE_HEADER) {
			g = resized(&f, n);
			put32(g.p + H_LENGTH, (uint32_t)n);
			rc = decode(&g);
			assert_true(rc == TRP__WIRE_ECOUNT ||
				    rc == TRP__WIRE_EITEM);
			free(g.p);
		}
	}
	/* the empty buffer, and NULL with length 0 */
	struct trp__wire_frame h;
	assert_int_equal(trp__wire_header(NULL, 0, &h), TRP__WIRE_ESHORT);
	free(f.p);
}

static void test_bad_magic(void **state)
{
	(void)state;
	for (int byte = 0; byte < 2; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			struct frame f = valid();
			f.p[byte] ^= (unsigned char)(1u << bit);
			expect_rc(f, TRP__WIRE_EMAGIC, "magic");
		}
	}
	/* byte-swapped: a big-endian writer */
	struct frame f = valid();
	f.p[0] = 'R';
	f.p[1] = 'T';
	expect_rc(f, TRP__WIRE_EMAGIC, "swapped magic");
}

static void test_bad_version(void **state)
{
	(void)state;
	static const unsigned char versions[] = { 0, 2, 0x81, 255 };
	for (size_t i = 0; i < sizeof(versions); i++) {
		struct frame f = valid();
		f.p[H_VERSION] = versions[i];
		expect_rc(f, TRP__WIRE_EMAGIC, "version");
	}
}

static void test_bad_kind(void **state)
{
	(void)state;
	static const unsigned char kinds[] = { 0, 4, 0x81, 255 };
	for (size_t i = 0; i < sizeof(kinds); i++) {
		struct frame f = valid();
		f.p[H_KIND] = kinds[i];
		expect_rc(f, TRP__WIRE_EHEADER, "kind");
	}
	/* GOODBYE with items */
	struct frame f = valid();
	f.p[H_KIND] = TRP__WIRE_GOODBYE;
	expect_rc(f, TRP__WIRE_EHEADER, "goodbye with items");
	/* CREDIT with items */
	f = valid();
	f.p[H_KIND] = TRP__WIRE_CREDIT;
	expect_rc(f, TRP__WIRE_EHEADER, "credit with items");
}

static void test_bad_header_flags(void **state)
{
	(void)state;
	for (int bit = 0; bit < 32; bit++) {
		struct frame f = valid();
		put32(f.p + H_FLAGS, 1u << bit);
		/* bit 0 is TRP__WIRE_F_RESTART, bit 1 TRP__WIRE_F_CREDIT,
		 * both valid on a DATA frame */
		expect_rc(f, bit <= 1 ? TRP__WIRE_OK : TRP__WIRE_EHEADER,
			  "header flags");
	}
}

static void test_bad_length_field(void **state)
{
	(void)state;
	static const int64_t deltas[] = { -8, -1, 1, 8, 0x10000 };
	for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		struct frame f = valid();
		put32(f.p + H_LENGTH, (uint32_t)(VALID_LEN + deltas[i]));
		expect_rc(f, TRP__WIRE_EHEADER, "length");
	}
	struct frame f = valid();
	put32(f.p + H_LENGTH, 0);
	expect_rc(f, TRP__WIRE_EHEADER, "length 0");
	f = valid();
	put32(f.p + H_LENGTH, UINT32_MAX);
	expect_rc(f, TRP__WIRE_EHEADER, "length max");
	/* a header alone whose length says less than a header */
	f = build(TRP__WIRE_GOODBYE, 1, 0, 1, NULL, 0);
	put32(f.p + H_LENGTH, TRP__WIRE_HEADER - 8);
	expect_rc(f, TRP__WIRE_EHEADER, "length < header");
}

static void test_bad_count(void **state)
{
	(void)state;
	struct frame f = valid();
	put32(f.p + H_COUNT, 3); /* too low: item 3 left over */
	expect_rc(f, TRP__WIRE_ECOUNT, "count - 1");
	f = valid();
	put32(f.p + H_COUNT, 0);
	expect_rc(f, TRP__WIRE_ECOUNT, "count 0");
	f = valid();
	put32(f.p + H_COUNT, 5); /* too high: within the header's bound */
	expect_rc(f, TRP__WIRE_ECOUNT, "count + 1");
	f = valid();
	put32(f.p + H_COUNT, (VALID_LEN - TRP__WIRE_HEADER) / 32 + 1);
	expect_rc(f, TRP__WIRE_ECOUNT, "count past the header's bound");
	f = valid();
	put32(f.p + H_COUNT, UINT32_MAX);
	expect_rc(f, TRP__WIRE_ECOUNT, "count max");
	/* a DATA frame of a header alone claiming one item */
	f = build(TRP__WIRE_DATA, 1, 0, 1, NULL, 0);
	put32(f.p + H_COUNT, 1);
	expect_rc(f, TRP__WIRE_ECOUNT, "count 1, no items");
}

static void test_bad_sequence(void **state)
{
	(void)state;
	struct frame f = valid();
	put64(f.p + H_SRC_INC, 0);
	expect_rc(f, TRP__WIRE_EHEADER, "src_inc 0");
	f = valid();
	put64(f.p + H_FIRST_SEQ, 0);
	expect_rc(f, TRP__WIRE_EHEADER, "first_seq 0");
	/* 4 items from UINT64_MAX - 3: the next number would wrap */
	f = valid();
	put64(f.p + H_FIRST_SEQ, UINT64_MAX - 3);
	expect_rc(f, TRP__WIRE_EHEADER, "first_seq + count overflows");
	f = valid();
	put64(f.p + H_FIRST_SEQ, UINT64_MAX);
	expect_rc(f, TRP__WIRE_EHEADER, "first_seq max");
	/* ... and the last start that does not wrap is fine */
	f = valid();
	put64(f.p + H_FIRST_SEQ, UINT64_MAX - 4);
	expect_rc(f, TRP__WIRE_OK, "first_seq max - count");
	/* dst_inc is anything (0: not known yet) */
	f = valid();
	put64(f.p + H_DST_INC, 0);
	expect_rc(f, TRP__WIRE_OK, "dst_inc 0");
}

static void test_bad_op(void **state)
{
	(void)state;
	static const unsigned char ops[] = { 0, 6, 0x81, 255 };
	for (size_t i = 0; i < sizeof(ops); i++) {
		struct frame f = valid();
		f.p[IT1 + I_OP] = ops[i];
		expect_rc(f, TRP__WIRE_EITEM, "op");
	}
}

static void test_bad_item_flags(void **state)
{
	(void)state;
	static const size_t at[] = { IT0, IT1, IT2, IT3 };
	for (size_t i = 0; i < 4; i++) {
		for (int bit = 0; bit < 8; bit++) {
			struct frame f = valid();
			f.p[at[i] + I_FLAGS] = (unsigned char)(1u << bit);
			expect_rc(f, TRP__WIRE_EITEM, "item flags");
		}
	}
}

static void test_bad_name_len(void **state)
{
	(void)state;
	/* longer than TRP_NAME_MAX, with room for it in the frame */
	char name[TRP_NAME_MAX + 1];
	memset(name, 'n', sizeof(name));
	struct trp__wire_item it = { .op = TRP__WIRE_SEND,
				     .name_len = TRP_NAME_MAX,
				     .name = name };
	struct frame f = build(TRP__WIRE_DATA, 1, 0, 1, &it, 1);
	assert_int_equal(decode(&f), TRP__WIRE_OK);
	/* 32 + 63 = 95 -> 96: the padding byte becomes the 64th name byte
	 */
	f.p[TRP__WIRE_HEADER + TRP__WIRE_ITEM + TRP_NAME_MAX] = 'n';
	put16(f.p + TRP__WIRE_HEADER + I_NAME_LEN, TRP_NAME_MAX + 1);
	expect_rc(f, TRP__WIRE_EITEM, "name_len > TRP_NAME_MAX");

	/* past the end of the frame: a SEND "a" (40 bytes) whose
	 * name_len says 63, and 0xffff */
	it = send_item("a", 1, NULL, 0);
	f = build(TRP__WIRE_DATA, 1, 0, 1, &it, 1);
	put16(f.p + TRP__WIRE_HEADER + I_NAME_LEN, TRP_NAME_MAX);
	expect_rc(f, TRP__WIRE_EITEM, "name_len past the end");
	f = valid();
	put16(f.p + IT3 + I_NAME_LEN, 0xffff);
	expect_rc(f, TRP__WIRE_EITEM, "name_len 0xffff");
	/* SEND and ASK without a name */
	f = valid();
	put16(f.p + IT0 + I_NAME_LEN, 0);
	expect_rc(f, TRP__WIRE_EITEM, "SEND name_len 0");
	f = valid();
	put16(f.p + IT1 + I_NAME_LEN, 0);
	expect_rc(f, TRP__WIRE_EITEM, "ASK name_len 0");
	/* a REPLY with a name */
	f = valid();
	put16(f.p + IT2 + I_NAME_LEN, 1);
	expect_rc(f, TRP__WIRE_EITEM, "REPLY name_len 1");
	/* a name with a NUL in it */
	f = valid();
	f.p[IT0 + TRP__WIRE_ITEM + 1] = '\0';
	expect_rc(f, TRP__WIRE_EITEM, "NUL in a name");
	/* (A name_len moved within the item's bytes, "ab" + "xyz" read as
	 * "abx" + "yz\0", is a different valid frame: lengths are not
	 * redundant, only the fields around them are checked.) */
}

static void test_bad_payload_len(void **state)
{
	(void)state;
	struct frame f = valid();
	/* the last item's payload past the end (status 0, so only the
	 * length is wrong) */
	put32(f.p + IT3 + I_LEN, 1);
	put32(f.p + IT3 + I_STATUS, 0);
	expect_rc(f, TRP__WIRE_EITEM, "payload 1 byte past the end");
	f = valid();
	put32(f.p + IT1 + I_LEN, UINT32_MAX);
	expect_rc(f, TRP__WIRE_EITEM, "payload UINT32_MAX");
	f = valid();
	put32(f.p + IT1 + I_LEN, VALID_LEN);
	expect_rc(f, TRP__WIRE_EITEM, "payload the frame's length");
	/* item 2's payload from 1 byte to 33: it ends at 128 + 32 + 33 =
	 * 193 and pads to 200 over item 3's zero bytes, a well-formed
	 * item, but then count 4 finds no item 3 */
	f = valid();
	put32(f.p + IT2 + I_LEN, 33);
	expect_rc(f, TRP__WIRE_ECOUNT, "payload swallows the next item");
	/* the payload ends inside the frame, its padding would not: a
	 * frame 3 bytes longer (length field agreeing), the last item's
	 * payload taking those 3 bytes */
	f = valid();
	struct frame g = resized(&f, VALID_LEN + 3);
	free(f.p);
	put32(g.p + H_LENGTH, VALID_LEN + 3);
	put32(g.p + IT3 + I_STATUS, 0);
	put32(g.p + IT3 + I_LEN, 3);
	expect_rc(g, TRP__WIRE_EITEM, "padding past the end");
}

static void test_nonzero_padding(void **state)
{
	(void)state;
	/* the padding bytes of the valid frame: item 0 (37..40), item 1
	 * (43..48), item 2 (33..40); item 3 has none */
	static const struct {
		size_t from, to;
	} pads[] = { { IT0 + 37, IT0 + 40 },
		     { IT1 + 43, IT1 + 48 },
		     { IT2 + 33, IT2 + 40 } };
	for (size_t i = 0; i < 3; i++) {
		for (size_t at = pads[i].from; at < pads[i].to; at++) {
			struct frame f = valid();
			assert_int_equal(f.p[at], 0);
			f.p[at] = 0x80;
			expect_rc(f, TRP__WIRE_EITEM, "padding");
		}
	}
}

static void test_bad_status(void **state)
{
	(void)state;
	/* a REPLY with an error code and a payload */
	struct frame f = valid();
	put32(f.p + IT2 + I_STATUS, (uint32_t)TRP_ENOENT);
	expect_rc(f, TRP__WIRE_EITEM, "REPLY with status and payload");
	/* a positive status */
	f = valid();
	put32(f.p + IT3 + I_STATUS, 1);
	expect_rc(f, TRP__WIRE_EITEM, "REPLY status 1");
	f = valid();
	put32(f.p + IT3 + I_STATUS, INT32_MAX);
	expect_rc(f, TRP__WIRE_EITEM, "REPLY status INT32_MAX");
	/* a SEND carries its message's status: an error code, never > 0 */
	f = valid();
	put32(f.p + IT0 + I_STATUS, (uint32_t)TRP_ENOENT);
	expect_rc(f, TRP__WIRE_OK, "SEND with a code");
	f = valid();
	put32(f.p + IT0 + I_STATUS, 1);
	expect_rc(f, TRP__WIRE_EITEM, "SEND with status 1");
	f = valid();
	put32(f.p + IT1 + I_STATUS, (uint32_t)TRP_ENOENT);
	expect_rc(f, TRP__WIRE_EITEM, "ASK with status");
	/* any negative status is a code the receiver passes on */
	f = valid();
	put32(f.p + IT3 + I_STATUS, (uint32_t)INT32_MIN);
	expect_rc(f, TRP__WIRE_OK, "REPLY status INT32_MIN");
}

static void test_send_with_ref_or_corr(void **state)
{
	(void)state;
	struct frame f = valid();
	put64(f.p + IT0 + I_REF, 1);
	expect_rc(f, TRP__WIRE_EITEM, "SEND with ref");
	f = valid();
	put64(f.p + IT0 + I_CORR, 1);
	expect_rc(f, TRP__WIRE_EITEM, "SEND with corr");
	/* ASK and REPLY: any ref and corr */
	f = valid();
	put64(f.p + IT1 + I_REF, 0);
	put64(f.p + IT2 + I_CORR, UINT64_MAX);
	expect_rc(f, TRP__WIRE_OK, "ASK/REPLY ref, corr");
}

static void test_trailing_bytes(void **state)
{
	(void)state;
	static const size_t extra[] = { 1, 7, 8, 32, 40 };
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		struct frame f = valid();
		struct frame g = resized(&f, VALID_LEN + extra[i]);
		free(f.p);
		/* with the length field left alone */
		struct frame g2 = frame_copy(g.p, g.len);
		expect_rc(g2, TRP__WIRE_EHEADER, "trailing, length unchanged");
		put32(g.p + H_LENGTH, (uint32_t)g.len);
		expect_rc(g, TRP__WIRE_ECOUNT, "trailing bytes");
	}
	/* a GOODBYE with a tail */
	struct frame f = build(TRP__WIRE_GOODBYE, 1, 0, 1, NULL, 0);
	struct frame g = resized(&f, TRP__WIRE_HEADER + 8);
	free(f.p);
	put32(g.p + H_LENGTH, (uint32_t)g.len);
	expect_rc(g, TRP__WIRE_ECOUNT, "goodbye with a tail");
}

/*
 * Every single-bit change of a valid frame: refused, or accepted and then
 * the same bytes come out of the encoder (one encoding per frame). The
 * accepted ones are the bits of type, dst_inc, ref/corr of ASK and REPLY,
 * payload bytes and name bytes that stay nonzero.
 */
static void test_every_bit_flip(void **state)
{
	(void)state;
	struct frame f = valid();
	size_t accepted = 0;
	for (size_t bit = 0; bit < f.len * 8; bit++) {
		struct frame g = frame_copy(f.p, f.len);
		g.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		struct trp__wire_frame h;
		if (trp__wire_header(g.p, g.len, &h) != TRP__WIRE_OK ||
		    trp__wire_check_items(&h) != TRP__WIRE_OK) {
			free(g.p);
			continue;
		}
		accepted++;
		struct trp__wire_buf b = { 0 };
		trp__wire_begin(&b, h.kind, h.src_inc, h.dst_inc, h.first_seq);
		size_t off = 0;
		for (uint32_t k = 0; k < h.count; k++) {
			struct trp__wire_item it;
			trp__wire_item_at(&h, &off, &it);
			assert_int_equal(trp__wire_add(&b, &it), 0);
		}
		trp__wire_finish(&b);
		assert_int_equal(b.len, g.len);
		assert_memory_equal(b.data, g.p, g.len);
		trp__wire_buf_free(&b);
		free(g.p);
	}
	/* dst_inc (64) + 4 types (128) at least */
	assert_true(accepted >= 192);
	assert_true(accepted < f.len * 8);
	free(f.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_data_frame),
		cmocka_unit_test(test_goodbye),
		cmocka_unit_test(test_one_item_of_each_op),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_payload_lengths),
		cmocka_unit_test(test_many_items),
		cmocka_unit_test(test_extreme_values),
		cmocka_unit_test(test_encoder_reuses_and_grows),
		cmocka_unit_test(test_unfinished_frame_is_empty),
		cmocka_unit_test_teardown(test_encoder_out_of_memory,
					  disarm_alloc_failure),
		cmocka_unit_test(test_encoder_refuses_what_decoder_refuses),
		cmocka_unit_test(test_rc_names),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_bad_kind),
		cmocka_unit_test(test_bad_header_flags),
		cmocka_unit_test(test_bad_length_field),
		cmocka_unit_test(test_bad_count),
		cmocka_unit_test(test_bad_sequence),
		cmocka_unit_test(test_bad_op),
		cmocka_unit_test(test_bad_item_flags),
		cmocka_unit_test(test_bad_name_len),
		cmocka_unit_test(test_bad_payload_len),
		cmocka_unit_test(test_nonzero_padding),
		cmocka_unit_test(test_bad_status),
		cmocka_unit_test(test_watch_and_down),
		cmocka_unit_test(test_send_with_ref_or_corr),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_every_bit_flip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else /* !TRP_HAVE_NODES */

int main(void)
{
	printf("node_wire: nodes are not built (TROUPE_NODES=OFF)\n");
	return 0;
}

#endif
