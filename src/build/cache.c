#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xalloc.h"

bool
gsi_cache_key_valid (const char *s)
{
  size_t i;

  if (s == NULL)
    return false;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return i == 64;
}

/* Each field goes in as "tag length:value" so that no two different inputs can give the same
 * byte stream (a value containing a separator cannot shift into the next field).  */
static void
add_field (EVP_MD_CTX *md, char tag, const char *value)
{
  char head[32];
  size_t len = value ? strlen (value) : 0;
  int n = snprintf (head, sizeof head, "%c%zu:", tag, len);

  EVP_DigestUpdate (md, head, (size_t) n);
  if (len)
    EVP_DigestUpdate (md, value, len);
}

static int
cmp_strp (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
add_list (EVP_MD_CTX *md, char tag, const char *const *v, size_t n, bool sorted)
{
  cleanup_free const char **copy = NULL;
  char head[32];
  int len = snprintf (head, sizeof head, "%c#%zu:", tag, n);

  EVP_DigestUpdate (md, head, (size_t) len);
  if (n == 0)
    return;
  copy = xmalloc (n * sizeof *copy);
  memcpy (copy, v, n * sizeof *copy);
  /* Build args are a set: declaring them in another order must not bust the cache.  */
  if (sorted)
    qsort (copy, n, sizeof *copy, cmp_strp);
  for (size_t i = 0; i < n; i++)
    add_field (md, tag, copy[i]);
}

void
gsi_cache_key (const gsi_cache_key_input *in, char out[65])
{
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  unsigned char h[32];
  unsigned hlen = 0;

  if (md == NULL || !EVP_DigestInit_ex (md, EVP_sha256 (), NULL))
    abort ();
  add_field (md, 'V', "gsi-step-v1");
  add_field (md, 'P', in->parent);
  add_field (md, 'I', in->instruction);
  add_list (md, 'A', in->build_args, in->n_build_args, true);
  add_list (md, 'E', in->env, in->n_env, false);
  add_field (md, 'U', in->user);
  add_field (md, 'W', in->workdir);
  add_list (md, 'S', in->shell, in->n_shell, false);
  add_field (md, 'C', in->content);
  EVP_DigestFinal_ex (md, h, &hlen);
  EVP_MD_CTX_free (md);
  for (unsigned i = 0; i < 32; i++)
    snprintf (out + 2 * i, 3, "%02x", h[i]);
}

static int
copy_str (json_t *o, const char *name, char *dst, size_t size)
{
  const char *s = json_string_value (json_object_get (o, name));
  if (s == NULL || strlen (s) >= size)
    return -1;
  memcpy (dst, s, strlen (s) + 1);
  return 0;
}

static int
entry_from_json (json_t *o, gsi_cache_entry *e)
{
  memset (e, 0, sizeof *e);
  if (!json_is_object (o) || copy_str (o, "created", e->created, sizeof e->created) < 0)
    return -1;
  e->empty_layer = json_is_true (json_object_get (o, "empty_layer"));
  if (e->empty_layer)
    return 0;
  json_t *size = json_object_get (o, "size");
  json_t *raw = json_object_get (o, "raw_size");
  if (copy_str (o, "digest", e->digest, sizeof e->digest) < 0
      || copy_str (o, "diff_id", e->diff_id, sizeof e->diff_id) < 0
      || copy_str (o, "media_type", e->media_type, sizeof e->media_type) < 0 || !json_is_integer (size)
      || !json_is_integer (raw) || json_integer_value (size) < 0 || json_integer_value (raw) < 0)
    return -1;
  e->size = (uint64_t) json_integer_value (size);
  e->raw_size = (uint64_t) json_integer_value (raw);
  return 0;
}

int
gsi_cache_get (const char *dir, const char *key, gsi_cache_entry *e, gsi_error *err)
{
  cleanup_free char *path = NULL;
  json_error_t jerr;

  if (!gsi_cache_key_valid (key))
    return gsi_error_set (err, 0, "invalid cache key `%s`", key ? key : "(null)");
  path = xasprintf ("%s/%s.json", dir, key);
  json_t *o = json_load_file (path, 0, &jerr);
  if (o == NULL)
    return 0;
  int ok = entry_from_json (o, e);
  json_decref (o);
  return ok == 0 ? 1 : 0;
}

static json_t *
entry_to_json (const gsi_cache_entry *e)
{
  json_t *o = json_object ();
  json_object_set_new (o, "created", json_string (e->created));
  json_object_set_new (o, "empty_layer", json_boolean (e->empty_layer));
  if (!e->empty_layer)
    {
      json_object_set_new (o, "digest", json_string (e->digest));
      json_object_set_new (o, "diff_id", json_string (e->diff_id));
      json_object_set_new (o, "media_type", json_string (e->media_type));
      json_object_set_new (o, "size", json_integer ((json_int_t) e->size));
      json_object_set_new (o, "raw_size", json_integer ((json_int_t) e->raw_size));
    }
  return o;
}

static int
write_all (int fd, const char *data, size_t len, const char *path, gsi_error *err)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return gsi_error_set (err, errno, "write `%s`", path);
      data += n;
      len -= (size_t) n;
    }
  return 0;
}

int
gsi_cache_put (const char *dir, const char *key, const gsi_cache_entry *e, gsi_error *err)
{
  cleanup_free char *path = NULL;
  cleanup_free char *tmp = NULL;
  cleanup_free char *text = NULL;
  cleanup_close int fd = -1;

  if (!gsi_cache_key_valid (key))
    return gsi_error_set (err, 0, "invalid cache key `%s`", key ? key : "(null)");
  json_t *o = entry_to_json (e);
  text = json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref (o);
  if (text == NULL)
    return gsi_error_set (err, 0, "cannot encode cache entry");
  path = xasprintf ("%s/%s.json", dir, key);
  tmp = xasprintf ("%s/.%s.json.XXXXXX", dir, key);
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "create `%s`", tmp);
  if (write_all (fd, text, strlen (text), tmp, err) < 0 || fsync (fd) < 0 || fchmod (fd, 0644) < 0)
    {
      if (err && err->msg == NULL)
        gsi_error_set (err, errno, "sync `%s`", tmp);
      unlink (tmp);
      return -1;
    }
  if (rename (tmp, path) < 0)
    {
      int saved = errno;
      unlink (tmp);
      return gsi_error_set (err, saved, "rename `%s` to `%s`", tmp, path);
    }
  return 0;
}
