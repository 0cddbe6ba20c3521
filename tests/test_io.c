/*
** test_io.c: .npy files (round trips, every malformed header the reader must refuse, atomic
** writes) and .npz checkpoints (round trip, corruption, architecture mismatches, failed saves).
** Every test works in its own fresh directory under /tmp.
*/
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include "tgraph.h"

/* ---------------------------------------------------------------- helpers */

static char dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static void make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/tg_io_XXXXXX");
	cr_assert(mkdtemp(dir), "mkdtemp");
}

static void remove_dir(void)
{
	chmod(dir, 0700);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(io, .init = make_dir, .fini = remove_dir);

static const char *in_dir(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ & 3];
	snprintf(b, 512, "%s/%s", dir, name);
	return b;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f, "cannot write %s", path);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* Whole file into a malloc'ed buffer. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot read %s", path);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc(*len + 1);
	cr_assert_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	cr_assert(d, "opendir %s", path);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* A .npy of format major.0: preamble, dict padded to a multiple of 64 and ended by '\n'
** (unless terminate is false), then ndata bytes of data (0x11 each). Returns the length. */
static size_t make_npy(unsigned char *out, int major, const char *dict, bool terminate, size_t ndata)
{
	size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
	size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
	memcpy(out, "\x93NUMPY", 6);
	out[6] = (unsigned char)major;
	out[7] = 0;
	for (size_t i = 0; i < pre - 8; i++)
		out[8 + i] = (unsigned char)(hlen >> (8 * i));
	memcpy(out + pre, dict, dl);
	memset(out + pre + dl, ' ', hlen - dl);
	if (terminate)
		out[total - 1] = '\n';
	memset(out + total, 0x11, ndata);
	return total + ndata;
}

/* Reads bytes from memory and from a file: both must fail with status st and a message
** containing every string of want (the file's message also names the file). */
static void expect_bad(const unsigned char *buf, size_t len, tg_status st, const char *want)
{
	tg_dtype t;
	tg_shape s;
	void *data = (void *)1;
	cr_expect_eq(tg_npy_read_mem(buf, len, &t, &s, &data), st, "mem: want %s for '%s', got '%s'", tg_status_str(st),
		want, tg_last_error());
	cr_expect(strstr(tg_last_error(), want), "mem: message '%s' lacks '%s'", tg_last_error(), want);
	cr_expect_null(data);
	const char *path = in_dir("bad.npy");
	write_file(path, buf, len);
	cr_expect_eq(tg_npy_read(path, &t, &s, &data), st, "file: want %s for '%s', got '%s'", tg_status_str(st), want,
		tg_last_error());
	cr_expect(strstr(tg_last_error(), want), "file: message '%s' lacks '%s'", tg_last_error(), want);
	cr_expect(strstr(tg_last_error(), path), "file: message '%s' does not name the file", tg_last_error());
	cr_expect_null(data);
}

static void expect_bad_dict(const char *dict, size_t ndata, const char *want)
{
	unsigned char buf[1024];
	expect_bad(buf, make_npy(buf, 1, dict, true, ndata), TG_ERR_FORMAT, want);
}

/* ---------------------------------------------------------------- .npy */

