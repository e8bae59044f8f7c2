/* gsi db: the vulnerability database of the store (GSI_ROOT/gsi-private/vuln.db).  */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd_vuln.h"
#include "oci/store.h"
#include "util/xalloc.h"
#include "vuln/vulndb.h"

char *
cli_vulndb_path (const char *given, gsi_error *err)
{
  cleanup_free char *root = NULL;

  if (given)
    return xstrdup (given);
  root = gsi_store_default_root (err);
  if (root == NULL)
    return NULL;
  return xasprintf ("%s/" GSI_STORE_PRIVATE_DIR "/vuln.db", root);
}

int
cli_vulndb_open_existing (const char *given, gsi_vulndb **db, gsi_error *err)
{
  cleanup_free char *path = cli_vulndb_path (given, err);
  struct stat sb;

  if (path == NULL)
    return -1;
  if (stat (path, &sb) < 0)
    return gsi_error_set (err, 0, "no vulnerability database at %s: load one with 'gsi db import PATH'", path);
  return gsi_vulndb_open_path (path, db, err);
}

static int
open_for_import (const char *given, gsi_vulndb **db, gsi_error *err)
{
  cleanup_free char *root = NULL;
  cleanup_store gsi_store *store = NULL;

  if (given)
    return gsi_vulndb_open_path (given, db, err);
  root = gsi_store_default_root (err);
  if (root == NULL || gsi_store_open (root, &store, err) < 0)
    return -1;
  return gsi_vulndb_open (store, db, err);
}

static double
seconds_since (const struct timespec *t0)
{
  struct timespec t1;

  clock_gettime (CLOCK_MONOTONIC, &t1);
  return (double) (t1.tv_sec - t0->tv_sec) + (double) (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int
db_import_cmd (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[]
      = { { "db", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  const char *dbpath = NULL;
  gsi_vulndb *db = NULL;
  gsi_import_stats st;
  struct timespec t0;
  int c, r;

  optind = 0;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'd':
        dbpath = optarg;
        break;
      case 'h':
        printf ("Usage: gsi db import [--db FILE] PATH...\n\n"
                "Loads vulnerability records into the database, in one transaction: all of PATH or\n"
                "nothing.  PATH is an OSV record (.json, .yaml, .yml), a folder of them (read\n"
                "recursively, hidden entries left out), a .zip of them (osv.dev's all.zip), or the\n"
                "Debian security tracker's JSON export (told apart from OSV by its content).\n"
                "OSV records of the PyPI and Debian ecosystems are kept (others are counted and left\n"
                "out); a record replaces the stored one of the same id when its \"modified\" is newer.\n"
                "A tracker export replaces the previous one.  A malformed record fails the import,\n"
                "naming the file and the cause.\n\n"
                "Options:\n"
                "      --db FILE  the database (default: GSI_ROOT/gsi-private/vuln.db of the store)\n");
        return 0;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  if (optind >= argc)
    return cli_usage (err, argv[0], "expects at least one PATH");
  if (open_for_import (dbpath, &db, err) < 0)
    return CLI_FAIL;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  r = gsi_vulndb_import_paths (db, (const char *const *) argv + optind, (size_t) (argc - optind), &st, err);
  gsi_vulndb_close (db);
  if (r < 0)
    return gsi_error_wrap (err, "nothing imported"), CLI_FAIL;
  printf ("imported %zu records from %zu files in %.2f s (%zu withdrawn, %zu already held, %zu of other ecosystems left "
          "out)\n",
          st.records, st.files, seconds_since (&t0), st.withdrawn, st.unchanged, st.skipped_ecosystem);
  return 0;
}

/* "3 days", "5 hours": how long ago an RFC 3339 UTC time was.  */
static void
format_ago (const char *when, char out[32])
{
  struct tm tm = { 0 };
  const char *p = strptime (when, "%Y-%m-%dT%H:%M:%S", &tm);
  long d;

  snprintf (out, 32, "?");
  if (p == NULL)
    return;
  d = (long) (time (NULL) - timegm (&tm));
  if (d < 0)
    return;
  if (d >= 2 * 86400)
    snprintf (out, 32, "%ld days", d / 86400);
  else if (d >= 2 * 3600)
    snprintf (out, 32, "%ld hours", d / 3600);
  else
    snprintf (out, 32, "%ld minutes", d / 60);
}

static int
db_status_cmd (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = { { "db", required_argument, NULL, 'd' },
                                        { "format", required_argument, NULL, 'F' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  const char *dbpath = NULL;
  bool json = false;
  gsi_vulndb *db = NULL;
  gsi_vulndb_source *src = NULL;
  size_t n = 0;
  int c, r;

  optind = 0;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'd':
        dbpath = optarg;
        break;
      case 'F':
        if (strcmp (optarg, "json") != 0 && strcmp (optarg, "table") != 0)
          return cli_usage (err, argv[0], "--format must be table or json, got `%s`", optarg);
        json = strcmp (optarg, "json") == 0;
        break;
      case 'h':
        printf ("Usage: gsi db status [--db FILE] [--format table|json]\n\n"
                "Shows each source of the database (osv:PyPI, osv:Debian, debian-tracker): how many\n"
                "records it holds, when it was last imported and how long ago, and the newest\n"
                "\"modified\" time among its records (the age of the data itself).\n\n"
                "Options:\n"
                "      --db FILE             the database (default: GSI_ROOT/gsi-private/vuln.db)\n"
                "      --format table|json   table (default) or a JSON array of the same fields\n");
        return 0;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  if (optind != argc)
    return cli_usage (err, argv[0], "takes no arguments");
  if (cli_vulndb_open_existing (dbpath, &db, err) < 0)
    return CLI_FAIL;
  r = gsi_vulndb_status (db, &src, &n, err);
  gsi_vulndb_close (db);
  if (r < 0)
    return CLI_FAIL;
  if (json)
    {
      json_t *arr = json_array ();
      char *text;
      for (size_t i = 0; i < n; i++)
        json_array_append_new (arr, json_pack ("{s:s, s:I, s:s, s:s?}", "source", src[i].name, "records",
                                               (json_int_t) src[i].records, "imported", src[i].imported, "newest",
                                               src[i].newest));
      text = json_dumps (arr, JSON_INDENT (2));
      printf ("%s\n", text);
      free (text);
      json_decref (arr);
    }
  else
    {
      printf ("%-16s %8s  %-38s %s\n", "SOURCE", "RECORDS", "IMPORTED", "NEWEST RECORD");
      for (size_t i = 0; i < n; i++)
        {
          char ago[32], imported[64];
          format_ago (src[i].imported, ago);
          snprintf (imported, sizeof imported, "%s (%s ago)", src[i].imported, ago);
          printf ("%-16s %8zu  %-38s %s\n", src[i].name, src[i].records, imported,
                  src[i].newest ? src[i].newest : "-");
        }
      if (n == 0)
        printf ("(empty: load records with 'gsi db import PATH')\n");
    }
  gsi_vulndb_sources_free (src, n);
  return 0;
}

static const cli_command subcommands[] = {
  { "import", db_import_cmd, "load OSV records (files, folders, zips) and Debian tracker JSON" },
  { "status", db_status_cmd, "show the database's sources, record counts and age" },
  { NULL, NULL, NULL },
};

int
cmd_db (int argc, char **argv, gsi_error *err)
{
  return cli_dispatch ("db", "Usage: gsi db SUBCOMMAND [ARGS]\n", subcommands, argc, argv, err);
}
