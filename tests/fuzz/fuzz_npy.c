/*
** fuzz_npy.c: libFuzzer harness for the .npy reader (tg_npy_read_mem). Whatever the bytes, the
** reader must not crash, read out of bounds, leak or overflow; what it accepts must survive an
** encode/decode round trip unchanged. Built and run by tests/fuzz/run.sh.
*/
#include <stdint.h>
#include <string.h>
#include "tgraph.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	tg_dtype t;
	tg_shape s;
	void *data;
	if (tg_npy_read_mem(buf, len, &t, &s, &data) != TG_OK)
		return 0;
	size_t nbytes = (size_t)tg_shape_numel(s) * tg_dtype_size(t);
	void *enc;
	size_t elen;
	if (tg_npy_encode(t, s, data, &enc, &elen) != TG_OK)
		__builtin_trap();
	tg_dtype t2;
	tg_shape s2;
	void *data2;
	if (tg_npy_read_mem(enc, elen, &t2, &s2, &data2) != TG_OK || t2 != t || !tg_shape_eq(s2, s) ||
		memcmp(data, data2, nbytes) != 0)
		__builtin_trap();
	tg_free(data2, nbytes);
	tg_free(enc, elen);
	tg_free(data, nbytes);
	return 0;
}
