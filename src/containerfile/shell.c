/* Shell-word expansion with the behaviour of BuildKit's lexer (frontend/dockerfile/shell/lex.go).
 *
 * The word is read rune by rune as Go's text/scanner reads it: a leading byte order mark is
 * skipped and every invalid UTF-8 byte reads as U+FFFD.  Quotes, escapes and $-expansions are
 * handled by a small recursive descent; each ${NAME<modifier>WORD} reads WORD with the same
 * machinery up to its closing character.  Pattern operators (# ## % %% / //) use Go's regexp
 * semantics on the pattern BuildKit builds: '*' is ".*" (".*?" for the shortest forms), '?' is
 * '.', neither matches a newline, and the leftmost match wins.  */
#include "shell.h"

#include <stdint.h>
#include <string.h>

#include "util/buf.h"
#include "util/unicode.h"
#include "util/xalloc.h"

#define SH_EOF (-1)

/* Go grows its stacks, we do not: deeper nesting than any real Containerfile needs is an error
 * rather than a stack overflow.  */
#define SH_MAX_NESTING 200

/* Work allowed for one word, in bytes of substitution output plus pattern-matching table cells
 * (counted in pairs).  ${V//p/r} multiplies sizes and nests, so a short hostile word could ask for
 * gigabytes; no real Containerfile comes near this.  */
#define SH_WORK_BUDGET ((size_t) 1 << 22)

/* ---- environment ---- */

/* Length of the name part of a "NAME=VALUE" entry (the whole entry when it has no '=').  */
static size_t
env_key_len (const char *entry)
{
  const char *eq = strchr (entry, '=');
  return eq ? (size_t) (eq - entry) : strlen (entry);
}

void
cf_env_set (cf_env *env, const char *name, const char *value)
{
  size_t n = strlen (name);

  for (size_t i = 0; i < env->vars.n; i++)
    if (env_key_len (env->vars.v[i]) == n && memcmp (env->vars.v[i], name, n) == 0)
      {
        free (env->vars.v[i]);
        env->vars.v[i] = xasprintf ("%s=%s", name, value ? value : "");
        return;
      }
  gsi_strvec_pushf (&env->vars, "%s=%s", name, value ? value : "");
}

const char *
cf_env_get (const cf_env *env, const char *name)
{
  size_t n = strlen (name);

  if (env == NULL)
    return NULL;
  /* From the end: a later entry for the same name wins, as in BuildKit's BuildEnvs.  */
  for (size_t i = env->vars.n; i-- > 0;)
    {
      const char *e = env->vars.v[i];
      if (env_key_len (e) == n && memcmp (e, name, n) == 0)
        return e[n] == '=' ? e + n + 1 : e + n;
    }
  return NULL;
}

void
cf_env_clear (cf_env *env)
{
  gsi_strvec_clear (&env->vars);
}

/* ---- the scanner ---- */

typedef struct shell_word
{
  const char *src;
  size_t len;
  size_t pos;
  const cf_env *env;
  int32_t escape;
  bool raw_quotes;
  bool skip_quotes;
  bool skip_unset;
  bool raw_escapes; /* changes while reading modifier words */
  gsi_strvec *matched;
  gsi_strvec *unmatched;
  int depth;
  size_t work; /* spent of SH_WORK_BUDGET */
  gsi_error *err;
} shell_word;

static int32_t
sc_peek_width (const shell_word *sw, size_t *width)
{
  uint32_t r;
  size_t w;

  if (sw->pos >= sw->len)
    return SH_EOF;
  w = gsi_utf8_decode (sw->src + sw->pos, sw->len - sw->pos, &r);
  if (width)
    *width = w;
  return (int32_t) r;
}

static int32_t
sc_peek (const shell_word *sw)
{
  return sc_peek_width (sw, NULL);
}

static int32_t
sc_next (shell_word *sw)
{
  size_t w = 0;
  int32_t r = sc_peek_width (sw, &w);

  sw->pos += w;
  return r;
}

/* Appends a rune the way Go's string(rune) converts one: EOF (-1) becomes U+FFFD.  */
static void
add_rune (gsi_buf *b, int32_t r)
{
  gsi_buf_add_utf8 (b, r < 0 ? GSI_RUNE_ERROR : (unsigned) r);
}

