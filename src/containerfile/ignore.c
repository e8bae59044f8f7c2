/* .dockerignore with the behaviour of BuildKit: the reader is moby/patternmatcher's
 * ignorefile.ReadAll, the matcher its PatternMatcher (New, MatchesOrParentMatches), and the
 * decision to descend into an excluded directory is fsutil's walker.
 *
 * patternmatcher turns each pattern into a Go regexp by text substitution (a star becomes
 * "[^/]" repeated, '?' one such class, a double star an optional group of any directories, a few
 * characters escaped, brackets and backslash escapes passed through) and lets Go's regexp parser
 * make sense of the result.  To match what it matches, we build the same regexp text and parse it
 * with Go's (RE2) syntax rules: classes with ranges, POSIX and Perl classes and one-letter Unicode
 * categories, escapes, anchors and the one group.  A Pike VM runs it, so matching time stays
 * linear in the path.
 *
 * One deliberate difference: Go compiles a pattern when it is first used, so a pattern that
 * passes filepath.Match's check but is not a valid regexp (such as "[z-a]") only fails the build
 * once a path reaches it.  We report it when the file is parsed.  */
#include "ignore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/unicode.h"
#include "util/xalloc.h"

#define NONE SIZE_MAX
#define IG_EOF (-1)

/* bufio.Scanner's limit: a longer line makes ReadAll fail.  */
#define IG_MAX_LINE 65535

/* ---- Go string helpers on (pointer, length) byte strings ---- */

/* strings.TrimSpace: Unicode white space at both ends.  */
static void
trim_space (const char **s, size_t *n)
{
  uint32_t r;
  size_t w;

  while (*n > 0 && (w = gsi_utf8_decode (*s, *n, &r)) > 0 && gsi_unicode_is_space (r))
    *s += w, *n -= w;
  while (*n > 0)
    {
      /* Step back to the start of the last rune (at most 4 bytes back).  */
      size_t start = *n - 1;
      while (start > 0 && *n - start < 4 && ((unsigned char) (*s)[start] & 0xC0) == 0x80)
        start--;
      w = gsi_utf8_decode (*s + start, *n - start, &r);
      if (start + w != *n)
        {
          start = *n - 1;
          r = GSI_RUNE_ERROR;
        }
      if (!gsi_unicode_is_space (r))
        break;
      *n = start;
    }
}

