/* The registry HTTP client (registry/client.h) against a scripted HTTP server in this process, on
 * 127.0.0.1: each connection gets the next canned answer, and every request is logged as
 * "METHOD TARGET AUTHORIZATION".  Covers the retry rules (which statuses, how many, Retry-After),
 * the plain-HTTP fallback, Basic and Bearer challenges with the token cache, the login check, the
 * body limit, Location resolution and the error text of gsi_reg_status_error.  */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "registry/client.h"
#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

typedef struct server
{
  int fd, port;
  pthread_t thread;
  pthread_mutex_t mu;
  gsi_strvec script; /* raw answers, in order */
  size_t next;
  gsi_strvec log;
  int tls_probes;
} server;

typedef struct fixture
{
  char dir[64];
  server srv;
  char *authfile;
  char host[32]; /* "127.0.0.1:PORT" */
} fixture;

static void
write_all (int fd, const char *s, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, s, n);
      if (w <= 0)
        return;
      s += w;
      n -= (size_t) w;
    }
}

/* One request per connection: read it, log it, answer with the next scripted answer, close.  */
static void
serve_one (server *s, int c)
{
  gsi_buf req = GSI_BUF_INIT;
  char buf[4096], method[16] = "", target[2048] = "";
  const char *end = NULL, *auth = "-", *answer;
  char *auth_copy = NULL;
  long clen = 0;
  ssize_t r;

  while ((r = read (c, buf, sizeof buf)) > 0)
    {
      gsi_buf_add (&req, buf, (size_t) r);
      if ((unsigned char) req.buf[0] == 0x16)
        {
          /* A TLS ClientHello: answer as a plain HTTP server does.  */
          static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
          pthread_mutex_lock (&s->mu);
          s->tls_probes++;
          pthread_mutex_unlock (&s->mu);
          write_all (c, bad, sizeof bad - 1);
          gsi_buf_release (&req);
          return;
        }
      if ((end = strstr (req.buf, "\r\n\r\n")) != NULL)
        break;
    }
  if (end == NULL)
    {
      gsi_buf_release (&req);
      return;
    }
  sscanf (req.buf, "%15s %2047s", method, target);
  for (const char *h = strstr (req.buf, "\r\n"); h && h < end; h = strstr (h + 2, "\r\n"))
    {
      const char *line = h + 2;
      size_t len = strcspn (line, "\r");
      if (strncasecmp (line, "Authorization:", 14) == 0)
        {
          const char *v = line + 14;
          while (*v == ' ')
            v++;
          auth_copy = xstrndup (v, len - (size_t) (v - line));
          auth = auth_copy;
        }
      else if (strncasecmp (line, "Content-Length:", 15) == 0)
        clen = strtol (line + 15, NULL, 10);
    }
  /* Drain the body.  */
  for (long have = (long) (req.len - (size_t) (end + 4 - req.buf)); have < clen; have += r)
    if ((r = read (c, buf, sizeof buf)) <= 0)
      break;

  pthread_mutex_lock (&s->mu);
  gsi_strvec_pushf (&s->log, "%s %s %s", method, target, auth);
  answer = s->next < s->script.n ? s->script.v[s->next++]
                                 : "HTTP/1.1 599 Script Ended\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  pthread_mutex_unlock (&s->mu);
  write_all (c, answer, strlen (answer));
  free (auth_copy);
  gsi_buf_release (&req);
}

static void *
serve (void *arg)
{
  server *s = arg;

  for (;;)
    {
      int c = accept (s->fd, NULL, NULL);
      if (c < 0)
        return NULL;
      serve_one (s, c);
      shutdown (c, SHUT_WR);
      close (c);
    }
}

