/*
 * core/alloc.h - the one place troupe allocates memory.
 *
 * Release builds use jemalloc (mallocx/sdallocx); sanitizer builds use the
 * system allocator so ASan sees every block. Every allocation may fail:
 * callers return TRP_ENOMEM, never abort.
 *
 * Two allocators meet at the API boundary: troupe's (above, jemalloc and
 * private to libtroupe.so) and the application's (whatever malloc() is in
 * the process). Memory crossing the boundary is freed by the allocator
 * that made it: trp__free only what trp__alloc* returned, trp__app_free
 * only what the application's malloc returned. No public API hands the
 * application memory it must free.
 *
 * Test hook: trp__alloc_fail_nth(k) makes the k-th allocation from now fail
 * (k >= 1; 0 disables), so a test can fail every allocation site of a
 * scenario in turn.
 *
 * Concurrency: every function may be called from any thread.
 */
#ifndef TRP_CORE_ALLOC_H
#define TRP_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Uninitialized block of @size bytes, 16-byte aligned; NULL on failure. */
void *trp__alloc(size_t size);
/* Zeroed block; NULL on failure or overflow. */
void *trp__calloc(size_t n, size_t size);
/* Block aligned to @align (a power of two); NULL on failure. */
void *trp__alloc_aligned(size_t align, size_t size);
/* Frees a block from the functions above; @size is its size or 0. */
void trp__free(void *p, size_t size);

/*
 * Frees @p, a block the application allocated with the C library's malloc
 * family (malloc, calloc, realloc, aligned_alloc, posix_memalign): the
 * process's free(), the one the application's malloc() pairs with, never
 * troupe's private jemalloc. The default free of trp_send_owned(). NULL is
 * a no-op. The only way core/ frees memory it did not allocate.
 */
void trp__app_free(void *p);

/* Fails the @k-th allocation from now (1 = the next); 0 disables. */
void trp__alloc_fail_nth(uint64_t k);
/* Number of allocation attempts so far (for sizing failure tests). */
uint64_t trp__alloc_attempts(void);

#endif /* TRP_CORE_ALLOC_H */
