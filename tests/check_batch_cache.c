/*
 * check_batch_cache.c — the batch cache (lib/batch_cache.c) through the
 * public API: a reader that seeks into the middle of a batch gets exactly
 * the records it gets without the cache, the cache stays within its
 * capacity, an entry a reader holds survives eviction, a corrupt batch is
 * never cached, a topic deleted and created again never reads the old
 * topic's records, and warm point reads allocate nothing. Timestamp
 * lookups decode their batch through the cache too: the same answers with
 * it as without it, and none allocates once warm. An entry's guess of where
 * its records lie (for prefetching) is within the slack it claims.
 */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "batch_cache.h"
#include "internal.h"
#include "rill.h"
#include "test_util.h"

Suite *batch_cache_suite(void);


static char dir[512];
static char store_path[600];

static void setup(void)
{
	tu_tempdir(dir, sizeof(dir), "bcache");
	snprintf(store_path, sizeof(store_path), "%s/s", dir);
}

static void teardown(void)
{
	tu_rmrf(dir);
}

static rill_store *open_cached(int64_t batch_cache_bytes)
{
	rill_store *s = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	o.batch_cache_bytes = batch_cache_bytes;
	OK(rill_store_open(&s, store_path, &o));
	return s;
}

static rill_topic *create_topic(rill_store *s, const char *name, const char *compression,
                                const char *timestamp_type)
{
	rill_config c;
	rill_config_init(&c);
	OK(rill_config_set(&c, "segment.bytes", "1048576"));
	OK(rill_config_set(&c, "index.interval.bytes", "4096"));
	OK(rill_config_set(&c, "durability", "os"));
	OK(rill_config_set(&c, "compression.type", compression));
	OK(rill_config_set(&c, "message.timestamp.type", timestamp_type));
	OK(rill_topic_create(s, name, 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, name));
	return t;
}

/* Record i of stream `seed`: key, value and a header every third record,
 * each derived from (seed, i). */
typedef struct gen {
	char key[16];
	char value[256];
	char hvalue[24];
	rill_header header;
	rill_record rec;
} gen;

static void make(gen *g, uint64_t seed, uint64_t i)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->key, sizeof(g->key), "k%" PRIu64, i % 7);
	size_t len = (size_t)((i * 13 + seed) % 200) + 1;
	tu_fill(g->value, len, seed, i);
	snprintf(g->hvalue, sizeof(g->hvalue), "h%" PRIu64 "-%" PRIu64, seed, i);
	g->header = (rill_header){"hdr", 3, g->hvalue, strlen(g->hvalue)};
	g->rec.key = g->key;
	g->rec.key_len = strlen(g->key);
	g->rec.value = g->value;
	g->rec.value_len = len;
	g->rec.headers = i % 3 == 0 ? &g->header : NULL;
	g->rec.header_count = i % 3 == 0 ? 1 : 0;
	g->rec.timestamp_ms = 1700000000000LL + (int64_t)i;
}

static void append_stream(rill_topic *t, uint64_t seed, uint64_t count, size_t per_batch)
{
	gen *g = calloc(per_batch, sizeof(*g));
	rill_record *recs = calloc(per_batch, sizeof(*recs));
	for (uint64_t i = 0; i < count;) {
		size_t n = 0;
		for (; n < per_batch && i + n < count; n++) {
			make(&g[n], seed, i + n);
			recs[n] = g[n].rec;
			if (recs[n].headers != NULL)
				recs[n].headers = &g[n].header;
		}
		OK(rill_append(NULL, t, 0, recs, n, 0));
		i += n;
	}
	free(g);
	free(recs);
}

/* `got` is record i of stream `seed` (log_append: timestamps are the
 * batch's, not checked). */
static void check(const rill_record *got, uint64_t seed, uint64_t i, bool log_append)
{
	gen g;
	make(&g, seed, i);
	ck_assert_uint_eq(got->offset, i);
	if (!log_append)
		ck_assert_int_eq(got->timestamp_ms, g.rec.timestamp_ms);
	ck_assert_uint_eq(got->key_len, g.rec.key_len);
	ck_assert(memcmp(got->key, g.rec.key, g.rec.key_len) == 0);
	ck_assert_uint_eq(got->value_len, g.rec.value_len);
	ck_assert_msg(memcmp(got->value, g.rec.value, g.rec.value_len) == 0, "value of record %" PRIu64, i);
	ck_assert_uint_eq(got->header_count, g.rec.header_count);
	if (g.rec.header_count == 1) {
		ck_assert_uint_eq(got->headers[0].value_len, g.header.value_len);
		ck_assert(memcmp(got->headers[0].value, g.header.value, g.header.value_len) == 0);
	}
}

