/* gsi's per-registry settings: TLS verification, CA certificates and pull mirrors.
 *
 * The file is YAML, read from $GSI_REGISTRIES_CONF when set, else ~/.config/gsi/registries.yaml
 * ($XDG_CONFIG_HOME honoured), else /etc/gsi/registries.yaml; a missing file means defaults:
 *
 *   registries:
 *     "127.0.0.1:5000":
 *       tls-verify: false          # also allows plain HTTP for this registry
 *     docker.io:
 *       mirrors:                   # tried in order for pulls, then the registry itself
 *         - mirror.example.internal:5000
 *         - registry.example.internal/dockerhub   # a path prefix is put in front of the repository
 *     ghcr.io:
 *       ca-dir: /etc/gsi/certs.d/ghcr.io       # *.crt files added to the system CAs
 *
 * Unknown keys and wrong types are errors located in the file ("registries.yaml:4:7: ...").
 *
 * CA directories: for host H, besides an explicit ca-dir, the first existing of
 * $GSI_CERTS_DIR/H, /etc/gsi/certs.d/H, /etc/containers/certs.d/H and /etc/docker/certs.d/H is used
 * (the certs.d/HOST/ca.crt convention of Docker and containers/image; every *.crt in it counts).  */
#ifndef GSI_REGISTRY_CONFIG_H
#define GSI_REGISTRY_CONFIG_H

#include <stdbool.h>

#include "util/error.h"
#include "util/strvec.h"

typedef struct gsi_reg_config gsi_reg_config;

/* Loads path, or the default locations when path is NULL.  A path given explicitly must exist.  */
int gsi_reg_config_load (const char *path, gsi_reg_config **out, gsi_error *err);
void gsi_reg_config_free (gsi_reg_config *c);

/* Whether TLS certificates of domain are verified (default true).  */
bool gsi_reg_config_tls_verify (const gsi_reg_config *c, const char *domain);
/* The CA directory for domain (explicit ca-dir, else the first certs.d candidate that exists), or
 * NULL.  The string lives as long as c.  */
const char *gsi_reg_config_ca_dir (const gsi_reg_config *c, const char *domain);
/* The mirrors of domain in order ("host[:port][/prefix]"); NULL-terminated, may be empty.  */
const gsi_strvec *gsi_reg_config_mirrors (const gsi_reg_config *c, const char *domain);
/* The file that was read, or NULL when none existed.  */
const char *gsi_reg_config_path (const gsi_reg_config *c);

#endif
