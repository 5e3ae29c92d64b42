/*
 * tests/fuzz/gen_node_wire_corpus.c - writes the seed corpus of the frame
 * fuzzer (tests/fuzz/corpus/node_wire/): valid frames made by the real
 * encoder (every op, mixes, GOODBYE, the longest names, empty payloads,
 * payload lengths around the padding, extreme field values) and a few
 * malformed ones (each a valid frame with one rule broken), so the fuzzer
 * starts next to both sides of every check.
 *
 * Built by CMake (fuzz_gen_node_wire_corpus), run by hand when the format
 * or the seeds change:
 *   build/release/tests/fuzz/fuzz_gen_node_wire_corpus \
 *           tests/fuzz/corpus/node_wire
 * Files are named by what they hold (valid-*, bad-*) and overwritten; the
 * output is deterministic, so an unchanged generator leaves git clean. It
 * checks each frame against the decoder (valid ones accepted, bad ones
 * refused) and exits 1 if one is not as intended.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_wire.h"
#include "troupe/error.h"
#include "troupe/names.h"

static const char *out_dir;
static int failures;

/* ------------------------------------------------------------ helpers -- */

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

static int decode(const unsigned char *p, size_t len)
{
	struct trp__wire_frame f;
	int rc = trp__wire_header(p, len, &f);
	return rc != TRP__WIRE_OK ? rc : trp__wire_check_items(&f);
}

/* Writes @p/@len to <out_dir>/<name>, after checking that the decoder
 * gives it @want. */
