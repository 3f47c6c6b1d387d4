/*
 * partitioner.h — key to partition, for the topic layer's append path.
 *
 * These are the unchecked cores of rill_partition_for_key: the caller has
 * already validated its arguments (asserted here), so they cannot fail.
 */
#ifndef RILL_PARTITIONER_H
#define RILL_PARTITIONER_H

#include "internal.h"

/* XXH3_64bits(key, len) % partitions (seed 0). Requires partitions >= 1
 * and key != NULL unless len == 0. */
int32_t rill__partition_xxh3(const void *key, size_t len, int32_t partitions);

/* Kafka's Java client: (murmur2(key) & 0x7fffffff) % partitions. Requires
 * partitions >= 1 and key != NULL unless len == 0. */
int32_t rill__partition_murmur2(const void *key, size_t len, int32_t partitions);

#endif /* RILL_PARTITIONER_H */
