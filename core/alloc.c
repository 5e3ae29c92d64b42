/*
 * core/alloc.c - the one caller of the memory allocator.
 *
 * jemalloc (mallocx/sdallocx) when TRP_USE_JEMALLOC, else the system
 * allocator (sanitizer builds, so ASan sees every block). Also the one
 * place that frees the application's memory (trp__app_free).
 *
 * No arena or tcache flags, no mallctl, no malloc_conf: jemalloc's settings
 * are the application's (MALLOC_CONF). Measured for issue 4 (peak RSS,
 * medians of 5 runs, 2 workers): the first mallctl of a process builds
 * jemalloc's control structures (about 200 KiB resident), so a troupe arena
 * (arenas.create + MALLOCX_ARENA) or binding the workers to one arena
 * (thread.arena) added 250 KiB on pingpong and ring and saved only
 * 200-250 KiB on fanin and storm; MALLOCX_TCACHE_NONE for blocks over 4 KiB
 * changed nothing. See docs/profiling.md, "Where the memory goes".
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#if defined(TRP_USE_JEMALLOC)
#include <jemalloc/jemalloc.h>
#endif

/*
 * Failure injection. fail_nth == 0: disarmed, and allocations do not even
 * count (no shared write on the allocation path). Armed: every attempt
 * increments `attempts`; the one that reaches fail_nth fails and disarms.
 * Relaxed is enough: tests arm and read these from one thread around a
 * scenario whose threads are joined or quiescent in between.
 */
static _Atomic(uint64_t) fail_nth;
static _Atomic(uint64_t) attempts;

void trp__alloc_fail_nth(uint64_t k)
{
	uint64_t now = atomic_load_explicit(&attempts, memory_order_relaxed);
	/* Saturate: a wrapped target of 0 would read as "disarmed". */
	uint64_t target =
		k == 0 ? 0 : (k > UINT64_MAX - now ? UINT64_MAX : now + k);
	atomic_store_explicit(&fail_nth, target, memory_order_relaxed);
}

uint64_t trp__alloc_attempts(void)
{
	return atomic_load_explicit(&attempts, memory_order_relaxed);
}

static bool injected_failure(void)
{
	uint64_t target = atomic_load_explicit(&fail_nth, memory_order_relaxed);
	if (trp__likely(target == 0))
		return false;
	uint64_t n =
		atomic_fetch_add_explicit(&attempts, 1, memory_order_relaxed) +
		1;
	if (n != target)
		return false;
	atomic_store_explicit(&fail_nth, 0, memory_order_relaxed);
	return true;
}

void *trp__alloc(size_t size)
{
	if (injected_failure())
		return NULL;
	if (size == 0)
		size = 1;
#if defined(TRP_USE_JEMALLOC)
	return mallocx(size, 0);
#else
	return malloc(size);
#endif
}

void *trp__calloc(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if (injected_failure())
		return NULL;
	size_t total = n * size;
	if (total == 0)
		total = 1;
#if defined(TRP_USE_JEMALLOC)
	return mallocx(total, MALLOCX_ZERO);
#else
	return calloc(1, total);
#endif
}

void *trp__alloc_aligned(size_t align, size_t size)
{
	if (injected_failure())
		return NULL;
	if (size == 0)
		size = 1;
	size = (size + align - 1) & ~(align - 1);
#if defined(TRP_USE_JEMALLOC)
	return mallocx(size, MALLOCX_ALIGN(align));
#else
	return aligned_alloc(align, size);
#endif
}

void trp__free(void *p, size_t size)
{
	if (p == NULL)
		return;
#if defined(TRP_USE_JEMALLOC)
	(void)size;
	dallocx(p, 0);
#else
	(void)size;
	free(p);
#endif
}

/*
 * free() here is the process's free in every build, and that is the build's
 * doing, not this function's: sanitizer and TROUPE_USE_JEMALLOC=OFF builds
 * have no other; a libtroupe.a user links jemalloc into the process, so it
 * is the application's malloc too; libtroupe.so with jemalloc linked
 * dynamically finds free() in the global scope, as the application does;
 * and libtroupe.so with jemalloc's archive inside links a copy whose
 * malloc/free are renamed (CMakeLists.txt), so this call stays undefined
 * in the .so and the dynamic linker binds it where the application's binds.
 * tests/api/shared_symbols.cmake checks that the .so defines no free().
 */
void trp__app_free(void *p)
{
	free(p);
}
