/*
 * fuzz_batch.c — libFuzzer target for the record batch codec (lib/batch.c).
 *
 * The input is a batch as it would be read from a segment. Each run:
 *   1. parses, verifies and decodes the input exactly as given (the
 *      checksum almost always fails here: this exercises header parsing and
 *      the rejection paths);
 *   2. re-seals a copy so the fuzzer gets past the checksum: the length
 *      field is set to the input size (and, for codec 0, records_size to
 *      the section size), then the checksum is recomputed by its definition
 *      with a fixed partition key. The copy must now verify, and is decoded
 *      to the end; a decoder error is fine, a crash, leak or UB is not;
 *   3. when the copy decodes, re-encodes its records and decodes them again
 *      (a round-trip oracle): every field must match, and for a plain
 *      uncompressed CreateTime batch the re-encoding must be byte-identical
 *      to the input, since every value has exactly one encoding;
 *   4. the batch cache's path (copy the section, check every record noting
 *      where each starts) accepts exactly what the plain decoder accepts,
 *      and a decode started at any record from the noted starts gives that
 *      record as the plain decoder gave it;
 *   5. the scan's fast record path (records read many per call) accepts
 *      exactly the records the careful path (one per call, nothing but
 *      read_record) accepts, reads them alike and ends alike.
 * RILL_ASSERT aborts in these builds, so a broken invariant is a crash.
 *
 * Builds (see tests/tests.mk and fuzz_util.h): `make fuzz` (libFuzzer),
 * `make fuzz-replay` (every corpus and crash input once, part of make test);
 * -DRILL_FUZZ_GENERATE writes the seed corpus: valid batches of various
 * shapes.
 */
#define FUZZ_NAME "batch"
#include "fuzz_util.h"

/* Inputs beyond this are cut: batches this size say nothing new. */
#define FUZZ_INPUT_MAX (1u << 20)
/* Decompressed sections beyond this are not decoded (same code path as a
 * small one; a 1 GiB RLE frame would only slow the fuzzer down). */
#define FUZZ_RECORDS_SIZE_MAX (16u << 20)
/* The round-trip oracle runs on batches of at most this many records. */
#define FUZZ_ORACLE_RECORDS_MAX 4096u

static uint64_t fuzz_key(void)
{
	return rill__partition_key("fuzz", 0);
}

static void expect_same_bytes(const void *a, size_t a_len, const void *b, size_t b_len,
                              const char *what)
{
	fuzz_check((a == NULL) == (b == NULL), what);
	fuzz_check(a_len == b_len, what);
	fuzz_check(a_len == 0 || memcmp(a, b, a_len) == 0, what);
}

/* Decode every record of a batch the decoder accepted; headers are copied
 * out because the decoder reuses its array per record. Returns 0 or -1. */
static int collect(rill_batch_decoder *dec, const uint8_t *batch, size_t size,
                   rill_record **out_records, rill_header **out_headers,
                   size_t *out_count)
{
	rill_record r;
	size_t records = 0, headers = 0;

	fuzz_check(rill__batch_decoder_start(dec, batch, size) == 0, "restart");
	while (rill__batch_decoder_next(dec, &r) == 0) {
		records++;
		headers += r.header_count;
	}
	*out_records = calloc(records, sizeof(rill_record));
	*out_headers = calloc(headers + 1, sizeof(rill_header));
	if (*out_records == NULL || *out_headers == NULL)
		return -1;
	fuzz_check(rill__batch_decoder_start(dec, batch, size) == 0, "restart");
	size_t h = 0;
	for (size_t i = 0; i < records; i++) {
		fuzz_check(rill__batch_decoder_next(dec, &r) == 0, "second decode");
		if (r.header_count > 0)
			memcpy(*out_headers + h, r.headers, r.header_count * sizeof(rill_header));
		r.headers = *out_headers + h;
		h += r.header_count;
		(*out_records)[i] = r;
	}
	fuzz_check(rill__batch_decoder_next(dec, &r) == RILL_EAGAIN, "end of batch");
	*out_count = records;
	return 0;
}

static void expect_same_record(const rill_record *a, const rill_record *b)
{
	fuzz_check(a->offset == b->offset, "offset");
	fuzz_check(a->timestamp_ms == b->timestamp_ms, "timestamp");
	expect_same_bytes(a->key, a->key_len, b->key, b->key_len, "key");
	expect_same_bytes(a->value, a->value_len, b->value, b->value_len, "value");
	fuzz_check(a->header_count == b->header_count, "header count");
	for (size_t j = 0; j < a->header_count; j++) {
		expect_same_bytes(a->headers[j].name, a->headers[j].name_len,
		                  b->headers[j].name, b->headers[j].name_len, "header name");
		expect_same_bytes(a->headers[j].value, a->headers[j].value_len,
		                  b->headers[j].value, b->headers[j].value_len, "header value");
	}
}

