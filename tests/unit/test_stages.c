/* The semantic pass: typed instructions (flags, mounts, healthchecks), ARG/ENV scopes, stages,
 * COPY --from resolution, targets and the `gsi containerfile check` text.  Every Containerfile here
 * goes through the real parser (cf_parse) and cf_plan_build.  */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerfile/ast.h"
#include "containerfile/instructions.h"
#include "containerfile/stages.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct built
{
  cf_file *file;
  cf_plan *plan;
} built;

static int
build_opts (const char *text, const char *target, const char *const *bargs, built *b, gsi_error *err)
{
  gsi_strvec ba = GSI_STRVEC_INIT;
  cf_plan_opts opts = { .target = target, .build_args = &ba, .platform = "linux/amd64" };
  int r;

  memset (b, 0, sizeof (*b));
  for (size_t i = 0; bargs && bargs[i]; i++)
    gsi_strvec_push (&ba, bargs[i]);
  r = cf_parse ("Containerfile", text, strlen (text), &b->file, err);
  if (r == 0)
    r = cf_plan_build (b->file, &opts, &b->plan, err);
  gsi_strvec_clear (&ba);
  return r;
}

static void
built_free (built *b)
{
  cf_plan_free (b->plan);
  cf_file_free (b->file);
  memset (b, 0, sizeof (*b));
}

/* Builds text (the last stage as target, no build args) and fails the test if that fails.  */
static built
must_build (const char *text, const char *target, const char *const *bargs)
{
  gsi_error err = GSI_ERROR_INIT;
  built b;

  if (build_opts (text, target, bargs, &b, &err) < 0)
    fail_msg ("unexpected error: %s", err.msg);
  gsi_error_clear (&err);
  return b;
}

static void
expect_error_opts (const char *text, const char *target, const char *const *bargs, const char *msg)
{
  gsi_error err = GSI_ERROR_INIT;
  built b;
  int r = build_opts (text, target, bargs, &b, &err);

  if (r == 0)
    fail_msg ("expected error `%s`, the build succeeded", msg);
  assert_non_null (err.msg);
  assert_string_equal (err.msg, msg);
  assert_null (b.plan);
  gsi_error_clear (&err);
  built_free (&b);
}

static void
expect_error (const char *text, const char *msg)
{
  expect_error_opts (text, NULL, NULL, msg);
}

static char *
check_text (const cf_plan *p)
{
  gsi_buf out = GSI_BUF_INIT;
  cf_plan_format_check (p, &out);
  return gsi_buf_detach (&out, NULL);
}

static void
expect_check_text (const char *text, const char *target, const char *const *bargs, const char *want)
{
  built b = must_build (text, target, bargs);
  char *got = check_text (b.plan);

  assert_string_equal (got, want);
  free (got);
  built_free (&b);
}

static const cf_step *
step_of (const cf_plan *p, size_t stage, size_t i)
{
  assert_true (stage < p->nstages);
  assert_true (i < p->stages[stage].ncmds);
  return &p->stages[stage].steps[i];
}

static const char *
scope_value (const cf_scope *s, const char *name)
{
  const cf_var *v = cf_scope_get (s, name);
  return v ? v->value : NULL;
}