/* filepath.Clean for '/'-separated paths.  */
static void
go_clean (const char *p, size_t n, gsi_buf *out)
{
  bool rooted = n > 0 && p[0] == '/';
  size_t r = 0, dotdot = 0;

  gsi_buf_reset (out);
  if (rooted)
    {
      gsi_buf_addch (out, '/');
      r = dotdot = 1;
    }
  while (r < n)
    {
      if (p[r] == '/')
        r++;
      else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/'))
        r++;
      else if (p[r] == '.' && r + 1 < n && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/'))
        {
          r += 2;
          if (out->len > dotdot)
            {
              size_t w = out->len - 1;
              while (w > dotdot && out->buf[w] != '/')
                w--;
              gsi_buf_setlen (out, w);
            }
          else if (!rooted)
            {
              if (out->len > 0)
                gsi_buf_addch (out, '/');
              gsi_buf_addstr (out, "..");
              dotdot = out->len;
            }
        }
      else
        {
          size_t start = r;
          if ((rooted && out->len != 1) || (!rooted && out->len != 0))
            gsi_buf_addch (out, '/');
          while (r < n && p[r] != '/')
            r++;
          gsi_buf_add (out, p + start, r - start);
        }
    }
  if (out->len == 0)
    gsi_buf_addch (out, '.');
}

/* ---- filepath.Match's syntax check (all Match(pattern, ".") can report) ---- */

/* getEsc: one class character, possibly escaped; fails on '-', ']', a trailing backslash, an
 * invalid UTF-8 sequence and on reaching the end.  */
static bool
glob_class_char (const char *c, size_t n, size_t *used)
{
  size_t i = 0, w;
  uint32_t r;

  if (n == 0 || c[0] == '-' || c[0] == ']')
    return false;
  if (c[0] == '\\')
    {
      i = 1;
      if (i == n)
        return false;
    }
  w = gsi_utf8_decode (c + i, n - i, &r);
  if (r == GSI_RUNE_ERROR && w == 1)
    return false;
  i += w;
  *used = i;
  return i < n;
}

static bool
glob_chunk_valid (const char *c, size_t n)
{
  size_t i = 0, used = 0;

  while (i < n)
    {
      if (c[i] == '[')
        {
          size_t nrange = 0;
          i++;
          if (i < n && c[i] == '^')
            i++;
          for (;;)
            {
              if (i < n && c[i] == ']' && nrange > 0)
                {
                  i++;
                  break;
                }
              if (!glob_class_char (c + i, n - i, &used))
                return false;
              i += used;
              if (c[i] == '-')
                {
                  if (!glob_class_char (c + i + 1, n - i - 1, &used))
                    return false;
                  i += 1 + used;
                }
              nrange++;
            }
        }
      else if (c[i] == '\\')
        {
          if (i + 1 == n)
            return false;
          i += 2;
        }
      else
        i++;
    }
  return true;
}

/* scanChunk: leading stars, then up to the next '*' outside a class.  */
static size_t
glob_scan_chunk (const char *p, size_t n, size_t *chunk_start)
{
  size_t i = 0;
  bool inrange = false;

  while (i < n && p[i] == '*')
    i++;
  *chunk_start = i;
  for (; i < n; i++)
    {
      if (p[i] == '\\')
        {
          if (i + 1 < n)
            i++;
        }
      else if (p[i] == '[')
        inrange = true;
      else if (p[i] == ']')
        inrange = false;
      else if (p[i] == '*' && !inrange)
        break;
    }
  return i;
}

static bool
glob_valid (const char *p, size_t n)
{
  while (n > 0)
    {
      size_t start, end = glob_scan_chunk (p, n, &start);
      if (!glob_chunk_valid (p + start, end - start))
        return false;
      p += end;
      n -= end;
    }
  return true;
}

/* ---- Go regexp (RE2 syntax with Go's Perl flags), the subset patternmatcher can produce ---- */

enum re_op
{
  RE_RUNE,
  RE_ANY_NOT_NL,
  RE_CLASS,
  RE_BEGIN_TEXT,
  RE_END_TEXT,
  RE_WORD_BOUNDARY,
  RE_NO_WORD_BOUNDARY,
  RE_GROUP,
  RE_STAR,
  RE_PLUS,
  RE_QUEST
};

typedef struct re_node
{
  enum re_op op;
  uint32_t arg;   /* rune or class index */
  size_t child;   /* first node of a group, or the operand of a repetition */
  size_t next;    /* next node of the same concatenation */
} re_node;

typedef struct re_class_item
{
  uint32_t lo, hi;
  char cat; /* a one-letter Unicode category instead of lo..hi */
  bool neg;
} re_class_item;

typedef struct re_class
{
  re_class_item *v;
  size_t n, alloc;
  bool negate;
} re_class;

enum re_inst_op
{
  I_RUNE,
  I_ANY_NOT_NL,
  I_CLASS,
  I_ASSERT,
  I_SPLIT,
  I_JMP,
  I_MATCH
};

typedef struct re_inst
{
  enum re_inst_op op;
  uint32_t arg;
  size_t x, y;
} re_inst;

typedef struct re_prog
{
  re_inst *inst;
  size_t n, alloc;
  re_class *cls;
  size_t ncls, cls_alloc;
} re_prog;

typedef struct re_level
{
  size_t head, tail;
} re_level;

typedef struct re_parser
{
  const char *s;
  size_t n, pos;
  re_node *nodes;
  size_t nn, nalloc;
  re_level *levels; /* levels[0] is the whole expression, one more per open group */
  size_t depth, lalloc;
  re_prog *prog;
  gsi_buf *why;
} re_parser;

static int
re_fail (re_parser *p, const char *what, const char *expr, size_t len)
{
  gsi_buf_addf (p->why, "%s", what);
  if (expr)
    gsi_buf_addf (p->why, ": `%.*s`", (int) len, expr);
  return -1;
}

static size_t
re_new_node (re_parser *p, enum re_op op, uint32_t arg)
{
  GSI_ALLOC_GROW (p->nodes, p->nn + 1, p->nalloc);
  p->nodes[p->nn] = (re_node) { op, arg, NONE, NONE };
  return p->nn++;
}

static void
re_append (re_parser *p, size_t node)
{
  re_level *l = &p->levels[p->depth];

  if (l->tail == NONE)
    l->head = node;
  else
    p->nodes[l->tail].next = node;
  l->tail = node;
}

static void
re_push (re_parser *p, enum re_op op, uint32_t arg)
{
  re_append (p, re_new_node (p, op, arg));
}

static size_t
re_new_class (re_parser *p)
{
  re_prog *g = p->prog;

  GSI_ALLOC_GROW (g->cls, g->ncls + 1, g->cls_alloc);
  memset (&g->cls[g->ncls], 0, sizeof (g->cls[0]));
  return g->ncls++;
}

static void
class_add (re_class *c, uint32_t lo, uint32_t hi, char cat, bool neg)
{
  GSI_ALLOC_GROW (c->v, c->n + 1, c->alloc);
  c->v[c->n++] = (re_class_item) { lo, hi, cat, neg };
}

/* A list of ranges, ended by a 0, 0 pair after the first.  */
typedef struct re_group
{
  const char *name;
  uint32_t ranges[10][2];
} re_group;

static const re_group posix_groups[] = {
  { "alnum", { { '0', '9' }, { 'A', 'Z' }, { 'a', 'z' } } },
  { "alpha", { { 'A', 'Z' }, { 'a', 'z' } } },
  { "ascii", { { 0, 0x7F } } },
  { "blank", { { '\t', '\t' }, { ' ', ' ' } } },
  { "cntrl", { { 0, 0x1F }, { 0x7F, 0x7F } } },
  { "digit", { { '0', '9' } } },
  { "graph", { { '!', '~' } } },
  { "lower", { { 'a', 'z' } } },
  { "print", { { ' ', '~' } } },
  { "punct", { { '!', '/' }, { ':', '@' }, { '[', '`' }, { '{', '~' } } },
  { "space", { { '\t', '\r' }, { ' ', ' ' } } },
  { "upper", { { 'A', 'Z' } } },
  { "word", { { '0', '9' }, { 'A', 'Z' }, { 'a', 'z' }, { '_', '_' } } },
  { "xdigit", { { '0', '9' }, { 'A', 'F' }, { 'a', 'f' } } },
};

static const re_group perl_groups[] = {
  { "d", { { '0', '9' } } },
  { "s", { { '\t', '\n' }, { '\f', '\r' }, { ' ', ' ' } } },
  { "w", { { '0', '9' }, { 'A', 'Z' }, { 'a', 'z' }, { '_', '_' } } },
};

/* Adds a POSIX or Perl group to a class; a negated group ([:^alpha:], \D) adds the ranges
 * between the group's ranges.  */
static void
class_add_group (re_class *c, const re_group *g, bool neg)
{
  if (!neg)
    {
      for (size_t i = 0; i < 10 && (i == 0 || g->ranges[i][1] != 0); i++)
        class_add (c, g->ranges[i][0], g->ranges[i][1], 0, false);
      return;
    }
  /* The complement of the group's ranges, as ranges (they are sorted and disjoint).  */
  uint32_t next = 0;
  for (size_t i = 0; i < 10 && (i == 0 || g->ranges[i][1] != 0); i++)
    {
      if (g->ranges[i][0] > next)
        class_add (c, next, g->ranges[i][0] - 1, 0, false);
      next = g->ranges[i][1] + 1;
    }
  class_add (c, next, 0x10FFFF, 0, false);
}

static bool
is_alnum_ascii (uint32_t c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
unhex (uint32_t c)
{
  if (c >= '0' && c <= '9')
    return (int) (c - '0');
  if (c >= 'a' && c <= 'f')
    return (int) (c - 'a' + 10);
  if (c >= 'A' && c <= 'F')
    return (int) (c - 'A' + 10);
  return -1;
}

static uint32_t
re_peek_rune (const re_parser *p, size_t at, size_t *w)
{
  uint32_t r = GSI_RUNE_ERROR;

  *w = gsi_utf8_decode (p->s + at, p->n - at, &r);
  return r;
}

/* Go's parseEscape: s[pos] is the backslash.  */
static int
re_parse_escape (re_parser *p, uint32_t *out)
{
  size_t start = p->pos, w;
  uint32_t c;

  p->pos++;
  if (p->pos >= p->n)
    return re_fail (p, "trailing backslash at end of expression", NULL, 0);
  c = re_peek_rune (p, p->pos, &w);
  p->pos += w;
  if (c < 0x80 && !is_alnum_ascii (c))
    {
      *out = c;
      return 0;
    }
  if (c >= '0' && c <= '7' && (c == '0' || (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '7')))
    {
      /* Octal: up to two more digits.  A lone \1-\7 would be a backreference.  */
      uint32_t r = c - '0';
      for (int i = 1; i < 3 && p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '7'; i++)
        r = r * 8 + (uint32_t) (p->s[p->pos++] - '0');
      *out = r;
      return 0;
    }
  if (c == 'x' && p->pos < p->n)
    {
      int x, y;
      uint32_t d = re_peek_rune (p, p->pos, &w);
      p->pos += w;
      if (d == '{')
        {
          uint32_t r = 0;
          int nhex = 0;
          for (;;)
            {
              if (p->pos >= p->n)
                goto bad;
              d = re_peek_rune (p, p->pos, &w);
              p->pos += w;
              if (d == '}')
                break;
              if ((x = unhex (d)) < 0)
                goto bad;
              r = r * 16 + (uint32_t) x;
              if (r > 0x10FFFF)
                goto bad;
              nhex++;
            }
          if (nhex == 0)
            goto bad;
          *out = r;
          return 0;
        }
      x = unhex (d);
      y = -1;
      if (p->pos < p->n)
        {
          d = re_peek_rune (p, p->pos, &w);
          p->pos += w;
          y = unhex (d);
        }
      if (x < 0 || y < 0)
        goto bad;
      *out = (uint32_t) (x * 16 + y);
      return 0;
    }
  switch (c)
    {
    case 'a':
      *out = '\a';
      return 0;
    case 'f':
      *out = '\f';
      return 0;
    case 'n':
      *out = '\n';
      return 0;
    case 'r':
      *out = '\r';
      return 0;
    case 't':
      *out = '\t';
      return 0;
    case 'v':
      *out = '\v';
      return 0;
    default:
      break;
    }
bad:
  return re_fail (p, "invalid escape sequence", p->s + start, p->pos - start);
}

/* \pX or \PX with a one-letter category name.  Returns 1 when parsed, 0 when not at one.  */
static int
re_parse_unicode_class (re_parser *p, re_class *c)
{
  size_t start = p->pos, w;
  bool neg;
  uint32_t name;

  if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || (p->s[p->pos + 1] != 'p' && p->s[p->pos + 1] != 'P'))
    return 0;
  neg = p->s[p->pos + 1] == 'P';
  p->pos += 2;
  name = re_peek_rune (p, p->pos, &w);
  p->pos += w;
  /* Braces cannot occur: patternmatcher escapes '{'.  */
  if (w == 0 || name > 0x7F || !gsi_unicode_is_category ((char) name))
    return re_fail (p, "invalid character class range", p->s + start, p->pos - start);
  class_add (c, 0, 0, (char) name, neg);
  return 1;
}

static int
re_parse_perl_class (re_parser *p, re_class *c)
{
  char l;

  if (p->n - p->pos < 2 || p->s[p->pos] != '\\')
    return 0;
  l = p->s[p->pos + 1];
  for (size_t i = 0; i < sizeof (perl_groups) / sizeof (perl_groups[0]); i++)
    if (perl_groups[i].name[0] == l || perl_groups[i].name[0] - 'a' + 'A' == l)
      {
        class_add_group (c, &perl_groups[i], l >= 'A' && l <= 'Z');
        p->pos += 2;
        return 1;
      }
  return 0;
}

/* [:alpha:] and [:^alpha:]; the ":]" is searched for in the rest of the expression, as Go does.
 * Returns 1 when parsed, 0 when this is not one.  */
static int
re_parse_named_class (re_parser *p, re_class *c)
{
  const char *t = p->s + p->pos, *end;
  size_t n = p->n - p->pos, len;
  bool neg;

  if (n <= 2 || t[0] != '[' || t[1] != ':')
    return 0;
  end = memmem (t + 2, n - 2, ":]", 2);
  if (end == NULL)
    return 0;
  len = (size_t) (end - t) + 2;
  neg = t[2] == '^';
  for (size_t i = 0; i < sizeof (posix_groups) / sizeof (posix_groups[0]); i++)
    {
      size_t nl = strlen (posix_groups[i].name), off = neg ? 3 : 2;
      if (len == off + nl + 2 && memcmp (t + off, posix_groups[i].name, nl) == 0)
        {
          class_add_group (c, &posix_groups[i], neg);
          p->pos += len;
          return 1;
        }
    }
  return re_fail (p, "invalid character class range", t, len);
}

static int
re_parse_class_char (re_parser *p, size_t class_start, uint32_t *r)
{
  size_t w;

  if (p->pos >= p->n)
    return re_fail (p, "missing closing ]", p->s + class_start, p->n - class_start);
  if (p->s[p->pos] == '\\')
    return re_parse_escape (p, r);
  *r = re_peek_rune (p, p->pos, &w);
  p->pos += w;
  return 0;
}

/* Go's parseClass: s[pos] is the '['.  */
static int
re_parse_class (re_parser *p)
{
  size_t start = p->pos, ci = re_new_class (p);
  bool first = true;
  int ret;

  p->pos++;
  if (p->pos < p->n && p->s[p->pos] == '^')
    {
      p->prog->cls[ci].negate = true;
      p->pos++;
    }
  while (p->pos >= p->n || p->s[p->pos] != ']' || first)
    {
      re_class *c = &p->prog->cls[ci];
      uint32_t lo, hi;
      size_t rng = p->pos;

      first = false;
      if ((ret = re_parse_named_class (p, c)) != 0 || (ret = re_parse_unicode_class (p, c)) != 0
          || (ret = re_parse_perl_class (p, c)) != 0)
        {
          if (ret < 0)
            return -1;
          continue;
        }
      if (re_parse_class_char (p, start, &lo) < 0)
        return -1;
      hi = lo;
      if (p->n - p->pos >= 2 && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']')
        {
          p->pos++;
          if (re_parse_class_char (p, start, &hi) < 0)
            return -1;
          if (hi < lo)
            return re_fail (p, "invalid character class range", p->s + rng, p->pos - rng);
        }
      class_add (c, lo, hi, 0, false);
    }
  p->pos++;
  re_push (p, RE_CLASS, (uint32_t) ci);
  return 0;
}

/* A backslash outside a class: assertions, \Q...\E, classes, or a literal.  */
static int
re_parse_backslash (re_parser *p)
{
  uint32_t r;
  int ret;

  if (p->n - p->pos >= 2)
    {
      switch (p->s[p->pos + 1])
        {
        case 'A':
          p->pos += 2;
          re_push (p, RE_BEGIN_TEXT, 0);
          return 0;
        case 'z':
          p->pos += 2;
          re_push (p, RE_END_TEXT, 0);
          return 0;
        case 'b':
          p->pos += 2;
          re_push (p, RE_WORD_BOUNDARY, 0);
          return 0;
        case 'B':
          p->pos += 2;
          re_push (p, RE_NO_WORD_BOUNDARY, 0);
          return 0;
        case 'C':
          return re_fail (p, "invalid escape sequence", "\\C", 2);
        case 'Q':
          {
            const char *lit = p->s + p->pos + 2, *end;
            size_t n = p->n - p->pos - 2, w;
            end = memmem (lit, n, "\\E", 2);
            if (end)
              n = (size_t) (end - lit);
            for (size_t i = 0; i < n; i += w)
              {
                w = gsi_utf8_decode (lit + i, n - i, &r);
                re_push (p, RE_RUNE, r);
              }
            p->pos += 2 + n + (end ? 2 : 0);
            return 0;
          }
        default:
          break;
        }
    }
  if (p->n - p->pos >= 2 && strchr ("pPdDsSwW", p->s[p->pos + 1]) && p->s[p->pos + 1] != '\0')
    {
      size_t ci = re_new_class (p);
      if (p->s[p->pos + 1] == 'p' || p->s[p->pos + 1] == 'P')
        ret = re_parse_unicode_class (p, &p->prog->cls[ci]);
      else
        ret = re_parse_perl_class (p, &p->prog->cls[ci]);
      if (ret < 0)
        return -1;
      re_push (p, RE_CLASS, (uint32_t) ci);
      return 0;
    }
  if (re_parse_escape (p, &r) < 0)
    return -1;
  re_push (p, RE_RUNE, r);
  return 0;
}

static int
re_parse_repeat (re_parser *p, bool last_repeat)
{
  re_level *l = &p->levels[p->depth];
  size_t start = p->pos, copy;
  char c = p->s[p->pos];

  p->pos++;
  if (p->pos < p->n && p->s[p->pos] == '?')
    p->pos++; /* non-greedy: the same for a yes/no answer */
  if (last_repeat)
    return re_fail (p, "invalid nested repetition operator", p->s + start - 1, p->pos - start + 1);
  if (l->tail == NONE)
    return re_fail (p, "missing argument to repetition operator", p->s + start, p->pos - start);
  /* Wrap the last node in place: its copy becomes the operand.  */
  copy = re_new_node (p, RE_RUNE, 0);
  p->nodes[copy] = p->nodes[l->tail];
  p->nodes[copy].next = NONE;
  p->nodes[l->tail].op = c == '*' ? RE_STAR : c == '+' ? RE_PLUS : RE_QUEST;
  p->nodes[l->tail].child = copy;
  return 0;
}

static int
re_open_group (re_parser *p)
{
  size_t g;

  if (p->pos + 1 < p->n && p->s[p->pos + 1] == '?')
    return re_fail (p, "unsupported group syntax", p->s + p->pos, 2);
  if (p->depth >= 1000)
    return re_fail (p, "expression nests too deeply", NULL, 0);
  g = re_new_node (p, RE_GROUP, 0);
  re_append (p, g);
  GSI_ALLOC_GROW (p->levels, p->depth + 2, p->lalloc);
  p->depth++;
  p->levels[p->depth] = (re_level) { NONE, NONE };
  /* The group node is the tail of the level below; its list is filled from here.  */
  p->pos++;
  return 0;
}

static int
re_close_group (re_parser *p)
{
  size_t head;

  if (p->depth == 0)
    return re_fail (p, "unexpected )", p->s, p->n);
  head = p->levels[p->depth].head;
  p->depth--;
  p->nodes[p->levels[p->depth].tail].child = head;
  p->pos++;
  return 0;
}

static int
re_parse_one (re_parser *p, bool last_repeat, bool *repeat)
{
  uint32_t r;
  size_t w;

  *repeat = false;
  switch (p->s[p->pos])
    {
    case '(':
      return re_open_group (p);
    case ')':
      return re_close_group (p);
    case '|':
      /* Cannot occur: patternmatcher escapes '|'.  */
      return re_fail (p, "unsupported alternation", NULL, 0);
    case '^':
      p->pos++;
      re_push (p, RE_BEGIN_TEXT, 0);
      return 0;
    case '$':
      p->pos++;
      re_push (p, RE_END_TEXT, 0);
      return 0;
    case '.':
      p->pos++;
      re_push (p, RE_ANY_NOT_NL, 0);
      return 0;
    case '[':
      return re_parse_class (p);
    case '*':
    case '+':
    case '?':
      *repeat = true;
      return re_parse_repeat (p, last_repeat);
    case '\\':
      return re_parse_backslash (p);
    default:
      r = re_peek_rune (p, p->pos, &w);
      p->pos += w;
      re_push (p, RE_RUNE, r);
      return 0;
    }
}

static void
re_emit (re_prog *g, enum re_inst_op op, uint32_t arg, size_t x, size_t y)
{
  GSI_ALLOC_GROW (g->inst, g->n + 1, g->alloc);
  g->inst[g->n++] = (re_inst) { op, arg, x, y };
}

static void re_compile_list (const re_parser *p, size_t head);

static void
re_compile_node (const re_parser *p, const re_node *nd)
{
  re_prog *g = p->prog;
  size_t l1;

  switch (nd->op)
    {
    case RE_RUNE:
      re_emit (g, I_RUNE, nd->arg, 0, 0);
      break;
    case RE_ANY_NOT_NL:
      re_emit (g, I_ANY_NOT_NL, 0, 0, 0);
      break;
    case RE_CLASS:
      re_emit (g, I_CLASS, nd->arg, 0, 0);
      break;
    case RE_BEGIN_TEXT:
    case RE_END_TEXT:
    case RE_WORD_BOUNDARY:
    case RE_NO_WORD_BOUNDARY:
      re_emit (g, I_ASSERT, (uint32_t) nd->op, 0, 0);
      break;
    case RE_GROUP:
      re_compile_list (p, nd->child);
      break;
    case RE_STAR:
      l1 = g->n;
      re_emit (g, I_SPLIT, 0, l1 + 1, 0);
      re_compile_node (p, &p->nodes[nd->child]);
      re_emit (g, I_JMP, 0, l1, 0);
      g->inst[l1].y = g->n;
      break;
    case RE_PLUS:
      l1 = g->n;
      re_compile_node (p, &p->nodes[nd->child]);
      re_emit (g, I_SPLIT, 0, l1, g->n + 1);
      break;
    case RE_QUEST:
      l1 = g->n;
      re_emit (g, I_SPLIT, 0, l1 + 1, 0);
      re_compile_node (p, &p->nodes[nd->child]);
      g->inst[l1].y = g->n;
      break;
    default:
      break;
    }
}

static void
re_compile_list (const re_parser *p, size_t head)
{
  for (size_t i = head; i != NONE; i = p->nodes[i].next)
    re_compile_node (p, &p->nodes[i]);
}

static void
re_prog_release (re_prog *g)
{
  for (size_t i = 0; i < g->ncls; i++)
    free (g->cls[i].v);
  free (g->cls);
  free (g->inst);
  memset (g, 0, sizeof (*g));
}

/* Parses a Go regexp (the subset patternmatcher produces) into g.  On error, why says why.  */
static int
re_compile (const char *s, size_t n, re_prog *g, gsi_buf *why)
{
  re_parser p = { .s = s, .n = n, .prog = g, .why = why };
  bool last_repeat = false, repeat = false;
  int ret = 0;

  GSI_ALLOC_GROW (p.levels, 1, p.lalloc);
  p.levels[0] = (re_level) { NONE, NONE };
  while (ret == 0 && p.pos < p.n)
    {
      ret = re_parse_one (&p, last_repeat, &repeat);
      last_repeat = repeat;
    }
  if (ret == 0 && p.depth > 0)
    ret = re_fail (&p, "missing closing )", s, n);
  if (ret == 0)
    {
      re_compile_list (&p, p.levels[0].head);
      re_emit (g, I_MATCH, 0, 0, 0);
    }
  free (p.nodes);
  free (p.levels);
  return ret;
}

/* ---- the Pike VM ---- */

static bool
is_word_char (int32_t r)
{
  return r >= 0 && r < 0x80 && (is_alnum_ascii ((uint32_t) r) || r == '_');
}

static bool
class_has (const re_class *c, uint32_t r)
{
  bool in = false;

  for (size_t i = 0; i < c->n && !in; i++)
    {
      const re_class_item *it = &c->v[i];
      bool m = it->cat ? gsi_unicode_in_category (it->cat, r) : (r >= it->lo && r <= it->hi);
      in = m != it->neg;
    }
  return in != c->negate;
}

typedef struct re_threads
{
  size_t *dense;
  size_t *sparse;
  size_t n;
} re_threads;

typedef struct re_ctx
{
  int32_t before, after; /* runes around the position, -1 at the ends */
  bool at_start, at_end;
} re_ctx;

static bool
threads_has (const re_threads *t, size_t pc)
{
  return t->sparse[pc] < t->n && t->dense[t->sparse[pc]] == pc;
}

static bool
assert_holds (uint32_t kind, const re_ctx *cx)
{
  switch (kind)
    {
    case RE_BEGIN_TEXT:
      return cx->at_start;
    case RE_END_TEXT:
      return cx->at_end;
    case RE_WORD_BOUNDARY:
      return is_word_char (cx->before) != is_word_char (cx->after);
    default:
      return is_word_char (cx->before) == is_word_char (cx->after);
    }
}

/* Adds pc and everything reachable from it without consuming input.  */
static void
threads_add (const re_prog *g, re_threads *t, size_t *stack, size_t pc, const re_ctx *cx)
{
  size_t sp = 0;

  stack[sp++] = pc;
  while (sp > 0)
    {
      const re_inst *in;
      pc = stack[--sp];
      if (threads_has (t, pc))
        continue;
      t->sparse[pc] = t->n;
      t->dense[t->n++] = pc;
      in = &g->inst[pc];
      if (in->op == I_JMP)
        stack[sp++] = in->x;
      else if (in->op == I_SPLIT)
        {
          stack[sp++] = in->y;
          stack[sp++] = in->x;
        }
      else if (in->op == I_ASSERT && assert_holds (in->arg, cx))
        stack[sp++] = pc + 1;
    }
}

static bool
inst_consumes (const re_prog *g, const re_inst *in, uint32_t r)
{
  switch (in->op)
    {
    case I_RUNE:
      return r == in->arg;
    case I_ANY_NOT_NL:
      return r != '\n';
    case I_CLASS:
      return class_has (&g->cls[in->arg], r);
    case I_ASSERT:
    case I_SPLIT:
    case I_JMP:
    case I_MATCH:
    default:
      return false;
    }
}

static bool
threads_have_match (const re_prog *g, const re_threads *t)
{
  for (size_t i = 0; i < t->n; i++)
    if (g->inst[t->dense[i]].op == I_MATCH)
      return true;
  return false;
}

/* The closure of the seeds (and of a new start, the search being unanchored) in context cx.  */
static void
threads_close (const re_prog *g, const re_threads *seeds, re_threads *out, size_t *stack, const re_ctx *cx)
{
  out->n = 0;
  for (size_t i = 0; i < seeds->n; i++)
    threads_add (g, out, stack, seeds->dense[i], cx);
  threads_add (g, out, stack, 0, cx);
}

static void
threads_init (re_threads *t, size_t n)
{
  t->dense = xmalloc ((n + 1) * sizeof (size_t));
  t->sparse = xcalloc (n + 1, sizeof (size_t));
  t->n = 0;
}

static void
threads_release (re_threads *t)
{
  free (t->dense);
  free (t->sparse);
}

static void
threads_seed (re_threads *t, size_t pc)
{
  if (!threads_has (t, pc))
    {
      t->sparse[pc] = t->n;
      t->dense[t->n++] = pc;
    }
}

/* Regexp.MatchString on prefixes of s: hits[j] tells whether the j-th prefix matches, counting
 * the prefixes that end before each '/' (when slashes) and s itself, in order.  One pass serves
 * them all: a match that completes inside a prefix holds for every longer one, and where a
 * prefix ends the threads are closed once more as if the text ended there.  */
static void
re_match_prefixes (const re_prog *g, const char *s, size_t n, bool slashes, bool *hits)
{
  re_threads seeds, cur, end;
  size_t *stack = xmalloc ((2 * g->n + 2) * sizeof (size_t));
  size_t pos = 0, w = 0, j = 0;
  int32_t before = -1;
  bool early = false;

  threads_init (&seeds, g->n);
  threads_init (&cur, g->n);
  threads_init (&end, g->n);
  for (;;)
    {
      uint32_t r = 0;
      int32_t here = -1;
      if (pos < n)
        {
          w = gsi_utf8_decode (s + pos, n - pos, &r);
          here = (int32_t) r;
        }
      re_ctx cx = { before, here, pos == 0, pos >= n };
      threads_close (g, &seeds, &cur, stack, &cx);
      if (pos >= n)
        {
          hits[j] = early || threads_have_match (g, &cur);
          break;
        }
      if (slashes && s[pos] == '/')
        {
          re_ctx ex = { before, -1, pos == 0, true };
          threads_close (g, &seeds, &end, stack, &ex);
          hits[j++] = early || threads_have_match (g, &end);
        }
      early = early || threads_have_match (g, &cur);
      if (early && !slashes)
        {
          hits[j] = true;
          break;
        }
      seeds.n = 0;
      for (size_t i = 0; i < cur.n; i++)
        if (inst_consumes (g, &g->inst[cur.dense[i]], r))
          threads_seed (&seeds, cur.dense[i] + 1);
      before = here;
      pos += w;
    }
  free (stack);
  threads_release (&seeds);
  threads_release (&cur);
  threads_release (&end);
}

/* ---- patterns ---- */

enum match_type
{
  MATCH_EXACT,
  MATCH_PREFIX,
  MATCH_SUFFIX,
  MATCH_REGEXP
};

typedef struct ig_pattern
{
  char *text; /* cleaned, without the '!' */
  size_t len;
  bool exclusion;
  enum match_type type;
  re_prog re;
  /* fsutil's patternWithoutTrailingGlob, for cf_ignore_may_include_below */
  size_t prefix_len;
} ig_pattern;

struct cf_ignore
{
  ig_pattern *v;
  size_t n, alloc;
  bool exclusions;
  bool only_prefix_exceptions;
  char *path;
};

/* patternmatcher's shouldEscape: regexp characters that mean nothing to filepath.Match.  */
static bool
should_escape (int32_t c)
{
  return c > 0 && c < 0x80 && strchr (".+()|{}$", (int) c) != NULL;
}

typedef struct ig_scan
{
  const char *s;
  size_t n, pos;
} ig_scan;

static int32_t
ig_peek (const ig_scan *sc)
{
  uint32_t r;

  if (sc->pos >= sc->n)
    return IG_EOF;
  gsi_utf8_decode (sc->s + sc->pos, sc->n - sc->pos, &r);
  return (int32_t) r;
}

static int32_t
ig_next (ig_scan *sc)
{
  uint32_t r;

  if (sc->pos >= sc->n)
    return IG_EOF;
  sc->pos += gsi_utf8_decode (sc->s + sc->pos, sc->n - sc->pos, &r);
  return (int32_t) r;
}

/* "**" in its three meanings; the first "**" of a pattern makes it a suffix match.  */
static void
compile_double_star (ig_scan *sc, gsi_buf *re, enum match_type *type, int i)
{
  ig_next (sc);
  if (ig_peek (sc) == '/')
    ig_next (sc);
  if (ig_peek (sc) == IG_EOF)
    {
      if (*type == MATCH_EXACT)
        *type = MATCH_PREFIX;
      else
        {
          gsi_buf_addstr (re, ".*");
          *type = MATCH_REGEXP;
        }
    }
  else
    {
      gsi_buf_addstr (re, "(.*/)?");
      *type = MATCH_REGEXP;
    }
  if (i == 0)
    *type = MATCH_SUFFIX;
}

/* patternmatcher's Pattern.compile: the match type and, for a regexp, its text.  */
static void
pattern_regexp_text (const ig_pattern *pat, gsi_buf *re, enum match_type *type)
{
  ig_scan sc = { pat->text, pat->len, 0 };
  int32_t ch;

  /* text/scanner skips a leading byte order mark.  */
  if (pat->len >= 3 && memcmp (pat->text, "\xEF\xBB\xBF", 3) == 0)
    sc.pos = 3;
  gsi_buf_addch (re, '^');
  *type = MATCH_EXACT;
  for (int i = 0; ig_peek (&sc) != IG_EOF; i++)
    {
      ch = ig_next (&sc);
      if (ch == '*' && ig_peek (&sc) == '*')
        compile_double_star (&sc, re, type, i);
      else if (ch == '*')
        {
          gsi_buf_addstr (re, "[^/]*");
          *type = MATCH_REGEXP;
        }
      else if (ch == '?')
        {
          gsi_buf_addstr (re, "[^/]");
          *type = MATCH_REGEXP;
        }
      else if (should_escape (ch))
        {
          gsi_buf_addch (re, '\\');
          gsi_buf_add_utf8 (re, (unsigned) ch);
        }
      else if (ch == '\\' && ig_peek (&sc) != IG_EOF)
        {
          gsi_buf_addch (re, '\\');
          gsi_buf_add_utf8 (re, (unsigned) ig_next (&sc));
          *type = MATCH_REGEXP;
        }
      else
        {
          gsi_buf_add_utf8 (re, (unsigned) ch);
          if (ch == '[' || ch == ']')
            *type = MATCH_REGEXP;
        }
    }
  if (*type == MATCH_REGEXP)
    gsi_buf_addch (re, '$');
}

static bool
has_suffix (const char *s, size_t n, const char *suf, size_t m)
{
  return n >= m && memcmp (s + n - m, suf, m) == 0;
}

static bool
pattern_match (const ig_pattern *pat, const char *path, size_t n)
{
  switch (pat->type)
    {
    case MATCH_EXACT:
      return n == pat->len && memcmp (path, pat->text, n) == 0;
    case MATCH_PREFIX:
      return n >= pat->len - 2 && memcmp (path, pat->text, pat->len - 2) == 0;
    case MATCH_SUFFIX:
      {
        const char *suf = pat->text + 2;
        size_t m = pat->len - 2;
        if (has_suffix (path, n, suf, m))
          return true;
        /* "**" + "/foo" also matches "foo" itself */
        return m > 0 && suf[0] == '/' && n == m - 1 && memcmp (path, suf + 1, n) == 0;
      }
    case MATCH_REGEXP:
      {
        bool hit = false;
        re_match_prefixes (&pat->re, path, n, false, &hit);
        return hit;
      }
    default:
      return false;
    }
}

/* pattern_match on every prefix of s that ends before a '/' and on s itself, into hits (one per
 * such prefix, in order).  */
static void
pattern_match_prefixes (const ig_pattern *pat, const char *s, size_t n, bool *hits)
{
  size_t j = 0;

  if (pat->type == MATCH_REGEXP)
    {
      re_match_prefixes (&pat->re, s, n, true, hits);
      return;
    }
  for (size_t k = 0; k <= n; k++)
    if (k == n || s[k] == '/')
      hits[j++] = pattern_match (pat, s, k);
}

static size_t
count_prefixes (const char *s, size_t n)
{
  size_t c = 1;

  for (size_t k = 0; k < n; k++)
    c += s[k] == '/';
  return c;
}

/* fsutil's patternWithoutTrailingGlob: the pattern without a final slash and double star, and
 * then without a final slash and star.  */
static size_t
without_trailing_glob (const char *s, size_t n)
{
  if (has_suffix (s, n, "/**", 3))
    n -= 3;
  if (has_suffix (s, n, "/*", 2))
    n -= 2;
  return n;
}

static bool
has_glob_chars (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] != '\0' && strchr ("*[]?^\\", s[i]))
      return true;
  return false;
}

