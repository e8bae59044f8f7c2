/* Image inventory from the layer blobs: see inventory.h.
 *
 * Layers are scanned in parallel (decompression is nearly all of the cost), each into a small
 * record of the interesting files it holds and of what it deletes from the layers below; the
 * records are then merged bottom to top.  A layer's deletions (whiteouts, opaque markers, and any
 * entry that replaces a lower file or directory) are applied before its own files are added, which
 * is the OCI rule that a layer's whiteouts only hide lower layers, whatever the tar order.  A
 * layer's record is kept in the store by blob digest (see "the per-layer cache" below), so a layer
 * is inflated once, not at every read.  */
#include "vuln/inventory.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "oci/image.h"
#include "util/buf.h"
#include "util/unicode.h"
#include "util/xalloc.h"

#define MAX_STATUS_SIZE (512u << 20)  /* a dpkg status of every Debian package is ~60 MiB */
#define MAX_HEADER_SIZE (1u << 20)    /* METADATA headers; the description after them is not read */
#define MAX_LIST_SIZE (256u << 20)
#define MAX_THREADS 8
#define IO_CHUNK (256 * 1024)

/* ---- small string helpers ------------------------------------------------------------------- */

static bool
has_suffix (const char *s, size_t n, const char *suffix)
{
  size_t k = strlen (suffix);
  return n >= k && memcmp (s + n - k, suffix, k) == 0;
}

/* A copy of s[0..n) that is valid UTF-8 (invalid bytes become U+FFFD), since everything read from
 * an image ends up in JSON.  */
static char *
text_dup (const char *s, size_t n)
{
  gsi_buf b = GSI_BUF_INIT;
  size_t i = 0;

  while (i < n)
    {
      uint32_t r;
      size_t w;

      if ((unsigned char) s[i] < 0x80)
        {
          gsi_buf_addch (&b, s[i++]);
          continue;
        }
      w = gsi_utf8_decode (s + i, n - i, &r);
      if (r == GSI_RUNE_ERROR && w == 1)
        gsi_buf_add_utf8 (&b, GSI_RUNE_ERROR);
      else
        gsi_buf_add (&b, s + i, w);
      i += w;
    }
  return gsi_buf_detach (&b, NULL);
}

/* PEP 503: lower case, runs of '-', '_' and '.' become one '-'.  */
static char *
pep503 (const char *name)
{
  gsi_buf b = GSI_BUF_INIT;

  for (const char *p = name; *p; p++)
    {
      if (*p == '-' || *p == '_' || *p == '.')
        {
          if (b.len == 0 || b.buf[b.len - 1] != '-')
            gsi_buf_addch (&b, '-');
        }
      else
        gsi_buf_addch (&b, tolower ((unsigned char) *p));
    }
  return gsi_buf_detach (&b, NULL);
}

/* Percent-encodes everything but the purl spec's unreserved characters (A-Z a-z 0-9 . - _ ~).  */
static void
purl_escape (gsi_buf *b, const char *s)
{
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      if (isalnum (*p) || *p == '.' || *p == '-' || *p == '_' || *p == '~')
        gsi_buf_addch (b, *p);
      else
        gsi_buf_addf (b, "%%%02X", *p);
    }
}

/* ---- RFC 822 header blocks ------------------------------------------------------------------ */

typedef struct span
{
  const char *p;
  size_t n;
} span;

/* One field of a header block: the name and the first line of its value, trimmed.  Continuation
 * lines (starting with a space or tab) are skipped: none of the fields read here uses them.  */
typedef void (*field_fn) (void *ctx, span name, span value);

/* Reads one block starting at *pos (leading blank lines skipped) up to the next blank line or the
 * end, calling fn per field; *pos moves past the block.  Returns false when nothing was left.  */
static bool
parse_block (const char *data, size_t len, size_t *pos, field_fn fn, void *ctx)
{
  size_t i = *pos;
  bool any = false;

  /* Skip blank lines between stanzas.  */
  while (i < len)
    {
      size_t j = i;
      while (j < len && (data[j] == ' ' || data[j] == '\t' || data[j] == '\r'))
        j++;
      if (j < len && data[j] != '\n')
        break;
      i = j < len ? j + 1 : j;
    }
  while (i < len)
    {
      const char *line = data + i;
      const char *nl = memchr (line, '\n', len - i);
      size_t n = nl ? (size_t) (nl - line) : len - i;
      size_t next = i + n + (nl ? 1 : 0);
      size_t k = n;

      while (k > 0 && line[k - 1] == '\r')
        k--;
      size_t sp = 0;
      /* Bounded by k: the caller's data need not end in a NUL.  */
      while (sp < k && (line[sp] == ' ' || line[sp] == '\t'))
        sp++;
      if (k == 0 || sp >= k)
        {
          i = next;
          break; /* end of the block */
        }
      any = true;
      if (line[0] != ' ' && line[0] != '\t')
        {
          const char *colon = memchr (line, ':', k);
          if (colon != NULL && colon > line)
            {
              span name = { line, (size_t) (colon - line) };
              const char *v = colon + 1;
              const char *end = line + k;
              while (v < end && (*v == ' ' || *v == '\t'))
                v++;
              while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
              span value = { v, (size_t) (end - v) };
              while (name.n > 0 && (name.p[name.n - 1] == ' ' || name.p[name.n - 1] == '\t'))
                name.n--;
              fn (ctx, name, value);
            }
        }
      i = next;
    }
  *pos = i;
  return any;
}

static bool
span_is (span s, const char *lit)
{
  return s.n == strlen (lit) && strncasecmp (s.p, lit, s.n) == 0;
}

static char *
span_dup (span s)
{
  return text_dup (s.p, s.n);
}

/* ---- packages ------------------------------------------------------------------------------- */

static gsi_package *
inv_append (gsi_inventory *inv)
{
  /* Capacity is the next power of two of n, so no separate field is needed.  */
  if (inv->n == 0 || (inv->n & (inv->n - 1)) == 0)
    inv->pkgs = xrealloc (inv->pkgs, (inv->n ? inv->n * 2 : 8) * sizeof *inv->pkgs);
  gsi_package *p = &inv->pkgs[inv->n++];
  memset (p, 0, sizeof *p);
  return p;
}

static void
package_clear (gsi_package *p)
{
  free (p->name);
  free (p->norm_name);
  free (p->version);
  free (p->source_name);
  free (p->source_version);
  free (p->arch);
  free (p->location);
  free (p->owner_deb);
  free (p->purl);
  free (p->license);
}

void
gsi_inventory_clear (gsi_inventory *inv)
{
  for (size_t i = 0; i < inv->n; i++)
    package_clear (&inv->pkgs[i]);
  free (inv->pkgs);
  free (inv->os_id);
  free (inv->os_version_id);
  free (inv->os_codename);
  memset (inv, 0, sizeof *inv);
}

