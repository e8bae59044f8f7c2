/* gsi_registry_push against a real registry: Debian's docker-registry (CNCF distribution), started
 * here on a free 127.0.0.1 port with its own storage.  Round trip of the manifest bytes and digest,
 * a second push that uploads nothing, a cross-repository mount, forced PATCH chunks, an index with
 * its children, and the errors for a missing image, a wrong digest and a registry that is down.  */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "oci/blob.h"
#include "oci/digest.h"
#include "oci/image.h"
#include "oci/store.h"
#include "registry/client.h"
#include "registry/registry.h"
#include "util/xalloc.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"

typedef struct fixture
{
  char *dir;       /* temp dir: store/, registry/, config.yml, registry.log */
  pid_t registry;  /* docker-registry process */
  int port;
  char *host;      /* "127.0.0.1:PORT" */
  gsi_store *store;
  gsi_reg_client *client;
} fixture;

/* ---- helpers ---------------------------------------------------------------------------------- */

static int
free_port (void)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
  socklen_t alen = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0), port;

  assert_true (fd >= 0);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  assert_int_equal (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (getsockname (fd, (struct sockaddr *) &a, &alen), 0);
  port = ntohs (a.sin_port);
  close (fd);
  return port;
}

static bool
port_answers (int port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  bool ok;

  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  ok = connect (fd, (struct sockaddr *) &a, sizeof a) == 0;
  close (fd);
  return ok;
}

static void
rm_rf (const char *path)
{
  char *cmd = xasprintf ("rm -rf '%s'", path);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

static void
write_file (const char *path, const char *text)
{
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  assert_int_equal (fclose (f), 0);
}

static void
fill_random (unsigned char *p, size_t n, uint64_t seed)
{
  uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (size_t i = 0; i < n; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      p[i] = (unsigned char) (x >> 24);
    }
}

/* A one-layer image: the layer is `len` random bytes from `seed`, gzipped; tagged ref.  */
static void
make_image (gsi_store *s, uint64_t seed, size_t len, const char *ref, gsi_descriptor *out, gsi_blob_info *layer_info)
{
  unsigned char *data = xmalloc (len);
  gsi_blob_writer *w = NULL;
  gsi_blob_info info;
  gsi_descriptor layer = GSI_DESCRIPTOR_INIT;
  gsi_image_config cfg;

  fill_random (data, len, seed);
  CHECK (gsi_blob_writer_open (s, GSI_COMP_GZIP, &w, CERR));
  CHECK (gsi_blob_writer_write (w, data, len, CERR));
  CHECK (gsi_blob_writer_commit (w, &info, CERR));
  free (data);
  gsi_descriptor_set_layer (&layer, &info, GSI_COMP_GZIP);
  gsi_image_config_init (&cfg);
  cfg.architecture = xstrdup (seed % 2 ? "arm64" : "amd64");
  cfg.os = xstrdup ("linux");
  gsi_strvec_push (&cfg.diff_ids, info.diff_id);
  CHECK (gsi_store_commit_image (s, &cfg, &layer, 1, NULL, ref, out, CERR));
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&layer);
  if (layer_info)
    *layer_info = info;
}

static int64_t
blob_size (gsi_store *s, const char *digest)
{
  struct stat st;
  gsi_error err = GSI_ERROR_INIT;
  char *p = gsi_store_blob_path (s, digest, &err);
  assert_non_null (p);
  assert_int_equal (stat (p, &st), 0);
  free (p);
  return st.st_size;
}

static char *stored_blob (gsi_store *s, const char *digest, size_t *len);

/* Size of the config blob of a stored manifest.  */
static uint64_t
config_size (gsi_store *s, const char *manifest_digest)
{
  size_t len;
  char *data = stored_blob (s, manifest_digest, &len);
  gsi_manifest man;
  uint64_t n;

  gsi_manifest_init (&man);
  CHECK (gsi_manifest_from_json (data, len, &man, CERR));
  n = (uint64_t) blob_size (s, man.config.digest);
  gsi_manifest_clear (&man);
  free (data);
  return n;
}

static char *
stored_blob (gsi_store *s, const char *digest, size_t *len)
{
  char *data = NULL;
  CHECK (gsi_store_read_blob (s, digest, -1, 64 << 20, &data, len, CERR));
  return data;
}

/* GET of a registry path; returns the status, *body (may be NULL) gets the body, *dcd the
 * Docker-Content-Digest.  */
