/* The error object every fallible gsi function fills.
 *
 * A fallible function is `int fn (..., gsi_error *err)` and returns a negative value on failure
 * (pointer-returning ones return NULL).  The constructor returns -1, so a failure is one line:
 *   return gsi_error_set (err, errno, "open `%s`", path);
 * Callers add context in front with gsi_error_wrap ("outer: inner").  Only src/cli prints, once.
 * A located error (Containerfile syntax, catalog data) also records file, line and column; its
 * message already reads "FILE:LINE:COL: cause".  */
#ifndef GSI_ERROR_H
#define GSI_ERROR_H

#include <stdarg.h>

typedef struct gsi_error
{
  int code;   /* errno, or 0 when the cause is not a system call */
  char *msg;  /* NULL when no error has been set */
  char *file; /* for located errors, else NULL */
  int line;   /* 1-based, 0 when unknown */
  int col;    /* 1-based, 0 when unknown */
} gsi_error;

#define GSI_ERROR_INIT { 0, NULL, NULL, 0, 0 }

/* Sets the error; with code != 0 appends ": strerror(code)".  Returns -1.
 * A second set on an error that is already set replaces it.  */
int gsi_error_set (gsi_error *err, int code, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
int gsi_error_vset (gsi_error *err, int code, const char *fmt, va_list ap) __attribute__ ((format (printf, 3, 0)));

/* A located error: the message becomes "FILE:LINE:COL: cause" (":COL" left out when col is 0,
 * ":LINE:COL" when line is 0).  Returns -1.  */
int gsi_error_at (gsi_error *err, const char *file, int line, int col, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

/* Puts "context: " in front of the message.  Returns -1.  */
int gsi_error_wrap (gsi_error *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Frees the message and resets the object; safe to call twice.  */
void gsi_error_clear (gsi_error *err);

static inline void
cleanup_errorp (gsi_error *e)
{
  gsi_error_clear (e);
}
#define cleanup_error __attribute__ ((cleanup (cleanup_errorp)))

#endif