static rill_store_stats stats_of(rill_store *s)
{
	rill_store_stats st;
	OK(rill_store_stats_get(&st, s));
	return st;
}

/* Seek to `target`, read `n` records one at a time (into the next batch
 * when the batch ends first) and check them. */
static void seek_and_check(rill_reader *r, uint64_t seed, uint64_t target, int n, uint64_t end,
                           bool log_append)
{
	OK(rill_reader_seek(r, target));
	for (int k = 0; k < n && target + (uint64_t)k < end; k++) {
		rill_record rec;
		OK(rill_reader_next(r, &rec));
		check(&rec, seed, target + (uint64_t)k, log_append);
	}
}

/* Random seeks, then a few records each, read the same with the cache as
 * without it; every seek past a batch's first record goes through it, and
 * a seek to a first record takes the batch from it when it is there. */
static void same_with_and_without(const char *compression, const char *timestamp_type)
{
	enum { RECORDS = 5000, PER_BATCH = 100, SEEKS = 2000 };
	bool log_append = strcmp(timestamp_type, "LogAppendTime") == 0;
	uint64_t seed = tu_seed("batch cache same reads");
	rill_store *s = open_cached(0);
	rill_topic *t = create_topic(s, "t", compression, timestamp_type);
	append_stream(t, seed, RECORDS, PER_BATCH);
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0 with the cache (default size), pass 1 without */
		rill_reader *r = NULL;
		OK(rill_reader_open(&r, t, 0, 0));
		uint64_t rng = seed;
		/* Seeks into a batch look it up (and cache it); seeks to a
		 * batch's first record take it from the cache only if there. */
		uint64_t lookups = 0;
		bool cached[RECORDS / PER_BATCH] = {false};
		for (int i = 0; i < SEEKS; i++) {
			uint64_t target = tu_rand(&rng) % RECORDS;
			if (target % PER_BATCH != 0) {
				lookups++;
				cached[target / PER_BATCH] = true;
			} else if (cached[target / PER_BATCH]) {
				lookups++;
			}
			seek_and_check(r, seed, target, 1 + (int)(tu_rand(&rng) % 3), RECORDS, log_append);
		}
		/* bulk reads from the middle of a batch to the log end */
		OK(rill_reader_seek(r, PER_BATCH / 2));
		rill_record recs[64];
		size_t n = 0;
		for (uint64_t i = PER_BATCH / 2; i < RECORDS; i += n) {
			OK(rill_reader_read(r, recs, 64, &n));
			for (size_t k = 0; k < n; k++)
				check(&recs[k], seed, i + k, log_append);
		}
		FAILS(rill_reader_next(r, &recs[0]), RILL_EAGAIN);
		rill_reader_close(r);
		rill_store_stats st = stats_of(s);
		if (pass == 0) {
			/* every batch fits (100 records of ~100 bytes, 32 MiB) */
			ck_assert_uint_le(st.batch_cache_misses, RECORDS / PER_BATCH);
			ck_assert_uint_eq(st.batch_cache_batches, st.batch_cache_misses);
			ck_assert_uint_eq(st.batch_cache_hits + st.batch_cache_misses, lookups + 1);
			ck_assert_uint_gt(st.batch_cache_bytes, 0);
			ck_assert_uint_le(st.batch_cache_bytes, (uint64_t)RILL_BATCH_CACHE_DEFAULT);
		} else {
			ck_assert_uint_eq(st.batch_cache_hits + st.batch_cache_misses, 0);
			ck_assert_uint_eq(st.batch_cache_bytes, 0);
		}
		rill_topic_close(t);
		OK(rill_store_close(s));
		s = open_cached(-1);
		OK(rill_topic_open(&t, s, "t"));
	}
	rill_topic_close(t);
	OK(rill_store_close(s));
}

START_TEST(test_cache_reads_as_uncached_plain)
{
	same_with_and_without("none", "CreateTime");
}
END_TEST

START_TEST(test_cache_reads_as_uncached_zstd)
{
	same_with_and_without("zstd", "CreateTime");
}
END_TEST

START_TEST(test_cache_reads_as_uncached_log_append_time)
{
	same_with_and_without("zstd", "LogAppendTime");
}
END_TEST

/* A small cache: it stays within its capacity, evicts, and an entry a
 * reader is inside stays readable after it was evicted. */
