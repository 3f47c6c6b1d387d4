/*
 * check_partitioner.c — key to partition.
 *
 * What it proves:
 *   - rill_murmur2 is Kafka's Java murmur2 bit for bit, on Kafka's own test
 *     vectors and librdkafka's (which were checked against the Java client
 *     and cover every tail length and unaligned starts);
 *   - RILL_PARTITIONER_MURMUR2 puts keys on the partitions the Java client
 *     and librdkafka's murmur2 partitioner choose (toPositive, not abs);
 *   - the XXH3 partitioner is the documented hash, pinned: known outputs are
 *     hard-coded so any change to the hash or the reduction fails here
 *     (a change would move every existing key to another partition);
 *   - every partition is reachable, bad arguments give -1.
 *
 * Sources of the vectors (values read, not code):
 *   [K] apache/kafka clients/src/test/java/org/apache/kafka/common/utils/
 *       UtilsTest.java, testMurmur2: key -> murmur2 as a Java int.
 *   [R] confluentinc/librdkafka src/rdmurmur2.c, unittest_murmur2: key ->
 *       murmur2, listed there as "java_murmur2_results".
 *   [P] confluentinc/librdkafka tests/0048-partitioner.c,
 *       do_test_partitioners: the "murmur2" partitioner's expected
 *       toPositive(murmur2(key)) per key, obtained there with Kafka's Java
 *       Murmur2 (tests/java/Murmur2Cli), reduced mod 7 and mod 17 partitions.
 *   The key -> partition values for [K]'s keys below were computed from the
 *   hashes in [K] with Kafka's formula, (h & 0x7fffffff) % n, by hand
 *   (Python), not with rill.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "partitioner.h"

/* ------------------------------------------------------------- murmur2 */

typedef struct hash_vector {
	const char *key; /* bytes are the string without its NUL */
	int32_t hash;    /* murmur2 as Java's int */
} hash_vector;

static const hash_vector murmur2_vectors[] = {
	/* [K] */
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	/* [R], hex values as there, as int32 */
	{"kafka", (int32_t)-0x2f98309c},                      /* 0xd067cf64 */
	{"giberish123456789", (int32_t)-0x70aad4f4},          /* 0x8f552b0c */
	{"1234", (int32_t)-0x603684ec},                       /* 0x9fc97b14 */
	{"234", (int32_t)-0x183ff636},                        /* 0xe7c009ca */
	{"34", (int32_t)-0x78c6cf26},                         /* 0x873930da */
	{"4", 0x5a4b5ca1},
	{"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c},
	{"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62b377},
	{"eAmbleWillBeRemoved,ThePrePartThatIs", (int32_t)-0x1f1b1f62}, /* 0xe0e4e09e */
	{"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43f},
	{"", 0x106e08d9},
};
#define MURMUR2_VECTOR_COUNT ((int)(sizeof(murmur2_vectors) / sizeof(murmur2_vectors[0])))

START_TEST(test_murmur2_vectors)
{
	const hash_vector *v = &murmur2_vectors[_i];
	int32_t got = rill_murmur2(v->key, strlen(v->key));
	ck_assert_msg(got == v->hash, "murmur2(\"%s\") = %" PRId32 " (0x%08" PRIx32
	              "), Kafka says %" PRId32 " (0x%08" PRIx32 ")", v->key, got,
	              (uint32_t)got, v->hash, (uint32_t)v->hash);

	/* The same bytes at every alignment hash the same. */
	char buf[128];
	size_t len = strlen(v->key);
	ck_assert_uint_lt(len + 8, sizeof(buf));
	for (size_t shift = 1; shift < 8; shift++) {
		memcpy(buf + shift, v->key, len);
		ck_assert_int_eq(rill_murmur2(buf + shift, len), v->hash);
	}
}
END_TEST

START_TEST(test_murmur2_null_key)
{
	/* [R]: a NULL key of length 0 hashes like the empty key. */
	ck_assert_int_eq(rill_murmur2(NULL, 0), 0x106e08d9);
	/* NULL with a length is a caller error: 0 and a message. */
	ck_assert_int_eq(rill_murmur2(NULL, 3), 0);
	ck_assert_str_eq(rill_errmsg(), "rill_murmur2: key is NULL with key_len 3");
}
END_TEST

/* Bytes >= 0x80: Java reads them as (b & 0xff), so they must not be
 * sign-extended, in the word loop or in the tail. Expected values come from
 * a line-by-line model of Utils.murmur2 in Python (Java int arithmetic,
 * signed bytes), which reproduces every [K] vector above. */
START_TEST(test_murmur2_high_bytes)
{
	const uint8_t five[] = {0xff, 0x80, 0xfe, 0x7f, 0x81};
	const uint8_t seven[] = {0xff, 0x80, 0xfe, 0x7f, 0x81, 0xc3, 0xa9};
	uint8_t all[256];
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;

	ck_assert_int_eq(rill_murmur2(five, sizeof(five)), 2127042685);
	ck_assert_int_eq(rill_murmur2(seven, sizeof(seven)), 1769970623);
	ck_assert_int_eq(rill_murmur2(all, sizeof(all)), -1948347274);
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_MURMUR2, all, sizeof(all), 7), 3);
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_MURMUR2, all, sizeof(all), 100), 74);
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_MURMUR2, seven, sizeof(seven), 100), 23);
}
END_TEST

