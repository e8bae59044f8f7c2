/* The semantic pass over a parsed Containerfile, as BuildKit's dockerfile2llb does it before it
 * builds anything: stages and their bases, the global ARG scope that FROM lines see, the ARG/ENV
 * scope of every instruction, what each stage needs (FROM <stage>, COPY --from, RUN --mount from=)
 * and the build target.
 *
 * Scope rules (dockerfile2llb):
 *   - ARGs before the first FROM are global: visible in FROM lines only (image and --platform),
 *     together with the automatic platform ARGs (BUILDPLATFORM, TARGETARCH, ...).  A build arg
 *     overrides a declared global ARG's default.
 *   - Inside a stage, `ARG X` takes the build arg, else the global value of X; `ARG X=v` takes the
 *     build arg, else v expanded.  ENV sets a variable.  A stage built FROM another stage starts
 *     with that stage's scope; one built from an image starts with the image's environment.
 *   - ADD, COPY (--chown, --chmod, sources, destination), ENV, EXPOSE, LABEL, STOPSIGNAL, USER,
 *     VOLUME, WORKDIR, ARG defaults and RUN --mount values are expanded; RUN, CMD, ENTRYPOINT,
 *     SHELL, HEALTHCHECK, ONBUILD and COPY --from are not.
 *
 * The first walk (in cf_plan_build) cannot know a base image's environment: variables that may
 * come from it are marked unknown and steps using them inexact.  The build engine walks a stage
 * again with cf_plan_walk_stage once it has the base image's config.  */
#ifndef GSI_CF_STAGES_H
#define GSI_CF_STAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "containerfile/ast.h"
#include "containerfile/instructions.h"
#include "containerfile/shell.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"

typedef enum cf_base_kind
{
  CF_BASE_IMAGE,
  CF_BASE_SCRATCH,
  CF_BASE_STAGE,
} cf_base_kind;

typedef enum cf_var_origin
{
  CF_VAR_BASE, /* the base image's environment (or PATH, which BuildKit always sets) */
  CF_VAR_ARG,
  CF_VAR_ENV,
} cf_var_origin;

typedef struct cf_var
{
  char *name;
  char *value; /* NULL: an ARG declared without a value (expands to nothing, draws no warning) */
  cf_var_origin origin;
  bool known;  /* false when the value depends on a base image environment not yet known */
} cf_var;

typedef struct cf_scope
{
  cf_var *vars;
  size_t n;
  size_t alloc;
  bool base_unknown; /* the base image's environment is not known: unset names may come from it */
} cf_scope;

/* NULL when name is not in scope.  */
const cf_var *cf_scope_get (const cf_scope *s, const char *name);
/* Sets env to NAME=VALUE for each variable of s that has a value.  */
void cf_scope_env (const cf_scope *s, cf_env *env);
void cf_scope_clear (cf_scope *s);

/* One instruction of a stage after a walk.  */
typedef struct cf_step
{
  const cf_cmd *cmd;  /* as written (owned by the stage) */
  cf_cmd *expanded;   /* the same with the words BuildKit expands expanded; RUN mounts parsed;
                         ARG values resolved (build arg, global, or expanded default) */
  cf_scope scope;     /* the ARG/ENV scope in effect when the instruction runs */
  bool exact;         /* no unknown variable went into the expansion */
} cf_step;

/* A COPY --from or RUN --mount from= of a stage.  */
typedef struct cf_ref
{
  size_t step;  /* index into the stage's steps */
  int line;
  int col;
  bool mount;   /* RUN --mount from= (else COPY --from) */
  char *value;  /* as written (BuildKit does not expand it) */
  cf_base_kind kind;
  int stage;    /* kind == CF_BASE_STAGE: the stage index, else -1 */
} cf_ref;

typedef struct cf_stage
{
  size_t index;
  char *name;              /* lower case; NULL for an unnamed stage */
  char *base;              /* as written */
  char *base_expanded;     /* with the global ARGs */
  cf_base_kind base_kind;
  int base_stage;          /* base_kind == CF_BASE_STAGE: its index, else -1 */
  char *platform;          /* FROM --platform as written, NULL without it */
  char *platform_expanded; /* NULL without --platform */
  int line;
  int col;
  cf_cmd *from;            /* the FROM instruction */
  cf_cmd **cmds;           /* the stage's instructions, typed, as written */
  size_t ncmds;
  cf_step *steps;          /* ncmds entries, from the last walk */
  cf_scope final_scope;    /* the scope after the last instruction */
  cf_ref *refs;            /* in file order */
  size_t nrefs;
  int *onbuild_needs;      /* stages a base stage's ONBUILD COPY --from / mount pulls in */
  size_t nonbuild_needs;
  gsi_strvec warnings;     /* this stage's warnings from the last walk */
} cf_stage;

typedef struct cf_plan_opts
{
  const char *target;           /* stage name; NULL or "" for the last stage */
  const gsi_strvec *build_args; /* "NAME=VALUE" each; NULL for none */
  const char *platform;         /* target platform "os/arch[/variant]"; NULL for the host's */
} cf_plan_opts;

typedef struct cf_plan
{
  char *path;                 /* the Containerfile, for messages */
  char escape;
  cf_cmd **global_args;       /* ARGs before the first FROM, as written */
  size_t nglobal;
  cf_scope globals;           /* what FROM lines see: automatic platform ARGs and global ARGs */
  gsi_strvec build_args;      /* "NAME=VALUE" */
  cf_stage *stages;
  size_t nstages;
  size_t target;
  size_t *needs;              /* ascending stage indexes the target needs, itself included */
  size_t nneeds;
  gsi_strvec warnings;        /* all warnings, "FILE:LINE:COL: warning: ...", global ones first */
  gsi_strvec global_warnings; /* the part of warnings that no stage walk owns */
} cf_plan;

/* Builds the plan and walks every stage once without base image environments.  Errors are located
 * ("FILE:LINE:COL: cause"): unknown or misplaced flags and bad values, FROM using an ARG not
 * declared before the first FROM, a FROM base empty or not an image reference after expansion,
 * duplicate stage names, a COPY --from / --mount from= naming neither an earlier stage nor an
 * image; an unknown --target is an error too.  Undefined variables elsewhere are warnings.  */
int cf_plan_build (const cf_file *f, const cf_plan_opts *opts, cf_plan **out, gsi_error *err);
void cf_plan_free (cf_plan *p);

/* Walks stage again.  With base_env ("NAME=VALUE", the base image's config Env) the stage starts
 * from that environment (PATH added if missing, as BuildKit does); with NULL it starts from its
 * base stage's final scope, or for an image base from an unknown environment.  Replaces the
 * stage's steps, final scope, refs and warnings.  */
int cf_plan_walk_stage (cf_plan *p, size_t stage, const gsi_strvec *base_env, gsi_error *err);

const gsi_strvec *cf_plan_warnings (const cf_plan *p);
/* Case-insensitive; NULL when no stage has that name.  */
const cf_stage *cf_plan_find_stage (const cf_plan *p, const char *name);
bool cf_plan_needs (const cf_plan *p, size_t stage);

/* Appends what `gsi containerfile check` prints, one line each:
 *   stage <index> [<name>] from <expanded base> (<image|scratch|stage N>)
 *   copy-from stage <index> line <N>: <value> (<image|scratch|stage N>)   (file order)
 *   target <index> [<name>]
 *   needs <i> <j> ...  */
void cf_plan_format_check (const cf_plan *p, gsi_buf *out);

/* The PATH BuildKit gives a Linux stage whose base sets none.  */
#define CF_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#endif
