/* COPY path rules, ownership, links and the cache hash, against real directories. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/copy.h"
#include "build/fsutil.h"
#include "util/xalloc.h"

typedef struct fixture
{
  char ctx[64];
  char dst[64];
  int ctx_fd;
  int dst_fd;
} fixture;

static void
put (const char *dir, const char *rel, const char *content)
{
  char *p = xasprintf ("%s/%s", dir, rel);
  char *cmd = xasprintf ("mkdir -p \"$(dirname '%s')\"", p);
  assert_int_equal (system (cmd), 0);
  FILE *f = fopen (p, "w");
  assert_non_null (f);
  fputs (content, f);
  fclose (f);
  free (cmd);
  free (p);
}

static char *
get (int root, const char *rel)
{
  gsi_error err = GSI_ERROR_INIT;
  int fd = gsi_open_in_root (root, rel, O_RDONLY, 0, &err);
  if (fd < 0)
    {
      gsi_error_clear (&err);
      return NULL;
    }
  char buf[4096];
  ssize_t n = read (fd, buf, sizeof buf - 1);
  close (fd);
  assert_true (n >= 0);
  buf[n] = '\0';
  return xstrdup (buf);
}

static int
setup (void **state)
{
  fixture *f = xcalloc (1, sizeof *f);
  snprintf (f->ctx, sizeof f->ctx, "%s", "/tmp/gsi-copy-ctx-XXXXXX");
  snprintf (f->dst, sizeof f->dst, "%s", "/tmp/gsi-copy-dst-XXXXXX");
  assert_non_null (mkdtemp (f->ctx));
  assert_non_null (mkdtemp (f->dst));
  f->ctx_fd = open (f->ctx, O_RDONLY | O_DIRECTORY);
  f->dst_fd = open (f->dst, O_RDONLY | O_DIRECTORY);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture *f = *state;
  char *cmd = xasprintf ("rm -rf '%s' '%s'", f->ctx, f->dst);
  close (f->ctx_fd);
  close (f->dst_fd);
  if (system (cmd) != 0)
    return -1;
  free (cmd);
  free (f);
  return 0;
}

static int
do_copy (fixture *f, const char **src, size_t n, const char *dest, gsi_copy_spec *extra, gsi_error *err)
{
  gsi_copy_spec s = { 0 };
  if (extra)
    s = *extra;
  s.src_root_fd = f->ctx_fd;
  s.src_label = "build context";
  s.sources = src;
  s.nsources = n;
  s.dest = dest;
  s.dest_is_dir = dest[strlen (dest) - 1] == '/';
  return gsi_copy_apply (&s, f->dst_fd, err);
}

static void
test_file_rules (void **state)
{
  fixture *f = *state;
  gsi_error err = GSI_ERROR_INIT;
  put (f->ctx, "a.txt", "A");
  put (f->ctx, "dir/b.txt", "B");
  put (f->ctx, "dir/sub/c.txt", "C");

  const char *s1[] = { "a.txt" };
  assert_int_equal (do_copy (f, s1, 1, "/x/renamed", NULL, &err), 0);
  char *v = get (f->dst_fd, "/x/renamed");
  assert_string_equal (v, "A");
  free (v);
  assert_int_equal (do_copy (f, s1, 1, "/y/", NULL, &err), 0);
  v = get (f->dst_fd, "/y/a.txt");
  assert_string_equal (v, "A");
  free (v);
  /* A directory source copies its contents, not itself. */
  const char *s2[] = { "dir" };
  assert_int_equal (do_copy (f, s2, 1, "/z", NULL, &err), 0);
  v = get (f->dst_fd, "/z/sub/c.txt");
  assert_string_equal (v, "C");
  free (v);
  assert_null (get (f->dst_fd, "/z/dir/b.txt"));
  /* Wildcards, and more than one source wants a directory destination. */
  const char *s3[] = { "dir/*.txt", "a.txt" };
  assert_int_equal (do_copy (f, s3, 2, "/w/", NULL, &err), 0);
  v = get (f->dst_fd, "/w/b.txt");
  assert_string_equal (v, "B");
  free (v);
  assert_int_equal (do_copy (f, s3, 2, "/nodir", NULL, &err), -1);
  assert_non_null (strstr (err.msg, "must be a directory"));
  gsi_error_clear (&err);
  const char *s4[] = { "missing.txt" };
  assert_int_equal (do_copy (f, s4, 1, "/m", NULL, &err), -1);
  assert_non_null (strstr (err.msg, "missing.txt"));
  gsi_error_clear (&err);
  /* --parents keeps the source path. */
  gsi_copy_spec p = { .parents = true };
  const char *s5[] = { "dir/sub/c.txt" };
  assert_int_equal (do_copy (f, s5, 1, "/p/", &p, &err), 0);
  v = get (f->dst_fd, "/p/dir/sub/c.txt");
  assert_string_equal (v, "C");
  free (v);
}

