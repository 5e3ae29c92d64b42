/*
 * mailbox_idle.pml - the actor mailbox of core/mailbox.h with keep-last
 * consumption (Pony's messageq): an intrusive Vyukov MPSC queue whose head
 * pointer carries the Pony "idle" tag (bit 0 of mb->head = "empty and not
 * scheduled"); the consumer takes nodes without detaching them (the node
 * taken last stays in the queue as its tail) and goes idle with one CAS
 * that swings head from that last node to the stub.
 *
 * Checked (exhaustively, 2 producers x 2 messages, 2 workers that run turns;
 * mailbox_idle_3p.pml reruns it with 3 producers x 1 message):
 *   (a) every pushed message is taken exactly once, in per-producer FIFO
 *       order, and at quiescence consumed == produced;
 *   (b) the actor is never scheduled twice: queued turn tokens + running
 *       turns <= 1 at every schedule, and no two workers are ever inside a
 *       turn at the same time;
 *   (c) no lost scheduling: when nothing can move any more (spin `timeout`),
 *       the mailbox is idle-tagged and empty (head == tail == stub,
 *       stub.next == NIL), nobody is scheduled, everything was consumed and
 *       every node was handed back as "done";
 *   (d) hand-back safety: a node handed back as done (by take, or by a
 *       successful mark idle) is never linked behind by a producer, never
 *       taken, and never handed back twice;
 *   (e) a failed mark idle has a reason: a node is linked behind the last
 *       one taken, or a producer has exchanged head past it and not linked
 *       yet. (A failure without a reason means a message became unreachable:
 *       the consumer would then reschedule itself forever, a livelock that a
 *       safety search could not see as such.)
 *   Plus: the tag is never seen set while a turn is running.
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
 *   take(n)        trp__mailbox_take_sc: nx = tail->next (one load); if
 *                  non-NIL it becomes the tail and is returned, and the old
 *                  tail (unless it is the stub) is handed back as done.
 *                  NIL: empty, or a producer is between exchange and link.
 *   mark idle      trp__mailbox_mark_idle_sc (tag_if_empty): last = tail;
 *                  relaxed pre-check head == last (fail if not); if last is
 *                  not the stub, reset tail = stub and stub.next = NIL; then
 *                  CAS(head, last, stub|1): on success the turn ends (the
 *                  worker no longer touches the actor) and last is handed
 *                  back as done; on failure tail = last again and the
 *                  worker reschedules the actor.
 *   Worker         a worker thread running one actor turn per token. A turn
 *                  may end before any take and after any message (snapshot
 *                  turn bound, batch limit), then marks idle.
 *   Start          the actor begins either idle (the first push schedules
 *                  it) or scheduled with an empty mailbox (an actor with a
 *                  start hook; a thread actor): then a turn marks idle with
 *                  the stub as the tail while producers push.
 *
 * Not modelled: node reuse (the ghost freed[] flags stand for it: a node
 * once freed would be reused by its owner at once), the closed tag (same
 * code as the idle tag), the C11 orderings (Promela interleaving is
 * sequentially consistent; only the atomicity of each access is modelled).
 *
 * Broken variants (check.sh requires spin to reject them):
 *   BROKEN_MARK_IDLE    mailbox_idle_broken.pml: the tag is set with a plain
 *                       store after the emptiness check instead of a CAS.
 *   BROKEN_STUB_RESET   mailbox_idle_stubreset_broken.pml: mark idle resets
 *                       stub.next even when the stub is the tail.
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
bit  tag;               /* mb->head bit 0: idle (set in init) */
byte tail = STUB;       /* mb->tail, consumer only */
byte next[NNODES];      /* node->next */

/* ghosts */
bit  freed[NNODES];     /* handed back as done: the queue must let go */
bit  linking[NNODES];   /* a producer exchanged past it, link not stored */

chan runq = [2] of { bit };   /* pending turns (the actor on a run queue) */
byte inturn;                  /* workers currently running a turn */
byte consumed;
byte expect[NPROD];           /* next sequence number expected per producer */

