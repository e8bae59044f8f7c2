/* Advisory ids, as CVE patches and ignore files name them.  */
#ifndef GSI_VULN_ADVISORY_H
#define GSI_VULN_ADVISORY_H

#include <stdbool.h>

#include "util/error.h"

/* Whether id is one of the forms gsi knows, exactly:
 *   CVE-YYYY-NNNN        four or more digits after the year (MITRE's syntax since 2014)
 *   GHSA-xxxx-xxxx-xxxx  GitHub's alphabet 23456789cfghjmpqrvwx, lower case
 *   PYSEC-YYYY-N, OSV-YYYY-N   the PyPA and OSV databases' own ids
 *   DSA-N-N, DLA-N-N     Debian security and LTS advisories
 * err (may be NULL) says what is wrong with any other.  */
bool gsi_advisory_id_valid (const char *id, gsi_error *err);

#endif
