/* The semantic pass: stages, scopes, dependencies and the target, after BuildKit's dockerfile2llb
 * (convert.go: buildMetaArgs, buildDispatchStates, toCommand, dispatchArg and the Expand hooks).  */
#include "containerfile/stages.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "util/xalloc.h"

/* ---- scopes ------------------------------------------------------------------------------- */

static cf_var *
scope_find (const cf_scope *s, const char *name)
{
  for (size_t i = 0; i < s->n; i++)
    if (strcmp (s->vars[i].name, name) == 0)
      return &s->vars[i];
  return NULL;
}

const cf_var *
cf_scope_get (const cf_scope *s, const char *name)
{
  return scope_find (s, name);
}

static void
scope_set (cf_scope *s, const char *name, const char *value, cf_var_origin origin, bool known)
{
  cf_var *v = scope_find (s, name);

  if (v == NULL)
    {
      GSI_ALLOC_GROW (s->vars, s->n + 1, s->alloc);
      v = &s->vars[s->n++];
      v->name = xstrdup (name);
      v->value = NULL;
    }
  free (v->value);
  v->value = value ? xstrdup (value) : NULL;
  v->origin = origin;
  v->known = known;
}

/* `ARG X` with no value anywhere: X is declared (no warning when used) but keeps whatever value
 * an earlier ENV gave it, as BuildKit only adds ARGs with a value to the environment.  */
static void
scope_declare (cf_scope *s, const char *name)
{
  if (scope_find (s, name) == NULL)
    scope_set (s, name, NULL, CF_VAR_ARG, true);
}

static void
scope_copy (cf_scope *dst, const cf_scope *src)
{
  memset (dst, 0, sizeof (*dst));
  for (size_t i = 0; i < src->n; i++)
    scope_set (dst, src->vars[i].name, src->vars[i].value, src->vars[i].origin, src->vars[i].known);
  dst->base_unknown = src->base_unknown;
}

void
cf_scope_clear (cf_scope *s)
{
  for (size_t i = 0; i < s->n; i++)
    {
      free (s->vars[i].name);
      free (s->vars[i].value);
    }
  free (s->vars);
  memset (s, 0, sizeof (*s));
}

void
cf_scope_env (const cf_scope *s, cf_env *env)
{
  cf_env_clear (env);
  for (size_t i = 0; i < s->n; i++)
    if (s->vars[i].value != NULL)
      cf_env_set (env, s->vars[i].name, s->vars[i].value);
}

/* ---- messages ----------------------------------------------------------------------------- */

static void __attribute__ ((format (printf, 5, 6)))
add_warning (gsi_strvec *w, const char *path, int line, int col, const char *fmt, ...)
{
  cleanup_buf gsi_buf msg = GSI_BUF_INIT;
  va_list ap;

  gsi_buf_addf (&msg, "%s:%d:%d: warning: ", path, line, col);
  va_start (ap, fmt);
  gsi_buf_vaddf (&msg, fmt, ap);
  va_end (ap);
  gsi_strvec_push (w, msg.buf);
}

static int __attribute__ ((format (printf, 5, 6)))
cmd_error (gsi_error *err, const cf_plan *p, const cf_cmd *c, const char *token, const char *fmt, ...)
{
  cleanup_buf gsi_buf msg = GSI_BUF_INIT;
  va_list ap;

  va_start (ap, fmt);
  gsi_buf_vaddf (&msg, fmt, ap);
  va_end (ap);
  return gsi_error_at (err, p->path, c->line, cf_cmd_token_col (c, token), "%s", msg.buf);
}

/* Where $NAME or ${NAME} is written in c, for messages about that variable.  */
static int
var_col (const cf_cmd *c, const char *name)
{
  cleanup_free char *braced = xasprintf ("${%s", name);
  cleanup_free char *plain = xasprintf ("$%s", name);
  int col = cf_cmd_token_col (c, braced);

  if (col == c->col)
    col = cf_cmd_token_col (c, plain);
  return col;
}

/* ---- expansion ---------------------------------------------------------------------------- */

typedef struct walker
{
  cf_plan *p;
  cf_stage *st;         /* NULL for the global ARGs */
  const cf_cmd *cmd;
  size_t step;
  cf_scope *scope;      /* current; ARG and ENV change it */
  gsi_strvec *warnings;
  gsi_strvec warned;    /* names already warned about for this instruction */
  bool exact;
} walker;

static bool
strvec_has (const gsi_strvec *sv, const char *s)
{
  for (size_t i = 0; i < sv->n; i++)
    if (strcmp (sv->v[i], s) == 0)
      return true;
  return false;
}

/* BuildKit reports a variable as undefined when it is neither set nor a declared ARG; here a
 * name that may come from an unknown base image environment also makes the result inexact.  */
static void
note_names (walker *w, const gsi_strvec *matched, const gsi_strvec *unmatched)
{
  for (size_t i = 0; i < unmatched->n; i++)
    {
      const char *name = unmatched->v[i];
      if (cf_scope_get (w->scope, name) != NULL)
        continue;
      if (w->scope->base_unknown)
        w->exact = false;
      if (strvec_has (&w->warned, name))
        continue;
      gsi_strvec_push (&w->warned, name);
      add_warning (w->warnings, w->p->path, w->cmd->line, var_col (w->cmd, name),
                   "usage of undefined variable `$%s`", name);
    }
  for (size_t i = 0; i < matched->n; i++)
    {
      const cf_var *v = cf_scope_get (w->scope, matched->v[i]);
      if (v != NULL && !v->known)
        w->exact = false;
    }
}

