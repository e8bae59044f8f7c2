#include "oci/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "util/xalloc.h"

#define MAX_MANIFEST_SIZE ((size_t) 8 << 20)
#define MAX_CONFIG_SIZE ((size_t) 32 << 20)

/* ---- config struct helpers -------------------------------------------------------------------- */

void
gsi_image_config_init (gsi_image_config *c)
{
  memset (c, 0, sizeof *c);
}

static void
history_clear (gsi_history *h)
{
  free (h->created);
  free (h->created_by);
  free (h->author);
  free (h->comment);
}

void
gsi_image_config_clear (gsi_image_config *c)
{
  char **strs[] = { &c->created, &c->author, &c->architecture, &c->os, &c->variant, &c->os_version,
                    &c->user, &c->working_dir, &c->stop_signal };
  gsi_strvec *vecs[] = { &c->exposed_ports, &c->env, &c->entrypoint, &c->cmd, &c->volumes,
                         &c->healthcheck.test, &c->onbuild, &c->shell, &c->diff_ids };

  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    free (*strs[i]);
  for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
    gsi_strvec_clear (vecs[i]);
  gsi_kv_clear (&c->labels);
  for (size_t i = 0; i < c->n_history; i++)
    history_clear (&c->history[i]);
  free (c->history);
  gsi_image_config_init (c);
}

static char *
dup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

static void
strvec_copy (gsi_strvec *dst, const gsi_strvec *src)
{
  for (size_t i = 0; i < src->n; i++)
    gsi_strvec_push (dst, src->v[i]);
}

void
gsi_image_config_copy (gsi_image_config *dst, const gsi_image_config *src)
{
  gsi_image_config_clear (dst);
  dst->created = dup_or_null (src->created);
  dst->author = dup_or_null (src->author);
  dst->architecture = dup_or_null (src->architecture);
  dst->os = dup_or_null (src->os);
  dst->variant = dup_or_null (src->variant);
  dst->os_version = dup_or_null (src->os_version);
  dst->user = dup_or_null (src->user);
  dst->working_dir = dup_or_null (src->working_dir);
  dst->stop_signal = dup_or_null (src->stop_signal);
  strvec_copy (&dst->exposed_ports, &src->exposed_ports);
  strvec_copy (&dst->env, &src->env);
  strvec_copy (&dst->entrypoint, &src->entrypoint);
  strvec_copy (&dst->cmd, &src->cmd);
  strvec_copy (&dst->volumes, &src->volumes);
  strvec_copy (&dst->onbuild, &src->onbuild);
  strvec_copy (&dst->shell, &src->shell);
  strvec_copy (&dst->diff_ids, &src->diff_ids);
  gsi_kv_copy (&dst->labels, &src->labels);
  strvec_copy (&dst->healthcheck.test, &src->healthcheck.test);
  dst->healthcheck.interval = src->healthcheck.interval;
  dst->healthcheck.timeout = src->healthcheck.timeout;
  dst->healthcheck.start_period = src->healthcheck.start_period;
  dst->healthcheck.start_interval = src->healthcheck.start_interval;
  dst->healthcheck.retries = src->healthcheck.retries;
  for (size_t i = 0; i < src->n_history; i++)
    {
      const gsi_history *h = &src->history[i];
      gsi_image_config_add_history (dst, h->created, h->created_by, h->comment, h->empty_layer);
      dst->history[dst->n_history - 1].author = dup_or_null (h->author);
    }
}

static ssize_t
env_find (const gsi_image_config *c, const char *key)
{
  size_t klen = strlen (key);

  for (size_t i = 0; i < c->env.n; i++)
    if (strncmp (c->env.v[i], key, klen) == 0 && (c->env.v[i][klen] == '=' || c->env.v[i][klen] == '\0'))
      return (ssize_t) i;
  return -1;
}

void
gsi_image_config_set_env (gsi_image_config *c, const char *key, const char *value)
{
  ssize_t i = env_find (c, key);
  char *kv = xasprintf ("%s=%s", key, value);

  if (i < 0)
    {
      gsi_strvec_push_owned (&c->env, kv);
      return;
    }
  free (c->env.v[i]);
  c->env.v[i] = kv;
}

const char *
gsi_image_config_get_env (const gsi_image_config *c, const char *key)
{
  ssize_t i = env_find (c, key);
  const char *eq;

  if (i < 0)
    return NULL;
  eq = strchr (c->env.v[i], '=');
  return eq ? eq + 1 : "";
}

static void
strvec_add_unique (gsi_strvec *sv, char *owned)
{
  for (size_t i = 0; i < sv->n; i++)
    if (strcmp (sv->v[i], owned) == 0)
      {
        free (owned);
        return;
      }
  gsi_strvec_push_owned (sv, owned);
}

void
gsi_image_config_add_port (gsi_image_config *c, const char *port)
{
  strvec_add_unique (&c->exposed_ports, strchr (port, '/') ? xstrdup (port) : xasprintf ("%s/tcp", port));
}

