/* The Containerfile parser against BuildKit's parser test data and our own tables: dumps, line
 * numbers, directives, continuations, heredocs, located errors, and inputs that must not crash.  */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerfile/ast.h"
#include "util/buf.h"
#include "util/error.h"

static cf_file *
parse_ok_n (const char *src, size_t len)
{
  gsi_error err = GSI_ERROR_INIT;
  cf_file *f = NULL;

  if (cf_parse ("Containerfile", src, len, &f, &err) < 0)
    fail_msg ("unexpected parse error: %s\n--- input ---\n%s", err.msg, src);
  assert_non_null (f);
  return f;
}

static cf_file *
parse_ok (const char *src)
{
  return parse_ok_n (src, strlen (src));
}

/* Asserts that src is rejected with a message starting with prefix.  */
static void
assert_parse_error (const char *src, const char *prefix)
{
  gsi_error err = GSI_ERROR_INIT;
  cf_file *f = NULL;

  if (cf_parse ("Containerfile", src, strlen (src), &f, &err) == 0)
    {
      cf_file_free (f);
      fail_msg ("expected an error starting with '%s'\n--- input ---\n%s", prefix, src);
    }
  assert_null (f);
  assert_non_null (err.msg);
  if (strncmp (err.msg, prefix, strlen (prefix)) != 0)
    fail_msg ("error '%s' does not start with '%s'", err.msg, prefix);
  gsi_error_clear (&err);
}

static void
assert_dump (const char *src, const char *expected)
{
  cf_file *f = parse_ok (src);
  gsi_buf out = GSI_BUF_INIT;

  cf_dump (f, &out);
  if (strcmp (out.buf, expected) != 0)
    fail_msg ("dump differs\n--- input ---\n%s\n--- expected ---\n%s--- got ---\n%s", src, expected, out.buf);
  gsi_buf_release (&out);
  cf_file_free (f);
}

/* ---- BuildKit's test data ---- */

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The sorted sub-folders of dir; NULL-terminated.  */
static char **
list_cases (const char *dir, size_t *n)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  char **names = NULL;
  size_t cnt = 0;

  if (!d)
    fail_msg ("cannot open '%s'", dir);
  while ((e = readdir (d)) != NULL)
    {
      if (e->d_name[0] == '.')
        continue;
      names = realloc (names, (cnt + 2) * sizeof (*names));
      assert_non_null (names);
      names[cnt++] = strdup (e->d_name);
    }
  closedir (d);
  qsort (names, cnt, sizeof (*names), cmp_names);
  if (names)
    names[cnt] = NULL;
  *n = cnt;
  return names;
}

/* Returns NULL when the dump matches, else a message.  */
static char *
run_positive_case (const char *dir, const char *name)
{
  char path[4096], rpath[4096];
  size_t len = 0, rlen = 0;
  char *src, *want, *msg = NULL;
  gsi_error err = GSI_ERROR_INIT;
  gsi_buf out = GSI_BUF_INIT;
  cf_file *f = NULL;

  if (snprintf (path, sizeof (path), "%s/%s/Dockerfile", dir, name) >= (int) sizeof (path)
      || snprintf (rpath, sizeof (rpath), "%s/%s/result", dir, name) >= (int) sizeof (rpath))
    return strdup ("path too long");
  src = test_read_file (path, &len);
  want = test_read_file (rpath, &rlen);
  if (!src || !want)
    msg = strdup ("cannot read the case files");
  else if (cf_parse (path, src, len, &f, &err) < 0)
    {
      if (asprintf (&msg, "parse error: %s", err.msg) < 0)
        abort ();
    }
  else
    {
      cf_dump (f, &out);
      if (out.len != rlen || memcmp (out.buf, want, rlen) != 0)
        if (asprintf (&msg, "dump differs\n--- expected (%s) ---\n%s--- got ---\n%s", rpath, want, out.buf) < 0)
          abort ();
    }
  gsi_buf_release (&out);
  gsi_error_clear (&err);
  cf_file_free (f);
  free (src);
  free (want);
  return msg;
}

static void
test_peer_testfiles (void **state)
{
  (void) state;
  const char *peer = test_peer_dir ();
  char dir[4096];
  size_t n, failed = 0;
  char **names;

  if (!peer)
    skip ();
  snprintf (dir, sizeof (dir), "%s/buildkit/parser/testfiles", peer);
  names = list_cases (dir, &n);
  assert_true (n >= 20);
  for (size_t i = 0; i < n; i++)
    {
      char *msg = run_positive_case (dir, names[i]);
      if (msg)
        {
          print_error ("case testfiles/%s: %s\n", names[i], msg);
          failed++;
        }
      free (msg);
      free (names[i]);
    }
  free (names);
  print_message ("%zu BuildKit parser cases, %zu failed\n", n, failed);
  assert_int_equal (failed, 0);
}