static void
assert_strvec (const gsi_strvec *sv, const char *const *want)
{
  size_t n = 0;

  while (want[n])
    n++;
  assert_int_equal (sv->n, n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal (sv->v[i], want[i]);
}

/* ---- the check text ----------------------------------------------------------------------- */

static const char genestack_like[] = "ARG VENV_TAG=3.12-latest\n"
                                     "FROM ghcr.io/rackerlabs/genestack-images/openstack-venv:${VENV_TAG} AS dependency_build\n"
                                     "ARG CACHEBUST=0\n"
                                     "RUN echo build\n"
                                     "FROM python:3.12-slim-bookworm\n"
                                     "RUN true\n"
                                     "FROM dependency_build AS final\n"
                                     "COPY --from=dependency_build /var/lib/openstack /var/lib/openstack\n"
                                     "COPY --from=1 /usr/bin/python3 /x\n"
                                     "COPY --from=docker.io/library/busybox:1.36 /bin/busybox /bin/\n"
                                     "RUN --mount=type=cache,target=/root/.cache,from=1 true\n";

static void
test_check_three_stages (void **state)
{
  (void) state;
  expect_check_text (genestack_like, NULL, NULL,
                "stage 0 dependency_build from ghcr.io/rackerlabs/genestack-images/openstack-venv:3.12-latest (image)\n"
                "stage 1 from python:3.12-slim-bookworm (image)\n"
                "stage 2 final from dependency_build (stage 0)\n"
                "copy-from stage 2 line 8: dependency_build (stage 0)\n"
                "copy-from stage 2 line 9: 1 (stage 1)\n"
                "copy-from stage 2 line 10: docker.io/library/busybox:1.36 (image)\n"
                "copy-from stage 2 line 11: 1 (stage 1)\n"
                "target 2 final\n"
                "needs 0 1 2\n");
  expect_check_text (genestack_like, "dependency_build", NULL,
                "stage 0 dependency_build from ghcr.io/rackerlabs/genestack-images/openstack-venv:3.12-latest (image)\n"
                "stage 1 from python:3.12-slim-bookworm (image)\n"
                "stage 2 final from dependency_build (stage 0)\n"
                "copy-from stage 2 line 8: dependency_build (stage 0)\n"
                "copy-from stage 2 line 9: 1 (stage 1)\n"
                "copy-from stage 2 line 10: docker.io/library/busybox:1.36 (image)\n"
                "copy-from stage 2 line 11: 1 (stage 1)\n"
                "target 0 dependency_build\n"
                "needs 0\n");
  /* A build arg overrides the global ARG's default in FROM.  */
  expect_check_text ("ARG VENV_TAG=3.12-latest\nFROM ghcr.io/x/venv:${VENV_TAG}\n", NULL,
                (const char *const[]) { "VENV_TAG=3.13-next", NULL },
                "stage 0 from ghcr.io/x/venv:3.13-next (image)\ntarget 0\nneeds 0\n");
  expect_check_text ("FROM alpine\nFROM scratch\nCOPY --from=scratch / /\n", NULL, NULL,
                "stage 0 from alpine (image)\n"
                "stage 1 from scratch (scratch)\n"
                "copy-from stage 1 line 3: scratch (scratch)\n"
                "target 1\n"
                "needs 1\n");
}

static void
test_targets_and_needs (void **state)
{
  static const char text[] = "FROM alpine AS base\n"
                             "FROM base AS a\n"
                             "FROM alpine AS b\n"
                             "COPY --from=a /x /x\n"
                             "FROM scratch AS c\n"
                             "RUN --mount=type=bind,from=b,target=/b true\n"
                             "FROM busybox AS unrelated\n";
  built b;

  (void) state;
  b = must_build (text, NULL, NULL);
  assert_int_equal (b.plan->target, 4);
  assert_int_equal (b.plan->nneeds, 1);
  assert_int_equal (b.plan->needs[0], 4);
  assert_false (cf_plan_needs (b.plan, 0));
  assert_int_equal (b.plan->stages[1].base_kind, CF_BASE_STAGE);
  assert_int_equal (b.plan->stages[1].base_stage, 0);
  assert_int_equal (b.plan->stages[3].base_kind, CF_BASE_SCRATCH);
  assert_int_equal (b.plan->stages[3].base_stage, -1);
  assert_non_null (cf_plan_find_stage (b.plan, "UNRELATED"));
  assert_null (cf_plan_find_stage (b.plan, "nope"));
  built_free (&b);

  b = must_build (text, "c", NULL);
  assert_int_equal (b.plan->target, 3);
  assert_int_equal (b.plan->nneeds, 4);
  for (size_t i = 0; i < 4; i++)
    assert_int_equal (b.plan->needs[i], i);
  assert_true (cf_plan_needs (b.plan, 3));
  assert_false (cf_plan_needs (b.plan, 4));
  assert_true (b.plan->stages[3].refs[0].mount);
  built_free (&b);

  expect_check_text (text, "A", NULL,
                "stage 0 base from alpine (image)\n"
                "stage 1 a from base (stage 0)\n"
                "stage 2 b from alpine (image)\n"
                "stage 3 c from scratch (scratch)\n"
                "stage 4 unrelated from busybox (image)\n"
                "copy-from stage 2 line 4: a (stage 1)\n"
                "copy-from stage 3 line 6: b (stage 2)\n"
                "target 1 a\n"
                "needs 0 1\n");
  expect_error_opts (text, "nope", NULL, "target stage `nope` could not be found in `Containerfile`");
}

static void
test_onbuild_needs (void **state)
{
  static const char text[] = "FROM alpine AS a\n"
                             "ONBUILD COPY --from=b /x /y\n"
                             "ONBUILD RUN echo hi\n"
                             "FROM alpine AS b\n"
                             "FROM a AS c\n";
  built b;
  const cf_cmd *ob;

  (void) state;
  b = must_build (text, NULL, NULL);
  ob = b.plan->stages[0].cmds[0];
  assert_int_equal (ob->kind, CF_CMD_ONBUILD);
  assert_string_equal (ob->u.onbuild.expression, "COPY --from=b /x /y");
  assert_int_equal (ob->u.onbuild.trigger->kind, CF_CMD_COPY);
  assert_string_equal (ob->u.onbuild.trigger->u.copy.from, "b");
  /* ONBUILD is not expanded and makes no dependency of its own stage.  */
  assert_int_equal (b.plan->stages[0].nrefs, 0);
  assert_int_equal (b.plan->nneeds, 3);
  built_free (&b);
  expect_error ("FROM alpine\nONBUILD COPY --bogus x y\n", "Containerfile:2:14: unknown flag `--bogus` for COPY");
}

/* ---- scopes ------------------------------------------------------------------------------- */

static void
test_global_arg_rules (void **state)
{
  static const char text[] = "ARG BASE=alpine\n"
                             "ARG TAG\n"
                             "ARG DERIVED=${BASE}-x\n"
                             "FROM ${BASE}:${TAG:-3.19} AS a\n"
                             "RUN echo $BASE\n"
                             "ARG BASE\n"
                             "ARG TAG\n"
                             "ARG V=inner SUFFIX=${BASE}-s\n"
                             "RUN echo $BASE $TAG\n";
  built b;
  const cf_step *s;

  (void) state;
  b = must_build (text, NULL, NULL);
  assert_string_equal (b.plan->stages[0].base_expanded, "alpine:3.19");
  assert_string_equal (scope_value (&b.plan->globals, "DERIVED"), "alpine-x");
  assert_non_null (cf_scope_get (&b.plan->globals, "TAG"));
  assert_null (scope_value (&b.plan->globals, "TAG"));
  assert_string_equal (scope_value (&b.plan->globals, "TARGETARCH"), "amd64");
  assert_string_equal (scope_value (&b.plan->globals, "TARGETPLATFORM"), "linux/amd64");
  assert_string_equal (scope_value (&b.plan->globals, "TARGETSTAGE"), "a");
  /* A global ARG is not in a stage's scope until the stage declares it again.  */
  s = step_of (b.plan, 0, 0);
  assert_null (cf_scope_get (&s->scope, "BASE"));
  assert_null (cf_scope_get (&s->scope, "TARGETARCH"));
  s = step_of (b.plan, 0, 4);
  assert_string_equal (scope_value (&s->scope, "BASE"), "alpine");
  assert_non_null (cf_scope_get (&s->scope, "TAG"));
  assert_null (scope_value (&s->scope, "TAG"));
  assert_string_equal (scope_value (&s->scope, "V"), "inner");
  assert_string_equal (scope_value (&s->scope, "SUFFIX"), "alpine-s");
  assert_int_equal (cf_scope_get (&s->scope, "V")->origin, CF_VAR_ARG);
  /* The re-declaring ARG's typed value is what it resolved to.  */
  s = step_of (b.plan, 0, 1);
  assert_true (s->expanded->u.kvs.kv[0].has_value);
  assert_string_equal (s->expanded->u.kvs.kv[0].value, "alpine");
  assert_false (s->cmd->u.kvs.kv[0].has_value);
  assert_int_equal (b.plan->warnings.n, 0);
  built_free (&b);

  /* Build args win over defaults, inside and outside the stage.  */
  b = must_build (text, NULL, (const char *const[]) { "BASE=debian", "TAG=12", "V=outer", "UNDECLARED=1", NULL });
  assert_string_equal (b.plan->stages[0].base_expanded, "debian:12");
  s = step_of (b.plan, 0, 4);
  assert_string_equal (scope_value (&s->scope, "BASE"), "debian");
  assert_string_equal (scope_value (&s->scope, "TAG"), "12");
  assert_string_equal (scope_value (&s->scope, "V"), "outer");
  assert_string_equal (scope_value (&s->scope, "SUFFIX"), "debian-s");
  assert_null (cf_scope_get (&s->scope, "UNDECLARED"));
  built_free (&b);
}

static void
test_arg_and_env_scope (void **state)
{
  static const char text[] = "FROM alpine\n"
                             "ENV A=1 B=$A\n"
                             "ENV C=${A}2\n"
                             "ARG D=1 E=$D F\n"
                             "WORKDIR /app/$C\n"
                             "USER ${UID:-1000}\n"
                             "LABEL version=$A\n"
                             "RUN echo $UNDEFINED_IN_RUN\n"
                             "EXPOSE $PORT 443/udp\n";
  built b = must_build (text, NULL, NULL);
  const cf_step *s;

  (void) state;
  s = step_of (b.plan, 0, 7);
  assert_string_equal (scope_value (&s->scope, "A"), "1");
  /* ENV expands all its pairs before setting any: B saw no A.  */
  assert_string_equal (scope_value (&s->scope, "B"), "");
  assert_string_equal (scope_value (&s->scope, "C"), "12");
  assert_string_equal (scope_value (&s->scope, "D"), "1");
  assert_string_equal (scope_value (&s->scope, "E"), "1");
  assert_non_null (cf_scope_get (&s->scope, "F"));
  assert_null (scope_value (&s->scope, "F"));
  assert_int_equal (cf_scope_get (&s->scope, "A")->origin, CF_VAR_ENV);
  assert_false (cf_scope_get (&s->scope, "PATH")->known);
  assert_string_equal (step_of (b.plan, 0, 3)->expanded->u.value, "/app/12");
  assert_true (step_of (b.plan, 0, 3)->exact);
  assert_string_equal (step_of (b.plan, 0, 4)->expanded->u.value, "1000");
  assert_false (step_of (b.plan, 0, 4)->exact);
  assert_string_equal (step_of (b.plan, 0, 5)->expanded->u.kvs.kv[0].value, "1");
  /* RUN is not expanded.  */
  assert_string_equal (step_of (b.plan, 0, 6)->expanded->u.run.line.args.v[0], "echo $UNDEFINED_IN_RUN");
  assert_strvec (&step_of (b.plan, 0, 7)->expanded->u.list, (const char *const[]) { "443/udp", NULL });
  assert_strvec (&b.plan->warnings,
                 (const char *const[]) { "Containerfile:2:11: warning: usage of undefined variable `$A`",
                                         "Containerfile:6:6: warning: usage of undefined variable `$UID`",
                                         "Containerfile:9:8: warning: usage of undefined variable `$PORT`", NULL });

  /* Walked again with the base image's environment, the same stage is exact.  */
  {
    gsi_strvec env = GSI_STRVEC_INIT;
    gsi_error err = GSI_ERROR_INIT;
    gsi_strvec_push (&env, "UID=42");
    gsi_strvec_push (&env, "PORT=8080");
    assert_int_equal (cf_plan_walk_stage (b.plan, 0, &env, &err), 0);
    gsi_strvec_clear (&env);
    assert_string_equal (step_of (b.plan, 0, 4)->expanded->u.value, "42");
    assert_true (step_of (b.plan, 0, 4)->exact);
    assert_strvec (&step_of (b.plan, 0, 7)->expanded->u.list, (const char *const[]) { "8080", "443/udp", NULL });
    assert_string_equal (scope_value (&step_of (b.plan, 0, 0)->scope, "PATH"), CF_DEFAULT_PATH);
    assert_true (cf_scope_get (&step_of (b.plan, 0, 0)->scope, "PATH")->known);
    assert_strvec (&b.plan->warnings,
                   (const char *const[]) { "Containerfile:2:11: warning: usage of undefined variable `$A`", NULL });
    assert_int_equal (cf_plan_walk_stage (b.plan, 7, NULL, &err), -1);
    gsi_error_clear (&err);
  }
  built_free (&b);
}

static void
test_stage_inherits_scope (void **state)
{
  static const char text[] = "FROM alpine AS a\n"
                             "ENV X=1\n"
                             "ARG Y=2\n"
                             "FROM a\n"
                             "WORKDIR /$X/$Y\n"
                             "FROM scratch\n"
                             "WORKDIR /$NOTHING\n";
  built b = must_build (text, NULL, NULL);
  const cf_step *s = step_of (b.plan, 1, 0);

  (void) state;
  assert_string_equal (s->expanded->u.value, "/1/2");
  assert_true (s->exact);
  /* Over scratch nothing is unknown: an unset name is just empty, and exact.  */
  s = step_of (b.plan, 2, 0);
  assert_string_equal (s->expanded->u.value, "/");
  assert_true (s->exact);
  assert_true (cf_scope_get (&s->scope, "PATH")->known);
  assert_strvec (&b.plan->warnings,
                 (const char *const[]) { "Containerfile:7:10: warning: usage of undefined variable `$NOTHING`", NULL });
  built_free (&b);
}

static void
test_from_undeclared_arg (void **state)
{
  (void) state;
  expect_error ("FROM alpine:$VERSION\n",
                "Containerfile:1:13: FROM uses undeclared ARG `VERSION`; declare it before the first FROM");
  expect_error ("FROM alpine:${VERSION}\n",
                "Containerfile:1:13: FROM uses undeclared ARG `VERSION`; declare it before the first FROM");
  /* Declared after the first FROM does not count, and a build arg does not declare.  */
  expect_error_opts ("FROM alpine\nARG V=1\nFROM busybox:$V\n", NULL, (const char *const[]) { "V=2", NULL },
                     "Containerfile:3:14: FROM uses undeclared ARG `V`; declare it before the first FROM");
  expect_error ("FROM --platform=$PLAT alpine\n",
                "Containerfile:1:17: FROM uses undeclared ARG `PLAT`; declare it before the first FROM");
  /* The automatic platform ARGs are declared.  */
  {
    built b = must_build ("FROM --platform=$BUILDPLATFORM golang:1.25-${TARGETOS} AS build\n", NULL, NULL);
    assert_string_equal (b.plan->stages[0].platform, "$BUILDPLATFORM");
    assert_non_null (b.plan->stages[0].platform_expanded);
    assert_string_equal (b.plan->stages[0].base_expanded, "golang:1.25-linux");
    built_free (&b);
  }
}

static void
test_from_base_errors (void **state)
{
  (void) state;
  expect_error ("ARG X\nFROM $X\n", "Containerfile:2:6: FROM base `$X` is empty after expansion");
  expect_error ("FROM Alpine:3\n", "Containerfile:1:6: FROM base `Alpine:3` is not a valid image reference");
  expect_error ("ARG R=a@b\nFROM ${R}\n",
                "Containerfile:2:6: FROM base `a@b` (from `${R}`) is not a valid image reference");
  expect_error ("ARG P=linux/amd64/v1/x\nFROM --platform=$P alpine\n",
                "Containerfile:2:6: invalid FROM --platform `linux/amd64/v1/x` (want os/arch[/variant])");
  expect_error ("RUN true\nFROM alpine\n", "Containerfile:1:1: RUN before the first FROM: only ARG may come before it");
  expect_error ("ARG X=1\n", "Containerfile: no FROM instruction: the Containerfile has no stage to build");
  expect_error ("FROM alpine AS\n", "Containerfile:1:1: FROM requires either one or three arguments (FROM IMAGE [AS NAME])");
  expect_error_opts ("FROM alpine\n", NULL, (const char *const[]) { "NOVALUE", NULL },
                     "build arg `NOVALUE` has no value (want NAME=VALUE)");
}

static void
test_stage_names (void **state)
{
  built b;

  (void) state;
  expect_error ("FROM alpine AS build\nFROM busybox AS BUILD\n",
                "Containerfile:2:17: duplicate stage name `build` (stage 0 on line 1 has it already)");
  expect_error ("FROM alpine AS 1st\n",
                "Containerfile:1:16: invalid stage name `1st`: it must start with a letter and hold only letters, "
                "digits, `-`, `_` and `.`");
  expect_error ("FROM alpine AS a/b\n",
                "Containerfile:1:16: invalid stage name `a/b`: it must start with a letter and hold only letters, "
                "digits, `-`, `_` and `.`");
  /* Names are case-insensitive and kept lower case.  */
  b = must_build ("FROM alpine AS Build.Stage_1-x\nFROM build.stage_1-x\nCOPY --from=BUILD.STAGE_1-X /a /b\n", NULL, NULL);
  assert_string_equal (b.plan->stages[0].name, "build.stage_1-x");
  assert_int_equal (b.plan->stages[1].base_kind, CF_BASE_STAGE);
  assert_int_equal (b.plan->stages[1].refs[0].kind, CF_BASE_STAGE);
  assert_int_equal (b.plan->stages[1].refs[0].stage, 0);
  assert_int_equal (b.plan->stages[1].refs[0].line, 3);
  assert_int_equal (b.plan->stages[1].refs[0].col, 13);
  built_free (&b);
  b = must_build ("FROM alpine AS scratch\n", NULL, NULL);
  assert_strvec (&b.plan->warnings, (const char *const[]) {
                                      "Containerfile:1:16: warning: stage name `scratch` is reserved and should not be used",
                                      NULL });
  built_free (&b);
}

static void
test_copy_from (void **state)
{
  (void) state;
  expect_error ("FROM alpine\nCOPY --from=Not_Valid /a /b\n",
                "Containerfile:2:13: COPY --from names no stage or image: `Not_Valid`");
  expect_error ("FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\n",
                "Containerfile:2:13: COPY --from=`b`: stage 1 must be defined before the stage that uses it (stage 0)");
  expect_error ("FROM alpine\nCOPY --from=3 / /\n", "Containerfile:2:13: COPY --from=`3`: invalid stage index 3");
  expect_error ("FROM alpine\nCOPY --from=0 / /\n",
                "Containerfile:2:13: COPY --from=`0`: stage 0 is not defined before stage 0");
  expect_error ("FROM alpine\nARG S=x\nCOPY --from=$S / /\n",
                "Containerfile:3:13: variable expansion is not supported for --from; define a stage with FROM "
                "using a global ARG instead");
  expect_error ("FROM alpine\nRUN --mount=from=Bad_Ref,target=/x true\n",
                "Containerfile:2:18: RUN --mount from names no stage or image: `Bad_Ref`");
  expect_error ("FROM alpine\nRUN --mount=from=$X,target=/x true\n",
                "Containerfile:2:5: --mount `from=$X,target=/x`: `from` does not support variable expansion, "
                "define an alias stage instead");
}

/* ---- typed instructions ------------------------------------------------------------------- */

static void
test_copy_add_flags (void **state)
{
  built b;
  const cf_copy_cmd *cp;

  (void) state;
  b = must_build ("FROM alpine AS a\nFROM alpine\nARG MODE=0644\n"
                  "COPY --from=a --chown=1:2 --chmod=$MODE --link --parents --exclude=*.pyc --exclude=tmp s1 s2 /dst/\n"
                  "ADD --chown=app --chmod=u+x,go-w --link=false --keep-git-dir --checksum=sha256:abc --exclude=x "
                  "--unpack=true https://example.com/a.tgz /a\n",
                  NULL, NULL);
  cp = &b.plan->stages[1].cmds[1]->u.copy;
  assert_string_equal (cp->from, "a");
  assert_string_equal (cp->chown, "1:2");
  assert_string_equal (cp->chmod, "$MODE");
  assert_true (cp->link);
  assert_true (cp->parents);
  assert_strvec (&cp->excludes, (const char *const[]) { "*.pyc", "tmp", NULL });
  assert_strvec (&cp->sources, (const char *const[]) { "s1", "s2", NULL });
  assert_string_equal (cp->dest, "/dst/");
  assert_string_equal (step_of (b.plan, 1, 1)->expanded->u.copy.chmod, "0644");
  cp = &b.plan->stages[1].cmds[2]->u.copy;
  assert_int_equal (b.plan->stages[1].cmds[2]->kind, CF_CMD_ADD);
  assert_null (cp->from);
  assert_false (cp->link);
  assert_true (cp->keep_git_dir);
  assert_string_equal (cp->checksum, "sha256:abc");
  assert_true (cp->unpack_set);
  assert_true (cp->unpack);
  built_free (&b);

  expect_error ("FROM alpine\nADD --from=x a b\n", "Containerfile:2:5: flag `--from` is not allowed for ADD");
  expect_error ("FROM alpine\nCOPY --checksum=sha256:x a b\n",
                "Containerfile:2:6: flag `--checksum` is not allowed for COPY");
  expect_error ("FROM alpine\nCOPY --keep-git-dir a b\n", "Containerfile:2:6: flag `--keep-git-dir` is not allowed for COPY");
  expect_error ("FROM alpine\nCOPY --bogus a b\n", "Containerfile:2:6: unknown flag `--bogus` for COPY");
  expect_error ("FROM alpine\nCOPY --chown a b\n", "Containerfile:2:6: flag `--chown` needs a value (`--chown=...`)");
  expect_error ("FROM alpine\nCOPY --link=maybe a b\n",
                "Containerfile:2:6: flag `--link` expects true or false, not `maybe`");
  expect_error ("FROM alpine\nCOPY --link= a b\n", "Containerfile:2:6: flag `--link` needs a value after `=`");
  expect_error ("FROM alpine AS a\nFROM alpine\nCOPY --from=a --from=a x y\n",
                "Containerfile:3:6: flag `--from` given more than once");
  expect_error ("FROM alpine\nCOPY onlyone\n",
                "Containerfile:2:1: COPY requires at least two arguments, but only one was provided: no destination");
  expect_error ("FROM scratch\nCOPY --chmod=999 a b\n",
                "Containerfile:2:6: invalid chmod parameter `999`: it should be an octal string between 0 and 07777");
  expect_error ("FROM scratch\nCOPY --chmod=10000 a b\n",
                "Containerfile:2:6: invalid chmod parameter `10000`: it should be an octal string between 0 and 07777");
  expect_error ("FROM scratch\nCOPY --chmod=64a a b\n",
                "Containerfile:2:6: invalid chmod parameter `64a`: it should be an octal string between 0 and 07777");
  expect_error ("FROM scratch\nADD --chmod=u+q a b\n",
                "Containerfile:2:5: invalid chmod parameter `u+q`: neither an octal mode nor a symbolic one like u+x,g-w");
  expect_error ("FROM scratch\nADD --checksum=sha256:x a b /c\n",
                "Containerfile:2:5: checksum can't be specified for multiple sources");
  expect_error ("FROM scratch\nADD --checksum=sha256:x ./local /c\n",
                "Containerfile:2:5: checksum can't be specified for non-HTTP(S) or git sources");
  /* An unknown variable from an image base makes the value inexact: no verdict yet.  */
  b = must_build ("FROM alpine\nCOPY --chmod=$FROM_BASE a b\n", NULL, NULL);
  assert_false (step_of (b.plan, 0, 0)->exact);
  built_free (&b);
}

static void
test_other_flags (void **state)
{
  built b;
  const cf_run_cmd *r;

  (void) state;
  expect_error ("FROM alpine\nWORKDIR --foo=1 /x\n", "Containerfile:2:9: unknown flag `--foo` for WORKDIR");
  expect_error ("FROM alpine\nENV --platform=x A=1\n", "Containerfile:2:5: flag `--platform` is not allowed for ENV");
  expect_error ("FROM --platfrom=x alpine\n", "Containerfile:1:6: unknown flag `--platfrom` for FROM");
  expect_error ("FROM alpine\nRUN --network=bridge true\n",
                "Containerfile:2:5: invalid network mode `bridge` (default, none or host)");
  expect_error ("FROM alpine\nRUN --security=root true\n",
                "Containerfile:2:5: invalid security mode `root` (sandbox or insecure)");
  expect_error ("FROM alpine\nRUN --mount=type=foo true\n",
                "Containerfile:2:5: --mount `type=foo`: unsupported mount type `foo` (bind, cache, tmpfs, secret or ssh)");
  expect_error ("FROM alpine\nRUN --device=x true\n", "Containerfile:2:5: unknown flag `--device` for RUN");
  expect_error ("FROM alpine\nUSER --chown=1 app\n", "Containerfile:2:6: flag `--chown` is not allowed for USER");

  b = must_build ("FROM alpine\nRUN --network=none --security=insecure [\"echo\", \"hi\"]\nRUN --network=host echo hi\n"
                  "RUN echo plain\n",
                  NULL, NULL);
  r = &b.plan->stages[0].cmds[0]->u.run;
  assert_int_equal (r->network, CF_NETWORK_NONE);
  assert_int_equal (r->security, CF_SECURITY_INSECURE);
  assert_false (r->line.prepend_shell);
  assert_strvec (&r->line.args, (const char *const[]) { "echo", "hi", NULL });
  r = &b.plan->stages[0].cmds[1]->u.run;
  assert_int_equal (r->network, CF_NETWORK_HOST);
  assert_true (r->line.prepend_shell);
  assert_strvec (&r->line.args, (const char *const[]) { "echo hi", NULL });
  r = &b.plan->stages[0].cmds[2]->u.run;
  assert_int_equal (r->network, CF_NETWORK_DEFAULT);
  assert_int_equal (r->security, CF_SECURITY_SANDBOX);
  built_free (&b);
}

static const cf_mount *
first_mount (const char *text, built *b)
{
  *b = must_build (text, NULL, NULL);
  assert_int_equal (step_of (b->plan, 0, b->plan->stages[0].ncmds - 1)->expanded->u.run.nmounts, 1);
  return &step_of (b->plan, 0, b->plan->stages[0].ncmds - 1)->expanded->u.run.mounts[0];
}

static void
test_mounts_good (void **state)
{
  built b;
  const cf_mount *m;

  (void) state;
  m = first_mount ("FROM alpine\nRUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,"
                   "uid=1000,gid=1001 true\n",
                   &b);
  assert_int_equal (m->type, CF_MOUNT_CACHE);
  assert_string_equal (m->target, "/root/.cache");
  assert_string_equal (m->id, "pip");
  assert_int_equal (m->sharing, CF_SHARING_LOCKED);
  assert_true (m->has_mode && m->has_uid && m->has_gid);
  assert_int_equal (m->mode, 0755);
  assert_int_equal (m->uid, 1000);
  assert_int_equal (m->gid, 1001);
  assert_false (m->readonly);
  built_free (&b);

  b = must_build ("FROM alpine AS build\nFROM alpine\nRUN --mount=type=bind,from=build,source=/out,dst=/in,rw true\n",
                  NULL, NULL);
  m = &step_of (b.plan, 1, 0)->expanded->u.run.mounts[0];
  assert_int_equal (m->type, CF_MOUNT_BIND);
  assert_string_equal (m->from, "build");
  assert_string_equal (m->source, "/out");
  assert_string_equal (m->target, "/in");
  assert_false (m->readonly);
  assert_int_equal (b.plan->stages[1].refs[0].stage, 0);
  built_free (&b);

  m = first_mount ("FROM alpine\nRUN --mount=target=/b,src=/a true\n", &b);
  assert_int_equal (m->type, CF_MOUNT_BIND);
  assert_true (m->readonly);
  built_free (&b);
  m = first_mount ("FROM alpine\nRUN --mount=type=tmpfs,destination=/tmp,size=64m true\n", &b);
  assert_int_equal (m->type, CF_MOUNT_TMPFS);
  assert_true (m->has_size);
  assert_int_equal (m->size, 64 * 1024 * 1024);
  assert_false (m->readonly);
  built_free (&b);
  m = first_mount ("FROM alpine\nRUN --mount=type=secret,id=tok,env=TOKEN,required true\n", &b);
  assert_int_equal (m->type, CF_MOUNT_SECRET);
  assert_string_equal (m->env, "TOKEN");
  assert_true (m->required);
  assert_true (m->readonly);
  built_free (&b);
  m = first_mount ("FROM alpine\nRUN --mount=type=ssh,required=false,ro=false true\n", &b);
  assert_int_equal (m->type, CF_MOUNT_SSH);
  assert_false (m->required);
  assert_false (m->readonly);
  built_free (&b);
  /* Values are expanded with the scope; the spec as written is kept.  */
  m = first_mount ("FROM alpine\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE true\n", &b);
  assert_string_equal (m->target, "/root/.cache");
  assert_string_equal (b.plan->stages[0].cmds[1]->u.run.mount_specs.v[0], "type=cache,target=$CACHE");
  built_free (&b);
}

static void
expect_mount_error (const char *spec, const char *msg)
{
  gsi_error err = GSI_ERROR_INIT;
  cf_mount m;

  assert_int_equal (cf_mount_parse (spec, NULL, NULL, &m, &err), -1);
  assert_string_equal (err.msg, msg);
  gsi_error_clear (&err);
}

static void
test_mounts_bad (void **state)
{
  (void) state;
  expect_mount_error ("type=bind,mode=0755", "mode not allowed for `bind` type mounts");
  expect_mount_error ("type=tmpfs,uid=1", "uid not allowed for `tmpfs` type mounts");
  expect_mount_error ("type=secret,from=x,id=a", "secret mount should not have a from");
  expect_mount_error ("type=secret", "invalid secret mount: one of source, target or id is required");
  expect_mount_error ("type=secret,id=a,source=b", "both source and id can't be set");
  expect_mount_error ("type=secret,id=a,sharing=shared", "secret mount should not define sharing");
  expect_mount_error ("type=bind,sharing=shared", "invalid cache sharing set for `bind` mount");
  expect_mount_error ("type=cache,sharing=weird", "unsupported sharing value `weird` (shared, private or locked)");
  expect_mount_error ("type=cache,foo=bar", "unexpected key `foo` in `foo=bar`");
  expect_mount_error ("type=cache,uid=x", "invalid value `x` for uid");
  expect_mount_error ("type=cache,mode=0758", "invalid value `0758` for mode");
  expect_mount_error ("type=bind,size=1m", "unexpected key `size` for mount type `bind`");
  expect_mount_error ("type=tmpfs,size=lots", "invalid value for size: `lots`");
  expect_mount_error ("type=bind,ro=maybe", "invalid value for ro: `maybe`");
  expect_mount_error ("type=cache,target", "invalid field `target`: it must be a key=value pair");
  expect_mount_error ("required,type=secret,id=x", "unexpected key `required` for mount type `bind`");
  expect_mount_error ("type=cache,", "invalid field ``: it must be a key=value pair");
  expect_mount_error ("\"type=cache", "failed to parse csv mounts: extraneous or missing \" in quoted-field");
  /* Mount errors found by the walk are placed on the --mount flag.  */
  expect_error ("FROM alpine\nRUN --mount=type=cache --mount=type=secret true\n",
                "Containerfile:2:24: --mount `type=secret`: invalid secret mount: one of source, target or id is required");
  {
    gsi_error err = GSI_ERROR_INIT;
    cf_mount m;
    assert_int_equal (cf_mount_parse ("\"type=cache\",\"target=/a,b\"", NULL, NULL, &m, &err), 0);
    assert_string_equal (m.target, "/a,b");
    cf_mount_clear (&m);
  }
}

static void
test_healthcheck (void **state)
{
  built b;
  const cf_health_cmd *h;

  (void) state;
  b = must_build ("FROM alpine\n"
                  "HEALTHCHECK --interval=1m30s --timeout=10s --start-period=5s --start-interval=500ms --retries=3 "
                  "CMD curl -f http://localhost/ || exit 1\n"
                  "HEALTHCHECK CMD [\"curl\", \"-f\", \"x\"]\n"
                  "HEALTHCHECK NONE\n"
                  "HEALTHCHECK --interval=0s cmd true\n",
                  NULL, NULL);
  h = &b.plan->stages[0].cmds[0]->u.health;
  assert_false (h->none);
  assert_strvec (&h->test, (const char *const[]) { "CMD-SHELL", "curl -f http://localhost/ || exit 1", NULL });
  assert_int_equal (h->interval, 90000000000LL);
  assert_int_equal (h->timeout, 10000000000LL);
  assert_int_equal (h->start_period, 5000000000LL);
  assert_int_equal (h->start_interval, 500000000LL);
  assert_int_equal (h->retries, 3);
  h = &b.plan->stages[0].cmds[1]->u.health;
  assert_strvec (&h->test, (const char *const[]) { "CMD", "curl", "-f", "x", NULL });
  assert_int_equal (h->interval, 0);
  h = &b.plan->stages[0].cmds[2]->u.health;
  assert_true (h->none);
  assert_strvec (&h->test, (const char *const[]) { "NONE", NULL });
  assert_int_equal (b.plan->stages[0].cmds[3]->u.health.interval, 0);
  built_free (&b);

  expect_error ("FROM alpine\nHEALTHCHECK NONE extra\n", "Containerfile:2:1: HEALTHCHECK NONE takes no arguments");
  expect_error ("FROM alpine\nHEALTHCHECK --interval=5s NONE\n",
                "Containerfile:2:13: flag `--interval` is not allowed for HEALTHCHECK NONE");
  expect_error ("FROM alpine\nHEALTHCHECK --interval=10 CMD true\n",
                "Containerfile:2:13: flag `--interval`: missing unit in duration `10`");
  expect_error ("FROM alpine\nHEALTHCHECK --timeout=100us CMD true\n",
                "Containerfile:2:13: flag `--timeout` cannot be less than 1ms");
  expect_error ("FROM alpine\nHEALTHCHECK --retries=-1 CMD true\n",
                "Containerfile:2:13: flag `--retries` cannot be negative (-1)");
  expect_error ("FROM alpine\nHEALTHCHECK --retries=x CMD true\n",
                "Containerfile:2:13: flag `--retries`: invalid number `x`");
  expect_error ("FROM alpine\nHEALTHCHECK --intervl=1s CMD true\n",
                "Containerfile:2:13: unknown flag `--intervl` for HEALTHCHECK");
  expect_error ("FROM alpine\nHEALTHCHECK BOGUS true\n",
                "Containerfile:2:13: unknown type `BOGUS` in HEALTHCHECK (try CMD)");
}

static void
test_durations (void **state)
{
  static const struct
  {
    const char *in;
    long long ns;
  } good[] = {
    { "0", 0 },
    { "1h2m3.5s", 3723500000000LL },
    { "1.5h", 5400000000000LL },
    { "-1s", -1000000000LL },
    { "+5ms", 5000000LL },
    { ".5s", 500000000LL },
    { "5.s", 5000000000LL },
    { "1\xc2\xb5s", 1000LL },
    { "2us3ns", 2003LL },
  };
  static const char *const bad[][2] = {
    { "", "invalid duration ``" },
    { "1", "missing unit in duration `1`" },
    { "1x", "unknown unit `x` in duration `1x`" },
    { ".", "invalid duration `.`" },
    { "s", "invalid duration `s`" },
    { "1s-2s", "unknown unit `s-` in duration `1s-2s`" },
    { "1.s.5", "missing unit in duration `1.s.5`" },
    { "99999999999h", "invalid duration `99999999999h`" },
  };

  (void) state;
  for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++)
    {
      gsi_error err = GSI_ERROR_INIT;
      int64_t ns = 42;
      if (cf_parse_duration (good[i].in, &ns, &err) < 0)
        fail_msg ("`%s`: %s", good[i].in, err.msg);
      assert_int_equal (ns, good[i].ns);
    }
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      gsi_error err = GSI_ERROR_INIT;
      int64_t ns = 0;
      assert_int_equal (cf_parse_duration (bad[i][0], &ns, &err), -1);
      assert_string_equal (err.msg, bad[i][1]);
      gsi_error_clear (&err);
    }
}

