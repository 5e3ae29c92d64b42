/*
 * examples/print_actor.c - an actor that prints what it is sent.
 *
 * Ports PrintActor and its generator form print_actor() from recipe 12.10
 * ("定义一个Actor任务") in shared/seeds/cookbook-actor-exchange.txt:
 *
 *     p = PrintActor(); p.start()
 *     p.send('Hello'); p.send('World')
 *     p.close(); p.join()
 *
 * close() puts a sentinel behind the messages already sent; here
 * trp_actor_close() does the same, and the stop hook plays the generator's
 * `except GeneratorExit: print('actor terminating')`. join() is
 * trp_runtime_wait_idle().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

enum {
	MSG_TEXT = 1
};

/* Main owns this (spawned with state_size 0) and reads it after idle. */
struct print_actor {
	int received;
	int stops;
	trp_stop_reason_t why;
};

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "print_actor: %s: %s\n", what,
			trp_strerror(rc));
		exit(1);
	}
}

static void print_msg(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct print_actor *pa = state;

	(void)self;
	if (msg->type == MSG_TEXT) /* the payload is text without a NUL */
		printf("Got: %.*s\n", (int)msg->size, (const char *)msg->data);
	pa->received++;
}

static void print_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct print_actor *pa = state;

	(void)self;
	printf("actor terminating\n");
	pa->stops++;
	pa->why = why;
}

static void send_text(trp_actor_t *a, const char *text)
{
	check(trp_send(a, MSG_TEXT, text, strlen(text)), "trp_send");
}

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = print_msg, .stop = print_stop };
	struct print_actor pa = { 0 };
	trp_runtime_t *rt;
	trp_actor_t *p;
	int status = 0;

	cfg.workers = 2;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");
	check(trp_actor_spawn(rt, &def, &pa, &p), "trp_actor_spawn");

	send_text(p, "Hello");
	send_text(p, "World");
	check(trp_actor_close(p), "trp_actor_close");
	/* A closed actor refuses what comes after the close. */
	if (trp_send(p, MSG_TEXT, "late", 4) != TRP_EDEAD) {
		fprintf(stderr, "print_actor: send after close accepted\n");
		status = 1;
	}

	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	if (pa.received != 2 || pa.stops != 1 || pa.why != TRP_STOP_CLOSED ||
	    trp_actor_alive(p)) {
		fprintf(stderr,
			"print_actor: received %d, stop hook ran %d times "
			"(reason %d), alive %d\n",
			pa.received, pa.stops, (int)pa.why,
			trp_actor_alive(p) ? 1 : 0);
		status = 1;
	}
	trp_actor_release(p);
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");
	return status;
}
