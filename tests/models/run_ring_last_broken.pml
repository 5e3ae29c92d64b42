/*
 * run_ring_last_broken.pml - BROKEN variant of run_ring_last.pml; spin must
 * reject it (an assertion: an item taken twice).
 *
 * The owner's pop takes the head item with a plain store head = h + 1
 * instead of CAS(head, h, h + 1). On the last item the owner and a thief
 * both read the same h; the thief's CAS succeeds and the owner's store
 * succeeds too, so both run the same actor. Otherwise identical to
 * run_ring_last.pml (compiled with BROKEN_OWNER_POP).
 */
#define BROKEN_OWNER_POP 1
#include "run_ring_last.pml"
