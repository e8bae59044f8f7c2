/* gsi login and gsi logout: registry credentials in the auth file (registry/auth.h), checked
 * against the registry before they are stored.  */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "registry/auth.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define MAX_SECRET ((size_t) 64 << 10)

static void
print_login_help (void)
{
  printf ("Usage: gsi login [OPTIONS] REGISTRY\n\n"
          "Checks a user name and password against REGISTRY (host[:port], e.g. ghcr.io or\n"
          "127.0.0.1:5000; docker.io for Docker Hub) and, only when the registry accepts them,\n"
          "stores them for gsi pull, push and build.  The check is GET /v2/ answered with the\n"
          "credentials: HTTP Basic, or a token from the registry's Bearer token service.\n\n"
          "Credentials are written base64-encoded (not encrypted) under \"auths\" of the auth file:\n"
          "--authfile FILE, else $REGISTRY_AUTH_FILE, else ~/.docker/config.json ($DOCKER_CONFIG/\n"
          "config.json when set).  The file is replaced atomically with mode 0600; its other\n"
          "entries and keys are kept.\n\n"
          "Without -p or --password-stdin the password is asked for on the terminal, without\n"
          "echo (and the user name too, without -u); when stdin is not a terminal that is an\n"
          "error.\n\n"
          "Options:\n"
          "  -u, --username USER   the user name\n"
          "  -p, --password PASS   the password (visible to other users in ps; prefer\n"
          "                        --password-stdin)\n"
          "      --password-stdin  read the password from stdin (one trailing newline is\n"
          "                        dropped); needs --username\n"
          "      --authfile FILE   the auth file to write (see above)\n"
          "      --tls-verify=BOOL verify the registry's TLS certificate (default: true, or the\n"
          "                        registry's registries.yaml setting); false also allows plain\n"
          "                        HTTP\n"
          "      --cert-dir DIR    CA certificates (*.crt) and client.cert/client.key for the\n"
          "                        registry (default: registries.yaml ca-dir, else\n"
          "                        $GSI_CERTS_DIR/REGISTRY, /etc/gsi/certs.d/REGISTRY,\n"
          "                        /etc/containers/certs.d/REGISTRY, /etc/docker/certs.d/REGISTRY)\n"
          "      --get-login       print the user name gsi would use for REGISTRY (from the\n"
          "                        lookup of pull and push) and store nothing; exit 1 when none\n\n"
          "Prints \"Login Succeeded!\" on stdout.  Exit status: 0 stored, 1 refused or failed,\n"
          "2 usage error.\n");
}

static void
print_logout_help (void)
{
  printf ("Usage: gsi logout [OPTIONS] REGISTRY\n"
          "       gsi logout [OPTIONS] --all\n\n"
          "Removes the stored credentials for REGISTRY from \"auths\" of the auth file gsi login\n"
          "writes: --authfile FILE, else $REGISTRY_AUTH_FILE, else ~/.docker/config.json\n"
          "($DOCKER_CONFIG/config.json when set).  The file's other entries and keys are kept and\n"
          "it stays mode 0600.  Credential helpers (credHelpers, credsStore) are not changed.\n"
          "The registry is not contacted.\n\n"
          "Options:\n"
          "      --authfile FILE  the auth file to change (see above)\n"
          "  -a, --all            remove the credentials of every registry in that file\n\n"
          "Exit status: 0 removed (or --all), 1 not logged in to REGISTRY in that file or\n"
          "failed, 2 usage error.\n");
}

/* The registry domain the user means: "host[:port]", also from the forms docker's config.json
 * keys use ("https://index.docker.io/v1/").  A repository path after the host is refused: gsi
 * keeps credentials per registry.  malloc'd, or NULL with a usage error set.  */
static char *
registry_domain (const char *cmd, const char *arg, gsi_error *err)
{
  const char *p = arg;
  bool had_scheme = false;
  char *domain;
  size_t n;

  if (strncasecmp (p, "https://", 8) == 0)
    p += 8, had_scheme = true;
  else if (strncasecmp (p, "http://", 7) == 0)
    p += 7, had_scheme = true;
  n = strcspn (p, "/");
  if (!had_scheme && p[n] == '/' && p[n + 1] != '\0')
    {
      cli_usage (err, cmd, "`%s`: give the registry alone (`%.*s`): credentials are kept per registry, not per repository",
                 arg, (int) n, p);
      return NULL;
    }
  domain = xstrndup (p, n);
  if (strcmp (domain, "index.docker.io") == 0 || strcmp (domain, "registry-1.docker.io") == 0)
    {
      free (domain);
      domain = xstrdup (GSI_DEFAULT_REGISTRY);
    }
  if (!gsi_reference_domain_valid (domain))
    {
      cli_usage (err, cmd, "`%s` is not a registry (want host[:port], e.g. ghcr.io or 127.0.0.1:5000)", arg);
      free (domain);
      return NULL;
    }
  return domain;
}

