/*
 * examples/exchange.c - publish/subscribe through a named exchange.
 *
 * Ports recipe 12.11 ("实现消息发布/订阅模型") of
 * shared/seeds/cookbook-actor-exchange.txt:
 *
 *     exc = get_exchange('name')
 *     d = DisplayMessages(); exc.attach(d)
 *     with exc.subscribe(task_a, task_b):
 *         exc.send('msg1')
 *         exc.send('msg2')
 *
 * get_exchange() over a defaultdict is trp_exchange_get(): the named
 * exchange, created on first use. The tasks are actors that print what they
 * receive (anything with a "send" can subscribe); DisplayMessages is a tap,
 * which counts and prints every message. The `with` block is
 * TRP_EXCHANGE_SCOPE: the sinks are attached for the block and detached
 * when it ends, so the "msg3" published after it reaches nobody.
 *
 * The tasks run on two workers, so their lines interleave in any order;
 * the checker compares the output as a set of lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

enum {
	MSG_TEXT = 1
};

/* A task's state; main owns it and reads it after the runtime is idle. */
struct task {
	const char *name;
	int received;
};

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "exchange: %s: %s\n", what, trp_strerror(rc));
		exit(1);
	}
}

/* Task.send(msg): print it. */
static void task_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct task *t = state;

	(void)self;
	if (msg->type == MSG_TEXT) /* the payload is text without a NUL */
		printf("%s got: %.*s\n", t->name, (int)msg->size,
		       (const char *)msg->data);
	t->received++;
}

static void send_text(trp_exchange_t *exc, const char *text)
{
	check(trp_exchange_publish(exc, MSG_TEXT, text, strlen(text)),
	      "trp_exchange_publish");
}

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = task_behavior };
	struct task a = { "task_a", 0 }, b = { "task_b", 0 };
	trp_runtime_t *rt;
	trp_actor_t *task_a, *task_b;
	trp_exchange_t *exc;
	trp_exchange_stats_t st;
	trp_tap_t d; /* DisplayMessages */
	int status = 0;

	cfg.workers = 2;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");
	check(trp_actor_spawn(rt, &def, &a, &task_a), "trp_actor_spawn");
	check(trp_actor_spawn(rt, &def, &b, &task_b), "trp_actor_spawn");
	trp_tap_init(&d, stdout, "msg");

	check(trp_exchange_get(rt, "name", &exc), "trp_exchange_get");
	{
		/* with exc.subscribe(task_a, task_b, d): */
		TRP_EXCHANGE_SCOPE(sub, exc, trp_sink_actor(task_a),
				   trp_sink_actor(task_b), trp_sink_tap(&d));
		check(sub.rc, "subscribing");
		send_text(exc, "msg1");
		send_text(exc, "msg2");
	}			/* all three detached here */
	send_text(exc, "msg3"); /* nobody is subscribed any more */

	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	printf("tap count: %llu\n", trp_tap_count(&d));

	check(trp_exchange_stats(exc, &st), "trp_exchange_stats");
	if (a.received != 2 || b.received != 2 || trp_tap_count(&d) != 2 ||
	    st.published != 3 || st.delivered != 6 || st.subscribers != 0) {
		fprintf(stderr,
			"exchange: task_a got %d, task_b got %d, tap %llu; "
			"published %llu delivered %llu subscribers %u\n",
			a.received, b.received, trp_tap_count(&d),
			(unsigned long long)st.published,
			(unsigned long long)st.delivered, st.subscribers);
		status = 1;
	}

	trp_exchange_release(exc);
	trp_actor_release(task_a);
	trp_actor_release(task_b);
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");
	return status;
}
