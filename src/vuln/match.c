/* The matcher: which installed packages the database's records affect.
 *
 * OSV entries (PyPI, Debian) are evaluated as the OSV schema says: a version is affected when one
 * of the entry's ECOSYSTEM or SEMVER ranges says so (events sorted by version; introduced turns it
 * on, fixed turns it off at that version, last_affected just after it; limits bound the range) or
 * when it is listed in versions[].  Versions compare with the ecosystem's ordering (dpkg; PEP 440
 * with packaging's legacy ordering for non-PEP 440 strings, as osv.dev does).
 *
 * Debian tracker rows are keyed by source package and release codename: "open" is affected with no
 * fix, "resolved" with fixed_version "0" means the release never had the flaw, any other fixed
 * version is compared with the installed source version.
 *
 * The date-scheme rule: OpenStack projects used date versions (2011.1 to 2015.1.x) until Liberty
 * (October 2015) and restarted at small numbers (keystone 8.0.0), so under PEP 440 2014.1.3 sorts
 * above 27.0.0.  A PyPI entry of that era does not match an installed version whose first release
 * number is below 2011 (a restarted scheme; calendar versions such as salt's 3006 or pytz's 2024.1
 * are compared normally).  An entry is of that era when
 *   (a) every version its ranges name (but "0") is a date version (gsi_pypi_is_date_version), or
 *   (b) its ranges name no version at all, a GIT range records the fix, and the record was
 *       published before 2015-10-01: the fix exists, predates every restarted-scheme release, and
 *       only the conversion to versions failed (PYSEC-2012-19, keystone: "introduced 0" plus a
 *       versions[] list of modern releases computed from the git graph).
 * Such entries are listed in gsi_findings.suppressed, so a report can show what the rule did.
 *
 * Python distributions that a Debian package owns are matched as that Debian package (by the
 * tracker, which knows Debian's backported fixes), not against PyPI advisories.  */
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/vulndb-internal.h"

/* The first restarted-scheme OpenStack releases (Liberty) came out in October 2015.  */
#define DATE_SCHEME_END "2015-10-01"
/* Calendar first release numbers start here; below is a restarted, non-calendar scheme.  */
#define FIRST_DATE_YEAR 2011

/* One record that affects one package.  */
typedef struct hit
{
  char *id, *source, *summary, *fixed;
  gsi_strvec ids; /* id and aliases */
  gsi_severity severity;
  double cvss;
  bool merged;
} hit;

typedef struct hits
{
  hit *v;
  size_t n, alloc;
} hits;

static void
hits_clear (hits *h)
{
  for (size_t i = 0; i < h->n; i++)
    {
      free (h->v[i].id);
      free (h->v[i].source);
      free (h->v[i].summary);
      free (h->v[i].fixed);
      gsi_strvec_clear (&h->v[i].ids);
    }
  free (h->v);
  memset (h, 0, sizeof *h);
}

typedef struct match_ctx
{
  gsi_vulndb *db;
  const gsi_inventory *inv;
  const gsi_package *pkg;
  const char *version;   /* the version compared: pypi the installed one, deb the source version */
  const char *codename;  /* Debian release of the image, NULL when unknown */
  const char *release;   /* its number ("13"), NULL when unknown */
  gsi_findings *out;
} match_ctx;

/* ---- versions -------------------------------------------------------------------------------- */

/* Orders a and b with the package's ecosystem; -1 with a note when a Debian version is invalid.  */
static int
vcmp (match_ctx *c, const char *rec_id, const char *a, const char *b, int *cmp)
{
  gsi_error err = GSI_ERROR_INIT;

  if (c->pkg->ecosystem == GSI_ECO_PYPI)
    {
      *cmp = strcmp (a, b) == 0 ? 0 : gsi_pypi_compare_legacy (a, b);
      return 0;
    }
  if (gsi_version_compare (c->pkg->ecosystem, a, b, cmp, &err) == 0)
    return 0;
  gsi_strvec_pushf (&c->out->warnings, "%s: %s %s: not evaluated: %s", rec_id, c->pkg->name, c->pkg->version,
                    err.msg);
  gsi_error_clear (&err);
  return -1;
}

