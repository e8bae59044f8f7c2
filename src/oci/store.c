#include "oci/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xalloc.h"

/* Manifests, indexes and configs are small; these bounds keep a corrupt or hostile file from
 * making gsi read gigabytes into memory.  */
#define MAX_INDEX_SIZE ((size_t) 64 << 20)
#define MAX_JSON_BLOB ((size_t) 32 << 20)
#define MAX_SNIFF_BLOB ((size_t) 4 << 20)
#define MAX_WALK_DEPTH 16

static const char *const private_subdirs[GSI_STORE_NDIRS] = {
  [GSI_STORE_TMP] = "tmp",
  [GSI_STORE_LAYERS] = "layers",
  [GSI_STORE_CACHE] = "cache",
  [GSI_STORE_MOUNTS] = "mounts",
  [GSI_STORE_LOCKS] = "locks",
  [GSI_STORE_INVENTORY] = "inventory",
};

struct gsi_store
{
  char *root;                       /* absolute */
  char *dirs[GSI_STORE_NDIRS];      /* absolute paths of the gsi-private subdirs */
  int root_fd;
  int blobs_fd;                     /* blobs/sha256 */
  int tmp_fd;
  int locks_fd;
  int gc_fd;                        /* locks/gc.lock, flock'ed shared for the handle's lifetime */
};

/* ---- small I/O helpers ------------------------------------------------------------------------ */

static int
flock_retry (int fd, int op)
{
  int r;

  do
    r = flock (fd, op);
  while (r < 0 && errno == EINTR);
  return r;
}

static int
write_all (int fd, const void *data, size_t len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

/* Reads fd to EOF into a NUL-terminated buffer, failing with EFBIG past max bytes.  */
static int
read_fd_all (int fd, size_t max, char **data, size_t *len, gsi_error *err)
{
  gsi_buf b = GSI_BUF_INIT;
  struct stat st;

  if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && (uint64_t) st.st_size <= max)
    gsi_buf_grow (&b, (size_t) st.st_size + 1);
  for (;;)
    {
      ssize_t n;
      gsi_buf_grow (&b, 65536);
      n = read (fd, b.buf + b.len, b.alloc - b.len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          gsi_buf_release (&b);
          return gsi_error_set (err, errno, "read");
        }
      if (n == 0)
        break;
      gsi_buf_setlen (&b, b.len + (size_t) n);
      if (b.len > max)
        {
          gsi_buf_release (&b);
          return gsi_error_set (err, EFBIG, "more than %zu bytes", max);
        }
    }
  *data = gsi_buf_detach (&b, len);
  return 0;
}

static void
unlink_ignore (int dirfd, const char *name)
{
  int saved = errno;
  unlinkat (dirfd, name, 0);
  errno = saved;
}

/* An error callers test by its code (ENOENT, EBUSY) whose message reads better without strerror.  */
static int __attribute__ ((format (printf, 3, 4)))
error_with_code (gsi_error *err, int code, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  gsi_error_vset (err, 0, fmt, ap);
  va_end (ap);
  if (err)
    err->code = code;
  return -1;
}

/* ---- key/value lists -------------------------------------------------------------------------- */

static ssize_t
kv_find (const gsi_kv *kv, const char *key)
{
  for (size_t i = 0; i < kv->keys.n; i++)
    if (strcmp (kv->keys.v[i], key) == 0)
      return (ssize_t) i;
  return -1;
}

void
gsi_kv_set (gsi_kv *kv, const char *key, const char *value)
{
  ssize_t i = kv_find (kv, key);

  if (i >= 0)
    {
      free (kv->values.v[i]);
      kv->values.v[i] = xstrdup (value);
      return;
    }
  gsi_strvec_push (&kv->keys, key);
  gsi_strvec_push (&kv->values, value);
}

const char *
gsi_kv_get (const gsi_kv *kv, const char *key)
{
  ssize_t i = kv_find (kv, key);
  return i >= 0 ? kv->values.v[i] : NULL;
}

bool
gsi_kv_unset (gsi_kv *kv, const char *key)
{
  ssize_t i = kv_find (kv, key);

  if (i < 0)
    return false;
  free (kv->keys.v[i]);
  free (kv->values.v[i]);
  /* Move the tail down, NULL terminator included.  */
  memmove (&kv->keys.v[i], &kv->keys.v[i + 1], (kv->keys.n - (size_t) i) * sizeof (char *));
  memmove (&kv->values.v[i], &kv->values.v[i + 1], (kv->values.n - (size_t) i) * sizeof (char *));
  kv->keys.n--;
  kv->values.n--;
  return true;
}

void
gsi_kv_copy (gsi_kv *dst, const gsi_kv *src)
{
  gsi_kv_clear (dst);
  for (size_t i = 0; i < src->keys.n; i++)
    gsi_kv_set (dst, src->keys.v[i], src->values.v[i]);
}

void
gsi_kv_clear (gsi_kv *kv)
{
  gsi_strvec_clear (&kv->keys);
  gsi_strvec_clear (&kv->values);
}

/* ---- descriptors ------------------------------------------------------------------------------ */

void
gsi_descriptor_init (gsi_descriptor *d)
{
  memset (d, 0, sizeof *d);
}

void
gsi_descriptor_clear (gsi_descriptor *d)
{
  free (d->media_type);
  free (d->platform_os);
  free (d->platform_arch);
  free (d->platform_variant);
  gsi_kv_clear (&d->annotations);
  gsi_descriptor_init (d);
}

static char *
xstrdup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

void
gsi_descriptor_copy (gsi_descriptor *dst, const gsi_descriptor *src)
{
  gsi_descriptor_clear (dst);
  dst->media_type = xstrdup_or_null (src->media_type);
  memcpy (dst->digest, src->digest, sizeof dst->digest);
  dst->size = src->size;
  gsi_kv_copy (&dst->annotations, &src->annotations);
  dst->platform_os = xstrdup_or_null (src->platform_os);
  dst->platform_arch = xstrdup_or_null (src->platform_arch);
  dst->platform_variant = xstrdup_or_null (src->platform_variant);
}

void
gsi_descriptor_set (gsi_descriptor *d, const char *media_type, const char *digest, int64_t size)
{
  gsi_descriptor_clear (d);
  d->media_type = xstrdup (media_type);
  snprintf (d->digest, sizeof d->digest, "%s", digest);
  d->size = size;
}

/* json_object_set_new that reports invalid UTF-8 in the key or the value (jansson refuses both).  */
static int
jset_str (json_t *obj, const char *key, const char *value, gsi_error *err)
{
  json_t *v = json_string (value);

  if (v == NULL)
    return gsi_error_set (err, 0, "value of `%s` is not valid UTF-8", key);
  if (json_object_set_new (obj, key, v) < 0)
    return gsi_error_set (err, 0, "key `%s` is not valid UTF-8", key);
  return 0;
}

static json_t *
kv_to_json (const gsi_kv *kv, gsi_error *err)
{
  json_t *o = json_object ();

  for (size_t i = 0; i < kv->keys.n; i++)
    if (jset_str (o, kv->keys.v[i], kv->values.v[i], err) < 0)
      {
        json_decref (o);
        return NULL;
      }
  return o;
}

static int
platform_to_json (const gsi_descriptor *d, json_t *desc, gsi_error *err)
{
  json_t *p;

  if (d->platform_os == NULL && d->platform_arch == NULL)
    return 0;
  p = json_object ();
  json_object_set_new (desc, "platform", p);
  if (d->platform_arch && jset_str (p, "architecture", d->platform_arch, err) < 0)
    return -1;
  if (d->platform_os && jset_str (p, "os", d->platform_os, err) < 0)
    return -1;
  if (d->platform_variant && jset_str (p, "variant", d->platform_variant, err) < 0)
    return -1;
  return 0;
}

json_t *
gsi_descriptor_to_json (const gsi_descriptor *d, gsi_error *err)
{
  json_t *j;

  if (gsi_digest_validate (d->digest, err) < 0)
    return NULL;
  if (d->media_type == NULL)
    return gsi_error_set (err, 0, "descriptor `%s` has no media type", d->digest), NULL;
  if (d->size < 0)
    return gsi_error_set (err, 0, "descriptor `%s` has a negative size", d->digest), NULL;
  j = json_object ();
  json_object_set_new (j, "digest", json_string (d->digest));
  json_object_set_new (j, "size", json_integer (d->size));
  if (jset_str (j, "mediaType", d->media_type, err) < 0 || platform_to_json (d, j, err) < 0)
    {
      json_decref (j);
      return NULL;
    }
  if (d->annotations.keys.n > 0)
    {
      json_t *a = kv_to_json (&d->annotations, err);
      if (a == NULL)
        {
          json_decref (j);
          return NULL;
        }
      json_object_set_new (j, "annotations", a);
    }
  return j;
}

