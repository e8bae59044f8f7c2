/* One HTTP exchange with a registry: endpoint and scheme, TLS, authentication and retries.
 * Internal to src/registry (pull.c and push.c build the distribution protocol on top of it).
 *
 * A client is shared by the threads of one pull or push: requests are blocking, each runs on its
 * own curl easy handle, and the token cache is locked.
 *
 * Scheme: https.  When TLS verification is off for a domain (--tls-verify=false, or the domain's
 * registries.yaml entry), certificates are not checked and, if the TLS handshake fails because the
 * server speaks plain HTTP, the client switches that domain to http for the rest of its life.
 *
 * Authentication: a request goes out with what the client already has for the domain (a Bearer
 * token cached for a covering scope and not expired, or Basic credentials once a Basic challenge was
 * seen).  A 401 with a WWW-Authenticate challenge is answered once: Basic with the credentials of
 * auth.h; Bearer by GET realm?service=S&scope=S1&scope=S2 (Basic credentials if there are any,
 * anonymous otherwise), reading "token" or "access_token", "expires_in" (default 60 s) and
 * "issued_at"; the token is cached per (domain, scope set) until 10 s before it expires.  Then the
 * request is sent again.  A second 401 is returned to the caller as a response.
 *
 * Retries: a transport failure (connect error or timeout, connection reset, a body cut short or
 * longer than Content-Length), 408, 429, 500, 502, 503 and 504 are retried up to max_retries times
 * with exponential backoff from retry_base_ms (doubling, plus up to 25% jitter, capped at 30 s); a
 * Retry-After header (seconds or HTTP date) replaces the computed delay when it is longer, up to
 * 60 s.  Nothing else is retried: other 4xx come back as responses.  Before every retry the sink's
 * rewind callback is called, so partial bodies are thrown away, and a file body is re-read from its
 * start.  Every attempt is logged to stderr when $GSI_DEBUG_HTTP is set.  */
#ifndef GSI_REGISTRY_CLIENT_H
#define GSI_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

typedef struct gsi_reg_config gsi_reg_config;

typedef struct gsi_reg_client_opts
{
  int tls_verify;          /* -1: per registries.yaml (default on); 0 or 1: forced for every domain */
  const char *authfile;    /* NULL: the default lookup of auth.h */
  const char *config_path; /* registries.yaml; NULL: the default locations of config.h */
  int max_retries;         /* < 0: default 4 */
  int retry_base_ms;       /* < 0: default 500 */
  long connect_timeout_s;  /* <= 0: default 30 */
  long low_speed_time_s;   /* abort a transfer slower than 1 KiB/s for this long; <= 0: default 60 */
  const char *cert_dir;    /* CA directory (*.crt, client.cert/client.key) for every domain, instead
                              of registries.yaml's ca-dir and the certs.d lookup; NULL: those */
} gsi_reg_client_opts;

#define GSI_REG_CLIENT_OPTS_INIT { -1, NULL, NULL, -1, -1, 0, 0, NULL }

typedef struct gsi_reg_client gsi_reg_client;

int gsi_reg_client_open (const gsi_reg_client_opts *opts, gsi_reg_client **out, gsi_error *err);
void gsi_reg_client_close (gsi_reg_client *c); /* NULL is fine */
/* The registries.yaml settings the client uses (mirrors for pull.c).  */
const gsi_reg_config *gsi_reg_client_config (const gsi_reg_client *c);

/* Where response body bytes go when not collected in memory.  write returns 0 or -1 with err set
 * (which aborts the request without retry); rewind is called before a retry and must drop
 * everything written so far (truncate the temp file, reset the hash).  */
typedef struct gsi_reg_sink
{
  int (*write) (void *ctx, const void *data, size_t len, gsi_error *err);
  int (*rewind) (void *ctx, gsi_error *err);
  void *ctx;
} gsi_reg_sink;

typedef struct gsi_reg_request
{
  const char *method;      /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" */
  const char *domain;      /* as in the reference: "docker.io", "127.0.0.1:5000" */
  const char *repo;        /* repository path on that domain, for the token scope */
  const char *actions;     /* scope actions for repo: "pull" or "pull,push" */
  const char *extra_scope; /* another full scope ("repository:other/name:pull" for a mount) or NULL */
  /* "/v2/..." path plus query, or an absolute URL (a Location the registry gave).  */
  const char *target;
  const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
  /* Body: body/body_len from memory, or body_fd (>= 0) read with pread from offset 0 for body_size
   * bytes (so a retry resends it whole); neither for no body.  */
  const void *body;
  size_t body_len;
  int body_fd;
  uint64_t body_size;
  /* Response body: sent to sink when set, else collected in the response up to body_limit bytes
   * (0: 4 MiB; a longer body fails the request).  */
  const gsi_reg_sink *sink;
  size_t body_limit;
  bool follow_redirects;   /* GET of blobs: registries redirect to object storage; the Authorization
                              header is not sent to another host */
} gsi_reg_request;

#define GSI_REG_REQUEST_INIT { .body_fd = -1 }

typedef struct gsi_reg_response
{
  long status;
  gsi_buf body;                /* when no sink was given */
  char *content_type;          /* header values, NULL when absent */
  char *location;              /* resolved to an absolute URL against the request URL */
  char *docker_content_digest;
  char *range;
  char *www_authenticate;
  int64_t content_length;      /* -1 when absent */
  char *url;                   /* the URL of the final attempt */
} gsi_reg_response;

#define GSI_REG_RESPONSE_INIT { 0, GSI_BUF_INIT, NULL, NULL, NULL, NULL, NULL, -1, NULL }

/* Sends rq (with authentication and retries as described above) and fills rs with the last
 * response.  Returns 0 whenever a response arrived that is not retryable, whatever its status
 * (check rs->status); -1 with err set when retries ran out, the transport failed for good, the
 * sink failed, or the token service refused.  rs is cleared first, and is empty after a -1.  */
int gsi_reg_do (gsi_reg_client *c, const gsi_reg_request *rq, gsi_reg_response *rs, gsi_error *err);
void gsi_reg_response_clear (gsi_reg_response *rs);

/* Sets err from an unexpected response: "METHOD URL: 404 Not Found: MANIFEST_UNKNOWN: manifest
 * unknown" (the registry's JSON errors[] when the body has them), with a hint for 401/403
 * ("authentication required: run gsi login DOMAIN").  Returns -1.  */
int gsi_reg_status_error (const gsi_reg_request *rq, const gsi_reg_response *rs, gsi_error *err);

/* Checks username/password against the registry of domain, whatever the credentials files say
 * (gsi login): GET /v2/ with them, answering a Basic challenge or fetching a Bearer token with them
 * (no scope, as docker login does).  Returns 1 when the registry accepted them, 0 when it asked
 * for no authentication at all (so nothing was checked), -1 with err set otherwise: "invalid
 * username or password (...)" when the registry or its token service refused them (401/403), the
 * transport or TLS error as gsi_reg_do reports it.  The credentials stay with c for its later
 * requests to domain.  */
int gsi_reg_check_credentials (gsi_reg_client *c, const char *domain, const char *username, const char *password,
                               gsi_error *err);

/* Counters for benchmarks and tests (totals over the client's life).  */
typedef struct gsi_reg_client_stats
{
  uint64_t requests, retries, token_fetches, bytes_in, bytes_out;
} gsi_reg_client_stats;
void gsi_reg_client_stats_get (gsi_reg_client *c, gsi_reg_client_stats *out);

#endif
