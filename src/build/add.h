/* ADD's two extras over COPY: local tar archives are extracted (gzip, bzip2, xz, zstd or plain,
 * recognised by content, never by name), and http(s) URLs are fetched, optionally verified against
 * --checksum.  */
#ifndef GSI_BUILD_ADD_H
#define GSI_BUILD_ADD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "build/copy.h"
#include "util/error.h"

/* Whether an ADD source is a URL (http:// or https://) rather than a context path.  */
bool gsi_add_is_url (const char *src);
/* Whether an ADD source names a git repository (not supported).  */
bool gsi_add_is_git (const char *src);

/* 1 when the open regular file fd holds a tar archive (compressed or not), 0 when not; the file
 * offset is back at 0 afterwards.  */
int gsi_add_is_archive (int fd, gsi_error *err);

/* Extracts the archive read from fd below dest (created when missing) inside the image root
 * dest_root_fd.  Entries keep their owners unless chown is set (then uid/gid).  `.wh.` names are
 * ordinary files here.  */
int gsi_add_extract (int fd, int dest_root_fd, const char *dest, bool chown, uid_t uid, gid_t gid,
                     gsi_error *err);

/* A downloaded URL.  */
typedef struct gsi_add_download
{
  char *url;
  char *dir;         /* private directory holding the file (removed by gsi_add_download_clear) */
  char *name;        /* file name: the last component of the URL path */
  char digest[72];   /* "sha256:<hex>" of the content */
  int64_t mtime;     /* Last-Modified, or -1 when the server did not say */
} gsi_add_download;

/* Fetches url into a new directory below tmp_dir.  When checksum ("sha256:<hex>") is not NULL the
 * content must match it.  */
int gsi_add_fetch (const char *url, const char *tmp_dir, const char *checksum, gsi_add_download *out,
                   gsi_error *err);
void gsi_add_download_clear (gsi_add_download *d);

/* The ADD of local sources: like gsi_copy_apply, but a source that is a regular file holding an
 * archive is extracted into the destination directory instead (unless unpack is false).  */
int gsi_add_apply_local (const gsi_copy_spec *s, bool unpack, int dest_root_fd, gsi_error *err);

/* The ADD of downloaded files to s->dest (s->sources are ignored): each lands as its name below a
 * directory destination, or as dest itself, with mode 0600 unless --chmod, and Last-Modified as
 * its mtime.  With unpack, archives are extracted instead.  */
int gsi_add_apply_downloads (const gsi_copy_spec *s, const gsi_add_download *d, size_t n, bool unpack,
                             int dest_root_fd, gsi_error *err);

#endif
