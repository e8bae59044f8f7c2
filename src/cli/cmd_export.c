/* gsi export: one image of the store as an oci-archive or docker-archive tar file.  */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "oci/archive.h"
#include "oci/store.h"
#include "util/xalloc.h"

static void
print_export_help (void)
{
  printf ("Usage: gsi [--root DIR] export [OPTIONS] REF -o FILE\n\n"
          "Writes the image REF (a tag or a manifest digest) of the store to one tar file.\n\n"
          "Options:\n"
          "      --format FORMAT  oci-archive (default): a tar of an OCI image layout, read by\n"
          "                         `skopeo ... oci-archive:FILE` and `podman load`;\n"
          "                       docker-archive: the `docker load` format (manifest.json, with\n"
          "                         an OCI layout over the same blobs); holds one platform\n"
          "  -o, --output FILE    where to write; written to a temp file and renamed, so FILE is\n"
          "                       never left half-written.  `-` writes to stdout\n\n"
          "Layers go in as stored (compressed).  Entries have mtime $SOURCE_DATE_EPOCH (0 when unset),\n"
          "so exporting one image twice gives identical files.\n");
}

static int
open_store (gsi_store **store, gsi_error *err)
{
  cleanup_free char *root = gsi_store_default_root (err);

  if (root == NULL)
    return -1;
  return gsi_store_open (root, store, err);
}

typedef struct export_args
{
  const char *ref;
  const char *output;
  gsi_archive_format fmt;
} export_args;

static int
parse_export_args (export_args *a, int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "format", required_argument, NULL, 'F' },
    { "output", required_argument, NULL, 'o' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  optind = 0;
  while ((c = getopt_long (argc, argv, "o:", opts, NULL)) != -1)
    {
      if (c == 'o')
        a->output = optarg;
      else if (c == 'F')
        {
          if (gsi_archive_format_parse (optarg, &a->fmt, err) < 0)
            return cli_usage (err, argv[0], "--format must be oci-archive or docker-archive, got `%s`", optarg);
        }
      else
        return cli_usage (err, argv[0], "unknown option");
    }
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one image REF");
  a->ref = argv[optind];
  if (a->output == NULL || *a->output == '\0')
    return cli_usage (err, argv[0], "needs -o FILE (or -o - for stdout)");
  return 0;
}

int
cmd_export (int argc, char **argv, gsi_error *err)
{
  export_args a = { NULL, NULL, GSI_ARCHIVE_OCI };
  cleanup_store gsi_store *store = NULL;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_export_help ();
      return 0;
    }
  r = parse_export_args (&a, argc, argv, err);
  if (r < 0)
    return r;
  if (strcmp (a.output, "-") == 0 && isatty (STDOUT_FILENO))
    return cli_usage (err, argv[0], "refusing to write an archive to a terminal");
  if (open_store (&store, err) < 0)
    return CLI_FAIL;
  if (strcmp (a.output, "-") == 0)
    r = gsi_archive_write_fd (store, a.ref, a.fmt, STDOUT_FILENO, err);
  else
    r = gsi_archive_write_file (store, a.ref, a.fmt, a.output, err);
  return r < 0 ? CLI_FAIL : 0;
}
