/* gsi catalog: the images catalog.yaml lists, their build graph, and building them in order.  */
#include "cli.h"
#include "cmd_catalog.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "util/buf.h"
#include "util/xalloc.h"

typedef struct catalog_opts
{
  const char *file;
  const char *release;
  const char *format;
} catalog_opts;

enum
{
  OPT_CATALOG = 256,
  OPT_RELEASE,
  OPT_FORMAT,
};

static int
parse_common (int argc, char **argv, catalog_opts *o, const char *const *formats, gsi_error *err)
{
  static const struct option opts[] = {
    { "catalog", required_argument, NULL, OPT_CATALOG },
    { "release", required_argument, NULL, OPT_RELEASE },
    { "format", required_argument, NULL, OPT_FORMAT },
    { NULL, 0, NULL, 0 },
  };
  int c;
  size_t i;

  o->file = "catalog.yaml";
  o->format = formats[0];
  optind = 0;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      if (c == OPT_CATALOG)
        o->file = optarg;
      else if (c == OPT_RELEASE)
        o->release = optarg;
      else if (c == OPT_FORMAT)
        o->format = optarg;
      else
        return cli_usage (err, argv[0], "unknown option");
    }
  if (optind < argc)
    return cli_usage (err, argv[0], "unexpected argument `%s`", argv[optind]);
  for (i = 0; formats[i] && strcmp (formats[i], o->format) != 0; i++)
    ;
  if (formats[i] == NULL)
    return cli_usage (err, argv[0], "unknown --format `%s`", o->format);
  return 0;
}

static int
load (const catalog_opts *o, gsi_catalog **c, gsi_error *err)
{
  if (gsi_catalog_load (o->file, c, err) < 0)
    return CLI_FAIL;
  if (o->release && gsi_catalog_find_release (*c, o->release) < 0)
    {
      gsi_catalog_free (*c);
      *c = NULL;
      return gsi_error_set (err, 0, "no release `%s` in `%s`", o->release, o->file);
    }
  return 0;
}

static json_t *
strvec_json (const gsi_strvec *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < v->n; i++)
    json_array_append_new (a, json_string (v->v[i]));
  return a;
}

static json_t *
parents_json (const gsi_catalog_dag *d, size_t i)
{
  json_t *a = json_array ();
  for (size_t j = 0; j < d->nodes[i].n_parents; j++)
    json_array_append_new (a, json_string (d->catalog->images[d->nodes[i].parents[j]].name));
  return a;
}

