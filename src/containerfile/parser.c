/* The Containerfile parser: BuildKit's frontend/dockerfile/parser behaviour, in our own C.
 *
 * The input is cut into lines as Go's bufio.Scanner does (64 KiB at most), parser directives are
 * read from the top, continuation lines are joined, and each logical line is split into keyword,
 * flags and arguments by the rule BuildKit's dispatch table gives that keyword.  RUN, COPY and ADD
 * may then pull heredoc bodies from the lines that follow.
 *
 * Where BuildKit's behaviour is odd (a flag's bytes taken as Latin-1, invalid UTF-8 turning into
 * U+FFFD in some splits but not in others, a heredoc delimiter found by lexing the whole line), we
 * keep the oddity: a Containerfile must mean the same to gsi as to `docker build`.  We are stricter
 * in one place on purpose: an unknown keyword is an error here, not later.  */
#include "containerfile/ast.h"
#include "util/unicode.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "util/xalloc.h"

#define RUNE_ERROR 0xFFFD
/* bufio.MaxScanTokenSize: a line (with its newline) must fit in this.  */
#define SCAN_MAX_TOKEN 65536
/* encoding/json's maxNestingDepth.  */
#define JSON_MAX_DEPTH 10000
/* Go's stacks grow; ours do not, so nested ${a:-${b:-...}} in a heredoc line stops somewhere.  */
#define SHLEX_MAX_DEPTH 200

/* ---- Unicode helpers, with Go's semantics ---- */

/* One rune as Go's utf8.DecodeRune reads it: an invalid or truncated sequence is U+FFFD, width 1.  */
static int32_t
decode_rune (const char *s, size_t n, size_t *width)
{
  uint32_t r;
  *width = gsi_utf8_decode (s, n, &r);
  return (int32_t) r;
}

/* utf8.DecodeLastRune.  */
static int32_t
decode_last_rune (const char *s, size_t n, size_t *width)
{
  const unsigned char *p = (const unsigned char *) s;
  ptrdiff_t end = (ptrdiff_t) n, start = end - 1, lim = end - 4;
  size_t w;
  int32_t r;

  *width = 1;
  if (p[start] < 0x80)
    return p[start];
  if (lim < 0)
    lim = 0;
  for (start--; start >= lim; start--)
    if ((p[start] & 0xC0) != 0x80)
      break;
  if (start < 0)
    start = 0;
  r = decode_rune (s + start, n - (size_t) start, &w);
  if ((size_t) start + w != n)
    return RUNE_ERROR;
  *width = w;
  return r;
}

/* unicode.IsSpace.  */
static bool
rune_is_space (int32_t r)
{
  switch (r)
    {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
    }
}

/* unicode.IsSpace(rune(b)) on a single byte, as BuildKit's byte loops do: 0x85 and 0xA0 count.  */
static bool
byte_is_space (unsigned char c)
{
  return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xA0;
}

