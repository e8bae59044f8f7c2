/* gsi run: run a command in an image, in the sandbox, on a throwaway overlay.  */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/fsutil.h"
#include "oci/image.h"
#include "oci/layer.h"
#include "oci/store.h"
#include "sandbox/sandbox.h"
#include "util/strvec.h"
#include "util/xalloc.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Docker's exit codes for a container that never ran its command.  */
#define EXIT_SETUP_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static void
print_run_help (void)
{
  printf ("Usage: gsi [--root DIR] run [OPTIONS] REF [COMMAND [ARG...]]\n\n"
          "Runs a command in the image REF (a tag or a manifest digest), in new mount, PID, IPC and\n"
          "UTS namespaces, on an overlay of the image's layers with a throwaway upper dir: nothing\n"
          "the command writes is kept (--rm is implied).  The command is the image's Entrypoint\n"
          "followed by COMMAND [ARG...] when given, else by the image's Cmd.  The image's Env,\n"
          "WorkingDir and User apply unless overridden.  Needs root.\n\n"
          "Options:\n"
          "  -u, --user USER[:GROUP]   run as this user (a name from the image's /etc/passwd, or a\n"
          "                            number)\n"
          "      --network host|none   host (default): the host's network; none: only lo\n"
          "  -e, --env K=V             set an environment variable (repeatable); K alone takes $K\n"
          "                            from gsi's environment, and is dropped when that is unset\n"
          "  -w, --workdir DIR         working directory (absolute; created when missing)\n"
          "  -i, --interactive         connect stdin (default: /dev/null)\n"
          "      --entrypoint CMD      run CMD instead of the image's Entrypoint, and do not use its\n"
          "                            Cmd; --entrypoint= (empty) runs COMMAND alone\n"
          "      --rm                  accepted for docker compatibility; always the case\n\n"
          "stdout and stderr are passed through.  The exit status is the command's (128+N when\n"
          "killed by signal N), or 125 when the sandbox could not be set up, 126 when the command\n"
          "cannot be executed, 127 when it is not found.\n");
}

typedef struct run_args
{
  const char *user;
  const char *workdir;
  const char *entrypoint; /* NULL: the image's; "": none */
  gsi_sandbox_network network;
  gsi_strvec env;
  bool interactive;
  bool help;
  const char *ref;
  char **cmd; /* argv after REF */
  int n_cmd;
} run_args;

static int
open_store (gsi_store **store, gsi_error *err)
{
  cleanup_free char *root = gsi_store_default_root (err);

  if (root == NULL)
    return -1;
  return gsi_store_open (root, store, err);
}

static void
add_env_arg (run_args *a, const char *kv)
{
  const char *v;

  if (strchr (kv, '='))
    {
      gsi_strvec_push (&a->env, kv);
      return;
    }
  v = getenv (kv);
  if (v)
    gsi_strvec_pushf (&a->env, "%s=%s", kv, v);
}

enum
{
  OPT_NETWORK = 256,
  OPT_RM,
  OPT_ENTRYPOINT,
};

static int
parse_run_option (run_args *a, int c, const char *cmd, gsi_error *err)
{
  switch (c)
    {
    case 'u':
      a->user = optarg;
      return 0;
    case 'e':
      add_env_arg (a, optarg);
      return 0;
    case 'w':
      if (optarg[0] != '/')
        return cli_usage (err, cmd, "--workdir must be an absolute path, got `%s`", optarg);
      a->workdir = optarg;
      return 0;
    case 'i':
      a->interactive = true;
      return 0;
    case 'h':
      a->help = true;
      return 0;
    case OPT_RM:
      return 0;
    case OPT_ENTRYPOINT:
      a->entrypoint = optarg;
      return 0;
    case OPT_NETWORK:
      if (strcmp (optarg, "host") == 0)
        a->network = GSI_SANDBOX_NET_HOST;
      else if (strcmp (optarg, "none") == 0)
        a->network = GSI_SANDBOX_NET_NONE;
      else
        return cli_usage (err, cmd, "--network must be host or none, got `%s`", optarg);
      return 0;
    default:
      return cli_usage (err, cmd, "unknown option");
    }
}

static int
parse_run_args (run_args *a, int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "user", required_argument, NULL, 'u' },          { "env", required_argument, NULL, 'e' },
    { "workdir", required_argument, NULL, 'w' },       { "interactive", no_argument, NULL, 'i' },
    { "network", required_argument, NULL, OPT_NETWORK }, { "rm", no_argument, NULL, OPT_RM },
    { "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
    { "help", no_argument, NULL, 'h' },                { NULL, 0, NULL, 0 },
  };
  int c;

  optind = 0;
  /* "+": options end at REF, so the command's own options stay its own.  */
  while ((c = getopt_long (argc, argv, "+u:e:w:ih", opts, NULL)) != -1)
    if (parse_run_option (a, c, argv[0], err) < 0)
      return CLI_USAGE;
  if (a->help)
    return 0;
  if (optind >= argc)
    return cli_usage (err, argv[0], "expects an image REF");
  a->ref = argv[optind];
  a->cmd = argv + optind + 1;
  a->n_cmd = argc - optind - 1;
  return 0;
}

