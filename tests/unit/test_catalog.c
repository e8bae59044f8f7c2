/* The catalog: loading and checking catalog.yaml, and the build graph of a release.  Each test
 * writes a small catalog (catalog.yaml + ContainerFiles/) into its own temp dir.  */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/archive.h"
#include "catalog/catalog.h"
#include "oci/image.h"
#include "oci/store.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/version.h"

static const char good_yaml[] = "registry: ghcr.io/example/imgs\n"
                                "releases:\n"
                                "  \"2025.1\":\n"
                                "    suite: trixie\n"
                                "    base: debian-trixie\n"
                                "    build_args: { RELEASE: \"2025.1\", PARENT: venv }\n"
                                "  \"2026.1\": { suite: sid, base: debian-sid, build_args: { RELEASE: \"2026.1\", PARENT: alt } }\n"
                                "bases:\n"
                                "  debian-trixie:\n"
                                "    ref: \"debian:trixie\"\n"
                                "    bootstrap: { distro: debian, suite: trixie, variant: minbase, mirror: \"http://m/debian\",\n"
                                "                 aptopt: [\"Acquire::Check-Valid-Until \\\"false\\\"\", \"Acquire::Retries 5\"] }\n"
                                "  debian-sid: { ref: \"debian:sid\" }\n"
                                "images:\n"
                                "  venv:\n"
                                "    description: \"the venv\"\n"
                                "  alt:\n"
                                "    description: \"another root\"\n"
                                "  keystone:\n"
                                "    description: \"identity\"\n"
                                "    service_package: keystone\n"
                                "    smoke: [\"keystone-manage\", \"--version\"]\n"
                                "    releases:\n"
                                "      \"2026.1\": { available: false, reason: \"not yet\" }\n";

/* Containerfiles of good_yaml: keystone's parent follows the release's PARENT build arg and it
 * copies from alt (a COPY --from image reference); debian:* are external.  */
static const char *const good_files[] = {
  "venv", "ARG RELEASE\nFROM debian:trixie\nRUN true\n",
  "alt", "FROM debian:sid AS s\nFROM scratch\nCOPY --from=s /x /x\n",
  "keystone",
  "ARG RELEASE=2025.1\nARG PARENT=venv\nARG REGISTRY=ghcr.io/example/imgs\n"
  "FROM ${REGISTRY}/${PARENT}:${RELEASE}-latest\n"
  "COPY --from=ghcr.io/example/imgs/alt:2025.1-latest /a /a\n",
  NULL,
};

typedef struct fixture
{
  char dir[64];
  char *yaml;
} fixture;

static void
write_file (const char *path, const char *text)
{
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
}

/* A catalog dir with yaml and the Containerfiles files (name, text, ... NULL).  */
static void
make_catalog (fixture *fx, const char *yaml, const char *const *files)
{
  strcpy (fx->dir, "/tmp/gsi-test-catalog-XXXXXX");
  assert_non_null (mkdtemp (fx->dir));
  cleanup_free char *cfdir = xasprintf ("%s/ContainerFiles", fx->dir);
  assert_int_equal (mkdir (cfdir, 0755), 0);
  fx->yaml = xasprintf ("%s/catalog.yaml", fx->dir);
  write_file (fx->yaml, yaml);
  for (size_t i = 0; files && files[i]; i += 2)
    {
      cleanup_free char *p = xasprintf ("%s/%s", cfdir, files[i]);
      write_file (p, files[i + 1]);
    }
}

static void
drop_catalog (fixture *fx)
{
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", fx->dir);
  assert_int_equal (system (cmd), 0);
  free (fx->yaml);
}

/* Loads yaml and expects the error "DIR/catalog.yaml:" + suffix.  */
static void
expect_load_error (const char *yaml, const char *const *files, const char *suffix)
{
  fixture fx;
  gsi_catalog *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  make_catalog (&fx, yaml, files);
  assert_int_equal (gsi_catalog_load (fx.yaml, &c, &err), -1);
  assert_null (c);
  cleanup_free char *want = xasprintf ("%s:%s", fx.yaml, suffix);
  assert_string_equal (err.msg, want);
  gsi_error_clear (&err);
  drop_catalog (&fx);
}

