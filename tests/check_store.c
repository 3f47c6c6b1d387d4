/*
 * check_store.c — the public API end to end on the real file system.
 *
 * Proves: stores open, lock and reopen; topics are created, listed,
 * described, altered, grown and deleted with their names validated before
 * anything touches the disk; appends return dense offsets and read back byte
 * for byte (keys, null keys, tombstones, headers, timestamps), across
 * segment rolls, with and without zstd, before and after restart; readers
 * seek by offset and timestamp and report out-of-range positions; retention
 * by time, size and offset deletes whole segments oldest first and moves the
 * log start, and retention.bytes deletes exactly as Kafka does; durability modes report durable offsets; corrupt bytes are
 * reported, not returned. Each case runs in a fresh temporary directory.
 *
 * The "concurrency" case (run under ThreadSanitizer by `make tsan`) races
 * appenders against readers and everything that moves under them:
 * retention, rill_delete_records, rill_topic_alter, rill_verify, reader
 * churn and a file cache of 2-4 descriptors. Readers may only ever see
 * records with increasing offsets, RILL_EAGAIN or RILL_ERANGE (and
 * RILL_START_EARLIEST is never out of range); random tests print their
 * seed and take it back from RILL_TEST_SEED.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "rill.h"
#include "test_util.h"

Suite *store_suite(void);


static char dir[512];
static char store_path[600];

static void setup(void)
{
	tu_tempdir(dir, sizeof(dir), "store");
	snprintf(store_path, sizeof(store_path), "%s/s", dir);
}

static void teardown(void)
{
	tu_rmrf(dir);
}

static void log_to_stderr(void *ctx, int level, const char *message)
{
	(void)ctx;
	fprintf(stderr, "rill[%d]: %s\n", level, message);
}

/* RILL_TEST_LOG=1 prints the library's log while debugging a test. */
static rill_store *open_store(void)
{
	rill_store *s = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	if (getenv("RILL_TEST_LOG") != NULL)
		o.log = log_to_stderr;
	OK(rill_store_open(&s, store_path, &o));
	return s;
}

static rill_config small_config(const char *durability)
{
	rill_config c;
	rill_config_init(&c);
	OK(rill_config_set(&c, "segment.bytes", "16384"));
	OK(rill_config_set(&c, "index.interval.bytes", "512"));
	OK(rill_config_set(&c, "durability", durability));
	return c;
}

/* Record i of a test stream: deterministic key, value and headers. */
typedef struct rec_buf {
	char key[32];
	char value[300];
	char hname[16];
	char hvalue[16];
	rill_header header;
	rill_record rec;
} rec_buf;

static void make_record(rec_buf *b, uint64_t i)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->key, sizeof(b->key), "key-%" PRIu64, i % 97);
	size_t vlen = (size_t)(i * 7 % 250) + 1;
	for (size_t j = 0; j < vlen; j++)
		b->value[j] = (char)('a' + (i + j) % 26);
	snprintf(b->hname, sizeof(b->hname), "h%" PRIu64, i % 3);
	snprintf(b->hvalue, sizeof(b->hvalue), "v%" PRIu64, i);
	b->header.name = b->hname;
	b->header.name_len = strlen(b->hname);
	b->header.value = b->hvalue;
	b->header.value_len = strlen(b->hvalue);
	b->rec.key = (i % 5 == 0) ? NULL : b->key;
	b->rec.key_len = (i % 5 == 0) ? 0 : strlen(b->key);
	b->rec.value = (i % 11 == 0) ? NULL : b->value;
	b->rec.value_len = (i % 11 == 0) ? 0 : vlen;
	b->rec.headers = (i % 2 == 0) ? &b->header : NULL;
	b->rec.header_count = (i % 2 == 0) ? 1 : 0;
	b->rec.timestamp_ms = 1700000000000LL + (int64_t)i;
}

static void check_record(const rill_record *got, uint64_t i)
{
	rec_buf b;
	make_record(&b, i);
	ck_assert_uint_eq(got->offset, i);
	ck_assert_int_eq(got->timestamp_ms, b.rec.timestamp_ms);
	ck_assert_uint_eq(got->key_len, b.rec.key_len);
	ck_assert_int_eq(got->key == NULL, b.rec.key == NULL);
	if (b.rec.key != NULL)
		ck_assert(memcmp(got->key, b.rec.key, b.rec.key_len) == 0);
	ck_assert_int_eq(got->value == NULL, b.rec.value == NULL);
	ck_assert_uint_eq(got->value_len, b.rec.value_len);
	if (b.rec.value != NULL)
		ck_assert(memcmp(got->value, b.rec.value, b.rec.value_len) == 0);
	ck_assert_uint_eq(got->header_count, b.rec.header_count);
	if (b.rec.header_count == 1) {
		ck_assert_uint_eq(got->headers[0].name_len, b.header.name_len);
		ck_assert(memcmp(got->headers[0].name, b.header.name, b.header.name_len) == 0);
		ck_assert_uint_eq(got->headers[0].value_len, b.header.value_len);
		ck_assert(memcmp(got->headers[0].value, b.header.value, b.header.value_len) == 0);
	}
}

/* Append records [from, to) to partition 0, `per_batch` per call. */
static void append_range(rill_topic *t, uint64_t from, uint64_t to, size_t per_batch)
{
	rec_buf *bufs = calloc(per_batch, sizeof(*bufs));
	rill_record *recs = calloc(per_batch, sizeof(*recs));
	uint64_t i = from;
	while (i < to) {
		size_t n = 0;
		for (; n < per_batch && i + n < to; n++) {
			make_record(&bufs[n], i + n);
			recs[n] = bufs[n].rec;
			/* headers pointer must point at this buffer's header */
			if (recs[n].headers != NULL)
				recs[n].headers = &bufs[n].header;
		}
		rill_append_info info;
		OK(rill_append(&info, t, 0, recs, n, 0));
		ck_assert_uint_eq(info.base_offset, i);
		ck_assert_uint_eq(info.last_offset, i + n - 1);
		ck_assert_int_eq(info.partition, 0);
		i += n;
	}
	free(bufs);
	free(recs);
}

static void read_range(rill_topic *t, uint64_t from, uint64_t to)
{
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, from));
	rill_record rec;
	for (uint64_t i = from; i < to; i++) {
		OK(rill_reader_next(r, &rec));
		check_record(&rec, i);
	}
	FAILS(rill_reader_next(r, &rec), RILL_EAGAIN);
	rill_reader_close(r);
}

/* read_range with rill_reader_read, `max` records a call: the same
 * records; a record with headers ends its call; calls never mix batches
 * (so never return more than a batch holds). Returns the largest count
 * one call returned. */
static size_t read_range_bulk(rill_topic *t, uint64_t from, uint64_t to, size_t max)
{
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, from));
	rill_record *recs = calloc(max, sizeof(*recs));
	size_t n = 0, largest = 0;
	uint64_t i = from;
	while (i < to) {
		OK(rill_reader_read(r, recs, max, &n));
		ck_assert_uint_ge(n, 1);
		ck_assert_uint_le(n, max);
		largest = n > largest ? n : largest;
		for (size_t k = 0; k < n; k++) {
			ck_assert_msg(k + 1 == n || recs[k].header_count == 0,
			              "record %zu of %zu has headers but is not the last", k, n);
			check_record(&recs[k], i + k);
		}
		i += n;
		ck_assert_uint_eq(rill_reader_position(r), i);
	}
	ck_assert_uint_eq(i, to);
	FAILS(rill_reader_read(r, recs, max, &n), RILL_EAGAIN);
	ck_assert_uint_eq(n, 0);
	FAILS(rill_reader_read(r, recs, 0, &n), RILL_EINVAL);
	FAILS(rill_reader_read(r, NULL, max, &n), RILL_EINVAL);
	FAILS(rill_reader_read(r, recs, max, NULL), RILL_EINVAL);
	FAILS(rill_reader_read(NULL, recs, max, &n), RILL_EINVAL);
	free(recs);
	rill_reader_close(r);
	return largest;
}

/* ------------------------------------------------------------------ store */