/* Unlocated error: cf_mount_parse's callback, and the base of expand_word.  */
static int
expand_raw (walker *w, const char *word, char **out, gsi_strvec *words, gsi_error *err)
{
  cleanup_strvec gsi_strvec matched = GSI_STRVEC_INIT;
  cleanup_strvec gsi_strvec unmatched = GSI_STRVEC_INIT;
  cf_env env = CF_ENV_INIT;
  cf_shell_opts so = { .escape = w->p->escape, .matched = &matched, .unmatched = &unmatched };
  int r;

  cf_scope_env (w->scope, &env);
  if (words != NULL)
    r = cf_shell_words (word, &env, &so, words, err);
  else
    r = cf_shell_expand (word, &env, &so, out, err);
  cf_env_clear (&env);
  if (r < 0)
    return -1;
  note_names (w, &matched, &unmatched);
  return 0;
}

static int
expand_word (walker *w, const char *word, char **out, gsi_error *err)
{
  cleanup_error gsi_error e = GSI_ERROR_INIT;

  if (expand_raw (w, word, out, NULL, &e) < 0)
    return cmd_error (err, w->p, w->cmd, word, "%s", e.msg);
  return 0;
}

/* Replaces *slot (when set) by its expansion.  */
static int
expand_slot (walker *w, char **slot, gsi_error *err)
{
  char *out = NULL;

  if (*slot == NULL)
    return 0;
  if (expand_word (w, *slot, &out, err) < 0)
    return -1;
  free (*slot);
  *slot = out;
  return 0;
}

static int
expand_list (walker *w, gsi_strvec *list, gsi_error *err)
{
  for (size_t i = 0; i < list->n; i++)
    if (expand_slot (w, &list->v[i], err) < 0)
      return -1;
  return 0;
}

static int
mount_expand_cb (void *data, const char *word, char **out, gsi_error *err)
{
  return expand_raw (data, word, out, NULL, err);
}

/* ---- refs: COPY --from and RUN --mount from= ---------------------------------------------- */

static int
find_stage (const cf_plan *p, const char *name)
{
  for (size_t i = 0; i < p->nstages; i++)
    if (p->stages[i].name && strcasecmp (p->stages[i].name, name) == 0)
      return (int) i;
  return -1;
}

/* strconv.Atoi: an optional sign and decimal digits.  */
static bool
parse_index (const char *s, long *out)
{
  const char *p = s + (*s == '+' || *s == '-');
  char *end = NULL;

  if (*p == '\0' || strspn (p, "0123456789") != strlen (p) || strlen (p) > 9)
    return false;
  *out = strtol (s, &end, 10);
  return true;
}

typedef struct ref_target
{
  cf_base_kind kind;
  int stage;
} ref_target;

static int
resolve_ref (const cf_plan *p, size_t here, const cf_cmd *c, const char *value, bool mount, ref_target *t,
             gsi_error *err)
{
  const char *what = mount ? "RUN --mount from" : "COPY --from";
  long idx = 0;
  int found;

  t->stage = -1;
  if (parse_index (value, &idx))
    {
      if (idx < 0 || (size_t) idx >= p->nstages)
        return cmd_error (err, p, c, value, "%s=`%s`: invalid stage index %ld", what, value, idx);
      if ((size_t) idx >= here)
        return cmd_error (err, p, c, value, "%s=`%s`: stage %ld is not defined before stage %zu", what, value, idx, here);
      t->kind = CF_BASE_STAGE;
      t->stage = (int) idx;
      return 0;
    }
  found = find_stage (p, value);
  if (found >= 0 && (size_t) found >= here)
    return cmd_error (err, p, c, value, "%s=`%s`: stage %d must be defined before the stage that uses it (stage %zu)",
                      what, value, found, here);
  if (found >= 0)
    t->kind = CF_BASE_STAGE, t->stage = found;
  else if (strcmp (value, "scratch") == 0)
    t->kind = CF_BASE_SCRATCH;
  else if (cf_image_ref_valid (value))
    t->kind = CF_BASE_IMAGE;
  else
    return cmd_error (err, p, c, value, "%s names no stage or image: `%s`", what, value);
  return 0;
}

typedef struct ref_list
{
  cf_ref *v;
  size_t n;
  size_t alloc;
} ref_list;

static int
add_ref (walker *w, ref_list *refs, const char *value, bool mount, gsi_error *err)
{
  ref_target t;
  cf_ref *r;

  if (resolve_ref (w->p, w->st->index, w->cmd, value, mount, &t, err) < 0)
    return -1;
  GSI_ALLOC_GROW (refs->v, refs->n + 1, refs->alloc);
  r = &refs->v[refs->n++];
  r->step = w->step;
  r->line = w->cmd->line;
  r->col = cf_cmd_token_col (w->cmd, value);
  r->mount = mount;
  r->value = xstrdup (value);
  r->kind = t.kind;
  r->stage = t.stage;
  return 0;
}

static void
refs_free (cf_ref *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i].value);
  free (v);
}

/* ---- the walk of one instruction ---------------------------------------------------------- */

static const char *
build_arg (const cf_plan *p, const char *name)
{
  size_t len = strlen (name);

  for (size_t i = p->build_args.n; i-- > 0;)
    if (strncmp (p->build_args.v[i], name, len) == 0 && p->build_args.v[i][len] == '=')
      return p->build_args.v[i] + len + 1;
  return NULL;
}

/* dispatchArg: the build arg wins; a bare `ARG X` takes the global value; a default is expanded
 * with the scope so far (so `ARG A=1 B=$A` sees A).  */
static int
walk_arg_kv (walker *w, cf_kv *kv, gsi_error *err)
{
  const char *bv = build_arg (w->p, kv->key);
  const cf_var *g = cf_scope_get (&w->p->globals, kv->key);
  cleanup_free char *value = NULL;
  bool saved = w->exact, known = true;

  if (bv != NULL)
    value = xstrdup (bv);
  else if (kv->has_value)
    {
      w->exact = true;
      if (expand_word (w, kv->value, &value, err) < 0)
        return -1;
      known = w->exact;
      w->exact = saved && known;
    }
  else if (w->scope != &w->p->globals && g != NULL && g->value != NULL)
    value = xstrdup (g->value);
  free (kv->value);
  kv->value = value ? xstrdup (value) : NULL;
  kv->has_value = value != NULL;
  if (value != NULL)
    scope_set (w->scope, kv->key, value, CF_VAR_ARG, known);
  else
    scope_declare (w->scope, kv->key);
  return 0;
}

