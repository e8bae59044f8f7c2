/* SBOMs from an image's inventory: see sbom.h.
 *
 * Identifiers that must be unique (CycloneDX bom-refs, SPDX ids, licence refs) are derived from the
 * content they name, never from positions, so adding a package to an image does not renumber the
 * others and two SBOMs of related images can be compared line by line.  */
#include "vuln/sbom.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oci/digest.h"
#include "registry/reference.h"
#include "util/strvec.h"
#include "util/xalloc.h"

#define EPOCH_TIME "1970-01-01T00:00:00Z"

int
gsi_sbom_format_parse (const char *s, gsi_sbom_format *out, gsi_error *err)
{
  if (strcmp (s, "cyclonedx") == 0)
    *out = GSI_SBOM_CYCLONEDX;
  else if (strcmp (s, "spdx") == 0)
    *out = GSI_SBOM_SPDX;
  else
    return gsi_error_set (err, 0, "unknown SBOM format `%s` (expected cyclonedx or spdx)", s);
  return 0;
}

/* ---- identifiers ---------------------------------------------------------------------------- */

/* The hex of sha256 (a "\n" b).  */
static void
hash_hex (const char *a, const char *b, char out[GSI_DIGEST_BUF])
{
  gsi_buf in = GSI_BUF_INIT;

  gsi_buf_addstr (&in, a ? a : "");
  gsi_buf_addch (&in, '\n');
  gsi_buf_addstr (&in, b ? b : "");
  gsi_digest_buf (in.buf, in.len, out);
  gsi_buf_release (&in);
  memmove (out, out + strlen (GSI_DIGEST_PREFIX), 65);
}

/* A name-based UUID (version 5 layout, RFC 4122 variant) from the image digest: the schemas want
 * a UUID, and a random one would make every run differ.  */
static char *
digest_uuid (const char *kind, const gsi_sbom_subject *subj)
{
  char h[GSI_DIGEST_BUF];
  static const char hexd[] = "0123456789abcdef";

  hash_hex (kind, subj->digest ? subj->digest : subj->name, h);
  h[12] = '5';
  h[16] = hexd[8 | (strchr (hexd, h[16]) - hexd) % 4];
  return xasprintf ("%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* Percent-encodes all but the purl spec's unreserved characters and, when keep_slash, '/'.  */
static void
purl_escape (gsi_buf *b, const char *s, bool keep_slash)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      if (isalnum (*p) || *p == '.' || *p == '-' || *p == '_' || *p == '~' || (keep_slash && *p == '/'))
        gsi_buf_addch (b, *p);
      else
        gsi_buf_addf (b, "%%%02X", *p);
    }
}

/* The image's purl (pkg:oci): the last path component as name, the digest as version, and the
 * repository and tag as qualifiers when the name parses as a reference.  */
static char *
image_purl (const gsi_sbom_subject *subj)
{
  gsi_reference r = GSI_REFERENCE_INIT;
  gsi_error e = GSI_ERROR_INIT;
  gsi_buf b = GSI_BUF_INIT;

  gsi_buf_addstr (&b, "pkg:oci/");
  if (gsi_reference_parse (subj->name, &r, &e) == 0)
    {
      const char *slash = strrchr (r.path, '/');
      purl_escape (&b, slash ? slash + 1 : r.path, false);
    }
  else
    purl_escape (&b, subj->name, false);
  if (subj->digest != NULL)
    {
      gsi_buf_addch (&b, '@');
      purl_escape (&b, subj->digest, false);
    }
  if (r.path != NULL)
    {
      /* Qualifiers sorted by key, as the purl spec wants them.  */
      gsi_buf_addstr (&b, "?repository_url=");
      purl_escape (&b, r.domain, false);
      gsi_buf_addch (&b, '/');
      purl_escape (&b, r.path, true);
      if (r.tag != NULL)
        {
          gsi_buf_addstr (&b, "&tag=");
          purl_escape (&b, r.tag, false);
        }
    }
  gsi_reference_clear (&r);
  gsi_error_clear (&e);
  return gsi_buf_detach (&b, NULL);
}

/* s with every character outside [A-Za-z0-9.-] replaced by '-': the SPDX idstring alphabet.  */
static void
add_idstring (gsi_buf *b, const char *s, size_t max)
{
  for (size_t i = 0; s[i] != '\0' && i < max; i++)
    gsi_buf_addch (b, isalnum ((unsigned char) s[i]) || s[i] == '.' || s[i] == '-' ? s[i] : '-');
}

