/* .dockerignore: which context paths a build may not see (BuildKit's patternmatcher rules). */
#ifndef GSI_CF_IGNORE_H
#define GSI_CF_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct cf_ignore cf_ignore;

/* Parses ignore-file text.  path is only for messages.  A bad pattern is a located error.  */
int cf_ignore_parse (const char *path, const char *data, size_t len, cf_ignore **out, gsi_error *err);

/* Loads the ignore file for a build: "<Containerfile>.dockerignore" beside the Containerfile wins
 * over CONTEXT/.dockerignore.  *out is an empty matcher (matches nothing) when neither exists.  */
int cf_ignore_load (const char *context_dir, const char *containerfile, cf_ignore **out, gsi_error *err);

/* True when relpath (relative to the context, '/'-separated, no leading "./") is excluded,
 * counting its parent directories' matches and later "!" exceptions.  */
bool cf_ignore_excluded (const cf_ignore *ig, const char *relpath);

/* What BuildKit's context walker decides for relpath when it gets there (fsutil applying
 * MatchesUsingParentResults directory by directory).  It differs from cf_ignore_excluded in one
 * corner: a pattern that re-excludes a directory after an exception for something in it, as in
 * "d", "!d/f", "d", is not applied again below the directory, so d/f stays in the context.  */
bool cf_ignore_excluded_as_walked (const cf_ignore *ig, const char *relpath);

/* True when some "!" exception could re-include a path below dir, so a walker must descend into an
 * excluded directory instead of skipping it.  */
bool cf_ignore_may_include_below (const cf_ignore *ig, const char *dir);

size_t cf_ignore_count (const cf_ignore *ig);
/* The file the patterns came from (as given to cf_ignore_parse or chosen by cf_ignore_load), or
 * NULL for the empty matcher.  */
const char *cf_ignore_path (const cf_ignore *ig);
void cf_ignore_free (cf_ignore *ig);

#endif