Test(io, npy_round_trip_dtypes_and_shapes)
{
	const tg_dtype dts[] = {TG_F32, TG_F64, TG_C128};
	const tg_shape shapes[] = {TG_SCALAR_SHAPE, TG_SHAPE(5), TG_SHAPE(2, 3, 4), TG_SHAPE(3, 0)};
	unsigned char src[2 * 3 * 4 * 16];
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (unsigned char)(i * 37 + 11);
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 4; b++) {
			size_t nb = (size_t)tg_shape_numel(shapes[b]) * tg_dtype_size(dts[a]);
			const char *path = in_dir("rt.npy");
			cr_assert_eq(tg_npy_write(path, dts[a], shapes[b], src), TG_OK, "%s", tg_last_error());
			tg_dtype t;
			tg_shape s;
			void *data;
			cr_assert_eq(tg_npy_read(path, &t, &s, &data), TG_OK, "%s", tg_last_error());
			cr_expect_eq(t, dts[a]);
			cr_expect(tg_shape_eq(s, shapes[b]), "%d %d", a, b);
			cr_expect_eq(memcmp(data, src, nb), 0);
			tg_free(data, nb);
			/* the same bytes in memory */
			void *buf;
			size_t len;
			cr_assert_eq(tg_npy_encode(dts[a], shapes[b], src, &buf, &len), TG_OK, "%s", tg_last_error());
			size_t flen;
			unsigned char *file = slurp(path, &flen);
			cr_expect_eq(len, flen);
			cr_expect_eq(memcmp(buf, file, len), 0);
			cr_expect_eq((len - nb) % 64, 0, "header padded to 64 bytes");
			cr_assert_eq(tg_npy_read_mem(buf, len, &t, &s, &data), TG_OK, "%s", tg_last_error());
			cr_expect(t == dts[a] && tg_shape_eq(s, shapes[b]) && memcmp(data, src, nb) == 0);
			tg_free(data, nb);
			tg_free(buf, len);
			free(file);
		}
	cr_expect_eq(count_entries(dir), 1, "no temporary file left");
}

Test(io, npy_header_is_numpys)
{
	void *buf;
	size_t len;
	double x[24] = {0};
	cr_assert_eq(tg_npy_encode(TG_F64, TG_SHAPE(2, 3, 4), x, &buf, &len), TG_OK);
	/* 128 bytes in all: header length 118 = 0x76 */
	static const char h[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }";
	cr_expect_eq(memcmp(buf, h, sizeof h - 1), 0);
	cr_expect_eq(((char *)buf)[127], '\n');
	cr_expect_eq(len, 128 + sizeof x);
	tg_free(buf, len);
	cr_assert_eq(tg_npy_encode(TG_F32, TG_SHAPE(7), x, &buf, &len), TG_OK);
	cr_expect(memmem(buf, len, "'shape': (7,), }", 16), "a 1-tuple keeps its comma");
	tg_free(buf, len);
	cr_assert_eq(tg_npy_encode(TG_C128, TG_SCALAR_SHAPE, x, &buf, &len), TG_OK);
	cr_expect(memmem(buf, len, "{'descr': '<c16', 'fortran_order': False, 'shape': (), }", 56));
	tg_free(buf, len);
}