static char *
spdx_package_id (const gsi_package *p)
{
  char h[GSI_DIGEST_BUF];
  gsi_buf b = GSI_BUF_INIT;

  hash_hex (p->purl, p->location, h);
  gsi_buf_addf (&b, "SPDXRef-Package-%s-", gsi_ecosystem_name (p->ecosystem));
  add_idstring (&b, p->norm_name, 64);
  gsi_buf_addf (&b, "-%.16s", h);
  return gsi_buf_detach (&b, NULL);
}

static int
cmp_index_purl (const void *a, const void *b, void *ctx)
{
  const gsi_inventory *inv = ctx;
  const size_t *x = a, *y = b;
  int c = strcmp (inv->pkgs[*x].purl, inv->pkgs[*y].purl);
  return c ? c : (*x > *y) - (*x < *y);
}

/* CycloneDX bom-refs: the purl, with "#" and the location added to each of several packages that
 * share one (the same distribution in two venvs).  */
static gsi_strvec
bom_refs (const gsi_inventory *inv)
{
  gsi_strvec refs = GSI_STRVEC_INIT;
  size_t *idx = xcalloc (inv->n ? inv->n : 1, sizeof *idx);
  bool *dup = xcalloc (inv->n ? inv->n : 1, sizeof *dup);

  for (size_t i = 0; i < inv->n; i++)
    idx[i] = i;
  qsort_r (idx, inv->n, sizeof *idx, cmp_index_purl, (void *) inv);
  for (size_t i = 1; i < inv->n; i++)
    if (strcmp (inv->pkgs[idx[i - 1]].purl, inv->pkgs[idx[i]].purl) == 0)
      dup[idx[i - 1]] = dup[idx[i]] = true;
  for (size_t i = 0; i < inv->n; i++)
    {
      const gsi_package *p = &inv->pkgs[i];
      if (dup[i])
        gsi_strvec_pushf (&refs, "%s#%s", p->purl, p->location ? p->location : "");
      else
        gsi_strvec_push (&refs, p->purl);
    }
  free (idx);
  free (dup);
  return refs;
}

/* ---- licences ------------------------------------------------------------------------------- */

/* SPDX licence ids that Python metadata states often enough to matter.  A licence outside this
 * list is carried as a name (CycloneDX) or a LicenseRef (SPDX), never guessed: CycloneDX's schema
 * checks ids against the whole SPDX list and SPDX consumers parse declared licences.  Sorted.  */
static const char *const spdx_ids[] = {
  "0BSD",         "AFL-2.1",      "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1",    "Apache-2.0",
  "Artistic-2.0", "BSD-1-Clause", "BSD-2-Clause",  "BSD-3-Clause",      "BSL-1.0",       "CC-BY-4.0",
  "CC0-1.0",      "CNRI-Python",  "EPL-1.0",       "EPL-2.0",           "GPL-2.0-only",  "GPL-2.0-or-later",
  "GPL-3.0-only", "GPL-3.0-or-later", "HPND",      "ISC",               "LGPL-2.1-only", "LGPL-2.1-or-later",
  "LGPL-3.0-only", "LGPL-3.0-or-later", "MIT",     "MIT-0",             "MPL-1.1",       "MPL-2.0",
  "OpenSSL",      "PSF-2.0",      "Python-2.0",    "Unicode-3.0",       "Unicode-DFS-2016", "Unlicense",
  "WTFPL",        "X11",          "ZPL-2.1",       "Zlib",
};

static const char *const spdx_exceptions[] = {
  "Classpath-exception-2.0", "GCC-exception-3.1", "LLVM-exception", "OpenSSL-exception",
};

static bool
in_table (const char *const *t, size_t n, const char *s, size_t len)
{
  for (size_t i = 0; i < n; i++)
    if (strlen (t[i]) == len && memcmp (t[i], s, len) == 0)
      return true;
  return false;
}

typedef struct lic_lexer
{
  const char *p;
  const char *tok;
  size_t n;
} lic_lexer;

static void
lic_next (lic_lexer *lx)
{
  while (*lx->p == ' ')
    lx->p++;
  lx->tok = lx->p;
  if (*lx->p == '(' || *lx->p == ')')
    lx->p++;
  else
    while (*lx->p != '\0' && *lx->p != ' ' && *lx->p != '(' && *lx->p != ')')
      lx->p++;
  lx->n = (size_t) (lx->p - lx->tok);
}

