/* gsi_registry_push: the distribution-spec push flow on top of client.h.
 *
 * Blobs first, several at a time (HEAD, else cross-repository mount, else POST + monolithic PUT,
 * else PATCH chunks), then manifests: an index's children by digest, the top manifest by tag, then
 * every extra tag.  The store remembers which repositories of a registry hold which blob
 * (gsi-private/registry-blobs.json) so a later push to a sibling repository can mount instead of
 * uploading.  */
#include "registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "oci/image.h"
#include "registry/reference.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define MAX_MANIFEST_SIZE ((size_t) 4 << 20)
#define DEFAULT_JOBS 4
#define DEFAULT_CHUNK_SIZE ((uint64_t) 16 << 20)
#define RECORD_PATH GSI_STORE_PRIVATE_DIR "/registry-blobs.json"
#define RECORD_LOCK "registry-blobs"
/* Repositories remembered per blob: enough to find a mount source, small enough to stay cheap.  */
#define RECORD_MAX_REPOS 16
/* A registry that keeps answering a PATCH without taking any byte of it is not making progress.  */
#define MAX_STALLED_PATCHES 3

typedef struct push_blob
{
  char digest[GSI_DIGEST_BUF];
  int64_t size;
} push_blob;

typedef struct push_ctx
{
  gsi_reg_client *c;
  gsi_store *s;
  const char *domain;
  const char *repo;
  const gsi_push_opts *opts;
  uint64_t chunk_size;

  push_blob *blobs;
  size_t n_blobs, alloc_blobs;
  gsi_descriptor *manifests; /* in push order: an index after its children */
  size_t n_manifests, alloc_manifests;

  pthread_mutex_t lock; /* everything below, and progress calls */
  size_t next_blob;
  bool failed;
  gsi_error first_err;
  gsi_push_stats stats;
  json_t *record; /* domain -> digest -> [repos], most recent first */
} push_ctx;

/* ---- small helpers ---------------------------------------------------------------------------- */

static bool
is_index_type (const char *mt)
{
  return mt && (strcmp (mt, GSI_MEDIA_OCI_INDEX) == 0 || strcmp (mt, GSI_MEDIA_DOCKER_LIST) == 0);
}

/* The first 12 hex digits, as docker prints layer ids.  */
static const char *
short_digest (const char *digest, char out[16])
{
  snprintf (out, 16, "%.12s", gsi_digest_hex (digest));
  return out;
}

