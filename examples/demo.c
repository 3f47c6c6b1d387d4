/*
 * demo.c — the main job (`make demo`): a store in a local folder, a
 * million keyed events over 8 partitions from several producer threads,
 * every append fsync'd before it is acknowledged, read back with per-key
 * order checked, then retention, with throughput printed for each step.
 *
 * Introduces: rill_store_open, rill_topic_create, rill_config_set,
 * rill_partition_for_key, rill_append (durable, batched per partition),
 * rill_reader_open / rill_reader_next, rill_delete_records,
 * rill_topic_retain, rill_partition_stats_get, rill_store_close.
 *
 * Producers own disjoint key sets (key k belongs to producer k % P), so
 * "per-key order" is checkable: each key's sequence numbers must come back
 * strictly increasing, with none missing. Each producer groups its events
 * by partition and appends up to BATCH records per call, so one fdatasync
 * covers a batch, and concurrent producers share fsyncs (group commit).
 *
 * Usage: demo [store-dir] [events] [producers]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rill.h"

#define TOPIC "events"
#define PARTITIONS 8
#define KEYS 10000
#define BATCH 64

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "demo: %s: %s (%s)\n", what, rill_strerror(rc), rill_errmsg());
	return 1;
}

typedef struct producer {
	rill_topic *topic;
	int id;
	int producers;
	uint64_t events;
	int rc;
	char errmsg[256];
} producer;

/* A pending batch for one partition: records point into `values`. */
typedef struct pending {
	rill_record records[BATCH];
	char keys[BATCH][16];
	char values[BATCH][48];
	size_t count;
} pending;

static int flush(producer *pr, int32_t partition, pending *b)
{
	if (b->count == 0)
		return 0;
	rill_append_info info;
	int rc = rill_append(&info, pr->topic, partition, b->records, b->count, 0);
	if (rc != 0) {
		pr->rc = rc;
		snprintf(pr->errmsg, sizeof(pr->errmsg), "%s", rill_errmsg());
		return rc;
	}
	b->count = 0;
	return 0;
}

