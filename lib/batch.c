/*
 * batch.c — the record batch codec: encode records into one batch, check a
 * batch read back from disk, iterate its records. Pure computation: no I/O,
 * no locks, no global state. docs/FORMAT.md holds the same layout with
 * worked examples; this comment is the implementer's copy.
 *
 * Sections
 *   1. design (this comment)
 *   2. varints and buffers
 *   3. encoder
 *   4. checksum: seal, verify, partition key
 *   5. header parsing
 *   6. decoder
 *
 * RECORD BATCH (fixed-width integers little-endian)
 *
 *   off size field
 *    0   8   base_offset        offset of the first record
 *    8   4   length             bytes after this field (batch size - 12)
 *   12   4   leader_epoch       partition leader epoch, -1 none
 *   16   1   magic              1 = format version 1
 *   17   1   reserved           0
 *   18   2   attributes         bits 0-2 codec (0 none, 4 zstd); bit 3
 *                               LogAppendTime; bit 4 transactional; bit 5
 *                               control; bits 6-15 zero
 *   20   4   last_offset_delta  record_count - 1
 *   24   8   first_timestamp    the first record's timestamp (ms)
 *   32   8   max_timestamp      largest record timestamp; under
 *                               LogAppendTime the append time
 *   40   8   producer_id        -1 none
 *   48   2   producer_epoch     -1 none
 *   50   2   reserved           0
 *   52   4   base_sequence      -1 none
 *   56   4   record_count       >= 1
 *   60   4   records_size       records section size, uncompressed
 *   64   8   checksum           see CHECKSUM
 *   72   ... records section: the records back to back (codec 0), or one
 *            zstd frame holding them (codec 4)
 *
 * RECORD (Kafka RecordBatch v2's record, byte for byte)
 *
 *   length           varint   bytes after this field
 *   attributes       int8     0
 *   timestamp_delta  varlong  timestamp - first_timestamp
 *   offset_delta     varint   offset - base_offset; equals the record's index
 *   key_length       varint   -1: null key
 *   key              bytes
 *   value_length     varint   -1: null value (a tombstone)
 *   value            bytes
 *   header_count     varint   0 .. RILL_HEADERS_PER_RECORD_MAX
 *   header_count times:
 *     name_length    varint   >= 0 (names are never null)
 *     name           bytes
 *     value_length   varint   -1: null value
 *     value          bytes
 *
 *   varint  = zigzag(int32) in little-endian base 128 (LEB128), 1-5 bytes
 *   varlong = zigzag(int64) in LEB128, 1-10 bytes
 *   zigzag(n) = 2n for n >= 0, -2n-1 for n < 0 (0,-1,1,-2 -> 0,1,2,3)
 *   Encodings must be canonical: the last byte is not 0 unless it is the
 *   only byte, and has no bits beyond 32 (varint) or 64 (varlong). Kafka
 *   accepts overlong forms; rill writes none and reads none, so every value
 *   has exactly one encoding.
 *   The smallest record is 7 bytes (length 6, six 1-byte fields).
 *
 * TIMESTAMPS
 *   A record given RILL_TIMESTAMP_NOW takes params->now_ms. first_timestamp
 *   is the first record's timestamp (its delta is 0). CreateTime:
 *   max_timestamp is the largest record timestamp. LogAppendTime (Kafka's
 *   rule): records keep their producer timestamps, attribute bit 3 is set,
 *   max_timestamp is the append time (now_ms, or the override given to
 *   seal), and readers report max_timestamp as every record's timestamp.
 *   INT64_MIN is never a stored timestamp (it means "now" on input).
 *
 * CHECKSUM
 *   R        = XXH3_64(records section as stored, seed = partition_key)
 *   checksum = XXH3_64(header bytes 0..63, seed = R)
 *   partition_key = XXH3_64 of the bytes "<topic>/<partition in decimal>"
 *   Every header byte except the checksum itself is covered — leader epoch
 *   included, which Kafka's CRC-32C leaves out. The seed binds the batch to
 *   its partition and base_offset (byte 0) binds it to its position, so a
 *   misdirected write, or a batch read from the wrong file or offset, fails
 *   the check (docs/FORMAT.md, "Checksum"). Two passes so that the
 *   expensive one (R) runs in the encoder, outside the partition lock, and
 *   sealing after the offset is assigned hashes just 64 bytes.
 *
 * COMPRESSION
 *   Codec 4: the section is exactly one zstd frame that declares its
 *   content size, equal to records_size, and nothing after it. The encoder
 *   keeps the frame only if it is smaller than the raw records; otherwise it
 *   stores the batch with codec 0 (so a zstd section is always smaller than
 *   records_size, and readers check that). The decoder decompresses into a
 *   buffer of exactly records_size bytes: a frame that would produce more
 *   (a decompression bomb) is corrupt, never an allocation.
 *
 * A BATCH IS VALID when
 *   - header: magic 1; both reserved fields 0; no attribute bits beyond
 *     bit 5; codec 0 or 4; length >= 60; 12 + length within the caller's
 *     bound; record_count in [1, RILL_RECORDS_PER_BATCH_MAX];
 *     last_offset_delta = record_count - 1; base_offset + last_offset_delta
 *     <= INT64_MAX; neither timestamp INT64_MIN; CreateTime: max_timestamp
 *     >= first_timestamp; 7 * record_count <= records_size <=
 *     RILL_BATCH_RECORDS_SIZE_MAX; codec 0: records_size = length - 60;
 *     codec 4: 0 < length - 60 < records_size;
 *   - the checksum matches for the partition;
 *   - records: exactly record_count records fill the section exactly; each
 *     record's fields fill its length exactly; attributes 0; offset_delta =
 *     index; the first record's timestamp_delta 0; no timestamp overflows or
 *     equals INT64_MIN; every length fits what is left; names not null;
 *     CreateTime: the largest record timestamp equals max_timestamp.
 *   Zero-filled bytes never parse: magic 0 fails, and so does length 0.
 *
 * MEMORY
 *   The encoder owns its output buffer, a scratch buffer (raw records when
 *   compressing) and a ZSTD_CCtx; the decoder owns a decompression buffer,
 *   a ZSTD_DCtx and a headers array. All grow to the largest batch seen and
 *   are then reused: steady-state encoding and decoding allocate nothing.
 *   zstd allocates through rill__malloc too (ZSTD_customMem), so the test
 *   allocator sees, counts and can fail its allocations.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem, ZSTD_create?Ctx_advanced */
#include "batch.h"
#include "checksum.h"

#include <inttypes.h>
#include <stdio.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

/* Largest records section, uncompressed: a whole batch at the hard cap. */
#define RILL_BATCH_RECORDS_SIZE_MAX (RILL_MESSAGE_BYTES_MAX - RILL_BATCH_HEADER_SIZE)
#define RECORD_SIZE_MIN 7        /* length + six 1-byte fields */
#define RECORD_BODY_SIZE_MIN 6   /* the same without the length */
#define VARINT_BYTES_MAX 5
#define VARLONG_BYTES_MAX 10
#define LENGTH_MAX INT32_MAX     /* any key, value, name or header value */
#define CODEC_NONE 0u
#define CODEC_ZSTD 4u

/* header field offsets */
#define AT_BASE_OFFSET 0
#define AT_LENGTH 8
#define AT_LEADER_EPOCH 12
#define AT_MAGIC 16
#define AT_RESERVED_1 17
#define AT_ATTRIBUTES 18
#define AT_LAST_OFFSET_DELTA 20
#define AT_FIRST_TIMESTAMP 24
#define AT_MAX_TIMESTAMP 32
#define AT_PRODUCER_ID 40
#define AT_PRODUCER_EPOCH 48
#define AT_RESERVED_2 50
#define AT_BASE_SEQUENCE 52
#define AT_RECORD_COUNT 56
#define AT_RECORDS_SIZE 60
#define AT_CHECKSUM 64

RILL_STATIC_ASSERT(AT_CHECKSUM + 8 == RILL_BATCH_HEADER_SIZE,
                   "checksum is the last header field");
RILL_STATIC_ASSERT(RILL_BATCH_LOG_OVERHEAD == AT_LEADER_EPOCH,
                   "length counts the bytes after base_offset and length");
RILL_STATIC_ASSERT(RILL_MESSAGE_BYTES_MAX <= (uint64_t)INT32_MAX,
                   "a records section and every record length fit a varint");
RILL_STATIC_ASSERT((RILL_BATCH_ATTR_COMPRESSION_MASK & CODEC_ZSTD) == CODEC_ZSTD,
                   "Kafka's zstd id fits the codec bits");
RILL_STATIC_ASSERT(RILL_RECORD_OVERHEAD_MAX ==
                   VARINT_BYTES_MAX + 1 + VARLONG_BYTES_MAX + 4 * VARINT_BYTES_MAX,
                   "record overhead bound matches the encoding");

