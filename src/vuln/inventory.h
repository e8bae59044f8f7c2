/* What is installed in an image, read straight from its layer blobs: no unpack to disk.
 *
 * The layers are read bottom to top with libarchive and the files that matter are kept in memory
 * only while a higher layer may still replace or delete them (whiteouts and opaque directories
 * honoured): var/lib/dpkg/status, var/lib/dpkg/status.d/ *, var/lib/dpkg/info/ *.list, and the
 * METADATA / PKG-INFO of every *.dist-info and *.egg-info directory (or egg-info file) under a
 * site-packages or dist-packages directory anywhere in the tree (system Python and venvs such as
 * /var/lib/openstack).  */
#ifndef GSI_VULN_INVENTORY_H
#define GSI_VULN_INVENTORY_H

#include <stddef.h>

#include "oci/store.h"
#include "util/error.h"
#include "vuln/version.h"

typedef struct gsi_package
{
  gsi_ecosystem ecosystem;
  char *name;         /* deb: binary package; pypi: name as the metadata spells it */
  char *norm_name;    /* deb: same as name; pypi: PEP 503 normalised */
  char *version;      /* deb: full version with epoch; pypi: as in the metadata */
  char *source_name;  /* deb: source package (from Source:, else name) */
  char *source_version; /* deb: source version (from "Source: x (ver)", else version) */
  char *arch;         /* deb: Architecture, else NULL */
  char *location;     /* pypi: path of the metadata dir in the image ("var/lib/openstack/lib/python3.13/site-packages/keystone-27.0.0.dist-info");
                         deb: "var/lib/dpkg/status" or the status.d file */
  char *owner_deb;    /* pypi: the Debian package whose .list names the metadata dir, else NULL */
  char *purl;         /* "pkg:deb/debian/openssl@3.5.1-1?arch=amd64&distro=debian-13", "pkg:pypi/oslo-config@9.8.0" */
  char *license;      /* when the metadata states one, else NULL */
} gsi_package;

typedef struct gsi_inventory
{
  char *os_id, *os_version_id, *os_codename; /* from etc/os-release (or usr/lib/os-release); NULL when absent */
  gsi_package *pkgs;  /* sorted by ecosystem, norm_name, version, location: deterministic */
  size_t n;
} gsi_inventory;

/* Reads the image ref names in the store.  */
int gsi_inventory_read (gsi_store *s, const char *ref, gsi_inventory *out, gsi_error *err);
void gsi_inventory_clear (gsi_inventory *inv);

/* Finds the packages of an ecosystem by normalised name (PEP 503 for pypi); *first gets the index
 * of the first, the count is returned (0 when none).  */
size_t gsi_inventory_find (const gsi_inventory *inv, gsi_ecosystem e, const char *name, size_t *first);

/* The parsers gsi_inventory_read is made of, for tests and the fuzzer.  They never fail: malformed
 * stanzas or metadata are skipped.  Each returns the number of packages it appended.
 *   dpkg: RFC 822 stanzas of var/lib/dpkg/status or a status.d file; a stanza counts when it has
 *     Package and Version and its Status (when present: status.d stanzas have none) says the files
 *     are on disk (installed, unpacked, half-configured, triggers-*; not config-files or
 *     not-installed).
 *   python: the header block of a METADATA / PKG-INFO (Name, Version, License-Expression, else
 *     License, else the License :: classifiers).
 * gsi_inventory_set_os_release reads an os-release file.  gsi_inventory_finish sets the PURLs (which
 * need os-release) and sorts; call it once after the parsers.  */
size_t gsi_inventory_add_dpkg_status (gsi_inventory *inv, const char *data, size_t len, const char *location);
size_t gsi_inventory_add_python_metadata (gsi_inventory *inv, const char *data, size_t len, const char *location);
void gsi_inventory_set_os_release (gsi_inventory *inv, const char *data, size_t len);
void gsi_inventory_finish (gsi_inventory *inv);

#endif
