/* registries.yaml: settings per registry, default file locations, certs.d lookup and the located
 * errors of a wrong file.  Each test works in its own temp dir and sets the environment it needs.  */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/config.h"
#include "util/xalloc.h"

typedef struct fixture
{
  char dir[64];
} fixture;

static int
setup (void **state)
{
  fixture *f = xcalloc (1, sizeof *f);

  strcpy (f->dir, "/tmp/gsi-regconf-XXXXXX");
  if (mkdtemp (f->dir) == NULL)
    return -1;
  /* Nothing of the machine's own configuration may leak into a test.  */
  unsetenv ("GSI_REGISTRIES_CONF");
  unsetenv ("XDG_CONFIG_HOME");
  setenv ("HOME", f->dir, 1);
  setenv ("GSI_CERTS_DIR", f->dir, 1);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture *f = *state;
  char *cmd = xasprintf ("rm -rf '%s'", f->dir);
  int r = system (cmd);

  free (cmd);
  free (f);
  return r == 0 ? 0 : -1;
}

static char *
write_file (const fixture *f, const char *name, const char *text)
{
  char *p = xasprintf ("%s/%s", f->dir, name);
  FILE *fp = fopen (p, "w");

  assert_non_null (fp);
  fputs (text, fp);
  fclose (fp);
  return p;
}

