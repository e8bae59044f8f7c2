/* The image store commands: gsi images, inspect, tag, rmi and prune.  */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build/cache.h"
#include "oci/image.h"
#include "oci/store.h"
#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

#define MAX_DOC_SIZE ((size_t) 32 << 20)
/* A cache temp file this old belongs to no running build: one writes and renames it at once.  */
#define STALE_CACHE_TMP_SECONDS 3600

static int
open_store (gsi_store **store, gsi_error *err)
{
  cleanup_free char *root = gsi_store_default_root (err);

  if (root == NULL)
    return -1;
  return gsi_store_open (root, store, err);
}

/* Decimal units, as docker prints sizes: "5.58MB", "124MB".  */
static void
format_size (uint64_t bytes, char out[32])
{
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB" };
  double v = (double) bytes;
  size_t u = 0;

  if (bytes < 1000)
    {
      snprintf (out, 32, "%lluB", (unsigned long long) bytes);
      return;
    }
  while (v >= 999.5 && u + 1 < sizeof units / sizeof units[0])
    {
      v /= 1000;
      u++;
    }
  snprintf (out, 32, "%.3g%s", v, units[u]);
}

/* Seconds since 1970 of an RFC 3339 time ("2025-01-31T12:00:00Z", fractions and offsets allowed).  */
static int
parse_rfc3339 (const char *s, time_t *out)
{
  struct tm tm = { 0 };
  const char *p = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm);
  int sign, hh, mm;

  if (p == NULL)
    return -1;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  *out = timegm (&tm);
  if (*p == 'Z' || *p == 'z')
    return p[1] == '\0' ? 0 : -1;
  if ((*p != '+' && *p != '-') || sscanf (p + 1, "%2d:%2d", &hh, &mm) != 2)
    return -1;
  sign = *p == '-' ? 1 : -1;
  *out += sign * (hh * 3600 + mm * 60);
  return 0;
}

static void
format_age (const char *created, time_t now, char out[48])
{
  static const struct
  {
    long secs;
    const char *unit;
  } steps[] = { { 365 * 86400L, "year" }, { 30 * 86400L, "month" }, { 7 * 86400L, "week" },
                { 86400L, "day" },        { 3600L, "hour" },        { 60L, "minute" } };
  time_t t;
  long d;

  if (created == NULL || parse_rfc3339 (created, &t) < 0)
    {
      snprintf (out, 48, "%s", created ? created : "unknown");
      return;
    }
  d = (long) (now - t);
  if (d < 0)
    {
      snprintf (out, 48, "%s", created);
      return;
    }
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if (d >= steps[i].secs)
      {
        long n = d / steps[i].secs;
        snprintf (out, 48, "%ld %s%s ago", n, steps[i].unit, n == 1 ? "" : "s");
        return;
      }
  snprintf (out, 48, "%ld second%s ago", d, d == 1 ? "" : "s");
}

/* ---- gsi images ------------------------------------------------------------------------------- */

static void
print_images_help (void)
{
  printf ("Usage: gsi [--root DIR] images [--format table|json]\n\n"
          "Lists the images of the store, one line per tag (and per untagged index.json entry).\n\n"
          "Options:\n"
          "      --format table|json  table (default): REF, DIGEST (first 12 hex digits of the\n"
          "                           manifest digest), CREATED, SIZE (manifest, config and layers as\n"
          "                           stored, compressed); json: an array of objects with ref, name\n"
          "                           (the fully qualified reference), digest, media_type, created\n"
          "                           (RFC 3339) and size (bytes)\n");
}

static json_t *
json_str_or_null (const char *s)
{
  return s ? json_string (s) : json_null ();
}

static int
print_images_json (const gsi_image_summary *v, size_t n)
{
  json_t *arr = json_array ();
  char *text;

  for (size_t i = 0; i < n; i++)
    {
      json_t *o = json_object ();
      json_object_set_new (o, "ref", json_str_or_null (v[i].name));
      json_object_set_new (o, "name", json_str_or_null (v[i].full_name));
      json_object_set_new (o, "digest", json_string (v[i].digest));
      json_object_set_new (o, "media_type", json_str_or_null (v[i].media_type));
      json_object_set_new (o, "created", json_str_or_null (v[i].created));
      json_object_set_new (o, "size", json_integer ((json_int_t) v[i].size));
      json_array_append_new (arr, o);
    }
  text = json_dumps (arr, JSON_INDENT (2));
  json_decref (arr);
  if (text)
    printf ("%s\n", text);
  free (text);
  return 0;
}

