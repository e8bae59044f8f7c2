/* registries.yaml: per-registry TLS settings, CA directories and pull mirrors.  libfyaml builds the
 * tree; every error points at the key or scalar that is wrong.  Registry keys and mirrors are
 * checked with the domain and path rules of reference.c, so a typo fails at load, not at pull.  */
#include "registry/config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libfyaml.h>

#include "registry/reference.h"
#include "util/buf.h"
#include "util/yaml.h"
#include "util/xalloc.h"

typedef struct reg_entry
{
  char *domain;       /* the key, docker.io aliases folded */
  int tls_verify;     /* -1 when not set */
  char *ca_dir;       /* NULL when not set */
  gsi_strvec mirrors; /* always has a NULL-terminated v */
} reg_entry;

/* A certs.d lookup, remembered so the string lives as long as the config.  */
typedef struct ca_found
{
  char *domain;
  char *dir; /* NULL: no candidate existed */
} ca_found;

struct gsi_reg_config
{
  char *path;
  reg_entry *e;
  size_t n, alloc;
  /* The client calls gsi_reg_config_ca_dir from several threads.  */
  pthread_mutex_t lock;
  ca_found *found;
  size_t nfound, afound;
};

typedef struct loader
{
  gsi_reg_config *c;
  const char *file;
  gsi_error *err;
} loader;

static void
strvec_init_empty (gsi_strvec *sv)
{
  sv->v = xcalloc (1, sizeof (char *));
  sv->n = 0;
  sv->alloc = 1;
}

/* docker.io is also reached as index.docker.io and registry-1.docker.io: one entry covers them.  */
static const char *
canonical_domain (const char *d)
{
  if (strcasecmp (d, "index.docker.io") == 0 || strcasecmp (d, "registry-1.docker.io") == 0)
    return GSI_DEFAULT_REGISTRY;
  return d;
}

static gsi_reg_config *
config_new (void)
{
  gsi_reg_config *c = xcalloc (1, sizeof *c);

  pthread_mutex_init (&c->lock, NULL);
  return c;
}

void
gsi_reg_config_free (gsi_reg_config *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    {
      free (c->e[i].domain);
      free (c->e[i].ca_dir);
      gsi_strvec_clear (&c->e[i].mirrors);
    }
  free (c->e);
  for (size_t i = 0; i < c->nfound; i++)
    {
      free (c->found[i].domain);
      free (c->found[i].dir);
    }
  free (c->found);
  pthread_mutex_destroy (&c->lock);
  free (c->path);
  free (c);
}

static void
cleanup_reg_configp (gsi_reg_config **c)
{
  gsi_reg_config_free (*c);
}
#define cleanup_reg_config __attribute__ ((cleanup (cleanup_reg_configp)))

static const struct fy_mark *
scalar_mark (struct fy_node *n)
{
  struct fy_token *t = (n && fy_node_is_scalar (n)) ? fy_node_get_scalar_token (n) : NULL;
  return t ? fy_token_start_mark (t) : NULL;
}

/* Position of a node: its own token for a scalar, else the key that led to it (at); an empty value
 * has no token either.  */
static void
node_pos (struct fy_node *n, struct fy_node *at, int *line, int *col)
{
  struct fy_node *p = n;
  const struct fy_mark *m = scalar_mark (n);

  if (m == NULL)
    {
      p = at;
      m = scalar_mark (at);
    }
  *line = m ? m->line + 1 : 0;
  *col = m ? m->column + 1 : 0;
  /* libfyaml marks a quoted scalar or an alias at the character after the quote or '*'.  */
  if (m && m->column > 0
      && (fy_node_get_style (p) == FYNS_SINGLE_QUOTED || fy_node_get_style (p) == FYNS_DOUBLE_QUOTED
          || fy_node_get_style (p) == FYNS_ALIAS))
    (*col)--;
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

/* An empty value ("key:" alone, "~" or "null") counts as absent.  */
static bool
is_null (struct fy_node *v)
{
  const char *s;

  if (v == NULL)
    return true;
  if (!fy_node_is_scalar (v) || fy_node_is_alias (v) || fy_node_get_style (v) != FYNS_PLAIN)
    return false;
  s = fy_node_get_scalar0 (v);
  return s == NULL || *s == '\0' || strcmp (s, "~") == 0 || strcmp (s, "null") == 0;
}

/* The text of a scalar that is not an alias, else NULL.  */
static const char *
scalar_text (struct fy_node *v)
{
  if (v == NULL || !fy_node_is_scalar (v) || fy_node_is_alias (v))
    return NULL;
  return fy_node_get_scalar0 (v);
}

static int
get_string (loader *l, struct fy_node *v, struct fy_node *key, const char *what, const char **out)
{
  const char *s = scalar_text (v);

  if (s == NULL)
    return fail_at (l, v, key, "`%s` must be a string", what);
  if (*s == '\0')
    return fail_at (l, v, key, "`%s` must not be empty", what);
  *out = s;
  return 0;
}

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');

  if (slash == NULL)
    return xstrdup (".");
  if (slash == path)
    return xstrdup ("/");
  return xstrndup (path, (size_t) (slash - path));
}