/* ============================================================= 2. varints */

static uint64_t zigzag(int64_t n)
{
	return n < 0 ? ~((uint64_t)n << 1) : (uint64_t)n << 1;
}

static inline int64_t unzigzag(uint64_t u)
{
	/* Branch-free: (u >> 1) xor all-ones when the sign bit (bit 0) is set. */
	return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static size_t varint_size(int64_t n)
{
	uint64_t u = zigzag(n);
	size_t size = 1;
	while (u >= 0x80) {
		u >>= 7;
		size++;
	}
	RILL_ASSERT(size <= VARLONG_BYTES_MAX);
	return size;
}

static uint8_t *put_varint(uint8_t *p, int64_t n)
{
	uint64_t u = zigzag(n);
	while (u >= 0x80) {
		*p++ = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	*p++ = (uint8_t)u;
	return p;
}

/* A read position in a byte range. */
typedef struct cursor {
	const uint8_t *pos; /* next byte to read */
	const uint8_t *end; /* one past the last readable byte */
} cursor;

static size_t cursor_left(const cursor *c)
{
	RILL_ASSERT(c->pos <= c->end);
	return (size_t)(c->end - c->pos);
}

/*
 * Read a canonical zigzag LEB128 integer of at most `bits` (32 or 64).
 * Returns NULL, or why the bytes are not one (the caller names the field).
 */
static inline const char *read_varint(cursor *c, unsigned bits, int64_t *out)
{
	RILL_ASSERT(bits == 32 || bits == 64);
	/* Most lengths and deltas fit one byte: the decoder's hot path. */
	if (c->pos < c->end && *c->pos < 0x80) {
		*out = unzigzag(*c->pos++);
		return NULL;
	}
	unsigned bytes_max = bits == 32 ? VARINT_BYTES_MAX : VARLONG_BYTES_MAX;
	unsigned last_bits = bits - 7 * (bytes_max - 1); /* 4 or 1 */
	uint64_t u = 0;

	for (unsigned i = 0; i < bytes_max; i++) {
		if (c->pos == c->end)
			return "truncated varint";
		uint8_t b = *c->pos++;
		u |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			if (b == 0 && i > 0)
				return "overlong varint";
			if (i == bytes_max - 1 && (b >> last_bits) != 0)
				return bits == 32 ? "varint above 32 bits"
				                  : "varlong above 64 bits";
			*out = unzigzag(u);
			return NULL;
		}
	}
	return bits == 32 ? "varint longer than 5 bytes"
	                  : "varlong longer than 10 bytes";
}

/* Make *buf hold at least `need` bytes; the old contents are dropped. */
static int reserve(uint8_t **buf, size_t *capacity, size_t need, const char *what)
{
	RILL_ASSERT(buf != NULL);
	RILL_ASSERT(*capacity == 0 || *buf != NULL);
	if (need <= *capacity)
		return 0;
	size_t grown = *capacity * 2;
	if (grown < need)
		grown = need;
	rill__free(*buf);
	*buf = rill__malloc(grown);
	if (*buf == NULL) {
		*capacity = 0;
		return rill__error(RILL_ENOMEM, "allocating %zu bytes for %s", grown, what);
	}
	*capacity = grown;
	return 0;
}

static void *zstd_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return rill__malloc(size);
}

static void zstd_free(void *opaque, void *address)
{
	(void)opaque;
	rill__free(address);
}

static const ZSTD_customMem zstd_memory = {zstd_alloc, zstd_free, NULL};

/* ============================================================= 3. encoder */

struct rill_batch_encoder {
	uint8_t *out;            /* the batch being built */
	size_t out_capacity;
	uint8_t *scratch;        /* raw records before compression */
	size_t scratch_capacity;
	ZSTD_CCtx *cctx;         /* created on the first zstd batch, reused */
};

int rill__batch_encoder_new(rill_batch_encoder **out)
{
	RILL_ASSERT(out != NULL);
	*out = rill__calloc(1, sizeof(**out));
	if (*out == NULL)
		return rill__error(RILL_ENOMEM, "allocating a batch encoder");
	RILL_ASSERT((*out)->cctx == NULL);
	return 0;
}

void rill__batch_encoder_free(rill_batch_encoder *enc)
{
	if (enc == NULL)
		return;
	ZSTD_freeCCtx(enc->cctx);
	rill__free(enc->out);
	rill__free(enc->scratch);
	rill__free(enc);
}

/* Bytes of a key, value or header value field: length varint + bytes. */
static uint64_t field_size(const void *bytes, size_t len)
{
	if (bytes == NULL)
		return 1; /* varint(-1) */
	RILL_ASSERT(len <= LENGTH_MAX);
	return varint_size((int64_t)len) + len;
}

/* Check one record's pointers and lengths (caller input). */
static int check_record(const rill_record *r, size_t index)
{
	if (r->key == NULL ? r->key_len != 0 : r->key_len > LENGTH_MAX)
		return rill__error(RILL_EINVAL, "record %zu: bad key (%s, %zu bytes)", index,
		                   r->key == NULL ? "NULL" : "non-NULL", r->key_len);
	if (r->value == NULL ? r->value_len != 0 : r->value_len > LENGTH_MAX)
		return rill__error(RILL_EINVAL, "record %zu: bad value (%s, %zu bytes)", index,
		                   r->value == NULL ? "NULL" : "non-NULL", r->value_len);
	if (r->header_count > RILL_HEADERS_PER_RECORD_MAX)
		return rill__error(RILL_EINVAL, "record %zu: %zu headers, above the limit of %d",
		                   index, r->header_count, RILL_HEADERS_PER_RECORD_MAX);
	if (r->header_count > 0 && r->headers == NULL)
		return rill__error(RILL_EINVAL, "record %zu: %zu headers but headers is NULL",
		                   index, r->header_count);
	for (size_t i = 0; i < r->header_count; i++) {
		const rill_header *h = &r->headers[i];
		if (h->name == NULL ? h->name_len != 0 : h->name_len > LENGTH_MAX)
			return rill__error(RILL_EINVAL, "record %zu header %zu: bad name (%s, %zu bytes)",
			                   index, i, h->name == NULL ? "NULL" : "non-NULL",
			                   h->name_len);
		if (h->value == NULL ? h->value_len != 0 : h->value_len > LENGTH_MAX)
			return rill__error(RILL_EINVAL, "record %zu header %zu: bad value (%s, %zu bytes)",
			                   index, i, h->value == NULL ? "NULL" : "non-NULL",
			                   h->value_len);
	}
	return 0;
}

/* Bytes after a record's length field. Never overflows: each length is
 * at most 2^31-1 and there are at most 65536 headers (about 2^48 total). */
static uint64_t record_body_size(const rill_record *r, size_t index, int64_t ts_delta)
{
	RILL_ASSERT(index <= RILL_RECORDS_PER_BATCH_MAX);
	RILL_ASSERT(r->header_count <= RILL_HEADERS_PER_RECORD_MAX);
	uint64_t size = 1 + varint_size(ts_delta) + varint_size((int64_t)index) +
	                field_size(r->key, r->key_len) +
	                field_size(r->value, r->value_len) +
	                varint_size((int64_t)r->header_count);
	for (size_t i = 0; i < r->header_count; i++) {
		const rill_header *h = &r->headers[i];
		/* a NULL name with length 0 is the empty name: never null */
		size += varint_size((int64_t)h->name_len) + h->name_len +
		        field_size(h->value, h->value_len);
	}
	return size;
}

static uint8_t *put_field(uint8_t *p, const void *bytes, size_t len)
{
	if (bytes == NULL)
		return put_varint(p, -1);
	p = put_varint(p, (int64_t)len);
	if (len > 0)
		memcpy(p, bytes, len);
	return p + len;
}

static uint8_t *put_record(uint8_t *p, const rill_record *r, size_t index,
                           int64_t ts_delta)
{
	uint64_t body_size = record_body_size(r, index, ts_delta);
	RILL_ASSERT(body_size <= RILL_BATCH_RECORDS_SIZE_MAX);

	p = put_varint(p, (int64_t)body_size);
	uint8_t *body_end = p + body_size;
	*p++ = 0; /* attributes */
	p = put_varint(p, ts_delta);
	p = put_varint(p, (int64_t)index);
	p = put_field(p, r->key, r->key_len);
	p = put_field(p, r->value, r->value_len);
	p = put_varint(p, (int64_t)r->header_count);
	for (size_t i = 0; i < r->header_count; i++) {
		const rill_header *h = &r->headers[i];
		p = put_field(p, h->name_len > 0 ? h->name : "", h->name_len);
		p = put_field(p, h->value, h->value_len);
	}
	RILL_ASSERT(p == body_end);
	return body_end;
}