static void
test_symlinks (void **state)
{
  fixture *f = *state;
  gsi_error err = GSI_ERROR_INIT;
  struct stat st;
  /* The image has /bin -> usr/bin: copying into /bin keeps the link and writes into usr/bin. */
  assert_int_equal (mkdirat (f->dst_fd, "usr", 0755), 0);
  assert_int_equal (mkdirat (f->dst_fd, "usr/bin", 0755), 0);
  assert_int_equal (symlinkat ("usr/bin", f->dst_fd, "bin"), 0);
  put (f->ctx, "tool", "T");
  const char *s1[] = { "tool" };
  assert_int_equal (do_copy (f, s1, 1, "/bin/", NULL, &err), 0);
  assert_int_equal (fstatat (f->dst_fd, "bin", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISLNK (st.st_mode));
  assert_int_equal (fstatat (f->dst_fd, "usr/bin/tool", &st, AT_SYMLINK_NOFOLLOW), 0);
  /* A directory holding symlinks copies them as links. */
  put (f->ctx, "links/real", "R");
  assert_int_equal (symlinkat ("real", f->ctx_fd, "links/l1"), 0);
  assert_int_equal (symlinkat ("/etc/passwd", f->ctx_fd, "links/abs"), 0);
  const char *s2[] = { "links" };
  assert_int_equal (do_copy (f, s2, 1, "/l", NULL, &err), 0);
  char buf[64];
  ssize_t n = readlinkat (f->dst_fd, "l/l1", buf, sizeof buf);
  assert_int_equal (n, 4);
  assert_memory_equal (buf, "real", 4);
  n = readlinkat (f->dst_fd, "l/abs", buf, sizeof buf);
  assert_int_equal (n, 11);
  /* The source path itself is followed: COPY of a link copies what it points to. */
  const char *s3[] = { "links/l1" };
  assert_int_equal (do_copy (f, s3, 1, "/followed", NULL, &err), 0);
  assert_int_equal (fstatat (f->dst_fd, "followed", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISREG (st.st_mode));
}

static void
test_owner_mode_links (void **state)
{
  fixture *f = *state;
  gsi_error err = GSI_ERROR_INIT;
  struct stat st;
  put (f->ctx, "h1", "H");
  char *a = xasprintf ("%s/h1", f->ctx);
  char *b = xasprintf ("%s/h2", f->ctx);
  assert_int_equal (link (a, b), 0);
  free (a);
  free (b);
  gsi_copy_spec o = { .chown = true, .uid = 42424, .gid = 42425, .chmod = true, .mode = 0640 };
  const char *s1[] = { "h1", "h2" };
  assert_int_equal (do_copy (f, s1, 2, "/new/deep/dir/", &o, &err), 0);
  /* Parents created by the copy belong to the --chown owner. */
  assert_int_equal (fstatat (f->dst_fd, "new/deep", &st, 0), 0);
  assert_int_equal (st.st_uid, 42424);
  assert_int_equal (st.st_gid, 42425);
  assert_int_equal (fstatat (f->dst_fd, "new/deep/dir/h1", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0640);
  assert_int_equal (st.st_uid, 42424);
  struct stat st2;
  assert_int_equal (fstatat (f->dst_fd, "new/deep/dir/h2", &st2, 0), 0);
  assert_int_equal (st.st_ino, st2.st_ino);
  /* Without --chown, context files belong to root. */
  const char *s2[] = { "h1" };
  assert_int_equal (do_copy (f, s2, 1, "/r", NULL, &err), 0);
  assert_int_equal (fstatat (f->dst_fd, "r", &st, 0), 0);
  assert_int_equal (st.st_uid, 0);
}

static void
test_hash (void **state)
{
  fixture *f = *state;
  gsi_error err = GSI_ERROR_INIT;
  char h1[65], h2[65], h3[65];
  const char *src[] = { "d" };
  gsi_copy_spec s = { .src_root_fd = f->ctx_fd, .src_label = "ctx", .sources = src, .nsources = 1, .dest = "/" };
  put (f->ctx, "d/f", "same-size-1");
  assert_int_equal (gsi_copy_hash (&s, h1, &err), 0);
  /* A touch keeps the hash. */
  char *p = xasprintf ("%s/d/f", f->ctx);
  struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
  assert_int_equal (utimensat (AT_FDCWD, p, ts, 0), 0);
  assert_int_equal (gsi_copy_hash (&s, h2, &err), 0);
  assert_string_equal (h1, h2);
  /* An edit that keeps size and mtime changes it. */
  put (f->ctx, "d/f", "same-size-2");
  assert_int_equal (utimensat (AT_FDCWD, p, ts, 0), 0);
  assert_int_equal (gsi_copy_hash (&s, h3, &err), 0);
  assert_string_not_equal (h1, h3);
  free (p);
}

typedef struct chmod_case
{
  mode_t from;
  mode_t want;
  const char *text;
} chmod_case;

/* BSD setmode(3) semantics as BuildKit applies them; who-less clauses see a umask of 022.  */
static void
test_chmod_symbolic (void **state)
{
  static const chmod_case cases[] = {
    { 0000, 0400, "u+r" },
    { 0000, 0100, "u+x" },
    { 0000, 0000, "u+X" },
    { 0001, 0101, "u+X" },
    { S_IFDIR | 0000, 0100, "u+X" },
    { 0000, 04000, "u+s" },
    { 0100, 0110, "g+X" },
    { 0000, 02000, "g+s" },
    { 0000, 0000, "o+s" },
    { 0777, 0377, "u-r" },
    { 0777, 0777, "u-X" },
    { 04777, 0777, "u-s" },
    { 0000, 0600, "u=rw" },
    { 0777, 0677, "u=rw" },
    { 0777, 0077, "u=" },
    { 0042, 0442, "u=g" },
    { 0742, 0442, "u=g" },
    { 0722, 0022, "u=g-w" },
    { 0772, 0572, "u=g-w" },
    { 0021, 0121, "u+o" },
    { 0021, 0321, "u+go" },
    { 0000, 0764, "a=r,ug=rw,u+x" },
    { 0777, 0764, "a=r,ug=rw,u+x" },
    { 0000, 01624, "o+r,g+w,a+t,g-s,u+og" },
    { 02100, 01724, "o+r,g+w,a+t,g-s,u+og" },
    { S_IFDIR | 06000, 05624, "o+r,g+w,a+t,g-s,u+og" },
    { 0777, 0755, "go-w" },
    { 0000, 0755, "u=rwx,go=rx" },
    { 0000, 0755, "u=rwx,go=u-w" },
    { 0777, 0700, "go=" },
    { 0770, 0755, "go=u-w" },
    { 0670, 0644, "go=u-w" },
    { 0370, 0311, "go=u-w" },
    /* Without u/g/o/a the umask (022) limits the bits.  */
    { 0000, 0200, "+w" },
    { 0000, 0111, "+x" },
    { 0777, 0577, "-w" },
    { 0777, 0000, "=" },
    { 0777, 0644, "=rw" },
    /* X: only with +, from the entry's own mode before the change.  */
    { S_IFDIR | 0700, 0755, "a+rX" },
    { 0600, 0644, "a+rX" },
    { 0744, 0755, "a+rX" },
    { 0666, 0644, "=rw,+X" },
    { 0700, 0755, "=rw,+X" },
    { 0766, 0755, "=rw,+X" },
    { S_IFDIR | 0700, 0444, "a=rX" },
    { S_IFDIR | 0700, 0555, "a=r,a+X" },
  };
  gsi_error err = GSI_ERROR_INIT;
  gsi_chmod_prog p;

  (void) state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      if (gsi_chmod_parse (cases[i].text, &p, &err) < 0)
        fail_msg ("parse `%s`: %s", cases[i].text, err.msg);
      mode_t got = gsi_chmod_apply (&p, cases[i].from);
      if (got != cases[i].want)
        fail_msg ("`%s` on %04o: got %04o, want %04o", cases[i].text, (unsigned) cases[i].from, (unsigned) got,
                  (unsigned) cases[i].want);
    }
}

static void
test_chmod_symbolic_errors (void **state)
{
  static const char *const bad[] = { "", ",", "q+r", "u", "go", "u+r,", "u+r,,g+w", "u+z", "u+r g+w", "+r-z" };
  gsi_chmod_prog p;

  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      gsi_error err = GSI_ERROR_INIT;
      if (gsi_chmod_parse (bad[i], &p, &err) == 0)
        fail_msg ("`%s` parsed", bad[i]);
      assert_non_null (strstr (err.msg, "invalid chmod parameter"));
      gsi_error_clear (&err);
    }
}

/* Each copied entry gets the change relative to its own mode; directories count for X.  */
static void
test_chmod_symbolic_copy (void **state)
{
  fixture *f = *state;
  gsi_error err = GSI_ERROR_INIT;
  gsi_chmod_prog p;
  struct stat st;
  char *x = NULL;

  put (f->ctx, "t/plain", "p");
  put (f->ctx, "t/tool", "#!/bin/sh\n");
  x = xasprintf ("%s/t/tool", f->ctx);
  assert_int_equal (chmod (x, 0700), 0);
  free (x);
  x = xasprintf ("%s/t/plain", f->ctx);
  assert_int_equal (chmod (x, 0600), 0);
  free (x);
  x = xasprintf ("%s/t", f->ctx);
  assert_int_equal (chmod (x, 0700), 0);
  free (x);
  assert_int_equal (gsi_chmod_parse ("go+rX", &p, &err), 0);
  gsi_copy_spec o = { .chmod_prog = &p };
  const char *src[] = { "t" };
  assert_int_equal (do_copy (f, src, 1, "/out/", &o, &err), 0);
  assert_int_equal (fstatat (f->dst_fd, "out/plain", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0644);
  assert_int_equal (fstatat (f->dst_fd, "out/tool", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0755);
  assert_int_equal (fstatat (f->dst_fd, "out", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0755);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_file_rules, setup, teardown),
    cmocka_unit_test_setup_teardown (test_symlinks, setup, teardown),
    cmocka_unit_test_setup_teardown (test_owner_mode_links, setup, teardown),
    cmocka_unit_test_setup_teardown (test_hash, setup, teardown),
    cmocka_unit_test (test_chmod_symbolic),
    cmocka_unit_test (test_chmod_symbolic_errors),
    cmocka_unit_test_setup_teardown (test_chmod_symbolic_copy, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
