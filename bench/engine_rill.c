/*
 * engine_rill.c — rill behind the bench engine interface, through the
 * public API (include/rill.h) only.
 *
 *   open     rill_store_open; rill_topic_create("bench", partitions, cfg)
 *            with durability=append|os, compression.type, segment.bytes,
 *            preallocate, retention; rill_topic_open
 *   append   rill_append of the batch as one call (records carry no key,
 *            an explicit timestamp, no headers); the record array is the
 *            handle's, filled in place: no allocation by the bench
 *   scan     rill_reader_open(EARLIEST), rill_reader_read (256 a call) until RILL_EAGAIN
 *            (rill verifies each batch's checksum)
 *   get      rill_reader_seek + rill_reader_next
 *   ts       rill_offset_for_timestamp
 *   syncs    sum of rill_partition_stats_get().fsyncs
 *   segments sum of rill_partition_stats_get().segments (rolls in a run)
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include "rill.h"

#define TOPIC "bench"

typedef struct rill_engine {
	rill_store *store;
	rill_topic *topic;
	int partitions;
} rill_engine;

typedef struct rill_handle {
	rill_engine *e;
	rill_record *records;   /* batch_max entries */
	size_t record_cap;
	rill_reader **readers;  /* per partition, opened on first read */
	const void *sample;     /* a value pointer from the last scan */
} rill_handle;

static int rill_fail(int rc, const char *what)
{
	engine_set_errmsg("rill %s: %s (%s)", what, rill_strerror(rc), rill_errmsg());
	return -1;
}

static int set(rill_config *cfg, const char *key, const char *value)
{
	int rc = rill_config_set(cfg, key, value);
	if (rc != 0)
		return rill_fail(rc, key);
	return 0;
}

static int rl_open(void **out, const engine_params *p)
{
	rill_engine *e = calloc(1, sizeof *e);
	if (e == NULL)
		return -1;
	e->partitions = p->partitions;
	rill_options opt = RILL_OPTIONS_INIT;
	opt.max_open_files = p->max_open_files;
	opt.batch_cache_bytes = p->batch_cache_bytes;
	int rc = rill_store_open(&e->store, p->dir, &opt);
	if (rc != 0) {
		free(e);
		return rill_fail(rc, "store_open");
	}
	if (!p->reopen) {
		rill_config cfg;
		rill_config_init(&cfg);
		char num[64];
		if (set(&cfg, "durability", p->durable ? "append" : "os") != 0 ||
		    set(&cfg, "compression.type", p->compression ? "zstd" : "none") != 0 ||
		    set(&cfg, "preallocate", p->preallocate ? "true" : "false") != 0 ||
		    set(&cfg, "retention.ms", "-1") != 0)
			return -1;
		if (p->segment_bytes > 0) {
			snprintf(num, sizeof num, "%lld", (long long)p->segment_bytes);
			if (set(&cfg, "segment.bytes", num) != 0)
				return -1;
		}
		if (p->index_interval > 0) {
			snprintf(num, sizeof num, "%lld", (long long)(p->index_interval - 1));
			if (set(&cfg, "index.interval.bytes", num) != 0)
				return -1;
		}
		if (p->segment_index_bytes > 0) {
			snprintf(num, sizeof num, "%lld", (long long)p->segment_index_bytes);
			if (set(&cfg, "segment.index.bytes", num) != 0)
				return -1;
		}
		if (p->retention_bytes > 0) {
			snprintf(num, sizeof num, "%lld", (long long)p->retention_bytes);
			if (set(&cfg, "retention.bytes", num) != 0)
				return -1;
		}
		/* a whole append call must fit one batch */
		uint64_t batch = (uint64_t)p->batch_max * (p->record_size + 64) + 4096;
		if (batch > (1u << 30))
			batch = 1u << 30;
		if (batch > 1048588) {
			snprintf(num, sizeof num, "%llu", (unsigned long long)batch);
			if (set(&cfg, "max.message.bytes", num) != 0)
				return -1;
		}
		rc = rill_topic_create(e->store, TOPIC, p->partitions, &cfg);
		if (rc != 0)
			return rill_fail(rc, "topic_create");
	}
	rc = rill_topic_open(&e->topic, e->store, TOPIC);
	if (rc != 0)
		return rill_fail(rc, "topic_open");
	if (p->background_ms > 0) {
		rc = rill_store_start_background(e->store, p->background_ms);
		if (rc != 0)
			return rill_fail(rc, "start_background");
	}
	*out = e;
	return 0;
}

static int rl_close(void *engine)
{
	rill_engine *e = engine;
	rill_topic_close(e->topic);
	int rc = rill_store_close(e->store);
	free(e);
	return rc == 0 ? 0 : rill_fail(rc, "store_close");
}

static int rl_handle_open(void **out, void *engine, int for_read)
{
	(void)for_read;
	rill_handle *h = calloc(1, sizeof *h);
	if (h == NULL)
		return -1;
	h->e = engine;
	h->readers = calloc((size_t)h->e->partitions, sizeof *h->readers);
	if (h->readers == NULL) {
		free(h);
		return -1;
	}
	*out = h;
	return 0;
}

static void rl_handle_close(void *handle)
{
	rill_handle *h = handle;
	for (int i = 0; i < h->e->partitions; i++)
		rill_reader_close(h->readers[i]);
	free(h->readers);
	free(h->records);
	free(h);
}

