/* What every YAML reader of gsi shares (catalog.yaml, patch files, registries.yaml, OSV records,
 * .trivyignore.yaml): libfyaml set up to collect its errors instead of printing them.
 *
 * libfyaml 0.7 has two traps this avoids.  It can loop forever on some invalid UTF-8, so text is
 * checked first (gsi_utf8_first_bad).  And printing a diagnostic can crash it (reading past its
 * token while showing the source line; found by fuzz_osv), so diagnostics are only ever collected:
 * the first one becomes a located gsi_error.  */
#ifndef GSI_UTIL_YAML_H
#define GSI_UTIL_YAML_H

#include <stddef.h>

#include <libfyaml.h>

#include "util/error.h"

/* A diagnostic object that collects errors silently, for a parse config's `diag`; NULL on ENOMEM
 * (err set).  Release it with gsi_yaml_diag_release once its errors are read.  */
struct fy_diag *gsi_yaml_diag_new (const char *file, gsi_error *err);

/* Drops the collected errors (fy_diag_unref alone leaks them, and through their tokens the whole
 * input) and this reference.  */
void gsi_yaml_diag_release (struct fy_diag *diag);

/* After a failed parse: "FILE:LINE:COL: invalid YAML: cause" from diag's first error (without one,
 * "FILE: invalid YAML: cannot parse").  Returns -1.  */
int gsi_yaml_diag_error (struct fy_diag *diag, const char *file, gsi_error *err);

/* Checks that data is UTF-8 text without NUL: else "FILE:LINE: invalid YAML: byte 0xXX is not
 * UTF-8 text" and -1.  */
int gsi_yaml_check_text (const char *file, const char *data, size_t len, gsi_error *err);

#endif
