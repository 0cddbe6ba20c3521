/*
** checkpoint.c: checkpoints as .npz files (a zip of "<node name>.npy" members, what numpy.savez
** writes and numpy.load reads) holding every PARAM and STATE node of a graph.
**
** Errors go to tg_set_error (tg_last_error), not to the graph: a failed save or load leaves the
** graph usable. A load reads, checks and decodes every member into temporaries first and copies
** them into the nodes only when the whole file matched, so a bad file changes nothing.
*/
#include "internal.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#define MEMBER_LEN (TG_NAME_LEN + 4) /* "<name>.npy" */

/* libzip error codes that come from the file system rather than from the file's content. */
static tg_status status_of_zip_error(int ze)
{
	switch (ze) {
	case ZIP_ER_MEMORY: return TG_ERR_NOMEM;
	case ZIP_ER_OPEN: case ZIP_ER_NOENT: case ZIP_ER_READ: case ZIP_ER_SEEK: case ZIP_ER_WRITE:
	case ZIP_ER_CLOSE: case ZIP_ER_TMPOPEN: case ZIP_ER_RENAME: case ZIP_ER_REMOVE: case ZIP_ER_EXISTS:
		return TG_ERR_IO;
	default: return TG_ERR_FORMAT;
	}
}

/* The PARAM and STATE nodes of g in creation order (tg_malloc'ed array of *n). Their names must
** be non-empty and distinct, since they key the members. */
static tg_status collect(tg_graph *g, const char *fn, const char *path, tg_node ***out, int *n)
{
	int total = tg_graph_node_count(g), k = 0;
	tg_node **ns = tg_malloc(sizeof *ns * (size_t)(total ? total : 1));
	if (!ns)
		return tg_set_error(TG_ERR_NOMEM, "%s '%s': out of memory", fn, path);
	for (int i = 0; i < total; i++) {
		tg_node *nd = tg_graph_node(g, i);
		if (!(nd->flags & (TG_FLAG_PARAM | TG_FLAG_STATE)))
			continue;
		if (!nd->name[0]) {
			tg_free(ns, sizeof *ns * (size_t)(total ? total : 1));
			return tg_set_error(TG_ERR_ARG, "%s '%s': %s node %d has no name (names key the checkpoint members)", fn,
				path, nd->flags & TG_FLAG_PARAM ? "parameter" : "state", nd->id);
		}
		for (int j = 0; j < k; j++)
			if (strcmp(ns[j]->name, nd->name) == 0) {
				tg_status st = tg_set_error(TG_ERR_ARG, "%s '%s': nodes %d and %d are both named '%s' (names key "
					"the checkpoint members)", fn, path, ns[j]->id, nd->id, nd->name);
				tg_free(ns, sizeof *ns * (size_t)(total ? total : 1));
				return st;
			}
		ns[k++] = nd;
	}
	*out = ns;
	*n = k;
	return TG_OK;
}

static void free_nodes(tg_graph *g, tg_node **ns)
{
	int total = tg_graph_node_count(g);
	tg_free(ns, sizeof *ns * (size_t)(total ? total : 1));
}

/* ---------------------------------------------------------------- save */

/* Adds one member per node to za; the encoded buffers go to bufs/lens (freed by the caller
** after zip_close, which is when libzip reads them). */
static tg_status add_members(zip_t *za, const char *path, tg_node **ns, int n, void **bufs, size_t *lens)
{
	for (int k = 0; k < n; k++) {
		char member[MEMBER_LEN];
		snprintf(member, sizeof member, "%s.npy", ns[k]->name);
		tg_status st = tg_npy_encode(ns[k]->dtype, ns[k]->shape, ns[k]->data, &bufs[k], &lens[k]);
		if (st != TG_OK) {
			char why[TG_MSG_LEN];
			snprintf(why, sizeof why, "%s", tg_last_error());
			return tg_set_error(st, "tg_checkpoint_save '%s': member '%s': %s", path, member, why);
		}
		zip_source_t *src = zip_source_buffer(za, bufs[k], lens[k], 0);
		zip_int64_t idx = src ? zip_file_add(za, member, src, ZIP_FL_ENC_GUESS) : -1;
		if (idx < 0) {
			zip_source_free(src);
			return tg_set_error(status_of_zip_error(zip_error_code_zip(zip_get_error(za))),
				"tg_checkpoint_save '%s': adding member '%s': %s", path, member, zip_strerror(za));
		}
		/* Stored, as numpy.savez does: float data hardly compress. */
		if (zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0)
			return tg_set_error(TG_ERR_INTERNAL, "tg_checkpoint_save '%s': member '%s': %s", path, member,
				zip_strerror(za));
	}
	return TG_OK;
}