/* ---- reading the file ---- */

static void
pattern_release (ig_pattern *p)
{
  free (p->text);
  re_prog_release (&p->re);
}

/* patternmatcher.New for one pattern line (already through ReadAll's normalisation).  */
static int
add_pattern (cf_ignore *ig, const char *path, int line, const char *s, size_t n, gsi_error *err)
{
  cleanup_buf gsi_buf clean = GSI_BUF_INIT;
  cleanup_buf gsi_buf re = GSI_BUF_INIT;
  cleanup_buf gsi_buf why = GSI_BUF_INIT;
  ig_pattern pat = { 0 };
  const char *p;
  size_t len;

  trim_space (&s, &n);
  if (n == 0)
    return 0;
  go_clean (s, n, &clean);
  p = clean.buf;
  len = clean.len;
  if (p[0] == '!')
    {
      if (len == 1)
        return gsi_error_at (err, path, line, 0, "illegal exclusion pattern: \"!\"");
      pat.exclusion = true;
      p++, len--;
    }
  if (!glob_valid (p, len))
    return gsi_error_at (err, path, line, 0, "syntax error in pattern `%.*s`", (int) len, p);
  pat.text = xmalloc (len + 1);
  memcpy (pat.text, p, len);
  pat.text[len] = '\0';
  pat.len = len;
  pattern_regexp_text (&pat, &re, &pat.type);
  if (pat.type == MATCH_REGEXP && re_compile (re.buf, re.len, &pat.re, &why) < 0)
    {
      pattern_release (&pat);
      return gsi_error_at (err, path, line, 0, "syntax error in pattern `%.*s`: %s", (int) len, p, why.buf);
    }
  pat.prefix_len = without_trailing_glob (pat.text, pat.len);
  if (pat.exclusion)
    {
      ig->exclusions = true;
      if (has_glob_chars (pat.text, pat.prefix_len))
        ig->only_prefix_exceptions = false;
    }
  GSI_ALLOC_GROW (ig->v, ig->n + 1, ig->alloc);
  ig->v[ig->n++] = pat;
  return 0;
}

