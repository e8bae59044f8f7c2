/* Version ordering for the two ecosystems gsi scans: Debian (dpkg) and Python (PEP 440).
 *
 * Debian: [epoch:]upstream[-revision], compared as dpkg does (epoch numerically; then upstream and
 * revision by alternating non-digit runs, where '~' sorts before everything, even the end, and
 * letters sort before other characters, and digit runs compared numerically).
 *
 * PEP 440: normalised first (case, "v" prefix, alternative spellings of pre/post/dev separators,
 * "alpha"/"a", "c"/"rc", implicit post "1.0-1", leading zeros, trailing ".0" insignificant), then
 * ordered by epoch, release, pre, post, dev and local segments as the specification says.
 * Specifiers: ~=, ==, !=, <=, >=, <, >, === with wildcards (==1.2.*) and the exclusion rules for
 * pre-releases and local versions of the specification.  */
#ifndef GSI_VULN_VERSION_H
#define GSI_VULN_VERSION_H

#include <stdbool.h>

#include "util/error.h"

typedef enum gsi_ecosystem
{
  GSI_ECO_DEB = 0,
  GSI_ECO_PYPI,
} gsi_ecosystem;

/* "deb"/"debian" or "pypi"/"pip"/"python" (case-insensitive); -1 when unknown.  */
int gsi_ecosystem_parse (const char *s);
const char *gsi_ecosystem_name (gsi_ecosystem e); /* "deb", "pypi" */

/* True when s is a valid version of the ecosystem; err (may be NULL) says why not.  */
bool gsi_version_valid (gsi_ecosystem e, const char *s, gsi_error *err);

/* Compares a and b: *cmp gets <0, 0 or >0.  Fails on an invalid version, naming it and why.  */
int gsi_version_compare (gsi_ecosystem e, const char *a, const char *b, int *cmp, gsi_error *err);

/* Orders two PyPI version strings as pypa/packaging did before 22.0 (and as the osv-scalibr PyPI
 * corpus was generated): two PEP 440 versions as gsi_version_compare; any other string is a
 * "legacy" version (setuptools' old key, e.g. "0.3m1", "2.0.0-final") that sorts before every PEP 440
 * version.  Never fails; <0, 0 or >0.  */
int gsi_pypi_compare_legacy (const char *a, const char *b);

/* The normalised PEP 440 form ("1.0RC1" -> "1.0rc1"), malloc'd; NULL with err when invalid.  */
char *gsi_pep440_normalize (const char *s, gsi_error *err);
/* The PEP 503 project name ("Oslo.Config" -> "oslo-config"), malloc'd.  */
char *gsi_pep503_name (const char *name);

/* Whether version satisfies a PEP 440 specifier set ("~=1.4,!=1.4.3,<2"); pre-releases match only
 * when the specifier names one or allow_pre is true.  */
int gsi_pep440_satisfies (const char *version, const char *spec, bool allow_pre, bool *match, gsi_error *err);

/* OpenStack's 2015 version-scheme change: true for a PEP 440 version whose first release segment
 * is a year of the old date scheme (2011 to 2015: "2012.1", "2015.1.0b3").  */
bool gsi_pypi_is_date_version (const char *version);

#endif
