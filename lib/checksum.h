/*
 * checksum.h — the batch checksum's bulk hash: XXH3-64 with a seed, on the
 * widest vector unit the CPU has.
 *
 * The result is XXH3_64bits_withSeed's, bit for bit, whichever code path
 * computes it (XXH3's output does not depend on the vector width); only the
 * speed differs. Batch encoding and verification hash every byte appended
 * and read, so this is on both hot paths.
 */
#ifndef RILL_CHECKSUM_H
#define RILL_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* XXH3_64bits_withSeed(data, len, seed). Thread-safe. */
uint64_t rill__checksum(const void *data, size_t len, uint64_t seed);

/* The code path rill__checksum takes for long inputs: "avx2", or
 * "libxxhash" (the library's own build: SSE2 on Debian's x86-64). */
const char *rill__checksum_impl(void);

/* Tests: take libxxhash's path only (true) or pick by CPU again (false). */
void rill__checksum_force_portable(bool portable);

/* lib/checksum_avx2.c, compiled with -mavx2 where the compiler accepts it:
 * whether this build has the AVX2 path and the CPU and OS can run it, and
 * the path itself (only to be called when usable). */
bool rill__checksum_avx2_usable(void);
uint64_t rill__checksum_avx2(const void *data, size_t len, uint64_t seed);

#endif /* RILL_CHECKSUM_H */