static int
set_tls_verify (loader *l, reg_entry *e, struct fy_node *k, struct fy_node *v)
{
  const char *s = (v && fy_node_is_scalar (v) && fy_node_get_style (v) == FYNS_PLAIN) ? scalar_text (v) : NULL;

  if (s && strcmp (s, "true") == 0)
    e->tls_verify = 1;
  else if (s && strcmp (s, "false") == 0)
    e->tls_verify = 0;
  else
    return fail_at (l, v, k, "`tls-verify` must be true or false");
  return 0;
}

/* A relative ca-dir is relative to the file that names it, not to the working directory.  */
static int
set_ca_dir (loader *l, reg_entry *e, struct fy_node *k, struct fy_node *v)
{
  const char *s = NULL;

  if (get_string (l, v, k, "ca-dir", &s) < 0)
    return -1;
  free (e->ca_dir);
  if (s[0] == '/')
    e->ca_dir = xstrdup (s);
  else
    {
      cleanup_free char *dir = dir_of (l->file);
      e->ca_dir = xasprintf ("%s/%s", dir, s);
    }
  return 0;
}

/* NULL when m is "host[:port][/prefix]" in the reference grammar, else why not.  */
static const char *
mirror_problem (const char *m)
{
  const char *slash = strchr (m, '/');
  cleanup_free char *host = slash ? xstrndup (m, (size_t) (slash - m)) : xstrdup (m);

  if (strstr (m, "://") != NULL)
    return "a mirror is host[:port][/prefix], without a scheme";
  if (!gsi_reference_domain_valid (host))
    return "invalid host";
  if (slash != NULL && !gsi_reference_path_valid (slash + 1))
    return "invalid path prefix";
  return NULL;
}

static int
set_mirrors (loader *l, reg_entry *e, struct fy_node *k, struct fy_node *v)
{
  void *it = NULL;
  struct fy_node *item;

  if (v == NULL || !fy_node_is_sequence (v))
    return fail_at (l, v, k, "`mirrors` must be a list of host[:port][/prefix]");
  gsi_strvec_clear (&e->mirrors);
  strvec_init_empty (&e->mirrors);
  while ((item = fy_node_sequence_iterate (v, &it)) != NULL)
    {
      const char *s = scalar_text (item), *why;

      if (s == NULL || *s == '\0')
        return fail_at (l, item, k, "a mirror must be a non-empty string");
      if ((why = mirror_problem (s)) != NULL)
        return fail_at (l, item, k, "invalid mirror `%s`: %s", s, why);
      gsi_strvec_push (&e->mirrors, s);
    }
  return 0;
}

static int
load_entry (loader *l, struct fy_node *dk, struct fy_node *dv)
{
  const char *domain = scalar_text (dk);
  void *it = NULL;
  struct fy_node_pair *p;
  reg_entry *e;

  if (domain == NULL || *domain == '\0')
    return fail_at (l, dk, dk, "a registry key must be a domain (host[:port])");
  if (!gsi_reference_domain_valid (domain))
    return fail_at (l, dk, dk, "invalid registry domain `%s`: expected host[:port]", domain);
  for (size_t i = 0; i < l->c->n; i++)
    if (strcasecmp (l->c->e[i].domain, canonical_domain (domain)) == 0)
      return fail_at (l, dk, dk, "registry `%s` is listed twice", canonical_domain (domain));
  if (!is_null (dv) && (dv == NULL || !fy_node_is_mapping (dv)))
    return fail_at (l, dv, dk, "registry `%s` must be a mapping", domain);

  GSI_ALLOC_GROW (l->c->e, l->c->n + 1, l->c->alloc);
  e = &l->c->e[l->c->n++];
  e->domain = xstrdup (canonical_domain (domain));
  e->tls_verify = -1;
  e->ca_dir = NULL;
  strvec_init_empty (&e->mirrors);
  if (is_null (dv))
    return 0;

  while ((p = fy_node_mapping_iterate (dv, &it)) != NULL)
    {
      struct fy_node *k = fy_node_pair_key (p), *v = fy_node_pair_value (p);
      const char *key = scalar_text (k);
      int r;

      if (key && strcmp (key, "tls-verify") == 0)
        r = set_tls_verify (l, e, k, v);
      else if (key && strcmp (key, "ca-dir") == 0)
        r = set_ca_dir (l, e, k, v);
      else if (key && strcmp (key, "mirrors") == 0)
        r = set_mirrors (l, e, k, v);
      else
        r = fail_at (l, k, k, "unknown key `%s` in registry `%s` (expected tls-verify, ca-dir or mirrors)",
                     key ? key : "", domain);
      if (r < 0)
        return -1;
    }
  return 0;
}

