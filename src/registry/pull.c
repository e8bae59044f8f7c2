/* gsi pull: manifests and blobs from a registry (or its mirrors) into the store, every byte
 * checked against its digest before the store names it.  */
#include "registry/registry.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "oci/digest.h"
#include "oci/image.h"
#include "oci/store.h"
#include "registry/config.h"
#include "registry/reference.h"
#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

#define DEFAULT_JOBS 4
#define MAX_JOBS 64

static const char *const manifest_accept[] = {
  "Accept: " GSI_MEDIA_OCI_INDEX ", " GSI_MEDIA_OCI_MANIFEST ", " GSI_MEDIA_DOCKER_LIST ", "
  GSI_MEDIA_DOCKER_MANIFEST,
  NULL,
};

/* ---- platforms ---------------------------------------------------------------------------------- */

typedef struct platform
{
  char *os, *arch, *variant; /* variant NULL when not given */
} platform;

static void
platform_clear (platform *p)
{
  free (p->os);
  free (p->arch);
  free (p->variant);
  memset (p, 0, sizeof *p);
}

static int
platform_parse (const char *spec, platform *p, gsi_error *err)
{
  cleanup_free char *copy = NULL;
  char *parts[4] = { NULL };
  size_t n = 0;

  if (spec == NULL)
    {
      p->os = xstrdup ("linux");
      p->arch = xstrdup (gsi_host_arch ());
      return 0;
    }
  copy = xstrdup (spec);
  for (char *c = copy, *slash; n < 4; c = slash + 1)
    {
      parts[n++] = c;
      slash = strchr (c, '/');
      if (slash == NULL)
        break;
      *slash = '\0';
    }
  if (n < 2 || n > 3 || strchr (parts[n - 1], '/') || !*parts[0] || !*parts[1] || (n == 3 && !*parts[2]))
    return gsi_error_set (err, EINVAL, "invalid platform `%s` (want OS/ARCH[/VARIANT], e.g. linux/arm64/v8)", spec);
  p->os = xstrdup (parts[0]);
  p->arch = xstrdup (parts[1]);
  p->variant = n == 3 ? xstrdup (parts[2]) : NULL;
  return 0;
}

/* The variant an architecture has when an index entry names none (as containerd normalises).  */
static const char *
default_variant (const char *arch)
{
  if (strcmp (arch, "arm64") == 0)
    return "v8";
  if (strcmp (arch, "arm") == 0)
    return "v7";
  return NULL;
}

static bool
platform_matches (const platform *want, const gsi_descriptor *d)
{
  const char *v;

  if (d->platform_os == NULL || d->platform_arch == NULL || strcmp (d->platform_os, want->os) != 0
      || strcmp (d->platform_arch, want->arch) != 0)
    return false;
  if (want->variant == NULL)
    return true;
  v = d->platform_variant ? d->platform_variant : default_variant (d->platform_arch);
  return v && strcmp (v, want->variant) == 0;
}

static void
platform_name (gsi_buf *b, const char *os, const char *arch, const char *variant)
{
  gsi_buf_addf (b, "%s/%s", os ? os : "?", arch ? arch : "?");
  if (variant)
    gsi_buf_addf (b, "/%s", variant);
}

/* ---- one pull ----------------------------------------------------------------------------------- */

typedef struct puller
{
  gsi_reg_client *c;
  gsi_store *s;
  const gsi_pull_opts *o;
  platform want;
  bool platform_given;
  pthread_mutex_t mu; /* progress lines and the counters below, from the blob threads */
  unsigned fetched, present;
  uint64_t bytes;
} puller;

static void __attribute__ ((format (printf, 2, 3)))
progress (puller *p, const char *fmt, ...)
{
  gsi_buf line = GSI_BUF_INIT;
  va_list ap;

  if (p->o->progress == NULL)
    return;
  va_start (ap, fmt);
  gsi_buf_vaddf (&line, fmt, ap);
  va_end (ap);
  pthread_mutex_lock (&p->mu);
  p->o->progress (p->o->progress_ctx, line.buf);
  pthread_mutex_unlock (&p->mu);
  gsi_buf_release (&line);
}

/* Where requests go: the registry, or a mirror with the repository under its prefix.  */
typedef struct endpoint
{
  char *domain;
  char *repo;
  char *label; /* the mirror entry as configured, or the registry domain */
} endpoint;

static void
endpoint_clear (endpoint *e)
{
  free (e->domain);
  free (e->repo);
  free (e->label);
  memset (e, 0, sizeof *e);
}

