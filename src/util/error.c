#include "error.h"
#include "buf.h"
#include "xalloc.h"

#include <string.h>

int
gsi_error_vset (gsi_error *err, int code, const char *fmt, va_list ap)
{
  gsi_buf b = GSI_BUF_INIT;

  if (err == NULL)
    return -1;
  gsi_error_clear (err);
  gsi_buf_vaddf (&b, fmt, ap);
  if (code)
    gsi_buf_addf (&b, ": %s", strerror (code));
  err->code = code;
  err->msg = gsi_buf_detach (&b, NULL);
  return -1;
}

int
gsi_error_set (gsi_error *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  gsi_error_vset (err, code, fmt, ap);
  va_end (ap);
  return -1;
}

int
gsi_error_at (gsi_error *err, const char *file, int line, int col, const char *fmt, ...)
{
  gsi_buf b = GSI_BUF_INIT;
  va_list ap;

  if (err == NULL)
    return -1;
  gsi_error_clear (err);
  gsi_buf_addstr (&b, file ? file : "<input>");
  if (line > 0)
    {
      gsi_buf_addf (&b, ":%d", line);
      if (col > 0)
        gsi_buf_addf (&b, ":%d", col);
    }
  gsi_buf_addstr (&b, ": ");
  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  err->msg = gsi_buf_detach (&b, NULL);
  err->file = xstrdup (file ? file : "<input>");
  err->line = line;
  err->col = col;
  return -1;
}

int
gsi_error_wrap (gsi_error *err, const char *fmt, ...)
{
  gsi_buf b = GSI_BUF_INIT;
  va_list ap;

  if (err == NULL)
    return -1;
  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  gsi_buf_addstr (&b, ": ");
  gsi_buf_addstr (&b, err->msg ? err->msg : "unknown error");
  free (err->msg);
  err->msg = gsi_buf_detach (&b, NULL);
  return -1;
}

void
gsi_error_clear (gsi_error *err)
{
  if (err == NULL)
    return;
  free (err->msg);
  free (err->file);
  err->msg = NULL;
  err->file = NULL;
  err->code = 0;
  err->line = 0;
  err->col = 0;
}
