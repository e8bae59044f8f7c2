#include "copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fsutil.h"
#include "util/buf.h"
#include "util/xalloc.h"

static bool
has_glob (const char *s)
{
  return strpbrk (s, "*?[") != NULL;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* .dockerignore paths are relative to the context; --exclude patterns, as BuildKit's copier
 * matches them, to the copied source directory (sub) for what lies below a matched source.  */
static bool
is_excluded (const gsi_copy_spec *s, const char *rel, const char *sub)
{
  if (s->ignore && cf_ignore_excluded_as_walked (s->ignore, rel))
    return true;
  if (s->exclude && cf_ignore_excluded (s->exclude, sub && *sub ? sub : rel))
    return true;
  return false;
}

/* Lists dir (relative to the source root, "." for the root) sorted.  */
static int
list_dir (int root_fd, const char *dir, gsi_strvec *names, gsi_error *err)
{
  int fd = gsi_open_in_root (root_fd, dir, O_RDONLY | O_DIRECTORY, 0, err);
  if (fd < 0)
    return -1;
  cleanup_dir DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return gsi_error_set (err, errno, "fdopendir `%s`", dir);
    }
  struct dirent *de;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      gsi_strvec_push (names, de->d_name);
  if (names->n)
    qsort (names->v, names->n, sizeof (char *), cmp_str);
  return 0;
}

static char *
rel_join (const char *dir, const char *name)
{
  if (strcmp (dir, ".") == 0)
    return xstrdup (name);
  return xasprintf ("%s/%s", dir, name);
}

/* Wildcards match one path component each, as Go's filepath.Match does (no special leading dot). */
static int
glob_source (const gsi_copy_spec *s, const char *pattern, gsi_strvec *out, gsi_error *err)
{
  cleanup_free char *clean = gsi_path_clean (pattern[0] == '/' ? pattern + 1 : pattern);
  cleanup_strvec gsi_strvec cur = GSI_STRVEC_INIT;
  char *save = NULL;

  gsi_strvec_push (&cur, ".");
  for (char *comp = strtok_r (clean, "/", &save); comp; comp = strtok_r (NULL, "/", &save))
    {
      gsi_strvec next = GSI_STRVEC_INIT;
      for (size_t i = 0; i < cur.n; i++)
        {
          if (!has_glob (comp))
            {
              char *p = rel_join (cur.v[i], comp);
              struct stat st;
              cleanup_close int fd = gsi_open_in_root (s->src_root_fd, p, O_PATH, 0, NULL);
              if (fd >= 0 && fstat (fd, &st) == 0)
                gsi_strvec_push_owned (&next, p);
              else
                free (p);
              continue;
            }
          cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
          if (list_dir (s->src_root_fd, cur.v[i], &names, NULL) < 0)
            continue;
          for (size_t j = 0; j < names.n; j++)
            if (fnmatch (comp, names.v[j], 0) == 0)
              gsi_strvec_push_owned (&next, rel_join (cur.v[i], names.v[j]));
        }
      gsi_strvec_clear (&cur);
      cur = next;
    }
  for (size_t i = 0; i < cur.n; i++)
    if (!is_excluded (s, cur.v[i], NULL) || strcmp (cur.v[i], ".") == 0)
      gsi_strvec_push (out, cur.v[i]);
  (void) err;
  return 0;
}

int
gsi_copy_resolve (const gsi_copy_spec *s, gsi_strvec *matches, gsi_error *err)
{
  for (size_t i = 0; i < s->nsources; i++)
    {
      size_t before = matches->n;
      if (glob_source (s, s->sources[i], matches, err) < 0)
        return -1;
      if (matches->n == before)
        return gsi_error_set (err, 0, "%s: `%s` not found in %s", has_glob (s->sources[i]) ? "no source files match" : "source",
                              s->sources[i], s->src_label);
    }
  return 0;
}

/* A walk over one matched source: calls fn for the source itself and, for a directory, every entry
 * below it in sorted order, parents first.  rel is relative to the source root; sub is relative to
 * the matched source (what lands below the destination).  */
typedef int (*walk_fn) (void *ctx, int fd, const struct stat *st, const char *rel, const char *sub, gsi_error *err);

static int walk_dir (const gsi_copy_spec *s, int dfd, const char *rel, const char *sub, walk_fn fn, void *ctx,
                     gsi_error *err);

