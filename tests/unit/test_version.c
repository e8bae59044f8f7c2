/* Version ordering: every line of osv-scalibr's generated Debian and PyPI corpora (peer data), and
 * hand-written cases for what the corpora do not reach (invalid input, normalisation, specifiers).  */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "vuln/version.h"

static int
sgn (int c)
{
  return (c > 0) - (c < 0);
}

static int
op_sign (const char *op)
{
  if (strcmp (op, "<") == 0)
    return -1;
  if (strcmp (op, "=") == 0)
    return 0;
  if (strcmp (op, ">") == 0)
    return 1;
  return 2;
}

static const char *
sign_op (int c)
{
  return c < 0 ? "<" : c > 0 ? ">" : "=";
}

/* ---- the peer corpora ------------------------------------------------------------------------ */

typedef int (*compare_fn) (const char *a, const char *b, char **why);

static int
deb_cmp (const char *a, const char *b, char **why)
{
  gsi_error err = GSI_ERROR_INIT;
  int c = 0;

  if (gsi_version_compare (GSI_ECO_DEB, a, b, &c, &err) < 0)
    {
      *why = xstrdup (err.msg);
      gsi_error_clear (&err);
      return 2;
    }
  return sgn (c);
}

/* The PyPI corpus was generated with packaging's LegacyVersion still in place: both sides PEP 440
 * go through gsi_version_compare as well, and the two must agree.  */
static int
pypi_cmp (const char *a, const char *b, char **why)
{
  int legacy = sgn (gsi_pypi_compare_legacy (a, b));
  int c = 0;

  if (gsi_version_valid (GSI_ECO_PYPI, a, NULL) && gsi_version_valid (GSI_ECO_PYPI, b, NULL))
    {
      gsi_error err = GSI_ERROR_INIT;
      if (gsi_version_compare (GSI_ECO_PYPI, a, b, &c, &err) < 0)
        {
          *why = xstrdup (err.msg);
          gsi_error_clear (&err);
          return 2;
        }
      if (sgn (c) != legacy)
        {
          *why = xasprintf ("gsi_version_compare says %s but the legacy ordering %s", sign_op (c), sign_op (legacy));
          return 2;
        }
    }
  return legacy;
}

/* Checks every "A op B" line of versions/NAME: the stated order, its reverse, and A = A.  */
static void
check_corpus (const char *name, compare_fn cmp, size_t *legacy_lines)
{
  const char *dir = test_peer_dir ();
  char path[4096];
  char *data, *line, *next;
  size_t lineno = 0, checked = 0, failures = 0;

  if (dir == NULL)
    {
      print_message ("version: %s is NOT RUN\n", name);
      skip ();
    }
  snprintf (path, sizeof path, "%s/versions/%s", dir, name);
  data = test_read_file (path, NULL);
  if (data == NULL)
    fail_msg ("cannot read peer file '%s'", path);
  for (line = data; line && *line; line = next)
    {
      char a[512], op[8], b[512], extra[2];
      char *why = NULL;
      int want = 2, got;

      next = strchr (line, '\n');
      if (next)
        *next++ = '\0';
      lineno++;
      if (*line == '\0')
        continue;
      if (sscanf (line, "%511s %7s %511s %1s", a, op, b, extra) != 3 || (want = op_sign (op)) == 2)
        fail_msg ("%s:%zu: not `A <|=|> B`: %s", name, lineno, line);
      got = cmp (a, b, &why);
      if (got == want)
        got = cmp (b, a, &why) == -want ? want : 3;
      if (got == want && cmp (a, a, &why) != 0)
        got = 4;
      if (got != want)
        {
          if (failures++ < 20)
            print_error ("%s:%zu: %s: %s\n", name, lineno, line,
                         why ? why : got == 3 ? "the reverse order disagrees" : got == 4 ? "A != A" : sign_op (got));
        }
      else if (legacy_lines
               && (!gsi_version_valid (GSI_ECO_PYPI, a, NULL) || !gsi_version_valid (GSI_ECO_PYPI, b, NULL)))
        (*legacy_lines)++;
      free (why);
      checked++;
    }
  free (data);
  print_message ("version: %s: %zu lines checked, %zu wrong\n", name, checked, failures);
  assert_int_equal (failures, 0);
  assert_true (checked > 9000);
}

static void
test_debian_corpus (void **state)
{
  (void) state;
  check_corpus ("debian-versions-generated.txt", deb_cmp, NULL);
}

