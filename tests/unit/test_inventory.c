/* The image inventory: the dpkg status parser (Status filter, Source with a version, status.d
 * stanzas), Python METADATA / PKG-INFO (names, licences, the header block only), os-release,
 * purls, sorting, and gsi_inventory_read on real layer blobs written here: whiteouts, opaque
 * directories, a directory replaced by a file, a dist-info deleted in an upper layer, a whiteout
 * beside a file of the same layer, egg-info files and directories, and Debian ownership; and the
 * per-layer inventory cache: a warm read equal to the cold one without the layer blobs, corrupt
 * entries missed and rewritten, a bottom layer's entry not used for an upper layer, prune.  */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "oci/blob.h"
#include "oci/image.h"
#include "oci/store.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "vuln/inventory.h"

static size_t
dpkg (gsi_inventory *inv, const char *text, const char *loc)
{
  return gsi_inventory_add_dpkg_status (inv, text, strlen (text), loc);
}

static size_t
py (gsi_inventory *inv, const char *text, const char *loc)
{
  return gsi_inventory_add_python_metadata (inv, text, strlen (text), loc);
}

/* ---- dpkg status ------------------------------------------------------------------------------ */

static const char status_text[] =
    "Package: libssl3t64\n"
    "Status: install ok installed\n"
    "Priority: optional\n"
    "Architecture: amd64\n"
    "Multi-Arch: same\n"
    "Source: openssl (3.5.1-1+deb13u1)\n"
    "Version: 3.5.1-1+deb13u1+b1\n"
    "Description: Secure Sockets Layer toolkit\n"
    " Package: not-a-field\n"
    " .\n"
    " continuation lines are skipped\n"
    "\n"
    "Package: removed-but-conf\n"
    "Status: deinstall ok config-files\n"
    "Architecture: amd64\n"
    "Version: 1.0-1\n"
    "\n"
    "Package: never\n"
    "Status: purge ok not-installed\n"
    "Version: 2.0-1\n"
    "\n\n\n"
    "Package: login\n"
    "Status: install ok unpacked\n"
    "Architecture: amd64\n"
    "Source: shadow\n"
    "Version: 1:4.16.0-2+really2.41.5-0+deb13u1\n"
    "\n"
    "Package: halfway\n"
    "Status: install reinstreq half-configured\n"
    "Architecture: all\n"
    "Version: 0.1\n"
    "\n"
    "Package: triggered\n"
    "Status: install ok triggers-pending\n"
    "Version: 5\n"
    "\n"
    "Package: noversion\n"
    "Status: install ok installed\n"
    "\n"
    "Package: crlf\r\n"
    "Status: install ok installed\r\n"
    "Version: 7.0-1 \r\n"
    "\r\n"
    "Package: last-without-newline\n"
    "Version: 9";

static void
test_dpkg_status (void **state)
{
  (void) state;
  gsi_inventory inv = { 0 };

  assert_int_equal (dpkg (&inv, status_text, "var/lib/dpkg/status"), 6);
  assert_int_equal (inv.n, 6);

  const gsi_package *p = &inv.pkgs[0];
  assert_int_equal (p->ecosystem, GSI_ECO_DEB);
  assert_string_equal (p->name, "libssl3t64");
  assert_string_equal (p->norm_name, "libssl3t64");
  assert_string_equal (p->version, "3.5.1-1+deb13u1+b1");
  assert_string_equal (p->source_name, "openssl");
  assert_string_equal (p->source_version, "3.5.1-1+deb13u1");
  assert_string_equal (p->arch, "amd64");
  assert_string_equal (p->location, "var/lib/dpkg/status");
  assert_null (p->owner_deb);
  assert_null (p->license);

  p = &inv.pkgs[1];
  assert_string_equal (p->name, "login");
  assert_string_equal (p->version, "1:4.16.0-2+really2.41.5-0+deb13u1");
  assert_string_equal (p->source_name, "shadow");
  /* No version in Source: the binary's.  */
  assert_string_equal (p->source_version, "1:4.16.0-2+really2.41.5-0+deb13u1");

  assert_string_equal (inv.pkgs[2].name, "halfway");
  assert_string_equal (inv.pkgs[2].arch, "all");
  assert_string_equal (inv.pkgs[3].name, "triggered");
  assert_null (inv.pkgs[3].arch);
  assert_string_equal (inv.pkgs[3].source_name, "triggered");
  assert_string_equal (inv.pkgs[3].source_version, "5");
  assert_string_equal (inv.pkgs[4].name, "crlf");
  assert_string_equal (inv.pkgs[4].version, "7.0-1");
  /* No Status field at all (as in status.d), and no final newline.  */
  assert_string_equal (inv.pkgs[5].name, "last-without-newline");
  assert_string_equal (inv.pkgs[5].version, "9");
  gsi_inventory_clear (&inv);
  assert_int_equal (inv.n, 0);
  assert_null (inv.pkgs);
}

