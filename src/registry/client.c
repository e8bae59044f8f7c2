/* The registry HTTP layer: libcurl easy handles from a per-client pool, DNS and TLS sessions shared,
 * authentication (Basic, Bearer tokens cached per scope set), retries with backoff.  See client.h.  */
#include "registry/client.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "registry/auth.h"
#include "registry/config.h"
#include "util/strvec.h"
#include "util/xalloc.h"

#define DEFAULT_BODY_LIMIT ((size_t) 4 << 20)
/* Error bodies (status >= 300) are kept for gsi_reg_status_error, never sent to the sink.  */
#define ERROR_BODY_LIMIT ((size_t) 64 << 10)
#define MAX_BACKOFF_MS 30000
#define MAX_RETRY_AFTER_MS 60000
#define TOKEN_MARGIN_S 10
#define TOKEN_DEFAULT_EXPIRES_S 60
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* What the client knows about one registry domain.  Guarded by the client's lock; the strings are
 * set once and live as long as the client.  */
typedef struct reg_domain
{
  char *domain;
  char *host;        /* endpoint host[:port] ("registry-1.docker.io" for docker.io) */
  bool verify;
  bool plain_http;   /* fell back to http (TLS verification off and the server speaks plain HTTP) */
  bool basic;        /* a Basic challenge was seen: send Basic credentials up front */
  bool creds_loaded;
  gsi_credentials creds;
  long token_refused; /* the token service's 401/403 status for these credentials, else 0 */
  bool ca_loaded;
  char *ca_pem;      /* system bundle + the CA dir's *.crt, or NULL for curl's default */
  size_t ca_len;
  char *client_cert, *client_key; /* certs.d client.cert/client.key, or NULL */
  struct reg_domain *next;
} reg_domain;

typedef struct reg_token
{
  char *domain;
  gsi_strvec scopes; /* sorted */
  char *token;
  time_t expires;    /* wall clock, margin already taken off */
  struct reg_token *next;
} reg_token;

struct gsi_reg_client
{
  int tls_verify;
  char *authfile;
  char *cert_dir;
  int max_retries, retry_base_ms;
  long connect_timeout_s, low_speed_time_s;
  bool debug;
  gsi_reg_config *cfg;

  CURLSH *share;
  pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

  pthread_mutex_t lock; /* domains, tokens, the handle pool */
  /* Held across a token fetch, so threads challenged at once fetch one token, not one each.  */
  pthread_mutex_t token_fetch_lock;
  reg_domain *domains;
  reg_token *tokens;
  CURL **pool;
  size_t npool, pool_alloc;

