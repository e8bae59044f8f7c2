/* gsi and registries: pull images into the store and push them out, over the OCI distribution
 * protocol.  The public face of src/registry (reference.h, auth.h and config.h are public too;
 * client.h is the internal HTTP layer).
 *
 * Nothing enters the store unverified: every blob is streamed to a temp file in the store while its
 * size and sha256 are checked, and installed only when both match the descriptor.  Manifests are
 * checked against the digest they were asked by (or the Docker-Content-Digest the registry sent).
 * Blobs already in the store are not fetched again.  */
#ifndef GSI_REGISTRY_H
#define GSI_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "oci/store.h"
#include "registry/client.h"
#include "util/error.h"

typedef void (*gsi_reg_progress_fn) (void *ctx, const char *line); /* one human-readable line */

typedef struct gsi_pull_opts
{
  const char *platform; /* "os/arch[/variant]"; NULL: linux/gsi_host_arch () */
  const char *tag_as;   /* store tag to set; NULL: the reference as the user wrote it (normalised),
                           no tag for a digest-only reference */
  int jobs;             /* blobs downloaded at once; <= 0: 4 */
  gsi_reg_progress_fn progress;
  void *progress_ctx;
} gsi_pull_opts;

typedef struct gsi_pull_stats
{
  unsigned blobs_fetched, blobs_present; /* layers+config fetched / already in the store */
  uint64_t bytes_fetched;
  char source[256];                       /* which endpoint served it: the mirror entry or the registry domain */
} gsi_pull_stats;

/* Pulls ref (any reference of reference.h) into the store and tags it.  Follows an index or Docker
 * manifest list to the platform's manifest (and stores the image manifest, not the index, so the
 * tag names one platform's image); refuses schema 1 with a clear message.  Mirrors of the domain
 * (config.h) are tried first, in order, then the registry; a mirror that fails (any error) is
 * skipped with a progress line.  *out (may be NULL) gets the stored manifest's descriptor.  */
int gsi_registry_pull (gsi_reg_client *c, gsi_store *s, const char *ref, const gsi_pull_opts *opts,
                       gsi_descriptor *out, gsi_pull_stats *stats, gsi_error *err);

typedef struct gsi_push_opts
{
  const char *const *extra_tags; /* more tags of the same repository to point at the image; may be NULL */
  int jobs;                      /* blobs uploaded at once; <= 0: 4 */
  bool force_chunked;            /* upload with PATCH chunks even when monolithic would do (tests) */
  uint64_t chunk_size;           /* 0: 16 MiB */
  gsi_reg_progress_fn progress;
  void *progress_ctx;
} gsi_push_opts;

typedef struct gsi_push_stats
{
  unsigned blobs_uploaded, blobs_existing, blobs_mounted;
  uint64_t bytes_uploaded;
} gsi_push_stats;

/* Pushes the store image src (a tag or digest, see gsi_store_resolve) to dest (a reference with a
 * tag; a digest-only dest pushes by digest), plus opts->extra_tags.  Per blob: HEAD; if absent, a
 * cross-repository mount from another repository of the same registry this client or an earlier
 * push recorded having it (gsi-private/registry-blobs.json in the store), else POST then PUT of the
 * whole blob, falling back to PATCH chunks when the registry does not take the monolithic PUT.
 * Blobs go several at a time; the manifest (and an index's children before the index) go last.
 * digest (GSI_DIGEST_BUF) gets the manifest digest the registry reported.  */
int gsi_registry_push (gsi_reg_client *c, gsi_store *s, const char *src, const char *dest, const gsi_push_opts *opts,
                       char *digest, gsi_push_stats *stats, gsi_error *err);

#endif
