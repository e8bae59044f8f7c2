/* catalog.yaml: libfyaml parses it, this file walks the tree into gsi_catalog and checks it.
 * Every error points at a key or scalar of the file, so the user can go straight to it.  */
#include "catalog/catalog.h"
#include "registry/reference.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "util/buf.h"
#include "util/yaml.h"
#include "util/xalloc.h"
#include "vuln/advisory.h"
#include "vuln/version.h"

typedef struct loader
{
  gsi_catalog *c;
  const char *file;
  gsi_error *err;
} loader;

/* Position of a node: its own token for a scalar, else the key that led to it (at).  */
static void
node_pos (struct fy_node *n, struct fy_node *at, int *line, int *col)
{
  struct fy_node *p = (n && fy_node_is_scalar (n)) ? n : at;
  struct fy_token *t = p ? fy_node_get_scalar_token (p) : NULL;
  const struct fy_mark *m = t ? fy_token_start_mark (t) : NULL;

  *line = m ? m->line + 1 : 0;
  *col = m ? m->column + 1 : 0;
}

static int __attribute__ ((format (printf, 4, 5)))
fail_at (loader *l, struct fy_node *n, struct fy_node *at, const char *fmt, ...)
{
  gsi_buf b = GSI_BUF_INIT;
  va_list ap;
  int line, col;

  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  node_pos (n, at, &line, &col);
  gsi_error_at (l->err, l->file, line, col, "%s", b.buf);
  gsi_buf_release (&b);
  return -1;
}

static int
get_string (loader *l, struct fy_node *v, struct fy_node *key, const char *what, char **out)
{
  const char *s;

  if (v == NULL || !fy_node_is_scalar (v))
    return fail_at (l, v, key, "`%s` must be a string", what);
  s = fy_node_get_scalar0 (v);
  if (s == NULL || *s == '\0')
    return fail_at (l, v, key, "`%s` must not be empty", what);
  free (*out);
  *out = xstrdup (s);
  return 0;
}

static int
get_bool (loader *l, struct fy_node *v, struct fy_node *key, const char *what, bool *out)
{
  const char *s = (v && fy_node_is_scalar (v)) ? fy_node_get_scalar0 (v) : NULL;

  if (s && strcmp (s, "true") == 0)
    *out = true;
  else if (s && strcmp (s, "false") == 0)
    *out = false;
  else
    return fail_at (l, v, key, "`%s` must be true or false", what);
  return 0;
}

static int
need_mapping (loader *l, struct fy_node *v, struct fy_node *key, const char *what)
{
  if (v == NULL || !fy_node_is_mapping (v))
    return fail_at (l, v, key, "`%s` must be a mapping", what);
  return 0;
}

static const char *
key_text (struct fy_node *k)
{
  const char *s = (k && fy_node_is_scalar (k)) ? fy_node_get_scalar0 (k) : NULL;
  return s ? s : "";
}

static int
key_line (struct fy_node *k)
{
  int line, col;
  node_pos (k, k, &line, &col);
  return line;
}

/* Walks a mapping whose values are handled by fn; fn returns 1 for an unknown key.  */
typedef int (*field_fn) (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v);

static int
walk_fields (loader *l, struct fy_node *map, const char *what, field_fn fn, void *obj)
{
  void *it = NULL;
  struct fy_node_pair *p;

  while ((p = fy_node_mapping_iterate (map, &it)) != NULL)
    {
      struct fy_node *k = fy_node_pair_key (p), *v = fy_node_pair_value (p);
      int r = fn (l, obj, key_text (k), k, v);
      if (r < 0)
        return -1;
      if (r > 0)
        return fail_at (l, k, k, "unknown key `%s` in %s", key_text (k), what);
    }
  return 0;
}

/* A required field that walk_fields did not see.  */
static int
missing (loader *l, struct fy_node *at, const char *field, const char *what)
{
  return fail_at (l, at, at, "%s has no `%s`", what, field);
}

/* A non-empty sequence of non-empty single-line strings.  */
static int
get_string_list (loader *l, struct fy_node *v, struct fy_node *k, const char *what, gsi_strvec *out)
{
  void *it = NULL;
  struct fy_node *e;

  if (v == NULL || !fy_node_is_sequence (v) || fy_node_sequence_item_count (v) == 0)
    return fail_at (l, v, k, "`%s` must be a non-empty list of strings", what);
  while ((e = fy_node_sequence_iterate (v, &it)) != NULL)
    {
      const char *s = fy_node_is_scalar (e) ? fy_node_get_scalar0 (e) : NULL;
      if (s == NULL || *s == '\0' || strchr (s, '\n'))
        return fail_at (l, e, k, "`%s` must be a list of non-empty one-line strings", what);
      gsi_strvec_push (out, s);
    }
  return 0;
}

