/* libFuzzer target: registries.yaml loading must never crash or leak; an error is located in the
 * file, and whatever loads answers every query with values in the grammar it promises.  The input
 * goes to a memfd that is read back through /proc/self/fd, the way a real file would be.  */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "registry/config.h"
#include "registry/reference.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char *const domains[] = {
  "docker.io", "index.docker.io", "registry-1.docker.io", "ghcr.io", "quay.io", "localhost", "127.0.0.1:5000",
  "[::1]:5000", "a", "A", "..", "", "x/y",
};

static int fd = -1;
static char path[64];

static void
check_mirror (const char *m)
{
  const char *slash = strchr (m, '/');
  char *host = slash ? strndup (m, (size_t) (slash - m)) : strdup (m);

  if (host == NULL || !gsi_reference_domain_valid (host) || (slash && !gsi_reference_path_valid (slash + 1)))
    abort ();
  free (host);
}

static void
query (const gsi_reg_config *c, const char *d)
{
  const gsi_strvec *m = gsi_reg_config_mirrors (c, d);

  (void) gsi_reg_config_tls_verify (c, d);
  (void) gsi_reg_config_ca_dir (c, d);
  if (m == NULL || m->v == NULL || m->v[m->n] != NULL)
    abort ();
  for (size_t i = 0; i < m->n; i++)
    check_mirror (m->v[i]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsi_reg_config *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  if (fd < 0)
    {
      setenv ("GSI_CERTS_DIR", "/nonexistent/gsi-fuzz-certs.d", 1);
      fd = memfd_create ("registries.yaml", 0);
      if (fd < 0)
        abort ();
      snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
    }
  if (ftruncate (fd, 0) < 0 || pwrite (fd, data, size, 0) != (ssize_t) size)
    abort ();

  if (gsi_reg_config_load (path, &c, &err) < 0)
    {
      if (err.msg == NULL || c != NULL || strncmp (err.msg, path, strlen (path)) != 0)
        abort ();
      gsi_error_clear (&err);
      return 0;
    }
  if (strcmp (gsi_reg_config_path (c), path) != 0)
    abort ();
  for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++)
    query (c, domains[i]);
  gsi_reg_config_free (c);
  return 0;
}
