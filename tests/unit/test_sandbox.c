/* The RUN sandbox, on a tiny rootfs made from the host's dash and coreutils, and USER resolution.
 *
 * Needs root with mount/PID namespaces and overlayfs (CI runs as root).  Where they are missing the
 * sandbox tests fail and say why; with GSI_ALLOW_NO_NAMESPACES=1 they are skipped instead.  */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/passwd.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"
#include "util/xalloc.h"

static char g_base[64];      /* temp dir holding everything */
static char g_rootfs[128];   /* the image's one layer */
static char g_hostside[128]; /* a host dir a symlink in the image points at */
static int g_run_seq;
static bool g_ns_ok;
static char g_ns_why[512];

/* ---------------------------------------------------------------------------------------- */
/* Building the rootfs                                                                      */

static void
mkdir_p (const char *path, mode_t mode)
{
  char tmp[4096];
  snprintf (tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        mkdir (tmp, 0755);
        *p = '/';
      }
  if (mkdir (tmp, mode) < 0 && errno != EEXIST)
    fail_msg ("mkdir %s: %s", tmp, strerror (errno));
}

static void
copy_file (const char *src, const char *dst, mode_t mode)
{
  size_t len;
  char *data = test_read_file (src, &len);
  char dir[4096];
  FILE *f;

  if (!data)
    fail_msg ("read %s: %s", src, strerror (errno));
  snprintf (dir, sizeof dir, "%s", dst);
  *strrchr (dir, '/') = '\0';
  mkdir_p (dir, 0755);
  f = fopen (dst, "wb");
  assert_non_null (f);
  assert_int_equal (fwrite (data, 1, len, f), len);
  fclose (f);
  chmod (dst, mode);
  free (data);
}

static void
write_file (const char *path, const char *text, mode_t mode)
{
  FILE *f = fopen (path, "w");
  if (!f)
    fail_msg ("create %s: %s", path, strerror (errno));
  fputs (text, f);
  fclose (f);
  chmod (path, mode);
}

/* Copies a host binary to /bin/<name> of the rootfs, and every library ldd names to its path.  */
static void
add_binary (const char *host, const char *name)
{
  char dst[4096], cmd[4200], line[4096];
  FILE *p;

  snprintf (dst, sizeof dst, "%s/bin/%s", g_rootfs, name);
  copy_file (host, dst, 0755);
  snprintf (cmd, sizeof cmd, "ldd '%s' 2>/dev/null", host);
  p = popen (cmd, "r");
  assert_non_null (p);
  while (fgets (line, sizeof line, p))
    {
      char *arrow = strstr (line, "=> ");
      char *path = arrow ? arrow + 3 : strchr (line, '/');
      char *end;
      if (!path || *path != '/')
        continue;
      end = strstr (path, " (");
      if (end)
        *end = '\0';
      snprintf (dst, sizeof dst, "%s%s", g_rootfs, path);
      if (access (dst, F_OK) != 0)
        copy_file (path, dst, 0755);
    }
  pclose (p);
}

