/* libFuzzer target: version parsing, ordering, normalisation and specifiers.  The input is up to
 * three lines A, B, C.  Beyond "no crash, no leak", the orderings must be consistent: antisymmetric,
 * reflexive, transitive over A, B, C, and a normalised PEP 440 version must equal its original.  */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vuln/version.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
sgn (int c)
{
  return (c > 0) - (c < 0);
}

/* The ordering of e as a total function: -2 when either side is invalid.  */
static int
order (gsi_ecosystem e, const char *a, const char *b)
{
  gsi_error err = GSI_ERROR_INIT;
  int c;

  if (gsi_version_compare (e, a, b, &c, &err) < 0)
    {
      if (err.msg == NULL)
        abort ();
      gsi_error_clear (&err);
      return -2;
    }
  return sgn (c);
}

static void
check_order (gsi_ecosystem e, const char *const v[3])
{
  int ab = order (e, v[0], v[1]), bc = order (e, v[1], v[2]), ac = order (e, v[0], v[2]);

  for (int i = 0; i < 3; i++)
    {
      bool valid = gsi_version_valid (e, v[i], NULL);
      if (valid != (order (e, v[i], v[i]) == 0))
        abort ();
    }
  if (ab != -2 && order (e, v[1], v[0]) != -ab)
    abort ();
  if (ab != -2 && bc != -2 && ac != -2)
    {
      if (ab <= 0 && bc <= 0 && ac != (ab < 0 || bc < 0 ? -1 : 0))
        abort ();
      if (ab >= 0 && bc >= 0 && ac != (ab > 0 || bc > 0 ? 1 : 0))
        abort ();
    }
}

static void
check_legacy (const char *const v[3])
{
  int ab = sgn (gsi_pypi_compare_legacy (v[0], v[1])), bc = sgn (gsi_pypi_compare_legacy (v[1], v[2]));
  int ac = sgn (gsi_pypi_compare_legacy (v[0], v[2]));

  if (sgn (gsi_pypi_compare_legacy (v[1], v[0])) != -ab || gsi_pypi_compare_legacy (v[0], v[0]) != 0)
    abort ();
  if (ab <= 0 && bc <= 0 && ac != (ab < 0 || bc < 0 ? -1 : 0))
    abort ();
}

static void
check_normalize (const char *s)
{
  gsi_error err = GSI_ERROR_INIT;
  char *n = gsi_pep440_normalize (s, &err), *n2;

  if (n == NULL)
    {
      if (err.msg == NULL || gsi_version_valid (GSI_ECO_PYPI, s, NULL))
        abort ();
      gsi_error_clear (&err);
      return;
    }
  n2 = gsi_pep440_normalize (n, &err);
  if (n2 == NULL || strcmp (n, n2) != 0 || order (GSI_ECO_PYPI, s, n) != 0)
    abort ();
  free (n2);
  free (n);
}

static void
check_spec (const char *version, const char *spec)
{
  gsi_error err = GSI_ERROR_INIT;
  bool m, m_pre;

  if (gsi_pep440_satisfies (version, spec, false, &m, &err) < 0)
    {
      if (err.msg == NULL)
        abort ();
      gsi_error_clear (&err);
      return;
    }
  if (gsi_pep440_satisfies (version, spec, true, &m_pre, &err) < 0)
    abort ();
  /* Allowing pre-releases can only add matches.  */
  if (m && !m_pre)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *copy = strndup ((const char *) data, size), *p;
  const char *v[3] = { "", "", "" };

  if (copy == NULL)
    abort ();
  p = copy;
  for (int i = 0; i < 3 && p; i++)
    {
      v[i] = p;
      p = strchr (p, '\n');
      if (p)
        *p++ = '\0';
    }
  check_order (GSI_ECO_DEB, v);
  check_order (GSI_ECO_PYPI, v);
  check_legacy (v);
  for (int i = 0; i < 3; i++)
    {
      check_normalize (v[i]);
      (void) gsi_pypi_is_date_version (v[i]);
      free (gsi_pep503_name (v[i]));
    }
  check_spec (v[0], v[1]);
  check_spec (v[1], v[2]);
  free (copy);
  return 0;
}
