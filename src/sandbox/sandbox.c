/* The RUN sandbox: three processes per run below the caller.
 *
 *   gsi (caller)   makes the scratch dir and, for a plain rootfs, the mount point stubs; pumps
 *                  output; waits; reads the error report; removes the stubs and the scratch dir.
 *   monitor        unshares mount/PID/IPC/UTS(/net); makes / private; mounts a tmpfs on the scratch
 *                  dir with the stub layer, the secret copies and the root mount point; mounts the
 *                  root; sets the hostname and lo; forks init; relays init's exit status.
 *   init (PID 1)   mounts /proc (it must be in the new PID namespace), /dev, /sys, resolv.conf,
 *                  hosts and the extra mounts; pivot_root; creates the cwd; forks the command and
 *                  reaps every orphan until the command exits.
 *   command        setsid, user, capabilities, stdio, fds, exec.
 *
 * Any of them that fails writes one report (errno + message) to a close-on-exec pipe and calls
 * _exit(127), so the caller can tell "could not start" from "ran and failed".  */
#include "sandbox/sandbox.h"
#include "sandbox/passwd.h"
#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_LINE (64 * 1024)
#define MAX_SYMLINKS 40

/* What a failing child sends: fits in one atomic pipe write (PIPE_BUF is 4096).  */
typedef struct child_report
{
  int code;
  char msg[3072];
} child_report;

/* A path the sandbox mounts something on, and whether the mount needs a directory.  */
typedef struct mount_target
{
  const char *path;
  bool dir;
} mount_target;

typedef struct sandbox
{
  const gsi_sandbox_opts *o;
  char *scratch;          /* host dir; a private tmpfs inside the namespace */
  char *root;             /* scratch/root: the container's / until pivot_root */
  const char *resolv_src; /* NULL when not mounted */
  const char *hosts_src;
  mount_target *targets;  /* every mount point, in mount order */
  size_t n_targets;
  int report_fd;          /* write end of the report pipe */
  int out_fd;             /* the command's stdout / stderr; -1 = /dev/null */
  int err_fd;
  gsi_strvec stubs;       /* plain rootfs: stubs the caller created, to remove afterwards */
} sandbox;

/* ------------------------------------------------------------------------------------------ */
/* Children                                                                                   */

static void __attribute__ ((noreturn))
child_fail (int report_fd, const gsi_error *err)
{
  child_report r;

  memset (&r, 0, sizeof r);
  r.code = err->code;
  snprintf (r.msg, sizeof r.msg, "%s", err->msg ? err->msg : "unknown error");
  if (write (report_fd, &r, sizeof r) < 0)
    _exit (126);
  _exit (127);
}

static int
status_code (int st)
{
  if (WIFSIGNALED (st))
    return 128 + WTERMSIG (st);
  return WEXITSTATUS (st);
}

static int
wait_for (pid_t pid, int *st)
{
  while (waitpid (pid, st, 0) < 0)
    if (errno != EINTR)
      return -1;
  return 0;
}

/* Closes every fd except those in keep (-1 entries ignored): the monitor is a fork of gsi and
 * must not hold, say, another sandbox's output pipe open while this run lasts.  */
