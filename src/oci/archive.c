#include "oci/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/digest.h"
#include "oci/image.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define MAX_DOC_SIZE ((size_t) 8 << 20)
#define MAX_INDEX_DEPTH 2
#define COPY_CHUNK ((size_t) 256 << 10)

int
gsi_archive_format_parse (const char *name, gsi_archive_format *out, gsi_error *err)
{
  if (strcmp (name, "oci-archive") == 0)
    *out = GSI_ARCHIVE_OCI;
  else if (strcmp (name, "docker-archive") == 0)
    *out = GSI_ARCHIVE_DOCKER;
  else
    return gsi_error_set (err, 0, "unknown archive format `%s` (want oci-archive or docker-archive)", name);
  return 0;
}

/* ---- what goes in --------------------------------------------------------------------------------- */

typedef struct plan
{
  gsi_strvec blobs; /* digests in write order, each once */
  int64_t *sizes;
  size_t alloc_sizes;
  gsi_descriptor top; /* the index.json entry */
  char *config;       /* docker-archive: the config digest */
  gsi_strvec layers;  /* docker-archive: layer digests, bottom first */
  char *name;         /* "NAME:TAG", NULL when the image was named by digest */
  char *full;
} plan;

static void
plan_clear (plan *p)
{
  gsi_strvec_clear (&p->blobs);
  free (p->sizes);
  gsi_descriptor_clear (&p->top);
  free (p->config);
  gsi_strvec_clear (&p->layers);
  free (p->name);
  free (p->full);
}

static void
plan_add_blob (plan *p, const char *digest, int64_t size)
{
  for (size_t i = 0; i < p->blobs.n; i++)
    if (strcmp (p->blobs.v[i], digest) == 0)
      return;
  GSI_ALLOC_GROW (p->sizes, p->blobs.n + 1, p->alloc_sizes);
  p->sizes[p->blobs.n] = size;
  gsi_strvec_push (&p->blobs, digest);
}

static bool
is_index_type (const char *mt)
{
  return mt && (strcmp (mt, GSI_MEDIA_OCI_INDEX) == 0 || strcmp (mt, GSI_MEDIA_DOCKER_LIST) == 0);
}

static bool
is_manifest_type (const char *mt)
{
  return mt && (strcmp (mt, GSI_MEDIA_OCI_MANIFEST) == 0 || strcmp (mt, GSI_MEDIA_DOCKER_MANIFEST) == 0);
}

static int collect_tree (gsi_store *s, plan *p, const gsi_descriptor *d, int depth, gsi_error *err);

static int
collect_index (gsi_store *s, plan *p, const gsi_descriptor *d, int depth, gsi_error *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0, i;
  json_error_t jerr;
  json_t *idx, *e;
  int r = 0;

  if (depth >= MAX_INDEX_DEPTH)
    return gsi_error_set (err, 0, "index `%s` nests too deep", d->digest);
  if (gsi_store_read_blob (s, d->digest, d->size, MAX_DOC_SIZE, &data, &len, err) < 0)
    return -1;
  idx = json_loadb (data, len, 0, &jerr);
  if (!json_is_object (idx))
    {
      json_decref (idx);
      return gsi_error_set (err, 0, "index `%s` is not a JSON object", d->digest);
    }
  json_array_foreach (json_object_get (idx, "manifests"), i, e)
    {
      gsi_descriptor child = GSI_DESCRIPTOR_INIT;
      r = gsi_descriptor_from_json (e, &child, err);
      if (r == 0)
        r = collect_tree (s, p, &child, depth + 1, err);
      gsi_descriptor_clear (&child);
      if (r < 0)
        break;
    }
  json_decref (idx);
  return r;
}

static int
collect_manifest (gsi_store *s, plan *p, const gsi_descriptor *d, gsi_error *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  gsi_manifest m;
  int r;

  gsi_manifest_init (&m);
  r = gsi_store_read_blob (s, d->digest, d->size, MAX_DOC_SIZE, &data, &len, err);
  if (r == 0)
    r = gsi_manifest_from_json (data, len, &m, err);
  if (r == 0)
    {
      plan_add_blob (p, m.config.digest, m.config.size);
      for (size_t i = 0; i < m.n_layers; i++)
        plan_add_blob (p, m.layers[i].digest, m.layers[i].size);
    }
  gsi_manifest_clear (&m);
  return r;
}

