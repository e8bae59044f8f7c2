/* gsi scan's report module: Trivy's ignore files (both forms, their errors), matching rules to
 * findings (ids, aliases, paths, purls, expiry), the filters and the three formats.  */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "vuln/report.h"

static void
expect_plain_error (const char *text, const char *want)
{
  gsi_ignore ig = { 0 };
  gsi_error err = GSI_ERROR_INIT;

  if (gsi_ignore_parse_plain ("ig", text, strlen (text), &ig, &err) == 0)
    fail_msg ("`%s` should not parse", text);
  if (strcmp (err.msg, want) != 0)
    fail_msg ("`%s`: got `%s`, want `%s`", text, err.msg, want);
  assert_int_equal (ig.n, 0);
  gsi_error_clear (&err);
  gsi_ignore_clear (&ig);
}

static void
test_plain (void **state)
{
  static const char text[] = "# comment\n\nCVE-2020-1\n  GHSA-aaaa-bbbb-cccc\texp:2030-02-28   # note\r\n"
                             "PYSEC-2012-19 some words exp:2024-02-29\nCVE-2021-2#not-a-comment\n";
  gsi_ignore ig = { 0 };
  gsi_error err = GSI_ERROR_INIT;

  (void) state;
  assert_int_equal (gsi_ignore_parse_plain ("f/.trivyignore", text, strlen (text), &ig, &err), 0);
  assert_int_equal (ig.n, 4);
  assert_string_equal (ig.v[0].id, "CVE-2020-1");
  assert_null (ig.v[0].expires);
  assert_string_equal (ig.v[0].where, "f/.trivyignore:3");
  assert_string_equal (ig.v[1].id, "GHSA-aaaa-bbbb-cccc");
  assert_string_equal (ig.v[1].expires, "2030-02-28");
  assert_string_equal (ig.v[2].expires, "2024-02-29");
  /* A '#' inside a field is part of it, as Trivy splits on blanks only.  */
  assert_string_equal (ig.v[3].id, "CVE-2021-2#not-a-comment");
  gsi_ignore_clear (&ig);

  expect_plain_error ("CVE-1\nCVE-2 exp:2023-02-29\n", "ig:2: `exp:2023-02-29`: the expiry must be a date, exp:YYYY-MM-DD");
  expect_plain_error ("CVE-1 exp:2024-1-01\n", "ig:1: `exp:2024-1-01`: the expiry must be a date, exp:YYYY-MM-DD");
  expect_plain_error ("CVE-1 exp:\n", "ig:1: `exp:`: the expiry must be a date, exp:YYYY-MM-DD");
  expect_plain_error ("\n\nexp:2024-01-01 CVE-1\n", "ig:3: `exp:2024-01-01` comes before any id: a line is `ID [exp:YYYY-MM-DD]`");
  expect_plain_error ("CVE-1 exp:2030-01-01 exp:2031-01-01\n", "ig:1: two exp: fields");
  {
    static const char nul[] = "CVE-1\nCVE\0-2\n";
    gsi_error e2 = GSI_ERROR_INIT;
    assert_int_equal (gsi_ignore_parse_plain ("ig", nul, sizeof nul - 1, &ig, &e2), -1);
    assert_string_equal (e2.msg, "ig:2: a NUL byte: this is not a text file");
    assert_int_equal (ig.n, 0);
    gsi_error_clear (&e2);
    gsi_ignore_clear (&ig);
  }
}

static void
expect_yaml_error (const char *text, const char *want)
{
  gsi_ignore ig = { 0 };
  gsi_error err = GSI_ERROR_INIT;

  if (gsi_ignore_parse_yaml ("ig.yaml", text, strlen (text), &ig, &err) == 0)
    fail_msg ("`%s` should not parse", text);
  if (strstr (err.msg, want) == NULL)
    fail_msg ("`%s`: got `%s`, want `%s`", text, err.msg, want);
  assert_int_equal (ig.n, 0);
  gsi_error_clear (&err);
  gsi_ignore_clear (&ig);
}

