/* SHA-256 content digests in their OCI text form, "sha256:<64 lowercase hex>".
 *
 * Only sha256 is accepted: it is what every registry and runtime uses, and a store keyed by one
 * algorithm can name blobs by hex alone (blobs/sha256/<hex>).  Anything else a caller hands in,
 * including upper-case hex, is rejected rather than normalised, because a digest is compared as
 * bytes everywhere (index.json, registries, the build cache).  */
#ifndef GSI_OCI_DIGEST_H
#define GSI_OCI_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define GSI_DIGEST_PREFIX "sha256:"
#define GSI_DIGEST_HEX_LEN 64
#define GSI_DIGEST_STR_LEN 71 /* strlen ("sha256:") + 64 */
#define GSI_DIGEST_BUF 72     /* GSI_DIGEST_STR_LEN + NUL; same size as gsi_blob_info.digest */

/* A streaming SHA-256 (OpenSSL EVP underneath).  Allocation failure aborts like xmalloc; a failure
 * of OpenSSL itself on a SHA-256 context cannot happen short of a broken libcrypto, and aborts too,
 * so hashing has no error path.  */
typedef struct gsi_sha256 gsi_sha256;

gsi_sha256 *gsi_sha256_new (void);
void gsi_sha256_update (gsi_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" to out and resets h, so it can hash another stream.  */
void gsi_sha256_final (gsi_sha256 *h, char out[GSI_DIGEST_BUF]);
void gsi_sha256_free (gsi_sha256 *h); /* NULL is fine */

/* One-shot digest of a memory buffer.  */
void gsi_digest_buf (const void *data, size_t len, char out[GSI_DIGEST_BUF]);
/* Digest of everything readable from fd from its current offset to EOF; *size (may be NULL) gets
 * the byte count.  */
int gsi_digest_fd (int fd, char out[GSI_DIGEST_BUF], uint64_t *size, gsi_error *err);
int gsi_digest_file (const char *path, char out[GSI_DIGEST_BUF], uint64_t *size, gsi_error *err);

/* True when s is exactly "sha256:" followed by 64 lowercase hex digits.  */
bool gsi_digest_is_valid (const char *s);
/* Same check with an error naming the digest and what is wrong with it.  */
int gsi_digest_validate (const char *s, gsi_error *err);
/* The 64 hex digits of a valid digest (a pointer into s).  */
const char *gsi_digest_hex (const char *digest);
/* True when s is 64 lowercase hex digits (a blob file name).  */
bool gsi_digest_hex_is_valid (const char *s);

/* OCI ChainID: ChainID(L0) = DiffID(L0); ChainID(L0..Ln) = sha256 (ChainID(L0..Ln-1) + " " +
 * DiffID(Ln)).  parent is NULL for the first layer.  */
void gsi_digest_chain_id (const char *parent, const char *diff_id, char out[GSI_DIGEST_BUF]);

#endif