static int64_t record_timestamp(const rill_record *r, const rill_batch_params *params)
{
	return r->timestamp_ms == RILL_TIMESTAMP_NOW ? params->now_ms : r->timestamp_ms;
}

static int check_params(const rill_batch_params *params, bool need_now)
{
	if (params->compression != RILL_COMPRESSION_NONE &&
	    params->compression != RILL_COMPRESSION_ZSTD)
		return rill__error(RILL_EINVAL, "unknown compression type %d", params->compression);
	if (params->timestamp_type != RILL_TIMESTAMP_CREATE_TIME &&
	    params->timestamp_type != RILL_TIMESTAMP_LOG_APPEND_TIME)
		return rill__error(RILL_EINVAL, "unknown timestamp type %d", params->timestamp_type);
	if (need_now && params->now_ms == RILL_TIMESTAMP_NOW)
		return rill__error(RILL_EINVAL, "now_ms is RILL_TIMESTAMP_NOW but a clock "
		                   "reading is needed");
	return 0;
}

/* Validate the records and size their section; set first/max timestamps. */
static int size_records(const rill_record *records, size_t count,
                        const rill_batch_params *params, uint64_t *out_size,
                        int64_t *out_first_ts, int64_t *out_max_ts)
{
	RILL_ASSERT(count >= 1);
	RILL_ASSERT(count <= RILL_RECORDS_PER_BATCH_MAX);
	int64_t first_ts = record_timestamp(&records[0], params);
	int64_t max_ts = first_ts;
	uint64_t size = 0;

	for (size_t i = 0; i < count; i++) {
		int rc = check_record(&records[i], i);
		if (rc != 0)
			return rc;
		int64_t ts = record_timestamp(&records[i], params);
		if ((ts >= 0 && first_ts < 0 && ts - INT64_MAX > first_ts) ||
		    (ts < 0 && first_ts >= 0 && ts < INT64_MIN + first_ts))
			return rill__error(RILL_EINVAL, "record %zu: timestamp %" PRId64
			                   " too far from the first record's %" PRId64,
			                   i, ts, first_ts);
		if (ts > max_ts)
			max_ts = ts;
		uint64_t body = record_body_size(&records[i], i, ts - first_ts);
		if (body > RILL_BATCH_RECORDS_SIZE_MAX) {
			size = body; /* reported below */
			break;
		}
		size += varint_size((int64_t)body) + body;
		if (size > RILL_BATCH_RECORDS_SIZE_MAX)
			break;
	}
	if (size > RILL_BATCH_RECORDS_SIZE_MAX) {
		if (params->compression == RILL_COMPRESSION_NONE)
			return rill__error(RILL_ETOOBIG, "batch of more than %" PRIu64
			                   " bytes exceeds max.message.bytes=%" PRIu64,
			                   size + RILL_BATCH_HEADER_SIZE, params->max_batch_bytes);
		return rill__error(RILL_ETOOBIG, "records of more than %" PRIu64 " bytes "
		                   "uncompressed exceed rill's limit of %u per batch",
		                   size, (unsigned)RILL_BATCH_RECORDS_SIZE_MAX);
	}
	*out_size = size;
	*out_first_ts = first_ts;
	*out_max_ts = max_ts;
	return 0;
}

/* Pass 2: write what size_records measured. The records are the caller's
 * and must not change in between; if they did, say so (release builds). */
static int write_records(uint8_t *p, const rill_record *records, size_t count,
                         const rill_batch_params *params, int64_t first_ts,
                         uint64_t records_size)
{
	RILL_ASSERT(records_size >= RECORD_SIZE_MIN * (uint64_t)count);
	const uint8_t *end = p + records_size;
	for (size_t i = 0; i < count; i++)
		p = put_record(p, &records[i], i, record_timestamp(&records[i], params) - first_ts);
	if (RILL_NEVER(p != end))
		return rill__error(RILL_EINVAL, "records changed while being encoded");
	return 0;
}

/* Compress enc->scratch into enc->out after the header. Returns 0 with
 * *out_stored the frame size, or the raw size when the frame would not be
 * smaller (and the raw records copied in place of it). */
static int compress_records(rill_batch_encoder *enc, size_t records_size,
                            int level, size_t *out_stored, unsigned *out_codec)
{
	RILL_ASSERT(records_size >= RECORD_SIZE_MIN);
	RILL_ASSERT(enc->out_capacity >= RILL_BATCH_HEADER_SIZE + records_size);
	if (enc->cctx == NULL) {
		enc->cctx = ZSTD_createCCtx_advanced(zstd_memory);
		if (enc->cctx == NULL)
			return rill__error(RILL_ENOMEM, "allocating a zstd compression context");
	}
	/* capacity records_size - 1: a frame that does not fit is not smaller */
	size_t r = ZSTD_compressCCtx(enc->cctx, enc->out + RILL_BATCH_HEADER_SIZE,
	                             records_size - 1, enc->scratch, records_size, level);
	if (!ZSTD_isError(r)) {
		*out_stored = r;
		*out_codec = CODEC_ZSTD;
		return 0;
	}
	if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return rill__error(RILL_ENOMEM, "zstd compression of %zu bytes: %s",
		                   records_size, ZSTD_getErrorName(r));
	if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall)
		return rill__error(RILL_EIO, "zstd compression of %zu bytes failed: %s",
		                   records_size, ZSTD_getErrorName(r));
	memcpy(enc->out + RILL_BATCH_HEADER_SIZE, enc->scratch, records_size);
	*out_stored = records_size;
	*out_codec = CODEC_NONE;
	return 0;
}

static void write_header(uint8_t *p, const rill_batch_params *params, uint32_t count,
                         uint16_t attributes, int64_t first_ts, int64_t max_ts,
                         uint32_t records_size, uint32_t stored_size)
{
	RILL_ASSERT(count >= 1);
	RILL_ASSERT(stored_size <= records_size);
	rill__put_u64(p + AT_BASE_OFFSET, 0);
	rill__put_u32(p + AT_LENGTH,
	              RILL_BATCH_HEADER_SIZE - RILL_BATCH_LOG_OVERHEAD + stored_size);
	rill__put_u32(p + AT_LEADER_EPOCH, (uint32_t)params->leader_epoch);
	p[AT_MAGIC] = RILL_BATCH_MAGIC;
	p[AT_RESERVED_1] = 0;
	rill__put_u16(p + AT_ATTRIBUTES, attributes);
	rill__put_u32(p + AT_LAST_OFFSET_DELTA, count - 1);
	rill__put_u64(p + AT_FIRST_TIMESTAMP, (uint64_t)first_ts);
	rill__put_u64(p + AT_MAX_TIMESTAMP, (uint64_t)max_ts);
	rill__put_u64(p + AT_PRODUCER_ID, (uint64_t)params->producer_id);
	rill__put_u16(p + AT_PRODUCER_EPOCH, (uint16_t)params->producer_epoch);
	rill__put_u16(p + AT_RESERVED_2, 0);
	rill__put_u32(p + AT_BASE_SEQUENCE, (uint32_t)params->base_sequence);
	rill__put_u32(p + AT_RECORD_COUNT, count);
	rill__put_u32(p + AT_RECORDS_SIZE, records_size);
	rill__put_u64(p + AT_CHECKSUM, 0); /* rill__batch_seal */
}