static void
test_yaml (void **state)
{
  static const char text[] = "vulnerabilities:\n"
                             "  - id: CVE-2020-1\n"
                             "    paths:\n"
                             "      - \"var/lib/openstack/**\"\n"
                             "    statement: not reachable\n"
                             "  - id: CVE-2020-2\n"
                             "    purls: [\"pkg:pypi/Foo.Bar@1.0\"]\n"
                             "    expired_at: 2030-01-01T00:00:00Z\n"
                             "secrets:\n  - id: aws-access-key-id\n"
                             "licenses: []\n";
  gsi_ignore ig = { 0 };
  gsi_error err = GSI_ERROR_INIT;

  (void) state;
  assert_int_equal (gsi_ignore_parse_yaml ("ig.yaml", text, strlen (text), &ig, &err), 0);
  assert_int_equal (ig.n, 2);
  assert_string_equal (ig.v[0].id, "CVE-2020-1");
  assert_string_equal (ig.v[0].paths.v[0], "var/lib/openstack/**");
  assert_string_equal (ig.v[0].statement, "not reachable");
  assert_string_equal (ig.v[0].where, "ig.yaml:2");
  assert_string_equal (ig.v[1].purls.v[0], "pkg:pypi/Foo.Bar@1.0");
  assert_string_equal (ig.v[1].expires, "2030-01-01");
  gsi_ignore_clear (&ig);

  /* An empty file and an empty list are no rules.  */
  assert_int_equal (gsi_ignore_parse_yaml ("e.yaml", "", 0, &ig, &err), 0);
  assert_int_equal (gsi_ignore_parse_yaml ("e.yaml", "vulnerabilities:\n", 17, &ig, &err), 0);
  assert_int_equal (ig.n, 0);

  expect_yaml_error ("vulnerabilities:\n  - id: CVE-1\n    expires: 2024-01-01\n",
                     "ig.yaml:3: unknown key `expires` (id, paths, purls, expired_at, statement)");
  expect_yaml_error ("vulnerabilities:\n  - paths: [a]\n", "ig.yaml:2: an entry of `vulnerabilities` has no `id`");
  expect_yaml_error ("vulnerabilities:\n  - id: CVE-1\n    expired_at: soon\n", "ig.yaml:3: `expired_at` must be a date, YYYY-MM-DD");
  expect_yaml_error ("vulnerabilities:\n  - id: CVE-1\n    paths: a/b\n", "ig.yaml:3: `paths` must be a list of strings");
  expect_yaml_error ("vulnerabilities:\n  - id: CVE-1\n    purls: [\"pkg:deb\"]\n", "ig.yaml:3: purl `pkg:deb`: a purl is pkg:TYPE/NAME");
  expect_yaml_error ("vulnerabilities:\n  - id: CVE-1\n    paths: [\"!x\"]\n", "path `!x`: a path is a glob, not an exception");
  expect_yaml_error ("vulnerabilities: {id: x}\n", "ig.yaml:1: `vulnerabilities` must be a list");
  expect_yaml_error ("vulnerabilites:\n  - id: CVE-1\n", "ig.yaml:1: unknown key `vulnerabilites`");
  expect_yaml_error ("- CVE-1\n", "ig.yaml:1: an ignore file is a mapping");
  expect_yaml_error ("vulnerabilities:\n  - id: [x\n", "ig.yaml:3:1: invalid YAML: flow sequence without a closing bracket");
  expect_yaml_error ("vulnerabilities:\n  - CVE-1\n", "ig.yaml:2: each entry of `vulnerabilities` is a mapping");
  expect_yaml_error ("vulnerabilities:\n  - id: \"\xff\"\n", "ig.yaml:2: invalid YAML: byte 0xFF is not UTF-8 text");
}

/* ---- matching -------------------------------------------------------------------------------- */

typedef struct world
{
  gsi_inventory inv;
  gsi_findings f;
} world;

static void
add_finding (world *w, size_t pkg, const char *id, const char *alias, const char *fixed, gsi_severity sev)
{
  gsi_finding *x;

  GSI_ALLOC_GROW (w->f.v, w->f.n + 1, w->f.alloc_);
  x = &w->f.v[w->f.n++];
  memset (x, 0, sizeof *x);
  x->id = xstrdup (id);
  x->aliases = xcalloc (2, sizeof *x->aliases);
  if (alias)
    x->aliases[0] = xstrdup (alias);
  x->pkg = pkg;
  x->fixed_version = fixed ? xstrdup (fixed) : NULL;
  x->severity = sev;
  x->summary = xstrdup ("a summary");
  x->source = xstrdup (strncmp (id, "CVE-2010", 8) == 0 ? "debian-tracker" : "osv:PyPI");
}

