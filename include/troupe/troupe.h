/*
 * troupe/troupe.h - the umbrella header: include this one.
 *
 * troupe is a lock-free actor runtime: per-core workers with work-stealing
 * run queues, lock-free multi-producer mailboxes, named actors, exchanges.
 * See runtime.h, actor.h, names.h, exchange.h, future.h, monitor.h,
 * supervisor.h, thread_actor.h, port.h, metrics.h and error.h.
 */
#ifndef TROUPE_TROUPE_H
#define TROUPE_TROUPE_H

#include "error.h"
#include "runtime.h"
#include "actor.h"
#include "names.h"
#include "exchange.h"
#include "future.h"
#include "thread_actor.h"
#include "port.h"
#include "pool.h"
#include "timer.h"
#include "monitor.h"
#include "supervisor.h"
#include "metrics.h"

#define TROUPE_VERSION_MAJOR 0
#define TROUPE_VERSION_MINOR 1
#define TROUPE_VERSION_PATCH 0

#endif /* TROUPE_TROUPE_H */
