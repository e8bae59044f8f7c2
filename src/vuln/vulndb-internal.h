/* Shared between vulndb.c (storage), osv.c and debtracker.c (parsers) and match.c (the matcher);
 * not part of the module's contract.  */
#ifndef GSI_VULN_VULNDB_INTERNAL_H
#define GSI_VULN_VULNDB_INTERNAL_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/strvec.h"
#include "vuln/version.h"
#include "vuln/vulndb.h"

struct gsi_vulndb
{
  sqlite3 *db;
  char *path;
};

/* One affected[] entry of a supported ecosystem, as stored in the affected table.  data is
 * {"ranges": [{"type", "events": [{"introduced"|"fixed"|"last_affected"|"limit": V}]}],
 *  "versions": [...], "git_fixed": true?} with GIT ranges left out (git_fixed says whether one of
 * them recorded a fix commit: the date-scheme rule of the matcher needs it).  */
typedef struct gsi_osv_affected
{
  gsi_ecosystem ecosystem;
  char *name;     /* PEP 503 for PyPI; the source package for Debian */
  char *release;  /* "13" for "Debian:13", NULL when the ecosystem names no release */
  json_t *data;
} gsi_osv_affected;

typedef struct gsi_osv_record
{
  char *id, *modified, *published, *summary;
  bool withdrawn;
  gsi_strvec aliases;
  gsi_severity severity;
  double cvss;
  char *source;                /* "osv:PyPI", "osv:Debian": from the first supported entry */
  gsi_osv_affected *affected;
  size_t naffected, nalloc_;
  size_t skipped;              /* affected[] entries of ecosystems gsi does not scan */
} gsi_osv_record;

/* Parses one OSV record, JSON or YAML (YAML when yaml is true), into rec.  name is used in errors
 * ("NAME: cause").  A record none of whose entries gsi scans parses fine with naffected 0.  */
int gsi_osv_parse (const char *name, const char *data, size_t len, bool yaml, gsi_osv_record *rec, gsi_error *err);
/* The same from an already parsed JSON document.  */
int gsi_osv_from_json (const char *name, json_t *doc, gsi_osv_record *rec, gsi_error *err);
void gsi_osv_record_clear (gsi_osv_record *rec);

/* Reads a whole regular file of at most max bytes (NUL-terminated).  */
int gsi_vuln_read_file (const char *path, size_t max, char **data, size_t *len, gsi_error *err);

/* Parses YAML text into a libfyaml document; a syntax error reads "NAME:LINE:COL: invalid YAML:
 * cause".  For osv.c and the ignore files of report.c.  */
struct fy_document;
struct fy_document *gsi_vuln_yaml_parse (const char *name, const char *data, size_t len, gsi_error *err);

/* The summary, else the first line of details (trimmed, at most 240 bytes); NULL when neither.  */
char *gsi_vuln_summary (const char *summary, const char *details);

/* The CVSS v3.0/v3.1 base score of a vector ("CVSS:3.1/AV:N/..."), -1 when it is not one.  */
double gsi_cvss3_base_score (const char *vector);
/* The qualitative rating of a CVSS v3 score.  */
gsi_severity gsi_cvss3_severity (double score);

/* True when the JSON document looks like the Debian security tracker export
 * ({"srcpkg": {"CVE-...": {"releases": ...}}}) rather than an OSV record.  */
bool gsi_debtracker_detect (json_t *doc);
/* Replaces the debian-tracker source with doc.  name is used in errors.  */
int gsi_debtracker_import (gsi_vulndb *db, const char *name, json_t *doc, gsi_import_stats *st, gsi_error *err);

/* Stores a parsed OSV record (replacing an older one of the same id); *stored is false when the
 * database already holds it with the same or a newer "modified".  */
int gsi_vulndb_put_osv (gsi_vulndb *db, const gsi_osv_record *rec, bool *stored, gsi_error *err);

static inline void
cleanup_stmtp (sqlite3_stmt **st)
{
  sqlite3_finalize (*st);
}
#define cleanup_stmt __attribute__ ((cleanup (cleanup_stmtp)))

/* SQLite helpers: an error naming the statement's failure.  */
int gsi_vulndb_sql_error (gsi_vulndb *db, const char *what, gsi_error *err);
int gsi_vulndb_exec (gsi_vulndb *db, const char *sql, gsi_error *err);

#endif