static int
endpoint_for_mirror (const char *mirror, const char *path, endpoint *e, gsi_error *err)
{
  const char *slash = strchr (mirror, '/');
  size_t plen;

  if (*mirror == '\0' || slash == mirror || strstr (mirror, "://"))
    return gsi_error_set (err, EINVAL, "invalid mirror `%s` (want HOST[:PORT][/PREFIX])", mirror);
  e->label = xstrdup (mirror);
  if (slash == NULL)
    {
      e->domain = xstrdup (mirror);
      e->repo = xstrdup (path);
      return 0;
    }
  e->domain = xstrndup (mirror, (size_t) (slash - mirror));
  plen = strlen (slash + 1);
  while (plen > 0 && slash[plen] == '/')
    plen--;
  e->repo = plen ? xasprintf ("%.*s/%s", (int) plen, slash + 1, path) : xstrdup (path);
  return 0;
}

/* ---- manifests ---------------------------------------------------------------------------------- */

typedef struct fetched_manifest
{
  gsi_buf body;
  char *media_type;
  char digest[GSI_DIGEST_BUF];
  char *url;
} fetched_manifest;

static void
fetched_manifest_clear (fetched_manifest *m)
{
  gsi_buf_release (&m->body);
  free (m->media_type);
  free (m->url);
  m->media_type = NULL;
  m->url = NULL;
  m->digest[0] = '\0';
}

static bool
is_index_type (const char *mt)
{
  return strcmp (mt, GSI_MEDIA_OCI_INDEX) == 0 || strcmp (mt, GSI_MEDIA_DOCKER_LIST) == 0;
}

static bool
is_known_type (const char *mt)
{
  return is_index_type (mt) || strcmp (mt, GSI_MEDIA_OCI_MANIFEST) == 0 || strcmp (mt, GSI_MEDIA_DOCKER_MANIFEST) == 0;
}

/* The media type of a manifest: its own mediaType field, else the Content-Type the registry sent,
 * else what its shape says (OCI allows leaving mediaType out).  Schema 1 is refused here.  */
static int
manifest_media_type (const char *what, json_t *doc, const char *content_type, char **out, gsi_error *err)
{
  const char *mt = json_string_value (json_object_get (doc, "mediaType"));
  json_t *sv = json_object_get (doc, "schemaVersion");
  cleanup_free char *ct = NULL;

  if (content_type)
    {
      ct = xstrdup (content_type);
      ct[strcspn (ct, "; \t")] = '\0';
    }
  if ((json_is_integer (sv) && json_integer_value (sv) == 1)
      || (mt == NULL && ct && strncmp (ct, "application/vnd.docker.distribution.manifest.v1", 47) == 0))
    return gsi_error_set (err, 0,
                          "%s: Docker schema 1 manifest (%s) is not supported: it is deprecated and unsigned "
                          "content; push the image again with a current client (Docker schema 2 or OCI)",
                          what, ct && *ct ? ct : "application/vnd.docker.distribution.manifest.v1+prettyjws");
  if (!json_is_integer (sv) || json_integer_value (sv) != 2)
    return gsi_error_set (err, 0, "%s: `schemaVersion` is not 2", what);
  if (mt == NULL && ct && is_known_type (ct))
    mt = ct;
  if (mt == NULL)
    mt = json_object_get (doc, "manifests") ? GSI_MEDIA_OCI_INDEX : GSI_MEDIA_OCI_MANIFEST;
  if (!is_known_type (mt))
    return gsi_error_set (err, 0, "%s: unsupported manifest media type `%s`", what, mt);
  *out = xstrdup (mt);
  return 0;
}

/* GET manifests/<ref>; the bytes must hash to want_digest when the reference is a digest, else to
 * the Docker-Content-Digest the registry sent (when it sent one).  */