/* Headers numpy or other writers produce that must be accepted. */
Test(io, npy_header_variants)
{
	static const struct { int major; const char *dict; tg_dtype t; tg_shape s; } ok[] = {
		{2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", TG_F64, {2, {2, 3}}},
		{3, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", TG_F32, {1, {4}}},
		{1, "{\"shape\": (2,3), \"fortran_order\": False, \"descr\": \"=c16\"}", TG_C128, {2, {2, 3}}},
		{1, "{'descr':'<f8','fortran_order':False,'shape':(3L, 1L)}", TG_F64, {2, {3, 1}}},
		{1, "  {'descr': '<f8', 'fortran_order': False, 'shape': ( ), }  ", TG_F64, {0, {0}}},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		unsigned char buf[1024];
		size_t nb = (size_t)tg_shape_numel(ok[i].s) * tg_dtype_size(ok[i].t);
		size_t len = make_npy(buf, ok[i].major, ok[i].dict, true, nb);
		tg_dtype t;
		tg_shape s;
		void *data;
		cr_assert_eq(tg_npy_read_mem(buf, len, &t, &s, &data), TG_OK, "case %zu: %s", i, tg_last_error());
		cr_expect(t == ok[i].t && tg_shape_eq(s, ok[i].s), "case %zu", i);
		tg_free(data, nb);
	}
}

Test(io, npy_bad_magic_version_and_preamble)
{
	unsigned char buf[1024];
	const char *d = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
	size_t len = make_npy(buf, 1, d, true, 16);
	buf[5] = 'Z';
	expect_bad(buf, len, TG_ERR_FORMAT, "bad magic");
	expect_bad((const unsigned char *)"PK\x03\x04", 4, TG_ERR_FORMAT, "bad magic");
	expect_bad(buf, 0, TG_ERR_FORMAT, "truncated");
	expect_bad((const unsigned char *)"\x93NUMPY\x01", 7, TG_ERR_FORMAT, "truncated");
	expect_bad((const unsigned char *)"\x93NUMPY\x02\x00\x10\x00", 10, TG_ERR_FORMAT, "truncated");
	len = make_npy(buf, 1, d, true, 16);
	buf[6] = 4;
	expect_bad(buf, len, TG_ERR_FORMAT, "unsupported .npy version 4.0");
	buf[6] = 1;
	buf[7] = 1;
	expect_bad(buf, len, TG_ERR_FORMAT, "unsupported .npy version 1.1");
}

Test(io, npy_bad_header_length_and_termination)
{
	unsigned char buf[1024];
	const char *d = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
	size_t len = make_npy(buf, 2, d, true, 16);
	buf[8] = 0x20, buf[9] = 0x4e, buf[10] = buf[11] = 0; /* 20000 bytes */
	expect_bad(buf, len, TG_ERR_FORMAT, "header too long");
	buf[8] = buf[9] = buf[10] = buf[11] = 0xff;
	expect_bad(buf, len, TG_ERR_FORMAT, "header too long");
	len = make_npy(buf, 1, d, true, 16);
	expect_bad(buf, 40, TG_ERR_FORMAT, "truncated .npy header"); /* file ends inside the header */
	len = make_npy(buf, 1, d, false, 16);
	expect_bad(buf, len, TG_ERR_FORMAT, "not terminated");
	buf[8] = buf[9] = 0; /* empty header */
	expect_bad(buf, 10, TG_ERR_FORMAT, "not terminated");
}

Test(io, npy_malformed_dicts)
{
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), ", 16, "malformed");
	expect_bad_dict("'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", 16, "malformed");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } x", 16, "after the closing");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False}", 16, "key 'shape' missing");
	expect_bad_dict("{'descr': '<f8', 'shape': (2,)}", 16, "key 'fortran_order' missing");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", 16, "unexpected key 'x'");
	expect_bad_dict("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", 16, "twice");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2)}", 16, "not a tuple");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': [2]}", 16, "not a tuple");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2 3)}", 16, "malformed");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,,)}", 16, "malformed");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (0x2,)}", 16, "malformed");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}", 16, "neither True nor False");
	expect_bad_dict("{'descr': '<f8", 16, "unterminated string");
	expect_bad_dict("{'descr': '<f\\x38', 'fortran_order': False, 'shape': (2,)}", 16, "unexpected character");
	expect_bad_dict("{'descr' '<f8', 'fortran_order': False, 'shape': (2,)}", 16, "expected ':'");
	expect_bad_dict("{'descr': '<f8' 'fortran_order': False, 'shape': (2,)}", 16, "expected ',' or '}'");
	expect_bad_dict("", 16, "expected '{'");
	unsigned char buf[1024];
	size_t len = make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", true, 16);
	buf[20] = 0; /* a NUL inside the dict */
	expect_bad(buf, len, TG_ERR_FORMAT, "malformed");
}

Test(io, npy_fortran_order_and_dtypes)
{
	expect_bad_dict("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", 32, "Fortran order");
	expect_bad_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8, "unsupported .npy dtype '<i4'");
	expect_bad_dict("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported .npy dtype '>f8'");
	expect_bad_dict("{'descr': '|f8', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported .npy dtype '|f8'");
	expect_bad_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported .npy dtype '<c8'");
	expect_bad_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4, "unsupported .npy dtype '<f2'");
	expect_bad_dict("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 2, "unsupported .npy dtype '|u1'");
	expect_bad_dict("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }", 16, "structured dtype");
}

Test(io, npy_bad_shapes)
{
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 8,
		"more than 8 dims");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2, -3), }", 0, "negative size on axis 1");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0,
		"overflows 64 bits");
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0,
		"overflows the addressable size");
	expect_bad_dict("{'descr': '<c16', 'fortran_order': False, 'shape': (2305843009213693952,), }", 0,
		"overflows the addressable size");
	/* a huge but representable shape must fail on the data size, without allocating it */
	expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", 16,
		"truncated .npy data: 16 bytes, shape [1000000000000] of f64 needs 8000000000000");
}