  gsi_reg_client_stats stats; /* updated with atomics */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init_once (void)
{
  curl_init_rc = curl_global_init (CURL_GLOBAL_ALL);
}

static void
stat_add (uint64_t *field, uint64_t n)
{
  __atomic_fetch_add (field, n, __ATOMIC_RELAXED);
}

static void
share_lock (CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
  gsi_reg_client *c = ctx;
  (void) h;
  (void) access;
  pthread_mutex_lock (&c->share_locks[data]);
}

static void
share_unlock (CURL *h, curl_lock_data data, void *ctx)
{
  gsi_reg_client *c = ctx;
  (void) h;
  pthread_mutex_unlock (&c->share_locks[data]);
}

int
gsi_reg_client_open (const gsi_reg_client_opts *opts, gsi_reg_client **out, gsi_error *err)
{
  static const gsi_reg_client_opts defaults = GSI_REG_CLIENT_OPTS_INIT;
  gsi_reg_client *c;
  const char *dbg = getenv ("GSI_DEBUG_HTTP");

  *out = NULL;
  if (opts == NULL)
    opts = &defaults;
  pthread_once (&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK)
    return gsi_error_set (err, 0, "curl_global_init: %s", curl_easy_strerror (curl_init_rc));

  c = xcalloc (1, sizeof *c);
  c->tls_verify = opts->tls_verify;
  c->authfile = opts->authfile ? xstrdup (opts->authfile) : NULL;
  c->cert_dir = opts->cert_dir ? xstrdup (opts->cert_dir) : NULL;
  c->max_retries = opts->max_retries < 0 ? 4 : opts->max_retries;
  c->retry_base_ms = opts->retry_base_ms < 0 ? 500 : opts->retry_base_ms;
  c->connect_timeout_s = opts->connect_timeout_s <= 0 ? 30 : opts->connect_timeout_s;
  c->low_speed_time_s = opts->low_speed_time_s <= 0 ? 60 : opts->low_speed_time_s;
  c->debug = dbg != NULL && *dbg != '\0' && strcmp (dbg, "0") != 0;
  pthread_mutex_init (&c->lock, NULL);
  pthread_mutex_init (&c->token_fetch_lock, NULL);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init (&c->share_locks[i], NULL);

  if (gsi_reg_config_load (opts->config_path, &c->cfg, err) < 0)
    {
      gsi_reg_client_close (c);
      return -1;
    }

  /* Connections are not shared: libcurl does not support one connection cache used by concurrent
   * threads.  Each pooled easy handle keeps its own connections instead.  */
  c->share = curl_share_init ();
  if (c->share == NULL)
    {
      gsi_reg_client_close (c);
      return gsi_error_set (err, ENOMEM, "curl_share_init");
    }
  curl_share_setopt (c->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (c->share, CURLSHOPT_USERDATA, c);
  curl_share_setopt (c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  *out = c;
  return 0;
}

static void
token_free (reg_token *t)
{
  free (t->domain);
  gsi_strvec_clear (&t->scopes);
  free (t->token);
  free (t);
}

void
gsi_reg_client_close (gsi_reg_client *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->npool; i++)
    curl_easy_cleanup (c->pool[i]);
  free (c->pool);
  if (c->share)
    curl_share_cleanup (c->share);
  for (reg_domain *d = c->domains, *next; d; d = next)
    {
      next = d->next;
      free (d->domain);
      free (d->host);
      gsi_credentials_clear (&d->creds);
      free (d->ca_pem);
      free (d->client_cert);
      free (d->client_key);
      free (d);
    }
  for (reg_token *t = c->tokens, *next; t; t = next)
    {
      next = t->next;
      token_free (t);
    }
  gsi_reg_config_free (c->cfg);
  free (c->authfile);
  free (c->cert_dir);
  pthread_mutex_destroy (&c->lock);
  pthread_mutex_destroy (&c->token_fetch_lock);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy (&c->share_locks[i]);
  free (c);
}

const gsi_reg_config *
gsi_reg_client_config (const gsi_reg_client *c)
{
  return c->cfg;
}

void
gsi_reg_client_stats_get (gsi_reg_client *c, gsi_reg_client_stats *out)
{
  out->requests = __atomic_load_n (&c->stats.requests, __ATOMIC_RELAXED);
  out->retries = __atomic_load_n (&c->stats.retries, __ATOMIC_RELAXED);
  out->token_fetches = __atomic_load_n (&c->stats.token_fetches, __ATOMIC_RELAXED);
  out->bytes_in = __atomic_load_n (&c->stats.bytes_in, __ATOMIC_RELAXED);
  out->bytes_out = __atomic_load_n (&c->stats.bytes_out, __ATOMIC_RELAXED);
}

/* ---- easy handle pool ------------------------------------------------------------------------- */

static CURL *
handle_get (gsi_reg_client *c)
{
  CURL *h = NULL;

  pthread_mutex_lock (&c->lock);
  if (c->npool > 0)
    h = c->pool[--c->npool];
  pthread_mutex_unlock (&c->lock);
  if (h == NULL)
    h = curl_easy_init ();
  else
    curl_easy_reset (h);
  return h;
}

static void
handle_put (gsi_reg_client *c, CURL *h)
{
  if (h == NULL)
    return;
  pthread_mutex_lock (&c->lock);
  GSI_ALLOC_GROW (c->pool, c->npool + 1, c->pool_alloc);
  c->pool[c->npool++] = h;
  pthread_mutex_unlock (&c->lock);
}

/* ---- domains ---------------------------------------------------------------------------------- */

static char *
read_whole (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  gsi_buf b = GSI_BUF_INIT;
  char tmp[8192];
  size_t n;

  if (f == NULL)
    return NULL;
  while ((n = fread (tmp, 1, sizeof tmp, f)) > 0)
    gsi_buf_add (&b, tmp, n);
  if (ferror (f))
    {
      fclose (f);
      gsi_buf_release (&b);
      return NULL;
    }
  fclose (f);
  return gsi_buf_detach (&b, len);
}

static int
has_suffix (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return n >= m && strcmp (s + n - m, suffix) == 0;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The system bundle followed by every *.crt of dir (CURLOPT_CAPATH wants hashed names, and the
 * certs.d convention does not have them).  Also picks the client.cert/client.key pair.  */
static int
load_ca_dir (reg_domain *d, const char *dir, gsi_error *err)
{
  cleanup_dir DIR *dh = opendir (dir);
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
  gsi_buf pem = GSI_BUF_INIT;
  struct dirent *de;
  char *sys;
  size_t len;

  if (dh == NULL)
    return gsi_error_set (err, errno, "open CA directory `%s`", dir);
  while ((de = readdir (dh)) != NULL)
    {
      if (de->d_name[0] == '.')
        continue;
      if (has_suffix (de->d_name, ".crt"))
        gsi_strvec_push (&names, de->d_name);
      else if (has_suffix (de->d_name, ".cert"))
        {
          char *key = xasprintf ("%s/%.*s.key", dir, (int) (strlen (de->d_name) - 5), de->d_name);
          if (d->client_cert == NULL && access (key, R_OK) == 0)
            {
              d->client_cert = xasprintf ("%s/%s", dir, de->d_name);
              d->client_key = key;
            }
          else
            free (key);
        }
    }
  if (names.n == 0)
    return 0;
  qsort (names.v, names.n, sizeof (char *), cmp_str);
  sys = read_whole (SYSTEM_CA_BUNDLE, &len);
  if (sys)
    {
      gsi_buf_add (&pem, sys, len);
      gsi_buf_addch (&pem, '\n');
      free (sys);
    }
  for (size_t i = 0; i < names.n; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", dir, names.v[i]);
      char *data = read_whole (p, &len);
      if (data == NULL)
        {
          gsi_buf_release (&pem);
          return gsi_error_set (err, errno, "read CA certificate `%s`", p);
        }
      gsi_buf_add (&pem, data, len);
      gsi_buf_addch (&pem, '\n');
      free (data);
    }
  d->ca_pem = gsi_buf_detach (&pem, &d->ca_len);
  return 0;
}

static const char *
endpoint_host (const char *domain)
{
  if (strcmp (domain, "docker.io") == 0 || strcmp (domain, "index.docker.io") == 0)
    return "registry-1.docker.io";
  return domain;
}

/* Called with c->lock held.  */
static reg_domain *
domain_get (gsi_reg_client *c, const char *domain, gsi_error *err)
{
  reg_domain *d;
  const char *ca_dir;

  for (d = c->domains; d; d = d->next)
    if (strcmp (d->domain, domain) == 0)
      return d;
  d = xcalloc (1, sizeof *d);
  d->domain = xstrdup (domain);
  d->host = xstrdup (endpoint_host (domain));
  d->verify = c->tls_verify >= 0 ? c->tls_verify != 0 : gsi_reg_config_tls_verify (c->cfg, domain);
  ca_dir = c->cert_dir ? c->cert_dir : gsi_reg_config_ca_dir (c->cfg, domain);
  if (ca_dir && load_ca_dir (d, ca_dir, err) < 0)
    {
      free (d->domain);
      free (d->host);
      free (d->client_cert);
      free (d->client_key);
      free (d);
      return NULL;
    }
  d->ca_loaded = true;
  d->next = c->domains;
  c->domains = d;
  return d;
}

/* Called with c->lock held.  */
static int
domain_creds (gsi_reg_client *c, reg_domain *d, gsi_error *err)
{
  if (d->creds_loaded)
    return 0;
  if (gsi_credentials_lookup (c->authfile, d->domain, &d->creds, err) < 0)
    return -1;
  d->creds_loaded = true;
  return 0;
}

/* ---- scopes and tokens ------------------------------------------------------------------------ */

/* "repository:a/b:pull,push" covers "repository:a/b:pull".  */
static bool
scope_covers (const char *have, const char *want)
{
  const char *hc = strrchr (have, ':'), *wc = strrchr (want, ':');
  const char *p;

  if (strcmp (have, want) == 0)
    return true;
  if (hc == NULL || wc == NULL || hc - have != wc - want || strncmp (have, want, (size_t) (hc - have)) != 0)
    return false;
  hc++;
  for (p = hc; *p;)
    {
      size_t n = strcspn (p, ",");
      if (n == 1 && *p == '*')
        return true;
      p += n + (p[n] == ',');
    }
  for (p = wc + 1; *p;)
    {
      size_t n = strcspn (p, ",");
      bool found = false;
      for (const char *q = hc; *q && !found;)
        {
          size_t m = strcspn (q, ",");
          found = m == n && strncmp (p, q, n) == 0;
          q += m + (q[m] == ',');
        }
      if (n > 0 && !found)
        return false;
      p += n + (p[n] == ',');
    }
  return true;
}

static void
scopes_add (gsi_strvec *sv, const char *s)
{
  if (s == NULL || *s == '\0')
    return;
  for (size_t i = 0; i < sv->n; i++)
    if (scope_covers (sv->v[i], s))
      return;
  gsi_strvec_push (sv, s);
}

static void
request_scopes (const gsi_reg_request *rq, gsi_strvec *out)
{
  if (rq->repo && *rq->repo)
    {
      cleanup_free char *s = xasprintf ("repository:%s:%s", rq->repo, rq->actions && *rq->actions ? rq->actions : "pull");
      scopes_add (out, s);
    }
  scopes_add (out, rq->extra_scope);
}

/* Called with c->lock held: a token of domain covering every scope of want, not expired.  */
static char *
token_find (gsi_reg_client *c, const char *domain, const gsi_strvec *want)
{
  time_t now = time (NULL);

  for (reg_token *t = c->tokens; t; t = t->next)
    {
      bool ok = strcmp (t->domain, domain) == 0 && t->expires > now;
      for (size_t i = 0; ok && i < want->n; i++)
        {
          bool cov = false;
          for (size_t j = 0; j < t->scopes.n && !cov; j++)
            cov = scope_covers (t->scopes.v[j], want->v[i]);
          ok = cov;
        }
      if (ok)
        return xstrdup (t->token);
    }
  return NULL;
}

static void
token_store (gsi_reg_client *c, const char *domain, const gsi_strvec *scopes, const char *token, time_t expires)
{
  reg_token *t = NULL, **pp;
  time_t now = time (NULL);

  pthread_mutex_lock (&c->lock);
  /* Drop expired tokens and the one with the same scope set.  */
  for (pp = &c->tokens; *pp;)
    {
      reg_token *x = *pp;
      bool same = strcmp (x->domain, domain) == 0 && x->scopes.n == scopes->n;
      for (size_t i = 0; same && i < scopes->n; i++)
        same = strcmp (x->scopes.v[i], scopes->v[i]) == 0;
      if (same || x->expires <= now)
        {
          *pp = x->next;
          token_free (x);
        }
      else
        pp = &x->next;
    }
  t = xcalloc (1, sizeof *t);
  t->domain = xstrdup (domain);
  for (size_t i = 0; i < scopes->n; i++)
    gsi_strvec_push (&t->scopes, scopes->v[i]);
  t->token = xstrdup (token);
  t->expires = expires;
  t->next = c->tokens;
  c->tokens = t;
  pthread_mutex_unlock (&c->lock);
}

/* Called with c->lock held: drops every token of domain.  */
static void
token_forget (gsi_reg_client *c, const char *domain)
{
  for (reg_token **pp = &c->tokens; *pp;)
    {
      reg_token *x = *pp;
      if (strcmp (x->domain, domain) == 0)
        {
          *pp = x->next;
          token_free (x);
        }
      else
        pp = &x->next;
    }
}

/* ---- one transfer ----------------------------------------------------------------------------- */

typedef struct xfer
{
  gsi_reg_client *c;
  /* response */
  const gsi_reg_sink *sink;
  size_t limit;
  gsi_buf body;
  long status;
  char *content_type, *location, *digest, *range;
  gsi_buf www_auth;
  int64_t content_length;
  bool too_long, sink_failed;
  gsi_error sink_err;
  uint64_t bytes_in;
  /* request body */
  const char *mem;
  int fd;
  uint64_t size, off;
  int read_errno;
} xfer;

static void
xfer_reset_headers (xfer *x)
{
  free (x->content_type);
  free (x->location);
  free (x->digest);
  free (x->range);
  x->content_type = x->location = x->digest = x->range = NULL;
  gsi_buf_reset (&x->www_auth);
  x->content_length = -1;
}

static void
xfer_release (xfer *x)
{
  xfer_reset_headers (x);
  gsi_buf_release (&x->www_auth);
  gsi_buf_release (&x->body);
  gsi_error_clear (&x->sink_err);
}

static size_t
on_header (char *data, size_t size, size_t n, void *ctx)
{
  xfer *x = ctx;
  size_t len = size * n, nlen;
  const char *colon, *v, *end;
  char **slot = NULL;

  if (len > 5 && strncmp (data, "HTTP/", 5) == 0)
    {
      const char *sp = memchr (data, ' ', len);
      xfer_reset_headers (x);
      x->status = sp ? strtol (sp + 1, NULL, 10) : 0;
      return len;
    }
  colon = memchr (data, ':', len);
  if (colon == NULL)
    return len;
  nlen = (size_t) (colon - data);
  end = data + len;
  while (end > colon + 1 && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
    end--;
  for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
    ;
#define IS(name) (nlen == sizeof name - 1 && strncasecmp (data, name, nlen) == 0)
  if (IS ("content-type"))
    slot = &x->content_type;
  else if (IS ("location"))
    slot = &x->location;
  else if (IS ("docker-content-digest"))
    slot = &x->digest;
  else if (IS ("range"))
    slot = &x->range;
  else if (IS ("www-authenticate"))
    {
      /* Several headers are one comma-separated list (RFC 9110 5.3).  */
      if (x->www_auth.len)
        gsi_buf_addstr (&x->www_auth, ", ");
      gsi_buf_add (&x->www_auth, v, (size_t) (end - v));
    }
  else if (IS ("content-length"))
    {
      char *e;
      long long cl = strtoll (v, &e, 10);
      x->content_length = e != v && cl >= 0 ? cl : -1;
    }
#undef IS
  if (slot)
    {
      free (*slot);
      *slot = xstrndup (v, (size_t) (end - v));
    }
  return len;
}

static size_t
on_body (char *data, size_t size, size_t n, void *ctx)
{
  xfer *x = ctx;
  size_t len = size * n;

  x->bytes_in += len;
  if (x->sink && x->status >= 200 && x->status < 300)
    {
      if (x->sink->write (x->sink->ctx, data, len, &x->sink_err) < 0)
        {
          x->sink_failed = true;
          return 0;
        }
      return len;
    }
  if (x->status >= 300)
    {
      /* Only the start of an error body matters.  */
      if (x->body.len < ERROR_BODY_LIMIT)
        gsi_buf_add (&x->body, data, len < ERROR_BODY_LIMIT - x->body.len ? len : ERROR_BODY_LIMIT - x->body.len);
      return len;
    }
  if (x->body.len + len > x->limit)
    {
      x->too_long = true;
      return 0;
    }
  gsi_buf_add (&x->body, data, len);
  return len;
}

static size_t
on_read (char *buf, size_t size, size_t n, void *ctx)
{
  xfer *x = ctx;
  size_t want = size * n;
  uint64_t left = x->size - x->off;

  if (want > left)
    want = (size_t) left;
  if (want == 0)
    return 0;
  if (x->mem)
    memcpy (buf, x->mem + x->off, want);
  else
    {
      ssize_t r;
      do
        r = pread (x->fd, buf, want, (off_t) x->off);
      while (r < 0 && errno == EINTR);
      if (r < 0)
        {
          x->read_errno = errno;
          return CURL_READFUNC_ABORT;
        }
      if (r == 0)
        {
          x->read_errno = EIO; /* the file is shorter than body_size */
          return CURL_READFUNC_ABORT;
        }
      want = (size_t) r;
    }
  x->off += want;
  return want;
}

static int
on_seek (void *ctx, curl_off_t offset, int origin)
{
  xfer *x = ctx;

  if (origin != SEEK_SET || offset < 0 || (uint64_t) offset > x->size)
    return CURL_SEEKFUNC_FAIL;
  x->off = (uint64_t) offset;
  return CURL_SEEKFUNC_OK;
}

static bool
retryable_curl (CURLcode rc)
{
  return rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR
         || rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING || rc == CURLE_HTTP2
         || rc == CURLE_HTTP2_STREAM || rc == CURLE_WEIRD_SERVER_REPLY;
}

static bool
retryable_status (long s)
{
  return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static void
debug_log (gsi_reg_client *c, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
debug_log (gsi_reg_client *c, const char *fmt, ...)
{
  gsi_buf b = GSI_BUF_INIT;
  va_list ap;

  if (!c->debug)
    return;
  gsi_buf_addstr (&b, "gsi http: ");
  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  gsi_buf_addch (&b, '\n');
  /* One write per line, so parallel transfers do not interleave within a line.  */
  if (write (STDERR_FILENO, b.buf, b.len) < 0)
    {
    }
  gsi_buf_release (&b);
}

typedef struct attempt_opts
{
  const char *method;
  const char *url;
  struct curl_slist *headers;
  bool verify;
  const char *ca_pem;
  size_t ca_len;
  const char *client_cert, *client_key;
  bool follow;
  const char *userpwd_user, *userpwd_pass; /* Basic through libcurl (token service) */
} attempt_opts;

static CURLcode
attempt (gsi_reg_client *c, CURL *h, const attempt_opts *o, xfer *x, char *errbuf)
{
  bool has_body = x->mem != NULL || x->fd >= 0;
  const char *m = o->method;
  CURLcode rc;

  x->off = 0;
  x->status = 0;
  x->too_long = x->sink_failed = false;
  x->read_errno = 0;
  gsi_buf_reset (&x->body);
  xfer_reset_headers (x);
  errbuf[0] = '\0';

  curl_easy_setopt (h, CURLOPT_URL, o->url);
  curl_easy_setopt (h, CURLOPT_SHARE, c->share);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "gsi");
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, x);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, x);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, o->headers);
  curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
  curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
  if (o->ca_pem)
    {
      struct curl_blob blob = { (void *) o->ca_pem, o->ca_len, CURL_BLOB_COPY };
      curl_easy_setopt (h, CURLOPT_CAINFO_BLOB, &blob);
    }
  if (o->client_cert)
    {
      curl_easy_setopt (h, CURLOPT_SSLCERT, o->client_cert);
      curl_easy_setopt (h, CURLOPT_SSLKEY, o->client_key);
    }
  if (o->follow)
    {
      /* libcurl (>= 7.58) drops a custom Authorization header when the redirect goes to another host.  */
      curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt (h, CURLOPT_MAXREDIRS, 10L);
    }
  if (o->userpwd_user)
    {
      curl_easy_setopt (h, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
      curl_easy_setopt (h, CURLOPT_USERNAME, o->userpwd_user);
      curl_easy_setopt (h, CURLOPT_PASSWORD, o->userpwd_pass ? o->userpwd_pass : "");
    }

  if (strcmp (m, "HEAD") == 0)
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  else if (strcmp (m, "GET") == 0 && !has_body)
    curl_easy_setopt (h, CURLOPT_HTTPGET, 1L);
  else if (strcmp (m, "PUT") == 0)
    {
      curl_easy_setopt (h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt (h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->size);
    }
  else if (has_body || strcmp (m, "POST") == 0 || strcmp (m, "PATCH") == 0)
    {
      curl_easy_setopt (h, CURLOPT_POST, 1L);
      curl_easy_setopt (h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) x->size);
      if (strcmp (m, "POST") != 0)
        curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, m);
    }
  else
    curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, m);
  curl_easy_setopt (h, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt (h, CURLOPT_READDATA, x);
  curl_easy_setopt (h, CURLOPT_SEEKFUNCTION, on_seek);
  curl_easy_setopt (h, CURLOPT_SEEKDATA, x);

  stat_add (&c->stats.requests, 1);
  rc = curl_easy_perform (h);
  stat_add (&c->stats.bytes_in, x->bytes_in);
  x->bytes_in = 0;
  {
    curl_off_t up = 0;
    if (curl_easy_getinfo (h, CURLINFO_SIZE_UPLOAD_T, &up) == CURLE_OK && up > 0)
      stat_add (&c->stats.bytes_out, (uint64_t) up);
  }
  if (rc == CURLE_OK)
    curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &x->status);
  return rc;
}

/* ---- retries ---------------------------------------------------------------------------------- */

static long
backoff_ms (gsi_reg_client *c, int retry, CURL *h, bool got_response)
{
  long ms = c->retry_base_ms;
  curl_off_t ra = -1;

  for (int i = 0; i < retry && ms < MAX_BACKOFF_MS; i++)
    ms *= 2;
  if (ms > MAX_BACKOFF_MS)
    ms = MAX_BACKOFF_MS;
  if (ms > 0)
    ms += (long) arc4random_uniform ((uint32_t) (ms / 4 + 1));
  if (ms > MAX_BACKOFF_MS)
    ms = MAX_BACKOFF_MS;
  /* libcurl parses Retry-After in both forms (delta seconds and HTTP date).  */
  if (got_response && curl_easy_getinfo (h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
    {
      long ra_ms = ra > MAX_RETRY_AFTER_MS / 1000 ? MAX_RETRY_AFTER_MS : (long) ra * 1000;
      if (ra_ms > ms)
        ms = ra_ms;
    }
  return ms;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ---- URLs ------------------------------------------------------------------------------------- */

static bool
is_absolute (const char *t)
{
  return strncasecmp (t, "http://", 7) == 0 || strncasecmp (t, "https://", 8) == 0;
}

/* host[:port] of an absolute URL, as written.  */
static char *
url_hostport (const char *url)
{
  CURLU *u = curl_url ();
  char *host = NULL, *port = NULL, *res = NULL;

  if (curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK
      && curl_url_get (u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
    {
      if (curl_url_get (u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
        res = xasprintf ("%s:%s", host, port);
      else
        res = xstrdup (host);
    }
  curl_free (host);
  curl_free (port);
  curl_url_cleanup (u);
  return res;
}

static char *
url_resolve (const char *base, const char *ref)
{
  CURLU *u = curl_url ();
  char *s = NULL, *res = NULL;

  if (curl_url_set (u, CURLUPART_URL, base, 0) == CURLUE_OK
      && curl_url_set (u, CURLUPART_URL, ref, 0) == CURLUE_OK
      && curl_url_get (u, CURLUPART_URL, &s, 0) == CURLUE_OK)
    res = xstrdup (s);
  curl_free (s);
  curl_url_cleanup (u);
  return res ? res : xstrdup (ref);
}

static char *
make_url (const reg_domain *d, bool plain, const char *target)
{
  if (is_absolute (target))
    {
      if (plain && strncasecmp (target, "https://", 8) == 0)
        return xasprintf ("http://%s", target + 8);
      return xstrdup (target);
    }
  return xasprintf ("%s://%s%s", plain ? "http" : "https", d->host, target);
}

/* ---- tokens ----------------------------------------------------------------------------------- */

static time_t
parse_issued_at (const char *s)
{
  struct tm tm = { 0 };
  const char *p;

  if (s == NULL || (p = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
    return (time_t) -1;
  return timegm (&tm);
}

static int
parse_token_response (const gsi_buf *body, char **token, time_t *expires, gsi_error *err)
{
  json_error_t jerr;
  json_t *root = json_loadb (body->buf, body->len, 0, &jerr);
  const char *tok;
  json_t *ei;
  long long expires_in = TOKEN_DEFAULT_EXPIRES_S;
  time_t now = time (NULL), issued;

  if (root == NULL || !json_is_object (root))
    {
      json_decref (root);
      return gsi_error_set (err, 0, "token response is not a JSON object");
    }
  tok = json_string_value (json_object_get (root, "token"));
  if (tok == NULL || *tok == '\0')
    tok = json_string_value (json_object_get (root, "access_token"));
  if (tok == NULL || *tok == '\0')
    {
      json_decref (root);
      return gsi_error_set (err, 0, "token response has no token");
    }
  ei = json_object_get (root, "expires_in");
  if (json_is_integer (ei) && json_integer_value (ei) > 0)
    expires_in = json_integer_value (ei);
  issued = parse_issued_at (json_string_value (json_object_get (root, "issued_at")));
  /* A token service clock ahead of ours must not make the token live longer.  */
  if (issued == (time_t) -1 || issued > now)
    issued = now;
  *expires = issued + (time_t) expires_in - TOKEN_MARGIN_S;
  *token = xstrdup (tok);
  json_decref (root);
  return 0;
}

static void
add_query (gsi_buf *b, CURL *h, const char *name, const char *value, bool *first)
{
  char *e = curl_easy_escape (h, value, 0);
  gsi_buf_addf (b, "%s%s=%s", *first ? "" : "&", name, e);
  curl_free (e);
  *first = false;
}

static const char *reason_phrase (long status);

/* GET realm?service=S&scope=..., Basic with the domain's credentials when there are any; with an
 * identity token, the OAuth2 refresh_token POST instead.  */
static int
fetch_token (gsi_reg_client *c, reg_domain *d, const gsi_auth_challenge *ch, const gsi_strvec *scopes,
             char **token, time_t *expires, gsi_error *err)
{
  cleanup_free char *user = NULL, *pass = NULL, *idtok = NULL;
  gsi_buf url = GSI_BUF_INIT, form = GSI_BUF_INIT;
  struct curl_slist *hdrs = NULL;
  xfer x = { 0 };
  attempt_opts o = { 0 };
  char errbuf[CURL_ERROR_SIZE];
  CURL *h;
  int ret = -1;
  bool first = true;

  if (ch->realm == NULL || *ch->realm == '\0')
    return gsi_error_set (err, 0, "%s: Bearer challenge without realm", d->domain);
  if (!is_absolute (ch->realm))
    return gsi_error_set (err, 0, "%s: Bearer realm `%s` is not an http(s) URL", d->domain, ch->realm);

  pthread_mutex_lock (&c->lock);
  if (domain_creds (c, d, err) < 0)
    {
      pthread_mutex_unlock (&c->lock);
      return -1;
    }
  if (d->creds.username)
    {
      user = xstrdup (d->creds.username);
      pass = xstrdup (d->creds.password ? d->creds.password : "");
    }
  if (d->creds.identity_token)
    idtok = xstrdup (d->creds.identity_token);
  o.verify = d->verify;
  o.ca_pem = d->ca_pem;
  o.ca_len = d->ca_len;
  pthread_mutex_unlock (&c->lock);

  h = handle_get (c);
  if (h == NULL)
    return gsi_error_set (err, ENOMEM, "curl_easy_init");
  gsi_buf_addstr (&url, ch->realm);
  if (idtok)
    {
      add_query (&form, h, "grant_type", "refresh_token", &first);
      add_query (&form, h, "refresh_token", idtok, &first);
      add_query (&form, h, "client_id", "gsi", &first);
      if (ch->service)
        add_query (&form, h, "service", ch->service, &first);
      if (scopes->n)
        {
          gsi_buf joined = GSI_BUF_INIT;
          for (size_t i = 0; i < scopes->n; i++)
            gsi_buf_addf (&joined, "%s%s", i ? " " : "", scopes->v[i]);
          add_query (&form, h, "scope", joined.buf, &first);
          gsi_buf_release (&joined);
        }
      o.method = "POST";
      x.mem = form.buf;
      x.size = form.len;
      hdrs = curl_slist_append (hdrs, "Content-Type: application/x-www-form-urlencoded");
    }
  else
    {
      first = strchr (ch->realm, '?') == NULL;
      gsi_buf_addch (&url, first ? '?' : '&');
      first = true;
      if (ch->service)
        add_query (&url, h, "service", ch->service, &first);
      for (size_t i = 0; i < scopes->n; i++)
        add_query (&url, h, "scope", scopes->v[i], &first);
      if (first)
        gsi_buf_setlen (&url, url.len - 1);
      o.method = "GET";
      o.userpwd_user = user;
      o.userpwd_pass = pass;
    }
  hdrs = curl_slist_append (hdrs, "Expect:");
  o.url = url.buf;
  o.headers = hdrs;
  x.c = c;
  x.fd = -1;
  x.limit = DEFAULT_BODY_LIMIT;

  for (int retry = 0;; retry++)
    {
      CURLcode rc;
      bool again;

      stat_add (&c->stats.token_fetches, 1);
      rc = attempt (c, h, &o, &x, errbuf);
      debug_log (c, "token %s %s: %s", o.method, ch->realm, rc == CURLE_OK ? reason_phrase (x.status) : curl_easy_strerror (rc));
      again = rc == CURLE_OK ? retryable_status (x.status) : retryable_curl (rc);
      if (again && retry < c->max_retries)
        {
          stat_add (&c->stats.retries, 1);
          sleep_ms (backoff_ms (c, retry, h, rc == CURLE_OK));
          continue;
        }
      if (rc != CURLE_OK)
        {
          gsi_error_set (err, 0, "token service %s: %s", ch->realm, errbuf[0] ? errbuf : curl_easy_strerror (rc));
          break;
        }
      if (x.status != 200)
        {
          if (x.status == 401 || x.status == 403)
            {
              pthread_mutex_lock (&c->lock);
              d->token_refused = x.status;
              pthread_mutex_unlock (&c->lock);
            }
          gsi_error_set (err, 0, "token service %s refused: %ld %s%s", ch->realm, x.status, reason_phrase (x.status),
                         x.status == 401 || x.status == 403 ? " (wrong credentials? run gsi login)" : "");
          break;
        }
      ret = parse_token_response (&x.body, token, expires, err);
      if (ret < 0)
        gsi_error_wrap (err, "token service %s", ch->realm);
      break;
    }
  handle_put (c, h);
  curl_slist_free_all (hdrs);
  gsi_buf_release (&url);
  gsi_buf_release (&form);
  xfer_release (&x);
  return ret;
}

/* ---- gsi_reg_do ------------------------------------------------------------------------------- */

static char *
base64_basic (const char *user, const char *pass)
{
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  cleanup_free char *in = xasprintf ("%s:%s", user, pass ? pass : "");
  size_t n = strlen (in);
  char *out = xmalloc (n / 3 * 4 + 8), *o = out;
  const unsigned char *p = (const unsigned char *) in;

  for (size_t i = 0; i < n; i += 3)
    {
      unsigned v = (unsigned) p[i] << 16 | (i + 1 < n ? (unsigned) p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
      *o++ = tbl[v >> 18 & 63];
      *o++ = tbl[v >> 12 & 63];
      *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
      *o++ = i + 2 < n ? tbl[v & 63] : '=';
    }
  *o = '\0';
  return out;
}

/* The Authorization header value the client already has for this request, or NULL.  */
static char *
current_auth (gsi_reg_client *c, reg_domain *d, const gsi_strvec *scopes, gsi_error *err, int *failed)
{
  char *tok, *res = NULL;

  *failed = 0;
  pthread_mutex_lock (&c->lock);
  tok = token_find (c, d->domain, scopes);
  if (tok)
    {
      res = xasprintf ("Bearer %s", tok);
      free (tok);
    }
  else if (d->basic)
    {
      if (domain_creds (c, d, err) < 0)
        *failed = 1;
      else if (d->creds.username)
        {
          cleanup_free char *b = base64_basic (d->creds.username, d->creds.password);
          res = xasprintf ("Basic %s", b);
        }
    }
  pthread_mutex_unlock (&c->lock);
  return res;
}

/* Answers a 401 challenge: *auth gets the header value to resend with; returns 1 to resend, 0 to
 * hand the 401 to the caller, -1 on error.  */
static int
answer_challenge (gsi_reg_client *c, reg_domain *d, const char *header, const gsi_strvec *want, const char *sent,
                  char **auth, gsi_error *err)
{
  gsi_auth_challenge ch = GSI_AUTH_CHALLENGE_INIT;
  cleanup_error gsi_error perr = GSI_ERROR_INIT;
  int ret = 0;

  if (header == NULL || *header == '\0' || gsi_auth_challenge_parse (header, &ch, &perr) < 0)
    return 0; /* nothing we can answer: the caller gets the 401 */
  if (strcmp (ch.scheme, "basic") == 0)
    {
      pthread_mutex_lock (&c->lock);
      d->basic = true;
      if (domain_creds (c, d, err) < 0)
        ret = -1;
      else if (d->creds.username)
        {
          cleanup_free char *b = base64_basic (d->creds.username, d->creds.password);
          *auth = xasprintf ("Basic %s", b);
          ret = 1;
        }
      pthread_mutex_unlock (&c->lock);
    }
  else
    {
      cleanup_strvec gsi_strvec scopes = GSI_STRVEC_INIT;
      char *token = NULL;
      time_t expires = 0;

      for (size_t i = 0; i < want->n; i++)
        scopes_add (&scopes, want->v[i]);
      if (ch.scope)
        {
          cleanup_free char *copy = xstrdup (ch.scope);
          char *save = NULL;
          for (char *s = strtok_r (copy, " ", &save); s; s = strtok_r (NULL, " ", &save))
            scopes_add (&scopes, s);
        }
      if (scopes.n)
        qsort (scopes.v, scopes.n, sizeof (char *), cmp_str);
      pthread_mutex_lock (&c->token_fetch_lock);
      /* Another thread may have fetched a covering token while this one waited.  */
      pthread_mutex_lock (&c->lock);
      token = token_find (c, d->domain, &scopes);
      pthread_mutex_unlock (&c->lock);
      if (token && sent && strncmp (sent, "Bearer ", 7) == 0 && strcmp (sent + 7, token) == 0)
        {
          /* The registry just refused that very token: get a new one.  */
          free (token);
          token = NULL;
        }
      if (token)
        ret = 1;
      else if (fetch_token (c, d, &ch, &scopes, &token, &expires, err) < 0)
        ret = -1;
      else
        {
          token_store (c, d->domain, &scopes, token, expires);
          ret = 1;
        }
      pthread_mutex_unlock (&c->token_fetch_lock);
      if (ret == 1)
        {
          *auth = xasprintf ("Bearer %s", token);
          free (token);
        }
    }
  gsi_auth_challenge_clear (&ch);
  return ret;
}

static struct curl_slist *
build_headers (const gsi_reg_request *rq, const char *auth)
{
  struct curl_slist *l = NULL;
  bool has_ctype = false;

  for (const char *const *p = rq->headers; p && *p; p++)
    {
      l = curl_slist_append (l, *p);
      if (strncasecmp (*p, "content-type:", 13) == 0)
        has_ctype = true;
    }
  /* No 100-continue round trip; no form content type libcurl would add to a POST.  */
  l = curl_slist_append (l, "Expect:");
  if (!has_ctype)
    l = curl_slist_append (l, "Content-Type:");
  if (auth)
    {
      cleanup_free char *line = xasprintf ("Authorization: %s", auth);
      l = curl_slist_append (l, line);
    }
  return l;
}

static void
fill_response (xfer *x, CURL *h, const char *url, gsi_reg_response *rs)
{
  char *eff = NULL;

  rs->status = x->status;
  rs->body = x->body;
  x->body = (gsi_buf) GSI_BUF_INIT;
  rs->content_type = steal_pointer (&x->content_type);
  rs->docker_content_digest = steal_pointer (&x->digest);
  rs->range = steal_pointer (&x->range);
  rs->www_authenticate = x->www_auth.len ? xstrdup (x->www_auth.buf) : NULL;
  rs->content_length = x->content_length;
  if (curl_easy_getinfo (h, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK || eff == NULL)
    eff = (char *) url;
  rs->url = xstrdup (eff);
  if (x->location)
    rs->location = url_resolve (rs->url, x->location);
}

int
gsi_reg_do (gsi_reg_client *c, const gsi_reg_request *rq, gsi_reg_response *rs, gsi_error *err)
{
  cleanup_strvec gsi_strvec scopes = GSI_STRVEC_INIT;
  cleanup_free char *auth = NULL, *target_host = NULL;
  reg_domain *d;
  xfer x = { 0 };
  attempt_opts o = { 0 };
  char errbuf[CURL_ERROR_SIZE];
  CURL *h = NULL;
  bool same_host, challenged = false, plain;
  int retry = 0, ret = -1, failed = 0;

  gsi_reg_response_clear (rs);
  if (rq->method == NULL || rq->domain == NULL || rq->target == NULL)
    return gsi_error_set (err, EINVAL, "registry request without method, domain or target");
  pthread_mutex_lock (&c->lock);
  d = domain_get (c, rq->domain, err);
  if (d)
    {
      o.verify = d->verify;
      o.ca_pem = d->ca_pem;
      o.ca_len = d->ca_len;
      o.client_cert = d->client_cert;
      o.client_key = d->client_key;
    }
  pthread_mutex_unlock (&c->lock);
  if (d == NULL)
    return -1;

  request_scopes (rq, &scopes);
  if (is_absolute (rq->target))
    {
      target_host = url_hostport (rq->target);
      same_host = target_host && strcasecmp (target_host, d->host) == 0;
    }
  else
    same_host = true;
  if (same_host)
    {
      auth = current_auth (c, d, &scopes, err, &failed);
      if (failed)
        return -1;
    }

  x.c = c;
  x.sink = rq->sink;
  x.limit = rq->body_limit ? rq->body_limit : DEFAULT_BODY_LIMIT;
  x.content_length = -1;
  if (rq->body)
    {
      x.mem = rq->body;
      x.size = rq->body_len;
      x.fd = -1;
    }
  else
    {
      x.fd = rq->body_fd;
      x.size = rq->body_fd >= 0 ? rq->body_size : 0;
    }
  o.method = rq->method;
  o.follow = rq->follow_redirects;

  h = handle_get (c);
  if (h == NULL)
    return gsi_error_set (err, ENOMEM, "curl_easy_init");

  for (int resend = 0;; resend++)
    {
      cleanup_free char *url = NULL;
      struct curl_slist *hdrs;
      CURLcode rc;
      bool again;

      if (resend > 0 && rq->sink && rq->sink->rewind && rq->sink->rewind (rq->sink->ctx, err) < 0)
        break;
      pthread_mutex_lock (&c->lock);
      plain = d->plain_http;
      pthread_mutex_unlock (&c->lock);
      url = make_url (d, plain && same_host, rq->target);
      hdrs = build_headers (rq, same_host ? auth : NULL);
      o.url = url;
      o.headers = hdrs;
      rc = attempt (c, h, &o, &x, errbuf);
      curl_slist_free_all (hdrs);
      o.headers = NULL;

      if (rc == CURLE_OK)
        debug_log (c, "%s %s -> %ld%s", rq->method, url, x.status, retry ? " (retry)" : "");
      else
        debug_log (c, "%s %s -> %s%s", rq->method, url, errbuf[0] ? errbuf : curl_easy_strerror (rc),
                   retry ? " (retry)" : "");

      if (x.sink_failed)
        {
          gsi_error_clear (err);
          if (err)
            {
              *err = x.sink_err;
              x.sink_err = (gsi_error) GSI_ERROR_INIT;
            }
          gsi_error_wrap (err, "%s %s", rq->method, url);
          break;
        }
      if (x.too_long)
        {
          gsi_error_set (err, 0, "%s %s: response body longer than %zu bytes", rq->method, url, x.limit);
          break;
        }
      if (x.read_errno)
        {
          gsi_error_set (err, x.read_errno, "%s %s: read request body", rq->method, url);
          break;
        }
      /* TLS verification off and the server speaks plain HTTP: use http from now on.  */
      if (rc != CURLE_OK && !o.verify && same_host && !plain
          && (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_UNSUPPORTED_PROTOCOL
              || (rc == CURLE_COULDNT_CONNECT && strchr (d->host, ':') == NULL))
          && strncasecmp (url, "https://", 8) == 0)
        {
          debug_log (c, "%s: TLS failed, switching to plain http", d->domain);
          pthread_mutex_lock (&c->lock);
          d->plain_http = true;
          pthread_mutex_unlock (&c->lock);
          continue;
        }
      if (rc == CURLE_OK && x.status == 401 && same_host && !challenged)
        {
          char *newauth = NULL;
          int r;

          challenged = true;
          r = answer_challenge (c, d, x.www_auth.len ? x.www_auth.buf : NULL, &scopes, auth, &newauth, err);
          if (r < 0)
            {
              gsi_error_wrap (err, "%s %s", rq->method, url);
              break;
            }
          if (r > 0)
            {
              free (auth);
              auth = newauth;
              continue;
            }
        }
      again = rc == CURLE_OK ? retryable_status (x.status) : retryable_curl (rc);
      if (again && retry < c->max_retries)
        {
          long ms = backoff_ms (c, retry, h, rc == CURLE_OK);
          debug_log (c, "%s %s: retry %d in %ld ms", rq->method, url, retry + 1, ms);
          stat_add (&c->stats.retries, 1);
          retry++;
          sleep_ms (ms);
          continue;
        }
      if (rc != CURLE_OK)
        {
          gsi_error_set (err, 0, "%s %s: %s%s", rq->method, url, errbuf[0] ? errbuf : curl_easy_strerror (rc),
                         again ? " (retries exhausted)" : "");
          break;
        }
      fill_response (&x, h, url, rs);
      if (again)
        {
          /* A failure hands back no response: callers return without clearing one.  */
          gsi_reg_status_error (rq, rs, err);
          gsi_error_wrap (err, "retries exhausted");
          gsi_reg_response_clear (rs);
          break;
        }
      ret = 0;
      break;
    }
  handle_put (c, h);
  xfer_release (&x);
  return ret;
}

int
gsi_reg_check_credentials (gsi_reg_client *c, const char *domain, const char *username, const char *password,
                           gsi_error *err)
{
  gsi_reg_request rq = GSI_REG_REQUEST_INIT;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  uint64_t fetches_before = __atomic_load_n (&c->stats.token_fetches, __ATOMIC_RELAXED);
  reg_domain *d;
  long refused;
  bool basic, answered;
  int ret;

  pthread_mutex_lock (&c->lock);
  d = domain_get (c, domain, err);
  if (d)
    {
      /* These credentials, not the files': a token cached for others would prove nothing.  */
      gsi_credentials_clear (&d->creds);
      d->creds.username = xstrdup (username);
      d->creds.password = xstrdup (password ? password : "");
      d->creds.source = xstrdup ("the command line");
      d->creds_loaded = true;
      d->token_refused = 0;
      token_forget (c, domain);
    }
  pthread_mutex_unlock (&c->lock);
  if (d == NULL)
    return -1;

  rq.method = "GET";
  rq.domain = domain;
  rq.target = "/v2/";
  ret = gsi_reg_do (c, &rq, &rs, err);
  pthread_mutex_lock (&c->lock);
  refused = d->token_refused;
  basic = d->basic;
  pthread_mutex_unlock (&c->lock);
  if (ret < 0)
    {
      if (refused)
        {
          gsi_error_clear (err);
          gsi_error_set (err, 0, "invalid username or password (the token service answered %ld %s)", refused,
                         reason_phrase (refused));
        }
      gsi_reg_response_clear (&rs);
      return -1;
    }
  answered = basic || __atomic_load_n (&c->stats.token_fetches, __ATOMIC_RELAXED) > fetches_before;
  if (rs.status == 200)
    ret = answered ? 1 : 0;
  else if ((rs.status == 401 || rs.status == 403) && answered)
    ret = gsi_error_set (err, 0, "invalid username or password (GET %s: %ld %s)", rs.url, rs.status,
                         reason_phrase (rs.status));
  else if (rs.status == 401)
    ret = gsi_error_set (err, 0, "GET %s: 401 Unauthorized with %s%s%s", rs.url,
                         rs.www_authenticate ? "a challenge gsi cannot answer: `" : "no WWW-Authenticate challenge",
                         rs.www_authenticate ? rs.www_authenticate : "", rs.www_authenticate ? "`" : "");
  else
    ret = gsi_error_set (err, 0, "GET %s: %ld %s (not a registry? /v2/ should answer 200 or 401)", rs.url,
                         rs.status, reason_phrase (rs.status));
  gsi_reg_response_clear (&rs);
  return ret;
}

void
gsi_reg_response_clear (gsi_reg_response *rs)
{
  gsi_buf_release (&rs->body);
  free (rs->content_type);
  free (rs->location);
  free (rs->docker_content_digest);
  free (rs->range);
  free (rs->www_authenticate);
  free (rs->url);
  *rs = (gsi_reg_response) GSI_REG_RESPONSE_INIT;
}

static const char *
reason_phrase (long status)
{
  switch (status)
    {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "";
    }
}

int
gsi_reg_status_error (const gsi_reg_request *rq, const gsi_reg_response *rs, gsi_error *err)
{
  gsi_buf b = GSI_BUF_INIT;
  json_t *root = NULL, *errors;
  bool any = false;

  gsi_buf_addf (&b, "%s %s: %ld", rq->method ? rq->method : "?", rs->url ? rs->url : rq->target, rs->status);
  if (*reason_phrase (rs->status))
    gsi_buf_addf (&b, " %s", reason_phrase (rs->status));
  if (rs->body.len)
    root = json_loadb (rs->body.buf, rs->body.len, 0, NULL);
  errors = json_object_get (root, "errors");
  if (json_is_array (errors))
    {
      size_t i;
      json_t *e;
      json_array_foreach (errors, i, e)
        {
          const char *code = json_string_value (json_object_get (e, "code"));
          const char *message = json_string_value (json_object_get (e, "message"));
          if (code == NULL && message == NULL)
            continue;
          gsi_buf_addstr (&b, any ? "; " : ": ");
          if (code)
            gsi_buf_addstr (&b, code);
          if (code && message)
            gsi_buf_addstr (&b, ": ");
          if (message)
            gsi_buf_addstr (&b, message);
          any = true;
        }
    }
  json_decref (root);
  if (rs->status == 401 || rs->status == 403)
    gsi_buf_addf (&b, "%sauthentication required: run gsi login %s", any ? " (" : ": ",
                  rq->domain ? rq->domain : "REGISTRY");
  if ((rs->status == 401 || rs->status == 403) && any)
    gsi_buf_addch (&b, ')');
  gsi_error_set (err, 0, "%s", b.buf);
  gsi_buf_release (&b);
  return -1;
}