/* The batch cache's copy and record starts (see lib/batch_cache.c): 0 or
 * the decoder's error, like rill__batch_check_records. With `records`
 * (the plain decoder's), every record read from its noted start must be
 * the same record, and the copy's timestamps are called sorted exactly
 * when those records' never decrease. */
static int cache_path(const uint8_t *batch, size_t size, const rill_batch_header *h,
                      const rill_record *records, size_t count)
{
	static rill_batch_decoder *dec;
	if (dec == NULL)
		fuzz_check(rill__batch_decoder_new(&dec) == 0, "decoder");
	uint8_t *section = malloc(h->records_size > 0 ? h->records_size : 1);
	uint32_t *starts = malloc(h->record_count * sizeof(uint32_t) + 1);
	if (section == NULL || starts == NULL) {
		free(section);
		free(starts);
		return RILL_ENOMEM;
	}
	int rc = rill__batch_decoder_start_copy(dec, batch, size, h, section);
	bool sorted = false;
	if (rc == 0)
		rc = rill__batch_decoder_note_starts(dec, starts, &sorted);
	if (rc == 0 && records != NULL) {
		bool never_decrease = true;
		for (size_t i = 1; i < count; i++)
			never_decrease = never_decrease && records[i].timestamp_ms >= records[i - 1].timestamp_ms;
		fuzz_check(sorted == never_decrease, "timestamps sorted");
	}
	for (size_t i = 0; rc == 0 && records != NULL && i < count; i++) {
		rill__batch_decoder_start_at(dec, h, section, (uint32_t)i, starts[i]);
		rill_record r;
		fuzz_check(rill__batch_decoder_next(dec, &r) == 0, "record from its noted start");
		expect_same_record(&records[i], &r);
		if (i + 1 == count)
			fuzz_check(rill__batch_decoder_next(dec, &r) == RILL_EAGAIN, "end after the last start");
	}
	free(section);
	free(starts);
	return rc;
}

/* 5: the same batch through two decoders, one held to the careful path
 * and read a record per call, one read `chunk` records per call. */
static void fast_matches_careful(const uint8_t *batch, size_t size, size_t chunk)
{
	static rill_batch_decoder *fast, *careful;
	static rill_record got[64];
	if (fast == NULL) {
		fuzz_check(rill__batch_decoder_new(&fast) == 0, "decoder");
		fuzz_check(rill__batch_decoder_new(&careful) == 0, "decoder");
		rill__batch_decoder_set_careful(careful, true);
	}
	if (chunk > sizeof(got) / sizeof(got[0]))
		chunk = sizeof(got) / sizeof(got[0]);
	int started = rill__batch_decoder_start(fast, batch, size);
	fuzz_check(started == rill__batch_decoder_start(careful, batch, size), "starts alike");
	if (started != 0)
		return;
	/* as a scan over the mapped log sets it: a hint that changes nothing */
	rill__batch_decoder_set_prefetch(fast, size);
	size_t n = 0, used = 0;
	int fast_rc = 0;
	for (;;) {
		if (used == n && fast_rc == 0) {
			fast_rc = rill__batch_decoder_read(fast, got, chunk, &n);
			used = 0;
			if (fast_rc != 0)
				n = 0;
		}
		rill_record want;
		size_t one;
		int careful_rc = rill__batch_decoder_read(careful, &want, 1, &one);
		if (careful_rc != 0) {
			fuzz_check(used == n && fast_rc == careful_rc, "the fast path ends alike");
			return;
		}
		fuzz_check(used < n, "the fast path refused a record the careful path reads");
		fuzz_check((want.key == NULL) == (got[used].key == NULL), "null key");
		fuzz_check((want.value == NULL) == (got[used].value == NULL), "null value");
		expect_same_record(&want, &got[used]);
		used++;
	}
}

