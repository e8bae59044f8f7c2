#include "sandbox/passwd.h"
#include "util/buf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* runc's limit: ids above it do not survive the round trip through Go's int on 32-bit builds,
 * and Docker reports them as errors rather than wrapping.  */
#define MAX_ID 2147483647UL
/* A passwd file larger than this is not a passwd file.  */
#define MAX_FILE_SIZE (64UL * 1024 * 1024)

enum id_parse
{
  ID_NOT_NUMERIC,
  ID_OK,
  ID_OUT_OF_RANGE,
};

static enum id_parse
parse_id (const char *s, unsigned long *out)
{
  unsigned long v = 0;

  if (*s == '\0')
    return ID_NOT_NUMERIC;
  for (const char *p = s; *p; p++)
    {
      if (*p < '0' || *p > '9')
        return ID_NOT_NUMERIC;
      if (v > (MAX_ID - (unsigned long) (*p - '0')) / 10)
        return ID_OUT_OF_RANGE;
      v = v * 10 + (unsigned long) (*p - '0');
    }
  *out = v;
  return ID_OK;
}

/* Opens etc/NAME under rootfd as a process chrooted there would: "..", absolute symlinks and
 * links pointing up all stay inside the root.  Returns -1 with errno set.  */
static int
open_etc_file (int rootfd, const char *name)
{
  cleanup_free char *path = xasprintf ("etc/%s", name);
  struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  int fd = (int) syscall (SYS_openat2, rootfd, path, &how, sizeof how);
  cleanup_close int etcfd = -1;

  if (fd >= 0 || errno != ENOSYS)
    return fd;
  /* Before Linux 5.6 there is no RESOLVE_IN_ROOT: follow no symlink at all rather than risk
   * one that leads to the host's files.  */
  etcfd = openat (rootfd, "etc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (etcfd < 0)
    return -1;
  return openat (etcfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

/* Reads etc/NAME into out; a missing file reads as empty, as runc treats it.  */
static int
read_etc_file (int rootfd, const char *name, gsi_buf *out, gsi_error *err)
{
  cleanup_close int fd = open_etc_file (rootfd, name);

  if (fd < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return 0;
      return gsi_error_set (err, errno, "open `/etc/%s`", name);
    }
  for (;;)
    {
      gsi_buf_grow (out, 8192);
      ssize_t n = read (fd, out->buf + out->len, out->alloc - out->len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return gsi_error_set (err, errno, "read `/etc/%s`", name);
      if (n == 0)
        return 0;
      gsi_buf_setlen (out, out->len + (size_t) n);
      if (out->len > MAX_FILE_SIZE)
        return gsi_error_set (err, EFBIG, "read `/etc/%s`", name);
    }
}

/* Splits the next line of *cursor into up to max ':'-separated fields, in place.  Returns the
 * number of fields, or -1 at the end of the text.  Missing trailing fields are set to "".  */
static int
next_record (char **cursor, char **fields, int max)
{
  char *line = *cursor;
  char *nl;
  int n = 0;

  if (*line == '\0')
    return -1;
  nl = strchr (line, '\n');
  if (nl)
    {
      *nl = '\0';
      *cursor = nl + 1;
    }
  else
    *cursor = line + strlen (line);
  while (n < max)
    {
      fields[n++] = line;
      char *colon = strchr (line, ':');
      if (!colon)
        break;
      *colon = '\0';
      line = colon + 1;
    }
  for (int i = n; i < max; i++)
    fields[i] = (char *) "";
  return n;
}

/* True when entry (the name and id fields of a passwd or group line) matches arg: by name, or
 * by number when arg is numeric.  */
static bool
entry_matches (const char *name, const char *id_field, const char *arg)
{
  unsigned long a, id;

  if (strcmp (name, arg) == 0)
    return true;
  return parse_id (arg, &a) == ID_OK && parse_id (id_field, &id) == ID_OK && a == id;
}

static bool
skip_line (char **f, int n)
{
  return n < 3 || f[0][0] == '\0' || f[0][0] == '#';
}

static int
resolve_user_part (int rootfd, const char *arg, gsi_user *out, gsi_error *err)
{
  cleanup_buf gsi_buf text = GSI_BUF_INIT;
  char *cursor, *f[7];
  unsigned long uid, gid;
  int n;

  if (read_etc_file (rootfd, "passwd", &text, err) < 0)
    return -1;
  cursor = text.buf;
  while ((n = next_record (&cursor, f, 7)) >= 0)
    {
      if (skip_line (f, n) || !entry_matches (f[0], f[2], arg))
        continue;
      if (parse_id (f[2], &uid) != ID_OK || parse_id (f[3], &gid) != ID_OK)
        continue;
      out->name = xstrdup (f[0]);
      out->uid = (uid_t) uid;
      out->gid = (gid_t) gid;
      out->home = xstrdup (*f[5] ? f[5] : "/");
      return 0;
    }
  switch (parse_id (arg, &uid))
    {
    case ID_OK:
      out->uid = (uid_t) uid;
      out->gid = 0;
      out->home = xstrdup ("/");
      return 0;
    case ID_OUT_OF_RANGE:
      return gsi_error_set (err, 0, "user `%s`: uids and gids must be in range 0-%lu", arg, MAX_ID);
    case ID_NOT_NUMERIC:
    default:
      return gsi_error_set (err, 0, "unable to find user `%s`: no matching entries in passwd file", arg);
    }
}

static bool
list_has (char *members, const char *name)
{
  char *save = NULL;

  for (char *m = strtok_r (members, ",", &save); m; m = strtok_r (NULL, ",", &save))
    if (strcmp (m, name) == 0)
      return true;
  return false;
}

/* With an explicit group: its gid.  Without: the groups listing the user by name.  */
static int
resolve_group_part (int rootfd, const char *arg, gsi_user *out, gsi_error *err)
{
  cleanup_buf gsi_buf text = GSI_BUF_INIT;
  char *cursor, *f[4];
  unsigned long gid;
  size_t alloc = 0;
  int n;

  if (read_etc_file (rootfd, "group", &text, err) < 0)
    return -1;
  cursor = text.buf;
  while ((n = next_record (&cursor, f, 4)) >= 0)
    {
      if (skip_line (f, n) || parse_id (f[2], &gid) != ID_OK)
        continue;
      if (arg && entry_matches (f[0], f[2], arg))
        {
          out->gid = (gid_t) gid;
          return 0;
        }
      if (!arg && out->name && list_has (f[3], out->name))
        {
          GSI_ALLOC_GROW (out->groups, out->n_groups + 1, alloc);
          out->groups[out->n_groups++] = (gid_t) gid;
        }
    }
  if (!arg)
    return 0;
  switch (parse_id (arg, &gid))
    {
    case ID_OK:
      out->gid = (gid_t) gid;
      return 0;
    case ID_OUT_OF_RANGE:
      return gsi_error_set (err, 0, "group `%s`: uids and gids must be in range 0-%lu", arg, MAX_ID);
    case ID_NOT_NUMERIC:
    default:
      return gsi_error_set (err, 0, "unable to find group `%s`: no matching entries in group file", arg);
    }
}

int
gsi_user_resolve (int rootfd, const char *spec, gsi_user *out, gsi_error *err)
{
  cleanup_free char *user = xstrdup (spec ? spec : "");
  char *group = strchr (user, ':');

  *out = (gsi_user) GSI_USER_INIT;
  if (group)
    *group++ = '\0';
  if (group && *group == '\0')
    group = NULL;
  if (resolve_user_part (rootfd, *user ? user : "0", out, err) < 0)
    return -1;
  return resolve_group_part (rootfd, group, out, err);
}

void
gsi_user_clear (gsi_user *u)
{
  free (u->name);
  free (u->groups);
  free (u->home);
  *u = (gsi_user) GSI_USER_INIT;
}
