#include "oci/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/xalloc.h"

struct gsi_sha256
{
  EVP_MD_CTX *ctx;
};

/* OpenSSL fails a SHA-256 context only on allocation failure or a broken provider; treat both like
 * OOM so that every hashing call site stays free of an error path nobody could test.  */
static void
check_evp (int ok, const char *what)
{
  if (!ok)
    {
      fprintf (stderr, "gsi: libcrypto: %s failed for sha256\n", what);
      abort ();
    }
}

gsi_sha256 *
gsi_sha256_new (void)
{
  gsi_sha256 *h = xmalloc (sizeof *h);

  h->ctx = EVP_MD_CTX_new ();
  check_evp (h->ctx != NULL, "EVP_MD_CTX_new");
  check_evp (EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL), "EVP_DigestInit_ex");
  return h;
}

void
gsi_sha256_update (gsi_sha256 *h, const void *data, size_t len)
{
  if (len > 0)
    check_evp (EVP_DigestUpdate (h->ctx, data, len), "EVP_DigestUpdate");
}

static void
format_digest (const unsigned char *md, char out[GSI_DIGEST_BUF])
{
  static const char hex[] = "0123456789abcdef";
  char *p = out;

  memcpy (p, GSI_DIGEST_PREFIX, strlen (GSI_DIGEST_PREFIX));
  p += strlen (GSI_DIGEST_PREFIX);
  for (int i = 0; i < 32; i++)
    {
      *p++ = hex[md[i] >> 4];
      *p++ = hex[md[i] & 0xf];
    }
  *p = '\0';
}

void
gsi_sha256_final (gsi_sha256 *h, char out[GSI_DIGEST_BUF])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;

  check_evp (EVP_DigestFinal_ex (h->ctx, md, &n), "EVP_DigestFinal_ex");
  check_evp (n == 32, "digest length");
  format_digest (md, out);
  check_evp (EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL), "EVP_DigestInit_ex");
}

void
gsi_sha256_free (gsi_sha256 *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free (h->ctx);
  free (h);
}

void
gsi_digest_buf (const void *data, size_t len, char out[GSI_DIGEST_BUF])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;

  check_evp (EVP_Digest (data, len, md, &n, EVP_sha256 (), NULL), "EVP_Digest");
  check_evp (n == 32, "digest length");
  format_digest (md, out);
}

int
gsi_digest_fd (int fd, char out[GSI_DIGEST_BUF], uint64_t *size, gsi_error *err)
{
  const size_t bufsize = 256 * 1024;
  cleanup_free unsigned char *buf = xmalloc (bufsize);
  gsi_sha256 *h = gsi_sha256_new ();
  uint64_t total = 0;

  for (;;)
    {
      ssize_t n = read (fd, buf, bufsize);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          gsi_sha256_free (h);
          return gsi_error_set (err, errno, "read");
        }
      if (n == 0)
        break;
      gsi_sha256_update (h, buf, (size_t) n);
      total += (uint64_t) n;
    }
  gsi_sha256_final (h, out);
  gsi_sha256_free (h);
  if (size)
    *size = total;
  return 0;
}

int
gsi_digest_file (const char *path, char out[GSI_DIGEST_BUF], uint64_t *size, gsi_error *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", path);
  if (gsi_digest_fd (fd, out, size, err) < 0)
    return gsi_error_wrap (err, "hash `%s`", path);
  return 0;
}

bool
gsi_digest_hex_is_valid (const char *s)
{
  size_t i;

  for (i = 0; i < GSI_DIGEST_HEX_LEN; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return s[i] == '\0';
}

bool
gsi_digest_is_valid (const char *s)
{
  if (s == NULL || strncmp (s, GSI_DIGEST_PREFIX, strlen (GSI_DIGEST_PREFIX)) != 0)
    return false;
  return gsi_digest_hex_is_valid (s + strlen (GSI_DIGEST_PREFIX));
}

int
gsi_digest_validate (const char *s, gsi_error *err)
{
  const char *hex;
  size_t n;

  if (s == NULL)
    return gsi_error_set (err, EINVAL, "missing digest");
  if (gsi_digest_is_valid (s))
    return 0;
  if (strncmp (s, GSI_DIGEST_PREFIX, strlen (GSI_DIGEST_PREFIX)) != 0)
    return gsi_error_set (err, 0, "invalid digest `%s`: only sha256 digests (`sha256:<hex>`) are supported", s);
  hex = s + strlen (GSI_DIGEST_PREFIX);
  n = strlen (hex);
  if (n != GSI_DIGEST_HEX_LEN)
    return gsi_error_set (err, 0, "invalid digest `%s`: %zu hex digits, expected 64", s, n);
  return gsi_error_set (err, 0, "invalid digest `%s`: not lowercase hex", s);
}

const char *
gsi_digest_hex (const char *digest)
{
  return digest + strlen (GSI_DIGEST_PREFIX);
}

void
gsi_digest_chain_id (const char *parent, const char *diff_id, char out[GSI_DIGEST_BUF])
{
  char buf[2 * GSI_DIGEST_BUF];
  int n;

  /* Callers pass validated digests; the bound only keeps a bad one from overrunning buf.  */
  if (parent == NULL)
    {
      size_t len = strnlen (diff_id, GSI_DIGEST_STR_LEN);
      memmove (out, diff_id, len);
      out[len] = '\0';
      return;
    }
  n = snprintf (buf, sizeof buf, "%.71s %.71s", parent, diff_id);
  gsi_digest_buf (buf, (size_t) n, out);
}
