/*
 * fuzz_segment.c — libFuzzer target for segment recovery from arbitrary
 * bytes (lib/partition.c recovery, lib/segment.c scanning, lib/reader.c).
 *
 * The input describes the .log files of one partition (topic "t",
 * partition 0) of a store planted on the simulated file system
 * (tests/sim_io.h) with a valid STORE, topic.meta and topic.conf, and
 * optionally a partition.checkpoint and a .clean-shutdown marker:
 *
 *   byte 0      flags
 *                 0x01 plant a checkpoint (bytes 1-6)
 *                 0x02 plant .clean-shutdown (open trusts the checkpoint)
 *                 0x04 open with rill_options.repair
 *                 0x08 end the writer session with a power loss
 *                      (sim_crash DROP_ALL) instead of a clean close
 *                 0x10 open read-only first and compare with the writer
 *                 0x20 index.interval.bytes 0 (index every batch), else 256
 *                 0x40 preallocate
 *   bytes 1-6   checkpoint: [1] which segment, [2] which chunk boundary
 *               in it (>= 0xf0: the raw position [3..4] instead, with
 *               recovery = segment base + [6]), [5] log start: < 0xc0 the
 *               first segment's base, else that + ([5] - 0xc0)
 *   byte 7      first segment's base offset / 16 (x 1000)
 *   then chunks: kind u8, len u16 little-endian, payload
 *     kind & 3 = 0  a batch of `len` payload bytes. Unless kind & 0x20, its
 *                   framing is made valid: magic 1, reserved bytes 0,
 *                   known attribute bits, length = len - 12, records_size
 *                   = len - 72 for codec 0, record_count >= 1,
 *                   last_offset_delta = record_count - 1; base_offset is
 *                   the next offset unless kind & 0x10. Unless kind & 0x40
 *                   the checksum is then recomputed by its definition
 *                   (docs/FORMAT.md) for this partition, so the fuzzer gets
 *                   past it and reaches the record decoder and recovery.
 *     kind & 3 = 1  `len` raw payload bytes (garbage, torn batches)
 *     kind & 3 = 2  `len` zero bytes, no payload (preallocated space)
 *     kind & 3 = 3  start the next segment file, no payload; its base is
 *                   the next offset, plus (int16)len if kind & 0x10
 *
 * Each run: optionally open read-only and read everything; open as a writer
 * (unclean unless the marker is planted), read every record, rill_verify,
 * append one record and read it back, close (or crash); reopen and read
 * again. Oracles, besides no crash, leak or UB (ASan, UBSan, the library's
 * allocation counter, the sim's open descriptors):
 *   - open fails only with RILL_ECORRUPT (or EVERSION / ENOTFOUND);
 *   - every record a reader returns is decoded from a batch that is really
 *     in the files with a valid checksum for this partition, at its offset:
 *     the harness walks valid batches itself from position 0 of every
 *     segment and from the checkpoint position, decodes them, and looks the
 *     record up (offset, timestamp, key, value, headers);
 *   - offsets are dense from the log start; the reader stops at the log
 *     end or with a clean error;
 *   - a read-only open sees the same records as the writer's recovery;
 *   - after recovery, an append works and reads back; a reopen (after a
 *     clean close or a power loss) returns the same records again, since
 *     recovery syncs everything it keeps.
 *
 * Builds (see tests/tests.mk and fuzz_util.h):
 *   make fuzz                        libFuzzer + ASan + UBSan, FUZZ_SECONDS
 *   make build/fuzz/fuzz_segment       then build/fuzz/fuzz_segment DIR...
 *   make fuzz-replay                 -DRILL_FUZZ_REPLAY: replays
 *                                    tests/fuzz/corpus/segment and crashes/segment
 *   cc -DRILL_FUZZ_GENERATE (with tests/sim_io.c and the lib sources)
 *     && ./a.out tests/fuzz/corpus/segment     writes the seed corpus
 *   FUZZ_DEBUG=1 build/fuzz-replay/fuzz_segment FILE   explains one input
 */
