/* Shell-word expansion against BuildKit's own test data (envVarTest, wordsTest) and tables of
 * the pattern operators, escapes and variable reporting.  */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerfile/shell.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"

/* ---- helpers ---- */

/* Splits "A=1;B=;C=x" into env entries (an empty spec is an empty environment).  */
static void
env_from_spec (cf_env *env, const char *spec)
{
  char *copy = strdup (spec ? spec : ""), *save = NULL;

  for (char *tok = strtok_r (copy, ";", &save); tok; tok = strtok_r (NULL, ";", &save))
    {
      char *eq = strchr (tok, '=');
      if (eq)
        {
          *eq = '\0';
          cf_env_set (env, tok, eq + 1);
        }
      else
        cf_env_set (env, tok, "");
    }
  free (copy);
}

/* Joins names sorted, so the order of first use does not matter.  */
static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static char *
sorted_join (gsi_strvec *sv)
{
  gsi_buf b = GSI_BUF_INIT;

  if (sv->n)
    qsort (sv->v, sv->n, sizeof (char *), cmp_str);
  for (size_t i = 0; i < sv->n; i++)
    {
      if (i)
        gsi_buf_addch (&b, ',');
      gsi_buf_addstr (&b, sv->v[i]);
    }
  return gsi_buf_detach (&b, NULL);
}

static char *
trim_ascii (char *s)
{
  size_t n;
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '\v' || *s == '\f')
    s++;
  n = strlen (s);
  while (n > 0 && strchr (" \t\r\n\v\f", s[n - 1]))
    s[--n] = '\0';
  return s;
}

static char *
read_peer (const char *name)
{
  const char *dir = test_peer_dir ();
  char path[4096];
  char *data;

  if (dir == NULL)
    return NULL;
  snprintf (path, sizeof path, "%s/buildkit/shell/%s", dir, name);
  data = test_read_file (path, NULL);
  if (data == NULL)
    fail_msg ("cannot read peer file '%s'", path);
  return data;
}

/* ---- BuildKit's envVarTest: "platform | input | expected" ---- */

