#include "add.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/fsutil.h"
#include "oci/layer.h"
#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

bool
gsi_add_is_url (const char *src)
{
  return strncmp (src, "http://", 7) == 0 || strncmp (src, "https://", 8) == 0;
}

bool
gsi_add_is_git (const char *src)
{
  size_t n = strlen (src);

  if (strncmp (src, "git@", 4) == 0 || strncmp (src, "git://", 6) == 0 || strncmp (src, "ssh://", 6) == 0)
    return true;
  if (gsi_add_is_url (src))
    {
      const char *q = strpbrk (src, "?#");
      size_t end = q ? (size_t) (q - src) : n;
      return end >= 4 && strncmp (src + end - 4, ".git", 4) == 0;
    }
  return false;
}

/* ---- archives ---- */

static struct archive *
archive_reader (void)
{
  struct archive *a = archive_read_new ();
  if (a == NULL)
    abort ();
  /* Docker's list: these compressions, and tar only, so a .zip or a lone .gz is copied as is.  */
  archive_read_support_filter_gzip (a);
  archive_read_support_filter_bzip2 (a);
  archive_read_support_filter_xz (a);
  archive_read_support_filter_zstd (a);
  archive_read_support_format_tar (a);
  archive_read_support_format_gnutar (a);
  return a;
}

int
gsi_add_is_archive (int fd, gsi_error *err)
{
  struct archive *a = archive_reader ();
  struct archive_entry *e = NULL;
  int yes = 0;

  if (archive_read_open_fd (a, fd, 1 << 16) == ARCHIVE_OK)
    yes = archive_read_next_header (a, &e) == ARCHIVE_OK;
  archive_read_free (a);
  if (lseek (fd, 0, SEEK_SET) < 0)
    return gsi_error_set (err, errno, "seek");
  return yes;
}

/* BuildKit applies --chown to what an archive unpacks too; the layer code keeps tar owners, so a
 * second pass over the member names hands them over.  */