/* ---- unpacked layers ---------------------------------------------------------------------------- */

static bool
is_dir (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* The layer as an overlay lower dir: extracted once, into a temp dir that is renamed into
 * layers/<diff_id hex> only when complete, so a half-extracted layer is never used.  */
static int
ensure_unpacked (gsi_store *s, const gsi_descriptor *layer, const char *diff_id, char **out, gsi_error *err)
{
  cleanup_free char *path = gsi_store_layer_path (s, diff_id, err);
  cleanup_free char *blob = NULL;
  cleanup_free char *tmp = NULL;

  if (path == NULL)
    return -1;
  if (!is_dir (path))
    {
      blob = gsi_store_blob_path (s, layer->digest, err);
      if (blob == NULL || gsi_store_mkdtemp (s, "unpack-", &tmp, err) < 0)
        return -1;
      chmod (tmp, 0755);
      if (gsi_layer_apply (blob, tmp, GSI_APPLY_OVERLAY_WHITEOUTS, NULL, err) < 0)
        {
          gsi_rm_rf_at (AT_FDCWD, tmp, NULL);
          return gsi_error_wrap (err, "unpack layer `%s`", layer->digest);
        }
      /* Another gsi may have got there first: its dir has the same content, keep it.  */
      if (rename (tmp, path) < 0)
        {
          int saved = errno;
          gsi_rm_rf_at (AT_FDCWD, tmp, NULL);
          if (saved != EEXIST && saved != ENOTEMPTY)
            return gsi_error_set (err, saved, "rename `%s` to `%s`", tmp, path);
        }
    }
  *out = steal_pointer (&path);
  return 0;
}

/* The lower dirs, top layer first as overlayfs wants them.  */
static int
unpack_image (gsi_store *s, const gsi_manifest *m, const gsi_image_config *cfg, gsi_strvec *lowers, gsi_error *err)
{
  if (m->n_layers != cfg->diff_ids.n)
    return gsi_error_set (err, 0, "the manifest has %zu layers but the config %zu diff_ids", m->n_layers,
                          cfg->diff_ids.n);
  for (size_t i = m->n_layers; i-- > 0;)
    {
      char *dir = NULL;
      if (ensure_unpacked (s, &m->layers[i], cfg->diff_ids.v[i], &dir, err) < 0)
        return -1;
      gsi_strvec_push_owned (lowers, dir);
    }
  return 0;
}

/* ---- the run ------------------------------------------------------------------------------------ */

static void
build_argv (const run_args *a, const gsi_image_config *cfg, gsi_strvec *out)
{
  /* As docker: --entrypoint replaces the image's Entrypoint and drops its Cmd.  */
  if (a->entrypoint == NULL)
    for (size_t i = 0; i < cfg->entrypoint.n; i++)
      gsi_strvec_push (out, cfg->entrypoint.v[i]);
  else if (a->entrypoint[0])
    gsi_strvec_push (out, a->entrypoint);
  if (a->n_cmd > 0)
    for (int i = 0; i < a->n_cmd; i++)
      gsi_strvec_push (out, a->cmd[i]);
  else if (a->entrypoint == NULL)
    for (size_t i = 0; i < cfg->cmd.n; i++)
      gsi_strvec_push (out, cfg->cmd.v[i]);
}

/* The image's Env with --env on top; PATH as Docker sets it when the image has none.  */
static void
build_env (const run_args *a, gsi_image_config *cfg, gsi_strvec *out)
{
  for (size_t i = 0; i < a->env.n; i++)
    {
      const char *eq = strchr (a->env.v[i], '=');
      cleanup_free char *key = xstrndup (a->env.v[i], (size_t) (eq - a->env.v[i]));
      gsi_image_config_set_env (cfg, key, eq + 1);
    }
  if (gsi_image_config_get_env (cfg, "PATH") == NULL)
    gsi_image_config_set_env (cfg, "PATH", DEFAULT_PATH);
  for (size_t i = 0; i < cfg->env.n; i++)
    gsi_strvec_push (out, cfg->env.v[i]);
}

/* The upper dir is the container's "/": it takes the attributes of the image's root rather than
 * mkdtemp's 0700, or non-root users could not reach anything.  */
static void
copy_root_attrs (const gsi_strvec *lowers, const char *upper)
{
  struct stat st;

  if (lowers->n > 0 && stat (lowers->v[0], &st) == 0 && chown (upper, st.st_uid, st.st_gid) == 0)
    chmod (upper, st.st_mode & 07777);
  else
    chmod (upper, 0755);
}

static int
make_run_dirs (gsi_store *s, const gsi_strvec *lowers, char **rundir, char **upper, char **work, gsi_error *err)
{
  if (gsi_store_mkdtemp (s, "run-", rundir, err) < 0)
    return -1;
  *upper = xasprintf ("%s/upper", *rundir);
  *work = xasprintf ("%s/work", *rundir);
  if (mkdir (*upper, 0755) < 0)
    return gsi_error_set (err, errno, "mkdir `%s`", *upper);
  if (mkdir (*work, 0700) < 0)
    return gsi_error_set (err, errno, "mkdir `%s`", *work);
  copy_root_attrs (lowers, *upper);
  return 0;
}

/* Docker's statuses for a command that never ran, so scripts can tell them from its own.  */
static int
setup_failure_status (const gsi_error *err)
{
  if (err->msg == NULL || strstr (err->msg, "exec `") == NULL)
    return EXIT_SETUP_FAILED;
  if (err->code == EACCES || err->code == EPERM || err->code == ENOEXEC || err->code == EISDIR)
    return EXIT_CANNOT_EXEC;
  return EXIT_NOT_FOUND;
}

static int
run_sandboxed (const run_args *a, gsi_image_config *cfg, const gsi_strvec *lowers, const char *rundir,
               const char *upper, const char *work, gsi_error *err)
{
  cleanup_strvec gsi_strvec argv = GSI_STRVEC_INIT;
  cleanup_strvec gsi_strvec env = GSI_STRVEC_INIT;
  gsi_sandbox_opts so = GSI_SANDBOX_OPTS_INIT;
  int status = -1;

  build_argv (a, cfg, &argv);
  if (argv.n == 0)
    return cli_usage (err, "run", "the image `%s` has no Entrypoint or Cmd: give a COMMAND after it", a->ref);
  build_env (a, cfg, &env);
  so.lower_dirs = lowers->v;
  so.n_lower = lowers->n;
  so.upper_dir = upper;
  so.work_dir = work;
  so.scratch_dir = rundir;
  so.argv = argv.v;
  so.env = env.v;
  so.cwd = a->workdir ? a->workdir : (cfg->working_dir && *cfg->working_dir ? cfg->working_dir : "/");
  /* Always resolved, root ("") included: HOME comes from the image's passwd, as in Docker.  */
  so.user = a->user ? a->user : (cfg->user ? cfg->user : "");
  so.network = a->network;
  so.stdin_fd = a->interactive ? STDIN_FILENO : -1;
  so.stdout_fd = STDOUT_FILENO;
  so.stderr_fd = STDERR_FILENO;
  fflush (stdout);
  fflush (stderr);
  if (gsi_sandbox_run (&so, &status, err) < 0)
    return setup_failure_status (err);
  return status;
}

static int
run_image (gsi_store *s, const run_args *a, gsi_error *err)
{
  cleanup_strvec gsi_strvec lowers = GSI_STRVEC_INIT;
  cleanup_free char *rundir = NULL;
  cleanup_free char *upper = NULL;
  cleanup_free char *work = NULL;
  gsi_image_config cfg;
  gsi_manifest m;
  int r;

  gsi_image_config_init (&cfg);
  gsi_manifest_init (&m);
  r = gsi_store_load_image (s, a->ref, NULL, &m, &cfg, err) < 0 ? CLI_FAIL : 0;
  if (r == 0)
    r = unpack_image (s, &m, &cfg, &lowers, err) < 0 ? CLI_FAIL : 0;
  if (r == 0)
    r = make_run_dirs (s, &lowers, &rundir, &upper, &work, err) < 0 ? CLI_FAIL : 0;
  if (r == 0)
    r = run_sandboxed (a, &cfg, &lowers, rundir, upper, work, err);
  if (rundir)
    gsi_rm_rf_at (AT_FDCWD, rundir, NULL);
  gsi_manifest_clear (&m);
  gsi_image_config_clear (&cfg);
  return r;
}

int
cmd_run (int argc, char **argv, gsi_error *err)
{
  run_args a = { .network = GSI_SANDBOX_NET_HOST, .env = GSI_STRVEC_INIT };
  cleanup_store gsi_store *store = NULL;
  int r;

  /* Options end at REF: a --help after it is the command's.  */
  r = parse_run_args (&a, argc, argv, err);
  if (r == 0 && a.help)
    print_run_help ();
  else if (r == 0)
    {
      r = open_store (&store, err) < 0 ? CLI_FAIL : 0;
      if (r == 0)
        r = run_image (store, &a, err);
    }
  gsi_strvec_clear (&a.env);
  return r;
}
