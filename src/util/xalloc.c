#include "xalloc.h"

#include <stdarg.h>
#include <string.h>

static void __attribute__ ((noreturn))
oom (size_t n)
{
  fprintf (stderr, "gsi: fatal: out of memory allocating %zu bytes\n", n);
  abort ();
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (!p)
    oom (n);
  return p;
}

void *
xcalloc (size_t nmemb, size_t size)
{
  void *p = calloc (nmemb ? nmemb : 1, size ? size : 1);
  if (!p)
    oom (nmemb * size);
  return p;
}

void *
xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n ? n : 1);
  if (!q)
    oom (n);
  return q;
}

char *
xstrdup (const char *s)
{
  char *p = strdup (s);
  if (!p)
    oom (strlen (s) + 1);
  return p;
}

char *
xstrndup (const char *s, size_t n)
{
  char *p = strndup (s, n);
  if (!p)
    oom (n + 1);
  return p;
}

char *
xasprintf (const char *fmt, ...)
{
  va_list ap;
  char *p = NULL;
  va_start (ap, fmt);
  int r = vasprintf (&p, fmt, ap);
  va_end (ap);
  if (r < 0)
    oom (strlen (fmt));
  return p;
}
