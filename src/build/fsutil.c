#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <dirent.h>

#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

int
gsi_open_in_root (int root_fd, const char *path, int flags, mode_t mode, gsi_error *err)
{
  struct open_how how = { .flags = (unsigned long long) (flags | O_CLOEXEC),
                          .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                          .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  const char *p = path;
  int fd;

  while (*p == '/')
    p++;
  if (*p == '\0')
    p = ".";
  do
    fd = (int) syscall (SYS_openat2, root_fd, p, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", path);
  return fd;
}

int
gsi_mkdir_p_in_root (int root_fd, const char *path, mode_t mode, uid_t uid, gid_t gid, gsi_error *err)
{
  cleanup_free char *clean = gsi_path_clean (path);
  cleanup_close int cur = gsi_open_in_root (root_fd, "/", O_PATH | O_DIRECTORY, 0, err);
  gsi_buf sofar = GSI_BUF_INIT;
  char *save = NULL;

  if (cur < 0)
    return -1;
  for (char *comp = strtok_r (clean, "/", &save); comp; comp = strtok_r (NULL, "/", &save))
    {
      if (strcmp (comp, ".") == 0)
        continue;
      gsi_buf_addch (&sofar, '/');
      gsi_buf_addstr (&sofar, comp);
      /* Resolve from the root each time: the component may be a symlink that must be followed inside
       * the image (e.g. /bin -> usr/bin), which openat on the parent fd would follow on the host. */
      int fd = gsi_open_in_root (root_fd, sofar.buf, O_PATH | O_DIRECTORY, 0, err);
      if (fd < 0 && err->code == ENOENT)
        {
          gsi_error_clear (err);
          /* The missing component is created inside the already resolved parent (cur). */
          if (mkdirat (cur, comp, mode) < 0 && errno != EEXIST)
            {
              gsi_error_set (err, errno, "mkdir `%s`", sofar.buf);
              gsi_buf_release (&sofar);
              return -1;
            }
          if ((uid != (uid_t) -1 || gid != (gid_t) -1) && fchownat (cur, comp, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            {
              gsi_error_set (err, errno, "chown `%s`", sofar.buf);
              gsi_buf_release (&sofar);
              return -1;
            }
          /* mkdir applies the umask; the image wants the exact mode. */
          fchmodat (cur, comp, mode, 0);
          fd = gsi_open_in_root (root_fd, sofar.buf, O_PATH | O_DIRECTORY, 0, err);
        }
      if (fd < 0)
        {
          gsi_buf_release (&sofar);
          return -1;
        }
      close (cur);
      cur = fd;
    }
  gsi_buf_release (&sofar);
  return steal_fd (&cur);
}

void
gsi_path_split (const char *path, char **dir, char **base)
{
  cleanup_free char *clean = gsi_path_clean (path);
  char *slash = strrchr (clean, '/');

  if (slash == NULL)
    {
      *dir = xstrdup (".");
      *base = xstrdup (clean);
    }
  else if (slash == clean)
    {
      *dir = xstrdup ("/");
      *base = xstrdup (clean[1] ? clean + 1 : ".");
    }
  else
    {
      *dir = xstrndup (clean, (size_t) (slash - clean));
      *base = xstrdup (slash + 1);
    }
}

char *
gsi_path_join (const char *a, const char *b)
{
  if (b[0] == '/' || a[0] == '\0')
    return xstrdup (b);
  size_t la = strlen (a);
  if (la && a[la - 1] == '/')
    return xasprintf ("%s%s", a, b);
  return xasprintf ("%s/%s", a, b);
}

char *
gsi_path_clean (const char *path)
{
  bool rooted = path[0] == '/';
  cleanup_strvec gsi_strvec parts = GSI_STRVEC_INIT;
  gsi_buf out = GSI_BUF_INIT;
  const char *p = path;

  while (*p)
    {
      while (*p == '/')
        p++;
      const char *e = p;
      while (*e && *e != '/')
        e++;
      size_t n = (size_t) (e - p);
      if (n == 0 || (n == 1 && p[0] == '.'))
        ;
      else if (n == 2 && p[0] == '.' && p[1] == '.')
        {
          if (parts.n > 0 && strcmp (parts.v[parts.n - 1], "..") != 0)
            {
              free (parts.v[--parts.n]);
              parts.v[parts.n] = NULL;
            }
          else if (!rooted)
            gsi_strvec_push (&parts, "..");
        }
      else
        gsi_strvec_push_owned (&parts, xstrndup (p, n));
      p = e;
    }
  if (rooted)
    gsi_buf_addch (&out, '/');
  for (size_t i = 0; i < parts.n; i++)
    {
      if (i)
        gsi_buf_addch (&out, '/');
      gsi_buf_addstr (&out, parts.v[i]);
    }
  if (out.len == 0)
    gsi_buf_addch (&out, '.');
  return gsi_buf_detach (&out, NULL);
}

int
gsi_copy_data (int in_fd, int out_fd, gsi_error *err)
{
  for (;;)
    {
      ssize_t n = copy_file_range (in_fd, NULL, out_fd, NULL, 1 << 30, 0);
      if (n == 0)
        return 0;
      if (n > 0)
        continue;
      if (errno == EINTR)
        continue;
      if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF)
        break;
      return gsi_error_set (err, errno, "copy_file_range");
    }
  char buf[1 << 16];
  for (;;)
    {
      ssize_t n = read (in_fd, buf, sizeof buf);
      if (n == 0)
        return 0;
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return gsi_error_set (err, errno, "read");
        }
      for (ssize_t off = 0; off < n;)
        {
          ssize_t w = write (out_fd, buf + off, (size_t) (n - off));
          if (w < 0)
            {
              if (errno == EINTR)
                continue;
              return gsi_error_set (err, errno, "write");
            }
          off += w;
        }
    }
}

int
gsi_copy_xattrs (int in_fd, int out_fd, gsi_error *err)
{
  char names[65536];
  ssize_t n = flistxattr (in_fd, names, sizeof names);

  if (n < 0)
    {
      if (errno == ENOTSUP || errno == EBADF)
        return 0;
      return gsi_error_set (err, errno, "flistxattr");
    }
  for (char *name = names; name < names + n; name += strlen (name) + 1)
    {
      char val[65536];
      /* overlay's own bookkeeping must never travel into another layer. */
      if (strncmp (name, "trusted.overlay.", 16) == 0 || strncmp (name, "user.overlay.", 13) == 0)
        continue;
      ssize_t vn = fgetxattr (in_fd, name, val, sizeof val);
      if (vn < 0)
        continue;
      if (fsetxattr (out_fd, name, val, (size_t) vn, 0) < 0 && errno != ENOTSUP && errno != EPERM)
        return gsi_error_set (err, errno, "set xattr `%s`", name);
    }
  return 0;
}

static int
rm_children (int dfd, gsi_error *err)
{
  int dup_fd = dup (dfd);
  if (dup_fd < 0)
    return gsi_error_set (err, errno, "dup");
  cleanup_dir DIR *d = fdopendir (dup_fd);
  struct dirent *de;
  if (d == NULL)
    {
      close (dup_fd);
      return gsi_error_set (err, errno, "fdopendir");
    }
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (gsi_rm_rf_at (dfd, de->d_name, err) < 0)
        return -1;
    }
  return 0;
}

int
gsi_rm_rf_at (int dir_fd, const char *path, gsi_error *err)
{
  struct stat st;
  if (fstatat (dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : gsi_error_set (err, errno, "stat `%s`", path);
  if (S_ISDIR (st.st_mode))
    {
      cleanup_close int fd = openat (dir_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return gsi_error_set (err, errno, "open `%s`", path);
      if (rm_children (fd, err) < 0)
        return -1;
      if (unlinkat (dir_fd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return gsi_error_set (err, errno, "rmdir `%s`", path);
      return 0;
    }
  if (unlinkat (dir_fd, path, 0) < 0 && errno != ENOENT)
    return gsi_error_set (err, errno, "unlink `%s`", path);
  return 0;
}
