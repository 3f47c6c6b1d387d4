/*
 * check_batch.c — the record batch codec (lib/batch.c): what it writes is
 * what docs/FORMAT.md says, what it reads back is what was written, and no
 * damaged batch is ever accepted.
 *
 * How:
 *   - round trips of one and many records (random shapes from a printed
 *     seed) with and without keys, null and empty values, headers with null
 *     values and empty names, negative timestamp deltas, under codec none
 *     and zstd, CreateTime and LogAppendTime; every field is compared;
 *   - golden bytes for one record and one header, fixed by the format;
 *   - the size limit at exactly max.message.bytes and one byte over;
 *   - every header check of rill__batch_parse_header, one mutation each,
 *     with the message it must give;
 *   - the checksum: every single-bit flip of a small batch is caught (both
 *     codecs), and it is bound to the partition key and the base offset;
 *   - zero-filled and truncated input, hand-built records sections with
 *     malformed varints and lengths, records_size mismatches, and zstd
 *     frames that would decompress past records_size (bombs);
 *   - allocation: none in steady-state encode and decode (counted by the
 *     allocation hook, zstd's own included), and every failed allocation
 *     returns RILL_ENOMEM and leaks nothing.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_contentSizeFlag with ZSTD_compress2 */
#include <xxhash.h>
#include <zstd.h>

#include "batch.h"
#include "checksum.h"
#include "test_util.h"

#define NOW_MS INT64_C(1700000000000)
#define KAFKA_MAX_MESSAGE_BYTES 1048588u
#define BATCH_BUF_MAX 4096

static uint64_t test_key(void)
{
	return rill__partition_key("orders", 3);
}

static rill_batch_params default_params(int compression)
{
	rill_batch_params p;
	memset(&p, 0, sizeof(p));
	p.compression = compression;
	p.zstd_level = 3;
	p.timestamp_type = RILL_TIMESTAMP_CREATE_TIME;
	p.now_ms = NOW_MS;
	p.leader_epoch = -1;
	p.producer_id = -1;
	p.producer_epoch = -1;
	p.base_sequence = -1;
	p.partition_key = test_key();
	p.max_batch_bytes = KAFKA_MAX_MESSAGE_BYTES;
	return p;
}

static const int codecs[] = {RILL_COMPRESSION_NONE, RILL_COMPRESSION_ZSTD};

/* Encode and seal at base_offset; fails the test on error. */
static uint8_t *encode_sealed(rill_batch_encoder *enc, const rill_record *records,
                              size_t count, const rill_batch_params *params,
                              uint64_t base_offset, size_t *out_size)
{
	uint8_t *batch = NULL;
	uint64_t hash = 0;
	int rc = rill__batch_encode(enc, records, count, params, &batch, out_size, &hash);
	ck_assert_msg(rc == 0, "encode: %d %s", rc, rill_errmsg());
	rill__batch_seal(batch, base_offset, INT64_MIN, hash);
	return batch;
}

static void expect_bytes(const void *got, size_t got_len, const void *want,
                         size_t want_len, const char *what, size_t index)
{
	if (want == NULL) {
		ck_assert_msg(got == NULL, "record %zu: %s should be null", index, what);
		ck_assert_uint_eq(got_len, 0);
		return;
	}
	ck_assert_msg(got != NULL, "record %zu: %s should not be null", index, what);
	ck_assert_msg(got_len == want_len, "record %zu: %s length %zu, want %zu", index,
	              what, got_len, want_len);
	ck_assert_msg(want_len == 0 || memcmp(got, want, want_len) == 0,
	              "record %zu: %s bytes differ", index, what);
}

/* Decode the batch and compare with the records it was encoded from. */
static void expect_records(rill_batch_decoder *dec, const uint8_t *batch, size_t size,
                           const rill_record *want, size_t count,
                           uint64_t base_offset, int64_t log_append_ms)
{
	rill_record got;
	int rc = rill__batch_decoder_start(dec, batch, size);
	ck_assert_msg(rc == 0, "start: %s", rill_errmsg());
	for (size_t i = 0; i < count; i++) {
		rc = rill__batch_decoder_next(dec, &got);
		ck_assert_msg(rc == 0, "record %zu: %d %s", i, rc, rill_errmsg());
		ck_assert_uint_eq(got.offset, base_offset + i);
		int64_t ts = want[i].timestamp_ms == RILL_TIMESTAMP_NOW ? NOW_MS
		                                                        : want[i].timestamp_ms;
		if (log_append_ms != INT64_MIN)
			ts = log_append_ms;
		ck_assert_int_eq(got.timestamp_ms, ts);
		expect_bytes(got.key, got.key_len, want[i].key, want[i].key_len, "key", i);
		expect_bytes(got.value, got.value_len, want[i].value, want[i].value_len,
		             "value", i);
		ck_assert_uint_eq(got.header_count, want[i].header_count);
		for (size_t h = 0; h < want[i].header_count; h++) {
			const rill_header *wh = &want[i].headers[h];
			const rill_header *gh = &got.headers[h];
			ck_assert_ptr_nonnull(gh->name);
			expect_bytes(gh->name, gh->name_len, wh->name_len ? wh->name : "",
			             wh->name_len, "header name", i);
			expect_bytes(gh->value, gh->value_len, wh->value, wh->value_len,
			             "header value", i);
		}
	}
	rc = rill__batch_decoder_next(dec, &got);
	ck_assert_msg(rc == RILL_EAGAIN, "after the last record: %d %s", rc, rill_errmsg());
	ck_assert_int_eq(rill__batch_decoder_next(dec, &got), RILL_EAGAIN);
}

static void expect_error(int rc, int code, const char *needle)
{
	ck_assert_msg(rc == code, "got %d (%s), want %d", rc, rill_errmsg(), code);
	ck_assert_msg(strstr(rill_errmsg(), needle) != NULL,
	              "message \"%s\" lacks \"%s\"", rill_errmsg(), needle);
}

/* Build a batch around a hand-made records section and seal it. */
static size_t make_batch(uint8_t *out, const uint8_t *section, size_t section_size,
                         uint32_t count, uint32_t records_size, uint16_t attributes,
                         int64_t first_ts, int64_t max_ts)
{
	ck_assert_uint_le(RILL_BATCH_HEADER_SIZE + section_size, BATCH_BUF_MAX);
	memset(out, 0, RILL_BATCH_HEADER_SIZE);
	rill__put_u32(out + 8, (uint32_t)(60 + section_size));
	rill__put_u32(out + 12, UINT32_MAX);
	out[16] = RILL_BATCH_MAGIC;
	rill__put_u16(out + 18, attributes);
	rill__put_u32(out + 20, count - 1);
	rill__put_u64(out + 24, (uint64_t)first_ts);
	rill__put_u64(out + 32, (uint64_t)max_ts);
	rill__put_u64(out + 40, UINT64_MAX);
	rill__put_u16(out + 48, UINT16_MAX);
	rill__put_u32(out + 52, UINT32_MAX);
	rill__put_u32(out + 56, count);
	rill__put_u32(out + 60, records_size);
	memcpy(out + RILL_BATCH_HEADER_SIZE, section, section_size);
	rill__batch_seal(out, 0, INT64_MIN,
	                 XXH3_64bits_withSeed(section, section_size, test_key()));
	return RILL_BATCH_HEADER_SIZE + section_size;
}

static size_t hex_bytes(uint8_t *out, size_t capacity, const char *hex)
{
	size_t n = 0;
	unsigned byte;
	int used;
	while (sscanf(hex, " %2x%n", &byte, &used) == 1) {
		ck_assert_uint_lt(n, capacity);
		out[n++] = (uint8_t)byte;
		hex += used;
	}
	return n;
}

/* ------------------------------------------------------------ round trips */

START_TEST(test_one_record)
{
	rill_batch_params params = default_params(codecs[_i]);
	rill_batch_encoder *enc;
	rill_batch_decoder *dec;
	rill_record r = {"key", 3, "value", 5, NULL, 0, 1234, 0};
	size_t size;
	rill_batch_header h;

	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	uint8_t *batch = encode_sealed(enc, &r, 1, &params, 42, &size);
	ck_assert_int_eq(rill__batch_verify(batch, size, params.partition_key), 0);
	ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
	ck_assert_uint_eq(h.base_offset, 42);
	ck_assert_uint_eq(rill__batch_total_size(&h), size);
	ck_assert_uint_eq(h.record_count, 1);
	ck_assert_uint_eq(h.last_offset_delta, 0);
	ck_assert_int_eq(h.first_timestamp, 1234);
	ck_assert_int_eq(h.max_timestamp, 1234);
	ck_assert_int_eq(h.leader_epoch, -1);
	ck_assert_int_eq(h.producer_id, -1);
	ck_assert_int_eq(h.producer_epoch, -1);
	ck_assert_int_eq(h.base_sequence, -1);
	/* 15 bytes: too small for zstd to win, stored raw either way */
	ck_assert_uint_eq(h.attributes, 0);
	ck_assert_uint_eq(h.records_size, 15);
	expect_records(dec, batch, size, &r, 1, 42, INT64_MIN);
	ck_assert_int_eq(rill__batch_check_records(dec, batch, size), 0);
	/* uncompressed: the record points into the batch itself (zero copy) */
	rill_record got;
	ck_assert_int_eq(rill__batch_decoder_start(dec, batch, size), 0);
	ck_assert_int_eq(rill__batch_decoder_next(dec, &got), 0);
	ck_assert_ptr_eq(got.key, batch + size - 10);
	ck_assert_ptr_eq(got.value, batch + size - 6);
	rill__batch_decoder_free(dec);
	rill__batch_encoder_free(enc);
}
END_TEST

