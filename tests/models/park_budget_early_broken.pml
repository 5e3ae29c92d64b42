/*
 * park_budget_early_broken.pml - BROKEN variant of park_budget.pml; spin
 * must reject it with an invalid end state (a worker asleep forever with
 * work queued). The waker looks at the awake workers BEFORE it pushes the
 * work: it sees a worker awake and decides not to wake anyone; that worker
 * then finds no work, parks (its re-check still sees none) and sleeps;
 * the work is pushed after. The budget's look is sound only as the RMW
 * after the push (park.c, trp__wake_one).
 */
#define BROKEN_BUDGET_EARLY 1
#include "park.pml"
