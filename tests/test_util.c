/*
 * test_util.c — see test_util.h.
 */
#include "test_util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void tu_tempdir(char *buf, size_t size, const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(buf, size, "%s/rill-test-%s-XXXXXX", base, tag);
	if (mkdtemp(buf) == NULL) {
		perror("mkdtemp");
		abort();
	}
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void tu_rmrf(const char *path)
{
	nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint64_t tu_seed(const char *test_name)
{
	const char *env = getenv("RILL_TEST_SEED");
	uint64_t seed;
	if (env != NULL && env[0] != '\0') {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	}
	if (seed == 0)
		seed = 1;
	fprintf(stderr, "%s: seed = %llu (RILL_TEST_SEED=%llu replays)\n", test_name,
	        (unsigned long long)seed, (unsigned long long)seed);
	return seed;
}

uint64_t tu_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void tu_fill(void *buf, size_t len, uint64_t seed, uint64_t index)
{
	uint64_t s = seed ^ (index * 0x9E3779B97F4A7C15ULL) ^ 0xD1B54A32D192ED03ULL;
	if (s == 0)
		s = 1;
	unsigned char *p = buf;
	size_t i = 0;
	while (i < len) {
		uint64_t r = tu_rand(&s);
		for (int b = 0; b < 8 && i < len; b++, i++)
			p[i] = (unsigned char)(r >> (8 * b));
	}
}
