#include "buf.h"
#include "error.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>
#include <stdint.h>

char gsi_buf_empty[1];

void
gsi_buf_init (gsi_buf *b, size_t hint)
{
  b->alloc = 0;
  b->len = 0;
  b->buf = gsi_buf_empty;
  if (hint)
    gsi_buf_grow (b, hint);
}

void
gsi_buf_release (gsi_buf *b)
{
  if (b->alloc)
    free (b->buf);
  gsi_buf_init (b, 0);
}

char *
gsi_buf_detach (gsi_buf *b, size_t *len)
{
  char *r;
  if (len)
    *len = b->len;
  r = b->alloc ? b->buf : xstrdup ("");
  gsi_buf_init (b, 0);
  return r;
}

void
gsi_buf_reset (gsi_buf *b)
{
  gsi_buf_setlen (b, 0);
}

void
gsi_buf_grow (gsi_buf *b, size_t extra)
{
  size_t need;
  if (extra > SIZE_MAX - b->len - 1)
    {
      fprintf (stderr, "gsi: fatal: buffer size overflow\n");
      abort ();
    }
  need = b->len + extra + 1;
  if (need <= b->alloc)
    return;
  if (!b->alloc)
    b->buf = NULL;
  size_t n = b->alloc ? b->alloc : 16;
  while (n < need)
    n = n < SIZE_MAX / 2 ? n * 2 : need;
  b->buf = xrealloc (b->buf, n);
  if (!b->alloc)
    b->buf[0] = '\0';
  b->alloc = n;
}

void
gsi_buf_setlen (gsi_buf *b, size_t len)
{
  if (!b->alloc)
    {
      if (len == 0)
        return;
      gsi_buf_grow (b, len);
    }
  else if (len >= b->alloc)
    gsi_buf_grow (b, len - b->len);
  b->len = len;
  b->buf[len] = '\0';
}

void
gsi_buf_add (gsi_buf *b, const void *data, size_t n)
{
  if (n == 0)
    return;
  gsi_buf_grow (b, n);
  memcpy (b->buf + b->len, data, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

void
gsi_buf_addstr (gsi_buf *b, const char *s)
{
  gsi_buf_add (b, s, strlen (s));
}

void
gsi_buf_addch (gsi_buf *b, int c)
{
  gsi_buf_grow (b, 1);
  b->buf[b->len++] = (char) c;
  b->buf[b->len] = '\0';
}

void
gsi_buf_vaddf (gsi_buf *b, const char *fmt, va_list ap)
{
  va_list cp;
  int n;

  char probe[1];

  va_copy (cp, ap);
  n = vsnprintf (probe, sizeof probe, fmt, cp);
  va_end (cp);
  if (n < 0)
    return;
  gsi_buf_grow (b, (size_t) n);
  vsnprintf (b->buf + b->len, (size_t) n + 1, fmt, ap);
  b->len += (size_t) n;
}

void
gsi_buf_addf (gsi_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  gsi_buf_vaddf (b, fmt, ap);
  va_end (ap);
}

void
gsi_buf_add_utf8 (gsi_buf *b, unsigned cp)
{
  char o[4];
  size_t n;
  if (cp < 0x80)
    {
      o[0] = (char) cp;
      n = 1;
    }
  else if (cp < 0x800)
    {
      o[0] = (char) (0xC0 | (cp >> 6));
      o[1] = (char) (0x80 | (cp & 0x3F));
      n = 2;
    }
  else if (cp < 0x10000)
    {
      o[0] = (char) (0xE0 | (cp >> 12));
      o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
      o[2] = (char) (0x80 | (cp & 0x3F));
      n = 3;
    }
  else
    {
      o[0] = (char) (0xF0 | (cp >> 18));
      o[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
      o[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
      o[3] = (char) (0x80 | (cp & 0x3F));
      n = 4;
    }
  gsi_buf_add (b, o, n);
}

void
gsi_buf_rtrim (gsi_buf *b, const char *set)
{
  size_t n = b->len;
  while (n > 0 && strchr (set, b->buf[n - 1]) && b->buf[n - 1] != '\0')
    n--;
  gsi_buf_setlen (b, n);
}

int
gsi_buf_read_file (gsi_buf *b, const char *path, gsi_error *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", path);
  for (;;)
    {
      gsi_buf_grow (b, 65536);
      n = read (fd, b->buf + b->len, b->alloc - b->len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return gsi_error_set (err, errno, "read `%s`", path);
      if (n == 0)
        return 0;
      gsi_buf_setlen (b, b->len + (size_t) n);
    }
}
