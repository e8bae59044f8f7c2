/* Typed Containerfile instructions, as BuildKit's frontend/dockerfile/instructions package types them.
 *
 * cf_cmd_from_instr turns one cf_instr of the syntax tree into a cf_cmd: flags checked against what
 * the instruction accepts (unknown, misplaced, repeated or malformed ones are located errors
 * "FILE:LINE:COL: cause"), arguments counted and split into typed fields.  Nothing is expanded here:
 * every string is as written (quotes included where the parser kept them).  Variable expansion, and
 * the checks BuildKit makes only after it (chmod, signals, ports, mount keys), happen in the walk of
 * stages.h, which fills a second cf_cmd of the same shape with the expanded values.  */
#ifndef GSI_CF_INSTRUCTIONS_H
#define GSI_CF_INSTRUCTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "containerfile/ast.h"
#include "util/error.h"
#include "util/strvec.h"

typedef enum cf_kind
{
  CF_CMD_FROM,
  CF_CMD_ARG,
  CF_CMD_ENV,
  CF_CMD_LABEL,
  CF_CMD_RUN,
  CF_CMD_CMD,
  CF_CMD_ENTRYPOINT,
  CF_CMD_COPY,
  CF_CMD_ADD,
  CF_CMD_WORKDIR,
  CF_CMD_USER,
  CF_CMD_EXPOSE,
  CF_CMD_VOLUME,
  CF_CMD_SHELL,
  CF_CMD_STOPSIGNAL,
  CF_CMD_HEALTHCHECK,
  CF_CMD_ONBUILD,
  CF_CMD_MAINTAINER,
} cf_kind;

/* An ARG, ENV or LABEL pair.  ARG: has_value is false for `ARG NAME`.  ENV/LABEL: always has a
 * value; no_delim marks the legacy `ENV NAME value` form.  */
typedef struct cf_kv
{
  char *key;
  char *value; /* NULL when !has_value */
  bool has_value;
  bool no_delim;
} cf_kv;

typedef enum cf_mount_type
{
  CF_MOUNT_BIND,
  CF_MOUNT_CACHE,
  CF_MOUNT_TMPFS,
  CF_MOUNT_SECRET,
  CF_MOUNT_SSH,
} cf_mount_type;

typedef enum cf_sharing
{
  CF_SHARING_UNSET, /* the engine's default, shared */
  CF_SHARING_SHARED,
  CF_SHARING_PRIVATE,
  CF_SHARING_LOCKED,
} cf_sharing;

/* One RUN --mount, after expansion and BuildKit's validation.  */
typedef struct cf_mount
{
  cf_mount_type type;
  char *from;   /* stage or image; NULL when not given */
  char *source; /* NULL when not given */
  char *target; /* NULL when not given */
  char *id;     /* cache or secret id; NULL when not given */
  char *env;    /* secret: environment variable to expose it as; NULL when not given */
  cf_sharing sharing;
  bool readonly; /* defaults: cache and tmpfs writable, the others read-only */
  bool required; /* secret and ssh only */
  bool has_mode, has_uid, has_gid, has_size;
  uint32_t mode, uid, gid;
  int64_t size; /* tmpfs, bytes */
} cf_mount;

typedef enum cf_network
{
  CF_NETWORK_DEFAULT,
  CF_NETWORK_NONE,
  CF_NETWORK_HOST,
} cf_network;

typedef enum cf_security
{
  CF_SECURITY_SANDBOX,
  CF_SECURITY_INSECURE,
} cf_security;

/* RUN, CMD, ENTRYPOINT.  Exec form: args is the argv.  Shell form: args holds one string, the
 * command line, to be run as SHELL + [line]; prepend_shell is set.  files are the heredoc bodies
 * (RUN only), in order.  */
typedef struct cf_cmdline
{
  gsi_strvec args;
  bool prepend_shell;
  cf_heredoc *files;
  size_t nfiles;
} cf_cmdline;

typedef struct cf_from_cmd
{
  char *base;     /* as written (expanded in stages.h with the global ARGs) */
  char *name;     /* lower case, NULL without AS */
  char *platform; /* --platform, NULL when not given */
} cf_from_cmd;

typedef struct cf_kvs_cmd
{
  cf_kv *kv;
  size_t n;
} cf_kvs_cmd;

typedef struct cf_run_cmd
{
  cf_cmdline line;
  gsi_strvec mount_specs; /* each --mount value as written */
  cf_mount *mounts;       /* parsed mount_specs: set only in an expanded (walked) cf_cmd */
  size_t nmounts;
  cf_network network;
  cf_security security;
} cf_run_cmd;

/* COPY and ADD.  sources holds the path sources; heredoc sources are in contents (name = the file
 * name, content, expand).  */
