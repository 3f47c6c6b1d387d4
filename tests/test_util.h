/*
 * test_util.h — helpers shared by the Check suites: fresh temporary
 * directories, recursive removal, deterministic random numbers with a
 * printed seed (RILL_TEST_SEED=n replays one).
 */
#ifndef RILL_TEST_UTIL_H
#define RILL_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* mkdtemp under $TMPDIR; the path is static per call site's buffer. */
void tu_tempdir(char *buf, size_t size, const char *tag);
/* rm -rf path (ignores errors). */
void tu_rmrf(const char *path);
/* Seed from RILL_TEST_SEED or the clock; printed once per call. */
uint64_t tu_seed(const char *test_name);
/* xorshift64* step. */
uint64_t tu_rand(uint64_t *state);
/* Fill buf with bytes derived from (seed, index) so tests can regenerate
 * the expected value of record `index` without storing it. */
void tu_fill(void *buf, size_t len, uint64_t seed, uint64_t index);

#endif
