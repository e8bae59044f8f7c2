/* Registry credentials and WWW-Authenticate challenges (registry/auth.h): the lookup order over the
 * podman and docker files, base64 "auth" entries, Docker Hub's historic key, credential helpers (a
 * fake docker-credential-fake script put on PATH), store/erase keeping the rest of the file with
 * mode 0600, and the challenge parser.  Each test has its own temp HOME and environment.  */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/auth.h"
#include "util/xalloc.h"

typedef struct fixture
{
  char dir[64];
  char *home, *bin, *log, *old_path;
} fixture;

static void
run_sh (const char *cmd)
{
  assert_int_equal (system (cmd), 0);
}

static void
mkdir_p (const char *path)
{
  char *cmd = xasprintf ("mkdir -p '%s'", path);
  run_sh (cmd);
  free (cmd);
}

/* Writes text to dir/name (parents made); returns the path (malloc'd).  */
static char *
put (const char *dir, const char *name, const char *text)
{
  char *p = xasprintf ("%s/%s", dir, name);
  char *parent = xstrdup (p);
  FILE *fp;

  *strrchr (parent, '/') = '\0';
  mkdir_p (parent);
  free (parent);
  fp = fopen (p, "w");
  assert_non_null (fp);
  fputs (text, fp);
  fclose (fp);
  return p;
}

/* The fake credential helper: logs "ACTION URL" per call, answers per server URL.  */
static const char fake_helper[]
    = "#!/bin/sh\n"
      "read -r url || true\n"
      "echo \"$1 $url\" >> \"$FAKE_HELPER_LOG\"\n"
      "case \"$url\" in\n"
      "  helped.example) printf '{\"ServerURL\":\"%s\",\"Username\":\"hu\",\"Secret\":\"hs\"}' \"$url\" ;;\n"
      "  https://index.docker.io/v1/) printf '{\"Username\":\"hubuser\",\"Secret\":\"hubsecret\"}' ;;\n"
      "  token.example) printf '{\"Username\":\"<token>\",\"Secret\":\"refresh-123\"}' ;;\n"
      "  broken.example) echo boom; exit 3 ;;\n"
      "  garbage.example) echo 'not json' ;;\n"
      "  *) echo 'credentials not found in native keychain'; exit 1 ;;\n"
      "esac\n";

