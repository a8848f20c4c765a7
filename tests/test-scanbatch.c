/* Tests of sync/scanwrite.c's scan_next_batch: how many scan pieces a
 * push carries after the last one. A slow link's push carries one piece
 * while its fixed cost is small, more when round trips and the hall's
 * checks take as long as its upload; a fast link's grows at most twice
 * a push, to SCAN_PUSH_MAX; a dead-slow one never drops below one. */
#include <stdint.h>

#include "sync/scan.h"
#include "tests/harness.h"

#define S 1000000000ull         /* ns in a second */
#define KBIT_64 8000ull         /* 64 kbit/s in bytes/s */

TEST(a_slow_link_close_to_the_hall_sends_a_piece_a_push)
{
        /* 48 KiB at 64 kbit/s: 6.1 s on the wire; the push took 6.5 s */
        CHECK_INT(scan_next_batch(1, 6 * S + S / 2, 6 * S + S / 2, KBIT_64), ==, 1);
        /* and with no rate from the kernel (plain HTTP), the upload's time */
        CHECK_INT(scan_next_batch(1, 6 * S + S / 2, 7 * S, 0), ==, 1);
}

TEST(a_slow_link_far_from_the_hall_sends_more_a_push)
{
        /* the same link, but the push took 11 s in all: 5 s of round
         * trips and checks, so pushes of about 15 s carry two pieces */
        size_t b = scan_next_batch(1, 7 * S, 11 * S, KBIT_64);
        CHECK_INT(b, ==, 2);
        /* and it stays there while the fixed cost does */
        CHECK_INT(scan_next_batch(b, 13 * S, 17 * S, KBIT_64), ==, 2);
        /* a fixed cost of a minute: pushes of at most SCAN_PUSH_S_MAX
         * (30 s: 4 pieces; without the bound 30 s of 64 kbit/s would
         * give way to 3 minutes, and the 16 that twice 8 allows) */
        CHECK_INT(scan_next_batch(8, 52 * S, 112 * S, KBIT_64), ==, (size_t)(KBIT_64 * SCAN_PUSH_S_MAX / SCAN_PIECE));
        CHECK_INT((size_t)(KBIT_64 * SCAN_PUSH_S_MAX / SCAN_PIECE), ==, 4);
}

TEST(a_fast_link_grows_at_most_twice_a_push)
{
        size_t b = 1, pushes = 0;
        /* loopback: a piece in 10 ms */
        while (b < SCAN_PUSH_MAX && pushes < 20) {
                size_t n = scan_next_batch(b, b * S / 100, b * S / 100 + S / 20, 0);
                CHECK(n <= 2 * b);
                CHECK(n > b);
                b = n;
                pushes++;
        }
        CHECK_INT(b, ==, SCAN_PUSH_MAX);
        CHECK_INT(pushes, ==, 5);       /* 1, 2, 4, 8, 16, 32 */
        CHECK_INT(scan_next_batch(b, b * S / 100, b * S, 0), ==, SCAN_PUSH_MAX);
}

TEST(never_less_than_one)
{
        CHECK_INT(scan_next_batch(1, 600 * S, 600 * S, 0), ==, 1);
        CHECK_INT(scan_next_batch(1, 0, 0, 0), ==, 2);  /* no time measured: as fast as can be */
        CHECK_INT(scan_next_batch(4, 600 * S, 601 * S, 10), ==, 1);
}