/* The first release number of a PEP 440 version, -1 when it has an epoch or is not PEP 440.  */
static long
pypi_major (const char *version)
{
  cleanup_free char *n = gsi_pep440_normalize (version, NULL);
  long v = 0;

  if (n == NULL || strchr (n, '!'))
    return -1;
  for (const char *p = n; *p >= '0' && *p <= '9'; p++)
    {
      v = v * 10 + (*p - '0');
      if (v > 100000)
        break;
    }
  return v;
}

/* ---- OSV entries ----------------------------------------------------------------------------- */

typedef struct event
{
  int kind; /* 0 introduced, 1 fixed, 2 last_affected, 3 limit */
  const char *v;
} event;

static const char *const event_keys[] = { "introduced", "fixed", "last_affected", "limit" };

static bool
read_event (json_t *e, event *out)
{
  for (int k = 0; k < 4; k++)
    {
      json_t *v = json_object_get (e, event_keys[k]);
      if (json_is_string (v))
        {
          out->kind = k;
          out->v = json_string_value (v);
          return true;
        }
    }
  return false;
}

/* "0" (introduced) sorts first; otherwise by version, keeping the record's order at ties.  */
static int
event_before (match_ctx *c, const char *rec_id, const event *a, const event *b, bool *before)
{
  int cmp;

  if (a->kind == 0 && strcmp (a->v, "0") == 0)
    {
      *before = !(b->kind == 0 && strcmp (b->v, "0") == 0);
      return 0;
    }
  if (b->kind == 0 && strcmp (b->v, "0") == 0)
    {
      *before = false;
      return 0;
    }
  if (vcmp (c, rec_id, a->v, b->v, &cmp) < 0)
    return -1;
  *before = cmp < 0;
  return 0;
}

/* One range: *affected, and the lowest fixed version above the installed one into *fixed.  */
static int
eval_range (match_ctx *c, const char *rec_id, json_t *events, bool *affected, const char **fixed)
{
  size_t n = json_array_size (events), m = 0;
  cleanup_free event *ev = xcalloc (n ? n : 1, sizeof *ev);
  bool vuln = false, limited = false, below_limit = false;

  *affected = false;
  for (size_t i = 0; i < n; i++)
    {
      event e;
      if (!read_event (json_array_get (events, i), &e))
        continue;
      if (e.kind == 3)
        {
          int cmp;
          limited = true;
          if (strcmp (e.v, "*") == 0)
            below_limit = true;
          else if (vcmp (c, rec_id, c->version, e.v, &cmp) < 0)
            return -1;
          else if (cmp < 0)
            below_limit = true;
          continue;
        }
      /* Insertion sort: ranges hold a handful of events.  */
      size_t j = m++;
      while (j > 0)
        {
          bool before;
          if (event_before (c, rec_id, &e, &ev[j - 1], &before) < 0)
            return -1;
          if (!before)
            break;
          ev[j] = ev[j - 1];
          j--;
        }
      ev[j] = e;
    }
  for (size_t i = 0; i < m; i++)
    {
      int cmp = 0;
      bool zero = ev[i].kind == 0 && strcmp (ev[i].v, "0") == 0;

      if (!zero && vcmp (c, rec_id, c->version, ev[i].v, &cmp) < 0)
        return -1;
      if (ev[i].kind == 0 && (zero || cmp >= 0))
        vuln = true;
      else if (ev[i].kind == 1 && cmp >= 0)
        vuln = false;
      else if (ev[i].kind == 2 && cmp > 0)
        vuln = false;
      if (ev[i].kind == 1 && cmp < 0 && *fixed == NULL)
        *fixed = ev[i].v;
      else if (ev[i].kind == 1 && cmp < 0)
        {
          int lower;
          if (vcmp (c, rec_id, ev[i].v, *fixed, &lower) < 0)
            return -1;
          if (lower < 0)
            *fixed = ev[i].v;
        }
    }
  *affected = vuln && (!limited || below_limit);
  return 0;
}