static void
test_pypi_corpus (void **state)
{
  size_t legacy = 0;

  (void) state;
  check_corpus ("pypi-versions-generated.txt", pypi_cmp, &legacy);
  print_message ("version: pypi: %zu lines hold a legacy (non-PEP 440) version\n", legacy);
}

/* ---- Debian ---------------------------------------------------------------------------------- */

typedef struct ordered
{
  const char *a, *op, *b;
} ordered;

static void
check_ordered (gsi_ecosystem e, const ordered *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      gsi_error err = GSI_ERROR_INIT;
      int c = 99, r = 99;

      if (gsi_version_compare (e, v[i].a, v[i].b, &c, &err) < 0)
        fail_msg ("%s %s %s: %s", v[i].a, v[i].op, v[i].b, err.msg);
      if (sgn (c) != op_sign (v[i].op))
        fail_msg ("%s %s %s: got %s", v[i].a, v[i].op, v[i].b, sign_op (c));
      assert_int_equal (gsi_version_compare (e, v[i].b, v[i].a, &r, &err), 0);
      assert_int_equal (sgn (r), -sgn (c));
    }
}

static void
test_debian_order (void **state)
{
  static const ordered v[] = {
    /* epochs */
    { "1:0.1", ">", "9.9" },
    { "0:1.0", "=", "1.0" },
    { "2:1.0", ">", "1:9.9-9" },
    { "00:1.0", "=", "1.0" },
    /* tilde: before everything, even the end */
    { "1.0~rc1", "<", "1.0" },
    { "1.0~~", "<", "1.0~" },
    { "1.0~", "<", "1.0" },
    { "1.0~rc1", "<", "1.0~rc2" },
    { "1.0~beta", "<", "1.0~rc" },
    { "2.30-1~deb12u1", "<", "2.30-1" },
    { "1.2.3-1~bpo12+1", "<", "1.2.3-1" },
    /* revisions */
    { "1.0-1", "<", "1.0-2" },
    { "1.0-10", ">", "1.0-9" },
    { "1.0", "=", "1.0-0" },
    { "1.0-1", "<", "1.0-1+b1" },
    { "3.0.11-1", "<", "3.0.11-1+deb12u1" },
    { "3.0.11-1+deb12u1", "<", "3.0.11-1+deb12u2" },
    { "0:0-0-0", "=", "0-0-0" },
    { "1.0-0-1", ">", "1.0-0" },
    /* letters before other characters, digit runs numerically */
    { "1.0", "<", "1.0a" },
    { "1.0a", "<", "1.0+" },
    { "1.0a", "<", "1.0." },
    { "1.0+dfsg", "<", "1.0.1" },
    { "1.09", "=", "1.9" },
    { "1.10", ">", "1.9" },
    { "1.0", "<", "1.0+deb12u1" },
    { "2.41-12", "<", "2.41-12+deb13u1" },
    { "1.0.0+git20240101", ">", "1.0.0" },
    { "18446744073709551616", ">", "18446744073709551615" },
    { "1a", ">", "1A" },
  };

  (void) state;
  check_ordered (GSI_ECO_DEB, v, sizeof v / sizeof v[0]);
}

static void
check_invalid (gsi_ecosystem e, const char *s, const char *why)
{
  gsi_error err = GSI_ERROR_INIT;
  int c;

  if (gsi_version_valid (e, s, &err))
    fail_msg ("`%s` should be invalid", s);
  assert_non_null (err.msg);
  if (strstr (err.msg, why) == NULL)
    fail_msg ("`%s`: message `%s` does not say `%s`", s, err.msg, why);
  gsi_error_clear (&err);
  assert_int_equal (gsi_version_compare (e, s, "1.0", &c, &err), -1);
  assert_non_null (strstr (err.msg, s));
  gsi_error_clear (&err);
  assert_int_equal (gsi_version_compare (e, "1.0", s, &c, &err), -1);
  gsi_error_clear (&err);
}

