#include "strvec.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>

void
gsi_strvec_push_owned (gsi_strvec *sv, char *s)
{
  GSI_ALLOC_GROW (sv->v, sv->n + 2, sv->alloc);
  sv->v[sv->n++] = s;
  sv->v[sv->n] = NULL;
}

void
gsi_strvec_push (gsi_strvec *sv, const char *s)
{
  gsi_strvec_push_owned (sv, xstrdup (s));
}

void
gsi_strvec_pushf (gsi_strvec *sv, const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start (ap, fmt);
  if (vasprintf (&s, fmt, ap) < 0)
    {
      fprintf (stderr, "gsi: fatal: out of memory\n");
      abort ();
    }
  va_end (ap);
  gsi_strvec_push_owned (sv, s);
}

void
gsi_strvec_clear (gsi_strvec *sv)
{
  for (size_t i = 0; i < sv->n; i++)
    free (sv->v[i]);
  free (sv->v);
  sv->v = NULL;
  sv->n = 0;
  sv->alloc = 0;
}
