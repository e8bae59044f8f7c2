/* OSV records (ossf/osv-schema), JSON or YAML, read into gsi_osv_record.  YAML is turned into the
 * same jansson tree as JSON first, every scalar as a string: an unquoted `- 1.10` must stay the
 * version "1.10", not the float 1.1.  */
#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <string.h>

#include "util/buf.h"
#include "util/unicode.h"
#include "util/yaml.h"
#include "util/xalloc.h"
#include "vuln/vulndb-internal.h"

/* Deeper nesting than any OSV record has: a bound on the recursion of the YAML conversion.  */
#define MAX_YAML_DEPTH 64
/* The summary drawn from "details" when a record has none, as table reports show it.  */
#define MAX_DERIVED_SUMMARY 240

/* ---- YAML to jansson ------------------------------------------------------------------------- */

static json_t *yaml_node_to_json (struct fy_node *n, int depth, gsi_buf *why);

static json_t *
yaml_scalar (struct fy_node *n, gsi_buf *why)
{
  size_t len = 0;
  const char *s = fy_node_get_scalar (n, &len);
  json_t *j;

  if (s == NULL)
    return json_null ();
  if (fy_node_get_style (n) == FYNS_PLAIN
      && (len == 0 || (len == 1 && s[0] == '~') || (len == 4 && memcmp (s, "null", 4) == 0)))
    return json_null ();
  j = json_stringn (s, len);
  if (j == NULL)
    gsi_buf_addstr (why, "a string is not valid UTF-8");
  return j;
}

static json_t *
yaml_mapping (struct fy_node *n, int depth, gsi_buf *why)
{
  json_t *o = json_object ();
  struct fy_node_pair *p;
  void *it = NULL;

  while ((p = fy_node_mapping_iterate (n, &it)) != NULL)
    {
      struct fy_node *k = fy_node_pair_key (p);
      const char *ks = (k && fy_node_is_scalar (k) && !fy_node_is_alias (k)) ? fy_node_get_scalar0 (k) : NULL;
      json_t *v;

      if (ks == NULL)
        {
          gsi_buf_addstr (why, "a mapping key is not a plain string");
          json_decref (o);
          return NULL;
        }
      v = yaml_node_to_json (fy_node_pair_value (p), depth + 1, why);
      if (v == NULL || json_object_set_new (o, ks, v) < 0)
        {
          if (why->len == 0)
            gsi_buf_addf (why, "key `%s` is not valid UTF-8", ks);
          json_decref (o);
          return NULL;
        }
    }
  return o;
}

static json_t *
yaml_node_to_json (struct fy_node *n, int depth, gsi_buf *why)
{
  if (n == NULL)
    return json_null ();
  if (depth > MAX_YAML_DEPTH)
    {
      gsi_buf_addstr (why, "nested too deeply");
      return NULL;
    }
  /* Aliases could expand exponentially and no OSV writer uses them.  */
  if (fy_node_is_alias (n))
    {
      gsi_buf_addstr (why, "YAML aliases are not supported in OSV records");
      return NULL;
    }
  if (fy_node_is_scalar (n))
    return yaml_scalar (n, why);
  if (fy_node_is_mapping (n))
    return yaml_mapping (n, depth, why);
  if (fy_node_is_sequence (n))
    {
      json_t *a = json_array ();
      struct fy_node *e;
      void *it = NULL;

      while ((e = fy_node_sequence_iterate (n, &it)) != NULL)
        {
          json_t *v = yaml_node_to_json (e, depth + 1, why);
          if (v == NULL)
            {
              json_decref (a);
              return NULL;
            }
          json_array_append_new (a, v);
        }
      return a;
    }
  gsi_buf_addstr (why, "unknown YAML node");
  return NULL;
}

struct fy_document *
gsi_vuln_yaml_parse (const char *name, const char *data, size_t len, gsi_error *err)
{
  struct fy_parse_cfg pcfg = { 0 };
  struct fy_document *doc;

  if (gsi_yaml_check_text (name, data, len, err) < 0)
    return NULL;
  if ((pcfg.diag = gsi_yaml_diag_new (name, err)) == NULL)
    return NULL;
  pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_DOC;
  doc = fy_document_build_from_string (&pcfg, data, len);
  if (doc == NULL)
    gsi_yaml_diag_error (pcfg.diag, name, err);
  gsi_yaml_diag_release (pcfg.diag);
  return doc;
}