static void
mkdir_p (const char *path)
{
  char *cmd = xasprintf ("mkdir -p '%s'", path);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

static gsi_reg_config *
load_ok (const char *path)
{
  gsi_reg_config *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  if (gsi_reg_config_load (path, &c, &err) < 0)
    fail_msg ("load %s: %s", path ? path : "(default)", err.msg);
  assert_non_null (c);
  return c;
}

static const char example[] = "registries:\n"
                              "  \"127.0.0.1:5000\":\n"
                              "    tls-verify: false          # also plain HTTP\n"
                              "  docker.io:\n"
                              "    mirrors:\n"
                              "      - mirror.example.internal:5000\n"
                              "      - registry.example.internal/dockerhub\n"
                              "      - \"[::1]:5001/a/b-c\"\n"
                              "  ghcr.io:\n"
                              "    ca-dir: /etc/gsi/certs.d/ghcr.io\n"
                              "    tls-verify: true\n"
                              "  quay.io:\n"
                              "    ca-dir: certs/quay\n"
                              "  localhost:\n"
                              "  \"[::1]:5000\": { tls-verify: false, mirrors: [] }\n";

static void
test_example (void **state)
{
  fixture *f = *state;
  char *path = write_file (f, "registries.yaml", example);
  char *rel = xasprintf ("%s/certs/quay", f->dir);
  gsi_reg_config *c = load_ok (path);
  const gsi_strvec *m;

  assert_string_equal (gsi_reg_config_path (c), path);
  assert_false (gsi_reg_config_tls_verify (c, "127.0.0.1:5000"));
  assert_true (gsi_reg_config_tls_verify (c, "127.0.0.1:5001"));
  assert_true (gsi_reg_config_tls_verify (c, "ghcr.io"));
  assert_true (gsi_reg_config_tls_verify (c, "docker.io"));
  assert_true (gsi_reg_config_tls_verify (c, "localhost"));
  assert_false (gsi_reg_config_tls_verify (c, "[::1]:5000"));
  assert_true (gsi_reg_config_tls_verify (c, "example.com"));

  m = gsi_reg_config_mirrors (c, "docker.io");
  assert_int_equal (m->n, 3);
  assert_string_equal (m->v[0], "mirror.example.internal:5000");
  assert_string_equal (m->v[1], "registry.example.internal/dockerhub");
  assert_string_equal (m->v[2], "[::1]:5001/a/b-c");
  assert_null (m->v[3]);
  /* The other names of Docker Hub share its entry.  */
  assert_ptr_equal (gsi_reg_config_mirrors (c, "index.docker.io"), m);
  assert_ptr_equal (gsi_reg_config_mirrors (c, "registry-1.docker.io"), m);
  /* No mirrors: an empty NULL-terminated list, both for an entry without them and for no entry.  */
  for (const char *d = "ghcr.io"; d; d = strcmp (d, "ghcr.io") == 0 ? "nowhere.example" : NULL)
    {
      m = gsi_reg_config_mirrors (c, d);
      assert_int_equal (m->n, 0);
      assert_non_null (m->v);
      assert_null (m->v[0]);
    }
  m = gsi_reg_config_mirrors (c, "[::1]:5000");
  assert_int_equal (m->n, 0);
  assert_null (m->v[0]);

  assert_string_equal (gsi_reg_config_ca_dir (c, "ghcr.io"), "/etc/gsi/certs.d/ghcr.io");
  /* A relative ca-dir is relative to the file's directory.  */
  assert_string_equal (gsi_reg_config_ca_dir (c, "quay.io"), rel);
  assert_null (gsi_reg_config_ca_dir (c, "no-such-registry.invalid"));

  gsi_reg_config_free (c);
  gsi_reg_config_free (NULL);
  free (rel);
  free (path);
}

static void
test_docker_hub_aliases (void **state)
{
  fixture *f = *state;
  char *path = write_file (f, "r.yaml", "registries:\n  index.docker.io:\n    tls-verify: false\n    mirrors: [m.example]\n");
  gsi_reg_config *c = load_ok (path);

  assert_false (gsi_reg_config_tls_verify (c, "docker.io"));
  assert_false (gsi_reg_config_tls_verify (c, "index.docker.io"));
  assert_false (gsi_reg_config_tls_verify (c, "registry-1.docker.io"));
  assert_string_equal (gsi_reg_config_mirrors (c, "docker.io")->v[0], "m.example");
  /* Host names are case-insensitive.  */
  assert_false (gsi_reg_config_tls_verify (c, "Docker.IO"));
  gsi_reg_config_free (c);
  free (path);
}

static void
test_empty_and_null (void **state)
{
  static const char *const texts[] = {
    "", "# only a comment\n", "registries:\n", "registries: {}\n", "registries: ~\n", "---\n", "null\n",
  };
  fixture *f = *state;

  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
    {
      char *path = write_file (f, "e.yaml", texts[i]);
      gsi_reg_config *c = load_ok (path);

      assert_string_equal (gsi_reg_config_path (c), path);
      assert_true (gsi_reg_config_tls_verify (c, "docker.io"));
      assert_int_equal (gsi_reg_config_mirrors (c, "docker.io")->n, 0);
      gsi_reg_config_free (c);
      free (path);
    }
}

typedef struct bad_case
{
  const char *yaml;
  const char *msg; /* after "PATH:" */
} bad_case;

static const bad_case bad[] = {
  { "registries:\n  ghcr.io:\n    tls-verify: yes\n", "3:17: `tls-verify` must be true or false" },
  { "registries:\n  ghcr.io:\n    tls-verify: \"false\"\n", "3:17: `tls-verify` must be true or false" },
  { "registries:\n  ghcr.io:\n    tls-verify: [false]\n", "3:5: `tls-verify` must be true or false" },
  { "registries:\n  ghcr.io:\n    tls-verify:\n", "3:5: `tls-verify` must be true or false" },
  { "registries:\n  ghcr.io:\n    ca-dir: \"\"\n", "3:13: `ca-dir` must not be empty" },
  { "registries:\n  ghcr.io:\n    ca-dir: {a: b}\n", "3:5: `ca-dir` must be a string" },
  { "registries:\n  ghcr.io:\n    tls_verify: false\n",
    "3:5: unknown key `tls_verify` in registry `ghcr.io` (expected tls-verify, ca-dir or mirrors)" },
  { "registries:\n  ghcr.io:\n    mirrors: m.example\n", "3:14: `mirrors` must be a list of host[:port][/prefix]" },
  { "registries:\n  ghcr.io:\n    mirrors:\n      - https://m.example\n",
    "4:9: invalid mirror `https://m.example`: a mirror is host[:port][/prefix], without a scheme" },
  { "registries:\n  ghcr.io:\n    mirrors:\n      - ok.example\n      - bad_host.example\n",
    "5:9: invalid mirror `bad_host.example`: invalid host" },
  { "registries:\n  ghcr.io:\n    mirrors: [\"m.example:\"]\n", "3:15: invalid mirror `m.example:`: invalid host" },
  { "registries:\n  ghcr.io:\n    mirrors: [m.example/Upper]\n",
    "3:15: invalid mirror `m.example/Upper`: invalid path prefix" },
  { "registries:\n  ghcr.io:\n    mirrors: [m.example/]\n", "3:15: invalid mirror `m.example/`: invalid path prefix" },
  { "registries:\n  ghcr.io:\n    mirrors: [m.example//x]\n",
    "3:15: invalid mirror `m.example//x`: invalid path prefix" },
  { "registries:\n  ghcr.io:\n    mirrors: [\"\"]\n", "3:15: a mirror must be a non-empty string" },
  { "registries:\n  ghcr.io:\n    mirrors: [[a]]\n", "3:5: a mirror must be a non-empty string" },
  { "registries:\n  ghcr.io: [a]\n", "2:3: registry `ghcr.io` must be a mapping" },
  { "registries:\n  ghcr.io: true\n", "2:12: registry `ghcr.io` must be a mapping" },
  { "registries:\n  \"https://ghcr.io\": {}\n", "2:3: invalid registry domain `https://ghcr.io`: expected host[:port]" },
  { "registries:\n  ghcr_io:\n    tls-verify: false\n", "2:3: invalid registry domain `ghcr_io`: expected host[:port]" },
  { "registries:\n  \"ghcr.io:443x\": {}\n", "2:3: invalid registry domain `ghcr.io:443x`: expected host[:port]" },
  { "registries:\n  \"\": {}\n", "2:3: a registry key must be a domain (host[:port])" },
  { "registries:\n  docker.io: {}\n  index.docker.io: {}\n", "3:3: registry `docker.io` is listed twice" },
  { "registries:\n  a.example: {}\n  A.EXAMPLE: {}\n", "3:3: registry `A.EXAMPLE` is listed twice" },
  { "registries: [docker.io]\n", "1:1: `registries` must be a mapping of registry domains" },
  { "registries: docker.io\n", "1:13: `registries` must be a mapping of registry domains" },
  { "registry:\n  docker.io: {}\n", "1:1: unknown key `registry` (expected registries)" },
  { "- docker.io\n", "1:1: registries.yaml must be a mapping with a `registries` key" },
  { "just text\n", "1:1: registries.yaml must be a mapping with a `registries` key" },
  { "x: &a ghcr.io\nregistries:\n  ghcr.io:\n    ca-dir: *a\n",
    "1:1: unknown key `x` (expected registries)" },
  { "registries:\n  ghcr.io:\n    ca-dir: *a\n", "3:13: `ca-dir` must be a string" },
  { "registries:\n  ghcr.io:\n    mirrors: [*a]\n", "3:15: a mirror must be a non-empty string" },
  /* libfyaml's own wording for syntax errors: checked for the location only.  */
  { "registries:\n  ghcr.io:\n    tls-verify: false\n    tls-verify: true\n", NULL },
  { "registries:\n  ghcr.io: {\n", NULL },
  { "registries:\n\tghcr.io: {}\n", NULL },
};

static void
test_errors (void **state)
{
  fixture *f = *state;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      char *path = write_file (f, "bad.yaml", bad[i].yaml);
      gsi_reg_config *c = (gsi_reg_config *) 1;
      gsi_error err = GSI_ERROR_INIT;

      if (gsi_reg_config_load (path, &c, &err) == 0)
        fail_msg ("case %zu loaded:\n%s", i, bad[i].yaml);
      assert_null (c);
      assert_non_null (err.msg);
      assert_string_equal (err.file, path);
      if (bad[i].msg)
        {
          char *want = xasprintf ("%s:%s", path, bad[i].msg);
          if (strcmp (err.msg, want) != 0)
            fail_msg ("case %zu:\n  got      %s\n  expected %s", i, err.msg, want);
          free (want);
        }
      else
        {
          /* A YAML syntax error: still "PATH:LINE:COL: invalid YAML: ...".  */
          char *prefix = xasprintf ("%s:%d:%d: invalid YAML: ", path, err.line, err.col);
          assert_true (err.line > 0);
          assert_true (err.col > 0);
          if (strncmp (err.msg, prefix, strlen (prefix)) != 0 || strlen (err.msg) <= strlen (prefix))
            fail_msg ("case %zu: %s", i, err.msg);
          free (prefix);
        }
      gsi_error_clear (&err);
      free (path);
    }
}