/* ---- bases ---- */

static int
bootstrap_field (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v)
{
  gsi_catalog_base *b = obj;

  if (strcmp (key, "distro") == 0)
    return get_string (l, v, k, "distro", &b->distro);
  if (strcmp (key, "suite") == 0)
    return get_string (l, v, k, "suite", &b->suite);
  if (strcmp (key, "variant") == 0)
    return get_string (l, v, k, "variant", &b->variant);
  if (strcmp (key, "mirror") == 0)
    return get_string (l, v, k, "mirror", &b->mirror);
  if (strcmp (key, "aptopt") == 0)
    return get_string_list (l, v, k, "aptopt", &b->aptopts);
  return 1;
}

static int
base_field (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v)
{
  gsi_catalog_base *b = obj;

  if (strcmp (key, "ref") == 0)
    return get_string (l, v, k, "ref", &b->ref);
  if (strcmp (key, "bootstrap") == 0)
    {
      b->bootstrap = true;
      if (need_mapping (l, v, k, "bootstrap") < 0 || walk_fields (l, v, "a bootstrap", bootstrap_field, b) < 0)
        return -1;
      if (b->distro == NULL || b->suite == NULL)
        return missing (l, k, b->distro ? "suite" : "distro", "bootstrap");
      if (strcmp (b->distro, "debian") != 0)
        return fail_at (l, k, k, "bootstrap distro `%s` is not supported (only debian)", b->distro);
      return 0;
    }
  return 1;
}

/* ---- releases ---- */

static int
load_build_args (loader *l, gsi_catalog_release *r, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node_pair *p;

  if (need_mapping (l, v, k, "build_args") < 0)
    return -1;
  while ((p = fy_node_mapping_iterate (v, &it)) != NULL)
    {
      struct fy_node *ak = fy_node_pair_key (p), *av = fy_node_pair_value (p);
      if (av == NULL || !fy_node_is_scalar (av))
        return fail_at (l, av, ak, "build arg `%s` must be a string", key_text (ak));
      gsi_strvec_pushf (&r->build_args, "%s=%s", key_text (ak), fy_node_get_scalar0 (av));
    }
  return 0;
}

static int
release_field (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v)
{
  gsi_catalog_release *r = obj;

  if (strcmp (key, "suite") == 0)
    return get_string (l, v, k, "suite", &r->suite);
  if (strcmp (key, "base") == 0)
    return get_string (l, v, k, "base", &r->base);
  if (strcmp (key, "build_args") == 0)
    return load_build_args (l, r, k, v);
  if (strcmp (key, "pip_index_url") == 0)
    return get_string (l, v, k, "pip_index_url", &r->pip_index_url);
  return 1;
}

/* ---- images ---- */

static int
image_release_field (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v)
{
  gsi_catalog_image_release *r = obj;

  if (strcmp (key, "available") == 0)
    return get_bool (l, v, k, "available", &r->available);
  if (strcmp (key, "reason") == 0)
    return get_string (l, v, k, "reason", &r->reason);
  return 1;
}

static int
load_image_releases (loader *l, gsi_catalog_image *im, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node_pair *p;

  if (need_mapping (l, v, k, "releases") < 0)
    return -1;
  im->releases = xcalloc (fy_node_mapping_item_count (v) + 1, sizeof *im->releases);
  while ((p = fy_node_mapping_iterate (v, &it)) != NULL)
    {
      struct fy_node *rk = fy_node_pair_key (p), *rv = fy_node_pair_value (p);
      gsi_catalog_image_release *r = &im->releases[im->n_releases++];

      r->release = xstrdup (key_text (rk));
      r->available = true;
      if (gsi_catalog_find_release (l->c, r->release) < 0)
        return fail_at (l, rk, rk, "image `%s` names release `%s`, which `releases` does not list", im->name,
                        r->release);
      if (need_mapping (l, rv, rk, r->release) < 0
          || walk_fields (l, rv, "an image release", image_release_field, r) < 0)
        return -1;
    }
  return 0;
}