static bool
lic_is (const lic_lexer *lx, const char *word)
{
  return lx->n == strlen (word) && memcmp (lx->tok, word, lx->n) == 0;
}

static bool lic_expr (lic_lexer *lx, int depth);

/* term := "(" expr ")" | id ["+"] ["WITH" exception]  */
static bool
lic_term (lic_lexer *lx, int depth)
{
  if (lic_is (lx, "("))
    {
      lic_next (lx);
      if (!lic_expr (lx, depth + 1) || !lic_is (lx, ")"))
        return false;
      lic_next (lx);
      return true;
    }
  size_t n = lx->n;
  if (n > 1 && lx->tok[n - 1] == '+')
    n--;
  if (!in_table (spdx_ids, sizeof spdx_ids / sizeof *spdx_ids, lx->tok, n))
    return false;
  lic_next (lx);
  if (lic_is (lx, "WITH"))
    {
      lic_next (lx);
      if (!in_table (spdx_exceptions, sizeof spdx_exceptions / sizeof *spdx_exceptions, lx->tok, lx->n))
        return false;
      lic_next (lx);
    }
  return true;
}

static bool
lic_expr (lic_lexer *lx, int depth)
{
  if (depth > 16 || !lic_term (lx, depth))
    return false;
  while (lic_is (lx, "AND") || lic_is (lx, "OR"))
    {
      lic_next (lx);
      if (!lic_term (lx, depth))
        return false;
    }
  return true;
}

/* Whether s is an SPDX licence expression over the ids above.  */
static bool
spdx_expression (const char *s)
{
  lic_lexer lx = { s, s, 0 };

  lic_next (&lx);
  return lic_expr (&lx, 0) && lx.n == 0;
}

static bool
spdx_single_id (const char *s)
{
  return in_table (spdx_ids, sizeof spdx_ids / sizeof *spdx_ids, s, strlen (s));
}

/* "LicenseRef-" naming a free-text licence: readable, and unique through the hash of the text.  */
static char *
license_ref (const char *text)
{
  char h[GSI_DIGEST_BUF];
  gsi_buf b = GSI_BUF_INIT;

  hash_hex ("license", text, h);
  gsi_buf_addstr (&b, "LicenseRef-");
  add_idstring (&b, text, 40);
  gsi_buf_addf (&b, "-%.8s", h);
  return gsi_buf_detach (&b, NULL);
}

/* ---- shared -------------------------------------------------------------------------------- */

/* The subject's created time as "YYYY-MM-DDThh:mm:ssZ" in UTC: SPDX allows no other form, and one
 * form for both formats keeps them comparable.  Fractions of a second are dropped.  */
static int
normalise_time (const char *s, char out[32], gsi_error *err)
{
  struct tm tm;
  const char *p;
  long off = 0;

  if (s == NULL || *s == '\0')
    {
      strcpy (out, EPOCH_TIME);
      return 0;
    }
  memset (&tm, 0, sizeof tm);
  p = strptime (s, "%Y-%m-%d", &tm);
  if (p != NULL && (*p == 'T' || *p == 't' || *p == ' '))
    p = strptime (p + 1, "%H:%M:%S", &tm);
  else
    p = NULL;
  if (p != NULL && *p == '.')
    {
      p++;
      if (!isdigit ((unsigned char) *p))
        p = NULL;
      else
        while (isdigit ((unsigned char) *p))
          p++;
    }
  if (p != NULL && (*p == 'Z' || *p == 'z') && p[1] == '\0')
    ;
  else if (p != NULL && (*p == '+' || *p == '-') && isdigit ((unsigned char) p[1]) && isdigit ((unsigned char) p[2])
           && p[3] == ':' && isdigit ((unsigned char) p[4]) && isdigit ((unsigned char) p[5]) && p[6] == '\0')
    off = (*p == '-' ? -1 : 1) * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L);
  else
    return gsi_error_set (err, 0, "image creation time `%s` is not an RFC 3339 time", s);
  time_t t = timegm (&tm) - off;
  if (gmtime_r (&t, &tm) == NULL || strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return gsi_error_set (err, 0, "image creation time `%s` is out of range", s);
  return 0;
}

static void
add_json (gsi_buf *out, json_t *doc)
{
  char *text = json_dumps (doc, JSON_INDENT (2) | JSON_SORT_KEYS);

  gsi_buf_addstr (out, text);
  gsi_buf_addch (out, '\n');
  free (text);
}