static void
test_yaml_syntax_located (void **state)
{
  fixture *f = *state;
  char *path = write_file (f, "s.yaml", "registries:\n  ghcr.io:\n    tls-verify: false\n    tls-verify: true\n");
  gsi_reg_config *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  assert_int_equal (gsi_reg_config_load (path, &c, &err), -1);
  assert_int_equal (err.line, 4);
  assert_int_equal (err.col, 5);
  assert_non_null (strstr (err.msg, "duplicate key"));
  gsi_error_clear (&err);
  free (path);
}

/* The fuzzer's find: libfyaml 0.7 loops forever on some invalid UTF-8, so it must never see any.  */
static void
test_not_utf8 (void **state)
{
  fixture *f = *state;
  char *path = write_file (f, "u.yaml", "registries:\n  \"a.example\": \xc0\n \x04\xc0]\n");
  gsi_reg_config *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  assert_int_equal (gsi_reg_config_load (path, &c, &err), -1);
  assert_int_equal (err.line, 2);
  assert_string_equal (err.file, path);
  assert_non_null (strstr (err.msg, "byte 0xC0 is not UTF-8 text"));
  gsi_error_clear (&err);
  free (path);
}

static void
test_missing_explicit (void **state)
{
  fixture *f = *state;
  char *path = xasprintf ("%s/nope.yaml", f->dir);
  char *want = xasprintf ("open `%s`: No such file or directory", path);
  gsi_reg_config *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  assert_int_equal (gsi_reg_config_load (path, &c, &err), -1);
  assert_null (c);
  assert_string_equal (err.msg, want);
  gsi_error_clear (&err);
  free (want);

  /* $GSI_REGISTRIES_CONF names a file as explicitly as the argument.  */
  setenv ("GSI_REGISTRIES_CONF", path, 1);
  assert_int_equal (gsi_reg_config_load (NULL, &c, &err), -1);
  assert_non_null (strstr (err.msg, "No such file or directory"));
  gsi_error_clear (&err);
  unsetenv ("GSI_REGISTRIES_CONF");

  want = xasprintf ("read `%s`: Is a directory", f->dir);
  assert_int_equal (gsi_reg_config_load (f->dir, &c, &err), -1);
  assert_string_equal (err.msg, want);
  gsi_error_clear (&err);
  free (want);
  free (path);
}

