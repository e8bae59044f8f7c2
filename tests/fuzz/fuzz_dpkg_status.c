/* libFuzzer target: the inventory parsers and the SBOM writers over them.  The first input byte
 * picks the parser for the rest: 'P' Python METADATA / PKG-INFO, 'O' os-release, anything else a
 * dpkg status file; the input is then also given to os-release, so purls are built with whatever
 * it names.  The parsers never fail; afterwards every package has a name, a normalised name, a
 * version, a location and a purl, Debian ones a source name and version, the order is the one
 * gsi_inventory_find relies on, and both SBOM formats are written and are JSON.  */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/buf.h"
#include "vuln/inventory.h"
#include "vuln/sbom.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_inventory (const gsi_inventory *inv)
{
  for (size_t i = 0; i < inv->n; i++)
    {
      const gsi_package *p = &inv->pkgs[i];
      if (p->name == NULL || p->norm_name == NULL || p->version == NULL || p->location == NULL || p->purl == NULL
          || *p->name == '\0' || *p->version == '\0')
        abort ();
      if (p->ecosystem == GSI_ECO_DEB && (p->source_name == NULL || p->source_version == NULL))
        abort ();
      if (p->ecosystem == GSI_ECO_PYPI && strchr (p->norm_name, '_') != NULL)
        abort ();
      if (i > 0 && (p->ecosystem < p[-1].ecosystem
                    || (p->ecosystem == p[-1].ecosystem && strcmp (p->norm_name, p[-1].norm_name) < 0)))
        abort ();
      size_t first;
      if (gsi_inventory_find (inv, p->ecosystem, p->norm_name, &first) == 0 || first > i)
        abort ();
    }
}

static void
check_sbom (const gsi_inventory *inv, gsi_sbom_format fmt)
{
  static const gsi_sbom_subject subj = { "ghcr.io/x/fuzz:1", "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                                         "2025-01-31T12:00:00Z" };
  gsi_buf out = GSI_BUF_INIT;
  gsi_error err = GSI_ERROR_INIT;
  json_error_t jerr;

  if (gsi_sbom_write (inv, &subj, fmt, &out, &err) < 0)
    abort ();
  json_t *doc = json_loadb (out.buf, out.len, 0, &jerr);
  if (doc == NULL)
    abort ();
  json_decref (doc);
  gsi_buf_release (&out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsi_inventory inv;
  const char *text = (const char *) data + 1;
  size_t len = size - 1, n;

  if (size == 0)
    return 0;
  memset (&inv, 0, sizeof inv);
  switch (data[0])
    {
    case 'P':
      n = gsi_inventory_add_python_metadata (&inv, text, len, "opt/venv/lib/python3.13/site-packages/x-1.dist-info");
      if (n > 1)
        abort ();
      break;
    case 'O':
      n = 0;
      break;
    default:
      n = gsi_inventory_add_dpkg_status (&inv, text, len, "var/lib/dpkg/status");
      break;
    }
  if (n != inv.n)
    abort ();
  gsi_inventory_set_os_release (&inv, text, len);
  gsi_inventory_finish (&inv);
  check_inventory (&inv);
  check_sbom (&inv, GSI_SBOM_CYCLONEDX);
  check_sbom (&inv, GSI_SBOM_SPDX);
  gsi_inventory_clear (&inv);
  return 0;
}