static int
setup (void **state)
{
  fixture *f = xcalloc (1, sizeof *f);
  const char *path = getenv ("PATH");
  char *p, *newpath;

  strcpy (f->dir, "/tmp/gsi-regauth-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  f->home = xasprintf ("%s/home", f->dir);
  f->bin = xasprintf ("%s/bin", f->dir);
  f->log = xasprintf ("%s/helper.log", f->dir);
  mkdir (f->home, 0700);
  mkdir (f->bin, 0755);
  p = put (f->bin, "docker-credential-fake", fake_helper);
  chmod (p, 0755);
  free (p);
  /* Nothing of the machine's own credentials may leak into a test.  */
  unsetenv ("REGISTRY_AUTH_FILE");
  unsetenv ("DOCKER_CONFIG");
  unsetenv ("XDG_RUNTIME_DIR");
  setenv ("HOME", f->home, 1);
  setenv ("FAKE_HELPER_LOG", f->log, 1);
  f->old_path = xstrdup (path ? path : "/usr/bin:/bin");
  newpath = xasprintf ("%s:%s", f->bin, f->old_path);
  setenv ("PATH", newpath, 1);
  free (newpath);
  umask (022);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture *f = *state;
  char *cmd = xasprintf ("rm -rf '%s'", f->dir);
  int r = system (cmd);

  setenv ("PATH", f->old_path, 1);
  free (cmd);
  free (f->home);
  free (f->bin);
  free (f->log);
  free (f->old_path);
  free (f);
  return r == 0 ? 0 : -1;
}

/* {"auths":{"DOMAIN":{"auth":base64(USER:PASS)}}} with the encoding done by base64(1), so the
 * decoder is checked against another implementation.  */
static char *
auths_json (const char *domain, const char *user, const char *pass)
{
  char *cmd = xasprintf ("printf '%%s:%%s' '%s' '%s' | base64 -w0", user, pass);
  FILE *p = popen (cmd, "r");
  char enc[512] = "";

  assert_non_null (p);
  assert_non_null (fgets (enc, sizeof enc, p));
  assert_int_equal (pclose (p), 0);
  free (cmd);
  return xasprintf ("{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}\n", domain, enc);
}

static void
put_auths (const char *dir, const char *name, const char *domain, const char *user, const char *pass)
{
  char *text = auths_json (domain, user, pass);
  free (put (dir, name, text));
  free (text);
}

/* Looks domain up and checks user, password and source (NULL user: none found).  */
static void
expect_creds (const char *authfile, const char *domain, const char *user, const char *pass, const char *source)
{
  gsi_credentials c = GSI_CREDENTIALS_INIT;
  gsi_error err = GSI_ERROR_INIT;

  if (gsi_credentials_lookup (authfile, domain, &c, &err) < 0)
    fail_msg ("lookup %s: %s", domain, err.msg);
  if (user == NULL)
    {
      assert_null (c.username);
      assert_null (c.password);
      assert_null (c.source);
      return;
    }
  assert_non_null (c.username);
  assert_string_equal (c.username, user);
  assert_string_equal (c.password, pass);
  assert_string_equal (c.source, source);
  gsi_credentials_clear (&c);
  assert_null (c.username);
}

/* The lookup fails and the message is exactly want.  */
static void
expect_lookup_error (const char *authfile, const char *domain, const char *want)
{
  gsi_credentials c = GSI_CREDENTIALS_INIT;
  gsi_error err = GSI_ERROR_INIT;

  assert_int_equal (gsi_credentials_lookup (authfile, domain, &c, &err), -1);
  assert_non_null (err.msg);
  assert_string_equal (err.msg, want);
  assert_null (c.username);
  assert_null (c.password);
  gsi_error_clear (&err);
}

static char *
slurp (const char *path)
{
  char *s = test_read_file (path, NULL);
  if (s == NULL)
    fail_msg ("read %s", path);
  return s;
}

static unsigned
file_mode (const char *path)
{
  struct stat st;

  assert_int_equal (stat (path, &st), 0);
  return st.st_mode & 07777;
}

/* Runs jq FILTER over path and returns its raw output without the newline (malloc'd).  */
static char *
jq (const char *path, const char *filter)
{
  char *cmd = xasprintf ("jq -r '%s' '%s'", filter, path);
  FILE *p = popen (cmd, "r");
  char buf[1024] = "";
  size_t n;

  assert_non_null (p);
  n = fread (buf, 1, sizeof buf - 1, p);
  buf[n] = '\0';
  assert_int_equal (pclose (p), 0);
  free (cmd);
  if (n && buf[n - 1] == '\n')
    buf[n - 1] = '\0';
  return xstrdup (buf);
}

static void
expect_jq (const char *path, const char *filter, const char *want)
{
  char *got = jq (path, filter);
  if (strcmp (got, want) != 0)
    fail_msg ("jq '%s' %s: got `%s`, want `%s`", filter, path, got, want);
  free (got);
}

/* ---- lookup order ------------------------------------------------------------------------------ */

static void
test_lookup_order (void **state)
{
  fixture *f = *state;
  const char *d = "reg.example:5000";
  char *explicit_p = xasprintf ("%s/explicit.json", f->dir);
  char *env_p = xasprintf ("%s/env.json", f->dir);
  char *xdg = xasprintf ("%s/run", f->dir);
  char *xdg_p = xasprintf ("%s/containers/auth.json", xdg);
  char *podman_p = xasprintf ("%s/.config/containers/auth.json", f->home);
  char *dc = xasprintf ("%s/dockercfg", f->dir);
  char *dc_p = xasprintf ("%s/config.json", dc);
  char *home_docker_p = xasprintf ("%s/.docker/config.json", f->home);

  put_auths (f->dir, "explicit.json", d, "u-explicit", "p1");
  put_auths (f->dir, "env.json", d, "u-env", "p2");
  put_auths (xdg, "containers/auth.json", d, "u-xdg", "p3");
  put_auths (f->home, ".config/containers/auth.json", d, "u-podman", "p4");
  put_auths (dc, "config.json", d, "u-dockercfg", "p5");
  put_auths (f->home, ".docker/config.json", d, "u-homedocker", "p6");
  setenv ("REGISTRY_AUTH_FILE", env_p, 1);
  setenv ("XDG_RUNTIME_DIR", xdg, 1);
  setenv ("DOCKER_CONFIG", dc, 1);

  /* --authfile beats $REGISTRY_AUTH_FILE, which beats the rest.  */
  expect_creds (explicit_p, d, "u-explicit", "p1", explicit_p);
  expect_creds (NULL, d, "u-env", "p2", env_p);
  expect_creds ("", d, "u-env", "p2", env_p);
  unsetenv ("REGISTRY_AUTH_FILE");
  expect_creds (NULL, d, "u-xdg", "p3", xdg_p);
  unlink (xdg_p);
  expect_creds (NULL, d, "u-podman", "p4", podman_p);
  unlink (podman_p);
  /* $DOCKER_CONFIG replaces ~/.docker: the home file is not read while it is set.  */
  expect_creds (NULL, d, "u-dockercfg", "p5", dc_p);
  unlink (dc_p);
  expect_creds (NULL, d, NULL, NULL, NULL);
  unsetenv ("DOCKER_CONFIG");
  expect_creds (NULL, d, "u-homedocker", "p6", home_docker_p);
  unlink (home_docker_p);
  expect_creds (NULL, d, NULL, NULL, NULL);

  free (explicit_p);
  free (env_p);
  free (xdg);
  free (xdg_p);
  free (podman_p);
  free (dc);
  free (dc_p);
  free (home_docker_p);
}

/* A file that does not know the domain passes the lookup on; the first that does wins, even over
 * a later file with other credentials.  */
static void
test_lookup_falls_through (void **state)
{
  fixture *f = *state;
  char *explicit_p = xasprintf ("%s/explicit.json", f->dir);
  char *podman_p = xasprintf ("%s/.config/containers/auth.json", f->home);
  char *missing = xasprintf ("%s/no/such/file.json", f->dir);

  put_auths (f->dir, "explicit.json", "other.example", "x", "y");
  put_auths (f->home, ".config/containers/auth.json", "reg.example", "podman", "pw");
  put_auths (f->home, ".docker/config.json", "reg.example", "docker", "pw2");
  expect_creds (explicit_p, "reg.example", "podman", "pw", podman_p);
  expect_creds (explicit_p, "other.example", "x", "y", explicit_p);
  /* A missing explicit file is no error: the lookup goes on.  */
  expect_creds (missing, "reg.example", "podman", "pw", podman_p);
  /* Empty files and files without "auths" know nothing.  */
  free (put (f->dir, "explicit.json", ""));
  expect_creds (explicit_p, "reg.example", "podman", "pw", podman_p);
  free (put (f->dir, "explicit.json", "{\"psFormat\":\"x\"}"));
  expect_creds (explicit_p, "reg.example", "podman", "pw", podman_p);
  free (explicit_p);
  free (podman_p);
  free (missing);
}

/* ---- auths entries ----------------------------------------------------------------------------- */

static void
test_auths_base64 (void **state)
{
  fixture *f = *state;
  char *p = xasprintf ("%s/a.json", f->dir);

  /* Only the first colon splits: passwords may hold colons.  */
  put_auths (f->dir, "a.json", "reg.example", "user", "pa:ss:word");
  expect_creds (p, "reg.example", "user", "pa:ss:word", p);
  /* "user:pw" is dXNlcjpwdw== ; padding is optional.  */
  free (put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"auth\":\"dXNlcjpwdw\"}}}"));
  expect_creds (p, "reg.example", "user", "pw", p);
  free (put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"auth\":\"dXNlcjpwdw==\"}}}"));
  expect_creds (p, "reg.example", "user", "pw", p);
  /* An empty password is a password.  */
  put_auths (f->dir, "a.json", "reg.example", "user", "");
  expect_creds (p, "reg.example", "user", "", p);
  /* Keys are matched by host: a scheme and a path are ignored, the port is not.  */
  free (put (f->dir, "a.json", "{\"auths\":{\"https://reg.example/v2/\":{\"auth\":\"dXNlcjpwdw==\"}}}"));
  expect_creds (p, "reg.example", "user", "pw", p);
  expect_creds (p, "reg.example:5000", NULL, NULL, NULL);
  free (p);
}

