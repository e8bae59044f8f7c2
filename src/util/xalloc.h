/* Allocation that cannot fail (it aborts on OOM, as crun and git do) and cleanup attributes. */
#ifndef GSI_XALLOC_H
#define GSI_XALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>
#include <dirent.h>

void *xmalloc (size_t n) __attribute__ ((malloc, returns_nonnull));
void *xcalloc (size_t nmemb, size_t size) __attribute__ ((malloc, returns_nonnull));
void *xrealloc (void *p, size_t n) __attribute__ ((returns_nonnull));
char *xstrdup (const char *s) __attribute__ ((malloc, returns_nonnull));
char *xstrndup (const char *s, size_t n) __attribute__ ((malloc, returns_nonnull));
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2), malloc, returns_nonnull));

/* Grow *arr (of *alloc elements of size elem) so that it holds at least need elements. */
#define GSI_ALLOC_GROW(arr, need, alloc)                                         \
  do                                                                             \
    {                                                                            \
      if ((need) > (alloc))                                                      \
        {                                                                        \
          size_t gsi_new_ = (alloc) ? (alloc) * 2 : 8;                           \
          while (gsi_new_ < (need))                                              \
            gsi_new_ *= 2;                                                       \
          (arr) = xrealloc ((arr), gsi_new_ * sizeof (*(arr)));                  \
          (alloc) = gsi_new_;                                                    \
        }                                                                        \
    }                                                                            \
  while (0)

static inline void
cleanup_freep (void *p)
{
  void **pp = (void **) p;
  free (*pp);
}

static inline void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}

static inline void
cleanup_filep (FILE **f)
{
  if (*f)
    fclose (*f);
}

static inline void
cleanup_dirp (DIR **d)
{
  if (*d)
    closedir (*d);
}

#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_file __attribute__ ((cleanup (cleanup_filep)))
#define cleanup_dir __attribute__ ((cleanup (cleanup_dirp)))

/* Hand ownership on: returns the pointer and empties the variable so its cleanup does nothing. */
static inline void *
steal_pointer (void *pp)
{
  void **p = (void **) pp;
  void *v = *p;
  *p = NULL;
  return v;
}

static inline int
steal_fd (int *fd)
{
  int v = *fd;
  *fd = -1;
  return v;
}

#endif
