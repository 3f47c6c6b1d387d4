/*
 * fuzz_index.c — libFuzzer target for index and checkpoint loading
 * (lib/segment.c rill__index_load, lib/partition.c checkpoint and open,
 * the readers' positioning by offset and by timestamp).
 *
 * A valid store with a known log is built once on the simulated file
 * system (tests/sim_io.h) by the library itself: topic "t", one partition,
 * 240 records in batches of 1-5 with increasing timestamps, segment.bytes
 * 4096 and index.interval.bytes 256 (about ten segments with several index
 * entries each), closed cleanly. Its files, its records and the answers of
 * the pristine store to every seek (by offset and by timestamp) are the
 * oracle. Each input then damages that store's NNN.index, NNN.timeindex
 * and partition.checkpoint files:
 *
 *   byte 0      flags
 *                 0x01 keep .clean-shutdown (open trusts the checkpoint and
 *                      the active segment's index), else remove it
 *                 0x02 replace the checkpoint with one whose checksum is
 *                      valid but whose fields come from bytes 1-8
 *                 0x04 open with rill_options.repair
 *                 0x08 open read-only
 *   bytes 1-8   synthesized checkpoint: [1] segment (< 0xf0: the base of
 *               segment [1] % n; else the raw value [2]), [3..4] position,
 *               [5..6] recovery (if [7] & 1: the true offset of the batch at
 *               that position when there is one), [8] log start
 *   then edits: target u8, len u16 little-endian, payload
 *     target % (2 n + 1) picks the file: segment k's .index (2k),
 *     .timeindex (2k + 1), or partition.checkpoint (2n);
 *     target >> 6: 0 replace the file with the `len` payload bytes,
 *     1 delete it (no payload), 2 cut it to `len` bytes (no payload),
 *     3 patch: payload = position u16 + bytes written there.
 *
 * Oracles, besides no crash, leak or UB:
 *   - indexes and a garbled (checksum-failing) checkpoint are hints: the
 *     open succeeds and every record reads back exactly, sequentially and
 *     after a seek to each offset; rill_offset_for_timestamp and
 *     rill_reader_seek_timestamp answer as on the pristine store; verify
 *     is clean; after an append, a close and a reopen, all of it again;
 *   - a synthesized checkpoint (valid checksum, wrong content) may make the
 *     open fail with RILL_ECORRUPT, or hide records, but every record any
 *     reader returns is the known record at its offset.
 *
 * Builds (see tests/tests.mk and fuzz_util.h):
 *   make fuzz                        libFuzzer + ASan + UBSan, FUZZ_SECONDS
 *   make build/fuzz/fuzz_index       then build/fuzz/fuzz_index DIR...
 *   make fuzz-replay                 -DRILL_FUZZ_REPLAY: replays
 *                                    tests/fuzz/corpus/index and crashes/index
 *   cc -DRILL_FUZZ_GENERATE (with tests/sim_io.c and the lib sources)
 *     && ./a.out tests/fuzz/corpus/index     writes the seed corpus
 *   FUZZ_DEBUG=1 build/fuzz-replay/fuzz_index FILE   explains one input
 */
#define FUZZ_NAME "index"
#include "fuzz_util.h"

#define IDX_ROOT "/s"
#define IDX_TOPIC "t"
#define IDX_DIR IDX_ROOT "/" IDX_TOPIC "/" IDX_TOPIC "-0"
#define IDX_RECORDS 240
#define IDX_SEGMENTS_MAX 64
#define IDX_INPUT_MAX (64u << 10)
#define IDX_TS_BASE 1700000000000LL
#define IDX_TS_PROBES 64              /* timestamps probed per run */

typedef struct idx_file {
	char path[300];
	uint8_t *bytes;
	size_t len;
} idx_file;