START_TEST(test_cache_bounded_and_held_entries_survive_eviction)
{
	enum { RECORDS = 8000, PER_BATCH = 40, CAPACITY = 64 << 10 };
	uint64_t seed = tu_seed("batch cache bounded");
	rill_store *s = open_cached(CAPACITY);
	rill_topic *t = create_topic(s, "t", "none", "CreateTime");
	append_stream(t, seed, RECORDS, PER_BATCH);
	rill_reader *holder = NULL, *churn = NULL;
	OK(rill_reader_open(&holder, t, 0, 0));
	OK(rill_reader_open(&churn, t, 0, 0));
	uint64_t rng = seed;
	for (int round = 0; round < 50; round++) {
		/* the holder stops inside a batch, its records pointing into
		 * the cache... */
		uint64_t base = (tu_rand(&rng) % (RECORDS / PER_BATCH)) * PER_BATCH;
		rill_record first;
		OK(rill_reader_seek(holder, base + 1));
		OK(rill_reader_next(holder, &first));
		check(&first, seed, base + 1, false);
		/* ...while the other reader fills the cache many times over */
		for (int i = 0; i < 100; i++) {
			uint64_t target = tu_rand(&rng) % RECORDS;
			seek_and_check(churn, seed, target | 1, 1, RECORDS, false);
			rill_store_stats st = stats_of(s);
			ck_assert_uint_le(st.batch_cache_bytes, CAPACITY);
		}
		check(&first, seed, base + 1, false); /* still valid: no call on holder */
		for (uint64_t i = base + 2; i < base + PER_BATCH; i++) {
			rill_record rec;
			OK(rill_reader_next(holder, &rec));
			check(&rec, seed, i, false);
		}
	}
	rill_store_stats st = stats_of(s);
	ck_assert_uint_gt(st.batch_cache_misses, RECORDS / PER_BATCH); /* evicted, read again */
	ck_assert_uint_gt(st.batch_cache_hits, 0);
	ck_assert_uint_gt(st.batch_cache_batches, 0);
	rill_reader_close(holder);
	rill_reader_close(churn);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* A batch above an eighth of the capacity is read in place, not cached. */
START_TEST(test_cache_skips_batches_too_large)
{
	uint64_t seed = tu_seed("batch cache large");
	rill_store *s = open_cached(64 << 10);
	rill_topic *t = create_topic(s, "t", "none", "CreateTime");
	append_stream(t, seed, 1000, 200); /* ~20 KB batches */
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, 0));
	for (uint64_t target = 1; target < 1000; target += 37)
		seek_and_check(r, seed, target, 2, 1000, false);
	rill_reader_close(r);
	rill_store_stats st = stats_of(s);
	ck_assert_uint_eq(st.batch_cache_batches, 0);
	ck_assert_uint_eq(st.batch_cache_bytes, 0);
	ck_assert_uint_eq(st.batch_cache_hits, 0);
	ck_assert_uint_gt(st.batch_cache_misses, 0);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Entries are keyed by content: a topic deleted and created again under
 * the same name, with batches at the same offsets, reads its own
 * records, never the cached ones of the topic before. */
START_TEST(test_cache_recreated_topic_reads_its_own_records)
{
	rill_store *s = open_cached(0);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		rill_topic *t = create_topic(s, "t", seed == 2 ? "zstd" : "none", "CreateTime");
		append_stream(t, seed, 300, 100);
		rill_reader *r = NULL;
		OK(rill_reader_open(&r, t, 0, 0));
		for (int i = 0; i < 2; i++) /* the second from the cache */
			seek_and_check(r, seed, 150, 3, 300, false);
		rill_reader_close(r);
		rill_topic_close(t);
		OK(rill_topic_delete(s, "t"));
	}
	rill_store_stats st = stats_of(s);
	ck_assert_uint_eq(st.batch_cache_misses, 3);
	ck_assert_uint_eq(st.batch_cache_hits, 3);
	OK(rill_store_close(s));
}
END_TEST

/* A closed store whose topic t holds 300 records of stream `seed` in three
 * batches of 100; log_path gets its one segment file. */
static void store_of_three_batches(uint64_t seed, char *log_path, size_t size)
{
	rill_store *s = open_cached(0);
	rill_topic *t = create_topic(s, "t", "none", "CreateTime");
	append_stream(t, seed, 300, 100);
	rill_topic_close(t);
	OK(rill_store_close(s));
	snprintf(log_path, size, "%s/t/t-0/00000000000000000000.log", store_path);
}

/* A corrupt batch is reported at every read and never cached; its
 * neighbours are read (and cached) as usual. */
