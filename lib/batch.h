/*
 * batch.h — the record batch codec: encode records into one batch,
 * validate a batch read from disk, and iterate its records. No I/O.
 *
 * The byte layout is documented in docs/FORMAT.md ("Record batch") and at
 * the top of batch.c. Summary (all fixed-width integers little-endian):
 *
 *   off size field
 *    0   8   base_offset          first offset of the batch
 *    8   4   length               bytes after this field (batch size - 12)
 *   12   4   leader_epoch         partition leader epoch (-1 none)
 *   16   1   magic                format version, RILL_BATCH_MAGIC (1)
 *   17   1   reserved             0
 *   18   2   attributes           bits 0-2 codec (0 none, 4 zstd... see below)
 *   20   4   last_offset_delta    last offset - base offset
 *   24   8   first_timestamp      first record's timestamp (ms)
 *   32   8   max_timestamp        largest record timestamp (or append time)
 *   40   8   producer_id          -1 none
 *   48   2   producer_epoch       -1 none
 *   50   2   reserved             0
 *   52   4   base_sequence        -1 none
 *   56   4   record_count         >= 1
 *   60   4   records_size         size of the records section uncompressed
 *   64   8   checksum             see below
 *   72   ... records section (zstd frame if compressed)
 *
 * attributes: bits 0-2 compression codec (0 none, 4 zstd: bit 2 set; the
 * 3-bit field holds 0 or 4 since Kafka's zstd id 4 fits), bit 3 timestamp
 * type (1 LogAppendTime), bit 4 transactional, bit 5 control; others 0.
 *
 * checksum = XXH3_64(header bytes 0..63, seed = R) where
 *        R = XXH3_64(records section as stored, seed = partition_key)
 * partition_key binds the batch to its partition (XXH3_64 of
 * "<topic>/<partition>"), and base_offset (in the header) binds it to its
 * position, so a batch copied elsewhere fails the check. Every header byte
 * except the checksum itself is covered, leader epoch included.
 */
#ifndef RILL_BATCH_H
#define RILL_BATCH_H

#include "internal.h"

#define RILL_BATCH_HEADER_SIZE 72
#define RILL_BATCH_LOG_OVERHEAD 12 /* base_offset + length */
#define RILL_BATCH_MAGIC 1

#define RILL_BATCH_ATTR_COMPRESSION_MASK 0x07u
#define RILL_BATCH_ATTR_TIMESTAMP_LOG_APPEND 0x08u
#define RILL_BATCH_ATTR_TRANSACTIONAL 0x10u
#define RILL_BATCH_ATTR_CONTROL 0x20u
#define RILL_BATCH_ATTR_KNOWN 0x3fu

/* Worst-case bytes of one record's framing beyond key, value and header
 * bytes: length(5) attrs(1) ts delta(10) offset delta(5) key len(5)
 * value len(5) header count(5). Each header adds 10 bytes of lengths. */
#define RILL_RECORD_OVERHEAD_MAX 36
#define RILL_HEADER_OVERHEAD_MAX 10

typedef struct rill_batch_header {
	uint64_t base_offset;
	uint32_t length;            /* bytes after the length field */
	int32_t leader_epoch;
	uint8_t magic;
	uint16_t attributes;
	uint32_t last_offset_delta;
	int64_t first_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	uint32_t record_count;
	uint32_t records_size;      /* uncompressed records section size */
	uint64_t checksum;
} rill_batch_header;

/* Total bytes of the batch on disk. */
static inline uint64_t rill__batch_total_size(const rill_batch_header *h)
{
	return (uint64_t)h->length + RILL_BATCH_LOG_OVERHEAD;
}

/* Parameters of an encode. */
typedef struct rill_batch_params {
	int compression;            /* enum rill_compression */
	int zstd_level;
	int timestamp_type;         /* enum rill_timestamp_type */
	int64_t now_ms;             /* substitutes RILL_TIMESTAMP_NOW / LogAppendTime */
	int32_t leader_epoch;       /* -1 */
	int64_t producer_id;        /* -1 */
	int16_t producer_epoch;     /* -1 */
	int32_t base_sequence;      /* -1 */
	uint64_t partition_key;     /* binds checksum to partition */
	uint64_t max_batch_bytes;   /* max.message.bytes: larger -> RILL_ETOOBIG */
} rill_batch_params;

/* Reusable encoder: owns its output buffer and zstd context, which grow
 * once and are then reused, so steady-state encoding allocates nothing. */
typedef struct rill_batch_encoder rill_batch_encoder;

int rill__batch_encoder_new(rill_batch_encoder **out);
void rill__batch_encoder_free(rill_batch_encoder *enc);

/*
 * Encode records into one batch with base_offset 0. On success *out_batch
 * points to the encoder's buffer (valid until the next encode) holding
 * *out_size bytes, the checksum not yet sealed; *out_records_hash is R.
 * Errors: RILL_EINVAL (count 0, NULL pointers with non-zero lengths, a
 * length above 2^31-1), RILL_ETOOBIG (batch above max_batch_bytes; message
 * names the size and limit), RILL_ENOMEM, RILL_EIO (zstd failure).
 */
int rill__batch_encode(rill_batch_encoder *enc, const rill_record *records,
                       size_t count, const rill_batch_params *params,
                       uint8_t **out_batch, size_t *out_size,
                       uint64_t *out_records_hash);