static void
test_dpkg_status_d (void **state)
{
  (void) state;
  gsi_inventory inv = { 0 };
  /* distroless writes one stanza per file, without Status.  */
  const char *tz = "Package: tzdata\nVersion: 2025b-4+deb13u1\nArchitecture: all\nSource: tzdata\n";
  const char *bad = "Package: has space\nVersion: 1\n\nPackage: ok\nVersion: 1 2\n\n: no name\nVersion: 3\n";

  assert_int_equal (dpkg (&inv, tz, "var/lib/dpkg/status.d/tzdata"), 1);
  assert_string_equal (inv.pkgs[0].location, "var/lib/dpkg/status.d/tzdata");
  assert_string_equal (inv.pkgs[0].source_name, "tzdata");
  assert_string_equal (inv.pkgs[0].source_version, "2025b-4+deb13u1");
  /* A name or version with a blank in it is no token: the stanza is skipped.  */
  assert_int_equal (dpkg (&inv, bad, "var/lib/dpkg/status"), 0);
  assert_int_equal (dpkg (&inv, "", "var/lib/dpkg/status"), 0);
  assert_int_equal (dpkg (&inv, "\n\n \n", "var/lib/dpkg/status"), 0);
  assert_int_equal (inv.n, 1);
  gsi_inventory_clear (&inv);
}

/* ---- Python metadata -------------------------------------------------------------------------- */

static void
test_python_metadata (void **state)
{
  (void) state;
  gsi_inventory inv = { 0 };

  assert_int_equal (py (&inv,
                        "Metadata-Version: 2.4\nName: Oslo.Config__x\nVersion: 9.8.0\n"
                        "License-Expression: Apache-2.0\nLicense: ignored when an expression exists\n"
                        "Classifier: License :: OSI Approved :: Apache Software License\n\n"
                        "Name: from-the-description\n",
                        "var/lib/openstack/lib/python3.13/site-packages/oslo.config-9.8.0.dist-info"),
                    1);
  const gsi_package *p = &inv.pkgs[0];
  assert_int_equal (p->ecosystem, GSI_ECO_PYPI);
  assert_string_equal (p->name, "Oslo.Config__x");
  assert_string_equal (p->norm_name, "oslo-config-x");
  assert_string_equal (p->version, "9.8.0");
  assert_string_equal (p->license, "Apache-2.0");
  assert_null (p->arch);
  assert_null (p->source_name);
  assert_string_equal (p->location, "var/lib/openstack/lib/python3.13/site-packages/oslo.config-9.8.0.dist-info");

  /* License, when short and not UNKNOWN.  */
  assert_int_equal (py (&inv, "Name: a\nVersion: 1\nLicense: MIT\n", "x/site-packages/a-1.dist-info"), 1);
  assert_string_equal (inv.pkgs[1].license, "MIT");
  /* UNKNOWN falls back to the classifiers, "OSI Approved" alone is no licence name.  */
  assert_int_equal (py (&inv,
                        "Name: b\nVersion: 2\nLicense: UNKNOWN\n"
                        "Classifier: License :: OSI Approved :: BSD License\n"
                        "Classifier: Programming Language :: Python\n"
                        "Classifier: License :: OSI Approved\n"
                        "Classifier: License :: OSI Approved :: MIT License\n",
                        "x/site-packages/b-2.dist-info"),
                    1);
  assert_string_equal (inv.pkgs[2].license, "BSD License, MIT License");
  /* A whole licence text in License is no name either.  */
  char *longlic = xasprintf ("Name: c\nVersion: 3\nLicense: %0150d\n", 0);
  assert_int_equal (py (&inv, longlic, "x/site-packages/c-3.dist-info"), 1);
  free (longlic);
  assert_null (inv.pkgs[3].license);
  /* No Name or no Version: nothing.  */
  assert_int_equal (py (&inv, "Name: d\n\nVersion: 4\n", "x"), 0);
  assert_int_equal (py (&inv, "Version: 4\n", "x"), 0);
  assert_int_equal (py (&inv, "", "x"), 0);
  assert_int_equal (inv.n, 4);
  gsi_inventory_clear (&inv);
}

static void
test_os_release (void **state)
{
  (void) state;
  gsi_inventory inv = { 0 };
  const char *osr = "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n# a comment: ID=fake\n\nNAME=\"Debian GNU/Linux\"\n"
                    "VERSION_ID=\"13\"\nVERSION=\"13 (trixie)\"\nVERSION_CODENAME=trixie\nID=debian\n";

  gsi_inventory_set_os_release (&inv, osr, strlen (osr));
  assert_string_equal (inv.os_id, "debian");
  assert_string_equal (inv.os_version_id, "13");
  assert_string_equal (inv.os_codename, "trixie");
  /* A second call replaces what it names.  */
  const char *ubuntu = "ID='ubuntu'\nVERSION_ID=24.04\n";
  gsi_inventory_set_os_release (&inv, ubuntu, strlen (ubuntu));
  assert_string_equal (inv.os_id, "ubuntu");
  assert_string_equal (inv.os_version_id, "24.04");
  assert_string_equal (inv.os_codename, "trixie");
  gsi_inventory_clear (&inv);
  assert_null (inv.os_id);
}

