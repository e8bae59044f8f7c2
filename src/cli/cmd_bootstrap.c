/* gsi bootstrap and gsi import: base images from a distribution archive or a rootfs tarball.  */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "build/fsutil.h"
#include "oci/image.h"
#include "oci/store.h"
#include "sandbox/sandbox.h"
#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

extern char **environ;

#define DEFAULT_MIRROR "http://deb.debian.org/debian"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define TAIL_LINES 10

static int
open_store (gsi_store **store, gsi_error *err)
{
  cleanup_free char *root = gsi_store_default_root (err);

  if (root == NULL)
    return -1;
  return gsi_store_open (root, store, err);
}

static int
parse_epoch (const char *s, int64_t *out)
{
  char *end = NULL;
  long long v;

  errno = 0;
  v = strtoll (s, &end, 10);
  if (errno || end == s || *end || v < 0)
    return -1;
  *out = v;
  return 0;
}

/* $SOURCE_DATE_EPOCH when set, else -1.  */
static int
env_epoch (const char *cmd, int64_t *out, gsi_error *err)
{
  const char *e = getenv ("SOURCE_DATE_EPOCH");

  *out = -1;
  if (e && *e && parse_epoch (e, out) < 0)
    return cli_usage (err, cmd, "SOURCE_DATE_EPOCH must be seconds since 1970, got `%s`", e);
  return 0;
}

/* Tags the image desc names with the extra references after the first.  */
static int
tag_more (gsi_store *s, const gsi_descriptor *d, const gsi_strvec *tags, gsi_error *err)
{
  for (size_t i = 1; i < tags->n; i++)
    if (gsi_store_tag (s, tags->v[i], d, err) < 0)
      return -1;
  return 0;
}

/* ---- gsi import --------------------------------------------------------------------------------- */

static void
print_import_help (void)
{
  printf ("Usage: gsi [--root DIR] import [--source-date-epoch N] ROOTFS.tar[.gz|.zst|.xz|.bz2] REF\n\n"
          "Imports a root filesystem tarball as a one-layer image tagged REF.  Entries are copied\n"
          "unchanged (owners, modes, xattrs, hardlinks) into a gzip-compressed layer.  The config\n"
          "has this machine's architecture, os linux, and no Env, Entrypoint or Cmd (`gsi run`\n"
          "then needs a COMMAND).  Prints the manifest digest.\n\n"
          "Options:\n"
          "      --source-date-epoch N  the image's created time (default: $SOURCE_DATE_EPOCH when\n"
          "                             set, else now)\n");
}

int
cmd_import (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = { { "source-date-epoch", required_argument, NULL, 'E' },
                                        { NULL, 0, NULL, 0 } };
  cleanup_store gsi_store *store = NULL;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  int64_t epoch = -1;
  int c, r;

  if (cli_wants_help (argc, argv))
    {
      print_import_help ();
      return 0;
    }
  if (env_epoch (argv[0], &epoch, err) < 0)
    return CLI_USAGE;
  optind = 0;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      if (c != 'E')
        return cli_usage (err, argv[0], "unknown option");
      if (parse_epoch (optarg, &epoch) < 0)
        return cli_usage (err, argv[0], "--source-date-epoch wants seconds since 1970, got `%s`", optarg);
    }
  if (argc - optind != 2)
    return cli_usage (err, argv[0], "expects ROOTFS.tar and REF");
  if (open_store (&store, err) < 0)
    return CLI_FAIL;
  r = gsi_store_import_rootfs_tar (store, argv[optind], argv[optind + 1], epoch, &d, err);
  if (r == 0)
    printf ("%s\n", d.digest);
  gsi_descriptor_clear (&d);
  return r < 0 ? CLI_FAIL : 0;
}

/* ---- gsi bootstrap ------------------------------------------------------------------------------ */

typedef struct boot_args
{
  const char *suite;
  const char *variant;
  const char *mirror;
  const char *components;
  const char *include;
  int64_t epoch;
  gsi_strvec tags;
  gsi_strvec aptopts;
} boot_args;