/* ---- reading the password ---------------------------------------------------------------------- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;

static void
restore_tty (void)
{
  if (tty_changed)
    {
      tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved_tty);
      tty_changed = 0;
    }
}

/* Ctrl-C at the password prompt must not leave the terminal without echo.  */
static void
on_signal (int sig)
{
  restore_tty ();
  signal (sig, SIG_DFL);
  raise (sig);
}

/* One line from stdin without its newline; *eof when stdin ended before any byte.  */
static int
read_line (gsi_buf *b, bool *eof, gsi_error *err)
{
  char ch;
  ssize_t r;

  *eof = false;
  for (;;)
    {
      r = read (STDIN_FILENO, &ch, 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return gsi_error_set (err, errno, "read stdin");
      if (r == 0)
        {
          *eof = b->len == 0;
          break;
        }
      if (ch == '\n')
        break;
      if (b->len >= MAX_SECRET)
        return gsi_error_set (err, 0, "line on stdin longer than %zu bytes", MAX_SECRET);
      gsi_buf_addch (b, ch);
    }
  gsi_buf_rtrim (b, "\r");
  return 0;
}

/* Asks on the terminal (stdin), with echo off when secret.  */
static int
prompt (const char *question, bool secret, gsi_buf *answer, gsi_error *err)
{
  struct sigaction sa, old_int, old_term;
  struct termios t;
  bool eof;
  int r;

  fprintf (stderr, "%s", question);
  fflush (stderr);
  if (secret)
    {
      if (tcgetattr (STDIN_FILENO, &saved_tty) < 0)
        return gsi_error_set (err, errno, "tcgetattr stdin");
      memset (&sa, 0, sizeof sa);
      sa.sa_handler = on_signal;
      sigemptyset (&sa.sa_mask);
      sigaction (SIGINT, &sa, &old_int);
      sigaction (SIGTERM, &sa, &old_term);
      t = saved_tty;
      t.c_lflag &= ~(tcflag_t) ECHO;
      t.c_lflag |= ECHONL;
      if (tcsetattr (STDIN_FILENO, TCSAFLUSH, &t) < 0)
        {
          int e = errno;
          sigaction (SIGINT, &old_int, NULL);
          sigaction (SIGTERM, &old_term, NULL);
          return gsi_error_set (err, e, "turn off terminal echo");
        }
      tty_changed = 1;
    }
  r = read_line (answer, &eof, err);
  if (secret)
    {
      restore_tty ();
      sigaction (SIGINT, &old_int, NULL);
      sigaction (SIGTERM, &old_term, NULL);
    }
  if (r == 0 && eof)
    {
      fputc ('\n', stderr);
      return gsi_error_set (err, 0, "no answer: stdin ended");
    }
  return r;
}

/* --password-stdin: everything on stdin, less one trailing newline (as docker and podman do).  */
static int
read_stdin_password (gsi_buf *b, gsi_error *err)
{
  char tmp[4096];
  ssize_t r;

  for (;;)
    {
      r = read (STDIN_FILENO, tmp, sizeof tmp);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return gsi_error_set (err, errno, "--password-stdin: read stdin");
      if (r == 0)
        break;
      if (b->len + (size_t) r > MAX_SECRET)
        return gsi_error_set (err, 0, "--password-stdin: more than %zu bytes on stdin", MAX_SECRET);
      gsi_buf_add (b, tmp, (size_t) r);
    }
  if (b->len && b->buf[b->len - 1] == '\n')
    gsi_buf_setlen (b, b->len - 1);
  if (b->len && b->buf[b->len - 1] == '\r')
    gsi_buf_setlen (b, b->len - 1);
  if (memchr (b->buf, '\0', b->len) != NULL)
    return gsi_error_set (err, 0, "--password-stdin: the password contains a NUL byte");
  return 0;
}

static void
wipe_buf (gsi_buf *b)
{
  if (b->len)
    explicit_bzero (b->buf, b->len);
  gsi_buf_release (b);
}

/* ---- gsi login --------------------------------------------------------------------------------- */

typedef struct login_args
{
  gsi_reg_client_opts copts;
  const char *username, *password;
  bool password_stdin, get_login;
  const char *registry;
} login_args;

enum
{
  OPT_PASSWORD_STDIN = 256,
  OPT_AUTHFILE,
  OPT_TLS_VERIFY,
  OPT_CERT_DIR,
  OPT_GET_LOGIN,
  OPT_ALL,
};

static int
parse_login_args (login_args *a, int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "username", required_argument, NULL, 'u' },
    { "password", required_argument, NULL, 'p' },
    { "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
    { "authfile", required_argument, NULL, OPT_AUTHFILE },
    { "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY },
    { "cert-dir", required_argument, NULL, OPT_CERT_DIR },
    { "get-login", no_argument, NULL, OPT_GET_LOGIN },
    { NULL, 0, NULL, 0 },
  };
  int c;

  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":u:p:", opts, NULL)) != -1)
    switch (c)
      {
      case 'u':
        a->username = optarg;
        break;
      case 'p':
        a->password = optarg;
        break;
      case OPT_PASSWORD_STDIN:
        a->password_stdin = true;
        break;
      case OPT_AUTHFILE:
        if (*optarg == '\0')
          return cli_usage (err, argv[0], "--authfile needs a file name");
        a->copts.authfile = optarg;
        break;
      case OPT_TLS_VERIFY:
        if (cli_parse_bool (optarg, &a->copts.tls_verify) < 0)
          return cli_usage (err, argv[0], "--tls-verify must be true or false, got `%s`", optarg);
        break;
      case OPT_CERT_DIR:
        if (*optarg == '\0')
          return cli_usage (err, argv[0], "--cert-dir needs a directory");
        a->copts.cert_dir = optarg;
        break;
      case OPT_GET_LOGIN:
        a->get_login = true;
        break;
      case ':':
        return cli_usage (err, argv[0], "`%s` needs a value", argv[optind - 1]);
      default:
        return cli_usage (err, argv[0], "unknown option `%s`", argv[optind - 1]);
      }
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one REGISTRY");
  a->registry = argv[optind];
  if (a->password && a->password_stdin)
    return cli_usage (err, argv[0], "--password and --password-stdin exclude each other");
  if (a->password_stdin && (a->username == NULL || *a->username == '\0'))
    return cli_usage (err, argv[0], "--password-stdin needs --username (stdin holds only the password)");
  if (a->get_login && (a->username || a->password || a->password_stdin))
    return cli_usage (err, argv[0], "--get-login takes no credentials");
  if (a->username && (*a->username == '\0' || strchr (a->username, ':') != NULL))
    return cli_usage (err, argv[0], "invalid user name `%s` (empty, or has a `:`)", a->username);
  return 0;
}

