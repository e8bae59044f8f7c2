/* Registry credentials (docker config.json, containers auth.json, docker-credential-* helpers) and
 * the WWW-Authenticate challenge parser.  See auth.h.  */
#include "registry/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/strvec.h"
#include "util/xalloc.h"

extern char **environ;

#define DOCKER_HUB_KEY "https://index.docker.io/v1/"
#define MAX_AUTH_FILE ((size_t) 16 << 20)

void
gsi_credentials_clear (gsi_credentials *c)
{
  if (c == NULL)
    return;
  if (c->password)
    explicit_bzero (c->password, strlen (c->password));
  if (c->identity_token)
    explicit_bzero (c->identity_token, strlen (c->identity_token));
  free (c->username);
  free (c->password);
  free (c->identity_token);
  free (c->source);
  *c = (gsi_credentials) GSI_CREDENTIALS_INIT;
}

/* ---- base64 ----------------------------------------------------------------------------------- */

static const char b64_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode (const char *in, size_t n)
{
  char *out = xmalloc (n / 3 * 4 + 8), *o = out;
  const unsigned char *p = (const unsigned char *) in;

  for (size_t i = 0; i < n; i += 3)
    {
      unsigned v = (unsigned) p[i] << 16 | (i + 1 < n ? (unsigned) p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
      *o++ = b64_tbl[v >> 18 & 63];
      *o++ = b64_tbl[v >> 12 & 63];
      *o++ = i + 1 < n ? b64_tbl[v >> 6 & 63] : '=';
      *o++ = i + 2 < n ? b64_tbl[v & 63] : '=';
    }
  *o = '\0';
  return out;
}

static int
b64_val (int ch)
{
  const char *p = ch ? strchr (b64_tbl, ch) : NULL;
  return p ? (int) (p - b64_tbl) : -1;
}

/* Standard alphabet; padding optional; whitespace and anything else rejected.  Returns a
 * NUL-terminated malloc'd buffer (the decoded bytes may contain NULs: *len is the truth).  */
static char *
b64_decode (const char *s, size_t *len)
{
  size_t n = strlen (s), pad = 0, o = 0;
  unsigned acc = 0;
  int bits = 0;
  char *out;

  while (n > 0 && s[n - 1] == '=' && pad < 2)
    {
      n--;
      pad++;
    }
  if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
    return NULL;
  out = xmalloc (n / 4 * 3 + 4);
  for (size_t i = 0; i < n; i++)
    {
      int v = b64_val ((unsigned char) s[i]);
      if (v < 0)
        {
          free (out);
          return NULL;
        }
      acc = (acc << 6 | (unsigned) v) & 0xffffff;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[o++] = (char) (acc >> bits & 0xff);
        }
    }
  /* Leftover bits must be zero (a canonical encoding).  */
  if (bits && (acc & ((1u << bits) - 1)) != 0)
    {
      free (out);
      return NULL;
    }
  out[o] = '\0';
  *len = o;
  return out;
}

/* ---- files ------------------------------------------------------------------------------------ */

static char *
home_dir (void)
{
  const char *h = getenv ("HOME");
  struct passwd *pw;

  if (h && *h)
    return xstrdup (h);
  pw = getpwuid (getuid ());
  return xstrdup (pw && pw->pw_dir ? pw->pw_dir : "/");
}

static char *
explicit_authfile (const char *authfile)
{
  const char *env = getenv ("REGISTRY_AUTH_FILE");

  if (authfile && *authfile)
    return xstrdup (authfile);
  if (env && *env)
    return xstrdup (env);
  return NULL;
}

static char *
docker_config_path (void)
{
  const char *dc = getenv ("DOCKER_CONFIG");
  cleanup_free char *home = NULL;

  if (dc && *dc)
    return xasprintf ("%s/config.json", dc);
  home = home_dir ();
  return xasprintf ("%s/.docker/config.json", home);
}