static void emit(const char *name, const unsigned char *p, size_t len, int want)
{
	int rc = decode(p, len);
	if (rc != want) {
		fprintf(stderr, "gen: %s: decoder says %s, want %s\n", name,
			trp__wire_rc_name(rc), trp__wire_rc_name(want));
		failures++;
		return;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	printf("%-36s %6zu bytes  %s\n", name, len, trp__wire_rc_name(rc));
}

/* The frame being built, shared by the helpers below. */
static struct trp__wire_buf b;

static void add(const struct trp__wire_item *it)
{
	int rc = trp__wire_add(&b, it);
	if (rc != 0) {
		fprintf(stderr, "gen: trp__wire_add: %s\n", trp_strerror(rc));
		exit(1);
	}
}

static void add_send(const char *name, uint32_t type, const void *payload,
		     uint32_t len)
{
	struct trp__wire_item it = {
		.op = TRP__WIRE_SEND,
		.name_len = (uint16_t)strlen(name),
		.type = type,
		.len = len,
		.name = name,
		.payload = payload,
	};
	add(&it);
}

static void add_ask(const char *name, uint32_t type, const void *payload,
		    uint32_t len, uint64_t ref, uint64_t corr)
{
	struct trp__wire_item it = {
		.op = TRP__WIRE_ASK,
		.name_len = (uint16_t)strlen(name),
		.type = type,
		.len = len,
		.ref = ref,
		.corr = corr,
		.name = name,
		.payload = payload,
	};
	add(&it);
}

static void add_reply(int32_t status, uint32_t type, const void *payload,
		      uint32_t len, uint64_t ref, uint64_t corr)
{
	struct trp__wire_item it = {
		.op = TRP__WIRE_REPLY,
		.type = type,
		.len = len,
		.status = status,
		.ref = ref,
		.corr = corr,
		.payload = payload,
	};
	add(&it);
}

/* WATCH, DOWN and EXIT (remote monitors and links, node_watch.c). */
static void add_watchlike(uint8_t op, const char *name, int32_t status,
			  uint32_t code, uint64_t ref, uint64_t corr)
{
	struct trp__wire_item it = {
		.op = op,
		.name_len = (uint16_t)strlen(name),
		.type = code,
		.status = status,
		.ref = ref,
		.corr = corr,
		.name = name,
	};
	add(&it);
}

/* Finishes the frame in b and emits it as a valid seed. */
static void valid(const char *name)
{
	trp__wire_finish(&b);
	emit(name, b.data, b.len, TRP__WIRE_OK);
}

static const char text[] = "The quick brown fox jumps over the lazy dog. "
			   "Pack my box with five dozen liquor jugs.";

/* A small valid frame, the base of the malformed seeds: SEND "ab" "xyz"
 * at 40, ASK "svc" 8 bytes at 80, REPLY 1 byte at 128, REPLY TRP_ENOENT at
 * 168; 200 bytes. */
static void base_frame(void)
{
	trp__wire_begin(&b, TRP__WIRE_DATA, 3, 4, 10);
	add_send("ab", 1, "xyz", 3);
	add_ask("svc", 2, "12345678", 8, 5, 6);
	add_reply(0, 3, "r", 1, 7, 8);
	add_reply(TRP_ENOENT, 4, NULL, 0, 9, 10);
	trp__wire_finish(&b);
}

/* Emits the base frame with @mutate applied as a malformed seed. */
static void bad(const char *name, size_t len, int want,
		void (*mutate)(unsigned char *p, size_t len))
{
	base_frame();
	unsigned char *p = calloc(1, len);
	if (p == NULL)
		exit(1);
	memcpy(p, b.data, len < b.len ? len : b.len);
	mutate(p, len);
	emit(name, p, len, want);
	free(p);
}

static void m_magic(unsigned char *p, size_t len)
{
	(void)len;
	p[0] = 'R';
	p[1] = 'T';
}

static void m_nothing(unsigned char *p, size_t len)
{
	(void)p;
	(void)len;
}

static void m_length(unsigned char *p, size_t len)
{
	put32(p + 32, (uint32_t)len);
}

static void m_padding(unsigned char *p, size_t len)
{
	(void)len;
	p[40 + 37] = 1; /* item 0: 37 bytes, padded to 40 */
}

static void m_count(unsigned char *p, size_t len)
{
	(void)len;
	put32(p + 4, 5);
}

static void m_payload(unsigned char *p, size_t len)
{
	(void)len;
	put32(p + 80 + 8, 200); /* item 1's len */
}

static void m_name_nul(unsigned char *p, size_t len)
{
	(void)len;
	p[40 + 32 + 1] = 0; /* "a\0" */
}

static void m_reply_status_payload(unsigned char *p, size_t len)
{
	(void)len;
	put32(p + 128 + 12, (uint32_t)TRP_ENOENT);
}

/* The watch frame: WATCH at 40, DOWN at 80, EXIT at 120, UNLINK at 160,
 * WATCH of a link at 200 (names "tgt"). */
static void watch_frame(void)
{
	trp__wire_begin(&b, TRP__WIRE_DATA, 3, 4, 10);
	add_watchlike(TRP__WIRE_WATCH, "tgt", 0, 0, 5, 0);
	add_watchlike(TRP__WIRE_DOWN, "tgt", 4, 9, 5, 0);
	add_watchlike(TRP__WIRE_EXIT, "tgt", 6, 0, 5, 77);
	add_watchlike(TRP__WIRE_UNLINK, "tgt", 0, 0, 5, 78);
	add_watchlike(TRP__WIRE_WATCH, "tgt", 0, 0, 5, 79);
	trp__wire_finish(&b);
}

/* Emits the watch frame with @mutate applied as a malformed seed. */
static void bad_watch(const char *name, void (*mutate)(unsigned char *p))
{
	watch_frame();
	unsigned char *p = malloc(b.len);
	if (p == NULL)
		exit(1);
	memcpy(p, b.data, b.len);
	mutate(p);
	emit(name, p, b.len, TRP__WIRE_EITEM);
	free(p);
}

static void m_exit_no_reason(unsigned char *p)
{
	put32(p + 120 + 12, 0);
}

static void m_exit_no_proxy(unsigned char *p)
{
	put64(p + 120 + 16, 0);
}

static void m_exit_payload(unsigned char *p)
{
	put32(p + 120 + 8, 1); /* len 1: 3 + 1 bytes still fit the padding */
}

static void m_watch_payload(unsigned char *p)
{
	put32(p + 40 + 8, 1);
}

static void m_exit_no_actor(unsigned char *p)
{
	put64(p + 120 + 24, 0);
}

static void m_unlink_status(unsigned char *p)
{
	put32(p + 160 + 12, 6);
}

static void m_seq_overflow(unsigned char *p, size_t len)
{
	(void)len;
	put64(p + 24, UINT64_MAX - 3);
}

/* A CREDIT kind on the base frame: a CREDIT carries no items. */
static void m_kind_credit(unsigned char *p, size_t len)
{
	(void)len;
	p[3] = TRP__WIRE_CREDIT;
}

/* Finishes the frame in b and emits it as a malformed seed (@want). */
static void invalid(const char *name, int want)
{
	trp__wire_finish(&b);
	emit(name, b.data, b.len, want);
}

/* -------------------------------------------------------------- seeds -- */

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];

	char longest[TRP_NAME_MAX + 1];
	for (size_t i = 0; i < TRP_NAME_MAX; i++)
		longest[i] = (char)('a' + i % 26);
	longest[TRP_NAME_MAX] = '\0';
	char binary[TRP_NAME_MAX + 1];
	for (size_t i = 0; i < TRP_NAME_MAX; i++)
		binary[i] = (char)(0x80 + i); /* any bytes but NUL */
	binary[TRP_NAME_MAX] = '\0';
	static unsigned char big[3000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 31 + 7);

	trp__wire_begin(&b, TRP__WIRE_DATA, 1, 0, 1);
	valid("valid-data-empty");

	trp__wire_begin(&b, TRP__WIRE_GOODBYE, 0x5eed5eed5eed5eedu, 42, 1001);
	valid("valid-goodbye");

	trp__wire_begin(&b, TRP__WIRE_GOODBYE, UINT64_MAX, 0, UINT64_MAX);
	valid("valid-goodbye-last-seq");

	/* flow control (node_out.c): a CREDIT, a DATA frame asking for one */
	trp__wire_begin(&b, TRP__WIRE_CREDIT, 0xc0ffee, 0xbeef, 16385);
	valid("valid-credit");
	trp__wire_begin(&b, TRP__WIRE_DATA, 7, 0, 4097);
	trp__wire_set_flags(&b, TRP__WIRE_F_CREDIT | TRP__WIRE_F_RESTART);
	add_send("sink", 1, "abcdefgh", 8);
	valid("valid-data-credit-restart");
	trp__wire_begin(&b, TRP__WIRE_CREDIT, 5, 0, 1);
	invalid("bad-credit-no-dst", TRP__WIRE_EHEADER);
	trp__wire_begin(&b, TRP__WIRE_CREDIT, 5, 6, 1);
	trp__wire_set_flags(&b, TRP__WIRE_F_CREDIT);
	invalid("bad-credit-flags", TRP__WIRE_EHEADER);
	trp__wire_begin(&b, TRP__WIRE_GOODBYE, 5, 6, 1);
	trp__wire_set_flags(&b, TRP__WIRE_F_CREDIT);
	invalid("bad-goodbye-flags", TRP__WIRE_EHEADER);

	trp__wire_begin(&b, TRP__WIRE_DATA, 7, 8, 1);
	add_send("a", 0, NULL, 0);
	valid("valid-send-name1-empty");

	static const uint32_t lens[] = { 1, 7, 8, 9 };
	for (size_t i = 0; i < 4; i++) {
		char name[40];
		snprintf(name, sizeof(name), "valid-send-payload%u",
			 (unsigned)lens[i]);
		trp__wire_begin(&b, TRP__WIRE_DATA, 7, 8, 2 + i);
		add_send("counter", 5, text, lens[i]);
		valid(name);
	}

	trp__wire_begin(&b, TRP__WIRE_DATA, 7, 8, 10);
	add_ask("kv", 17, "get k", 5, 3, 1);
	valid("valid-ask");

	trp__wire_begin(&b, TRP__WIRE_DATA, 9, 7, 1);
	add_reply(0, 18, "v", 1, 3, 1);
	valid("valid-reply-payload");

	trp__wire_begin(&b, TRP__WIRE_DATA, 9, 7, 2);
	add_reply(TRP_ENOENT, 0, NULL, 0, 3, 2);
	valid("valid-reply-enoent");

	trp__wire_begin(&b, TRP__WIRE_DATA, 9, 7, 3);
	add_reply(0, 0, NULL, 0, 3, 3);
	valid("valid-reply-empty");

	trp__wire_begin(&b, TRP__WIRE_DATA, 3, 4, 10);
	add_send("ab", 1, "xyz", 3);
	add_ask("svc", 2, "12345678", 8, 5, 6);
	add_reply(0, 3, "r", 1, 7, 8);
	add_reply(TRP_ENOENT, 4, NULL, 0, 9, 10);
	valid("valid-mix-small");

	trp__wire_begin(&b, TRP__WIRE_DATA, 0xabcdef, 0x123456, 500);
	for (uint32_t i = 0; i < 48; i++) {
		uint32_t len = (i * 7) % 41;
		switch (i % 4) {
		case 0:
			add_send("worker", i, text, len);
			break;
		case 1:
			add_ask("pool.job", i, text + 3, len, 100 + i,
				9000 + i);
			break;
		case 2:
			add_reply(0, i, text + 5, len, 200 + i, 8000 + i);
			break;
		default:
			add_reply(-(int32_t)(1 + i % 20), i, NULL, 0, 300 + i,
				  7000 + i);
			break;
		}
	}
	valid("valid-mix-48");

	trp__wire_begin(&b, TRP__WIRE_DATA, 11, 12, 13);
	add_send(longest, 1, NULL, 0);
	add_ask(longest, 2, text, 9, 1, 2);
	add_send(longest, 3, text, 8);
	valid("valid-names-longest");

	trp__wire_begin(&b, TRP__WIRE_DATA, 11, 12, 20);
	add_send(binary, 1, "\0\0\0", 3);
	add_ask(binary + TRP_NAME_MAX - 1, 2, NULL, 0, 0, 0);
	valid("valid-names-binary");

	trp__wire_begin(&b, TRP__WIRE_DATA, 21, 22, 23);
	for (int i = 0; i < 16; i++)
		add_send(i % 2 ? "e" : "empty", (uint32_t)i, NULL, 0);
	valid("valid-empty-payloads");

	trp__wire_begin(&b, TRP__WIRE_DATA, 31, 32, 33);
	add_send("blob", 99, big, sizeof(big));
	add_reply(0, 100, big, 1000, 1, 1);
	valid("valid-big-payloads");

	trp__wire_begin(&b, TRP__WIRE_DATA, UINT64_MAX, UINT64_MAX,
			UINT64_MAX - 3);
	add_ask("z", UINT32_MAX, "\xff", 1, UINT64_MAX, UINT64_MAX);
	add_reply(INT32_MIN, UINT32_MAX, NULL, 0, UINT64_MAX, UINT64_MAX);
	add_reply(-1, 0, NULL, 0, 0, 0);
	valid("valid-extremes");

	trp__wire_begin(&b, TRP__WIRE_DATA, 41, 0, 1);
	for (uint32_t i = 0; i < 20; i++)
		add_ask("echo", 1, &i, sizeof(i), 77, 1 + i);
	valid("valid-asks-20");

	watch_frame();
	valid("valid-watch-down-exit");

	trp__wire_begin(&b, TRP__WIRE_DATA, 8, 9, 1);
	add_watchlike(TRP__WIRE_EXIT, longest, 8, UINT32_MAX, UINT64_MAX, 1);
	add_send("after", 1, "x", 1);
	add_watchlike(TRP__WIRE_EXIT, "e", 1, 0, 1, UINT64_MAX);
	add_watchlike(TRP__WIRE_UNLINK, longest, 0, 0, UINT64_MAX, 1);
	valid("valid-exits");

	/* malformed: the base frame with one rule broken */
	bad("bad-magic", 200, TRP__WIRE_EMAGIC, m_magic);
	bad("bad-truncated", 150, TRP__WIRE_EHEADER, m_nothing);
	bad("bad-truncated-length", 180, TRP__WIRE_ECOUNT, m_length);
	bad("bad-short", 20, TRP__WIRE_ESHORT, m_nothing);
	bad("bad-trailing", 208, TRP__WIRE_ECOUNT, m_length);
	bad("bad-padding", 200, TRP__WIRE_EITEM, m_padding);
	bad("bad-count-high", 200, TRP__WIRE_ECOUNT, m_count);
	bad("bad-payload-past-end", 200, TRP__WIRE_EITEM, m_payload);
	bad("bad-name-nul", 200, TRP__WIRE_EITEM, m_name_nul);
	bad("bad-reply-status-payload", 200, TRP__WIRE_EITEM,
	    m_reply_status_payload);
	bad("bad-seq-overflow", 200, TRP__WIRE_EHEADER, m_seq_overflow);
	bad_watch("bad-exit-no-reason", m_exit_no_reason);
	bad_watch("bad-exit-no-proxy", m_exit_no_proxy);
	bad_watch("bad-exit-payload", m_exit_payload);
	bad_watch("bad-watch-payload", m_watch_payload);
	bad_watch("bad-exit-no-actor", m_exit_no_actor);
	bad_watch("bad-unlink-status", m_unlink_status);
	bad("bad-credit-items", 200, TRP__WIRE_EHEADER, m_kind_credit);

	trp__wire_buf_free(&b);
	return failures != 0;
}