/* Children first, so a reader streaming the tar meets a blob before what names it.  */
static int
collect_tree (gsi_store *s, plan *p, const gsi_descriptor *d, int depth, gsi_error *err)
{
  int r = 0;

  if (is_index_type (d->media_type))
    r = collect_index (s, p, d, depth, err);
  else if (is_manifest_type (d->media_type))
    r = collect_manifest (s, p, d, err);
  if (r < 0)
    return gsi_error_wrap (err, "`%s`", d->digest);
  plan_add_blob (p, d->digest, d->size);
  return 0;
}

static int
collect_docker (gsi_store *s, plan *p, const char *ref, gsi_error *err)
{
  gsi_manifest m;
  int r;

  gsi_manifest_init (&m);
  r = gsi_store_load_image (s, ref, &p->top, &m, NULL, err);
  if (r == 0)
    {
      for (size_t i = 0; i < m.n_layers; i++)
        {
          plan_add_blob (p, m.layers[i].digest, m.layers[i].size);
          gsi_strvec_push (&p->layers, m.layers[i].digest);
        }
      plan_add_blob (p, m.config.digest, m.config.size);
      p->config = xstrdup (m.config.digest);
      plan_add_blob (p, p->top.digest, p->top.size);
    }
  gsi_manifest_clear (&m);
  return r;
}

static bool
is_digest_ref (const char *ref)
{
  return strchr (ref, '@') != NULL || strncmp (ref, GSI_DIGEST_PREFIX, strlen (GSI_DIGEST_PREFIX)) == 0;
}

/* The index.json entry: the manifest (or index) with its platform and our names, nothing else the
 * store's own entry carries.  */
static void
name_top (plan *p)
{
  gsi_kv_clear (&p->top.annotations);
  if (p->name)
    gsi_kv_set (&p->top.annotations, GSI_ANNOT_REF_NAME, p->name);
  if (p->full)
    gsi_kv_set (&p->top.annotations, GSI_ANNOT_CONTAINERD_NAME, p->full);
}

static int
make_plan (gsi_store *s, const char *ref, gsi_archive_format fmt, plan *p, gsi_error *err)
{
  if (!is_digest_ref (ref) && gsi_ref_normalize (ref, &p->name, &p->full, err) < 0)
    {
      /* A name another tool wrote into index.json may not be a Docker reference; it is still an
       * image, only without a name in the archive.  */
      gsi_error_clear (err);
    }
  if (fmt == GSI_ARCHIVE_DOCKER)
    {
      if (collect_docker (s, p, ref, err) < 0)
        return -1;
    }
  else
    {
      if (gsi_store_resolve (s, ref, &p->top, err) < 0 || collect_tree (s, p, &p->top, 0, err) < 0)
        return -1;
    }
  name_top (p);
  return 0;
}

/* ---- the tar ------------------------------------------------------------------------------------ */

typedef struct tarw
{
  struct archive *a;
  time_t mtime;
} tarw;

static int
tar_fail (tarw *t, const char *what, gsi_error *err)
{
  int code = archive_errno (t->a) > 0 ? archive_errno (t->a) : 0;
  const char *msg = archive_error_string (t->a);

  return gsi_error_set (err, code, "%s: %s", what, msg ? msg : "libarchive failed");
}

static int
tar_header (tarw *t, const char *name, mode_t type, mode_t perm, int64_t size, gsi_error *err)
{
  struct archive_entry *e = archive_entry_new ();
  int r;

  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_size (e, size);
  archive_entry_set_uid (e, 0);
  archive_entry_set_gid (e, 0);
  archive_entry_set_mtime (e, t->mtime, 0);
  r = archive_write_header (t->a, e);
  archive_entry_free (e);
  if (r < ARCHIVE_WARN)
    return tar_fail (t, name, err);
  return 0;
}

static int
tar_data (tarw *t, const char *name, const void *data, size_t len, gsi_error *err)
{
  if (len > 0 && archive_write_data (t->a, data, len) != (la_ssize_t) len)
    return tar_fail (t, name, err);
  return 0;
}