/* Random records: keys, null keys, tombstones, empty values, headers with
 * empty names and null values, timestamps before and after the first. */
typedef struct record_set {
	rill_record *records;
	rill_header *headers;
	uint8_t *arena;
	size_t count;
} record_set;

static void make_records(record_set *set, size_t count, uint64_t seed, size_t value_max)
{
	uint64_t state = seed;
	size_t arena_size = count * (value_max + 64 + 4 * 24);
	set->records = calloc(count, sizeof(rill_record));
	set->headers = calloc(count * 4, sizeof(rill_header));
	set->arena = malloc(arena_size);
	set->count = count;
	ck_assert(set->records && set->headers && set->arena);
	tu_fill(set->arena, arena_size, seed, 0);
	for (size_t i = 0; i < arena_size; i++) /* 2 bits a byte: zstd wins */
		set->arena[i] = (uint8_t)('a' + (set->arena[i] & 3));
	uint8_t *p = set->arena;
	for (size_t i = 0; i < count; i++) {
		rill_record *r = &set->records[i];
		uint64_t x = tu_rand(&state);
		if (x % 5 != 0) { /* 1 in 5 without a key */
			r->key = p;
			r->key_len = (size_t)(x >> 8) % 40;
			p += r->key_len;
		}
		if (x % 7 == 0) {
			r->value = NULL; /* tombstone */
		} else {
			r->value = p;
			r->value_len = (x % 11 == 0) ? 0 : (size_t)(x >> 16) % (value_max + 1);
			p += r->value_len;
		}
		r->header_count = (size_t)(x >> 24) % 5;
		r->headers = r->header_count ? &set->headers[i * 4] : NULL;
		if (r->header_count == 4)
			r->header_count = 0; /* keep 0 common */
		for (size_t h = 0; h < r->header_count; h++) {
			rill_header *hd = &set->headers[i * 4 + h];
			uint64_t y = tu_rand(&state);
			hd->name_len = (size_t)y % 12; /* 0: empty name */
			hd->name = hd->name_len ? (const char *)p : NULL;
			p += hd->name_len;
			if (y % 3 == 0) {
				hd->value = NULL;
			} else {
				hd->value = p;
				hd->value_len = (size_t)(y >> 8) % 12;
				p += hd->value_len;
			}
		}
		int64_t jitter = (int64_t)(tu_rand(&state) % 2000000) - 1000000;
		r->timestamp_ms = (x % 13 == 0) ? RILL_TIMESTAMP_NOW : NOW_MS + jitter;
	}
	ck_assert_uint_le((size_t)(p - set->arena), arena_size);
}

static void free_records(record_set *set)
{
	free(set->records);
	free(set->headers);
	free(set->arena);
}

START_TEST(test_many_records)
{
	rill_batch_params params = default_params(codecs[_i]);
	uint64_t seed = tu_seed("test_many_records");
	rill_batch_encoder *enc;
	rill_batch_decoder *dec;
	record_set set;
	size_t size;
	rill_batch_header h;

	params.max_batch_bytes = RILL_MESSAGE_BYTES_MAX;
	params.leader_epoch = 7;
	params.producer_id = 99;
	params.producer_epoch = 3;
	params.base_sequence = 5;
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	for (size_t count = 1; count <= 3000; count *= 7) {
		make_records(&set, count, seed + count, 300);
		uint8_t *batch = encode_sealed(enc, set.records, count, &params, 1000, &size);
		ck_assert_int_eq(rill__batch_verify(batch, size, params.partition_key), 0);
		ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
		ck_assert_uint_eq(h.record_count, count);
		ck_assert_int_eq(h.leader_epoch, 7);
		ck_assert_int_eq(h.producer_id, 99);
		ck_assert_int_eq(h.producer_epoch, 3);
		ck_assert_int_eq(h.base_sequence, 5);
		int64_t first = set.records[0].timestamp_ms == RILL_TIMESTAMP_NOW
		                        ? NOW_MS : set.records[0].timestamp_ms;
		int64_t max = INT64_MIN;
		for (size_t i = 0; i < count; i++) {
			int64_t ts = set.records[i].timestamp_ms == RILL_TIMESTAMP_NOW
			                     ? NOW_MS : set.records[i].timestamp_ms;
			max = ts > max ? ts : max;
		}
		ck_assert_int_eq(h.first_timestamp, first);
		ck_assert_int_eq(h.max_timestamp, max);
		if (params.compression == RILL_COMPRESSION_ZSTD && count > 10) {
			ck_assert_uint_eq(h.attributes & RILL_BATCH_ATTR_COMPRESSION_MASK, 4);
			ck_assert_uint_lt(size - RILL_BATCH_HEADER_SIZE, h.records_size);
		}
		expect_records(dec, batch, size, set.records, count, 1000, INT64_MIN);
		free_records(&set);
	}
	rill__batch_decoder_free(dec);
	rill__batch_encoder_free(enc);
}
END_TEST

START_TEST(test_null_versus_empty)
{
	rill_batch_params params = default_params(codecs[_i]);
	rill_batch_encoder *enc;
	rill_batch_decoder *dec;
	rill_header hdrs[] = {
		{"", 0, "", 0},          /* empty name, empty value */
		{NULL, 0, NULL, 0},      /* empty name, null value */
		{"trace", 5, NULL, 0},   /* null value */
		{"trace", 5, "abc", 3},  /* repeated names are kept */
	};
	rill_record r[] = {
		{NULL, 0, NULL, 0, NULL, 0, 5, 0},   /* null key, tombstone */
		{"", 0, "", 0, NULL, 0, 5, 0},       /* empty key, empty value */
		{"k", 1, NULL, 0, hdrs, 4, 5, 0},    /* tombstone with headers */
		{NULL, 0, "v", 1, hdrs, 1, 5, 0},
	};
	size_t size;

	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	uint8_t *batch = encode_sealed(enc, r, 4, &params, 0, &size);
	expect_records(dec, batch, size, r, 4, 0, INT64_MIN);
	rill__batch_decoder_free(dec);
	rill__batch_encoder_free(enc);
}
END_TEST

START_TEST(test_many_headers)
{
	rill_batch_params params = default_params(codecs[_i]);
	rill_batch_encoder *enc;
	rill_batch_decoder *dec;
	static rill_header hdrs[3000];
	rill_record r[2] = {
		{"a", 1, "b", 1, hdrs, 10, 1, 0},
		{"a", 1, "b", 1, hdrs, 3000, 1, 0}, /* grows the decoder's array */
	};
	size_t size;

	for (size_t i = 0; i < 3000; i++) {
		hdrs[i].name = "h";
		hdrs[i].name_len = 1;
		hdrs[i].value = (i % 2) ? "x" : NULL;
		hdrs[i].value_len = (i % 2) ? 1 : 0;
	}
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	uint8_t *batch = encode_sealed(enc, r, 2, &params, 0, &size);
	expect_records(dec, batch, size, r, 2, 0, INT64_MIN);
	rill__batch_decoder_free(dec);
	rill__batch_encoder_free(enc);
}
END_TEST

START_TEST(test_timestamps)
{
	rill_batch_params params = default_params(codecs[_i]);
	rill_batch_encoder *enc;
	rill_batch_decoder *dec;
	rill_batch_header h;
	size_t size;
	rill_record r[] = {
		{NULL, 0, "v", 1, NULL, 0, 1000, 0},
		{NULL, 0, "v", 1, NULL, 0, 5, 0},                   /* negative delta */
		{NULL, 0, "v", 1, NULL, 0, RILL_TIMESTAMP_NOW, 0},  /* now_ms */
		{NULL, 0, "v", 1, NULL, 0, -1, 0},                  /* Kafka's "none" */
		{NULL, 0, "v", 1, NULL, 0, 999, 0},
	};

	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	uint8_t *batch = encode_sealed(enc, r, 5, &params, 0, &size);
	ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
	ck_assert_int_eq(h.first_timestamp, 1000);
	ck_assert_int_eq(h.max_timestamp, NOW_MS);
	expect_records(dec, batch, size, r, 5, 0, INT64_MIN);

	/* the extremes: deltas of almost 2^64 */
	rill_record ext[] = {
		{NULL, 0, NULL, 0, NULL, 0, INT64_MIN + 1, 0},
		{NULL, 0, NULL, 0, NULL, 0, -1, 0},
		{NULL, 0, NULL, 0, NULL, 0, 0, 0},
	};
	batch = encode_sealed(enc, ext, 3, &params, 0, &size);
	expect_records(dec, batch, size, ext, 3, 0, INT64_MIN);
	rill_record ext2[] = {
		{NULL, 0, NULL, 0, NULL, 0, INT64_MAX, 0},
		{NULL, 0, NULL, 0, NULL, 0, 0, 0},
	};
	batch = encode_sealed(enc, ext2, 2, &params, 0, &size);
	expect_records(dec, batch, size, ext2, 2, 0, INT64_MIN);

	/* a delta that does not fit int64 */
	rill_record far[] = {
		{NULL, 0, NULL, 0, NULL, 0, INT64_MIN + 1, 0},
		{NULL, 0, NULL, 0, NULL, 0, INT64_MAX, 0},
	};
	uint8_t *out;
	uint64_t hash;
	expect_error(rill__batch_encode(enc, far, 2, &params, &out, &size, &hash),
	             RILL_EINVAL, "record 1: timestamp");
	far[0].timestamp_ms = INT64_MAX;
	far[1].timestamp_ms = -2;
	expect_error(rill__batch_encode(enc, far, 2, &params, &out, &size, &hash),
	             RILL_EINVAL, "too far");
	rill__batch_decoder_free(dec);
	rill__batch_encoder_free(enc);
}
END_TEST