START_TEST(test_store_open_creates_and_locks)
{
	rill_store *s = open_store();
	struct stat st;
	ck_assert_int_eq(stat(store_path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	rill_store *second = NULL;
	FAILS(rill_store_open(&second, store_path, NULL), RILL_ELOCKED);
	ck_assert_ptr_null(second);
	ck_assert(strstr(rill_errmsg(), "locked") != NULL);
	/* A read-only open works beside the writer. */
	rill_options ro = RILL_OPTIONS_INIT;
	ro.flags = RILL_OPEN_READONLY;
	OK(rill_store_open(&second, store_path, &ro));
	OK(rill_store_close(second));
	OK(rill_store_close(s));
	/* After close, a writer can open again. */
	s = open_store();
	rill_store_stats st2;
	OK(rill_store_stats_get(&st2, s));
	ck_assert_int_eq(st2.clean_open, 1);
	OK(rill_store_close(s));
	ck_assert_int_eq(rill_store_close(NULL), 0);
}
END_TEST

START_TEST(test_store_lock_across_processes)
{
	rill_store *s = open_store();
	pid_t pid = fork();
	if (pid == 0) {
		rill_store *other = NULL;
		int rc = rill_store_open(&other, store_path, NULL);
		_exit(rc == RILL_ELOCKED ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_store_open_bad_arguments)
{
	rill_store *s = NULL;
	FAILS(rill_store_open(NULL, store_path, NULL), RILL_EINVAL);
	FAILS(rill_store_open(&s, NULL, NULL), RILL_EINVAL);
	FAILS(rill_store_open(&s, "", NULL), RILL_EINVAL);
	rill_options o = RILL_OPTIONS_INIT;
	o.version = 99;
	FAILS(rill_store_open(&s, store_path, &o), RILL_EVERSION);
	o.version = RILL_OPTIONS_VERSION;
	o.flags = 0x100;
	FAILS(rill_store_open(&s, store_path, &o), RILL_EINVAL);
	o.flags = RILL_OPEN_NOCREATE;
	FAILS(rill_store_open(&s, store_path, &o), RILL_ENOTFOUND);
	o.flags = RILL_OPEN_READONLY;
	FAILS(rill_store_open(&s, store_path, &o), RILL_ENOTFOUND);
	/* A file where the directory should be. */
	char file[700];
	snprintf(file, sizeof(file), "%s/plainfile", dir);
	FILE *f = fopen(file, "w");
	fputs("x", f);
	fclose(f);
	FAILS(rill_store_open(&s, file, NULL), RILL_EINVAL);
	/* A foreign STORE marker version. */
	mkdir(store_path, 0755);
	char marker[700];
	snprintf(marker, sizeof(marker), "%s/STORE", store_path);
	f = fopen(marker, "w");
	fputs("rill-store 9\n", f);
	fclose(f);
	FAILS(rill_store_open(&s, store_path, NULL), RILL_EVERSION);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_store_permissions)
{
	mode_t old = umask(022);
	rill_store *s = open_store();
	OK(rill_topic_create(s, "perm", 1, NULL));
	OK(rill_store_close(s));
	umask(old);
	struct stat st;
	char path[800];
	snprintf(path, sizeof(path), "%s/perm", store_path);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0755);
	snprintf(path, sizeof(path), "%s/perm/perm-0/00000000000000000000.log", store_path);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
}
END_TEST

/* ----------------------------------------------------------------- topics */

static int collect(void *arg, const char *name)
{
	char *out = arg;
	strcat(out, name);
	strcat(out, ",");
	return 0;
}

START_TEST(test_topic_names_validated)
{
	rill_store *s = open_store();
	const char *bad[] = {"", ".", "..", "../x", "a/b", "a b", "x\n", "caf\xc3\xa9", "a*"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		FAILS(rill_topic_create(s, bad[i], 1, NULL), RILL_EINVAL);
	FAILS(rill_topic_create(s, NULL, 1, NULL), RILL_EINVAL);
	char longname[300];
	memset(longname, 'a', 250);
	longname[250] = '\0';
	FAILS(rill_topic_create(s, longname, 1, NULL), RILL_EINVAL);
	longname[249] = '\0';
	OK(rill_topic_create(s, longname, 1, NULL));
	OK(rill_topic_create(s, "a.b_c-D9", 1, NULL));
	/* Nothing was created for the bad names. */
	char path[800];
	snprintf(path, sizeof(path), "%s/x", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	FAILS(rill_topic_create(s, "t", 0, NULL), RILL_EINVAL);
	FAILS(rill_topic_create(s, "t", RILL_PARTITIONS_MAX + 1, NULL), RILL_EINVAL);
	rill_config c;
	rill_config_init(&c);
	c.segment_bytes = 1;
	FAILS(rill_topic_create(s, "t", 1, &c), RILL_EINVAL);
	ck_assert(strstr(rill_errmsg(), "segment.bytes") != NULL);
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_topic_lifecycle)
{
	rill_store *s = open_store();
	OK(rill_topic_create(s, "b", 3, NULL));
	OK(rill_topic_create(s, "a", 1, NULL));
	FAILS(rill_topic_create(s, "a", 1, NULL), RILL_EEXIST);
	char names[256] = "";
	OK(rill_topic_list(s, collect, names));
	ck_assert_str_eq(names, "a,b,");
	rill_topic *t = NULL;
	FAILS(rill_topic_open(&t, s, "missing"), RILL_ENOTFOUND);
	OK(rill_topic_open(&t, s, "b"));
	ck_assert_int_eq(rill_topic_partitions(t), 3);
	ck_assert_str_eq(rill_topic_name(t), "b");
	FAILS(rill_topic_delete(s, "b"), RILL_EBUSY);
	OK(rill_topic_add_partitions(t, 5));
	ck_assert_int_eq(rill_topic_partitions(t), 5);
	FAILS(rill_topic_add_partitions(t, 4), RILL_EINVAL);
	rill_append_info info;
	rill_record r = {.value = "x", .value_len = 1, .timestamp_ms = RILL_TIMESTAMP_NOW};
	OK(rill_append(&info, t, 4, &r, 1, 0));
	FAILS(rill_append(&info, t, 5, &r, 1, 0), RILL_EINVAL);
	rill_topic_close(t);
	OK(rill_store_close(s));

	s = open_store();
	OK(rill_topic_open(&t, s, "b"));
	ck_assert_int_eq(rill_topic_partitions(t), 5);
	rill_offsets o;
	OK(rill_partition_offsets(&o, t, 4));
	ck_assert_uint_eq(o.log_end, 1);
	rill_topic_close(t);
	OK(rill_topic_delete(s, "b"));
	FAILS(rill_topic_delete(s, "b"), RILL_ENOTFOUND);
	FAILS(rill_topic_open(&t, s, "b"), RILL_ENOTFOUND);
	names[0] = '\0';
	OK(rill_topic_list(s, collect, names));
	ck_assert_str_eq(names, "a,");
	OK(rill_store_close(s));
	s = open_store();
	FAILS(rill_topic_open(&t, s, "b"), RILL_ENOTFOUND);
	OK(rill_topic_create(s, "b", 1, NULL)); /* the name is free again */
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_topic_config_persists_and_alters)
{
	rill_store *s = open_store();
	rill_config c;
	rill_config_init(&c);
	OK(rill_config_set(&c, "retention.ms", "12345"));
	OK(rill_config_set(&c, "compression.type", "zstd"));
	OK(rill_topic_create(s, "cfg", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "cfg"));
	OK(rill_topic_alter(t, "retention.bytes", "999999"));
	FAILS(rill_topic_alter(t, "segment.index.bytes", "4096"), RILL_EINVAL);
	FAILS(rill_topic_alter(t, "no.such.key", "1"), RILL_ENOTFOUND);
	ck_assert(strstr(rill_errmsg(), "no.such.key") != NULL);
	FAILS(rill_topic_alter(t, "segment.bytes", "12"), RILL_EINVAL);
	ck_assert(strstr(rill_errmsg(), "segment.bytes") != NULL);
	rill_topic_close(t);
	OK(rill_store_close(s));
	s = open_store();
	OK(rill_topic_open(&t, s, "cfg"));
	rill_config got;
	OK(rill_topic_config(&got, t));
	ck_assert_int_eq(got.retention_ms, 12345);
	ck_assert_int_eq(got.retention_bytes, 999999);
	ck_assert_int_eq(got.compression_type, RILL_COMPRESSION_ZSTD);
	char buf[64];
	OK(rill_config_get(&got, "compression.type", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "zstd");
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* ------------------------------------------------------ append and read */

static void roundtrip(const char *compression, size_t per_batch)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "compression.type", compression));
	OK(rill_topic_create(s, "rt", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "rt"));
	append_range(t, 0, 3000, per_batch);
	read_range(t, 0, 3000);
	read_range(t, 1234, 3000);
	read_range_bulk(t, 0, 3000, 1);
	read_range_bulk(t, 1234, 3000, 5);
	ck_assert_uint_le(read_range_bulk(t, 17, 3000, 256), per_batch);
	rill_partition_stats ps;
	OK(rill_partition_stats_get(&ps, t, 0));
	ck_assert_uint_gt(ps.segments, 3); /* rolled */
	ck_assert_uint_eq(ps.log_end, 3000);
	ck_assert_uint_eq(ps.records_appended, 3000);
	rill_topic_close(t);
	OK(rill_store_close(s));
	/* Restart: everything still there, appends continue densely. */
	s = open_store();
	OK(rill_topic_open(&t, s, "rt"));
	read_range(t, 0, 3000);
	append_range(t, 3000, 3500, per_batch);
	read_range(t, 2990, 3500);
	rill_topic_close(t);
	OK(rill_store_close(s));
}

START_TEST(test_roundtrip_plain_single) { roundtrip("none", 1); }
END_TEST
START_TEST(test_roundtrip_plain_batches) { roundtrip("none", 37); }
END_TEST
START_TEST(test_roundtrip_zstd_batches) { roundtrip("zstd", 50); }
END_TEST

START_TEST(test_reader_ranges_and_seek)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_topic_create(s, "r", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "r"));
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, RILL_START_EARLIEST));
	rill_record rec;
	FAILS(rill_reader_next(r, &rec), RILL_EAGAIN);
	rill_reader_close(r);
	append_range(t, 0, 500, 10);
	FAILS(rill_reader_open(&r, t, 0, 501), RILL_ERANGE);
	FAILS(rill_reader_open(&r, t, 1, 0), RILL_EINVAL);
	OK(rill_reader_open(&r, t, 0, RILL_START_LATEST));
	ck_assert_uint_eq(rill_reader_position(r), 500);
	FAILS(rill_reader_next(r, &rec), RILL_EAGAIN);
	/* Every offset can be sought to, in any order. */
	for (uint64_t i = 0; i < 500; i += 7) {
		uint64_t target = (i * 131) % 500;
		OK(rill_reader_seek(r, target));
		OK(rill_reader_next(r, &rec));
		check_record(&rec, target);
	}
	FAILS(rill_reader_seek(r, 501), RILL_ERANGE);
	/* Timestamps: record i has ts base+i. */
	OK(rill_reader_seek_timestamp(r, 1700000000000LL + 250));
	OK(rill_reader_next(r, &rec));
	ck_assert_uint_eq(rec.offset, 250);
	uint64_t off = 0;
	OK(rill_offset_for_timestamp(&off, t, 0, 0));
	ck_assert_uint_eq(off, 0);
	OK(rill_offset_for_timestamp(&off, t, 0, INT64_MAX));
	ck_assert_uint_eq(off, 500);
	for (int64_t k = 0; k < 500; k += 13) {
		OK(rill_offset_for_timestamp(&off, t, 0, 1700000000000LL + k));
		ck_assert_uint_eq(off, (uint64_t)k);
	}
	rill_reader_close(r);
	rill_reader_close(NULL);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Records without headers come many to a call, each call within one
 * batch, and a seek into the middle of a batch starts at the target. */
START_TEST(test_reader_read_bulk)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "segment.bytes", "1048576"));
	OK(rill_topic_create(s, "bulk", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "bulk"));
	rill_record recs[100];
	char values[100][8];
	for (uint64_t base = 0; base < 1000; base += 100) {
		for (int i = 0; i < 100; i++) {
			memset(&recs[i], 0, sizeof(recs[i]));
			snprintf(values[i], sizeof(values[i]), "%" PRIu64, base + (uint64_t)i);
			recs[i].value = values[i];
			recs[i].value_len = strlen(values[i]);
		}
		OK(rill_append(NULL, t, 0, recs, 100, 0));
	}
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, 250));
	rill_record got[64];
	size_t n = 0, largest = 0;
	uint64_t next = 250;
	while (rill_reader_read(r, got, 64, &n) == 0) {
		ck_assert_uint_ge(n, 1);
		/* one batch a call: batches hold offsets [100k, 100k + 100) */
		ck_assert_uint_eq(got[0].offset / 100, got[n - 1].offset / 100);
		largest = n > largest ? n : largest;
		for (size_t k = 0; k < n; k++) {
			char want[8];
			snprintf(want, sizeof(want), "%" PRIu64, next);
			ck_assert_uint_eq(got[k].offset, next);
			ck_assert_uint_eq(got[k].value_len, strlen(want));
			ck_assert(memcmp(got[k].value, want, strlen(want)) == 0);
			next++;
		}
	}
	ck_assert_uint_eq(largest, 64);
	ck_assert_uint_eq(next, 1000);
	rill_reader_close(r);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* A reader keeps its pin (and so its segment's descriptor) while it reads
 * from one segment, across batches, and lets go once it has caught up:
 * idle readers on many partitions stay within max_open_files. */
START_TEST(test_idle_readers_hold_no_descriptors)
{
	rill_store *s = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	o.max_open_files = 2;
	OK(rill_store_open(&s, store_path, &o));
	enum { PARTITIONS = 12, BATCHES = 50 };
	OK(rill_topic_create(s, "idle", PARTITIONS, NULL));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "idle"));
	char value[32];
	for (int32_t p = 0; p < PARTITIONS; p++)
		for (int i = 0; i < BATCHES; i++) {
			snprintf(value, sizeof(value), "%d/%d", p, i);
			rill_record rec = {NULL, 0, value, strlen(value), NULL, 0, 0, 0};
			OK(rill_append(NULL, t, p, &rec, 1, 0));
		}
	rill_reader *readers[PARTITIONS];
	for (int32_t p = 0; p < PARTITIONS; p++) {
		OK(rill_reader_open(&readers[p], t, p, RILL_START_EARLIEST));
		rill_record got[7];
		size_t n = 0;
		int i = 0, rc;
		/* one-record batches, several calls: the pin stays across them */
		while ((rc = rill_reader_read(readers[p], got, 7, &n)) == 0)
			for (size_t k = 0; k < n; k++, i++) {
				snprintf(value, sizeof(value), "%d/%d", p, i);
				ck_assert_uint_eq(got[k].offset, (uint64_t)i);
				ck_assert_uint_eq(got[k].value_len, strlen(value));
				ck_assert(memcmp(got[k].value, value, strlen(value)) == 0);
			}
		ck_assert_int_eq(rc, RILL_EAGAIN);
		ck_assert_int_eq(i, BATCHES);
	}
	/* Pinned, the readers' segments could not be evicted: 12 descriptors.
	 * Unpinned, later opens evict them down towards the cache's size (a
	 * few partitions' files may still be open from their appends). */
	rill_store_stats st;
	OK(rill_store_stats_get(&st, s));
	ck_assert_uint_lt(st.open_files, PARTITIONS / 2);
	/* and each picks up where it stopped */
	for (int32_t p = 0; p < PARTITIONS; p++) {
		rill_record rec = {NULL, 0, "more", 4, NULL, 0, 0, 0};
		OK(rill_append(NULL, t, p, &rec, 1, 0));
		rill_record got;
		OK(rill_reader_next(readers[p], &got));
		ck_assert_uint_eq(got.offset, BATCHES);
		ck_assert(memcmp(got.value, "more", 4) == 0);
		rill_reader_close(readers[p]);
	}
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_append_errors)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "max.message.bytes", "1000"));
	OK(rill_topic_create(s, "e", 2, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "e"));
	char big[2000];
	memset(big, 'x', sizeof(big));
	rill_record r = {.value = big, .value_len = sizeof(big), .timestamp_ms = 1};
	FAILS(rill_append(NULL, t, 0, &r, 1, 0), RILL_ETOOBIG);
	ck_assert(strstr(rill_errmsg(), "max.message.bytes") != NULL);
	rill_offsets o;
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_end, 0); /* nothing written */
	FAILS(rill_append(NULL, t, 0, NULL, 1, 0), RILL_EINVAL);
	FAILS(rill_append(NULL, t, 0, &r, 0, 0), RILL_EINVAL);
	FAILS(rill_append(NULL, NULL, 0, &r, 1, 0), RILL_EINVAL);
	r.value_len = 10;
	FAILS(rill_append(NULL, t, 0, &r, 1, RILL_APPEND_SYNC | RILL_APPEND_NOSYNC), RILL_EINVAL);
	FAILS(rill_append(NULL, t, 0, &r, 1, 0x80), RILL_EINVAL);
	FAILS(rill_append(NULL, t, -5, &r, 1, 0), RILL_EINVAL);
	/* Keyed records of one AUTO batch must agree on the partition. */
	rill_record two[2] = {r, r};
	int k = 0;
	char key0[8] = "k0", keyk[16];
	int32_t p0 = rill_partition_for_key(RILL_PARTITIONER_XXH3, key0, 2, 2);
	for (k = 1; k < 100; k++) {
		snprintf(keyk, sizeof(keyk), "k%d", k);
		if (rill_partition_for_key(RILL_PARTITIONER_XXH3, keyk, strlen(keyk), 2) != p0)
			break;
	}
	two[0].key = key0;
	two[0].key_len = 2;
	two[1].key = keyk;
	two[1].key_len = strlen(keyk);
	FAILS(rill_append(NULL, t, RILL_PARTITION_AUTO, two, 2, 0), RILL_EINVAL);
	rill_append_info info;
	OK(rill_append(&info, t, RILL_PARTITION_AUTO, two, 1, 0));
	ck_assert_int_eq(info.partition, p0);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

static int32_t always_one(void *ctx, const rill_record *rec, int32_t n)
{
	(void)rec;
	(*(int *)ctx)++;
	return n > 1 ? 1 : 0;
}