static void
test_load_good (void **state)
{
  (void) state;
  fixture fx;
  gsi_catalog *c = NULL;
  gsi_error err = GSI_ERROR_INIT;
  const char *reason = NULL;

  make_catalog (&fx, good_yaml, good_files);
  assert_int_equal (gsi_catalog_load (fx.yaml, &c, &err), 0);
  assert_string_equal (c->registry, "ghcr.io/example/imgs");
  assert_string_equal (c->source, "https://github.com/example/imgs");
  assert_string_equal (c->root, fx.dir);
  assert_int_equal (c->n_releases, 2);
  assert_string_equal (c->releases[0].name, "2025.1");
  assert_string_equal (c->releases[0].base, "debian-trixie");
  assert_int_equal (c->releases[0].build_args.n, 3);
  assert_string_equal (c->releases[0].build_args.v[1], "PARENT=venv");
  /* The catalog's registry reaches the Containerfiles as REGISTRY.  */
  assert_string_equal (c->releases[0].build_args.v[2], "REGISTRY=ghcr.io/example/imgs");
  assert_int_equal (gsi_catalog_set_registry (c, "127.0.0.1:5000/ns/imgs", &err), 0);
  assert_string_equal (c->registry, "127.0.0.1:5000/ns/imgs");
  assert_string_equal (c->releases[0].build_args.v[2], "REGISTRY=127.0.0.1:5000/ns/imgs");
  assert_int_equal (gsi_catalog_set_registry (c, "Bad/Name", &err), -1);
  assert_string_equal (err.msg, "registry `Bad/Name` is not REGISTRY-HOST[:PORT]/PATH in the reference grammar");
  gsi_error_clear (&err);
  assert_int_equal (gsi_catalog_set_registry (c, "nodomain", &err), -1);
  gsi_error_clear (&err);
  assert_int_equal (gsi_catalog_set_registry (c, "ghcr.io/example/imgs", &err), 0);
  assert_int_equal (c->n_bases, 2);
  assert_true (c->bases[0].bootstrap);
  assert_string_equal (c->bases[0].mirror, "http://m/debian");
  assert_int_equal (c->bases[0].aptopts.n, 2);
  assert_string_equal (c->bases[0].aptopts.v[0], "Acquire::Check-Valid-Until \"false\"");
  assert_string_equal (c->bases[0].aptopts.v[1], "Acquire::Retries 5");
  assert_false (c->bases[1].bootstrap);
  assert_int_equal (c->n_images, 3);
  assert_int_equal (gsi_catalog_find_image (c, "keystone"), 2);
  assert_int_equal (gsi_catalog_find_image (c, "nova"), -1);
  assert_string_equal (c->images[2].service_package, "keystone");
  assert_int_equal (c->images[2].smoke.n, 2);
  assert_string_equal (c->images[2].smoke.v[1], "--version");
  assert_true (gsi_catalog_available (c, 2, "2025.1", &reason));
  assert_null (reason);
  assert_false (gsi_catalog_available (c, 2, "2026.1", &reason));
  assert_string_equal (reason, "not yet");
  assert_int_equal (c->images[2].line, 19);
  cleanup_free char *tag = gsi_catalog_tag (c, c->tag_immutable, "keystone", "2025.1", "20250131");
  assert_string_equal (tag, "ghcr.io/example/imgs/keystone:2025.1-20250131");
  gsi_catalog_free (c);
  drop_catalog (&fx);
}