START_TEST(test_log_append_time)
{
	rill_batch_params params = default_params(codecs[_i]);
	rill_batch_encoder *enc;
	rill_batch_decoder *dec;
	rill_batch_header h;
	uint8_t *batch;
	size_t size;
	uint64_t hash;
	rill_record r[] = {
		{"a", 1, "v", 1, NULL, 0, NOW_MS + 5000, 0}, /* producer clock ahead */
		{"b", 1, "v", 1, NULL, 0, 17, 0},
		{"c", 1, "v", 1, NULL, 0, RILL_TIMESTAMP_NOW, 0},
	};

	params.timestamp_type = RILL_TIMESTAMP_LOG_APPEND_TIME;
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	ck_assert_int_eq(rill__batch_encode(enc, r, 3, &params, &batch, &size, &hash), 0);
	rill__batch_seal(batch, 10, INT64_MIN, hash);
	ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
	ck_assert_uint_eq(h.attributes & RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND,
	                  RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND);
	ck_assert_int_eq(h.first_timestamp, NOW_MS + 5000); /* producer's, kept */
	ck_assert_int_eq(h.max_timestamp, NOW_MS);          /* below first: allowed */
	ck_assert_int_eq(rill__batch_verify(batch, size, params.partition_key), 0);
	expect_records(dec, batch, size, r, 3, 10, NOW_MS);

	/* the partition stamps its own clock at seal */
	rill__batch_seal(batch, 20, NOW_MS + 77, hash);
	ck_assert_int_eq(rill__batch_verify(batch, size, params.partition_key), 0);
	expect_records(dec, batch, size, r, 3, 20, NOW_MS + 77);

	/* LogAppendTime needs a clock reading */
	params.now_ms = RILL_TIMESTAMP_NOW;
	expect_error(rill__batch_encode(enc, r, 2, &params, &batch, &size, &hash),
	             RILL_EINVAL, "now_ms");
	rill__batch_decoder_free(dec);
	rill__batch_encoder_free(enc);
}
END_TEST

/* ------------------------------------------------------------ golden bytes */

START_TEST(test_golden_bytes)
{
	rill_batch_params params = default_params(RILL_COMPRESSION_NONE);
	rill_batch_encoder *enc;
	rill_header hd = {"h", 1, NULL, 0};
	rill_record r[] = {
		{"k", 1, "v", 1, NULL, 0, 1000, 0},
		{NULL, 0, NULL, 0, &hd, 1, 999, 0},
	};
	uint8_t want[64];
	size_t size;

	params.leader_epoch = 2;
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	uint8_t *batch = encode_sealed(enc, r, 2, &params, 0x0102, &size);
	/* header, as docs/FORMAT.md's example */
	size_t n = hex_bytes(want, sizeof(want),
		"02 01 00 00 00 00 00 00  4f 00 00 00  02 00 00 00  01 00 00 00  01 00 00 00"
		"e8 03 00 00 00 00 00 00  e8 03 00 00 00 00 00 00"
		"ff ff ff ff ff ff ff ff  ff ff 00 00  ff ff ff ff  02 00 00 00  13 00 00 00");
	ck_assert_uint_eq(n, 64);
	ck_assert_int_eq(memcmp(batch, want, 64), 0);
	/* record 0: length 8, attrs, ts delta 0, offset delta 0, key "k",
	 * value "v", no headers. record 1: length 8, ts delta -1, offset
	 * delta 1, null key, null value, one header "h" with a null value. */
	n = hex_bytes(want, sizeof(want),
		"10 00 00 00 02 6b 02 76 00"
		"12 00 01 02 01 01 02 02 68 01");
	ck_assert_uint_eq(size, RILL_BATCH_HEADER_SIZE + n);
	ck_assert_int_eq(memcmp(batch + RILL_BATCH_HEADER_SIZE, want, n), 0);
	/* the checksum, by its definition */
	uint64_t hash = XXH3_64bits_withSeed(batch + 72, n, test_key());
	ck_assert_uint_eq(rill__get_u64(batch + 64), XXH3_64bits_withSeed(batch, 64, hash));
	/* the values docs/FORMAT.md prints: XXH3's output is stable */
	ck_assert_uint_eq(test_key(), 0xd6c17718c8054d23ull);
	ck_assert_uint_eq(hash, 0x7db2adb3889c14eaull);
	ck_assert_uint_eq(rill__get_u64(batch + 64), 0x29ef88e76a7b02f0ull);
	ck_assert_uint_eq(test_key(), XXH3_64bits("orders/3", 8));
	ck_assert_uint_eq(rill__partition_key("t", -1), XXH3_64bits("t/-1", 4));
	ck_assert_uint_ne(rill__partition_key("t", 10), rill__partition_key("t1", 0));
	rill__batch_encoder_free(enc);
}
END_TEST

/* ----------------------------------------------------------- size limits */

START_TEST(test_size_limit)
{
	rill_batch_params params = default_params(RILL_COMPRESSION_NONE);
	rill_batch_encoder *enc;
	static uint8_t value[200000];
	rill_record r = {"k", 1, value, sizeof(value), NULL, 0, 1, 0};
	uint8_t *batch;
	size_t size, exact;
	uint64_t hash;
	char want[128];

	tu_fill(value, sizeof(value), 1, 2);
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_encode(enc, &r, 1, &params, &batch, &exact, &hash), 0);

	params.max_batch_bytes = exact; /* exactly at the limit */
	ck_assert_int_eq(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash), 0);
	ck_assert_uint_eq(size, exact);
	params.max_batch_bytes = exact - 1; /* one over */
	snprintf(want, sizeof(want), "batch of %zu bytes exceeds max.message.bytes=%zu",
	         exact, exact - 1);
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_ETOOBIG, want);
	ck_assert_str_eq(rill_errmsg(), want);

	/* zstd: the limit is on the stored (compressed) size */
	params.compression = RILL_COMPRESSION_ZSTD;
	memset(value, 'x', sizeof(value));
	ck_assert_int_eq(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash), 0);
	ck_assert_uint_lt(size, 1000);
	params.max_batch_bytes = size;
	ck_assert_int_eq(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash), 0);
	params.max_batch_bytes = size - 1;
	snprintf(want, sizeof(want), "batch of %zu bytes exceeds max.message.bytes=%zu",
	         size, size - 1);
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_ETOOBIG, want);
	/* incompressible data under zstd falls back to codec 0 */
	tu_fill(value, sizeof(value), 3, 4);
	params.max_batch_bytes = KAFKA_MAX_MESSAGE_BYTES;
	ck_assert_int_eq(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash), 0);
	ck_assert_uint_eq(size, exact);
	ck_assert_uint_eq(rill__get_u16(batch + 18) & RILL_BATCH_ATTR_COMPRESSION_MASK, 0);

	/* beyond rill's hard cap on a records section, even when compressible */
	static rill_record many[1000];
	static uint8_t big[2u << 20];
	for (size_t i = 0; i < 1000; i++) {
		many[i].value = big;
		many[i].value_len = sizeof(big);
		many[i].timestamp_ms = 1;
	}
	params.max_batch_bytes = RILL_MESSAGE_BYTES_MAX;
	expect_error(rill__batch_encode(enc, many, 1000, &params, &batch, &size, &hash),
	             RILL_ETOOBIG, "uncompressed exceed");
	params.compression = RILL_COMPRESSION_NONE;
	expect_error(rill__batch_encode(enc, many, 1000, &params, &batch, &size, &hash),
	             RILL_ETOOBIG, "exceeds max.message.bytes=1073741824");
	rill__batch_encoder_free(enc);
}
END_TEST

START_TEST(test_encode_rejects_bad_input)
{
	rill_batch_params params = default_params(RILL_COMPRESSION_NONE);
	rill_batch_encoder *enc;
	rill_header hd = {NULL, 3, NULL, 0};
	rill_record r = {"k", 1, "v", 1, NULL, 0, 1, 0};
	uint8_t *batch;
	size_t size;
	uint64_t hash;

	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	expect_error(rill__batch_encode(enc, &r, 0, &params, &batch, &size, &hash),
	             RILL_EINVAL, "0 records");
	expect_error(rill__batch_encode(enc, NULL, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "records is NULL");
	expect_error(rill__batch_encode(enc, &r, 1, NULL, &batch, &size, &hash),
	             RILL_EINVAL, "parameters");
	params.compression = 1; /* gzip: not supported */
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "compression type 1");
	params = default_params(RILL_COMPRESSION_NONE);
	params.timestamp_type = 2;
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "timestamp type 2");
	params = default_params(RILL_COMPRESSION_NONE);

	r.key = NULL; /* NULL with a length */
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "record 0: bad key");
	r.key = "k";
	r.value_len = (size_t)INT32_MAX + 1; /* never read: rejected first */
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "record 0: bad value");
	r.value_len = 1;
	r.header_count = 1; /* headers NULL */
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "headers is NULL");
	r.headers = &hd;
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "header 0: bad name");
	hd.name = "abc";
	hd.value_len = 2;
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "header 0: bad value");
	r.header_count = RILL_HEADERS_PER_RECORD_MAX + 1;
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "headers, above the limit");
	r.header_count = 0;
	r.timestamp_ms = RILL_TIMESTAMP_NOW;
	params.now_ms = RILL_TIMESTAMP_NOW;
	expect_error(rill__batch_encode(enc, &r, 1, &params, &batch, &size, &hash),
	             RILL_EINVAL, "now_ms");
	rill__batch_encoder_free(enc);
}
END_TEST

