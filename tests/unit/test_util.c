/* gsi_buf, gsi_strvec and gsi_error: the invariants the rest of gsi relies on. */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/strvec.h"

static void
check_buf (const gsi_buf *b)
{
  assert_non_null (b->buf);
  assert_int_equal (b->buf[b->len], '\0');
  if (b->alloc == 0)
    assert_ptr_equal (b->buf, gsi_buf_empty);
  else
    assert_true (b->len < b->alloc);
}

static void
test_buf_invariants (void **state)
{
  (void) state;
  gsi_buf b = GSI_BUF_INIT;
  check_buf (&b);
  gsi_buf_addstr (&b, "abc");
  check_buf (&b);
  gsi_buf_addch (&b, '\0');
  check_buf (&b);
  assert_int_equal (b.len, 4);
  gsi_buf_addf (&b, "%d-%s", 42, "x");
  check_buf (&b);
  assert_memory_equal (b.buf, "abc\0" "42-x", 8);
  gsi_buf_reset (&b);
  check_buf (&b);
  assert_int_equal (b.len, 0);
  for (int i = 0; i < 10000; i++)
    gsi_buf_addch (&b, 'a' + i % 26);
  check_buf (&b);
  assert_int_equal (b.len, 10000);
  gsi_buf_release (&b);
  check_buf (&b);
  gsi_buf_release (&b);
  check_buf (&b);
}

static void
test_buf_detach_and_utf8 (void **state)
{
  (void) state;
  gsi_buf b = GSI_BUF_INIT;
  char *s = gsi_buf_detach (&b, NULL);
  assert_string_equal (s, "");
  free (s);
  gsi_buf_add_utf8 (&b, 0x2665);
  gsi_buf_add_utf8 (&b, 'A');
  gsi_buf_add_utf8 (&b, 0x1F600);
  assert_string_equal (b.buf, "\xe2\x99\xa5" "A" "\xf0\x9f\x98\x80");
  gsi_buf_addstr (&b, "  \t\n");
  gsi_buf_rtrim (&b, " \t\n");
  check_buf (&b);
  assert_int_equal (b.len, 8);
  size_t n;
  s = gsi_buf_detach (&b, &n);
  check_buf (&b);
  assert_int_equal (n, 8);
  free (s);
}

static void
test_strvec (void **state)
{
  (void) state;
  gsi_strvec sv = GSI_STRVEC_INIT;
  gsi_strvec_push (&sv, "a");
  gsi_strvec_pushf (&sv, "%s=%d", "b", 2);
  assert_int_equal (sv.n, 2);
  assert_string_equal (sv.v[1], "b=2");
  assert_null (sv.v[2]);
  gsi_strvec_clear (&sv);
  assert_null (sv.v);
  assert_int_equal (sv.n, 0);
}

static int
failing (gsi_error *err)
{
  return gsi_error_set (err, ENOENT, "open `%s`", "/nope");
}

static void
test_error (void **state)
{
  (void) state;
  gsi_error err = GSI_ERROR_INIT;
  assert_int_equal (failing (&err), -1);
  assert_int_equal (err.code, ENOENT);
  assert_string_equal (err.msg, "open `/nope`: No such file or directory");
  gsi_error_wrap (&err, "layer %d", 3);
  assert_string_equal (err.msg, "layer 3: open `/nope`: No such file or directory");
  gsi_error_at (&err, "Containerfile", 4, 7, "unknown instruction: %s", "FORM");
  assert_string_equal (err.msg, "Containerfile:4:7: unknown instruction: FORM");
  assert_int_equal (err.line, 4);
  gsi_error_at (&err, "f", 2, 0, "x");
  assert_string_equal (err.msg, "f:2: x");
  gsi_error_clear (&err);
  gsi_error_clear (&err);
  assert_null (err.msg);
}

/* A whole file, bigger than one read, appended to what the buffer held; a missing file names itself. */
static void
test_buf_read_file (void **state)
{
  (void) state;
  char path[] = "/tmp/gsi-test-buf-XXXXXX";
  int fd = mkstemp (path);
  gsi_buf b = GSI_BUF_INIT;
  gsi_error err = GSI_ERROR_INIT;

  assert_true (fd >= 0);
  for (int i = 0; i < 20000; i++)
    assert_int_equal (write (fd, "0123456789", 10), 10);
  close (fd);
  gsi_buf_addstr (&b, "head:");
  assert_int_equal (gsi_buf_read_file (&b, path, &err), 0);
  assert_int_equal (b.len, 200005);
  assert_memory_equal (b.buf, "head:0123", 9);
  check_buf (&b);
  unlink (path);
  assert_int_equal (gsi_buf_read_file (&b, path, &err), -1);
  assert_non_null (strstr (err.msg, path));
  assert_int_equal (b.len, 200005);
  gsi_error_clear (&err);
  gsi_buf_release (&b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_buf_invariants),
    cmocka_unit_test (test_buf_detach_and_utf8),
    cmocka_unit_test (test_strvec),
    cmocka_unit_test (test_error),
    cmocka_unit_test (test_buf_read_file),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