static void
test_auths_bad (void **state)
{
  fixture *f = *state;
  char *p = xasprintf ("%s/a.json", f->dir);
  char *want;

  want = xasprintf ("`%s`: auths[\"reg.example\"].auth is not base64 of user:password", p);
  free (put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"auth\":\"!!!not-base64\"}}}"));
  expect_lookup_error (p, "reg.example", want);
  /* Whitespace inside is not base64 either.  */
  free (put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"auth\":\"dXNl cjpwdw==\"}}}"));
  expect_lookup_error (p, "reg.example", want);
  /* Valid base64 without a colon: "nocolon".  */
  free (put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"auth\":\"bm9jb2xvbg==\"}}}"));
  expect_lookup_error (p, "reg.example", want);
  /* Bits left over after the last byte: "dXNlcjpwdx==" is not canonical.  */
  free (put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"auth\":\"dXNlcjpwdx==\"}}}"));
  expect_lookup_error (p, "reg.example", want);
  /* A length that no encoding has.  */
  free (put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"auth\":\"dXNlc\"}}}"));
  expect_lookup_error (p, "reg.example", want);
  free (want);

  /* The entry of another domain does not matter.  */
  expect_creds (p, "other.example", NULL, NULL, NULL);

  free (put (f->dir, "a.json", "{\"auths\": {\n  \"reg.example\": }\n"));
  want = xasprintf ("%s:2:18: invalid JSON: unexpected token near '}'", p);
  expect_lookup_error (p, "reg.example", want);
  free (want);
  free (put (f->dir, "a.json", "[1, 2]"));
  want = xasprintf ("`%s`: not a JSON object", p);
  expect_lookup_error (p, "reg.example", want);
  free (want);
  free (p);
}