void
gsi_image_config_add_volume (gsi_image_config *c, const char *path)
{
  strvec_add_unique (&c->volumes, xstrdup (path));
}

void
gsi_image_config_add_history (gsi_image_config *c, const char *created, const char *created_by, const char *comment,
                              bool empty_layer)
{
  gsi_history *h;

  GSI_ALLOC_GROW (c->history, c->n_history + 1, c->alloc_history);
  h = &c->history[c->n_history++];
  memset (h, 0, sizeof *h);
  h->created = dup_or_null (created);
  h->created_by = dup_or_null (created_by);
  h->comment = dup_or_null (comment);
  h->empty_layer = empty_layer;
}

/* ---- JSON building ---------------------------------------------------------------------------- */

/* Sets key to a string, reporting invalid UTF-8 (jansson refuses it in keys and values).  */
static int
jset_str (json_t *obj, const char *key, const char *value, gsi_error *err)
{
  json_t *v;

  if (value == NULL)
    return 0;
  v = json_string (value);
  if (v == NULL)
    return gsi_error_set (err, 0, "value of `%s` is not valid UTF-8", key);
  if (json_object_set_new (obj, key, v) < 0)
    return gsi_error_set (err, 0, "key `%.64s` is not valid UTF-8", key);
  return 0;
}

static int
jset_array (json_t *obj, const char *key, const gsi_strvec *sv, gsi_error *err)
{
  json_t *a;

  if (sv->n == 0)
    return 0;
  a = json_array ();
  json_object_set_new (obj, key, a);
  for (size_t i = 0; i < sv->n; i++)
    {
      json_t *v = json_string (sv->v[i]);
      if (v == NULL)
        return gsi_error_set (err, 0, "`%s` entry %zu is not valid UTF-8", key, i);
      json_array_append_new (a, v);
    }
  return 0;
}

/* A set as Go's map[string]struct{} serialises it: {"80/tcp":{}}.  */
static int
jset_set (json_t *obj, const char *key, const gsi_strvec *sv, gsi_error *err)
{
  json_t *o;

  if (sv->n == 0)
    return 0;
  o = json_object ();
  json_object_set_new (obj, key, o);
  for (size_t i = 0; i < sv->n; i++)
    if (json_object_set_new (o, sv->v[i], json_object ()) < 0)
      return gsi_error_set (err, 0, "`%s` entry %zu is not valid UTF-8", key, i);
  return 0;
}

static int
jset_kv (json_t *obj, const char *key, const gsi_kv *kv, gsi_error *err)
{
  json_t *o;

  if (kv->keys.n == 0)
    return 0;
  o = json_object ();
  json_object_set_new (obj, key, o);
  for (size_t i = 0; i < kv->keys.n; i++)
    if (jset_str (o, kv->keys.v[i], kv->values.v[i], err) < 0)
      return gsi_error_wrap (err, "%s", key);
  return 0;
}

static void
jset_int (json_t *obj, const char *key, int64_t v)
{
  if (v != 0)
    json_object_set_new (obj, key, json_integer (v));
}

static int
healthcheck_json (json_t *config, const gsi_healthcheck *h, gsi_error *err)
{
  json_t *o;

  if (h->test.n == 0)
    return 0;
  o = json_object ();
  json_object_set_new (config, "Healthcheck", o);
  jset_int (o, "Interval", h->interval);
  jset_int (o, "Timeout", h->timeout);
  jset_int (o, "StartPeriod", h->start_period);
  jset_int (o, "StartInterval", h->start_interval);
  jset_int (o, "Retries", h->retries);
  return jset_array (o, "Test", &h->test, err);
}

static int
container_config_json (json_t *root, const gsi_image_config *c, gsi_error *err)
{
  json_t *o = json_object ();

  json_object_set_new (root, "config", o);
  if (jset_str (o, "User", c->user, err) < 0 || jset_set (o, "ExposedPorts", &c->exposed_ports, err) < 0
      || jset_array (o, "Env", &c->env, err) < 0 || jset_array (o, "Entrypoint", &c->entrypoint, err) < 0
      || jset_array (o, "Cmd", &c->cmd, err) < 0 || jset_set (o, "Volumes", &c->volumes, err) < 0
      || jset_str (o, "WorkingDir", c->working_dir, err) < 0 || jset_kv (o, "Labels", &c->labels, err) < 0
      || jset_str (o, "StopSignal", c->stop_signal, err) < 0 || healthcheck_json (o, &c->healthcheck, err) < 0
      || jset_array (o, "OnBuild", &c->onbuild, err) < 0 || jset_array (o, "Shell", &c->shell, err) < 0)
    return -1;
  return 0;
}

