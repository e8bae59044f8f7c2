/* Image config and manifest: C structs the build engine fills and reads, their JSON, and the store
 * operations that need both (commit, load, import of a rootfs tarball).
 *
 * JSON is written with jansson, JSON_COMPACT | JSON_SORT_KEYS, so equal structs give equal bytes and
 * equal digests.  Empty fields are left out, as BuildKit does (Go's omitempty): an empty Entrypoint
 * or Cmd is the same as none.  The config is the OCI one plus the Docker fields BuildKit also writes
 * (Healthcheck, OnBuild, Shell); parsing accepts Docker-format configs and ignores fields it does not
 * model.  */
#ifndef GSI_OCI_IMAGE_H
#define GSI_OCI_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/blob.h"
#include "oci/store.h"
#include "util/error.h"
#include "util/strvec.h"

typedef struct gsi_healthcheck
{
  gsi_strvec test;        /* empty: no Healthcheck; {"NONE"} disables an inherited one */
  int64_t interval;       /* nanoseconds; 0 = not set (inherit the default) */
  int64_t timeout;
  int64_t start_period;
  int64_t start_interval;
  int retries;            /* 0 = not set */
} gsi_healthcheck;

typedef struct gsi_history
{
  char *created;    /* RFC 3339, may be NULL */
  char *created_by; /* may be NULL */
  char *author;     /* may be NULL */
  char *comment;    /* may be NULL */
  bool empty_layer; /* true for instructions that made no layer */
} gsi_history;

typedef struct gsi_image_config
{
  char *created;      /* RFC 3339 ("2025-01-31T12:00:00Z"); NULL leaves it out */
  char *author;
  char *architecture; /* required to serialise ("amd64") */
  char *os;           /* required to serialise ("linux") */
  char *variant;      /* "v8", NULL when none */
  char *os_version;

  /* "config" */
  char *user;
  gsi_strvec exposed_ports; /* "80/tcp", unique (use gsi_image_config_add_port) */
  gsi_strvec env;           /* "KEY=value", unique keys (use gsi_image_config_set_env) */
  gsi_strvec entrypoint;
  gsi_strvec cmd;
  gsi_strvec volumes;       /* "/data", unique */
  char *working_dir;
  gsi_kv labels;
  char *stop_signal;
  gsi_healthcheck healthcheck;
  gsi_strvec onbuild;
  gsi_strvec shell;

  /* "rootfs": one diff_id per layer, bottom first  */
  gsi_strvec diff_ids;

  gsi_history *history;
  size_t n_history, alloc_history;
} gsi_image_config;

void gsi_image_config_init (gsi_image_config *c);
void gsi_image_config_clear (gsi_image_config *c); /* frees and re-initialises */
void gsi_image_config_copy (gsi_image_config *dst, const gsi_image_config *src); /* dst cleared first */

/* Sets KEY=value, replacing an earlier value of KEY in place (Docker keeps the first position).  */
void gsi_image_config_set_env (gsi_image_config *c, const char *key, const char *value);
/* The value of KEY, or NULL.  */
const char *gsi_image_config_get_env (const gsi_image_config *c, const char *key);
/* Adds "80/tcp" style ports ("80" becomes "80/tcp") and volumes, once each.  */
void gsi_image_config_add_port (gsi_image_config *c, const char *port);
void gsi_image_config_add_volume (gsi_image_config *c, const char *path);
/* Appends a history entry (strings are copied; NULL is fine).  */
void gsi_image_config_add_history (gsi_image_config *c, const char *created, const char *created_by,
                                   const char *comment, bool empty_layer);

/* Serialises to deterministic JSON (malloc'd, NUL-terminated; *len may be NULL).  Fails on a
 * missing architecture or os, invalid diff_ids, history whose non-empty entries do not match the
 * layer count, or strings that are not valid UTF-8.  */
int gsi_image_config_to_json (const gsi_image_config *c, char **out, size_t *len, gsi_error *err);
/* Parses an OCI or Docker image config.  out is cleared first.  */
int gsi_image_config_from_json (const char *data, size_t len, gsi_image_config *out, gsi_error *err);

typedef struct gsi_manifest
{
  char *media_type;       /* NULL means GSI_MEDIA_OCI_MANIFEST when serialising */
  gsi_descriptor config;
  gsi_descriptor *layers;
  size_t n_layers, alloc_layers;
  gsi_kv annotations;
} gsi_manifest;

void gsi_manifest_init (gsi_manifest *m);
void gsi_manifest_clear (gsi_manifest *m);
void gsi_manifest_add_layer (gsi_manifest *m, const gsi_descriptor *layer); /* copies */
int gsi_manifest_to_json (const gsi_manifest *m, char **out, size_t *len, gsi_error *err);
/* Parses an OCI or Docker schema 2 image manifest (rejects an index: use gsi_store_load_image).  */
int gsi_manifest_from_json (const char *data, size_t len, gsi_manifest *out, gsi_error *err);

/* "application/vnd.oci.image.layer.v1.tar" plus gsi_compression_suffix (comp).  */
const char *gsi_layer_media_type (gsi_compression comp);
/* A layer descriptor for a committed blob.  */
void gsi_descriptor_set_layer (gsi_descriptor *d, const gsi_blob_info *info, gsi_compression comp);
/* The OCI architecture of this machine from uname ("amd64", "arm64", "ppc64le", "s390x", ...).  */
const char *gsi_host_arch (void);
/* RFC 3339 UTC, second precision: "1970-01-01T00:00:00Z".  */
void gsi_format_time (int64_t epoch, char out[32]);

/* Writes the config and manifest blobs for an image whose layer blobs are already in the store,
 * and tags it as ref when ref is not NULL.  layers[i] must describe the blob whose diff_id is
 * cfg->diff_ids.v[i].  manifest_annotations may be NULL.  *out (may be NULL) gets the manifest
 * descriptor.  */
int gsi_store_commit_image (gsi_store *s, const gsi_image_config *cfg, const gsi_descriptor *layers,
                            size_t n_layers, const gsi_kv *manifest_annotations, const char *ref,
                            gsi_descriptor *out, gsi_error *err);

/* Resolves ref (see gsi_store_resolve) and reads, verifies and parses its manifest and config.  An
 * index (multi-platform image) is followed to the entry for linux/gsi_host_arch ().  Any out
 * pointer may be NULL; the others are cleared first.  */
int gsi_store_load_image (gsi_store *s, const char *ref, gsi_descriptor *manifest_desc, gsi_manifest *m,
                          gsi_image_config *cfg, gsi_error *err);

/* Imports a root filesystem tarball (.tar, .tar.gz, .tar.zst, ... : libarchive detects the
 * compression) as a one-layer image: each entry is copied unchanged (metadata, xattrs, hardlinks;
 * sparse files are written out in full) into a new PAX tar, compressed with gzip through the blob
 * writer.  The config has architecture gsi_host_arch (), os "linux" and one history entry; created
 * is source_date_epoch, or the current time when it is negative.  Tags the image as ref when it is
 * not NULL.  *out (may be NULL) gets the manifest descriptor.  */
int gsi_store_import_rootfs_tar (gsi_store *s, const char *path, const char *ref, int64_t source_date_epoch,
                                 gsi_descriptor *out, gsi_error *err);

#endif