static void
test_default_paths (void **state)
{
  fixture *f = *state;
  char *xdg = xasprintf ("%s/xdg", f->dir), *xdg_dir = xasprintf ("%s/xdg/gsi", f->dir);
  char *home_dir = xasprintf ("%s/.config/gsi", f->dir);
  char *env_file, *xdg_file, *home_file;
  gsi_reg_config *c;
  struct stat st;

  mkdir_p (xdg_dir);
  mkdir_p (home_dir);
  env_file = write_file (f, "env.yaml", "registries:\n  env.example: {tls-verify: false}\n");
  xdg_file = write_file (f, "xdg/gsi/registries.yaml", "registries:\n  xdg.example: {tls-verify: false}\n");
  home_file = write_file (f, ".config/gsi/registries.yaml", "registries:\n  home.example: {tls-verify: false}\n");

  /* $GSI_REGISTRIES_CONF first.  */
  setenv ("GSI_REGISTRIES_CONF", env_file, 1);
  setenv ("XDG_CONFIG_HOME", xdg, 1);
  c = load_ok (NULL);
  assert_string_equal (gsi_reg_config_path (c), env_file);
  assert_false (gsi_reg_config_tls_verify (c, "env.example"));
  assert_true (gsi_reg_config_tls_verify (c, "xdg.example"));
  gsi_reg_config_free (c);

  /* An explicit path wins over everything.  */
  c = load_ok (home_file);
  assert_string_equal (gsi_reg_config_path (c), home_file);
  gsi_reg_config_free (c);

  /* An empty $GSI_REGISTRIES_CONF is unset; then $XDG_CONFIG_HOME.  */
  setenv ("GSI_REGISTRIES_CONF", "", 1);
  c = load_ok (NULL);
  assert_string_equal (gsi_reg_config_path (c), xdg_file);
  assert_false (gsi_reg_config_tls_verify (c, "xdg.example"));
  gsi_reg_config_free (c);
  unsetenv ("GSI_REGISTRIES_CONF");

  /* $XDG_CONFIG_HOME set: ~/.config is not looked at, even when the XDG file is missing.  */
  unlink (xdg_file);
  c = load_ok (NULL);
  if (stat ("/etc/gsi/registries.yaml", &st) == 0)
    assert_string_equal (gsi_reg_config_path (c), "/etc/gsi/registries.yaml");
  else
    assert_null (gsi_reg_config_path (c));
  assert_true (gsi_reg_config_tls_verify (c, "home.example"));
  gsi_reg_config_free (c);

  /* Unset, or relative (invalid per the XDG spec): ~/.config/gsi.  */
  unsetenv ("XDG_CONFIG_HOME");
  c = load_ok (NULL);
  assert_string_equal (gsi_reg_config_path (c), home_file);
  assert_false (gsi_reg_config_tls_verify (c, "home.example"));
  gsi_reg_config_free (c);
  setenv ("XDG_CONFIG_HOME", "relative/dir", 1);
  c = load_ok (NULL);
  assert_string_equal (gsi_reg_config_path (c), home_file);
  gsi_reg_config_free (c);
  unsetenv ("XDG_CONFIG_HOME");

  /* Nothing found: defaults (unless this machine has /etc/gsi/registries.yaml).  */
  unlink (home_file);
  c = load_ok (NULL);
  if (stat ("/etc/gsi/registries.yaml", &st) == 0)
    assert_string_equal (gsi_reg_config_path (c), "/etc/gsi/registries.yaml");
  else
    {
      assert_null (gsi_reg_config_path (c));
      assert_true (gsi_reg_config_tls_verify (c, "home.example"));
      assert_int_equal (gsi_reg_config_mirrors (c, "docker.io")->n, 0);
    }
  gsi_reg_config_free (c);

  free (env_file);
  free (xdg_file);
  free (home_file);
  free (xdg);
  free (xdg_dir);
  free (home_dir);
}