static void
test_load_errors (void **state)
{
  (void) state;
  static const char *const one[] = { "a", "FROM scratch\n", NULL };
  const char *head = "registry: r.example/x\n"
                     "releases:\n"
                     "  r1: { base: b }\n"
                     "bases:\n"
                     "  b: { ref: \"x:1\" }\n";
  cleanup_free char *unknown_img = xasprintf ("%simages:\n  a:\n    description: d\n    smok: [x]\n", head);
  cleanup_free char *no_cf = xasprintf ("%simages:\n  a: { description: d }\n  zz: { description: d }\n", head);
  cleanup_free char *bad_rel = xasprintf ("%simages:\n  a:\n    description: d\n    releases: { r9: {} }\n", head);
  cleanup_free char *bad_bool = xasprintf ("%simages:\n  a:\n    description: d\n    releases: { r1: { available: maybe } }\n",
                                           head);
  cleanup_free char *no_desc = xasprintf ("%simages:\n  a: { smoke: [x] }\n", head);
  cleanup_free char *bad_smoke = xasprintf ("%simages:\n  a: { description: d, smoke: x }\n", head);

  expect_load_error (unknown_img, one, "9:5: unknown key `smok` in an image");
  expect_load_error (no_cf, one, "8:3: image `zz` has no Containerfile `ContainerFiles/zz`");
  expect_load_error (bad_rel, one, "9:17: image `a` names release `r9`, which `releases` does not list");
  expect_load_error (bad_bool, one, "9:34: `available` must be true or false");
  expect_load_error (no_desc, one, "7:3: image has no `description`");
  expect_load_error (bad_smoke, one, "7:31: `smoke` must be a non-empty list of strings (an argv)");
  expect_load_error ("registry: r\nreleases:\n  r1: { base: nope }\nbases:\n  b: { ref: x }\nimages: {}\n", one,
                     "3:15: release `r1` uses base `nope`, which `bases` does not list");
  expect_load_error ("registry: r\nreleases:\n  r1: { suite: s }\nbases: {}\nimages: {}\n", one,
                     "3:3: release has no `base`");
  expect_load_error ("registry: r\nreleases: {}\nbases:\n  b: { bootstrap: { distro: debian, suite: s } }\nimages: {}\n",
                     one, "4:3: base has no `ref`");
  expect_load_error ("registry: r\nreleases: {}\nbases: {}\nimages: {}\nextra: 1\n", one,
                     "5:1: unknown key `extra` at the top level");
  expect_load_error ("registry: r\nreleases: {}\nbases: {}\n", one, "1:1: the catalog has no `images`");
  expect_load_error ("registry: [a]\nreleases: {}\nbases: {}\nimages: {}\n", one, "1:1: `registry` must be a string");
  expect_load_error ("- a\n- b\n", one, "1:1: the catalog must be a mapping");
  expect_load_error ("registry: r\nreleases: {}\nbases:\n  b: { ref: x, bootstrap: { distro: debian, suite: s, "
                     "aptopt: \"A 1\" } }\nimages: {}\n",
                     one, "4:64: `aptopt` must be a non-empty list of strings");
}

static void
test_load_syntax_error (void **state)
{
  (void) state;
  fixture fx;
  gsi_catalog *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  make_catalog (&fx, "registry: r\nreleases: { a: [\n", NULL);
  assert_int_equal (gsi_catalog_load (fx.yaml, &c, &err), -1);
  cleanup_free char *want = xasprintf ("%s:3:1: invalid YAML: flow sequence without a closing bracket", fx.yaml);
  assert_string_equal (err.msg, want);
  assert_int_equal (err.line, 3);
  gsi_error_clear (&err);
  drop_catalog (&fx);
  expect_load_error ("registry: r\nregistry: s\nreleases: {}\nbases: {}\nimages: {}\n", NULL,
                     "2:1: invalid YAML: duplicate key");
  assert_int_equal (gsi_catalog_load ("/nonexistent/catalog.yaml", &c, &err), -1);
  assert_string_equal (err.msg, "open `/nonexistent/catalog.yaml`: No such file or directory");
  gsi_error_clear (&err);
}

