/* gsi_registry_pull against a real registry: Debian's docker-registry (the CNCF distribution
 * registry) started on a free 127.0.0.1 port with a temp storage dir, images pushed into it by
 * skopeo from an OCI layout made with the store API, and a small Python proxy in front of it that
 * corrupts, truncates or redirects blobs and serves a schema 1 manifest.  */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
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

#include "oci/digest.h"
#include "oci/image.h"
#include "oci/layer.h"
#include "oci/store.h"
#include "registry/client.h"
#include "registry/registry.h"
#include "util/buf.h"
#include "util/xalloc.h"

/* Forwards to the registry given as argv[2], except: blobs of repositories with "/corrupt/" get
 * their last byte flipped, "/short/" lose their last byte (Content-Length still honest),
 * "/redirect/" answer 307 to the registry itself; manifests of "/badmanifest/" get a byte appended
 * (Docker-Content-Digest unchanged) and "/schema1/" is a Docker schema 1 manifest.  */
static const char proxy_py[]
    = "import http.server, json, sys, urllib.request, urllib.error\n"
      "UP = sys.argv[2]\n"
      "class NoRedirect(urllib.request.HTTPRedirectHandler):\n"
      "    def redirect_request(self, *a, **k): return None\n"
      "opener = urllib.request.build_opener(NoRedirect)\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "    protocol_version = 'HTTP/1.1'\n"
      "    def log_message(self, *a): pass\n"
      "    def send(self, code, body, headers):\n"
      "        self.send_response(code)\n"
      "        for k, v in headers: self.send_header(k, v)\n"
      "        self.send_header('Content-Length', str(len(body)))\n"
      "        self.end_headers()\n"
      "        if self.command != 'HEAD': self.wfile.write(body)\n"
      "    def do_HEAD(self): self.do_GET()\n"
      "    def do_GET(self):\n"
      "        p = self.path\n"
      "        if '/schema1/' in p and '/manifests/' in p:\n"
      "            body = json.dumps({'schemaVersion': 1, 'name': 'schema1/x', 'tag': 'v1', 'architecture': 'amd64',\n"
      "                               'fsLayers': [], 'history': [], 'signatures': []}).encode()\n"
      "            return self.send(200, body, [('Content-Type', 'application/vnd.docker.distribution.manifest.v1+prettyjws')])\n"
      "        if '/redirect/' in p and '/blobs/' in p:\n"
      "            return self.send(307, b'', [('Location', 'http://' + UP + p)])\n"
      "        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ('accept', 'authorization')}\n"
      "        req = urllib.request.Request('http://' + UP + p, method=self.command, headers=hdrs)\n"
      "        try:\n"
      "            r = opener.open(req); code = r.status; body = r.read(); rh = r.getheaders()\n"
      "        except urllib.error.HTTPError as e:\n"
      "            code = e.code; body = e.read(); rh = list(e.headers.items())\n"
      "        rh = [(k, v) for k, v in rh if k.lower() not in ('content-length', 'transfer-encoding', 'connection', 'date')]\n"
      "        if code == 200 and '/blobs/' in p and self.command == 'GET':\n"
      "            if '/corrupt/' in p: body = body[:-1] + bytes([body[-1] ^ 1])\n"
      "            if '/short/' in p: body = body[:-1]\n"
      "        if code == 200 and '/manifests/' in p and '/badmanifest/' in p and self.command == 'GET':\n"
      "            body = body + b' '\n"
      "        self.send(code, body, rh)\n"
      "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

typedef struct world
{
  char *dir;       /* everything lives here */
  char *src;       /* the OCI layout skopeo pushes from */
  char *conf;      /* registries.yaml for the client */
  int port;        /* the registry */
  int proxy_port;  /* the fault proxy */
  int dead_port, dead_port2; /* nothing listens there */
  pid_t registry_pid, proxy_pid;
  char a_digest[GSI_DIGEST_BUF];  /* a:v1, one layer */
  char b_digest[GSI_DIGEST_BUF];  /* b:v1, a's layer plus three */
  char plat_digest[5][GSI_DIGEST_BUF]; /* multi:v1's images: host, riscv64, arm/v6, arm/v7 */
  char idx_digest[GSI_DIGEST_BUF];
} world;

static world W;

/* ---- helpers ---------------------------------------------------------------------------------- */

static void
rm_rf (const char *path)
{
  char *cmd = xasprintf ("rm -rf '%s'", path);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", path);
  free (cmd);
}

