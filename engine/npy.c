/*
** npy.c: NumPy .npy files (format 1.0, 2.0 and 3.0) of little-endian f4, f8 and c16 arrays in
** C order. Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.0, uint32 LE for
** 2.0/3.0), a Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
** padded with spaces and ended by '\n', then the raw data.
**
** The reader takes hostile input (it is fuzzed): every length is checked against what is
** available before use, every size product against overflow, and nothing is allocated before
** the header says how much data follows and the data is known to be there.
*/
#include "internal.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Data are copied as they are: the files are little-endian, so the host must be too. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "engine/npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* numpy pads magic + length + header to a multiple of 64 so the data are aligned. */
#define NPY_ALIGN 64

/* ---------------------------------------------------------------- reading: preamble */

/* Checks magic and version in p[0..len) and reads the header length: the header occupies
** p[*prefix .. *prefix + *hlen). len may be shorter than the header itself. */
static tg_status parse_preamble(const char *name, const unsigned char *p, size_t len, size_t *prefix, size_t *hlen)
{
	size_t m = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
	if (memcmp(p, NPY_MAGIC, m) != 0)
		return tg_set_error(TG_ERR_FORMAT, "%s: not a .npy file: bad magic (expected \\x93NUMPY)", name);
	if (len < 8)
		return tg_set_error(TG_ERR_FORMAT, "%s: truncated: %zu bytes, shorter than the .npy magic and version", name, len);
	int major = p[6], minor = p[7];
	if (minor != 0 || major < 1 || major > 3)
		return tg_set_error(TG_ERR_FORMAT, "%s: unsupported .npy version %d.%d (expected 1.0, 2.0 or 3.0)", name,
			major, minor);
	*prefix = major == 1 ? 10 : 12;
	if (len < *prefix)
		return tg_set_error(TG_ERR_FORMAT, "%s: truncated: %zu bytes, shorter than the %zu-byte .npy preamble", name,
			len, *prefix);
	uint32_t n = (uint32_t)p[8] | (uint32_t)p[9] << 8;
	if (major > 1)
		n |= (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
	if (n > TG_NPY_MAX_HEADER)
		return tg_set_error(TG_ERR_FORMAT, "%s: .npy header too long: %u bytes (at most %d)", name, (unsigned)n,
			TG_NPY_MAX_HEADER);
	*hlen = n;
	return TG_OK;
}

/* ---------------------------------------------------------------- reading: the header dict */

/* A cursor over the header text h[0..len), for error messages named after the file. */
typedef struct lexer {
	const char *name;
	const char *h;
	size_t len, pos;
} lexer;

static tg_status malformed(const lexer *lx, const char *what)
{
	return tg_set_error(TG_ERR_FORMAT, "%s: malformed .npy header dict: %s at offset %zu", lx->name, what, lx->pos);
}

static void skip_ws(lexer *lx)
{
	while (lx->pos < lx->len && (lx->h[lx->pos] == ' ' || lx->h[lx->pos] == '\t' || lx->h[lx->pos] == '\n' ||
		lx->h[lx->pos] == '\r'))
		lx->pos++;
}

/* Consumes c (after blanks) if it is next. */
static bool accept(lexer *lx, char c)
{
	skip_ws(lx);
	if (lx->pos < lx->len && lx->h[lx->pos] == c) {
		lx->pos++;
		return true;
	}
	return false;
}

static bool peek(lexer *lx, char c)
{
	skip_ws(lx);
	return lx->pos < lx->len && lx->h[lx->pos] == c;
}

/* A quoted string of printable ASCII without escapes into out (NUL-terminated, cap >= 2). */
static tg_status lex_string(lexer *lx, char *out, size_t cap)
{
	skip_ws(lx);
	if (lx->pos >= lx->len || (lx->h[lx->pos] != '\'' && lx->h[lx->pos] != '"'))
		return malformed(lx, "expected a quoted string");
	char q = lx->h[lx->pos++];
	size_t k = 0;
	for (;;) {
		if (lx->pos >= lx->len)
			return malformed(lx, "unterminated string");
		char c = lx->h[lx->pos++];
		if (c == q)
			break;
		if (c < 0x20 || c > 0x7e || c == '\\')
			return malformed(lx, "unexpected character in a string");
		if (k + 1 >= cap)
			return malformed(lx, "string too long");
		out[k++] = c;
	}
	out[k] = 0;
	return TG_OK;
}

static bool lex_word(lexer *lx, const char *w)
{
	skip_ws(lx);
	size_t n = strlen(w);
	if (lx->len - lx->pos < n || memcmp(lx->h + lx->pos, w, n) != 0)
		return false;
	lx->pos += n;
	return true;
}

/* A non-negative integer literal (Python 2's "L" suffix allowed) that fits int64. */
static tg_status lex_dim(lexer *lx, int axis, int64_t *out)
{
	skip_ws(lx);
	if (lx->pos < lx->len && lx->h[lx->pos] == '-')
		return tg_set_error(TG_ERR_FORMAT, "%s: .npy shape has a negative size on axis %d", lx->name, axis);
	if (lx->pos >= lx->len || lx->h[lx->pos] < '0' || lx->h[lx->pos] > '9')
		return malformed(lx, "expected an integer in 'shape'");
	int64_t v = 0;
	while (lx->pos < lx->len && lx->h[lx->pos] >= '0' && lx->h[lx->pos] <= '9') {
		int d = lx->h[lx->pos++] - '0';
		if (v > (INT64_MAX - d) / 10)
			return tg_set_error(TG_ERR_FORMAT, "%s: .npy shape: size on axis %d overflows 64 bits", lx->name, axis);
		v = v * 10 + d;
	}
	if (lx->pos < lx->len && (lx->h[lx->pos] == 'L' || lx->h[lx->pos] == 'l'))
		lx->pos++;
	*out = v;
	return TG_OK;
}

/* A Python tuple of dims: (), (3,), (3, 4) or (3, 4,); "(3)" is an int, not a tuple. */
static tg_status lex_shape(lexer *lx, tg_shape *s)
{
	if (!accept(lx, '('))
		return malformed(lx, "'shape' is not a tuple");
	s->ndim = 0;
	bool trailing_comma = false;
	while (!accept(lx, ')')) {
		if (s->ndim == TG_MAX_DIMS)
			return tg_set_error(TG_ERR_FORMAT, "%s: .npy shape has more than %d dims (at most %d supported)",
				lx->name, TG_MAX_DIMS, TG_MAX_DIMS);
		tg_status st = lex_dim(lx, s->ndim, &s->d[s->ndim]);
		if (st != TG_OK)
			return st;
		s->ndim++;
		trailing_comma = accept(lx, ',');
		if (!trailing_comma && !peek(lx, ')'))
			return malformed(lx, "expected ',' or ')' in 'shape'");
	}
	if (s->ndim == 1 && !trailing_comma)
		return malformed(lx, "'shape' is a parenthesised integer, not a tuple");
	return TG_OK;
}

/* descr strings we read: little-endian ('<'), or native ('=', little-endian on this host).
** '|' ("not applicable") says nothing about the byte order of multi-byte types: refused. */
static bool dtype_of_descr(const char *d, tg_dtype *t)
{
	if (d[0] != '<' && d[0] != '=')
		return false;
	if (strcmp(d + 1, "f4") == 0)
		*t = TG_F32;
	else if (strcmp(d + 1, "f8") == 0)
		*t = TG_F64;
	else if (strcmp(d + 1, "c16") == 0)
		*t = TG_C128;
	else
		return false;
	return true;
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

/* One "key: value" item of the dict; *seen collects the keys. */
static tg_status parse_item(lexer *lx, unsigned *seen, tg_dtype *t, tg_shape *s)
{
	char key[32], descr[64];
	tg_status st = lex_string(lx, key, sizeof key);
	if (st != TG_OK)
		return st;
	if (!accept(lx, ':'))
		return malformed(lx, "expected ':' after a key");
	unsigned k = strcmp(key, "descr") == 0 ? KEY_DESCR : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
		: strcmp(key, "shape") == 0 ? KEY_SHAPE : 0;
	if (!k)
		return tg_set_error(TG_ERR_FORMAT, "%s: malformed .npy header dict: unexpected key '%s' (expected 'descr', "
			"'fortran_order' and 'shape')", lx->name, key);
	if (*seen & k)
		return tg_set_error(TG_ERR_FORMAT, "%s: malformed .npy header dict: key '%s' given twice", lx->name, key);
	*seen |= k;
	if (k == KEY_DESCR) {
		if (peek(lx, '['))
			return tg_set_error(TG_ERR_FORMAT, "%s: unsupported .npy dtype: a structured dtype (expected '<f4', "
				"'<f8' or '<c16')", lx->name);
		if ((st = lex_string(lx, descr, sizeof descr)) != TG_OK)
			return st;
		if (!dtype_of_descr(descr, t))
			return tg_set_error(TG_ERR_FORMAT, "%s: unsupported .npy dtype '%s' (expected '<f4', '<f8' or '<c16')",
				lx->name, descr);
	} else if (k == KEY_FORTRAN) {
		if (lex_word(lx, "True"))
			return tg_set_error(TG_ERR_FORMAT, "%s: .npy array is in Fortran order (fortran_order True); only C order "
				"is supported", lx->name);
		if (!lex_word(lx, "False"))
			return malformed(lx, "'fortran_order' is neither True nor False");
	} else {
		return lex_shape(lx, s);
	}
	return TG_OK;
}

/* The dict h[0..len) (without the final '\n'): exactly the three keys, in any order. */
static tg_status parse_dict(const char *name, const char *h, size_t len, tg_dtype *t, tg_shape *s)
{
	lexer lx = {name, h, len, 0};
	if (!accept(&lx, '{'))
		return malformed(&lx, "expected '{'");
	unsigned seen = 0;
	while (!accept(&lx, '}')) {
		tg_status st = parse_item(&lx, &seen, t, s);
		if (st != TG_OK)
			return st;
		if (!accept(&lx, ',') && !peek(&lx, '}'))
			return malformed(&lx, "expected ',' or '}'");
	}
	skip_ws(&lx);
	if (lx.pos != lx.len)
		return malformed(&lx, "text after the closing '}'");
	const char *missing = !(seen & KEY_DESCR) ? "descr" : !(seen & KEY_FORTRAN) ? "fortran_order"
		: !(seen & KEY_SHAPE) ? "shape" : NULL;
	if (missing)
		return tg_set_error(TG_ERR_FORMAT, "%s: malformed .npy header dict: key '%s' missing", name, missing);
	return TG_OK;
}

/* The header hdr[0..hlen): a dict ended by '\n'. Also checks that the data size fits size_t;
** *nbytes is the data size the shape needs. */
static tg_status parse_header(const char *name, const char *hdr, size_t hlen, tg_dtype *t, tg_shape *s, size_t *nbytes)
{
	if (hlen == 0 || hdr[hlen - 1] != '\n')
		return tg_set_error(TG_ERR_FORMAT, "%s: .npy header not terminated by a newline", name);
	tg_status st = parse_dict(name, hdr, hlen - 1, t, s);
	if (st != TG_OK)
		return st;
	int64_t ne = tg_shape_numel(*s);
	size_t isz = tg_dtype_size(*t);
	if (ne < 0 || (uint64_t)ne > SIZE_MAX / isz)
		return tg_set_error(TG_ERR_FORMAT, "%s: .npy shape %s of %s overflows the addressable size", name, tg_sstr(*s),
			tg_dtype_name(*t));
	*nbytes = (size_t)ne * isz;
	return TG_OK;
}

static tg_status check_data_size(const char *name, tg_dtype t, tg_shape s, size_t need, size_t have)
{
	if (have < need)
		return tg_set_error(TG_ERR_FORMAT, "%s: truncated .npy data: %zu bytes, shape %s of %s needs %zu", name, have,
			tg_sstr(s), tg_dtype_name(t), need);
	if (have > need)
		return tg_set_error(TG_ERR_FORMAT, "%s: .npy data longer than its shape: %zu bytes, shape %s of %s needs %zu",
			name, have, tg_sstr(s), tg_dtype_name(t), need);
	return TG_OK;
}

/* ---------------------------------------------------------------- reading: entry points */

tg_status tg_npy_decode(const char *name, const void *buf, size_t len, tg_dtype *dtype, tg_shape *shape, void **data)
{
	if (!buf || !dtype || !shape || !data)
		return tg_set_error(TG_ERR_ARG, "tg_npy_read_mem: NULL argument");
	*data = NULL;
	const unsigned char *p = buf;
	size_t prefix, hlen, nbytes;
	tg_dtype t;
	tg_shape s;
	tg_status st = parse_preamble(name, p, len, &prefix, &hlen);
	if (st != TG_OK)
		return st;
	if (len - prefix < hlen)
		return tg_set_error(TG_ERR_FORMAT, "%s: truncated .npy header: %zu bytes, the preamble announces %zu", name,
			len - prefix, hlen);
	if ((st = parse_header(name, (const char *)p + prefix, hlen, &t, &s, &nbytes)) != TG_OK)
		return st;
	if ((st = check_data_size(name, t, s, nbytes, len - prefix - hlen)) != TG_OK)
		return st;
	void *d = tg_malloc(nbytes);
	if (!d)
		return tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %zu bytes of .npy data", name, nbytes);
	memcpy(d, p + prefix + hlen, nbytes);
	*dtype = t;
	*shape = s;
	*data = d;
	return TG_OK;
}

tg_status tg_npy_read_mem(const void *buf, size_t len, tg_dtype *dtype, tg_shape *shape, void **data)
{
	return tg_npy_decode("<memory>", buf, len, dtype, shape, data);
}

static tg_status io_error(const char *path, const char *what, int err)
{
	return tg_set_error(TG_ERR_IO, "%s: %s: %s", path, what, err ? strerror(err) : "unexpected end of file");
}

/* Reads the header of f (positioned at 0) into *t, *s, *nbytes; leaves f at the data. */
static tg_status read_header(const char *path, FILE *f, tg_dtype *t, tg_shape *s, size_t *nbytes)
{
	/* The longest preamble (12 bytes) may hold the first 2 bytes of a 1.0 header. */
	char buf[TG_NPY_PREAMBLE + TG_NPY_MAX_HEADER];
	size_t prefix, hlen;
	size_t got = fread(buf, 1, TG_NPY_PREAMBLE, f);
	if (ferror(f))
		return io_error(path, "read failed", errno);
	tg_status st = parse_preamble(path, (const unsigned char *)buf, got, &prefix, &hlen);
	if (st != TG_OK)
		return st;
	if (got < prefix + hlen)
		got += fread(buf + got, 1, prefix + hlen - got, f);
	if (ferror(f))
		return io_error(path, "read failed", errno);
	if (got < prefix + hlen)
		return tg_set_error(TG_ERR_FORMAT, "%s: truncated .npy header: %zu bytes, the preamble announces %zu", path,
			got - prefix, hlen);
	/* got > prefix + hlen (read past the header) only for a 1.0 header under 2 bytes, which
	** cannot hold a dict: parse_header refuses it, so f is at the data whenever it succeeds. */
	return parse_header(path, buf + prefix, hlen, t, s, nbytes);
}

tg_status tg_npy_read(const char *path, tg_dtype *dtype, tg_shape *shape, void **data)
{
	if (!path || !dtype || !shape || !data)
		return tg_set_error(TG_ERR_ARG, "tg_npy_read: NULL argument");
	*data = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return io_error(path, "cannot open for reading", errno);
	tg_dtype t;
	tg_shape s;
	size_t nbytes = 0;
	void *d = NULL;
	tg_status st = read_header(path, f, &t, &s, &nbytes);
	/* A regular file's size tells before allocating whether the data are all there. */
	struct stat sb;
	long pos = ftell(f);
	if (st == TG_OK && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && pos >= 0 && sb.st_size >= pos)
		st = check_data_size(path, t, s, nbytes, (size_t)(sb.st_size - pos));
	if (st == TG_OK && !(d = tg_malloc(nbytes)))
		st = tg_set_error(TG_ERR_NOMEM, "%s: out of memory for %zu bytes of .npy data", path, nbytes);
	if (st == TG_OK) {
		/* The file may change under us: the read itself decides. */
		size_t got = fread(d, 1, nbytes, f);
		if (ferror(f))
			st = io_error(path, "read failed", errno);
		else if (got < nbytes)
			st = check_data_size(path, t, s, nbytes, got);
		else if (fgetc(f) != EOF)
			st = tg_set_error(TG_ERR_FORMAT, "%s: .npy data longer than its shape: shape %s of %s needs %zu bytes",
				path, tg_sstr(s), tg_dtype_name(t), nbytes);
	}
	fclose(f);
	if (st != TG_OK) {
		tg_free(d, nbytes);
		return st;
	}
	*dtype = t;
	*shape = s;
	*data = d;
	return TG_OK;
}

/* ---------------------------------------------------------------- writing */

#define NPY_HEADER_CAP 384 /* 8 dims of 19 digits: the dict stays under 250 bytes */

static const char *descr_of(tg_dtype t)
{
	return t == TG_F32 ? "<f4" : t == TG_F64 ? "<f8" : "<c16";
}

/* Checks the arguments of a write; *nbytes is the data size. */
static tg_status check_write_args(const char *fn, tg_dtype t, tg_shape s, const void *data, size_t *nbytes)
{
	if ((int)t < 0 || t >= TG_DTYPE_COUNT)
		return tg_set_error(TG_ERR_ARG, "%s: unknown dtype %d", fn, (int)t);
	if (s.ndim < 0 || s.ndim > TG_MAX_DIMS)
		return tg_set_error(TG_ERR_ARG, "%s: %d dims (at most %d)", fn, s.ndim, TG_MAX_DIMS);
	int64_t ne = tg_shape_numel(s);
	if (ne < 0 || (uint64_t)ne > SIZE_MAX / 2 / tg_dtype_size(t))
		return tg_set_error(TG_ERR_ARG, "%s: shape %s is invalid or too large", fn, tg_sstr(s));
	*nbytes = (size_t)ne * tg_dtype_size(t);
	if (!data && *nbytes)
		return tg_set_error(TG_ERR_ARG, "%s: NULL data", fn);
	return TG_OK;
}

/* Preamble + header of format 1.0 into out[NPY_HEADER_CAP], padded with spaces to a multiple of
** 64 bytes and ended by '\n', exactly as numpy writes it; returns its length. */
static size_t build_header(tg_dtype t, tg_shape s, unsigned char *out)
{
	char dict[NPY_HEADER_CAP];
	int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr_of(t));
	for (int i = 0; i < s.ndim; i++)
		k += snprintf(dict + k, sizeof dict - (size_t)k, i ? ", %lld" : "%lld", (long long)s.d[i]);
	k += snprintf(dict + k, sizeof dict - (size_t)k, s.ndim == 1 ? ",), }" : "), }");
	size_t total = 10 + (size_t)k + 1;
	total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
	size_t hlen = total - 10;
	memcpy(out, NPY_MAGIC, NPY_MAGIC_LEN);
	out[6] = 1;
	out[7] = 0;
	out[8] = (unsigned char)(hlen & 0xff);
	out[9] = (unsigned char)(hlen >> 8);
	memcpy(out + 10, dict, (size_t)k);
	memset(out + 10 + k, ' ', hlen - (size_t)k - 1);
	out[total - 1] = '\n';
	return total;
}

tg_status tg_npy_encode(tg_dtype dtype, tg_shape shape, const void *data, void **buf, size_t *len)
{
	size_t nbytes = 0;
	if (!buf || !len)
		return tg_set_error(TG_ERR_ARG, "tg_npy_encode: NULL output");
	tg_status st = check_write_args("tg_npy_encode", dtype, shape, data, &nbytes);
	if (st != TG_OK)
		return st;
	unsigned char hdr[NPY_HEADER_CAP];
	size_t hl = build_header(dtype, shape, hdr);
	unsigned char *b = tg_malloc(hl + nbytes);
	if (!b)
		return tg_set_error(TG_ERR_NOMEM, "tg_npy_encode: out of memory for %zu bytes", hl + nbytes);
	memcpy(b, hdr, hl);
	if (nbytes)
		memcpy(b + hl, data, nbytes);
	*buf = b;
	*len = hl + nbytes;
	return TG_OK;
}

tg_status tg_npy_write(const char *path, tg_dtype dtype, tg_shape shape, const void *data)
{
	size_t nbytes = 0;
	if (!path)
		return tg_set_error(TG_ERR_ARG, "tg_npy_write: NULL path");
	tg_status st = check_write_args("tg_npy_write", dtype, shape, data, &nbytes);
	if (st != TG_OK)
		return st;
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return tg_set_error(TG_ERR_ARG, "tg_npy_write: path too long: %s", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return io_error(path, "cannot create temporary file", errno);
	unsigned char hdr[NPY_HEADER_CAP];
	size_t hl = build_header(dtype, shape, hdr);
	bool ok = fwrite(hdr, 1, hl, f) == hl && (nbytes == 0 || fwrite(data, 1, nbytes, f) == nbytes);
	int err = ok ? 0 : errno;
	if (fclose(f) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		err = errno;
	}
	if (!ok) {
		unlink(tmp);
		return io_error(path, "write failed", err);
	}
	return TG_OK;
}