static int
walk_arg (walker *w, cf_cmd *x, gsi_error *err)
{
  for (size_t i = 0; i < x->u.kvs.n; i++)
    if (walk_arg_kv (w, &x->u.kvs.kv[i], err) < 0)
      return -1;
  return 0;
}

/* All pairs are expanded with the scope before the instruction, then set.  */
static int
walk_env (walker *w, cf_cmd *x, gsi_error *err)
{
  cleanup_free bool *known = xcalloc (x->u.kvs.n + 1, sizeof (bool));
  bool all = w->exact;

  for (size_t i = 0; i < x->u.kvs.n; i++)
    {
      w->exact = true;
      if (expand_slot (w, &x->u.kvs.kv[i].key, err) < 0 || expand_slot (w, &x->u.kvs.kv[i].value, err) < 0)
        return -1;
      known[i] = w->exact;
      all = all && w->exact;
    }
  w->exact = all;
  if (x->kind == CF_CMD_ENV)
    for (size_t i = 0; i < x->u.kvs.n; i++)
      scope_set (w->scope, x->u.kvs.kv[i].key, x->u.kvs.kv[i].value, CF_VAR_ENV, known[i]);
  return 0;
}

static bool
checksum_source_ok (const char *src)
{
  size_t len = strlen (src);

  return strncmp (src, "http://", 7) == 0 || strncmp (src, "https://", 8) == 0 || strncmp (src, "git@", 4) == 0
         || strncmp (src, "git://", 6) == 0 || (len > 4 && strcmp (src + len - 4, ".git") == 0)
         || strstr (src, ".git#") != NULL;
}

static int
check_copy (walker *w, const cf_cmd *x, gsi_error *err)
{
  const cf_copy_cmd *cp = &x->u.copy;
  cleanup_error gsi_error e = GSI_ERROR_INIT;

  if (cp->chmod && *cp->chmod && cf_check_chmod (cp->chmod, &e) < 0)
    return cmd_error (err, w->p, w->cmd, "--chmod", "%s", e.msg);
  if (cp->checksum && *cp->checksum)
    {
      if (cp->sources.n != 1 || cp->ncontents != 0)
        return cmd_error (err, w->p, w->cmd, "--checksum", "checksum can't be specified for multiple sources");
      if (!checksum_source_ok (cp->sources.v[0]))
        return cmd_error (err, w->p, w->cmd, "--checksum", "checksum can't be specified for non-HTTP(S) or git sources");
    }
  return 0;
}

/* BuildKit resolves --from before any expansion and refuses a value that expansion would change.  */
static int
check_copy_from (walker *w, const char *from, gsi_error *err)
{
  cf_env empty = CF_ENV_INIT;
  cf_shell_opts so = { .escape = w->p->escape };
  cleanup_error gsi_error e = GSI_ERROR_INIT;
  cleanup_free char *out = NULL;
  int r = cf_shell_expand (from, &empty, &so, &out, &e);

  cf_env_clear (&empty);
  if (r < 0 || strcmp (out, from) != 0)
    return cmd_error (err, w->p, w->cmd, from,
                      "variable expansion is not supported for --from; define a stage with FROM using a global ARG instead");
  return 0;
}

/* SourcesAndDest.ExpandRaw: a heredoc body whose delimiter was not quoted is expanded with quotes
 * left alone and the escape always a backslash.  */
static int
expand_contents (walker *w, cf_copy_cmd *cp, gsi_error *err)
{
  for (size_t i = 0; i < cp->ncontents; i++)
    {
      cleanup_strvec gsi_strvec matched = GSI_STRVEC_INIT;
      cleanup_strvec gsi_strvec unmatched = GSI_STRVEC_INIT;
      cleanup_error gsi_error e = GSI_ERROR_INIT;
      cf_env env = CF_ENV_INIT;
      cf_shell_opts so = { .escape = '\\', .matched = &matched, .unmatched = &unmatched, .skip_process_quotes = true };
      cf_heredoc *h = &cp->contents[i];
      char *out = NULL;
      int r;

      if (!h->expand || h->content == NULL || strlen (h->content) != h->content_len)
        continue;
      cf_scope_env (w->scope, &env);
      r = cf_shell_expand (h->content, &env, &so, &out, &e);
      cf_env_clear (&env);
      if (r < 0)
        return cmd_error (err, w->p, w->cmd, NULL, "heredoc `%s`: %s", h->name, e.msg);
      note_names (w, &matched, &unmatched);
      free (h->content);
      h->content = out;
      h->content_len = strlen (out);
    }
  return 0;
}

static int
walk_copy (walker *w, cf_cmd *x, ref_list *refs, gsi_error *err)
{
  cf_copy_cmd *cp = &x->u.copy;

  if (expand_slot (w, &cp->chown, err) < 0 || expand_slot (w, &cp->chmod, err) < 0
      || expand_slot (w, &cp->checksum, err) < 0 || expand_list (w, &cp->sources, err) < 0
      || expand_slot (w, &cp->dest, err) < 0 || expand_contents (w, cp, err) < 0)
    return -1;
  if (w->exact && check_copy (w, x, err) < 0)
    return -1;
  if (cp->from == NULL || *cp->from == '\0')
    return 0;
  if (check_copy_from (w, cp->from, err) < 0)
    return -1;
  return add_ref (w, refs, cp->from, false, err);
}

