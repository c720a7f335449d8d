#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/mpcheck.h"

static void
test_buf_bounded(void **state)
{
	uint8_t mem[5];
	struct buf b;

	(void)state;
	buf_init(&b, mem, sizeof(mem));
	assert_int_equal(buf_put_u16be(&b, 0x0102), 0);
	assert_int_equal(buf_put_u16be(&b, 0x0304), 0);
	/* Does not fit: sticky error, nothing written past the end. */
	assert_int_equal(buf_put_u16be(&b, 0x0506), WEFT_ENOSPACE);
	assert_int_equal(buf_put_u8(&b, 7), WEFT_ENOSPACE);
	assert_int_equal(b.len, 4);
	assert_memory_equal(mem, "\x01\x02\x03\x04", 4);
}

static void
test_rd_truncated(void **state)
{
	const uint8_t in[] = {0, 1, 0, 0, 0};
	struct rd r;
	uint16_t v16;
	uint32_t v32;

	(void)state;
	rd_init(&r, in, sizeof(in));
	assert_int_equal(rd_u16be(&r, &v16), 0);
	assert_int_equal(v16, 1);
	assert_int_equal(rd_u32be(&r, &v32), WEFT_ETRUNC);
	/* A failed read consumes nothing. */
	assert_int_equal(rd_left(&r), 3);
}

static void
test_hex(void **state)
{
	uint8_t in[3] = {0x00, 0xab, 0xff}, out[3];
	char s[7];

	(void)state;
	hex_encode(s, in, 3);
	assert_string_equal(s, "00abff");
	assert_int_equal(hex_decode(out, 3, "00ABff"), 0);
	assert_memory_equal(in, out, 3);
	assert_int_equal(hex_decode(out, 3, "00abf"), WEFT_EMALFORMED);
	assert_int_equal(hex_decode(out, 3, "00abfg"), WEFT_EMALFORMED);
	assert_int_equal(hex_decode(out, 3, "00abff00"), WEFT_EMALFORMED);
}

static void
test_mpcheck(void **state)
{
	size_t n;
	/* [1, "ab", {1: true}] */
	const uint8_t ok[] = {0x93, 0x01, 0xa2, 'a', 'b', 0x81, 0x01, 0xc3};
	/* array32 announcing 2^32-1 elements in five bytes */
	const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
	/* bin32 announcing 4 GiB */
	const uint8_t bigbin[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 0x00};
	uint8_t deep[40];

	(void)state;
	assert_int_equal(mpcheck_object(ok, sizeof(ok), 4, &n), 0);
	assert_int_equal(n, sizeof(ok));
	/* One object followed by more: the length tells where it ends. */
	assert_int_equal(mpcheck_object(ok, 1 + 1, 4, &n), WEFT_ETRUNC);
	assert_int_equal(mpcheck_object(huge, sizeof(huge), 4, &n), WEFT_ETRUNC);
	assert_int_equal(mpcheck_object(bigbin, sizeof(bigbin), 4, &n),
	                 WEFT_ETRUNC);
	assert_int_equal(mpcheck_object((const uint8_t *)"\xc1", 1, 4, &n),
	                 WEFT_EMALFORMED);
	memset(deep, 0x91, sizeof(deep)); /* [[[[...]]]] */
	deep[sizeof(deep) - 1] = 0x01;
	assert_int_equal(mpcheck_object(deep, sizeof(deep), 8, &n),
	                 WEFT_EMALFORMED);
	assert_int_equal(mpcheck_object(deep + sizeof(deep) - 4, 4, 8, &n), 0);
	/* Truncated at every length, never accepted. */
	for (size_t i = 0; i < sizeof(ok); i++)
		assert_int_equal(mpcheck_object(ok, i, 4, &n), WEFT_ETRUNC);
}

static void
test_file_secret_and_atomic(void **state)
{
	char dir[] = "/tmp/weft-test-XXXXXX", path[256];
	uint8_t *data;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	assert_int_equal(file_write_atomic(path, "secret", 6, 0600, 1), 0);
	assert_int_equal(file_read_secret(path, 100, &data, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(data, "secret", 6);
	free(data);
	/* excl: never overwrite. */
	assert_int_equal(file_write_atomic(path, "other", 5, 0600, 1),
	                 WEFT_EEXIST);
	/* Group-readable secret: refused like ssh does. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(file_read_secret(path, 100, &data, &len), WEFT_EPERM);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(file_read_secret(path, 100, &data, &len), WEFT_EPERM);
	/* Replace: the mode asked for, whatever the umask. */
	assert_int_equal(file_write_atomic(path, "new", 3, 0600, 0), 0);
	assert_int_equal(file_read_secret(path, 100, &data, &len), 0);
	assert_memory_equal(data, "new", 3);
	free(data);
	assert_int_equal(file_read(path, 2, &data, &len), WEFT_ETOOBIG);
	unlink(path);
	assert_int_equal(file_read(path, 100, &data, &len), WEFT_ENOENT);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_bounded),
		cmocka_unit_test(test_rd_truncated),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_mpcheck),
		cmocka_unit_test(test_file_secret_and_atomic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
