/* File-system helpers for writing inside an image root: every path is resolved under a root dir fd
 * (openat2 RESOLVE_IN_ROOT), so a symlink in the image ("/bin -> usr/bin", or a hostile "/x -> /")
 * is followed the way it would be inside the container and never out of it.  */
#ifndef GSI_BUILD_FSUTIL_H
#define GSI_BUILD_FSUTIL_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/error.h"

/* openat2 (root_fd, path, flags | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).  */
int gsi_open_in_root (int root_fd, const char *path, int flags, mode_t mode, gsi_error *err);

/* Creates path and its missing parents under root_fd; directories it creates get mode and owner
 * (uid/gid, -1 to leave as the creator), existing ones are left alone.  Returns an O_PATH|O_DIRECTORY
 * fd of the final directory.  */
int gsi_mkdir_p_in_root (int root_fd, const char *path, mode_t mode, uid_t uid, gid_t gid, gsi_error *err);

/* Splits "a/b/c" into dirname "a/b" and basename "c" (both malloc'd).  "/" gives "/" and ".".  */
void gsi_path_split (const char *path, char **dir, char **base);

/* Joins a and b with one '/' (b may start with '/' meaning absolute: then b alone).  */
char *gsi_path_join (const char *a, const char *b);

/* Lexically cleans path as Go's path.Clean: "a//b/../c/" -> "a/c".  */
char *gsi_path_clean (const char *path);

/* Copies len bytes (all when len < 0) from in_fd to out_fd with copy_file_range, falling back to
 * read/write.  */
int gsi_copy_data (int in_fd, int out_fd, gsi_error *err);

/* Copies the xattrs of in_fd (a regular file or directory fd) onto out_fd; ignores xattrs the target
 * file system refuses (ENOTSUP) since a copy must not fail over e.g. a security label.  */
int gsi_copy_xattrs (int in_fd, int out_fd, gsi_error *err);

/* Removes path (file or whole tree) under dir_fd; a missing path is not an error.  */
int gsi_rm_rf_at (int dir_fd, const char *path, gsi_error *err);

#endif
