/*
 * core/node_loop.c - the node's connection runs on an event loop of ours,
 * on the inbound thread (node_in.c), instead of the client's reader thread.
 *
 * Why: with the client's reader, a frame crossed two threads on the
 * receiving side before it reached a worker (the client's reader, which
 * queues it on the subscription, then our inbound thread, which takes it
 * and sends it to the actor). Reading the socket on the inbound thread
 * itself takes one of them away: a round trip between two nodes crosses
 * as many threads as one between two plain NATS clients (BENCHMARKS.md,
 * remote_pingpong).
 *
 * The client's event-loop interface (natsOptions_SetEventLoop) asks us to
 * poll its socket for reads from attach to detach (a reconnect removes
 * the read, then attaches again with the new socket), and for writes
 * while it has bytes buffered (write ADD / REMOVE). We poll with the
 * socket and an eventfd (the bell: a new socket, bytes to write from a
 * thread that will not write them itself, a stop).
 *
 * Writes: with an event loop the client never writes in publish; it
 * buffers and asks for a write event. A node's own publishes go through
 * trp__node_publish, which writes the buffer on the publishing thread
 * right after the publish (a non-blocking write: a worker publishing
 * directly never blocks on a full socket; the rest is written when the
 * socket takes it, by this loop). A write the client buffers on a thread
 * of its own (a PING from its timer, the resend after a reconnect, a
 * request's publish) rings the bell, and the loop writes it. The
 * outbound thread bounds what it buffers (trp__node_loop_bound), as the
 * blocking socket bounded it before.
 *
 * The inbound thread must keep reading while it waits for a full mailbox
 * (node_in.c: send_waiting, wait_overloaded): those waits run the loop
 * (trp__node_loop_pause), so the subscription's pending limits still
 * drop, counted, beyond what we take, heartbeats still come, and the
 * server never sees us as a slow consumer of the socket itself.
 *
 * Reconnects: the client removes the read interest (on_read), closes the
 * socket and, on a thread of its own, connects a new one with blocking
 * reads before it attaches it (on_attach). We read only while the read
 * interest is set, and the client checks under its lock that the
 * connection is attached to a live socket before it reads for us; what
 * remains is the window every adapter of the client's loop interface has
 * (a readiness seen just before the interest was removed, acted on after
 * a new socket was made): microseconds against the reconnect's own wait.
 *
 * Every function here but trp__node_publish, trp__node_loop_bound and the
 * client's callbacks runs on the inbound thread only.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "node.h"

/* Set while this thread is inside a publish of ours: the write it causes
 * is ours to make (trp__node_publish), so the bell need not ring. */
static _Thread_local bool publishing;

void trp__node_loop_ring(struct trp_node *node)
{
	trp__eventfd_signal(node->loop.bell);
}

/* ---- the client's callbacks (any thread, the connection's lock held) */

/*
 * ORDER: nc, fd, want_read, want_write and stop are seq_cst: each
 * callback stores them before ringing the bell (an eventfd write), and
 * the loop loads
 * them after taking the bell and before each poll, so a change is either
 * seen by the poll about to start or wakes it. A publisher that writes
 * itself loads want_write after its publish returned (its own store, or
 * a later one: coherence). The buffered bytes themselves are guarded by
 * the connection's lock inside the client.
 */
static natsStatus on_attach(void **user, void *loop, natsConnection *nc,
			    natsSock sock)
{
	struct trp_node *node = loop;
	*user = node;
	atomic_store(&node->loop.nc, nc);
	atomic_store(&node->loop.fd, (int)sock);
	atomic_store(&node->loop.want_read, 1u);
	trp__node_loop_ring(node);
	return NATS_OK;
}

static natsStatus on_read(void *user, bool add)
{
	struct trp_node *node = user;
	atomic_store(&node->loop.want_read, add ? 1u : 0u);
	trp__node_loop_ring(node);
	return NATS_OK;
}

static natsStatus on_write(void *user, bool add)
{
	struct trp_node *node = user;
	atomic_store(&node->loop.want_write, add ? 1u : 0u);
	if (add && !publishing)
		trp__node_loop_ring(node);
	return NATS_OK;
}

static natsStatus on_detach(void *user)
{
	struct trp_node *node = user;
	atomic_store(&node->loop.want_read, 0u);
	atomic_store(&node->loop.want_write, 0u);
	atomic_store(&node->loop.fd, -1);
	trp__node_loop_ring(node);
	return NATS_OK;
}

/* ---- the node's side ---- */

int trp__node_loop_init(struct trp_node *node)
{
	atomic_init(&node->loop.fd, -1);
	atomic_init(&node->loop.nc, NULL);
	atomic_init(&node->loop.want_read, 0u);
	atomic_init(&node->loop.want_write, 0u);
	atomic_init(&node->loop.stop, 0u);
	atomic_init(&node->loop.write.state, 0u);
	int fd = trp__eventfd_open();
	if (fd < 0)
		return fd;
	node->loop.bell = fd;
	return 0;
}

