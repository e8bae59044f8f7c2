/* gsi catalog's subcommands that live in their own file.  */
#ifndef GSI_CMD_CATALOG_H
#define GSI_CMD_CATALOG_H

#include "util/error.h"

int cmd_catalog_build (int argc, char **argv, gsi_error *err);

#endif