static int
walk_run (walker *w, cf_cmd *x, ref_list *refs, gsi_error *err)
{
  cf_run_cmd *r = &x->u.run;

  r->mounts = r->mount_specs.n ? xcalloc (r->mount_specs.n, sizeof (cf_mount)) : NULL;
  r->nmounts = 0;
  for (size_t i = 0; i < r->mount_specs.n; i++)
    {
      cleanup_error gsi_error e = GSI_ERROR_INIT;
      const char *spec = r->mount_specs.v[i];
      cf_mount *m = &r->mounts[r->nmounts];

      if (cf_mount_parse (spec, mount_expand_cb, w, m, &e) < 0)
        {
          /* A value from an unknown base environment may be what is wrong: wait for the real one.  */
          cleanup_free char *flag = NULL;
          if (!w->exact)
            continue;
          flag = xasprintf ("--mount=%s", spec);
          return cmd_error (err, w->p, w->cmd, flag, "--mount `%s`: %s", spec, e.msg);
        }
      r->nmounts++;
      if (m->from && *m->from && add_ref (w, refs, m->from, true, err) < 0)
        return -1;
    }
  return 0;
}

static int
walk_expose (walker *w, cf_cmd *x, gsi_error *err)
{
  gsi_strvec words = GSI_STRVEC_INIT;

  for (size_t i = 0; i < x->u.list.n; i++)
    {
      cleanup_error gsi_error e = GSI_ERROR_INIT;
      if (expand_raw (w, x->u.list.v[i], NULL, &words, &e) < 0)
        {
          gsi_strvec_clear (&words);
          return cmd_error (err, w->p, w->cmd, x->u.list.v[i], "%s", e.msg);
        }
    }
  gsi_strvec_clear (&x->u.list);
  x->u.list = words;
  for (size_t i = 0; w->exact && i < words.n; i++)
    {
      cleanup_strvec gsi_strvec ports = GSI_STRVEC_INIT;
      cleanup_error gsi_error e = GSI_ERROR_INIT;
      if (cf_parse_port_spec (words.v[i], &ports, &e) < 0)
        return cmd_error (err, w->p, w->cmd, words.v[i], "%s", e.msg);
    }
  return 0;
}

static int
walk_volume (walker *w, cf_cmd *x, gsi_error *err)
{
  if (expand_list (w, &x->u.list, err) < 0)
    return -1;
  for (size_t i = 0; w->exact && i < x->u.list.n; i++)
    if (x->u.list.v[i][0] == '\0')
      return cmd_error (err, w->p, w->cmd, NULL, "VOLUME specified can not be an empty string");
  return 0;
}

static int
walk_stopsignal (walker *w, cf_cmd *x, gsi_error *err)
{
  cleanup_error gsi_error e = GSI_ERROR_INIT;
  const char *written = w->cmd->u.value;
  int signo = 0;

  if (expand_slot (w, &x->u.value, err) < 0)
    return -1;
  if (w->exact && cf_parse_signal (x->u.value, &signo, &e) < 0)
    return cmd_error (err, w->p, w->cmd, written, "%s", e.msg);
  return 0;
}

static int
walk_cmd (walker *w, cf_cmd *x, ref_list *refs, gsi_error *err)
{
  switch (x->kind)
    {
    case CF_CMD_ARG:
      return walk_arg (w, x, err);
    case CF_CMD_ENV:
    case CF_CMD_LABEL:
      return walk_env (w, x, err);
    case CF_CMD_COPY:
    case CF_CMD_ADD:
      return walk_copy (w, x, refs, err);
    case CF_CMD_RUN:
      return walk_run (w, x, refs, err);
    case CF_CMD_WORKDIR:
    case CF_CMD_USER:
      return expand_slot (w, &x->u.value, err);
    case CF_CMD_STOPSIGNAL:
      return walk_stopsignal (w, x, err);
    case CF_CMD_EXPOSE:
      return walk_expose (w, x, err);
    case CF_CMD_VOLUME:
      return walk_volume (w, x, err);
    case CF_CMD_FROM:
    case CF_CMD_CMD:
    case CF_CMD_ENTRYPOINT:
    case CF_CMD_SHELL:
    case CF_CMD_HEALTHCHECK:
    case CF_CMD_ONBUILD:
    case CF_CMD_MAINTAINER:
    default:
      return 0;
    }
}

/* ---- the walk of one stage ---------------------------------------------------------------- */

static void
steps_free (cf_step *steps, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      cf_cmd_free (steps[i].expanded);
      cf_scope_clear (&steps[i].scope);
    }
  free (steps);
}

static void
start_scope (const cf_plan *p, const cf_stage *st, const gsi_strvec *base_env, cf_scope *s)
{
  memset (s, 0, sizeof (*s));
  if (base_env != NULL)
    {
      for (size_t i = 0; i < base_env->n; i++)
        {
          const char *eq = strchr (base_env->v[i], '=');
          cleanup_free char *name = eq ? xstrndup (base_env->v[i], (size_t) (eq - base_env->v[i])) : NULL;
          if (name != NULL && *name != '\0')
            scope_set (s, name, eq + 1, CF_VAR_BASE, true);
        }
      if (scope_find (s, "PATH") == NULL)
        scope_set (s, "PATH", CF_DEFAULT_PATH, CF_VAR_BASE, true);
      return;
    }
  switch (st->base_kind)
    {
    case CF_BASE_STAGE:
      scope_copy (s, &p->stages[st->base_stage].final_scope);
      break;
    case CF_BASE_SCRATCH:
      scope_set (s, "PATH", CF_DEFAULT_PATH, CF_VAR_BASE, true);
      break;
    case CF_BASE_IMAGE:
    default:
      scope_set (s, "PATH", CF_DEFAULT_PATH, CF_VAR_BASE, false);
      s->base_unknown = true;
      break;
    }
}

/* A stage built FROM another stage runs that stage's ONBUILD triggers; their COPY --from and
 * mount from= make dependencies of this stage.  */
