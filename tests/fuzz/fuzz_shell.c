/* libFuzzer target: shell-word expansion must never crash, leak or read out of bounds.
 *
 * Input layout: the word to expand, then optionally a NUL byte, one byte of option bits and the
 * value of $V (which feeds the pattern operators arbitrary subjects).  A plain word is a valid
 * input, expanded with the default options.  */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "containerfile/shell.h"
#include "util/error.h"
#include "util/strvec.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  cf_env env = CF_ENV_INIT;
  gsi_strvec matched = GSI_STRVEC_INIT, unmatched = GSI_STRVEC_INIT, words = GSI_STRVEC_INIT;
  gsi_error err = GSI_ERROR_INIT;
  cf_shell_opts opts = { 0 };
  const uint8_t *nul;
  char *value, *word, *out = NULL;
  uint8_t flags;

  nul = memchr (data, 0, size);
  word = strndup ((const char *) data, nul ? (size_t) (nul - data) : size);
  flags = nul && (size_t) (nul - data) + 1 < size ? nul[1] : 0;
  value = nul && (size_t) (nul - data) + 2 < size
              ? strndup ((const char *) nul + 2, size - (size_t) (nul - data) - 2)
              : strdup ("");
  if (value == NULL || word == NULL)
    abort ();

  cf_env_set (&env, "V", value);
  cf_env_set (&env, "A", "a");
  cf_env_set (&env, "S", " x  y ");
  cf_env_set (&env, "EMPTY", "");
  cf_env_set (&env, "STAR", "*\\*?");
  cf_env_set (&env, "NL", "x\ny\n");
  cf_env_set (&env, "BAD", "\xff\xc3(\xed\xa0\x80");
  opts.escape = (flags & 1) ? '`' : '\\';
  opts.raw_quotes = flags & 2;
  opts.raw_escapes = flags & 4;
  opts.skip_process_quotes = flags & 8;
  opts.skip_unset_env = flags & 16;
  opts.matched = &matched;
  opts.unmatched = &unmatched;

  if (cf_shell_expand (word, &env, &opts, &out, &err) == 0)
    free (out);
  else if (err.msg == NULL)
    abort ();
  gsi_error_clear (&err);
  if (cf_shell_words (word, &env, &opts, &words, &err) < 0 && err.msg == NULL)
    abort ();
  gsi_error_clear (&err);

  gsi_strvec_clear (&words);
  gsi_strvec_clear (&matched);
  gsi_strvec_clear (&unmatched);
  cf_env_clear (&env);
  free (value);
  free (word);
  return 0;
}
