/*
 * mailbox_idle_broken.pml - BROKEN variant of mailbox_idle.pml; spin must
 * reject it (check.sh requires an assertion violation).
 *
 * mark_idle checks that the queue is empty (tail == stub, stub.next == NULL,
 * head == stub) and then sets the tag with a plain store of stub|1 instead
 * of CAS(head, stub, stub|1). A producer whose exchange lands between the
 * check and the store sees an untagged head (so does not schedule), and its
 * node is then erased from head by the store; the next push sees the tag
 * and overwrites stub.next, so a message is lost (or the actor is left idle
 * with a message queued). Everything else is identical: the model is
 * mailbox_idle.pml compiled with BROKEN_MARK_IDLE.
 */
#define BROKEN_MARK_IDLE 1
#include "mailbox_idle.pml"
