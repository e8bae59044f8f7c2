/* The vulnerability database and the matcher: OSV range semantics (each edge case its own record),
 * withdrawn records, alias merging, malformed records, atomic imports, folders and zips, the
 * Debian tracker excerpt of tests/data/vuln, the whole PyPA snapshot (../shared/vulndata) and the
 * date-scheme rule on its real OpenStack records.  */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/inventory.h"
#include "vuln/vulndb.h"

typedef struct fixture
{
  char dir[64];
  gsi_vulndb *db;
} fixture;

static int
setup (void **state)
{
  fixture *fx = xcalloc (1, sizeof *fx);
  gsi_error err = GSI_ERROR_INIT;

  strcpy (fx->dir, "/tmp/gsi-test-vulndb-XXXXXX");
  if (mkdtemp (fx->dir) == NULL)
    return -1;
  cleanup_free char *path = xasprintf ("%s/vuln.db", fx->dir);
  if (gsi_vulndb_open_path (path, &fx->db, &err) < 0)
    {
      fprintf (stderr, "%s\n", err.msg);
      gsi_error_clear (&err);
      return -1;
    }
  *state = fx;
  return 0;
}

static int
teardown (void **state)
{
  fixture *fx = *state;
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", fx->dir);

  gsi_vulndb_close (fx->db);
  if (system (cmd) != 0)
    return -1;
  free (fx);
  return 0;
}

static char *
write_file (fixture *fx, const char *name, const char *text)
{
  char *path = xasprintf ("%s/%s", fx->dir, name);
  char *slash = strrchr (path, '/');
  FILE *f;

  *slash = '\0';
  mkdir (path, 0755);
  *slash = '/';
  f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
  return path;
}

static void
import_ok (fixture *fx, const char *path, gsi_import_stats *st)
{
  gsi_error err = GSI_ERROR_INIT;

  if (gsi_vulndb_import (fx->db, path, st, &err) < 0)
    fail_msg ("import %s: %s", path, err.msg);
}

/* Imports a record given as text (YAML when the name says so).  */
static void
import_text (fixture *fx, const char *name, const char *text)
{
  gsi_import_stats st;
  cleanup_free char *path = write_file (fx, name, text);

  import_ok (fx, path, &st);
  assert_int_equal (st.files, 1);
}

static const char trixie_os[] = "ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n";

static void
add_py (gsi_inventory *inv, const char *name, const char *version)
{
  cleanup_free char *meta = xasprintf ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n", name, version);
  cleanup_free char *loc = xasprintf ("var/lib/openstack/lib/python3.13/site-packages/%s-%s.dist-info", name, version);

  assert_int_equal (gsi_inventory_add_python_metadata (inv, meta, strlen (meta), loc), 1);
}

static void
add_deb (gsi_inventory *inv, const char *package, const char *source, const char *version)
{
  cleanup_free char *st = xasprintf ("Package: %s\nStatus: install ok installed\n%s%s%sVersion: %s\n\n", package,
                                     source ? "Source: " : "", source ? source : "", source ? "\n" : "", version);

  assert_int_equal (gsi_inventory_add_dpkg_status (inv, st, strlen (st), "var/lib/dpkg/status"), 1);
}

static void
match_ok (fixture *fx, gsi_inventory *inv, gsi_findings *f)
{
  gsi_error err = GSI_ERROR_INIT;

  gsi_inventory_finish (inv);
  if (gsi_vulndb_match (fx->db, inv, f, &err) < 0)
    fail_msg ("match: %s", err.msg);
}

/* The finding of id (the preferred id) on the package named name, or NULL.  */
static const gsi_finding *
find (const gsi_inventory *inv, const gsi_findings *f, const char *name, const char *version, const char *id)
{
  for (size_t i = 0; i < f->n; i++)
    {
      const gsi_package *p = &inv->pkgs[f->v[i].pkg];
      if (strcmp (p->name, name) == 0 && (version == NULL || strcmp (p->version, version) == 0)
          && strcmp (f->v[i].id, id) == 0)
        return &f->v[i];
    }
  return NULL;
}

static size_t
count_for (const gsi_inventory *inv, const gsi_findings *f, const char *name, const char *version)
{
  size_t n = 0;

  for (size_t i = 0; i < f->n; i++)
    if (strcmp (inv->pkgs[f->v[i].pkg].name, name) == 0
        && (version == NULL || strcmp (inv->pkgs[f->v[i].pkg].version, version) == 0))
      n++;
  return n;
}

/* Asserts what one record says about each version: "V" affected with no fix, "V>F" affected and
 * fixed in F, "-V" not affected.  */