static void
test_peer_negative (void **state)
{
  (void) state;
  const char *peer = test_peer_dir ();
  char dir[4096];
  size_t n, failed = 0;
  char **names;

  if (!peer)
    skip ();
  snprintf (dir, sizeof (dir), "%s/buildkit/parser/testfiles-negative", peer);
  names = list_cases (dir, &n);
  assert_true (n >= 2);
  for (size_t i = 0; i < n; i++)
    {
      char path[4096];
      size_t len = 0;
      char *src;
      gsi_error err = GSI_ERROR_INIT;
      cf_file *f = NULL;

      if (snprintf (path, sizeof (path), "%s/%s/Dockerfile", dir, names[i]) >= (int) sizeof (path))
        fail_msg ("path too long");
      src = test_read_file (path, &len);
      assert_non_null (src);
      if (cf_parse (path, src, len, &f, &err) == 0)
        {
          print_error ("case testfiles-negative/%s: accepted\n", names[i]);
          failed++;
          cf_file_free (f);
        }
      else if (strncmp (err.msg, path, strlen (path)) != 0)
        {
          print_error ("case testfiles-negative/%s: error '%s' is not located\n", names[i], err.msg);
          failed++;
        }
      gsi_error_clear (&err);
      free (src);
      free (names[i]);
    }
  free (names);
  assert_int_equal (failed, 0);
}

static void
test_peer_line_numbers (void **state)
{
  (void) state;
  const char *peer = test_peer_dir ();
  static const int want[][2] = { { 5, 5 }, { 11, 12 }, { 17, 31 } };
  char path[4096];
  gsi_error err = GSI_ERROR_INIT;
  cf_file *f = NULL;

  if (!peer)
    skip ();
  snprintf (path, sizeof (path), "%s/buildkit/parser/testfile-line.Dockerfile", peer);
  assert_int_equal (cf_parse_file (path, &f, &err), 0);
  assert_int_equal (f->n, 3);
  for (size_t i = 0; i < 3; i++)
    {
      assert_int_equal (f->instrs[i].start_line, want[i][0]);
      assert_int_equal (f->instrs[i].end_line, want[i][1]);
      assert_int_equal (f->instrs[i].col, 1);
    }
  /* Lines 19 and 20 are blank inside the RUN.  */
  assert_int_equal (f->warnings.n, 1);
  assert_non_null (strstr (f->warnings.v[0], "testfile-line.Dockerfile:19:1: warning: empty continuation line found in: RUN "));
  cf_file_free (f);
}

/* ---- Heredocs (the cases of BuildKit's parser_heredoc_test.go) ---- */

static const char heredoc_src[]
    = "\n"
      "FROM alpine:3.6\n"
      "\n"
      "ENV NAME=me\n"
      "\n"
      "RUN ls\n"
      "\n"
      "USER <<INVALID\n"
      "LABEL INVALID=1\n" /* BuildKit's test has a bare `INVALID`, an unknown instruction to us */
      "\n"
      "RUN <<EMPTY\n"
      "EMPTY\n"
      "\n"
      "RUN 3<<EMPTY2\n"
      "EMPTY2\n"
      "\n"
      "RUN \"<<NOHEREDOC\"\n"
      "\n"
      "RUN <<INDENT\n"
      "\tfoo\n"
      "\tbar\n"
      "INDENT\n"
      "\n"
      "RUN <<-UNINDENT\n"
      "\tbaz\n"
      "\tquux\n"
      "UNINDENT\n"
      "\n"
      "RUN <<-UNINDENT2\n"
      "\tbaz\n"
      "\tquux\n"
      "\tUNINDENT2\n"
      "\n"
      "RUN <<-EXPAND\n"
      "\texpand $NAME\n"
      "EXPAND\n"
      "\n"
      "RUN <<-'NOEXPAND'\n"
      "\tdon't expand $NAME\n"
      "NOEXPAND\n"
      "\n"
      "RUN <<COPY\n"
      "echo hello world\n"
      "echo foo bar\n"
      "COPY\n"
      "\n"
      "RUN <<COMMENT\n"
      "# internal comment\n"
      "echo hello world\n"
      "echo foo bar # trailing comment\n"
      "COMMENT\n"
      "\n"
      "RUN --mount=type=cache,target=/foo <<MOUNT\n"
      "echo hello\n"
      "MOUNT\n"
      "\n"
      "COPY <<FILE1 <<FILE2 /dest\n"
      "content 1\n"
      "FILE1\n"
      "content 2\n"
      "FILE2\n"
      "\n"
      "COPY <<EOF /quotes\n"
      "\"foo\"\n"
      "'bar'\n"
      "EOF\n"
      "\n"
      "COPY <<X <<Y /dest\n"
      "Y\n"
      "X\n"
      "X\n"
      "Y\n"
      "\n"
      "RUN <<COMPLEX python3\n"
      "print('hello world')\n"
      "COMPLEX\n"
      "\n"
      "COPY <<file.txt /dest\n"
      "hello world\n"
      "file.txt\n"
      "\n"
      "RUN <<eo'f'\n"
      "echo foo\n"
      "eof\n"
      "\n"
      "RUN <<eo\\'f\n"
      "echo foo\n"
      "eo'f\n"
      "\n"
      "RUN <<'e'o\\'f\n"
      "echo foo\n"
      "eo'f\n"
      "\n"
      "RUN <<'one two'\n"
      "echo bar\n"
      "one two\n"
      "\n"
      "RUN <<$EOF\n"
      "$EOF\n"
      "\n"
      "RUN <<  EOF\n"
      "EOF\n"
      "\n"
      "RUN <<  EOF  > foo\n"
      "EOF\n"
      "\t";

