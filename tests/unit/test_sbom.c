/* SBOMs: the exact CycloneDX 1.5 and SPDX 2.3 documents of a small inventory (identifiers derived
 * from the digest, licences as ids, expressions, names and LicenseRefs, a distribution found in
 * two venvs, Debian ownership), byte-identical output for the same input, time normalisation and
 * the errors.  Validation against the official schemas is in tests/system/sbom.bats.  */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/inventory.h"
#include "vuln/sbom.h"

/* Hashes of the identifiers below, computed independently with Python's hashlib.  */
#define DIGEST_HEX "abababababababababababababababababababababababababababababababab"
#define ZLIB_HASH "5b39c775440c7703"
#define YAMLDEB_HASH "dcd4f62b8ade36f0"
#define PYYAML_HASH "12145c0c3eb9b917"
#define DUAL_HASH "f493d3c22d211c5f"
#define DIGEST "sha256:abababababababababababababababababababababababababababababababab"
#define VENV "var/lib/openstack/lib/python3.13/site-packages/"
#define DP "usr/lib/python3/dist-packages/"

static void
make_inventory (gsi_inventory *inv)
{
  static const char osr[] = "ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n";
  static const char status[] = "Package: python3-yaml\nStatus: install ok installed\nArchitecture: amd64\n"
                               "Source: pyyaml (6.0.2-1)\nVersion: 6.0.2-1+b2\n\n"
                               "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
                               "Source: zlib\nVersion: 1:1.3.dfsg-3\n";
  const struct
  {
    const char *meta, *loc;
  } py[] = {
    { "Name: PyYAML\nVersion: 6.0.2\nLicense: MIT\n", DP "PyYAML-6.0.2.dist-info" },
    { "Name: requests\nVersion: 2.32.3\nLicense: Apache 2.0\n", VENV "requests-2.32.3.dist-info" },
    { "Name: requests\nVersion: 2.32.3\nLicense: Apache 2.0\n", "opt/other/lib/python3.13/site-packages/requests-2.32.3.dist-info" },
    { "Name: dual\nVersion: 1.0\nLicense-Expression: Apache-2.0 OR (MIT AND BSD-3-Clause)\n", VENV "dual-1.0.dist-info" },
    { "Name: nolicence\nVersion: 0.1\n", VENV "nolicence-0.1.dist-info" },
  };

  memset (inv, 0, sizeof *inv);
  gsi_inventory_set_os_release (inv, osr, strlen (osr));
  assert_int_equal (gsi_inventory_add_dpkg_status (inv, status, strlen (status), "var/lib/dpkg/status"), 2);
  for (size_t i = 0; i < sizeof py / sizeof *py; i++)
    assert_int_equal (gsi_inventory_add_python_metadata (inv, py[i].meta, strlen (py[i].meta), py[i].loc), 1);
  gsi_inventory_finish (inv);
  /* What gsi_inventory_read gets from python3-yaml's .list.  */
  size_t first;
  assert_int_equal (gsi_inventory_find (inv, GSI_ECO_PYPI, "pyyaml", &first), 1);
  inv->pkgs[first].owner_deb = xstrdup ("python3-yaml");
}

static const gsi_sbom_subject subject = { "ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest", DIGEST,
                                          "2025-01-31T13:00:00.123456789+01:00" };

static json_t *
write_doc (const gsi_inventory *inv, gsi_sbom_format fmt, gsi_buf *out)
{
  gsi_error err = GSI_ERROR_INIT;
  json_error_t jerr;

  if (gsi_sbom_write (inv, &subject, fmt, out, &err) < 0)
    fail_msg ("gsi_sbom_write: %s", err.msg);
  assert_true (out->len > 0 && out->buf[out->len - 1] == '\n');
  json_t *doc = json_loadb (out->buf, out->len, 0, &jerr);
  if (doc == NULL)
    fail_msg ("not JSON: %s", jerr.text);
  return doc;
}

static const char *
str_at (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_string (v))
    fail_msg ("%s is not a string", key);
  return json_string_value (v);
}