static void
test_identity_token (void **state)
{
  fixture *f = *state;
  char *p = put (f->dir, "a.json", "{\"auths\":{\"reg.example\":{\"identitytoken\":\"refresh-abc\"}}}");
  gsi_credentials c = GSI_CREDENTIALS_INIT;
  gsi_error err = GSI_ERROR_INIT;

  assert_int_equal (gsi_credentials_lookup (p, "reg.example", &c, &err), 0);
  assert_string_equal (c.username, "<token>");
  assert_string_equal (c.password, "");
  assert_string_equal (c.identity_token, "refresh-abc");
  gsi_credentials_clear (&c);
  free (p);
}

static void
test_docker_hub_key (void **state)
{
  fixture *f = *state;
  char *p = xasprintf ("%s/.docker/config.json", f->home);

  put_auths (f->home, ".docker/config.json", "https://index.docker.io/v1/", "hub", "secret");
  expect_creds (NULL, "docker.io", "hub", "secret", p);
  expect_creds (NULL, "index.docker.io", "hub", "secret", p);
  expect_creds (NULL, "registry-1.docker.io", "hub", "secret", p);
  /* The historic key is Docker Hub's only.  */
  expect_creds (NULL, "index.docker.io.example", NULL, NULL, NULL);
  /* The short key counts too.  */
  put_auths (f->home, ".docker/config.json", "docker.io", "hub2", "secret2");
  expect_creds (NULL, "docker.io", "hub2", "secret2", p);
  free (p);
}

/* ---- credential helpers ------------------------------------------------------------------------ */

static void
test_cred_helpers (void **state)
{
  fixture *f = *state;
  char *p = put (f->dir, "a.json",
                 "{\"credHelpers\":{\"helped.example\":\"fake\",\"unknown.example\":\"fake\","
                 "\"broken.example\":\"fake\",\"garbage.example\":\"fake\",\"missing.example\":\"nosuch\"},"
                 "\"auths\":{\"helped.example\":{\"auth\":\"YTpi\"},\"unknown.example\":{\"auth\":\"YTpi\"},"
                 "\"other.example\":{\"auth\":\"bzpw\"}}}");
  char *log;

  /* credHelpers wins over auths for its domain.  */
  expect_creds (p, "helped.example", "hu", "hs", "docker-credential-fake");
  /* "credentials not found": the lookup goes on to auths ("a:b").  */
  expect_creds (p, "unknown.example", "a", "b", p);
  /* A domain without a helper is not sent to one.  */
  expect_creds (p, "other.example", "o", "p", p);
  log = slurp (f->log);
  assert_string_equal (log, "get helped.example\nget unknown.example\n");
  free (log);

  expect_lookup_error (p, "broken.example", "credential helper docker-credential-fake failed (exit status 3): boom");
  expect_lookup_error (p, "garbage.example",
                       "credential helper docker-credential-fake: answer is not {\"Username\",\"Secret\"}");
  expect_lookup_error (p, "missing.example", "run credential helper `docker-credential-nosuch`: No such file or directory");
  free (p);
}

