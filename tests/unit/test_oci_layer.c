/* Layer tars: made from overlay upper dirs and plain trees, read back with libarchive, applied onto
 * directories (merge and overlay-lower modes), checked against what the kernel's overlayfs shows.
 *
 * Most cases need root (mknod, trusted.* xattrs, chown), as in CI.  The overlay cases mount
 * overlayfs in a private mount namespace; when that is refused they fail unless
 * GSI_ALLOW_NO_MOUNT=1.  GSI_LAYER_BENCH=1 adds a timed 1 GiB / 20,000-file commit.  */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "oci/digest.h"
#include "oci/layer.h"
#include "oci/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/xalloc.h"

#define SDE 1600000000
#define T_OLD 1500000000
#define T_NEW 2000000000

/* ---- small fixtures ---------------------------------------------------------------------------- */

static bool
require_root (void)
{
  if (geteuid () == 0)
    return true;
  print_message ("needs root (mknod, trusted xattrs, chown): NOT RUN\n");
  return false;
}

/* With *at calls, so trees deeper than PATH_MAX go too.  */
static void
rm_at (int parent, const char *name)
{
  int fd;
  DIR *d;
  struct dirent *de;

  if (unlinkat (parent, name, 0) == 0 || errno != EISDIR)
    return;
  fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0 || !(d = fdopendir (fd)))
    return;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      rm_at (fd, de->d_name);
  closedir (d);
  unlinkat (parent, name, AT_REMOVEDIR);
}

static void
rm_rf (const char *p)
{
  rm_at (AT_FDCWD, p);
}

static char *
make_tmpdir (void)
{
  char *t = xstrdup ("/tmp/gsi-layer-test-XXXXXX");
  if (!mkdtemp (t))
    fail_msg ("mkdtemp: %s", strerror (errno));
  return t;
}

static char *
sub (const char *dir, const char *name)
{
  assert_non_null (dir);
  return xasprintf ("%s/%s", dir, name);
}

static void
mkdir_p (const char *base, const char *rel, mode_t mode)
{
  char *p = sub (base, rel);
  assert_int_equal (mkdir (p, mode), 0);
  assert_int_equal (chmod (p, mode), 0);
  free (p);
}

static void
write_file (const char *base, const char *rel, const char *content, mode_t mode)
{
  char *p = sub (base, rel);
  int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, content, strlen (content)), (ssize_t) strlen (content));
  close (fd);
  assert_int_equal (chmod (p, mode), 0);
  free (p);
}

static void
set_time (const char *base, const char *rel, time_t t)
{
  char *p = sub (base, rel);
  struct timespec ts[2] = { { t, 123456789 }, { t, 123456789 } };
  assert_int_equal (utimensat (AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
  free (p);
}

static void
set_owner (const char *base, const char *rel, uid_t u, gid_t g)
{
  char *p = sub (base, rel);
  assert_int_equal (lchown (p, u, g), 0);
  free (p);
}

static void
set_xattr (const char *base, const char *rel, const char *k, const void *v, size_t n)
{
  char *p = sub (base, rel);
  assert_int_equal (lsetxattr (p, k, v, n, 0), 0);
  free (p);
}

static void
make_node (const char *base, const char *rel, mode_t mode, dev_t dev)
{
  char *p = sub (base, rel);
  assert_int_equal (mknod (p, mode, dev), 0);
  assert_int_equal (chmod (p, mode & 07777), 0); /* past the umask */
  free (p);
}

static void
make_symlink (const char *base, const char *rel, const char *target)
{
  char *p = sub (base, rel);
  assert_int_equal (symlink (target, p), 0);
  free (p);
}

static void
make_link (const char *base, const char *from, const char *to)
{
  char *a = sub (base, from), *b = sub (base, to);
  assert_int_equal (link (a, b), 0);
  free (a);
  free (b);
}

static bool
exists (const char *base, const char *rel)
{
  char *p = sub (base, rel);
  struct stat st;
  bool r = lstat (p, &st) == 0;
  free (p);
  return r;
}

static char *
slurp (const char *base, const char *rel)
{
  char *p = sub (base, rel);
  char *s = test_read_file (p, NULL);
  free (p);
  return s;
}

/* cap_net_raw+ep as setcap writes it: vfs_cap_data revision 2, effective bit, permitted bit 13.  */
static const unsigned char cap_net_raw[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
                                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };

static int
mem_sink (void *ctx, const void *buf, size_t len, gsi_error *err)
{
  (void) err;
  gsi_buf_add (ctx, buf, len);
  return 0;
}

static void
create_mem (const char *dir, unsigned flags, int64_t sde, const char *const *exclude, gsi_buf *out,
            gsi_layer_stats *stats)
{
  gsi_layer_create_opts o = GSI_LAYER_CREATE_OPTS_INIT;
  gsi_error err = GSI_ERROR_INIT;

  o.flags = flags;
  o.source_date_epoch = sde;
  o.exclude = exclude;
  gsi_buf_reset (out);
  if (gsi_layer_create (dir, &o, mem_sink, out, stats, &err) < 0)
    fail_msg ("create: %s", err.msg);
}

/* A memfd holding the bytes, positioned at 0.  */
static int
memfd_of (const void *buf, size_t len)
{
  int fd = memfd_create ("layer", MFD_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, buf, len), (ssize_t) len);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return fd;
}

static int
apply_buf (const gsi_buf *tar, const char *dir, unsigned flags, gsi_error *err)
{
  int fd = memfd_of (tar->buf, tar->len);
  int dfd = open (dir, O_RDONLY | O_DIRECTORY);
  int r;

  assert_true (dfd >= 0);
  r = gsi_layer_apply_fd (fd, dfd, flags, NULL, err);
  close (fd);
  close (dfd);
  return r;
}

static void
apply_ok (const gsi_buf *tar, const char *dir, unsigned flags)
{
  gsi_error err = GSI_ERROR_INIT;
  if (apply_buf (tar, dir, flags, &err) < 0)
    fail_msg ("apply onto %s: %s", dir, err.msg);
}

/* ---- reading a tar back ------------------------------------------------------------------------ */

typedef struct tent
{
  char *path;
  unsigned type;
  unsigned perm;
  long long uid, gid;
  long long mtime;
  char *symlink;
  char *hardlink;
  gsi_buf data;
  gsi_buf xattrs; /* "name=hexvalue\n", sorted */
  unsigned rmaj, rmin;
  bool owner_names_empty;
} tent;

typedef struct tlist
{
  tent *v;
  size_t n;
  size_t alloc;
} tlist;

static int
cmp_line (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
xattrs_of (struct archive_entry *e, gsi_buf *out)
{
  const char *k;
  const void *v;
  size_t n, count = 0;
  char *lines[64];

  archive_entry_xattr_reset (e);
  while (archive_entry_xattr_next (e, &k, &v, &n) == ARCHIVE_OK && count < 64)
    {
      gsi_buf b = GSI_BUF_INIT;
      gsi_buf_addf (&b, "%s=", k);
      for (size_t i = 0; i < n; i++)
        gsi_buf_addf (&b, "%02x", ((const unsigned char *) v)[i]);
      lines[count++] = gsi_buf_detach (&b, NULL);
    }
  qsort (lines, count, sizeof *lines, cmp_line);
  for (size_t i = 0; i < count; i++)
    {
      gsi_buf_addf (out, "%s\n", lines[i]);
      free (lines[i]);
    }
}

static void
read_tar (const void *buf, size_t len, tlist *out)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  int r;

  archive_read_support_format_tar (a);
  archive_read_support_filter_all (a);
  assert_int_equal (archive_read_open_memory (a, buf, len), ARCHIVE_OK);
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    {
      tent *t;
      const char *s;
      char chunk[65536];
      la_ssize_t n;

      GSI_ALLOC_GROW (out->v, out->n + 1, out->alloc);
      t = &out->v[out->n++];
      memset (t, 0, sizeof *t);
      t->data = (gsi_buf) GSI_BUF_INIT;
      t->xattrs = (gsi_buf) GSI_BUF_INIT;
      t->path = xstrdup (archive_entry_pathname (e));
      t->type = archive_entry_filetype (e);
      t->perm = archive_entry_perm (e);
      t->uid = archive_entry_uid (e);
      t->gid = archive_entry_gid (e);
      t->mtime = archive_entry_mtime (e);
      s = archive_entry_symlink (e);
      t->symlink = s ? xstrdup (s) : NULL;
      s = archive_entry_hardlink (e);
      t->hardlink = s ? xstrdup (s) : NULL;
      t->rmaj = archive_entry_rdevmajor (e);
      t->rmin = archive_entry_rdevminor (e);
      t->owner_names_empty = (!archive_entry_uname (e) || !*archive_entry_uname (e))
                             && (!archive_entry_gname (e) || !*archive_entry_gname (e));
      xattrs_of (e, &t->xattrs);
      while ((n = archive_read_data (a, chunk, sizeof chunk)) > 0)
        gsi_buf_add (&t->data, chunk, (size_t) n);
      assert_true (n == 0);
    }
  assert_int_equal (r, ARCHIVE_EOF);
  archive_read_free (a);
}

static void
tlist_release (tlist *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      free (l->v[i].path);
      free (l->v[i].symlink);
      free (l->v[i].hardlink);
      gsi_buf_release (&l->v[i].data);
      gsi_buf_release (&l->v[i].xattrs);
    }
  free (l->v);
  memset (l, 0, sizeof *l);
}

static const tent *
tfind (const tlist *l, const char *path)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i].path, path) == 0)
      return &l->v[i];
  fail_msg ("no entry `%s` in the layer", path);
  return NULL;
}

