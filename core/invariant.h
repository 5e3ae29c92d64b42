/*
 * core/invariant.h - trp__assert: the invariants the comments state,
 * checked where they are cheap to check.
 *
 * Checked in debug and sanitizer builds (no NDEBUG, or TRP_SANITIZE_*),
 * compiled out in release builds: there the expression is not evaluated
 * (write none with side effects). A failed check is a bug in troupe, not a
 * user error: it prints the expression and where, then aborts. User errors
 * are error codes, never assertions.
 *
 * Layouts that matter are checked at compile time with static_assert next
 * to the struct (cache-line groups, the message header size).
 */
#ifndef TRP_CORE_INVARIANT_H
#define TRP_CORE_INVARIANT_H

#include <assert.h> /* static_assert */

#if !defined(NDEBUG) || defined(TRP_SANITIZE_ADDRESS) ||                       \
	defined(TRP_SANITIZE_THREAD)
#define TRP__CHECKED 1
__attribute__((noreturn, cold)) void
trp__assert_fail(const char *expr, const char *file, int line);
#define trp__assert(e)                                                         \
	(__builtin_expect(!(e), 0) ?                                           \
		 trp__assert_fail(#e, __FILE__, __LINE__) :                    \
		 (void)0)
#else
#define TRP__CHECKED 0
#define trp__assert(e) ((void)sizeof(e))
#endif

#endif /* TRP_CORE_INVARIANT_H */