static void
test_creds_store (void **state)
{
  fixture *f = *state;
  char *p = xasprintf ("%s/.docker/config.json", f->home);
  gsi_credentials c = GSI_CREDENTIALS_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *log;

  free (put (f->home, ".docker/config.json", "{\"credsStore\":\"fake\",\"auths\":{\"other.example\":{\"auth\":\"bzpw\"}}}"));
  expect_creds (NULL, "helped.example", "hu", "hs", "docker-credential-fake");
  /* Docker Hub goes to the helper under its historic URL.  */
  expect_creds (NULL, "docker.io", "hubuser", "hubsecret", "docker-credential-fake");
  /* Not in the store: auths of the same file.  */
  expect_creds (NULL, "other.example", "o", "p", p);
  /* Neither: none, and no error.  */
  expect_creds (NULL, "nowhere.example", NULL, NULL, NULL);
  log = slurp (f->log);
  assert_string_equal (log, "get helped.example\nget https://index.docker.io/v1/\nget other.example\nget nowhere.example\n");
  free (log);

  /* Docker's convention: the user "<token>" makes Secret an identity token.  */
  assert_int_equal (gsi_credentials_lookup (NULL, "token.example", &c, &err), 0);
  assert_string_equal (c.username, "<token>");
  assert_string_equal (c.password, "");
  assert_string_equal (c.identity_token, "refresh-123");
  assert_string_equal (c.source, "docker-credential-fake");
  gsi_credentials_clear (&c);
  free (p);
}

/* ---- store and erase --------------------------------------------------------------------------- */

static void
test_store_keeps_other_keys (void **state)
{
  fixture *f = *state;
  char *p = put (f->home, ".docker/config.json",
                 "{\"auths\":{\"other.example:5000\":{\"auth\":\"YTpi\",\"email\":\"e@x\"}},\"psFormat\":\"keep\","
                 "\"credHelpers\":{\"gcr.io\":\"gcloud\"}}");
  char *written = NULL;
  gsi_error err = GSI_ERROR_INIT;

  chmod (p, 0644);
  if (gsi_credentials_store (NULL, "reg.example", "user", "pa:ss", &written, &err) < 0)
    fail_msg ("store: %s", err.msg);
  assert_string_equal (written, p);
  assert_int_equal (file_mode (p), 0600);
  /* base64("user:pa:ss") */
  expect_jq (p, ".auths[\"reg.example\"].auth", "dXNlcjpwYTpzcw==");
  expect_jq (p, ".auths[\"other.example:5000\"].auth", "YTpi");
  expect_jq (p, ".auths[\"other.example:5000\"].email", "e@x");
  expect_jq (p, ".psFormat", "keep");
  expect_jq (p, ".credHelpers[\"gcr.io\"]", "gcloud");
  expect_jq (p, "keys | join(\",\")", "auths,credHelpers,psFormat");
  expect_creds (NULL, "reg.example", "user", "pa:ss", p);
  /* No temp file is left beside it.  */
  {
    char *cmd = xasprintf ("test \"$(ls -A '%s/.docker')\" = config.json", f->home);
    run_sh (cmd);
    free (cmd);
  }
  free (written);
  written = NULL;

  /* Storing again replaces the entry (and drops an identity token it had).  */
  free (put (f->home, ".docker/config.json",
             "{\"auths\":{\"https://reg.example/\":{\"auth\":\"YTpi\",\"identitytoken\":\"old\"}}}"));
  if (gsi_credentials_store (NULL, "reg.example", "user2", "pw2", NULL, &err) < 0)
    fail_msg ("store: %s", err.msg);
  expect_jq (p, ".auths | keys | join(\",\")", "reg.example");
  expect_jq (p, ".auths[\"reg.example\"] | keys | join(\",\")", "auth");
  expect_creds (NULL, "reg.example", "user2", "pw2", p);

  /* A file written by the store has no group or other bits whatever the umask.  */
  umask (0);
  unlink (p);
  if (gsi_credentials_store (NULL, "reg.example", "u", "p", NULL, &err) < 0)
    fail_msg ("store: %s", err.msg);
  assert_int_equal (file_mode (p), 0600);
  umask (022);
  free (p);
}

