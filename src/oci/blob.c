/* The streaming blob writer.
 *
 * The producer (the caller of gsi_blob_writer_write) copies bytes into a ring of fixed 1 MiB slots.
 * Two worker threads consume every full slot: one hashes the raw bytes (the diff_id), the other
 * compresses them, hashes the compressed output (the digest) and writes it to the temp file.  The
 * producer, the hasher and the compressor thus run on different cores, and memory stays at the ring
 * plus the compressor state (about 10 MiB), whatever the blob size.
 *
 * Determinism: the compressors always see the stream cut at the same 1 MiB boundaries and write into
 * same-sized output buffers, whatever sizes the producer writes in, so one input always gives one
 * output with a given library version.  gzip is written with mtime 0, no name and OS "unknown".
 *
 * A blob smaller than one slot never starts the threads: commit compresses it inline.  */
#include "oci/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "oci/digest.h"
#include "oci/store.h"
#include "util/xalloc.h"

#define SLOT_SIZE ((size_t) 1 << 20)
#define NSLOTS 8
#define OUT_SIZE ((size_t) 256 << 10)
/* Start writeback every so often so the fsync at commit does not find a gigabyte of dirty pages.  */
#define WRITEBACK_EVERY ((uint64_t) 32 << 20)

/* Fixed levels: the output, and so the digest, must not depend on anything but the input.  ISA-L
 * level 1 is igzip's default; zlib's fastest level keeps the fallback within reach of it (both
 * about 0.37 of a typical rootfs tar, with zlib several times slower).  */
#define ISAL_LEVEL 1
#define ZLIB_LEVEL Z_BEST_SPEED
#define ZSTD_LEVEL 3

typedef struct slot
{
  unsigned char *data;
  size_t len;
  bool last;
} slot;

typedef struct compressor
{
  gsi_gzip_backend gzip;
#ifdef HAVE_ISAL
  struct isal_zstream *isal;
  uint8_t *isal_level_buf;
#endif
  z_stream z;
  gz_header gzh;
  bool z_ready;
  ZSTD_CCtx *zstd;
  bool header_done;
  unsigned char *out;
} compressor;

struct gsi_blob_writer
{
  gsi_store *store;
  gsi_compression comp;
  int fd;
  char *tmp_name;

  slot slots[NSLOTS];
  slot *cur;             /* the slot the producer is filling, NULL when it holds none */
  bool threads;          /* workers started */
  pthread_t hash_thread, pack_thread;
  pthread_mutex_t mu;
  pthread_cond_t cv_work;  /* produced moved, or cancel */
  pthread_cond_t cv_space; /* a worker finished a slot, or failed */
  uint64_t produced;       /* slots published, under mu */
  uint64_t hashed, packed; /* slots each worker is done with, under mu */
  bool cancel;
  bool failed;
  gsi_error werr; /* the compressor worker's error, set once before failed */

  /* Owned by the hash worker (or the producer when no threads run).  */
  gsi_sha256 *raw_hash;
  uint64_t raw_size;
  /* Owned by the compressor worker (or the producer when no threads run).  */
  gsi_sha256 *out_hash;
  uint64_t out_size, writeback_from;
  compressor c;
};

static gsi_gzip_backend gzip_backend = GSI_GZIP_AUTO;

int
gsi_blob_set_gzip_backend (gsi_gzip_backend b, gsi_error *err)
{
#ifndef HAVE_ISAL
  if (b == GSI_GZIP_ISAL)
    return gsi_error_set (err, ENOTSUP, "gzip with ISA-L: gsi was built without ISA-L");
#else
  (void) err;
#endif
  gzip_backend = b;
  return 0;
}

static gsi_gzip_backend
effective_gzip_backend (void)
{
#ifdef HAVE_ISAL
  return gzip_backend == GSI_GZIP_ZLIB ? GSI_GZIP_ZLIB : GSI_GZIP_ISAL;
#else
  return GSI_GZIP_ZLIB;
#endif
}