static void
server_start (server *s)
{
  struct sockaddr_in a = { .sin_family = AF_INET };
  socklen_t len = sizeof a;
  int one = 1;

  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  s->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true (s->fd >= 0);
  setsockopt (s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  assert_int_equal (bind (s->fd, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (listen (s->fd, 16), 0);
  assert_int_equal (getsockname (s->fd, (struct sockaddr *) &a, &len), 0);
  s->port = ntohs (a.sin_port);
  pthread_mutex_init (&s->mu, NULL);
  assert_int_equal (pthread_create (&s->thread, NULL, serve, s), 0);
}

static void
server_stop (server *s)
{
  shutdown (s->fd, SHUT_RDWR);
  close (s->fd);
  pthread_join (s->thread, NULL);
  pthread_mutex_destroy (&s->mu);
  gsi_strvec_clear (&s->script);
  gsi_strvec_clear (&s->log);
}

/* Queues an answer: status line, extra header lines ("Name: value\r\n" each), body.  */
static void
answer (fixture *f, const char *status, const char *headers, const char *body)
{
  pthread_mutex_lock (&f->srv.mu);
  gsi_strvec_pushf (&f->srv.script, "HTTP/1.1 %s\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s", status,
                    headers ? headers : "", strlen (body ? body : ""), body ? body : "");
  pthread_mutex_unlock (&f->srv.mu);
}

/* The request log joined with '\n'.  */
static char *
log_text (fixture *f)
{
  gsi_buf b = GSI_BUF_INIT;

  pthread_mutex_lock (&f->srv.mu);
  for (size_t i = 0; i < f->srv.log.n; i++)
    gsi_buf_addf (&b, "%s\n", f->srv.log.v[i]);
  pthread_mutex_unlock (&f->srv.mu);
  return gsi_buf_detach (&b, NULL);
}

static void
expect_log (fixture *f, const char *want)
{
  char *got = log_text (f);
  if (strcmp (got, want) != 0)
    fail_msg ("request log:\n%s\nwant:\n%s", got, want);
  free (got);
}

static int
setup (void **state)
{
  fixture *f = xcalloc (1, sizeof *f);
  char *conf;
  FILE *fp;

  strcpy (f->dir, "/tmp/gsi-regclient-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  setenv ("HOME", f->dir, 1);
  unsetenv ("REGISTRY_AUTH_FILE");
  unsetenv ("DOCKER_CONFIG");
  unsetenv ("XDG_RUNTIME_DIR");
  unsetenv ("GSI_DEBUG_HTTP");
  setenv ("GSI_CERTS_DIR", f->dir, 1);
  conf = xasprintf ("%s/registries.yaml", f->dir);
  fp = fopen (conf, "w");
  fputs ("registries: {}\n", fp);
  fclose (fp);
  setenv ("GSI_REGISTRIES_CONF", conf, 1);
  free (conf);
  server_start (&f->srv);
  snprintf (f->host, sizeof f->host, "127.0.0.1:%d", f->srv.port);
  /* user:pw */
  f->authfile = xasprintf ("%s/auth.json", f->dir);
  fp = fopen (f->authfile, "w");
  fprintf (fp, "{\"auths\":{\"%s\":{\"auth\":\"dXNlcjpwdw==\"}}}\n", f->host);
  fclose (fp);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture *f = *state;
  char *cmd = xasprintf ("rm -rf '%s'", f->dir);
  int r;

  server_stop (&f->srv);
  r = system (cmd);
  free (cmd);
  free (f->authfile);
  free (f);
  return r == 0 ? 0 : -1;
}

/* A client for the scripted server: TLS verification off (so the first request finds out the
 * server speaks plain HTTP), 1 ms backoff, the fixture's auth file.  */
static gsi_reg_client *
client (fixture *f, int max_retries)
{
  gsi_reg_client_opts o = GSI_REG_CLIENT_OPTS_INIT;
  gsi_reg_client *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  o.tls_verify = 0;
  o.retry_base_ms = 1;
  o.max_retries = max_retries;
  o.authfile = f->authfile;
  if (gsi_reg_client_open (&o, &c, &err) < 0)
    fail_msg ("open: %s", err.msg);
  return c;
}

static int
do_get (gsi_reg_client *c, fixture *f, const char *target, const char *repo, const char *actions,
        gsi_reg_response *rs, gsi_error *err)
{
  gsi_reg_request rq = GSI_REG_REQUEST_INIT;

  rq.method = "GET";
  rq.domain = f->host;
  rq.target = target;
  rq.repo = repo;
  rq.actions = actions;
  return gsi_reg_do (c, &rq, rs, err);
}

static void
expect_error (gsi_error *err, const char *want)
{
  assert_non_null (err->msg);
  if (strcmp (err->msg, want) != 0)
    fail_msg ("error:\n  %s\nwant:\n  %s", err->msg, want);
  gsi_error_clear (err);
}

/* ---- retries ----------------------------------------------------------------------------------- */

static void
test_retry_then_ok (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 4);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  gsi_reg_client_stats st;
  char *url;

  answer (f, "503 Service Unavailable", NULL, "busy");
  answer (f, "502 Bad Gateway", NULL, "");
  answer (f, "504 Gateway Timeout", NULL, "");
  answer (f, "200 OK", "Content-Type: text/plain\r\n", "hello");
  assert_int_equal (do_get (c, f, "/v2/x", NULL, NULL, &rs, &err), 0);
  assert_int_equal (rs.status, 200);
  assert_string_equal (rs.body.buf, "hello");
  assert_string_equal (rs.content_type, "text/plain");
  assert_int_equal (rs.content_length, 5);
  url = xasprintf ("http://%s/v2/x", f->host);
  assert_string_equal (rs.url, url);
  free (url);
  expect_log (f, "GET /v2/x -\nGET /v2/x -\nGET /v2/x -\nGET /v2/x -\n");
  /* One TLS attempt found out the server speaks plain HTTP; it is not counted as a retry.  */
  assert_int_equal (f->srv.tls_probes, 1);
  gsi_reg_client_stats_get (c, &st);
  assert_int_equal (st.retries, 3);
  assert_int_equal (st.requests, 5);
  gsi_reg_response_clear (&rs);
  gsi_reg_client_close (c);
}

static void
test_not_retried (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 4);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  static const char *const statuses[] = { "400 Bad Request", "403 Forbidden", "404 Not Found", "405 Method Not Allowed",
                                          "409 Conflict", "416 Range Not Satisfiable", "501 Not Implemented" };
  gsi_buf want = GSI_BUF_INIT;

  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
    {
      answer (f, statuses[i], NULL, "{}");
      assert_int_equal (do_get (c, f, "/v2/y", NULL, NULL, &rs, &err), 0);
      assert_int_equal (rs.status, strtol (statuses[i], NULL, 10));
      gsi_buf_addstr (&want, "GET /v2/y -\n");
    }
  expect_log (f, want.buf);
  gsi_buf_release (&want);
  gsi_reg_response_clear (&rs);
  gsi_reg_client_close (c);
}

static void
test_retries_exhausted (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 2);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *want;

  for (int i = 0; i < 3; i++)
    answer (f, "500 Internal Server Error", "Content-Type: application/json\r\n",
            "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"disk full\"}]}");
  answer (f, "200 OK", NULL, "too late");
  assert_int_equal (do_get (c, f, "/v2/z", NULL, NULL, &rs, &err), -1);
  want = xasprintf ("retries exhausted: GET http://%s/v2/z: 500 Internal Server Error: UNKNOWN: disk full", f->host);
  expect_error (&err, want);
  free (want);
  /* The first try and max_retries (2) more.  */
  expect_log (f, "GET /v2/z -\nGET /v2/z -\nGET /v2/z -\n");
  /* A failure hands back no response.  */
  assert_int_equal (rs.status, 0);
  assert_null (rs.url);
  assert_int_equal (rs.body.len, 0);
  gsi_reg_client_close (c);
}

static void
test_retry_after (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 4);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  struct timespec t0, t1;
  double secs;

  /* Warm up: the plain-HTTP fallback happens here, not in the timed part.  */
  answer (f, "200 OK", NULL, "");
  assert_int_equal (do_get (c, f, "/v2/", NULL, NULL, &rs, &err), 0);
  answer (f, "429 Too Many Requests", "Retry-After: 2\r\n", "");
  answer (f, "200 OK", NULL, "ok");
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_int_equal (do_get (c, f, "/v2/r", NULL, NULL, &rs, &err), 0);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_int_equal (rs.status, 200);
  /* The backoff alone would be 1 ms: Retry-After made it 2 s.  */
  if (secs < 1.95 || secs > 5.0)
    fail_msg ("retried after %.3f s, want about 2 s", secs);
  expect_log (f, "GET /v2/ -\nGET /v2/r -\nGET /v2/r -\n");
  gsi_reg_response_clear (&rs);
  gsi_reg_client_close (c);
}

