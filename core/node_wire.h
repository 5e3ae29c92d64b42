/*
 * core/node_wire.h - the frame format between nodes (node.c): encoding and
 * a decoder that checks every length before it trusts it.
 *
 * A frame is one NATS message from one node to another. All integers are
 * little-endian; every item starts 8-byte aligned from the frame's start.
 *
 *   header (40 bytes)
 *     0  u16 magic        0x5254 ("TR" read as bytes 'T','R')
 *     2  u8  version      TRP__WIRE_VERSION (1)
 *     3  u8  kind         enum trp__wire_kind
 *     4  u32 count        items that follow
 *     8  u64 src_inc      sender's incarnation (never 0)
 *    16  u64 dst_inc      receiver's incarnation, 0 if not known yet
 *    24  u64 first_seq    sequence number of the first item (>= 1); the
 *                         k-th item has first_seq + k. A frame without
 *                         items (GOODBYE) carries the next number the
 *                         sender would have used; a CREDIT carries the
 *                         next number its sender (the stream's receiver)
 *                         expects: every message before it was delivered
 *                         or counted lost.
 *    32  u32 length       the whole frame's length in bytes, header
 *                         included; must equal the NATS payload length
 *    36  u32 flags        DATA: 0, TRP__WIRE_F_RESTART, TRP__WIRE_F_CREDIT
 *                         or both; GOODBYE and CREDIT: 0 (a decoder
 *                         refuses other bits)
 *   items, each (32 bytes + name + payload, padded with zeros to 8)
 *     0  u8  op           enum trp__wire_op
 *     1  u8  flags        0 (reserved)
 *     2  u16 name_len     <= TRP_NAME_MAX; > 0 for SEND and ASK, 0 for
 *                         REPLY
 *     4  u32 type         the message's type tag
 *     8  u32 len          payload length
 *    12  i32 status       SEND: the message's status (trp_msg_t: 0, or a
 *                         TRP_E* code of a future's outcome); ASK: 0;
 *                         REPLY: 0 or a TRP_E* code (< 0), no payload
 *                         with a code
 *    16  u64 ref          ASK: the asker's proxy id on the sending node;
 *                         REPLY: that proxy id (echoed); SEND: 0;
 *                         WATCH: the watching proxy's id (never 0);
 *                         DOWN: that id (echoed); EXIT and UNLINK: the
 *                         id of the proxy the WATCH came from (never 0)
 *    24  u64 corr         ASK and REPLY: the correlation id; SEND: 0;
 *                         WATCH: 0 for a monitor, else the id of the
 *                         actor linked to the proxy (on the sender);
 *                         EXIT and UNLINK: that actor's id (never 0)
 *    32  name bytes (no NUL), then payload bytes, then zero padding
 *
 * Rules a decoder enforces (anything else is malformed): the magic, the
 * version, a known kind, flags 0, length == the buffer's length, length >=
 * the header, count items exactly filling the rest (no trailing bytes),
 * each item's op known, its name_len within TRP_NAME_MAX and as the op
 * requires, its payload within the frame, padding inside the frame, a
 * REPLY with a nonzero status has len 0, a GOODBYE or CREDIT has count 0,
 * a CREDIT has dst_inc != 0, src_inc
 * != 0, first_seq >= 1 and first_seq + count does not overflow.
 * Checked as well, so that an accepted frame has one encoding (the encoder
 * writes these bytes and no others; tests/fuzz checks the round trip):
 * padding bytes are 0; SEND has status <= 0, ASK status 0, SEND ref and
 * corr 0; a REPLY's status is 0 or negative; a name holds no NUL byte (names.h);
 * and a count larger than (length - header) / 32 is refused with the
 * header already (TRP__WIRE_ECOUNT), so a receiver never believes a count
 * no frame of that length could carry.
 *
 * Who may call: any thread; no state, no allocation in the decoder.
 */
#ifndef TRP_CORE_NODE_WIRE_H
#define TRP_CORE_NODE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRP__WIRE_MAGIC 0x5254u
#define TRP__WIRE_VERSION 1u
#define TRP__WIRE_HEADER 40u
#define TRP__WIRE_ITEM 32u

enum trp__wire_kind {
	TRP__WIRE_DATA = 1,    /* items */
	TRP__WIRE_GOODBYE = 2, /* the sender leaves; no items */
	TRP__WIRE_CREDIT = 3,  /* flow control, receiver to sender (the
				  reverse direction of a stream): the sender
				  dst_inc's stream to the CREDIT's sender was
				  delivered up to first_seq; no items */
};

/* Header flag: the sender counted every message of this stream before
 * first_seq that the receiver has not received as lost itself (a frame
 * that reached nobody: "no responders"), so the receiver starts counting
 * afresh at first_seq instead of counting the hole as a gap. */
#define TRP__WIRE_F_RESTART 1u

/* Header flag: the sender wants credit for its stream once this frame is
 * delivered (a CREDIT frame back; node_out.c, flow control). */
#define TRP__WIRE_F_CREDIT 2u

