/* gsi build: build an image from a Containerfile into the store.  */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "build/build.h"
#include "oci/image.h"
#include "oci/store.h"
#include "registry/client.h"
#include "registry/registry.h"
#include "util/strvec.h"
#include "util/xalloc.h"

/* --pull: the registry client is opened at the first pull, so a build from the store alone never
 * reads registries.yaml or credentials.  */
typedef struct build_puller
{
  gsi_reg_client_opts copts;
  gsi_reg_client *client;
  gsi_strvec done; /* references pulled in this build: --pull always fetches each once */
  gsi_build_log_fn log;
  void *log_ctx;
} build_puller;

typedef struct build_args
{
  gsi_build_opts o;
  build_puller puller;
  const char *root;
  gsi_strvec tags;
  gsi_strvec build_args;
  gsi_strvec secret_ids;
  gsi_strvec secret_srcs;
  gsi_build_secret *secrets;
  bool quiet;
  bool json;  /* --log-format json: one JSON object per line on stderr */
  bool tty;   /* stderr is a terminal: step headers stand out */
} build_args;

static void
build_args_clear (build_args *a)
{
  gsi_strvec_clear (&a->tags);
  gsi_strvec_clear (&a->build_args);
  gsi_strvec_clear (&a->secret_ids);
  gsi_strvec_clear (&a->secret_srcs);
  free (a->secrets);
  gsi_reg_client_close (a->puller.client);
  gsi_strvec_clear (&a->puller.done);
}

