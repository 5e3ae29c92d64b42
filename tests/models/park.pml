/*
 * park.pml - worker parking on an event count (futex word `seq`) with a
 * `sleepers` counter, and runtime shutdown (troupe's workers: see
 * include/troupe/runtime.h, "idle workers ... park on an event count").
 *
 * Checked (exhaustively, 2 workers, 2 wakers x 1 work item, 1 destroyer,
 * spin's default safety checks incl. invalid end states):
 *   - no lost wake-up: if the destroyer waits until all work is consumed
 *     (trp_runtime_wait_idle) before shutting down, it is never stuck with
 *     work queued and every worker asleep forever; such a state would be an
 *     invalid end state (the destroyer's wait and the futex waits are not
 *     end states);
 *   - shutdown always terminates every worker, also when it races with
 *     wakers, workers going to sleep and work still queued (the destroyer
 *     may also shut down at any moment without waiting);
 *   - at the end all work was consumed, unless shutdown came early.
 *
 * Mapping to the C code (`work` = items queued in any run queue, i.e. the
 * "any queue has work" poll of all deques/injection queue):
 *   Worker  park loop:  if (shutdown) exit; take work if any, run it;
 *           else snap = seq; sleepers++;
 *                if (any queue has work || shutdown) { sleepers--; loop }
 *                futex_wait(&seq, snap); sleepers--; loop.
 *   Waker   a sender making work available from another thread:
 *           push work; seq_cst fence; if (sleepers > 0) { seq++;
 *           futex_wake(&seq, 1) }.
 *   Destroyer  trp_runtime_destroy: shutdown = 1 (sticky); seq++;
 *           futex_wake(&seq, INT_MAX).
 *   futex_wait is atomic compare-and-block: returns at once if seq != snap,
 *   else joins the wait queue and blocks until a futex_wake removes it.
 *   futex_wake(1) wakes one waiter (chosen nondeterministically), or none
 *   if nobody is in the wait queue; wake-all wakes every waiter. Spurious
 *   wake-ups are not modelled (they only add re-checks).
 *   Spinners (park.h, "Spinners"): a worker with nothing to do may first
 *           poll as a spinner: spinners++; if it finds work it takes it,
 *           spinners-- and loops; else it parks, turning spinner into
 *           sleeper with ONE read-modify-write of the shared word
 *           (sleepers++, spinners-- together) before the re-check. A
 *           waker reads both counts in one RMW: it wakes only if some
 *           worker sleeps and none spins (a spinner finds the work in its
 *           poll or in its park's re-check).
 *   Budget (park.h, "Budget"; BUDGET, park_budget.pml): while outside
 *           publishers fill the CPUs, the waker also skips its wake when
 *           some worker is awake (not counted in sleepers); with as many
 *           CPUs as workers and one publisher, the strictest form: it
 *           wakes only when every worker sleeps. Not modelled: the
 *           surplus bells (they only add wake-ups), the watchdog's timed
 *           parks (held_back: a timed park that runs out and looks again
 *           is a spurious wake-up here), and parking without polling (a
 *           worker here may always choose not to spin).
 * Semantics are sequentially consistent (Promela interleaving), which is
 * what the seq_cst fences / seq_cst RMWs on sleepers and seq provide.
 * BROKEN_LATE_SNAP / BROKEN_LATE_SLEEPERS / BROKEN_SPIN_NO_RECHECK /
 * BROKEN_BUDGET_EARLY select the broken variants.
 */

#define NWORKERS 2          /* futex_wake_one below is written for 2 */
#define NWAKERS  2
#define NITEMS   1          /* per waker */
#define NTOTAL   (NWAKERS * NITEMS)

byte work;                  /* items queued, any queue */
byte consumed;
byte seq;                   /* the event count / futex word */
byte sleepers;
byte spinners;              /* the high half of the same word */
bit  shutdown;
bit  waiting[NWORKERS];     /* in the kernel's futex wait queue */
bit  early;                 /* destroyer did not wait for idle */

inline futex_wait(snap)
{
	atomic {
		if
		:: seq != snap -> skip                  /* EAGAIN */
		:: else ->
			waiting[me] = 1;
			waiting[me] == 0                    /* blocked until woken */
		fi
	}
}