/* The pristine store and what it answers. */
typedef struct idx_template {
	idx_file files[4 * IDX_SEGMENTS_MAX + 16]; /* every file under the store */
	size_t file_count;
	uint64_t bases[IDX_SEGMENTS_MAX];          /* segment base offsets */
	size_t segment_count;
	fuzz_recs records;                          /* offsets 0..IDX_RECORDS-1 */
	uint64_t batch_pos[IDX_RECORDS];            /* file position of record i's batch */
	uint64_t batch_seg[IDX_RECORDS];            /* its segment's base */
	uint64_t batch_base[IDX_RECORDS];           /* its batch's base offset */
	int64_t probe_ts[IDX_TS_PROBES];            /* timestamps probed */
	uint64_t probe_offset[IDX_TS_PROBES];       /* pristine answers */
} idx_template;

static idx_template tpl;

static rill_config idx_config(void)
{
	rill_config c;
	rill_config_init(&c);
	c.segment_bytes = 4096;
	c.index_interval_bytes = 256;
	c.segment_index_bytes = 1024;
	c.preallocate = 0;
	return c;
}

static void snapshot_dir(sim_fs *sim, const char *dir)
{
	char **names = NULL;
	size_t count = 0;
	fuzz_check(sim_list(sim, dir, &names, &count) == 0, "list template");
	for (size_t i = 0; i < count; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (sim_exists(sim, path) == RILL_IO_DIR) {
			snapshot_dir(sim, path);
			continue;
		}
		if (strcmp(names[i], "LOCK") == 0)
			continue;
		fuzz_check(tpl.file_count < sizeof(tpl.files) / sizeof(tpl.files[0]), "template files");
		idx_file *f = &tpl.files[tpl.file_count++];
		snprintf(f->path, sizeof(f->path), "%s", path);
		void *buf = NULL;
		fuzz_check(sim_read_file(sim, path, &buf, &f->len) == 0, "read template file");
		f->bytes = buf;
		uint64_t base = 0;
		if (strcmp(dir, IDX_DIR) == 0 && strlen(names[i]) == 24 &&
		    strcmp(names[i] + 20, ".log") == 0 && sscanf(names[i], "%20" SCNu64, &base) == 1) {
			fuzz_check(tpl.segment_count < IDX_SEGMENTS_MAX, "template segments");
			tpl.bases[tpl.segment_count++] = base;
		}
	}
	sim_list_free(names, count);
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Where each record's batch is, by walking the pristine segment files. */
static void locate_batches(void)
{
	for (size_t s = 0; s < tpl.segment_count; s++) {
		char path[128];
		snprintf(path, sizeof(path), IDX_DIR "/%020" PRIu64 ".log", tpl.bases[s]);
		const idx_file *f = NULL;
		for (size_t i = 0; i < tpl.file_count; i++) {
			if (strcmp(tpl.files[i].path, path) == 0)
				f = &tpl.files[i];
		}
		fuzz_check(f != NULL, "template log");
		size_t pos = 0;
		while (pos < f->len) {
			rill_batch_header h;
			fuzz_check(rill__batch_parse_header(f->bytes + pos, f->len - pos, f->len - pos, &h) == 0,
			           "template batch");
			for (uint64_t o = h.base_offset; o <= h.base_offset + h.last_offset_delta; o++) {
				fuzz_check(o < IDX_RECORDS, "template offsets");
				tpl.batch_pos[o] = pos;
				tpl.batch_seg[o] = tpl.bases[s];
				tpl.batch_base[o] = h.base_offset;
			}
			pos += (size_t)rill__batch_total_size(&h);
		}
	}
}

static void build_template(void)
{
	sim_fs *sim = sim_new(7);
	rill_options o = RILL_OPTIONS_INIT;
	o.io = sim_io(sim);
	rill_store *s = NULL;
	fuzz_check(rill_store_open(&s, IDX_ROOT, &o) == 0, "template open");
	rill_config c = idx_config();
	fuzz_check(rill_topic_create(s, IDX_TOPIC, 1, &c) == 0, "template topic");
	rill_topic *t = NULL;
	fuzz_check(rill_topic_open(&t, s, IDX_TOPIC) == 0, "template topic open");
	static char text[512];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + (i * 7) % 26);
	int64_t ts = IDX_TS_BASE;
	for (uint32_t i = 0; i < IDX_RECORDS;) {
		rill_record recs[5];
		char keys[5][16];
		uint32_t n = 1 + i * 7 % 5;
		if (i + n > IDX_RECORDS)
			n = IDX_RECORDS - i;
		for (uint32_t j = 0; j < n; j++) {
			snprintf(keys[j], sizeof(keys[j]), "key-%u", i + j);
			ts += (i + j) % 3; /* equal neighbours too */
			recs[j] = (rill_record){keys[j], strlen(keys[j]), text + (i + j) % 64,
			                        1 + (i + j) * 37 % 300, NULL, 0, ts, 0};
		}
		fuzz_check(rill_append(NULL, t, 0, recs, n, 0) == 0, "template append");
		i += n;
	}
	fuzz_read_partition(t, 0, &tpl.records, IDX_RECORDS + 1);
	fuzz_check(tpl.records.count == IDX_RECORDS && tpl.records.end_rc == RILL_EAGAIN,
	           "template records");
	int64_t last = tpl.records.v[IDX_RECORDS - 1].timestamp_ms;
	for (int i = 0; i < IDX_TS_PROBES; i++) {
		/* below, inside and above the range; every timestamp once */
		tpl.probe_ts[i] = IDX_TS_BASE - 2 + (last - IDX_TS_BASE + 4) * i / (IDX_TS_PROBES - 1);
		fuzz_check(rill_offset_for_timestamp(&tpl.probe_offset[i], t, 0, tpl.probe_ts[i]) == 0,
		           "template timestamp lookup");
		/* the pristine answer is the first record at or after the time */
		uint64_t want = IDX_RECORDS;
		for (uint64_t r = 0; r < IDX_RECORDS && want == IDX_RECORDS; r++) {
			if (tpl.records.v[r].timestamp_ms >= tpl.probe_ts[i])
				want = r;
		}
		fuzz_check(tpl.probe_offset[i] == want, "pristine timestamp lookup is wrong");
	}
	rill_topic_close(t);
	fuzz_check(rill_store_close(s) == 0, "template close");
	snapshot_dir(sim, IDX_ROOT);
	qsort(tpl.bases, tpl.segment_count, sizeof(uint64_t), compare_u64);
	fuzz_check(tpl.segment_count >= 4, "template has too few segments");
	locate_batches();
	sim_free(sim);
}