static json_t *
yaml_load (const char *name, const char *data, size_t len, gsi_error *err)
{
  cleanup_buf gsi_buf why = GSI_BUF_INIT;
  struct fy_document *doc = gsi_vuln_yaml_parse (name, data, len, err);
  json_t *j;

  if (doc == NULL)
    return NULL;
  j = yaml_node_to_json (fy_document_root (doc), 0, &why);
  fy_document_destroy (doc);
  if (j == NULL)
    gsi_error_set (err, 0, "%s: %s", name, why.len ? why.buf : "cannot convert YAML");
  return j;
}

/* ---- CVSS v3 ---------------------------------------------------------------------------------- */

/* The metric value of key K in a CVSS vector ('\0' when absent).  */
static char
cvss_metric (const char *vector, const char *key)
{
  size_t kl = strlen (key);

  for (const char *p = strchr (vector, '/'); p; p = strchr (p + 1, '/'))
    if (strncmp (p + 1, key, kl) == 0 && p[1 + kl] == ':' && p[2 + kl] != '\0'
        && (p[3 + kl] == '/' || p[3 + kl] == '\0'))
      return p[2 + kl];
  return '\0';
}

/* CVSS v3.1's Roundup, which avoids floating point artefacts; v3.0 rounded up at one decimal.  */
static double
cvss_roundup (double x, bool v30)
{
  long i;

  if (v30)
    return ceil (x * 10.0) / 10.0;
  i = lround (x * 100000.0);
  if (i % 10000 == 0)
    return (double) i / 100000.0;
  return (floor ((double) i / 10000.0) + 1.0) / 10.0;
}

static double
cvss_cia (char c)
{
  return c == 'H' ? 0.56 : c == 'L' ? 0.22 : c == 'N' ? 0.0 : -1.0;
}

double
gsi_cvss3_base_score (const char *vector)
{
  bool v30;
  char av, ac, pr, ui, s;
  double wav, wac, wpr, wui, c, i, a, iss, impact, expl, base;

  if (vector == NULL)
    return -1;
  if (strncmp (vector, "CVSS:3.1/", 9) == 0)
    v30 = false;
  else if (strncmp (vector, "CVSS:3.0/", 9) == 0)
    v30 = true;
  else
    return -1;
  av = cvss_metric (vector, "AV");
  ac = cvss_metric (vector, "AC");
  pr = cvss_metric (vector, "PR");
  ui = cvss_metric (vector, "UI");
  s = cvss_metric (vector, "S");
  wav = av == 'N' ? 0.85 : av == 'A' ? 0.62 : av == 'L' ? 0.55 : av == 'P' ? 0.2 : -1;
  wac = ac == 'L' ? 0.77 : ac == 'H' ? 0.44 : -1;
  wui = ui == 'N' ? 0.85 : ui == 'R' ? 0.62 : -1;
  if (s != 'U' && s != 'C')
    return -1;
  wpr = pr == 'N' ? 0.85 : pr == 'L' ? (s == 'C' ? 0.68 : 0.62) : pr == 'H' ? (s == 'C' ? 0.5 : 0.27) : -1;
  c = cvss_cia (cvss_metric (vector, "C"));
  i = cvss_cia (cvss_metric (vector, "I"));
  a = cvss_cia (cvss_metric (vector, "A"));
  if (wav < 0 || wac < 0 || wui < 0 || wpr < 0 || c < 0 || i < 0 || a < 0)
    return -1;
  iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
  impact = s == 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * pow (iss - 0.02, 15);
  expl = 8.22 * wav * wac * wpr * wui;
  if (impact <= 0)
    return 0;
  base = s == 'U' ? impact + expl : 1.08 * (impact + expl);
  return cvss_roundup (base < 10.0 ? base : 10.0, v30);
}

gsi_severity
gsi_cvss3_severity (double score)
{
  if (score >= 9.0)
    return GSI_SEV_CRITICAL;
  if (score >= 7.0)
    return GSI_SEV_HIGH;
  if (score >= 4.0)
    return GSI_SEV_MEDIUM;
  if (score > 0.0)
    return GSI_SEV_LOW;
  return GSI_SEV_UNKNOWN;
}

/* ---- the record ------------------------------------------------------------------------------- */

