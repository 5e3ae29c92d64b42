/*
 * troupe/error.h - error codes shared by every troupe call.
 *
 * Every function that can fail returns an int: 0 on success or one of the
 * negative TRP_E* codes below. trp_strerror() and trp_errname() never return
 * NULL, also for codes troupe does not know.
 *
 * Threads: every function in this header may be called from any thread.
 */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TROUPE_STATIC_DEFINE)
#define TRP_API
#elif defined(__GNUC__)
#define TRP_API __attribute__((visibility("default")))
#else
#define TRP_API
#endif

/*
 * X(name, value, text): the one table of error codes. Values are stable ABI:
 * append new codes, never renumber.
 */
#define TRP_ERRNO_MAP(X)                                                       \
	X(TRP_OK, 0, "success")                                                \
	X(TRP_EINVAL, -1, "invalid argument")                                  \
	X(TRP_ENOMEM, -2, "out of memory")                                     \
	X(TRP_EDEAD, -3, "actor has stopped")                                  \
	X(TRP_ENOENT, -4, "no actor registered under that name")               \
	X(TRP_EFULL, -5, "mailbox is full")                                    \
	X(TRP_EEXIST, -6, "already there (name registered, sink attached)")    \
	X(TRP_ENAMETOOLONG, -7, "name is too long")                            \
	X(TRP_EMSGSIZE, -8, "payload is too large")                            \
	X(TRP_ESHUTDOWN, -9, "runtime is shutting down")                       \
	X(TRP_ETIMEDOUT, -10, "timed out")                                     \
	X(TRP_EVERSION, -11, "unsupported configuration version")              \
	X(TRP_ESYSTEM, -12, "system call failed (threads, memory mapping)")    \
	X(TRP_EDEADLK, -13, "call would wait on the current worker thread")    \
	X(TRP_EPERM, -14, "operation not allowed from this thread or actor")   \
	X(TRP_EBUSY, -15,                                                      \
	  "busy (actor named already, name taken, port being drained)")        \
	X(TRP_ECLOSED, -16, "mailbox is closed")                               \
	X(TRP_ENOTREQUEST, -17, "message is not a request")                    \
	X(TRP_EANSWERED, -18, "request was answered already")                  \
	X(TRP_ENOREPLY, -19, "request was processed without a reply")          \
	X(TRP_ENOTCONN, -20, "node not connected or peer node unreachable")    \
	X(TRP_ENOTSUP, -21, "not supported in simulation mode (troupe/sim.h)")

/** Error codes returned (negated) by troupe functions. */
typedef enum trp_errno {
#define TRP__ERRNO_ENUM(name, value, text) name = (value),
	TRP_ERRNO_MAP(TRP__ERRNO_ENUM)
#undef TRP__ERRNO_ENUM
} trp_errno_t;

/** Human-readable text for a code ("unknown error" for unknown codes). */
TRP_API const char *trp_strerror(int err);

/** The code's symbolic name, e.g. "TRP_EFULL" ("TRP_E?" if unknown). */
TRP_API const char *trp_errname(int err);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_ERROR_H */