/* ---- TLS --------------------------------------------------------------------------------------- */

static void
test_tls_verified_no_fallback (void **state)
{
  fixture *f = *state;
  gsi_reg_client_opts o = GSI_REG_CLIENT_OPTS_INIT;
  gsi_reg_client *c = NULL;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *prefix;

  o.tls_verify = 1;
  o.max_retries = 0;
  assert_int_equal (gsi_reg_client_open (&o, &c, &err), 0);
  answer (f, "200 OK", NULL, "");
  assert_int_equal (do_get (c, f, "/v2/", NULL, NULL, &rs, &err), -1);
  prefix = xasprintf ("GET https://%s/v2/: ", f->host);
  assert_non_null (err.msg);
  if (strncmp (err.msg, prefix, strlen (prefix)) != 0)
    fail_msg ("error `%s` does not start with `%s`", err.msg, prefix);
  gsi_error_clear (&err);
  free (prefix);
  /* Never sent over plain HTTP.  */
  expect_log (f, "");
  assert_int_equal (f->srv.tls_probes, 1);
  gsi_reg_client_close (c);
}

/* ---- authentication ---------------------------------------------------------------------------- */

static void
test_basic_challenge (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 0);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;

  answer (f, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"test\"\r\n", "");
  answer (f, "200 OK", NULL, "a");
  answer (f, "200 OK", NULL, "b");
  answer (f, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"test\"\r\n", "");
  answer (f, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"test\"\r\n", "");
  assert_int_equal (do_get (c, f, "/v2/a", "a", "pull", &rs, &err), 0);
  assert_int_equal (rs.status, 200);
  /* Once a Basic challenge was seen, the credentials go with the first try.  */
  assert_int_equal (do_get (c, f, "/v2/b", "b", "pull", &rs, &err), 0);
  assert_int_equal (rs.status, 200);
  /* Refused with them: answered once, then the 401 comes back as a response.  */
  assert_int_equal (do_get (c, f, "/v2/c", "c", "pull", &rs, &err), 0);
  assert_int_equal (rs.status, 401);
  assert_string_equal (rs.www_authenticate, "Basic realm=\"test\"");
  expect_log (f, "GET /v2/a -\nGET /v2/a Basic dXNlcjpwdw==\nGET /v2/b Basic dXNlcjpwdw==\n"
                 "GET /v2/c Basic dXNlcjpwdw==\nGET /v2/c Basic dXNlcjpwdw==\n");
  gsi_reg_response_clear (&rs);
  gsi_reg_client_close (c);
}

