/* gsi scan's side of the findings: Trivy's ignore files, the filters and the three report formats
 * (see report.h).  */
#include "vuln/report.h"

#include <curl/curl.h>
#include <jansson.h>
#include <libfyaml.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "containerfile/ignore.h"
#include "oci/digest.h"
#include "util/xalloc.h"
#include "vuln/vulndb-internal.h"

/* An ignore file is a few lines; this bounds what a mistaken path makes us read.  */
#define MAX_IGNORE_FILE ((size_t) 16 << 20)
#define TITLE_WIDTH 70
#define PROJECT_URI "https://github.com/rackerlabs/genestack-images"

/* ---- rules ----------------------------------------------------------------------------------- */

typedef struct path_matchers
{
  cf_ignore **v;
  size_t n;
} path_matchers;

static void
rule_clear (gsi_ignore_rule *r)
{
  path_matchers *m = r->matchers_;

  free (r->id);
  free (r->expires);
  free (r->statement);
  free (r->where);
  gsi_strvec_clear (&r->paths);
  gsi_strvec_clear (&r->purls);
  if (m)
    {
      for (size_t i = 0; i < m->n; i++)
        cf_ignore_free (m->v[i]);
      free (m->v);
      free (m);
    }
  memset (r, 0, sizeof *r);
}

void
gsi_ignore_clear (gsi_ignore *ig)
{
  for (size_t i = 0; i < ig->n; i++)
    rule_clear (&ig->v[i]);
  free (ig->v);
  memset (ig, 0, sizeof *ig);
}

static gsi_ignore_rule *
rule_new (gsi_ignore *ig, const char *name, int line)
{
  gsi_ignore_rule *r;

  GSI_ALLOC_GROW (ig->v, ig->n + 1, ig->alloc_);
  r = &ig->v[ig->n++];
  memset (r, 0, sizeof *r);
  r->where = xasprintf ("%s:%d", name, line);
  return r;
}

/* Drops the rules from index keep on (a file that failed half way adds nothing).  */
static void
rules_truncate (gsi_ignore *ig, size_t keep)
{
  while (ig->n > keep)
    rule_clear (&ig->v[--ig->n]);
}

