/*
 * mailbox_idle.pml - the actor mailbox of core/mailbox.h: an intrusive
 * Vyukov MPSC queue whose head pointer carries the Pony "idle" tag (bit 0 of
 * mb->head = "empty and not scheduled").
 *
 * Checked (exhaustively, 2 producers x 2 messages, 2 workers that run turns;
 * mailbox_idle_3p.pml reruns it with 3 producers x 1 message):
 *   (a) every pushed message is consumed exactly once, in per-producer FIFO
 *       order, and at quiescence consumed == produced;
 *   (b) the actor is never scheduled twice: queued turn tokens + running
 *       turns <= 1 at every schedule, and no two workers are ever inside a
 *       turn at the same time;
 *   (c) no lost scheduling: when nothing can move any more (spin `timeout`),
 *       the mailbox is idle-tagged, empty (head == tail == stub, stub.next
 *       == NULL) and nobody is scheduled; so there is never a quiescent
 *       state with a message queued and no turn pending.
 *   Plus: the tag is never seen set while a turn is running, and the
 *   consumer's own stub push never sees the tag.
 *
 * Mapping to the C code (pointers are small indices; node 0 = mb->stub,
 * NIL = NULL; the head pointer and its tag bit are two variables that are
 * always read/written together in one atomic step, like the uintptr_t):
 *   push(n)        trp__mailbox_push_mp: n->next = NULL;
 *                  prev = atomic_exchange(&mb->head, n)  (new head untagged);
 *                  was_idle = prev & 1; prev->next = n (a separate store:
 *                  the exchange-to-link window is modelled). A producer
 *                  that saw the tag schedules the actor (sends a token on
 *                  runq, standing for the workers' run queues).
 *   pop(n)         trp__mailbox_pop_sc (classic Vyukov pop with a stub that
 *                  is re-pushed when the last real node leaves; returns NULL
 *                  when empty or while a producer is between exchange and
 *                  link, i.e. "busy").
 *   mark idle      trp__mailbox_mark_idle_sc: fails unless tail == stub and
 *                  stub.next == NULL, then CAS(head, stub, stub|1). The turn
 *                  ends at a successful CAS (the worker no longer touches
 *                  the actor); on failure the worker reschedules the actor.
 *   Worker         a worker thread running one actor turn per token. A turn
 *                  may stop after any message (batch limit / the
 *                  snapshot_sc turn bound), then tries mark idle.
 *
 * Semantics are sequentially consistent (Promela interleaving); the C code's
 * acquire/release orderings are not modelled, only the atomicity of each
 * access. Build with -DBROKEN_MARK_IDLE for the broken variant (see
 * mailbox_idle_broken.pml).
 */

#ifndef NPROD
#define NPROD    2
#endif
#ifndef NMSG
#define NMSG     2                        /* messages per producer */
#endif
#define NTOTAL   (NPROD * NMSG)
#define NNODES   (1 + NTOTAL)
#define NWORKERS 2
#define STUB     0
#define NIL      255

byte head = STUB;       /* mb->head pointer part */
bit  tag  = 1;          /* mb->head bit 0: idle (mailbox created idle) */
byte tail = STUB;       /* mb->tail, consumer only */
byte next[NNODES];      /* node->next */

chan runq = [2] of { bit };   /* pending turns (the actor on a run queue) */
byte inturn;                  /* workers currently running a turn */
byte consumed;
byte expect[NPROD];           /* next sequence number expected per producer */

/* A producer or the consumer (stub re-push) enqueues node nd. */
inline push(nd, prv, was_idle)
{
	next[nd] = NIL;
	d_step {                        /* atomic_exchange(&mb->head, nd) */
		prv = head;
		was_idle = tag;
		head = nd;
		tag = 0
	};
	next[prv] = nd                  /* prev->next = nd (link store) */
}

inline schedule()
{
	atomic {
		runq!1;
		assert(len(runq) + inturn <= 1)   /* (b) never scheduled twice */
	}
}

proctype Producer(byte p)
{
	byte i, n, prev;
	bit was_idle;

	i = 0;
	do
	:: i < NMSG ->
		n = 1 + p * NMSG + i;
		push(n, prev, was_idle);
		if
		:: was_idle -> schedule()
		:: else
		fi;
		i++
	:: else -> break
	od
}

/* trp__mailbox_pop_sc: res = popped node or NIL (empty or busy). */
inline pop(res)
{
	t = tail;
	nx = next[t];
	if
	:: t == STUB ->
		if
		:: nx == NIL -> res = NIL; goto popped          /* empty */
		:: else -> tail = nx; t = nx; nx = next[nx]    /* skip stub */
		fi
	:: else
	fi;
	if
	:: nx != NIL -> tail = nx; res = t; goto popped
	:: else
	fi;
	atomic { h = head; assert(tag == 0) };  /* no tag while in a turn */
	if
	:: t != h -> res = NIL; goto popped              /* busy: mid-push */
	:: else
	fi;
	push(STUB, prev, was_idle);             /* last node: re-queue stub */
	assert(!was_idle);
	nx = next[t];
	if
	:: nx != NIL -> tail = nx; res = t
	:: else -> res = NIL
	fi;
popped:
	skip
}

proctype Worker()
{
	byte t, nx, h, prev, n, p;
	bit was_idle, ok;

end_wait:
	do
	:: runq?_ ->
		atomic { inturn++; assert(inturn == 1) };
		/* the turn: process messages */
		do
		:: pop(n);
			if
			:: n == NIL -> break
			:: else
			fi;
			/* behaviour runs: check exactly-once, per-producer FIFO */
			atomic {
				assert(n >= 1 && n <= NTOTAL);
				p = (n - 1) / NMSG;
				assert((n - 1) % NMSG == expect[p]);
				expect[p]++;
				consumed++;
				n = 0; p = 0
			};
			if
			:: skip            /* keep going */
			:: break           /* batch limit / turn bound reached */
			fi
		od;
		/* trp__mailbox_mark_idle_sc */
#ifndef BROKEN_MARK_IDLE
		if
		:: tail == STUB && next[STUB] == NIL ->
			atomic {            /* CAS(head, stub, stub|1); turn ends */
				if
				:: head == STUB && tag == 0 ->
					tag = 1; inturn--; ok = 1
				:: else -> ok = 0
				fi
			}
		:: else -> ok = 0
		fi;
#else
		/* BROKEN: check emptiness, then set the tag with a plain store */
		if
		:: tail == STUB && next[STUB] == NIL && head == STUB ->
			atomic { head = STUB; tag = 1; inturn--; ok = 1 }
		:: else -> ok = 0
		fi;
#endif
		if
		:: !ok -> atomic { inturn--; runq!1 }   /* reschedule self */
		:: else
		fi;
		t = 0; nx = 0; h = 0; prev = 0; was_idle = 0; ok = 0
	od
}

/* (c) at quiescence: idle, empty, nothing scheduled, everything consumed */
proctype Quiesce()
{
	timeout ->
	assert(consumed == NTOTAL);
	assert(tag == 1 && head == STUB);
	assert(tail == STUB && next[STUB] == NIL);
	assert(len(runq) == 0 && inturn == 0)
}

init {
	byte i;
	atomic {
		i = 0;
		do
		:: i < NNODES -> next[i] = NIL; i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NPROD -> run Producer(i); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NWORKERS -> run Worker(); i++
		:: else -> break
		od;
		run Quiesce()
	}
}