START_TEST(test_cache_never_holds_a_corrupt_batch)
{
	uint64_t seed = tu_seed("batch cache corrupt");
	char path[800];
	store_of_three_batches(seed, path, sizeof(path));
	/* a byte in the middle of the second batch's records */
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	off_t size = lseek(fd, 0, SEEK_END);
	unsigned char byte;
	ck_assert_int_eq(pread(fd, &byte, 1, size / 2), 1);
	byte ^= 0x04;
	ck_assert_int_eq(pwrite(fd, &byte, 1, size / 2), 1);
	close(fd);

	rill_store *s = open_cached(0);
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "t"));
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, 0));
	for (int i = 0; i < 2; i++) {
		FAILS(rill_reader_seek(r, 150) == 0 ? rill_reader_next(r, &(rill_record){0}) : -1,
		      RILL_ECORRUPT);
		ck_assert(strstr(rill_errmsg(), "checksum") != NULL);
		ck_assert_uint_eq(stats_of(s).batch_cache_batches, 0);
	}
	seek_and_check(r, seed, 50, 2, 300, false);
	seek_and_check(r, seed, 250, 2, 300, false);
	ck_assert_uint_eq(stats_of(s).batch_cache_batches, 2);
	rill_reader_close(r);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* A cached batch below the log start is gone for readers: RILL_ERANGE. */
START_TEST(test_cache_does_not_outlive_the_log_start)
{
	uint64_t seed = tu_seed("batch cache log start");
	rill_store *s = open_cached(0);
	rill_topic *t = create_topic(s, "t", "none", "CreateTime");
	append_stream(t, seed, 300, 100);
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, 0));
	seek_and_check(r, seed, 150, 1, 300, false);
	OK(rill_delete_records(t, 0, 200));
	FAILS(rill_reader_seek(r, 150), RILL_ERANGE);
	seek_and_check(r, seed, 250, 2, 300, false);
	rill_reader_close(r);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Point reads into the middle of batches allocate nothing once the
 * reader is warm, hits or misses alike: the cache's entries live in an
 * arena mapped at open, and a small cache misses all the time here. */
START_TEST(test_cache_reads_allocate_nothing)
{
	enum { RECORDS = 3000, PER_BATCH = 100 };
	uint64_t seed = tu_seed("batch cache allocations");
	for (int small = 0; small < 2; small++) {
		rill_store *s = open_cached(small ? 64 << 10 : 0);
		rill_topic *t = create_topic(s, "t", "zstd", "CreateTime");
		append_stream(t, seed, RECORDS, PER_BATCH);
		rill_reader *r = NULL;
		OK(rill_reader_open(&r, t, 0, 0));
		/* Warm: every batch read in place from its first record (the
		 * first before the cache holds it, the others by a read running
		 * on from the batch before), which grows the decoder's buffer to
		 * the largest, and through the cache. */
		seek_and_check(r, seed, 0, 1, RECORDS, false);
		for (uint64_t b = 0; b < RECORDS; b += PER_BATCH) {
			seek_and_check(r, seed, b + 1, 1, RECORDS, false);
			seek_and_check(r, seed, b + PER_BATCH - 1, 2, RECORDS, false);
		}
		rill_store_stats before_st = stats_of(s);
		uint64_t rng = seed;
		rill_alloc_hook_state before, after;
		rill__alloc_stats(&before);
		for (int i = 0; i < 1000; i++)
			seek_and_check(r, seed, tu_rand(&rng) % RECORDS, 2, RECORDS, false);
		rill__alloc_stats(&after);
		ck_assert_uint_eq(after.allocations, before.allocations);
		rill_store_stats st = stats_of(s);
		if (small)
			ck_assert_uint_gt(st.batch_cache_misses, before_st.batch_cache_misses + 100);
		else
			ck_assert_uint_eq(st.batch_cache_misses, before_st.batch_cache_misses);
		rill_reader_close(r);
		rill_topic_close(t);
		OK(rill_topic_delete(s, "t"));
		OK(rill_store_close(s));
	}
}
END_TEST

/* Readers holding every entry leave no room: another reader's batch is
 * read in place, uncached, and correctly. */
