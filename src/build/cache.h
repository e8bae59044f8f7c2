/* The build step cache: one small JSON file per step key in the store's cache directory.
 *
 * A step's key is a SHA-256 over everything that decides its result: the key of the step before it
 * (a chain, so a change anywhere above invalidates everything below), the expanded instruction, the
 * build args in scope, the environment, user, working directory and shell in effect, and for
 * COPY/ADD a digest of the source content (never mtimes).  The entry records what the step made:
 * its layer (or that it made none) and the created time, which a cache hit reuses so that an
 * unchanged rebuild gives the same manifest digest.  */
#ifndef GSI_BUILD_CACHE_H
#define GSI_BUILD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct gsi_cache_key_input
{
  const char *parent;            /* the previous step's key, or what the stage starts from */
  const char *instruction;       /* the expanded instruction */
  const char *const *build_args; /* "NAME=VALUE" build args in scope; order does not matter */
  size_t n_build_args;
  const char *const *env;        /* "NAME=VALUE" environment in effect, in order */
  size_t n_env;
  const char *user;              /* NULL and "" are the same */
  const char *workdir;
  const char *const *shell;
  size_t n_shell;
  const char *content;           /* digest of COPY/ADD sources, or NULL */
} gsi_cache_key_input;

/* Writes 64 hex digits and a NUL to out.  */
void gsi_cache_key (const gsi_cache_key_input *in, char out[65]);

typedef struct gsi_cache_entry
{
  bool empty_layer;     /* a config-only step: no layer fields below */
  char digest[72];      /* the layer blob, "sha256:<hex>" */
  char diff_id[72];
  char media_type[80];
  uint64_t size;        /* blob size */
  uint64_t raw_size;    /* uncompressed tar size */
  char created[40];     /* RFC 3339, as it goes into the history */
} gsi_cache_entry;

/* Looks key up in dir.  Returns 1 and fills e on a hit, 0 on a miss (an unreadable or malformed
 * entry is a miss too: the cache is only ever an optimisation), -1 only for a bad key.  */
int gsi_cache_get (const char *dir, const char *key, gsi_cache_entry *e, gsi_error *err);

/* Stores e under key in dir atomically (temp file, fsync, rename), replacing an older entry.  */
int gsi_cache_put (const char *dir, const char *key, const gsi_cache_entry *e, gsi_error *err);

/* Whether s is 64 lower-case hex digits.  */
bool gsi_cache_key_valid (const char *s);

#endif