static void
test_debian_invalid (void **state)
{
  (void) state;
  check_invalid (GSI_ECO_DEB, "", "empty");
  check_invalid (GSI_ECO_DEB, "   ", "empty");
  check_invalid (GSI_ECO_DEB, "10a:5.2", "epoch in version is not number");
  check_invalid (GSI_ECO_DEB, ":1.0", "epoch in version is empty");
  check_invalid (GSI_ECO_DEB, "-1:1.0", "epoch in version is negative");
  check_invalid (GSI_ECO_DEB, "99999999999:1.0", "epoch in version is too big");
  check_invalid (GSI_ECO_DEB, "1:", "nothing after colon");
  check_invalid (GSI_ECO_DEB, "5.2@3-2", "invalid character in version number");
  check_invalid (GSI_ECO_DEB, "1.0-2@1", "invalid character in revision number");
  check_invalid (GSI_ECO_DEB, "1.0-1_2", "invalid character in revision number");
  /* The epoch ends at the first colon, as dpkg reads it.  */
  check_invalid (GSI_ECO_DEB, "1.0-1:2", "epoch in version is not number");
  check_invalid (GSI_ECO_DEB, "foo5.2", "does not start with digit");
  check_invalid (GSI_ECO_DEB, "0:foo5.2", "does not start with digit");
  check_invalid (GSI_ECO_DEB, "1.0 2", "embedded spaces");
  check_invalid (GSI_ECO_DEB, "1.0-", "revision number is empty");
  check_invalid (GSI_ECO_DEB, "-1", "version number is empty");
  check_invalid (GSI_ECO_DEB, "1_0", "invalid character");
  /* Leading and trailing blanks are accepted, as dpkg does.  */
  assert_true (gsi_version_valid (GSI_ECO_DEB, " 1.0-1 ", NULL));
  assert_true (gsi_version_valid (GSI_ECO_DEB, "1:2.3:4-5", NULL));
}

/* ---- PEP 440 --------------------------------------------------------------------------------- */

/* pypa/packaging's tests/test_version.py VERSIONS: each sorts strictly before the next.  */
static const char *const pep440_ascending[] = {
  "1.0.dev456",
  "1.0a1",
  "1.0a2.dev456",
  "1.0a12.dev456",
  "1.0a12",
  "1.0b1.dev456",
  "1.0b2",
  "1.0b2.post345.dev456",
  "1.0b2.post345",
  "1.0b2-346",
  "1.0c1.dev456",
  "1.0c1",
  "1.0rc2",
  "1.0c3",
  "1.0",
  "1.0.post456.dev34",
  "1.0.post456",
  "1.1.dev1",
  "1.2+123abc",
  "1.2+123abc456",
  "1.2+abc",
  "1.2+abc123",
  "1.2+abc123def",
  "1.2+1234.abc",
  "1.2+123456",
  "1.2.r32+123456",
  "1.2.rev33+123456",
  "1!1.0.dev456",
  "1!1.0a1",
  "1!1.0b2.post345.dev456",
  "1!1.0c1",
  "1!1.0",
  "1!1.0.post456",
  "1!1.2.rev33+123456",
};

static void
test_pep440_order (void **state)
{
  static const ordered v[] = {
    { "1.0", "=", "1.0.0" },
    { "1.0", "=", "1.0.0.0.0" },
    { "1.0", "<", "1.0.0.1" },
    { "1.0", "<", "1.0+local" },
    { "1.0+local", "<", "1.0.post1" },
    { "1.0+abc", "<", "1.0+abc.1" },
    { "1.0+1", "<", "1.0+2" },
    { "1.0+02", "=", "1.0+2" },
    { "1.0+ABC", "=", "1.0+abc" },
    { "1.0+a-b_c", "=", "1.0+a.b.c" },
    { "1.0rc1", "=", "1.0c1" },
    { "1.0alpha1", "=", "1.0a1" },
    { "1.0-beta.2", "=", "1.0b2" },
    { "1.0pre3", "=", "1.0rc3" },
    { "1.0preview3", "=", "1.0rc3" },
    { "1.0a", "=", "1.0a0" },
    { "1.0-5", "=", "1.0.post5" },
    { "1.0r5", "=", "1.0.post5" },
    { "1.0.rev5", "=", "1.0.post5" },
    { "1.0.post", "=", "1.0.post0" },
    { "1.0-dev", "=", "1.0.dev0" },
    { "v1.0", "=", "1.0" },
    { " 1.0\n", "=", "1.0" },
    { "1.0A1", "=", "1.0a1" },
    { "0!1.0", "=", "1.0" },
    { "1!0.1", ">", "99.0" },
    { "2022.12.07", "=", "2022.12.7" },
    { "1.0a05", "=", "1.0a5" },
    { "1.0.dev1", "<", "1.0a1" },
    { "1.0a1", "<", "1.0a1.post1" },
    { "1.0a1.post1.dev1", "<", "1.0a1.post1" },
    { "1.0.post1.dev1", ">", "1.0" },
    { "1.0.post1.dev1", "<", "1.0.post1" },
    { "1.0rc1", "<", "1.0" },
    { "2014.1.3", ">", "26.0.0" },
    { "10.0", ">", "9.99" },
    { "1.0.99999999999999999999999", ">", "1.0.99999999999999999999998" },
  };

  (void) state;
  check_ordered (GSI_ECO_PYPI, v, sizeof v / sizeof v[0]);
  for (size_t i = 0; i < sizeof pep440_ascending / sizeof pep440_ascending[0]; i++)
    for (size_t j = 0; j < sizeof pep440_ascending / sizeof pep440_ascending[0]; j++)
      {
        gsi_error err = GSI_ERROR_INIT;
        int c = 99;
        int want = i < j ? -1 : i > j ? 1 : 0;

        assert_int_equal (gsi_version_compare (GSI_ECO_PYPI, pep440_ascending[i], pep440_ascending[j], &c, &err), 0);
        if (sgn (c) != want)
          fail_msg ("%s vs %s: got %s, want %s", pep440_ascending[i], pep440_ascending[j], sign_op (c),
                    sign_op (want));
        assert_int_equal (sgn (gsi_pypi_compare_legacy (pep440_ascending[i], pep440_ascending[j])), want);
      }
}

