/* Tests of sync/hlc.c: stamps only grow, receipt moves past what was
 * seen, and a clock stuck in 2009 still orders after what it saw. */
#include <errno.h>

#include "sync/hlc.h"
#include "tests/harness.h"

TEST(tick_follows_wall_clock)
{
        struct hlc h = { 0 };
        uint64_t a, b;

        CHECK_INT(hlc_tick(&h, 1000, &a), ==, 0);
        CHECK_INT(hlc_ms(a), ==, 1000);
        CHECK_INT(hlc_tick(&h, 2000, &b), ==, 0);
        CHECK(b > a);
        CHECK_INT(hlc_ms(b), ==, 2000);
        CHECK_INT(b & HLC_LOGICAL_MASK, ==, 0);
}

TEST(tick_with_clock_going_backwards_still_grows)
{
        struct hlc h = { 0 };
        uint64_t prev = 0, s;

        CHECK_INT(hlc_tick(&h, 5000, &prev), ==, 0);
        for (int i = 0; i < 1000; i++) {
                CHECK_INT(hlc_tick(&h, 4000 - (uint64_t)i, &s), ==, 0);
                CHECK(s > prev);
                CHECK_INT(hlc_ms(s), ==, 5000);
                prev = s;
        }
}

TEST(receive_moves_past_remote)
{
        struct hlc h = { 0 };
        uint64_t remote = hlc_make(1700000000000ull, 7), s;
        uint64_t wall_2009 = 1230768000000ull;   /* 2009-01-01 */

        hlc_recv(&h, remote);
        CHECK(hlc_wall_behind(&h, wall_2009));
        CHECK_INT(hlc_tick(&h, wall_2009, &s), ==, 0);
        CHECK(s > remote);
        CHECK(!hlc_wall_behind(&h, 1700000000000ull));
}

TEST(receive_never_moves_backwards)
{
        struct hlc h = { 0 };
        uint64_t s;

        hlc_recv(&h, hlc_make(5000, 3));
        hlc_recv(&h, hlc_make(4000, 9));   /* older: ignored */
        CHECK_INT(h.last, ==, hlc_make(5000, 3));
        CHECK_INT(hlc_tick(&h, 1000, &s), ==, 0);
        CHECK_INT(s, ==, hlc_make(5000, 4));
}

TEST(logical_overflow_is_reported_not_wrapped)
{
        struct hlc h = { hlc_make(1000, HLC_LOGICAL_MASK) };
        uint64_t s;

        CHECK_INT(hlc_tick(&h, 1000, &s), ==, -EOVERFLOW);
        CHECK_INT(hlc_tick(&h, 1001, &s), ==, 0);
        CHECK_INT(hlc_ms(s), ==, 1001);
}

TEST(format)
{
        char buf[48];

        hlc_format(hlc_make(1700000000123ull, 5), buf, sizeof buf);
        CHECK_STR(buf, "2023-11-14T22:13:20.123Z+5");
}
