/*
 * port_wake_3p.pml - port_wake.pml with 3 producers x 1 message: three
 * pushes may race the drain's mark idle and each other's exchange-to-link
 * windows at once.
 */
#define NPROD 3
#define NMSG 1
#include "port_wake.pml"