void
gsi_osv_record_clear (gsi_osv_record *rec)
{
  free (rec->id);
  free (rec->modified);
  free (rec->published);
  free (rec->summary);
  free (rec->source);
  gsi_strvec_clear (&rec->aliases);
  for (size_t i = 0; i < rec->naffected; i++)
    {
      free (rec->affected[i].name);
      free (rec->affected[i].release);
      json_decref (rec->affected[i].data);
    }
  free (rec->affected);
  memset (rec, 0, sizeof *rec);
}

/* An optional string member: NULL when absent or null, -1 when of another type.  */
static int
opt_string (const char *name, json_t *obj, const char *key, const char *where, const char **out, gsi_error *err)
{
  json_t *v = json_object_get (obj, key);

  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return gsi_error_set (err, 0, "%s: %s\"%s\" is not a string", name, where, key);
  *out = json_string_value (v);
  return 0;
}

static int
string_array (const char *name, json_t *v, const char *what, gsi_error *err)
{
  size_t i;
  json_t *e;

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_array (v))
    return gsi_error_set (err, 0, "%s: %s is not a list", name, what);
  json_array_foreach (v, i, e)
    if (!json_is_string (e) || json_string_length (e) == 0)
      return gsi_error_set (err, 0, "%s: %s[%zu] is not a non-empty string", name, what, i);
  return 0;
}

/* The summary, else the first line of the details, cut at a UTF-8 boundary.  */
char *
gsi_vuln_summary (const char *summary, const char *details)
{
  const char *s = summary && *summary ? summary : details;
  size_t n;

  if (s == NULL)
    return NULL;
  while (isspace ((unsigned char) *s))
    s++;
  n = strcspn (s, "\n");
  if (n > MAX_DERIVED_SUMMARY)
    {
      n = MAX_DERIVED_SUMMARY;
      while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
        n--;
    }
  while (n > 0 && isspace ((unsigned char) s[n - 1]))
    n--;
  return n ? xstrndup (s, n) : NULL;
}

/* severity[] entries: the highest CVSS v3 score; CVSS_V4 and others are not scored.  */
static int
parse_severity (const char *name, json_t *arr, const char *where, gsi_osv_record *rec, gsi_error *err)
{
  size_t i;
  json_t *e;

  if (arr == NULL || json_is_null (arr))
    return 0;
  if (!json_is_array (arr))
    return gsi_error_set (err, 0, "%s: %sseverity is not a list", name, where);
  json_array_foreach (arr, i, e)
    {
      const char *type, *score;
      double v;

      if (!json_is_object (e))
        return gsi_error_set (err, 0, "%s: %sseverity[%zu] is not a mapping", name, where, i);
      if (opt_string (name, e, "type", where, &type, err) < 0 || opt_string (name, e, "score", where, &score, err) < 0)
        return -1;
      if (type == NULL || score == NULL)
        return gsi_error_set (err, 0, "%s: %sseverity[%zu] needs \"type\" and \"score\"", name, where, i);
      if (strcmp (type, "CVSS_V3") != 0)
        continue;
      v = gsi_cvss3_base_score (score);
      if (v > rec->cvss)
        {
          rec->cvss = v;
          rec->severity = gsi_cvss3_severity (v);
        }
    }
  return 0;
}

static const char *const event_kinds[] = { "introduced", "fixed", "last_affected", "limit" };

static int
check_events (const char *name, json_t *events, size_t ai, size_t ri, gsi_error *err)
{
  size_t i;
  json_t *e;

  if (!json_is_array (events) || json_array_size (events) == 0)
    return gsi_error_set (err, 0, "%s: affected[%zu].ranges[%zu].events is not a non-empty list", name, ai, ri);
  json_array_foreach (events, i, e)
    {
      size_t known = 0;
      const char *key;
      json_t *v;

      if (!json_is_object (e))
        return gsi_error_set (err, 0, "%s: affected[%zu].ranges[%zu].events[%zu] is not a mapping", name, ai, ri, i);
      json_object_foreach (e, key, v)
        for (size_t k = 0; k < sizeof event_kinds / sizeof event_kinds[0]; k++)
          if (strcmp (key, event_kinds[k]) == 0)
            {
              if (!json_is_string (v) || json_string_length (v) == 0)
                return gsi_error_set (err, 0, "%s: affected[%zu].ranges[%zu].events[%zu].%s is not a version string",
                                      name, ai, ri, i, key);
              known++;
            }
      if (known != 1)
        return gsi_error_set (err, 0,
                              "%s: affected[%zu].ranges[%zu].events[%zu] needs exactly one of introduced, fixed, "
                              "last_affected, limit",
                              name, ai, ri, i);
    }
  return 0;
}

