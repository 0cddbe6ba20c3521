/*
** rng.c: Philox-4x32-10 (Salmon et al., SC'11), a counter-based RNG: the k-th number of a
** stream is a pure function of (seed, stream, k), so parallel or split generation gives the
** same numbers as serial generation.
*/
#include "internal.h"

static void philox(uint32_t ctr[4], const uint32_t key_in[2])
{
	uint32_t key[2] = {key_in[0], key_in[1]};
	for (int r = 0; r < 10; r++) {
		uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0];
		uint64_t p1 = (uint64_t)0xCD9E8D57u * ctr[2];
		uint32_t n0 = (uint32_t)(p1 >> 32) ^ ctr[1] ^ key[0];
		uint32_t n2 = (uint32_t)(p0 >> 32) ^ ctr[3] ^ key[1];
		ctr[0] = n0;
		ctr[1] = (uint32_t)p1;
		ctr[2] = n2;
		ctr[3] = (uint32_t)p0;
		key[0] += 0x9E3779B9u;
		key[1] += 0xBB67AE85u;
	}
}

double tg_rng_uniform(tg_rng r, uint64_t counter)
{
	uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), (uint32_t)r.stream, (uint32_t)(r.stream >> 32)};
	uint32_t key[2] = {(uint32_t)r.seed, (uint32_t)(r.seed >> 32)};
	philox(ctr, key);
	uint64_t bits = ((uint64_t)ctr[0] << 32 | ctr[1]) >> 11;
	return (double)bits * (1.0 / 9007199254740992.0);
}

void tg_rng_fill_uniform(tg_rng r, uint64_t counter0, double lo, double hi, double *out, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		out[i] = lo + (hi - lo) * tg_rng_uniform(r, counter0 + (uint64_t)i);
}
