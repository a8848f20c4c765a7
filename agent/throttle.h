/* The station's sign-in throttle (agent/throttle.c): failures counted
 * per operator and per address, so that guesses cost time and an
 * attacker can neither flush the count nor lock a real operator out.
 *
 * After 3 failures, each further try waits 2, 4, 8 ... 60 s, counted
 * separately for the address and for the operator; a count is forgotten
 * an hour after its last failure. An operator's count does not apply at
 * an address where that operator has signed in before (its last four):
 * guesses from elsewhere cannot lock the agent out at the station's own
 * PC. Operators registered here keep their count in a table that other
 * names and addresses never push out (a flood of junk sign-ins from
 * rotating addresses once evicted it and gave fresh guesses). Pure: the
 * caller gives the time. */
#ifndef DAIBAN_AGENT_THROTTLE_H
#define DAIBAN_AGENT_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

struct throttle;

struct throttle *throttle_new(void);
void throttle_free(struct throttle *t);

/* May op (known: registered here) try from addr at now (ms)? 0, and the
 * try is marked in progress (one at a time per operator and address:
 * guesses sent in parallel would all be hashed before one counts), or the
 * seconds to wait. */
unsigned throttle_begin(struct throttle *t, const char *op, bool known, const char *addr, uint64_t now);

/* The try begun for op from addr ended: ok or a failure. Returns the
 * seconds the next try must wait (0 after a success), and in
 * *ret_failures the operator's count. */
unsigned throttle_end(struct throttle *t, const char *op, bool known, const char *addr, bool ok, uint64_t now,
                      unsigned *ret_failures);

/* The try begun was not made (the server could not check it). */
void throttle_cancel(struct throttle *t, const char *op, bool known, const char *addr, uint64_t now);

#endif
