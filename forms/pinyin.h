/* Pinyin for search: an agent finds 户口注销 by typing "hkzx" or
 * "hukou" on a keyboard without switching to a Chinese input method.
 *
 * Every Chinese character's reading comes from Unicode's Unihan database
 * (the kMandarin field, first reading, tones dropped, ü written v),
 * turned into a table at build time by forms/gen-pinyin.py. A polyphone
 * therefore always reads as its most common reading (行 is "xing", never
 * "hang"). See docs/catalog.md ("Pinyin search"). */
#ifndef DAIBAN_FORMS_PINYIN_H
#define DAIBAN_FORMS_PINYIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The toneless pinyin syllable of code point cp ("hu" for 户), or NULL
 * when Unihan gives it no Mandarin reading. The string is static. */
const char *pinyin_syllable(uint32_t cp);

/* Romanise UTF-8 text s of len bytes (no NUL needed): writes the
 * initials (first letter of each syllable) into ini, and the full
 * syllables run together into full. ASCII letters and digits, and their
 * full-width forms (Ａ, １), are kept, lower-cased, in both; other
 * characters are dropped. Both are NUL-terminated and truncated to
 * nini and nfull bytes; a size of 0 writes nothing (the pointer may
 * then be NULL). Invalid UTF-8 is skipped a byte at a time, and nothing
 * past len is read. Returns 0. */
int pinyin_romanise(const char *s, size_t len, char *ini, size_t nini,
                    char *full, size_t nfull);

/* Does NUL-terminated text match query q the way an agent types it: q
 * (ASCII case-insensitive) is a substring of the text itself, of its
 * initials ("hkzx" for 户口注销) or of its full pinyin ("hukou"). An
 * empty q matches everything. Should memory run out romanising a long
 * text, only the substring test is made. */
bool pinyin_match(const char *text, const char *q);

#endif
