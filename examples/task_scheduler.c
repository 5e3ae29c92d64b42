/*
 * examples/task_scheduler.c - generators as tasks.
 *
 * Ports "简单任务调度器" (TaskScheduler running countdown(10), countdown(5)
 * and countup(15)) from shared/seeds/python-actor-patterns.txt, with the
 * tasks as defined in the Python Cookbook, recipe 12.12:
 *
 *     def countdown(n):                  def countup(n):
 *         while n > 0:                       x = 0
 *             print('T-minus', n)            while x < n:
 *             yield                              print('Counting up', x)
 *             n -= 1                             yield
 *         print('Blastoff!')                     x += 1
 *
 * Each task is an actor; one `next(task)` is one message the task sends to
 * itself, so a task runs one step per turn and the workers interleave the
 * tasks as the Python scheduler's round robin does. When the generator would
 * raise StopIteration the actor stops itself.
 *
 * Lines of different tasks may interleave in any order; each task's own lines
 * come in order, which main verifies from a log each task keeps.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

/* The one message type: "run until your next yield" (no payload). */
enum {
	MSG_STEP = 1
};

#define LOG_MAX 32
#define BLASTOFF (-1) /* logged for 'Blastoff!' */

enum task_kind {
	COUNTDOWN,
	COUNTUP
};

/*
 * A task's state. Main owns it (spawned with state_size 0) so it can read
 * the log once the runtime is idle; until then only the task's behaviour
 * touches it.
 */
struct task {
	enum task_kind kind;
	int64_t start; /* the argument: countdown(start) or countup(start) */
	int64_t n, x;  /* the generator's locals */
	int64_t log[LOG_MAX]; /* the values printed, in print order */
	size_t logged;
	bool finished; /* StopIteration reached */
};

static atomic_int failures;

static void fail(const char *what, int rc)
{
	fprintf(stderr, "task_scheduler: %s: %s\n", what, trp_strerror(rc));
	atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
}

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "task_scheduler: %s: %s\n", what,
			trp_strerror(rc));
		exit(1);
	}
}

static void record(struct task *t, int64_t v)
{
	if (t->logged < LOG_MAX)
		t->log[t->logged] = v;
	t->logged++;
}

/* yield: ask for the next step in a later turn. */
static void task_yield(trp_actor_t *self)
{
	int rc = trp_send(self, MSG_STEP, NULL, 0);

	if (rc != 0)
		fail("trp_send", rc);
}

/* The generator returned: the scheduler drops the task. */
static void task_finish(trp_actor_t *self, struct task *t)
{
	int rc = trp_actor_stop(self);

	if (rc != 0)
		fail("trp_actor_stop", rc);
	t->finished = true;
}

static void step(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct task *t = state;

	if (msg->type != MSG_STEP) {
		fail("unexpected message", TRP_EINVAL);
		return;
	}
	switch (t->kind) {
	case COUNTDOWN:
		if (t->n > 0) {
			printf("T-minus %lld\n", (long long)t->n);
			record(t, t->n);
			t->n--; /* the `n -= 1` after the yield resumes */
			task_yield(self);
		} else {
			printf("Blastoff!\n");
			record(t, BLASTOFF);
			task_finish(self, t);
		}
		break;
	case COUNTUP:
		if (t->x < t->n) {
			printf("Counting up %lld\n", (long long)t->x);
			record(t, t->x);
			t->x++;
			task_yield(self);
		} else {
			task_finish(self, t);
		}
		break;
	}
}

/* sched.new_task(task): spawn the actor and send it its first step. */
static void new_task(trp_runtime_t *rt, struct task *t)
{
	trp_actor_def_t def = { .behavior = step };
	trp_actor_t *a;

	t->n = t->start;
	t->x = 0;
	check(trp_actor_spawn(rt, &def, t, &a), "trp_actor_spawn");
	check(trp_send(a, MSG_STEP, NULL, 0), "trp_send");
	trp_actor_release(a);
}

/* The task printed exactly what its generator prints, in that order. */
static bool task_in_order(const struct task *t)
{
	size_t want = (size_t)t->start + (t->kind == COUNTDOWN ? 1 : 0);

	if (!t->finished || t->logged != want || want > LOG_MAX)
		return false;
	for (size_t i = 0; i < want; i++) {
		int64_t v;

		if (t->kind == COUNTUP)
			v = (int64_t)i;
		else
			v = i < (size_t)t->start ? t->start - (int64_t)i :
						   BLASTOFF;
		if (t->log[i] != v)
			return false;
	}
	return true;
}

int main(void)
{
	struct task tasks[] = {
		{ .kind = COUNTDOWN, .start = 10 },
		{ .kind = COUNTDOWN, .start = 5 },
		{ .kind = COUNTUP, .start = 15 },
	};
	size_t ntasks = sizeof(tasks) / sizeof(tasks[0]);
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	int status = 0;

	cfg.workers = 2;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");
	for (size_t i = 0; i < ntasks; i++)
		new_task(rt, &tasks[i]);

	/* sched.run(): until no task is left. Idle also means every step's
	 * writes to its task are visible here. */
	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	for (size_t i = 0; i < ntasks; i++) {
		if (!task_in_order(&tasks[i])) {
			fprintf(stderr,
				"task_scheduler: task %zu out of order\n", i);
			status = 1;
		}
	}
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");

	if (atomic_load_explicit(&failures, memory_order_relaxed))
		status = 1;
	return status;
}