/* Jansson refuses strings that are not UTF-8; the inventory's are, the caller's may not be.  */
static int
check_text (const char *what, const char *s, gsi_error *err)
{
  json_t *j;

  if (s == NULL)
    return 0;
  j = json_string (s);
  if (j == NULL)
    return gsi_error_set (err, 0, "%s is not valid UTF-8", what);
  json_decref (j);
  return 0;
}

static json_t *
jstr (const char *s)
{
  return json_string (s ? s : "");
}

/* ---- CycloneDX 1.5 ------------------------------------------------------------------------- */

static void
cdx_property (json_t *props, const char *name, const char *value)
{
  if (value != NULL)
    json_array_append_new (props, json_pack ("{s:s, s:o}", "name", name, "value", jstr (value)));
}

static json_t *
cdx_licenses (const char *license)
{
  if (spdx_single_id (license))
    return json_pack ("[{s:{s:s}}]", "license", "id", license);
  if (spdx_expression (license))
    return json_pack ("[{s:s}]", "expression", license);
  return json_pack ("[{s:{s:o}}]", "license", "name", jstr (license));
}

static json_t *
cdx_component (const gsi_package *p, const char *ref)
{
  json_t *c = json_object (), *props = json_array ();

  json_object_set_new (c, "type", json_string ("library"));
  json_object_set_new (c, "bom-ref", jstr (ref));
  json_object_set_new (c, "name", jstr (p->name));
  json_object_set_new (c, "version", jstr (p->version));
  json_object_set_new (c, "purl", jstr (p->purl));
  if (p->license != NULL)
    json_object_set_new (c, "licenses", cdx_licenses (p->license));
  /* Sorted by name, so the array reads the same in every document.  */
  cdx_property (props, "gsi:location", p->location);
  cdx_property (props, "gsi:owned_by_deb", p->owner_deb);
  if (p->ecosystem == GSI_ECO_DEB)
    {
      cdx_property (props, "gsi:source_package", p->source_name);
      cdx_property (props, "gsi:source_version", p->source_version);
    }
  json_object_set_new (c, "properties", props);
  return c;
}

static char *
os_ref (const gsi_inventory *inv)
{
  return inv->os_id ? xasprintf ("os:%s@%s", inv->os_id, inv->os_version_id ? inv->os_version_id : "unknown") : NULL;
}

static json_t *
write_cyclonedx (const gsi_inventory *inv, const gsi_sbom_subject *subj, const char *created)
{
  cleanup_free char *uuid = digest_uuid ("cyclonedx", subj);
  cleanup_free char *ipurl = image_purl (subj);
  cleanup_free char *osref = os_ref (inv);
  cleanup_strvec gsi_strvec refs = bom_refs (inv);
  json_t *comps = json_array (), *deps = json_array ();
  json_t *image, *doc;

  image = json_pack ("{s:s, s:s, s:o, s:o, s:s}", "type", "container", "bom-ref", ipurl, "name", jstr (subj->name),
                     "version", jstr (subj->digest), "purl", ipurl);
  if (osref != NULL)
    {
      json_t *os = json_pack ("{s:s, s:s, s:s}", "type", "operating-system", "bom-ref", osref, "name", inv->os_id);
      if (inv->os_version_id != NULL)
        json_object_set_new (os, "version", json_string (inv->os_version_id));
      json_array_append_new (comps, os);
      json_array_append_new (deps, json_string (osref));
    }
  for (size_t i = 0; i < inv->n; i++)
    {
      json_array_append_new (comps, cdx_component (&inv->pkgs[i], refs.v[i]));
      json_array_append_new (deps, json_string (refs.v[i]));
    }

  doc = json_object ();
  json_object_set_new (doc, "bomFormat", json_string ("CycloneDX"));
  json_object_set_new (doc, "specVersion", json_string ("1.5"));
  json_object_set_new (doc, "serialNumber", json_sprintf ("urn:uuid:%s", uuid));
  json_object_set_new (doc, "version", json_integer (1));
  json_object_set_new (doc, "metadata",
                       json_pack ("{s:s, s:{s:[{s:s, s:s}]}, s:o}", "timestamp", created, "tools", "components",
                                  "type", "application", "name", "gsi", "component", image));
  json_object_set_new (doc, "components", comps);
  json_object_set_new (doc, "dependencies", json_pack ("[{s:s, s:o}]", "ref", ipurl, "dependsOn", deps));
  return doc;
}