static void
print_images_table (const gsi_image_summary *v, size_t n)
{
  time_t now = time (NULL);
  int w = 3;

  for (size_t i = 0; i < n; i++)
    if (v[i].name && (int) strlen (v[i].name) > w)
      w = (int) strlen (v[i].name);
  printf ("%-*s  %-12s  %-16s  %s\n", w, "REF", "DIGEST", "CREATED", "SIZE");
  for (size_t i = 0; i < n; i++)
    {
      char age[48], size[32];
      format_age (v[i].created, now, age);
      format_size (v[i].size, size);
      printf ("%-*s  %-12.12s  %-16s  %s\n", w, v[i].name ? v[i].name : "<none>", gsi_digest_hex (v[i].digest), age,
              size);
    }
}

int
cmd_images (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = { { "format", required_argument, NULL, 'F' }, { NULL, 0, NULL, 0 } };
  cleanup_store gsi_store *store = NULL;
  gsi_image_summary *v = NULL;
  size_t n = 0;
  bool json = false;
  int c;

  if (cli_wants_help (argc, argv))
    {
      print_images_help ();
      return 0;
    }
  optind = 0;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      if (c != 'F')
        return cli_usage (err, argv[0], "unknown option");
      if (strcmp (optarg, "json") != 0 && strcmp (optarg, "table") != 0)
        return cli_usage (err, argv[0], "--format must be table or json, got `%s`", optarg);
      json = strcmp (optarg, "json") == 0;
    }
  if (optind != argc)
    return cli_usage (err, argv[0], "takes no arguments");
  if (open_store (&store, err) < 0 || gsi_store_list_images (store, &v, &n, err) < 0)
    return CLI_FAIL;
  if (json)
    print_images_json (v, n);
  else
    print_images_table (v, n);
  gsi_image_summaries_free (v, n);
  return 0;
}

/* ---- gsi inspect ------------------------------------------------------------------------------ */

static void
print_inspect_help (void)
{
  printf ("Usage: gsi [--root DIR] inspect REF\n\n"
          "Prints a JSON object describing the image REF (a tag or a manifest digest):\n"
          "  ref       REF as given\n"
          "  names     the tags in the store that name the same digest\n"
          "  digest    the digest REF resolves to (a manifest, or an index)\n"
          "  index     the image index, when REF names one (manifest and config are then this\n"
          "            machine's platform)\n"
          "  manifest_digest, manifest, config   the manifest and config documents as stored\n"
          "  size      bytes of index, manifest, config and layers as stored (compressed)\n");
}

static json_t *
load_doc (gsi_store *s, const gsi_descriptor *d, gsi_error *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  json_error_t jerr;
  json_t *j;

  if (gsi_store_read_blob (s, d->digest, d->size, MAX_DOC_SIZE, &data, &len, err) < 0)
    return NULL;
  j = json_loadb (data, len, 0, &jerr);
  if (j == NULL)
    gsi_error_set (err, 0, "blob `%s` is not JSON: %s", d->digest, jerr.text);
  return j;
}

static json_t *
names_of (gsi_store *s, const char *digest, gsi_error *err)
{
  gsi_image_summary *v = NULL;
  size_t n = 0;
  json_t *arr;

  if (gsi_store_list_images (s, &v, &n, err) < 0)
    return NULL;
  arr = json_array ();
  for (size_t i = 0; i < n; i++)
    if (v[i].name && strcmp (v[i].digest, digest) == 0)
      json_array_append_new (arr, json_string (v[i].name));
  gsi_image_summaries_free (v, n);
  return arr;
}

static int
inspect_fill (gsi_store *s, const char *ref, json_t *o, gsi_error *err)
{
  gsi_descriptor top = GSI_DESCRIPTOR_INIT;
  gsi_descriptor md = GSI_DESCRIPTOR_INIT;
  gsi_manifest m;
  json_t *j;
  int64_t size;
  int r = -1;

  gsi_manifest_init (&m);
  if (gsi_store_resolve (s, ref, &top, err) < 0 || gsi_store_load_image (s, ref, &md, &m, NULL, err) < 0)
    goto out;
  json_object_set_new (o, "ref", json_string (ref));
  if ((j = names_of (s, top.digest, err)) == NULL)
    goto out;
  json_object_set_new (o, "names", j);
  json_object_set_new (o, "digest", json_string (top.digest));
  size = md.size + m.config.size;
  if (strcmp (top.digest, md.digest) != 0)
    {
      if ((j = load_doc (s, &top, err)) == NULL)
        goto out;
      json_object_set_new (o, "index", j);
      size += top.size;
    }
  json_object_set_new (o, "manifest_digest", json_string (md.digest));
  if ((j = load_doc (s, &md, err)) == NULL)
    goto out;
  json_object_set_new (o, "manifest", j);
  if ((j = load_doc (s, &m.config, err)) == NULL)
    goto out;
  json_object_set_new (o, "config", j);
  for (size_t i = 0; i < m.n_layers; i++)
    size += m.layers[i].size;
  json_object_set_new (o, "size", json_integer ((json_int_t) size));
  r = 0;
out:
  gsi_manifest_clear (&m);
  gsi_descriptor_clear (&md);
  gsi_descriptor_clear (&top);
  return r;
}