typedef struct dpkg_stanza
{
  span package, version, arch, source, status;
} dpkg_stanza;

static void
dpkg_field (void *ctx, span name, span value)
{
  dpkg_stanza *st = ctx;

  if (span_is (name, "Package"))
    st->package = value;
  else if (span_is (name, "Version"))
    st->version = value;
  else if (span_is (name, "Architecture"))
    st->arch = value;
  else if (span_is (name, "Source"))
    st->source = value;
  else if (span_is (name, "Status"))
    st->status = value;
}

/* Whether the package's files are on disk: the third word of Status ("install ok installed").  */
static bool
dpkg_status_present (span status)
{
  const char *p = status.p, *end = status.p + status.n;
  span word = { NULL, 0 };

  for (int w = 0; w < 3; w++)
    {
      while (p < end && (*p == ' ' || *p == '\t'))
        p++;
      word.p = p;
      while (p < end && *p != ' ' && *p != '\t')
        p++;
      word.n = (size_t) (p - word.p);
    }
  return span_is (word, "installed") || span_is (word, "unpacked") || span_is (word, "half-configured")
         || span_is (word, "half-installed") || span_is (word, "triggers-awaited")
         || span_is (word, "triggers-pending");
}

static bool
valid_token (span s)
{
  if (s.n == 0)
    return false;
  for (size_t i = 0; i < s.n; i++)
    if ((unsigned char) s.p[i] <= ' ' || s.p[i] == 0x7f)
      return false;
  return true;
}

size_t
gsi_inventory_add_dpkg_status (gsi_inventory *inv, const char *data, size_t len, const char *location)
{
  size_t pos = 0, added = 0;

  for (;;)
    {
      dpkg_stanza st;
      memset (&st, 0, sizeof st);
      if (!parse_block (data, len, &pos, dpkg_field, &st))
        break;
      if (!valid_token (st.package) || !valid_token (st.version))
        continue;
      if (st.status.p != NULL && !dpkg_status_present (st.status))
        continue;

      gsi_package *p = inv_append (inv);
      p->ecosystem = GSI_ECO_DEB;
      p->name = span_dup (st.package);
      p->norm_name = xstrdup (p->name);
      p->version = span_dup (st.version);
      p->arch = valid_token (st.arch) ? span_dup (st.arch) : NULL;
      p->location = xstrdup (location);
      /* Source: "name" or "name (version)".  */
      span sname = st.source, sver = { NULL, 0 };
      if (sname.n > 0)
        {
          const char *paren = memchr (sname.p, '(', sname.n);
          if (paren != NULL)
            {
              const char *close = memchr (paren, ')', (size_t) (sname.p + sname.n - paren));
              if (close != NULL)
                {
                  sver.p = paren + 1;
                  sver.n = (size_t) (close - sver.p);
                  while (sver.n > 0 && sver.p[0] == ' ')
                    sver.p++, sver.n--;
                  while (sver.n > 0 && sver.p[sver.n - 1] == ' ')
                    sver.n--;
                }
              sname.n = (size_t) (paren - sname.p);
            }
          while (sname.n > 0 && (sname.p[sname.n - 1] == ' ' || sname.p[sname.n - 1] == '\t'))
            sname.n--;
        }
      p->source_name = valid_token (sname) ? span_dup (sname) : xstrdup (p->name);
      p->source_version = valid_token (sver) ? span_dup (sver) : xstrdup (p->version);
      added++;
    }
  return added;
}

typedef struct py_meta
{
  span name, version, license, expression;
  gsi_buf classifiers; /* "A, B" from "License :: ... :: A" */
} py_meta;

static void
py_field (void *ctx, span name, span value)
{
  py_meta *m = ctx;

  if (span_is (name, "Name"))
    m->name = value;
  else if (span_is (name, "Version"))
    m->version = value;
  else if (span_is (name, "License"))
    m->license = value;
  else if (span_is (name, "License-Expression"))
    m->expression = value;
  else if (span_is (name, "Classifier") && value.n > 11 && strncmp (value.p, "License :: ", 11) == 0)
    {
      /* The last component names the licence ("License :: OSI Approved :: MIT License").  */
      const char *last = value.p + 11;
      for (const char *q = value.p; q + 4 <= value.p + value.n; q++)
        if (memcmp (q, " :: ", 4) == 0)
          last = q + 4;
      size_t n = (size_t) (value.p + value.n - last);
      if (n > 0 && !(n == 12 && memcmp (last, "OSI Approved", 12) == 0))
        {
          if (m->classifiers.len > 0)
            gsi_buf_addstr (&m->classifiers, ", ");
          gsi_buf_add (&m->classifiers, last, n);
        }
    }
}

size_t
gsi_inventory_add_python_metadata (gsi_inventory *inv, const char *data, size_t len, const char *location)
{
  py_meta m;
  size_t pos = 0;

  memset (&m, 0, sizeof m);
  m.classifiers = (gsi_buf) GSI_BUF_INIT;
  parse_block (data, len, &pos, py_field, &m);
  if (!valid_token (m.name) || !valid_token (m.version))
    {
      gsi_buf_release (&m.classifiers);
      return 0;
    }

  gsi_package *p = inv_append (inv);
  p->ecosystem = GSI_ECO_PYPI;
  p->name = span_dup (m.name);
  p->norm_name = pep503 (p->name);
  p->version = span_dup (m.version);
  p->location = xstrdup (location);
  /* A License field holding a whole licence text is no name: the classifiers say it better.  */
  if (m.expression.n > 0)
    p->license = span_dup (m.expression);
  else if (m.license.n > 0 && m.license.n <= 100 && !span_is (m.license, "UNKNOWN"))
    p->license = span_dup (m.license);
  else if (m.classifiers.len > 0)
    p->license = text_dup (m.classifiers.buf, m.classifiers.len);
  gsi_buf_release (&m.classifiers);
  return 1;
}

static void
os_field (void *ctx, span name, span value)
{
  gsi_inventory *inv = ctx;
  char **slot = NULL;

  if (span_is (name, "ID"))
    slot = &inv->os_id;
  else if (span_is (name, "VERSION_ID"))
    slot = &inv->os_version_id;
  else if (span_is (name, "VERSION_CODENAME"))
    slot = &inv->os_codename;
  if (slot == NULL)
    return;
  if (value.n >= 2 && (value.p[0] == '"' || value.p[0] == '\'') && value.p[value.n - 1] == value.p[0])
    value.p++, value.n -= 2;
  free (*slot);
  *slot = value.n > 0 ? span_dup (value) : NULL;
}

