/* gsi sbom: an image's software bill of materials.  */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd_vuln.h"
#include "oci/image.h"
#include "oci/store.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/inventory.h"
#include "vuln/sbom.h"

static void
print_sbom_help (void)
{
  printf ("Usage: gsi [--root DIR] sbom [OPTIONS] REF\n\n"
          "Writes the software bill of materials of an image of the store: its Debian packages (dpkg\n"
          "status and status.d, with source package and version) and its Python distributions (the\n"
          "*.dist-info and *.egg-info of every site-packages and dist-packages, venvs included,\n"
          "with the Debian package that installed them when one did), each with its purl.  The image\n"
          "is read from its layer blobs; nothing is unpacked.  What a layer holds is remembered per\n"
          "layer digest in the store (gsi-private/inventory), so a layer read once is not inflated\n"
          "again; `gsi prune` drops the entries of layers it removes.\n\n"
          "The output is a function of the image alone: the timestamp is the image's creation time\n"
          "and the serial number (SPDX: document namespace) is derived from the manifest digest, so\n"
          "the same image always gives the same bytes.\n\n"
          "Options:\n"
          "      --format FORMAT   cyclonedx (default: CycloneDX 1.5 JSON) or spdx (SPDX 2.3 JSON)\n"
          "  -o, --output FILE     write the SBOM to FILE (replaced atomically) instead of stdout\n\n"
          "Exit status: 0, 1 on an error (unknown image, unreadable layer), 2 on a usage error.\n");
}

static int
sbom_image (const char *ref, gsi_sbom_format fmt, gsi_buf *out, gsi_error *err)
{
  cleanup_free char *root = NULL;
  cleanup_store gsi_store *store = NULL;
  gsi_descriptor desc = GSI_DESCRIPTOR_INIT;
  gsi_image_config cfg;
  gsi_inventory inv;
  int r = -1;

  memset (&inv, 0, sizeof inv);
  gsi_image_config_init (&cfg);
  root = gsi_store_default_root (err);
  if (root && gsi_store_open (root, &store, err) == 0 && gsi_store_load_image (store, ref, &desc, NULL, &cfg, err) == 0
      && gsi_inventory_read (store, ref, &inv, err) == 0)
    {
      gsi_sbom_subject subj = { ref, desc.digest, cfg.created };
      r = gsi_sbom_write (&inv, &subj, fmt, out, err);
    }
  if (r < 0)
    gsi_error_wrap (err, "sbom `%s`", ref);
  gsi_inventory_clear (&inv);
  gsi_image_config_clear (&cfg);
  gsi_descriptor_clear (&desc);
  return r;
}

int
cmd_sbom (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "format", required_argument, NULL, 'F' },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  gsi_sbom_format fmt = GSI_SBOM_CYCLONEDX;
  const char *output = NULL;
  cleanup_buf gsi_buf out = GSI_BUF_INIT;
  int c;

  if (cli_wants_help (argc, argv))
    {
      print_sbom_help ();
      return 0;
    }
  optind = 0;
  while ((c = getopt_long (argc, argv, "o:", opts, NULL)) != -1)
    switch (c)
      {
      case 'F':
        if (gsi_sbom_format_parse (optarg, &fmt, err) < 0)
          return gsi_error_wrap (err, "%s: --format", argv[0]), CLI_USAGE;
        break;
      case 'o':
        output = optarg;
        break;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects one image REF");
  if (sbom_image (argv[optind], fmt, &out, err) < 0 || cli_write_output (output, &out, err) < 0)
    return CLI_FAIL;
  return 0;
}