static void
progress (push_ctx *x, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
progress (push_ctx *x, const char *fmt, ...)
{
  cleanup_buf gsi_buf line = GSI_BUF_INIT;
  va_list ap;

  if (x->opts == NULL || x->opts->progress == NULL)
    return;
  va_start (ap, fmt);
  gsi_buf_vaddf (&line, fmt, ap);
  va_end (ap);
  pthread_mutex_lock (&x->lock);
  x->opts->progress (x->opts->progress_ctx, line.buf);
  pthread_mutex_unlock (&x->lock);
}

/* url with "name=value" appended as a query parameter: '?' or '&' depending on what it has.  */
static char *
url_with_param (const char *url, const char *name, const char *value)
{
  return xasprintf ("%s%c%s=%s", url, strchr (url, '?') ? '&' : '?', name, value);
}

/* The end of a "0-<end>" (or "bytes=0-<end>") Range header; -1 when it has none.  */
static int64_t
range_end (const char *range)
{
  const char *dash;
  char *end;
  long long v;

  if (range == NULL)
    return -1;
  if (strncmp (range, "bytes=", 6) == 0)
    range += 6;
  dash = strchr (range, '-');
  if (dash == NULL)
    return -1;
  errno = 0;
  v = strtoll (dash + 1, &end, 10);
  if (errno != 0 || end == dash + 1 || v < 0)
    return -1;
  return v;
}

static bool
status_ok (long status)
{
  return status >= 200 && status < 300;
}

/* ---- the record of which repositories hold which blobs ---------------------------------------- */

static json_t *
record_read (gsi_store *s)
{
  cleanup_free char *path = xasprintf ("%s/%s", gsi_store_root (s), RECORD_PATH);
  json_t *j = json_load_file (path, 0, NULL);

  /* The record is a hint for mounts: a missing or damaged one only costs uploads.  */
  if (!json_is_object (j))
    {
      json_decref (j);
      j = json_object ();
    }
  return j;
}

static json_t *
record_repos (json_t *record, const char *domain, const char *digest, bool create)
{
  json_t *d = json_object_get (record, domain), *repos;

  if (!json_is_object (d))
    {
      if (!create)
        return NULL;
      d = json_object ();
      json_object_set_new (record, domain, d);
    }
  repos = json_object_get (d, digest);
  if (!json_is_array (repos))
    {
      if (!create)
        return NULL;
      repos = json_array ();
      json_object_set_new (d, digest, repos);
    }
  return repos;
}

/* Moves repo to the front of the list (add) or drops it (!add).  */
static void
record_update (json_t *record, const char *domain, const char *digest, const char *repo, bool add)
{
  json_t *repos = record_repos (record, domain, digest, add), *v;
  size_t i;

  if (repos == NULL)
    return;
  for (i = 0; i < json_array_size (repos);)
    {
      v = json_array_get (repos, i);
      if (!json_is_string (v) || strcmp (json_string_value (v), repo) == 0)
        json_array_remove (repos, i);
      else
        i++;
    }
  if (add)
    {
      json_array_insert_new (repos, 0, json_string (repo));
      while (json_array_size (repos) > RECORD_MAX_REPOS)
        json_array_remove (repos, json_array_size (repos) - 1);
    }
  else if (json_array_size (repos) == 0)
    json_object_del (json_object_get (record, domain), digest);
}

/* Read-modify-write of the record file under its lock, so concurrent pushes lose nothing.  */
static int
record_store (push_ctx *x, const char *digest, const char *repo, bool add, gsi_error *err)
{
  cleanup_close int lock = -1;
  cleanup_free char *text = NULL;
  json_t *j;

  pthread_mutex_lock (&x->lock);
  record_update (x->record, x->domain, digest, repo, add);
  pthread_mutex_unlock (&x->lock);

  if (gsi_store_lock (x->s, RECORD_LOCK, &lock, err) < 0)
    return -1;
  j = record_read (x->s);
  record_update (j, x->domain, digest, repo, add);
  text = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (j);
  if (text == NULL)
    return gsi_error_set (err, ENOMEM, "serialise `%s`", RECORD_PATH);
  return gsi_store_write_atomic (x->s, RECORD_PATH, text, strlen (text), err);
}

/* The record is a cache: failing to write it does not fail the push, but is said.  */
static void
record (push_ctx *x, const char *digest, const char *repo, bool add)
{
  cleanup_error gsi_error e = GSI_ERROR_INIT;

  if (record_store (x, digest, repo, add, &e) < 0)
    progress (x, "warning: cannot record blob locations: %s", e.msg);
}

/* Another repository of this registry that holds digest, or NULL (malloc'd).  */
static char *
mount_source (push_ctx *x, const char *digest)
{
  char *from = NULL;
  json_t *repos, *v;
  size_t i;

  pthread_mutex_lock (&x->lock);
  repos = record_repos (x->record, x->domain, digest, false);
  json_array_foreach (repos, i, v)
    if (json_is_string (v) && strcmp (json_string_value (v), x->repo) != 0)
      {
        from = xstrdup (json_string_value (v));
        break;
      }
  pthread_mutex_unlock (&x->lock);
  return from;
}

/* ---- one request ------------------------------------------------------------------------------ */

static void
request_init (push_ctx *x, gsi_reg_request *rq, const char *method, const char *target)
{
  *rq = (gsi_reg_request) GSI_REG_REQUEST_INIT;
  rq->method = method;
  rq->domain = x->domain;
  rq->repo = x->repo;
  rq->actions = "pull,push";
  rq->target = target;
}

/* Best effort: tells the registry an upload session is abandoned.  */
static void
cancel_upload (push_ctx *x, const char *location)
{
  gsi_reg_request rq;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  cleanup_error gsi_error e = GSI_ERROR_INIT;

  request_init (x, &rq, "DELETE", location);
  gsi_reg_do (x->c, &rq, &rs, &e);
  gsi_reg_response_clear (&rs);
}

/* POST .../blobs/uploads/ (with a mount query when from is set).  *location gets the upload
 * session, or stays NULL when a mount succeeded (*mounted).  A refused mount (202) is an upload
 * session like any other.  */
static int
start_upload (push_ctx *x, const push_blob *b, const char *from, char **location, bool *mounted, gsi_error *err)
{
  cleanup_free char *target = NULL;
  cleanup_free char *scope = NULL;
  gsi_reg_request rq;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  int r = 0;

  *mounted = false;
  if (from)
    {
      target = xasprintf ("/v2/%s/blobs/uploads/?mount=%s&from=%s", x->repo, b->digest, from);
      scope = xasprintf ("repository:%s:pull", from);
    }
  else
    target = xasprintf ("/v2/%s/blobs/uploads/", x->repo);
  request_init (x, &rq, "POST", target);
  rq.extra_scope = scope;
  if (gsi_reg_do (x->c, &rq, &rs, err) < 0)
    return -1;
  if (from && rs.status == 201)
    *mounted = true;
  else if (rs.status == 202 && rs.location)
    *location = xstrdup (rs.location);
  else if (rs.status == 202)
    r = gsi_error_set (err, 0, "POST %s: 202 without a Location header", rs.url ? rs.url : target);
  else
    r = gsi_reg_status_error (&rq, &rs, err);
  gsi_reg_response_clear (&rs);
  return r;
}

/* Checks the digest a registry reports for what we sent, when it reports one.  */
static int
check_digest (const gsi_reg_response *rs, const char *want, gsi_error *err)
{
  if (rs->docker_content_digest && strcmp (rs->docker_content_digest, want) != 0)
    return gsi_error_set (err, 0, "the registry stored `%s` as `%s`", want, rs->docker_content_digest);
  return 0;
}

/* PUT <location>&digest= with the whole blob.  Returns 1 when the registry refuses a monolithic
 * upload (the caller then goes chunked), 0 when done.  */
static int
upload_monolithic (push_ctx *x, const push_blob *b, int fd, const char *location, gsi_error *err)
{
  static const char *const headers[] = { "Content-Type: application/octet-stream", NULL };
  cleanup_free char *target = url_with_param (location, "digest", b->digest);
  gsi_reg_request rq;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  int r;

  request_init (x, &rq, "PUT", target);
  rq.headers = headers;
  rq.body_fd = fd;
  rq.body_size = (uint64_t) b->size;
  if (gsi_reg_do (x->c, &rq, &rs, err) < 0)
    return -1;
  switch (rs.status)
    {
    case 200:
    case 201:
    case 204:
      r = check_digest (&rs, b->digest, err);
      break;
    case 400:
    case 405:
    case 411:
    case 413:
    case 416:
    case 501:
      r = 1;
      break;
    default:
      r = gsi_reg_status_error (&rq, &rs, err);
      break;
    }
  gsi_reg_response_clear (&rs);
  return r;
}

/* Where the registry's upload stands (GET on the session, 204 + Range), to resume after a 416.  */
static int
upload_offset (push_ctx *x, char **location, uint64_t *offset, gsi_error *err)
{
  gsi_reg_request rq;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  int64_t end;
  int r = 0;

  request_init (x, &rq, "GET", *location);
  if (gsi_reg_do (x->c, &rq, &rs, err) < 0)
    return -1;
  if (!status_ok (rs.status))
    r = gsi_reg_status_error (&rq, &rs, err);
  else
    {
      end = range_end (rs.range);
      /* "0-0" is what registries say for an empty session too; resending one byte is harmless.  */
      *offset = end <= 0 ? 0 : (uint64_t) end + 1;
      if (rs.location)
        {
          free (*location);
          *location = xstrdup (rs.location);
        }
    }
  gsi_reg_response_clear (&rs);
  return r;
}

static int
pread_full (int fd, void *buf, size_t n, uint64_t off, gsi_error *err)
{
  size_t done = 0;

  while (done < n)
    {
      ssize_t k = pread (fd, (char *) buf + done, n - done, (off_t) (off + done));
      if (k < 0 && errno == EINTR)
        continue;
      if (k < 0)
        return gsi_error_set (err, errno, "read blob");
      if (k == 0)
        return gsi_error_set (err, 0, "read blob: unexpected end of file at %" PRIu64, off + done);
      done += (size_t) k;
    }
  return 0;
}

/* PATCH chunks with Content-Range, following the Location and Range of every 202, then the
 * closing PUT with the digest.  *location is updated as the registry moves the session.  */
static int
upload_chunked (push_ctx *x, const push_blob *b, int fd, char **location, gsi_error *err)
{
  static const char *const put_headers[] = { "Content-Type: application/octet-stream", NULL };
  uint64_t size = (uint64_t) b->size, off = 0;
  size_t cap = (size_t) (size < x->chunk_size ? size : x->chunk_size);
  cleanup_free char *chunk = xmalloc (cap ? cap : 1);
  cleanup_free char *target = NULL;
  gsi_reg_request rq;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  int stalled = 0, r = 0;

  while (off < size)
    {
      size_t n = (size_t) (size - off < cap ? size - off : cap);
      char range[64], content_range[96];
      const char *headers[] = { "Content-Type: application/octet-stream", content_range, NULL };
      uint64_t next = off;
      int64_t end;

      if (pread_full (fd, chunk, n, off, err) < 0)
        return -1;
      snprintf (range, sizeof range, "%" PRIu64 "-%" PRIu64, off, off + n - 1);
      snprintf (content_range, sizeof content_range, "Content-Range: %s", range);
      request_init (x, &rq, "PATCH", *location);
      rq.headers = headers;
      rq.body = chunk;
      rq.body_len = n;
      if (gsi_reg_do (x->c, &rq, &rs, err) < 0)
        return -1;
      if (rs.status == 416)
        {
          gsi_reg_response_clear (&rs);
          if (upload_offset (x, location, &next, err) < 0)
            return gsi_error_wrap (err, "PATCH %s was refused (416) and the upload cannot resume", range);
        }
      else if (rs.status == 202)
        {
          end = range_end (rs.range);
          next = end < 0 ? off + n : (uint64_t) end + 1;
          if (next > off + n)
            next = off + n;
          if (rs.location)
            {
              free (*location);
              *location = xstrdup (rs.location);
            }
          gsi_reg_response_clear (&rs);
        }
      else
        {
          r = gsi_reg_status_error (&rq, &rs, err);
          gsi_reg_response_clear (&rs);
          return r;
        }
      if (next <= off && ++stalled > MAX_STALLED_PATCHES)
        return gsi_error_set (err, 0, "the registry takes no more bytes of `%s` after %" PRIu64, b->digest, off);
      if (next > off)
        stalled = 0;
      off = next;
    }

  target = url_with_param (*location, "digest", b->digest);
  request_init (x, &rq, "PUT", target);
  rq.headers = put_headers;
  rq.body = "";
  rq.body_len = 0;
  if (gsi_reg_do (x->c, &rq, &rs, err) < 0)
    return -1;
  if (status_ok (rs.status))
    r = check_digest (&rs, b->digest, err);
  else
    r = gsi_reg_status_error (&rq, &rs, err);
  gsi_reg_response_clear (&rs);
  return r;
}

/* ---- one blob --------------------------------------------------------------------------------- */

/* HEAD: 1 when the repository has the blob, 0 when not.  */
static int
blob_exists (push_ctx *x, const push_blob *b, gsi_error *err)
{
  cleanup_free char *target = xasprintf ("/v2/%s/blobs/%s", x->repo, b->digest);
  gsi_reg_request rq;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  int r;

  request_init (x, &rq, "HEAD", target);
  if (gsi_reg_do (x->c, &rq, &rs, err) < 0)
    return -1;
  if (rs.status == 200)
    r = 1;
  else if (rs.status == 404)
    r = 0;
  else
    r = gsi_reg_status_error (&rq, &rs, err);
  gsi_reg_response_clear (&rs);
  return r;
}

static void
count (push_ctx *x, unsigned *counter, uint64_t bytes)
{
  pthread_mutex_lock (&x->lock);
  (*counter)++;
  x->stats.bytes_uploaded += bytes;
  pthread_mutex_unlock (&x->lock);
}

static int
push_one_blob (push_ctx *x, const push_blob *b, gsi_error *err)
{
  cleanup_free char *from = NULL;
  cleanup_free char *location = NULL;
  cleanup_close int fd = -1;
  char sd[16];
  bool mounted = false;
  int r;

  short_digest (b->digest, sd);
  r = blob_exists (x, b, err);
  if (r < 0)
    return -1;
  if (r == 1)
    {
      count (x, &x->stats.blobs_existing, 0);
      progress (x, "%s: exists", sd);
      record (x, b->digest, x->repo, true);
      return 0;
    }

  from = mount_source (x, b->digest);
  if (from)
    {
      if (start_upload (x, b, from, &location, &mounted, err) < 0)
        return -1;
      if (mounted)
        {
          count (x, &x->stats.blobs_mounted, 0);
          progress (x, "%s: mounted from %s", sd, from);
          record (x, b->digest, x->repo, true);
          return 0;
        }
      /* Refused: the record was stale for that repository.  */
      record (x, b->digest, from, false);
    }
  else if (start_upload (x, b, NULL, &location, &mounted, err) < 0)
    return -1;

  fd = gsi_store_open_blob (x->s, b->digest, b->size, NULL, err);
  if (fd < 0)
    {
      cancel_upload (x, location);
      return -1;
    }
  r = 1;
  if (!x->opts->force_chunked)
    {
      r = upload_monolithic (x, b, fd, location, err);
      if (r == 1)
        {
          /* The refused session may be dead: start a new one for the chunks.  */
          cancel_upload (x, location);
          free (steal_pointer (&location));
          if (start_upload (x, b, NULL, &location, &mounted, err) < 0)
            return -1;
        }
    }
  if (r == 1)
    r = upload_chunked (x, b, fd, &location, err);
  if (r < 0)
    {
      cancel_upload (x, location);
      return -1;
    }
  count (x, &x->stats.blobs_uploaded, (uint64_t) b->size);
  progress (x, "%s: uploaded %.1f MB", sd, (double) b->size / 1e6);
  record (x, b->digest, x->repo, true);
  return 0;
}

static void *
blob_worker (void *arg)
{
  push_ctx *x = arg;

  for (;;)
    {
      gsi_error e = GSI_ERROR_INIT;
      const push_blob *b;

      pthread_mutex_lock (&x->lock);
      b = x->failed || x->next_blob >= x->n_blobs ? NULL : &x->blobs[x->next_blob++];
      pthread_mutex_unlock (&x->lock);
      if (b == NULL)
        return NULL;
      if (push_one_blob (x, b, &e) < 0)
        {
          gsi_error_wrap (&e, "push blob `%s`", b->digest);
          pthread_mutex_lock (&x->lock);
          if (!x->failed)
            {
              x->failed = true;
              x->first_err = e;
              e = (gsi_error) GSI_ERROR_INIT;
            }
          pthread_mutex_unlock (&x->lock);
          gsi_error_clear (&e);
        }
    }
}

static int
push_blobs (push_ctx *x, gsi_error *err)
{
  int jobs = x->opts->jobs > 0 ? x->opts->jobs : DEFAULT_JOBS;
  size_t n = (size_t) jobs < x->n_blobs ? (size_t) jobs : x->n_blobs;
  pthread_t *threads = xcalloc (n ? n : 1, sizeof *threads);
  size_t started = 0;

  /* The calling thread works too, so a failed pthread_create only means fewer helpers.  */
  for (size_t i = 1; i < n; i++)
    if (pthread_create (&threads[started], NULL, blob_worker, x) == 0)
      started++;
  blob_worker (x);
  for (size_t i = 0; i < started; i++)
    pthread_join (threads[i], NULL);
  free (threads);
  if (x->failed)
    {
      *err = x->first_err;
      x->first_err = (gsi_error) GSI_ERROR_INIT;
      return -1;
    }
  return 0;
}

/* ---- what to push ----------------------------------------------------------------------------- */

static void
add_blob (push_ctx *x, const gsi_descriptor *d)
{
  for (size_t i = 0; i < x->n_blobs; i++)
    if (strcmp (x->blobs[i].digest, d->digest) == 0)
      return;
  GSI_ALLOC_GROW (x->blobs, x->n_blobs + 1, x->alloc_blobs);
  snprintf (x->blobs[x->n_blobs].digest, GSI_DIGEST_BUF, "%s", d->digest);
  x->blobs[x->n_blobs].size = d->size;
  x->n_blobs++;
}

static void
add_manifest (push_ctx *x, const gsi_descriptor *d)
{
  for (size_t i = 0; i < x->n_manifests; i++)
    if (strcmp (x->manifests[i].digest, d->digest) == 0)
      return;
  GSI_ALLOC_GROW (x->manifests, x->n_manifests + 1, x->alloc_manifests);
  gsi_descriptor_init (&x->manifests[x->n_manifests]);
  gsi_descriptor_copy (&x->manifests[x->n_manifests], d);
  x->n_manifests++;
}

/* The media type a manifest declares, else the one of its descriptor (malloc'd, or NULL).  */
static char *
manifest_media_type (const char *data, size_t len, const char *fallback)
{
  json_t *j = json_loadb (data, len, 0, NULL);
  const char *mt = json_string_value (json_object_get (j, "mediaType"));
  char *r = mt ? xstrdup (mt) : fallback ? xstrdup (fallback) : NULL;

  json_decref (j);
  return r;
}

/* Walks a manifest (or index) and queues its blobs and manifests, children before parents.  */
static int
collect (push_ctx *x, const gsi_descriptor *d, int depth, gsi_error *err)
{
  cleanup_free char *data = NULL;
  cleanup_free char *mt = NULL;
  size_t len = 0;
  int r = 0;

  if (gsi_store_read_blob (x->s, d->digest, d->size, MAX_MANIFEST_SIZE, &data, &len, err) < 0)
    return gsi_error_wrap (err, "manifest `%s`", d->digest);
  mt = manifest_media_type (data, len, d->media_type);
  if (is_index_type (mt))
    {
      json_t *idx = json_loadb (data, len, 0, NULL), *e;
      size_t i;

      /* Two levels at most, as the store reads them.  */
      if (depth >= 2)
        r = gsi_error_set (err, 0, "index `%s` nests indexes too deeply", d->digest);
      else if (!json_is_array (json_object_get (idx, "manifests")))
        r = gsi_error_set (err, 0, "index `%s` has no `manifests` array", d->digest);
      json_array_foreach (json_object_get (idx, "manifests"), i, e)
        {
          gsi_descriptor child = GSI_DESCRIPTOR_INIT;
          if (r < 0)
            break;
          r = gsi_descriptor_from_json (e, &child, err);
          if (r < 0)
            gsi_error_wrap (err, "index `%s`: manifests[%zu]", d->digest, i);
          else
            r = collect (x, &child, depth + 1, err);
          gsi_descriptor_clear (&child);
        }
      json_decref (idx);
    }
  else
    {
      gsi_manifest m;

      gsi_manifest_init (&m);
      r = gsi_manifest_from_json (data, len, &m, err);
      if (r < 0)
        gsi_error_wrap (err, "manifest `%s`", d->digest);
      else
        {
          add_blob (x, &m.config);
          for (size_t i = 0; i < m.n_layers; i++)
            add_blob (x, &m.layers[i]);
        }
      gsi_manifest_clear (&m);
    }
  if (r == 0)
    add_manifest (x, d);
  return r;
}

/* ---- manifests -------------------------------------------------------------------------------- */

/* PUT /v2/<repo>/manifests/<ref> with the stored bytes; reported gets the registry's digest.  */
static int
put_manifest (push_ctx *x, const gsi_descriptor *d, const char *ref, char reported[GSI_DIGEST_BUF], gsi_error *err)
{
  cleanup_free char *data = NULL;
  cleanup_free char *mt = NULL;
  cleanup_free char *ctype = NULL;
  cleanup_free char *target = xasprintf ("/v2/%s/manifests/%s", x->repo, ref);
  const char *headers[2] = { NULL, NULL };
  gsi_reg_request rq;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  size_t len = 0;
  int r = 0;

  if (gsi_store_read_blob (x->s, d->digest, d->size, MAX_MANIFEST_SIZE, &data, &len, err) < 0)
    return -1;
  mt = manifest_media_type (data, len, d->media_type);
  if (mt == NULL)
    return gsi_error_set (err, 0, "manifest `%s` has no media type", d->digest);
  ctype = xasprintf ("Content-Type: %s", mt);
  headers[0] = ctype;
  request_init (x, &rq, "PUT", target);
  rq.headers = headers;
  rq.body = data;
  rq.body_len = len;
  if (gsi_reg_do (x->c, &rq, &rs, err) < 0)
    return -1;
  if (!status_ok (rs.status))
    r = gsi_reg_status_error (&rq, &rs, err);
  else if (check_digest (&rs, d->digest, err) < 0)
    r = gsi_error_wrap (err, "manifest changed on the way");
  else
    snprintf (reported, GSI_DIGEST_BUF, "%s", rs.docker_content_digest ? rs.docker_content_digest : d->digest);
  gsi_reg_response_clear (&rs);
  return r;
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}  */
static bool
valid_tag (const char *t)
{
  size_t n = strlen (t);

  if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
    return false;
  return strspn (t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* ---- the entry point -------------------------------------------------------------------------- */

static int
do_push (push_ctx *x, const char *src, const gsi_reference *dest, char *digest, gsi_error *err)
{
  gsi_descriptor top = GSI_DESCRIPTOR_INIT;
  const char *tag = gsi_reference_tag_or_latest (dest);
  const char *const *extra = x->opts->extra_tags;
  char reported[GSI_DIGEST_BUF] = "";
  char sd[16];
  int r = -1;

  if (gsi_store_resolve (x->s, src, &top, err) < 0)
    return -1;
  if (dest->digest && strcmp (dest->digest, top.digest) != 0)
    {
      gsi_error_set (err, 0, "`%s` is `%s`, not the digest `%s` the destination names", src, top.digest,
                     dest->digest);
      goto out;
    }
  for (size_t i = 0; extra && extra[i]; i++)
    if (!valid_tag (extra[i]))
      {
        gsi_error_set (err, 0, "invalid tag `%s`", extra[i]);
        goto out;
      }
  if (collect (x, &top, 0, err) < 0 || push_blobs (x, err) < 0)
    goto out;
  /* Children by digest, so the index (last) finds them; the top manifest by tag.  */
  for (size_t i = 0; i + 1 < x->n_manifests; i++)
    {
      char ignored[GSI_DIGEST_BUF];
      if (put_manifest (x, &x->manifests[i], x->manifests[i].digest, ignored, err) < 0)
        {
          gsi_error_wrap (err, "push manifest `%s`", x->manifests[i].digest);
          goto out;
        }
      progress (x, "%s: manifest pushed", short_digest (x->manifests[i].digest, sd));
    }
  if (put_manifest (x, &top, tag ? tag : top.digest, reported, err) < 0)
    {
      gsi_error_wrap (err, "push manifest `%s` as `%s`", top.digest, tag ? tag : top.digest);
      goto out;
    }
  progress (x, "%s: manifest pushed as %s", short_digest (top.digest, sd), tag ? tag : top.digest);
  for (size_t i = 0; extra && extra[i]; i++)
    {
      char again[GSI_DIGEST_BUF];
      if (tag && strcmp (extra[i], tag) == 0)
        continue;
      if (put_manifest (x, &top, extra[i], again, err) < 0)
        {
          gsi_error_wrap (err, "tag `%s`", extra[i]);
          goto out;
        }
      progress (x, "%s: manifest pushed as %s", sd, extra[i]);
    }
  if (digest)
    snprintf (digest, GSI_DIGEST_BUF, "%s", reported);
  r = 0;
out:
  gsi_descriptor_clear (&top);
  return r;
}

int
gsi_registry_push (gsi_reg_client *c, gsi_store *s, const char *src, const char *dest, const gsi_push_opts *opts,
                   char *digest, gsi_push_stats *stats, gsi_error *err)
{
  static const gsi_push_opts no_opts = { 0 };
  gsi_reference ref = GSI_REFERENCE_INIT;
  push_ctx x = { 0 };
  int r;

  if (stats)
    memset (stats, 0, sizeof *stats);
  if (gsi_reference_parse (dest, &ref, err) < 0)
    return -1;
  x.c = c;
  x.s = s;
  x.domain = ref.domain;
  x.repo = ref.path;
  x.opts = opts ? opts : &no_opts;
  x.chunk_size = x.opts->chunk_size ? x.opts->chunk_size : DEFAULT_CHUNK_SIZE;
  x.record = record_read (s);
  pthread_mutex_init (&x.lock, NULL);

  r = do_push (&x, src, &ref, digest, err);
  if (r < 0)
    gsi_error_wrap (err, "push `%s` to `%s`", src, dest);
  if (stats)
    *stats = x.stats;

  pthread_mutex_destroy (&x.lock);
  json_decref (x.record);
  gsi_error_clear (&x.first_err);
  for (size_t i = 0; i < x.n_manifests; i++)
    gsi_descriptor_clear (&x.manifests[i]);
  free (x.manifests);
  free (x.blobs);
  gsi_reference_clear (&ref);
  return r;
}
