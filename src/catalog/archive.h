/* Debian archive indexes: which packages of a built image the archive now has newer versions of.
 *
 * The step cache keys an `apt-get install` by its command line, so a security update published
 * after an image was built would never reach it.  `gsi catalog build` asks each image it would
 * reuse for its index URIs (`apt-get indextargets`) and its installed packages (`dpkg-query -W`),
 * and rebuilds it without the cache when an index holds a higher version of one of them than
 * the image has and than the archive had when the image was built (gsi_apt_updates).
 *
 * For an index URI ".../dists/SUITE/COMP/binary-ARCH/Packages" the suite's InRelease (else Release)
 * is fetched; a suite marked "NotAutomatic: yes" without "ButAutomaticUpgrades: yes" (backports,
 * experimental) never supplies a candidate, and binary-all is skipped where the Release says its
 * packages are in binary-ARCH (No-Support-for-Architecture-all) or lists no "all" architecture,
 * as in apt.  The Packages file
 * (.xz, else .gz, else plain) is fetched only when the cache lacks the SHA-256 the Release file
 * gives for it, by hash when the suite allows (a mirror in mid-sync serves the old file under the
 * plain name), checked against that SHA-256, and kept under that name: a cached index is always the
 * one the archive lists now.  An index that cannot be had fails every check that needs it, with the
 * same error, without being fetched again in the same process.  Signatures are not checked: the result only decides whether to rebuild, and the
 * rebuild's apt verifies everything it installs.  apt pinning (preferences.d) is not modelled.  */
#ifndef GSI_CATALOG_ARCHIVE_H
#define GSI_CATALOG_ARCHIVE_H

#include <stddef.h>

#include "util/error.h"
#include "util/strvec.h"

typedef struct gsi_apt_indexes gsi_apt_indexes;

typedef struct gsi_apt_update
{
  char *name;
  char *installed;
  char *available;
} gsi_apt_update;

/* Indexes loaded once per process and shared by every image checked; cache_dir holds the
 * downloaded Packages files (created when missing).  */
gsi_apt_indexes *gsi_apt_indexes_new (const char *cache_dir);
void gsi_apt_indexes_free (gsi_apt_indexes *ix);

/* The archive's view of an image: for each installed package ("NAME VERSION" lines, as dpkg-query
 * -W prints them) that an index of uris knows, the highest version there, sorted by name.  */
int gsi_apt_view (gsi_apt_indexes *ix, const gsi_strvec *uris, const char *installed, gsi_apt_update **out,
                  size_t *n, gsi_error *err);
/* A view as text to keep ("NAME INSTALLED AVAILABLE" lines), malloc'd.  */
char *gsi_apt_view_text (const gsi_apt_update *v, size_t n);

/* The updates in view now: packages the archive has a higher version of than the installed one,
 * except those whose available version is the one before (the text of the view taken when the
 * image was built; NULL when there is none) had too.  That exception stops a rebuild that cannot
 * take an update (the image never upgrades that package) from coming back on every run: the
 * image is rebuilt once each time the archive moves on.  Copies into *out; returns the count.  */
size_t gsi_apt_updates (const gsi_apt_update *now, size_t n, const char *before, gsi_apt_update **out);
void gsi_apt_updates_free (gsi_apt_update *u, size_t n);

/* What a Release file says about a suite besides the checksums.  */
typedef struct gsi_apt_release_flags
{
  int automatic;   /* 0 for a NotAutomatic suite without ButAutomaticUpgrades */
  int by_hash;     /* Acquire-By-Hash: yes (fetch dists/.../by-hash/SHA256/HEX) */
  int no_arch_all; /* binary-all is not an index of its own: No-Support-for-Architecture-all: Packages
                      (its packages are in binary-ARCH), or an Architectures list without "all" */
} gsi_apt_release_flags;

/* The parser, for tests and the fuzzer: the SHA-256 (hex) and size of path
 * ("main/binary-amd64/Packages.xz") in a Release or InRelease text, and the suite's flags.  0 when
 * path is listed, 1 when not (flags are set either way).  */
int gsi_apt_release_find (const char *text, const char *path, char hex[65], long long *size,
                          gsi_apt_release_flags *flags);

#endif
