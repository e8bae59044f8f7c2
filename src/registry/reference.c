/* Image references, parsed by hand in the grammar of distribution/reference (ParseNormalizedNamed):
 * the domain is split off the way Docker does it, then every part is checked against its rule, so
 * an error can say which part is wrong instead of "invalid reference format".  */
#include "registry/reference.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128
#define SHA256_HEX_LEN 64

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum (char c)
{
  return is_lower_alnum (c) || (c >= 'A' && c <= 'Z');
}

static bool
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

static bool
is_hex (char c)
{
  return is_digit (c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
is_lower_hex (char c)
{
  return is_digit (c) || (c >= 'a' && c <= 'f');
}

static bool
has_upper (const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 'A' && s[i] <= 'Z')
      return true;
  return false;
}

/* A DNS label: alphanumerics, inner dashes allowed ([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?).  */
static bool
valid_label (const char *s, size_t n)
{
  if (n == 0 || !is_alnum (s[0]) || !is_alnum (s[n - 1]))
    return false;
  for (size_t i = 1; i + 1 < n; i++)
    if (!is_alnum (s[i]) && s[i] != '-')
      return false;
  return true;
}

/* host [":" port], host being labels joined by '.' or "[" hex-and-colons "]".  */
static bool
valid_domain (const char *s, size_t n)
{
  size_t host_end;

  if (n == 0)
    return false;
  if (s[0] == '[')
    {
      size_t i = 1;
      while (i < n && (is_hex (s[i]) || s[i] == ':'))
        i++;
      if (i == 1 || i >= n || s[i] != ']')
        return false;
      host_end = i + 1;
    }
  else
    {
      size_t start = 0, i = 0;
      while (i < n && s[i] != ':')
        {
          if (s[i] == '.')
            {
              if (!valid_label (s + start, i - start))
                return false;
              start = i + 1;
            }
          i++;
        }
      if (!valid_label (s + start, i - start))
        return false;
      host_end = i;
    }
  if (host_end == n)
    return true;
  if (s[host_end] != ':' || host_end + 1 == n)
    return false;
  for (size_t i = host_end + 1; i < n; i++)
    if (!is_digit (s[i]))
      return false;
  return true;
}

/* [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*  */
static bool
valid_component (const char *s, size_t n)
{
  size_t i = 0;

  if (n == 0 || !is_lower_alnum (s[0]) || !is_lower_alnum (s[n - 1]))
    return false;
  while (i < n)
    {
      if (is_lower_alnum (s[i]))
        {
          i++;
          continue;
        }
      if (s[i] == '.')
        i++;
      else if (s[i] == '_')
        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
      else if (s[i] == '-')
        while (i < n && s[i] == '-')
          i++;
      else
        return false;
      /* A separator must be followed by an alphanumeric, never by another separator.  */
      if (i >= n || !is_lower_alnum (s[i]))
        return false;
    }
  return true;
}

static bool
valid_path (const char *s, size_t n)
{
  size_t start = 0;

  for (size_t i = 0; i <= n; i++)
    if (i == n || s[i] == '/')
      {
        if (!valid_component (s + start, i - start))
          return false;
        start = i + 1;
      }
  return true;
}

bool
gsi_reference_domain_valid (const char *s)
{
  return s != NULL && valid_domain (s, strlen (s));
}

bool
gsi_reference_path_valid (const char *s)
{
  return s != NULL && valid_path (s, strlen (s));
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}  */
static bool
valid_tag (const char *s)
{
  size_t n = strlen (s);

  if (n == 0 || n > TAG_MAX_LEN || !(is_alnum (s[0]) || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!is_alnum (s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

/* The algorithm part of an OCI digest: [a-z0-9]+ ([+._-] [a-z0-9]+)*.  */
static bool
valid_algorithm (const char *s, size_t n)
{
  if (n == 0 || !is_lower_alnum (s[0]) || !is_lower_alnum (s[n - 1]))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!is_lower_alnum (s[i]) && !(strchr ("+._-", s[i]) && is_lower_alnum (s[i + 1])))
      return false;
  return true;
}

/* NULL when d is a sha256 digest, else why it is not.  */
static const char *
digest_problem (const char *d)
{
  const char *colon = strchr (d, ':');
  size_t hex_len;

  if (colon == NULL || !valid_algorithm (d, (size_t) (colon - d)))
    return "invalid digest format";
  if ((size_t) (colon - d) != 6 || strncmp (d, "sha256", 6) != 0)
    return "unsupported digest algorithm";
  hex_len = strlen (colon + 1);
  if (hex_len != SHA256_HEX_LEN)
    return "invalid digest length";
  for (size_t i = 0; i < hex_len; i++)
    if (!is_lower_hex (colon[1 + i]))
      return "invalid digest format";
  return NULL;
}

/* Docker refuses a bare 64-hex name: it would be mistaken for an image ID.  */
static bool
is_image_id (const char *s)
{
  size_t n = strlen (s);

  if (n != SHA256_HEX_LEN)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!is_lower_hex (s[i]))
      return false;
  return true;
}

static int __attribute__ ((format (printf, 3, 4)))
fail (gsi_error *err, const char *s, const char *fmt, ...)
{
  gsi_buf b = GSI_BUF_INIT;
  va_list ap;

  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  gsi_error_set (err, 0, "invalid reference \"%s\": %s", s, b.buf);
  gsi_buf_release (&b);
  return -1;
}

/* Splits name into domain and path as Docker's splitDockerDomain does: the first component is a
 * domain when it has '.', ':' or an upper-case letter or is "localhost".  */
static void
split_domain (const char *name, char **domain, char **path)
{
  const char *slash = strchr (name, '/');
  size_t n = slash ? (size_t) (slash - name) : 0;

  if (slash != NULL
      && (memchr (name, '.', n) || memchr (name, ':', n) || has_upper (name, n)
          || (n == 9 && strncmp (name, "localhost", 9) == 0)))
    {
      *domain = xstrndup (name, n);
      *path = xstrdup (slash + 1);
    }
  else
    {
      *domain = xstrdup (GSI_DEFAULT_REGISTRY);
      *path = xstrdup (name);
    }
  if (strcmp (*domain, "index.docker.io") == 0)
    {
      free (*domain);
      *domain = xstrdup (GSI_DEFAULT_REGISTRY);
    }
  if (strcmp (*domain, GSI_DEFAULT_REGISTRY) == 0 && strchr (*path, '/') == NULL)
    {
      char *p = xasprintf ("library/%s", *path);
      free (*path);
      *path = p;
    }
}

static int
check_path (const char *s, const char *path, gsi_error *err)
{
  size_t start = 0, n = strlen (path);

  if (has_upper (path, n))
    return fail (err, s, "repository name must be lowercase");
  for (size_t i = 0; i <= n; i++)
    if (i == n || path[i] == '/')
      {
        if (i == start)
          return fail (err, s, "empty path component");
        if (!valid_component (path + start, i - start))
          return fail (err, s, "invalid path component \"%.*s\"", (int) (i - start), path + start);
        start = i + 1;
      }
  return 0;
}

int
gsi_reference_parse (const char *s, gsi_reference *out, gsi_error *err)
{
  cleanup_free char *name = NULL;
  const char *at, *last_slash, *colon;
  gsi_reference r = GSI_REFERENCE_INIT;

  gsi_reference_clear (out);
  if (s == NULL || *s == '\0')
    return fail (err, "", "empty reference");
  if (is_image_id (s))
    return fail (err, s, "a 64-character hexadecimal name is an image ID, not a repository");

  at = strchr (s, '@');
  name = at ? xstrndup (s, (size_t) (at - s)) : xstrdup (s);
  if (at != NULL)
    {
      const char *why = digest_problem (at + 1);
      if (why != NULL)
        return fail (err, s, "%s", why);
    }
  /* The tag starts at the first ':' of the last component: a ':' before a '/' is a port.  */
  last_slash = strrchr (name, '/');
  colon = strchr (last_slash ? last_slash : name, ':');
  if (colon != NULL)
    {
      if (!valid_tag (colon + 1))
        return fail (err, s, colon[1] == '\0' ? "empty tag" : "invalid tag");
      r.tag = xstrdup (colon + 1);
      name[colon - name] = '\0';
    }
  if (*name == '\0')
    {
      gsi_reference_clear (&r);
      return fail (err, s, "repository name must have at least one component");
    }

  split_domain (name, &r.domain, &r.path);
  if (!valid_domain (r.domain, strlen (r.domain)))
    {
      fail (err, s, "invalid registry domain \"%s\"", r.domain);
      gsi_reference_clear (&r);
      return -1;
    }
  if (check_path (s, r.path, err) < 0)
    {
      gsi_reference_clear (&r);
      return -1;
    }
  if (strlen (r.domain) + 1 + strlen (r.path) > NAME_MAX_LEN)
    {
      gsi_reference_clear (&r);
      return fail (err, s, "name longer than %d characters", NAME_MAX_LEN);
    }
  if (at != NULL)
    r.digest = xstrdup (at + 1);
  *out = r;
  return 0;
}

void
gsi_reference_clear (gsi_reference *r)
{
  if (r == NULL)
    return;
  free (r->domain);
  free (r->path);
  free (r->tag);
  free (r->digest);
  *r = (gsi_reference) GSI_REFERENCE_INIT;
}

static char *
dup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

void
gsi_reference_copy (gsi_reference *dst, const gsi_reference *src)
{
  gsi_reference r = GSI_REFERENCE_INIT;

  r.domain = dup_or_null (src->domain);
  r.path = dup_or_null (src->path);
  r.tag = dup_or_null (src->tag);
  r.digest = dup_or_null (src->digest);
  gsi_reference_clear (dst);
  *dst = r;
}

const char *
gsi_reference_tag_or_latest (const gsi_reference *r)
{
  if (r->tag)
    return r->tag;
  return r->digest ? NULL : "latest";
}

const char *
gsi_reference_manifest_ref (const gsi_reference *r)
{
  return r->digest ? r->digest : gsi_reference_tag_or_latest (r);
}

char *
gsi_reference_string (const gsi_reference *r)
{
  gsi_buf b = GSI_BUF_INIT;

  gsi_buf_addf (&b, "%s/%s", r->domain, r->path);
  if (r->tag)
    gsi_buf_addf (&b, ":%s", r->tag);
  if (r->digest)
    gsi_buf_addf (&b, "@%s", r->digest);
  return gsi_buf_detach (&b, NULL);
}

char *
gsi_reference_name (const gsi_reference *r)
{
  return xasprintf ("%s/%s", r->domain, r->path);
}

const char *
gsi_reference_api_host (const char *domain)
{
  if (strcmp (domain, GSI_DEFAULT_REGISTRY) == 0 || strcmp (domain, "index.docker.io") == 0)
    return "registry-1.docker.io";
  return domain;
}