START_TEST(test_cache_full_of_held_entries_reads_in_place)
{
	enum { RECORDS = 4000, PER_BATCH = 40, HOLDERS = 16 };
	uint64_t seed = tu_seed("batch cache held");
	rill_store *s = open_cached(64 << 10);
	rill_topic *t = create_topic(s, "t", "none", "CreateTime");
	append_stream(t, seed, RECORDS, PER_BATCH);
	rill_reader *holders[HOLDERS];
	for (int i = 0; i < HOLDERS; i++) {
		OK(rill_reader_open(&holders[i], t, 0, 0));
		seek_and_check(holders[i], seed, (uint64_t)i * PER_BATCH + 1, 1, RECORDS, false);
	}
	rill_store_stats st = stats_of(s);
	ck_assert_uint_lt(st.batch_cache_batches, HOLDERS); /* 64 KiB hold ~12 */
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, 0));
	for (uint64_t b = HOLDERS; b < HOLDERS + 10; b++)
		seek_and_check(r, seed, b * PER_BATCH + 3, PER_BATCH, RECORDS, false);
	/* the holders' records are intact, and the rest of their batches */
	for (int i = 0; i < HOLDERS; i++)
		for (uint64_t k = 2; k < PER_BATCH; k++) {
			rill_record rec;
			OK(rill_reader_next(holders[i], &rec));
			check(&rec, seed, (uint64_t)i * PER_BATCH + k, false);
		}
	for (int i = 0; i < HOLDERS; i++)
		rill_reader_close(holders[i]);
	/* let go, the room is used again */
	uint64_t before = stats_of(s).batch_cache_hits;
	for (int i = 0; i < 2; i++)
		seek_and_check(r, seed, 50 * PER_BATCH + 5, 1, RECORDS, false);
	ck_assert_uint_eq(stats_of(s).batch_cache_hits, before + 1);
	rill_reader_close(r);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Out of memory while a batch is checked into the cache (the zstd
 * context, a record's headers): RILL_ENOMEM, nothing cached, and the same
 * read succeeds once memory is back. */
START_TEST(test_cache_out_of_memory)
{
	uint64_t seed = tu_seed("batch cache oom");
	rill_store *s = open_cached(0);
	rill_topic *t = create_topic(s, "t", "zstd", "CreateTime");
	append_stream(t, seed, 1000, 100);
	uint64_t failed = 0;
	for (uint64_t n = 1; n < 20; n++) {
		rill_reader *r = NULL;
		OK(rill_reader_open(&r, t, 0, 0));
		uint64_t target = 100 * (n % 10) + 7;
		OK(rill_reader_seek(r, target));
		rill_record rec;
		rill__alloc_fail_at(n, 1);
		int rc = rill_reader_next(r, &rec);
		rill__alloc_fail_at(0, 0);
		ck_assert_msg(rc == 0 || rc == RILL_ENOMEM, "rc %d: %s", rc, rill_errmsg());
		if (rc == RILL_ENOMEM) {
			failed++;
			OK(rill_reader_next(r, &rec));
		}
		check(&rec, seed, target, false);
		rill_reader_close(r);
	}
	ck_assert_uint_gt(failed, 0);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* A read-only store beside a writer checks the header at a cached place:
 * a writer that cut its tail (here, at open, after a failed fsync recorded
 * the durable end) and appended other batches at the same positions is
 * read as it is now, never from the copy of the batches it cut. */
START_TEST(test_cache_readonly_reads_a_rewritten_tail)
{
	uint64_t seed = tu_seed("batch cache rewritten tail");
	char path[800];
	store_of_three_batches(seed, path, sizeof(path));

	/* the third batch's position: walk the batch lengths */
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	uint64_t position = 0;
	for (int b = 0; b < 2; b++) {
		unsigned char len[4];
		ck_assert_int_eq(pread(fd, len, 4, (off_t)position + 8), 4);
		position += 12 + (uint64_t)(len[0] | len[1] << 8 | len[2] << 16 | (uint32_t)len[3] << 24);
	}
	close(fd);

	rill_store *ro = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	o.flags = RILL_OPEN_READONLY;
	OK(rill_store_open(&ro, store_path, &o));
	rill_topic *rt = NULL;
	OK(rill_topic_open(&rt, ro, "t"));
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, rt, 0, 0));
	seek_and_check(r, seed, 250, 2, 300, false);
	seek_and_check(r, seed, 251, 2, 300, false); /* a hit */
	seek_and_check(r, seed, 200, 1, 300, false); /* the batch's first record: a hit too */
	rill_store_stats st = stats_of(ro);
	ck_assert_uint_eq(st.batch_cache_hits, 2);

	/* The writer's record of a failed fsync: durable up to offset 200. */
	char fields[200], line[260], marker[800];
	snprintf(fields, sizeof(fields), "rill-partition-failed 1 durable=200 segment=0 position=%" PRIu64,
	         position);
	snprintf(line, sizeof(line), "%s checksum=%016" PRIx64 "\n", fields,
	         (uint64_t)XXH3_64bits(fields, strlen(fields)));
	snprintf(marker, sizeof(marker), "%s/t/t-0/partition.failed", store_path);
	FILE *f = fopen(marker, "w");
	ck_assert_ptr_nonnull(f);
	fputs(line, f);
	fclose(f);
	rill_store *w = open_cached(0); /* cuts offsets 200.. */
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, w, "t"));
	rill_offsets off;
	OK(rill_partition_offsets(&off, t, 0));
	ck_assert_uint_eq(off.log_end, 200);
	/* Other records at the same offsets and positions, the batch the
	 * same size (a read-only store goes by the segment size it saw: a
	 * longer batch there reads as corrupt until it reopens). */
	gen *g = calloc(100, sizeof(*g));
	rill_record recs[100];
	for (int i = 0; i < 100; i++) {
		make(&g[i], seed, 200 + (uint64_t)i);
		for (size_t j = 0; j < g[i].rec.value_len; j++)
			g[i].value[j] ^= 0x55;
		recs[i] = g[i].rec;
		if (recs[i].headers != NULL)
			recs[i].headers = &g[i].header;
	}
	OK(rill_append(NULL, t, 0, recs, 100, 0));
	free(g);

	/* The read-only reader's cached copy of offsets 200..299 is stale,
	 * for a seek to the batch's first record as for one into it. */
	const uint64_t targets[] = {200, 251};
	for (size_t k = 0; k < sizeof(targets) / sizeof(targets[0]); k++) {
		rill_record rec;
		gen now;
		OK(rill_reader_seek(r, targets[k]));
		OK(rill_reader_next(r, &rec));
		make(&now, seed, targets[k]);
		for (size_t j = 0; j < now.rec.value_len; j++)
			now.value[j] ^= 0x55;
		ck_assert_uint_eq(rec.offset, targets[k]);
		ck_assert_uint_eq(rec.value_len, now.rec.value_len);
		ck_assert(memcmp(rec.value, now.rec.value, rec.value_len) == 0);
	}
	rill_reader_close(r);
	rill_topic_close(rt);
	OK(rill_store_close(ro));
	rill_topic_close(t);
	OK(rill_store_close(w));
}
END_TEST

