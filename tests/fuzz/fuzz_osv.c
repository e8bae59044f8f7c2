/* libFuzzer target: the OSV record parser, on the input as YAML and as JSON, plus the tracker
 * detection and the CVSS scorer.  A parse either fails with a message and an empty record, or
 * gives a record with an id, a modified time and entries of the ecosystems gsi scans.  */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vuln/vulndb-internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
const char *__lsan_default_suppressions (void);

/* libfyaml 0.7.12 (Debian 12's) leaks a 4 KiB text buffer when fy_node_get_scalar reads a
 * single-quoted scalar with ten or more '' escapes ("'" + "''" * 10 + "'"); its token iterator,
 * which does not leak, decodes those escapes wrongly.  The leak is in the library, bounded by the
 * input and not ours to fix: LeakSanitizer is told to leave allocations made inside libfyaml
 * alone.  Our own YAML handling (every document destroyed) is leak-checked by the unit tests.  */
const char *
__lsan_default_suppressions (void)
{
  return "leak:libfyaml.so\n";
}

static void
check_record (const char *text, size_t size, bool yaml)
{
  gsi_error err = GSI_ERROR_INIT;
  gsi_osv_record rec;

  if (gsi_osv_parse ("fuzz", text, size, yaml, &rec, &err) < 0)
    {
      if (err.msg == NULL || strncmp (err.msg, "fuzz", 4) != 0 || rec.id != NULL || rec.naffected != 0)
        abort ();
      gsi_error_clear (&err);
      return;
    }
  if (rec.id == NULL || rec.modified == NULL || rec.id[0] == '\0')
    abort ();
  for (size_t i = 0; i < rec.naffected; i++)
    {
      const gsi_osv_affected *a = &rec.affected[i];
      if (a->name == NULL || !json_is_array (json_object_get (a->data, "ranges")))
        abort ();
      if (a->ecosystem != GSI_ECO_PYPI && a->ecosystem != GSI_ECO_DEB)
        abort ();
    }
  if (rec.naffected > 0 && rec.source == NULL)
    abort ();
  if (rec.cvss < 0 || rec.cvss > 10)
    abort ();
  gsi_osv_record_clear (&rec);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  char *copy;
  json_t *doc;
  double score;

  check_record (text, size, true);
  check_record (text, size, false);
  doc = json_loadb (text, size, 0, NULL);
  if (doc)
    {
      (void) gsi_debtracker_detect (doc);
      json_decref (doc);
    }
  copy = strndup (text, size);
  if (copy == NULL)
    abort ();
  score = gsi_cvss3_base_score (copy);
  if (score != -1 && (score < 0 || score > 10))
    abort ();
  free (gsi_vuln_summary (NULL, copy));
  free (copy);
  return 0;
}