static void
print_bootstrap_help (void)
{
  printf ("Usage: gsi [--root DIR] bootstrap debian SUITE [OPTIONS] -t REF\n\n"
          "Makes a Debian base image from the Debian archive with mmdebstrap (one suite, this\n"
          "machine's architecture), imports it as a one-layer image and tags it REF.  The image has\n"
          "Env PATH=" DEFAULT_PATH " and Cmd [\"bash\"].\n"
          "mmdebstrap's output is streamed to stderr; the manifest digest is printed on stdout.\n\n"
          "Options:\n"
          "  -t, --tag REF              tag the image (repeatable; at least one)\n"
          "      --variant minbase|apt  package set (default: minbase: Essential and apt's\n"
          "                             dependencies; apt: Essential and apt)\n"
          "      --mirror URL           the archive (default: " DEFAULT_MIRROR ")\n"
          "      --components LIST      comma-separated archive components (default: main)\n"
          "      --include PKG,...      extra packages to install\n"
          "      --aptopt OPT           an apt option for the bootstrap, kept in the image's\n"
          "                             /etc/apt/apt.conf.d/99mmdebstrap (repeatable), e.g.\n"
          "                             'Acquire::Check-Valid-Until \"false\"' for a mirror whose\n"
          "                             Release file has expired\n"
          "      --source-date-epoch N  file mtimes are clamped to N and the image's created time\n"
          "                             is N, so the same archive state gives the same image\n"
          "                             (default: $SOURCE_DATE_EPOCH when set, else now)\n\n"
          "Needs root and mmdebstrap (scripts/install-deps.sh installs it).\n");
}

static int
parse_boot_option (boot_args *a, int c, const char *cmd, gsi_error *err)
{
  switch (c)
    {
    case 't':
      gsi_strvec_push (&a->tags, optarg);
      return 0;
    case 'V':
      if (strcmp (optarg, "minbase") != 0 && strcmp (optarg, "apt") != 0)
        return cli_usage (err, cmd, "--variant must be minbase or apt, got `%s`", optarg);
      a->variant = optarg;
      return 0;
    case 'M':
      a->mirror = optarg;
      return 0;
    case 'C':
      a->components = optarg;
      return 0;
    case 'I':
      a->include = optarg;
      return 0;
    case 'A':
      if (*optarg == '\0' || strchr (optarg, '\n'))
        return cli_usage (err, cmd, "--aptopt wants a one-line apt option, got `%s`", optarg);
      gsi_strvec_push (&a->aptopts, optarg);
      return 0;
    case 'E':
      if (parse_epoch (optarg, &a->epoch) < 0)
        return cli_usage (err, cmd, "--source-date-epoch wants seconds since 1970, got `%s`", optarg);
      return 0;
    default:
      return cli_usage (err, cmd, "unknown option");
    }
}

/* A value that becomes one mmdebstrap argument must not smuggle in another option or an empty
 * list item.  */
static int
check_list (const char *opt, const char *v, const char *cmd, gsi_error *err)
{
  if (v == NULL)
    return 0;
  if (*v == '\0' || *v == ',' || v[strlen (v) - 1] == ',' || strstr (v, ",,") || strpbrk (v, " \t\n"))
    return cli_usage (err, cmd, "%s wants a comma-separated list without spaces, got `%s`", opt, v);
  return 0;
}

static int
parse_boot_args (boot_args *a, int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "tag", required_argument, NULL, 't' },        { "variant", required_argument, NULL, 'V' },
    { "mirror", required_argument, NULL, 'M' },     { "components", required_argument, NULL, 'C' },
    { "include", required_argument, NULL, 'I' },    { "source-date-epoch", required_argument, NULL, 'E' },
    { "aptopt", required_argument, NULL, 'A' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  if (env_epoch (argv[0], &a->epoch, err) < 0)
    return CLI_USAGE;
  optind = 0;
  while ((c = getopt_long (argc, argv, "t:", opts, NULL)) != -1)
    if (parse_boot_option (a, c, argv[0], err) < 0)
      return CLI_USAGE;
  if (argc - optind != 2)
    return cli_usage (err, argv[0], "expects a distribution and a SUITE (`debian trixie`)");
  if (strcmp (argv[optind], "debian") != 0)
    return cli_usage (err, argv[0], "unknown distribution `%s` (only debian is supported)", argv[optind]);
  a->suite = argv[optind + 1];
  if (*a->suite == '\0' || *a->suite == '-' || strpbrk (a->suite, "/ \t\n"))
    return cli_usage (err, argv[0], "invalid SUITE `%s`", a->suite);
  if (a->mirror && strncmp (a->mirror, "http://", 7) != 0 && strncmp (a->mirror, "https://", 8) != 0
      && strncmp (a->mirror, "file:/", 6) != 0)
    return cli_usage (err, argv[0], "--mirror wants an http://, https:// or file:/ URL, got `%s`", a->mirror);
  if (check_list ("--components", a->components, argv[0], err) < 0
      || check_list ("--include", a->include, argv[0], err) < 0)
    return CLI_USAGE;
  if (a->tags.n == 0)
    return cli_usage (err, argv[0], "needs -t REF");
  for (size_t i = 0; i < a->tags.n; i++)
    if (gsi_ref_normalize (a->tags.v[i], NULL, NULL, err) < 0)
      return CLI_USAGE;
  if (a->epoch < 0)
    a->epoch = (int64_t) time (NULL);
  return 0;
}