static size_t
pkg_index (const gsi_inventory *inv, const char *name)
{
  for (size_t i = 0; i < inv->n; i++)
    if (strcmp (inv->pkgs[i].name, name) == 0)
      return i;
  fail_msg ("no package %s", name);
  return 0;
}

static void
make_world (world *w)
{
  static const char os[] = "ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n";
  static const char dpkg[] = "Package: libc6\nSource: glibc\nVersion: 2.41-12\nArchitecture: amd64\n\n"
                             "Package: login\nSource: util-linux\nVersion: 1:4.16.0-2\nArchitecture: amd64\n\n";
  static const char meta[] = "Metadata-Version: 2.1\nName: Foo.Bar\nVersion: 1.0\n\n";

  memset (w, 0, sizeof *w);
  gsi_inventory_set_os_release (&w->inv, os, strlen (os));
  assert_int_equal (gsi_inventory_add_dpkg_status (&w->inv, dpkg, strlen (dpkg), "var/lib/dpkg/status"), 2);
  assert_int_equal (gsi_inventory_add_python_metadata (&w->inv, meta, strlen (meta),
                                                       "var/lib/openstack/lib/python3.13/site-packages/Foo.Bar-1.0.dist-info"),
                    1);
  assert_int_equal (gsi_inventory_add_python_metadata (&w->inv, meta, strlen (meta),
                                                       "opt/old/lib/python3.13/site-packages/Foo.Bar-1.0.dist-info"),
                    1);
  gsi_inventory_finish (&w->inv);
}

static void
free_world (world *w)
{
  gsi_findings_clear (&w->f);
  gsi_inventory_clear (&w->inv);
}

static bool
ignored (const char *yaml, const world *w, size_t finding, const char *today)
{
  gsi_ignore ig = { 0 };
  gsi_error err = GSI_ERROR_INIT;
  bool hit;

  if (gsi_ignore_parse_yaml ("t.yaml", yaml, strlen (yaml), &ig, &err) < 0)
    fail_msg ("%s", err.msg);
  hit = gsi_ignore_match (&ig, &w->inv, &w->f.v[finding], today) != NULL;
  gsi_ignore_clear (&ig);
  return hit;
}

