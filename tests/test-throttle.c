/* Tests of agent/throttle.c, the station's sign-in throttle: guesses
 * cost time per operator and per address, a flood of junk sign-ins from
 * rotating addresses does not give fresh guesses, and guesses from
 * elsewhere do not lock an operator out where it signs in. */
#include <stdio.h>

#include "agent/throttle.h"
#include "tests/harness.h"

#define S 1000ull       /* a second, in ms */

/* One wrong password: begin (must be allowed) and end as a failure. */
static unsigned fail(struct throttle *t, const char *op, bool known, const char *addr, uint64_t now)
{
        unsigned w = throttle_begin(t, op, known, addr, now);
        if (w)
                return 1000 + w;        /* refused before hashing */
        return throttle_end(t, op, known, addr, false, now, NULL);
}

TEST(three_free_tries_then_waits_per_operator_and_address)
{
        struct throttle *t = throttle_new();
        uint64_t now = 1000000;

        CHECK_INT(fail(t, "op01", true, "10.0.0.1", now), ==, 0);
        CHECK_INT(fail(t, "op01", true, "10.0.0.1", now), ==, 0);
        CHECK_INT(fail(t, "op01", true, "10.0.0.1", now), ==, 2);      /* the third: wait 2 s */
        CHECK_INT(throttle_begin(t, "op01", true, "10.0.0.1", now), ==, 2);
        /* the operator's count holds at another address too */
        CHECK_INT(throttle_begin(t, "op01", true, "10.0.0.2", now), ==, 2);
        /* and the address's for another operator */
        CHECK_INT(throttle_begin(t, "op02", true, "10.0.0.1", now), ==, 2);
        /* after the wait: one more try, then 4 s, 8 s ... 60 s at most */
        CHECK_INT(fail(t, "op01", true, "10.0.0.2", now + 2 * S), ==, 4);
        uint64_t at = now + 6 * S;
        unsigned w = 0;
        for (int i = 0; i < 10; i++) {
                w = fail(t, "op01", true, "10.0.0.3", at);
                CHECK(w <= 60);
                at += (uint64_t)w * S;
        }
        CHECK_INT(w, ==, 60);
        /* forgotten an hour after the last failure */
        CHECK_INT(throttle_begin(t, "op01", true, "10.0.0.4", at + 3601 * S), ==, 0);
        throttle_free(t);
}

TEST(one_try_at_a_time)
{
        struct throttle *t = throttle_new();

        CHECK_INT(throttle_begin(t, "op01", true, "10.0.0.1", 5000), ==, 0);
        CHECK_INT(throttle_begin(t, "op01", true, "10.0.0.2", 5000), ==, 1);   /* the operator is busy */
        CHECK_INT(throttle_begin(t, "op02", true, "10.0.0.1", 5000), ==, 1);   /* the address is busy */
        throttle_cancel(t, "op01", true, "10.0.0.1", 5000);
        CHECK_INT(throttle_begin(t, "op01", true, "10.0.0.2", 5000), ==, 0);
        throttle_free(t);
}

TEST(junk_from_rotating_addresses_does_not_flush_an_operator)
{
        struct throttle *t = throttle_new();
        uint64_t now = 1000000;
        char addr[32], name[32];

        for (int i = 0; i < 3; i++)
                fail(t, "op01", true, "10.0.0.1", now);
        /* 3,000 junk sign-ins: unknown names, each from a new address */
        for (int i = 0; i < 3000; i++) {
                snprintf(addr, sizeof addr, "127.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
                snprintf(name, sizeof name, "junk%d", i);
                fail(t, name, false, addr, now + 100);
        }
        /* a fresh address still waits for op01 */
        CHECK(throttle_begin(t, "op01", true, "10.9.9.9", now + 200) > 0);
        throttle_free(t);
}

TEST(guesses_elsewhere_do_not_lock_the_operator_out_at_its_own_pc)
{
        struct throttle *t = throttle_new();
        uint64_t now = 1000000;
        char addr[32];

        CHECK_INT(throttle_begin(t, "op01", true, "127.0.0.1", now), ==, 0);
        CHECK_INT(throttle_end(t, "op01", true, "127.0.0.1", true, now, NULL), ==, 0);
        for (int i = 0; i < 40; i++) {
                snprintf(addr, sizeof addr, "10.1.%d.%d", i / 256, i % 256);
                fail(t, "op01", true, addr, now + (uint64_t)i * 61 * S);
        }
        uint64_t later = now + 39 * 61 * S + S;        /* a second after the last guess */
        CHECK(throttle_begin(t, "op01", true, "10.2.0.1", later) > 0);        /* elsewhere: waits */
        CHECK_INT(throttle_begin(t, "op01", true, "127.0.0.1", later), ==, 0); /* its own PC: at once */
        throttle_free(t);
}

TEST(unknown_names_are_throttled_like_known_ones)
{
        struct throttle *t = throttle_new();

        for (int i = 0; i < 3; i++) {
                fail(t, "nobody", false, "10.0.0.1", 1000);
                fail(t, "op01", true, "10.0.0.2", 1000);
        }
        /* the same answer whether the name is registered or not */
        CHECK_INT(throttle_begin(t, "nobody", false, "10.0.0.3", 1000), ==,
                  throttle_begin(t, "op01", true, "10.0.0.4", 1000));
        throttle_free(t);
}