/* ignorefile.ReadAll for one line: comments, white space, "!" and path cleaning.  */
static int
read_line (cf_ignore *ig, const char *path, int line, const char *s, size_t n, gsi_error *err)
{
  cleanup_buf gsi_buf pat = GSI_BUF_INIT;
  cleanup_buf gsi_buf clean = GSI_BUF_INIT;
  bool invert;

  if (n > 0 && s[0] == '#')
    return 0;
  trim_space (&s, &n);
  if (n == 0)
    return 0;
  invert = s[0] == '!';
  if (invert)
    {
      s++, n--;
      trim_space (&s, &n);
      gsi_buf_addch (&pat, '!');
    }
  if (n > 0)
    {
      go_clean (s, n, &clean);
      /* "/foo" means "foo": patterns are relative to the context.  */
      if (clean.len > 1 && clean.buf[0] == '/')
        gsi_buf_add (&pat, clean.buf + 1, clean.len - 1);
      else
        gsi_buf_add (&pat, clean.buf, clean.len);
    }
  return add_pattern (ig, path, line, pat.buf, pat.len, err);
}

int
cf_ignore_parse (const char *path, const char *data, size_t len, cf_ignore **out, gsi_error *err)
{
  cf_ignore *ig = xcalloc (1, sizeof (*ig));
  size_t pos = 0;
  int line = 0;

  ig->only_prefix_exceptions = true;
  if (path)
    ig->path = xstrdup (path);
  while (pos < len)
    {
      const char *s = data + pos, *nl = memchr (s, '\n', len - pos);
      size_t n = nl ? (size_t) (nl - s) : len - pos;

      pos += n + (nl ? 1 : 0);
      line++;
      if (n > IG_MAX_LINE)
        {
          cf_ignore_free (ig);
          return gsi_error_at (err, path, line, 0, "line longer than %d bytes", IG_MAX_LINE);
        }
      if (n > 0 && s[n - 1] == '\r')
        n--;
      if (line == 1 && n >= 3 && memcmp (s, "\xEF\xBB\xBF", 3) == 0)
        s += 3, n -= 3;
      if (read_line (ig, path, line, s, n, err) < 0)
        {
          cf_ignore_free (ig);
          return -1;
        }
    }
  *out = ig;
  return 0;
}