Test(io, npy_data_size_mismatch)
{
	const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
	expect_bad_dict(d, 23, "truncated .npy data: 23 bytes, shape [3,2] of f32 needs 24");
	expect_bad_dict(d, 0, "truncated .npy data: 0 bytes");
	expect_bad_dict(d, 25, "longer than its shape: 25 bytes, shape [3,2] of f32 needs 24");
}

Test(io, npy_io_errors)
{
	tg_dtype t;
	tg_shape s;
	void *data;
	const char *missing = in_dir("missing.npy");
	cr_expect_eq(tg_npy_read(missing, &t, &s, &data), TG_ERR_IO);
	cr_expect(strstr(tg_last_error(), missing) && strstr(tg_last_error(), "No such file"), "%s", tg_last_error());
	cr_expect_eq(tg_npy_read(dir, &t, &s, &data), TG_ERR_IO, "a directory: %s", tg_last_error());
	double x[2] = {1, 2};
	const char *nodir = in_dir("nodir/x.npy");
	cr_expect_eq(tg_npy_write(nodir, TG_F64, TG_SHAPE(2), x), TG_ERR_IO);
	cr_expect(strstr(tg_last_error(), nodir), "%s", tg_last_error());
	cr_expect_eq(count_entries(dir), 0);
	cr_expect_eq(tg_npy_write(in_dir("x.npy"), TG_F64, TG_SHAPE(2), NULL), TG_ERR_ARG);
	cr_expect_eq(tg_npy_write(in_dir("x.npy"), TG_F64, TG_SHAPE(2, -1), x), TG_ERR_ARG);
}

/* A failed write leaves the old file as it was and no temporary file behind. */
Test(io, npy_failed_write_keeps_old_file)
{
	double old[2] = {1, 2}, new[2] = {3, 4};
	const char *path = in_dir("keep.npy");
	cr_assert_eq(tg_npy_write(path, TG_F64, TG_SHAPE(2), old), TG_OK);
	size_t len0, len1;
	unsigned char *before = slurp(path, &len0);
	/* the temporary file cannot be created: its name is taken by a directory */
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	cr_assert_eq(mkdir(tmp, 0700), 0);
	cr_expect_eq(tg_npy_write(path, TG_F64, TG_SHAPE(2), new), TG_ERR_IO);
	cr_expect(strstr(tg_last_error(), path), "%s", tg_last_error());
	rmdir(tmp);
	unsigned char *after = slurp(path, &len1);
	cr_expect(len0 == len1 && memcmp(before, after, len0) == 0, "old file changed");
	free(before);
	free(after);
	/* the rename fails (the target is a non-empty directory): the temporary file is removed */
	const char *d = in_dir("sub");
	cr_assert_eq(mkdir(d, 0700), 0);
	write_file(in_dir("sub/a"), "a", 1);
	cr_expect_eq(tg_npy_write(d, TG_F64, TG_SHAPE(2), new), TG_ERR_IO);
	cr_expect_eq(count_entries(dir), 2, "temporary file left behind");
}

/* Allocator that fails from the n-th allocation on and counts live blocks. */
static long alloc_budget = -1, live_blocks;
static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud, (void)osize;
	if (nsize == 0) {
		live_blocks -= ptr != NULL;
		free(ptr);
		return NULL;
	}
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	void *p = realloc(ptr, nsize);
	live_blocks += p && !ptr;
	return p;
}

Test(io, npy_out_of_memory)
{
	void *buf;
	size_t len;
	float x[4] = {1, 2, 3, 4};
	cr_assert_eq(tg_npy_encode(TG_F32, TG_SHAPE(4), x, &buf, &len), TG_OK);
	tg_set_allocator(budget_alloc, NULL);
	alloc_budget = 0;
	tg_dtype t;
	tg_shape s;
	void *data;
	cr_expect_eq(tg_npy_read_mem(buf, len, &t, &s, &data), TG_ERR_NOMEM);
	cr_expect_null(data);
	void *b2;
	size_t l2;
	cr_expect_eq(tg_npy_encode(TG_F32, TG_SHAPE(4), x, &b2, &l2), TG_ERR_NOMEM);
	tg_set_allocator(NULL, NULL);
	tg_free(buf, len);
}

