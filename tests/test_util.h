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

/* A rill call that must succeed, or fail with `code`; the failure message
 * names the call, what it returned and rill_errmsg(). For suites that
 * include <check.h> and "rill.h". */
#define OK(x)                                                                            \
	do {                                                                                 \
		int rc_ = (x);                                                                   \
		ck_assert_msg(rc_ == 0, "%s -> %s: %s", #x, rill_strerror(rc_), rill_errmsg()); \
	} while (0)
#define FAILS(x, code)                                                                     \
	do {                                                                                   \
		int rc_ = (x);                                                                     \
		ck_assert_msg(rc_ == (code), "%s -> %d (%s), expected %s: %s", #x, rc_,            \
		              rill_strerror(rc_), rill_strerror(code), rill_errmsg());             \
	} while (0)

#endif