static void
test_dag_edges (void **state)
{
  (void) state;
  fixture fx;
  gsi_catalog *c = NULL;
  gsi_catalog_dag *d = NULL;
  gsi_error err = GSI_ERROR_INIT;

  make_catalog (&fx, good_yaml, good_files);
  assert_int_equal (gsi_catalog_load (fx.yaml, &c, &err), 0);
  assert_int_equal (gsi_catalog_dag_build (c, "2025.1", &d, &err), 0);
  /* keystone <- venv (FROM) and alt (COPY --from); venv, alt are roots with external bases.  */
  assert_int_equal (d->nodes[2].n_parents, 2);
  assert_int_equal (d->nodes[2].parents[0], 0);
  assert_int_equal (d->nodes[2].parents[1], 1);
  assert_int_equal (d->nodes[2].external.n, 0);
  assert_int_equal (d->nodes[0].n_parents, 0);
  assert_string_equal (d->nodes[0].external.v[0], "debian:trixie");
  assert_string_equal (d->nodes[1].external.v[0], "debian:sid");
  assert_int_equal (d->order[0], 0);
  assert_int_equal (d->order[1], 1);
  assert_int_equal (d->order[2], 2);
  gsi_catalog_dag_free (d);

  /* The release's build args choose the parent: 2026.1 has PARENT=alt.  */
  assert_int_equal (gsi_catalog_dag_build (c, "2026.1", &d, &err), 0);
  assert_int_equal (d->nodes[2].n_parents, 1);
  assert_int_equal (d->nodes[2].parents[0], 1);
  gsi_catalog_dag_free (d);

  assert_int_equal (gsi_catalog_dag_build (c, "1999.1", &d, &err), -1);
  assert_non_null (strstr (err.msg, "no release `1999.1`"));
  gsi_error_clear (&err);
  gsi_catalog_free (c);
  drop_catalog (&fx);
}

static const char cycle_yaml[] = "registry: reg.example/x\n"
                                 "releases:\n  r: { base: b }\n"
                                 "bases:\n  b: { ref: \"base:1\" }\n"
                                 "images:\n"
                                 "  top: { description: d }\n"
                                 "  a: { description: d }\n"
                                 "  b: { description: d }\n"
                                 "  c: { description: d }\n";

static void
test_dag_cycle (void **state)
{
  (void) state;
  static const char *const files[] = {
    "top", "FROM base:1\n",
    "a", "FROM reg.example/x/top:r-latest\nCOPY --from=reg.example/x/c /x /x\n",
    "b", "FROM reg.example/x/a:r-latest\n",
    "c", "FROM reg.example/x/b@sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
    NULL,
  };
  fixture fx;
  gsi_catalog *c = NULL;
  gsi_catalog_dag *d = NULL;
  gsi_error err = GSI_ERROR_INIT;

  make_catalog (&fx, cycle_yaml, files);
  assert_int_equal (gsi_catalog_load (fx.yaml, &c, &err), 0);
  assert_int_equal (gsi_catalog_dag_build (c, "r", &d, &err), -1);
  assert_null (d);
  assert_string_equal (err.msg, "release `r`: dependency cycle: a -> b -> c -> a");
  gsi_error_clear (&err);
  gsi_catalog_free (c);
  drop_catalog (&fx);
}

static void
test_dag_unknown_registry_image (void **state)
{
  (void) state;
  static const char *const files[] = {
    "top", "FROM base:1\n", "a", "FROM base:1\nRUN true\nFROM reg.example/x/nope:1\n",
    "b", "FROM scratch\n", "c", "FROM scratch\n", NULL,
  };
  fixture fx;
  gsi_catalog *c = NULL;
  gsi_catalog_dag *d = NULL;
  gsi_error err = GSI_ERROR_INIT;

  make_catalog (&fx, cycle_yaml, files);
  assert_int_equal (gsi_catalog_load (fx.yaml, &c, &err), 0);
  assert_int_equal (gsi_catalog_dag_build (c, "r", &d, &err), -1);
  cleanup_free char *want = xasprintf ("image `a` (release `r`): %s/ContainerFiles/a:3:1: `reg.example/x/nope:1` is "
                                       "under the catalog registry but the catalog has no image `nope`",
                                       fx.dir);
  assert_string_equal (err.msg, want);
  gsi_error_clear (&err);
  gsi_catalog_free (c);
  drop_catalog (&fx);
}

