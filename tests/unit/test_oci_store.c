/* The OCI store: layout, digests, the blob writer, tags, concurrency, crashes, prune, image JSON,
 * inventory entries, rootfs import, and (when installed) skopeo and umoci reading what we wrote.  */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "oci/blob.h"
#include "oci/digest.h"
#include "oci/image.h"
#include "oci/store.h"
#include "util/xalloc.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static char *
make_tmpdir (void)
{
  const char *base = getenv ("TMPDIR");
  char *t = xasprintf ("%s/gsi-store-test-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null (mkdtemp (t));
  return t;
}

static void
rm_rf (const char *path)
{
  char *cmd = xasprintf ("rm -rf '%s'", path);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

static gsi_store *
open_store (const char *root)
{
  gsi_error err = GSI_ERROR_INIT;
  gsi_store *s = NULL;
  int r = gsi_store_open (root, &s, &err);
  if (r < 0)
    fail_msg ("gsi_store_open: %s", err.msg);
  return s;
}

/* Deterministic pseudo-random bytes (xorshift), incompressible.  */
static void
fill_random (unsigned char *p, size_t n, uint64_t seed)
{
  uint64_t x = seed | 1;
  for (size_t i = 0; i < n; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      p[i] = (unsigned char) x;
    }
}

/* Compressible, tar-like text.  */
static void
fill_text (unsigned char *p, size_t n, uint64_t seed)
{
  static const char *words[] = { "keystone ", "nova ", "glance ", "/usr/lib/python3/", "import os\n",
                                 "def main():\n", "    return 0\n", "\0\0\0\0\0\0\0\0", "neutron ", "0644 " };
  uint64_t x = seed | 1;
  size_t i = 0;
  while (i < n)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const char *w = words[x % 10];
      size_t wl = strlen (w) ? strlen (w) : 8;
      for (size_t k = 0; k < wl && i < n; k++)
        p[i++] = (unsigned char) w[k];
    }
}

static void
openssl_digest (const void *data, size_t len, char out[GSI_DIGEST_BUF])
{
  unsigned char md[32];
  unsigned int n = 0;
  assert_int_equal (EVP_Digest (data, len, md, &n, EVP_sha256 (), NULL), 1);
  assert_int_equal (n, 32);
  strcpy (out, "sha256:");
  for (int i = 0; i < 32; i++)
    sprintf (out + 7 + 2 * i, "%02x", md[i]);
}

/* Writes data through a blob writer in chunks of varying size (1 byte up to ~300 KiB).  */
static void
write_blob (gsi_store *s, gsi_compression comp, const unsigned char *data, size_t len, unsigned chunk_seed,
            gsi_blob_info *info)
{
  gsi_blob_writer *w = NULL;
  size_t off = 0;
  unsigned x = chunk_seed | 1;

  CHECK (gsi_blob_writer_open (s, comp, &w, CERR));
  while (off < len)
    {
      x = x * 1103515245u + 12345u;
      size_t n = chunk_seed ? (x >> 8) % 300000 + 1 : 65536;
      if (n > len - off)
        n = len - off;
      CHECK (gsi_blob_writer_write (w, data + off, n, CERR));
      off += n;
    }
  CHECK (gsi_blob_writer_commit (w, info, CERR));
}

static char *
blob_file (gsi_store *s, const char *digest, size_t *len)
{
  gsi_error err = GSI_ERROR_INIT;
  char *path = gsi_store_blob_path (s, digest, &err);
  assert_non_null (path);
  char *data = test_read_file (path, len);
  free (path);
  assert_non_null (data);
  return data;
}

static size_t
count_dir (const char *path)
{
  DIR *d = opendir (path);
  struct dirent *de;
  size_t n = 0;
  assert_non_null (d);
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      n++;
  closedir (d);
  return n;
}

static size_t
count_blobs (gsi_store *s)
{
  char *p = xasprintf ("%s/blobs/sha256", gsi_store_root (s));
  size_t n = count_dir (p);
  free (p);
  return n;
}

static json_t *
load_json_file (const char *root, const char *name)
{
  char *p = xasprintf ("%s/%s", root, name);
  json_error_t jerr;
  json_t *j = json_load_file (p, 0, &jerr);
  if (j == NULL)
    fail_msg ("%s: %s", p, jerr.text);
  free (p);
  return j;
}

/* A committed image with no layers whose config differs by `tag`; returns its manifest descriptor.  */
static void
make_empty_image (gsi_store *s, const char *label, gsi_descriptor *out)
{
  gsi_image_config cfg;
  gsi_image_config_init (&cfg);
  cfg.architecture = xstrdup ("amd64");
  cfg.os = xstrdup ("linux");
  gsi_kv_set (&cfg.labels, "test", label);
  CHECK (gsi_store_commit_image (s, &cfg, NULL, 0, NULL, NULL, out, CERR));
  gsi_image_config_clear (&cfg);
}

/* A committed one-layer image; the layer is `len` random bytes from `seed`.  */
static void
make_layer_image (gsi_store *s, uint64_t seed, size_t len, const char *ref, gsi_descriptor *out,
                  gsi_blob_info *layer_info)
{
  unsigned char *data = xmalloc (len);
  gsi_blob_info info;
  gsi_descriptor layer = GSI_DESCRIPTOR_INIT;
  gsi_image_config cfg;

  fill_random (data, len, seed);
  write_blob (s, GSI_COMP_GZIP, data, len, 0, &info);
  free (data);
  gsi_descriptor_set_layer (&layer, &info, GSI_COMP_GZIP);
  gsi_image_config_init (&cfg);
  cfg.architecture = xstrdup ("amd64");
  cfg.os = xstrdup ("linux");
  gsi_strvec_push (&cfg.diff_ids, info.diff_id);
  CHECK (gsi_store_commit_image (s, &cfg, &layer, 1, NULL, ref, out, CERR));
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&layer);
  if (layer_info)
    *layer_info = info;
}

/* ---- layout ----------------------------------------------------------------------------------- */