/* Keeps the ECOSYSTEM and SEMVER ranges (both compared with the ecosystem's own ordering) in the
 * entry's data; GIT ranges only leave the git_fixed mark.  */
static int
parse_ranges (const char *name, json_t *ranges, size_t ai, json_t *data, gsi_error *err)
{
  json_t *keep = json_array ();
  bool git_fixed = false;
  size_t i;
  json_t *r;

  json_object_set_new (data, "ranges", keep);
  if (ranges == NULL || json_is_null (ranges))
    return 0;
  if (!json_is_array (ranges))
    return gsi_error_set (err, 0, "%s: affected[%zu].ranges is not a list", name, ai);
  json_array_foreach (ranges, i, r)
    {
      const char *type;
      json_t *events = json_object_get (r, "events");

      if (!json_is_object (r))
        return gsi_error_set (err, 0, "%s: affected[%zu].ranges[%zu] is not a mapping", name, ai, i);
      if (opt_string (name, r, "type", "", &type, err) < 0)
        return -1;
      if (type == NULL)
        return gsi_error_set (err, 0, "%s: affected[%zu].ranges[%zu] has no \"type\"", name, ai, i);
      if (check_events (name, events, ai, i, err) < 0)
        return -1;
      if (strcmp (type, "GIT") == 0)
        {
          size_t k;
          json_t *e;
          json_array_foreach (events, k, e)
            if (json_object_get (e, "fixed"))
              git_fixed = true;
          continue;
        }
      if (strcmp (type, "ECOSYSTEM") != 0 && strcmp (type, "SEMVER") != 0)
        return gsi_error_set (err, 0, "%s: affected[%zu].ranges[%zu]: unknown range type `%s`", name, ai, i, type);
      json_array_append_new (keep, json_pack ("{s:s, s:O}", "type", type, "events", events));
    }
  if (git_fixed)
    json_object_set_new (data, "git_fixed", json_true ());
  return 0;
}

/* The ecosystem string: "PyPI", "Debian", "Debian:13".  -1 for ecosystems gsi does not scan.  */
static int
parse_ecosystem (const char *s, char **release)
{
  *release = NULL;
  if (strcmp (s, "PyPI") == 0)
    return GSI_ECO_PYPI;
  if (strcmp (s, "Debian") == 0)
    return GSI_ECO_DEB;
  if (strncmp (s, "Debian:", 7) == 0 && s[7] != '\0')
    {
      *release = xstrdup (s + 7);
      return GSI_ECO_DEB;
    }
  return -1;
}

static int
parse_affected_entry (const char *name, json_t *a, size_t ai, gsi_osv_record *rec, gsi_error *err)
{
  json_t *pkg = json_object_get (a, "package"), *data;
  const char *eco, *pname;
  char *release = NULL;
  int e;
  char where[48];

  if (!json_is_object (a))
    return gsi_error_set (err, 0, "%s: affected[%zu] is not a mapping", name, ai);
  snprintf (where, sizeof where, "affected[%zu].", ai);
  if (parse_severity (name, json_object_get (a, "severity"), where, rec, err) < 0)
    return -1;
  if (pkg == NULL || json_is_null (pkg))
    {
      rec->skipped++; /* GIT-only entries name a repository, not a package */
      return 0;
    }
  if (!json_is_object (pkg))
    return gsi_error_set (err, 0, "%s: affected[%zu].package is not a mapping", name, ai);
  snprintf (where, sizeof where, "affected[%zu].package.", ai);
  if (opt_string (name, pkg, "ecosystem", where, &eco, err) < 0 || opt_string (name, pkg, "name", where, &pname, err) < 0)
    return -1;
  if (eco == NULL || pname == NULL || *pname == '\0')
    return gsi_error_set (err, 0, "%s: affected[%zu].package needs \"ecosystem\" and \"name\"", name, ai);
  data = json_object ();
  snprintf (where, sizeof where, "affected[%zu].versions", ai);
  if (parse_ranges (name, json_object_get (a, "ranges"), ai, data, err) < 0
      || string_array (name, json_object_get (a, "versions"), where, err) < 0)
    {
      json_decref (data);
      return -1;
    }
  e = parse_ecosystem (eco, &release);
  if (e < 0)
    {
      json_decref (data);
      rec->skipped++;
      return 0;
    }
  if (json_is_array (json_object_get (a, "versions")))
    json_object_set (data, "versions", json_object_get (a, "versions"));
  GSI_ALLOC_GROW (rec->affected, rec->naffected + 1, rec->nalloc_);
  rec->affected[rec->naffected].ecosystem = e;
  rec->affected[rec->naffected].name = e == GSI_ECO_PYPI ? gsi_pep503_name (pname) : xstrdup (pname);
  rec->affected[rec->naffected].release = release;
  rec->affected[rec->naffected].data = data;
  rec->naffected++;
  if (rec->source == NULL)
    rec->source = xstrdup (e == GSI_ECO_PYPI ? "osv:PyPI" : "osv:Debian");
  return 0;
}

