#include "util/yaml.h"

#include <errno.h>

#include "util/unicode.h"

static void
discard_output (struct fy_diag *diag, void *user, const char *buf, size_t len)
{
  (void) diag, (void) user, (void) buf, (void) len;
}

struct fy_diag *
gsi_yaml_diag_new (const char *file, gsi_error *err)
{
  struct fy_diag_cfg cfg;
  struct fy_diag *diag;

  fy_diag_cfg_default (&cfg);
  cfg.fp = NULL;
  cfg.output_fn = discard_output;
  cfg.colorize = false;
  cfg.show_source = false;
  diag = fy_diag_create (&cfg);
  if (diag == NULL)
    {
      gsi_error_set (err, ENOMEM, "%s: YAML parser", file);
      return NULL;
    }
  fy_diag_set_collect_errors (diag, true);
  return diag;
}

void
gsi_yaml_diag_release (struct fy_diag *diag)
{
  if (diag == NULL)
    return;
  fy_diag_reset_error (diag);
  fy_diag_unref (diag);
}

int
gsi_yaml_diag_error (struct fy_diag *diag, const char *file, gsi_error *err)
{
  void *it = NULL;
  struct fy_diag_error *e = diag ? fy_diag_errors_iterate (diag, &it) : NULL;

  for (; e != NULL; e = fy_diag_errors_iterate (diag, &it))
    if (e->type >= FYET_ERROR && e->msg != NULL)
      break;
  if (e == NULL)
    return gsi_error_at (err, file, 0, 0, "invalid YAML: cannot parse");
  return gsi_error_at (err, file, e->line, e->column, "invalid YAML: %s", e->msg);
}

int
gsi_yaml_check_text (const char *file, const char *data, size_t len, gsi_error *err)
{
  int line;
  size_t bad = gsi_utf8_first_bad (data, len, &line);

  if (bad < len)
    return gsi_error_at (err, file, line, 0, "invalid YAML: byte 0x%02X is not UTF-8 text", (unsigned char) data[bad]);
  return 0;
}