static void
test_bearer_tokens_cached (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 0);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  gsi_reg_client_stats st;
  char *chal, *want;

  chal = xasprintf ("WWW-Authenticate: Bearer realm=\"http://%s/token\",service=\"svc\",scope=\"repository:a/b:pull\"\r\n",
                    f->host);
  answer (f, "401 Unauthorized", chal, "");
  answer (f, "200 OK", "Content-Type: application/json\r\n", "{\"token\":\"T1\",\"expires_in\":300}");
  answer (f, "200 OK", NULL, "m1");
  answer (f, "200 OK", NULL, "m2");
  answer (f, "401 Unauthorized", chal, "");
  answer (f, "200 OK", "Content-Type: application/json\r\n", "{\"access_token\":\"T2\"}");
  answer (f, "200 OK", NULL, "m3");
  free (chal);

  assert_int_equal (do_get (c, f, "/v2/a/b/manifests/1", "a/b", "pull", &rs, &err), 0);
  assert_string_equal (rs.body.buf, "m1");
  /* The same scope: the cached token goes with the first try.  */
  assert_int_equal (do_get (c, f, "/v2/a/b/manifests/2", "a/b", "pull", &rs, &err), 0);
  assert_string_equal (rs.body.buf, "m2");
  /* pull,push is not covered by the pull token, so it is not sent: the challenge brings a second
   * token ("access_token" read too).  */
  assert_int_equal (do_get (c, f, "/v2/a/b/blobs/uploads/", "a/b", "pull,push", &rs, &err), 0);
  assert_string_equal (rs.body.buf, "m3");
  want = xasprintf ("GET /v2/a/b/manifests/1 -\n"
                    "GET /token?service=svc&scope=repository%%3Aa%%2Fb%%3Apull Basic dXNlcjpwdw==\n"
                    "GET /v2/a/b/manifests/1 Bearer T1\n"
                    "GET /v2/a/b/manifests/2 Bearer T1\n"
                    "GET /v2/a/b/blobs/uploads/ -\n"
                    "GET /token?service=svc&scope=repository%%3Aa%%2Fb%%3Apull%%2Cpush Basic dXNlcjpwdw==\n"
                    "GET /v2/a/b/blobs/uploads/ Bearer T2\n");
  expect_log (f, want);
  free (want);
  gsi_reg_client_stats_get (c, &st);
  assert_int_equal (st.token_fetches, 2);
  gsi_reg_response_clear (&rs);
  gsi_reg_client_close (c);
}

