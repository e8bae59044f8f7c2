/* The vulnerability database: schema, open, import dispatch and status.  The matcher is match.c,
 * the parsers osv.c and debtracker.c.
 *
 * Schema (user_version 1):
 *   sources  (name, imported)            one row per source ("osv:PyPI", "osv:Debian", "debian-tracker")
 *   records  (rid, source, id, modified, published, withdrawn, summary, severity, cvss, aliases)
 *   affected (rid, ecosystem, name, release, data)   indexed by (ecosystem, name): a package's
 *            lookup is one index probe, which keeps a whole-image match far under a second.
 * affected.data is the JSON the matcher evaluates (see vulndb-internal.h and debtracker.c).  */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/vulndb-internal.h"

#define SCHEMA_VERSION 1
/* Far above the Debian tracker export (~50 MB), the largest document imported.  */
#define MAX_IMPORT_FILE ((size_t) 512 << 20)

static const char schema_sql[]
    = "CREATE TABLE IF NOT EXISTS sources (name TEXT PRIMARY KEY, imported TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS records ("
      " rid INTEGER PRIMARY KEY, source TEXT NOT NULL, id TEXT NOT NULL, modified TEXT, published TEXT,"
      " withdrawn INTEGER NOT NULL DEFAULT 0, summary TEXT, severity INTEGER NOT NULL DEFAULT 0,"
      " cvss REAL NOT NULL DEFAULT 0, aliases TEXT NOT NULL DEFAULT '[]', UNIQUE (source, id));"
      "CREATE INDEX IF NOT EXISTS records_id ON records (id);"
      "CREATE TABLE IF NOT EXISTS affected ("
      " rid INTEGER NOT NULL REFERENCES records (rid) ON DELETE CASCADE, ecosystem TEXT NOT NULL,"
      " name TEXT NOT NULL, release TEXT NOT NULL DEFAULT '', data TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS affected_key ON affected (ecosystem, name);"
      "CREATE INDEX IF NOT EXISTS affected_rid ON affected (rid);";

/* ---- severity --------------------------------------------------------------------------------- */

static const char *const severity_names[] = { "UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL" };

const char *
gsi_severity_name (gsi_severity s)
{
  if ((unsigned) s < sizeof severity_names / sizeof severity_names[0])
    return severity_names[s];
  return "UNKNOWN";
}

int
gsi_severity_parse (const char *s)
{
  if (s == NULL)
    return -1;
  for (size_t i = 0; i < sizeof severity_names / sizeof severity_names[0]; i++)
    if (strcasecmp (s, severity_names[i]) == 0)
      return (int) i;
  /* GitHub's advisories say MODERATE.  */
  if (strcasecmp (s, "MODERATE") == 0)
    return GSI_SEV_MEDIUM;
  return -1;
}

/* ---- SQLite helpers --------------------------------------------------------------------------- */

int
gsi_vulndb_sql_error (gsi_vulndb *db, const char *what, gsi_error *err)
{
  return gsi_error_set (err, 0, "%s: %s: %s", db->path, what, sqlite3_errmsg (db->db));
}

