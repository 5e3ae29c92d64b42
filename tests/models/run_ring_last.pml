/*
 * run_ring_last.pml - the per-worker FIFO ring run queue of core/run_ring.h
 * (Go/Tokio shape): the owner pushes at the tail; the owner (pop) and the
 * thieves (steal-half) both take from the head with a CAS, so the race on
 * the last item(s) is decided by that CAS.
 *
 * Checked (exhaustively, ring of 2 slots so the ring wraps and slots are
 * reused while a thief may still read them, 3 items, 1 owner + 2 thieves;
 * run_ring_last_cap4.pml reruns it with 4 slots x 4 items so that a steal
 * takes 2 items at once):
 *   - no item is taken twice (assertion at every take);
 *   - at the end (all processes done, queue empty) every item was taken
 *     exactly once; none lost, none invented (no empty slot is taken).
 *
 * Mapping to the C code (head/tail are the monotonic uint64 indices, no
 * ABA; slot = index % CAP; ring growth is not modelled: the owner does not
 * push into a full ring, it pops instead):
 *   push_owner   h = load(head); if (tail - h < CAP) { ring[tail % CAP] =
 *                item; store_release(tail, tail + 1) }.
 *   pop_owner    loop { h = load_acquire(head); t = tail; if (t == h)
 *                return NULL; item = ring[h % CAP]; if (CAS(head, h, h + 1))
 *                return item }.
 *   steal        loop { h = load_acquire(head); t = load_acquire(tail);
 *                n = t - h; n -= n / 2; if (n == 0) return NULL;
 *                if (n > CAP / 2) continue;  (inconsistent h/t snapshot)
 *                copy ring[(h + i) % CAP] for i < n;
 *                if (CAS(head, h, h + n)) take them (the C code pushes n-1
 *                onto the thief's own deque and returns one) }.
 * Sequentially consistent semantics (Promela interleaving).
 * BROKEN_OWNER_POP selects the broken variant (run_ring_last_broken.pml).
 */

#ifndef CAP
#define CAP      2          /* ring slots (even) */
#endif
#ifndef NITEMS
#define NITEMS   3
#endif
#define NTHIEVES 2

byte head, tail;            /* monotonic indices */
byte ring[CAP];             /* 0 = never written */
bit  taken[NITEMS + 1];     /* items are 1..NITEMS */
bit  owner_done;

inline take(it)
{
	atomic {
		assert(it >= 1 && it <= NITEMS);
		assert(!taken[it]);          /* each item taken at most once */
		taken[it] = 1
	}
}

/* pop_owner: res = item or 0 (NULL) */
inline pop_owner(res)
{
	do
	:: h = head;
		if
		:: tail == h -> res = 0; break
		:: else
		fi;
		res = ring[h % CAP];
#ifndef BROKEN_OWNER_POP
		atomic {                          /* CAS(head, h, h + 1) */
			if
			:: head == h -> head = h + 1; break
			:: else
			fi
		}
#else
		head = h + 1; break               /* BROKEN: plain store */
#endif
	od
}

proctype Owner()
{
	byte nxt = 1, h, it;

	do
	:: nxt <= NITEMS ->                   /* push_owner(nxt) */
		h = head;
		if
		:: tail - h < CAP ->
			ring[tail % CAP] = nxt;
			tail++;                   /* store_release(tail) */
			nxt++
		:: else                           /* full: would grow */
		fi
	:: pop_owner(it);
		if
		:: it != 0 -> take(it); it = 0
		:: else
		fi
	:: nxt > NITEMS -> break
	od;
	/* drain */
	do
	:: pop_owner(it);
		if
		:: it != 0 -> take(it); it = 0
		:: else -> break
		fi
	od;
	h = 0;
	owner_done = 1
}

proctype Thief()
{
	byte h, t, n, i;
	byte b[CAP / 2];

	do
	:: atomic { owner_done && head == tail } -> break
	:: else ->
		h = head;
		t = tail;
		n = t - h;
		n = n - n / 2;
		if
		:: n == 0 || n > CAP / 2 -> skip  /* nothing / inconsistent */
		:: else ->
			i = 0;
			do
			:: i < n -> b[i] = ring[(h + i) % CAP]; i++
			:: else -> break
			od;
			atomic {                  /* CAS(head, h, h + n) */
				if
				:: head == h ->
					head = h + n;
					i = 0;
					do
					:: i < n -> take(b[i]); i++
					:: else -> break
					od
				:: else
				fi
			}
		fi;
		h = 0; t = 0; n = 0;
		i = 0;
		do
		:: i < CAP / 2 -> b[i] = 0; i++
		:: else -> i = 0; break
		od
	od
}

init {
	byte i;
	atomic {
		run Owner();
		i = 0;
		do
		:: i < NTHIEVES -> run Thief(); i++
		:: else -> break
		od
	};
	_nr_pr == 1;
	assert(head == tail && tail == NITEMS);
	i = 1;
	do
	:: i <= NITEMS -> assert(taken[i]); i++   /* none lost */
	:: else -> break
	od
}
