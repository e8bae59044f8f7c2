/* gsi patch suggest: turns an image's scan into the CVE patch file of catalog build.  */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd_vuln.h"
#include "util/xalloc.h"
#include "vuln/suggest.h"

static void
print_patch_help (void)
{
  printf ("Usage: gsi [--root DIR] patch suggest [OPTIONS] REF\n\n"
          "Scans the image REF as gsi scan does and prints the fewest upgrades that clear its fixable\n"
          "findings, in the format of the catalog's CVE patch files (patches/IMAGE.yaml): for each\n"
          "package with a fixable finding, one entry asking for the highest fixed version among its\n"
          "findings, with their advisory ids.  Findings without a fix, or without an id of the forms\n"
          "patch files take, are listed as comments.  The reason field says what the entry clears;\n"
          "review it before committing the file.\n\n"
          "Options:\n"
          "      --release R          the release key of the file (default: the part of REF's tag\n"
          "                           before the first '-', as in keystone:2025.1-latest)\n"
          "      --severity LIST      only findings of these severities (as gsi scan)\n"
          "      --ignorefile FILE    leave out what this Trivy ignore file covers (as gsi scan;\n"
          "                           repeatable)\n"
          "      --db FILE            the vulnerability database (default: the store's)\n"
          "  -o, --output FILE        write the file there instead of stdout\n\n"
          "Exit status: 0 (also when nothing needs a patch), 1 on an error, 2 on a usage error.\n");
}

/* "2025.1" of ".../keystone:2025.1-latest" (malloc'd), or NULL.  */
static char *
release_of (const char *ref)
{
  const char *slash = strrchr (ref, '/');
  const char *colon = strrchr (slash ? slash : ref, ':');
  const char *dash = colon ? strchr (colon + 1, '-') : NULL;

  if (colon == NULL || strchr (ref, '@') || dash == NULL || dash == colon + 1)
    return NULL;
  return xstrndup (colon + 1, (size_t) (dash - colon - 1));
}

static int
patch_suggest (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "release", required_argument, NULL, 'R' },   { "severity", required_argument, NULL, 'S' },
    { "ignorefile", required_argument, NULL, 'I' }, { "db", required_argument, NULL, 'D' },
    { "output", required_argument, NULL, 'o' },     { NULL, 0, NULL, 0 },
  };
  gsi_scan_filter flt = { 0 };
  gsi_ignore ignore = { 0 };
  const char *dbpath = NULL, *output = NULL;
  cleanup_free char *release = NULL;
  char today[16];
  cli_scan sc;
  gsi_buf out = GSI_BUF_INIT;
  int c, ret = CLI_FAIL;

  cli_today_utc (today);
  flt.today = today;
  flt.ignore_unfixed = false; /* unfixed findings become comments, so they stay in view */
  optind = 0;
  while ((c = getopt_long (argc, argv, "o:", opts, NULL)) != -1)
    {
      int bad = 0;
      switch (c)
        {
        case 'R':
          free (release);
          release = xstrdup (optarg);
          break;
        case 'S':
          bad = gsi_severity_set_parse (optarg, &flt.severities, err) < 0 ? CLI_USAGE : 0;
          break;
        case 'I':
          bad = gsi_ignore_load (optarg, &ignore, err) < 0 ? CLI_FAIL : 0;
          break;
        case 'D':
          dbpath = optarg;
          break;
        case 'o':
          output = optarg;
          break;
        default:
          bad = cli_usage (err, argv[0], "unknown option (see 'gsi patch suggest --help')");
        }
      if (bad)
        {
          gsi_ignore_clear (&ignore);
          return bad;
        }
    }
  if (argc - optind != 1)
    {
      gsi_ignore_clear (&ignore);
      return cli_usage (err, argv[0], "expects one image REF");
    }
  if (release == NULL && (release = release_of (argv[optind])) == NULL)
    {
      gsi_ignore_clear (&ignore);
      return cli_usage (err, argv[0], "cannot tell the release from `%s`: give --release R", argv[optind]);
    }
  flt.ignore = &ignore;
  if (cli_scan_image (dbpath, argv[optind], &flt, &sc, err) == 0)
    {
      gsi_patch_suggest (&out, release, argv[optind], &sc.inv, &sc.found, &sc.sel);
      if (cli_write_output (output, &out, err) == 0)
        ret = 0;
    }
  cli_scan_clear (&sc);
  gsi_buf_release (&out);
  gsi_ignore_clear (&ignore);
  return ret;
}

int
cmd_patch (int argc, char **argv, gsi_error *err)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      printf ("Usage: gsi [--root DIR] patch suggest [OPTIONS] REF\n\n"
              "  suggest   the CVE patch file (patches/IMAGE.yaml) that clears an image's fixable\n"
              "            findings\n\n"
              "Run 'gsi patch suggest --help' for its options.\n");
      return argc < 2 ? cli_usage (err, "patch", "a subcommand is required (suggest)") : 0;
    }
  if (strcmp (argv[1], "suggest") != 0)
    return cli_usage (err, "patch", "unknown subcommand `%s` (suggest)", argv[1]);
  if (cli_wants_help (argc - 1, argv + 1))
    {
      print_patch_help ();
      return 0;
    }
  return patch_suggest (argc - 1, argv + 1, err);
}
