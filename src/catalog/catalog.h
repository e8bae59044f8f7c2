/* The image catalog: catalog.yaml (which images exist, for which releases, from which bases) and the
 * build graph their Containerfiles make.
 *
 *   registry: ghcr.io/rackerlabs/genestack-images
 *   source: https://github.com/rackerlabs/genestack-images      (optional; default from a ghcr.io registry)
 *   tags: { latest: "{release}-latest", immutable: "{release}-{date}" }
 *   releases: { "2025.1": { suite: trixie, base: debian-trixie, build_args: { RELEASE: "2025.1" } } }
 *   bases: { debian-trixie: { ref: "debian:trixie",        (made with its bootstrap when the store
 *                                                         lacks it; a base without one is pulled)
 *                             bootstrap: { distro: debian, suite: trixie, variant: minbase, mirror: URL,
 *                                          aptopt: ["Acquire::Check-Valid-Until \"false\""] } } }
 *   images: { keystone: { description: "...", service_package: keystone, smoke: [keystone-manage, --version],
 *                         releases: { "2026.1": { available: false, reason: "..." } } } }
 *
 * Every release's build_args get REGISTRY=<registry> unless they set REGISTRY themselves, so the
 * Containerfiles' `FROM ${REGISTRY}/parent:...` follow the catalog's registry.
 *
 * The catalog root is the folder of catalog.yaml; image X is built from ROOT/ContainerFiles/X with
 * ROOT as the build context.  Loading checks the whole file and fails on the first problem with a
 * located error "catalog.yaml:LINE:COL: cause".
 *
 * The graph of a release: every stage base and COPY --from image reference of an image's
 * Containerfile, planned with the release's build_args, that reads REGISTRY/NAME[:TAG|@DIGEST] with
 * NAME a catalog image is an edge NAME -> image; any other image reference is external (a base).  */
#ifndef GSI_CATALOG_H
#define GSI_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strvec.h"

typedef struct gsi_catalog_base
{
  char *name;
  char *ref;            /* the image reference Containerfiles use ("debian:trixie") */
  bool bootstrap;       /* a bootstrap: mapping was given */
  char *distro;         /* bootstrap fields; NULL when not given */
  char *suite;
  char *variant;
  char *mirror;
  gsi_strvec aptopts;   /* bootstrap aptopt: apt options for the bootstrap, kept in the image */
  int line;
} gsi_catalog_base;

typedef struct gsi_catalog_release
{
  char *name;
  char *suite;
  char *base;           /* a key of bases */
  gsi_strvec build_args; /* "NAME=VALUE", in file order */
  char *pip_index_url;  /* pip_index_url: where pypi patches come from; NULL: pip's default */
  int line;
} gsi_catalog_release;

/* An image's entry for one release; releases not listed are available.  */
typedef struct gsi_catalog_image_release
{
  char *release;
  bool available;
  char *reason;         /* NULL when not given */
} gsi_catalog_image_release;

/* A declared CVE fix: the image of that release must carry package at version fixed or later.
 * From ROOT/patches/IMAGE.yaml:
 *
 *   "2025.1":                     # a release of the catalog
 *     - package: openssl          # deb: the binary package; pypi: the distribution (any spelling)
 *       ecosystem: deb            # deb (applied with apt) or pypi (pip, into the venv)
 *       fixed: "3.5.1-1+deb13u1"  # a valid version of that ecosystem
 *       advisories: [CVE-2025-9230, DSA-6015-1]   # vuln/advisory.h forms, at least one
 *       reason: "..."             # why the image needs it, for the next reader
 */
typedef struct gsi_catalog_patch
{
  char *release;
  char *package;
  int ecosystem;        /* gsi_ecosystem of vuln/version.h */
  char *fixed;
  gsi_strvec advisories;
  char *reason;
  int line;             /* in the image's patch_file */
} gsi_catalog_patch;

typedef struct gsi_catalog_image
{
  char *name;
  char *description;
  char *service_package; /* NULL when not given */
  gsi_strvec smoke;      /* empty: no smoke test */
  gsi_catalog_image_release *releases;
  size_t n_releases;
  int line;
  char *patch_file;      /* ROOT/patches/NAME.yaml when it exists, else NULL */
  gsi_catalog_patch *patches;
  size_t n_patches;
} gsi_catalog_image;