START_TEST(test_partitioners)
{
	rill_store *s = open_store();
	OK(rill_topic_create(s, "p", 4, NULL));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "p"));
	/* Sticky: unkeyed batches go round the partitions, one per batch. */
	rill_record r = {.value = "v", .value_len = 1, .timestamp_ms = RILL_TIMESTAMP_NOW};
	int seen[4] = {0};
	for (int i = 0; i < 8; i++) {
		rill_append_info info;
		OK(rill_append(&info, t, RILL_PARTITION_AUTO, &r, 1, RILL_APPEND_NOSYNC));
		seen[info.partition]++;
	}
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(seen[i], 2);
	/* Keyed: the documented hash. */
	r.key = "user-42";
	r.key_len = 7;
	rill_append_info info;
	OK(rill_append(&info, t, RILL_PARTITION_AUTO, &r, 1, RILL_APPEND_NOSYNC));
	ck_assert_int_eq(info.partition, rill_partition_for_key(RILL_PARTITIONER_XXH3, "user-42", 7, 4));
	OK(rill_topic_set_partitioner(t, RILL_PARTITIONER_MURMUR2, NULL, NULL));
	OK(rill_append(&info, t, RILL_PARTITION_AUTO, &r, 1, RILL_APPEND_NOSYNC));
	ck_assert_int_eq(info.partition, rill_partition_for_key(RILL_PARTITIONER_MURMUR2, "user-42", 7, 4));
	int calls = 0;
	OK(rill_topic_set_partitioner(t, 0, always_one, &calls));
	OK(rill_append(&info, t, RILL_PARTITION_AUTO, &r, 1, RILL_APPEND_NOSYNC));
	ck_assert_int_eq(info.partition, 1);
	ck_assert_int_eq(calls, 1);
	FAILS(rill_topic_set_partitioner(t, 77, NULL, NULL), RILL_EINVAL);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_durability_modes)
{
	rill_store *s = open_store();
	rill_config c = small_config("append");
	OK(rill_topic_create(s, "d", 1, &c));
	c = small_config("os");
	OK(rill_topic_create(s, "o", 1, &c));
	c = small_config("interval");
	OK(rill_config_set(&c, "flush.messages", "10"));
	OK(rill_config_set(&c, "flush.ms", "100000"));
	OK(rill_topic_create(s, "i", 1, &c));
	rill_topic *d, *o, *in;
	OK(rill_topic_open(&d, s, "d"));
	OK(rill_topic_open(&o, s, "o"));
	OK(rill_topic_open(&in, s, "i"));
	rill_record r = {.value = "v", .value_len = 1, .timestamp_ms = RILL_TIMESTAMP_NOW};
	rill_append_info info;
	rill_offsets off;
	for (int i = 0; i < 5; i++) {
		OK(rill_append(&info, d, 0, &r, 1, 0));
		ck_assert_int_eq(info.durable, 1);
		OK(rill_partition_offsets(&off, d, 0));
		ck_assert_uint_eq(off.durable, off.log_end);
	}
	OK(rill_append(&info, d, 0, &r, 1, RILL_APPEND_NOSYNC));
	OK(rill_partition_offsets(&off, d, 0));
	ck_assert_uint_eq(off.durable, 5);
	OK(rill_sync(d, 0));
	OK(rill_partition_offsets(&off, d, 0));
	ck_assert_uint_eq(off.durable, 6);

	OK(rill_append(&info, o, 0, &r, 1, 0));
	ck_assert_int_eq(info.durable, 0);
	OK(rill_append(&info, o, 0, &r, 1, RILL_APPEND_SYNC));
	ck_assert_int_eq(info.durable, 1);

	for (int i = 0; i < 9; i++)
		OK(rill_append(&info, in, 0, &r, 1, 0));
	OK(rill_partition_offsets(&off, in, 0));
	ck_assert_uint_eq(off.durable, 0);
	OK(rill_append(&info, in, 0, &r, 1, 0)); /* the tenth */
	OK(rill_partition_offsets(&off, in, 0));
	ck_assert_uint_eq(off.durable, 10);
	rill_partition_stats ps;
	OK(rill_partition_stats_get(&ps, d, 0));
	ck_assert_uint_ge(ps.fsyncs, 6);
	rill_topic_close(d);
	rill_topic_close(o);
	rill_topic_close(in);
	OK(rill_store_close(s));
}
END_TEST

/* -------------------------------------------------------------- retention */

START_TEST(test_retention_by_size_and_offset)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "retention.bytes", "40000"));
	OK(rill_config_set(&c, "retention.ms", "-1"));
	OK(rill_topic_create(s, "ret", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "ret"));
	append_range(t, 0, 3000, 20);
	rill_partition_stats before, after;
	OK(rill_partition_stats_get(&before, t, 0));
	uint64_t deleted = 0;
	OK(rill_topic_retain(t, &deleted));
	OK(rill_partition_stats_get(&after, t, 0));
	ck_assert_uint_gt(deleted, 0);
	ck_assert_uint_eq(after.segments, before.segments - deleted);
	ck_assert_uint_le(after.bytes_on_disk, 40000 + 16384);
	ck_assert_uint_ge(after.bytes_on_disk, 40000 - 16384);
	ck_assert_uint_gt(after.log_start, 0);
	/* What remains reads back; below the start is out of range. */
	read_range(t, after.log_start, 3000);
	rill_reader *r = NULL;
	FAILS(rill_reader_open(&r, t, 0, after.log_start - 1), RILL_ERANGE);
	/* delete-records */
	FAILS(rill_delete_records(t, 0, 3001), RILL_ERANGE);
	OK(rill_delete_records(t, 0, 2900));
	rill_offsets o;
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_start, 2900);
	read_range(t, 2900, 3000);
	OK(rill_delete_records(t, 0, 10)); /* below the start: nothing to do */
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_start, 2900);
	rill_topic_close(t);
	OK(rill_store_close(s));
	s = open_store();
	OK(rill_topic_open(&t, s, "ret"));
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_start, 2900); /* persisted */
	ck_assert_uint_eq(o.log_end, 3000);
	read_range(t, 2900, 3000);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* retention.bytes follows Kafka (UnifiedLog.deletableSegments): delete the
 * oldest segment while what would remain is still >= retention.bytes, never
 * the active segment. So one pass leaves retention.bytes <= size <
 * retention.bytes + one segment (unless only the active segment is left).
 * Equal one-record batches make every sealed segment the same size, so the
 * expected deletions are computed exactly, boundaries included: limits are
 * what would remain with `kept` sealed segments, -1, +0 and +1 byte (a
 * limit equal to what would remain deletes, one byte more does not);
 * kept < 0 is retention.bytes=0. */
static const int64_t retention_sealed_kept[] = {-1, 0, 1, 2, 5, 100};
static const int retention_offsets[] = {-1, 0, 1};

START_TEST(test_retention_bytes_kafka_bound)
{
	int64_t kept = retention_sealed_kept[_i / 3];
	int delta = retention_offsets[_i % 3];
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "retention.ms", "-1"));
	OK(rill_topic_create(s, "kb", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "kb"));
	char value[200];
	memset(value, 'v', sizeof(value));
	rill_record rec = {NULL, 0, value, sizeof(value), NULL, 0, 1000, 0};
	for (int i = 0; i < 1000; i++)
		OK(rill_append(NULL, t, 0, &rec, 1, 0));
	rill_partition_stats before;
	OK(rill_partition_stats_get(&before, t, 0));
	ck_assert_uint_eq(before.bytes_appended % before.batches_appended, 0);
	uint64_t batch = before.bytes_appended / before.batches_appended;
	uint64_t sealed = 16384 / batch * batch; /* every sealed segment's size */
	uint64_t active = before.bytes_on_disk - (before.segments - 1) * sealed;
	ck_assert_uint_gt(before.segments, 6);
	ck_assert_uint_gt(active, 0);
	ck_assert_uint_lt(active, sealed + 1);
	int64_t limit = kept < 0 ? 0 : (int64_t)(active + (uint64_t)kept * sealed) + delta;
	char text[32];
	snprintf(text, sizeof(text), "%" PRId64, limit);
	OK(rill_topic_alter(t, "retention.bytes", text));
	uint64_t want = 0, total = before.bytes_on_disk;
	while (want + 1 < before.segments && total - sealed >= (uint64_t)limit) {
		total -= sealed;
		want++;
	}
	uint64_t deleted = 0;
	OK(rill_topic_retain(t, &deleted));
	rill_partition_stats after;
	OK(rill_partition_stats_get(&after, t, 0));
	ck_assert_uint_eq(deleted, want);
	ck_assert_uint_eq(after.segments, before.segments - want);
	ck_assert_uint_eq(after.bytes_on_disk, total);
	ck_assert_uint_eq(after.log_end, before.log_end);
	ck_assert_uint_ge(after.segments, 1); /* the active segment stays */
	/* The bound one pass guarantees: no more than one segment over the
	 * limit, and never under it by deleting. */
	if (after.segments > 1)
		ck_assert_uint_lt(after.bytes_on_disk - sealed, (uint64_t)limit);
	if (deleted > 0)
		ck_assert_uint_ge(after.bytes_on_disk, (uint64_t)limit);
	/* A second pass has nothing left to do. */
	OK(rill_topic_retain(t, &deleted));
	ck_assert_uint_eq(deleted, 0);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_retention_by_time)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "retention.ms", "1000"));
	OK(rill_topic_create(s, "tm", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "tm"));
	/* Old records (2023) are all expired, including the active segment. */
	append_range(t, 0, 1000, 10);
	uint64_t deleted = 0;
	OK(rill_store_maintain(s, &deleted));
	ck_assert_uint_gt(deleted, 0);
	rill_offsets o;
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_start, 1000);
	ck_assert_uint_eq(o.log_end, 1000);
	/* New records with the current time stay. */
	rill_record r = {.value = "now", .value_len = 3, .timestamp_ms = RILL_TIMESTAMP_NOW};
	rill_append_info info;
	OK(rill_append(&info, t, 0, &r, 1, 0));
	ck_assert_uint_eq(info.base_offset, 1000);
	OK(rill_topic_retain(t, &deleted));
	ck_assert_uint_eq(deleted, 0);
	rill_reader *rd = NULL;
	OK(rill_reader_open(&rd, t, 0, RILL_START_EARLIEST));
	rill_record rec;
	OK(rill_reader_next(rd, &rec));
	ck_assert_uint_eq(rec.offset, 1000);
	rill_reader_close(rd);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Segments of one batch each (the batch fills more than half a segment),
 * no larger than the index interval: such a segment's index had no entry
 * (a batch gets one once an interval of bytes has gone by, and the entry
 * a roll adds for the last batch was only added past position 0), so
 * after a reopen its max timestamp was unknown (-1) and time retention
 * stopped at it for good. */
START_TEST(test_retention_by_time_of_one_batch_segments_after_reopen)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "retention.ms", "-1"));
	OK(rill_config_set(&c, "index.interval.bytes", "16384")); /* each batch within one interval */
	OK(rill_topic_create(s, "one", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "one"));
	append_range(t, 0, 600, 100); /* records of 2023, ~14 KB a batch */
	rill_partition_stats st;
	OK(rill_partition_stats_get(&st, t, 0));
	ck_assert_uint_ge(st.segments, 5);
	rill_topic_close(t);
	OK(rill_store_close(s));
	/* As a store written before rolls indexed such a batch left the
	 * first segment: its index pair empty. It is rebuilt at the open. */
	char path[4096];
	static const char *const idx[] = {"index", "timeindex"};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/one/one-0/00000000000000000000.%s", store_path, idx[i]);
		ck_assert_int_eq(truncate(path, 0), 0);
	}

	s = open_store();
	OK(rill_topic_open(&t, s, "one"));
	OK(rill_topic_alter(t, "retention.ms", "1000"));
	uint64_t deleted = 0;
	OK(rill_topic_retain(t, &deleted));
	ck_assert_uint_ge(deleted, 5);
	rill_offsets o;
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_start, 600);
	ck_assert_uint_eq(o.log_end, 600);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Warnings logged (ctx: an int). */
static void count_warnings(void *ctx, int level, const char *message)
{
	(void)message;
	if (level >= RILL_LOG_WARN)
		(*(int *)ctx)++;
}

/* A sealed segment that the file cache evicted (the roll did not sync:
 * durability=os; the eviction wrote it back, or synced it with a table
 * without writeback) still gets its index written, at the next sync of
 * the partition: the close here. Once, the close saw it synced and
 * skipped it, and the next open rebuilt its index. */
START_TEST(test_evicted_sealed_segment_keeps_its_index)
{
	int warnings = 0;
	rill_options o = RILL_OPTIONS_INIT;
	o.max_open_files = 2;
	o.log = count_warnings;
	o.log_ctx = &warnings;
	rill_store *s = NULL;
	OK(rill_store_open(&s, store_path, &o));
	rill_config c = small_config("os");
	OK(rill_topic_create(s, "ev", 3, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "ev"));
	append_range(t, 0, 400, 10); /* partition 0: three segments or more */
	rill_partition_stats st;
	OK(rill_partition_stats_get(&st, t, 0));
	ck_assert_uint_ge(st.segments, 3);
	rill_record r = {.value = "x", .value_len = 1, .timestamp_ms = RILL_TIMESTAMP_NOW};
	for (int32_t p = 1; p < 3; p++) /* their segments evict partition 0's */
		OK(rill_append(NULL, t, p, &r, 1, 0));
	rill_store_stats ss;
	OK(rill_store_stats_get(&ss, s));
	ck_assert_uint_ge(ss.open_files, 1);
	rill_topic_close(t);
	OK(rill_store_close(s));

	char path[4096];
	snprintf(path, sizeof(path), "%s/ev/ev-0/00000000000000000000.index", store_path);
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_gt(sb.st_size, 0);

	OK(rill_store_open(&s, store_path, &o));
	OK(rill_topic_open(&t, s, "ev"));
	rill_reader *rd = NULL;
	OK(rill_reader_open(&rd, t, 0, 5)); /* loads the first segment's index */
	rill_record rec;
	OK(rill_reader_next(rd, &rec));
	check_record(&rec, 5);
	rill_reader_close(rd);
	rill_topic_close(t);
	OK(rill_store_close(s));
	ck_assert_int_eq(warnings, 0);
}
END_TEST

/*
 * How the file cache closes descriptors, seen through an I/O table over
 * the POSIX one that logs each call: 'o' open, 's' write-back started,
 * 'w' write-back waited for, 'f' fdatasync, 'c' close.
 */