#define FUZZ_NAME "segment"
#include "fuzz_util.h"

#define SEG_ROOT "/s"
#define SEG_TOPIC "t"
#define SEG_DIR SEG_ROOT "/" SEG_TOPIC "/" SEG_TOPIC "-0"
#define SEG_INPUT_MAX (256u << 10)    /* longer inputs are cut */
#define SEG_FILES_MAX 8               /* segment files per input */
#define SEG_ZEROS_MAX (1u << 20)      /* zero bytes per input */
#define SEG_ZSTD_RECORDS_MAX (256u << 10) /* larger zstd sections stay unsealed */
#define SEG_BOUNDARIES_MAX 4096
#define SEG_READ_MAX (1u << 20)       /* records read per partition */

typedef struct seg_file {
	uint64_t base;
	uint8_t *bytes;
	size_t len;
	size_t cap;
	size_t boundaries[SEG_BOUNDARIES_MAX]; /* chunk start positions */
	uint64_t boundary_offsets[SEG_BOUNDARIES_MAX]; /* next offset there */
	size_t boundary_count;
} seg_file;

typedef struct seg_input {
	seg_file files[SEG_FILES_MAX];
	size_t file_count;
	uint64_t next;                /* next offset as the harness counts */
	size_t zeros;
	bool checkpoint;
	uint64_t cp_log_start, cp_recovery, cp_segment, cp_position;
} seg_input;

static uint64_t part_key(void)
{
	return rill__partition_key(SEG_TOPIC, 0);
}

static void append_bytes(seg_file *f, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (f->len + n > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		while (cap < f->len + n)
			cap *= 2;
		f->bytes = realloc(f->bytes, cap);
		fuzz_check(f->bytes != NULL, "out of memory in the harness");
		f->cap = cap;
	}
	if (p != NULL)
		memcpy(f->bytes + f->len, p, n);
	else
		memset(f->bytes + f->len, 0, n);
	f->len += n;
}

static void mark_boundary(seg_input *in)
{
	seg_file *f = &in->files[in->file_count - 1];
	if (f->boundary_count < SEG_BOUNDARIES_MAX) {
		f->boundaries[f->boundary_count] = f->len;
		f->boundary_offsets[f->boundary_count] = in->next;
		f->boundary_count++;
	}
}

/* Make the framing of a batch chunk valid (see the file comment). */
static void fix_framing(uint8_t *b, size_t len)
{
	b[16] = RILL_BATCH_MAGIC;
	b[17] = 0;
	b[50] = b[51] = 0;
	uint16_t attr = rill__get_u16(b + 18) & RILL_BATCH_ATTR_KNOWN;
	unsigned codec = attr & RILL_BATCH_ATTR_COMPRESSION_MASK;
	if (codec != 0 && codec != 4)
		attr &= (uint16_t)~RILL_BATCH_ATTR_COMPRESSION_MASK;
	rill__put_u16(b + 18, attr);
	rill__put_u32(b + 8, (uint32_t)(len - RILL_BATCH_LOG_OVERHEAD));
	if ((attr & RILL_BATCH_ATTR_COMPRESSION_MASK) == 0)
		rill__put_u32(b + 60, (uint32_t)(len - RILL_BATCH_HEADER_SIZE));
	uint32_t count = rill__get_u32(b + 56);
	if (count == 0 || count > RILL_RECORDS_PER_BATCH_MAX)
		count = 1 + count % 64;
	rill__put_u32(b + 56, count);
	rill__put_u32(b + 20, count - 1);
}

