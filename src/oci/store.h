/* The image store: an OCI image layout that skopeo (`oci:DIR:REF`), umoci and containerd read as is.
 *
 *   ROOT/oci-layout             {"imageLayoutVersion":"1.0.0"}
 *   ROOT/index.json             an image index; one descriptor per tag
 *   ROOT/blobs/sha256/<hex>     content-addressed blobs (manifests, configs, layers)
 *   ROOT/gsi-private/           gsi's own data, ignored by OCI tools (mode 0700):
 *       tmp/     temp files and dirs of writes in progress; anything left here is removed by prune
 *       layers/  unpacked layers (overlay lower dirs), named by the hex of their diff_id
 *       cache/   build cache index
 *       mounts/  RUN --mount=type=cache directories
 *       locks/   lock files: index.lock (index.json read-modify-write), gc.lock (see prune)
 *       inventory/
 *                what each layer blob holds for `gsi sbom` and `gsi scan` (src/vuln/inventory.c), named
 *                by the hex of the layer blob's digest; a cache, written without fsync (its readers
 *                check what they read); prune removes the entries of blobs no longer in the store
 *
 * Tags.  A tag is a descriptor in index.json with two annotations:
 *   org.opencontainers.image.ref.name = the reference the user gave, with ":latest" added when it
 *       has no tag ("keystone:2025.1-latest", "ghcr.io/rackerlabs/keystone:2025.1").  This is what
 *       `skopeo inspect oci:ROOT:keystone:2025.1-latest` looks up (it splits at the first colon
 *       after the path and compares the rest with ref.name byte for byte);
 *   io.containerd.image.name = the fully qualified form Docker and containerd use
 *       ("docker.io/library/keystone:2025.1-latest").
 * Two references that name the same image ("keystone" and "docker.io/library/keystone:latest")
 * share one tag: setting either replaces the descriptor of the other, so a name always has exactly
 * one descriptor.  Lookups try, in order: ref.name equal to the text as given (so names written by
 * other tools, such as skopeo's "oci:ROOT:foo", are found), ref.name equal to the normalised form,
 * then io.containerd.image.name equal to the fully qualified form.  References with a digest
 * ("name@sha256:...") can be looked up but not used as tags.
 *
 * Durability.  Every file is written to a temp file, fsynced and renamed, and its directory is
 * fsynced; blobs are in place before index.json names them.  index.json changes are
 * read-modify-write under an flock on locks/index.lock, so concurrent gsi processes lose no tag.
 * A process killed at any point leaves a valid store; its temp files are removed by prune.
 *
 * Garbage collection.  Every open store handle holds a shared flock on locks/gc.lock; prune takes
 * it exclusively, so it never deletes a blob that a running build has written but not yet tagged.
 * Prune therefore fails with EBUSY (or waits, if asked) while any other handle, in this process or
 * another, is open.
 *
 * Threads.  A handle holds only fds and paths fixed at open, and every operation opens what it needs,
 * so one handle may be used from several threads at once (index.json updates still serialise on the
 * lock file), except gsi_store_prune, which must not run alongside anything else on the handle.  */
#ifndef GSI_OCI_STORE_H
#define GSI_OCI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "oci/blob.h"
#include "oci/digest.h"
#include "util/error.h"
#include "util/strvec.h"

#define GSI_MEDIA_OCI_LAYOUT "application/vnd.oci.layout.header.v1+json"
#define GSI_MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define GSI_MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define GSI_MEDIA_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define GSI_MEDIA_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define GSI_MEDIA_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define GSI_MEDIA_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define GSI_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define GSI_MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define GSI_MEDIA_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define GSI_MEDIA_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define GSI_ANNOT_REF_NAME "org.opencontainers.image.ref.name"
#define GSI_ANNOT_CONTAINERD_NAME "io.containerd.image.name"

#define GSI_STORE_PRIVATE_DIR "gsi-private"

/* ---- key/value lists (annotations, labels) ---------------------------------------------------- */

/* Ordered key/value pairs with unique keys; keys.v[i] goes with values.v[i].  */
typedef struct gsi_kv
{
  gsi_strvec keys;
  gsi_strvec values;
} gsi_kv;