static char io_log[1 << 16];
static size_t io_log_len;
static pthread_mutex_t io_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_io(char c)
{
	pthread_mutex_lock(&io_log_lock);
	if (io_log_len + 1 < sizeof(io_log))
		io_log[io_log_len++] = c;
	io_log[io_log_len] = '\0';
	pthread_mutex_unlock(&io_log_lock);
}

static int logged_open(void *ctx, const char *path, uint32_t flags, unsigned mode, int *out_fd)
{
	log_io('o');
	return rill_io_posix()->open(ctx, path, flags, mode, out_fd);
}

static int logged_close(void *ctx, int fd)
{
	log_io('c');
	return rill_io_posix()->close(ctx, fd);
}

static int logged_fdatasync(void *ctx, int fd)
{
	log_io('f');
	return rill_io_posix()->fdatasync(ctx, fd);
}

static int logged_writeback(void *ctx, int fd, int wait)
{
	log_io(wait ? 'w' : 's');
	return rill__posix_writeback(ctx, fd, wait);
}

static int count_char(const char *s, char c)
{
	int n = 0;
	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

/* Longest run of c in s. */
static int longest_run(const char *s, char c)
{
	int best = 0, run = 0;
	for (; *s != '\0'; s++) {
		run = *s == c ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* Append one record to each of `partitions`, `passes` times round-robin;
 * record i of a partition has value "p<partition>-<i>". */
static void append_round_robin(rill_topic *t, int32_t partitions, int passes)
{
	for (int i = 0; i < passes; i++)
		for (int32_t p = 0; p < partitions; p++) {
			char v[32];
			int n = snprintf(v, sizeof(v), "p%d-%d", (int)p, i);
			rill_record r = {.value = v, .value_len = (size_t)n, .timestamp_ms = RILL_TIMESTAMP_NOW};
			OK(rill_append(NULL, t, p, &r, 1, 0));
		}
}

static void check_round_robin(rill_topic *t, int32_t partitions, int passes)
{
	for (int32_t p = 0; p < partitions; p++) {
		rill_reader *rd = NULL;
		OK(rill_reader_open(&rd, t, p, RILL_START_EARLIEST));
		for (int i = 0; i < passes; i++) {
			rill_record rec;
			OK(rill_reader_next(rd, &rec));
			char v[32];
			int n = snprintf(v, sizeof(v), "p%d-%d", (int)p, i);
			ck_assert_uint_eq(rec.offset, (uint64_t)i);
			ck_assert_uint_eq(rec.value_len, (size_t)n);
			ck_assert(memcmp(rec.value, v, (size_t)n) == 0);
		}
		rill_record rec;
		ck_assert_int_eq(rill_reader_next(rd, &rec), RILL_EAGAIN);
		rill_reader_close(rd);
	}
}

/* A store over the logging I/O table with options of `version`,
 * `max_open_files` descriptors and `writeback` as io_writeback, a new
 * topic of `partitions` under durability=os, then, logging I/O from here,
 * `passes` rounds of append_round_robin. */
typedef int (*writeback_fn)(void *ctx, int fd, int wait);
static void append_os_round_robin(unsigned version, int max_open_files, writeback_fn writeback,
                                  const char *name, int32_t partitions, int passes,
                                  rill_store **s, rill_topic **t)
{
	static rill_io io;
	io = *rill_io_posix();
	io.open = logged_open;
	io.close = logged_close;
	io.fdatasync = logged_fdatasync;
	rill_options o = RILL_OPTIONS_INIT;
	o.version = version;
	o.io = &io;
	o.max_open_files = max_open_files;
	o.io_writeback = writeback;
	OK(rill_store_open(s, store_path, &o));
	rill_config c = small_config("os");
	OK(rill_topic_create(*s, name, partitions, &c));
	OK(rill_topic_open(t, *s, name));
	io_log_len = 0;
	io_log[0] = '\0';
	append_round_robin(*t, partitions, passes);
}

/* Close, reopen with the default table, and read everything back. */
static void close_and_check_round_robin(rill_store *s, rill_topic *t, const char *name,
                                        int32_t partitions, int passes)
{
	rill_topic_close(t);
	OK(rill_store_close(s));
	OK(rill_store_open(&s, store_path, NULL));
	OK(rill_topic_open(&t, s, name));
	check_round_robin(t, partitions, passes);
	rill_topic_close(t);
	OK(rill_store_close(s));
}

/* Under durability=os, with more partitions than descriptors, appends
 * round-robin evict on nearly every call. The cache closes a round of
 * descriptors at once (an eighth of 64 here): their write-backs all start
 * before the first is waited for, and none waits for an fdatasync. Every
 * record is there after the close. */
START_TEST(test_eviction_writes_back_in_rounds)
{
	rill_store *s = NULL;
	rill_topic *t = NULL;
	append_os_round_robin(RILL_OPTIONS_VERSION, 64, logged_writeback, "rr", 100, 4, &s, &t);
	rill_store_stats st;
	OK(rill_store_stats_get(&st, s));
	ck_assert_uint_le(st.open_files, 64);
	int waits = count_char(io_log, 'w');
	ck_assert_int_gt(waits, 100); /* a descriptor closed with unsynced bytes, many times */
	ck_assert_int_eq(count_char(io_log, 's'), waits);
	ck_assert_int_eq(longest_run(io_log, 's'), 8); /* rounds of 64 / 8 */
	ck_assert_int_eq(count_char(io_log, 'f'), 0);  /* os: no sync point while appending */
	close_and_check_round_robin(s, t, "rr", 100, 4);
}
END_TEST

/* Options of version 2 end before io_writeback: the store never reads it
 * (here a function that fails the test) and, the table not being the
 * default one, closes descriptors with an fdatasync. */
static int writeback_must_not_run(void *ctx, int fd, int wait)
{
	(void)ctx;
	(void)fd;
	(void)wait;
	ck_abort_msg("io_writeback of version 2 options was called");
	return 0;
}

START_TEST(test_options_version_2_sync_on_eviction)
{
	rill_store *s = NULL;
	rill_topic *t = NULL;
	append_os_round_robin(2, 4, writeback_must_not_run, "v2", 8, 3, &s, &t);
	ck_assert_int_gt(count_char(io_log, 'f'), 8);
	ck_assert_int_eq(count_char(io_log, 'w'), 0);
	close_and_check_round_robin(s, t, "v2", 8, 3);
}
END_TEST

/* A write-back the table does not have (-EOPNOTSUPP, as rill.h allows)
 * is no write error: the close syncs instead and the partition goes on. */
static int writeback_unsupported(void *ctx, int fd, int wait)
{
	(void)ctx;
	(void)fd;
	log_io(wait ? 'w' : 's');
	return -EOPNOTSUPP;
}

START_TEST(test_writeback_unsupported_syncs_instead)
{
	rill_store *s = NULL;
	rill_topic *t = NULL;
	append_os_round_robin(RILL_OPTIONS_VERSION, 4, writeback_unsupported, "un", 8, 3, &s, &t);
	ck_assert_int_gt(count_char(io_log, 'w'), 8);
	ck_assert_int_eq(count_char(io_log, 'f'), count_char(io_log, 'w'));
	close_and_check_round_robin(s, t, "un", 8, 3);
}
END_TEST

/* ------------------------------------------------------------ concurrency */

typedef struct writer_arg {
	rill_topic *topic;
	int id;
	int count;
	int32_t partitions;
} writer_arg;

static void *writer_main(void *argp)
{
	writer_arg *a = argp;
	char key[32], value[64];
	snprintf(key, sizeof(key), "writer-%d", a->id);
	for (int i = 0; i < a->count; i++) {
		snprintf(value, sizeof(value), "%d:%d", a->id, i);
		rill_record r = {.key = key, .key_len = strlen(key), .value = value,
		                 .value_len = strlen(value), .timestamp_ms = RILL_TIMESTAMP_NOW};
		rill_append_info info;
		if (rill_append(&info, a->topic, RILL_PARTITION_AUTO, &r, 1, 0) != 0)
			return (void *)1;
	}
	return NULL;
}

typedef struct reader_arg {
	rill_topic *topic;
	int32_t partition;
	uint64_t expect;
	int *last_seen;              /* per writer id */
	int writers;
	int failures;
} reader_arg;

static void *reader_main(void *argp)
{
	reader_arg *a = argp;
	rill_reader *r = NULL;
	if (rill_reader_open(&r, a->topic, a->partition, RILL_START_EARLIEST) != 0) {
		a->failures++;
		return NULL;
	}
	uint64_t got = 0, next_offset = 0;
	while (got < a->expect) {
		rill_record rec;
		int rc = rill_reader_next(r, &rec);
		if (rc == RILL_EAGAIN) {
			rill_reader_wait(r, 50);
			continue;
		}
		if (rc != 0 || rec.offset != next_offset) {
			fprintf(stderr, "reader %d: rc %d (%s) offset %" PRIu64 " expected %" PRIu64 "\n",
			        (int)a->partition, rc, rill_errmsg(), rc == 0 ? rec.offset : 0, next_offset);
			a->failures++;
			break;
		}
		int id = 0, seq = 0;
		if (sscanf((const char *)rec.value, "%d:%d", &id, &seq) != 2 || id < 0 || id >= a->writers ||
		    seq != a->last_seen[id] + 1) {
			fprintf(stderr, "reader %d: record %" PRIu64 " out of order\n", (int)a->partition, rec.offset);
			a->failures++; /* per-key order broken */
			break;
		}
		a->last_seen[id] = seq;
		next_offset++;
		got++;
	}
	rill_reader_close(r);
	return NULL;
}

START_TEST(test_concurrent_append_and_read)
{
	rill_store *s = open_store();
	rill_config c = small_config("append");
	OK(rill_config_set(&c, "segment.bytes", "65536"));
	OK(rill_topic_create(s, "cc", 3, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "cc"));
	enum { WRITERS = 6, PER_WRITER = 400 };
	/* Where each writer's key lands, to know what each reader expects. */
	uint64_t expect[3] = {0};
	for (int i = 0; i < WRITERS; i++) {
		char key[32];
		snprintf(key, sizeof(key), "writer-%d", i);
		expect[rill_partition_for_key(RILL_PARTITIONER_XXH3, key, strlen(key), 3)] += PER_WRITER;
	}
	pthread_t wt[WRITERS], rt[3];
	writer_arg wa[WRITERS];
	reader_arg ra[3];
	int last_seen[3][WRITERS];
	for (int p = 0; p < 3; p++) {
		for (int i = 0; i < WRITERS; i++)
			last_seen[p][i] = -1;
		ra[p] = (reader_arg){t, p, expect[p], last_seen[p], WRITERS, 0};
		pthread_create(&rt[p], NULL, reader_main, &ra[p]);
	}
	for (int i = 0; i < WRITERS; i++) {
		wa[i] = (writer_arg){t, i, PER_WRITER, 3};
		pthread_create(&wt[i], NULL, writer_main, &wa[i]);
	}
	for (int i = 0; i < WRITERS; i++) {
		void *ret;
		pthread_join(wt[i], &ret);
		ck_assert_ptr_null(ret);
	}
	for (int p = 0; p < 3; p++) {
		pthread_join(rt[p], NULL);
		ck_assert_int_eq(ra[p].failures, 0);
	}
	uint64_t fsyncs = 0, total = 0;
	for (int p = 0; p < 3; p++) {
		rill_partition_stats ps;
		OK(rill_partition_stats_get(&ps, t, p));
		ck_assert_uint_eq(ps.log_end, expect[p]);
		ck_assert_uint_eq(ps.durable, expect[p]);
		fsyncs += ps.fsyncs;
		total += ps.log_end;
	}
	/* Group commit: concurrent appenders share syncs. */
	ck_assert_uint_le(fsyncs, total + 64);
	fprintf(stderr, "concurrent: %" PRIu64 " durable records with %" PRIu64 " fsyncs\n", total, fsyncs);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Shared by the tests below: a store whose file cache holds at most
 * max_open_files descriptors (0: the default), and a small PRNG per thread
 * (xorshift64*, seeded from the test's printed seed). */
static rill_store *open_store_files(int max_open_files)
{
	rill_store *s = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	o.max_open_files = max_open_files;
	if (getenv("RILL_TEST_LOG") != NULL)
		o.log = log_to_stderr;
	OK(rill_store_open(&s, store_path, &o));
	return s;
}

static uint64_t cc_seed(const char *test)
{
	const char *env = getenv("RILL_TEST_SEED");
	uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
	if (seed == 0)
		seed = 1;
	fprintf(stderr, "%s: seed %" PRIu64 " (RILL_TEST_SEED to replay)\n", test, seed);
	return seed;
}

static uint64_t cc_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A producer that appends `count` records "id:seq" to partition 0,
 * `per_call` to a batch, and, done, counts itself out of `running`. */
typedef struct cc_writer {
	rill_topic *topic;
	int id;
	int count;
	atomic_int *running;
	int failures;
	int per_call;
} cc_writer;

enum { CC_PER_CALL_MAX = 32, CC_PARTITIONS_MAX = 24 };

static void *cc_writer_main(void *argp)
{
	cc_writer *a = argp;
	char key[32], values[CC_PER_CALL_MAX][64];
	rill_record recs[CC_PER_CALL_MAX];
	snprintf(key, sizeof(key), "writer-%d", a->id);
	for (int i = 0; i < a->count;) {
		int n = 0;
		for (; n < a->per_call && i + n < a->count; n++) {
			snprintf(values[n], sizeof(values[n]), "%d:%d", a->id, i + n);
			recs[n] = (rill_record){.key = key, .key_len = strlen(key), .value = values[n],
			                        .value_len = strlen(values[n]), .timestamp_ms = RILL_TIMESTAMP_NOW};
		}
		int rc = rill_append(NULL, a->topic, 0, recs, (size_t)n, 0);
		if (rc != 0) {
			fprintf(stderr, "writer %d: append %d -> %s: %s\n", a->id, i, rill_strerror(rc), rill_errmsg());
			a->failures++;
			break;
		}
		i += n;
	}
	atomic_fetch_sub(a->running, 1);
	return NULL;
}

/* n writers on t, each appending per_writer records, per_call to a
 * batch; `running` counts them down as they finish. */
static void cc_start_batch_writers(cc_writer *wa, pthread_t *wt, int n, rill_topic *t, int per_writer,
                                   int per_call, atomic_int *running)
{
	ck_assert_int_le(per_call, CC_PER_CALL_MAX);
	for (int i = 0; i < n; i++) {
		wa[i] = (cc_writer){t, i, per_writer, running, 0, per_call};
		ck_assert_int_eq(pthread_create(&wt[i], NULL, cc_writer_main, &wa[i]), 0);
	}
}

/* The same, one record per batch. */
static void cc_start_writers(cc_writer *wa, pthread_t *wt, int n, rill_topic *t, int per_writer,
                             atomic_int *running)
{
	cc_start_batch_writers(wa, wt, n, t, per_writer, 1, running);
}

static void cc_join_writers(cc_writer *wa, pthread_t *wt, int n)
{
	for (int i = 0; i < n; i++) {
		pthread_join(wt[i], NULL);
		ck_assert_int_eq(wa[i].failures, 0);
	}
}

static bool cc_value_ok(const rill_record *rec)
{
	int id = -1, seq = -1;
	return rec->value != NULL && rec->value_len < 64 &&
	       sscanf((const char *)rec->value, "%d:%d", &id, &seq) == 2 && id >= 0 && seq >= 0;
}

/* Every record in [from, to) of partition 0, dense, then the end. */
static void read_from_start_to_end(rill_topic *t, uint64_t from, uint64_t to)
{
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, RILL_START_EARLIEST));
	ck_assert_uint_eq(rill_reader_position(r), from);
	rill_record rec;
	for (uint64_t i = from; i < to; i++) {
		OK(rill_reader_next(r, &rec));
		ck_assert_uint_eq(rec.offset, i);
		ck_assert(cc_value_ok(&rec));
	}
	FAILS(rill_reader_next(r, &rec), RILL_EAGAIN);
	rill_reader_close(r);
}

/* A reader following partition 0 from the log start while something below
 * it deletes records: it may only see records with increasing offsets, or
 * RILL_ERANGE (then it goes to the new log start, never backwards). Every
 * few calls it repositions by timestamp instead (to the record it would
 * read next), and it alternates rill_reader_next and rill_reader_read. */
typedef struct cc_follower {
	rill_topic *topic;
	atomic_int *running;         /* writers still appending */
	uint64_t seed;
	uint64_t records, ranges, ts_seeks;
	int failures;
} cc_follower;

static void *cc_follower_main(void *argp)
{
	cc_follower *a = argp;
	uint64_t rng = a->seed;
	rill_reader *r = NULL;
	/* RILL_START_EARLIEST is never out of range, whatever retention does */
	int rc = rill_reader_open(&r, a->topic, 0, RILL_START_EARLIEST);
	if (rc != 0) {
		fprintf(stderr, "follower: open -> %s: %s\n", rill_strerror(rc), rill_errmsg());
		a->failures++;
		return NULL;
	}
	uint64_t next = 0;          /* offsets below this were returned */
	int64_t last_ts = INT64_MIN; /* timestamp of the last record returned */
	rill_record recs[16];
	for (;;) {
		uint64_t dice = cc_rand(&rng) % 64;
		if (dice == 0 && last_ts != INT64_MIN) {
			/* Timestamps are the store's clock: non-decreasing, so the
			 * first record at >= last_ts is at or before `next`, and never
			 * below the log start. */
			rc = rill_reader_seek_timestamp(r, last_ts);
			if (rc == RILL_ERANGE) {
				a->ranges++;
				rc = rill_reader_seek(r, RILL_START_EARLIEST);
			}
			if (rc != 0) {
				fprintf(stderr, "follower: seek_timestamp -> %s: %s\n", rill_strerror(rc), rill_errmsg());
				a->failures++;
				break;
			}
			a->ts_seeks++;
			/* Re-reading records already returned is allowed here;
			 * offsets increase again from the new position. */
			next = rill_reader_position(r);
			continue;
		}
		size_t n = 0;
		if (dice < 32) {
			rc = rill_reader_next(r, &recs[0]);
			n = rc == 0 ? 1 : 0;
		} else {
			rc = rill_reader_read(r, recs, 16, &n);
		}
		if (rc == RILL_EAGAIN) {
			if (atomic_load(a->running) == 0)
				break;
			rill_reader_wait(r, 5);
			continue;
		}
		if (rc == RILL_ERANGE) {
			a->ranges++;
			rc = rill_reader_seek(r, RILL_START_EARLIEST);
			if (rc != 0 || rill_reader_position(r) < next) {
				fprintf(stderr, "follower: seek earliest -> %s at %" PRIu64 " (had %" PRIu64 "): %s\n",
				        rill_strerror(rc), rill_reader_position(r), next, rill_errmsg());
				a->failures++;
				break;
			}
			next = rill_reader_position(r);
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "follower: read at %" PRIu64 " -> %s: %s\n", next, rill_strerror(rc), rill_errmsg());
			a->failures++;
			break;
		}
		bool bad = false;
		for (size_t k = 0; k < n && !bad; k++) {
			if (recs[k].offset < next || (k > 0 && recs[k].offset != recs[k - 1].offset + 1) ||
			    !cc_value_ok(&recs[k])) {
				fprintf(stderr, "follower: record %" PRIu64 " (%zu of %zu) after %" PRIu64 "\n", recs[k].offset,
				        k, n, next);
				bad = true;
			}
		}
		if (bad) {
			a->failures++;
			break;
		}
		next = recs[n - 1].offset + 1;
		last_ts = recs[n - 1].timestamp_ms;
		a->records += n;
	}
	rill_reader_close(r);
	return NULL;
}

/* rill_delete_records moves the log start to arbitrary offsets — inside
 * segments, at their bases, up to the log end — while producers append and
 * a follower reads with next, read and seek_timestamp: the follower sees
 * records with increasing offsets or RILL_ERANGE, never RILL_ECORRUPT or
 * a gap reported as one. */
typedef struct cc_deleter {
	rill_topic *topic;
	atomic_int *running;
	uint64_t seed;
	uint64_t calls, moved;
	int failures;
} cc_deleter;

static void *cc_deleter_main(void *argp)
{
	cc_deleter *a = argp;
	uint64_t rng = a->seed;
	while (atomic_load(a->running) > 0) {
		rill_offsets o;
		if (rill_partition_offsets(&o, a->topic, 0) != 0) {
			a->failures++;
			break;
		}
		uint64_t span = o.log_end - o.log_start;
		/* mostly a little, sometimes everything */
		uint64_t to = o.log_start + (span == 0 ? 0 : cc_rand(&rng) % (span + 1));
		if (cc_rand(&rng) % 8 == 0)
			to = o.log_end;
		int rc = rill_delete_records(a->topic, 0, to);
		if (rc != 0) {
			fprintf(stderr, "deleter: delete_records(%" PRIu64 ") -> %s: %s\n", to, rill_strerror(rc),
			        rill_errmsg());
			a->failures++;
			break;
		}
		rill_offsets after;
		if (rill_partition_offsets(&after, a->topic, 0) != 0 || after.log_start < to) {
			fprintf(stderr, "deleter: log start %" PRIu64 " below %" PRIu64 " after delete_records\n",
			        after.log_start, to);
			a->failures++;
			break;
		}
		a->moved += to - o.log_start;
		a->calls++;
		struct timespec pause = {0, 200 * 1000};
		nanosleep(&pause, NULL);
	}
	return NULL;
}

START_TEST(test_concurrent_delete_records)
{
	uint64_t seed = cc_seed("test_concurrent_delete_records");
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "segment.bytes", "4096"));
	OK(rill_config_set(&c, "index.interval.bytes", "256"));
	OK(rill_topic_create(s, "dr", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "dr"));
	enum { WRITERS = 2, PER_WRITER = 3000, FOLLOWERS = 2 };
	atomic_int running = WRITERS;
	cc_writer wa[WRITERS];
	cc_follower fa[FOLLOWERS];
	cc_deleter da = {t, &running, seed, 0, 0, 0};
	pthread_t wt[WRITERS], ft[FOLLOWERS], dt;
	for (int i = 0; i < FOLLOWERS; i++) {
		fa[i] = (cc_follower){t, &running, seed + 1 + (uint64_t)i, 0, 0, 0, 0};
		ck_assert_int_eq(pthread_create(&ft[i], NULL, cc_follower_main, &fa[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&dt, NULL, cc_deleter_main, &da), 0);
	cc_start_writers(wa, wt, WRITERS, t, PER_WRITER, &running);
	cc_join_writers(wa, wt, WRITERS);
	pthread_join(dt, NULL);
	ck_assert_int_eq(da.failures, 0);
	ck_assert_uint_gt(da.calls, 0);
	ck_assert_uint_gt(da.moved, 0);
	uint64_t records = 0, ranges = 0;
	for (int i = 0; i < FOLLOWERS; i++) {
		pthread_join(ft[i], NULL);
		ck_assert_int_eq(fa[i].failures, 0);
		records += fa[i].records;
		ranges += fa[i].ranges;
	}
	ck_assert_uint_gt(records, 0);
	fprintf(stderr, "delete_records: %" PRIu64 " calls, followers read %" PRIu64 " records, %" PRIu64
	        " RILL_ERANGE\n", da.calls, records, ranges);
	/* A last delete inside the active segment, then everything below the
	 * start is gone for readers and the rest reads back. */
	rill_offsets o;
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_end, WRITERS * PER_WRITER);
	uint64_t mid = o.log_start + (o.log_end - o.log_start) / 2;
	OK(rill_delete_records(t, 0, mid));
	rill_reader *r = NULL;
	if (mid > 0)
		FAILS(rill_reader_open(&r, t, 0, mid - 1), RILL_ERANGE);
	OK(rill_reader_open(&r, t, 0, RILL_START_EARLIEST));
	ck_assert_uint_eq(rill_reader_position(r), mid);
	rill_record rec;
	for (uint64_t i = mid; i < o.log_end; i++) {
		OK(rill_reader_next(r, &rec));
		ck_assert_uint_eq(rec.offset, i);
	}
	FAILS(rill_reader_next(r, &rec), RILL_EAGAIN);
	rill_reader_close(r);
	rill_topic_close(t);
	OK(rill_store_close(s));
	/* Reopened, the log start is where it was moved. */
	s = open_store();
	OK(rill_topic_open(&t, s, "dr"));
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_start, mid);
	ck_assert_uint_eq(o.log_end, WRITERS * PER_WRITER);
	OK(rill_verify(s, "dr", NULL, NULL, NULL, NULL));
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Point reads — seek to a random offset in [log_start, log_end), read one
 * record — while retention deletes 4 KiB segments under them and producers
 * append: each read returns the record at that offset or RILL_ERANGE (from
 * the seek or from the read), nothing else. */
typedef struct cc_point {
	rill_topic *topic;
	atomic_int *running;
	uint64_t seed;
	uint64_t hits, ranges;
	int failures;
} cc_point;

static void *cc_point_main(void *argp)
{
	cc_point *a = argp;
	uint64_t rng = a->seed;
	rill_reader *r = NULL;
	int rc = rill_reader_open(&r, a->topic, 0, RILL_START_LATEST);
	if (rc != 0) {
		a->failures++;
		return NULL;
	}
	while (atomic_load(a->running) > 0) {
		rill_offsets o;
		if (rill_partition_offsets(&o, a->topic, 0) != 0) {
			a->failures++;
			break;
		}
		if (o.log_end == o.log_start)
			continue;
		uint64_t target = o.log_start + cc_rand(&rng) % (o.log_end - o.log_start);
		rc = rill_reader_seek(r, target);
		if (rc == 0) {
			rill_record rec;
			size_t n = 0;
			if (cc_rand(&rng) % 2 == 0) {
				rc = rill_reader_next(r, &rec);
				n = rc == 0 ? 1 : 0;
			} else {
				rc = rill_reader_read(r, &rec, 1, &n);
			}
			if (rc == 0 && (n != 1 || rec.offset != target || !cc_value_ok(&rec))) {
				fprintf(stderr, "point reader: seek %" PRIu64 " read offset %" PRIu64 "\n", target, rec.offset);
				a->failures++;
				break;
			}
		}
		if (rc == RILL_ERANGE) {
			a->ranges++;
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "point reader: offset %" PRIu64 " -> %s: %s\n", target, rill_strerror(rc),
			        rill_errmsg());
			a->failures++;
			break;
		}
		a->hits++;
	}
	rill_reader_close(r);
	return NULL;
}