static void
candidate_files (const char *authfile, gsi_strvec *out)
{
  char *explicit_path = explicit_authfile (authfile);
  const char *xdg = getenv ("XDG_RUNTIME_DIR");
  cleanup_free char *home = home_dir ();

  if (explicit_path)
    gsi_strvec_push_owned (out, explicit_path);
  if (xdg && *xdg)
    gsi_strvec_pushf (out, "%s/containers/auth.json", xdg);
  gsi_strvec_pushf (out, "%s/.config/containers/auth.json", home);
  gsi_strvec_push_owned (out, docker_config_path ());
}

/* Loads path; *root NULL (and 0) when it does not exist.  */
static int
load_json_file (const char *path, json_t **root, gsi_error *err)
{
  json_error_t jerr;
  struct stat st;
  FILE *f;

  *root = NULL;
  f = fopen (path, "r");
  if (f == NULL)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return 0;
      return gsi_error_set (err, errno, "open `%s`", path);
    }
  if (fstat (fileno (f), &st) == 0 && (size_t) st.st_size > MAX_AUTH_FILE)
    {
      fclose (f);
      return gsi_error_set (err, 0, "`%s`: file too large", path);
    }
  if (st.st_size == 0)
    {
      fclose (f);
      *root = json_object ();
      return 0;
    }
  *root = json_loadf (f, 0, &jerr);
  fclose (f);
  if (*root == NULL)
    return gsi_error_at (err, path, jerr.line, jerr.column, "invalid JSON: %s", jerr.text);
  if (!json_is_object (*root))
    {
      json_decref (*root);
      *root = NULL;
      return gsi_error_set (err, 0, "`%s`: not a JSON object", path);
    }
  return 0;
}

static bool
is_docker_hub (const char *domain)
{
  return strcmp (domain, "docker.io") == 0 || strcmp (domain, "index.docker.io") == 0
         || strcmp (domain, "registry-1.docker.io") == 0;
}

/* "https://host:port/v1/" -> "host:port"; malloc'd.  */
static char *
key_hostname (const char *key)
{
  const char *p = key;

  if (strncasecmp (p, "https://", 8) == 0)
    p += 8;
  else if (strncasecmp (p, "http://", 7) == 0)
    p += 7;
  return xstrndup (p, strcspn (p, "/"));
}

static bool
key_matches (const char *key, const char *domain)
{
  cleanup_free char *h = key_hostname (key);

  if (is_docker_hub (domain))
    return is_docker_hub (h);
  return strcasecmp (h, domain) == 0;
}

/* The key of obj for domain: an exact key first, then one that names the same host.  */
static const char *
find_key (json_t *obj, const char *domain)
{
  const char *key;
  json_t *v;

  if (!json_is_object (obj))
    return NULL;
  if (json_object_get (obj, domain))
    return json_object_iter_key (json_object_iter_at (obj, domain));
  if (is_docker_hub (domain) && json_object_get (obj, DOCKER_HUB_KEY))
    return json_object_iter_key (json_object_iter_at (obj, DOCKER_HUB_KEY));
  json_object_foreach (obj, key, v)
    if (key_matches (key, domain))
      return key;
  return NULL;
}

/* ---- credential helpers ----------------------------------------------------------------------- */

static int
write_all (int fd, const char *s, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, s, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return -1;
      s += w;
      n -= (size_t) w;
    }
  return 0;
}