static void
test_store_where (void **state)
{
  fixture *f = *state;
  char *explicit_p = xasprintf ("%s/deep/er/auth.json", f->dir);
  char *env_p = xasprintf ("%s/env.json", f->dir);
  char *dc = xasprintf ("%s/dc", f->dir);
  char *dc_p = xasprintf ("%s/config.json", dc);
  char *written = NULL;
  gsi_error err = GSI_ERROR_INIT;

  /* Explicit: parents are made, 0700.  */
  assert_int_equal (gsi_credentials_store (explicit_p, "a.example", "u", "p", &written, &err), 0);
  assert_string_equal (written, explicit_p);
  assert_int_equal (file_mode (explicit_p), 0600);
  {
    char *parent = xasprintf ("%s/deep/er", f->dir);
    assert_int_equal (file_mode (parent), 0700);
    free (parent);
  }
  free (written);
  setenv ("REGISTRY_AUTH_FILE", env_p, 1);
  assert_int_equal (gsi_credentials_store (NULL, "b.example", "u", "p", &written, &err), 0);
  assert_string_equal (written, env_p);
  free (written);
  unsetenv ("REGISTRY_AUTH_FILE");
  setenv ("DOCKER_CONFIG", dc, 1);
  assert_int_equal (gsi_credentials_store (NULL, "c.example", "u", "p", &written, &err), 0);
  assert_string_equal (written, dc_p);
  free (written);
  unsetenv ("DOCKER_CONFIG");

  /* Docker Hub is stored under the key docker reads.  */
  assert_int_equal (gsi_credentials_store (explicit_p, "docker.io", "hub", "pw", NULL, &err), 0);
  expect_jq (explicit_p, ".auths | keys | join(\",\")", "a.example,https://index.docker.io/v1/");

  /* A symlinked auth file stays a symlink: its target is replaced.  */
  {
    char *link = xasprintf ("%s/link.json", f->dir);
    assert_int_equal (symlink (explicit_p, link), 0);
    assert_int_equal (gsi_credentials_store (link, "d.example", "u", "p", NULL, &err), 0);
    struct stat st;
    assert_int_equal (lstat (link, &st), 0);
    assert_true (S_ISLNK (st.st_mode));
    expect_jq (explicit_p, ".auths | keys | join(\",\")", "a.example,d.example,https://index.docker.io/v1/");
    free (link);
  }

  assert_int_equal (gsi_credentials_store (explicit_p, "e.example", "us:er", "p", NULL, &err), -1);
  assert_string_equal (err.msg, "invalid user name for e.example: Invalid argument");
  gsi_error_clear (&err);
  assert_int_equal (gsi_credentials_store (explicit_p, "e.example", "", "p", NULL, &err), -1);
  gsi_error_clear (&err);

  /* A file that is not JSON is not overwritten.  */
  free (put (f->dir, "bad.json", "{not json"));
  {
    char *bad = xasprintf ("%s/bad.json", f->dir);
    char *text;
    assert_int_equal (gsi_credentials_store (bad, "e.example", "u", "p", NULL, &err), -1);
    gsi_error_clear (&err);
    text = slurp (bad);
    assert_string_equal (text, "{not json");
    free (text);
    free (bad);
  }
  free (explicit_p);
  free (env_p);
  free (dc);
  free (dc_p);
}

static void
test_erase (void **state)
{
  fixture *f = *state;
  char *p = put (f->dir, "a.json",
                 "{\"auths\":{\"reg.example\":{\"auth\":\"YTpi\"},\"https://reg.example/v1/\":{\"auth\":\"YTpi\"},"
                 "\"keep.example\":{\"auth\":\"bzpw\"}},\"psFormat\":\"keep\"}");
  char *path = NULL, *missing = xasprintf ("%s/missing.json", f->dir);
  gsi_error err = GSI_ERROR_INIT;
  bool removed = false;

  chmod (p, 0640);
  assert_int_equal (gsi_credentials_erase (p, "reg.example", &removed, &path, &err), 0);
  assert_true (removed);
  assert_string_equal (path, p);
  free (path);
  /* Every key naming the host goes; the rest stays.  */
  expect_jq (p, ".auths | keys | join(\",\")", "keep.example");
  expect_jq (p, ".psFormat", "keep");
  assert_int_equal (file_mode (p), 0600);

  assert_int_equal (gsi_credentials_erase (p, "reg.example", &removed, &path, &err), 0);
  assert_false (removed);
  assert_string_equal (path, p);
  free (path);

  /* All of them (logout --all).  */
  assert_int_equal (gsi_credentials_erase (p, NULL, &removed, NULL, &err), 0);
  assert_true (removed);
  expect_jq (p, ".auths | length", "0");
  expect_jq (p, ".psFormat", "keep");

  /* A missing file: nothing removed, nothing created.  */
  assert_int_equal (gsi_credentials_erase (missing, "reg.example", &removed, &path, &err), 0);
  assert_false (removed);
  assert_string_equal (path, missing);
  free (path);
  assert_int_equal (access (missing, F_OK), -1);
  assert_int_equal (errno, ENOENT);
  free (missing);
  free (p);
}

