/* Debian archive indexes: see archive.h.  */
#include "catalog/archive.h"

#include <archive.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/add.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/version.h"

typedef struct pkg_version
{
  char *name;
  char *version;
} pkg_version;

/* One Packages index: the highest version of each package it lists, sorted by name.  */
typedef struct apt_index
{
  char *uri;
  bool usable; /* false: the suite is NotAutomatic, or its Release does not list the file */
  char *error; /* why it could not be had, kept so it is not fetched again */
  pkg_version *v;
  size_t n;
} apt_index;

typedef struct apt_release
{
  char *base; /* "http://deb.debian.org/debian/dists/trixie/" */
  char *text;
} apt_release;

struct gsi_apt_indexes
{
  char *cache_dir;
  apt_release *rel;
  size_t nrel, arel;
  apt_index *idx;
  size_t nidx, aidx;
};

gsi_apt_indexes *
gsi_apt_indexes_new (const char *cache_dir)
{
  gsi_apt_indexes *ix = xcalloc (1, sizeof *ix);
  ix->cache_dir = xstrdup (cache_dir);
  return ix;
}

static void
pkg_versions_free (pkg_version *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i].name), free (v[i].version);
  free (v);
}

void
gsi_apt_indexes_free (gsi_apt_indexes *ix)
{
  if (ix == NULL)
    return;
  for (size_t i = 0; i < ix->nrel; i++)
    free (ix->rel[i].base), free (ix->rel[i].text);
  for (size_t i = 0; i < ix->nidx; i++)
    {
      free (ix->idx[i].uri);
      free (ix->idx[i].error);
      pkg_versions_free (ix->idx[i].v, ix->idx[i].n);
    }
  free (ix->rel);
  free (ix->idx);
  free (ix->cache_dir);
  free (ix);
}

void
gsi_apt_updates_free (gsi_apt_update *u, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (u[i].name), free (u[i].installed), free (u[i].available);
  free (u);
}

/* ---- Release files ---- */

static bool
field_is (const char *line, size_t len, const char *name, const char **value)
{
  size_t k = strlen (name);
  if (len <= k || strncasecmp (line, name, k) != 0 || line[k] != ':')
    return false;
  *value = line + k + 1;
  while (**value == ' ' || **value == '\t')
    (*value)++;
  return true;
}

static bool
is_yes (const char *v)
{
  return strncasecmp (v, "yes", 3) == 0;
}

int
gsi_apt_release_find (const char *text, const char *path, char hex[65], long long *size,
                      gsi_apt_release_flags *flags)
{
  bool in_sha256 = false, not_automatic = false, but_upgrades = false, found = false;
  bool no_support_all = false, lists_all = true;
  size_t plen = strlen (path);

  flags->by_hash = 0;
  for (const char *l = text; *l;)
    {
      const char *e = strchr (l, '\n');
      size_t len = e ? (size_t) (e - l) : strlen (l);
      const char *v;

      if (len > 0 && (l[0] == ' ' || l[0] == '\t'))
        {
          /* " <sha256> <size> <path>" */
          char h[65];
          long long sz;
          int off = 0;
          if (in_sha256 && !found && sscanf (l, " %64[0-9a-f] %lld %n", h, &sz, &off) == 2 && strlen (h) == 64
              && off > 0 && len - (size_t) off == plen && strncmp (l + off, path, plen) == 0)
            {
              memcpy (hex, h, 65);
              *size = sz;
              found = true;
            }
        }
      else
        {
          in_sha256 = len >= 7 && strncasecmp (l, "SHA256:", 7) == 0;
          if (field_is (l, len, "NotAutomatic", &v))
            not_automatic = is_yes (v);
          else if (field_is (l, len, "ButAutomaticUpgrades", &v))
            but_upgrades = is_yes (v);
          else if (field_is (l, len, "Acquire-By-Hash", &v))
            flags->by_hash = is_yes (v);
          else if (field_is (l, len, "No-Support-for-Architecture-all", &v))
            no_support_all = strncmp (v, "Packages", 8) == 0;
          else if (field_is (l, len, "Architectures", &v))
            {
              cleanup_free char *list = xasprintf (" %.*s ", (int) (len - (size_t) (v - l)), v);
              lists_all = strstr (list, " all ") != NULL;
            }
          else if (len >= 29 && strncmp (l, "-----BEGIN PGP SIGNATURE-----", 29) == 0)
            break;
        }
      l += len + (e ? 1 : 0);
    }
  flags->automatic = !not_automatic || but_upgrades;
  flags->no_arch_all = no_support_all || !lists_all;
  return found ? 0 : 1;
}

