/*
 * port_wake_broken.pml - BROKEN variant of port_wake.pml; spin must
 * reject it (check.sh requires an assertion violation).
 *
 * The drain reads (clears) the eventfd after draining instead of before.
 * A push that finds the tag just after the drain's mark idle writes the
 * eventfd; the drain's late read swallows that write, epoll drops the
 * event it queued (the fd is no longer readable when it is collected),
 * and the message waits in a busy mailbox that no push will signal again:
 * a lost wake-up, found at quiescence (not everything was handled).
 * Everything else is identical: the model is port_wake.pml compiled with
 * BROKEN_CLEAR_AFTER.
 */
#define BROKEN_CLEAR_AFTER 1
#include "port_wake.pml"