static void
test_certs_d (void **state)
{
  fixture *f = *state;
  char *d1 = xasprintf ("%s/127.0.0.1:5000", f->dir);
  char *d2 = xasprintf ("%s/reg.test.invalid", f->dir);
  char *file_not_dir = write_file (f, "plainfile.invalid", "x");
  char *yaml = xasprintf ("registries:\n  reg.test.invalid:\n    ca-dir: /explicit/ca\n");
  char *path = write_file (f, "c.yaml", yaml);
  gsi_reg_config *c;
  const char *a, *b;

  mkdir_p (d1);
  mkdir_p (d2);
  c = load_ok (path);
  /* $GSI_CERTS_DIR/HOST, with the port in the directory name as Docker's certs.d has it.  */
  a = gsi_reg_config_ca_dir (c, "127.0.0.1:5000");
  assert_non_null (a);
  assert_string_equal (a, d1);
  b = gsi_reg_config_ca_dir (c, "127.0.0.1:5000");
  assert_ptr_equal (a, b);
  /* The explicit ca-dir comes before certs.d.  */
  assert_string_equal (gsi_reg_config_ca_dir (c, "reg.test.invalid"), "/explicit/ca");
  /* Only directories count; a domain can never climb out of the certs.d root.  */
  assert_null (gsi_reg_config_ca_dir (c, "plainfile.invalid"));
  assert_null (gsi_reg_config_ca_dir (c, ".."));
  assert_null (gsi_reg_config_ca_dir (c, "."));
  assert_null (gsi_reg_config_ca_dir (c, "../x"));
  assert_null (gsi_reg_config_ca_dir (c, ""));
  assert_null (gsi_reg_config_ca_dir (c, "127.0.0.1:5001"));
  gsi_reg_config_free (c);

  /* Without $GSI_CERTS_DIR only the system roots are looked at.  */
  unsetenv ("GSI_CERTS_DIR");
  c = load_ok (path);
  assert_null (gsi_reg_config_ca_dir (c, "127.0.0.1:5000.gsi-test.invalid"));
  gsi_reg_config_free (c);

  free (d1);
  free (d2);
  free (file_not_dir);
  free (yaml);
  free (path);
}