#define GSI_KV_INIT { GSI_STRVEC_INIT, GSI_STRVEC_INIT }

/* Replaces the value of an existing key in place, else appends.  */
void gsi_kv_set (gsi_kv *kv, const char *key, const char *value);
const char *gsi_kv_get (const gsi_kv *kv, const char *key); /* NULL when absent */
bool gsi_kv_unset (gsi_kv *kv, const char *key);            /* true when it was there */
void gsi_kv_copy (gsi_kv *dst, const gsi_kv *src);          /* dst is cleared first */
void gsi_kv_clear (gsi_kv *kv);

/* ---- descriptors ------------------------------------------------------------------------------ */

typedef struct gsi_descriptor
{
  char *media_type;              /* owned; required */
  char digest[GSI_DIGEST_BUF];   /* "sha256:<hex>" */
  int64_t size;
  gsi_kv annotations;
  /* Platform of an index entry; NULL when absent.  */
  char *platform_os;
  char *platform_arch;
  char *platform_variant;
} gsi_descriptor;

#define GSI_DESCRIPTOR_INIT { NULL, { 0 }, 0, GSI_KV_INIT, NULL, NULL, NULL }

void gsi_descriptor_init (gsi_descriptor *d);
void gsi_descriptor_clear (gsi_descriptor *d); /* frees and re-initialises */
void gsi_descriptor_copy (gsi_descriptor *dst, const gsi_descriptor *src); /* dst is cleared first */
/* Fills d with media_type, digest and size (nothing else).  */
void gsi_descriptor_set (gsi_descriptor *d, const char *media_type, const char *digest, int64_t size);
/* JSON form ({"mediaType","digest","size"[,"annotations"][,"platform"]}); NULL with err on a
 * string that is not valid UTF-8 or an invalid digest.  */
json_t *gsi_descriptor_to_json (const gsi_descriptor *d, gsi_error *err);
int gsi_descriptor_from_json (json_t *j, gsi_descriptor *d, gsi_error *err);

/* ---- references ------------------------------------------------------------------------------- */

/* Validates an image reference for use as a tag and returns, in malloc'd strings, its ref.name form
 * (*name: "NAME:TAG", ":latest" added when there is no tag) and its fully qualified form (*full,
 * "docker.io/library/NAME:TAG" style; either out pointer may be NULL).  NAME is [DOMAIN/]PATH in the
 * Docker grammar: lowercase path components of [a-z0-9] joined by '.', '_', '__' or dashes; a first
 * component with '.' or ':' or equal to "localhost" is a registry domain.  Digest references are
 * rejected.  */
int gsi_ref_normalize (const char *ref, char **name, char **full, gsi_error *err);

/* ---- the store -------------------------------------------------------------------------------- */

typedef struct gsi_store gsi_store;

typedef enum gsi_store_dir
{
  GSI_STORE_TMP = 0,
  GSI_STORE_LAYERS,
  GSI_STORE_CACHE,
  GSI_STORE_MOUNTS,
  GSI_STORE_LOCKS,
  GSI_STORE_INVENTORY,
  GSI_STORE_NDIRS,
} gsi_store_dir;

/* The store root to use when the user gave none: $GSI_ROOT if set and non-empty, else /var/lib/gsi
 * for uid 0, else $XDG_DATA_HOME/gsi (when absolute), else $HOME/.local/share/gsi.  malloc'd.  */
char *gsi_store_default_root (gsi_error *err);

/* Opens the layout at root, creating it (and missing parents) when absent.  Refuses a directory
 * that is neither empty nor an OCI layout.  root may be relative; the store keeps it absolute.  */
int gsi_store_open (const char *root, gsi_store **out, gsi_error *err);
void gsi_store_close (gsi_store *s); /* NULL is fine; the store must outlive its blob writers */

static inline void
cleanup_storep (gsi_store **s)
{
  gsi_store_close (*s);
}
#define cleanup_store __attribute__ ((cleanup (cleanup_storep)))