typedef struct hd_want
{
  const char *name;
  const char *content;
  bool expand;
  bool chomp;
} hd_want;

/* Per instruction after FROM: up to two heredocs; name NULL ends the list.  The <<- bodies have
 * their tabs stripped here (BuildKit strips them later, in ChompHeredocContent).  */
static const hd_want heredoc_want[][2] = {
  { { NULL, NULL, 0, 0 } },                                   /* ENV NAME=me */
  { { NULL, NULL, 0, 0 } },                                   /* RUN ls */
  { { NULL, NULL, 0, 0 } },                                   /* USER <<INVALID */
  { { NULL, NULL, 0, 0 } },                                   /* LABEL INVALID=1 */
  { { "EMPTY", "", true, false } },
  { { "EMPTY2", "", true, false } },
  { { NULL, NULL, 0, 0 } },                                   /* RUN "<<NOHEREDOC" */
  { { "INDENT", "\tfoo\n\tbar\n", true, false } },
  { { "UNINDENT", "baz\nquux\n", true, true } },
  { { "UNINDENT2", "baz\nquux\n", true, true } },
  { { "EXPAND", "expand $NAME\n", true, true } },
  { { "NOEXPAND", "don't expand $NAME\n", false, true } },
  { { "COPY", "echo hello world\necho foo bar\n", true, false } },
  { { "COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n", true, false } },
  { { "MOUNT", "echo hello\n", true, false } },
  { { "FILE1", "content 1\n", true, false }, { "FILE2", "content 2\n", true, false } },
  { { "EOF", "\"foo\"\n'bar'\n", true, false } },
  { { "X", "Y\n", true, false }, { "Y", "X\n", true, false } },
  { { "COMPLEX", "print('hello world')\n", true, false } },
  { { "file.txt", "hello world\n", true, false } },
  { { "eof", "echo foo\n", false, false } },
  { { "eo'f", "echo foo\n", true, false } },
  { { "eo'f", "echo foo\n", false, false } },
  { { "one two", "echo bar\n", false, false } },
  { { "$EOF", "", true, false } },
  { { "EOF", "", true, false } },
  { { "EOF", "", true, false } },
};

static void
test_heredocs_buildkit_table (void **state)
{
  (void) state;
  size_t ncases = sizeof (heredoc_want) / sizeof (heredoc_want[0]);
  cf_file *f = parse_ok (heredoc_src);

  assert_int_equal (f->n, ncases + 1);
  for (size_t i = 0; i < ncases; i++)
    {
      const cf_instr *in = &f->instrs[i + 1];
      size_t want_n = heredoc_want[i][0].name == NULL ? 0 : heredoc_want[i][1].name == NULL ? 1 : 2;
      if (in->nheredocs != want_n)
        fail_msg ("instruction %zu (`%s`): %zu heredocs, want %zu", i + 1, in->original, in->nheredocs, want_n);
      for (size_t k = 0; k < want_n; k++)
        {
          const hd_want *w = &heredoc_want[i][k];
          const cf_heredoc *h = &in->heredocs[k];
          assert_string_equal (h->name, w->name);
          assert_string_equal (h->content, w->content);
          assert_int_equal (h->content_len, strlen (w->content));
          assert_int_equal (h->expand, w->expand);
          assert_int_equal (h->chomp, w->chomp);
        }
    }
  /* end_line covers the bodies: COPY <<FILE1 <<FILE2 spans 5 lines.  */
  assert_int_equal (f->instrs[16].end_line - f->instrs[16].start_line, 4);
  cf_file_free (f);
}