static void add_batch(seg_input *in, uint8_t kind, const uint8_t *p, size_t len)
{
	seg_file *f = &in->files[in->file_count - 1];
	mark_boundary(in);
	size_t at = f->len;
	append_bytes(f, p, len);
	if (len < RILL_BATCH_HEADER_SIZE)
		return;
	uint8_t *b = f->bytes + at;
	if (!(kind & 0x20))
		fix_framing(b, len);
	if (!(kind & 0x10))
		rill__put_u64(b, in->next);
	uint64_t base = rill__get_u64(b);
	uint32_t delta = rill__get_u32(b + 20);
	uint32_t records_size = rill__get_u32(b + 60);
	bool zstd = (rill__get_u16(b + 18) & RILL_BATCH_ATTR_COMPRESSION_MASK) == 4;
	if (!(kind & 0x40) && !(zstd && records_size > SEG_ZSTD_RECORDS_MAX))
		fuzz_reseal(b, len, part_key());
	if (base <= INT64_MAX && delta <= INT64_MAX - base)
		in->next = base + delta + 1;
}

static void new_segment(seg_input *in, uint64_t base)
{
	for (size_t i = 0; i < in->file_count; i++) {
		if (in->files[i].base == base)
			return; /* one file per name: keep appending to the current one */
	}
	if (in->file_count == SEG_FILES_MAX)
		return;
	seg_file *f = &in->files[in->file_count++];
	memset(f, 0, sizeof(*f));
	f->base = base;
}

static void parse_input(seg_input *in, const uint8_t *data, size_t size)
{
	memset(in, 0, sizeof(*in));
	uint64_t first = size > 7 ? (uint64_t)(data[7] / 16) * 1000 : 0;
	in->next = first;
	new_segment(in, first);
	size_t pos = 8;
	while (pos + 3 <= size) {
		uint8_t kind = data[pos];
		size_t len = rill__get_u16(data + pos + 1);
		pos += 3;
		switch (kind & 3) {
		case 0:
		case 1:
			if (len > size - pos)
				len = size - pos;
			if ((kind & 3) == 0) {
				add_batch(in, kind, data + pos, len);
			} else {
				mark_boundary(in);
				append_bytes(&in->files[in->file_count - 1], data + pos, len);
			}
			pos += len;
			break;
		case 2:
			if (in->zeros + len > SEG_ZEROS_MAX)
				len = SEG_ZEROS_MAX - in->zeros;
			in->zeros += len;
			mark_boundary(in);
			append_bytes(&in->files[in->file_count - 1], NULL, len);
			break;
		default: {
			uint64_t base = in->next;
			if (kind & 0x10) {
				int64_t d = (int16_t)len;
				base = d < 0 && (uint64_t)-d > base ? 0 : base + (uint64_t)d;
			}
			new_segment(in, base);
			break;
		}
		}
	}
	mark_boundary(in); /* every file's end */
	if (size < 8 || !(data[0] & 0x01))
		return;
	in->checkpoint = true;
	seg_file *f = &in->files[data[1] % in->file_count];
	in->cp_segment = f->base;
	if (data[2] >= 0xf0 || f->boundary_count == 0) {
		in->cp_position = rill__get_u16(data + 3);
		in->cp_recovery = f->base + data[6];
	} else {
		size_t k = data[2] % f->boundary_count;
		in->cp_position = f->boundaries[k];
		in->cp_recovery = f->boundary_offsets[k];
		if (in->cp_recovery < f->base)
			in->cp_recovery = f->base;
	}
	in->cp_log_start = in->files[0].base;
	for (size_t i = 1; i < in->file_count; i++) {
		if (in->files[i].base < in->cp_log_start)
			in->cp_log_start = in->files[i].base;
	}
	if (data[5] >= 0xc0)
		in->cp_log_start += (uint64_t)(data[5] - 0xc0);
}

/* ---------------------------------------------------------------- oracle */

typedef struct known {
	fuzz_rec *v;
	size_t count, capacity;
} known;

static void known_add(known *k, const rill_record *r)
{
	if (k->count == k->capacity) {
		k->capacity = k->capacity ? k->capacity * 2 : 64;
		k->v = realloc(k->v, k->capacity * sizeof(*k->v));
		fuzz_check(k->v != NULL, "out of memory in the harness");
	}
	k->v[k->count++] = (fuzz_rec){r->offset, r->timestamp_ms, fuzz_record_hash(r)};
}

