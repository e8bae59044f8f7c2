/* The Debian security tracker's JSON export (https://security-tracker.debian.org/tracker/data/json):
 *   {"SRCPKG": {"CVE-...": {"description", "releases": {"CODENAME": {"status", "fixed_version",
 *                                                                   "urgency", ...}}}}}
 * Each (source package, id) becomes an affected row per release whose status is "resolved" or
 * "open"; "undetermined" says nothing a matcher can use and is left out.  The export is always
 * the whole tracker, so an import replaces the previous one.  The row's data is
 * {"status": "resolved"|"open", "fixed": VERSION|null, "urgency": TEXT|null}.  */
#include <string.h>

#include "util/xalloc.h"
#include "vuln/vulndb-internal.h"

#define SOURCE "debian-tracker"

bool
gsi_debtracker_detect (json_t *doc)
{
  const char *pkg, *id;
  json_t *cves, *entry;

  if (!json_is_object (doc) || json_object_get (doc, "id") || json_object_get (doc, "affected"))
    return false;
  json_object_foreach (doc, pkg, cves)
    {
      if (!json_is_object (cves))
        return false;
      json_object_foreach (cves, id, entry)
        return json_is_object (entry) && json_object_get (entry, "releases") != NULL;
    }
  return false;
}

typedef struct tracker_ctx
{
  gsi_vulndb *db;
  const char *name;
  sqlite3_stmt *rec, *find, *aff;
  gsi_import_stats *st;
} tracker_ctx;

static int
record_rid (tracker_ctx *c, const char *id, const char *description, sqlite3_int64 *rid, gsi_error *err)
{
  char *summary = gsi_vuln_summary (NULL, description);

  sqlite3_reset (c->rec);
  sqlite3_bind_text (c->rec, 1, id, -1, SQLITE_TRANSIENT);
  if (summary)
    sqlite3_bind_text (c->rec, 2, summary, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (c->rec, 2);
  free (summary);
  if (sqlite3_step (c->rec) != SQLITE_DONE)
    return gsi_vulndb_sql_error (c->db, "insert record", err);
  sqlite3_reset (c->find);
  sqlite3_bind_text (c->find, 1, id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (c->find) != SQLITE_ROW)
    return gsi_vulndb_sql_error (c->db, "look up record", err);
  *rid = sqlite3_column_int64 (c->find, 0);
  return 0;
}

static int
string_member (tracker_ctx *c, json_t *obj, const char *key, const char *where, const char **out, gsi_error *err)
{
  json_t *v = json_object_get (obj, key);

  *out = NULL;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return gsi_error_set (err, 0, "%s: %s: \"%s\" is not a string", c->name, where, key);
  *out = json_string_value (v);
  return 0;
}

static int
import_release (tracker_ctx *c, sqlite3_int64 rid, const char *pkg, const char *codename, json_t *rel,
                const char *where, gsi_error *err)
{
  const char *status, *fixed, *urgency;
  json_t *data;
  char *text;
  int rc;

  if (!json_is_object (rel))
    return gsi_error_set (err, 0, "%s: %s: release `%s` is not a mapping", c->name, where, codename);
  if (string_member (c, rel, "status", where, &status, err) < 0
      || string_member (c, rel, "fixed_version", where, &fixed, err) < 0
      || string_member (c, rel, "urgency", where, &urgency, err) < 0)
    return -1;
  if (status == NULL)
    return gsi_error_set (err, 0, "%s: %s: release `%s` has no \"status\"", c->name, where, codename);
  if (strcmp (status, "resolved") != 0 && strcmp (status, "open") != 0)
    return 0;
  data = json_pack ("{s:s, s:s?, s:s?}", "status", status, "fixed", fixed, "urgency", urgency);
  text = json_dumps (data, JSON_COMPACT);
  json_decref (data);
  sqlite3_reset (c->aff);
  sqlite3_bind_int64 (c->aff, 1, rid);
  sqlite3_bind_text (c->aff, 2, pkg, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (c->aff, 3, codename, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (c->aff, 4, text, -1, free);
  rc = sqlite3_step (c->aff);
  if (rc != SQLITE_DONE)
    return gsi_vulndb_sql_error (c->db, "insert affected", err);
  return 0;
}

static int
import_entry (tracker_ctx *c, const char *pkg, const char *id, json_t *entry, gsi_error *err)
{
  cleanup_free char *where = xasprintf ("%s/%s", pkg, id);
  json_t *releases, *rel;
  const char *description, *codename;
  sqlite3_int64 rid = 0;

  if (!json_is_object (entry))
    return gsi_error_set (err, 0, "%s: %s is not a mapping", c->name, where);
  if (string_member (c, entry, "description", where, &description, err) < 0)
    return -1;
  releases = json_object_get (entry, "releases");
  if (!json_is_object (releases))
    return gsi_error_set (err, 0, "%s: %s: \"releases\" is not a mapping", c->name, where);
  if (record_rid (c, id, description, &rid, err) < 0)
    return -1;
  json_object_foreach (releases, codename, rel)
    if (import_release (c, rid, pkg, codename, rel, where, err) < 0)
      return -1;
  c->st->records++;
  return 0;
}

int
gsi_debtracker_import (gsi_vulndb *db, const char *name, json_t *doc, gsi_import_stats *st, gsi_error *err)
{
  tracker_ctx c = { db, name, NULL, NULL, NULL, st };
  const char *pkg, *id;
  json_t *cves, *entry;
  int r = -1;

  if (gsi_vulndb_exec (db, "DELETE FROM records WHERE source = '" SOURCE "'", err) < 0)
    return -1;
  if (sqlite3_prepare_v2 (db->db, "INSERT OR IGNORE INTO records (source, id, summary) VALUES ('" SOURCE "', ?, ?)",
                          -1, &c.rec, NULL)
          != SQLITE_OK
      || sqlite3_prepare_v2 (db->db, "SELECT rid FROM records WHERE source = '" SOURCE "' AND id = ?", -1, &c.find,
                             NULL)
             != SQLITE_OK
      || sqlite3_prepare_v2 (db->db, "INSERT INTO affected (rid, ecosystem, name, release, data) VALUES (?, 'deb', ?, ?, ?)",
                             -1, &c.aff, NULL)
             != SQLITE_OK)
    {
      gsi_vulndb_sql_error (db, "prepare", err);
      goto out;
    }
  json_object_foreach (doc, pkg, cves)
    {
      if (!json_is_object (cves))
        {
          gsi_error_set (err, 0, "%s: package `%s` is not a mapping", name, pkg);
          goto out;
        }
      json_object_foreach (cves, id, entry)
        if (import_entry (&c, pkg, id, entry, err) < 0)
          goto out;
    }
  r = 0;
out:
  sqlite3_finalize (c.rec);
  sqlite3_finalize (c.find);
  sqlite3_finalize (c.aff);
  return r;
}