static void
test_toposort (void **state)
{
  (void) state;
  /* 0 <- 3, 1 <- 0, 2 (none), 3 (none): ties go to the lowest ready index.  */
  size_t p0[] = { 3 }, p1[] = { 0 };
  size_t *parents[] = { p0, p1, NULL, NULL };
  size_t np[] = { 1, 1, 0, 0 };
  size_t order[4];
  size_t *cycle = NULL, ncycle = 0;

  assert_int_equal (gsi_catalog_toposort (4, parents, np, order, &cycle, &ncycle), 0);
  assert_int_equal (order[0], 2);
  assert_int_equal (order[1], 3);
  assert_int_equal (order[2], 0);
  assert_int_equal (order[3], 1);

  /* A self loop is a cycle of one.  */
  size_t np2[] = { 0, 1 };
  size_t s1[] = { 1 };
  size_t *parents3[] = { NULL, s1 };
  assert_int_equal (gsi_catalog_toposort (2, parents3, np2, order, &cycle, &ncycle), -1);
  assert_int_equal (ncycle, 2);
  assert_int_equal (cycle[0], 1);
  assert_int_equal (cycle[1], 1);
  free (cycle);
}

static void
test_dag_close_and_refs (void **state)
{
  (void) state;
  fixture fx;
  gsi_catalog *c = NULL;
  gsi_catalog_dag *d = NULL;
  gsi_error err = GSI_ERROR_INIT;
  bool want[3] = { false, false, true };
  char *name = NULL;

  make_catalog (&fx, good_yaml, good_files);
  assert_int_equal (gsi_catalog_load (fx.yaml, &c, &err), 0);
  assert_int_equal (gsi_catalog_dag_build (c, "2025.1", &d, &err), 0);
  gsi_catalog_dag_close (d, want);
  assert_true (want[0] && want[1] && want[2]);
  bool want2[3] = { true, false, false };
  gsi_catalog_dag_close (d, want2);
  assert_false (want2[1] || want2[2]);

  assert_true (gsi_catalog_ref_name (c, "ghcr.io/example/imgs/keystone:2025.1-latest", &name));
  assert_string_equal (name, "keystone");
  free (name);
  assert_true (gsi_catalog_ref_name (c, "ghcr.io/example/imgs/keystone@sha256:00", &name));
  assert_string_equal (name, "keystone");
  free (name);
  assert_false (gsi_catalog_ref_name (c, "ghcr.io/example/imgsx/keystone:1", &name));
  assert_false (gsi_catalog_ref_name (c, "debian:trixie", &name));
  assert_null (name);
  gsi_catalog_dag_free (d);
  gsi_catalog_free (c);
  drop_catalog (&fx);
}

static void
test_relabel (void **state)
{
  (void) state;
  char dir[] = "/tmp/gsi-test-relabel-XXXXXX";
  gsi_store *s = NULL;
  gsi_error err = GSI_ERROR_INIT;
  gsi_image_config cfg, back;
  gsi_descriptor orig = GSI_DESCRIPTOR_INIT, now = GSI_DESCRIPTOR_INIT;
  const char *keys[] = { "org.opencontainers.image.title", "kept", NULL };
  const char *values[] = { "keystone", "new", NULL };
  char digest[GSI_DIGEST_BUF], again[GSI_DIGEST_BUF];

  assert_non_null (mkdtemp (dir));
  cleanup_free char *root = xasprintf ("%s/store", dir);
  assert_int_equal (gsi_store_open (root, &s, &err), 0);
  gsi_image_config_init (&cfg);
  gsi_image_config_init (&back);
  cfg.architecture = xstrdup ("amd64");
  cfg.os = xstrdup ("linux");
  cfg.created = xstrdup ("2025-01-31T12:00:00Z");
  gsi_kv_set (&cfg.labels, "kept", "old");
  gsi_kv_set (&cfg.labels, "other", "x");
  assert_int_equal (gsi_store_commit_image (s, &cfg, NULL, 0, NULL, "img:cand", &orig, &err), 0);

  assert_int_equal (gsi_catalog_relabel (s, "img:cand", keys, values, "img:cand", digest, &err), 0);
  assert_string_not_equal (digest, orig.digest);
  assert_int_equal (gsi_store_load_image (s, "img:cand", &now, NULL, &back, &err), 0);
  assert_string_equal (now.digest, digest);
  assert_string_equal (gsi_kv_get (&back.labels, "org.opencontainers.image.title"), "keystone");
  assert_string_equal (gsi_kv_get (&back.labels, "kept"), "new");
  assert_string_equal (gsi_kv_get (&back.labels, "other"), "x");
  assert_string_equal (back.created, "2025-01-31T12:00:00Z");
  /* The same labels again give the same bytes, so an unchanged rebuild keeps its digest.  */
  assert_int_equal (gsi_catalog_relabel (s, "img:cand", keys, values, "img:other", again, &err), 0);
  assert_string_equal (again, digest);
  assert_int_equal (gsi_catalog_relabel (s, "img:nope", keys, values, "img:x", again, &err), -1);
  assert_non_null (strstr (err.msg, "relabel `img:nope`"));
  gsi_error_clear (&err);

  gsi_descriptor_clear (&orig);
  gsi_descriptor_clear (&now);
  gsi_image_config_clear (&cfg);
  gsi_image_config_clear (&back);
  gsi_store_close (s);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
}

