/* libFuzzer target: reading a .dockerignore and matching paths against it must never crash, leak
 * or run away.  The input is the ignore file; its own lines also serve as paths to test.  */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "containerfile/ignore.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const fixed_paths[] = {
  "a", "a/b", "a/b/c", "dir/file.txt", ".git", "x/.git/config", "node_modules/p/index.js", "\xff\xfe/x",
  "a\nb", "[", "^", "\xc3\xa9/\xd9\xa3", ".", "", "/abs", "../up",
};

static void
probe (const cf_ignore *ig, const char *path)
{
  (void) cf_ignore_excluded (ig, path);
  (void) cf_ignore_excluded_as_walked (ig, path);
  (void) cf_ignore_may_include_below (ig, path);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsi_error err = GSI_ERROR_INIT;
  cf_ignore *ig = NULL;
  char *copy, *line, *save = NULL;

  if (cf_ignore_parse ("fuzz", (const char *) data, size, &ig, &err) < 0)
    {
      if (err.msg == NULL || ig != NULL)
        abort ();
      gsi_error_clear (&err);
      return 0;
    }
  (void) cf_ignore_count (ig);
  for (size_t i = 0; i < sizeof (fixed_paths) / sizeof (fixed_paths[0]); i++)
    probe (ig, fixed_paths[i]);

  copy = strndup ((const char *) data, size);
  if (copy == NULL)
    abort ();
  for (line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    probe (ig, line[0] == '!' ? line + 1 : line);
  free (copy);
  cf_ignore_free (ig);
  return 0;
}