inline futex_wake_one()
{
	atomic {
		if
		:: waiting[0] -> waiting[0] = 0
		:: waiting[1] -> waiting[1] = 0
		:: else -> skip
		fi
	}
}

inline futex_wake_all()
{
	atomic { waiting[0] = 0; waiting[1] = 0 }
}

#ifdef BROKEN_LATE_SLEEPERS
#define UNANNOUNCE skip         /* not yet counted in sleepers */
#else
#define UNANNOUNCE sleepers--
#endif

proctype Worker(byte me)
{
	byte snap;
	bit spinning;
loop:
	if
	:: shutdown -> goto out
	:: else
	fi;
	if
	:: atomic { work > 0 -> work--; consumed++ }; goto loop   /* run it */
	:: else
	fi;
	/* spin first, or not (the late-snapshot/announce variants do not
	 * spin: their bug needs no spinner) */
#if !defined(BROKEN_LATE_SNAP) && !defined(BROKEN_LATE_SLEEPERS)
	if
	:: spinning = 1; spinners++
	:: skip
	fi;
#endif
	if
	:: spinning ->
		if
		:: atomic { work > 0 -> work--; consumed++ };
			spinners--; spinning = 0; goto loop
		:: else
		fi
	:: else
	fi;
	/* park */
#if defined(BROKEN_SPIN_NO_RECHECK)
	if
	:: spinning ->              /* BROKEN: "we just polled": no re-check */
		snap = seq;
		atomic { sleepers++; spinners-- };
		spinning = 0;
		goto sleep
	:: else
	fi;
#endif
#if !defined(BROKEN_LATE_SNAP) && !defined(BROKEN_LATE_SLEEPERS)
	snap = seq;
	atomic { sleepers++; if :: spinning -> spinners-- :: else fi };
	spinning = 0;
#elif defined(BROKEN_LATE_SNAP)
	sleepers++;
#else
	snap = seq;
#endif
	if
	:: work > 0 -> UNANNOUNCE; goto loop
	:: else
	fi;
	if
	:: shutdown -> UNANNOUNCE; goto loop
	:: else
	fi;
#if defined(BROKEN_LATE_SNAP)
	snap = seq;                 /* BROKEN: snapshot after the checks */
#elif defined(BROKEN_LATE_SLEEPERS)
	sleepers++;                 /* BROKEN: announce after the checks */
#endif
#if defined(BROKEN_SPIN_NO_RECHECK)
sleep:
#endif
	futex_wait(snap);
	sleepers--;
	snap = 0;
	goto loop;
out:
	skip
}

proctype Waker()
{
	byte i;
	i = 0;
	bit wake;
	do
	:: i < NITEMS ->
#ifdef BROKEN_BUDGET_EARLY
		/* BROKEN: the budget's look at the awake workers before the
		 * push: one that was awake may park, its re-check finding
		 * nothing, before the work is there */
		wake = sleepers == NWORKERS && spinners == 0;
		work++;
#else
		work++;                     /* push work, then seq_cst fence */
		/* one RMW reads both counts */
#ifdef BUDGET
		wake = sleepers == NWORKERS && spinners == 0;
#else
		wake = sleepers > 0 && spinners == 0;
#endif
#endif
		if
		:: wake ->
			seq++;
			futex_wake_one()
		:: else
		fi;
		i++
	:: else -> break
	od
}

proctype Destroyer()
{
	/* commit to a choice first, so the wait cannot be abandoned later */
	if
	:: skip                     /* wait_idle first ... */
	:: early = 1                /* or destroy at any moment */
	fi;
	if
	:: !early -> consumed == NTOTAL   /* ... blocks until all work done */
	:: else
	fi;
	shutdown = 1;
	seq++;
	futex_wake_all()
}

init {
	byte i;
	atomic {
		i = 0;
		do
		:: i < NWORKERS -> run Worker(i); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NWAKERS -> run Waker(); i++
		:: else -> break
		od;
		run Destroyer()
	};
	/* every other process has terminated */
	_nr_pr == 1;
	assert(shutdown && sleepers == 0 && !waiting[0] && !waiting[1]);
	assert(spinners == 0);
	assert(early || (consumed == NTOTAL && work == 0))
}