static void
test_pep440_normalize (void **state)
{
  static const char *const pairs[][2] = {
    { "1.0RC1", "1.0rc1" },
    { "v1.0", "1.0" },
    { "V2.0", "2.0" },
    { "1.0-1", "1.0.post1" },
    { "1.0alpha", "1.0a0" },
    { "1.0.c1", "1.0rc1" },
    { "1.0_pre_2", "1.0rc2" },
    { "1.0-r4", "1.0.post4" },
    { "1.0-dev2", "1.0.dev2" },
    { "1.0.DEV", "1.0.dev0" },
    { "2022.12.07", "2022.12.7" },
    { "1.0+ubuntu-1", "1.0+ubuntu.1" },
    { "1.0+Ubuntu_01", "1.0+ubuntu.1" },
    { "1!1.0", "1!1.0" },
    { "00!1.0", "1.0" },
    { "01.02.03", "1.2.3" },
    { "1.0.post", "1.0.post0" },
    { "  1.0  ", "1.0" },
    { "1.0a05", "1.0a5" },
    { "1.0b2-346", "1.0b2.post346" },
    { "1.0.0", "1.0.0" },
    { "1.2.rev33+123456", "1.2.post33+123456" },
  };

  (void) state;
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    {
      gsi_error err = GSI_ERROR_INIT;
      char *n = gsi_pep440_normalize (pairs[i][0], &err);
      if (n == NULL)
        fail_msg ("normalize `%s`: %s", pairs[i][0], err.msg);
      if (strcmp (n, pairs[i][1]) != 0)
        fail_msg ("normalize `%s` gave `%s`, want `%s`", pairs[i][0], n, pairs[i][1]);
      free (n);
    }
}

static void
test_pep440_invalid (void **state)
{
  (void) state;
  check_invalid (GSI_ECO_PYPI, "", "empty");
  check_invalid (GSI_ECO_PYPI, "french toast", "does not start with a release number");
  check_invalid (GSI_ECO_PYPI, "1.0+a+", "local version label");
  check_invalid (GSI_ECO_PYPI, "1.0+", "local version label after `+` is empty");
  check_invalid (GSI_ECO_PYPI, "1.0+_foo", "local version label");
  check_invalid (GSI_ECO_PYPI, "1..0", "unexpected `..0`");
  check_invalid (GSI_ECO_PYPI, "1.0 2", "unexpected");
  check_invalid (GSI_ECO_PYPI, "1.0.dev1.post1", "unexpected");
  check_invalid (GSI_ECO_PYPI, "1!", "epoch must be followed");
  check_invalid (GSI_ECO_PYPI, "1.0-final", "unexpected");
  check_invalid (GSI_ECO_PYPI, "0.3m1", "unexpected");
  check_invalid (GSI_ECO_PYPI, "\xd9\xa1.0", "does not start");
  /* Legacy strings order before every PEP 440 version, and among themselves by setuptools' key.  */
  assert_true (gsi_pypi_compare_legacy ("2.0.0-final", "0.0.1") < 0);
  assert_true (gsi_pypi_compare_legacy ("0.3m1", "0.3m2") < 0);
  assert_true (gsi_pypi_compare_legacy ("1.0-final", "1.0-final") == 0);
}