typedef struct cf_copy_cmd
{
  gsi_strvec sources;
  cf_heredoc *contents;
  size_t ncontents;
  char *dest;
  char *from;     /* COPY --from, NULL when not given */
  char *chown;    /* NULL when not given */
  char *chmod;    /* NULL when not given */
  char *checksum; /* ADD only; NULL when not given */
  bool link;
  bool parents;      /* COPY only */
  bool keep_git_dir; /* ADD only */
  bool unpack_set;   /* ADD --unpack given */
  bool unpack;
  gsi_strvec excludes;
} cf_copy_cmd;

/* HEALTHCHECK.  none: HEALTHCHECK NONE (test is ["NONE"]).  Otherwise test is ["CMD", argv...] or
 * ["CMD-SHELL", line]; durations in nanoseconds, 0 when not given.  */
typedef struct cf_health_cmd
{
  bool none;
  gsi_strvec test;
  int64_t interval;
  int64_t timeout;
  int64_t start_period;
  int64_t start_interval;
  int retries;
} cf_health_cmd;

typedef struct cf_cmd cf_cmd;

/* ONBUILD: expression is the trigger's text (what goes into the image config's OnBuild list);
 * trigger is the same instruction typed.  */
typedef struct cf_onbuild_cmd
{
  char *expression;
  cf_cmd *trigger;
} cf_onbuild_cmd;

struct cf_cmd
{
  cf_kind kind;
  int line;       /* first line */
  int end_line;   /* last line, heredoc bodies included */
  int col;        /* column of the keyword */
  char *original; /* the instruction as written */
  gsi_strvec flags; /* "--name=value" as written */
  union
  {
    cf_from_cmd from;       /* FROM */
    cf_kvs_cmd kvs;         /* ARG, ENV, LABEL */
    cf_run_cmd run;         /* RUN */
    cf_cmdline cmdline;     /* CMD, ENTRYPOINT */
    cf_copy_cmd copy;       /* COPY, ADD */
    char *value;            /* WORKDIR, USER, STOPSIGNAL, MAINTAINER */
    gsi_strvec list;        /* EXPOSE ports, VOLUME paths, SHELL argv */
    cf_health_cmd health;   /* HEALTHCHECK */
    cf_onbuild_cmd onbuild; /* ONBUILD */
  } u;
};

/* Types in (an instruction of f).  Returns -1 with a located error "PATH:LINE:COL: cause" for an
 * unknown instruction, a flag the instruction does not take, a malformed flag value, or wrong
 * arguments.  */
int cf_cmd_from_instr (const cf_file *f, const cf_instr *in, cf_cmd **out, gsi_error *err);
void cf_cmd_free (cf_cmd *c);
cf_cmd *cf_cmd_clone (const cf_cmd *c);
/* "RUN", "COPY", ... */
const char *cf_kind_name (cf_kind k);

/* Column of token inside in's first line, or in->col when it cannot be placed exactly (not found,
 * or the instruction continues over several lines).  */
int cf_instr_token_col (const cf_instr *in, const char *token);
int cf_cmd_token_col (const cf_cmd *c, const char *token);

/* Go's time.ParseDuration ("1m30s", "250ms", "1.5h"; "0" alone needs no unit).  */
int cf_parse_duration (const char *s, int64_t *ns, gsi_error *err);

/* A word expander for cf_mount_parse (BuildKit expands every mount value).  */
typedef int (*cf_expand_fn) (void *data, const char *word, char **out, gsi_error *err);

/* Parses one --mount value (CSV of key=value fields) as BuildKit's parseMount does, expanding each
 * value with expand (NULL: take values literally), then validates the combination.  Unlocated
 * errors; the caller places them.  out is filled only on success (free with cf_mount_clear).  */
int cf_mount_parse (const char *spec, cf_expand_fn expand, void *data, cf_mount *out, gsi_error *err);
void cf_mount_clear (cf_mount *m);
const char *cf_mount_type_name (cf_mount_type t);

/* The checks BuildKit makes on expanded values.  Unlocated errors.  */
int cf_check_chmod (const char *mode, gsi_error *err);        /* octal <= 07777 or symbolic (u+x,g-w) */
int cf_parse_signal (const char *sig, int *signo, gsi_error *err); /* 9, KILL, SIGKILL, SIGRTMIN+3 */
/* Appends "PORT/PROTO" for each port of spec ("80", "8000-8002/udp", "127.0.0.1:80:80").  */
int cf_parse_port_spec (const char *spec, gsi_strvec *out, gsi_error *err);

/* Whether ref is a syntactically valid image reference: [domain[:port]/]path[:tag][@digest] with a
 * lower-case path and a sha256 (64 hex) or sha512 (128 hex) digest.  */
bool cf_image_ref_valid (const char *ref);
/* Whether name is a valid stage name: [a-z][a-z0-9-_.]* once lowered.  */
bool cf_stage_name_valid (const char *name);

#endif