/* ------------------------------------------------------------------- run */

/* Path of edit target k (see the file comment). */
static void target_path(char *buf, size_t size, size_t k)
{
	size_t n = tpl.segment_count;
	k %= 2 * n + 1;
	if (k == 2 * n)
		snprintf(buf, size, IDX_DIR "/partition.checkpoint");
	else
		snprintf(buf, size, IDX_DIR "/%020" PRIu64 "%s", tpl.bases[k / 2],
		         k % 2 ? ".timeindex" : ".index");
}

FUZZ_UNUSED static const idx_file *template_file(const char *path)
{
	for (size_t i = 0; i < tpl.file_count; i++) {
		if (strcmp(tpl.files[i].path, path) == 0)
			return &tpl.files[i];
	}
	return NULL;
}

static void apply_edits(sim_fs *sim, const uint8_t *data, size_t size)
{
	size_t pos = 9;
	while (pos + 3 <= size) {
		uint8_t target = data[pos];
		size_t len = rill__get_u16(data + pos + 1);
		pos += 3;
		char path[128];
		target_path(path, sizeof(path), target & 0x3f);
		void *cur = NULL;
		size_t cur_len = 0;
		bool exists = sim_read_file(sim, path, &cur, &cur_len) == 0;
		switch (target >> 6) {
		case 0:
			if (len > size - pos)
				len = size - pos;
			fuzz_check(sim_write_file(sim, path, data + pos, len) == 0, "replace");
			pos += len;
			break;
		case 1:
			if (exists)
				fuzz_check(sim_remove(sim, path) == 0, "delete");
			break;
		case 2:
			if (exists && len < cur_len)
				fuzz_check(sim_truncate_file(sim, path, len) == 0, "cut");
			break;
		default: {
			if (len > size - pos)
				len = size - pos;
			if (exists && len >= 2) {
				size_t at = rill__get_u16(data + pos);
				size_t n = len - 2;
				if (at <= cur_len + 64) {
					uint8_t *b = calloc(1, at + n > cur_len ? at + n : cur_len);
					fuzz_check(b != NULL, "out of memory in the harness");
					memcpy(b, cur, cur_len);
					memcpy(b + at, data + pos + 2, n);
					size_t out = at + n > cur_len ? at + n : cur_len;
					fuzz_check(sim_write_file(sim, path, b, out) == 0, "patch");
					free(b);
				}
			}
			pos += len;
			break;
		}
		}
		free(cur);
	}
}