static void
assert_order (const tlist *l, const char *const *expect)
{
  size_t i = 0;
  for (; expect[i]; i++)
    {
      if (i >= l->n)
        fail_msg ("layer has %zu entries, expected `%s` next", l->n, expect[i]);
      if (strcmp (l->v[i].path, expect[i]) != 0)
        fail_msg ("entry %zu is `%s`, expected `%s`", i, l->v[i].path, expect[i]);
    }
  if (i != l->n)
    fail_msg ("layer has %zu entries, expected %zu (extra `%s`)", l->n, i, l->v[i].path);
}

/* ---- a canonical listing of a tree ------------------------------------------------------------- */

struct ino_seen
{
  dev_t dev;
  ino_t ino;
  char *path;
};

struct dumper
{
  gsi_buf out;
  struct ino_seen *inos;
  size_t n_inos, alloc_inos;
  gsi_buf path;
};

static int
cmp_cstr (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
dump_xattrs (struct dumper *d, int dirfd, const char *name)
{
  char proc[512], names[4096], *keys[64];
  ssize_t n;
  size_t nk = 0;

  snprintf (proc, sizeof proc, "/proc/self/fd/%d/%s", dirfd, name);
  n = llistxattr (proc, names, sizeof names);
  assert_true (n >= 0);
  for (ssize_t off = 0; off < n; off += (ssize_t) strlen (names + off) + 1)
    if (strncmp (names + off, "trusted.overlay.", 16) != 0 && strncmp (names + off, "user.overlay.", 13) != 0
        && strcmp (names + off, "security.selinux") != 0)
      keys[nk++] = names + off;
  qsort (keys, nk, sizeof *keys, cmp_cstr);
  for (size_t i = 0; i < nk; i++)
    {
      unsigned char v[1024];
      ssize_t vn = lgetxattr (proc, keys[i], v, sizeof v);
      assert_true (vn >= 0);
      gsi_buf_addf (&d->out, " %s=", keys[i]);
      for (ssize_t j = 0; j < vn; j++)
        gsi_buf_addf (&d->out, "%02x", v[j]);
    }
}

static void dump_dir (struct dumper *d, int dirfd);

static void
dump_entry (struct dumper *d, int dirfd, const char *name)
{
  struct stat st;
  char type;

  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    fail_msg ("stat `%s`: %s", d->path.buf, strerror (errno));
  type = S_ISDIR (st.st_mode) ? 'd' : S_ISREG (st.st_mode) ? 'f' : S_ISLNK (st.st_mode) ? 'l'
         : S_ISCHR (st.st_mode) ? 'c' : S_ISBLK (st.st_mode) ? 'b' : S_ISFIFO (st.st_mode) ? 'p' : '?';
  gsi_buf_addf (&d->out, "%s %c %04o %u:%u t=%lld", d->path.buf, type, (unsigned) (st.st_mode & 07777),
                (unsigned) st.st_uid, (unsigned) st.st_gid, (long long) st.st_mtim.tv_sec);
  if (!S_ISDIR (st.st_mode) && st.st_nlink > 1)
    {
      size_t i;
      for (i = 0; i < d->n_inos; i++)
        if (d->inos[i].dev == st.st_dev && d->inos[i].ino == st.st_ino)
          break;
      if (i < d->n_inos)
        gsi_buf_addf (&d->out, " hardlink=%s", d->inos[i].path);
      else
        {
          GSI_ALLOC_GROW (d->inos, d->n_inos + 1, d->alloc_inos);
          d->inos[d->n_inos++] = (struct ino_seen) { st.st_dev, st.st_ino, xstrdup (d->path.buf) };
        }
    }
  if (S_ISREG (st.st_mode))
    {
      int fd = openat (dirfd, name, O_RDONLY);
      uint64_t h = 0xcbf29ce484222325ull;
      unsigned char buf[65536];
      ssize_t n;
      assert_true (fd >= 0);
      while ((n = read (fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
          h = (h ^ buf[i]) * 0x100000001b3ull;
      close (fd);
      gsi_buf_addf (&d->out, " size=%lld fnv=%016llx", (long long) st.st_size, (unsigned long long) h);
    }
  else if (S_ISLNK (st.st_mode))
    {
      char t[4096];
      ssize_t n = readlinkat (dirfd, name, t, sizeof t - 1);
      assert_true (n >= 0);
      t[n] = '\0';
      gsi_buf_addf (&d->out, " -> %s", t);
    }
  else if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    gsi_buf_addf (&d->out, " dev=%u:%u", major (st.st_rdev), minor (st.st_rdev));
  dump_xattrs (d, dirfd, name);
  gsi_buf_addch (&d->out, '\n');
  if (S_ISDIR (st.st_mode))
    {
      int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      assert_true (fd >= 0);
      dump_dir (d, fd);
      close (fd);
    }
}

static void
dump_dir (struct dumper *d, int dirfd)
{
  DIR *dir = fdopendir (dup (dirfd));
  struct dirent *de;
  char **names = NULL;
  size_t n = 0, alloc = 0, base = d->path.len;

  assert_non_null (dir);
  rewinddir (dir);
  while ((de = readdir (dir)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      {
        GSI_ALLOC_GROW (names, n + 1, alloc);
        names[n++] = xstrdup (de->d_name);
      }
  closedir (dir);
  if (n > 1)
    qsort (names, n, sizeof *names, cmp_cstr);
  for (size_t i = 0; i < n; i++)
    {
      gsi_buf_setlen (&d->path, base);
      if (base)
        gsi_buf_addch (&d->path, '/');
      gsi_buf_addstr (&d->path, names[i]);
      dump_entry (d, dirfd, names[i]);
      free (names[i]);
    }
  gsi_buf_setlen (&d->path, base);
  free (names);
}

/* One line per entry below dir (the root itself left out): type, mode, owner, mtime in seconds,
 * content hash or link target or device, xattrs, and hardlink identity.  */
static char *
dump_tree (const char *dir)
{
  struct dumper d = { GSI_BUF_INIT, NULL, 0, 0, GSI_BUF_INIT };
  int fd = open (dir, O_RDONLY | O_DIRECTORY);

  assert_true (fd >= 0);
  dump_dir (&d, fd);
  close (fd);
  for (size_t i = 0; i < d.n_inos; i++)
    free (d.inos[i].path);
  free (d.inos);
  gsi_buf_release (&d.path);
  return gsi_buf_detach (&d.out, NULL);
}

/* cmocka truncates long messages: report the first line that differs.  */
static void
assert_dumps_equal (const char *what, const char *a, const char *b)
{
  size_t i = 0, line = 0;
  const char *la, *lb;

  if (strcmp (a, b) == 0)
    return;
  while (a[i] && a[i] == b[i])
    i++;
  while (i > 0 && a[i - 1] != '\n')
    i--;
  for (size_t j = 0; j < i; j++)
    line += a[j] == '\n';
  la = a + i;
  lb = b + i;
  fail_msg ("%s: line %zu differs\n  got:  %.*s\n  want: %.*s", what, line + 1, (int) strcspn (la, "\n"), la,
            (int) strcspn (lb, "\n"), lb);
}

static void
assert_trees_equal (const char *want, const char *got)
{
  char *dw = dump_tree (want), *dg = dump_tree (got);
  assert_dumps_equal (got, dg, dw);
  free (dw);
  free (dg);
}

/* ---- hand-made tars ---------------------------------------------------------------------------- */

typedef struct spec
{
  const char *path;
  char type;        /* f file, d dir, l symlink, h hardlink, c chardev, p fifo */
  const char *arg;  /* file content, link target */
  unsigned perm;
  long long mtime;  /* 0: T_OLD */
} spec;

static void
make_tar (const spec *s, int filter, gsi_buf *out)
{
  struct archive *a = archive_write_new ();
  struct archive_entry *e = archive_entry_new ();
  size_t used = 0;
  static char mem[1 << 20];

  archive_write_set_format_pax_restricted (a);
  if (filter)
    assert_true (archive_write_add_filter (a, filter) >= ARCHIVE_WARN);
  archive_write_set_bytes_per_block (a, 0);
  assert_int_equal (archive_write_open_memory (a, mem, sizeof mem, &used), ARCHIVE_OK);
  for (; s->path; s++)
    {
      archive_entry_clear (e);
      archive_entry_copy_pathname (e, s->path);
      archive_entry_set_perm (e, s->perm ? s->perm : (s->type == 'd' ? 0755 : 0644));
      archive_entry_set_mtime (e, s->mtime ? s->mtime : T_OLD, 0);
      switch (s->type)
        {
        case 'f':
          archive_entry_set_filetype (e, AE_IFREG);
          archive_entry_set_size (e, (la_int64_t) strlen (s->arg));
          break;
        case 'd':
          archive_entry_set_filetype (e, AE_IFDIR);
          break;
        case 'l':
          archive_entry_set_filetype (e, AE_IFLNK);
          archive_entry_copy_symlink (e, s->arg);
          break;
        case 'h':
          archive_entry_set_filetype (e, AE_IFREG);
          archive_entry_copy_hardlink (e, s->arg);
          break;
        case 'c':
          archive_entry_set_filetype (e, AE_IFCHR);
          archive_entry_set_rdevmajor (e, 1);
          archive_entry_set_rdevminor (e, 3);
          break;
        default:
          archive_entry_set_filetype (e, AE_IFIFO);
          break;
        }
      assert_true (archive_write_header (a, e) >= ARCHIVE_WARN);
      if (s->type == 'f' && *s->arg)
        assert_int_equal (archive_write_data (a, s->arg, strlen (s->arg)), (la_ssize_t) strlen (s->arg));
    }
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);
  archive_entry_free (e);
  gsi_buf_reset (out);
  gsi_buf_add (out, mem, used);
}

/* Applies the hand-made layers in order onto a fresh dir (merge mode); returns the dir.  */
static char *
apply_layers (const spec *const *layers, size_t n)
{
  char *dir = make_tmpdir ();
  gsi_buf tar = GSI_BUF_INIT;

  for (size_t i = 0; i < n; i++)
    {
      make_tar (layers[i], 0, &tar);
      apply_ok (&tar, dir, 0);
    }
  gsi_buf_release (&tar);
  return dir;
}

/* ---- overlay mounts ---------------------------------------------------------------------------- */

static bool
mount_or_skip (const char *target, const char *opts)
{
  const char *allow = getenv ("GSI_ALLOW_NO_MOUNT");

  if (mount ("overlay", target, "overlay", 0, opts) == 0)
    return true;
  if (allow && strcmp (allow, "1") == 0)
    {
      print_message ("mounting overlayfs failed (%s): overlay case NOT RUN (GSI_ALLOW_NO_MOUNT=1)\n",
                     strerror (errno));
      return false;
    }
  fail_msg ("mounting overlayfs on %s failed: %s (opts %s); run as root with mount permission, or set "
            "GSI_ALLOW_NO_MOUNT=1 to skip the overlay cases",
            target, strerror (errno), opts);
  return false;
}

/* Applies each layer into its own dir with overlay whiteouts, stacks them as lowerdirs and checks
 * that the merged view equals the merge-mode result in `expect`.  */
static void
check_overlay_stack (const spec *const *layers, size_t n, const char *expect)
{
  char *top = make_tmpdir ();
  char *merged = sub (top, "merged");
  gsi_buf opts = GSI_BUF_INIT, tar = GSI_BUF_INIT;

  assert_int_equal (mkdir (merged, 0755), 0);
  gsi_buf_addstr (&opts, "lowerdir=");
  for (size_t i = n; i-- > 0;)
    {
      char name[32];
      char *dir;
      snprintf (name, sizeof name, "l%zu", i);
      mkdir_p (top, name, 0755);
      dir = sub (top, name);
      make_tar (layers[i], 0, &tar);
      apply_ok (&tar, dir, GSI_APPLY_OVERLAY_WHITEOUTS);
      gsi_buf_addf (&opts, "%s%s", i == n - 1 ? "" : ":", dir);
      free (dir);
    }
  if (n == 1)
    {
      /* overlay needs two lowers without an upper */
      mkdir_p (top, "empty", 0755);
      gsi_buf_addf (&opts, ":%s/empty", top);
    }
  if (mount_or_skip (merged, opts.buf))
    {
      char *got = dump_tree (merged), *want = dump_tree (expect);
      umount2 (merged, MNT_DETACH);
      assert_dumps_equal ("overlay stack vs merge apply", got, want);
      free (got);
      free (want);
    }
  rm_rf (top);
  free (top);
  free (merged);
  gsi_buf_release (&opts);
  gsi_buf_release (&tar);
}

/* ---- creating ---------------------------------------------------------------------------------- */

/* The upper dir of test_create_from_upper, by hand as the kernel would leave it.  */
static char *
make_upper (void)
{
  char *u = make_tmpdir ();
  char *sockpath;
  int s;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };

  write_file (u, "Z", "upper-case sorts first", 0600);
  write_file (u, "a.txt", "hello", 0644);
  set_owner (u, "a.txt", 1000, 1001);
  set_time (u, "a.txt", T_NEW);
  mkdir_p (u, "bin", 0755);
  write_file (u, "bin/ping", "ELF", 04755);
  set_xattr (u, "bin/ping", "security.capability", cap_net_raw, sizeof cap_net_raw);
  make_node (u, "deleted", S_IFCHR, makedev (0, 0));
  write_file (u, "hl-a", "linked", 0640);
  make_link (u, "hl-a", "hl-b");
  make_node (u, "null", S_IFCHR | 0666, makedev (1, 3));
  mkdir_p (u, "opq", 0750);
  set_xattr (u, "opq", "trusted.overlay.opaque", "y", 1);
  write_file (u, "opq/new.txt", "fresh", 0644);
  make_node (u, "pipe", S_IFIFO | 0600, 0);
  mkdir_p (u, "sub", 0755);
  make_node (u, "sub/gone", S_IFCHR, makedev (0, 0));
  mkdir_p (u, "sub/deep", 0700);
  write_file (u, "sub/deep/f", "deep", 0644);
  mkdir_p (u, "sub/x", 0755);
  set_xattr (u, "sub/x", "trusted.overlay.opaque", "x", 1); /* "x" is not opaque */
  make_symlink (u, "sym", "a.txt");
  write_file (u, "x.txt", "attrs", 0644);
  set_xattr (u, "x.txt", "user.b", "2", 1);
  set_xattr (u, "x.txt", "user.a", "1", 1);
  set_xattr (u, "x.txt", "trusted.overlay.origin", "junk", 4);
  set_xattr (u, "x.txt", "security.selinux", "system_u:object_r:tmp_t:s0", 26);

  sockpath = sub (u, "sock");
  s = socket (AF_UNIX, SOCK_STREAM, 0);
  assert_true (s >= 0);
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", sockpath);
  assert_int_equal (bind (s, (struct sockaddr *) &sa, sizeof sa), 0);
  close (s);
  free (sockpath);

  set_time (u, "Z", T_OLD);
  set_time (u, "sub/deep/f", T_OLD);
  set_time (u, "sym", T_NEW);
  set_time (u, "deleted", T_OLD);
  set_time (u, "opq", T_OLD);
  return u;
}

static void
test_create_from_upper (void **state)
{
  static const char *const order[] = {
    ".wh.deleted", "Z", "a.txt", "bin/", "bin/ping", "hl-a", "hl-b", "null", "opq/", "opq/.wh..wh..opq",
    "opq/new.txt", "pipe", "sub/", "sub/.wh.gone", "sub/deep/", "sub/deep/f", "sub/x/", "sym", "x.txt", NULL,
  };
  gsi_buf tar = GSI_BUF_INIT;
  gsi_layer_stats st;
  tlist l = { 0 };
  const tent *t;
  char *u;

  (void) state;
  if (!require_root ())
    skip ();
  u = make_upper ();
  create_mem (u, 0, SDE, NULL, &tar, &st);
  read_tar (tar.buf, tar.len, &l);
  assert_order (&l, order);

  assert_int_equal (st.entries, l.n);
  assert_int_equal (st.whiteouts, 3);
  assert_int_equal (st.hardlinks, 1);
  assert_int_equal (st.skipped, 1); /* the socket */
  assert_int_equal (st.tar_bytes, tar.len);
  assert_int_equal (st.data_bytes, strlen ("upper-case sorts first") + 5 + 3 + 6 + 5 + 4 + 5);

  for (size_t i = 0; i < l.n; i++)
    {
      assert_true (l.v[i].owner_names_empty);
      assert_true (l.v[i].mtime <= SDE);
    }
  t = tfind (&l, ".wh.deleted");
  assert_int_equal (t->type, AE_IFREG);
  assert_int_equal (t->data.len, 0);
  assert_int_equal (t->mtime, T_OLD);
  t = tfind (&l, "a.txt");
  assert_int_equal (t->type, AE_IFREG);
  assert_int_equal (t->perm, 0644);
  assert_int_equal (t->uid, 1000);
  assert_int_equal (t->gid, 1001);
  assert_int_equal (t->mtime, SDE); /* clamped */
  assert_string_equal (t->data.buf, "hello");
  t = tfind (&l, "Z");
  assert_int_equal (t->mtime, T_OLD); /* older than SDE: kept, in seconds */
  assert_int_equal (t->perm, 0600);
  t = tfind (&l, "bin/ping");
  assert_int_equal (t->perm, 04755);
  assert_string_equal (t->xattrs.buf, "security.capability=0100000200200000000000000000000000000000\n");
  t = tfind (&l, "hl-b");
  assert_non_null (t->hardlink);
  assert_string_equal (t->hardlink, "hl-a");
  assert_int_equal (t->data.len, 0);
  assert_null (tfind (&l, "hl-a")->hardlink);
  assert_string_equal (tfind (&l, "hl-a")->data.buf, "linked");
  t = tfind (&l, "null");
  assert_int_equal (t->type, AE_IFCHR);
  assert_int_equal (t->rmaj, 1);
  assert_int_equal (t->rmin, 3);
  assert_int_equal (t->perm, 0666);
  t = tfind (&l, "opq/");
  assert_int_equal (t->type, AE_IFDIR);
  assert_int_equal (t->perm, 0750);
  assert_string_equal (t->xattrs.buf, ""); /* the opaque xattr is not stored */
  t = tfind (&l, "opq/.wh..wh..opq");
  assert_int_equal (t->type, AE_IFREG);
  assert_int_equal (t->perm, 0750);
  assert_int_equal (t->mtime, T_OLD);
  assert_int_equal (tfind (&l, "pipe")->type, AE_IFIFO);
  assert_int_equal (tfind (&l, "sub/deep/")->perm, 0700);
  t = tfind (&l, "sym");
  assert_int_equal (t->type, AE_IFLNK);
  assert_string_equal (t->symlink, "a.txt");
  assert_int_equal (t->mtime, SDE);
  t = tfind (&l, "x.txt");
  assert_string_equal (t->xattrs.buf, "user.a=31\nuser.b=32\n");

  /* Raw bytes: xattrs sorted, SCHILY only, nothing of overlay or SELinux, no hdrcharset.  */
  {
    const char *pa = memmem (tar.buf, tar.len, "SCHILY.xattr.user.a", 19);
    const char *pb = memmem (tar.buf, tar.len, "SCHILY.xattr.user.b", 19);
    assert_non_null (pa);
    assert_non_null (pb);
    assert_true (pa < pb);
    assert_null (memmem (tar.buf, tar.len, "LIBARCHIVE", 10));
    assert_null (memmem (tar.buf, tar.len, "overlay", 7));
    assert_null (memmem (tar.buf, tar.len, "selinux", 7));
    assert_null (memmem (tar.buf, tar.len, "hdrcharset", 10));
    assert_int_equal (tar.len % 512, 0);
  }

  tlist_release (&l);
  gsi_buf_release (&tar);
  rm_rf (u);
  free (u);
}

static void
test_create_deterministic (void **state)
{
  gsi_buf a = GSI_BUF_INIT, b = GSI_BUF_INIT;
  tlist l = { 0 };
  char *u;

  (void) state;
  if (!require_root ())
    skip ();
  u = make_upper ();
  create_mem (u, 0, SDE, NULL, &a, NULL);
  create_mem (u, 0, SDE, NULL, &b, NULL);
  assert_int_equal (a.len, b.len);
  assert_memory_equal (a.buf, b.buf, a.len);

  /* Without SOURCE_DATE_EPOCH the file's own mtime, in whole seconds.  */
  create_mem (u, 0, -1, NULL, &a, NULL);
  read_tar (a.buf, a.len, &l);
  assert_int_equal (tfind (&l, "a.txt")->mtime, T_NEW);
  assert_int_equal (tfind (&l, "sym")->mtime, T_NEW);
  tlist_release (&l);

  /* Same content elsewhere, touched in a different order: same bytes.  */
  {
    char *v = make_upper ();
    create_mem (v, 0, SDE, NULL, &b, NULL);
    create_mem (u, 0, SDE, NULL, &a, NULL);
    assert_int_equal (a.len, b.len);
    assert_memory_equal (a.buf, b.buf, a.len);
    rm_rf (v);
    free (v);
  }
  gsi_buf_release (&a);
  gsi_buf_release (&b);
  rm_rf (u);
  free (u);
}

static void
test_create_plain_tree_and_exclude (void **state)
{
  static const char *const order[] = {
    "Z", "bin/", "bin/ping", "deleted", "hl-a", "hl-b", "null", "opq/", "opq/new.txt", "pipe",
    "sub/", "sub/gone", "sub/x/", "sym", "x.txt", NULL,
  };
  static const char *const exclude[] = { "a.txt", "/sub/deep", NULL };
  gsi_buf tar = GSI_BUF_INIT;
  tlist l = { 0 };
  const tent *t;
  char *u;

  (void) state;
  if (!require_root ())
    skip ();
  u = make_upper ();
  create_mem (u, GSI_LAYER_PLAIN_TREE, -1, exclude, &tar, NULL);
  read_tar (tar.buf, tar.len, &l);
  assert_order (&l, order);
  t = tfind (&l, "deleted");
  assert_int_equal (t->type, AE_IFCHR);
  assert_int_equal (t->rmaj, 0);
  assert_int_equal (t->rmin, 0);
  tlist_release (&l);
  gsi_buf_release (&tar);
  rm_rf (u);
  free (u);
}

static void
test_create_rejects_redirect (void **state)
{
  gsi_layer_create_opts o = GSI_LAYER_CREATE_OPTS_INIT;
  gsi_error err = GSI_ERROR_INIT;
  gsi_buf tar = GSI_BUF_INIT;
  char *u;

  (void) state;
  if (!require_root ())
    skip ();
  u = make_tmpdir ();
  mkdir_p (u, "moved", 0755);
  set_xattr (u, "moved", "trusted.overlay.redirect", "/orig", 5);
  assert_int_equal (gsi_layer_create (u, &o, mem_sink, &tar, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "redirect_dir=off"));
  assert_non_null (strstr (err.msg, "`moved`"));
  gsi_error_clear (&err);

  /* In a plain tree overlay xattrs mean nothing and are just left out.  */
  o.flags = GSI_LAYER_PLAIN_TREE;
  assert_int_equal (gsi_layer_create (u, &o, mem_sink, &tar, NULL, &err), 0);
  gsi_buf_release (&tar);
  rm_rf (u);
  free (u);
}

struct failing_sink
{
  size_t left;
};

static int
failing_write (void *ctx, const void *buf, size_t len, gsi_error *err)
{
  struct failing_sink *f = ctx;
  (void) buf;
  if (len > f->left)
    return gsi_error_set (err, ENOSPC, "store full");
  f->left -= len;
  return 0;
}

/* Big files pass in chunks, and a failing sink stops the walk with the sink's own error.  */
static void
test_create_streams_and_sink_errors (void **state)
{
  const size_t big = (5u << 20) + 123;
  char *u = make_tmpdir ();
  char *p = sub (u, "big");
  unsigned char *data = xmalloc (big);
  gsi_buf tar = GSI_BUF_INIT;
  gsi_layer_stats st;
  gsi_error err = GSI_ERROR_INIT;
  struct failing_sink fs = { 3u << 20 };
  tlist l = { 0 };
  int fd;

  (void) state;
  for (size_t i = 0; i < big; i++)
    data[i] = (unsigned char) (i * 2654435761u >> 13);
  fd = open (p, O_WRONLY | O_CREAT, 0644);
  assert_int_equal (write (fd, data, big), (ssize_t) big);
  close (fd);
  write_file (u, "small", "s", 0644);

  create_mem (u, GSI_LAYER_PLAIN_TREE, -1, NULL, &tar, &st);
  assert_int_equal (st.data_bytes, big + 1);
  read_tar (tar.buf, tar.len, &l);
  assert_int_equal (l.n, 2);
  assert_int_equal (l.v[0].data.len, big);
  assert_memory_equal (l.v[0].data.buf, data, big);
  tlist_release (&l);

  assert_int_equal (gsi_layer_create (u, NULL, failing_write, &fs, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "store full"));
  assert_int_equal (err.code, ENOSPC);
  gsi_error_clear (&err);

  assert_int_equal (gsi_layer_create ("/nonexistent-gsi-dir", NULL, mem_sink, &tar, NULL, &err), -1);
  assert_int_equal (err.code, ENOENT);
  gsi_error_clear (&err);

  gsi_buf_release (&tar);
  free (data);
  free (p);
  rm_rf (u);
  free (u);
}

/* ---- applying ---------------------------------------------------------------------------------- */

/* A tree with every kind of entry, for create -> apply round trips.  */
static char *
make_rich_tree (void)
{
  char *t = make_tmpdir ();
  char longname[201];

  memset (longname, 'n', 200);
  longname[200] = '\0';
  mkdir_p (t, "etc", 0755);
  write_file (t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
  write_file (t, "etc/shadow", "root:*:1::::::\n", 0640);
  set_owner (t, "etc/shadow", 0, 42);
  mkdir_p (t, "usr", 0755);
  mkdir_p (t, "usr/bin", 0755);
  write_file (t, "usr/bin/ping", "ELF ping", 0755);
  set_xattr (t, "usr/bin/ping", "security.capability", cap_net_raw, sizeof cap_net_raw);
  write_file (t, "usr/bin/su", "ELF su", 04755);
  write_file (t, "usr/bin/hl1", "same inode", 0755);
  make_link (t, "usr/bin/hl1", "usr/bin/hl2");
  make_link (t, "usr/bin/hl1", "usr/bin/hl3");
  make_symlink (t, "bin", "usr/bin");
  make_symlink (t, "etc/dangling", "/nowhere/at/all");
  mkdir_p (t, "ro", 0555);
  write_file (t, "ro/inside", "in a read-only dir", 0444);
  mkdir_p (t, "dev", 0755);
  make_node (t, "dev/null", S_IFCHR | 0666, makedev (1, 3));
  make_node (t, "dev/loop0", S_IFBLK | 0660, makedev (7, 0));
  make_node (t, "dev/fifo", S_IFIFO | 0620, 0);
  write_file (t, "caf\xc3\xa9", "utf-8 name", 0644);
  write_file (t, "bad\xff", "not utf-8", 0644);
  write_file (t, longname, "long name", 0644);
  write_file (t, "empty", "", 0600);
  set_owner (t, "empty", 65534, 65534);
  mkdir_p (t, "sticky", 01777);
  write_file (t, "xattr", "x", 0644);
  set_xattr (t, "xattr", "user.mime_type", "text/plain", 10);
  set_xattr (t, "xattr", "user.bin", "\0\1\2", 3);
  set_time (t, "etc/passwd", T_OLD);
  set_time (t, "bin", T_OLD);
  set_time (t, "ro", T_OLD);
  set_time (t, "etc", T_NEW);
  return t;
}

static void
test_apply_roundtrip (void **state)
{
  gsi_buf tar = GSI_BUF_INIT;
  gsi_layer_stats cst, ast;
  gsi_error err = GSI_ERROR_INIT;
  char *src, *dst;
  int tfd, dfd;

  (void) state;
  if (!require_root ())
    skip ();
  src = make_rich_tree ();
  dst = make_tmpdir ();
  create_mem (src, GSI_LAYER_PLAIN_TREE, -1, NULL, &tar, &cst);
  tfd = memfd_of (tar.buf, tar.len);
  dfd = open (dst, O_RDONLY | O_DIRECTORY);
  if (gsi_layer_apply_fd (tfd, dfd, 0, &ast, &err) < 0)
    fail_msg ("apply: %s", err.msg);
  close (tfd);
  close (dfd);
  assert_trees_equal (src, dst);
  assert_int_equal (ast.entries, cst.entries);
  assert_int_equal (ast.hardlinks, 2);
  assert_int_equal (ast.data_bytes, cst.data_bytes);
  assert_int_equal (ast.tar_bytes, tar.len);

  /* Applying the same layer again over its own result changes nothing.  */
  apply_ok (&tar, dst, 0);
  assert_trees_equal (src, dst);

  /* Every compression libarchive reads.  */
  {
    static const int filters[] = { ARCHIVE_FILTER_GZIP, ARCHIVE_FILTER_BZIP2, ARCHIVE_FILTER_XZ, ARCHIVE_FILTER_ZSTD };
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
      {
        struct archive *a = archive_write_new ();
        struct archive_entry *e = archive_entry_new ();
        size_t cap = tar.len + (1 << 20), used = 0;
        char *mem = xmalloc (cap);
        char *d2 = make_tmpdir ();
        gsi_buf z = GSI_BUF_INIT;

        /* The layer's bytes through the filter, as a registry would serve them.  */
        archive_write_set_format_raw (a);
        assert_int_equal (archive_write_add_filter (a, filters[i]), ARCHIVE_OK);
        assert_int_equal (archive_write_open_memory (a, mem, cap, &used), ARCHIVE_OK);
        archive_entry_set_filetype (e, AE_IFREG);
        assert_int_equal (archive_write_header (a, e), ARCHIVE_OK);
        assert_int_equal (archive_write_data (a, tar.buf, tar.len), (la_ssize_t) tar.len);
        assert_int_equal (archive_write_close (a), ARCHIVE_OK);
        archive_write_free (a);
        archive_entry_free (e);
        gsi_buf_add (&z, mem, used);
        assert_true (used < tar.len); /* really compressed */
        apply_ok (&z, d2, 0);
        assert_trees_equal (src, d2);
        rm_rf (d2);
        free (d2);
        free (mem);
        gsi_buf_release (&z);
      }
  }
  gsi_buf_release (&tar);
  rm_rf (src);
  rm_rf (dst);
  free (src);
  free (dst);
}

/* Deeper than PATH_MAX: nothing in create or apply may build a full path for the kernel.  */
static void
test_roundtrip_deeper_than_path_max (void **state)
{
  char comp[201];
  char *src = make_tmpdir (), *dst = make_tmpdir ();
  gsi_buf tar = GSI_BUF_INIT;
  int fd = open (src, O_RDONLY | O_DIRECTORY);

  (void) state;
  memset (comp, 'd', 200);
  comp[200] = '\0';
  for (int i = 0; i < 30; i++)
    {
      int next;
      assert_int_equal (mkdirat (fd, comp, 0755), 0);
      next = openat (fd, comp, O_RDONLY | O_DIRECTORY);
      assert_true (next >= 0);
      close (fd);
      fd = next;
    }
  close (openat (fd, "leaf", O_WRONLY | O_CREAT, 0644));
  close (fd);
  create_mem (src, GSI_LAYER_PLAIN_TREE, -1, NULL, &tar, NULL);
  apply_ok (&tar, dst, 0);
  gsi_layer_set_openat2 (0);
  apply_ok (&tar, dst, 0);
  gsi_layer_set_openat2 (1);
  assert_trees_equal (src, dst);
  gsi_buf_release (&tar);
  rm_rf (src);
  rm_rf (dst);
  free (src);
  free (dst);
}

static const spec base_layer[] = {
  { "d/", 'd', NULL, 0755, 0 },
  { "d/f", 'f', "lower f", 0, 0 },
  { "d/g", 'f', "lower g", 0, 0 },
  { "d/sub/", 'd', NULL, 0755, 0 },
  { "d/sub/x", 'f', "lower x", 0, 0 },
  { "f", 'f', "one", 0, 0 },
  { "rep/", 'd', NULL, 0755, 0 },
  { "rep/inner", 'f', "inner", 0, 0 },
  { "p/", 'd', NULL, 0755, 0 },
  { "p/x", 'f', "px", 0, 0 },
  { "q", 'f', "q file", 0, 0 },
  { "keep/", 'd', NULL, 0755, 0 },
  { "keep/old", 'f', "kept", 0, 0 },
  { NULL, 0, NULL, 0, 0 },
};

static void
test_apply_whiteout_cases (void **state)
{
  /* Everything other builders have got wrong at some point, in one second layer.  */
  static const spec diff[] = {
    { "d/", 'd', NULL, 0750, T_NEW },
    { "d/.wh.f", 'f', "", 0, 0 },                 /* file deleted in a later layer */
    { "d/sub/", 'd', NULL, 0755, 0 },
    { "d/sub/.wh..wh..opq", 'f', "", 0, 0 },      /* dir deleted and re-created: opaque */
    { "d/sub/y", 'f', "new y", 0, 0 },
    { "rep", 'l', "keep", 0, 0 },                 /* dir replaced by a symlink */
    { ".wh.f", 'f', "", 0, 0 },                   /* file removed ... */
    { "p", 'f', "p is a file now", 0, 0 },        /* dir replaced by a file */
    { "q/", 'd', NULL, 0711, 0 },                 /* file replaced by a dir */
    { "q/y", 'f', "qy", 0, 0 },
    { "keep/", 'd', NULL, 0700, T_NEW },          /* existing dir: attributes only */
    { "keep/new", 'f', "added", 0, 0 },
    { "keep/.wh.new", 'f', "", 0, 0 },            /* a whiteout never hits its own layer */
    { ".wh.nonexistent", 'f', "", 0, 0 },
    { NULL, 0, NULL, 0, 0 },
  };
  static const spec again[] = {
    { "f", 'f', "three", 0, 0 },                  /* ... and added again */
    { NULL, 0, NULL, 0, 0 },
  };
  const spec *const layers[] = { base_layer, diff, again };
  struct stat st;
  char *dir, *s, *p;

  (void) state;
  if (!require_root ())
    skip ();
  dir = apply_layers (layers, 3);

  assert_false (exists (dir, "d/f"));
  assert_true (exists (dir, "d/g"));
  assert_false (exists (dir, "d/sub/x"));
  s = slurp (dir, "d/sub/y");
  assert_string_equal (s, "new y");
  free (s);
  p = sub (dir, "rep");
  assert_int_equal (lstat (p, &st), 0);
  assert_true (S_ISLNK (st.st_mode));
  free (p);
  s = slurp (dir, "f");
  assert_string_equal (s, "three");
  free (s);
  p = sub (dir, "p");
  assert_int_equal (lstat (p, &st), 0);
  assert_true (S_ISREG (st.st_mode));
  free (p);
  p = sub (dir, "q");
  assert_int_equal (lstat (p, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  assert_int_equal (st.st_mode & 07777, 0711);
  free (p);
  assert_true (exists (dir, "q/y"));
  p = sub (dir, "keep");
  assert_int_equal (lstat (p, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0700);
  assert_int_equal (st.st_mtim.tv_sec, T_NEW);
  free (p);
  assert_true (exists (dir, "keep/old"));
  assert_true (exists (dir, "keep/new"));
  p = sub (dir, "d");
  assert_int_equal (lstat (p, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0750);
  assert_int_equal (st.st_mtim.tv_sec, T_NEW); /* set after the whiteouts changed it */
  free (p);
  assert_false (exists (dir, ".wh.f"));
  assert_false (exists (dir, "d/.wh.f"));
  assert_false (exists (dir, "d/sub/.wh..wh..opq"));

  check_overlay_stack (layers, 3, dir);

  /* A whiteout in a directory nobody made deletes nothing and makes nothing.  (Not stacked: the
   * kernel lists a whiteout in a directory that exists in one layer only.)  */
  {
    static const spec stray[] = { { "gone/.wh.x", 'f', "", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    gsi_buf tar = GSI_BUF_INIT;
    make_tar (stray, 0, &tar);
    apply_ok (&tar, dir, 0);
    assert_false (exists (dir, "gone"));
    gsi_buf_release (&tar);
  }
  rm_rf (dir);
  free (dir);
}

/* The opaque marker hides lower content only, wherever it sits in the tar.  */
static void
test_apply_opaque_after_children (void **state)
{
  static const spec diff[] = {
    { "d/", 'd', NULL, 0755, 0 },
    { "d/sub/", 'd', NULL, 0755, 0 },
    { "d/sub/z", 'f', "z", 0, 0 },
    { "d/new", 'f', "new", 0, 0 },
    { "d/.wh..wh..opq", 'f', "", 0, 0 },
    { NULL, 0, NULL, 0, 0 },
  };
  const spec *const layers[] = { base_layer, diff };
  char *dir, *listing;

  (void) state;
  if (!require_root ())
    skip ();
  dir = apply_layers (layers, 2);
  assert_true (exists (dir, "d/new"));
  assert_true (exists (dir, "d/sub/z"));
  assert_false (exists (dir, "d/f"));
  assert_false (exists (dir, "d/g"));
  assert_false (exists (dir, "d/sub/x")); /* lower content of a re-listed subdir is hidden too */
  listing = dump_tree (dir);
  assert_null (strstr (listing, ".wh."));
  free (listing);
  check_overlay_stack (layers, 2, dir);
  rm_rf (dir);
  free (dir);
}

static void
test_apply_overlay_markers (void **state)
{
  static const spec diff[] = {
    { "d/", 'd', NULL, 0755, 0 },
    { "d/.wh..wh..opq", 'f', "", 0, 0 },
    { "d/.wh.f", 'f', "", 0, 0 },
    { "e/.wh.x", 'f', "", 0, 0 },
    { NULL, 0, NULL, 0, 0 },
  };
  char *dir = make_tmpdir ();
  gsi_buf tar = GSI_BUF_INIT;
  char v[8];
  char *p;
  struct stat st;

  (void) state;
  if (!require_root ())
    skip ();
  make_tar (diff, 0, &tar);
  apply_ok (&tar, dir, GSI_APPLY_OVERLAY_WHITEOUTS);
  p = sub (dir, "d");
  assert_int_equal (lgetxattr (p, "trusted.overlay.opaque", v, sizeof v), 1);
  assert_int_equal (v[0], 'y');
  free (p);
  p = sub (dir, "d/f");
  assert_int_equal (lstat (p, &st), 0);
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (st.st_rdev, makedev (0, 0));
  free (p);
  assert_true (exists (dir, "e/x")); /* parent made for the marker */
  rm_rf (dir);
  free (dir);

  dir = make_tmpdir ();
  apply_ok (&tar, dir, GSI_APPLY_OVERLAY_WHITEOUTS | GSI_APPLY_USERXATTR);
  p = sub (dir, "d");
  assert_int_equal (lgetxattr (p, "user.overlay.opaque", v, sizeof v), 1);
  assert_int_equal (lgetxattr (p, "trusted.overlay.opaque", v, sizeof v), -1);
  free (p);
  rm_rf (dir);
  free (dir);

  /* ADD of a local archive: `.wh.` names are just files.  */
  dir = make_tmpdir ();
  apply_ok (&tar, dir, GSI_APPLY_NO_WHITEOUTS);
  assert_true (exists (dir, "d/.wh..wh..opq"));
  assert_true (exists (dir, "e/.wh.x"));
  rm_rf (dir);
  free (dir);
  gsi_buf_release (&tar);
}

/* A layer carrying overlay xattrs of its own must not be able to fake markers.  */
static void
test_apply_drops_forged_overlay_xattrs (void **state)
{
  struct archive *a = archive_write_new ();
  struct archive_entry *e = archive_entry_new ();
  static char mem[65536];
  size_t used = 0;
  gsi_buf tar = GSI_BUF_INIT;
  char *dir = make_tmpdir ();
  char *p = sub (dir, "d");
  char v[8];

  (void) state;
  if (!require_root ())
    skip ();
  archive_write_set_format_pax_restricted (a);
  archive_write_open_memory (a, mem, sizeof mem, &used);
  archive_entry_copy_pathname (e, "d/");
  archive_entry_set_filetype (e, AE_IFDIR);
  archive_entry_set_perm (e, 0755);
  archive_entry_xattr_add_entry (e, "trusted.overlay.opaque", "y", 1);
  archive_entry_xattr_add_entry (e, "user.kept", "k", 1);
  archive_write_header (a, e);
  archive_write_close (a);
  archive_write_free (a);
  archive_entry_free (e);
  gsi_buf_add (&tar, mem, used);
  apply_ok (&tar, dir, GSI_APPLY_OVERLAY_WHITEOUTS);
  assert_int_equal (lgetxattr (p, "trusted.overlay.opaque", v, sizeof v), -1);
  assert_int_equal (lgetxattr (p, "user.kept", v, sizeof v), 1);
  free (p);
  gsi_buf_release (&tar);
  rm_rf (dir);
  free (dir);
}

/* Not root: no chown at all, and with BEST_EFFORT the device node and trusted xattr the kernel
 * refuses are skipped and counted; without it they fail.  Runs in a child that drops to nobody.  */
static int
unprivileged_child (const gsi_buf *tar, const char *dir)
{
  gsi_layer_stats st;
  gsi_error err = GSI_ERROR_INIT;
  int fd, dfd;
  char v[4];
  char *p;

  if (setresgid (65534, 65534, 65534) < 0 || setresuid (65534, 65534, 65534) < 0)
    return 10;
  fd = memfd_of (tar->buf, tar->len);
  dfd = open (dir, O_RDONLY | O_DIRECTORY);
  if (gsi_layer_apply_fd (fd, dfd, 0, NULL, &err) == 0 || err.code != EPERM)
    return 11;
  gsi_error_clear (&err);
  if (lseek (fd, 0, SEEK_SET) != 0 || gsi_layer_apply_fd (fd, dfd, GSI_APPLY_BEST_EFFORT, &st, &err) < 0)
    return 12;
  if (st.skipped != 2 || st.entries != 4)
    return 13;
  p = sub (dir, "f");
  if (lgetxattr (p, "user.ok", v, sizeof v) != 1 || !exists (dir, "fifo") || exists (dir, "null"))
    return 14;
  free (p);
  close (fd);
  close (dfd);
  return 0;
}

static void
test_apply_best_effort_unprivileged (void **state)
{
  struct archive *a = archive_write_new ();
  struct archive_entry *e = archive_entry_new ();
  static char mem[65536];
  size_t used = 0;
  gsi_buf tar = GSI_BUF_INIT;
  char *dir;
  pid_t pid;
  int status;

  (void) state;
  if (!require_root ())
    skip ();
  archive_write_set_format_pax_restricted (a);
  /* libarchive's default also writes LIBARCHIVE.xattr records, and reading gives each xattr twice */
  archive_write_set_format_option (a, "pax", "xattrheader", "SCHILY");
  archive_write_open_memory (a, mem, sizeof mem, &used);
  archive_entry_copy_pathname (e, "f");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_uid (e, 1234);
  archive_entry_xattr_add_entry (e, "trusted.x", "t", 1);
  archive_entry_xattr_add_entry (e, "user.ok", "u", 1);
  archive_write_header (a, e);
  archive_entry_clear (e);
  archive_entry_copy_pathname (e, "null");
  archive_entry_set_filetype (e, AE_IFCHR);
  archive_entry_set_perm (e, 0666);
  archive_entry_set_rdevmajor (e, 1);
  archive_entry_set_rdevminor (e, 3);
  archive_write_header (a, e);
  archive_entry_clear (e);
  archive_entry_copy_pathname (e, "fifo");
  archive_entry_set_filetype (e, AE_IFIFO);
  archive_entry_set_perm (e, 0600);
  archive_write_header (a, e);
  archive_entry_clear (e);
  archive_entry_copy_pathname (e, "dir");
  archive_entry_set_filetype (e, AE_IFDIR);
  archive_entry_set_perm (e, 0755);
  archive_write_header (a, e);
  archive_write_close (a);
  archive_write_free (a);
  archive_entry_free (e);
  gsi_buf_add (&tar, mem, used);

  dir = make_tmpdir ();
  assert_int_equal (chmod (dir, 0777), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    _exit (unprivileged_child (&tar, dir));
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  if (WEXITSTATUS (status) != 0)
    fail_msg ("unprivileged apply check %d failed", WEXITSTATUS (status));
  {
    struct stat st;
    char *p = sub (dir, "f");
    assert_int_equal (lstat (p, &st), 0);
    assert_int_equal (st.st_uid, 65534); /* no chown when not root */
    free (p);
  }
  gsi_buf_release (&tar);
  rm_rf (dir);
  free (dir);
}

/* ---- malicious tars ---------------------------------------------------------------------------- */

static void
expect_apply_fails (const spec *s, const char *dir, const char *what)
{
  gsi_buf tar = GSI_BUF_INIT;
  gsi_error err = GSI_ERROR_INIT;

  make_tar (s, 0, &tar);
  if (apply_buf (&tar, dir, 0, &err) == 0)
    fail_msg ("applying a tar with %s succeeded", what);
  assert_non_null (err.msg);
  gsi_error_clear (&err);
  gsi_buf_release (&tar);
}

static void
malicious_cases (void)
{
  char *top = make_tmpdir ();
  char *target = sub (top, "t");
  char *outside = sub (top, "outside");
  char *abs_out = xasprintf ("%s/", outside);
  gsi_buf tar = GSI_BUF_INIT;
  struct stat before, after;
  char *s;

  mkdir_p (top, "t", 0755);
  mkdir_p (top, "outside", 0755);
  write_file (outside, "victim", "precious", 0644);
  assert_int_equal (stat ("/etc/passwd", &before), 0);

  {
    const spec s1[] = { { "../escape", 'f', "x", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s2[] = { { "a/../../escape", 'f', "x", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s3[] = { { "h", 'h', "../../etc/passwd", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s4[] = { { ".wh...", 'f', "", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s5[] = { { "x/.wh..", 'f', "", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    expect_apply_fails (s1, target, "`../escape`");
    expect_apply_fails (s2, target, "`a/../../escape`");
    expect_apply_fails (s3, target, "a hardlink to `../../etc/passwd`");
    expect_apply_fails (s4, target, "a whiteout of `..`");
    expect_apply_fails (s5, target, "an empty whiteout name");
    assert_false (exists (top, "escape"));
  }
  {
    /* Absolute names are relative to the target; a hardlink to /etc/passwd means target/etc/passwd,
     * which does not exist.  */
    const spec s1[] = { { "/abs/file", 'f', "abs", 0, 0 }, { "//./abs2", 'f', "abs2", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s2[] = { { "h", 'h', "/etc/passwd", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    make_tar (s1, 0, &tar);
    apply_ok (&tar, target, 0);
    assert_true (exists (target, "abs/file"));
    assert_true (exists (target, "abs2"));
    expect_apply_fails (s2, target, "a hardlink to a missing /etc/passwd");
  }
  {
    /* A symlink to the outside dir, then a file written through it: the symlink resolves inside
     * the target, where that path does not exist.  */
    const spec s1[] = { { "evil", 'l', outside, 0, 0 }, { "evil/victim", 'f', "pwned", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s2[] = { { "evil2", 'l', "../../../../../../outside", 0, 0 }, { "evil2/victim", 'f', "pwned", 0, 0 },
                        { NULL, 0, NULL, 0, 0 } };
    expect_apply_fails (s1, target, "a file under a symlink to an absolute outside path");
    expect_apply_fails (s2, target, "a file under a symlink climbing out with `..`");
    assert_false (exists (outside, "pwned"));
    s = slurp (outside, "victim");
    assert_string_equal (s, "precious");
    free (s);
  }
  {
    /* Through a symlink to `/`, with an etc/ inside the target: it lands in the target.  */
    const spec s1[] = { { "etc/", 'd', NULL, 0755, 0 },   { "root", 'l', "/", 0, 0 },
                        { "root/etc/passwd", 'f', "inside", 0, 0 }, { "root/etc/hl", 'h', "/root/etc/passwd", 0, 0 },
                        { "sub/", 'd', NULL, 0755, 0 },  { "sub/abs", 'l', "/etc", 0, 0 },
                        { "sub/abs/y", 'f', "y", 0, 0 }, { "sub/up", 'l', "../../../../etc", 0, 0 },
                        { "sub/up/z", 'f', "z", 0, 0 },  { NULL, 0, NULL, 0, 0 } };
    make_tar (s1, 0, &tar);
    apply_ok (&tar, target, 0);
    s = slurp (target, "etc/passwd");
    assert_string_equal (s, "inside");
    free (s);
    assert_true (exists (target, "etc/hl"));
    assert_true (exists (target, "etc/y")); /* an absolute target restarts at the root */
    assert_true (exists (target, "etc/z")); /* `..` stops at the root */
  }
  {
    /* Whiteouts and opaque markers through a symlink to the outside delete nothing there.  */
    const spec s1[] = { { "evil3", 'l', outside, 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s2[] = { { "evil3/.wh.victim", 'f', "", 0, 0 }, { "evil3/.wh..wh..opq", 'f', "", 0, 0 },
                        { NULL, 0, NULL, 0, 0 } };
    make_tar (s1, 0, &tar);
    apply_ok (&tar, target, 0);
    make_tar (s2, 0, &tar);
    apply_ok (&tar, target, 0);
    assert_true (exists (outside, "victim"));
  }
  {
    /* A file over a symlink replaces the symlink and never writes through it.  */
    char *victim = sub (outside, "victim");
    const spec s1[] = { { "f", 'l', victim, 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    const spec s2[] = { { "f", 'f', "replaced", 0, 0 }, { NULL, 0, NULL, 0, 0 } };
    struct stat st;
    char *f = sub (target, "f");
    make_tar (s1, 0, &tar);
    apply_ok (&tar, target, 0);
    make_tar (s2, 0, &tar);
    apply_ok (&tar, target, 0);
    assert_int_equal (lstat (f, &st), 0);
    assert_true (S_ISREG (st.st_mode));
    s = slurp (outside, "victim");
    assert_string_equal (s, "precious");
    free (s);
    free (f);
    free (victim);
  }
  assert_int_equal (stat ("/etc/passwd", &after), 0);
  assert_int_equal (before.st_nlink, after.st_nlink);
  assert_int_equal (before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  assert_false (exists (outside, "pwned"));

  gsi_buf_release (&tar);
  rm_rf (top);
  free (top);
  free (target);
  free (outside);
  free (abs_out);
}

static void
test_apply_malicious (void **state)
{
  (void) state;
  if (!require_root ())
    skip ();
  malicious_cases ();
}

static void
test_apply_malicious_without_openat2 (void **state)
{
  (void) state;
  if (!require_root ())
    skip ();
  gsi_layer_set_openat2 (0);
  malicious_cases ();
  gsi_layer_set_openat2 (1);
}

/* ---- through the store ------------------------------------------------------------------------- */

/* The commit path the build engine uses: layer -> blob writer (hash, compress, store) -> blob read
 * back and applied.  The diff_id is the sha256 of exactly the tar create writes.  */
static void
test_create_blob_and_apply (void **state)
{
  static const gsi_compression comps[] = { GSI_COMP_NONE, GSI_COMP_GZIP, GSI_COMP_ZSTD };
  gsi_error err = GSI_ERROR_INIT;
  gsi_store *store = NULL;
  gsi_buf tar = GSI_BUF_INIT;
  char *top, *root, *src;
  char want_diff_id[GSI_DIGEST_BUF];

  (void) state;
  if (!require_root ())
    skip ();
  top = make_tmpdir ();
  root = sub (top, "store");
  src = make_rich_tree ();
  if (gsi_store_open (root, &store, &err) < 0)
    fail_msg ("store: %s", err.msg);
  create_mem (src, GSI_LAYER_PLAIN_TREE, SDE, NULL, &tar, NULL);
  gsi_digest_buf (tar.buf, tar.len, want_diff_id);

  for (size_t i = 0; i < sizeof comps / sizeof *comps; i++)
    {
      gsi_layer_create_opts o = GSI_LAYER_CREATE_OPTS_INIT;
      gsi_blob_info info;
      gsi_layer_stats st;
      char *dst = make_tmpdir ();
      int fd, dfd;

      o.flags = GSI_LAYER_PLAIN_TREE;
      o.source_date_epoch = SDE;
      if (gsi_layer_create_blob (store, src, &o, comps[i], &info, &st, &err) < 0)
        fail_msg ("create blob: %s", err.msg);
      assert_string_equal (info.diff_id, want_diff_id);
      assert_int_equal (info.raw_size, tar.len);
      assert_int_equal (st.tar_bytes, tar.len);
      if (comps[i] == GSI_COMP_NONE)
        assert_string_equal (info.digest, want_diff_id);
      else
        assert_true (info.size < info.raw_size);
      fd = gsi_store_open_blob (store, info.digest, (int64_t) info.size, NULL, &err);
      if (fd < 0)
        fail_msg ("open blob: %s", err.msg);
      dfd = open (dst, O_RDONLY | O_DIRECTORY);
      if (gsi_layer_apply_fd (fd, dfd, 0, NULL, &err) < 0)
        fail_msg ("apply blob: %s", err.msg);
      close (fd);
      close (dfd);
      /* mtimes were clamped: compare with a copy of the source clamped the same way */
      {
        char *d2 = make_tmpdir ();
        apply_ok (&tar, d2, 0);
        assert_trees_equal (d2, dst);
        rm_rf (d2);
        free (d2);
      }
      rm_rf (dst);
      free (dst);
    }

  /* A missing directory stores nothing.  */
  assert_int_equal (gsi_layer_create_blob (store, "/nonexistent-gsi-dir", NULL, GSI_COMP_GZIP, NULL, NULL, &err), -1);
  assert_int_equal (err.code, ENOENT);
  gsi_error_clear (&err);

  gsi_store_close (store);
  gsi_buf_release (&tar);
  rm_rf (src);
  rm_rf (top);
  free (src);
  free (root);
  free (top);
}

/* ---- the real kernel --------------------------------------------------------------------------- */

static void
test_overlay_kernel_upper (void **state)
{
  static const char *const must_have[] = {
    "etc/", "etc/.wh.old", "etc/passwd", "d/", "d/.wh..wh..opq", "d/new", "rep", "h1", "h2", "e/", "e/f/", "e/f/g",
    NULL,
  };
  char *top, *lower, *upper, *work, *merged, *flat, *l1, *l2, *stack;
  char *opts, *want;
  gsi_buf base = GSI_BUF_INIT, diff = GSI_BUF_INIT;
  gsi_layer_stats st;
  tlist l = { 0 };
  char *m;

  (void) state;
  if (!require_root ())
    skip ();
  top = make_tmpdir ();
  lower = sub (top, "lower");
  upper = sub (top, "upper");
  work = sub (top, "work");
  merged = sub (top, "merged");
  flat = sub (top, "flat");
  l1 = sub (top, "l1");
  l2 = sub (top, "l2");
  stack = sub (top, "stack");
  for (const char *const *d = (const char *const[]) { "lower", "upper", "work", "merged", "flat", "l1", "l2", "stack", NULL };
       *d; d++)
    mkdir_p (top, *d, 0755);

  mkdir_p (lower, "etc", 0755);
  write_file (lower, "etc/passwd", "root:x:0:0\n", 0644);
  write_file (lower, "etc/old", "to delete", 0644);
  mkdir_p (lower, "d", 0755);
  write_file (lower, "d/a", "a", 0644);
  write_file (lower, "d/b", "b", 0644);
  mkdir_p (lower, "rep", 0755);
  write_file (lower, "rep/x", "x", 0644);
  mkdir_p (lower, "keep", 0755);
  write_file (lower, "keep/k", "k", 0644);
  write_file (lower, "lh1", "lower link", 0644);
  make_link (lower, "lh1", "lh2");
  create_mem (lower, GSI_LAYER_PLAIN_TREE, -1, NULL, &base, NULL);

  opts = xasprintf ("lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off,index=off", lower, upper, work);
  if (!mount_or_skip (merged, opts))
    goto out;
  /* Changes made through the kernel, the way a RUN step makes them.  */
  m = sub (merged, "etc/old");
  assert_int_equal (unlink (m), 0);
  free (m);
  m = sub (merged, "d/a");
  assert_int_equal (unlink (m), 0);
  free (m);
  m = sub (merged, "d/b");
  assert_int_equal (unlink (m), 0);
  free (m);
  m = sub (merged, "d");
  assert_int_equal (rmdir (m), 0);
  assert_int_equal (mkdir (m, 0755), 0);
  free (m);
  write_file (merged, "d/new", "new", 0644);
  m = sub (merged, "rep/x");
  assert_int_equal (unlink (m), 0);
  free (m);
  m = sub (merged, "rep");
  assert_int_equal (rmdir (m), 0);
  free (m);
  make_symlink (merged, "rep", "keep");
  write_file (merged, "etc/passwd", "root:x:0:0\nuser:x:1000:1000\n", 0644);
  write_file (merged, "h1", "pair", 0644);
  make_link (merged, "h1", "h2");
  set_xattr (merged, "h1", "user.note", "n", 1);
  mkdir_p (merged, "e", 0755);
  mkdir_p (merged, "e/f", 0755);
  write_file (merged, "e/f/g", "g", 0600);
  set_owner (merged, "e/f/g", 123, 456);
  want = dump_tree (merged);
  assert_int_equal (umount2 (merged, 0), 0);

  /* What the kernel left in the upper dir, as a layer.  */
  create_mem (upper, 0, -1, NULL, &diff, &st);
  read_tar (diff.buf, diff.len, &l);
  for (const char *const *p = must_have; *p; p++)
    (void) tfind (&l, *p);
  assert_int_equal (tfind (&l, "etc/.wh.old")->type, AE_IFREG);
  assert_null (tfind (&l, "etc/.wh.old")->hardlink); /* shared whiteout inodes are not hardlinks */
  assert_int_equal (tfind (&l, "rep")->type, AE_IFLNK);
  assert_string_equal (tfind (&l, "h2")->hardlink, "h1");
  for (size_t i = 0; i < l.n; i++)
    {
      assert_null (strstr (l.v[i].path, "keep"));
      assert_null (strstr (l.v[i].path, "work"));
      if (strcmp (l.v[i].path, "d/") == 0)
        assert_string_equal (l.v[i + 1].path, "d/.wh..wh..opq");
    }
  assert_null (memmem (diff.buf, diff.len, "trusted.overlay", 15));
  assert_int_equal (st.whiteouts, 2);

  /* Flattened: base then diff equals the merged view.  */
  apply_ok (&base, flat, 0);
  apply_ok (&diff, flat, 0);
  {
    char *got = dump_tree (flat);
    assert_dumps_equal ("flattened layers vs the overlay view", got, want);
    free (got);
  }
  /* As overlay lowers: the kernel reads our markers the same way.  */
  apply_ok (&base, l1, GSI_APPLY_OVERLAY_WHITEOUTS);
  apply_ok (&diff, l2, GSI_APPLY_OVERLAY_WHITEOUTS);
  free (opts);
  opts = xasprintf ("lowerdir=%s:%s", l2, l1);
  if (mount_or_skip (stack, opts))
    {
      char *got = dump_tree (stack);
      umount2 (stack, MNT_DETACH);
      assert_dumps_equal ("stacked lowers vs the overlay view", got, want);
      free (got);
    }
  free (want);
out:
  tlist_release (&l);
  gsi_buf_release (&base);
  gsi_buf_release (&diff);
  rm_rf (top);
  free (opts);
  free (top);
  free (lower);
  free (upper);
  free (work);
  free (merged);
  free (flat);
  free (l1);
  free (l2);
  free (stack);
}

/* ---- throughput (GSI_LAYER_BENCH=1) ----------------------------------------------------------- */

struct count_sink
{
  uint64_t bytes;
  uint64_t calls;
};

static int
count_write (void *ctx, const void *buf, size_t len, gsi_error *err)
{
  struct count_sink *c = ctx;
  (void) buf;
  (void) err;
  c->bytes += len;
  c->calls++;
  return 0;
}

static int
fd_write (void *ctx, const void *buf, size_t len, gsi_error *err)
{
  int fd = *(int *) ctx;
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0)
        return gsi_error_set (err, errno, "write the tar");
      buf = (const char *) buf + n;
      len -= (size_t) n;
    }
  return 0;
}

static double
cpu_s (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec
         + (double) ru.ru_stime.tv_usec / 1e6;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* 20,000 files, 1 GiB, in 200 directories; text-like content that compresses about 3:1.  */
static void
make_bench_tree (const char *dir)
{
  static const char *const words[] = { "layer ", "overlay ", "image ", "container ", "build ", "gsi ", "tar ",
                                        "digest ", "sha256 ", "zstd ", "gzip ", "json\n" };
  const size_t nfiles = 20000, total = 1u << 30;
  char *buf = xmalloc (1 << 22);
  uint64_t x = 88172645463325252ull;

  for (size_t i = 0; i < nfiles; i++)
    {
      char rel[64];
      size_t size = total / nfiles, n = 0;
      int fd;

      /* sizes from 1 KiB to ~4 MiB, averaging total / nfiles */
      if (i % 100 == 0)
        size = (size_t) 1 << 22;
      else
        size = (total - (nfiles / 100) * ((size_t) 1 << 22)) / (nfiles - nfiles / 100);
      if (i % 200 == 0)
        {
          snprintf (rel, sizeof rel, "%s/d%03zu", dir, i / 100);
          mkdir (rel, 0755);
        }
      snprintf (rel, sizeof rel, "%s/d%03zu/f%05zu", dir, i / 100 - (i / 100) % 2, i);
      while (n < size)
        {
          const char *w;
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          w = (x & 7) == 0 ? "\x8f\x13\xa2\x5e\xc1\x07" : words[x % 12];
          for (; *w && n < size; w++)
            buf[n++] = *w;
        }
      fd = open (rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      assert_true (fd >= 0);
      assert_int_equal (write (fd, buf, size), (ssize_t) size);
      close (fd);
    }
  free (buf);
}

static void
bench_report (const char *what, double t0, double c0, const gsi_layer_stats *st, const char *extra)
{
  double wall = now_s () - t0, cpu = cpu_s () - c0;
  print_message ("bench: %-22s %6.3f s wall %6.3f s cpu  %5.0f MiB/s  %s\n", what, wall, cpu,
                 (double) st->tar_bytes / 1048576.0 / wall, extra ? extra : "");
}

/* GSI_LAYER_BENCH_DIR keeps the generated tree between runs.  */
static void
test_bench_commit (void **state)
{
  const char *on = getenv ("GSI_LAYER_BENCH");
  const char *keep = getenv ("GSI_LAYER_BENCH_DIR");
  char *dir, *dst, *tarpath, *root;
  struct count_sink cs = { 0, 0 };
  gsi_layer_stats st, ast;
  gsi_error err = GSI_ERROR_INIT;
  gsi_store *store = NULL;
  double t0, c0;
  char extra[128];
  int fd;

  (void) state;
  if (!on || strcmp (on, "1") != 0)
    skip ();
  dir = keep && *keep ? xstrdup (keep) : make_tmpdir ();
  if (!exists (dir, "d000"))
    {
      mkdir (dir, 0755);
      make_bench_tree (dir);
    }
  for (int round = 0; round < 3; round++)
    {
      t0 = now_s (), c0 = cpu_s ();
      cs.calls = 0;
      assert_int_equal (gsi_layer_create (dir, NULL, count_write, &cs, &st, &err), 0);
      snprintf (extra, sizeof extra, "%llu entries, %llu sink calls", (unsigned long long) st.entries,
                (unsigned long long) cs.calls);
      bench_report ("create -> null sink", t0, c0, &st, extra);
    }

  /* The real commit: the store's blob writer hashes, compresses and writes (and fsyncs).  */
  root = xasprintf ("%s.store", dir);
  if (gsi_store_open (root, &store, &err) < 0)
    fail_msg ("store: %s", err.msg);
  for (int i = 0; i < 3; i++)
    {
      static const gsi_compression comps[] = { GSI_COMP_NONE, GSI_COMP_GZIP, GSI_COMP_ZSTD };
      static const char *const names[] = { "commit uncompressed", "commit gzip", "commit zstd" };
      gsi_blob_info info;

      t0 = now_s (), c0 = cpu_s ();
      if (gsi_layer_create_blob (store, dir, NULL, comps[i], &info, &st, &err) < 0)
        fail_msg ("create blob: %s", err.msg);
      snprintf (extra, sizeof extra, "%.1f MiB stored%s%s", (double) info.size / 1048576.0,
                comps[i] == GSI_COMP_GZIP ? ", " : "", comps[i] == GSI_COMP_GZIP ? gsi_blob_gzip_backend_name () : "");
      bench_report (names[i], t0, c0, &st, extra);
    }
  gsi_store_close (store);
  rm_rf (root);
  free (root);

  /* A tar file, then applied onto an empty directory.  */
  tarpath = xasprintf ("%s.tar", dir);
  fd = open (tarpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  t0 = now_s (), c0 = cpu_s ();
  assert_int_equal (gsi_layer_create (dir, NULL, fd_write, &fd, &st, &err), 0);
  bench_report ("create -> file", t0, c0, &st, NULL);
  close (fd);
  dst = make_tmpdir ();
  t0 = now_s (), c0 = cpu_s ();
  if (gsi_layer_apply (tarpath, dst, 0, &ast, &err) < 0)
    fail_msg ("apply: %s", err.msg);
  bench_report ("apply file -> dir", t0, c0, &ast, NULL);
  unlink (tarpath);
  free (tarpath);
  rm_rf (dst);
  free (dst);
  if (!(keep && *keep))
    rm_rf (dir);
  free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_create_from_upper),
    cmocka_unit_test (test_create_deterministic),
    cmocka_unit_test (test_create_plain_tree_and_exclude),
    cmocka_unit_test (test_create_rejects_redirect),
    cmocka_unit_test (test_create_streams_and_sink_errors),
    cmocka_unit_test (test_apply_roundtrip),
    cmocka_unit_test (test_roundtrip_deeper_than_path_max),
    cmocka_unit_test (test_apply_whiteout_cases),
    cmocka_unit_test (test_apply_opaque_after_children),
    cmocka_unit_test (test_apply_overlay_markers),
    cmocka_unit_test (test_apply_drops_forged_overlay_xattrs),
    cmocka_unit_test (test_apply_best_effort_unprivileged),
    cmocka_unit_test (test_apply_malicious),
    cmocka_unit_test (test_apply_malicious_without_openat2),
    cmocka_unit_test (test_create_blob_and_apply),
    cmocka_unit_test (test_overlay_kernel_upper),
    cmocka_unit_test (test_bench_commit),
  };

  /* Overlay mounts go in a private mount namespace, gone when the test exits.  */
  if (geteuid () == 0 && unshare (CLONE_NEWNS) == 0)
    (void) mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