/* os-release is KEY=value lines: rewritten as "KEY: value" for the block parser.  */
void
gsi_inventory_set_os_release (gsi_inventory *inv, const char *data, size_t len)
{
  gsi_buf b = GSI_BUF_INIT;
  size_t pos = 0;

  for (size_t i = 0; i < len; i++)
    {
      if (data[i] == '\n')
        {
          gsi_buf_addch (&b, '\n');
          continue;
        }
      const char *nl = memchr (data + i, '\n', len - i);
      size_t n = nl ? (size_t) (nl - (data + i)) : len - i;
      const char *eq = memchr (data + i, '=', n);
      if (eq != NULL && data[i] != '#' && data[i] != ' ' && data[i] != '\t')
        {
          gsi_buf_add (&b, data + i, (size_t) (eq - (data + i)));
          gsi_buf_addstr (&b, ": ");
          gsi_buf_add (&b, eq + 1, n - (size_t) (eq + 1 - (data + i)));
        }
      else
        gsi_buf_addch (&b, '#'); /* a line without '=' is no field, nor a block end */
      i += n - 1;
    }
  /* Blank lines would end the block: read every block.  */
  while (parse_block (b.buf, b.len, &pos, os_field, inv))
    ;
  gsi_buf_release (&b);
}

static int
cmp_str (const char *a, const char *b)
{
  return strcmp (a ? a : "", b ? b : "");
}

static int
cmp_package (const void *pa, const void *pb)
{
  const gsi_package *a = pa, *b = pb;
  int c;

  if (a->ecosystem != b->ecosystem)
    return a->ecosystem < b->ecosystem ? -1 : 1;
  if ((c = cmp_str (a->norm_name, b->norm_name)) != 0 || (c = cmp_str (a->version, b->version)) != 0
      || (c = cmp_str (a->location, b->location)) != 0 || (c = cmp_str (a->arch, b->arch)) != 0
      || (c = cmp_str (a->name, b->name)) != 0)
    return c;
  return cmp_str (a->purl, b->purl);
}

void
gsi_inventory_finish (gsi_inventory *inv)
{
  cleanup_free char *ns = NULL;

  for (const char *p = inv->os_id ? inv->os_id : "debian"; *p; p++)
    ;
  ns = pep503 (inv->os_id ? inv->os_id : "debian");
  for (size_t i = 0; i < inv->n; i++)
    {
      gsi_package *p = &inv->pkgs[i];
      gsi_buf b = GSI_BUF_INIT;
      char sep = '?';

      free (p->purl);
      if (p->ecosystem == GSI_ECO_DEB)
        {
          const char *dist = inv->os_version_id ? inv->os_version_id : inv->os_codename;
          gsi_buf_addstr (&b, "pkg:deb/");
          purl_escape (&b, ns);
          gsi_buf_addch (&b, '/');
          purl_escape (&b, p->name);
          gsi_buf_addch (&b, '@');
          purl_escape (&b, p->version);
          /* Qualifiers sorted by key, as the spec wants them.  */
          if (p->arch != NULL)
            {
              gsi_buf_addstr (&b, "?arch=");
              purl_escape (&b, p->arch);
              sep = '&';
            }
          if (dist != NULL)
            {
              gsi_buf_addch (&b, sep);
              gsi_buf_addstr (&b, "distro=");
              purl_escape (&b, ns);
              gsi_buf_addch (&b, '-');
              purl_escape (&b, dist);
            }
        }
      else
        {
          /* The purl spec's PyPI rule: lower case, `_` as `-`; dots stay (pkg:pypi/oslo.config).  */
          cleanup_free char *pname = xstrdup (p->name);
          for (char *c = pname; *c; c++)
            *c = *c == '_' ? '-' : (char) tolower ((unsigned char) *c);
          gsi_buf_addstr (&b, "pkg:pypi/");
          purl_escape (&b, pname);
          gsi_buf_addch (&b, '@');
          purl_escape (&b, p->version);
        }
      p->purl = gsi_buf_detach (&b, NULL);
    }
  if (inv->n > 1)
    qsort (inv->pkgs, inv->n, sizeof *inv->pkgs, cmp_package);
}

size_t
gsi_inventory_find (const gsi_inventory *inv, gsi_ecosystem e, const char *name, size_t *first)
{
  cleanup_free char *key = e == GSI_ECO_PYPI ? pep503 (name) : xstrdup (name);
  size_t lo = 0, hi = inv->n, n = 0;

  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      const gsi_package *p = &inv->pkgs[mid];
      if (p->ecosystem < e || (p->ecosystem == e && strcmp (p->norm_name, key) < 0))
        lo = mid + 1;
      else
        hi = mid;
    }
  while (lo + n < inv->n && inv->pkgs[lo + n].ecosystem == e && strcmp (inv->pkgs[lo + n].norm_name, key) == 0)
    n++;
  if (first != NULL)
    *first = lo;
  return n;
}

/* ---- which layer entries matter ------------------------------------------------------------- */

typedef enum file_kind
{
  K_NONE = 0,
  K_STATUS,
  K_STATUS_D,
  K_LIST,
  K_OS_RELEASE,
  K_PYMETA,
} file_kind;

static bool
under_site_packages (const char *path, size_t n)
{
  const char *end = path + n;

  for (const char *p = path; p < end; p++)
    {
      p = memchr (p, '-', (size_t) (end - p));
      if (p == NULL)
        return false;
      /* "site-packages/" or "dist-packages/" as a whole component.  */
      if (p >= path + 4 && end - p > 10 && memcmp (p + 1, "packages/", 9) == 0
          && (memcmp (p - 4, "site", 4) == 0 || memcmp (p - 4, "dist", 4) == 0)
          && (p == path + 4 || p[-5] == '/'))
        return true;
    }
  return false;
}

/* Classifies a regular file; *loc_len gets the length of the package location (the metadata
 * directory, or the egg-info file itself) for K_PYMETA.  */
static file_kind
classify (const char *path, size_t n, size_t *loc_len)
{
  const char *slash = memrchr (path, '/', n);
  const char *base = slash ? slash + 1 : path;
  size_t base_n = (size_t) (path + n - base);
  size_t dir_n = slash ? (size_t) (slash - path) : 0;

  if (dir_n == 12 && memcmp (path, "var/lib/dpkg", 12) == 0)
    return base_n == 6 && memcmp (base, "status", 6) == 0 ? K_STATUS : K_NONE;
  if (dir_n == 21 && memcmp (path, "var/lib/dpkg/status.d", 21) == 0)
    return base[0] != '.' && !has_suffix (base, base_n, ".md5sums") ? K_STATUS_D : K_NONE;
  if (dir_n == 17 && memcmp (path, "var/lib/dpkg/info", 17) == 0)
    return base_n > 5 && has_suffix (base, base_n, ".list") ? K_LIST : K_NONE;
  if ((n == 14 && memcmp (path, "etc/os-release", 14) == 0) || (n == 18 && memcmp (path, "usr/lib/os-release", 18) == 0))
    return K_OS_RELEASE;

  bool meta = base_n == 8 && memcmp (base, "METADATA", 8) == 0;
  bool pkginfo = base_n == 8 && memcmp (base, "PKG-INFO", 8) == 0;
  bool eggfile = has_suffix (base, base_n, ".egg-info");
  if (!meta && !pkginfo && !eggfile)
    return K_NONE;
  if (!under_site_packages (path, n))
    return K_NONE;
  if (eggfile)
    {
      *loc_len = n;
      return K_PYMETA;
    }
  if ((meta && has_suffix (path, dir_n, ".dist-info")) || (pkginfo && has_suffix (path, dir_n, ".egg-info")))
    {
      *loc_len = dir_n;
      return K_PYMETA;
    }
  /* foo.egg/EGG-INFO/PKG-INFO: the package is the .egg directory.  */
  if (pkginfo && has_suffix (path, dir_n, ".egg/EGG-INFO"))
    {
      *loc_len = dir_n - 9;
      return K_PYMETA;
    }
  return K_NONE;
}

