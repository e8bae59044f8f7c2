/* gsi patch suggest: see suggest.h.  */
#include "vuln/suggest.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/strvec.h"
#include "util/xalloc.h"
#include "vuln/advisory.h"
#include "vuln/version.h"

typedef struct want
{
  size_t pkg;          /* inventory index */
  const char *fixed;   /* highest fixed version among its findings */
  gsi_strvec ids;      /* sorted, unique */
  gsi_severity worst;
  size_t findings;
} want;

/* A YAML double-quoted scalar: JSON's string syntax is a subset of it.  */
static void
add_yaml_string (gsi_buf *b, const char *s)
{
  json_t *j = json_string (s);
  char *t = j ? json_dumps (j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  gsi_buf_addstr (b, t ? t : "\"\"");
  free (t);
  json_decref (j);
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
add_id (gsi_strvec *ids, const char *id)
{
  if (!gsi_advisory_id_valid (id, NULL))
    return;
  for (size_t i = 0; i < ids->n; i++)
    if (strcmp (ids->v[i], id) == 0)
      return;
  gsi_strvec_push (ids, id);
}

static want *
want_for (want **w, size_t *n, size_t pkg)
{
  for (size_t i = 0; i < *n; i++)
    if ((*w)[i].pkg == pkg)
      return &(*w)[i];
  *w = xrealloc (*w, (*n + 1) * sizeof **w);
  memset (&(*w)[*n], 0, sizeof **w);
  (*w)[*n].pkg = pkg;
  return &(*w)[(*n)++];
}

static void
add_finding (want *w, const gsi_package *p, const gsi_finding *f)
{
  cleanup_error gsi_error ignore = GSI_ERROR_INIT;
  int cmp = 1;

  if (w->fixed)
    gsi_version_compare (p->ecosystem, f->fixed_version, w->fixed, &cmp, &ignore);
  if (cmp > 0)
    w->fixed = f->fixed_version;
  add_id (&w->ids, f->id);
  for (char **a = f->aliases; a && *a; a++)
    add_id (&w->ids, *a);
  if (f->severity > w->worst)
    w->worst = f->severity;
  w->findings++;
}

static void
write_entry (gsi_buf *out, const gsi_package *p, want *w)
{
  qsort (w->ids.v, w->ids.n, sizeof *w->ids.v, cmp_str);
  gsi_buf_addstr (out, "  - package: ");
  add_yaml_string (out, p->name);
  gsi_buf_addf (out, "\n    ecosystem: %s\n    fixed: ", gsi_ecosystem_name (p->ecosystem));
  add_yaml_string (out, w->fixed);
  gsi_buf_addstr (out, "\n    advisories: [");
  for (size_t i = 0; i < w->ids.n; i++)
    gsi_buf_addf (out, "%s%s", i ? ", " : "", w->ids.v[i]);
  gsi_buf_addstr (out, "]\n    reason: ");
  cleanup_free char *why = xasprintf ("installed %s; clears %zu finding%s (worst %s) - suggested by gsi patch "
                                      "suggest, review before committing",
                                      p->version, w->findings, w->findings == 1 ? "" : "s",
                                      gsi_severity_name (w->worst));
  add_yaml_string (out, why);
  gsi_buf_addch (out, '\n');
}

size_t
gsi_patch_suggest (gsi_buf *out, const char *release, const char *ref, const gsi_inventory *inv,
                   const gsi_findings *f, const gsi_report_sel *sel)
{
  want *w = NULL;
  size_t nw = 0, entries = 0;
  gsi_buf notes = GSI_BUF_INIT;

  for (size_t k = 0; k < sel->nshown; k++)
    {
      const gsi_finding *x = &f->v[sel->shown[k]];
      const gsi_package *p = &inv->pkgs[x->pkg];
      gsi_strvec ids = GSI_STRVEC_INIT;

      if (x->fixed_version == NULL)
        {
          gsi_buf_addf (&notes, "# not fixable yet: %s %s %s\n", x->id, p->name, p->version);
          continue;
        }
      add_id (&ids, x->id);
      for (char **a = x->aliases; a && *a; a++)
        add_id (&ids, *a);
      if (ids.n == 0)
        gsi_buf_addf (&notes, "# no advisory id of a known form: %s %s %s (fixed in %s)\n", x->id, p->name,
                      p->version, x->fixed_version);
      else
        add_finding (want_for (&w, &nw, x->pkg), p, x);
      gsi_strvec_clear (&ids);
    }
  gsi_buf_addf (out, "# CVE patches for %s, suggested by gsi patch suggest from its scan.\n", ref);
  gsi_buf_addstr (out, "# Each entry is the one upgrade that clears all the fixable findings of its package.\n");
  gsi_buf_addstr (out, notes.buf);
  add_yaml_string (out, release);
  gsi_buf_addstr (out, nw ? ":\n" : ": []\n");
  for (size_t i = 0; i < nw; i++)
    {
      write_entry (out, &inv->pkgs[w[i].pkg], &w[i]);
      gsi_strvec_clear (&w[i].ids);
      entries++;
    }
  free (w);
  gsi_buf_release (&notes);
  return entries;
}