/* ---------------------------------------------------------------- checkpoints */

/* A small model: parameters and state of every dtype and rank, names with '/' and '.',
** plus an input and a constant that checkpoints ignore. extra adds one parameter, wide makes
** "conv1/w" [2,3,4] instead of [2,3,3], f32b makes "conv1.b" f32 instead of f64, no_state
** leaves out the state node. */
typedef struct variant { bool extra, wide, f32b, no_state; } variant;

static tg_graph *model(variant v)
{
	tg_graph *g = tg_graph_new();
	tg_input(g, "x", TG_F64, TG_SHAPE(4));
	tg_param(g, "conv1/w", TG_F32, v.wide ? TG_SHAPE(2, 3, 4) : TG_SHAPE(2, 3, 3));
	tg_param(g, "conv1.b", v.f32b ? TG_F32 : TG_F64, TG_SHAPE(2));
	tg_param(g, "z", TG_C128, TG_SHAPE(3));
	double c[2] = {5, 6};
	tg_const(g, "c", TG_F64, TG_SHAPE(2), c);
	if (!v.no_state)
		tg_state(g, "bn/running_mean", TG_F64, TG_SHAPE(2));
	tg_state(g, "adam.step", TG_F64, TG_SCALAR_SHAPE);
	if (v.extra)
		tg_param(g, "head/w", TG_F32, TG_SHAPE(3));
	cr_assert_eq(tg_graph_status(g), TG_OK, "%s", tg_graph_error(g));
	return g;
}

/* Fills every persistent node's bytes with pseudo-random bytes from a seed (an LCG, so no
** node's bytes occur inside another's). */
static void fill(tg_graph *g, unsigned seed)
{
	for (int i = 0; i < tg_graph_node_count(g); i++) {
		tg_node *n = tg_graph_node(g, i);
		uint32_t x = seed * 1000u + (uint32_t)i;
		for (size_t k = 0; k < n->nbytes; k++) {
			x = x * 1103515245u + 12345u;
			((unsigned char *)n->data)[k] = (unsigned char)(x >> 16);
		}
	}
}

/* Copy of all persistent bytes, to compare after a load. */
static unsigned char *snapshot(tg_graph *g, size_t *len)
{
	size_t total = 0;
	for (int i = 0; i < tg_graph_node_count(g); i++)
		total += tg_graph_node(g, i)->nbytes;
	unsigned char *b = malloc(total + 1), *p = b;
	for (int i = 0; i < tg_graph_node_count(g); i++) {
		tg_node *n = tg_graph_node(g, i);
		memcpy(p, n->data, n->nbytes);
		p += n->nbytes;
	}
	*len = total;
	return b;
}

static bool same_as(tg_graph *g, const unsigned char *snap, size_t len)
{
	size_t l2;
	unsigned char *now = snapshot(g, &l2);
	bool eq = l2 == len && memcmp(now, snap, len) == 0;
	free(now);
	return eq;
}

/* Loads must fail with st and a message containing want, leaving g unchanged. */
static void expect_load_fails(tg_graph *g, const char *path, tg_status st, const char *want)
{
	size_t len;
	unsigned char *snap = snapshot(g, &len);
	cr_expect_eq(tg_checkpoint_load(g, path), st, "want %s, got '%s'", tg_status_str(st), tg_last_error());
	cr_expect(strstr(tg_last_error(), want), "message '%s' lacks '%s'", tg_last_error(), want);
	cr_expect(strstr(tg_last_error(), path), "message '%s' does not name the file", tg_last_error());
	cr_expect(same_as(g, snap, len), "a failed load changed the graph");
	cr_expect_eq(tg_graph_status(g), TG_OK, "a failed load must not poison the graph");
	free(snap);
}

