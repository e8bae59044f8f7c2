/* gsi catalog build: builds catalog images of one release, parents first, up to N at once.
 *
 * Each image is built by a worker process forked from this one.  The worker runs the steps as
 * child processes of the gsi binary itself (/proc/self/exe), since the engine moves the process
 * that builds into a private mount namespace and a failed build must not take the others down:
 *   1. gsi build -f ContainerFiles/IMAGE -t REGISTRY/IMAGE:RELEASE-candidate --build-arg ... ROOT
 *   1b. the CVE patches of patches/IMAGE.yaml for the release, when it has any: a second gsi build
 *      FROM the candidate (apt-get install --only-upgrade for deb, pip install --upgrade into the
 *      venv for pypi, falling back to the newest the index has when it cannot meet a minimum), then
 *      every declared fix is checked in the image's inventory (vuln/inventory.h):
 *      one that did not land fails the image with the package, the wanted and the found versions
 *   2. gsi run --network none CANDIDATE dpkg-query -W -f '${Version}' SERVICE_PACKAGE  (the version)
 *   3. the OCI labels are set in a new config (gsi_catalog_relabel): title, description, version,
 *      revision (the newest commit that touched the image's inputs, see image_revision), created (the config's created time, stable under
 *      the cache, so an unchanged rebuild gives the same digest) and source
 *   4. gsi run --network none CANDIDATE SMOKE...  (as the image's user)
 *   4b. its CycloneDX SBOM and (with a vulnerability database) its scan report are written beside
 *      the build report, as IMAGE.RELEASE.cdx.json and IMAGE.RELEASE.scan.json
 *   5. on success the image is tagged RELEASE-latest and RELEASE-DATE; the candidate tag goes.
 *   6. with --push, both tags are pushed to the registry (registry.h), blobs the registry has skipped.
 * Before any worker starts, every image that has a RELEASE-latest is asked for its apt index URIs
 * and installed packages (gsi run); when the archive has a newer version of one of them the image
 * is built with --no-cache, so a Debian update reaches it although its steps are cached (archive.h).
 * The worker leaves its result in DIR/IMAGE.json; its output goes to DIR/IMAGE.log.  */
#include "cli.h"
#include "cmd_catalog.h"
#include "cmd_vuln.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/archive.h"
#include "build/fsutil.h"
#include "catalog/catalog.h"
#include "oci/image.h"
#include "oci/store.h"
#include "registry/registry.h"
#include "util/buf.h"
#include "vuln/inventory.h"
#include "vuln/report.h"
#include "vuln/sbom.h"
#include "vuln/version.h"
#include "util/xalloc.h"

#define SELF_EXE "/proc/self/exe"
#define MAX_CAPTURE ((size_t) 1 << 20)
#define SMOKE_LINES_SHOWN 6
#define DEFAULT_REPORT_NAME "build-report.json"

#ifndef GSI_VERSION
#define GSI_VERSION "unknown"
#endif

typedef enum job_state
{
  JOB_OUT,      /* not requested, not an ancestor of a requested image */
  JOB_PENDING,
  JOB_RUNNING,
  JOB_DONE,
} job_state;

typedef struct job
{
  job_state state;
  pid_t pid;
  char *status;       /* built, unchanged, failed, skipped, not available */
  char *reason;
  char digest[GSI_DIGEST_BUF];
  int64_t size;
  double started, duration;
  gsi_strvec tags;
  char *revision;     /* the label: see image_revision */
  char *updates;      /* "N package updates in the archive: ..." when the archive moved on, else NULL */
  json_t *details;    /* more report fields: updates [{name, installed, available}], patches
                         [{package, ecosystem, fixed, found, advisories}], push {digest, ...} */
  bool bad;           /* failed, or skipped because of a failure (not because of "not available") */
} job;

typedef struct build_ctx
{
  const char *file;
  const char *release;
  int jobs;
  bool all, keep_going, no_cache, no_update_check, push;
  const char *registry; /* --registry, else NULL */
  const char *report;   /* --report, else REPORTS_DIR/build-report.json */
  const char *db;       /* --db, else NULL */
  gsi_strvec wanted;

  gsi_catalog *c;
  gsi_catalog_dag *d;
  const gsi_catalog_release *rel;
  job *jobs_v;
  char date[16];
  char *revision;
  char *workdir;
  bool stopping;
  gsi_apt_indexes *ix; /* the package update check's indexes, NULL when it is off */
  char *views_dir;     /* STORE/gsi-private/apt-indexes/views: the archive's view per image digest */
  char *reports_dir;   /* absolute: the build report's folder, which gets every image's SBOM and scan */
  char *report_owned;  /* the default report path, when --report was not given */
  char *vulndb;        /* the vulnerability database: --db, else the store's */
  bool scan;           /* it exists: images get scan reports */
} build_ctx;

static double
now_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---- running gsi and other programs ---- */

/* Runs argv (argv[0] a path) with stdin /dev/null, stderr to log_fd, stdout to
 * log_fd or, with out, into out.  Returns the exit status (128+N for signal N), -1 when it could not
 * start.  */