static void
check_versions (fixture *fx, const char *pkg, const char *id, const char *const *cases)
{
  for (size_t i = 0; cases[i]; i++)
    {
      gsi_inventory inv = { 0 };
      gsi_findings f;
      bool want = cases[i][0] != '-';
      cleanup_free char *version = xstrdup (cases[i] + !want);
      char *fixed = strchr (version, '>');
      const gsi_finding *hit;

      if (fixed)
        *fixed++ = '\0';
      add_py (&inv, pkg, version);
      match_ok (fx, &inv, &f);
      hit = find (&inv, &f, pkg, version, id);
      if (want != (hit != NULL))
        fail_msg ("%s %s: %s should %smatch", pkg, version, id, want ? "" : "not ");
      if (hit && (fixed ? hit->fixed_version == NULL || strcmp (hit->fixed_version, fixed) != 0 : hit->fixed_version != NULL))
        fail_msg ("%s %s: %s fixed in `%s`, want `%s`", pkg, version, id, hit->fixed_version ? hit->fixed_version : "(none)",
                  fixed ? fixed : "(none)");
      gsi_findings_clear (&f);
      gsi_inventory_clear (&inv);
    }
}

/* ---- OSV range semantics --------------------------------------------------------------------- */

static void
test_introduced_zero (void **state)
{
  fixture *fx = *state;
  static const char *const cases[] = { "0.1>1.2", "1.1.9>1.2", "1.2a1>1.2", "-1.2", "-1.2.0", "-1.3", "0.0.0.dev1>1.2", NULL };

  import_text (fx, "a/OSV-1.yaml",
               "id: TEST-INTRO0\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: Foo_Bar}\n"
               "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - fixed: \"1.2\"\n");
  check_versions (fx, "foo-bar", "TEST-INTRO0", cases);
  /* The name is PEP 503-normalised on both sides.  */
  check_versions (fx, "Foo.Bar", "TEST-INTRO0", cases);
}