static void
print_json (json_t *doc)
{
  char *text = json_dumps (doc, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  printf ("%s\n", text);
  free (text);
  json_decref (doc);
}

/* ---- list ---- */

static void
list_text_line (const gsi_catalog_dag *d, size_t i)
{
  const gsi_catalog *c = d->catalog;
  const char *reason = NULL;
  bool avail = gsi_catalog_available (c, i, d->release, &reason);
  cleanup_buf gsi_buf parents = GSI_BUF_INIT;

  for (size_t j = 0; j < d->nodes[i].n_parents; j++)
    gsi_buf_addf (&parents, "%s%s", j ? "," : "", c->images[d->nodes[i].parents[j]].name);
  printf ("%-28s %-10s %-10s %s", c->images[i].name, d->release, avail ? "available" : "no", parents.len ? parents.buf : "-");
  if (!avail)
    printf ("  (%s)", reason ? reason : "not available");
  printf ("\n");
}

static json_t *
list_json_release (const gsi_catalog_dag *d, size_t i)
{
  const char *reason = NULL;
  json_t *o = json_object ();

  json_object_set_new (o, "release", json_string (d->release));
  json_object_set_new (o, "available", json_boolean (gsi_catalog_available (d->catalog, i, d->release, &reason)));
  if (reason)
    json_object_set_new (o, "reason", json_string (reason));
  json_object_set_new (o, "parents", parents_json (d, i));
  json_object_set_new (o, "external", strvec_json (&d->nodes[i].external));
  return o;
}

static int
load_dags (const gsi_catalog *c, const char *release, gsi_catalog_dag **dags, gsi_error *err)
{
  for (size_t r = 0; r < c->n_releases; r++)
    if ((release == NULL || strcmp (release, c->releases[r].name) == 0)
        && gsi_catalog_dag_build (c, c->releases[r].name, &dags[r], err) < 0)
      return -1;
  return 0;
}

static void
list_print (const gsi_catalog *c, gsi_catalog_dag **dags, bool json)
{
  json_t *images = json_array ();

  if (!json)
    printf ("%-28s %-10s %-10s %s\n", "IMAGE", "RELEASE", "AVAILABLE", "PARENTS");
  for (size_t i = 0; i < c->n_images; i++)
    {
      json_t *o = json_object (), *rels = json_array ();
      json_object_set_new (o, "name", json_string (c->images[i].name));
      json_object_set_new (o, "description", json_string (c->images[i].description));
      for (size_t r = 0; r < c->n_releases; r++)
        if (dags[r] && json)
          json_array_append_new (rels, list_json_release (dags[r], i));
        else if (dags[r])
          list_text_line (dags[r], i);
      json_object_set_new (o, "releases", rels);
      json_array_append_new (images, o);
    }
  if (json)
    {
      json_t *doc = json_object ();
      json_object_set_new (doc, "registry", json_string (c->registry));
      json_object_set_new (doc, "images", images);
      print_json (doc);
    }
  else
    json_decref (images);
}

static void
print_list_help (void)
{
  printf ("Usage: gsi catalog list [--catalog FILE] [--release R] [--format text|json]\n\n"
          "Lists the catalog's images for each release: whether the image is built for it (and why\n"
          "not), and the catalog images it builds on (its parents in the build graph).\n\n"
          "Options:\n"
          "  --catalog FILE          catalog.yaml (default: ./catalog.yaml); Containerfiles are read\n"
          "                          from ContainerFiles/<image> beside it\n"
          "  --release R             only this release\n"
          "  --format text|json      text (default): IMAGE RELEASE AVAILABLE PARENTS [(reason)];\n"
          "                          json: {\"registry\", \"images\": [{\"name\", \"description\",\n"
          "                          \"releases\": [{\"release\", \"available\", \"reason\"?, \"parents\",\n"
          "                          \"external\"}]}]}\n");
}

static int
catalog_list (int argc, char **argv, gsi_error *err)
{
  static const char *const formats[] = { "text", "json", NULL };
  catalog_opts o = { 0 };
  gsi_catalog *c = NULL;
  gsi_catalog_dag **dags = NULL;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_list_help ();
      return 0;
    }
  r = parse_common (argc, argv, &o, formats, err);
  if (r == 0)
    r = load (&o, &c, err);
  if (r == 0)
    {
      dags = xcalloc (c->n_releases + 1, sizeof *dags);
      r = load_dags (c, o.release, dags, err) < 0 ? CLI_FAIL : 0;
    }
  if (r == 0)
    list_print (c, dags, strcmp (o.format, "json") == 0);
  for (size_t i = 0; c && i < c->n_releases; i++)
    gsi_catalog_dag_free (dags[i]);
  free (dags);
  gsi_catalog_free (c);
  return r;
}

/* ---- graph ---- */

static void
graph_text (const gsi_catalog_dag *d)
{
  const gsi_catalog *c = d->catalog;

  for (size_t k = 0; k < d->n; k++)
    {
      size_t i = d->order[k];
      const gsi_catalog_node *n = &d->nodes[i];
      printf ("%s%s", c->images[i].name, n->n_parents + n->external.n ? " <-" : "");
      for (size_t j = 0; j < n->n_parents; j++)
        printf ("%s %s", j ? "," : "", c->images[n->parents[j]].name);
      for (size_t j = 0; j < n->external.n; j++)
        printf ("%s %s (external)", j || n->n_parents ? "," : "", n->external.v[j]);
      if (!gsi_catalog_available (c, i, d->release, NULL))
        printf (" [not available]");
      printf ("\n");
    }
}

static void
graph_dot (const gsi_catalog_dag *d)
{
  const gsi_catalog *c = d->catalog;

  printf ("digraph \"%s\" {\n  rankdir=LR;\n", d->release);
  for (size_t k = 0; k < d->n; k++)
    {
      size_t i = d->order[k];
      bool avail = gsi_catalog_available (c, i, d->release, NULL);
      printf ("  \"%s\"%s;\n", c->images[i].name, avail ? "" : " [style=dashed]");
    }
  for (size_t k = 0; k < d->n; k++)
    {
      size_t i = d->order[k];
      for (size_t j = 0; j < d->nodes[i].n_parents; j++)
        printf ("  \"%s\" -> \"%s\";\n", c->images[d->nodes[i].parents[j]].name, c->images[i].name);
    }
  printf ("}\n");
}

static void
graph_mermaid (const gsi_catalog_dag *d)
{
  const gsi_catalog *c = d->catalog;

  /* Node ids are indexes: image names may hold '.', which mermaid ids may not.  */
  printf ("graph LR\n");
  for (size_t k = 0; k < d->n; k++)
    {
      size_t i = d->order[k];
      printf ("  n%zu[\"%s%s\"]\n", i, c->images[i].name,
              gsi_catalog_available (c, i, d->release, NULL) ? "" : " (not available)");
    }
  for (size_t k = 0; k < d->n; k++)
    {
      size_t i = d->order[k];
      for (size_t j = 0; j < d->nodes[i].n_parents; j++)
        printf ("  n%zu --> n%zu\n", d->nodes[i].parents[j], i);
    }
}