/* ---- purls, order, find --------------------------------------------------------------------- */

static void
test_purls_and_order (void **state)
{
  (void) state;
  gsi_inventory inv = { 0 };
  const char *osr = "ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n";
  size_t first;

  py (&inv, "Name: Zope.Interface\nVersion: 7.2\n", "usr/lib/python3/dist-packages/zope.interface-7.2.egg-info");
  py (&inv, "Name: PyYAML\nVersion: 6.0.2\n", "b/site-packages/PyYAML-6.0.2.dist-info");
  py (&inv, "Name: pyyaml\nVersion: 6.0.2\n", "a/site-packages/pyyaml-6.0.2.dist-info");
  py (&inv, "Name: odd\nVersion: 1.0+local/x\n", "a/site-packages/odd-1.0.dist-info");
  dpkg (&inv, "Package: zlib1g\nVersion: 1:1.3.dfsg+really1.3.1-1+deb13u1\nArchitecture: amd64\n", "var/lib/dpkg/status");
  dpkg (&inv, "Package: adduser\nVersion: 3.152\nArchitecture: all\n", "var/lib/dpkg/status");
  gsi_inventory_set_os_release (&inv, osr, strlen (osr));
  gsi_inventory_finish (&inv);

  assert_int_equal (inv.n, 6);
  assert_string_equal (inv.pkgs[0].purl, "pkg:deb/debian/adduser@3.152?arch=all&distro=debian-13");
  assert_string_equal (inv.pkgs[1].purl,
                       "pkg:deb/debian/zlib1g@1%3A1.3.dfsg%2Breally1.3.1-1%2Bdeb13u1?arch=amd64&distro=debian-13");
  assert_string_equal (inv.pkgs[2].purl, "pkg:pypi/odd@1.0%2Blocal%2Fx");
  /* Same normalised name and version: ordered by location.  */
  assert_string_equal (inv.pkgs[3].purl, "pkg:pypi/pyyaml@6.0.2");
  assert_string_equal (inv.pkgs[3].name, "pyyaml");
  assert_string_equal (inv.pkgs[4].purl, "pkg:pypi/pyyaml@6.0.2");
  assert_string_equal (inv.pkgs[4].name, "PyYAML");
  assert_string_equal (inv.pkgs[5].purl, "pkg:pypi/zope.interface@7.2");

  assert_int_equal (gsi_inventory_find (&inv, GSI_ECO_PYPI, "PyYaml", &first), 2);
  assert_int_equal (first, 3);
  assert_int_equal (gsi_inventory_find (&inv, GSI_ECO_PYPI, "zope_interface", &first), 1);
  assert_int_equal (first, 5);
  assert_int_equal (gsi_inventory_find (&inv, GSI_ECO_DEB, "zlib1g", &first), 1);
  assert_int_equal (first, 1);
  assert_int_equal (gsi_inventory_find (&inv, GSI_ECO_DEB, "pyyaml", NULL), 0);
  assert_int_equal (gsi_inventory_find (&inv, GSI_ECO_PYPI, "nothing", NULL), 0);
  gsi_inventory_clear (&inv);

  /* Without os-release: the debian namespace, no distro qualifier.  */
  dpkg (&inv, "Package: a\nVersion: 1\n", "var/lib/dpkg/status");
  gsi_inventory_finish (&inv);
  assert_string_equal (inv.pkgs[0].purl, "pkg:deb/debian/a@1");
  gsi_inventory_clear (&inv);
}

/* ---- layers ---------------------------------------------------------------------------------- */

typedef struct entry
{
  const char *path;
  char type;        /* 'f' file, 'd' directory, 'h' hard link (text = target) */
  const char *text; /* file content, or the link target */
} entry;

static la_ssize_t
tar_to_buf (struct archive *a, void *ctx, const void *data, size_t n)
{
  (void) a;
  gsi_buf_add (ctx, data, n);
  return (la_ssize_t) n;
}

/* Writes the entries as a gzip layer blob and appends its descriptor and diff_id.  */
static void
add_layer (gsi_store *s, const entry *e, gsi_descriptor *layers, size_t *n, gsi_image_config *cfg)
{
  gsi_buf tar = GSI_BUF_INIT;
  struct archive *a = archive_write_new ();
  gsi_blob_writer *w = NULL;
  gsi_blob_info info;

  assert_int_equal (archive_write_set_format_pax_restricted (a), ARCHIVE_OK);
  assert_int_equal (archive_write_set_bytes_in_last_block (a, 1), ARCHIVE_OK);
  assert_int_equal (archive_write_open (a, &tar, NULL, tar_to_buf, NULL), ARCHIVE_OK);
  for (; e->path != NULL; e++)
    {
      struct archive_entry *ae = archive_entry_new ();
      archive_entry_set_pathname (ae, e->path);
      archive_entry_set_mode (ae, e->type == 'd' ? AE_IFDIR | 0755 : AE_IFREG | 0644);
      if (e->type == 'h')
        archive_entry_set_hardlink (ae, e->text);
      else if (e->type == 'f')
        archive_entry_set_size (ae, (la_int64_t) strlen (e->text));
      assert_int_equal (archive_write_header (a, ae), ARCHIVE_OK);
      if (e->type == 'f')
        assert_int_equal (archive_write_data (a, e->text, strlen (e->text)), (la_ssize_t) strlen (e->text));
      archive_entry_free (ae);
    }
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);

  CHECK (gsi_blob_writer_open (s, GSI_COMP_GZIP, &w, CERR));
  CHECK (gsi_blob_writer_write (w, tar.buf, tar.len, CERR));
  CHECK (gsi_blob_writer_commit (w, &info, CERR));
  gsi_buf_release (&tar);
  layers[*n] = (gsi_descriptor) GSI_DESCRIPTOR_INIT;
  gsi_descriptor_set_layer (&layers[*n], &info, GSI_COMP_GZIP);
  gsi_strvec_push (&cfg->diff_ids, info.diff_id);
  (*n)++;
}

