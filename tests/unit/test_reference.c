/* Image references: the distribution/reference grammar as ParseNormalizedNamed applies it (Docker
 * Hub defaults), with the cases of its own test tables where gsi agrees, and gsi's own errors.  */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define H64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define D64 "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"

typedef struct good_case
{
  const char *in;
  const char *domain, *path, *tag, *digest;
  const char *full; /* gsi_reference_string */
} good_case;

static const good_case good[] = {
  /* Docker Hub defaults.  */
  { "debian", "docker.io", "library/debian", NULL, NULL, "docker.io/library/debian" },
  { "debian:trixie", "docker.io", "library/debian", "trixie", NULL, "docker.io/library/debian:trixie" },
  { "library/debian", "docker.io", "library/debian", NULL, NULL, "docker.io/library/debian" },
  { "docker/docker", "docker.io", "docker/docker", NULL, NULL, "docker.io/docker/docker" },
  { "docker.io/debian", "docker.io", "library/debian", NULL, NULL, "docker.io/library/debian" },
  { "docker.io/library/foo/bar", "docker.io", "library/foo/bar", NULL, NULL, "docker.io/library/foo/bar" },
  { "index.docker.io/debian", "docker.io", "library/debian", NULL, NULL, "docker.io/library/debian" },
  { "index.docker.io/docker/docker", "docker.io", "docker/docker", NULL, NULL, "docker.io/docker/docker" },
  { "store/foo/bar", "docker.io", "store/foo/bar", NULL, NULL, "docker.io/store/foo/bar" },
  { "other/library", "docker.io", "other/library", NULL, NULL, "docker.io/other/library" },
  { "test_com/foo", "docker.io", "test_com/foo", NULL, NULL, "docker.io/test_com/foo" },
  { "ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", NULL, NULL,
    "docker.io/library/ubuntu-12.04-base" },
  { "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io",
    "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", NULL, NULL,
    "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev" },
  /* 63 hex digits is a name, not an image ID; with a domain even 64 are.  */
  { "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io",
    "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", NULL, NULL,
    "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9" },
  { "docker.io/" D64, "docker.io", "library/" D64, NULL, NULL, "docker.io/library/" D64 },
  /* Separators: . _ __ and runs of dashes.  */
  { "docker-rules/docker", "docker.io", "docker-rules/docker", NULL, NULL, "docker.io/docker-rules/docker" },
  { "docker---rules/docker", "docker.io", "docker---rules/docker", NULL, NULL, "docker.io/docker---rules/docker" },
  { "dock__er/docker", "docker.io", "dock__er/docker", NULL, NULL, "docker.io/dock__er/docker" },
  { "x/a.b_c__d-e--f", "docker.io", "x/a.b_c__d-e--f", NULL, NULL, "docker.io/x/a.b_c__d-e--f" },
  { "d/docker", "docker.io", "d/docker", NULL, NULL, "docker.io/d/docker" },
  { "jess/t", "docker.io", "jess/t", NULL, NULL, "docker.io/jess/t" },
  /* Domains: '.', ':', localhost or an upper-case letter make the first component one.  */
  { "localhost/foo", "localhost", "foo", NULL, NULL, "localhost/foo" },
  { "localhost:5000/foo/bar:1.0", "localhost:5000", "foo/bar", "1.0", NULL, "localhost:5000/foo/bar:1.0" },
  { "test.com/repo:tag", "test.com", "repo", "tag", NULL, "test.com/repo:tag" },
  { "test:5000/repo", "test:5000", "repo", NULL, NULL, "test:5000/repo" },
  { "test-com:8080/foo", "test-com:8080", "foo", NULL, NULL, "test-com:8080/foo" },
  { "test:5000/repo@sha256:" H64, "test:5000", "repo", NULL, "sha256:" H64, "test:5000/repo@sha256:" H64 },
  { "test:5000/repo:tag@sha256:" H64, "test:5000", "repo", "tag", "sha256:" H64,
    "test:5000/repo:tag@sha256:" H64 },
  { "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", NULL,
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag" },
  { "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app",
    "test.example.com", NULL, "b.gcr.io/test.example.com/my-app:test.example.com" },
  { "xn--n3h.com:18080/myimage:xn--n3h.com", "xn--n3h.com:18080", "myimage", "xn--n3h.com", NULL,
    "xn--n3h.com:18080/myimage:xn--n3h.com" },
  { "Foo/bar", "Foo", "bar", NULL, NULL, "Foo/bar" },
  { "DOCKER/docker", "DOCKER", "docker", NULL, NULL, "DOCKER/docker" },
  { "192.168.1.1/repo", "192.168.1.1", "repo", NULL, NULL, "192.168.1.1/repo" },
  { "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", NULL, "192.168.1.1:5000/repo:5050" },
  { "127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", NULL, NULL,
    "127.0.0.1:5000/library/debian" },
  { "127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", NULL, NULL, "127.0.0.1:5000/debian" },
  { "ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest", "ghcr.io", "rackerlabs/genestack-images/keystone",
    "2025.1-latest", NULL, "ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest" },
  /* Without a '/', a ':' is always the tag, even when it looks like a port.  */
  { "test.com:5000", "docker.io", "library/test.com", "5000", NULL, "docker.io/library/test.com:5000" },
  { "localhost:5000", "docker.io", "library/localhost", "5000", NULL, "docker.io/library/localhost:5000" },
  { "192.168.1.1", "docker.io", "library/192.168.1.1", NULL, NULL, "docker.io/library/192.168.1.1" },
  { "192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", NULL, "docker.io/library/192.168.0.1:80" },
  /* IPv6 hosts in brackets.  */
  { "[2001:db8::1]/repo", "[2001:db8::1]", "repo", NULL, NULL, "[2001:db8::1]/repo" },
  { "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", NULL,
    "[2001:db8:1:2:3:4:5:6]/repo:tag" },
  { "[2001:db8::1]:5000/repo:tag@sha256:" H64, "[2001:db8::1]:5000", "repo", "tag", "sha256:" H64,
    "[2001:db8::1]:5000/repo:tag@sha256:" H64 },
  { "[::1]:5000/repo", "[::1]:5000", "repo", NULL, NULL, "[::1]:5000/repo" },
  { "[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", NULL, NULL, "[fc00::1]:5000/docker/docker" },
  { "[FC00::A]:5000/x", "[FC00::A]:5000", "x", NULL, NULL, "[FC00::A]:5000/x" },
  /* Tags.  */
  { "lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", NULL,
    "docker.io/library/lowercase:Uppercase" },
  { "foo:_under", "docker.io", "library/foo", "_under", NULL, "docker.io/library/foo:_under" },
  { "foo:a.b-c_D", "docker.io", "library/foo", "a.b-c_D", NULL, "docker.io/library/foo:a.b-c_D" },
  { "foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", NULL, "docker.io/library/foo_bar.com:8080" },
  /* Digests, with and without a tag.  */
  { "redis@sha256:" D64, "docker.io", "library/redis", NULL, "sha256:" D64, "docker.io/library/redis@sha256:" D64 },
  { "busybox:latest@sha256:" D64, "docker.io", "library/busybox", "latest", "sha256:" D64,
    "docker.io/library/busybox:latest@sha256:" D64 },
  { "dmcgowan/myapp@sha256:" D64, "docker.io", "dmcgowan/myapp", NULL, "sha256:" D64,
    "docker.io/dmcgowan/myapp@sha256:" D64 },
};

typedef struct bad_case
{
  const char *in;
  const char *msg;
} bad_case;

static const bad_case bad[] = {
  { "", "invalid reference \"\": empty reference" },
  { "Foo:bar", "invalid reference \"Foo:bar\": repository name must be lowercase" },
  { "Uppercase:tag", "invalid reference \"Uppercase:tag\": repository name must be lowercase" },
  { "docker/Docker", "invalid reference \"docker/Docker\": repository name must be lowercase" },
  { "docker.io/docker/Docker", "invalid reference \"docker.io/docker/Docker\": repository name must be lowercase" },
  { "test:5000/Uppercase/lowercase:tag",
    "invalid reference \"test:5000/Uppercase/lowercase:tag\": repository name must be lowercase" },
  { ":justtag", "invalid reference \":justtag\": repository name must have at least one component" },
  { "@sha256:" H64, "invalid reference \"@sha256:" H64 "\": repository name must have at least one component" },
  { "foo:", "invalid reference \"foo:\": empty tag" },
  { "foo:-bad", "invalid reference \"foo:-bad\": invalid tag" },
  { "foo:.bad", "invalid reference \"foo:.bad\": invalid tag" },
  { "foo:a:b", "invalid reference \"foo:a:b\": invalid tag" },
  { "foo:a+b", "invalid reference \"foo:a+b\": invalid tag" },
  { "foo:bar/baz", "invalid reference \"foo:bar/baz\": invalid registry domain \"foo:bar\"" },
  { "repo@sha256:ffffffffffffffffffffffffffffffffff",
    "invalid reference \"repo@sha256:ffffffffffffffffffffffffffffffffff\": invalid digest length" },
  { "validname@invaliddigest:" H64, "invalid reference \"validname@invaliddigest:" H64 "\": unsupported digest algorithm" },
  { "foo@sha512:" H64 H64, "invalid reference \"foo@sha512:" H64 H64 "\": unsupported digest algorithm" },
  { "foo@sha256:" "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
    "invalid reference \"foo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\": invalid digest format" },
  { "foo@" H64, "invalid reference \"foo@" H64 "\": invalid digest format" },
  { "foo@sha256:" H64 "@sha256:" H64, "invalid reference \"foo@sha256:" H64 "@sha256:" H64 "\": invalid digest length" },
  { "foo@:" H64, "invalid reference \"foo@:" H64 "\": invalid digest format" },
  { "foo@SHA256:" H64, "invalid reference \"foo@SHA256:" H64 "\": invalid digest format" },
  { "foo@sha256", "invalid reference \"foo@sha256\": invalid digest format" },
  { D64, "invalid reference \"" D64 "\": a 64-character hexadecimal name is an image ID, not a repository" },
  { "aa/asdf$$^/aa", "invalid reference \"aa/asdf$$^/aa\": invalid path component \"asdf$$^\"" },
  { "-docker", "invalid reference \"-docker\": invalid path component \"-docker\"" },
  { "-docker/docker", "invalid reference \"-docker/docker\": invalid path component \"-docker\"" },
  { "docker-/docker", "invalid reference \"docker-/docker\": invalid path component \"docker-\"" },
  { "-docker-/docker", "invalid reference \"-docker-/docker\": invalid path component \"-docker-\"" },
  { "____/____", "invalid reference \"____/____\": invalid path component \"____\"" },
  { "_docker/_docker", "invalid reference \"_docker/_docker\": invalid path component \"_docker\"" },
  { "dock..er/docker", "invalid reference \"dock..er/docker\": invalid registry domain \"dock..er\"" },
  { "library/dock..er", "invalid reference \"library/dock..er\": invalid path component \"dock..er\"" },
  { "x/dock_.er", "invalid reference \"x/dock_.er\": invalid path component \"dock_.er\"" },
  { "x/dock-.er", "invalid reference \"x/dock-.er\": invalid path component \"dock-.er\"" },
  { "x/dock___er", "invalid reference \"x/dock___er\": invalid path component \"dock___er\"" },
  { "x/dock._er", "invalid reference \"x/dock._er\": invalid path component \"dock._er\"" },
  { "docker/", "invalid reference \"docker/\": empty path component" },
  { "docker///docker", "invalid reference \"docker///docker\": empty path component" },
  { "docker.io/docker///docker", "invalid reference \"docker.io/docker///docker\": empty path component" },
  { "ghcr.io/", "invalid reference \"ghcr.io/\": empty path component" },
  { "/foo", "invalid reference \"/foo\": empty path component" },
  { "https://github.com/docker/docker",
    "invalid reference \"https://github.com/docker/docker\": invalid registry domain \"https:\"" },
  { "-docker.io/docker/docker", "invalid reference \"-docker.io/docker/docker\": invalid registry domain \"-docker.io\"" },
  { "docker.io-/x", "invalid reference \"docker.io-/x\": invalid registry domain \"docker.io-\"" },
  { "a..b/x", "invalid reference \"a..b/x\": invalid registry domain \"a..b\"" },
  { "a.b./x", "invalid reference \"a.b./x\": invalid registry domain \"a.b.\"" },
  { "host:/x", "invalid reference \"host:/x\": invalid registry domain \"host:\"" },
  { "host:50a0/x", "invalid reference \"host:50a0/x\": invalid registry domain \"host:50a0\"" },
  { "ho_st.com/x", "invalid reference \"ho_st.com/x\": invalid registry domain \"ho_st.com\"" },
  { "fc00::1:5000/debian", "invalid reference \"fc00::1:5000/debian\": invalid registry domain \"fc00::1:5000\"" },
  { "[fe80::1%eth0]:5000/debian",
    "invalid reference \"[fe80::1%eth0]:5000/debian\": invalid registry domain \"[fe80::1%eth0]:5000\"" },
  { "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "invalid reference \"[2001:db8:3:4::192.0.2.33]:5000/debian\": invalid registry domain "
    "\"[2001:db8:3:4::192.0.2.33]:5000\"" },
  { "[]/x", "invalid reference \"[]/x\": invalid path component \"[]\"" },
  { "[::1/x", "invalid reference \"[::1/x\": invalid registry domain \"[::1\"" },
  { "[::1]x/x", "invalid reference \"[::1]x/x\": invalid registry domain \"[::1]x\"" },
  { "[fc00::1]", "invalid reference \"[fc00::1]\": invalid tag" },
  { "[2001:db8::1]:5000", "invalid reference \"[2001:db8::1]:5000\": invalid tag" },
  { "fo o", "invalid reference \"fo o\": invalid path component \"fo o\"" },
  { "foo bar:tag", "invalid reference \"foo bar:tag\": invalid path component \"foo bar\"" },
};

static void
test_good (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    {
      const good_case *c = &good[i];
      gsi_reference r = GSI_REFERENCE_INIT;
      gsi_error err = GSI_ERROR_INIT;
      char *full;

      if (gsi_reference_parse (c->in, &r, &err) < 0)
        fail_msg ("%s: %s", c->in, err.msg);
      assert_null (err.msg);
      assert_string_equal (r.domain, c->domain);
      assert_string_equal (r.path, c->path);
      if (c->tag)
        assert_string_equal (r.tag, c->tag);
      else
        assert_null (r.tag);
      if (c->digest)
        assert_string_equal (r.digest, c->digest);
      else
        assert_null (r.digest);
      full = gsi_reference_string (&r);
      assert_string_equal (full, c->full);
      free (full);
      gsi_reference_clear (&r);
      assert_null (r.domain);
    }
}

static void
test_bad (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      gsi_reference r = GSI_REFERENCE_INIT;
      gsi_error err = GSI_ERROR_INIT;

      if (gsi_reference_parse (bad[i].in, &r, &err) == 0)
        fail_msg ("`%s` parsed as %s/%s", bad[i].in, r.domain, r.path);
      assert_non_null (err.msg);
      if (strcmp (err.msg, bad[i].msg) != 0)
        fail_msg ("`%s`:\n  got      %s\n  expected %s", bad[i].in, err.msg, bad[i].msg);
      assert_int_equal (err.code, 0);
      assert_null (r.domain);
      assert_null (r.path);
      assert_null (r.tag);
      assert_null (r.digest);
      gsi_error_clear (&err);
    }
}

