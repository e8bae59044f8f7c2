/* Typed instructions: the flag and argument rules of BuildKit's instructions package (parse.go,
 * bflag.go, commands_runmount.go, commands_runnetwork.go, commands_runsecurity.go), written anew.  */
#include "containerfile/instructions.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xalloc.h"

static const struct
{
  const char *keyword;
  const char *name;
  cf_kind kind;
} kinds[] = {
  { "from", "FROM", CF_CMD_FROM },
  { "arg", "ARG", CF_CMD_ARG },
  { "env", "ENV", CF_CMD_ENV },
  { "label", "LABEL", CF_CMD_LABEL },
  { "run", "RUN", CF_CMD_RUN },
  { "cmd", "CMD", CF_CMD_CMD },
  { "entrypoint", "ENTRYPOINT", CF_CMD_ENTRYPOINT },
  { "copy", "COPY", CF_CMD_COPY },
  { "add", "ADD", CF_CMD_ADD },
  { "workdir", "WORKDIR", CF_CMD_WORKDIR },
  { "user", "USER", CF_CMD_USER },
  { "expose", "EXPOSE", CF_CMD_EXPOSE },
  { "volume", "VOLUME", CF_CMD_VOLUME },
  { "shell", "SHELL", CF_CMD_SHELL },
  { "stopsignal", "STOPSIGNAL", CF_CMD_STOPSIGNAL },
  { "healthcheck", "HEALTHCHECK", CF_CMD_HEALTHCHECK },
  { "onbuild", "ONBUILD", CF_CMD_ONBUILD },
  { "maintainer", "MAINTAINER", CF_CMD_MAINTAINER },
};

const char *
cf_kind_name (cf_kind k)
{
  for (size_t i = 0; i < sizeof (kinds) / sizeof (kinds[0]); i++)
    if (kinds[i].kind == k)
      return kinds[i].name;
  return "?";
}

static int
kind_of (const char *keyword, cf_kind *k)
{
  for (size_t i = 0; i < sizeof (kinds) / sizeof (kinds[0]); i++)
    if (strcasecmp (kinds[i].keyword, keyword) == 0)
      {
        *k = kinds[i].kind;
        return 0;
      }
  return -1;
}

/* ---- locations ---------------------------------------------------------------------------- */

static int
token_col (const char *original, int col, bool one_line, const char *token)
{
  const char *kw, *p;

  if (token == NULL || *token == '\0' || original == NULL || !one_line || col <= 0)
    return col;
  kw = original + strspn (original, " \t");
  p = strstr (kw, token);
  if (p == NULL)
    p = strcasestr (kw, token); /* stage names are lowered */
  if (p == NULL)
    return col;
  return col + (int) (p - kw);
}

/* With continuation lines the parser joins the lines, so an offset in original no longer maps to
 * a column; heredoc bodies follow the first line and do not matter.  */
int
cf_instr_token_col (const cf_instr *in, const char *token)
{
  bool one_line = in->start_line == in->end_line || in->nheredocs > 0;
  return token_col (in->original, in->col, one_line, token);
}

int
cf_cmd_token_col (const cf_cmd *c, const char *token)
{
  bool one_line = c->line == c->end_line;
  if (!one_line && c->kind == CF_CMD_RUN)
    one_line = c->u.run.line.nfiles > 0;
  if (!one_line && (c->kind == CF_CMD_COPY || c->kind == CF_CMD_ADD))
    one_line = c->u.copy.ncontents > 0;
  return token_col (c->original, c->col, one_line, token);
}

static int __attribute__ ((format (printf, 5, 6)))
instr_error (gsi_error *err, const cf_file *f, const cf_instr *in, const char *token, const char *fmt, ...)
{
  cleanup_buf gsi_buf msg = GSI_BUF_INIT;
  va_list ap;

  va_start (ap, fmt);
  gsi_buf_vaddf (&msg, fmt, ap);
  va_end (ap);
  return gsi_error_at (err, f->path, in->start_line, cf_instr_token_col (in, token), "%s", msg.buf);
}

/* ---- flags (bflag.go) --------------------------------------------------------------------- */

typedef enum
{
  FL_BOOL,
  FL_STRING,
  FL_STRINGS,
} fl_type;

typedef struct flag_spec
{
  const char *name;
  fl_type type;
  bool used;
  const char *value; /* FL_STRING: after '='; FL_BOOL: "true" or "false" */
  const char *token; /* the flag as written, for locations */
  gsi_strvec values; /* FL_STRINGS */
} flag_spec;

/* Flags some instruction takes: a flag in this list but not in the instruction's own list is "not
 * allowed" rather than unknown.  */
static const char *const all_flags[] = {
  "from",     "chown",    "chmod",        "link",         "parents", "exclude",
  "checksum", "keep-git-dir", "unpack",   "platform",     "mount",   "network",
  "security", "interval", "timeout",      "start-period", "start-interval", "retries",
};

static bool
known_flag (const char *name, size_t len)
{
  for (size_t i = 0; i < sizeof (all_flags) / sizeof (all_flags[0]); i++)
    if (strlen (all_flags[i]) == len && memcmp (all_flags[i], name, len) == 0)
      return true;
  return false;
}

static flag_spec *
find_spec (flag_spec *specs, size_t n, const char *name, size_t len)
{
  for (size_t i = 0; i < n; i++)
    if (strlen (specs[i].name) == len && memcmp (specs[i].name, name, len) == 0)
      return &specs[i];
  return NULL;
}

static void
specs_clear (flag_spec *specs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    gsi_strvec_clear (&specs[i].values);
}

static int
set_flag_value (const cf_file *f, const cf_instr *in, const char *tok, flag_spec *s, const char *eq,
                gsi_error *err)
{
  switch (s->type)
    {
    case FL_BOOL:
      if (eq == NULL)
        s->value = "true";
      else if (eq[1] == '\0')
        return instr_error (err, f, in, tok, "flag `--%s` needs a value after `=`", s->name);
      else if (strcasecmp (eq + 1, "true") == 0)
        s->value = "true";
      else if (strcasecmp (eq + 1, "false") == 0)
        s->value = "false";
      else
        return instr_error (err, f, in, tok, "flag `--%s` expects true or false, not `%s`", s->name, eq + 1);
      break;
    case FL_STRING:
    case FL_STRINGS:
      if (eq == NULL)
        return instr_error (err, f, in, tok, "flag `--%s` needs a value (`--%s=...`)", s->name, s->name);
      if (s->type == FL_STRING)
        s->value = eq + 1;
      else
        gsi_strvec_push (&s->values, eq + 1);
      break;
    default:
      break;
    }
  return 0;
}

/* what names the instruction in messages ("COPY", "HEALTHCHECK NONE").  */
static int
parse_flags (const cf_file *f, const cf_instr *in, const char *what, flag_spec *specs, size_t n, gsi_error *err)
{
  for (size_t i = 0; i < in->flags.n; i++)
    {
      const char *tok = in->flags.v[i];
      const char *name, *eq;
      size_t len;
      flag_spec *s;

      if (strncmp (tok, "--", 2) != 0)
        return instr_error (err, f, in, tok, "flag `%s` must start with `--`", tok);
      if (tok[2] == '\0')
        break;
      name = tok + 2;
      eq = strchr (name, '=');
      len = eq ? (size_t) (eq - name) : strlen (name);
      s = find_spec (specs, n, name, len);
      if (s == NULL && known_flag (name, len))
        return instr_error (err, f, in, tok, "flag `--%.*s` is not allowed for %s", (int) len, name, what);
      if (s == NULL)
        return instr_error (err, f, in, tok, "unknown flag `--%.*s` for %s", (int) len, name, what);
      if (s->used && s->type != FL_STRINGS)
        return instr_error (err, f, in, tok, "flag `--%s` given more than once", s->name);
      s->used = true;
      s->token = tok;
      if (set_flag_value (f, in, tok, s, eq, err) < 0)
        return -1;
    }
  return 0;
}

static char *
flag_str (const flag_spec *s)
{
  return s->used ? xstrdup (s->value) : NULL;
}

static bool
flag_bool (const flag_spec *s)
{
  return s->used && strcmp (s->value, "true") == 0;
}

/* ---- small helpers ------------------------------------------------------------------------ */

static void
strvec_copy (gsi_strvec *dst, const gsi_strvec *src)
{
  for (size_t i = 0; i < src->n; i++)
    gsi_strvec_push (dst, src->v[i]);
}

static char *
xstrdup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

/* Heredoc bodies may hold NUL bytes: copy by length.  */
static char *
bytes_dup (const char *s, size_t len)
{
  char *d;

  if (s == NULL)
    return NULL;
  d = xmalloc (len + 1);
  memcpy (d, s, len);
  d[len] = '\0';
  return d;
}