static void *cc_retainer_main(void *argp)
{
	cc_deleter *a = argp;
	while (atomic_load(a->running) > 0) {
		uint64_t n = 0;
		int rc = rill_topic_retain(a->topic, &n);
		if (rc != 0) {
			fprintf(stderr, "retainer: %s: %s\n", rill_strerror(rc), rill_errmsg());
			a->failures++;
			break;
		}
		a->moved += n;
		a->calls++;
	}
	return NULL;
}

/* Retention deleting segments while producers append, a reader follows
 * and the background thread retains too; run under ThreadSanitizer by
 * `make tsan`. The follower, overtaken by retention at a segment's end,
 * once moved on to the next segment in the list and reported an offset
 * gap as RILL_ECORRUPT; it must get RILL_ERANGE (or continue, if its
 * offset survived). */
START_TEST(test_concurrent_retention)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "segment.bytes", "4096"));
	OK(rill_config_set(&c, "retention.bytes", "16384"));
	OK(rill_topic_create(s, "rt", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "rt"));
	OK(rill_store_start_background(s, 1));
	enum { WRITERS = 2, PER_WRITER = 3000 };
	atomic_int running = WRITERS;
	cc_writer wa[WRITERS];
	cc_deleter ret = {t, &running, 0, 0, 0, 0};
	cc_follower fol = {t, &running, cc_seed("test_concurrent_retention"), 0, 0, 0, 0};
	pthread_t wt[WRITERS], rt, ft;
	ck_assert_int_eq(pthread_create(&rt, NULL, cc_retainer_main, &ret), 0);
	ck_assert_int_eq(pthread_create(&ft, NULL, cc_follower_main, &fol), 0);
	cc_start_writers(wa, wt, WRITERS, t, PER_WRITER, &running);
	cc_join_writers(wa, wt, WRITERS);
	pthread_join(rt, NULL);
	pthread_join(ft, NULL);
	ck_assert_int_eq(ret.failures, 0);
	ck_assert_int_eq(fol.failures, 0);
	ck_assert_uint_gt(ret.moved, 0);
	ck_assert_uint_gt(fol.records, 0);
	rill_partition_stats st;
	OK(rill_partition_stats_get(&st, t, 0));
	ck_assert_uint_eq(st.log_end, WRITERS * PER_WRITER);
	ck_assert_uint_gt(st.log_start, 0);
	ck_assert_uint_lt(st.bytes_on_disk, 16384 + 2 * 4096 + 1);
	rill_topic_close(t);
	OK(rill_store_close(s));
	/* Reopened, the log is exactly what retention left. */
	s = open_store();
	OK(rill_topic_open(&t, s, "rt"));
	rill_offsets off;
	OK(rill_partition_offsets(&off, t, 0));
	ck_assert_uint_eq(off.log_start, st.log_start);
	ck_assert_uint_eq(off.log_end, st.log_end);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* per_call > 1: reads land inside batches, through a batch cache of
 * batch_cache_bytes (small: entries evicted while readers hold them). */