static int
rootfs_json (json_t *root, const gsi_image_config *c, gsi_error *err)
{
  json_t *o = json_object ();
  json_t *ids = json_array ();

  json_object_set_new (root, "rootfs", o);
  json_object_set_new (o, "type", json_string ("layers"));
  json_object_set_new (o, "diff_ids", ids);
  for (size_t i = 0; i < c->diff_ids.n; i++)
    {
      if (gsi_digest_validate (c->diff_ids.v[i], err) < 0)
        return gsi_error_wrap (err, "rootfs.diff_ids[%zu]", i);
      json_array_append_new (ids, json_string (c->diff_ids.v[i]));
    }
  return 0;
}

static int
history_json (json_t *root, const gsi_image_config *c, gsi_error *err)
{
  json_t *a;

  if (c->n_history == 0)
    return 0;
  a = json_array ();
  json_object_set_new (root, "history", a);
  for (size_t i = 0; i < c->n_history; i++)
    {
      const gsi_history *h = &c->history[i];
      json_t *o = json_object ();
      json_array_append_new (a, o);
      if (jset_str (o, "created", h->created, err) < 0 || jset_str (o, "created_by", h->created_by, err) < 0
          || jset_str (o, "author", h->author, err) < 0 || jset_str (o, "comment", h->comment, err) < 0)
        return gsi_error_wrap (err, "history[%zu]", i);
      if (h->empty_layer)
        json_object_set_new (o, "empty_layer", json_true ());
    }
  return 0;
}

static int
dump_json (json_t *j, char **out, size_t *len, gsi_error *err)
{
  char *text = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);

  if (text == NULL)
    return gsi_error_set (err, ENOMEM, "serialise JSON");
  *out = text;
  if (len)
    *len = strlen (text);
  return 0;
}

int
gsi_image_config_to_json (const gsi_image_config *c, char **out, size_t *len, gsi_error *err)
{
  json_t *root;
  int r;

  if (c->architecture == NULL || c->os == NULL)
    return gsi_error_set (err, 0, "image config: `architecture` and `os` are required");
  root = json_object ();
  r = jset_str (root, "architecture", c->architecture, err);
  if (r == 0)
    r = jset_str (root, "os", c->os, err);
  if (r == 0)
    r = jset_str (root, "variant", c->variant, err);
  if (r == 0)
    r = jset_str (root, "os.version", c->os_version, err);
  if (r == 0)
    r = jset_str (root, "created", c->created, err);
  if (r == 0)
    r = jset_str (root, "author", c->author, err);
  if (r == 0)
    r = container_config_json (root, c, err);
  if (r == 0)
    r = rootfs_json (root, c, err);
  if (r == 0)
    r = history_json (root, c, err);
  if (r == 0)
    r = dump_json (root, out, len, err);
  json_decref (root);
  return r < 0 ? gsi_error_wrap (err, "image config") : 0;
}

/* ---- JSON parsing ----------------------------------------------------------------------------- */

static int
get_str (json_t *obj, const char *key, char **out, gsi_error *err)
{
  json_t *v = json_object_get (obj, key);

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return gsi_error_set (err, 0, "`%s` is not a string", key);
  free (*out);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int
get_array (json_t *obj, const char *key, gsi_strvec *out, gsi_error *err)
{
  json_t *v = json_object_get (obj, key), *e;
  size_t i;

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_array (v))
    return gsi_error_set (err, 0, "`%s` is not an array", key);
  json_array_foreach (v, i, e)
    {
      if (!json_is_string (e))
        return gsi_error_set (err, 0, "`%s` entry %zu is not a string", key, i);
      gsi_strvec_push (out, json_string_value (e));
    }
  return 0;
}

static int
get_set (json_t *obj, const char *key, gsi_strvec *out, gsi_error *err)
{
  json_t *v = json_object_get (obj, key), *e;
  const char *k;

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return gsi_error_set (err, 0, "`%s` is not an object", key);
  json_object_foreach (v, k, e)
    gsi_strvec_push (out, k);
  return 0;
}

static int
get_kv (json_t *obj, const char *key, gsi_kv *out, gsi_error *err)
{
  json_t *v = json_object_get (obj, key), *e;
  const char *k;

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_object (v))
    return gsi_error_set (err, 0, "`%s` is not an object", key);
  json_object_foreach (v, k, e)
    {
      if (!json_is_string (e))
        return gsi_error_set (err, 0, "`%s` value of `%s` is not a string", key, k);
      gsi_kv_set (out, k, json_string_value (e));
    }
  return 0;
}

static int
get_int (json_t *obj, const char *key, int64_t *out, gsi_error *err)
{
  json_t *v = json_object_get (obj, key);

  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_integer (v))
    return gsi_error_set (err, 0, "`%s` is not an integer", key);
  *out = json_integer_value (v);
  return 0;
}

static int
parse_healthcheck (json_t *config, gsi_healthcheck *h, gsi_error *err)
{
  json_t *o = json_object_get (config, "Healthcheck");
  int64_t retries = 0;

  if (o == NULL || json_is_null (o))
    return 0;
  if (!json_is_object (o))
    return gsi_error_set (err, 0, "`Healthcheck` is not an object");
  if (get_array (o, "Test", &h->test, err) < 0 || get_int (o, "Interval", &h->interval, err) < 0
      || get_int (o, "Timeout", &h->timeout, err) < 0 || get_int (o, "StartPeriod", &h->start_period, err) < 0
      || get_int (o, "StartInterval", &h->start_interval, err) < 0 || get_int (o, "Retries", &retries, err) < 0)
    return gsi_error_wrap (err, "Healthcheck");
  h->retries = (int) retries;
  return 0;
}

