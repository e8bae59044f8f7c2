/* What gsi scan does with the matcher's findings: ignore files, filters, and the table, JSON and
 * SARIF reports.
 *
 * Ignore files are Trivy's two forms:
 *   plain (.trivyignore): one id per line, blank lines and `#` lines skipped, fields split on
 *     blanks; a field `exp:YYYY-MM-DD` makes the rule expire on that date; other fields (an
 *     inline `# comment`) are left alone.
 *   YAML (a name ending in .yaml or .yml, as .trivyignore.yaml): a mapping whose `vulnerabilities`
 *     list holds {id, paths, purls, expired_at, statement}; `misconfigurations`, `secrets` and
 *     `licenses` are accepted and concern nothing gsi scans.  paths are globs (BuildKit's pattern
 *     rules, `**` included) matched against the package's location in the image (a dist-info /
 *     egg-info directory and the files in it, or the dpkg status file); purls match as Trivy's do
 *     (type, namespace and name equal; version only when given; every qualifier given present and
 *     equal), Debian epochs written either way (`?epoch=1` or `@1:2.0`).
 * A rule matches a finding by its id or any alias.  A rule stops applying on its expiry date.
 * Anything malformed is an error "FILE:LINE: cause".  */
#ifndef GSI_VULN_REPORT_H
#define GSI_VULN_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"
#include "vuln/inventory.h"
#include "vuln/vulndb.h"

typedef struct gsi_ignore_rule
{
  char *id;
  gsi_strvec paths, purls; /* empty: any */
  char *expires;           /* "YYYY-MM-DD", NULL when the rule does not expire */
  char *statement;         /* YAML form only, may be NULL */
  char *where;             /* "FILE:LINE" of the rule */
  void *matchers_;         /* compiled paths */
} gsi_ignore_rule;

typedef struct gsi_ignore
{
  gsi_ignore_rule *v;
  size_t n, alloc_;
} gsi_ignore;

/* Reads an ignore file, the form chosen by its name.  Rules accumulate in out.  */
int gsi_ignore_load (const char *path, gsi_ignore *out, gsi_error *err);
/* The two forms from memory; name is used in messages.  */
int gsi_ignore_parse_plain (const char *name, const char *data, size_t len, gsi_ignore *out, gsi_error *err);
int gsi_ignore_parse_yaml (const char *name, const char *data, size_t len, gsi_ignore *out, gsi_error *err);
void gsi_ignore_clear (gsi_ignore *ig);

/* The rule of ig (unexpired on today, "YYYY-MM-DD") that covers finding f of inv, or NULL.  */
const gsi_ignore_rule *gsi_ignore_match (const gsi_ignore *ig, const gsi_inventory *inv, const gsi_finding *f,
                                         const char *today);

/* Parses "HIGH,CRITICAL" (case-insensitive) into a bit per gsi_severity.  */
int gsi_severity_set_parse (const char *list, unsigned *set, gsi_error *err);

typedef struct gsi_scan_filter
{
  unsigned severities;      /* bits of gsi_severity; 0 keeps every severity */
  bool ignore_unfixed;      /* drop findings that have no fixed version */
  const gsi_ignore *ignore; /* may be NULL */
  const char *today;        /* "YYYY-MM-DD", for expiry */
} gsi_scan_filter;

/* Which findings a report shows, by index into the findings.  */
typedef struct gsi_report_sel
{
  size_t *shown, nshown;
  size_t *ignored, nignored;             /* dropped by an ignore rule ... */
  const gsi_ignore_rule **ignored_by;    /* ... this one */
  size_t by_severity, by_unfixed;        /* dropped by --severity and --ignore-unfixed */
} gsi_report_sel;

void gsi_report_select (const gsi_findings *f, const gsi_inventory *inv, const gsi_scan_filter *flt, gsi_report_sel *sel);
void gsi_report_sel_clear (gsi_report_sel *sel);

typedef enum gsi_report_format
{
  GSI_REPORT_TABLE = 0,
  GSI_REPORT_JSON,
  GSI_REPORT_SARIF,
} gsi_report_format;

typedef struct gsi_report_meta
{
  const char *ref;          /* the image as the user named it */
  const char *digest;       /* its manifest digest, may be NULL */
  const char *tool_version; /* gsi's version */
} gsi_report_meta;

/* A link for an advisory id: the Debian tracker for tracker findings, else osv.dev.  */
char *gsi_advisory_url (const gsi_finding *f);

/* Appends the report to out.  SARIF 2.1.0 as GitHub code scanning takes it: one rule per advisory
 * id (ruleId = that id, with `security-severity`), one result per finding, located at the
 * package's path in the image, with a fingerprint that does not change with the installed
 * version.  */
void gsi_report_write (gsi_buf *out, gsi_report_format fmt, const gsi_report_meta *m, const gsi_inventory *inv,
                       const gsi_findings *f, const gsi_report_sel *sel);

#endif