/* Reads a whole file.  Returns 1 when read, 0 when it does not exist, -1 on error.  */
static int
read_whole (const char *path, gsi_buf *out, gsi_error *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  char chunk[65536];
  ssize_t r;

  if (fd < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return 0;
      return gsi_error_set (err, errno, "open `%s`", path);
    }
  while ((r = read (fd, chunk, sizeof chunk)) != 0)
    {
      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          return gsi_error_set (err, errno, "read `%s`", path);
        }
      gsi_buf_add (out, chunk, (size_t) r);
    }
  return 1;
}

static int
try_load (const char *path, cf_ignore **out, gsi_error *err)
{
  cleanup_buf gsi_buf data = GSI_BUF_INIT;
  int r = read_whole (path, &data, err);

  if (r <= 0)
    return r;
  if (cf_ignore_parse (path, data.buf, data.len, out, err) < 0)
    return -1;
  return 1;
}

int
cf_ignore_load (const char *context_dir, const char *containerfile, cf_ignore **out, gsi_error *err)
{
  cleanup_free char *own = NULL;
  cleanup_free char *ctx = NULL;
  int r;

  /* BuildKit reads "<Dockerfile>.dockerignore" beside the Dockerfile first, and only without it
   * the context's .dockerignore.  */
  if (containerfile && *containerfile)
    {
      own = xasprintf ("%s.dockerignore", containerfile);
      if ((r = try_load (own, out, err)) != 0)
        return r < 0 ? -1 : 0;
    }
  if (context_dir && *context_dir)
    {
      ctx = xasprintf ("%s/.dockerignore", context_dir);
      if ((r = try_load (ctx, out, err)) != 0)
        return r < 0 ? -1 : 0;
    }
  *out = xcalloc (1, sizeof (**out));
  (*out)->only_prefix_exceptions = true;
  return 0;
}