static void
test_other_instructions (void **state)
{
  built b;
  const cf_cmd *c;

  (void) state;
  b = must_build ("FROM scratch\n"
                  "ENV A 1\n"
                  "LABEL a=b \"c d\"=e\n"
                  "CMD [\"/bin/app\", \"-v\"]\n"
                  "ENTRYPOINT exec app\n"
                  "SHELL [\"/bin/bash\", \"-c\"]\n"
                  "MAINTAINER someone <a@b>\n"
                  "VOLUME [\"/data\", \"/logs\"]\n"
                  "EXPOSE 80/tcp 8000-8002/udp\n"
                  "STOPSIGNAL SIGKILL\n"
                  "USER app:app\n",
                  NULL, NULL);
  c = b.plan->stages[0].cmds[0];
  assert_int_equal (c->kind, CF_CMD_ENV);
  assert_true (c->u.kvs.kv[0].no_delim);
  assert_string_equal (c->u.kvs.kv[0].key, "A");
  assert_string_equal (c->u.kvs.kv[0].value, "1");
  c = step_of (b.plan, 0, 1)->expanded;
  assert_int_equal (c->u.kvs.n, 2);
  assert_string_equal (c->u.kvs.kv[1].key, "c d");
  assert_false (c->u.kvs.kv[1].no_delim);
  c = b.plan->stages[0].cmds[2];
  assert_false (c->u.cmdline.prepend_shell);
  assert_strvec (&c->u.cmdline.args, (const char *const[]) { "/bin/app", "-v", NULL });
  c = b.plan->stages[0].cmds[3];
  assert_true (c->u.cmdline.prepend_shell);
  assert_strvec (&c->u.cmdline.args, (const char *const[]) { "exec app", NULL });
  assert_strvec (&b.plan->stages[0].cmds[4]->u.list, (const char *const[]) { "/bin/bash", "-c", NULL });
  assert_string_equal (b.plan->stages[0].cmds[5]->u.value, "someone <a@b>");
  assert_strvec (&b.plan->stages[0].cmds[6]->u.list, (const char *const[]) { "/data", "/logs", NULL });
  assert_strvec (&b.plan->stages[0].cmds[7]->u.list, (const char *const[]) { "80/tcp", "8000-8002/udp", NULL });
  assert_string_equal (b.plan->stages[0].cmds[9]->u.value, "app:app");
  assert_string_equal (cf_kind_name (b.plan->stages[0].cmds[8]->kind), "STOPSIGNAL");
  built_free (&b);

  expect_error ("FROM scratch\nEXPOSE 80/tcp 8000-8002/udp 70000\n",
                "Containerfile:2:29: invalid port `70000` in `70000`");
  expect_error ("FROM scratch\nSTOPSIGNAL FOO\n", "Containerfile:2:12: invalid signal `FOO`");
  expect_error ("FROM scratch\nARG E\nVOLUME $E\n", "Containerfile:3:1: VOLUME specified can not be an empty string");
}

