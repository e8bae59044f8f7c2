/* COPY and ADD of local files: which files a source list names, their content hash for the build
 * cache, and the copy itself into an image root, with BuildKit's path rules.  */
#ifndef GSI_BUILD_COPY_H
#define GSI_BUILD_COPY_H

#include <stdbool.h>
#include <sys/types.h>

#include "containerfile/ignore.h"
#include "util/error.h"
#include "util/strvec.h"

/* A symbolic --chmod (dockerfile 1.14+: "u+x", "go-w", "a=rX", "u=rwx,go=u-w"), parsed into the
 * steps chmod(1) would take.  Each copied entry gets the steps applied to its own source mode.  As
 * in BuildKit (BSD setmode semantics), a clause without u/g/o/a is masked by the builder's umask,
 * taken to be 022 as a BuildKit daemon's; X adds x bits only with '+', and only to a directory or
 * to an entry that had an x bit.  */
typedef struct gsi_chmod_step
{
  char op;              /* '+', '-', 'X' (conditional add), or 'u'/'g'/'o': copy that class's bits */
  bool clear, set;      /* copy steps: clear the target classes first / set the copied bits */
  unsigned char to;     /* copy steps: target classes, bit 0 user, 1 group, 2 other */
  mode_t bits;          /* the bits the step may touch */
} gsi_chmod_step;

#define GSI_CHMOD_MAX_STEPS 32

typedef struct gsi_chmod_prog
{
  gsi_chmod_step steps[GSI_CHMOD_MAX_STEPS];
  size_t n;
} gsi_chmod_prog;

/* Parses a symbolic mode; an error names the text.  Octal modes are not symbolic: see
 * gsi_copy_spec.mode.  */
int gsi_chmod_parse (const char *text, gsi_chmod_prog *prog, gsi_error *err);
/* The permission bits (07777) of an entry of mode st_mode (type bits included) after prog.  */
mode_t gsi_chmod_apply (const gsi_chmod_prog *prog, mode_t st_mode);

typedef struct gsi_copy_spec
{
  int src_root_fd;          /* the build context, or the root of a stage or image (--from) */
  const char *src_label;    /* "build context", "stage `build`": for messages */
  const cf_ignore *ignore;  /* .dockerignore for the context, else NULL */
  const cf_ignore *exclude; /* --exclude patterns, else NULL */
  const char *const *sources; /* expanded source paths as written (wildcards allowed) */
  size_t nsources;
  const char *dest;         /* expanded, absolute destination inside the image */
  bool dest_is_dir;         /* the destination was written with a trailing '/' */
  bool keep_owner;          /* --from copies keep uid/gid; context files become 0:0 */
  bool chown;               /* --chown given: uid/gid below */
  uid_t uid;
  gid_t gid;
  bool chmod;               /* --chmod given: mode below (permission bits) */
  mode_t mode;
  const gsi_chmod_prog *chmod_prog; /* symbolic --chmod, applied per entry; NULL when none */
  bool parents;             /* --parents: keep each source's path below dest */
} gsi_copy_spec;

/* Expands the sources into the matching paths (relative to the source root, sorted, excluded ones
 * dropped).  A source that matches nothing is an error naming it.  */
int gsi_copy_resolve (const gsi_copy_spec *s, gsi_strvec *matches, gsi_error *err);

/* SHA-256 over every file the copy would take: relative path, type, permission bits, owner when kept,
 * symlink target and content — never mtimes, so a touch does not bust the cache but any edit does.
 * out receives 64 hex digits and a NUL.  */
int gsi_copy_hash (const gsi_copy_spec *s, char out[65], gsi_error *err);

/* Copies into the image root dest_root_fd.  */
int gsi_copy_apply (const gsi_copy_spec *s, int dest_root_fd, gsi_error *err);

#endif