/* Walk valid batches from `pos` of file f, adding their records. */
static void walk(known *k, rill_batch_decoder *dec, const seg_file *f, uint64_t pos)
{
	while (pos + RILL_BATCH_HEADER_SIZE <= f->len) {
		rill_batch_header h;
		size_t avail = f->len - (size_t)pos;
		const uint8_t *b = f->bytes + pos;
		if (rill__batch_parse_header(b, avail, avail, &h) != 0)
			return;
		size_t total = (size_t)rill__batch_total_size(&h);
		if (rill__batch_verify(b, total, part_key()) != 0)
			return;
		if ((h.attributes & RILL_BATCH_ATTR_COMPRESSION_MASK) == 0 ||
		    h.records_size <= SEG_ZSTD_RECORDS_MAX) {
			if (rill__batch_decoder_start(dec, b, total) == 0) {
				rill_record r;
				while (rill__batch_decoder_next(dec, &r) == 0)
					known_add(k, &r);
			}
		}
		pos += total;
	}
}

static int compare_rec(const void *a, const void *b)
{
	const fuzz_rec *x = a, *y = b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (x->timestamp_ms > y->timestamp_ms) - (x->timestamp_ms < y->timestamp_ms);
}

static void build_known(known *k, const seg_input *in)
{
	static rill_batch_decoder *dec;
	if (dec == NULL)
		fuzz_check(rill__batch_decoder_new(&dec) == 0, "decoder");
	memset(k, 0, sizeof(*k));
	for (size_t i = 0; i < in->file_count; i++) {
		walk(k, dec, &in->files[i], 0);
		if (in->checkpoint && in->files[i].base == in->cp_segment && in->cp_position > 0)
			walk(k, dec, &in->files[i], in->cp_position);
	}
	if (k->count > 0)
		qsort(k->v, k->count, sizeof(*k->v), compare_rec);
}

static void check_known(const known *k, const fuzz_recs *got)
{
	for (size_t i = 0; i < got->count; i++) {
		const fuzz_rec *r = &got->v[i];
		size_t lo = 0, hi = k->count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (k->v[mid].offset < r->offset)
				lo = mid + 1;
			else
				hi = mid;
		}
		bool found = false;
		for (size_t j = lo; j < k->count && k->v[j].offset == r->offset && !found; j++)
			found = k->v[j].hash == r->hash && k->v[j].timestamp_ms == r->timestamp_ms;
		fuzz_check(found, "a reader returned a record that is not in any valid batch at its offset");
	}
}

/* ------------------------------------------------------------------- run */

static void plant(sim_fs *sim, const seg_input *in, uint8_t flags)
{
	rill_config c;
	rill_config_init(&c);
	c.segment_bytes = 4096;
	c.index_interval_bytes = (flags & 0x20) ? 0 : 256;
	c.preallocate = (flags & 0x40) != 0;
	c.segment_index_bytes = 4096;
	fuzz_plant_store(sim, SEG_ROOT, SEG_TOPIC, 1, &c);
	for (size_t i = 0; i < in->file_count; i++) {
		char path[256];
		snprintf(path, sizeof(path), SEG_DIR "/%020" PRIu64 ".log", in->files[i].base);
		fuzz_check(sim_write_file(sim, path, in->files[i].bytes, in->files[i].len) == 0, "plant log");
	}
	if (in->checkpoint) {
		char text[512];
		size_t n = fuzz_checkpoint_text(text, sizeof(text), in->cp_log_start, in->cp_recovery,
		                                in->cp_segment, in->cp_position);
		fuzz_check(sim_write_file(sim, SEG_DIR "/partition.checkpoint", text, n) == 0,
		           "plant checkpoint");
	}
	if (flags & 0x02)
		fuzz_check(sim_write_file(sim, SEG_ROOT "/.clean-shutdown", "", 0) == 0, "plant marker");
	if (fuzz_debug()) {
		fprintf(stderr, "flags 0x%02x\n", flags);
		for (size_t i = 0; i < in->file_count; i++) {
			const seg_file *f = &in->files[i];
			fprintf(stderr, "segment %" PRIu64 ": %zu bytes; chunks at", f->base, f->len);
			for (size_t j = 0; j < f->boundary_count; j++)
				fprintf(stderr, " %zu(o%" PRIu64 ")", f->boundaries[j], f->boundary_offsets[j]);
			fprintf(stderr, "\n");
		}
		if (in->checkpoint)
			fprintf(stderr, "checkpoint log_start %" PRIu64 " recovery %" PRIu64 " segment %" PRIu64
			        " position %" PRIu64 "\n",
			        in->cp_log_start, in->cp_recovery, in->cp_segment, in->cp_position);
	}
}