static int
load_root (loader *l, struct fy_node *root)
{
  void *it = NULL;
  struct fy_node_pair *p;

  if (is_null (root))
    return 0;
  if (!fy_node_is_mapping (root))
    return gsi_error_at (l->err, l->file, 1, 1, "registries.yaml must be a mapping with a `registries` key");
  while ((p = fy_node_mapping_iterate (root, &it)) != NULL)
    {
      struct fy_node *k = fy_node_pair_key (p), *v = fy_node_pair_value (p);
      const char *key = scalar_text (k);
      void *it2 = NULL;
      struct fy_node_pair *q;

      if (key == NULL || strcmp (key, "registries") != 0)
        return fail_at (l, k, k, "unknown key `%s` (expected registries)", key ? key : "");
      if (is_null (v))
        continue;
      if (!fy_node_is_mapping (v))
        return fail_at (l, v, k, "`registries` must be a mapping of registry domains");
      while ((q = fy_node_mapping_iterate (v, &it2)) != NULL)
        if (load_entry (l, fy_node_pair_key (q), fy_node_pair_value (q)) < 0)
          return -1;
    }
  return 0;
}

/* Parses path into *doc; a file with no document at all (empty, or only comments) leaves *doc NULL,
 * which means defaults.  */
static int
parse_yaml (const char *path, struct fy_parser **parser, struct fy_document **doc, gsi_error *err)
{
  struct fy_diag *diag;
  struct fy_parser *fyp;
  struct fy_parse_cfg pcfg = { 0 };
  cleanup_buf gsi_buf text = GSI_BUF_INIT;
  size_t len;

  *parser = NULL;
  *doc = NULL;
  if (gsi_buf_read_file (&text, path, err) < 0 || gsi_yaml_check_text (path, text.buf, text.len, err) < 0)
    return -1;
  if ((diag = gsi_yaml_diag_new (path, err)) == NULL)
    return -1;
  pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_DOC;
  pcfg.diag = diag;
  fyp = fy_parser_create (&pcfg);
  if (fyp == NULL)
    {
      gsi_yaml_diag_release (diag);
      return gsi_error_set (err, ENOMEM, "read `%s`", path);
    }
  /* The parser owns the text from here on (it frees it when destroyed).  */
  len = text.len;
  if (fy_parser_set_malloc_string (fyp, gsi_buf_detach (&text, NULL), len) != 0)
    {
      fy_parser_destroy (fyp);
      gsi_yaml_diag_release (diag);
      return gsi_error_set (err, errno ? errno : EIO, "read `%s`", path);
    }
  *doc = fy_parse_load_document (fyp);
  if (fy_parser_get_stream_error (fyp))
    {
      if (*doc)
        fy_parse_document_destroy (fyp, *doc);
      *doc = NULL;
      fy_parser_destroy (fyp);
      gsi_yaml_diag_error (diag, path, err);
      gsi_yaml_diag_release (diag);
      return -1;
    }
  gsi_yaml_diag_release (diag);
  *parser = fyp;
  return 0;
}

static int
load_file (gsi_reg_config *c, const char *path, gsi_error *err)
{
  struct fy_parser *fyp;
  struct fy_document *doc;
  struct stat st;
  loader l = { c, path, err };
  FILE *f = fopen (path, "r");
  int r;

  if (f == NULL)
    return gsi_error_set (err, errno, "open `%s`", path);
  /* libfyaml reads a directory as an empty document; say what it is instead.  */
  if (fstat (fileno (f), &st) == 0 && S_ISDIR (st.st_mode))
    {
      fclose (f);
      return gsi_error_set (err, EISDIR, "read `%s`", path);
    }
  fclose (f);
  if (parse_yaml (path, &fyp, &doc, err) < 0)
    return -1;
  r = doc ? load_root (&l, fy_document_root (doc)) : 0;
  if (doc)
    fy_parse_document_destroy (fyp, doc);
  fy_parser_destroy (fyp);
  return r;
}