static void synthesize_checkpoint(sim_fs *sim, const uint8_t *d)
{
	uint64_t segment = d[1] < 0xf0 ? tpl.bases[d[1] % tpl.segment_count] : d[2];
	uint64_t position = rill__get_u16(d + 3);
	uint64_t recovery = rill__get_u16(d + 5);
	if (d[7] & 1) {
		for (uint64_t o = 0; o < IDX_RECORDS; o++) {
			if (tpl.batch_seg[o] == segment && tpl.batch_pos[o] == position) {
				recovery = tpl.batch_base[o];
				break;
			}
		}
	}
	char text[512];
	size_t n = fuzz_checkpoint_text(text, sizeof(text), d[8], recovery, segment, position);
	fuzz_check(sim_write_file(sim, IDX_DIR "/partition.checkpoint", text, n) == 0, "checkpoint");
}

/* Record r read at its offset is the known one. */
static void check_record(const rill_record *r)
{
	fuzz_check(r->offset < IDX_RECORDS, "a record past the known log");
	const fuzz_rec *k = &tpl.records.v[r->offset];
	fuzz_check(r->timestamp_ms == k->timestamp_ms && fuzz_record_hash(r) == k->hash,
	           "a reader returned the wrong record for its offset");
}

static void check_reads(rill_topic *t, bool strict, uint64_t extra)
{
	fuzz_recs got;
	fuzz_read_partition(t, 0, &got, IDX_RECORDS + extra + 1);
	for (size_t i = 0; i < got.count; i++) {
		if (got.v[i].offset >= IDX_RECORDS)
			continue; /* the record appended after recovery */
		const fuzz_rec *k = &tpl.records.v[got.v[i].offset];
		fuzz_check(got.v[i].timestamp_ms == k->timestamp_ms && got.v[i].hash == k->hash,
		           "a reader returned the wrong record for its offset");
	}
	if (strict) {
		fuzz_check(got.log_start == 0, "log start moved");
		fuzz_check(got.log_end == IDX_RECORDS + extra, "log end moved");
		fuzz_check(got.end_rc == RILL_EAGAIN && got.count == IDX_RECORDS + extra,
		           "records lost to a damaged index");
	}
	fuzz_recs_free(&got);

	/* Seek to every offset of the known log. */
	rill_reader *r = NULL;
	int rc = rill_reader_open(&r, t, 0, RILL_START_EARLIEST);
	fuzz_check_code(rc, "reader open");
	if (rc != 0)
		return;
	for (uint64_t o = 0; o < IDX_RECORDS; o++) {
		rc = rill_reader_seek(r, o);
		rill_record rec;
		if (rc == 0)
			rc = rill_reader_next(r, &rec);
		if (rc == 0) {
			fuzz_check(rec.offset == o, "seek landed on another offset");
			check_record(&rec);
		} else {
			fuzz_check(!strict, "a seek failed on a store whose index is only a hint");
			fuzz_check(rc == RILL_ERANGE || rc == RILL_ECORRUPT || rc == RILL_EAGAIN,
			           "seek error code");
		}
	}
	/* Timestamps: the pristine answers. */
	for (int i = 0; i < IDX_TS_PROBES; i++) {
		uint64_t off = 0;
		rc = rill_offset_for_timestamp(&off, t, 0, tpl.probe_ts[i]);
		if (fuzz_debug() && (rc != 0 || off != tpl.probe_offset[i]))
			fprintf(stderr, "  timestamp %" PRId64 ": offset %" PRIu64 " (rc %d), pristine %" PRIu64 "\n",
			        tpl.probe_ts[i], off, rc, tpl.probe_offset[i]);
		if (strict) {
			fuzz_check(rc == 0, "timestamp lookup failed on a store whose index is only a hint");
			/* (past the known log the answer is the log end, or the
			 * appended record, whose timestamp is later: offset 240 both) */
			fuzz_check(off == tpl.probe_offset[i],
			           "timestamp lookup answers differently with a damaged index");
		} else {
			fuzz_check_code(rc, "timestamp lookup");
		}
		rc = rill_reader_seek_timestamp(r, tpl.probe_ts[i]);
		if (rc == 0 && rill_reader_position(r) < IDX_RECORDS) {
			rill_record rec;
			rc = rill_reader_next(r, &rec);
			if (rc == 0)
				check_record(&rec);
			else
				fuzz_check(!strict, "reading after a timestamp seek failed");
		} else if (rc != 0) {
			fuzz_check(!strict, "a timestamp seek failed on a store whose index is only a hint");
			fuzz_check_code(rc == RILL_ERANGE ? 0 : rc, "timestamp seek");
		}
	}
	rill_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (tpl.segment_count == 0)
		build_template();
	if (size > IDX_INPUT_MAX)
		size = IDX_INPUT_MAX;
	uint8_t head[9] = {0};
	memcpy(head, data, size < 9 ? size : 9);
	uint8_t flags = head[0];
	int64_t live = fuzz_live_allocations();

	sim_fs *sim = sim_new(fuzz_seed(data, size));
	for (size_t i = 0; i < tpl.file_count; i++)
		fuzz_check(sim_write_file(sim, tpl.files[i].path, tpl.files[i].bytes, tpl.files[i].len) == 0,
		           "plant");
	if (!(flags & 0x01))
		sim_remove(sim, IDX_ROOT "/.clean-shutdown");
	bool synthesized = (flags & 0x02) != 0;
	if (synthesized)
		synthesize_checkpoint(sim, head);
	apply_edits(sim, data, size);
	if (fuzz_debug() > 1)
		sim_dump(sim, stderr);
	bool readonly = (flags & 0x08) != 0;
	bool strict = !synthesized;

	rill_options o = RILL_OPTIONS_INIT;
	o.io = sim_io(sim);
	o.flags = readonly ? RILL_OPEN_READONLY : 0;
	o.repair = (flags & 0x04) != 0;
	if (fuzz_debug())
		o.log = fuzz_log;
	rill_store *s = NULL;
	int rc = rill_store_open(&s, IDX_ROOT, &o);
	if (strict)
		fuzz_check(rc == 0, "open failed on a store whose indexes and checkpoint are only hints");
	fuzz_check_code(rc, "store open");
	if (rc == 0) {
		rill_topic *t = NULL;
		fuzz_check(rill_topic_open(&t, s, IDX_TOPIC) == 0, "topic open");
		check_reads(t, strict, 0);
		uint64_t problems = 0;
		rc = rill_verify(s, NULL, NULL, NULL, NULL, &problems);
		if (strict)
			fuzz_check(rc == 0 && problems == 0, "verify finds problems in a good log");
		fuzz_check_code(rc, "verify");
		bool appended = false;
		if (!readonly) {
			rill_record rec = {.key = "new", .key_len = 3, .value = "v", .value_len = 1,
			                   .timestamp_ms = IDX_TS_BASE + 100000};
			rill_append_info info;
			rc = rill_append(&info, t, 0, &rec, 1, 0);
			if (strict) {
				fuzz_check(rc == 0 && info.base_offset == IDX_RECORDS, "append after a good open");
				appended = true;
			}
		}
		rill_topic_close(t);
		rc = rill_store_close(s);
		fuzz_check(rc == 0 || !strict, "close");
		if (strict) {
			/* Whatever the open rebuilt is right, and stays right. */
			o.flags = 0;
			fuzz_check(rill_store_open(&s, IDX_ROOT, &o) == 0, "reopen");
			fuzz_check(rill_topic_open(&t, s, IDX_TOPIC) == 0, "topic reopen");
			check_reads(t, true, appended ? 1 : 0);
			rill_topic_close(t);
			fuzz_check(rill_store_close(s) == 0, "close after reopen");
		}
	}
	fuzz_check_released(sim, live);
	sim_free(sim);
	return 0;
}