static void
test_heredocs (void **state)
{
  built b;
  const cf_copy_cmd *cp;
  const cf_run_cmd *r;

  (void) state;
  b = must_build ("FROM scratch\n"
                  "ARG NAME=world\n"
                  "COPY <<EOF <<'RAW' /dst/\n"
                  "hello $NAME \"q\"\n"
                  "EOF\n"
                  "keep $NAME\n"
                  "RAW\n"
                  "RUN <<EOF\n"
                  "echo hi\n"
                  "EOF\n",
                  NULL, NULL);
  cp = &b.plan->stages[0].cmds[1]->u.copy;
  assert_int_equal (cp->sources.n, 0);
  assert_int_equal (cp->ncontents, 2);
  assert_string_equal (cp->contents[0].name, "EOF");
  assert_string_equal (cp->contents[0].content, "hello $NAME \"q\"\n");
  assert_true (cp->contents[0].expand);
  assert_false (cp->contents[1].expand);
  cp = &step_of (b.plan, 0, 1)->expanded->u.copy;
  assert_string_equal (cp->contents[0].content, "hello world \"q\"\n");
  assert_string_equal (cp->contents[1].content, "keep $NAME\n");
  r = &b.plan->stages[0].cmds[2]->u.run;
  assert_true (r->line.prepend_shell);
  assert_strvec (&r->line.args, (const char *const[]) { "<<EOF", NULL });
  assert_int_equal (r->line.nfiles, 1);
  assert_string_equal (r->line.files[0].content, "echo hi\n");
  built_free (&b);
  expect_error ("FROM scratch\nCOPY a <<EOF\nx\nEOF\n", "Containerfile:2:8: COPY cannot accept a heredoc as a destination");
}