static cf_heredoc *
heredocs_dup (const cf_heredoc *h, size_t n)
{
  cf_heredoc *out;

  if (n == 0)
    return NULL;
  out = xcalloc (n, sizeof (*out));
  for (size_t i = 0; i < n; i++)
    {
      out[i].name = xstrdup_or_null (h[i].name);
      out[i].content = bytes_dup (h[i].content, h[i].content_len);
      out[i].content_len = h[i].content ? h[i].content_len : 0;
      out[i].expand = h[i].expand;
      out[i].chomp = h[i].chomp;
    }
  return out;
}

static void
heredocs_free (cf_heredoc *h, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (h[i].name);
      free (h[i].content);
    }
  free (h);
}

static char *
join_args (const gsi_strvec *args, size_t from)
{
  gsi_buf b = GSI_BUF_INIT;

  for (size_t i = from; i < args->n; i++)
    {
      if (i > from)
        gsi_buf_addch (&b, ' ');
      gsi_buf_addstr (&b, args->v[i]);
    }
  return gsi_buf_detach (&b, NULL);
}

/* A word of the form [N]<<[-]WORD names a heredoc; returns its name (quotes dropped) or NULL.  */
static char *
heredoc_word_name (const char *word)
{
  const char *p = word + strspn (word, "0123456789");
  gsi_buf b = GSI_BUF_INIT;

  if (strncmp (p, "<<", 2) != 0)
    return NULL;
  p += 2;
  if (*p == '-')
    p++;
  if (*p == '\0' || strchr (p, '<') != NULL)
    return NULL;
  for (; *p; p++)
    if (*p != '"' && *p != '\'')
      gsi_buf_addch (&b, *p);
  if (b.len == 0)
    return NULL;
  return gsi_buf_detach (&b, NULL);
}

static const cf_heredoc *
find_heredoc (const cf_instr *in, const char *name)
{
  for (size_t i = 0; i < in->nheredocs; i++)
    if (in->heredocs[i].name && strcmp (in->heredocs[i].name, name) == 0)
      return &in->heredocs[i];
  return NULL;
}

static void
cmdline_from_instr (const cf_instr *in, const gsi_strvec *args, size_t from, bool json, cf_cmdline *out)
{
  if (json)
    {
      for (size_t i = from; i < args->n; i++)
        gsi_strvec_push (&out->args, args->v[i]);
    }
  else if (args->n > from)
    gsi_strvec_push_owned (&out->args, join_args (args, from));
  out->prepend_shell = !json;
  out->files = heredocs_dup (in->heredocs, in->nheredocs);
  out->nfiles = in->nheredocs;
}

/* ---- per-instruction parsers (parse.go) --------------------------------------------------- */

typedef struct conv
{
  const cf_file *f;
  const cf_instr *in;
  const char *name; /* "COPY" */
  cf_cmd *c;
} conv;

static int
no_flags (conv *cv, gsi_error *err)
{
  return parse_flags (cv->f, cv->in, cv->name, NULL, 0, err);
}

static int
exactly_one (conv *cv, gsi_error *err)
{
  if (cv->in->args.n != 1)
    return instr_error (err, cv->f, cv->in, NULL, "%s requires exactly one argument", cv->name);
  return 0;
}

static int
at_least_one (conv *cv, gsi_error *err)
{
  if (cv->in->args.n == 0)
    return instr_error (err, cv->f, cv->in, NULL, "%s requires at least one argument", cv->name);
  return 0;
}

static int
conv_from (conv *cv, gsi_error *err)
{
  const cf_instr *in = cv->in;
  flag_spec specs[] = { { .name = "platform", .type = FL_STRING } };
  cf_from_cmd *fr = &cv->c->u.from;
  int ret;

  if (!(in->args.n == 1 || (in->args.n == 3 && strcasecmp (in->args.v[1], "as") == 0)))
    return instr_error (err, cv->f, in, NULL, "FROM requires either one or three arguments (FROM IMAGE [AS NAME])");
  if (in->args.n == 3 && !cf_stage_name_valid (in->args.v[2]))
    return instr_error (err, cv->f, in, in->args.v[2],
                        "invalid stage name `%s`: it must start with a letter and hold only letters, "
                        "digits, `-`, `_` and `.`",
                        in->args.v[2]);
  ret = parse_flags (cv->f, in, cv->name, specs, 1, err);
  if (ret == 0)
    {
      fr->base = xstrdup (in->args.v[0]);
      if (in->args.n == 3)
        {
          fr->name = xstrdup (in->args.v[2]);
          for (char *p = fr->name; *p; p++)
            *p = (char) tolower ((unsigned char) *p);
        }
      fr->platform = flag_str (&specs[0]);
    }
  specs_clear (specs, 1);
  return ret;
}

static int
conv_arg (conv *cv, gsi_error *err)
{
  const cf_instr *in = cv->in;
  cf_kvs_cmd *kv = &cv->c->u.kvs;

  if (no_flags (cv, err) < 0 || at_least_one (cv, err) < 0)
    return -1;
  kv->kv = xcalloc (in->args.n, sizeof (*kv->kv));
  for (size_t i = 0; i < in->args.n; i++)
    {
      const char *a = in->args.v[i];
      const char *eq = strchr (a, '=');

      if (eq == a)
        return instr_error (err, cv->f, in, a, "ARG names can not be blank");
      kv->kv[kv->n].key = eq ? xstrndup (a, (size_t) (eq - a)) : xstrdup (a);
      kv->kv[kv->n].value = eq ? xstrdup (eq + 1) : NULL;
      kv->kv[kv->n].has_value = eq != NULL;
      kv->n++;
    }
  return 0;
}

static int
conv_kvs (conv *cv, gsi_error *err)
{
  const cf_instr *in = cv->in;
  cf_kvs_cmd *kv = &cv->c->u.kvs;

  if (no_flags (cv, err) < 0 || at_least_one (cv, err) < 0)
    return -1;
  if (in->args.n % 3 != 0)
    return instr_error (err, cv->f, in, NULL, "bad input to %s, too many arguments", cv->name);
  kv->kv = xcalloc (in->args.n / 3, sizeof (*kv->kv));
  for (size_t i = 0; i < in->args.n; i += 3)
    {
      if (in->args.v[i][0] == '\0')
        return instr_error (err, cv->f, in, NULL, "%s names can not be blank", cv->name);
      kv->kv[kv->n].key = xstrdup (in->args.v[i]);
      kv->kv[kv->n].value = xstrdup (in->args.v[i + 1]);
      kv->kv[kv->n].has_value = true;
      kv->kv[kv->n].no_delim = in->args.v[i + 2][0] == '\0';
      kv->n++;
    }
  return 0;
}

static int
check_network (conv *cv, const flag_spec *s, gsi_error *err)
{
  cf_run_cmd *r = &cv->c->u.run;

  if (!s->used || strcmp (s->value, "default") == 0)
    r->network = CF_NETWORK_DEFAULT;
  else if (strcmp (s->value, "none") == 0)
    r->network = CF_NETWORK_NONE;
  else if (strcmp (s->value, "host") == 0)
    r->network = CF_NETWORK_HOST;
  else
    return instr_error (err, cv->f, cv->in, s->token, "invalid network mode `%s` (default, none or host)", s->value);
  return 0;
}

static int
check_security (conv *cv, const flag_spec *s, gsi_error *err)
{
  cf_run_cmd *r = &cv->c->u.run;

  if (!s->used || strcmp (s->value, "sandbox") == 0)
    r->security = CF_SECURITY_SANDBOX;
  else if (strcmp (s->value, "insecure") == 0)
    r->security = CF_SECURITY_INSECURE;
  else
    return instr_error (err, cv->f, cv->in, s->token, "invalid security mode `%s` (sandbox or insecure)", s->value);
  return 0;
}

static int csv_fields (const char *s, gsi_strvec *out, gsi_error *err);

/* What BuildKit checks at parse time, before any expansion: the value splits as CSV, and from=
 * uses no variable (only a trailing `$` is allowed), since stages are resolved before the walk.  */
static int
check_mount_spec (conv *cv, const char *spec, gsi_error *err)
{
  cleanup_strvec gsi_strvec fields = GSI_STRVEC_INIT;
  cleanup_error gsi_error e = GSI_ERROR_INIT;
  cleanup_free char *flag = xasprintf ("--mount=%s", spec);

  if (csv_fields (spec, &fields, &e) < 0)
    return instr_error (err, cv->f, cv->in, flag, "--mount `%s`: %s", spec, e.msg);
  for (size_t i = 0; i < fields.n; i++)
    {
      const char *fl = fields.v[i];
      const char *dollar;

      if (strncasecmp (fl, "from=", 5) != 0)
        continue;
      dollar = strchr (fl + 5, '$');
      if (dollar != NULL && dollar[1] != '\0')
        return instr_error (err, cv->f, cv->in, flag,
                            "--mount `%s`: `from` does not support variable expansion, define an alias stage instead",
                            spec);
    }
  return 0;
}

