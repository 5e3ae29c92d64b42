/*
 * park_broken.pml - BROKEN variant of park.pml; spin must reject it with an
 * invalid end state (a deadlock: a worker asleep forever).
 *
 * The worker takes its snapshot `snap = seq` AFTER checking the queues. A
 * waker that pushes work and bumps seq between the check and the snapshot
 * is missed: the worker found the queues empty, then snapshots the already
 * bumped seq and sleeps in futex_wait with seq == snap; nobody will bump seq
 * again. The same window also loses the shutdown wake-up (the destroyer's
 * seq++ lands between the shutdown check and the snapshot), which is the
 * shortest counterexample spin reports: a worker asleep forever after
 * shutdown. Otherwise identical to park.pml (compiled with
 * BROKEN_LATE_SNAP).
 */
#define BROKEN_LATE_SNAP 1
#include "park.pml"