/* ---- value checks ------------------------------------------------------------------------- */

static void
test_image_refs (void **state)
{
  static const char *const good[] = {
    "alpine",
    "alpine:3.19",
    "docker.io/library/alpine:latest",
    "ghcr.io/rackerlabs/genestack-images/openstack-venv:3.12-latest",
    "localhost:5000/foo/bar:tag",
    "localhost/foo",
    "registry.example.com:443/a_b/c__d/e-f/g.h",
    "UPPER.example.com/x",
    "[::1]:5000/x",
    "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "alpine:3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  };
  static const char *const bad[] = {
    "",          "Alpine",        "alpine:",      "alpine:-x",        "a b",
    "alpine@sha256:abc",          "foo//bar",     "-foo",             "foo_",
    "foo___bar", "host:port/x",   "/alpine",      "alpine/",          "a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
  };

  (void) state;
  for (size_t i = 0; i < sizeof (good) / sizeof (good[0]); i++)
    if (!cf_image_ref_valid (good[i]))
      fail_msg ("`%s` should be valid", good[i]);
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    if (cf_image_ref_valid (bad[i]))
      fail_msg ("`%s` should be invalid", bad[i]);
}

static void
test_value_checks (void **state)
{
  static const char *const chmod_ok[] = { "755", "0755", "7777", "0", "u+x", "u+x,g-w", "a=rX", "+x", "go=u", "u+s-t" };
  static const char *const chmod_bad[] = { "10000", "64a", "u+q", "u", "", "u+x,", "8" };
  static const struct
  {
    const char *in;
    int signo;
  } sigs[] = { { "9", 9 }, { "term", 15 }, { "SIGKILL", 9 }, { "SIGRTMIN+3", 37 }, { "RTMAX-1", 63 }, { "rtmin", 34 } };
  gsi_error err = GSI_ERROR_INIT;
  gsi_strvec ports = GSI_STRVEC_INIT;
  int signo = 0;

  (void) state;
  for (size_t i = 0; i < sizeof (chmod_ok) / sizeof (chmod_ok[0]); i++)
    if (cf_check_chmod (chmod_ok[i], &err) < 0)
      fail_msg ("chmod `%s`: %s", chmod_ok[i], err.msg);
  for (size_t i = 0; i < sizeof (chmod_bad) / sizeof (chmod_bad[0]); i++)
    {
      assert_int_equal (cf_check_chmod (chmod_bad[i], &err), -1);
      gsi_error_clear (&err);
    }
  for (size_t i = 0; i < sizeof (sigs) / sizeof (sigs[0]); i++)
    {
      assert_int_equal (cf_parse_signal (sigs[i].in, &signo, &err), 0);
      assert_int_equal (signo, sigs[i].signo);
    }
  assert_int_equal (cf_parse_signal ("0", &signo, &err), -1);
  gsi_error_clear (&err);
  assert_int_equal (cf_parse_signal ("RTMIN+16", &signo, &err), -1);
  gsi_error_clear (&err);

  assert_int_equal (cf_parse_port_spec ("8000-8002/UDP", &ports, &err), 0);
  assert_int_equal (cf_parse_port_spec ("127.0.0.1:8080:80", &ports, &err), 0);
  assert_int_equal (cf_parse_port_spec ("443", &ports, &err), 0);
  assert_strvec (&ports, (const char *const[]) { "8000/udp", "8001/udp", "8002/udp", "80/tcp", "443/tcp", NULL });
  assert_int_equal (cf_parse_port_spec ("80/xyz", &ports, &err), -1);
  assert_string_equal (err.msg, "invalid protocol `xyz` in port `80/xyz`");
  gsi_error_clear (&err);
  assert_int_equal (cf_parse_port_spec ("90-80", &ports, &err), -1);
  gsi_error_clear (&err);
  assert_int_equal (cf_parse_port_spec ("8000-8001:80-82", &ports, &err), -1);
  gsi_error_clear (&err);
  gsi_strvec_clear (&ports);

  assert_true (cf_stage_name_valid ("a"));
  assert_true (cf_stage_name_valid ("Build-1.x_y"));
  assert_false (cf_stage_name_valid ("1a"));
  assert_false (cf_stage_name_valid ("_a"));
  assert_false (cf_stage_name_valid (""));
  assert_false (cf_stage_name_valid ("a:b"));
}