static int
run_cmd (const char *const *argv, int log_fd, gsi_buf *out, gsi_error *err)
{
  int pipefd[2] = { -1, -1 }, status = 0;
  pid_t pid;

  if (out && pipe2 (pipefd, O_CLOEXEC) < 0)
    return gsi_error_set (err, errno, "pipe");
  pid = fork ();
  if (pid < 0)
    return gsi_error_set (err, errno, "fork");
  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      dup2 (null, 0);
      dup2 (out ? pipefd[1] : log_fd, 1);
      dup2 (log_fd, 2);
      execv (argv[0], (char *const *) argv);
      _exit (127);
    }
  if (out)
    {
      char buf[4096];
      ssize_t n;
      close (pipefd[1]);
      while ((n = read (pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && out->len < MAX_CAPTURE)
          gsi_buf_add (out, buf, (size_t) n);
      close (pipefd[0]);
    }
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return gsi_error_set (err, errno, "waitpid");
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/* argv for this gsi binary: "gsi" followed by the arguments.  */
static void
gsi_argv (gsi_strvec *v, const char *first)
{
  gsi_strvec_push (v, SELF_EXE);
  gsi_strvec_push (v, first);
}

static int
run_gsi (gsi_strvec *v, int log_fd, gsi_buf *out, gsi_error *err)
{
  return run_cmd ((const char *const *) v->v, log_fd, out, err);
}

/* The output of `git -C root ARGS...`, trimmed, or NULL when git is missing, fails or prints nothing.  */
static char *
git_output (const char *root, const char *const *args)
{
  cleanup_strvec gsi_strvec argv = GSI_STRVEC_INIT;
  int null = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  gsi_buf out = GSI_BUF_INIT;
  cleanup_error gsi_error err = GSI_ERROR_INIT;
  int r;

  gsi_strvec_push (&argv, "/usr/bin/git");
  gsi_strvec_push (&argv, "-C");
  gsi_strvec_push (&argv, root);
  for (; *args; args++)
    gsi_strvec_push (&argv, *args);
  r = access (argv.v[0], X_OK) == 0 ? run_cmd ((const char *const *) argv.v, null, &out, &err) : -1;
  close (null);
  gsi_buf_rtrim (&out, "\n");
  if (r != 0 || out.len == 0)
    {
      gsi_buf_release (&out);
      return NULL;
    }
  return gsi_buf_detach (&out, NULL);
}

static char *
git_revision (const char *root)
{
  static const char *const args[] = { "rev-parse", "HEAD", NULL };
  return git_output (root, args);
}

/* The newest commit that changed what an image is made of: its Containerfile and its ancestors',
 * their scripts/images/NAME folders, and scripts/images/common, which several images copy.  Using
 * HEAD instead would give every image a new label, so a new digest, on every commit of the
 * repository; this way a commit relabels only the images it touches and their descendants.  HEAD
 * when git knows none of those paths (they are not committed yet).  */
static char *
image_revision (build_ctx *b, size_t image)
{
  cleanup_strvec gsi_strvec args = GSI_STRVEC_INIT;
  cleanup_free bool *want = xcalloc (b->d->n, sizeof *want);
  char *rev;

  want[image] = true;
  gsi_catalog_dag_close (b->d, want);
  gsi_strvec_push (&args, "log");
  gsi_strvec_push (&args, "-1");
  gsi_strvec_push (&args, "--format=%H");
  gsi_strvec_push (&args, "--");
  gsi_strvec_push (&args, "scripts/images/common");
  for (size_t i = 0; i < b->d->n; i++)
    if (want[i])
      {
        gsi_strvec_pushf (&args, "ContainerFiles/%s", b->c->images[i].name);
        gsi_strvec_pushf (&args, "scripts/images/%s", b->c->images[i].name);
      }
  rev = git_output (b->c->root, (const char *const *) args.v);
  return rev ? rev : (b->revision ? xstrdup (b->revision) : NULL);
}

/* ---- the worker: one image ---- */

typedef struct worker
{
  build_ctx *b;
  size_t image;
  const gsi_catalog_image *im;
  int log_fd;
  char *candidate;
  char *latest;
  char *immutable;
  char *log_path;
  gsi_buf reason;
} worker;

/* The last "gsi: ..." line of a log, without the prefix (malloc'd), or NULL.  */
static char *
last_error_line (const char *path)
{
  cleanup_file FILE *f = fopen (path, "r");
  char *line = NULL, *last = NULL;
  size_t cap = 0;
  ssize_t n;

  while (f && (n = getline (&line, &cap, f)) >= 0)
    if (strncmp (line, "gsi: ", 5) == 0)
      {
        free (last);
        last = xstrndup (line + 5, (size_t) n - 5 - (line[n - 1] == '\n'));
      }
  /* The engine puts the step's output on the lines after this one: the log has it.  */
  size_t len = last ? strlen (last) : 0;
  if (len > 14 && strcmp (last + len - 14, "; last output:") == 0)
    last[len - 14] = '\0';
  free (line);
  return last;
}

static int
worker_build (worker *w, gsi_error *err)
{
  cleanup_strvec gsi_strvec v = GSI_STRVEC_INIT;
  cleanup_free char *cf = gsi_catalog_containerfile (w->b->c, w->image);
  int r;

  gsi_argv (&v, "build");
  gsi_strvec_push (&v, "-f");
  gsi_strvec_push (&v, cf);
  gsi_strvec_push (&v, "-t");
  gsi_strvec_push (&v, w->candidate);
  for (size_t i = 0; i < w->b->rel->build_args.n; i++)
    gsi_strvec_pushf (&v, "--build-arg=%s", w->b->rel->build_args.v[i]);
  if (w->b->no_cache || w->b->jobs_v[w->image].updates)
    gsi_strvec_push (&v, "--no-cache");
  gsi_strvec_push (&v, w->b->c->root);
  r = run_gsi (&v, w->log_fd, NULL, err);
  if (r < 0)
    return -1;
  if (r != 0)
    {
      cleanup_free char *why = last_error_line (w->log_path);
      gsi_buf_addf (&w->reason, "build failed: %s (see %s)", why ? why : "no message", w->log_path);
    }
  return r;
}

/* ---- CVE patches ---- */

/* A shell word in single quotes: package names are checked by the catalog loader, versions may
 * hold characters the shell would read.  */
static void
add_quoted (gsi_buf *b, const char *s)
{
  gsi_buf_addch (b, '\'');
  for (; *s; s++)
    if (*s == '\'')
      gsi_buf_addstr (b, "'\\''");
    else
      gsi_buf_addch (b, *s);
  gsi_buf_addch (b, '\'');
}

/* The patch step as a Containerfile FROM the candidate: root for the package managers, then the
 * image's own user again.  */
static char *
patch_containerfile (worker *w, const gsi_catalog_patch *p, size_t n, const char *user)
{
  gsi_buf b = GSI_BUF_INIT;
  bool deb = false, pypi = false;

  gsi_buf_addf (&b, "# CVE patches of %s for %s, from %s (written by gsi catalog build)\n", w->im->name,
                w->b->release, w->im->patch_file);
  gsi_buf_addf (&b, "FROM %s\nUSER root\n", w->candidate);
  for (size_t i = 0; i < n; i++)
    deb |= p[i].ecosystem == GSI_ECO_DEB, pypi |= p[i].ecosystem == GSI_ECO_PYPI;
  if (deb)
    {
      gsi_buf_addstr (&b, "RUN export DEBIAN_FRONTEND=noninteractive && apt-get update && "
                          "apt-get install -y --only-upgrade --no-install-recommends");
      for (size_t i = 0; i < n; i++)
        if (p[i].ecosystem == GSI_ECO_DEB)
          gsi_buf_addch (&b, ' '), add_quoted (&b, p[i].package);
      gsi_buf_addstr (&b, " && apt-get clean && rm -rf /var/lib/apt/lists/*\n");
    }
  if (pypi)
    {
      const char *url = w->b->rel->pip_index_url;
      static const char pip[] = "/var/lib/openstack/bin/python3 -m pip install --no-cache-dir --upgrade";
      gsi_buf_addstr (&b, "RUN export PIP_DISABLE_PIP_VERSION_CHECK=1");
      if (url)
        {
          gsi_buf_addstr (&b, " PIP_INDEX_URL=");
          add_quoted (&b, url);
        }
      /* pip ignores a plain-HTTP index unless its host is trusted: an internal mirror usually is.  */
      if (url && strncmp (url, "http://", 7) == 0)
        {
          size_t hl = strcspn (url + 7, "/?#");
          cleanup_free char *host = xstrndup (url + 7, hl);
          gsi_buf_addstr (&b, " PIP_TRUSTED_HOST=");
          add_quoted (&b, host);
        }
      gsi_buf_addf (&b, " && { %s", pip);
      for (size_t i = 0; i < n; i++)
        if (p[i].ecosystem == GSI_ECO_PYPI)
          {
            cleanup_free char *req = xasprintf ("%s>=%s", p[i].package, p[i].fixed);
            gsi_buf_addch (&b, ' ');
            add_quoted (&b, req);
          }
      /* A minimum the index cannot meet makes pip fail without saying which fix; upgrading as far
       * as the index goes lets the check below name the package, the wanted and the found version,
       * as it does for apt.  (pip --upgrade keeps what is installed when the index is out of reach,
       * so then too the check fails, finding the old version.)  */
      gsi_buf_addf (&b, " || { echo 'catalog build: pip cannot meet every declared minimum; upgrading as far as the "
                        "index allows' >&2; %s",
                    pip);
      for (size_t i = 0; i < n; i++)
        if (p[i].ecosystem == GSI_ECO_PYPI)
          gsi_buf_addch (&b, ' '), add_quoted (&b, p[i].package);
      gsi_buf_addstr (&b, "; }; }\n");
    }
  if (user && *user)
    gsi_buf_addf (&b, "USER %s\n", user);
  return gsi_buf_detach (&b, NULL);
}

static int
write_text (const char *path, const char *text, gsi_error *err)
{
  cleanup_file FILE *f = fopen (path, "we");

  if (f == NULL || fputs (text, f) < 0 || fflush (f) != 0)
    return gsi_error_set (err, errno, "write `%s`", path);
  return 0;
}

static int
worker_patch_build (worker *w, const gsi_catalog_patch *p, size_t n, gsi_error *err)
{
  cleanup_strvec gsi_strvec v = GSI_STRVEC_INIT;
  cleanup_free char *ctx = xasprintf ("%s/%s.patch", w->b->workdir, w->im->name);
  cleanup_free char *cf = xasprintf ("%s/Containerfile", ctx);
  cleanup_free char *text = NULL;
  cleanup_store gsi_store *s = NULL;
  cleanup_free char *root = gsi_store_default_root (err);
  gsi_image_config cfg;
  int r;

  gsi_image_config_init (&cfg);
  if (root == NULL || gsi_store_open (root, &s, err) < 0
      || gsi_store_load_image (s, w->candidate, NULL, NULL, &cfg, err) < 0)
    {
      gsi_image_config_clear (&cfg);
      return -1;
    }
  text = patch_containerfile (w, p, n, cfg.user);
  gsi_image_config_clear (&cfg);
  if (mkdir (ctx, 0755) < 0 && errno != EEXIST)
    return gsi_error_set (err, errno, "mkdir `%s`", ctx);
  if (write_text (cf, text, err) < 0)
    return -1;
  dprintf (w->log_fd, "== CVE patches (%s):\n%s", w->im->patch_file, text);
  gsi_argv (&v, "build");
  gsi_strvec_push (&v, "-f");
  gsi_strvec_push (&v, cf);
  gsi_strvec_push (&v, "-t");
  gsi_strvec_push (&v, w->candidate);
  if (w->b->no_cache || w->b->jobs_v[w->image].updates)
    gsi_strvec_push (&v, "--no-cache");
  gsi_strvec_push (&v, ctx);
  r = run_gsi (&v, w->log_fd, NULL, err);
  if (r > 0)
    {
      cleanup_free char *why = last_error_line (w->log_path);
      gsi_buf_addf (&w->reason, "CVE patch step failed: %s (see %s)", why ? why : "no message", w->log_path);
    }
  return r;
}

/* Whether the image carries p: every copy of a pypi distribution that pip put there (the venv's,
 * which shadow Debian's) or, when pip put none, every copy; a deb package by its dpkg version.
 * found gets the versions seen, for the message.  */
static bool
patch_landed (const gsi_inventory *inv, const gsi_catalog_patch *p, gsi_buf *found)
{
  cleanup_free char *name = p->ecosystem == GSI_ECO_PYPI ? gsi_pep503_name (p->package) : xstrdup (p->package);
  size_t first = 0, n = gsi_inventory_find (inv, p->ecosystem, name, &first), pip = 0;
  bool ok = n > 0;

  for (size_t i = first; i < first + n; i++)
    pip += inv->pkgs[i].owner_deb == NULL && p->ecosystem == GSI_ECO_PYPI;
  for (size_t i = first; i < first + n; i++)
    {
      const gsi_package *k = &inv->pkgs[i];
      cleanup_error gsi_error ignore = GSI_ERROR_INIT;
      int cmp = -1;
      if (pip && k->owner_deb)
        continue;
      gsi_buf_addf (found, "%s%s", found->len ? ", " : "", k->version);
      if (p->ecosystem == GSI_ECO_PYPI && k->location)
        gsi_buf_addf (found, " in /%s", k->location);
      if (gsi_version_compare (p->ecosystem, k->version, p->fixed, &cmp, &ignore) < 0 || cmp < 0)
        ok = false;
    }
  if (n == 0)
    gsi_buf_addstr (found, "not installed");
  return ok;
}

/* Checks every declared fix in the built image; the first one missing fails the image.  */
static int
worker_verify (worker *w, gsi_store *s, const gsi_catalog_patch *p, size_t n, json_t *res, gsi_error *err)
{
  gsi_inventory inv = { 0 };
  json_t *list;
  int r = 0;

  if (gsi_inventory_read (s, w->candidate, &inv, err) < 0)
    return gsi_error_wrap (err, "CVE patch check of `%s`", w->candidate);
  list = json_array ();
  for (size_t i = 0; i < n && r == 0; i++)
    {
      cleanup_buf gsi_buf found = GSI_BUF_INIT;
      json_t *o = json_object (), *ids = json_array ();
      bool ok = patch_landed (&inv, &p[i], &found);

      for (size_t k = 0; k < p[i].advisories.n; k++)
        json_array_append_new (ids, json_string (p[i].advisories.v[k]));
      json_object_set_new (o, "package", json_string (p[i].package));
      json_object_set_new (o, "ecosystem", json_string (gsi_ecosystem_name (p[i].ecosystem)));
      json_object_set_new (o, "fixed", json_string (p[i].fixed));
      json_object_set_new (o, "found", json_string (found.buf));
      json_object_set_new (o, "advisories", ids);
      json_array_append_new (list, o);
      if (!ok)
        {
          gsi_buf_addf (&w->reason, "CVE patch did not land: %s %s wants %s or later, found %s (%s; %s:%d)",
                        gsi_ecosystem_name (p[i].ecosystem), p[i].package, p[i].fixed, found.buf,
                        p[i].advisories.v[0], w->im->patch_file, p[i].line);
          r = 1;
        }
    }
  json_object_set_new (res, "patches", list);
  gsi_inventory_clear (&inv);
  return r;
}

static int
worker_version (worker *w, char **version, gsi_error *err)
{
  cleanup_strvec gsi_strvec v = GSI_STRVEC_INIT;
  cleanup_buf gsi_buf out = GSI_BUF_INIT;
  int r;

  *version = NULL;
  if (w->im->service_package == NULL)
    {
      *version = xstrdup (w->b->release);
      return 0;
    }
  gsi_argv (&v, "run");
  gsi_strvec_push (&v, "--network=none");
  gsi_strvec_push (&v, "--entrypoint=dpkg-query");
  gsi_strvec_push (&v, w->candidate);
  gsi_strvec_push (&v, "-W");
  gsi_strvec_push (&v, "-f=${Version}");
  gsi_strvec_push (&v, w->im->service_package);
  r = run_gsi (&v, w->log_fd, &out, err);
  if (r < 0)
    return -1;
  if (r != 0 || out.len == 0)
    {
      gsi_buf_addf (&w->reason, "cannot read the version of package `%s` (exit %d, see %s)",
                    w->im->service_package, r, w->log_path);
      return 1;
    }
  *version = gsi_buf_detach (&out, NULL);
  return 0;
}

static void
add_label (const char **keys, const char **values, size_t *n, const char *key, const char *value)
{
  if (value == NULL)
    return;
  keys[*n] = key;
  values[(*n)++] = value;
}

static int
worker_label (worker *w, gsi_store *s, const char *version, char *digest, gsi_error *err)
{
  gsi_image_config cfg;
  const char *keys[9], *values[9];
  size_t n = 0, np = 0;
  const gsi_catalog_patch *p = gsi_catalog_patches (w->b->c, w->image, w->b->release, &np);
  cleanup_buf gsi_buf ids = GSI_BUF_INIT;
  int r;

  for (size_t i = 0; i < np; i++)
    for (size_t k = 0; k < p[i].advisories.n; k++)
      gsi_buf_addf (&ids, "%s%s", ids.len ? "," : "", p[i].advisories.v[k]);
  gsi_image_config_init (&cfg);
  r = gsi_store_load_image (s, w->candidate, NULL, NULL, &cfg, err);
  if (r == 0)
    {
      add_label (keys, values, &n, "org.opencontainers.image.title", w->im->name);
      add_label (keys, values, &n, "org.opencontainers.image.description", w->im->description);
      add_label (keys, values, &n, "org.opencontainers.image.version", version);
      add_label (keys, values, &n, "org.opencontainers.image.revision", w->b->jobs_v[w->image].revision);
      /* The config's own time: a cached rebuild keeps it, so the digest stays the same.  */
      add_label (keys, values, &n, "org.opencontainers.image.created", cfg.created);
      add_label (keys, values, &n, "org.opencontainers.image.source", w->b->c->source);
      /* The advisories the patch step fixed, checked in this very image.  */
      add_label (keys, values, &n, "io.genestack.cve-patches", ids.len ? ids.buf : NULL);
      keys[n] = values[n] = NULL;
      r = gsi_catalog_relabel (s, w->candidate, keys, values, w->candidate, digest, err);
    }
  gsi_image_config_clear (&cfg);
  return r;
}

static int
worker_smoke (worker *w, gsi_buf *out, gsi_error *err)
{
  cleanup_strvec gsi_strvec v = GSI_STRVEC_INIT;
  int r;

  if (w->im->smoke.n == 0)
    return 0;
  gsi_argv (&v, "run");
  gsi_strvec_push (&v, "--network=none");
  /* smoke is a whole argv: the image's Entrypoint must not come in front of it.  */
  gsi_strvec_push (&v, "--entrypoint=");
  gsi_strvec_push (&v, w->candidate);
  for (size_t i = 0; i < w->im->smoke.n; i++)
    gsi_strvec_push (&v, w->im->smoke.v[i]);
  r = run_gsi (&v, w->log_fd, out, err);
  if (r < 0)
    return -1;
  /* The log keeps the output too; it is only for reading after a failure, so a short write is fine. */
  if (out->len)
    (void) !write (w->log_fd, out->buf, out->len);
  if (r != 0)
    gsi_buf_addf (&w->reason, "smoke test failed: `%s` exited %d (see %s)", w->im->smoke.v[0], r, w->log_path);
  return r;
}

static int64_t
image_size (gsi_store *s, const char *ref)
{
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_manifest m;
  cleanup_error gsi_error err = GSI_ERROR_INIT;
  int64_t size = -1;

  gsi_manifest_init (&m);
  if (gsi_store_load_image (s, ref, &d, &m, NULL, &err) == 0)
    {
      size = d.size + m.config.size;
      for (size_t i = 0; i < m.n_layers; i++)
        size += m.layers[i].size;
    }
  gsi_descriptor_clear (&d);
  gsi_manifest_clear (&m);
  return size;
}

/* Tags the candidate as latest and immutable; *unchanged when latest already had that digest.  */
static int
worker_tag (worker *w, gsi_store *s, const char *digest, bool *unchanged, gsi_error *err)
{
  gsi_descriptor prev = GSI_DESCRIPTOR_INIT, cand = GSI_DESCRIPTOR_INIT;
  cleanup_error gsi_error ignore = GSI_ERROR_INIT;
  int r;

  *unchanged = gsi_store_resolve (s, w->latest, &prev, &ignore) == 0 && strcmp (prev.digest, digest) == 0;
  r = gsi_store_resolve (s, w->candidate, &cand, err);
  if (r == 0)
    r = gsi_store_tag (s, w->latest, &cand, err);
  if (r == 0)
    r = gsi_store_tag (s, w->immutable, &cand, err);
  if (r == 0)
    r = gsi_store_untag (s, w->candidate, err);
  gsi_descriptor_clear (&prev);
  gsi_descriptor_clear (&cand);
  return r;
}

static void
worker_untag_candidate (worker *w, gsi_store *s)
{
  cleanup_error gsi_error ignore = GSI_ERROR_INIT;
  gsi_store_untag (s, w->candidate, &ignore);
}

/* The same when the store is not open yet (a failed patch build leaves the unpatched candidate).  */
static void
worker_untag_candidate_root (worker *w)
{
  cleanup_error gsi_error ignore = GSI_ERROR_INIT;
  cleanup_free char *root = gsi_store_default_root (&ignore);
  cleanup_store gsi_store *s = NULL;
  if (root && gsi_store_open (root, &s, &ignore) == 0)
    worker_untag_candidate (w, s);
}

static void
push_progress (void *ctx, const char *line)
{
  const worker *w = ctx;
  dprintf (w->log_fd, "%s\n", line);
}

/* Pushes R-latest and R-DATE: one upload, the second tag is the same manifest.  */
static int
worker_push (worker *w, gsi_store *s, json_t *res, gsi_error *err)
{
  gsi_reg_client_opts copts = GSI_REG_CLIENT_OPTS_INIT;
  cleanup_free char *tag = gsi_catalog_tag (w->b->c, w->b->c->tag_immutable, NULL, w->b->release, w->b->date);
  const char *extra[] = { tag, NULL };
  gsi_push_opts popts = { .extra_tags = extra, .progress = push_progress, .progress_ctx = w };
  gsi_push_stats st = { 0 };
  gsi_reg_client *c = NULL;
  char digest[GSI_DIGEST_BUF] = "";
  json_t *o;
  int r;

  r = gsi_reg_client_open (&copts, &c, err);
  if (r == 0)
    r = gsi_registry_push (c, s, w->latest, w->latest, &popts, digest, &st, err);
  gsi_reg_client_close (c);
  if (r < 0)
    {
      gsi_buf_addf (&w->reason, "push failed: %s", err->msg);
      gsi_error_clear (err);
      return 1;
    }
  o = json_object ();
  json_object_set_new (o, "digest", json_string (digest));
  json_object_set_new (o, "blobs_uploaded", json_integer (st.blobs_uploaded));
  json_object_set_new (o, "blobs_mounted", json_integer (st.blobs_mounted));
  json_object_set_new (o, "blobs_existing", json_integer (st.blobs_existing));
  json_object_set_new (o, "bytes_uploaded", json_integer ((json_int_t) st.bytes_uploaded));
  json_object_set_new (res, "push", o);
  return 0;
}

/* The image's CycloneDX SBOM and, when there is a vulnerability database, its scan report (what
 * `gsi scan --format json` writes, nothing filtered), as REPORTS_DIR/IMAGE.RELEASE.cdx.json and
 * .scan.json, named by the tag the image is about to get.  Both read the inventory once.  */
static int
worker_reports (worker *w, gsi_store *s, const char *digest, json_t *res, gsi_error *err)
{
  cleanup_free char *sbom_path = xasprintf ("%s/%s.%s.cdx.json", w->b->reports_dir, w->im->name, w->b->release);
  cleanup_free char *scan_path = xasprintf ("%s/%s.%s.scan.json", w->b->reports_dir, w->im->name, w->b->release);
  cleanup_buf gsi_buf sbom = GSI_BUF_INIT;
  cleanup_buf gsi_buf scan = GSI_BUF_INIT;
  gsi_inventory inv = { 0 };
  gsi_image_config cfg;
  cli_scan sc;
  bool scanned = w->b->scan;
  size_t fixable = 0;
  int r;

  gsi_image_config_init (&cfg);
  memset (&sc, 0, sizeof sc);
  sc.desc = (gsi_descriptor) GSI_DESCRIPTOR_INIT;
  r = gsi_store_load_image (s, w->candidate, NULL, NULL, &cfg, err);
  if (r == 0 && scanned)
    {
      char today[16];
      gsi_scan_filter flt = { .today = today };
      cli_today_utc (today);
      r = cli_scan_image (w->b->vulndb, w->candidate, &flt, &sc, err);
      if (r == 0)
        {
          gsi_report_meta meta = { w->latest, digest, GSI_VERSION };
          gsi_report_write (&scan, GSI_REPORT_JSON, &meta, &sc.inv, &sc.found, &sc.sel);
          for (size_t i = 0; i < sc.sel.nshown; i++)
            fixable += sc.found.v[sc.sel.shown[i]].fixed_version != NULL;
        }
    }
  else if (r == 0)
    r = gsi_inventory_read (s, w->candidate, &inv, err);
  if (r == 0)
    {
      gsi_sbom_subject subj = { w->latest, digest, cfg.created };
      r = gsi_sbom_write (scanned ? &sc.inv : &inv, &subj, GSI_SBOM_CYCLONEDX, &sbom, err);
    }
  if (r == 0)
    r = cli_write_output (sbom_path, &sbom, err);
  if (r == 0 && scanned)
    r = cli_write_output (scan_path, &scan, err);
  if (r == 0)
    {
      json_object_set_new (res, "sbom", json_string (sbom_path));
      json_object_set_new (res, "scan", scanned ? json_string (scan_path) : json_null ());
      json_object_set_new (res, "findings", scanned ? json_integer ((json_int_t) sc.sel.nshown) : json_null ());
      json_object_set_new (res, "fixable", scanned ? json_integer ((json_int_t) fixable) : json_null ());
    }
  else
    {
      gsi_buf_addf (&w->reason, "%s failed: %s", scanned ? "SBOM and scan" : "SBOM", err->msg);
      gsi_error_clear (err);
      r = 1;
    }
  if (scanned)
    cli_scan_clear (&sc);
  gsi_inventory_clear (&inv);
  gsi_image_config_clear (&cfg);
  return r;
}

/* The steps after the build; returns 1 when the image failed (reason set), -1 on an error.  */
static int
worker_finish (worker *w, gsi_store *s, json_t *res, gsi_error *err)
{
  cleanup_free char *version = NULL;
  cleanup_buf gsi_buf smoke = GSI_BUF_INIT;
  char digest[GSI_DIGEST_BUF] = "";
  bool unchanged = false;
  int r = worker_version (w, &version, err);

  if (r == 0)
    r = worker_label (w, s, version, digest, err);
  if (r == 0)
    r = worker_smoke (w, &smoke, err);
  /* Before the tags: an image is only tagged with its SBOM and scan report beside the report.  */
  if (r == 0)
    r = worker_reports (w, s, digest, res, err);
  if (r == 0)
    r = worker_tag (w, s, digest, &unchanged, err);
  if (r != 0)
    {
      worker_untag_candidate (w, s);
      return r < 0 ? -1 : 1;
    }
  /* A failed push leaves the local tags: the image is good, the next run pushes it.  */
  if (w->b->push && (r = worker_push (w, s, res, err)) != 0)
    return r;
  json_object_set_new (res, "status", json_string (unchanged ? "unchanged" : "built"));
  json_object_set_new (res, "digest", json_string (digest));
  json_object_set_new (res, "size", json_integer (image_size (s, w->latest)));
  if (version)
    json_object_set_new (res, "version", json_string (version));
  gsi_buf_rtrim (&smoke, "\n");
  if (smoke.len)
    json_object_set_new (res, "smoke_output", json_string (smoke.buf));
  return 0;
}

static int
worker_run (worker *w, json_t *res, gsi_error *err)
{
  cleanup_store gsi_store *s = NULL;
  cleanup_free char *root = NULL;
  size_t np = 0;
  const gsi_catalog_patch *p = gsi_catalog_patches (w->b->c, w->image, w->b->release, &np);
  int r = worker_build (w, err);

  if (r == 0 && np > 0)
    r = worker_patch_build (w, p, np, err);
  if (r != 0)
    {
      if (r > 0)
        worker_untag_candidate_root (w);
      return r < 0 ? -1 : 1;
    }
  root = gsi_store_default_root (err);
  if (root == NULL || gsi_store_open (root, &s, err) < 0)
    return -1;
  if (np > 0 && (r = worker_verify (w, s, p, np, res, err)) != 0)
    {
      worker_untag_candidate (w, s);
      return r < 0 ? -1 : 1;
    }
  return worker_finish (w, s, res, err);
}

static void
worker_main (build_ctx *b, size_t image)
{
  worker w = { b, image, &b->c->images[image], -1, NULL, NULL, NULL, NULL, GSI_BUF_INIT };
  cleanup_error gsi_error err = GSI_ERROR_INIT;
  cleanup_free char *res_path = xasprintf ("%s/%s.json", b->workdir, w.im->name);
  json_t *res = json_object ();
  int r;

  w.log_path = xasprintf ("%s/%s.log", b->workdir, w.im->name);
  w.log_fd = open (w.log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  w.candidate = gsi_catalog_tag (b->c, "{release}-candidate", w.im->name, b->release, b->date);
  w.latest = gsi_catalog_tag (b->c, b->c->tag_latest, w.im->name, b->release, b->date);
  w.immutable = gsi_catalog_tag (b->c, b->c->tag_immutable, w.im->name, b->release, b->date);
  r = w.log_fd < 0 ? gsi_error_set (&err, errno, "open `%s`", w.log_path) : worker_run (&w, res, &err);
  if (r != 0)
    {
      json_object_set_new (res, "status", json_string ("failed"));
      json_object_set_new (res, "reason", json_string (r < 0 ? err.msg : w.reason.buf));
    }
  json_dump_file (res, res_path, JSON_COMPACT);
  json_decref (res);
  _exit (0);
}

/* ---- the scheduler ---- */

static void
job_finish (build_ctx *b, size_t i, const char *status, const char *reason)
{
  job *j = &b->jobs_v[i];

  j->state = JOB_DONE;
  j->status = xstrdup (status);
  j->reason = reason ? xstrdup (reason) : NULL;
  if (strcmp (status, "failed") == 0)
    j->bad = true;
  if (j->bad && !b->keep_going)
    b->stopping = true;
  fprintf (stderr, "%s: %s%s%s\n", b->c->images[i].name, status, reason ? ": " : "", reason ? reason : "");
}

static bool
job_ok (const job *j)
{
  return j->state == JOB_DONE && (strcmp (j->status, "built") == 0 || strcmp (j->status, "unchanged") == 0);
}

/* 1: every parent is done and good; 0: wait; -1: a parent went wrong (job finished as skipped).  */
static int
job_ready (build_ctx *b, size_t i)
{
  const gsi_catalog_node *n = &b->d->nodes[i];

  for (size_t k = 0; k < n->n_parents; k++)
    {
      job *p = &b->jobs_v[n->parents[k]];
      if (p->state != JOB_DONE)
        return 0;
      if (!job_ok (p))
        {
          cleanup_free char *why = xasprintf ("parent `%s` %s", b->c->images[n->parents[k]].name,
                                              strcmp (p->status, "skipped") == 0 ? "was skipped" : p->status);
          b->jobs_v[i].bad = p->bad;
          job_finish (b, i, "skipped", why);
          return -1;
        }
    }
  return 1;
}

static int
job_start (build_ctx *b, size_t i, gsi_error *err)
{
  job *j = &b->jobs_v[i];
  const char *reason = NULL;

  if (!gsi_catalog_available (b->c, i, b->release, &reason))
    {
      job_finish (b, i, "not available", reason ? reason : "not available for this release");
      return 0;
    }
  fflush (NULL);
  j->pid = fork ();
  if (j->pid < 0)
    return gsi_error_set (err, errno, "fork");
  if (j->pid == 0)
    worker_main (b, i);
  j->state = JOB_RUNNING;
  j->started = now_seconds ();
  fprintf (stderr, "%s: building\n", b->c->images[i].name);
  return 0;
}

static void record_view (build_ctx *b, size_t i);

static void
job_collect (build_ctx *b, size_t i, int status)
{
  job *j = &b->jobs_v[i];
  cleanup_free char *path = xasprintf ("%s/%s.json", b->workdir, b->c->images[i].name);
  json_t *res = json_load_file (path, 0, NULL);
  const char *st = res ? json_string_value (json_object_get (res, "status")) : NULL;
  const char *digest = res ? json_string_value (json_object_get (res, "digest")) : NULL;
  cleanup_free char *crash = NULL;

  j->duration = now_seconds () - j->started;
  if (st == NULL)
    crash = xasprintf ("the build worker died (wait status %d)", status);
  if (digest)
    snprintf (j->digest, sizeof j->digest, "%s", digest);
  j->size = res ? json_integer_value (json_object_get (res, "size")) : 0;
  if (st && strcmp (st, "failed") != 0)
    {
      gsi_strvec_push_owned (&j->tags, gsi_catalog_tag (b->c, b->c->tag_latest, b->c->images[i].name, b->release,
                                                        b->date));
      gsi_strvec_push_owned (&j->tags, gsi_catalog_tag (b->c, b->c->tag_immutable, b->c->images[i].name,
                                                        b->release, b->date));
    }
  const char *reason = crash ? crash : (res ? json_string_value (json_object_get (res, "reason")) : NULL);
  if (reason == NULL && st && strcmp (st, "failed") != 0)
    reason = j->updates; /* why it was built without the cache */
  job_finish (b, i, st ? st : "failed", reason);
  if (job_ok (j))
    record_view (b, i);
  json_t *push = res ? json_object_get (res, "push") : NULL;
  if (push)
    {
      json_object_set (j->details, "push", push);
      fprintf (stderr, "%s: pushed %s (%lld blobs uploaded, %lld mounted, %lld already there)\n",
               b->c->images[i].name, json_string_value (json_object_get (push, "digest")),
               (long long) json_integer_value (json_object_get (push, "blobs_uploaded")),
               (long long) json_integer_value (json_object_get (push, "blobs_mounted")),
               (long long) json_integer_value (json_object_get (push, "blobs_existing")));
    }
  static const char *const carried[] = { "patches", "smoke_output", "version", "sbom", "scan", "findings", "fixable" };
  for (size_t k = 0; res && k < sizeof carried / sizeof *carried; k++)
    if (json_object_get (res, carried[k]))
      json_object_set (j->details, carried[k], json_object_get (res, carried[k]));
  /* What the smoke test printed is the proof the service is there: show it with the status.  */
  const char *smoke = res ? json_string_value (json_object_get (res, "smoke_output")) : NULL;
  if (smoke && *smoke)
    {
      gsi_strvec *cmd = &b->c->images[i].smoke;
      size_t shown = 0, more = 0;
      fprintf (stderr, "%s: smoke test `%s%s`:\n", b->c->images[i].name, cmd->v[0], cmd->n > 1 ? " ..." : "");
      for (const char *l = smoke; *l;)
        {
          const char *e = strchr (l, '\n');
          size_t len = e ? (size_t) (e - l) : strlen (l);
          /* A --help smoke test prints pages: the first lines prove it, the report has them all.  */
          if (shown < SMOKE_LINES_SHOWN)
            fprintf (stderr, "  %.*s\n", (int) len, l), shown++;
          else
            more++;
          l += len + (e ? 1 : 0);
        }
      if (more)
        fprintf (stderr, "  ... (%zu more line%s; the report's smoke_output has them)\n", more, more == 1 ? "" : "s");
    }
  json_t *findings = res ? json_object_get (res, "findings") : NULL;
  if (json_is_integer (findings))
    fprintf (stderr, "%s: scan: %lld finding%s (%lld fixable), %s\n", b->c->images[i].name,
             (long long) json_integer_value (findings), json_integer_value (findings) == 1 ? "" : "s",
             (long long) json_integer_value (json_object_get (res, "fixable")),
             json_string_value (json_object_get (res, "scan")));
  json_decref (res);
}

static size_t
count_running (build_ctx *b)
{
  size_t n = 0;
  for (size_t i = 0; i < b->d->n; i++)
    n += b->jobs_v[i].state == JOB_RUNNING;
  return n;
}

/* Starts what can start; returns how many jobs are pending or running.  */
static int
schedule (build_ctx *b, size_t *left, gsi_error *err)
{
  *left = 0;
  for (size_t k = 0; k < b->d->n; k++)
    {
      size_t i = b->d->order[k];
      job *j = &b->jobs_v[i];
      if (j->state != JOB_PENDING)
        continue;
      if (b->stopping)
        {
          j->bad = true;
          job_finish (b, i, "skipped", "stopped after a failure (use --keep-going to go on)");
          continue;
        }
      int ready = job_ready (b, i);
      if (ready == 1 && count_running (b) < (size_t) b->jobs)
        {
          if (job_start (b, i, err) < 0)
            return -1;
          if (b->jobs_v[i].state == JOB_DONE)
            k = (size_t) -1; /* a not-available job may make children decidable: rescan */
        }
    }
  for (size_t i = 0; i < b->d->n; i++)
    *left += b->jobs_v[i].state == JOB_PENDING || b->jobs_v[i].state == JOB_RUNNING;
  return 0;
}

static int
run_jobs (build_ctx *b, gsi_error *err)
{
  size_t left = 0;

  for (;;)
    {
      if (schedule (b, &left, err) < 0)
        return -1;
      if (left == 0)
        return 0;
      int status = 0;
      pid_t pid = waitpid (-1, &status, 0);
      if (pid < 0 && errno == EINTR)
        continue;
      if (pid < 0)
        return gsi_error_set (err, errno, "waitpid");
      for (size_t i = 0; i < b->d->n; i++)
        if (b->jobs_v[i].state == JOB_RUNNING && b->jobs_v[i].pid == pid)
          job_collect (b, i, status);
    }
}

/* ---- bases ---- */

static bool
in_store (gsi_store *s, const char *ref)
{
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  cleanup_error gsi_error ignore = GSI_ERROR_INIT;
  bool found = gsi_store_resolve (s, ref, &d, &ignore) == 0;
  gsi_descriptor_clear (&d);
  return found;
}

static bool
base_used (build_ctx *b, const gsi_catalog_base *base)
{
  if (strcmp (b->rel->base, base->name) == 0)
    return true;
  for (size_t i = 0; i < b->d->n; i++)
    if (b->jobs_v[i].state == JOB_PENDING)
      for (size_t k = 0; k < b->d->nodes[i].external.n; k++)
        if (strcmp (b->d->nodes[i].external.v[k], base->ref) == 0)
          return true;
  return false;
}

/* Makes a base the store lacks: `gsi bootstrap` when it has a bootstrap mapping, else `gsi pull`
 * (mirrors and TLS settings of registries.yaml apply, as for any pull).  The output goes to a log;
 * a failure quotes the log's last line, which is gsi's own error.  */
static int
make_base (build_ctx *b, const gsi_catalog_base *base, gsi_error *err)
{
  cleanup_strvec gsi_strvec v = GSI_STRVEC_INIT;
  cleanup_free char *log = xasprintf ("%s/base-%s.log", b->workdir, base->name);
  int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), r;

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", log);
  if (base->bootstrap)
    {
      fprintf (stderr, "base %s: bootstrapping `%s` (%s %s)\n", base->name, base->ref, base->distro, base->suite);
      gsi_argv (&v, "bootstrap");
      gsi_strvec_push (&v, base->distro);
      gsi_strvec_push (&v, base->suite);
      if (base->variant)
        gsi_strvec_pushf (&v, "--variant=%s", base->variant);
      if (base->mirror)
        gsi_strvec_pushf (&v, "--mirror=%s", base->mirror);
      for (size_t i = 0; i < base->aptopts.n; i++)
        gsi_strvec_pushf (&v, "--aptopt=%s", base->aptopts.v[i]);
      gsi_strvec_push (&v, "-t");
    }
  else
    {
      fprintf (stderr, "base %s: pulling `%s`\n", base->name, base->ref);
      gsi_argv (&v, "pull");
    }
  gsi_strvec_push (&v, base->ref);
  r = run_gsi (&v, fd, NULL, err);
  close (fd);
  if (r > 0)
    {
      cleanup_buf gsi_buf tail = GSI_BUF_INIT;
      if (gsi_buf_read_file (&tail, log, NULL) == 0)
        gsi_buf_rtrim (&tail, " \t\r\n");
      const char *last = tail.len ? strrchr (tail.buf, '\n') : NULL;
      last = last ? last + 1 : tail.len ? tail.buf : "no output";
      if (strncmp (last, "gsi: ", 5) == 0)
        last += 5; /* the CLI's prefix: this message gets its own */
      return gsi_error_set (err, 0, "base `%s` (`%s`) is not in the store and its %s failed (exit %d): %s (see %s)",
                            base->name, base->ref, base->bootstrap ? "bootstrap" : "pull", r, last, log);
    }
  return r;
}

static int
make_bases (build_ctx *b, gsi_error *err)
{
  cleanup_store gsi_store *s = NULL;
  cleanup_free char *root = gsi_store_default_root (err);

  if (root == NULL || gsi_store_open (root, &s, err) < 0)
    return -1;
  for (size_t i = 0; i < b->c->n_bases; i++)
    {
      const gsi_catalog_base *base = &b->c->bases[i];
      if (!base_used (b, base) || in_store (s, base->ref))
        continue;
      if (make_base (b, base, err) < 0)
        return -1;
    }
  return 0;
}

/* ---- package updates (archive.h) ---- */

/* Prints the index URIs, a blank line, then "NAME VERSION" per installed package; nothing when the
 * image has no apt.  */
static const char UPDATE_PROBE[] =
    "command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || exit 0\n"
    "apt-get indextargets --no-release-info --format '$(URI)' 'Identifier: Packages' || exit 1\n"
    "echo\n"
    "dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\\n' | sed -n 's/^ii  *//p'\n";

static int
probe_image (build_ctx *b, const char *ref, gsi_strvec *uris, gsi_buf *installed, gsi_error *err)
{
  cleanup_strvec gsi_strvec v = GSI_STRVEC_INIT;
  cleanup_buf gsi_buf out = GSI_BUF_INIT;
  cleanup_free char *log = xasprintf ("%s/update-check.log", b->workdir);
  cleanup_close int fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const char *p;
  int r;

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", log);
  gsi_argv (&v, "run");
  gsi_strvec_push (&v, "--network=none");
  gsi_strvec_push (&v, "--user=root");
  gsi_strvec_push (&v, "--entrypoint=");
  gsi_strvec_push (&v, ref);
  gsi_strvec_push (&v, "/bin/sh");
  gsi_strvec_push (&v, "-c");
  gsi_strvec_push (&v, UPDATE_PROBE);
  r = run_gsi (&v, fd, &out, err);
  if (r < 0)
    return -1;
  if (r != 0)
    return gsi_error_set (err, 0, "listing its apt indexes and packages failed (exit %d, see %s)", r, log);
  for (p = out.buf; *p && *p != '\n';)
    {
      const char *e = strchr (p, '\n');
      size_t len = e ? (size_t) (e - p) : strlen (p);
      gsi_strvec_push_owned (uris, xstrndup (p, len));
      p += len + (e ? 1 : 0);
    }
  if (*p == '\n')
    gsi_buf_addstr (installed, p + 1);
  return 0;
}

static void
note_updates (job *j, const gsi_apt_update *u, size_t n)
{
  gsi_buf why = GSI_BUF_INIT;

  json_t *list = json_array ();
  gsi_buf_addf (&why, "%zu package update%s in the archive:", n, n == 1 ? "" : "s");
  for (size_t i = 0; i < n; i++)
    {
      json_t *o = json_object ();
      json_object_set_new (o, "name", json_string (u[i].name));
      json_object_set_new (o, "installed", json_string (u[i].installed));
      json_object_set_new (o, "available", json_string (u[i].available));
      json_array_append_new (list, o);
      if (i < 3)
        gsi_buf_addf (&why, "%s %s %s -> %s", i ? "," : "", u[i].name, u[i].installed, u[i].available);
    }
  if (n > 3)
    gsi_buf_addf (&why, " and %zu more", n - 3);
  json_object_set_new (j->details, "updates", list);
  j->updates = gsi_buf_detach (&why, NULL);
}

/* The archive's view of ref and, via *digest_hex, where it is kept.  */
static int
image_view (build_ctx *b, gsi_store *s, const char *ref, gsi_apt_update **v, size_t *n, char **path,
            gsi_error *err)
{
  cleanup_strvec gsi_strvec uris = GSI_STRVEC_INIT;
  cleanup_buf gsi_buf installed = GSI_BUF_INIT;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  int r = gsi_store_resolve (s, ref, &d, err);

  if (r == 0)
    *path = xasprintf ("%s/%s", b->views_dir, d.digest + 7);
  gsi_descriptor_clear (&d);
  if (r < 0 || probe_image (b, ref, &uris, &installed, err) < 0)
    return -1;
  return gsi_apt_view (b->ix, &uris, installed.buf, v, n, err);
}

/* A failed check is a warning, never a failed build: the archive may be out of reach (an air-gapped
 * site with a registry mirror) and the cached image is still what the catalog says.  */
static int
check_updates (build_ctx *b, gsi_error *err)
{
  cleanup_store gsi_store *s = NULL;
  cleanup_free char *root = gsi_store_default_root (err);
  cleanup_free char *cache = NULL;

  if (b->no_cache || b->no_update_check)
    return 0;
  if (root == NULL || gsi_store_open (root, &s, err) < 0)
    return -1;
  cache = xasprintf ("%s/" GSI_STORE_PRIVATE_DIR "/apt-indexes", gsi_store_root (s));
  b->views_dir = xasprintf ("%s/views", cache);
  b->ix = gsi_apt_indexes_new (cache);
  for (size_t k = 0; k < b->d->n; k++)
    {
      size_t i = b->d->order[k];
      const char *name = b->c->images[i].name;
      cleanup_free char *latest = gsi_catalog_tag (b->c, b->c->tag_latest, name, b->release, b->date);
      cleanup_free char *path = NULL;
      cleanup_error gsi_error why = GSI_ERROR_INIT;
      cleanup_buf gsi_buf before = GSI_BUF_INIT;
      gsi_apt_update *v = NULL, *u = NULL;
      size_t nv = 0, nu;

      if (b->jobs_v[i].state != JOB_PENDING || !gsi_catalog_available (b->c, i, b->release, NULL)
          || !in_store (s, latest))
        continue;
      if (image_view (b, s, latest, &v, &nv, &path, &why) < 0)
        {
          fprintf (stderr, "%s: warning: package update check skipped: %s\n", name, why.msg);
          continue;
        }
      /* No view kept (an image from before the check, or built with it off): every update counts.  */
      bool have_before = access (path, R_OK) == 0;
      if (have_before && gsi_buf_read_file (&before, path, &why) < 0)
        {
          fprintf (stderr, "%s: warning: %s\n", name, why.msg);
          have_before = false;
        }
      nu = gsi_apt_updates (v, nv, have_before ? before.buf : NULL, &u);
      if (nu > 0)
        {
          note_updates (&b->jobs_v[i], u, nu);
          fprintf (stderr, "%s: %s; building without the cache\n", name, b->jobs_v[i].updates);
        }
      gsi_apt_updates_free (u, nu);
      gsi_apt_updates_free (v, nv);
    }
  return 0;
}

/* Keeps the archive's view of a freshly built image, so the next run knows what the archive had
 * when it was built.  A failure costs a rebuild next time, never this build.  */
static void
record_view (build_ctx *b, size_t i)
{
  cleanup_store gsi_store *s = NULL;
  cleanup_error gsi_error why = GSI_ERROR_INIT;
  cleanup_free char *root = gsi_store_default_root (&why);
  cleanup_free char *latest = gsi_catalog_tag (b->c, b->c->tag_latest, b->c->images[i].name, b->release, b->date);
  cleanup_free char *path = NULL, *text = NULL, *tmp = NULL;
  gsi_apt_update *v = NULL;
  size_t nv = 0;

  if (b->ix == NULL || root == NULL || gsi_store_open (root, &s, &why) < 0
      || image_view (b, s, latest, &v, &nv, &path, &why) < 0)
    {
      if (b->ix)
        fprintf (stderr, "%s: warning: package view not kept: %s\n", b->c->images[i].name, why.msg);
      return;
    }
  text = gsi_apt_view_text (v, nv);
  gsi_apt_updates_free (v, nv);
  tmp = xasprintf ("%s.tmp.%d", path, (int) getpid ());
  if ((mkdir (b->views_dir, 0755) < 0 && errno != EEXIST) || write_text (tmp, text, &why) < 0
      || rename (tmp, path) < 0)
    {
      fprintf (stderr, "%s: warning: package view not kept: %s\n", b->c->images[i].name,
               why.msg ? why.msg : strerror (errno));
      unlink (tmp);
    }
}

/* ---- report ---- */

static void
format_size (int64_t bytes, char out[32])
{
  if (bytes <= 0)
    snprintf (out, 32, "-");
  else if (bytes < 1000 * 1000)
    snprintf (out, 32, "%.1fkB", (double) bytes / 1000);
  else
    snprintf (out, 32, "%.1fMB", (double) bytes / 1e6);
}

static void
print_summary (build_ctx *b)
{
  printf ("%-28s %-13s %9s %9s %-12s %s\n", "IMAGE", "STATUS", "DURATION", "SIZE", "DIGEST", "REASON");
  for (size_t k = 0; k < b->d->n; k++)
    {
      size_t i = b->d->order[k];
      const job *j = &b->jobs_v[i];
      char size[32], dur[32];
      if (j->state == JOB_OUT)
        continue;
      format_size (j->size, size);
      snprintf (dur, sizeof dur, "%.1fs", j->duration);
      printf ("%-28s %-13s %9s %9s %-12.12s %s\n", b->c->images[i].name, j->status, dur, size,
              j->digest[0] ? j->digest + 7 : "-", j->reason ? j->reason : "");
    }
}

static int
write_report (build_ctx *b, gsi_error *err)
{
  json_t *doc = json_object (), *images = json_array ();
  int r;

  json_object_set_new (doc, "release", json_string (b->release));
  json_object_set_new (doc, "date", json_string (b->date));
  json_object_set_new (doc, "revision", b->revision ? json_string (b->revision) : json_null ());
  for (size_t k = 0; k < b->d->n; k++)
    {
      size_t i = b->d->order[k];
      const job *j = &b->jobs_v[i];
      json_t *o = json_object (), *tags = json_array ();
      if (j->state == JOB_OUT)
        {
          json_decref (o), json_decref (tags);
          continue;
        }
      for (size_t t = 0; t < j->tags.n; t++)
        json_array_append_new (tags, json_string (j->tags.v[t]));
      json_object_set_new (o, "name", json_string (b->c->images[i].name));
      json_object_set_new (o, "status", json_string (j->status));
      json_object_set_new (o, "reason", j->reason ? json_string (j->reason) : json_null ());
      json_object_set_new (o, "duration", json_real (j->duration));
      json_object_set_new (o, "digest", j->digest[0] ? json_string (j->digest) : json_null ());
      json_object_set_new (o, "size", j->size > 0 ? json_integer (j->size) : json_null ());
      json_object_set_new (o, "tags", tags);
      json_object_update (o, j->details);
      json_array_append_new (images, o);
    }
  json_object_set_new (doc, "images", images);
  r = json_dump_file (doc, b->report, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (doc);
  return r < 0 ? gsi_error_set (err, errno, "write `%s`", b->report) : 0;
}

/* ---- the command ---- */

static void
print_build_help (void)
{
  printf ("Usage: gsi [--root DIR] catalog build [OPTIONS] --release R (IMAGE...|--all)\n\n"
          "Builds catalog images for release R with their catalog ancestors, parents before children,\n"
          "into the store.  Bases (the catalog's `bases`) that the images use and the store lacks are\n"
          "made first: with `gsi bootstrap` when the base has a `bootstrap:` mapping, else pulled from\n"
          "its registry (registries.yaml mirrors and TLS settings apply).  Each image is built from\n"
          "ContainerFiles/IMAGE with the catalog root as context and the release's build_args,\n"
          "labelled (org.opencontainers.image. title, description, version = the service_package's\n"
          "Debian version in the image, revision = the newest git commit that changed its or its\n"
          "ancestors' Containerfile or scripts/images folder, created, source), smoke-tested with\n"
          "`gsi run` (its `smoke` argv, as the image's user, no network), and only then tagged\n"
          "REGISTRY/IMAGE:R-latest and :R-YYYYMMDD (UTC date).  A failed image skips its\n"
          "descendants; an image not available for R is reported `not available` and its\n"
          "descendants are skipped.\n\n"
          "Statuses: built, unchanged (same digest as the previous R-latest), failed, skipped,\n"
          "not available.  Each image's log is kept in a temp dir ($TMPDIR/gsi-catalog-*, printed at\n"
          "the start) when anything failed, and removed after a clean run.\n\n"
          "Reports: beside the build report, every image built or unchanged gets its CycloneDX 1.5\n"
          "SBOM, IMAGE.R.cdx.json, and its scan report, IMAGE.R.scan.json (what `gsi scan --format\n"
          "json` writes, nothing filtered out), both written before the image is tagged; a failure\n"
          "to write them fails the image.  Without --report, the build report (build-report.json),\n"
          "SBOMs and scan reports go to the temp dir's reports/, which is kept.  The folder is\n"
          "printed at the start.  Without a vulnerability database (the store's, or --db) only the\n"
          "SBOMs are written, and one note says so: fill it with `gsi db import`.\n\n"
          "Options:\n"
          "  --catalog FILE   catalog.yaml (default: ./catalog.yaml)\n"
          "  --release R      the release (required)\n"
          "  --all            every image of the catalog\n"
          "  --jobs N         build up to N images at once (default: 1)\n"
          "  --keep-going     go on after a failure (only the failed image's descendants are skipped)\n"
          "  --report FILE    write the JSON report to FILE (its folder must exist; default: see Reports):\n"
          "                   {\"release\", \"date\", \"revision\", \"images\": [{\"name\",\n"
          "                   \"status\", \"reason\", \"duration\", \"digest\", \"size\", \"tags\",\n"
          "                   \"updates\" (when package updates forced a rebuild), \"patches\" (the CVE\n"
          "                   patches checked: package, ecosystem, fixed, found, advisories), \"version\",\n"
          "                   \"smoke_output\", \"sbom\" (path), \"scan\" (path, null without a\n"
          "                   database), \"findings\" and \"fixable\" (the scan's counts, else null),\n"
          "                   \"push\" (with --push: {\"digest\", \"blobs_uploaded\", \"blobs_mounted\",\n"
          "                   \"blobs_existing\", \"bytes_uploaded\"})}]}\n"
          "  --db FILE        the vulnerability database for the scan reports (default: the store's\n"
          "                   gsi-private/vuln.db when it exists); a FILE that does not exist is an error\n"
          "  --no-cache       build without the step cache\n"
          "  --registry R     build under registry R instead of the catalog's (tags R/IMAGE:..., and\n"
          "                   the Containerfiles' REGISTRY build arg), e.g. registry.example.com/openstack\n"
          "  --push           push every image that is built or unchanged, both tags, to its registry\n"
          "                   (credentials and TLS settings as for gsi push); a failed push fails the\n"
          "                   image and keeps its local tags\n"
          "  --no-update-check\n"
          "                   do not ask the Debian archive for package updates (see below)\n\n"
          "CVE patches: patches/IMAGE.yaml declares, per release, fixes the image must carry (package,\n"
          "ecosystem deb or pypi, fixed version, advisory ids, reason).  After the Containerfile, a patch\n"
          "step FROM the candidate upgrades them (apt-get install --only-upgrade; pip install --upgrade\n"
          "'NAME>=FIXED' into /var/lib/openstack, from the release's pip_index_url when set, and when\n"
          "the index cannot meet a minimum, the newest it has), then each fix is looked up in the\n"
          "image's inventory: one that did not land fails the image with the package, the wanted and\n"
          "the found versions.  The advisories go in the label io.genestack.cve-patches.\n\n"
          "Package updates: the step cache would keep an image's `apt-get install` output forever.  So\n"
          "every image that already has an R-latest is asked (gsi run, no network) for its apt index\n"
          "URIs and installed packages; the suites' Release files and Packages indexes are fetched\n"
          "(cached by SHA-256 in the store), and an image the archive has a newer version of a package\n"
          "for is built with --no-cache; its descendants follow because their parent changed.  The\n"
          "report lists the updates.  A failed check is a warning and the cache is used.\n\n"
          "Exit status: 0 when nothing failed, 1 when an image failed or was skipped after a failure.\n");
}

enum
{
  OPT_CATALOG = 256,
  OPT_RELEASE,
  OPT_ALL,
  OPT_JOBS,
  OPT_KEEP_GOING,
  OPT_REPORT,
  OPT_NO_CACHE,
  OPT_NO_UPDATE_CHECK,
  OPT_PUSH,
  OPT_REGISTRY,
  OPT_DB,
};

static int
parse_build_args (build_ctx *b, int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "catalog", required_argument, NULL, OPT_CATALOG },   { "release", required_argument, NULL, OPT_RELEASE },
    { "all", no_argument, NULL, OPT_ALL },                 { "jobs", required_argument, NULL, OPT_JOBS },
    { "keep-going", no_argument, NULL, OPT_KEEP_GOING },   { "report", required_argument, NULL, OPT_REPORT },
    { "no-cache", no_argument, NULL, OPT_NO_CACHE },       { "no-update-check", no_argument, NULL, OPT_NO_UPDATE_CHECK },
    { "push", no_argument, NULL, OPT_PUSH },               { "registry", required_argument, NULL, OPT_REGISTRY },
    { "db", required_argument, NULL, OPT_DB },             { NULL, 0, NULL, 0 },
  };
  char *end = NULL;
  int c;

  b->file = "catalog.yaml";
  b->jobs = 1;
  optind = 0;
  while ((c = getopt_long (argc, argv, "j:", opts, NULL)) != -1)
    switch (c)
      {
      case OPT_CATALOG: b->file = optarg; break;
      case OPT_RELEASE: b->release = optarg; break;
      case OPT_ALL: b->all = true; break;
      case 'j':
      case OPT_JOBS:
        b->jobs = (int) strtol (optarg, &end, 10);
        if (*end || b->jobs < 1 || b->jobs > 64)
          return cli_usage (err, argv[0], "--jobs wants a number from 1 to 64, got `%s`", optarg);
        break;
      case OPT_KEEP_GOING: b->keep_going = true; break;
      case OPT_REPORT: b->report = optarg; break;
      case OPT_NO_CACHE: b->no_cache = true; break;
      case OPT_NO_UPDATE_CHECK: b->no_update_check = true; break;
      case OPT_PUSH: b->push = true; break;
      case OPT_REGISTRY: b->registry = optarg; break;
      case OPT_DB: b->db = optarg; break;
      default: return cli_usage (err, argv[0], "unknown option");
      }
  if (b->release == NULL)
    return cli_usage (err, argv[0], "--release is required");
  if (b->all == (optind < argc))
    return cli_usage (err, argv[0], "give either IMAGE... or --all");
  for (int i = optind; i < argc; i++)
    gsi_strvec_push (&b->wanted, argv[i]);
  return 0;
}

static int
select_jobs (build_ctx *b, gsi_error *err)
{
  cleanup_free bool *want = xcalloc (b->d->n + 1, sizeof (bool));

  for (size_t i = 0; i < b->d->n; i++)
    want[i] = b->all;
  for (size_t k = 0; k < b->wanted.n; k++)
    {
      int i = gsi_catalog_find_image (b->c, b->wanted.v[k]);
      if (i < 0)
        return gsi_error_set (err, 0, "no image `%s` in `%s`", b->wanted.v[k], b->file);
      want[i] = true;
    }
  gsi_catalog_dag_close (b->d, want);
  b->jobs_v = xcalloc (b->d->n + 1, sizeof *b->jobs_v);
  for (size_t i = 0; i < b->d->n; i++)
    {
      b->jobs_v[i].state = want[i] ? JOB_PENDING : JOB_OUT;
      b->jobs_v[i].details = json_object ();
    }
  return 0;
}

/* The absolute folder of the report file, which must exist.  */
static char *
report_dir (const char *report, gsi_error *err)
{
  const char *slash = strrchr (report, '/');
  cleanup_free char *dir = slash ? xstrndup (report, slash == report ? 1 : (size_t) (slash - report)) : xstrdup (".");
  char *abs = realpath (dir, NULL);

  if (abs == NULL)
    gsi_error_set (err, errno, "--report `%s`: folder `%s`", report, dir);
  return abs;
}

/* b->vulndb: --db, which must exist, else the store's database; b->scan: it exists.  */
static int
find_vulndb (build_ctx *b, gsi_error *err)
{
  if ((b->vulndb = cli_vulndb_path (b->db, err)) == NULL)
    return -1;
  b->scan = access (b->vulndb, R_OK) == 0;
  if (!b->scan && b->db)
    return gsi_error_set (err, 0, "no vulnerability database at %s (--db): load one with 'gsi db import --db %s PATH...'",
                          b->vulndb, b->vulndb);
  return 0;
}

static int
prepare (build_ctx *b, gsi_error *err)
{
  time_t t = time (NULL);
  struct tm tm;
  const char *tmp = getenv ("TMPDIR");

  if (gsi_catalog_load (b->file, &b->c, err) < 0)
    return -1;
  if (b->registry && gsi_catalog_set_registry (b->c, b->registry, err) < 0)
    return -1;
  int ri = gsi_catalog_find_release (b->c, b->release);
  if (ri < 0)
    return gsi_error_set (err, 0, "no release `%s` in `%s`", b->release, b->file);
  b->rel = &b->c->releases[ri];
  if (gsi_catalog_dag_build (b->c, b->release, &b->d, err) < 0 || select_jobs (b, err) < 0)
    return -1;
  gmtime_r (&t, &tm);
  strftime (b->date, sizeof b->date, "%Y%m%d", &tm);
  b->revision = git_revision (b->c->root);
  for (size_t i = 0; i < b->d->n; i++)
    if (b->jobs_v[i].state == JOB_PENDING)
      b->jobs_v[i].revision = image_revision (b, i);
  if (find_vulndb (b, err) < 0)
    return -1;
  /* Checked before building: a report that cannot be written would lose the whole run's results.  */
  if (b->report && (b->reports_dir = report_dir (b->report, err)) == NULL)
    return -1;
  b->workdir = xasprintf ("%s/gsi-catalog-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp (b->workdir) == NULL)
    return gsi_error_set (err, errno, "mkdtemp `%s`", b->workdir);
  fprintf (stderr, "catalog build: release %s, logs in %s\n", b->release, b->workdir);
  if (b->report == NULL)
    {
      cleanup_free char *dir = xasprintf ("%s/reports", b->workdir);
      if (mkdir (dir, 0755) < 0 || (b->reports_dir = realpath (dir, NULL)) == NULL)
        return gsi_error_set (err, errno, "create `%s`", dir);
      b->report = b->report_owned = xasprintf ("%s/" DEFAULT_REPORT_NAME, b->reports_dir);
    }
  fprintf (stderr, "catalog build: report, SBOMs and scan reports in %s\n", b->reports_dir);
  if (!b->scan)
    fprintf (stderr,
             "catalog build: note: no vulnerability database at %s, so SBOMs only and no scan reports "
             "(load one with 'gsi db import PATH...')\n",
             b->vulndb);
  return 0;
}

/* Logs are for failures: after a clean run they go (with the patch steps' contexts, IMAGE.patch/),
 * and so does the work dir unless it holds the reports (no --report).  */
static void
remove_workdir (const char *dir)
{
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *e;

  while (d && (e = readdir (d)) != NULL)
    if (e->d_name[0] != '.' && strcmp (e->d_name, "reports") != 0)
      {
        cleanup_free char *p = xasprintf ("%s/%s", dir, e->d_name);
        gsi_rm_rf_at (AT_FDCWD, p, NULL);
      }
  rmdir (dir);
}

static void
build_ctx_clear (build_ctx *b)
{
  for (size_t i = 0; b->jobs_v && i < b->d->n; i++)
    {
      free (b->jobs_v[i].status);
      free (b->jobs_v[i].reason);
      free (b->jobs_v[i].revision);
      free (b->jobs_v[i].updates);
      json_decref (b->jobs_v[i].details);
      gsi_strvec_clear (&b->jobs_v[i].tags);
    }
  free (b->jobs_v);
  gsi_catalog_dag_free (b->d);
  gsi_catalog_free (b->c);
  gsi_strvec_clear (&b->wanted);
  free (b->revision);
  free (b->workdir);
  free (b->views_dir);
  free (b->reports_dir);
  free (b->report_owned);
  free (b->vulndb);
  gsi_apt_indexes_free (b->ix);
}

static size_t
count_bad (build_ctx *b)
{
  size_t bad = 0;
  for (size_t i = 0; i < b->d->n; i++)
    bad += b->jobs_v[i].bad;
  return bad;
}

int
cmd_catalog_build (int argc, char **argv, gsi_error *err)
{
  build_ctx b = { 0 };
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_build_help ();
      return 0;
    }
  r = parse_build_args (&b, argc, argv, err);
  if (r == 0)
    r = prepare (&b, err) < 0 || make_bases (&b, err) < 0 || check_updates (&b, err) < 0 || run_jobs (&b, err) < 0
            ? CLI_FAIL
            : 0;
  if (r == 0)
    {
      print_summary (&b);
      r = write_report (&b, err) < 0 ? CLI_FAIL : 0;
    }
  if (r == 0 && count_bad (&b) > 0)
    {
      gsi_error_set (err, 0, "%zu image(s) failed or were skipped after a failure (logs in %s)", count_bad (&b),
                     b.workdir);
      r = 1;
    }
  else if (r == 0)
    remove_workdir (b.workdir);
  build_ctx_clear (&b);
  return r;
}