static void
test_several_pairs (void **state)
{
  fixture *fx = *state;
  /* Pairs given out of order, as nova's PYSEC-2019-191 gives them.  */
  static const char *const cases[] = { "0.9>1.2.5", "1.0>1.2.5", "1.1>1.2.5", "-1.2.5", "-1.5", "2.0>2.1.3",
                                        "2.1.2>2.1.3", "-2.1.3", "-3.0", "3.5>3.6", "-3.6", NULL };

  import_text (fx, "OSV-2.json",
               "{\"id\": \"TEST-PAIRS\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"package\": "
               "{\"ecosystem\": \"PyPI\", \"name\": \"pairs\"}, \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": ["
               "{\"introduced\": \"2.0\"}, {\"fixed\": \"2.1.3\"}, {\"introduced\": \"0\"}, {\"fixed\": \"1.2.5\"}]},"
               "{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"3.5\"}, {\"fixed\": \"3.6\"}]}]}]}");
  import_text (fx, "OSV-2b.json",
               "{\"id\": \"TEST-PAIRS-LOW\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"package\": "
               "{\"ecosystem\": \"PyPI\", \"name\": \"pairs\"}, \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\": ["
               "{\"introduced\": \"1.0\"}, {\"fixed\": \"1.2.5\"}]}]}]}");
  check_versions (fx, "pairs", "TEST-PAIRS", cases);
}

static void
test_last_affected (void **state)
{
  fixture *fx = *state;
  static const char *const cases[] = { "-0.9", "1.0", "1.4", "1.4.0", "-1.4.1", "-1.4.post1", "-2.0", NULL };

  import_text (fx, "OSV-3.yaml",
               "id: TEST-LAST\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: last}\n"
               "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.0\"\n    - last_affected: \"1.4\"\n");
  check_versions (fx, "last", "TEST-LAST", cases);
}

static void
test_limit (void **state)
{
  fixture *fx = *state;
  static const char *const limited[] = { "0.1", "1.9.9", "-2.0", "-2.5", NULL };
  static const char *const star[] = { "0.1", "99.0", NULL };
  /* A limit bounds the range even when a later introduced would reopen it.  */
  static const char *const pair[] = { "-0.9", "1.0>1.1", "-1.1", "-3.0", NULL };

  import_text (fx, "OSV-4.yaml",
               "id: TEST-LIMIT\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: lim}\n"
               "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - limit: \"2.0\"\n"
               "- package: {ecosystem: PyPI, name: star}\n"
               "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - limit: \"*\"\n"
               "- package: {ecosystem: PyPI, name: limpair}\n"
               "  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.0\"\n    - fixed: \"1.1\"\n"
               "    - introduced: \"2.0\"\n    - limit: \"2.0\"\n");
  check_versions (fx, "lim", "TEST-LIMIT", limited);
  check_versions (fx, "star", "TEST-LIMIT", star);
  check_versions (fx, "limpair", "TEST-LIMIT", pair);
}

static void
test_versions_list (void **state)
{
  fixture *fx = *state;
  static const char *const cases[] = { "1.0", "1.0.0", "1.1", "1.1rc1", "-1.2", "-0.9", "-1.0.post1", "-1.0+local", NULL };
  /* Ranges that say no, and a list that says yes: the list wins (either is enough).  */
  static const char *const both[] = { "1.5>1.7", "3.0", "-2.0", NULL };

  import_text (fx, "OSV-5.yaml",
               "id: TEST-LIST\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: listed}\n"
               "  versions: [1.0, \"1.1\", 1.1rc1]\n"
               "- package: {ecosystem: PyPI, name: both}\n"
               "  ranges:\n  - type: ECOSYSTEM\n    events: [{introduced: \"1.5\"}, {fixed: \"1.7\"}]\n"
               "  versions: [\"3.0\"]\n");
  check_versions (fx, "listed", "TEST-LIST", cases);
  check_versions (fx, "both", "TEST-LIST", both);
}

static void
test_semver_and_legacy (void **state)
{
  fixture *fx = *state;
  /* SEMVER ranges of PyPI entries compare as PEP 440; legacy strings sort below every PEP 440
   * version, as packaging < 22 and osv.dev order them.  */
  static const char *const cases[] = { "1.0.0-rc.1>1.0.0", "0.9.9>1.0.0", "-1.0.0", "0.3m1>1.0.0", NULL };

  import_text (fx, "OSV-6.yaml",
               "id: TEST-SEMVER\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: sem}\n"
               "  ranges:\n  - type: SEMVER\n    events: [{introduced: \"0\"}, {fixed: \"1.0.0\"}]\n");
  check_versions (fx, "sem", "TEST-SEMVER", cases);
  {
    gsi_inventory inv = { 0 };
    gsi_findings f;
    add_py (&inv, "sem", "0.3m1");
    match_ok (fx, &inv, &f);
    assert_int_equal (f.warnings.n, 1);
    assert_non_null (strstr (f.warnings.v[0], "not a PEP 440 version"));
    gsi_findings_clear (&f);
    gsi_inventory_clear (&inv);
  }
}

static void
test_withdrawn (void **state)
{
  fixture *fx = *state;
  static const char *const cases[] = { "-1.0", NULL };
  gsi_import_stats st;
  gsi_vulndb_source *src;
  size_t n;
  gsi_error err = GSI_ERROR_INIT;
  cleanup_free char *path = write_file (fx, "w/OSV-7.yaml",
                                        "id: TEST-WITHDRAWN\nmodified: 2024-01-01T00:00:00Z\n"
                                        "withdrawn: 2024-02-01T00:00:00Z\naffected:\n"
                                        "- package: {ecosystem: PyPI, name: wd}\n"
                                        "  ranges:\n  - type: ECOSYSTEM\n    events: [{introduced: \"0\"}]\n");

  import_ok (fx, path, &st);
  assert_int_equal (st.records, 1);
  assert_int_equal (st.withdrawn, 1);
  check_versions (fx, "wd", "TEST-WITHDRAWN", cases);
  /* Kept for status and for the next import's "modified" comparison.  */
  assert_int_equal (gsi_vulndb_status (fx->db, &src, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (src[0].name, "osv:PyPI");
  assert_int_equal (src[0].records, 1);
  assert_string_equal (src[0].newest, "2024-01-01T00:00:00Z");
  gsi_vulndb_sources_free (src, n);
  /* The same record again is unchanged; an older one does not replace it.  */
  import_ok (fx, path, &st);
  assert_int_equal (st.unchanged, 1);
}

static void
test_aliases_merge (void **state)
{
  fixture *fx = *state;
  gsi_inventory inv = { 0 };
  gsi_findings f;
  const gsi_finding *hit;

  /* Three records, chained by aliases (PYSEC~GHSA through the CVE, GHSA~OSV through the GHSA id),
   * and one unrelated: two findings.  */
  import_text (fx, "m/PYSEC-1.yaml",
               "id: PYSEC-2099-1\nmodified: 2024-01-01T00:00:00Z\naliases: [CVE-2099-0001]\nsummary: first\n"
               "affected:\n- package: {ecosystem: PyPI, name: merged}\n  ranges:\n  - type: ECOSYSTEM\n"
               "    events: [{introduced: \"0\"}, {fixed: \"1.2\"}]\n");
  import_text (fx, "m/GHSA.json",
               "{\"id\": \"GHSA-aaaa-bbbb-cccc\", \"modified\": \"2024-01-01T00:00:00Z\", \"aliases\": [\"CVE-2099-0001\"],"
               " \"severity\": [{\"type\": \"CVSS_V3\", \"score\": \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}],"
               " \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\", \"name\": \"Merged\"}, \"ranges\": [{\"type\": "
               "\"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"1.3\"}]}]}]}");
  import_text (fx, "m/OSV.yaml",
               "id: OSV-2099-9\nmodified: 2024-01-01T00:00:00Z\naliases: [GHSA-aaaa-bbbb-cccc]\n"
               "affected:\n- package: {ecosystem: PyPI, name: merged}\n  versions: [\"1.0\"]\n");
  import_text (fx, "m/OTHER.yaml",
               "id: PYSEC-2099-2\nmodified: 2024-01-01T00:00:00Z\n"
               "affected:\n- package: {ecosystem: PyPI, name: merged}\n  versions: [\"1.0\"]\n");
  add_py (&inv, "merged", "1.0");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 2);
  hit = find (&inv, &f, "merged", "1.0", "CVE-2099-0001");
  assert_non_null (hit);
  assert_string_equal (hit->aliases[0], "GHSA-aaaa-bbbb-cccc");
  assert_string_equal (hit->aliases[1], "OSV-2099-9");
  assert_string_equal (hit->aliases[2], "PYSEC-2099-1");
  assert_null (hit->aliases[3]);
  /* The highest fix clears every merged record; the CVSS vector scores 9.8.  */
  assert_string_equal (hit->fixed_version, "1.3");
  assert_int_equal (hit->severity, GSI_SEV_CRITICAL);
  assert_true (hit->cvss_score > 9.79 && hit->cvss_score < 9.81);
  assert_string_equal (hit->summary, "first");
  hit = find (&inv, &f, "merged", "1.0", "PYSEC-2099-2");
  assert_non_null (hit);
  assert_null (hit->aliases[0]);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

/* ---- malformed records and atomic imports ---------------------------------------------------- */

static void
expect_import_error (fixture *fx, const char *name, const char *text, const char *want)
{
  gsi_error err = GSI_ERROR_INIT;
  gsi_import_stats st;
  cleanup_free char *path = write_file (fx, name, text);

  if (gsi_vulndb_import (fx->db, path, &st, &err) == 0)
    fail_msg ("%s should not import", name);
  if (strstr (err.msg, path) == NULL || strstr (err.msg, want) == NULL)
    fail_msg ("%s: `%s` should name the file and say `%s`", name, err.msg, want);
  gsi_error_clear (&err);
}

static void
test_malformed (void **state)
{
  fixture *fx = *state;

  expect_import_error (fx, "bad/syntax.yaml", "id: X\nmodified: 2024-01-01T00:00:00Z\naffected: [\n", "invalid YAML");
  expect_import_error (fx, "bad/syntax.json", "{\"id\": \"X\",\n \"modified\": }", ":2:");
  expect_import_error (fx, "bad/noid.yaml", "modified: 2024-01-01T00:00:00Z\n", "has no \"id\"");
  expect_import_error (fx, "bad/nomod.yaml", "id: X-1\n", "record X-1 has no \"modified\"");
  expect_import_error (fx, "bad/affected.yaml", "id: X-1\nmodified: 2024-01-01T00:00:00Z\naffected: {a: 1}\n",
                       "\"affected\" is not a list");
  expect_import_error (fx, "bad/twokeys.yaml",
                       "id: X-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n"
                       "  ranges:\n  - type: ECOSYSTEM\n    events: [{introduced: \"0\", fixed: \"1\"}]\n",
                       "affected[0].ranges[0].events[0] needs exactly one of introduced, fixed, last_affected, limit");
  expect_import_error (fx, "bad/noevents.yaml",
                       "id: X-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n"
                       "  ranges:\n  - type: ECOSYSTEM\n",
                       "events is not a non-empty list");
  expect_import_error (fx, "bad/rtype.yaml",
                       "id: X-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n"
                       "  ranges:\n  - type: CALVER\n    events: [{introduced: \"0\"}]\n",
                       "unknown range type `CALVER`");
  expect_import_error (fx, "bad/pkg.yaml",
                       "id: X-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI}\n",
                       "affected[0].package needs \"ecosystem\" and \"name\"");
  expect_import_error (fx, "bad/versions.yaml",
                       "id: X-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n"
                       "  versions: [[1]]\n",
                       "affected[0].versions[0] is not a non-empty string");
  expect_import_error (fx, "bad/alias.yaml", "id: X-1\nmodified: 2024-01-01T00:00:00Z\naliases: CVE-1\n",
                       "aliases is not a list");
}

static void
test_atomic_import (void **state)
{
  fixture *fx = *state;
  gsi_error err = GSI_ERROR_INIT;
  gsi_import_stats st;
  gsi_vulndb_source *src;
  size_t n;
  gsi_inventory inv = { 0 };
  gsi_findings f;
  cleanup_free char *bad = NULL;

  free (write_file (fx, "half/a-good.yaml",
                    "id: GOOD-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: good}\n"
                    "  versions: [\"1.0\"]\n"));
  free (write_file (fx, "half/b-good.yaml",
                    "id: GOOD-2\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: good}\n"
                    "  versions: [\"1.0\"]\n"));
  bad = write_file (fx, "half/c-bad.yaml", "id: BAD-1\nmodified: 2024-01-01T00:00:00Z\naffected: 7\n");
  {
    cleanup_free char *dir = xasprintf ("%s/half", fx->dir);
    assert_int_equal (gsi_vulndb_import (fx->db, dir, &st, &err), -1);
  }
  assert_non_null (strstr (err.msg, bad));
  gsi_error_clear (&err);
  /* Two records were read before the failure: neither was committed.  */
  assert_int_equal (gsi_vulndb_status (fx->db, &src, &n, &err), 0);
  assert_int_equal (n, 0);
  gsi_vulndb_sources_free (src, n);
  add_py (&inv, "good", "1.0");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 0);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

/* A zip of OSV records, as osv.dev's per-ecosystem all.zip.  */
static void
test_zip (void **state)
{
  fixture *fx = *state;
  cleanup_free char *zip = xasprintf ("%s/all.zip", fx->dir);
  static const char *const names[] = { "Z-1.json", "sub/Z-2.yaml", "README.txt" };
  static const char *const texts[] = {
    ("{\"id\": \"Z-1\", \"modified\": \"2024-01-01T00:00:00Z\", \"affected\": [{\"package\": {\"ecosystem\": \"PyPI\","
     " \"name\": \"zipped\"}, \"versions\": [\"1.0\"]}]}"),
    "id: Z-2\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: npm, name: left-pad}\n",
    "not a record",
  };
  struct archive *a = archive_write_new ();
  gsi_import_stats st;
  gsi_inventory inv = { 0 };
  gsi_findings f;

  archive_write_set_format_zip (a);
  assert_int_equal (archive_write_open_filename (a, zip), ARCHIVE_OK);
  for (size_t i = 0; i < 3; i++)
    {
      struct archive_entry *e = archive_entry_new ();
      archive_entry_set_pathname (e, names[i]);
      archive_entry_set_filetype (e, AE_IFREG);
      archive_entry_set_perm (e, 0644);
      archive_entry_set_size (e, (la_int64_t) strlen (texts[i]));
      assert_int_equal (archive_write_header (a, e), ARCHIVE_OK);
      assert_int_equal (archive_write_data (a, texts[i], strlen (texts[i])), (la_ssize_t) strlen (texts[i]));
      archive_entry_free (e);
    }
  archive_write_close (a);
  archive_write_free (a);
  import_ok (fx, zip, &st);
  assert_int_equal (st.files, 2);
  assert_int_equal (st.records, 1);
  assert_int_equal (st.skipped_ecosystem, 1);
  add_py (&inv, "zipped", "1.0");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 1);
  assert_string_equal (f.v[0].id, "Z-1");
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

/* OSV's Debian ecosystem: source package, release by number.  */
static void
test_osv_debian (void **state)
{
  fixture *fx = *state;
  gsi_inventory inv = { 0 };
  gsi_findings f;

  import_text (fx, "d/DEBIAN-CVE.json",
               "{\"id\": \"DEBIAN-CVE-2099-5\", \"modified\": \"2024-01-01T00:00:00Z\", \"aliases\": [\"CVE-2099-5\"],"
               " \"affected\": [{\"package\": {\"ecosystem\": \"Debian:13\", \"name\": \"foo\"}, \"ranges\": [{\"type\": "
               "\"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"2.0-1+deb13u1\"}]}]},"
               " {\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"foo\"}, \"ranges\": [{\"type\": "
               "\"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"}, {\"fixed\": \"1.0-1+deb12u1\"}]}]}]}");
  gsi_inventory_set_os_release (&inv, trixie_os, strlen (trixie_os));
  add_deb (&inv, "libfoo1", "foo", "2.0-1");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 1);
  assert_string_equal (f.v[0].id, "CVE-2099-5");
  assert_string_equal (f.v[0].fixed_version, "2.0-1+deb13u1");
  assert_string_equal (f.v[0].source, "osv:Debian");
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

/* ---- Debian tracker -------------------------------------------------------------------------- */

static void
import_tracker (fixture *fx)
{
  gsi_import_stats st;

  import_ok (fx, "tests/data/vuln/debian-tracker.json", &st);
  assert_int_equal (st.files, 1);
  assert_int_equal (st.records, 19);
}

static void
test_tracker_trixie (void **state)
{
  fixture *fx = *state;
  gsi_inventory inv = { 0 };
  gsi_findings f;
  const gsi_finding *hit;

  import_tracker (fx);
  gsi_inventory_set_os_release (&inv, trixie_os, strlen (trixie_os));
  /* Older than trixie's fixes: fixable.  */
  add_deb (&inv, "libsqlite3-0", "sqlite3", "3.46.1-7");
  /* As the trixie image has them: only the open (unfixed) entries.  */
  add_deb (&inv, "libc6", "glibc", "2.41-12+deb13u5");
  add_deb (&inv, "libssl3t64", "openssl", "3.5.9-1~deb13u1");
  add_deb (&inv, "libpython3.13-minimal", "python3.13", "3.13.5-2+deb13u5");
  add_deb (&inv, "apt", NULL, "3.0.4");
  add_deb (&inv, "libexpat1", "expat", "2.8.5-1");
  match_ok (fx, &inv, &f);

  hit = find (&inv, &f, "libsqlite3-0", NULL, "CVE-2025-7709");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "3.46.1-7+deb13u1");
  assert_int_equal (hit->severity, GSI_SEV_MEDIUM);
  assert_string_equal (hit->source, "debian-tracker");
  assert_string_equal (hit->summary, "Integer overflow in the FTS5 extension.");
  assert_non_null (find (&inv, &f, "libsqlite3-0", NULL, "CVE-2026-11822"));
  assert_null (find (&inv, &f, "libsqlite3-0", NULL, "CVE-2025-6965")); /* fixed in 3.46.1-7 itself */
  assert_int_equal (count_for (&inv, &f, "libsqlite3-0", NULL), 2);

  hit = find (&inv, &f, "libc6", NULL, "CVE-2010-4756");
  assert_non_null (hit);
  assert_null (hit->fixed_version);
  assert_int_equal (hit->severity, GSI_SEV_LOW);
  assert_int_equal (count_for (&inv, &f, "libc6", NULL), 1); /* CVE-2023-4911, -5928, -6791 fixed; TEMP undetermined */
  assert_int_equal (count_for (&inv, &f, "libssl3t64", NULL), 0);
  assert_int_equal (count_for (&inv, &f, "libpython3.13-minimal", NULL), 0); /* CVE-2024-4030 not-affected */
  assert_non_null (find (&inv, &f, "apt", NULL, "CVE-2011-3374"));
  hit = find (&inv, &f, "libexpat1", NULL, "CVE-2026-93990");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2.9.0-1~deb13u1");
  assert_int_equal (hit->severity, GSI_SEV_HIGH);
  assert_int_equal (f.warnings.n, 0);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

static void
test_tracker_releases (void **state)
{
  fixture *fx = *state;
  static const char bullseye[] = "ID=debian\nVERSION_ID=\"11\"\nVERSION_CODENAME=bullseye\n";
  static const char bookworm_no_codename[] = "ID=debian\nVERSION_ID=\"12\"\n";
  static const char ubuntu[] = "ID=ubuntu\nVERSION_ID=\"24.04\"\nVERSION_CODENAME=noble\n";
  gsi_inventory inv = { 0 };
  gsi_findings f;
  const gsi_finding *hit;

  import_tracker (fx);
  /* bullseye's glibc predates CVE-2023-4911 ("0"), and bullseye has no entry for CVE-2010-4756.  */
  gsi_inventory_set_os_release (&inv, bullseye, strlen (bullseye));
  add_deb (&inv, "libc6", "glibc", "2.31-13+deb11u5");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 0);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);

  /* No VERSION_CODENAME: the codename comes from VERSION_ID.  */
  gsi_inventory_set_os_release (&inv, bookworm_no_codename, strlen (bookworm_no_codename));
  add_deb (&inv, "libc6", "glibc", "2.36-9+deb12u1");
  match_ok (fx, &inv, &f);
  hit = find (&inv, &f, "libc6", NULL, "CVE-2023-4911");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2.36-9+deb12u3");
  assert_non_null (find (&inv, &f, "libc6", NULL, "CVE-2010-4756"));
  assert_int_equal (f.n, 2);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);

  /* The source version decides, not the binary's (here a binary versioned apart from its source).  */
  gsi_inventory_set_os_release (&inv, trixie_os, strlen (trixie_os));
  add_deb (&inv, "libsqlite3-x", "sqlite3 (3.46.1-7+deb13u2)", "3.46.1-5");
  add_deb (&inv, "libsqlite3-y", "sqlite3 (3.46.1-7)", "9.0-1");
  match_ok (fx, &inv, &f);
  assert_int_equal (count_for (&inv, &f, "libsqlite3-x", NULL), 0);
  assert_int_equal (count_for (&inv, &f, "libsqlite3-y", NULL), 2);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);

  /* Not Debian: its deb packages are not matched, and the warning says so.  */
  gsi_inventory_set_os_release (&inv, ubuntu, strlen (ubuntu));
  add_deb (&inv, "libc6", "glibc", "2.39-0ubuntu8");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 0);
  assert_int_equal (f.warnings.n, 1);
  assert_non_null (strstr (f.warnings.v[0], "ID=ubuntu"));
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);

  /* An invalid installed version is a warning, not a failure and not a silent skip.  */
  gsi_inventory_set_os_release (&inv, trixie_os, strlen (trixie_os));
  add_deb (&inv, "libc6", "glibc", "garbage");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 0);
  assert_int_equal (f.warnings.n, 1);
  assert_non_null (strstr (f.warnings.v[0], "does not start with digit"));
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