static void round_trip(const uint8_t *batch, size_t size, const rill_batch_header *h)
{
	static rill_batch_encoder *enc;
	static rill_batch_decoder *dec_a, *dec_b;
	rill_record *records = NULL;
	rill_header *headers = NULL;
	size_t count = 0;
	unsigned codec = h->attributes & RILL_BATCH_ATTR_COMPRESSION_MASK;
	bool log_append = (h->attributes & RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND) != 0;

	if (enc == NULL) {
		fuzz_check(rill__batch_encoder_new(&enc) == 0, "encoder");
		fuzz_check(rill__batch_decoder_new(&dec_a) == 0, "decoder");
		fuzz_check(rill__batch_decoder_new(&dec_b) == 0, "decoder");
	}
	if (collect(dec_a, batch, size, &records, &headers, &count) != 0)
		goto done;
	fuzz_check(count == h->record_count, "record count");
	int cached = cache_path(batch, size, h, records, count);
	fuzz_check(cached == 0 || cached == RILL_ENOMEM, "cache path refused a batch that decodes");

	rill_batch_params params = {
		.compression = codec == 4 ? RILL_COMPRESSION_ZSTD : RILL_COMPRESSION_NONE,
		.zstd_level = 1,
		.timestamp_type = log_append ? RILL_TIMESTAMP_LOG_APPEND_TIME
		                             : RILL_TIMESTAMP_CREATE_TIME,
		.now_ms = h->max_timestamp,
		.leader_epoch = h->leader_epoch,
		.producer_id = h->producer_id,
		.producer_epoch = h->producer_epoch,
		.base_sequence = h->base_sequence,
		.partition_key = fuzz_key(),
		.max_batch_bytes = RILL_MESSAGE_BYTES_MAX,
	};
	uint8_t *again;
	size_t again_size;
	uint64_t hash;
	fuzz_check(rill__batch_encode(enc, records, count, &params, &again, &again_size,
	                              &hash) == 0, "re-encode");
	rill__batch_seal(again, h->base_offset, INT64_MIN, hash);
	fuzz_check(rill__batch_verify(again, again_size, fuzz_key()) == 0, "re-verify");
	if (codec == 0 && h->attributes == 0)
		expect_same_bytes(again, again_size, batch, size, "canonical re-encoding");

	fuzz_check(rill__batch_decoder_start(dec_b, again, again_size) == 0, "re-start");
	for (size_t i = 0; i < count; i++) {
		const rill_record *a = &records[i];
		rill_record b;
		fuzz_check(rill__batch_decoder_next(dec_b, &b) == 0, "re-decode");
		expect_same_record(a, &b);
	}
	rill_record end;
	fuzz_check(rill__batch_decoder_next(dec_b, &end) == RILL_EAGAIN, "re-decode end");
done:
	free(records);
	free(headers);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rill_batch_decoder *dec;
	rill_batch_header h;
	uint64_t key = fuzz_key();

	if (dec == NULL)
		fuzz_check(rill__batch_decoder_new(&dec) == 0, "decoder");
	if (size > FUZZ_INPUT_MAX)
		size = FUZZ_INPUT_MAX;
	uint8_t *batch = malloc(size > 0 ? size : 1);
	if (batch == NULL)
		return 0;
	if (size > 0)
		memcpy(batch, data, size);

	/* 1. as given */
	int parsed = rill__batch_parse_header(batch, size, RILL_MESSAGE_BYTES_MAX, &h);
	int verified = rill__batch_verify(batch, size, key);
	if (parsed != 0 || h.records_size <= FUZZ_RECORDS_SIZE_MAX) {
		int rc = rill__batch_check_records(dec, batch, size);
		fuzz_check(rc == 0 || rc == RILL_ECORRUPT, "check_records code");
		fuzz_check(parsed == 0 || rc != 0, "decoded a batch whose header is bad");
	}
	(void)verified;

	/* 2. re-sealed, so the records decoder gets the input */
	if (size >= RILL_BATCH_HEADER_SIZE) {
		rill__put_u32(batch + 8, (uint32_t)(size - RILL_BATCH_LOG_OVERHEAD));
		if ((rill__get_u16(batch + 18) & RILL_BATCH_ATTR_COMPRESSION_MASK) == 0)
			rill__put_u32(batch + 60, (uint32_t)(size - RILL_BATCH_HEADER_SIZE));
		fuzz_reseal(batch, size, key);
		fuzz_check(rill__batch_verify(batch, size, key) == 0, "re-sealed batch fails");
		fuzz_check(rill__batch_verify(batch, size, key ^ 1) == RILL_ECORRUPT,
		           "verified under another key");
		parsed = rill__batch_parse_header(batch, size, size, &h);
		if (parsed == 0 && h.records_size <= FUZZ_RECORDS_SIZE_MAX) {
			int rc = rill__batch_check_records(dec, batch, size);
			fuzz_check(rc == 0 || rc == RILL_ECORRUPT, "check_records code");
			/* 4. the cache's checks agree (records compared in 3) */
			int cached = cache_path(batch, size, &h, NULL, 0);
			fuzz_check(cached == RILL_ENOMEM || (cached == 0) == (rc == 0),
			           "the cache path and the decoder disagree");
			if (rc == 0 || rc == RILL_ECORRUPT)
				fast_matches_careful(batch, size, 1 + size % 67);
			/* 3. what decodes must survive a round trip */
			if (rc == 0 && h.record_count <= FUZZ_ORACLE_RECORDS_MAX)
				round_trip(batch, size, &h);
		}
	}
	free(batch);
	return 0;
}


