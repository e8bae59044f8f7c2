/* Image archives: one image of the store written as a single tar file.
 *
 * oci-archive: a tar of an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) holding the
 *   image and everything it references (an index with all its manifests), which `skopeo
 *   oci-archive:FILE` and `podman load` read.
 * docker-archive: the `docker load` format, written as the hybrid Docker 25 `save` makes: a
 *   manifest.json array [{"Config", "RepoTags", "Layers"}] whose paths point into blobs/sha256/, plus
 *   oci-layout and index.json over the same blobs, so OCI tools read the same file.  Layer blobs go
 *   in as stored (gzip or zstd): `docker load` and skopeo detect the compression.  A multi-platform
 *   image is exported for this machine's platform (docker-archive holds one platform).
 *
 * The index.json descriptor carries the reference as in the store (org.opencontainers.image.ref.name
 * "NAME:TAG" and io.containerd.image.name) unless the image was named by digest.  Every blob is
 * re-hashed while it is copied, so a corrupt store cannot produce an archive.  Entries are owned by
 * root with fixed modes and mtime $SOURCE_DATE_EPOCH (0 when unset), in a fixed order, so one image
 * always gives the same bytes.  */
#ifndef GSI_OCI_ARCHIVE_H
#define GSI_OCI_ARCHIVE_H

#include "oci/store.h"
#include "util/error.h"

typedef enum gsi_archive_format
{
  GSI_ARCHIVE_OCI = 0,
  GSI_ARCHIVE_DOCKER,
} gsi_archive_format;

/* "oci-archive" / "docker-archive" to the enum; -1 with err for anything else.  */
int gsi_archive_format_parse (const char *name, gsi_archive_format *out, gsi_error *err);

/* Writes the archive of the image ref names (a tag or a digest, see gsi_store_resolve) to fd.  */
int gsi_archive_write_fd (gsi_store *s, const char *ref, gsi_archive_format fmt, int fd, gsi_error *err);

/* Writes it to path atomically: a temp file beside path, fsync, rename, fsync of the directory.  On
 * failure path is untouched and the temp file removed.  */
int gsi_archive_write_file (gsi_store *s, const char *ref, gsi_archive_format fmt, const char *path,
                            gsi_error *err);

#endif
