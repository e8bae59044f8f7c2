/* Layer tars: made from a directory (an overlay upper dir, or any tree) and applied onto a directory.
 *
 * Creating.  gsi_layer_create walks a directory with *at() calls (no path strings handed to the
 * kernel), sorted bytewise per directory, parents before children, and streams a PAX (restricted)
 * tar into a write callback, never holding a file in memory.  Output is deterministic: numeric
 * uid/gid with empty uname/gname, mtimes in whole seconds (clamped to source_date_epoch when it is
 * >= 0), xattrs sorted, no atime/ctime.  Within a directory the order is: the opaque marker, then
 * whiteouts (sorted), then the other entries (sorted), each directory followed by its subtree.
 *
 * In overlay mode (the default) the directory is an overlayfs upper dir:
 *   - a character device 0:0 becomes the regular empty file `<dir>/.wh.<name>`;
 *   - a directory with trusted.overlay.opaque="y" (or user.overlay.opaque="y", rootless
 *     `userxattr` mounts) gets `<dir>/.wh..wh..opq` right after its own entry;
 *   - trusted.overlay.* and user.overlay.* xattrs are never stored; an upper dir holding
 *     overlay.redirect or overlay.metacopy xattrs is an error, since its content cannot be read from
 *     the upper dir alone: mount the overlay with redirect_dir=off,metacopy=off.
 * With GSI_LAYER_PLAIN_TREE (`gsi import`), nothing is converted: devices stay devices.
 * Both modes: hardlinked files (nlink > 1, same dev+ino) become tar hardlinks to the first path
 * written; xattrs go in SCHILY.xattr.* records (security.capability kept; security.selinux left
 * out, as it describes the build host); sockets cannot be stored and are counted in `skipped`.
 *
 * Applying.  gsi_layer_apply reads a tar in any compression libarchive knows (gzip, zstd, xz, bzip2,
 * none) and writes it below a target directory.  Every path is resolved inside the target
 * (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, or an equivalent component walk where openat2 is
 * missing): `..` components are rejected, absolute paths are taken as relative to the target, and
 * symlinks already in the target are followed as if the target were `/`, never out of it.  The last
 * component is never followed.  Ownership is kept when running as root (euid 0), modes, mtimes,
 * xattrs, hardlinks, symlinks, devices and fifos always.  An existing directory meeting a directory
 * entry keeps its content and takes the new attributes; anything else at an entry's path is
 * replaced.  Directory modes and mtimes are set after all entries, so read-only directories and
 * their mtimes come out right.
 *
 * Whiteout modes (flags of gsi_layer_apply):
 *   - default ("merge"): the target holds the layers below, already applied.  `.wh.<name>` deletes
 *     <name> and `<dir>/.wh..wh..opq` empties <dir> of what lower layers put there; neither is
 *     extracted.  Per the OCI layer spec they only affect lower layers: an entry of this same layer
 *     is never deleted, whatever the tar order.  Use this for flattening and for `docker export`
 *     style trees.
 *   - GSI_APPLY_OVERLAY_WHITEOUTS ("overlay lower"): the target is this layer's own, empty
 *     directory, to be stacked as an overlay lowerdir.  Whiteouts become character devices 0:0 and
 *     opaque markers set trusted.overlay.opaque="y" (user.overlay.opaque with GSI_APPLY_USERXATTR,
 *     for overlays mounted with `userxattr`).  Deletion as in merge mode still happens, which is a
 *     no-op on an empty target.
 *   - GSI_APPLY_NO_WHITEOUTS: `.wh.` names are ordinary files (ADD of a local archive).
 * overlay.* xattrs inside a tar are always dropped, so a layer cannot forge overlay metadata.
 * (Overlay-lower caveat, from the kernel: a directory that exists in one layer only is not merged,
 * and readdir on it lists a whiteout as a name that cannot be stat'd.  Real layers only white out
 * what exists below, where the directory is merged and the whiteout hidden.)
 *
 * Threads and resources.  All functions are reentrant; different layers may be made or applied in
 * parallel.  Creating starts one read-ahead thread for its duration (GSI_LAYER_NO_READAHEAD: none)
 * and holds one directory fd per level of depth; memory stays around 10 MiB whatever the size.  */
#ifndef GSI_OCI_LAYER_H
#define GSI_OCI_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "oci/blob.h"
#include "util/error.h"