static void
test_pep503 (void **state)
{
  static const char *const pairs[][2] = {
    { "Oslo.Config", "oslo-config" }, { "oslo_config", "oslo-config" }, { "PyYAML", "pyyaml" },
    { "a-_.b", "a-b" },               { "keystone", "keystone" },       { "zope.interface", "zope-interface" },
  };

  (void) state;
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    {
      char *n = gsi_pep503_name (pairs[i][0]);
      assert_string_equal (n, pairs[i][1]);
      free (n);
    }
}

/* ---- specifiers ------------------------------------------------------------------------------ */

typedef struct spec_case
{
  const char *version, *spec;
  bool allow_pre, match;
} spec_case;

static void
test_specifiers (void **state)
{
  static const spec_case v[] = {
    /* ~= */
    { "2.2", "~=2.2", false, true },
    { "2.3", "~=2.2", false, true },
    { "2.9.1", "~=2.2", false, true },
    { "3.0", "~=2.2", false, false },
    { "2.1", "~=2.2", false, false },
    { "1.4.6", "~=1.4.5", false, true },
    { "1.5", "~=1.4.5", false, false },
    { "2.2.post3", "~=2.2.post3", false, true },
    { "2.3", "~=2.2.post3", false, true },
    { "2.2", "~=2.2.post3", false, false },
    { "2.2.1", "~=2.2.0", false, true },
    { "2.3", "~=2.2.0", false, false },
    { "1!2.3", "~=2.2", false, false },
    { "2.2a1", "~=2.2a1", false, true },
    { "2.2", "~=2.2a1", false, true },
    /* == and != */
    { "1.0", "==1.0", false, true },
    { "1.0.0", "==1.0", false, true },
    { "1.0+local", "==1.0", false, true },
    { "1.0+local", "==1.0+local", false, true },
    { "1.0", "==1.0+local", false, false },
    { "1.0+other", "==1.0+local", false, false },
    { "1.0.post1", "==1.0", false, false },
    { "1.0", "!=1.0", false, false },
    { "1.1", "!=1.0", false, true },
    { "1.0+local", "!=1.0", false, false },
    /* wildcards */
    { "1.1", "==1.1.*", false, true },
    { "1.1.0", "==1.1.*", false, true },
    { "1.1.7", "==1.1.*", false, true },
    { "1.1.post1", "==1.1.*", false, true },
    { "1.10", "==1.1.*", false, false },
    { "1.2", "==1.1.*", false, false },
    { "1.1a1", "==1.1.*", false, false },
    { "1.1a1", "==1.1.*", true, true },
    { "1.1.3", "!=1.1.*", false, false },
    { "1.2", "!=1.1.*", false, true },
    { "2.0", "==2.*", false, true },
    /* ordered comparisons */
    { "1.0", "<=1.0", false, true },
    { "1.0+local", "<=1.0", false, true },
    { "1.0.1", "<=1.0", false, false },
    { "1.0", ">=1.0", false, true },
    { "0.9", ">=1.0", false, false },
    { "0.9", "<1.0", false, true },
    { "1.0", "<1.0", false, false },
    { "1.0rc1", "<1.0", true, false },
    { "1.0.dev1", "<1.0", true, false },
    { "0.9a1", "<1.0", true, true },
    { "0.9a1", "<1.0", false, false },
    /* an exclusive operator naming a pre-release does not let pre-releases in (packaging) */
    { "1.0a1", "<1.0rc1", false, false },
    { "1.0a1", "<1.0rc1", true, true },
    { "1.1", ">1.0", false, true },
    { "1.0", ">1.0", false, false },
    { "1.0.post1", ">1.0", false, false },
    { "1.0.post2", ">1.0.post1", false, true },
    { "1.0+local", ">1.0", false, false },
    { "1.0.1", ">1.0", false, true },
    /* pre-releases: only when named or allowed */
    { "2.0a1", ">=1.0", false, false },
    { "2.0a1", ">=1.0", true, true },
    { "1.0a2", ">=1.0a1", false, true },
    { "1.0.dev1", "==1.0.dev1", false, true },
    /* === */
    { "1.0", "===1.0", false, true },
    { "1.0.0", "===1.0", false, false },
    /* sets */
    { "1.4.4", "~=1.4,!=1.4.3,<2", false, true },
    { "1.4.3", "~=1.4,!=1.4.3,<2", false, false },
    { "2.0", ">=1.0, <2.0", false, false },
    { "1.5", " >= 1.0 , < 2.0 ", false, true },
    { "1.5", "", false, true },
  };

  (void) state;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    {
      gsi_error err = GSI_ERROR_INIT;
      bool m = !v[i].match;

      if (gsi_pep440_satisfies (v[i].version, v[i].spec, v[i].allow_pre, &m, &err) < 0)
        fail_msg ("`%s` in `%s`: %s", v[i].version, v[i].spec, err.msg);
      if (m != v[i].match)
        fail_msg ("`%s` in `%s` (pre %d): got %d", v[i].version, v[i].spec, v[i].allow_pre, m);
    }
}