const char *
gsi_blob_gzip_backend_name (void)
{
  return effective_gzip_backend () == GSI_GZIP_ISAL ? "isa-l" : "zlib";
}

const char *
gsi_compression_suffix (gsi_compression comp)
{
  switch (comp)
    {
    case GSI_COMP_GZIP:
      return "+gzip";
    case GSI_COMP_ZSTD:
      return "+zstd";
    case GSI_COMP_NONE:
      break;
    }
  return "";
}

/* ---- compressors ------------------------------------------------------------------------------ */

static int
compressor_init (compressor *c, gsi_compression comp, gsi_error *err)
{
  memset (c, 0, sizeof *c);
  c->out = xmalloc (OUT_SIZE);
  if (comp == GSI_COMP_ZSTD)
    {
      c->zstd = ZSTD_createCCtx ();
      if (c->zstd == NULL || ZSTD_isError (ZSTD_CCtx_setParameter (c->zstd, ZSTD_c_compressionLevel, ZSTD_LEVEL)))
        return gsi_error_set (err, ENOMEM, "zstd: create compression context");
      return 0;
    }
  if (comp != GSI_COMP_GZIP)
    return 0;
  c->gzip = effective_gzip_backend ();
#ifdef HAVE_ISAL
  if (c->gzip == GSI_GZIP_ISAL)
    {
      c->isal = xcalloc (1, sizeof *c->isal);
      isal_deflate_init (c->isal);
      c->isal->level = ISAL_LEVEL;
      c->isal_level_buf = xmalloc (ISAL_DEF_LVL1_DEFAULT);
      c->isal->level_buf = c->isal_level_buf;
      c->isal->level_buf_size = ISAL_DEF_LVL1_DEFAULT;
      /* We write the header ourselves (mtime 0, no name); ISA-L writes the trailer.  */
      c->isal->gzip_flag = IGZIP_GZIP_NO_HDR;
      return 0;
    }
#endif
  /* windowBits 15 + 16: a gzip wrapper; the header is set explicitly so it carries no mtime.  */
  if (deflateInit2 (&c->z, ZLIB_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return gsi_error_set (err, ENOMEM, "zlib: deflateInit2");
  c->z_ready = true;
  c->gzh.os = 255;
  if (deflateSetHeader (&c->z, &c->gzh) != Z_OK)
    return gsi_error_set (err, 0, "zlib: deflateSetHeader");
  return 0;
}

static void
compressor_free (compressor *c)
{
#ifdef HAVE_ISAL
  free (c->isal);
  free (c->isal_level_buf);
#endif
  if (c->z_ready)
    deflateEnd (&c->z);
  ZSTD_freeCCtx (c->zstd);
  free (c->out);
  memset (c, 0, sizeof *c);
}

/* Hashes and writes compressed (or stored) bytes.  Runs on the compressor worker.  */
static int
emit (gsi_blob_writer *w, const void *data, size_t len, gsi_error *err)
{
  const char *p = data;

  if (len == 0)
    return 0;
  if (w->comp != GSI_COMP_NONE)
    gsi_sha256_update (w->out_hash, data, len);
  for (size_t left = len; left > 0;)
    {
      ssize_t n = write (w->fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return gsi_error_set (err, errno, "write blob `%s`", w->tmp_name);
      p += n;
      left -= (size_t) n;
    }
  w->out_size += len;
  if (w->out_size - w->writeback_from >= WRITEBACK_EVERY)
    {
      /* Advisory: a failure here shows up again, and is reported, at fsync.  */
      sync_file_range (w->fd, (off_t) w->writeback_from, (off_t) (w->out_size - w->writeback_from),
                       SYNC_FILE_RANGE_WRITE);
      w->writeback_from = w->out_size;
    }
  return 0;
}

#ifdef HAVE_ISAL
static int
pack_isal (gsi_blob_writer *w, const slot *s, gsi_error *err)
{
  struct isal_zstream *z = w->c.isal;
  size_t used = 0;

  if (!w->c.header_done)
    {
      struct isal_gzip_header h;
      isal_gzip_header_init (&h);
      h.time = 0;
      h.os = 255;
      z->next_out = w->c.out;
      z->avail_out = (uint32_t) OUT_SIZE;
      if (isal_write_gzip_header (z, &h) != 0)
        return gsi_error_set (err, 0, "isa-l: write gzip header");
      used = OUT_SIZE - z->avail_out;
      w->c.header_done = true;
    }
  z->next_in = s->data;
  z->avail_in = (uint32_t) s->len;
  z->end_of_stream = s->last;
  z->flush = NO_FLUSH;
  do
    {
      z->next_out = w->c.out + used;
      z->avail_out = (uint32_t) (OUT_SIZE - used);
      if (isal_deflate (z) != COMP_OK)
        return gsi_error_set (err, 0, "isa-l: isal_deflate failed");
      if (emit (w, w->c.out, OUT_SIZE - z->avail_out, err) < 0)
        return -1;
      used = 0;
    }
  while (z->avail_in > 0 || (s->last && z->internal_state.state != ZSTATE_END));
  return 0;
}
#endif

static int
pack_zlib (gsi_blob_writer *w, const slot *s, gsi_error *err)
{
  z_stream *z = &w->c.z;
  int flush = s->last ? Z_FINISH : Z_NO_FLUSH;
  int r;

  z->next_in = s->data;
  z->avail_in = (uInt) s->len;
  do
    {
      z->next_out = w->c.out;
      z->avail_out = (uInt) OUT_SIZE;
      r = deflate (z, flush);
      if (r == Z_STREAM_ERROR)
        return gsi_error_set (err, 0, "zlib: deflate failed");
      if (emit (w, w->c.out, OUT_SIZE - z->avail_out, err) < 0)
        return -1;
    }
  while (z->avail_out == 0 || z->avail_in > 0 || (s->last && r != Z_STREAM_END));
  return 0;
}

static int
pack_zstd (gsi_blob_writer *w, const slot *s, gsi_error *err)
{
  ZSTD_inBuffer in = { s->data, s->len, 0 };
  size_t rem;

  do
    {
      ZSTD_outBuffer out = { w->c.out, OUT_SIZE, 0 };
      rem = ZSTD_compressStream2 (w->c.zstd, &out, &in, s->last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError (rem))
        return gsi_error_set (err, 0, "zstd: %s", ZSTD_getErrorName (rem));
      if (emit (w, w->c.out, out.pos, err) < 0)
        return -1;
    }
  while (s->last ? rem != 0 : in.pos < in.size);
  return 0;
}

static int
pack_slot (gsi_blob_writer *w, const slot *s, gsi_error *err)
{
  switch (w->comp)
    {
    case GSI_COMP_NONE:
      return emit (w, s->data, s->len, err);
    case GSI_COMP_ZSTD:
      return pack_zstd (w, s, err);
    case GSI_COMP_GZIP:
      break;
    }
#ifdef HAVE_ISAL
  if (w->c.gzip == GSI_GZIP_ISAL)
    return pack_isal (w, s, err);
#endif
  return pack_zlib (w, s, err);
}

static void
hash_slot (gsi_blob_writer *w, const slot *s)
{
  gsi_sha256_update (w->raw_hash, s->data, s->len);
  w->raw_size += s->len;
}

/* ---- workers ---------------------------------------------------------------------------------- */

/* Waits for the next slot for a worker whose progress counter is *done; NULL when cancelled.  */
static slot *
next_slot (gsi_blob_writer *w, uint64_t *done)
{
  slot *s = NULL;

  pthread_mutex_lock (&w->mu);
  while (!w->cancel && *done == w->produced)
    pthread_cond_wait (&w->cv_work, &w->mu);
  if (!w->cancel)
    s = &w->slots[*done % NSLOTS];
  pthread_mutex_unlock (&w->mu);
  return s;
}

static void
finish_slot (gsi_blob_writer *w, uint64_t *done)
{
  pthread_mutex_lock (&w->mu);
  (*done)++;
  pthread_cond_broadcast (&w->cv_space);
  pthread_mutex_unlock (&w->mu);
}

static void *
hash_worker (void *arg)
{
  gsi_blob_writer *w = arg;

  for (;;)
    {
      slot *s = next_slot (w, &w->hashed);
      bool last;
      if (s == NULL)
        break;
      hash_slot (w, s);
      last = s->last; /* read before finishing: the producer may refill the slot right after */
      finish_slot (w, &w->hashed);
      if (last)
        break;
    }
  return NULL;
}

static void *
pack_worker (void *arg)
{
  gsi_blob_writer *w = arg;
  gsi_error e = GSI_ERROR_INIT;

  for (;;)
    {
      slot *s = next_slot (w, &w->packed);
      bool last;
      if (s == NULL)
        break;
      if (pack_slot (w, s, &e) < 0)
        {
          pthread_mutex_lock (&w->mu);
          w->werr = e;
          w->failed = true;
          pthread_cond_broadcast (&w->cv_space);
          pthread_mutex_unlock (&w->mu);
          break;
        }
      last = s->last;
      finish_slot (w, &w->packed);
      if (last)
        break;
    }
  return NULL;
}

static int
worker_error (gsi_blob_writer *w, gsi_error *err)
{
  gsi_error_set (err, 0, "%s", w->werr.msg ? w->werr.msg : "blob writer failed");
  if (err)
    err->code = w->werr.code;
  return -1;
}

static int
start_threads (gsi_blob_writer *w, gsi_error *err)
{
  int r = pthread_create (&w->hash_thread, NULL, hash_worker, w);

  if (r != 0)
    return gsi_error_set (err, r, "blob writer: start hash thread");
  r = pthread_create (&w->pack_thread, NULL, pack_worker, w);
  if (r != 0)
    {
      pthread_mutex_lock (&w->mu);
      w->cancel = true;
      pthread_cond_broadcast (&w->cv_work);
      pthread_mutex_unlock (&w->mu);
      pthread_join (w->hash_thread, NULL);
      return gsi_error_set (err, r, "blob writer: start compression thread");
    }
  w->threads = true;
  return 0;
}

static void
stop_threads (gsi_blob_writer *w, bool cancel)
{
  if (!w->threads)
    return;
  if (cancel)
    {
      pthread_mutex_lock (&w->mu);
      w->cancel = true;
      pthread_cond_broadcast (&w->cv_work);
      pthread_mutex_unlock (&w->mu);
    }
  pthread_join (w->hash_thread, NULL);
  pthread_join (w->pack_thread, NULL);
  w->threads = false;
}

/* ---- producer --------------------------------------------------------------------------------- */

static int
acquire_slot (gsi_blob_writer *w, gsi_error *err)
{
  int r = 0;

  pthread_mutex_lock (&w->mu);
  while (!w->failed && w->produced - (w->hashed < w->packed ? w->hashed : w->packed) >= NSLOTS)
    pthread_cond_wait (&w->cv_space, &w->mu);
  if (w->failed)
    r = -1;
  else
    {
      w->cur = &w->slots[w->produced % NSLOTS];
      if (w->cur->data == NULL)
        w->cur->data = xmalloc (SLOT_SIZE); /* lazily: most blobs are JSON and need one slot */
      w->cur->len = 0;
      w->cur->last = false;
    }
  pthread_mutex_unlock (&w->mu);
  return r < 0 ? worker_error (w, err) : 0;
}

static int
publish (gsi_blob_writer *w, bool last, gsi_error *err)
{
  if (!w->threads && last)
    {
      /* The whole blob fits one slot: no threads for configs, manifests and tiny layers.  */
      slot *s = steal_pointer (&w->cur);
      s->last = true;
      hash_slot (w, s);
      return pack_slot (w, s, err);
    }
  if (!w->threads && start_threads (w, err) < 0)
    return -1;
  pthread_mutex_lock (&w->mu);
  w->cur->last = last;
  w->produced++;
  w->cur = NULL;
  pthread_cond_broadcast (&w->cv_work);
  pthread_mutex_unlock (&w->mu);
  return 0;
}

int
gsi_blob_writer_open (gsi_store *store, gsi_compression comp, gsi_blob_writer **out, gsi_error *err)
{
  gsi_blob_writer *w = xcalloc (1, sizeof *w);

  w->store = store;
  w->comp = comp;
  w->fd = -1;
  pthread_mutex_init (&w->mu, NULL);
  pthread_cond_init (&w->cv_work, NULL);
  pthread_cond_init (&w->cv_space, NULL);
  w->raw_hash = gsi_sha256_new ();
  w->out_hash = gsi_sha256_new ();
  if (comp != GSI_COMP_NONE && comp != GSI_COMP_GZIP && comp != GSI_COMP_ZSTD)
    {
      gsi_blob_writer_abort (w);
      return gsi_error_set (err, EINVAL, "blob writer: unknown compression %d", (int) comp);
    }
  if (compressor_init (&w->c, comp, err) < 0 || gsi_store_tmpfile (store, "blob-", &w->fd, &w->tmp_name, err) < 0)
    {
      gsi_blob_writer_abort (w);
      return gsi_error_wrap (err, "open blob writer");
    }
  *out = w;
  return 0;
}

int
gsi_blob_writer_write (gsi_blob_writer *w, const void *data, size_t len, gsi_error *err)
{
  const unsigned char *p = data;

  while (len > 0)
    {
      size_t n;
      if (w->cur == NULL && acquire_slot (w, err) < 0)
        return -1;
      n = SLOT_SIZE - w->cur->len;
      if (n > len)
        n = len;
      memcpy (w->cur->data + w->cur->len, p, n);
      w->cur->len += n;
      p += n;
      len -= n;
      if (w->cur->len == SLOT_SIZE && publish (w, false, err) < 0)
        return -1;
    }
  return 0;
}

static int
finish (gsi_blob_writer *w, gsi_blob_info *info, gsi_error *err)
{
  if (w->cur == NULL && acquire_slot (w, err) < 0)
    return -1;
  if (publish (w, true, err) < 0)
    return -1;
  stop_threads (w, false);
  if (w->failed)
    return worker_error (w, err);
  memset (info, 0, sizeof *info);
  gsi_sha256_final (w->raw_hash, info->diff_id);
  if (w->comp == GSI_COMP_NONE)
    memcpy (info->digest, info->diff_id, sizeof info->digest);
  else
    gsi_sha256_final (w->out_hash, info->digest);
  info->raw_size = w->raw_size;
  info->size = w->out_size;
  if (gsi_store_install_blob (w->store, w->fd, w->tmp_name, info->digest, err) < 0)
    return -1;
  free (w->tmp_name);
  w->tmp_name = NULL; /* installed: nothing for abort to remove */
  return 0;
}

int
gsi_blob_writer_commit (gsi_blob_writer *w, gsi_blob_info *info, gsi_error *err)
{
  gsi_blob_info tmp;
  int r = finish (w, info ? info : &tmp, err);

  gsi_blob_writer_abort (w);
  return r < 0 ? gsi_error_wrap (err, "commit blob") : 0;
}

void
gsi_blob_writer_abort (gsi_blob_writer *w)
{
  if (w == NULL)
    return;
  stop_threads (w, true);
  if (w->fd >= 0)
    close (w->fd);
  if (w->tmp_name)
    gsi_store_tmp_unlink (w->store, w->tmp_name);
  free (w->tmp_name);
  compressor_free (&w->c);
  gsi_sha256_free (w->raw_hash);
  gsi_sha256_free (w->out_hash);
  for (int i = 0; i < NSLOTS; i++)
    free (w->slots[i].data);
  gsi_error_clear (&w->werr);
  pthread_cond_destroy (&w->cv_work);
  pthread_cond_destroy (&w->cv_space);
  pthread_mutex_destroy (&w->mu);
  free (w);
}
