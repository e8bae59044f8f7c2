/* Helpers shared by the cmocka unit tests. */
#ifndef GSI_TESTUTIL_H
#define GSI_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/error.h"

/* Runs a gsi call that must succeed (return 0 or more); CERR is its error argument, and its message
 * is the failure's.  */
#define CERR (&check_err_)
#define CHECK(call)                                                                                          \
  do                                                                                                         \
    {                                                                                                        \
      gsi_error check_err_ = GSI_ERROR_INIT;                                                                 \
      if ((call) < 0)                                                                                        \
        fail_msg ("%s failed: %s", #call, check_err_.msg ? check_err_.msg : "(no message)");                 \
      gsi_error_clear (&check_err_);                                                                         \
    }                                                                                                        \
  while (0)

/* The peer test data folder (../shared/peer-tests), or NULL when this checkout has none.  When it is
 * missing and GSI_REQUIRE_PEER_TESTS=1 (as CI sets), the calling test fails instead, so CI can never
 * pass without running the peer cases.  With NULL, the caller reports itself as not run (skip()). */
const char *test_peer_dir (void);

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL when it cannot be read. */
char *test_read_file (const char *path, size_t *len);

#endif