void trp__node_loop_fini(struct trp_node *node)
{
	if (node->loop.bell >= 0)
		trp__eventfd_close(node->loop.bell);
	node->loop.bell = -1;
}

natsStatus trp__node_loop_options(struct trp_node *node, natsOptions *o)
{
	return natsOptions_SetEventLoop(o, node, on_attach, on_read, on_write,
					on_detach);
}

/*
 * Lets the client write what it buffered, if it still wants to: under
 * loop.write, because the client takes a write with nothing buffered for
 * a closed connection (a send of 0 bytes) and reconnects. want_write is
 * 1 only while the client holds bytes: it is set with the first byte
 * buffered and cleared by the write that takes the last one, both under
 * the client's lock; so checked under loop.write, which every write of
 * ours holds, it cannot be emptied between the check and the write.
 * Whether the client still wants to write after it.
 */
static bool write_some(struct trp_node *node, natsConnection *nc)
{
	trp__mutex_lock(&node->loop.write);
	if (atomic_load(&node->loop.want_write) != 0)
		natsConnection_ProcessWriteEvent(nc);
	bool more = atomic_load(&node->loop.want_write) != 0;
	trp__mutex_unlock(&node->loop.write);
	return more;
}

/* Writes what the client buffered, on this thread; the loop is told to
 * write the rest if the socket did not take it all. */
static void write_now(struct trp_node *node)
{
	natsConnection *nc = atomic_load(&node->loop.nc);
	if (nc == NULL || atomic_load(&node->loop.want_write) == 0)
		return;
	if (write_some(node, nc))
		trp__node_loop_ring(node);
}

natsStatus trp__node_publish(struct trp_node *node, const char *subject,
			     const char *reply, const void *data, size_t len)
{
	publishing = true;
	natsStatus s = reply != NULL ?
			       natsConnection_PublishRequest(node->nc, subject,
							     reply, data,
							     (int)len) :
			       natsConnection_Publish(node->nc, subject, data,
						      (int)len);
	publishing = false;
	write_now(node);
	return s;
}

void trp__node_loop_bound(struct trp_node *node, size_t limit)
{
	natsConnection *nc = atomic_load(&node->loop.nc);
	if (nc == NULL)
		return;
	for (int tries = 0; tries < 1000; tries++) {
		int buffered = natsConnection_Buffered(nc);
		int fd = atomic_load(&node->loop.fd);
		if (buffered < 0 || (size_t)buffered <= limit || fd < 0 ||
		    atomic_load(&node->loop.want_read) == 0 ||
		    atomic_load(&node->loop.stop) != 0)
			return; /* closed, under the limit, or reconnecting */
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 10) > 0)
			(void)write_some(node, nc);
	}
}

bool trp__node_loop_run(struct trp_node *node, int64_t timeout_ns)
{
	struct pollfd p[2] = { { .fd = node->loop.bell, .events = POLLIN },
			       { .fd = -1 } };
	uint32_t r = atomic_load(&node->loop.want_read);
	uint32_t w = atomic_load(&node->loop.want_write);
	int fd = atomic_load(&node->loop.fd);
	if (fd >= 0 && (r | w) != 0) {
		p[1].fd = fd;
		p[1].events =
			(short)((r != 0 ? POLLIN : 0) | (w != 0 ? POLLOUT : 0));
	}
	struct timespec ts = { (time_t)(timeout_ns / 1000000000),
			       (long)(timeout_ns % 1000000000) };
	int n = ppoll(p, 2, timeout_ns >= 0 ? &ts : NULL, NULL);
	if (n <= 0)
		return false;
	if (p[0].revents != 0)
		(void)trp__eventfd_clear(node->loop.bell);
	natsConnection *nc = atomic_load(&node->loop.nc);
	short rev = p[1].revents;
	if (nc == NULL || rev == 0 || (rev & POLLNVAL) != 0)
		return false; /* a socket closed meanwhile: look again */
	bool got = false;
	/* A read also finds a closed or failed socket (the client then
	 * reconnects); a socket we only write to reports it on the write. */
	if (r != 0 && (rev & (POLLIN | POLLERR | POLLHUP)) != 0) {
		natsConnection_ProcessReadEvent(nc);
		got = true;
	}
	if (w != 0 && (rev & (POLLOUT | POLLERR | POLLHUP)) != 0)
		(void)write_some(node, nc);
	return got;
}

void trp__node_loop_pause(struct trp_node *node, long ns)
{
	uint64_t end = trp__now_ns() + (uint64_t)ns;
	for (;;) {
		uint64_t now = trp__now_ns();
		if (now >= end || atomic_load(&node->loop.stop) != 0)
			return;
		(void)trp__node_loop_run(node, (int64_t)(end - now));
	}
}