typedef struct partition_vector {
	const char *key;    /* NULL: no key, length 0 */
	int32_t partitions; /* partition count */
	int32_t partition;  /* expected */
} partition_vector;

static const partition_vector murmur2_partitions[] = {
	/* [P]: 0x106e08d9 (NULL and ""), 0x058d780f ("23456"), 0x4f7703da,
	 * 0x5ec19395, each % 7 and % 17. */
	{NULL, 7, 2},
	{"", 7, 2},
	{"23456", 7, 5},
	{"this is another string with more length to it perhaps", 7, 1},
	{"hejsan", 7, 6},
	{NULL, 17, 11},
	{"", 17, 11},
	{"23456", 17, 9},
	{"this is another string with more length to it perhaps", 17, 11},
	{"hejsan", 17, 5},
	/* [K] hashes, (h & 0x7fffffff) % n. Kafka's toPositive is a mask, not
	 * abs(): with abs() "21" would land on 6 of 7 and 8 of 100. */
	{"21", 7, 3},
	{"21", 17, 13},
	{"21", 100, 40},
	{"foobar", 7, 0},
	{"foobar", 17, 9},
	{"foobar", 100, 66},
	{"a-little-bit-long-string", 3, 2},
	{"a-little-bit-long-string", 100, 12},
	{"a-little-bit-longer-string", 17, 12},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 7, 3},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 100, 77},
	{"abc", 17, 16},
	{"abc", 1, 0},
};
#define MURMUR2_PARTITION_COUNT \
	((int)(sizeof(murmur2_partitions) / sizeof(murmur2_partitions[0])))

START_TEST(test_murmur2_partitions)
{
	const partition_vector *v = &murmur2_partitions[_i];
	size_t len = v->key != NULL ? strlen(v->key) : 0;
	int32_t got = rill_partition_for_key(RILL_PARTITIONER_MURMUR2, v->key, len,
	                                     v->partitions);
	ck_assert_msg(got == v->partition, "murmur2 partition of \"%s\" among %" PRId32
	              " = %" PRId32 ", expected %" PRId32, v->key ? v->key : "(null)",
	              v->partitions, got, v->partition);
	ck_assert_int_eq(rill__partition_murmur2(v->key, len, v->partitions), v->partition);
}
END_TEST

/* ---------------------------------------------------------------- XXH3 */