static const char *
jget_str (json_t *obj, const char *key)
{
  return json_string_value (json_object_get (obj, key));
}

static int
kv_from_json (json_t *obj, gsi_kv *kv, const char *what, gsi_error *err)
{
  const char *key;
  json_t *v;

  if (obj == NULL || json_is_null (obj))
    return 0;
  if (!json_is_object (obj))
    return gsi_error_set (err, 0, "`%s` is not an object", what);
  json_object_foreach (obj, key, v)
    {
      if (!json_is_string (v))
        return gsi_error_set (err, 0, "`%s` value of `%s` is not a string", what, key);
      gsi_kv_set (kv, key, json_string_value (v));
    }
  return 0;
}

int
gsi_descriptor_from_json (json_t *j, gsi_descriptor *d, gsi_error *err)
{
  const char *mt, *digest;
  json_t *size, *platform;

  gsi_descriptor_clear (d);
  if (!json_is_object (j))
    return gsi_error_set (err, 0, "descriptor is not a JSON object");
  mt = jget_str (j, "mediaType");
  digest = jget_str (j, "digest");
  size = json_object_get (j, "size");
  if (mt == NULL)
    return gsi_error_set (err, 0, "descriptor has no `mediaType`");
  if (gsi_digest_validate (digest, err) < 0)
    return gsi_error_wrap (err, "descriptor");
  if (!json_is_integer (size) || json_integer_value (size) < 0)
    return gsi_error_set (err, 0, "descriptor `%s` has no valid `size`", digest);
  d->media_type = xstrdup (mt);
  snprintf (d->digest, sizeof d->digest, "%s", digest);
  d->size = json_integer_value (size);
  if (kv_from_json (json_object_get (j, "annotations"), &d->annotations, "annotations", err) < 0)
    return -1;
  platform = json_object_get (j, "platform");
  if (json_is_object (platform))
    {
      d->platform_os = xstrdup_or_null (jget_str (platform, "os"));
      d->platform_arch = xstrdup_or_null (jget_str (platform, "architecture"));
      d->platform_variant = xstrdup_or_null (jget_str (platform, "variant"));
    }
  return 0;
}

/* ---- references ------------------------------------------------------------------------------- */

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*  */
static bool
valid_path_component (const char *s, size_t n)
{
  size_t i = 0;

  for (;;)
    {
      if (i >= n || !is_lower_alnum (s[i]))
        return false;
      while (i < n && is_lower_alnum (s[i]))
        i++;
      if (i == n)
        return true;
      if (s[i] == '.')
        i++;
      else if (s[i] == '_')
        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
      else if (s[i] == '-')
        while (i < n && s[i] == '-')
          i++;
      else
        return false;
    }
}

/* host[:port], host being DNS labels or a bracketed IPv6 address.  Kept permissive: the registry
 * client is what finally has to reach it.  */
static bool
valid_domain (const char *s, size_t n)
{
  size_t i = 0;

  if (n == 0)
    return false;
  if (s[0] == '[')
    {
      while (i < n && s[i] != ']')
        if (!(isxdigit ((unsigned char) s[i]) || s[i] == ':' || s[i] == '.' || s[i] == '[') || (i > 0 && s[i] == '['))
          return false;
        else
          i++;
      if (i == n)
        return false;
      i++;
    }
  else
    {
      for (; i < n && s[i] != ':'; i++)
        if (!(isalnum ((unsigned char) s[i]) || s[i] == '.' || s[i] == '-'))
          return false;
      if (i == 0 || s[0] == '.' || s[0] == '-' || s[i - 1] == '.' || s[i - 1] == '-')
        return false;
    }
  if (i == n)
    return true;
  if (s[i] != ':' || i + 1 == n)
    return false;
  for (i++; i < n; i++)
    if (!isdigit ((unsigned char) s[i]))
      return false;
  return true;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}  */