/* Open, read partition 0 into *out. Returns the open's code; on success
 * the store is left open in *out_store (topic in *out_topic). */
static int open_and_read(sim_fs *sim, uint32_t flags, int repair, rill_store **out_store,
                         rill_topic **out_topic, fuzz_recs *out)
{
	rill_options o = RILL_OPTIONS_INIT;
	o.io = sim_io(sim);
	o.flags = flags;
	o.repair = repair;
	if (fuzz_debug()) {
		o.log = fuzz_log;
		fprintf(stderr, "open%s%s\n", flags & RILL_OPEN_READONLY ? " read-only" : "",
		        repair ? " repair" : "");
	}
	memset(out, 0, sizeof(*out));
	*out_store = NULL;
	*out_topic = NULL;
	int rc = rill_store_open(out_store, SEG_ROOT, &o);
	fuzz_check_code(rc, "store open");
	if (rc != 0) {
		fuzz_check(*out_store == NULL, "failed open left a store");
		return rc;
	}
	fuzz_check(rill_topic_open(out_topic, *out_store, SEG_TOPIC) == 0, "topic open");
	fuzz_read_partition(*out_topic, 0, out, SEG_READ_MAX);
	return 0;
}

static void close_store(rill_store *s, rill_topic *t)
{
	rill_topic_close(t);
	int rc = rill_store_close(s);
	fuzz_check(rc == 0 || rc == RILL_EFAILED || rc == RILL_ECORRUPT, "store close");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static seg_input in;
	if (size > SEG_INPUT_MAX)
		size = SEG_INPUT_MAX;
	uint8_t flags = size > 0 ? data[0] : 0;
	int repair = (flags & 0x04) != 0;
	parse_input(&in, data, size);
	known k;
	build_known(&k, &in);
	int64_t live = fuzz_live_allocations();

	sim_fs *sim = sim_new(fuzz_seed(data, size));
	plant(sim, &in, flags);
	rill_store *s = NULL;
	rill_topic *t = NULL;
	fuzz_recs ro = {0}, first = {0}, again = {0};
	int ro_rc = -1;
	if (flags & 0x10) {
		ro_rc = open_and_read(sim, RILL_OPEN_READONLY, repair, &s, &t, &ro);
		if (ro_rc == 0) {
			check_known(&k, &ro);
			close_store(s, t);
		}
	}
	int rc = open_and_read(sim, 0, repair, &s, &t, &first);
	if (rc == 0) {
		check_known(&k, &first);
		if (ro_rc == 0 && ro.end_rc == RILL_EAGAIN && first.end_rc == RILL_EAGAIN)
			fuzz_recs_same(&ro, &first, "read-only open and writer recovery disagree");
		uint64_t problems = 0;
		int vrc = rill_verify(s, NULL, NULL, NULL, NULL, &problems);
		fuzz_check(vrc == 0 || vrc == RILL_ECORRUPT, "verify code");
		fuzz_check((vrc == 0) == (problems == 0), "verify code and problem count disagree");
		if (first.end_rc == RILL_ECORRUPT)
			fuzz_check(vrc == RILL_ECORRUPT, "a reader met corruption that verify does not report");

		/* Recovery left a log that takes appends and serves them. */
		rill_record rec = {.key = "k", .key_len = 1, .value = "after recovery",
		                   .value_len = 14, .timestamp_ms = 1700000000000};
		rill_append_info info;
		int arc = rill_append(&info, t, 0, &rec, 1, RILL_APPEND_SYNC);
		if (arc == 0) {
			fuzz_check(info.base_offset == first.log_end, "append did not go to the log end");
			rill_reader *r = NULL;
			fuzz_check(rill_reader_open(&r, t, 0, info.base_offset) == 0, "reader at the append");
			rill_record got;
			fuzz_check(rill_reader_next(r, &got) == 0, "appended record not readable");
			fuzz_check(got.offset == info.base_offset && got.value_len == 14 &&
			               memcmp(got.value, "after recovery", 14) == 0,
			           "appended record reads back wrong");
			if (first.end_rc == RILL_EAGAIN)
				fuzz_recs_push(&first, &got);
			rill_reader_close(r);
		} else {
			fuzz_check(arc == RILL_EINVAL || arc == RILL_ECORRUPT,
			           "append after recovery failed with an unexpected code");
		}
		if (flags & 0x08) {
			sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
			rill_topic_close(t);
			rill_store_close(s); /* its calls fail with -EBADF: any code */
		} else {
			close_store(s, t);
		}
		/* What recovery kept, and the synced append, survive. */
		rill_store *s2 = NULL;
		rill_topic *t2 = NULL;
		int rc2 = open_and_read(sim, 0, repair, &s2, &t2, &again);
		fuzz_check(rc2 == 0, "reopen after a successful recovery failed");
		if (first.end_rc == RILL_EAGAIN && again.end_rc == RILL_EAGAIN)
			fuzz_recs_same(&first, &again, "records changed across a reopen");
		close_store(s2, t2);
	}
	fuzz_recs_free(&ro);
	fuzz_recs_free(&first);
	fuzz_recs_free(&again);
	fuzz_check_released(sim, live);
	sim_free(sim);
	for (size_t i = 0; i < in.file_count; i++)
		free(in.files[i].bytes);
	free(k.v);
	return 0;
}

