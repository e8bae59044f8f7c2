/* gsi containerfile: the Containerfile front end on its own, for operators and for tests. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "containerfile/ast.h"
#include "containerfile/shell.h"
#include "containerfile/stages.h"
#include "util/buf.h"
#include "util/xalloc.h"

static void
print_lines (FILE *out, const gsi_strvec *lines)
{
  for (size_t i = 0; i < lines->n; i++)
    fprintf (out, "%s\n", lines->v[i]);
}

static int
cf_dump_cmd (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  cf_file *f = NULL;
  cleanup_buf gsi_buf out = GSI_BUF_INIT;
  int c;

  optind = 0;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'h':
        printf ("Usage: gsi containerfile dump FILE\n\n"
                "Prints FILE's parse tree in the dump format of BuildKit's parser tests, one line per\n"
                "instruction, so it can be compared with what docker build makes of the file.\n");
        return 0;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one FILE");
  if (cf_parse_file (argv[optind], &f, err) < 0)
    return CLI_FAIL;
  print_lines (stderr, &f->warnings);
  cf_dump (f, &out);
  fwrite (out.buf, 1, out.len, stdout);
  cf_file_free (f);
  return 0;
}

/* Shared by expand and words: -e NAME=VALUE... [--escape C] -- WORD.  */
static int
parse_expand_args (int argc, char **argv, cf_env *env, char *escape, const char **word, gsi_error *err)
{
  static const struct option opts[] = { { "env", required_argument, NULL, 'e' },
                                        { "escape", required_argument, NULL, 'E' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  int c;

  optind = 0;
  while ((c = getopt_long (argc, argv, "+e:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'e':
        {
          const char *eq = strchr (optarg, '=');
          if (eq == NULL || eq == optarg)
            return cli_usage (err, argv[0], "-e wants NAME=VALUE, got `%s`", optarg);
          cleanup_free char *name = xstrndup (optarg, (size_t) (eq - optarg));
          cf_env_set (env, name, eq + 1);
          break;
        }
      case 'E':
        if (strcmp (optarg, "\\") != 0 && strcmp (optarg, "`") != 0)
          return cli_usage (err, argv[0], "--escape must be \\ or `, got `%s`", optarg);
        *escape = optarg[0];
        break;
      case 'h':
        printf ("Usage: gsi %s [-e NAME=VALUE]... [--escape C] -- WORD\n\n"
                "Expands WORD as BuildKit expands Containerfile words ($V, ${V:-w}, ${V#p}, quotes,\n"
                "escapes) against the variables given with -e.  'expand' prints the result; 'words'\n"
                "prints the words it splits into (the ENV/EXPOSE rules), one per line.  An expansion\n"
                "error is printed to stderr with exit status 1.\n"
                "\n  -e, --env NAME=VALUE   set a variable (NAME= sets it to the empty string)\n"
                "      --escape C         the escape character, \\ (default) or `\n",
                argv[0]);
        return 1;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one WORD (put it after --)");
  *word = argv[optind];
  return 0;
}

static int
expand_common (int argc, char **argv, int split, gsi_error *err)
{
  cf_env env = CF_ENV_INIT;
  cf_shell_opts so = { .escape = '\\' };
  const char *word = NULL;
  int r = parse_expand_args (argc, argv, &env, &so.escape, &word, err);

  if (r != 0)
    {
      cf_env_clear (&env);
      return r == 1 ? 0 : r; /* 1: help was printed */
    }
  if (split)
    {
      cleanup_strvec gsi_strvec words = GSI_STRVEC_INIT;
      r = cf_shell_words (word, &env, &so, &words, err);
      if (r == 0)
        print_lines (stdout, &words);
    }
  else
    {
      cleanup_free char *out = NULL;
      r = cf_shell_expand (word, &env, &so, &out, err);
      if (r == 0)
        printf ("%s\n", out);
    }
  cf_env_clear (&env);
  return r < 0 ? CLI_FAIL : 0;
}

static int
cf_expand_cmd (int argc, char **argv, gsi_error *err)
{
  return expand_common (argc, argv, 0, err);
}

static int
cf_words_cmd (int argc, char **argv, gsi_error *err)
{
  return expand_common (argc, argv, 1, err);
}

static int
cf_check_cmd (int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = { { "target", required_argument, NULL, 't' },
                                        { "build-arg", required_argument, NULL, 'a' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  cleanup_strvec gsi_strvec args = GSI_STRVEC_INIT;
  cleanup_buf gsi_buf out = GSI_BUF_INIT;
  const char *target = NULL;
  cf_file *f = NULL;
  cf_plan *plan = NULL;
  int c;

  optind = 0;
  while ((c = getopt_long (argc, argv, "t:h", opts, NULL)) != -1)
    switch (c)
      {
      case 't':
        target = optarg;
        break;
      case 'a':
        if (strchr (optarg, '=') == NULL || optarg[0] == '=')
          return cli_usage (err, argv[0], "--build-arg wants NAME=VALUE, got `%s`", optarg);
        gsi_strvec_push (&args, optarg);
        break;
      case 'h':
        printf ("Usage: gsi containerfile check FILE [--target STAGE] [--build-arg NAME=VALUE]...\n\n"
                "Parses FILE and runs the semantic pass a build would: stages and their bases (ARG-\n"
                "templated FROM lines expanded), COPY --from and RUN --mount from= references, the\n"
                "target (default: the last stage) and the stages it needs.  Warnings go to stderr;\n"
                "an error is reported as FILE:LINE:COL: cause, with exit status 1.\n\n"
                "Output, one line each:\n"
                "  stage <index> [<name>] from <base> (image|scratch|stage <index>)\n"
                "  copy-from stage <index> line <n>: <reference> (image|scratch|stage <index>)\n"
                "  target <index> [<name>]\n"
                "  needs <index>...\n");
        return 0;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one FILE");
  if (cf_parse_file (argv[optind], &f, err) < 0)
    return CLI_FAIL;
  cf_plan_opts po = { .target = target, .build_args = &args };
  int r = cf_plan_build (f, &po, &plan, err);
  print_lines (stderr, &f->warnings);
  if (r == 0)
    {
      print_lines (stderr, cf_plan_warnings (plan));
      cf_plan_format_check (plan, &out);
      fwrite (out.buf, 1, out.len, stdout);
      cf_plan_free (plan);
    }
  cf_file_free (f);
  return r < 0 ? CLI_FAIL : 0;
}

static const cli_command subcommands[] = {
  { "dump", cf_dump_cmd, "print the parse tree in BuildKit's dump format" },
  { "expand", cf_expand_cmd, "expand one word as a Containerfile instruction would" },
  { "words", cf_words_cmd, "expand one word and split it into words" },
  { "check", cf_check_cmd, "validate a Containerfile: stages, bases, references, target" },
  { NULL, NULL, NULL },
};

int
cmd_containerfile (int argc, char **argv, gsi_error *err)
{
  return cli_dispatch ("containerfile", "Usage: gsi containerfile SUBCOMMAND [ARGS]\n", subcommands, argc, argv,
                       err);
}