#define SP "opt/venv/lib/python3.13/site-packages/"
#define DP "usr/lib/python3/dist-packages/"
#define META(n, v) "Metadata-Version: 2.1\nName: " n "\nVersion: " v "\n\nDescription body\n"

static const entry layer1[] = {
  { "etc/", 'd', NULL },
  { "etc/os-release", 'f', "ID=debian\nVERSION_ID=\"13\"\nVERSION_CODENAME=trixie\n" },
  { "./var/lib/dpkg/status", 'f',
    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.41-12\n\n"
    "Package: python3-yaml\nStatus: install ok installed\nArchitecture: amd64\nSource: pyyaml (6.0.2-1)\n"
    "Version: 6.0.2-1+b2\n" },
  { "var/lib/dpkg/info/python3-yaml:amd64.list", 'f',
    "/.\n/usr\n/usr/lib/python3/dist-packages/PyYAML-6.0.2.dist-info\n"
    "/usr/lib/python3/dist-packages/PyYAML-6.0.2.dist-info/METADATA\n/usr/lib/python3/dist-packages/yaml/__init__.py\n" },
  { "var/lib/dpkg/info/python3-yaml:amd64.md5sums", 'f', "00  usr/lib/python3/dist-packages/PyYAML-6.0.2.dist-info\n" },
  { DP "PyYAML-6.0.2.dist-info/METADATA", 'f', "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.2\nLicense: MIT\n\nbody\n" },
  { DP "yaml/__init__.py", 'f', "" },
  { SP "requests-2.19.1.dist-info/METADATA", 'f', META ("requests", "2.19.1") },
  { SP "gone-1.0.dist-info/METADATA", 'f', META ("gone", "1.0") },
  { SP "Jinja2-2.10.dist-info/METADATA", 'f', META ("Jinja2", "2.10") },
  { SP "attrs-25.3.0.dist-info/METADATA", 'f', META ("attrs", "24.0.0") },
  { "opt/old/lib/python3.13/site-packages/old-1.0.dist-info/METADATA", 'f', META ("old", "1.0") },
  /* Not under a site-packages directory: a source tree, not an installed distribution.  */
  { "opt/src/foo-1.0.dist-info/METADATA", 'f', META ("foo", "1.0") },
  { "opt/mysite-packages/bar-1.0.dist-info/METADATA", 'f', META ("bar", "1.0") },
  /* The wrong file name for its directory kind.  */
  { SP "baz-1.0.dist-info/PKG-INFO", 'f', META ("baz", "1.0") },
  { NULL, 0, NULL },
};

static const entry layer2[] = {
  /* A dist-info deleted, one replaced by a newer version.  */
  { SP ".wh.gone-1.0.dist-info", 'f', "" },
  { SP ".wh.requests-2.19.1.dist-info", 'f', "" },
  { SP "requests-2.32.3.dist-info/METADATA", 'f', META ("requests", "2.32.3") },
  /* An opaque directory: old-1.0 goes, new-2.0 is this layer's.  */
  { "opt/old/lib/python3.13/site-packages/", 'd', NULL },
  { "opt/old/lib/python3.13/site-packages/new-2.0.dist-info/METADATA", 'f', META ("new", "2.0") },
  { "opt/old/lib/python3.13/site-packages/.wh..wh..opq", 'f', "" },
  /* The egg-info file form, a directory form owned by a Debian package, and an .egg directory.  */
  { SP "six-1.16.0-py3.13.egg-info", 'f', "Metadata-Version: 1.0\nName: six\nVersion: 1.16.0\nLicense: MIT\n" },
  { DP "Foo_Bar-1.0.egg-info/PKG-INFO", 'f', META ("Foo_Bar", "1.0") },
  /* An .egg directory's owner is found through the PKG-INFO line of a .list too.  */
  { "var/lib/dpkg/info/python3-foo.list", 'f',
    "/usr/lib/python3/dist-packages/Foo_Bar-1.0.egg-info\n/" SP "Egg_Pkg-0.5-py3.13.egg/EGG-INFO/PKG-INFO\n" },
  { SP "Egg_Pkg-0.5-py3.13.egg/EGG-INFO/PKG-INFO", 'f', META ("Egg-Pkg", "0.5") },
  /* dpkg status replaced: libc6 upgraded, python3-foo added.  */
  { "var/lib/dpkg/status", 'f',
    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.41-12+deb13u1\n\n"
    "Package: python3-yaml\nStatus: install ok installed\nArchitecture: amd64\nSource: pyyaml (6.0.2-1)\n"
    "Version: 6.0.2-1+b2\n\n"
    "Package: python3-foo\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-1\n" },
  { "var/lib/dpkg/status.d/tzdata", 'f', "Package: tzdata\nVersion: 2025b-4\nArchitecture: all\n" },
  { "var/lib/dpkg/status.d/tzdata.md5sums", 'f', "Package: md5\nVersion: 0\n" },
  { NULL, 0, NULL },
};