/* The full name (domain "/" path, after defaults) may have 255 characters, not 256.  */
static void
test_name_length (void **state)
{
  gsi_buf b = GSI_BUF_INIT;
  gsi_reference r = GSI_REFERENCE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *s, *msg;

  (void) state;
  gsi_buf_addstr (&b, "ghcr.io/");
  while (b.len < 255)
    gsi_buf_addstr (&b, b.len % 2 ? "/" : "a");
  assert_int_equal (b.len, 255);
  assert_true (b.buf[254] != '/');
  gsi_buf_addstr (&b, ":a-long-tag-does-not-count");
  assert_int_equal (gsi_reference_parse (b.buf, &r, &err), 0);
  assert_int_equal (strlen (r.domain) + 1 + strlen (r.path), 255);
  assert_string_equal (r.tag, "a-long-tag-does-not-count");
  gsi_reference_clear (&r);

  gsi_buf_setlen (&b, 255);
  gsi_buf_addstr (&b, "b");
  assert_int_equal (gsi_reference_parse (b.buf, &r, &err), -1);
  msg = xasprintf ("invalid reference \"%s\": name longer than 255 characters", b.buf);
  assert_string_equal (err.msg, msg);
  free (msg);
  gsi_error_clear (&err);

  /* Docker Hub's defaults count: 237 characters become docker.io/library/ + 237 = 255.  */
  s = xmalloc (240);
  memset (s, 'x', 238);
  s[237] = '\0';
  assert_int_equal (gsi_reference_parse (s, &r, &err), 0);
  assert_int_equal (strlen ("docker.io/") + strlen (r.path), 255);
  gsi_reference_clear (&r);
  s[237] = 'x';
  s[238] = '\0';
  assert_int_equal (gsi_reference_parse (s, &r, &err), -1);
  assert_non_null (strstr (err.msg, "\": name longer than 255 characters"));
  gsi_error_clear (&err);
  free (s);

  /* Distribution's own case: 128 components of "a".  */
  gsi_buf_reset (&b);
  for (int i = 0; i < 128; i++)
    gsi_buf_addstr (&b, "a/");
  gsi_buf_addstr (&b, "a:tag");
  assert_int_equal (gsi_reference_parse (b.buf, &r, &err), -1);
  assert_non_null (strstr (err.msg, "name longer than 255 characters"));
  gsi_error_clear (&err);
  gsi_buf_release (&b);
}

