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

/* True when some "!" exception could re-include a path below dir, so a walker must descend into an
 * excluded directory instead of skipping it.  */
bool cf_ignore_may_include_below (const cf_ignore *ig, const char *dir);

size_t cf_ignore_count (const cf_ignore *ig);
void cf_ignore_free (cf_ignore *ig);

#endif