static bool
exists (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0;
}

/* The file to read when none was given, or NULL for defaults.  $GSI_REGISTRIES_CONF names a file
 * as explicitly as a path argument does, so it is returned even when missing (and then fails).  */
static char *
default_path (void)
{
  const char *env = getenv ("GSI_REGISTRIES_CONF");
  const char *xdg = getenv ("XDG_CONFIG_HOME");
  const char *home = getenv ("HOME");
  char *p = NULL;

  if (env && *env)
    return xstrdup (env);
  /* The XDG spec says a relative $XDG_CONFIG_HOME is invalid and must be ignored.  */
  if (xdg && xdg[0] == '/')
    p = xasprintf ("%s/gsi/registries.yaml", xdg);
  else if (home && *home)
    p = xasprintf ("%s/.config/gsi/registries.yaml", home);
  if (p && exists (p))
    return p;
  free (p);
  if (exists ("/etc/gsi/registries.yaml"))
    return xstrdup ("/etc/gsi/registries.yaml");
  return NULL;
}

int
gsi_reg_config_load (const char *path, gsi_reg_config **out, gsi_error *err)
{
  cleanup_reg_config gsi_reg_config *c = config_new ();

  *out = NULL;
  c->path = path ? xstrdup (path) : default_path ();
  if (c->path && load_file (c, c->path, err) < 0)
    return -1;
  *out = steal_pointer (&c);
  return 0;
}

static const reg_entry *
find_entry (const gsi_reg_config *c, const char *domain)
{
  const char *d;

  if (c == NULL || domain == NULL)
    return NULL;
  d = canonical_domain (domain);
  for (size_t i = 0; i < c->n; i++)
    if (strcasecmp (c->e[i].domain, d) == 0)
      return &c->e[i];
  return NULL;
}

bool
gsi_reg_config_tls_verify (const gsi_reg_config *c, const char *domain)
{
  const reg_entry *e = find_entry (c, domain);
  return e == NULL || e->tls_verify != 0;
}

static bool
is_dir (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* The first certs.d candidate for domain that is a directory, or NULL (malloc'd).  */
static char *
certs_d_lookup (const char *domain)
{
  static const char *const roots[] = { "/etc/gsi/certs.d", "/etc/containers/certs.d", "/etc/docker/certs.d" };
  const char *env = getenv ("GSI_CERTS_DIR");
  char *p;

  /* The domain becomes a path component: never let it climb out of the certs.d root.  */
  if (*domain == '\0' || strchr (domain, '/') || strcmp (domain, ".") == 0 || strcmp (domain, "..") == 0)
    return NULL;
  if (env && *env)
    {
      p = xasprintf ("%s/%s", env, domain);
      if (is_dir (p))
        return p;
      free (p);
    }
  for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
    {
      p = xasprintf ("%s/%s", roots[i], domain);
      if (is_dir (p))
        return p;
      free (p);
    }
  return NULL;
}

const char *
gsi_reg_config_ca_dir (const gsi_reg_config *cc, const char *domain)
{
  const reg_entry *e = find_entry (cc, domain);
  gsi_reg_config *c = (gsi_reg_config *) cc; /* only the lookup cache changes */
  const char *ret = NULL;
  bool hit = false;

  if (e && e->ca_dir)
    return e->ca_dir;
  if (c == NULL || domain == NULL)
    return NULL;
  pthread_mutex_lock (&c->lock);
  for (size_t i = 0; i < c->nfound && !hit; i++)
    if (strcmp (c->found[i].domain, domain) == 0)
      {
        hit = true;
        ret = c->found[i].dir;
      }
  if (!hit)
    {
      GSI_ALLOC_GROW (c->found, c->nfound + 1, c->afound);
      c->found[c->nfound].domain = xstrdup (domain);
      c->found[c->nfound].dir = certs_d_lookup (domain);
      ret = c->found[c->nfound++].dir;
    }
  pthread_mutex_unlock (&c->lock);
  return ret;
}

const gsi_strvec *
gsi_reg_config_mirrors (const gsi_reg_config *c, const char *domain)
{
  static char *no_v[1] = { NULL };
  static const gsi_strvec none = { no_v, 0, 0 };
  const reg_entry *e = find_entry (c, domain);

  return e ? &e->mirrors : &none;
}

const char *
gsi_reg_config_path (const gsi_reg_config *c)
{
  return c ? c->path : NULL;
}
