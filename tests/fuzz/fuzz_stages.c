/* libFuzzer target for the semantic pass: parse, plan the build (stages, ARG scopes, COPY --from
 * resolution, needs), format the check output, re-walk every stage with a base environment, free.
 * Any crash, leak or sanitizer report is a bug; errors from bad input are the expected outcome.  */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "containerfile/ast.h"
#include "containerfile/stages.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Re-walks every stage as the build engine does once it knows the base image's Env.  */
static void
walk_with_base_env (cf_plan *plan)
{
  cleanup_strvec gsi_strvec env = GSI_STRVEC_INIT;

  gsi_strvec_push (&env, "PATH=/usr/local/bin:/usr/bin:/bin");
  gsi_strvec_push (&env, "LANG=C.UTF-8");
  for (size_t i = 0; i < plan->nstages; i++)
    {
      cleanup_error gsi_error err = GSI_ERROR_INIT;
      const gsi_strvec *base = plan->stages[i].base_kind == CF_BASE_IMAGE ? &env : NULL;
      (void) cf_plan_walk_stage (plan, i, base, &err);
    }
}

static void
plan_once (const cf_file *f, const char *target, const gsi_strvec *build_args)
{
  cleanup_error gsi_error err = GSI_ERROR_INIT;
  cleanup_buf gsi_buf out = GSI_BUF_INIT;
  cf_plan_opts opts = { .target = target, .build_args = build_args, .platform = NULL };
  cf_plan *plan = NULL;

  if (cf_plan_build (f, &opts, &plan, &err) < 0)
    return;
  cf_plan_format_check (plan, &out);
  walk_with_base_env (plan);
  cf_plan_free (plan);
}

/* The name of the first FROM ... AS NAME, so --target is exercised on a stage that exists.  */
static const char *
first_stage_name (const cf_file *f)
{
  for (size_t i = 0; i < f->n; i++)
    if (f->instrs[i].keyword && strcmp (f->instrs[i].keyword, "from") == 0 && f->instrs[i].args.n == 3)
      return f->instrs[i].args.v[2];
  return "dependency_build";
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  cleanup_error gsi_error err = GSI_ERROR_INIT;
  cleanup_strvec gsi_strvec build_args = GSI_STRVEC_INIT;
  cf_file *f = NULL;

  if (cf_parse ("fuzz.Containerfile", (const char *) data, size, &f, &err) < 0)
    return 0;
  plan_once (f, NULL, NULL);
  /* A second plan with build args that the Genestack files use, and the first stage as target
   * when it has a name, reaches the override and target paths.  */
  gsi_strvec_push (&build_args, "VENV_TAG=3.13-latest");
  gsi_strvec_push (&build_args, "BUILT_TAG=");
  plan_once (f, first_stage_name (f), &build_args);
  cf_file_free (f);
  return 0;
}