static int
ensure_dir (const char *dir, gsi_error *err)
{
  if (mkdir (dir, 0755) < 0 && errno != EEXIST)
    return gsi_error_set (err, errno, "mkdir `%s`", dir);
  return 0;
}

/* Fetches url (checked against sha256 "sha256:HEX" when not NULL) and moves it to dest, or reads it
 * into *text when dest is NULL.  */
static int
fetch (gsi_apt_indexes *ix, const char *url, const char *sha256, const char *dest, char **text, gsi_error *err)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp", ix->cache_dir);
  gsi_add_download d = { 0 };
  int r;

  if (ensure_dir (ix->cache_dir, err) < 0 || ensure_dir (tmp, err) < 0)
    return -1;
  r = gsi_add_fetch (url, tmp, sha256, &d, err);
  if (r == 0)
    {
      cleanup_free char *got = xasprintf ("%s/%s", d.dir, d.name);
      if (dest && rename (got, dest) < 0)
        r = gsi_error_set (err, errno, "rename `%s` to `%s`", got, dest);
      else if (dest == NULL)
        {
          gsi_buf b = GSI_BUF_INIT;
          r = gsi_buf_read_file (&b, got, err);
          *text = r == 0 ? gsi_buf_detach (&b, NULL) : NULL;
          gsi_buf_release (&b);
        }
      gsi_add_download_clear (&d);
    }
  return r;
}

static apt_release *
release_for (gsi_apt_indexes *ix, const char *base, gsi_error *err)
{
  cleanup_free char *text = NULL;
  cleanup_error gsi_error first = GSI_ERROR_INIT;

  for (size_t i = 0; i < ix->nrel; i++)
    if (strcmp (ix->rel[i].base, base) == 0)
      return &ix->rel[i];
  cleanup_free char *inrelease = xasprintf ("%sInRelease", base);
  if (fetch (ix, inrelease, NULL, NULL, &text, &first) < 0)
    {
      cleanup_free char *release = xasprintf ("%sRelease", base);
      if (fetch (ix, release, NULL, NULL, &text, err) < 0)
        {
          gsi_error_set (err, 0, "%s", first.msg);
          return NULL;
        }
    }
  GSI_ALLOC_GROW (ix->rel, ix->nrel + 1, ix->arel);
  ix->rel[ix->nrel].base = xstrdup (base);
  ix->rel[ix->nrel].text = steal_pointer (&text);
  return &ix->rel[ix->nrel++];
}

/* ---- Packages files ---- */

static int
cmp_pkg (const void *a, const void *b)
{
  return strcmp (((const pkg_version *) a)->name, ((const pkg_version *) b)->name);
}

/* Debian versions, an invalid one lowest: an index's junk must not make an update appear.  */
static int
deb_cmp (const char *a, const char *b)
{
  cleanup_error gsi_error err = GSI_ERROR_INIT;
  bool va = gsi_version_valid (GSI_ECO_DEB, a, NULL), vb = gsi_version_valid (GSI_ECO_DEB, b, NULL);
  int c = 0;

  if (!va || !vb)
    return (int) va - (int) vb;
  if (gsi_version_compare (GSI_ECO_DEB, a, b, &c, &err) < 0)
    return 0;
  return c;
}

typedef struct stanza_reader
{
  pkg_version *v;
  size_t n, alloc;
  char *name, *version;
} stanza_reader;

static void
stanza_end (stanza_reader *s)
{
  if (s->name && s->version)
    {
      GSI_ALLOC_GROW (s->v, s->n + 1, s->alloc);
      s->v[s->n].name = steal_pointer (&s->name);
      s->v[s->n++].version = steal_pointer (&s->version);
    }
  free (s->name), free (s->version);
  s->name = s->version = NULL;
}

static void
stanza_line (stanza_reader *s, const char *l, size_t len)
{
  const char *v;

  if (len == 0)
    stanza_end (s);
  else if (field_is (l, len, "Package", &v))
    {
      free (s->name);
      s->name = xstrndup (v, len - (size_t) (v - l));
    }
  else if (field_is (l, len, "Version", &v))
    {
      free (s->version);
      s->version = xstrndup (v, len - (size_t) (v - l));
    }
}