/* Whether an entry is of the date-version era (see the top of the file).  */
static bool
date_era (json_t *data, const char *published)
{
  json_t *ranges = json_object_get (data, "ranges"), *r, *e;
  size_t i, k, bounds = 0;

  json_array_foreach (ranges, i, r)
    json_array_foreach (json_object_get (r, "events"), k, e)
      {
        event ev;
        if (!read_event (e, &ev) || (ev.kind == 0 && strcmp (ev.v, "0") == 0) || (ev.kind == 3 && strcmp (ev.v, "*") == 0))
          continue;
        if (!gsi_pypi_is_date_version (ev.v))
          return false;
        bounds++;
      }
  if (bounds > 0)
    return true;
  return json_is_true (json_object_get (data, "git_fixed")) && published
         && strncmp (published, DATE_SCHEME_END, strlen (DATE_SCHEME_END)) < 0;
}

/* Evaluates an OSV entry: *affected and the fixed version (pointing into data) to report.  */
static int
eval_osv (match_ctx *c, const char *rec_id, const char *published, json_t *data, bool *affected, const char **fixed)
{
  json_t *ranges = json_object_get (data, "ranges"), *r, *v;
  size_t i;

  *affected = false;
  *fixed = NULL;
  if (c->pkg->ecosystem == GSI_ECO_PYPI)
    {
      long major = pypi_major (c->version);
      if (major >= 0 && major < FIRST_DATE_YEAR && date_era (data, published))
        {
          gsi_strvec_pushf (&c->out->suppressed, "%s %s %s", rec_id, c->pkg->name, c->pkg->version);
          return 0;
        }
    }
  json_array_foreach (ranges, i, r)
    {
      bool in_range;
      if (eval_range (c, rec_id, json_object_get (r, "events"), &in_range, fixed) < 0)
        return -1;
      *affected = *affected || in_range;
    }
  if (*affected)
    return 0;
  json_array_foreach (json_object_get (data, "versions"), i, v)
    {
      int cmp;
      if (!json_is_string (v))
        continue;
      if (vcmp (c, rec_id, c->version, json_string_value (v), &cmp) < 0)
        return -1;
      if (cmp == 0)
        {
          *affected = true;
          return 0;
        }
    }
  return 0;
}

/* ---- Debian tracker rows --------------------------------------------------------------------- */

static gsi_severity
urgency_severity (const char *u)
{
  static const struct
  {
    const char *word;
    gsi_severity sev;
  } map[] = { { "unimportant", GSI_SEV_LOW }, { "low", GSI_SEV_LOW }, { "medium", GSI_SEV_MEDIUM }, { "high", GSI_SEV_HIGH } };
  size_t n;

  if (u == NULL)
    return GSI_SEV_UNKNOWN;
  /* "low*", "medium**": the stars mark how the urgency was set, not how urgent it is.  */
  n = strcspn (u, "*");
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strlen (map[i].word) == n && strncmp (u, map[i].word, n) == 0)
      return map[i].sev;
  return GSI_SEV_UNKNOWN;
}

static int
eval_tracker (match_ctx *c, const char *rec_id, json_t *data, bool *affected, const char **fixed,
              gsi_severity *sev)
{
  const char *status = json_string_value (json_object_get (data, "status"));
  const char *fx = json_string_value (json_object_get (data, "fixed"));
  int cmp;

  *affected = false;
  *fixed = NULL;
  *sev = urgency_severity (json_string_value (json_object_get (data, "urgency")));
  if (status && strcmp (status, "open") == 0)
    {
      *affected = true;
      return 0;
    }
  if (fx == NULL)
    {
      gsi_strvec_pushf (&c->out->warnings, "%s: %s: the tracker says resolved in %s but gives no fixed version",
                        rec_id, c->pkg->source_name, c->codename);
      return 0;
    }
  if (strcmp (fx, "0") == 0)
    return 0;
  if (vcmp (c, rec_id, c->version, fx, &cmp) < 0)
    return -1;
  if (cmp < 0)
    {
      *affected = true;
      *fixed = fx;
    }
  return 0;
}