static void
print_build_help (void)
{
  printf ("Usage: gsi [--root DIR] build [OPTIONS] CONTEXT\n\n"
          "Builds the image a Containerfile describes, without a daemon, into the image store.\n\n"
          "Options:\n"
          "  -f, --file FILE             the Containerfile (default: CONTEXT/Containerfile, else\n"
          "                              CONTEXT/Dockerfile)\n"
          "  -t, --tag REF               tag the result (repeatable)\n"
          "      --build-arg K=V         set a build argument (repeatable); K alone takes $K\n"
          "      --target STAGE          build this stage instead of the last\n"
          "      --no-cache              do not use the step cache\n"
          "      --network host|none     network for RUN (default: host)\n"
          "      --source-date-epoch N   created times N, layer mtimes clamped to N (default:\n"
          "                              $SOURCE_DATE_EPOCH when set)\n"
          "      --compression gzip|zstd layer compression (default: gzip)\n"
          "      --secret id=ID,src=FILE a secret for RUN --mount=type=secret (repeatable)\n"
          "      --pull missing|always|never\n"
          "                              pull FROM and COPY --from images from their registry\n"
          "                              when the store lacks them (default), before every\n"
          "                              build, or never\n"
          "      --tls-verify=BOOL       check registries' TLS certificates when pulling\n"
          "                              (default: true, or the registries.yaml setting)\n"
          "      --authfile FILE         registry credentials file for pulls\n"
          "      --root DIR              the image store (default: $GSI_ROOT, else the store's default)\n"
          "  -q, --quiet                 print only the image digest\n"
          "      --log-format text|json  progress as plain lines (default; step headers in bold\n"
          "                              on a terminal) or one JSON object per line\n");
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

static int
parse_secret (build_args *a, const char *spec, const char *cmd, gsi_error *err)
{
  cleanup_free char *copy = xstrdup (spec);
  char *save = NULL;
  const char *id = NULL, *src = NULL;

  for (char *f = strtok_r (copy, ",", &save); f; f = strtok_r (NULL, ",", &save))
    {
      if (strncmp (f, "id=", 3) == 0)
        id = f + 3;
      else if (strncmp (f, "src=", 4) == 0 || strncmp (f, "source=", 7) == 0)
        src = strchr (f, '=') + 1;
      else if (strncmp (f, "type=", 5) == 0 && strcmp (f, "type=file") == 0)
        continue;
      else
        return cli_usage (err, cmd, "--secret: unknown field `%s` (want id=ID,src=FILE)", f);
    }
  if (id == NULL || !*id || src == NULL || !*src)
    return cli_usage (err, cmd, "--secret wants id=ID,src=FILE, got `%s`", spec);
  gsi_strvec_push (&a->secret_ids, id);
  gsi_strvec_push (&a->secret_srcs, src);
  return 0;
}

static int
add_build_arg (build_args *a, const char *kv)
{
  if (strchr (kv, '='))
    {
      gsi_strvec_push (&a->build_args, kv);
      return 0;
    }
  /* docker: `--build-arg NAME` takes the value from the environment, and is dropped when unset.  */
  const char *v = getenv (kv);
  if (v)
    gsi_strvec_pushf (&a->build_args, "%s=%s", kv, v);
  return 0;
}

enum
{
  OPT_BUILD_ARG = 256,
  OPT_TARGET,
  OPT_NO_CACHE,
  OPT_NETWORK,
  OPT_EPOCH,
  OPT_COMPRESSION,
  OPT_SECRET,
  OPT_ROOT,
  OPT_LOG_FORMAT,
  OPT_PULL,
  OPT_TLS_VERIFY,
  OPT_AUTHFILE,
};

static int
parse_option (build_args *a, int c, const char *cmd, gsi_error *err)
{
  switch (c)
    {
    case 'f':
      a->o.containerfile = optarg;
      return 0;
    case 't':
      gsi_strvec_push (&a->tags, optarg);
      return 0;
    case 'q':
      a->quiet = true;
      return 0;
    case OPT_BUILD_ARG:
      return add_build_arg (a, optarg);
    case OPT_TARGET:
      a->o.target = optarg;
      return 0;
    case OPT_NO_CACHE:
      a->o.no_cache = true;
      return 0;
    case OPT_NETWORK:
      if (strcmp (optarg, "host") == 0)
        a->o.network = GSI_SANDBOX_NET_HOST;
      else if (strcmp (optarg, "none") == 0)
        a->o.network = GSI_SANDBOX_NET_NONE;
      else
        return cli_usage (err, cmd, "--network must be host or none, got `%s`", optarg);
      return 0;
    case OPT_EPOCH:
      if (parse_epoch (optarg, &a->o.source_date_epoch) < 0)
        return cli_usage (err, cmd, "--source-date-epoch wants seconds since 1970, got `%s`", optarg);
      return 0;
    case OPT_COMPRESSION:
      if (strcmp (optarg, "gzip") == 0)
        a->o.compression = GSI_COMP_GZIP;
      else if (strcmp (optarg, "zstd") == 0)
        a->o.compression = GSI_COMP_ZSTD;
      else
        return cli_usage (err, cmd, "--compression must be gzip or zstd, got `%s`", optarg);
      return 0;
    case OPT_SECRET:
      return parse_secret (a, optarg, cmd, err);
    case OPT_ROOT:
      a->root = optarg;
      return 0;
    case OPT_LOG_FORMAT:
      if (strcmp (optarg, "json") == 0)
        a->json = true;
      else if (strcmp (optarg, "text") == 0)
        a->json = false;
      else
        return cli_usage (err, cmd, "--log-format must be text or json, got `%s`", optarg);
      return 0;
    case OPT_PULL:
      if (strcmp (optarg, "missing") == 0)
        a->o.pull_policy = GSI_PULL_MISSING;
      else if (strcmp (optarg, "always") == 0)
        a->o.pull_policy = GSI_PULL_ALWAYS;
      else if (strcmp (optarg, "never") == 0)
        a->o.pull_policy = GSI_PULL_NEVER;
      else
        return cli_usage (err, cmd, "--pull must be missing, always or never, got `%s`", optarg);
      return 0;
    case OPT_TLS_VERIFY:
      if (cli_parse_bool (optarg, &a->puller.copts.tls_verify) < 0)
        return cli_usage (err, cmd, "--tls-verify must be true or false, got `%s`", optarg);
      return 0;
    case OPT_AUTHFILE:
      a->puller.copts.authfile = optarg;
      return 0;
    default:
      return cli_usage (err, cmd, "unknown option");
    }
}

static int
parse_args (build_args *a, int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "file", required_argument, NULL, 'f' },          { "tag", required_argument, NULL, 't' },
    { "quiet", no_argument, NULL, 'q' },               { "build-arg", required_argument, NULL, OPT_BUILD_ARG },
    { "target", required_argument, NULL, OPT_TARGET }, { "no-cache", no_argument, NULL, OPT_NO_CACHE },
    { "network", required_argument, NULL, OPT_NETWORK },
    { "source-date-epoch", required_argument, NULL, OPT_EPOCH },
    { "compression", required_argument, NULL, OPT_COMPRESSION },
    { "secret", required_argument, NULL, OPT_SECRET }, { "root", required_argument, NULL, OPT_ROOT },
    { "log-format", required_argument, NULL, OPT_LOG_FORMAT },
    { "pull", required_argument, NULL, OPT_PULL },     { "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY },
    { "authfile", required_argument, NULL, OPT_AUTHFILE },
    { NULL, 0, NULL, 0 },
  };
  const char *env_epoch = getenv ("SOURCE_DATE_EPOCH");
  int c;

  a->o.source_date_epoch = -1;
  a->o.compression = GSI_COMP_GZIP;
  a->o.network = GSI_SANDBOX_NET_HOST;
  if (env_epoch && *env_epoch && parse_epoch (env_epoch, &a->o.source_date_epoch) < 0)
    return cli_usage (err, argv[0], "SOURCE_DATE_EPOCH must be seconds since 1970, got `%s`", env_epoch);
  optind = 0;
  while ((c = getopt_long (argc, argv, "f:t:q", opts, NULL)) != -1)
    if (parse_option (a, c, argv[0], err) < 0)
      return CLI_USAGE;
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one CONTEXT directory");
  a->o.context_dir = argv[optind];
  return 0;
}