static void point_reads_under_retention(int max_open_files, int per_call, int64_t batch_cache_bytes)
{
	uint64_t seed = cc_seed("point reads under retention");
	rill_store *s = NULL;
	rill_options opt = RILL_OPTIONS_INIT;
	opt.max_open_files = max_open_files;
	opt.batch_cache_bytes = batch_cache_bytes;
	OK(rill_store_open(&s, store_path, &opt));
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "segment.bytes", "4096"));
	OK(rill_config_set(&c, "index.interval.bytes", "256"));
	OK(rill_config_set(&c, "retention.bytes", "8192"));
	OK(rill_topic_create(s, "pr", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "pr"));
	OK(rill_store_start_background(s, 1));
	enum { WRITERS = 2, PER_WRITER = 3000, READERS = 3 };
	atomic_int running = WRITERS;
	cc_writer wa[WRITERS];
	cc_point pa[READERS];
	cc_deleter ra = {t, &running, seed, 0, 0, 0};
	pthread_t wt[WRITERS], pt[READERS], rt;
	for (int i = 0; i < READERS; i++) {
		pa[i] = (cc_point){t, &running, seed + 1 + (uint64_t)i, 0, 0, 0};
		ck_assert_int_eq(pthread_create(&pt[i], NULL, cc_point_main, &pa[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&rt, NULL, cc_retainer_main, &ra), 0);
	cc_start_batch_writers(wa, wt, WRITERS, t, PER_WRITER, per_call, &running);
	cc_join_writers(wa, wt, WRITERS);
	pthread_join(rt, NULL);
	ck_assert_int_eq(ra.failures, 0);
	uint64_t hits = 0, ranges = 0;
	for (int i = 0; i < READERS; i++) {
		pthread_join(pt[i], NULL);
		ck_assert_int_eq(pa[i].failures, 0);
		hits += pa[i].hits;
		ranges += pa[i].ranges;
	}
	ck_assert_uint_gt(hits, 0);
	ck_assert_uint_gt(ra.moved, 0);
	rill_store_stats ss;
	OK(rill_store_stats_get(&ss, s));
	fprintf(stderr, "point reads (max_open_files %d, %d per batch): %" PRIu64 " hits, %" PRIu64
	        " RILL_ERANGE, %" PRIu64 " segments deleted; batch cache %" PRIu64 " hits, %" PRIu64
	        " misses, %" PRIu64 " bytes\n", max_open_files, per_call, hits, ranges, ra.moved,
	        ss.batch_cache_hits, ss.batch_cache_misses, ss.batch_cache_bytes);
	if (per_call > 1) {
		ck_assert_uint_gt(ss.batch_cache_hits, 0);
		ck_assert_uint_le(ss.batch_cache_bytes, (uint64_t)batch_cache_bytes);
	}
	/* The background thread retains on: stop retention by size first. */
	OK(rill_topic_alter(t, "retention.bytes", "-1"));
	rill_partition_stats st;
	OK(rill_partition_stats_get(&st, t, 0));
	ck_assert_uint_eq(st.log_end, WRITERS * PER_WRITER);
	ck_assert_uint_gt(st.log_start, 0);
	read_from_start_to_end(t, st.log_start, st.log_end);
	rill_topic_close(t);
	OK(rill_store_close(s));
}

START_TEST(test_concurrent_point_reads_under_retention)
{
	point_reads_under_retention(0, 1, 0);
}
END_TEST

START_TEST(test_concurrent_point_reads_into_batches_small_batch_cache)
{
	point_reads_under_retention(0, 20, 8 << 10);
}
END_TEST

/* rill_topic_alter while producers append and followers read: segment
 * size, retention, durability (os, interval, append), compression,
 * index interval and preallocation change under them. Every append
 * succeeds, followers see increasing offsets or RILL_ERANGE (retention),
 * and the log verifies clean and reopens with the same offsets. */
typedef struct cc_alterer {
	rill_topic *topic;
	atomic_int *running;
	uint64_t seed;
	uint64_t alters;
	int failures;
} cc_alterer;

static void *cc_alterer_main(void *argp)
{
	cc_alterer *a = argp;
	uint64_t rng = a->seed;
	static const char *const settings[][2] = {
		{"segment.bytes", "4096"},        {"segment.bytes", "8192"},
		{"segment.bytes", "65536"},       {"retention.bytes", "-1"},
		{"retention.bytes", "16384"},     {"durability", "os"},
		{"durability", "append"},         {"durability", "interval"},
		{"compression.type", "zstd"},     {"compression.type", "none"},
		{"index.interval.bytes", "0"},    {"index.interval.bytes", "256"},
		{"index.interval.bytes", "4096"}, {"preallocate", "false"},
		{"preallocate", "true"},          {"flush.messages", "7"},
	};
	size_t count = sizeof(settings) / sizeof(settings[0]);
	while (atomic_load(a->running) > 0) {
		size_t k = (size_t)(cc_rand(&rng) % count);
		int rc = rill_topic_alter(a->topic, settings[k][0], settings[k][1]);
		if (rc != 0) {
			fprintf(stderr, "alterer: %s=%s -> %s: %s\n", settings[k][0], settings[k][1], rill_strerror(rc),
			        rill_errmsg());
			a->failures++;
			break;
		}
		rill_config now;
		char buf[64];
		if (rill_topic_config(&now, a->topic) != 0 || rill_config_get(&now, settings[k][0], buf, sizeof(buf)) != 0 ||
		    strcmp(buf, settings[k][1]) != 0) {
			fprintf(stderr, "alterer: %s reads back as %s, not %s\n", settings[k][0], buf, settings[k][1]);
			a->failures++;
			break;
		}
		a->alters++;
		if (cc_rand(&rng) % 4 == 0) {
			uint64_t n = 0;
			if (rill_topic_retain(a->topic, &n) != 0) {
				a->failures++;
				break;
			}
		}
		struct timespec pause = {0, 100 * 1000};
		nanosleep(&pause, NULL);
	}
	return NULL;
}

START_TEST(test_concurrent_alter)
{
	uint64_t seed = cc_seed("test_concurrent_alter");
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "segment.bytes", "4096"));
	OK(rill_topic_create(s, "al", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "al"));
	OK(rill_store_start_background(s, 1));
	enum { WRITERS = 3, PER_WRITER = 1500, FOLLOWERS = 2 };
	atomic_int running = WRITERS;
	cc_writer wa[WRITERS];
	cc_follower fa[FOLLOWERS];
	cc_alterer aa = {t, &running, seed, 0, 0};
	pthread_t wt[WRITERS], ft[FOLLOWERS], at;
	for (int i = 0; i < FOLLOWERS; i++) {
		fa[i] = (cc_follower){t, &running, seed + 1 + (uint64_t)i, 0, 0, 0, 0};
		ck_assert_int_eq(pthread_create(&ft[i], NULL, cc_follower_main, &fa[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&at, NULL, cc_alterer_main, &aa), 0);
	cc_start_writers(wa, wt, WRITERS, t, PER_WRITER, &running);
	cc_join_writers(wa, wt, WRITERS);
	pthread_join(at, NULL);
	ck_assert_int_eq(aa.failures, 0);
	ck_assert_uint_gt(aa.alters, 0);
	uint64_t records = 0;
	for (int i = 0; i < FOLLOWERS; i++) {
		pthread_join(ft[i], NULL);
		ck_assert_int_eq(fa[i].failures, 0);
		records += fa[i].records;
	}
	ck_assert_uint_gt(records, 0);
	fprintf(stderr, "alter: %" PRIu64 " alters, followers read %" PRIu64 " records\n", aa.alters, records);
	/* The background thread retains on: stop retention by size first. */
	OK(rill_topic_alter(t, "retention.bytes", "-1"));
	rill_offsets o;
	OK(rill_partition_offsets(&o, t, 0));
	ck_assert_uint_eq(o.log_end, WRITERS * PER_WRITER);
	read_from_start_to_end(t, o.log_start, o.log_end);
	OK(rill_verify(s, "al", NULL, NULL, NULL, NULL));
	rill_topic_close(t);
	OK(rill_store_close(s));
	s = open_store();
	OK(rill_topic_open(&t, s, "al"));
	rill_offsets again;
	OK(rill_partition_offsets(&again, t, 0));
	ck_assert_uint_eq(again.log_start, o.log_start);
	ck_assert_uint_eq(again.log_end, o.log_end);
	read_from_start_to_end(t, o.log_start, o.log_end);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* Short-lived readers — open at a random offset, read a few records,
 * close — and long-lived followers, while producers roll 4 KiB segments,
 * retention deletes them and the file cache holds only 4 descriptors, so
 * descriptors are evicted and reopened under readers that hold pins on
 * others. Opens return 0 or RILL_ERANGE; reads return dense offsets from
 * the position, RILL_EAGAIN or RILL_ERANGE. */
typedef struct cc_churn {
	rill_topic *topic;
	atomic_int *running;
	uint64_t seed;
	uint64_t opens, records, ranges;
	int failures;
} cc_churn;

static void *cc_churn_main(void *argp)
{
	cc_churn *a = argp;
	uint64_t rng = a->seed;
	while (atomic_load(a->running) > 0) {
		rill_offsets o;
		if (rill_partition_offsets(&o, a->topic, 0) != 0) {
			a->failures++;
			break;
		}
		uint64_t at = o.log_end == o.log_start ? RILL_START_EARLIEST
		                                        : o.log_start + cc_rand(&rng) % (o.log_end - o.log_start);
		rill_reader *r = NULL;
		int rc = rill_reader_open(&r, a->topic, 0, at);
		if (rc == RILL_ERANGE) {
			a->ranges++;
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "churn: open at %" PRIu64 " -> %s: %s\n", at, rill_strerror(rc), rill_errmsg());
			a->failures++;
			break;
		}
		a->opens++;
		uint64_t next = rill_reader_position(r);
		int want = 1 + (int)(cc_rand(&rng) % 40);
		for (int i = 0; i < want; i++) {
			rill_record rec;
			rc = rill_reader_next(r, &rec);
			if (rc == RILL_EAGAIN)
				break;
			if (rc == RILL_ERANGE) {
				a->ranges++;
				rc = 0;
				break;
			}
			if (rc != 0 || rec.offset != next || !cc_value_ok(&rec)) {
				fprintf(stderr, "churn: read at %" PRIu64 " -> %s (offset %" PRIu64 "): %s\n", next,
				        rill_strerror(rc), rc == 0 ? rec.offset : 0, rill_errmsg());
				a->failures++;
				break;
			}
			next++;
			a->records++;
		}
		rill_reader_close(r);
		if (a->failures > 0)
			break;
	}
	return NULL;
}

START_TEST(test_concurrent_reader_churn_small_file_cache)
{
	uint64_t seed = cc_seed("test_concurrent_reader_churn_small_file_cache");
	rill_store *s = open_store_files(4);
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "segment.bytes", "4096"));
	OK(rill_config_set(&c, "index.interval.bytes", "256"));
	OK(rill_config_set(&c, "retention.bytes", "32768"));
	OK(rill_topic_create(s, "ch", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "ch"));
	OK(rill_store_start_background(s, 1));
	enum { WRITERS = 2, PER_WRITER = 3000, CHURNERS = 4, FOLLOWERS = 2 };
	atomic_int running = WRITERS;
	cc_writer wa[WRITERS];
	cc_churn ca[CHURNERS];
	cc_follower fa[FOLLOWERS];
	pthread_t wt[WRITERS], ct[CHURNERS], ft[FOLLOWERS];
	for (int i = 0; i < CHURNERS; i++) {
		ca[i] = (cc_churn){t, &running, seed + 1 + (uint64_t)i, 0, 0, 0, 0};
		ck_assert_int_eq(pthread_create(&ct[i], NULL, cc_churn_main, &ca[i]), 0);
	}
	for (int i = 0; i < FOLLOWERS; i++) {
		fa[i] = (cc_follower){t, &running, seed + 100 + (uint64_t)i, 0, 0, 0, 0};
		ck_assert_int_eq(pthread_create(&ft[i], NULL, cc_follower_main, &fa[i]), 0);
	}
	cc_start_writers(wa, wt, WRITERS, t, PER_WRITER, &running);
	cc_join_writers(wa, wt, WRITERS);
	uint64_t opens = 0, records = 0;
	for (int i = 0; i < CHURNERS; i++) {
		pthread_join(ct[i], NULL);
		ck_assert_int_eq(ca[i].failures, 0);
		opens += ca[i].opens;
		records += ca[i].records;
	}
	for (int i = 0; i < FOLLOWERS; i++) {
		pthread_join(ft[i], NULL);
		ck_assert_int_eq(fa[i].failures, 0);
		records += fa[i].records;
	}
	ck_assert_uint_gt(opens, 0);
	ck_assert_uint_gt(records, 0);
	/* The background thread retains on: stop retention by size first. */
	OK(rill_topic_alter(t, "retention.bytes", "-1"));
	rill_store_stats ss;
	OK(rill_store_stats_get(&ss, s));
	rill_partition_stats st;
	OK(rill_partition_stats_get(&st, t, 0));
	fprintf(stderr, "reader churn: %" PRIu64 " opens, %" PRIu64 " records read, %" PRIu64
	        " descriptors open at the end\n", opens, records, ss.open_files);
	ck_assert_uint_eq(st.log_end, WRITERS * PER_WRITER);
	ck_assert_uint_gt(st.log_start, 0);
	read_from_start_to_end(t, st.log_start, st.log_end);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_concurrent_point_reads_small_file_cache)
{
	point_reads_under_retention(2, 1, 0);
}
END_TEST