/* An entry filled with `n` records of the sizes size(i) and inserted: its
 * stride guess, checked against every record start and the section's end. */
static void check_stride_guess(rill_batch_cache *c, uint64_t position, uint32_t n,
                               uint32_t (*size)(uint32_t), bool expect_guess)
{
	rill_batch_header h;
	memset(&h, 0, sizeof(h));
	h.record_count = n;
	uint32_t total = 0;
	for (uint32_t i = 0; i < n; i++)
		total += size(i);
	h.records_size = total;
	h.checksum = position;
	rill_cached_batch *e = rill__batch_cache_reserve(c, 1, position, &h, total);
	ck_assert_ptr_nonnull(e);
	uint32_t at = 0;
	for (uint32_t i = 0; i < n; i++) {
		e->record_starts[i] = at;
		at += size(i);
	}
	e = rill__batch_cache_insert(c, e);
	if (!expect_guess) {
		ck_assert_uint_eq(e->stride_slack, RILL_STRIDE_NONE);
	} else {
		ck_assert_uint_le(e->stride_slack, RILL_STRIDE_SLACK_MAX);
		for (uint32_t i = 0; i <= n; i++) {
			uint64_t real = i < n ? e->record_starts[i] : total;
			uint64_t guess = ((uint64_t)i * e->record_stride) >> 16;
			uint64_t off = real > guess ? real - guess : guess - real;
			ck_assert_uint_le(off, e->stride_slack);
		}
	}
	for (uint32_t i = 0; i < n; i++)
		rill__cached_batch_prefetch_record(e, i); /* a hint: must not fault */
	rill__batch_cache_release(c, e);
}

/* 100-byte values: a record's offset delta takes one varint byte below 64,
 * two from there on. */
static uint32_t size_like_a_log(uint32_t i) { return i < 64 ? 108 : 109; }
static uint32_t size_equal(uint32_t i) { (void)i; return 1031; }
static uint32_t size_one_byte(uint32_t i) { (void)i; return 1; }
static uint32_t size_varied(uint32_t i) { return 1 + (i * 2654435761u >> 7) % 900; }
static uint32_t size_step(uint32_t i) { return i < 500 ? 20 : 400; }

/* Records of near-equal sizes get a guess within a few bytes; varied
 * sizes get none (prefetching would fetch the wrong lines). */