/* ---- per package ----------------------------------------------------------------------------- */

static const char match_sql[]
    = "SELECT r.id, r.source, r.published, r.severity, r.cvss, r.summary, r.aliases, a.release, a.data"
      " FROM affected a JOIN records r ON r.rid = a.rid WHERE a.ecosystem = ? AND a.name = ? AND r.withdrawn = 0"
      " ORDER BY r.rid";

static void
add_hit (hits *h, const char *id, const char *source, const char *summary, const char *aliases, const char *fixed,
         gsi_severity sev, double cvss)
{
  json_t *a = aliases ? json_loads (aliases, 0, NULL) : NULL, *e;
  hit *x;
  size_t i;

  GSI_ALLOC_GROW (h->v, h->n + 1, h->alloc);
  x = &h->v[h->n++];
  memset (x, 0, sizeof *x);
  x->id = xstrdup (id);
  x->source = xstrdup (source);
  x->summary = summary ? xstrdup (summary) : NULL;
  x->fixed = fixed ? xstrdup (fixed) : NULL;
  x->severity = sev;
  x->cvss = cvss;
  gsi_strvec_push (&x->ids, id);
  json_array_foreach (a, i, e)
    if (json_is_string (e))
      gsi_strvec_push (&x->ids, json_string_value (e));
  json_decref (a);
}

/* Whether a Debian row applies to the image's release: tracker rows name a codename, OSV
 * "Debian:13" entries a number, plain "Debian" entries any release.  */
static bool
release_applies (match_ctx *c, const char *source, const char *release)
{
  if (strcmp (source, "debian-tracker") == 0)
    return c->codename && strcmp (release, c->codename) == 0;
  return *release == '\0' || (c->release && strcmp (release, c->release) == 0);
}

static int
collect (match_ctx *c, sqlite3_stmt *st, hits *h, gsi_error *err)
{
  const gsi_package *p = c->pkg;
  int rc;

  sqlite3_reset (st);
  sqlite3_bind_text (st, 1, gsi_ecosystem_name (p->ecosystem), -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, p->ecosystem == GSI_ECO_DEB ? p->source_name : p->norm_name, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      const char *id = (const char *) sqlite3_column_text (st, 0);
      const char *source = (const char *) sqlite3_column_text (st, 1);
      const char *published = (const char *) sqlite3_column_text (st, 2);
      gsi_severity sev = (gsi_severity) sqlite3_column_int (st, 3);
      double cvss = sqlite3_column_double (st, 4);
      const char *summary = (const char *) sqlite3_column_text (st, 5);
      const char *aliases = (const char *) sqlite3_column_text (st, 6);
      const char *release = (const char *) sqlite3_column_text (st, 7);
      json_t *data = json_loads ((const char *) sqlite3_column_text (st, 8), 0, NULL);
      const char *fixed = NULL;
      bool affected = false;
      int r;

      if (data == NULL)
        {
          sqlite3_reset (st);
          return gsi_error_set (err, 0, "%s: record %s: stored data is not JSON", c->db->path, id);
        }
      if (p->ecosystem == GSI_ECO_DEB && !release_applies (c, source, release))
        r = 0;
      else if (strcmp (source, "debian-tracker") == 0)
        r = eval_tracker (c, id, data, &affected, &fixed, &sev);
      else
        r = eval_osv (c, id, published, data, &affected, &fixed);
      if (r == 0 && affected)
        add_hit (h, id, source, summary, aliases, fixed, sev, cvss);
      json_decref (data);
    }
  if (rc != SQLITE_DONE)
    return gsi_vulndb_sql_error (c->db, "match", err);
  return 0;
}