/* ---- WWW-Authenticate -------------------------------------------------------------------------- */

static void
expect_challenge (const char *header, const char *scheme, const char *realm, const char *service, const char *scope,
                  const char *error)
{
  gsi_auth_challenge c = GSI_AUTH_CHALLENGE_INIT;
  gsi_error err = GSI_ERROR_INIT;

  if (gsi_auth_challenge_parse (header, &c, &err) < 0)
    fail_msg ("parse `%s`: %s", header, err.msg);
  assert_string_equal (c.scheme, scheme);
#define CHECK_FIELD(field)                                                                                             \
  if (field == NULL)                                                                                                   \
    assert_null (c.field);                                                                                             \
  else                                                                                                                 \
    {                                                                                                                  \
      assert_non_null (c.field);                                                                                       \
      assert_string_equal (c.field, field);                                                                            \
    }
  CHECK_FIELD (realm);
  CHECK_FIELD (service);
  CHECK_FIELD (scope);
  CHECK_FIELD (error);
#undef CHECK_FIELD
  gsi_auth_challenge_clear (&c);
  assert_null (c.scheme);
}

static void
expect_challenge_error (const char *header, const char *want)
{
  gsi_auth_challenge c = GSI_AUTH_CHALLENGE_INIT;
  gsi_error err = GSI_ERROR_INIT;

  assert_int_equal (gsi_auth_challenge_parse (header, &c, &err), -1);
  assert_non_null (err.msg);
  if (strcmp (err.msg, want) != 0)
    fail_msg ("parse `%s`: got `%s`, want `%s`", header, err.msg, want);
  /* Nothing is left allocated on failure.  */
  assert_null (c.scheme);
  assert_null (c.realm);
  assert_null (c.service);
  assert_null (c.scope);
  gsi_error_clear (&err);
}

static void
test_challenge_basic_forms (void **state)
{
  (void) state;
  expect_challenge ("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                    "scope=\"repository:library/debian:pull\"",
                    "bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:library/debian:pull",
                    NULL);
  expect_challenge ("Basic realm=\"Registry Realm\"", "basic", "Registry Realm", NULL, NULL, NULL);
  expect_challenge ("Basic", "basic", NULL, NULL, NULL, NULL);
  /* Scheme and parameter names are case-insensitive; the scheme comes back lowercased.  */
  expect_challenge ("BEARER Realm=\"r\", SERVICE=\"s\"", "bearer", "r", "s", NULL, NULL);
  /* Whitespace around '=' and ',' (RFC 7235 BWS), tabs too.  */
  expect_challenge ("Bearer  realm = \"r\" ,\tservice=\"s\"  ", "bearer", "r", "s", NULL, NULL);
  /* Unquoted values, as some servers send them.  */
  expect_challenge ("Bearer realm=https://x.example/token,service=reg", "bearer", "https://x.example/token", "reg",
                    NULL, NULL);
  /* error and a multi-scope scope.  */
  expect_challenge ("Bearer realm=\"r\",error=\"insufficient_scope\",scope=\"repository:a:pull repository:b:pull\"",
                    "bearer", "r", NULL, "repository:a:pull repository:b:pull", "insufficient_scope");
  /* Unknown parameters are skipped; a repeated one keeps its first value.  */
  expect_challenge ("Bearer foo=\"bar\",realm=\"first\",realm=\"second\"", "bearer", "first", NULL, NULL, NULL);
  /* Empty quoted value.  */
  expect_challenge ("Bearer realm=\"\",service=\"s\"", "bearer", "", "s", NULL, NULL);
}