static bool
valid_tag (const char *s)
{
  size_t n = strlen (s);

  if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum ((unsigned char) s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
      return false;
  return true;
}

/* Checks NAME (without tag) and returns the length of its domain part (0 when it has none).  */
static int
split_check_name (const char *ref, const char *name, size_t len, size_t *domain_len, gsi_error *err)
{
  const char *slash = memchr (name, '/', len);
  const char *p;

  *domain_len = 0;
  if (len == 0)
    return gsi_error_set (err, 0, "invalid image reference `%s`: empty name", ref);
  if (len > 255)
    return gsi_error_set (err, 0, "invalid image reference `%s`: name longer than 255 characters", ref);
  if (slash)
    {
      size_t first = (size_t) (slash - name);
      bool has_upper = false;
      for (size_t i = 0; i < first; i++)
        has_upper |= isupper ((unsigned char) name[i]) != 0;
      if (memchr (name, '.', first) || memchr (name, ':', first) || has_upper
          || (first == 9 && memcmp (name, "localhost", 9) == 0))
        {
          if (!valid_domain (name, first))
            return gsi_error_set (err, 0, "invalid image reference `%s`: bad registry `%.*s`", ref, (int) first, name);
          *domain_len = first;
        }
    }
  p = name + (*domain_len ? *domain_len + 1 : 0);
  while (p < name + len)
    {
      const char *end = memchr (p, '/', (size_t) (name + len - p));
      size_t n = end ? (size_t) (end - p) : (size_t) (name + len - p);
      if (!valid_path_component (p, n))
        return gsi_error_set (err, 0,
                              "invalid image reference `%s`: `%.*s` must be lowercase letters and digits "
                              "separated by `.`, `_`, `__` or `-`",
                              ref, (int) n, p);
      p += n + 1;
      if (end && p == name + len)
        return gsi_error_set (err, 0, "invalid image reference `%s`: trailing `/`", ref);
    }
  return 0;
}

int
gsi_ref_normalize (const char *ref, char **name_out, char **full_out, gsi_error *err)
{
  const char *slash, *colon, *tag = "latest";
  size_t name_len, domain_len;
  cleanup_free char *full = NULL;

  if (ref == NULL || *ref == '\0')
    return gsi_error_set (err, 0, "empty image reference");
  if (strchr (ref, '@'))
    return gsi_error_set (err, 0, "`%s`: a reference with a digest cannot be used as a tag", ref);
  slash = strrchr (ref, '/');
  colon = strrchr (ref, ':');
  name_len = strlen (ref);
  if (colon && (slash == NULL || colon > slash))
    {
      tag = colon + 1;
      name_len = (size_t) (colon - ref);
      if (!valid_tag (tag))
        return gsi_error_set (err, 0, "invalid image reference `%s`: bad tag `%s`", ref, tag);
    }
  if (split_check_name (ref, ref, name_len, &domain_len, err) < 0)
    return -1;
  if (domain_len == 0)
    full = xasprintf ("docker.io/%s%.*s:%s", memchr (ref, '/', name_len) ? "" : "library/", (int) name_len, ref, tag);
  else if ((domain_len == 9 && memcmp (ref, "docker.io", 9) == 0)
           || (domain_len == 15 && memcmp (ref, "index.docker.io", 15) == 0))
    {
      const char *path = ref + domain_len + 1;
      size_t plen = name_len - domain_len - 1;
      full = xasprintf ("docker.io/%s%.*s:%s", memchr (path, '/', plen) ? "" : "library/", (int) plen, path, tag);
    }
  else
    full = xasprintf ("%.*s:%s", (int) name_len, ref, tag);
  if (name_out)
    *name_out = xasprintf ("%.*s:%s", (int) name_len, ref, tag);
  if (full_out)
    *full_out = steal_pointer (&full);
  return 0;
}

/* ---- opening ---------------------------------------------------------------------------------- */

char *
gsi_store_default_root (gsi_error *err)
{
  const char *env = getenv ("GSI_ROOT");
  const char *home;

  if (env && *env)
    return xstrdup (env);
  if (geteuid () == 0)
    return xstrdup ("/var/lib/gsi");
  env = getenv ("XDG_DATA_HOME");
  if (env && env[0] == '/')
    return xasprintf ("%s/gsi", env);
  home = getenv ("HOME");
  if (home == NULL || *home == '\0')
    {
      struct passwd *pw = getpwuid (geteuid ());
      home = pw ? pw->pw_dir : NULL;
    }
  if (home == NULL || *home == '\0')
    return gsi_error_set (err, 0, "cannot find a store root: set GSI_ROOT or HOME"), NULL;
  return xasprintf ("%s/.local/share/gsi", home);
}

static int
mkdir_p (const char *path, mode_t mode, gsi_error *err)
{
  cleanup_free char *p = xstrdup (path);

  for (char *s = p + 1; *s; s++)
    {
      if (*s != '/')
        continue;
      *s = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return gsi_error_set (err, errno, "mkdir `%s`", p);
      *s = '/';
    }
  if (mkdir (p, mode) < 0 && errno != EEXIST)
    return gsi_error_set (err, errno, "mkdir `%s`", p);
  return 0;
}

static int
mkdirat_open (int dirfd, const char *name, mode_t mode, const char *root, gsi_error *err)
{
  int fd;

  if (mkdirat (dirfd, name, mode) < 0 && errno != EEXIST)
    return gsi_error_set (err, errno, "mkdir `%s/%s`", root, name);
  fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s/%s`", root, name);
  return fd;
}

/* A directory we may turn into a store: empty, or left half-initialised by a killed gsi (only the
 * private dir made so far).  Anything else is someone's data.  */
static int
check_empty_root (gsi_store *s, gsi_error *err)
{
  int fd = openat (s->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;

  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return gsi_error_set (err, errno, "open `%s`", s->root);
    }
  while ((de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0
          || strcmp (de->d_name, GSI_STORE_PRIVATE_DIR) == 0)
        continue;
      return gsi_error_set (err, 0, "`%s` is not empty and not an OCI image layout (no `oci-layout` file)", s->root);
    }
  return 0;
}

static int
check_layout_file (gsi_store *s, int fd, gsi_error *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  json_t *j;
  const char *v;
  bool ok;

  if (read_fd_all (fd, 4096, &data, &len, err) < 0)
    return gsi_error_wrap (err, "read `%s/oci-layout`", s->root);
  j = json_loadb (data, len, 0, NULL);
  v = jget_str (j, "imageLayoutVersion");
  ok = v && strncmp (v, "1.", 2) == 0;
  json_decref (j);
  if (!ok)
    return gsi_error_set (err, 0, "`%s/oci-layout` does not declare imageLayoutVersion 1.x", s->root);
  return 0;
}

static const char empty_index[] = "{\"manifests\":[],\"mediaType\":\"" GSI_MEDIA_OCI_INDEX "\",\"schemaVersion\":2}";

static int
ensure_index (gsi_store *s, gsi_error *err)
{
  cleanup_close int lock = -1;

  if (faccessat (s->root_fd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    return 0;
  /* Re-check under the lock: another process may have created it and already tagged something.  */
  if (gsi_store_lock (s, "index", &lock, err) < 0)
    return -1;
  if (faccessat (s->root_fd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    return 0;
  return gsi_store_write_atomic (s, "index.json", empty_index, strlen (empty_index), err);
}

static int
open_private_dirs (gsi_store *s, gsi_error *err)
{
  cleanup_free char *priv_path = xasprintf ("%s/%s", s->root, GSI_STORE_PRIVATE_DIR);
  cleanup_close int priv = mkdirat_open (s->root_fd, GSI_STORE_PRIVATE_DIR, 0700, s->root, err);

  if (priv < 0)
    return -1;
  for (int i = 0; i < GSI_STORE_NDIRS; i++)
    {
      int fd = mkdirat_open (priv, private_subdirs[i], 0755, priv_path, err);
      if (fd < 0)
        return -1;
      s->dirs[i] = xasprintf ("%s/%s", priv_path, private_subdirs[i]);
      if (i == GSI_STORE_TMP)
        s->tmp_fd = fd;
      else if (i == GSI_STORE_LOCKS)
        s->locks_fd = fd;
      else
        close (fd);
    }
  return 0;
}

static int
init_layout (gsi_store *s, gsi_error *err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  cleanup_close int lfd = openat (s->root_fd, "oci-layout", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  cleanup_close int blobs = -1;

  if (lfd < 0 && errno != ENOENT)
    return gsi_error_set (err, errno, "open `%s/oci-layout`", s->root);
  if (lfd < 0 && check_empty_root (s, err) < 0)
    return -1;
  if (lfd >= 0 && check_layout_file (s, lfd, err) < 0)
    return -1;
  if (open_private_dirs (s, err) < 0)
    return -1;
  /* oci-layout first: from then on a half-made store is recognisably ours.  */
  if (lfd < 0 && gsi_store_write_atomic (s, "oci-layout", layout, strlen (layout), err) < 0)
    return -1;
  blobs = mkdirat_open (s->root_fd, "blobs", 0755, s->root, err);
  if (blobs < 0)
    return -1;
  s->blobs_fd = mkdirat_open (blobs, "sha256", 0755, s->root, err);
  if (s->blobs_fd < 0)
    return -1;
  return ensure_index (s, err);
}

static char *
absolute_path (const char *path)
{
  char cwd[PATH_MAX];

  if (path[0] == '/' || getcwd (cwd, sizeof cwd) == NULL)
    return xstrdup (path);
  return xasprintf ("%s/%s", cwd, path);
}

static int
take_gc_lock (gsi_store *s, gsi_error *err)
{
  s->gc_fd = openat (s->locks_fd, "gc.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (s->gc_fd < 0)
    return gsi_error_set (err, errno, "open `%s/gc.lock`", s->dirs[GSI_STORE_LOCKS]);
  if (flock_retry (s->gc_fd, LOCK_SH) < 0)
    return gsi_error_set (err, errno, "flock `%s/gc.lock`", s->dirs[GSI_STORE_LOCKS]);
  return 0;
}

int
gsi_store_open (const char *root, gsi_store **out, gsi_error *err)
{
  gsi_store *s;

  if (root == NULL || *root == '\0')
    return gsi_error_set (err, 0, "empty store root");
  s = xcalloc (1, sizeof *s);
  s->root_fd = s->blobs_fd = s->tmp_fd = s->locks_fd = s->gc_fd = -1;
  s->root = absolute_path (root);
  while (strlen (s->root) > 1 && s->root[strlen (s->root) - 1] == '/')
    s->root[strlen (s->root) - 1] = '\0';
  if (mkdir_p (s->root, 0755, err) < 0)
    {
      gsi_store_close (s);
      return gsi_error_wrap (err, "open store");
    }
  s->root_fd = open (s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->root_fd < 0)
    gsi_error_set (err, errno, "open `%s`", s->root);
  if (s->root_fd < 0 || init_layout (s, err) < 0 || take_gc_lock (s, err) < 0)
    {
      gsi_store_close (s);
      return gsi_error_wrap (err, "open store");
    }
  *out = s;
  return 0;
}

void
gsi_store_close (gsi_store *s)
{
  if (s == NULL)
    return;
  int fds[] = { s->root_fd, s->blobs_fd, s->tmp_fd, s->locks_fd, s->gc_fd };
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0)
      close (fds[i]);
  for (int i = 0; i < GSI_STORE_NDIRS; i++)
    free (s->dirs[i]);
  free (s->root);
  free (s);
}

const char *
gsi_store_root (const gsi_store *s)
{
  return s->root;
}

const char *
gsi_store_dir_path (const gsi_store *s, gsi_store_dir d)
{
  return (d >= 0 && d < GSI_STORE_NDIRS) ? s->dirs[d] : NULL;
}

char *
gsi_store_blob_path (const gsi_store *s, const char *digest, gsi_error *err)
{
  if (gsi_digest_validate (digest, err) < 0)
    return NULL;
  return xasprintf ("%s/blobs/sha256/%s", s->root, gsi_digest_hex (digest));
}

char *
gsi_store_layer_path (const gsi_store *s, const char *diff_id, gsi_error *err)
{
  if (gsi_digest_validate (diff_id, err) < 0)
    return NULL;
  return xasprintf ("%s/%s", s->dirs[GSI_STORE_LAYERS], gsi_digest_hex (diff_id));
}

char *
gsi_store_inventory_path (const gsi_store *s, const char *layer_digest, gsi_error *err)
{
  if (gsi_digest_validate (layer_digest, err) < 0)
    return NULL;
  return xasprintf ("%s/%s", s->dirs[GSI_STORE_INVENTORY], gsi_digest_hex (layer_digest));
}

static int write_replace (gsi_store *s, int dirfd, const char *base, const char *shown, const void *data, size_t len,
                          bool durable, gsi_error *err);

int
gsi_store_put_inventory (gsi_store *s, const char *layer_digest, const void *data, size_t len, gsi_error *err)
{
  cleanup_free char *path = gsi_store_inventory_path (s, layer_digest, err);

  if (path == NULL)
    return -1;
  /* Replacing is right: the entry there may be one a reader found unusable.  Not durable: a cache.  */
  return write_replace (s, AT_FDCWD, path, path, data, len, false, err);
}

/* ---- temp files, atomic writes, locks --------------------------------------------------------- */

int
gsi_store_tmpfile (gsi_store *s, const char *prefix, int *fd_out, char **name_out, gsi_error *err)
{
  cleanup_free char *path = xasprintf ("%s/%sXXXXXX", s->dirs[GSI_STORE_TMP], prefix);
  int fd = mkostemp (path, O_CLOEXEC);

  if (fd < 0)
    return gsi_error_set (err, errno, "create temp file `%s`", path);
  /* Cannot block: the file is new.  The lock tells prune the file is live.  */
  if (flock_retry (fd, LOCK_EX | LOCK_NB) < 0)
    {
      int e = errno;
      unlink (path);
      close (fd);
      return gsi_error_set (err, e, "flock `%s`", path);
    }
  *fd_out = fd;
  *name_out = xstrdup (strrchr (path, '/') + 1);
  return 0;
}

void
gsi_store_tmp_unlink (gsi_store *s, const char *name)
{
  unlink_ignore (s->tmp_fd, name);
}

int
gsi_store_mkdtemp (gsi_store *s, const char *prefix, char **path_out, gsi_error *err)
{
  char *path = xasprintf ("%s/%sXXXXXX", s->dirs[GSI_STORE_TMP], prefix);

  if (mkdtemp (path) == NULL)
    {
      gsi_error_set (err, errno, "create temp dir `%s`", path);
      free (path);
      return -1;
    }
  *path_out = path;
  return 0;
}

int
gsi_store_install_blob (gsi_store *s, int fd, const char *tmp_name, const char *digest, gsi_error *err)
{
  const char *hex;

  if (gsi_digest_validate (digest, err) < 0)
    return -1;
  hex = gsi_digest_hex (digest);
  if (fsync (fd) < 0)
    return gsi_error_set (err, errno, "fsync `%s/%s`", s->dirs[GSI_STORE_TMP], tmp_name);
  if (fchmod (fd, 0644) < 0)
    return gsi_error_set (err, errno, "chmod `%s/%s`", s->dirs[GSI_STORE_TMP], tmp_name);
  if (renameat2 (s->tmp_fd, tmp_name, s->blobs_fd, hex, RENAME_NOREPLACE) < 0)
    {
      if (errno == EEXIST)
        {
          /* Same name, same content: keep the blob that is there (it may be open by a reader).  */
          unlink_ignore (s->tmp_fd, tmp_name);
          return 0;
        }
      if ((errno != EINVAL && errno != ENOSYS) || renameat (s->tmp_fd, tmp_name, s->blobs_fd, hex) < 0)
        return gsi_error_set (err, errno, "rename `%s` into `%s/blobs/sha256`", tmp_name, s->root);
    }
  if (fsync (s->blobs_fd) < 0)
    return gsi_error_set (err, errno, "fsync `%s/blobs/sha256`", s->root);
  return 0;
}

static int
check_relpath (const char *relpath, gsi_error *err)
{
  const char *p = relpath;

  if (*p == '\0' || *p == '/')
    return gsi_error_set (err, EINVAL, "`%s` is not a path inside the store", relpath);
  while (p)
    {
      if (strncmp (p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
        return gsi_error_set (err, EINVAL, "`%s` is not a path inside the store", relpath);
      p = strchr (p, '/');
      if (p)
        p++;
    }
  return 0;
}

static int
open_parent_dir (gsi_store *s, const char *relpath, const char **base, gsi_error *err)
{
  const char *slash = strrchr (relpath, '/');
  cleanup_free char *dir = NULL;
  int fd;

  if (slash == NULL)
    {
      *base = relpath;
      fd = dup (s->root_fd);
      return fd < 0 ? gsi_error_set (err, errno, "dup") : fd;
    }
  dir = xstrndup (relpath, (size_t) (slash - relpath));
  *base = slash + 1;
  fd = openat (s->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s/%s`", s->root, dir);
  return fd;
}

int
gsi_store_write_atomic (gsi_store *s, const char *relpath, const void *data, size_t len, gsi_error *err)
{
  cleanup_close int dirfd = -1;
  const char *base = NULL;

  if (check_relpath (relpath, err) < 0)
    return -1;
  dirfd = open_parent_dir (s, relpath, &base, err);
  if (dirfd < 0)
    return -1;
  cleanup_free char *shown = xasprintf ("%s/%s", s->root, relpath);
  if (write_replace (s, dirfd, base, shown, data, len, true, err) < 0)
    return -1;
  if (fsync (dirfd) < 0)
    return gsi_error_set (err, errno, "fsync the directory of `%s/%s`", s->root, relpath);
  return 0;
}

/* Writes data to a temp file in tmp/ and renames it to base (relative to dirfd; shown in messages),
 * replacing what is there; durable: the file is fsynced before the rename (the caller fsyncs the
 * directory).  */
static int
write_replace (gsi_store *s, int dirfd, const char *base, const char *shown, const void *data, size_t len,
               bool durable, gsi_error *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *tmp = NULL;

  if (gsi_store_tmpfile (s, "write-", &fd, &tmp, err) < 0)
    return -1;
  if (write_all (fd, data, len) < 0 || (durable && fsync (fd) < 0) || fchmod (fd, 0644) < 0)
    {
      gsi_error_set (err, errno, "write `%s/%s`", s->dirs[GSI_STORE_TMP], tmp);
      unlink_ignore (s->tmp_fd, tmp);
      return -1;
    }
  if (renameat (s->tmp_fd, tmp, dirfd, base) < 0)
    {
      gsi_error_set (err, errno, "rename `%s` to `%s`", tmp, shown);
      unlink_ignore (s->tmp_fd, tmp);
      return -1;
    }
  return 0;
}

int
gsi_store_lock (gsi_store *s, const char *name, int *fd_out, gsi_error *err)
{
  cleanup_free char *file = xasprintf ("%s.lock", name);
  cleanup_close int fd = -1;

  if (strchr (name, '/') || *name == '.' || *name == '\0')
    return gsi_error_set (err, EINVAL, "bad lock name `%s`", name);
  fd = openat (s->locks_fd, file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s/%s`", s->dirs[GSI_STORE_LOCKS], file);
  if (flock_retry (fd, LOCK_EX) < 0)
    return gsi_error_set (err, errno, "flock `%s/%s`", s->dirs[GSI_STORE_LOCKS], file);
  *fd_out = steal_fd (&fd);
  return 0;
}

/* ---- blobs ------------------------------------------------------------------------------------ */

int
gsi_store_put_blob (gsi_store *s, const void *data, size_t len, char digest[GSI_DIGEST_BUF], gsi_error *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *tmp = NULL;

  gsi_digest_buf (data, len, digest);
  if (gsi_store_has_blob (s, digest))
    return 0;
  if (gsi_store_tmpfile (s, "blob-", &fd, &tmp, err) < 0)
    return -1;
  if (write_all (fd, data, len) < 0)
    {
      gsi_error_set (err, errno, "write `%s/%s`", s->dirs[GSI_STORE_TMP], tmp);
      unlink_ignore (s->tmp_fd, tmp);
      return -1;
    }
  if (gsi_store_install_blob (s, fd, tmp, digest, err) < 0)
    {
      unlink_ignore (s->tmp_fd, tmp);
      return -1;
    }
  return 0;
}

bool
gsi_store_has_blob (gsi_store *s, const char *digest)
{
  struct stat st;

  if (!gsi_digest_is_valid (digest))
    return false;
  return fstatat (s->blobs_fd, gsi_digest_hex (digest), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode);
}

int
gsi_store_open_blob (gsi_store *s, const char *digest, int64_t expected_size, uint64_t *size, gsi_error *err)
{
  cleanup_close int fd = -1;
  struct stat st;

  if (gsi_digest_validate (digest, err) < 0)
    return -1;
  fd = openat (s->blobs_fd, gsi_digest_hex (digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT)
    {
      return error_with_code (err, ENOENT, "blob `%s` is not in the store", digest);
    }
  if (fd < 0)
    return gsi_error_set (err, errno, "open blob `%s`", digest);
  if (fstat (fd, &st) < 0)
    return gsi_error_set (err, errno, "stat blob `%s`", digest);
  if (!S_ISREG (st.st_mode))
    return gsi_error_set (err, 0, "blob `%s` is not a regular file", digest);
  if (expected_size >= 0 && st.st_size != expected_size)
    return gsi_error_set (err, 0, "blob `%s` has %lld bytes, its descriptor says %lld", digest,
                          (long long) st.st_size, (long long) expected_size);
  if (size)
    *size = (uint64_t) st.st_size;
  return steal_fd (&fd);
}

int
gsi_store_read_blob (gsi_store *s, const char *digest, int64_t expected_size, size_t max_size, char **data,
                     size_t *len, gsi_error *err)
{
  cleanup_close int fd = -1;
  cleanup_free char *buf = NULL;
  char actual[GSI_DIGEST_BUF];
  size_t n = 0;
  uint64_t size = 0;

  fd = gsi_store_open_blob (s, digest, expected_size, &size, err);
  if (fd < 0)
    return -1;
  if (size > max_size)
    return gsi_error_set (err, EFBIG, "blob `%s` has %llu bytes, more than the %zu expected of it", digest,
                          (unsigned long long) size, max_size);
  if (read_fd_all (fd, max_size, &buf, &n, err) < 0)
    return gsi_error_wrap (err, "read blob `%s`", digest);
  gsi_digest_buf (buf, n, actual);
  if (strcmp (actual, digest) != 0)
    return gsi_error_set (err, 0, "blob `%s` is corrupt: its content hashes to `%s`", digest, actual);
  *data = steal_pointer (&buf);
  if (len)
    *len = n;
  return 0;
}

int
gsi_store_verify_blob (gsi_store *s, const char *digest, gsi_error *err)
{
  cleanup_close int fd = gsi_store_open_blob (s, digest, -1, NULL, err);
  char actual[GSI_DIGEST_BUF];

  if (fd < 0)
    return -1;
  if (gsi_digest_fd (fd, actual, NULL, err) < 0)
    return gsi_error_wrap (err, "read blob `%s`", digest);
  if (strcmp (actual, digest) != 0)
    return gsi_error_set (err, 0, "blob `%s` is corrupt: its content hashes to `%s`", digest, actual);
  return 0;
}

/* Parses a blob as JSON, or NULL for any reason (missing, too big, not JSON): walking image graphs
 * must tolerate blobs the layout allows to be absent.  */
static json_t *
read_json_blob_quiet (gsi_store *s, const char *digest, size_t max)
{
  cleanup_error gsi_error e = GSI_ERROR_INIT;
  cleanup_free char *data = NULL;
  size_t len = 0;

  if (gsi_store_read_blob (s, digest, -1, max, &data, &len, &e) < 0)
    return NULL;
  return json_loadb (data, len, 0, NULL);
}

/* ---- index.json ------------------------------------------------------------------------------- */

json_t *
gsi_store_load_index (gsi_store *s, gsi_error *err)
{
  cleanup_close int fd = openat (s->root_fd, "index.json", O_RDONLY | O_CLOEXEC);
  cleanup_free char *data = NULL;
  json_error_t jerr;
  size_t len = 0;
  json_t *idx, *m;

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s/index.json`", s->root), NULL;
  if (read_fd_all (fd, MAX_INDEX_SIZE, &data, &len, err) < 0)
    return gsi_error_wrap (err, "read `%s/index.json`", s->root), NULL;
  idx = json_loadb (data, len, 0, &jerr);
  if (idx == NULL)
    return gsi_error_at (err, "index.json", jerr.line, jerr.column, "%s", jerr.text), NULL;
  m = json_object_get (idx, "manifests");
  if (!json_is_object (idx) || (m && !json_is_array (m)))
    {
      json_decref (idx);
      return gsi_error_set (err, 0, "`%s/index.json` is not an image index", s->root), NULL;
    }
  if (m == NULL)
    json_object_set_new (idx, "manifests", json_array ());
  return idx;
}

static int
save_index (gsi_store *s, json_t *idx, gsi_error *err)
{
  cleanup_free char *text = NULL;

  /* An index another tool wrote may lack these; the spec wants both.  */
  if (json_object_get (idx, "schemaVersion") == NULL)
    json_object_set_new (idx, "schemaVersion", json_integer (2));
  if (json_object_get (idx, "mediaType") == NULL)
    json_object_set_new (idx, "mediaType", json_string (GSI_MEDIA_OCI_INDEX));
  text = json_dumps (idx, JSON_COMPACT | JSON_SORT_KEYS);

  if (text == NULL)
    return gsi_error_set (err, ENOMEM, "serialise index.json");
  return gsi_store_write_atomic (s, "index.json", text, strlen (text), err);
}

static const char *
entry_annotation (json_t *entry, const char *key)
{
  return jget_str (json_object_get (entry, "annotations"), key);
}

static bool
streq (const char *a, const char *b)
{
  return a && b && strcmp (a, b) == 0;
}

static int
not_found (gsi_error *err, const char *what, const char *root)
{
  return error_with_code (err, ENOENT, "image `%s` not found in `%s`", what, root);
}

/* The digest a reference names, when it names one: "sha256:..." or "name@sha256:...".  Returns 1
 * with *digest set, 0 when ref is a plain name, -1 on a malformed digest.  */
static int
ref_digest (const char *ref, const char **digest, gsi_error *err)
{
  const char *at = strchr (ref, '@');

  *digest = at ? at + 1 : ref;
  if (at == NULL && strncmp (ref, GSI_DIGEST_PREFIX, strlen (GSI_DIGEST_PREFIX)) != 0)
    return 0;
  if (gsi_digest_validate (*digest, err) < 0)
    return -1;
  return 1;
}

/* The index of the manifests[] entry a tag reference names, -1 when none, -2 on error.  */
static ssize_t
find_tag (json_t *manifests, const char *ref, gsi_error *err)
{
  cleanup_free char *name = NULL;
  cleanup_free char *full = NULL;
  size_t i;
  json_t *e;

  json_array_foreach (manifests, i, e)
    if (streq (entry_annotation (e, GSI_ANNOT_REF_NAME), ref))
      return (ssize_t) i;
  if (gsi_ref_normalize (ref, &name, &full, err) < 0)
    return -2;
  json_array_foreach (manifests, i, e)
    if (streq (entry_annotation (e, GSI_ANNOT_REF_NAME), name))
      return (ssize_t) i;
  json_array_foreach (manifests, i, e)
    if (streq (entry_annotation (e, GSI_ANNOT_CONTAINERD_NAME), full))
      return (ssize_t) i;
  return -1;
}

static const char *
sniff_media_type (json_t *doc)
{
  const char *mt = jget_str (doc, "mediaType");

  if (mt)
    return mt;
  if (json_is_array (json_object_get (doc, "manifests")))
    return GSI_MEDIA_OCI_INDEX;
  return GSI_MEDIA_OCI_MANIFEST;
}

static int
resolve_digest (gsi_store *s, json_t *manifests, const char *digest, gsi_descriptor *out, gsi_error *err)
{
  json_t *e, *doc;
  size_t i;
  uint64_t size = 0;

  json_array_foreach (manifests, i, e)
    if (streq (jget_str (e, "digest"), digest))
      return gsi_descriptor_from_json (e, out, err);
  doc = read_json_blob_quiet (s, digest, MAX_JSON_BLOB);
  if (doc == NULL)
    return not_found (err, digest, s->root);
  {
    cleanup_close int fd = gsi_store_open_blob (s, digest, -1, &size, err);
    if (fd < 0)
      {
        json_decref (doc);
        return -1;
      }
  }
  gsi_descriptor_set (out, sniff_media_type (doc), digest, (int64_t) size);
  json_decref (doc);
  return 0;
}

int
gsi_store_resolve (gsi_store *s, const char *ref, gsi_descriptor *out, gsi_error *err)
{
  json_t *idx = gsi_store_load_index (s, err);
  json_t *manifests;
  const char *digest = NULL;
  ssize_t i;
  int r;

  gsi_descriptor_clear (out);
  if (idx == NULL)
    return -1;
  manifests = json_object_get (idx, "manifests");
  r = ref_digest (ref, &digest, err);
  if (r > 0)
    r = resolve_digest (s, manifests, digest, out, err);
  else if (r == 0)
    {
      i = find_tag (manifests, ref, err);
      if (i >= 0)
        r = gsi_descriptor_from_json (json_array_get (manifests, (size_t) i), out, err);
      else
        r = i == -1 ? not_found (err, ref, s->root) : -1;
    }
  json_decref (idx);
  return r;
}

/* Removes every entry that carries either name; two spellings of one image share one tag.  */
static void
remove_names (json_t *manifests, const char *name, const char *full)
{
  for (size_t i = json_array_size (manifests); i-- > 0;)
    {
      json_t *e = json_array_get (manifests, i);
      const char *rn = entry_annotation (e, GSI_ANNOT_REF_NAME);
      const char *cn = entry_annotation (e, GSI_ANNOT_CONTAINERD_NAME);
      if (streq (rn, name) || streq (cn, full) || streq (rn, full))
        json_array_remove (manifests, i);
    }
}

static json_t *
tag_entry (const gsi_descriptor *desc, const char *name, const char *full, gsi_error *err)
{
  json_t *j = gsi_descriptor_to_json (desc, err);
  json_t *a;

  if (j == NULL)
    return NULL;
  a = json_object_get (j, "annotations");
  if (a == NULL)
    {
      a = json_object ();
      json_object_set_new (j, "annotations", a);
    }
  /* Both names passed gsi_ref_normalize, so they are ASCII.  */
  json_object_set_new (a, GSI_ANNOT_REF_NAME, json_string (name));
  json_object_set_new (a, GSI_ANNOT_CONTAINERD_NAME, json_string (full));
  return j;
}

int
gsi_store_tag (gsi_store *s, const char *ref, const gsi_descriptor *desc, gsi_error *err)
{
  cleanup_free char *name = NULL;
  cleanup_free char *full = NULL;
  cleanup_close int lock = -1;
  json_t *idx, *entry;
  int r;

  if (gsi_ref_normalize (ref, &name, &full, err) < 0)
    return -1;
  if (!gsi_store_has_blob (s, desc->digest))
    return gsi_error_set (err, 0, "cannot tag `%s`: manifest `%s` is not in the store", ref, desc->digest);
  entry = tag_entry (desc, name, full, err);
  if (entry == NULL)
    return gsi_error_wrap (err, "tag `%s`", ref);
  if (gsi_store_lock (s, "index", &lock, err) < 0 || (idx = gsi_store_load_index (s, err)) == NULL)
    {
      json_decref (entry);
      return gsi_error_wrap (err, "tag `%s`", ref);
    }
  remove_names (json_object_get (idx, "manifests"), name, full);
  json_array_append_new (json_object_get (idx, "manifests"), entry);
  r = save_index (s, idx, err);
  json_decref (idx);
  return r < 0 ? gsi_error_wrap (err, "tag `%s`", ref) : 0;
}

/* Removes the entries ref names under the index lock; *removed gets how many.  */
static int
remove_entries (gsi_store *s, const char *ref, size_t *removed, gsi_error *err)
{
  cleanup_close int lock = -1;
  const char *digest = NULL;
  json_t *idx, *manifests;
  size_t n = 0;
  int r;

  r = ref_digest (ref, &digest, err);
  if (r < 0 || gsi_store_lock (s, "index", &lock, err) < 0 || (idx = gsi_store_load_index (s, err)) == NULL)
    return -1;
  manifests = json_object_get (idx, "manifests");
  if (r > 0)
    {
      for (size_t i = json_array_size (manifests); i-- > 0;)
        if (streq (jget_str (json_array_get (manifests, i), "digest"), digest))
          {
            json_array_remove (manifests, i);
            n++;
          }
    }
  else
    {
      ssize_t i = find_tag (manifests, ref, err);
      if (i >= 0)
        {
          json_array_remove (manifests, (size_t) i);
          n++;
        }
      r = i == -2 ? -1 : 0;
    }
  if (r >= 0 && n == 0)
    r = not_found (err, ref, s->root);
  if (r >= 0)
    r = save_index (s, idx, err);
  json_decref (idx);
  *removed = n;
  return r;
}

int
gsi_store_untag (gsi_store *s, const char *ref, gsi_error *err)
{
  size_t n = 0;

  if (strchr (ref, '@') || strncmp (ref, GSI_DIGEST_PREFIX, strlen (GSI_DIGEST_PREFIX)) == 0)
    return gsi_error_set (err, EINVAL, "untag `%s`: not a tag", ref);
  return remove_entries (s, ref, &n, err) < 0 ? gsi_error_wrap (err, "untag `%s`", ref) : 0;
}

int
gsi_store_remove_image (gsi_store *s, const char *ref, size_t *removed, gsi_error *err)
{
  size_t n = 0;
  int r = remove_entries (s, ref, &n, err);

  if (removed)
    *removed = n;
  return r < 0 ? gsi_error_wrap (err, "remove `%s`", ref) : 0;
}

/* ---- listing ---------------------------------------------------------------------------------- */

static bool
is_manifest_type (const char *mt)
{
  return streq (mt, GSI_MEDIA_OCI_MANIFEST) || streq (mt, GSI_MEDIA_DOCKER_MANIFEST);
}

static bool
is_index_type (const char *mt)
{
  return streq (mt, GSI_MEDIA_OCI_INDEX) || streq (mt, GSI_MEDIA_DOCKER_LIST);
}

static int64_t
desc_size (json_t *d)
{
  json_t *v = json_object_get (d, "size");
  return json_is_integer (v) && json_integer_value (v) > 0 ? json_integer_value (v) : 0;
}

/* Adds the config and layer sizes of a manifest to *size and takes "created" from its config.  */
static void
summarize_manifest (gsi_store *s, const char *digest, uint64_t *size, char **created)
{
  json_t *m = read_json_blob_quiet (s, digest, MAX_JSON_BLOB);
  json_t *config, *layer, *cfg;
  size_t i;

  if (m == NULL)
    return;
  config = json_object_get (m, "config");
  *size += (uint64_t) desc_size (config);
  json_array_foreach (json_object_get (m, "layers"), i, layer)
    *size += (uint64_t) desc_size (layer);
  cfg = (*created == NULL && gsi_digest_is_valid (jget_str (config, "digest")))
            ? read_json_blob_quiet (s, jget_str (config, "digest"), MAX_JSON_BLOB)
            : NULL;
  if (jget_str (cfg, "created"))
    *created = xstrdup (jget_str (cfg, "created"));
  json_decref (cfg);
  json_decref (m);
}

static void
summarize_index (gsi_store *s, const char *digest, uint64_t *size, char **created)
{
  json_t *idx = read_json_blob_quiet (s, digest, MAX_JSON_BLOB);
  json_t *child;
  size_t i;

  json_array_foreach (json_object_get (idx, "manifests"), i, child)
    {
      const char *cd = jget_str (child, "digest");
      *size += (uint64_t) desc_size (child);
      if (gsi_digest_is_valid (cd) && is_manifest_type (jget_str (child, "mediaType")))
        summarize_manifest (s, cd, size, created);
    }
  json_decref (idx);
}

int
gsi_store_list_images (gsi_store *s, gsi_image_summary **out, size_t *n_out, gsi_error *err)
{
  json_t *idx = gsi_store_load_index (s, err);
  gsi_image_summary *v = NULL;
  size_t n = 0, i;
  json_t *e;

  if (idx == NULL)
    return -1;
  v = xcalloc (json_array_size (json_object_get (idx, "manifests")) + 1, sizeof *v);
  json_array_foreach (json_object_get (idx, "manifests"), i, e)
    {
      gsi_image_summary *im = &v[n];
      const char *digest = jget_str (e, "digest");
      const char *mt = jget_str (e, "mediaType");
      if (!gsi_digest_is_valid (digest))
        continue; /* not ours to judge: another tool's entry with another algorithm */
      snprintf (im->digest, sizeof im->digest, "%s", digest);
      im->name = xstrdup_or_null (entry_annotation (e, GSI_ANNOT_REF_NAME));
      im->full_name = xstrdup_or_null (entry_annotation (e, GSI_ANNOT_CONTAINERD_NAME));
      im->media_type = xstrdup_or_null (mt);
      im->size = (uint64_t) desc_size (e);
      if (is_index_type (mt))
        summarize_index (s, digest, &im->size, &im->created);
      else if (is_manifest_type (mt) || mt == NULL)
        summarize_manifest (s, digest, &im->size, &im->created);
      n++;
    }
  json_decref (idx);
  *out = v;
  *n_out = n;
  return 0;
}

void
gsi_image_summaries_free (gsi_image_summary *v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].name);
      free (v[i].full_name);
      free (v[i].media_type);
      free (v[i].created);
    }
  free (v);
}

