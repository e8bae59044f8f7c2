/* gsi build: the build executor.  Runs the stages of a Containerfile that the target needs, in
 * dependency order, on overlayfs, writes one layer per RUN/COPY/ADD into the store, and tags the
 * resulting image.
 *
 * Base layers are unpacked once into the store's layers/ dir (overlay whiteout form) and stacked
 * as overlay lower dirs; a RUN runs in the sandbox on them with a fresh upper dir; COPY/ADD write
 * into a merged overlay mounted in gsi's own private mount namespace.  The finished upper dir is
 * turned into the layer blob and then renamed into layers/ as that layer's unpacked form, so no
 * layer is ever extracted twice.
 *
 * Every step has a cache key (cache.h); a hit reuses the layer and the created time, so an
 * unchanged rebuild gives a byte-identical manifest.  */
#ifndef GSI_BUILD_H
#define GSI_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "containerfile/instructions.h"
#include "oci/blob.h"
#include "oci/image.h"
#include "oci/store.h"
#include "sandbox/sandbox.h"
#include "util/error.h"
#include "util/strvec.h"

/* --secret id=ID,src=FILE  */
typedef struct gsi_build_secret
{
  const char *id;
  const char *src;
} gsi_build_secret;

/* Progress: one line, without '\n' (step headers, RUN output, warnings).  */
typedef void (*gsi_build_log_fn) (void *ctx, const char *line);

/* When image bases (FROM, COPY --from) are fetched through gsi_build_opts.pull.  */
typedef enum gsi_pull_policy
{
  GSI_PULL_MISSING = 0, /* only when the store lacks the image */
  GSI_PULL_ALWAYS,      /* before every load of an image base, even when the store has it */
  GSI_PULL_NEVER,       /* never: a missing image is an error */
} gsi_pull_policy;

/* Fetches ref (as the Containerfile names it) into the store, tagged so that a lookup of ref finds
 * it.  */
typedef int (*gsi_build_pull_fn) (void *ctx, const char *ref, gsi_error *err);

typedef struct gsi_build_opts
{
  gsi_store *store;
  const char *context_dir;
  const char *containerfile;      /* NULL: CONTEXT/Containerfile, else CONTEXT/Dockerfile */
  const char *const *tags;        /* each is tagged in the store */
  size_t n_tags;
  const gsi_strvec *build_args;   /* "NAME=VALUE"; NULL for none */
  const char *target;             /* stage name; NULL for the last stage */
  bool no_cache;                  /* never look the cache up (entries are still written) */
  gsi_sandbox_network network;    /* for RUN without --network */
  int64_t source_date_epoch;      /* >= 0: created times and clamped layer mtimes; < 0: now */
  gsi_compression compression;    /* GSI_COMP_GZIP or GSI_COMP_ZSTD */
  const gsi_build_secret *secrets;
  size_t n_secrets;
  gsi_build_log_fn log;           /* NULL: silent */
  void *log_ctx;
  gsi_pull_policy pull_policy;
  gsi_build_pull_fn pull;         /* NULL: images come from the store only */
  void *pull_ctx;
} gsi_build_opts;

typedef struct gsi_build_result
{
  char manifest_digest[GSI_DIGEST_BUF];
  char config_digest[GSI_DIGEST_BUF];
  int64_t manifest_size;
  size_t steps;        /* steps run or taken from the cache */
  size_t cached;       /* of which cache hits */
} gsi_build_result;

/* Builds.  Moves the calling process into a private mount namespace first (see
 * gsi_build_private_mounts).  On failure no tag is written and no partial blob is left.  */
int gsi_build (const gsi_build_opts *o, gsi_build_result *res, gsi_error *err);

/* unshare (CLONE_NEWNS) and make / rprivate, once per process: overlay mounts gsi makes then
 * live only in its own namespace and vanish with it, even when gsi is killed.  */
int gsi_build_private_mounts (gsi_error *err);

/* The Containerfile a build uses: file when given, else CONTEXT/Containerfile when it exists, else
 * CONTEXT/Dockerfile.  malloc'd.  */
char *gsi_build_default_file (const char *context_dir, const char *file);

/* ---- pieces the executor is made of, public for the unit tests ---- */

/* Per-stage state the config instructions need beyond the config itself.  */
typedef struct gsi_config_state
{
  bool cmd_set; /* a CMD came earlier in this stage: a later ENTRYPOINT keeps it */
} gsi_config_state;

/* True for the instructions that only change the config (no layer).  */
bool gsi_build_is_config_only (cf_kind k);

/* Applies one expanded config-only instruction to cfg (ENV, LABEL, CMD, ENTRYPOINT, USER, WORKDIR,
 * EXPOSE, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER, ARG) and sets *created_by
 * to its history text (NULL for ONBUILD, which BuildKit keeps out of the history).  */
int gsi_build_apply_config (gsi_image_config *cfg, gsi_config_state *st, const cf_cmd *x, char **created_by,
                            gsi_error *err);

/* The argv of a RUN/CMD/ENTRYPOINT command line: exec form as is, shell form as SHELL (or
 * /bin/sh -c) followed by the line.  */
void gsi_build_cmdline_argv (const gsi_image_config *cfg, const cf_cmdline *line, gsi_strvec *out);

#endif