/* ---- SPDX 2.3 ------------------------------------------------------------------------------ */

static json_t *
spdx_purl_ref (const char *purl)
{
  return json_pack ("[{s:s, s:s, s:o}]", "referenceCategory", "PACKAGE-MANAGER", "referenceType", "purl",
                    "referenceLocator", jstr (purl));
}

static json_t *
spdx_relationship (const char *a, const char *type, const char *b)
{
  return json_pack ("{s:s, s:s, s:s}", "spdxElementId", a, "relationshipType", type, "relatedSpdxElement", b);
}

/* The comment carries what SPDX 2.3 has no field for: where the package was found and which
 * Debian package installed a Python distribution.  */
static json_t *
spdx_comment (const gsi_package *p)
{
  gsi_buf b = GSI_BUF_INIT;

  gsi_buf_addf (&b, "location: %s", p->location ? p->location : "");
  if (p->owner_deb != NULL)
    gsi_buf_addf (&b, "; installed by Debian package %s", p->owner_deb);
  json_t *j = json_string (b.buf);
  gsi_buf_release (&b);
  return j;
}

/* The fields every SPDX package of ours has: nothing is concluded from files, and neither dpkg
 * status nor Python metadata names a supplier or copyright the SBOM could vouch for.  version NULL:
 * no versionInfo.  */
static json_t *
spdx_package_base (const char *id, const char *name, const char *version, const char *declared)
{
  json_t *o = json_object ();

  json_object_set_new (o, "SPDXID", json_string (id));
  json_object_set_new (o, "name", jstr (name));
  if (version != NULL)
    json_object_set_new (o, "versionInfo", json_string (version));
  json_object_set_new (o, "downloadLocation", json_string ("NOASSERTION"));
  json_object_set_new (o, "filesAnalyzed", json_false ());
  json_object_set_new (o, "licenseConcluded", json_string ("NOASSERTION"));
  json_object_set_new (o, "licenseDeclared", jstr (declared));
  json_object_set_new (o, "copyrightText", json_string ("NOASSERTION"));
  json_object_set_new (o, "supplier", json_string ("NOASSERTION"));
  return o;
}

static json_t *
spdx_package (const gsi_package *p, const char *id, gsi_strvec *lic_refs, gsi_strvec *lic_texts)
{
  json_t *o;
  const char *declared = "NOASSERTION";
  cleanup_free char *ref = NULL;

  if (p->license != NULL && spdx_expression (p->license))
    declared = p->license;
  else if (p->license != NULL)
    {
      ref = license_ref (p->license);
      declared = ref;
      gsi_strvec_push (lic_refs, ref);
      gsi_strvec_push (lic_texts, p->license);
    }
  o = spdx_package_base (id, p->name, p->version ? p->version : "", declared);
  json_object_set_new (o, "externalRefs", spdx_purl_ref (p->purl));
  json_object_set_new (o, "comment", spdx_comment (p));
  if (p->ecosystem == GSI_ECO_DEB)
    json_object_set_new (o, "sourceInfo", json_sprintf ("built package from: %s %s", p->source_name, p->source_version));
  return o;
}

static int
cmp_index_str (const void *a, const void *b, void *ctx)
{
  const gsi_strvec *v = ctx;
  const size_t *x = a, *y = b;
  int c = strcmp (v->v[*x], v->v[*y]);
  return c ? c : (*x > *y) - (*x < *y);
}

/* The licences that are no SPDX expression, once each, sorted by id.  */
static json_t *
spdx_extracted (const gsi_strvec *refs, const gsi_strvec *texts)
{
  json_t *arr = json_array ();
  size_t *idx = xcalloc (refs->n ? refs->n : 1, sizeof *idx);

  for (size_t i = 0; i < refs->n; i++)
    idx[i] = i;
  qsort_r (idx, refs->n, sizeof *idx, cmp_index_str, (void *) refs);
  for (size_t i = 0; i < refs->n; i++)
    if (i == 0 || strcmp (refs->v[idx[i - 1]], refs->v[idx[i]]) != 0)
      json_array_append_new (arr, json_pack ("{s:s, s:s, s:s}", "licenseId", refs->v[idx[i]], "extractedText",
                                             texts->v[idx[i]], "name", texts->v[idx[i]]));
  free (idx);
  return arr;
}