/* ---------------------------------------------------------- header checks */

typedef struct mutation {
	const char *what;      /* also the expected message fragment */
	size_t at;             /* byte offset */
	size_t width;          /* 1, 2, 4 or 8 */
	uint64_t value;
	size_t at2, width2;    /* an optional second edit (width2 0: none) */
	uint64_t value2;
} mutation;

static void put_width(uint8_t *p, size_t width, uint64_t v)
{
	switch (width) {
	case 1: p[0] = (uint8_t)v; break;
	case 2: rill__put_u16(p, (uint16_t)v); break;
	case 4: rill__put_u32(p, (uint32_t)v); break;
	case 8: rill__put_u64(p, v); break;
	default: ck_abort();
	}
}

/* One mutation per check of rill__batch_parse_header, on a valid
 * 2-record uncompressed batch of 96 bytes (records_size 24). */
static const mutation mutations[] = {
	{"bad magic 0 (expected 1)", 16, 1, 0, 0, 0, 0},
	{"bad magic 2 (expected 1)", 16, 1, 2, 0, 0, 0},
	{"reserved byte 17 is 0x01", 17, 1, 1, 0, 0, 0},
	{"reserved bytes 50-51 are 0x0100", 50, 2, 0x100, 0, 0, 0},
	{"unknown attribute bits 0x0040", 18, 2, 0x40, 0, 0, 0},
	{"unknown attribute bits 0x8000", 18, 2, 0x8000, 0, 0, 0},
	{"unknown compression codec 1", 18, 2, 1, 0, 0, 0},
	{"unknown compression codec 3", 18, 2, 3, 0, 0, 0},
	{"length 0 below the 60-byte minimum", 8, 4, 0, 0, 0, 0},
	{"length 59 below the 60-byte minimum", 8, 4, 59, 0, 0, 0},
	{"-byte batch, above the 96-byte bound", 8, 4, 85, 0, 0, 0},
	{"length 4294967295 makes a 4294967307-byte batch", 8, 4, UINT32_MAX, 0, 0, 0},
	{"record count 0", 56, 4, 0, 0, 0, 0},
	{"record count 2147483648 above the limit", 56, 4, 0x80000000u, 20, 4, 0x7fffffff},
	{"last offset delta 5 does not match record count 2", 20, 4, 5, 0, 0, 0},
	{"last offset delta 0 does not match record count 2", 20, 4, 0, 0, 0, 0},
	{"+ last offset delta 1 overflows", 0, 8, INT64_MAX, 0, 0, 0},
	{"first timestamp is INT64_MIN", 24, 8, (uint64_t)INT64_MIN, 0, 0, 0},
	{"max timestamp is INT64_MIN", 32, 8, (uint64_t)INT64_MIN, 0, 0, 0},
	{"max timestamp 999 below first timestamp 1000", 32, 8, 999, 0, 0, 0},
	{"records size 1073741753 above the limit", 60, 4, 1073741753, 0, 0, 0},
	{"records size 13 too small for 2 records", 60, 4, 13, 0, 0, 0},
	{"records size 25 does not match the 24-byte records section", 60, 4, 25, 0, 0, 0},
	{"records size 23 does not match", 60, 4, 23, 0, 0, 0},
	{"zstd section of 24 bytes for records size 24", 18, 2, 4, 0, 0, 0},
	{"zstd section of 24 bytes for records size 20", 18, 2, 4, 60, 4, 20},
};
#define MUTATION_COUNT ((int)(sizeof(mutations) / sizeof(mutations[0])))

static size_t small_batch(uint8_t *out, int compression, uint64_t base_offset)
{
	rill_batch_params params = default_params(compression);
	rill_batch_encoder *enc;
	rill_record r[] = {
		{"k", 1, "v", 1, NULL, 0, 1000, 0},
		{"key", 3, "value", 5, NULL, 0, 1001, 0},
	};
	size_t size;
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	uint8_t *batch = encode_sealed(enc, r, 2, &params, base_offset, &size);
	memcpy(out, batch, size);
	rill__batch_encoder_free(enc);
	return size;
}

START_TEST(test_parse_header_rejects)
{
	const mutation *m = &mutations[_i];
	uint8_t batch[BATCH_BUF_MAX];
	rill_batch_header h;
	size_t size = small_batch(batch, RILL_COMPRESSION_NONE, 7);

	ck_assert_uint_eq(size, 96);
	ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
	put_width(batch + m->at, m->width, m->value);
	if (m->width2 != 0)
		put_width(batch + m->at2, m->width2, m->value2);
	memset(&h, 0xAB, sizeof(h));
	expect_error(rill__batch_parse_header(batch, size, size, &h), RILL_ECORRUPT, m->what);
	/* the caller's struct is left alone */
	ck_assert_uint_eq(h.base_offset, 0xABABABABABABABABull);
	/* and every path that reads the batch refuses it */
	rill_batch_decoder *dec;
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	ck_assert_int_eq(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT);
	rill__batch_decoder_free(dec);
}
END_TEST

START_TEST(test_parse_header_accepts)
{
	uint8_t batch[BATCH_BUF_MAX];
	rill_batch_header h;
	size_t size = small_batch(batch, RILL_COMPRESSION_NONE, 7);

	expect_error(rill__batch_parse_header(batch, 71, size, &h), RILL_ECORRUPT,
	             "truncated batch header: 71 bytes, need 72");
	expect_error(rill__batch_parse_header(batch, 0, size, &h), RILL_ECORRUPT,
	             "truncated");
	/* only the header is needed: total may exceed avail */
	ck_assert_int_eq(rill__batch_parse_header(batch, 72, size, &h), 0);
	ck_assert_uint_eq(h.base_offset, 7);
	ck_assert_uint_eq(h.length, 84);
	ck_assert_uint_eq(h.magic, 1);
	ck_assert_uint_eq(h.record_count, 2);
	ck_assert_uint_eq(h.records_size, 24);
	ck_assert_uint_eq(h.checksum, rill__get_u64(batch + 64));
	/* known flags and the largest legal offset */
	rill__put_u16(batch + 18, RILL_BATCH_ATTR_TRANSACTIONAL | RILL_BATCH_ATTR_CONTROL);
	rill__put_u64(batch, INT64_MAX - 1);
	ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
	/* LogAppendTime may have max below first */
	rill__put_u16(batch + 18, RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND);
	rill__put_u64(batch + 32, 5);
	ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
}
END_TEST

/* --------------------------------------------------------------- checksum */

START_TEST(test_every_bit_flip_detected)
{
	uint8_t batch[BATCH_BUF_MAX];
	uint8_t copy[BATCH_BUF_MAX];
	size_t size = small_batch(batch, codecs[_i], 5);
	uint64_t key = test_key();

	if (codecs[_i] == RILL_COMPRESSION_ZSTD) {
		/* force a compressed batch: records of a compressible shape */
		rill_batch_params params = default_params(RILL_COMPRESSION_ZSTD);
		rill_batch_encoder *enc;
		rill_record r[8];
		for (size_t i = 0; i < 8; i++) {
			rill_record one = {"same-key", 8, "same-value-same-value", 21, NULL, 0, 1, 0};
			r[i] = one;
		}
		ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
		uint8_t *b = encode_sealed(enc, r, 8, &params, 5, &size);
		ck_assert_uint_eq(rill__get_u16(b + 18) & 7, 4);
		memcpy(batch, b, size);
		rill__batch_encoder_free(enc);
	}
	ck_assert_int_eq(rill__batch_verify(batch, size, key), 0);
	for (size_t bit = 0; bit < size * 8; bit++) {
		memcpy(copy, batch, size);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_msg(rill__batch_verify(copy, size, key) == RILL_ECORRUPT,
		              "flip of bit %zu (byte %zu) not detected", bit % 8, bit / 8);
	}
}
END_TEST

START_TEST(test_checksum_binding)
{
	uint8_t batch[BATCH_BUF_MAX];
	uint8_t copy[BATCH_BUF_MAX];
	size_t size = small_batch(batch, RILL_COMPRESSION_NONE, 100);
	uint64_t key = test_key();

	ck_assert_int_eq(rill__batch_verify(batch, size, key), 0);
	/* another partition of the topic, another topic */
	expect_error(rill__batch_verify(batch, size, rill__partition_key("orders", 4)),
	             RILL_ECORRUPT, "checksum mismatch");
	expect_error(rill__batch_verify(batch, size, rill__partition_key("orders2", 3)),
	             RILL_ECORRUPT, "checksum mismatch");
	/* the same batch at another offset: a misdirected write */
	memcpy(copy, batch, size);
	rill__put_u64(copy, 200);
	expect_error(rill__batch_verify(copy, size, key), RILL_ECORRUPT, "checksum mismatch");
	/* the leader epoch is covered (Kafka's CRC does not cover it) */
	memcpy(copy, batch, size);
	rill__put_u32(copy + 12, 9);
	expect_error(rill__batch_verify(copy, size, key), RILL_ECORRUPT, "checksum mismatch");
	/* sealing again at another offset gives a different, valid checksum */
	memcpy(copy, batch, size);
	uint64_t hash = XXH3_64bits_withSeed(copy + 72, size - 72, key);
	rill__batch_seal(copy, 200, INT64_MIN, hash);
	ck_assert_int_eq(rill__batch_verify(copy, size, key), 0);
	ck_assert_uint_ne(rill__get_u64(copy + 64), rill__get_u64(batch + 64));
	/* verify needs the whole batch and no more */
	expect_error(rill__batch_verify(batch, size - 1, key), RILL_ECORRUPT,
	             "length field gives 96 bytes but 95 were read");
	expect_error(rill__batch_verify(batch, 10, key), RILL_ECORRUPT, "shorter than its");
}
END_TEST