/* Runs docker-credential-NAME ACTION with input on stdin; *out gets stdout, *status the wait status.  */
static int
run_helper (const char *name, const char *action, const char *input, gsi_buf *out, int *status, gsi_error *err)
{
  cleanup_free char *prog = xasprintf ("docker-credential-%s", name);
  char *argv[] = { prog, (char *) action, NULL };
  posix_spawn_file_actions_t fa;
  int in[2] = { -1, -1 }, outp[2] = { -1, -1 };
  sigset_t block, old;
  pid_t pid;
  int r, werr = 0;
  char buf[4096];
  ssize_t n;

  if (strchr (name, '/') != NULL || *name == '\0')
    return gsi_error_set (err, 0, "invalid credential helper name `%s`", name);
  if (pipe2 (in, O_CLOEXEC) < 0)
    return gsi_error_set (err, errno, "pipe");
  if (pipe2 (outp, O_CLOEXEC) < 0)
    {
      close (in[0]);
      close (in[1]);
      return gsi_error_set (err, errno, "pipe");
    }
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2 (&fa, outp[1], STDOUT_FILENO);
  r = posix_spawnp (&pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  close (in[0]);
  close (outp[1]);
  if (r != 0)
    {
      close (in[1]);
      close (outp[0]);
      return gsi_error_set (err, r, "run credential helper `%s`", prog);
    }

  /* A helper that exits without reading stdin must not kill us with SIGPIPE.  */
  sigemptyset (&block);
  sigaddset (&block, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &block, &old);
  if (write_all (in[1], input, strlen (input)) < 0)
    werr = errno;
  close (in[1]);
  if (werr == EPIPE)
    {
      struct timespec zero = { 0, 0 };
      sigset_t pending;
      sigpending (&pending);
      if (sigismember (&pending, SIGPIPE) && !sigismember (&old, SIGPIPE))
        sigtimedwait (&block, NULL, &zero);
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);

  while ((n = read (outp[0], buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      if (out->len < ((size_t) 1 << 20))
        gsi_buf_add (out, buf, (size_t) n);
    }
  close (outp[0]);
  while (waitpid (pid, status, 0) < 0)
    if (errno != EINTR)
      return gsi_error_set (err, errno, "waitpid `%s`", prog);
  return 0;
}

static int
helper_get (const char *name, const char *domain, gsi_credentials *out, gsi_error *err)
{
  const char *server = is_docker_hub (domain) ? DOCKER_HUB_KEY : domain;
  gsi_buf o = GSI_BUF_INIT;
  json_t *root;
  const char *user, *secret;
  int status = 0;

  if (run_helper (name, "get", server, &o, &status, err) < 0)
    {
      gsi_buf_release (&o);
      return -1;
    }
  if (strstr (o.buf, "credentials not found") != NULL)
    {
      gsi_buf_release (&o);
      return 0;
    }
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      gsi_buf_rtrim (&o, " \t\r\n");
      gsi_error_set (err, 0, "credential helper docker-credential-%s failed (%s %d)%s%s", name,
                     WIFEXITED (status) ? "exit status" : "signal",
                     WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status), o.len ? ": " : "", o.buf);
      gsi_buf_release (&o);
      return -1;
    }
  root = json_loadb (o.buf, o.len, 0, NULL);
  explicit_bzero (o.buf, o.len);
  gsi_buf_release (&o);
  user = json_string_value (json_object_get (root, "Username"));
  secret = json_string_value (json_object_get (root, "Secret"));
  if (!json_is_object (root) || secret == NULL)
    {
      json_decref (root);
      return gsi_error_set (err, 0, "credential helper docker-credential-%s: answer is not {\"Username\",\"Secret\"}",
                            name);
    }
  /* Docker's convention: the user "<token>" means Secret is an identity (refresh) token.  */
  if (user && strcmp (user, "<token>") == 0)
    {
      out->identity_token = xstrdup (secret);
      out->username = xstrdup ("<token>");
      out->password = xstrdup ("");
    }
  else
    {
      out->username = xstrdup (user ? user : "");
      out->password = xstrdup (secret);
    }
  out->source = xasprintf ("docker-credential-%s", name);
  json_decref (root);
  return 0;
}

/* ---- lookup ----------------------------------------------------------------------------------- */

/* 1 when this file knows the domain (out filled), 0 when not, -1 on error.  */
static int
lookup_in_file (const char *path, const char *domain, gsi_credentials *out, gsi_error *err)
{
  json_t *root = NULL, *helpers, *auths, *entry;
  const char *key, *store;
  int ret = 0;

  if (load_json_file (path, &root, err) < 0)
    return -1;
  if (root == NULL)
    return 0;
  helpers = json_object_get (root, "credHelpers");
  key = find_key (helpers, domain);
  if (key && json_is_string (json_object_get (helpers, key)))
    {
      ret = helper_get (json_string_value (json_object_get (helpers, key)), domain, out, err);
      if (ret == 0 && out->username)
        ret = 1;
      if (ret != 0)
        goto done;
    }
  store = json_string_value (json_object_get (root, "credsStore"));
  if (store && *store)
    {
      ret = helper_get (store, domain, out, err);
      if (ret == 0 && out->username)
        ret = 1;
      if (ret != 0)
        goto done;
    }
  auths = json_object_get (root, "auths");
  key = find_key (auths, domain);
  entry = key ? json_object_get (auths, key) : NULL;
  if (json_is_object (entry))
    {
      const char *a = json_string_value (json_object_get (entry, "auth"));
      const char *idt = json_string_value (json_object_get (entry, "identitytoken"));
      if (a && *a)
        {
          size_t len;
          char *dec = b64_decode (a, &len);
          char *colon = dec ? memchr (dec, ':', len) : NULL;
          if (colon == NULL || memchr (dec, '\0', len) != NULL)
            {
              free (dec);
              ret = gsi_error_set (err, 0, "`%s`: auths[\"%s\"].auth is not base64 of user:password", path, key);
              goto done;
            }
          out->username = xstrndup (dec, (size_t) (colon - dec));
          out->password = xstrdup (colon + 1);
          explicit_bzero (dec, len);
          free (dec);
        }
      if (idt && *idt)
        {
          out->identity_token = xstrdup (idt);
          if (out->username == NULL)
            {
              out->username = xstrdup ("<token>");
              out->password = xstrdup ("");
            }
        }
      if (out->username)
        {
          out->source = xstrdup (path);
          ret = 1;
        }
    }
done:
  json_decref (root);
  if (ret < 0)
    gsi_credentials_clear (out);
  return ret;
}

int
gsi_credentials_lookup (const char *authfile, const char *domain, gsi_credentials *out, gsi_error *err)
{
  cleanup_strvec gsi_strvec files = GSI_STRVEC_INIT;

  *out = (gsi_credentials) GSI_CREDENTIALS_INIT;
  candidate_files (authfile, &files);
  for (size_t i = 0; i < files.n; i++)
    {
      int r = lookup_in_file (files.v[i], domain, out, err);
      if (r < 0)
        return -1;
      if (r > 0)
        return 0;
    }
  return 0;
}

/* ---- store and erase -------------------------------------------------------------------------- */

static char *
write_path (const char *authfile)
{
  char *p = explicit_authfile (authfile);
  return p ? p : docker_config_path ();
}

static int
mkdir_parents (const char *path, gsi_error *err)
{
  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');

  if (slash == NULL || slash == dir)
    return 0;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        if (mkdir (dir, 0700) < 0 && errno != EEXIST)
          return gsi_error_set (err, errno, "mkdir `%s`", dir);
        *p = '/';
      }
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    return gsi_error_set (err, errno, "mkdir `%s`", dir);
  return 0;
}

