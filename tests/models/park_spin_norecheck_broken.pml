/*
 * park_spin_norecheck_broken.pml - BROKEN variant of park.pml; spin must
 * reject it with an invalid end state (a deadlock: a worker asleep
 * forever).
 *
 * A spinner that found nothing parks without the re-check ("it has just
 * polled every queue"). A waker that pushes work after the spinner's last
 * poll but before its sleepers/spinners RMW still sees it spinning and
 * skips the wake; the spinner then sleeps with the work queued. The
 * re-check after the RMW is what makes skipping the wake safe. Otherwise
 * identical to park.pml (compiled with BROKEN_SPIN_NO_RECHECK).
 */
#define BROKEN_SPIN_NO_RECHECK 1
#include "park.pml"
