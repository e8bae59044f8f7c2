/* The vulnerability database: OSV records and Debian security tracker data in one SQLite file,
 * GSI_ROOT/gsi-private/vuln.db, and the matcher that finds which installed packages they affect.  */
#ifndef GSI_VULN_VULNDB_H
#define GSI_VULN_VULNDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/store.h"
#include "util/error.h"
#include "util/strvec.h"
#include "vuln/inventory.h"

typedef struct gsi_vulndb gsi_vulndb;

/* Opens (creating) the database of a store.  */
int gsi_vulndb_open (gsi_store *s, gsi_vulndb **out, gsi_error *err);
int gsi_vulndb_open_path (const char *path, gsi_vulndb **out, gsi_error *err);
void gsi_vulndb_close (gsi_vulndb *db);

typedef struct gsi_import_stats
{
  size_t files, records, withdrawn, skipped_ecosystem; /* skipped: OSV records of ecosystems gsi does not scan */
  size_t unchanged; /* records (counted in records) already held with the same or a newer "modified" */
} gsi_import_stats;

/* Imports PATH: an OSV record (.json, .yaml, .yml), a folder of them (recursively), a .zip of them,
 * or a Debian security tracker JSON (detected by content).  Records are replaced by id with their
 * newer "modified".  A malformed record fails the import with FILE: cause, and nothing of that
 * call is committed.  */
int gsi_vulndb_import (gsi_vulndb *db, const char *path, gsi_import_stats *st, gsi_error *err);
/* The same for several paths in one transaction: all of them, or nothing.  */
int gsi_vulndb_import_paths (gsi_vulndb *db, const char *const *paths, size_t n, gsi_import_stats *st,
                             gsi_error *err);

typedef struct gsi_vulndb_source
{
  char *name;      /* "osv:PyPI", "debian-tracker" */
  size_t records;
  char *imported;  /* RFC 3339 of the last import */
  char *newest;    /* newest "modified" among its records, or NULL */
} gsi_vulndb_source;

int gsi_vulndb_status (gsi_vulndb *db, gsi_vulndb_source **out, size_t *n, gsi_error *err);
void gsi_vulndb_sources_free (gsi_vulndb_source *v, size_t n);

typedef enum gsi_severity
{
  GSI_SEV_UNKNOWN = 0,
  GSI_SEV_LOW,
  GSI_SEV_MEDIUM,
  GSI_SEV_HIGH,
  GSI_SEV_CRITICAL,
} gsi_severity;

const char *gsi_severity_name (gsi_severity s); /* "UNKNOWN", "LOW", ... */
int gsi_severity_parse (const char *s);         /* -1 when unknown */

typedef struct gsi_finding
{
  char *id;              /* the preferred id: CVE when one is among the aliases, else the record id */
  char **aliases;        /* every other id of the merged records, sorted, NULL-terminated */
  size_t pkg;            /* index into the inventory */
  char *fixed_version;   /* lowest fixed version above the installed one, NULL when unfixed */
  gsi_severity severity;
  double cvss_score;     /* 0 when unknown */
  char *summary;         /* may be NULL */
  char *source;          /* "osv:PyPI", "debian-tracker" */
} gsi_finding;

typedef struct gsi_findings
{
  gsi_finding *v;
  size_t n, alloc_;
  gsi_strvec warnings;   /* what could not be evaluated, one line each ("CVE-X: pkg 1.0: not evaluated: ...") */
  gsi_strvec suppressed; /* "ID NAME VERSION": PyPI entries the date-scheme rule kept from matching */
} gsi_findings;

/* Matches every package of inv against the database (OSV ranges for pypi, Debian tracker by
 * source package and the inventory's release codename for deb), merges records that share an
 * alias so one vulnerability of one package is reported once, and sorts by package, then id.
 * A merged finding's fixed_version is the highest of its records' fixes (the upgrade that clears
 * all of them).  The rules (date-scheme versions, Python owned by Debian packages) are in match.c.
 * Versions the matcher cannot compare do not fail the match: they are listed in warnings.  */
int gsi_vulndb_match (gsi_vulndb *db, const gsi_inventory *inv, gsi_findings *out, gsi_error *err);
void gsi_findings_clear (gsi_findings *f);

#endif
