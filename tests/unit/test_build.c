/* The pure parts of the build executor: step cache keys and entries, config building per
 * instruction, command lines, ADD's source classification and archive detection.  */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/add.h"
#include "build/build.h"
#include "build/cache.h"
#include "containerfile/ast.h"
#include "containerfile/instructions.h"
#include "containerfile/stages.h"
#include "util/xalloc.h"

/* ---- cache keys ---- */

static const char *args_ab[] = { "A=1", "B=2" };
static const char *args_ba[] = { "B=2", "A=1" };
static const char *env_xy[] = { "PATH=/bin", "X=1" };
static const char *env_yx[] = { "X=1", "PATH=/bin" };
static const char *shell_sh[] = { "/bin/sh", "-c" };
static const char *shell_bash[] = { "/bin/bash", "-c" };

static gsi_cache_key_input
base_input (void)
{
  gsi_cache_key_input in = { 0 };
  in.parent = "0000000000000000000000000000000000000000000000000000000000000000";
  in.instruction = "RUN make";
  in.build_args = args_ab;
  in.n_build_args = 2;
  in.env = env_xy;
  in.n_env = 2;
  in.user = "app";
  in.workdir = "/src";
  in.shell = shell_sh;
  in.n_shell = 2;
  in.content = NULL;
  return in;
}

static void
key_of (const gsi_cache_key_input *in, char out[65])
{
  gsi_cache_key (in, out);
  assert_true (gsi_cache_key_valid (out));
}

static void
test_key_stable (void **state)
{
  (void) state;
  gsi_cache_key_input in = base_input ();
  char a[65], b[65];

  key_of (&in, a);
  key_of (&in, b);
  assert_string_equal (a, b);
  /* Build args are a set: their order does not matter.  */
  in.build_args = args_ba;
  key_of (&in, b);
  assert_string_equal (a, b);
  /* A missing user and an empty one are the same (root).  */
  in = base_input ();
  in.user = NULL;
  key_of (&in, a);
  in.user = "";
  key_of (&in, b);
  assert_string_equal (a, b);
}

static void
assert_key_changes (void (*change) (gsi_cache_key_input *))
{
  gsi_cache_key_input in = base_input ();
  char a[65], b[65];

  key_of (&in, a);
  change (&in);
  key_of (&in, b);
  assert_string_not_equal (a, b);
}

static void ch_parent (gsi_cache_key_input *in) { in->parent = "1111111111111111111111111111111111111111111111111111111111111111"; }
static void ch_instr (gsi_cache_key_input *in) { in->instruction = "RUN make install"; }
static void ch_args (gsi_cache_key_input *in) { in->n_build_args = 1; }
static void ch_env_order (gsi_cache_key_input *in) { in->env = env_yx; }
static void ch_env (gsi_cache_key_input *in) { in->n_env = 1; }
static void ch_user (gsi_cache_key_input *in) { in->user = "root"; }
static void ch_workdir (gsi_cache_key_input *in) { in->workdir = "/"; }
static void ch_shell (gsi_cache_key_input *in) { in->shell = shell_bash; }
static void ch_content (gsi_cache_key_input *in) { in->content = "context:abc"; }

static void
test_key_changes (void **state)
{
  (void) state;
  assert_key_changes (ch_parent);
  assert_key_changes (ch_instr);
  assert_key_changes (ch_args);
  assert_key_changes (ch_env_order);
  assert_key_changes (ch_env);
  assert_key_changes (ch_user);
  assert_key_changes (ch_workdir);
  assert_key_changes (ch_shell);
  assert_key_changes (ch_content);
}

/* Moving bytes from one field to the next must not give the same key.  */
static void
test_key_fields_do_not_run_together (void **state)
{
  (void) state;
  gsi_cache_key_input in = base_input ();
  char a[65], b[65];
  static const char *one[] = { "A=1B=2" };
  static const char *two[] = { "A=1", "B=2" };

  in.instruction = "RUN a";
  in.content = "bc";
  key_of (&in, a);
  in.instruction = "RUN ab";
  in.content = "c";
  key_of (&in, b);
  assert_string_not_equal (a, b);
  in.build_args = one;
  in.n_build_args = 1;
  key_of (&in, a);
  in.build_args = two;
  in.n_build_args = 2;
  key_of (&in, b);
  assert_string_not_equal (a, b);
  /* An empty environment differs from none at all only in count, which is hashed.  */
  in.n_env = 0;
  key_of (&in, a);
  in.env = (const char *[]){ "" };
  in.n_env = 1;
  key_of (&in, b);
  assert_string_not_equal (a, b);
}