static void
build_rootfs (void)
{
  static const char *const tools[] = {
    "id", "cat", "ls", "mkdir", "touch", "rm", "sleep", "stat", "env", "mknod",
  };
  char path[4096];

  snprintf (g_rootfs, sizeof g_rootfs, "%s/rootfs", g_base);
  snprintf (g_hostside, sizeof g_hostside, "%s/hostside", g_base);
  mkdir_p (g_rootfs, 0755);
  mkdir_p (g_hostside, 0755);
  add_binary ("/bin/sh", "sh");
  if (access ("/bin/busybox", X_OK) == 0)
    add_binary ("/bin/busybox", "busybox");
  for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
    {
      char host[256];
      snprintf (host, sizeof host, "/usr/bin/%s", tools[i]);
      if (access (host, X_OK) != 0)
        snprintf (host, sizeof host, "/bin/%s", tools[i]);
      add_binary (host, tools[i]);
    }
  snprintf (path, sizeof path, "%s/etc", g_rootfs);
  mkdir_p (path, 0755);
  snprintf (path, sizeof path, "%s/etc/passwd", g_rootfs);
  write_file (path, "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n", 0644);
  snprintf (path, sizeof path, "%s/etc/group", g_rootfs);
  write_file (path, "root:x:0:\nstaff:x:50:alice\nalice:x:1000:\n", 0644);
  snprintf (path, sizeof path, "%s/etc/todelete", g_rootfs);
  write_file (path, "bye\n", 0644);
  /* Unusual owner and mode, so a copy-up that took the stub's defaults would show.  */
  snprintf (path, sizeof path, "%s/etc", g_rootfs);
  assert_int_equal (chown (path, 0, 50), 0);
  assert_int_equal (chmod (path, 0751), 0);
  snprintf (path, sizeof path, "%s/rootonly", g_rootfs);
  mkdir_p (path, 0755);
  /* An absolute symlink naming a real host dir: it must resolve inside the image.  */
  snprintf (path, sizeof path, "%s/escape", g_rootfs);
  assert_int_equal (symlink (g_hostside, path), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Whether this host can run the sandbox at all                                             */

static void
probe_namespaces (void)
{
  char lower[128], upper[128], work[128], merged[128], opts[600];
  int pfd[2];
  pid_t pid;
  int st;
  ssize_t n;

  snprintf (lower, sizeof lower, "%s/probe-l", g_base);
  snprintf (upper, sizeof upper, "%s/probe-u", g_base);
  snprintf (work, sizeof work, "%s/probe-w", g_base);
  snprintf (merged, sizeof merged, "%s/probe-m", g_base);
  mkdir_p (lower, 0755);
  mkdir_p (upper, 0755);
  mkdir_p (work, 0755);
  mkdir_p (merged, 0755);
  snprintf (opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
  assert_int_equal (pipe (pfd), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      const char *step = NULL;
      if (unshare (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
        step = "unshare mount/pid/ipc/uts namespaces";
      else if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        step = "make / private";
      else if (mount ("overlay", merged, "overlay", 0, opts) < 0)
        step = "mount overlayfs";
      if (step)
        dprintf (pfd[1], "%s: %s", step, strerror (errno));
      _exit (step ? 1 : 0);
    }
  close (pfd[1]);
  n = read (pfd[0], g_ns_why, sizeof g_ns_why - 1);
  g_ns_why[n > 0 ? n : 0] = '\0';
  close (pfd[0]);
  waitpid (pid, &st, 0);
  g_ns_ok = WIFEXITED (st) && WEXITSTATUS (st) == 0;
}

#define REQUIRE_NAMESPACES()                                                                        \
  do                                                                                                \
    {                                                                                               \
      if (!g_ns_ok)                                                                                 \
        {                                                                                           \
          const char *allow_ = getenv ("GSI_ALLOW_NO_NAMESPACES");                                  \
          if (allow_ && strcmp (allow_, "1") == 0)                                                  \
            {                                                                                       \
              print_message ("sandbox test NOT RUN (GSI_ALLOW_NO_NAMESPACES=1): %s\n", g_ns_why);   \
              skip ();                                                                              \
            }                                                                                       \
          fail_msg ("the sandbox needs root, namespaces and overlayfs, and this host has not: %s "  \
                    "(set GSI_ALLOW_NO_NAMESPACES=1 to skip these tests)", g_ns_why);               \
        }                                                                                           \
    }                                                                                               \
  while (0)

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) ftw;
  if (flag == FTW_DP)
    return rmdir (path);
  return unlink (path);
}

static void
rm_rf (const char *path)
{
  nftw (path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
group_setup (void **state)
{
  (void) state;
  snprintf (g_base, sizeof g_base, "/tmp/gsi-test-sandbox-XXXXXX");
  if (!mkdtemp (g_base))
    return -1;
  /* Without root there is no sandbox to test (and no chown for the rootfs): only the USER
   * resolution runs then.  */
  if (getuid () != 0)
    snprintf (g_ns_why, sizeof g_ns_why, "not running as root");
  else
    {
      build_rootfs ();
      probe_namespaces ();
    }
  return 0;
}

static int
group_teardown (void **state)
{
  (void) state;
  rm_rf (g_base);
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Running                                                                                  */

typedef struct run
{
  char upper[160];
  char work[160];
  gsi_strvec out;
  gsi_strvec err;
  int status;
  int rc;
  gsi_error error;
} run;

static void
collect (void *ctx, int stream, const char *line, size_t len)
{
  run *r = ctx;
  char *s = xstrndup (line, len);
  gsi_strvec_push_owned (stream == 1 ? &r->out : &r->err, s);
}

static char *lower_one[2];
static char *env_default[] = { "PATH=/bin", NULL };

/* Options for an overlay of the rootfs with a fresh upper and work dir.  */
static void
new_run (run *r, gsi_sandbox_opts *o)
{
  char dir[128];

  memset (r, 0, sizeof *r);
  snprintf (dir, sizeof dir, "%s/run%d", g_base, __atomic_add_fetch (&g_run_seq, 1, __ATOMIC_SEQ_CST));
  snprintf (r->upper, sizeof r->upper, "%s/upper", dir);
  snprintf (r->work, sizeof r->work, "%s/work", dir);
  mkdir_p (r->upper, 0755);
  mkdir_p (r->work, 0755);
  lower_one[0] = g_rootfs;
  *o = (gsi_sandbox_opts) GSI_SANDBOX_OPTS_INIT;
  o->lower_dirs = lower_one;
  o->n_lower = 1;
  o->upper_dir = r->upper;
  o->work_dir = r->work;
  o->env = env_default;
  o->on_line = collect;
  o->on_line_ctx = r;
  o->scratch_dir = g_base;
}

static void
run_it (run *r, gsi_sandbox_opts *o)
{
  r->rc = gsi_sandbox_run (o, &r->status, &r->error);
}

static void
run_sh (run *r, gsi_sandbox_opts *o, const char *script)
{
  char *argv[] = { "/bin/sh", "-c", (char *) script, NULL };
  o->argv = argv;
  run_it (r, o);
  if (r->rc < 0)
    fail_msg ("sandbox failed: %s", r->error.msg);
}

static void
end_run (run *r)
{
  gsi_strvec_clear (&r->out);
  gsi_strvec_clear (&r->err);
  gsi_error_clear (&r->error);
}

static const char *
line_at (const gsi_strvec *v, size_t i)
{
  if (i >= v->n)
    fail_msg ("expected at least %zu output lines, got %zu", i + 1, v->n);
  return v->v[i];
}

static bool
has_line (const gsi_strvec *v, const char *s)
{
  for (size_t i = 0; i < v->n; i++)
    if (strcmp (v->v[i], s) == 0)
      return true;
  return false;
}

/* Names in dir, sorted, space-separated: what the upper dir holds.  */
static char *
list_dir (const char *dir)
{
  struct dirent **names = NULL;
  int n = scandir (dir, &names, NULL, alphasort);
  gsi_buf b = GSI_BUF_INIT;

  if (n < 0)
    fail_msg ("scandir %s: %s", dir, strerror (errno));
  for (int i = 0; i < n; i++)
    {
      if (strcmp (names[i]->d_name, ".") && strcmp (names[i]->d_name, ".."))
        gsi_buf_addf (&b, "%s%s", b.len ? " " : "", names[i]->d_name);
      free (names[i]);
    }
  free (names);
  return gsi_buf_detach (&b, NULL);
}

static void
assert_upper (const run *r, const char *sub, const char *expected)
{
  char path[512];
  char *got;

  snprintf (path, sizeof path, "%s%s%s", r->upper, *sub ? "/" : "", sub);
  got = list_dir (path);
  assert_string_equal (got, expected);
  free (got);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                    */

static void
test_output_lines (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  run_sh (&r, &o, "echo hi; echo err >&2; printf 'no newline'");
  assert_int_equal (r.status, 0);
  assert_int_equal (r.out.n, 2);
  assert_string_equal (line_at (&r.out, 0), "hi");
  assert_string_equal (line_at (&r.out, 1), "no newline");
  assert_int_equal (r.err.n, 1);
  assert_string_equal (line_at (&r.err, 0), "err");
  end_run (&r);
}

static void
test_exit_status (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  run_sh (&r, &o, "exit 3");
  assert_int_equal (r.rc, 0);
  assert_int_equal (r.status, 3);
  end_run (&r);
  /* A command exiting 127 on its own is a status, not a sandbox error.  */
  new_run (&r, &o);
  run_sh (&r, &o, "exit 127");
  assert_int_equal (r.rc, 0);
  assert_int_equal (r.status, 127);
  assert_null (r.error.msg);
  end_run (&r);
}

static void
test_killed_by_signal (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  run_sh (&r, &o, "kill -9 $$");
  assert_int_equal (r.status, 137);
  end_run (&r);
}

static void
test_uid_gid_switch (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  static const gid_t groups[] = { 42426, 42427 };
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  o.uid = 42424;
  o.gid = 42425;
  o.groups = groups;
  o.n_groups = 2;
  run_sh (&r, &o, "id -u; id -g; id -G; touch /rootonly/x || echo denied;"
                  " echo $((1+1)) > /tmp-not-there || echo denied2");
  assert_int_equal (r.status, 0);
  assert_string_equal (line_at (&r.out, 0), "42424");
  assert_string_equal (line_at (&r.out, 1), "42425");
  assert_string_equal (line_at (&r.out, 2), "42425 42426 42427");
  assert_string_equal (line_at (&r.out, 3), "denied");
  assert_string_equal (line_at (&r.out, 4), "denied2");
  assert_true (r.err.n >= 1 && strstr (r.err.v[0], "Permission denied"));
  assert_upper (&r, "", "");
  end_run (&r);
}

static void
test_user_spec (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  o.user = "alice";
  run_sh (&r, &o, "id -u; id -g; id -G; echo $HOME");
  assert_string_equal (line_at (&r.out, 0), "1000");
  assert_string_equal (line_at (&r.out, 1), "1000");
  assert_string_equal (line_at (&r.out, 2), "1000 50");
  assert_string_equal (line_at (&r.out, 3), "/home/alice");
  end_run (&r);

  new_run (&r, &o);
  o.user = "nobody";
  char *argv[] = { "/bin/sh", "-c", "true", NULL };
  o.argv = argv;
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_int_equal (r.status, -1);
  assert_string_equal (r.error.msg, "unable to find user `nobody`: no matching entries in passwd file");
  end_run (&r);
}

static void
test_cwd_created (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  o.cwd = "/work/deep";
  run_sh (&r, &o, "pwd; ls -d .");
  assert_string_equal (line_at (&r.out, 0), "/work/deep");
  /* Docker creates a missing WORKDIR in the layer: so do we, and nothing else.  */
  assert_upper (&r, "", "work");
  assert_upper (&r, "work", "deep");
  end_run (&r);
}

static void
test_env_and_hostname (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char *env[] = { "PATH=/bin", "FOO=bar baz", NULL };
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  o.env = env;
  o.hostname = "box1";
  run_sh (&r, &o, "echo \"$FOO\"; echo ${HOME-unset}; cat /proc/sys/kernel/hostname");
  assert_string_equal (line_at (&r.out, 0), "bar baz");
  assert_string_equal (line_at (&r.out, 1), "unset");
  assert_string_equal (line_at (&r.out, 2), "box1");
  end_run (&r);
}

static void
test_pid_namespace (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  size_t pids = 0;
  new_run (&r, &o);
  run_sh (&r, &o, "echo $$; ls /proc");
  /* PID 1 is the reaper, the command is 2.  */
  assert_string_equal (line_at (&r.out, 0), "2");
  for (size_t i = 1; i < r.out.n; i++)
    pids += strspn (r.out.v[i], "0123456789") == strlen (r.out.v[i]);
  assert_true (has_line (&r.out, "1"));
  assert_in_range (pids, 2, 3);
  end_run (&r);
}

static size_t
count_host_ifaces (void)
{
  char *names = list_dir ("/sys/class/net");
  size_t n = *names ? 1 : 0;
  for (char *p = names; *p; p++)
    n += *p == ' ';
  free (names);
  return n;
}

static void
test_network (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  o.network = GSI_SANDBOX_NET_NONE;
  run_sh (&r, &o, "ls /sys/class/net; cat /sys/class/net/lo/flags");
  assert_int_equal (r.out.n, 2);
  assert_string_equal (line_at (&r.out, 0), "lo");
  assert_true (strtoul (line_at (&r.out, 1), NULL, 16) & 1); /* IFF_UP */
  end_run (&r);

  new_run (&r, &o);
  o.network = GSI_SANDBOX_NET_HOST;
  run_sh (&r, &o, "ls /sys/class/net");
  assert_int_equal (r.out.n, count_host_ifaces ());
  end_run (&r);
}

static void
test_mount_points_not_committed (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char *host_resolv = test_read_file ("/etc/resolv.conf", NULL);
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  run_sh (&r, &o, "cat /etc/resolv.conf; ls -d /proc/1 /dev/null /dev/pts /dev/shm /sys/class /etc/hosts");
  assert_int_equal (r.status, 0);
  if (host_resolv)
    {
      gsi_buf joined = GSI_BUF_INIT;
      for (size_t i = 0; i + 6 < r.out.n; i++)
        gsi_buf_addf (&joined, "%s\n", r.out.v[i]);
      gsi_buf_rtrim (&joined, "\n");
      gsi_buf b = GSI_BUF_INIT;
      gsi_buf_addstr (&b, host_resolv);
      gsi_buf_rtrim (&b, "\n");
      assert_string_equal (joined.buf, b.buf);
      gsi_buf_release (&joined);
      gsi_buf_release (&b);
    }
  /* The image has /etc but no resolv.conf, hosts, proc, dev or sys: the upper dir stays empty.  */
  assert_upper (&r, "", "");
  free (host_resolv);
  end_run (&r);
}

static void
test_changes_in_upper (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char path[512];
  struct stat st;
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  run_sh (&r, &o, "echo data > /newfile && mkdir /newdir && echo x > /etc/newconf"
                  " && rm /etc/todelete && ls /etc");
  assert_int_equal (r.status, 0);
  assert_false (has_line (&r.out, "todelete"));
  assert_upper (&r, "", "etc newdir newfile");
  assert_upper (&r, "etc", "newconf todelete");
  snprintf (path, sizeof path, "%s/etc/todelete", r.upper);
  assert_int_equal (lstat (path, &st), 0);
  assert_true (S_ISCHR (st.st_mode));
  assert_int_equal (st.st_rdev, makedev (0, 0));
  /* The copied-up /etc has the image's owner and mode, not the stub layer's defaults.  */
  snprintf (path, sizeof path, "%s/etc", r.upper);
  assert_int_equal (lstat (path, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0751);
  assert_int_equal (st.st_gid, 50);
  snprintf (path, sizeof path, "%s/newfile", r.upper);
  char *data = test_read_file (path, NULL);
  assert_string_equal (data, "data\n");
  free (data);
  end_run (&r);
}

static void
test_layers_top_first (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char top[256], path[512];
  char *lowers[2];
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  snprintf (top, sizeof top, "%s/layer-top-%d", g_base, g_run_seq);
  snprintf (path, sizeof path, "%s/etc", top);
  mkdir_p (path, 0751);
  snprintf (path, sizeof path, "%s/etc/todelete", top);
  assert_int_equal (mknod (path, S_IFCHR | 0, makedev (0, 0)), 0);
  snprintf (path, sizeof path, "%s/etc/passwd", top);
  write_file (path, "root:x:0:0:root:/root:/bin/sh\n", 0644);
  lowers[0] = top;
  lowers[1] = g_rootfs;
  o.lower_dirs = lowers;
  o.n_lower = 2;
  run_sh (&r, &o, "ls /etc; cat /etc/passwd");
  assert_false (has_line (&r.out, "todelete"));
  assert_true (has_line (&r.out, "group"));
  assert_string_equal (line_at (&r.out, r.out.n - 1), "root:x:0:0:root:/root:/bin/sh");
  assert_upper (&r, "", "");
  end_run (&r);
}

static void
test_bind_mounts (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char rw[256], ro[256], conf[256], path[512];
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  snprintf (rw, sizeof rw, "%s/bind-rw-%d", g_base, g_run_seq);
  snprintf (ro, sizeof ro, "%s/bind-ro-%d", g_base, g_run_seq);
  snprintf (conf, sizeof conf, "%s/app-%d.conf", g_base, g_run_seq);
  mkdir_p (rw, 0755);
  mkdir_p (ro, 0755);
  write_file (conf, "setting=1\n", 0644);
  gsi_sandbox_mount m[] = {
    { .type = GSI_SANDBOX_MOUNT_BIND, .source = rw, .target = "/mnt/rw" },
    { .type = GSI_SANDBOX_MOUNT_BIND, .source = ro, .target = "/mnt/ro", .readonly = true },
    { .type = GSI_SANDBOX_MOUNT_BIND, .source = conf, .target = "/etc/app.conf", .readonly = true },
  };
  o.mounts = m;
  o.n_mounts = 3;
  run_sh (&r, &o, "echo w > /mnt/rw/f && echo rw-ok; echo w > /mnt/ro/f || echo ro-denied; cat /etc/app.conf");
  assert_string_equal (line_at (&r.out, 0), "rw-ok");
  assert_string_equal (line_at (&r.out, 1), "ro-denied");
  assert_string_equal (line_at (&r.out, 2), "setting=1");
  assert_true (r.err.n == 1 && strstr (r.err.v[0], "Read-only file system"));
  snprintf (path, sizeof path, "%s/f", rw);
  assert_int_equal (access (path, F_OK), 0);
  snprintf (path, sizeof path, "%s/f", ro);
  assert_int_not_equal (access (path, F_OK), 0);
  assert_upper (&r, "", "");
  end_run (&r);
}

static void
test_tmpfs_mount (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  gsi_sandbox_mount m[] = {
    { .type = GSI_SANDBOX_MOUNT_TMPFS, .target = "/scratch/t", .size = 1024 * 1024, .mode = 0700 },
  };
  o.mounts = m;
  o.n_mounts = 1;
  run_sh (&r, &o, "stat -c %a /scratch/t; echo x > /scratch/t/f && cat /proc/mounts");
  assert_string_equal (line_at (&r.out, 0), "700");
  bool found = false;
  for (size_t i = 1; i < r.out.n; i++)
    found = found || (strstr (r.out.v[i], " /scratch/t tmpfs ") && strstr (r.out.v[i], "size=1024k"));
  assert_true (found);
  assert_upper (&r, "", "");
  end_run (&r);
}

static void
test_secret_mount (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char src[256];
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  snprintf (src, sizeof src, "%s/secret-%d", g_base, g_run_seq);
  write_file (src, "s3cret\n", 0644);
  gsi_sandbox_mount m[] = {
    { .type = GSI_SANDBOX_MOUNT_SECRET, .source = src, .target = "/run/secrets/token" },
    { .type = GSI_SANDBOX_MOUNT_SECRET, .source = src, .target = "/home/u/tok",
      .mode = 0440, .uid = 42424, .gid = 7 },
  };
  o.mounts = m;
  o.n_mounts = 2;
  run_sh (&r, &o, "cat /run/secrets/token; stat -c '%a %u %g' /run/secrets/token /home/u/tok;"
                  " echo x > /run/secrets/token || echo ro");
  assert_string_equal (line_at (&r.out, 0), "s3cret");
  assert_string_equal (line_at (&r.out, 1), "400 0 0");
  assert_string_equal (line_at (&r.out, 2), "440 42424 7");
  assert_string_equal (line_at (&r.out, 3), "ro");
  assert_upper (&r, "", "");
  end_run (&r);

  /* The owner can read it after the switch to its uid.  */
  new_run (&r, &o);
  o.mounts = m + 1;
  o.n_mounts = 1;
  o.uid = 42424;
  o.gid = 42424;
  run_sh (&r, &o, "cat /home/u/tok");
  assert_string_equal (line_at (&r.out, 0), "s3cret");
  end_run (&r);
}

static void
test_exec_errors (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  char *missing[] = { "/bin/foo", NULL };
  char *not_in_path[] = { "no-such-tool", "x", NULL };
  char *in_path[] = { "id", "-u", NULL };

  new_run (&r, &o);
  o.argv = missing;
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_int_equal (r.status, -1);
  assert_string_equal (r.error.msg, "exec `/bin/foo`: No such file or directory");
  assert_int_equal (r.error.code, ENOENT);
  end_run (&r);

  new_run (&r, &o);
  o.argv = not_in_path;
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_string_equal (r.error.msg, "exec `no-such-tool`: executable file not found in $PATH");
  end_run (&r);

  /* PATH comes from the command's environment, not gsi's.  */
  new_run (&r, &o);
  o.argv = in_path;
  run_it (&r, &o);
  assert_int_equal (r.rc, 0);
  assert_string_equal (line_at (&r.out, 0), "0");
  end_run (&r);
}

static void
test_setup_errors (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  gsi_sandbox_mount bad_bind[] = {
    { .type = GSI_SANDBOX_MOUNT_BIND, .source = "/nonexistent/x", .target = "/x" },
  };
  char secret[256];
  gsi_sandbox_mount file_on_dir[] = {
    { .type = GSI_SANDBOX_MOUNT_SECRET, .source = secret, .target = "/etc" },
  };
  char *argv[] = { "/bin/sh", "-c", "true", NULL };

  snprintf (secret, sizeof secret, "%s/rootfs/etc/passwd", g_base);

  new_run (&r, &o);
  o.argv = argv;
  o.mounts = bad_bind;
  o.n_mounts = 1;
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_string_equal (r.error.msg, "bind source `/nonexistent/x`: No such file or directory");
  end_run (&r);

  new_run (&r, &o);
  o.argv = argv;
  o.mounts = file_on_dir;
  o.n_mounts = 1;
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_string_equal (r.error.msg, "mount target `/etc`: Is a directory");
  end_run (&r);

  new_run (&r, &o);
  o.argv = argv;
  o.work_dir = "/nonexistent-work";
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_non_null (strstr (r.error.msg, "overlay"));
  assert_non_null (strstr (r.error.msg, "/nonexistent-work"));
  end_run (&r);

  /* overlayfs refuses a work dir inside the upper dir; the message names both.  */
  new_run (&r, &o);
  char inner[300];
  snprintf (inner, sizeof inner, "%s/w", r.upper);
  mkdir_p (inner, 0755);
  o.argv = argv;
  o.work_dir = inner;
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_non_null (strstr (r.error.msg, "create overlay (upper `"));
  assert_int_equal (r.error.code, EINVAL);
  end_run (&r);

  gsi_sandbox_mount on_root[] = { { .type = GSI_SANDBOX_MOUNT_TMPFS, .target = "/." } };
  new_run (&r, &o);
  o.argv = argv;
  o.mounts = on_root;
  o.n_mounts = 1;
  run_it (&r, &o);
  assert_int_equal (r.rc, -1);
  assert_string_equal (r.error.msg, "sandbox: mount target `/.` is not an absolute path below `/`");
  end_run (&r);
}

static void
test_symlinks_stay_inside (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char path[512];
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  gsi_sandbox_mount m[] = { { .type = GSI_SANDBOX_MOUNT_TMPFS, .target = "/escape/m" } };
  o.mounts = m;
  o.n_mounts = 1;
  o.cwd = "/escape/wd";
  run_sh (&r, &o, "echo in > /escape/m/f && cat /proc/mounts");
  /* /escape -> <host dir>: both the mount and the cwd landed at that path inside the image.  */
  snprintf (path, sizeof path, "%s/m", g_hostside);
  assert_int_not_equal (access (path, F_OK), 0);
  snprintf (path, sizeof path, "%s/wd", g_hostside);
  assert_int_not_equal (access (path, F_OK), 0);
  snprintf (path, sizeof path, "%s%s/wd", r.upper, g_hostside);
  assert_int_equal (access (path, F_OK), 0);
  snprintf (path, sizeof path, " %s/m tmpfs ", g_hostside);
  bool found = false;
  for (size_t i = 0; i < r.out.n; i++)
    found = found || strstr (r.out.v[i], path);
  assert_true (found);
  end_run (&r);
}

/* Whether any process's mount table mentions path.  */
static bool
mounted_anywhere (const char *path)
{
  struct dirent **names = NULL;
  int n = scandir ("/proc", &names, NULL, NULL);
  bool found = false;

  for (int i = 0; i < n; i++)
    {
      char mi[300];
      if (!found && strspn (names[i]->d_name, "0123456789") == strlen (names[i]->d_name))
        {
          snprintf (mi, sizeof mi, "/proc/%s/mountinfo", names[i]->d_name);
          char *text = test_read_file (mi, NULL);
          found = text && strstr (text, path);
          free (text);
        }
      free (names[i]);
    }
  free (names);
  return found;
}

static void
test_reaper_and_background (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  struct timespec t0, t1;

  new_run (&r, &o);
  /* The inner sh exits at once: its sleep is orphaned to PID 1, which must reap it.  */
  run_sh (&r, &o, "sh -c 'sleep 0.1 & exit 0'; sleep 0.6; cat /proc/[0-9]*/stat");
  for (size_t i = 0; i < r.out.n; i++)
    if (strstr (r.out.v[i], ") Z "))
      fail_msg ("zombie left: %s", r.out.v[i]);
  assert_true (r.out.n >= 2);
  end_run (&r);

  /* A background process holding stdout does not keep the run alive.  */
  new_run (&r, &o);
  clock_gettime (CLOCK_MONOTONIC, &t0);
  run_sh (&r, &o, "sleep 100 & echo started");
  clock_gettime (CLOCK_MONOTONIC, &t1);
  assert_int_equal (r.status, 0);
  assert_string_equal (line_at (&r.out, 0), "started");
  assert_true (t1.tv_sec - t0.tv_sec < 20);
  /* Nothing is left mounted on the upper dir, in any namespace: the sleep died with init.  */
  assert_false (mounted_anywhere (r.upper));
  end_run (&r);
}

static void
test_stdio_fds (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char outpath[256];
  int in[2];
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  snprintf (outpath, sizeof outpath, "%s/out-%d", g_base, g_run_seq);
  int outfd = open (outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true (outfd >= 0);
  assert_int_equal (pipe (in), 0);
  assert_int_equal (write (in[1], "from stdin\n", 11), 11);
  close (in[1]);
  o.on_line = NULL;
  o.stdin_fd = in[0];
  o.stdout_fd = outfd;
  o.stderr_fd = outfd;
  run_sh (&r, &o, "cat; echo to-err >&2");
  close (in[0]);
  close (outfd);
  char *data = test_read_file (outpath, NULL);
  assert_string_equal (data, "from stdin\nto-err\n");
  free (data);
  end_run (&r);
}

static void
test_capabilities (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  run_sh (&r, &o, "cat /proc/self/status");
  /* Docker's default set.  */
  assert_true (has_line (&r.out, "CapBnd:\t00000000a80425fb"));
  assert_true (has_line (&r.out, "CapInh:\t0000000000000000"));
  end_run (&r);

  new_run (&r, &o);
  o.privileged = true;
  run_sh (&r, &o, "cat /proc/self/status");
  assert_false (has_line (&r.out, "CapBnd:\t00000000a80425fb"));
  end_run (&r);

  /* Root may make device nodes (they belong in images) but not open them, except /dev's own.  */
  new_run (&r, &o);
  run_sh (&r, &o, "mknod /n c 1 3 && echo made; echo x > /n || echo denied; mknod /dev/n2 c 1 3 && echo made2;"
                  " echo x > /dev/n2 || echo denied2; echo x > /dev/null && echo devnull-ok");
  assert_string_equal (line_at (&r.out, 0), "made");
  assert_string_equal (line_at (&r.out, 1), "denied");
  assert_string_equal (line_at (&r.out, 2), "made2");
  assert_string_equal (line_at (&r.out, 3), "denied2");
  assert_string_equal (line_at (&r.out, 4), "devnull-ok");
  assert_upper (&r, "", "n");
  end_run (&r);
}

static void
test_tail (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  gsi_line_tail tail;
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  gsi_line_tail_init (&tail, 5);
  o.on_line = NULL;
  o.tail = &tail;
  run_sh (&r, &o, "i=1; while [ $i -le 30 ]; do echo line$i; i=$((i+1)); done; exit 1");
  assert_int_equal (r.status, 1);
  char *s = gsi_line_tail_join (&tail);
  assert_string_equal (s, "line26\nline27\nline28\nline29\nline30");
  free (s);
  gsi_line_tail_clear (&tail);
  end_run (&r);
}

static void
test_long_line (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  /* 100000 bytes and no newline: two pieces, 64 KiB then the rest.  */
  run_sh (&r, &o, "i=0; while [ $i -lt 1000 ]; do printf '%0100d' 0; i=$((i+1)); done");
  assert_int_equal (r.out.n, 2);
  assert_int_equal (strlen (r.out.v[0]), 65536);
  assert_int_equal (strlen (r.out.v[1]), 100000 - 65536);
  end_run (&r);
}

/* Runs from several threads at once: each monitor must drop the other runs' pipe ends it
 * inherited, or a run would wait for another's end before seeing EOF.  */
static void *
parallel_worker (void *arg)
{
  long id = (long) arg;
  char script[128];
  long bad = 0;

  snprintf (script, sizeof script, "echo worker%ld; sleep 0.%ld", id, id % 3);
  for (int i = 0; i < 3; i++)
    {
      run r;
      gsi_sandbox_opts o;
      char *argv[] = { "/bin/sh", "-c", script, NULL };
      char want[32];

      new_run (&r, &o);
      o.argv = argv;
      run_it (&r, &o);
      snprintf (want, sizeof want, "worker%ld", id);
      if (r.rc != 0 || r.status != 0 || r.out.n != 1 || strcmp (r.out.v[0], want) != 0)
        bad++;
      end_run (&r);
    }
  return (void *) bad;
}

static void
test_parallel_runs (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  pthread_t th[6];
  struct timespec t0, t1;

  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < 6; i++)
    assert_int_equal (pthread_create (&th[i], NULL, parallel_worker, (void *) i), 0);
  for (int i = 0; i < 6; i++)
    {
      void *bad;
      assert_int_equal (pthread_join (th[i], &bad), 0);
      assert_int_equal ((long) bad, 0);
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  /* Serialised on each other's pipes this would take the sum of all sleeps (6 s) or hang.  */
  assert_true (t1.tv_sec - t0.tv_sec < 5);
}

static void
test_plain_rootfs (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char root[256], cmd[600];
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  snprintf (root, sizeof root, "%s/plain-%d", g_base, g_run_seq);
  snprintf (cmd, sizeof cmd, "cp -a '%s' '%s'", g_rootfs, root);
  assert_int_equal (system (cmd), 0);
  o.lower_dirs = NULL;
  o.n_lower = 0;
  o.upper_dir = o.work_dir = NULL;
  o.rootfs = root;
  run_sh (&r, &o, "echo x > /made; cat /etc/resolv.conf > /dev/null; ls -d /proc/1 /dev/null /sys/class");
  assert_int_equal (r.status, 0);
  /* Stubs gone again, the command's file kept.  */
  static const char *const gone[] = { "proc", "dev", "sys", "etc/resolv.conf", "etc/hosts" };
  char path[512];
  for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
    {
      snprintf (path, sizeof path, "%s/%s", root, gone[i]);
      if (access (path, F_OK) == 0)
        fail_msg ("stub `%s` left in the rootfs", gone[i]);
    }
  snprintf (path, sizeof path, "%s/made", root);
  assert_int_equal (access (path, F_OK), 0);
  snprintf (path, sizeof path, "%s/etc", root);
  char *names = list_dir (path);
  assert_string_equal (names, "group passwd todelete");
  free (names);
  end_run (&r);
}

static void
test_no_lower_layers (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  char bin[256], lib[256], lib64[256];
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  snprintf (bin, sizeof bin, "%s/bin", g_rootfs);
  snprintf (lib, sizeof lib, "%s/lib", g_rootfs);
  snprintf (lib64, sizeof lib64, "%s/lib64", g_rootfs);
  gsi_sandbox_mount m[] = {
    { .type = GSI_SANDBOX_MOUNT_BIND, .source = bin, .target = "/bin", .readonly = true },
    { .type = GSI_SANDBOX_MOUNT_BIND, .source = lib, .target = "/lib", .readonly = true },
    { .type = GSI_SANDBOX_MOUNT_BIND, .source = lib64, .target = "/lib64", .readonly = true },
  };
  o.lower_dirs = NULL;
  o.n_lower = 0;
  o.mounts = m;
  o.n_mounts = access (lib64, F_OK) == 0 ? 3 : 2;
  run_sh (&r, &o, "echo x > /x; echo ok");
  assert_string_equal (line_at (&r.out, 0), "ok");
  assert_upper (&r, "", "x");
  end_run (&r);
}

static void
test_legacy_overlay_mount (void **state)
{
  (void) state;
  REQUIRE_NAMESPACES ();
  run r;
  gsi_sandbox_opts o;
  new_run (&r, &o);
  setenv ("GSI_SANDBOX_LEGACY_OVERLAY", "1", 1);
  run_sh (&r, &o, "echo hi > /f; cat /f; ls -d /etc/resolv.conf");
  unsetenv ("GSI_SANDBOX_LEGACY_OVERLAY");
  assert_string_equal (line_at (&r.out, 0), "hi");
  assert_upper (&r, "", "f");
  end_run (&r);
}

static void
test_line_tail_ring (void **state)
{
  (void) state;
  gsi_line_tail t;
  char *s;

  gsi_line_tail_init (&t, 3);
  s = gsi_line_tail_join (&t);
  assert_string_equal (s, "");
  free (s);
  gsi_line_tail_add (&t, "a", 1);
  gsi_line_tail_add (&t, "bxx", 1);
  s = gsi_line_tail_join (&t);
  assert_string_equal (s, "a\nb");
  free (s);
  gsi_line_tail_add (&t, "c", 1);
  gsi_line_tail_add (&t, "d", 1);
  gsi_line_tail_add (&t, "e", 1);
  s = gsi_line_tail_join (&t);
  assert_string_equal (s, "c\nd\ne");
  free (s);
  gsi_line_tail_clear (&t);
  gsi_line_tail_init (&t, 0);
  gsi_line_tail_add (&t, "x", 1);
  s = gsi_line_tail_join (&t);
  assert_string_equal (s, "");
  free (s);
  gsi_line_tail_clear (&t);
}

/* ---------------------------------------------------------------------------------------- */
/* USER resolution                                                                          */

static char g_pwroot[128];

static void
make_passwd_root (void)
{
  char path[256];

  snprintf (g_pwroot, sizeof g_pwroot, "%s/pwroot", g_base);
  snprintf (path, sizeof path, "%s/etc", g_pwroot);
  mkdir_p (path, 0755);
  snprintf (path, sizeof path, "%s/etc/passwd", g_pwroot);
  write_file (path,
              "# comment\n"
              "root:x:0:0:root:/root:/bin/sh\n"
              "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
              "bob:x:1001:1001::/home/bob:/bin/sh\n"
              "broken line\n"
              "bad:x:notanumber:1::/:/bin/sh\n"
              "nohome:x:1002:1002:::/bin/sh\n"
              "dup:x:1003:1003::/first:/bin/sh\n"
              "dup:x:1004:1004::/second:/bin/sh",
              0644);
  snprintf (path, sizeof path, "%s/etc/group", g_pwroot);
  write_file (path,
              "root:x:0:\n"
              "wheel:x:10:root,alice\n"
              "staff:x:50:alice,bob\n"
              "alice:x:1000:\n"
              "bob:x:1001:\n",
              0644);
}

typedef struct user_case
{
  const char *spec;
  const char *expect; /* "uid gid [groups,..] home" or "!error message" */
} user_case;

static void
test_user_resolution (void **state)
{
  (void) state;
  static const user_case cases[] = {
    { "", "0 0 [10] /root" },
    { "root", "0 0 [10] /root" },
    { "0", "0 0 [10] /root" },
    { "alice", "1000 1000 [10,50] /home/alice" },
    { "1000", "1000 1000 [10,50] /home/alice" },
    { "alice:", "1000 1000 [10,50] /home/alice" },
    { "alice:staff", "1000 50 [] /home/alice" },
    { "alice:50", "1000 50 [] /home/alice" },
    { "alice:4242", "1000 4242 [] /home/alice" },
    { "1000:1001", "1000 1001 [] /home/alice" },
    { "bob", "1001 1001 [50] /home/bob" },
    { "bob:root", "1001 0 [] /home/bob" },
    { "nohome", "1002 1002 [] /" },
    { "dup", "1003 1003 [] /first" },
    { "4242", "4242 0 [] /" },
    { "4242:4243", "4242 4243 [] /" },
    { "4242:staff", "4242 50 [] /" },
    { "2147483647", "2147483647 0 [] /" },
    { "nobody", "!unable to find user `nobody`: no matching entries in passwd file" },
    { "bad", "!unable to find user `bad`: no matching entries in passwd file" },
    { "alice:nogroup", "!unable to find group `nogroup`: no matching entries in group file" },
    { "nobody:staff", "!unable to find user `nobody`: no matching entries in passwd file" },
    { "2147483648", "!user `2147483648`: uids and gids must be in range 0-2147483647" },
    { "1:99999999999", "!group `99999999999`: uids and gids must be in range 0-2147483647" },
    { "-1", "!unable to find user `-1`: no matching entries in passwd file" },
  };
  int rootfd;

  make_passwd_root ();
  rootfd = open (g_pwroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true (rootfd >= 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      gsi_user u = GSI_USER_INIT;
      gsi_error err = GSI_ERROR_INIT;
      gsi_buf got = GSI_BUF_INIT;

      if (gsi_user_resolve (rootfd, cases[i].spec, &u, &err) < 0)
        gsi_buf_addf (&got, "!%s", err.msg);
      else
        {
          gsi_buf_addf (&got, "%u %u [", (unsigned) u.uid, (unsigned) u.gid);
          for (size_t g = 0; g < u.n_groups; g++)
            gsi_buf_addf (&got, "%s%u", g ? "," : "", (unsigned) u.groups[g]);
          gsi_buf_addf (&got, "] %s", u.home);
        }
      if (strcmp (got.buf, cases[i].expect) != 0)
        fail_msg ("USER `%s`: got `%s`, want `%s`", cases[i].spec, got.buf, cases[i].expect);
      gsi_buf_release (&got);
      gsi_error_clear (&err);
      gsi_user_clear (&u);
    }
  close (rootfd);
}

static void
test_user_resolution_files (void **state)
{
  (void) state;
  char root[256], path[512];
  gsi_user u = GSI_USER_INIT;
  gsi_error err = GSI_ERROR_INIT;
  int rootfd;

  /* No etc at all: numbers work, names do not.  */
  snprintf (root, sizeof root, "%s/pw-empty", g_base);
  mkdir_p (root, 0755);
  rootfd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (gsi_user_resolve (rootfd, "0", &u, &err), 0);
  assert_int_equal (u.uid, 0);
  assert_null (u.name);
  assert_string_equal (u.home, "/");
  gsi_user_clear (&u);
  assert_int_equal (gsi_user_resolve (rootfd, "root", &u, &err), -1);
  assert_string_equal (err.msg, "unable to find user `root`: no matching entries in passwd file");
  gsi_error_clear (&err);
  gsi_user_clear (&u);
  close (rootfd);

  /* etc/passwd is an absolute symlink: it resolves inside the root, never to the host's.  */
  snprintf (root, sizeof root, "%s/pw-link", g_base);
  snprintf (path, sizeof path, "%s/etc", root);
  mkdir_p (path, 0755);
  snprintf (path, sizeof path, "%s/other", root);
  mkdir_p (path, 0755);
  snprintf (path, sizeof path, "%s/other/passwd", root);
  write_file (path, "carol:x:7:8::/c:/bin/sh\n", 0644);
  snprintf (path, sizeof path, "%s/etc/passwd", root);
  assert_int_equal (symlink ("/other/passwd", path), 0);
  snprintf (path, sizeof path, "%s/etc/group", root);
  assert_int_equal (symlink ("../../../../../../../etc/passwd", path), 0);
  rootfd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (gsi_user_resolve (rootfd, "carol", &u, &err), 0);
  assert_int_equal (u.uid, 7);
  assert_int_equal (u.gid, 8);
  assert_string_equal (u.name, "carol");
  gsi_user_clear (&u);
  /* The group link climbs past the root: it lands on the image's etc/passwd (carol's line), not on
   * the host's, whose "root:x:0:..." line would read as a group root.  */
  assert_int_equal (gsi_user_resolve (rootfd, "carol:root", &u, &err), -1);
  assert_string_equal (err.msg, "unable to find group `root`: no matching entries in group file");
  gsi_error_clear (&err);
  gsi_user_clear (&u);
  close (rootfd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_user_resolution),
    cmocka_unit_test (test_user_resolution_files),
    cmocka_unit_test (test_line_tail_ring),
    cmocka_unit_test (test_output_lines),
    cmocka_unit_test (test_exit_status),
    cmocka_unit_test (test_killed_by_signal),
    cmocka_unit_test (test_uid_gid_switch),
    cmocka_unit_test (test_user_spec),
    cmocka_unit_test (test_cwd_created),
    cmocka_unit_test (test_env_and_hostname),
    cmocka_unit_test (test_pid_namespace),
    cmocka_unit_test (test_network),
    cmocka_unit_test (test_mount_points_not_committed),
    cmocka_unit_test (test_changes_in_upper),
    cmocka_unit_test (test_layers_top_first),
    cmocka_unit_test (test_bind_mounts),
    cmocka_unit_test (test_tmpfs_mount),
    cmocka_unit_test (test_secret_mount),
    cmocka_unit_test (test_exec_errors),
    cmocka_unit_test (test_setup_errors),
    cmocka_unit_test (test_symlinks_stay_inside),
    cmocka_unit_test (test_reaper_and_background),
    cmocka_unit_test (test_stdio_fds),
    cmocka_unit_test (test_capabilities),
    cmocka_unit_test (test_tail),
    cmocka_unit_test (test_long_line),
    cmocka_unit_test (test_parallel_runs),
    cmocka_unit_test (test_plain_rootfs),
    cmocka_unit_test (test_no_lower_layers),
    cmocka_unit_test (test_legacy_overlay_mount),
  };
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