/* "name=value;..." of a CycloneDX component's properties.  */
static char *
props (json_t *c)
{
  gsi_buf b = GSI_BUF_INIT;
  size_t i;
  json_t *p;

  json_array_foreach (json_object_get (c, "properties"), i, p)
    gsi_buf_addf (&b, "%s=%s;", str_at (p, "name"), str_at (p, "value"));
  return gsi_buf_detach (&b, NULL);
}

static char *
dump (json_t *j)
{
  return json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
}

static void
assert_json (json_t *j, const char *want)
{
  char *got = dump (j);
  assert_string_equal (got, want);
  free (got);
}

static void
test_cyclonedx (void **state)
{
  (void) state;
  gsi_inventory inv;
  gsi_buf out = GSI_BUF_INIT, again = GSI_BUF_INIT;

  make_inventory (&inv);
  json_t *doc = write_doc (&inv, GSI_SBOM_CYCLONEDX, &out);
  assert_string_equal (str_at (doc, "bomFormat"), "CycloneDX");
  assert_string_equal (str_at (doc, "specVersion"), "1.5");
  assert_int_equal (json_integer_value (json_object_get (doc, "version")), 1);
  /* sha256 ("cyclonedx\n" DIGEST) laid out as a version 5 UUID (computed with Python's hashlib).  */
  assert_string_equal (str_at (doc, "serialNumber"), "urn:uuid:9f78396e-714c-5939-9d45-a8995639ae82");

  json_t *meta = json_object_get (doc, "metadata");
  assert_string_equal (str_at (meta, "timestamp"), "2025-01-31T12:00:00Z");
  assert_json (json_object_get (meta, "tools"), "{\"components\":[{\"name\":\"gsi\",\"type\":\"application\"}]}");
  assert_json (json_object_get (meta, "component"),
               "{\"bom-ref\":\"pkg:oci/keystone@sha256%3A" DIGEST_HEX "?repository_url=ghcr.io/rackerlabs/"
               "genestack-images/keystone&tag=2025.1-latest\",\"name\":\"ghcr.io/rackerlabs/genestack-images/"
               "keystone:2025.1-latest\",\"purl\":\"pkg:oci/keystone@sha256%3A" DIGEST_HEX "?repository_url="
               "ghcr.io/rackerlabs/genestack-images/keystone&tag=2025.1-latest\",\"type\":\"container\","
               "\"version\":\"" DIGEST "\"}");

  json_t *comps = json_object_get (doc, "components");
  assert_int_equal (json_array_size (comps), 1 + inv.n);
  assert_json (json_array_get (comps, 0),
               "{\"bom-ref\":\"os:debian@13\",\"name\":\"debian\",\"type\":\"operating-system\",\"version\":\"13\"}");
  /* Inventory order: debs, then Python by normalised name, version and location.  */
  const char *refs[] = {
    "pkg:deb/debian/python3-yaml@6.0.2-1%2Bb2?arch=amd64&distro=debian-13",
    "pkg:deb/debian/zlib1g@1%3A1.3.dfsg-3?arch=amd64&distro=debian-13",
    "pkg:pypi/dual@1.0",
    "pkg:pypi/nolicence@0.1",
    "pkg:pypi/pyyaml@6.0.2",
    "pkg:pypi/requests@2.32.3#opt/other/lib/python3.13/site-packages/requests-2.32.3.dist-info",
    "pkg:pypi/requests@2.32.3#" VENV "requests-2.32.3.dist-info",
  };
  for (size_t i = 0; i < inv.n; i++)
    {
      json_t *c = json_array_get (comps, i + 1);
      assert_string_equal (str_at (c, "bom-ref"), refs[i]);
      assert_string_equal (str_at (c, "type"), "library");
      assert_string_equal (str_at (c, "purl"), inv.pkgs[i].purl);
      assert_string_equal (str_at (c, "version"), inv.pkgs[i].version);
    }
  json_t *c = json_array_get (comps, 2);
  assert_string_equal (str_at (c, "name"), "zlib1g");
  assert_string_equal (str_at (c, "version"), "1:1.3.dfsg-3");
  assert_null (json_object_get (c, "licenses"));
  char *p = props (c);
  assert_string_equal (p, "gsi:location=var/lib/dpkg/status;gsi:source_package=zlib;gsi:source_version=1:1.3.dfsg-3;");
  free (p);

  assert_json (json_object_get (json_array_get (comps, 3), "licenses"),
               "[{\"expression\":\"Apache-2.0 OR (MIT AND BSD-3-Clause)\"}]");
  assert_null (json_object_get (json_array_get (comps, 4), "licenses"));
  c = json_array_get (comps, 5);
  assert_string_equal (str_at (c, "name"), "PyYAML");
  assert_json (json_object_get (c, "licenses"), "[{\"license\":{\"id\":\"MIT\"}}]");
  p = props (c);
  assert_string_equal (p, "gsi:location=" DP "PyYAML-6.0.2.dist-info;gsi:owned_by_deb=python3-yaml;");
  free (p);
  assert_json (json_object_get (json_array_get (comps, 6), "licenses"), "[{\"license\":{\"name\":\"Apache 2.0\"}}]");

  json_t *deps = json_object_get (doc, "dependencies");
  assert_int_equal (json_array_size (deps), 1);
  assert_string_equal (str_at (json_array_get (deps, 0), "ref"), str_at (json_object_get (meta, "component"), "bom-ref"));
  json_t *on = json_object_get (json_array_get (deps, 0), "dependsOn");
  assert_int_equal (json_array_size (on), 1 + inv.n);
  assert_string_equal (json_string_value (json_array_get (on, 0)), "os:debian@13");
  assert_string_equal (json_string_value (json_array_get (on, 7)), refs[6]);

  /* Same input, same bytes; indented, keys sorted.  */
  json_decref (write_doc (&inv, GSI_SBOM_CYCLONEDX, &again));
  assert_int_equal (out.len, again.len);
  assert_memory_equal (out.buf, again.buf, out.len);
  assert_int_equal (strncmp (out.buf, "{\n  \"bomFormat\": \"CycloneDX\",\n  \"components\": [\n", 47), 0);

  json_decref (doc);
  gsi_buf_release (&out);
  gsi_buf_release (&again);
  gsi_inventory_clear (&inv);
}