static long
reg_get (fixture *f, const char *repo, const char *path, char **body, size_t *len, char **dcd)
{
  static const char *const accept[]
      = { "Accept: " GSI_MEDIA_OCI_MANIFEST ", " GSI_MEDIA_OCI_INDEX ", " GSI_MEDIA_DOCKER_MANIFEST, NULL };
  gsi_reg_request rq = GSI_REG_REQUEST_INIT;
  gsi_reg_response rs = GSI_REG_RESPONSE_INIT;
  long status;

  rq.method = "GET";
  rq.domain = f->host;
  rq.repo = repo;
  rq.actions = "pull";
  rq.target = path;
  rq.headers = accept;
  rq.body_limit = 64 << 20;
  CHECK (gsi_reg_do (f->client, &rq, &rs, CERR));
  status = rs.status;
  if (body)
    *body = gsi_buf_detach (&rs.body, len);
  if (dcd)
    *dcd = rs.docker_content_digest ? xstrdup (rs.docker_content_digest) : NULL;
  gsi_reg_response_clear (&rs);
  return status;
}

static char *
dest_ref (fixture *f, const char *repo_tag)
{
  return xasprintf ("%s/%s", f->host, repo_tag);
}

/* Progress lines are collected to check what was said per blob.  */
static void
collect_line (void *ctx, const char *line)
{
  gsi_buf *b = ctx;
  gsi_buf_addstr (b, line);
  gsi_buf_addch (b, '\n');
}

/* ---- fixture ---------------------------------------------------------------------------------- */