/* Streams a (compressed) Packages file into index: one pass, the file never whole in memory.  */
static int
load_packages (const char *path, apt_index *index, gsi_error *err)
{
  struct archive *a = archive_read_new ();
  stanza_reader s = { 0 };
  gsi_buf line = GSI_BUF_INIT;
  struct archive_entry *e;
  char chunk[65536];
  la_ssize_t n;
  int r = 0;

  archive_read_support_filter_all (a);
  archive_read_support_format_raw (a);
  if (archive_read_open_filename (a, path, 65536) != ARCHIVE_OK || archive_read_next_header (a, &e) != ARCHIVE_OK)
    r = gsi_error_set (err, 0, "read `%s`: %s", path, archive_error_string (a));
  while (r == 0 && (n = archive_read_data (a, chunk, sizeof chunk)) != 0)
    {
      if (n < 0)
        {
          r = gsi_error_set (err, 0, "read `%s`: %s", path, archive_error_string (a));
          break;
        }
      for (la_ssize_t i = 0; i < n; i++)
        if (chunk[i] == '\n')
          {
            stanza_line (&s, line.buf, line.len);
            gsi_buf_reset (&line);
          }
        else
          gsi_buf_addch (&line, chunk[i]);
    }
  stanza_line (&s, line.buf, line.len);
  stanza_end (&s);
  gsi_buf_release (&line);
  archive_read_free (a);
  if (r < 0)
    {
      pkg_versions_free (s.v, s.n);
      return -1;
    }
  if (s.n > 1)
    if (s.n > 1)
    qsort (s.v, s.n, sizeof *s.v, cmp_pkg);
  /* Keep the highest version of each name.  */
  size_t out = 0;
  for (size_t i = 0; i < s.n; i++)
    {
      if (out > 0 && strcmp (s.v[out - 1].name, s.v[i].name) == 0)
        {
          if (deb_cmp (s.v[i].version, s.v[out - 1].version) > 0)
            {
              free (s.v[out - 1].version);
              s.v[out - 1].version = steal_pointer (&s.v[i].version);
            }
          free (s.v[i].name), free (s.v[i].version);
          continue;
        }
      s.v[out++] = s.v[i];
    }
  index->v = s.v;
  index->n = out;
  return 0;
}

/* ".../dists/SUITE/" and "COMP/binary-ARCH/Packages" of an index URI; -1 when it has no dists/.  */
static int
split_uri (const char *uri, char **base, char **rel, gsi_error *err)
{
  const char *d = strstr (uri, "/dists/");
  const char *slash = d ? strchr (d + 7, '/') : NULL;

  if (slash == NULL || slash[1] == '\0')
    return gsi_error_set (err, 0, "index URI `%s` is not of the form .../dists/SUITE/PATH", uri);
  *base = xstrndup (uri, (size_t) (slash + 1 - uri));
  *rel = xstrdup (slash + 1);
  return 0;
}

/* Fetches path of the suite at base into cached, by hash when the suite has by-hash files.  */
static int
fetch_index (gsi_apt_indexes *ix, const char *base, const char *path, const char *hex, bool by_hash,
             const char *cached, gsi_error *err)
{
  cleanup_free char *sha = xasprintf ("sha256:%s", hex);
  cleanup_free char *url = xasprintf ("%s%s", base, path);
  const char *slash = strrchr (path, '/');

  if (by_hash && slash)
    {
      cleanup_free char *hashed = xasprintf ("%s%.*s/by-hash/SHA256/%s", base, (int) (slash - path), path, hex);
      cleanup_error gsi_error first = GSI_ERROR_INIT;
      if (fetch (ix, hashed, sha, cached, NULL, &first) == 0)
        return 0;
    }
  return fetch (ix, url, sha, cached, NULL, err);
}

static int
load_index (gsi_apt_indexes *ix, apt_index *index, gsi_error *err)
{
  static const char *const exts[] = { ".xz", ".gz", "" };
  cleanup_free char *base = NULL, *rel = NULL;
  apt_release *release;

  if (split_uri (index->uri, &base, &rel, err) < 0 || (release = release_for (ix, base, err)) == NULL)
    return -1;
  for (size_t k = 0; k < sizeof exts / sizeof *exts; k++)
    {
      cleanup_free char *path = xasprintf ("%s%s", rel, exts[k]);
      gsi_apt_release_flags flags;
      char hex[65];
      long long size;

      if (gsi_apt_release_find (release->text, path, hex, &size, &flags) != 0)
        continue;
      if (!flags.automatic || (flags.no_arch_all && strstr (rel, "/binary-all/")))
        return 0;
      cleanup_free char *cached = xasprintf ("%s/%s%s", ix->cache_dir, hex, exts[k]);
      if (access (cached, R_OK) != 0 && fetch_index (ix, base, path, hex, flags.by_hash, cached, err) < 0)
        return -1;
      index->usable = true;
      return load_packages (cached, index, err);
    }
  return 0;
}