/* ---- prune ------------------------------------------------------------------------------------ */

/* A set of 64-hex names, open addressing: digests are uniformly random, so their leading bits are a
 * fine hash.  */
typedef struct hexset
{
  char (*slots)[GSI_DIGEST_HEX_LEN + 1];
  size_t n, cap;
} hexset;

static size_t
hexset_slot (const hexset *hs, const char *hex)
{
  uint64_t h = 0;

  for (int i = 0; i < 16; i++)
    h = (h << 4) | (uint64_t) (hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
  for (size_t i = (size_t) h & (hs->cap - 1);; i = (i + 1) & (hs->cap - 1))
    if (hs->slots[i][0] == '\0' || memcmp (hs->slots[i], hex, GSI_DIGEST_HEX_LEN) == 0)
      return i;
}

static bool
hexset_has (const hexset *hs, const char *hex)
{
  return hs->cap > 0 && hs->slots[hexset_slot (hs, hex)][0] != '\0';
}

/* Returns true when hex was not in the set yet.  */
static bool
hexset_add (hexset *hs, const char *hex)
{
  size_t i;

  if (2 * (hs->n + 1) > hs->cap)
    {
      hexset bigger = { NULL, 0, hs->cap ? hs->cap * 2 : 256 };
      bigger.slots = xcalloc (bigger.cap, sizeof *bigger.slots);
      for (size_t j = 0; j < hs->cap; j++)
        if (hs->slots[j][0])
          memcpy (bigger.slots[hexset_slot (&bigger, hs->slots[j])], hs->slots[j], GSI_DIGEST_HEX_LEN + 1);
      bigger.n = hs->n;
      free (hs->slots);
      *hs = bigger;
    }
  i = hexset_slot (hs, hex);
  if (hs->slots[i][0])
    return false;
  memcpy (hs->slots[i], hex, GSI_DIGEST_HEX_LEN);
  hs->slots[i][GSI_DIGEST_HEX_LEN] = '\0';
  hs->n++;
  return true;
}

typedef struct reach
{
  gsi_store *s;
  hexset blobs;    /* reachable blobs */
  hexset diff_ids; /* diff_ids of reachable configs: their unpacked layers stay */
} reach;

static void walk (reach *r, const char *digest, const char *media_type, int64_t size, int depth);

static void
add_diff_ids (reach *r, json_t *cfg)
{
  json_t *id;
  size_t i;

  json_array_foreach (json_object_get (json_object_get (cfg, "rootfs"), "diff_ids"), i, id)
    if (gsi_digest_is_valid (json_string_value (id)))
      hexset_add (&r->diff_ids, gsi_digest_hex (json_string_value (id)));
}

static void
walk_config (reach *r, json_t *config)
{
  const char *digest = jget_str (config, "digest");
  json_t *cfg;

  if (!gsi_digest_is_valid (digest))
    return;
  hexset_add (&r->blobs, gsi_digest_hex (digest));
  cfg = read_json_blob_quiet (r->s, digest, MAX_JSON_BLOB);
  add_diff_ids (r, cfg);
  json_decref (cfg);
}

static void
walk_children (reach *r, json_t *doc, int depth)
{
  json_t *d;
  size_t i;

  /* An image config given to keep: its unpacked layers stay.  */
  add_diff_ids (r, doc);
  if (json_is_object (json_object_get (doc, "config")))
    walk_config (r, json_object_get (doc, "config"));
  json_array_foreach (json_object_get (doc, "layers"), i, d)
    walk (r, jget_str (d, "digest"), jget_str (d, "mediaType"), desc_size (d), depth + 1);
  json_array_foreach (json_object_get (doc, "manifests"), i, d)
    walk (r, jget_str (d, "digest"), jget_str (d, "mediaType"), desc_size (d), depth + 1);
  json_array_foreach (json_object_get (doc, "blobs"), i, d)
    walk (r, jget_str (d, "digest"), jget_str (d, "mediaType"), desc_size (d), depth + 1);
  d = json_object_get (doc, "subject");
  if (json_is_object (d))
    walk (r, jget_str (d, "digest"), jget_str (d, "mediaType"), desc_size (d), depth + 1);
}

/* Worth opening to look for children: manifests and indexes, and small JSON or unknown blobs (an
 * artifact manifest, a digest given to keep), never a layer.  */
static bool
may_have_children (const char *mt, int64_t size)
{
  size_t n;

  if (is_manifest_type (mt) || is_index_type (mt))
    return true;
  if (mt == NULL)
    return size <= (int64_t) MAX_SNIFF_BLOB;
  n = strlen (mt);
  return n > 5 && strcmp (mt + n - 5, "+json") == 0 && size <= (int64_t) MAX_SNIFF_BLOB;
}

static void
walk (reach *r, const char *digest, const char *media_type, int64_t size, int depth)
{
  json_t *doc;

  if (!gsi_digest_is_valid (digest) || !hexset_add (&r->blobs, gsi_digest_hex (digest)))
    return;
  if (depth > MAX_WALK_DEPTH || !may_have_children (media_type, size))
    return;
  doc = read_json_blob_quiet (r->s, digest, media_type ? MAX_JSON_BLOB : MAX_SNIFF_BLOB);
  if (json_is_object (doc))
    walk_children (r, doc, depth);
  json_decref (doc);
}

static int
mark_reachable (reach *r, const gsi_prune_opts *opts, gsi_error *err)
{
  json_t *idx = gsi_store_load_index (r->s, err);
  json_t *e;
  size_t i;

  if (idx == NULL)
    return gsi_error_wrap (err, "prune: refusing to delete anything");
  json_array_foreach (json_object_get (idx, "manifests"), i, e)
    walk (r, jget_str (e, "digest"), jget_str (e, "mediaType"), desc_size (e), 0);
  json_decref (idx);
  for (const char *const *k = opts->keep; k && *k; k++)
    {
      uint64_t size = 0;
      cleanup_error gsi_error e2 = GSI_ERROR_INIT;
      cleanup_close int fd = gsi_store_open_blob (r->s, *k, -1, &size, &e2);
      walk (r, *k, NULL, fd >= 0 ? (int64_t) size : 0, 0);
    }
  return 0;
}

/* True when parent/name is on another mount than parent: an overlay or bind mount (of a cache
 * mount, say) that a killed build left in tmp/.  Deleting through it would empty what it shows.  */
static bool
is_mount_point (int parent, const char *name, const struct stat *st)
{
  struct stat pst;
  struct statx a, b;

  if (fstat (parent, &pst) == 0 && pst.st_dev != st->st_dev)
    return true;
  if (statx (parent, name, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &a) == 0
      && statx (parent, "", AT_EMPTY_PATH, STATX_MNT_ID, &b) == 0 && (a.stx_mask & b.stx_mask & STATX_MNT_ID))
    return a.stx_mnt_id != b.stx_mnt_id;
  return false;
}

/* Removes parent/name and everything below it, adding regular file sizes to *bytes.  Directories
 * without write or search permission (layer content keeps the modes of the image) are opened up
 * first.  Refuses to descend into a mount point.  With dry_run only counts.  */
static int
rm_rf_at (int parent, const char *name, bool dry_run, uint64_t *bytes, gsi_error *err)
{
  struct stat st;
  int fd;
  DIR *d;
  struct dirent *de;
  gsi_strvec names = GSI_STRVEC_INIT;
  int r = 0;

  if (fstatat (parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : gsi_error_set (err, errno, "stat `%s`", name);
  if (!S_ISDIR (st.st_mode))
    {
      if (S_ISREG (st.st_mode))
        *bytes += (uint64_t) st.st_size;
      if (!dry_run && unlinkat (parent, name, 0) < 0 && errno != ENOENT)
        return gsi_error_set (err, errno, "unlink `%s`", name);
      return 0;
    }
  if (is_mount_point (parent, name, &st))
    return error_with_code (err, EBUSY, "`%s` is a mount point, left by a killed build? unmount it first", name);
  if (!dry_run && (st.st_mode & 0700) != 0700)
    fchmodat (parent, name, (st.st_mode & 07777) | 0700, 0);
  fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return gsi_error_set (err, errno, "open `%s`", name);
    }
  /* Collect first: unlinking while readdir is in progress may skip entries.  */
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      gsi_strvec_push (&names, de->d_name);
  for (size_t i = 0; i < names.n && r == 0; i++)
    r = rm_rf_at (dirfd (d), names.v[i], dry_run, bytes, err);
  gsi_strvec_clear (&names);
  closedir (d);
  if (r < 0)
    return gsi_error_wrap (err, "remove `%s`", name);
  if (!dry_run && unlinkat (parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return gsi_error_set (err, errno, "rmdir `%s`", name);
  return 0;
}

static int
list_dir (int dirfd, const char *path, gsi_strvec *names, gsi_error *err)
{
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;

  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return gsi_error_set (err, errno, "open `%s`", path);
    }
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      gsi_strvec_push (names, de->d_name);
  return 0;
}

static int
prune_blobs (reach *r, const gsi_prune_opts *opts, gsi_prune_stats *st, gsi_error *err)
{
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
  cleanup_free char *dir = xasprintf ("%s/blobs/sha256", r->s->root);
  struct stat sb;

  if (list_dir (r->s->blobs_fd, dir, &names, err) < 0)
    return -1;
  for (size_t i = 0; i < names.n; i++)
    {
      /* Only our own kind of file: anything else under blobs/ is not ours to judge.  */
      if (!gsi_digest_hex_is_valid (names.v[i]) || hexset_has (&r->blobs, names.v[i]))
        continue;
      if (fstatat (r->s->blobs_fd, names.v[i], &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (sb.st_mode))
        continue;
      if (!opts->dry_run && unlinkat (r->s->blobs_fd, names.v[i], 0) < 0 && errno != ENOENT)
        return gsi_error_set (err, errno, "unlink `%s/%s`", dir, names.v[i]);
      st->blobs++;
      st->blob_bytes += (uint64_t) sb.st_size;
    }
  return 0;
}

static bool
layer_is_live (reach *r, const char *name)
{
  char hex[GSI_DIGEST_HEX_LEN + 1];

  if (strlen (name) < GSI_DIGEST_HEX_LEN)
    return false;
  memcpy (hex, name, GSI_DIGEST_HEX_LEN);
  hex[GSI_DIGEST_HEX_LEN] = '\0';
  return gsi_digest_hex_is_valid (hex) && hexset_has (&r->diff_ids, hex);
}

/* Removes every entry of the private directory d that live does not keep, counting them.  */
static int
prune_dir (reach *r, gsi_store_dir d, bool (*live) (reach *, const char *), const gsi_prune_opts *opts,
           size_t *count, uint64_t *bytes, gsi_error *err)
{
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
  const char *dir = r->s->dirs[d];
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", dir);
  if (list_dir (fd, dir, &names, err) < 0)
    return -1;
  for (size_t i = 0; i < names.n; i++)
    {
      if (live (r, names.v[i]))
        continue;
      if (rm_rf_at (fd, names.v[i], opts->dry_run, bytes, err) < 0)
        return gsi_error_wrap (err, "prune `%s`", dir);
      (*count)++;
    }
  return 0;
}

/* A temp file still flock'ed belongs to a live writer (in this process or, when prune waited for
 * the gc lock, nowhere else).  */
static bool
tmp_in_use (int dirfd, const char *name)
{
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

  return fd >= 0 && flock (fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static int
prune_tmp (gsi_store *s, const gsi_prune_opts *opts, gsi_prune_stats *st, gsi_error *err)
{
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;

  if (list_dir (s->tmp_fd, s->dirs[GSI_STORE_TMP], &names, err) < 0)
    return -1;
  for (size_t i = 0; i < names.n; i++)
    {
      if (tmp_in_use (s->tmp_fd, names.v[i]))
        continue;
      if (rm_rf_at (s->tmp_fd, names.v[i], opts->dry_run, &st->tmp_bytes, err) < 0)
        return gsi_error_wrap (err, "prune `%s`", s->dirs[GSI_STORE_TMP]);
      st->tmp++;
    }
  return 0;
}

/* An entry stays while its layer blob is reachable and in the store: the entry of a blob that is gone
 * could only answer for content nobody can read any more.  Anything else in the directory (a name
 * that is no digest) is not an entry and goes too: the directory is gsi's own.  */
static bool
inventory_is_live (reach *r, const char *name)
{
  return gsi_digest_hex_is_valid (name) && hexset_has (&r->blobs, name)
         && faccessat (r->s->blobs_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static int
prune_mounts (gsi_store *s, const gsi_prune_opts *opts, gsi_prune_stats *st, gsi_error *err)
{
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
  const char *dir = s->dirs[GSI_STORE_MOUNTS];
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", dir);
  if (list_dir (fd, dir, &names, err) < 0)
    return -1;
  for (size_t i = 0; i < names.n; i++)
    {
      if (rm_rf_at (fd, names.v[i], opts->dry_run, &st->mount_bytes, err) < 0)
        return gsi_error_wrap (err, "prune `%s`", dir);
      st->mounts++;
    }
  return 0;
}

/* Exclusive gc lock.  Dropping the shared lock before waiting keeps two pruning processes from
 * each holding a shared lock while waiting for the other's to go.  */
static int
gc_lock_exclusive (gsi_store *s, bool wait, gsi_error *err)
{
  if (wait)
    {
      flock_retry (s->gc_fd, LOCK_UN);
      if (flock_retry (s->gc_fd, LOCK_EX) == 0)
        return 0;
    }
  else if (flock_retry (s->gc_fd, LOCK_EX | LOCK_NB) == 0)
    return 0;
  if (errno == EWOULDBLOCK)
    {
      flock_retry (s->gc_fd, LOCK_SH);
      return error_with_code (err, EBUSY, "store `%s` is in use by another gsi process", s->root);
    }
  gsi_error_set (err, errno, "flock `%s/gc.lock`", s->dirs[GSI_STORE_LOCKS]);
  flock_retry (s->gc_fd, LOCK_SH);
  return -1;
}

static int
prune_locked (gsi_store *s, const gsi_prune_opts *opts, gsi_prune_stats *st, gsi_error *err)
{
  cleanup_close int lock = -1;
  reach r = { s, { NULL, 0, 0 }, { NULL, 0, 0 } };
  int ret;

  if (gsi_store_lock (s, "index", &lock, err) < 0)
    return -1;
  ret = mark_reachable (&r, opts, err);
  if (ret == 0)
    ret = prune_blobs (&r, opts, st, err);
  if (ret == 0)
    ret = prune_dir (&r, GSI_STORE_LAYERS, layer_is_live, opts, &st->layers, &st->layer_bytes, err);
  /* After the blobs, so that an entry goes with its blob.  */
  if (ret == 0)
    ret = prune_dir (&r, GSI_STORE_INVENTORY, inventory_is_live, opts, &st->inventory, &st->inventory_bytes, err);
  if (ret == 0)
    ret = prune_tmp (s, opts, st, err);
  if (ret == 0 && opts->cache_mounts)
    ret = prune_mounts (s, opts, st, err);
  free (r.blobs.slots);
  free (r.diff_ids.slots);
  return ret;
}

int
gsi_store_prune (gsi_store *s, const gsi_prune_opts *opts, gsi_prune_stats *stats, gsi_error *err)
{
  static const gsi_prune_opts defaults = { NULL, false, false, false };
  gsi_prune_stats st = { 0 };
  int ret;

  if (opts == NULL)
    opts = &defaults;
  if (gc_lock_exclusive (s, opts->wait, err) < 0)
    return gsi_error_wrap (err, "prune");
  ret = prune_locked (s, opts, &st, err);
  flock_retry (s->gc_fd, LOCK_SH);
  if (stats)
    *stats = st;
  return ret;
}