static int
conv_run (conv *cv, gsi_error *err)
{
  const cf_instr *in = cv->in;
  cf_run_cmd *r = &cv->c->u.run;
  flag_spec specs[] = {
    { .name = "mount", .type = FL_STRINGS },
    { .name = "network", .type = FL_STRING },
    { .name = "security", .type = FL_STRING },
  };
  int ret = parse_flags (cv->f, in, cv->name, specs, 3, err);

  if (ret == 0)
    ret = check_network (cv, &specs[1], err);
  if (ret == 0)
    ret = check_security (cv, &specs[2], err);
  for (size_t i = 0; ret == 0 && i < specs[0].values.n; i++)
    ret = check_mount_spec (cv, specs[0].values.v[i], err);
  if (ret == 0)
    {
      strvec_copy (&r->mount_specs, &specs[0].values);
      cmdline_from_instr (in, &in->args, 0, in->json, &r->line);
    }
  specs_clear (specs, 3);
  return ret;
}

static int
conv_cmdline (conv *cv, gsi_error *err)
{
  if (no_flags (cv, err) < 0)
    return -1;
  cmdline_from_instr (cv->in, &cv->in->args, 0, cv->in->json, &cv->c->u.cmdline);
  /* Only RUN carries heredoc files; CMD and ENTRYPOINT never run them.  */
  heredocs_free (cv->c->u.cmdline.files, cv->c->u.cmdline.nfiles);
  cv->c->u.cmdline.files = NULL;
  cv->c->u.cmdline.nfiles = 0;
  return 0;
}

static int
split_sources (conv *cv, gsi_error *err)
{
  const cf_instr *in = cv->in;
  cf_copy_cmd *cp = &cv->c->u.copy;
  const char *dest = in->args.v[in->args.n - 1];
  cleanup_free char *dname = heredoc_word_name (dest);

  if (dname != NULL)
    return instr_error (err, cv->f, in, dest, "%s cannot accept a heredoc as a destination", cv->name);
  cp->dest = xstrdup (dest);
  for (size_t i = 0; i + 1 < in->args.n; i++)
    {
      cleanup_free char *hname = heredoc_word_name (in->args.v[i]);
      const cf_heredoc *h = hname ? find_heredoc (in, hname) : NULL;

      if (hname == NULL)
        {
          gsi_strvec_push (&cp->sources, in->args.v[i]);
          continue;
        }
      cp->contents = xrealloc (cp->contents, (cp->ncontents + 1) * sizeof (*cp->contents));
      cp->contents[cp->ncontents].name = xstrdup (hname);
      cp->contents[cp->ncontents].content = h && h->content ? bytes_dup (h->content, h->content_len) : xstrdup ("");
      cp->contents[cp->ncontents].content_len = h && h->content ? h->content_len : 0;
      cp->contents[cp->ncontents].expand = h ? h->expand : true;
      cp->contents[cp->ncontents].chomp = h ? h->chomp : false;
      cp->ncontents++;
    }
  return 0;
}

static int
conv_copy (conv *cv, gsi_error *err)
{
  bool add = cv->c->kind == CF_CMD_ADD;
  cf_copy_cmd *cp = &cv->c->u.copy;
  /* COPY and ADD share the first five; the rest belong to one of them.  */
  flag_spec specs[] = {
    { .name = "chown", .type = FL_STRING },   { .name = "chmod", .type = FL_STRING },
    { .name = "link", .type = FL_BOOL },      { .name = "exclude", .type = FL_STRINGS },
    { .name = "from", .type = FL_STRING },    { .name = "parents", .type = FL_BOOL },
    { .name = "checksum", .type = FL_STRING }, { .name = "keep-git-dir", .type = FL_BOOL },
    { .name = "unpack", .type = FL_BOOL },
  };
  flag_spec *mine = add ? specs + 6 : specs + 4;
  flag_spec all[7];
  int ret;

  if (cv->in->args.n < 2)
    return instr_error (err, cv->f, cv->in, NULL,
                        "%s requires at least two arguments, but only one was provided: no destination",
                        cv->name);
  memcpy (all, specs, 4 * sizeof (flag_spec));
  memcpy (all + 4, mine, (add ? 3 : 2) * sizeof (flag_spec));
  ret = parse_flags (cv->f, cv->in, cv->name, all, add ? 7 : 6, err);
  if (ret == 0)
    ret = split_sources (cv, err);
  if (ret == 0)
    {
      cp->chown = flag_str (&all[0]);
      cp->chmod = flag_str (&all[1]);
      cp->link = flag_bool (&all[2]);
      strvec_copy (&cp->excludes, &all[3].values);
      if (add)
        {
          cp->checksum = flag_str (&all[4]);
          cp->keep_git_dir = flag_bool (&all[5]);
          cp->unpack_set = all[6].used;
          cp->unpack = flag_bool (&all[6]);
        }
      else
        {
          cp->from = flag_str (&all[4]);
          cp->parents = flag_bool (&all[5]);
        }
    }
  specs_clear (all, add ? 7 : 6);
  return ret;
}

