/* The command-line front end: the only code in gsi that prints errors and chooses exit codes.
 *
 * A command is `int cmd (int argc, char **argv, gsi_error *err)` with argv[0] the command's name.
 * It returns 0 on success, CLI_FAIL (-1) with err set on failure (printed once by main, exit 1),
 * CLI_USAGE (-2) with err set on a usage mistake (exit 2), or a positive exit status the command
 * decided itself (e.g. a scan's --exit-code) after printing what it had to.  */
#ifndef GSI_CLI_H
#define GSI_CLI_H

#include "util/error.h"

#define CLI_FAIL (-1)
#define CLI_USAGE (-2)

typedef int (*cli_fn) (int argc, char **argv, gsi_error *err);

typedef struct cli_command
{
  const char *name;
  cli_fn fn;
  const char *summary;
} cli_command;

/* Sets a usage error "CMD: message" and returns CLI_USAGE.  */
int cli_usage (gsi_error *err, const char *cmd, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/* The value of --tls-verify / --tls-verify=BOOL as podman and skopeo spell it: no value, true, 1 or
 * yes is 1; false, 0 or no is 0; anything else returns -1.  */
int cli_parse_bool (const char *s, int *out);

/* Runs the subcommand of a command group (e.g. "containerfile dump"): prints the group's help for
 * --help/-h/no argument, or a usage error for an unknown subcommand.  */
int cli_dispatch (const char *group, const char *group_help, const cli_command *cmds, int argc, char **argv,
                  gsi_error *err);

/* True when argv holds -h or --help before any "--".  */
int cli_wants_help (int argc, char **argv);

int cmd_containerfile (int argc, char **argv, gsi_error *err);
int cmd_build (int argc, char **argv, gsi_error *err);
int cmd_images (int argc, char **argv, gsi_error *err);
int cmd_inspect (int argc, char **argv, gsi_error *err);
int cmd_tag (int argc, char **argv, gsi_error *err);
int cmd_rmi (int argc, char **argv, gsi_error *err);
int cmd_prune (int argc, char **argv, gsi_error *err);
int cmd_run (int argc, char **argv, gsi_error *err);
int cmd_export (int argc, char **argv, gsi_error *err);
int cmd_bootstrap (int argc, char **argv, gsi_error *err);
int cmd_import (int argc, char **argv, gsi_error *err);
int cmd_catalog (int argc, char **argv, gsi_error *err);
int cmd_pull (int argc, char **argv, gsi_error *err);
int cmd_push (int argc, char **argv, gsi_error *err);
int cmd_login (int argc, char **argv, gsi_error *err);
int cmd_logout (int argc, char **argv, gsi_error *err);
int cmd_sbom (int argc, char **argv, gsi_error *err);
int cmd_db (int argc, char **argv, gsi_error *err);
int cmd_scan (int argc, char **argv, gsi_error *err);
int cmd_version (int argc, char **argv, gsi_error *err);
int cmd_patch (int argc, char **argv, gsi_error *err);

#endif