START_TEST(test_cache_guesses_record_places)
{
	rill_batch_cache c;
	OK(rill__batch_cache_init(&c, 16u << 20));
	check_stride_guess(&c, 0, 1000, size_like_a_log, true);
	check_stride_guess(&c, 1, 1000, size_equal, true);
	check_stride_guess(&c, 2, 1, size_equal, true);
	check_stride_guess(&c, 3, 5000, size_one_byte, true);
	check_stride_guess(&c, 4, 1000, size_varied, false);
	check_stride_guess(&c, 5, 1000, size_step, false);
	rill__batch_cache_destroy(&c);
}
END_TEST

START_TEST(test_cache_options)
{
	rill_store *s = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	o.batch_cache_bytes = -2;
	FAILS(rill_store_open(&s, store_path, &o), RILL_EINVAL);
	ck_assert(strstr(rill_errmsg(), "batch_cache_bytes") != NULL);
	o.batch_cache_bytes = 0;
	o.version = RILL_OPTIONS_VERSION + 1;
	FAILS(rill_store_open(&s, store_path, &o), RILL_EVERSION);
	/* A version 1 struct ends before batch_cache_bytes: not read, default. */
	rill_options v1;
	memset(&v1, 0, sizeof(v1));
	v1.version = 1;
	v1.batch_cache_bytes = -5; /* past the end of a real version 1 struct */
	OK(rill_store_open(&s, store_path, &v1));
	rill_topic *t = create_topic(s, "t", "none", "CreateTime");
	append_stream(t, 1, 200, 100);
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, 0));
	seek_and_check(r, 1, 150, 1, 200, false);
	ck_assert_uint_eq(stats_of(s).batch_cache_batches, 1);
	rill_reader_close(r);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Timestamps that go back and forth inside a batch of 100 and overlap
 * the neighbouring batches': a lookup must read records, not headers.
 * Or, with `sorted_ts`, timestamps that never decrease, three records a
 * millisecond: a lookup may search a cached batch by halves. */
static bool sorted_ts;

static int64_t jumbled_ts(uint64_t i)
{
	if (sorted_ts)
		return 1000 + (int64_t)(i / 3);
	return 1000 + (int64_t)(i / 100) * 50 + (int64_t)((i * 37) % 100);
}

static void append_jumbled(rill_topic *t, uint64_t count)
{
	enum { PER_BATCH = 100 };
	static char value[40];
	rill_record recs[PER_BATCH];
	for (uint64_t i = 0; i < count; i += PER_BATCH) {
		size_t n = count - i < PER_BATCH ? (size_t)(count - i) : PER_BATCH;
		for (size_t k = 0; k < n; k++) {
			snprintf(value, sizeof(value), "v%" PRIu64, i + k);
			recs[k] = (rill_record){.value = value, .value_len = sizeof(value),
			                        .timestamp_ms = jumbled_ts(i + k)};
		}
		OK(rill_append(NULL, t, 0, recs, n, 0));
	}
}

/* The answer by brute force: the first offset from the log start whose
 * timestamp is at least ts, else the log end. */
static uint64_t first_at_least(int64_t ts, uint64_t log_start, uint64_t end)
{
	for (uint64_t i = log_start; i < end; i++)
		if (jumbled_ts(i) >= ts)
			return i;
	return end;
}

/* Lookups by timestamp give the brute-force answer with the default
 * cache, with a cache so small that it misses all the time, and without
 * one, for plain and zstd batches, also after the log start moved into
 * the middle of a batch whose largest timestamp is below it (the lookup
 * then goes on to the next batch); reader seeks by timestamp agree. */
