/* gsi_buf: a growable byte string in the manner of git's strbuf.
 *
 * Invariants, checked by tests/unit/test_util.c after every operation:
 *   - buf is never NULL: a fresh buffer points at a shared empty string until it first grows;
 *   - buf[len] == '\0', so buf is always a C string (embedded NULs are allowed, len is the truth);
 *   - alloc == 0 exactly when buf is the shared empty string.
 * gsi_buf_release frees and re-initialises, so calling it twice is safe; gsi_buf_detach hands the
 * string to the caller; gsi_buf_reset empties it but keeps the capacity.  */
#ifndef GSI_BUF_H
#define GSI_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct gsi_buf
{
  size_t alloc;
  size_t len;
  char *buf;
} gsi_buf;

extern char gsi_buf_empty[];
#define GSI_BUF_INIT { 0, 0, gsi_buf_empty }

void gsi_buf_init (gsi_buf *b, size_t hint);
void gsi_buf_release (gsi_buf *b);
char *gsi_buf_detach (gsi_buf *b, size_t *len);
void gsi_buf_reset (gsi_buf *b);
void gsi_buf_grow (gsi_buf *b, size_t extra);
void gsi_buf_setlen (gsi_buf *b, size_t len);

void gsi_buf_add (gsi_buf *b, const void *data, size_t n);
void gsi_buf_addstr (gsi_buf *b, const char *s);
void gsi_buf_addch (gsi_buf *b, int c);
void gsi_buf_addf (gsi_buf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void gsi_buf_vaddf (gsi_buf *b, const char *fmt, va_list ap) __attribute__ ((format (printf, 2, 0)));
/* Appends the UTF-8 encoding of code point cp.  */
void gsi_buf_add_utf8 (gsi_buf *b, unsigned cp);
/* Removes trailing bytes that are in set (e.g. " \t\r\n").  */
void gsi_buf_rtrim (gsi_buf *b, const char *set);

struct gsi_error;
/* Appends the whole file at path (git's strbuf_read_file); -1 with err naming the file.  */
int gsi_buf_read_file (gsi_buf *b, const char *path, struct gsi_error *err);

static inline void
cleanup_bufp (gsi_buf *b)
{
  gsi_buf_release (b);
}
#define cleanup_buf __attribute__ ((cleanup (cleanup_bufp)))

#endif