static void
test_challenge_escapes (void **state)
{
  (void) state;
  /* quoted-pair: backslash escapes the next byte, whatever it is.  */
  expect_challenge ("Bearer realm=\"http://x/t\\\"q\\\\\",service=\"a\\,b\"", "bearer", "http://x/t\"q\\", "a,b",
                    NULL, NULL);
  expect_challenge ("Basic realm=\"say \\\"hi\\\"\"", "basic", "say \"hi\"", NULL, NULL, NULL);
  /* A comma or equals sign inside quotes is data.  */
  expect_challenge ("Bearer realm=\"r,realm=x\",service=\"s=t\"", "bearer", "r,realm=x", "s=t", NULL, NULL);
}

static void
test_challenge_several (void **state)
{
  (void) state;
  /* Other schemes before are skipped, with their parameters and a token68.  */
  expect_challenge ("Negotiate abc==, Basic realm=\"b\"", "basic", "b", NULL, NULL, NULL);
  expect_challenge ("Digest realm=\"d\", nonce=\"n\", qop=\"auth\", Bearer realm=\"y\",service=\"z\"", "bearer", "y",
                    "z", NULL, NULL);
  /* The first Basic or Bearer wins, and its parameters are not mixed with the next one's.  */
  expect_challenge ("Basic realm=\"x\", Bearer realm=\"y\",service=\"z\"", "basic", "x", NULL, NULL, NULL);
  expect_challenge ("Bearer realm=\"y\", Basic realm=\"x\"", "bearer", "y", NULL, NULL, NULL);
  /* Two headers joined by the client (", ").  */
  expect_challenge ("Basic realm=\"a\", Bearer realm=\"b\", service=\"c\"", "basic", "a", NULL, NULL, NULL);
  expect_challenge ("Newauth, Bearer realm=\"b\"", "bearer", "b", NULL, NULL, NULL);
}

static void
test_challenge_malformed (void **state)
{
  (void) state;
  expect_challenge_error (NULL, "empty WWW-Authenticate header");
  expect_challenge_error ("", "WWW-Authenticate: no Basic or Bearer challenge in ``");
  expect_challenge_error ("   ,  ", "WWW-Authenticate: no Basic or Bearer challenge in `   ,  `");
  expect_challenge_error ("Digest realm=\"d\"", "WWW-Authenticate: no Basic or Bearer challenge in `Digest realm=\"d\"`");
  expect_challenge_error ("Bearer realm=\"abc", "WWW-Authenticate: unterminated quoted string");
  expect_challenge_error ("Bearer realm=\"abc\\", "WWW-Authenticate: unterminated quoted string");
  expect_challenge_error ("Bearer realm=\"a\" junk", "WWW-Authenticate: expected `,` at offset 17");
  expect_challenge_error ("=foo", "WWW-Authenticate: unexpected `=` at offset 0");
  expect_challenge_error ("Bearer@ realm=\"r\"", "WWW-Authenticate: unexpected `@` after scheme at offset 6");
  expect_challenge_error ("Bearer realm=\"r\", \"x\"", "WWW-Authenticate: unexpected `\"` at offset 18");
  /* A good challenge followed by a broken one: still an error, and nothing is kept.  */
  expect_challenge_error ("Basic realm=\"x\", Bearer realm=\"y", "WWW-Authenticate: unterminated quoted string");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_lookup_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_lookup_falls_through, setup, teardown),
    cmocka_unit_test_setup_teardown (test_auths_base64, setup, teardown),
    cmocka_unit_test_setup_teardown (test_auths_bad, setup, teardown),
    cmocka_unit_test_setup_teardown (test_identity_token, setup, teardown),
    cmocka_unit_test_setup_teardown (test_docker_hub_key, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cred_helpers, setup, teardown),
    cmocka_unit_test_setup_teardown (test_creds_store, setup, teardown),
    cmocka_unit_test_setup_teardown (test_store_keeps_other_keys, setup, teardown),
    cmocka_unit_test_setup_teardown (test_store_where, setup, teardown),
    cmocka_unit_test_setup_teardown (test_erase, setup, teardown),
    cmocka_unit_test (test_challenge_basic_forms),
    cmocka_unit_test (test_challenge_escapes),
    cmocka_unit_test (test_challenge_several),
    cmocka_unit_test (test_challenge_malformed),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