static int
fetch_manifest (puller *p, const endpoint *e, const char *ref, const char *want_digest, fetched_manifest *out,
                gsi_error *err)
{
  gsi_reg_request rq = GSI_REG_REQUEST_INIT;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  cleanup_free char *target = xasprintf ("/v2/%s/manifests/%s", e->repo, ref);
  cleanup_free char *what = NULL;
  json_t *doc = NULL;
  json_error_t jerr;
  int r = -1;

  rq.method = "GET";
  rq.domain = e->domain;
  rq.repo = e->repo;
  rq.actions = "pull";
  rq.target = target;
  rq.headers = manifest_accept;
  if (gsi_reg_do (p->c, &rq, &rs, err) < 0)
    return -1;
  what = xasprintf ("manifest %s from %s", ref, rs.url ? rs.url : target);
  if (rs.status != 200)
    {
      gsi_reg_status_error (&rq, &rs, err);
      goto out;
    }
  gsi_digest_buf (rs.body.buf, rs.body.len, out->digest);
  if (want_digest && strcmp (want_digest, out->digest) != 0)
    {
      gsi_error_set (err, 0, "%s: digest mismatch (got %s)", what, out->digest);
      goto out;
    }
  if (want_digest == NULL && rs.docker_content_digest && strncmp (rs.docker_content_digest, "sha256:", 7) == 0
      && strcmp (rs.docker_content_digest, out->digest) != 0)
    {
      gsi_error_set (err, 0, "%s: digest mismatch (Docker-Content-Digest %s, got %s)", what,
                     rs.docker_content_digest, out->digest);
      goto out;
    }
  doc = json_loadb (rs.body.buf, rs.body.len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object (doc))
    {
      gsi_error_set (err, 0, "%s: not a JSON object: %s", what, doc ? "wrong type" : jerr.text);
      goto out;
    }
  if (manifest_media_type (what, doc, rs.content_type, &out->media_type, err) < 0)
    goto out;
  out->body = rs.body;
  rs.body = (gsi_buf) GSI_BUF_INIT;
  out->url = rs.url ? xstrdup (rs.url) : xstrdup (target);
  r = 0;
out:
  json_decref (doc);
  gsi_reg_response_clear (&rs);
  return r;
}

/* The index entry for the wanted platform, or an error listing the platforms there are.  */
static int
pick_platform (puller *p, const fetched_manifest *idx, gsi_descriptor *out, gsi_error *err)
{
  json_error_t jerr;
  json_t *doc = json_loadb (idx->body.buf, idx->body.len, 0, &jerr);
  json_t *list = json_object_get (doc, "manifests"), *e;
  gsi_buf avail = GSI_BUF_INIT, want = GSI_BUF_INIT;
  size_t i;
  int r = -1;

  if (!json_is_array (list))
    {
      gsi_error_set (err, 0, "index %s: `manifests` is not an array", idx->digest);
      goto out;
    }
  json_array_foreach (list, i, e)
    {
      gsi_descriptor d = GSI_DESCRIPTOR_INIT;
      if (gsi_descriptor_from_json (e, &d, err) < 0)
        {
          gsi_descriptor_clear (&d);
          gsi_error_wrap (err, "index %s: manifests[%zu]", idx->digest, i);
          goto out;
        }
      if (platform_matches (&p->want, &d))
        {
          *out = d;
          r = 0;
          goto out;
        }
      if (d.platform_os && strcmp (d.platform_os, "unknown") != 0)
        {
          gsi_buf_addstr (&avail, avail.len ? ", " : "");
          platform_name (&avail, d.platform_os, d.platform_arch, d.platform_variant);
        }
      gsi_descriptor_clear (&d);
    }
  platform_name (&want, p->want.os, p->want.arch, p->want.variant);
  gsi_error_set (err, 0, "index %s has no image for %s (available: %s)", idx->digest, want.buf,
                 avail.len ? avail.buf : "none");
out:
  gsi_buf_release (&avail);
  gsi_buf_release (&want);
  json_decref (doc);
  return r;
}

/* ---- blobs -------------------------------------------------------------------------------------- */

typedef struct blob_pool
{
  puller *p;
  const endpoint *e;
  const gsi_descriptor **todo;
  size_t n, next;
  pthread_mutex_t mu;
  atomic_bool failed;
  gsi_error err; /* the first failure */
} blob_pool;

typedef struct blob_sink
{
  blob_pool *pool;
  const gsi_descriptor *d;
  int fd;
  gsi_sha256 *h;
  uint64_t written;
} blob_sink;

