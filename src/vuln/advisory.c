/* Advisory ids: see advisory.h.  */
#include "vuln/advisory.h"

#include <string.h>

static size_t
digits (const char *s)
{
  return strspn (s, "0123456789");
}

/* "YYYY-N..." with at least min digits after the dash, and nothing after them.  */
static bool
year_number (const char *s, size_t min)
{
  if (digits (s) != 4 || s[4] != '-' || s[0] == '0')
    return false;
  size_t n = digits (s + 5);
  return n >= min && s[5 + n] == '\0';
}

static bool
ghsa (const char *s)
{
  static const char alphabet[] = "23456789cfghjmpqrvwx";
  for (int group = 0; group < 3; group++, s += 5)
    if (strspn (s, alphabet) < 4 || s[4] != (group < 2 ? '-' : '\0'))
      return false;
  return true;
}

/* "N-N": the Debian advisories' number and revision.  */
static bool
debian (const char *s)
{
  size_t n = digits (s), m = n ? digits (s + n + 1) : 0;
  return n > 0 && s[n] == '-' && m > 0 && s[n + 1 + m] == '\0';
}

bool
gsi_advisory_id_valid (const char *id, gsi_error *err)
{
  bool ok;

  if (strncmp (id, "CVE-", 4) == 0)
    ok = year_number (id + 4, 4);
  else if (strncmp (id, "GHSA-", 5) == 0)
    ok = strlen (id) == 19 && ghsa (id + 5);
  else if (strncmp (id, "PYSEC-", 6) == 0)
    ok = year_number (id + 6, 1);
  else if (strncmp (id, "OSV-", 4) == 0)
    ok = year_number (id + 4, 1);
  else if (strncmp (id, "DSA-", 4) == 0 || strncmp (id, "DLA-", 4) == 0)
    ok = debian (id + 4);
  else
    {
      if (err)
        gsi_error_set (err, 0,
                       "advisory id `%s` is none of CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx, PYSEC-YYYY-N, OSV-YYYY-N, "
                       "DSA-N-N, DLA-N-N",
                       id);
      return false;
    }
  if (!ok && err)
    gsi_error_set (err, 0, "advisory id `%s` is malformed", id);
  return ok;
}