int rill__batch_encode(rill_batch_encoder *enc, const rill_record *records,
                       size_t count, const rill_batch_params *params,
                       uint8_t **out_batch, size_t *out_size,
                       uint64_t *out_records_hash)
{
	RILL_ASSERT(enc != NULL);
	RILL_ASSERT(out_batch != NULL && out_size != NULL && out_records_hash != NULL);
	uint64_t records_size = 0;
	int64_t first_ts = 0;
	int64_t max_ts = 0;
	size_t stored_size = 0;
	unsigned codec = CODEC_NONE;
	int rc;

	if (params == NULL)
		return rill__error(RILL_EINVAL, "batch parameters are NULL");
	if (count == 0 || count > RILL_RECORDS_PER_BATCH_MAX)
		return rill__error(RILL_EINVAL, "%zu records in a batch (must be 1 to %u)",
		                   count, (unsigned)RILL_RECORDS_PER_BATCH_MAX);
	if (records == NULL)
		return rill__error(RILL_EINVAL, "records is NULL");
	bool need_now = params->timestamp_type == RILL_TIMESTAMP_LOG_APPEND_TIME;
	for (size_t i = 0; i < count && !need_now; i++)
		need_now = records[i].timestamp_ms == RILL_TIMESTAMP_NOW;
	rc = check_params(params, need_now);
	if (rc != 0)
		return rc;
	rc = size_records(records, count, params, &records_size, &first_ts, &max_ts);
	if (rc != 0)
		return rc;

	uint64_t raw_total = RILL_BATCH_HEADER_SIZE + records_size;
	if (params->compression == RILL_COMPRESSION_NONE && raw_total > params->max_batch_bytes)
		return rill__error(RILL_ETOOBIG, "batch of %" PRIu64 " bytes exceeds "
		                   "max.message.bytes=%" PRIu64, raw_total, params->max_batch_bytes);
	rc = reserve(&enc->out, &enc->out_capacity, (size_t)raw_total, "a batch");
	if (rc != 0)
		return rc;

	if (params->compression == RILL_COMPRESSION_NONE) {
		rc = write_records(enc->out + RILL_BATCH_HEADER_SIZE, records, count,
		                   params, first_ts, records_size);
		if (rc != 0)
			return rc;
		stored_size = (size_t)records_size;
	} else {
		rc = reserve(&enc->scratch, &enc->scratch_capacity,
		             (size_t)records_size, "uncompressed records");
		if (rc != 0)
			return rc;
		rc = write_records(enc->scratch, records, count, params, first_ts,
		                   records_size);
		if (rc != 0)
			return rc;
		rc = compress_records(enc, (size_t)records_size, params->zstd_level,
		                      &stored_size, &codec);
		if (rc != 0)
			return rc;
	}

	uint64_t total = RILL_BATCH_HEADER_SIZE + (uint64_t)stored_size;
	if (total > params->max_batch_bytes)
		return rill__error(RILL_ETOOBIG, "batch of %" PRIu64 " bytes exceeds "
		                   "max.message.bytes=%" PRIu64, total, params->max_batch_bytes);

	uint16_t attributes = (uint16_t)codec;
	if (params->timestamp_type == RILL_TIMESTAMP_LOG_APPEND_TIME) {
		attributes |= RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND;
		max_ts = params->now_ms;
	}
	write_header(enc->out, params, (uint32_t)count, attributes, first_ts, max_ts,
	             (uint32_t)records_size, (uint32_t)stored_size);
	*out_records_hash = rill__checksum(enc->out + RILL_BATCH_HEADER_SIZE, stored_size,
	                                   params->partition_key);
	*out_batch = enc->out;
	*out_size = (size_t)total;
	return 0;
}

/* ============================================================ 4. checksum */

static uint64_t header_checksum(const uint8_t *batch, uint64_t records_hash)
{
	return XXH3_64bits_withSeed(batch, AT_CHECKSUM, records_hash);
}

void rill__batch_seal(uint8_t *batch, uint64_t base_offset,
                      int64_t max_timestamp_override, uint64_t records_hash)
{
	RILL_ASSERT(batch[AT_MAGIC] == RILL_BATCH_MAGIC);
	RILL_ASSERT(base_offset <= (uint64_t)INT64_MAX - rill__get_u32(batch + AT_LAST_OFFSET_DELTA));
	rill__put_u64(batch + AT_BASE_OFFSET, base_offset);
	if (max_timestamp_override != INT64_MIN) {
		/* CreateTime batches carry the producers' maximum; only
		 * LogAppendTime takes the clock reading made under the lock. */
		RILL_ASSERT(rill__get_u16(batch + AT_ATTRIBUTES) &
		            RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND);
		rill__put_u64(batch + AT_MAX_TIMESTAMP, (uint64_t)max_timestamp_override);
	}
	rill__put_u64(batch + AT_CHECKSUM, header_checksum(batch, records_hash));
}

int rill__batch_verify(const uint8_t *batch, size_t size, uint64_t partition_key)
{
	RILL_ASSERT(batch != NULL);
	if (size < RILL_BATCH_HEADER_SIZE)
		return rill__error(RILL_ECORRUPT, "batch of %zu bytes is shorter than its "
		                   "%d-byte header", size, RILL_BATCH_HEADER_SIZE);
	uint64_t total = (uint64_t)rill__get_u32(batch + AT_LENGTH) + RILL_BATCH_LOG_OVERHEAD;
	if (total != size)
		return rill__error(RILL_ECORRUPT, "batch length field gives %" PRIu64
		                   " bytes but %zu were read", total, size);
	uint64_t records_hash = rill__checksum(batch + RILL_BATCH_HEADER_SIZE,
	                                       size - RILL_BATCH_HEADER_SIZE, partition_key);
	uint64_t computed = header_checksum(batch, records_hash);
	uint64_t stored = rill__get_u64(batch + AT_CHECKSUM);
	if (computed != stored)
		return rill__error(RILL_ECORRUPT, "checksum mismatch: stored %016" PRIx64
		                   ", computed %016" PRIx64, stored, computed);
	return 0;
}

uint64_t rill__partition_key(const char *topic, int32_t partition)
{
	RILL_ASSERT(topic != NULL);
	size_t topic_len = strlen(topic);
	char buf[RILL_TOPIC_NAME_MAX + 16]; /* "<topic>/-2147483648" */
	char suffix[16];
	int suffix_len = snprintf(suffix, sizeof(suffix), "/%" PRId32, partition);
	RILL_ASSERT(suffix_len > 0 && (size_t)suffix_len < sizeof(suffix));

	if (RILL_NEVER(topic_len > RILL_TOPIC_NAME_MAX)) {
		/* Valid topic names are at most 249 bytes; an unvalidated
		 * longer one still gets a key that depends on all of it. */
		return XXH3_64bits_withSeed(suffix, (size_t)suffix_len,
		                            XXH3_64bits(topic, topic_len));
	}
	memcpy(buf, topic, topic_len);
	memcpy(buf + topic_len, suffix, (size_t)suffix_len);
	return XXH3_64bits(buf, topic_len + (size_t)suffix_len);
}

/* ======================================================= 5. header parse */

int rill__batch_parse_header(const uint8_t *p, size_t avail, uint64_t max_total,
                             rill_batch_header *out)
{
	RILL_ASSERT(p != NULL || avail == 0);
	RILL_ASSERT(out != NULL);
	rill_batch_header h;

	if (avail < RILL_BATCH_HEADER_SIZE)
		return rill__error(RILL_ECORRUPT, "truncated batch header: %zu bytes, need %d",
		                   avail, RILL_BATCH_HEADER_SIZE);
	h.base_offset = rill__get_u64(p + AT_BASE_OFFSET);
	h.length = rill__get_u32(p + AT_LENGTH);
	h.leader_epoch = (int32_t)rill__get_u32(p + AT_LEADER_EPOCH);
	h.magic = p[AT_MAGIC];
	h.attributes = rill__get_u16(p + AT_ATTRIBUTES);
	h.last_offset_delta = rill__get_u32(p + AT_LAST_OFFSET_DELTA);
	h.first_timestamp = (int64_t)rill__get_u64(p + AT_FIRST_TIMESTAMP);
	h.max_timestamp = (int64_t)rill__get_u64(p + AT_MAX_TIMESTAMP);
	h.producer_id = (int64_t)rill__get_u64(p + AT_PRODUCER_ID);
	h.producer_epoch = (int16_t)rill__get_u16(p + AT_PRODUCER_EPOCH);
	h.base_sequence = (int32_t)rill__get_u32(p + AT_BASE_SEQUENCE);
	h.record_count = rill__get_u32(p + AT_RECORD_COUNT);
	h.records_size = rill__get_u32(p + AT_RECORDS_SIZE);
	h.checksum = rill__get_u64(p + AT_CHECKSUM);

	unsigned codec = h.attributes & RILL_BATCH_ATTR_COMPRESSION_MASK;
	uint64_t total = rill__batch_total_size(&h);
	uint32_t stored_min = RILL_BATCH_HEADER_SIZE - RILL_BATCH_LOG_OVERHEAD;

	if (h.magic != RILL_BATCH_MAGIC)
		return rill__error(RILL_ECORRUPT, "bad magic %u (expected %d)", h.magic,
		                   RILL_BATCH_MAGIC);
	if (p[AT_RESERVED_1] != 0)
		return rill__error(RILL_ECORRUPT, "reserved byte %d is 0x%02x (expected 0)",
		                   AT_RESERVED_1, p[AT_RESERVED_1]);
	if (rill__get_u16(p + AT_RESERVED_2) != 0)
		return rill__error(RILL_ECORRUPT, "reserved bytes %d-%d are 0x%04x (expected 0)",
		                   AT_RESERVED_2, AT_RESERVED_2 + 1,
		                   rill__get_u16(p + AT_RESERVED_2));
	if ((h.attributes & ~RILL_BATCH_ATTR_KNOWN) != 0)
		return rill__error(RILL_ECORRUPT, "unknown attribute bits 0x%04x",
		                   h.attributes & ~RILL_BATCH_ATTR_KNOWN);
	if (codec != CODEC_NONE && codec != CODEC_ZSTD)
		return rill__error(RILL_ECORRUPT, "unknown compression codec %u", codec);
	if (h.length < stored_min)
		return rill__error(RILL_ECORRUPT, "length %" PRIu32 " below the %" PRIu32
		                   "-byte minimum", h.length, stored_min);
	if (total > max_total)
		return rill__error(RILL_ECORRUPT, "length %" PRIu32 " makes a %" PRIu64
		                   "-byte batch, above the %" PRIu64 "-byte bound",
		                   h.length, total, max_total);
	if (h.record_count == 0)
		return rill__error(RILL_ECORRUPT, "record count 0");
	if (h.record_count > RILL_RECORDS_PER_BATCH_MAX)
		return rill__error(RILL_ECORRUPT, "record count %" PRIu32 " above the limit %u",
		                   h.record_count, (unsigned)RILL_RECORDS_PER_BATCH_MAX);
	if (h.last_offset_delta != h.record_count - 1)
		return rill__error(RILL_ECORRUPT, "last offset delta %" PRIu32
		                   " does not match record count %" PRIu32,
		                   h.last_offset_delta, h.record_count);
	if (h.base_offset > (uint64_t)INT64_MAX - h.last_offset_delta)
		return rill__error(RILL_ECORRUPT, "base offset %" PRIu64 " + last offset delta %"
		                   PRIu32 " overflows", h.base_offset, h.last_offset_delta);
	if (h.first_timestamp == INT64_MIN || h.max_timestamp == INT64_MIN)
		return rill__error(RILL_ECORRUPT, "%s timestamp is INT64_MIN",
		                   h.first_timestamp == INT64_MIN ? "first" : "max");
	if ((h.attributes & RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND) == 0 &&
	    h.max_timestamp < h.first_timestamp)
		return rill__error(RILL_ECORRUPT, "max timestamp %" PRId64
		                   " below first timestamp %" PRId64,
		                   h.max_timestamp, h.first_timestamp);
	if (h.records_size > RILL_BATCH_RECORDS_SIZE_MAX)
		return rill__error(RILL_ECORRUPT, "records size %" PRIu32 " above the limit %u",
		                   h.records_size, (unsigned)RILL_BATCH_RECORDS_SIZE_MAX);
	if (h.records_size < (uint64_t)RECORD_SIZE_MIN * h.record_count)
		return rill__error(RILL_ECORRUPT, "records size %" PRIu32 " too small for %"
		                   PRIu32 " records of at least %d bytes",
		                   h.records_size, h.record_count, RECORD_SIZE_MIN);
	uint32_t stored = h.length - stored_min;
	if (codec == CODEC_NONE && h.records_size != stored)
		return rill__error(RILL_ECORRUPT, "records size %" PRIu32 " does not match the %"
		                   PRIu32 "-byte records section", h.records_size, stored);
	if (codec == CODEC_ZSTD && (stored == 0 || stored >= h.records_size))
		return rill__error(RILL_ECORRUPT, "zstd section of %" PRIu32
		                   " bytes for records size %" PRIu32 " (must be 1 to size-1)",
		                   stored, h.records_size);
	*out = h;
	return 0;
}