/* The documented hash, pinned: XXH3_64bits(key, len) with seed 0, and the
 * partition it gives. Values computed once with libxxhash 0.8.1; the empty
 * key's hash is also the one xxHash's own sanity tests list. */
typedef struct xxh3_vector {
	const char *key;
	uint64_t hash;
	int32_t partition_of_12;
	int32_t partition_of_100;
} xxh3_vector;

static const xxh3_vector xxh3_vectors[] = {
	{"", UINT64_C(0x2d06800538d394c2), 10, 38},
	{"a", UINT64_C(0xe6c632b61e964e1f), 7, 19},
	{"key", UINT64_C(0xbbea0d63a05165e3), 7, 87},
	{"rill", UINT64_C(0x7eeac07a3eb27cdc), 4, 8},
	{"hello world", UINT64_C(0xd447b1ea40e6988b), 7, 79},
	{"0123456789abcdef0123456789abcdef", UINT64_C(0x01121d5b6c0ac055), 9, 9},
};
#define XXH3_VECTOR_COUNT ((int)(sizeof(xxh3_vectors) / sizeof(xxh3_vectors[0])))

START_TEST(test_xxh3_pinned)
{
	const xxh3_vector *v = &xxh3_vectors[_i];
	size_t len = strlen(v->key);
	ck_assert_msg(XXH3_64bits(v->key, len) == v->hash, "xxhash changed its output");
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, v->key, len, 12),
	                 v->partition_of_12);
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, v->key, len, 100),
	                 v->partition_of_100);
	ck_assert_int_eq(rill__partition_xxh3(v->key, len, 100), v->partition_of_100);
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, v->key, len, 1), 0);
}
END_TEST

/* Longer keys take other XXH3 code paths (17-128, 129-240, > 240 bytes). */
START_TEST(test_xxh3_pinned_long_keys)
{
	uint8_t key[1000];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 31 + 7);
	ck_assert(XXH3_64bits(key, 100) == UINT64_C(0x8c97158042fbf926));
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, key, 100, 12), 6);
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, key, 100, 100), 54);
	ck_assert(XXH3_64bits(key, 1000) == UINT64_C(0x989765d0ea7a5ecd));
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, key, 1000, 12), 1);
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, key, 1000, 100), 77);
	/* NULL of length 0 is the empty key. */
	ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, NULL, 0, 12), 10);
}
END_TEST

/* The formula itself, on many keys and counts, including counts above
 * 2^31 / 2 where a 32-bit reduction would differ. */
START_TEST(test_xxh3_is_the_documented_formula)
{
	const int32_t counts[] = {1, 2, 3, 7, 12, 100, 1000, 65537, 1 << 30, INT32_MAX};
	char key[32];
	for (int i = 0; i < 1000; i++) {
		int len = snprintf(key, sizeof(key), "user-%d", i);
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			uint64_t h = XXH3_64bits(key, (size_t)len);
			ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_XXH3, key,
			                                        (size_t)len, counts[c]),
			                 (int32_t)(h % (uint64_t)counts[c]));
			uint32_t m = (uint32_t)rill_murmur2(key, (size_t)len) & 0x7fffffffu;
			ck_assert_int_eq(rill_partition_for_key(RILL_PARTITIONER_MURMUR2, key,
			                                        (size_t)len, counts[c]),
			                 (int32_t)(m % (uint32_t)counts[c]));
		}
	}
}
END_TEST

/* -------------------------------------------------------- distribution */

static const int32_t distribution_counts[] = {1, 2, 3, 7, 16, 100};
#define DISTRIBUTION_KEYS 10000

/* 10k keys reach every partition, and no partition gets far more or less
 * than its share (bounds are > 5 standard deviations; the keys are fixed,
 * so this is deterministic). */