/* Every code path of the bulk checksum gives XXH3_64bits_withSeed's value:
 * a batch written on one CPU must verify on any other. Lengths cover
 * XXH3's short, mid-size and long paths with every stripe and block
 * remainder up to 2 KiB, then block and buffer boundaries; odd starts
 * cover unaligned loads. */
START_TEST(test_checksum_paths_agree)
{
	enum { BUF = (1 << 20) + 64 };
	uint8_t *buf = malloc(BUF);
	ck_assert_ptr_nonnull(buf);
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < BUF; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	const uint64_t seeds[] = {0, 1, test_key(), UINT64_MAX};
	const size_t long_lens[] = {4095, 4096, 4097, 16383, 16384, 16385, 65543, 1 << 20};
	bool avx2 = rill__checksum_avx2_usable();
	for (size_t len = 0; len < 2048 + sizeof(long_lens) / sizeof(long_lens[0]); len++) {
		size_t n = len < 2048 ? len : long_lens[len - 2048];
		for (size_t start = 0; start < 3; start++) {
			const uint8_t *p = buf + start * 7;
			for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
				uint64_t want = XXH3_64bits_withSeed(p, n, seeds[s]);
				ck_assert_uint_eq(rill__checksum(p, n, seeds[s]), want);
				if (avx2)
					ck_assert_uint_eq(rill__checksum_avx2(p, n, seeds[s]), want);
			}
		}
	}
	/* a batch sealed on one path verifies on the other, both ways */
	rill_batch_params params = default_params(RILL_COMPRESSION_NONE);
	rill_record r[8];
	for (size_t i = 0; i < 8; i++)
		r[i] = (rill_record){NULL, 0, buf + i * 100, 100, NULL, 0, 1000, 0};
	rill_batch_encoder *enc;
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	for (int forced = 0; forced < 2; forced++) {
		rill__checksum_force_portable(forced == 0);
		size_t size;
		uint8_t *batch = encode_sealed(enc, r, 8, &params, 5, &size);
		ck_assert_uint_gt(size, 72 + 240); /* the long-input path */
		rill__checksum_force_portable(forced != 0);
		ck_assert_str_eq(rill__checksum_impl(), forced != 0 || !avx2 ? "libxxhash" : "avx2");
		ck_assert_int_eq(rill__batch_verify(batch, size, test_key()), 0);
		batch[size - 1] ^= 1;
		expect_error(rill__batch_verify(batch, size, test_key()), RILL_ECORRUPT, "checksum mismatch");
	}
	rill__batch_encoder_free(enc);
	rill__checksum_force_portable(false);
	free(buf);
}
END_TEST

START_TEST(test_zero_filled_rejected)
{
	static uint8_t zeros[65536];
	rill_batch_header h;
	rill_batch_decoder *dec;

	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	expect_error(rill__batch_parse_header(zeros, sizeof(zeros), sizeof(zeros), &h),
	             RILL_ECORRUPT, "bad magic 0 (expected 1)");
	ck_assert_int_eq(rill__batch_verify(zeros, sizeof(zeros), 0), RILL_ECORRUPT);
	ck_assert_int_eq(rill__batch_verify(zeros, 12, 0), RILL_ECORRUPT);
	ck_assert_int_eq(rill__batch_check_records(dec, zeros, sizeof(zeros)), RILL_ECORRUPT);
	/* a lone magic byte in zeros still fails, on the length */
	zeros[16] = 1;
	expect_error(rill__batch_parse_header(zeros, sizeof(zeros), sizeof(zeros), &h),
	             RILL_ECORRUPT, "length 0 below");
	ck_assert_int_eq(rill__batch_verify(zeros, 72, 0), RILL_ECORRUPT);
	zeros[16] = 0;
	rill__batch_decoder_free(dec);
}
END_TEST

START_TEST(test_truncated_rejected)
{
	uint8_t batch[BATCH_BUF_MAX];
	size_t size = small_batch(batch, codecs[_i], 0);
	rill_batch_decoder *dec;
	rill_batch_header h;

	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	for (size_t n = 0; n < size; n++) {
		ck_assert_int_eq(rill__batch_verify(batch, n, test_key()), RILL_ECORRUPT);
		ck_assert_int_eq(rill__batch_check_records(dec, batch, n), RILL_ECORRUPT);
		ck_assert_int_eq(rill__batch_parse_header(batch, n, n, &h), RILL_ECORRUPT);
	}
	ck_assert_int_eq(rill__batch_check_records(dec, batch, size), 0);
	rill__batch_decoder_free(dec);
}
END_TEST

/* ------------------------------------------------------- records sections */

typedef struct bad_section {
	const char *hex;       /* the records section */
	uint32_t count;
	int64_t first_ts, max_ts;
	const char *what;      /* expected message fragment; NULL: valid */
} bad_section;

#define T 1000
static const bad_section sections[] = {
	/* valid: one record, null key, value "v"; the smallest record */
	{"0c 00 00 00 01 01 00", 1, T, T, NULL},
	{"0e 00 00 00 01 02 76 00", 1, T, T, NULL},
	{"0e 00 00 00 01 02 76 00  0e 00 02 02 01 02 76 00", 2, T, T + 1, NULL},
	/* record length */
	{"8e 00 00 00 00 01 02 76 00", 1, T, T, "record 0 of 1: length: overlong varint"},
	{"0a 00 00 00 01 02 76 00", 1, T, T, "record 0: length 5 with"},
	{"10 00 00 00 01 02 76 00", 1, T, T, "record 0: length 8 with 7 bytes left"},
	{"01 00 00 00 01 02 76 00", 1, T, T, "record 0: length -1"},
	{"10 00 00 00 01 02 76 00 00", 1, T, T, "1 bytes left inside its length of 8"},
	{"ff ff ff ff 1f 00 00 00", 1, T, T, "length: varint above 32 bits"},
	{"80 80 80 80 80 01 00 00", 1, T, T, "length: varint longer than 5 bytes"},
	/* fields */
	{"0e 01 00 00 01 02 76 00", 1, T, T, "record 0: attributes 0x01"},
	{"0e 00 02 00 01 02 76 00", 1, T, T, "record 0: timestamp delta 1 (expected 0)"},
	{"0e 00 00 02 01 02 76 00", 1, T, T, "record 0: offset delta 1 (offsets must be dense)"},
	{"0e 00 00 00 01 02 76 00  0e 00 02 00 01 02 76 00", 2, T, T + 1, "record 1: offset delta 0"},
	{"0e 00 00 00 03 02 76 00", 1, T, T, "record 0: key: negative length"},
	{"0e 00 00 00 01 06 76 00", 1, T, T, "record 0: value: length past the end"},
	{"0e 00 00 00 01 02 76 01", 1, T, T, "header count -1 impossible"},
	{"0e 00 00 00 01 02 76 02", 1, T, T, "header count 1 impossible with 0 bytes left"},
	{"12 00 00 00 01 00 82 80 08 00", 1, T, T, "header count 65537 impossible"},
	{"0e 00 00 00 01 02 76 80", 1, T, T, "header count: truncated varint"},
	{"12 00 00 00 01 02 76 02 01 01", 1, T, T, "header 0: name: negative length"},
	{"12 00 00 00 01 02 76 02 00 03", 1, T, T, "header 0: value: negative length"},
	{"12 00 00 00 01 02 76 02 00 04", 1, T, T, "header 0: value: length past the end"},
	{"16 00 00 00 ff ff ff ff 1f 02 76 00", 1, T, T, "key: varint above 32 bits"},
	{"18 00 00 00 80 80 80 80 80 01 02 76 00", 1, T, T, "key: varint longer than 5 bytes"},
	{"10 00 00 80 00 01 02 76 00", 1, T, T, "offset delta: overlong varint"},
	{"22 00 80 80 80 80 80 80 80 80 80 80 01 00 01 02 76 00", 1, T, T,
	 "timestamp delta: varlong longer than 10 bytes"},
	{"20 00 80 80 80 80 80 80 80 80 80 02 00 01 02 76 00", 1, T, T,
	 "timestamp delta: varlong above 64 bits"},
	/* the section as a whole */
	{"0e 00 00 00 01 02 76 00 00 00 00 00 00 00", 1, T, T, "6 bytes after the last of 1 records"},
	{"1a 00 00 00 01 0e 76 76 76 76 76 76 76 00", 2, T, T, "record 1 of 2: length: truncated varint"},
	/* timestamps */
	{"0e 00 00 00 01 02 76 00", 1, T, T + 1, "max timestamp 1001 but the largest record timestamp is 1000"},
	{"0e 00 00 00 01 02 76 00  0e 00 04 02 01 02 76 00", 2, T, T + 1, "record 1: timestamp 1002 above"},
	{"0e 00 00 00 01 02 76 00  0e 00 0a 02 01 02 76 00", 2, INT64_MAX - 1, INT64_MAX,
	 "record 1: timestamp delta 5 from 9223372036854775806 overflows"},
	{"0e 00 00 00 01 02 76 00  0e 00 01 02 01 02 76 00", 2, INT64_MIN + 1, INT64_MIN + 1,
	 "record 1: timestamp delta -1 from -9223372036854775807 overflows"},
};
#undef T
#define SECTION_COUNT ((int)(sizeof(sections) / sizeof(sections[0])))

