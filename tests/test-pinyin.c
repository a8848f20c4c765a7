/* Tests of forms/pinyin.c: readings come from Unihan (the first
 * kMandarin reading, tones dropped), romanisation keeps ASCII and skips
 * bad UTF-8, and queries match by text, initials or full pinyin. */
#include <stdbool.h>

#include "forms/pinyin.h"
#include "tests/harness.h"

/* Romanises s (a C string) into the two caller buffers. */
#define ROMANISE(s, ini, full) \
        pinyin_romanise((s), strlen(s), (ini), sizeof (ini), (full), sizeof (full))

TEST(syllables)
{
        CHECK_STR(pinyin_syllable(0x6237), "hu");     /* 户 */
        CHECK_STR(pinyin_syllable(0x7eff), "lv");     /* 绿: ü is typed v */
        CHECK(pinyin_syllable('a') == NULL);
        CHECK(pinyin_syllable(0x3002) == NULL);       /* 。 */
        CHECK(pinyin_syllable(0x110000) == NULL);
        CHECK(pinyin_syllable(0xffffffff) == NULL);
}

TEST(extension_a_and_b)
{
        /* U+3400 㐀 is "qiū" in Unihan; U+20000 𠀀 (Extension B) "hē". */
        CHECK_STR(pinyin_syllable(0x3400), "qiu");
        CHECK_STR(pinyin_syllable(0x20000), "he");
}

TEST(polyphone_takes_first_reading)
{
        /* Unihan's kMandarin for 行 is "xíng" alone (háng is only in
         * other fields); 万 lists "wàn mò" and 乾 "qián gān". */
        CHECK_STR(pinyin_syllable(0x884c), "xing");
        CHECK_STR(pinyin_syllable(0x4e07), "wan");
        CHECK_STR(pinyin_syllable(0x4e7e), "qian");
}

TEST(table_is_unihan_not_a_hand_list)
{
        int n = 0;

        for (uint32_t cp = 0x4e00; cp <= 0x9fff; cp++)
                if (pinyin_syllable(cp))
                        n++;
        CHECK_INT(n, >, 20000);
}

TEST(romanise)
{
        char ini[64], full[64];

        CHECK_INT(ROMANISE("户口注销", ini, full), ==, 0);
        CHECK_STR(ini, "hkzx");
        CHECK_STR(full, "hukouzhuxiao");
        ROMANISE("最低生活保障", ini, full);
        CHECK_STR(ini, "zdshbz");
        CHECK_STR(full, "zuidishenghuobaozhang");
}

TEST(romanise_mixed)
{
        char ini[64], full[64];

        ROMANISE("A1户口", ini, full);
        CHECK_STR(ini, "a1hk");
        CHECK_STR(full, "a1hukou");
        /* punctuation and spaces dropped, full-width letters folded */
        ROMANISE("（Ｂ类） 户-口", ini, full);
        CHECK_STR(ini, "blhk");
        CHECK_STR(full, "bleihukou");
        ROMANISE("", ini, full);
        CHECK_STR(ini, "");
        CHECK_STR(full, "");
}

TEST(romanise_truncates)
{
        char ini[3], full[6], none[1] = { 'x' };

        ROMANISE("户口注销", ini, full);
        CHECK_STR(ini, "hk");
        CHECK_STR(full, "hukou");
        pinyin_romanise("户口", 6, none, 1, NULL, 0);
        CHECK_STR(none, "");
}

TEST(romanise_skips_bad_utf8)
{
        char ini[64], full[64];

        /* lone 0xff */
        ROMANISE("\xff户", ini, full);
        CHECK_STR(ini, "h");
        /* 户 is E6 88 B7: cut to two bytes, then ASCII */
        ROMANISE("\xe6\x88" "a口", ini, full);
        CHECK_STR(ini, "ak");
        CHECK_STR(full, "akou");
        /* overlong "/" (C0 AF), overlong 3-byte NUL, surrogate U+D800,
         * and U+110000 */
        ROMANISE("\xc0\xaf" "\xe0\x80\x80" "\xed\xa0\x80" "\xf4\x90\x80\x80" "b", ini, full);
        CHECK_STR(ini, "b");
        CHECK_STR(full, "b");
        /* a sequence cut by len: nothing past it is read */
        pinyin_romanise("户口", 5, ini, sizeof ini, full, sizeof full);
        CHECK_STR(ini, "h");
        CHECK_STR(full, "hu");
}

TEST(match)
{
        CHECK(pinyin_match("户口注销", "hkzx"));
        CHECK(pinyin_match("户口注销", "HKZX"));
        CHECK(pinyin_match("户口注销", "hukou"));
        CHECK(pinyin_match("户口注销", "zhuxiao"));
        CHECK(pinyin_match("户口注销", "kz"));
        CHECK(pinyin_match("户口注销", "注销"));
        CHECK(pinyin_match("户口注销", ""));
        CHECK(!pinyin_match("户口注销", "xyz"));
        CHECK(!pinyin_match("户口注销", "出生"));
        CHECK(pinyin_match("Ａ类证明", "alzm"));
        CHECK(pinyin_match("ID card 补办", "id CARD"));
}

TEST(match_long_text)
{
        char text[1200];
        size_t n = 0;

        /* past the stack buffers: the match at the end is still found */
        while (n + 3 < 1000) {
                memcpy(text + n, "户", 3);
                n += 3;
        }
        memcpy(text + n, "注销", 7);
        CHECK(pinyin_match(text, "hhzx"));
        CHECK(pinyin_match(text, "huzhuxiao"));
        CHECK(!pinyin_match(text, "zxh"));
}
