/* gsi_strvec: a NULL-terminated, growable array of owned strings (an argv), like git's strvec. */
#ifndef GSI_STRVEC_H
#define GSI_STRVEC_H

#include <stddef.h>

typedef struct gsi_strvec
{
  char **v;   /* always NULL-terminated once anything was pushed; NULL before */
  size_t n;
  size_t alloc;
} gsi_strvec;

#define GSI_STRVEC_INIT { NULL, 0, 0 }

void gsi_strvec_push (gsi_strvec *sv, const char *s);
/* Takes ownership of s.  */
void gsi_strvec_push_owned (gsi_strvec *sv, char *s);
void gsi_strvec_pushf (gsi_strvec *sv, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void gsi_strvec_clear (gsi_strvec *sv);

static inline void
cleanup_strvecp (gsi_strvec *sv)
{
  gsi_strvec_clear (sv);
}
#define cleanup_strvec __attribute__ ((cleanup (cleanup_strvecp)))

#endif