/* ============================================================ 6. decoder */

struct rill_batch_decoder {
	ZSTD_DCtx *dctx;           /* created on the first zstd batch, reused */
	uint8_t *buffer;           /* decompressed records section */
	size_t buffer_capacity;
	rill_header *headers;      /* the current record's headers */
	size_t headers_capacity;   /* entries */

	/* the batch being iterated */
	cursor records;            /* unread part of the records section */
	uint64_t base_offset;
	int64_t first_timestamp;
	int64_t max_timestamp;     /* header field */
	int64_t max_seen;          /* largest record timestamp so far */
	uint32_t record_count;
	uint32_t record_index;     /* of the next record */
	bool log_append_time;      /* report max_timestamp for every record */
	bool started;              /* a batch was started */
	bool failed;               /* a record was corrupt: stop */
	bool careful_only;         /* tests: never take read_record_fast */
	size_t prefetch_distance;  /* see rill__batch_decoder_set_prefetch */
};

int rill__batch_decoder_new(rill_batch_decoder **out)
{
	RILL_ASSERT(out != NULL);
	*out = rill__calloc(1, sizeof(**out));
	if (*out == NULL)
		return rill__error(RILL_ENOMEM, "allocating a batch decoder");
	RILL_ASSERT(!(*out)->started);
	return 0;
}

void rill__batch_decoder_free(rill_batch_decoder *dec)
{
	if (dec == NULL)
		return;
	ZSTD_freeDCtx(dec->dctx);
	rill__free(dec->buffer);
	rill__free(dec->headers);
	rill__free(dec);
}

/* Decompress a zstd section into dst (dec->buffer when NULL), exactly
 * records_size bytes. */
static int decompress_records(rill_batch_decoder *dec, const uint8_t *src,
                              size_t src_size, size_t records_size, uint8_t *dst)
{
	RILL_ASSERT(src_size > 0 && src_size < records_size);
	RILL_ASSERT(records_size <= RILL_BATCH_RECORDS_SIZE_MAX);
	unsigned long long declared = ZSTD_getFrameContentSize(src, src_size);
	if (declared == ZSTD_CONTENTSIZE_ERROR)
		return rill__error(RILL_ECORRUPT, "zstd section is not a zstd frame");
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN)
		return rill__error(RILL_ECORRUPT, "zstd frame does not declare its content size");
	if (declared != records_size)
		return rill__error(RILL_ECORRUPT, "zstd frame declares %llu bytes but records "
		                   "size is %zu", declared, records_size);
	size_t frame_size = ZSTD_findFrameCompressedSize(src, src_size);
	if (ZSTD_isError(frame_size))
		return rill__error(RILL_ECORRUPT, "zstd frame: %s", ZSTD_getErrorName(frame_size));
	if (frame_size != src_size)
		return rill__error(RILL_ECORRUPT, "%zu bytes after the %zu-byte zstd frame",
		                   src_size - frame_size, frame_size);

	if (dst == NULL) {
		int rc = reserve(&dec->buffer, &dec->buffer_capacity, records_size,
		                 "decompressed records");
		if (rc != 0)
			return rc;
		dst = dec->buffer;
	}
	if (dec->dctx == NULL) {
		dec->dctx = ZSTD_createDCtx_advanced(zstd_memory);
		if (dec->dctx == NULL)
			return rill__error(RILL_ENOMEM, "allocating a zstd decompression context");
	}
	size_t r = ZSTD_decompressDCtx(dec->dctx, dst, records_size, src, src_size);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return rill__error(RILL_ENOMEM, "zstd decompression: %s", ZSTD_getErrorName(r));
		return rill__error(RILL_ECORRUPT, "zstd decompression of %zu bytes failed: %s",
		                   src_size, ZSTD_getErrorName(r));
	}
	if (r != records_size)
		return rill__error(RILL_ECORRUPT, "zstd frame gave %zu bytes, records size is %zu",
		                   r, records_size);
	return 0;
}

int rill__batch_decoder_start(rill_batch_decoder *dec, const uint8_t *batch,
                              size_t size)
{
	RILL_ASSERT(dec != NULL);
	RILL_ASSERT(batch != NULL);
	rill_batch_header h;
	dec->started = false;
	int rc = rill__batch_parse_header(batch, size, RILL_MESSAGE_BYTES_MAX, &h);
	if (rc != 0)
		return rc;
	return rill__batch_decoder_start_parsed(dec, batch, size, &h);
}

/* The decoder at record `index` of a records section in memory (plain),
 * which begins at byte `start` of it. */
static void start_section(rill_batch_decoder *dec, const rill_batch_header *h,
                          const uint8_t *section, uint32_t index, uint32_t start)
{
	dec->records.pos = section + start;
	dec->records.end = section + h->records_size;
	dec->base_offset = h->base_offset;
	dec->first_timestamp = h->first_timestamp;
	dec->max_timestamp = h->max_timestamp;
	dec->max_seen = INT64_MIN;
	dec->record_count = h->record_count;
	dec->record_index = index;
	dec->log_append_time = (h->attributes & RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND) != 0;
	dec->failed = false;
	dec->started = true;
	dec->prefetch_distance = 0;
}

/* The checks of rill__batch_decoder_start_parsed on the caller's header. */
static int check_parsed(const uint8_t *batch, size_t size, const rill_batch_header *h)
{
	RILL_ASSERT(batch != NULL);
	RILL_ASSERT(size >= RILL_BATCH_HEADER_SIZE);
	/* the header the caller parsed is this batch's */
	RILL_ASSERT(rill__get_u64(batch + AT_BASE_OFFSET) == h->base_offset);
	RILL_ASSERT(rill__get_u64(batch + AT_CHECKSUM) == h->checksum);
	(void)batch;
	/* the bound rill__batch_decoder_start parses with; the caller's
	 * parse may have had a looser one (the bytes left in a segment) */
	if (rill__batch_total_size(h) > RILL_MESSAGE_BYTES_MAX)
		return rill__error(RILL_ECORRUPT, "length %" PRIu32 " makes a %" PRIu64
		                   "-byte batch, above the %u-byte bound",
		                   h->length, rill__batch_total_size(h), (unsigned)RILL_MESSAGE_BYTES_MAX);
	if (rill__batch_total_size(h) != size)
		return rill__error(RILL_ECORRUPT, "batch length field gives %" PRIu64
		                   " bytes but %zu were given", rill__batch_total_size(h), size);
	return 0;
}

