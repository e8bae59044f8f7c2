/* Version ordering: Debian as dpkg's parseversion and verrevcmp, PEP 440 as pypa/packaging.
 *
 * Both comparisons parse into small structs that point into the caller's strings, and numbers are
 * compared as digit strings, so a comparison allocates nothing and numbers of any length order
 * correctly.  Only the legacy PyPI ordering (setuptools' old key) builds a list of parts.  */
#include "version.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xalloc.h"

/* ASCII classes: versions are ASCII by grammar, and <ctype.h> would follow the locale.  */
static inline bool
is_digit (int c)
{
  return c >= '0' && c <= '9';
}

static inline bool
is_alpha (int c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_alnum (int c)
{
  return is_digit (c) || is_alpha (c);
}

static inline int
to_lower (int c)
{
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static inline bool
is_blank (int c)
{
  return c == ' ' || c == '\t';
}

static inline bool
is_space (int c)
{
  return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int
sign (int c)
{
  return (c > 0) - (c < 0);
}

int
gsi_ecosystem_parse (const char *s)
{
  if (s == NULL)
    return -1;
  if (strcasecmp (s, "deb") == 0 || strcasecmp (s, "debian") == 0)
    return GSI_ECO_DEB;
  if (strcasecmp (s, "pypi") == 0 || strcasecmp (s, "pip") == 0 || strcasecmp (s, "python") == 0)
    return GSI_ECO_PYPI;
  return -1;
}

const char *
gsi_ecosystem_name (gsi_ecosystem e)
{
  switch (e)
    {
    case GSI_ECO_DEB:
      return "deb";
    case GSI_ECO_PYPI:
      return "pypi";
    default:
      return "unknown";
    }
}

/* ---- Debian ---------------------------------------------------------------------------------- */

typedef struct deb_version
{
  long epoch;
  const char *up, *up_end;
  const char *rev, *rev_end; /* equal when there is no revision */
} deb_version;

/* dpkg's parseversion (lib/dpkg/parsehelp.c), with its messages.  What dpkg only warns about (a
 * first character that is not a digit, characters outside the allowed sets) is an error here too:
 * such a version cannot come from a real package.  Returns NULL or the reason.  */
static const char *
deb_parse (const char *s, deb_version *v)
{
  const char *end, *p, *colon, *hyphen, *start;

  while (is_blank (*s))
    s++;
  if (*s == '\0')
    return "version string is empty";
  for (end = s; *end && !is_blank (*end); end++)
    ;
  for (p = end; is_blank (*p); p++)
    ;
  if (*p)
    return "version string has embedded spaces";

  v->epoch = 0;
  start = s;
  colon = memchr (s, ':', (size_t) (end - s));
  if (colon)
    {
      /* The epoch is read with strtol, so its quirks are dpkg's: leading space, a sign.  */
      unsigned long long val = 0;
      bool neg = false, big = false;
      const char *digits;

      for (p = s; is_space (*p); p++)
        ;
      if (*p == '+' || *p == '-')
        neg = *p++ == '-';
      for (digits = p; is_digit (*p); p++)
        {
          val = val * 10 + (unsigned) (*p - '0');
          if (val > (unsigned long long) LONG_MAX)
            {
              big = true;
              val = (unsigned long long) LONG_MAX;
            }
        }
      if (p == digits)
        return "epoch in version is empty";
      if (p != colon)
        return "epoch in version is not number";
      if (neg && val != 0)
        return "epoch in version is negative";
      if (big || val > INT_MAX)
        return "epoch in version is too big";
      if (colon[1] == '\0')
        return "nothing after colon in version number";
      v->epoch = (long) val;
      start = colon + 1;
    }

  hyphen = NULL;
  for (p = start; p < end; p++)
    if (*p == '-')
      hyphen = p;
  v->up = start;
  v->up_end = hyphen ? hyphen : end;
  v->rev = hyphen ? hyphen + 1 : end;
  v->rev_end = end;
  if (hyphen && v->rev == end)
    return "revision number is empty";
  if (v->up == v->up_end)
    return "version number is empty";
  if (!is_digit (*v->up))
    return "version number does not start with digit";
  for (p = v->up; p < v->up_end; p++)
    if (!is_alnum (*p) && strchr (".-+~:", *p) == NULL)
      return "invalid character in version number";
  for (p = v->rev; p < v->rev_end; p++)
    if (!is_alnum (*p) && strchr (".+~", *p) == NULL)
      return "invalid character in revision number";
  return NULL;
}

/* dpkg's weight of a non-digit: '~' before the end of the string, letters before the rest.  */
static int
deb_order (int c)
{
  if (is_digit (c))
    return 0;
  if (is_alpha (c))
    return c;
  if (c == '~')
    return -1;
  if (c)
    return c + 256;
  return 0;
}

/* dpkg's verrevcmp over [a, ae) and [b, be).  */
static int
deb_verrevcmp (const char *a, const char *ae, const char *b, const char *be)
{
  while (a < ae || b < be)
    {
      int first_diff = 0;

      while ((a < ae && !is_digit (*a)) || (b < be && !is_digit (*b)))
        {
          int ac = a < ae ? deb_order ((unsigned char) *a) : 0;
          int bc = b < be ? deb_order ((unsigned char) *b) : 0;

          /* Equal weights are never 0 here (0 is a digit or the end), so neither side runs past
           * its end.  */
          if (ac != bc)
            return ac - bc;
          a++;
          b++;
        }
      while (a < ae && *a == '0')
        a++;
      while (b < be && *b == '0')
        b++;
      while (a < ae && b < be && is_digit (*a) && is_digit (*b))
        {
          if (!first_diff)
            first_diff = *a - *b;
          a++;
          b++;
        }
      if (a < ae && is_digit (*a))
        return 1;
      if (b < be && is_digit (*b))
        return -1;
      if (first_diff)
        return first_diff;
    }
  return 0;
}

static int
deb_compare (const deb_version *a, const deb_version *b)
{
  int c;

  if (a->epoch != b->epoch)
    return a->epoch < b->epoch ? -1 : 1;
  c = deb_verrevcmp (a->up, a->up_end, b->up, b->up_end);
  if (c)
    return sign (c);
  return sign (deb_verrevcmp (a->rev, a->rev_end, b->rev, b->rev_end));
}

static int
deb_parse_err (const char *s, deb_version *v, gsi_error *err)
{
  const char *why = deb_parse (s, v);

  if (why == NULL)
    return 0;
  return gsi_error_set (err, 0, "invalid Debian version `%s`: %s", s, why);
}

/* ---- PEP 440 --------------------------------------------------------------------------------- */

/* A non-negative integer as its digits without leading zeros (n == 0 is zero).  */
typedef struct pv_num
{
  const char *p;
  size_t n;
} pv_num;

enum
{
  PRE_NONE = 0,
  PRE_A,
  PRE_B,
  PRE_RC
};

typedef struct pep440
{
  pv_num epoch;
  const char *rel, *rel_end; /* "1.02.0": digit runs separated by '.' */
  size_t rel_count;
  int pre; /* PRE_* */
  pv_num pre_n;
  bool has_post, has_dev;
  pv_num post_n, dev_n;
  const char *local, *local_end; /* after '+'; NULL when there is none */
} pep440;

static const char *
p_number (const char *p, pv_num *n)
{
  while (*p == '0')
    p++;
  n->p = p;
  while (is_digit (*p))
    p++;
  n->n = (size_t) (p - n->p);
  return p;
}

static const char *
p_sep (const char *p)
{
  return *p == '-' || *p == '_' || *p == '.' ? p + 1 : p;
}

/* The first of labels (in order, as the regular expression's alternation tries them) that p starts
 * with, case-insensitively: returns the end of it and its index, or NULL.  */
static const char *
p_label (const char *p, const char *const *labels, int *which)
{
  for (int i = 0; labels[i]; i++)
    {
      size_t n = strlen (labels[i]);
      if (strncasecmp (p, labels[i], n) == 0)
        {
          *which = i;
          return p + n;
        }
    }
  return NULL;
}

static bool
local_valid (const char *p, const char **end)
{
  for (;;)
    {
      if (!is_alnum (*p))
        return false;
      while (is_alnum (*p))
        p++;
      if (!((*p == '-' || *p == '_' || *p == '.') && is_alnum (p[1])))
        break;
      p++;
    }
  *end = p;
  return true;
}

/* packaging's VERSION_PATTERN, surrounded by optional whitespace.  Each optional group is tried at
 * one place and given up whole when its label is missing, which is what the regular expression's
 * backtracking comes to for this grammar.  Returns NULL or the reason.  */
static const char *
pep440_parse (const char *s, pep440 *v, const char **stop)
{
  static const char *const pre_labels[] = { "alpha", "a", "beta", "b", "preview", "pre", "c", "rc", NULL };
  static const int pre_kinds[] = { PRE_A, PRE_A, PRE_B, PRE_B, PRE_RC, PRE_RC, PRE_RC, PRE_RC };
  static const char *const post_labels[] = { "post", "rev", "r", NULL };
  static const char *const dev_labels[] = { "dev", NULL };
  const char *p = s, *q, *r;
  int which;

  memset (v, 0, sizeof *v);
  *stop = s;
  while (is_space (*p))
    p++;
  if (*p == '\0')
    return "version string is empty";
  if (*p == 'v' || *p == 'V')
    p++;
  if (!is_digit (*p))
    {
      *stop = p;
      return "it does not start with a release number such as `1.0`";
    }
  for (q = p; is_digit (*q); q++)
    ;
  if (*q == '!')
    {
      p_number (p, &v->epoch);
      p = q + 1;
      if (!is_digit (*p))
        {
          *stop = p;
          return "the epoch must be followed by a release number";
        }
    }

  v->rel = p;
  v->rel_count = 1;
  while (is_digit (*p))
    p++;
  while (*p == '.' && is_digit (p[1]))
    {
      for (p++; is_digit (*p); p++)
        ;
      v->rel_count++;
    }
  v->rel_end = p;

  r = p_label (p_sep (p), pre_labels, &which);
  if (r)
    {
      v->pre = pre_kinds[which];
      p = p_number (p_sep (r), &v->pre_n);
    }

  if (*p == '-' && is_digit (p[1]))
    {
      v->has_post = true;
      p = p_number (p + 1, &v->post_n);
    }
  else if ((r = p_label (p_sep (p), post_labels, &which)) != NULL)
    {
      v->has_post = true;
      p = p_number (p_sep (r), &v->post_n);
    }

  r = p_label (p_sep (p), dev_labels, &which);
  if (r)
    {
      v->has_dev = true;
      p = p_number (p_sep (r), &v->dev_n);
    }

  if (*p == '+')
    {
      *stop = p;
      v->local = p + 1;
      if (v->local[0] == '\0' || is_space (v->local[0]))
        return "the local version label after `+` is empty";
      if (!local_valid (v->local, &v->local_end) || *v->local_end == '-' || *v->local_end == '_'
          || *v->local_end == '.' || *v->local_end == '+')
        return "a local version label is letters and digits separated by `.`, `-` or `_`";
      p = v->local_end;
    }

  *stop = p;
  while (is_space (*p))
    p++;
  if (*p)
    return "unexpected text";
  return NULL;
}

static int
pep440_parse_err (const char *s, pep440 *v, gsi_error *err)
{
  const char *stop;
  const char *why = pep440_parse (s, v, &stop);

  if (why == NULL)
    return 0;
  if (strcmp (why, "unexpected text") == 0)
    return gsi_error_set (err, 0, "invalid PEP 440 version `%s`: unexpected `%s` after `%.*s`", s, stop,
                          (int) (stop - s), s);
  if (stop > s && *stop == '+')
    return gsi_error_set (err, 0, "invalid PEP 440 version `%s`: %s (`%s`)", s, why, stop);
  return gsi_error_set (err, 0, "invalid PEP 440 version `%s`: %s", s, why);
}

static int
num_cmp (pv_num a, pv_num b)
{
  if (a.n != b.n)
    return a.n < b.n ? -1 : 1;
  return a.n ? sign (memcmp (a.p, b.p, a.n)) : 0;
}

/* The next release number from *p (zero once the release is used up, so trailing zeros do not
 * count).  */
static pv_num
rel_next (const char **p, const char *end)
{
  pv_num n = { NULL, 0 };

  if (*p >= end)
    return n;
  if (**p == '.')
    (*p)++;
  while (*p < end && **p == '0')
    (*p)++;
  n.p = *p;
  while (*p < end && is_digit (**p))
    (*p)++;
  n.n = (size_t) (*p - n.p);
  return n;
}

/* Compares the releases over their first k numbers (all of them when k is SIZE_MAX).  */
static int
rel_cmp (const pep440 *a, const pep440 *b, size_t k)
{
  const char *pa = a->rel, *pb = b->rel;

  for (size_t i = 0; i < k && (pa < a->rel_end || pb < b->rel_end); i++)
    {
      int c = num_cmp (rel_next (&pa, a->rel_end), rel_next (&pb, b->rel_end));
      if (c)
        return c;
    }
  return 0;
}

static int
pre_rank (const pep440 *v)
{
  if (v->pre != PRE_NONE)
    return v->pre;
  /* 1.0.dev1 sorts before 1.0a1, but 1.0.post1.dev1 after 1.0.  */
  if (!v->has_post && v->has_dev)
    return -1;
  return PRE_RC + 1;
}

static const char *
local_next (const char **p, const char *end, size_t *n)
{
  const char *seg;

  if (**p == '-' || **p == '_' || **p == '.')
    (*p)++;
  seg = *p;
  while (*p < end && is_alnum (**p))
    (*p)++;
  *n = (size_t) (*p - seg);
  return seg;
}

static bool
all_digits (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!is_digit (s[i]))
      return false;
  return true;
}

/* Local segments: numbers compare as numbers and above words; words compare without case.  */
static int
local_seg_cmp (const char *a, size_t an, const char *b, size_t bn)
{
  bool ad = all_digits (a, an), bd = all_digits (b, bn);

  if (ad && bd)
    {
      pv_num x, y;
      while (an && *a == '0')
        a++, an--;
      while (bn && *b == '0')
        b++, bn--;
      x.p = a, x.n = an;
      y.p = b, y.n = bn;
      return num_cmp (x, y);
    }
  if (ad != bd)
    return ad ? 1 : -1;
  for (size_t i = 0; i < an && i < bn; i++)
    {
      int c = to_lower ((unsigned char) a[i]) - to_lower ((unsigned char) b[i]);
      if (c)
        return sign (c);
    }
  return an == bn ? 0 : (an < bn ? -1 : 1);
}

static int
local_cmp (const pep440 *a, const pep440 *b)
{
  const char *pa = a->local, *pb = b->local;

  if (pa == NULL || pb == NULL)
    return (pa != NULL) - (pb != NULL);
  while (pa < a->local_end && pb < b->local_end)
    {
      size_t an, bn;
      const char *sa = local_next (&pa, a->local_end, &an);
      const char *sb = local_next (&pb, b->local_end, &bn);
      int c = local_seg_cmp (sa, an, sb, bn);
      if (c)
        return c;
    }
  return (pa < a->local_end) - (pb < b->local_end);
}

/* packaging's _cmpkey: epoch, release without trailing zeros, pre (a dev release of the final
 * version lowest), post (none lowest), dev (none highest), local (none lowest).  */
static int
pep440_cmp (const pep440 *a, const pep440 *b, bool with_local)
{
  int c;

  if ((c = num_cmp (a->epoch, b->epoch)) != 0)
    return c;
  if ((c = rel_cmp (a, b, SIZE_MAX)) != 0)
    return c;
  int ra = pre_rank (a), rb = pre_rank (b);
  if (ra != rb)
    return ra < rb ? -1 : 1;
  if (a->pre != PRE_NONE && (c = num_cmp (a->pre_n, b->pre_n)) != 0)
    return c;
  if (a->has_post != b->has_post)
    return a->has_post ? 1 : -1;
  if (a->has_post && (c = num_cmp (a->post_n, b->post_n)) != 0)
    return c;
  if (a->has_dev != b->has_dev)
    return a->has_dev ? -1 : 1;
  if (a->has_dev && (c = num_cmp (a->dev_n, b->dev_n)) != 0)
    return c;
  return with_local ? local_cmp (a, b) : 0;
}

static void
add_num (gsi_buf *b, pv_num n)
{
  if (n.n == 0)
    gsi_buf_addch (b, '0');
  else
    gsi_buf_add (b, n.p, n.n);
}

static void
pep440_format (const pep440 *v, gsi_buf *b)
{
  static const char *const pre_names[] = { "", "a", "b", "rc" };
  const char *p = v->rel;

  if (v->epoch.n)
    {
      add_num (b, v->epoch);
      gsi_buf_addch (b, '!');
    }
  for (size_t i = 0; i < v->rel_count; i++)
    {
      if (i)
        gsi_buf_addch (b, '.');
      add_num (b, rel_next (&p, v->rel_end));
    }
  if (v->pre != PRE_NONE)
    {
      gsi_buf_addstr (b, pre_names[v->pre]);
      add_num (b, v->pre_n);
    }
  if (v->has_post)
    {
      gsi_buf_addstr (b, ".post");
      add_num (b, v->post_n);
    }
  if (v->has_dev)
    {
      gsi_buf_addstr (b, ".dev");
      add_num (b, v->dev_n);
    }
  if (v->local)
    {
      const char *q = v->local;
      gsi_buf_addch (b, '+');
      while (q < v->local_end)
        {
          size_t n;
          const char *seg = local_next (&q, v->local_end, &n);
          if (seg != v->local)
            gsi_buf_addch (b, '.');
          if (all_digits (seg, n))
            {
              while (n > 1 && *seg == '0')
                seg++, n--;
              gsi_buf_add (b, seg, n);
            }
          else
            for (size_t i = 0; i < n; i++)
              gsi_buf_addch (b, to_lower ((unsigned char) seg[i]));
        }
    }
}

char *
gsi_pep440_normalize (const char *s, gsi_error *err)
{
  pep440 v;
  gsi_buf b = GSI_BUF_INIT;

  if (pep440_parse_err (s, &v, err) < 0)
    return NULL;
  pep440_format (&v, &b);
  return gsi_buf_detach (&b, NULL);
}

char *
gsi_pep503_name (const char *name)
{
  gsi_buf b = GSI_BUF_INIT;

  for (const char *p = name; *p; p++)
    {
      if (*p == '-' || *p == '_' || *p == '.')
        {
          while (p[1] == '-' || p[1] == '_' || p[1] == '.')
            p++;
          gsi_buf_addch (&b, '-');
        }
      else
        gsi_buf_addch (&b, to_lower ((unsigned char) *p));
    }
  return gsi_buf_detach (&b, NULL);
}

bool
gsi_pypi_is_date_version (const char *version)
{
  pep440 v;
  const char *stop, *p;
  unsigned year = 0;
  pv_num first;

  if (pep440_parse (version, &v, &stop) != NULL || v.epoch.n != 0)
    return false;
  p = v.rel;
  first = rel_next (&p, v.rel_end);
  if (first.n != 4)
    return false;
  for (size_t i = 0; i < 4; i++)
    year = year * 10 + (unsigned) (first.p[i] - '0');
  return year >= 2011 && year <= 2015;
}

/* ---- Legacy PyPI ordering -------------------------------------------------------------------- */

typedef struct legacy_key
{
  char **v;
  size_t n, alloc;
} legacy_key;

static void
legacy_key_free (legacy_key *k)
{
  for (size_t i = 0; i < k->n; i++)
    free (k->v[i]);
  free (k->v);
}

/* packaging < 22's _legacy_cmpkey: drop "-" before a pre-release tag and trailing zeros of each run
 * of numbers, then append.  */
static void
legacy_push (legacy_key *k, char *part)
{
  if (part[0] == '*')
    {
      if (strcmp (part, "*final") < 0)
        while (k->n && strcmp (k->v[k->n - 1], "*final-") == 0)
          free (k->v[--k->n]);
      while (k->n && strcmp (k->v[k->n - 1], "00000000") == 0)
        free (k->v[--k->n]);
    }
  GSI_ALLOC_GROW (k->v, k->n + 1, k->alloc);
  k->v[k->n++] = part;
}

/* The string is split into digit runs (zero-padded to 8), letter runs ("*" + the word, with
 * pre/preview/rc -> c and dev -> @), "-" ("*final-") and runs of anything else ("*" + the run);
 * dots only separate.  */
static void
legacy_key_build (const char *s, legacy_key *k)
{
  const char *p = s;

  memset (k, 0, sizeof *k);
  while (*p)
    {
      const char *q = p;
      gsi_buf part = GSI_BUF_INIT;

      if (*p == '.')
        {
          p++;
          continue;
        }
      if (is_digit (*p))
        {
          while (is_digit (*q))
            q++;
          for (size_t n = (size_t) (q - p); n < 8; n++)
            gsi_buf_addch (&part, '0');
          gsi_buf_add (&part, p, (size_t) (q - p));
        }
      else if (*p == '-')
        {
          q = p + 1;
          gsi_buf_addstr (&part, "*final-");
        }
      else
        {
          bool word = is_alpha (*p);
          gsi_buf_addch (&part, '*');
          while (*q && (word ? is_alpha (*q) : !is_alnum (*q) && *q != '.' && *q != '-'))
            gsi_buf_addch (&part, to_lower ((unsigned char) *q++));
          if (word)
            {
              if (strcmp (part.buf, "*pre") == 0 || strcmp (part.buf, "*preview") == 0
                  || strcmp (part.buf, "*rc") == 0)
                {
                  gsi_buf_reset (&part);
                  gsi_buf_addstr (&part, "*c");
                }
              else if (strcmp (part.buf, "*dev") == 0)
                {
                  gsi_buf_reset (&part);
                  gsi_buf_addstr (&part, "*@");
                }
            }
        }
      legacy_push (k, gsi_buf_detach (&part, NULL));
      p = q;
    }
  legacy_push (k, xstrdup ("*final"));
}

static int
legacy_cmp (const char *a, const char *b)
{
  legacy_key ka, kb;
  int c = 0;

  legacy_key_build (a, &ka);
  legacy_key_build (b, &kb);
  for (size_t i = 0; c == 0 && i < ka.n && i < kb.n; i++)
    c = sign (strcmp (ka.v[i], kb.v[i]));
  if (c == 0)
    c = ka.n == kb.n ? 0 : (ka.n < kb.n ? -1 : 1);
  legacy_key_free (&ka);
  legacy_key_free (&kb);
  return c;
}

int
gsi_pypi_compare_legacy (const char *a, const char *b)
{
  pep440 va, vb;
  const char *stop;
  bool oka = pep440_parse (a, &va, &stop) == NULL;
  bool okb = pep440_parse (b, &vb, &stop) == NULL;

  if (oka && okb)
    return pep440_cmp (&va, &vb, true);
  /* A legacy version has epoch -1: below every PEP 440 version.  */
  if (oka != okb)
    return oka ? 1 : -1;
  return legacy_cmp (a, b);
}

/* ---- Both ecosystems ------------------------------------------------------------------------- */

bool
gsi_version_valid (gsi_ecosystem e, const char *s, gsi_error *err)
{
  gsi_error tmp = GSI_ERROR_INIT;
  gsi_error *e2 = err ? err : &tmp;
  int r;

  switch (e)
    {
    case GSI_ECO_DEB:
      {
        deb_version v;
        r = deb_parse_err (s, &v, e2);
        break;
      }
    case GSI_ECO_PYPI:
      {
        pep440 v;
        r = pep440_parse_err (s, &v, e2);
        break;
      }
    default:
      r = gsi_error_set (e2, 0, "unknown version ecosystem %d", (int) e);
      break;
    }
  gsi_error_clear (&tmp);
  return r == 0;
}

int
gsi_version_compare (gsi_ecosystem e, const char *a, const char *b, int *cmp, gsi_error *err)
{
  switch (e)
    {
    case GSI_ECO_DEB:
      {
        deb_version va, vb;
        if (deb_parse_err (a, &va, err) < 0 || deb_parse_err (b, &vb, err) < 0)
          return -1;
        *cmp = deb_compare (&va, &vb);
        return 0;
      }
    case GSI_ECO_PYPI:
      {
        pep440 va, vb;
        if (pep440_parse_err (a, &va, err) < 0 || pep440_parse_err (b, &vb, err) < 0)
          return -1;
        *cmp = pep440_cmp (&va, &vb, true);
        return 0;
      }
    default:
      return gsi_error_set (err, 0, "unknown version ecosystem %d", (int) e);
    }
}

/* ---- PEP 440 specifiers ---------------------------------------------------------------------- */

typedef enum spec_op
{
  OP_COMPAT,
  OP_EQ,
  OP_NE,
  OP_LE,
  OP_GE,
  OP_LT,
  OP_GT,
  OP_ARB,
} spec_op;

typedef struct spec
{
  spec_op op;
  bool wildcard;
  bool pre; /* names a pre-release with an inclusive operator: pre-releases may match */
  pep440 v;
  const char *text; /* the version as written (for ===) */
} spec;

static bool
pep440_is_pre (const pep440 *v)
{
  return v->pre != PRE_NONE || v->has_dev;
}

/* Epoch and release equal, the release compared over k numbers.  */
static bool
base_eq (const pep440 *a, const pep440 *b, size_t k)
{
  return num_cmp (a->epoch, b->epoch) == 0 && rel_cmp (a, b, k) == 0;
}

/* Parses one specifier in place (item is trimmed and NUL-terminated).  Returns NULL or the
 * reason; *verr gets the version's own error.  */
static const char *
spec_parse (char *item, spec *sp, gsi_error *verr)
{
  static const struct
  {
    const char *s;
    spec_op op;
  } ops[] = {
    { "===", OP_ARB }, { "~=", OP_COMPAT }, { "==", OP_EQ }, { "!=", OP_NE },
    { "<=", OP_LE },   { ">=", OP_GE },     { "<", OP_LT },  { ">", OP_GT },
  };
  char *p = NULL;
  size_t n;

  memset (sp, 0, sizeof *sp);
  for (size_t i = 0; i < sizeof ops / sizeof ops[0] && p == NULL; i++)
    if (strncmp (item, ops[i].s, strlen (ops[i].s)) == 0)
      {
        sp->op = ops[i].op;
        p = item + strlen (ops[i].s);
      }
  if (p == NULL)
    return "it must start with one of ~=, ==, !=, <=, >=, <, >, ===";
  while (is_space (*p))
    p++;
  if (*p == '\0')
    return "no version after the operator";
  sp->text = p;
  if (sp->op == OP_ARB)
    {
      if (strpbrk (p, " \t\n\v\f\r;)") != NULL)
        return "the version of `===` cannot hold spaces, `;` or `)`";
      sp->pre = pep440_parse_err (p, &sp->v, NULL) == 0 && pep440_is_pre (&sp->v);
      return NULL;
    }
  n = strlen (p);
  if (n >= 2 && strcmp (p + n - 2, ".*") == 0)
    {
      if (sp->op != OP_EQ && sp->op != OP_NE)
        return "a `.*` suffix is only allowed with == and !=";
      p[n - 2] = '\0';
      sp->wildcard = true;
    }
  if (pep440_parse_err (p, &sp->v, verr) < 0)
    return "";
  if (sp->wildcard
      && (sp->v.pre != PRE_NONE || sp->v.has_post || sp->v.has_dev || sp->v.local || !is_digit (p[strlen (p) - 1])))
    return "`.*` must follow the release numbers directly";
  if (sp->v.local && sp->op != OP_EQ && sp->op != OP_NE)
    return "a local version label is only allowed with == and !=";
  if (sp->op == OP_COMPAT && sp->v.rel_count < 2)
    return "~= needs a release of at least two numbers (~=2.2, not ~=2)";
  sp->pre = (sp->op == OP_EQ || sp->op == OP_GE || sp->op == OP_LE || sp->op == OP_COMPAT) && !sp->wildcard
            && pep440_is_pre (&sp->v);
  return NULL;
}

/* packaging's Specifier operators, with PEP 440's exclusions for the exclusive comparisons.  */
static bool
spec_match (const spec *sp, const pep440 *c, const char *normalized)
{
  switch (sp->op)
    {
    case OP_EQ:
    case OP_NE:
      {
        bool eq;
        if (sp->wildcard)
          eq = base_eq (c, &sp->v, sp->v.rel_count);
        else
          eq = pep440_cmp (c, &sp->v, sp->v.local != NULL) == 0;
        return sp->op == OP_EQ ? eq : !eq;
      }
    case OP_COMPAT:
      return pep440_cmp (c, &sp->v, false) >= 0 && base_eq (c, &sp->v, sp->v.rel_count - 1);
    case OP_LE:
      return pep440_cmp (c, &sp->v, false) <= 0;
    case OP_GE:
      return pep440_cmp (c, &sp->v, false) >= 0;
    case OP_LT:
      if (pep440_cmp (c, &sp->v, true) >= 0)
        return false;
      /* <3.1 does not take 3.1.dev0 or 3.1a1, unless it names a pre-release itself.  */
      return !(!pep440_is_pre (&sp->v) && pep440_is_pre (c) && base_eq (c, &sp->v, SIZE_MAX));
    case OP_GT:
      if (pep440_cmp (c, &sp->v, true) <= 0)
        return false;
      /* >3.1 does not take 3.1.post1 unless it names a post-release, nor 3.1+local.  */
      if (!sp->v.has_post && c->has_post && base_eq (c, &sp->v, SIZE_MAX))
        return false;
      return !(c->local && base_eq (c, &sp->v, SIZE_MAX));
    case OP_ARB:
      return strcasecmp (normalized, sp->text) == 0;
    default:
      return false;
    }
}

int
gsi_pep440_satisfies (const char *version, const char *specs, bool allow_pre, bool *match, gsi_error *err)
{
  cleanup_free char *copy = xstrdup (specs);
  cleanup_free spec *list = NULL;
  size_t n = 0, alloc = 0;
  bool pre = allow_pre;
  pep440 c;
  gsi_buf normalized = GSI_BUF_INIT;

  for (char *item = copy, *next; item; item = next)
    {
      char *end;
      const char *why;
      gsi_error verr = GSI_ERROR_INIT;

      next = strchr (item, ',');
      if (next)
        *next++ = '\0';
      while (is_space (*item))
        item++;
      end = item + strlen (item);
      while (end > item && is_space (end[-1]))
        *--end = '\0';
      if (*item == '\0')
        continue;
      GSI_ALLOC_GROW (list, n + 1, alloc);
      char *shown = xstrdup (item);
      why = spec_parse (item, &list[n], &verr);
      if (why)
        {
          if (verr.msg)
            gsi_error_set (err, 0, "invalid specifier `%s`: %s", shown, verr.msg);
          else
            gsi_error_set (err, 0, "invalid specifier `%s`: %s", shown, why);
          gsi_error_clear (&verr);
          free (shown);
          return -1;
        }
      free (shown);
      pre = pre || list[n].pre;
      n++;
    }

  if (pep440_parse_err (version, &c, err) < 0)
    return -1;
  *match = false;
  if (pep440_is_pre (&c) && !pre)
    return 0;
  pep440_format (&c, &normalized);
  *match = true;
  for (size_t i = 0; i < n && *match; i++)
    *match = spec_match (&list[i], &c, normalized.buf);
  gsi_buf_release (&normalized);
  return 0;
}