/* Writes the archive to tmp (not yet renamed). */
static tg_status write_zip(const char *path, const char *tmp, tg_node **ns, int n)
{
	int zerr = 0;
	zip_t *za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	if (!za) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, zerr);
		/* Nothing was read: whatever libzip says, the file system refused. */
		tg_status st = tg_set_error(zerr == ZIP_ER_MEMORY ? TG_ERR_NOMEM : TG_ERR_IO,
			"tg_checkpoint_save '%s': cannot create '%s': %s", path, tmp, zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return st;
	}
	void **bufs = tg_calloc((size_t)n, sizeof *bufs);
	size_t *lens = tg_calloc((size_t)n, sizeof *lens);
	tg_status st = bufs && lens ? add_members(za, path, ns, n, bufs, lens)
		: tg_set_error(TG_ERR_NOMEM, "tg_checkpoint_save '%s': out of memory", path);
	if (st == TG_OK && zip_close(za) != 0)
		st = tg_set_error(status_of_zip_error(zip_error_code_zip(zip_get_error(za))),
			"tg_checkpoint_save '%s': writing '%s' failed: %s", path, tmp, zip_strerror(za));
	if (st != TG_OK)
		zip_discard(za);
	for (int k = 0; bufs && lens && k < n; k++)
		tg_free(bufs[k], lens[k]);
	tg_free(bufs, sizeof *bufs * (size_t)n);
	tg_free(lens, sizeof *lens * (size_t)n);
	return st;
}

tg_status tg_checkpoint_save(tg_graph *g, const char *path)
{
	if (!g || !path)
		return tg_set_error(TG_ERR_ARG, "tg_checkpoint_save: NULL %s", g ? "path" : "graph");
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return tg_set_error(TG_ERR_ARG, "tg_checkpoint_save: path too long: %s", path);
	tg_node **ns;
	int n;
	tg_status st = collect(g, "tg_checkpoint_save", path, &ns, &n);
	if (st != TG_OK)
		return st;
	/* libzip writes no file for an empty archive, and an empty checkpoint is surely a mistake. */
	if (n == 0)
		st = tg_set_error(TG_ERR_ARG, "tg_checkpoint_save '%s': the graph has no parameter or state node", path);
	else
		st = write_zip(path, tmp, ns, n);
	free_nodes(g, ns);
	if (st == TG_OK && rename(tmp, path) != 0) {
		int err = errno;
		st = tg_set_error(TG_ERR_IO, "tg_checkpoint_save '%s': renaming '%s' into place: %s", path, tmp,
			strerror(err));
	}
	if (st != TG_OK)
		unlink(tmp);
	return st;
}

/* ---------------------------------------------------------------- load */

/* Reads member i whole (size bytes, from the directory) into a tg_malloc'ed buffer. Reading
** to the end is what makes libzip compare the CRC and the size. */
static tg_status read_member(zip_t *za, zip_uint64_t i, const char *path, const char *member, zip_uint64_t size,
	void **out)
{
	zip_file_t *zf = zip_fopen_index(za, i, 0);
	if (!zf)
		return tg_set_error(status_of_zip_error(zip_error_code_zip(zip_get_error(za))),
			"tg_checkpoint_load '%s': member '%s': %s", path, member, zip_strerror(za));
	unsigned char *buf = tg_malloc((size_t)size);
	tg_status st = buf ? TG_OK : tg_set_error(TG_ERR_NOMEM, "tg_checkpoint_load '%s': member '%s': out of memory",
		path, member);
	zip_uint64_t got = 0;
	zip_int64_t r = 1;
	while (st == TG_OK && got < size && (r = zip_fread(zf, buf + got, size - got)) > 0)
		got += (zip_uint64_t)r;
	unsigned char extra;
	if (st == TG_OK && r > 0)
		r = zip_fread(zf, &extra, 1); /* must be the end: 0 after a good CRC */
	if (st == TG_OK && r < 0)
		st = tg_set_error(status_of_zip_error(zip_error_code_zip(zip_file_get_error(zf))),
			"tg_checkpoint_load '%s': member '%s': %s", path, member, zip_file_strerror(zf));
	else if (st == TG_OK && (got != size || r > 0))
		st = tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_load '%s': member '%s': data %s than the %llu bytes the "
			"directory states", path, member, got != size ? "shorter" : "longer", (unsigned long long)size);
	zip_fclose(zf);
	if (st != TG_OK) {
		tg_free(buf, (size_t)size);
		return st;
	}
	*out = buf;
	return TG_OK;
}