START_TEST(test_records_section)
{
	const bad_section *s = &sections[_i];
	uint8_t section[256];
	uint8_t batch[BATCH_BUF_MAX];
	rill_batch_decoder *dec;
	size_t n = hex_bytes(section, sizeof(section), s->hex);
	size_t size = make_batch(batch, section, n, s->count, (uint32_t)n, 0,
	                         s->first_ts, s->max_ts);

	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	ck_assert_msg(rill__batch_verify(batch, size, test_key()) == 0, "%s", rill_errmsg());
	int rc = rill__batch_check_records(dec, batch, size);
	if (s->what == NULL)
		ck_assert_msg(rc == 0, "%s", rill_errmsg());
	else
		expect_error(rc, RILL_ECORRUPT, s->what);
	/* a decoder stays stopped after an error */
	if (s->what != NULL) {
		rill_record r;
		ck_assert_int_eq(rill__batch_decoder_next(dec, &r), RILL_ECORRUPT);
	}
	/* the same section compressed is judged the same */
	uint8_t frame[512];
	size_t fsize = ZSTD_compress(frame, sizeof(frame), section, n, 1);
	ck_assert(!ZSTD_isError(fsize));
	if (fsize < n) {
		size = make_batch(batch, frame, fsize, s->count, (uint32_t)n, 4,
		                  s->first_ts, s->max_ts);
		rc = rill__batch_check_records(dec, batch, size);
		if (s->what == NULL)
			ck_assert_msg(rc == 0, "%s", rill_errmsg());
		else
			expect_error(rc, RILL_ECORRUPT, s->what);
	}
	rill__batch_decoder_free(dec);
}
END_TEST

/* The raw records section of a compressible batch of `count` records. */
static size_t raw_section(uint8_t *out, size_t capacity, uint32_t count)
{
	rill_batch_params params = default_params(RILL_COMPRESSION_NONE);
	rill_batch_encoder *enc;
	static rill_record r[64];
	size_t size;
	ck_assert_uint_le(count, 64);
	for (uint32_t i = 0; i < count; i++) {
		rill_record one = {"key", 3, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 30, NULL, 0, 1000, 0};
		r[i] = one;
	}
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	uint8_t *batch = encode_sealed(enc, r, count, &params, 0, &size);
	ck_assert_uint_le(size - 72, capacity);
	memcpy(out, batch + 72, size - 72);
	rill__batch_encoder_free(enc);
	return size - 72;
}

START_TEST(test_decompression_bombs)
{
	uint8_t raw[4096];
	uint8_t big[65536];
	uint8_t frame[4096];
	uint8_t batch[BATCH_BUF_MAX];
	rill_batch_decoder *dec;
	size_t n = raw_section(raw, sizeof(raw), 4);
	size_t fsize, size;
	const uint16_t zstd = 4;

	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	/* control: the honest frame decodes */
	fsize = ZSTD_compress(frame, sizeof(frame), raw, n, 3);
	ck_assert(!ZSTD_isError(fsize) && fsize < n);
	size = make_batch(batch, frame, fsize, 4, (uint32_t)n, zstd, 1000, 1000);
	ck_assert_msg(rill__batch_check_records(dec, batch, size) == 0, "%s", rill_errmsg());

	/* a frame declaring 64 KiB for a 4-record records_size */
	memcpy(big, raw, n);
	memset(big + n, 0, sizeof(big) - n);
	fsize = ZSTD_compress(frame, sizeof(frame), big, sizeof(big), 3);
	ck_assert(!ZSTD_isError(fsize));
	size = make_batch(batch, frame, fsize, 4, (uint32_t)n, zstd, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "zstd frame declares 65536 bytes but records size is");

	/* a frame that does not declare its size (streaming) */
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	ck_assert_ptr_nonnull(cctx);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
	fsize = ZSTD_compress2(cctx, frame, sizeof(frame), raw, n);
	ck_assert(!ZSTD_isError(fsize) && fsize < n);
	ZSTD_freeCCtx(cctx);
	size = make_batch(batch, frame, fsize, 4, (uint32_t)n, zstd, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "does not declare its content size");

	/* a frame whose declared size lies: it says n, its blocks give more.
	 * Single-segment frames of < 256 bytes hold the size in byte 5. */
	uint8_t small_big[250];
	memcpy(small_big, raw, n);
	memset(small_big + n, 'a', sizeof(small_big) - n);
	fsize = ZSTD_compress(frame, sizeof(frame), small_big, sizeof(small_big), 3);
	ck_assert(!ZSTD_isError(fsize));
	ck_assert_uint_eq(frame[4] & 0xE0, 0x20); /* FCS flag 0, single segment */
	ck_assert_uint_eq(frame[5], sizeof(small_big));
	frame[5] = (uint8_t)n;
	size = make_batch(batch, frame, fsize, 4, (uint32_t)n, zstd, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "zstd decompression of");

	/* two frames back to back */
	fsize = ZSTD_compress(frame, sizeof(frame), raw, n, 3);
	memcpy(frame + fsize, frame, fsize);
	ck_assert_uint_lt(2 * fsize, n);
	size = make_batch(batch, frame, 2 * fsize, 4, (uint32_t)n, zstd, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "bytes after the");

	/* not zstd at all */
	memset(frame, 0x5a, 16);
	size = make_batch(batch, frame, 16, 4, (uint32_t)n, zstd, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "not a zstd frame");

	/* a truncated frame */
	fsize = ZSTD_compress(frame, sizeof(frame), raw, n, 3);
	size = make_batch(batch, frame, fsize - 1, 4, (uint32_t)n, zstd, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT, "zstd");
	rill__batch_decoder_free(dec);
}
END_TEST

START_TEST(test_records_size_mismatch)
{
	uint8_t raw[4096];
	uint8_t frame[4096];
	uint8_t batch[BATCH_BUF_MAX];
	rill_batch_decoder *dec;
	size_t n = raw_section(raw, sizeof(raw), 4);
	size_t size;

	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	/* codec none: records_size must equal the section */
	size = make_batch(batch, raw, n, 4, (uint32_t)n + 1, 0, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "does not match the");
	/* zstd: the frame's size must equal records_size, both ways */
	size_t fsize = ZSTD_compress(frame, sizeof(frame), raw, n, 3);
	size = make_batch(batch, frame, fsize, 4, (uint32_t)n - 1, 4, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT, "declares");
	size = make_batch(batch, frame, fsize, 4, (uint32_t)n + 1, 4, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT, "declares");
	/* the record count must match: one fewer leaves a record unread,
	 * one more runs out */
	size = make_batch(batch, raw, n, 3, (uint32_t)n, 0, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "bytes after the last of 3 records");
	size = make_batch(batch, raw, n, 5, (uint32_t)n, 0, 1000, 1000);
	expect_error(rill__batch_check_records(dec, batch, size), RILL_ECORRUPT,
	             "record 4 of 5: length: truncated varint");
	/* decoder_start wants exactly the batch */
	size = make_batch(batch, raw, n, 4, (uint32_t)n, 0, 1000, 1000);
	batch[size] = 0;
	expect_error(rill__batch_decoder_start(dec, batch, size + 1), RILL_ECORRUPT,
	             "were given");
	/* start_parsed takes the caller's header, parsed under a looser
	 * bound (the bytes left in a segment), and still applies the
	 * decoder's own: a length past it is refused, not decoded */
	rill_batch_header h;
	ck_assert_int_eq(rill__batch_parse_header(batch, size, size, &h), 0);
	ck_assert_int_eq(rill__batch_decoder_start_parsed(dec, batch, size, &h), 0);
	h.length = UINT32_MAX - 64;
	expect_error(rill__batch_decoder_start_parsed(dec, batch, size, &h), RILL_ECORRUPT,
	             "-byte bound");
	rill__batch_decoder_free(dec);
}
END_TEST

/* ------------------------------------------------------------- allocation */

START_TEST(test_no_allocation_in_steady_state)
{
	rill_batch_params params = default_params(codecs[_i]);
	uint64_t seed = tu_seed("test_no_allocation_in_steady_state");
	rill_batch_encoder *enc;
	rill_batch_decoder *dec;
	rill_alloc_hook_state before, after;
	record_set set;
	uint8_t *batch;
	size_t size;
	uint64_t hash;

	make_records(&set, 200, seed, 100);
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&dec), 0);
	/* warm up: buffers and zstd contexts reach their size */
	batch = encode_sealed(enc, set.records, 200, &params, 0, &size);
	ck_assert_int_eq(rill__batch_check_records(dec, batch, size), 0);

	rill__alloc_stats(&before);
	for (uint64_t round = 1; round <= 50; round++) {
		ck_assert_int_eq(rill__batch_encode(enc, set.records, 200, &params, &batch,
		                                    &size, &hash), 0);
		rill__batch_seal(batch, round * 200, INT64_MIN, hash);
		ck_assert_int_eq(rill__batch_verify(batch, size, params.partition_key), 0);
		expect_records(dec, batch, size, set.records, 200, round * 200, INT64_MIN);
		/* smaller batches reuse the same buffers */
		ck_assert_int_eq(rill__batch_encode(enc, set.records, 1 + round % 50, &params,
		                                    &batch, &size, &hash), 0);
		rill__batch_seal(batch, 0, INT64_MIN, hash);
		ck_assert_int_eq(rill__batch_check_records(dec, batch, size), 0);
	}
	rill__alloc_stats(&after);
	ck_assert_uint_eq(after.allocations, before.allocations);
	ck_assert_int_eq(after.live, before.live);
	rill__batch_decoder_free(dec);
	rill__batch_encoder_free(enc);
	free_records(&set);
}
END_TEST

