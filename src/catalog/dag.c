/* The build graph of a release: which catalog images an image's Containerfile builds on.  */
#include "catalog/catalog.h"

#include <stdlib.h>
#include <string.h>

#include "containerfile/ast.h"
#include "containerfile/stages.h"
#include "util/buf.h"
#include "util/xalloc.h"

bool
gsi_catalog_ref_name (const gsi_catalog *c, const char *ref, char **name)
{
  size_t rl = strlen (c->registry);
  const char *p, *end;

  *name = NULL;
  if (strncmp (ref, c->registry, rl) != 0 || ref[rl] != '/')
    return false;
  p = ref + rl + 1;
  end = p + strcspn (p, ":@");
  if (end == p)
    return false;
  *name = xstrndup (p, end - p);
  return true;
}

static void
node_add_parent (gsi_catalog_node *n, size_t parent)
{
  for (size_t i = 0; i < n->n_parents; i++)
    if (n->parents[i] == parent)
      return;
  n->parents = xrealloc (n->parents, (n->n_parents + 1) * sizeof *n->parents);
  size_t i = n->n_parents++;
  while (i > 0 && n->parents[i - 1] > parent)
    {
      n->parents[i] = n->parents[i - 1];
      i--;
    }
  n->parents[i] = parent;
}

static void
node_add_external (gsi_catalog_node *n, const char *ref)
{
  for (size_t i = 0; i < n->external.n; i++)
    if (strcmp (n->external.v[i], ref) == 0)
      return;
  gsi_strvec_push (&n->external, ref);
}

/* One image reference of the Containerfile (a stage base or a COPY --from).  */
static int
add_ref (const gsi_catalog *c, gsi_catalog_node *n, const cf_plan *p, const char *ref, int line, int col,
         gsi_error *err)
{
  cleanup_free char *name = NULL;
  int parent;

  if (!gsi_catalog_ref_name (c, ref, &name))
    {
      node_add_external (n, ref);
      return 0;
    }
  parent = gsi_catalog_find_image (c, name);
  if (parent < 0)
    return gsi_error_at (err, p->path, line, col, "`%s` is under the catalog registry but the catalog has no image `%s`",
                         ref, name);
  node_add_parent (n, (size_t) parent);
  return 0;
}

static int
scan_plan (const gsi_catalog *c, gsi_catalog_node *n, const cf_plan *p, gsi_error *err)
{
  for (size_t i = 0; i < p->nneeds; i++)
    {
      const cf_stage *st = &p->stages[p->needs[i]];
      if (st->base_kind == CF_BASE_IMAGE && add_ref (c, n, p, st->base_expanded, st->line, st->col, err) < 0)
        return -1;
      for (size_t j = 0; j < st->nrefs; j++)
        if (st->refs[j].kind == CF_BASE_IMAGE
            && add_ref (c, n, p, st->refs[j].value, st->refs[j].line, st->refs[j].col, err) < 0)
          return -1;
    }
  return 0;
}

static int
plan_image (const gsi_catalog *c, size_t image, const gsi_catalog_release *rel, gsi_catalog_node *n,
            gsi_error *err)
{
  cleanup_free char *path = gsi_catalog_containerfile (c, image);
  cf_file *f = NULL;
  cf_plan *p = NULL;
  cf_plan_opts o = { NULL, &rel->build_args, NULL };
  int r;

  if (cf_parse_file (path, &f, err) < 0)
    return -1;
  r = cf_plan_build (f, &o, &p, err);
  if (r == 0)
    r = scan_plan (c, n, p, err);
  cf_plan_free (p);
  cf_file_free (f);
  if (r < 0)
    gsi_error_wrap (err, "image `%s` (release `%s`)", c->images[image].name, rel->name);
  return r;
}

/* Kahn's algorithm; picking the lowest ready index keeps the order stable (catalog order).  */
static size_t
count_children_ready (size_t n, size_t *const *parents, const size_t *n_parents, const bool *done, size_t i)
{
  size_t missing = 0;
  (void) n;
  for (size_t j = 0; j < n_parents[i]; j++)
    if (!done[parents[i][j]])
      missing++;
  return missing;
}