static void
test_bearer_refused (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 3);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *chal, *want;

  chal = xasprintf ("WWW-Authenticate: Bearer realm=\"http://%s/token\",service=\"svc\"\r\n", f->host);
  answer (f, "401 Unauthorized", chal, "");
  answer (f, "401 Unauthorized", NULL, "");
  free (chal);
  assert_int_equal (do_get (c, f, "/v2/q/manifests/1", "q", "pull", &rs, &err), -1);
  want = xasprintf ("GET http://%s/v2/q/manifests/1: token service http://%s/token refused: 401 Unauthorized "
                    "(wrong credentials? run gsi login)",
                    f->host, f->host);
  expect_error (&err, want);
  free (want);
  /* A refusal is not retried.  */
  expect_log (f, "GET /v2/q/manifests/1 -\nGET /token?service=svc&scope=repository%3Aq%3Apull Basic dXNlcjpwdw==\n");
  gsi_reg_client_close (c);
}

static void
test_check_credentials (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c;
  gsi_error err = GSI_ERROR_INIT;
  char *chal, *want;

  /* Basic: the credentials given, not the auth file's ("u:secret").  */
  c = client (f, 0);
  answer (f, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"r\"\r\n", "");
  answer (f, "200 OK", NULL, "{}");
  assert_int_equal (gsi_reg_check_credentials (c, f->host, "u", "secret", &err), 1);
  gsi_reg_client_close (c);
  expect_log (f, "GET /v2/ -\nGET /v2/ Basic dTpzZWNyZXQ=\n");

  c = client (f, 0);
  answer (f, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"r\"\r\n", "");
  answer (f, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"r\"\r\n", "");
  assert_int_equal (gsi_reg_check_credentials (c, f->host, "u", "wrong", &err), -1);
  want = xasprintf ("invalid username or password (GET http://%s/v2/: 401 Unauthorized)", f->host);
  expect_error (&err, want);
  free (want);
  gsi_reg_client_close (c);

  /* Bearer: the token service decides.  */
  c = client (f, 0);
  chal = xasprintf ("WWW-Authenticate: Bearer realm=\"http://%s/token\",service=\"svc\"\r\n", f->host);
  answer (f, "401 Unauthorized", chal, "");
  answer (f, "403 Forbidden", NULL, "");
  assert_int_equal (gsi_reg_check_credentials (c, f->host, "u", "wrong", &err), -1);
  expect_error (&err, "invalid username or password (the token service answered 403 Forbidden)");
  gsi_reg_client_close (c);
  c = client (f, 0);
  answer (f, "401 Unauthorized", chal, "");
  answer (f, "200 OK", NULL, "{\"token\":\"good\"}");
  answer (f, "200 OK", NULL, "{}");
  assert_int_equal (gsi_reg_check_credentials (c, f->host, "u", "secret", &err), 1);
  gsi_reg_client_close (c);
  free (chal);

  /* No authentication at all: nothing was checked.  */
  c = client (f, 0);
  answer (f, "200 OK", NULL, "{}");
  assert_int_equal (gsi_reg_check_credentials (c, f->host, "u", "p", &err), 0);
  gsi_reg_client_close (c);

  /* Not a registry.  */
  c = client (f, 0);
  answer (f, "404 Not Found", NULL, "");
  assert_int_equal (gsi_reg_check_credentials (c, f->host, "u", "p", &err), -1);
  want = xasprintf ("GET http://%s/v2/: 404 Not Found (not a registry? /v2/ should answer 200 or 401)", f->host);
  expect_error (&err, want);
  free (want);
  gsi_reg_client_close (c);
}

/* ---- responses --------------------------------------------------------------------------------- */

static void
test_location_and_headers (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 0);
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *want;

  answer (f, "202 Accepted",
          "Location: /v2/a/blobs/uploads/u1?_state=x%3D\r\nRange: 0-99\r\n"
          "Docker-Content-Digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\r\n",
          "");
  assert_int_equal (do_get (c, f, "/v2/a/blobs/uploads/", NULL, NULL, &rs, &err), 0);
  assert_int_equal (rs.status, 202);
  want = xasprintf ("http://%s/v2/a/blobs/uploads/u1?_state=x%%3D", f->host);
  assert_string_equal (rs.location, want);
  free (want);
  assert_string_equal (rs.range, "0-99");
  assert_string_equal (rs.docker_content_digest,
                       "sha256:0000000000000000000000000000000000000000000000000000000000000000");
  assert_int_equal (rs.content_length, 0);
  assert_null (rs.www_authenticate);
  gsi_reg_response_clear (&rs);
  gsi_reg_client_close (c);
}