START_TEST(test_out_of_memory)
{
	rill_batch_params params = default_params(codecs[_i]);
	uint64_t seed = tu_seed("test_out_of_memory");
	rill_alloc_hook_state base, now;
	record_set set;
	static rill_header hdrs[50];
	int done = 0;

	make_records(&set, 100, seed, 200);
	for (size_t i = 0; i < 50; i++) {
		rill_header h = {"n", 1, "v", 1};
		hdrs[i] = h;
	}
	set.records[7].headers = hdrs;
	set.records[7].header_count = 50;
	rill__alloc_stats(&base);
	for (uint64_t n = 1; !done && n < 1000; n++) {
		rill_batch_encoder *enc = NULL;
		rill_batch_decoder *dec = NULL;
		uint8_t *batch;
		size_t size;
		uint64_t hash;
		rill_alloc_hook_state start;
		int rc;

		rill__alloc_stats(&start);
		rill__alloc_fail_at(n, 0);
		rc = rill__batch_encoder_new(&enc);
		if (rc == 0)
			rc = rill__batch_encode(enc, set.records, set.count, &params, &batch,
			                        &size, &hash);
		if (rc == 0) {
			rill__batch_seal(batch, 0, INT64_MIN, hash);
			rc = rill__batch_decoder_new(&dec);
		}
		if (rc == 0)
			rc = rill__batch_check_records(dec, batch, size);
		rill__alloc_stats(&now);
		rill__alloc_fail_at(0, 0);
		if (now.failures == start.failures) {
			ck_assert_msg(rc == 0, "no failure injected but %d %s", rc, rill_errmsg());
			done = 1;
		} else {
			ck_assert_msg(rc == RILL_ENOMEM, "allocation %" PRIu64 " failed: got %d %s",
			              n, rc, rill_errmsg());
		}
		rill__batch_decoder_free(dec);
		rill__batch_encoder_free(enc);
		rill__alloc_stats(&now);
		ck_assert_int_eq(now.live, base.live);
	}
	ck_assert(done);
	free_records(&set);
}
END_TEST

/* Records as decoded, and how decoding ended. */
typedef struct decoded {
	rill_record records[400];
	size_t count;
	int end_rc;
} decoded;

/* Two decodes of the same bytes read a record alike: the same offset and
 * timestamp, and key and value at the same place (both decode in place). */
static bool same_fields(const rill_record *x, const rill_record *y)
{
	return x->offset == y->offset && x->timestamp_ms == y->timestamp_ms &&
	       x->key == y->key && x->key_len == y->key_len &&
	       x->value == y->value && x->value_len == y->value_len;
}

static void decode_all(rill_batch_decoder *dec, const uint8_t *batch, size_t size,
                       bool careful, size_t chunk, decoded *out)
{
	out->count = 0;
	rill__batch_decoder_set_careful(dec, careful);
	int rc = rill__batch_decoder_start(dec, batch, size);
	/* The fast path prefetches this far past each record: a hint, which
	 * must change nothing, even pointing at nothing mapped (chunk varies
	 * it from batch to batch, from a line ahead to terabytes). */
	if (rc == 0 && !careful)
		rill__batch_decoder_set_prefetch(dec, chunk % 2 ? size : (size_t)1 << (10 + chunk % 32));
	while (rc == 0) {
		size_t n = 0, room = sizeof(out->records) / sizeof(out->records[0]) - out->count;
		ck_assert_uint_gt(room, 0);
		rc = rill__batch_decoder_read(dec, &out->records[out->count],
		                              chunk < room ? chunk : room, &n);
		ck_assert(rc != 0 || n >= 1);
		for (size_t i = 0; i < n; i++) /* headers live in the decoder: keep the count only */
			out->records[out->count + i].headers = NULL;
		out->count += n;
	}
	out->end_rc = rc;
	rill__batch_decoder_set_careful(dec, false);
}

/*
 * Change a batch's first or max timestamp, or its LogAppendTime bit: first
 * near INT64_MAX or INT64_MIN, so that record deltas overflow or reach
 * INT64_MIN (the record with delta, the batch's smallest or largest,
 * lands one below, at or one above the limit), or max just below the
 * largest record timestamp. max stays at
 * or above first, or the header parse would refuse the batch before the
 * records are reached.
 */
/* The smallest or the largest record timestamp delta of a set. */
static int64_t extreme_delta(const record_set *set, bool smallest)
{
	int64_t first = set->records[0].timestamp_ms, extreme = 0;
	first = first == RILL_TIMESTAMP_NOW ? NOW_MS : first;
	for (size_t i = 1; i < set->count; i++) {
		int64_t ts = set->records[i].timestamp_ms;
		int64_t delta = (ts == RILL_TIMESTAMP_NOW ? NOW_MS : ts) - first;
		if (smallest ? delta < extreme : delta > extreme)
			extreme = delta;
	}
	return extreme;
}

static void mutate_timestamps(uint8_t *batch, uint64_t x, int64_t delta)
{
	int64_t first = (int64_t)rill__get_u64(batch + 24);
	int64_t max = (int64_t)rill__get_u64(batch + 32);
	int64_t near = (int64_t)((x >> 8) % 3000000);
	switch (x % 5) {
	case 0:
		batch[18] ^= RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND;
		return;
	case 1:
		first = INT64_MAX - near;
		max = first + (int64_t)((x >> 40) % (uint64_t)(INT64_MAX - first + 1));
		break;
	case 2: {
		/* that record's timestamp one below, at or one above the limit:
		 * INT64_MIN is refused, INT64_MIN + 1 is not; INT64_MAX is the
		 * largest, one more overflows */
		uint64_t step = (x >> 8) % 3;
		if (delta < 0) {
			first = INT64_MIN - delta + (int64_t)step - 1;
			if (first == INT64_MIN) /* the header parse refuses it */
				first = INT64_MIN + 1;
			max = first + (int64_t)((x >> 40) % 3000000);
		} else {
			uint64_t f = (uint64_t)INT64_MAX - (uint64_t)delta + step - 1;
			first = f > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)f;
			max = first + (int64_t)((x >> 40) % (uint64_t)(INT64_MAX - first + 1));
		}
		break;
	}
	case 3:
		max -= (int64_t)((x >> 8) % 3);
		break;
	default:
		first += near % 7 - 3;
		break;
	}
	if (max < first)
		max = first;
	rill__put_u64(batch + 24, (uint64_t)first);
	rill__put_u64(batch + 32, (uint64_t)max);
}

/*
 * A batch of two records built by hand: `first` (its bytes as given, length
 * varint included) and a valid record with a 40-byte value after it, so that
 * the first is not within the fast path's slack of the section's end. The
 * header holds what the header parse checks; the decoder does not check the
 * checksum, so none is computed.
 */
static size_t hand_batch(uint8_t *batch, const uint8_t *first, size_t first_len)
{
	static const uint8_t filler_body[6] = {0x00, 0x00, 0x02, 0x01, 0x50};
	uint8_t *section = batch + RILL_BATCH_HEADER_SIZE;
	size_t n = 0;
	memcpy(section, first, first_len);
	n += first_len;
	section[n++] = 0x5c; /* body of 46 bytes, zigzag */
	memcpy(section + n, filler_body, 5); /* attributes, ts 0, offset 1, null key, 40 */
	n += 5;
	memset(section + n, 'x', 40);
	n += 40;
	section[n++] = 0x00; /* no headers */
	size_t size = RILL_BATCH_HEADER_SIZE + n;
	memset(batch, 0, RILL_BATCH_HEADER_SIZE);
	rill__put_u32(batch + 8, (uint32_t)(size - 12));
	batch[16] = 1; /* magic */
	rill__put_u32(batch + 20, 1); /* last offset delta */
	rill__put_u64(batch + 24, 1000); /* first timestamp */
	rill__put_u64(batch + 32, 1000); /* max timestamp */
	rill__put_u64(batch + 40, UINT64_MAX); /* producer -1 */
	rill__put_u16(batch + 48, UINT16_MAX);
	rill__put_u32(batch + 52, UINT32_MAX);
	rill__put_u32(batch + 56, 2); /* records */
	rill__put_u32(batch + 60, (uint32_t)n);
	return size;
}

/*
 * Records malformed in each way the fast path checks with one comparison
 * (lengths zigzag-encoded, tested rotated), built by hand instead of
 * found by random changes: the fast path must refuse each as the careful
 * path does, and accept the valid ones alike.
 */