/* Release files: only the SHA256 section counts, the path must match whole, and the suite flags
 * are read wherever they stand; the signature block of an InRelease is not data.  */
static void
test_apt_release (void **state)
{
  (void) state;
  static const char text[] = "-----BEGIN PGP SIGNED MESSAGE-----\n"
                             "Hash: SHA256\n\n"
                             "Origin: Debian\n"
                             "Codename: trixie-backports\n"
                             "NotAutomatic: yes\n"
                             "Acquire-By-Hash: yes\n"
                             "Architectures: all amd64 arm64\n"
                             "MD5Sum:\n"
                             " 0123456789abcdef0123456789abcdef 10 main/binary-amd64/Packages.xz\n"
                             "SHA256:\n"
                             " 1111111111111111111111111111111111111111111111111111111111111111 77 "
                             "main/binary-amd64/Packages.xz.old\n"
                             " 2222222222222222222222222222222222222222222222222222222222222222 42 "
                             "main/binary-amd64/Packages.xz\n"
                             " 3333333333333333333333333333333333333333333333333333333333333333 99 "
                             "contrib/main/binary-amd64/Packages.xz\n"
                             "-----BEGIN PGP SIGNATURE-----\n"
                             " 4444444444444444444444444444444444444444444444444444444444444444 1 main/binary-all/Packages\n";
  gsi_apt_release_flags f;
  char hex[65];
  long long size = 0;

  assert_int_equal (gsi_apt_release_find (text, "main/binary-amd64/Packages.xz", hex, &size, &f), 0);
  assert_string_equal (hex, "2222222222222222222222222222222222222222222222222222222222222222");
  assert_int_equal (size, 42);
  assert_int_equal (f.automatic, 0);
  assert_int_equal (f.by_hash, 1);
  assert_int_equal (f.no_arch_all, 0);
  assert_int_equal (gsi_apt_release_find (text, "main/binary-all/Packages", hex, &size, &f), 1);
  assert_int_equal (gsi_apt_release_find (text, "binary-amd64/Packages.xz", hex, &size, &f), 1);

  static const char upgrades[] = "NotAutomatic: yes\nButAutomaticUpgrades: yes\nArchitectures: amd64\nSHA256:\n";
  assert_int_equal (gsi_apt_release_find (upgrades, "main/binary-amd64/Packages", hex, &size, &f), 1);
  assert_int_equal (f.automatic, 1);
  assert_int_equal (f.by_hash, 0);
  assert_int_equal (f.no_arch_all, 1); /* no "all" among the architectures */

  static const char noall[] = "Architectures: all amd64\nNo-Support-for-Architecture-all: Packages\n";
  assert_int_equal (gsi_apt_release_find (noall, "x", hex, &size, &f), 1);
  assert_int_equal (f.automatic, 1);
  assert_int_equal (f.no_arch_all, 1);
}