/* Writes root to path through a temp file and rename, mode 0600.  */
static int
write_json_atomic (const char *path, json_t *root, gsi_error *err)
{
  cleanup_free char *real = realpath (path, NULL);
  const char *dest = real ? real : path;
  cleanup_free char *tmp = xasprintf ("%s.tmp-XXXXXX", dest);
  cleanup_free char *text = json_dumps (root, JSON_INDENT (2));
  cleanup_close int fd = -1;

  if (text == NULL)
    return gsi_error_set (err, ENOMEM, "serialise `%s`", path);
  if (mkdir_parents (dest, err) < 0)
    return -1;
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return gsi_error_set (err, errno, "create `%s`", tmp);
  if (fchmod (fd, 0600) < 0 || write_all (fd, text, strlen (text)) < 0 || write_all (fd, "\n", 1) < 0
      || fsync (fd) < 0)
    {
      int e = errno;
      unlink (tmp);
      return gsi_error_set (err, e, "write `%s`", tmp);
    }
  if (rename (tmp, dest) < 0)
    {
      int e = errno;
      unlink (tmp);
      return gsi_error_set (err, e, "rename `%s` to `%s`", tmp, dest);
    }
  return 0;
}

static const char *
store_key (const char *domain)
{
  return is_docker_hub (domain) ? DOCKER_HUB_KEY : domain;
}