/* "[3/7] RUN ..." starts a step: returns 1 and fills step/total.  */
static int
step_header (const char *line, unsigned *step, unsigned *total)
{
  int n = 0;
  return sscanf (line, "[%u/%u]%n", step, total, &n) == 2 && n > 0;
}

static void
print_line (void *ctx, const char *line)
{
  const build_args *a = ctx;
  unsigned step, total;

  if (a->json)
    {
      char now[32];
      gsi_format_time ((int64_t) time (NULL), now);
      json_t *o = json_pack ("{s:s, s:s}", "time", now, "msg", line);
      if (o && step_header (line, &step, &total))
        {
          json_object_set_new (o, "step", json_integer (step));
          json_object_set_new (o, "total", json_integer (total));
        }
      char *text = o ? json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
      if (text)
        fprintf (stderr, "%s\n", text);
      free (text);
      json_decref (o);
      return;
    }
  if (a->tty && step_header (line, &step, &total))
    fprintf (stderr, "\033[1m%s\033[0m\n", line);
  else
    fprintf (stderr, "%s\n", line);
}

static void
pull_progress (void *ctx, const char *line)
{
  const build_puller *p = ctx;

  if (p->log)
    p->log (p->log_ctx, line);
}

/* The executor's pull callback: gsi_registry_pull with build's registry options, tagging ref so
 * the executor's lookup of ref finds the image.  */
static int
build_pull (void *ctx, const char *ref, gsi_error *err)
{
  build_args *a = ctx;
  build_puller *p = &a->puller;
  gsi_pull_opts po = { .progress = pull_progress, .progress_ctx = p };

  for (size_t i = 0; i < p->done.n; i++)
    if (strcmp (p->done.v[i], ref) == 0)
      return 0;
  if (p->client == NULL && gsi_reg_client_open (&p->copts, &p->client, err) < 0)
    return -1;
  if (gsi_registry_pull (p->client, a->o.store, ref, &po, NULL, NULL, err) < 0)
    return -1;
  gsi_strvec_push (&p->done, ref);
  return 0;
}

static int
open_store (const char *root, gsi_store **store, gsi_error *err)
{
  cleanup_free char *def = NULL;

  if (root == NULL)
    {
      def = gsi_store_default_root (err);
      if (def == NULL)
        return -1;
      root = def;
    }
  return gsi_store_open (root, store, err);
}

int
cmd_build (int argc, char **argv, gsi_error *err)
{
  build_args a = { .puller.copts = GSI_REG_CLIENT_OPTS_INIT };
  gsi_build_result res;
  cleanup_store gsi_store *store = NULL;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_build_help ();
      return 0;
    }
  r = parse_args (&a, argc, argv, err);
  if (r == 0)
    r = open_store (a.root, &store, err) < 0 ? CLI_FAIL : 0;
  if (r == 0)
    {
      a.secrets = xcalloc (a.secret_ids.n + 1, sizeof (gsi_build_secret));
      for (size_t i = 0; i < a.secret_ids.n; i++)
        a.secrets[i] = (gsi_build_secret){ a.secret_ids.v[i], a.secret_srcs.v[i] };
      a.o.store = store;
      a.o.tags = (const char *const *) a.tags.v;
      a.o.n_tags = a.tags.n;
      a.o.build_args = &a.build_args;
      a.o.secrets = a.secrets;
      a.o.n_secrets = a.secret_ids.n;
      a.o.log = a.quiet ? NULL : print_line;
      a.o.log_ctx = &a;
      a.o.pull = build_pull;
      a.o.pull_ctx = &a;
      a.puller.log = a.o.log;
      a.puller.log_ctx = &a;
      a.tty = isatty (STDERR_FILENO);
      r = gsi_build (&a.o, &res, err) < 0 ? CLI_FAIL : 0;
    }
  if (r == 0)
    {
      if (!a.quiet)
        {
          cleanup_free char *done = xasprintf ("built %s (%zu steps, %zu from cache)", res.manifest_digest, res.steps,
                                               res.cached);
          print_line (&a, done);
        }
      printf ("%s\n", res.manifest_digest);
    }
  build_args_clear (&a);
  return r;
}