static void
test_heredocs_from_line (void **state)
{
  (void) state;
  static const struct
  {
    const char *src;
    const char *names[3];
  } cases[] = {
    { "FROM x\nRUN <<EOF\nEOF\n", { "EOF" } },
    { "FROM x\nRUN <<-EOF\nEOF\n", { "EOF" } },
    { "FROM x\nRUN << -EOF\n-EOF\n", { "-EOF" } },
    { "FROM x\nRUN <<'EOF'\nEOF\n", { "EOF" } },
    { "FROM x\nRUN 4<<EOF\nEOF\n", { "EOF" } },
    { "FROM x\nRUN <<EOF <<EOF2\nEOF\nEOF2\n", { "EOF", "EOF2" } },
    { "FROM x\nRUN '<<EOF'\n", { NULL } },
    { "FROM x\nRUN \"<<EOF\"\n", { NULL } },
    { "FROM x\nRUN <<<EOF\n", { NULL } },
    { "FROM x\nRUN <<EO\"F\"\nEOF\n", { "EOF" } },
    { "FROM x\nRUN [\"<<EOF\"]\n", { NULL } },
    { "FROM x\nRUN [\"<<'EOF'\"]\n", { NULL } },
    /* An unterminated quote anywhere makes BuildKit's lexer fail: then there are no heredocs.  */
    { "FROM x\nRUN <<EOF 'oops\n", { NULL } },
    { "FROM x\nCOPY --chmod=755 <<EOF /a\nEOF\n", { "EOF" } },
    { "FROM x\nADD <<EOF /a\nEOF\n", { "EOF" } },
    { "FROM x\nONBUILD RUN <<EOF\nhi\nEOF\n", { "EOF" } },
    { "FROM x\nRUN cat <<EOF>out\nx\nEOF>out\n", { "EOF>out" } },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      cf_file *f = parse_ok (cases[i].src);
      const cf_instr *in = &f->instrs[f->n - 1];
      size_t want = 0;
      while (want < 3 && cases[i].names[want])
        want++;
      if (in->nheredocs != want)
        fail_msg ("case %zu: %zu heredocs, want %zu", i, in->nheredocs, want);
      for (size_t k = 0; k < want; k++)
        assert_string_equal (in->heredocs[k].name, cases[i].names[k]);
      cf_file_free (f);
    }
}

static void
test_heredoc_lines_and_onbuild (void **state)
{
  (void) state;
  cf_file *f = parse_ok ("FROM x\n  RUN <<A <<-B cat\nline a\nA\n\tline b\n\tB\nRUN next\n");

  assert_int_equal (f->n, 3);
  assert_int_equal (f->instrs[1].start_line, 2);
  assert_int_equal (f->instrs[1].end_line, 6);
  assert_int_equal (f->instrs[1].col, 3);
  assert_string_equal (f->instrs[1].heredocs[0].content, "line a\n");
  assert_string_equal (f->instrs[1].heredocs[1].content, "line b\n");
  assert_int_equal (f->instrs[2].start_line, 7);
  cf_file_free (f);

  /* The body is read verbatim: a continuation or a comment inside is text.  */
  f = parse_ok ("FROM x\nRUN <<EOF\necho a \\\n# not a comment\nEOF\n");
  assert_string_equal (f->instrs[1].heredocs[0].content, "echo a \\\n# not a comment\n");
  cf_file_free (f);

  /* CRLF lines: the terminator matches without its CR, the body keeps the bytes.  */
  f = parse_ok ("FROM x\r\nRUN <<EOF\r\nhi\r\nEOF\r\n");
  assert_string_equal (f->instrs[1].heredocs[0].content, "hi\r\n");
  cf_file_free (f);

  /* ONBUILD: the heredoc hangs on the ONBUILD instruction, as in BuildKit.  */
  f = parse_ok ("FROM x\nONBUILD RUN <<EOF\nhi\nEOF\n");
  assert_int_equal (f->instrs[1].nheredocs, 1);
  assert_non_null (f->instrs[1].sub);
  assert_string_equal (f->instrs[1].sub->keyword, "run");
  assert_int_equal (f->instrs[1].end_line, 4);
  cf_file_free (f);
}

/* ---- Directives ---- */

static void
test_directives (void **state)
{
  (void) state;
  cf_file *f;

  f = parse_ok ("# syntax=docker/dockerfile:1\n# CHECK = skip=all \n#Escape=`\nFROM x\nRUN a `\n  b\n");
  assert_string_equal (f->syntax, "docker/dockerfile:1");
  assert_string_equal (f->check, "skip=all");
  assert_int_equal (f->escape, '`');
  assert_int_equal (f->n, 2);
  assert_string_equal (f->instrs[1].args.v[0], "a   b");
  cf_file_free (f);

  /* With a backtick escape, a backslash at the end of a line is text.  */
  assert_dump ("# escape=`\nFROM x\nRUN dir c:\\\nRUN b\n", "(from \"x\")\n(run \"dir c:\\\\\")\n(run \"b\")\n");
  /* Leading blanks before a directive are allowed.  */
  assert_dump ("   # escape=`\nFROM x\nRUN a `\nb\n", "(from \"x\")\n(run \"a b\")\n");

  /* Directives stop at the first blank line, comment or instruction: later ones are comments.  */
  f = parse_ok ("FROM x\n# escape=`\nRUN a \\\nb\n");
  assert_int_equal (f->escape, '\\');
  assert_string_equal (f->instrs[1].args.v[0], "a b");
  cf_file_free (f);
  f = parse_ok ("\n# syntax=foo\nFROM x\n");
  assert_null (f->syntax);
  cf_file_free (f);
  f = parse_ok ("# hello\n# syntax=foo\nFROM x\n");
  assert_null (f->syntax);
  cf_file_free (f);
  /* An unknown key ends the directives too.  */
  f = parse_ok ("# key=value\n# syntax=foo\nFROM x\n");
  assert_null (f->syntax);
  cf_file_free (f);
  /* A BOM before the first directive is skipped.  */
  f = parse_ok ("\xEF\xBB\xBF# syntax=foo\nFROM x\n");
  assert_string_equal (f->syntax, "foo");
  cf_file_free (f);

  assert_parse_error ("# escape=`\n# escape=\\\nFROM x\n",
                      "Containerfile:2:1: only one escape parser directive can be used");
  assert_parse_error ("# syntax=a\n# SYNTAX=b\nFROM x\n", "Containerfile:2:1: only one syntax parser directive");
  assert_parse_error ("# escape=x\nFROM x\n", "Containerfile:1:1: invalid escape token 'x' does not match ` or \\");
  /* `# escape=` with nothing after it is no directive at all.  */
  f = parse_ok ("# escape=\nFROM x\n");
  assert_int_equal (f->escape, '\\');
  cf_file_free (f);
}