static int
get_login (const login_args *a, const char *domain, gsi_error *err)
{
  gsi_credentials cr = GSI_CREDENTIALS_INIT;

  if (gsi_credentials_lookup (a->copts.authfile, domain, &cr, err) < 0)
    return gsi_error_wrap (err, "login %s", domain);
  if (cr.username == NULL)
    return gsi_error_set (err, 0, "login %s: not logged in (no credentials in the auth files or helpers)", domain);
  printf ("%s\n", cr.username);
  gsi_credentials_clear (&cr);
  return 0;
}

/* The user name and password from the options, stdin or the terminal.  */
static int
gather_credentials (const login_args *a, const char *domain, gsi_buf *user, gsi_buf *pass, gsi_error *err)
{
  bool tty = isatty (STDIN_FILENO);

  if (a->username)
    gsi_buf_addstr (user, a->username);
  if (a->password)
    gsi_buf_addstr (pass, a->password);
  else if (a->password_stdin)
    {
      if (read_stdin_password (pass, err) < 0)
        return -1;
    }
  else if (!tty)
    return gsi_error_set (err, 0,
                          "login %s: no password: stdin is not a terminal to ask on; use --password-stdin "
                          "(or -p PASSWORD)",
                          domain);
  if (user->len == 0)
    {
      if (!tty)
        return gsi_error_set (err, 0, "login %s: no user name: give --username", domain);
      if (prompt ("Username: ", false, user, err) < 0)
        return gsi_error_wrap (err, "login %s", domain);
      if (user->len == 0 || memchr (user->buf, ':', user->len) != NULL)
        return gsi_error_set (err, 0, "login %s: invalid user name `%s` (empty, or has a `:`)", domain, user->buf);
    }
  if (pass->len == 0 && !a->password && !a->password_stdin)
    {
      if (prompt ("Password: ", true, pass, err) < 0)
        return gsi_error_wrap (err, "login %s", domain);
    }
  if (pass->len == 0)
    return gsi_error_set (err, 0, "login %s: the password is empty", domain);
  return 0;
}

/* After storing: says so when pulls and pushes would still pick other credentials (a file read
 * before the one written, or a credential helper).  */
static void
warn_if_shadowed (const login_args *a, const char *domain, const char *user, const char *pass, const char *written)
{
  gsi_credentials cr = GSI_CREDENTIALS_INIT;
  cleanup_error gsi_error lerr = GSI_ERROR_INIT;

  if (gsi_credentials_lookup (a->copts.authfile, domain, &cr, &lerr) < 0)
    fprintf (stderr, "warning: the credentials gsi reads for %s cannot be looked up: %s\n", domain, lerr.msg);
  else if (cr.username == NULL || strcmp (cr.username, user) != 0 || strcmp (cr.password ? cr.password : "", pass) != 0)
    fprintf (stderr, "warning: pull and push will use other credentials for %s, from %s, which is read before %s\n",
             domain, cr.source ? cr.source : "(none)", written);
  gsi_credentials_clear (&cr);
}