static void
test_tracker_reimport_and_bad (void **state)
{
  fixture *fx = *state;
  gsi_vulndb_source *src;
  size_t n, before;
  gsi_error err = GSI_ERROR_INIT;
  gsi_import_stats st;
  cleanup_free char *bad = NULL;

  import_tracker (fx);
  assert_int_equal (gsi_vulndb_status (fx->db, &src, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (src[0].name, "debian-tracker");
  before = src[0].records;
  gsi_vulndb_sources_free (src, n);
  /* The export is the whole tracker: a second import replaces the first.  */
  import_tracker (fx);
  assert_int_equal (gsi_vulndb_status (fx->db, &src, &n, &err), 0);
  assert_int_equal (src[0].records, before);
  gsi_vulndb_sources_free (src, n);
  /* A malformed tracker document fails whole: the previous one stays.  */
  bad = write_file (fx, "tracker-bad.json",
                    "{\"glibc\": {\"CVE-2099-1\": {\"releases\": {\"trixie\": {\"status\": \"open\"}}}},"
                    " \"zlib\": {\"CVE-2099-2\": {\"releases\": {\"trixie\": {\"fixed_version\": \"1\"}}}}}");
  assert_int_equal (gsi_vulndb_import (fx->db, bad, &st, &err), -1);
  assert_non_null (strstr (err.msg, bad));
  assert_non_null (strstr (err.msg, "zlib/CVE-2099-2: release `trixie` has no \"status\""));
  gsi_error_clear (&err);
  assert_int_equal (gsi_vulndb_status (fx->db, &src, &n, &err), 0);
  assert_int_equal (src[0].records, before);
  gsi_vulndb_sources_free (src, n);
}

/* Python distributions a Debian package owns are the Debian package's business.  */
static void
test_owned_python (void **state)
{
  fixture *fx = *state;
  gsi_inventory inv = { 0 };
  gsi_findings f;

  import_text (fx, "own.yaml",
               "id: OWN-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: owned}\n"
               "  ranges:\n  - type: ECOSYSTEM\n    events: [{introduced: \"0\"}]\n");
  add_py (&inv, "owned", "1.0");
  add_py (&inv, "owned", "2.0");
  gsi_inventory_finish (&inv);
  inv.pkgs[0].owner_deb = xstrdup ("python3-owned");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 1);
  assert_string_equal (inv.pkgs[f.v[0].pkg].version, "2.0");
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

/* ---- the PyPA snapshot and the date-scheme rule ---------------------------------------------- */

static bool
has_suppressed (const gsi_findings *f, const char *prefix)
{
  for (size_t i = 0; i < f->suppressed.n; i++)
    if (strncmp (f->suppressed.v[i], prefix, strlen (prefix)) == 0)
      return true;
  return false;
}

static void
test_pypa_snapshot (void **state)
{
  fixture *fx = *state;
  const char *peer = test_peer_dir ();
  gsi_import_stats st;
  gsi_inventory inv = { 0 };
  gsi_findings f;
  const gsi_finding *hit;
  struct timespec t0, t1;
  gsi_vulndb_source *src;
  size_t n;
  gsi_error err = GSI_ERROR_INIT;

  if (peer == NULL)
    {
      print_message ("vulndb: the PyPA snapshot cases are NOT RUN\n");
      skip ();
    }
  cleanup_free char *snap = xasprintf ("%s/../vulndata/pypa-advisory-database", peer);
  struct stat sb;
  if (stat (snap, &sb) < 0)
    fail_msg ("the PyPA snapshot is not at %s", snap);

  clock_gettime (CLOCK_MONOTONIC, &t0);
  import_ok (fx, snap, &st);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  print_message ("vulndb: PyPA snapshot: %zu files, %zu records (%zu withdrawn, %zu of other ecosystems) in %.2f s\n",
                 st.files, st.records, st.withdrawn, st.skipped_ecosystem,
                 (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
  assert_int_equal (st.files, 2661);
  assert_int_equal (st.records + st.skipped_ecosystem, 2661);
  assert_int_equal (st.withdrawn, 10);
  assert_int_equal (gsi_vulndb_status (fx->db, &src, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_int_equal (src[0].records, st.records);
  gsi_vulndb_sources_free (src, n);
  import_ok (fx, "tests/data/vuln/osv/GHSA-qhch-g8qr-p497.json", &st);
  import_tracker (fx);

  /* Modern OpenStack releases: the 2012 records are kept out by the rule, and are listed.  */
  add_py (&inv, "keystone", "27.0.0");
  add_py (&inv, "nova", "31.0.0");
  add_py (&inv, "horizon", "23.3.0"); /* listed in PYSEC-2012-18's versions[] */
  add_py (&inv, "cinder", "26.0.0");
  match_ok (fx, &inv, &f);
  assert_int_equal (f.n, 0);
  assert_true (has_suppressed (&f, "PYSEC-2012-19 keystone 27.0.0"));
  assert_true (has_suppressed (&f, "PYSEC-2012-20 keystone 27.0.0"));
  assert_true (has_suppressed (&f, "PYSEC-2012-21 nova 31.0.0"));
  assert_true (has_suppressed (&f, "PYSEC-2012-18 horizon 23.3.0"));
  assert_true (has_suppressed (&f, "GHSA-qhch-g8qr-p497 cinder 26.0.0"));
  assert_int_equal (f.suppressed.n, 5);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);

  /* Genuine modern-scheme advisories of the same projects still match, with their fixes.  */
  add_py (&inv, "keystone", "14.0.0");
  add_py (&inv, "nova", "19.0.1");
  add_py (&inv, "cinder", "15.1.0");
  add_py (&inv, "horizon", "20.1.0");
  match_ok (fx, &inv, &f);
  hit = find (&inv, &f, "keystone", NULL, "CVE-2018-20170");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "14.1.0");
  assert_string_equal (hit->aliases[0], "PYSEC-2018-9");
  hit = find (&inv, &f, "keystone", NULL, "CVE-2020-12690");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "15.0.1");
  assert_string_equal (hit->aliases[0], "GHSA-6m8p-x4qw-gh5j");
  assert_string_equal (hit->aliases[1], "PYSEC-2020-54");
  assert_null (find (&inv, &f, "keystone", NULL, "CVE-2012-3542"));
  assert_int_equal (count_for (&inv, &f, "keystone", NULL), 6); /* 2018-9, 2019-29, 2020-53..56 */
  hit = find (&inv, &f, "nova", NULL, "CVE-2019-14433");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "19.0.2");
  hit = find (&inv, &f, "nova", NULL, "CVE-2020-17376");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "19.3.1");
  hit = find (&inv, &f, "cinder", NULL, "CVE-2020-10755");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "15.2.0");
  hit = find (&inv, &f, "horizon", NULL, "CVE-2022-45582");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "20.2.0");
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);

  /* Date-scheme installs are compared as they are: the old records match them.  */
  add_py (&inv, "keystone", "2012.1");
  add_py (&inv, "cinder", "2014.1.2");
  add_py (&inv, "salt", "2014.1.5");
  add_py (&inv, "salt", "3006.1");
  match_ok (fx, &inv, &f);
  hit = find (&inv, &f, "keystone", "2012.1", "CVE-2012-3542");
  assert_non_null (hit);
  assert_null (hit->fixed_version);
  assert_non_null (find (&inv, &f, "keystone", "2012.1", "CVE-2012-5563"));
  hit = find (&inv, &f, "cinder", "2014.1.2", "CVE-2014-3641");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2014.1.3");
  assert_string_equal (hit->aliases[0], "GHSA-qhch-g8qr-p497");
  assert_int_equal (hit->severity, GSI_SEV_MEDIUM);
  hit = find (&inv, &f, "salt", "2014.1.5", "CVE-2014-3563"); /* PYSEC-2014-18, fixed 2014.1.10 */
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2014.1.10");
  /* Calendar versions after the date years are compared normally (salt 3006 is past every fix).  */
  assert_null (find (&inv, &f, "salt", "3006.1", "CVE-2014-3563"));
  assert_int_equal (f.suppressed.n, 0);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);

  /* A few widely known ones.  */
  add_py (&inv, "Jinja2", "2.10");
  add_py (&inv, "requests", "2.19.1");
  match_ok (fx, &inv, &f);
  hit = find (&inv, &f, "Jinja2", NULL, "CVE-2019-10906");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2.10.1");
  hit = find (&inv, &f, "Jinja2", NULL, "CVE-2020-28493");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2.11.3");
  assert_int_equal (count_for (&inv, &f, "Jinja2", NULL), 2);
  hit = find (&inv, &f, "requests", NULL, "CVE-2018-18074");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2.20.0");
  hit = find (&inv, &f, "requests", NULL, "CVE-2023-32681");
  assert_non_null (hit);
  assert_string_equal (hit->fixed_version, "2.31.0");
  assert_int_equal (count_for (&inv, &f, "requests", NULL), 2);
  gsi_findings_clear (&f);
  gsi_inventory_clear (&inv);
}

