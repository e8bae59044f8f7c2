/* .dockerignore: the reader, the matcher (patternmatcher's rules and its Go-regexp quirks), the
 * walker's descend question and the choice of file.  */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "containerfile/ignore.h"
#include "util/error.h"
#include "util/xalloc.h"

/* ---- helpers ---- */

static cf_ignore *
parse_ok (const char *text)
{
  gsi_error err = GSI_ERROR_INIT;
  cf_ignore *ig = NULL;

  if (cf_ignore_parse ("t.dockerignore", text, strlen (text), &ig, &err) < 0)
    fail_msg ("parse of `%s` failed: %s", text, err.msg);
  assert_non_null (ig);
  return ig;
}

/* Patterns are given one per line.  Both questions must agree except in the one corner where
 * the walker differs (test_walker_corner).  */
static void
expect_walk (const char *patterns, const char *path, bool want, bool want_walked)
{
  cf_ignore *ig = parse_ok (patterns);
  bool got = cf_ignore_excluded (ig, path);
  bool walked = cf_ignore_excluded_as_walked (ig, path);

  if (got != want)
    fail_msg ("patterns `%s`, path `%s`: excluded=%d, want %d", patterns, path, got, want);
  if (walked != want_walked)
    fail_msg ("patterns `%s`, path `%s`: excluded_as_walked=%d, want %d", patterns, path, walked, want_walked);
  cf_ignore_free (ig);
}

static void
expect_excluded (const char *patterns, const char *path, bool want)
{
  expect_walk (patterns, path, want, want);
}

static void
expect_parse_error (const char *text, const char *want_msg)
{
  gsi_error err = GSI_ERROR_INIT;
  cf_ignore *ig = NULL;

  if (cf_ignore_parse ("t.dockerignore", text, strlen (text), &ig, &err) == 0)
    {
      cf_ignore_free (ig);
      fail_msg ("`%s` should not parse", text);
    }
  assert_null (ig);
  if (strstr (err.msg, want_msg) == NULL)
    fail_msg ("`%s`: error `%s` lacks `%s`", text, err.msg, want_msg);
  gsi_error_clear (&err);
}

struct match_case
{
  const char *pattern;
  const char *path;
  bool excluded;
};

static void
run_cases (const struct match_case *c, size_t n)
{
  for (size_t i = 0; i < n; i++)
    expect_excluded (c[i].pattern, c[i].path, c[i].excluded);
}

#define N_CASES(a) (sizeof (a) / sizeof ((a)[0]))

/* ---- single patterns ---- */

static void
test_double_star (void **state)
{
  (void) state;
  static const struct match_case cases[] = {
    { "**", "file", true },
    { "**", "dir/file", true },
    { "**/", "file", true },
    { "**/**", "dir/file", true },
    { "dir/**", "dir/file", true },
    { "dir/**", "dir/dir2/file", true },
    { "dir/**", "dir", false },
    { "dir/**", "dirx/file", false },
    { "**/dir", "dir", true },
    { "**/dir", "a/b/dir", true },
    { "**/dir", "dir/file", true }, /* through the parent */
    { "**/dir", "adir", false },
    { "**/dir2/*", "dir/dir2/file", true },
    { "**/dir2/*", "dir/dir2/file/deeper", true },
    { "**/dir2/*", "dir/dir2", false },
    { "**/dir2/**", "dir/dir2/dir3/file", true },
    { "**file", "file", true },
    { "**file", "dir/dir/file", true },
    /* a leading ** is a plain suffix test, so this matches too (as in BuildKit) */
    { "**file", "dir/myfile", true },
    { "**/file", "dir/myfile", false },
    { "**/file*", "dir/dir/file.txt", true },
    { "**/file*txt", "dir/dir/file.txt", true },
    { "**/**/*.txt", "dir/dir/file.txt", true },
    { "**/**/*.txt2", "dir/dir/file.txt", false },
    { "**/*.txt", "file.txt", true },
    { "**/**/*.txt", "file.txt", true },
    { "a**/*.txt", "a/file.txt", true },
    { "a**/*.txt", "a/dir/dir/file.txt", true },
    { "a**/*.txt", "ab/file.txt", true },
    { "a/*.txt**", "a/file.txt", true },
    { "a**", "abc/def", true }, /* prefix test */
    { "**/foo/bar", "foo/bar", true },
    { "**/foo/bar", "dir/dir2/foo/bar", true },
    { "**/.foo", ".foo", true },
    { "**/.foo", "bar.foo", false },
    { "x/**/y", "x/y", true },
    { "x/**/y", "x/a/b/y", true },
    { "x/**/y", "x/a/by", false },
  };
  run_cases (cases, N_CASES (cases));
}