static json_t *
spdx_package (json_t *doc, const char *id)
{
  size_t i;
  json_t *p;

  json_array_foreach (json_object_get (doc, "packages"), i, p)
    if (strcmp (str_at (p, "SPDXID"), id) == 0)
      return p;
  fail_msg ("no package %s", id);
  return NULL;
}

static void
test_spdx (void **state)
{
  (void) state;
  gsi_inventory inv;
  gsi_buf out = GSI_BUF_INIT, again = GSI_BUF_INIT;

  make_inventory (&inv);
  json_t *doc = write_doc (&inv, GSI_SBOM_SPDX, &out);
  assert_string_equal (str_at (doc, "spdxVersion"), "SPDX-2.3");
  assert_string_equal (str_at (doc, "dataLicense"), "CC0-1.0");
  assert_string_equal (str_at (doc, "SPDXID"), "SPDXRef-DOCUMENT");
  assert_string_equal (str_at (doc, "name"), subject.name);
  assert_string_equal (str_at (doc, "documentNamespace"),
                       "https://spdx.org/spdxdocs/gsi/ghcr.io/rackerlabs/genestack-images/keystone%3A2025.1-latest-"
                       "51ee1990-9a18-515f-9b90-752d7d9b8e2e");
  assert_json (json_object_get (doc, "creationInfo"), "{\"created\":\"2025-01-31T12:00:00Z\",\"creators\":[\"Tool: gsi\"]}");

  json_t *pkgs = json_object_get (doc, "packages");
  assert_int_equal (json_array_size (pkgs), 2 + inv.n);
  json_t *img = spdx_package (doc, "SPDXRef-Image");
  assert_string_equal (str_at (img, "primaryPackagePurpose"), "CONTAINER");
  assert_string_equal (str_at (img, "versionInfo"), DIGEST);
  assert_json (json_object_get (img, "checksums"), "[{\"algorithm\":\"SHA256\",\"checksumValue\":\"" DIGEST_HEX "\"}]");
  json_t *os = spdx_package (doc, "SPDXRef-OperatingSystem");
  assert_string_equal (str_at (os, "name"), "debian");
  assert_string_equal (str_at (os, "versionInfo"), "13");

  /* Ids: ecosystem, name, and the first 16 hex of sha256 (purl "\n" location) (Python's hashlib).  */
  json_t *z = spdx_package (doc, "SPDXRef-Package-deb-zlib1g-" ZLIB_HASH);
  assert_json (z, "{\"SPDXID\":\"SPDXRef-Package-deb-zlib1g-" ZLIB_HASH "\",\"comment\":\"location: var/lib/dpkg/status\","
                  "\"copyrightText\":\"NOASSERTION\",\"downloadLocation\":\"NOASSERTION\",\"externalRefs\":[{"
                  "\"referenceCategory\":\"PACKAGE-MANAGER\",\"referenceLocator\":\"pkg:deb/debian/zlib1g@1%3A1.3.dfsg-3?"
                  "arch=amd64&distro=debian-13\",\"referenceType\":\"purl\"}],\"filesAnalyzed\":false,"
                  "\"licenseConcluded\":\"NOASSERTION\",\"licenseDeclared\":\"NOASSERTION\",\"name\":\"zlib1g\","
                  "\"sourceInfo\":\"built package from: zlib 1:1.3.dfsg-3\",\"supplier\":\"NOASSERTION\","
                  "\"versionInfo\":\"1:1.3.dfsg-3\"}");
  json_t *y = spdx_package (doc, "SPDXRef-Package-pypi-pyyaml-" PYYAML_HASH);
  assert_string_equal (str_at (y, "licenseDeclared"), "MIT");
  assert_string_equal (str_at (y, "comment"), "location: " DP "PyYAML-6.0.2.dist-info; installed by Debian package python3-yaml");
  assert_null (json_object_get (y, "sourceInfo"));
  json_t *d = spdx_package (doc, "SPDXRef-Package-pypi-dual-" DUAL_HASH);
  assert_string_equal (str_at (d, "licenseDeclared"), "Apache-2.0 OR (MIT AND BSD-3-Clause)");

  /* "Apache 2.0" is no SPDX expression: a LicenseRef, listed once for both requests.  */
  size_t i, nref = 0;
  json_t *p;
  json_array_foreach (pkgs, i, p)
    if (strcmp (str_at (p, "licenseDeclared"), "LicenseRef-Apache-2.0-717b6858") == 0)
      nref++;
  assert_int_equal (nref, 2);
  assert_json (json_object_get (doc, "hasExtractedLicensingInfos"),
               "[{\"extractedText\":\"Apache 2.0\",\"licenseId\":\"LicenseRef-Apache-2.0-717b6858\",\"name\":\"Apache 2.0\"}]");

  /* DESCRIBES the image, which CONTAINS the OS and every package; python3-yaml CONTAINS PyYAML.  */
  json_t *rels = json_object_get (doc, "relationships");
  assert_int_equal (json_array_size (rels), 1 + 1 + inv.n + 1);
  assert_json (json_array_get (rels, 0), "{\"relatedSpdxElement\":\"SPDXRef-Image\",\"relationshipType\":\"DESCRIBES\","
                                         "\"spdxElementId\":\"SPDXRef-DOCUMENT\"}");
  assert_json (json_array_get (rels, 1), "{\"relatedSpdxElement\":\"SPDXRef-OperatingSystem\",\"relationshipType\":"
                                         "\"CONTAINS\",\"spdxElementId\":\"SPDXRef-Image\"}");
  gsi_buf owned = GSI_BUF_INIT;
  json_array_foreach (rels, i, p)
    if (strcmp (str_at (p, "spdxElementId"), "SPDXRef-Image") != 0 && strcmp (str_at (p, "spdxElementId"), "SPDXRef-DOCUMENT") != 0)
      gsi_buf_addf (&owned, "%s %s %s", str_at (p, "spdxElementId"), str_at (p, "relationshipType"),
                    str_at (p, "relatedSpdxElement"));
  assert_string_equal (owned.buf, "SPDXRef-Package-deb-python3-yaml-" YAMLDEB_HASH " CONTAINS SPDXRef-Package-pypi-pyyaml-" PYYAML_HASH);
  gsi_buf_release (&owned);

  json_decref (write_doc (&inv, GSI_SBOM_SPDX, &again));
  assert_int_equal (out.len, again.len);
  assert_memory_equal (out.buf, again.buf, out.len);

  json_decref (doc);
  gsi_buf_release (&out);
  gsi_buf_release (&again);
  gsi_inventory_clear (&inv);
}

