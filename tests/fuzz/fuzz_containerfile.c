/* libFuzzer target: any bytes through cf_parse, then cf_dump and cf_file_free.  A parse must either
 * succeed with at least one instruction or fail with a located message; the sanitizers check the
 * rest.  */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "containerfile/ast.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsi_error err = GSI_ERROR_INIT;
  gsi_buf out = GSI_BUF_INIT;
  cf_file *f = NULL;

  if (cf_parse ("fuzz", (const char *) data, size, &f, &err) < 0)
    {
      if (err.msg == NULL || strncmp (err.msg, "fuzz:", 5) != 0 || f != NULL)
        abort ();
      gsi_error_clear (&err);
      return 0;
    }
  if (f == NULL || f->n == 0)
    abort ();
  cf_dump (f, &out);
  if (out.len == 0)
    abort ();
  for (size_t i = 0; i < f->n; i++)
    if (f->instrs[i].start_line < 1 || f->instrs[i].end_line < f->instrs[i].start_line || f->instrs[i].col < 1)
      abort ();
  gsi_buf_release (&out);
  cf_file_free (f);
  return 0;
}