/* ---- Continuations, comments, whitespace ---- */

static void
test_continuations (void **state)
{
  (void) state;
  cf_file *f;

  assert_dump ("FROM x\nRUN a \\\n# comment\n  # indented comment\nb\n", "(from \"x\")\n(run \"a b\")\n");
  assert_dump ("FROM x\nRUN a \\ \t\nb\n", "(from \"x\")\n(run \"a b\")\n");
  /* An escaped escape does not continue.  */
  assert_dump ("FROM x\nRUN a \\\\\nRUN b\n", "(from \"x\")\n(run \"a \\\\\\\\\")\n(run \"b\")\n");
  /* Continuation at EOF, and a lone escape line starting an instruction.  */
  assert_dump ("FROM x\nRUN a \\", "(from \"x\")\n(run \"a\")\n");
  assert_dump ("\\\nFROM x\n", "(from \"x\")\n");
  /* Keywords are case-insensitive; leading blanks and CRLF are fine.  */
  assert_dump ("  from x\r\n\tRuN  echo  hi  \r\n", "(from \"x\")\n(run \"echo  hi\")\n");

  f = parse_ok ("FROM x\nRUN a \\\n\n  \nb \\\n\nc\n");
  assert_int_equal (f->warnings.n, 1);
  assert_string_equal (f->warnings.v[0], "Containerfile:3:1: warning: empty continuation line found in: RUN a b c");
  assert_int_equal (f->instrs[1].end_line, 7);
  cf_file_free (f);

  /* BuildKit's TestParseWarnsOnEmptyContinutationLine.  */
  f = parse_ok ("\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n"
                "    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n"
                "   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t");
  assert_int_equal (f->warnings.n, 2);
  assert_non_null (strstr (f->warnings.v[0], "RUN something     following     more"));
  assert_non_null (strstr (f->warnings.v[1], "RUN another     thing"));
  cf_file_free (f);
}

/* ---- Per-instruction argument rules ---- */

