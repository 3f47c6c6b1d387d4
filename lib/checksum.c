/*
 * checksum.c — which XXH3 code path hashes a batch.
 *
 * Inputs up to XXH3's mid-size limit (240 bytes) take libxxhash's code,
 * which is scalar for them in every build: the vector units only help the
 * long-input loop. Longer inputs take the AVX2 path when checksum_avx2.c
 * has it and the CPU runs it. The choice is made on first use and kept in
 * an atomic: every thread computes the same answer, so a race to store it
 * is harmless.
 */
#include "checksum.h"

#include <stdatomic.h>
#include <xxhash.h>

#define XXH3_MIDSIZE_MAX 240

enum { IMPL_UNKNOWN, IMPL_PORTABLE, IMPL_AVX2 };

static atomic_int impl = IMPL_UNKNOWN;
static atomic_bool forced_portable = false;

static int pick(void)
{
	int chosen = !atomic_load(&forced_portable) && rill__checksum_avx2_usable() ? IMPL_AVX2
	                                                                           : IMPL_PORTABLE;
	atomic_store_explicit(&impl, chosen, memory_order_relaxed);
	return chosen;
}

static int chosen_impl(void)
{
	int chosen = atomic_load_explicit(&impl, memory_order_relaxed);
	return chosen == IMPL_UNKNOWN ? pick() : chosen;
}

uint64_t rill__checksum(const void *data, size_t len, uint64_t seed)
{
	if (len > XXH3_MIDSIZE_MAX && chosen_impl() == IMPL_AVX2)
		return rill__checksum_avx2(data, len, seed);
	return XXH3_64bits_withSeed(data, len, seed);
}

const char *rill__checksum_impl(void)
{
	return chosen_impl() == IMPL_AVX2 ? "avx2" : "libxxhash";
}

void rill__checksum_force_portable(bool portable)
{
	atomic_store(&forced_portable, portable);
	pick();
}
