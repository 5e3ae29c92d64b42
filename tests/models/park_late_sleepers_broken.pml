/*
 * park_late_sleepers_broken.pml - BROKEN variant of park.pml; spin must
 * reject it with an invalid end state (a deadlock).
 *
 * The worker announces itself (sleepers++) only AFTER checking the queues.
 * A waker that pushes work between the check and the increment sees
 * sleepers == 0 and neither bumps seq nor wakes; the worker then sleeps
 * with seq == snap forever. Otherwise identical to park.pml (compiled with
 * BROKEN_LATE_SLEEPERS).
 */
#define BROKEN_LATE_SLEEPERS 1
#include "park.pml"