/* ---- cache entries ---- */

static void
test_cache_roundtrip (void **state)
{
  (void) state;
  char dir[] = "/tmp/gsi-cache-XXXXXX";
  gsi_error err = GSI_ERROR_INIT;
  gsi_cache_entry e = { 0 }, got;
  const char *key = "abababababababababababababababababababababababababababababababab";
  const char *other = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

  assert_non_null (mkdtemp (dir));
  assert_int_equal (gsi_cache_get (dir, key, &got, &err), 0);
  snprintf (e.digest, sizeof e.digest, "sha256:%064d", 1);
  snprintf (e.diff_id, sizeof e.diff_id, "sha256:%064d", 2);
  snprintf (e.media_type, sizeof e.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  snprintf (e.created, sizeof e.created, "2024-01-02T03:04:05Z");
  e.size = 1234;
  e.raw_size = 1ull << 40;
  assert_int_equal (gsi_cache_put (dir, key, &e, &err), 0);
  assert_int_equal (gsi_cache_get (dir, key, &got, &err), 1);
  assert_false (got.empty_layer);
  assert_string_equal (got.digest, e.digest);
  assert_string_equal (got.diff_id, e.diff_id);
  assert_string_equal (got.media_type, e.media_type);
  assert_string_equal (got.created, e.created);
  assert_int_equal (got.size, 1234);
  assert_true (got.raw_size == 1ull << 40);

  gsi_cache_entry cfg = { .empty_layer = true };
  snprintf (cfg.created, sizeof cfg.created, "1970-01-01T00:00:00Z");
  assert_int_equal (gsi_cache_put (dir, other, &cfg, &err), 0);
  assert_int_equal (gsi_cache_get (dir, other, &got, &err), 1);
  assert_true (got.empty_layer);
  assert_string_equal (got.created, "1970-01-01T00:00:00Z");

  /* A damaged entry is a miss, never an error: the cache is only an optimisation.  */
  char *p = xasprintf ("%s/%s.json", dir, key);
  FILE *f = fopen (p, "w");
  assert_non_null (f);
  fputs ("{\"created\":", f);
  fclose (f);
  assert_int_equal (gsi_cache_get (dir, key, &got, &err), 0);
  /* A layer entry without its digest is a miss too.  */
  f = fopen (p, "w");
  fputs ("{\"created\":\"x\",\"empty_layer\":false}", f);
  fclose (f);
  assert_int_equal (gsi_cache_get (dir, key, &got, &err), 0);
  free (p);

  assert_int_equal (gsi_cache_get (dir, "../etc/passwd", &got, &err), -1);
  assert_non_null (strstr (err.msg, "invalid cache key"));
  gsi_error_clear (&err);
  assert_int_equal (gsi_cache_put (dir, "ABAB", &e, &err), -1);
  gsi_error_clear (&err);

  char *cmd = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

/* ---- config instructions ---- */

/* The instructions of a one-stage Containerfile as the executor gets them: typed and expanded by
 * the semantic pass.  cmds[0] stands for FROM, cmds[i] is the stage's instruction i-1.  */
typedef struct parsed
{
  cf_file *file;
  cf_plan *plan;
  const cf_cmd **cmds;
  size_t n;
} parsed;

static parsed *
parse_text (const char *text)
{
  gsi_error err = GSI_ERROR_INIT;
  parsed *p = xcalloc (1, sizeof *p);
  cf_plan_opts po = { 0 };

  if (cf_parse ("test", text, strlen (text), &p->file, &err) < 0)
    fail_msg ("parse: %s", err.msg);
  if (cf_plan_build (p->file, &po, &p->plan, &err) < 0)
    fail_msg ("plan: %s", err.msg);
  const cf_stage *st = &p->plan->stages[0];
  p->cmds = xcalloc (st->ncmds + 1, sizeof (cf_cmd *));
  p->cmds[p->n++] = st->from;
  for (size_t i = 0; i < st->ncmds; i++)
    p->cmds[p->n++] = st->steps[i].expanded;
  return p;
}

static void
parsed_free (parsed *p)
{
  free (p->cmds);
  cf_plan_free (p->plan);
  cf_file_free (p->file);
  free (p);
}

/* Applies every instruction of text after FROM and returns the history lines joined by '|'.  */
static char *
apply_all (gsi_image_config *cfg, gsi_config_state *st, const char *text)
{
  parsed *p = parse_text (text);
  gsi_error err = GSI_ERROR_INIT;
  gsi_buf hist = GSI_BUF_INIT;

  for (size_t i = 1; i < p->n; i++)
    {
      char *h = NULL;
      assert_true (gsi_build_is_config_only (p->cmds[i]->kind));
      if (gsi_build_apply_config (cfg, st, p->cmds[i], &h, &err) < 0)
        fail_msg ("apply: %s", err.msg);
      gsi_buf_addf (&hist, "%s%s", hist.len ? "|" : "", h ? h : "(none)");
      free (h);
    }
  parsed_free (p);
  return gsi_buf_detach (&hist, NULL);
}

static gsi_image_config
fresh_config (void)
{
  gsi_image_config c;
  gsi_image_config_init (&c);
  c.architecture = xstrdup ("amd64");
  c.os = xstrdup ("linux");
  return c;
}

static void
test_config_env_label_user (void **state)
{
  (void) state;
  gsi_image_config c = fresh_config ();
  gsi_config_state st = { 0 };
  gsi_image_config_set_env (&c, "PATH", "/bin");
  gsi_image_config_set_env (&c, "A", "old");
  char *h = apply_all (&c, &st, "FROM x\nENV B=2 A=new\nLABEL k=v other=\"a b\"\nUSER app:grp\nMAINTAINER me\nARG X Y=1\n");

  assert_string_equal (h, "ENV B=2 A=new|LABEL k=v other=a b|USER app:grp|MAINTAINER me|ARG X Y=1");
  /* ENV replaces a key in place, as docker does, and appends new ones.  */
  assert_int_equal (c.env.n, 3);
  assert_string_equal (c.env.v[0], "PATH=/bin");
  assert_string_equal (c.env.v[1], "A=new");
  assert_string_equal (c.env.v[2], "B=2");
  assert_string_equal (gsi_kv_get (&c.labels, "k"), "v");
  assert_string_equal (gsi_kv_get (&c.labels, "other"), "a b");
  assert_string_equal (c.user, "app:grp");
  assert_string_equal (c.author, "me");
  free (h);
  gsi_image_config_clear (&c);
}

static void
test_config_cmd_entrypoint (void **state)
{
  (void) state;
  gsi_image_config c = fresh_config ();
  gsi_config_state st = { 0 };
  gsi_strvec_push (&c.cmd, "inherited");

  /* An ENTRYPOINT drops an inherited CMD...  */
  char *h = apply_all (&c, &st, "FROM x\nENTRYPOINT [\"/entry\"]\n");
  assert_string_equal (h, "ENTRYPOINT [\"/entry\"]");
  assert_int_equal (c.cmd.n, 0);
  assert_string_equal (c.entrypoint.v[0], "/entry");
  free (h);
  /* ...but keeps one this stage set.  */
  h = apply_all (&c, &st, "FROM x\nCMD run me\nENTRYPOINT [\"/e2\"]\n");
  assert_string_equal (h, "CMD [\"/bin/sh\" \"-c\" \"run me\"]|ENTRYPOINT [\"/e2\"]");
  assert_true (st.cmd_set);
  assert_int_equal (c.cmd.n, 3);
  assert_string_equal (c.cmd.v[2], "run me");
  free (h);
  /* Shell form uses SHELL once set.  */
  h = apply_all (&c, &st, "FROM x\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nCMD echo hi\n");
  assert_string_equal (h, "SHELL [/bin/bash -eo pipefail -c]|CMD [\"/bin/bash\" \"-eo\" \"pipefail\" \"-c\" \"echo hi\"]");
  assert_int_equal (c.shell.n, 4);
  assert_int_equal (c.cmd.n, 5);
  free (h);
  gsi_image_config_clear (&c);
}

static void
test_config_workdir_expose_volume (void **state)
{
  (void) state;
  gsi_image_config c = fresh_config ();
  gsi_config_state st = { 0 };
  char *h = apply_all (&c, &st,
                       "FROM x\nWORKDIR rel\nWORKDIR /abs/dir\nWORKDIR ../up/./x/\nEXPOSE 80 53/udp 8000-8001/tcp\n"
                       "EXPOSE 80/tcp\nVOLUME /data /logs\nVOLUME [\"/data\"]\nSTOPSIGNAL SIGKILL\n");
  assert_string_equal (h, "WORKDIR /rel|WORKDIR /abs/dir|WORKDIR /abs/up/x|EXPOSE 53/udp 80/tcp 8000/tcp 8001/tcp|"
                          "EXPOSE 80/tcp|VOLUME [/data /logs]|VOLUME [/data]|STOPSIGNAL SIGKILL");
  assert_string_equal (c.working_dir, "/abs/up/x");
  assert_int_equal (c.exposed_ports.n, 4);
  assert_int_equal (c.volumes.n, 2);
  assert_string_equal (c.stop_signal, "SIGKILL");
  free (h);
  gsi_image_config_clear (&c);
}

static void
test_config_healthcheck_onbuild (void **state)
{
  (void) state;
  gsi_image_config c = fresh_config ();
  gsi_config_state st = { 0 };
  char *h = apply_all (&c, &st,
                       "FROM x\nHEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD [\"/check\", \"-q\"]\n"
                       "ONBUILD COPY . /app\n");
  assert_string_equal (h, "HEALTHCHECK [\"CMD\" \"/check\" \"-q\"] interval=30000000000ns timeout=5000000000ns "
                          "retries=3|(none)");
  assert_int_equal (c.healthcheck.test.n, 3);
  assert_true (c.healthcheck.interval == 30000000000LL);
  assert_int_equal (c.healthcheck.retries, 3);
  assert_int_equal (c.onbuild.n, 1);
  assert_string_equal (c.onbuild.v[0], "COPY . /app");
  free (h);
  h = apply_all (&c, &st, "FROM x\nHEALTHCHECK NONE\n");
  assert_string_equal (h, "HEALTHCHECK [\"NONE\"]");
  assert_int_equal (c.healthcheck.test.n, 1);
  assert_true (c.healthcheck.interval == 0);
  free (h);
  gsi_image_config_clear (&c);
}

static void
test_config_rejects_layer_steps (void **state)
{
  (void) state;
  parsed *p = parse_text ("FROM x\nRUN true\nCOPY a b\n");
  gsi_image_config c = fresh_config ();
  gsi_config_state st = { 0 };
  gsi_error err = GSI_ERROR_INIT;
  char *h = NULL;

  assert_false (gsi_build_is_config_only (p->cmds[1]->kind));
  assert_false (gsi_build_is_config_only (p->cmds[2]->kind));
  assert_int_equal (gsi_build_apply_config (&c, &st, p->cmds[1], &h, &err), -1);
  assert_null (h);
  gsi_error_clear (&err);
  parsed_free (p);
  gsi_image_config_clear (&c);
}

static void
test_cmdline_argv (void **state)
{
  (void) state;
  parsed *p = parse_text ("FROM x\nRUN [\"/bin/echo\", \"a b\"]\nRUN echo $HOME && true\n");
  gsi_image_config c = fresh_config ();
  gsi_strvec v = GSI_STRVEC_INIT;

  gsi_build_cmdline_argv (&c, &p->cmds[1]->u.run.line, &v);
  assert_int_equal (v.n, 2);
  assert_string_equal (v.v[1], "a b");
  gsi_strvec_clear (&v);
  gsi_build_cmdline_argv (&c, &p->cmds[2]->u.run.line, &v);
  assert_int_equal (v.n, 3);
  assert_string_equal (v.v[0], "/bin/sh");
  assert_string_equal (v.v[1], "-c");
  assert_string_equal (v.v[2], "echo $HOME && true");
  gsi_strvec_clear (&v);
  parsed_free (p);
  gsi_image_config_clear (&c);
}

/* ---- files and ADD ---- */

static void
test_default_file (void **state)
{
  (void) state;
  char dir[] = "/tmp/gsi-build-ctx-XXXXXX";
  assert_non_null (mkdtemp (dir));
  char *f = gsi_build_default_file (dir, NULL);
  char *want = xasprintf ("%s/Dockerfile", dir);
  assert_string_equal (f, want);
  free (f);
  free (want);
  char *cf = xasprintf ("%s/Containerfile", dir);
  close (open (cf, O_WRONLY | O_CREAT, 0644));
  f = gsi_build_default_file (dir, NULL);
  assert_string_equal (f, cf);
  free (f);
  f = gsi_build_default_file (dir, "other");
  assert_string_equal (f, "other");
  free (f);
  unlink (cf);
  free (cf);
  rmdir (dir);
}

static void
test_add_sources (void **state)
{
  (void) state;
  assert_true (gsi_add_is_url ("https://example.org/x.tar.gz"));
  assert_true (gsi_add_is_url ("http://example.org/"));
  assert_false (gsi_add_is_url ("file.txt"));
  assert_false (gsi_add_is_url ("ftp://example.org/x"));
  assert_true (gsi_add_is_git ("https://github.com/org/repo.git"));
  assert_true (gsi_add_is_git ("https://github.com/org/repo.git?ref=main"));
  assert_true (gsi_add_is_git ("git@github.com:org/repo.git"));
  assert_false (gsi_add_is_git ("https://example.org/file.tar.gz"));
  assert_false (gsi_add_is_git ("local.git-notes"));
}

static int
open_made (const char *dir, const char *cmd_fmt, const char *name)
{
  char *cmd = xasprintf (cmd_fmt, dir, dir);
  assert_int_equal (system (cmd), 0);
  free (cmd);
  char *p = xasprintf ("%s/%s", dir, name);
  int fd = open (p, O_RDONLY);
  free (p);
  assert_true (fd >= 0);
  return fd;
}

static void
test_add_archive_detection (void **state)
{
  (void) state;
  char dir[] = "/tmp/gsi-add-XXXXXX";
  gsi_error err = GSI_ERROR_INIT;
  struct
  {
    const char *cmd;
    const char *name;
    int want;
  } cases[] = {
    { "cd %s && mkdir -p p && echo x > p/f && tar cf a.tar p && : %s", "a.tar", 1 },
    { "cd %s && tar czf a.tgz p && : %s", "a.tgz", 1 },
    { "cd %s && tar cJf a.txz p && : %s", "a.txz", 1 },
    { "cd %s && tar cjf a.tbz p && : %s", "a.tbz", 1 },
    { "cd %s && tar cf - p | zstd -q > a.tzst && : %s", "a.tzst", 1 },
    { "cd %s && echo not a tar > plain.tar && : %s", "plain.tar", 0 },
    { "cd %s && echo hello | gzip > lone.gz && : %s", "lone.gz", 0 },
    { "cd %s && : > empty && : %s", "empty", 0 },
  };

  assert_non_null (mkdtemp (dir));
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      int fd = open_made (dir, cases[i].cmd, cases[i].name);
      int r = gsi_add_is_archive (fd, &err);
      if (r != cases[i].want)
        fail_msg ("%s: got %d, want %d", cases[i].name, r, cases[i].want);
      assert_int_equal (lseek (fd, 0, SEEK_CUR), 0);
      close (fd);
    }
  char *cmd = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_key_stable),
    cmocka_unit_test (test_key_changes),
    cmocka_unit_test (test_key_fields_do_not_run_together),
    cmocka_unit_test (test_cache_roundtrip),
    cmocka_unit_test (test_config_env_label_user),
    cmocka_unit_test (test_config_cmd_entrypoint),
    cmocka_unit_test (test_config_workdir_expose_volume),
    cmocka_unit_test (test_config_healthcheck_onbuild),
    cmocka_unit_test (test_config_rejects_layer_steps),
    cmocka_unit_test (test_cmdline_argv),
    cmocka_unit_test (test_default_file),
    cmocka_unit_test (test_add_sources),
    cmocka_unit_test (test_add_archive_detection),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