/* ------------------------------------------------------------ seed corpus */

#ifdef RILL_FUZZ_GENERATE
typedef struct seed_buf {
	uint8_t bytes[64 << 10];
	size_t len;
} seed_buf;

static void put(seed_buf *s, const void *p, size_t n)
{
	memcpy(s->bytes + s->len, p, n);
	s->len += n;
}

static void chunk(seed_buf *s, uint8_t kind, const void *p, size_t n)
{
	uint8_t h[3] = {kind, (uint8_t)n, (uint8_t)(n >> 8)};
	put(s, h, 3);
	if (p != NULL)
		put(s, p, n);
}

/* A real batch of `count` records (base 0, sealed later by the harness). */
static void batch_chunk(seed_buf *s, rill_batch_encoder *enc, size_t count, size_t value_len,
                        int compression)
{
	static char text[4096];
	rill_record recs[64];
	rill_header hdr = {"h", 1, "v", 1};
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "abcdefgh"[i % 8];
	for (size_t i = 0; i < count; i++)
		recs[i] = (rill_record){"key", 3, text, value_len + i, i % 2 ? &hdr : NULL, i % 2,
		                        1700000000000 + (int64_t)i, 0};
	rill_batch_params params = {
		.compression = compression, .zstd_level = 1,
		.timestamp_type = RILL_TIMESTAMP_CREATE_TIME, .now_ms = 1700000000000,
		.leader_epoch = -1, .producer_id = -1, .producer_epoch = -1, .base_sequence = -1,
		.partition_key = part_key(), .max_batch_bytes = RILL_MESSAGE_BYTES_MAX,
	};
	uint8_t *b;
	size_t n;
	uint64_t hash;
	fuzz_check(rill__batch_encode(enc, recs, count, &params, &b, &n, &hash) == 0, "encode");
	chunk(s, 0, b, n);
}