int
cmd_login (int argc, char **argv, gsi_error *err)
{
  login_args a = { .copts = GSI_REG_CLIENT_OPTS_INIT };
  cleanup_free char *domain = NULL, *written = NULL;
  gsi_buf user = GSI_BUF_INIT, pass = GSI_BUF_INIT;
  gsi_reg_client *client = NULL;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_login_help ();
      return 0;
    }
  if (parse_login_args (&a, argc, argv, err) < 0)
    return CLI_USAGE;
  domain = registry_domain (argv[0], a.registry, err);
  if (domain == NULL)
    return CLI_USAGE;
  if (a.get_login)
    return get_login (&a, domain, err) < 0 ? CLI_FAIL : 0;

  if (gather_credentials (&a, domain, &user, &pass, err) < 0)
    {
      wipe_buf (&pass);
      gsi_buf_release (&user);
      return CLI_FAIL;
    }
  r = gsi_reg_client_open (&a.copts, &client, err);
  if (r == 0)
    r = gsi_reg_check_credentials (client, domain, user.buf, pass.buf, err);
  gsi_reg_client_close (client);
  if (r < 0)
    {
      gsi_error_wrap (err, "login %s", domain);
      wipe_buf (&pass);
      gsi_buf_release (&user);
      return CLI_FAIL;
    }
  if (r == 0)
    fprintf (stderr, "warning: %s asks for no authentication: the credentials were not checked\n", domain);
  if (gsi_credentials_store (a.copts.authfile, domain, user.buf, pass.buf, &written, err) < 0)
    {
      gsi_error_wrap (err, "login %s", domain);
      wipe_buf (&pass);
      gsi_buf_release (&user);
      return CLI_FAIL;
    }
  warn_if_shadowed (&a, domain, user.buf, pass.buf, written);
  wipe_buf (&pass);
  gsi_buf_release (&user);
  fprintf (stderr, "credentials for %s stored in %s\n", domain, written);
  printf ("Login Succeeded!\n");
  return 0;
}

/* ---- gsi logout -------------------------------------------------------------------------------- */

int
cmd_logout (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "authfile", required_argument, NULL, OPT_AUTHFILE },
    { "all", no_argument, NULL, 'a' },
    { NULL, 0, NULL, 0 },
  };
  const char *authfile = NULL;
  cleanup_free char *domain = NULL, *path = NULL;
  gsi_credentials cr = GSI_CREDENTIALS_INIT;
  bool all = false, removed = false;
  int c;

  if (cli_wants_help (argc, argv))
    {
      print_logout_help ();
      return 0;
    }
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":a", opts, NULL)) != -1)
    switch (c)
      {
      case OPT_AUTHFILE:
        if (*optarg == '\0')
          return cli_usage (err, argv[0], "--authfile needs a file name");
        authfile = optarg;
        break;
      case 'a':
        all = true;
        break;
      case ':':
        return cli_usage (err, argv[0], "`%s` needs a value", argv[optind - 1]);
      default:
        return cli_usage (err, argv[0], "unknown option `%s`", argv[optind - 1]);
      }
  if (all && argc - optind != 0)
    return cli_usage (err, argv[0], "--all takes no REGISTRY");
  if (!all && argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one REGISTRY (or --all)");
  if (!all && (domain = registry_domain (argv[0], argv[optind], err)) == NULL)
    return CLI_USAGE;

  if (gsi_credentials_erase (authfile, domain, &removed, &path, err) < 0)
    {
      gsi_error_wrap (err, "logout %s", all ? "--all" : domain);
      return CLI_FAIL;
    }
  if (all)
    {
      printf ("Removed login credentials for all registries from %s\n", path);
      return 0;
    }
  if (removed)
    {
      printf ("Removed login credentials for %s from %s\n", domain, path);
      return 0;
    }
  /* Not in the file logout writes: say where the credentials gsi uses come from, if anywhere.  */
  {
    cleanup_error gsi_error lerr = GSI_ERROR_INIT;
    if (gsi_credentials_lookup (authfile, domain, &cr, &lerr) == 0 && cr.username)
      gsi_error_set (err, 0,
                     "logout %s: not logged in in %s; the credentials gsi uses for it come from %s, which "
                     "gsi logout does not change",
                     domain, path, cr.source);
    else
      gsi_error_set (err, 0, "logout %s: not logged in (no entry in %s)", domain, path);
    gsi_credentials_clear (&cr);
  }
  return CLI_FAIL;
}
