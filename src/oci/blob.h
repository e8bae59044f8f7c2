/* Streaming blob writer: the one place layer bytes pass through.
 *
 * Bytes written are the UNCOMPRESSED stream (a layer tar, or a JSON document with GSI_COMP_NONE).
 * The writer hashes them (the diff_id), compresses them, hashes the compressed bytes (the blob
 * digest) and writes those to a temp file in the store, all in one pass, never holding the stream in
 * memory.  Commit fsyncs and renames the temp file to blobs/sha256/<hex> (atomic; an existing blob of
 * the same digest is kept).  Abort (or a writer freed without commit) removes the temp file, so a
 * failed or killed build leaves no partial blob under blobs/.  */
#ifndef GSI_OCI_BLOB_H
#define GSI_OCI_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct gsi_store gsi_store; /* store.h */

typedef enum gsi_compression
{
  GSI_COMP_NONE = 0,
  GSI_COMP_GZIP,
  GSI_COMP_ZSTD,
} gsi_compression;

typedef struct gsi_blob_info
{
  char digest[72];    /* "sha256:<64 hex>" of the stored (compressed) bytes */
  char diff_id[72];   /* "sha256:<64 hex>" of the uncompressed bytes */
  uint64_t size;      /* stored size */
  uint64_t raw_size;  /* uncompressed size */
} gsi_blob_info;

typedef struct gsi_blob_writer gsi_blob_writer;

int gsi_blob_writer_open (gsi_store *store, gsi_compression comp, gsi_blob_writer **out, gsi_error *err);
int gsi_blob_writer_write (gsi_blob_writer *w, const void *data, size_t len, gsi_error *err);
/* Finishes, fsyncs, renames into place and frees w.  */
int gsi_blob_writer_commit (gsi_blob_writer *w, gsi_blob_info *info, gsi_error *err);
/* Discards everything written and frees w; NULL is fine.  */
void gsi_blob_writer_abort (gsi_blob_writer *w);

/* The media type suffix for a layer of this compression: "", "+gzip", "+zstd".  */
const char *gsi_compression_suffix (gsi_compression comp);

/* Which gzip implementation writers opened from now on use.  The compressed bytes, and so layer
 * digests (never diff_ids), differ between them, so a build that must reproduce digests on machines
 * with and without ISA-L can pin zlib.  AUTO is ISA-L when built with it, else zlib.  Not
 * thread-safe: set it at startup.  Fails with ENOTSUP for ISAL in a build without ISA-L.  */
typedef enum gsi_gzip_backend
{
  GSI_GZIP_AUTO = 0,
  GSI_GZIP_ISAL,
  GSI_GZIP_ZLIB,
} gsi_gzip_backend;

int gsi_blob_set_gzip_backend (gsi_gzip_backend backend, gsi_error *err);
/* "isa-l" or "zlib": what GSI_COMP_GZIP writers use now.  */
const char *gsi_blob_gzip_backend_name (void);

#endif
