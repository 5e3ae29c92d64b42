/*
 * port_wake.pml - the wake protocol of ports (core/port.c): the mailbox of
 * mailbox_idle.pml (keep-last Vyukov MPSC queue with the idle tag),
 * consumed by an event loop that sleeps in epoll_wait on the port's
 * eventfd, registered edge-triggered (EPOLLET), and drains with a budget.
 *
 * Checked (exhaustively, 2 producers x 2 messages, one loop thread whose
 * every drain picks a budget of 1 or 2; port_wake_3p.pml reruns it with 3
 * producers x 1 message):
 *   (a) every pushed message is handled exactly once, in per-producer FIFO
 *       order;
 *   (b) no lost wake-up: when nothing can move any more (spin `timeout`:
 *       the loop blocks in epoll_wait, the producers are done), every
 *       message was handled, the mailbox is idle-tagged and empty and the
 *       port knows it is idle (port->idle);
 *   (c) a drain touches the mailbox only while it owns it: never while the
 *       idle tag is set (take and mark idle assert it);
 *   (d) one signal per burst: producers write the eventfd at most once
 *       per idle period (each write follows a push that cleared the tag);
 *   (e) hand-back safety and reasons for a failed mark idle, as in
 *       mailbox_idle.pml.
 *
 * Mapping to the C code (see mailbox_idle.pml for the queue itself):
 *   push + wake    trp__deliver: the exchange and the link store of
 *                  trp__mailbox_push_mp; a push that found the tag calls
 *                  the kind's wake (port_wake): one eventfd write.
 *   eventfd        efd: the counter is non-zero. A write sets it and
 *                  queues an EPOLLIN event on the epoll instance (ev: the
 *                  item is on epoll's ready list), also when the counter
 *                  was non-zero already; a read resets it.
 *   epoll_wait     (EPOLLET) reports a queued event and takes it off the
 *                  ready list; if the fd is no longer readable when
 *                  epoll_wait collects it (a drain read it meanwhile), the
 *                  event is dropped instead (ep_send_events re-polls).
 *   the loop       drains when epoll_wait reports the fd, and at most
 *                  NSPURIOUS more times at any moment (a drain "just in
 *                  case" is harmless, troupe/port.h).
 *   drain          trp_port_drain: read the eventfd; if port->idle and the
 *                  tag is still set, return (nothing waits); else take and
 *                  handle up to `budget` messages (an empty take tries mark
 *                  idle, then takes once more - C retries BUSY_TAKES times,
 *                  which interleaving already covers: a push between
 *                  exchange and link leaves it busy); at the end, if not idle, mark
 *                  idle or else write the eventfd (mail left at the budget
 *                  or a push in flight).
 *   The drain guard is not modelled: one loop thread drains, and drains
 *   on different threads are ordered by the guard (acquire/release) just
 *   as one thread's drains are by program order.
 *
 * Not modelled: the C11 orderings (Promela is sequentially consistent; the
 * kernel's eventfd lock is what orders a wake's write before the read
 * that returns it, core/port.c), closing and killing (they reach the
 * drain as a message), node reuse (ghost freed[] flags, as in
 * mailbox_idle.pml).
 *
 * Broken variants (check.sh requires spin to reject them):
 *   BROKEN_CLEAR_AFTER  port_wake_broken.pml: the drain reads (clears) the
 *                       eventfd after draining instead of before: it
 *                       swallows the write of a push that found the tag
 *                       just after the drain's mark idle.
 *   BROKEN_NO_RESIGNAL  port_wake_nosignal_broken.pml: a drain that stops
 *                       at its budget with mail left does not write the
 *                       eventfd: the rest waits in a busy mailbox that no
 *                       push will signal.
 */

#ifndef NPROD
#define NPROD    2
#endif
#ifndef NMSG
#define NMSG     2                        /* messages per producer */
#endif
#define NTOTAL   (NPROD * NMSG)
#define NNODES   (1 + NTOTAL)
#define STUB     0
#define NIL      255
#define NSPURIOUS 1                       /* drains without a readiness */

byte head = STUB;       /* mb->head pointer part */
bit  tag = 1;           /* mb->head bit 0: idle (trp_port_open marks it) */
byte tail = STUB;       /* mb->tail, the drain's */
byte next[NNODES];      /* node->next */

bit  efd;               /* the eventfd's counter is non-zero */
bit  ev;                /* an EPOLLIN event is queued (ready list) */
bit  pidle = 1;         /* port->idle, the drain's */

/* ghosts */
bit  freed[NNODES];     /* handed back as done: the queue must let go */
bit  linking[NNODES];   /* a producer exchanged past it, link not stored */
byte consumed;
byte expect[NPROD];     /* next sequence number expected per producer */
byte idle_periods = 1;  /* successful mark idles, + the initial one */
byte prod_signals;      /* eventfd writes by producers */