static void *produce(void *arg)
{
	producer *pr = arg;
	pending *batches = calloc(PARTITIONS, sizeof(*batches));
	uint32_t *next_seq = calloc(KEYS, sizeof(*next_seq));
	if (batches == NULL || next_seq == NULL) {
		pr->rc = RILL_ENOMEM;
		goto out;
	}
	/* Keys of this producer: id, id + P, id + 2P, ... */
	int my_keys = (KEYS - pr->id + pr->producers - 1) / pr->producers;
	for (uint64_t i = 0; i < pr->events; i++) {
		int key = pr->id + (int)(i % (uint64_t)my_keys) * pr->producers;
		char keybuf[16];
		int klen = snprintf(keybuf, sizeof(keybuf), "key-%05d", key);
		int32_t partition = rill_partition_for_key(RILL_PARTITIONER_XXH3, keybuf, (size_t)klen, PARTITIONS);
		pending *b = &batches[partition];
		size_t n = b->count;
		memcpy(b->keys[n], keybuf, (size_t)klen + 1);
		int vlen = snprintf(b->values[n], sizeof(b->values[n]), "%d:%u:reading=%u", key,
		                    next_seq[key]++, (unsigned)(i * 2654435761u % 1000));
		b->records[n] = (rill_record){
			.key = b->keys[n],
			.key_len = (size_t)klen,
			.value = b->values[n],
			.value_len = (size_t)vlen,
			.timestamp_ms = RILL_TIMESTAMP_NOW,
		};
		b->count++;
		if (b->count == BATCH && flush(pr, partition, b) != 0)
			goto out;
	}
	for (int32_t p = 0; p < PARTITIONS; p++) {
		if (flush(pr, p, &batches[p]) != 0)
			goto out;
	}
out:
	free(batches);
	free(next_seq);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "./demo-store";
	uint64_t events = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
	int producers = argc > 3 ? atoi(argv[3]) : 4;
	if (events == 0 || producers < 1 || producers > 64) {
		fprintf(stderr, "usage: demo [store-dir] [events > 0] [producers 1..64]\n");
		return 2;
	}
	printf("rill %s demo: store %s, %" PRIu64 " keyed events, %d partitions, %d producer threads,\n"
	       "durability=append (every append fsync'd before it returns)\n\n",
	       rill_version_string(), path, events, PARTITIONS, producers);

	rill_store *store = NULL;
	int rc = rill_store_open(&store, path, NULL);
	if (rc != 0)
		return fail("open store", rc);
	rill_topic_delete(store, TOPIC); /* a fresh run each time */
	rill_config config;
	rill_config_init(&config);
	if ((rc = rill_config_set(&config, "durability", "append")) != 0 ||
	    (rc = rill_config_set(&config, "segment.bytes", "1048576")) != 0)
		return fail("config", rc);
	rc = rill_topic_create(store, TOPIC, PARTITIONS, &config);
	if (rc != 0)
		return fail("create topic", rc);
	rill_topic *topic = NULL;
	rc = rill_topic_open(&topic, store, TOPIC);
	if (rc != 0)
		return fail("open topic", rc);

	/* 1. Produce. */
	producer *prods = calloc((size_t)producers, sizeof(*prods));
	pthread_t *threads = calloc((size_t)producers, sizeof(*threads));
	double t0 = now_seconds();
	for (int i = 0; i < producers; i++) {
		prods[i] = (producer){topic, i, producers, events / (uint64_t)producers +
		                      ((uint64_t)i < events % (uint64_t)producers ? 1 : 0), 0, ""};
		pthread_create(&threads[i], NULL, produce, &prods[i]);
	}
	for (int i = 0; i < producers; i++)
		pthread_join(threads[i], NULL);
	double produce_s = now_seconds() - t0;
	for (int i = 0; i < producers; i++) {
		if (prods[i].rc != 0) {
			fprintf(stderr, "demo: producer %d: %s (%s)\n", i, rill_strerror(prods[i].rc), prods[i].errmsg);
			return 1;
		}
	}
	uint64_t fsyncs = 0, batches = 0, total = 0, bytes = 0;
	printf("%-10s %12s %10s %10s %12s\n", "partition", "records", "batches", "fsyncs", "bytes");
	for (int32_t p = 0; p < PARTITIONS; p++) {
		rill_partition_stats st;
		if ((rc = rill_partition_stats_get(&st, topic, p)) != 0)
			return fail("stats", rc);
		printf("%-10d %12" PRIu64 " %10" PRIu64 " %10" PRIu64 " %12" PRIu64 "\n", (int)p, st.log_end,
		       st.batches_appended, st.fsyncs, st.bytes_on_disk);
		if (st.durable != st.log_end) {
			fprintf(stderr, "demo: partition %d: durable %" PRIu64 " != end %" PRIu64 "\n", (int)p,
			        st.durable, st.log_end);
			return 1;
		}
		fsyncs += st.fsyncs;
		batches += st.batches_appended;
		total += st.log_end;
		bytes += st.bytes_on_disk;
	}
	if (total != events) {
		fprintf(stderr, "demo: appended %" PRIu64 " records, expected %" PRIu64 "\n", total, events);
		return 1;
	}
	printf("\nproduced %" PRIu64 " durable records in %.2f s: %.0f records/s, %.1f MB/s; "
	       "%" PRIu64 " batches, %" PRIu64 " fsyncs (%.1f batches per fsync)\n",
	       total, produce_s, (double)total / produce_s, (double)bytes / produce_s / 1e6, batches, fsyncs,
	       fsyncs ? (double)batches / (double)fsyncs : 0.0);

	/* 2. Read everything back, checking each key's order. */
	int64_t *last = malloc(KEYS * sizeof(*last));
	for (int k = 0; k < KEYS; k++)
		last[k] = -1;
	t0 = now_seconds();
	uint64_t read = 0;
	for (int32_t p = 0; p < PARTITIONS; p++) {
		rill_reader *reader = NULL;
		if ((rc = rill_reader_open(&reader, topic, p, RILL_START_EARLIEST)) != 0)
			return fail("open reader", rc);
		rill_record rec;
		uint64_t expect_offset = 0;
		while ((rc = rill_reader_next(reader, &rec)) == 0) {
			int key = 0;
			unsigned seq = 0;
			char text[48];
			size_t n = rec.value_len < sizeof(text) - 1 ? rec.value_len : sizeof(text) - 1;
			memcpy(text, rec.value, n);
			text[n] = '\0';
			if (rec.offset != expect_offset++ || sscanf(text, "%d:%u:", &key, &seq) != 2 || key < 0 ||
			    key >= KEYS || (int64_t)seq != last[key] + 1) {
				fprintf(stderr, "demo: partition %d offset %" PRIu64 ": out of order (%s)\n", (int)p,
				        rec.offset, text);
				return 1;
			}
			last[key] = seq;
			read++;
		}
		if (rc != RILL_EAGAIN)
			return fail("read", rc);
		rill_reader_close(reader);
	}
	double read_s = now_seconds() - t0;
	if (read != events) {
		fprintf(stderr, "demo: read %" PRIu64 " records, expected %" PRIu64 "\n", read, events);
		return 1;
	}
	printf("read back %" PRIu64 " records in %.2f s: %.0f records/s; every key in order, none missing\n",
	       read, read_s, (double)read / read_s);

	/* 3. Retention: keep the newest half of every partition, then apply
	 *    the topic's retention (time and size) as maintenance would. */
	t0 = now_seconds();
	uint64_t deleted_before = 0;
	for (int32_t p = 0; p < PARTITIONS; p++) {
		rill_offsets o;
		if ((rc = rill_partition_offsets(&o, topic, p)) != 0)
			return fail("offsets", rc);
		if ((rc = rill_delete_records(topic, p, o.log_end / 2)) != 0)
			return fail("delete records", rc);
		deleted_before += o.log_end / 2;
	}
	if ((rc = rill_topic_alter(topic, "retention.bytes", "1048576")) != 0)
		return fail("alter retention.bytes", rc);
	uint64_t segments_deleted = 0;
	if ((rc = rill_topic_retain(topic, &segments_deleted)) != 0)
		return fail("retention", rc);
	double retain_s = now_seconds() - t0;
	uint64_t remaining = 0, on_disk = 0;
	for (int32_t p = 0; p < PARTITIONS; p++) {
		rill_partition_stats st;
		rill_partition_stats_get(&st, topic, p);
		remaining += st.log_end - st.log_start;
		on_disk += st.bytes_on_disk;
	}
	printf("retention: records below the midpoint hidden (%" PRIu64 "), then retention.bytes=1MiB "
	       "deleted %" PRIu64 " segments in %.3f s; %" PRIu64 " records (%.1f MB) remain\n",
	       deleted_before, segments_deleted, retain_s, remaining, (double)on_disk / 1e6);

	rill_topic_close(topic);
	rc = rill_store_close(store);
	if (rc != 0)
		return fail("close", rc);
	free(prods);
	free(threads);
	free(last);
	printf("\nstore closed cleanly; reopen it with: build/examples/rill topics describe %s %s\n", path, TOPIC);
	return 0;
}