START_TEST(test_distribution)
{
	int32_t partitions = distribution_counts[_i];
	const int kinds[] = {RILL_PARTITIONER_XXH3, RILL_PARTITIONER_MURMUR2};
	for (size_t k = 0; k < 2; k++) {
		int hits[100] = {0};
		char key[32];
		for (int i = 0; i < DISTRIBUTION_KEYS; i++) {
			int len = snprintf(key, sizeof(key), "key-%d", i);
			int32_t p = rill_partition_for_key(kinds[k], key, (size_t)len, partitions);
			ck_assert_int_ge(p, 0);
			ck_assert_int_lt(p, partitions);
			hits[p]++;
		}
		int share = DISTRIBUTION_KEYS / partitions;
		for (int32_t p = 0; p < partitions; p++) {
			ck_assert_msg(hits[p] > 0, "kind %d: partition %" PRId32 " of %" PRId32
			              " never chosen", kinds[k], p, partitions);
			ck_assert_msg(hits[p] > share / 2 && hits[p] < share + share / 2,
			              "kind %d: partition %" PRId32 " of %" PRId32 " got %d of %d keys",
			              kinds[k], p, partitions, hits[p], DISTRIBUTION_KEYS);
		}
	}
}
END_TEST

/* ------------------------------------------------------ bad arguments */

START_TEST(test_invalid_arguments)
{
	const int kinds[] = {RILL_PARTITIONER_XXH3, RILL_PARTITIONER_MURMUR2};
	for (size_t k = 0; k < 2; k++) {
		ck_assert_int_eq(rill_partition_for_key(kinds[k], "k", 1, 0), -1);
		ck_assert_str_eq(rill_errmsg(), "partition for key: 0 partitions");
		ck_assert_int_eq(rill_partition_for_key(kinds[k], "k", 1, -1), -1);
		ck_assert_int_eq(rill_partition_for_key(kinds[k], "k", 1, INT32_MIN), -1);
		ck_assert_int_eq(rill_partition_for_key(kinds[k], NULL, 5, 10), -1);
		ck_assert_str_eq(rill_errmsg(), "partition for key: key is NULL with key_len 5");
	}
	ck_assert_int_eq(rill_partition_for_key(2, "k", 1, 10), -1);
	ck_assert_str_eq(rill_errmsg(), "partition for key: unknown partitioner kind 2");
	ck_assert_int_eq(rill_partition_for_key(-1, "k", 1, 10), -1);
	/* Arguments are checked before the kind. */
	ck_assert_int_eq(rill_partition_for_key(7, "k", 1, 0), -1);
	ck_assert_str_eq(rill_errmsg(), "partition for key: 0 partitions");
}
END_TEST

/* Found by the Makefile (suites.h); the prototype satisfies
 * -Wmissing-prototypes. */
Suite *partitioner_suite(void);
Suite *partitioner_suite(void)
{
	Suite *s = suite_create("partitioner");
	TCase *tc = tcase_create("murmur2");
	tcase_add_loop_test(tc, test_murmur2_vectors, 0, MURMUR2_VECTOR_COUNT);
	tcase_add_test(tc, test_murmur2_null_key);
	tcase_add_test(tc, test_murmur2_high_bytes);
	tcase_add_loop_test(tc, test_murmur2_partitions, 0, MURMUR2_PARTITION_COUNT);
	suite_add_tcase(s, tc);

	tc = tcase_create("xxh3");
	tcase_add_loop_test(tc, test_xxh3_pinned, 0, XXH3_VECTOR_COUNT);
	tcase_add_test(tc, test_xxh3_pinned_long_keys);
	tcase_add_test(tc, test_xxh3_is_the_documented_formula);
	suite_add_tcase(s, tc);

	tc = tcase_create("common");
	tcase_add_loop_test(tc, test_distribution, 0,
	                    (int)(sizeof(distribution_counts) / sizeof(distribution_counts[0])));
	tcase_add_test(tc, test_invalid_arguments);
	suite_add_tcase(s, tc);
	return s;
}
