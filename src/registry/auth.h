/* Registry credentials: where they live, and the challenges registries answer with.
 *
 * Lookup order for a registry domain (Docker Hub is also looked up under its historic key
 * "https://index.docker.io/v1/"); the first file that knows the domain wins:
 *   1. the auth file given explicitly (gsi --authfile, or $REGISTRY_AUTH_FILE);
 *   2. $XDG_RUNTIME_DIR/containers/auth.json, then ~/.config/containers/auth.json (podman, skopeo);
 *   3. $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
 * Within one file: credHelpers[domain], then credsStore, then auths[domain].auth (base64 user:pass;
 * "identitytoken" is kept as a refresh token).  A helper is the program docker-credential-NAME on
 * PATH, run with "get" and the server URL on stdin, answering {"Username","Secret"} (the Docker
 * credential-helper protocol); "credentials not found" on its output means none.
 *
 * login/logout write the auth file given explicitly, else ~/.docker/config.json, atomically and with
 * mode 0600, keeping every other key of the file.  */
#ifndef GSI_REGISTRY_AUTH_H
#define GSI_REGISTRY_AUTH_H

#include <stdbool.h>

#include "util/error.h"

typedef struct gsi_credentials
{
  char *username;       /* NULL when none were found */
  char *password;
  char *identity_token; /* OAuth2 refresh token, or NULL */
  char *source;         /* where they came from, for messages ("/root/.docker/config.json") */
} gsi_credentials;

#define GSI_CREDENTIALS_INIT { NULL, NULL, NULL, NULL }

void gsi_credentials_clear (gsi_credentials *c);

/* Finds credentials for domain; returns 0 with out->username NULL when there are none.  A file that
 * exists but is not valid JSON, a bad base64 auth, or a helper that fails is an error.  */
int gsi_credentials_lookup (const char *authfile, const char *domain, gsi_credentials *out, gsi_error *err);

/* Stores user/password for domain in the auth file (see above).  *path_out (may be NULL) gets the
 * file written (malloc'd).  */
int gsi_credentials_store (const char *authfile, const char *domain, const char *username, const char *password,
                           char **path_out, gsi_error *err);
/* Removes domain from the auth file (every entry when domain is NULL); *removed says whether
 * anything was there.  *path_out (may be NULL) gets the file's path (malloc'd), also when it does
 * not exist.  */
int gsi_credentials_erase (const char *authfile, const char *domain, bool *removed, char **path_out, gsi_error *err);

/* One parsed WWW-Authenticate challenge.  */
typedef struct gsi_auth_challenge
{
  char *scheme;  /* "basic" or "bearer", lowercased */
  char *realm;
  char *service; /* NULL when absent */
  char *scope;   /* NULL when absent */
  char *error;   /* "insufficient_scope", ... or NULL */
} gsi_auth_challenge;

#define GSI_AUTH_CHALLENGE_INIT { NULL, NULL, NULL, NULL, NULL }

/* Parses a WWW-Authenticate header value (RFC 7235 auth-params, quoted strings with escapes, token68
 * skipped; an unquoted value is taken up to `,` or a space); the first Basic or Bearer challenge
 * wins, and within it the first of a repeated parameter.  A header without either scheme, or
 * malformed anywhere, is an error; out is empty then.  */
int gsi_auth_challenge_parse (const char *header, gsi_auth_challenge *out, gsi_error *err);
void gsi_auth_challenge_clear (gsi_auth_challenge *c);

#endif
