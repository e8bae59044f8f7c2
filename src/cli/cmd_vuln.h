/* What gsi db and gsi scan share: finding the vulnerability database.  */
#ifndef GSI_CMD_VULN_H
#define GSI_CMD_VULN_H

#include "util/error.h"
#include "vuln/vulndb.h"

/* given, else GSI_ROOT/gsi-private/vuln.db of the default store (malloc'd).  */
char *cli_vulndb_path (const char *given, gsi_error *err);
/* Opens that database, failing with a hint when it does not exist (reading never creates one).  */
int cli_vulndb_open_existing (const char *given, gsi_vulndb **db, gsi_error *err);

#endif