const char *gsi_store_root (const gsi_store *s);
/* Absolute path of one of the gsi-private subdirectories.  */
const char *gsi_store_dir_path (const gsi_store *s, gsi_store_dir d);
/* ROOT/blobs/sha256/<hex> (malloc'd), NULL on an invalid digest.  */
char *gsi_store_blob_path (const gsi_store *s, const char *digest, gsi_error *err);
/* ROOT/gsi-private/layers/<hex of diff_id> (malloc'd), NULL on an invalid digest.  Whoever unpacks
 * a layer should unpack into a gsi_store_mkdtemp dir and rename it here.  */
char *gsi_store_layer_path (const gsi_store *s, const char *diff_id, gsi_error *err);

/* ROOT/gsi-private/inventory/<hex of the layer blob digest> (malloc'd), NULL on an invalid digest.  */
char *gsi_store_inventory_path (const gsi_store *s, const char *layer_digest, gsi_error *err);
/* Writes data as the inventory entry of a layer blob: a temp file in tmp/ renamed over the entry, so
 * a reader sees the old or the new entry whole.  Not fsynced: the entry is a cache that its readers
 * check, and the blob stays the truth.  */
int gsi_store_put_inventory (gsi_store *s, const char *layer_digest, const void *data, size_t len, gsi_error *err);

/* ---- temp files, atomic writes, locks --------------------------------------------------------- */

/* Creates and opens (O_RDWR|O_CLOEXEC, mode 0600) a new file tmp/<prefix>XXXXXX and holds an
 * exclusive flock on it for as long as any fd of it is open, which tells prune it is in use.
 * *name gets the file name inside tmp/ (malloc'd).  */
int gsi_store_tmpfile (gsi_store *s, const char *prefix, int *fd, char **name, gsi_error *err);
/* Removes tmp/<name>; errors are ignored (prune catches what is left).  */
void gsi_store_tmp_unlink (gsi_store *s, const char *name);
/* Creates a directory tmp/<prefix>XXXXXX; *path gets its absolute path (malloc'd).  */
int gsi_store_mkdtemp (gsi_store *s, const char *prefix, char **path, gsi_error *err);
/* Moves a finished temp file into blobs/sha256/<hex of digest>: fsync, chmod 0644, rename (keeping an
 * existing blob of that digest, which has the same content), fsync of blobs/sha256.  The caller
 * still closes fd; tmp_name is gone from tmp/ on success.  The content is not re-hashed.  */
int gsi_store_install_blob (gsi_store *s, int fd, const char *tmp_name, const char *digest, gsi_error *err);
/* Writes data to ROOT/<relpath> atomically (temp file in tmp/, fsync, rename, fsync of the
 * directory).  relpath must stay inside the store ("index.json", "gsi-private/cache/x").  */
int gsi_store_write_atomic (gsi_store *s, const char *relpath, const void *data, size_t len, gsi_error *err);
/* Takes an exclusive flock on locks/<name>.lock, waiting for it; *fd holds the lock until closed.  */
int gsi_store_lock (gsi_store *s, const char *name, int *fd, gsi_error *err);

/* ---- blobs ------------------------------------------------------------------------------------ */

/* Stores data uncompressed (JSON documents: configs, manifests); digest gets its sha256.  A blob
 * already present is not rewritten.  */
int gsi_store_put_blob (gsi_store *s, const void *data, size_t len, char digest[GSI_DIGEST_BUF], gsi_error *err);
/* True when blobs/sha256/<hex> exists (false for an invalid digest).  */
bool gsi_store_has_blob (gsi_store *s, const char *digest);
/* Opens a blob for reading (O_RDONLY|O_CLOEXEC) and returns the fd, or -1.  When expected_size is
 * >= 0 the file size must equal it.  *size (may be NULL) gets the file size.  Fails with code ENOENT
 * when the blob is absent.  */
int gsi_store_open_blob (gsi_store *s, const char *digest, int64_t expected_size, uint64_t *size, gsi_error *err);
/* Reads a whole blob into a NUL-terminated malloc'd buffer and checks its sha256; refuses blobs over
 * max_size bytes.  expected_size as for gsi_store_open_blob.  */
