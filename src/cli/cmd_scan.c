/* gsi scan: an image of the store against the vulnerability database.  */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd_vuln.h"
#include "oci/store.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/inventory.h"
#include "vuln/report.h"
#include "vuln/vulndb.h"

#ifndef GSI_VERSION
#define GSI_VERSION "unknown"
#endif

static void
print_scan_help (void)
{
  printf ("Usage: gsi [--root DIR] scan [OPTIONS] REF\n\n"
          "Scans an image of the store for known vulnerabilities: its Debian packages (dpkg status and\n"
          "status.d) against the Debian security tracker and OSV Debian records, by source package and\n"
          "the image's release (os-release VERSION_CODENAME), and its Python distributions (every\n"
          "site-packages, venvs included) against OSV PyPI records.  The image is read from its layer\n"
          "blobs; nothing is unpacked.  What a layer holds is remembered per layer digest in the store\n"
          "(gsi-private/inventory), so a layer read once is not inflated again; `gsi prune` drops the\n"
          "entries of layers it removes.  Records that share an alias are one finding; fixable\n"
          "findings name the fixed version.\n\n"
          "Rules the matcher applies (the README says why):\n"
          "  - a PyPI advisory of OpenStack's date-version era (ranges in 2011.x-2015.x versions, or a\n"
          "    fix known only as a commit and published before 2015-10) does not match a release of\n"
          "    the restarted scheme (keystone 27.0.0); the report lists what the rule kept out\n"
          "  - a Python distribution that a Debian package owns is matched as that Debian package\n\n"
          "Options:\n"
          "      --severity LIST      only these severities (comma-separated: UNKNOWN, LOW, MEDIUM,\n"
          "                           HIGH, CRITICAL)\n"
          "      --ignore-unfixed     leave out findings that have no fixed version\n"
          "      --ignorefile FILE    Trivy's ignore file: .trivyignore (one id per line, `#` comments,\n"
          "                           exp:YYYY-MM-DD) or, for a name ending in .yaml/.yml, the YAML form\n"
          "                           (vulnerabilities: id, paths, purls, expired_at, statement);\n"
          "                           may be given more than once; none is read unless named\n"
          "      --format FORMAT      table (default), json, or sarif (SARIF 2.1.0 for GitHub code\n"
          "                           scanning)\n"
          "  -o, --output FILE        write the report to FILE instead of stdout\n"
          "      --exit-code N        exit with N when findings remain after the filters (default 0)\n"
          "      --db FILE            the vulnerability database (default: the store's\n"
          "                           gsi-private/vuln.db; fill it with 'gsi db import')\n\n"
          "Warnings (versions that could not be compared) go to stderr.  Exit status: 0, or N with\n"
          "--exit-code, or 1 on an error (a malformed ignore file names its file and line).\n");
}

void
cli_today_utc (char out[16])
{
  time_t t = time (NULL);
  struct tm tm;

  gmtime_r (&t, &tm);
  strftime (out, 16, "%Y-%m-%d", &tm);
}

int
cli_write_output (const char *path, const gsi_buf *b, gsi_error *err)
{
  cleanup_free char *tmp = NULL;
  int fd;

  if (path == NULL)
    {
      if (fwrite (b->buf, 1, b->len, stdout) != b->len || fflush (stdout) != 0)
        return gsi_error_set (err, errno, "write the report");
      return 0;
    }
  /* A device or a pipe (-o /dev/null, /dev/stdout, a FIFO) is written in place: renaming a temp
   * file over it would replace the device with a plain file.  Anything else is written beside the
   * target and renamed: a failed scan never leaves half a report.  */
  struct stat st;
  bool in_place = stat (path, &st) == 0 && !S_ISREG (st.st_mode);
  if (in_place)
    fd = open (path, O_WRONLY | O_CLOEXEC);
  else
    {
      tmp = xasprintf ("%s.tmpXXXXXX", path);
      fd = mkostemp (tmp, O_CLOEXEC);
    }
  if (fd < 0)
    return gsi_error_set (err, errno, in_place ? "open `%s`" : "create `%s`", in_place ? path : tmp);
  for (size_t done = 0; done < b->len;)
    {
      ssize_t n = write (fd, b->buf + done, b->len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          if (tmp)
            unlink (tmp);
          return gsi_error_set (err, e, "write `%s`", path);
        }
      done += (size_t) n;
    }
  if (in_place)
    return close (fd) < 0 ? gsi_error_set (err, errno, "write `%s`", path) : 0;
  if (fchmod (fd, 0644) < 0 || close (fd) < 0 || rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return gsi_error_set (err, e, "write `%s`", path);
    }
  return 0;
}