/* One eventfd write. */
inline signal()
{
	atomic { efd = 1; ev = 1 }
}

/* A producer enqueues node nd (as mailbox_idle.pml). */
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
		assert(!freed[prv]);    /* (e) never behind a done node */
		next[prv] = nd;
		linking[prv] = 0
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
		:: was_idle ->          /* port_wake */
			atomic {
				prod_signals++;
				/* (d) one write per idle period */
				assert(prod_signals <= idle_periods);
				efd = 1;
				ev = 1
			}
		:: else
		fi;
		i++
	:: else -> break
	od
}

inline hand_back(nd)
{
	if
	:: nd != STUB ->
		assert(!freed[nd]);     /* (e) handed back once */
		freed[nd] = 1
	:: else
	fi
}

/* trp__mailbox_take_sc: res = the node taken, or NIL (empty or busy). */
inline take(res)
{
	atomic {
		assert(tag == 0);       /* (c) only a mailbox the drain owns */
		nx = next[tail]         /* acquire load of tail->next */
	};
	if
	:: nx == NIL -> res = NIL
	:: else ->
		d_step {
			assert(!freed[nx]);
			hand_back(tail);
			tail = nx
		};
		res = nx
	fi
}

#define FAIL_HAS_REASON(last) (next[last] != NIL || linking[last])

/* trp__mailbox_mark_idle_sc: ok = 1 if the mailbox is now idle. */
inline mark_idle(ok)
{
	last = tail;
	atomic {                        /* relaxed pre-check of head */
		assert(tag == 0);       /* (c) */
		if
		:: head == last -> ok = 1
		:: else -> assert(FAIL_HAS_REASON(last)); ok = 0
		fi
	};
	if
	:: ok ->
		if
		:: last != STUB -> d_step { tail = STUB; next[STUB] = NIL }
		:: else
		fi;
		atomic {                /* CAS(head, last, stub|1), release */
			if
			:: head == last && tag == 0 ->
				head = STUB;
				tag = 1;
				hand_back(last);
				idle_periods++
			:: else ->
				assert(FAIL_HAS_REASON(last));
				ok = 0
			fi
		};
		if
		:: !ok -> tail = last   /* a push won: restore */
		:: else
		fi
	:: else
	fi
}

/* The handler: (a) exactly once, per-producer FIFO. */
inline handle(nd)
{
	d_step {
		assert(nd >= 1 && nd <= NTOTAL);
		p = (nd - 1) / NMSG;
		assert((nd - 1) % NMSG == expect[p]);
		expect[p]++;
		consumed++;
		p = 0
	}
}

proctype Loop()
{
	byte budget, n, nd, nx, last, p, spurious;
	bit ok, go;

end_loop:
	do
	:: atomic { ev && efd -> ev = 0; go = 1 }    /* epoll_wait: EPOLLIN */
	:: atomic { ev && !efd -> ev = 0 }           /* collected, not
							readable: dropped */
	:: atomic { spurious < NSPURIOUS -> spurious++; go = 1 }
	:: go ->
		/* trp_port_drain(port, budget) */
		if
		:: budget = 1
		:: budget = 2
		fi;
#ifndef BROKEN_CLEAR_AFTER
		efd = 0;                /* trp__eventfd_clear, first */
#endif
		if
		:: pidle && tag -> skip /* nothing came: return 0 */
		:: else ->
			pidle = 0;      /* a push took the tag off: ours */
			n = 0;
			do
			:: n == budget -> break
			:: else ->
				take(nd);
				if
				:: nd == NIL ->
					mark_idle(ok);
					if
					:: ok -> pidle = 1; break
					:: else ->
						take(nd);
						if
						:: nd == NIL -> break /* in flight */
						:: else
						fi
					fi
				:: else
				fi;
				handle(nd);
				n++
			od;
			if
			:: !pidle ->
				mark_idle(ok);
				if
				:: ok -> pidle = 1
				:: else ->
#ifndef BROKEN_NO_RESIGNAL
					signal()
#else
					/* BROKEN: not at the budget */
					if
					:: n < budget -> signal()
					:: else
					fi
#endif
				fi
			:: else
			fi
		fi;
#ifdef BROKEN_CLEAR_AFTER
		efd = 0;                /* BROKEN: the read comes last */
#endif
		d_step { go = 0; budget = 0; n = 0; nd = 0; nx = 0; last = 0;
			 ok = 0 }
	od
}

/* (b) at quiescence: everything handled, the port idle, nothing pending */
proctype Quiesce()
{
	byte i;

	atomic {
		timeout ->
		assert(consumed == NTOTAL);
		assert(tag == 1 && head == STUB && pidle);
		assert(tail == STUB && next[STUB] == NIL);
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
		i = 0;
		do
		:: i < NPROD -> run Producer(i); i++
		:: else -> break
		od;
		run Loop();
		run Quiesce()
	}
}