static void timestamp_lookups(const char *compression, bool sorted)
{
	sorted_ts = sorted;
	enum { RECORDS = 4000, LOOKUPS = 600 };
	const int64_t caches[] = {0, 8 << 10, -1};
	uint64_t seed = tu_seed("batch cache timestamp lookups");
	tu_rmrf(store_path);
	rill_store *s = open_cached(0);
	rill_topic *t = create_topic(s, "t", compression, "CreateTime");
	append_jumbled(t, RECORDS);
	rill_topic_close(t);
	OK(rill_store_close(s));
	for (int moved = 0; moved < 2; moved++) {
		/* batch 7's largest timestamp is its record 27 (37 * 27 % 100 = 99) */
		uint64_t log_start = moved ? 700 + 28 : 0;
		for (size_t c = 0; c < sizeof(caches) / sizeof(caches[0]); c++) {
			s = open_cached(caches[c]);
			OK(rill_topic_open(&t, s, "t"));
			if (moved)
				OK(rill_delete_records(t, 0, log_start));
			rill_reader *r = NULL;
			OK(rill_reader_open(&r, t, 0, RILL_START_EARLIEST));
			uint64_t rng = seed;
			for (int i = 0; i < LOOKUPS; i++) {
				int64_t ts = i == 0 ? INT64_MIN : i == 1 ? INT64_MAX
				             : i == 2 ? jumbled_ts(700 + 27)
				             : 900 + (int64_t)(tu_rand(&rng) % (RECORDS / (sorted ? 3 : 2) + 300));
				uint64_t want = first_at_least(ts, log_start, RECORDS);
				uint64_t got = UINT64_MAX;
				OK(rill_offset_for_timestamp(&got, t, 0, ts));
				ck_assert_msg(got == want, "%s%s cache %lld log start %" PRIu64 ": ts %lld gave %" PRIu64
				              ", want %" PRIu64, compression, sorted ? " sorted" : "",
				              (long long)caches[c], log_start,
				              (long long)ts, got, want);
				if (i % 10 == 0) {
					OK(rill_reader_seek_timestamp(r, ts));
					ck_assert_uint_eq(rill_reader_position(r), want);
				}
			}
			rill_store_stats st = stats_of(s);
			if (caches[c] == 0)
				ck_assert_uint_gt(st.batch_cache_hits, st.batch_cache_misses);
			if (caches[c] < 0)
				ck_assert_uint_eq(st.batch_cache_hits + st.batch_cache_misses, 0);
			rill_reader_close(r);
			rill_topic_close(t);
			OK(rill_store_close(s));
			if (moved) {
				/* the next cache size starts from the full log again */
				tu_rmrf(store_path);
				s = open_cached(0);
				t = create_topic(s, "t", compression, "CreateTime");
				append_jumbled(t, RECORDS);
				rill_topic_close(t);
				OK(rill_store_close(s));
			}
		}
	}
}

START_TEST(test_cache_timestamp_lookups_plain)
{
	timestamp_lookups("none", false);
	timestamp_lookups("none", true);
}
END_TEST

START_TEST(test_cache_timestamp_lookups_zstd)
{
	timestamp_lookups("zstd", false);
	timestamp_lookups("zstd", true);
}
END_TEST

/* Warm timestamp lookups allocate nothing: the batch comes from the
 * cache and the decoder is the partition's spare. */
START_TEST(test_cache_timestamp_lookups_allocate_nothing)
{
	rill_store *s = open_cached(0);
	rill_topic *t = create_topic(s, "t", "zstd", "CreateTime");
	append_jumbled(t, 3000);
	uint64_t got;
	for (int64_t ts = 900; ts < 2600; ts += 7)
		OK(rill_offset_for_timestamp(&got, t, 0, ts));
	rill_alloc_hook_state before, after;
	rill__alloc_stats(&before);
	for (int64_t ts = 900; ts < 2600; ts += 3) {
		OK(rill_offset_for_timestamp(&got, t, 0, ts));
		ck_assert_uint_eq(got, first_at_least(ts, 0, 3000));
	}
	rill__alloc_stats(&after);
	ck_assert_uint_eq(after.allocations, before.allocations);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

Suite *batch_cache_suite(void)
{
	Suite *s = suite_create("batch_cache");
	TCase *tc = tcase_create("cache");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cache_reads_as_uncached_plain);
	tcase_add_test(tc, test_cache_reads_as_uncached_zstd);
	tcase_add_test(tc, test_cache_reads_as_uncached_log_append_time);
	tcase_add_test(tc, test_cache_bounded_and_held_entries_survive_eviction);
	tcase_add_test(tc, test_cache_skips_batches_too_large);
	tcase_add_test(tc, test_cache_recreated_topic_reads_its_own_records);
	tcase_add_test(tc, test_cache_never_holds_a_corrupt_batch);
	tcase_add_test(tc, test_cache_does_not_outlive_the_log_start);
	tcase_add_test(tc, test_cache_reads_allocate_nothing);
	tcase_add_test(tc, test_cache_full_of_held_entries_reads_in_place);
	tcase_add_test(tc, test_cache_out_of_memory);
	tcase_add_test(tc, test_cache_readonly_reads_a_rewritten_tail);
	tcase_add_test(tc, test_cache_options);
	tcase_add_test(tc, test_cache_guesses_record_places);
	tcase_add_test(tc, test_cache_timestamp_lookups_plain);
	tcase_add_test(tc, test_cache_timestamp_lookups_zstd);
	tcase_add_test(tc, test_cache_timestamp_lookups_allocate_nothing);
	suite_add_tcase(s, tc);
	return s;
}