/* ---- one layer ------------------------------------------------------------------------------ */

typedef struct kept_file
{
  char *path;
  char *location; /* K_PYMETA */
  file_kind kind;
  char *data;
  size_t len;
} kept_file;

typedef enum del_kind
{
  DEL_SELF_AND_BELOW, /* whiteout, or a non-directory replacing whatever was there */
  DEL_BELOW,          /* opaque directory */
  DEL_FILE,           /* a directory replacing a file */
} del_kind;

typedef struct deletion
{
  size_t off; /* into layer_scan.del_paths */
  del_kind kind;
} deletion;

typedef struct layer_scan
{
  gsi_store *store;
  const gsi_descriptor *desc;
  bool first;

  kept_file *files;
  size_t n_files, alloc_files;
  deletion *dels;
  size_t n_dels, alloc_dels;
  gsi_buf del_paths; /* NUL-separated */
  gsi_error err;
  int rc;
} layer_scan;

static void
kept_clear (kept_file *f)
{
  free (f->path);
  free (f->location);
  free (f->data);
}

/* Frees what the scan found and leaves ls empty, ready to be filled again.  */
static void
layer_scan_clear (layer_scan *ls)
{
  for (size_t i = 0; i < ls->n_files; i++)
    kept_clear (&ls->files[i]);
  free (ls->files);
  free (ls->dels);
  gsi_buf_release (&ls->del_paths);
  gsi_error_clear (&ls->err);
  ls->files = NULL;
  ls->dels = NULL;
  ls->n_files = ls->alloc_files = ls->n_dels = ls->alloc_dels = 0;
}

static void
add_del (layer_scan *ls, const char *path, size_t n, del_kind kind)
{
  GSI_ALLOC_GROW (ls->dels, ls->n_dels + 1, ls->alloc_dels);
  ls->dels[ls->n_dels].off = ls->del_paths.len;
  ls->dels[ls->n_dels].kind = kind;
  ls->n_dels++;
  gsi_buf_add (&ls->del_paths, path, n);
  gsi_buf_addch (&ls->del_paths, '\0');
}

#ifdef HAVE_ISAL
/* gzip through ISA-L's igzip, several times faster than the zlib that libarchive uses: the
 * decompression dominates the cost of reading an image.  */
typedef struct isal_src
{
  int fd;
  struct inflate_state st;
  uint8_t in[IO_CHUNK];
  uint8_t out[IO_CHUNK];
  bool eof, done;
} isal_src;

static la_ssize_t
isal_read (struct archive *a, void *ctx, const void **buf)
{
  isal_src *s = ctx;

  *buf = s->out;
  while (!s->done)
    {
      if (s->st.avail_in == 0 && !s->eof)
        {
          ssize_t r = read (s->fd, s->in, sizeof s->in);
          if (r < 0)
            {
              if (errno == EINTR)
                continue;
              archive_set_error (a, errno, "read");
              return -1;
            }
          if (r == 0)
            s->eof = true;
          s->st.next_in = s->in;
          s->st.avail_in = (uint32_t) r;
        }
      s->st.next_out = s->out;
      s->st.avail_out = sizeof s->out;
      int rc = isal_inflate (&s->st);
      if (rc != ISAL_DECOMP_OK)
        {
          archive_set_error (a, EINVAL, "gzip: corrupt data (igzip error %d)", rc);
          return -1;
        }
      size_t produced = sizeof s->out - s->st.avail_out;
      if (s->st.block_state == ISAL_BLOCK_FINISH)
        {
          /* Another gzip member may follow; anything else after the end is ignored, as gzip -d
           * does with trailing zeros.  */
          if (s->st.avail_in == 0 && !s->eof)
            {
              ssize_t r;
              do
                r = read (s->fd, s->in, sizeof s->in);
              while (r < 0 && errno == EINTR);
              if (r < 0)
                {
                  archive_set_error (a, errno, "read");
                  return -1;
                }
              s->eof = r == 0;
              s->st.next_in = s->in;
              s->st.avail_in = (uint32_t) r;
            }
          if (s->st.avail_in >= 2 && s->st.next_in[0] == 0x1f && s->st.next_in[1] == 0x8b)
            {
              uint8_t *next = s->st.next_in;
              uint32_t avail = s->st.avail_in;
              isal_inflate_reset (&s->st);
              s->st.crc_flag = ISAL_GZIP;
              s->st.next_in = next;
              s->st.avail_in = avail;
            }
          else
            s->done = true;
        }
      else if (produced == 0 && s->eof && s->st.avail_in == 0)
        {
          archive_set_error (a, EINVAL, "gzip: unexpected end of data");
          return -1;
        }
      if (produced > 0)
        return (la_ssize_t) produced;
    }
  return 0;
}
#endif

/* Reads the entry's data into b; K_PYMETA stops after the header block, K_LIST keeps only the
 * lines naming Python metadata directories (the rest of a .list is not needed, and all of them
 * together are large).  */