static int
parse_fallback_severity (const char *name, json_t *doc, gsi_osv_record *rec, gsi_error *err)
{
  json_t *ds = json_object_get (doc, "database_specific");
  const char *s;
  int sev;

  if (rec->severity != GSI_SEV_UNKNOWN || !json_is_object (ds))
    return 0;
  if (opt_string (name, ds, "severity", "database_specific.", &s, err) < 0)
    return -1;
  sev = s ? gsi_severity_parse (s) : -1;
  if (sev > 0)
    rec->severity = sev;
  return 0;
}

static int
parse_doc (const char *name, json_t *doc, gsi_osv_record *rec, gsi_error *err)
{
  const char *id, *modified, *published, *withdrawn, *summary, *details;
  json_t *aliases = json_object_get (doc, "aliases"), *affected = json_object_get (doc, "affected"), *e;
  size_t i;

  if (!json_is_object (doc))
    return gsi_error_set (err, 0, "%s: an OSV record is a mapping", name);
  if (opt_string (name, doc, "id", "", &id, err) < 0 || opt_string (name, doc, "modified", "", &modified, err) < 0
      || opt_string (name, doc, "published", "", &published, err) < 0
      || opt_string (name, doc, "withdrawn", "", &withdrawn, err) < 0
      || opt_string (name, doc, "summary", "", &summary, err) < 0
      || opt_string (name, doc, "details", "", &details, err) < 0)
    return -1;
  if (id == NULL || *id == '\0')
    return gsi_error_set (err, 0, "%s: the record has no \"id\"", name);
  if (modified == NULL || *modified == '\0')
    return gsi_error_set (err, 0, "%s: record %s has no \"modified\"", name, id);
  if (string_array (name, aliases, "aliases", err) < 0)
    return -1;
  if (affected && !json_is_null (affected) && !json_is_array (affected))
    return gsi_error_set (err, 0, "%s: \"affected\" is not a list", name);
  rec->id = xstrdup (id);
  rec->modified = xstrdup (modified);
  rec->published = published ? xstrdup (published) : NULL;
  rec->withdrawn = withdrawn != NULL;
  rec->summary = gsi_vuln_summary (summary, details);
  json_array_foreach (aliases, i, e)
    if (strcmp (json_string_value (e), id) != 0)
      gsi_strvec_push (&rec->aliases, json_string_value (e));
  if (parse_severity (name, json_object_get (doc, "severity"), "", rec, err) < 0)
    return -1;
  json_array_foreach (affected, i, e)
    if (parse_affected_entry (name, e, i, rec, err) < 0)
      return -1;
  return parse_fallback_severity (name, doc, rec, err);
}

int
gsi_osv_parse (const char *name, const char *data, size_t len, bool yaml, gsi_osv_record *rec, gsi_error *err)
{
  json_t *doc;
  int r;

  memset (rec, 0, sizeof *rec);
  if (yaml)
    doc = yaml_load (name, data, len, err);
  else
    {
      json_error_t je;
      doc = json_loadb (data, len, 0, &je);
      if (doc == NULL)
        gsi_error_set (err, 0, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
    }
  if (doc == NULL)
    return -1;
  r = gsi_osv_from_json (name, doc, rec, err);
  json_decref (doc);
  return r;
}

int
gsi_osv_from_json (const char *name, json_t *doc, gsi_osv_record *rec, gsi_error *err)
{
  memset (rec, 0, sizeof *rec);
  if (parse_doc (name, doc, rec, err) < 0)
    {
      gsi_osv_record_clear (rec);
      return -1;
    }
  return 0;
}
