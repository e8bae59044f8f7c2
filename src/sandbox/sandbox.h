/* Run one process in new namespaces on an overlayfs root: the executor behind RUN and `gsi run`.
 *
 * gsi_sandbox_run forks a monitor that unshares the mount, PID, IPC and UTS namespaces (and the
 * network namespace for GSI_SANDBOX_NET_NONE), mounts the root, forks PID 1 (a tiny reaper), which
 * sets up /proc, /dev, /sys and the extra mounts, pivots into the root and forks the command.
 * All mounts live in the private mount namespace, so the kernel removes them when the last process
 * in it is gone; the call returns only after that.
 *
 * The upper directory afterwards holds only the command's own changes (and the working directory
 * when it had to be created, as docker does for WORKDIR): mount points the image lacks (/proc,
 * /dev, /sys, /etc/resolv.conf, /etc/hosts, mount targets) come from a private stub layer placed
 * between the image's layers and the upper dir, never from the upper dir itself.  With a plain
 * rootfs (no overlay) the stubs are created in the rootfs and removed again after the run unless
 * the command put content there.
 *
 * As in a Docker RUN, the command runs as the given user (root by default) with Docker's default
 * capability bounding set, a masked /proc, read-only /sys, its own /dev and the host's
 * resolv.conf and hosts read-only.  There is no device cgroup, so the root, the binds and /dev are
 * mounted nodev: device nodes can be created (they belong in images) but only /dev's own opened.
 *
 * Needs root (CAP_SYS_ADMIN in the initial user namespace).  */
#ifndef GSI_SANDBOX_H
#define GSI_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

typedef enum gsi_sandbox_network
{
  GSI_SANDBOX_NET_HOST, /* share the host's network namespace */
  GSI_SANDBOX_NET_NONE, /* a new network namespace with only lo, brought up */
} gsi_sandbox_network;

typedef enum gsi_sandbox_mount_type
{
  /* source (a host file or directory) bound at target, recursively; read-only when readonly.
   * RUN --mount=type=bind and type=cache (source = the cache directory).  */
  GSI_SANDBOX_MOUNT_BIND,
  /* a fresh tmpfs at target (size bytes, 0 = kernel default; mode, 0 = 01777).  */
  GSI_SANDBOX_MOUNT_TMPFS,
  /* RUN --mount=type=secret: the content of the host file source is copied to a private tmpfs
   * (it never reaches the image or the upper dir) and bound read-only at target (the caller passes
   * /run/secrets/<id> by default) with mode (0 = 0400), uid and gid.  */
  GSI_SANDBOX_MOUNT_SECRET,
} gsi_sandbox_mount_type;

typedef struct gsi_sandbox_mount
{
  gsi_sandbox_mount_type type;
  const char *source;      /* host path; bind and secret */
  const char *target;      /* absolute path in the container; symlinks resolve inside the root */
  bool readonly;           /* bind, tmpfs */
  unsigned long long size; /* tmpfs */
  mode_t mode;             /* tmpfs, secret */
  uid_t uid;               /* secret owner */
  gid_t gid;
} gsi_sandbox_mount;

/* Called for each line of output (without its '\n'; a line longer than 64 KiB arrives in
 * pieces; a last line without '\n' arrives at the end).  stream is 1 (stdout) or 2 (stderr).  */
typedef void (*gsi_sandbox_line_fn) (void *ctx, int stream, const char *line, size_t len);

/* The last `max` lines seen, oldest first: what an error message shows of a failed RUN.  */
typedef struct gsi_line_tail
{
  char **lines; /* ring of max slots */
  size_t max;
  size_t n;     /* slots in use (<= max) */
  size_t next;  /* slot the next line goes to */
} gsi_line_tail;

void gsi_line_tail_init (gsi_line_tail *t, size_t max);
void gsi_line_tail_add (gsi_line_tail *t, const char *line, size_t len);
/* The kept lines joined by '\n' (no trailing newline), oldest first; "" when none.  Caller frees.  */
char *gsi_line_tail_join (const gsi_line_tail *t);
void gsi_line_tail_clear (gsi_line_tail *t);

typedef struct gsi_sandbox_opts
{
  /* The root: an overlay of lower_dirs (top first; may be empty, as for FROM scratch) with
   * upper_dir and work_dir (same filesystem as upper_dir), or, when rootfs is set, that directory
   * used in place.  */
  char *const *lower_dirs;
  size_t n_lower;
  const char *upper_dir;
  const char *work_dir;
  const char *rootfs;
  /* Where the private mount point directory is made (and removed afterwards); NULL = $TMPDIR or
   * /tmp.  */
  const char *scratch_dir;

  char *const *argv;   /* NULL-terminated, exec'd directly; PATH (from env) is searched when
                          argv[0] has no '/' */
  char *const *env;    /* NULL-terminated "K=V" list; NULL = empty */
  const char *cwd;     /* absolute; created (0755, root) when missing; NULL = "/" */

  /* The user: when user is set it is a Docker USER spec resolved against the container's
   * etc/passwd and etc/group (see passwd.h), and HOME is added to the environment when missing;
   * otherwise uid, gid and groups are used as given.  */
  const char *user;
  uid_t uid;
  gid_t gid;
  const gid_t *groups;
  size_t n_groups;

  const char *hostname; /* NULL = "gsi" */
  gsi_sandbox_network network;
  const gsi_sandbox_mount *mounts; /* mounted in order, after /proc, /dev, /sys, resolv.conf, hosts */
  size_t n_mounts;
  /* Host files bound read-only at /etc/resolv.conf and /etc/hosts; NULL = the host's /etc ones,
   * "" = none.  */
  const char *resolv_conf;
  const char *hosts;
  /* Keep every capability, leave /proc unmasked and allow device nodes (RUN
   * --security=insecure).  Otherwise the bounding set is Docker's default one.  */
  bool privileged;

  int stdin_fd;  /* -1 = /dev/null */
  /* Used when neither on_line nor tail is set; -1 = /dev/null.  */
  int stdout_fd;
  int stderr_fd;
  /* When either is set, stdout and stderr go through pipes and arrive here line by line.  */
  gsi_sandbox_line_fn on_line;
  void *on_line_ctx;
  gsi_line_tail *tail;
} gsi_sandbox_opts;

#define GSI_SANDBOX_OPTS_INIT { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 }

/* Runs o->argv in the sandbox and waits for it.  On success returns 0 and sets *exit_status to
 * the command's exit code, or 128+N when it was killed by signal N.  Returns -1 with err set (and
 * *exit_status = -1) when the sandbox could not be set up or the command could not be started,
 * e.g. "exec `/bin/foo`: No such file or directory": a command that runs and fails is not an
 * error.  */
int gsi_sandbox_run (const gsi_sandbox_opts *o, int *exit_status, gsi_error *err);

#endif