static int
read_entry (struct archive *a, file_kind kind, gsi_buf *b, gsi_buf *scratch, gsi_error *err)
{
  size_t max = kind == K_PYMETA ? MAX_HEADER_SIZE : kind == K_LIST ? MAX_LIST_SIZE : MAX_STATUS_SIZE;
  gsi_buf *dst = kind == K_LIST ? scratch : b;

  gsi_buf_reset (dst);
  for (;;)
    {
      gsi_buf_grow (dst, 64 * 1024);
      la_ssize_t r = archive_read_data (a, dst->buf + dst->len, dst->alloc - dst->len - 1);
      if (r < 0)
        return gsi_error_set (err, archive_errno (a) > 0 ? archive_errno (a) : 0, "read `%s`: %s",
                              archive_entry_pathname (NULL) ? "" : "", archive_error_string (a));
      if (r == 0)
        break;
      size_t before = dst->len;
      gsi_buf_setlen (dst, dst->len + (size_t) r);
      if (kind == K_PYMETA)
        {
          /* Search from a little before the new bytes for a blank line.  */
          size_t from = before >= 3 ? before - 3 : 0;
          char *end = NULL;
          for (char *p = dst->buf + from; (p = memchr (p, '\n', (size_t) (dst->buf + dst->len - p))) != NULL; p++)
            {
              char *q = p + 1;
              if (q < dst->buf + dst->len && *q == '\r')
                q++;
              if (q < dst->buf + dst->len && *q == '\n')
                {
                  end = p + 1;
                  break;
                }
            }
          if (end != NULL)
            {
              gsi_buf_setlen (dst, (size_t) (end - dst->buf));
              return 0;
            }
        }
      if (dst->len > max)
        {
          if (kind == K_PYMETA)
            return 0; /* headers this long are broken; what was read is parsed */
          return gsi_error_set (err, EFBIG, "larger than %zu bytes", (size_t) max);
        }
    }
  if (kind != K_LIST)
    return 0;

  gsi_buf_reset (b);
  for (size_t i = 0; i < scratch->len;)
    {
      char *line = scratch->buf + i;
      char *nl = memchr (line, '\n', scratch->len - i);
      size_t n = nl ? (size_t) (nl - line) : scratch->len - i;
      i += n + 1;
      while (n > 0 && line[0] == '/')
        line++, n--;
      if (has_suffix (line, n, ".dist-info") || has_suffix (line, n, ".egg-info") || has_suffix (line, n, ".egg"))
        ;
      else if ((has_suffix (line, n, ".dist-info/METADATA") || has_suffix (line, n, ".egg-info/PKG-INFO")))
        n -= 9;
      else if (has_suffix (line, n, ".egg/EGG-INFO/PKG-INFO"))
        n -= 18; /* the package is the .egg directory, as the layer walk names it */
      else
        continue;
      gsi_buf_add (b, line, n);
      gsi_buf_addch (b, '\n');
    }
  return 0;
}

static int
scan_layer (layer_scan *ls)
{
  gsi_error *err = &ls->err;
  cleanup_close int fd = -1;
  unsigned char magic[4] = { 0 };
  struct archive *a = NULL;
  struct archive_entry *e;
  gsi_buf data = GSI_BUF_INIT, scratch = GSI_BUF_INIT, path = GSI_BUF_INIT;
  int rc = -1, r;
#ifdef HAVE_ISAL
  isal_src *isal = NULL;
#endif

  fd = gsi_store_open_blob (ls->store, ls->desc->digest, ls->desc->size, NULL, err);
  if (fd < 0)
    return -1;
  if (pread (fd, magic, sizeof magic, 0) < 0)
    return gsi_error_set (err, errno, "read layer %s", ls->desc->digest);

  a = archive_read_new ();
  archive_read_support_format_tar (a);
  archive_read_support_format_empty (a);
#ifdef HAVE_ISAL
  if (magic[0] == 0x1f && magic[1] == 0x8b)
    {
      isal = xmalloc (sizeof *isal);
      memset (&isal->st, 0, sizeof isal->st);
      isal->fd = fd;
      isal->eof = isal->done = false;
      isal_inflate_init (&isal->st);
      isal->st.crc_flag = ISAL_GZIP;
      r = archive_read_open (a, isal, NULL, isal_read, NULL);
    }
  else
#endif
    {
      archive_read_support_filter_all (a);
      r = archive_read_open_fd (a, fd, IO_CHUNK);
    }
  if (r != ARCHIVE_OK)
    {
      gsi_error_set (err, 0, "open layer %s: %s", ls->desc->digest, archive_error_string (a));
      goto out;
    }

  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    {
      const char *name = archive_entry_pathname (e);
      if (name == NULL)
        continue;
      while (name[0] == '.' && name[1] == '/')
        name += 2;
      while (name[0] == '/')
        name++;
      size_t n = strlen (name);
      while (n > 0 && name[n - 1] == '/')
        n--;
      if (n == 0 || (n == 1 && name[0] == '.'))
        continue;
      gsi_buf_reset (&path);
      gsi_buf_add (&path, name, n);

      const char *slash = memrchr (path.buf, '/', n);
      const char *base = slash ? slash + 1 : path.buf;
      size_t dir_n = slash ? (size_t) (slash - path.buf) : 0;
      if (strncmp (base, ".wh.", 4) == 0)
        {
          if (strcmp (base, ".wh..wh..opq") == 0)
            add_del (ls, path.buf, dir_n, DEL_BELOW);
          else if (strncmp (base, ".wh..wh.", 8) != 0) /* other aufs bookkeeping: ignored */
            {
              gsi_buf tgt = GSI_BUF_INIT;
              gsi_buf_add (&tgt, path.buf, slash ? dir_n + 1 : 0);
              gsi_buf_addstr (&tgt, base + 4);
              add_del (ls, tgt.buf, tgt.len, DEL_SELF_AND_BELOW);
              gsi_buf_release (&tgt);
            }
          continue;
        }

      mode_t type = archive_entry_filetype (e);
      const char *hardlink = archive_entry_hardlink (e);
      if (!ls->first)
        add_del (ls, path.buf, n, type == AE_IFDIR && hardlink == NULL ? DEL_FILE : DEL_SELF_AND_BELOW);
      if (type == AE_IFDIR && hardlink == NULL)
        continue;

      size_t loc_len = 0;
      file_kind kind = classify (path.buf, n, &loc_len);
      if (kind == K_NONE || (type != AE_IFREG && hardlink == NULL))
        continue;

      GSI_ALLOC_GROW (ls->files, ls->n_files + 1, ls->alloc_files);
      kept_file *f = &ls->files[ls->n_files];
      memset (f, 0, sizeof *f);
      if (hardlink != NULL)
        {
          /* A hard link to an earlier entry of this layer: its content, when that was kept.  */
          const char *t = hardlink;
          while (t[0] == '.' && t[1] == '/')
            t += 2;
          while (t[0] == '/')
            t++;
          size_t k;
          for (k = ls->n_files; k > 0; k--)
            if (strcmp (ls->files[k - 1].path, t) == 0)
              break;
          if (k == 0)
            continue;
          if (kind == K_LIST && ls->files[k - 1].kind != K_LIST)
            continue; /* raw content of another kind cannot be reused as a reduced .list */
          f->data = xmalloc (ls->files[k - 1].len + 1);
          memcpy (f->data, ls->files[k - 1].data, ls->files[k - 1].len + 1);
          f->len = ls->files[k - 1].len;
        }
      else
        {
          if (read_entry (a, kind, &data, &scratch, err) < 0)
            {
              gsi_error_wrap (err, "layer %s: `%s`", ls->desc->digest, path.buf);
              goto out;
            }
          f->len = data.len;
          f->data = gsi_buf_detach (&data, NULL);
        }
      f->path = xstrndup (path.buf, n);
      f->kind = kind;
      f->location = kind == K_PYMETA ? xstrndup (path.buf, loc_len) : NULL;
      ls->n_files++;
    }
  if (r != ARCHIVE_EOF)
    {
      gsi_error_set (err, archive_errno (a) > 0 ? archive_errno (a) : 0, "layer %s: %s", ls->desc->digest,
                     archive_error_string (a));
      goto out;
    }
  rc = 0;
out:
  archive_read_free (a);
#ifdef HAVE_ISAL
  free (isal);
#endif
  gsi_buf_release (&data);
  gsi_buf_release (&scratch);
  gsi_buf_release (&path);
  return rc;
}

