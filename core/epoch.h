/*
 * core/epoch.h - the one owner of Concurrency Kit epoch records.
 *
 * One process-wide ck_epoch; each thread that reads an RCU-protected
 * structure gets its own record on first use (recycled from exited threads,
 * never freed, as ck requires). Writers wait for a grace period with
 * trp__epoch_synchronize() on cold paths.
 *
 * ThreadSanitizer cannot see ck's inline assembly, so in TSan builds a
 * section's exit releases, and a grace period's end acquires, one shared
 * sync object: everything a reader did in its section happens-before the
 * writer frees what the reader saw.
 *
 * Concurrency: any thread. Sections nest. trp__epoch_synchronize must not
 * be called inside a section.
 */
#ifndef TRP_CORE_EPOCH_H
#define TRP_CORE_EPOCH_H

#include <stdbool.h>

/* Enters a read section. 0 or TRP_ENOMEM (first use on this thread). */
int trp__epoch_enter(void);
/* Leaves the section entered by the matching trp__epoch_enter. */
void trp__epoch_exit(void);
/* True if the calling thread is inside a section (then it must not wait
 * for a grace period: it would wait for itself). */
bool trp__epoch_in_section(void);
/* Waits until every section that began before this call has ended. */
void trp__epoch_synchronize(void);

#endif /* TRP_CORE_EPOCH_H */