static void
test_match (void **state)
{
  world w;
  size_t libc, login, foo_new = 0, foo_old = 0;

  (void) state;
  make_world (&w);
  libc = pkg_index (&w.inv, "libc6");
  login = pkg_index (&w.inv, "login");
  for (size_t i = 0; i < w.inv.n; i++)
    if (w.inv.pkgs[i].location && strncmp (w.inv.pkgs[i].location, "opt/", 4) == 0)
      foo_old = i;
    else if (w.inv.pkgs[i].ecosystem == GSI_ECO_PYPI)
      foo_new = i;
  add_finding (&w, libc, "CVE-2010-4756", NULL, NULL, GSI_SEV_LOW);            /* 0 */
  add_finding (&w, foo_new, "CVE-2020-1", "GHSA-xxxx-yyyy-zzzz", "1.1", GSI_SEV_HIGH); /* 1 */
  add_finding (&w, foo_old, "CVE-2020-1", "GHSA-xxxx-yyyy-zzzz", "1.1", GSI_SEV_HIGH); /* 2 */
  add_finding (&w, login, "CVE-2022-0563", NULL, "1:4.16.0-3", GSI_SEV_MEDIUM);  /* 3 */

  /* By id, by alias, not by another id.  */
  assert_true (ignored ("vulnerabilities: [{id: CVE-2020-1}]", &w, 1, "2026-01-01"));
  assert_true (ignored ("vulnerabilities: [{id: GHSA-xxxx-yyyy-zzzz}]", &w, 2, "2026-01-01"));
  assert_false (ignored ("vulnerabilities: [{id: CVE-2020-2}]", &w, 1, "2026-01-01"));
  /* Expiry: the rule holds before the day, not on it.  */
  assert_true (ignored ("vulnerabilities: [{id: CVE-2020-1, expired_at: 2026-01-02}]", &w, 1, "2026-01-01"));
  assert_false (ignored ("vulnerabilities: [{id: CVE-2020-1, expired_at: 2026-01-01}]", &w, 1, "2026-01-01"));
  /* Paths: globs over the location, with or without a leading slash, and the METADATA inside.  */
  assert_true (ignored ("vulnerabilities: [{id: CVE-2020-1, paths: [\"opt/old/**\"]}]", &w, 2, "2026-01-01"));
  assert_false (ignored ("vulnerabilities: [{id: CVE-2020-1, paths: [\"opt/old/**\"]}]", &w, 1, "2026-01-01"));
  assert_true (ignored ("vulnerabilities: [{id: CVE-2020-1, paths: [\"/var/lib/openstack/lib/*/site-packages/Foo.Bar-1.0.dist-info/METADATA\"]}]",
                        &w, 1, "2026-01-01"));
  assert_true (ignored ("vulnerabilities: [{id: CVE-2010-4756, paths: [\"var/lib/dpkg/status\"]}]", &w, 0, "2026-01-01"));
  /* purls: name normalised, version only when given, qualifiers as subsets.  */
  assert_true (ignored ("vulnerabilities: [{id: CVE-2020-1, purls: [\"pkg:pypi/foo-bar\"]}]", &w, 1, "2026-01-01"));
  assert_true (ignored ("vulnerabilities: [{id: CVE-2020-1, purls: [\"pkg:pypi/Foo_Bar@1.0.0\"]}]", &w, 1, "2026-01-01"));
  assert_false (ignored ("vulnerabilities: [{id: CVE-2020-1, purls: [\"pkg:pypi/foo-bar@1.1\"]}]", &w, 1, "2026-01-01"));
  assert_true (ignored ("vulnerabilities: [{id: CVE-2010-4756, purls: [\"pkg:deb/debian/libc6@2.41-12?arch=amd64\"]}]", &w, 0,
                        "2026-01-01"));
  assert_false (ignored ("vulnerabilities: [{id: CVE-2010-4756, purls: [\"pkg:deb/debian/libc6?arch=arm64\"]}]", &w, 0,
                         "2026-01-01"));
  assert_false (ignored ("vulnerabilities: [{id: CVE-2010-4756, purls: [\"pkg:deb/ubuntu/libc6\"]}]", &w, 0, "2026-01-01"));
  /* Debian epochs in either form: Trivy's qualifier and Syft's version.  */
  assert_true (ignored ("vulnerabilities: [{id: CVE-2022-0563, purls: [\"pkg:deb/debian/login@4.16.0-2?epoch=1\"]}]", &w, 3,
                        "2026-01-01"));
  assert_true (ignored ("vulnerabilities: [{id: CVE-2022-0563, purls: [\"pkg:deb/debian/login@1%3A4.16.0-2\"]}]", &w, 3,
                        "2026-01-01"));
  assert_false (ignored ("vulnerabilities: [{id: CVE-2022-0563, purls: [\"pkg:deb/debian/login@4.16.0-2\"]}]", &w, 3,
                         "2026-01-01"));
  free_world (&w);
}