static void
test_clone_is_deep (void **state)
{
  built b = must_build (genestack_like, NULL, NULL);

  (void) state;
  for (size_t s = 0; s < b.plan->nstages; s++)
    for (size_t i = 0; i < b.plan->stages[s].ncmds; i++)
      {
        cf_cmd *c = cf_cmd_clone (b.plan->stages[s].cmds[i]);
        assert_int_equal (c->kind, b.plan->stages[s].cmds[i]->kind);
        assert_string_equal (c->original, b.plan->stages[s].cmds[i]->original);
        assert_ptr_not_equal (c->original, b.plan->stages[s].cmds[i]->original);
        cf_cmd_free (c);
      }
  built_free (&b);
}

/* ---- BuildKit's parser test files through the whole pass ---------------------------------- */

/* The files BuildKit's parser accepts but a build rejects, with where the pass places the error
 * (a NULL cause: only the location is checked, the words being the shell lexer's).  */
static const struct
{
  const char *name;
  const char *where;
  const char *cause;
} peer_failures[] = {
  { "env", "env/Dockerfile:12:10: ", NULL },
  { "escapes", "escapes/Dockerfile:6:5: ", NULL },
  { "flags", "flags/Dockerfile:3:6: ", "unknown flag `--user` for COPY" },
  { "jeztah-invalid-json-json-inside-string", "jeztah-invalid-json-json-inside-string/Dockerfile:1:1: ",
    "CMD before the first FROM: only ARG may come before it" },
  { "jeztah-invalid-json-json-inside-string-double", "jeztah-invalid-json-json-inside-string-double/Dockerfile:1:1: ",
    "CMD before the first FROM: only ARG may come before it" },
  { "jeztah-invalid-json-unterminated-bracket", "jeztah-invalid-json-unterminated-bracket/Dockerfile:1:1: ",
    "CMD before the first FROM: only ARG may come before it" },
  { "jeztah-invalid-json-unterminated-string", "jeztah-invalid-json-unterminated-string/Dockerfile:1:1: ",
    "CMD before the first FROM: only ARG may come before it" },
  { "json", "json/Dockerfile:1:1: ", "CMD before the first FROM: only ARG may come before it" },
};