int
cli_scan_image (const char *dbpath, const char *ref, const gsi_scan_filter *flt, cli_scan *out, gsi_error *err)
{
  cleanup_free char *root = NULL;
  cleanup_store gsi_store *store = NULL;
  gsi_vulndb *db = NULL;
  int r = -1;

  memset (out, 0, sizeof *out);
  out->desc = (gsi_descriptor) GSI_DESCRIPTOR_INIT;
  if (cli_vulndb_open_existing (dbpath, &db, err) < 0)
    return -1;
  root = gsi_store_default_root (err);
  if (root && gsi_store_open (root, &store, err) == 0 && gsi_store_resolve (store, ref, &out->desc, err) == 0
      && gsi_inventory_read (store, ref, &out->inv, err) == 0 && gsi_vulndb_match (db, &out->inv, &out->found, err) == 0)
    {
      for (size_t i = 0; i < out->found.warnings.n; i++)
        fprintf (stderr, "gsi: warning: %s\n", out->found.warnings.v[i]);
      gsi_report_select (&out->found, &out->inv, flt, &out->sel);
      r = 0;
    }
  gsi_vulndb_close (db);
  return r;
}

void
cli_scan_clear (cli_scan *s)
{
  gsi_report_sel_clear (&s->sel);
  gsi_findings_clear (&s->found);
  gsi_inventory_clear (&s->inv);
  gsi_descriptor_clear (&s->desc);
}

int
cmd_scan (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "severity", required_argument, NULL, 'S' },  { "ignore-unfixed", no_argument, NULL, 'U' },
    { "ignorefile", required_argument, NULL, 'I' }, { "format", required_argument, NULL, 'F' },
    { "output", required_argument, NULL, 'o' },     { "exit-code", required_argument, NULL, 'E' },
    { "db", required_argument, NULL, 'D' },         { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  gsi_scan_filter flt = { 0 };
  gsi_ignore ignore = { 0 };
  gsi_report_format fmt = GSI_REPORT_TABLE;
  const char *dbpath = NULL, *output = NULL, *ref;
  long exit_code = 0;
  char today[16];
  cli_scan sc;
  gsi_buf out = GSI_BUF_INIT;
  int c, ret = CLI_FAIL;

  if (cli_wants_help (argc, argv))
    {
      print_scan_help ();
      return 0;
    }
  cli_today_utc (today);
  flt.today = today;
  optind = 0;
  while ((c = getopt_long (argc, argv, "o:", opts, NULL)) != -1)
    switch (c)
      {
      case 'S':
        if (gsi_severity_set_parse (optarg, &flt.severities, err) < 0)
          {
            gsi_ignore_clear (&ignore);
            return gsi_error_wrap (err, "%s: --severity", argv[0]), CLI_USAGE;
          }
        break;
      case 'U':
        flt.ignore_unfixed = true;
        break;
      case 'I':
        if (gsi_ignore_load (optarg, &ignore, err) < 0)
          {
            gsi_ignore_clear (&ignore);
            return CLI_FAIL;
          }
        break;
      case 'F':
        if (strcmp (optarg, "table") == 0)
          fmt = GSI_REPORT_TABLE;
        else if (strcmp (optarg, "json") == 0)
          fmt = GSI_REPORT_JSON;
        else if (strcmp (optarg, "sarif") == 0)
          fmt = GSI_REPORT_SARIF;
        else
          {
            gsi_ignore_clear (&ignore);
            return cli_usage (err, argv[0], "--format must be table, json or sarif, got `%s`", optarg);
          }
        break;
      case 'o':
        output = optarg;
        break;
      case 'E':
        {
          char *end;
          errno = 0;
          exit_code = strtol (optarg, &end, 10);
          if (errno || *end || end == optarg || exit_code < 0 || exit_code > 255)
            {
              gsi_ignore_clear (&ignore);
              return cli_usage (err, argv[0], "--exit-code wants 0 to 255, got `%s`", optarg);
            }
          break;
        }
      case 'D':
        dbpath = optarg;
        break;
      default:
        gsi_ignore_clear (&ignore);
        return cli_usage (err, argv[0], "unknown option");
      }
  if (argc - optind != 1)
    {
      gsi_ignore_clear (&ignore);
      return cli_usage (err, argv[0], "expects one image REF");
    }
  ref = argv[optind];
  flt.ignore = &ignore;

  if (cli_scan_image (dbpath, ref, &flt, &sc, err) == 0)
    {
      gsi_report_meta meta = { ref, sc.desc.digest, GSI_VERSION };
      gsi_report_write (&out, fmt, &meta, &sc.inv, &sc.found, &sc.sel);
      if (cli_write_output (output, &out, err) == 0)
        ret = sc.sel.nshown > 0 ? (int) exit_code : 0;
    }
  cli_scan_clear (&sc);
  gsi_buf_release (&out);
  gsi_ignore_clear (&ignore);
  return ret;
}
