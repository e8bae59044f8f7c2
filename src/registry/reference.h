/* Image references in the docker/OCI grammar (distribution/reference), parsed into their parts.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path
 *   domain    := host [ ":" port ]        host: DNS labels joined by '.', or "[IPv6]"
 *   path      := component ( "/" component )*   component: [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lowercase hex   (the only algorithm gsi accepts)
 *
 * The first component is a domain when it contains '.' or ':' or is "localhost" (or has an upper-case
 * letter, which a path component may not).  Without a domain the registry is docker.io, and a
 * one-component path gets "library/" in front (Docker Hub's official images).  The whole name is at
 * most 255 characters.  */
#ifndef GSI_REGISTRY_REFERENCE_H
#define GSI_REGISTRY_REFERENCE_H

#include <stdbool.h>

#include "util/error.h"

#define GSI_DEFAULT_REGISTRY "docker.io"

typedef struct gsi_reference
{
  char *domain; /* "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000"; never NULL after parse */
  char *path;   /* "library/debian", "rackerlabs/genestack-images/keystone" */
  char *tag;    /* NULL when the text had none (see gsi_reference_tag_or_latest) */
  char *digest; /* "sha256:<hex>" or NULL */
} gsi_reference;

#define GSI_REFERENCE_INIT { NULL, NULL, NULL, NULL }

/* Parses s.  On error the message names the reference and what is wrong with it ("invalid
 * reference \"Foo\": repository name must be lowercase").  out is cleared first.  */
int gsi_reference_parse (const char *s, gsi_reference *out, gsi_error *err);
void gsi_reference_clear (gsi_reference *r);
void gsi_reference_copy (gsi_reference *dst, const gsi_reference *src);

/* tag, or "latest" when there is neither tag nor digest, or NULL for a digest-only reference.  */
const char *gsi_reference_tag_or_latest (const gsi_reference *r);
/* What to ask the registry's manifests endpoint for: the digest when there is one, else the tag
 * (or "latest").  */
const char *gsi_reference_manifest_ref (const gsi_reference *r);

/* "domain/path[:tag][@digest]", fully qualified (malloc'd).  */
char *gsi_reference_string (const gsi_reference *r);
/* "domain/path" (malloc'd).  */
char *gsi_reference_name (const gsi_reference *r);
/* The host to connect to for a domain: "registry-1.docker.io" for docker.io (and index.docker.io),
 * the domain itself otherwise.  */
const char *gsi_reference_api_host (const char *domain);

/* Whether s alone is a domain ("host[:port]") or a repository path in the grammar above; for
 * settings that name registries and mirrors without a whole reference.  */
bool gsi_reference_domain_valid (const char *s);
bool gsi_reference_path_valid (const char *s);

#endif