typedef struct thread_arg
{
  const gsi_reg_config *c;
  const char *got[64];
} thread_arg;

static void *
lookup_thread (void *p)
{
  thread_arg *a = p;
  for (int i = 0; i < 64; i++)
    a->got[i] = gsi_reg_config_ca_dir (a->c, i % 2 ? "127.0.0.1:5000" : "missing.invalid");
  return NULL;
}

/* The HTTP client asks from several threads at once: the lookup cache must hold.  */
static void
test_certs_d_threads (void **state)
{
  fixture *f = *state;
  char *d1 = xasprintf ("%s/127.0.0.1:5000", f->dir);
  gsi_reg_config *c;
  pthread_t t[4];
  thread_arg args[4];

  mkdir_p (d1);
  c = load_ok (NULL);
  for (int i = 0; i < 4; i++)
    {
      args[i].c = c;
      assert_int_equal (pthread_create (&t[i], NULL, lookup_thread, &args[i]), 0);
    }
  for (int i = 0; i < 4; i++)
    assert_int_equal (pthread_join (t[i], NULL), 0);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 64; j++)
      if (j % 2)
        assert_string_equal (args[i].got[j], d1);
      else
        assert_null (args[i].got[j]);
  gsi_reg_config_free (c);
  free (d1);
}

static void
test_null_config (void **state)
{
  (void) state;
  assert_true (gsi_reg_config_tls_verify (NULL, "docker.io"));
  assert_int_equal (gsi_reg_config_mirrors (NULL, "docker.io")->n, 0);
  assert_null (gsi_reg_config_mirrors (NULL, "docker.io")->v[0]);
  assert_null (gsi_reg_config_ca_dir (NULL, "docker.io"));
  assert_null (gsi_reg_config_path (NULL));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_example, setup, teardown),
    cmocka_unit_test_setup_teardown (test_docker_hub_aliases, setup, teardown),
    cmocka_unit_test_setup_teardown (test_empty_and_null, setup, teardown),
    cmocka_unit_test_setup_teardown (test_errors, setup, teardown),
    cmocka_unit_test_setup_teardown (test_yaml_syntax_located, setup, teardown),
    cmocka_unit_test_setup_teardown (test_not_utf8, setup, teardown),
    cmocka_unit_test_setup_teardown (test_missing_explicit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_default_paths, setup, teardown),
    cmocka_unit_test_setup_teardown (test_certs_d, setup, teardown),
    cmocka_unit_test_setup_teardown (test_certs_d_threads, setup, teardown),
    cmocka_unit_test (test_null_config),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