static int
parse_container_config (json_t *root, gsi_image_config *c, gsi_error *err)
{
  json_t *o = json_object_get (root, "config");

  if (o == NULL || json_is_null (o))
    return 0;
  if (!json_is_object (o))
    return gsi_error_set (err, 0, "`config` is not an object");
  if (get_str (o, "User", &c->user, err) < 0 || get_set (o, "ExposedPorts", &c->exposed_ports, err) < 0
      || get_array (o, "Env", &c->env, err) < 0 || get_array (o, "Entrypoint", &c->entrypoint, err) < 0
      || get_array (o, "Cmd", &c->cmd, err) < 0 || get_set (o, "Volumes", &c->volumes, err) < 0
      || get_str (o, "WorkingDir", &c->working_dir, err) < 0 || get_kv (o, "Labels", &c->labels, err) < 0
      || get_str (o, "StopSignal", &c->stop_signal, err) < 0 || parse_healthcheck (o, &c->healthcheck, err) < 0
      || get_array (o, "OnBuild", &c->onbuild, err) < 0 || get_array (o, "Shell", &c->shell, err) < 0)
    return gsi_error_wrap (err, "config");
  return 0;
}

static int
parse_rootfs (json_t *root, gsi_image_config *c, gsi_error *err)
{
  json_t *o = json_object_get (root, "rootfs");

  if (o == NULL || json_is_null (o))
    return 0;
  if (!json_is_object (o))
    return gsi_error_set (err, 0, "`rootfs` is not an object");
  if (get_array (o, "diff_ids", &c->diff_ids, err) < 0)
    return gsi_error_wrap (err, "rootfs");
  for (size_t i = 0; i < c->diff_ids.n; i++)
    if (gsi_digest_validate (c->diff_ids.v[i], err) < 0)
      return gsi_error_wrap (err, "rootfs.diff_ids[%zu]", i);
  return 0;
}

static int
parse_history (json_t *root, gsi_image_config *c, gsi_error *err)
{
  json_t *a = json_object_get (root, "history"), *e;
  size_t i;

  if (a == NULL || json_is_null (a))
    return 0;
  if (!json_is_array (a))
    return gsi_error_set (err, 0, "`history` is not an array");
  json_array_foreach (a, i, e)
    {
      gsi_history *h;
      if (!json_is_object (e))
        return gsi_error_set (err, 0, "history[%zu] is not an object", i);
      gsi_image_config_add_history (c, NULL, NULL, NULL, json_is_true (json_object_get (e, "empty_layer")));
      h = &c->history[c->n_history - 1];
      if (get_str (e, "created", &h->created, err) < 0 || get_str (e, "created_by", &h->created_by, err) < 0
          || get_str (e, "author", &h->author, err) < 0 || get_str (e, "comment", &h->comment, err) < 0)
        return gsi_error_wrap (err, "history[%zu]", i);
    }
  return 0;
}

static json_t *
parse_object (const char *data, size_t len, const char *what, gsi_error *err)
{
  json_error_t jerr;
  json_t *root = json_loadb (data, len, 0, &jerr);

  if (root == NULL)
    return gsi_error_set (err, 0, "%s: invalid JSON at line %d column %d: %s", what, jerr.line, jerr.column,
                          jerr.text),
           NULL;
  if (!json_is_object (root))
    {
      json_decref (root);
      return gsi_error_set (err, 0, "%s: not a JSON object", what), NULL;
    }
  return root;
}

int
gsi_image_config_from_json (const char *data, size_t len, gsi_image_config *c, gsi_error *err)
{
  json_t *root = parse_object (data, len, "image config", err);
  int r;

  gsi_image_config_clear (c);
  if (root == NULL)
    return -1;
  r = get_str (root, "architecture", &c->architecture, err);
  if (r == 0)
    r = get_str (root, "os", &c->os, err);
  if (r == 0)
    r = get_str (root, "variant", &c->variant, err);
  if (r == 0)
    r = get_str (root, "os.version", &c->os_version, err);
  if (r == 0)
    r = get_str (root, "created", &c->created, err);
  if (r == 0)
    r = get_str (root, "author", &c->author, err);
  if (r == 0)
    r = parse_container_config (root, c, err);
  if (r == 0)
    r = parse_rootfs (root, c, err);
  if (r == 0)
    r = parse_history (root, c, err);
  json_decref (root);
  return r < 0 ? gsi_error_wrap (err, "image config") : 0;
}

/* ---- manifests -------------------------------------------------------------------------------- */

void
gsi_manifest_init (gsi_manifest *m)
{
  memset (m, 0, sizeof *m);
}