/* ---- questions ---- */

/* MatchesOrParentMatches: a pattern counts when it matches the path or any parent directory;
 * patterns are tried in order and only those that could change the answer are looked at, so
 * the last one that matches wins.  */
bool
cf_ignore_excluded (const cf_ignore *ig, const char *relpath)
{
  cleanup_buf gsi_buf file = GSI_BUF_INIT;
  cleanup_buf gsi_buf parent = GSI_BUF_INIT;
  cleanup_free bool *hits = NULL;
  const char *slash;
  bool matched = false;
  size_t nh = 0;

  if (ig == NULL || relpath == NULL)
    return false;
  go_clean (relpath, strlen (relpath), &file);
  /* Excluding the context root would exclude everything.  */
  if (strcmp (file.buf, ".") == 0)
    return false;
  slash = strrchr (file.buf, '/');
  go_clean (file.buf, slash ? (size_t) (slash - file.buf) + 1 : 0, &parent);
  if (strcmp (parent.buf, ".") != 0)
    {
      nh = count_prefixes (parent.buf, parent.len);
      hits = xmalloc (nh * sizeof (bool));
    }
  for (size_t i = 0; i < ig->n; i++)
    {
      const ig_pattern *pat = &ig->v[i];
      bool m;
      if (pat->exclusion != matched)
        continue;
      m = pattern_match (pat, file.buf, file.len);
      if (!m && nh > 0)
        {
          pattern_match_prefixes (pat, parent.buf, parent.len, hits);
          for (size_t j = 0; j < nh && !m; j++)
            m = hits[j];
        }
      if (m)
        matched = !pat->exclusion;
    }
  return matched;
}