/* A producer enqueues node nd. */
inline push(nd, prv, was_idle)
{
	next[nd] = NIL;
	d_step {                        /* atomic_exchange(&mb->head, nd) */
		prv = head;
		was_idle = tag;
		head = nd;
		tag = 0;
		linking[prv] = 1
	};
	d_step {                        /* prev->next = nd (link store) */
		assert(!freed[prv]);    /* (d) never behind a done node */
		next[prv] = nd;
		linking[prv] = 0
	}
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

/* Hands node nd back as done (the caller's *done), unless it is the stub. */
inline hand_back(nd)
{
	if
	:: nd != STUB ->
		assert(!freed[nd]);     /* (d) handed back once */
		freed[nd] = 1
	:: else
	fi
}

/* trp__mailbox_take_sc: res = the node taken, or NIL (empty or busy). */
inline take(res)
{
	nx = next[tail];                /* acquire load of tail->next */
	if
	:: nx == NIL -> res = NIL
	:: else ->
		d_step {                /* consumer-private from here on */
			assert(!freed[nx]);     /* (d) never take a done node */
			hand_back(tail);
			tail = nx
		};
		res = nx
	fi
}

/* (e): why a mark idle with tail == last may legitimately fail. */
#define FAIL_HAS_REASON(last) (next[last] != NIL || linking[last])

/* trp__mailbox_mark_idle_sc: ok = 1 if the turn ended idle. */
inline mark_idle(ok)
{
	last = tail;
	atomic {                        /* relaxed pre-check of head */
		assert(tag == 0);       /* no tag while in a turn */
		if
		:: head == last -> ok = 1
		:: else -> assert(FAIL_HAS_REASON(last)); ok = 0
		fi
	};
	if
	:: ok ->
		/* reset the consumer side to "stub only" */
#ifndef BROKEN_STUB_RESET
		if
		:: last != STUB -> d_step { tail = STUB; next[STUB] = NIL }
		:: else         /* the stub is in the queue: leave it alone */
		fi;
#else
		/* BROKEN: also when the stub is the tail, i.e. still in the
		 * queue, where a producer may just have linked behind it */
		d_step { tail = STUB; next[STUB] = NIL };
#endif
#ifndef BROKEN_MARK_IDLE
		atomic {                /* CAS(head, last, stub|1), release */
			if
			:: head == last && tag == 0 ->
				head = STUB;
				tag = 1;
				hand_back(last);
				inturn--        /* the turn ends here */
			:: else ->
				assert(FAIL_HAS_REASON(last));
				ok = 0
			fi
		};
#else
		/* BROKEN: check emptiness, then a plain store of stub|1 */
		atomic {
			if
			:: head == last && tag == 0 -> skip
			:: else -> assert(FAIL_HAS_REASON(last)); ok = 0
			fi
		};
		if
		:: ok -> atomic { head = STUB; tag = 1; hand_back(last); inturn-- }
		:: else
		fi;
#endif
		if
		:: !ok -> tail = last   /* a push won: restore */
		:: else
		fi
	:: else
	fi
}

proctype Worker()
{
	byte nx, last, n, p;
	bit ok;

end_wait:
	do
	:: runq?_ ->
		atomic { inturn++; assert(inturn == 1) };
		/* the turn: take and process messages */
		do
		:: take(n);
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
			}
		:: break        /* turn bound / batch limit reached */
		od;
		mark_idle(ok);
		if
		:: !ok -> atomic { inturn--; runq!1 }   /* reschedule self */
		:: else
		fi;
		nx = 0; last = 0; n = 0; ok = 0
	od
}

/* (c) at quiescence: idle, empty, nothing scheduled, everything consumed
 * and handed back */
proctype Quiesce()
{
	byte i;

	atomic {
		timeout ->
		assert(consumed == NTOTAL);
		assert(tag == 1 && head == STUB);
		assert(tail == STUB && next[STUB] == NIL);
		assert(len(runq) == 0 && inturn == 0);
		i = 1;
		do
		:: i < NNODES -> assert(freed[i]); i++
		:: else -> break
		od
	}
}

init {
	byte i;
	atomic {
		i = 0;
		do
		:: i < NNODES -> next[i] = NIL; i++
		:: else -> break
		od;
		if
		:: tag = 1              /* created idle: the first push schedules */
		:: tag = 0; runq!1      /* created scheduled, mailbox empty */
		fi;
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