static const entry layer3[] = {
  /* A file in place of a dist-info directory removes what the directory held.  */
  { SP "Jinja2-2.10.dist-info", 'f', "not a directory any more" },
  /* A layer's whiteout hides the lower layers only, whatever the tar order: attrs of this layer
   * stays, attrs 24 of layer 1 (same directory name) goes.  */
  { SP "attrs-25.3.0.dist-info/METADATA", 'f', META ("attrs", "25.3.0") },
  { SP ".wh.attrs-25.3.0.dist-info", 'f', "" },
  /* A hard link to a kept file of the same layer has its content.  */
  { SP "linked-1.0.dist-info/METADATA", 'h', SP "attrs-25.3.0.dist-info/METADATA" },
  { "var/lib/dpkg/status.d/.wh.tzdata", 'f', "" },
  { NULL, 0, NULL },
};

/* "purl location owner" per package of the image of layer1..3, in inventory order.  */
static const char layers_expected[] =
    "pkg:deb/debian/libc6@2.41-12%2Bdeb13u1?arch=amd64&distro=debian-13 var/lib/dpkg/status -\n"
    "pkg:deb/debian/python3-foo@1.0-1?arch=all&distro=debian-13 var/lib/dpkg/status -\n"
    "pkg:deb/debian/python3-yaml@6.0.2-1%2Bb2?arch=amd64&distro=debian-13 var/lib/dpkg/status -\n"
    "pkg:pypi/attrs@25.3.0 " SP "attrs-25.3.0.dist-info -\n"
    "pkg:pypi/attrs@25.3.0 " SP "linked-1.0.dist-info -\n"
    "pkg:pypi/egg-pkg@0.5 " SP "Egg_Pkg-0.5-py3.13.egg python3-foo\n"
    "pkg:pypi/foo-bar@1.0 " DP "Foo_Bar-1.0.egg-info python3-foo\n"
    "pkg:pypi/new@2.0 opt/old/lib/python3.13/site-packages/new-2.0.dist-info -\n"
    "pkg:pypi/pyyaml@6.0.2 " DP "PyYAML-6.0.2.dist-info python3-yaml\n"
    "pkg:pypi/requests@2.32.3 " SP "requests-2.32.3.dist-info -\n"
    "pkg:pypi/six@1.16.0 " SP "six-1.16.0-py3.13.egg-info -\n";

