/*
 * port_wake_nosignal_broken.pml - BROKEN variant of port_wake.pml; spin
 * must reject it (check.sh requires an assertion violation).
 *
 * A drain that stops at its budget with mail left does not write the
 * eventfd. The mailbox stays busy (it was not marked idle), so no push
 * signals either, and under EPOLLET the loop never hears of the rest: a
 * lost wake-up, found at quiescence. (A level-triggered loop would be
 * saved by an earlier write still pending, but only by luck.) Everything
 * else is identical: the model is port_wake.pml compiled with
 * BROKEN_NO_RESIGNAL.
 */
#define BROKEN_NO_RESIGNAL 1
#include "port_wake.pml"
