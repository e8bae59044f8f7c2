/* gsi patch suggest: the fewest upgrades that clear a scan's fixable findings, written as the CVE
 * patch file catalog build reads (catalog.h, patches/IMAGE.yaml).  */
#ifndef GSI_VULN_SUGGEST_H
#define GSI_VULN_SUGGEST_H

#include <stddef.h>

#include "util/buf.h"
#include "vuln/inventory.h"
#include "vuln/report.h"
#include "vuln/vulndb.h"

/* Appends to out a patch file for release: one entry per package (a Debian binary package, or a
 * Python distribution) that has a shown, fixable finding, asking for the highest of its findings'
 * fixed versions (the one upgrade that clears them all), with the findings' advisory ids (the
 * preferred id and its aliases in the forms of vuln/advisory.h) and a reason naming how many
 * advisories it clears and the worst severity.  Findings none of whose ids has such a form are
 * listed in a comment instead, as are unfixed ones.  Returns the number of entries.  */
size_t gsi_patch_suggest (gsi_buf *out, const char *release, const char *ref, const gsi_inventory *inv,
                          const gsi_findings *f, const gsi_report_sel *sel);

#endif