void
gsi_manifest_clear (gsi_manifest *m)
{
  free (m->media_type);
  gsi_descriptor_clear (&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    gsi_descriptor_clear (&m->layers[i]);
  free (m->layers);
  gsi_kv_clear (&m->annotations);
  gsi_manifest_init (m);
}

void
gsi_manifest_add_layer (gsi_manifest *m, const gsi_descriptor *layer)
{
  GSI_ALLOC_GROW (m->layers, m->n_layers + 1, m->alloc_layers);
  gsi_descriptor_init (&m->layers[m->n_layers]);
  gsi_descriptor_copy (&m->layers[m->n_layers], layer);
  m->n_layers++;
}

static int
manifest_build (const gsi_manifest *m, json_t *root, gsi_error *err)
{
  json_t *layers = json_array ();
  json_t *cfg;

  json_object_set_new (root, "schemaVersion", json_integer (2));
  json_object_set_new (root, "layers", layers);
  if (jset_str (root, "mediaType", m->media_type ? m->media_type : GSI_MEDIA_OCI_MANIFEST, err) < 0)
    return -1;
  cfg = gsi_descriptor_to_json (&m->config, err);
  if (cfg == NULL)
    return gsi_error_wrap (err, "config");
  json_object_set_new (root, "config", cfg);
  for (size_t i = 0; i < m->n_layers; i++)
    {
      json_t *l = gsi_descriptor_to_json (&m->layers[i], err);
      if (l == NULL)
        return gsi_error_wrap (err, "layers[%zu]", i);
      json_array_append_new (layers, l);
    }
  return jset_kv (root, "annotations", &m->annotations, err);
}

int
gsi_manifest_to_json (const gsi_manifest *m, char **out, size_t *len, gsi_error *err)
{
  json_t *root = json_object ();
  int r = manifest_build (m, root, err);

  if (r == 0)
    r = dump_json (root, out, len, err);
  json_decref (root);
  return r < 0 ? gsi_error_wrap (err, "image manifest") : 0;
}

static int
manifest_parse (json_t *root, gsi_manifest *m, gsi_error *err)
{
  json_t *sv = json_object_get (root, "schemaVersion");
  json_t *layers = json_object_get (root, "layers"), *l;
  size_t i;

  if (!json_is_integer (sv) || json_integer_value (sv) != 2)
    return gsi_error_set (err, 0, "`schemaVersion` is not 2");
  if (get_str (root, "mediaType", &m->media_type, err) < 0)
    return -1;
  if (m->media_type && (strcmp (m->media_type, GSI_MEDIA_OCI_INDEX) == 0
                        || strcmp (m->media_type, GSI_MEDIA_DOCKER_LIST) == 0))
    return gsi_error_set (err, 0, "`%s` is an index, not an image manifest", m->media_type);
  if (gsi_descriptor_from_json (json_object_get (root, "config"), &m->config, err) < 0)
    return gsi_error_wrap (err, "config");
  if (!json_is_array (layers))
    return gsi_error_set (err, 0, "`layers` is not an array");
  json_array_foreach (layers, i, l)
    {
      gsi_descriptor d = GSI_DESCRIPTOR_INIT;
      int r = gsi_descriptor_from_json (l, &d, err);
      if (r == 0)
        gsi_manifest_add_layer (m, &d);
      gsi_descriptor_clear (&d);
      if (r < 0)
        return gsi_error_wrap (err, "layers[%zu]", i);
    }
  return get_kv (root, "annotations", &m->annotations, err);
}

int
gsi_manifest_from_json (const char *data, size_t len, gsi_manifest *m, gsi_error *err)
{
  json_t *root = parse_object (data, len, "image manifest", err);
  int r;

  gsi_manifest_clear (m);
  if (root == NULL)
    return -1;
  r = manifest_parse (root, m, err);
  json_decref (root);
  return r < 0 ? gsi_error_wrap (err, "image manifest") : 0;
}

/* ---- small helpers ---------------------------------------------------------------------------- */

const char *
gsi_layer_media_type (gsi_compression comp)
{
  switch (comp)
    {
    case GSI_COMP_GZIP:
      return GSI_MEDIA_OCI_LAYER_GZIP;
    case GSI_COMP_ZSTD:
      return GSI_MEDIA_OCI_LAYER_ZSTD;
    case GSI_COMP_NONE:
      break;
    }
  return GSI_MEDIA_OCI_LAYER;
}

void
gsi_descriptor_set_layer (gsi_descriptor *d, const gsi_blob_info *info, gsi_compression comp)
{
  gsi_descriptor_set (d, gsi_layer_media_type (comp), info->digest, (int64_t) info->size);
}

const char *
gsi_host_arch (void)
{
  static const struct
  {
    const char *machine, *arch;
  } map[] = {
    { "x86_64", "amd64" },   { "aarch64", "arm64" }, { "arm64", "arm64" }, { "armv8l", "arm" },
    { "armv7l", "arm" },     { "armv6l", "arm" },    { "i386", "386" },    { "i486", "386" },
    { "i586", "386" },       { "i686", "386" },      { "ppc64le", "ppc64le" }, { "ppc64", "ppc64" },
    { "s390x", "s390x" },    { "riscv64", "riscv64" }, { "loongarch64", "loong64" }, { "mips64", "mips64le" },
  };
  struct utsname u;

  if (uname (&u) == 0)
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
      if (strcmp (u.machine, map[i].machine) == 0)
        return map[i].arch;
  return "amd64";
}

void
gsi_format_time (int64_t epoch, char out[32])
{
  time_t t = (time_t) epoch;
  struct tm tm;

  if (gmtime_r (&t, &tm) == NULL || strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf (out, 32, "1970-01-01T00:00:00Z");
}

/* ---- store operations ------------------------------------------------------------------------- */

static int
check_image_shape (const gsi_image_config *cfg, size_t n_layers, gsi_error *err)
{
  size_t with_layer = 0;

  if (cfg->diff_ids.n != n_layers)
    return gsi_error_set (err, 0, "the config lists %zu diff_ids for %zu layers", cfg->diff_ids.n, n_layers);
  if (cfg->n_history == 0)
    return 0;
  for (size_t i = 0; i < cfg->n_history; i++)
    with_layer += !cfg->history[i].empty_layer;
  /* Docker's load and Buildah's cache both pair history entries with layers by this count.  */
  if (with_layer != n_layers)
    return gsi_error_set (err, 0, "history has %zu entries with a layer for %zu layers", with_layer, n_layers);
  return 0;
}

static int
put_config (gsi_store *s, const gsi_image_config *cfg, gsi_descriptor *d, gsi_error *err)
{
  cleanup_free char *json = NULL;
  char digest[GSI_DIGEST_BUF];
  size_t len = 0;

  if (gsi_image_config_to_json (cfg, &json, &len, err) < 0 || gsi_store_put_blob (s, json, len, digest, err) < 0)
    return -1;
  gsi_descriptor_set (d, GSI_MEDIA_OCI_CONFIG, digest, (int64_t) len);
  return 0;
}

static int
put_manifest (gsi_store *s, const gsi_manifest *m, const gsi_image_config *cfg, gsi_descriptor *d, gsi_error *err)
{
  cleanup_free char *json = NULL;
  char digest[GSI_DIGEST_BUF];
  size_t len = 0;

  if (gsi_manifest_to_json (m, &json, &len, err) < 0 || gsi_store_put_blob (s, json, len, digest, err) < 0)
    return -1;
  gsi_descriptor_set (d, GSI_MEDIA_OCI_MANIFEST, digest, (int64_t) len);
  d->platform_os = xstrdup (cfg->os);
  d->platform_arch = xstrdup (cfg->architecture);
  d->platform_variant = dup_or_null (cfg->variant);
  return 0;
}

static int
commit_image (gsi_store *s, const gsi_image_config *cfg, const gsi_descriptor *layers, size_t n_layers,
              const gsi_kv *annotations, gsi_manifest *m, gsi_descriptor *d, gsi_error *err)
{
  if (check_image_shape (cfg, n_layers, err) < 0)
    return -1;
  for (size_t i = 0; i < n_layers; i++)
    {
      if (!gsi_store_has_blob (s, layers[i].digest))
        return gsi_error_set (err, 0, "layer %zu (`%s`) is not in the store", i, layers[i].digest);
      gsi_manifest_add_layer (m, &layers[i]);
    }
  if (annotations)
    gsi_kv_copy (&m->annotations, annotations);
  if (put_config (s, cfg, &m->config, err) < 0)
    return -1;
  return put_manifest (s, m, cfg, d, err);
}

int
gsi_store_commit_image (gsi_store *s, const gsi_image_config *cfg, const gsi_descriptor *layers, size_t n_layers,
                        const gsi_kv *manifest_annotations, const char *ref, gsi_descriptor *out, gsi_error *err)
{
  gsi_manifest m;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  int r;

  gsi_manifest_init (&m);
  r = commit_image (s, cfg, layers, n_layers, manifest_annotations, &m, &d, err);
  if (r == 0 && ref)
    r = gsi_store_tag (s, ref, &d, err);
  if (r == 0 && out)
    gsi_descriptor_copy (out, &d);
  gsi_manifest_clear (&m);
  gsi_descriptor_clear (&d);
  return r < 0 ? gsi_error_wrap (err, "commit image") : 0;
}

/* Picks the index entry for linux on this machine's architecture.  */
static int
pick_platform (gsi_store *s, gsi_descriptor *d, gsi_error *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0, i;
  json_t *idx, *e;
  const char *arch = gsi_host_arch ();
  int r = -1;

  if (gsi_store_read_blob (s, d->digest, d->size, MAX_MANIFEST_SIZE, &data, &len, err) < 0)
    return -1;
  idx = parse_object (data, len, "image index", err);
  if (idx == NULL)
    return -1;
  json_array_foreach (json_object_get (idx, "manifests"), i, e)
    {
      json_t *p = json_object_get (e, "platform");
      const char *os = json_string_value (json_object_get (p, "os"));
      const char *a = json_string_value (json_object_get (p, "architecture"));
      if (os && a && strcmp (os, "linux") == 0 && strcmp (a, arch) == 0)
        {
          r = gsi_descriptor_from_json (e, d, err);
          break;
        }
    }
  if (i == json_array_size (json_object_get (idx, "manifests")))
    gsi_error_set (err, 0, "index `%s` has no image for linux/%s", d->digest, arch);
  json_decref (idx);
  return r;
}

static bool
is_index (const char *mt)
{
  return mt && (strcmp (mt, GSI_MEDIA_OCI_INDEX) == 0 || strcmp (mt, GSI_MEDIA_DOCKER_LIST) == 0);
}

static int
load_image (gsi_store *s, const char *ref, gsi_descriptor *d, gsi_manifest *m, gsi_image_config *cfg,
            gsi_error *err)
{
  cleanup_free char *mdata = NULL;
  cleanup_free char *cdata = NULL;
  size_t mlen = 0, clen = 0;

  if (gsi_store_resolve (s, ref, d, err) < 0)
    return -1;
  /* Two levels at most: an index of indexes is not an image.  */
  for (int i = 0; i < 2 && is_index (d->media_type); i++)
    if (pick_platform (s, d, err) < 0)
      return -1;
  if (gsi_store_read_blob (s, d->digest, d->size, MAX_MANIFEST_SIZE, &mdata, &mlen, err) < 0
      || gsi_manifest_from_json (mdata, mlen, m, err) < 0)
    return -1;
  if (cfg == NULL)
    return 0;
  if (gsi_store_read_blob (s, m->config.digest, m->config.size, MAX_CONFIG_SIZE, &cdata, &clen, err) < 0)
    return -1;
  return gsi_image_config_from_json (cdata, clen, cfg, err);
}

int
gsi_store_load_image (gsi_store *s, const char *ref, gsi_descriptor *manifest_desc, gsi_manifest *m,
                      gsi_image_config *cfg, gsi_error *err)
{
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_manifest mm;
  int r;

  gsi_manifest_init (&mm);
  if (manifest_desc)
    gsi_descriptor_clear (manifest_desc);
  if (m)
    gsi_manifest_clear (m);
  if (cfg)
    gsi_image_config_clear (cfg);
  r = load_image (s, ref, &d, &mm, cfg, err);
  if (r == 0 && manifest_desc)
    gsi_descriptor_copy (manifest_desc, &d);
  if (r == 0 && m)
    {
      *m = mm;
      gsi_manifest_init (&mm);
    }
  gsi_manifest_clear (&mm);
  gsi_descriptor_clear (&d);
  if (r < 0 && cfg)
    gsi_image_config_clear (cfg);
  return r < 0 ? gsi_error_wrap (err, "load image `%s`", ref) : 0;
}

/* ---- import ----------------------------------------------------------------------------------- */

typedef struct import_ctx
{
  gsi_blob_writer *w;
  gsi_error werr; /* the blob writer's error, which libarchive cannot carry */
} import_ctx;

static la_ssize_t
import_write (struct archive *a, void *data, const void *buf, size_t len)
{
  import_ctx *ctx = data;

  if (gsi_blob_writer_write (ctx->w, buf, len, &ctx->werr) < 0)
    {
      archive_set_error (a, EIO, "blob writer failed");
      return -1;
    }
  return (la_ssize_t) len;
}

static int
archive_fail (struct archive *a, import_ctx *ctx, const char *what, gsi_error *err)
{
  if (ctx->werr.msg)
    {
      gsi_error_set (err, 0, "%s", ctx->werr.msg);
      if (err)
        err->code = ctx->werr.code;
      return gsi_error_wrap (err, "%s", what);
    }
  return gsi_error_set (err, archive_errno (a) > 0 ? archive_errno (a) : 0, "%s: %s", what,
                        archive_error_string (a) ? archive_error_string (a) : "libarchive failed");
}

static int
write_zeros (struct archive *aw, import_ctx *ctx, int64_t n, gsi_error *err)
{
  static const char zeros[65536];

  while (n > 0)
    {
      size_t k = n > (int64_t) sizeof zeros ? sizeof zeros : (size_t) n;
      if (archive_write_data (aw, zeros, k) < 0)
        return archive_fail (aw, ctx, "write tar data", err);
      n -= (int64_t) k;
    }
  return 0;
}

/* Copies one entry's data block by block; holes of a sparse entry are written as zeros so the
 * output needs no sparse map.  */
static int
copy_data (struct archive *ar, struct archive *aw, import_ctx *ctx, int64_t size, gsi_error *err)
{
  int64_t pos = 0;

  for (;;)
    {
      const void *buf;
      size_t len;
      la_int64_t off;
      int r = archive_read_data_block (ar, &buf, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return archive_fail (ar, ctx, "read tar data", err);
      if (off > pos && write_zeros (aw, ctx, off - pos, err) < 0)
        return -1;
      if (len > 0 && archive_write_data (aw, buf, len) < 0)
        return archive_fail (aw, ctx, "write tar data", err);
      pos = off + (int64_t) len;
    }
  return pos < size ? write_zeros (aw, ctx, size - pos, err) : 0;
}

static int
copy_entries (struct archive *ar, struct archive *aw, import_ctx *ctx, gsi_error *err)
{
  struct archive_entry *e;
  int r;

  while ((r = archive_read_next_header (ar, &e)) != ARCHIVE_EOF)
    {
      int64_t size;
      if (r < ARCHIVE_WARN)
        return archive_fail (ar, ctx, "read tar", err);
      archive_entry_sparse_clear (e);
      size = archive_entry_size_is_set (e) ? archive_entry_size (e) : 0;
      if (archive_write_header (aw, e) < ARCHIVE_WARN)
        return archive_fail (aw, ctx, "write tar header", err);
      if (size > 0 && copy_data (ar, aw, ctx, size, err) < 0)
        return gsi_error_wrap (err, "`%s`", archive_entry_pathname (e) ? archive_entry_pathname (e) : "?");
    }
  if (archive_write_close (aw) < ARCHIVE_WARN)
    return archive_fail (aw, ctx, "finish tar", err);
  return 0;
}

static struct archive *
open_input (const char *path, gsi_error *err)
{
  struct archive *ar = archive_read_new ();

  archive_read_support_filter_all (ar);
  archive_read_support_format_tar (ar);
  if (archive_read_open_filename (ar, path, 256 * 1024) != ARCHIVE_OK)
    {
      gsi_error_set (err, archive_errno (ar) > 0 ? archive_errno (ar) : 0, "open `%s`: %s", path,
                     archive_error_string (ar) ? archive_error_string (ar) : "unreadable");
      archive_read_free (ar);
      return NULL;
    }
  return ar;
}

/* Re-writes the tarball as the layer; the output ends right after the end-of-archive blocks (no
 * padding to a 10 KiB record), like the layers BuildKit writes.  */
static int
write_layer (const char *path, gsi_blob_writer *w, gsi_error *err)
{
  import_ctx ctx = { w, GSI_ERROR_INIT };
  struct archive *ar = open_input (path, err);
  struct archive *aw;
  int r = -1;

  if (ar == NULL)
    return -1;
  aw = archive_write_new ();
  archive_write_set_format_pax (aw);
  archive_write_add_filter_none (aw);
  archive_write_set_bytes_in_last_block (aw, 1);
  if (archive_write_open2 (aw, &ctx, NULL, import_write, NULL, NULL) != ARCHIVE_OK)
    archive_fail (aw, &ctx, "start tar", err);
  else
    r = copy_entries (ar, aw, &ctx, err);
  archive_write_free (aw);
  archive_read_free (ar);
  gsi_error_clear (&ctx.werr);
  return r;
}

static void
import_config (gsi_image_config *cfg, const gsi_blob_info *info, int64_t source_date_epoch)
{
  char created[32];

  gsi_format_time (source_date_epoch >= 0 ? source_date_epoch : (int64_t) time (NULL), created);
  cfg->created = xstrdup (created);
  cfg->architecture = xstrdup (gsi_host_arch ());
  cfg->os = xstrdup ("linux");
  gsi_strvec_push (&cfg->diff_ids, info->diff_id);
  gsi_image_config_add_history (cfg, created, "gsi import-rootfs", NULL, false);
}

int
gsi_store_import_rootfs_tar (gsi_store *s, const char *path, const char *ref, int64_t source_date_epoch,
                             gsi_descriptor *out, gsi_error *err)
{
  gsi_blob_writer *w = NULL;
  gsi_blob_info info;
  gsi_image_config cfg;
  gsi_descriptor layer = GSI_DESCRIPTOR_INIT;
  int r;

  if (ref)
    {
      /* Check the reference before spending a layer's worth of work on it.  */
      if (gsi_ref_normalize (ref, NULL, NULL, err) < 0)
        return -1;
    }
  if (gsi_blob_writer_open (s, GSI_COMP_GZIP, &w, err) < 0)
    return gsi_error_wrap (err, "import `%s`", path);
  if (write_layer (path, w, err) < 0)
    {
      gsi_blob_writer_abort (w);
      return gsi_error_wrap (err, "import `%s`", path);
    }
  if (gsi_blob_writer_commit (w, &info, err) < 0)
    return gsi_error_wrap (err, "import `%s`", path);
  gsi_image_config_init (&cfg);
  import_config (&cfg, &info, source_date_epoch);
  gsi_descriptor_set_layer (&layer, &info, GSI_COMP_GZIP);
  r = gsi_store_commit_image (s, &cfg, &layer, 1, NULL, ref, out, err);
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&layer);
  return r < 0 ? gsi_error_wrap (err, "import `%s`", path) : 0;
}