/* The sink of the tar stream: consume all len bytes or fail (returning -1 with err set).  */
typedef int (*gsi_layer_write_fn) (void *ctx, const void *buf, size_t len, gsi_error *err);

enum
{
  /* An arbitrary tree, not an overlay upper dir: no whiteout or opaque conversion.  */
  GSI_LAYER_PLAIN_TREE = 1u << 0,
  /* No read-ahead thread (it walks ahead asking the kernel to start reading files, which helps a
   * cold page cache a lot and costs little otherwise).  */
  GSI_LAYER_NO_READAHEAD = 1u << 1,
};

typedef struct gsi_layer_create_opts
{
  unsigned flags;             /* GSI_LAYER_* */
  int64_t source_date_epoch;  /* >= 0: mtimes later than this are clamped to it; < 0: kept */
  /* NULL-terminated list of layer-relative paths ("etc/hosts", no leading "/") left out together
   * with their subtrees, e.g. mount points the RUN sandbox created; NULL for none.  */
  const char *const *exclude;
} gsi_layer_create_opts;

#define GSI_LAYER_CREATE_OPTS_INIT { 0, -1, NULL }

typedef struct gsi_layer_stats
{
  uint64_t entries;    /* tar entries written or read, whiteouts and hardlinks included */
  uint64_t whiteouts;  /* `.wh.<name>` and opaque markers among them */
  uint64_t hardlinks;  /* hardlink entries among them */
  uint64_t data_bytes; /* regular file content */
  uint64_t tar_bytes;  /* uncompressed tar bytes written (create) or read (apply) */
  uint64_t skipped;    /* sockets (create); devices or owners not permitted under BEST_EFFORT (apply) */
} gsi_layer_stats;

/* Writes the layer tar of the directory `dir` (or the open directory dirfd) to write(ctx, ...).
 * opts may be NULL (overlay mode, mtimes kept); stats may be NULL.  */
int gsi_layer_create (const char *dir, const gsi_layer_create_opts *opts, gsi_layer_write_fn write, void *ctx,
                      gsi_layer_stats *stats, gsi_error *err);
int gsi_layer_create_at (int dirfd, const gsi_layer_create_opts *opts, gsi_layer_write_fn write, void *ctx,
                         gsi_layer_stats *stats, gsi_error *err);

/* The adapter for a blob writer: gsi_layer_create (dir, opts, gsi_layer_blob_sink, writer, ...).  */
static inline int
gsi_layer_blob_sink (void *blob_writer, const void *buf, size_t len, gsi_error *err)
{
  return gsi_blob_writer_write ((gsi_blob_writer *) blob_writer, buf, len, err);
}

/* The whole commit: opens a blob writer on store, writes the layer of dir through it and commits
 * (info gets digest, diff_id and sizes); on failure the writer is aborted and nothing is stored.  */
int gsi_layer_create_blob (gsi_store *store, const char *dir, const gsi_layer_create_opts *opts,
                           gsi_compression comp, gsi_blob_info *info, gsi_layer_stats *stats, gsi_error *err);

enum
{
  GSI_APPLY_OVERLAY_WHITEOUTS = 1u << 0, /* leave overlay whiteouts/opaque xattrs (see above) */
  GSI_APPLY_USERXATTR = 1u << 1,         /* with OVERLAY_WHITEOUTS: user.overlay.opaque */
  GSI_APPLY_NO_WHITEOUTS = 1u << 2,      /* `.wh.` entries are plain files */
  /* Rootless: a chown, mknod of a device or trusted.* xattr the kernel refuses (EPERM, EINVAL for
   * unmapped ids) is skipped and counted instead of failing.  */
  GSI_APPLY_BEST_EFFORT = 1u << 3,
};

/* Applies the tar read from tar_fd, from its current offset to the end (a file or a pipe: it is never
 * seeked), onto the directory target_dirfd.  stats may be NULL.  On failure the target is left
 * partly written: unpack into a temp dir and rename it into place when done.  */
int gsi_layer_apply_fd (int tar_fd, int target_dirfd, unsigned flags, gsi_layer_stats *stats, gsi_error *err);
int gsi_layer_apply (const char *tar_path, const char *target_dir, unsigned flags, gsi_layer_stats *stats,
                     gsi_error *err);

/* Tests only: 0 makes path resolution use the component walk instead of openat2.  */
void gsi_layer_set_openat2 (int enabled);

#endif