int
cmd_inspect (int argc, char **argv, gsi_error *err)
{
  cleanup_store gsi_store *store = NULL;
  json_t *o;
  char *text;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_inspect_help ();
      return 0;
    }
  if (argc != 2 || argv[1][0] == '-')
    return cli_usage (err, argv[0], "expects exactly one image REF");
  if (open_store (&store, err) < 0)
    return CLI_FAIL;
  o = json_object ();
  r = inspect_fill (store, argv[1], o, err);
  if (r == 0)
    {
      text = json_dumps (o, JSON_INDENT (2));
      printf ("%s\n", text ? text : "{}");
      free (text);
    }
  json_decref (o);
  return r < 0 ? CLI_FAIL : 0;
}

/* ---- gsi tag ---------------------------------------------------------------------------------- */

int
cmd_tag (int argc, char **argv, gsi_error *err)
{
  cleanup_store gsi_store *store = NULL;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  int r;

  if (cli_wants_help (argc, argv))
    {
      printf ("Usage: gsi [--root DIR] tag SRC NEW\n\n"
              "Adds the tag NEW to the image SRC (a tag or a manifest digest); NEW moves if it named\n"
              "another image.  A NEW without a tag gets \":latest\".\n");
      return 0;
    }
  if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
    return cli_usage (err, argv[0], "expects SRC and NEW");
  if (open_store (&store, err) < 0)
    return CLI_FAIL;
  r = gsi_store_resolve (store, argv[1], &d, err);
  if (r == 0)
    r = gsi_store_tag (store, argv[2], &d, err);
  gsi_descriptor_clear (&d);
  return r < 0 ? CLI_FAIL : 0;
}

/* ---- gsi rmi ---------------------------------------------------------------------------------- */

int
cmd_rmi (int argc, char **argv, gsi_error *err)
{
  cleanup_store gsi_store *store = NULL;
  size_t failed = 0;

  if (cli_wants_help (argc, argv))
    {
      printf ("Usage: gsi [--root DIR] rmi REF...\n\n"
              "Removes tags from the store.  A tag removes that tag only; a digest (or NAME@DIGEST)\n"
              "removes every tag of that manifest.  The blobs stay until `gsi prune`.  Every REF is\n"
              "tried; the exit status is 1 when any of them named no image.\n");
      return 0;
    }
  if (argc < 2)
    return cli_usage (err, argv[0], "expects at least one image REF");
  for (int i = 1; i < argc; i++)
    if (argv[i][0] == '-')
      return cli_usage (err, argv[0], "unknown option `%s`", argv[i]);
  if (open_store (&store, err) < 0)
    return CLI_FAIL;
  for (int i = 1; i < argc; i++)
    {
      cleanup_error gsi_error e = GSI_ERROR_INIT;
      size_t n = 0;
      if (gsi_store_remove_image (store, argv[i], &n, &e) < 0)
        {
          fprintf (stderr, "gsi: rmi: %s\n", e.msg);
          failed++;
          continue;
        }
      if (n == 1)
        printf ("Untagged: %s\n", argv[i]);
      else
        printf ("Untagged: %s (%zu entries)\n", argv[i], n);
    }
  return failed ? 1 : 0;
}

/* ---- gsi prune -------------------------------------------------------------------------------- */

static void
print_prune_help (void)
{
  printf ("Usage: gsi [--root DIR] prune [--cache-mounts] [--wait]\n\n"
          "Frees space in the store.  Removes:\n"
          "  - blobs no tag reaches (through index.json, manifests and indexes): the layers and\n"
          "    configs of untagged images and of build stages that were not tagged;\n"
          "  - unpacked layers (overlay lower dirs) of no tagged image;\n"
          "  - temp files and dirs left by interrupted commands;\n"
          "  - build cache entries whose layer blob is gone (their steps run again next build);\n"
          "  - inventory cache entries (gsi-private/inventory, what `gsi sbom` and `gsi scan`\n"
          "    remember per layer) whose layer blob is gone.\n"
          "Prints what it freed.  It needs the store to itself: it fails while another gsi\n"
          "command has the store open, unless --wait.\n\n"
          "Options:\n"
          "      --cache-mounts  also empty the RUN --mount=type=cache directories\n"
          "      --wait          wait for other gsi commands on the store to finish\n");
}