static void
graph_json (const gsi_catalog_dag *d)
{
  const gsi_catalog *c = d->catalog;
  json_t *doc = json_object (), *nodes = json_array (), *edges = json_array ();

  for (size_t k = 0; k < d->n; k++)
    {
      size_t i = d->order[k];
      const char *reason = NULL;
      json_t *o = json_object ();
      json_object_set_new (o, "name", json_string (c->images[i].name));
      json_object_set_new (o, "available", json_boolean (gsi_catalog_available (c, i, d->release, &reason)));
      if (reason)
        json_object_set_new (o, "reason", json_string (reason));
      json_object_set_new (o, "external", strvec_json (&d->nodes[i].external));
      json_array_append_new (nodes, o);
      for (size_t j = 0; j < d->nodes[i].n_parents; j++)
        {
          json_t *e = json_object ();
          json_object_set_new (e, "from", json_string (c->images[d->nodes[i].parents[j]].name));
          json_object_set_new (e, "to", json_string (c->images[i].name));
          json_array_append_new (edges, e);
        }
    }
  json_object_set_new (doc, "release", json_string (d->release));
  json_object_set_new (doc, "nodes", nodes);
  json_object_set_new (doc, "edges", edges);
  print_json (doc);
}

static void
print_graph_help (void)
{
  printf ("Usage: gsi catalog graph [--catalog FILE] [--release R] [--format text|dot|mermaid|json]\n\n"
          "Prints the build graph of a release (default: the first release of the catalog).  An edge\n"
          "PARENT -> CHILD means CHILD's Containerfile, planned with the release's build_args, uses\n"
          "REGISTRY/PARENT:... as a stage base or COPY --from image; other image references are\n"
          "external (bases).  Nodes come in build order: parents first, ties in catalog order.\n\n"
          "Options:\n"
          "  --catalog FILE   catalog.yaml (default: ./catalog.yaml)\n"
          "  --release R      the release\n"
          "  --format F       text (default): one line per image, `NAME <- PARENT, REF (external)`,\n"
          "                   with ` [not available]` for images not built for the release;\n"
          "                   dot: a Graphviz digraph (not available images dashed);\n"
          "                   mermaid: a `graph LR` flowchart;\n"
          "                   json: {\"release\": R, \"nodes\": [{\"name\", \"available\", \"reason\"?,\n"
          "                   \"external\": [REF...]}...], \"edges\": [{\"from\": PARENT, \"to\": CHILD}...]}\n");
}

static int
catalog_graph (int argc, char **argv, gsi_error *err)
{
  static const char *const formats[] = { "text", "dot", "mermaid", "json", NULL };
  catalog_opts o = { 0 };
  gsi_catalog *c = NULL;
  gsi_catalog_dag *d = NULL;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_graph_help ();
      return 0;
    }
  r = parse_common (argc, argv, &o, formats, err);
  if (r == 0)
    r = load (&o, &c, err);
  if (r == 0 && c->n_releases == 0)
    r = gsi_error_set (err, 0, "`%s` lists no release", o.file);
  if (r == 0)
    r = gsi_catalog_dag_build (c, o.release ? o.release : c->releases[0].name, &d, err) < 0 ? CLI_FAIL : 0;
  if (r == 0 && strcmp (o.format, "dot") == 0)
    graph_dot (d);
  else if (r == 0 && strcmp (o.format, "mermaid") == 0)
    graph_mermaid (d);
  else if (r == 0 && strcmp (o.format, "json") == 0)
    graph_json (d);
  else if (r == 0)
    graph_text (d);
  gsi_catalog_dag_free (d);
  gsi_catalog_free (c);
  return r;
}

static const cli_command catalog_cmds[] = {
  { "list", catalog_list, "list images, releases, availability and parents" },
  { "graph", catalog_graph, "print the build graph of a release (text, dot, mermaid, json)" },
  { "build", cmd_catalog_build, "build images and their ancestors in order, with smoke tests" },
  { NULL, NULL, NULL },
};

int
cmd_catalog (int argc, char **argv, gsi_error *err)
{
  return cli_dispatch ("catalog",
                       "Usage: gsi catalog SUBCOMMAND [OPTIONS]\n\n"
                       "Works on the image catalog (catalog.yaml and ContainerFiles/ beside it).\n",
                       catalog_cmds, argc, argv, err);
}
