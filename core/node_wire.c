/*
 * core/node_wire.c - the frame format between nodes (node_wire.h): the
 * checked decoder and the encoder.
 *
 * The decoder never allocates and never reads outside [buf, buf + len):
 * every length is compared against the bytes that remain before anything
 * is read through it, and no comparison adds two values that came off the
 * wire (a sum of a u32 and a size_t cannot wrap on a 64-bit size_t, but the
 * code does not lean on that: "x <= rem - y" after "y <= rem"). Integers are
 * assembled byte by byte, so the buffer needs no alignment (a NATS payload
 * has none we can count on) and the result is the same on any host.
 *
 * Canonical form: the decoder accepts exactly the frames the encoder can
 * produce. Every reserved field must be zero, padding included, and the
 * fields an op does not use must be zero too, so an accepted frame decodes
 * to one set of values that re-encodes to the very same bytes
 * (tests/fuzz/node_wire_fuzz.c checks this). The encoder, conversely,
 * refuses (TRP_EINVAL) an item the decoder would refuse, so a frame it
 * builds from valid arguments is always accepted.
 */
#include "node_wire.h"

#include <string.h>

#include "alloc.h"
#include "troupe/error.h"
#include "troupe/names.h"

/* Header field offsets (node_wire.h). */
enum {
	H_MAGIC = 0,
	H_VERSION = 2,
	H_KIND = 3,
	H_COUNT = 4,
	H_SRC_INC = 8,
	H_DST_INC = 16,
	H_FIRST_SEQ = 24,
	H_LENGTH = 32,
	H_FLAGS = 36,
};

/* Item field offsets. */
enum {
	I_OP = 0,
	I_FLAGS = 1,
	I_NAME_LEN = 2,
	I_TYPE = 4,
	I_LEN = 8,
	I_STATUS = 12,
	I_REF = 16,
	I_CORR = 24,
};

/* The first allocation of an encoder: a header and a few small items, so a
 * frame of short messages grows once or twice at most. */
#define WIRE_INITIAL_CAP 512u

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

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
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* Two's complement without relying on the implementation-defined
 * conversion of an out-of-range unsigned value to int32_t. */
static int32_t to_i32(uint32_t u)
{
	return u <= INT32_MAX ? (int32_t)u : -(int32_t)~u - 1;
}

const char *trp__wire_rc_name(int rc)
{
	switch (rc) {
	case TRP__WIRE_OK:
		return "TRP__WIRE_OK";
	case TRP__WIRE_ESHORT:
		return "TRP__WIRE_ESHORT";
	case TRP__WIRE_EMAGIC:
		return "TRP__WIRE_EMAGIC";
	case TRP__WIRE_EHEADER:
		return "TRP__WIRE_EHEADER";
	case TRP__WIRE_EITEM:
		return "TRP__WIRE_EITEM";
	case TRP__WIRE_ECOUNT:
		return "TRP__WIRE_ECOUNT";
	default:
		return "TRP__WIRE_E?";
	}
}

/* ------------------------------------------------------------ decoder -- */