static bool
is_cache_entry_name (const char *name)
{
  size_t n = strlen (name);
  cleanup_free char *key = NULL;

  if (n != 64 + 5 || strcmp (name + 64, ".json") != 0)
    return false;
  key = xstrndup (name, 64);
  return gsi_cache_key_valid (key);
}

/* Whether the cache file dir/name is to go: an entry whose layer blob is gone or which cannot be
 * read (a miss for every build anyway), or a temp file no build is still writing.  */
static bool
cache_file_is_stale (gsi_store *s, const char *dir, int dfd, const char *name, time_t now)
{
  struct stat st;
  gsi_cache_entry e;
  cleanup_error gsi_error ign = GSI_ERROR_INIT;
  cleanup_free char *key = NULL;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (st.st_mode))
    return false;
  if (name[0] == '.')
    return now - st.st_mtime > STALE_CACHE_TMP_SECONDS;
  if (!is_cache_entry_name (name))
    return false;
  key = xstrndup (name, 64);
  if (gsi_cache_get (dir, key, &e, &ign) != 1)
    return true;
  return !e.empty_layer && !gsi_store_has_blob (s, e.digest);
}

static int
prune_cache (gsi_store *s, size_t *removed, uint64_t *bytes, gsi_error *err)
{
  const char *dir = gsi_store_dir_path (s, GSI_STORE_CACHE);
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
  time_t now = time (NULL);
  struct stat st;

  if (d == NULL)
    return errno == ENOENT ? 0 : gsi_error_set (err, errno, "open `%s`", dir);
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      gsi_strvec_push (&names, de->d_name);
  for (size_t i = 0; i < names.n; i++)
    {
      if (!cache_file_is_stale (s, dir, dirfd (d), names.v[i], now))
        continue;
      if (fstatat (dirfd (d), names.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
        *bytes += (uint64_t) st.st_size;
      if (unlinkat (dirfd (d), names.v[i], 0) < 0 && errno != ENOENT)
        return gsi_error_set (err, errno, "unlink `%s/%s`", dir, names.v[i]);
      (*removed)++;
    }
  return 0;
}

static void
print_freed (const char *what, size_t n, uint64_t bytes)
{
  char size[32];

  format_size (bytes, size);
  printf ("%-16s %6zu  %s\n", what, n, size);
}

int
cmd_prune (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "cache-mounts", no_argument, NULL, 'm' },
    { "wait", no_argument, NULL, 'w' },
    { NULL, 0, NULL, 0 },
  };
  cleanup_store gsi_store *store = NULL;
  gsi_prune_opts po = { NULL, false, false, false };
  gsi_prune_stats st = { 0 };
  size_t cache_n = 0;
  uint64_t cache_bytes = 0;
  int c;

  if (cli_wants_help (argc, argv))
    {
      print_prune_help ();
      return 0;
    }
  optind = 0;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      if (c == 'm')
        po.cache_mounts = true;
      else if (c == 'w')
        po.wait = true;
      else
        return cli_usage (err, argv[0], "unknown option");
    }
  if (optind != argc)
    return cli_usage (err, argv[0], "takes no arguments");
  if (open_store (&store, err) < 0 || gsi_store_prune (store, &po, &st, err) < 0)
    return CLI_FAIL;
  /* After the blobs: an entry is stale exactly when prune took its layer.  */
  if (prune_cache (store, &cache_n, &cache_bytes, err) < 0)
    return CLI_FAIL;
  print_freed ("blobs", st.blobs, st.blob_bytes);
  print_freed ("unpacked layers", st.layers, st.layer_bytes);
  print_freed ("temp files", st.tmp, st.tmp_bytes);
  print_freed ("cache entries", cache_n, cache_bytes);
  print_freed ("inventory cache", st.inventory, st.inventory_bytes);
  if (po.cache_mounts)
    print_freed ("cache mounts", st.mounts, st.mount_bytes);
  print_freed ("total", st.blobs + st.layers + st.tmp + cache_n + st.inventory + st.mounts,
               st.blob_bytes + st.layer_bytes + st.tmp_bytes + cache_bytes + st.inventory_bytes + st.mount_bytes);
  return 0;
}
