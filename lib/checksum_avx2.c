/*
 * checksum_avx2.c — XXH3-64 compiled for AVX2, chosen at run time.
 *
 * Debian's libxxhash is built for baseline x86-64, so its XXH3 runs on SSE2:
 * about 16 GB/s here, slower than memory streams a scanned batch in. The
 * same function compiled from xxhash.h (XXH_INLINE_ALL) with -mavx2 runs at
 * about 60 GB/s from cache, which leaves a scan bound by memory instead of
 * by the checksum. The Makefile compiles only this file with -mavx2, so
 * nothing else in the library can execute an AVX2 instruction on a CPU
 * without it; rill__checksum calls in here only after
 * rill__checksum_avx2_usable() said yes (the CPU has AVX2 and the OS saves
 * its registers, as __builtin_cpu_supports checks).
 *
 * libxxhash also exports a dispatching XXH3 (XXH3_64bits_withSeed_dispatch)
 * in some builds, but not in all, and it picks AVX-512 where present: on
 * this machine that left the upper register halves dirty and made the SSE
 * code run after it (the decoder's struct copies, libxxhash's own calls)
 * several times slower. Here every return clears them (vzeroupper).
 */
#include "checksum.h"

#if defined(__AVX2__) && defined(__x86_64__)

#define XXH_INLINE_ALL
#include <immintrin.h>
#include <xxhash.h>

bool rill__checksum_avx2_usable(void)
{
	/* idempotent; makes the answer right even if asked before the
	 * constructor that normally fills the CPU model has run */
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

uint64_t rill__checksum_avx2(const void *data, size_t len, uint64_t seed)
{
	uint64_t h = XXH3_64bits_withSeed(data, len, seed);
	/* Code compiled for SSE runs next; with dirty upper halves some CPUs
	 * (and hypervisors) make every SSE instruction pay for a merge. */
	_mm256_zeroupper();
	return h;
}

#else /* no AVX2 in this build: the portable path only */

#include <xxhash.h>

bool rill__checksum_avx2_usable(void)
{
	return false;
}

uint64_t rill__checksum_avx2(const void *data, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(data, len, seed);
}

#endif