/* Writes patches/keystone.yaml into a good catalog and loads it: NULL error suffix means it must
 * load, else the error must start with "DIR/patches/keystone.yaml:" + suffix.  */
static gsi_catalog *
load_with_patches (fixture *fx, const char *patches, const char *suffix)
{
  gsi_catalog *c = NULL;
  gsi_error err = GSI_ERROR_INIT;

  make_catalog (fx, good_yaml, good_files);
  cleanup_free char *dir = xasprintf ("%s/patches", fx->dir);
  cleanup_free char *path = xasprintf ("%s/keystone.yaml", dir);
  assert_int_equal (mkdir (dir, 0755), 0);
  write_file (path, patches);
  if (suffix == NULL)
    {
      if (gsi_catalog_load (fx->yaml, &c, &err) < 0)
        fail_msg ("%s", err.msg);
      return c;
    }
  assert_int_equal (gsi_catalog_load (fx->yaml, &c, &err), -1);
  cleanup_free char *want = xasprintf ("%s:%s", path, suffix);
  if (strncmp (err.msg, want, strlen (want)) != 0)
    fail_msg ("error `%s` does not start with `%s`", err.msg, want);
  gsi_error_clear (&err);
  drop_catalog (fx);
  return NULL;
}

static void
test_patches (void **state)
{
  (void) state;
  fixture fx;
  size_t n = 9;
  static const char good[] = "\"2025.1\":\n"
                             "  - package: openssl\n"
                             "    ecosystem: deb\n"
                             "    fixed: \"3.5.1-1+deb13u1\"\n"
                             "    advisories: [CVE-2025-9230, DSA-6015-1]\n"
                             "    reason: \"out-of-bounds read in CMS\"\n"
                             "  - package: urllib3\n"
                             "    ecosystem: pypi\n"
                             "    fixed: \"2.5.0\"\n"
                             "    advisories: [GHSA-pq67-6m6q-mj2v, PYSEC-2025-12]\n"
                             "    reason: \"redirects\"\n"
                             "\"2026.1\": []\n";
  gsi_catalog *c = load_with_patches (&fx, good, NULL);
  const gsi_catalog_patch *p = gsi_catalog_patches (c, 2, "2025.1", &n);

  assert_int_equal (n, 2);
  assert_string_equal (p[0].package, "openssl");
  assert_int_equal (p[0].ecosystem, GSI_ECO_DEB);
  assert_string_equal (p[0].fixed, "3.5.1-1+deb13u1");
  assert_int_equal (p[0].advisories.n, 2);
  assert_string_equal (p[0].advisories.v[1], "DSA-6015-1");
  assert_int_equal (p[0].line, 2);
  assert_int_equal (p[1].ecosystem, GSI_ECO_PYPI);
  assert_int_equal (p[1].line, 7);
  assert_non_null (strstr (c->images[2].patch_file, "/patches/keystone.yaml"));
  assert_null (gsi_catalog_patches (c, 2, "2026.1", &n));
  assert_int_equal (n, 0);
  assert_null (gsi_catalog_patches (c, 0, "2025.1", &n));
  assert_null (c->images[0].patch_file);
  gsi_catalog_free (c);
  drop_catalog (&fx);

  static const char head[] = "\"2025.1\":\n  - package: openssl\n    ecosystem: deb\n    fixed: \"3.0\"\n";
  cleanup_free char *bad_cve = xasprintf ("%s    advisories: [CVE-2025-12]\n    reason: r\n", head);
  cleanup_free char *bad_ghsa = xasprintf ("%s    advisories: [GHSA-pq67-6m6q-mj2a]\n    reason: r\n", head);
  cleanup_free char *bad_kind = xasprintf ("%s    advisories: [RHSA-2025:1]\n    reason: r\n", head);
  cleanup_free char *no_reason = xasprintf ("%s    advisories: [CVE-2025-1234]\n", head);
  cleanup_free char *no_adv = xasprintf ("%s    advisories: []\n    reason: r\n", head);
  load_with_patches (&fx, bad_cve, "5:18: advisory id `CVE-2025-12` is malformed");
  load_with_patches (&fx, bad_ghsa, "5:18: advisory id `GHSA-pq67-6m6q-mj2a` is malformed");
  load_with_patches (&fx, bad_kind,
                     "5:18: advisory id `RHSA-2025:1` is none of CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx, PYSEC-YYYY-N, "
                     "OSV-YYYY-N, DSA-N-N, DLA-N-N");
  load_with_patches (&fx, no_reason, "2:5: patch has no `reason`");
  load_with_patches (&fx, no_adv, "5:5: `advisories` must be a non-empty list of advisory ids");
  load_with_patches (&fx, "\"2025.1\":\n  - { package: x, ecosystem: rpm, fixed: \"1\", advisories: [CVE-2025-1234], reason: r }\n",
                     "2:30: `ecosystem` must be deb or pypi, got `rpm`");
  load_with_patches (&fx, "\"2025.1\":\n  - { package: x, ecosystem: pypi, fixed: \"1.0~rc1\", advisories: [CVE-2025-1234], reason: r }\n",
                     "2:44: `fixed` is not a pypi version: invalid PEP 440 version `1.0~rc1`: unexpected `~rc1` after `1.0`");
  load_with_patches (&fx, "\"2031.1\": []\n", "1:2: release `2031.1` is not a release of ");
  load_with_patches (&fx, "\"2025.1\":\n  - { package: \"x; rm -rf /\", ecosystem: deb, fixed: \"1\", advisories: [CVE-2025-1234], reason: r }\n",
                     "2:7: patch package `x; rm -rf /` is not a package name");
  load_with_patches (&fx, "\"2025.1\":\n  - { package: x, colour: red }\n", "2:19: unknown key `colour` in a patch");
}

