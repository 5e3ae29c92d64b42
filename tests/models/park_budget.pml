/*
 * park_budget.pml - park.pml with the wake budget (park.h, "Budget") in
 * its strictest form: a waker wakes a parked worker only when every worker
 * sleeps (one outside publisher, as many CPUs as workers). Must verify: no
 * lost wake-up, shutdown terminates, all work consumed - a worker that is
 * awake when the waker skips its wake either runs the work or parks after
 * the waker's RMW, and its re-check sees the work (the spinner argument).
 */
#define BUDGET 1
#include "park.pml"