int trp__wire_header(const void *buf, size_t len, struct trp__wire_frame *f)
{
	const unsigned char *p = buf;
	if (len < TRP__WIRE_HEADER)
		return TRP__WIRE_ESHORT;
	if (get16(p + H_MAGIC) != TRP__WIRE_MAGIC ||
	    p[H_VERSION] != TRP__WIRE_VERSION)
		return TRP__WIRE_EMAGIC;

	uint8_t kind = p[H_KIND];
	uint32_t count = get32(p + H_COUNT);
	uint64_t src_inc = get64(p + H_SRC_INC);
	uint64_t first_seq = get64(p + H_FIRST_SEQ);
	uint32_t length = get32(p + H_LENGTH);
	if (kind != TRP__WIRE_DATA && kind != TRP__WIRE_GOODBYE &&
	    kind != TRP__WIRE_CREDIT)
		return TRP__WIRE_EHEADER;
	uint32_t flags = get32(p + H_FLAGS);
	if ((flags & ~(uint32_t)(TRP__WIRE_F_RESTART | TRP__WIRE_F_CREDIT)) !=
		    0 ||
	    (flags != 0 && kind != TRP__WIRE_DATA))
		return TRP__WIRE_EHEADER;
	/* A length that disagrees with what NATS delivered: a frame cut or
	 * glued to another; nothing past the header can be located. (len
	 * >= HEADER, so length >= HEADER follows.) */
	if ((size_t)length != len)
		return TRP__WIRE_EHEADER;
	if (src_inc == 0 || first_seq == 0 || first_seq > UINT64_MAX - count)
		return TRP__WIRE_EHEADER;
	if (kind != TRP__WIRE_DATA && count != 0)
		return TRP__WIRE_EHEADER;
	if (kind == TRP__WIRE_CREDIT && get64(p + H_DST_INC) == 0)
		return TRP__WIRE_EHEADER;
	/* Every item takes at least TRP__WIRE_ITEM bytes: a count no frame
	 * of this length can hold is refused here, so a receiver that
	 * counts a frame with unreadable items as count lost messages never
	 * believes an absurd count (at most length / 32 messages). */
	if (count > (len - TRP__WIRE_HEADER) / TRP__WIRE_ITEM)
		return TRP__WIRE_ECOUNT;

	f->kind = kind;
	f->flags = flags;
	f->count = count;
	f->src_inc = src_inc;
	f->dst_inc = get64(p + H_DST_INC);
	f->first_seq = first_seq;
	f->items = p + TRP__WIRE_HEADER;
	f->items_len = len - TRP__WIRE_HEADER;
	return TRP__WIRE_OK;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * The fields of one item against its op, without its name and payload:
 * shared by the decoder and the encoder, so the two cannot disagree on
 * what a valid item is.
 */
static bool item_fields_ok(uint8_t op, size_t name_len, uint32_t len,
			   int32_t status, uint64_t ref, uint64_t corr)
{
	switch (op) {
	case TRP__WIRE_SEND:
		/* a message's own status (a future's outcome sent on): 0 or
		 * a TRP_E* code */
		return name_len >= 1 && name_len <= TRP_NAME_MAX &&
		       status <= 0 && ref == 0 && corr == 0;
	case TRP__WIRE_ASK:
		return name_len >= 1 && name_len <= TRP_NAME_MAX && status == 0;
	case TRP__WIRE_REPLY:
		return name_len == 0 && status <= 0 &&
		       (status == 0 || len == 0);
	case TRP__WIRE_WATCH:
		return name_len >= 1 && name_len <= TRP_NAME_MAX &&
		       status == 0 && len == 0 && ref != 0;
	case TRP__WIRE_DOWN:
		return name_len >= 1 && name_len <= TRP_NAME_MAX &&
		       status > 0 && len == 0 && ref != 0 && corr == 0;
	case TRP__WIRE_EXIT:
		return name_len >= 1 && name_len <= TRP_NAME_MAX &&
		       status > 0 && len == 0 && ref != 0 && corr != 0;
	case TRP__WIRE_UNLINK:
		return name_len >= 1 && name_len <= TRP_NAME_MAX &&
		       status == 0 && len == 0 && ref != 0 && corr != 0;
	default:
		return false;
	}
}

/* Names are 1 to TRP_NAME_MAX bytes of anything but NUL (names.h): a
 * name with a NUL inside would reach a different actor once any code
 * treats it as a C string. */
static bool name_ok(const unsigned char *name, size_t name_len)
{
	return memchr(name, 0, name_len) == NULL;
}

int trp__wire_check_items(const struct trp__wire_frame *f)
{
	const unsigned char *p = f->items;
	size_t rem = f->items_len;

	for (uint32_t k = 0; k < f->count; k++) {
		if (rem < TRP__WIRE_ITEM)
			return TRP__WIRE_ECOUNT;
		size_t name_len = get16(p + I_NAME_LEN);
		uint32_t len = get32(p + I_LEN);
		if (p[I_FLAGS] != 0 ||
		    !item_fields_ok(p[I_OP], name_len, len,
				    to_i32(get32(p + I_STATUS)),
				    get64(p + I_REF), get64(p + I_CORR)))
			return TRP__WIRE_EITEM;
		/* Each length against what is left, never a sum of them. */
		size_t left = rem - TRP__WIRE_ITEM;
		if (name_len > left)
			return TRP__WIRE_EITEM;
		left -= name_len;
		if (len > left)
			return TRP__WIRE_EITEM;
		left -= len;
		size_t used = rem - left; /* 32 + name_len + len */
		size_t pad = (8u - (used & 7u)) & 7u;
		if (pad > left)
			return TRP__WIRE_EITEM;
		if (!name_ok(p + TRP__WIRE_ITEM, name_len) ||
		    !all_zero(p + used, pad))
			return TRP__WIRE_EITEM;
		p += used + pad;
		rem -= used + pad;
	}
	return rem == 0 ? TRP__WIRE_OK : TRP__WIRE_ECOUNT;
}

void trp__wire_item_at(const struct trp__wire_frame *f, size_t *off,
		       struct trp__wire_item *it)
{
	const unsigned char *p = f->items + *off;
	it->op = p[I_OP];
	it->name_len = get16(p + I_NAME_LEN);
	it->type = get32(p + I_TYPE);
	it->len = get32(p + I_LEN);
	it->status = to_i32(get32(p + I_STATUS));
	it->ref = get64(p + I_REF);
	it->corr = get64(p + I_CORR);
	it->name = (const char *)p + TRP__WIRE_ITEM;
	it->payload = it->len != 0 ? p + TRP__WIRE_ITEM + it->name_len : NULL;
	*off += trp__wire_item_size(it->name_len, it->len);
}

/* ------------------------------------------------------------ encoder -- */

/* Makes room for @need more bytes. The old block is copied and freed
 * (alloc.h has no realloc); on failure @b is unchanged. */
static int reserve(struct trp__wire_buf *b, size_t need)
{
	if (need <= b->cap - b->len)
		return 0;
	if (need > SIZE_MAX / 2 - b->len)
		return TRP_ENOMEM;
	size_t cap = b->cap > WIRE_INITIAL_CAP ? b->cap : WIRE_INITIAL_CAP;
	while (cap < b->len + need)
		cap *= 2;
	unsigned char *data = trp__alloc(cap);
	if (data == NULL)
		return TRP_ENOMEM;
	if (b->len != 0)
		memcpy(data, b->data, b->len);
	trp__free(b->data, b->cap);
	b->data = data;
	b->cap = cap;
	return 0;
}

void trp__wire_set_flags(struct trp__wire_buf *b, uint32_t flags)
{
	if (b->len >= TRP__WIRE_HEADER)
		put32(b->data + H_FLAGS, flags);
}

void trp__wire_begin(struct trp__wire_buf *b, enum trp__wire_kind kind,
		     uint64_t src_inc, uint64_t dst_inc, uint64_t first_seq)
{
	b->len = 0;
	b->count = 0;
	/* Out of memory: b->len stays 0, which trp__wire_add and
	 * trp__wire_finish pass on (node_wire.h). */
	if (reserve(b, TRP__WIRE_HEADER) != 0)
		return;
	unsigned char *p = b->data;
	memset(p, 0, TRP__WIRE_HEADER);
	put16(p + H_MAGIC, TRP__WIRE_MAGIC);
	p[H_VERSION] = TRP__WIRE_VERSION;
	p[H_KIND] = (unsigned char)kind;
	put64(p + H_SRC_INC, src_inc);
	put64(p + H_DST_INC, dst_inc);
	put64(p + H_FIRST_SEQ, first_seq);
	/* count 0 and length HEADER: a consistent frame even before
	 * trp__wire_finish. */
	put32(p + H_LENGTH, TRP__WIRE_HEADER);
	b->len = TRP__WIRE_HEADER;
}

int trp__wire_add(struct trp__wire_buf *b, const struct trp__wire_item *it)
{
	if (b->len < TRP__WIRE_HEADER)
		return TRP_ENOMEM; /* trp__wire_begin ran out of memory */
	/* What the decoder would refuse: a bad item, an item in a
	 * GOODBYE, a sequence range past UINT64_MAX. */
	if (!item_fields_ok(it->op, it->name_len, it->len, it->status, it->ref,
			    it->corr) ||
	    (it->name_len != 0 &&
	     !name_ok((const unsigned char *)it->name, it->name_len)) ||
	    b->data[H_KIND] != TRP__WIRE_DATA ||
	    get64(b->data + H_FIRST_SEQ) > UINT64_MAX - b->count - 1)
		return TRP_EINVAL;
	size_t size = trp__wire_item_size(it->name_len, it->len);
	/* The length field is a u32; count + 1 must stay one too. */
	if (b->count == UINT32_MAX || size > UINT32_MAX - b->len)
		return TRP_EMSGSIZE;
	int rc = reserve(b, size);
	if (rc != 0)
		return rc;

	unsigned char *p = b->data + b->len;
	memset(p, 0, size); /* flags, padding */
	p[I_OP] = it->op;
	put16(p + I_NAME_LEN, it->name_len);
	put32(p + I_TYPE, it->type);
	put32(p + I_LEN, it->len);
	put32(p + I_STATUS, (uint32_t)it->status);
	put64(p + I_REF, it->ref);
	put64(p + I_CORR, it->corr);
	if (it->name_len != 0)
		memcpy(p + TRP__WIRE_ITEM, it->name, it->name_len);
	if (it->len != 0)
		memcpy(p + TRP__WIRE_ITEM + it->name_len, it->payload, it->len);
	b->len += size;
	b->count++;
	return 0;
}

void trp__wire_finish(struct trp__wire_buf *b)
{
	if (b->len < TRP__WIRE_HEADER)
		return;
	put32(b->data + H_COUNT, b->count);
	put32(b->data + H_LENGTH, (uint32_t)b->len);
}

void trp__wire_buf_free(struct trp__wire_buf *b)
{
	trp__free(b->data, b->cap);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->count = 0;
}