static void
test_read_layers (void **state)
{
  (void) state;
  char root[] = "/tmp/gsi-test-inventory-XXXXXX";
  gsi_store *s = NULL;
  gsi_descriptor layers[3];
  size_t n = 0;
  gsi_image_config cfg;
  gsi_inventory inv;
  gsi_error err = GSI_ERROR_INIT;

  assert_non_null (mkdtemp (root));
  CHECK (gsi_store_open (root, &s, CERR));
  gsi_image_config_init (&cfg);
  cfg.architecture = xstrdup ("amd64");
  cfg.os = xstrdup ("linux");
  add_layer (s, layer1, layers, &n, &cfg);
  add_layer (s, layer2, layers, &n, &cfg);
  add_layer (s, layer3, layers, &n, &cfg);
  CHECK (gsi_store_commit_image (s, &cfg, layers, n, NULL, "inv-test:1", NULL, CERR));

  CHECK (gsi_inventory_read (s, "inv-test:1", &inv, CERR));
  assert_string_equal (inv.os_id, "debian");
  assert_string_equal (inv.os_version_id, "13");
  assert_string_equal (inv.os_codename, "trixie");

  /* "purl location owner" per package, in inventory order.  */
  gsi_buf got = GSI_BUF_INIT;
  for (size_t i = 0; i < inv.n; i++)
    gsi_buf_addf (&got, "%s %s %s\n", inv.pkgs[i].purl, inv.pkgs[i].location,
                  inv.pkgs[i].owner_deb ? inv.pkgs[i].owner_deb : "-");
  assert_string_equal (got.buf, layers_expected);
  gsi_buf_release (&got);
  size_t first;
  assert_int_equal (gsi_inventory_find (&inv, GSI_ECO_DEB, "python3-yaml", &first), 1);
  assert_string_equal (inv.pkgs[first].source_name, "pyyaml");
  assert_string_equal (inv.pkgs[first].source_version, "6.0.2-1");
  assert_int_equal (gsi_inventory_find (&inv, GSI_ECO_PYPI, "PyYAML", &first), 1);
  assert_string_equal (inv.pkgs[first].name, "PyYAML");
  assert_string_equal (inv.pkgs[first].license, "MIT");
  gsi_inventory_clear (&inv);

  /* An unknown image fails and says which.  */
  assert_int_equal (gsi_inventory_read (s, "nope:1", &inv, &err), -1);
  assert_non_null (strstr (err.msg, "nope"));
  assert_int_equal (inv.n, 0);
  gsi_error_clear (&err);

  for (size_t i = 0; i < n; i++)
    gsi_descriptor_clear (&layers[i]);
  gsi_image_config_clear (&cfg);
  gsi_store_close (s);
  char *cmd = xasprintf ("rm -rf '%s'", root);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

/* ---- the per-layer inventory cache ------------------------------------------------------------ */

static void
assert_str_same (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    assert_ptr_equal (a, b);
  else
    assert_string_equal (a, b);
}

/* Every field of every package, and the OS.  */
static void
assert_inventory_equal (const gsi_inventory *a, const gsi_inventory *b)
{
  assert_str_same (a->os_id, b->os_id);
  assert_str_same (a->os_version_id, b->os_version_id);
  assert_str_same (a->os_codename, b->os_codename);
  assert_int_equal (a->n, b->n);
  for (size_t i = 0; i < a->n; i++)
    {
      const gsi_package *p = &a->pkgs[i], *q = &b->pkgs[i];
      assert_int_equal (p->ecosystem, q->ecosystem);
      assert_str_same (p->name, q->name);
      assert_str_same (p->norm_name, q->norm_name);
      assert_str_same (p->version, q->version);
      assert_str_same (p->source_name, q->source_name);
      assert_str_same (p->source_version, q->source_version);
      assert_str_same (p->arch, q->arch);
      assert_str_same (p->location, q->location);
      assert_str_same (p->owner_deb, q->owner_deb);
      assert_str_same (p->purl, q->purl);
      assert_str_same (p->license, q->license);
    }
}

static char *
describe (const gsi_inventory *inv)
{
  gsi_buf got = GSI_BUF_INIT;

  for (size_t i = 0; i < inv->n; i++)
    gsi_buf_addf (&got, "%s %s %s\n", inv->pkgs[i].purl, inv->pkgs[i].location,
                  inv->pkgs[i].owner_deb ? inv->pkgs[i].owner_deb : "-");
  return gsi_buf_detach (&got, NULL);
}

static void
slurp (const char *path, gsi_buf *b)
{
  gsi_error err = GSI_ERROR_INIT;

  gsi_buf_reset (b);
  if (gsi_buf_read_file (b, path, &err) < 0)
    fail_msg ("%s", err.msg);
}

/* Replaces the file at path (by a new file of that name: blobs may be read-only).  */
static void
spew (const char *path, const void *data, size_t len)
{
  assert_true (unlink (path) == 0 || errno == ENOENT);
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, data, len), (ssize_t) len);
  assert_int_equal (close (fd), 0);
}

static bool
exists (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0;
}

/* A good entry with one change and its crc made right again, so that only the change can make it
 * a miss.  */
static void
write_recrc (const char *path, gsi_buf *e)
{
  uint32_t c = (uint32_t) crc32_z (0, (const Bytef *) e->buf, e->len - 4);
  unsigned char le[4] = { (unsigned char) c, (unsigned char) (c >> 8), (unsigned char) (c >> 16),
                          (unsigned char) (c >> 24) };
  memcpy (e->buf + e->len - 4, le, 4);
  spew (path, e->buf, e->len);
}

static const entry layer4[] = {
  { SP "solo-1.0.dist-info/METADATA", 'f', META ("solo", "1.0") },
  { NULL, 0, NULL },
};