static void
close_fds_except (int *keep, size_t n)
{
  unsigned int from = 0;

  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--)
      {
        int t = keep[j];
        keep[j] = keep[j - 1];
        keep[j - 1] = t;
      }
  for (size_t i = 0; i < n; i++)
    {
      if (keep[i] < 0 || (unsigned int) keep[i] < from)
        continue;
      if ((unsigned int) keep[i] > from)
        close_range (from, (unsigned int) keep[i] - 1, 0);
      from = (unsigned int) keep[i] + 1;
    }
  close_range (from, ~0U, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Paths inside the root                                                                      */

static int
read_link_at (int dirfd, const char *path, gsi_buf *out, gsi_error *err)
{
  for (size_t size = 256;; size *= 2)
    {
      gsi_buf_reset (out);
      gsi_buf_grow (out, size);
      ssize_t n = readlinkat (dirfd, path, out->buf, size);
      if (n < 0)
        return gsi_error_set (err, errno, "readlink `/%s`", path);
      if ((size_t) n < size)
        {
          gsi_buf_setlen (out, (size_t) n);
          return 0;
        }
    }
}

/* After a ".." the path may exist again: re-check it.  */
static bool
path_exists_at (int rootfd, const char *rel)
{
  struct stat st;
  return *rel == '\0' || fstatat (rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Resolves path inside the tree at rootfd as if rootfd were "/": ".." stops at the root and
 * symlinks (absolute ones taken from the root) are followed, so a link in an image cannot point
 * a mount at the host.  out gets the result relative to the root ("" for the root), free of
 * symlinks; missing components are kept literally and *exists says whether all exist.  */
static int
resolve_in_root (int rootfd, const char *path, gsi_buf *out, bool *exists, gsi_error *err)
{
  cleanup_buf gsi_buf todo = GSI_BUF_INIT;
  cleanup_buf gsi_buf link = GSI_BUF_INIT;
  bool missing = false;
  int links = 0;

  gsi_buf_reset (out);
  gsi_buf_addstr (&todo, path);
  for (size_t pos = 0; pos < todo.len;)
    {
      const char *c = todo.buf + pos;
      size_t n = strcspn (c, "/");
      size_t oldlen = out->len;
      struct stat st;

      pos += n + (c[n] == '/');
      if (n == 0 || (n == 1 && c[0] == '.'))
        continue;
      if (n == 2 && c[0] == '.' && c[1] == '.')
        {
          char *slash = strrchr (out->buf, '/');
          gsi_buf_setlen (out, slash ? (size_t) (slash - out->buf) : 0);
          missing = missing && !path_exists_at (rootfd, out->buf);
          continue;
        }
      if (out->len)
        gsi_buf_addch (out, '/');
      gsi_buf_add (out, c, n);
      if (missing)
        continue;
      if (fstatat (rootfd, out->buf, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno != ENOENT)
            return gsi_error_set (err, errno, "stat `/%s`", out->buf);
          missing = true;
          continue;
        }
      if (!S_ISLNK (st.st_mode))
        continue;
      if (++links > MAX_SYMLINKS)
        return gsi_error_set (err, ELOOP, "resolve `%s`", path);
      if (read_link_at (rootfd, out->buf, &link, err) < 0)
        return -1;
      gsi_buf_setlen (out, link.buf[0] == '/' ? 0 : oldlen);
      gsi_buf_addch (&link, '/');
      gsi_buf_addstr (&link, todo.buf + pos);
      gsi_buf_reset (&todo);
      gsi_buf_add (&todo, link.buf, link.len);
      pos = 0;
    }
  if (exists)
    *exists = !missing;
  return 0;
}

/* True when rel (relative, resolved) is base or below it.  */
static bool
path_is_under (const char *rel, const char *base)
{
  size_t n = strlen (base);
  if (n == 0)
    return true;
  return strncmp (rel, base, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

/* ------------------------------------------------------------------------------------------ */
/* Stub layer: the mount points the image lacks                                               */

/* Copies one xattr list from src to dst; overlay's own trusted.overlay.* are left behind since
 * they describe src's layer, not the stub.  */
static int
copy_xattrs (int srcfd, int dstfd, const char *rel, gsi_error *err)
{
  cleanup_free char *names = NULL;
  cleanup_free char *value = NULL;
  ssize_t len = flistxattr (srcfd, NULL, 0);

  if (len <= 0)
    return len < 0 && errno != ENOTSUP ? gsi_error_set (err, errno, "listxattr `/%s`", rel) : 0;
  names = xmalloc ((size_t) len);
  len = flistxattr (srcfd, names, (size_t) len);
  if (len < 0)
    return gsi_error_set (err, errno, "listxattr `/%s`", rel);
  for (char *name = names; name < names + len; name += strlen (name) + 1)
    {
      if (strncmp (name, "trusted.overlay.", 16) == 0)
        continue;
      ssize_t vlen = fgetxattr (srcfd, name, NULL, 0);
      if (vlen < 0)
        return gsi_error_set (err, errno, "getxattr `/%s` `%s`", rel, name);
      free (value);
      value = xmalloc ((size_t) vlen + 1);
      vlen = fgetxattr (srcfd, name, value, (size_t) vlen);
      if (vlen < 0)
        return gsi_error_set (err, errno, "getxattr `/%s` `%s`", rel, name);
      /* tmpfs before Linux 6.6 has no user.* xattrs; the stub only matters for copy-up, where a
       * missing user xattr is the lesser evil than refusing to run.  */
      if (fsetxattr (dstfd, name, value, (size_t) vlen, 0) < 0 && errno != ENOTSUP)
        return gsi_error_set (err, errno, "setxattr stub `/%s` `%s`", rel, name);
    }
  return 0;
}

/* The stub layer sits above the image's layers, so its copy of an image directory is what the
 * merged view shows and what a copy-up copies: owner, mode and xattrs must be the image's.  The
 * times are set at the end (stub_set_times), after the stubs inside have been created.  */
static int
stub_copy_dir (int viewfd, int stubfd, const char *rel, gsi_strvec *copied, gsi_error *err)
{
  cleanup_close int src = -1;
  cleanup_close int dst = -1;
  struct stat st;

  if (mkdirat (stubfd, rel, 0700) < 0)
    return errno == EEXIST ? 0 : gsi_error_set (err, errno, "mkdir stub `/%s`", rel);
  gsi_strvec_push (copied, rel);
  src = openat (viewfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0 || fstat (src, &st) < 0)
    return gsi_error_set (err, errno, "open `/%s`", rel);
  dst = openat (stubfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst < 0)
    return gsi_error_set (err, errno, "open stub `/%s`", rel);
  if (fchown (dst, st.st_uid, st.st_gid) < 0)
    return gsi_error_set (err, errno, "chown stub `/%s`", rel);
  if (fchmod (dst, st.st_mode & 07777) < 0)
    return gsi_error_set (err, errno, "chmod stub `/%s`", rel);
  return copy_xattrs (src, dst, rel, err);
}

static int
stub_set_times (int viewfd, int stubfd, const gsi_strvec *copied, gsi_error *err)
{
  for (size_t i = copied->n; i-- > 0;)
    {
      struct stat st;
      if (fstatat (viewfd, copied->v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
        return gsi_error_set (err, errno, "stat `/%s`", copied->v[i]);
      struct timespec ts[2] = { st.st_atim, st.st_mtim };
      if (utimensat (stubfd, copied->v[i], ts, AT_SYMLINK_NOFOLLOW) < 0)
        return gsi_error_set (err, errno, "utimensat stub `/%s`", copied->v[i]);
    }
  return 0;
}

/* Creates one missing component in the stub tree: a directory, or for the last component of a
 * file mount an empty file.  Records it in created (plain rootfs: to remove it afterwards).  */
static int
stub_create (int stubfd, const char *rel, bool as_file, gsi_strvec *created, gsi_error *err)
{
  if (as_file)
    {
      int fd = openat (stubfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0)
        return errno == EEXIST ? 0 : gsi_error_set (err, errno, "create mount point `/%s`", rel);
      close (fd);
    }
  else if (mkdirat (stubfd, rel, 0755) < 0)
    return errno == EEXIST ? 0 : gsi_error_set (err, errno, "mkdir mount point `/%s`", rel);
  if (created)
    gsi_strvec_push (created, rel);
  return 0;
}

static int
check_target_type (int viewfd, const mount_target *t, const char *rel, gsi_error *err)
{
  struct stat st;

  if (fstatat (viewfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return gsi_error_set (err, errno, "stat mount target `%s`", t->path);
  if (t->dir && !S_ISDIR (st.st_mode))
    return gsi_error_set (err, ENOTDIR, "mount target `%s`", t->path);
  if (!t->dir && S_ISDIR (st.st_mode))
    return gsi_error_set (err, EISDIR, "mount target `%s`", t->path);
  return 0;
}

/* Makes one target exist in stubfd: the image's directories on the way are copied (copied !=
 * NULL, overlay) or left alone (plain rootfs, where view and stubs are the same tree), the missing
 * rest is created.  */
static int
stub_target (int viewfd, int stubfd, const mount_target *t, const char *rel, gsi_strvec *copied,
             gsi_strvec *created, gsi_error *err)
{
  cleanup_buf gsi_buf prefix = GSI_BUF_INIT;
  bool missing = false;

  for (const char *c = rel; *c;)
    {
      size_t n = strcspn (c, "/");
      struct stat st;

      gsi_buf_add (&prefix, c, n);
      c += n + (c[n] == '/');
      if (!missing && fstatat (viewfd, prefix.buf, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno != ENOENT)
            return gsi_error_set (err, errno, "stat `/%s`", prefix.buf);
          missing = true;
        }
      if (!missing && copied && stub_copy_dir (viewfd, stubfd, prefix.buf, copied, err) < 0)
        return -1;
      if (missing && stub_create (stubfd, prefix.buf, !t->dir && *c == '\0', created, err) < 0)
        return -1;
      gsi_buf_addch (&prefix, '/');
    }
  return 0;
}

/* Puts into stubfd what the targets need and viewfd (the image) lacks.  A target below an
 * earlier one (/dev/shm under /dev, a bind inside a tmpfs) is made at mount time instead, on the
 * mount that covers it.  */
static int
make_stubs (int viewfd, int stubfd, const mount_target *targets, size_t n, bool copy_meta,
            gsi_strvec *created, gsi_error *err)
{
  cleanup_strvec gsi_strvec resolved = GSI_STRVEC_INIT;
  cleanup_strvec gsi_strvec copied = GSI_STRVEC_INIT;
  cleanup_buf gsi_buf rel = GSI_BUF_INIT;

  for (size_t i = 0; i < n; i++)
    {
      bool exists, nested = false;

      if (resolve_in_root (viewfd, targets[i].path, &rel, &exists, err) < 0)
        return gsi_error_wrap (err, "mount target `%s`", targets[i].path);
      for (size_t j = 0; j < resolved.n && !nested; j++)
        nested = path_is_under (rel.buf, resolved.v[j]);
      gsi_strvec_push (&resolved, rel.buf);
      if (nested)
        continue;
      if (exists && check_target_type (viewfd, &targets[i], rel.buf, err) < 0)
        return -1;
      if (!exists
          && stub_target (viewfd, stubfd, &targets[i], rel.buf, copy_meta ? &copied : NULL, created, err) < 0)
        return -1;
    }
  return stub_set_times (viewfd, stubfd, &copied, err);
}

/* Plain rootfs: removes the stubs again, deepest first, unless the command put content in them
 * (possible only if it unmounted what covered them).  */
static int
remove_stubs (const char *rootfs, const gsi_strvec *stubs, gsi_error *err)
{
  cleanup_close int rootfd = open (rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

  if (rootfd < 0)
    return gsi_error_set (err, errno, "open `%s`", rootfs);
  for (size_t i = stubs->n; i-- > 0;)
    {
      struct stat st;
      const char *rel = stubs->v[i];

      if (fstatat (rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (S_ISDIR (st.st_mode) && unlinkat (rootfd, rel, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY
          && errno != EEXIST)
        return gsi_error_set (err, errno, "remove mount point `/%s`", rel);
      if (S_ISREG (st.st_mode) && st.st_size == 0 && unlinkat (rootfd, rel, 0) < 0)
        return gsi_error_set (err, errno, "remove mount point `/%s`", rel);
    }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Mounting                                                                                   */

/* The kernel explains a failed overlay in the fs context, not in errno: collect the "e " lines.  */
static void
fs_context_log (int fsfd, gsi_buf *out)
{
  char line[512];
  ssize_t n;

  while ((n = read (fsfd, line, sizeof line - 1)) > 0)
    {
      while (n > 0 && line[n - 1] == '\n')
        n--;
      line[n] = '\0';
      if (line[0] == 'e' && line[1] == ' ')
        gsi_buf_addf (out, " (%s)", line + 2);
    }
}

static void
add_escaped (gsi_buf *b, const char *path)
{
  for (const char *p = path; *p; p++)
    {
      if (*p == ':' || *p == ',' || *p == '\\')
        gsi_buf_addch (b, '\\');
      gsi_buf_addch (b, *p);
    }
}

/* Kernels before 6.8 know no "lowerdir+": one option string, at most a page long.  */
static int
mount_overlay_legacy (const char *target, char *const *lowers, size_t n, const char *upper, const char *work,
                      gsi_error *err)
{
  cleanup_buf gsi_buf opts = GSI_BUF_INIT;

  gsi_buf_addstr (&opts, "lowerdir=");
  for (size_t i = 0; i < n; i++)
    {
      if (i)
        gsi_buf_addch (&opts, ':');
      add_escaped (&opts, lowers[i]);
    }
  if (upper)
    {
      gsi_buf_addstr (&opts, ",upperdir=");
      add_escaped (&opts, upper);
      gsi_buf_addstr (&opts, ",workdir=");
      add_escaped (&opts, work);
      gsi_buf_addstr (&opts, ",index=off,redirect_dir=off,metacopy=off");
    }
  if (opts.len >= (size_t) sysconf (_SC_PAGESIZE))
    return gsi_error_set (err, E2BIG, "mount overlay with %zu layers (Linux 6.8 lifts this limit)", n);
  if (mount ("overlay", target, "overlay", upper ? 0 : MS_RDONLY, opts.buf) < 0)
    return gsi_error_set (err, errno, "mount overlay `%s`", opts.buf);
  return 0;
}

static int
fs_set (int fsfd, const char *key, const char *value, gsi_error *err)
{
  cleanup_buf gsi_buf log = GSI_BUF_INIT;
  int saved;

  if (fsconfig (fsfd, FSCONFIG_SET_STRING, key, value, 0) == 0)
    return 0;
  saved = errno;
  fs_context_log (fsfd, &log);
  return gsi_error_set (err, saved, "fsconfig overlay `%s` `%s`%s", key, value, log.buf);
}

static int
fs_create (int fsfd, const char *upper, const char *work, gsi_error *err)
{
  cleanup_buf gsi_buf log = GSI_BUF_INIT;
  int saved;

  if (fsconfig (fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
    return 0;
  saved = errno;
  fs_context_log (fsfd, &log);
  /* Most of overlayfs' reasons (work dir inside the upper dir, on another filesystem, ...) go to
   * the kernel log only.  */
  if (!log.len)
    gsi_buf_addstr (&log, " (the kernel log has overlayfs' reason)");
  if (!upper)
    return gsi_error_set (err, saved, "create read-only overlay%s", log.buf);
  return gsi_error_set (err, saved, "create overlay (upper `%s`, work `%s`)%s", upper, work, log.buf);
}

/* The overlay of lowers (top first) with upper and work, or read-only without upper.  index,
 * redirect_dir and metacopy are off whatever the kernel's defaults: a renamed directory must be a
 * real copy and a chown a full copy-up, or the upper dir would not turn into a portable layer.  */
static int
mount_overlay (const char *target, char *const *lowers, size_t n, const char *upper, const char *work,
               gsi_error *err)
{
  cleanup_close int fsfd = -1;
  cleanup_close int mfd = -1;
  const char *legacy = getenv ("GSI_SANDBOX_LEGACY_OVERLAY"); /* lets the tests cover old kernels */

  if (!(legacy && strcmp (legacy, "1") == 0))
    fsfd = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0)
    return mount_overlay_legacy (target, lowers, n, upper, work, err);
  /* Before 6.8 the kernel rejects the key itself.  */
  if (fsconfig (fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[0], 0) < 0)
    {
      if (errno == EINVAL)
        return mount_overlay_legacy (target, lowers, n, upper, work, err);
      return gsi_error_set (err, errno, "fsconfig overlay `lowerdir+` `%s`", lowers[0]);
    }
  for (size_t i = 1; i < n; i++)
    if (fs_set (fsfd, "lowerdir+", lowers[i], err) < 0)
      return -1;
  if (upper
      && (fs_set (fsfd, "upperdir", upper, err) < 0 || fs_set (fsfd, "workdir", work, err) < 0
          || fs_set (fsfd, "index", "off", err) < 0 || fs_set (fsfd, "redirect_dir", "off", err) < 0
          || fs_set (fsfd, "metacopy", "off", err) < 0))
    return -1;
  if (fs_create (fsfd, upper, work, err) < 0)
    return -1;
  mfd = fsmount (fsfd, FSMOUNT_CLOEXEC, upper ? 0 : MOUNT_ATTR_RDONLY);
  if (mfd < 0)
    return gsi_error_set (err, errno, "fsmount overlay");
  if (move_mount (mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return gsi_error_set (err, errno, "move_mount overlay to `%s`", target);
  return 0;
}

enum
{
  MOUNT_RDONLY = 1,
  MOUNT_NODEV = 2,
};

/* Makes a mount read-only and/or nodev, submounts included where the kernel can (mount_setattr,
 * 5.12).  */
static int
restrict_mount (const char *target, unsigned how, const char *what, gsi_error *err)
{
  struct mount_attr attr = { .attr_set = ((how & MOUNT_RDONLY) ? MOUNT_ATTR_RDONLY : 0)
                                         | ((how & MOUNT_NODEV) ? MOUNT_ATTR_NODEV : 0) };
  unsigned long flags = ((how & MOUNT_RDONLY) ? MS_RDONLY : 0) | ((how & MOUNT_NODEV) ? MS_NODEV : 0);

  if (!how || mount_setattr (AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) == 0)
    return 0;
  if (errno != ENOSYS)
    return gsi_error_set (err, errno, "mount_setattr%s%s `%s`", (how & MOUNT_RDONLY) ? " rdonly" : "",
                          (how & MOUNT_NODEV) ? " nodev" : "", what);
  if (mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
    return gsi_error_set (err, errno, "remount `%s`", what);
  return 0;
}

static int
bind_mount (const char *src, const char *target, unsigned how, const char *what, gsi_error *err)
{
  if (mount (src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
    return gsi_error_set (err, errno, "bind mount `%s` on `%s`", src, what);
  return restrict_mount (target, how, what, err);
}

/* Without a device cgroup, nodev is what keeps a root command from mknod'ing the host's disk and
 * opening it: on the root, the binds and /dev itself (its nodes are bind mounts of their own).
 * Docker's device cgroup allows the same few nodes.  */
static unsigned
nodev (const sandbox *sb)
{
  return sb->o->privileged ? 0 : MOUNT_NODEV;
}

/* mkdir/create of a missing component at mount time: allowed only off the root mount (on /dev,
 * a tmpfs or a bind), because the stub layer already holds everything the image lacks and
 * anything made on the root would end up in the upper dir.  */
static int
create_at_mount_time (int rootfd, const char *rel, bool as_file, const char *path, gsi_error *err)
{
  struct statx root, parent;
  cleanup_free char *dir = xstrdup (rel);
  char *slash = strrchr (dir, '/');

  if (slash)
    *slash = '\0';
  if (statx (rootfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &root) < 0
      || statx (rootfd, slash ? dir : "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &parent) < 0)
    return gsi_error_set (err, errno, "statx `/%s`", dir);
  if ((root.stx_mask & STATX_MNT_ID) && root.stx_mnt_id == parent.stx_mnt_id)
    return gsi_error_set (err, 0, "mount target `%s`: would create `/%s` in the image", path, rel);
  return stub_create (rootfd, rel, as_file, NULL, err);
}

/* Resolves a target inside the root, creates what is missing and returns the path to mount on
 * as init sees it before pivot_root.  */
static char *
prepare_target (const sandbox *sb, int rootfd, const char *path, bool dir, gsi_error *err)
{
  cleanup_buf gsi_buf rel = GSI_BUF_INIT;
  cleanup_buf gsi_buf prefix = GSI_BUF_INIT;
  bool exists;

  if (resolve_in_root (rootfd, path, &rel, &exists, err) < 0)
    {
      gsi_error_wrap (err, "mount target `%s`", path);
      return NULL;
    }
  for (const char *c = rel.buf; *c && !exists;)
    {
      size_t n = strcspn (c, "/");
      struct stat st;

      gsi_buf_add (&prefix, c, n);
      c += n + (c[n] == '/');
      if (fstatat (rootfd, prefix.buf, &st, AT_SYMLINK_NOFOLLOW) < 0
          && create_at_mount_time (rootfd, prefix.buf, !dir && *c == '\0', path, err) < 0)
        return NULL;
      gsi_buf_addch (&prefix, '/');
    }
  return xasprintf ("%s/%s", sb->root, rel.buf);
}

static int
mount_dev_nodes (int devfd, const char *dev, gsi_error *err)
{
  static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
    {
      cleanup_free char *host = xasprintf ("/dev/%s", nodes[i]);
      cleanup_free char *where = xasprintf ("%s/%s", dev, nodes[i]);
      cleanup_free char *what = xasprintf ("/dev/%s", nodes[i]);
      int fd = openat (devfd, nodes[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);

      if (fd < 0)
        return gsi_error_set (err, errno, "create `/dev/%s`", nodes[i]);
      close (fd);
      /* Bound, not mknod'ed: the nodes work even where mknod is denied by a device cgroup.  */
      if (bind_mount (host, where, 0, what, err) < 0)
        return -1;
    }
  return 0;
}

static int
mount_dev_links (int devfd, gsi_error *err)
{
  static const char *const links[][2] = {
    { "/proc/self/fd", "fd" },     { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
    { "/proc/self/fd/2", "stderr" }, { "pts/ptmx", "ptmx" },
  };

  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat (links[i][0], devfd, links[i][1]) < 0)
      return gsi_error_set (err, errno, "symlink `/dev/%s`", links[i][1]);
  return 0;
}

/* A minimal /dev of our own: the host's /dev would hand the build every disk.  */
static int
mount_dev (const sandbox *sb, int rootfd, gsi_error *err)
{
  cleanup_free char *dev = prepare_target (sb, rootfd, "/dev", true, err);
  cleanup_free char *pts = NULL;
  cleanup_free char *shm = NULL;
  cleanup_close int devfd = -1;
  unsigned long flags = MS_NOSUID | MS_STRICTATIME | (nodev (sb) ? MS_NODEV : 0);

  if (!dev)
    return -1;
  if (mount ("tmpfs", dev, "tmpfs", flags, "mode=755,size=65536k") < 0)
    return gsi_error_set (err, errno, "mount `tmpfs` on `/dev`");
  devfd = open (dev, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (devfd < 0)
    return gsi_error_set (err, errno, "open `/dev`");
  if (mount_dev_nodes (devfd, dev, err) < 0 || mount_dev_links (devfd, err) < 0)
    return -1;
  pts = xasprintf ("%s/pts", dev);
  shm = xasprintf ("%s/shm", dev);
  if (mkdirat (devfd, "pts", 0755) < 0 || mkdirat (devfd, "shm", 01777) < 0)
    return gsi_error_set (err, errno, "mkdir `/dev/pts` or `/dev/shm`");
  /* newinstance: the container's ptys are its own, not the host's.  */
  if (mount ("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
    return gsi_error_set (err, errno, "mount `devpts` on `/dev/pts`");
  if (mount ("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
    return gsi_error_set (err, errno, "mount `tmpfs` on `/dev/shm`");
  return 0;
}

/* Hides what Docker hides of /proc when the command keeps root: kernel memory, keyrings and
 * knobs that would change the host.  Entries the kernel lacks are skipped.  */
static int
mask_proc (const char *proc, gsi_error *err)
{
  static const char *const hidden[] = { "kcore", "keys", "timer_list", "sched_debug" };
  static const char *const readonly[] = { "bus", "fs", "irq", "sys", "sysrq-trigger" };

  for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", proc, hidden[i]);
      if (access (p, F_OK) == 0 && mount ("/dev/null", p, NULL, MS_BIND, NULL) < 0)
        return gsi_error_set (err, errno, "bind mount `/dev/null` on `/proc/%s`", hidden[i]);
    }
  for (size_t i = 0; i < sizeof readonly / sizeof readonly[0]; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", proc, readonly[i]);
      cleanup_free char *what = xasprintf ("/proc/%s", readonly[i]);
      if (access (p, F_OK) == 0 && bind_mount (p, p, MOUNT_RDONLY, what, err) < 0)
        return -1;
    }
  return 0;
}

static int
mount_proc_sys (const sandbox *sb, int rootfd, gsi_error *err)
{
  cleanup_free char *proc = prepare_target (sb, rootfd, "/proc", true, err);
  cleanup_free char *sys = NULL;

  if (!proc)
    return -1;
  /* A new instance shows this PID namespace only: init is PID 1 in it, so it mounts this.  */
  if (mount ("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return gsi_error_set (err, errno, "mount `proc` on `/proc`");
  if (!sb->o->privileged && mask_proc (proc, err) < 0)
    return -1;
  sys = prepare_target (sb, rootfd, "/sys", true, err);
  if (!sys)
    return -1;
  /* A new sysfs shows the network namespace of the mounter: with --network none, only lo.  */
  if (mount ("sysfs", sys, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return gsi_error_set (err, errno, "mount `sysfs` on `/sys`");
  return 0;
}

static int
mount_one (const sandbox *sb, int rootfd, size_t i, const gsi_sandbox_mount *m, bool dir, gsi_error *err)
{
  cleanup_free char *where = prepare_target (sb, rootfd, m->target, dir, err);
  cleanup_free char *opts = NULL;
  cleanup_free char *secret = NULL;

  if (!where)
    return -1;
  switch (m->type)
    {
    case GSI_SANDBOX_MOUNT_BIND:
      return bind_mount (m->source, where, (m->readonly ? MOUNT_RDONLY : 0) | nodev (sb), m->target, err);
    case GSI_SANDBOX_MOUNT_TMPFS:
      opts = m->size ? xasprintf ("mode=%o,size=%llu", m->mode ? m->mode : 01777, m->size)
                     : xasprintf ("mode=%o", m->mode ? m->mode : 01777);
      if (mount ("tmpfs", where, "tmpfs", MS_NOSUID | MS_NODEV | (m->readonly ? MS_RDONLY : 0), opts) < 0)
        return gsi_error_set (err, errno, "mount `tmpfs` (%s) on `%s`", opts, m->target);
      return 0;
    case GSI_SANDBOX_MOUNT_SECRET:
      secret = xasprintf ("%s/secrets/%zu", sb->scratch, i);
      if (mount (secret, where, NULL, MS_BIND, NULL) < 0)
        return gsi_error_set (err, errno, "bind mount secret on `%s`", m->target);
      return restrict_mount (where, MOUNT_RDONLY, m->target, err);
    default:
      return gsi_error_set (err, EINVAL, "mount `%s`: unknown type %d", m->target, (int) m->type);
    }
}

/* Everything below the root, in order: kernel filesystems first so that extra mounts may sit
 * below /dev or /tmp-like tmpfs targets declared earlier.  */
static int
mount_all (const sandbox *sb, gsi_error *err)
{
  const gsi_sandbox_opts *o = sb->o;
  cleanup_close int rootfd = open (sb->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_free char *resolv = NULL;
  cleanup_free char *hosts = NULL;
  size_t first_user = sb->n_targets - o->n_mounts;

  if (rootfd < 0)
    return gsi_error_set (err, errno, "open `%s`", sb->root);
  if (mount_proc_sys (sb, rootfd, err) < 0 || mount_dev (sb, rootfd, err) < 0)
    return -1;
  if (sb->resolv_src
      && (!(resolv = prepare_target (sb, rootfd, "/etc/resolv.conf", false, err))
          || bind_mount (sb->resolv_src, resolv, MOUNT_RDONLY | nodev (sb), "/etc/resolv.conf", err) < 0))
    return -1;
  if (sb->hosts_src
      && (!(hosts = prepare_target (sb, rootfd, "/etc/hosts", false, err))
          || bind_mount (sb->hosts_src, hosts, MOUNT_RDONLY | nodev (sb), "/etc/hosts", err) < 0))
    return -1;
  for (size_t i = 0; i < o->n_mounts; i++)
    if (mount_one (sb, rootfd, i, &o->mounts[i], sb->targets[first_user + i].dir, err) < 0)
      return -1;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Monitor: namespaces and the root                                                           */

static int
mkdir_scratch (const char *scratch, const char *name, gsi_error *err)
{
  cleanup_free char *p = xasprintf ("%s/%s", scratch, name);
  if (mkdir (p, 0700) < 0)
    return gsi_error_set (err, errno, "mkdir `%s`", p);
  return 0;
}

/* A secret's content goes to the private tmpfs, with the owner and mode asked for: a bind of the
 * host file itself would show the host's owner and mode and let a rw remount reach it.  */
static int
copy_secret (const sandbox *sb, size_t i, const gsi_sandbox_mount *m, gsi_error *err)
{
  cleanup_free char *dst = xasprintf ("%s/secrets/%zu", sb->scratch, i);
  cleanup_close int in = open (m->source, O_RDONLY | O_CLOEXEC);
  cleanup_close int out = -1;
  char buf[65536];
  ssize_t n;

  if (in < 0)
    return gsi_error_set (err, errno, "open secret `%s`", m->source);
  out = open (dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0)
    return gsi_error_set (err, errno, "create `%s`", dst);
  while ((n = read (in, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return gsi_error_set (err, errno, "read secret `%s`", m->source);
      if (write (out, buf, (size_t) n) != n)
        return gsi_error_set (err, errno, "write `%s`", dst);
    }
  if (fchown (out, m->uid, m->gid) < 0)
    return gsi_error_set (err, errno, "chown secret for `%s`", m->target);
  if (fchmod (out, m->mode ? m->mode : 0400) < 0)
    return gsi_error_set (err, errno, "chmod secret for `%s`", m->target);
  return 0;
}

/* The stubs are made against a read-only overlay of the image's layers alone: that is the one
 * view in which "the image lacks this" can be asked.  */
static int
build_stub_layer (const sandbox *sb, gsi_error *err)
{
  const gsi_sandbox_opts *o = sb->o;
  cleanup_free char *view = xasprintf ("%s/view", sb->scratch);
  cleanup_free char *stubs = xasprintf ("%s/stubs", sb->scratch);
  cleanup_free char *empty = xasprintf ("%s/empty", sb->scratch);
  cleanup_strvec gsi_strvec lowers = GSI_STRVEC_INIT;
  cleanup_close int viewfd = -1;
  cleanup_close int stubfd = -1;

  for (size_t i = 0; i < o->n_lower; i++)
    gsi_strvec_push (&lowers, o->lower_dirs[i]);
  /* A read-only overlay needs two layers; an empty one below changes nothing.  */
  if (lowers.n == 1)
    gsi_strvec_push (&lowers, empty);
  if (lowers.n > 0 && mount_overlay (view, lowers.v, lowers.n, NULL, NULL, err) < 0)
    return gsi_error_wrap (err, "mount the image's layers");
  viewfd = open (view, O_PATH | O_DIRECTORY | O_CLOEXEC);
  stubfd = open (stubs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (viewfd < 0 || stubfd < 0)
    return gsi_error_set (err, errno, "open `%s`", viewfd < 0 ? view : stubs);
  if (make_stubs (viewfd, stubfd, sb->targets, sb->n_targets, true, NULL, err) < 0)
    return -1;
  if (lowers.n > 0 && umount2 (view, MNT_DETACH) < 0)
    return gsi_error_set (err, errno, "umount `%s`", view);
  return 0;
}

static int
mount_root (const sandbox *sb, gsi_error *err)
{
  const gsi_sandbox_opts *o = sb->o;
  cleanup_strvec gsi_strvec lowers = GSI_STRVEC_INIT;

  if (o->rootfs)
    {
      /* pivot_root needs the new root to be a mount point.  */
      if (mount (o->rootfs, sb->root, NULL, MS_BIND | MS_REC, NULL) < 0)
        return gsi_error_set (err, errno, "bind mount rootfs `%s`", o->rootfs);
    }
  else
    {
      if (build_stub_layer (sb, err) < 0)
        return -1;
      gsi_strvec_pushf (&lowers, "%s/stubs", sb->scratch);
      for (size_t i = 0; i < o->n_lower; i++)
        gsi_strvec_push (&lowers, o->lower_dirs[i]);
      if (mount_overlay (sb->root, lowers.v, lowers.n, o->upper_dir, o->work_dir, err) < 0)
        return -1;
    }
  return restrict_mount (sb->root, nodev (sb), "/", err);
}

static int
bring_up_loopback (gsi_error *err)
{
  cleanup_close int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;

  if (s < 0)
    return gsi_error_set (err, errno, "socket for `lo`");
  memset (&ifr, 0, sizeof ifr);
  strcpy (ifr.ifr_name, "lo");
  if (ioctl (s, SIOCGIFFLAGS, &ifr) < 0)
    return gsi_error_set (err, errno, "ioctl `SIOCGIFFLAGS` `lo`");
  /* The kernel gives lo 127.0.0.1 and ::1 as it comes up.  */
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (s, SIOCSIFFLAGS, &ifr) < 0)
    return gsi_error_set (err, errno, "ioctl `SIOCSIFFLAGS` `lo`");
  return 0;
}

static int
monitor_setup (const sandbox *sb, gsi_error *err)
{
  const gsi_sandbox_opts *o = sb->o;
  const char *hostname = o->hostname ? o->hostname : "gsi";
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;

  if (o->network == GSI_SANDBOX_NET_NONE)
    flags |= CLONE_NEWNET;
  /* Modes below are exact (01777 for /dev/shm, stubs as in the image); the command gets 022.  */
  umask (0);
  /* unshare, not clone: the PID namespace applies to children, so init is the next fork.  */
  if (unshare (flags) < 0)
    return gsi_error_set (err, errno, "unshare mount, pid, ipc, uts%s namespaces",
                          flags & CLONE_NEWNET ? ", net" : "");
  /* Nothing mounted from here on may propagate back to the host, and no host mount event
   * may reach in and pin our overlay.  */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return gsi_error_set (err, errno, "make `/` rprivate");
  /* The scratch dir is a host directory; a tmpfs over it here keeps stubs and secret copies
   * off the disk and gone with the namespace.  */
  if (mount ("tmpfs", sb->scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
    return gsi_error_set (err, errno, "mount `tmpfs` on `%s`", sb->scratch);
  if (mkdir_scratch (sb->scratch, "root", err) < 0 || mkdir_scratch (sb->scratch, "view", err) < 0
      || mkdir_scratch (sb->scratch, "stubs", err) < 0 || mkdir_scratch (sb->scratch, "secrets", err) < 0
      || mkdir_scratch (sb->scratch, "empty", err) < 0)
    return -1;
  for (size_t i = 0; i < o->n_mounts; i++)
    if (o->mounts[i].type == GSI_SANDBOX_MOUNT_SECRET && copy_secret (sb, i, &o->mounts[i], err) < 0)
      return -1;
  if (mount_root (sb, err) < 0)
    return -1;
  if (sethostname (hostname, strlen (hostname)) < 0)
    return gsi_error_set (err, errno, "sethostname `%s`", hostname);
  if (o->network == GSI_SANDBOX_NET_NONE && bring_up_loopback (err) < 0)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The command                                                                                */

static int
drop_capabilities (gsi_error *err)
{
  static const int keep[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,     CAP_MKNOD,
    CAP_NET_RAW, CAP_SETGID,       CAP_SETUID,           CAP_SETFCAP,    CAP_SETPCAP,
    CAP_KILL,    CAP_AUDIT_WRITE,  CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
  };
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[2];
  uint64_t mask = 0;

  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
    mask |= 1ULL << keep[i];
  /* The bounding set caps what root gets at exec: Docker's default set.  */
  for (int cap = 0; prctl (PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
    if (!(mask & (1ULL << cap)) && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      return gsi_error_set (err, errno, "prctl `PR_CAPBSET_DROP` %d", cap);
  /* Inheritable and ambient capabilities survive exec past the bounding set: clear them.  */
  if (syscall (SYS_capget, &hdr, data) < 0)
    return gsi_error_set (err, errno, "capget");
  data[0].inheritable = data[1].inheritable = 0;
  if (syscall (SYS_capset, &hdr, data) < 0)
    return gsi_error_set (err, errno, "capset");
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return gsi_error_set (err, errno, "prctl `PR_CAP_AMBIENT_CLEAR_ALL`");
  return 0;
}

/* setgroups first and setresuid last: each needs the privilege the next one gives up.  */
static int
switch_user (uid_t uid, gid_t gid, const gid_t *groups, size_t n, gsi_error *err)
{
  if (setgroups (n, n ? groups : NULL) < 0)
    return gsi_error_set (err, errno, "setgroups (%zu groups)", n);
  if (setresgid (gid, gid, gid) < 0)
    return gsi_error_set (err, errno, "setresgid %u", (unsigned) gid);
  if (setresuid (uid, uid, uid) < 0)
    return gsi_error_set (err, errno, "setresuid %u", (unsigned) uid);
  return 0;
}

static int
apply_user (const gsi_sandbox_opts *o, gsi_strvec *env, gsi_error *err)
{
  cleanup_user gsi_user u = GSI_USER_INIT;
  cleanup_close int rootfd = -1;
  bool has_home = false;

  if (!o->user)
    return switch_user (o->uid, o->gid, o->groups, o->n_groups, err);
  rootfd = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return gsi_error_set (err, errno, "open `/`");
  if (gsi_user_resolve (rootfd, o->user, &u, err) < 0)
    return -1;
  for (size_t i = 0; i < env->n && !has_home; i++)
    has_home = strncmp (env->v[i], "HOME=", 5) == 0;
  /* As Docker: HOME comes from passwd unless the image or the build set it.  */
  if (!has_home)
    gsi_strvec_pushf (env, "HOME=%s", u.home);
  return switch_user (u.uid, u.gid, u.groups, u.n_groups, err);
}

/* fds 0-2 from the caller's fds, through fresh copies so that e.g. stdout_fd == 2 works.  */
static int
setup_stdio (int in, int out, int errfd, gsi_error *err)
{
  int src[3] = { in, out, errfd };
  int tmp[3];

  for (int i = 0; i < 3; i++)
    {
      tmp[i] = src[i] < 0 ? open ("/dev/null", O_RDWR | O_CLOEXEC) : fcntl (src[i], F_DUPFD_CLOEXEC, 3);
      if (tmp[i] < 0)
        return gsi_error_set (err, errno, "set up fd %d", i);
    }
  for (int i = 0; i < 3; i++)
    if (dup2 (tmp[i], i) < 0)
      return gsi_error_set (err, errno, "dup2 fd %d", i);
  return 0;
}

/* Nothing of gsi's may leak into the build: every fd above 2 closes at exec.  */
static void
cloexec_from (int first)
{
  if (close_range ((unsigned int) first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  for (long fd = first, max = sysconf (_SC_OPEN_MAX); fd < (max > 0 && max < 65536 ? max : 65536); fd++)
    fcntl ((int) fd, F_SETFD, FD_CLOEXEC);
}

/* gsi may ignore SIGPIPE or block signals; ignored and blocked signals survive exec.  */
static void
reset_signals (void)
{
  sigset_t none;

  for (int sig = 1; sig < NSIG; sig++)
    signal (sig, SIG_DFL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

static const char *
env_path (char *const *env)
{
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp (env[i], "PATH=", 5) == 0)
      return env[i] + 5;
  return DEFAULT_PATH;
}

/* execvpe would search gsi's PATH; the command's own PATH is the one that counts.  */
static int
exec_command (char *const *argv, char *const *env, gsi_error *err)
{
  const char *path = env_path (env);
  bool denied = false;

  if (strchr (argv[0], '/'))
    {
      execve (argv[0], argv, env);
      return gsi_error_set (err, errno, "exec `%s`", argv[0]);
    }
  for (const char *p = path;; p++)
    {
      size_t n = strcspn (p, ":");
      cleanup_free char *cand = xasprintf ("%.*s/%s", (int) n, n ? p : ".", argv[0]);

      execve (cand, argv, env);
      if (errno == EACCES)
        denied = true;
      else if (errno != ENOENT && errno != ENOTDIR)
        return gsi_error_set (err, errno, "exec `%s`", cand);
      p += n;
      if (*p == '\0')
        break;
    }
  if (denied)
    return gsi_error_set (err, EACCES, "exec `%s`", argv[0]);
  return gsi_error_set (err, 0, "exec `%s`: executable file not found in $PATH", argv[0]);
}

static int
command_setup (const sandbox *sb, gsi_strvec *env, gsi_error *err)
{
  const gsi_sandbox_opts *o = sb->o;
  const char *cwd = o->cwd ? o->cwd : "/";

  reset_signals ();
  /* A session of its own: no controlling terminal of gsi's, its own process group to signal.  */
  if (setsid () < 0)
    return gsi_error_set (err, errno, "setsid");
  /* As root, before the switch: a WORKDIR the user may not enter is still the cwd, as in runc.  */
  if (chdir (cwd) < 0)
    return gsi_error_set (err, errno, "chdir `%s`", cwd);
  /* The bounding set can only shrink while we still hold CAP_SETPCAP, i.e. before setresuid.  */
  if (!o->privileged && drop_capabilities (err) < 0)
    return -1;
  if (apply_user (o, env, err) < 0 || setup_stdio (o->stdin_fd, sb->out_fd, sb->err_fd, err) < 0)
    return -1;
  umask (022);
  cloexec_from (3);
  return 0;
}

static void __attribute__ ((noreturn))
command_main (const sandbox *sb)
{
  gsi_error err = GSI_ERROR_INIT;
  gsi_strvec env = GSI_STRVEC_INIT;
  char *no_env[] = { NULL };

  for (size_t i = 0; sb->o->env && sb->o->env[i]; i++)
    gsi_strvec_push (&env, sb->o->env[i]);
  if (command_setup (sb, &env, &err) == 0)
    exec_command (sb->o->argv, env.v ? env.v : no_env, &err);
  child_fail (sb->report_fd, &err);
}

/* ------------------------------------------------------------------------------------------ */
/* Init (PID 1)                                                                               */

/* As root inside, mkdir -p the working directory: Docker creates a missing WORKDIR.  The path
 * walk happens after pivot_root, so a symlink in it cannot leave the container.  */
static int
make_cwd (const char *cwd, gsi_error *err)
{
  cleanup_free char *p = xstrdup (cwd);

  for (char *s = strchr (p + 1, '/');; s = strchr (s + 1, '/'))
    {
      if (s)
        *s = '\0';
      if (mkdir (p, 0755) < 0 && errno != EEXIST)
        return gsi_error_set (err, errno, "mkdir `%s`", p);
      if (!s)
        return 0;
      *s = '/';
    }
}

/* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves the
 * container's root alone, with no path back to the host (runc and LXC do the same).  */
static int
enter_root (const sandbox *sb, gsi_error *err)
{
  if (chdir (sb->root) < 0)
    return gsi_error_set (err, errno, "chdir `%s`", sb->root);
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return gsi_error_set (err, errno, "pivot_root `%s`", sb->root);
  if (umount2 (".", MNT_DETACH) < 0)
    return gsi_error_set (err, errno, "umount old root");
  if (chdir ("/") < 0)
    return gsi_error_set (err, errno, "chdir `/`");
  return 0;
}

static void __attribute__ ((noreturn))
init_main (const sandbox *sb)
{
  gsi_error err = GSI_ERROR_INIT;
  const char *cwd = sb->o->cwd;
  pid_t cmd;

  /* gsi going away (killed, crashed) takes the whole namespace with it.  */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (mount_all (sb, &err) < 0 || enter_root (sb, &err) < 0 || (cwd && make_cwd (cwd, &err) < 0))
    child_fail (sb->report_fd, &err);
  cmd = fork ();
  if (cmd < 0)
    {
      gsi_error_set (&err, errno, "fork the command");
      child_fail (sb->report_fd, &err);
    }
  if (cmd == 0)
    command_main (sb);
  /* PID 1 reaps every orphan; when the command ends, exiting makes the kernel kill whatever
   * it left running, as at the end of a Docker RUN.  */
  for (;;)
    {
      int st;
      pid_t p = waitpid (-1, &st, 0);
      if (p == cmd)
        _exit (status_code (st));
      if (p < 0 && errno != EINTR)
        _exit (127);
    }
}

static void __attribute__ ((noreturn))
monitor_main (sandbox *sb, pid_t gsi_pid)
{
  gsi_error err = GSI_ERROR_INIT;
  int keep[] = { 0, 1, 2, sb->report_fd, sb->o->stdin_fd, sb->out_fd, sb->err_fd };
  int st;
  pid_t init;

  close_fds_except (keep, sizeof keep / sizeof keep[0]);
  /* If gsi died between fork and prctl, nobody would be left to wait for us.  */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid () != gsi_pid)
    _exit (127);
  if (monitor_setup (sb, &err) < 0)
    child_fail (sb->report_fd, &err);
  init = fork ();
  if (init < 0)
    {
      gsi_error_set (&err, errno, "fork init in the new pid namespace");
      child_fail (sb->report_fd, &err);
    }
  if (init == 0)
    init_main (sb);
  if (wait_for (init, &st) < 0)
    _exit (127);
  _exit (status_code (st));
}

/* ------------------------------------------------------------------------------------------ */
/* Caller side                                                                                */

static int
validate (const gsi_sandbox_opts *o, gsi_error *err)
{
  if (!o->argv || !o->argv[0])
    return gsi_error_set (err, 0, "sandbox: no command");
  if (!o->rootfs && (!o->upper_dir || !o->work_dir))
    return gsi_error_set (err, 0, "sandbox: need a rootfs or an upper and a work dir");
  if (o->rootfs && (o->upper_dir || o->n_lower))
    return gsi_error_set (err, 0, "sandbox: rootfs and overlay dirs are exclusive");
  if (o->cwd && o->cwd[0] != '/')
    return gsi_error_set (err, 0, "sandbox: working directory `%s` is not absolute", o->cwd);
  for (size_t i = 0; i < o->n_mounts; i++)
    {
      const gsi_sandbox_mount *m = &o->mounts[i];
      if (!m->target || m->target[0] != '/' || m->target[strspn (m->target, "/.")] == '\0')
        return gsi_error_set (err, 0, "sandbox: mount target `%s` is not an absolute path below `/`",
                              m->target ? m->target : "");
      if (m->type != GSI_SANDBOX_MOUNT_TMPFS && !m->source)
        return gsi_error_set (err, 0, "sandbox: mount at `%s` has no source", m->target);
    }
  return 0;
}

/* NULL means the host's file if there is one; "" means none.  */
static const char *
host_file (const char *opt, const char *dflt)
{
  if (opt)
    return *opt ? opt : NULL;
  return access (dflt, R_OK) == 0 ? dflt : NULL;
}

/* The mount points, in mount order; a bind's target type follows its source.  */
static int
collect_targets (sandbox *sb, gsi_error *err)
{
  const gsi_sandbox_opts *o = sb->o;
  size_t n = 0;

  sb->targets = xcalloc (o->n_mounts + 5, sizeof (mount_target));
  sb->targets[n++] = (mount_target) { "/proc", true };
  sb->targets[n++] = (mount_target) { "/sys", true };
  sb->targets[n++] = (mount_target) { "/dev", true };
  if (sb->resolv_src)
    sb->targets[n++] = (mount_target) { "/etc/resolv.conf", false };
  if (sb->hosts_src)
    sb->targets[n++] = (mount_target) { "/etc/hosts", false };
  for (size_t i = 0; i < o->n_mounts; i++)
    {
      const gsi_sandbox_mount *m = &o->mounts[i];
      struct stat st;
      bool dir = m->type == GSI_SANDBOX_MOUNT_TMPFS;

      if (m->type == GSI_SANDBOX_MOUNT_BIND)
        {
          if (stat (m->source, &st) < 0)
            return gsi_error_set (err, errno, "bind source `%s`", m->source);
          dir = S_ISDIR (st.st_mode);
        }
      sb->targets[n++] = (mount_target) { m->target, dir };
    }
  sb->n_targets = n;
  return 0;
}

static int
make_scratch (sandbox *sb, gsi_error *err)
{
  const char *base = sb->o->scratch_dir;

  if (!base)
    base = getenv ("TMPDIR");
  if (!base || !*base)
    base = "/tmp";
  sb->scratch = xasprintf ("%s/gsi-sandbox-XXXXXX", base);
  if (!mkdtemp (sb->scratch))
    return gsi_error_set (err, errno, "mkdtemp `%s`", sb->scratch);
  sb->root = xasprintf ("%s/root", sb->scratch);
  return 0;
}

static int
make_plain_stubs (sandbox *sb, gsi_error *err)
{
  cleanup_close int rootfd = open (sb->o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);

  if (rootfd < 0)
    return gsi_error_set (err, errno, "open rootfs `%s`", sb->o->rootfs);
  return make_stubs (rootfd, rootfd, sb->targets, sb->n_targets, false, &sb->stubs, err);
}

typedef struct pump
{
  int fd;
  int stream;
  gsi_buf pending;
} pump;

static void
deliver (const gsi_sandbox_opts *o, int stream, const char *s, size_t n)
{
  if (o->on_line)
    o->on_line (o->on_line_ctx, stream, s, n);
  if (o->tail)
    gsi_line_tail_add (o->tail, s, n);
}

/* Hands out the complete lines in p->pending (all of it at EOF), and pieces of an overlong one.  */
static void
flush_lines (const gsi_sandbox_opts *o, pump *p, bool eof)
{
  size_t start = 0;

  for (;;)
    {
      char *nl = memchr (p->pending.buf + start, '\n', p->pending.len - start);
      size_t end = nl ? (size_t) (nl - p->pending.buf) : p->pending.len;
      size_t rest = p->pending.len - start;

      if (!nl && rest < MAX_LINE && !(eof && rest > 0))
        break;
      if (!nl && rest >= MAX_LINE)
        end = start + MAX_LINE;
      deliver (o, p->stream, p->pending.buf + start, end - start);
      start = nl ? end + 1 : end;
      if (start >= p->pending.len)
        break;
    }
  memmove (p->pending.buf, p->pending.buf + start, p->pending.len - start);
  gsi_buf_setlen (&p->pending, p->pending.len - start);
}

/* Reads both output pipes until every writer is gone: the last ones close when init exits.  */
static int
pump_output (const gsi_sandbox_opts *o, pump *pumps, gsi_error *err)
{
  char buf[16384];

  while (pumps[0].fd >= 0 || pumps[1].fd >= 0)
    {
      struct pollfd pfd[2] = { { pumps[0].fd, POLLIN, 0 }, { pumps[1].fd, POLLIN, 0 } };
      if (poll (pfd, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return gsi_error_set (err, errno, "poll sandbox output");
        }
      for (int i = 0; i < 2; i++)
        {
          if (pumps[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          ssize_t n = read (pumps[i].fd, buf, sizeof buf);
          if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
          if (n > 0)
            gsi_buf_add (&pumps[i].pending, buf, (size_t) n);
          flush_lines (o, &pumps[i], n <= 0);
          if (n <= 0)
            {
              close (pumps[i].fd);
              pumps[i].fd = -1;
            }
        }
    }
  return 0;
}

static int
read_report (int fd, gsi_error *err)
{
  child_report r;
  size_t got = 0;

  while (got < sizeof r)
    {
      ssize_t n = read (fd, (char *) &r + got, sizeof r - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (size_t) n;
    }
  if (got < sizeof r)
    return 0;
  r.msg[sizeof r.msg - 1] = '\0';
  gsi_error_set (err, 0, "%s", r.msg);
  err->code = r.code;
  return -1;
}

static void
close_pair (int p[2])
{
  for (int i = 0; i < 2; i++)
    if (p[i] >= 0)
      {
        close (p[i]);
        p[i] = -1;
      }
}

/* Forks the monitor, streams its output, waits, and turns the report into an error.  The pipe
 * ends are closed here as they are handed on; the caller closes what is left.  */
static int
fork_and_collect (sandbox *sb, int rep[2], int out[2], int errp[2], int *exit_status, gsi_error *err)
{
  const gsi_sandbox_opts *o = sb->o;
  bool lines = out[0] >= 0;
  pump pumps[2] = { { -1, 1, GSI_BUF_INIT }, { -1, 2, GSI_BUF_INIT } };
  pid_t gsi_pid = getpid ();
  int st = 0, ret = 0;
  pid_t pid;

  sb->report_fd = rep[1];
  sb->out_fd = lines ? out[1] : o->stdout_fd;
  sb->err_fd = lines ? errp[1] : o->stderr_fd;
  pid = fork ();
  if (pid < 0)
    return gsi_error_set (err, errno, "fork the sandbox monitor");
  if (pid == 0)
    monitor_main (sb, gsi_pid);
  /* Our copies of the write ends would keep the reads below from ever seeing EOF.  */
  close (steal_fd (&rep[1]));
  if (lines)
    {
      close (steal_fd (&out[1]));
      close (steal_fd (&errp[1]));
      pumps[0].fd = steal_fd (&out[0]);
      pumps[1].fd = steal_fd (&errp[0]);
      ret = pump_output (o, pumps, err);
      for (int i = 0; i < 2; i++)
        {
          if (pumps[i].fd >= 0)
            close (pumps[i].fd);
          gsi_buf_release (&pumps[i].pending);
        }
    }
  if (wait_for (pid, &st) < 0 && ret == 0)
    ret = gsi_error_set (err, errno, "waitpid sandbox monitor %d", (int) pid);
  if (ret == 0 && read_report (rep[0], err) < 0)
    ret = -1;
  if (ret == 0)
    *exit_status = status_code (st);
  return ret;
}

static int
run_monitor (sandbox *sb, int *exit_status, gsi_error *err)
{
  bool lines = sb->o->on_line || sb->o->tail;
  int rep[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
  int ret;

  /* Close-on-exec: another thread's exec must not inherit them and hold them open.  */
  if (pipe2 (rep, O_CLOEXEC) < 0 || (lines && (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0)))
    ret = gsi_error_set (err, errno, "pipe");
  else
    ret = fork_and_collect (sb, rep, out, errp, exit_status, err);
  close_pair (rep);
  close_pair (out);
  close_pair (errp);
  return ret;
}

static int
run_prepared (sandbox *sb, int *exit_status, gsi_error *err)
{
  if (collect_targets (sb, err) < 0 || make_scratch (sb, err) < 0)
    return -1;
  if (sb->o->rootfs && make_plain_stubs (sb, err) < 0)
    return -1;
  return run_monitor (sb, exit_status, err);
}

int
gsi_sandbox_run (const gsi_sandbox_opts *o, int *exit_status, gsi_error *err)
{
  sandbox sb = { .o = o, .report_fd = -1, .out_fd = -1, .err_fd = -1, .stubs = GSI_STRVEC_INIT };
  int ret;

  *exit_status = -1;
  if (validate (o, err) < 0)
    return -1;
  sb.resolv_src = host_file (o->resolv_conf, "/etc/resolv.conf");
  sb.hosts_src = host_file (o->hosts, "/etc/hosts");
  ret = run_prepared (&sb, exit_status, err);
  /* The namespace is gone by now (init exited, the monitor reaped it), and its mounts with it:
   * what is left is the host-side litter of a plain rootfs's stubs and the scratch dir.  */
  if (sb.stubs.n && remove_stubs (o->rootfs, &sb.stubs, ret < 0 ? NULL : err) < 0)
    ret = -1;
  if (sb.scratch && sb.root && rmdir (sb.scratch) < 0 && ret == 0)
    ret = gsi_error_set (err, errno, "rmdir `%s`", sb.scratch);
  if (ret < 0)
    *exit_status = -1;
  free (sb.targets);
  free (sb.scratch);
  free (sb.root);
  gsi_strvec_clear (&sb.stubs);
  return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Output tail                                                                                */

void
gsi_line_tail_init (gsi_line_tail *t, size_t max)
{
  t->max = max;
  t->lines = max ? xcalloc (max, sizeof (char *)) : NULL;
  t->n = 0;
  t->next = 0;
}

void
gsi_line_tail_add (gsi_line_tail *t, const char *line, size_t len)
{
  if (!t->max)
    return;
  free (t->lines[t->next]);
  t->lines[t->next] = xstrndup (line, len);
  t->next = (t->next + 1) % t->max;
  if (t->n < t->max)
    t->n++;
}

char *
gsi_line_tail_join (const gsi_line_tail *t)
{
  gsi_buf b = GSI_BUF_INIT;
  size_t first = (t->next + t->max - t->n) % (t->max ? t->max : 1);

  for (size_t i = 0; i < t->n; i++)
    {
      if (i)
        gsi_buf_addch (&b, '\n');
      gsi_buf_addstr (&b, t->lines[(first + i) % t->max]);
    }
  return gsi_buf_detach (&b, NULL);
}

void
gsi_line_tail_clear (gsi_line_tail *t)
{
  for (size_t i = 0; i < t->max; i++)
    free (t->lines[i]);
  free (t->lines);
  t->lines = NULL;
  t->n = t->next = t->max = 0;
}