static void
test_select_and_formats (void **state)
{
  world w;
  gsi_ignore ig = { 0 };
  gsi_error err = GSI_ERROR_INIT;
  gsi_scan_filter flt = { 0 };
  gsi_report_sel sel;
  gsi_report_meta meta = { "img:1", "sha256:0000000000000000000000000000000000000000000000000000000000000000", "9.9" };
  unsigned set;
  size_t libc;

  (void) state;
  make_world (&w);
  libc = pkg_index (&w.inv, "libc6");
  add_finding (&w, libc, "CVE-2010-4756", NULL, NULL, GSI_SEV_LOW);
  add_finding (&w, pkg_index (&w.inv, "login"), "CVE-2022-0563", NULL, "1:4.16.0-3", GSI_SEV_MEDIUM);
  add_finding (&w, libc, "CVE-2099-1", "GHSA-1", "2.41-13", GSI_SEV_CRITICAL);
  w.f.v[2].cvss_score = 9.8;
  gsi_strvec_push (&w.f.suppressed, "PYSEC-2012-19 keystone 27.0.0");

  assert_int_equal (gsi_severity_set_parse ("low, Critical", &set, &err), 0);
  assert_int_equal (set, (1u << GSI_SEV_LOW) | (1u << GSI_SEV_CRITICAL));
  assert_int_equal (gsi_severity_set_parse ("LOW,SEVERE", &set, &err), -1);
  assert_non_null (strstr (err.msg, "unknown severity `SEVERE`"));
  gsi_error_clear (&err);

  flt.severities = set;
  flt.ignore_unfixed = true;
  gsi_report_select (&w.f, &w.inv, &flt, &sel);
  assert_int_equal (sel.nshown, 1);
  assert_int_equal (sel.shown[0], 2);
  assert_int_equal (sel.by_severity, 1);
  assert_int_equal (sel.by_unfixed, 1);
  gsi_report_sel_clear (&sel);

  assert_int_equal (gsi_ignore_parse_plain ("ig", "GHSA-1\n", 7, &ig, &err), 0);
  memset (&flt, 0, sizeof flt);
  flt.ignore = &ig;
  flt.today = "2026-01-01";
  gsi_report_select (&w.f, &w.inv, &flt, &sel);
  assert_int_equal (sel.nshown, 2);
  assert_int_equal (sel.nignored, 1);
  assert_string_equal (sel.ignored_by[0]->where, "ig:1");
  gsi_report_sel_clear (&sel);
  gsi_ignore_clear (&ig);

  memset (&flt, 0, sizeof flt);
  gsi_report_select (&w.f, &w.inv, &flt, &sel);
  {
    gsi_buf out = GSI_BUF_INIT;
    json_t *doc, *run, *rules, *res;

    gsi_report_write (&out, GSI_REPORT_JSON, &meta, &w.inv, &w.f, &sel);
    doc = json_loads (out.buf, 0, NULL);
    assert_non_null (doc);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (doc, "summary"), "total")), 3);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (doc, "summary"), "CRITICAL")), 1);
    assert_string_equal (json_string_value (json_array_get (json_object_get (doc, "date_scheme_rule"), 0)),
                         "PYSEC-2012-19 keystone 27.0.0");
    json_decref (doc);
    gsi_buf_reset (&out);

    gsi_report_write (&out, GSI_REPORT_SARIF, &meta, &w.inv, &w.f, &sel);
    doc = json_loads (out.buf, 0, NULL);
    assert_non_null (doc);
    assert_string_equal (json_string_value (json_object_get (doc, "version")), "2.1.0");
    run = json_array_get (json_object_get (doc, "runs"), 0);
    rules = json_object_get (json_object_get (json_object_get (run, "tool"), "driver"), "rules");
    res = json_object_get (run, "results");
    assert_int_equal (json_array_size (rules), 3);
    assert_int_equal (json_array_size (res), 3);
    for (size_t i = 0; i < 3; i++)
      {
        json_t *r = json_array_get (res, i);
        size_t ri = (size_t) json_integer_value (json_object_get (r, "ruleIndex"));
        assert_string_equal (json_string_value (json_object_get (r, "ruleId")),
                             json_string_value (json_object_get (json_array_get (rules, ri), "id")));
        if (strcmp (json_string_value (json_object_get (r, "ruleId")), "CVE-2099-1") == 0)
          {
            json_t *props = json_object_get (json_array_get (rules, ri), "properties");
            assert_string_equal (json_string_value (json_object_get (props, "security-severity")), "9.8");
            assert_string_equal (json_string_value (json_object_get (r, "level")), "error");
          }
      }
    json_decref (doc);
    gsi_buf_reset (&out);

    gsi_report_write (&out, GSI_REPORT_TABLE, &meta, &w.inv, &w.f, &sel);
    assert_non_null (strstr (out.buf, "img:1 (debian 13)\nTotal: 3 (UNKNOWN: 0, LOW: 1, MEDIUM: 1, HIGH: 0, CRITICAL: 1)\n"));
    assert_non_null (strstr (out.buf, "CVE-2099-1"));
    assert_non_null (strstr (out.buf, "PYSEC-2012-19 keystone 27.0.0"));
    gsi_buf_release (&out);
  }
  gsi_report_sel_clear (&sel);
  free_world (&w);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_plain),
    cmocka_unit_test (test_yaml),
    cmocka_unit_test (test_match),
    cmocka_unit_test (test_select_and_formats),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