static void
test_subject_and_errors (void **state)
{
  (void) state;
  gsi_inventory inv = { 0 };
  gsi_buf out = GSI_BUF_INIT;
  gsi_error err = GSI_ERROR_INIT;
  gsi_sbom_format fmt = GSI_SBOM_SPDX;
  json_error_t jerr;

  assert_int_equal (gsi_sbom_format_parse ("cyclonedx", &fmt, &err), 0);
  assert_int_equal (fmt, GSI_SBOM_CYCLONEDX);
  assert_int_equal (gsi_sbom_format_parse ("spdx", &fmt, &err), 0);
  assert_int_equal (fmt, GSI_SBOM_SPDX);
  assert_int_equal (gsi_sbom_format_parse ("SPDX-json", &fmt, &err), -1);
  assert_string_equal (err.msg, "unknown SBOM format `SPDX-json` (expected cyclonedx or spdx)");
  gsi_error_clear (&err);

  /* No created time: the epoch.  A local name: no repository qualifiers; an empty image: no
   * components, no OS.  */
  gsi_sbom_subject local = { "keystone", DIGEST, NULL };
  assert_int_equal (gsi_sbom_write (&inv, &local, GSI_SBOM_CYCLONEDX, &out, &err), 0);
  json_t *doc = json_loadb (out.buf, out.len, 0, &jerr);
  assert_non_null (doc);
  json_t *meta = json_object_get (doc, "metadata");
  assert_string_equal (str_at (meta, "timestamp"), "1970-01-01T00:00:00Z");
  assert_string_equal (str_at (json_object_get (meta, "component"), "purl"),
                       "pkg:oci/keystone@sha256%3A" DIGEST_HEX "?repository_url=docker.io/library/keystone");
  assert_int_equal (json_array_size (json_object_get (doc, "components")), 0);
  json_decref (doc);

  const struct
  {
    const char *in, *out;
  } times[] = {
    { "2025-01-31T12:00:00Z", "2025-01-31T12:00:00Z" },
    { "2025-01-31t23:30:00.5-01:00", "2025-02-01T00:30:00Z" },
    { "2024-02-29T00:00:00+00:00", "2024-02-29T00:00:00Z" },
  };
  for (size_t i = 0; i < sizeof times / sizeof *times; i++)
    {
      gsi_sbom_subject s = { "x", DIGEST, times[i].in };
      gsi_buf_reset (&out);
      assert_int_equal (gsi_sbom_write (&inv, &s, GSI_SBOM_SPDX, &out, &err), 0);
      doc = json_loadb (out.buf, out.len, 0, &jerr);
      assert_string_equal (str_at (json_object_get (doc, "creationInfo"), "created"), times[i].out);
      json_decref (doc);
    }

  const char *bad[] = { "yesterday", "2025-01-31", "2025-01-31T12:00:00", "2025-01-31T12:00:00Zjunk", "2025-01-31T12:00:00+1" };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    {
      gsi_sbom_subject s = { "x", DIGEST, bad[i] };
      gsi_buf_reset (&out);
      assert_int_equal (gsi_sbom_write (&inv, &s, GSI_SBOM_CYCLONEDX, &out, &err), -1);
      char *want = xasprintf ("image creation time `%s` is not an RFC 3339 time", bad[i]);
      assert_string_equal (err.msg, want);
      free (want);
      gsi_error_clear (&err);
      assert_int_equal (out.len, 0);
    }

  gsi_sbom_subject notutf8 = { "bad\xff", DIGEST, NULL };
  assert_int_equal (gsi_sbom_write (&inv, &notutf8, GSI_SBOM_SPDX, &out, &err), -1);
  assert_string_equal (err.msg, "image name is not valid UTF-8");
  gsi_error_clear (&err);
  gsi_buf_release (&out);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_cyclonedx),
    cmocka_unit_test (test_spdx),
    cmocka_unit_test (test_subject_and_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
