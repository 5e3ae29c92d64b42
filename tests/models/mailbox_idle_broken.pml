/*
 * mailbox_idle_broken.pml - BROKEN variant of mailbox_idle.pml; spin must
 * reject it (check.sh requires an assertion violation).
 *
 * mark_idle checks that the queue is empty (head == the node last taken)
 * and then sets the tag with a plain store of stub|1 instead of
 * CAS(head, last, stub|1). A producer whose exchange lands between the
 * check and the store sees an untagged head (so does not schedule) and
 * links behind `last`, which the store has just handed back as done (d);
 * or its node is erased from head and never taken (a), (c). Everything
 * else is identical: the model is mailbox_idle.pml compiled with
 * BROKEN_MARK_IDLE.
 */
#define BROKEN_MARK_IDLE 1
#include "mailbox_idle.pml"
