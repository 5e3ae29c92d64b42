/*
 * core/epoch.c - per-thread ck_epoch records (see epoch.h).
 */
#include "epoch.h"

#include <ck_epoch.h>
#include <pthread.h>

#include "alloc.h"
#include "platform.h"
#include "troupe/error.h"

static ck_epoch_t g_epoch;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static char g_tsan_sync; /* address TSan uses for the grace-period edge */
static _Thread_local ck_epoch_record_t *t_record;
static _Thread_local unsigned t_depth; /* sections open on this thread */

static void record_release(void *rec)
{
	/* The record goes back to ck for reuse by a later thread. */
	ck_epoch_unregister(rec);
}

static void epoch_init_once(void)
{
	ck_epoch_init(&g_epoch);
	(void)pthread_key_create(&g_key, record_release);
}

static ck_epoch_record_t *record(void)
{
	ck_epoch_record_t *r = t_record;
	if (trp__likely(r != NULL))
		return r;
	(void)pthread_once(&g_once, epoch_init_once);
	r = ck_epoch_recycle(&g_epoch, NULL);
	if (r == NULL) {
		r = trp__alloc_aligned(TRP_CACHELINE, sizeof *r);
		if (r == NULL)
			return NULL;
		ck_epoch_register(&g_epoch, r, NULL);
	}
	(void)pthread_setspecific(g_key, r);
	t_record = r;
	return r;
}

int trp__epoch_enter(void)
{
	ck_epoch_record_t *r = record();
	if (r == NULL)
		return TRP_ENOMEM;
	ck_epoch_begin(r, NULL);
	t_depth++;
	return 0;
}

void trp__epoch_exit(void)
{
	trp__tsan_release(&g_tsan_sync);
	t_depth--;
	ck_epoch_end(t_record, NULL);
}

bool trp__epoch_in_section(void)
{
	return t_depth != 0;
}

/* Called by ck while a reader holds the grace period back: writers are
 * cold paths, so give the CPU away rather than spin (on a 2-core machine
 * a spinning writer takes half the workers' time). */
static void wait_yield(ck_epoch_t *e, ck_epoch_record_t *r, void *ctx)
{
	(void)e;
	(void)r;
	(void)ctx;
	trp__thread_yield();
}

void trp__epoch_synchronize(void)
{
	(void)pthread_once(&g_once, epoch_init_once);
	/* The _wait form needs no record of ours, so it cannot fail. */
	ck_epoch_synchronize_wait(&g_epoch, wait_yield, NULL);
	trp__tsan_acquire(&g_tsan_sync);
}