static int
walk_entry (const gsi_copy_spec *s, int parent_fd, const char *name, const char *rel, const char *sub, walk_fn fn,
            void *ctx, gsi_error *err)
{
  struct stat st;
  if (fstatat (parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return gsi_error_set (err, errno, "stat `%s` in %s", rel, s->src_label);
  bool excluded = is_excluded (s, rel, sub);
  if (excluded && !(S_ISDIR (st.st_mode) && s->ignore && cf_ignore_may_include_below (s->ignore, rel)))
    return 0;
  int flags = S_ISDIR (st.st_mode) ? O_RDONLY | O_DIRECTORY : S_ISREG (st.st_mode) ? O_RDONLY : O_PATH;
  cleanup_close int fd = openat (parent_fd, name, flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "open `%s` in %s", rel, s->src_label);
  if (!excluded && fn (ctx, fd, &st, rel, sub, err) < 0)
    return -1;
  if (S_ISDIR (st.st_mode))
    return walk_dir (s, fd, rel, sub, fn, ctx, err);
  return 0;
}

static int
walk_dir (const gsi_copy_spec *s, int dfd, const char *rel, const char *sub, walk_fn fn, void *ctx, gsi_error *err)
{
  cleanup_strvec gsi_strvec names = GSI_STRVEC_INIT;
  int fd2 = dup (dfd);
  if (fd2 < 0)
    return gsi_error_set (err, errno, "dup");
  cleanup_dir DIR *d = fdopendir (fd2);
  if (d == NULL)
    {
      close (fd2);
      return gsi_error_set (err, errno, "read directory `%s`", rel);
    }
  struct dirent *de;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      gsi_strvec_push (&names, de->d_name);
  if (names.n)
    qsort (names.v, names.n, sizeof (char *), cmp_str);
  for (size_t i = 0; i < names.n; i++)
    {
      cleanup_free char *r = rel_join (rel, names.v[i]);
      cleanup_free char *u = sub[0] ? xasprintf ("%s/%s", sub, names.v[i]) : xstrdup (names.v[i]);
      if (walk_entry (s, dfd, names.v[i], r, u, fn, ctx, err) < 0)
        return -1;
    }
  return 0;
}

/* Walks one matched source; the source path itself follows symlinks (inside the root), as
 * BuildKit's COPY does, while links below it are copied as links.  */
static int
walk_source (const gsi_copy_spec *s, const char *match, walk_fn fn, void *ctx, gsi_error *err)
{
  cleanup_close int pfd = gsi_open_in_root (s->src_root_fd, match, O_PATH, 0, err);
  struct stat st;
  if (pfd < 0)
    return gsi_error_wrap (err, "%s", s->src_label);
  if (fstat (pfd, &st) < 0)
    return gsi_error_set (err, errno, "stat `%s`", match);
  int flags = S_ISDIR (st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY;
  cleanup_close int fd = gsi_open_in_root (s->src_root_fd, match, flags, 0, err);
  if (fd < 0)
    return -1;
  if (S_ISDIR (st.st_mode))
    {
      /* A directory source contributes its contents, not itself. */
      if (fn (ctx, fd, &st, match, "", err) < 0)
        return -1;
      return walk_dir (s, fd, strcmp (match, ".") == 0 ? "." : match, "", fn, ctx, err);
    }
  return fn (ctx, fd, &st, match, NULL, err);
}

/* ---- hashing ---- */

static int
hash_entry (void *ctx, int fd, const struct stat *st, const char *rel, const char *sub, gsi_error *err)
{
  EVP_MD_CTX *md = ctx;
  gsi_buf h = GSI_BUF_INIT;
  (void) rel;
  gsi_buf_addf (&h, "%s%c%o", sub ? sub : "<file>", 0, (unsigned) st->st_mode);
  gsi_buf_addf (&h, "%c%lld", 0, (long long) st->st_size);
  EVP_DigestUpdate (md, h.buf, h.len + 1);
  gsi_buf_release (&h);
  if (S_ISLNK (st->st_mode))
    {
      char target[4096];
      ssize_t n = readlinkat (fd, "", target, sizeof target);
      if (n < 0)
        return gsi_error_set (err, errno, "readlink `%s`", rel);
      EVP_DigestUpdate (md, target, (size_t) n);
    }
  else if (S_ISREG (st->st_mode))
    {
      char buf[1 << 16];
      ssize_t n;
      while ((n = read (fd, buf, sizeof buf)) != 0)
        {
          if (n < 0)
            {
              if (errno == EINTR)
                continue;
              return gsi_error_set (err, errno, "read `%s`", rel);
            }
          EVP_DigestUpdate (md, buf, (size_t) n);
        }
    }
  return 0;
}

typedef struct hash_ctx
{
  EVP_MD_CTX *md;
  bool keep_owner;
} hash_ctx;

static int
hash_visit (void *ctx, int fd, const struct stat *st, const char *rel, const char *sub, gsi_error *err)
{
  hash_ctx *h = ctx;
  if (h->keep_owner)
    {
      char o[64];
      int n = snprintf (o, sizeof o, "%u:%u", (unsigned) st->st_uid, (unsigned) st->st_gid);
      EVP_DigestUpdate (h->md, o, (size_t) n);
    }
  return hash_entry (h->md, fd, st, rel, sub, err);
}

int
gsi_copy_hash (const gsi_copy_spec *s, char out[65], gsi_error *err)
{
  cleanup_strvec gsi_strvec matches = GSI_STRVEC_INIT;
  hash_ctx h = { EVP_MD_CTX_new (), s->keep_owner };
  unsigned char md[32];
  unsigned len = 0;
  int ret = 0;

  if (h.md == NULL || !EVP_DigestInit_ex (h.md, EVP_sha256 (), NULL))
    return gsi_error_set (err, 0, "sha256: cannot initialise");
  ret = gsi_copy_resolve (s, &matches, err);
  for (size_t i = 0; ret == 0 && i < matches.n; i++)
    {
      EVP_DigestUpdate (h.md, matches.v[i], strlen (matches.v[i]) + 1);
      ret = walk_source (s, matches.v[i], hash_visit, &h, err);
    }
  if (ret == 0)
    {
      EVP_DigestFinal_ex (h.md, md, &len);
      for (unsigned i = 0; i < 32; i++)
        snprintf (out + 2 * i, 3, "%02x", md[i]);
    }
  EVP_MD_CTX_free (h.md);
  return ret;
}

/* ---- copying ---- */

typedef struct link_seen
{
  dev_t dev;
  ino_t ino;
  char *dest; /* path in the image of the first copy */
} link_seen;

typedef struct copy_ctx
{
  const gsi_copy_spec *s;
  int dest_root;
  const char *base;   /* destination directory for a directory source, or the file's final path */
  bool single_file;
  link_seen *links;
  size_t nlinks, alloc_links;
} copy_ctx;

static void
owner_of (const copy_ctx *c, const struct stat *st, uid_t *uid, gid_t *gid)
{
  if (c->s->chown)
    {
      *uid = c->s->uid;
      *gid = c->s->gid;
    }
  else if (c->s->keep_owner)
    {
      *uid = st->st_uid;
      *gid = st->st_gid;
    }
  else
    {
      *uid = 0;
      *gid = 0;
    }
}

/* ---- symbolic --chmod ---------------------------------------------------------------------------- */

#define CHMOD_UMASK 022
#define CHMOD_STD_BITS (S_ISUID | S_ISGID | 0777) /* what "a" and a bare "=" cover: not the sticky bit */

static int
chmod_push (gsi_chmod_prog *p, gsi_chmod_step st, const char *text, gsi_error *err)
{
  if (p->n == GSI_CHMOD_MAX_STEPS)
    return gsi_error_set (err, 0, "invalid chmod parameter: `%s`: too many clauses", text);
  p->steps[p->n++] = st;
  return 0;
}

/* +, - or = of perm for who; without who the umask limits what is set or cleared, except that a
 * bare "=" still clears everything first.  */
static int
chmod_push_perm (gsi_chmod_prog *p, char op, mode_t who, mode_t perm, const char *text, gsi_error *err)
{
  mode_t scope = who ? who : (mode_t) (~CHMOD_UMASK & 07777);

  if (op == '=')
    {
      gsi_chmod_step clr = { .op = '-', .bits = who ? who : CHMOD_STD_BITS };
      if (chmod_push (p, clr, text, err) < 0)
        return -1;
      op = '+';
    }
  gsi_chmod_step st = { .op = op, .bits = scope & perm };
  return chmod_push (p, st, text, err);
}

/* "g=u", "o+g", "u-o": the classes in who take (=), gain (+) or lose (-) the bits class src has.  */
static int
chmod_push_copy (gsi_chmod_prog *p, char op, mode_t who, char src, const char *text, gsi_error *err)
{
  gsi_chmod_step st = { .op = src, .clear = op != '+', .set = op != '-' };

  if (who)
    {
      st.to = (who & S_IRUSR ? 1 : 0) | (who & S_IRGRP ? 2 : 0) | (who & S_IROTH ? 4 : 0);
      st.bits = 07777;
    }
  else
    {
      st.to = 7;
      st.bits = ~CHMOD_UMASK & 07777;
    }
  return chmod_push (p, st, text, err);
}

static mode_t
chmod_who (char c)
{
  switch (c)
    {
    case 'u':
      return S_ISUID | S_IRWXU;
    case 'g':
      return S_ISGID | S_IRWXG;
    case 'o':
      return S_IRWXO;
    case 'a':
      return CHMOD_STD_BITS;
    default:
      return 0;
    }
}

/* One operator and what follows it up to the next operator, ',' or the end; *q is past the
 * operator.  Permission letters gather until a class letter (a copy) or the end flushes them.  */
static int
chmod_parse_op (gsi_chmod_prog *p, char op, mode_t who, const char **q, const char *text, gsi_error *err)
{
  mode_t perm = 0;
  mode_t permx = 0;
  bool eq_done = false;
  gsi_chmod_step x = { .op = 'X' };

  who &= ~(mode_t) S_ISVTX;
  for (;; (*q)++)
    {
      char c = **q;
      if (c == 'r' || c == 'w' || c == 'x')
        perm |= c == 'r' ? 0444 : c == 'w' ? 0222 : 0111;
      else if (c == 'X')
        permx = op == '+' ? 0111 : 0;
      else if (c == 's' || c == 't')
        {
          /* Set-id and sticky bits mean nothing for "o" alone.  */
          if (who != 0 && (who & ~(mode_t) S_IRWXO) == 0)
            continue;
          perm |= c == 's' ? S_ISUID | S_ISGID : S_ISVTX;
          who |= c == 't' ? S_ISVTX : 0;
        }
      else if (c == 'u' || c == 'g' || c == 'o')
        {
          if (perm && chmod_push_perm (p, op, who, perm, text, err) < 0)
            return -1;
          perm = 0;
          eq_done = eq_done || op == '=';
          x.bits = (who ? who : (mode_t) (~CHMOD_UMASK & 07777)) & permx;
          if (permx && chmod_push (p, x, text, err) < 0)
            return -1;
          permx = 0;
          if (chmod_push_copy (p, op, who, c, text, err) < 0)
            return -1;
        }
      else
        break;
    }
  if ((perm || (op == '=' && !eq_done)) && chmod_push_perm (p, op, who, perm, text, err) < 0)
    return -1;
  x.bits = (who ? who : (mode_t) (~CHMOD_UMASK & 07777)) & permx;
  return permx && chmod_push (p, x, text, err) < 0 ? -1 : 0;
}

int
gsi_chmod_parse (const char *text, gsi_chmod_prog *prog, gsi_error *err)
{
  const char *q = text;

  prog->n = 0;
  for (;;)
    {
      mode_t who = 0;
      for (; *q && chmod_who (*q); q++)
        who |= chmod_who (*q);
      if (*q != '+' && *q != '-' && *q != '=')
        return gsi_error_set (err, 0, "invalid chmod parameter: `%s`: invalid syntax", text);
      while (*q == '+' || *q == '-' || *q == '=')
        {
          char op = *q++;
          if (chmod_parse_op (prog, op, who, &q, text, err) < 0)
            return -1;
        }
      if (*q == '\0')
        return 0;
      if (*q != ',' || q[1] == '\0')
        return gsi_error_set (err, 0, "invalid chmod parameter: `%s`: invalid syntax", text);
      q++;
    }
}

static mode_t
chmod_copy (const gsi_chmod_step *st, mode_t cur)
{
  int shift = st->op == 'u' ? 6 : st->op == 'g' ? 3 : 0;
  mode_t value = (cur >> shift) & 07;
  mode_t clr = st->set ? 07 : value;

  for (int k = 0; k < 3; k++)
    {
      if (!(st->to & (1 << k)))
        continue;
      int to_shift = 6 - 3 * k;
      if (st->clear)
        cur &= ~((clr << to_shift) & st->bits);
      if (st->set)
        cur |= (value << to_shift) & st->bits;
    }
  return cur;
}

mode_t
gsi_chmod_apply (const gsi_chmod_prog *prog, mode_t st_mode)
{
  mode_t old = st_mode & 07777;
  mode_t cur = old;

  for (size_t i = 0; i < prog->n; i++)
    {
      const gsi_chmod_step *st = &prog->steps[i];
      if (st->op == '+')
        cur |= st->bits;
      else if (st->op == '-')
        cur &= ~st->bits;
      else if (st->op == 'X')
        cur |= (old & 0111) || S_ISDIR (st_mode) ? st->bits : 0;
      else
        cur = chmod_copy (st, cur);
    }
  return cur & 07777;
}

static mode_t
mode_of (const copy_ctx *c, const struct stat *st)
{
  if (c->s->chmod_prog)
    return gsi_chmod_apply (c->s->chmod_prog, st->st_mode);
  return c->s->chmod ? c->s->mode : (st->st_mode & 07777);
}

/* Makes room for a new entry at name in dfd: an existing directory stays when a directory comes,
 * anything else is replaced.  */
static int
clear_target (int dfd, const char *name, bool want_dir, const char *path, gsi_error *err)
{
  struct stat st;
  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : gsi_error_set (err, errno, "stat `%s`", path);
  if (want_dir && S_ISDIR (st.st_mode))
    return 1;
  return gsi_rm_rf_at (dfd, name, err);
}

static int
set_meta (int dfd, const char *name, const copy_ctx *c, const struct stat *st, const char *path, gsi_error *err)
{
  uid_t uid;
  gid_t gid;
  owner_of (c, st, &uid, &gid);
  if (fchownat (dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return gsi_error_set (err, errno, "chown `%s`", path);
  if (!S_ISLNK (st->st_mode) && fchmodat (dfd, name, mode_of (c, st), 0) < 0)
    return gsi_error_set (err, errno, "chmod `%s`", path);
  struct timespec ts[2] = { st->st_atim, st->st_mtim };
  if (utimensat (dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return gsi_error_set (err, errno, "set times of `%s`", path);
  return 0;
}

static int
copy_one (copy_ctx *c, int src_fd, const struct stat *st, const char *dest, gsi_error *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *name = NULL;
  uid_t uid;
  gid_t gid;

  owner_of (c, st, &uid, &gid);
  gsi_path_split (dest, &dir, &name);
  /* Parents that do not exist yet get the --chown owner, as BuildKit creates them. */
  cleanup_close int dfd = gsi_mkdir_p_in_root (c->dest_root, dir, 0755, c->s->chown ? c->s->uid : 0,
                                               c->s->chown ? c->s->gid : 0, err);
  if (dfd < 0)
    return -1;
  /* dfd is O_PATH; *at calls accept it, but creating files needs a real directory fd. */
  cleanup_close int wfd = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (wfd < 0)
    return gsi_error_set (err, errno, "open `%s`", dir);
  if (strcmp (name, ".") == 0)
    return 0;

  int kept = clear_target (wfd, name, S_ISDIR (st->st_mode), dest, err);
  if (kept < 0)
    return -1;

  if (S_ISREG (st->st_mode) && st->st_nlink > 1)
    {
      for (size_t i = 0; i < c->nlinks; i++)
        if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino)
          {
            cleanup_close int lfd = gsi_open_in_root (c->dest_root, c->links[i].dest, O_PATH, 0, err);
            if (lfd < 0)
              return -1;
            if (linkat (lfd, "", wfd, name, AT_EMPTY_PATH) < 0)
              return gsi_error_set (err, errno, "link `%s` to `%s`", dest, c->links[i].dest);
            return 0;
          }
      GSI_ALLOC_GROW (c->links, c->nlinks + 1, c->alloc_links);
      c->links[c->nlinks++] = (link_seen){ st->st_dev, st->st_ino, xstrdup (dest) };
    }

  if (S_ISDIR (st->st_mode))
    {
      if (!kept && mkdirat (wfd, name, 0700) < 0)
        return gsi_error_set (err, errno, "mkdir `%s`", dest);
    }
  else if (S_ISREG (st->st_mode))
    {
      cleanup_close int out = openat (wfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (out < 0)
        return gsi_error_set (err, errno, "create `%s`", dest);
      if (gsi_copy_data (src_fd, out, err) < 0 || gsi_copy_xattrs (src_fd, out, err) < 0)
        return gsi_error_wrap (err, "copy to `%s`", dest);
    }
  else if (S_ISLNK (st->st_mode))
    {
      char target[4096];
      ssize_t n = readlinkat (src_fd, "", target, sizeof target - 1);
      if (n < 0)
        return gsi_error_set (err, errno, "readlink for `%s`", dest);
      target[n] = '\0';
      if (symlinkat (target, wfd, name) < 0)
        return gsi_error_set (err, errno, "symlink `%s`", dest);
    }
  else if (mknodat (wfd, name, st->st_mode, st->st_rdev) < 0)
    return gsi_error_set (err, errno, "mknod `%s`", dest);

  return set_meta (wfd, name, c, st, dest, err);
}

static int
copy_visit (void *ctx, int fd, const struct stat *st, const char *rel, const char *sub, gsi_error *err)
{
  copy_ctx *c = ctx;
  cleanup_free char *dest = NULL;
  (void) rel;

  if (sub == NULL) /* a file source: c->base is its final path */
    dest = xstrdup (c->base);
  else if (sub[0] == '\0') /* the directory source itself: its contents go to base */
    {
      struct stat dst = *st;
      if (c->s->parents)
        return copy_one (c, fd, &dst, c->base, err);
      /* The destination directory takes the source directory's mode only if it is new. */
      cleanup_close int e = gsi_open_in_root (c->dest_root, c->base, O_PATH, 0, NULL);
      if (e >= 0)
        return 0;
      return copy_one (c, fd, &dst, c->base, err);
    }
  else
    dest = gsi_path_join (c->base, sub);
  return copy_one (c, fd, st, dest, err);
}

static bool
dest_is_existing_dir (int root, const char *dest)
{
  struct stat st;
  cleanup_close int fd = gsi_open_in_root (root, dest, O_PATH, 0, NULL);
  return fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode);
}

int
gsi_copy_apply (const gsi_copy_spec *s, int dest_root_fd, gsi_error *err)
{
  cleanup_strvec gsi_strvec matches = GSI_STRVEC_INIT;
  copy_ctx c = { .s = s, .dest_root = dest_root_fd };
  int ret;

  if (gsi_copy_resolve (s, &matches, err) < 0)
    return -1;
  bool many = matches.n > 1 || s->nsources > 1;
  for (size_t i = 0; i < s->nsources; i++)
    many = many || has_glob (s->sources[i]);
  if (many && !s->dest_is_dir && !dest_is_existing_dir (dest_root_fd, s->dest))
    return gsi_error_set (err, 0, "when copying more than one source the destination `%s` must be a directory "
                                  "and end with a /", s->dest);

  ret = 0;
  for (size_t i = 0; ret == 0 && i < matches.n; i++)
    {
      cleanup_free char *base = NULL;
      struct stat st;
      cleanup_close int pfd = gsi_open_in_root (s->src_root_fd, matches.v[i], O_PATH, 0, err);
      if (pfd < 0 || fstat (pfd, &st) < 0)
        {
          ret = gsi_error_wrap (err, "%s", s->src_label);
          break;
        }
      if (s->parents)
        base = gsi_path_join (s->dest, matches.v[i]);
      else if (S_ISDIR (st.st_mode))
        base = xstrdup (s->dest);
      else if (s->dest_is_dir || many || dest_is_existing_dir (dest_root_fd, s->dest))
        {
          cleanup_free char *d = NULL;
          cleanup_free char *b = NULL;
          gsi_path_split (matches.v[i], &d, &b);
          base = gsi_path_join (s->dest, b);
        }
      else
        base = xstrdup (s->dest);
      c.base = base;
      ret = walk_source (s, matches.v[i], copy_visit, &c, err);
    }
  for (size_t i = 0; i < c.nlinks; i++)
    free (c.links[i].dest);
  free (c.links);
  return ret;
}
