/*
 * mailbox_idle_3p.pml - mailbox_idle.pml with 3 producers x 1 message each,
 * so that three exchanges race on one idle period (or on the first turn of
 * an actor that begins scheduled): exactly one of them must see the tag and
 * schedule the actor, and none of the three messages may be stranded.
 * Same properties and mapping as mailbox_idle.pml.
 */
#define NPROD 3
#define NMSG  1
#include "mailbox_idle.pml"