static void
test_specifiers_invalid (void **state)
{
  static const char *const bad[][2] = {
    { "~=2", "at least two numbers" },
    { ">=1.0.*", "only allowed with == and !=" },
    { "=1.0", "must start with one of" },
    { "==1.0+local.*", "`.*` must follow" },
    { "==1.0a1.*", "`.*` must follow" },
    { "<1.0+local", "local version label is only allowed" },
    { ">=", "no version after the operator" },
    { "==french", "invalid PEP 440 version" },
    { ">=1.0,<=x", "invalid specifier `<=x`" },
  };

  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      gsi_error err = GSI_ERROR_INIT;
      bool m;

      if (gsi_pep440_satisfies ("1.0", bad[i][0], false, &m, &err) == 0)
        fail_msg ("`%s` should be an invalid specifier", bad[i][0]);
      if (strstr (err.msg, bad[i][1]) == NULL)
        fail_msg ("`%s`: message `%s` does not say `%s`", bad[i][0], err.msg, bad[i][1]);
      gsi_error_clear (&err);
    }
  {
    gsi_error err = GSI_ERROR_INIT;
    bool m;
    assert_int_equal (gsi_pep440_satisfies ("not a version", ">=1.0", false, &m, &err), -1);
    assert_non_null (strstr (err.msg, "not a version"));
    gsi_error_clear (&err);
  }
}

/* ---- the rest of the header ------------------------------------------------------------------ */

static void
test_date_versions (void **state)
{
  (void) state;
  assert_true (gsi_pypi_is_date_version ("2012.1"));
  assert_true (gsi_pypi_is_date_version ("2011.3"));
  assert_true (gsi_pypi_is_date_version ("2014.2.4"));
  assert_true (gsi_pypi_is_date_version ("2015.1.0b3"));
  assert_true (gsi_pypi_is_date_version ("2015.1.4"));
  assert_false (gsi_pypi_is_date_version ("2010.1"));
  assert_false (gsi_pypi_is_date_version ("2016.1"));
  assert_false (gsi_pypi_is_date_version ("8.0.0"));
  assert_false (gsi_pypi_is_date_version ("26.0.0"));
  assert_false (gsi_pypi_is_date_version ("1!2012.1"));
  assert_false (gsi_pypi_is_date_version ("20120.1"));
  assert_false (gsi_pypi_is_date_version ("not a version"));
}

static void
test_ecosystem_names (void **state)
{
  (void) state;
  assert_int_equal (gsi_ecosystem_parse ("deb"), GSI_ECO_DEB);
  assert_int_equal (gsi_ecosystem_parse ("Debian"), GSI_ECO_DEB);
  assert_int_equal (gsi_ecosystem_parse ("PyPI"), GSI_ECO_PYPI);
  assert_int_equal (gsi_ecosystem_parse ("pip"), GSI_ECO_PYPI);
  assert_int_equal (gsi_ecosystem_parse ("npm"), -1);
  assert_int_equal (gsi_ecosystem_parse (NULL), -1);
  assert_string_equal (gsi_ecosystem_name (GSI_ECO_DEB), "deb");
  assert_string_equal (gsi_ecosystem_name (GSI_ECO_PYPI), "pypi");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_debian_corpus),
    cmocka_unit_test (test_pypi_corpus),
    cmocka_unit_test (test_debian_order),
    cmocka_unit_test (test_debian_invalid),
    cmocka_unit_test (test_pep440_order),
    cmocka_unit_test (test_pep440_normalize),
    cmocka_unit_test (test_pep440_invalid),
    cmocka_unit_test (test_pep503),
    cmocka_unit_test (test_specifiers),
    cmocka_unit_test (test_specifiers_invalid),
    cmocka_unit_test (test_date_versions),
    cmocka_unit_test (test_ecosystem_names),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