static void
run_peer_case (const char *dir, const char *name, size_t *ok, size_t *rejected)
{
  gsi_buf path = GSI_BUF_INIT;
  char label[512];
  gsi_error err = GSI_ERROR_INIT;
  cf_file *f = NULL;
  cf_plan *p = NULL;
  cf_plan_opts opts = { .platform = "linux/amd64" };
  size_t len = 0, froms = 0;
  char *text;

  gsi_buf_addf (&path, "%s/%s/Dockerfile", dir, name);
  snprintf (label, sizeof (label), "%.400s/Dockerfile", name);
  text = test_read_file (path.buf, &len);
  gsi_buf_release (&path);
  if (text == NULL)
    return;
  if (cf_parse (label, text, len, &f, &err) < 0)
    fail_msg ("%s: parse: %s", label, err.msg);
  free (text);
  for (size_t i = 0; i < f->n; i++)
    froms += strcmp (f->instrs[i].keyword, "from") == 0;
  if (cf_plan_build (f, &opts, &p, &err) == 0)
    {
      for (size_t i = 0; i < sizeof (peer_failures) / sizeof (peer_failures[0]); i++)
        if (strcmp (peer_failures[i].name, name) == 0)
          fail_msg ("%s: expected an error at `%s`", label, peer_failures[i].where);
      assert_int_equal (p->nstages, froms);
      assert_int_equal (p->target, froms - 1);
      (*ok)++;
    }
  else
    {
      size_t i;
      for (i = 0; i < sizeof (peer_failures) / sizeof (peer_failures[0]); i++)
        if (strcmp (peer_failures[i].name, name) == 0)
          break;
      if (i == sizeof (peer_failures) / sizeof (peer_failures[0]))
        fail_msg ("%s: unexpected error: %s", label, err.msg);
      assert_memory_equal (err.msg, peer_failures[i].where, strlen (peer_failures[i].where));
      if (peer_failures[i].cause)
        assert_string_equal (err.msg + strlen (peer_failures[i].where), peer_failures[i].cause);
      (*rejected)++;
    }
  gsi_error_clear (&err);
  cf_plan_free (p);
  cf_file_free (f);
}

