/*
 * run_ring_last_cap4.pml - run_ring_last.pml with a 4-slot ring and 4 items, so
 * that steal-half takes two items in one CAS while the owner races for the
 * head (and the ring still wraps when the owner pops before pushing all).
 * Same properties and mapping as run_ring_last.pml.
 */
#define CAP    4
#define NITEMS 4
#include "run_ring_last.pml"