static void
mmdebstrap_argv (const boot_args *a, const char *out, gsi_strvec *argv)
{
  gsi_strvec_push (argv, "mmdebstrap");
  gsi_strvec_pushf (argv, "--variant=%s", a->variant);
  gsi_strvec_pushf (argv, "--components=%s", a->components);
  if (a->include)
    gsi_strvec_pushf (argv, "--include=%s", a->include);
  gsi_strvec_push (argv, "--format=tar");
  /* A dropped connection to the mirror should cost a retry, not the whole bootstrap.  */
  gsi_strvec_push (argv, "--aptopt=Acquire::Retries \"3\"");
  for (size_t i = 0; i < a->aptopts.n; i++)
    gsi_strvec_pushf (argv, "--aptopt=%s", a->aptopts.v[i]);
  gsi_strvec_push (argv, a->suite);
  gsi_strvec_push (argv, out);
  gsi_strvec_push (argv, a->mirror);
}

/* Our environment with SOURCE_DATE_EPOCH, to which mmdebstrap clamps mtimes.  Its chroot stays in
 * $TMPDIR (not the store's 0700 tmp/), where apt's unprivileged _apt user can still download.  */
static void
mmdebstrap_env (const boot_args *a, gsi_strvec *env)
{
  for (char **e = environ; *e; e++)
    if (strncmp (*e, "SOURCE_DATE_EPOCH=", 18) != 0)
      gsi_strvec_push (env, *e);
  gsi_strvec_pushf (env, "SOURCE_DATE_EPOCH=%lld", (long long) a->epoch);
}

static void __attribute__ ((noreturn))
exec_child (int out_fd, char **argv, char **env)
{
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);

  /* mmdebstrap must not outlive a gsi that was killed.  */
  prctl (PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  if (devnull < 0 || dup2 (devnull, STDIN_FILENO) < 0 || dup2 (out_fd, STDOUT_FILENO) < 0
      || dup2 (out_fd, STDERR_FILENO) < 0)
    _exit (126);
  execvpe (argv[0], argv, env);
  _exit (errno == ENOENT ? 127 : 126);
}

/* Copies the child's output to our stderr line by line, keeping the last lines for an error.  */
static void
pump_output (int fd, gsi_line_tail *tail)
{
  cleanup_file FILE *in = fdopen (fd, "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;

  if (in == NULL)
    {
      close (fd);
      return;
    }
  while ((n = getline (&line, &cap, in)) > 0)
    {
      fwrite (line, 1, (size_t) n, stderr);
      while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
      gsi_line_tail_add (tail, line, (size_t) n);
    }
  fflush (stderr);
  free (line);
}

static int
child_failed (int status, gsi_line_tail *tail, gsi_error *err)
{
  cleanup_free char *last = gsi_line_tail_join (tail);
  const char *sep = *last ? "; last output:\n" : "";

  if (WIFEXITED (status) && WEXITSTATUS (status) == 127)
    return gsi_error_set (err, 0, "mmdebstrap not found in $PATH (scripts/install-deps.sh installs it)");
  if (WIFEXITED (status))
    return gsi_error_set (err, 0, "mmdebstrap failed with exit code %d%s%s", WEXITSTATUS (status), sep, last);
  return gsi_error_set (err, 0, "mmdebstrap was killed by signal %d%s%s", WTERMSIG (status), sep, last);
}

static int
run_mmdebstrap (const boot_args *a, const char *out, gsi_error *err)
{
  cleanup_strvec gsi_strvec argv = GSI_STRVEC_INIT;
  cleanup_strvec gsi_strvec env = GSI_STRVEC_INIT;
  gsi_line_tail tail;
  int pipefd[2];
  int status = 0;
  pid_t pid;

  mmdebstrap_argv (a, out, &argv);
  mmdebstrap_env (a, &env);
  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return gsi_error_set (err, errno, "pipe");
  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid < 0)
    {
      close (pipefd[0]);
      close (pipefd[1]);
      return gsi_error_set (err, errno, "fork");
    }
  if (pid == 0)
    exec_child (pipefd[1], argv.v, env.v);
  close (pipefd[1]);
  gsi_line_tail_init (&tail, TAIL_LINES);
  pump_output (pipefd[0], &tail);
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      {
        gsi_line_tail_clear (&tail);
        return gsi_error_set (err, errno, "waitpid mmdebstrap");
      }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    {
      gsi_line_tail_clear (&tail);
      return 0;
    }
  child_failed (status, &tail, err);
  gsi_line_tail_clear (&tail);
  return -1;
}

