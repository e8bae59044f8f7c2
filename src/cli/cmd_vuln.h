/* What gsi db and gsi scan share: finding the vulnerability database.  */
#ifndef GSI_CMD_VULN_H
#define GSI_CMD_VULN_H

#include "oci/store.h"
#include "util/buf.h"
#include "util/error.h"
#include "vuln/inventory.h"
#include "vuln/report.h"
#include "vuln/vulndb.h"

/* given, else GSI_ROOT/gsi-private/vuln.db of the default store (malloc'd).  */
char *cli_vulndb_path (const char *given, gsi_error *err);
/* Opens that database, failing with a hint when it does not exist (reading never creates one).  */
int cli_vulndb_open_existing (const char *given, gsi_vulndb **db, gsi_error *err);

/* One image scanned: what gsi scan reports and gsi patch suggest turns into patches.  */
typedef struct cli_scan
{
  gsi_descriptor desc; /* the image's manifest */
  gsi_inventory inv;
  gsi_findings found;
  gsi_report_sel sel;  /* the findings flt keeps */
} cli_scan;

/* Scans ref of the default store against the database (given, else the store's) and selects
 * with flt; warnings of the matcher go to stderr.  Clear out with cli_scan_clear either way.  */
int cli_scan_image (const char *db, const char *ref, const gsi_scan_filter *flt, cli_scan *out, gsi_error *err);
void cli_scan_clear (cli_scan *s);

/* "YYYY-MM-DD" of today in UTC, for ignore-rule expiry.  */
void cli_today_utc (char out[16]);

/* Writes b to path (atomically: a temp file renamed) or, when path is NULL, to stdout.  */
int cli_write_output (const char *path, const gsi_buf *b, gsi_error *err);

#endif