static void
find_cycle (size_t n, size_t *const *parents, const size_t *n_parents, const bool *done, size_t **cycle,
            size_t *n_cycle)
{
  cleanup_free int *seen = xcalloc (n, sizeof (int)); /* step at which the walk met the node, 0: never */
  cleanup_free size_t *path = xcalloc (n + 1, sizeof (size_t));
  size_t len = 0, cur = 0;

  while (cur < n && done[cur])
    cur++;
  /* Walk to an undone parent until a node repeats: every undone node has one.  */
  while (seen[cur] == 0)
    {
      seen[cur] = (int) ++len;
      path[len - 1] = cur;
      size_t next = cur;
      for (size_t j = 0; j < n_parents[cur]; j++)
        if (!done[parents[cur][j]])
          {
            next = parents[cur][j];
            break;
          }
      cur = next;
    }
  size_t start = (size_t) seen[cur] - 1;
  *n_cycle = len - start + 1;
  *cycle = xcalloc (*n_cycle, sizeof (size_t));
  /* The walk went child -> parent; report parent -> child, the direction builds go, starting at
   * the lowest index so the message does not depend on where the walk began.  */
  size_t m = len - start, low = 0;
  for (size_t i = 1; i < m; i++)
    if (path[start + i] < path[start + low])
      low = i;
  for (size_t i = 0; i < m; i++)
    (*cycle)[i] = path[start + (low + m - i) % m];
  (*cycle)[*n_cycle - 1] = (*cycle)[0];
}

int
gsi_catalog_toposort (size_t n, size_t *const *parents, const size_t *n_parents, size_t *order, size_t **cycle,
                      size_t *n_cycle)
{
  cleanup_free bool *done = xcalloc (n + 1, sizeof (bool));

  for (size_t k = 0; k < n; k++)
    {
      size_t i = 0;
      while (i < n && (done[i] || count_children_ready (n, parents, n_parents, done, i) > 0))
        i++;
      if (i == n)
        {
          if (cycle)
            find_cycle (n, parents, n_parents, done, cycle, n_cycle);
          return -1;
        }
      done[i] = true;
      order[k] = i;
    }
  return 0;
}

static int
sort_dag (gsi_catalog_dag *d, gsi_error *err)
{
  cleanup_free size_t **parents = xcalloc (d->n + 1, sizeof (size_t *));
  cleanup_free size_t *n_parents = xcalloc (d->n + 1, sizeof (size_t));
  cleanup_free size_t *cycle = NULL;
  size_t n_cycle = 0;

  for (size_t i = 0; i < d->n; i++)
    parents[i] = d->nodes[i].parents, n_parents[i] = d->nodes[i].n_parents;
  if (gsi_catalog_toposort (d->n, parents, n_parents, d->order, &cycle, &n_cycle) == 0)
    return 0;
  cleanup_buf gsi_buf b = GSI_BUF_INIT;
  for (size_t i = 0; i < n_cycle; i++)
    gsi_buf_addf (&b, "%s%s", i ? " -> " : "", d->catalog->images[cycle[i]].name);
  return gsi_error_set (err, 0, "release `%s`: dependency cycle: %s", d->release, b.buf);
}

int
gsi_catalog_dag_build (const gsi_catalog *c, const char *release, gsi_catalog_dag **out, gsi_error *err)
{
  int ri = gsi_catalog_find_release (c, release);
  gsi_catalog_dag *d;

  *out = NULL;
  if (ri < 0)
    return gsi_error_set (err, 0, "no release `%s` in `%s`", release, c->path);
  d = xcalloc (1, sizeof *d);
  d->catalog = c;
  d->release = xstrdup (release);
  d->n = c->n_images;
  d->nodes = xcalloc (d->n + 1, sizeof *d->nodes);
  d->order = xcalloc (d->n + 1, sizeof *d->order);
  for (size_t i = 0; i < d->n; i++)
    if (plan_image (c, i, &c->releases[ri], &d->nodes[i], err) < 0)
      {
        gsi_catalog_dag_free (d);
        return -1;
      }
  if (sort_dag (d, err) < 0)
    {
      gsi_catalog_dag_free (d);
      return -1;
    }
  *out = d;
  return 0;
}

void
gsi_catalog_dag_free (gsi_catalog_dag *d)
{
  if (d == NULL)
    return;
  for (size_t i = 0; i < d->n; i++)
    {
      free (d->nodes[i].parents);
      gsi_strvec_clear (&d->nodes[i].external);
    }
  free (d->nodes);
  free (d->order);
  free (d->release);
  free (d);
}

void
gsi_catalog_dag_close (const gsi_catalog_dag *d, bool *want)
{
  /* Children come after parents in order, so one backward pass reaches every ancestor.  */
  for (size_t k = d->n; k-- > 0;)
    {
      size_t i = d->order[k];
      if (!want[i])
        continue;
      for (size_t j = 0; j < d->nodes[i].n_parents; j++)
        want[d->nodes[i].parents[j]] = true;
    }
}