/* ---- the per-layer cache -------------------------------------------------------------------- */

/* A layer blob never changes, so neither does what scan_layer finds in it: the result is kept in
 * gsi-private/inventory/<hex of the blob digest> and read back instead of inflating the layer again.
 * The format, integers little-endian:
 *
 *   "gsi-inv\n"                          magic
 *   u32 version                          INV_CACHE_VERSION
 *   u32 flags                            INV_CACHE_ALL_DELS: scanned as an upper layer (see below)
 *   u32 len, bytes                       the layer blob digest ("sha256:<hex>")
 *   u64 n_files, u64 n_dels
 *   n_files x { u32 kind, u32 len, path, u32 len, location (INV_NONE: none), u64 len, data }
 *   n_dels x { u32 kind, u32 len, path }
 *   u32 crc32 of everything before it
 *
 * The bottom layer of an image is scanned without the deletions of its entries (nothing is below
 * it); such an entry has no INV_CACHE_ALL_DELS and is a miss for a use as an upper layer, which
 * then rewrites it with them.  An entry that does not parse exactly (short, trailing bytes, another
 * magic, version, digest or crc, a field out of range) is a miss too: the layer is scanned and the
 * entry rewritten.  The crc catches an entry damaged after a crash, since entries are not fsynced.
 *
 * INV_CACHE_VERSION must change whenever scan_layer would record something else for the same blob
 * (classify, read_entry's reductions, the deletion rules): old entries then miss.  */
#define INV_CACHE_MAGIC "gsi-inv\n"
#define INV_CACHE_VERSION 1u
#define INV_CACHE_ALL_DELS 1u
#define INV_NONE 0xffffffffu
#define MAX_CACHE_ENTRY ((uint64_t) 4 << 30)

static void
put_u32 (gsi_buf *b, uint32_t v)
{
  unsigned char c[4] = { (unsigned char) v, (unsigned char) (v >> 8), (unsigned char) (v >> 16),
                         (unsigned char) (v >> 24) };
  gsi_buf_add (b, c, sizeof c);
}

static void
put_u64 (gsi_buf *b, uint64_t v)
{
  put_u32 (b, (uint32_t) v);
  put_u32 (b, (uint32_t) (v >> 32));
}

static void
put_str (gsi_buf *b, const char *s)
{
  size_t n = strlen (s);
  put_u32 (b, (uint32_t) n);
  gsi_buf_add (b, s, n);
}

static void
cache_encode (const layer_scan *ls, gsi_buf *b)
{
  gsi_buf_add (b, INV_CACHE_MAGIC, 8);
  put_u32 (b, INV_CACHE_VERSION);
  put_u32 (b, ls->first ? 0 : INV_CACHE_ALL_DELS);
  put_str (b, ls->desc->digest);
  put_u64 (b, ls->n_files);
  put_u64 (b, ls->n_dels);
  for (size_t i = 0; i < ls->n_files; i++)
    {
      const kept_file *f = &ls->files[i];
      put_u32 (b, (uint32_t) f->kind);
      put_str (b, f->path);
      if (f->location != NULL)
        put_str (b, f->location);
      else
        put_u32 (b, INV_NONE);
      put_u64 (b, f->len);
      gsi_buf_add (b, f->data, f->len);
    }
  for (size_t i = 0; i < ls->n_dels; i++)
    {
      put_u32 (b, (uint32_t) ls->dels[i].kind);
      put_str (b, ls->del_paths.buf + ls->dels[i].off);
    }
  put_u32 (b, (uint32_t) crc32_z (0, (const Bytef *) b->buf, b->len));
}

typedef struct reader
{
  const unsigned char *p, *end;
  bool ok; /* false from the first read past the end on */
} reader;

static const unsigned char *
take (reader *r, uint64_t n)
{
  const unsigned char *p = r->p;

  if (!r->ok || n > (uint64_t) (r->end - r->p))
    {
      r->ok = false;
      return NULL;
    }
  r->p += n;
  return p;
}

static uint32_t
get_u32 (reader *r)
{
  const unsigned char *c = take (r, 4);
  return c ? (uint32_t) c[0] | (uint32_t) c[1] << 8 | (uint32_t) c[2] << 16 | (uint32_t) c[3] << 24 : 0;
}

static uint64_t
get_u64 (reader *r)
{
  uint64_t lo = get_u32 (r);
  return lo | (uint64_t) get_u32 (r) << 32;
}

/* A non-empty path without NULs (paths are compared as C strings); NULL when there is none.  */
static char *
get_path (reader *r, uint32_t n)
{
  const unsigned char *p = n == 0 || n == INV_NONE ? NULL : take (r, n);

  if (p == NULL || memchr (p, '\0', n) != NULL)
    {
      r->ok = false;
      return NULL;
    }
  return xstrndup ((const char *) p, n);
}