int rill__batch_decoder_start_copy(rill_batch_decoder *dec, const uint8_t *batch, size_t size,
                                   const rill_batch_header *h, uint8_t *section)
{
	RILL_ASSERT(dec != NULL && section != NULL);
	dec->started = false;
	int rc = check_parsed(batch, size, h);
	if (rc != 0)
		return rc;
	const uint8_t *stored = batch + RILL_BATCH_HEADER_SIZE;
	size_t stored_size = size - RILL_BATCH_HEADER_SIZE;
	if ((h->attributes & RILL_BATCH_ATTR_COMPRESSION_MASK) == CODEC_ZSTD) {
		rc = decompress_records(dec, stored, stored_size, h->records_size, section);
		if (rc != 0)
			return rc;
	} else {
		RILL_ASSERT(stored_size == h->records_size); /* rill__batch_parse_header */
		memcpy(section, stored, stored_size);
	}
	start_section(dec, h, section, 0, 0);
	return 0;
}

void rill__batch_decoder_start_at(rill_batch_decoder *dec, const rill_batch_header *h,
                                  const uint8_t *section, uint32_t index, uint32_t start)
{
	RILL_ASSERT(index < h->record_count && start < h->records_size);
	start_section(dec, h, section, index, start);
	/* The whole batch was checked when it was noted, the largest record
	 * timestamp against the header's among those checks. */
	dec->max_seen = h->max_timestamp;
}

int rill__batch_decoder_start_parsed(rill_batch_decoder *dec, const uint8_t *batch,
                                     size_t size, const rill_batch_header *hp)
{
	RILL_ASSERT(dec != NULL);
	RILL_ASSERT(batch != NULL);
	RILL_ASSERT(size >= RILL_BATCH_HEADER_SIZE);
	/* the header the caller parsed is this batch's */
	RILL_ASSERT(rill__get_u64(batch + AT_BASE_OFFSET) == hp->base_offset);
	RILL_ASSERT(rill__get_u64(batch + AT_CHECKSUM) == hp->checksum);
	const rill_batch_header h = *hp;
	int rc;

	dec->started = false;
	rc = check_parsed(batch, size, &h);
	if (rc != 0)
		return rc;
	const uint8_t *section = batch + RILL_BATCH_HEADER_SIZE;
	size_t stored = size - RILL_BATCH_HEADER_SIZE;
	if ((h.attributes & RILL_BATCH_ATTR_COMPRESSION_MASK) == CODEC_ZSTD) {
		rc = decompress_records(dec, section, stored, h.records_size, NULL);
		if (rc != 0)
			return rc;
		section = dec->buffer;
	}
	start_section(dec, &h, section, 0, 0);
	return 0;
}

/* Read a length-prefixed field; -1 is null (*out_bytes NULL) if allowed. */
static const char *read_bytes(cursor *c, bool nullable, const uint8_t **out_bytes,
                              size_t *out_len)
{
	int64_t len;
	const char *why = read_varint(c, 32, &len);
	if (why != NULL)
		return why;
	if (len == -1 && nullable) {
		*out_bytes = NULL;
		*out_len = 0;
		return NULL;
	}
	if (len < 0)
		return "negative length";
	if ((uint64_t)len > cursor_left(c))
		return "length past the end of the record";
	*out_bytes = c->pos;
	*out_len = (size_t)len;
	c->pos += len;
	return NULL;
}

static int grow_headers(rill_batch_decoder *dec, size_t count)
{
	RILL_ASSERT(count <= RILL_HEADERS_PER_RECORD_MAX);
	RILL_ASSERT(dec->headers_capacity == 0 || dec->headers != NULL);
	if (count <= dec->headers_capacity)
		return 0;
	size_t grown = dec->headers_capacity * 2;
	if (grown < count)
		grown = count;
	rill__free(dec->headers);
	dec->headers = rill__malloc(grown * sizeof(rill_header));
	if (dec->headers == NULL) {
		dec->headers_capacity = 0;
		return rill__error(RILL_ENOMEM, "allocating %zu record headers", grown);
	}
	dec->headers_capacity = grown;
	return 0;
}

static int read_headers(rill_batch_decoder *dec, cursor *r, uint32_t index,
                        size_t *out_count)
{
	int64_t count;
	const char *why = read_varint(r, 32, &count);
	if (why != NULL)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": header count: %s",
		                   index, why);
	/* each header takes at least two bytes: bound before allocating */
	if (count < 0 || count > RILL_HEADERS_PER_RECORD_MAX ||
	    (uint64_t)count * 2 > cursor_left(r))
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": header count %" PRId64
		                   " impossible with %zu bytes left", index, count,
		                   cursor_left(r));
	int rc = grow_headers(dec, (size_t)count);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < (size_t)count; i++) {
		rill_header *h = &dec->headers[i];
		const uint8_t *bytes;
		size_t len;
		why = read_bytes(r, false, &bytes, &len);
		if (why != NULL)
			return rill__error(RILL_ECORRUPT, "record %" PRIu32 " header %zu: name: %s",
			                   index, i, why);
		h->name = (const char *)bytes;
		h->name_len = len;
		why = read_bytes(r, true, &bytes, &len);
		if (why != NULL)
			return rill__error(RILL_ECORRUPT, "record %" PRIu32 " header %zu: value: %s",
			                   index, i, why);
		h->value = bytes;
		h->value_len = len;
	}
	*out_count = (size_t)count;
	return 0;
}

/* Out of line: the scan loop in rill__batch_decoder_read keeps its state in
 * registers only if this careful path is not inlined into it. */
__attribute__((noinline)) static int read_record(rill_batch_decoder *dec, rill_record *out)
{
	uint32_t index = dec->record_index;
	RILL_ASSERT(index < dec->record_count);
	int64_t length, ts_delta, offset_delta;
	const char *why;
	const uint8_t *bytes;
	size_t len;

	why = read_varint(&dec->records, 32, &length);
	if (why != NULL)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 " of %" PRIu32 ": length: %s",
		                   index, dec->record_count, why);
	if (length < RECORD_BODY_SIZE_MIN || (uint64_t)length > cursor_left(&dec->records))
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": length %" PRId64
		                   " with %zu bytes left in the section", index, length,
		                   cursor_left(&dec->records));
	cursor r = {dec->records.pos, dec->records.pos + length};

	if (*r.pos != 0)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": attributes 0x%02x "
		                   "(expected 0)", index, *r.pos);
	r.pos++;
	why = read_varint(&r, 64, &ts_delta);
	if (why != NULL)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": timestamp delta: %s",
		                   index, why);
	why = read_varint(&r, 32, &offset_delta);
	if (why != NULL)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": offset delta: %s",
		                   index, why);
	if (offset_delta != (int64_t)index)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": offset delta %" PRId64
		                   " (offsets must be dense)", index, offset_delta);
	if (index == 0 && ts_delta != 0)
		return rill__error(RILL_ECORRUPT, "record 0: timestamp delta %" PRId64
		                   " (expected 0)", ts_delta);
	int64_t first = dec->first_timestamp;
	if ((ts_delta > 0 && first > INT64_MAX - ts_delta) ||
	    (ts_delta < 0 && first <= INT64_MIN - ts_delta))
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": timestamp delta %" PRId64
		                   " from %" PRId64 " overflows", index, ts_delta, first);
	int64_t ts = first + ts_delta;
	if (!dec->log_append_time && ts > dec->max_timestamp)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": timestamp %" PRId64
		                   " above the batch's max timestamp %" PRId64, index, ts,
		                   dec->max_timestamp);

	why = read_bytes(&r, true, &bytes, &len);
	if (why != NULL)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": key: %s", index, why);
	out->key = bytes;
	out->key_len = len;
	why = read_bytes(&r, true, &bytes, &len);
	if (why != NULL)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": value: %s", index, why);
	out->value = bytes;
	out->value_len = len;
	int rc = read_headers(dec, &r, index, &out->header_count);
	if (rc != 0)
		return rc;
	if (r.pos != r.end)
		return rill__error(RILL_ECORRUPT, "record %" PRIu32 ": %zu bytes left inside "
		                   "its length of %" PRId64, index, cursor_left(&r), length);

	out->headers = out->header_count > 0 ? dec->headers : NULL;
	out->offset = dec->base_offset + index;
	out->timestamp_ms = dec->log_append_time ? dec->max_timestamp : ts;
	if (ts > dec->max_seen)
		dec->max_seen = ts;
	dec->records.pos = r.end;
	dec->record_index++;
	return 0;
}

