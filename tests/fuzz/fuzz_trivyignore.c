/* libFuzzer target: Trivy's ignore files, both forms (the first input byte picks: 'Y' YAML, else
 * plain), then matching the rules against a small fixed inventory.  A parse either fails with a
 * message naming the file and leaves no rule, or gives rules that all have an id and a place.  */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "vuln/report.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
const char *__lsan_default_suppressions (void);

/* The libfyaml 0.7.12 leak fuzz_osv.c describes.  */
const char *
__lsan_default_suppressions (void)
{
  return "leak:libfyaml.so\n";
}

static gsi_inventory inv;
static gsi_finding findings[2];

static void
init_world (void)
{
  static const char os[] = "ID=debian\nVERSION_ID=13\nVERSION_CODENAME=trixie\n";
  static const char dpkg[] = "Package: libc6\nSource: glibc\nVersion: 1:2.41-12\nArchitecture: amd64\n\n";
  static const char meta[] = "Name: Foo.Bar\nVersion: 1.0\n\n";
  static char *no_aliases[] = { NULL };
  static char *aliases[] = { "GHSA-462w-v97r-4m45", NULL };

  gsi_inventory_set_os_release (&inv, os, sizeof os - 1);
  gsi_inventory_add_dpkg_status (&inv, dpkg, sizeof dpkg - 1, "var/lib/dpkg/status");
  gsi_inventory_add_python_metadata (&inv, meta, sizeof meta - 1, "opt/x/site-packages/Foo.Bar-1.0.dist-info");
  gsi_inventory_finish (&inv);
  findings[0].id = "CVE-2010-4756";
  findings[0].aliases = no_aliases;
  findings[0].pkg = 0;
  findings[1].id = "CVE-2019-10906";
  findings[1].aliases = aliases;
  findings[1].pkg = 1;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static int ready;
  gsi_ignore ig = { 0 };
  gsi_error err = GSI_ERROR_INIT;
  bool yaml;
  int r;

  if (!ready)
    {
      init_world ();
      ready = 1;
    }
  if (size == 0)
    return 0;
  yaml = data[0] == 'Y';
  if (yaml)
    r = gsi_ignore_parse_yaml ("fuzz", (const char *) data + 1, size - 1, &ig, &err);
  else
    r = gsi_ignore_parse_plain ("fuzz", (const char *) data + 1, size - 1, &ig, &err);
  if (r < 0)
    {
      if (err.msg == NULL || strncmp (err.msg, "fuzz", 4) != 0 || ig.n != 0)
        abort ();
      gsi_error_clear (&err);
      gsi_ignore_clear (&ig);
      return 0;
    }
  for (size_t i = 0; i < ig.n; i++)
    if (ig.v[i].id == NULL || ig.v[i].where == NULL || strncmp (ig.v[i].where, "fuzz:", 5) != 0)
      abort ();
  for (size_t k = 0; k < 2; k++)
    {
      (void) gsi_ignore_match (&ig, &inv, &findings[k], "2026-01-01");
      (void) gsi_ignore_match (&ig, &inv, &findings[k], NULL);
    }
  gsi_ignore_clear (&ig);
  return 0;
}