static void
test_tag_length (void **state)
{
  char tag[130], *s;
  gsi_reference r = GSI_REFERENCE_INIT;
  gsi_error err = GSI_ERROR_INIT;

  (void) state;
  memset (tag, 'T', 128);
  tag[128] = '\0';
  s = xasprintf ("foo:%s", tag);
  assert_int_equal (gsi_reference_parse (s, &r, &err), 0);
  assert_int_equal (strlen (r.tag), 128);
  gsi_reference_clear (&r);
  free (s);
  tag[128] = 'T';
  tag[129] = '\0';
  s = xasprintf ("foo:%s", tag);
  assert_int_equal (gsi_reference_parse (s, &r, &err), -1);
  assert_non_null (strstr (err.msg, "\": invalid tag"));
  gsi_error_clear (&err);
  free (s);
}

static void
test_accessors (void **state)
{
  gsi_reference r = GSI_REFERENCE_INIT, c = GSI_REFERENCE_INIT;
  gsi_error err = GSI_ERROR_INIT;
  char *s;

  (void) state;
  assert_int_equal (gsi_reference_parse ("debian", &r, &err), 0);
  assert_string_equal (gsi_reference_tag_or_latest (&r), "latest");
  assert_string_equal (gsi_reference_manifest_ref (&r), "latest");
  s = gsi_reference_name (&r);
  assert_string_equal (s, "docker.io/library/debian");
  free (s);

  assert_int_equal (gsi_reference_parse ("ghcr.io/a/b:v1", &r, &err), 0);
  assert_string_equal (gsi_reference_tag_or_latest (&r), "v1");
  assert_string_equal (gsi_reference_manifest_ref (&r), "v1");

  assert_int_equal (gsi_reference_parse ("ghcr.io/a/b@sha256:" D64, &r, &err), 0);
  assert_null (gsi_reference_tag_or_latest (&r));
  assert_string_equal (gsi_reference_manifest_ref (&r), "sha256:" D64);

  assert_int_equal (gsi_reference_parse ("ghcr.io/a/b:v2@sha256:" D64, &r, &err), 0);
  assert_string_equal (gsi_reference_tag_or_latest (&r), "v2");
  assert_string_equal (gsi_reference_manifest_ref (&r), "sha256:" D64);
  s = gsi_reference_name (&r);
  assert_string_equal (s, "ghcr.io/a/b");
  free (s);

  /* A copy is deep and replaces what dst held; parse clears out even when it fails.  */
  assert_int_equal (gsi_reference_parse ("quay.io/x/y:z", &c, &err), 0);
  gsi_reference_copy (&c, &r);
  gsi_reference_clear (&r);
  s = gsi_reference_string (&c);
  assert_string_equal (s, "ghcr.io/a/b:v2@sha256:" D64);
  free (s);
  gsi_reference_copy (&c, &c);
  assert_string_equal (c.path, "a/b");
  assert_int_equal (gsi_reference_parse ("Bad:x", &c, &err), -1);
  assert_null (c.domain);
  assert_null (c.tag);
  gsi_error_clear (&err);
  gsi_reference_clear (&c);
  gsi_reference_clear (&c);
  gsi_reference_clear (NULL);

  /* A NULL err is allowed: the caller only wants to know.  */
  assert_int_equal (gsi_reference_parse ("Bad:x", &c, NULL), -1);
}

