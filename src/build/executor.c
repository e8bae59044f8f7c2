/* The build executor: stages, steps, layers, the final image.  See build.h.  */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build/add.h"
#include "build/cache.h"
#include "build/copy.h"
#include "build/fsutil.h"
#include "containerfile/ast.h"
#include "containerfile/ignore.h"
#include "containerfile/shell.h"
#include "containerfile/stages.h"
#include "oci/digest.h"
#include "oci/layer.h"
#include "sandbox/passwd.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define DEFAULT_SHELL_0 "/bin/sh"
#define DEFAULT_SHELL_1 "-c"
#define TAIL_LINES 10

/* ---- state ------------------------------------------------------------------------------------ */

/* What a stage (or an image used by COPY --from / --mount from=) is at a point of the build.  */
typedef struct stage_state
{
  bool ready;
  gsi_image_config cfg;
  gsi_descriptor *layers;  /* manifest layer descriptors, bottom first */
  size_t n_layers, alloc_layers;
  gsi_strvec lowers;       /* unpacked layer dirs, parallel to layers */
  char key[65];            /* cache key of the last step (the chain) */
  gsi_config_state cs;
  char *ro_root;           /* read-only merged view, mounted on first use */
  char *label;             /* "stage `build`", "image `debian:trixie`" for messages */
  cf_cmd **triggers;       /* ONBUILD triggers to run before the stage's own instructions */
  size_t n_triggers;
} stage_state;

typedef struct ext_image
{
  char *ref;
  stage_state st;
} ext_image;

typedef struct builder
{
  const gsi_build_opts *o;
  gsi_store *store;
  char *file_path;
  cf_file *file;
  cf_plan *plan;
  cf_ignore *ignore;
  int ctx_fd;
  char *ctx_dir;           /* absolute context path */
  stage_state *stages;     /* one per plan stage */
  ext_image *ext;
  size_t n_ext, alloc_ext;
  gsi_strvec mounts;       /* mount points to detach at the end, in mount order */
  gsi_strvec tmpdirs;      /* temp dirs to remove at the end */
  char *empty_dir;         /* an empty directory: the bottom lower of a read-only view */
  char variant[96];        /* what else decides layer bytes: compression and epoch */
  size_t step, total, cached;
} builder;

static void __attribute__ ((format (printf, 2, 3)))
logf_ (builder *b, const char *fmt, ...)
{
  gsi_buf line = GSI_BUF_INIT;
  va_list ap;

  if (b->o->log == NULL)
    return;
  va_start (ap, fmt);
  gsi_buf_vaddf (&line, fmt, ap);
  va_end (ap);
  b->o->log (b->o->log_ctx, line.buf);
  gsi_buf_release (&line);
}

static void
stage_state_clear (stage_state *s)
{
  gsi_image_config_clear (&s->cfg);
  for (size_t i = 0; i < s->n_layers; i++)
    gsi_descriptor_clear (&s->layers[i]);
  free (s->layers);
  gsi_strvec_clear (&s->lowers);
  free (s->ro_root);
  free (s->label);
  for (size_t i = 0; i < s->n_triggers; i++)
    cf_cmd_free (s->triggers[i]);
  free (s->triggers);
  memset (s, 0, sizeof *s);
}

static void
stage_add_layer (stage_state *s, const gsi_descriptor *d, const char *diff_id, const char *dir)
{
  GSI_ALLOC_GROW (s->layers, s->n_layers + 1, s->alloc_layers);
  gsi_descriptor_init (&s->layers[s->n_layers]);
  gsi_descriptor_copy (&s->layers[s->n_layers++], d);
  gsi_strvec_push (&s->cfg.diff_ids, diff_id);
  gsi_strvec_push (&s->lowers, dir);
}

/* ---- mount namespace and overlays -------------------------------------------------------------- */

int
gsi_build_private_mounts (gsi_error *err)
{
  static bool done;

  if (done)
    return 0;
  if (unshare (CLONE_NEWNS) < 0)
    return gsi_error_set (err, errno, "unshare the mount namespace (gsi build needs root)");
  /* Without this, mounts would propagate back to the host's namespace and outlive gsi.  */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return gsi_error_set (err, errno, "make `/` rprivate");
  done = true;
  return 0;
}

static int
fscfg (int fd, const char *key, const char *value, gsi_error *err)
{
  if (fsconfig (fd, FSCONFIG_SET_STRING, key, value, 0) < 0)
    return gsi_error_set (err, errno, "overlay option `%s=%s`", key, value);
  return 0;
}

/* The new mount API takes each lower dir on its own (lowerdir+, Linux 6.8), so the number of layers
 * is not limited by the one-page option string of mount(2).  */
