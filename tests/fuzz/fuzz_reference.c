/* libFuzzer target: image reference parsing must never crash or leak, must fail with a message that
 * names the reference, and what it accepts must satisfy the grammar and print back to itself.  */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_parsed (const gsi_reference *r)
{
  gsi_reference again = GSI_REFERENCE_INIT, copy = GSI_REFERENCE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *s, *s2, *name;

  if (r->domain == NULL || r->path == NULL || !gsi_reference_domain_valid (r->domain)
      || !gsi_reference_path_valid (r->path))
    abort ();
  if (strlen (r->domain) + 1 + strlen (r->path) > 255)
    abort ();
  if (r->tag && (strlen (r->tag) == 0 || strlen (r->tag) > 128))
    abort ();
  if (r->digest && (strncmp (r->digest, "sha256:", 7) != 0 || strlen (r->digest) != 71))
    abort ();
  if (gsi_reference_manifest_ref (r) == NULL)
    abort ();
  if ((gsi_reference_tag_or_latest (r) == NULL) != (r->tag == NULL && r->digest != NULL))
    abort ();
  (void) gsi_reference_api_host (r->domain);

  /* The fully qualified form is a fixed point.  */
  s = gsi_reference_string (r);
  if (gsi_reference_parse (s, &again, &err) < 0)
    abort ();
  s2 = gsi_reference_string (&again);
  if (strcmp (s, s2) != 0)
    abort ();
  name = gsi_reference_name (&again);
  if (strncmp (s, name, strlen (name)) != 0)
    abort ();
  gsi_reference_copy (&copy, &again);
  if (strcmp (copy.path, r->path) != 0)
    abort ();
  free (s);
  free (s2);
  free (name);
  gsi_reference_clear (&again);
  gsi_reference_clear (&copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsi_reference r = GSI_REFERENCE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *s = strndup ((const char *) data, size);

  if (s == NULL)
    abort ();
  (void) gsi_reference_domain_valid (s);
  (void) gsi_reference_path_valid (s);
  if (gsi_reference_parse (s, &r, &err) < 0)
    {
      if (err.msg == NULL || strncmp (err.msg, "invalid reference \"", 19) != 0 || r.domain || r.path
          || r.tag || r.digest)
        abort ();
      gsi_error_clear (&err);
    }
  else
    {
      if (err.msg != NULL)
        abort ();
      check_parsed (&r);
      gsi_reference_clear (&r);
    }
  free (s);
  return 0;
}