Test(io, checkpoint_round_trip)
{
	tg_graph *g = model((variant){0});
	fill(g, 1);
	size_t len;
	unsigned char *saved = snapshot(g, &len);
	const char *path = in_dir("ck.npz");
	cr_assert_eq(tg_checkpoint_save(g, path), TG_OK, "%s", tg_last_error());
	cr_expect_eq(count_entries(dir), 1, "no temporary file left");
	fill(g, 2);
	/* the input and the constant are not in the checkpoint: keep their new values */
	tg_node *x = tg_graph_find(g, "x"), *c = tg_graph_find(g, "c");
	unsigned char xc[32 + 16];
	memcpy(xc, x->data, 32);
	memcpy(xc + 32, c->data, 16);
	cr_assert_eq(tg_checkpoint_load(g, path), TG_OK, "%s", tg_last_error());
	cr_expect(memcmp(xc, x->data, 32) == 0 && memcmp(xc + 32, c->data, 16) == 0, "non-checkpoint nodes changed");
	memcpy(x->data, saved, 32); /* x comes first in the snapshot; c after the three parameters */
	memcpy(c->data, saved + 32 + 72 + 16 + 48, 16);
	cr_expect(same_as(g, saved, len), "loaded values differ from the saved ones");
	free(saved);
	tg_graph_free(g);
}

/* The file is a plain zip of .npy members, as numpy.load expects. */
Test(io, checkpoint_is_npz)
{
	tg_graph *g = model((variant){0});
	fill(g, 3);
	const char *path = in_dir("ck.npz");
	cr_assert_eq(tg_checkpoint_save(g, path), TG_OK, "%s", tg_last_error());
	int err;
	zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
	cr_assert(za, "zip_open: %d", err);
	cr_expect_eq(zip_get_num_entries(za, 0), 5);
	zip_stat_t zs;
	cr_assert_eq(zip_stat(za, "conv1/w.npy", 0, &zs), 0, "member conv1/w.npy");
	cr_expect_eq(zs.comp_method, ZIP_CM_STORE);
	unsigned char buf[512];
	zip_file_t *zf = zip_fopen(za, "conv1/w.npy", 0);
	cr_assert(zf);
	cr_assert_eq(zip_fread(zf, buf, zs.size), (zip_int64_t)zs.size);
	zip_fclose(zf);
	tg_dtype t;
	tg_shape s;
	void *data;
	cr_assert_eq(tg_npy_read_mem(buf, zs.size, &t, &s, &data), TG_OK, "%s", tg_last_error());
	tg_node *w = tg_graph_find(g, "conv1/w");
	cr_expect(t == TG_F32 && tg_shape_eq(s, w->shape) && memcmp(data, w->data, w->nbytes) == 0);
	tg_free(data, w->nbytes);
	cr_expect_geq(zip_name_locate(za, "adam.step.npy", 0), 0);
	cr_expect_lt(zip_name_locate(za, "x.npy", 0), 0, "inputs are not saved");
	cr_expect_lt(zip_name_locate(za, "c.npy", 0), 0, "constants are not saved");
	zip_discard(za);
	tg_graph_free(g);
}

/* Flips one byte of the data of member `conv1.b.npy` (stored, so its bytes are in the file). */
Test(io, checkpoint_corrupt_byte_fails_crc)
{
	tg_graph *g = model((variant){0});
	fill(g, 4);
	const char *path = in_dir("ck.npz");
	cr_assert_eq(tg_checkpoint_save(g, path), TG_OK, "%s", tg_last_error());
	size_t len;
	unsigned char *b = slurp(path, &len);
	tg_node *bias = tg_graph_find(g, "conv1.b");
	unsigned char *at = memmem(b, len, bias->data, bias->nbytes);
	cr_assert(at, "member data not found in the file");
	at[5] ^= 0x40;
	write_file(path, b, len);
	fill(g, 5);
	expect_load_fails(g, path, TG_ERR_FORMAT, "CRC");
	cr_expect(strstr(tg_last_error(), "conv1.b.npy"), "%s", tg_last_error());
	/* a corrupted header byte of a member is caught the same way */
	at[5] ^= 0x40;
	at = memmem(b, len, "'shape': (2, 3, 3)", 18);
	cr_assert(at);
	at[10] = '4';
	write_file(path, b, len);
	expect_load_fails(g, path, TG_ERR_FORMAT, "CRC");
	free(b);
	tg_graph_free(g);
}