/* The updates of a view: higher than installed, and not what the archive already had when the
 * image was built.  */
static void
test_apt_updates (void **state)
{
  (void) state;
  gsi_apt_update now[] = {
    { "base-files", "13.8", "13.8+deb13u1" }, /* an update, seen before: not again */
    { "libc6", "2.41-12", "2.41-12+deb13u5" }, /* an update the archive moved on from before */
    { "login.defs", "1:4.17.4-2", "1:4.17.4-2" }, /* current */
    { "zlib1g", "1:1.3", "1:1.2" },            /* the archive is older: no update */
    { "passwd", "1:4.17.4-2", "1:4.17.4-2+deb13u1" }, /* not in the old view */
  };
  const char before[] = "base-files 13.8 13.8+deb13u1\nlibc6 2.41-12 2.41-12+deb13u4\nlibc 1 9\n";
  gsi_apt_update *u = NULL;
  size_t n = gsi_apt_updates (now, 5, before, &u);

  assert_int_equal (n, 2);
  assert_string_equal (u[0].name, "libc6");
  assert_string_equal (u[0].available, "2.41-12+deb13u5");
  assert_string_equal (u[1].name, "passwd");
  gsi_apt_updates_free (u, n);
  n = gsi_apt_updates (now, 5, NULL, &u);
  assert_int_equal (n, 3);
  cleanup_free char *text = gsi_apt_view_text (now, 2);
  assert_string_equal (text, "base-files 13.8 13.8+deb13u1\nlibc6 2.41-12 2.41-12+deb13u5\n");
  gsi_apt_updates_free (u, n);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_load_good),
    cmocka_unit_test (test_load_errors),
    cmocka_unit_test (test_load_syntax_error),
    cmocka_unit_test (test_dag_edges),
    cmocka_unit_test (test_dag_cycle),
    cmocka_unit_test (test_dag_unknown_registry_image),
    cmocka_unit_test (test_toposort),
    cmocka_unit_test (test_dag_close_and_refs),
    cmocka_unit_test (test_relabel),
    cmocka_unit_test (test_apt_release),
    cmocka_unit_test (test_patches),
    cmocka_unit_test (test_apt_updates),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