static int
free_port (void)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  if (fd < 0 || bind (fd, (struct sockaddr *) &a, sizeof a) < 0 || getsockname (fd, (struct sockaddr *) &a, &len) < 0)
    {
      if (fd >= 0)
        close (fd);
      return -1;
    }
  close (fd);
  return ntohs (a.sin_port);
}

static bool
port_open (int port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                           .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  bool ok = fd >= 0 && connect (fd, (struct sockaddr *) &a, sizeof a) == 0;

  if (fd >= 0)
    close (fd);
  return ok;
}

static pid_t
spawn (char *const argv[], const char *log)
{
  pid_t pid = fork ();

  if (pid == 0)
    {
      int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0)
        {
          dup2 (fd, 1);
          dup2 (fd, 2);
        }
      execvp (argv[0], argv);
      _exit (127);
    }
  return pid;
}

static bool
wait_port (int port, pid_t pid)
{
  for (int i = 0; i < 200; i++)
    {
      if (port_open (port))
        return true;
      if (waitpid (pid, NULL, WNOHANG) == pid)
        return false;
      struct timespec ts = { 0, 50 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
  return false;
}

static void
stop (pid_t pid)
{
  if (pid > 0)
    {
      kill (pid, SIGTERM);
      waitpid (pid, NULL, 0);
    }
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
run_ok (const char *cmd)
{
  int st = system (cmd);
  if (st != 0)
    fail_msg ("`%s` failed with status %d", cmd, st);
}

/* skopeo copy from the fixture layout into the registry.  */
static void
push (const char *src_tag, const char *dest, const char *flags)
{
  char *cmd = xasprintf ("skopeo copy --quiet --dest-tls-verify=false %s 'oci:%s:%s' "
                         "'docker://127.0.0.1:%d/%s' >>'%s/skopeo.log' 2>&1",
                         flags, W.src, src_tag, W.port, dest, W.dir);
  run_ok (cmd);
  free (cmd);
}

/* The digest of the manifest bytes the registry serves for ref (skopeo inspect --raw).  */
static void
registry_digest (const char *ref, char out[GSI_DIGEST_BUF])
{
  char *raw = xasprintf ("%s/raw.json", W.dir);
  char *cmd = xasprintf ("skopeo inspect --raw --tls-verify=false 'docker://127.0.0.1:%d/%s' >'%s' 2>>'%s/skopeo.log'",
                         W.port, ref, raw, W.dir);
  run_ok (cmd);
  CHECK (gsi_digest_file (raw, out, NULL, CERR));
  free (cmd);
  free (raw);
}

/* One layer holding the file NAME with TEXT.  */
static void
make_layer (gsi_store *s, const char *name, const char *text, gsi_descriptor *d, char diff_id[GSI_DIGEST_BUF])
{
  char *dir = xasprintf ("%s/layer-%s", W.dir, name);
  char *file = xasprintf ("%s/%s", dir, name);
  gsi_layer_create_opts lo = GSI_LAYER_CREATE_OPTS_INIT;
  gsi_blob_info info;

  assert_int_equal (mkdir (dir, 0755), 0);
  write_file (file, text);
  lo.flags = GSI_LAYER_PLAIN_TREE;
  lo.source_date_epoch = 1700000000;
  CHECK (gsi_layer_create_blob (s, dir, &lo, GSI_COMP_GZIP, &info, NULL, CERR));
  gsi_descriptor_set_layer (d, &info, GSI_COMP_GZIP);
  strcpy (diff_id, info.diff_id);
  free (file);
  free (dir);
}

static void
commit (gsi_store *s, const char *arch, const char *variant, const gsi_descriptor *layers, char (*diff_ids)[GSI_DIGEST_BUF],
        size_t n, const char *tag, char digest[GSI_DIGEST_BUF])
{
  gsi_image_config cfg;
  gsi_descriptor out = GSI_DESCRIPTOR_INIT;

  gsi_image_config_init (&cfg);
  cfg.architecture = xstrdup (arch);
  cfg.os = xstrdup ("linux");
  cfg.variant = variant ? xstrdup (variant) : NULL;
  cfg.created = xstrdup ("2023-11-14T22:13:20Z");
  for (size_t i = 0; i < n; i++)
    {
      gsi_strvec_push (&cfg.diff_ids, diff_ids[i]);
      gsi_image_config_add_history (&cfg, cfg.created, "fixture", NULL, false);
    }
  CHECK (gsi_store_commit_image (s, &cfg, layers, n, NULL, tag, &out, CERR));
  strcpy (digest, out.digest);
  gsi_descriptor_clear (&out);
  gsi_image_config_clear (&cfg);
}

static const char *
other_arch (void)
{
  return strcmp (gsi_host_arch (), "riscv64") == 0 ? "s390x" : "riscv64";
}

/* The fixture layout: a:v1 (one layer), b:v1 (a's layer and three more), multi:v1 (an index of
 * four images for different platforms).  */
static void
make_fixtures (void)
{
  gsi_store *s = NULL;
  gsi_descriptor l[4] = { GSI_DESCRIPTOR_INIT, GSI_DESCRIPTOR_INIT, GSI_DESCRIPTOR_INIT, GSI_DESCRIPTOR_INIT };
  char ids[4][GSI_DIGEST_BUF];
  static const char *const names[] = { "one", "two", "three", "four" };
  static const char *const arches[][2] = { { NULL, NULL }, { NULL, NULL }, { "arm", "v6" }, { "arm", "v7" } };

  CHECK (gsi_store_open (W.src, &s, CERR));
  for (int i = 0; i < 4; i++)
    make_layer (s, names[i], names[i], &l[i], ids[i]);
  commit (s, gsi_host_arch (), NULL, l, ids, 1, "a:v1", W.a_digest);
  commit (s, gsi_host_arch (), NULL, l, ids, 4, "b:v1", W.b_digest);

  json_t *idx = json_pack ("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", GSI_MEDIA_OCI_INDEX, "manifests");
  for (int i = 0; i < 4; i++)
    {
      const char *arch = i == 0 ? gsi_host_arch () : i == 1 ? other_arch () : arches[i][0];
      const char *variant = arches[i][1];
      gsi_descriptor d = GSI_DESCRIPTOR_INIT;
      /* Layer i alone makes each platform's image different.  */
      commit (s, arch, variant, &l[i], &ids[i], 1, NULL, W.plat_digest[i]);
      CHECK (gsi_store_resolve (s, W.plat_digest[i], &d, CERR));
      /* The store may already know the platform (from the image's config): replace it.  */
      free (d.platform_os);
      free (d.platform_arch);
      free (d.platform_variant);
      d.platform_os = xstrdup ("linux");
      d.platform_arch = xstrdup (arch);
      d.platform_variant = variant ? xstrdup (variant) : NULL;
      json_array_append_new (json_object_get (idx, "manifests"), gsi_descriptor_to_json (&d, NULL));
      gsi_descriptor_clear (&d);
    }
  char *text = json_dumps (idx, JSON_COMPACT | JSON_SORT_KEYS);
  gsi_descriptor id = GSI_DESCRIPTOR_INIT;
  CHECK (gsi_store_put_blob (s, text, strlen (text), W.idx_digest, CERR));
  gsi_descriptor_set (&id, GSI_MEDIA_OCI_INDEX, W.idx_digest, (int64_t) strlen (text));
  CHECK (gsi_store_tag (s, "multi:v1", &id, CERR));
  gsi_descriptor_clear (&id);
  free (text);
  json_decref (idx);
  for (int i = 0; i < 4; i++)
    gsi_descriptor_clear (&l[i]);
  gsi_store_close (s);
}

static int
setup_world (void **state)
{
  (void) state;
  const char *base = getenv ("TMPDIR");
  char *conf, *log, *py, *port, *pport, *up;

  if (access ("/usr/bin/docker-registry", X_OK) != 0 || system ("command -v skopeo >/dev/null") != 0
      || system ("command -v python3 >/dev/null") != 0)
    {
      fprintf (stderr, "test_pull: docker-registry, skopeo or python3 missing: pull tests NOT RUN\n");
      return getenv ("GSI_REQUIRE_PEER_TESTS") && strcmp (getenv ("GSI_REQUIRE_PEER_TESTS"), "1") == 0 ? -1 : 0;
    }
  W.dir = xasprintf ("%s/gsi-pull-test-XXXXXX", base && *base ? base : "/tmp");
  if (mkdtemp (W.dir) == NULL)
    return -1;
  W.src = xasprintf ("%s/src", W.dir);
  W.port = free_port ();
  W.proxy_port = free_port ();
  W.dead_port = free_port ();
  W.dead_port2 = free_port ();
  if (W.port < 0 || W.proxy_port < 0 || W.dead_port < 0 || W.dead_port2 < 0 || W.port == W.proxy_port)
    return -1;

  conf = xasprintf ("%s/registry.yml", W.dir);
  char *yml = xasprintf ("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                         "storage:\n  filesystem:\n    rootdirectory: %s/storage\n"
                         "http:\n  addr: 127.0.0.1:%d\n",
                         W.dir, W.port);
  write_file (conf, yml);
  log = xasprintf ("%s/registry.log", W.dir);
  char *rargv[] = { "/usr/bin/docker-registry", "serve", conf, NULL };
  W.registry_pid = spawn (rargv, log);

  py = xasprintf ("%s/proxy.py", W.dir);
  write_file (py, proxy_py);
  port = xasprintf ("%d", W.proxy_port);
  up = xasprintf ("127.0.0.1:%d", W.port);
  pport = xasprintf ("%s/proxy.log", W.dir);
  char *pargv[] = { "python3", py, port, up, NULL };
  W.proxy_pid = spawn (pargv, pport);

  W.conf = xasprintf ("%s/registries.yaml", W.dir);
  char *regconf = xasprintf ("registries:\n"
                             "  \"127.0.0.1:%d\":\n    mirrors:\n      - \"127.0.0.1:%d\"\n      - \"127.0.0.1:%d/mirror\"\n"
                             "  \"localhost:%d\":\n    mirrors:\n      - \"127.0.0.1:%d/nothere\"\n",
                             W.dead_port, W.dead_port2, W.port, W.port, W.port);
  write_file (W.conf, regconf);

  bool ok = wait_port (W.port, W.registry_pid) && wait_port (W.proxy_port, W.proxy_pid);
  if (!ok)
    fprintf (stderr, "test_pull: registry or proxy did not start (see %s)\n", W.dir);
  free (regconf);
  free (pport);
  free (up);
  free (port);
  free (py);
  free (log);
  free (yml);
  free (conf);
  if (!ok)
    return -1;
  make_fixtures ();
  return 0;
}

static int
teardown_world (void **state)
{
  (void) state;
  stop (W.proxy_pid);
  stop (W.registry_pid);
  if (W.dir && !getenv ("GSI_KEEP_TEST_DIR"))
    rm_rf (W.dir);
  free (W.dir);
  free (W.src);
  free (W.conf);
  return 0;
}

#define NEED_WORLD()                                                                                         \
  do                                                                                                         \
    {                                                                                                        \
      if (W.dir == NULL)                                                                                     \
        skip ();                                                                                             \
    }                                                                                                        \
  while (0)

static gsi_store *
fresh_store (const char *name)
{
  char *root = xasprintf ("%s/%s", W.dir, name);
  gsi_store *s = NULL;

  rm_rf (root);
  CHECK (gsi_store_open (root, &s, CERR));
  free (root);
  return s;
}

static gsi_reg_client *
client (void)
{
  gsi_reg_client_opts o = GSI_REG_CLIENT_OPTS_INIT;
  gsi_reg_client *c = NULL;

  o.tls_verify = 0;
  o.config_path = W.conf;
  o.max_retries = 1;
  o.retry_base_ms = 20;
  o.connect_timeout_s = 5;
  CHECK (gsi_reg_client_open (&o, &c, CERR));
  return c;
}

static void
log_line (void *ctx, const char *line)
{
  gsi_buf *b = ctx;
  gsi_buf_addstr (b, line);
  gsi_buf_addch (b, '\n');
}

typedef struct pull_result
{
  int r;
  gsi_descriptor d;
  gsi_pull_stats stats;
  gsi_error err;
  gsi_buf log;
} pull_result;

static void
pull_result_clear (pull_result *p)
{
  gsi_descriptor_clear (&p->d);
  gsi_error_clear (&p->err);
  gsi_buf_release (&p->log);
}

/* Pulls ref (with "@" standing for the registry's address) into s.  */
static void
pull (gsi_store *s, const char *ref_fmt, int port, const char *platform, const char *tag_as, int jobs, pull_result *out)
{
  gsi_reg_client *c = client ();
  char *ref = xasprintf (ref_fmt, port);
  gsi_pull_opts o = { .platform = platform, .tag_as = tag_as, .jobs = jobs, .progress = log_line };

  memset (out, 0, sizeof *out);
  out->log = (gsi_buf) GSI_BUF_INIT;
  gsi_descriptor_init (&out->d);
  o.progress_ctx = &out->log;
  out->r = gsi_registry_pull (c, s, ref, &o, &out->d, &out->stats, &out->err);
  gsi_reg_client_close (c);
  free (ref);
}

static void
expect_ok (pull_result *p)
{
  if (p->r != 0)
    fail_msg ("pull failed: %s\nprogress:\n%s", p->err.msg ? p->err.msg : "(no message)", p->log.buf);
}

static void
expect_error (pull_result *p, const char *needle)
{
  if (p->r == 0)
    fail_msg ("pull succeeded, expected an error containing `%s`", needle);
  if (p->err.msg == NULL || strstr (p->err.msg, needle) == NULL)
    fail_msg ("error `%s` lacks `%s`", p->err.msg ? p->err.msg : "(none)", needle);
}

static void
expect_resolves (gsi_store *s, const char *ref_fmt, int port, const char *digest)
{
  char *ref = xasprintf (ref_fmt, port);
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  CHECK (gsi_store_resolve (s, ref, &d, CERR));
  assert_string_equal (d.digest, digest);
  gsi_descriptor_clear (&d);
  free (ref);
}

static size_t
index_entries (gsi_store *s)
{
  json_t *idx = gsi_store_load_index (s, NULL);
  size_t n;

  assert_non_null (idx);
  n = json_array_size (json_object_get (idx, "manifests"));
  json_decref (idx);
  return n;
}

static size_t
count_dir (const char *path)
{
  DIR *d = opendir (path);
  struct dirent *e;
  size_t n = 0;

  assert_non_null (d);
  while ((e = readdir (d)))
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      n++;
  closedir (d);
  return n;
}

/* Every blob the image needs is there and hashes to its name.  */
static void
expect_complete (gsi_store *s, const char *ref)
{
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_manifest m;
  gsi_image_config cfg;

  gsi_manifest_init (&m);
  gsi_image_config_init (&cfg);
  CHECK (gsi_store_load_image (s, ref, &d, &m, &cfg, CERR));
  CHECK (gsi_store_verify_blob (s, d.digest, CERR));
  CHECK (gsi_store_verify_blob (s, m.config.digest, CERR));
  for (size_t i = 0; i < m.n_layers; i++)
    CHECK (gsi_store_verify_blob (s, m.layers[i].digest, CERR));
  assert_int_equal (m.n_layers, cfg.diff_ids.n);
  gsi_image_config_clear (&cfg);
  gsi_manifest_clear (&m);
  gsi_descriptor_clear (&d);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void
test_pull_by_tag (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("by-tag");
  pull_result p;
  char reg[GSI_DIGEST_BUF];

  push ("a:v1", "test/a:v1", "");
  registry_digest ("test/a:v1", reg);
  assert_string_equal (reg, W.a_digest);

  pull (s, "127.0.0.1:%d/test/a:v1", W.port, NULL, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.a_digest);
  assert_string_equal (p.d.media_type, GSI_MEDIA_OCI_MANIFEST);
  assert_int_equal (p.stats.blobs_fetched, 2);
  assert_int_equal (p.stats.blobs_present, 0);
  assert_true (p.stats.bytes_fetched > 0);
  char *src = xasprintf ("127.0.0.1:%d", W.port);
  assert_string_equal (p.stats.source, src);
  free (src);
  assert_non_null (strstr (p.log.buf, "fetched"));
  expect_resolves (s, "127.0.0.1:%d/test/a:v1", W.port, W.a_digest);
  expect_complete (s, W.a_digest);
  assert_int_equal (index_entries (s), 1);
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);
  pull_result_clear (&p);

  /* Again: nothing to fetch, same digest.  */
  pull (s, "127.0.0.1:%d/test/a:v1", W.port, NULL, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.a_digest);
  assert_int_equal (p.stats.blobs_fetched, 0);
  assert_int_equal (p.stats.blobs_present, 2);
  assert_int_equal (p.stats.bytes_fetched, 0);
  assert_non_null (strstr (p.log.buf, "already present"));
  assert_int_equal (index_entries (s), 1);
  pull_result_clear (&p);

  /* tag_as names the store tag.  */
  pull (s, "127.0.0.1:%d/test/a:v1", W.port, NULL, "mine:1", 0, &p);
  expect_ok (&p);
  expect_resolves (s, "mine:1", 0, W.a_digest);
  assert_int_equal (index_entries (s), 2);
  pull_result_clear (&p);
  gsi_store_close (s);
}

static void
test_pull_skips_present_layers (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("present");
  pull_result p;

  push ("a:v1", "test/a:v1", "");
  push ("b:v1", "test/b:v1", "");
  pull (s, "127.0.0.1:%d/test/a:v1", W.port, NULL, NULL, 1, &p);
  expect_ok (&p);
  assert_int_equal (p.stats.blobs_fetched, 2);
  pull_result_clear (&p);

  /* b shares a's layer: its config and three layers come, three at a time.  */
  pull (s, "127.0.0.1:%d/test/b:v1", W.port, NULL, NULL, 3, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.b_digest);
  assert_int_equal (p.stats.blobs_fetched, 4);
  assert_int_equal (p.stats.blobs_present, 1);
  expect_complete (s, W.b_digest);
  pull_result_clear (&p);

  pull (s, "127.0.0.1:%d/test/b:v1", W.port, NULL, NULL, 8, &p);
  expect_ok (&p);
  assert_int_equal (p.stats.blobs_fetched, 0);
  assert_int_equal (p.stats.blobs_present, 5);
  pull_result_clear (&p);
  gsi_store_close (s);
}

static void
test_pull_by_digest (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("by-digest");
  pull_result p;
  char *fmt = xasprintf ("127.0.0.1:%%d/test/a@%s", W.a_digest);
  char *tagged = xasprintf ("127.0.0.1:%%d/test/a:v1@%s", W.a_digest);

  push ("a:v1", "test/a:v1", "");
  pull (s, fmt, W.port, NULL, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.a_digest);
  assert_int_equal (index_entries (s), 0); /* digest-only: no tag */
  expect_complete (s, W.a_digest);
  pull_result_clear (&p);

  /* Tag and digest: the tag is set, the digest decides what is fetched.  */
  pull (s, tagged, W.port, NULL, NULL, 0, &p);
  expect_ok (&p);
  expect_resolves (s, "127.0.0.1:%d/test/a:v1", W.port, W.a_digest);
  pull_result_clear (&p);

  /* A digest the registry does not have.  */
  pull (s, "127.0.0.1:%d/test/a@sha256:0000000000000000000000000000000000000000000000000000000000000000", W.port, NULL,
        NULL, 0, &p);
  expect_error (&p, "404");
  pull_result_clear (&p);

  pull (s, "127.0.0.1:%d/test/nosuch:v1", W.port, NULL, NULL, 0, &p);
  expect_error (&p, "404");
  pull_result_clear (&p);

  pull (s, "127.0.0.1:%d/Test/Bad:v1", W.port, NULL, NULL, 0, &p);
  expect_error (&p, "invalid reference");
  pull_result_clear (&p);
  free (tagged);
  free (fmt);
  gsi_store_close (s);
}

static void
test_pull_index_platforms (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("index");
  pull_result p;
  char reg[GSI_DIGEST_BUF];
  static const struct
  {
    const char *platform;
    int want;
  } cases[] = {
    { NULL, 0 }, { "linux/arm/v7", 3 }, { "linux/arm/v6", 2 }, { "linux/arm", 2 },
  };

  push ("multi:v1", "test/multi:v1", "--all");
  registry_digest ("test/multi:v1", reg);
  assert_string_equal (reg, W.idx_digest);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      pull (s, "127.0.0.1:%d/test/multi:v1", W.port, cases[i].platform, NULL, 0, &p);
      expect_ok (&p);
      assert_string_equal (p.d.digest, W.plat_digest[cases[i].want]);
      assert_string_equal (p.d.media_type, GSI_MEDIA_OCI_MANIFEST);
      /* The tag names the platform's image, not the index.  */
      expect_resolves (s, "127.0.0.1:%d/test/multi:v1", W.port, W.plat_digest[cases[i].want]);
      assert_false (gsi_store_has_blob (s, W.idx_digest));
      pull_result_clear (&p);
    }
  char *plat = xasprintf ("linux/%s", other_arch ());
  pull (s, "127.0.0.1:%d/test/multi:v1", W.port, plat, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.plat_digest[1]);
  expect_complete (s, W.plat_digest[1]);
  pull_result_clear (&p);
  free (plat);

  pull (s, "127.0.0.1:%d/test/multi:v1", W.port, "linux/mips64le", NULL, 0, &p);
  char *msg = xasprintf ("index %s has no image for linux/mips64le (available: linux/%s, linux/%s, linux/arm/v6, "
                         "linux/arm/v7)",
                         W.idx_digest, gsi_host_arch (), other_arch ());
  expect_error (&p, msg);
  free (msg);
  pull_result_clear (&p);

  pull (s, "127.0.0.1:%d/test/multi:v1", W.port, "linux/arm/v8", NULL, 0, &p);
  expect_error (&p, "no image for linux/arm/v8");
  pull_result_clear (&p);

  pull (s, "127.0.0.1:%d/test/multi:v1", W.port, "linux", NULL, 0, &p);
  expect_error (&p, "invalid platform `linux`");
  pull_result_clear (&p);
  gsi_store_close (s);
}

static void
test_pull_docker_types (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("docker");
  pull_result p;
  char reg[GSI_DIGEST_BUF];
  gsi_manifest m;
  gsi_image_config cfg;

  push ("b:v1", "test/docker:v1", "--format v2s2");
  registry_digest ("test/docker:v1", reg);
  assert_string_not_equal (reg, W.b_digest);
  pull (s, "127.0.0.1:%d/test/docker:v1", W.port, NULL, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, reg);
  assert_string_equal (p.d.media_type, GSI_MEDIA_DOCKER_MANIFEST);
  pull_result_clear (&p);

  /* Stored as served: the Docker manifest and config load as an image.  */
  gsi_manifest_init (&m);
  gsi_image_config_init (&cfg);
  char *ref = xasprintf ("127.0.0.1:%d/test/docker:v1", W.port);
  CHECK (gsi_store_load_image (s, ref, NULL, &m, &cfg, CERR));
  assert_string_equal (m.media_type, GSI_MEDIA_DOCKER_MANIFEST);
  assert_string_equal (m.config.media_type, GSI_MEDIA_DOCKER_CONFIG);
  assert_string_equal (m.layers[0].media_type, GSI_MEDIA_DOCKER_LAYER_GZIP);
  assert_int_equal (m.n_layers, 4);
  assert_string_equal (cfg.architecture, gsi_host_arch ());
  expect_complete (s, ref);
  free (ref);
  gsi_image_config_clear (&cfg);
  gsi_manifest_clear (&m);

  /* A Docker manifest list.  */
  push ("multi:v1", "test/dlist:v1", "--all --format v2s2");
  char *raw = xasprintf ("skopeo inspect --raw --tls-verify=false docker://127.0.0.1:%d/test/dlist:v1 | "
                         "grep -q '\"application/vnd.docker.distribution.manifest.list.v2+json\"'",
                         W.port);
  run_ok (raw);
  free (raw);
  pull (s, "127.0.0.1:%d/test/dlist:v1", W.port, "linux/arm/v7", NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.media_type, GSI_MEDIA_DOCKER_MANIFEST);
  assert_non_null (strstr (p.log.buf, "linux/arm/v7 is"));
  expect_complete (s, p.d.digest);
  pull_result_clear (&p);
  gsi_store_close (s);
}

static void
test_pull_corrupt_blob (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("corrupt");
  pull_result p;
  gsi_descriptor cfgd = GSI_DESCRIPTOR_INIT;
  gsi_manifest m;
  gsi_store *src = NULL;

  CHECK (gsi_store_open (W.src, &src, CERR));
  gsi_manifest_init (&m);
  CHECK (gsi_store_load_image (src, "a:v1", &cfgd, &m, NULL, CERR));
  gsi_store_close (src);

  push ("a:v1", "test/corrupt/a:v1", "");
  /* One at a time: the config comes first and is the blob the error names.  */
  pull (s, "127.0.0.1:%d/test/corrupt/a:v1", W.proxy_port, NULL, NULL, 1, &p);
  char *what = xasprintf ("blob %s from http://127.0.0.1:%d/v2/test/corrupt/a/blobs/%s: digest mismatch (got sha256:",
                          m.config.digest, W.proxy_port, m.config.digest);
  expect_error (&p, what);
  free (what);
  pull_result_clear (&p);
  /* Nothing unverified stayed: no blob, no temp file, no tag.  */
  assert_false (gsi_store_has_blob (s, m.layers[0].digest));
  assert_false (gsi_store_has_blob (s, m.config.digest));
  assert_false (gsi_store_has_blob (s, W.a_digest));
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);
  assert_int_equal (index_entries (s), 0);

  push ("a:v1", "test/short/a:v1", "");
  pull (s, "127.0.0.1:%d/test/short/a:v1", W.proxy_port, NULL, NULL, 0, &p);
  expect_error (&p, "size mismatch (got ");
  pull_result_clear (&p);
  assert_false (gsi_store_has_blob (s, m.layers[0].digest));
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);

  /* The manifest is checked too.  */
  push ("a:v1", "test/badmanifest/a:v1", "");
  pull (s, "127.0.0.1:%d/test/badmanifest/a:v1", W.proxy_port, NULL, NULL, 0, &p);
  char *md = xasprintf ("digest mismatch (Docker-Content-Digest %s, got sha256:", W.a_digest);
  expect_error (&p, md);
  free (md);
  pull_result_clear (&p);
  char *bydigest = xasprintf ("127.0.0.1:%%d/test/badmanifest/a@%s", W.a_digest);
  pull (s, bydigest, W.proxy_port, NULL, NULL, 0, &p);
  expect_error (&p, "digest mismatch (got sha256:");
  pull_result_clear (&p);
  free (bydigest);
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);

  /* Blobs answered by a redirect are followed.  */
  push ("a:v1", "test/redirect/a:v1", "");
  pull (s, "127.0.0.1:%d/test/redirect/a:v1", W.proxy_port, NULL, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.a_digest);
  assert_int_equal (p.stats.blobs_fetched, 2);
  expect_complete (s, W.a_digest);
  pull_result_clear (&p);

  gsi_manifest_clear (&m);
  gsi_descriptor_clear (&cfgd);
  gsi_store_close (s);
}