static void
test_peer_parser_files (void **state)
{
  const char *peer = test_peer_dir ();
  char dir[4096];
  size_t ok = 0, rejected = 0;
  DIR *d;
  struct dirent *e;

  (void) state;
  if (peer == NULL)
    skip ();
  snprintf (dir, sizeof (dir), "%s/buildkit/parser/testfiles", peer);
  d = opendir (dir);
  assert_non_null (d);
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      run_peer_case (dir, e->d_name, &ok, &rejected);
  closedir (d);
  print_message ("%zu BuildKit parser files planned, %zu rejected as a build would\n", ok, rejected);
  assert_int_equal (rejected, sizeof (peer_failures) / sizeof (peer_failures[0]));
  assert_true (ok >= 15);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_check_three_stages),
    cmocka_unit_test (test_targets_and_needs),
    cmocka_unit_test (test_onbuild_needs),
    cmocka_unit_test (test_global_arg_rules),
    cmocka_unit_test (test_arg_and_env_scope),
    cmocka_unit_test (test_stage_inherits_scope),
    cmocka_unit_test (test_from_undeclared_arg),
    cmocka_unit_test (test_from_base_errors),
    cmocka_unit_test (test_stage_names),
    cmocka_unit_test (test_copy_from),
    cmocka_unit_test (test_copy_add_flags),
    cmocka_unit_test (test_other_flags),
    cmocka_unit_test (test_mounts_good),
    cmocka_unit_test (test_mounts_bad),
    cmocka_unit_test (test_healthcheck),
    cmocka_unit_test (test_durations),
    cmocka_unit_test (test_other_instructions),
    cmocka_unit_test (test_heredocs),
    cmocka_unit_test (test_image_refs),
    cmocka_unit_test (test_value_checks),
    cmocka_unit_test (test_clone_is_deep),
    cmocka_unit_test (test_peer_parser_files),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