int
gsi_credentials_store (const char *authfile, const char *domain, const char *username, const char *password,
                       char **path_out, gsi_error *err)
{
  cleanup_free char *path = write_path (authfile);
  cleanup_free char *pair = NULL, *enc = NULL;
  json_t *root = NULL, *auths, *entry;
  const char *old;
  int ret;

  if (path_out)
    *path_out = NULL;
  if (username == NULL || *username == '\0' || strchr (username, ':') != NULL)
    return gsi_error_set (err, EINVAL, "invalid user name for %s", domain);
  if (load_json_file (path, &root, err) < 0)
    return -1;
  if (root == NULL)
    root = json_object ();
  auths = json_object_get (root, "auths");
  if (auths == NULL)
    {
      auths = json_object ();
      json_object_set_new (root, "auths", auths);
    }
  else if (!json_is_object (auths))
    {
      json_decref (root);
      return gsi_error_set (err, 0, "`%s`: \"auths\" is not an object", path);
    }
  /* Replace an equivalent key ("https://host/") rather than adding a second one.  */
  old = find_key (auths, domain);
  entry = old ? json_object_get (auths, old) : NULL;
  if (json_is_object (entry))
    json_incref (entry);
  else
    entry = json_object ();
  if (old && strcmp (old, store_key (domain)) != 0)
    json_object_del (auths, old);
  pair = xasprintf ("%s:%s", username, password ? password : "");
  enc = b64_encode (pair, strlen (pair));
  explicit_bzero (pair, strlen (pair));
  json_object_set_new (entry, "auth", json_string (enc));
  json_object_del (entry, "identitytoken");
  json_object_set_new (auths, store_key (domain), entry);
  ret = write_json_atomic (path, root, err);
  json_decref (root);
  if (ret == 0 && path_out)
    *path_out = xstrdup (path);
  return ret;
}

int
gsi_credentials_erase (const char *authfile, const char *domain, bool *removed, char **path_out, gsi_error *err)
{
  cleanup_free char *path = write_path (authfile);
  json_t *root = NULL, *auths;
  const char *key;
  bool any = false;
  int ret = 0;

  *removed = false;
  if (path_out)
    *path_out = NULL;
  if (load_json_file (path, &root, err) < 0)
    return -1;
  if (root == NULL)
    {
      if (path_out)
        *path_out = xstrdup (path);
      return 0;
    }
  auths = json_object_get (root, "auths");
  if (json_is_object (auths))
    {
      if (domain == NULL)
        {
          any = json_object_size (auths) > 0;
          json_object_clear (auths);
        }
      else
        while ((key = find_key (auths, domain)) != NULL)
          {
            json_object_del (auths, key);
            any = true;
          }
    }
  if (any)
    ret = write_json_atomic (path, root, err);
  json_decref (root);
  if (ret == 0)
    {
      *removed = any;
      if (path_out)
        *path_out = xstrdup (path);
    }
  return ret;
}

/* ---- WWW-Authenticate ------------------------------------------------------------------------- */

static bool
is_tchar (int ch)
{
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
         || (ch != 0 && strchr ("!#$%&'*+-.^_`|~", ch) != NULL);
}

static void
skip_ows (const char **p)
{
  while (**p == ' ' || **p == '\t')
    (*p)++;
}

/* A quoted-string at *p (on the opening quote); backslash escapes the next byte.  */
static char *
parse_quoted (const char **p)
{
  gsi_buf b = GSI_BUF_INIT;
  const char *s = *p + 1;

  for (; *s && *s != '"'; s++)
    {
      if (*s == '\\')
        {
          s++;
          if (*s == '\0')
            break;
        }
      gsi_buf_addch (&b, *s);
    }
  if (*s != '"')
    {
      gsi_buf_release (&b);
      return NULL;
    }
  *p = s + 1;
  return gsi_buf_detach (&b, NULL);
}

static void
set_param (gsi_auth_challenge *c, const char *name, size_t nlen, char *value)
{
  char **slot = NULL;

  if (nlen == 5 && strncasecmp (name, "realm", 5) == 0)
    slot = &c->realm;
  else if (nlen == 7 && strncasecmp (name, "service", 7) == 0)
    slot = &c->service;
  else if (nlen == 5 && strncasecmp (name, "scope", 5) == 0)
    slot = &c->scope;
  else if (nlen == 5 && strncasecmp (name, "error", 5) == 0)
    slot = &c->error;
  if (slot && *slot == NULL)
    *slot = value;
  else
    free (value);
}