/* MatchesUsingParentResults along the path, as fsutil's walker applies it: each directory passes
 * on which patterns matched it, and a pattern that matched a parent counts as matching without
 * being tried again, while one that was skipped there is tried on the deeper path alone.  */
bool
cf_ignore_excluded_as_walked (const cf_ignore *ig, const char *relpath)
{
  cleanup_buf gsi_buf file = GSI_BUF_INIT;
  cleanup_free bool *info = NULL;
  cleanup_free bool *hits = NULL; /* per pattern, per prefix; filled when first needed */
  cleanup_free bool *done = NULL;
  bool matched = false, have_info = false;
  size_t nb, j = 0;

  if (ig == NULL || relpath == NULL)
    return false;
  go_clean (relpath, strlen (relpath), &file);
  if (strcmp (file.buf, ".") == 0 || ig->n == 0)
    return false;
  nb = count_prefixes (file.buf, file.len);
  info = xcalloc (ig->n, sizeof (bool));
  done = xcalloc (ig->n, sizeof (bool));
  hits = xcalloc (ig->n, nb * sizeof (bool));
  for (size_t k = 0; k <= file.len; k++)
    {
      size_t at;
      if (k < file.len && file.buf[k] != '/')
        continue;
      at = j++;
      if (k == 0)
        continue;
      matched = false;
      for (size_t i = 0; i < ig->n; i++)
        {
          const ig_pattern *pat = &ig->v[i];
          bool m = have_info && info[i];
          /* The walker starts at the top, where there is no parent directory to try.  */
          if (!m && pat->exclusion == matched)
            {
              if (!done[i])
                pattern_match_prefixes (pat, file.buf, file.len, hits + i * nb);
              done[i] = true;
              m = hits[i * nb + at];
            }
          info[i] = m;
          if (m)
            matched = !pat->exclusion;
        }
      have_info = true;
    }
  return matched;
}

