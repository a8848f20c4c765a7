/* The pinyin table, shared by forms/pinyin.c and the pinyin-table.c that
 * forms/gen-pinyin.py writes at build time from Unihan's kMandarin
 * readings. Not for other modules: they go through forms/pinyin.h.
 *
 * A code point maps to a uint16_t k: 0 when it has no reading, otherwise
 * its syllable is pinyin_syllables[k - 1]. Code points from
 * pinyin_direct_lo on, pinyin_ndirect of them, are indexed directly;
 * the rest are in pinyin_sparse_cp, sorted, with their k at the same
 * index of pinyin_sparse_syl. */
#ifndef DAIBAN_FORMS_PINYIN_INT_H
#define DAIBAN_FORMS_PINYIN_INT_H

#include <stdint.h>

#define PINYIN_SYLLABLE_MAX 7   /* "zhuang" and its NUL */

extern const char pinyin_syllables[][PINYIN_SYLLABLE_MAX];
extern const uint16_t pinyin_nsyllables;

extern const uint32_t pinyin_direct_lo;
extern const uint32_t pinyin_ndirect;
extern const uint16_t pinyin_direct[];

extern const uint32_t pinyin_nsparse;
extern const uint32_t pinyin_sparse_cp[];
extern const uint16_t pinyin_sparse_syl[];

#endif