static int
sink_write (void *ctx, const void *data, size_t len, gsi_error *err)
{
  blob_sink *b = ctx;
  const char *p = data;

  /* Another blob failed: the pull fails anyway, stop spending bandwidth on this one.  */
  if (atomic_load (&b->pool->failed))
    return gsi_error_set (err, ECANCELED, "blob %s: cancelled", b->d->digest);
  if (b->written + len > (uint64_t) b->d->size)
    return gsi_error_set (err, 0, "blob %s from %s/%s: more than the %" PRId64 " bytes of its descriptor",
                          b->d->digest, b->pool->e->domain, b->pool->e->repo, b->d->size);
  gsi_sha256_update (b->h, data, len);
  b->written += len;
  while (len > 0)
    {
      ssize_t w = write (b->fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return gsi_error_set (err, errno, "write blob %s to the store", b->d->digest);
      p += w;
      len -= (size_t) w;
    }
  return 0;
}

static int
sink_rewind (void *ctx, gsi_error *err)
{
  blob_sink *b = ctx;
  char scratch[GSI_DIGEST_BUF];

  if (ftruncate (b->fd, 0) < 0 || lseek (b->fd, 0, SEEK_SET) < 0)
    return gsi_error_set (err, errno, "truncate temp file of blob %s", b->d->digest);
  gsi_sha256_final (b->h, scratch); /* resets the hash */
  b->written = 0;
  return 0;
}

/* GET blobs/<digest> into a temp file of the store, installed only when size and digest match.  */
static int
fetch_blob_to (blob_pool *pool, const gsi_descriptor *d, int fd, gsi_error *err)
{
  const endpoint *e = pool->e;
  cleanup_free char *target = xasprintf ("/v2/%s/blobs/%s", e->repo, d->digest);
  gsi_reg_request rq = GSI_REG_REQUEST_INIT;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  blob_sink b = { pool, d, fd, gsi_sha256_new (), 0 };
  gsi_reg_sink sink = { sink_write, sink_rewind, &b };
  char got[GSI_DIGEST_BUF];
  const char *url;
  int r = -1;

  rq.method = "GET";
  rq.domain = e->domain;
  rq.repo = e->repo;
  rq.actions = "pull";
  rq.target = target;
  rq.sink = &sink;
  rq.follow_redirects = true;
  if (gsi_reg_do (pool->p->c, &rq, &rs, err) < 0)
    goto out;
  url = rs.url ? rs.url : target;
  if (rs.status != 200)
    gsi_reg_status_error (&rq, &rs, err);
  else if (b.written != (uint64_t) d->size)
    gsi_error_set (err, 0, "blob %s from %s: size mismatch (got %" PRIu64 " bytes, expected %" PRId64 ")", d->digest,
                   url, b.written, d->size);
  else
    {
      gsi_sha256_final (b.h, got);
      if (strcmp (got, d->digest) != 0)
        gsi_error_set (err, 0, "blob %s from %s: digest mismatch (got %s)", d->digest, url, got);
      else
        r = 0;
    }
out:
  gsi_sha256_free (b.h);
  gsi_reg_response_clear (&rs);
  if (r == 0)
    {
      pthread_mutex_lock (&pool->p->mu);
      pool->p->fetched++;
      pool->p->bytes += b.written;
      pthread_mutex_unlock (&pool->p->mu);
    }
  return r;
}

static int
fetch_blob (blob_pool *pool, const gsi_descriptor *d, gsi_error *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *name = NULL;

  if (gsi_store_tmpfile (pool->p->s, "pull-", &fd, &name, err) < 0)
    return -1;
  if (fetch_blob_to (pool, d, fd, err) < 0 || gsi_store_install_blob (pool->p->s, fd, name, d->digest, err) < 0)
    {
      gsi_store_tmp_unlink (pool->p->s, name);
      return -1;
    }
  progress (pool->p, "blob %s: fetched %" PRId64 " bytes", d->digest, d->size);
  return 0;
}

static void *
blob_worker (void *arg)
{
  blob_pool *pool = arg;

  for (;;)
    {
      gsi_error e = GSI_ERROR_INIT;
      const gsi_descriptor *d;

      pthread_mutex_lock (&pool->mu);
      if (atomic_load (&pool->failed) || pool->next >= pool->n)
        {
          pthread_mutex_unlock (&pool->mu);
          return NULL;
        }
      d = pool->todo[pool->next++];
      pthread_mutex_unlock (&pool->mu);
      if (fetch_blob (pool, d, &e) == 0)
        continue;
      pthread_mutex_lock (&pool->mu);
      if (!atomic_load (&pool->failed))
        {
          pool->err = e;
          e = (gsi_error) GSI_ERROR_INIT;
          atomic_store (&pool->failed, true);
        }
      pthread_mutex_unlock (&pool->mu);
      gsi_error_clear (&e);
    }
}

/* Fetches the blobs of m the store lacks, opts->jobs at a time.  */
static int
fetch_blobs (puller *p, const endpoint *e, const gsi_manifest *m, gsi_error *err)
{
  size_t total = m->n_layers + 1, nthreads;
  const gsi_descriptor **todo = xcalloc (total, sizeof *todo);
  blob_pool pool = { .p = p, .e = e, .todo = todo };
  pthread_t threads[MAX_JOBS];
  size_t started = 0;
  int jobs = p->o->jobs > 0 ? p->o->jobs : DEFAULT_JOBS;

  for (size_t i = 0; i < total; i++)
    {
      const gsi_descriptor *d = i == 0 ? &m->config : &m->layers[i - 1];
      bool dup = false;
      if (d->size < 0)
        {
          free (todo);
          return gsi_error_set (err, 0, "blob %s: negative size in the manifest", d->digest);
        }
      for (size_t j = 0; j < pool.n && !dup; j++)
        dup = strcmp (todo[j]->digest, d->digest) == 0;
      if (dup)
        continue;
      if (gsi_store_has_blob (p->s, d->digest))
        {
          p->present++;
          progress (p, "blob %s: already present", d->digest);
          continue;
        }
      todo[pool.n++] = d;
    }
  pthread_mutex_init (&pool.mu, NULL);
  atomic_init (&pool.failed, false);
  nthreads = pool.n < (size_t) jobs ? pool.n : (size_t) jobs;
  if (nthreads > MAX_JOBS)
    nthreads = MAX_JOBS;
  for (; started < nthreads; started++)
    if (pthread_create (&threads[started], NULL, blob_worker, &pool) != 0)
      break;
  if (started == 0 && pool.n > 0)
    blob_worker (&pool);
  for (size_t i = 0; i < started; i++)
    pthread_join (threads[i], NULL);
  pthread_mutex_destroy (&pool.mu);
  free (todo);
  if (atomic_load (&pool.failed))
    {
      gsi_error_clear (err);
      *err = pool.err;
      return -1;
    }
  return 0;
}

/* ---- from one endpoint -------------------------------------------------------------------------- */

static int
pull_from (puller *p, const endpoint *e, const gsi_reference *ref, gsi_descriptor *out, gsi_error *err)
{
  fetched_manifest fm = { GSI_BUF_INIT, NULL, { 0 }, NULL };
  gsi_descriptor pick = GSI_DESCRIPTOR_INIT;
  gsi_manifest m;
  char stored[GSI_DIGEST_BUF];
  int r = -1;

  gsi_manifest_init (&m);
  if (fetch_manifest (p, e, gsi_reference_manifest_ref (ref), ref->digest, &fm, err) < 0)
    goto out;
  if (is_index_type (fm.media_type))
    {
      if (pick_platform (p, &fm, &pick, err) < 0)
        goto out;
      gsi_buf name = GSI_BUF_INIT;
      platform_name (&name, pick.platform_os, pick.platform_arch, pick.platform_variant);
      progress (p, "index %s: %s is %s", fm.digest, name.buf, pick.digest);
      gsi_buf_release (&name);
      cleanup_free char *index_url = xstrdup (fm.url);
      fetched_manifest_clear (&fm);
      if (fetch_manifest (p, e, pick.digest, pick.digest, &fm, err) < 0)
        goto out;
      if (pick.size != (int64_t) fm.body.len)
        {
          gsi_error_set (err, 0, "manifest %s from %s: size mismatch (got %zu bytes, the index says %" PRId64 ")",
                         pick.digest, fm.url, fm.body.len, pick.size);
          goto out;
        }
      if (is_index_type (fm.media_type))
        {
          gsi_error_set (err, 0, "index %s from %s: the entry for the platform is another index", pick.digest,
                         index_url);
          goto out;
        }
    }
  progress (p, "manifest %s (%s)", fm.digest, fm.media_type);
  if (gsi_manifest_from_json (fm.body.buf, fm.body.len, &m, err) < 0)
    {
      gsi_error_wrap (err, "%s", fm.url);
      goto out;
    }
  if (fetch_blobs (p, e, &m, err) < 0)
    goto out;
  /* The exact bytes the registry served: their digest is the one it knows the image by.  */
  if (gsi_store_put_blob (p->s, fm.body.buf, fm.body.len, stored, err) < 0)
    goto out;
  gsi_descriptor_set (out, fm.media_type, stored, (int64_t) fm.body.len);
  r = 0;
out:
  gsi_manifest_clear (&m);
  gsi_descriptor_clear (&pick);
  fetched_manifest_clear (&fm);
  return r;
}

/* The store tag a pull sets: opts->tag_as, else the reference as written without its digest, or
 * NULL for a digest-only reference.  */
static char *
tag_name (const char *ref_text, const gsi_reference *ref, const gsi_pull_opts *o)
{
  if (o->tag_as)
    return xstrdup (o->tag_as);
  if (ref->digest && ref->tag == NULL)
    return NULL;
  const char *at = strchr (ref_text, '@');
  return at ? xstrndup (ref_text, (size_t) (at - ref_text)) : xstrdup (ref_text);
}

static int
collect_endpoints (puller *p, const gsi_reference *ref, endpoint **out, size_t *n, gsi_error *err)
{
  const gsi_reg_config *cfg = gsi_reg_client_config (p->c);
  const gsi_strvec *mirrors = cfg ? gsi_reg_config_mirrors (cfg, ref->domain) : NULL;
  size_t nm = mirrors ? mirrors->n : 0;
  endpoint *v = xcalloc (nm + 1, sizeof *v);

  for (size_t i = 0; i < nm; i++)
    if (endpoint_for_mirror (mirrors->v[i], ref->path, &v[i], err) < 0)
      {
        for (size_t j = 0; j <= i; j++)
          endpoint_clear (&v[j]);
        free (v);
        return -1;
      }
  v[nm].domain = xstrdup (ref->domain);
  v[nm].repo = xstrdup (ref->path);
  v[nm].label = xstrdup (ref->domain);
  *out = v;
  *n = nm + 1;
  return 0;
}

static int
pull_any (puller *p, const char *ref_text, const gsi_reference *ref, gsi_descriptor *out, gsi_pull_stats *stats,
          gsi_error *err)
{
  endpoint *eps = NULL;
  size_t n = 0;
  int r = -1;

  if (collect_endpoints (p, ref, &eps, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      bool mirror = i + 1 < n;
      progress (p, "pulling %s from %s%s", ref_text, mirror ? "mirror " : "", eps[i].label);
      r = pull_from (p, &eps[i], ref, out, err);
      if (r == 0)
        {
          if (stats)
            snprintf (stats->source, sizeof stats->source, "%s", eps[i].label);
          break;
        }
      if (mirror)
        {
          progress (p, "mirror %s failed: %s; trying the next source", eps[i].label, err->msg);
          gsi_error_clear (err);
        }
    }
  for (size_t i = 0; i < n; i++)
    endpoint_clear (&eps[i]);
  free (eps);
  return r;
}

int
gsi_registry_pull (gsi_reg_client *c, gsi_store *s, const char *ref_text, const gsi_pull_opts *opts,
                   gsi_descriptor *out, gsi_pull_stats *stats, gsi_error *err)
{
  static const gsi_pull_opts no_opts = { 0 };
  gsi_reference ref = GSI_REFERENCE_INIT;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  cleanup_free char *tag = NULL;
  puller p = { .c = c, .s = s, .o = opts ? opts : &no_opts };
  int r = -1;

  if (stats)
    memset (stats, 0, sizeof *stats);
  if (gsi_reference_parse (ref_text, &ref, err) < 0)
    return -1;
  tag = tag_name (ref_text, &ref, p.o);
  /* Refuse a bad tag or platform before anything is downloaded.  */
  if ((tag && gsi_ref_normalize (tag, NULL, NULL, err) < 0) || platform_parse (p.o->platform, &p.want, err) < 0)
    {
      gsi_reference_clear (&ref);
      platform_clear (&p.want);
      return gsi_error_wrap (err, "pull %s", ref_text);
    }
  pthread_mutex_init (&p.mu, NULL);
  r = pull_any (&p, ref_text, &ref, &d, stats, err);
  if (r == 0 && tag)
    r = gsi_store_tag (s, tag, &d, err);
  if (r == 0 && tag)
    progress (&p, "tagged %s", tag);
  if (r == 0 && out)
    gsi_descriptor_copy (out, &d);
  if (stats)
    {
      stats->blobs_fetched = p.fetched;
      stats->blobs_present = p.present;
      stats->bytes_fetched = p.bytes;
    }
  pthread_mutex_destroy (&p.mu);
  gsi_descriptor_clear (&d);
  platform_clear (&p.want);
  gsi_reference_clear (&ref);
  return r < 0 ? gsi_error_wrap (err, "pull %s", ref_text) : 0;
}
