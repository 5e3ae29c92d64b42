/*
 * examples/print_thread_actor.c - the seeds' PrintActor as a thread actor.
 *
 * Ports the thread-and-queue Actor of recipe 12.10 ("定义一个Actor任务") in
 * shared/seeds/cookbook-actor-exchange.txt, with its PrintActor:
 *
 *     class PrintActor(Actor):
 *         def run(self):
 *             while True:
 *                 msg = self.recv()
 *                 print('Got:', msg)
 *     p = PrintActor(); p.start()
 *     p.send('Hello'); p.send('World')
 *     p.close(); p.join()
 *
 * start() is trp_thread_actor_spawn(): run() gets a thread of its own and
 * a blocking trp_recv(). close() puts the ActorExit sentinel behind the
 * messages already sent; here trp_actor_close() does that, and trp_recv()
 * returns TRP_ECLOSED (the ActorExit) once those messages were received.
 * join() is trp_actor_join(). Unlike the Python version, a send after
 * close is refused (TRP_EDEAD) instead of being lost behind the sentinel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

enum {
	MSG_TEXT = 1
};

/* Written by the actor's thread, read by main after trp_actor_join(). */
struct print_actor {
	int received;
	int exit_rc; /* what ended run() */
};

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "print_thread_actor: %s: %s\n", what,
			trp_strerror(rc));
		exit(1);
	}
}

/* run(): while True: msg = self.recv(); print('Got:', msg) */
static void run(trp_actor_t *self, void *arg)
{
	struct print_actor *pa = arg;
	const trp_msg_t *msg;
	int rc;

	while ((rc = trp_recv(self, -1, &msg)) == 0) {
		if (msg->type == MSG_TEXT) /* text without a NUL */
			printf("Got: %.*s\n", (int)msg->size,
			       (const char *)msg->data);
		pa->received++;
	}
	pa->exit_rc = rc; /* TRP_ECLOSED: the ActorExit sentinel */
}

static void send_text(trp_actor_t *a, const char *text)
{
	check(trp_send(a, MSG_TEXT, text, strlen(text)), "trp_send");
}

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	struct print_actor pa = { 0, 0 };
	trp_runtime_t *rt;
	trp_actor_t *p;
	int status = 0;

	cfg.workers = 1;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");
	check(trp_thread_actor_spawn(rt, run, &pa, &p), "start");

	send_text(p, "Hello");
	send_text(p, "World");
	check(trp_actor_close(p), "close");
	if (trp_send(p, MSG_TEXT, "late", 4) != TRP_EDEAD) {
		fprintf(stderr, "print_thread_actor: send after close "
				"accepted\n");
		status = 1;
	}
	check(trp_actor_join(p, -1), "join");

	if (pa.received != 2 || pa.exit_rc != TRP_ECLOSED ||
	    trp_actor_alive(p)) {
		fprintf(stderr,
			"print_thread_actor: received %d, ended with %s, "
			"alive %d\n",
			pa.received, trp_errname(pa.exit_rc),
			trp_actor_alive(p) ? 1 : 0);
		status = 1;
	}
	trp_actor_release(p);
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");
	return status;
}
