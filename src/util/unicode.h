/* UTF-8 decoding and Unicode classes with the exact behaviour of Go's unicode/utf8 and unicode
 * packages, for code that must reproduce what BuildKit (written in Go) does with text: its shell
 * lexer reads variable names with unicode.IsLetter, its pattern matchers use Go regexps.
 *
 * The tables follow Unicode 15.0, the version of Go 1.21 and later.  */
#ifndef GSI_UNICODE_H
#define GSI_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GSI_RUNE_ERROR 0xFFFDu

/* Decodes the rune at s[0..n) as utf8.DecodeRune does: an invalid or truncated sequence (bad lead
 * byte, overlong form, surrogate, above U+10FFFF) gives U+FFFD with width 1.  Returns the width,
 * 0 only when n is 0.  */
size_t gsi_utf8_decode (const char *s, size_t n, uint32_t *rune);

/* The offset of the first byte of s[0..n) that is NUL or not valid UTF-8, or n when there is none;
 * *line gets that byte's 1-based line.  YAML loaders check with it first: libfyaml 0.7 can loop
 * forever on some invalid UTF-8.  */
size_t gsi_utf8_first_bad (const char *s, size_t n, int *line);

/* unicode.IsLetter (category L).  */
bool gsi_unicode_is_letter (uint32_t r);
/* unicode.IsDigit (category Nd).  */
bool gsi_unicode_is_digit (uint32_t r);
/* unicode.IsSpace: ASCII and Latin-1 spaces plus the White_Space property.  */
bool gsi_unicode_is_space (uint32_t r);
/* Membership in one of Go's one-letter categories 'C', 'L', 'M', 'N', 'P', 'S' or 'Z' (C being
 * Cc, Cf, Co and Cs as in Go).  Returns false for any other letter; see gsi_unicode_is_category.  */
bool gsi_unicode_in_category (char cat, uint32_t r);
bool gsi_unicode_is_category (char cat);

#endif