static int
parse_challenges (const char *header, gsi_auth_challenge *out, gsi_error *err)
{
  const char *p = header;

  for (;;)
    {
      const char *scheme;
      size_t slen;
      bool want;
      gsi_auth_challenge cur = GSI_AUTH_CHALLENGE_INIT;

      while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
      if (*p == '\0')
        break;
      scheme = p;
      while (is_tchar ((unsigned char) *p))
        p++;
      slen = (size_t) (p - scheme);
      if (slen == 0)
        return gsi_error_set (err, 0, "WWW-Authenticate: unexpected `%c` at offset %zu", *p, (size_t) (p - header));
      want = (slen == 5 && strncasecmp (scheme, "basic", 5) == 0)
             || (slen == 6 && strncasecmp (scheme, "bearer", 6) == 0);
      if (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
        return gsi_error_set (err, 0, "WWW-Authenticate: unexpected `%c` after scheme at offset %zu", *p,
                              (size_t) (p - header));
      /* auth-params (or a token68) until the next challenge or the end.  */
      for (;;)
        {
          const char *save = p, *name;
          size_t nlen;
          char *value;

          while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
          if (*p == '\0')
            break;
          name = p;
          while (is_tchar ((unsigned char) *p))
            p++;
          nlen = (size_t) (p - name);
          skip_ows (&p);
          if (nlen == 0)
            {
              gsi_auth_challenge_clear (&cur);
              return gsi_error_set (err, 0, "WWW-Authenticate: unexpected `%c` at offset %zu", *p,
                                    (size_t) (p - header));
            }
          if (*p != '=')
            {
              /* Not a parameter: the next challenge's scheme.  */
              p = save;
              break;
            }
          p++;
          if (*p == '=' || *p == '\0' || *p == ',')
            {
              /* token68 ("Basic dXNlcg==") carries nothing we use.  */
              while (*p == '=')
                p++;
              continue;
            }
          skip_ows (&p);
          if (*p == '"')
            {
              value = parse_quoted (&p);
              if (value == NULL)
                {
                  gsi_auth_challenge_clear (&cur);
                  return gsi_error_set (err, 0, "WWW-Authenticate: unterminated quoted string");
                }
            }
          else
            {
              /* Lenient: servers send unquoted URLs, which are not tokens.  */
              const char *v = p;
              while (*p && *p != ',' && *p != ' ' && *p != '\t')
                p++;
              value = xstrndup (v, (size_t) (p - v));
            }
          if (want)
            set_param (&cur, name, nlen, value);
          else
            free (value);
          skip_ows (&p);
          if (*p != ',' && *p != '\0')
            {
              gsi_auth_challenge_clear (&cur);
              return gsi_error_set (err, 0, "WWW-Authenticate: expected `,` at offset %zu", (size_t) (p - header));
            }
        }
      if (want && out->scheme == NULL)
        {
          *out = cur;
          out->scheme = xstrndup (scheme, slen);
          for (char *q = out->scheme; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
              *q = (char) (*q - 'A' + 'a');
        }
      else
        gsi_auth_challenge_clear (&cur);
    }
  if (out->scheme == NULL)
    return gsi_error_set (err, 0, "WWW-Authenticate: no Basic or Bearer challenge in `%s`", header);
  return 0;
}

int
gsi_auth_challenge_parse (const char *header, gsi_auth_challenge *out, gsi_error *err)
{
  *out = (gsi_auth_challenge) GSI_AUTH_CHALLENGE_INIT;
  if (header == NULL)
    return gsi_error_set (err, 0, "empty WWW-Authenticate header");
  /* A challenge taken before a later one turned out malformed is dropped with the rest.  */
  if (parse_challenges (header, out, err) < 0)
    {
      gsi_auth_challenge_clear (out);
      return -1;
    }
  return 0;
}

void
gsi_auth_challenge_clear (gsi_auth_challenge *c)
{
  if (c == NULL)
    return;
  free (c->scheme);
  free (c->realm);
  free (c->service);
  free (c->scope);
  free (c->error);
  *c = (gsi_auth_challenge) GSI_AUTH_CHALLENGE_INIT;
}