/* ------------------------------------------------------------ seed corpus */

#ifdef RILL_FUZZ_GENERATE
static void edit(uint8_t *buf, size_t *len, uint8_t target, const void *p, size_t n)
{
	buf[(*len)++] = target;
	buf[(*len)++] = (uint8_t)n;
	buf[(*len)++] = (uint8_t)(n >> 8);
	if (p != NULL) {
		memcpy(buf + *len, p, n);
		*len += n;
	}
}

static void fuzz_generate(const char *dir)
{
	build_template();
	size_t n = tpl.segment_count;
	static uint8_t buf[8192];
	size_t len;
	char path[128];

	/* Untouched, clean and unclean. */
	memset(buf, 0, 9);
	buf[0] = 0x01;
	fuzz_write_seed(dir, "clean", buf, 9);
	buf[0] = 0x00;
	fuzz_write_seed(dir, "unclean", buf, 9);

	/* Each index of segment 1 and the last, replaced by a real one from
	 * another segment, deleted, cut, patched. */
	for (size_t seg = 1; seg < n; seg += n - 2) {
		for (int kind = 0; kind < 2; kind++) {
			uint8_t target = (uint8_t)(2 * seg + (size_t)kind);
			target_path(path, sizeof(path), 2 * ((seg + 1) % n) + (size_t)kind);
			const idx_file *other = template_file(path);
			target_path(path, sizeof(path), target);
			const idx_file *own = template_file(path);
			char name[64];
			memset(buf, 0, 9);
			buf[0] = seg + 1 == n ? 0x01 : 0x00;
			len = 9;
			if (other != NULL && other->len < 4096)
				edit(buf, &len, target, other->bytes, other->len);
			snprintf(name, sizeof(name), "swap-%zu-%d", seg, kind);
			fuzz_write_seed(dir, name, buf, len);
			len = 9;
			edit(buf, &len, (uint8_t)(0x40 | target), NULL, 0);
			snprintf(name, sizeof(name), "delete-%zu-%d", seg, kind);
			fuzz_write_seed(dir, name, buf, len);
			len = 9;
			edit(buf, &len, (uint8_t)(0x80 | target), NULL, own != NULL ? own->len / 2 + 3 : 5);
			snprintf(name, sizeof(name), "cut-%zu-%d", seg, kind);
			fuzz_write_seed(dir, name, buf, len);
			len = 9;
			uint8_t patch[6] = {8, 0, 0xff, 0x7f, 0, 0};
			edit(buf, &len, (uint8_t)(0xc0 | target), patch, sizeof(patch));
			snprintf(name, sizeof(name), "patch-%zu-%d", seg, kind);
			fuzz_write_seed(dir, name, buf, len);
		}
	}
	/* The checkpoint: garbled, deleted, and synthesized at a batch of
	 * segment 2 (consistent) and mid-batch (not). */
	memset(buf, 0, 9);
	len = 9;
	edit(buf, &len, (uint8_t)(2 * n), "rill-partition-checkpoint 1 log_start=0", 39);
	fuzz_write_seed(dir, "checkpoint-garbled", buf, len);
	len = 9;
	edit(buf, &len, (uint8_t)(0x40 | 2 * n), NULL, 0);
	fuzz_write_seed(dir, "checkpoint-deleted", buf, len);
	for (uint64_t o = 0; o < IDX_RECORDS; o++) {
		if (tpl.batch_seg[o] == tpl.bases[2] && tpl.batch_pos[o] > 0) {
			memset(buf, 0, 9);
			buf[0] = 0x02 | 0x01;
			buf[1] = 2;
			rill__put_u16(buf + 3, (uint16_t)tpl.batch_pos[o]);
			buf[7] = 1;
			fuzz_write_seed(dir, "checkpoint-synthesized", buf, 9);
			rill__put_u16(buf + 3, (uint16_t)(tpl.batch_pos[o] + 5));
			buf[0] = 0x02;
			fuzz_write_seed(dir, "checkpoint-mid-batch", buf, 9);
			break;
		}
	}
}
#endif /* RILL_FUZZ_GENERATE */
