/* bench_parse FILE [RUNS]: median in-process time of cf_parse + cf_file_free, and of a parse plus
 * cf_plan_build (what `gsi containerfile check` does before printing), over RUNS runs (default 200).
 * The file is read once, outside the timed region, so only the parser and the semantic pass count.  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "containerfile/ast.h"
#include "containerfile/stages.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/xalloc.h"

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *v, size_t n)
{
  qsort (v, n, sizeof (*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
read_all (const char *path, gsi_buf *out, gsi_error *err)
{
  cleanup_file FILE *f = fopen (path, "rb");
  char chunk[65536];
  size_t n;

  if (f == NULL)
    return gsi_error_set (err, errno, "open `%s`", path);
  while ((n = fread (chunk, 1, sizeof (chunk), f)) > 0)
    gsi_buf_add (out, chunk, n);
  if (ferror (f))
    return gsi_error_set (err, EIO, "read `%s`", path);
  return 0;
}

/* One timed run: parse, and with plan also plan the build.  Returns the time in ms, or -1.  */
static double
run_once (const char *path, const gsi_buf *data, int plan, gsi_error *err)
{
  cf_plan_opts opts = { .target = NULL, .build_args = NULL, .platform = NULL };
  cf_file *f = NULL;
  cf_plan *p = NULL;
  double t0 = now_ms (), t1;

  if (cf_parse (path, data->buf, data->len, &f, err) < 0)
    return -1;
  if (plan && cf_plan_build (f, &opts, &p, err) < 0)
    {
      cf_file_free (f);
      return -1;
    }
  if (p != NULL)
    cf_plan_free (p);
  cf_file_free (f);
  t1 = now_ms ();
  return t1 - t0;
}

static int
bench (const char *path, const gsi_buf *data, int plan, size_t runs, double *med, gsi_error *err)
{
  cleanup_free double *times = xmalloc (runs * sizeof (*times));

  /* One untimed run warms the caches and the allocator, as a long-lived process would be.  */
  if (run_once (path, data, plan, err) < 0)
    return -1;
  for (size_t i = 0; i < runs; i++)
    if ((times[i] = run_once (path, data, plan, err)) < 0)
      return -1;
  *med = median (times, runs);
  return 0;
}

static size_t
count_lines (const gsi_buf *b)
{
  size_t n = 0;

  for (size_t i = 0; i < b->len; i++)
    n += b->buf[i] == '\n';
  return n + (b->len > 0 && b->buf[b->len - 1] != '\n');
}

int
main (int argc, char **argv)
{
  cleanup_error gsi_error err = GSI_ERROR_INIT;
  cleanup_buf gsi_buf data = GSI_BUF_INIT;
  size_t runs = 200;
  double parse_ms, check_ms;

  if (argc < 2 || argc > 3 || (argc == 3 && (runs = strtoul (argv[2], NULL, 10)) == 0))
    {
      fprintf (stderr, "usage: bench_parse FILE [RUNS]\n");
      return 2;
    }
  if (read_all (argv[1], &data, &err) < 0 || bench (argv[1], &data, 0, runs, &parse_ms, &err) < 0
      || bench (argv[1], &data, 1, runs, &check_ms, &err) < 0)
    {
      fprintf (stderr, "bench_parse: %s\n", err.msg);
      return 1;
    }
  printf ("parse %zu lines: %.3f ms (target < 5 ms)\n", count_lines (&data), parse_ms);
  printf ("check %zu lines (parse + plan): %.3f ms\n", count_lines (&data), check_ms);
  printf ("(median of %zu in-process runs each)\n", runs);
  return 0;
}