int gsi_store_read_blob (gsi_store *s, const char *digest, int64_t expected_size, size_t max_size, char **data,
                         size_t *len, gsi_error *err);
/* Re-hashes a blob file and fails when its content does not match its name.  */
int gsi_store_verify_blob (gsi_store *s, const char *digest, gsi_error *err);

/* ---- index.json: tags and images -------------------------------------------------------------- */

/* Finds what ref names: a tag (see the top of this file), a manifest digest "sha256:<hex>", or
 * "name@sha256:<hex>" (the digest decides).  A digest not in index.json still resolves when its
 * blob exists; its media type is then read from the blob.  Fails with code ENOENT when not found.
 * out is cleared first.  */
int gsi_store_resolve (gsi_store *s, const char *ref, gsi_descriptor *out, gsi_error *err);
/* Points tag ref at the manifest (or index) described by desc, moving the tag if it existed.  The
 * blob must be in the store.  desc's own annotations are kept except the two name annotations,
 * which the store sets.  */
int gsi_store_tag (gsi_store *s, const char *ref, const gsi_descriptor *desc, gsi_error *err);
/* Removes the tag ref names; ENOENT when there is none.  Blobs stay until prune.  */
int gsi_store_untag (gsi_store *s, const char *ref, gsi_error *err);
/* rmi: with a digest (or name@digest), removes every index.json entry of that manifest; with a tag,
 * the tag only.  *removed (may be NULL) gets the number of entries removed; ENOENT when none.  */
int gsi_store_remove_image (gsi_store *s, const char *ref, size_t *removed, gsi_error *err);
/* A copy of index.json as parsed JSON (caller json_decref's it).  */
json_t *gsi_store_load_index (gsi_store *s, gsi_error *err);

typedef struct gsi_image_summary
{
  char *name;                  /* ref.name, NULL for an entry without one */
  char *full_name;             /* io.containerd.image.name, or NULL */
  char *media_type;            /* of the manifest or index */
  char digest[GSI_DIGEST_BUF]; /* manifest (or index) digest */
  char *created;               /* config "created", NULL when unknown */
  uint64_t size;               /* manifest + config + layers, as stored (compressed) */
} gsi_image_summary;

/* The entries of index.json in file order.  Missing or unreadable blobs do not fail the listing;
 * they leave created NULL and size counting what the descriptors say.  */
int gsi_store_list_images (gsi_store *s, gsi_image_summary **out, size_t *n, gsi_error *err);
void gsi_image_summaries_free (gsi_image_summary *v, size_t n);

/* ---- prune ------------------------------------------------------------------------------------ */

typedef struct gsi_prune_opts
{
  const char *const *keep; /* NULL-terminated extra roots (digests: manifests, indexes or any blob); may be NULL */
  bool wait;               /* wait for other open handles to close instead of failing with EBUSY */
  bool cache_mounts;       /* also empty gsi-private/mounts (RUN --mount=type=cache data) */
  bool dry_run;            /* count what would go, delete nothing */
} gsi_prune_opts;

typedef struct gsi_prune_stats
{
  size_t blobs, layers, tmp, mounts, inventory; /* entries removed */
  /* Sum of regular file sizes removed.  */
  uint64_t blob_bytes, layer_bytes, tmp_bytes, mount_bytes, inventory_bytes;
} gsi_prune_stats;

/* Deletes blobs not reachable from index.json (or opts->keep) through manifests and indexes;
 * unpacked layers (entries of layers/ whose name does not start with the hex of a diff_id of a
 * reachable config, so keep a manifest or config digest to keep its unpacked layers); inventory
 * entries whose blob is not reachable or not in the store; everything in tmp/ not held by a live
 * writer (temp dirs of gsi_store_mkdtemp count as stale: do not prune while this process builds).
 * A blob a reachable descriptor names but that is missing is fine (the layout allows it).  A
 * corrupt index.json fails prune before anything is deleted.  opts may be NULL.  */
int gsi_store_prune (gsi_store *s, const gsi_prune_opts *opts, gsi_prune_stats *stats, gsi_error *err);

#endif