static void
test_star_question_class (void **state)
{
  (void) state;
  static const struct match_case cases[] = {
    { "*", "fileutils.go", true },
    { "*.go", "fileutils.go", true },
    { "*.go", "dir/fileutils.go", false },
    { "*c", "abc", true },
    { "a*", "a", true },
    { "a*", "ab/c", true }, /* the parent "ab" matches */
    { "a*/b", "abc/b", true },
    { "a*/b", "a/c/b", false },
    { "a*b*c*d*e*/f", "axbxcxdxe/f", true },
    { "a*b*c*d*e*/f", "axbxcxdxexxx/f", true },
    { "a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false },
    { "a*b*c*d*e*/f", "axbxcxdxexxx/fff", false },
    { "a*b?c*x", "abxbbxdbxebxczzx", true },
    { "a*b?c*x", "abxbbxdbxebxczzy", false },
    { "*x", "xxx", true },
    { "ab[c]", "abc", true },
    { "ab[b-d]", "abc", true },
    { "ab[e-g]", "abc", false },
    { "ab[^c]", "abc", false },
    { "ab[^b-d]", "abc", false },
    { "ab[^e-g]", "abc", true },
    { "a[b-d]e", "ae", false },
    { "a[b-d]e", "ace", true },
    { "a[^b-d]e", "aze", true },
    { "a?b", "a\xe2\x98\xba" "b", true },
    { "a[^a]b", "a\xe2\x98\xba" "b", true },
    { "a???b", "a\xe2\x98\xba" "b", false },
    { "[a-\xce\xb6]*", "\xce\xb1", true },
    { "*[a-\xce\xb6]", "A", false },
    { "a?b", "a/b", false },
    { "a*b", "a/b", false },
    { "[\\]a]", "]", true },
    { "[\\-]", "-", true },
    { "[x\\-]", "x", true },
    { "[x\\-]", "-", true },
    { "[x\\-]", "z", false },
    { "[\\-x]", "-", true },
    { "[\\-x]", "a", false },
    { ".*", ".foo", true },
    { ".*", "foo", false },
    { "abc.def", "abcdef", false },
    { "abc.def", "abc.def", true },
    { "abc?def", "abcZdef", true },
    { "abc?def", "abcdef", false },
    { "a(b)c/def", "a(b)c/def", true },
    { "a(b)c/def", "a(b)c/xyz", false },
    { "a.|)$(}+{bc", "a.|)$(}+{bc", true },
    { "dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true },
    { "a\\\\", "a\\", true },
    { "a\\*b", "a*b", true },
    { "a\\*b", "ab", false },
    { "a\\*b", "axb", false },
    { "\\[x]", "[x]", true },
  };
  run_cases (cases, N_CASES (cases));
}

/* What BuildKit matches because the pattern goes through Go's regexp parser.  */
static void
test_go_regexp_quirks (void **state)
{
  (void) state;
  static const struct match_case cases[] = {
    /* '?' inside brackets becomes a nested class: [[^/]] is {'[','^','/'} then ']' */
    { "[?]", "?", false },
    { "[?]", "^]", true },
    { "x[*]", "x[[]", true },
    { "x[*]", "x*", false },
    /* a raw '^' is an anchor once the pattern is a regexp */
    { "^foo*", "foobar", true },
    { "^foo", "^foo", true },
    { "^foo", "foo", false },
    { "a^b*", "a^bc", false },
    /* backslash escapes reach the regexp */
    { "\\d", "5", true },
    { "\\d", "d", false },
    { "\\pL", "\xc3\xa9", true },
    { "\\pL", "1", false },
    { "\\PL", "1", true },
    { "a\\x41", "aA", true },
    { "a\\n", "a\n", true },
    { "a\\bb", "ab", false },
    { "\\Qa", "a$", true },
    { "\\Qa", "a", false },
    { "\\Qa", "a$/x", true },
    { "a\\b", "a/b", true },
    { "a\\b", "ab/c", false },
    { "[^/]a*\\b", "xa/c", true },
    { "[[:digit:]]x", "5x", true },
    { "[[:digit:]]x", "dx", false },
    { "[[:^digit:]]x", "dx", true },
    { "[\\d]", "7", true },
    { "[^\\D]", "7", true },
    { "[^\\D]", "x", false },
    { "[\\pN]", "\xd9\xa3", true },
    /* '[' or ']' alone make a regexp; a ']' outside a class is literal */
    { "a]", "a]", true },
    /* Go's [^...] matches a newline, '.' of "**" does not */
    { "a?b", "a\nb", true },
    { "x/**", "x/a\nb", true },
    { "**/b", "a\n/b", true },
    { "a/**/b", "a/x\n/b", false },
  };
  run_cases (cases, N_CASES (cases));
}

/* ---- several patterns ---- */

static void
test_exceptions (void **state)
{
  (void) state;
  static const struct match_case cases[] = {
    { "!fileutils.go\n*.go", "fileutils.go", true },
    { "*.go\n!fileutils.go", "fileutils.go", false },
    { "*.go\n!fileutils.go", "other.go", true },
    { "docs\n!docs/README.md", "docs/README.md", false },
    { "docs\n!docs/README.md", "docs/other.md", true },
    { "docs\n!docs/README.md", "docs", true },
    { "docs/\n!docs/README.md", "docs/README.md", false },
    { "docs/*\n!docs/README.md", "docs/README.md", false },
    { "**\n!util/docker/web", "util/docker/web/foo", false },
    { "**\n!util/docker/web", "util/docker/other", true },
    { "**\n!util/docker/web\nutil/docker/web/foo", "util/docker/web/foo", true },
    { "**\n!util/docker/web\nutil/docker/web/foo", "util/docker/web/bar", false },
    { "**\n!dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false },
    /* the last pattern that matches wins */
    { "a\n!a/b\na/b/c", "a/b/c", true },
    { "a\n!a/b\na/b/c", "a/b/d", false },
    { "a\n!a/b\na/b/c", "a/x", true },
    { "*\n!keep\n!keep2", "keep2", false },
    { "*\n!keep*\nkeep3", "keep3", true },
    /* an exception that matches nothing leaves the exclusion */
    { "a\n!b", "a/x", true },
    /* the context root itself is never excluded */
    { "*", ".", false },
    { "**", "", false },
    { "*", "./", false },
    /* paths are cleaned first */
    { "a/b", "./a//b/", true },
    { "a/b", "a/c/../b", true },
    /* no patterns, nothing excluded */
    { "", "any/path/there", false },
    { "# only a comment", "any", false },
  };
  run_cases (cases, N_CASES (cases));
}

/* MatchesOrParentMatches tries every pattern on the parents again; fsutil's walker carries the
 * parent's per-pattern results down instead, so a re-exclusion skipped at "d" stays skipped.  */
static void
test_walker_corner (void **state)
{
  (void) state;
  expect_walk ("d\n!d/f\nd", "d/f", true, false);
  expect_walk ("d\n!d/f\nd", "d/f/g", true, false);
  expect_walk ("d\n!d/f\nd", "d/g", true, true);
  expect_walk ("d\n!d/f\nd", "d", true, true);
  expect_walk ("d\n!d/f\nd/f", "d/f", true, true);
  expect_walk ("**\n!a/b\n*", "a/b", true, false);
  expect_walk ("**\n!a/b\n*", "b/c", true, true);
  expect_walk ("**\n!a\n*", "a/b", true, true);
  assert_false (cf_ignore_excluded_as_walked (NULL, "x"));
}

/* ---- the reader ---- */

static void
test_read_all (void **state)
{
  (void) state;
  cf_ignore *ig;
  gsi_error err = GSI_ERROR_INIT;

  /* ignorefile_test.go's content, without the "!" lines that New rejects */
  ig = parse_ok ("test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n");
  assert_int_equal (cf_ignore_count (ig), 5);
  assert_string_equal (cf_ignore_path (ig), "t.dockerignore");
  assert_true (cf_ignore_excluded (ig, "test1"));
  assert_true (cf_ignore_excluded (ig, "test2"));
  assert_true (cf_ignore_excluded (ig, "a/file/here/x"));
  assert_true (cf_ignore_excluded (ig, "lastfile"));
  assert_false (cf_ignore_excluded (ig, "# this is a comment"));
  assert_false (cf_ignore_excluded (ig, "inverted/abs/path"));
  assert_false (cf_ignore_excluded (ig, "a/file"));
  cf_ignore_free (ig);

  /* and with them: a located error on line 8 */
  const char *with_bang = "test1\n/test2\n/a/file/here\n\nlastfile\n# c\n! /inv\n!\n! ";
  assert_int_equal (cf_ignore_parse ("x/.dockerignore", with_bang, strlen (with_bang), &ig, &err), -1);
  assert_string_equal (err.msg, "x/.dockerignore:8: illegal exclusion pattern: \"!\"");
  assert_int_equal (err.line, 8);
  gsi_error_clear (&err);

  /* a comment needs '#' in the first column */
  expect_excluded (" #x", "#x", true);
  expect_excluded ("#x", "#x", false);
  /* white space, CRLF, a Unicode space, and "!" with space after it */
  expect_excluded ("  foo \t\r\nbar\r\n", "foo", true);
  expect_excluded ("  foo \t\r\nbar\r\n", "bar", true);
  expect_excluded ("foo\xc2\xa0\n", "foo", true);
  expect_excluded ("*\n!   keep  \n", "keep", false);
  /* cleaning: dots, doubled and leading slashes */
  expect_excluded ("./a/../b/\n", "b", true);
  expect_excluded ("//x//y/\n", "x/y", true);
  expect_excluded ("/\n", "x", false);
  expect_excluded ("../x\n", "x", false);
  /* a byte order mark is dropped from the first line only */
  ig = parse_ok ("\xEF\xBB\xBF# comment\nfoo\n");
  assert_int_equal (cf_ignore_count (ig), 1);
  cf_ignore_free (ig);
  expect_excluded ("a\n\xEF\xBB\xBF" "b\n", "b", false);
  expect_excluded ("a\n\xEF\xBB\xBF" "b\n", "\xEF\xBB\xBF" "b", true);
  /* no final newline, blank lines, NUL bytes in a pattern */
  ig = parse_ok ("\n\n   \nlast");
  assert_int_equal (cf_ignore_count (ig), 1);
  assert_true (cf_ignore_excluded (ig, "last"));
  cf_ignore_free (ig);
  assert_int_equal (cf_ignore_parse ("n", "a\0b\nc", 5, &ig, &err), 0);
  assert_int_equal (cf_ignore_count (ig), 2);
  assert_false (cf_ignore_excluded (ig, "a"));
  assert_true (cf_ignore_excluded (ig, "c"));
  cf_ignore_free (ig);
}

static void
test_bad_patterns (void **state)
{
  (void) state;
  static const char *const bad_globs[] = {
    "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "a\\", "[a-b-c]", "[\\", "*[", "[a*",
    "x/[\xff]",
  };
  char msg[256];

  for (size_t i = 0; i < N_CASES (bad_globs); i++)
    {
      snprintf (msg, sizeof msg, "t.dockerignore:1: syntax error in pattern `%s`", bad_globs[i]);
      expect_parse_error (bad_globs[i], msg);
    }
  expect_parse_error ("ok\n# fine\n\nsub/[\n", "t.dockerignore:4: syntax error in pattern `sub/[`");
  expect_parse_error ("!", "t.dockerignore:1: illegal exclusion pattern");
  expect_parse_error ("a\n! \n", "t.dockerignore:2: illegal exclusion pattern");
  expect_parse_error ("!/", "illegal exclusion pattern");
  /* valid for filepath.Match, rejected by Go's regexp parser (BuildKit fails once it is used) */
  expect_parse_error ("[z-a]", "invalid character class range");
  expect_parse_error ("a[b-?]", "invalid character class range");
  expect_parse_error ("[[:foo:]]", "invalid character class range");
  expect_parse_error ("\\1x", "invalid escape sequence");
  expect_parse_error ("\\q", "invalid escape sequence");
  expect_parse_error ("\\C", "invalid escape sequence");
  expect_parse_error ("\\xZZ", "invalid escape sequence");
  expect_parse_error ("\\p*", "invalid character class range");
  expect_parse_error ("\\p{L}", "invalid character class range");
  expect_parse_error ("\\E", "invalid escape sequence");

  /* a line longer than bufio.Scanner takes */
  size_t n = 70000;
  char *big = malloc (n + 1);
  memset (big, 'a', n);
  big[n] = '\0';
  expect_parse_error (big, "t.dockerignore:1: line longer than 65535 bytes");
  big[65535] = '\0';
  expect_excluded (big, big, true);
  free (big);
}

/* ---- may_include_below ---- */

static void
expect_descend (const char *patterns, const char *dir, bool want)
{
  cf_ignore *ig = parse_ok (patterns);
  bool got = cf_ignore_may_include_below (ig, dir);

  if (got != want)
    fail_msg ("patterns `%s`, dir `%s`: may_include_below=%d, want %d", patterns, dir, got, want);
  cf_ignore_free (ig);
}

static void
test_may_include_below (void **state)
{
  (void) state;
  expect_descend ("a", "a", false);
  expect_descend ("**", "a", false);
  expect_descend ("a\n!a/b/c", "a", true);
  expect_descend ("a\n!a/b/c", "a/b", true);
  expect_descend ("a\n!a/b/c", "a/b/c", true);
  expect_descend ("a\n!a/b/c", "a/c", false);
  expect_descend ("a\n!a/b/c", "x", false);
  expect_descend ("a\n!a/b/c", "a/bc", false);
  expect_descend ("a\n!a/b/*", "a/b", true);
  expect_descend ("a\n!a/b/**", "a", true);
  expect_descend ("a\n!a/b/**", "c", false);
  expect_descend ("a\n!a/b/*/**", "a/b", true);
  /* an exception with glob characters: every excluded directory must be walked */
  expect_descend ("a\n!a/*.txt", "x", true);
  expect_descend ("a\n!**/keep", "anything/at/all", true);
  expect_descend ("a\n!a/[ab]", "x", true);
  /* the exception's position does not matter */
  expect_descend ("!a/b\na", "a", true);
  /* dirs are cleaned */
  expect_descend ("a\n!a/b/c", "./a/", true);
}

/* ---- choosing the file ---- */

static void
write_file (const char *path, const char *text)
{
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
}

static void
test_load_precedence (void **state)
{
  (void) state;
  char tmpl[] = "/tmp/gsi-ignore-XXXXXX";
  char *root = mkdtemp (tmpl);
  char *ctx, *cfdir, *cf, *own, *ctxfile;
  cf_ignore *ig = NULL;
  gsi_error err = GSI_ERROR_INIT;

  assert_non_null (root);
  ctx = xasprintf ("%s/context", root);
  cfdir = xasprintf ("%s/ContainerFiles", root);
  cf = xasprintf ("%s/keystone", cfdir);
  own = xasprintf ("%s/keystone.dockerignore", cfdir);
  ctxfile = xasprintf ("%s/.dockerignore", ctx);
  assert_int_equal (mkdir (ctx, 0755), 0);
  assert_int_equal (mkdir (cfdir, 0755), 0);
  write_file (cf, "FROM scratch\n");
  write_file (ctxfile, "ctx-only\n");
  write_file (own, "own-only\n!own-only/keep\n");

  /* the Containerfile's own ignore file wins, and the context's is not read at all */
  assert_int_equal (cf_ignore_load (ctx, cf, &ig, &err), 0);
  assert_string_equal (cf_ignore_path (ig), own);
  assert_int_equal (cf_ignore_count (ig), 2);
  assert_true (cf_ignore_excluded (ig, "own-only/x"));
  assert_false (cf_ignore_excluded (ig, "own-only/keep"));
  assert_false (cf_ignore_excluded (ig, "ctx-only"));
  cf_ignore_free (ig);

  /* without it, the context's */
  assert_int_equal (unlink (own), 0);
  assert_int_equal (cf_ignore_load (ctx, cf, &ig, &err), 0);
  assert_string_equal (cf_ignore_path (ig), ctxfile);
  assert_true (cf_ignore_excluded (ig, "ctx-only"));
  assert_false (cf_ignore_excluded (ig, "own-only"));
  cf_ignore_free (ig);
  assert_int_equal (cf_ignore_load (ctx, NULL, &ig, &err), 0);
  assert_string_equal (cf_ignore_path (ig), ctxfile);
  cf_ignore_free (ig);

  /* with neither, an empty matcher */
  assert_int_equal (unlink (ctxfile), 0);
  assert_int_equal (cf_ignore_load (ctx, cf, &ig, &err), 0);
  assert_null (cf_ignore_path (ig));
  assert_int_equal (cf_ignore_count (ig), 0);
  assert_false (cf_ignore_excluded (ig, "anything"));
  assert_false (cf_ignore_may_include_below (ig, "anything"));
  cf_ignore_free (ig);

  /* a bad pattern is reported at its file and line */
  write_file (own, "ok\n[oops\n");
  assert_int_equal (cf_ignore_load (ctx, cf, &ig, &err), -1);
  assert_non_null (strstr (err.msg, "keystone.dockerignore:2: syntax error in pattern `[oops`"));
  gsi_error_clear (&err);
  assert_int_equal (unlink (own), 0);

  /* an ignore file that cannot be read is an error, not a missing file */
  assert_int_equal (mkdir (ctxfile, 0755), 0);
  assert_int_equal (cf_ignore_load (ctx, cf, &ig, &err), -1);
  assert_non_null (strstr (err.msg, ".dockerignore"));
  gsi_error_clear (&err);
  assert_int_equal (rmdir (ctxfile), 0);

  /* a context that does not exist has no ignore file */
  assert_int_equal (cf_ignore_load ("/nonexistent/ctx", "/nonexistent/cf", &ig, &err), 0);
  assert_int_equal (cf_ignore_count (ig), 0);
  cf_ignore_free (ig);

  assert_int_equal (unlink (cf), 0);
  assert_int_equal (rmdir (cfdir), 0);
  assert_int_equal (rmdir (ctx), 0);
  assert_int_equal (rmdir (root), 0);
  free (ctx);
  free (cfdir);
  free (cf);
  free (own);
  free (ctxfile);
}

/* ---- robustness ---- */

static void
test_long_inputs (void **state)
{
  (void) state;
  /* many stars against a long path: the VM stays linear, no backtracking blow-up */
  char pat[2048], path[8192];
  size_t n = 0;
  cf_ignore *ig;

  for (int i = 0; i < 300; i++)
    n += (size_t) snprintf (pat + n, sizeof pat - n, "a*");
  snprintf (pat + n, sizeof pat - n, "b");
  memset (path, 'a', sizeof path - 1);
  path[sizeof path - 1] = '\0';
  ig = parse_ok (pat);
  assert_false (cf_ignore_excluded (ig, path));
  path[sizeof path - 2] = 'b';
  assert_true (cf_ignore_excluded (ig, path));
  cf_ignore_free (ig);

  /* a regexp against many parents is one pass over the path, not one per parent */
  n = 0;
  for (int i = 0; i < 200; i++)
    n += (size_t) snprintf (pat + n, sizeof pat - n, "*a");
  snprintf (pat + n, sizeof pat - n, "b");
  for (size_t i = 0; i + 2 < sizeof path; i += 2)
    path[i] = 'a', path[i + 1] = '/';
  path[sizeof path - 2] = 'c';
  ig = parse_ok (pat);
  assert_false (cf_ignore_excluded (ig, path));
  assert_false (cf_ignore_excluded_as_walked (ig, path));
  cf_ignore_free (ig);

  /* deep paths: every parent is tried */
  char deep[4096] = "";
  for (int i = 0; i < 500; i++)
    strcat (deep, "d/");
  strcat (deep, "f");
  expect_excluded ("d/d/d", deep, true);
  expect_excluded ("e", deep, false);
  assert_false (cf_ignore_excluded (NULL, "x"));
  assert_false (cf_ignore_may_include_below (NULL, "x"));
  assert_int_equal (cf_ignore_count (NULL), 0);
  cf_ignore_free (NULL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_double_star),
    cmocka_unit_test (test_star_question_class),
    cmocka_unit_test (test_go_regexp_quirks),
    cmocka_unit_test (test_exceptions),
    cmocka_unit_test (test_walker_corner),
    cmocka_unit_test (test_read_all),
    cmocka_unit_test (test_bad_patterns),
    cmocka_unit_test (test_may_include_below),
    cmocka_unit_test (test_load_precedence),
    cmocka_unit_test (test_long_inputs),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