static void header(seed_buf *s, uint8_t flags, uint8_t cp_seg, uint8_t cp_boundary)
{
	uint8_t h[8] = {flags, cp_seg, cp_boundary, 0, 0, 0, 0, 0};
	s->len = 0;
	put(s, h, 8);
}

static void fuzz_generate(const char *dir)
{
	static seed_buf s;
	rill_batch_encoder *enc;
	fuzz_check(rill__batch_encoder_new(&enc) == 0, "encoder");
	static const uint8_t garbage[40] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff, 0xfe, 0x80, 0};

	header(&s, 0, 0, 0);
	for (int i = 0; i < 5; i++)
		batch_chunk(&s, enc, 1 + i, 10 * (size_t)i, RILL_COMPRESSION_NONE);
	fuzz_write_seed(dir, "one-segment", s.bytes, s.len);

	header(&s, 0x01 | 0x10, 0, 3);
	for (int i = 0; i < 4; i++)
		batch_chunk(&s, enc, 3, 100, i % 2 ? RILL_COMPRESSION_ZSTD : RILL_COMPRESSION_NONE);
	chunk(&s, 1, garbage, 30); /* torn tail */
	fuzz_write_seed(dir, "torn-tail-checkpoint", s.bytes, s.len);

	header(&s, 0x40, 0, 0);
	for (int i = 0; i < 3; i++)
		batch_chunk(&s, enc, 2, 50, RILL_COMPRESSION_NONE);
	chunk(&s, 2, NULL, 4000); /* preallocated zeros */
	fuzz_write_seed(dir, "preallocated", s.bytes, s.len);

	header(&s, 0x01 | 0x20, 1, 1);
	for (int seg = 0; seg < 3; seg++) {
		for (int i = 0; i < 3; i++)
			batch_chunk(&s, enc, 4, 200, RILL_COMPRESSION_NONE);
		chunk(&s, 3, NULL, 0);
	}
	batch_chunk(&s, enc, 1, 5, RILL_COMPRESSION_NONE);
	fuzz_write_seed(dir, "segments", s.bytes, s.len);

	header(&s, 0x01 | 0x02, 2, 2);
	for (int seg = 0; seg < 3; seg++) {
		for (int i = 0; i < 2; i++)
			batch_chunk(&s, enc, 2, 30, RILL_COMPRESSION_ZSTD);
		chunk(&s, 3, NULL, 0);
	}
	fuzz_write_seed(dir, "clean-marker", s.bytes, s.len);

	header(&s, 0x04 | 0x08, 0, 0);
	batch_chunk(&s, enc, 3, 20, RILL_COMPRESSION_NONE);
	chunk(&s, 1, garbage, 40); /* corruption in the middle */
	batch_chunk(&s, enc, 3, 20, RILL_COMPRESSION_NONE);
	chunk(&s, 3, NULL, 0);
	batch_chunk(&s, enc, 3, 20, RILL_COMPRESSION_NONE);
	fuzz_write_seed(dir, "corrupt-middle-repair", s.bytes, s.len);

	header(&s, 0x10, 0, 0);
	batch_chunk(&s, enc, 2, 20, RILL_COMPRESSION_NONE);
	batch_chunk(&s, enc, 2, 20, RILL_COMPRESSION_NONE);
	chunk(&s, 0x40, NULL, 0); /* an empty "batch" chunk */
	chunk(&s, 0x13, NULL, 5); /* a segment whose name skips offsets */
	batch_chunk(&s, enc, 2, 20, RILL_COMPRESSION_NONE);
	fuzz_write_seed(dir, "gap", s.bytes, s.len);

	header(&s, 0x01, 0, 0xff);
	s.bytes[3] = 0x90; /* checkpoint position past the file */
	batch_chunk(&s, enc, 1, 3000, RILL_COMPRESSION_NONE);
	fuzz_write_seed(dir, "checkpoint-past-end", s.bytes, s.len);
	rill__batch_encoder_free(enc);
}
#endif /* RILL_FUZZ_GENERATE */