static void
test_argument_rules (void **state)
{
  (void) state;
  /* Flags, the lone `--`, quotes and escapes in flags.  */
  assert_dump ("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n",
               "(from [\"--platform=$BUILDPLATFORM\"] \"golang:1.22\" \"AS\" \"build\")\n");
  assert_dump ("FROM x\nCOPY --from=build --chown=\"a b\" --x=\\q -- --y /z\n",
               "(from \"x\")\n(copy [\"--from=build\" \"--chown=a b\" \"--x=q\"] \"--y\" \"/z\")\n");
  assert_dump ("FROM x\nRUN --mount=type=cache,target=/root/.cache echo hi\n",
               "(from \"x\")\n(run [\"--mount=type=cache,target=/root/.cache\"] \"echo hi\")\n");
  /* BuildKit reads flag bytes as Latin-1.  */
  assert_dump ("FROM x\nCOPY --chown=\xC3\xA9 a b\n", "(from \"x\")\n(copy [\"--chown=\xC3\x83\xC2\xA9\"] \"a\" \"b\")\n");
  /* JSON and shell forms.  */
  assert_dump ("FROM x\nENTRYPOINT [\"a\", \"b\\u00e9\\ud83d\\ude00\"]\nCMD [\"a\" \"b\"]\n",
               "(from \"x\")\n(entrypoint \"a\" \"bé😀\")\n(cmd \"[\\\"a\\\" \\\"b\\\"]\")\n");
  assert_dump ("FROM x\nCMD [\"a\"] trailing\nCMD [\"\\ud800x\"]\nCMD [\"a\",]\nCMD {\"a\": 1}\n",
               "(from \"x\")\n(cmd \"[\\\"a\\\"] trailing\")\n(cmd \"\xef\xbf\xbdx\")\n(cmd \"[\\\"a\\\",]\")\n"
               "(cmd \"{\\\"a\\\": 1}\")\n");
  assert_dump ("FROM x\nSHELL [\"/bin/bash\", \"-c\"]\n", "(from \"x\")\n(shell \"/bin/bash\" \"-c\")\n");
  assert_dump ("FROM x\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c  /d\nEXPOSE 80/tcp\t443\n",
               "(from \"x\")\n(volume \"/a\" \"/b\")\n(volume \"/c\" \"/d\")\n(expose \"80/tcp\" \"443\")\n");
  assert_dump ("FROM x\nUSER a b\nWORKDIR /a b\nSTOPSIGNAL SIGKILL\nMAINTAINER Me <me@x>\n",
               "(from \"x\")\n(user \"a b\")\n(workdir \"/a b\")\n(stopsignal \"SIGKILL\")\n(maintainer \"Me <me@x>\")\n");
  /* ENV and LABEL, both forms; ARG.  */
  assert_dump ("FROM x\nENV A  b c\nLABEL \"com.x\"=\"y z\" k=\nARG A B=c D=\"e f\"\n",
               "(from \"x\")\n(env \"A\" \"b c\" \"\")\n(label \"\\\"com.x\\\"\" \"\\\"y z\\\"\" \"=\" \"k\" \"\" \"=\")\n"
               "(arg \"A\" \"B=c\" \"D=\\\"e f\\\"\")\n");
  /* BuildKit's TestParseWords, through ARG; a word keeps its escapes and quotes.  */
  assert_dump ("FROM x\nARG foo\\ bar\nARG foo bar 'abc xyz'\nARG f\xc3\xb6o b\xc3\xa0r \"\xc3\xa2" "bc x\xc3\xbfz\"\n",
               "(from \"x\")\n(arg \"foo\\\\ bar\")\n(arg \"foo\" \"bar\" \"'abc xyz'\")\n"
               "(arg \"f\xc3\xb6o\" \"b\xc3\xa0r\" \"\\\"\xc3\xa2" "bc x\xc3\xbfz\\\"\")\n");
  /* Words are split on Unicode blanks; an invalid byte in a word becomes U+FFFD, but the legacy
   * `ENV k v` value is the raw rest of the line.  */
  assert_dump ("FROM x\nARG a\xc2\xa0" "b\nENV a=\xff\nENV a \xff\n",
               "(from \"x\")\n(arg \"a\" \"b\")\n(env \"a\" \"\xef\xbf\xbd\" \"=\")\n(env \"a\" \"\\xff\" \"\")\n");
  /* Flags: an empty quoted value is kept, a backslash escapes a blank, byte 0xA0 is a blank.  */
  assert_dump ("FROM x\nCOPY --a=\"\" --b\\ x y\nCOPY --c=1\xa0z w\n",
               "(from \"x\")\n(copy [\"--a=\" \"--b x\"] \"y\")\n(copy [\"--c=1\"] \"z\" \"w\")\n");
  assert_dump ("FROM x\nCOPY --d=a\\", "(from \"x\")\n(copy [\"--d=a\"])\n");
  /* HEALTHCHECK.  */
  assert_dump ("FROM x\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s --retries=3 CMD [\"curl\", \"-f\", \"x\"]\n"
               "HEALTHCHECK CMD curl -f x || exit 1\n",
               "(from \"x\")\n(healthcheck \"NONE\")\n"
               "(healthcheck [\"--interval=5s\" \"--retries=3\"] \"CMD\" \"curl\" \"-f\" \"x\")\n"
               "(healthcheck \"CMD\" \"curl -f x || exit 1\")\n");
  /* ONBUILD nests its trigger, flags and all.  */
  assert_dump ("FROM x\nONBUILD RUN [\"echo\", \"test\"]\nonbuild copy --from=a . /\n",
               "(from \"x\")\n(onbuild (run \"echo\" \"test\"))\n(onbuild (copy [\"--from=a\"] \".\" \"/\"))\n");
  /* Keywords with no arguments, as BuildKit's parser leaves them.  */
  assert_dump ("FROM x\nCMD\nENV\nONBUILD\n", "(from \"x\")\n(cmd)\n(env)\n(onbuild)\n");
  /* KELVIN SIGN lowers to 'k' in Go, so this is HEALTHCHECK to BuildKit.  */
  assert_dump ("FROM x\nHEALTHCHEC\xE2\x84\xAA NONE\n", "(from \"x\")\n(healthcheck \"NONE\")\n");

  cf_file *f = parse_ok ("FROM x\nCMD [\"a\\u0000b\"]\nRUN [\"x\"]\n");
  assert_int_equal (f->instrs[1].arg_len[0], 3);
  assert_memory_equal (f->instrs[1].args.v[0], "a\0b", 3);
  assert_true (f->instrs[1].json);
  assert_true (f->instrs[2].json);
  assert_false (f->instrs[0].json);
  cf_file_free (f);
}

/* ---- Located errors ---- */