static int
tar_bytes (tarw *t, const char *name, const char *data, gsi_error *err)
{
  size_t len = strlen (data);

  if (tar_header (t, name, AE_IFREG, 0644, (int64_t) len, err) < 0)
    return -1;
  return tar_data (t, name, data, len, err);
}

/* Streams a blob into the tar and checks that its content still hashes to its name.  */
static int
tar_blob (tarw *t, gsi_store *s, const char *digest, int64_t size, gsi_error *err)
{
  cleanup_free char *name = xasprintf ("blobs/sha256/%s", gsi_digest_hex (digest));
  cleanup_free char *buf = NULL;
  cleanup_close int fd = -1;
  char got[GSI_DIGEST_BUF];
  uint64_t fsize = 0, done = 0;
  gsi_sha256 *h;
  int r = 0;

  fd = gsi_store_open_blob (s, digest, size, &fsize, err);
  if (fd < 0 || tar_header (t, name, AE_IFREG, 0644, (int64_t) fsize, err) < 0)
    return -1;
  buf = xmalloc (COPY_CHUNK);
  h = gsi_sha256_new ();
  while (r == 0 && done < fsize)
    {
      ssize_t n = read (fd, buf, COPY_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        r = gsi_error_set (err, n < 0 ? errno : 0, "read blob `%s`%s", digest, n < 0 ? "" : ": file shrank");
      else if ((uint64_t) n > fsize - done)
        r = gsi_error_set (err, 0, "read blob `%s`: file grew", digest);
      else
        {
          gsi_sha256_update (h, buf, (size_t) n);
          done += (uint64_t) n;
          r = tar_data (t, name, buf, (size_t) n, err);
        }
    }
  gsi_sha256_final (h, got);
  gsi_sha256_free (h);
  if (r == 0 && strcmp (got, digest) != 0)
    return gsi_error_set (err, 0, "blob `%s` is corrupt: its content hashes to `%s`", digest, got);
  return r;
}

static char *
dump_json (json_t *j, size_t flags)
{
  char *s = json_dumps (j, flags);

  json_decref (j);
  if (s == NULL)
    abort (); /* only on OOM: every string in it was validated UTF-8 */
  return s;
}

static int
index_json (const plan *p, char **out, gsi_error *err)
{
  json_t *top = gsi_descriptor_to_json (&p->top, err);
  json_t *idx;

  if (top == NULL)
    return -1;
  idx = json_object ();
  json_object_set_new (idx, "schemaVersion", json_integer (2));
  json_object_set_new (idx, "mediaType", json_string (GSI_MEDIA_OCI_INDEX));
  json_object_set_new (idx, "manifests", json_pack ("[o]", top));
  *out = dump_json (idx, JSON_COMPACT | JSON_SORT_KEYS);
  return 0;
}

/* Docker's order of keys: Config, RepoTags, Layers.  */
static char *
docker_manifest_json (const plan *p)
{
  json_t *entry = json_object ();
  json_t *tags = json_array ();
  json_t *layers = json_array ();

  json_object_set_new (entry, "Config", json_sprintf ("blobs/sha256/%s", gsi_digest_hex (p->config)));
  if (p->name)
    json_array_append_new (tags, json_string (p->name));
  json_object_set_new (entry, "RepoTags", tags);
  for (size_t i = 0; i < p->layers.n; i++)
    json_array_append_new (layers, json_sprintf ("blobs/sha256/%s", gsi_digest_hex (p->layers.v[i])));
  json_object_set_new (entry, "Layers", layers);
  return dump_json (json_pack ("[o]", entry), JSON_COMPACT);
}

static int
write_entries (tarw *t, gsi_store *s, const plan *p, gsi_archive_format fmt, gsi_error *err)
{
  cleanup_free char *index = NULL;
  cleanup_free char *docker = NULL;

  if (index_json (p, &index, err) < 0)
    return -1;
  if (tar_header (t, "blobs/", AE_IFDIR, 0755, 0, err) < 0
      || tar_header (t, "blobs/sha256/", AE_IFDIR, 0755, 0, err) < 0)
    return -1;
  for (size_t i = 0; i < p->blobs.n; i++)
    if (tar_blob (t, s, p->blobs.v[i], p->sizes[i], err) < 0)
      return -1;
  if (tar_bytes (t, "index.json", index, err) < 0)
    return -1;
  if (fmt == GSI_ARCHIVE_DOCKER)
    {
      docker = docker_manifest_json (p);
      if (tar_bytes (t, "manifest.json", docker, err) < 0)
        return -1;
    }
  return tar_bytes (t, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", err);
}

static time_t
archive_mtime (void)
{
  const char *e = getenv ("SOURCE_DATE_EPOCH");
  char *end = NULL;
  long long v;

  if (e == NULL || *e == '\0')
    return 0;
  errno = 0;
  v = strtoll (e, &end, 10);
  return errno == 0 && *end == '\0' && v >= 0 ? (time_t) v : 0;
}

int
gsi_archive_write_fd (gsi_store *s, const char *ref, gsi_archive_format fmt, int fd, gsi_error *err)
{
  plan p = { 0 };
  tarw t = { NULL, archive_mtime () };
  int r;

  gsi_descriptor_init (&p.top);
  r = make_plan (s, ref, fmt, &p, err);
  if (r == 0)
    {
      t.a = archive_write_new ();
      archive_write_set_format_pax_restricted (t.a);
      archive_write_add_filter_none (t.a);
      archive_write_set_bytes_in_last_block (t.a, 1);
      if (archive_write_open_fd (t.a, fd) != ARCHIVE_OK)
        r = tar_fail (&t, "start tar", err);
      else
        r = write_entries (&t, s, &p, fmt, err);
      if (r == 0 && archive_write_close (t.a) != ARCHIVE_OK)
        r = tar_fail (&t, "finish tar", err);
      archive_write_free (t.a);
    }
  plan_clear (&p);
  return r < 0 ? gsi_error_wrap (err, "export `%s`", ref) : 0;
}

/* ---- atomic file -------------------------------------------------------------------------------- */

static int
split_path (const char *path, char **dir, const char **base, gsi_error *err)
{
  const char *slash = strrchr (path, '/');

  *base = slash ? slash + 1 : path;
  if (**base == '\0' || strcmp (*base, ".") == 0 || strcmp (*base, "..") == 0)
    return gsi_error_set (err, 0, "`%s` is not a file name", path);
  if (slash == NULL)
    *dir = xstrdup (".");
  else if (slash == path)
    *dir = xstrdup ("/");
  else
    *dir = xstrndup (path, (size_t) (slash - path));
  return 0;
}

static mode_t
file_mode (void)
{
  mode_t mask = umask (0);

  umask (mask);
  return 0666 & ~mask;
}

static int
fsync_dir (const char *dir, gsi_error *err)
{
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0 || fsync (fd) < 0)
    return gsi_error_set (err, errno, "fsync `%s`", dir);
  return 0;
}

static int
finish_file (int fd, const char *tmp, const char *path, gsi_error *err)
{
  if (fchmod (fd, file_mode ()) < 0)
    return gsi_error_set (err, errno, "chmod `%s`", tmp);
  if (fsync (fd) < 0)
    return gsi_error_set (err, errno, "fsync `%s`", tmp);
  if (rename (tmp, path) < 0)
    return gsi_error_set (err, errno, "rename `%s` to `%s`", tmp, path);
  return 0;
}

int
gsi_archive_write_file (gsi_store *s, const char *ref, gsi_archive_format fmt, const char *path, gsi_error *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *tmp = NULL;
  cleanup_close int fd = -1;
  const char *base = NULL;

  /* A device or a pipe (-o /dev/stdout, a FIFO) is written in place: renaming a temp file over it
   * would replace the device with a plain file.  */
  struct stat st;
  if (stat (path, &st) == 0 && !S_ISREG (st.st_mode))
    {
      fd = open (path, O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        return gsi_error_set (err, errno, "open `%s`", path);
      return gsi_archive_write_fd (s, ref, fmt, fd, err);
    }
  if (split_path (path, &dir, &base, err) < 0)
    return -1;
  tmp = xasprintf ("%s/.%s.tmp-XXXXXX", dir, base);
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "write `%s`: create a temp file in `%s`", path, dir);
  if (gsi_archive_write_fd (s, ref, fmt, fd, err) < 0 || finish_file (fd, tmp, path, err) < 0)
    {
      unlink (tmp);
      return -1;
    }
  return fsync_dir (dir, err);
}