static char *
describe (const boot_args *a)
{
  gsi_buf b = GSI_BUF_INIT;

  gsi_buf_addf (&b, "gsi bootstrap debian %s --variant %s --mirror %s --components %s", a->suite, a->variant,
                a->mirror, a->components);
  if (a->include)
    gsi_buf_addf (&b, " --include %s", a->include);
  for (size_t i = 0; i < a->aptopts.n; i++)
    gsi_buf_addf (&b, " --aptopt '%s'", a->aptopts.v[i]);
  return gsi_buf_detach (&b, NULL);
}

/* The imported image's config made a Debian one: PATH, Cmd bash, and what made it.  */
static void
debian_config (const boot_args *a, gsi_image_config *cfg)
{
  gsi_image_config_set_env (cfg, "PATH", DEFAULT_PATH);
  gsi_strvec_clear (&cfg->cmd);
  gsi_strvec_push (&cfg->cmd, "bash");
  if (cfg->n_history == 1)
    {
      free (cfg->history[0].created_by);
      cfg->history[0].created_by = describe (a);
    }
}

static int
import_debian (gsi_store *s, const boot_args *a, const char *tar, gsi_descriptor *out, gsi_error *err)
{
  gsi_descriptor raw = GSI_DESCRIPTOR_INIT;
  gsi_image_config cfg;
  gsi_manifest m;
  int r;

  gsi_image_config_init (&cfg);
  gsi_manifest_init (&m);
  r = gsi_store_import_rootfs_tar (s, tar, NULL, a->epoch, &raw, err);
  if (r == 0)
    r = gsi_store_load_image (s, raw.digest, NULL, &m, &cfg, err);
  if (r == 0)
    {
      debian_config (a, &cfg);
      r = gsi_store_commit_image (s, &cfg, m.layers, m.n_layers, NULL, a->tags.v[0], out, err);
    }
  if (r == 0)
    r = tag_more (s, out, &a->tags, err);
  gsi_manifest_clear (&m);
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&raw);
  return r;
}

static int
bootstrap (gsi_store *s, const boot_args *a, gsi_descriptor *out, gsi_error *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *tar = NULL;
  int r;

  if (gsi_store_mkdtemp (s, "bootstrap-", &dir, err) < 0)
    return -1;
  tar = xasprintf ("%s/rootfs.tar", dir);
  r = run_mmdebstrap (a, tar, err);
  if (r == 0)
    r = import_debian (s, a, tar, out, err);
  gsi_rm_rf_at (AT_FDCWD, dir, NULL);
  return r < 0 ? gsi_error_wrap (err, "bootstrap debian %s", a->suite) : 0;
}

int
cmd_bootstrap (int argc, char **argv, gsi_error *err)
{
  boot_args a = { NULL, "minbase", DEFAULT_MIRROR, "main", NULL, -1, GSI_STRVEC_INIT, GSI_STRVEC_INIT };
  cleanup_store gsi_store *store = NULL;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_bootstrap_help ();
      return 0;
    }
  r = parse_boot_args (&a, argc, argv, err);
  if (r == 0 && geteuid () != 0)
    r = gsi_error_set (err, 0, "bootstrap: needs root (mmdebstrap installs packages in a chroot)");
  if (r == 0)
    r = open_store (&store, err);
  if (r == 0)
    r = bootstrap (store, &a, &d, err);
  if (r == 0)
    printf ("%s\n", d.digest);
  gsi_descriptor_clear (&d);
  gsi_strvec_clear (&a.tags);
  gsi_strvec_clear (&a.aptopts);
  return r == CLI_USAGE ? CLI_USAGE : (r < 0 ? CLI_FAIL : 0);
}