/* The class of BuildKit's reWhitespace, [\t\v\f\r ].  */
static bool
is_split_space (char c)
{
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* RE2's \s, [\t\n\f\r ].  */
static bool
is_re_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* bytes.TrimLeftFunc (s, unicode.IsSpace).  */
static void
trim_left_space (const char **s, size_t *n)
{
  while (*n > 0)
    {
      size_t w;
      if (!rune_is_space (decode_rune (*s, *n, &w)))
        break;
      *s += w;
      *n -= w;
    }
}

/* strings.TrimSpace.  */
static void
trim_space (const char **s, size_t *n)
{
  trim_left_space (s, n);
  while (*n > 0)
    {
      size_t w;
      if (!rune_is_space (decode_last_rune (*s, *n, &w)))
        break;
      *n -= w;
    }
}

/* bytes.TrimRight (s, "\r\n").  */
static void
trim_newline (const char *s, size_t *n)
{
  while (*n > 0 && (s[*n - 1] == '\n' || s[*n - 1] == '\r'))
    (*n)--;
}

/* ---- Counted string lists: arguments may hold NUL bytes ---- */

typedef struct arglist
{
  gsi_strvec sv;
  size_t *len;
  size_t alloc;
} arglist;

#define ARGLIST_INIT { GSI_STRVEC_INIT, NULL, 0 }

static void
arglist_push (arglist *a, const char *s, size_t n)
{
  char *copy = xmalloc (n + 1);

  memcpy (copy, s, n);
  copy[n] = '\0';
  gsi_strvec_push_owned (&a->sv, copy);
  GSI_ALLOC_GROW (a->len, a->sv.n, a->alloc);
  a->len[a->sv.n - 1] = n;
}

static void
arglist_clear (arglist *a)
{
  gsi_strvec_clear (&a->sv);
  free (a->len);
  a->len = NULL;
  a->alloc = 0;
}

static inline void
cleanup_arglistp (arglist *a)
{
  arglist_clear (a);
}
#define cleanup_arglist __attribute__ ((cleanup (cleanup_arglistp)))

/* ---- Keywords ---- */

typedef enum kw_kind
{
  KW_ADD,
  KW_ARG,
  KW_CMD,
  KW_COPY,
  KW_ENTRYPOINT,
  KW_ENV,
  KW_EXPOSE,
  KW_FROM,
  KW_HEALTHCHECK,
  KW_LABEL,
  KW_MAINTAINER,
  KW_ONBUILD,
  KW_RUN,
  KW_SHELL,
  KW_STOPSIGNAL,
  KW_USER,
  KW_VOLUME,
  KW_WORKDIR,
  KW_UNKNOWN,
} kw_kind;

static const char *const kw_names[] = {
  "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
  "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
};

/* BuildKit looks the keyword up after strings.ToLower, which also maps KELVIN SIGN to 'k' and
 * LATIN CAPITAL I WITH DOT ABOVE to 'i'; no other non-ASCII rune lowers into ASCII.  */
static kw_kind
lookup_keyword (const char *s, size_t n)
{
  char low[16];
  size_t m = 0;

  for (size_t i = 0; i < n && m < sizeof (low) - 1;)
    {
      unsigned char c = (unsigned char) s[i];
      if (c == 0)
        return KW_UNKNOWN;
      if (c < 0x80)
        low[m++] = (char) ((c >= 'A' && c <= 'Z') ? c + 32 : c), i++;
      else if (n - i >= 3 && memcmp (s + i, "\xE2\x84\xAA", 3) == 0)
        low[m++] = 'k', i += 3;
      else if (n - i >= 2 && memcmp (s + i, "\xC4\xB0", 2) == 0)
        low[m++] = 'i', i += 2;
      else
        return KW_UNKNOWN;
      if (i < n && m == sizeof (low) - 1)
        return KW_UNKNOWN;
    }
  low[m] = '\0';
  for (size_t k = 0; k < KW_UNKNOWN; k++)
    if (strcmp (low, kw_names[k]) == 0)
      return (kw_kind) k;
  return KW_UNKNOWN;
}

static bool
kw_takes_heredocs (const char *kw)
{
  return strcmp (kw, "run") == 0 || strcmp (kw, "copy") == 0 || strcmp (kw, "add") == 0;
}

/* ---- Lines ---- */

typedef struct scanner
{
  const char *data;
  size_t len;
  size_t pos;
  int line;       /* lines handed out so far */
  bool too_long;  /* bufio.ErrTooLong: scanning stopped as if at EOF */
} scanner;

/* bufio.Scanner with BuildKit's scanLines: each line keeps its "\n".  A line that does not fit in
 * the scanner's 64 KiB buffer ends the scan, as ErrTooLong does.  */
static bool
scan_line (scanner *s, const char **line, size_t *n)
{
  size_t avail, look, tok;
  const char *nl;

  if (s->too_long || s->pos >= s->len)
    return false;
  avail = s->len - s->pos;
  look = avail < SCAN_MAX_TOKEN ? avail : SCAN_MAX_TOKEN;
  nl = memchr (s->data + s->pos, '\n', look);
  tok = nl ? (size_t) (nl - (s->data + s->pos)) + 1 : avail;
  if (!nl && tok >= SCAN_MAX_TOKEN)
    {
      s->too_long = true;
      return false;
    }
  *line = s->data + s->pos;
  *n = tok;
  s->pos += tok;
  if (s->line < INT_MAX)
    s->line++;
  return true;
}

/* ---- The parser state ---- */

typedef struct parser
{
  const char *path;
  scanner sc;
  cf_file *f;
  size_t alloc;           /* of f->instrs */
  char esc;
  bool dir_done;
  bool seen_syntax, seen_escape, seen_check;
  gsi_buf line;           /* the logical line being parsed, continuations joined */
  bool cont;              /* the last physical line asked for a continuation */
  int start_line;
  size_t indent;          /* bytes of leading space before the logical line on its first line */
} parser;

/* An instruction under construction.  */
typedef struct node
{
  kw_kind kind;
  arglist flags;
  arglist args;
  bool json;
  cf_instr *sub;
  int col;
} node;

#define NODE_INIT { KW_UNKNOWN, ARGLIST_INIT, ARGLIST_INIT, false, NULL, 0 }

static void instr_clear (cf_instr *in);

static void
node_clear (node *nd)
{
  arglist_clear (&nd->flags);
  arglist_clear (&nd->args);
  if (nd->sub)
    {
      instr_clear (nd->sub);
      free (nd->sub);
      nd->sub = NULL;
    }
}

static inline void
cleanup_nodep (node *nd)
{
  node_clear (nd);
}
#define cleanup_node __attribute__ ((cleanup (cleanup_nodep)))

static int
col_at (const parser *p, const char *at)
{
  size_t off = p->indent + (size_t) (at - p->line.buf) + 1;
  return off > INT_MAX ? INT_MAX : (int) off;
}

static int
node_error (parser *p, const node *nd, gsi_error *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
node_error (parser *p, const node *nd, gsi_error *err, const char *fmt, ...)
{
  gsi_buf msg = GSI_BUF_INIT;
  va_list ap;
  int ret;

  va_start (ap, fmt);
  gsi_buf_vaddf (&msg, fmt, ap);
  va_end (ap);
  ret = gsi_error_at (err, p->path, p->start_line, nd->col, "%s", msg.buf);
  gsi_buf_release (&msg);
  return ret;
}

/* ---- Parser directives ---- */

/* The value of RE2's `\s*(.+?)\s*$` after the '=': leading \s as greedy as still leaves one
 * character, then the shortest value that leaves only \s.  */
static bool
directive_value (const char *r, size_t n, const char **v, size_t *vn)
{
  size_t lead = 0, end = n;

  if (n == 0)
    return false;
  while (lead < n && is_re_space (r[lead]))
    lead++;
  if (lead == n)
    lead = n - 1;
  while (end > lead + 1 && is_re_space (r[end - 1]))
    end--;
  *v = r + lead;
  *vn = end - lead;
  return true;
}

static int
apply_directive (parser *p, const char *key, const char *v, size_t vn, gsi_error *err)
{
  bool *seen = strcmp (key, "syntax") == 0 ? &p->seen_syntax
               : strcmp (key, "escape") == 0 ? &p->seen_escape
                                             : &p->seen_check;
  int line = p->sc.line;

  if (*seen)
    return gsi_error_at (err, p->path, line, 1, "only one %s parser directive can be used", key);
  *seen = true;
  if (strcmp (key, "escape") == 0)
    {
      if (vn != 1 || (v[0] != '`' && v[0] != '\\'))
        return gsi_error_at (err, p->path, line, 1, "invalid escape token '%.*s' does not match ` or \\",
                             (int) vn, v);
      p->esc = v[0];
      p->f->escape = v[0];
    }
  else if (strcmp (key, "syntax") == 0)
    p->f->syntax = xstrndup (v, vn);
  else
    p->f->check = xstrndup (v, vn);
  return 0;
}

/* BuildKit's DirectiveParser.ParseLine: directives end at the first line that is not a comment of
 * the form `# key = value` with a known key.  */
static int
check_directive (parser *p, const char *s, size_t n, gsi_error *err)
{
  char key[8];
  size_t k = 0, i;
  const char *v;
  size_t vn;

  if (p->dir_done)
    return 0;
  p->dir_done = true;
  if (n == 0 || s[0] != '#')
    return 0;
  s++, n--;
  trim_left_space (&s, &n);
  if (n == 0 || !((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z'))
    return 0;
  for (i = 0; i < n && (((s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') || (s[i] >= '0' && s[i] <= '9')); i++)
    if (k < sizeof (key) - 1)
      key[k++] = (char) (s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
  if (i > 6)
    return 0;
  key[k] = '\0';
  while (i < n && is_re_space (s[i]))
    i++;
  if (i == n || s[i] != '=')
    return 0;
  if (!directive_value (s + i + 1, n - i - 1, &v, &vn))
    return 0;
  if (strcmp (key, "syntax") != 0 && strcmp (key, "escape") != 0 && strcmp (key, "check") != 0)
    return 0;
  p->dir_done = false;
  return apply_directive (p, key, v, vn, err);
}

/* ---- Comments and continuations ---- */

static bool
is_comment (const char *s, size_t n)
{
  trim_left_space (&s, &n);
  return n > 0 && s[0] == '#';
}

/* BuildKit's lineContinuationRegex, `([^E])E[ \t]*$|^E[ \t]*$` for escape E: strips the escape
 * and trailing blanks; an escape preceded by another escape does not continue.  */
static bool
trim_continuation (const parser *p, const char *s, size_t *n)
{
  size_t e = *n;

  while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'))
    e--;
  if (e == 0 || s[e - 1] != p->esc)
    return false;
  if (e >= 2 && s[e - 2] == p->esc)
    return false;
  *n = e - 1;
  return true;
}

/* ---- Flags ---- */

/* Go's string(rune(b)) for a byte: BuildKit reads flags byte by byte, so a byte >= 0x80 becomes the
 * Latin-1 character of that value.  */
static void
add_latin1 (gsi_buf *b, unsigned char c)
{
  if (c < 0x80)
    gsi_buf_addch (b, c);
  else
    gsi_buf_add_utf8 (b, c);
}

/* One flag word from s[pos], quotes removed and backslash escapes applied; stops at an unquoted
 * blank.  Returns the position after it.  */
static size_t
flag_word (const char *s, size_t n, size_t pos, gsi_buf *word, bool *blank_ok)
{
  unsigned char quote = 0;

  while (pos < n)
    {
      unsigned char ch = (unsigned char) s[pos];
      if (quote == 0 && byte_is_space (ch))
        break;
      pos++;
      if (quote == 0 && (ch == '\'' || ch == '"'))
        {
          quote = ch;
          *blank_ok = true;
          continue;
        }
      if (quote != 0 && ch == quote)
        {
          quote = 0;
          continue;
        }
      if (ch == '\\')
        {
          /* A backslash at the very end is dropped (and ends a quote).  */
          if (pos == n)
            break;
          ch = (unsigned char) s[pos++];
        }
      add_latin1 (word, ch);
    }
  return pos;
}

/* BuildKit's extractBuilderFlags: leading `--words` are flags; a lone `--` ends them.  Returns the
 * offset where the arguments start.  */
static size_t
extract_flags (const char *s, size_t n, arglist *flags)
{
  cleanup_buf gsi_buf word = GSI_BUF_INIT;
  size_t pos = 0;

  for (;;)
    {
      bool blank_ok = false;
      while (pos < n && byte_is_space ((unsigned char) s[pos]))
        pos++;
      if (pos == n)
        return n;
      if (s[pos] != '-' || pos + 1 == n || s[pos + 1] != '-')
        return pos;
      pos = flag_word (s, n, pos, &word, &blank_ok);
      if (word.len == 2 && memcmp (word.buf, "--", 2) == 0)
        return pos;
      if (blank_ok || word.len > 0)
        arglist_push (flags, word.buf, word.len);
      gsi_buf_reset (&word);
    }
}

/* ---- Words (ARG, ENV, LABEL) ---- */

/* One word of parseWords from s[pos]: quotes and escapes stay in the word, runes are written back
 * as decoded (an invalid byte becomes U+FFFD).  Returns the position of the blank that ends it.  */
static size_t
scan_word (const parser *p, const char *s, size_t n, size_t pos, gsi_buf *word, bool *blank_ok)
{
  int32_t quote = 0;
  size_t w;

  while (pos < n)
    {
      int32_t ch = decode_rune (s + pos, n - pos, &w);
      if (quote == 0 && rune_is_space (ch))
        break;
      if (quote == 0 && (ch == '\'' || ch == '"'))
        quote = ch, *blank_ok = true;
      else if (quote != 0 && ch == quote)
        quote = 0;
      else if (ch == p->esc && (quote == 0 || quote == '"'))
        {
          /* An escape at the very end is dropped (and ends a quote).  */
          if (pos + w == n)
            return n;
          gsi_buf_add_utf8 (word, (unsigned) ch);
          pos += w;
          ch = decode_rune (s + pos, n - pos, &w);
        }
      gsi_buf_add_utf8 (word, (unsigned) ch);
      pos += w;
    }
  return pos;
}

/* BuildKit's parseWords: blank-separated words (Unicode blanks), for ARG, ENV and LABEL.  */
static void
parse_words (const parser *p, const char *s, size_t n, arglist *out)
{
  cleanup_buf gsi_buf word = GSI_BUF_INIT;
  size_t pos = 0, w;

  for (;;)
    {
      bool blank_ok = false;
      while (pos < n && rune_is_space (decode_rune (s + pos, n - pos, &w)))
        pos += w;
      if (pos == n)
        return;
      pos = scan_word (p, s, n, pos, &word, &blank_ok);
      if (blank_ok || word.len > 0)
        arglist_push (out, word.buf, word.len);
      gsi_buf_reset (&word);
    }
}

/* ---- JSON (encoding/json into []any, strings only) ---- */

enum
{
  JSON_OK,
  JSON_INVALID,     /* not JSON: BuildKit falls back to the shell form */
  JSON_NOT_STRINGS  /* valid JSON with a non-string element: an error */
};

typedef struct jscan
{
  const unsigned char *s;
  size_t n, pos;
  unsigned char *stack;   /* '[' or '{' per open container */
  size_t depth;
  bool not_strings;
  arglist *out;
} jscan;

static void
json_ws (jscan *j)
{
  while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' || j->s[j->pos] == '\n'
                           || j->s[j->pos] == '\r'))
    j->pos++;
}

static int
hex4 (const unsigned char *p)
{
  int v = 0;
  for (int i = 0; i < 4; i++)
    {
      int c = p[i];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if ((c | 32) >= 'a' && (c | 32) <= 'f')
        v |= (c | 32) - 'a' + 10;
      else
        return -1;
    }
  return v;
}

/* A \uXXXX escape at j->pos (just past the 'u'), with Go's handling of surrogate pairs.  */
static void
json_unicode (jscan *j, const unsigned char *end, gsi_buf *b)
{
  int r = hex4 (j->s + j->pos);

  j->pos += 4;
  if (r >= 0xD800 && r < 0xE000)
    {
      int r2 = -1;
      if (end - (j->s + j->pos) >= 6 && j->s[j->pos] == '\\' && j->s[j->pos + 1] == 'u')
        r2 = hex4 (j->s + j->pos + 2);
      if (r < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000)
        {
          r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
          j->pos += 6;
        }
      else
        r = RUNE_ERROR;
    }
  if (b)
    gsi_buf_add_utf8 (b, (unsigned) r);
}

/* Scans the string at j->pos (on its opening quote); decodes it into b when b is not NULL.  */
static bool
json_string (jscan *j, gsi_buf *b)
{
  const unsigned char *end = j->s + j->n;

  j->pos++;
  while (j->pos < j->n)
    {
      unsigned char c = j->s[j->pos];
      if (c == '"')
        {
          j->pos++;
          return true;
        }
      if (c < 0x20)
        return false;
      if (c != '\\')
        {
          size_t w;
          int32_t r = decode_rune ((const char *) j->s + j->pos, j->n - j->pos, &w);
          if (b && r == RUNE_ERROR && w == 1)
            gsi_buf_add_utf8 (b, RUNE_ERROR);
          else if (b)
            gsi_buf_add (b, j->s + j->pos, w);
          j->pos += w;
          continue;
        }
      if (++j->pos >= j->n)
        return false;
      c = j->s[j->pos++];
      if (c == 'u')
        {
          if (end - (j->s + j->pos) < 4 || hex4 (j->s + j->pos) < 0)
            return false;
          json_unicode (j, end, b);
          continue;
        }
      const char *esc = strchr ("\"\\/bfnrt", c);
      if (c == 0 || esc == NULL)
        return false;
      if (b)
        gsi_buf_addch (b, "\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"]);
    }
  return false;
}

static bool
json_digits (jscan *j)
{
  size_t start = j->pos;
  while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9')
    j->pos++;
  return j->pos > start;
}

static bool
json_number (jscan *j)
{
  if (j->s[j->pos] == '-')
    j->pos++;
  if (j->pos < j->n && j->s[j->pos] == '0')
    j->pos++;
  else if (!json_digits (j))
    return false;
  if (j->pos < j->n && j->s[j->pos] == '.')
    {
      j->pos++;
      if (!json_digits (j))
        return false;
    }
  if (j->pos < j->n && (j->s[j->pos] | 32) == 'e')
    {
      j->pos++;
      if (j->pos < j->n && (j->s[j->pos] == '+' || j->s[j->pos] == '-'))
        j->pos++;
      if (!json_digits (j))
        return false;
    }
  return true;
}

static bool
json_literal (jscan *j)
{
  static const char *const lits[] = { "true", "false", "null" };
  for (size_t i = 0; i < 3; i++)
    {
      size_t l = strlen (lits[i]);
      if (j->n - j->pos >= l && memcmp (j->s + j->pos, lits[i], l) == 0)
        {
          j->pos += l;
          return true;
        }
    }
  return false;
}

/* An object key and its ':' (j->pos on the key's quote).  */
static bool
json_key (jscan *j)
{
  if (j->pos >= j->n || j->s[j->pos] != '"' || !json_string (j, NULL))
    return false;
  json_ws (j);
  if (j->pos >= j->n || j->s[j->pos] != ':')
    return false;
  j->pos++;
  return true;
}

/* One scalar value, or the opening of a container.  Elements of the outer array are collected.  */
static bool
json_value (jscan *j, bool *opened)
{
  bool element = j->depth == 1;
  unsigned char c;

  *opened = false;
  json_ws (j);
  if (j->pos >= j->n)
    return false;
  c = j->s[j->pos];
  if (c == '"')
    {
      cleanup_buf gsi_buf b = GSI_BUF_INIT;
      if (!json_string (j, element ? &b : NULL))
        return false;
      if (element)
        arglist_push (j->out, b.buf, b.len);
      return true;
    }
  if (element)
    j->not_strings = true;
  if (c == '[' || c == '{')
    {
      if (j->depth >= JSON_MAX_DEPTH)
        return false;
      j->stack[j->depth++] = c;
      j->pos++;
      *opened = true;
      return true;
    }
  if (c == '-' || (c >= '0' && c <= '9'))
    return json_number (j);
  return json_literal (j);
}

/* After a value or an opening: consumes closings and the next ',' (and key); returns 1 when a value
 * is expected next, 0 at the end of the document, -1 on a syntax error.  */
static int
json_after (jscan *j, bool opened)
{
  json_ws (j);
  if (opened && j->pos < j->n && j->s[j->pos] == (j->stack[j->depth - 1] == '[' ? ']' : '}'))
    {
      j->pos++;
      j->depth--;
    }
  else if (opened)
    return j->stack[j->depth - 1] == '[' ? 1 : (json_key (j) ? 1 : -1);
  for (;;)
    {
      json_ws (j);
      if (j->depth == 0)
        return j->pos == j->n ? 0 : -1;
      if (j->pos >= j->n)
        return -1;
      unsigned char c = j->s[j->pos++], top = j->stack[j->depth - 1];
      if (c == ',')
        return top == '[' ? 1 : (json_ws (j), json_key (j) ? 1 : -1);
      if (c != (top == '[' ? ']' : '}'))
        return -1;
      j->depth--;
    }
}

/* parseJSON: the text must start with '[' and be exactly one JSON array of strings.  */
static int
parse_json (const char *s, size_t n, arglist *out)
{
  cleanup_free unsigned char *stack = NULL;
  cleanup_arglist arglist got = ARGLIST_INIT;
  jscan j = { (const unsigned char *) s, n, 0, NULL, 0, false, &got };
  int next;

  trim_left_space (&s, &n);
  j.s = (const unsigned char *) s;
  j.n = n;
  if (n == 0 || s[0] != '[')
    return JSON_INVALID;
  stack = xmalloc (n < JSON_MAX_DEPTH ? n : JSON_MAX_DEPTH);
  j.stack = stack;
  do
    {
      bool opened;
      if (!json_value (&j, &opened))
        return JSON_INVALID;
      next = json_after (&j, opened);
    }
  while (next == 1);
  if (next < 0)
    return JSON_INVALID;
  if (j.not_strings)
    return JSON_NOT_STRINGS;
  for (size_t i = 0; i < got.sv.n; i++)
    arglist_push (out, got.sv.v[i], got.len[i]);
  return JSON_OK;
}

/* ---- The per-keyword argument rules (BuildKit's line parsers) ---- */

/* parseStringsWhitespaceDelimited: reWhitespace.Split (s, -1).  */
static void
parse_strings_ws (const char *s, size_t n, arglist *out)
{
  size_t start = 0, i = 0;

  if (n == 0)
    return;
  while (i < n)
    {
      if (!is_split_space (s[i]))
        {
          i++;
          continue;
        }
      arglist_push (out, s + start, i - start);
      while (i < n && is_split_space (s[i]))
        i++;
      start = i;
    }
  arglist_push (out, s + start, n - start);
}

static void
parse_string (const char *s, size_t n, arglist *out)
{
  if (n > 0)
    arglist_push (out, s, n);
}

static int
parse_maybe_json (parser *p, node *nd, const char *s, size_t n, gsi_error *err)
{
  int r;

  if (n == 0)
    return 0;
  r = parse_json (s, n, &nd->args);
  if (r == JSON_NOT_STRINGS)
    return node_error (p, nd, err, "when using JSON array syntax, arrays must be comprised of strings only");
  if (r == JSON_OK)
    nd->json = true;
  else
    arglist_push (&nd->args, s, n);
  return 0;
}

static int
parse_maybe_json_to_list (parser *p, node *nd, const char *s, size_t n, gsi_error *err)
{
  int r = parse_json (s, n, &nd->args);

  if (r == JSON_NOT_STRINGS)
    return node_error (p, nd, err, "when using JSON array syntax, arrays must be comprised of strings only");
  if (r == JSON_OK)
    nd->json = true;
  else
    parse_strings_ws (s, n, &nd->args);
  return 0;
}

static void
push_triple (arglist *out, const char *k, size_t kn, const char *v, size_t vn, const char *sep)
{
  arglist_push (out, k, kn);
  arglist_push (out, v, vn);
  arglist_push (out, sep, strlen (sep));
}

/* parseNameVal: `KEY name value` (separator "") or `KEY a=b c=d` (separator "=").  */
static int
parse_name_val (parser *p, node *nd, const char *s, size_t n, const char *what, gsi_error *err)
{
  cleanup_arglist arglist words = ARGLIST_INIT;
  size_t i = 0, j;

  parse_words (p, s, n, &words);
  if (words.sv.n == 0)
    return 0;
  if (memchr (words.sv.v[0], '=', words.len[0]) == NULL)
    {
      while (i < n && !is_split_space (s[i]))
        i++;
      if (i == n)
        return node_error (p, nd, err, "%s must have two arguments", what);
      for (j = i; j < n && is_split_space (s[j]); j++)
        ;
      push_triple (&nd->args, s, i, s + j, n - j, "");
      return 0;
    }
  for (size_t w = 0; w < words.sv.n; w++)
    {
      const char *word = words.sv.v[w];
      const char *eq = memchr (word, '=', words.len[w]);
      if (eq == NULL)
        {
          cleanup_buf gsi_buf q = GSI_BUF_INIT;
          cf_go_quote (&q, word, words.len[w]);
          return node_error (p, nd, err, "Syntax error - can't find = in %s. Must be of the form: name=value",
                             q.buf);
        }
      push_triple (&nd->args, word, (size_t) (eq - word), eq + 1, words.len[w] - (size_t) (eq - word) - 1, "=");
    }
  return 0;
}

/* parseHealthConfig: the first word (CMD, NONE) then maybe JSON; BuildKit scans bytes here.  */
static int
parse_healthcheck (parser *p, node *nd, const char *s, size_t n, gsi_error *err)
{
  size_t sep = 0, next;

  while (sep < n && !byte_is_space ((unsigned char) s[sep]))
    sep++;
  for (next = sep; next < n && byte_is_space ((unsigned char) s[next]); next++)
    ;
  if (sep == 0)
    return 0;
  arglist_push (&nd->args, s, sep);
  return parse_maybe_json (p, nd, s + next, n - next, err);
}

static int parse_instruction (parser *p, const char *s, size_t n, node *nd, bool trigger, gsi_error *err);

static int
parse_onbuild (parser *p, node *nd, const char *s, size_t n, gsi_error *err)
{
  cleanup_node node sub = NODE_INIT;

  if (n == 0)
    return 0;
  if (parse_instruction (p, s, n, &sub, true, err) < 0)
    return -1;
  nd->sub = xcalloc (1, sizeof (*nd->sub));
  nd->sub->keyword = xstrdup (kw_names[sub.kind]);
  nd->sub->original = xstrndup (s, n);
  nd->sub->flags = sub.flags.sv;
  nd->sub->flag_len = sub.flags.len;
  nd->sub->args = sub.args.sv;
  nd->sub->arg_len = sub.args.len;
  nd->sub->json = sub.json;
  nd->sub->col = sub.col;
  sub.flags = (arglist) ARGLIST_INIT;
  sub.args = (arglist) ARGLIST_INIT;
  return 0;
}

static int
parse_shell (parser *p, node *nd, const char *s, size_t n, gsi_error *err)
{
  if (parse_maybe_json (p, nd, s, n, err) < 0)
    return -1;
  if (nd->args.sv.n == 0)
    return node_error (p, nd, err, "SHELL requires at least one argument");
  if (!nd->json)
    return node_error (p, nd, err, "SHELL requires the arguments to be in JSON form");
  return 0;
}

static int
dispatch (parser *p, node *nd, const char *s, size_t n, gsi_error *err)
{
  switch (nd->kind)
    {
    case KW_ADD:
    case KW_COPY:
    case KW_VOLUME:
      return parse_maybe_json_to_list (p, nd, s, n, err);
    case KW_ARG:
      parse_words (p, s, n, &nd->args);
      return 0;
    case KW_CMD:
    case KW_ENTRYPOINT:
    case KW_RUN:
      return parse_maybe_json (p, nd, s, n, err);
    case KW_SHELL:
      return parse_shell (p, nd, s, n, err);
    case KW_ENV:
      return parse_name_val (p, nd, s, n, "ENV", err);
    case KW_LABEL:
      return parse_name_val (p, nd, s, n, "LABEL", err);
    case KW_EXPOSE:
    case KW_FROM:
      parse_strings_ws (s, n, &nd->args);
      return 0;
    case KW_HEALTHCHECK:
      return parse_healthcheck (p, nd, s, n, err);
    case KW_MAINTAINER:
    case KW_STOPSIGNAL:
    case KW_USER:
    case KW_WORKDIR:
      parse_string (s, n, &nd->args);
      return 0;
    case KW_ONBUILD:
      return parse_onbuild (p, nd, s, n, err);
    case KW_UNKNOWN:
    default:
      return node_error (p, nd, err, "unknown instruction");
    }
}

static int
reject_trigger (parser *p, node *nd, const char *cmd, size_t cmdn, gsi_error *err)
{
  if (nd->kind == KW_ONBUILD)
    return node_error (p, nd, err, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (nd->kind == KW_FROM || nd->kind == KW_MAINTAINER)
    {
      char up[16];
      size_t i;
      for (i = 0; i < cmdn && i < sizeof (up) - 1; i++)
        up[i] = (char) (cmd[i] >= 'a' && cmd[i] <= 'z' ? cmd[i] - 32 : cmd[i]);
      up[i] = '\0';
      return node_error (p, nd, err, "%s isn't allowed as an ONBUILD trigger", up);
    }
  return 0;
}

/* newNodeFromLine and splitCommand: keyword, flags, then the keyword's argument rule.  A trigger is
 * ONBUILD's instruction, where ONBUILD, FROM and MAINTAINER are refused before their arguments are
 * looked at (so ONBUILD ONBUILD ... cannot recurse).  */
static int
parse_instruction (parser *p, const char *s, size_t n, node *nd, bool trigger, gsi_error *err)
{
  const char *cmd, *args;
  size_t k = 0, cmdn, argn, off;

  trim_space (&s, &n);
  while (k < n && !is_split_space (s[k]))
    k++;
  cmd = s;
  cmdn = k;
  while (k < n && is_split_space (s[k]))
    k++;
  nd->col = col_at (p, s);
  nd->kind = lookup_keyword (cmd, cmdn);
  if (nd->kind == KW_UNKNOWN)
    return node_error (p, nd, err, "unknown instruction: %.*s", cmdn > INT_MAX ? INT_MAX : (int) cmdn, cmd);
  if (trigger && reject_trigger (p, nd, cmd, cmdn, err) < 0)
    return -1;
  off = extract_flags (s + k, n - k, &nd->flags);
  args = s + k + off;
  argn = n - k - off;
  trim_space (&args, &argn);
  return dispatch (p, nd, args, argn, err);
}

/* ---- Heredocs: BuildKit finds them by running its shell lexer over the whole line ---- */

#define SH_EOF (-1)

typedef struct shlex
{
  const char *s;
  size_t n, pos;
  bool raw_quotes;
  bool raw_escapes;
  int depth;
} shlex;

/* The lexer's word splitting (shell.wordsStruct).  */
typedef struct shwords
{
  gsi_buf word;
  bool in_word;
  arglist *out;
} shwords;

static void
shlex_init (shlex *l, const char *s, size_t n, bool raw_quotes, bool raw_escapes)
{
  *l = (shlex) { s, n, 0, raw_quotes, raw_escapes, 0 };
  /* text/scanner skips a byte order mark at the start.  */
  if (n >= 3 && memcmp (s, "\xEF\xBB\xBF", 3) == 0)
    l->pos = 3;
}

static int32_t
sh_peek (const shlex *l)
{
  size_t w;
  if (l->pos >= l->n)
    return SH_EOF;
  return decode_rune (l->s + l->pos, l->n - l->pos, &w);
}

static int32_t
sh_next (shlex *l)
{
  size_t w;
  int32_t r;
  if (l->pos >= l->n)
    return SH_EOF;
  r = decode_rune (l->s + l->pos, l->n - l->pos, &w);
  l->pos += w;
  return r;
}

/* WriteRune: Go writes U+FFFD for an invalid rune such as EOF.  */
static void
add_rune (gsi_buf *b, int32_t r)
{
  gsi_buf_add_utf8 (b, r < 0 ? RUNE_ERROR : (unsigned) r);
}

static void
w_raw_rune (shwords *w, int32_t r)
{
  if (w == NULL)
    return;
  add_rune (&w->word, r);
  w->in_word = true;
}

static void
w_char (shwords *w, int32_t r)
{
  if (w == NULL)
    return;
  if (rune_is_space (r) && w->in_word)
    {
      if (w->word.len != 0)
        {
          arglist_push (w->out, w->word.buf, w->word.len);
          gsi_buf_reset (&w->word);
          w->in_word = false;
        }
    }
  else if (!rune_is_space (r))
    w_raw_rune (w, r);
}

static void
w_string (shwords *w, const gsi_buf *s, bool raw)
{
  if (w == NULL)
    return;
  if (raw)
    {
      gsi_buf_add (&w->word, s->buf, s->len);
      w->in_word = true;
      return;
    }
  for (size_t i = 0; i < s->len;)
    {
      size_t width;
      w_char (w, decode_rune (s->buf + i, s->len - i, &width));
      i += width;
    }
}

static bool
sh_is_digit (int32_t r)
{
  return r >= '0' && r <= '9';
}

/* unicode.IsLetter, close enough: ASCII letters, and non-ASCII runes that are not spaces, Latin-1
 * symbols, general punctuation or U+FFFD.  */
static bool
sh_is_letter (int32_t r)
{
  if (r < 0x80)
    return (r | 32) >= 'a' && (r | 32) <= 'z';
  if (r < 0xC0)
    return r == 0xAA || r == 0xB5 || r == 0xBA;
  if (r == 0xD7 || r == 0xF7 || r == RUNE_ERROR || rune_is_space (r))
    return false;
  return !(r >= 0x2000 && r <= 0x206F);
}

static bool
sh_is_special_param (int32_t r)
{
  switch (r)
    {
    case '@': case '*': case '#': case '?': case '-': case '$': case '!': case '0':
      return true;
    default:
      return false;
    }
}

static void
sh_name (shlex *l, gsi_buf *out)
{
  size_t start = out->len;
  int32_t c;

  while ((c = sh_peek (l)) != SH_EOF)
    {
      if (out->len == start && sh_is_digit (c))
        {
          while (sh_is_digit (sh_peek (l)))
            add_rune (out, sh_next (l));
          return;
        }
      if (out->len == start && sh_is_special_param (c))
        {
          add_rune (out, sh_next (l));
          return;
        }
      if (!sh_is_letter (c) && !sh_is_digit (c) && c != '_')
        break;
      add_rune (out, sh_next (l));
    }
}

static int sh_stop_on (shlex *l, int32_t stop, bool raw_escapes, gsi_buf *result, shwords *w);

/* ${name<op>word}: with every variable unset and SkipUnsetEnv, the text comes back as written (the
 * word itself lexed).  Malformed forms are errors, as in BuildKit.  */
static int
sh_dollar_brace (shlex *l, gsi_buf *out)
{
  cleanup_buf gsi_buf name = GSI_BUF_INIT;
  cleanup_buf gsi_buf word = GSI_BUF_INIT;
  cleanup_buf gsi_buf pat = GSI_BUF_INIT;
  int32_t c = sh_peek (l), ch;

  if (c == SH_EOF || c == '{' || c == '}' || c == ':')
    return -1;
  sh_name (l, &name);
  gsi_buf_addstr (out, "${");
  gsi_buf_add (out, name.buf, name.len);
  ch = sh_next (l);
  switch (ch)
    {
    case '}':
      break;
    case ':':
      add_rune (out, ch);
      ch = sh_next (l);
      __attribute__ ((fallthrough));
    case '+':
    case '-':
    case '?':
    case '#':
    case '%':
      add_rune (out, ch);
      if (sh_stop_on (l, '}', ch == '#' || ch == '%', &word, NULL) < 0)
        return -1;
      gsi_buf_add (out, word.buf, word.len);
      break;
    case '/':
      if (sh_peek (l) == '/')
        sh_next (l);
      if (sh_stop_on (l, '/', true, &pat, NULL) < 0 || sh_stop_on (l, '}', true, &word, NULL) < 0)
        return -1;
      gsi_buf_addch (out, '/');
      gsi_buf_add (out, pat.buf, pat.len);
      gsi_buf_addch (out, '/');
      gsi_buf_add (out, word.buf, word.len);
      break;
    default:
      return -1;
    }
  gsi_buf_addch (out, '}');
  return 0;
}

static int
sh_dollar (shlex *l, gsi_buf *out)
{
  sh_next (l);
  if (sh_peek (l) != '{')
    {
      gsi_buf_addch (out, '$');
      sh_name (l, out);
      return 0;
    }
  sh_next (l);
  return sh_dollar_brace (l, out);
}

static int
sh_single_quote (shlex *l, gsi_buf *out)
{
  int32_t c = sh_next (l);

  if (l->raw_quotes)
    add_rune (out, c);
  for (;;)
    {
      c = sh_next (l);
      if (c == SH_EOF)
        return -1;
      if (c == '\'')
        {
          if (l->raw_quotes)
            add_rune (out, c);
          return 0;
        }
      add_rune (out, c);
    }
}

static int
sh_double_quote (shlex *l, gsi_buf *out)
{
  int32_t c = sh_next (l);

  if (l->raw_quotes)
    add_rune (out, c);
  for (;;)
    {
      c = sh_peek (l);
      if (c == SH_EOF)
        return -1;
      if (c == '"')
        {
          sh_next (l);
          if (l->raw_quotes)
            add_rune (out, c);
          return 0;
        }
      if (c == '$')
        {
          if (sh_dollar (l, out) < 0)
            return -1;
          continue;
        }
      c = sh_next (l);
      if (c == '\\')
        {
          int32_t n;
          if (l->raw_escapes)
            add_rune (out, c);
          n = sh_peek (l);
          if (n == SH_EOF)
            continue;
          if (n == '"' || n == '$' || n == '\\')
            c = sh_next (l);
        }
      add_rune (out, c);
    }
}

/* processPossibleHeredoc: `<<` keeps the blanks after it in its word, so `<< EOF` is one word.  */
static void
sh_heredoc_marker (shlex *l, gsi_buf *out)
{
  int32_t c;

  sh_next (l);
  gsi_buf_addch (out, '<');
  if (sh_peek (l) != '<')
    return;
  sh_next (l);
  gsi_buf_addch (out, '<');
  while ((c = sh_peek (l)) == ' ' || c == '\t' || c == '\r' || c == '\n')
    add_rune (out, sh_next (l));
}

static int
sh_special (shlex *l, int32_t c, gsi_buf *result, shwords *w)
{
  cleanup_buf gsi_buf tmp = GSI_BUF_INIT;
  int rc = 0;

  if (c == '$')
    rc = sh_dollar (l, &tmp);
  else if (c == '<')
    sh_heredoc_marker (l, &tmp);
  else if (c == '\'')
    rc = sh_single_quote (l, &tmp);
  else
    rc = sh_double_quote (l, &tmp);
  if (rc < 0)
    return -1;
  gsi_buf_add (result, tmp.buf, tmp.len);
  w_string (w, &tmp, c != '$');
  return 0;
}

static int
sh_loop (shlex *l, int32_t stop, gsi_buf *result, shwords *w)
{
  int32_t c;

  while ((c = sh_peek (l)) != SH_EOF)
    {
      if (stop != SH_EOF && c == stop)
        {
          sh_next (l);
          return 0;
        }
      if (c == '$' || c == '<' || c == '\'' || c == '"')
        {
          if (sh_special (l, c, result, w) < 0)
            return -1;
          continue;
        }
      c = sh_next (l);
      if (c == '\\')
        {
          if (l->raw_escapes)
            {
              w_raw_rune (w, c);
              add_rune (result, c);
            }
          c = sh_next (l);
          if (c == SH_EOF)
            break;
          w_raw_rune (w, c);
        }
      else
        w_char (w, c);
      add_rune (result, c);
    }
  return stop != SH_EOF ? -1 : 0;
}

/* processStopOn.  */
static int
sh_stop_on (shlex *l, int32_t stop, bool raw_escapes, gsi_buf *result, shwords *w)
{
  bool saved = l->raw_escapes;
  int rc;

  if (l->depth >= SHLEX_MAX_DEPTH)
    return -1;
  l->depth++;
  l->raw_escapes = raw_escapes;
  rc = sh_loop (l, stop, result, w);
  l->raw_escapes = saved;
  l->depth--;
  return rc;
}

/* ProcessWords with an empty environment.  */
static int
sh_words (const char *s, size_t n, bool raw_quotes, bool raw_escapes, arglist *out)
{
  cleanup_buf gsi_buf result = GSI_BUF_INIT;
  shwords w = { GSI_BUF_INIT, false, out };
  shlex l;
  int rc;

  shlex_init (&l, s, n, raw_quotes, raw_escapes);
  rc = sh_stop_on (&l, SH_EOF, raw_escapes, &result, &w);
  if (rc == 0 && w.word.len > 0)
    arglist_push (out, w.word.buf, w.word.len);
  gsi_buf_release (&w.word);
  return rc;
}

static size_t
count_quotes (const char *s, size_t n)
{
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += s[i] == '\'' || s[i] == '"';
  return c;
}

/* ParseHeredoc: `^(\d*)<<(-?)\s*([^<]*)$`, then the delimiter lexed with and without raw quotes;
 * a quote that only the raw pass keeps means the delimiter was quoted.  Returns 1 with h filled, 0
 * when the word is no heredoc, -1 on a lexing error.  */
static int
heredoc_from_word (const char *s, size_t n, cf_heredoc *h)
{
  cleanup_arglist arglist plain = ARGLIST_INIT;
  cleanup_arglist arglist raw = ARGLIST_INIT;
  size_t i = 0;
  bool chomp = false;

  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  if (n - i < 2 || s[i] != '<' || s[i + 1] != '<')
    return 0;
  i += 2;
  if (i < n && s[i] == '-')
    chomp = true, i++;
  while (i < n && is_re_space (s[i]))
    i++;
  if (i == n || memchr (s + i, '<', n - i) != NULL)
    return 0;
  if (sh_words (s + i, n - i, false, false, &plain) < 0)
    return -1;
  if (plain.sv.n != 1)
    return 0;
  if (sh_words (s + i, n - i, true, false, &raw) < 0 || raw.sv.n != 1)
    return -1;
  h->name = xstrndup (plain.sv.v[0], plain.len[0]);
  h->expand = count_quotes (plain.sv.v[0], plain.len[0]) == count_quotes (raw.sv.v[0], raw.len[0]);
  h->chomp = chomp;
  return 1;
}

static void
heredoc_clear (cf_heredoc *h)
{
  free (h->name);
  free (h->content);
}

/* (?m)^\t+ removed, as ChompHeredocContent does.  */
static void
chomp_tabs (gsi_buf *b)
{
  size_t r = 0, w = 0;
  bool at_start = true;

  while (r < b->len)
    {
      char c = b->buf[r++];
      if (at_start && c == '\t')
        continue;
      at_start = c == '\n';
      b->buf[w++] = c;
    }
  gsi_buf_setlen (b, w);
}

/* Reads one body up to its delimiter line.  */
static bool
read_heredoc_body (parser *p, cf_heredoc *h)
{
  cleanup_buf gsi_buf body = GSI_BUF_INIT;
  size_t name_len = strlen (h->name);
  const char *raw;
  size_t rawn;

  while (scan_line (&p->sc, &raw, &rawn))
    {
      const char *t = raw;
      size_t n = rawn;
      trim_newline (t, &n);
      if (h->chomp)
        while (n > 0 && *t == '\t')
          t++, n--;
      if (n == name_len && memcmp (t, h->name, n) == 0)
        {
          if (h->chomp)
            chomp_tabs (&body);
          h->content_len = body.len;
          h->content = gsi_buf_detach (&body, NULL);
          return true;
        }
      gsi_buf_add (&body, raw, rawn);
    }
  return false;
}

static int
collect_heredocs (parser *p, cf_instr *in, gsi_error *err)
{
  cleanup_arglist arglist words = ARGLIST_INIT;
  size_t alloc = 0;

  /* A line the lexer cannot read has no heredocs (BuildKit drops the error).  */
  if (sh_words (p->line.buf, p->line.len, true, true, &words) < 0)
    return 0;
  for (size_t i = 0; i < words.sv.n; i++)
    {
      cf_heredoc h = { NULL, NULL, 0, true, false };
      int r = heredoc_from_word (words.sv.v[i], words.len[i], &h);
      if (r < 0)
        return gsi_error_at (err, p->path, p->start_line, in->col, "failed to process heredoc delimiter in `%s`",
                             words.sv.v[i]);
      if (r == 0)
        continue;
      GSI_ALLOC_GROW (in->heredocs, in->nheredocs + 1, alloc);
      in->heredocs[in->nheredocs++] = h;
    }
  for (size_t i = 0; i < in->nheredocs; i++)
    if (!read_heredoc_body (p, &in->heredocs[i]))
      return gsi_error_at (err, p->path, p->start_line, in->col, "unterminated heredoc `%s`",
                           in->heredocs[i].name);
  return 0;
}

/* canContainHeredoc: RUN, COPY, ADD (also as ONBUILD's trigger), not in JSON form.  */
static bool
wants_heredocs (const parser *p, const cf_instr *in)
{
  const cf_instr *t = in->sub ? in->sub : in;

  if (!kw_takes_heredocs (t->keyword) || t->json)
    return false;
  return memmem (p->line.buf, p->line.len, "<<", 2) != NULL;
}

/* ---- The line loop (BuildKit's Parse) ---- */

static void
instr_clear (cf_instr *in)
{
  free (in->keyword);
  free (in->original);
  gsi_strvec_clear (&in->flags);
  gsi_strvec_clear (&in->args);
  free (in->flag_len);
  free (in->arg_len);
  if (in->sub)
    {
      instr_clear (in->sub);
      free (in->sub);
    }
  for (size_t i = 0; i < in->nheredocs; i++)
    heredoc_clear (&in->heredocs[i]);
  free (in->heredocs);
  memset (in, 0, sizeof (*in));
}

/* The first physical line of an instruction: returns 1 when an instruction starts, 0 for a blank,
 * comment or directive line.  */
static int
first_line (parser *p, const char *s, size_t n, gsi_error *err)
{
  const char *t;

  if (p->sc.line == 1 && n >= 3 && memcmp (s, "\xEF\xBB\xBF", 3) == 0)
    s += 3, n -= 3;
  trim_newline (s, &n);
  t = s;
  trim_left_space (&t, &n);
  p->indent = (size_t) (t - s);
  p->start_line = p->sc.line;
  if (check_directive (p, t, n, err) < 0)
    return -1;
  if (is_comment (t, n))
    n = 0;
  p->cont = trim_continuation (p, t, &n);
  if (!p->cont && n == 0)
    return 0;
  gsi_buf_reset (&p->line);
  gsi_buf_add (&p->line, t, n);
  return 1;
}

/* Joins continuation lines; comment lines inside are dropped, blank ones too, with a warning.  */
static void
join_continuations (parser *p)
{
  const char *raw;
  size_t rawn;
  int empty_at = 0;

  while (p->cont && scan_line (&p->sc, &raw, &rawn))
    {
      size_t n = rawn;
      const char *t = raw;
      size_t tn;
      trim_newline (raw, &n);
      if (is_comment (raw, rawn))
        continue;
      tn = n;
      trim_left_space (&t, &tn);
      if (tn == 0)
        {
          if (empty_at == 0)
            empty_at = p->sc.line;
          continue;
        }
      p->cont = trim_continuation (p, raw, &n);
      gsi_buf_add (&p->line, raw, n);
    }
  if (empty_at)
    gsi_strvec_pushf (&p->f->warnings, "%s:%d:1: warning: empty continuation line found in: %s", p->path, empty_at,
                      p->line.buf);
}

static int
finish_instruction (parser *p, gsi_error *err)
{
  cleanup_node node nd = NODE_INIT;
  cf_instr *in;

  if (parse_instruction (p, p->line.buf, p->line.len, &nd, false, err) < 0)
    return -1;
  GSI_ALLOC_GROW (p->f->instrs, p->f->n + 1, p->alloc);
  in = &p->f->instrs[p->f->n++];
  memset (in, 0, sizeof (*in));
  in->keyword = xstrdup (kw_names[nd.kind]);
  in->original = xstrndup (p->line.buf, p->line.len);
  in->flags = nd.flags.sv;
  in->flag_len = nd.flags.len;
  in->args = nd.args.sv;
  in->arg_len = nd.args.len;
  in->json = nd.json;
  in->sub = steal_pointer (&nd.sub);
  in->col = nd.col;
  in->start_line = p->start_line;
  nd.flags = (arglist) ARGLIST_INIT;
  nd.args = (arglist) ARGLIST_INIT;
  if (wants_heredocs (p, in) && collect_heredocs (p, in, err) < 0)
    return -1;
  in->end_line = p->sc.line;
  if (in->sub)
    {
      in->sub->start_line = in->start_line;
      in->sub->end_line = in->end_line;
    }
  return 0;
}

static int
parse_lines (parser *p, gsi_error *err)
{
  const char *raw;
  size_t rawn;

  while (scan_line (&p->sc, &raw, &rawn))
    {
      int r = first_line (p, raw, rawn, err);
      if (r < 0)
        return -1;
      if (r == 0)
        continue;
      join_continuations (p);
      if (finish_instruction (p, err) < 0)
        return -1;
    }
  if (p->f->n == 0)
    return gsi_error_at (err, p->path, p->sc.line > 0 ? p->sc.line : 1, 1, "file with no instructions");
  if (p->sc.too_long)
    return gsi_error_at (err, p->path, p->sc.line + 1, 1, "dockerfile line greater than max allowed size of %d",
                         SCAN_MAX_TOKEN - 1);
  return 0;
}

void
cf_file_free (cf_file *f)
{
  if (f == NULL)
    return;
  for (size_t i = 0; i < f->n; i++)
    instr_clear (&f->instrs[i]);
  free (f->instrs);
  free (f->path);
  free (f->syntax);
  free (f->check);
  gsi_strvec_clear (&f->warnings);
  free (f);
}

static inline void
cleanup_cf_filep (cf_file **f)
{
  cf_file_free (*f);
}

int
cf_parse (const char *path, const char *data, size_t len, cf_file **out, gsi_error *err)
{
  __attribute__ ((cleanup (cleanup_cf_filep))) cf_file *f = xcalloc (1, sizeof (*f));
  parser p;
  int rc;

  *out = NULL;
  if (path == NULL)
    path = "Containerfile";
  f->path = xstrdup (path);
  f->escape = '\\';
  memset (&p, 0, sizeof (p));
  p.path = f->path;
  p.sc.data = data ? data : "";
  p.sc.len = data ? len : 0;
  p.f = f;
  p.esc = '\\';
  p.line = (gsi_buf) GSI_BUF_INIT;
  rc = parse_lines (&p, err);
  gsi_buf_release (&p.line);
  if (rc < 0)
    return -1;
  *out = steal_pointer (&f);
  return 0;
}

int
cf_parse_file (const char *path, cf_file **out, gsi_error *err)
{
  cleanup_close int fd = -1;
  cleanup_buf gsi_buf data = GSI_BUF_INIT;
  struct stat st;

  *out = NULL;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", path);
  if (fstat (fd, &st) < 0)
    return gsi_error_set (err, errno, "stat `%s`", path);
  if (S_ISDIR (st.st_mode))
    return gsi_error_set (err, EISDIR, "read `%s`", path);
  for (;;)
    {
      ssize_t r;
      gsi_buf_grow (&data, 65536);
      r = read (fd, data.buf + data.len, data.alloc - data.len - 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return gsi_error_set (err, errno, "read `%s`", path);
      if (r == 0)
        break;
      gsi_buf_setlen (&data, data.len + (size_t) r);
    }
  return cf_parse (path, data.buf, data.len, out, err);
}
