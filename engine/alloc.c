/*
** alloc.c: the injectable allocator. Every allocation of tgraph goes through here, so tests
** can make the n-th allocation fail (Lua's lua_Alloc idea).
*/
#include "internal.h"
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	(void)osize;
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	return realloc(ptr, nsize);
}

static tg_alloc_fn alloc_fn = default_alloc;
static void *alloc_ud;

void tg_set_allocator(tg_alloc_fn fn, void *ud)
{
	alloc_fn = fn ? fn : default_alloc;
	alloc_ud = fn ? ud : NULL;
}

void *tg_malloc(size_t n) { return alloc_fn(alloc_ud, NULL, 0, n ? n : 1); }
void *tg_realloc(void *p, size_t osize, size_t nsize) { return alloc_fn(alloc_ud, p, osize, nsize ? nsize : 1); }
void tg_free(void *p, size_t size)
{
	if (p)
		alloc_fn(alloc_ud, p, size, 0);
}

void *tg_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	void *p = tg_malloc(count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

/* Aligned blocks keep the raw pointer and size just before the aligned address. */
void *tg_malloc_aligned(size_t n)
{
	if (n > SIZE_MAX - 2 * TG_ALIGN)
		return NULL;
	size_t total = n + 2 * TG_ALIGN;
	unsigned char *raw = tg_malloc(total);
	if (!raw)
		return NULL;
	uintptr_t a = ((uintptr_t)raw + 2 * sizeof(size_t) + TG_ALIGN - 1) & ~(uintptr_t)(TG_ALIGN - 1);
	size_t *hdr = (size_t *)a - 2;
	hdr[0] = (size_t)((unsigned char *)a - raw);
	hdr[1] = total;
	memset((void *)a, 0, n);
	return (void *)a;
}

void tg_free_aligned(void *p)
{
	if (!p)
		return;
	size_t *hdr = (size_t *)p - 2;
	tg_free((unsigned char *)p - hdr[0], hdr[1]);
}