static int
load_smoke (loader *l, gsi_catalog_image *im, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node *e;

  if (v == NULL || !fy_node_is_sequence (v) || fy_node_sequence_item_count (v) == 0)
    return fail_at (l, v, k, "`smoke` must be a non-empty list of strings (an argv)");
  while ((e = fy_node_sequence_iterate (v, &it)) != NULL)
    {
      if (!fy_node_is_scalar (e))
        return fail_at (l, e, k, "`smoke` must be a list of strings");
      gsi_strvec_push (&im->smoke, fy_node_get_scalar0 (e));
    }
  return 0;
}

static int
image_field (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v)
{
  gsi_catalog_image *im = obj;

  if (strcmp (key, "description") == 0)
    return get_string (l, v, k, "description", &im->description);
  if (strcmp (key, "service_package") == 0)
    return get_string (l, v, k, "service_package", &im->service_package);
  if (strcmp (key, "smoke") == 0)
    return load_smoke (l, im, k, v);
  if (strcmp (key, "releases") == 0)
    return load_image_releases (l, im, k, v);
  return 1;
}

static int
check_image (loader *l, gsi_catalog_image *im, size_t index, struct fy_node *k)
{
  cleanup_free char *cf = gsi_catalog_containerfile (l->c, index);
  struct stat st;

  for (const char *p = im->name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
      return fail_at (l, k, k, "image name `%s` is not a lowercase image name", im->name);
  if (im->description == NULL)
    return missing (l, k, "description", "image");
  if (stat (cf, &st) < 0 || !S_ISREG (st.st_mode))
    return fail_at (l, k, k, "image `%s` has no Containerfile `ContainerFiles/%s`", im->name, im->name);
  return 0;
}

/* ---- patches/IMAGE.yaml ---- */

static int
load_advisories (loader *l, gsi_catalog_patch *p, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node *e;

  if (v == NULL || !fy_node_is_sequence (v) || fy_node_sequence_item_count (v) == 0)
    return fail_at (l, v, k, "`advisories` must be a non-empty list of advisory ids");
  while ((e = fy_node_sequence_iterate (v, &it)) != NULL)
    {
      const char *id = fy_node_is_scalar (e) ? fy_node_get_scalar0 (e) : NULL;
      cleanup_error gsi_error why = GSI_ERROR_INIT;
      if (id == NULL || !gsi_advisory_id_valid (id, &why))
        return fail_at (l, e, k, "%s", id ? why.msg : "`advisories` must be a list of strings");
      gsi_strvec_push (&p->advisories, id);
    }
  return 0;
}

static int
patch_field (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v)
{
  gsi_catalog_patch *p = obj;
  cleanup_free char *eco = NULL;

  if (strcmp (key, "package") == 0)
    return get_string (l, v, k, "package", &p->package);
  if (strcmp (key, "fixed") == 0)
    return get_string (l, v, k, "fixed", &p->fixed);
  if (strcmp (key, "reason") == 0)
    return get_string (l, v, k, "reason", &p->reason);
  if (strcmp (key, "advisories") == 0)
    return load_advisories (l, p, k, v);
  if (strcmp (key, "ecosystem") == 0)
    {
      if (get_string (l, v, k, "ecosystem", &eco) < 0)
        return -1;
      if (strcmp (eco, "deb") != 0 && strcmp (eco, "pypi") != 0)
        return fail_at (l, v, k, "`ecosystem` must be deb or pypi, got `%s`", eco);
      p->ecosystem = strcmp (eco, "deb") == 0 ? GSI_ECO_DEB : GSI_ECO_PYPI;
      return 0;
    }
  return 1;
}

/* The checks that need the whole entry: every field there, a version of its ecosystem, and a
 * package name apt and pip would take (it lands in a shell command).  */
static int
check_patch (loader *l, gsi_catalog_patch *p, struct fy_node *at, struct fy_node *fixed)
{
  static const char *const required[] = { "package", "ecosystem", "fixed", "advisories", "reason" };
  const void *have[] = { p->package, p->ecosystem >= 0 ? "" : NULL, p->fixed, p->advisories.v, p->reason };
  cleanup_error gsi_error why = GSI_ERROR_INIT;

  for (size_t i = 0; i < sizeof required / sizeof *required; i++)
    if (have[i] == NULL)
      return missing (l, at, required[i], "patch");
  if (strspn (p->package, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_") != strlen (p->package))
    return fail_at (l, at, at, "patch package `%s` is not a package name", p->package);
  if (!gsi_version_valid (p->ecosystem, p->fixed, &why))
    return fail_at (l, fixed, at, "`fixed` is not a %s version: %s", gsi_ecosystem_name (p->ecosystem), why.msg);
  return 0;
}

static int
load_patch_list (loader *l, gsi_catalog_image *im, const char *release, struct fy_node *rk, struct fy_node *rv)
{
  void *it = NULL;
  struct fy_node *e;

  if (rv == NULL || !fy_node_is_sequence (rv))
    return fail_at (l, rv, rk, "release `%s` must be a list of patches", release);
  while ((e = fy_node_sequence_iterate (rv, &it)) != NULL)
    {
      gsi_catalog_patch *p;
      if (!fy_node_is_mapping (e))
        return fail_at (l, e, rk, "a patch must be a mapping");
      im->patches = xrealloc (im->patches, (im->n_patches + 1) * sizeof *im->patches);
      p = &im->patches[im->n_patches++];
      memset (p, 0, sizeof *p);
      p->ecosystem = -1;
      p->release = xstrdup (release);
      struct fy_node *pk = fy_node_mapping_lookup_key_by_string (e, "package", FY_NT);
      if (pk == NULL)
        pk = rk;
      p->line = key_line (pk);
      if (walk_fields (l, e, "a patch", patch_field, p) < 0
          || check_patch (l, p, pk, fy_node_mapping_lookup_by_string (e, "fixed", FY_NT)) < 0)
        return -1;
    }
  return 0;
}

static struct fy_document *parse_yaml (const char *path, gsi_error *err);

/* ROOT/patches/NAME.yaml, when there is one: release -> list of patches.  */
static int
load_patches (gsi_catalog *c, gsi_catalog_image *im, gsi_error *err)
{
  cleanup_free char *path = xasprintf ("%s/patches/%s.yaml", c->root, im->name);
  loader l = { c, path, err };
  struct fy_document *doc;
  struct fy_node *root;
  struct fy_node_pair *pair;
  void *it = NULL;
  int r = 0;

  if (access (path, F_OK) != 0)
    return 0;
  if ((doc = parse_yaml (path, err)) == NULL)
    return -1;
  root = fy_document_root (doc);
  if (root != NULL && !fy_node_is_mapping (root))
    r = gsi_error_at (err, path, 1, 1, "a patch file must map releases to lists of patches");
  while (r == 0 && root && (pair = fy_node_mapping_iterate (root, &it)) != NULL)
    {
      struct fy_node *rk = fy_node_pair_key (pair);
      const char *release = key_text (rk);
      if (gsi_catalog_find_release (c, release) < 0)
        r = fail_at (&l, rk, rk, "release `%s` is not a release of `%s`", release, c->path);
      else
        r = load_patch_list (&l, im, release, rk, fy_node_pair_value (pair));
    }
  fy_document_destroy (doc);
  if (r == 0)
    im->patch_file = steal_pointer (&path);
  return r;
}

const gsi_catalog_patch *
gsi_catalog_patches (const gsi_catalog *c, size_t image, const char *release, size_t *n)
{
  const gsi_catalog_image *im = &c->images[image];
  size_t first = im->n_patches;

  *n = 0;
  for (size_t i = 0; i < im->n_patches; i++)
    if (strcmp (im->patches[i].release, release) == 0)
      {
        if (*n == 0)
          first = i;
        (*n)++;
      }
  return *n ? &im->patches[first] : NULL;
}

/* ---- top level ---- */

/* Loads a mapping of named entries with fn for each entry's fields.  */
typedef void *(*entry_new_fn) (gsi_catalog *c, const char *name, int line);

static void *
new_base (gsi_catalog *c, const char *name, int line)
{
  gsi_catalog_base *b = &c->bases[c->n_bases++];
  b->name = xstrdup (name);
  b->line = line;
  return b;
}

static void *
new_release (gsi_catalog *c, const char *name, int line)
{
  gsi_catalog_release *r = &c->releases[c->n_releases++];
  r->name = xstrdup (name);
  r->line = line;
  return r;
}

static void *
new_image (gsi_catalog *c, const char *name, int line)
{
  gsi_catalog_image *im = &c->images[c->n_images++];
  im->name = xstrdup (name);
  im->line = line;
  return im;
}

static int
load_bases (loader *l, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node_pair *p;

  if (need_mapping (l, v, k, "bases") < 0)
    return -1;
  l->c->bases = xcalloc (fy_node_mapping_item_count (v) + 1, sizeof *l->c->bases);
  while ((p = fy_node_mapping_iterate (v, &it)) != NULL)
    {
      struct fy_node *bk = fy_node_pair_key (p), *bv = fy_node_pair_value (p);
      gsi_catalog_base *b = new_base (l->c, key_text (bk), key_line (bk));
      if (need_mapping (l, bv, bk, b->name) < 0 || walk_fields (l, bv, "a base", base_field, b) < 0)
        return -1;
      if (b->ref == NULL)
        return missing (l, bk, "ref", "base");
    }
  return 0;
}

static int
load_releases (loader *l, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node_pair *p;

  if (need_mapping (l, v, k, "releases") < 0)
    return -1;
  l->c->releases = xcalloc (fy_node_mapping_item_count (v) + 1, sizeof *l->c->releases);
  while ((p = fy_node_mapping_iterate (v, &it)) != NULL)
    {
      struct fy_node *rk = fy_node_pair_key (p), *rv = fy_node_pair_value (p);
      gsi_catalog_release *r = new_release (l->c, key_text (rk), key_line (rk));
      if (need_mapping (l, rv, rk, r->name) < 0 || walk_fields (l, rv, "a release", release_field, r) < 0)
        return -1;
      if (r->base == NULL)
        return missing (l, rk, "base", "release");
    }
  return 0;
}

static int
load_images (loader *l, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node_pair *p;

  if (need_mapping (l, v, k, "images") < 0)
    return -1;
  l->c->images = xcalloc (fy_node_mapping_item_count (v) + 1, sizeof *l->c->images);
  while ((p = fy_node_mapping_iterate (v, &it)) != NULL)
    {
      struct fy_node *ik = fy_node_pair_key (p), *iv = fy_node_pair_value (p);
      gsi_catalog_image *im = new_image (l->c, key_text (ik), key_line (ik));
      if (need_mapping (l, iv, ik, im->name) < 0 || walk_fields (l, iv, "an image", image_field, im) < 0
          || check_image (l, im, l->c->n_images - 1, ik) < 0)
        return -1;
    }
  return 0;
}

static int
tags_field (loader *l, void *obj, const char *key, struct fy_node *k, struct fy_node *v)
{
  gsi_catalog *c = obj;

  if (strcmp (key, "latest") == 0)
    return get_string (l, v, k, "latest", &c->tag_latest);
  if (strcmp (key, "immutable") == 0)
    return get_string (l, v, k, "immutable", &c->tag_immutable);
  return 1;
}

/* The order matters: images name releases, so releases are read first whatever the file order.  */
static struct fy_node *
top_get (struct fy_node *root, const char *key, struct fy_node **k)
{
  void *it = NULL;
  struct fy_node_pair *p;

  while ((p = fy_node_mapping_iterate (root, &it)) != NULL)
    if (strcmp (key_text (fy_node_pair_key (p)), key) == 0)
      {
        *k = fy_node_pair_key (p);
        return fy_node_pair_value (p);
      }
  *k = NULL;
  return NULL;
}

static int
check_top_keys (loader *l, struct fy_node *root)
{
  static const char *const known[] = { "registry", "source", "tags", "releases", "bases", "images", NULL };
  void *it = NULL;
  struct fy_node_pair *p;

  while ((p = fy_node_mapping_iterate (root, &it)) != NULL)
    {
      const char *key = key_text (fy_node_pair_key (p));
      size_t i = 0;
      while (known[i] && strcmp (known[i], key) != 0)
        i++;
      if (known[i] == NULL)
        return fail_at (l, fy_node_pair_key (p), NULL, "unknown key `%s` at the top level", key);
    }
  return 0;
}

static int
check_release_bases (loader *l, struct fy_node *rel_map)
{
  void *it = NULL;
  struct fy_node_pair *p;
  size_t i = 0;

  while ((p = fy_node_mapping_iterate (rel_map, &it)) != NULL)
    {
      gsi_catalog_release *r = &l->c->releases[i++];
      if (gsi_catalog_find_base (l->c, r->base) < 0)
        {
          struct fy_node *k = NULL, *v = top_get (fy_node_pair_value (p), "base", &k);
          return fail_at (l, v, k, "release `%s` uses base `%s`, which `bases` does not list", r->name, r->base);
        }
    }
  return 0;
}

static char *
derive_source (const char *registry)
{
  if (strncmp (registry, "ghcr.io/", 8) != 0)
    return NULL;
  return xasprintf ("https://github.com/%s", registry + 8);
}

static int
load_top (loader *l, struct fy_node *root)
{
  struct fy_node *k, *v;
  static const char *const required[] = { "registry", "releases", "bases", "images", NULL };

  if (root == NULL || !fy_node_is_mapping (root))
    return gsi_error_at (l->err, l->file, 1, 1, "the catalog must be a mapping");
  if (check_top_keys (l, root) < 0)
    return -1;
  for (size_t i = 0; required[i]; i++)
    if (top_get (root, required[i], &k) == NULL && k == NULL)
      return gsi_error_at (l->err, l->file, 1, 1, "the catalog has no `%s`", required[i]);
  v = top_get (root, "registry", &k);
  if (get_string (l, v, k, "registry", &l->c->registry) < 0)
    return -1;
  if ((v = top_get (root, "source", &k)) != NULL && get_string (l, v, k, "source", &l->c->source) < 0)
    return -1;
  if (l->c->source == NULL)
    l->c->source = derive_source (l->c->registry);
  if ((v = top_get (root, "tags", &k)) != NULL
      && (need_mapping (l, v, k, "tags") < 0 || walk_fields (l, v, "tags", tags_field, l->c) < 0))
    return -1;
  v = top_get (root, "bases", &k);
  if (load_bases (l, k, v) < 0)
    return -1;
  v = top_get (root, "releases", &k);
  if (load_releases (l, k, v) < 0 || check_release_bases (l, v) < 0)
    return -1;
  v = top_get (root, "images", &k);
  if (load_images (l, k, v) < 0)
    return -1;
  for (size_t i = 0; i < l->c->n_images; i++)
    if (load_patches (l->c, &l->c->images[i], l->err) < 0)
      return -1;
  for (size_t i = 0; i < l->c->n_releases; i++)
    {
      gsi_strvec *a = &l->c->releases[i].build_args;
      bool has = false;
      for (size_t j = 0; j < a->n && !has; j++)
        has = strncmp (a->v[j], "REGISTRY=", 9) == 0;
      if (!has)
        gsi_strvec_pushf (a, "REGISTRY=%s", l->c->registry);
    }
  return 0;
}

int
gsi_catalog_set_registry (gsi_catalog *c, const char *registry, gsi_error *err)
{
  const char *slash = strchr (registry, '/');
  cleanup_free char *domain = slash ? xstrndup (registry, (size_t) (slash - registry)) : NULL;

  if (domain == NULL || !gsi_reference_domain_valid (domain) || !gsi_reference_path_valid (slash + 1))
    return gsi_error_set (err, 0, "registry `%s` is not REGISTRY-HOST[:PORT]/PATH in the reference grammar",
                          registry);
  free (c->registry);
  c->registry = xstrdup (registry);
  for (size_t i = 0; i < c->n_releases; i++)
    {
      gsi_strvec *a = &c->releases[i].build_args;
      for (size_t j = 0; j < a->n; j++)
        if (strncmp (a->v[j], "REGISTRY=", 9) == 0)
          {
            free (a->v[j]);
            a->v[j] = xasprintf ("REGISTRY=%s", registry);
          }
    }
  return 0;
}

static struct fy_document *
parse_yaml (const char *path, gsi_error *err)
{
  gsi_buf text = GSI_BUF_INIT;
  struct fy_parse_cfg pcfg = { 0 };
  struct fy_document *doc;
  size_t len;

  if (gsi_buf_read_file (&text, path, err) < 0 || gsi_yaml_check_text (path, text.buf, text.len, err) < 0
      || (pcfg.diag = gsi_yaml_diag_new (path, err)) == NULL)
    {
      gsi_buf_release (&text);
      return NULL;
    }
  pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_DOC;
  /* The document keeps the text and frees it with itself.  */
  len = text.len;
  doc = fy_document_build_from_malloc_string (&pcfg, gsi_buf_detach (&text, NULL), len);
  if (doc == NULL)
    gsi_yaml_diag_error (pcfg.diag, path, err);
  gsi_yaml_diag_release (pcfg.diag);
  return doc;
}

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');
  if (slash == NULL)
    return xstrdup (".");
  if (slash == path)
    return xstrdup ("/");
  return xstrndup (path, slash - path);
}

int
gsi_catalog_load (const char *path, gsi_catalog **out, gsi_error *err)
{
  gsi_catalog *c = xcalloc (1, sizeof *c);
  loader l = { c, path, err };
  struct fy_document *doc;
  int r;

  *out = NULL;
  c->path = xstrdup (path);
  c->root = dir_of (path);
  c->tag_latest = xstrdup ("{release}-latest");
  c->tag_immutable = xstrdup ("{release}-{date}");
  doc = parse_yaml (path, err);
  if (doc == NULL)
    {
      gsi_catalog_free (c);
      return -1;
    }
  r = load_top (&l, fy_document_root (doc));
  fy_document_destroy (doc);
  if (r < 0)
    {
      gsi_catalog_free (c);
      return -1;
    }
  *out = c;
  return 0;
}

void
gsi_catalog_free (gsi_catalog *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n_bases; i++)
    {
      gsi_catalog_base *b = &c->bases[i];
      free (b->name), free (b->ref), free (b->distro), free (b->suite), free (b->variant), free (b->mirror);
      gsi_strvec_clear (&b->aptopts);
    }
  for (size_t i = 0; i < c->n_releases; i++)
    {
      free (c->releases[i].name), free (c->releases[i].suite), free (c->releases[i].base);
      free (c->releases[i].pip_index_url);
      gsi_strvec_clear (&c->releases[i].build_args);
    }
  for (size_t i = 0; i < c->n_images; i++)
    {
      gsi_catalog_image *im = &c->images[i];
      for (size_t j = 0; j < im->n_releases; j++)
        free (im->releases[j].release), free (im->releases[j].reason);
      for (size_t j = 0; j < im->n_patches; j++)
        {
          gsi_catalog_patch *p = &im->patches[j];
          free (p->release), free (p->package), free (p->fixed), free (p->reason);
          gsi_strvec_clear (&p->advisories);
        }
      free (im->patches), free (im->patch_file);
      free (im->releases), free (im->name), free (im->description), free (im->service_package);
      gsi_strvec_clear (&im->smoke);
    }
  free (c->bases), free (c->releases), free (c->images);
  free (c->path), free (c->root), free (c->registry), free (c->source);
  free (c->tag_latest), free (c->tag_immutable);
  free (c);
}

int
gsi_catalog_find_image (const gsi_catalog *c, const char *name)
{
  for (size_t i = 0; i < c->n_images; i++)
    if (strcmp (c->images[i].name, name) == 0)
      return (int) i;
  return -1;
}

int
gsi_catalog_find_release (const gsi_catalog *c, const char *name)
{
  for (size_t i = 0; i < c->n_releases; i++)
    if (strcmp (c->releases[i].name, name) == 0)
      return (int) i;
  return -1;
}

int
gsi_catalog_find_base (const gsi_catalog *c, const char *name)
{
  for (size_t i = 0; i < c->n_bases; i++)
    if (strcmp (c->bases[i].name, name) == 0)
      return (int) i;
  return -1;
}

bool
gsi_catalog_available (const gsi_catalog *c, size_t image, const char *release, const char **reason)
{
  const gsi_catalog_image *im = &c->images[image];

  if (reason)
    *reason = NULL;
  for (size_t i = 0; i < im->n_releases; i++)
    if (strcmp (im->releases[i].release, release) == 0)
      {
        if (reason)
          *reason = im->releases[i].reason;
        return im->releases[i].available;
      }
  return true;
}

char *
gsi_catalog_containerfile (const gsi_catalog *c, size_t image)
{
  return xasprintf ("%s/ContainerFiles/%s", c->root, c->images[image].name);
}

char *
gsi_catalog_tag (const gsi_catalog *c, const char *tmpl, const char *image, const char *release, const char *date)
{
  gsi_buf b = GSI_BUF_INIT;

  if (image)
    gsi_buf_addf (&b, "%s/%s:", c->registry, image);
  for (const char *p = tmpl; *p;)
    {
      if (strncmp (p, "{release}", 9) == 0)
        gsi_buf_addstr (&b, release), p += 9;
      else if (strncmp (p, "{date}", 6) == 0)
        gsi_buf_addstr (&b, date), p += 6;
      else
        gsi_buf_addch (&b, *p++);
    }
  return gsi_buf_detach (&b, NULL);
}