static bool
shares_id (const hit *a, const hit *b)
{
  for (size_t i = 0; i < a->ids.n; i++)
    for (size_t j = 0; j < b->ids.n; j++)
      if (strcmp (a->ids.v[i], b->ids.v[j]) == 0)
        return true;
  return false;
}

static int
str_cmp (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static bool
strvec_has (const gsi_strvec *v, const char *s)
{
  for (size_t i = 0; i < v->n; i++)
    if (strcmp (v->v[i], s) == 0)
      return true;
  return false;
}

/* Turns group (hits merged through shared ids) into one finding.  */
static void
emit (match_ctx *c, size_t pkg, hit **group, size_t n)
{
  gsi_finding f = { 0 };
  gsi_strvec ids = GSI_STRVEC_INIT;
  const char *fixed = NULL, *chosen = NULL;
  size_t nal = 0;

  for (size_t i = 0; i < n; i++)
    {
      for (size_t k = 0; k < group[i]->ids.n; k++)
        if (!strvec_has (&ids, group[i]->ids.v[k]))
          gsi_strvec_push (&ids, group[i]->ids.v[k]);
      if (group[i]->severity > f.severity)
        f.severity = group[i]->severity;
      if (group[i]->cvss > f.cvss_score)
        f.cvss_score = group[i]->cvss;
      if (f.summary == NULL && group[i]->summary)
        f.summary = xstrdup (group[i]->summary);
      /* Upgrading to the highest of the records' fixes clears all of them.  */
      if (group[i]->fixed)
        {
          int cmp = 1;
          if (fixed && vcmp (c, group[i]->id, group[i]->fixed, fixed, &cmp) < 0)
            cmp = 0;
          if (fixed == NULL || cmp > 0)
            fixed = group[i]->fixed;
        }
    }
  qsort (ids.v, ids.n, sizeof *ids.v, str_cmp);
  for (size_t i = 0; i < ids.n && chosen == NULL; i++)
    if (strncmp (ids.v[i], "CVE-", 4) == 0)
      chosen = ids.v[i];
  if (chosen == NULL)
    {
      chosen = group[0]->id;
      for (size_t i = 1; i < n; i++)
        if (strcmp (group[i]->id, chosen) < 0)
          chosen = group[i]->id;
    }
  f.id = xstrdup (chosen);
  f.aliases = xcalloc (ids.n + 1, sizeof *f.aliases);
  for (size_t i = 0; i < ids.n; i++)
    if (strcmp (ids.v[i], chosen) != 0)
      f.aliases[nal++] = xstrdup (ids.v[i]);
  f.pkg = pkg;
  f.fixed_version = fixed ? xstrdup (fixed) : NULL;
  f.source = xstrdup (group[0]->source);
  gsi_strvec_clear (&ids);
  GSI_ALLOC_GROW (c->out->v, c->out->n + 1, c->out->alloc_);
  c->out->v[c->out->n++] = f;
}

static void
merge_and_emit (match_ctx *c, size_t pkg, hits *h)
{
  cleanup_free hit **group = xcalloc (h->n ? h->n : 1, sizeof *group);

  for (size_t i = 0; i < h->n; i++)
    {
      size_t n = 0;
      if (h->v[i].merged)
        continue;
      h->v[i].merged = true;
      group[n++] = &h->v[i];
      /* Grow the group until no other hit shares an id with it (aliases chain: A~B, B~C).  */
      for (bool grew = true; grew;)
        {
          grew = false;
          for (size_t j = i + 1; j < h->n; j++)
            {
              if (h->v[j].merged)
                continue;
              for (size_t k = 0; k < n; k++)
                if (shares_id (group[k], &h->v[j]))
                  {
                    h->v[j].merged = true;
                    group[n++] = &h->v[j];
                    grew = true;
                    break;
                  }
            }
        }
      emit (c, pkg, group, n);
    }
}

/* ---- the image ------------------------------------------------------------------------------- */

static const struct
{
  const char *number, *codename;
} debian_releases[] = {
  { "10", "buster" }, { "11", "bullseye" }, { "12", "bookworm" }, { "13", "trixie" }, { "14", "forky" }, { "15", "duke" },
};

static void
image_release (match_ctx *c)
{
  const gsi_inventory *inv = c->inv;

  c->codename = inv->os_codename;
  c->release = inv->os_version_id;
  for (size_t i = 0; i < sizeof debian_releases / sizeof debian_releases[0]; i++)
    {
      if (c->codename == NULL && c->release && strcmp (c->release, debian_releases[i].number) == 0)
        c->codename = debian_releases[i].codename;
      if (c->release == NULL && c->codename && strcmp (c->codename, debian_releases[i].codename) == 0)
        c->release = debian_releases[i].number;
    }
}

static int
finding_cmp (const void *pa, const void *pb)
{
  const gsi_finding *a = pa, *b = pb;

  if (a->pkg != b->pkg)
    return a->pkg < b->pkg ? -1 : 1;
  return strcmp (a->id, b->id);
}

int
gsi_vulndb_match (gsi_vulndb *db, const gsi_inventory *inv, gsi_findings *out, gsi_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  match_ctx c = { db, inv, NULL, NULL, NULL, NULL, out };
  bool debian = inv->os_id && strcmp (inv->os_id, "debian") == 0;
  bool deb_note = false;

  memset (out, 0, sizeof *out);
  if (sqlite3_prepare_v2 (db->db, match_sql, -1, &st, NULL) != SQLITE_OK)
    return gsi_vulndb_sql_error (db, "prepare", err);
  image_release (&c);
  for (size_t i = 0; i < inv->n; i++)
    {
      const gsi_package *p = &inv->pkgs[i];
      gsi_error verr = GSI_ERROR_INIT;
      hits h = { 0 };

      c.pkg = p;
      if (p->ecosystem == GSI_ECO_PYPI)
        {
          if (p->owner_deb)
            continue;
          c.version = p->version;
          if (!gsi_version_valid (GSI_ECO_PYPI, p->version, NULL))
            gsi_strvec_pushf (&out->warnings, "%s %s (%s): not a PEP 440 version: ordered as packaging's legacy versions "
                              "(below every PEP 440 version)", p->name, p->version, p->location);
        }
      else
        {
          if (!debian || c.codename == NULL)
            {
              if (!deb_note)
                gsi_strvec_pushf (&out->warnings,
                                  "the image's os-release says ID=%s VERSION_CODENAME=%s: its Debian packages are "
                                  "not matched (Debian data is per Debian release)",
                                  inv->os_id ? inv->os_id : "(none)", c.codename ? c.codename : "(none)");
              deb_note = true;
              continue;
            }
          c.version = p->source_version ? p->source_version : p->version;
          if (!gsi_version_valid (GSI_ECO_DEB, c.version, &verr))
            {
              gsi_strvec_pushf (&out->warnings, "%s (%s): not matched: %s", p->name, p->location, verr.msg);
              gsi_error_clear (&verr);
              continue;
            }
        }
      if (collect (&c, st, &h, err) < 0)
        {
          hits_clear (&h);
          gsi_findings_clear (out);
          return -1;
        }
      merge_and_emit (&c, i, &h);
      hits_clear (&h);
    }
  if (out->n)
    qsort (out->v, out->n, sizeof *out->v, finding_cmp);
  return 0;
}

void
gsi_findings_clear (gsi_findings *f)
{
  for (size_t i = 0; i < f->n; i++)
    {
      free (f->v[i].id);
      for (char **a = f->v[i].aliases; a && *a; a++)
        free (*a);
      free (f->v[i].aliases);
      free (f->v[i].fixed_version);
      free (f->v[i].summary);
      free (f->v[i].source);
    }
  free (f->v);
  gsi_strvec_clear (&f->warnings);
  gsi_strvec_clear (&f->suppressed);
  memset (f, 0, sizeof *f);
}