static int
sh_fail (shell_word *sw, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static int
sh_fail (shell_word *sw, const char *fmt, ...)
{
  cleanup_buf gsi_buf b = GSI_BUF_INIT;
  va_list ap;

  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  return gsi_error_set (sw->err, 0, "%s", b.buf);
}

static int
sh_charge (shell_word *sw, size_t units)
{
  if (units > SH_WORK_BUDGET - sw->work)
    return sh_fail (sw, "substitution too large to expand (over %zu MiB of work)", SH_WORK_BUDGET >> 20);
  sw->work += units;
  return 0;
}

/* ---- word splitting (BuildKit's wordsStruct) ---- */

typedef struct sh_words
{
  gsi_buf word;
  gsi_strvec words;
} sh_words;

static void
words_flush (sh_words *w)
{
  if (w->word.len == 0)
    return;
  gsi_strvec_push (&w->words, w->word.buf);
  gsi_buf_reset (&w->word);
}

static void
words_add_char (sh_words *w, int32_t r)
{
  if (w == NULL)
    return;
  if (r >= 0 && gsi_unicode_is_space ((uint32_t) r))
    words_flush (w);
  else
    add_rune (&w->word, r);
}

static void
words_add_raw_char (sh_words *w, int32_t r)
{
  if (w)
    add_rune (&w->word, r);
}

/* Expansion results are split; Go ranges over them rune by rune, so invalid bytes become U+FFFD.  */
static void
words_add_string (sh_words *w, const char *s, size_t n)
{
  uint32_t r;

  if (w == NULL)
    return;
  for (size_t i = 0; i < n;)
    {
      i += gsi_utf8_decode (s + i, n - i, &r);
      words_add_char (w, (int32_t) r);
    }
}

static void
words_add_raw_string (sh_words *w, const char *s, size_t n)
{
  if (w)
    gsi_buf_add (&w->word, s, n);
}

/* ---- variables ---- */

static void
record_name (gsi_strvec *sv, const char *name)
{
  if (sv == NULL)
    return;
  for (size_t i = 0; i < sv->n; i++)
    if (strcmp (sv->v[i], name) == 0)
      return;
  gsi_strvec_push (sv, name);
}

static const char *
sh_getenv (shell_word *sw, const char *name)
{
  const char *v = cf_env_get (sw->env, name);

  record_name (v ? sw->matched : sw->unmatched, name);
  return v;
}

static bool
is_special_param (int32_t c)
{
  return c != 0 && c < 0x80 && strchr ("@*#?-$!0", (int) c) != NULL;
}

/* A name is letters, digits and '_'; a leading digit reads a run of digits (positional
 * parameters), a leading special parameter is the whole name.  */
static void
process_name (shell_word *sw, gsi_buf *name)
{
  int32_t ch;

  while ((ch = sc_peek (sw)) != SH_EOF)
    {
      if (name->len == 0 && gsi_unicode_is_digit ((uint32_t) ch))
        {
          while ((ch = sc_peek (sw)) != SH_EOF && gsi_unicode_is_digit ((uint32_t) ch))
            add_rune (name, sc_next (sw));
          return;
        }
      if (name->len == 0 && is_special_param (ch))
        {
          add_rune (name, sc_next (sw));
          return;
        }
      if (!gsi_unicode_is_letter ((uint32_t) ch) && !gsi_unicode_is_digit ((uint32_t) ch) && ch != '_')
        return;
      add_rune (name, sc_next (sw));
    }
}

/* ---- patterns of # ## % %% / // ---- */

enum
{
  PAT_LIT,
  PAT_ANY,
  PAT_STAR
};

typedef struct pat_item
{
  int kind;
  int32_t r;
} pat_item;

typedef struct pat_prog
{
  pat_item *v;
  size_t n;
  size_t alloc;
} pat_prog;

static void
pat_push (pat_prog *p, int kind, int32_t r)
{
  /* Two stars in a row match what one does, with the same leftmost-first result.  */
  if (kind == PAT_STAR && p->n > 0 && p->v[p->n - 1].kind == PAT_STAR)
    return;
  GSI_ALLOC_GROW (p->v, p->n + 1, p->alloc);
  p->v[p->n].kind = kind;
  p->v[p->n].r = r;
  p->n++;
}

/* BuildKit's convertShellPatternToRegex: everything but '*', '?' and backslash escapes is a
 * literal; "\}" and "\/" drop the backslash; any other escape than \* \? \\ is an error.  */
static int
pat_compile (const char *pat, size_t len, pat_prog *prog, gsi_buf *why)
{
  shell_word s = { .src = pat, .len = len };
  int32_t tok;

  if (len >= 3 && memcmp (pat, "\xEF\xBB\xBF", 3) == 0)
    s.pos = 3;
  while ((tok = sc_next (&s)) != SH_EOF)
    {
      if (tok == '*')
        pat_push (prog, PAT_STAR, 0);
      else if (tok == '?')
        pat_push (prog, PAT_ANY, 0);
      else if (tok == '\\' && (sc_peek (&s) == '}' || sc_peek (&s) == '/'))
        continue;
      else if (tok == '\\')
        {
          tok = sc_next (&s);
          if (tok != '*' && tok != '?' && tok != '\\')
            {
              gsi_buf_addstr (why, "invalid escape '\\");
              add_rune (why, tok);
              gsi_buf_addch (why, '\'');
              return -1;
            }
          pat_push (prog, PAT_LIT, tok);
        }
      else
        pat_push (prog, PAT_LIT, tok);
    }
  return 0;
}

/* The subject decoded into runes, with the byte offset of each (offs[n] is the length).  */
typedef struct subject
{
  const char *s;
  uint32_t *r;
  size_t *offs;
  size_t n;
} subject;

static void
subject_init (subject *sj, const char *s, size_t len)
{
  size_t n = 0;
  uint32_t r;

  sj->s = s;
  sj->r = xmalloc ((len + 1) * sizeof (*sj->r));
  sj->offs = xmalloc ((len + 1) * sizeof (*sj->offs));
  for (size_t i = 0; i < len;)
    {
      sj->offs[n] = i;
      i += gsi_utf8_decode (s + i, len - i, &r);
      sj->r[n++] = r;
    }
  sj->offs[n] = len;
  sj->n = n;
}

static void
subject_release (subject *sj)
{
  free (sj->r);
  free (sj->offs);
}

/* reach[i][p]: items i.. can match starting at rune p (the match need not reach the end).  */
typedef struct matcher
{
  const pat_prog *prog;
  const subject *sj;
  bool greedy;
  size_t row; /* bytes per row */
  unsigned char *reach;
} matcher;

static bool
reach_get (const matcher *m, size_t i, size_t p)
{
  return (m->reach[i * m->row + p / 8] >> (p % 8)) & 1;
}

static void
reach_set (matcher *m, size_t i, size_t p)
{
  m->reach[i * m->row + p / 8] |= (unsigned char) (1u << (p % 8));
}

static bool
item_matches (const pat_item *it, uint32_t r)
{
  if (it->kind == PAT_LIT)
    return r == (uint32_t) it->r;
  return r != '\n'; /* Go's '.' without the s flag */
}

static int
matcher_init (shell_word *sw, matcher *m, const pat_prog *prog, const subject *sj, bool greedy)
{
  size_t rows = prog->n + 1, n = sj->n;

  m->prog = prog;
  m->sj = sj;
  m->greedy = greedy;
  m->row = (n + 1 + 7) / 8;
  if (n + 1 > 2 * SH_WORK_BUDGET / rows)
    return sh_charge (sw, SIZE_MAX);
  if (sh_charge (sw, rows * (n + 1) / 2) < 0)
    return -1;
  m->reach = xcalloc (rows, m->row);
  for (size_t p = 0; p <= n; p++)
    reach_set (m, prog->n, p);
  for (size_t i = prog->n; i-- > 0;)
    {
      const pat_item *it = &prog->v[i];
      for (size_t p = n + 1; p-- > 0;)
        {
          bool ok;
          if (it->kind == PAT_STAR)
            ok = reach_get (m, i + 1, p) || (p < n && sj->r[p] != '\n' && reach_get (m, i, p + 1));
          else
            ok = p < n && item_matches (it, sj->r[p]) && reach_get (m, i + 1, p + 1);
          if (ok)
            reach_set (m, i, p);
        }
    }
  return 0;
}

/* Walks the preferred path of a match known to start at s, as a backtracking regexp engine
 * would find it first: a star takes the most (greedy) or fewest runes that leave the rest
 * matchable.  Returns the end of the match.  */
static size_t
matcher_walk (const matcher *m, size_t s)
{
  const subject *sj = m->sj;
  size_t p = s;

  for (size_t i = 0; i < m->prog->n; i++)
    {
      size_t lim = p, q;
      if (m->prog->v[i].kind != PAT_STAR)
        {
          p++;
          continue;
        }
      while (lim < sj->n && sj->r[lim] != '\n')
        lim++;
      if (m->greedy)
        for (q = lim; q > p && !reach_get (m, i + 1, q); q--)
          ;
      else
        for (q = p; q < lim && !reach_get (m, i + 1, q); q++)
          ;
      p = q;
    }
  return p;
}

/* The leftmost match starting at or after from (only at from when anchored).  */
static bool
matcher_find (const matcher *m, size_t from, bool anchored, size_t *s, size_t *e)
{
  for (size_t p = from; p <= m->sj->n; p++)
    {
      if (reach_get (m, 0, p))
        {
          *s = p;
          *e = matcher_walk (m, p);
          return true;
        }
      if (anchored)
        break;
    }
  return false;
}

typedef struct compiled_match
{
  pat_prog prog;
  subject sj;
  matcher m;
} compiled_match;

static int
compiled_match_init (shell_word *sw, compiled_match *cm, const char *pat, size_t plen, const char *value,
                     size_t vlen, bool greedy)
{
  cleanup_buf gsi_buf why = GSI_BUF_INIT;

  memset (cm, 0, sizeof (*cm));
  if (pat_compile (pat, plen, &cm->prog, &why) < 0)
    return sh_fail (sw, "invalid pattern (%.*s) in substitution: %s", (int) plen, pat, why.buf);
  subject_init (&cm->sj, value, vlen);
  if (matcher_init (sw, &cm->m, &cm->prog, &cm->sj, greedy) < 0)
    return -1;
  return 0;
}

static void
compiled_match_release (compiled_match *cm)
{
  free (cm->prog.v);
  subject_release (&cm->sj);
  free (cm->m.reach);
  memset (cm, 0, sizeof (*cm));
}

static void
cleanup_compiled_matchp (compiled_match *cm)
{
  compiled_match_release (cm);
}
#define cleanup_compiled_match __attribute__ ((cleanup (cleanup_compiled_matchp)))

/* ${V#p} ${V##p}: removes the shortest or longest match anchored at the start.  */
static int
trim_prefix (shell_word *sw, const char *pat, size_t plen, const char *value, size_t vlen, bool greedy,
             gsi_buf *out)
{
  cleanup_compiled_match compiled_match cm = { 0 };
  size_t s, e = 0;

  if (compiled_match_init (sw, &cm, pat, plen, value, vlen, greedy) < 0)
    return -1;
  if (matcher_find (&cm.m, 0, true, &s, &e))
    gsi_buf_add (out, value + cm.sj.offs[e], vlen - cm.sj.offs[e]);
  else
    gsi_buf_add (out, value, vlen);
  return 0;
}

/* Reverses the runes of s (invalid bytes become U+FFFD, as Go's []rune conversion does).  */
static void
reverse_string (const char *s, size_t len, gsi_buf *out)
{
  subject sj;

  subject_init (&sj, s, len);
  for (size_t i = sj.n; i-- > 0;)
    gsi_buf_add_utf8 (out, sj.r[i]);
  subject_release (&sj);
}

/* Reverses a pattern but keeps each backslash before the rune it escapes: a\*c gives c\*a.  */
static void
reverse_pattern (const char *s, size_t len, gsi_buf *out)
{
  subject sj;
  uint32_t *rev;
  size_t last;

  subject_init (&sj, s, len);
  if (sj.n == 0)
    {
      subject_release (&sj);
      return;
    }
  rev = xmalloc (sj.n * sizeof (*rev));
  last = sj.n - 1;
  for (size_t i = 0; i <= last;)
    {
      if (sj.r[i] == '\\' && i != last)
        {
          rev[last - i - 1] = '\\';
          rev[last - i] = sj.r[i + 1];
          i += 2;
        }
      else
        {
          rev[last - i] = sj.r[i];
          i++;
        }
    }
  for (size_t i = 0; i < sj.n; i++)
    gsi_buf_add_utf8 (out, rev[i]);
  free (rev);
  subject_release (&sj);
}

/* ${V%p} ${V%%p}: the shortest rightmost match is found by matching the reversed pattern at the
 * start of the reversed value, as BuildKit does.  */
static int
trim_suffix (shell_word *sw, const char *pat, size_t plen, const char *value, size_t vlen, bool greedy,
             gsi_buf *out)
{
  cleanup_buf gsi_buf rpat = GSI_BUF_INIT;
  cleanup_buf gsi_buf rval = GSI_BUF_INIT;
  cleanup_buf gsi_buf trimmed = GSI_BUF_INIT;

  reverse_pattern (pat, plen, &rpat);
  reverse_string (value, vlen, &rval);
  if (trim_prefix (sw, rpat.buf, rpat.len, rval.buf, rval.len, greedy, &trimmed) < 0)
    return -1;
  reverse_string (trimmed.buf, trimmed.len, out);
  return 0;
}

/* Go's regexp.Expand on a template where the only group is the whole match ($0): "$$" is a
 * dollar, $name/${name} of any other name expands to nothing, a malformed reference stays.  */
static size_t
template_ref (const char *t, size_t n, bool *is_zero)
{
  size_t i = 0, start, end;
  bool brace = n > 0 && t[0] == '{';
  uint32_t r;

  start = i = brace ? 1 : 0;
  while (i < n)
    {
      size_t w = gsi_utf8_decode (t + i, n - i, &r);
      if (!gsi_unicode_is_letter (r) && !gsi_unicode_is_digit (r) && r != '_')
        break;
      i += w;
    }
  if (i == start)
    return 0;
  end = i;
  if (brace)
    {
      if (i >= n || t[i] != '}')
        return 0;
      i++;
    }
  *is_zero = end - start == 1 && t[start] == '0';
  return i;
}

static void
expand_template (const char *tmpl, size_t n, const char *match, size_t mlen, gsi_buf *out)
{
  size_t i = 0;

  while (i < n)
    {
      const char *d = memchr (tmpl + i, '$', n - i);
      size_t used;
      bool zero = false;

      if (d == NULL)
        break;
      gsi_buf_add (out, tmpl + i, (size_t) (d - tmpl) - i);
      i = (size_t) (d - tmpl) + 1;
      if (i < n && tmpl[i] == '$')
        {
          gsi_buf_addch (out, '$');
          i++;
          continue;
        }
      used = template_ref (tmpl + i, n - i, &zero);
      if (used == 0)
        {
          gsi_buf_addch (out, '$');
          continue;
        }
      if (zero)
        gsi_buf_add (out, match, mlen);
      i += used;
    }
  gsi_buf_add (out, tmpl + i, n - i);
}

/* Go's Regexp.ReplaceAllString: an empty match right after the previous match is not replaced,
 * and the search always moves on by at least one rune.  */
static int
replace_all (shell_word *sw, const matcher *m, const char *repl, size_t rlen, gsi_buf *out)
{
  const subject *sj = m->sj;
  size_t last = 0, search = 0, s, e;

  while (search <= sj->n && matcher_find (m, search, false, &s, &e))
    {
      gsi_buf_add (out, sj->s + sj->offs[last], sj->offs[s] - sj->offs[last]);
      if (e > last || s == 0)
        {
          if (sh_charge (sw, rlen + (sj->offs[e] - sj->offs[s])) < 0)
            return -1;
          expand_template (repl, rlen, sj->s + sj->offs[s], sj->offs[e] - sj->offs[s], out);
        }
      last = e;
      search = e > search ? e : search + 1;
    }
  gsi_buf_add (out, sj->s + sj->offs[last], sj->offs[sj->n] - sj->offs[last]);
  return 0;
}

static int
replace_pattern (shell_word *sw, const gsi_buf *pat, const gsi_buf *repl, const char *value, bool all,
                 gsi_buf *out)
{
  cleanup_compiled_match compiled_match cm = { 0 };
  size_t vlen = strlen (value), s, e;

  if (compiled_match_init (sw, &cm, pat->buf, pat->len, value, vlen, true) < 0)
    return -1;
  if (all)
    return replace_all (sw, &cm.m, repl->buf, repl->len, out);
  else if (matcher_find (&cm.m, 0, false, &s, &e))
    {
      gsi_buf_add (out, value, cm.sj.offs[s]);
      gsi_buf_add (out, repl->buf, repl->len);
      gsi_buf_add (out, value + cm.sj.offs[e], vlen - cm.sj.offs[e]);
    }
  else
    gsi_buf_addstr (out, value);
  return 0;
}

/* ---- the lexer ---- */

static int process_stop_on (shell_word *sw, int32_t stop, bool raw_escapes, gsi_buf *result, sh_words *words);

/* ${NAME:-WORD} and the other modifiers.  ch is the character after NAME.  */
static int
expand_modifier (shell_word *sw, const char *name, int32_t ch, gsi_buf *out)
{
  cleanup_buf gsi_buf chs = GSI_BUF_INIT;
  cleanup_buf gsi_buf word = GSI_BUF_INIT;
  bool null_is_unset = false, unset_or_null;
  const char *value;

  add_rune (&chs, ch);
  if (ch == ':')
    {
      null_is_unset = true;
      ch = sc_next (sw);
      add_rune (&chs, ch);
    }
  /* Neither bash nor BuildKit has ${V:#p} or ${V:%p}.  */
  if (null_is_unset && (ch == '#' || ch == '%'))
    return sh_fail (sw, "unsupported modifier (%s) in substitution", chs.buf);
  if (process_stop_on (sw, '}', ch == '#' || ch == '%', &word, NULL) < 0)
    return sc_peek (sw) == SH_EOF ? sh_fail (sw, "syntax error: missing '}'") : -1;

  value = sh_getenv (sw, name);
  if (sw->skip_unset && value == NULL)
    {
      gsi_buf_addf (out, "${%s%s%s}", name, chs.buf, word.buf);
      return 0;
    }
  unset_or_null = value == NULL || (null_is_unset && *value == '\0');
  switch (ch)
    {
    case '-':
      gsi_buf_addstr (out, unset_or_null ? word.buf : value);
      return 0;
    case '+':
      if (!unset_or_null)
        gsi_buf_addstr (out, word.buf);
      return 0;
    case '?':
      if (value == NULL)
        return sh_fail (sw, "%s: %s", name, word.len ? word.buf : "is not allowed to be unset");
      if (unset_or_null)
        return sh_fail (sw, "%s: %s", name, word.len ? word.buf : "is not allowed to be empty");
      gsi_buf_addstr (out, value);
      return 0;
    case '#':
    case '%':
      {
        /* A doubled operator (## %%) asks for the longest match.  */
        bool greedy = word.len > 0 && word.buf[0] == ch;
        const char *p = word.buf + (greedy ? 1 : 0);
        size_t plen = word.len - (greedy ? 1 : 0);
        const char *v = value ? value : "";
        if (ch == '%')
          return trim_suffix (sw, p, plen, v, strlen (v), greedy, out);
        return trim_prefix (sw, p, plen, v, strlen (v), greedy, out);
      }
    default:
      return sh_fail (sw, "unsupported modifier (%s) in substitution", chs.buf);
    }
}

/* ${NAME/PATTERN/REPLACEMENT} and ${NAME//PATTERN/REPLACEMENT}.  */
static int
expand_replace (shell_word *sw, const char *name, gsi_buf *out)
{
  cleanup_buf gsi_buf pat = GSI_BUF_INIT;
  cleanup_buf gsi_buf repl = GSI_BUF_INIT;
  bool all = sc_peek (sw) == '/';
  const char *value;

  if (all)
    sc_next (sw);
  if (process_stop_on (sw, '/', true, &pat, NULL) < 0)
    return sc_peek (sw) == SH_EOF ? sh_fail (sw, "syntax error: missing '/' in ${}") : -1;
  if (process_stop_on (sw, '}', true, &repl, NULL) < 0)
    return sc_peek (sw) == SH_EOF ? sh_fail (sw, "syntax error: missing '}'") : -1;

  value = sh_getenv (sw, name);
  if (sw->skip_unset && value == NULL)
    {
      gsi_buf_addf (out, "${%s/%s/%s}", name, pat.buf, repl.buf);
      return 0;
    }
  return replace_pattern (sw, &pat, &repl, value ? value : "", all, out);
}

/* $NAME, where NAME may be empty (a lone '$' stays).  */
static int
expand_plain (shell_word *sw, gsi_buf *out)
{
  cleanup_buf gsi_buf name = GSI_BUF_INIT;
  const char *value;

  process_name (sw, &name);
  if (name.len == 0)
    {
      gsi_buf_addch (out, '$');
      return 0;
    }
  value = sh_getenv (sw, name.buf);
  if (value == NULL && sw->skip_unset)
    gsi_buf_addf (out, "$%s", name.buf);
  else if (value)
    gsi_buf_addstr (out, value);
  return 0;
}

static int
process_dollar (shell_word *sw, gsi_buf *out)
{
  cleanup_buf gsi_buf name = GSI_BUF_INIT;
  const char *value;
  int32_t ch;

  sc_next (sw);
  if (sc_peek (sw) != '{')
    return expand_plain (sw, out);
  sc_next (sw);
  ch = sc_peek (sw);
  if (ch == SH_EOF)
    return sh_fail (sw, "syntax error: missing '}'");
  if (ch == '{' || ch == '}' || ch == ':')
    return sh_fail (sw, "syntax error: bad substitution");
  process_name (sw, &name);
  ch = sc_next (sw);
  switch (ch)
    {
    case '}':
      value = sh_getenv (sw, name.buf);
      if (value == NULL && sw->skip_unset)
        gsi_buf_addf (out, "${%s}", name.buf);
      else if (value)
        gsi_buf_addstr (out, value);
      return 0;
    case ':':
    case '+':
    case '-':
    case '?':
    case '#':
    case '%':
      return expand_modifier (sw, name.buf, ch, out);
    case '/':
      return expand_replace (sw, name.buf, out);
    default:
      {
        cleanup_buf gsi_buf chs = GSI_BUF_INIT;
        add_rune (&chs, ch);
        return sh_fail (sw, "unsupported modifier (%s) in substitution", chs.buf);
      }
    }
}

/* Everything between single quotes is literal; there is no escape.  */
static int
process_single_quote (shell_word *sw, gsi_buf *out)
{
  int32_t ch = sc_next (sw);

  if (sw->raw_quotes)
    add_rune (out, ch);
  for (;;)
    {
      ch = sc_next (sw);
      if (ch == SH_EOF)
        return sh_fail (sw, "unexpected end of statement while looking for matching single-quote");
      if (ch == '\'')
        {
          if (sw->raw_quotes)
            add_rune (out, ch);
          return 0;
        }
      add_rune (out, ch);
    }
}

/* Between double quotes only $ expands, and the escape character escapes only '"', '$' and
 * itself; before anything else it stays.  */
static int
process_double_quote (shell_word *sw, gsi_buf *out)
{
  int32_t ch = sc_next (sw);

  if (sw->raw_quotes)
    add_rune (out, ch);
  for (;;)
    {
      switch (sc_peek (sw))
        {
        case SH_EOF:
          return sh_fail (sw, "unexpected end of statement while looking for matching double-quote");
        case '"':
          ch = sc_next (sw);
          if (sw->raw_quotes)
            add_rune (out, ch);
          return 0;
        case '$':
          if (process_dollar (sw, out) < 0)
            return -1;
          break;
        default:
          ch = sc_next (sw);
          if (ch == sw->escape)
            {
              int32_t nx = sc_peek (sw);
              if (sw->raw_escapes)
                add_rune (out, ch);
              if (nx == SH_EOF)
                continue;
              if (nx == '"' || nx == '$' || nx == sw->escape)
                ch = sc_next (sw);
            }
          add_rune (out, ch);
          break;
        }
    }
}

static bool
is_quote_char (const shell_word *sw, int32_t ch)
{
  return !sw->skip_quotes && (ch == '\'' || ch == '"');
}

/* Expands a $ or quoted part and adds it to the result; expansions are split into words,
 * quoted text is not.  */
static int
process_special (shell_word *sw, int32_t ch, gsi_buf *result, sh_words *words)
{
  cleanup_buf gsi_buf tmp = GSI_BUF_INIT;
  int ret;

  if (ch == '$')
    ret = process_dollar (sw, &tmp);
  else if (ch == '\'')
    ret = process_single_quote (sw, &tmp);
  else
    ret = process_double_quote (sw, &tmp);
  if (ret < 0)
    return -1;
  gsi_buf_add (result, tmp.buf, tmp.len);
  if (ch == '$')
    words_add_string (words, tmp.buf, tmp.len);
  else
    words_add_raw_string (words, tmp.buf, tmp.len);
  return 0;
}

static int
process_loop (shell_word *sw, int32_t stop, gsi_buf *result, sh_words *words)
{
  int32_t ch;

  while ((ch = sc_peek (sw)) != SH_EOF)
    {
      if (stop != SH_EOF && ch == stop)
        {
          sc_next (sw);
          return 0;
        }
      if (ch == '$' || is_quote_char (sw, ch))
        {
          if (process_special (sw, ch, result, words) < 0)
            return -1;
          continue;
        }
      ch = sc_next (sw);
      if (ch == sw->escape)
        {
          if (sw->raw_escapes)
            {
              words_add_raw_char (words, ch);
              add_rune (result, ch);
            }
          /* An escape at the very end is dropped.  */
          ch = sc_next (sw);
          if (ch == SH_EOF)
            break;
          words_add_raw_char (words, ch);
        }
      else
        words_add_char (words, ch);
      add_rune (result, ch);
    }
  if (stop != SH_EOF)
    {
      cleanup_buf gsi_buf s = GSI_BUF_INIT;
      add_rune (&s, stop);
      return sh_fail (sw, "unexpected end of statement while looking for matching %s", s.buf);
    }
  return 0;
}

/* Reads up to stop (or the end for SH_EOF), with escapes kept raw while inside when raw_escapes
 * (pattern words keep them for the pattern compiler).  words may be NULL.  */
static int
process_stop_on (shell_word *sw, int32_t stop, bool raw_escapes, gsi_buf *result, sh_words *words)
{
  bool saved = sw->raw_escapes;
  int ret;

  if (sw->depth >= SH_MAX_NESTING)
    return sh_fail (sw, "substitutions nested more than %d deep", SH_MAX_NESTING);
  sw->depth++;
  sw->raw_escapes = raw_escapes;
  ret = process_loop (sw, stop, result, words);
  sw->raw_escapes = saved;
  sw->depth--;
  return ret;
}

static int
shell_process (const char *word, const cf_env *env, const cf_shell_opts *opts, gsi_buf *result, sh_words *words,
               gsi_error *err)
{
  shell_word sw = { 0 };

  if (word == NULL)
    word = "";
  sw.src = word;
  sw.len = strlen (word);
  /* text/scanner skips a byte order mark at the very start.  */
  if (sw.len >= 3 && memcmp (word, "\xEF\xBB\xBF", 3) == 0)
    sw.pos = 3;
  sw.env = env;
  sw.escape = opts && opts->escape ? (unsigned char) opts->escape : '\\';
  if (opts)
    {
      sw.raw_quotes = opts->raw_quotes;
      sw.raw_escapes = opts->raw_escapes;
      sw.skip_quotes = opts->skip_process_quotes;
      sw.skip_unset = opts->skip_unset_env;
      sw.matched = opts->matched;
      sw.unmatched = opts->unmatched;
    }
  sw.err = err;
  if (process_stop_on (&sw, SH_EOF, sw.raw_escapes, result, words) < 0)
    return gsi_error_wrap (err, "failed to process `%s`", word);
  return 0;
}

int
cf_shell_expand (const char *word, const cf_env *env, const cf_shell_opts *opts, char **out, gsi_error *err)
{
  cleanup_buf gsi_buf result = GSI_BUF_INIT;

  if (shell_process (word, env, opts, &result, NULL, err) < 0)
    return -1;
  *out = gsi_buf_detach (&result, NULL);
  return 0;
}

int
cf_shell_words (const char *word, const cf_env *env, const cf_shell_opts *opts, gsi_strvec *out, gsi_error *err)
{
  cleanup_buf gsi_buf result = GSI_BUF_INIT;
  sh_words w = { GSI_BUF_INIT, GSI_STRVEC_INIT };
  int ret;

  ret = shell_process (word, env, opts, &result, &w, err);
  if (ret == 0)
    {
      words_flush (&w);
      for (size_t i = 0; i < w.words.n; i++)
        gsi_strvec_push_owned (out, steal_pointer (&w.words.v[i]));
    }
  gsi_buf_release (&w.word);
  gsi_strvec_clear (&w.words);
  return ret;
}