static int
onbuild_needs (const cf_plan *p, const cf_stage *st, int **out, size_t *nout, gsi_error *err)
{
  const cf_stage *base;

  *out = NULL;
  *nout = 0;
  if (st->base_kind != CF_BASE_STAGE)
    return 0;
  base = &p->stages[st->base_stage];
  for (size_t i = 0; i < base->ncmds; i++)
    {
      const cf_cmd *ob = base->cmds[i];
      const cf_cmd *t = ob->kind == CF_CMD_ONBUILD ? ob->u.onbuild.trigger : NULL;
      ref_target rt;

      if (t == NULL)
        continue;
      if (t->kind == CF_CMD_COPY && t->u.copy.from && *t->u.copy.from)
        {
          if (resolve_ref (p, st->index, ob, t->u.copy.from, false, &rt, err) < 0)
            return -1;
          if (rt.kind == CF_BASE_STAGE)
            {
              *out = xrealloc (*out, (*nout + 1) * sizeof (int));
              (*out)[(*nout)++] = rt.stage;
            }
        }
      for (size_t j = 0; t->kind == CF_CMD_RUN && j < t->u.run.mount_specs.n; j++)
        {
          cleanup_error gsi_error e = GSI_ERROR_INIT;
          cf_mount m;
          if (cf_mount_parse (t->u.run.mount_specs.v[j], NULL, NULL, &m, &e) < 0)
            continue;
          if (m.from && *m.from && resolve_ref (p, st->index, ob, m.from, true, &rt, &e) == 0
              && rt.kind == CF_BASE_STAGE)
            {
              *out = xrealloc (*out, (*nout + 1) * sizeof (int));
              (*out)[(*nout)++] = rt.stage;
            }
          cf_mount_clear (&m);
        }
    }
  return 0;
}

typedef struct walk_result
{
  cf_step *steps;
  ref_list refs;
  cf_scope scope;
  gsi_strvec warnings;
} walk_result;

static void
walk_result_clear (walk_result *r, size_t nsteps)
{
  steps_free (r->steps, nsteps);
  refs_free (r->refs.v, r->refs.n);
  cf_scope_clear (&r->scope);
  gsi_strvec_clear (&r->warnings);
}

static int
walk_steps (cf_plan *p, cf_stage *st, walk_result *res, gsi_error *err)
{
  walker w = { .p = p, .st = st, .scope = &res->scope, .warnings = &res->warnings };

  for (size_t i = 0; i < st->ncmds; i++)
    {
      cf_step *step = &res->steps[i];
      int r;

      step->cmd = st->cmds[i];
      scope_copy (&step->scope, &res->scope);
      step->expanded = cf_cmd_clone (st->cmds[i]);
      w.cmd = st->cmds[i];
      w.step = i;
      w.exact = true;
      r = walk_cmd (&w, step->expanded, &res->refs, err);
      gsi_strvec_clear (&w.warned);
      if (r < 0)
        return -1;
      step->exact = w.exact;
    }
  return 0;
}

static int
walk_stage (cf_plan *p, size_t idx, const gsi_strvec *base_env, gsi_error *err)
{
  cf_stage *st = &p->stages[idx];
  walk_result res;
  int *ob = NULL;
  size_t nob = 0;

  memset (&res, 0, sizeof (res));
  res.steps = xcalloc (st->ncmds + 1, sizeof (cf_step));
  start_scope (p, st, base_env, &res.scope);
  if (walk_steps (p, st, &res, err) < 0 || onbuild_needs (p, st, &ob, &nob, err) < 0)
    {
      walk_result_clear (&res, st->ncmds);
      return -1;
    }
  steps_free (st->steps, st->steps ? st->ncmds : 0);
  refs_free (st->refs, st->nrefs);
  cf_scope_clear (&st->final_scope);
  gsi_strvec_clear (&st->warnings);
  free (st->onbuild_needs);
  st->steps = res.steps;
  st->refs = res.refs.v;
  st->nrefs = res.refs.n;
  st->final_scope = res.scope;
  st->warnings = res.warnings;
  st->onbuild_needs = ob;
  st->nonbuild_needs = nob;
  return 0;
}

static void
rebuild_warnings (cf_plan *p)
{
  gsi_strvec_clear (&p->warnings);
  for (size_t i = 0; i < p->global_warnings.n; i++)
    gsi_strvec_push (&p->warnings, p->global_warnings.v[i]);
  for (size_t s = 0; s < p->nstages; s++)
    for (size_t i = 0; i < p->stages[s].warnings.n; i++)
      gsi_strvec_push (&p->warnings, p->stages[s].warnings.v[i]);
}

int
cf_plan_walk_stage (cf_plan *p, size_t stage, const gsi_strvec *base_env, gsi_error *err)
{
  if (stage >= p->nstages)
    return gsi_error_set (err, 0, "no stage %zu in `%s`", stage, p->path);
  if (walk_stage (p, stage, base_env, err) < 0)
    return -1;
  rebuild_warnings (p);
  return 0;
}

/* ---- stages ------------------------------------------------------------------------------- */

static cf_stage *
new_stage (cf_plan *p, cf_cmd *from)
{
  cf_stage *st;

  p->stages = xrealloc (p->stages, (p->nstages + 1) * sizeof (*p->stages));
  st = &p->stages[p->nstages];
  memset (st, 0, sizeof (*st));
  st->index = p->nstages++;
  st->from = from;
  st->name = from->u.from.name ? xstrdup (from->u.from.name) : NULL;
  st->base = xstrdup (from->u.from.base);
  st->platform = from->u.from.platform ? xstrdup (from->u.from.platform) : NULL;
  st->base_stage = -1;
  st->line = from->line;
  st->col = from->col;
  return st;
}