static void
test_api_host (void **state)
{
  (void) state;
  assert_string_equal (gsi_reference_api_host ("docker.io"), "registry-1.docker.io");
  assert_string_equal (gsi_reference_api_host ("index.docker.io"), "registry-1.docker.io");
  assert_string_equal (gsi_reference_api_host ("ghcr.io"), "ghcr.io");
  assert_string_equal (gsi_reference_api_host ("127.0.0.1:5000"), "127.0.0.1:5000");
  assert_string_equal (gsi_reference_api_host ("[::1]:5000"), "[::1]:5000");
  assert_string_equal (gsi_reference_api_host ("docker.io:443"), "docker.io:443");
}

static void
test_domain_path_valid (void **state)
{
  static const char *const good_domains[] = {
    "docker.io", "localhost", "localhost:5000", "a", "A-b.c", "127.0.0.1:5000", "[::1]", "[::1]:5000",
    "xn--n3h.com:18080", "0", "Foo",
  };
  static const char *const bad_domains[] = {
    "", ":5000", "a:", "a:b", "-a", "a-", "a..b", ".a", "a.", "[]", "[::1", "[::g]", "a_b", "a/b", "[::1]:",
    "a:5000:1", "a b",
  };
  static const char *const good_paths[] = { "a", "a/b", "library/debian", "a.b/c_d/e__f/g---h", "0/9" };
  static const char *const bad_paths[] = { "", "/", "a/", "/a", "A", "a//b", "a_", "a.", "a-", "_a", "a__-b", "a b" };

  (void) state;
  for (size_t i = 0; i < sizeof good_domains / sizeof *good_domains; i++)
    if (!gsi_reference_domain_valid (good_domains[i]))
      fail_msg ("domain `%s` should be valid", good_domains[i]);
  for (size_t i = 0; i < sizeof bad_domains / sizeof *bad_domains; i++)
    if (gsi_reference_domain_valid (bad_domains[i]))
      fail_msg ("domain `%s` should be invalid", bad_domains[i]);
  for (size_t i = 0; i < sizeof good_paths / sizeof *good_paths; i++)
    if (!gsi_reference_path_valid (good_paths[i]))
      fail_msg ("path `%s` should be valid", good_paths[i]);
  for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++)
    if (gsi_reference_path_valid (bad_paths[i]))
      fail_msg ("path `%s` should be invalid", bad_paths[i]);
  assert_false (gsi_reference_domain_valid (NULL));
  assert_false (gsi_reference_path_valid (NULL));
}

/* Every string form parses back to the same parts.  */
static void
test_roundtrip (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    {
      gsi_reference r = GSI_REFERENCE_INIT, r2 = GSI_REFERENCE_INIT;
      gsi_error err = GSI_ERROR_INIT;
      char *s, *s2;

      assert_int_equal (gsi_reference_parse (good[i].in, &r, &err), 0);
      s = gsi_reference_string (&r);
      if (gsi_reference_parse (s, &r2, &err) < 0)
        fail_msg ("%s -> %s: %s", good[i].in, s, err.msg);
      s2 = gsi_reference_string (&r2);
      assert_string_equal (s, s2);
      free (s);
      free (s2);
      gsi_reference_clear (&r);
      gsi_reference_clear (&r2);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_good),
    cmocka_unit_test (test_bad),
    cmocka_unit_test (test_name_length),
    cmocka_unit_test (test_tag_length),
    cmocka_unit_test (test_accessors),
    cmocka_unit_test (test_api_host),
    cmocka_unit_test (test_domain_path_valid),
    cmocka_unit_test (test_roundtrip),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