static int
chown_members (int fd, int dirfd, uid_t uid, gid_t gid, gsi_error *err)
{
  struct archive *a = archive_reader ();
  struct archive_entry *e = NULL;
  int r;
  int ret = 0;

  if (lseek (fd, 0, SEEK_SET) < 0)
    {
      archive_read_free (a);
      return gsi_error_set (err, errno, "seek");
    }
  if (archive_read_open_fd (a, fd, 1 << 16) != ARCHIVE_OK)
    {
      ret = gsi_error_set (err, 0, "read archive: %s", archive_error_string (a));
      archive_read_free (a);
      return ret;
    }
  while (ret == 0 && (r = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      cleanup_free char *clean = gsi_path_clean (archive_entry_pathname (e));
      if (strcmp (clean, ".") == 0 || strncmp (clean, "..", 2) == 0)
        continue;
      cleanup_close int pfd = gsi_open_in_root (dirfd, clean, O_PATH | O_NOFOLLOW, 0, NULL);
      if (pfd < 0)
        continue;
      if (fchownat (pfd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        ret = gsi_error_set (err, errno, "chown `%s`", clean);
    }
  archive_read_free (a);
  return ret;
}

int
gsi_add_extract (int fd, int dest_root_fd, const char *dest, bool chown, uid_t uid, gid_t gid, gsi_error *err)
{
  cleanup_close int pfd = gsi_mkdir_p_in_root (dest_root_fd, dest, 0755, chown ? uid : 0, chown ? gid : 0, err);
  cleanup_close int dirfd = -1;

  if (pfd < 0)
    return -1;
  dirfd = openat (pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return gsi_error_set (err, errno, "open `%s`", dest);
  if (lseek (fd, 0, SEEK_SET) < 0)
    return gsi_error_set (err, errno, "seek");
  if (gsi_layer_apply_fd (fd, dirfd, GSI_APPLY_NO_WHITEOUTS, NULL, err) < 0)
    return gsi_error_wrap (err, "extract into `%s`", dest);
  if (chown && chown_members (fd, dirfd, uid, gid, err) < 0)
    return gsi_error_wrap (err, "extract into `%s`", dest);
  return 0;
}

/* ---- downloads ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

static int
hexval (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The last component of the URL's path, percent-decoded, as BuildKit names the file.  */
static char *
url_file_name (const char *url)
{
  const char *p = strstr (url, "://");
  gsi_buf name = GSI_BUF_INIT;

  p = p ? p + 3 : url;
  p = strchr (p, '/');
  if (p == NULL)
    return xstrdup ("__unnamed__");
  size_t end = strcspn (p, "?#");
  const char *last = p;
  for (size_t i = 0; i < end; i++)
    if (p[i] == '/' && i + 1 < end)
      last = p + i + 1;
  for (const char *c = last; c < p + end && *c != '/'; c++)
    {
      if (*c == '%' && hexval (c[1]) >= 0 && hexval (c[2]) >= 0)
        {
          gsi_buf_addch (&name, hexval (c[1]) * 16 + hexval (c[2]));
          c += 2;
        }
      else
        gsi_buf_addch (&name, *c);
    }
  if (name.len == 0 || strcmp (name.buf, ".") == 0 || strcmp (name.buf, "..") == 0 || strchr (name.buf, '/'))
    {
      gsi_buf_release (&name);
      return xstrdup ("__unnamed__");
    }
  return gsi_buf_detach (&name, NULL);
}

typedef struct sink
{
  int fd;
  EVP_MD_CTX *md;
  int error; /* errno of a failed write */
} sink;

static size_t
sink_write (char *data, size_t size, size_t nmemb, void *ctx)
{
  sink *s = ctx;
  size_t len = size * nmemb;

  EVP_DigestUpdate (s->md, data, len);
  for (size_t off = 0; off < len;)
    {
      ssize_t n = write (s->fd, data + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          s->error = errno;
          return 0;
        }
      off += (size_t) n;
    }
  return len;
}

static int
run_curl (const char *url, sink *s, int64_t *mtime, gsi_error *err)
{
  CURL *c = curl_easy_init ();
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_off_t ft = -1;

  if (c == NULL)
    return gsi_error_set (err, 0, "fetch `%s`: cannot initialise libcurl", url);
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 60L);
  /* A stalled server fails the build after a minute below 1 byte/s instead of hanging it.  */
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt (c, CURLOPT_FILETIME, 1L);
  curl_easy_setopt (c, CURLOPT_USERAGENT, "gsi");
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, sink_write);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, s);
  CURLcode rc = curl_easy_perform (c);
  if (rc == CURLE_OK)
    curl_easy_getinfo (c, CURLINFO_FILETIME_T, &ft);
  curl_easy_cleanup (c);
  if (s->error)
    return gsi_error_set (err, s->error, "fetch `%s`: write", url);
  if (rc != CURLE_OK)
    return gsi_error_set (err, 0, "fetch `%s`: %s", url, errbuf[0] ? errbuf : curl_easy_strerror (rc));
  *mtime = ft;
  return 0;
}

static int
check_checksum (const char *url, const char *checksum, const char *digest, gsi_error *err)
{
  if (checksum == NULL)
    return 0;
  if (strncmp (checksum, "sha256:", 7) != 0)
    return gsi_error_set (err, 0, "ADD --checksum `%s`: only sha256 digests are supported", checksum);
  if (strlen (checksum) != 71 || strspn (checksum + 7, "0123456789abcdef") != 64)
    return gsi_error_set (err, 0, "ADD --checksum `%s`: not a sha256 digest (64 lower-case hex digits)", checksum);
  if (strcmp (checksum, digest) != 0)
    return gsi_error_set (err, 0, "fetch `%s`: digest mismatch: got %s, --checksum wants %s", url, digest, checksum);
  return 0;
}

int
gsi_add_fetch (const char *url, const char *tmp_dir, const char *checksum, gsi_add_download *out, gsi_error *err)
{
  gsi_add_download d = { 0 };
  cleanup_free char *path = NULL;
  cleanup_close int fd = -1;
  sink s = { -1, NULL, 0 };
  unsigned char h[32];
  unsigned hlen = 0;
  int ret;

  pthread_once (&curl_once, curl_init);
  d.url = xstrdup (url);
  d.name = url_file_name (url);
  d.dir = xasprintf ("%s/add-XXXXXX", tmp_dir);
  if (mkdtemp (d.dir) == NULL)
    {
      ret = gsi_error_set (err, errno, "create `%s`", d.dir);
      free (d.dir);
      d.dir = NULL;
      gsi_add_download_clear (&d);
      return ret;
    }
  path = xasprintf ("%s/%s", d.dir, d.name);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  s.fd = fd;
  s.md = EVP_MD_CTX_new ();
  if (fd < 0)
    ret = gsi_error_set (err, errno, "create `%s`", path);
  else if (s.md == NULL || !EVP_DigestInit_ex (s.md, EVP_sha256 (), NULL))
    ret = gsi_error_set (err, 0, "sha256: cannot initialise");
  else
    ret = run_curl (url, &s, &d.mtime, err);
  if (ret == 0)
    {
      EVP_DigestFinal_ex (s.md, h, &hlen);
      memcpy (d.digest, "sha256:", 7);
      for (unsigned i = 0; i < 32; i++)
        snprintf (d.digest + 7 + 2 * i, 3, "%02x", h[i]);
      ret = check_checksum (url, checksum, d.digest, err);
    }
  EVP_MD_CTX_free (s.md);
  if (ret == 0 && d.mtime >= 0)
    {
      struct timespec ts[2] = { { (time_t) d.mtime, 0 }, { (time_t) d.mtime, 0 } };
      futimens (fd, ts);
    }
  if (ret < 0)
    {
      gsi_add_download_clear (&d);
      return -1;
    }
  *out = d;
  return 0;
}

void
gsi_add_download_clear (gsi_add_download *d)
{
  if (d->dir)
    gsi_rm_rf_at (AT_FDCWD, d->dir, NULL);
  free (d->url);
  free (d->dir);
  free (d->name);
  memset (d, 0, sizeof *d);
}

/* ---- applying ---- */

/* A matched path handed back to gsi_copy_apply must match only itself: glob characters in a
 * component that has any are escaped (a component without them is taken literally).  */
static char *
escape_match (const char *match)
{
  gsi_buf b = GSI_BUF_INIT;
  const char *p = match;

  while (*p)
    {
      size_t n = strcspn (p, "/");
      bool glob = false;
      for (size_t i = 0; i < n; i++)
        glob = glob || strchr ("*?[", p[i]) != NULL;
      for (size_t i = 0; i < n; i++)
        {
          if (glob && strchr ("*?[\\", p[i]))
            gsi_buf_addch (&b, '\\');
          gsi_buf_addch (&b, p[i]);
        }
      p += n;
      if (*p == '/')
        gsi_buf_addch (&b, *p++);
    }
  return gsi_buf_detach (&b, NULL);
}

static bool
many_sources (const gsi_copy_spec *s, size_t nmatches)
{
  bool many = nmatches > 1 || s->nsources > 1;
  for (size_t i = 0; i < s->nsources; i++)
    many = many || strpbrk (s->sources[i], "*?[") != NULL;
  return many;
}

static bool
is_dir_in_root (int root, const char *path)
{
  struct stat st;
  cleanup_close int fd = gsi_open_in_root (root, path, O_PATH, 0, NULL);
  return fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Opens a match for reading when it is a regular file holding an archive; -1 (no error) otherwise.  */
static int
open_archive (int root_fd, const char *path, gsi_error *err)
{
  struct stat st;
  cleanup_close int fd = gsi_open_in_root (root_fd, path, O_RDONLY | O_NONBLOCK, 0, NULL);

  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    return -1;
  int r = gsi_add_is_archive (fd, err);
  if (r <= 0)
    return r < 0 ? -2 : -1;
  return steal_fd (&fd);
}

static int
copy_single (const gsi_copy_spec *s, const char *match, bool force_dir, int dest_root_fd, gsi_error *err)
{
  cleanup_free char *esc = escape_match (match);
  const char *one[1] = { esc };
  gsi_copy_spec c = *s;

  c.sources = one;
  c.nsources = 1;
  c.dest_is_dir = s->dest_is_dir || force_dir;
  return gsi_copy_apply (&c, dest_root_fd, err);
}

int
gsi_add_apply_local (const gsi_copy_spec *s, bool unpack, int dest_root_fd, gsi_error *err)
{
  cleanup_strvec gsi_strvec matches = GSI_STRVEC_INIT;

  if (!unpack)
    return gsi_copy_apply (s, dest_root_fd, err);
  if (gsi_copy_resolve (s, &matches, err) < 0)
    return -1;
  bool many = many_sources (s, matches.n);
  if (many && !s->dest_is_dir && !is_dir_in_root (dest_root_fd, s->dest))
    return gsi_error_set (err, 0, "when adding more than one source the destination `%s` must be a directory "
                                  "and end with a /", s->dest);
  for (size_t i = 0; i < matches.n; i++)
    {
      cleanup_close int afd = open_archive (s->src_root_fd, matches.v[i], err);
      int r;
      if (afd == -2)
        return -1;
      if (afd >= 0)
        r = gsi_add_extract (afd, dest_root_fd, s->dest, s->chown, s->uid, s->gid, err);
      else
        r = copy_single (s, matches.v[i], many, dest_root_fd, err);
      if (r < 0)
        return gsi_error_wrap (err, "ADD `%s`", matches.v[i]);
    }
  return 0;
}

static int
add_download (const gsi_copy_spec *s, const gsi_add_download *d, bool force_dir, bool unpack, int dest_root_fd,
              gsi_error *err)
{
  cleanup_close int dfd = open (d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  gsi_copy_spec c = *s;

  if (dfd < 0)
    return gsi_error_set (err, errno, "open `%s`", d->dir);
  if (unpack)
    {
      cleanup_close int afd = open_archive (dfd, d->name, err);
      if (afd == -2)
        return -1;
      if (afd >= 0)
        return gsi_add_extract (afd, dest_root_fd, s->dest, s->chown, s->uid, s->gid, err);
    }
  c.src_root_fd = dfd;
  c.src_label = d->url;
  c.ignore = NULL;
  c.exclude = NULL;
  c.keep_owner = false;
  c.parents = false;
  /* BuildKit writes downloads 0600 unless --chmod says otherwise.  */
  if (!c.chmod)
    {
      c.chmod = true;
      c.mode = 0600;
    }
  return copy_single (&c, d->name, force_dir, dest_root_fd, err);
}

int
gsi_add_apply_downloads (const gsi_copy_spec *s, const gsi_add_download *d, size_t n, bool unpack,
                         int dest_root_fd, gsi_error *err)
{
  bool many = n > 1 || s->nsources > n;

  if (many && !s->dest_is_dir && !is_dir_in_root (dest_root_fd, s->dest))
    return gsi_error_set (err, 0, "when adding more than one source the destination `%s` must be a directory "
                                  "and end with a /", s->dest);
  for (size_t i = 0; i < n; i++)
    if (add_download (s, &d[i], many, unpack, dest_root_fd, err) < 0)
      return gsi_error_wrap (err, "ADD `%s`", d[i].url);
  return 0;
}