static void
test_layout_created (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  char *sub = xasprintf ("%s/a/b/store", root);
  gsi_store *s = open_store (sub);
  json_t *j;

  j = load_json_file (sub, "oci-layout");
  assert_string_equal (json_string_value (json_object_get (j, "imageLayoutVersion")), "1.0.0");
  assert_int_equal (json_object_size (j), 1);
  json_decref (j);
  j = load_json_file (sub, "index.json");
  assert_int_equal (json_integer_value (json_object_get (j, "schemaVersion")), 2);
  assert_string_equal (json_string_value (json_object_get (j, "mediaType")), GSI_MEDIA_OCI_INDEX);
  assert_true (json_is_array (json_object_get (j, "manifests")));
  assert_int_equal (json_array_size (json_object_get (j, "manifests")), 0);
  json_decref (j);

  struct stat st;
  char *p = xasprintf ("%s/blobs/sha256", sub);
  assert_int_equal (stat (p, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  free (p);
  for (int d = 0; d < GSI_STORE_NDIRS; d++)
    {
      const char *dp = gsi_store_dir_path (s, (gsi_store_dir) d);
      assert_non_null (dp);
      assert_non_null (strstr (dp, "/gsi-private/"));
      assert_int_equal (stat (dp, &st), 0);
      assert_true (S_ISDIR (st.st_mode));
    }
  p = xasprintf ("%s/gsi-private", sub);
  assert_int_equal (stat (p, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0700);
  free (p);
  assert_string_equal (gsi_store_root (s), sub);
  gsi_store_close (s);

  /* Re-opening an existing store, also through a relative path with a trailing slash.  */
  char cwd[4096];
  assert_non_null (getcwd (cwd, sizeof cwd));
  assert_int_equal (chdir (root), 0);
  s = open_store ("a/b/store/");
  assert_string_equal (gsi_store_root (s), sub);
  gsi_store_close (s);
  assert_int_equal (chdir (cwd), 0);

  /* A directory with someone else's files is refused, and left alone.  */
  char *other = xasprintf ("%s/other", root);
  assert_int_equal (mkdir (other, 0755), 0);
  p = xasprintf ("%s/notes.txt", other);
  FILE *f = fopen (p, "w");
  assert_non_null (f);
  fclose (f);
  gsi_error err = GSI_ERROR_INIT;
  gsi_store *s2 = NULL;
  assert_int_equal (gsi_store_open (other, &s2, &err), -1);
  assert_non_null (strstr (err.msg, "not an OCI image layout"));
  gsi_error_clear (&err);
  assert_int_equal (count_dir (other), 1);
  free (p);
  free (other);

  rm_rf (root);
  free (sub);
  free (root);
}

static void
test_default_root (void **state)
{
  (void) state;
  gsi_error err = GSI_ERROR_INIT;
  char *old_root = getenv ("GSI_ROOT") ? xstrdup (getenv ("GSI_ROOT")) : NULL;
  char *old_xdg = getenv ("XDG_DATA_HOME") ? xstrdup (getenv ("XDG_DATA_HOME")) : NULL;
  char *r;

  setenv ("GSI_ROOT", "/srv/images", 1);
  r = gsi_store_default_root (&err);
  assert_string_equal (r, "/srv/images");
  free (r);
  unsetenv ("GSI_ROOT");
  setenv ("XDG_DATA_HOME", "/home/u/.data", 1);
  r = gsi_store_default_root (&err);
  assert_string_equal (r, geteuid () == 0 ? "/var/lib/gsi" : "/home/u/.data/gsi");
  free (r);
  if (old_root)
    setenv ("GSI_ROOT", old_root, 1);
  if (old_xdg)
    setenv ("XDG_DATA_HOME", old_xdg, 1);
  else
    unsetenv ("XDG_DATA_HOME");
  free (old_root);
  free (old_xdg);
}

/* ---- digests ---------------------------------------------------------------------------------- */

static void
test_digest (void **state)
{
  (void) state;
  char d[GSI_DIGEST_BUF], ref[GSI_DIGEST_BUF];
  size_t n = 3 * 1024 * 1024 + 17;
  unsigned char *data = xmalloc (n);

  gsi_digest_buf ("abc", 3, d);
  assert_string_equal (d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  gsi_digest_buf ("", 0, d);
  assert_string_equal (d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  fill_random (data, n, 7);
  openssl_digest (data, n, ref);
  gsi_digest_buf (data, n, d);
  assert_string_equal (d, ref);
  gsi_sha256 *h = gsi_sha256_new ();
  for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 + 1)
    gsi_sha256_update (h, data + off, step > n - off ? n - off : step);
  gsi_sha256_final (h, d);
  assert_string_equal (d, ref);
  /* final resets: the same object hashes a second stream.  */
  gsi_sha256_update (h, "abc", 3);
  gsi_sha256_final (h, d);
  assert_string_equal (d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  gsi_sha256_free (h);

  char *dir = make_tmpdir ();
  char *path = xasprintf ("%s/f", dir);
  FILE *f = fopen (path, "wb");
  assert_non_null (f);
  assert_int_equal (fwrite (data, 1, n, f), n);
  fclose (f);
  uint64_t size = 0;
  CHECK (gsi_digest_file (path, d, &size, CERR));
  assert_string_equal (d, ref);
  assert_int_equal (size, n);
  gsi_error err = GSI_ERROR_INIT;
  char *missing = xasprintf ("%s/missing", dir);
  assert_int_equal (gsi_digest_file (missing, d, NULL, &err), -1);
  assert_int_equal (err.code, ENOENT);
  gsi_error_clear (&err);
  free (missing);
  rm_rf (dir);
  free (path);
  free (dir);
  free (data);

  assert_true (gsi_digest_is_valid (ref));
  assert_string_equal (gsi_digest_hex (ref), ref + 7);
  const char *bad[] = { "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
                        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
                        "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
                        "sha256:",
                        "",
                        NULL };
  for (int i = 0; bad[i]; i++)
    {
      assert_false (gsi_digest_is_valid (bad[i]));
      assert_int_equal (gsi_digest_validate (bad[i], &err), -1);
      assert_non_null (strstr (err.msg, "digest"));
      gsi_error_clear (&err);
    }
  assert_false (gsi_digest_is_valid (NULL));
  assert_int_equal (gsi_digest_validate (ref, &err), 0);

  /* ChainID: the first is the diff_id, then sha256 ("<parent> <diff_id>").  */
  const char *a = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  const char *b = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  char chain[GSI_DIGEST_BUF], expect[GSI_DIGEST_BUF];
  gsi_digest_chain_id (NULL, a, chain);
  assert_string_equal (chain, a);
  char *joined = xasprintf ("%s %s", a, b);
  openssl_digest (joined, strlen (joined), expect);
  gsi_digest_chain_id (a, b, chain);
  assert_string_equal (chain, expect);
  free (joined);
}

/* ---- blob writer ------------------------------------------------------------------------------ */

static void
test_blob_uncompressed (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  size_t sizes[] = { 0, 1, 1000, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) + 123, 17 * (1 << 20) + 5 };

  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    {
      size_t n = sizes[k];
      unsigned char *data = xmalloc (n + 1);
      char ref[GSI_DIGEST_BUF];
      gsi_blob_info info;
      size_t flen = 0;

      fill_random (data, n, k + 1);
      openssl_digest (data, n, ref);
      write_blob (s, GSI_COMP_NONE, data, n, (unsigned) k + 3, &info);
      assert_string_equal (info.diff_id, ref);
      assert_string_equal (info.digest, ref);
      assert_int_equal (info.size, n);
      assert_int_equal (info.raw_size, n);
      char *file = blob_file (s, info.digest, &flen);
      assert_int_equal (flen, n);
      assert_memory_equal (file, data, n);
      free (file);
      assert_true (gsi_store_has_blob (s, ref));
      CHECK (gsi_store_verify_blob (s, ref, CERR));
      free (data);
    }
  /* Nothing left behind in tmp/.  */
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

static unsigned char *
gunzip (const unsigned char *in, size_t len, size_t *out_len)
{
  z_stream z;
  size_t cap = len * 4 + 1024, n = 0;
  unsigned char *out = xmalloc (cap);
  int r;

  memset (&z, 0, sizeof z);
  assert_int_equal (inflateInit2 (&z, 15 + 16), Z_OK);
  z.next_in = (unsigned char *) in;
  z.avail_in = (uInt) len;
  do
    {
      if (cap - n < 65536)
        out = xrealloc (out, cap *= 2);
      z.next_out = out + n;
      z.avail_out = (uInt) (cap - n);
      r = inflate (&z, Z_NO_FLUSH);
      assert_true (r == Z_OK || r == Z_STREAM_END);
      n = cap - z.avail_out;
    }
  while (r != Z_STREAM_END);
  assert_int_equal (z.avail_in, 0); /* one member, nothing after it */
  inflateEnd (&z);
  *out_len = n;
  return out;
}

static unsigned char *
unzstd (const unsigned char *in, size_t len, size_t *out_len)
{
  ZSTD_DStream *ds = ZSTD_createDStream ();
  ZSTD_inBuffer ib = { in, len, 0 };
  size_t cap = len * 4 + 1024, r = 1;
  unsigned char *out = xmalloc (cap);
  ZSTD_outBuffer ob = { out, cap, 0 };

  ZSTD_initDStream (ds);
  while (ib.pos < ib.size || r != 0)
    {
      if (ob.size - ob.pos < 65536)
        {
          out = xrealloc (out, cap *= 2);
          ob.dst = out;
          ob.size = cap;
        }
      r = ZSTD_decompressStream (ds, &ob, &ib);
      assert_false (ZSTD_isError (r));
      if (r != 0 && ib.pos == ib.size && ob.pos < ob.size)
        fail_msg ("truncated zstd stream");
    }
  ZSTD_freeDStream (ds);
  *out_len = ob.pos;
  return out;
}

static void
check_compressed_roundtrip (gsi_store *s, gsi_compression comp)
{
  size_t sizes[] = { 0, 10, 100000, (1 << 20), 3 * (1 << 20) + 999, 12 * (1 << 20) + 7 };

  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    {
      size_t n = sizes[k], flen = 0, olen = 0;
      unsigned char *data = xmalloc (n + 1);
      char ref[GSI_DIGEST_BUF], fref[GSI_DIGEST_BUF];
      gsi_blob_info info;

      fill_text (data, n, k + 11);
      openssl_digest (data, n, ref);
      write_blob (s, comp, data, n, (unsigned) k + 5, &info);
      assert_string_equal (info.diff_id, ref);
      assert_int_equal (info.raw_size, n);
      unsigned char *file = (unsigned char *) blob_file (s, info.digest, &flen);
      assert_int_equal (flen, info.size);
      openssl_digest (file, flen, fref);
      assert_string_equal (info.digest, fref);
      if (n > 100000)
        assert_true (flen < n / 2); /* it did compress */
      unsigned char *plain = comp == GSI_COMP_GZIP ? gunzip (file, flen, &olen) : unzstd (file, flen, &olen);
      assert_int_equal (olen, n);
      assert_memory_equal (plain, data, n);
      if (comp == GSI_COMP_GZIP)
        {
          /* Header: magic, deflate, no flags (so no name), mtime 0.  */
          assert_int_equal (file[0], 0x1f);
          assert_int_equal (file[1], 0x8b);
          assert_int_equal (file[2], 8);
          assert_int_equal (file[3], 0);
          assert_int_equal (file[4] | file[5] | file[6] | file[7], 0);
        }
      free (plain);
      free (file);
      free (data);
    }
}

static void
test_blob_gzip (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_error err = GSI_ERROR_INIT;

  check_compressed_roundtrip (s, GSI_COMP_GZIP);
  /* The zlib fallback, as used where ISA-L is not built in.  */
  assert_int_equal (gsi_blob_set_gzip_backend (GSI_GZIP_ZLIB, &err), 0);
  assert_string_equal (gsi_blob_gzip_backend_name (), "zlib");
  check_compressed_roundtrip (s, GSI_COMP_GZIP);
  assert_int_equal (gsi_blob_set_gzip_backend (GSI_GZIP_AUTO, &err), 0);
#ifdef HAVE_ISAL
  assert_string_equal (gsi_blob_gzip_backend_name (), "isa-l");
#else
  assert_int_equal (gsi_blob_set_gzip_backend (GSI_GZIP_ISAL, &err), -1);
  gsi_error_clear (&err);
#endif
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

static void
test_blob_zstd (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);

  check_compressed_roundtrip (s, GSI_COMP_ZSTD);
  assert_string_equal (gsi_compression_suffix (GSI_COMP_ZSTD), "+zstd");
  assert_string_equal (gsi_compression_suffix (GSI_COMP_GZIP), "+gzip");
  assert_string_equal (gsi_compression_suffix (GSI_COMP_NONE), "");
  assert_string_equal (gsi_layer_media_type (GSI_COMP_ZSTD), "application/vnd.oci.image.layer.v1.tar+zstd");
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* One input, written in different chunkings, into different stores: one digest.  */
static void
test_blob_deterministic (void **state)
{
  (void) state;
  char *r1 = make_tmpdir (), *r2 = make_tmpdir ();
  gsi_store *s1 = open_store (r1), *s2 = open_store (r2);
  size_t n = 6 * (1 << 20) + 4321;
  unsigned char *data = xmalloc (n);
  gsi_compression comps[] = { GSI_COMP_GZIP, GSI_COMP_ZSTD, GSI_COMP_NONE };
  gsi_error err = GSI_ERROR_INIT;

  fill_text (data, n, 99);
  for (int b = 0; b < 2; b++)
    {
      if (b == 1)
        assert_int_equal (gsi_blob_set_gzip_backend (GSI_GZIP_ZLIB, &err), 0);
      for (size_t c = 0; c < 3; c++)
        {
          gsi_blob_info a, bb, cc;
          write_blob (s1, comps[c], data, n, 0, &a);
          write_blob (s2, comps[c], data, n, 12345, &bb);
          write_blob (s1, comps[c], data, n, 777, &cc); /* again into the same store: kept, same name */
          assert_string_equal (a.digest, bb.digest);
          assert_string_equal (a.digest, cc.digest);
          assert_string_equal (a.diff_id, bb.diff_id);
          assert_int_equal (a.size, bb.size);
        }
    }
  assert_int_equal (gsi_blob_set_gzip_backend (GSI_GZIP_AUTO, &err), 0);
  free (data);
  gsi_store_close (s1);
  gsi_store_close (s2);
  rm_rf (r1);
  rm_rf (r2);
  free (r1);
  free (r2);
}

static void
test_blob_abort (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  size_t n = 5 * (1 << 20);
  unsigned char *data = xmalloc (n);
  gsi_compression comps[] = { GSI_COMP_GZIP, GSI_COMP_ZSTD, GSI_COMP_NONE };

  fill_text (data, n, 5);
  for (size_t c = 0; c < 3; c++)
    for (int big = 0; big < 2; big++)
      {
        gsi_blob_writer *w = NULL;
        CHECK (gsi_blob_writer_open (s, comps[c], &w, CERR));
        assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 1);
        CHECK (gsi_blob_writer_write (w, data, big ? n : 1000, CERR));
        gsi_blob_writer_abort (w);
        assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);
        assert_int_equal (count_blobs (s), 0);
      }
  gsi_blob_writer_abort (NULL);
  free (data);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* KiB of a /proc/self/status field ("VmRSS", "VmHWM"), -1 when unreadable.  */
static long
status_kib (const char *field)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen (field);

  if (f == NULL)
    return -1;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, field, n) == 0 && line[n] == ':')
      v = strtol (line + n + 1, NULL, 10);
  fclose (f);
  return v;
}

/* A big layer goes through in fixed buffers: resident memory must not grow with the blob.  The peak
 * is the kernel's high-water mark, reset before the write (clear_refs 5), or failing that the
 * largest RSS sampled while writing.  */
static void
test_blob_memory (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  const size_t chunk = 256 * 1024, total = (size_t) 384 << 20;
  unsigned char *buf = xmalloc (chunk);
  gsi_blob_writer *w = NULL;
  gsi_blob_info info;
  gsi_sha256 *h = gsi_sha256_new ();
  char ref[GSI_DIGEST_BUF];
  long base, peak = 0;
  FILE *cr;

  fill_text (buf, chunk, 3);
  base = status_kib ("VmRSS");
  assert_true (base > 0);
  cr = fopen ("/proc/self/clear_refs", "w");
  bool hwm = cr && fputs ("5", cr) >= 0;
  if (cr)
    hwm = (fclose (cr) == 0) && hwm;
  CHECK (gsi_blob_writer_open (s, GSI_COMP_GZIP, &w, CERR));
  for (size_t off = 0; off < total; off += chunk)
    {
      buf[off / chunk % chunk] ^= 0x5a; /* vary the content a little */
      gsi_sha256_update (h, buf, chunk);
      CHECK (gsi_blob_writer_write (w, buf, chunk, CERR));
      if (off % (16 * chunk) == 0)
        {
          long now = status_kib ("VmRSS");
          peak = now > peak ? now : peak;
        }
    }
  CHECK (gsi_blob_writer_commit (w, &info, CERR));
  if (hwm)
    peak = status_kib ("VmHWM") > peak ? status_kib ("VmHWM") : peak;
  gsi_sha256_final (h, ref);
  gsi_sha256_free (h);
  assert_string_equal (info.diff_id, ref);
  assert_int_equal (info.raw_size, total);
  print_message ("384 MiB gzip layer (%s): %llu bytes stored, resident memory grew by %ld KiB (%s)\n",
                 gsi_blob_gzip_backend_name (), (unsigned long long) info.size, peak - base,
                 hwm ? "high-water mark" : "sampled");
  /* The ring is 8 MiB; sanitizer shadow and allocator caches add a few more.  */
  assert_true (peak - base < 48 * 1024);
  CHECK (gsi_store_verify_blob (s, info.digest, CERR));
  free (buf);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* ---- references and tags ---------------------------------------------------------------------- */

static void
test_ref_normalize (void **state)
{
  (void) state;
  static const struct
  {
    const char *in, *name, *full;
  } ok[] = {
    { "keystone", "keystone:latest", "docker.io/library/keystone:latest" },
    { "keystone:2025.1-latest", "keystone:2025.1-latest", "docker.io/library/keystone:2025.1-latest" },
    { "rackerlabs/keystone", "rackerlabs/keystone:latest", "docker.io/rackerlabs/keystone:latest" },
    { "ghcr.io/rackerlabs/genestack/keystone:2025.1", "ghcr.io/rackerlabs/genestack/keystone:2025.1",
      "ghcr.io/rackerlabs/genestack/keystone:2025.1" },
    { "localhost:5000/foo", "localhost:5000/foo:latest", "localhost:5000/foo:latest" },
    { "localhost/foo:t", "localhost/foo:t", "localhost/foo:t" },
    { "docker.io/keystone:1", "docker.io/keystone:1", "docker.io/library/keystone:1" },
    { "index.docker.io/a/b:1", "index.docker.io/a/b:1", "docker.io/a/b:1" },
    { "a_b__c-d---e.f:T_1.x-y", "a_b__c-d---e.f:T_1.x-y", "docker.io/library/a_b__c-d---e.f:T_1.x-y" },
    { "[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y" },
  };
  static const char *bad[] = { "", "Keystone", "keystone:", "keystone:-x", "keystone:a/b", "a//b", "a/", "-a",
                               "a-", "a..b", "a___b", "host:port/x", "a:b:c", "a b",
                               "a@sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", NULL };
  gsi_error err = GSI_ERROR_INIT;

  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    {
      char *name = NULL, *full = NULL;
      if (gsi_ref_normalize (ok[i].in, &name, &full, &err) < 0)
        fail_msg ("`%s`: %s", ok[i].in, err.msg);
      assert_string_equal (name, ok[i].name);
      assert_string_equal (full, ok[i].full);
      free (name);
      free (full);
    }
  for (size_t i = 0; bad[i]; i++)
    {
      char *name = NULL;
      if (gsi_ref_normalize (bad[i], &name, NULL, &err) == 0)
        fail_msg ("`%s` accepted as `%s`", bad[i], name);
      assert_non_null (err.msg);
      gsi_error_clear (&err);
    }
}

static size_t
index_entries_named (const char *root, const char *ref_name)
{
  json_t *idx = load_json_file (root, "index.json");
  json_t *e;
  size_t i, n = 0;
  json_array_foreach (json_object_get (idx, "manifests"), i, e)
    {
      const char *rn = json_string_value (json_object_get (json_object_get (e, "annotations"), GSI_ANNOT_REF_NAME));
      if (ref_name == NULL || (rn && strcmp (rn, ref_name) == 0))
        n++;
    }
  json_decref (idx);
  return n;
}

static void
assert_resolves (gsi_store *s, const char *ref, const char *digest)
{
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_error err = GSI_ERROR_INIT;
  if (gsi_store_resolve (s, ref, &d, &err) < 0)
    fail_msg ("resolve `%s`: %s", ref, err.msg);
  assert_string_equal (d.digest, digest);
  assert_string_equal (d.media_type, GSI_MEDIA_OCI_MANIFEST);
  gsi_descriptor_clear (&d);
}

static void
assert_not_found (gsi_store *s, const char *ref)
{
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_error err = GSI_ERROR_INIT;
  assert_int_equal (gsi_store_resolve (s, ref, &d, &err), -1);
  assert_int_equal (err.code, ENOENT);
  gsi_error_clear (&err);
}

static void
test_tags (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor a = GSI_DESCRIPTOR_INIT, b = GSI_DESCRIPTOR_INIT;
  gsi_error err = GSI_ERROR_INIT;

  make_empty_image (s, "a", &a);
  make_empty_image (s, "b", &b);
  assert_string_not_equal (a.digest, b.digest);
  assert_int_equal (index_entries_named (root, NULL), 0); /* committing without a ref tags nothing */

  CHECK (gsi_store_tag (s, "keystone:2025.1-latest", &a, CERR));
  assert_resolves (s, "keystone:2025.1-latest", a.digest);
  assert_resolves (s, "docker.io/library/keystone:2025.1-latest", a.digest);
  assert_not_found (s, "keystone");
  json_t *idx = load_json_file (root, "index.json");
  json_t *e = json_array_get (json_object_get (idx, "manifests"), 0);
  json_t *ann = json_object_get (e, "annotations");
  assert_string_equal (json_string_value (json_object_get (ann, GSI_ANNOT_REF_NAME)), "keystone:2025.1-latest");
  assert_string_equal (json_string_value (json_object_get (ann, GSI_ANNOT_CONTAINERD_NAME)),
                       "docker.io/library/keystone:2025.1-latest");
  assert_string_equal (json_string_value (json_object_get (e, "mediaType")), GSI_MEDIA_OCI_MANIFEST);
  assert_string_equal (json_string_value (json_object_get (e, "digest")), a.digest);
  assert_int_equal (json_integer_value (json_object_get (e, "size")), a.size);
  assert_string_equal (json_string_value (json_object_get (json_object_get (e, "platform"), "architecture")), "amd64");
  json_decref (idx);

  /* Retagging moves the tag: still one descriptor with that name.  */
  CHECK (gsi_store_tag (s, "keystone:2025.1-latest", &b, CERR));
  assert_resolves (s, "keystone:2025.1-latest", b.digest);
  assert_int_equal (index_entries_named (root, "keystone:2025.1-latest"), 1);
  assert_int_equal (index_entries_named (root, NULL), 1);
  /* The fully qualified spelling is the same tag.  */
  CHECK (gsi_store_tag (s, "docker.io/library/keystone:2025.1-latest", &a, CERR));
  assert_int_equal (index_entries_named (root, NULL), 1);
  assert_resolves (s, "keystone:2025.1-latest", a.digest);
  CHECK (gsi_store_tag (s, "keystone:2025.1-latest", &a, CERR));
  assert_int_equal (index_entries_named (root, NULL), 1);

  CHECK (gsi_store_tag (s, "keystone", &b, CERR));
  CHECK (gsi_store_tag (s, "ghcr.io/rackerlabs/keystone:2025.1", &b, CERR));
  assert_int_equal (index_entries_named (root, NULL), 3);
  assert_resolves (s, "keystone", b.digest);
  assert_resolves (s, "keystone:latest", b.digest);
  assert_resolves (s, "ghcr.io/rackerlabs/keystone:2025.1", b.digest);
  assert_resolves (s, a.digest, a.digest);
  char *at = xasprintf ("keystone@%s", b.digest);
  assert_resolves (s, at, b.digest);
  free (at);

  /* Untag.  */
  CHECK (gsi_store_untag (s, "keystone:2025.1-latest", CERR));
  assert_not_found (s, "keystone:2025.1-latest");
  assert_int_equal (gsi_store_untag (s, "keystone:2025.1-latest", &err), -1);
  assert_int_equal (err.code, ENOENT);
  gsi_error_clear (&err);
  /* An image not tagged still resolves by digest while its blob exists.  */
  assert_resolves (s, a.digest, a.digest);

  /* rmi by digest removes every tag of the image; by name only that tag.  */
  size_t removed = 0;
  CHECK (gsi_store_remove_image (s, b.digest, &removed, CERR));
  assert_int_equal (removed, 2);
  assert_int_equal (index_entries_named (root, NULL), 0);
  assert_int_equal (gsi_store_remove_image (s, "nothere", &removed, &err), -1);
  assert_int_equal (err.code, ENOENT);
  gsi_error_clear (&err);

  /* Refused: a digest as tag, a bad name, a blob that is not there.  */
  char *dref = xasprintf ("keystone@%s", a.digest);
  assert_int_equal (gsi_store_tag (s, dref, &a, &err), -1);
  gsi_error_clear (&err);
  free (dref);
  assert_int_equal (gsi_store_tag (s, "Keystone", &a, &err), -1);
  gsi_error_clear (&err);
  gsi_descriptor ghost = GSI_DESCRIPTOR_INIT;
  gsi_descriptor_set (&ghost, GSI_MEDIA_OCI_MANIFEST,
                      "sha256:0000000000000000000000000000000000000000000000000000000000000000", 10);
  assert_int_equal (gsi_store_tag (s, "ghost", &ghost, &err), -1);
  assert_non_null (strstr (err.msg, "not in the store"));
  gsi_error_clear (&err);
  gsi_descriptor_clear (&ghost);
  assert_int_equal (index_entries_named (root, NULL), 0);

  gsi_descriptor_clear (&a);
  gsi_descriptor_clear (&b);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* Entries written by other tools are kept and found by their exact ref.name.  */
static void
test_foreign_index_entries (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor a = GSI_DESCRIPTOR_INIT;

  make_empty_image (s, "a", &a);
  char *idx = xasprintf ("{\"schemaVersion\":2,\"manifests\":["
                         "{\"mediaType\":\"application/vnd.example.unknown+json\",\"digest\":\"%s\",\"size\":%lld,"
                         "\"annotations\":{\"org.opencontainers.image.ref.name\":\"foo\"},\"urls\":[\"x\"]},"
                         "{\"mediaType\":\"application/x\",\"digest\":\"sha512:abcd\",\"size\":1}]}",
                         a.digest, (long long) a.size);
  CHECK (gsi_store_write_atomic (s, "index.json", idx, strlen (idx), CERR));
  free (idx);

  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  CHECK (gsi_store_resolve (s, "foo", &d, CERR));
  assert_string_equal (d.digest, a.digest);
  assert_string_equal (d.media_type, "application/vnd.example.unknown+json");
  gsi_descriptor_clear (&d);

  CHECK (gsi_store_tag (s, "bar:1", &a, CERR));
  json_t *j = load_json_file (root, "index.json");
  json_t *m = json_object_get (j, "manifests");
  assert_int_equal (json_array_size (m), 3);
  assert_string_equal (json_string_value (json_array_get (json_object_get (json_array_get (m, 0), "urls"), 0)), "x");
  assert_string_equal (json_string_value (json_object_get (json_array_get (m, 1), "digest")), "sha512:abcd");
  json_decref (j);

  gsi_image_summary *v = NULL;
  size_t n = 0;
  CHECK (gsi_store_list_images (s, &v, &n, CERR));
  assert_int_equal (n, 2); /* the sha512 entry is not ours to list */
  gsi_image_summaries_free (v, n);

  gsi_descriptor_clear (&a);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

static void
test_list_images (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor a = GSI_DESCRIPTOR_INIT;
  gsi_blob_info li;
  gsi_manifest m;
  gsi_image_config cfg;

  make_layer_image (s, 42, 100000, "app:v1", &a, &li);
  gsi_manifest_init (&m);
  gsi_image_config_init (&cfg);
  CHECK (gsi_store_load_image (s, "app:v1", NULL, &m, &cfg, CERR));

  gsi_image_summary *v = NULL;
  size_t n = 0;
  CHECK (gsi_store_list_images (s, &v, &n, CERR));
  assert_int_equal (n, 1);
  assert_string_equal (v[0].name, "app:v1");
  assert_string_equal (v[0].full_name, "docker.io/library/app:v1");
  assert_string_equal (v[0].digest, a.digest);
  assert_string_equal (v[0].media_type, GSI_MEDIA_OCI_MANIFEST);
  assert_null (v[0].created); /* the config had none */
  assert_int_equal (v[0].size, (uint64_t) a.size + (uint64_t) m.config.size + li.size);
  gsi_image_summaries_free (v, n);
  gsi_manifest_clear (&m);
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&a);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* ---- concurrency and crashes ------------------------------------------------------------------ */

static void
test_concurrent_tagging (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor imgs[2] = { GSI_DESCRIPTOR_INIT, GSI_DESCRIPTOR_INIT };
  const int per_child = 40, nchild = 3;
  pid_t pids[3];

  make_empty_image (s, "x", &imgs[0]);
  make_empty_image (s, "y", &imgs[1]);
  for (int c = 0; c < nchild; c++)
    {
      pids[c] = fork ();
      assert_true (pids[c] >= 0);
      if (pids[c] == 0)
        {
          gsi_error err = GSI_ERROR_INIT;
          gsi_store *cs = NULL;
          if (gsi_store_open (root, &cs, &err) < 0)
            _exit (2);
          for (int i = 0; i < per_child; i++)
            {
              char *ref = xasprintf ("c%d/img:t%d", c, i);
              if (gsi_store_tag (cs, ref, &imgs[(i + c) % 2], &err) < 0)
                _exit (3);
              /* Everyone also moves one shared tag around.  */
              if (gsi_store_tag (cs, "shared", &imgs[i % 2], &err) < 0)
                _exit (4);
              free (ref);
            }
          gsi_store_close (cs);
          _exit (0);
        }
    }
  for (int c = 0; c < nchild; c++)
    {
      int st = 0;
      assert_int_equal (waitpid (pids[c], &st, 0), pids[c]);
      assert_true (WIFEXITED (st));
      assert_int_equal (WEXITSTATUS (st), 0);
    }
  for (int c = 0; c < nchild; c++)
    for (int i = 0; i < per_child; i++)
      {
        char *ref = xasprintf ("c%d/img:t%d", c, i);
        assert_resolves (s, ref, imgs[(i + c) % 2].digest);
        free (ref);
      }
  assert_int_equal (index_entries_named (root, "shared:latest"), 1);
  assert_int_equal (index_entries_named (root, NULL), (size_t) (nchild * per_child + 1));
  gsi_descriptor_clear (&imgs[0]);
  gsi_descriptor_clear (&imgs[1]);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

static void
test_crash_leaves_valid_store (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor a = GSI_DESCRIPTOR_INIT, b = GSI_DESCRIPTOR_INIT;
  size_t blobs_before;
  pid_t pid;
  int st = 0;

  make_empty_image (s, "a", &a);
  make_empty_image (s, "b", &b);
  CHECK (gsi_store_tag (s, "keep:1", &a, CERR));
  blobs_before = count_blobs (s);
  gsi_store_close (s);

  /* A child dies in the middle of a layer, threads running, before commit.  */
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      gsi_error err = GSI_ERROR_INIT;
      gsi_store *cs = NULL;
      gsi_blob_writer *w = NULL;
      unsigned char *data = xmalloc (5 << 20);
      fill_text (data, 5 << 20, 1);
      if (gsi_store_open (root, &cs, &err) < 0 || gsi_blob_writer_open (cs, GSI_COMP_GZIP, &w, &err) < 0
          || gsi_blob_writer_write (w, data, 5 << 20, &err) < 0)
        _exit (2);
      _exit (0);
    }
  assert_int_equal (waitpid (pid, &st, 0), pid);
  assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);

  /* Another is killed at random points while it retags in a loop.  */
  for (int round = 0; round < 5; round++)
    {
      pid = fork ();
      assert_true (pid >= 0);
      if (pid == 0)
        {
          gsi_error err = GSI_ERROR_INIT;
          gsi_store *cs = NULL;
          if (gsi_store_open (root, &cs, &err) < 0)
            _exit (2);
          for (int i = 0;; i++)
            gsi_store_tag (cs, "moving", i % 2 ? &a : &b, &err);
        }
      struct timespec ts = { 0, (round + 1) * 3000000L };
      nanosleep (&ts, NULL);
      kill (pid, SIGKILL);
      assert_int_equal (waitpid (pid, &st, 0), pid);
    }

  s = open_store (root);
  json_t *idx = load_json_file (root, "index.json");
  assert_int_equal (json_integer_value (json_object_get (idx, "schemaVersion")), 2);
  json_decref (idx);
  assert_resolves (s, "keep:1", a.digest);
  assert_int_equal (count_blobs (s), blobs_before); /* no partial blob under blobs/ */
  assert_true (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)) >= 1);

  gsi_prune_stats ps;
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_true (ps.tmp >= 1);
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);
  assert_resolves (s, "keep:1", a.digest);

  gsi_descriptor_clear (&a);
  gsi_descriptor_clear (&b);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* ---- prune ------------------------------------------------------------------------------------ */

static void
make_dir_with_file (const char *dir, const char *name, size_t size)
{
  assert_int_equal (mkdir (dir, 0755), 0);
  char *p = xasprintf ("%s/%s", dir, name);
  FILE *f = fopen (p, "wb");
  assert_non_null (f);
  for (size_t i = 0; i < size; i++)
    fputc ('x', f);
  fclose (f);
  free (p);
}

static void
test_prune (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor a = GSI_DESCRIPTOR_INIT, b = GSI_DESCRIPTOR_INIT;
  gsi_blob_info la, lb;
  gsi_manifest ma, mb;
  char loose[GSI_DIGEST_BUF];
  gsi_error err = GSI_ERROR_INIT;

  make_layer_image (s, 1, 300000, "a:1", &a, &la);
  make_layer_image (s, 2, 200000, NULL, &b, &lb); /* committed, never tagged */
  CHECK (gsi_store_put_blob (s, "loose", 5, loose, CERR));
  gsi_manifest_init (&ma);
  gsi_manifest_init (&mb);
  CHECK (gsi_store_load_image (s, "a:1", NULL, &ma, NULL, CERR));
  CHECK (gsi_store_load_image (s, b.digest, NULL, &mb, NULL, CERR));
  assert_int_equal (count_blobs (s), 7);

  /* Unpacked layers: A's stays, B's and a stray go.  */
  const char *layers = gsi_store_dir_path (s, GSI_STORE_LAYERS);
  char *la_dir = gsi_store_layer_path (s, la.diff_id, &err);
  char *lb_dir = gsi_store_layer_path (s, lb.diff_id, &err);
  char *stray = xasprintf ("%s/stray", layers);
  make_dir_with_file (la_dir, "f", 10);
  make_dir_with_file (lb_dir, "f", 20);
  make_dir_with_file (stray, "g", 30);
  /* A read-only directory inside, as layer content often has.  */
  char *ro = xasprintf ("%s/ro", lb_dir);
  make_dir_with_file (ro, "h", 1);
  assert_int_equal (chmod (ro, 0500), 0);
  /* A stale temp file and a live writer's one.  */
  char *stale = xasprintf ("%s/blob-stale1", gsi_store_dir_path (s, GSI_STORE_TMP));
  FILE *f = fopen (stale, "w");
  assert_non_null (f);
  fputs ("partial", f);
  fclose (f);
  gsi_blob_writer *live = NULL;
  CHECK (gsi_blob_writer_open (s, GSI_COMP_NONE, &live, CERR));
  CHECK (gsi_blob_writer_write (live, "abc", 3, CERR));

  /* Another open handle blocks prune.  */
  gsi_store *other = open_store (root);
  gsi_prune_stats ps;
  assert_int_equal (gsi_store_prune (s, NULL, &ps, &err), -1);
  assert_int_equal (err.code, EBUSY);
  gsi_error_clear (&err);
  gsi_store_close (other);

  /* Dry run: counts, deletes nothing.  */
  gsi_prune_opts dry = { NULL, false, false, true };
  CHECK (gsi_store_prune (s, &dry, &ps, CERR));
  assert_int_equal (ps.blobs, 4);
  assert_int_equal (ps.layers, 2);
  assert_int_equal (ps.tmp, 1);
  assert_int_equal (count_blobs (s), 7);
  assert_int_equal (count_dir (layers), 3);

  /* keep= protects B.  */
  const char *keep[] = { b.digest, NULL };
  gsi_prune_opts k = { keep, false, false, false };
  CHECK (gsi_store_prune (s, &k, &ps, CERR));
  assert_int_equal (ps.blobs, 1); /* the loose blob */
  assert_false (gsi_store_has_blob (s, loose));
  assert_true (gsi_store_has_blob (s, b.digest));
  assert_true (gsi_store_has_blob (s, mb.config.digest));
  assert_true (gsi_store_has_blob (s, lb.digest));
  assert_int_equal (ps.layers, 1); /* the stray */
  assert_int_equal (ps.layer_bytes, 30);
  assert_int_equal (ps.tmp, 1);
  assert_int_equal (ps.tmp_bytes, 7);

  /* Without it, B's blobs and unpacked layer go; A's all stay.  */
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_int_equal (ps.blobs, 3);
  assert_int_equal (ps.blob_bytes, (uint64_t) b.size + (uint64_t) mb.config.size + lb.size);
  assert_int_equal (ps.layers, 1);
  assert_int_equal (ps.layer_bytes, 21);
  assert_int_equal (ps.tmp, 0); /* the live writer's file stays */
  assert_false (gsi_store_has_blob (s, b.digest));
  assert_false (gsi_store_has_blob (s, lb.digest));
  assert_true (gsi_store_has_blob (s, a.digest));
  assert_true (gsi_store_has_blob (s, ma.config.digest));
  assert_true (gsi_store_has_blob (s, la.digest));
  struct stat sb;
  assert_int_equal (stat (la_dir, &sb), 0);
  assert_int_equal (stat (lb_dir, &sb), -1);
  assert_int_equal (count_blobs (s), 3);

  /* The live writer still commits fine afterwards.  */
  gsi_blob_info li;
  CHECK (gsi_blob_writer_commit (live, &li, CERR));
  assert_true (gsi_store_has_blob (s, li.digest));

  /* Untagging A frees everything.  */
  CHECK (gsi_store_untag (s, "a:1", CERR));
  gsi_prune_opts all = { NULL, false, true, false };
  char *cm = xasprintf ("%s/pip", gsi_store_dir_path (s, GSI_STORE_MOUNTS));
  make_dir_with_file (cm, "wheel", 4);
  CHECK (gsi_store_prune (s, &all, &ps, CERR));
  assert_int_equal (ps.blobs, 4);
  assert_int_equal (ps.layers, 1);
  assert_int_equal (ps.mounts, 1);
  assert_int_equal (ps.mount_bytes, 4);
  assert_int_equal (count_blobs (s), 0);
  assert_int_equal (count_dir (layers), 0);

  /* A corrupt index.json stops prune before it deletes anything.  */
  CHECK (gsi_store_put_blob (s, "x", 1, loose, CERR));
  CHECK (gsi_store_write_atomic (s, "index.json", "{not json", 9, CERR));
  assert_int_equal (gsi_store_prune (s, NULL, &ps, &err), -1);
  gsi_error_clear (&err);
  assert_true (gsi_store_has_blob (s, loose));

  free (cm);
  free (stale);
  free (ro);
  free (stray);
  free (la_dir);
  free (lb_dir);
  gsi_manifest_clear (&ma);
  gsi_manifest_clear (&mb);
  gsi_descriptor_clear (&a);
  gsi_descriptor_clear (&b);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* Inventory entries (gsi-private/inventory, one per layer blob): replaced whole by a put, and kept
 * by prune exactly while their blob is reachable and in the store.  */
static void
test_prune_inventory (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor a = GSI_DESCRIPTOR_INIT, b = GSI_DESCRIPTOR_INIT;
  gsi_blob_info la, lb;
  gsi_error err = GSI_ERROR_INIT;
  gsi_prune_stats ps;
  const char *dir = gsi_store_dir_path (s, GSI_STORE_INVENTORY);
  char gone[GSI_DIGEST_BUF];
  struct stat st;

  assert_non_null (strstr (dir, "/gsi-private/inventory"));
  make_layer_image (s, 1, 1000, "a:1", &a, &la);
  make_layer_image (s, 2, 1000, "b:1", &b, &lb);
  snprintf (gone, sizeof gone, "sha256:%064d", 7);
  char *ea = gsi_store_inventory_path (s, la.digest, &err);
  char *eb = gsi_store_inventory_path (s, lb.digest, &err);
  char *eg = gsi_store_inventory_path (s, gone, &err);
  char *expect = xasprintf ("%s/%s", dir, la.digest + 7);
  assert_string_equal (ea, expect);
  free (expect);
  assert_null (gsi_store_inventory_path (s, "sha256:../../index.json", &err));
  gsi_error_clear (&err);
  assert_int_equal (gsi_store_put_inventory (s, "md5:00", "x", 1, &err), -1);
  gsi_error_clear (&err);

  CHECK (gsi_store_put_inventory (s, la.digest, "old entry", 9, CERR));
  CHECK (gsi_store_put_inventory (s, la.digest, "aaaa", 4, CERR)); /* replaces */
  CHECK (gsi_store_put_inventory (s, lb.digest, "bbbbbb", 6, CERR));
  CHECK (gsi_store_put_inventory (s, gone, "gg", 2, CERR)); /* a blob that is not in the store */
  char *junk = xasprintf ("%s/not-a-digest", dir);
  FILE *f = fopen (junk, "w");
  assert_non_null (f);
  fputs ("j", f);
  fclose (f);
  assert_int_equal (stat (ea, &st), 0);
  assert_int_equal (st.st_size, 4);
  assert_int_equal (count_dir (dir), 4);
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);

  /* Dry run: counted, kept.  */
  CHECK (gsi_store_untag (s, "b:1", CERR));
  gsi_prune_opts dry = { NULL, false, false, true };
  CHECK (gsi_store_prune (s, &dry, &ps, CERR));
  assert_int_equal (ps.inventory, 3);
  assert_int_equal (ps.inventory_bytes, 6 + 2 + 1);
  assert_int_equal (count_dir (dir), 4);

  /* b's layer blob goes, and its entry with it; a's stays.  */
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_int_equal (ps.blobs, 3);
  assert_int_equal (ps.inventory, 3);
  assert_int_equal (ps.inventory_bytes, 6 + 2 + 1);
  assert_int_equal (stat (ea, &st), 0);
  assert_int_equal (stat (eb, &st), -1);
  assert_int_equal (stat (eg, &st), -1);
  assert_int_equal (stat (junk, &st), -1);
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_int_equal (ps.inventory, 0);

  /* A reachable layer whose blob file is missing: its entry goes too.  */
  char *blob = gsi_store_blob_path (s, la.digest, &err);
  assert_int_equal (unlink (blob), 0);
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_int_equal (ps.inventory, 1);
  assert_int_equal (ps.inventory_bytes, 4);
  assert_int_equal (count_dir (dir), 0);

  free (blob);
  free (junk);
  free (ea);
  free (eb);
  free (eg);
  gsi_descriptor_clear (&a);
  gsi_descriptor_clear (&b);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* A mount left in tmp/ by a killed build (here a bind of a cache mount) stops prune instead of being
 * emptied through.  Needs a private mount namespace: as root, or in a user namespace.  */
static void
test_prune_mount_point (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  char *cache = xasprintf ("%s/pip", gsi_store_dir_path (s, GSI_STORE_MOUNTS));
  char *run = xasprintf ("%s/run-1", gsi_store_dir_path (s, GSI_STORE_TMP));
  char *target = xasprintf ("%s/cache", run);
  char *wheel = xasprintf ("%s/wheel", cache);
  int st = 0;
  pid_t pid;

  make_dir_with_file (cache, "wheel", 4);
  assert_int_equal (mkdir (run, 0755), 0);
  assert_int_equal (mkdir (target, 0755), 0);
  gsi_store_close (s);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      gsi_error err = GSI_ERROR_INIT;
      gsi_prune_stats ps;
      gsi_store *cs = NULL;
      if (unshare (CLONE_NEWNS) < 0 && unshare (CLONE_NEWUSER | CLONE_NEWNS) < 0)
        _exit (77);
      if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || mount (cache, target, NULL, MS_BIND, NULL) < 0)
        _exit (77);
      if (gsi_store_open (root, &cs, &err) < 0)
        _exit (2);
      if (gsi_store_prune (cs, NULL, &ps, &err) == 0)
        _exit (3);
      if (err.code != EBUSY || strstr (err.msg, "mount point") == NULL)
        _exit (4);
      _exit (access (wheel, F_OK) == 0 ? 0 : 5);
    }
  assert_int_equal (waitpid (pid, &st, 0), pid);
  assert_true (WIFEXITED (st));
  if (WEXITSTATUS (st) == 77)
    print_message ("no private mount namespace: the mount point check is NOT RUN\n");
  else
    assert_int_equal (WEXITSTATUS (st), 0);
  /* The mount went with the child's namespace: now prune clears tmp/ and leaves the cache mount.  */
  s = open_store (root);
  gsi_prune_stats ps;
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_int_equal (ps.tmp, 1);
  assert_int_equal (access (wheel, F_OK), 0);
  gsi_store_close (s);
  free (wheel);
  free (target);
  free (run);
  free (cache);
  rm_rf (root);
  free (root);
}

/* ---- blobs by digest -------------------------------------------------------------------------- */

static void
test_blob_read (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  char d[GSI_DIGEST_BUF], d2[GSI_DIGEST_BUF];
  gsi_error err = GSI_ERROR_INIT;
  char *data = NULL;
  size_t len = 0;

  CHECK (gsi_store_put_blob (s, "{\"a\":1}", 7, d, CERR));
  CHECK (gsi_store_put_blob (s, "{\"a\":1}", 7, d2, CERR)); /* again: same name, kept */
  assert_string_equal (d, d2);
  assert_int_equal (count_blobs (s), 1);
  CHECK (gsi_store_read_blob (s, d, 7, 100, &data, &len, CERR));
  assert_int_equal (len, 7);
  assert_string_equal (data, "{\"a\":1}");
  free (data);

  assert_int_equal (gsi_store_read_blob (s, d, 8, 100, &data, &len, &err), -1); /* size mismatch */
  gsi_error_clear (&err);
  assert_int_equal (gsi_store_read_blob (s, d, -1, 3, &data, &len, &err), -1); /* too big */
  gsi_error_clear (&err);
  assert_int_equal (gsi_store_read_blob (s, "sha256:XYZ", -1, 100, &data, &len, &err), -1);
  gsi_error_clear (&err);
  int fd = gsi_store_open_blob (s, "sha256:1111111111111111111111111111111111111111111111111111111111111111", -1,
                                NULL, &err);
  assert_int_equal (fd, -1);
  assert_int_equal (err.code, ENOENT);
  gsi_error_clear (&err);

  /* Corruption is caught on read.  */
  char *path = gsi_store_blob_path (s, d, &err);
  chmod (path, 0644);
  FILE *f = fopen (path, "r+");
  assert_non_null (f);
  fputc ('[', f);
  fclose (f);
  assert_int_equal (gsi_store_read_blob (s, d, 7, 100, &data, &len, &err), -1);
  assert_non_null (strstr (err.msg, "corrupt"));
  gsi_error_clear (&err);
  assert_int_equal (gsi_store_verify_blob (s, d, &err), -1);
  gsi_error_clear (&err);
  free (path);

  /* Atomic writes stay inside the store.  */
  assert_int_equal (gsi_store_write_atomic (s, "../escape", "x", 1, &err), -1);
  gsi_error_clear (&err);
  assert_int_equal (gsi_store_write_atomic (s, "/etc/x", "x", 1, &err), -1);
  gsi_error_clear (&err);
  CHECK (gsi_store_write_atomic (s, "gsi-private/cache/index", "cache", 5, CERR));
  int lock = -1;
  CHECK (gsi_store_lock (s, "cache", &lock, CERR));
  assert_true (lock >= 0);
  close (lock);

  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* ---- image JSON ------------------------------------------------------------------------------- */

static void
fill_config (gsi_image_config *c)
{
  c->created = xstrdup ("2025-01-31T12:00:00Z");
  c->author = xstrdup ("gsi");
  c->architecture = xstrdup ("arm64");
  c->os = xstrdup ("linux");
  c->variant = xstrdup ("v8");
  c->user = xstrdup ("keystone");
  gsi_image_config_add_port (c, "5000");
  gsi_image_config_add_port (c, "5000/tcp");
  gsi_image_config_add_port (c, "53/udp");
  gsi_image_config_set_env (c, "PATH", "/usr/local/bin:/usr/bin");
  gsi_image_config_set_env (c, "LANG", "C.UTF-8");
  gsi_image_config_set_env (c, "PATH", "/venv/bin:/usr/bin");
  gsi_strvec_push (&c->entrypoint, "/usr/bin/tini");
  gsi_strvec_push (&c->entrypoint, "--");
  gsi_strvec_push (&c->cmd, "keystone-wsgi-public");
  gsi_image_config_add_volume (c, "/var/lib/keystone");
  c->working_dir = xstrdup ("/var/lib/keystone");
  gsi_kv_set (&c->labels, "org.opencontainers.image.version", "2025.1");
  gsi_kv_set (&c->labels, "a", "ü");
  c->stop_signal = xstrdup ("SIGTERM");
  gsi_strvec_push (&c->healthcheck.test, "CMD-SHELL");
  gsi_strvec_push (&c->healthcheck.test, "curl -f http://localhost:5000/");
  c->healthcheck.interval = 30000000000LL;
  c->healthcheck.timeout = 5000000000LL;
  c->healthcheck.start_period = 1000000000LL;
  c->healthcheck.start_interval = 2000000000LL;
  c->healthcheck.retries = 3;
  gsi_strvec_push (&c->onbuild, "RUN echo hi");
  gsi_strvec_push (&c->shell, "/bin/bash");
  gsi_strvec_push (&c->shell, "-c");
  gsi_strvec_push (&c->diff_ids, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  gsi_image_config_add_history (c, "2025-01-31T12:00:00Z", "/bin/sh -c #(nop) ENV LANG=C.UTF-8", NULL, true);
  gsi_image_config_add_history (c, "2025-01-31T12:00:01Z", "RUN apt-get install -y keystone", "buildkit.dockerfile.v0",
                                false);
}

static void
test_config_roundtrip (void **state)
{
  (void) state;
  gsi_image_config c, c2, c3;
  char *j1 = NULL, *j2 = NULL, *j3 = NULL;
  size_t l1 = 0, l2 = 0;
  gsi_error err = GSI_ERROR_INIT;

  gsi_image_config_init (&c);
  gsi_image_config_init (&c2);
  gsi_image_config_init (&c3);
  fill_config (&c);
  assert_int_equal (c.exposed_ports.n, 2);
  assert_int_equal (c.env.n, 2);
  assert_string_equal (c.env.v[0], "PATH=/venv/bin:/usr/bin");
  assert_string_equal (gsi_image_config_get_env (&c, "LANG"), "C.UTF-8");
  assert_null (gsi_image_config_get_env (&c, "LAN"));

  CHECK (gsi_image_config_to_json (&c, &j1, &l1, CERR));
  CHECK (gsi_image_config_from_json (j1, l1, &c2, CERR));
  CHECK (gsi_image_config_to_json (&c2, &j2, &l2, CERR));
  assert_string_equal (j1, j2);
  gsi_image_config_copy (&c3, &c2);
  CHECK (gsi_image_config_to_json (&c3, &j3, NULL, CERR));
  assert_string_equal (j1, j3);

  assert_string_equal (c2.architecture, "arm64");
  assert_string_equal (c2.variant, "v8");
  assert_string_equal (c2.user, "keystone");
  assert_int_equal (c2.entrypoint.n, 2);
  assert_string_equal (c2.cmd.v[0], "keystone-wsgi-public");
  assert_string_equal (gsi_kv_get (&c2.labels, "a"), "ü");
  assert_int_equal (c2.healthcheck.retries, 3);
  assert_int_equal (c2.healthcheck.interval, 30000000000LL);
  assert_int_equal (c2.n_history, 2);
  assert_true (c2.history[0].empty_layer);
  assert_false (c2.history[1].empty_layer);
  assert_string_equal (c2.history[1].comment, "buildkit.dockerfile.v0");
  assert_int_equal (c2.diff_ids.n, 1);

  /* The JSON: compact, keys sorted, the shapes OCI and Docker use.  */
  json_t *j = json_loads (j1, 0, NULL);
  assert_non_null (j);
  json_t *cfg = json_object_get (j, "config");
  assert_true (json_is_object (json_object_get (json_object_get (cfg, "ExposedPorts"), "53/udp")));
  assert_true (json_is_object (json_object_get (json_object_get (cfg, "Volumes"), "/var/lib/keystone")));
  assert_string_equal (json_string_value (json_object_get (json_object_get (j, "rootfs"), "type")), "layers");
  assert_int_equal (json_integer_value (json_object_get (json_object_get (cfg, "Healthcheck"), "Retries")), 3);
  assert_true (json_is_true (json_object_get (json_array_get (json_object_get (j, "history"), 0), "empty_layer")));
  assert_null (json_object_get (json_array_get (json_object_get (j, "history"), 1), "empty_layer"));
  json_decref (j);
  assert_null (strchr (j1, '\n'));
  assert_true (strstr (j1, "\"architecture\"") < strstr (j1, "\"config\""));
  assert_true (strstr (j1, "\"config\"") < strstr (j1, "\"created\""));

  /* A minimal config, byte for byte.  */
  gsi_image_config m;
  char *mj = NULL;
  gsi_image_config_init (&m);
  m.architecture = xstrdup ("amd64");
  m.os = xstrdup ("linux");
  CHECK (gsi_image_config_to_json (&m, &mj, NULL, CERR));
  assert_string_equal (mj, "{\"architecture\":\"amd64\",\"config\":{},\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[],"
                           "\"type\":\"layers\"}}");
  free (mj);

  /* Errors: no os, bad UTF-8, bad diff_id.  */
  free (m.os);
  m.os = NULL;
  assert_int_equal (gsi_image_config_to_json (&m, &mj, NULL, &err), -1);
  gsi_error_clear (&err);
  m.os = xstrdup ("linux");
  gsi_image_config_set_env (&m, "X", "\xff\xfe");
  assert_int_equal (gsi_image_config_to_json (&m, &mj, NULL, &err), -1);
  assert_non_null (strstr (err.msg, "UTF-8"));
  gsi_error_clear (&err);
  gsi_image_config_clear (&m);

  /* A Docker-format config with nulls and fields we do not model.  */
  const char *docker = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"docker_version\":\"20.10\","
                       "\"config\":{\"Hostname\":\"\",\"Entrypoint\":null,\"Cmd\":[\"bash\"],\"Env\":null,"
                       "\"Labels\":null,\"OnBuild\":null,\"Image\":\"sha256:x\"},"
                       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"history\":[{\"created_by\":\"x\"}]}";
  CHECK (gsi_image_config_from_json (docker, strlen (docker), &m, CERR));
  assert_int_equal (m.entrypoint.n, 0);
  assert_int_equal (m.cmd.n, 1);
  assert_int_equal (m.n_history, 1);
  assert_false (m.history[0].empty_layer);
  gsi_image_config_clear (&m);
  const char *badcfg[] = { "[1]", "{\"config\":{\"Env\":\"x\"}}", "{\"rootfs\":{\"diff_ids\":[\"sha256:AB\"]}}",
                           "{\"config\":{\"Labels\":{\"a\":1}}}", "{", NULL };
  for (int i = 0; badcfg[i]; i++)
    {
      assert_int_equal (gsi_image_config_from_json (badcfg[i], strlen (badcfg[i]), &m, &err), -1);
      gsi_error_clear (&err);
    }

  free (j1);
  free (j2);
  free (j3);
  gsi_image_config_clear (&c);
  gsi_image_config_clear (&c2);
  gsi_image_config_clear (&c3);
}

static void
test_manifest_roundtrip (void **state)
{
  (void) state;
  gsi_manifest m, m2;
  gsi_descriptor l = GSI_DESCRIPTOR_INIT;
  gsi_blob_info info;
  char *j1 = NULL, *j2 = NULL;
  size_t len = 0;
  gsi_error err = GSI_ERROR_INIT;

  gsi_manifest_init (&m);
  gsi_manifest_init (&m2);
  gsi_descriptor_set (&m.config, GSI_MEDIA_OCI_CONFIG,
                      "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 1234);
  memset (&info, 0, sizeof info);
  strcpy (info.digest, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  info.size = 99;
  gsi_descriptor_set_layer (&l, &info, GSI_COMP_GZIP);
  gsi_manifest_add_layer (&m, &l);
  gsi_descriptor_set_layer (&l, &info, GSI_COMP_NONE);
  gsi_kv_set (&l.annotations, "org.example", "1");
  gsi_manifest_add_layer (&m, &l);
  gsi_kv_set (&m.annotations, "org.opencontainers.image.created", "2025-01-31T12:00:00Z");

  CHECK (gsi_manifest_to_json (&m, &j1, &len, CERR));
  assert_string_equal (
      j1, "{\"annotations\":{\"org.opencontainers.image.created\":\"2025-01-31T12:00:00Z\"},"
          "\"config\":{\"digest\":\"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","
          "\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":1234},"
          "\"layers\":[{\"digest\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
          "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":99},"
          "{\"annotations\":{\"org.example\":\"1\"},"
          "\"digest\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
          "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"size\":99}],"
          "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2}");
  CHECK (gsi_manifest_from_json (j1, len, &m2, CERR));
  assert_int_equal (m2.n_layers, 2);
  assert_string_equal (m2.layers[1].media_type, GSI_MEDIA_OCI_LAYER);
  assert_string_equal (gsi_kv_get (&m2.layers[1].annotations, "org.example"), "1");
  assert_int_equal (m2.config.size, 1234);
  CHECK (gsi_manifest_to_json (&m2, &j2, NULL, CERR));
  assert_string_equal (j1, j2);

  const char *bad[] = {
    "{\"schemaVersion\":1}",
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}",
    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:1\",\"size\":1},\"layers\":[]}",
    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"size\":-1},\"layers\":[]}",
    NULL
  };
  for (int i = 0; bad[i]; i++)
    {
      assert_int_equal (gsi_manifest_from_json (bad[i], strlen (bad[i]), &m2, &err), -1);
      gsi_error_clear (&err);
    }
  free (j1);
  free (j2);
  gsi_descriptor_clear (&l);
  gsi_manifest_clear (&m);
  gsi_manifest_clear (&m2);
}

static void
test_commit_checks (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_image_config cfg;
  gsi_descriptor l = GSI_DESCRIPTOR_INIT;
  gsi_error err = GSI_ERROR_INIT;
  unsigned char data[1000];
  gsi_blob_info info;

  fill_random (data, sizeof data, 3);
  write_blob (s, GSI_COMP_ZSTD, data, sizeof data, 0, &info);
  gsi_descriptor_set_layer (&l, &info, GSI_COMP_ZSTD);
  gsi_image_config_init (&cfg);
  cfg.architecture = xstrdup ("amd64");
  cfg.os = xstrdup ("linux");
  /* diff_ids must match the layers.  */
  assert_int_equal (gsi_store_commit_image (s, &cfg, &l, 1, NULL, "x", NULL, &err), -1);
  gsi_error_clear (&err);
  gsi_strvec_push (&cfg.diff_ids, info.diff_id);
  /* History entries with a layer must match too.  */
  gsi_image_config_add_history (&cfg, NULL, "a", NULL, false);
  gsi_image_config_add_history (&cfg, NULL, "b", NULL, false);
  assert_int_equal (gsi_store_commit_image (s, &cfg, &l, 1, NULL, "x", NULL, &err), -1);
  assert_non_null (strstr (err.msg, "history"));
  gsi_error_clear (&err);
  cfg.history[1].empty_layer = true;
  /* A layer blob missing from the store.  */
  gsi_descriptor missing = GSI_DESCRIPTOR_INIT;
  gsi_descriptor_copy (&missing, &l);
  strcpy (missing.digest, "sha256:2222222222222222222222222222222222222222222222222222222222222222");
  assert_int_equal (gsi_store_commit_image (s, &cfg, &missing, 1, NULL, "x", NULL, &err), -1);
  gsi_error_clear (&err);
  gsi_descriptor_clear (&missing);
  assert_int_equal (index_entries_named (root, NULL), 0);

  gsi_kv ann = GSI_KV_INIT;
  gsi_kv_set (&ann, "org.opencontainers.image.title", "x");
  gsi_descriptor out = GSI_DESCRIPTOR_INIT;
  CHECK (gsi_store_commit_image (s, &cfg, &l, 1, &ann, "x", &out, CERR));
  gsi_manifest m;
  gsi_image_config c2;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_manifest_init (&m);
  gsi_image_config_init (&c2);
  CHECK (gsi_store_load_image (s, "x", &d, &m, &c2, CERR));
  assert_string_equal (d.digest, out.digest);
  assert_string_equal (m.layers[0].media_type, GSI_MEDIA_OCI_LAYER_ZSTD);
  assert_string_equal (m.layers[0].digest, info.digest);
  assert_string_equal (gsi_kv_get (&m.annotations, "org.opencontainers.image.title"), "x");
  assert_string_equal (c2.diff_ids.v[0], info.diff_id);
  assert_int_equal (c2.n_history, 2);

  gsi_kv_clear (&ann);
  gsi_manifest_clear (&m);
  gsi_image_config_clear (&c2);
  gsi_descriptor_clear (&d);
  gsi_descriptor_clear (&out);
  gsi_descriptor_clear (&l);
  gsi_image_config_clear (&cfg);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* A multi-platform index tagged in the store: loading follows the entry for this machine.  */
static void
test_load_index (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  gsi_store *s = open_store (root);
  gsi_descriptor a = GSI_DESCRIPTOR_INIT, b = GSI_DESCRIPTOR_INIT;
  const char *other = strcmp (gsi_host_arch (), "s390x") == 0 ? "arm64" : "s390x";
  char digest[GSI_DIGEST_BUF];

  make_empty_image (s, "other", &a);
  make_empty_image (s, "host", &b);
  char *idx = xasprintf ("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
                         "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
                         "\"platform\":{\"architecture\":\"%s\",\"os\":\"linux\"}},"
                         "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
                         "\"platform\":{\"architecture\":\"%s\",\"os\":\"linux\"}}]}",
                         GSI_MEDIA_OCI_INDEX, GSI_MEDIA_OCI_MANIFEST, a.digest, (long long) a.size, other,
                         GSI_MEDIA_OCI_MANIFEST, b.digest, (long long) b.size, gsi_host_arch ());
  CHECK (gsi_store_put_blob (s, idx, strlen (idx), digest, CERR));
  gsi_descriptor id = GSI_DESCRIPTOR_INIT;
  gsi_descriptor_set (&id, GSI_MEDIA_OCI_INDEX, digest, (int64_t) strlen (idx));
  CHECK (gsi_store_tag (s, "multi:1", &id, CERR));

  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_image_config cfg;
  gsi_image_config_init (&cfg);
  CHECK (gsi_store_load_image (s, "multi:1", &d, NULL, &cfg, CERR));
  assert_string_equal (d.digest, b.digest);
  assert_string_equal (gsi_kv_get (&cfg.labels, "test"), "host");

  /* Listing counts the index and its children.  */
  gsi_image_summary *v = NULL;
  size_t n = 0;
  CHECK (gsi_store_list_images (s, &v, &n, CERR));
  assert_int_equal (n, 1);
  assert_string_equal (v[0].media_type, GSI_MEDIA_OCI_INDEX);
  assert_true (v[0].size > strlen (idx) + (uint64_t) a.size + (uint64_t) b.size);
  gsi_image_summaries_free (v, n);

  /* prune keeps both children of a tagged index.  */
  gsi_prune_stats ps;
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_int_equal (ps.blobs, 0);

  free (idx);
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&d);
  gsi_descriptor_clear (&id);
  gsi_descriptor_clear (&a);
  gsi_descriptor_clear (&b);
  gsi_store_close (s);
  rm_rf (root);
  free (root);
}

/* ---- import ----------------------------------------------------------------------------------- */

typedef struct tar_file
{
  const char *path;
  int type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, or 0 for a hardlink */
  const char *content_or_target;
  int mode;
} tar_file;

static const tar_file tiny_rootfs[] = {
  { "./", AE_IFDIR, NULL, 0755 },
  { "./bin/", AE_IFDIR, NULL, 0755 },
  { "./bin/sh", AE_IFREG, "#!/bin/true\n", 0755 },
  { "./bin/bash", 0, "./bin/sh", 0755 },
  { "./etc/", AE_IFDIR, NULL, 0755 },
  { "./etc/hostname", AE_IFREG, "gsi\n", 0644 },
  { "./etc/os-release", AE_IFLNK, "../usr/lib/os-release", 0777 },
  { "./usr/lib/os-release", AE_IFREG, "ID=debian\n", 0644 },
  { "./usr/share/caf\xc3\xa9.txt", AE_IFREG, "utf-8 name\n", 0600 },
  { "./var/empty", AE_IFREG, "", 0644 },
};

static char *
write_tarball (const char *dir, const char *name, int filter)
{
  char *path = xasprintf ("%s/%s", dir, name);
  struct archive *a = archive_write_new ();
  assert_int_equal (archive_write_set_format_gnutar (a), ARCHIVE_OK);
  if (filter == 1)
    archive_write_add_filter_gzip (a);
  else if (filter == 2)
    archive_write_add_filter_zstd (a);
  assert_int_equal (archive_write_open_filename (a, path), ARCHIVE_OK);
  for (size_t i = 0; i < sizeof tiny_rootfs / sizeof tiny_rootfs[0]; i++)
    {
      const tar_file *t = &tiny_rootfs[i];
      struct archive_entry *e = archive_entry_new ();
      archive_entry_set_pathname (e, t->path);
      archive_entry_set_mtime (e, 1700000000 + (time_t) i, 0);
      archive_entry_set_uid (e, i == 8 ? 1000 : 0);
      archive_entry_set_gid (e, 0);
      archive_entry_set_uname (e, i == 8 ? "user" : "root");
      archive_entry_set_perm (e, (mode_t) t->mode);
      if (t->type == 0)
        {
          archive_entry_set_filetype (e, AE_IFREG);
          archive_entry_set_hardlink (e, t->content_or_target);
        }
      else
        archive_entry_set_filetype (e, (unsigned) t->type);
      if (t->type == AE_IFLNK)
        archive_entry_set_symlink (e, t->content_or_target);
      if (t->type == AE_IFREG)
        archive_entry_set_size (e, (la_int64_t) strlen (t->content_or_target));
      assert_true (archive_write_header (a, e) >= ARCHIVE_WARN);
      if (t->type == AE_IFREG && strlen (t->content_or_target) > 0)
        assert_int_equal (archive_write_data (a, t->content_or_target, strlen (t->content_or_target)),
                          (la_ssize_t) strlen (t->content_or_target));
      archive_entry_free (e);
    }
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);
  return path;
}

/* Reads a layer blob back and compares every entry with tiny_rootfs.  */
static void
check_layer_entries (gsi_store *s, const char *digest)
{
  gsi_error err = GSI_ERROR_INIT;
  char *path = gsi_store_blob_path (s, digest, &err);
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  size_t i = 0;

  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  assert_int_equal (archive_read_open_filename (a, path, 10240), ARCHIVE_OK);
  assert_int_equal (archive_filter_code (a, 0), ARCHIVE_FILTER_GZIP);
  while (archive_read_next_header (a, &e) == ARCHIVE_OK)
    {
      const tar_file *t = &tiny_rootfs[i];
      assert_true (i < sizeof tiny_rootfs / sizeof tiny_rootfs[0]);
      assert_string_equal (archive_entry_pathname (e), t->path);
      assert_int_equal (archive_entry_mtime (e), 1700000000 + (time_t) i);
      assert_int_equal (archive_entry_perm (e), t->mode);
      assert_int_equal (archive_entry_uid (e), i == 8 ? 1000 : 0);
      assert_string_equal (archive_entry_uname (e), i == 8 ? "user" : "root");
      if (t->type == 0)
        assert_string_equal (archive_entry_hardlink (e), t->content_or_target);
      else
        assert_int_equal (archive_entry_filetype (e), t->type);
      if (t->type == AE_IFLNK)
        assert_string_equal (archive_entry_symlink (e), t->content_or_target);
      if (t->type == AE_IFREG)
        {
          char buf[256];
          la_ssize_t n = archive_read_data (a, buf, sizeof buf);
          assert_int_equal (n, (la_ssize_t) strlen (t->content_or_target));
          assert_memory_equal (buf, t->content_or_target, (size_t) n);
        }
      i++;
    }
  assert_int_equal (i, sizeof tiny_rootfs / sizeof tiny_rootfs[0]);
  archive_read_free (a);
  free (path);
}

static int
run_quiet (const char *cmd)
{
  char *full = xasprintf ("%s >/dev/null 2>&1", cmd);
  int r = system (full);
  free (full);
  return r;
}

static bool
have_tool (const char *name)
{
  char *cmd = xasprintf ("command -v %s", name);
  bool ok = run_quiet (cmd) == 0;
  free (cmd);
  return ok;
}

static void
test_import_rootfs (void **state)
{
  (void) state;
  char *root = make_tmpdir ();
  char *work = make_tmpdir ();
  gsi_store *s = open_store (root);
  char *tgz = write_tarball (work, "rootfs.tar.gz", 1);
  char *tzst = write_tarball (work, "rootfs.tar.zst", 2);
  char *tar = write_tarball (work, "rootfs.tar", 0);
  gsi_descriptor d1 = GSI_DESCRIPTOR_INIT, d2 = GSI_DESCRIPTOR_INIT, d3 = GSI_DESCRIPTOR_INIT;
  gsi_error err = GSI_ERROR_INIT;

  CHECK (gsi_store_import_rootfs_tar (s, tgz, "tiny:1", 1700000000, &d1, CERR));
  CHECK (gsi_store_import_rootfs_tar (s, tzst, "tiny:zst", 1700000000, &d2, CERR));
  CHECK (gsi_store_import_rootfs_tar (s, tar, NULL, 1700000000, &d3, CERR));
  /* One content, three compressions of the input, same image.  */
  assert_string_equal (d1.digest, d2.digest);
  assert_string_equal (d1.digest, d3.digest);

  gsi_manifest m;
  gsi_image_config cfg;
  gsi_manifest_init (&m);
  gsi_image_config_init (&cfg);
  CHECK (gsi_store_load_image (s, "tiny:1", NULL, &m, &cfg, CERR));
  assert_int_equal (m.n_layers, 1);
  assert_string_equal (m.layers[0].media_type, GSI_MEDIA_OCI_LAYER_GZIP);
  assert_string_equal (cfg.architecture, gsi_host_arch ());
  assert_string_equal (cfg.os, "linux");
  assert_string_equal (cfg.created, "2023-11-14T22:13:20Z");
  assert_int_equal (cfg.diff_ids.n, 1);
  assert_int_equal (cfg.n_history, 1);
  check_layer_entries (s, m.layers[0].digest);

  /* The diff_id is the digest of the uncompressed layer.  */
  gsi_blob_info none;
  char *lpath = gsi_store_blob_path (s, m.layers[0].digest, &err);
  size_t glen = 0, plen = 0;
  unsigned char *gz = (unsigned char *) test_read_file (lpath, &glen);
  unsigned char *plain = gunzip (gz, glen, &plen);
  write_blob (s, GSI_COMP_NONE, plain, plen, 0, &none);
  assert_string_equal (none.diff_id, cfg.diff_ids.v[0]);
  assert_int_equal (plen % 512, 0);
  free (plain);
  free (gz);
  free (lpath);

  /* Errors: not a tarball, a missing file, a bad reference; nothing left in tmp/.  */
  char *junk = xasprintf ("%s/junk", work);
  FILE *f = fopen (junk, "w");
  assert_non_null (f);
  fputs ("this is not a tar archive at all, not even close ...........................", f);
  fclose (f);
  assert_int_equal (gsi_store_import_rootfs_tar (s, junk, "j", 0, NULL, &err), -1);
  gsi_error_clear (&err);
  assert_int_equal (gsi_store_import_rootfs_tar (s, "/nonexistent/x.tar", "j", 0, NULL, &err), -1);
  gsi_error_clear (&err);
  assert_int_equal (gsi_store_import_rootfs_tar (s, tar, "Bad Ref", 0, NULL, &err), -1);
  gsi_error_clear (&err);
  assert_int_equal (count_dir (gsi_store_dir_path (s, GSI_STORE_TMP)), 0);
  free (junk);

  /* Other OCI tools read the store as it is.  */
  if (have_tool ("skopeo"))
    {
      char *cmd = xasprintf ("skopeo inspect oci:%s:tiny:1", root);
      FILE *p = popen (cmd, "r");
      char buf[8192];
      size_t n = p ? fread (buf, 1, sizeof buf - 1, p) : 0;
      assert_non_null (p);
      buf[n] = '\0';
      assert_int_equal (pclose (p), 0);
      json_t *j = json_loads (buf, 0, NULL);
      assert_non_null (j);
      assert_string_equal (json_string_value (json_object_get (j, "Digest")), d1.digest);
      assert_string_equal (json_string_value (json_object_get (j, "Architecture")), gsi_host_arch ());
      assert_int_equal (json_array_size (json_object_get (j, "Layers")), 1);
      json_decref (j);
      free (cmd);
      /* Copying out of the store verifies every blob's digest.  */
      cmd = xasprintf ("skopeo --insecure-policy copy oci:%s:tiny:1 dir:%s/copy", root, work);
      assert_int_equal (run_quiet (cmd), 0);
      free (cmd);
    }
  else
    print_message ("skopeo not installed: the skopeo check is NOT RUN\n");
  if (have_tool ("umoci"))
    {
      char *cmd = xasprintf ("umoci ls --layout %s", root);
      FILE *p = popen (cmd, "r");
      char buf[4096];
      size_t n = p ? fread (buf, 1, sizeof buf - 1, p) : 0;
      assert_non_null (p);
      buf[n] = '\0';
      assert_int_equal (pclose (p), 0);
      assert_non_null (strstr (buf, "tiny:1\n"));
      assert_non_null (strstr (buf, "tiny:zst\n"));
      free (cmd);
      cmd = xasprintf ("umoci stat --image %s:tiny:1", root);
      assert_int_equal (run_quiet (cmd), 0);
      free (cmd);
    }
  else
    print_message ("umoci not installed: the umoci check is NOT RUN\n");

  gsi_manifest_clear (&m);
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&d1);
  gsi_descriptor_clear (&d2);
  gsi_descriptor_clear (&d3);
  free (tgz);
  free (tzst);
  free (tar);
  gsi_store_close (s);
  rm_rf (root);
  rm_rf (work);
  free (root);
  free (work);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_layout_created),
    cmocka_unit_test (test_default_root),
    cmocka_unit_test (test_digest),
    cmocka_unit_test (test_blob_uncompressed),
    cmocka_unit_test (test_blob_gzip),
    cmocka_unit_test (test_blob_zstd),
    cmocka_unit_test (test_blob_deterministic),
    cmocka_unit_test (test_blob_abort),
    cmocka_unit_test (test_blob_memory),
    cmocka_unit_test (test_blob_read),
    cmocka_unit_test (test_ref_normalize),
    cmocka_unit_test (test_tags),
    cmocka_unit_test (test_foreign_index_entries),
    cmocka_unit_test (test_list_images),
    cmocka_unit_test (test_concurrent_tagging),
    cmocka_unit_test (test_crash_leaves_valid_store),
    cmocka_unit_test (test_prune),
    cmocka_unit_test (test_prune_mount_point),
    cmocka_unit_test (test_prune_inventory),
    cmocka_unit_test (test_config_roundtrip),
    cmocka_unit_test (test_manifest_roundtrip),
    cmocka_unit_test (test_commit_checks),
    cmocka_unit_test (test_load_index),
    cmocka_unit_test (test_import_rootfs),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