/* "YYYY-MM-DD" naming a real day.  */
static bool
valid_date (const char *s, size_t n)
{
  static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  int y, m, d;

  if (n != 10 || s[4] != '-' || s[7] != '-')
    return false;
  for (size_t i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
      return false;
  y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  m = (s[5] - '0') * 10 + (s[6] - '0');
  d = (s[8] - '0') * 10 + (s[9] - '0');
  if (m < 1 || m > 12 || d < 1 || d > days[m - 1])
    return false;
  return !(m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* ---- the plain form -------------------------------------------------------------------------- */

static bool
is_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

int
gsi_ignore_parse_plain (const char *name, const char *data, size_t len, gsi_ignore *out, gsi_error *err)
{
  size_t keep = out->n, pos = 0;
  int lineno = 0;

  while (pos < len)
    {
      const char *line = data + pos, *end = memchr (line, '\n', len - pos), *p;
      size_t n = end ? (size_t) (end - line) : len - pos;
      gsi_ignore_rule *r = NULL;

      pos += n + (end != NULL);
      lineno++;
      if (memchr (line, '\0', n))
        {
          rules_truncate (out, keep);
          return gsi_error_at (err, name, lineno, 0, "a NUL byte: this is not a text file");
        }
      for (p = line; p < line + n;)
        {
          const char *f;
          size_t fl;

          while (p < line + n && is_blank (*p))
            p++;
          if (p == line + n || *p == '#')
            break;
          for (f = p; p < line + n && !is_blank (*p); p++)
            ;
          fl = (size_t) (p - f);
          if (r == NULL)
            {
              if (fl >= 4 && strncmp (f, "exp:", 4) == 0)
                {
                  rules_truncate (out, keep);
                  return gsi_error_at (err, name, lineno, 0, "`%.*s` comes before any id: a line is `ID [exp:YYYY-MM-DD]`",
                                       (int) fl, f);
                }
              r = rule_new (out, name, lineno);
              r->id = xstrndup (f, fl);
              continue;
            }
          if (fl >= 4 && strncmp (f, "exp:", 4) == 0)
            {
              if (r->expires)
                {
                  rules_truncate (out, keep);
                  return gsi_error_at (err, name, lineno, 0, "two exp: fields");
                }
              if (!valid_date (f + 4, fl - 4))
                {
                  rules_truncate (out, keep);
                  return gsi_error_at (err, name, lineno, 0, "`%.*s`: the expiry must be a date, exp:YYYY-MM-DD",
                                       (int) fl, f);
                }
              r->expires = xstrndup (f + 4, 10);
            }
          /* Trivy leaves other fields alone (an inline note); so do we.  */
        }
    }
  return 0;
}

/* ---- the YAML form --------------------------------------------------------------------------- */

/* The line of a node: its own token for a scalar, else the first key or item inside it.  */
static int
node_line (struct fy_node *n)
{
  for (int depth = 0; n && depth < 64; depth++)
    {
      if (fy_node_is_scalar (n))
        {
          struct fy_token *t = fy_node_get_scalar_token (n);
          const struct fy_mark *m = t ? fy_token_start_mark (t) : NULL;
          return m ? m->line + 1 : 0;
        }
      if (fy_node_is_mapping (n))
        {
          void *it = NULL;
          struct fy_node_pair *p = fy_node_mapping_iterate (n, &it);
          n = p ? fy_node_pair_key (p) : NULL;
        }
      else if (fy_node_is_sequence (n))
        {
          void *it = NULL;
          n = fy_node_sequence_iterate (n, &it);
        }
      else
        return 0;
    }
  return 0;
}

typedef struct yctx
{
  const char *name;
  gsi_error *err;
} yctx;

static int __attribute__ ((format (printf, 4, 5)))
yfail (yctx *y, struct fy_node *n, struct fy_node *key, const char *fmt, ...)
{
  gsi_buf b = GSI_BUF_INIT;
  va_list ap;
  int line = node_line (n);

  if (line == 0)
    line = node_line (key);
  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  gsi_error_at (y->err, y->name, line, 0, "%s", b.buf);
  gsi_buf_release (&b);
  return -1;
}

static const char *
yscalar (struct fy_node *n)
{
  return n && fy_node_is_scalar (n) && !fy_node_is_alias (n) ? fy_node_get_scalar0 (n) : NULL;
}

static int
ystrings (yctx *y, struct fy_node *v, struct fy_node *key, const char *what, gsi_strvec *out)
{
  struct fy_node *e;
  void *it = NULL;

  if (v == NULL || (fy_node_is_scalar (v) && yscalar (v) && *yscalar (v) == '\0'))
    return 0;
  if (!fy_node_is_sequence (v))
    return yfail (y, v, key, "`%s` must be a list of strings", what);
  while ((e = fy_node_sequence_iterate (v, &it)) != NULL)
    {
      const char *s = yscalar (e);
      if (s == NULL || *s == '\0')
        return yfail (y, e, key, "`%s` must be a list of non-empty strings", what);
      gsi_strvec_push (out, s);
    }
  return 0;
}

typedef struct purl
{
  char *type, *ns, *name, *version;
  gsi_strvec quals; /* "key=value", decoded */
} purl;

static void
purl_clear (purl *p)
{
  free (p->type);
  free (p->ns);
  free (p->name);
  free (p->version);
  gsi_strvec_clear (&p->quals);
  memset (p, 0, sizeof *p);
}

/* Percent-decoding is libcurl's (its handle argument is unused since 7.82).  */
static char *
pct_decode (const char *s, size_t n)
{
  int outlen = 0;
  char *d = curl_easy_unescape (NULL, s, (int) n, &outlen);
  char *copy = d ? xstrndup (d, (size_t) outlen) : xstrndup (s, n);

  curl_free (d);
  return copy;
}

static const char *
qual_get (const purl *p, const char *key)
{
  size_t kl = strlen (key);

  for (size_t i = 0; i < p->quals.n; i++)
    if (strncmp (p->quals.v[i], key, kl) == 0 && p->quals.v[i][kl] == '=')
      return p->quals.v[i] + kl + 1;
  return NULL;
}

/* pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH, decoded and brought to one form: PyPI names
 * PEP 503-normalised, a Debian epoch qualifier moved into the version.  NULL or the reason.  */
static const char *
purl_parse (const char *s, purl *p)
{
  const char *end = s + strcspn (s, "#"), *q = memchr (s, '?', (size_t) (end - s)), *path, *slash, *at;
  const char *pend = q ? q : end;

  memset (p, 0, sizeof *p);
  if (strncasecmp (s, "pkg:", 4) != 0)
    return "a purl starts with `pkg:`";
  path = s + 4;
  while (*path == '/')
    path++;
  slash = memchr (path, '/', (size_t) (pend - path));
  if (slash == NULL || slash == path)
    return "a purl is pkg:TYPE/NAME";
  p->type = xstrndup (path, (size_t) (slash - path));
  for (char *c = p->type; *c; c++)
    *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
  path = slash + 1;
  at = memchr (path, '@', (size_t) (pend - path));
  {
    const char *name_end = at ? at : pend, *last = path;
    for (const char *c = path; c < name_end; c++)
      if (*c == '/')
        last = c + 1;
    if (last == name_end)
      return "a purl needs a name";
    p->ns = last > path ? pct_decode (path, (size_t) (last - 1 - path)) : xstrdup ("");
    p->name = pct_decode (last, (size_t) (name_end - last));
  }
  if (at)
    p->version = pct_decode (at + 1, (size_t) (pend - at - 1));
  for (const char *c = q ? q + 1 : end; c < end;)
    {
      const char *amp = memchr (c, '&', (size_t) (end - c)), *qe = amp ? amp : end, *eq = memchr (c, '=', (size_t) (qe - c));
      if (eq == NULL || eq == c)
        return "a purl qualifier is key=value";
      cleanup_free char *k = xstrndup (c, (size_t) (eq - c));
      cleanup_free char *v = pct_decode (eq + 1, (size_t) (qe - eq - 1));
      for (char *x = k; *x; x++)
        *x = (char) (*x >= 'A' && *x <= 'Z' ? *x - 'A' + 'a' : *x);
      gsi_strvec_pushf (&p->quals, "%s=%s", k, v);
      c = amp ? amp + 1 : end;
    }
  if (strcmp (p->type, "pypi") == 0)
    {
      char *n = gsi_pep503_name (p->name);
      free (p->name);
      p->name = n;
    }
  if (strcmp (p->type, "deb") == 0 && p->version && strchr (p->version, ':') == NULL && qual_get (p, "epoch"))
    {
      char *v = xasprintf ("%s:%s", qual_get (p, "epoch"), p->version);
      free (p->version);
      p->version = v;
    }
  return NULL;
}

/* Trivy's rule: the constraint's type, namespace and name equal; its version when it has one; each
 * of its qualifiers present and equal (epoch already folded into the version).  */
static bool
purl_covers (const purl *c, const purl *p)
{
  if (strcmp (c->type, p->type) != 0 || strcmp (c->ns, p->ns) != 0 || strcmp (c->name, p->name) != 0)
    return false;
  if (c->version)
    {
      int cmp = 1;
      gsi_ecosystem e = strcmp (c->type, "deb") == 0 ? GSI_ECO_DEB : GSI_ECO_PYPI;
      if (p->version == NULL)
        return false;
      if (strcmp (c->version, p->version) != 0
          && (gsi_version_compare (e, c->version, p->version, &cmp, NULL) < 0 || cmp != 0))
        return false;
    }
  for (size_t i = 0; i < c->quals.n; i++)
    {
      const char *eq = strchr (c->quals.v[i], '=');
      cleanup_free char *key = xstrndup (c->quals.v[i], (size_t) (eq - c->quals.v[i]));
      const char *have = qual_get (p, key);
      if (strcmp (key, "epoch") == 0)
        continue;
      if (have == NULL || strcmp (have, eq + 1) != 0)
        return false;
    }
  return true;
}

static int
compile_paths (yctx *y, gsi_ignore_rule *r, struct fy_node *node)
{
  path_matchers *m = xcalloc (1, sizeof *m);

  r->matchers_ = m;
  m->v = xcalloc (r->paths.n ? r->paths.n : 1, sizeof *m->v);
  for (size_t i = 0; i < r->paths.n; i++)
    {
      gsi_error perr = GSI_ERROR_INIT;
      const char *pat = r->paths.v[i];
      if (*pat == '!')
        return yfail (y, node, NULL, "path `%s`: a path is a glob, not an exception", pat);
      while (*pat == '/')
        pat++;
      if (cf_ignore_parse (y->name, pat, strlen (pat), &m->v[i], &perr) < 0)
        {
          yfail (y, node, NULL, "path `%s`: %s", r->paths.v[i], perr.msg);
          gsi_error_clear (&perr);
          return -1;
        }
      m->n++;
    }
  return 0;
}

static int
yaml_rule (yctx *y, gsi_ignore *out, struct fy_node *item)
{
  struct fy_node_pair *pr;
  void *it = NULL;
  gsi_ignore_rule *r;
  struct fy_node *paths_node = NULL;

  if (!fy_node_is_mapping (item))
    return yfail (y, item, NULL, "each entry of `vulnerabilities` is a mapping with an `id`");
  r = rule_new (out, y->name, node_line (item));
  while ((pr = fy_node_mapping_iterate (item, &it)) != NULL)
    {
      struct fy_node *k = fy_node_pair_key (pr), *v = fy_node_pair_value (pr);
      const char *key = yscalar (k), *s = yscalar (v);

      if (key == NULL)
        return yfail (y, k, NULL, "a key must be a string");
      if (strcmp (key, "id") == 0)
        {
          if (s == NULL || *s == '\0')
            return yfail (y, v, k, "`id` must be a non-empty string");
          r->id = xstrdup (s);
        }
      else if (strcmp (key, "paths") == 0)
        {
          if (ystrings (y, v, k, "paths", &r->paths) < 0)
            return -1;
          paths_node = v ? v : k;
        }
      else if (strcmp (key, "purls") == 0)
        {
          size_t first = r->purls.n;
          if (ystrings (y, v, k, "purls", &r->purls) < 0)
            return -1;
          for (size_t i = first; i < r->purls.n; i++)
            {
              purl p;
              const char *why = purl_parse (r->purls.v[i], &p);
              purl_clear (&p);
              if (why)
                return yfail (y, v, k, "purl `%s`: %s", r->purls.v[i], why);
            }
        }
      else if (strcmp (key, "expired_at") == 0)
        {
          size_t n = s ? strlen (s) : 0;
          /* A date, or a timestamp whose date is taken (YAML writes both).  */
          if (s == NULL || n < 10 || !valid_date (s, 10) || (n > 10 && s[10] != 'T' && s[10] != 't' && s[10] != ' '))
            return yfail (y, v, k, "`expired_at` must be a date, YYYY-MM-DD");
          r->expires = xstrndup (s, 10);
        }
      else if (strcmp (key, "statement") == 0)
        {
          if (s == NULL)
            return yfail (y, v, k, "`statement` must be a string");
          r->statement = xstrdup (s);
        }
      else
        return yfail (y, k, NULL, "unknown key `%s` (id, paths, purls, expired_at, statement)", key);
    }
  if (r->id == NULL)
    return yfail (y, item, NULL, "an entry of `vulnerabilities` has no `id`");
  return compile_paths (y, r, paths_node ? paths_node : item);
}

int
gsi_ignore_parse_yaml (const char *name, const char *data, size_t len, gsi_ignore *out, gsi_error *err)
{
  yctx y = { name, err };
  size_t keep = out->n;
  struct fy_document *doc;
  struct fy_node *root;
  struct fy_node_pair *pr;
  void *it = NULL;
  int r = 0;

  /* Blank lines and comments only: no rules (libfyaml makes no document of them).  */
  for (const char *p = data, *end = data + len; p < end;)
    {
      const char *nl = memchr (p, '\n', (size_t) (end - p)), *q = p;
      while (q < (nl ? nl : end) && is_blank (*q))
        q++;
      if (q < (nl ? nl : end) && *q != '#')
        break;
      if (nl == NULL)
        return 0;
      p = nl + 1;
      if (p == end)
        return 0;
    }
  if (len == 0)
    return 0;
  doc = gsi_vuln_yaml_parse (name, data, len, err);
  if (doc == NULL)
    return -1;
  root = fy_document_root (doc);
  if (root && !fy_node_is_mapping (root) && !(fy_node_is_scalar (root) && yscalar (root) && *yscalar (root) == '\0'))
    r = yfail (&y, root, NULL, "an ignore file is a mapping with a `vulnerabilities` list");
  while (r == 0 && root && fy_node_is_mapping (root) && (pr = fy_node_mapping_iterate (root, &it)) != NULL)
    {
      struct fy_node *k = fy_node_pair_key (pr), *v = fy_node_pair_value (pr), *e;
      const char *key = yscalar (k);
      void *it2 = NULL;

      if (key && (strcmp (key, "misconfigurations") == 0 || strcmp (key, "secrets") == 0 || strcmp (key, "licenses") == 0))
        continue;
      if (key == NULL || strcmp (key, "vulnerabilities") != 0)
        {
          r = yfail (&y, k, NULL, "unknown key `%s` (vulnerabilities, misconfigurations, secrets, licenses)",
                     key ? key : "?");
          break;
        }
      if (v == NULL || (fy_node_is_scalar (v) && yscalar (v) && *yscalar (v) == '\0'))
        continue;
      if (!fy_node_is_sequence (v))
        {
          r = yfail (&y, v, k, "`vulnerabilities` must be a list");
          break;
        }
      while (r == 0 && (e = fy_node_sequence_iterate (v, &it2)) != NULL)
        r = yaml_rule (&y, out, e);
    }
  fy_document_destroy (doc);
  if (r < 0)
    rules_truncate (out, keep);
  return r;
}

static bool
has_suffix (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);

  return n >= m && strcasecmp (s + n - m, suffix) == 0;
}

int
gsi_ignore_load (const char *path, gsi_ignore *out, gsi_error *err)
{
  cleanup_free char *data = NULL;
  size_t len;

  if (gsi_vuln_read_file (path, MAX_IGNORE_FILE, &data, &len, err) < 0)
    return -1;
  if (has_suffix (path, ".yaml") || has_suffix (path, ".yml"))
    return gsi_ignore_parse_yaml (path, data, len, out, err);
  return gsi_ignore_parse_plain (path, data, len, out, err);
}

/* ---- matching -------------------------------------------------------------------------------- */

static bool
finding_has_id (const gsi_finding *f, const char *id)
{
  if (strcmp (f->id, id) == 0)
    return true;
  for (char **a = f->aliases; a && *a; a++)
    if (strcmp (*a, id) == 0)
      return true;
  return false;
}

static bool
paths_cover (const gsi_ignore_rule *r, const gsi_package *p)
{
  const path_matchers *m = r->matchers_;
  static const char *const inside[] = { "", "/METADATA", "/PKG-INFO" };

  if (p->location == NULL || m == NULL)
    return false;
  for (size_t i = 0; i < m->n; i++)
    for (size_t k = 0; k < sizeof inside / sizeof inside[0]; k++)
      {
        cleanup_free char *path = xasprintf ("%s%s", p->location, inside[k]);
        const char *rel = path;
        while (*rel == '/')
          rel++;
        if (cf_ignore_excluded (m->v[i], rel))
          return true;
      }
  return false;
}

static bool
purls_cover (const gsi_ignore_rule *r, const gsi_package *p)
{
  purl have;
  bool hit = false;

  if (p->purl == NULL || purl_parse (p->purl, &have) != NULL)
    {
      purl_clear (&have);
      return false;
    }
  for (size_t i = 0; i < r->purls.n && !hit; i++)
    {
      purl want;
      if (purl_parse (r->purls.v[i], &want) == NULL)
        hit = purl_covers (&want, &have);
      purl_clear (&want);
    }
  purl_clear (&have);
  return hit;
}

const gsi_ignore_rule *
gsi_ignore_match (const gsi_ignore *ig, const gsi_inventory *inv, const gsi_finding *f, const char *today)
{
  const gsi_package *p = &inv->pkgs[f->pkg];

  for (size_t i = 0; ig && i < ig->n; i++)
    {
      const gsi_ignore_rule *r = &ig->v[i];
      /* Trivy's expiry: the rule holds until the start of that day.  */
      if (r->expires && today && strcmp (today, r->expires) >= 0)
        continue;
      if (!finding_has_id (f, r->id))
        continue;
      if (r->paths.n && !paths_cover (r, p))
        continue;
      if (r->purls.n && !purls_cover (r, p))
        continue;
      return r;
    }
  return NULL;
}

/* ---- filters --------------------------------------------------------------------------------- */

int
gsi_severity_set_parse (const char *list, unsigned *set, gsi_error *err)
{
  cleanup_free char *copy = xstrdup (list);
  unsigned bits = 0;

  for (char *save = NULL, *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
    {
      int s;
      while (*tok == ' ')
        tok++;
      for (char *e = tok + strlen (tok); e > tok && e[-1] == ' ';)
        *--e = '\0';
      s = gsi_severity_parse (tok);
      if (s < 0)
        return gsi_error_set (err, 0, "unknown severity `%s` (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)", tok);
      bits |= 1u << s;
    }
  if (bits == 0)
    return gsi_error_set (err, 0, "no severity in `%s`", list);
  *set = bits;
  return 0;
}

void
gsi_report_select (const gsi_findings *f, const gsi_inventory *inv, const gsi_scan_filter *flt, gsi_report_sel *sel)
{
  memset (sel, 0, sizeof *sel);
  sel->shown = xcalloc (f->n ? f->n : 1, sizeof *sel->shown);
  sel->ignored = xcalloc (f->n ? f->n : 1, sizeof *sel->ignored);
  sel->ignored_by = xcalloc (f->n ? f->n : 1, sizeof *sel->ignored_by);
  for (size_t i = 0; i < f->n; i++)
    {
      const gsi_ignore_rule *r;
      if (flt->severities && !(flt->severities & (1u << f->v[i].severity)))
        sel->by_severity++;
      else if (flt->ignore_unfixed && f->v[i].fixed_version == NULL)
        sel->by_unfixed++;
      else if ((r = gsi_ignore_match (flt->ignore, inv, &f->v[i], flt->today)) != NULL)
        {
          sel->ignored[sel->nignored] = i;
          sel->ignored_by[sel->nignored++] = r;
        }
      else
        sel->shown[sel->nshown++] = i;
    }
}

void
gsi_report_sel_clear (gsi_report_sel *sel)
{
  free (sel->shown);
  free (sel->ignored);
  free (sel->ignored_by);
  memset (sel, 0, sizeof *sel);
}

/* ---- shared by the formats ------------------------------------------------------------------- */

char *
gsi_advisory_url (const gsi_finding *f)
{
  if (f->source && strcmp (f->source, "debian-tracker") == 0)
    return xasprintf ("https://security-tracker.debian.org/tracker/%s", f->id);
  return xasprintf ("https://osv.dev/vulnerability/%s", f->id);
}

static const char *
eco_label (gsi_ecosystem e)
{
  return e == GSI_ECO_DEB ? "deb" : "pypi";
}

/* Trivy's scores for a severity without a CVSS score.  */
static double
severity_score (const gsi_finding *f)
{
  static const double by_sev[] = { 0.0, 2.0, 5.5, 8.0, 9.5 };

  if (f->cvss_score > 0)
    return f->cvss_score;
  return by_sev[f->severity <= GSI_SEV_CRITICAL ? f->severity : 0];
}

static const char *
sarif_level (gsi_severity s)
{
  return s >= GSI_SEV_HIGH ? "error" : s == GSI_SEV_MEDIUM ? "warning" : "note";
}

static json_t *
jstr (const char *s)
{
  return s ? json_string (s) : json_null ();
}

static json_t *
aliases_array (const gsi_finding *f)
{
  json_t *a = json_array ();

  for (char **x = f->aliases; x && *x; x++)
    json_array_append_new (a, json_string (*x));
  return a;
}

static json_t *
package_json (const gsi_package *p)
{
  json_t *o = json_object ();

  json_object_set_new (o, "name", json_string (p->name));
  json_object_set_new (o, "ecosystem", json_string (eco_label (p->ecosystem)));
  json_object_set_new (o, "version", json_string (p->version));
  if (p->ecosystem == GSI_ECO_DEB)
    {
      json_object_set_new (o, "source_name", jstr (p->source_name));
      json_object_set_new (o, "source_version", jstr (p->source_version));
    }
  json_object_set_new (o, "location", jstr (p->location));
  json_object_set_new (o, "purl", jstr (p->purl));
  return o;
}

static json_t *
finding_json (const gsi_inventory *inv, const gsi_finding *f)
{
  json_t *o = json_object ();
  cleanup_free char *url = gsi_advisory_url (f);

  json_object_set_new (o, "id", json_string (f->id));
  json_object_set_new (o, "aliases", aliases_array (f));
  json_object_set_new (o, "package", package_json (&inv->pkgs[f->pkg]));
  json_object_set_new (o, "fixed_version", jstr (f->fixed_version));
  json_object_set_new (o, "severity", json_string (gsi_severity_name (f->severity)));
  json_object_set_new (o, "cvss", f->cvss_score > 0 ? json_real (f->cvss_score) : json_null ());
  json_object_set_new (o, "summary", jstr (f->summary));
  json_object_set_new (o, "source", jstr (f->source));
  json_object_set_new (o, "url", json_string (url));
  return o;
}

static void
counts (const gsi_findings *f, const gsi_report_sel *sel, size_t c[5])
{
  memset (c, 0, 5 * sizeof *c);
  for (size_t i = 0; i < sel->nshown; i++)
    c[f->v[sel->shown[i]].severity <= GSI_SEV_CRITICAL ? f->v[sel->shown[i]].severity : 0]++;
}

static void
add_json (gsi_buf *out, json_t *doc)
{
  char *text = json_dumps (doc, JSON_INDENT (2));

  gsi_buf_addstr (out, text);
  gsi_buf_addch (out, '\n');
  free (text);
  json_decref (doc);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void
write_json (gsi_buf *out, const gsi_report_meta *m, const gsi_inventory *inv, const gsi_findings *f,
            const gsi_report_sel *sel)
{
  json_t *doc = json_object (), *arr, *sum = json_object ();
  size_t c[5];

  json_object_set_new (doc, "artifact",
                       json_pack ("{s:s, s:o, s:{s:o, s:o, s:o}}", "ref", m->ref, "digest", jstr (m->digest), "os", "id",
                                  jstr (inv->os_id), "version_id", jstr (inv->os_version_id), "codename",
                                  jstr (inv->os_codename)));
  counts (f, sel, c);
  json_object_set_new (sum, "total", json_integer ((json_int_t) sel->nshown));
  for (int s = 0; s <= GSI_SEV_CRITICAL; s++)
    json_object_set_new (sum, gsi_severity_name (s), json_integer ((json_int_t) c[s]));
  json_object_set_new (sum, "ignored", json_integer ((json_int_t) sel->nignored));
  json_object_set_new (sum, "dropped_by_severity", json_integer ((json_int_t) sel->by_severity));
  json_object_set_new (sum, "dropped_unfixed", json_integer ((json_int_t) sel->by_unfixed));
  json_object_set_new (doc, "summary", sum);
  arr = json_array ();
  for (size_t i = 0; i < sel->nshown; i++)
    json_array_append_new (arr, finding_json (inv, &f->v[sel->shown[i]]));
  json_object_set_new (doc, "findings", arr);
  arr = json_array ();
  for (size_t i = 0; i < sel->nignored; i++)
    {
      json_t *o = finding_json (inv, &f->v[sel->ignored[i]]);
      json_object_set_new (o, "ignored_by", json_string (sel->ignored_by[i]->where));
      json_object_set_new (o, "statement", jstr (sel->ignored_by[i]->statement));
      json_array_append_new (arr, o);
    }
  json_object_set_new (doc, "ignored", arr);
  arr = json_array ();
  for (size_t i = 0; i < f->suppressed.n; i++)
    json_array_append_new (arr, json_string (f->suppressed.v[i]));
  json_object_set_new (doc, "date_scheme_rule", arr);
  arr = json_array ();
  for (size_t i = 0; i < f->warnings.n; i++)
    json_array_append_new (arr, json_string (f->warnings.v[i]));
  json_object_set_new (doc, "warnings", arr);
  add_json (out, doc);
}

/* ---- SARIF ----------------------------------------------------------------------------------- */

static void
uri_escape (gsi_buf *b, const char *s)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr ("-._~/+", *p))
      gsi_buf_addch (b, *p);
    else
      gsi_buf_addf (b, "%%%02X", *p);
}

static json_t *
sarif_rule (const gsi_inventory *inv, const gsi_finding *f, double score)
{
  cleanup_free char *url = gsi_advisory_url (f);
  cleanup_free char *help = NULL, *md = NULL;
  const char *text = f->summary ? f->summary : f->id;
  const gsi_package *p = &inv->pkgs[f->pkg];
  char sc[16];

  snprintf (sc, sizeof sc, "%.1f", score);
  help = xasprintf ("Vulnerability %s\nSeverity: %s\nPackage: %s\nFixed Version: %s\nLink: %s\n%s", f->id,
                    gsi_severity_name (f->severity), p->name, f->fixed_version ? f->fixed_version : "(none)", url, text);
  md = xasprintf ("**Vulnerability %s**\n| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n"
                  "| %s | %s | %s | [%s](%s) |\n\n%s",
                  f->id, gsi_severity_name (f->severity), p->name, f->fixed_version ? f->fixed_version : "(none)", f->id,
                  url, text);
  return json_pack ("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:s, s:{s:s, s:s}, s:{s:[s, s, s], s:s, s:s}}", "id", f->id,
                    "name", p->ecosystem == GSI_ECO_DEB ? "DebianPackageVulnerability" : "PythonPackageVulnerability",
                    "shortDescription", "text", text, "fullDescription", "text", text, "defaultConfiguration", "level",
                    sarif_level (f->severity), "helpUri", url, "help", "text", help, "markdown", md, "properties",
                    "tags", "vulnerability", "security", gsi_severity_name (f->severity), "precision", "very-high",
                    "security-severity", sc);
}

static json_t *
sarif_result (const gsi_inventory *inv, const gsi_finding *f, size_t rule_index, const char *ref)
{
  const gsi_package *p = &inv->pkgs[f->pkg];
  cleanup_free char *url = gsi_advisory_url (f);
  cleanup_free char *msg = NULL, *where = NULL;
  cleanup_buf gsi_buf uri = GSI_BUF_INIT;
  gsi_buf fp_in = GSI_BUF_INIT;
  char digest[GSI_DIGEST_BUF];
  const char *loc = p->location ? p->location : "";

  while (*loc == '/')
    loc++;
  uri_escape (&uri, *loc ? loc : ".");
  msg = xasprintf ("Package: %s\nInstalled Version: %s\nVulnerability: %s\nSeverity: %s\nFixed Version: %s\nLink: [%s](%s)",
                   p->name, p->version, f->id, gsi_severity_name (f->severity),
                   f->fixed_version ? f->fixed_version : "(none)", f->id, url);
  where = xasprintf ("%s: %s@%s", ref, p->name, p->version);
  /* The same finding keeps its fingerprint when the image is rebuilt with another version.  */
  gsi_buf_addf (&fp_in, "%s\n%s\n%s\n%s", f->id, eco_label (p->ecosystem), p->norm_name, loc);
  gsi_digest_buf (fp_in.buf, fp_in.len, digest);
  gsi_buf_release (&fp_in);
  return json_pack ("{s:s, s:I, s:s, s:{s:s}, s:[{s:{s:{s:s, s:s}, s:{s:i, s:i, s:i, s:i}}, s:{s:s}}], s:{s:s}}", "ruleId",
                    f->id, "ruleIndex", (json_int_t) rule_index, "level", sarif_level (f->severity), "message", "text",
                    msg, "locations", "physicalLocation", "artifactLocation", "uri", uri.buf, "uriBaseId", "ROOTPATH",
                    "region", "startLine", 1, "startColumn", 1, "endLine", 1, "endColumn", 1, "message", "text", where,
                    "partialFingerprints", "gsiFindingHash/v1", gsi_digest_hex (digest));
}

static void
write_sarif (gsi_buf *out, const gsi_report_meta *m, const gsi_inventory *inv, const gsi_findings *f,
             const gsi_report_sel *sel)
{
  json_t *rules = json_array (), *results = json_array (), *run, *props;
  cleanup_free size_t *rule_of = xcalloc (sel->nshown ? sel->nshown : 1, sizeof *rule_of);
  cleanup_free size_t *first = xcalloc (sel->nshown ? sel->nshown : 1, sizeof *first);
  size_t nrules = 0;

  /* One rule per advisory id, in order of first appearance; its severity the highest of its
   * results'.  */
  for (size_t i = 0; i < sel->nshown; i++)
    {
      const gsi_finding *x = &f->v[sel->shown[i]];
      size_t r;
      for (r = 0; r < nrules; r++)
        if (strcmp (f->v[sel->shown[first[r]]].id, x->id) == 0)
          break;
      if (r == nrules)
        first[nrules++] = i;
      else if (severity_score (x) > severity_score (&f->v[sel->shown[first[r]]]))
        first[r] = i;
      rule_of[i] = r;
    }
  for (size_t r = 0; r < nrules; r++)
    {
      const gsi_finding *x = &f->v[sel->shown[first[r]]];
      json_array_append_new (rules, sarif_rule (inv, x, severity_score (x)));
    }
  for (size_t i = 0; i < sel->nshown; i++)
    json_array_append_new (results, sarif_result (inv, &f->v[sel->shown[i]], rule_of[i], m->ref));
  props = json_pack ("{s:s, s:o}", "imageName", m->ref, "imageDigest", jstr (m->digest));
  run = json_pack ("{s:{s:{s:s, s:s, s:s, s:s, s:o}}, s:o, s:s, s:{s:{s:s}}, s:o}", "tool", "driver", "name", "gsi",
                   "fullName", "gsi image vulnerability scanner", "version", m->tool_version ? m->tool_version : "unknown",
                   "informationUri", PROJECT_URI, "rules", rules, "results", results, "columnKind", "utf16CodeUnits",
                   "originalUriBaseIds", "ROOTPATH", "uri", "file:///", "properties", props);
  add_json (out, json_pack ("{s:s, s:s, s:[o]}", "version", "2.1.0", "$schema", "https://json.schemastore.org/sarif-2.1.0.json",
                            "runs", run));
}

/* ---- table ----------------------------------------------------------------------------------- */

/* At most w bytes of s, cut at a UTF-8 boundary, "..." when cut.  */
static void
add_clipped (gsi_buf *b, const char *s, size_t w)
{
  size_t n = strlen (s);

  if (n <= w)
    {
      gsi_buf_addstr (b, s);
      return;
    }
  n = w - 3;
  while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
    n--;
  gsi_buf_add (b, s, n);
  gsi_buf_addstr (b, "...");
}

/* The columns of a finding's row, but the title.  */
static void
row_columns (const gsi_inventory *inv, const gsi_finding *x, const char *cols[6])
{
  const gsi_package *p = &inv->pkgs[x->pkg];

  cols[0] = p->name;
  cols[1] = eco_label (p->ecosystem);
  cols[2] = p->version;
  cols[3] = x->id;
  cols[4] = gsi_severity_name (x->severity);
  cols[5] = x->fixed_version ? x->fixed_version : "-";
}

static void
write_table (gsi_buf *out, const gsi_report_meta *m, const gsi_inventory *inv, const gsi_findings *f,
             const gsi_report_sel *sel)
{
  static const char *const head[] = { "PACKAGE", "TYPE", "INSTALLED", "ID", "SEVERITY", "FIXED IN" };
  size_t w[6], c[5];

  gsi_buf_addf (out, "%s (%s %s)\n", m->ref, inv->os_id ? inv->os_id : "unknown OS",
                inv->os_version_id ? inv->os_version_id : inv->os_codename ? inv->os_codename : "");
  counts (f, sel, c);
  gsi_buf_addf (out, "Total: %zu (UNKNOWN: %zu, LOW: %zu, MEDIUM: %zu, HIGH: %zu, CRITICAL: %zu)\n", sel->nshown, c[0],
                c[1], c[2], c[3], c[4]);
  if (sel->nshown)
    {
      for (size_t k = 0; k < 6; k++)
        w[k] = strlen (head[k]);
      for (size_t i = 0; i < sel->nshown; i++)
        {
          const char *cols[6];
          row_columns (inv, &f->v[sel->shown[i]], cols);
          for (size_t k = 0; k < 6; k++)
            if (strlen (cols[k]) > w[k])
              w[k] = strlen (cols[k]);
        }
      gsi_buf_addch (out, '\n');
      for (size_t k = 0; k < 6; k++)
        gsi_buf_addf (out, "%-*s  ", (int) w[k], head[k]);
      gsi_buf_addstr (out, "TITLE\n");
      for (size_t i = 0; i < sel->nshown; i++)
        {
          const gsi_finding *x = &f->v[sel->shown[i]];
          const char *cols[6];
          row_columns (inv, x, cols);
          for (size_t k = 0; k < 6; k++)
            gsi_buf_addf (out, "%-*s  ", (int) w[k], cols[k]);
          add_clipped (out, x->summary ? x->summary : "", TITLE_WIDTH);
          gsi_buf_rtrim (out, " ");
          gsi_buf_addch (out, '\n');
        }
    }
  if (sel->nignored)
    {
      gsi_buf_addf (out, "\n%zu ignored:", sel->nignored);
      for (size_t i = 0; i < sel->nignored; i++)
        gsi_buf_addf (out, " %s (%s, %s)", f->v[sel->ignored[i]].id, inv->pkgs[f->v[sel->ignored[i]].pkg].name,
                      sel->ignored_by[i]->where);
      gsi_buf_addch (out, '\n');
    }
  if (sel->by_severity || sel->by_unfixed)
    gsi_buf_addf (out, "\nleft out: %zu by --severity, %zu unfixed (--ignore-unfixed)\n", sel->by_severity,
                  sel->by_unfixed);
  if (f->suppressed.n)
    {
      gsi_buf_addf (out, "\nnot matched by the date-scheme rule (advisories of OpenStack's pre-2015 date versions): %zu\n",
                    f->suppressed.n);
      for (size_t i = 0; i < f->suppressed.n; i++)
        gsi_buf_addf (out, "  %s\n", f->suppressed.v[i]);
    }
}

void
gsi_report_write (gsi_buf *out, gsi_report_format fmt, const gsi_report_meta *m, const gsi_inventory *inv,
                  const gsi_findings *f, const gsi_report_sel *sel)
{
  switch (fmt)
    {
    case GSI_REPORT_JSON:
      write_json (out, m, inv, f, sel);
      break;
    case GSI_REPORT_SARIF:
      write_sarif (out, m, inv, f, sel);
      break;
    case GSI_REPORT_TABLE:
    default:
      write_table (out, m, inv, f, sel);
      break;
    }
}