/* Stamp base_offset (and, if max_timestamp_override != INT64_MIN, the
 * max timestamp for LogAppendTime) and compute the checksum in place. Cheap:
 * hashes only the 64 header bytes. */
void rill__batch_seal(uint8_t *batch, uint64_t base_offset,
                      int64_t max_timestamp_override, uint64_t records_hash);

/* Parse and sanity-check the fixed header at p (avail bytes readable).
 * Checks: avail >= header size, magic, reserved bytes zero, known
 * attributes, length >= header-12 and total size <= max_total, record
 * count >= 1, last_offset_delta == record_count-1, records_size sane.
 * Does NOT check the checksum. Returns 0 or RILL_ECORRUPT (message says
 * which check failed; callers add where). */
int rill__batch_parse_header(const uint8_t *p, size_t avail, uint64_t max_total,
                             rill_batch_header *out);

/* Verify the checksum of a whole batch (size = total size). 0 or RILL_ECORRUPT. */
int rill__batch_verify(const uint8_t *batch, size_t size, uint64_t partition_key);

/* The partition key for "<topic>/<partition>". */
uint64_t rill__partition_key(const char *topic, int32_t partition);

/*
 * Decoding. A rill_batch_decoder owns a decompression buffer and a headers
 * array, grown on demand (bounded by RILL_MESSAGE_BYTES_MAX), reused.
 */
typedef struct rill_batch_decoder rill_batch_decoder;

int rill__batch_decoder_new(rill_batch_decoder **out);
void rill__batch_decoder_free(rill_batch_decoder *dec);

/* Start iterating a verified batch (size = total). For uncompressed
 * batches records point into `batch`; for zstd the section is decompressed
 * (output bounded by records_size; more output is RILL_ECORRUPT) into the
 * decoder's buffer. */
int rill__batch_decoder_start(rill_batch_decoder *dec, const uint8_t *batch,
                              size_t size);
/* The same for a caller that has just parsed this batch's header (`h`,
 * from rill__batch_parse_header over the first bytes of `batch`) and
 * verified its checksum: the header is not parsed a second time. */
int rill__batch_decoder_start_parsed(rill_batch_decoder *dec, const uint8_t *batch,
                                     size_t size, const rill_batch_header *h);
/*
 * For the batch cache (batch_cache.c): copy the records section of a
 * verified batch, whose header the caller parsed (`h`), into `section`
 * (h->records_size bytes; decompressed for zstd) and start iterating the
 * copy. Then rill__batch_decoder_note_starts checks every record, as a
 * read to the end would, and notes where each begins (h->record_count
 * entries; RILL_ECORRUPT or RILL_ENOMEM as rill__batch_decoder_read), so
 * that rill__batch_decoder_start_at can start at any record of the copy
 * without decoding those before it. *out_sorted says whether the records'
 * timestamps (as read returns them) never decrease, so that a lookup by
 * timestamp may search the records by halves.
 */
int rill__batch_decoder_start_copy(rill_batch_decoder *dec, const uint8_t *batch, size_t size,
                                   const rill_batch_header *h, uint8_t *section);
int rill__batch_decoder_note_starts(rill_batch_decoder *dec, uint32_t *starts, bool *out_sorted);
void rill__batch_decoder_start_at(rill_batch_decoder *dec, const rill_batch_header *h,
                                  const uint8_t *section, uint32_t index, uint32_t start);
/* Next record: 0 with *out filled (offset = base + delta, absolute
 * timestamp), RILL_EAGAIN when the batch is done, RILL_ECORRUPT if a
 * record is malformed (lengths past the section, count mismatch, offset
 * delta not dense). out->headers points into the decoder's array. */
int rill__batch_decoder_next(rill_batch_decoder *dec, rill_record *out);
/* Up to `max` next records into out[0..*out_count): 0 with at least one,
 * otherwise as rill__batch_decoder_next. A record with headers ends the
 * call (its headers live in the decoder until the next call). */
int rill__batch_decoder_read(rill_batch_decoder *dec, rill_record *out, size_t max,
                             size_t *out_count);
/* Tests: decode every record with the careful path only, to check that the
 * fast path accepts nothing the careful one refuses and reads the same. */
void rill__batch_decoder_set_careful(rill_batch_decoder *dec, bool careful_only);
/*
 * While it decodes the started batch, the decoder prefetches the bytes
 * `distance` past each record into the CPU's caches: with the batch's own
 * size less its header, where the next batch of a scan lies in the mapped
 * log (from its header on), so that its checksum reads from cache instead
 * of waiting on memory after this batch's decode (a scan of 100-byte
 * records ran 15-30% faster). A prefetch is a hint: it never faults,
 * wherever that address lies. 0 (the default for every batch started):
 * the record itself, no look-ahead.
 */
void rill__batch_decoder_set_prefetch(rill_batch_decoder *dec, size_t distance);

/* Fully decode every record of a batch to check it (verify/scrub, fuzz).
 * Returns 0 or RILL_ECORRUPT / RILL_ENOMEM. */
int rill__batch_check_records(rill_batch_decoder *dec, const uint8_t *batch,
                              size_t size);

#endif /* RILL_BATCH_H */