static apt_index *
index_for (gsi_apt_indexes *ix, const char *uri, gsi_error *err)
{
  apt_index *index = NULL;

  for (size_t i = 0; i < ix->nidx && index == NULL; i++)
    if (strcmp (ix->idx[i].uri, uri) == 0)
      index = &ix->idx[i];
  if (index == NULL)
    {
      GSI_ALLOC_GROW (ix->idx, ix->nidx + 1, ix->aidx);
      index = &ix->idx[ix->nidx++];
      memset (index, 0, sizeof *index);
      index->uri = xstrdup (uri);
      if (load_index (ix, index, err) < 0)
        {
          index->usable = false;
          index->error = xstrdup (err->msg);
        }
    }
  if (index->error)
    {
      gsi_error_set (err, 0, "%s", index->error);
      return NULL;
    }
  return index;
}

static const char *
lookup (const apt_index *index, const char *name)
{
  pkg_version key = { (char *) name, NULL };
  const pkg_version *hit = index->usable ? bsearch (&key, index->v, index->n, sizeof key, cmp_pkg) : NULL;
  return hit ? hit->version : NULL;
}

static int
cmp_update (const void *a, const void *b)
{
  return strcmp (((const gsi_apt_update *) a)->name, ((const gsi_apt_update *) b)->name);
}

static void
push_update (gsi_apt_update **u, size_t *n, size_t *alloc, const char *name, const char *installed,
             const char *available)
{
  GSI_ALLOC_GROW (*u, *n + 1, *alloc);
  (*u)[*n].name = xstrdup (name);
  (*u)[*n].installed = xstrdup (installed);
  (*u)[(*n)++].available = xstrdup (available);
}

int
gsi_apt_view (gsi_apt_indexes *ix, const gsi_strvec *uris, const char *installed, gsi_apt_update **out, size_t *n,
              gsi_error *err)
{
  cleanup_free apt_index **idx = xcalloc (uris->n + 1, sizeof *idx);
  gsi_apt_update *u = NULL;
  size_t nu = 0, au = 0;

  *out = NULL;
  *n = 0;
  for (size_t i = 0; i < uris->n; i++)
    if ((idx[i] = index_for (ix, uris->v[i], err)) == NULL)
      return gsi_error_wrap (err, "index `%s`", uris->v[i]);
  for (const char *l = installed; *l;)
    {
      const char *e = strchr (l, '\n');
      size_t len = e ? (size_t) (e - l) : strlen (l);
      const char *sp = memchr (l, ' ', len);
      if (sp && sp > l && sp + 1 < l + len)
        {
          cleanup_free char *name = xstrndup (l, (size_t) (sp - l));
          cleanup_free char *version = xstrndup (sp + 1, (size_t) (l + len - sp - 1));
          const char *best = NULL;
          for (size_t i = 0; i < uris->n; i++)
            {
              const char *v = lookup (idx[i], name);
              if (v && (best == NULL || deb_cmp (v, best) > 0))
                best = v;
            }
          if (best)
            push_update (&u, &nu, &au, name, version, best);
        }
      l += len + (e ? 1 : 0);
    }
  if (nu > 1)
    qsort (u, nu, sizeof *u, cmp_update);
  *out = u;
  *n = nu;
  return 0;
}

char *
gsi_apt_view_text (const gsi_apt_update *v, size_t n)
{
  gsi_buf b = GSI_BUF_INIT;

  for (size_t i = 0; i < n; i++)
    gsi_buf_addf (&b, "%s %s %s\n", v[i].name, v[i].installed, v[i].available);
  return gsi_buf_detach (&b, NULL);
}

/* The available version a stored view gives name, or NULL (a view is "NAME INSTALLED AVAILABLE"
 * lines, sorted by name, but a hand-edited one need not be: a linear scan is cheap enough).  */
static char *
before_available (const char *before, const char *name)
{
  size_t nl = strlen (name);

  for (const char *l = before; l && *l;)
    {
      const char *e = strchr (l, '\n');
      size_t len = e ? (size_t) (e - l) : strlen (l);
      const char *last = len > nl ? memrchr (l, ' ', len) : NULL;
      if (last && strncmp (l, name, nl) == 0 && l[nl] == ' ')
        return xstrndup (last + 1, (size_t) (l + len - last - 1));
      l += len + (e ? 1 : 0);
    }
  return NULL;
}

size_t
gsi_apt_updates (const gsi_apt_update *now, size_t n, const char *before, gsi_apt_update **out)
{
  gsi_apt_update *u = NULL;
  size_t nu = 0, au = 0;

  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *then = before ? before_available (before, now[i].name) : NULL;
      if (deb_cmp (now[i].available, now[i].installed) <= 0 || (then && strcmp (then, now[i].available) == 0))
        continue;
      push_update (&u, &nu, &au, now[i].name, now[i].installed, now[i].available);
    }
  *out = u;
  return nu;
}