static json_t *
write_spdx (const gsi_inventory *inv, const gsi_sbom_subject *subj, const char *created)
{
  cleanup_free char *uuid = digest_uuid ("spdx", subj);
  cleanup_free char *ipurl = image_purl (subj);
  cleanup_strvec gsi_strvec lic_refs = GSI_STRVEC_INIT;
  cleanup_strvec gsi_strvec lic_texts = GSI_STRVEC_INIT;
  cleanup_strvec gsi_strvec ids = GSI_STRVEC_INIT;
  json_t *pkgs = json_array (), *rels = json_array (), *image, *doc;
  gsi_buf ns = GSI_BUF_INIT;

  image = spdx_package_base ("SPDXRef-Image", subj->name, subj->digest ? subj->digest : "", "NOASSERTION");
  json_object_set_new (image, "primaryPackagePurpose", json_string ("CONTAINER"));
  json_object_set_new (image, "externalRefs", spdx_purl_ref (ipurl));
  if (subj->digest != NULL && gsi_digest_is_valid (subj->digest))
    json_object_set_new (image, "checksums", json_pack ("[{s:s, s:s}]", "algorithm", "SHA256", "checksumValue",
                                                        gsi_digest_hex (subj->digest)));
  json_array_append_new (pkgs, image);
  json_array_append_new (rels, spdx_relationship ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"));

  if (inv->os_id != NULL)
    {
      json_t *os = spdx_package_base ("SPDXRef-OperatingSystem", inv->os_id, inv->os_version_id, "NOASSERTION");
      json_object_set_new (os, "primaryPackagePurpose", json_string ("OPERATING-SYSTEM"));
      json_array_append_new (pkgs, os);
      json_array_append_new (rels, spdx_relationship ("SPDXRef-Image", "CONTAINS", "SPDXRef-OperatingSystem"));
    }
  for (size_t i = 0; i < inv->n; i++)
    gsi_strvec_push_owned (&ids, spdx_package_id (&inv->pkgs[i]));
  for (size_t i = 0; i < inv->n; i++)
    {
      const gsi_package *p = &inv->pkgs[i];
      json_array_append_new (pkgs, spdx_package (p, ids.v[i], &lic_refs, &lic_texts));
      json_array_append_new (rels, spdx_relationship ("SPDXRef-Image", "CONTAINS", ids.v[i]));
      if (p->owner_deb == NULL)
        continue;
      /* The Debian package that installed this distribution contains it too.  */
      size_t first, n = gsi_inventory_find (inv, GSI_ECO_DEB, p->owner_deb, &first);
      for (size_t k = first; k < first + n; k++)
        json_array_append_new (rels, spdx_relationship (ids.v[k], "CONTAINS", ids.v[i]));
    }

  gsi_buf_addstr (&ns, "https://spdx.org/spdxdocs/gsi/");
  purl_escape (&ns, subj->name, true);
  gsi_buf_addf (&ns, "-%s", uuid);

  doc = json_object ();
  json_object_set_new (doc, "spdxVersion", json_string ("SPDX-2.3"));
  json_object_set_new (doc, "dataLicense", json_string ("CC0-1.0"));
  json_object_set_new (doc, "SPDXID", json_string ("SPDXRef-DOCUMENT"));
  json_object_set_new (doc, "name", jstr (subj->name));
  json_object_set_new (doc, "documentNamespace", json_string (ns.buf));
  json_object_set_new (doc, "creationInfo", json_pack ("{s:[s], s:s}", "creators", "Tool: gsi", "created", created));
  json_object_set_new (doc, "packages", pkgs);
  json_object_set_new (doc, "relationships", rels);
  if (lic_refs.n > 0)
    json_object_set_new (doc, "hasExtractedLicensingInfos", spdx_extracted (&lic_refs, &lic_texts));
  gsi_buf_release (&ns);
  return doc;
}

int
gsi_sbom_write (const gsi_inventory *inv, const gsi_sbom_subject *subj, gsi_sbom_format fmt, gsi_buf *out,
                gsi_error *err)
{
  char created[32];
  json_t *doc;

  if (subj->name == NULL)
    return gsi_error_set (err, EINVAL, "SBOM subject has no name");
  if (check_text ("image name", subj->name, err) < 0 || check_text ("image digest", subj->digest, err) < 0
      || normalise_time (subj->created, created, err) < 0)
    return -1;
  doc = fmt == GSI_SBOM_SPDX ? write_spdx (inv, subj, created) : write_cyclonedx (inv, subj, created);
  add_json (out, doc);
  json_decref (doc);
  return 0;
}
