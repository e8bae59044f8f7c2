/* gsi version: the version ordering the scanner uses, on its own.  */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "vuln/version.h"

static int
version_compare_cmd (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  const char *pos[3];
  int c, e, cmp, n = 0;

  optind = 0;
  while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1)
    switch (c)
      {
      case 'h':
        printf ("Usage: gsi version compare deb|pypi A B\n\n"
                "Prints `<`, `=` or `>`: how version A orders against version B.\n"
                "  deb   Debian's rules, as dpkg --compare-versions: [epoch:]upstream[-revision],\n"
                "        `~` before everything (1.0~rc1 < 1.0), letters before other characters\n"
                "  pypi  PEP 440, after normalisation (1.0RC1 = 1.0rc1, 1.0 = 1.0.0); epochs,\n"
                "        pre, post, dev and local versions ordered as pypa/packaging does\n"
                "An invalid version is an error (exit status 2) that says why.  Put `--` before a\n"
                "version that starts with `-`.\n");
        return 0;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  /* Option parsing stops at the ecosystem, so a `--` may still come after it.  */
  for (int i = optind, dashes = 0; i < argc; i++)
    {
      if (!dashes && strcmp (argv[i], "--") == 0)
        {
          dashes = 1;
          continue;
        }
      if (n == 3)
        return cli_usage (err, argv[0], "expects deb|pypi and two versions");
      pos[n++] = argv[i];
    }
  if (n != 3)
    return cli_usage (err, argv[0], "expects deb|pypi and two versions");
  e = gsi_ecosystem_parse (pos[0]);
  if (e < 0)
    return cli_usage (err, argv[0], "unknown ecosystem `%s`: deb or pypi", pos[0]);
  if (gsi_version_compare (e, pos[1], pos[2], &cmp, err) < 0)
    return CLI_USAGE;
  printf ("%s\n", cmp < 0 ? "<" : cmp > 0 ? ">" : "=");
  return 0;
}

static const cli_command subcommands[] = {
  { "compare", version_compare_cmd, "order two Debian or PEP 440 versions: prints <, = or >" },
  { NULL, NULL, NULL },
};

int
cmd_version (int argc, char **argv, gsi_error *err)
{
  return cli_dispatch ("version", "Usage: gsi version SUBCOMMAND [ARGS]\n", subcommands, argc, argv, err);
}