/* Checks and decodes member i into tmp[k] for the node k it names. */
static tg_status load_member(zip_t *za, zip_uint64_t i, const char *path, tg_node **ns, int n, void **tmp)
{
	zip_stat_t zs;
	zip_stat_init(&zs);
	if (zip_stat_index(za, i, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_NAME) || !(zs.valid & ZIP_STAT_SIZE))
		return tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_load '%s': entry %llu: %s", path, (unsigned long long)i,
			zip_strerror(za));
	const char *member = zs.name;
	size_t len = strlen(member);
	int k = -1;
	if (len > 4 && strcmp(member + len - 4, ".npy") == 0)
		for (int j = 0; j < n && k < 0; j++)
			if (strlen(ns[j]->name) == len - 4 && memcmp(ns[j]->name, member, len - 4) == 0)
				k = j;
	if (k < 0)
		return tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_load '%s': extra member '%.100s': no parameter or state "
			"node of that name (a checkpoint of another architecture?)", path, member);
	if (tmp[k])
		return tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_load '%s': member '%s' appears twice", path, member);
	tg_node *nd = ns[k];
	/* Bound the allocation by what this node's .npy can be, before trusting the directory. */
	if (zs.size > (zip_uint64_t)nd->nbytes + TG_NPY_PREAMBLE + TG_NPY_MAX_HEADER)
		return tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_load '%s': member '%s' is %llu bytes, too large for the "
			"expected %s %s", path, member, (unsigned long long)zs.size, tg_dtype_name(nd->dtype), tg_sstr(nd->shape));
	void *raw = NULL;
	tg_status st = read_member(za, i, path, member, zs.size, &raw);
	if (st != TG_OK)
		return st;
	char label[640];
	snprintf(label, sizeof label, "tg_checkpoint_load '%.500s': member '%s'", path, member);
	tg_dtype t;
	tg_shape s;
	void *data;
	st = tg_npy_decode(label, raw, (size_t)zs.size, &t, &s, &data);
	tg_free(raw, (size_t)zs.size);
	if (st != TG_OK)
		return st;
	if (t != nd->dtype || !tg_shape_eq(s, nd->shape)) {
		tg_free(data, (size_t)tg_shape_numel(s) * tg_dtype_size(t));
		return tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_load '%s': member '%s': expected %s %s, found %s %s", path,
			member, tg_dtype_name(nd->dtype), tg_sstr(nd->shape), tg_dtype_name(t), tg_sstr(s));
	}
	tmp[k] = data;
	return TG_OK;
}

/* Loads every member of za into tmp (one per node); all nodes must be covered. */
static tg_status load_all(zip_t *za, const char *path, tg_node **ns, int n, void **tmp)
{
	zip_int64_t ne = zip_get_num_entries(za, 0);
	for (zip_int64_t i = 0; i < ne; i++) {
		tg_status st = load_member(za, (zip_uint64_t)i, path, ns, n, tmp);
		if (st != TG_OK)
			return st;
	}
	for (int k = 0; k < n; k++)
		if (!tmp[k])
			return tg_set_error(TG_ERR_FORMAT, "tg_checkpoint_load '%s': member '%s.npy' missing (%s node, %s %s)",
				path, ns[k]->name, ns[k]->flags & TG_FLAG_PARAM ? "parameter" : "state",
				tg_dtype_name(ns[k]->dtype), tg_sstr(ns[k]->shape));
	return TG_OK;
}

tg_status tg_checkpoint_load(tg_graph *g, const char *path)
{
	if (!g || !path)
		return tg_set_error(TG_ERR_ARG, "tg_checkpoint_load: NULL %s", g ? "path" : "graph");
	tg_node **ns;
	int n;
	tg_status st = collect(g, "tg_checkpoint_load", path, &ns, &n);
	if (st != TG_OK)
		return st;
	int zerr = 0;
	zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
	if (!za) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, zerr);
		st = tg_set_error(status_of_zip_error(zerr), "tg_checkpoint_load '%s': %s", path, zip_error_strerror(&ze));
		zip_error_fini(&ze);
		free_nodes(g, ns);
		return st;
	}
	void **tmp = tg_calloc((size_t)n, sizeof *tmp);
	st = tmp ? load_all(za, path, ns, n, tmp) : tg_set_error(TG_ERR_NOMEM, "tg_checkpoint_load '%s': out of memory",
		path);
	zip_discard(za);
	for (int k = 0; tmp && k < n; k++) {
		if (st == TG_OK)
			memcpy(ns[k]->data, tmp[k], ns[k]->nbytes);
		tg_free(tmp[k], ns[k]->nbytes);
	}
	tg_free(tmp, sizeof *tmp * (size_t)n);
	free_nodes(g, ns);
	return st;
}