/*
 * A canonical varint of at most four bytes, still zigzag-encoded, or NULL
 * for anything else (longer, overlong): the careful decoder then reads
 * the record again and names the problem. Four bytes hold 28 bits, within
 * both the 32- and the 64-bit limits. Reads up to four bytes from p: the
 * caller has checked they are inside the records section. The caller
 * tests lengths and the offset delta on the encoded value (even, or 1 for
 * -1), which saves undoing the zigzag on all but the timestamp delta.
 */
static inline const uint8_t *short_varint(const uint8_t *p, uint64_t *out)
{
	uint64_t b0 = p[0];
	if (RILL_LIKELY(b0 < 0x80)) {
		*out = b0;
		return p + 1;
	}
	/* Unrolled: lengths of 64 bytes and more take two bytes, so this is
	 * common, and the record length's decode is on the scan's critical
	 * path (the next record starts where it says). A last byte of 0
	 * would be overlong. */
	uint64_t b1 = p[1];
	if (RILL_LIKELY(b1 - 1 < 0x7f)) { /* 1 to 0x7f, in one comparison */
		*out = b0 - 0x80 + (b1 << 7); /* b0 >= 0x80: its low bits */
		return p + 2;
	}
	if (b1 == 0)
		return NULL;
	uint64_t b2 = p[2], b3 = p[3];
	uint64_t u = (b0 & 0x7f) | (b1 & 0x7f) << 7 | (b2 & 0x7f) << 14;
	if (b2 < 0x80) {
		if (b2 == 0)
			return NULL;
		*out = u;
		return p + 3;
	}
	if (b3 < 0x80 && b3 != 0) {
		*out = u | b3 << 21;
		return p + 4;
	}
	return NULL;
}

/* Bytes that must follow a record's start for read_record_fast: the
 * length, attributes and three varints of four bytes at most. */
#define FAST_SLACK 32
/* Fast-path varints hold at most 28 bits, so a timestamp delta is within
 * +-2^27: bounds on it are clamped to +-2^28 and never overflow. */
#define FAST_DELTA_BOUND ((int64_t)1 << 28)

/*
 * The batch's constants for read_record_fast, copied into the scan loop's
 * locals once per call: through the decoder they would be reloaded after
 * every store into the caller's records, which may alias it.
 */
typedef struct fast_batch {
	const uint8_t *fast_end;  /* a record starting before this has FAST_SLACK bytes */
	const uint8_t *end;       /* end of the records section */
	const uint8_t *value_guard; /* a value length read before this has 5 bytes */
	uint64_t base_offset;
	int64_t first_timestamp;
	uint64_t delta_span;      /* timestamp deltas the careful path accepts,
	                             clamped: delta + FAST_DELTA_BOUND <= delta_span */
} fast_batch;

/*
 * read_record accepts a timestamp delta when first + delta neither
 * overflows nor is INT64_MIN and, under CreateTime, is at most the batch's
 * max timestamp: one interval, [INT64_MIN + 1 - first, top - first], with
 * top max_timestamp or INT64_MAX. Clamped to +-FAST_DELTA_BOUND it is
 * computed without overflow and checked with one comparison.
 */
static void fast_delta_range(int64_t first, int64_t top, int64_t *out_min, uint64_t *out_span)
{
	RILL_ASSERT(first != INT64_MIN);
	RILL_ASSERT(top >= first);
	int64_t lo = first > INT64_MIN + FAST_DELTA_BOUND ? -FAST_DELTA_BOUND
	                                                  : INT64_MIN + 1 + -first;
	uint64_t above = (uint64_t)top - (uint64_t)first; /* exact: top >= first */
	int64_t hi = above > (uint64_t)FAST_DELTA_BOUND ? FAST_DELTA_BOUND : (int64_t)above;
	RILL_ASSERT(lo <= 0 && hi >= 0);
	*out_min = lo;
	*out_span = (uint64_t)(hi - lo);
}

static fast_batch fast_batch_of(const rill_batch_decoder *dec)
{
	fast_batch b;
	size_t size = cursor_left(&dec->records);
	b.end = dec->records.end;
	/* a section shorter than the slack has no fast record */
	b.fast_end = size > FAST_SLACK ? b.end - FAST_SLACK : b.end - size;
	/* inside the section: its size is at least RECORD_SIZE_MIN (checked
	 * by the header parse) */
	b.value_guard = b.end - 5;
	b.base_offset = dec->base_offset;
	b.first_timestamp = dec->first_timestamp;
	int64_t delta_min;
	fast_delta_range(dec->first_timestamp,
	                 dec->log_append_time ? INT64_MAX : dec->max_timestamp,
	                 &delta_min, &b.delta_span);
	/* The lower bound is a constant, one register fewer in the loop, but
	 * for a first timestamp within 2^28 of INT64_MIN: such a batch takes
	 * the careful path throughout. */
	if (delta_min != -FAST_DELTA_BOUND)
		b.fast_end = b.end - size;
	return b;
}

/* x rotated right by one bit: a zigzag-encoded length or count n >= 0
 * (2n) becomes n, and an odd one (negative) becomes 2^63 or more, so one
 * unsigned comparison refuses negatives and values too large alike. */
static inline uint64_t rotate_half(uint64_t x)
{
	return x >> 1 | x << 63;
}

/*
 * The common record (short varints, no headers, not at the very end of
 * the section) decoded with locals and no error text; NULL sends the
 * record to read_record, which accepts everything this accepts and
 * explains everything it refuses. A scan is mostly this function, so the
 * fixed-size fields are read without a bounds check each: FAST_SLACK
 * bytes past the record's start are inside the section, and where the
 * fields end is checked against the record's end once they are read.
 * Always inlined: with two callers GCC made it a function of its own, and
 * the scan paid a call and six register saves and restores per record.
 * The caller passes the record's offset and its expected offset delta,
 * zigzag-encoded (2 * index), as values it steps itself, and checks once
 * per batch that a first record's timestamp is the batch's first: each
 * saved an instruction or a stack spill per record (the scan's time
 * follows its instruction count, 175 per 100-byte record before, 151
 * after with read_records_fast, against 114 for the raw file's own
 * checked read).
 */
__attribute__((always_inline)) static inline const uint8_t *
read_record_fast(const fast_batch *b, const uint8_t *p, uint64_t offset_delta_2, uint64_t offset,
                 int64_t *max_seen, rill_record *out)
{
	/* zigzag-encoded: a length or count n >= 0 is 2n, -1 (null) is 1 */
	uint64_t length_z, ts_delta_z, offset_delta_z, key_len_z, value_len_z;

	if (RILL_UNLIKELY(p >= b->fast_end))
		return NULL;
	if ((p = short_varint(p, &length_z)) == NULL)
		return NULL;
	/* 0 <= length, and RECORD_BODY_SIZE_MIN <= length <= the bytes left,
	 * in one comparison: an odd length_z rotates to 2^63 or more, and a
	 * length below the minimum wraps around */
	uint64_t length = rotate_half(length_z - 2 * RECORD_BODY_SIZE_MIN) + RECORD_BODY_SIZE_MIN;
	if (length - RECORD_BODY_SIZE_MIN > (size_t)(b->end - p) - RECORD_BODY_SIZE_MIN)
		return NULL;
	const uint8_t *body = p;
	const uint8_t *record_end = p + length;
	if (*p++ != 0) /* attributes */
		return NULL;
	if ((p = short_varint(p, &ts_delta_z)) == NULL)
		return NULL;
	if ((p = short_varint(p, &offset_delta_z)) == NULL ||
	    offset_delta_z != offset_delta_2)
		return NULL;
	if ((p = short_varint(p, &key_len_z)) == NULL)
		return NULL;
	/* the same timestamp refusals as read_record, in one comparison; a
	 * first record's delta must be 0 too, which the caller checks once
	 * per batch instead of here */
	int64_t ts_delta = unzigzag(ts_delta_z);
	if ((uint64_t)(ts_delta + FAST_DELTA_BOUND) > b->delta_span)
		return NULL;
	int64_t ts = b->first_timestamp + ts_delta;
	/* A field fits when the bytes read since the length plus its size
	 * are at most the length: the fixed fields may have run past a short
	 * record's end, and a negative size other than null (-1, encoded 1)
	 * rotates to 2^63 or more, so the sum is checked, unsigned, and
	 * never wraps (sizes here are below 2^27). */
	uint64_t key_size = key_len_z == 1 ? 0 : rotate_half(key_len_z);
	if ((size_t)(p - body) + key_size > length)
		return NULL;
	out->key = key_len_z == 1 ? NULL : p;
	out->key_len = (size_t)key_size;
	p += key_size;
	/* the value length's four bytes, and the header count after it */
	if (p > b->value_guard || (p = short_varint(p, &value_len_z)) == NULL)
		return NULL;
	uint64_t value_size = value_len_z == 1 ? 0 : rotate_half(value_len_z);
	if ((size_t)(p - body) + value_size > length)
		return NULL;
	out->value = value_len_z == 1 ? NULL : p;
	out->value_len = (size_t)value_size;
	p += value_size;
	/* header count 0, the record's last byte; compared as a distance, as
	 * p + 1 may lie past the section when the value ends it */
	if (record_end - p != 1 || *p != 0)
		return NULL;

	out->headers = NULL;
	out->header_count = 0;
	out->offset = offset;
	out->timestamp_ms = ts; /* LogAppendTime: replaced by the caller */
	if (ts > *max_seen)
		*max_seen = ts;
	return record_end;
}

