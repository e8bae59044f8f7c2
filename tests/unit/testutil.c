#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *
test_peer_dir (void)
{
  const char *d = getenv ("GSI_PEER_TESTS");
  const char *req = getenv ("GSI_REQUIRE_PEER_TESTS");
  struct stat st;

  if (d && *d && stat (d, &st) == 0 && S_ISDIR (st.st_mode))
    return d;
  if (req && strcmp (req, "1") == 0)
    fail_msg ("peer test data not found at '%s' but GSI_REQUIRE_PEER_TESTS=1", d ? d : "(unset)");
  print_message ("peer test data not found at '%s': these cases are NOT RUN\n", d ? d : "(unset)");
  return NULL;
}

char *
test_read_file (const char *path, size_t *len)
{
  FILE *f = fopen (path, "rb");
  char *buf = NULL;
  size_t n = 0, cap = 0;

  if (!f)
    return NULL;
  for (;;)
    {
      if (cap - n < 4096)
        {
          cap = cap ? cap * 2 : 8192;
          buf = realloc (buf, cap + 1);
          if (!buf)
            abort ();
        }
      size_t r = fread (buf + n, 1, cap - n, f);
      n += r;
      if (r == 0)
        break;
    }
  fclose (f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}