static void
test_inventory_cache (void **state)
{
  (void) state;
  char root[] = "/tmp/gsi-test-invcache-XXXXXX";
  gsi_store *s = NULL;
  gsi_descriptor layers[4], top = GSI_DESCRIPTOR_INIT;
  size_t n = 0;
  gsi_image_config cfg, cfg_top, cfg_solo;
  gsi_inventory cold, warm;
  gsi_error err = GSI_ERROR_INIT;
  char *entries[4], *blobs[4];
  gsi_buf blob_bytes[3] = { GSI_BUF_INIT, GSI_BUF_INIT, GSI_BUF_INIT };
  gsi_buf entry_bytes[3] = { GSI_BUF_INIT, GSI_BUF_INIT, GSI_BUF_INIT };
  gsi_buf e = GSI_BUF_INIT;
  char *text;

  assert_non_null (mkdtemp (root));
  CHECK (gsi_store_open (root, &s, CERR));
  gsi_image_config_init (&cfg);
  cfg.architecture = xstrdup ("amd64");
  cfg.os = xstrdup ("linux");
  add_layer (s, layer1, layers, &n, &cfg);
  add_layer (s, layer2, layers, &n, &cfg);
  add_layer (s, layer3, layers, &n, &cfg);
  CHECK (gsi_store_commit_image (s, &cfg, layers, n, NULL, "inv-test:1", NULL, CERR));
  for (size_t i = 0; i < 3; i++)
    {
      entries[i] = gsi_store_inventory_path (s, layers[i].digest, &err);
      blobs[i] = gsi_store_blob_path (s, layers[i].digest, &err);
      assert_non_null (entries[i]);
      assert_non_null (blobs[i]);
      assert_false (exists (entries[i]));
      slurp (blobs[i], &blob_bytes[i]);
    }
  assert_null (gsi_store_inventory_path (s, "sha256:nothex", &err));
  gsi_error_clear (&err);

  /* Cold: every layer inflated, and its entry written.  */
  CHECK (gsi_inventory_read (s, "inv-test:1", &cold, CERR));
  text = describe (&cold);
  assert_string_equal (text, layers_expected);
  free (text);
  for (size_t i = 0; i < 3; i++)
    {
      slurp (entries[i], &entry_bytes[i]);
      assert_true (entry_bytes[i].len > 8);
      assert_memory_equal (entry_bytes[i].buf, "gsi-inv\n", 8);
    }
  /* No temp file left behind.  */
  char *tmpls = xasprintf ("test -z \"$(ls -A '%s')\"", gsi_store_dir_path (s, GSI_STORE_TMP));
  assert_int_equal (system (tmpls), 0);

  /* Warm: the same inventory, field for field.  */
  CHECK (gsi_inventory_read (s, "inv-test:1", &warm, CERR));
  assert_inventory_equal (&cold, &warm);
  gsi_inventory_clear (&warm);

  /* With every blob garbage (same names), a warm read still succeeds and is the same: nothing was
   * inflated.  */
  for (size_t i = 0; i < 3; i++)
    spew (blobs[i], "garbage, not gzip", 17);
  CHECK (gsi_inventory_read (s, "inv-test:1", &warm, CERR));
  assert_inventory_equal (&cold, &warm);
  gsi_inventory_clear (&warm);

  /* Without layer 2's entry its garbage blob is read, and the read fails; no entry is written.  */
  assert_int_equal (unlink (entries[1]), 0);
  assert_int_equal (gsi_inventory_read (s, "inv-test:1", &warm, &err), -1);
  assert_non_null (strstr (err.msg, "layer 2:"));
  gsi_error_clear (&err);
  assert_false (exists (entries[1]));
  /* Layer 2's blob back: layers 1 and 3 from their entries, 2 inflated, its entry the same bytes.  */
  spew (blobs[1], blob_bytes[1].buf, blob_bytes[1].len);
  CHECK (gsi_inventory_read (s, "inv-test:1", &warm, CERR));
  assert_inventory_equal (&cold, &warm);
  gsi_inventory_clear (&warm);
  slurp (entries[1], &e);
  assert_int_equal (e.len, entry_bytes[1].len);
  assert_memory_equal (e.buf, entry_bytes[1].buf, e.len);

  /* Corrupt entries of layer 2.  Each is first shown to be no answer (layer 2's blob garbage: the
   * read fails), then, with the blob back, a miss that is scanned and rewritten.  */
  for (int c = 0; c < 7; c++)
    {
      gsi_buf_reset (&e);
      gsi_buf_add (&e, entry_bytes[1].buf, entry_bytes[1].len);
      switch (c)
        {
        case 0: /* truncated */
          spew (entries[1], e.buf, e.len / 2);
          break;
        case 1: /* the last byte (of the crc) missing */
          spew (entries[1], e.buf, e.len - 1);
          break;
        case 2: /* another magic */
          e.buf[0] ^= 0x20;
          write_recrc (entries[1], &e);
          break;
        case 3: /* another format version */
          e.buf[8]++;
          write_recrc (entries[1], &e);
          break;
        case 4: /* layer 3's entry (an upper layer's too), good in itself, under layer 2's name: only
                   the digest inside differs */
          spew (entries[1], entry_bytes[2].buf, entry_bytes[2].len);
          break;
        case 5: /* a trailing byte before the crc */
          gsi_buf_add (&e, "", 1);
          e.buf[e.len - 5] = 'x';
          write_recrc (entries[1], &e);
          break;
        case 6: /* a flipped data byte with the crc of the original */
          e.buf[e.len / 2] ^= 1;
          spew (entries[1], e.buf, e.len);
          break;
        }
      spew (blobs[1], "garbage, not gzip", 17);
      if (gsi_inventory_read (s, "inv-test:1", &warm, &err) != -1)
        fail_msg ("corruption %d: the entry was used", c);
      gsi_error_clear (&err);
      spew (blobs[1], blob_bytes[1].buf, blob_bytes[1].len);
      CHECK (gsi_inventory_read (s, "inv-test:1", &warm, CERR));
      assert_inventory_equal (&cold, &warm);
      gsi_inventory_clear (&warm);
      slurp (entries[1], &e);
      assert_int_equal (e.len, entry_bytes[1].len);
      assert_memory_equal (e.buf, entry_bytes[1].buf, e.len);
    }

  /* Layer 3 as the bottom layer of another image: its entry then lacks the deletions of its
   * entries, and must not answer for layer 3 on top of 1 and 2, where its file
   * Jinja2-2.10.dist-info replaces layer 1's directory of that name.  */
  spew (blobs[2], blob_bytes[2].buf, blob_bytes[2].len);
  assert_int_equal (unlink (entries[2]), 0);
  gsi_image_config_init (&cfg_top);
  cfg_top.architecture = xstrdup ("amd64");
  cfg_top.os = xstrdup ("linux");
  gsi_strvec_push (&cfg_top.diff_ids, cfg.diff_ids.v[2]);
  CHECK (gsi_store_commit_image (s, &cfg_top, &layers[2], 1, NULL, "top:1", &top, CERR));
  CHECK (gsi_inventory_read (s, "top:1", &warm, CERR));
  text = describe (&warm);
  assert_string_equal (text, "pkg:pypi/attrs@25.3.0 " SP "attrs-25.3.0.dist-info -\n"
                             "pkg:pypi/attrs@25.3.0 " SP "linked-1.0.dist-info -\n");
  free (text);
  gsi_inventory_clear (&warm);
  slurp (entries[2], &e);
  assert_true (e.len < entry_bytes[2].len);
  CHECK (gsi_inventory_read (s, "inv-test:1", &warm, CERR));
  assert_inventory_equal (&cold, &warm);
  gsi_inventory_clear (&warm);
  /* Rewritten with the deletions; and that entry answers for the bottom layer too.  */
  slurp (entries[2], &e);
  assert_int_equal (e.len, entry_bytes[2].len);
  assert_memory_equal (e.buf, entry_bytes[2].buf, e.len);
  spew (blobs[2], "garbage, not gzip", 17);
  CHECK (gsi_inventory_read (s, "top:1", &warm, CERR));
  assert_int_equal (warm.n, 2);
  gsi_inventory_clear (&warm);
  spew (blobs[2], blob_bytes[2].buf, blob_bytes[2].len);
  spew (blobs[0], blob_bytes[0].buf, blob_bytes[0].len);

  /* Prune: an image of its own layer, read, untagged, pruned: its entry goes, the others stay.  */
  gsi_image_config_init (&cfg_solo);
  cfg_solo.architecture = xstrdup ("amd64");
  cfg_solo.os = xstrdup ("linux");
  add_layer (s, layer4, layers, &n, &cfg_solo);
  CHECK (gsi_store_commit_image (s, &cfg_solo, &layers[3], 1, NULL, "solo:1", NULL, CERR));
  CHECK (gsi_inventory_read (s, "solo:1", &warm, CERR));
  assert_int_equal (warm.n, 1);
  assert_string_equal (warm.pkgs[0].purl, "pkg:pypi/solo@1.0");
  gsi_inventory_clear (&warm);
  entries[3] = gsi_store_inventory_path (s, layers[3].digest, &err);
  blobs[3] = NULL;
  assert_true (exists (entries[3]));
  slurp (entries[3], &e);
  CHECK (gsi_store_untag (s, "solo:1", CERR));
  CHECK (gsi_store_untag (s, "top:1", CERR));
  gsi_prune_stats ps;
  CHECK (gsi_store_prune (s, NULL, &ps, CERR));
  assert_int_equal (ps.inventory, 1);
  assert_int_equal (ps.inventory_bytes, e.len);
  assert_false (exists (entries[3]));
  for (size_t i = 0; i < 3; i++)
    assert_true (exists (entries[i]));
  CHECK (gsi_inventory_read (s, "inv-test:1", &warm, CERR));
  assert_inventory_equal (&cold, &warm);
  gsi_inventory_clear (&warm);

  gsi_inventory_clear (&cold);
  for (size_t i = 0; i < 4; i++)
    {
      free (entries[i]);
      free (blobs[i]);
      gsi_descriptor_clear (&layers[i]);
    }
  for (size_t i = 0; i < 3; i++)
    {
      gsi_buf_release (&blob_bytes[i]);
      gsi_buf_release (&entry_bytes[i]);
    }
  gsi_buf_release (&e);
  free (tmpls);
  gsi_descriptor_clear (&top);
  gsi_image_config_clear (&cfg);
  gsi_image_config_clear (&cfg_top);
  gsi_image_config_clear (&cfg_solo);
  gsi_store_close (s);
  char *cmd = xasprintf ("rm -rf '%s'", root);
  assert_int_equal (system (cmd), 0);
  free (cmd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_dpkg_status),     cmocka_unit_test (test_dpkg_status_d),
    cmocka_unit_test (test_python_metadata), cmocka_unit_test (test_os_release),
    cmocka_unit_test (test_purls_and_order), cmocka_unit_test (test_read_layers),
    cmocka_unit_test (test_inventory_cache),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
