/*
 * mailbox_idle_stubreset_broken.pml - BROKEN variant of mailbox_idle.pml;
 * spin must reject it (check.sh requires an assertion violation).
 *
 * mark_idle resets the consumer side (tail = stub, stub.next = NIL) before
 * its CAS even when the stub is the tail - that is, while the stub is still
 * in the queue (an actor that begins scheduled, a thread actor, a turn that
 * took nothing since the last idle period). A producer whose exchange and
 * link both land between the pre-check (head == stub) and the reset has its
 * link erased: the CAS then fails (head moved), the tail is "restored" to
 * the stub whose next is NIL, and the message can never be taken - the
 * consumer reschedules itself forever. Caught by (e): the failed CAS finds
 * neither a link behind the stub nor a producer about to store one.
 * Everything else is identical: mailbox_idle.pml compiled with
 * BROKEN_STUB_RESET.
 */
#define BROKEN_STUB_RESET 1
#include "mailbox_idle.pml"