/* The end-of-batch checks: nothing after the last record, and the header's
 * max timestamp is the largest record timestamp. */
static int finish_batch(rill_batch_decoder *dec)
{
	if (cursor_left(&dec->records) != 0) {
		dec->failed = true;
		return rill__error(RILL_ECORRUPT, "%zu bytes after the last of %" PRIu32
		                   " records", cursor_left(&dec->records),
		                   dec->record_count);
	}
	if (!dec->log_append_time && dec->max_seen != dec->max_timestamp) {
		dec->failed = true;
		return rill__error(RILL_ECORRUPT, "max timestamp %" PRId64 " but the "
		                   "largest record timestamp is %" PRId64,
		                   dec->max_timestamp, dec->max_seen);
	}
	return RILL_EAGAIN;
}

/* read_record_fast leaves one check to its callers, once per batch: a
 * batch's first record has a timestamp delta of 0, so its timestamp is
 * the batch's first. Refused, the careful path reads it and says why. */
static bool fast_first_record_refused(const rill_batch_decoder *dec, uint32_t index,
                                      const rill_record *record)
{
	return index == 0 && record->timestamp_ms != dec->first_timestamp;
}

/*
 * Up to `limit` records from *p on, the first at `index`, until the fast
 * path refuses one; returns how many, with *p past them. A function of its
 * own, not inlined: in the caller, the decoder, the output array and the
 * index (all needed after the loop) held registers, and the loop spilled
 * more of its own values to the stack, a load and a store each per
 * record. As few live values as the loop can do with, for the same reason.
 */
__attribute__((noinline)) static size_t
read_records_fast(const fast_batch *batch, const uint8_t **p_inout, uint32_t index,
                  int64_t *max_seen_inout, rill_record *out, uint32_t limit,
                  size_t prefetch_distance)
{
	const fast_batch b = *batch;
	const uint8_t *p = *p_inout;
	int64_t max_seen = *max_seen_inout;
	rill_record *o = out, *const stop = out + limit;
	uint64_t offset = b.base_offset + index;
	uint64_t offset_delta_2 = 2 * (uint64_t)index; /* zigzag of the delta */
	while (o < stop) {
		/* Two lines a record (~1.7 for 100-byte records), as far ahead
		 * as the caller asked: computed on integers, as the address may
		 * lie past the section, where a pointer may not point. */
		uintptr_t ahead = (uintptr_t)p + prefetch_distance;
		__builtin_prefetch((const void *)ahead);
		__builtin_prefetch((const void *)(ahead + 64));
		/* the position is passed and returned by value: through a
		 * pointer it lived on the stack, a store and reload per field */
		const uint8_t *next = read_record_fast(&b, p, offset_delta_2, offset, &max_seen, o);
		if (next == NULL)
			break;
		p = next;
		offset_delta_2 += 2;
		offset++;
		o++;
	}
	*p_inout = p;
	*max_seen_inout = max_seen;
	return (size_t)(o - out);
}

int rill__batch_decoder_read(rill_batch_decoder *dec, rill_record *out, size_t max,
                             size_t *out_count)
{
	RILL_ASSERT(dec != NULL && out != NULL && out_count != NULL && max > 0);
	RILL_ASSERT(dec->started);
	*out_count = 0;
	if (dec->failed)
		return rill__error(RILL_ECORRUPT, "batch at offset %" PRIu64 " was found "
		                   "corrupt earlier", dec->base_offset);
	if (dec->record_index == dec->record_count)
		return finish_batch(dec);

	/* The loop keeps its position in locals (the scan's hot path); the
	 * first record the fast path refuses ends the call, and is read by
	 * the careful path only as the first record of a call, so its headers
	 * (kept in the decoder) are never overwritten by a later record of
	 * the same call. */
	const uint8_t *p = dec->records.pos;
	uint32_t index = dec->record_index;
	int64_t max_seen = dec->max_seen;
	uint32_t limit = dec->record_count - index;
	if ((uint64_t)limit > max)
		limit = (uint32_t)max;
	if (dec->careful_only)
		limit = 0;
	fast_batch batch = fast_batch_of(dec);
	size_t n = read_records_fast(&batch, &p, index, &max_seen, out, limit,
	                             dec->prefetch_distance);
	index += (uint32_t)n;
	if (n > 0 && fast_first_record_refused(dec, dec->record_index, &out[0])) {
		p = dec->records.pos;
		index = 0;
		max_seen = dec->max_seen;
		n = 0;
	}
	dec->records.pos = p;
	dec->record_index = index;
	dec->max_seen = max_seen;
	if (n > 0) {
		if (dec->log_append_time) {
			for (size_t i = 0; i < n; i++)
				out[i].timestamp_ms = dec->max_timestamp;
		}
		*out_count = n;
		return 0;
	}
	const uint8_t *at = dec->records.pos;
	int rc = read_record(dec, out);
	if (rc == 0) {
		*out_count = 1;
	} else if (rc == RILL_ENOMEM) {
		/* Out of memory is not a corrupt record: back to the record's
		 * start, so the next call reads the same record again. */
		dec->records.pos = at;
	} else {
		dec->failed = true;
	}
	return rc;
}

int rill__batch_decoder_note_starts(rill_batch_decoder *dec, uint32_t *starts, bool *out_sorted)
{
	RILL_ASSERT(dec != NULL && starts != NULL);
	RILL_ASSERT(dec->started && dec->record_index == 0 && !dec->failed);
	const uint8_t *section = dec->records.pos;
	fast_batch batch = fast_batch_of(dec);
	rill_record record;
	/* LogAppendTime: every record reads as the batch's max timestamp */
	bool sorted = true;
	int64_t previous = INT64_MIN;
	while (dec->record_index < dec->record_count) {
		const uint8_t *p = dec->records.pos;
		starts[dec->record_index] = (uint32_t)(p - section);
		const uint8_t *next = dec->careful_only ? NULL
		                      : read_record_fast(&batch, p, 2 * (uint64_t)dec->record_index,
		                                         dec->base_offset + dec->record_index, &dec->max_seen, &record);
		/* the careful path then refuses the record and fails the
		 * batch, so the max timestamp it counted is never read */
		if (next != NULL && fast_first_record_refused(dec, dec->record_index, &record))
			next = NULL;
		if (next == NULL) {
			int rc = read_record(dec, &record);
			if (rc != 0) {
				dec->failed = true;
				return rc;
			}
		} else {
			dec->records.pos = next;
			dec->record_index++;
		}
		sorted = sorted && record.timestamp_ms >= previous;
		previous = record.timestamp_ms;
	}
	*out_sorted = sorted || dec->log_append_time;
	int rc = finish_batch(dec);
	return rc == RILL_EAGAIN ? 0 : rc;
}

void rill__batch_decoder_set_prefetch(rill_batch_decoder *dec, size_t distance)
{
	RILL_ASSERT(dec->started);
	dec->prefetch_distance = distance;
}

void rill__batch_decoder_set_careful(rill_batch_decoder *dec, bool careful_only)
{
	dec->careful_only = careful_only;
}

int rill__batch_decoder_next(rill_batch_decoder *dec, rill_record *out)
{
	size_t n;
	return rill__batch_decoder_read(dec, out, 1, &n);
}

int rill__batch_check_records(rill_batch_decoder *dec, const uint8_t *batch,
                              size_t size)
{
	RILL_ASSERT(dec != NULL);
	RILL_ASSERT(batch != NULL);
	rill_record record;
	int rc = rill__batch_decoder_start(dec, batch, size);
	uint32_t seen = 0;

	while (rc == 0) {
		rc = rill__batch_decoder_next(dec, &record);
		if (rc == 0)
			seen++;
	}
	if (rc != RILL_EAGAIN)
		return rc;
	RILL_ASSERT(seen == dec->record_count);
	return 0;
}
