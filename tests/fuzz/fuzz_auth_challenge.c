/* libFuzzer target: WWW-Authenticate parsing must never crash or leak; a failure leaves nothing
 * in the challenge and says why; what parses is a Basic or Bearer challenge whose parameters,
 * written back as quoted strings with escapes, parse to the same values.  */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/auth.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
add_param (gsi_buf *b, const char *name, const char *value, int *n)
{
  if (value == NULL)
    return;
  gsi_buf_addf (b, "%s%s=\"", *n ? "," : " ", name);
  for (const char *p = value; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        gsi_buf_addch (b, '\\');
      gsi_buf_addch (b, *p);
    }
  gsi_buf_addch (b, '"');
  (*n)++;
}

static int
same (const char *a, const char *b)
{
  return (a == NULL && b == NULL) || (a && b && strcmp (a, b) == 0);
}

static void
check_round_trip (const gsi_auth_challenge *c)
{
  gsi_auth_challenge again = GSI_AUTH_CHALLENGE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  gsi_buf b = GSI_BUF_INIT;
  int n = 0;

  gsi_buf_addstr (&b, strcmp (c->scheme, "basic") == 0 ? "Basic" : "Bearer");
  add_param (&b, "realm", c->realm, &n);
  add_param (&b, "service", c->service, &n);
  add_param (&b, "scope", c->scope, &n);
  add_param (&b, "error", c->error, &n);
  if (gsi_auth_challenge_parse (b.buf, &again, &err) < 0)
    abort ();
  if (!same (c->scheme, again.scheme) || !same (c->realm, again.realm) || !same (c->service, again.service)
      || !same (c->scope, again.scope) || !same (c->error, again.error))
    abort ();
  gsi_auth_challenge_clear (&again);
  gsi_buf_release (&b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsi_auth_challenge c = GSI_AUTH_CHALLENGE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *s = strndup ((const char *) data, size);

  if (s == NULL)
    abort ();
  if (gsi_auth_challenge_parse (s, &c, &err) < 0)
    {
      if (err.msg == NULL || c.scheme || c.realm || c.service || c.scope || c.error)
        abort ();
      gsi_error_clear (&err);
    }
  else
    {
      if (err.msg != NULL || c.scheme == NULL || (strcmp (c.scheme, "basic") != 0 && strcmp (c.scheme, "bearer") != 0))
        abort ();
      check_round_trip (&c);
      gsi_auth_challenge_clear (&c);
      if (c.scheme || c.realm)
        abort ();
    }
  free (s);
  return 0;
}
