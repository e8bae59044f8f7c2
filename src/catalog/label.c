/* Relabelling an image in the store: a new config with the labels set and a new manifest that
 * points at it; the layers are shared.  The catalog uses this because some labels (the service
 * package's version) are only known after the image is built.  */
#include "catalog/catalog.h"

#include <stdlib.h>

#include "oci/image.h"
#include "oci/store.h"
#include "util/xalloc.h"

static int
put_json_blob (gsi_store *s, char *data, size_t len, char digest[GSI_DIGEST_BUF], gsi_error *err)
{
  int r = gsi_store_put_blob (s, data, len, digest, err);
  free (data);
  return r;
}

int
gsi_catalog_relabel (gsi_store *s, const char *ref, const char *const *keys, const char *const *values,
                     const char *tag, char *digest, gsi_error *err)
{
  gsi_descriptor desc = GSI_DESCRIPTOR_INIT;
  gsi_manifest m;
  gsi_image_config cfg;
  char *data = NULL;
  size_t len = 0;
  char cdigest[GSI_DIGEST_BUF];
  int r;

  gsi_manifest_init (&m);
  gsi_image_config_init (&cfg);
  r = gsi_store_load_image (s, ref, &desc, &m, &cfg, err);
  for (size_t i = 0; r == 0 && keys[i]; i++)
    gsi_kv_set (&cfg.labels, keys[i], values[i]);
  if (r == 0)
    r = gsi_image_config_to_json (&cfg, &data, &len, err);
  if (r == 0)
    r = put_json_blob (s, steal_pointer (&data), len, cdigest, err);
  if (r == 0)
    {
      /* gsi_descriptor_set frees the old media type first.  */
      cleanup_free char *mt = xstrdup (m.config.media_type ? m.config.media_type : GSI_MEDIA_OCI_CONFIG);
      gsi_descriptor_set (&m.config, mt, cdigest, (int64_t) len);
      r = gsi_manifest_to_json (&m, &data, &len, err);
    }
  if (r == 0)
    r = put_json_blob (s, steal_pointer (&data), len, digest, err);
  if (r == 0)
    {
      gsi_descriptor_set (&desc, m.media_type ? m.media_type : GSI_MEDIA_OCI_MANIFEST, digest, (int64_t) len);
      r = gsi_store_tag (s, tag, &desc, err);
    }
  gsi_descriptor_clear (&desc);
  gsi_manifest_clear (&m);
  gsi_image_config_clear (&cfg);
  return r < 0 ? gsi_error_wrap (err, "relabel `%s`", ref) : 0;
}