START_TEST(test_fast_path_malformed_records)
{
	/* body after the length: attributes, ts delta 0, offset delta 0 */
	static const struct {
		const char *what;
		uint8_t bytes[24];
		size_t len;
		bool valid;
	} cases[] = {
		{"null key, null value", {0x0c, 0, 0, 0, 0x01, 0x01, 0}, 7, true},
		{"empty key, 2-byte value", {0x10, 0, 0, 0, 0x00, 0x04, 'a', 'b', 0}, 9, true},
		{"a byte more than the fields", {0x0e, 0, 0, 0, 0x00, 0x04, 'a', 'b', 0}, 9, false},
		{"key and value of 1", {0x10, 0, 0, 0, 0x02, 'k', 0x02, 'v', 0}, 9, true},
		{"length odd (negative)", {0x0d, 0, 0, 0, 0x01, 0x01, 0}, 7, false},
		{"length 5, below the minimum", {0x0a, 0, 0, 0, 0x01, 0x01, 0}, 7, false},
		{"length 0", {0x00, 0, 0, 0, 0x01, 0x01, 0}, 7, false},
		{"length -1", {0x01, 0, 0, 0, 0x01, 0x01, 0}, 7, false},
		/* negative lengths, with the bytes a size of -n / 2 rounded
		 * toward zero would take (a check that shifted the zigzag
		 * value instead of rotating it would accept them) */
		{"key length -2", {0x0e, 0, 0, 0, 0x03, 'k', 0x01, 0}, 8, false},
		{"key length -3", {0x10, 0, 0, 0, 0x05, 'k', 'k', 0x01, 0}, 9, false},
		{"value length -2", {0x0e, 0, 0, 0, 0x01, 0x03, 'v', 0}, 8, false},
		{"value length -3", {0x10, 0, 0, 0, 0x01, 0x05, 'v', 'v', 0}, 9, false},
		{"key length -2, nothing after", {0x0c, 0, 0, 0, 0x03, 0x01, 0}, 7, false},
		{"key one past the record", {0x0e, 0, 0, 0, 0x04, 'k', 0x01, 0}, 8, false},
		{"value length -3, nothing after", {0x0c, 0, 0, 0, 0x01, 0x05, 0}, 7, false},
		{"value one past the record", {0x0e, 0, 0, 0, 0x01, 0x04, 'v', 0}, 8, false},
		{"value ends the record, no header count", {0x0e, 0, 0, 0, 0x01, 0x02, 'v'}, 7, false},
		{"fields past a short record's end", {0x0c, 0, 0, 0, 0x80, 0x01, 0x01, 0}, 8, false},
		{"key length overlong, 2 bytes", {0x0e, 0, 0, 0, 0x81, 0x00, 0x01, 0}, 8, false},
		{"key length overlong, 3 bytes", {0x10, 0, 0, 0, 0x81, 0x80, 0x00, 0x01, 0}, 9, false},
		{"key length 3 bytes, middle 0x80", {0x10, 0, 0, 0, 0x82, 0x80, 0x01, 0x01, 0}, 9, false},
		{"2-byte record length", {0x80, 0x01, 0}, 3, false},
	};
	rill_batch_decoder *fast, *careful;
	static decoded a, b;
	static uint8_t batch[512];
	ck_assert_int_eq(rill__batch_decoder_new(&fast), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&careful), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t size = hand_batch(batch, cases[i].bytes, cases[i].len);
		decode_all(careful, batch, size, true, 1, &a);
		decode_all(fast, batch, size, false, 64, &b);
		ck_assert_msg(a.end_rc == (cases[i].valid ? RILL_EAGAIN : RILL_ECORRUPT) &&
		              a.count == (cases[i].valid ? 2u : 0u),
		              "%s: the careful path read %zu records then %d", cases[i].what,
		              a.count, a.end_rc);
		ck_assert_msg(b.end_rc == a.end_rc && b.count == a.count,
		              "%s: careful %zu records then %d, fast %zu then %d", cases[i].what,
		              a.count, a.end_rc, b.count, b.end_rc);
		for (size_t j = 0; j < a.count; j++) {
			ck_assert_msg(same_fields(&a.records[j], &b.records[j]),
			              "%s: record %zu differs", cases[i].what, j);
		}
	}
	rill__batch_decoder_free(careful);
	rill__batch_decoder_free(fast);
}
END_TEST

/*
 * The scan's fast record path must accept exactly the records the careful
 * path accepts and read them the same way: valid batches with field
 * lengths on every varint width, then the same batches with one byte of
 * the records section changed, or the header's timestamps (the decoder
 * does not check the checksum, so the change reaches it), decoded both
 * ways in chunks of every size.
 */
START_TEST(test_fast_path_matches_careful)
{
	rill_batch_params params = default_params(RILL_COMPRESSION_NONE);
	uint64_t seed = tu_seed("test_fast_path_matches_careful"), state = seed;
	rill_batch_encoder *enc;
	rill_batch_decoder *fast, *careful;
	static decoded a, b;
	static uint8_t copy[1 << 20];
	unsigned changed = 0, refused = 0;

	params.max_batch_bytes = RILL_MESSAGE_BYTES_MAX;
	ck_assert_int_eq(rill__batch_encoder_new(&enc), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&fast), 0);
	ck_assert_int_eq(rill__batch_decoder_new(&careful), 0);
	for (unsigned round = 0; round < 60; round++) {
		size_t value_max = round % 6 == 5 ? 20000 : round % 2 ? 300 : 60;
		size_t count = 1 + (size_t)(tu_rand(&state) % (value_max > 300 ? 40 : 300));
		record_set set;
		make_records(&set, count, seed + round, value_max);
		if (round % 3 != 0) /* mostly without headers: the fast path's case */
			for (size_t i = 0; i < count; i++)
				set.records[i].header_count = 0;
		size_t size;
		uint8_t *batch = encode_sealed(enc, set.records, count, &params, 5000, &size);
		ck_assert_uint_le(size, sizeof(copy));
		for (unsigned trial = 0; trial <= 40; trial++) {
			memcpy(copy, batch, size);
			if (trial > 0 && trial % 5 == 0) {
				/* the header's timestamps: the bounds the fast path
				 * derives from them, near where they overflow */
				uint64_t x = tu_rand(&state);
				mutate_timestamps(copy, x, extreme_delta(&set, (x >> 48) % 2 != 0));
				changed++;
			} else if (trial % 8 == 3) {
				/* the first record's timestamp delta, which must be 0
				 * (the fast path checks it once per batch): past the
				 * length varint and the attributes byte, a one-byte
				 * varint of +-1 or 0 */
				uint8_t *section = copy + RILL_BATCH_HEADER_SIZE;
				size_t at = (section[0] & 0x80) ? 3 : 2;
				if ((section[at] & 0x80) == 0)
					section[at] = (uint8_t)(trial % 3);
				changed++;
			} else if (trial > 0) { /* trial 0: unchanged */
				uint64_t x = tu_rand(&state);
				size_t at = RILL_BATCH_HEADER_SIZE +
				            (size_t)(x % (size - RILL_BATCH_HEADER_SIZE));
				copy[at] = (x >> 32) % 2 ? (uint8_t)(x >> 40) : (uint8_t)(copy[at] ^ (1u << ((x >> 40) % 8)));
				changed++;
			}
			size_t chunk = 1 + (size_t)(tu_rand(&state) % 70);
			decode_all(careful, copy, size, true, 1, &a);
			decode_all(fast, copy, size, false, chunk, &b);
			ck_assert_msg(a.end_rc == b.end_rc && a.count == b.count,
			              "round %u trial %u: careful %zu records then %d, fast %zu then %d",
			              round, trial, a.count, a.end_rc, b.count, b.end_rc);
			if (trial == 0)
				ck_assert_int_eq(a.end_rc, RILL_EAGAIN);
			refused += a.end_rc != RILL_EAGAIN;
			/* the batch cache's pass over a copy (record starts noted,
			 * fast path too) accepts the same batches */
			rill_batch_header h;
			if (rill__batch_parse_header(copy, size, size, &h) == 0) {
				static uint8_t section[1 << 20];
				static uint32_t starts[4096];
				bool sorted;
				ck_assert_uint_le(h.record_count, 4096);
				int rc = rill__batch_decoder_start_copy(fast, copy, size, &h, section);
				if (rc == 0)
					rc = rill__batch_decoder_note_starts(fast, starts, &sorted);
				ck_assert_msg((rc == 0) == (a.end_rc == RILL_EAGAIN),
				              "round %u trial %u: the cache pass gives %d, careful %d",
				              round, trial, rc, a.end_rc);
			}
			for (size_t i = 0; i < a.count; i++) {
				const rill_record *x = &a.records[i], *y = &b.records[i];
				ck_assert_msg(same_fields(x, y) && x->header_count == y->header_count,
				              "round %u trial %u record %zu differs", round, trial, i);
			}
		}
		free_records(&set);
	}
	/* the mutations must have reached both outcomes */
	ck_assert_uint_gt(refused, 0);
	ck_assert_uint_lt(refused, changed);
	fprintf(stderr, "fast-path differential: %u changed batches, %u refused\n", changed, refused);
	rill__batch_decoder_free(careful);
	rill__batch_decoder_free(fast);
	rill__batch_encoder_free(enc);
}
END_TEST

Suite *batch_suite(void);
Suite *batch_suite(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("round_trip");
	tcase_add_loop_test(tc, test_one_record, 0, 2);
	tcase_add_loop_test(tc, test_many_records, 0, 2);
	tcase_add_loop_test(tc, test_null_versus_empty, 0, 2);
	tcase_add_loop_test(tc, test_many_headers, 0, 2);
	tcase_add_loop_test(tc, test_timestamps, 0, 2);
	tcase_add_loop_test(tc, test_log_append_time, 0, 2);
	tcase_add_test(tc, test_golden_bytes);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_encode_rejects_bad_input);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("validation");
	tcase_add_loop_test(tc, test_parse_header_rejects, 0, MUTATION_COUNT);
	tcase_add_test(tc, test_parse_header_accepts);
	tcase_add_loop_test(tc, test_every_bit_flip_detected, 0, 2);
	tcase_add_test(tc, test_checksum_binding);
	tcase_add_test(tc, test_checksum_paths_agree);
	tcase_add_test(tc, test_zero_filled_rejected);
	tcase_add_loop_test(tc, test_truncated_rejected, 0, 2);
	tcase_add_loop_test(tc, test_records_section, 0, SECTION_COUNT);
	tcase_add_test(tc, test_decompression_bombs);
	tcase_add_test(tc, test_records_size_mismatch);
	tcase_add_test(tc, test_fast_path_matches_careful);
	tcase_add_test(tc, test_fast_path_malformed_records);
	/* The differential test decodes thousands of batches twice: under
	 * ASan on a loaded machine it outlasts Check's default 4 s. */
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_add_loop_test(tc, test_no_allocation_in_steady_state, 0, 2);
	tcase_add_loop_test(tc, test_out_of_memory, 0, 2);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