static int rl_append(void *handle, int partition, const bench_rec *recs, size_t n)
{
	rill_handle *h = handle;
	if (n > h->record_cap) {
		free(h->records);
		h->records = calloc(n, sizeof *h->records);
		if (h->records == NULL)
			return -1;
		h->record_cap = n;
	}
	rill_record *r = h->records;
	for (size_t i = 0; i < n; i++) {
		r[i].key = NULL;
		r[i].key_len = 0;
		r[i].value = recs[i].value;
		r[i].value_len = recs[i].len;
		r[i].headers = NULL;
		r[i].header_count = 0;
		r[i].timestamp_ms = recs[i].ts;
	}
	int rc = rill_append(NULL, h->e->topic, partition, r, n, 0);
	if (rc != 0)
		return rill_fail(rc, "append");
	return 0;
}

static int reader(rill_handle *h, int partition, rill_reader **out)
{
	if (h->readers[partition] == NULL) {
		int rc = rill_reader_open(&h->readers[partition], h->e->topic, partition,
		                          RILL_START_EARLIEST);
		if (rc != 0)
			return rill_fail(rc, "reader_open");
	}
	*out = h->readers[partition];
	return 0;
}

/* Records per rill_reader_read call in scans (the bulk API, as a Kafka
 * consumer's poll returns many records). */
#define SCAN_CHUNK 256

static int rl_scan(void *handle, int partition, uint64_t *out_records,
                   uint64_t *out_bytes)
{
	rill_handle *h = handle;
	rill_reader *r;
	if (reader(h, partition, &r) != 0)
		return -1;
	int rc = rill_reader_seek(r, RILL_START_EARLIEST);
	if (rc != 0)
		return rill_fail(rc, "seek");
	uint64_t records = 0, bytes = 0, touch = 0;
	rill_record recs[SCAN_CHUNK];
	size_t n;
	while ((rc = rill_reader_read(r, recs, SCAN_CHUNK, &n)) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (recs[i].value_len > 0)
				touch += ((const uint8_t *)recs[i].value)[0];
			bytes += recs[i].value_len;
		}
		h->sample = recs[n - 1].value;
		records += n;
	}
	if (rc != RILL_EAGAIN)
		return rill_fail(rc, "reader_next");
	BENCH_TOUCH(touch);
	*out_records = records;
	*out_bytes = bytes;
	return 0;
}

static int rl_get(void *handle, int partition, uint64_t offset, size_t *out_len)
{
	rill_handle *h = handle;
	rill_reader *r;
	if (reader(h, partition, &r) != 0)
		return -1;
	int rc = rill_reader_seek(r, offset);
	if (rc != 0)
		return rill_fail(rc, "seek");
	rill_record rec;
	rc = rill_reader_next(r, &rec);
	if (rc != 0)
		return rill_fail(rc, "reader_next");
	if (rec.offset != offset) {
		engine_set_errmsg("rill: seek(%llu) returned offset %llu",
		                  (unsigned long long)offset,
		                  (unsigned long long)rec.offset);
		return -1;
	}
	if (rec.value_len > 0)
		BENCH_TOUCH(((const uint8_t *)rec.value)[0]);
	*out_len = rec.value_len;
	return 0;
}

static int rl_ts_lookup(void *handle, int partition, int64_t ts, uint64_t *out_offset)
{
	rill_handle *h = handle;
	int rc = rill_offset_for_timestamp(out_offset, h->e->topic, partition, ts);
	if (rc != 0)
		return rill_fail(rc, "offset_for_timestamp");
	return 0;
}

/* fsyncs and segment files summed over the topic's partitions */
static void stats_total(rill_engine *e, uint64_t *fsyncs, uint64_t *segments)
{
	*fsyncs = *segments = 0;
	for (int i = 0; i < e->partitions; i++) {
		rill_partition_stats st;
		if (rill_partition_stats_get(&st, e->topic, i) == 0) {
			*fsyncs += st.fsyncs;
			*segments += st.segments;
		}
	}
}

static uint64_t rl_syncs(void *engine)
{
	uint64_t fsyncs, segments;
	stats_total(engine, &fsyncs, &segments);
	return fsyncs;
}

static uint64_t rl_segments(void *engine)
{
	uint64_t fsyncs, segments;
	stats_total(engine, &fsyncs, &segments);
	return segments;
}

static int rl_zero_copy(void *handle)
{
	rill_handle *h = handle;
	if (h->sample == NULL)
		return -1;
	return bench_addr_in_file_map(h->sample, ".log");
}

rill_topic *bench_rill_topic(void *engine)
{
	return ((rill_engine *)engine)->topic;
}

rill_store *bench_rill_store(void *engine)
{
	return ((rill_engine *)engine)->store;
}

const engine_ops engine_rill = {
	.name = "rill",
	.summary = "rill " RILL_VERSION_STRING " public API: topic per run, rill_append "
	           "per batch (durability=append|os), rill_reader_read scans (256 per call), "
	           "seek+next point reads",
	.open = rl_open,
	.close = rl_close,
	.handle_open = rl_handle_open,
	.handle_close = rl_handle_close,
	.append = rl_append,
	.scan = rl_scan,
	.get = rl_get,
	.ts_lookup = rl_ts_lookup,
	.syncs = rl_syncs,
	.segments = rl_segments,
	.zero_copy = rl_zero_copy,
};

/* The engine table, in the order runs and tables use. */
const engine_ops *const bench_engines[] = {
	&engine_rill,
	&engine_raw,
	&engine_rawpre,
#ifdef BENCH_HAVE_SQLITE
	&engine_sqlite,
#endif
#ifdef BENCH_HAVE_ROCKSDB
	&engine_rocksdb,
#endif
#ifdef BENCH_HAVE_LMDB
	&engine_lmdb,
#endif
	NULL,
};