static void
test_peer_env_var (void **state)
{
  (void) state;
  cf_env env = CF_ENV_INIT;
  char *data = read_peer ("envVarTest");
  int lineno = 0, ran = 0, windows_only = 0;

  if (data == NULL)
    {
      print_message ("shell: envVarTest peer lines are NOT RUN\n");
      skip ();
    }
  cf_env_set (&env, "PWD", "/home");
  cf_env_set (&env, "SHELL", "bash");
  cf_env_set (&env, "KOREAN", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4");
  cf_env_set (&env, "NULL", "");

  /* strsep keeps empty lines, so line numbers stay right.  */
  for (char *line = data; line; lineno++)
    {
      char *cur = strsep (&line, "\n");
      char *f[3], *p, *expected, *input;
      int nf = 0;

      if (cur[0] == '#')
        continue;
      cur = trim_ascii (cur);
      if (*cur == '\0')
        continue;
      for (p = cur; nf < 3 && p; nf++)
        f[nf] = strsep (&p, "|");
      if (nf != 3 || p != NULL)
        fail_msg ("envVarTest:%d: not three fields: %s", lineno + 1, cur);
      char *platform = trim_ascii (f[0]);
      input = trim_ascii (f[1]);
      expected = trim_ascii (f[2]);
      if (strcmp (platform, "W") == 0)
        {
          windows_only++;
          continue;
        }
      if (strcmp (platform, "A") != 0 && strcmp (platform, "U") != 0)
        fail_msg ("envVarTest:%d: bad platform '%s'", lineno + 1, platform);

      gsi_error err = GSI_ERROR_INIT;
      char *out = NULL;
      int ret = cf_shell_expand (input, &env, NULL, &out, &err);
      if (strcmp (expected, "error") == 0)
        {
          if (ret == 0)
            fail_msg ("envVarTest:%d: `%s` should fail but gave `%s`", lineno + 1, input, out);
          assert_non_null (err.msg);
        }
      else
        {
          if (ret != 0)
            fail_msg ("envVarTest:%d: `%s` failed: %s", lineno + 1, input, err.msg);
          if (strcmp (out, expected) != 0)
            fail_msg ("envVarTest:%d: `%s` gave `%s`, want `%s`", lineno + 1, input, out, expected);
        }
      free (out);
      gsi_error_clear (&err);
      ran++;
    }
  print_message ("shell: %d envVarTest peer lines run (%d Windows-only lines skipped)\n", ran, windows_only);
  assert_true (ran > 150);
  free (data);
  cf_env_clear (&env);
}

/* ---- BuildKit's wordsTest: "input | w1,w2"; "ENV k=v" lines add variables ---- */

static void
check_words_line (int lineno, const char *input, const char *exp_field, const cf_env *env)
{
  gsi_strvec got = GSI_STRVEC_INIT;
  gsi_strvec want = GSI_STRVEC_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *copy, *p;

  /* As TestShellParser4Words: leading spaces trimmed, trailing spaces kept, split on ','.  */
  while (*exp_field == ' ')
    exp_field++;
  copy = strdup (exp_field);
  p = copy;
  while (p)
    gsi_strvec_push (&want, strsep (&p, ","));
  free (copy);

  if (cf_shell_words (input, env, NULL, &got, &err) < 0)
    {
      assert_non_null (err.msg);
      gsi_strvec_push (&got, "error");
    }
  if (got.n != want.n)
    fail_msg ("wordsTest:%d: `%s` gave %zu words, want %zu", lineno, input, got.n, want.n);
  for (size_t i = 0; i < want.n; i++)
    if (strcmp (got.v[i], want.v[i]) != 0)
      fail_msg ("wordsTest:%d: `%s` word %zu is `%s`, want `%s`", lineno, input, i, got.v[i], want.v[i]);
  gsi_strvec_clear (&got);
  gsi_strvec_clear (&want);
  gsi_error_clear (&err);
}

static void
test_peer_words (void **state)
{
  (void) state;
  cf_env env = CF_ENV_INIT;
  char *data = read_peer ("wordsTest");
  int lineno = 0, ran = 0, envs = 0;

  if (data == NULL)
    {
      print_message ("shell: wordsTest peer lines are NOT RUN\n");
      skip ();
    }
  for (char *line = data; line;)
    {
      char *cur = strsep (&line, "\n");
      char *bar;
      lineno++;
      if (line == NULL && *cur == '\0')
        break; /* after the final newline */
      if (cur[0] == '#')
        continue;
      if (strncmp (cur, "ENV ", 4) == 0)
        {
          char *kv = cur + 3, *eq;
          while (*kv == ' ')
            kv++;
          eq = strchr (kv, '=');
          if (eq)
            *eq = '\0';
          cf_env_set (&env, kv, eq ? eq + 1 : "");
          envs++;
          continue;
        }
      bar = strchr (cur, '|');
      if (bar == NULL || strchr (bar + 1, '|'))
        fail_msg ("wordsTest:%d: should be exactly one '|': %s", lineno, cur);
      *bar = '\0';
      check_words_line (lineno, trim_ascii (cur), bar + 1, &env);
      ran++;
    }
  print_message ("shell: %d wordsTest peer lines run (plus %d ENV lines)\n", ran, envs);
  assert_true (ran > 20);
  free (data);
  cf_env_clear (&env);
}

/* ---- pattern operators and reporting (lex_test.go's TestProcessWithMatches, and more) ---- */

struct match_case
{
  const char *input;
  const char *env;       /* "A=1;B=" */
  const char *expected;  /* NULL: must fail */
  const char *matched;   /* sorted, comma-separated; NULL: not checked */
  const char *unmatched;
};

static const struct match_case match_cases[] = {
  { "x", "DUMMY=dummy", "x", "", "" },
  { "x ${UNUSED}", "DUMMY=dummy", "x ", "", "UNUSED" },
  { "x ${FOO}", "FOO=y", "x y", "FOO", "" },
  { "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", "FOO=xxx;BAR=", "xxx  ccc", "BAR,FOO", "BAZ" },
  { "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", "FOO=xxx;BAR=", "xxx bbb ccc", "BAR,FOO", "BAZ" },
  { "${FOO:-}", "FOO=xxx;BAR=", "xxx", "FOO", "" },
  { "${FOO:-}", "", "", "", "FOO" },
  { "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", "FOO=xxx;BAR=", "aaa bbb ", "BAR,FOO", "BAZ" },
  { "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", "FOO=xxx;BAR=", "aaa  ", "BAR,FOO", "BAZ" },
  { "${FOO?aaa}", "FOO=xxx;BAR=", "xxx", "FOO", "" },
  { "${BAR?bbb}", "FOO=xxx;BAR=", "", "BAR", "" },
  { "${BAZ?ccc}", "FOO=xxx;BAR=", NULL, "", "BAZ" },
  { "${FOO:?aaa}", "FOO=xxx;BAR=", "xxx", "FOO", "" },
  { "${BAR:?bbb}", "FOO=xxx;BAR=", NULL, "BAR", "" },
  { "${BAZ:?ccc}", "FOO=xxx;BAR=", NULL, "", "BAZ" },
  { "${BAZ:?}", "FOO=xxx;BAR=", NULL, "", "BAZ" },
  { "${FOO=aaa}", "FOO=xxx;BAR=", NULL, "", "" },
  { "${FOO=:aaa}", "FOO=xxx;BAR=", NULL, "", "" },
  { "${FOO=}", "", NULL, "", "" },
  /* regexp characters are literal; } must be escaped inside ${} */
  { "${FOO#()[]{\\}^$.\\*\\?|\\\\}", "FOO=()[]{}^$.*?|\\x", "x", "FOO", "" },
  { "${FOO%%\\**}", "FOO=xx**", "xx", "FOO", "" },
  { "${FOO#*x*y}", "FOO=xxyy", "y", "FOO", "" },
  { "${FOO#*}", "FOO=xxyy", "xxyy", "FOO", "" },
  { "${FOO#$BAR}", "FOO=xxyy;BAR=x", "xyy", "BAR,FOO", "" },
  { "${FOO#$BAR}", "FOO=xxyy;BAR=", "xxyy", "BAR,FOO", "" },
  { "${FOO#}", "FOO=xxyy", "xxyy", "FOO", "" },
  { "${FOO##*x}", "FOO=xxyy", "yy", "FOO", "" },
  { "${FOO##}", "FOO=xxyy", "xxyy", "FOO", "" },
  { "${FOO#?\\?}", "FOO=???y", "?y", "FOO", "" },
  { "${ABC:-.}${FOO%x}${ABC:-.}", "FOO=xxyy", ".xxyy.", "FOO", "ABC" },
  { "${FOO%%\\**\\*}", "FOO=a***yy*", "a", "FOO", "" },
  { "${FOO%}", "FOO=xxyy", "xxyy", "FOO", "" },
  { "${FOO%%$BAR}", "FOO=xxyy;BAR=", "xxyy", "BAR,FOO", "" },
  { "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", "FOO=/foo*/*/*.txt;NEEDLE=\\*/", "/foo.*/*.txt - /foo..*.txt",
    "FOO,NEEDLE", "" },
  { "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", "FOO=/tmp/tmp/bar.txt;NEEDLE=/tmp", "/tmp/bar.txt - /bar.txt",
    "FOO,NEEDLE", "" },
  { "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}", "FOO=/a/foo/b/c.txt;NEEDLE=/?/;REPLACEMENT=/",
    "/foo/b/c.txt - /foo/c.txt", "FOO,NEEDLE,REPLACEMENT", "" },
  { "${FOO/$NEEDLE/$REPLACEMENT}", "FOO=http://google.de;NEEDLE=http://;REPLACEMENT=https://",
    "https://google.de", "FOO,NEEDLE,REPLACEMENT", "" },
  { "${FOO//\\//\\/}", "FOO=/tmp/foo.txt", "\\/tmp\\/foo.txt", "FOO", "" },
  { "${FOO/$BAR/ww}", "FOO=xxyy;BAR=", "wwxxyy", "BAR,FOO", "" },
  { "${FOO//ww}", "FOO=xxyy", NULL, NULL, NULL },
  { "${FOO//}", "FOO=xxyy", NULL, NULL, NULL },
  { "${FOO///}", "FOO=xxyy", "xxyy", "FOO", "" },
  { "${FOO///}", "", "", "", "FOO" },
  /* TestProcessWithMatchesPlatform */
  { "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
    "VERSION=v1.2.3;TARGETOS=linux;TARGETARCH=arm;TARGETVARIANT=v7", "something-v1.2.3.linux-arm-v7.tar.gz",
    "TARGETARCH,TARGETOS,TARGETVARIANT,VERSION", "" },
  { "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
    "VERSION=v1.2.3;TARGETOS=linux;TARGETARCH=amd64", "something-v1.2.3.linux-amd64.tar.gz",
    "TARGETARCH,TARGETOS,VERSION", "TARGETVARIANT" },

  /* Our own: shortest and longest, from either end.  */
  { "${V#*/}|${V##*/}|${V%/*}|${V%%/*}", "V=a/b/c", "b/c|c|a/b|a", "V", "" },
  { "${V%b*}|${V%%b*}|${V#*b}|${V##*b}", "V=abcb", "abc|a|cb|", "V", "" },
  { "${V#?}|${V%?}|${V#??????}", "V=abc", "bc|ab|abc", "V", "" },
  { "${V#a}|${V#b}|${V%c}|${V%b}", "V=abc", "bc|abc|ab|abc", "V", "" },
  /* '*' and '?' do not match a newline (Go's '.') */
  { "${V##*}", "V=a\nb", "\nb", "V", "" },
  { "${V%%*}", "V=a\nb", "a\n", "V", "" },
  { "${V#?}", "V=\nb", "\nb", "V", "" },
  { "${V//?/x}", "V=a\nb", "x\nx", "V", "" },
  /* multibyte runes count as one character */
  { "${V#?}|${V%?}", "V=\xed\x95\x9c\xea\xb5\xad", "\xea\xb5\xad|\xed\x95\x9c", "V", "" },
  /* replace: first vs all, empty matches, anchoring nowhere */
  { "${V/o/0}|${V//o/0}", "V=foo", "f0o|f00", "V", "" },
  { "${V//*/x}", "V=abc", "x", "V", "" },
  { "${V//*/x}", "V=", "x", "V", "" },
  { "${V//x*/y}", "V=axbxc", "ay", "V", "" },
  { "${V/?/}", "V=", "", "V", "" },
  { "${V//b/\\$0\\$0}", "V=abc", "a\\b\\bc", "V", "" },
  { "${V/b/\\$0}", "V=abc", "a\\$0c", "V", "" },
  { "${V//b/\\$\\$}", "V=abc", "a\\$\\$c", "V", "" },
  { "${V//b/$R}", "V=abc;R=[${0}|$00|$1|$$]", "a[b|||$]c", "R,V", "" },
  { "${V//$P/-}", "V=a.b.c;P=.", "a-b-c", "P,V", "" },
  /* bad escapes in patterns */
  { "${V#\\x}", "V=abc", NULL, NULL, NULL },
  { "${V#$P}", "V=abc;P=a\\", NULL, NULL, NULL },
  { "${V/\\a/b}", "V=abc", NULL, NULL, NULL },
  /* nested words, quotes and escapes inside modifiers */
  { "${X:-'a}b'}", "", "a}b", "", "X" },
  { "${X:-\"$Y z\"}", "Y=y", "y z", "Y", "X" },
  { "${X:-\\}}", "", "}", "", "X" },
  { "${X:-${Y:-${Z:-deep}}}", "", "deep", "", "X,Y,Z" },
  { "${Y:+${Y}-${Y}}", "Y=1", "1-1", "Y", "" },
  { "${X#}x", "X=a", "ax", "X", "" },
  { "${X:#a}", "X=abc", NULL, "", "" },
  { "${X:%c}", "X=abc", NULL, "", "" },
  { "${X:##a}", "X=abc", NULL, "", "" },
  { "${X:/a/b}", "X=abc", NULL, NULL, NULL },
  { "${X:}", "X=abc", NULL, NULL, NULL },
  { "${X:}}", "X=abc", NULL, NULL, NULL },
  { "${X", "X=abc", NULL, NULL, NULL },
  { "${X:-", "X=abc", NULL, NULL, NULL },
  /* special and positional parameters are names too */
  { "${-:-a}${#:-b}${@}$0$12x", "", "abx", "", "#,-,0,12,@" },
  /* reported once however often used */
  { "$A $A ${A} ${A:-x} ${B}${B}", "A=1", "1 1 1 1 ", "A", "B" },
  /* names are case-sensitive */
  { "$foo|$FOO", "FOO=up", "|up", "FOO", "foo" },
  /* a name runs over Unicode letters and digits */
  { "$K\xed\x95\x9c|${K}\xed\x95\x9c", "K=v", "|v\xed\x95\x9c", "K", "K\xed\x95\x9c" },
  /* byte order mark at the start only; invalid UTF-8 reads as U+FFFD */
  { "\xEF\xBB\xBF$A", "A=1", "1", "A", "" },
  { "a\xEF\xBB\xBF", "", "a\xEF\xBB\xBF", "", "" },
  { "a\xff$A\xc3", "A=1", "a\xEF\xBF\xBD" "1\xEF\xBF\xBD", "A", "" },
};

static void
run_match_case (const struct match_case *c, const cf_shell_opts *base)
{
  cf_env env = CF_ENV_INIT;
  gsi_strvec matched = GSI_STRVEC_INIT, unmatched = GSI_STRVEC_INIT;
  cf_shell_opts opts = *base;
  gsi_error err = GSI_ERROR_INIT;
  char *out = NULL;
  int ret;

  env_from_spec (&env, c->env);
  opts.matched = &matched;
  opts.unmatched = &unmatched;
  ret = cf_shell_expand (c->input, &env, &opts, &out, &err);
  if (c->expected == NULL)
    {
      if (ret == 0)
        fail_msg ("`%s` should fail but gave `%s`", c->input, out);
      assert_non_null (err.msg);
      assert_non_null (strstr (err.msg, "failed to process"));
    }
  else
    {
      if (ret != 0)
        fail_msg ("`%s` failed: %s", c->input, err.msg);
      if (strcmp (out, c->expected) != 0)
        fail_msg ("`%s` gave `%s`, want `%s`", c->input, out, c->expected);
    }
  if (c->matched)
    {
      char *m = sorted_join (&matched), *u = sorted_join (&unmatched);
      if (strcmp (m, c->matched) != 0 || strcmp (u, c->unmatched) != 0)
        fail_msg ("`%s`: matched `%s` unmatched `%s`, want `%s` and `%s`", c->input, m, u, c->matched,
                  c->unmatched);
      free (m);
      free (u);
    }
  free (out);
  gsi_error_clear (&err);
  gsi_strvec_clear (&matched);
  gsi_strvec_clear (&unmatched);
  cf_env_clear (&env);
}

static void
test_process_with_matches (void **state)
{
  (void) state;
  cf_shell_opts opts = { .escape = '\\' };

  for (size_t i = 0; i < sizeof (match_cases) / sizeof (match_cases[0]); i++)
    run_match_case (&match_cases[i], &opts);
  print_message ("shell: %zu pattern/match cases run\n", sizeof (match_cases) / sizeof (match_cases[0]));
}

/* ---- options ---- */

struct opt_case
{
  const char *input;
  const char *env;
  const char *expected;
};

static void
run_opt_cases (const struct opt_case *cases, size_t n, const cf_shell_opts *opts)
{
  for (size_t i = 0; i < n; i++)
    {
      cf_env env = CF_ENV_INIT;
      gsi_error err = GSI_ERROR_INIT;
      char *out = NULL;

      env_from_spec (&env, cases[i].env);
      if (cf_shell_expand (cases[i].input, &env, opts, &out, &err) < 0)
        {
          if (cases[i].expected)
            fail_msg ("`%s` failed: %s", cases[i].input, err.msg);
        }
      else if (cases[i].expected == NULL)
        fail_msg ("`%s` should fail but gave `%s`", cases[i].input, out);
      else if (strcmp (out, cases[i].expected) != 0)
        fail_msg ("`%s` gave `%s`, want `%s`", cases[i].input, out, cases[i].expected);
      free (out);
      gsi_error_clear (&err);
      cf_env_clear (&env);
    }
}

#define N_CASES(a) (sizeof (a) / sizeof ((a)[0]))

static void
test_backtick_escape (void **state)
{
  (void) state;
  static const struct opt_case cases[] = {
    { "a`$B", "B=x", "a$B" },
    { "a\\$B", "B=x", "a\\x" },
    { "C:\\path\\to", "", "C:\\path\\to" },
    { "\"a`\"b\"", "", "a\"b" },
    { "\"a`$B\"", "B=x", "a$B" },
    { "\"a``b\"", "", "a`b" },
    { "\"a`b\"", "", "a`b" },
    { "\"a\\\"", "", "a\\" },
    { "a` b", "", "a b" },
    { "ab`", "", "ab" },
    { "'a`b'", "", "a`b" },
    { "\"ab`", "", NULL },
    { "${X:-a`}b}", "", "a}b" },
  };
  cf_shell_opts opts = { .escape = '`' };

  run_opt_cases (cases, N_CASES (cases), &opts);
}

static void
test_lex_switches (void **state)
{
  (void) state;
  static const struct opt_case skip_unset[] = {
    { "$FOO ${FOO} ${FOO:-x} ${FOO/a/b} ${FOO//a/b} $BAR ${BAR:+y}", "BAR=1",
      "$FOO ${FOO} ${FOO:-x} ${FOO/a/b} ${FOO/a/b} 1 y" },
    { "${FOO:?must}", "", "${FOO:?must}" },
    { "${FOO:YY}", "", "${FOO:YY}" },
  };
  static const struct opt_case raw_quotes[] = {
    { "\"a b\" 'c$A' \"$A\"", "A=1", "\"a b\" 'c$A' \"1\"" },
  };
  static const struct opt_case raw_escapes[] = {
    { "a\\$b\\ c", "b=x", "a\\$b\\ c" },
    { "\"a\\\"b\\c\"", "", "a\\\"b\\\\c" },
    { "${X:-a\\$b}", "b=x", "a$b" },
  };
  static const struct opt_case skip_quotes[] = {
    { "'$A' \"$A\"", "A=1", "'1' \"1\"" },
    { "it's", "", "it's" },
  };
  cf_shell_opts o1 = { .escape = '\\', .skip_unset_env = true };
  cf_shell_opts o2 = { .escape = '\\', .raw_quotes = true };
  cf_shell_opts o3 = { .escape = '\\', .raw_escapes = true };
  cf_shell_opts o4 = { .escape = '\\', .skip_process_quotes = true };

  run_opt_cases (skip_unset, N_CASES (skip_unset), &o1);
  run_opt_cases (raw_quotes, N_CASES (raw_quotes), &o2);
  run_opt_cases (raw_escapes, N_CASES (raw_escapes), &o3);
  run_opt_cases (skip_quotes, N_CASES (skip_quotes), &o4);
}

/* ---- words ---- */

static void
expect_words (const char *input, const char *env_spec, const char *const *want, size_t n)
{
  cf_env env = CF_ENV_INIT;
  gsi_strvec out = GSI_STRVEC_INIT;
  gsi_error err = GSI_ERROR_INIT;

  env_from_spec (&env, env_spec);
  gsi_strvec_push (&out, "kept");
  if (cf_shell_words (input, &env, NULL, &out, &err) < 0)
    fail_msg ("`%s` failed: %s", input, err.msg);
  assert_int_equal (out.n, n + 1);
  assert_string_equal (out.v[0], "kept");
  for (size_t i = 0; i < n; i++)
    assert_string_equal (out.v[i + 1], want[i]);
  gsi_strvec_clear (&out);
  cf_env_clear (&env);
}

static void
test_words (void **state)
{
  (void) state;
  static const char *const w1[] = { "a", "b", "c" };
  static const char *const w2[] = { "a b", "c" };
  static const char *const w3[] = { "x", "y", "z" };
  static const char *const w4[] = { "a\\", "b" };
  static const char *const w5[] = { "p=1", "q=2 3" };
  gsi_strvec out = GSI_STRVEC_INIT;
  gsi_error err = GSI_ERROR_INIT;

  expect_words ("a  b\t c ", "", w1, 3);
  expect_words ("'a b' c", "", w2, 2);
  expect_words ("\"\"", "", NULL, 0);
  expect_words ("", "", NULL, 0);
  expect_words ("$V", "V= x  y\tz ", w3, 3);
  expect_words ("a\\\\ b", "", w4, 2);
  expect_words ("p=1 q=\"2 3\"", "", w5, 2);
  /* Unicode spaces split too (unicode.IsSpace) */
  expect_words ("x\xc2\xa0y\xe3\x80\x80z", "", w3, 3);

  /* on error nothing is appended */
  assert_int_equal (cf_shell_words ("a b 'c", NULL, NULL, &out, &err), -1);
  assert_int_equal (out.n, 0);
  assert_non_null (strstr (err.msg, "single-quote"));
  gsi_error_clear (&err);
}

/* ---- errors ---- */

static void
expect_error (const char *input, const char *env_spec, const char *cause)
{
  cf_env env = CF_ENV_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *out = NULL;

  env_from_spec (&env, env_spec);
  if (cf_shell_expand (input, &env, NULL, &out, &err) == 0)
    fail_msg ("`%s` should fail, gave `%s`", input, out);
  if (strstr (err.msg, cause) == NULL)
    fail_msg ("`%s`: error `%s` lacks `%s`", input, err.msg, cause);
  gsi_error_clear (&err);
  cf_env_clear (&env);
}

static void
test_errors (void **state)
{
  (void) state;
  cf_env env = CF_ENV_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *out = NULL;
  gsi_buf deep = GSI_BUF_INIT;

  expect_error ("a'b", "", "failed to process `a'b`: unexpected end of statement while looking for matching single-quote");
  expect_error ("\"ab", "", "matching double-quote");
  expect_error ("${}", "", "syntax error: bad substitution");
  expect_error ("${:-x}", "", "syntax error: bad substitution");
  expect_error ("${", "", "syntax error: missing '}'");
  expect_error ("${aaa:-bbb", "", "syntax error: missing '}'");
  expect_error ("${a/b", "", "syntax error: missing '/' in ${}");
  expect_error ("${a/b/c", "", "syntax error: missing '}'");
  expect_error ("${a:=b}", "", "unsupported modifier (:=) in substitution");
  expect_error ("${a.b}", "", "unsupported modifier (.) in substitution");
  expect_error ("${a:%b}", "a=b", "unsupported modifier (:%) in substitution");
  expect_error ("${X?}", "", "X: is not allowed to be unset");
  expect_error ("${X:?}", "X=", "X: is not allowed to be empty");
  expect_error ("${X#\\q}", "X=a", "invalid pattern (\\q) in substitution: invalid escape '\\q'");
  /* TestShellParserMandatoryEnvVars */
  expect_error ("${VAR:?message here$ARG}", "VAR=;ARG=x", "message herex");
  expect_error ("${VAR:?message here$ARG}", "ARG=x", "message herex");
  expect_error ("${VAR?message here$ARG}", "ARG=x", "message herex");
  /* a nested error is reported as it is, not as a missing brace */
  expect_error ("${a:-${b?gone}}", "", "b: gone");

  env_from_spec (&env, "VAR=;ARG=x");
  assert_int_equal (cf_shell_expand ("${VAR?message here$ARG}", &env, NULL, &out, &err), 0);
  assert_string_equal (out, "");
  free (out);
  cf_env_clear (&env);

  /* multiplying replacements are stopped, not left to eat the memory */
  {
    gsi_buf bomb = GSI_BUF_INIT;
    gsi_buf_addstr (&bomb, "${V//?/$V}");
    for (int i = 0; i < 4; i++)
      {
        gsi_buf wrapped = GSI_BUF_INIT;
        gsi_buf_addf (&wrapped, "${V//?/%s}", bomb.buf);
        gsi_buf_release (&bomb);
        bomb = wrapped;
      }
    gsi_buf big = GSI_BUF_INIT;
    for (int i = 0; i < 200; i++)
      gsi_buf_addstr (&big, "abcdefghij");
    gsi_buf spec = GSI_BUF_INIT;
    gsi_buf_addf (&spec, "V=%s", big.buf);
    expect_error (bomb.buf, spec.buf, "substitution too large to expand");
    gsi_buf_release (&bomb);
    gsi_buf_release (&big);
    gsi_buf_release (&spec);
  }

  /* absurd nesting is an error, not a stack overflow */
  for (int i = 0; i < 5000; i++)
    gsi_buf_addstr (&deep, "${a:-");
  expect_error (deep.buf, "", "nested");
  gsi_buf_release (&deep);
}

/* ---- cf_env ---- */

static void
test_env (void **state)
{
  (void) state;
  cf_env env = CF_ENV_INIT;

  assert_null (cf_env_get (&env, "foo"));
  assert_null (cf_env_get (NULL, "foo"));
  cf_env_set (&env, "foo", "bar");
  cf_env_set (&env, "car", "hat");
  assert_string_equal (cf_env_get (&env, "foo"), "bar");
  assert_string_equal (cf_env_get (&env, "car"), "hat");
  cf_env_set (&env, "car", "bike");
  assert_string_equal (cf_env_get (&env, "car"), "bike");
  assert_int_equal (env.vars.n, 2);
  assert_null (cf_env_get (&env, "FOO"));
  assert_null (cf_env_get (&env, "fo"));
  assert_null (cf_env_get (&env, "fooo"));
  cf_env_set (&env, "empty", "");
  assert_string_equal (cf_env_get (&env, "empty"), "");
  cf_env_set (&env, "eq", "a=b");
  assert_string_equal (cf_env_get (&env, "eq"), "a=b");
  /* entries pushed directly: no '=' means empty, a later one wins */
  gsi_strvec_push (&env.vars, "bare");
  gsi_strvec_push (&env.vars, "foo=later");
  assert_string_equal (cf_env_get (&env, "bare"), "");
  assert_string_equal (cf_env_get (&env, "foo"), "later");
  cf_env_clear (&env);
  assert_int_equal (env.vars.n, 0);
  assert_null (cf_env_get (&env, "foo"));
  cf_env_clear (&env);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_peer_env_var),
    cmocka_unit_test (test_peer_words),
    cmocka_unit_test (test_process_with_matches),
    cmocka_unit_test (test_backtick_escape),
    cmocka_unit_test (test_lex_switches),
    cmocka_unit_test (test_words),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_env),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