static void
test_pull_schema1_refused (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("schema1");
  pull_result p;

  pull (s, "127.0.0.1:%d/schema1/x:v1", W.proxy_port, NULL, NULL, 0, &p);
  expect_error (&p, "Docker schema 1 manifest (application/vnd.docker.distribution.manifest.v1+prettyjws) is not "
                    "supported");
  assert_int_equal (index_entries (s), 0);
  pull_result_clear (&p);
  gsi_store_close (s);
}

static void
test_pull_mirrors (void **state)
{
  (void) state;
  NEED_WORLD ();
  gsi_store *s = fresh_store ("mirrors");
  pull_result p;
  char *want;

  /* 127.0.0.1:DEAD is down; its first mirror is down too; the second has the image under mirror/.  */
  push ("a:v1", "mirror/test/a:v1", "");
  pull (s, "127.0.0.1:%d/test/a:v1", W.dead_port, NULL, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.a_digest);
  want = xasprintf ("127.0.0.1:%d/mirror", W.port);
  assert_string_equal (p.stats.source, want);
  free (want);
  want = xasprintf ("mirror 127.0.0.1:%d failed: ", W.dead_port2);
  assert_non_null (strstr (p.log.buf, want));
  free (want);
  expect_resolves (s, "127.0.0.1:%d/test/a:v1", W.dead_port, W.a_digest);
  expect_complete (s, W.a_digest);
  pull_result_clear (&p);

  /* A mirror without the image: the registry itself serves it.  */
  push ("b:v1", "test/b:v1", "");
  pull (s, "localhost:%d/test/b:v1", W.port, NULL, NULL, 0, &p);
  expect_ok (&p);
  assert_string_equal (p.d.digest, W.b_digest);
  want = xasprintf ("localhost:%d", W.port);
  assert_string_equal (p.stats.source, want);
  free (want);
  want = xasprintf ("mirror 127.0.0.1:%d/nothere failed: ", W.port);
  assert_non_null (strstr (p.log.buf, want));
  free (want);
  assert_int_equal (p.stats.blobs_present, 1);
  pull_result_clear (&p);

  /* Everything down: the registry's own error is the one reported.  */
  pull (s, "127.0.0.1:%d/test/other:v1", W.dead_port, NULL, NULL, 0, &p);
  assert_int_not_equal (p.r, 0);
  want = xasprintf ("127.0.0.1:%d", W.dead_port);
  assert_non_null (strstr (p.err.msg, want));
  free (want);
  pull_result_clear (&p);
  gsi_store_close (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_pull_by_tag),
    cmocka_unit_test (test_pull_skips_present_layers),
    cmocka_unit_test (test_pull_by_digest),
    cmocka_unit_test (test_pull_index_platforms),
    cmocka_unit_test (test_pull_docker_types),
    cmocka_unit_test (test_pull_corrupt_blob),
    cmocka_unit_test (test_pull_schema1_refused),
    cmocka_unit_test (test_pull_mirrors),
  };
  return cmocka_run_group_tests (tests, setup_world, teardown_world);
}