/* rill_verify beside appends, retention (the background thread and
 * rill_topic_retain) and a file cache of 2 descriptors: segments verify
 * walks may be deleted under it; it reports no problem and no error. */
typedef struct cc_verifier {
	rill_store *store;
	atomic_int *running;
	uint64_t passes;
	int failures;
} cc_verifier;

static void *cc_verifier_main(void *argp)
{
	cc_verifier *a = argp;
	while (atomic_load(a->running) > 0) {
		uint64_t problems = 0;
		int rc = rill_verify(a->store, "vf", NULL, NULL, NULL, &problems);
		if (rc != 0 || problems != 0) {
			fprintf(stderr, "verifier: %s, %" PRIu64 " problems: %s\n", rill_strerror(rc), problems, rill_errmsg());
			a->failures++;
			break;
		}
		a->passes++;
	}
	return NULL;
}

START_TEST(test_concurrent_verify_under_retention)
{
	rill_store *s = open_store_files(2);
	rill_config c = small_config("os");
	OK(rill_config_set(&c, "segment.bytes", "4096"));
	OK(rill_config_set(&c, "retention.bytes", "8192"));
	OK(rill_topic_create(s, "vf", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "vf"));
	OK(rill_store_start_background(s, 1));
	enum { WRITERS = 2, PER_WRITER = 3000, VERIFIERS = 2 };
	atomic_int running = WRITERS;
	cc_writer wa[WRITERS];
	cc_verifier va[VERIFIERS];
	cc_deleter ra = {t, &running, 0, 0, 0, 0};
	pthread_t wt[WRITERS], vt[VERIFIERS], rt;
	for (int i = 0; i < VERIFIERS; i++) {
		va[i] = (cc_verifier){s, &running, 0, 0};
		ck_assert_int_eq(pthread_create(&vt[i], NULL, cc_verifier_main, &va[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&rt, NULL, cc_retainer_main, &ra), 0);
	cc_start_writers(wa, wt, WRITERS, t, PER_WRITER, &running);
	cc_join_writers(wa, wt, WRITERS);
	pthread_join(rt, NULL);
	ck_assert_int_eq(ra.failures, 0);
	ck_assert_uint_gt(ra.moved, 0);
	uint64_t passes = 0;
	for (int i = 0; i < VERIFIERS; i++) {
		pthread_join(vt[i], NULL);
		ck_assert_int_eq(va[i].failures, 0);
		passes += va[i].passes;
	}
	ck_assert_uint_gt(passes, 0);
	fprintf(stderr, "verify under retention: %" PRIu64 " passes, %" PRIu64 " segments deleted\n", passes, ra.moved);
	OK(rill_verify(s, "vf", NULL, NULL, NULL, NULL));
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* rill_topic_add_partitions while producers append (keyed, so records
 * spread over whatever partitions exist, and to explicit partitions below
 * the count they just read) and readers scan partitions that may have
 * just appeared: every append lands in a partition that exists, every
 * partition reads back dense, and the store reopens with the same counts. */
typedef struct cc_spreader {
	rill_topic *topic;
	int id;
	int count;
	atomic_int *running;
	uint64_t appended[CC_PARTITIONS_MAX];
	int failures;
} cc_spreader;

static void *cc_spreader_main(void *argp)
{
	cc_spreader *a = argp;
	char key[32], value[64];
	for (int i = 0; i < a->count; i++) {
		snprintf(key, sizeof(key), "key-%d-%d", a->id, i);
		snprintf(value, sizeof(value), "%d:%d", a->id, i);
		rill_record r = {.key = key, .key_len = strlen(key), .value = value,
		                 .value_len = strlen(value), .timestamp_ms = RILL_TIMESTAMP_NOW};
		int32_t partition = RILL_PARTITION_AUTO;
		int32_t count = rill_topic_partitions(a->topic);
		if (i % 2 == 1)
			partition = (int32_t)(i % count); /* exists: partitions never shrink */
		rill_append_info info;
		int rc = rill_append(&info, a->topic, partition, &r, 1, 0);
		if (rc != 0 || info.partition < 0 || info.partition >= rill_topic_partitions(a->topic) ||
		    (partition >= 0 && info.partition != partition)) {
			fprintf(stderr, "spreader %d: append %d to %d -> %s (partition %d): %s\n", a->id, i,
			        (int)partition, rill_strerror(rc), (int)info.partition, rill_errmsg());
			a->failures++;
			break;
		}
		a->appended[info.partition]++;
	}
	atomic_fetch_sub(a->running, 1);
	return NULL;
}

typedef struct cc_scanner {
	rill_topic *topic;
	atomic_int *running;
	uint64_t seed;
	uint64_t scans;
	int failures;
} cc_scanner;

static void *cc_scanner_main(void *argp)
{
	cc_scanner *a = argp;
	uint64_t rng = a->seed;
	while (atomic_load(a->running) > 0) {
		int32_t count = rill_topic_partitions(a->topic);
		int32_t p = (int32_t)(cc_rand(&rng) % (uint64_t)count);
		rill_reader *r = NULL;
		int rc = rill_reader_open(&r, a->topic, p, RILL_START_EARLIEST);
		uint64_t next = 0;
		rill_record rec;
		while (rc == 0 && (rc = rill_reader_next(r, &rec)) == 0) {
			if (rec.offset != next || !cc_value_ok(&rec)) {
				fprintf(stderr, "scanner: partition %d offset %" PRIu64 ", expected %" PRIu64 "\n", (int)p,
				        rec.offset, next);
				a->failures++;
				break;
			}
			next++;
		}
		rill_reader_close(r);
		if (rc != RILL_EAGAIN) {
			fprintf(stderr, "scanner: partition %d -> %s: %s\n", (int)p, rill_strerror(rc), rill_errmsg());
			a->failures++;
			break;
		}
		a->scans++;
	}
	return NULL;
}

START_TEST(test_concurrent_add_partitions)
{
	uint64_t seed = cc_seed("add partitions");
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_topic_create(s, "ap", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "ap"));
	enum { WRITERS = 3, PER_WRITER = 2000, SCANNERS = 2 };
	atomic_int running = WRITERS;
	cc_spreader wa[WRITERS];
	cc_scanner sa[SCANNERS];
	pthread_t wt[WRITERS], st[SCANNERS];
	for (int i = 0; i < SCANNERS; i++) {
		sa[i] = (cc_scanner){t, &running, seed + (uint64_t)i, 0, 0};
		ck_assert_int_eq(pthread_create(&st[i], NULL, cc_scanner_main, &sa[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		memset(&wa[i], 0, sizeof(wa[i]));
		wa[i] = (cc_spreader){.topic = t, .id = i, .count = PER_WRITER, .running = &running};
		ck_assert_int_eq(pthread_create(&wt[i], NULL, cc_spreader_main, &wa[i]), 0);
	}
	int32_t grown = 1;
	while (atomic_load(&running) > 0 && grown < CC_PARTITIONS_MAX) {
		OK(rill_topic_add_partitions(t, ++grown));
		struct timespec pause = {0, 2 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	uint64_t per_partition[CC_PARTITIONS_MAX] = {0}, total = 0;
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(wt[i], NULL);
		ck_assert_int_eq(wa[i].failures, 0);
		for (int p = 0; p < CC_PARTITIONS_MAX; p++)
			per_partition[p] += wa[i].appended[p];
	}
	uint64_t scans = 0;
	for (int i = 0; i < SCANNERS; i++) {
		pthread_join(st[i], NULL);
		ck_assert_int_eq(sa[i].failures, 0);
		scans += sa[i].scans;
	}
	ck_assert_int_eq(rill_topic_partitions(t), grown);
	for (int32_t p = 0; p < grown; p++) {
		rill_offsets o;
		OK(rill_partition_offsets(&o, t, p));
		ck_assert_uint_eq(o.log_end, per_partition[p]);
		total += per_partition[p];
	}
	ck_assert_uint_eq(total, WRITERS * PER_WRITER);
	ck_assert_int_gt(grown, 2);
	ck_assert_uint_lt(per_partition[0], total); /* spread past the first */
	fprintf(stderr, "add partitions: grew to %d under %d producers, %" PRIu64 " scans\n", (int)grown,
	        WRITERS, scans);
	rill_topic_close(t);
	OK(rill_store_close(s));
	s = open_store();
	OK(rill_topic_open(&t, s, "ap"));
	ck_assert_int_eq(rill_topic_partitions(t), grown);
	for (int32_t p = 0; p < grown; p++) {
		rill_offsets o;
		OK(rill_partition_offsets(&o, t, p));
		ck_assert_uint_eq(o.log_end, per_partition[p]);
	}
	OK(rill_verify(s, "ap", NULL, NULL, NULL, NULL));
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* ------------------------------------------------------- tail and events */

START_TEST(test_reader_wait_and_fd)
{
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_topic_create(s, "tail", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "tail"));
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, RILL_START_LATEST));
	FAILS(rill_reader_wait(r, 20), RILL_ETIMEDOUT);
	int fd = rill_reader_fd(r);
	ck_assert_int_ge(fd, 0);
	struct pollfd pfd = {fd, POLLIN, 0};
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	rill_record rec = {.value = "new", .value_len = 3, .timestamp_ms = 5};
	OK(rill_append(NULL, t, 0, &rec, 1, 0));
	ck_assert_int_eq(poll(&pfd, 1, 1000), 1);
	OK(rill_reader_wait(r, 0));
	rill_record got;
	OK(rill_reader_next(r, &got));
	ck_assert_uint_eq(got.value_len, 3);
	rill_reader_close(r);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

/* ---------------------------------------------------- read-only, restart */

START_TEST(test_readonly_beside_writer)
{
	rill_store *w = open_store();
	rill_config c = small_config("append");
	OK(rill_topic_create(w, "ro", 1, &c));
	rill_topic *wt = NULL;
	OK(rill_topic_open(&wt, w, "ro"));
	append_range(wt, 0, 300, 10);
	rill_options ro = RILL_OPTIONS_INIT;
	ro.flags = RILL_OPEN_READONLY;
	rill_store *r = NULL;
	OK(rill_store_open(&r, store_path, &ro));
	rill_topic *rt = NULL;
	OK(rill_topic_open(&rt, r, "ro"));
	read_range(rt, 0, 300);
	FAILS(rill_append(NULL, rt, 0, &(rill_record){.value = "x", .value_len = 1}, 1, 0), RILL_EREADONLY);
	FAILS(rill_topic_create(r, "nope", 1, NULL), RILL_EREADONLY);
	/* The writer goes on; the reader sees the new records. */
	append_range(wt, 300, 2000, 10);
	read_range(rt, 250, 2000);
	rill_topic_close(rt);
	OK(rill_store_close(r));
	rill_topic_close(wt);
	OK(rill_store_close(w));
}
END_TEST

/* A partition directory that lost every segment file (the writer always
 * keeps one): a read-only open says so instead of hiding the topic, and a
 * read-write open recreates an empty segment at the log start. */
START_TEST(test_readonly_partition_without_segments)
{
	rill_store *w = open_store();
	rill_config c = small_config("append");
	OK(rill_topic_create(w, "gone", 2, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, w, "gone"));
	append_range(t, 0, 50, 10);
	rill_topic_close(t);
	OK(rill_store_close(w));
	char path[800];
	snprintf(path, sizeof(path), "%s/gone/gone-0/00000000000000000000.log", store_path);
	ck_assert_int_eq(unlink(path), 0);
	rill_options ro = RILL_OPTIONS_INIT;
	ro.flags = RILL_OPEN_READONLY;
	rill_store *r = NULL;
	FAILS(rill_store_open(&r, store_path, &ro), RILL_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(rill_errmsg(), "gone-0"));
	ck_assert_ptr_nonnull(strstr(rill_errmsg(), "no segment"));
	w = open_store();
	OK(rill_topic_open(&t, w, "gone"));
	rill_append_info info;
	OK(rill_append(&info, t, 0, &(rill_record){.value = "x", .value_len = 1}, 1, 0));
	rill_topic_close(t);
	OK(rill_store_close(w));
	OK(rill_store_open(&r, store_path, &ro));
	OK(rill_topic_open(&t, r, "gone"));
	rill_reader *rd = NULL;
	OK(rill_reader_open(&rd, t, 0, RILL_START_EARLIEST));
	rill_record rec;
	OK(rill_reader_next(rd, &rec));
	ck_assert_uint_eq(rec.offset, info.base_offset);
	rill_reader_close(rd);
	rill_topic_close(t);
	OK(rill_store_close(r));
}
END_TEST

/* ------------------------------------------------------------- corruption */

START_TEST(test_corruption_is_reported_not_returned)
{
	rill_store *s = open_store();
	rill_config c = small_config("append");
	OK(rill_topic_create(s, "cor", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "cor"));
	append_range(t, 0, 200, 10);
	rill_topic_close(t);
	OK(rill_store_close(s));
	/* Flip one byte in the middle of the first segment. */
	char path[800];
	snprintf(path, sizeof(path), "%s/cor/cor-0/00000000000000000000.log", store_path);
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	unsigned char byte;
	ck_assert_int_eq(pread(fd, &byte, 1, 2000), 1);
	byte ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &byte, 1, 2000), 1);
	close(fd);
	s = open_store(); /* clean shutdown: no scan, open succeeds */
	OK(rill_topic_open(&t, s, "cor"));
	rill_reader *r = NULL;
	OK(rill_reader_open(&r, t, 0, 0));
	rill_record rec;
	int rc = 0;
	uint64_t n = 0;
	while ((rc = rill_reader_next(r, &rec)) == 0) {
		check_record(&rec, n);
		n++;
	}
	ck_assert_int_eq(rc, RILL_ECORRUPT);
	ck_assert(strstr(rill_errmsg(), "cor-0") != NULL);
	rill_reader_close(r);
	uint64_t batches = 0, problems = 0;
	FAILS(rill_verify(s, "cor", NULL, NULL, &batches, &problems), RILL_ECORRUPT);
	ck_assert_uint_eq(problems, 1);
	ck_assert_uint_eq(batches, 19);
	FAILS(rill_verify(s, "nope", NULL, NULL, NULL, NULL), RILL_ENOTFOUND);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST

START_TEST(test_unclean_shutdown_recovers_tail)
{
	rill_store *s = open_store();
	rill_config c = small_config("append");
	OK(rill_topic_create(s, "un", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "un"));
	append_range(t, 0, 500, 10);
	rill_topic_close(t);
	OK(rill_store_close(s));
	/* Simulate a torn tail: garbage after the last batch, no clean marker. */
	char path[800];
	snprintf(path, sizeof(path), "%s/.clean-shutdown", store_path);
	ck_assert_int_eq(unlink(path), 0);
	char seg[800];
	snprintf(seg, sizeof(seg), "%s/un/un-0", store_path);
	/* find the last segment */
	char last[900] = "";
	FILE *ls;
	char cmd[1000];
	snprintf(cmd, sizeof(cmd), "ls %s/*.log | tail -1", seg);
	ls = popen(cmd, "r");
	ck_assert(fgets(last, sizeof(last), ls) != NULL);
	pclose(ls);
	last[strcspn(last, "\n")] = '\0';
	int fd = open(last, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "garbage-garbage-garbage-garbage-garbage-garbage-garbage-garbage-garbage-garbage-", 80), 80);
	close(fd);
	s = open_store();
	OK(rill_topic_open(&t, s, "un"));
	read_range(t, 0, 500);
	rill_partition_stats ps;
	OK(rill_partition_stats_get(&ps, t, 0));
	ck_assert_uint_eq(ps.recovered_bytes_cut, 80);
	append_range(t, 500, 600, 10);
	read_range(t, 0, 600);
	rill_topic_close(t);
	OK(rill_store_close(s));
}
END_TEST


/* ---------------------------------------------- background, stats, misc */

static void advance_clock_log(void *ctx, int level, const char *message)
{
	(void)level;
	if (strstr(message, "deleted segment") != NULL)
		atomic_fetch_add((atomic_int *)ctx, 1);
}

START_TEST(test_background_thread_and_stats)
{
	ck_assert_uint_eq(rill_version_number(), RILL_VERSION_NUMBER);
	ck_assert_str_eq(rill_version_string(), RILL_VERSION_STRING);
	ck_assert_ptr_nonnull(rill_io_posix());
	ck_assert_str_eq(rill_strerror(RILL_ELOCKED), "store is locked by another writer");
	ck_assert_str_eq(rill_strerror(12345), "unknown error");
	/* Counted by the background thread's log callback: an atomic, and
	 * waited for below rather than assumed to precede the log start. */
	atomic_int deletions = 0;
	rill_options o = RILL_OPTIONS_INIT;
	o.log = advance_clock_log;
	o.log_ctx = &deletions;
	rill_store *s = NULL;
	OK(rill_store_open(&s, store_path, &o));
	rill_config c = small_config("interval");
	OK(rill_config_set(&c, "flush.messages", "1000000"));
	OK(rill_config_set(&c, "flush.ms", "1"));
	OK(rill_config_set(&c, "retention.ms", "1000"));
	OK(rill_topic_create(s, "bg", 1, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "bg"));
	append_range(t, 0, 600, 10); /* 2023 timestamps: expired */
	FAILS(rill_store_start_background(s, 0), RILL_EINVAL);
	OK(rill_store_start_background(s, 5));
	FAILS(rill_store_start_background(s, 5), RILL_EINVAL);
	/* The thread flushes (interval durability) and applies retention. */
	rill_offsets off;
	for (int i = 0; i < 400; i++) {
		OK(rill_partition_offsets(&off, t, 0));
		if (off.log_start == 600 && off.durable == 600 && atomic_load(&deletions) > 0)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(off.durable, 600);
	ck_assert_uint_eq(off.log_start, 600);
	ck_assert_int_gt(atomic_load(&deletions), 0);
	rill_store_stats st;
	OK(rill_store_stats_get(&st, s));
	ck_assert_uint_eq(st.topics, 1);
	ck_assert_uint_eq(st.partitions, 1);
	ck_assert_uint_eq(st.records_appended, 600);
	ck_assert_uint_ge(st.fsyncs, 1);
	ck_assert_uint_le(st.open_files, 4); /* only what is in use stays open */
	FAILS(rill_store_stats_get(NULL, s), RILL_EINVAL);
	rill_topic_close(t);
	OK(rill_store_close(s)); /* stops the thread */
}
END_TEST

/* After an unclean stop a topic of many partitions recovers them from
 * several threads: one whose directory is missing fails the open with that
 * partition's message (not another thread's), and the partitions already
 * opened are closed again (no leak under `make asan`). */
START_TEST(test_parallel_open_reports_the_failing_partition)
{
	enum { PARTITIONS = 40 };
	rill_store *s = open_store();
	rill_config c = small_config("os");
	OK(rill_topic_create(s, "t", PARTITIONS, &c));
	OK(rill_store_close(s));
	char gone[700];
	snprintf(gone, sizeof(gone), "%s/t/t-33", store_path);
	tu_rmrf(gone);
	snprintf(gone, sizeof(gone), "%s/.clean-shutdown", store_path); /* as after kill -9 */
	ck_assert_int_eq(unlink(gone), 0);
	s = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	FAILS(rill_store_open(&s, store_path, &o), RILL_ECORRUPT);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(rill_errmsg(), "t-33 is missing") != NULL, "%s", rill_errmsg());
}
END_TEST

/* A topic of many partitions closes them, and recovers them after an
 * unclean stop, from several threads, here with a small file cache
 * (partitions evict each other's descriptors) and readers the host left
 * open; everything appended is there after the unclean and the clean
 * reopen. Under `make tsan` this checks the threads share nothing
 * unguarded. */
START_TEST(test_concurrent_close_of_many_partitions)
{
	enum { PARTITIONS = 80 };
	rill_store *s = NULL;
	rill_options o = RILL_OPTIONS_INIT;
	o.max_open_files = 16;
	OK(rill_store_open(&s, store_path, &o));
	rill_config c = small_config("os");
	OK(rill_topic_create(s, "t", PARTITIONS, &c));
	rill_topic *t = NULL;
	OK(rill_topic_open(&t, s, "t"));
	char v[64];
	for (int32_t p = 0; p < PARTITIONS; p++) {
		for (int32_t i = 0; i <= p % 7; i++) {
			snprintf(v, sizeof(v), "p%d-r%d", (int)p, (int)i);
			rill_record r = {.value = v, .value_len = strlen(v), .timestamp_ms = RILL_TIMESTAMP_NOW};
			OK(rill_append(NULL, t, p, &r, 1, 0));
		}
	}
	rill_reader *left_open[4];
	for (int i = 0; i < 4; i++)
		OK(rill_reader_open(&left_open[i], t, i * 20, RILL_START_EARLIEST));
	OK(rill_store_close(s)); /* frees the readers and the handle */

	/* Once as after kill -9 (every partition recovers, from several
	 * threads), then after the clean close that follows. */
	char marker[700];
	snprintf(marker, sizeof(marker), "%s/.clean-shutdown", store_path);
	ck_assert_int_eq(unlink(marker), 0);
	for (int clean = 0; clean < 2; clean++) {
		OK(rill_store_open(&s, store_path, &o));
		rill_store_stats st;
		OK(rill_store_stats_get(&st, s));
		ck_assert_int_eq(st.clean_open, clean);
		OK(rill_topic_open(&t, s, "t"));
		for (int32_t p = 0; p < PARTITIONS; p++) {
			rill_reader *r = NULL;
			OK(rill_reader_open(&r, t, p, RILL_START_EARLIEST));
			rill_record rec;
			for (int32_t i = 0; i <= p % 7; i++) {
				OK(rill_reader_next(r, &rec));
				snprintf(v, sizeof(v), "p%d-r%d", (int)p, (int)i);
				ck_assert_uint_eq(rec.value_len, strlen(v));
				ck_assert(memcmp(rec.value, v, rec.value_len) == 0);
			}
			FAILS(rill_reader_next(r, &rec), RILL_EAGAIN);
			rill_reader_close(r);
		}
		rill_topic_close(t);
		OK(rill_store_close(s));
	}
}
END_TEST

Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("api");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_store_open_creates_and_locks);
	tcase_add_test(tc, test_store_lock_across_processes);
	tcase_add_test(tc, test_store_open_bad_arguments);
	tcase_add_test(tc, test_store_permissions);
	tcase_add_test(tc, test_topic_names_validated);
	tcase_add_test(tc, test_topic_lifecycle);
	tcase_add_test(tc, test_topic_config_persists_and_alters);
	tcase_add_test(tc, test_roundtrip_plain_single);
	tcase_add_test(tc, test_roundtrip_plain_batches);
	tcase_add_test(tc, test_roundtrip_zstd_batches);
	tcase_add_test(tc, test_reader_ranges_and_seek);
	tcase_add_test(tc, test_reader_read_bulk);
	tcase_add_test(tc, test_idle_readers_hold_no_descriptors);
	tcase_add_test(tc, test_append_errors);
	tcase_add_test(tc, test_partitioners);
	tcase_add_test(tc, test_durability_modes);
	tcase_add_test(tc, test_retention_by_size_and_offset);
	tcase_add_loop_test(tc, test_retention_bytes_kafka_bound, 0,
	                    (int)(sizeof(retention_sealed_kept) / sizeof(retention_sealed_kept[0]) *
	                          sizeof(retention_offsets) / sizeof(retention_offsets[0])));
	tcase_add_test(tc, test_retention_by_time);
	tcase_add_test(tc, test_retention_by_time_of_one_batch_segments_after_reopen);
	tcase_add_test(tc, test_evicted_sealed_segment_keeps_its_index);
	tcase_add_test(tc, test_eviction_writes_back_in_rounds);
	tcase_add_test(tc, test_options_version_2_sync_on_eviction);
	tcase_add_test(tc, test_writeback_unsupported_syncs_instead);
	tcase_add_test(tc, test_reader_wait_and_fd);
	tcase_add_test(tc, test_readonly_beside_writer);
	tcase_add_test(tc, test_readonly_partition_without_segments);
	tcase_add_test(tc, test_corruption_is_reported_not_returned);
	tcase_add_test(tc, test_unclean_shutdown_recovers_tail);
	tcase_add_test(tc, test_background_thread_and_stats);
	tcase_add_test(tc, test_parallel_open_reports_the_failing_partition);
	suite_add_tcase(s, tc);
	TCase *cc = tcase_create("concurrency");
	tcase_add_checked_fixture(cc, setup, teardown);
	tcase_set_timeout(cc, 120);
	tcase_add_test(cc, test_concurrent_append_and_read);
	tcase_add_test(cc, test_concurrent_retention);
	tcase_add_test(cc, test_concurrent_delete_records);
	tcase_add_test(cc, test_concurrent_point_reads_under_retention);
	tcase_add_test(cc, test_concurrent_point_reads_small_file_cache);
	tcase_add_test(cc, test_concurrent_point_reads_into_batches_small_batch_cache);
	tcase_add_test(cc, test_concurrent_alter);
	tcase_add_test(cc, test_concurrent_reader_churn_small_file_cache);
	tcase_add_test(cc, test_concurrent_verify_under_retention);
	tcase_add_test(cc, test_concurrent_add_partitions);
	tcase_add_test(cc, test_concurrent_close_of_many_partitions);
	suite_add_tcase(s, cc);
	return s;
}
