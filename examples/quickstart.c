/*
 * quickstart.c — the shortest complete program on rill: open a store,
 * create a topic, append keyed records, read every partition back.
 *
 * Introduces: rill_store_open, rill_topic_create, rill_topic_open,
 * rill_append (one record, and a batch to a chosen partition),
 * rill_partition_for_key, rill_partition_offsets, rill_reader_open,
 * rill_reader_next, rill_strerror / rill_errmsg, and the close functions.
 *
 *   usage: quickstart STORE_DIR
 *
 * Running it twice appends again: the topic is created only if missing.
 * Exit status: 0 ok, 1 a rill call failed, 2 usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rill.h"

#define TOPIC "greetings"
#define PARTITIONS 3

/* Every failure goes through here: the code's text and the detail message
 * (which names the file, key or offset). */
static int report(const char *what, int rc)
{
	fprintf(stderr, "quickstart: %s: %s", what, rill_strerror(rc));
	if (rill_errmsg()[0] != '\0')
		fprintf(stderr, " (%s)", rill_errmsg());
	fputc('\n', stderr);
	return 1;
}

static int append_examples(rill_topic *topic)
{
	/* One record at a time; the topic's partitioner picks the partition
	 * from the key (XXH3 of the key modulo the partition count). */
	static const char *const users[] = {"alice", "bob", "carol", "dave"};
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		char value[64];
		int len = snprintf(value, sizeof(value), "hello from %s", users[i]);
		rill_record record;
		memset(&record, 0, sizeof(record));
		record.key = users[i];
		record.key_len = strlen(users[i]);
		record.value = value;
		record.value_len = (size_t)len;
		record.timestamp_ms = RILL_TIMESTAMP_NOW;
		rill_append_info info;
		int rc = rill_append(&info, topic, RILL_PARTITION_AUTO, &record, 1, 0);
		if (rc != 0)
			return report("append", rc);
		printf("appended key=%s to partition %" PRId32 " at offset %" PRIu64 "%s\n",
		       users[i], info.partition, info.base_offset,
		       info.durable ? " (durable)" : "");
	}

	/* A batch: one checksum, one write, one fsync for all of it. Keyed
	 * records of one batch must share a partition, so pick it from the
	 * key ourselves with the same partitioner the topic uses. */
	const char *key = "alice";
	int32_t partition = rill_partition_for_key(RILL_PARTITIONER_XXH3, key, strlen(key),
	                                           rill_topic_partitions(topic));
	static const char *const values[] = {"logged in", "viewed cart", "logged out"};
	rill_header header = {"source", 6, "quickstart", 10};
	rill_record batch[3];
	memset(batch, 0, sizeof(batch));
	for (size_t i = 0; i < 3; i++) {
		batch[i].key = key;
		batch[i].key_len = strlen(key);
		batch[i].value = values[i];
		batch[i].value_len = strlen(values[i]);
		batch[i].headers = &header;
		batch[i].header_count = 1;
		batch[i].timestamp_ms = RILL_TIMESTAMP_NOW;
	}
	rill_append_info info;
	int rc = rill_append(&info, topic, partition, batch, 3, 0);
	if (rc != 0)
		return report("append batch", rc);
	printf("appended a batch of 3 to partition %" PRId32 " at offsets %" PRIu64
	       "-%" PRIu64 "\n",
	       info.partition, info.base_offset, info.last_offset);
	return 0;
}

static int read_back(rill_topic *topic)
{
	for (int32_t p = 0; p < rill_topic_partitions(topic); p++) {
		rill_offsets offsets;
		int rc = rill_partition_offsets(&offsets, topic, p);
		if (rc != 0)
			return report("partition offsets", rc);
		printf("partition %" PRId32 ": offsets %" PRIu64 " to %" PRIu64 "\n", p,
		       offsets.log_start, offsets.log_end);

		rill_reader *reader = NULL;
		rc = rill_reader_open(&reader, topic, p, RILL_START_EARLIEST);
		if (rc != 0)
			return report("reader open", rc);
		rill_record record;
		/* key and value point into the log (or the reader's buffer) and
		 * stay valid until the next call on this reader. */
		while ((rc = rill_reader_next(reader, &record)) == 0) {
			printf("  offset %" PRIu64 " key=%.*s value=%.*s headers=%zu\n",
			       record.offset, (int)record.key_len,
			       record.key ? (const char *)record.key : "", (int)record.value_len,
			       record.value ? (const char *)record.value : "",
			       record.header_count);
		}
		rill_reader_close(reader);
		if (rc != RILL_EAGAIN) /* RILL_EAGAIN: the end of the log */
			return report("reader next", rc);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: quickstart STORE_DIR\n");
		return 2;
	}
	rill_store *store = NULL;
	int rc = rill_store_open(&store, argv[1], NULL); /* creates the directory */
	if (rc != 0)
		return report(argv[1], rc);

	int status = 0;
	rill_topic *topic = NULL;
	rc = rill_topic_create(store, TOPIC, PARTITIONS, NULL); /* default config */
	if (rc != 0 && rc != RILL_EEXIST) {
		status = report("create topic " TOPIC, rc);
		goto out;
	}
	rc = rill_topic_open(&topic, store, TOPIC);
	if (rc != 0) {
		status = report("open topic " TOPIC, rc);
		goto out;
	}
	status = append_examples(topic);
	if (status == 0)
		status = read_back(topic);
out:
	rill_topic_close(topic);
	rc = rill_store_close(store); /* syncs, marks a clean shutdown */
	if (rc != 0 && status == 0)
		status = report("close", rc);
	return status;
}