static void
test_errors (void **state)
{
  (void) state;
  assert_parse_error ("FROM x\n  FORM y\n", "Containerfile:2:3: unknown instruction: FORM");
  assert_parse_error ("FROM x\nRUN a\nBOGUS\n", "Containerfile:3:1: unknown instruction: BOGUS");
  assert_parse_error ("FROM x\nRUN <<EOF\nnever ends\n", "Containerfile:2:1: unterminated heredoc");
  assert_parse_error ("FROM x\nCOPY <<A <<B /x\nA\n", "Containerfile:2:1: unterminated heredoc");
  assert_parse_error ("FROM x\n ENV NAME\n", "Containerfile:2:2: ENV must have two arguments");
  assert_parse_error ("FROM x\nLABEL k\n", "Containerfile:2:1: LABEL must have two arguments");
  assert_parse_error ("FROM x\nENV a=b c\n", "Containerfile:2:1: Syntax error - can't find = in \"c\"");
  assert_parse_error ("FROM x\nONBUILD FROM y\n", "Containerfile:2:9: FROM isn't allowed as an ONBUILD trigger");
  assert_parse_error ("FROM x\nONBUILD maintainer y\n",
                      "Containerfile:2:9: MAINTAINER isn't allowed as an ONBUILD trigger");
  assert_parse_error ("FROM x\nONBUILD ONBUILD RUN y\n", "Containerfile:2:9: Chaining ONBUILD via `ONBUILD ONBUILD`");
  assert_parse_error ("FROM x\nONBUILD FORM y\n", "Containerfile:2:9: unknown instruction: FORM");
  assert_parse_error ("FROM x\nSHELL /bin/sh -c\n", "Containerfile:2:1: SHELL requires the arguments to be in JSON form");
  assert_parse_error ("FROM x\nSHELL []\n", "Containerfile:2:1: SHELL requires at least one argument");
  assert_parse_error ("FROM x\nCMD [\"a\", 1]\n", "Containerfile:2:1: when using JSON array syntax");
  assert_parse_error ("FROM x\nCOPY [\"a\", null]\n", "Containerfile:2:1: when using JSON array syntax");
  assert_parse_error ("", "Containerfile:1:1: file with no instructions");
  assert_parse_error ("# only\n# comments\n", "Containerfile:2:1: file with no instructions");
  assert_parse_error ("# escape=`\n\n", "Containerfile:2:1: file with no instructions");
}

static void
test_line_too_long (void **state)
{
  (void) state;
  static const char head[] = "FROM image\nLABEL test=";
  size_t hl = sizeof (head) - 1;
  char *src = malloc (hl + 65536 + 2);
  gsi_error err = GSI_ERROR_INIT;
  cf_file *f = NULL;

  assert_non_null (src);
  /* BuildKit's TestParseReturnsScannerErrors: bufio.Scanner's 64 KiB limit.  */
  memcpy (src, head, hl);
  memset (src + hl, 'a', 65536);
  src[hl + 65536] = '\n';
  assert_int_equal (cf_parse ("C", src, hl + 65537, &f, &err), -1);
  assert_string_equal (err.msg, "C:2:1: dockerfile line greater than max allowed size of 65535");
  gsi_error_clear (&err);

  /* A line of 65535 bytes and its newline still fits ("LABEL test=" is 11 bytes).  */
  src[hl + 65535 - 11] = '\n';
  assert_int_equal (cf_parse ("C", src, hl + 65535 - 11 + 1, &f, &err), 0);
  assert_int_equal (f->n, 2);
  cf_file_free (f);
  /* One more byte does not.  */
  src[hl + 65535 - 11] = 'a';
  src[hl + 65536 - 11] = '\n';
  assert_int_equal (cf_parse ("C", src, hl + 65536 - 11 + 1, &f, &err), -1);
  assert_null (f);
  gsi_error_clear (&err);
  /* A last line without a newline must leave room for one.  */
  assert_int_equal (cf_parse ("C", src, hl + 65535 - 11, &f, &err), 0);
  cf_file_free (f);
  assert_int_equal (cf_parse ("C", src, hl + 65536 - 11, &f, &err), -1);
  gsi_error_clear (&err);
  free (src);
}

/* ---- strconv.Quote ---- */

static void
test_go_quote (void **state)
{
  (void) state;
  static const struct
  {
    const char *in;
    size_t len;
    const char *want;
  } cases[] = {
    { "abc", 3, "\"abc\"" },
    { "\"\\", 2, "\"\\\"\\\\\"" },
    { "\a\b\f\n\r\t\v", 7, "\"\\a\\b\\f\\n\\r\\t\\v\"" },
    { "\0\x01\x7f", 3, "\"\\x00\\x01\\x7f\"" },
    { "\xff\xc3", 2, "\"\\xff\\xc3\"" },
    { "\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\"" },
    { "\xc3\xa9\xe2\x99\xa5", 5, "\"\xc3\xa9\xe2\x99\xa5\"" },
    { "\xc2\x85\xc2\xa0\xc2\xad", 6, "\"\\u0085\\u00a0\\u00ad\"" },
    { "\xe2\x80\x8b\xef\xbb\xbf", 6, "\"\\u200b\\ufeff\"" },
    { "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },
    { "\xf3\xa0\x80\x81", 4, "\"\\U000e0001\"" },
    { "\xef\xbf\xbd", 3, "\"\xef\xbf\xbd\"" },
    { "\xf4\x8f\xbf\xbf", 4, "\"\\U0010ffff\"" },
    { "\xe3\x80\x80 ", 4, "\"\\u3000 \"" },
  };

  for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++)
    {
      gsi_buf b = GSI_BUF_INIT;
      cf_go_quote (&b, cases[i].in, cases[i].len);
      if (strcmp (b.buf, cases[i].want) != 0)
        fail_msg ("case %zu: got %s want %s", i, b.buf, cases[i].want);
      gsi_buf_release (&b);
    }
}