static int
check_stage_name (cf_plan *p, const cf_cmd *from, gsi_error *err)
{
  const char *name = from->u.from.name;
  int dup;

  if (name == NULL)
    return 0;
  dup = find_stage (p, name);
  if (dup >= 0)
    return cmd_error (err, p, from, name, "duplicate stage name `%s` (stage %d on line %d has it already)", name, dup,
                      p->stages[dup].line);
  if (strcmp (name, "scratch") == 0 || strcmp (name, "context") == 0)
    add_warning (&p->global_warnings, p->path, from->line, cf_cmd_token_col (from, name),
                 "stage name `%s` is reserved and should not be used", name);
  return 0;
}

static void
add_cmd (cf_stage *st, cf_cmd *c)
{
  st->cmds = xrealloc (st->cmds, (st->ncmds + 1) * sizeof (*st->cmds));
  st->cmds[st->ncmds++] = c;
}

static int
place_cmd (cf_plan *p, cf_cmd *c, gsi_error *err)
{
  if (c->kind == CF_CMD_FROM)
    {
      if (check_stage_name (p, c, err) < 0)
        {
          cf_cmd_free (c);
          return -1;
        }
      new_stage (p, c);
      return 0;
    }
  if (p->nstages > 0)
    {
      add_cmd (&p->stages[p->nstages - 1], c);
      return 0;
    }
  if (c->kind == CF_CMD_ARG)
    {
      p->global_args = xrealloc (p->global_args, (p->nglobal + 1) * sizeof (*p->global_args));
      p->global_args[p->nglobal++] = c;
      return 0;
    }
  cmd_error (err, p, c, NULL, "%s before the first FROM: only ARG may come before it", cf_kind_name (c->kind));
  cf_cmd_free (c);
  return -1;
}

static int
split_stages (cf_plan *p, const cf_file *f, gsi_error *err)
{
  for (size_t i = 0; i < f->n; i++)
    {
      cf_cmd *c = NULL;
      if (cf_cmd_from_instr (f, &f->instrs[i], &c, err) < 0 || place_cmd (p, c, err) < 0)
        return -1;
    }
  if (p->nstages == 0)
    return gsi_error_at (err, p->path, 0, 0, "no FROM instruction: the Containerfile has no stage to build");
  return 0;
}

static int
resolve_target (cf_plan *p, const cf_plan_opts *opts, gsi_error *err)
{
  const char *t = opts ? opts->target : NULL;
  int found;

  if (t == NULL || *t == '\0')
    {
      p->target = p->nstages - 1;
      return 0;
    }
  found = find_stage (p, t);
  if (found < 0)
    return gsi_error_set (err, 0, "target stage `%s` could not be found in `%s`", t, p->path);
  p->target = (size_t) found;
  return 0;
}

/* ---- global ARGs and the automatic platform ARGs ------------------------------------------ */

typedef struct platform
{
  char *os;
  char *arch;
  char *variant;
} platform;

static void
platform_clear (platform *pl)
{
  free (pl->os);
  free (pl->arch);
  free (pl->variant);
}

static void
host_platform (platform *pl)
{
  static const struct
  {
    const char *machine, *arch, *variant;
  } map[] = {
    { "x86_64", "amd64", "" }, { "amd64", "amd64", "" },  { "aarch64", "arm64", "" }, { "arm64", "arm64", "" },
    { "armv7l", "arm", "v7" }, { "armv6l", "arm", "v6" }, { "i686", "386", "" },      { "i386", "386", "" },
    { "ppc64le", "ppc64le", "" }, { "s390x", "s390x", "" }, { "riscv64", "riscv64", "" },
  };
  struct utsname u;

  pl->os = xstrdup ("linux");
  if (uname (&u) == 0)
    for (size_t i = 0; i < sizeof (map) / sizeof (map[0]); i++)
      if (strcmp (u.machine, map[i].machine) == 0)
        {
          pl->arch = xstrdup (map[i].arch);
          pl->variant = xstrdup (map[i].variant);
          return;
        }
  pl->arch = xstrdup (uname (&u) == 0 ? u.machine : "amd64");
  pl->variant = xstrdup ("");
}

