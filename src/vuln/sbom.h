/* Software bills of materials from an image's inventory: CycloneDX 1.5 JSON and SPDX 2.3 JSON.
 *
 * The document is a function of the inventory and the subject alone: components sorted as the
 * inventory is, serial numbers and SPDX namespaces derived from the image digest, the timestamp
 * taken from the subject (the image's `created`), so the same image always gives the same bytes.  */
#ifndef GSI_VULN_SBOM_H
#define GSI_VULN_SBOM_H

#include "util/buf.h"
#include "util/error.h"
#include "vuln/inventory.h"

typedef enum gsi_sbom_format
{
  GSI_SBOM_CYCLONEDX,
  GSI_SBOM_SPDX,
} gsi_sbom_format;

/* What the SBOM describes.  */
typedef struct gsi_sbom_subject
{
  const char *name;    /* the reference as given ("ghcr.io/.../keystone:2025.1-latest") */
  const char *digest;  /* the manifest digest, "sha256:..." */
  const char *created; /* RFC 3339 time of the image config's `created`, or NULL (then 1970-01-01T00:00:00Z) */
} gsi_sbom_subject;

/* Parses "cyclonedx" or "spdx".  */
int gsi_sbom_format_parse (const char *s, gsi_sbom_format *out, gsi_error *err);

/* Appends the SBOM of inv, describing subj, to out (indented JSON, ending in a newline).  */
int gsi_sbom_write (const gsi_inventory *inv, const gsi_sbom_subject *subj, gsi_sbom_format fmt, gsi_buf *out,
                    gsi_error *err);

#endif