/* Fills ls from an encoded entry; false (ls left empty) unless it parses exactly.  */
static bool
cache_decode (layer_scan *ls, const unsigned char *data, size_t len)
{
  reader r = { data, data + len, true };
  const unsigned char *magic, *digest;
  uint32_t flags, n;
  uint64_t n_files, n_dels;

  if (len < 4)
    return false;
  r.p = r.end - 4;
  if (get_u32 (&r) != (uint32_t) crc32_z (0, data, len - 4))
    return false;
  r.p = data;
  r.end -= 4;
  magic = take (&r, 8);
  if (magic == NULL || memcmp (magic, INV_CACHE_MAGIC, 8) != 0 || get_u32 (&r) != INV_CACHE_VERSION)
    return false;
  flags = get_u32 (&r);
  if ((flags & ~INV_CACHE_ALL_DELS) != 0 || (!ls->first && !(flags & INV_CACHE_ALL_DELS)))
    return false;
  n = get_u32 (&r);
  digest = take (&r, n);
  if (digest == NULL || n != strlen (ls->desc->digest) || memcmp (digest, ls->desc->digest, n) != 0)
    return false;
  n_files = get_u64 (&r);
  n_dels = get_u64 (&r);
  /* Each record takes at least 12 bytes: counts beyond that are lies, not allocations to try.  */
  if (!r.ok || n_files > (uint64_t) (r.end - r.p) / 12 || n_dels > (uint64_t) (r.end - r.p) / 8)
    return false;
  ls->files = xcalloc (n_files ? n_files : 1, sizeof *ls->files);
  ls->alloc_files = n_files ? n_files : 1;
  for (uint64_t i = 0; i < n_files && r.ok; i++)
    {
      kept_file *f = &ls->files[ls->n_files++];
      uint32_t kind = get_u32 (&r);
      f->path = get_path (&r, get_u32 (&r));
      n = get_u32 (&r);
      if (n != INV_NONE)
        f->location = get_path (&r, n);
      uint64_t dlen = get_u64 (&r);
      const unsigned char *d = take (&r, dlen);
      if (kind < K_STATUS || kind > K_PYMETA || (kind == K_PYMETA) != (f->location != NULL) || d == NULL)
        r.ok = false;
      if (!r.ok)
        break;
      f->kind = (file_kind) kind;
      f->len = (size_t) dlen;
      f->data = xmalloc (f->len + 1);
      memcpy (f->data, d, f->len);
      f->data[f->len] = '\0';
    }
  for (uint64_t i = 0; i < n_dels && r.ok; i++)
    {
      uint32_t kind = get_u32 (&r);
      n = get_u32 (&r);
      const unsigned char *p = n == 0 || n == INV_NONE ? NULL : take (&r, n);
      if (kind > DEL_FILE || p == NULL || memchr (p, '\0', n) != NULL)
        r.ok = false;
      /* The bottom layer's deletions would have nothing to delete.  */
      else if (!ls->first)
        add_del (ls, (const char *) p, n, (del_kind) kind);
    }
  if (!r.ok || r.p != r.end)
    {
      layer_scan_clear (ls);
      return false;
    }
  return true;
}

/* Loads the layer's entry into ls; false on a miss of any kind, ls left empty.  */
static bool
cache_load (layer_scan *ls, const char *path)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  cleanup_free unsigned char *data = NULL;
  struct stat st;
  size_t got = 0;

  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || (uint64_t) st.st_size > MAX_CACHE_ENTRY)
    return false;
  data = xmalloc ((size_t) st.st_size + 1);
  /* One byte more than the size, to see an entry that grew under us.  */
  while (got <= (size_t) st.st_size)
    {
      ssize_t r = read (fd, data + got, (size_t) st.st_size + 1 - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break;
      got += (size_t) r;
    }
  return got == (size_t) st.st_size && cache_decode (ls, data, got);
}

/* scan_layer, answered from the layer's inventory entry when there is a good one.  */
static int
scan_layer_cached (layer_scan *ls)
{
  cleanup_error gsi_error ign = GSI_ERROR_INIT;
  cleanup_free char *path = gsi_store_inventory_path (ls->store, ls->desc->digest, &ign);
  gsi_buf enc = GSI_BUF_INIT;

  /* The entry answers only while the blob is there, so a missing layer fails as it would without it.  */
  if (path != NULL && gsi_store_has_blob (ls->store, ls->desc->digest) && cache_load (ls, path))
    return 0;
  if (scan_layer (ls) < 0)
    return -1;
  if (path == NULL)
    return 0;
  /* A failure to write the entry (a full disk, a read-only store) does not fail the read: the entry
   * is a cache and the blob, just read, is the truth.  The next read scans the layer again.  */
  cache_encode (ls, &enc);
  gsi_store_put_inventory (ls->store, ls->desc->digest, enc.buf, enc.len, &ign);
  gsi_buf_release (&enc);
  return 0;
}

/* ---- merging the layers --------------------------------------------------------------------- */

typedef struct merged
{
  kept_file *v; /* sorted by path, unique */
  size_t n, alloc;
} merged;

static int
cmp_kept (const void *pa, const void *pb)
{
  const kept_file *a = pa, *b = pb;
  return strcmp (a->path, b->path);
}