static int
setup (void **state)
{
  fixture *f = xcalloc (1, sizeof *f);
  const char *base = getenv ("TMPDIR");
  gsi_reg_client_opts copts = GSI_REG_CLIENT_OPTS_INIT;
  char *cfg, *cfg_path, *log_path, *store_path, *reg_path;
  gsi_error err = GSI_ERROR_INIT;

  f->dir = xasprintf ("%s/gsi-push-test-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null (mkdtemp (f->dir));
  f->port = free_port ();
  f->host = xasprintf ("127.0.0.1:%d", f->port);
  reg_path = xasprintf ("%s/registry", f->dir);
  cfg_path = xasprintf ("%s/config.yml", f->dir);
  log_path = xasprintf ("%s/registry.log", f->dir);
  store_path = xasprintf ("%s/store", f->dir);
  cfg = xasprintf ("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
                   "http:\n  addr: 127.0.0.1:%d\n",
                   reg_path, f->port);
  write_file (cfg_path, cfg);

  f->registry = fork ();
  assert_true (f->registry >= 0);
  if (f->registry == 0)
    {
      int fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0)
        {
          dup2 (fd, 1);
          dup2 (fd, 2);
        }
      execl (REGISTRY_BIN, REGISTRY_BIN, "serve", cfg_path, (char *) NULL);
      _exit (127);
    }
  for (int i = 0; i < 200 && !port_answers (f->port); i++)
    {
      int st;
      if (waitpid (f->registry, &st, WNOHANG) == f->registry)
        fail_msg ("docker-registry exited (see %s)", log_path);
      usleep (50 * 1000);
    }
  if (!port_answers (f->port))
    fail_msg ("docker-registry does not answer on %s", f->host);

  if (gsi_store_open (store_path, &f->store, &err) < 0)
    fail_msg ("store: %s", err.msg);
  copts.tls_verify = 0;
  copts.max_retries = 1;
  copts.retry_base_ms = 10;
  if (gsi_reg_client_open (&copts, &f->client, &err) < 0)
    fail_msg ("client: %s", err.msg);
  free (cfg);
  free (cfg_path);
  free (log_path);
  free (store_path);
  free (reg_path);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture *f = *state;
  int st;

  gsi_reg_client_close (f->client);
  gsi_store_close (f->store);
  if (f->registry > 0)
    {
      kill (f->registry, SIGTERM);
      waitpid (f->registry, &st, 0);
    }
  rm_rf (f->dir);
  free (f->dir);
  free (f->host);
  free (f);
  return 0;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void
test_push_roundtrip (void **state)
{
  fixture *f = *state;
  gsi_descriptor m = GSI_DESCRIPTOR_INIT;
  gsi_blob_info layer;
  gsi_push_stats st;
  gsi_push_opts opts = { 0 };
  const char *extra[] = { "v2", "v1", NULL };
  char digest[GSI_DIGEST_BUF] = "";
  char *dest = dest_ref (f, "gsi/one:v1");
  char *stored, *got, *dcd;
  size_t slen, glen;
  gsi_buf lines = GSI_BUF_INIT;

  make_image (f->store, 1, 300000, "one:1", &m, &layer);
  opts.extra_tags = extra;
  opts.progress = collect_line;
  opts.progress_ctx = &lines;
  CHECK (gsi_registry_push (f->client, f->store, "one:1", dest, &opts, digest, &st, CERR));
  assert_string_equal (digest, m.digest);
  assert_int_equal (st.blobs_uploaded, 2);
  assert_int_equal (st.blobs_existing, 0);
  assert_int_equal (st.blobs_mounted, 0);
  stored = stored_blob (f->store, m.digest, &slen);
  assert_int_equal (st.bytes_uploaded, layer.size + config_size (f->store, m.digest));
  assert_non_null (strstr (lines.buf, ": uploaded "));

  /* The registry serves our exact bytes under both tags, with our digest.  */
  for (int i = 0; i < 2; i++)
    {
      char *path = xasprintf ("/v2/gsi/one/manifests/%s", i ? "v2" : "v1");
      assert_int_equal (reg_get (f, "gsi/one", path, &got, &glen, &dcd), 200);
      assert_int_equal (glen, slen);
      assert_memory_equal (got, stored, slen);
      assert_string_equal (dcd, m.digest);
      free (path);
      free (got);
      free (dcd);
    }
  /* And the layer bytes.  */
  {
    char *path = xasprintf ("/v2/gsi/one/blobs/%s", layer.digest);
    char *lb = stored_blob (f->store, layer.digest, &slen);
    assert_int_equal (reg_get (f, "gsi/one", path, &got, &glen, NULL), 200);
    assert_int_equal (glen, slen);
    assert_memory_equal (got, lb, slen);
    free (lb);
    free (got);
    free (path);
  }

  /* Second push: nothing to upload.  */
  gsi_buf_reset (&lines);
  CHECK (gsi_registry_push (f->client, f->store, "one:1", dest, &opts, digest, &st, CERR));
  assert_string_equal (digest, m.digest);
  assert_int_equal (st.blobs_uploaded, 0);
  assert_int_equal (st.blobs_existing, 2);
  assert_int_equal (st.bytes_uploaded, 0);
  assert_null (strstr (lines.buf, "uploaded"));
  assert_non_null (strstr (lines.buf, ": exists"));

  gsi_buf_release (&lines);
  free (stored);
  free (dest);
  gsi_descriptor_clear (&m);
}

static void
test_push_mount (void **state)
{
  fixture *f = *state;
  gsi_descriptor m = GSI_DESCRIPTOR_INIT;
  gsi_push_stats st;
  gsi_push_opts opts = { 0 };
  char digest[GSI_DIGEST_BUF];
  char *a = dest_ref (f, "gsi/a:t"), *b = dest_ref (f, "team/b:t");
  char *path = xasprintf ("%s/" GSI_STORE_PRIVATE_DIR "/registry-blobs.json", gsi_store_root (f->store));
  json_t *rec, *repos;
  gsi_buf lines = GSI_BUF_INIT;
  gsi_blob_info layer;

  make_image (f->store, 2, 50000, "two:1", &m, &layer);
  CHECK (gsi_registry_push (f->client, f->store, "two:1", a, NULL, digest, &st, CERR));
  assert_int_equal (st.blobs_uploaded, 2);

  /* The record knows repository gsi/a holds both blobs.  */
  rec = json_load_file (path, 0, NULL);
  assert_non_null (rec);
  repos = json_object_get (json_object_get (rec, f->host), layer.digest);
  assert_int_equal (json_array_size (repos), 1);
  assert_string_equal (json_string_value (json_array_get (repos, 0)), "gsi/a");
  /* Manifests are not blobs.  */
  assert_null (json_object_get (json_object_get (rec, f->host), m.digest));
  json_decref (rec);

  opts.progress = collect_line;
  opts.progress_ctx = &lines;
  CHECK (gsi_registry_push (f->client, f->store, "two:1", b, &opts, digest, &st, CERR));
  assert_string_equal (digest, m.digest);
  assert_int_equal (st.blobs_mounted, 2);
  assert_int_equal (st.blobs_uploaded, 0);
  assert_int_equal (st.blobs_existing, 0);
  assert_non_null (strstr (lines.buf, "mounted from gsi/a"));

  rec = json_load_file (path, 0, NULL);
  assert_non_null (rec);
  {
    char cfg_digest[GSI_DIGEST_BUF];
    size_t len;
    char *data = stored_blob (f->store, m.digest, &len);
    gsi_manifest man;

    gsi_manifest_init (&man);
    CHECK (gsi_manifest_from_json (data, len, &man, CERR));
    snprintf (cfg_digest, sizeof cfg_digest, "%s", man.config.digest);
    gsi_manifest_clear (&man);
    free (data);
    for (int i = 0; i < 2; i++)
      {
        json_t *v = json_object_get (json_object_get (rec, f->host), i ? cfg_digest : layer.digest);
        assert_int_equal (json_array_size (v), 2);
        assert_string_equal (json_string_value (json_array_get (v, 0)), "team/b");
        assert_string_equal (json_string_value (json_array_get (v, 1)), "gsi/a");
      }
  }
  json_decref (rec);

  /* The mounted repository serves the image.  */
  {
    char *dcd = NULL;
    assert_int_equal (reg_get (f, "team/b", "/v2/team/b/manifests/t", NULL, NULL, &dcd), 200);
    assert_string_equal (dcd, m.digest);
    free (dcd);
  }
  gsi_buf_release (&lines);
  free (path);
  free (a);
  free (b);
  gsi_descriptor_clear (&m);
}

static void
test_push_chunked (void **state)
{
  fixture *f = *state;
  gsi_descriptor m = GSI_DESCRIPTOR_INIT;
  gsi_blob_info layer;
  gsi_push_stats st;
  gsi_push_opts opts = { 0 };
  gsi_reg_client_stats before, after;
  char digest[GSI_DIGEST_BUF];
  char *dest = dest_ref (f, "gsi/chunked:c");
  char *path, *got, *want;
  size_t glen, wlen;

  make_image (f->store, 3, 200000, "three:1", &m, &layer);
  opts.force_chunked = true;
  opts.chunk_size = 32768;
  opts.jobs = 2;
  gsi_reg_client_stats_get (f->client, &before);
  CHECK (gsi_registry_push (f->client, f->store, "three:1", dest, &opts, digest, &st, CERR));
  gsi_reg_client_stats_get (f->client, &after);
  assert_string_equal (digest, m.digest);
  assert_int_equal (st.blobs_uploaded, 2);
  assert_int_equal (st.bytes_uploaded, layer.size + config_size (f->store, m.digest));
  /* The layer alone takes ceil (size / 32 KiB) PATCHes on top of HEAD, POST and PUT per blob.  */
  assert_true (after.requests - before.requests >= 3 * 2 + (layer.size + 32767) / 32768 + 1);

  path = xasprintf ("/v2/gsi/chunked/blobs/%s", layer.digest);
  want = stored_blob (f->store, layer.digest, &wlen);
  assert_int_equal (reg_get (f, "gsi/chunked", path, &got, &glen, NULL), 200);
  assert_int_equal (glen, wlen);
  assert_memory_equal (got, want, wlen);
  free (got);
  free (want);
  free (path);
  free (dest);
  gsi_descriptor_clear (&m);
}

/* An index of two images pushes both children (by digest) before itself.  */
static void
test_push_index (void **state)
{
  fixture *f = *state;
  gsi_descriptor m1 = GSI_DESCRIPTOR_INIT, m2 = GSI_DESCRIPTOR_INIT, idx = GSI_DESCRIPTOR_INIT;
  gsi_push_stats st;
  char digest[GSI_DIGEST_BUF], idx_digest[GSI_DIGEST_BUF];
  char *dest = dest_ref (f, "gsi/multi:both");
  json_t *j = json_object (), *arr = json_array ();
  char *text;

  make_image (f->store, 4, 10000, NULL, &m1, NULL);
  make_image (f->store, 5, 10000, NULL, &m2, NULL);
  json_object_set_new (j, "schemaVersion", json_integer (2));
  json_object_set_new (j, "mediaType", json_string (GSI_MEDIA_OCI_INDEX));
  for (int i = 0; i < 2; i++)
    {
      gsi_descriptor *d = i ? &m2 : &m1;
      json_t *e = json_pack ("{s:s, s:s, s:I, s:{s:s, s:s}}", "mediaType", d->media_type, "digest", d->digest,
                             "size", (json_int_t) d->size, "platform", "os", "linux", "architecture",
                             i ? "arm64" : "amd64");
      json_array_append_new (arr, e);
    }
  json_object_set_new (j, "manifests", arr);
  text = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (j);
  CHECK (gsi_store_put_blob (f->store, text, strlen (text), idx_digest, CERR));
  gsi_descriptor_set (&idx, GSI_MEDIA_OCI_INDEX, idx_digest, (int64_t) strlen (text));
  CHECK (gsi_store_tag (f->store, "multi:1", &idx, CERR));

  CHECK (gsi_registry_push (f->client, f->store, "multi:1", dest, NULL, digest, &st, CERR));
  assert_string_equal (digest, idx_digest);
  assert_int_equal (st.blobs_uploaded + st.blobs_existing + st.blobs_mounted, 4);

  {
    char *got, *dcd;
    size_t glen;
    assert_int_equal (reg_get (f, "gsi/multi", "/v2/gsi/multi/manifests/both", &got, &glen, &dcd), 200);
    assert_int_equal (glen, strlen (text));
    assert_memory_equal (got, text, glen);
    assert_string_equal (dcd, idx_digest);
    free (got);
    free (dcd);
    for (int i = 0; i < 2; i++)
      {
        char *p = xasprintf ("/v2/gsi/multi/manifests/%s", i ? m2.digest : m1.digest);
        assert_int_equal (reg_get (f, "gsi/multi", p, NULL, NULL, &dcd), 200);
        assert_string_equal (dcd, i ? m2.digest : m1.digest);
        free (dcd);
        free (p);
      }
  }
  free (text);
  free (dest);
  gsi_descriptor_clear (&m1);
  gsi_descriptor_clear (&m2);
  gsi_descriptor_clear (&idx);
}

static void
test_push_errors (void **state)
{
  fixture *f = *state;
  gsi_descriptor m = GSI_DESCRIPTOR_INIT;
  gsi_push_stats st;
  gsi_error err = GSI_ERROR_INIT;
  char digest[GSI_DIGEST_BUF];
  char *dest = dest_ref (f, "gsi/err:t");
  char *wrong = xasprintf ("%s/gsi/err@sha256:%064d", f->host, 0);
  char *down;
  gsi_reg_client_opts copts = GSI_REG_CLIENT_OPTS_INIT;
  gsi_reg_client *c2 = NULL;

  /* Not in the store.  */
  assert_int_equal (gsi_registry_push (f->client, f->store, "nosuch:1", dest, NULL, digest, &st, &err), -1);
  assert_int_equal (err.code, ENOENT);
  assert_non_null (strstr (err.msg, "nosuch"));
  gsi_error_clear (&err);

  /* A destination digest that is not the image's.  */
  make_image (f->store, 6, 1000, "err:1", &m, NULL);
  assert_int_equal (gsi_registry_push (f->client, f->store, "err:1", wrong, NULL, digest, &st, &err), -1);
  assert_non_null (strstr (err.msg, "not the digest"));
  gsi_error_clear (&err);

  /* A bad destination reference.  */
  assert_int_equal (gsi_registry_push (f->client, f->store, "err:1", "Bad//ref", NULL, digest, &st, &err), -1);
  gsi_error_clear (&err);

  /* An invalid extra tag.  */
  {
    const char *extra[] = { "no/slash", NULL };
    gsi_push_opts opts = { .extra_tags = extra };
    assert_int_equal (gsi_registry_push (f->client, f->store, "err:1", dest, &opts, digest, &st, &err), -1);
    assert_non_null (strstr (err.msg, "invalid tag"));
    gsi_error_clear (&err);
  }

  /* A registry that is down: an error after the retries, naming the image.  */
  copts.tls_verify = 0;
  copts.max_retries = 2;
  copts.retry_base_ms = 5;
  copts.connect_timeout_s = 2;
  CHECK (gsi_reg_client_open (&copts, &c2, CERR));
  down = xasprintf ("127.0.0.1:%d/gsi/down:t", free_port ());
  assert_int_equal (gsi_registry_push (c2, f->store, "err:1", down, NULL, digest, &st, &err), -1);
  assert_non_null (strstr (err.msg, "err:1"));
  assert_int_equal (st.blobs_uploaded, 0);
  {
    gsi_reg_client_stats cs;
    gsi_reg_client_stats_get (c2, &cs);
    assert_true (cs.retries >= 2);
  }
  gsi_error_clear (&err);
  gsi_reg_client_close (c2);

  free (down);
  free (wrong);
  free (dest);
  gsi_descriptor_clear (&m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_push_roundtrip), cmocka_unit_test (test_push_mount),
    cmocka_unit_test (test_push_chunked),   cmocka_unit_test (test_push_index),
    cmocka_unit_test (test_push_errors),
  };

  if (access (REGISTRY_BIN, X_OK) != 0)
    {
      /* CI installs docker-registry; a checkout without it cannot test push at all.  */
      fprintf (stderr, "test_push: %s is missing (apt-get install docker-registry)\n", REGISTRY_BIN);
      return getenv ("GSI_REQUIRE_PEER_TESTS") && strcmp (getenv ("GSI_REQUIRE_PEER_TESTS"), "1") == 0 ? 1 : 77;
    }
  return cmocka_run_group_tests (tests, setup, teardown);
}