enum trp__wire_op {
	TRP__WIRE_SEND = 1,   /* one-way message to name */
	TRP__WIRE_ASK = 2,    /* request to name, answer to (ref, corr) */
	TRP__WIRE_REPLY = 3,  /* answer (payload or status) to (ref, corr) */
	TRP__WIRE_WATCH = 4,  /* monitor the actor `name` on behalf of the
				sender's proxy `ref`, and with corr != 0
				mirror the link of that proxy with the
				sender's actor corr (no payload) */
	TRP__WIRE_DOWN = 5,   /* the actor `name` the proxy `ref` watched
				stopped: status = trp_stop_reason_t (> 0),
				type = its failure code (no payload) */
	TRP__WIRE_EXIT = 6,   /* an actor linked to the sender's proxy `ref`
				(which watches `name`) stopped: the exit
				signal, status = its trp_stop_reason_t (> 0),
				type = its failure code, corr = its id on
				the sender (no payload) */
	TRP__WIRE_UNLINK = 7, /* the link of the proxy `ref` with the actor
				 corr is gone (no status, no payload) */
};

/* Decoder results (negative: malformed, why). Fewer bytes than the next
 * item's 32, or than count items could take at all, is a count that
 * disagrees with the length: TRP__WIRE_ECOUNT, not _ESHORT. */
enum trp__wire_rc {
	TRP__WIRE_OK = 0,
	TRP__WIRE_ESHORT = -1,	/* shorter than a header */
	TRP__WIRE_EMAGIC = -2,	/* magic or version */
	TRP__WIRE_EHEADER = -3, /* kind, flags, length, src_inc, seq */
	TRP__WIRE_EITEM = -4,	/* an item's op, flags, lengths */
	TRP__WIRE_ECOUNT = -5,	/* items do not fill the frame exactly */
};

/* The enumerator's name of a decoder result ("TRP__WIRE_E?" if unknown),
 * for logs and test messages. */
const char *trp__wire_rc_name(int rc);

/* A frame's header, decoded. */
struct trp__wire_frame {
	uint8_t kind;
	uint32_t flags; /* TRP__WIRE_F_* */
	uint32_t count;
	uint64_t src_inc;
	uint64_t dst_inc;
	uint64_t first_seq;
	const unsigned char *items; /* first item */
	size_t items_len;	    /* bytes of items */
};

/* An item, decoded: pointers into the frame's buffer. */
struct trp__wire_item {
	uint8_t op;
	uint16_t name_len;
	uint32_t type;
	uint32_t len;
	int32_t status;
	uint64_t ref;
	uint64_t corr;
	const char *name;    /* name_len bytes, not NUL-terminated */
	const void *payload; /* len bytes (NULL when len is 0) */
};

/* Bytes an item with these lengths takes in a frame (padding included). */
static inline size_t trp__wire_item_size(size_t name_len, size_t len)
{
	return (TRP__WIRE_ITEM + name_len + len + 7u) & ~(size_t)7u;
}

/* Checks the header of @buf/@len: TRP__WIRE_OK and *f filled, or why
 * not. Items are not looked at (a frame whose header is readable but whose
 * items are not still tells the receiver its sequence range). */
int trp__wire_header(const void *buf, size_t len, struct trp__wire_frame *f);

/* Checks every item of @f (from trp__wire_header): TRP__WIRE_OK if all
 * count items are well formed and fill the frame exactly, else why not. A
 * receiver validates the whole frame before it delivers any item. */
int trp__wire_check_items(const struct trp__wire_frame *f);

/* Iterates over the items of a checked frame: *@off starts at 0; each call
 * fills *it and advances *@off. Only for frames trp__wire_check_items
 * accepted (it asserts nothing and checks nothing again). */
void trp__wire_item_at(const struct trp__wire_frame *f, size_t *off,
		       struct trp__wire_item *it);

/* An encoder: a growable buffer holding one frame being built. */
struct trp__wire_buf {
	unsigned char *data;
	size_t len; /* bytes written (header included) */
	size_t cap;
	uint32_t count; /* items added */
};

/* Starts a frame in @b (keeps its memory): writes the header with count 0.
 * @b is zero-initialized before its first use. The arguments must satisfy
 * the header rules (src_inc != 0, first_seq >= 1): they are not checked.
 * Out of memory for the header: b->len is 0 afterwards, trp__wire_add
 * returns TRP_ENOMEM and trp__wire_finish leaves b->len 0, so a caller
 * that checks b->len != 0 after finishing (a GOODBYE adds nothing) sees
 * it. */
void trp__wire_begin(struct trp__wire_buf *b, enum trp__wire_kind kind,
		     uint64_t src_inc, uint64_t dst_inc, uint64_t first_seq);

/* Sets the header's flags of the frame being built (after begin). */
void trp__wire_set_flags(struct trp__wire_buf *b, uint32_t flags);

/* Appends @it (its name and payload are copied). 0, or TRP_ENOMEM (the
 * frame is unchanged). The caller bounds the frame's size beforehand with
 * trp__wire_item_size(). Caller bugs, refused with the frame unchanged so
 * that the encoder never writes a frame the decoder refuses: TRP_EINVAL
 * for an item the decoder would refuse (lengths, status, ref/corr against
 * the op, a NUL in the name), an item in a GOODBYE, or first_seq + count
 * overflowing; TRP_EMSGSIZE past 4 GiB - 1 bytes or UINT32_MAX items. */
int trp__wire_add(struct trp__wire_buf *b, const struct trp__wire_item *it);

/* Writes count and length into the header; b->data/b->len is the frame. */
void trp__wire_finish(struct trp__wire_buf *b);

/* Frees @b's memory. */
void trp__wire_buf_free(struct trp__wire_buf *b);

#endif /* TRP_CORE_NODE_WIRE_H */