static void
test_severity_names (void **state)
{
  (void) state;
  assert_string_equal (gsi_severity_name (GSI_SEV_CRITICAL), "CRITICAL");
  assert_int_equal (gsi_severity_parse ("high"), GSI_SEV_HIGH);
  assert_int_equal (gsi_severity_parse ("MODERATE"), GSI_SEV_MEDIUM);
  assert_int_equal (gsi_severity_parse ("urgent"), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_introduced_zero, setup, teardown),
    cmocka_unit_test_setup_teardown (test_several_pairs, setup, teardown),
    cmocka_unit_test_setup_teardown (test_last_affected, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_versions_list, setup, teardown),
    cmocka_unit_test_setup_teardown (test_semver_and_legacy, setup, teardown),
    cmocka_unit_test_setup_teardown (test_withdrawn, setup, teardown),
    cmocka_unit_test_setup_teardown (test_aliases_merge, setup, teardown),
    cmocka_unit_test_setup_teardown (test_malformed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_atomic_import, setup, teardown),
    cmocka_unit_test_setup_teardown (test_zip, setup, teardown),
    cmocka_unit_test_setup_teardown (test_osv_debian, setup, teardown),
    cmocka_unit_test_setup_teardown (test_tracker_trixie, setup, teardown),
    cmocka_unit_test_setup_teardown (test_tracker_releases, setup, teardown),
    cmocka_unit_test_setup_teardown (test_tracker_reimport_and_bad, setup, teardown),
    cmocka_unit_test_setup_teardown (test_owned_python, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pypa_snapshot, setup, teardown),
    cmocka_unit_test (test_severity_names),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