static bool
platform_part_ok (const char *s, size_t len)
{
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!isalnum ((unsigned char) s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

/* containerd's platforms.Parse, loosely: "os/arch[/variant]" or a lone "arch"/"os".  */
static bool
platform_syntax_ok (const char *s)
{
  size_t parts = 0;

  for (;;)
    {
      size_t len = strcspn (s, "/");
      if (!platform_part_ok (s, len) || ++parts > 3)
        return false;
      if (s[len] == '\0')
        return true;
      s += len + 1;
    }
}

static int
parse_platform (const char *s, platform *pl, gsi_error *err)
{
  const char *slash = strchr (s, '/');
  const char *slash2 = slash ? strchr (slash + 1, '/') : NULL;

  if (!platform_syntax_ok (s))
    return gsi_error_set (err, 0, "invalid platform `%s` (want os/arch[/variant])", s);
  if (slash == NULL)
    {
      pl->os = xstrdup ("linux");
      pl->arch = xstrdup (s);
      pl->variant = xstrdup ("");
      return 0;
    }
  pl->os = xstrndup (s, (size_t) (slash - s));
  pl->arch = slash2 ? xstrndup (slash + 1, (size_t) (slash2 - slash - 1)) : xstrdup (slash + 1);
  pl->variant = xstrdup (slash2 ? slash2 + 1 : "");
  return 0;
}

static char *
platform_format (const platform *pl)
{
  if (pl->variant[0] != '\0')
    return xasprintf ("%s/%s/%s", pl->os, pl->arch, pl->variant);
  return xasprintf ("%s/%s", pl->os, pl->arch);
}

static void
set_auto_arg (cf_plan *p, const char *name, const char *value)
{
  const char *bv = build_arg (p, name);
  scope_set (&p->globals, name, bv ? bv : value, CF_VAR_ARG, true);
}

/* dockerfile2llb's defaultArgs; build args may override each one.  */
static int
auto_args (cf_plan *p, const cf_plan_opts *opts, gsi_error *err)
{
  platform build = { NULL, NULL, NULL }, target = { NULL, NULL, NULL };
  cleanup_free char *bp = NULL;
  cleanup_free char *tp = NULL;
  const char *tname = p->stages[p->target].name;

  host_platform (&build);
  if (opts && opts->platform && parse_platform (opts->platform, &target, err) < 0)
    {
      platform_clear (&build);
      return -1;
    }
  if (target.os == NULL)
    host_platform (&target);
  bp = platform_format (&build);
  tp = platform_format (&target);
  set_auto_arg (p, "BUILDPLATFORM", bp);
  set_auto_arg (p, "BUILDOS", build.os);
  set_auto_arg (p, "BUILDOSVERSION", "");
  set_auto_arg (p, "BUILDARCH", build.arch);
  set_auto_arg (p, "BUILDVARIANT", build.variant);
  set_auto_arg (p, "TARGETPLATFORM", tp);
  set_auto_arg (p, "TARGETOS", target.os);
  set_auto_arg (p, "TARGETOSVERSION", "");
  set_auto_arg (p, "TARGETARCH", target.arch);
  set_auto_arg (p, "TARGETVARIANT", target.variant);
  set_auto_arg (p, "TARGETSTAGE", tname ? tname : "");
  platform_clear (&build);
  platform_clear (&target);
  return 0;
}

/* buildMetaArgs: each global ARG takes its build arg, else its default expanded with the globals
 * so far.  */
static int
global_args (cf_plan *p, gsi_error *err)
{
  walker w = { .p = p, .scope = &p->globals, .warnings = &p->global_warnings };

  for (size_t i = 0; i < p->nglobal; i++)
    {
      int r;
      w.cmd = p->global_args[i];
      w.exact = true;
      r = walk_arg (&w, p->global_args[i], err);
      gsi_strvec_clear (&w.warned);
      if (r < 0)
        return -1;
    }
  return 0;
}

/* ---- FROM --------------------------------------------------------------------------------- */

/* Expands a FROM word with the global scope; a name used but never declared as a global ARG is
 * an error (BuildKit only lints it, and then builds with an empty value).  */
static int
expand_from_word (cf_plan *p, const cf_cmd *from, const char *word, char **out, gsi_error *err)
{
  cleanup_strvec gsi_strvec matched = GSI_STRVEC_INIT;
  cleanup_strvec gsi_strvec unmatched = GSI_STRVEC_INIT;
  cleanup_error gsi_error e = GSI_ERROR_INIT;
  cf_env env = CF_ENV_INIT;
  cf_shell_opts so = { .escape = p->escape, .matched = &matched, .unmatched = &unmatched };
  int r;

  cf_scope_env (&p->globals, &env);
  r = cf_shell_expand (word, &env, &so, out, &e);
  cf_env_clear (&env);
  if (r < 0)
    return cmd_error (err, p, from, word, "%s", e.msg);
  for (size_t i = 0; i < unmatched.n; i++)
    if (cf_scope_get (&p->globals, unmatched.v[i]) == NULL)
      {
        free (*out);
        *out = NULL;
        return gsi_error_at (err, p->path, from->line, var_col (from, unmatched.v[i]),
                             "FROM uses undeclared ARG `%s`; declare it before the first FROM", unmatched.v[i]);
      }
  return 0;
}

static int
resolve_platform (cf_plan *p, cf_stage *st, gsi_error *err)
{
  if (st->platform == NULL)
    return 0;
  if (expand_from_word (p, st->from, st->platform, &st->platform_expanded, err) < 0)
    return -1;
  if (st->platform_expanded[0] == '\0')
    return cmd_error (err, p, st->from, "--platform", "FROM --platform `%s` is empty after expansion", st->platform);
  if (!platform_syntax_ok (st->platform_expanded))
    return cmd_error (err, p, st->from, "--platform", "invalid FROM --platform `%s` (want os/arch[/variant])",
                      st->platform_expanded);
  return 0;
}

static int
resolve_from (cf_plan *p, cf_stage *st, gsi_error *err)
{
  const char *b;
  int found;

  if (expand_from_word (p, st->from, st->base, &st->base_expanded, err) < 0 || resolve_platform (p, st, err) < 0)
    return -1;
  b = st->base_expanded;
  if (*b == '\0')
    return cmd_error (err, p, st->from, st->base, "FROM base `%s` is empty after expansion", st->base);
  found = find_stage (p, b);
  if (found >= 0 && (size_t) found < st->index)
    {
      st->base_kind = CF_BASE_STAGE;
      st->base_stage = found;
    }
  else if (strcmp (b, "scratch") == 0)
    st->base_kind = CF_BASE_SCRATCH;
  else if (cf_image_ref_valid (b))
    st->base_kind = CF_BASE_IMAGE;
  else if (strcmp (b, st->base) != 0)
    return cmd_error (err, p, st->from, st->base, "FROM base `%s` (from `%s`) is not a valid image reference", b,
                      st->base);
  else
    return cmd_error (err, p, st->from, st->base, "FROM base `%s` is not a valid image reference", b);
  return 0;
}

/* ---- needs -------------------------------------------------------------------------------- */

static void
mark_needs (const cf_plan *p, size_t s, bool *seen)
{
  const cf_stage *st;

  if (seen[s])
    return;
  seen[s] = true;
  st = &p->stages[s];
  if (st->base_kind == CF_BASE_STAGE)
    mark_needs (p, (size_t) st->base_stage, seen);
  for (size_t i = 0; i < st->nrefs; i++)
    if (st->refs[i].kind == CF_BASE_STAGE)
      mark_needs (p, (size_t) st->refs[i].stage, seen);
  for (size_t i = 0; i < st->nonbuild_needs; i++)
    mark_needs (p, (size_t) st->onbuild_needs[i], seen);
}

static void
compute_needs (cf_plan *p)
{
  cleanup_free bool *seen = xcalloc (p->nstages, sizeof (bool));

  mark_needs (p, p->target, seen);
  free (p->needs);
  p->needs = xcalloc (p->nstages, sizeof (size_t));
  p->nneeds = 0;
  for (size_t i = 0; i < p->nstages; i++)
    if (seen[i])
      p->needs[p->nneeds++] = i;
}

bool
cf_plan_needs (const cf_plan *p, size_t stage)
{
  for (size_t i = 0; i < p->nneeds; i++)
    if (p->needs[i] == stage)
      return true;
  return false;
}

/* ---- the plan ----------------------------------------------------------------------------- */

static int
copy_build_args (cf_plan *p, const cf_plan_opts *opts, gsi_error *err)
{
  const gsi_strvec *ba = opts ? opts->build_args : NULL;

  for (size_t i = 0; ba && i < ba->n; i++)
    {
      const char *eq = strchr (ba->v[i], '=');
      if (eq == NULL)
        return gsi_error_set (err, 0, "build arg `%s` has no value (want NAME=VALUE)", ba->v[i]);
      if (eq == ba->v[i])
        return gsi_error_set (err, 0, "build arg `%s` has no name (want NAME=VALUE)", ba->v[i]);
      gsi_strvec_push (&p->build_args, ba->v[i]);
    }
  return 0;
}

static int
plan_fill (cf_plan *p, const cf_file *f, const cf_plan_opts *opts, gsi_error *err)
{
  if (copy_build_args (p, opts, err) < 0 || split_stages (p, f, err) < 0 || resolve_target (p, opts, err) < 0
      || auto_args (p, opts, err) < 0 || global_args (p, err) < 0)
    return -1;
  for (size_t i = 0; i < p->nstages; i++)
    if (resolve_from (p, &p->stages[i], err) < 0)
      return -1;
  for (size_t i = 0; i < p->nstages; i++)
    if (walk_stage (p, i, NULL, err) < 0)
      return -1;
  compute_needs (p);
  rebuild_warnings (p);
  return 0;
}

int
cf_plan_build (const cf_file *f, const cf_plan_opts *opts, cf_plan **out, gsi_error *err)
{
  cf_plan *p = xcalloc (1, sizeof (*p));

  *out = NULL;
  p->path = xstrdup (f->path ? f->path : "Containerfile");
  p->escape = f->escape ? f->escape : '\\';
  if (plan_fill (p, f, opts, err) < 0)
    {
      cf_plan_free (p);
      return -1;
    }
  *out = p;
  return 0;
}

static void
stage_free (cf_stage *st)
{
  free (st->name);
  free (st->base);
  free (st->base_expanded);
  free (st->platform);
  free (st->platform_expanded);
  cf_cmd_free (st->from);
  steps_free (st->steps, st->steps ? st->ncmds : 0);
  for (size_t i = 0; i < st->ncmds; i++)
    cf_cmd_free (st->cmds[i]);
  free (st->cmds);
  cf_scope_clear (&st->final_scope);
  refs_free (st->refs, st->nrefs);
  free (st->onbuild_needs);
  gsi_strvec_clear (&st->warnings);
}

void
cf_plan_free (cf_plan *p)
{
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->nstages; i++)
    stage_free (&p->stages[i]);
  free (p->stages);
  for (size_t i = 0; i < p->nglobal; i++)
    cf_cmd_free (p->global_args[i]);
  free (p->global_args);
  cf_scope_clear (&p->globals);
  gsi_strvec_clear (&p->build_args);
  free (p->needs);
  gsi_strvec_clear (&p->warnings);
  gsi_strvec_clear (&p->global_warnings);
  free (p->path);
  free (p);
}

const gsi_strvec *
cf_plan_warnings (const cf_plan *p)
{
  return &p->warnings;
}

const cf_stage *
cf_plan_find_stage (const cf_plan *p, const char *name)
{
  int i = find_stage (p, name);
  return i < 0 ? NULL : &p->stages[i];
}

static void
format_kind (gsi_buf *out, cf_base_kind kind, int stage)
{
  switch (kind)
    {
    case CF_BASE_STAGE:
      gsi_buf_addf (out, "(stage %d)\n", stage);
      break;
    case CF_BASE_SCRATCH:
      gsi_buf_addstr (out, "(scratch)\n");
      break;
    case CF_BASE_IMAGE:
    default:
      gsi_buf_addstr (out, "(image)\n");
      break;
    }
}

void
cf_plan_format_check (const cf_plan *p, gsi_buf *out)
{
  for (size_t i = 0; i < p->nstages; i++)
    {
      const cf_stage *st = &p->stages[i];
      gsi_buf_addf (out, "stage %zu ", i);
      if (st->name)
        gsi_buf_addf (out, "%s ", st->name);
      gsi_buf_addf (out, "from %s ", st->base_expanded);
      format_kind (out, st->base_kind, st->base_stage);
    }
  for (size_t i = 0; i < p->nstages; i++)
    for (size_t j = 0; j < p->stages[i].nrefs; j++)
      {
        const cf_ref *r = &p->stages[i].refs[j];
        gsi_buf_addf (out, "copy-from stage %zu line %d: %s ", i, r->line, r->value);
        format_kind (out, r->kind, r->stage);
      }
  gsi_buf_addf (out, "target %zu", p->target);
  if (p->stages[p->target].name)
    gsi_buf_addf (out, " %s", p->stages[p->target].name);
  gsi_buf_addstr (out, "\nneeds");
  for (size_t i = 0; i < p->nneeds; i++)
    gsi_buf_addf (out, " %zu", p->needs[i]);
  gsi_buf_addch (out, '\n');
}