typedef struct gsi_catalog
{
  char *path;           /* catalog.yaml as given */
  char *root;           /* its folder */
  char *registry;
  char *source;         /* NULL when neither given nor derivable */
  char *tag_latest;     /* template with {release} and {date} */
  char *tag_immutable;
  gsi_catalog_release *releases;
  size_t n_releases;
  gsi_catalog_base *bases;
  size_t n_bases;
  gsi_catalog_image *images;
  size_t n_images;
} gsi_catalog;

int gsi_catalog_load (const char *path, gsi_catalog **out, gsi_error *err);
void gsi_catalog_free (gsi_catalog *c);

/* Builds the catalog under another registry (`catalog build --registry`): c->registry and every
 * release's REGISTRY build arg become registry, which must be a repository name in the reference
 * grammar ("registry.example.com:5000/openstack").  */
int gsi_catalog_set_registry (gsi_catalog *c, const char *registry, gsi_error *err);

/* Index of the named entry, or -1.  */
int gsi_catalog_find_image (const gsi_catalog *c, const char *name);
int gsi_catalog_find_release (const gsi_catalog *c, const char *name);
int gsi_catalog_find_base (const gsi_catalog *c, const char *name);

/* Whether image is built for release; *reason (may be NULL) gets the catalog's reason or NULL.  */
bool gsi_catalog_available (const gsi_catalog *c, size_t image, const char *release, const char **reason);

/* The patches of image for release: *n of them starting at the returned pointer (NULL when none);
 * they are stored grouped by release.  */
const gsi_catalog_patch *gsi_catalog_patches (const gsi_catalog *c, size_t image, const char *release, size_t *n);

/* ROOT/ContainerFiles/NAME (malloc'd).  */
char *gsi_catalog_containerfile (const gsi_catalog *c, size_t image);

/* The tag template tmpl with {release} and {date} replaced; REGISTRY/IMAGE:TAG when image is not
 * NULL, else just TAG (malloc'd).  */
char *gsi_catalog_tag (const gsi_catalog *c, const char *tmpl, const char *image, const char *release,
                       const char *date);

/* ---- the build graph of one release ---- */

typedef struct gsi_catalog_node
{
  size_t *parents;      /* image indexes, ascending, no duplicates */
  size_t n_parents;
  gsi_strvec external;  /* other image references, in first-seen order, no duplicates */
} gsi_catalog_node;

typedef struct gsi_catalog_dag
{
  const gsi_catalog *catalog;
  char *release;
  gsi_catalog_node *nodes; /* one per catalog image, same index */
  size_t n;
  size_t *order;           /* all images, parents before children; ties in catalog order */
} gsi_catalog_dag;

/* Parses and plans every image's Containerfile for release and builds the graph.  Fails on a
 * Containerfile error, a reference under the catalog registry to no catalog image (located in the
 * Containerfile), or a cycle ("dependency cycle: a -> b -> a").  */
int gsi_catalog_dag_build (const gsi_catalog *c, const char *release, gsi_catalog_dag **out, gsi_error *err);
void gsi_catalog_dag_free (gsi_catalog_dag *d);

/* Topological order of n nodes given parents[i] (n_parents[i] each): order gets n indexes,
 * parents first, ties broken by lowest index.  On a cycle fails and *cycle (may be NULL) gets the
 * indexes of one cycle, first repeated at the end (malloc'd), *n_cycle its length.  */
int gsi_catalog_toposort (size_t n, size_t *const *parents, const size_t *n_parents, size_t *order,
                          size_t **cycle, size_t *n_cycle);

/* Marks in want[] (n bools, caller's) every ancestor of the images already marked.  */
void gsi_catalog_dag_close (const gsi_catalog_dag *d, bool *want);

/* Whether ref is REGISTRY/NAME[:TAG|@DIGEST] of the catalog: *name gets NAME (malloc'd).  */
bool gsi_catalog_ref_name (const gsi_catalog *c, const char *ref, char **name);

/* Sets label keys/values (NULL-terminated arrays of equal length) in the config of the image ref
 * names, writes the new config and manifest and points tag at them (tag may equal ref).  digest
 * gets the new manifest digest (GSI_DIGEST_BUF bytes).  */
struct gsi_store;
int gsi_catalog_relabel (struct gsi_store *s, const char *ref, const char *const *keys, const char *const *values,
                         const char *tag, char *digest, gsi_error *err);

#endif