static void
test_body_limit (void **state)
{
  fixture *f = *state;
  gsi_reg_client *c = client (f, 3);
  gsi_reg_request rq = GSI_REG_REQUEST_INIT;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *want;

  answer (f, "200 OK", NULL, "0123456789abcdef");
  rq.method = "GET";
  rq.domain = f->host;
  rq.target = "/v2/big";
  rq.body_limit = 10;
  assert_int_equal (gsi_reg_do (c, &rq, &rs, &err), -1);
  want = xasprintf ("GET http://%s/v2/big: response body longer than 10 bytes", f->host);
  expect_error (&err, want);
  free (want);
  /* Not retried: the answer will not get shorter.  */
  expect_log (f, "GET /v2/big -\n");
  gsi_reg_client_close (c);
}

static void
test_status_error_text (void **state)
{
  gsi_reg_request rq = GSI_REG_REQUEST_INIT;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  gsi_error err = GSI_ERROR_INIT;

  (void) state;
  rq.method = "GET";
  rq.domain = "r.example";
  rq.target = "/v2/a/manifests/1";
  rs.status = 403;
  rs.url = xstrdup ("https://r.example/v2/a/manifests/1");
  gsi_buf_addstr (&rs.body, "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to the resource is denied\"}]}");
  assert_int_equal (gsi_reg_status_error (&rq, &rs, &err), -1);
  expect_error (&err, "GET https://r.example/v2/a/manifests/1: 403 Forbidden: DENIED: requested access to the resource "
                      "is denied (authentication required: run gsi login r.example)");

  /* Several errors; a code without a message and a message without a code; no hint but for 401/403.  */
  rs.status = 404;
  gsi_buf_reset (&rs.body);
  gsi_buf_addstr (&rs.body, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"},"
                            "{\"code\":\"NAME_UNKNOWN\"},{\"message\":\"just text\"},{\"detail\":{}}]}");
  assert_int_equal (gsi_reg_status_error (&rq, &rs, &err), -1);
  expect_error (&err, "GET https://r.example/v2/a/manifests/1: 404 Not Found: MANIFEST_UNKNOWN: manifest unknown; "
                      "NAME_UNKNOWN; just text");

  /* A body that is not JSON is left out; a 401 without errors still says what to do.  */
  rs.status = 401;
  gsi_buf_reset (&rs.body);
  gsi_buf_addstr (&rs.body, "<html>nope</html>");
  assert_int_equal (gsi_reg_status_error (&rq, &rs, &err), -1);
  expect_error (&err, "GET https://r.example/v2/a/manifests/1: 401 Unauthorized: authentication required: run gsi "
                      "login r.example");

  /* No URL yet: the target stands in; an unknown status has no reason phrase.  */
  free (rs.url);
  rs.url = NULL;
  rs.status = 599;
  rq.method = "PUT";
  gsi_buf_reset (&rs.body);
  assert_int_equal (gsi_reg_status_error (&rq, &rs, &err), -1);
  expect_error (&err, "PUT /v2/a/manifests/1: 599 Server Error");
  gsi_reg_response_clear (&rs);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_retry_then_ok, setup, teardown),
    cmocka_unit_test_setup_teardown (test_not_retried, setup, teardown),
    cmocka_unit_test_setup_teardown (test_retries_exhausted, setup, teardown),
    cmocka_unit_test_setup_teardown (test_retry_after, setup, teardown),
    cmocka_unit_test_setup_teardown (test_tls_verified_no_fallback, setup, teardown),
    cmocka_unit_test_setup_teardown (test_basic_challenge, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bearer_tokens_cached, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bearer_refused, setup, teardown),
    cmocka_unit_test_setup_teardown (test_check_credentials, setup, teardown),
    cmocka_unit_test_setup_teardown (test_location_and_headers, setup, teardown),
    cmocka_unit_test_setup_teardown (test_body_limit, setup, teardown),
    cmocka_unit_test (test_status_error_text),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