/* fsutil's walker: without exceptions an excluded directory is skipped; with an exception that
 * has glob characters it is always walked; otherwise only when some exception names a path in
 * it.  */
bool
cf_ignore_may_include_below (const cf_ignore *ig, const char *dir)
{
  cleanup_buf gsi_buf d = GSI_BUF_INIT;

  if (ig == NULL || dir == NULL || !ig->exclusions)
    return false;
  if (!ig->only_prefix_exceptions)
    return true;
  go_clean (dir, strlen (dir), &d);
  gsi_buf_addch (&d, '/');
  for (size_t i = 0; i < ig->n; i++)
    {
      const ig_pattern *pat = &ig->v[i];
      /* pattern + "/" starts with dir + "/" */
      if (pat->exclusion && pat->prefix_len + 1 >= d.len && memcmp (pat->text, d.buf, d.len - 1) == 0
          && (pat->prefix_len + 1 == d.len ? true : pat->text[d.len - 1] == '/'))
        return true;
    }
  return false;
}

size_t
cf_ignore_count (const cf_ignore *ig)
{
  return ig ? ig->n : 0;
}

const char *
cf_ignore_path (const cf_ignore *ig)
{
  return ig ? ig->path : NULL;
}

void
cf_ignore_free (cf_ignore *ig)
{
  if (ig == NULL)
    return;
  for (size_t i = 0; i < ig->n; i++)
    pattern_release (&ig->v[i]);
  free (ig->v);
  free (ig->path);
  free (ig);
}
