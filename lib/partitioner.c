/*
 * partitioner.c — which partition a record key belongs to.
 *
 * Design
 *   A key's partition must never change while the partition count does not:
 *   records with one key are ordered only within one partition, and
 *   compaction-style readers look for a key in one place. So both hashes
 *   here are fixed functions of the key bytes alone — no seed chosen at run
 *   time, no dependence on the platform's endianness or word size — and the
 *   tests pin known outputs.
 *
 *   RILL_PARTITIONER_XXH3 (the default): XXH3_64bits(key, len) with seed 0,
 *   reduced modulo the partition count. XXH3 is already linked for batch
 *   checksums and is fast on short keys; the 64-bit value keeps the modulo
 *   bias negligible for any partition count.
 *
 *   RILL_PARTITIONER_MURMUR2: bit-for-bit Kafka's Java client
 *   (org.apache.kafka.common.utils.Utils.murmur2, seed 0x9747b28c, then
 *   toPositive(h) = h & 0x7fffffff, then % numPartitions). A topic mirrored
 *   to or from Kafka keeps every key on the same partition number only if
 *   this matches exactly, including Java's quirks: the key is read as
 *   little-endian 4-byte words whatever the host, the length is mixed in as
 *   a 32-bit int, and toPositive masks the sign bit (it is not abs()).
 *
 *   Keys: a NULL key with length 0 is the empty key and hashes like it.
 *   Kafka does not hash a null key at all (it uses the sticky partition);
 *   that choice belongs to the caller, who knows whether the record had a
 *   key. Records are at most 2^30 bytes, so Java's int length is never
 *   exceeded in practice; longer keys would hash with the length mod 2^32.
 *
 *   The public functions return a partition, not an error code: invalid
 *   arguments return -1 (and set the detail message), which no valid
 *   partition can be.
 */
#include "partitioner.h"

#include <inttypes.h>
#include <xxhash.h>

#define MURMUR2_SEED 0x9747b28cu
#define MURMUR2_M 0x5bd1e995u
#define MURMUR2_R 24

/* uint32_t bit pattern to int32_t without implementation-defined casts. */
static int32_t as_int32(uint32_t u)
{
	if (u <= (uint32_t)INT32_MAX)
		return (int32_t)u;
	return (int32_t)(u - 0x80000000u) + INT32_MIN;
}

/* A real address for the empty key, so no arithmetic is done on NULL. */
static const uint8_t empty_key[1] = {0};

static uint32_t murmur2(const void *key, size_t len)
{
	const uint8_t *data = key != NULL ? key : empty_key;
	uint32_t h = MURMUR2_SEED ^ (uint32_t)len;
	size_t words = len / 4;

	for (size_t i = 0; i < words; i++) {
		uint32_t k = rill__get_u32(data + 4 * i);
		k *= MURMUR2_M;
		k ^= k >> MURMUR2_R;
		k *= MURMUR2_M;
		h *= MURMUR2_M;
		h ^= k;
	}

	/* The last len % 4 bytes, highest first, as Java's fall-through switch. */
	const uint8_t *tail = data + 4 * words;
	size_t rest = len % 4;
	if (rest >= 3)
		h ^= (uint32_t)tail[2] << 16;
	if (rest >= 2)
		h ^= (uint32_t)tail[1] << 8;
	if (rest >= 1) {
		h ^= tail[0];
		h *= MURMUR2_M;
	}

	h ^= h >> 13;
	h *= MURMUR2_M;
	h ^= h >> 15;
	return h;
}

int32_t rill__partition_murmur2(const void *key, size_t len, int32_t partitions)
{
	RILL_ASSERT(partitions >= 1);
	RILL_ASSERT(key != NULL || len == 0);
	uint32_t positive = murmur2(key, len) & 0x7fffffffu;
	int32_t partition = (int32_t)(positive % (uint32_t)partitions);
	RILL_ASSERT(partition >= 0 && partition < partitions);
	return partition;
}

int32_t rill__partition_xxh3(const void *key, size_t len, int32_t partitions)
{
	RILL_ASSERT(partitions >= 1);
	RILL_ASSERT(key != NULL || len == 0);
	XXH64_hash_t h = XXH3_64bits(key != NULL ? key : empty_key, len);
	int32_t partition = (int32_t)(h % (uint64_t)partitions);
	RILL_ASSERT(partition >= 0 && partition < partitions);
	return partition;
}

int32_t rill_murmur2(const void *key, size_t key_len)
{
	if (key == NULL && key_len > 0) {
		rill__error(RILL_EINVAL, "rill_murmur2: key is NULL with key_len %zu",
		            key_len);
		return 0;
	}
	return as_int32(murmur2(key, key_len));
}

int32_t rill_partition_for_key(int kind, const void *key, size_t key_len,
                               int32_t partitions)
{
	if (partitions < 1) {
		rill__error(RILL_EINVAL, "partition for key: %" PRId32 " partitions",
		            partitions);
		return -1;
	}
	if (key == NULL && key_len > 0) {
		rill__error(RILL_EINVAL, "partition for key: key is NULL with key_len %zu",
		            key_len);
		return -1;
	}
	switch (kind) {
	case RILL_PARTITIONER_XXH3:
		return rill__partition_xxh3(key, key_len, partitions);
	case RILL_PARTITIONER_MURMUR2:
		return rill__partition_murmur2(key, key_len, partitions);
	default:
		rill__error(RILL_EINVAL, "partition for key: unknown partitioner kind %d",
		            kind);
		return -1;
	}
}