#ifdef RILL_FUZZ_GENERATE
/* ------------------------------------------------------------ seed corpus */

static void seed(rill_batch_encoder *enc, const char *dir, const char *name,
                 const rill_record *records, size_t count, int compression,
                 int timestamp_type, uint64_t base_offset)
{
	rill_batch_params params = {
		.compression = compression, .zstd_level = 3,
		.timestamp_type = timestamp_type, .now_ms = 1700000000000,
		.leader_epoch = 4, .producer_id = -1, .producer_epoch = -1,
		.base_sequence = -1, .partition_key = fuzz_key(),
		.max_batch_bytes = RILL_MESSAGE_BYTES_MAX,
	};
	uint8_t *batch;
	size_t size;
	uint64_t hash;
	fuzz_check(rill__batch_encode(enc, records, count, &params, &batch, &size,
	                              &hash) == 0, name);
	rill__batch_seal(batch, base_offset, INT64_MIN, hash);
	fuzz_write_seed(dir, name, batch, size);
}

static void fuzz_generate(const char *dir)
{
	static rill_record many[300];
	static rill_header hdrs[8];
	static char text[4096];
	rill_batch_encoder *enc;

	fuzz_check(rill__batch_encoder_new(&enc) == 0, "encoder");
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "the quick brown fox "[i % 20];
	rill_header h8[8] = {
		{"trace", 5, "abc", 3}, {"", 0, "", 0}, {"null", 4, NULL, 0},
		{NULL, 0, NULL, 0}, {"x", 1, text, 300}, {"y", 1, "1", 1},
		{"z", 1, NULL, 0}, {"content-type", 12, "json", 4},
	};
	memcpy(hdrs, h8, sizeof(h8));

	rill_record one = {"key", 3, "value", 5, NULL, 0, 1234, 0};
	seed(enc, dir, "one-record", &one, 1, RILL_COMPRESSION_NONE,
	     RILL_TIMESTAMP_CREATE_TIME, 0);
	rill_record minimal = {NULL, 0, NULL, 0, NULL, 0, 0, 0};
	seed(enc, dir, "minimal", &minimal, 1, RILL_COMPRESSION_NONE,
	     RILL_TIMESTAMP_CREATE_TIME, 5);
	rill_record shapes[] = {
		{NULL, 0, NULL, 0, NULL, 0, 1000, 0},           /* null key, tombstone */
		{"", 0, "", 0, NULL, 0, 999, 0},                /* empty key and value */
		{"k", 1, NULL, 0, hdrs, 4, -5, 0},              /* headers, negative ts */
		{"k", 1, text, 200, hdrs, 8, RILL_TIMESTAMP_NOW, 0},
		{NULL, 0, "v", 1, NULL, 0, INT64_MAX / 2, 0},
	};
	seed(enc, dir, "shapes", shapes, 5, RILL_COMPRESSION_NONE,
	     RILL_TIMESTAMP_CREATE_TIME, 100);
	seed(enc, dir, "shapes-zstd", shapes, 5, RILL_COMPRESSION_ZSTD,
	     RILL_TIMESTAMP_CREATE_TIME, 100);
	seed(enc, dir, "shapes-log-append", shapes, 5, RILL_COMPRESSION_NONE,
	     RILL_TIMESTAMP_LOG_APPEND_TIME, 7);
	for (size_t i = 0; i < 300; i++) {
		rill_record r = {text + i, i % 17, text + i % 50, i % 40,
		                 hdrs, i % 3, 1700000000000 + (int64_t)(i * 7 % 100) - 50, 0};
		if (i % 9 == 0)
			r.key = NULL, r.key_len = 0;
		if (i % 11 == 0)
			r.value = NULL, r.value_len = 0;
		many[i] = r;
	}
	seed(enc, dir, "many", many, 40, RILL_COMPRESSION_NONE,
	     RILL_TIMESTAMP_CREATE_TIME, 1 << 20);
	seed(enc, dir, "many-zstd", many, 300, RILL_COMPRESSION_ZSTD,
	     RILL_TIMESTAMP_CREATE_TIME, 1 << 20);
	seed(enc, dir, "many-zstd-log-append", many, 300, RILL_COMPRESSION_ZSTD,
	     RILL_TIMESTAMP_LOG_APPEND_TIME, 0);
	rill__batch_encoder_free(enc);
}
#endif /* RILL_FUZZ_GENERATE */