/* ---- Inputs that must neither crash nor read out of bounds ---- */

static void
parse_any (const char *src, size_t len)
{
  gsi_error err = GSI_ERROR_INIT;
  cf_file *f = NULL;
  gsi_buf out = GSI_BUF_INIT;

  if (cf_parse ("C", src, len, &f, &err) == 0)
    {
      cf_dump (f, &out);
      assert_true (out.len > 0);
      cf_file_free (f);
    }
  else
    assert_non_null (err.msg);
  gsi_buf_release (&out);
  gsi_error_clear (&err);
}

static void
test_hostile_inputs (void **state)
{
  (void) state;
  static const char *const small[] = {
    "FROM\0x\nRUN a\0b\n", "\xff\xfe\nFROM x", "FROM x\nRUN <<", "FROM x\nRUN <<-", "FROM x\nRUN <<${\n",
    "FROM x\nRUN <<${a:-\"}\nEOF\n", "FROM x\nRUN <<E\"$x\"\nE$x\n", "FROM x\nCMD [\"\\u", "FROM x\nCMD [\"\\ud800\\u",
    "FROM x\nCMD [1e", "FROM x\nCMD [-", "FROM x\nCMD [{\"a\":[{}]}]", "FROM x\nENV \"", "FROM x\nARG a\\",
    "FROM x\nLABEL a=\"\\", "FROM x\nHEALTHCHECK \xa0", "FROM x\nCOPY --a=\"\\", "FROM x\nCOPY --", "#escape=`\nFROM x `",
    "FROM x\nRUN <<'a'\\\na\n", ("FROM x\nRUN <<\xef\xbb\xbf" "EOF\nEOF\n"), "FROM x\nRUN <<${x/a/b}\n${x/a/b}\n",
  };
  static char big[200000];
  size_t i;

  for (i = 0; i < sizeof (small) / sizeof (small[0]); i++)
    parse_any (small[i], strlen (small[i]) + (i == 0 ? 12 : 0));

  /* Deep JSON nesting (Go's limit is 10000 levels) and a deep ${...} in a heredoc line.  */
  strcpy (big, "FROM x\nCMD ");
  for (i = 0; i < 10000; i++)
    strcat (big + 11 + i, "[");
  parse_any (big, strlen (big));
  strcpy (big, "FROM x\nRUN <<EOF ");
  for (i = 0; i < 5000; i++)
    memcpy (big + 17 + i * 5, "${a:-", 5);
  big[17 + 5000 * 5] = '\0';
  parse_any (big, strlen (big));

  /* Every byte value, in lines of every instruction.  */
  for (int c = 0; c < 256; c++)
    {
      char src[256];
      int n = snprintf (src, sizeof (src), "FROM x%c\nRUN %c<<%cE\nE\nENV a=%c b\nCOPY --x%c=y [\"%c\"]\n", c, c, c, c,
                        c, c);
      for (int k = 0; k < n; k++)
        if (src[k] == '\0')
          src[k] = (char) c;
      parse_any (src, (size_t) n);
    }

  /* Pseudo-random soup of the characters the parser cares about.  */
  {
    static const char alphabet[] = "RUN COPY ENV ARG ONBUILD FROM <<-EOF \"'\\`$={}[],:\n\t #\r\xc2\xa0\xff--x";
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++)
      {
        char src[300];
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof (src);
        for (n = 0; n < len; n++)
          {
            seed = seed * 1103515245u + 12345u;
            src[n] = alphabet[(seed >> 16) % (sizeof (alphabet) - 1)];
          }
        parse_any (src, n);
      }
  }
}

/* ---- Parse the file from disk ---- */

static void
test_parse_file_errors (void **state)
{
  (void) state;
  gsi_error err = GSI_ERROR_INIT;
  cf_file *f = NULL;

  assert_int_equal (cf_parse_file ("/nonexistent/Containerfile", &f, &err), -1);
  assert_null (f);
  assert_non_null (strstr (err.msg, "open `/nonexistent/Containerfile`"));
  gsi_error_clear (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_peer_testfiles),
    cmocka_unit_test (test_peer_negative),
    cmocka_unit_test (test_peer_line_numbers),
    cmocka_unit_test (test_heredocs_buildkit_table),
    cmocka_unit_test (test_heredocs_from_line),
    cmocka_unit_test (test_heredoc_lines_and_onbuild),
    cmocka_unit_test (test_directives),
    cmocka_unit_test (test_continuations),
    cmocka_unit_test (test_argument_rules),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_line_too_long),
    cmocka_unit_test (test_go_quote),
    cmocka_unit_test (test_hostile_inputs),
    cmocka_unit_test (test_parse_file_errors),
  };
  return cmocka_run_group_tests_name ("parser", tests, NULL, NULL);
}