/* First index whose path is >= key.  */
static size_t
lower_bound (const merged *m, const char *key)
{
  size_t lo = 0, hi = m->n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (strcmp (m->v[mid].path, key) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

static void
mark_below (const merged *m, const char *dir, bool *dead, gsi_buf *tmp)
{
  size_t i;

  gsi_buf_reset (tmp);
  if (*dir != '\0')
    {
      gsi_buf_addstr (tmp, dir);
      gsi_buf_addch (tmp, '/');
    }
  for (i = lower_bound (m, tmp->buf); i < m->n && strncmp (m->v[i].path, tmp->buf, tmp->len) == 0; i++)
    dead[i] = true;
}

static void
apply_layer (merged *m, layer_scan *ls)
{
  gsi_buf tmp = GSI_BUF_INIT;

  if (m->n > 0 && ls->n_dels > 0)
    {
      bool *dead = xcalloc (m->n, sizeof *dead);
      size_t j = 0;

      for (size_t d = 0; d < ls->n_dels; d++)
        {
          const char *p = ls->del_paths.buf + ls->dels[d].off;
          if (ls->dels[d].kind != DEL_BELOW)
            {
              size_t i = lower_bound (m, p);
              if (i < m->n && strcmp (m->v[i].path, p) == 0)
                dead[i] = true;
            }
          if (ls->dels[d].kind != DEL_FILE)
            mark_below (m, p, dead, &tmp);
        }
      for (size_t i = 0; i < m->n; i++)
        {
          if (dead[i])
            kept_clear (&m->v[i]);
          else
            m->v[j++] = m->v[i];
        }
      m->n = j;
      free (dead);
    }

  /* The layer's own files: the last of a path wins within the layer, and it replaces a lower one.  */
  size_t old_n = m->n;
  for (size_t k = ls->n_files; k > 0; k--)
    {
      kept_file *f = &ls->files[k - 1];
      bool later = false;
      for (size_t q = k; q < ls->n_files && !later; q++)
        later = ls->files[q].path != NULL && strcmp (ls->files[q].path, f->path) == 0;
      if (later)
        continue;
      merged lower = { m->v, old_n, 0 };
      size_t i = lower_bound (&lower, f->path);
      if (i < old_n && strcmp (m->v[i].path, f->path) == 0)
        {
          kept_clear (&m->v[i]);
          m->v[i] = *f;
        }
      else
        {
          GSI_ALLOC_GROW (m->v, m->n + 1, m->alloc);
          m->v[m->n++] = *f;
        }
      memset (f, 0, sizeof *f);
    }
  if (m->n > old_n)
    qsort (m->v, m->n, sizeof *m->v, cmp_kept);
  gsi_buf_release (&tmp);
}

typedef struct scan_pool
{
  layer_scan *scans;
  size_t *order; /* indexes into scans, largest blob first */
  size_t n;
  size_t next;
  pthread_mutex_t lock;
} scan_pool;

/* Largest first: inflating is nearly all the work, and a big layer started last would leave the
 * other cores idle while it runs (an image is often one large layer and several small ones).  */
static int
cmp_scan_size (const void *pa, const void *pb, void *arg)
{
  const layer_scan *scans = arg;
  int64_t a = scans[*(const size_t *) pa].desc->size, b = scans[*(const size_t *) pb].desc->size;

  if (a != b)
    return a > b ? -1 : 1;
  return *(const size_t *) pa < *(const size_t *) pb ? -1 : 1;
}

static void *
scan_worker (void *arg)
{
  scan_pool *pool = arg;

  for (;;)
    {
      pthread_mutex_lock (&pool->lock);
      size_t i = pool->next++;
      pthread_mutex_unlock (&pool->lock);
      if (i >= pool->n)
        return NULL;
      pool->scans[pool->order[i]].rc = scan_layer_cached (&pool->scans[pool->order[i]]);
    }
}

typedef struct owner_ref
{
  const char *path;
  const char *owner; /* malloc'd in owners_names */
} owner_ref;

static int
cmp_owner (const void *pa, const void *pb)
{
  const owner_ref *a = pa, *b = pb;
  int c = strcmp (a->path, b->path);
  return c ? c : strcmp (a->owner, b->owner);
}

static void
build_inventory (merged *m, gsi_inventory *inv)
{
  const kept_file *osr = NULL;
  owner_ref *owners = NULL;
  size_t n_owners = 0, alloc_owners = 0;
  gsi_strvec owner_names = GSI_STRVEC_INIT;

  for (size_t i = 0; i < m->n; i++)
    {
      const kept_file *f = &m->v[i];
      switch (f->kind)
        {
        case K_OS_RELEASE:
          if (osr == NULL || strcmp (f->path, "etc/os-release") == 0)
            osr = f;
          break;
        case K_STATUS:
        case K_STATUS_D:
          gsi_inventory_add_dpkg_status (inv, f->data, f->len, f->path);
          break;
        case K_PYMETA:
          gsi_inventory_add_python_metadata (inv, f->data, f->len, f->location);
          break;
        case K_LIST:
          {
            /* "var/lib/dpkg/info/python3-yaml:amd64.list" is owned by python3-yaml.  */
            const char *base = f->path + strlen ("var/lib/dpkg/info/");
            size_t bn = strlen (base) - 5;
            const char *colon = memchr (base, ':', bn);
            gsi_strvec_push_owned (&owner_names, xstrndup (base, colon ? (size_t) (colon - base) : bn));
            for (char *p = f->data; p != NULL && p < f->data + f->len;)
              {
                char *nl = memchr (p, '\n', (size_t) (f->data + f->len - p));
                if (nl == NULL)
                  break;
                *nl = '\0';
                GSI_ALLOC_GROW (owners, n_owners + 1, alloc_owners);
                owners[n_owners].path = p;
                owners[n_owners].owner = owner_names.v[owner_names.n - 1];
                n_owners++;
                p = nl + 1;
              }
          }
          break;
        case K_NONE:
          break;
        }
    }
  if (osr != NULL)
    gsi_inventory_set_os_release (inv, osr->data, osr->len);
  if (n_owners > 1)
    qsort (owners, n_owners, sizeof *owners, cmp_owner);
  for (size_t i = 0; i < inv->n && n_owners > 0; i++)
    {
      gsi_package *p = &inv->pkgs[i];
      if (p->ecosystem != GSI_ECO_PYPI)
        continue;
      size_t lo = 0, hi = n_owners;
      while (lo < hi)
        {
          size_t mid = lo + (hi - lo) / 2;
          if (strcmp (owners[mid].path, p->location) < 0)
            lo = mid + 1;
          else
            hi = mid;
        }
      if (lo < n_owners && strcmp (owners[lo].path, p->location) == 0)
        p->owner_deb = xstrdup (owners[lo].owner);
    }
  free (owners);
  gsi_strvec_clear (&owner_names);
  gsi_inventory_finish (inv);
}

int
gsi_inventory_read (gsi_store *s, const char *ref, gsi_inventory *out, gsi_error *err)
{
  gsi_manifest m;
  merged acc = { NULL, 0, 0 };
  scan_pool pool;
  pthread_t threads[MAX_THREADS];
  size_t n_threads = 0;
  int rc = -1;

  memset (out, 0, sizeof *out);
  gsi_manifest_init (&m);
  if (gsi_store_load_image (s, ref, NULL, &m, NULL, err) < 0)
    {
      gsi_manifest_clear (&m);
      return -1;
    }

  pool.n = m.n_layers;
  pool.next = 0;
  pool.scans = xcalloc (m.n_layers ? m.n_layers : 1, sizeof *pool.scans);
  pthread_mutex_init (&pool.lock, NULL);
  for (size_t i = 0; i < m.n_layers; i++)
    {
      pool.scans[i].store = s;
      pool.scans[i].desc = &m.layers[i];
      pool.scans[i].first = i == 0;
      pool.scans[i].del_paths = (gsi_buf) GSI_BUF_INIT;
    }
  pool.order = xcalloc (m.n_layers ? m.n_layers : 1, sizeof *pool.order);
  for (size_t i = 0; i < m.n_layers; i++)
    pool.order[i] = i;
  qsort_r (pool.order, m.n_layers, sizeof *pool.order, cmp_scan_size, pool.scans);

  long cpus = sysconf (_SC_NPROCESSORS_ONLN);
  size_t want = cpus > 0 ? (size_t) cpus : 1;
  if (want > MAX_THREADS)
    want = MAX_THREADS;
  if (want > m.n_layers)
    want = m.n_layers;
  /* The calling thread works too.  */
  for (size_t i = 1; i < want; i++)
    if (pthread_create (&threads[n_threads], NULL, scan_worker, &pool) == 0)
      n_threads++;
  scan_worker (&pool);
  for (size_t i = 0; i < n_threads; i++)
    pthread_join (threads[i], NULL);
  pthread_mutex_destroy (&pool.lock);

  for (size_t i = 0; i < m.n_layers; i++)
    if (pool.scans[i].rc < 0)
      {
        gsi_error_set (err, pool.scans[i].err.code, "layer %zu: %s", i + 1,
                       pool.scans[i].err.msg ? pool.scans[i].err.msg : "failed");
        goto out;
      }
  for (size_t i = 0; i < m.n_layers; i++)
    apply_layer (&acc, &pool.scans[i]);
  build_inventory (&acc, out);
  rc = 0;
out:
  for (size_t i = 0; i < m.n_layers; i++)
    layer_scan_clear (&pool.scans[i]);
  free (pool.scans);
  free (pool.order);
  for (size_t i = 0; i < acc.n; i++)
    kept_clear (&acc.v[i]);
  free (acc.v);
  gsi_manifest_clear (&m);
  return rc;
}
