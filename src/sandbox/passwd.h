/* Resolve a Docker USER spec against an image's etc/passwd and etc/group.
 *
 * The spec is "user" or "user:group"; each part is a name or a number.  As Docker (runc) does:
 *   - the user matches the first passwd entry whose name or uid equals it; an unknown name is an
 *     error, an unknown number is used as is with gid 0 and home "/";
 *   - without a group, the gid is the passwd entry's and the supplementary groups are those of
 *     etc/group that list the user's name; with a group (matched by name or gid the same way),
 *     the gid is that group's and there are no supplementary groups.
 * The files are read through a directory fd of the root (a rootfs or a merged overlay dir); a
 * symlink cannot lead out of it.  */
#ifndef GSI_PASSWD_H
#define GSI_PASSWD_H

#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

typedef struct gsi_user
{
  char *name;       /* the passwd entry's name; NULL when the uid has none */
  uid_t uid;
  gid_t gid;
  gid_t *groups;    /* supplementary groups */
  size_t n_groups;
  char *home;       /* the passwd entry's home; "/" when none */
} gsi_user;

#define GSI_USER_INIT { NULL, 0, 0, NULL, 0, NULL }

/* Fills *out, overwriting it (the caller releases it with gsi_user_clear, also after a
 * failure).  An empty spec means root.  Errors: "unable to find user `x`: no matching entries in
 * passwd file", "unable to find group `g`: no matching entries in group file", a number out of
 * 0..2147483647, or a file that exists but cannot be read.  */
int gsi_user_resolve (int rootfd, const char *spec, gsi_user *out, gsi_error *err);

void gsi_user_clear (gsi_user *u);

static inline void
cleanup_userp (gsi_user *u)
{
  gsi_user_clear (u);
}
#define cleanup_user __attribute__ ((cleanup (cleanup_userp)))

#endif