static int
overlay_fsmount (const char *target, char *const *lowers, size_t n, const char *upper, const char *work, bool ro,
                 gsi_error *err)
{
  cleanup_close int fd = fsopen ("overlay", FSOPEN_CLOEXEC);
  cleanup_close int mfd = -1;

  if (fd < 0)
    return gsi_error_set (err, errno, "fsopen `overlay`");
  if (fscfg (fd, "source", "gsi", err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (fscfg (fd, "lowerdir+", lowers[i], err) < 0)
      return -1;
  if (upper && (fscfg (fd, "upperdir", upper, err) < 0 || fscfg (fd, "workdir", work, err) < 0))
    return -1;
  /* The upper dir must hold complete files and directories: it becomes a layer and a lower dir.  */
  if (fscfg (fd, "redirect_dir", "off", err) < 0 || fscfg (fd, "metacopy", "off", err) < 0
      || fscfg (fd, "index", "off", err) < 0)
    return -1;
  if (fsconfig (fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return gsi_error_set (err, errno, "create overlay for `%s`", target);
  mfd = fsmount (fd, FSMOUNT_CLOEXEC, ro ? MOUNT_ATTR_RDONLY : 0);
  if (mfd < 0)
    return gsi_error_set (err, errno, "fsmount overlay for `%s`", target);
  if (move_mount (mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return gsi_error_set (err, errno, "mount overlay on `%s`", target);
  return 0;
}

static int
overlay_legacy_mount (const char *target, char *const *lowers, size_t n, const char *upper, const char *work,
                      bool ro, gsi_error *err)
{
  gsi_buf opts = GSI_BUF_INIT;
  int r;

  gsi_buf_addstr (&opts, "lowerdir=");
  for (size_t i = 0; i < n; i++)
    gsi_buf_addf (&opts, "%s%s", i ? ":" : "", lowers[i]);
  if (upper)
    gsi_buf_addf (&opts, ",upperdir=%s,workdir=%s", upper, work);
  gsi_buf_addstr (&opts, ",redirect_dir=off,metacopy=off,index=off");
  r = mount ("gsi", target, "overlay", ro ? MS_RDONLY : 0, opts.buf);
  gsi_buf_release (&opts);
  if (r < 0)
    return gsi_error_set (err, errno, "mount overlay on `%s`", target);
  return 0;
}

/* lowers are top first, as overlayfs wants them.  */
static int
mount_overlay (const char *target, char *const *lowers, size_t n, const char *upper, const char *work, bool ro,
               gsi_error *err)
{
  cleanup_error gsi_error first = GSI_ERROR_INIT;

  if (overlay_fsmount (target, lowers, n, upper, work, ro, &first) == 0)
    return 0;
  if (first.code != EINVAL && first.code != ENOSYS)
    {
      gsi_error_set (err, 0, "%s", first.msg);
      err->code = first.code;
      return -1;
    }
  return overlay_legacy_mount (target, lowers, n, upper, work, ro, err);
}

static void
unmount_quietly (const char *target)
{
  if (umount2 (target, 0) < 0)
    umount2 (target, MNT_DETACH);
}

/* ---- temp dirs ---------------------------------------------------------------------------------- */

static int
make_tmpdir (builder *b, const char *prefix, char **out, gsi_error *err)
{
  if (gsi_store_mkdtemp (b->store, prefix, out, err) < 0)
    return -1;
  gsi_strvec_push (&b->tmpdirs, *out);
  return 0;
}

static void
remove_tree (const char *path)
{
  gsi_rm_rf_at (AT_FDCWD, path, NULL);
}

static int
mkdir_at (const char *dir, const char *name, mode_t mode, char **out, gsi_error *err)
{
  char *p = xasprintf ("%s/%s", dir, name);

  if (mkdir (p, mode) < 0)
    {
      gsi_error_set (err, errno, "mkdir `%s`", p);
      free (p);
      return -1;
    }
  chmod (p, mode);
  *out = p;
  return 0;
}

/* ---- layers ------------------------------------------------------------------------------------- */

static bool
is_dir (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Renames a finished directory into layers/<hex>; when another build got there first the
 * directory is identical by construction and ours goes.  */
static int
install_layer_dir (const char *dir, const char *path, gsi_error *err)
{
  if (rename (dir, path) == 0)
    return 0;
  if (errno == EEXIST || errno == ENOTEMPTY)
    {
      remove_tree (dir);
      return 0;
    }
  return gsi_error_set (err, errno, "rename `%s` to `%s`", dir, path);
}

/* The unpacked form of a layer, extracted once from its blob in overlay whiteout mode.  */
static int
ensure_unpacked (builder *b, const gsi_descriptor *d, const char *diff_id, char **out, gsi_error *err)
{
  cleanup_free char *path = gsi_store_layer_path (b->store, diff_id, err);
  cleanup_free char *blob = NULL;
  cleanup_free char *tmp = NULL;

  if (path == NULL)
    return -1;
  if (is_dir (path))
    {
      *out = steal_pointer (&path);
      return 0;
    }
  blob = gsi_store_blob_path (b->store, d->digest, err);
  if (blob == NULL || gsi_store_mkdtemp (b->store, "unpack-", &tmp, err) < 0)
    return -1;
  chmod (tmp, 0755);
  if (gsi_layer_apply (blob, tmp, GSI_APPLY_OVERLAY_WHITEOUTS, NULL, err) < 0)
    {
      remove_tree (tmp);
      return gsi_error_wrap (err, "unpack layer `%s`", d->digest);
    }
  if (install_layer_dir (tmp, path, err) < 0)
    {
      remove_tree (tmp);
      return -1;
    }
  *out = steal_pointer (&path);
  return 0;
}

/* Docker media types name the same bytes; one manifest must not mix the two families.  */
static const char *
oci_layer_type (const char *mt)
{
  if (strcmp (mt, GSI_MEDIA_DOCKER_LAYER_GZIP) == 0)
    return GSI_MEDIA_OCI_LAYER_GZIP;
  if (strcmp (mt, "application/vnd.docker.image.rootfs.diff.tar") == 0)
    return GSI_MEDIA_OCI_LAYER;
  if (strcmp (mt, "application/vnd.docker.image.rootfs.diff.tar.zstd") == 0)
    return GSI_MEDIA_OCI_LAYER_ZSTD;
  return mt;
}

typedef struct layer_out
{
  gsi_descriptor desc;
  gsi_blob_info info;
  char *dir; /* the unpacked layer */
} layer_out;

static void
layer_out_clear (layer_out *l)
{
  gsi_descriptor_clear (&l->desc);
  free (l->dir);
  l->dir = NULL;
}

/* The finished upper dir becomes the layer blob, then (already in overlay form) the layer's
 * unpacked dir, so later steps and builds stack it without extracting anything.  */
static int
commit_upper (builder *b, const char *upper, layer_out *out, gsi_error *err)
{
  gsi_layer_create_opts lo = GSI_LAYER_CREATE_OPTS_INIT;
  gsi_blob_writer *w = NULL;

  lo.source_date_epoch = b->o->source_date_epoch;
  if (gsi_blob_writer_open (b->store, b->o->compression, &w, err) < 0)
    return -1;
  if (gsi_layer_create (upper, &lo, gsi_layer_blob_sink, w, NULL, err) < 0)
    {
      gsi_blob_writer_abort (w);
      return gsi_error_wrap (err, "make layer");
    }
  if (gsi_blob_writer_commit (w, &out->info, err) < 0)
    return gsi_error_wrap (err, "store layer");
  gsi_descriptor_init (&out->desc);
  gsi_descriptor_set_layer (&out->desc, &out->info, b->o->compression);
  out->dir = gsi_store_layer_path (b->store, out->info.diff_id, err);
  if (out->dir == NULL)
    return -1;
  return install_layer_dir (upper, out->dir, err);
}

/* The stage's layer dirs top first, as overlayfs wants them, with bottom (may be NULL) below.  A
 * layer that appears twice (two steps that made the same diff) keeps only its upper place:
 * overlayfs refuses a dir twice, and the upper copy has the same effect on everything below.  */
static char **
stack_lowers (const stage_state *s, char *bottom, size_t *n)
{
  char **v = xcalloc (s->lowers.n + 2, sizeof (char *));
  size_t k = 0;

  for (size_t i = s->lowers.n; i-- > 0;)
    {
      bool seen = false;
      for (size_t j = 0; j < k && !seen; j++)
        seen = strcmp (v[j], s->lowers.v[i]) == 0;
      if (!seen)
        v[k++] = s->lowers.v[i];
    }
  if (bottom)
    v[k++] = bottom;
  *n = k;
  return v;
}

/* A read-only merged view of a stage or image, for COPY --from and bind mounts.  The empty dir
 * at the bottom keeps overlayfs happy with zero or one layer.  */
static int
ensure_ro_root (builder *b, stage_state *s, gsi_error *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char **lowers = NULL;
  size_t n = 0;

  if (s->ro_root)
    return 0;
  if (make_tmpdir (b, "view-", &dir, err) < 0)
    return -1;
  lowers = stack_lowers (s, b->empty_dir, &n);
  if (mount_overlay (dir, lowers, n, NULL, NULL, true, err) < 0)
    return gsi_error_wrap (err, "%s", s->label);
  gsi_strvec_push (&b->mounts, dir);
  s->ro_root = steal_pointer (&dir);
  return 0;
}

/* ---- small helpers ------------------------------------------------------------------------------ */

static void
now_string (builder *b, char out[40])
{
  char t[32];
  int64_t now = b->o->source_date_epoch >= 0 ? b->o->source_date_epoch : (int64_t) time (NULL);
  gsi_format_time (now, t);
  snprintf (out, 40, "%s", t);
}

static const char *
first_line (const char *s, gsi_buf *tmp)
{
  size_t n = strcspn (s, "\n");
  gsi_buf_reset (tmp);
  gsi_buf_add (tmp, s, n);
  if (s[n])
    gsi_buf_addstr (tmp, " ...");
  return tmp->buf;
}

static void
scope_build_args (const cf_scope *sc, gsi_strvec *out)
{
  for (size_t i = 0; i < sc->n; i++)
    if (sc->vars[i].origin == CF_VAR_ARG && sc->vars[i].value)
      gsi_strvec_pushf (out, "%s=%s", sc->vars[i].name, sc->vars[i].value);
}

static void
join_words (gsi_buf *out, const gsi_strvec *v, const char *sep)
{
  for (size_t i = 0; i < v->n; i++)
    gsi_buf_addf (out, "%s%s", i ? sep : "", v->v[i]);
}

/* Go's %q of a []string, as BuildKit writes CMD and ENTRYPOINT into the history.  */
static void
go_quote_list (gsi_buf *out, const gsi_strvec *v)
{
  gsi_buf_addch (out, '[');
  for (size_t i = 0; i < v->n; i++)
    {
      if (i)
        gsi_buf_addch (out, ' ');
      cf_go_quote (out, v->v[i], strlen (v->v[i]));
    }
  gsi_buf_addch (out, ']');
}

static void
strvec_copy (gsi_strvec *dst, const gsi_strvec *src)
{
  gsi_strvec_clear (dst);
  for (size_t i = 0; i < src->n; i++)
    gsi_strvec_push (dst, src->v[i]);
}

/* ---- config instructions ------------------------------------------------------------------------ */

bool
gsi_build_is_config_only (cf_kind k)
{
  switch (k)
    {
    case CF_CMD_RUN:
    case CF_CMD_COPY:
    case CF_CMD_ADD:
    case CF_CMD_FROM:
      return false;
    case CF_CMD_ARG:
    case CF_CMD_ENV:
    case CF_CMD_LABEL:
    case CF_CMD_CMD:
    case CF_CMD_ENTRYPOINT:
    case CF_CMD_WORKDIR:
    case CF_CMD_USER:
    case CF_CMD_EXPOSE:
    case CF_CMD_VOLUME:
    case CF_CMD_SHELL:
    case CF_CMD_STOPSIGNAL:
    case CF_CMD_HEALTHCHECK:
    case CF_CMD_ONBUILD:
    case CF_CMD_MAINTAINER:
    default:
      return true;
    }
}

void
gsi_build_cmdline_argv (const gsi_image_config *cfg, const cf_cmdline *line, gsi_strvec *out)
{
  if (!line->prepend_shell)
    {
      for (size_t i = 0; i < line->args.n; i++)
        gsi_strvec_push (out, line->args.v[i]);
      return;
    }
  if (cfg->shell.n)
    for (size_t i = 0; i < cfg->shell.n; i++)
      gsi_strvec_push (out, cfg->shell.v[i]);
  else
    {
      gsi_strvec_push (out, DEFAULT_SHELL_0);
      gsi_strvec_push (out, DEFAULT_SHELL_1);
    }
  gsi_buf joined = GSI_BUF_INIT;
  join_words (&joined, &line->args, " ");
  gsi_strvec_push_owned (out, gsi_buf_detach (&joined, NULL));
}

static void
kv_history (gsi_buf *h, const char *kw, const cf_kvs_cmd *kvs, bool arg)
{
  gsi_buf_addstr (h, kw);
  for (size_t i = 0; i < kvs->n; i++)
    {
      if (arg && !kvs->kv[i].has_value)
        gsi_buf_addf (h, " %s", kvs->kv[i].key);
      else
        gsi_buf_addf (h, " %s=%s", kvs->kv[i].key, kvs->kv[i].value ? kvs->kv[i].value : "");
    }
}

static int
apply_expose (gsi_image_config *cfg, const cf_cmd *x, gsi_buf *h, gsi_error *err)
{
  gsi_buf_addstr (h, "EXPOSE");
  for (size_t i = 0; i < x->u.list.n; i++)
    {
      cleanup_strvec gsi_strvec ports = GSI_STRVEC_INIT;
      if (cf_parse_port_spec (x->u.list.v[i], &ports, err) < 0)
        return -1;
      for (size_t j = 0; j < ports.n; j++)
        {
          gsi_image_config_add_port (cfg, ports.v[j]);
          gsi_buf_addf (h, " %s", ports.v[j]);
        }
    }
  return 0;
}

static void
apply_workdir (gsi_image_config *cfg, const char *value, gsi_buf *h)
{
  cleanup_free char *joined = gsi_path_join (cfg->working_dir && *cfg->working_dir ? cfg->working_dir : "/", value);
  cleanup_free char *abs = joined[0] == '/' ? xstrdup (joined) : xasprintf ("/%s", joined);

  free (cfg->working_dir);
  cfg->working_dir = gsi_path_clean (abs);
  gsi_buf_addf (h, "WORKDIR %s", cfg->working_dir);
}

static void
apply_healthcheck (gsi_image_config *cfg, const cf_health_cmd *hc, gsi_buf *h)
{
  gsi_healthcheck *d = &cfg->healthcheck;

  gsi_strvec_clear (&d->test);
  if (hc->none)
    gsi_strvec_push (&d->test, "NONE");
  else
    strvec_copy (&d->test, &hc->test);
  d->interval = hc->none ? 0 : hc->interval;
  d->timeout = hc->none ? 0 : hc->timeout;
  d->start_period = hc->none ? 0 : hc->start_period;
  d->start_interval = hc->none ? 0 : hc->start_interval;
  d->retries = hc->none ? 0 : hc->retries;
  gsi_buf_addstr (h, "HEALTHCHECK ");
  go_quote_list (h, &d->test);
  if (d->interval)
    gsi_buf_addf (h, " interval=%lldns", (long long) d->interval);
  if (d->timeout)
    gsi_buf_addf (h, " timeout=%lldns", (long long) d->timeout);
  if (d->start_period)
    gsi_buf_addf (h, " start-period=%lldns", (long long) d->start_period);
  if (d->start_interval)
    gsi_buf_addf (h, " start-interval=%lldns", (long long) d->start_interval);
  if (d->retries)
    gsi_buf_addf (h, " retries=%d", d->retries);
}

static void
set_str (char **slot, const char *v)
{
  free (*slot);
  *slot = v ? xstrdup (v) : NULL;
}

static void
apply_kvs (gsi_image_config *cfg, const cf_cmd *x, gsi_buf *h)
{
  if (x->kind == CF_CMD_ENV)
    {
      for (size_t i = 0; i < x->u.kvs.n; i++)
        gsi_image_config_set_env (cfg, x->u.kvs.kv[i].key, x->u.kvs.kv[i].value ? x->u.kvs.kv[i].value : "");
      kv_history (h, "ENV", &x->u.kvs, false);
    }
  else if (x->kind == CF_CMD_LABEL)
    {
      for (size_t i = 0; i < x->u.kvs.n; i++)
        gsi_kv_set (&cfg->labels, x->u.kvs.kv[i].key, x->u.kvs.kv[i].value ? x->u.kvs.kv[i].value : "");
      kv_history (h, "LABEL", &x->u.kvs, false);
    }
  else
    kv_history (h, "ARG", &x->u.kvs, true);
}

static void
apply_cmdline (gsi_image_config *cfg, gsi_config_state *st, const cf_cmd *x, gsi_buf *h)
{
  cleanup_strvec gsi_strvec argv = GSI_STRVEC_INIT;

  gsi_build_cmdline_argv (cfg, &x->u.cmdline, &argv);
  if (x->kind == CF_CMD_CMD)
    {
      strvec_copy (&cfg->cmd, &argv);
      st->cmd_set = true;
      gsi_buf_addstr (h, "CMD ");
    }
  else
    {
      strvec_copy (&cfg->entrypoint, &argv);
      /* As docker: an ENTRYPOINT drops the inherited CMD unless this stage set one before.  */
      if (!st->cmd_set)
        gsi_strvec_clear (&cfg->cmd);
      gsi_buf_addstr (h, "ENTRYPOINT ");
    }
  go_quote_list (h, &argv);
}

int
gsi_build_apply_config (gsi_image_config *cfg, gsi_config_state *st, const cf_cmd *x, char **created_by,
                        gsi_error *err)
{
  gsi_buf h = GSI_BUF_INIT;

  *created_by = NULL;
  switch (x->kind)
    {
    case CF_CMD_ENV:
    case CF_CMD_LABEL:
    case CF_CMD_ARG:
      apply_kvs (cfg, x, &h);
      break;
    case CF_CMD_CMD:
    case CF_CMD_ENTRYPOINT:
      apply_cmdline (cfg, st, x, &h);
      break;
    case CF_CMD_USER:
      set_str (&cfg->user, x->u.value);
      gsi_buf_addf (&h, "USER %s", x->u.value);
      break;
    case CF_CMD_WORKDIR:
      apply_workdir (cfg, x->u.value, &h);
      break;
    case CF_CMD_EXPOSE:
      if (apply_expose (cfg, x, &h, err) < 0)
        {
          gsi_buf_release (&h);
          return -1;
        }
      break;
    case CF_CMD_VOLUME:
      for (size_t i = 0; i < x->u.list.n; i++)
        gsi_image_config_add_volume (cfg, x->u.list.v[i]);
      gsi_buf_addstr (&h, "VOLUME [");
      join_words (&h, &x->u.list, " ");
      gsi_buf_addch (&h, ']');
      break;
    case CF_CMD_SHELL:
      strvec_copy (&cfg->shell, &x->u.list);
      gsi_buf_addstr (&h, "SHELL [");
      join_words (&h, &x->u.list, " ");
      gsi_buf_addch (&h, ']');
      break;
    case CF_CMD_STOPSIGNAL:
      set_str (&cfg->stop_signal, x->u.value);
      gsi_buf_addf (&h, "STOPSIGNAL %s", x->u.value);
      break;
    case CF_CMD_HEALTHCHECK:
      apply_healthcheck (cfg, &x->u.health, &h);
      break;
    case CF_CMD_ONBUILD:
      gsi_strvec_push (&cfg->onbuild, x->u.onbuild.expression);
      return 0;
    case CF_CMD_MAINTAINER:
      set_str (&cfg->author, x->u.value);
      gsi_buf_addf (&h, "MAINTAINER %s", x->u.value);
      break;
    case CF_CMD_FROM:
    case CF_CMD_RUN:
    case CF_CMD_COPY:
    case CF_CMD_ADD:
    default:
      return gsi_error_set (err, 0, "%s is not a config instruction", cf_kind_name (x->kind));
    }
  *created_by = gsi_buf_detach (&h, NULL);
  return 0;
}

/* ---- cache -------------------------------------------------------------------------------------- */

typedef struct step_ctx
{
  builder *b;
  stage_state *s;
  const cf_cmd *cmd;      /* as written */
  const cf_cmd *x;        /* expanded */
  const cf_scope *scope;
  bool onbuild;
  char hdr[32];           /* "[3/7]" */
  gsi_strvec env;         /* "NAME=VALUE" in effect for a RUN */
  char key[65];
  gsi_cache_entry hit;
  bool have_hit;
} step_ctx;

static void
step_key (step_ctx *c, const char *instruction, const char *content)
{
  cleanup_strvec gsi_strvec args = GSI_STRVEC_INIT;
  const gsi_image_config *cfg = &c->s->cfg;
  gsi_cache_key_input in = { 0 };

  scope_build_args (c->scope, &args);
  in.parent = c->s->key;
  in.instruction = instruction;
  in.build_args = (const char *const *) args.v;
  in.n_build_args = args.n;
  in.env = (const char *const *) c->env.v;
  in.n_env = c->env.n;
  in.user = cfg->user;
  in.workdir = cfg->working_dir;
  in.shell = (const char *const *) cfg->shell.v;
  in.n_shell = cfg->shell.n;
  in.content = content;
  gsi_cache_key (&in, c->key);
}

static int
cache_lookup (step_ctx *c, gsi_error *err)
{
  builder *b = c->b;
  int r;

  c->have_hit = false;
  if (b->o->no_cache)
    return 0;
  r = gsi_cache_get (gsi_store_dir_path (b->store, GSI_STORE_CACHE), c->key, &c->hit, err);
  if (r < 0)
    return -1;
  /* A hit is only as good as its blob: prune may have removed it.  */
  if (r > 0 && !c->hit.empty_layer && !gsi_store_has_blob (b->store, c->hit.digest))
    r = 0;
  c->have_hit = r > 0;
  return 0;
}

static int
cache_record (step_ctx *c, const gsi_cache_entry *e, gsi_error *err)
{
  return gsi_cache_put (gsi_store_dir_path (c->b->store, GSI_STORE_CACHE), c->key, e, err);
}

/* Appends the layer of a cache hit, unpacking it when its dir is gone.  Returns 1 when used, 0
 * when it cannot be (then the step runs).  */
static int
use_cached_layer (step_ctx *c, const char *created_by)
{
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  cleanup_free char *dir = NULL;
  cleanup_error gsi_error e = GSI_ERROR_INIT;

  gsi_descriptor_set (&d, c->hit.media_type, c->hit.digest, (int64_t) c->hit.size);
  if (ensure_unpacked (c->b, &d, c->hit.diff_id, &dir, &e) < 0)
    {
      logf_ (c->b, "%s cache entry unusable (%s): running the step", c->hdr, e.msg);
      gsi_descriptor_clear (&d);
      return 0;
    }
  stage_add_layer (c->s, &d, c->hit.diff_id, dir);
  gsi_image_config_add_history (&c->s->cfg, c->hit.created, created_by, NULL, false);
  memcpy (c->s->key, c->key, sizeof c->key);
  c->b->cached++;
  gsi_descriptor_clear (&d);
  return 1;
}

static int
finish_layer_step (step_ctx *c, layer_out *l, const char *created_by, gsi_error *err)
{
  gsi_cache_entry e = { 0 };

  now_string (c->b, e.created);
  snprintf (e.digest, sizeof e.digest, "%s", l->desc.digest);
  snprintf (e.diff_id, sizeof e.diff_id, "%s", l->info.diff_id);
  snprintf (e.media_type, sizeof e.media_type, "%s", l->desc.media_type);
  e.size = l->info.size;
  e.raw_size = l->info.raw_size;
  stage_add_layer (c->s, &l->desc, l->info.diff_id, l->dir);
  gsi_image_config_add_history (&c->s->cfg, e.created, created_by, NULL, false);
  memcpy (c->s->key, c->key, sizeof c->key);
  return cache_record (c, &e, err);
}

/* ---- step errors -------------------------------------------------------------------------------- */

static int
step_fail (step_ctx *c, gsi_error *err)
{
  cleanup_free char *msg = xstrdup (err->msg ? err->msg : "failed");
  gsi_buf tmp = GSI_BUF_INIT;
  int code = err->code;

  gsi_error_at (err, c->b->file_path, c->cmd->line, 0, "step %s `%s`: %s", c->hdr, first_line (c->cmd->original, &tmp),
                msg);
  err->code = code;
  gsi_buf_release (&tmp);
  return -1;
}

/* ---- config-only steps -------------------------------------------------------------------------- */

static int
config_step (step_ctx *c, gsi_error *err)
{
  cleanup_free char *created_by = NULL;
  gsi_cache_entry e = { .empty_layer = true };

  if (gsi_build_apply_config (&c->s->cfg, &c->s->cs, c->x, &created_by, err) < 0)
    return step_fail (c, err);
  if (created_by == NULL)
    {
      /* ONBUILD: no history entry, but later keys must still see it.  */
      cleanup_free char *t = xasprintf ("ONBUILD %s", c->x->u.onbuild.expression);
      step_key (c, t, NULL);
      memcpy (c->s->key, c->key, sizeof c->key);
      return 0;
    }
  step_key (c, created_by, NULL);
  if (cache_lookup (c, err) < 0)
    return -1;
  if (c->have_hit && c->hit.empty_layer)
    {
      gsi_image_config_add_history (&c->s->cfg, c->hit.created, created_by, NULL, true);
      memcpy (c->s->key, c->key, sizeof c->key);
      c->b->cached++;
      return 0;
    }
  now_string (c->b, e.created);
  gsi_image_config_add_history (&c->s->cfg, e.created, created_by, NULL, true);
  memcpy (c->s->key, c->key, sizeof c->key);
  return cache_record (c, &e, err);
}

/* ---- sources outside the stage: other stages and images ----------------------------------------- */

static stage_state *ext_image_state (builder *b, const char *ref, gsi_error *err);

static bool
parse_stage_index (const char *s, size_t n, size_t *out)
{
  char *end = NULL;
  long v;

  if (*s < '0' || *s > '9')
    return false;
  errno = 0;
  v = strtol (s, &end, 10);
  if (errno || *end || v < 0 || (size_t) v >= n)
    return false;
  *out = (size_t) v;
  return true;
}

/* What --from= / from= names: a stage (by name or index) or an image in the store.  */
static stage_state *
from_state (builder *b, const char *value, gsi_error *err)
{
  const cf_stage *st = cf_plan_find_stage (b->plan, value);
  size_t idx;

  if (st != NULL)
    idx = st->index;
  else if (!parse_stage_index (value, b->plan->nstages, &idx))
    return ext_image_state (b, value, err);
  if (!b->stages[idx].ready)
    {
      gsi_error_set (err, 0, "stage `%s` is not built before it is used", value);
      return NULL;
    }
  return &b->stages[idx];
}

/* ---- RUN ---------------------------------------------------------------------------------------- */

typedef struct run_setup
{
  gsi_sandbox_mount *mounts;
  size_t n_mounts;
  gsi_strvec strings;  /* storage for mount paths */
  gsi_buf keytext;     /* what the mounts add to the cache key */
  int *locks;
  size_t n_locks;
  gsi_strvec argv;
  gsi_strvec secret_env; /* kept out of the cache key and the history */
  char *rundir;
} run_setup;

static void
run_setup_clear (run_setup *r)
{
  free (r->mounts);
  gsi_strvec_clear (&r->strings);
  gsi_buf_release (&r->keytext);
  for (size_t i = 0; i < r->n_locks; i++)
    close (r->locks[i]);
  free (r->locks);
  gsi_strvec_clear (&r->argv);
  gsi_strvec_clear (&r->secret_env);
  free (r->rundir);
  memset (r, 0, sizeof *r);
}

static const char *
keep_str (run_setup *r, char *s)
{
  gsi_strvec_push_owned (&r->strings, s);
  return s;
}

static gsi_sandbox_mount *
add_mount (run_setup *r, gsi_sandbox_mount_type type, const char *target)
{
  r->mounts = xrealloc (r->mounts, (r->n_mounts + 1) * sizeof *r->mounts);
  gsi_sandbox_mount *m = &r->mounts[r->n_mounts++];
  memset (m, 0, sizeof *m);
  m->type = type;
  m->target = target;
  return m;
}

static char *
abs_target (const gsi_image_config *cfg, const char *target)
{
  cleanup_free char *j = gsi_path_join (cfg->working_dir && *cfg->working_dir ? cfg->working_dir : "/", target);
  if (j[0] != '/')
    {
      cleanup_free char *a = xasprintf ("/%s", j);
      return gsi_path_clean (a);
    }
  return gsi_path_clean (j);
}

/* The host path of path inside root_fd, resolved as the container would resolve it.  */
static char *
host_path_in (int root_fd, const char *path, gsi_error *err)
{
  cleanup_close int fd = gsi_open_in_root (root_fd, path, O_PATH, 0, err);
  char link[64];
  char buf[PATH_MAX];
  ssize_t n;

  if (fd < 0)
    return NULL;
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, buf, sizeof buf - 1);
  if (n < 0)
    {
      gsi_error_set (err, errno, "readlink `%s`", link);
      return NULL;
    }
  buf[n] = '\0';
  return xstrdup (buf);
}

/* A writable bind mount must not write through to its source (BuildKit discards the writes):
 * directories get an overlay with a throwaway upper dir, files a copy.  */
static char *
writable_copy (builder *b, const char *src, gsi_error *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *upper = NULL;
  cleanup_free char *work = NULL;
  cleanup_free char *merged = NULL;
  char *lowers[2] = { (char *) src, NULL };

  if (make_tmpdir (b, "bindrw-", &dir, err) < 0)
    return NULL;
  if (!is_dir (src))
    {
      cleanup_close int in = open (src, O_RDONLY | O_CLOEXEC);
      char *dst = xasprintf ("%s/file", dir);
      cleanup_close int out = open (dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (in < 0 || out < 0 || gsi_copy_data (in, out, err) < 0)
        {
          if (err && err->msg == NULL)
            gsi_error_set (err, errno, "copy `%s`", src);
          free (dst);
          return NULL;
        }
      return dst;
    }
  if (mkdir_at (dir, "upper", 0755, &upper, err) < 0 || mkdir_at (dir, "work", 0700, &work, err) < 0
      || mkdir_at (dir, "merged", 0755, &merged, err) < 0)
    return NULL;
  if (mount_overlay (merged, lowers, 1, upper, work, false, err) < 0)
    return NULL;
  gsi_strvec_push (&b->mounts, merged);
  return steal_pointer (&merged);
}

static int
setup_bind (step_ctx *c, run_setup *r, const cf_mount *m, const char *target, gsi_error *err)
{
  builder *b = c->b;
  const char *source = m->source && *m->source ? m->source : "/";
  cleanup_free char *host = NULL;
  int root_fd = b->ctx_fd;
  cleanup_close int view_fd = -1;

  gsi_buf_addf (&r->keytext, " bind:%s:%s:%s:%s", m->from ? m->from : "", source, target, m->readonly ? "ro" : "rw");
  if (m->from && *m->from)
    {
      stage_state *s = from_state (b, m->from, err);
      if (s == NULL || ensure_ro_root (b, s, err) < 0)
        return -1;
      view_fd = open (s->ro_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (view_fd < 0)
        return gsi_error_set (err, errno, "open `%s`", s->ro_root);
      root_fd = view_fd;
      gsi_buf_addf (&r->keytext, ":%s", s->key);
    }
  else
    {
      /* The content of a context bind mount decides the result like a COPY's would.  */
      const char *srcs[1] = { source };
      gsi_copy_spec spec = { .src_root_fd = b->ctx_fd, .src_label = "build context", .ignore = b->ignore,
                             .sources = srcs, .nsources = 1, .dest = "/" };
      char h[65];
      if (gsi_copy_hash (&spec, h, err) < 0)
        return -1;
      gsi_buf_addf (&r->keytext, ":%s", h);
    }
  host = host_path_in (root_fd, source, err);
  if (host == NULL)
    return gsi_error_wrap (err, "--mount=type=bind source `%s`", source);
  if (!m->readonly)
    {
      char *w = writable_copy (b, host, err);
      if (w == NULL)
        return -1;
      free (host);
      host = w;
    }
  gsi_sandbox_mount *sm = add_mount (r, GSI_SANDBOX_MOUNT_BIND, target);
  sm->source = keep_str (r, steal_pointer (&host));
  sm->readonly = m->readonly;
  return 0;
}

static int
setup_cache (step_ctx *c, run_setup *r, const cf_mount *m, const char *target, gsi_error *err)
{
  const char *id = m->id && *m->id ? m->id : target;
  char digest[GSI_DIGEST_BUF];
  char *dir;

  gsi_digest_buf (id, strlen (id), digest);
  dir = xasprintf ("%s/%s", gsi_store_dir_path (c->b->store, GSI_STORE_MOUNTS), gsi_digest_hex (digest));
  keep_str (r, dir);
  if (mkdir (dir, m->has_mode ? m->mode : 0755) == 0)
    {
      chmod (dir, m->has_mode ? m->mode : 0755);
      if (chown (dir, m->has_uid ? m->uid : 0, m->has_gid ? m->gid : 0) < 0)
        return gsi_error_set (err, errno, "chown `%s`", dir);
    }
  else if (errno != EEXIST)
    return gsi_error_set (err, errno, "mkdir `%s`", dir);
  if (m->sharing == CF_SHARING_LOCKED)
    {
      char *lock = xasprintf ("%s.lock", dir);
      int fd = open (lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      free (lock);
      if (fd < 0 || flock (fd, LOCK_EX) < 0)
        {
          if (fd >= 0)
            close (fd);
          return gsi_error_set (err, errno, "lock cache mount `%s`", id);
        }
      r->locks = xrealloc (r->locks, (r->n_locks + 1) * sizeof (int));
      r->locks[r->n_locks++] = fd;
    }
  gsi_buf_addf (&r->keytext, " cache:%s:%s:%s", id, target, m->readonly ? "ro" : "rw");
  gsi_sandbox_mount *sm = add_mount (r, GSI_SANDBOX_MOUNT_BIND, target);
  sm->source = dir;
  sm->readonly = m->readonly;
  return 0;
}

static const gsi_build_secret *
find_secret (const builder *b, const char *id)
{
  for (size_t i = 0; i < b->o->n_secrets; i++)
    if (strcmp (b->o->secrets[i].id, id) == 0)
      return &b->o->secrets[i];
  return NULL;
}

static int
secret_env (run_setup *r, const char *name, const char *src, gsi_error *err)
{
  cleanup_close int fd = open (src, O_RDONLY | O_CLOEXEC);
  gsi_buf v = GSI_BUF_INIT;
  char buf[4096];
  ssize_t n;

  if (fd < 0)
    return gsi_error_set (err, errno, "open secret `%s`", src);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    gsi_buf_add (&v, buf, (size_t) n);
  if (n < 0)
    {
      gsi_buf_release (&v);
      return gsi_error_set (err, errno, "read secret `%s`", src);
    }
  gsi_strvec_pushf (&r->secret_env, "%s=%s", name, v.buf);
  gsi_buf_release (&v);
  return 0;
}

static int
setup_secret (step_ctx *c, run_setup *r, const cf_mount *m, gsi_error *err)
{
  cleanup_free char *base = NULL;
  cleanup_free char *dir = NULL;
  const char *id = m->id;

  if ((id == NULL || !*id) && m->target)
    {
      gsi_path_split (m->target, &dir, &base);
      id = base;
    }
  if (id == NULL || !*id)
    return gsi_error_set (err, 0, "--mount=type=secret needs an id or a target");
  const gsi_build_secret *sec = find_secret (c->b, id);
  /* The secret's id, not its content, is part of the key: a rotated secret reuses the cache, as
   * in BuildKit.  */
  gsi_buf_addf (&r->keytext, " secret:%s:%s:%s", id, m->target ? m->target : "", m->env ? m->env : "");
  if (sec == NULL)
    {
      if (m->required)
        return gsi_error_set (err, 0, "secret `%s` is required but was not given (--secret id=%s,src=FILE)", id, id);
      return 0;
    }
  if (m->env && *m->env && secret_env (r, m->env, sec->src, err) < 0)
    return -1;
  if (m->env && *m->env && m->target == NULL)
    return 0;
  const char *target = m->target ? keep_str (r, abs_target (&c->s->cfg, m->target))
                                 : keep_str (r, xasprintf ("/run/secrets/%s", id));
  gsi_sandbox_mount *sm = add_mount (r, GSI_SANDBOX_MOUNT_SECRET, target);
  sm->source = sec->src;
  sm->mode = m->has_mode ? m->mode : 0400;
  sm->uid = m->has_uid ? m->uid : 0;
  sm->gid = m->has_gid ? m->gid : 0;
  return 0;
}

static int
setup_mount (step_ctx *c, run_setup *r, const cf_mount *m, gsi_error *err)
{
  const char *target = NULL;

  if (m->type != CF_MOUNT_SECRET && m->type != CF_MOUNT_SSH)
    {
      if (m->target == NULL || !*m->target)
        return gsi_error_set (err, 0, "--mount=type=%s needs a target", cf_mount_type_name (m->type));
      target = keep_str (r, abs_target (&c->s->cfg, m->target));
    }
  switch (m->type)
    {
    case CF_MOUNT_BIND:
      return setup_bind (c, r, m, target, err);
    case CF_MOUNT_CACHE:
      return setup_cache (c, r, m, target, err);
    case CF_MOUNT_TMPFS:
      {
        gsi_sandbox_mount *sm = add_mount (r, GSI_SANDBOX_MOUNT_TMPFS, target);
        sm->size = m->has_size && m->size > 0 ? (unsigned long long) m->size : 0;
        sm->readonly = false;
        gsi_buf_addf (&r->keytext, " tmpfs:%s", target);
        return 0;
      }
    case CF_MOUNT_SECRET:
      return setup_secret (c, r, m, err);
    case CF_MOUNT_SSH:
    default:
      return gsi_error_set (err, ENOTSUP, "--mount=type=ssh is not supported");
    }
}

/* BuildKit's heredoc rules: a lone heredoc starting with #! is written to a file and executed; a
 * lone plain one is the shell's script; anything else is handed to the shell reassembled.  */
static int
run_argv (step_ctx *c, run_setup *r, gsi_error *err)
{
  const cf_cmdline *line = &c->x->u.run.line;
  cf_cmdline tmp = *line;
  gsi_strvec one = GSI_STRVEC_INIT;
  int ret = 0;

  if (line->nfiles == 0 || !line->prepend_shell || line->args.n != 1)
    {
      gsi_build_cmdline_argv (&c->s->cfg, line, &r->argv);
      return 0;
    }
  const cf_heredoc *h = &line->files[0];
  const char *a = line->args.v[0];
  bool lone = line->nfiles == 1 && strncmp (a, "<<", 2) == 0 && strpbrk (a, " \t\n") == NULL;
  if (lone && strncmp (h->content, "#!", 2) == 0)
    {
      char *path = xasprintf ("%s/heredoc", r->rundir);
      cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
      if (fd < 0 || write (fd, h->content, h->content_len) != (ssize_t) h->content_len)
        ret = gsi_error_set (err, errno, "write `%s`", path);
      keep_str (r, path);
      gsi_sandbox_mount *sm = add_mount (r, GSI_SANDBOX_MOUNT_BIND, keep_str (r, xasprintf ("/dev/pipes/%s", h->name)));
      sm->source = path;
      sm->readonly = true;
      gsi_strvec_pushf (&r->argv, "/dev/pipes/%s", h->name);
      return ret;
    }
  gsi_buf script = GSI_BUF_INIT;
  if (lone)
    gsi_buf_add (&script, h->content, h->content_len);
  else
    {
      gsi_buf_addstr (&script, a);
      for (size_t i = 0; i < line->nfiles; i++)
        {
          gsi_buf_addch (&script, '\n');
          gsi_buf_add (&script, line->files[i].content, line->files[i].content_len);
          gsi_buf_addstr (&script, line->files[i].name);
        }
    }
  gsi_strvec_push_owned (&one, gsi_buf_detach (&script, NULL));
  tmp.args = one;
  gsi_build_cmdline_argv (&c->s->cfg, &tmp, &r->argv);
  gsi_strvec_clear (&one);
  return 0;
}

/* BuildKit's history text: "RUN |N K=V ... argv".  */
static char *
run_created_by (step_ctx *c, const gsi_strvec *argv)
{
  cleanup_strvec gsi_strvec args = GSI_STRVEC_INIT;
  gsi_buf h = GSI_BUF_INIT;

  scope_build_args (c->scope, &args);
  gsi_buf_addstr (&h, "RUN");
  if (args.n)
    {
      gsi_buf_addf (&h, " |%zu", args.n);
      for (size_t i = 0; i < args.n; i++)
        gsi_buf_addf (&h, " %s", args.v[i]);
    }
  for (size_t i = 0; i < argv->n; i++)
    gsi_buf_addf (&h, " %s", argv->v[i]);
  return gsi_buf_detach (&h, NULL);
}

typedef struct line_ctx
{
  builder *b;
} line_ctx;

static void
on_run_line (void *ctx, int stream, const char *line, size_t len)
{
  line_ctx *l = ctx;
  (void) stream;
  logf_ (l->b, "%.*s", (int) len, line);
}

/* The upper dir is the merged root's "/": give it the attributes of the image's root, not
 * mkdtemp's 0700, or non-root users could not even reach their files.  */
static void
copy_root_attrs (const stage_state *s, const char *upper)
{
  struct stat st;

  for (size_t i = s->lowers.n; i-- > 0;)
    if (stat (s->lowers.v[i], &st) == 0)
      {
        if (chown (upper, st.st_uid, st.st_gid) < 0)
          continue;
        chmod (upper, st.st_mode & 07777);
        return;
      }
  chmod (upper, 0755);
}

static int
make_step_dirs (step_ctx *c, run_setup *r, char **upper, char **work, gsi_error *err)
{
  if (r->rundir == NULL && gsi_store_mkdtemp (c->b->store, "step-", &r->rundir, err) < 0)
    return -1;
  if (mkdir_at (r->rundir, "upper", 0755, upper, err) < 0 || mkdir_at (r->rundir, "work", 0700, work, err) < 0)
    return -1;
  copy_root_attrs (c->s, *upper);
  return 0;
}

static int
run_failed (step_ctx *c, int status, gsi_line_tail *tail, gsi_error *err)
{
  cleanup_free char *last = gsi_line_tail_join (tail);
  gsi_buf tmp = GSI_BUF_INIT;

  gsi_error_at (err, c->b->file_path, c->cmd->line, 0, "step %s `%s` failed with exit code %d%s%s", c->hdr,
                first_line (c->cmd->original, &tmp), status, *last ? "; last output:\n" : "", last);
  gsi_buf_release (&tmp);
  return -1;
}

static int
execute_run (step_ctx *c, run_setup *r, layer_out *l, gsi_error *err)
{
  cleanup_free char *upper = NULL;
  cleanup_free char *work = NULL;
  cleanup_free char **lowers = NULL;
  cleanup_strvec gsi_strvec env = GSI_STRVEC_INIT;
  gsi_sandbox_opts so = GSI_SANDBOX_OPTS_INIT;
  gsi_line_tail tail;
  line_ctx lc = { c->b };
  size_t n = 0;
  int status = -1;
  int ret;

  if (make_step_dirs (c, r, &upper, &work, err) < 0)
    return -1;
  lowers = stack_lowers (c->s, NULL, &n);
  so.lower_dirs = lowers;
  so.n_lower = n;
  so.upper_dir = upper;
  so.work_dir = work;
  so.scratch_dir = r->rundir;
  so.argv = r->argv.v;
  for (size_t i = 0; i < c->env.n; i++)
    gsi_strvec_push (&env, c->env.v[i]);
  for (size_t i = 0; i < r->secret_env.n; i++)
    gsi_strvec_push (&env, r->secret_env.v[i]);
  so.env = env.v;
  so.cwd = c->s->cfg.working_dir && *c->s->cfg.working_dir ? c->s->cfg.working_dir : "/";
  so.user = c->s->cfg.user && *c->s->cfg.user ? c->s->cfg.user : NULL;
  so.network = c->x->u.run.network == CF_NETWORK_NONE   ? GSI_SANDBOX_NET_NONE
               : c->x->u.run.network == CF_NETWORK_HOST ? GSI_SANDBOX_NET_HOST
                                                        : c->b->o->network;
  so.mounts = r->mounts;
  so.n_mounts = r->n_mounts;
  so.privileged = c->x->u.run.security == CF_SECURITY_INSECURE;
  so.on_line = on_run_line;
  so.on_line_ctx = &lc;
  gsi_line_tail_init (&tail, TAIL_LINES);
  so.tail = &tail;
  ret = gsi_sandbox_run (&so, &status, err);
  if (ret == 0 && status != 0)
    ret = run_failed (c, status, &tail, err);
  else if (ret < 0)
    ret = step_fail (c, err);
  gsi_line_tail_clear (&tail);
  if (ret < 0)
    return -1;
  if (commit_upper (c->b, upper, l, err) < 0)
    return step_fail (c, err);
  return 0;
}

static int
run_step (step_ctx *c, gsi_error *err)
{
  run_setup r = { 0 };
  layer_out l = { 0 };
  cleanup_free char *created_by = NULL;
  cleanup_free char *instr = NULL;
  int ret = 0;

  gsi_buf_init (&r.keytext, 0);
  if (gsi_store_mkdtemp (c->b->store, "run-", &r.rundir, err) < 0)
    return step_fail (c, err);
  for (size_t i = 0; ret == 0 && i < c->x->u.run.nmounts; i++)
    ret = setup_mount (c, &r, &c->x->u.run.mounts[i], err);
  if (ret == 0)
    ret = run_argv (c, &r, err);
  if (ret < 0)
    {
      remove_tree (r.rundir);
      run_setup_clear (&r);
      return step_fail (c, err);
    }
  created_by = run_created_by (c, &r.argv);
  instr = xasprintf ("%s |mounts%s |net=%d |sec=%d", created_by, r.keytext.buf, (int) c->x->u.run.network,
                     (int) c->x->u.run.security);
  step_key (c, instr, NULL);
  ret = cache_lookup (c, err);
  if (ret == 0 && c->have_hit && !c->hit.empty_layer && use_cached_layer (c, created_by) == 1)
    logf_ (c->b, "%s using cache", c->hdr);
  else if (ret == 0)
    {
      ret = execute_run (c, &r, &l, err);
      if (ret == 0)
        ret = finish_layer_step (c, &l, created_by, err);
    }
  remove_tree (r.rundir);
  layer_out_clear (&l);
  run_setup_clear (&r);
  return ret;
}

/* ---- COPY and ADD -------------------------------------------------------------------------------- */

typedef struct copy_setup
{
  stage_state *from;       /* --from source, else NULL */
  int src_fd;              /* source root */
  char *src_label;
  char *dest;              /* absolute */
  bool dest_is_dir;
  gsi_strvec local;        /* context/stage path sources */
  char *heredoc_dir;       /* files of heredoc sources */
  gsi_strvec heredoc_names;
  gsi_add_download *downloads;
  size_t n_downloads;
  cf_ignore *exclude;
  bool chmod;
  mode_t mode;
  bool symbolic;           /* --chmod was symbolic: prog below, not mode */
  gsi_chmod_prog prog;
  bool unpack;
} copy_setup;

static void
copy_setup_clear (copy_setup *cs)
{
  if (cs->src_fd >= 0)
    close (cs->src_fd);
  free (cs->src_label);
  free (cs->dest);
  gsi_strvec_clear (&cs->local);
  if (cs->heredoc_dir)
    remove_tree (cs->heredoc_dir);
  free (cs->heredoc_dir);
  gsi_strvec_clear (&cs->heredoc_names);
  for (size_t i = 0; i < cs->n_downloads; i++)
    gsi_add_download_clear (&cs->downloads[i]);
  free (cs->downloads);
  cf_ignore_free (cs->exclude);
  memset (cs, 0, sizeof *cs);
  cs->src_fd = -1;
}

/* BuildKit's pathRelativeToWorkingDir: relative destinations hang off WORKDIR; a trailing '/',
 * "." or "" means a directory.  */
static char *
copy_dest (const gsi_image_config *cfg, const char *dest, bool *is_dir)
{
  size_t n = strlen (dest);

  *is_dir = n == 0 || dest[n - 1] == '/' || strcmp (dest, ".") == 0 || (n >= 2 && strcmp (dest + n - 2, "/.") == 0);
  return abs_target (cfg, n ? dest : ".");
}

/* BuildKit takes --chmod as octal when it starts with a digit (a bad one, "0888", is an octal
 * error), else as a symbolic mode.  */
static int
parse_chmod (const char *s, copy_setup *cs, gsi_error *err)
{
  char *end = NULL;
  unsigned long v;

  if (*s < '0' || *s > '9')
    {
      cs->symbolic = true;
      return gsi_chmod_parse (s, &cs->prog, err);
    }
  errno = 0;
  v = strtoul (s, &end, 8);
  if (errno || end == s || *end || v > 07777)
    return gsi_error_set (err, 0, "invalid chmod parameter: `%s`: it should be octal string and between 0 and 07777",
                          s);
  cs->mode = (mode_t) v;
  cs->chmod = true;
  return 0;
}

static int
write_heredocs (builder *b, const cf_copy_cmd *cp, copy_setup *cs, gsi_error *err)
{
  if (cp->ncontents == 0)
    return 0;
  if (gsi_store_mkdtemp (b->store, "heredoc-", &cs->heredoc_dir, err) < 0)
    return -1;
  for (size_t i = 0; i < cp->ncontents; i++)
    {
      const cf_heredoc *h = &cp->contents[i];
      cleanup_free char *clean = gsi_path_clean (h->name);
      cleanup_free char *dir = NULL;
      cleanup_free char *base = NULL;
      gsi_path_split (clean, &dir, &base);
      cleanup_free char *path = xasprintf ("%s/%s", cs->heredoc_dir, base);
      cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || write (fd, h->content, h->content_len) != (ssize_t) h->content_len)
        return gsi_error_set (err, errno, "write heredoc `%s`", h->name);
      fchmod (fd, 0644);
      gsi_strvec_push (&cs->heredoc_names, base);
    }
  return 0;
}

static int
exclude_matcher (const cf_copy_cmd *cp, copy_setup *cs, gsi_error *err)
{
  gsi_buf text = GSI_BUF_INIT;
  int r;

  if (cp->excludes.n == 0)
    return 0;
  for (size_t i = 0; i < cp->excludes.n; i++)
    gsi_buf_addf (&text, "%s\n", cp->excludes.v[i]);
  r = cf_ignore_parse ("--exclude", text.buf, text.len, &cs->exclude, err);
  gsi_buf_release (&text);
  return r;
}

static int
copy_sources (step_ctx *c, copy_setup *cs, gsi_error *err)
{
  const cf_copy_cmd *cp = &c->x->u.copy;
  builder *b = c->b;
  bool add = c->x->kind == CF_CMD_ADD;

  for (size_t i = 0; i < cp->sources.n; i++)
    {
      const char *src = cp->sources.v[i];
      if (add && gsi_add_is_git (src))
        return gsi_error_set (err, ENOTSUP, "ADD of a git repository (`%s`) is not supported", src);
      if (add && gsi_add_is_url (src) && !cp->from)
        {
          cs->downloads = xrealloc (cs->downloads, (cs->n_downloads + 1) * sizeof *cs->downloads);
          memset (&cs->downloads[cs->n_downloads], 0, sizeof *cs->downloads);
          logf_ (b, "%s fetching %s", c->hdr, src);
          if (gsi_add_fetch (src, gsi_store_dir_path (b->store, GSI_STORE_TMP), cp->checksum,
                             &cs->downloads[cs->n_downloads], err) < 0)
            return -1;
          cs->n_downloads++;
          continue;
        }
      if (!add && gsi_add_is_url (src))
        return gsi_error_set (err, 0, "source can't be a URL for COPY");
      gsi_strvec_push (&cs->local, src);
    }
  if (cp->checksum && cs->n_downloads == 0)
    return gsi_error_set (err, 0, "checksum requires HTTP(S) sources");
  return 0;
}

static int
copy_prepare (step_ctx *c, copy_setup *cs, gsi_error *err)
{
  const cf_copy_cmd *cp = &c->x->u.copy;
  builder *b = c->b;

  cs->src_fd = -1;
  cs->dest = copy_dest (&c->s->cfg, cp->dest, &cs->dest_is_dir);
  cs->unpack = c->x->kind == CF_CMD_ADD && (!cp->unpack_set || cp->unpack);
  if (cp->chmod && *cp->chmod && parse_chmod (cp->chmod, cs, err) < 0)
    return -1;
  if (copy_sources (c, cs, err) < 0 || write_heredocs (b, cp, cs, err) < 0 || exclude_matcher (cp, cs, err) < 0)
    return -1;
  if (cp->from && *cp->from)
    {
      cs->from = from_state (b, cp->from, err);
      if (cs->from == NULL)
        return -1;
      cs->src_label = xstrdup (cs->from->label);
    }
  else
    {
      cs->src_fd = dup (b->ctx_fd);
      if (cs->src_fd < 0)
        return gsi_error_set (err, errno, "dup");
      cs->src_label = xstrdup ("build context");
    }
  return 0;
}

static void
fill_spec (const copy_setup *cs, const step_ctx *c, gsi_copy_spec *s, size_t total_sources)
{
  memset (s, 0, sizeof *s);
  s->src_root_fd = cs->src_fd;
  s->src_label = cs->src_label;
  s->ignore = cs->from ? NULL : c->b->ignore;
  s->exclude = cs->exclude;
  s->sources = (const char *const *) cs->local.v;
  s->nsources = cs->local.n;
  s->dest = cs->dest;
  /* More than one source of any kind means a directory, as for one COPY with several sources.  */
  s->dest_is_dir = cs->dest_is_dir || total_sources > 1;
  s->keep_owner = cs->from != NULL;
  s->chmod = cs->chmod;
  s->mode = cs->mode;
  s->chmod_prog = cs->symbolic ? &cs->prog : NULL;
  s->parents = c->x->u.copy.parents;
}

static size_t
total_sources (const copy_setup *cs)
{
  return cs->local.n + cs->heredoc_names.n + cs->n_downloads;
}

/* What decides the result besides the instruction: source content for the context, the chain key
 * of a stage, the digest of an image, heredoc bodies, downloaded bytes.  */
static int
copy_content (step_ctx *c, copy_setup *cs, gsi_buf *out, gsi_error *err)
{
  gsi_copy_spec s;
  char h[65];

  if (cs->from)
    gsi_buf_addf (out, "from:%s", cs->from->key);
  else if (cs->local.n)
    {
      fill_spec (cs, c, &s, total_sources (cs));
      if (gsi_copy_hash (&s, h, err) < 0)
        return -1;
      gsi_buf_addf (out, "context:%s", h);
    }
  for (size_t i = 0; i < c->x->u.copy.ncontents; i++)
    {
      char d[GSI_DIGEST_BUF];
      gsi_digest_buf (c->x->u.copy.contents[i].content, c->x->u.copy.contents[i].content_len, d);
      gsi_buf_addf (out, " heredoc:%s:%s", c->x->u.copy.contents[i].name, d);
    }
  for (size_t i = 0; i < cs->n_downloads; i++)
    gsi_buf_addf (out, " url:%s:%s:%lld", cs->downloads[i].url, cs->downloads[i].digest,
                  (long long) cs->downloads[i].mtime);
  return 0;
}

static char *
copy_created_by (const step_ctx *c)
{
  const cf_copy_cmd *cp = &c->x->u.copy;
  gsi_buf h = GSI_BUF_INIT;

  gsi_buf_addstr (&h, c->x->kind == CF_CMD_ADD ? "ADD" : "COPY");
  if (cp->from)
    gsi_buf_addf (&h, " --from=%s", cp->from);
  if (cp->parents)
    gsi_buf_addstr (&h, " --parents");
  if (cp->chown && *cp->chown)
    gsi_buf_addf (&h, " --chown=%s", cp->chown);
  if (cp->chmod && *cp->chmod)
    gsi_buf_addf (&h, " --chmod=%s", cp->chmod);
  for (size_t i = 0; i < cp->sources.n; i++)
    gsi_buf_addf (&h, " %s", cp->sources.v[i]);
  for (size_t i = 0; i < cp->ncontents; i++)
    gsi_buf_addf (&h, " <<%s", cp->contents[i].name);
  gsi_buf_addf (&h, " %s", cp->dest);
  return gsi_buf_detach (&h, NULL);
}

static bool
all_digits (const char *s)
{
  return *s && strspn (s, "0123456789") == strlen (s);
}

/* --chown=user[:group], names looked up in the image being written, as BuildKit's readUser: a
 * number alone is both uid and gid, a name alone takes the passwd entry's group.  */
static int
resolve_chown (int rootfd, const char *spec, uid_t *uid, gid_t *gid, gsi_error *err)
{
  cleanup_free char *user = xstrdup (spec);
  char *group = strchr (user, ':');
  cleanup_user gsi_user u = GSI_USER_INIT;

  if (group)
    *group++ = '\0';
  if (all_digits (user))
    {
      *uid = (uid_t) strtoul (user, NULL, 10);
      *gid = (gid_t) *uid;
    }
  else
    {
      if (gsi_user_resolve (rootfd, user, &u, err) < 0)
        return gsi_error_wrap (err, "--chown `%s`", spec);
      *uid = u.uid;
      *gid = u.gid;
    }
  if (group == NULL || !*group)
    return 0;
  if (all_digits (group))
    {
      *gid = (gid_t) strtoul (group, NULL, 10);
      return 0;
    }
  cleanup_free char *g = xasprintf ("0:%s", group);
  cleanup_user gsi_user gu = GSI_USER_INIT;
  if (gsi_user_resolve (rootfd, g, &gu, err) < 0)
    return gsi_error_wrap (err, "--chown `%s`", spec);
  *gid = gu.gid;
  return 0;
}

static int
apply_heredocs (const copy_setup *cs, const gsi_copy_spec *base, int rootfd, gsi_error *err)
{
  cleanup_close int fd = -1;
  gsi_copy_spec s = *base;

  if (cs->heredoc_names.n == 0)
    return 0;
  fd = open (cs->heredoc_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", cs->heredoc_dir);
  s.src_root_fd = fd;
  s.src_label = "heredoc";
  s.ignore = NULL;
  s.exclude = NULL;
  s.keep_owner = false;
  s.parents = false;
  s.sources = (const char *const *) cs->heredoc_names.v;
  s.nsources = cs->heredoc_names.n;
  return gsi_copy_apply (&s, rootfd, err);
}

/* The copy itself, into rootfd (the merged overlay, or the bare upper dir for --link).  uidfd is
 * where --chown names are looked up.  */
static int
apply_copy (step_ctx *c, copy_setup *cs, int rootfd, int uidfd, gsi_error *err)
{
  const cf_copy_cmd *cp = &c->x->u.copy;
  gsi_copy_spec s;

  if (cs->from && cs->src_fd < 0)
    {
      if (ensure_ro_root (c->b, cs->from, err) < 0)
        return -1;
      cs->src_fd = open (cs->from->ro_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (cs->src_fd < 0)
        return gsi_error_set (err, errno, "open `%s`", cs->from->ro_root);
    }
  fill_spec (cs, c, &s, total_sources (cs));
  if (cp->chown && *cp->chown)
    {
      if (resolve_chown (uidfd, cp->chown, &s.uid, &s.gid, err) < 0)
        return -1;
      s.chown = true;
    }
  if (cs->local.n)
    {
      int r = c->x->kind == CF_CMD_ADD ? gsi_add_apply_local (&s, cs->unpack, rootfd, err)
                                       : gsi_copy_apply (&s, rootfd, err);
      if (r < 0)
        return -1;
    }
  if (apply_heredocs (cs, &s, rootfd, err) < 0)
    return -1;
  if (cs->n_downloads)
    return gsi_add_apply_downloads (&s, cs->downloads, cs->n_downloads, cp->unpack_set && cp->unpack, rootfd, err);
  return 0;
}

static int
open_dir (const char *path, gsi_error *err)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", path);
  return fd;
}

static bool
chown_needs_names (const char *chown)
{
  cleanup_free char *user = chown && *chown ? xstrdup (chown) : NULL;
  char *group = user ? strchr (user, ':') : NULL;

  if (user == NULL)
    return false;
  if (group)
    *group++ = '\0';
  return !all_digits (user) || (group && *group && !all_digits (group));
}

/* --link: the layer is made in the bare upper dir, without looking at the base, so it does not
 * depend on it.  --chown names still come from the image, through a read-only view of the stage
 * that is dropped again right after (it would be stale once the layer lands).  */
static int
link_copy (step_ctx *c, copy_setup *cs, const char *upper, gsi_error *err)
{
  cleanup_close int ufd = open_dir (upper, err);
  cleanup_close int vfd = -1;
  int ret;

  if (ufd < 0)
    return -1;
  if (chown_needs_names (c->x->u.copy.chown))
    {
      if (ensure_ro_root (c->b, c->s, err) < 0)
        return -1;
      vfd = open_dir (c->s->ro_root, err);
    }
  ret = vfd < 0 && c->s->ro_root ? -1 : apply_copy (c, cs, ufd, vfd >= 0 ? vfd : ufd, err);
  if (c->s->ro_root)
    {
      unmount_quietly (c->s->ro_root);
      free (c->s->ro_root);
      c->s->ro_root = NULL;
    }
  return ret;
}

static int
execute_copy (step_ctx *c, copy_setup *cs, layer_out *l, gsi_error *err)
{
  run_setup r = { 0 };
  cleanup_free char *upper = NULL;
  cleanup_free char *work = NULL;
  cleanup_free char *merged = NULL;
  cleanup_free char **lowers = NULL;
  size_t n = 0;
  int ret = 0;

  gsi_buf_init (&r.keytext, 0);
  if (make_step_dirs (c, &r, &upper, &work, err) < 0 || mkdir_at (r.rundir, "merged", 0755, &merged, err) < 0)
    {
      remove_tree (r.rundir);
      run_setup_clear (&r);
      return -1;
    }
  lowers = stack_lowers (c->s, c->b->empty_dir, &n);
  if (c->x->u.copy.link)
    ret = link_copy (c, cs, upper, err);
  else if (mount_overlay (merged, lowers, n, upper, work, false, err) < 0)
    ret = -1;
  else
    {
      cleanup_close int mfd = open_dir (merged, err);
      ret = mfd < 0 ? -1 : apply_copy (c, cs, mfd, mfd, err);
      if (mfd >= 0)
        close (steal_fd (&mfd));
      if (umount2 (merged, 0) < 0 && ret == 0)
        ret = gsi_error_set (err, errno, "unmount `%s`", merged);
    }
  if (ret == 0)
    ret = commit_upper (c->b, upper, l, err);
  remove_tree (r.rundir);
  run_setup_clear (&r);
  return ret;
}

static int
copy_step (step_ctx *c, gsi_error *err)
{
  copy_setup cs = { .src_fd = -1 };
  layer_out l = { 0 };
  cleanup_free char *created_by = NULL;
  cleanup_free char *instr = NULL;
  gsi_buf content = GSI_BUF_INIT;
  const cf_copy_cmd *cp = &c->x->u.copy;
  int ret;

  ret = copy_prepare (c, &cs, err);
  if (ret == 0)
    ret = copy_content (c, &cs, &content, err);
  if (ret == 0)
    {
      created_by = copy_created_by (c);
      instr = xasprintf ("%s |link=%d |unpack=%d:%d |checksum=%s |exclude=%zu", created_by, cp->link, cp->unpack_set,
                         cp->unpack, cp->checksum ? cp->checksum : "", cp->excludes.n);
      for (size_t i = 0; i < cp->excludes.n; i++)
        {
          char *t = xasprintf ("%s:%s", instr, cp->excludes.v[i]);
          free (instr);
          instr = t;
        }
      step_key (c, instr, content.buf);
      ret = cache_lookup (c, err);
    }
  if (ret == 0 && c->have_hit && !c->hit.empty_layer && use_cached_layer (c, created_by) == 1)
    logf_ (c->b, "%s using cache", c->hdr);
  else if (ret == 0)
    {
      ret = execute_copy (c, &cs, &l, err);
      if (ret == 0)
        ret = finish_layer_step (c, &l, created_by, err);
    }
  gsi_buf_release (&content);
  layer_out_clear (&l);
  copy_setup_clear (&cs);
  return ret < 0 && (err->file == NULL) ? step_fail (c, err) : ret;
}

/* ---- WORKDIR ------------------------------------------------------------------------------------- */

/* BuildKit's dispatchWorkdir makes the directory (mkdir -p, 0755) in a layer of its own, the
 * directories it creates owned by the stage's USER (resolved as --chown is).  */
static int
workdir_mkdir (step_ctx *c, int rootfd, gsi_error *err)
{
  const char *user = c->s->cfg.user;
  uid_t uid = (uid_t) -1;
  gid_t gid = (gid_t) -1;
  int fd;

  if (user && *user && resolve_chown (rootfd, user, &uid, &gid, err) < 0)
    return -1;
  fd = gsi_mkdir_p_in_root (rootfd, c->s->cfg.working_dir, 0755, uid, gid, err);
  if (fd < 0)
    return -1;
  close (fd);
  return 0;
}

static bool
dir_is_empty (const char *path)
{
  cleanup_dir DIR *d = opendir (path);
  struct dirent *e;

  if (d == NULL)
    return false;
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      return false;
  return true;
}

/* Runs the mkdir on an overlay of the stage.  *changed is false when the directory was already
 * there: the upper dir stays empty and no layer is made.  */
static int
execute_workdir (step_ctx *c, layer_out *l, bool *changed, gsi_error *err)
{
  run_setup r = { 0 };
  cleanup_free char *upper = NULL;
  cleanup_free char *work = NULL;
  cleanup_free char *merged = NULL;
  cleanup_free char **lowers = NULL;
  size_t n = 0;
  int ret = -1;

  gsi_buf_init (&r.keytext, 0);
  if (make_step_dirs (c, &r, &upper, &work, err) == 0 && mkdir_at (r.rundir, "merged", 0755, &merged, err) == 0)
    {
      lowers = stack_lowers (c->s, c->b->empty_dir, &n);
      if (mount_overlay (merged, lowers, n, upper, work, false, err) == 0)
        {
          cleanup_close int mfd = open_dir (merged, err);
          ret = mfd < 0 ? -1 : workdir_mkdir (c, mfd, err);
          if (mfd >= 0)
            close (steal_fd (&mfd));
          if (umount2 (merged, 0) < 0 && ret == 0)
            ret = gsi_error_set (err, errno, "unmount `%s`", merged);
        }
    }
  *changed = ret == 0 && !dir_is_empty (upper);
  if (*changed)
    ret = commit_upper (c->b, upper, l, err);
  if (r.rundir)
    remove_tree (r.rundir);
  run_setup_clear (&r);
  return ret;
}

/* An unchanged file system gets an empty-layer history entry, as BuildKit's exporter gives a step
 * whose diff is empty.  */
static int
workdir_empty (step_ctx *c, const char *created_by, gsi_error *err)
{
  gsi_cache_entry e = { .empty_layer = true };

  now_string (c->b, e.created);
  gsi_image_config_add_history (&c->s->cfg, e.created, created_by, NULL, true);
  memcpy (c->s->key, c->key, sizeof c->key);
  return cache_record (c, &e, err);
}

static int
workdir_step (step_ctx *c, gsi_error *err)
{
  cleanup_free char *created_by = NULL;
  cleanup_free char *instr = NULL;
  layer_out l = { 0 };
  bool changed = false;
  int ret;

  if (gsi_build_apply_config (&c->s->cfg, &c->s->cs, c->x, &created_by, err) < 0)
    return step_fail (c, err);
  instr = xasprintf ("%s |mkdir", created_by);
  step_key (c, instr, NULL);
  if (cache_lookup (c, err) < 0)
    return -1;
  if (c->have_hit && c->hit.empty_layer)
    {
      gsi_image_config_add_history (&c->s->cfg, c->hit.created, created_by, NULL, true);
      memcpy (c->s->key, c->key, sizeof c->key);
      c->b->cached++;
      return 0;
    }
  if (c->have_hit && use_cached_layer (c, created_by) == 1)
    {
      logf_ (c->b, "%s using cache", c->hdr);
      return 0;
    }
  if (strcmp (c->s->cfg.working_dir, "/") == 0)
    return workdir_empty (c, created_by, err);
  ret = execute_workdir (c, &l, &changed, err);
  if (ret < 0)
    ret = step_fail (c, err);
  else
    ret = changed ? finish_layer_step (c, &l, created_by, err) : workdir_empty (c, created_by, err);
  layer_out_clear (&l);
  return ret;
}

/* ---- ONBUILD triggers --------------------------------------------------------------------------- */

typedef struct trig_expander
{
  const cf_env *env;
} trig_expander;

static int
expand_one (const cf_env *env, char **slot, gsi_error *err)
{
  cf_shell_opts so = { .escape = '\\' };
  char *out = NULL;

  if (*slot == NULL)
    return 0;
  if (cf_shell_expand (*slot, env, &so, &out, err) < 0)
    return -1;
  free (*slot);
  *slot = out;
  return 0;
}

static int
mount_expand (void *data, const char *word, char **out, gsi_error *err)
{
  cf_shell_opts so = { .escape = '\\' };
  return cf_shell_expand (word, ((trig_expander *) data)->env, &so, out, err);
}

static int
expand_words (const cf_env *env, gsi_strvec *list, gsi_error *err)
{
  gsi_strvec out = GSI_STRVEC_INIT;
  cf_shell_opts so = { .escape = '\\' };

  for (size_t i = 0; i < list->n; i++)
    if (cf_shell_words (list->v[i], env, &so, &out, err) < 0)
      {
        gsi_strvec_clear (&out);
        return -1;
      }
  gsi_strvec_clear (list);
  *list = out;
  return 0;
}

/* The words BuildKit expands in a trigger, with the environment the stage starts with.  */
static int
expand_trigger (cf_cmd *x, const cf_env *env, gsi_error *err)
{
  switch (x->kind)
    {
    case CF_CMD_COPY:
    case CF_CMD_ADD:
      {
        cf_copy_cmd *cp = &x->u.copy;
        for (size_t i = 0; i < cp->sources.n; i++)
          if (expand_one (env, &cp->sources.v[i], err) < 0)
            return -1;
        return expand_one (env, &cp->dest, err) < 0 || expand_one (env, &cp->chown, err) < 0
                   || expand_one (env, &cp->chmod, err) < 0
                   ? -1
                   : 0;
      }
    case CF_CMD_ENV:
    case CF_CMD_LABEL:
      for (size_t i = 0; i < x->u.kvs.n; i++)
        if (expand_one (env, &x->u.kvs.kv[i].key, err) < 0 || expand_one (env, &x->u.kvs.kv[i].value, err) < 0)
          return -1;
      return 0;
    case CF_CMD_WORKDIR:
    case CF_CMD_USER:
    case CF_CMD_STOPSIGNAL:
      return expand_one (env, &x->u.value, err);
    case CF_CMD_EXPOSE:
    case CF_CMD_VOLUME:
      return expand_words (env, &x->u.list, err);
    case CF_CMD_RUN:
      {
        trig_expander te = { env };
        cf_run_cmd *r = &x->u.run;
        r->mounts = r->mount_specs.n ? xcalloc (r->mount_specs.n, sizeof (cf_mount)) : NULL;
        for (size_t i = 0; i < r->mount_specs.n; i++)
          {
            if (cf_mount_parse (r->mount_specs.v[i], mount_expand, &te, &r->mounts[i], err) < 0)
              return -1;
            r->nmounts++;
          }
        return 0;
      }
    case CF_CMD_FROM:
    case CF_CMD_ARG:
    case CF_CMD_CMD:
    case CF_CMD_ENTRYPOINT:
    case CF_CMD_SHELL:
    case CF_CMD_HEALTHCHECK:
    case CF_CMD_ONBUILD:
    case CF_CMD_MAINTAINER:
    default:
      return 0;
    }
}

static int
parse_trigger (const char *text, cf_cmd **out, gsi_error *err)
{
  cf_file *f = NULL;
  int r;

  if (cf_parse ("ONBUILD trigger", text, strlen (text), &f, err) < 0)
    return -1;
  if (f->n != 1)
    {
      cf_file_free (f);
      return gsi_error_set (err, 0, "ONBUILD trigger `%s` is not a single instruction", text);
    }
  r = cf_cmd_from_instr (f, &f->instrs[0], out, err);
  cf_file_free (f);
  return r;
}

/* ---- one step ------------------------------------------------------------------------------------ */

static int
do_step (builder *b, stage_state *s, const cf_cmd *cmd, const cf_cmd *x, const cf_scope *scope, bool onbuild,
         gsi_error *err)
{
  step_ctx c = { .b = b, .s = s, .cmd = cmd, .x = x, .scope = scope, .onbuild = onbuild };
  cf_env env = CF_ENV_INIT;
  gsi_buf tmp = GSI_BUF_INIT;
  int r;

  b->step++;
  snprintf (c.hdr, sizeof c.hdr, "[%zu/%zu]", b->step, b->total);
  logf_ (b, "%s %s%s", c.hdr, onbuild ? "ONBUILD " : "", first_line (cmd->original, &tmp));
  gsi_buf_release (&tmp);
  cf_scope_env (scope, &env);
  c.env = env.vars;
  env.vars = (gsi_strvec) GSI_STRVEC_INIT;
  if (x->kind == CF_CMD_WORKDIR)
    r = workdir_step (&c, err);
  else if (gsi_build_is_config_only (x->kind))
    r = config_step (&c, err);
  else if (x->kind == CF_CMD_RUN)
    r = run_step (&c, err);
  else
    r = copy_step (&c, err);
  gsi_strvec_clear (&c.env);
  return r;
}

/* ---- stages -------------------------------------------------------------------------------------- */

static void
stage_start_key (builder *b, stage_state *s, const char *identity)
{
  gsi_cache_key_input in = { .parent = identity, .instruction = b->variant };
  gsi_cache_key (&in, s->key);
}

static int
load_image_layers (builder *b, stage_state *s, const gsi_manifest *m, gsi_error *err)
{
  if (m->n_layers != s->cfg.diff_ids.n)
    return gsi_error_set (err, 0, "%s: the manifest has %zu layers but the config %zu diff_ids", s->label,
                          m->n_layers, s->cfg.diff_ids.n);
  cleanup_strvec gsi_strvec diff_ids = GSI_STRVEC_INIT;
  diff_ids = s->cfg.diff_ids;
  s->cfg.diff_ids = (gsi_strvec) GSI_STRVEC_INIT;
  for (size_t i = 0; i < m->n_layers; i++)
    {
      cleanup_free char *dir = NULL;
      gsi_descriptor d = GSI_DESCRIPTOR_INIT;
      gsi_descriptor_copy (&d, &m->layers[i]);
      char *mt = xstrdup (oci_layer_type (d.media_type));
      free (d.media_type);
      d.media_type = mt;
      int r = ensure_unpacked (b, &d, diff_ids.v[i], &dir, err);
      if (r == 0)
        stage_add_layer (s, &d, diff_ids.v[i], dir);
      gsi_descriptor_clear (&d);
      if (r < 0)
        return -1;
    }
  return 0;
}

/* Triggers of an image base, parsed from its config; the image's own list is consumed.  */
static int
image_triggers (stage_state *s, gsi_error *err)
{
  for (size_t i = 0; i < s->cfg.onbuild.n; i++)
    {
      cf_cmd *t = NULL;
      if (parse_trigger (s->cfg.onbuild.v[i], &t, err) < 0)
        return gsi_error_wrap (err, "%s", s->label);
      s->triggers = xrealloc (s->triggers, (s->n_triggers + 1) * sizeof (cf_cmd *));
      s->triggers[s->n_triggers++] = t;
    }
  gsi_strvec_clear (&s->cfg.onbuild);
  return 0;
}

static int
no_such_image (builder *b, const char *ref, const cf_stage *st, gsi_error *err)
{
  const char *what = st ? "FROM" : "--from";
  const char *hint = b->o->pull && b->o->pull_policy == GSI_PULL_NEVER
                         ? "not pulled with --pull never; use gsi pull, gsi bootstrap or gsi import"
                         : "use gsi pull, gsi bootstrap or gsi import";
  if (st)
    return gsi_error_at (err, b->file_path, st->line, 0, "%s `%s`: no such image in store %s (%s)", what, ref,
                         gsi_store_root (b->store), hint);
  return gsi_error_set (err, ENOENT, "%s `%s`: no such image in store %s (%s)", what, ref, gsi_store_root (b->store),
                        hint);
}

static int
pull_base (builder *b, const char *ref, const cf_stage *st, gsi_error *err)
{
  if (b->o->pull (b->o->pull_ctx, ref, err) == 0)
    return 0;
  if (st)
    return gsi_error_wrap (err, "%s:%d: FROM `%s`", b->file_path, st->line, ref);
  return gsi_error_wrap (err, "--from `%s`", ref);
}

/* gsi_store_load_image, with the image fetched first when the pull policy says so.  */
static int
load_base (builder *b, const char *ref, const cf_stage *st, gsi_descriptor *md, gsi_manifest *m, gsi_image_config *cfg,
           gsi_error *err)
{
  const gsi_build_opts *o = b->o;
  bool may_pull = o->pull && o->pull_policy != GSI_PULL_NEVER;

  if (may_pull && o->pull_policy == GSI_PULL_ALWAYS && pull_base (b, ref, st, err) < 0)
    return -1;
  if (gsi_store_load_image (b->store, ref, md, m, cfg, err) == 0)
    return 0;
  if (err->code != ENOENT)
    return -1;
  if (!may_pull || o->pull_policy != GSI_PULL_MISSING)
    return no_such_image (b, ref, st, err);
  gsi_error_clear (err);
  if (pull_base (b, ref, st, err) < 0)
    return -1;
  return gsi_store_load_image (b->store, ref, md, m, cfg, err);
}

/* An image from the store: config, layers unpacked, triggers parsed.  */
static int
image_state (builder *b, const char *ref, stage_state *s, const cf_stage *st, gsi_error *err)
{
  gsi_descriptor md = GSI_DESCRIPTOR_INIT;
  gsi_manifest m;
  int r;

  gsi_manifest_init (&m);
  s->label = xasprintf ("image `%s`", ref);
  r = load_base (b, ref, st, &md, &m, &s->cfg, err);
  if (r == 0)
    r = load_image_layers (b, s, &m, err);
  if (r == 0)
    {
      cleanup_free char *id = xasprintf ("image %s", md.digest);
      stage_start_key (b, s, id);
      r = image_triggers (s, err);
      free (s->cfg.created);
      s->cfg.created = NULL;
    }
  gsi_manifest_clear (&m);
  gsi_descriptor_clear (&md);
  if (r == 0)
    s->ready = true;
  return r;
}

static stage_state *
ext_image_state (builder *b, const char *ref, gsi_error *err)
{
  for (size_t i = 0; i < b->n_ext; i++)
    if (strcmp (b->ext[i].ref, ref) == 0)
      return &b->ext[i].st;
  GSI_ALLOC_GROW (b->ext, b->n_ext + 1, b->alloc_ext);
  ext_image *e = &b->ext[b->n_ext];
  memset (e, 0, sizeof *e);
  gsi_image_config_init (&e->st.cfg);
  if (image_state (b, ref, &e->st, NULL, err) < 0)
    {
      stage_state_clear (&e->st);
      return NULL;
    }
  e->ref = xstrdup (ref);
  b->n_ext++;
  return &e->st;
}

static void
scratch_state (builder *b, stage_state *s)
{
  set_str (&s->cfg.architecture, gsi_host_arch ());
  set_str (&s->cfg.os, "linux");
  gsi_image_config_set_env (&s->cfg, "PATH", CF_DEFAULT_PATH);
  s->label = xstrdup ("scratch");
  stage_start_key (b, s, "scratch");
  s->ready = true;
}

static void
stage_from_stage (stage_state *s, const stage_state *base, const cf_stage *bst)
{
  gsi_image_config_copy (&s->cfg, &base->cfg);
  /* BuildKit: the base stage's ONBUILD instructions run here; they do not carry over further.  */
  gsi_strvec_clear (&s->cfg.onbuild);
  gsi_strvec_clear (&s->cfg.diff_ids);
  for (size_t i = 0; i < base->n_layers; i++)
    stage_add_layer (s, &base->layers[i], base->cfg.diff_ids.v[i], base->lowers.v[i]);
  memcpy (s->key, base->key, sizeof s->key);
  for (size_t i = 0; i < bst->ncmds; i++)
    if (bst->cmds[i]->kind == CF_CMD_ONBUILD && bst->cmds[i]->u.onbuild.trigger)
      {
        s->triggers = xrealloc (s->triggers, (s->n_triggers + 1) * sizeof (cf_cmd *));
        s->triggers[s->n_triggers++] = cf_cmd_clone (bst->cmds[i]->u.onbuild.trigger);
      }
  s->ready = true;
}

static char *
stage_label (const cf_stage *st)
{
  return st->name ? xasprintf ("stage `%s`", st->name) : xasprintf ("stage %zu", st->index);
}

/* Resolves a stage's base and walks it again with the real base environment.  */
static int
prepare_stage (builder *b, size_t idx, gsi_error *err)
{
  cf_stage *st = &b->plan->stages[idx];
  stage_state *s = &b->stages[idx];
  int r = 0;

  gsi_image_config_init (&s->cfg);
  switch (st->base_kind)
    {
    case CF_BASE_SCRATCH:
      scratch_state (b, s);
      break;
    case CF_BASE_STAGE:
      stage_from_stage (s, &b->stages[st->base_stage], &b->plan->stages[st->base_stage]);
      break;
    case CF_BASE_IMAGE:
    default:
      r = image_state (b, st->base_expanded, s, st, err);
      break;
    }
  if (r < 0)
    return -1;
  free (s->label);
  s->label = stage_label (st);
  if (st->base_kind == CF_BASE_IMAGE)
    {
      /* A base without PATH gets BuildKit's default, in the config and for the walk.  */
      if (gsi_image_config_get_env (&s->cfg, "PATH") == NULL)
        gsi_image_config_set_env (&s->cfg, "PATH", CF_DEFAULT_PATH);
      return cf_plan_walk_stage (b->plan, idx, &s->cfg.env, err);
    }
  return cf_plan_walk_stage (b->plan, idx, NULL, err);
}

static const cf_scope *
start_scope (const cf_stage *st)
{
  return st->ncmds ? &st->steps[0].scope : &st->final_scope;
}

static int
run_triggers (builder *b, size_t idx, gsi_error *err)
{
  cf_stage *st = &b->plan->stages[idx];
  stage_state *s = &b->stages[idx];
  const cf_scope *scope = start_scope (st);

  for (size_t i = 0; i < s->n_triggers; i++)
    {
      cf_env env = CF_ENV_INIT;
      cf_cmd *x = cf_cmd_clone (s->triggers[i]);
      int r;
      cf_scope_env (scope, &env);
      r = expand_trigger (x, &env, err);
      cf_env_clear (&env);
      if (r < 0)
        {
          cleanup_free char *msg = xstrdup (err->msg ? err->msg : "failed");
          cf_cmd_free (x);
          return gsi_error_at (err, b->file_path, st->line, 0, "ONBUILD trigger `%s`: %s", s->triggers[i]->original,
                               msg);
        }
      /* The trigger is reported at the FROM line that pulled it in.  */
      x->line = st->line;
      r = do_step (b, s, x, x, scope, true, err);
      cf_cmd_free (x);
      if (r < 0)
        return -1;
    }
  return 0;
}

static int
build_stage (builder *b, size_t idx, gsi_error *err)
{
  cf_stage *st = &b->plan->stages[idx];
  stage_state *s = &b->stages[idx];

  b->step++;
  logf_ (b, "[%zu/%zu] FROM %s%s%s", b->step, b->total, st->base_expanded, st->name ? " AS " : "",
         st->name ? st->name : "");
  if (run_triggers (b, idx, err) < 0)
    return -1;
  for (size_t i = 0; i < st->ncmds; i++)
    if (do_step (b, s, st->steps[i].cmd, st->steps[i].expanded, &st->steps[i].scope, false, err) < 0)
      return -1;
  return 0;
}

/* ---- the build ---------------------------------------------------------------------------------- */

char *
gsi_build_default_file (const char *context_dir, const char *file)
{
  if (file)
    return xstrdup (file);
  char *p = xasprintf ("%s/Containerfile", context_dir);
  if (access (p, F_OK) == 0)
    return p;
  free (p);
  return xasprintf ("%s/Dockerfile", context_dir);
}

static void
builder_clear (builder *b)
{
  for (size_t i = b->mounts.n; i-- > 0;)
    unmount_quietly (b->mounts.v[i]);
  for (size_t i = 0; i < b->tmpdirs.n; i++)
    remove_tree (b->tmpdirs.v[i]);
  gsi_strvec_clear (&b->mounts);
  gsi_strvec_clear (&b->tmpdirs);
  if (b->plan && b->stages)
    for (size_t i = 0; i < b->plan->nstages; i++)
      stage_state_clear (&b->stages[i]);
  free (b->stages);
  for (size_t i = 0; i < b->n_ext; i++)
    {
      stage_state_clear (&b->ext[i].st);
      free (b->ext[i].ref);
    }
  free (b->ext);
  cf_plan_free (b->plan);
  cf_file_free (b->file);
  cf_ignore_free (b->ignore);
  if (b->ctx_fd >= 0)
    close (b->ctx_fd);
  free (b->ctx_dir);
  free (b->file_path);
  free (b->empty_dir);
}

static int
check_tags (const gsi_build_opts *o, gsi_error *err)
{
  for (size_t i = 0; i < o->n_tags; i++)
    {
      cleanup_free char *name = NULL;
      if (gsi_ref_normalize (o->tags[i], &name, NULL, err) < 0)
        return gsi_error_wrap (err, "-t `%s`", o->tags[i]);
    }
  return 0;
}

static int
open_inputs (builder *b, gsi_error *err)
{
  const gsi_build_opts *o = b->o;
  cf_plan_opts po = { .target = o->target, .build_args = o->build_args };
  char real[PATH_MAX];

  if (realpath (o->context_dir, real) == NULL)
    return gsi_error_set (err, errno, "build context `%s`", o->context_dir);
  b->ctx_dir = xstrdup (real);
  b->ctx_fd = open (real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (b->ctx_fd < 0)
    return gsi_error_set (err, errno, "open build context `%s`", o->context_dir);
  b->file_path = gsi_build_default_file (o->context_dir, o->containerfile);
  if (cf_parse_file (b->file_path, &b->file, err) < 0)
    return -1;
  for (size_t i = 0; i < b->file->warnings.n; i++)
    logf_ (b, "%s", b->file->warnings.v[i]);
  if (cf_plan_build (b->file, &po, &b->plan, err) < 0)
    return -1;
  if (cf_ignore_load (b->ctx_dir, b->file_path, &b->ignore, err) < 0)
    return -1;
  b->stages = xcalloc (b->plan->nstages, sizeof (stage_state));
  return 0;
}

static int
commit_result (builder *b, gsi_build_result *res, gsi_error *err)
{
  stage_state *s = &b->stages[b->plan->target];
  gsi_descriptor desc = GSI_DESCRIPTOR_INIT;
  cleanup_free char *json = NULL;
  size_t len = 0;
  char created[40];

  free (s->cfg.created);
  if (s->cfg.n_history)
    s->cfg.created = xstrdup (s->cfg.history[s->cfg.n_history - 1].created);
  else
    {
      now_string (b, created);
      s->cfg.created = xstrdup (created);
    }
  if (gsi_image_config_to_json (&s->cfg, &json, &len, err) < 0)
    return -1;
  gsi_digest_buf (json, len, res->config_digest);
  if (gsi_store_commit_image (b->store, &s->cfg, s->layers, s->n_layers, NULL, b->o->n_tags ? b->o->tags[0] : NULL,
                              &desc, err)
      < 0)
    return -1;
  for (size_t i = 1; i < b->o->n_tags; i++)
    if (gsi_store_tag (b->store, b->o->tags[i], &desc, err) < 0)
      {
        gsi_descriptor_clear (&desc);
        return -1;
      }
  snprintf (res->manifest_digest, sizeof res->manifest_digest, "%s", desc.digest);
  res->manifest_size = desc.size;
  gsi_descriptor_clear (&desc);
  return 0;
}

/* Builds stage by stage: prepare (resolve the base, walk again with its environment), then run. */
static int
build_in_order (builder *b, gsi_error *err)
{
  b->total = 0;
  for (size_t i = 0; i < b->plan->global_warnings.n; i++)
    logf_ (b, "%s", b->plan->global_warnings.v[i]);
  for (size_t k = 0; k < b->plan->nneeds; k++)
    {
      size_t i = b->plan->needs[k];
      const cf_stage *st = &b->plan->stages[i];
      b->total += 1 + st->ncmds;
    }
  for (size_t k = 0; k < b->plan->nneeds; k++)
    {
      size_t i = b->plan->needs[k];
      if (prepare_stage (b, i, err) < 0)
        return -1;
      for (size_t j = 0; j < b->plan->stages[i].warnings.n; j++)
        logf_ (b, "%s", b->plan->stages[i].warnings.v[j]);
      b->total += b->stages[i].n_triggers;
      if (build_stage (b, i, err) < 0)
        return -1;
    }
  return 0;
}

int
gsi_build (const gsi_build_opts *o, gsi_build_result *res, gsi_error *err)
{
  builder b = { .o = o, .store = o->store, .ctx_fd = -1 };
  int r;

  memset (res, 0, sizeof *res);
  if (o->compression != GSI_COMP_GZIP && o->compression != GSI_COMP_ZSTD && o->compression != GSI_COMP_NONE)
    return gsi_error_set (err, 0, "unknown layer compression");
  snprintf (b.variant, sizeof b.variant, "compression=%d epoch=%lld", (int) o->compression,
            (long long) (o->source_date_epoch >= 0 ? o->source_date_epoch : -1));
  r = check_tags (o, err);
  if (r == 0)
    r = gsi_build_private_mounts (err);
  if (r == 0)
    r = open_inputs (&b, err);
  if (r == 0)
    r = make_tmpdir (&b, "empty-", &b.empty_dir, err);
  if (r == 0)
    {
      chmod (b.empty_dir, 0755);
      r = build_in_order (&b, err);
    }
  if (r == 0)
    r = commit_result (&b, res, err);
  if (r == 0)
    {
      res->steps = b.step;
      res->cached = b.cached;
    }
  builder_clear (&b);
  return r;
}