int
gsi_vulndb_exec (gsi_vulndb *db, const char *sql, gsi_error *err)
{
  char *msg = NULL;

  if (sqlite3_exec (db->db, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      gsi_error_set (err, 0, "%s: %s", db->path, msg ? msg : sqlite3_errmsg (db->db));
      sqlite3_free (msg);
      return -1;
    }
  return 0;
}

static int
prepare (gsi_vulndb *db, const char *sql, sqlite3_stmt **st, gsi_error *err)
{
  if (sqlite3_prepare_v2 (db->db, sql, -1, st, NULL) != SQLITE_OK)
    return gsi_vulndb_sql_error (db, "prepare", err);
  return 0;
}

static void
bind_text (sqlite3_stmt *st, int i, const char *s)
{
  if (s)
    sqlite3_bind_text (st, i, s, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (st, i);
}

/* ---- open ------------------------------------------------------------------------------------- */

int
gsi_vulndb_open_path (const char *path, gsi_vulndb **out, gsi_error *err)
{
  gsi_vulndb *db = xcalloc (1, sizeof *db);
  sqlite3_stmt *st = NULL;
  int version = 0;

  db->path = xstrdup (path);
  if (sqlite3_open_v2 (path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)
      != SQLITE_OK)
    {
      gsi_error_set (err, 0, "open `%s`: %s", path, db->db ? sqlite3_errmsg (db->db) : "out of memory");
      gsi_vulndb_close (db);
      return -1;
    }
  /* Another gsi may be importing: wait for its transaction instead of failing at once.  */
  sqlite3_busy_timeout (db->db, 30000);
  if (gsi_vulndb_exec (db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", err) < 0
      || prepare (db, "PRAGMA user_version", &st, err) < 0)
    goto fail;
  if (sqlite3_step (st) == SQLITE_ROW)
    version = sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  if (version > SCHEMA_VERSION)
    {
      gsi_error_set (err, 0, "%s: database schema %d is newer than this gsi knows (%d)", path, version,
                     SCHEMA_VERSION);
      goto fail;
    }
  if (version < SCHEMA_VERSION
      && (gsi_vulndb_exec (db, "BEGIN IMMEDIATE", err) < 0 || gsi_vulndb_exec (db, schema_sql, err) < 0
          || gsi_vulndb_exec (db, "PRAGMA user_version = 1; COMMIT", err) < 0))
    goto fail;
  *out = db;
  return 0;

fail:
  gsi_error_wrap (err, "vulnerability database");
  gsi_vulndb_close (db);
  return -1;
}

int
gsi_vulndb_open (gsi_store *s, gsi_vulndb **out, gsi_error *err)
{
  cleanup_free char *path = xasprintf ("%s/" GSI_STORE_PRIVATE_DIR "/vuln.db", gsi_store_root (s));

  return gsi_vulndb_open_path (path, out, err);
}

void
gsi_vulndb_close (gsi_vulndb *db)
{
  if (db == NULL)
    return;
  sqlite3_close (db->db);
  free (db->path);
  free (db);
}

/* ---- storing OSV records ---------------------------------------------------------------------- */

/* Seconds and nanoseconds of an RFC 3339 time; -1 when it is not one.  */
static int
parse_time (const char *s, long long *sec, long *nsec)
{
  struct tm tm = { 0 };
  const char *p = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm);
  long frac = 0, scale = 100000000;
  int hh, mm;

  if (p == NULL)
    return -1;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
      frac += scale ? (*p - '0') * scale : 0;
  *sec = (long long) timegm (&tm);
  *nsec = frac;
  if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
    return 0;
  if ((*p != '+' && *p != '-') || sscanf (p + 1, "%2d:%2d", &hh, &mm) != 2)
    return -1;
  *sec += (*p == '-' ? 1 : -1) * (hh * 3600LL + mm * 60LL);
  return 0;
}

/* Orders two "modified" times; text order when either is not RFC 3339.  */
static int
compare_times (const char *a, const char *b)
{
  long long sa, sb;
  long na, nb;

  if (parse_time (a, &sa, &na) < 0 || parse_time (b, &sb, &nb) < 0)
    return strcmp (a, b);
  if (sa != sb)
    return sa < sb ? -1 : 1;
  return na < nb ? -1 : na > nb ? 1 : 0;
}

static char *
aliases_json (const gsi_strvec *aliases)
{
  json_t *a = json_array ();
  char *s;

  for (size_t i = 0; i < aliases->n; i++)
    json_array_append_new (a, json_string (aliases->v[i]));
  s = json_dumps (a, JSON_COMPACT);
  json_decref (a);
  return s;
}

static int
insert_affected (gsi_vulndb *db, sqlite3_int64 rid, const gsi_osv_affected *a, gsi_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  cleanup_free char *data = json_dumps (a->data, JSON_COMPACT);

  if (prepare (db, "INSERT INTO affected (rid, ecosystem, name, release, data) VALUES (?, ?, ?, ?, ?)", &st, err) < 0)
    return -1;
  sqlite3_bind_int64 (st, 1, rid);
  bind_text (st, 2, gsi_ecosystem_name (a->ecosystem));
  bind_text (st, 3, a->name);
  bind_text (st, 4, a->release ? a->release : "");
  bind_text (st, 5, data);
  if (sqlite3_step (st) != SQLITE_DONE)
    return gsi_vulndb_sql_error (db, "insert affected", err);
  return 0;
}

/* Deletes the stored copy of id when rec is newer; *newer false when the stored one is as new.  */
static int
drop_older (gsi_vulndb *db, const gsi_osv_record *rec, bool *newer, gsi_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  sqlite3_int64 rid = -1;
  const char *modified;
  int rc;

  *newer = true;
  if (prepare (db, "SELECT rid, modified FROM records WHERE id = ? AND source LIKE 'osv:%'", &st, err) < 0)
    return -1;
  bind_text (st, 1, rec->id);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      rid = sqlite3_column_int64 (st, 0);
      modified = (const char *) sqlite3_column_text (st, 1);
      if (modified && compare_times (modified, rec->modified) >= 0)
        {
          *newer = false;
          return 0;
        }
    }
  if (rc != SQLITE_DONE)
    return gsi_vulndb_sql_error (db, "look up record", err);
  if (rid < 0)
    return 0;
  sqlite3_finalize (st);
  st = NULL;
  if (prepare (db, "DELETE FROM records WHERE id = ? AND source LIKE 'osv:%'", &st, err) < 0)
    return -1;
  bind_text (st, 1, rec->id);
  if (sqlite3_step (st) != SQLITE_DONE)
    return gsi_vulndb_sql_error (db, "delete record", err);
  return 0;
}

int
gsi_vulndb_put_osv (gsi_vulndb *db, const gsi_osv_record *rec, bool *stored, gsi_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  cleanup_free char *aliases = aliases_json (&rec->aliases);
  sqlite3_int64 rid;

  *stored = false;
  if (drop_older (db, rec, stored, err) < 0)
    return -1;
  if (!*stored)
    return 0;
  if (prepare (db,
               "INSERT INTO records (source, id, modified, published, withdrawn, summary, severity, cvss, aliases)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               &st, err)
      < 0)
    return -1;
  bind_text (st, 1, rec->source);
  bind_text (st, 2, rec->id);
  bind_text (st, 3, rec->modified);
  bind_text (st, 4, rec->published);
  sqlite3_bind_int (st, 5, rec->withdrawn);
  bind_text (st, 6, rec->summary);
  sqlite3_bind_int (st, 7, (int) rec->severity);
  sqlite3_bind_double (st, 8, rec->cvss);
  bind_text (st, 9, aliases);
  if (sqlite3_step (st) != SQLITE_DONE)
    return gsi_vulndb_sql_error (db, "insert record", err);
  rid = sqlite3_last_insert_rowid (db->db);
  /* A withdrawn record is kept (status counts it, a later import sees its "modified") but gets
   * no affected rows, so the matcher never sees it.  */
  if (!rec->withdrawn)
    for (size_t i = 0; i < rec->naffected; i++)
      if (insert_affected (db, rid, &rec->affected[i], err) < 0)
        return -1;
  return 0;
}

/* ---- import ----------------------------------------------------------------------------------- */

typedef struct import_ctx
{
  gsi_vulndb *db;
  gsi_import_stats *st;
  gsi_strvec sources; /* sources this call touched: their import time is set at the end */
} import_ctx;

static void
touch_source (import_ctx *c, const char *name)
{
  for (size_t i = 0; i < c->sources.n; i++)
    if (strcmp (c->sources.v[i], name) == 0)
      return;
  gsi_strvec_push (&c->sources, name);
}

static bool
has_suffix (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);

  return n >= m && strcasecmp (s + n - m, suffix) == 0;
}

static bool
is_record_name (const char *name)
{
  return has_suffix (name, ".json") || has_suffix (name, ".yaml") || has_suffix (name, ".yml");
}

static int
import_osv (import_ctx *c, const char *name, gsi_osv_record *rec, gsi_error *err)
{
  bool stored;

  if (rec->naffected == 0 && rec->skipped > 0)
    {
      c->st->skipped_ecosystem++;
      return 0;
    }
  if (rec->source == NULL)
    rec->source = xstrdup ("osv:PyPI"); /* a record with no affected[] at all (withdrawn ones) */
  if (gsi_vulndb_put_osv (c->db, rec, &stored, err) < 0)
    return gsi_error_wrap (err, "%s", name);
  c->st->records++;
  if (rec->withdrawn)
    c->st->withdrawn++;
  if (!stored)
    c->st->unchanged++;
  touch_source (c, rec->source);
  return 0;
}

/* One document: YAML by name, else JSON (OSV or the tracker export, told apart by content).  */
static int
import_document (import_ctx *c, const char *name, const char *data, size_t len, gsi_error *err)
{
  gsi_osv_record rec;
  int r;

  c->st->files++;
  if (has_suffix (name, ".yaml") || has_suffix (name, ".yml"))
    {
      if (gsi_osv_parse (name, data, len, true, &rec, err) < 0)
        return -1;
    }
  else
    {
      json_error_t je;
      json_t *doc = json_loadb (data, len, 0, &je);

      if (doc == NULL)
        return gsi_error_set (err, 0, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
      if (gsi_debtracker_detect (doc))
        {
          r = gsi_debtracker_import (c->db, name, doc, c->st, err);
          json_decref (doc);
          if (r == 0)
            touch_source (c, "debian-tracker");
          return r;
        }
      r = gsi_osv_from_json (name, doc, &rec, err);
      json_decref (doc);
      if (r < 0)
        return -1;
    }
  r = import_osv (c, name, &rec, err);
  gsi_osv_record_clear (&rec);
  return r;
}

int
gsi_vuln_read_file (const char *path, size_t max, char **data, size_t *len, gsi_error *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  cleanup_buf gsi_buf b = GSI_BUF_INIT;
  struct stat sb;

  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s`", path);
  if (fstat (fd, &sb) < 0)
    return gsi_error_set (err, errno, "stat `%s`", path);
  if (!S_ISREG (sb.st_mode))
    return gsi_error_set (err, 0, "%s: not a file", path);
  if ((size_t) sb.st_size > max)
    return gsi_error_set (err, EFBIG, "%s", path);
  gsi_buf_grow (&b, (size_t) sb.st_size + 1);
  for (;;)
    {
      ssize_t n;
      gsi_buf_grow (&b, 65536);
      n = read (fd, b.buf + b.len, b.alloc - b.len - 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return gsi_error_set (err, errno, "read `%s`", path);
      if (n == 0)
        break;
      gsi_buf_setlen (&b, b.len + (size_t) n);
      if (b.len > max)
        return gsi_error_set (err, EFBIG, "%s", path);
    }
  *data = gsi_buf_detach (&b, len);
  return 0;
}

static int
import_zip (import_ctx *c, const char *path, gsi_error *err)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  cleanup_buf gsi_buf data = GSI_BUF_INIT;
  int r = 0, rc;

  archive_read_support_format_zip (a);
  if (archive_read_open_filename (a, path, 65536) != ARCHIVE_OK)
    {
      gsi_error_set (err, 0, "%s: %s", path, archive_error_string (a));
      archive_read_free (a);
      return -1;
    }
  while (r == 0 && (rc = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      const char *name = archive_entry_pathname (e);
      cleanup_free char *label = NULL;

      if (archive_entry_filetype (e) != AE_IFREG || name == NULL || !is_record_name (name))
        continue;
      label = xasprintf ("%s/%s", path, name);
      if (archive_entry_size (e) > (la_int64_t) MAX_IMPORT_FILE)
        {
          r = gsi_error_set (err, EFBIG, "%s", label);
          break;
        }
      gsi_buf_reset (&data);
      for (;;)
        {
          la_ssize_t n;
          gsi_buf_grow (&data, 65536);
          n = archive_read_data (a, data.buf + data.len, data.alloc - data.len - 1);
          if (n < 0)
            {
              r = gsi_error_set (err, 0, "%s: %s", label, archive_error_string (a));
              break;
            }
          if (n == 0)
            break;
          gsi_buf_setlen (&data, data.len + (size_t) n);
          if (data.len > MAX_IMPORT_FILE)
            {
              r = gsi_error_set (err, EFBIG, "%s", label);
              break;
            }
        }
      if (r == 0)
        r = import_document (c, label, data.buf, data.len, err);
    }
  if (r == 0 && rc != ARCHIVE_EOF)
    r = gsi_error_set (err, 0, "%s: %s", path, archive_error_string (a));
  archive_read_free (a);
  return r;
}

static int import_path (import_ctx *c, const char *path, bool explicit, gsi_error *err);

static int
name_cmp (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* A folder, recursively, in name order (so the first error is the same on every run); hidden
 * entries (.git) are left out.  */
static int
import_dir (import_ctx *c, const char *path, gsi_error *err)
{
  cleanup_dir DIR *d = opendir (path);
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
  struct dirent *de;

  if (d == NULL)
    return gsi_error_set (err, errno, "open `%s`", path);
  while ((errno = 0, de = readdir (d)) != NULL)
    if (de->d_name[0] != '.')
      gsi_strvec_push (&names, de->d_name);
  if (errno != 0)
    return gsi_error_set (err, errno, "read `%s`", path);
  if (names.n)
    qsort (names.v, names.n, sizeof *names.v, name_cmp);
  for (size_t i = 0; i < names.n; i++)
    {
      cleanup_free char *sub = xasprintf ("%s/%s", path, names.v[i]);
      if (import_path (c, sub, false, err) < 0)
        return -1;
    }
  return 0;
}

static int
import_path (import_ctx *c, const char *path, bool explicit, gsi_error *err)
{
  struct stat sb;
  cleanup_free char *data = NULL;
  size_t len;

  if (stat (path, &sb) < 0)
    return gsi_error_set (err, errno, "stat `%s`", path);
  if (S_ISDIR (sb.st_mode))
    return import_dir (c, path, err);
  if (!S_ISREG (sb.st_mode))
    return explicit ? gsi_error_set (err, 0, "%s: not a file or folder", path) : 0;
  if (has_suffix (path, ".zip"))
    return import_zip (c, path, err);
  if (!explicit && !is_record_name (path))
    return 0;
  if (gsi_vuln_read_file (path, MAX_IMPORT_FILE, &data, &len, err) < 0)
    return -1;
  return import_document (c, path, data, len, err);
}

static void
now_rfc3339 (char out[32])
{
  time_t t = time (NULL);
  struct tm tm;

  gmtime_r (&t, &tm);
  strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
stamp_sources (import_ctx *c, gsi_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  char now[32];

  now_rfc3339 (now);
  if (prepare (c->db, "INSERT OR REPLACE INTO sources (name, imported) VALUES (?, ?)", &st, err) < 0)
    return -1;
  for (size_t i = 0; i < c->sources.n; i++)
    {
      sqlite3_reset (st);
      bind_text (st, 1, c->sources.v[i]);
      bind_text (st, 2, now);
      if (sqlite3_step (st) != SQLITE_DONE)
        return gsi_vulndb_sql_error (c->db, "update sources", err);
    }
  return 0;
}

int
gsi_vulndb_import_paths (gsi_vulndb *db, const char *const *paths, size_t n, gsi_import_stats *st, gsi_error *err)
{
  import_ctx c = { db, st, GSI_STRVEC_INIT };
  int r = 0;

  memset (st, 0, sizeof *st);
  if (gsi_vulndb_exec (db, "BEGIN IMMEDIATE", err) < 0)
    return -1;
  for (size_t i = 0; i < n && r == 0; i++)
    r = import_path (&c, paths[i], true, err);
  if (r == 0)
    r = stamp_sources (&c, err);
  if (r == 0)
    r = gsi_vulndb_exec (db, "COMMIT", err);
  if (r < 0)
    sqlite3_exec (db->db, "ROLLBACK", NULL, NULL, NULL);
  gsi_strvec_clear (&c.sources);
  return r;
}

int
gsi_vulndb_import (gsi_vulndb *db, const char *path, gsi_import_stats *st, gsi_error *err)
{
  return gsi_vulndb_import_paths (db, &path, 1, st, err);
}

/* ---- status ----------------------------------------------------------------------------------- */

static int
source_counts (gsi_vulndb *db, gsi_vulndb_source *src, gsi_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  int rc;

  if (prepare (db, "SELECT modified FROM records WHERE source = ?", &st, err) < 0)
    return -1;
  bind_text (st, 1, src->name);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      const char *m = (const char *) sqlite3_column_text (st, 0);
      src->records++;
      if (m && (src->newest == NULL || compare_times (m, src->newest) > 0))
        {
          free (src->newest);
          src->newest = xstrdup (m);
        }
    }
  if (rc != SQLITE_DONE)
    return gsi_vulndb_sql_error (db, "count records", err);
  return 0;
}

int
gsi_vulndb_status (gsi_vulndb *db, gsi_vulndb_source **out, size_t *n, gsi_error *err)
{
  cleanup_stmt sqlite3_stmt *st = NULL;
  gsi_vulndb_source *v = NULL;
  size_t count = 0, alloc = 0;
  int rc;

  *out = NULL;
  *n = 0;
  if (prepare (db, "SELECT name, imported FROM sources ORDER BY name", &st, err) < 0)
    return -1;
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      GSI_ALLOC_GROW (v, count + 1, alloc);
      memset (&v[count], 0, sizeof v[count]);
      v[count].name = xstrdup ((const char *) sqlite3_column_text (st, 0));
      v[count].imported = xstrdup ((const char *) sqlite3_column_text (st, 1));
      count++;
    }
  if (rc != SQLITE_DONE)
    {
      gsi_vulndb_sources_free (v, count);
      return gsi_vulndb_sql_error (db, "read sources", err);
    }
  for (size_t i = 0; i < count; i++)
    if (source_counts (db, &v[i], err) < 0)
      {
        gsi_vulndb_sources_free (v, count);
        return -1;
      }
  *out = v;
  *n = count;
  return 0;
}

void
gsi_vulndb_sources_free (gsi_vulndb_source *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].name);
      free (v[i].imported);
      free (v[i].newest);
    }
  free (v);
}
