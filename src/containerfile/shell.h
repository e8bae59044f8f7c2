/* Shell-word expansion exactly as BuildKit's shell lexer does it (frontend/dockerfile/shell).
 *
 * Variables come from a cf_env: "NAME=VALUE" strings; a later entry for a name wins.  */
#ifndef GSI_CF_SHELL_H
#define GSI_CF_SHELL_H

#include <stdbool.h>

#include "util/error.h"
#include "util/strvec.h"

typedef struct cf_env
{
  gsi_strvec vars; /* "NAME=VALUE" */
} cf_env;

#define CF_ENV_INIT { GSI_STRVEC_INIT }

void cf_env_set (cf_env *env, const char *name, const char *value);
/* Returns the value, or NULL when name is not set (set-but-empty returns "").  */
const char *cf_env_get (const cf_env *env, const char *name);
void cf_env_clear (cf_env *env);

typedef struct cf_shell_opts
{
  char escape;            /* '\\' or '`' */
  /* When non-NULL, names of variables the word referenced are pushed here (each once): matched
   * ones were set in env, unmatched ones were not.  Used to warn of ARGs used before declaration. */
  gsi_strvec *matched;
  gsi_strvec *unmatched;
  /* BuildKit's Lex switches, all off by default (a zero-initialised opts is plain ProcessWord):
   * raw_quotes keeps quote characters in the output, raw_escapes keeps escape characters,
   * skip_process_quotes treats quotes as ordinary characters (heredoc bodies), skip_unset_env
   * leaves references to unset variables as they were written.  */
  bool raw_quotes;
  bool raw_escapes;
  bool skip_process_quotes;
  bool skip_unset_env;
} cf_shell_opts;

/* Expands word into one string (quotes removed, escapes applied).  On error (unterminated quote,
 * bad substitution, ${V?msg} on unset V) returns -1 with a message naming the cause.  opts may be
 * NULL (escape '\\', nothing recorded); env may be NULL (nothing set).  Resource limits Go does
 * not have: substitutions nest at most 200 deep, and one word may cost at most 4 MiB of
 * substitution output and pattern-matching work; beyond either it is an error.  */
int cf_shell_expand (const char *word, const cf_env *env, const cf_shell_opts *opts, char **out, gsi_error *err);

/* Expands word and splits it into words on unquoted white space, as ENV/EXPOSE/VOLUME processing
 * does (BuildKit's ProcessWords).  Words are appended to out.  */
int cf_shell_words (const char *word, const cf_env *env, const cf_shell_opts *opts, gsi_strvec *out, gsi_error *err);

#endif