Test(io, checkpoint_truncated_or_not_a_zip)
{
	tg_graph *g = model((variant){0});
	fill(g, 6);
	const char *path = in_dir("ck.npz");
	cr_assert_eq(tg_checkpoint_save(g, path), TG_OK, "%s", tg_last_error());
	size_t len;
	unsigned char *b = slurp(path, &len);
	fill(g, 7);
	for (size_t cut = 0; cut < len; cut += len / 7 + 1) {
		write_file(path, b, cut);
		size_t sl;
		unsigned char *snap = snapshot(g, &sl);
		cr_expect_neq(tg_checkpoint_load(g, path), TG_OK, "cut at %zu of %zu", cut, len);
		cr_expect(strstr(tg_last_error(), path), "%s", tg_last_error());
		cr_expect(same_as(g, snap, sl));
		free(snap);
	}
	write_file(path, b, len - 1);
	expect_load_fails(g, path, TG_ERR_FORMAT, "Not a zip archive");
	expect_load_fails(g, in_dir("missing.npz"), TG_ERR_IO, "No such file");
	free(b);
	tg_graph_free(g);
}

Test(io, checkpoint_architecture_mismatch)
{
	tg_graph *g = model((variant){0});
	fill(g, 8);
	const char *path = in_dir("ck.npz");
	struct { variant v; const char *want; } cases[] = {
		{{.no_state = true}, "member 'bn/running_mean.npy' missing"},
		{{.extra = true}, "extra member 'head/w.npy'"},
		{{.wide = true}, "member 'conv1/w.npy': expected f32 [2,3,3], found f32 [2,3,4]"},
		{{.f32b = true}, "member 'conv1.b.npy': expected f64 [2], found f32 [2]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tg_graph *other = model(cases[i].v);
		fill(other, 9);
		cr_assert_eq(tg_checkpoint_save(other, path), TG_OK, "%s", tg_last_error());
		expect_load_fails(g, path, TG_ERR_FORMAT, cases[i].want);
		tg_graph_free(other);
	}
	tg_graph_free(g);
}

Test(io, checkpoint_names_must_be_unique)
{
	tg_graph *g = model((variant){0});
	tg_param(g, "z", TG_F64, TG_SHAPE(1));
	cr_expect_eq(tg_checkpoint_save(g, in_dir("ck.npz")), TG_ERR_ARG);
	cr_expect(strstr(tg_last_error(), "both named 'z'"), "%s", tg_last_error());
	cr_expect_eq(count_entries(dir), 0);
	tg_graph_free(g);
	tg_graph *empty = tg_graph_new();
	cr_expect_eq(tg_checkpoint_save(empty, in_dir("ck.npz")), TG_ERR_ARG);
	tg_graph_free(empty);
}

Test(io, checkpoint_unwritable_directory)
{
	tg_graph *g = model((variant){0});
	fill(g, 10);
	/* a directory that does not exist */
	cr_expect_eq(tg_checkpoint_save(g, in_dir("nodir/ck.npz")), TG_ERR_IO);
	cr_expect(strstr(tg_last_error(), "nodir/ck.npz"), "%s", tg_last_error());
	cr_expect_eq(count_entries(dir), 0);
	/* a directory without write permission (root may write anyway: then only the check above counts) */
	const char *ro = in_dir("ro");
	cr_assert_eq(mkdir(ro, 0500), 0);
	if (access(ro, W_OK) != 0) {
		cr_expect_eq(tg_checkpoint_save(g, in_dir("ro/ck.npz")), TG_ERR_IO);
		cr_expect(strstr(tg_last_error(), "ro/ck.npz"), "%s", tg_last_error());
		cr_expect_eq(count_entries(ro), 0);
	}
	/* the final rename fails (the target is a non-empty directory): nothing left behind */
	const char *sub = in_dir("sub");
	cr_assert_eq(mkdir(sub, 0700), 0);
	write_file(in_dir("sub/a"), "a", 1);
	cr_expect_eq(tg_checkpoint_save(g, sub), TG_ERR_IO);
	cr_expect(strstr(tg_last_error(), "renaming"), "%s", tg_last_error());
	cr_expect_eq(count_entries(dir), 2, "temporary file left behind");
	tg_graph_free(g);
}

Test(io, checkpoint_failed_save_keeps_old_file)
{
	tg_graph *g = model((variant){0});
	fill(g, 11);
	size_t slen;
	unsigned char *saved = snapshot(g, &slen);
	const char *path = in_dir("ck.npz");
	cr_assert_eq(tg_checkpoint_save(g, path), TG_OK, "%s", tg_last_error());
	size_t len0;
	unsigned char *before = slurp(path, &len0);
	fill(g, 12);
	/* the temporary name is taken by a directory: the archive cannot be written */
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	cr_assert_eq(mkdir(tmp, 0700), 0);
	cr_expect_eq(tg_checkpoint_save(g, path), TG_ERR_IO, "%s", tg_last_error());
	cr_expect(strstr(tg_last_error(), path), "%s", tg_last_error());
	cr_expect_eq(count_entries(dir), 2, "temporary file left behind");
	rmdir(tmp);
	/* out of memory at every allocation in turn */
	tg_set_allocator(budget_alloc, NULL);
	for (long k = 0; k < 64; k++) {
		alloc_budget = k;
		long live = live_blocks;
		tg_status st = tg_checkpoint_save(g, path);
		alloc_budget = -1;
		cr_expect_eq(live_blocks, live, "leak after %ld allocations", k);
		if (st == TG_OK)
			break;
		cr_expect_eq(st, TG_ERR_NOMEM, "%s", tg_last_error());
		cr_expect_eq(count_entries(dir), 1, "temporary file left behind");
		size_t len1;
		unsigned char *after = slurp(path, &len1);
		cr_expect(len0 == len1 && memcmp(before, after, len0) == 0, "old checkpoint changed");
		free(after);
	}
	tg_set_allocator(NULL, NULL);
	/* the file now holds seed 12; restoring the old bytes must give seed 11 back */
	write_file(path, before, len0);
	cr_assert_eq(tg_checkpoint_load(g, path), TG_OK, "%s", tg_last_error());
	tg_node *x = tg_graph_find(g, "x"), *c = tg_graph_find(g, "c");
	memcpy(x->data, saved, 32);
	memcpy(c->data, saved + 32 + 72 + 16 + 48, 16);
	cr_expect(same_as(g, saved, slen));
	free(before);
	free(saved);
	tg_graph_free(g);
}

/* Out of memory at every allocation of a load: an error, no leak, the graph unchanged. */
Test(io, checkpoint_load_out_of_memory)
{
	tg_graph *g = model((variant){0});
	fill(g, 13);
	const char *path = in_dir("ck.npz");
	cr_assert_eq(tg_checkpoint_save(g, path), TG_OK, "%s", tg_last_error());
	fill(g, 14);
	size_t len;
	unsigned char *snap = snapshot(g, &len);
	tg_set_allocator(budget_alloc, NULL);
	tg_status st = TG_ERR_NOMEM;
	long k;
	for (k = 0; k < 64 && st != TG_OK; k++) {
		alloc_budget = k;
		long live = live_blocks;
		st = tg_checkpoint_load(g, path);
		alloc_budget = -1;
		cr_expect_eq(live_blocks, live, "leak after %ld allocations", k);
		if (st != TG_OK) {
			cr_expect_eq(st, TG_ERR_NOMEM, "%s", tg_last_error());
			cr_expect(same_as(g, snap, len), "graph changed by a failed load");
		}
	}
	tg_set_allocator(NULL, NULL);
	cr_expect_eq(st, TG_OK, "still failing after %ld allocations", k);
	cr_expect_not(same_as(g, snap, len));
	free(snap);
	tg_graph_free(g);
}