static int
conv_value (conv *cv, gsi_error *err)
{
  if (no_flags (cv, err) < 0 || exactly_one (cv, err) < 0)
    return -1;
  cv->c->u.value = xstrdup (cv->in->args.v[0]);
  return 0;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
conv_expose (conv *cv, gsi_error *err)
{
  if (no_flags (cv, err) < 0 || at_least_one (cv, err) < 0)
    return -1;
  strvec_copy (&cv->c->u.list, &cv->in->args);
  /* BuildKit sorts the words as written, before expansion.  */
  qsort (cv->c->u.list.v, cv->c->u.list.n, sizeof (char *), cmp_str);
  return 0;
}

static int
conv_volume (conv *cv, gsi_error *err)
{
  if (no_flags (cv, err) < 0 || at_least_one (cv, err) < 0)
    return -1;
  for (size_t i = 0; i < cv->in->args.n; i++)
    {
      const char *v = cv->in->args.v[i];
      size_t lead = strspn (v, " \t\r\n\v\f");
      size_t len = strlen (v + lead);

      while (len > 0 && strchr (" \t\r\n\v\f", v[lead + len - 1]))
        len--;
      if (len == 0)
        return instr_error (err, cv->f, cv->in, NULL, "VOLUME specified can not be an empty string");
      gsi_strvec_push_owned (&cv->c->u.list, xstrndup (v + lead, len));
    }
  return 0;
}

static int
conv_shell (conv *cv, gsi_error *err)
{
  if (no_flags (cv, err) < 0 || at_least_one (cv, err) < 0)
    return -1;
  if (!cv->in->json)
    return instr_error (err, cv->f, cv->in, NULL, "SHELL requires the arguments to be in JSON form");
  strvec_copy (&cv->c->u.list, &cv->in->args);
  return 0;
}

static int
conv_maintainer (conv *cv, gsi_error *err)
{
  if (exactly_one (cv, err) < 0 || no_flags (cv, err) < 0)
    return -1;
  cv->c->u.value = xstrdup (cv->in->args.v[0]);
  return 0;
}

static int
health_interval (conv *cv, const flag_spec *s, int64_t *out, gsi_error *err)
{
  cleanup_error gsi_error e = GSI_ERROR_INIT;
  const int64_t ms = 1000000;

  *out = 0;
  if (!s->used || s->value[0] == '\0')
    return 0;
  if (cf_parse_duration (s->value, out, &e) < 0)
    return instr_error (err, cv->f, cv->in, s->token, "flag `--%s`: %s", s->name, e.msg);
  if (*out != 0 && *out < ms)
    return instr_error (err, cv->f, cv->in, s->token, "flag `--%s` cannot be less than 1ms", s->name);
  return 0;
}

static int
health_retries (conv *cv, const flag_spec *s, gsi_error *err)
{
  char *end = NULL;
  long long v;

  cv->c->u.health.retries = 0;
  if (!s->used || s->value[0] == '\0')
    return 0;
  errno = 0;
  v = strtoll (s->value, &end, 10);
  if (errno != 0 || *end != '\0' || end == s->value || isspace ((unsigned char) s->value[0]) || v > INT32_MAX
      || v < INT32_MIN)
    return instr_error (err, cv->f, cv->in, s->token, "flag `--retries`: invalid number `%s`", s->value);
  if (v < 0)
    return instr_error (err, cv->f, cv->in, s->token, "flag `--retries` cannot be negative (%lld)", v);
  cv->c->u.health.retries = (int) v;
  return 0;
}

/* The parser may keep HEALTHCHECK's type as args[0] (BuildKit's node chain) or as a sub-node.  */
static void
health_parts (const cf_instr *in, const char **type, const gsi_strvec **args, size_t *from, bool *json)
{
  if (in->sub != NULL)
    {
      *type = in->sub->keyword;
      *args = &in->sub->args;
      *from = 0;
      *json = in->sub->json;
      return;
    }
  *type = in->args.n > 0 ? in->args.v[0] : "";
  *args = &in->args;
  *from = 1;
  *json = in->json;
}

static int
conv_health_cmd (conv *cv, const gsi_strvec *args, size_t from, bool json, gsi_error *err)
{
  cf_health_cmd *h = &cv->c->u.health;
  flag_spec specs[] = {
    { .name = "interval", .type = FL_STRING },       { .name = "timeout", .type = FL_STRING },
    { .name = "start-period", .type = FL_STRING },   { .name = "start-interval", .type = FL_STRING },
    { .name = "retries", .type = FL_STRING },
  };
  int ret = parse_flags (cv->f, cv->in, cv->name, specs, 5, err);

  if (ret == 0 && args->n <= from)
    ret = instr_error (err, cv->f, cv->in, NULL, "missing command after HEALTHCHECK CMD");
  if (ret == 0)
    ret = health_interval (cv, &specs[0], &h->interval, err);
  if (ret == 0)
    ret = health_interval (cv, &specs[1], &h->timeout, err);
  if (ret == 0)
    ret = health_interval (cv, &specs[2], &h->start_period, err);
  if (ret == 0)
    ret = health_interval (cv, &specs[3], &h->start_interval, err);
  if (ret == 0)
    ret = health_retries (cv, &specs[4], err);
  if (ret == 0)
    {
      gsi_strvec_push (&h->test, json ? "CMD" : "CMD-SHELL");
      if (json)
        for (size_t i = from; i < args->n; i++)
          gsi_strvec_push (&h->test, args->v[i]);
      else
        gsi_strvec_push_owned (&h->test, join_args (args, from));
    }
  specs_clear (specs, 5);
  return ret;
}

static int
conv_healthcheck (conv *cv, gsi_error *err)
{
  const char *type = NULL;
  const gsi_strvec *args = NULL;
  size_t from = 0;
  bool json = false;

  if (cv->in->args.n == 0 && cv->in->sub == NULL)
    return at_least_one (cv, err);
  health_parts (cv->in, &type, &args, &from, &json);
  if (strcasecmp (type, "none") == 0)
    {
      if (args->n > from)
        return instr_error (err, cv->f, cv->in, NULL, "HEALTHCHECK NONE takes no arguments");
      if (parse_flags (cv->f, cv->in, "HEALTHCHECK NONE", NULL, 0, err) < 0)
        return -1;
      cv->c->u.health.none = true;
      gsi_strvec_push (&cv->c->u.health.test, "NONE");
      return 0;
    }
  if (strcasecmp (type, "cmd") != 0)
    return instr_error (err, cv->f, cv->in, type, "unknown type `%s` in HEALTHCHECK (try CMD)", type);
  return conv_health_cmd (cv, args, from, json, err);
}

static int convert (const cf_file *f, const cf_instr *in, cf_cmd **out, gsi_error *err);

/* BuildKit's OnbuildCommand.Expression: the text after ONBUILD, with heredoc bodies appended.  */
static char *
onbuild_expression (const cf_instr *in)
{
  const cf_instr *h = in->nheredocs > 0 || in->sub == NULL ? in : in->sub;
  const char *p = in->original ? in->original : "";
  gsi_buf b = GSI_BUF_INIT;

  p += strspn (p, " \t\r\n");
  if (strncasecmp (p, "onbuild", 7) == 0)
    p += 7;
  p += strspn (p, " \t\r\n");
  gsi_buf_addstr (&b, p);
  for (size_t i = 0; i < h->nheredocs; i++)
    gsi_buf_addf (&b, "\n%s%s", h->heredocs[i].content ? h->heredocs[i].content : "",
                  h->heredocs[i].name ? h->heredocs[i].name : "");
  return gsi_buf_detach (&b, NULL);
}

static int
conv_onbuild (conv *cv, gsi_error *err)
{
  const cf_instr *sub = cv->in->sub;
  cf_kind k;

  if (sub == NULL)
    return instr_error (err, cv->f, cv->in, NULL, "ONBUILD requires at least one argument");
  if (no_flags (cv, err) < 0)
    return -1;
  if (kind_of (sub->keyword, &k) == 0 && k == CF_CMD_ONBUILD)
    return instr_error (err, cv->f, cv->in, NULL, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (kind_of (sub->keyword, &k) == 0 && (k == CF_CMD_FROM || k == CF_CMD_MAINTAINER))
    return instr_error (err, cv->f, cv->in, NULL, "%s isn't allowed as an ONBUILD trigger", cf_kind_name (k));
  if (convert (cv->f, sub, &cv->c->u.onbuild.trigger, err) < 0)
    return -1;
  cv->c->u.onbuild.expression = onbuild_expression (cv->in);
  return 0;
}

static int
dispatch_conv (conv *cv, gsi_error *err)
{
  switch (cv->c->kind)
    {
    case CF_CMD_FROM:
      return conv_from (cv, err);
    case CF_CMD_ARG:
      return conv_arg (cv, err);
    case CF_CMD_ENV:
    case CF_CMD_LABEL:
      return conv_kvs (cv, err);
    case CF_CMD_RUN:
      return conv_run (cv, err);
    case CF_CMD_CMD:
    case CF_CMD_ENTRYPOINT:
      return conv_cmdline (cv, err);
    case CF_CMD_COPY:
    case CF_CMD_ADD:
      return conv_copy (cv, err);
    case CF_CMD_WORKDIR:
    case CF_CMD_USER:
    case CF_CMD_STOPSIGNAL:
      return conv_value (cv, err);
    case CF_CMD_EXPOSE:
      return conv_expose (cv, err);
    case CF_CMD_VOLUME:
      return conv_volume (cv, err);
    case CF_CMD_SHELL:
      return conv_shell (cv, err);
    case CF_CMD_HEALTHCHECK:
      return conv_healthcheck (cv, err);
    case CF_CMD_ONBUILD:
      return conv_onbuild (cv, err);
    case CF_CMD_MAINTAINER:
      return conv_maintainer (cv, err);
    default:
      return gsi_error_set (err, 0, "unhandled instruction kind %d", (int) cv->c->kind);
    }
}

static int
convert (const cf_file *f, const cf_instr *in, cf_cmd **out, gsi_error *err)
{
  cf_cmd *c;
  conv cv;
  cf_kind k;

  if (in->keyword == NULL || kind_of (in->keyword, &k) < 0)
    return instr_error (err, f, in, NULL, "unknown instruction `%s`", in->keyword ? in->keyword : "");
  c = xcalloc (1, sizeof (*c));
  c->kind = k;
  c->line = in->start_line;
  c->end_line = in->end_line;
  c->col = in->col;
  c->original = xstrdup (in->original ? in->original : "");
  strvec_copy (&c->flags, &in->flags);
  cv = (conv) { .f = f, .in = in, .name = cf_kind_name (k), .c = c };
  if (dispatch_conv (&cv, err) < 0)
    {
      cf_cmd_free (c);
      return -1;
    }
  *out = c;
  return 0;
}

int
cf_cmd_from_instr (const cf_file *f, const cf_instr *in, cf_cmd **out, gsi_error *err)
{
  *out = NULL;
  return convert (f, in, out, err);
}

/* ---- free and clone ----------------------------------------------------------------------- */

static void
kvs_free (cf_kvs_cmd *k)
{
  for (size_t i = 0; i < k->n; i++)
    {
      free (k->kv[i].key);
      free (k->kv[i].value);
    }
  free (k->kv);
}

static void
cmdline_free (cf_cmdline *l)
{
  gsi_strvec_clear (&l->args);
  heredocs_free (l->files, l->nfiles);
}

void
cf_mount_clear (cf_mount *m)
{
  free (m->from);
  free (m->source);
  free (m->target);
  free (m->id);
  free (m->env);
  memset (m, 0, sizeof (*m));
}

static void
copy_free (cf_copy_cmd *cp)
{
  gsi_strvec_clear (&cp->sources);
  heredocs_free (cp->contents, cp->ncontents);
  free (cp->dest);
  free (cp->from);
  free (cp->chown);
  free (cp->chmod);
  free (cp->checksum);
  gsi_strvec_clear (&cp->excludes);
}

static void
body_free (cf_cmd *c)
{
  switch (c->kind)
    {
    case CF_CMD_FROM:
      free (c->u.from.base);
      free (c->u.from.name);
      free (c->u.from.platform);
      break;
    case CF_CMD_ARG:
    case CF_CMD_ENV:
    case CF_CMD_LABEL:
      kvs_free (&c->u.kvs);
      break;
    case CF_CMD_RUN:
      cmdline_free (&c->u.run.line);
      gsi_strvec_clear (&c->u.run.mount_specs);
      for (size_t i = 0; i < c->u.run.nmounts; i++)
        cf_mount_clear (&c->u.run.mounts[i]);
      free (c->u.run.mounts);
      break;
    case CF_CMD_CMD:
    case CF_CMD_ENTRYPOINT:
      cmdline_free (&c->u.cmdline);
      break;
    case CF_CMD_COPY:
    case CF_CMD_ADD:
      copy_free (&c->u.copy);
      break;
    case CF_CMD_WORKDIR:
    case CF_CMD_USER:
    case CF_CMD_STOPSIGNAL:
    case CF_CMD_MAINTAINER:
      free (c->u.value);
      break;
    case CF_CMD_EXPOSE:
    case CF_CMD_VOLUME:
    case CF_CMD_SHELL:
      gsi_strvec_clear (&c->u.list);
      break;
    case CF_CMD_HEALTHCHECK:
      gsi_strvec_clear (&c->u.health.test);
      break;
    case CF_CMD_ONBUILD:
      free (c->u.onbuild.expression);
      cf_cmd_free (c->u.onbuild.trigger);
      break;
    default:
      break;
    }
}

void
cf_cmd_free (cf_cmd *c)
{
  if (c == NULL)
    return;
  body_free (c);
  free (c->original);
  gsi_strvec_clear (&c->flags);
  free (c);
}

static void
kvs_clone (cf_kvs_cmd *dst, const cf_kvs_cmd *src)
{
  dst->kv = src->n ? xcalloc (src->n, sizeof (*dst->kv)) : NULL;
  dst->n = src->n;
  for (size_t i = 0; i < src->n; i++)
    {
      dst->kv[i] = src->kv[i];
      dst->kv[i].key = xstrdup (src->kv[i].key);
      dst->kv[i].value = xstrdup_or_null (src->kv[i].value);
    }
}

static void
cmdline_clone (cf_cmdline *dst, const cf_cmdline *src)
{
  memset (dst, 0, sizeof (*dst));
  strvec_copy (&dst->args, &src->args);
  dst->prepend_shell = src->prepend_shell;
  dst->files = heredocs_dup (src->files, src->nfiles);
  dst->nfiles = src->nfiles;
}

static void
mount_clone (cf_mount *dst, const cf_mount *src)
{
  *dst = *src;
  dst->from = xstrdup_or_null (src->from);
  dst->source = xstrdup_or_null (src->source);
  dst->target = xstrdup_or_null (src->target);
  dst->id = xstrdup_or_null (src->id);
  dst->env = xstrdup_or_null (src->env);
}

static void
run_clone (cf_run_cmd *dst, const cf_run_cmd *src)
{
  cmdline_clone (&dst->line, &src->line);
  memset (&dst->mount_specs, 0, sizeof (dst->mount_specs));
  strvec_copy (&dst->mount_specs, &src->mount_specs);
  dst->mounts = src->nmounts ? xcalloc (src->nmounts, sizeof (*dst->mounts)) : NULL;
  for (size_t i = 0; i < src->nmounts; i++)
    mount_clone (&dst->mounts[i], &src->mounts[i]);
}

static void
copy_clone (cf_copy_cmd *dst, const cf_copy_cmd *src)
{
  memset (&dst->sources, 0, sizeof (dst->sources));
  memset (&dst->excludes, 0, sizeof (dst->excludes));
  strvec_copy (&dst->sources, &src->sources);
  strvec_copy (&dst->excludes, &src->excludes);
  dst->contents = heredocs_dup (src->contents, src->ncontents);
  dst->dest = xstrdup_or_null (src->dest);
  dst->from = xstrdup_or_null (src->from);
  dst->chown = xstrdup_or_null (src->chown);
  dst->chmod = xstrdup_or_null (src->chmod);
  dst->checksum = xstrdup_or_null (src->checksum);
}

static void
body_clone (cf_cmd *d, const cf_cmd *s)
{
  switch (s->kind)
    {
    case CF_CMD_FROM:
      d->u.from.base = xstrdup_or_null (s->u.from.base);
      d->u.from.name = xstrdup_or_null (s->u.from.name);
      d->u.from.platform = xstrdup_or_null (s->u.from.platform);
      break;
    case CF_CMD_ARG:
    case CF_CMD_ENV:
    case CF_CMD_LABEL:
      kvs_clone (&d->u.kvs, &s->u.kvs);
      break;
    case CF_CMD_RUN:
      run_clone (&d->u.run, &s->u.run);
      break;
    case CF_CMD_CMD:
    case CF_CMD_ENTRYPOINT:
      cmdline_clone (&d->u.cmdline, &s->u.cmdline);
      break;
    case CF_CMD_COPY:
    case CF_CMD_ADD:
      copy_clone (&d->u.copy, &s->u.copy);
      break;
    case CF_CMD_WORKDIR:
    case CF_CMD_USER:
    case CF_CMD_STOPSIGNAL:
    case CF_CMD_MAINTAINER:
      d->u.value = xstrdup_or_null (s->u.value);
      break;
    case CF_CMD_EXPOSE:
    case CF_CMD_VOLUME:
    case CF_CMD_SHELL:
      memset (&d->u.list, 0, sizeof (d->u.list));
      strvec_copy (&d->u.list, &s->u.list);
      break;
    case CF_CMD_HEALTHCHECK:
      memset (&d->u.health.test, 0, sizeof (d->u.health.test));
      strvec_copy (&d->u.health.test, &s->u.health.test);
      break;
    case CF_CMD_ONBUILD:
      d->u.onbuild.expression = xstrdup_or_null (s->u.onbuild.expression);
      d->u.onbuild.trigger = s->u.onbuild.trigger ? cf_cmd_clone (s->u.onbuild.trigger) : NULL;
      break;
    default:
      break;
    }
}

cf_cmd *
cf_cmd_clone (const cf_cmd *c)
{
  cf_cmd *d = xmalloc (sizeof (*d));

  *d = *c;
  d->original = xstrdup_or_null (c->original);
  memset (&d->flags, 0, sizeof (d->flags));
  strvec_copy (&d->flags, &c->flags);
  body_clone (d, c);
  return d;
}

/* ---- Go durations (time.ParseDuration) ---------------------------------------------------- */

static int64_t
duration_unit (const char *u, size_t len)
{
  static const struct
  {
    const char *name;
    int64_t ns;
  } units[] = {
    { "ns", 1 },          { "us", 1000 },        { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
    { "ms", 1000000 },    { "s", 1000000000LL }, { "m", 60000000000LL }, { "h", 3600000000000LL },
  };

  for (size_t i = 0; i < sizeof (units) / sizeof (units[0]); i++)
    if (strlen (units[i].name) == len && memcmp (units[i].name, u, len) == 0)
      return units[i].ns;
  return 0;
}

/* One "12.5ms" group; adds its value to *total.  */
static int
duration_group (const char **ps, const char *orig, uint64_t *total, gsi_error *err)
{
  const char *s = *ps, *start = s, *u;
  uint64_t v = 0, unit;
  double frac = 0, scale = 1;
  bool pre, post = false;

  for (; *s >= '0' && *s <= '9'; s++)
    {
      if (v > (UINT64_C (1) << 63) / 10)
        return gsi_error_set (err, 0, "invalid duration `%s`", orig);
      v = v * 10 + (uint64_t) (*s - '0');
    }
  pre = s != start;
  if (*s == '.')
    {
      const char *fs = ++s;
      for (; *s >= '0' && *s <= '9'; s++)
        {
          frac = frac * 10 + (*s - '0');
          scale *= 10;
        }
      post = s != fs;
    }
  if (!pre && !post)
    return gsi_error_set (err, 0, "invalid duration `%s`", orig);
  for (u = s; *s && *s != '.' && !(*s >= '0' && *s <= '9'); s++)
    ;
  if (u == s)
    return gsi_error_set (err, 0, "missing unit in duration `%s`", orig);
  unit = (uint64_t) duration_unit (u, (size_t) (s - u));
  if (unit == 0)
    return gsi_error_set (err, 0, "unknown unit `%.*s` in duration `%s`", (int) (s - u), u, orig);
  if (v > (UINT64_C (1) << 63) / unit)
    return gsi_error_set (err, 0, "invalid duration `%s`", orig);
  v = v * unit + (uint64_t) (frac * ((double) unit / scale));
  *total += v;
  if (*total > (UINT64_C (1) << 63))
    return gsi_error_set (err, 0, "invalid duration `%s`", orig);
  *ps = s;
  return 0;
}

int
cf_parse_duration (const char *s, int64_t *ns, gsi_error *err)
{
  const char *orig = s;
  uint64_t total = 0;
  bool neg = false;

  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  if (strcmp (s, "0") == 0)
    {
      *ns = 0;
      return 0;
    }
  if (*s == '\0')
    return gsi_error_set (err, 0, "invalid duration `%s`", orig);
  while (*s)
    {
      if (!(*s == '.' || (*s >= '0' && *s <= '9')))
        return gsi_error_set (err, 0, "invalid duration `%s`", orig);
      if (duration_group (&s, orig, &total, err) < 0)
        return -1;
    }
  if (!neg && total > (uint64_t) INT64_MAX)
    return gsi_error_set (err, 0, "invalid duration `%s`", orig);
  *ns = neg ? (int64_t) (0 - total) : (int64_t) total;
  return 0;
}

/* ---- RUN --mount (commands_runmount.go) ---------------------------------------------------- */

/* Splits a CSV record as Go's encoding/csv reads one line: fields may be double-quoted with ""
 * for a quote inside.  */
static int
csv_fields (const char *s, gsi_strvec *out, gsi_error *err)
{
  gsi_buf f = GSI_BUF_INIT;

  for (;;)
    {
      gsi_buf_reset (&f);
      if (*s == '"')
        {
          for (s++;; s++)
            {
              if (*s == '\0')
                {
                  gsi_buf_release (&f);
                  return gsi_error_set (err, 0, "failed to parse csv mounts: extraneous or missing \" in quoted-field");
                }
              if (*s == '"' && s[1] == '"')
                gsi_buf_addch (&f, *s++);
              else if (*s == '"')
                break;
              else
                gsi_buf_addch (&f, *s);
            }
          s++;
          if (*s != ',' && *s != '\0')
            {
              gsi_buf_release (&f);
              return gsi_error_set (err, 0, "failed to parse csv mounts: extraneous or missing \" in quoted-field");
            }
        }
      else
        for (; *s && *s != ','; s++)
          {
            if (*s == '"')
              {
                gsi_buf_release (&f);
                return gsi_error_set (err, 0, "failed to parse csv mounts: bare \" in non-quoted-field");
              }
            gsi_buf_addch (&f, *s);
          }
      gsi_strvec_push (out, f.buf);
      if (*s == '\0')
        break;
      s++;
    }
  gsi_buf_release (&f);
  return 0;
}

/* strconv.ParseBool.  */
static int
parse_go_bool (const char *s, bool *out)
{
  static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
  static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };

  for (size_t i = 0; i < 6; i++)
    {
      if (strcmp (s, t[i]) == 0)
        return (*out = true), 0;
      if (strcmp (s, f[i]) == 0)
        return (*out = false), 0;
    }
  return -1;
}

/* strconv.ParseUint (s, base, 32) for base 8 or 10.  */
static int
parse_uint32 (const char *s, int base, uint32_t *out)
{
  uint64_t v = 0;

  if (*s == '\0')
    return -1;
  for (; *s; s++)
    {
      int d = *s - '0';
      if (*s < '0' || *s > '9' || d >= base)
        return -1;
      v = v * (uint64_t) base + (uint64_t) d;
      if (v > UINT32_MAX)
        return -1;
    }
  *out = (uint32_t) v;
  return 0;
}

/* go-units RAMInBytes: "64m", "1.5 GiB", "100" (binary multiples).  */
static int
parse_ram_bytes (const char *s, int64_t *out)
{
  const char *p = s, *units = "kmgtp";
  char *end = NULL;
  double v, mult = 1;

  if (!isdigit ((unsigned char) *p))
    return -1;
  while (isdigit ((unsigned char) *p) || (*p == '.' && isdigit ((unsigned char) p[1])))
    p++;
  v = strtod (s, &end);
  if (end != p)
    return -1;
  if (*p == ' ')
    p++;
  if (*p && strchr (units, tolower ((unsigned char) *p)))
    {
      for (const char *u = units; *u != tolower ((unsigned char) *p); u++)
        mult *= 1024;
      mult *= 1024;
      p++;
    }
  if (*p == 'i' || *p == 'I')
    p++;
  if (*p == 'b' || *p == 'B')
    p++;
  if (*p != '\0')
    return -1;
  *out = (int64_t) (v * mult);
  return 0;
}

const char *
cf_mount_type_name (cf_mount_type t)
{
  switch (t)
    {
    case CF_MOUNT_BIND:
      return "bind";
    case CF_MOUNT_CACHE:
      return "cache";
    case CF_MOUNT_TMPFS:
      return "tmpfs";
    case CF_MOUNT_SECRET:
      return "secret";
    case CF_MOUNT_SSH:
      return "ssh";
    default:
      return "?";
    }
}

typedef struct mount_state
{
  cf_mount *m;
  bool ro_auto;
} mount_state;

static int
mount_bare_key (mount_state *st, const char *key, const char *field, gsi_error *err)
{
  cf_mount *m = st->m;

  if (strcmp (key, "readonly") == 0 || strcmp (key, "ro") == 0)
    m->readonly = true;
  else if (strcmp (key, "readwrite") == 0 || strcmp (key, "rw") == 0)
    m->readonly = false;
  else if (strcmp (key, "required") == 0)
    {
      if (m->type != CF_MOUNT_SECRET && m->type != CF_MOUNT_SSH)
        return gsi_error_set (err, 0, "unexpected key `%s` for mount type `%s`", key, cf_mount_type_name (m->type));
      m->required = true;
      return 0;
    }
  else
    return gsi_error_set (err, 0, "invalid field `%s`: it must be a key=value pair", field);
  st->ro_auto = false;
  return 0;
}

static int
mount_enum_key (cf_mount *m, const char *key, const char *value, gsi_error *err)
{
  static const char *const types[] = { "bind", "cache", "tmpfs", "secret", "ssh" };
  static const char *const shares[] = { "shared", "private", "locked" };

  if (strcmp (key, "type") == 0)
    {
      for (size_t i = 0; i < 5; i++)
        if (strcasecmp (value, types[i]) == 0)
          return (m->type = (cf_mount_type) i), 0;
      return gsi_error_set (err, 0, "unsupported mount type `%s` (bind, cache, tmpfs, secret or ssh)", value);
    }
  for (size_t i = 0; i < 3; i++)
    if (strcasecmp (value, shares[i]) == 0)
      return (m->sharing = (cf_sharing) (i + 1)), 0;
  return gsi_error_set (err, 0, "unsupported sharing value `%s` (shared, private or locked)", value);
}

static int
mount_set_str (char **slot, const char *value)
{
  free (*slot);
  *slot = xstrdup (value);
  return 0;
}

static int
mount_num_key (cf_mount *m, const char *key, const char *value, gsi_error *err)
{
  if (strcmp (key, "mode") == 0)
    {
      if (parse_uint32 (value, 8, &m->mode) < 0)
        return gsi_error_set (err, 0, "invalid value `%s` for mode", value);
      m->has_mode = true;
    }
  else if (strcmp (key, "uid") == 0)
    {
      if (parse_uint32 (value, 10, &m->uid) < 0)
        return gsi_error_set (err, 0, "invalid value `%s` for uid", value);
      m->has_uid = true;
    }
  else
    {
      if (parse_uint32 (value, 10, &m->gid) < 0)
        return gsi_error_set (err, 0, "invalid value `%s` for gid", value);
      m->has_gid = true;
    }
  return 0;
}

static int
mount_bool_key (mount_state *st, const char *key, const char *value, gsi_error *err)
{
  cf_mount *m = st->m;
  bool b = false;

  if (strcmp (key, "required") == 0 && m->type != CF_MOUNT_SECRET && m->type != CF_MOUNT_SSH)
    return gsi_error_set (err, 0, "unexpected key `%s` for mount type `%s`", key, cf_mount_type_name (m->type));
  if (parse_go_bool (value, &b) < 0)
    return gsi_error_set (err, 0, "invalid value for %s: `%s`", key, value);
  if (strcmp (key, "required") == 0)
    m->required = b;
  else
    {
      m->readonly = (strcmp (key, "readonly") == 0 || strcmp (key, "ro") == 0) ? b : !b;
      st->ro_auto = false;
    }
  return 0;
}

static int
mount_key (mount_state *st, const char *key, const char *value, const char *field, gsi_error *err)
{
  cf_mount *m = st->m;

  if (strcmp (key, "type") == 0 || strcmp (key, "sharing") == 0)
    return mount_enum_key (m, key, value, err);
  if (strcmp (key, "from") == 0)
    return mount_set_str (&m->from, value);
  if (strcmp (key, "source") == 0 || strcmp (key, "src") == 0)
    return mount_set_str (&m->source, value);
  if (strcmp (key, "target") == 0 || strcmp (key, "dst") == 0 || strcmp (key, "destination") == 0)
    return mount_set_str (&m->target, value);
  if (strcmp (key, "id") == 0)
    return mount_set_str (&m->id, value);
  if (strcmp (key, "env") == 0)
    return mount_set_str (&m->env, value);
  if (strcmp (key, "readonly") == 0 || strcmp (key, "ro") == 0 || strcmp (key, "readwrite") == 0
      || strcmp (key, "rw") == 0 || strcmp (key, "required") == 0)
    return mount_bool_key (st, key, value, err);
  if (strcmp (key, "mode") == 0 || strcmp (key, "uid") == 0 || strcmp (key, "gid") == 0)
    return mount_num_key (m, key, value, err);
  if (strcmp (key, "size") == 0)
    {
      if (m->type != CF_MOUNT_TMPFS)
        return gsi_error_set (err, 0, "unexpected key `%s` for mount type `%s`", key, cf_mount_type_name (m->type));
      if (parse_ram_bytes (value, &m->size) < 0)
        return gsi_error_set (err, 0, "invalid value for size: `%s`", value);
      m->has_size = true;
      return 0;
    }
  return gsi_error_set (err, 0, "unexpected key `%s` in `%s`", key, field);
}

static int
mount_validate (cf_mount *m, bool ro_auto, gsi_error *err)
{
  bool file_info = m->type == CF_MOUNT_SECRET || m->type == CF_MOUNT_SSH || m->type == CF_MOUNT_CACHE;
  const char *tn = cf_mount_type_name (m->type);

  if (!file_info && m->has_mode)
    return gsi_error_set (err, 0, "mode not allowed for `%s` type mounts", tn);
  if (!file_info && m->has_uid)
    return gsi_error_set (err, 0, "uid not allowed for `%s` type mounts", tn);
  if (!file_info && m->has_gid)
    return gsi_error_set (err, 0, "gid not allowed for `%s` type mounts", tn);
  if (ro_auto)
    m->readonly = !(m->type == CF_MOUNT_CACHE || m->type == CF_MOUNT_TMPFS);
  if (m->type == CF_MOUNT_SECRET)
    {
      if (m->from)
        return gsi_error_set (err, 0, "secret mount should not have a from");
      if (m->sharing != CF_SHARING_UNSET)
        return gsi_error_set (err, 0, "secret mount should not define sharing");
      if (!m->source && !m->target && !m->id)
        return gsi_error_set (err, 0, "invalid secret mount: one of source, target or id is required");
      if (m->source && m->id)
        return gsi_error_set (err, 0, "both source and id can't be set");
    }
  if (m->sharing != CF_SHARING_UNSET && m->type != CF_MOUNT_CACHE)
    return gsi_error_set (err, 0, "invalid cache sharing set for `%s` mount", tn);
  return 0;
}

static int
mount_field (mount_state *st, const char *field, cf_expand_fn expand, void *data, gsi_error *err)
{
  const char *eq = strchr (field, '=');
  cleanup_free char *key = eq ? xstrndup (field, (size_t) (eq - field)) : xstrdup (field);
  cleanup_free char *value = NULL;

  for (char *p = key; *p; p++)
    *p = (char) tolower ((unsigned char) *p);
  if (eq == NULL)
    return mount_bare_key (st, key, field, err);
  if (expand != NULL)
    {
      if (expand (data, eq + 1, &value, err) < 0)
        return -1;
    }
  else
    value = xstrdup (eq + 1);
  return mount_key (st, key, value, field, err);
}

int
cf_mount_parse (const char *spec, cf_expand_fn expand, void *data, cf_mount *out, gsi_error *err)
{
  cleanup_strvec gsi_strvec fields = GSI_STRVEC_INIT;
  cf_mount m;
  mount_state st = { .m = &m, .ro_auto = true };

  memset (&m, 0, sizeof (m));
  m.type = CF_MOUNT_BIND;
  if (csv_fields (spec, &fields, err) < 0)
    return -1;
  for (size_t i = 0; i < fields.n; i++)
    if (mount_field (&st, fields.v[i], expand, data, err) < 0)
      {
        cf_mount_clear (&m);
        return -1;
      }
  if (mount_validate (&m, st.ro_auto, err) < 0)
    {
      cf_mount_clear (&m);
      return -1;
    }
  *out = m;
  return 0;
}

/* ---- chmod, signals, ports ---------------------------------------------------------------- */

/* One clause of a symbolic mode: [ugoa]*([-+=]([rwxXst]*|[ugo]))+  */
static bool
symbolic_clause_ok (const char *s, size_t len)
{
  size_t i = 0;

  while (i < len && strchr ("ugoa", s[i]))
    i++;
  if (i == len)
    return false;
  while (i < len)
    {
      if (!strchr ("+-=", s[i]))
        return false;
      i++;
      if (i < len && strchr ("ugo", s[i]))
        i++;
      else
        while (i < len && strchr ("rwxXst", s[i]))
          i++;
    }
  return true;
}

int
cf_check_chmod (const char *mode, gsi_error *err)
{
  uint32_t v = 0;
  const char *p = mode;

  if (parse_uint32 (mode, 8, &v) == 0)
    {
      if (v > 07777)
        return gsi_error_set (err, 0, "invalid chmod parameter `%s`: it should be an octal string between 0 and 07777", mode);
      return 0;
    }
  /* Like BuildKit: anything that looks numeric gets the octal message.  */
  if (isdigit ((unsigned char) *mode) || *mode == '\0')
    return gsi_error_set (err, 0, "invalid chmod parameter `%s`: it should be an octal string between 0 and 07777", mode);
  for (;;)
    {
      size_t len = strcspn (p, ",");
      if (len == 0 || !symbolic_clause_ok (p, len))
        return gsi_error_set (err, 0, "invalid chmod parameter `%s`: neither an octal mode nor a symbolic one like u+x,g-w", mode);
      if (p[len] == '\0')
        break;
      p += len + 1;
    }
  return 0;
}

static const struct
{
  const char *name;
  int signo;
} signals[] = {
  { "ABRT", 6 },   { "ALRM", 14 },   { "BUS", 7 },     { "CHLD", 17 },   { "CLD", 17 },   { "CONT", 18 },
  { "FPE", 8 },    { "HUP", 1 },     { "ILL", 4 },     { "INT", 2 },     { "IO", 29 },    { "IOT", 6 },
  { "KILL", 9 },   { "PIPE", 13 },   { "POLL", 29 },   { "PROF", 27 },   { "PWR", 30 },   { "QUIT", 3 },
  { "SEGV", 11 },  { "STKFLT", 16 }, { "STOP", 19 },   { "SYS", 31 },    { "TERM", 15 },  { "TRAP", 5 },
  { "TSTP", 20 },  { "TTIN", 21 },   { "TTOU", 22 },   { "URG", 23 },    { "USR1", 10 },  { "USR2", 12 },
  { "VTALRM", 26 }, { "WINCH", 28 }, { "XCPU", 24 },   { "XFSZ", 25 },   { "RTMIN", 34 }, { "RTMAX", 64 },
};

/* RTMIN+n (n 1..15) and RTMAX-n (n 1..14), the names moby's signal table has.  */
static int
rt_signal (const char *s)
{
  uint32_t n = 0;

  if (strncmp (s, "RTMIN+", 6) == 0 && parse_uint32 (s + 6, 10, &n) == 0 && n >= 1 && n <= 15
      && s[6] != '0')
    return 34 + (int) n;
  if (strncmp (s, "RTMAX-", 6) == 0 && parse_uint32 (s + 6, 10, &n) == 0 && n >= 1 && n <= 14
      && s[6] != '0')
    return 64 - (int) n;
  return 0;
}

int
cf_parse_signal (const char *sig, int *signo, gsi_error *err)
{
  cleanup_free char *up = xstrdup (sig);
  const char *name = up;
  char *end = NULL;
  long v;

  errno = 0;
  v = strtol (sig, &end, 10);
  if (*sig != '\0' && *end == '\0' && errno == 0 && !isspace ((unsigned char) *sig))
    {
      if (v == 0 || v > INT_MAX || v < INT_MIN)
        return gsi_error_set (err, 0, "invalid signal `%s`", sig);
      *signo = (int) v;
      return 0;
    }
  for (char *p = up; *p; p++)
    *p = (char) toupper ((unsigned char) *p);
  if (strncmp (name, "SIG", 3) == 0)
    name += 3;
  for (size_t i = 0; i < sizeof (signals) / sizeof (signals[0]); i++)
    if (strcmp (signals[i].name, name) == 0)
      return (*signo = signals[i].signo), 0;
  if ((*signo = rt_signal (name)) != 0)
    return 0;
  return gsi_error_set (err, 0, "invalid signal `%s`", sig);
}

/* strconv.ParseUint (s, 10, 16).  */
static int
parse_port (const char *s, size_t len, uint32_t *out)
{
  cleanup_free char *t = xstrndup (s, len);

  if (parse_uint32 (t, 10, out) < 0 || *out > 65535)
    return -1;
  return 0;
}

static int
parse_port_range (const char *s, size_t len, uint32_t *start, uint32_t *end)
{
  const char *dash = memchr (s, '-', len);

  if (len == 0)
    return -1;
  if (dash == NULL)
    {
      if (parse_port (s, len, start) < 0)
        return -1;
      *end = *start;
      return 0;
    }
  if (memchr (dash + 1, '-', len - (size_t) (dash + 1 - s)) != NULL)
    return -1;
  if (parse_port (s, (size_t) (dash - s), start) < 0 || parse_port (dash + 1, len - (size_t) (dash + 1 - s), end) < 0
      || *end < *start)
    return -1;
  return 0;
}

/* [ip:]hostport:containerport[/proto]; only the container side is exposed, but BuildKit checks
 * the host side's syntax too.  */
int
cf_parse_port_spec (const char *spec, gsi_strvec *out, gsi_error *err)
{
  const char *cport = strrchr (spec, ':');
  const char *slash, *proto;
  uint32_t start = 0, end = 0, hstart = 0, hend = 0;
  size_t plen;

  cport = cport ? cport + 1 : spec;
  slash = strchr (cport, '/');
  plen = slash ? (size_t) (slash - cport) : strlen (cport);
  proto = slash ? slash + 1 : "";
  if (plen == 0)
    return gsi_error_set (err, 0, "no port specified in `%s`", spec);
  if (*proto == '\0')
    proto = "tcp";
  if (strcasecmp (proto, "tcp") != 0 && strcasecmp (proto, "udp") != 0 && strcasecmp (proto, "sctp") != 0)
    return gsi_error_set (err, 0, "invalid protocol `%s` in port `%s`", proto, spec);
  if (parse_port_range (cport, plen, &start, &end) < 0)
    return gsi_error_set (err, 0, "invalid port `%.*s` in `%s`", (int) plen, cport, spec);
  if (cport != spec)
    {
      const char *hp = cport - 1, *hs = hp;
      while (hs > spec && hs[-1] != ':')
        hs--;
      if (hp > hs && (parse_port_range (hs, (size_t) (hp - hs), &hstart, &hend) < 0
                      || (hend - hstart != end - start && end != start)))
        return gsi_error_set (err, 0, "invalid host port `%.*s` in `%s`", (int) (hp - hs), hs, spec);
    }
  for (uint32_t p = start; p <= end; p++)
    {
      cleanup_free char *lp = xstrdup (proto);
      for (char *q = lp; *q; q++)
        *q = (char) tolower ((unsigned char) *q);
      gsi_strvec_pushf (out, "%u/%s", p, lp);
    }
  return 0;
}

/* ---- names -------------------------------------------------------------------------------- */

bool
cf_stage_name_valid (const char *name)
{
  if (!isalpha ((unsigned char) name[0]))
    return false;
  for (const char *p = name; *p; p++)
    if (!isalnum ((unsigned char) *p) && *p != '-' && *p != '_' && *p != '.')
      return false;
  return true;
}

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*  */
static bool
path_component_ok (const char *s, size_t len)
{
  size_t i = 0;

  if (len == 0 || !is_lower_alnum (s[0]))
    return false;
  while (i < len)
    {
      while (i < len && is_lower_alnum (s[i]))
        i++;
      if (i == len)
        return true;
      if (s[i] == '.' || (s[i] == '_' && (i + 1 >= len || s[i + 1] != '_')))
        i++;
      else if (s[i] == '_')
        i += 2;
      else if (s[i] == '-')
        while (i < len && s[i] == '-')
          i++;
      else
        return false;
      if (i >= len || !is_lower_alnum (s[i]))
        return false;
    }
  return true;
}

/* domain: host[:port], host being dot-separated labels of [a-zA-Z0-9-] (no leading or trailing
 * dash), or a bracketed IPv6 address.  */
static bool
domain_ok (const char *s, size_t len)
{
  const char *colon = NULL;
  size_t hlen = len;

  if (len > 0 && s[0] == '[')
    {
      const char *close = memchr (s, ']', len);
      if (close == NULL || close == s + 1)
        return false;
      for (const char *p = s + 1; p < close; p++)
        if (!isxdigit ((unsigned char) *p) && *p != ':' && *p != '.')
          return false;
      hlen = (size_t) (close + 1 - s);
      if (hlen == len)
        return true;
      colon = close + 1;
      if (*colon != ':')
        return false;
    }
  else
    {
      colon = memchr (s, ':', len);
      hlen = colon ? (size_t) (colon - s) : len;
      for (size_t i = 0, start = 0; i <= hlen; i++)
        if (i == hlen || s[i] == '.')
          {
            if (i == start || s[start] == '-' || s[i - 1] == '-')
              return false;
            start = i + 1;
          }
        else if (!isalnum ((unsigned char) s[i]) && s[i] != '-')
          return false;
    }
  if (colon != NULL)
    {
      size_t plen = len - (size_t) (colon + 1 - s);
      if (plen == 0)
        return false;
      for (size_t i = 0; i < plen; i++)
        if (!isdigit ((unsigned char) colon[1 + i]))
          return false;
    }
  return true;
}

static bool
tag_ok (const char *t)
{
  size_t len = strlen (t);

  if (len == 0 || len > 128 || !(isalnum ((unsigned char) t[0]) || t[0] == '_'))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!(isalnum ((unsigned char) t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
      return false;
  return true;
}

static bool
digest_ok (const char *d)
{
  size_t want;
  const char *hex;

  if (strncmp (d, "sha256:", 7) == 0)
    want = 64, hex = d + 7;
  else if (strncmp (d, "sha512:", 7) == 0)
    want = 128, hex = d + 7;
  else
    return false;
  if (strlen (hex) != want)
    return false;
  for (; *hex; hex++)
    if (!((*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f')))
      return false;
  return true;
}

/* The first component is a domain when it has a dot or colon, is localhost, or has upper case
 * (distribution/reference's splitDockerDomain).  */
static bool
first_is_domain (const char *s, size_t len)
{
  if (len == 9 && memcmp (s, "localhost", 9) == 0)
    return true;
  for (size_t i = 0; i < len; i++)
    if (s[i] == '.' || s[i] == ':' || isupper ((unsigned char) s[i]))
      return true;
  return false;
}

static bool
name_ok (const char *name, size_t len)
{
  const char *slash = memchr (name, '/', len);
  const char *p = name, *end = name + len;

  if (len == 0 || len > 255)
    return false;
  if (slash != NULL && first_is_domain (name, (size_t) (slash - name)))
    {
      if (!domain_ok (name, (size_t) (slash - name)))
        return false;
      p = slash + 1;
    }
  for (;;)
    {
      const char *next = memchr (p, '/', (size_t) (end - p));
      size_t clen = next ? (size_t) (next - p) : (size_t) (end - p);
      if (!path_component_ok (p, clen))
        return false;
      if (next == NULL)
        return true;
      p = next + 1;
    }
}

bool
cf_image_ref_valid (const char *ref)
{
  const char *at, *lastslash, *colon;
  cleanup_free char *name = NULL;
  size_t nlen;

  if (ref == NULL || *ref == '\0')
    return false;
  for (const char *p = ref; *p; p++)
    if (isspace ((unsigned char) *p) || (unsigned char) *p < 0x20)
      return false;
  at = strchr (ref, '@');
  if (at != NULL && !digest_ok (at + 1))
    return false;
  nlen = at ? (size_t) (at - ref) : strlen (ref);
  name = xstrndup (ref, nlen);
  lastslash = strrchr (name, '/');
  colon = strrchr (lastslash ? lastslash : name, ':');
  if (colon != NULL)
    {
      if (!tag_ok (colon + 1))
        return false;
      nlen = (size_t) (colon - name);
    }
  return name_ok (name, nlen);
}
