/*
 * fuzz_store.c — libFuzzer target for opening a store directory whose
 * files hold arbitrary bytes (lib/store.c, lib/topic.c, lib/config.c,
 * lib/partition.c open and recovery, lib/fs.c).
 *
 * The input is a list of files (and directories) planted under "/s" on the
 * simulated file system (tests/sim_io.h):
 *
 *   byte 0      flags: 0x01 open read-only first and compare; 0x02 open with
 *               rill_options.repair; 0x04 end the writer session with a power
 *               loss (sim_crash DROP_ALL) instead of a clean close
 *   then entries: kind u8, [selector bytes], len u16 little-endian, payload
 *     kind & 15 (T = topic name kind >> 4 from a small list that includes
 *     names the store must skip; n = partition 0-3 from one selector byte):
 *      0 STORE                 1 .clean-shutdown      2 T/topic.meta
 *      3 T/topic.conf          4 T/T-n/partition.checkpoint
 *      5 T/T-n/NNN.log, 6 .index, 7 .timeindex (base: selector u16)
 *      8 T/<name>, 9 T/T-n/<name>, 10 <name> (name: payload up to the first
 *        NUL, at most 40 bytes, '/' replaced; content: the rest)
 *     11 mkdir <name> (no file; the name as above, relative to /s)
 *     helpers so the fuzzer reaches deep states cheaply:
 *     12 T/topic.meta saying partitions = 1 + payload[0] % 4
 *     13 T/topic.conf, valid, segment.bytes 4096, index.interval.bytes
 *        from payload[0]
 *     14 T/T-n/partition.checkpoint with a valid checksum, fields from four
 *        u16 of the payload
 *     15 T/T-n/NNN.log (base: selector u16) of batches: the payload is
 *        chunks (len u16 + bytes), each with its length field set and its
 *        checksum recomputed by its definition for (T, n)
 *
 * Each run opens the store (read-only first if asked, then as a writer),
 * lists the topics, reads every partition of every topic, runs verify,
 * appends a record to partition 0 of each topic and closes (or crashes);
 * then it reopens. Oracles, besides no crash, leak or UB:
 *   - every failure is a clean code: RILL_ECORRUPT, RILL_EVERSION,
 *     RILL_ENOTFOUND, RILL_EIO (a directory where a file belongs);
 *   - readers return dense offsets and stop at the log end or with a clean
 *     error; a read-only open sees what the writer's recovery keeps;
 *   - a store the writer opened, recovered and closed opens again and
 *     serves the same records, plus the appended ones.
 *
 * Builds (see tests/tests.mk and fuzz_util.h):
 *   make fuzz                        libFuzzer + ASan + UBSan, FUZZ_SECONDS
 *   make build/fuzz/fuzz_store       then build/fuzz/fuzz_store DIR...
 *   make fuzz-replay                 -DRILL_FUZZ_REPLAY: replays
 *                                    tests/fuzz/corpus/store and crashes/store
 *   cc -DRILL_FUZZ_GENERATE (with tests/sim_io.c and the lib sources)
 *     && ./a.out tests/fuzz/corpus/store     writes the seed corpus
 *   FUZZ_DEBUG=1 build/fuzz-replay/fuzz_store FILE   explains one input
 */
#define FUZZ_NAME "store"
#include "fuzz_util.h"

#define ST_ROOT "/s"
#define ST_INPUT_MAX (64u << 10)
#define ST_TOPICS_MAX 16
#define ST_PARTITIONS_READ 8          /* partitions read per topic */
#define ST_READ_MAX 20000             /* records read per partition */

static const char *const topic_names[16] = {
	"t", "a.b", "x-1", "t-0", ".tmp-t", ".deleted-t", "T_", "0",
	"t", "a.b", "t", "LOCK", "STORE", "t", "a.b", "x-1",
};

static void check_code(int rc, const char *what)
{
	if (rc == RILL_EIO)
		return;
	fuzz_check_code(rc, what);
}

static void clean_name(char *out, const uint8_t *p, size_t len)
{
	size_t n = 0;
	while (n < len && n < 40 && p[n] != 0) {
		out[n] = p[n] == '/' ? '_' : (char)p[n];
		n++;
	}
	if (n == 0)
		out[n++] = 'x';
	out[n] = '\0';
	if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		strcpy(out, "dot");
}

static void plant_batches(sim_fs *sim, const char *path, const char *topic, int32_t n,
                          const uint8_t *p, size_t len)
{
	uint8_t *out = malloc(len + 1);
	size_t out_len = 0, pos = 0;
	fuzz_check(out != NULL, "out of memory in the harness");
	uint64_t key = rill__partition_key(topic, n);
	while (pos + 2 <= len) {
		size_t c = rill__get_u16(p + pos);
		pos += 2;
		if (c > len - pos)
			c = len - pos;
		memcpy(out + out_len, p + pos, c);
		if (c >= RILL_BATCH_HEADER_SIZE) {
			rill__put_u32(out + out_len + 8, (uint32_t)(c - RILL_BATCH_LOG_OVERHEAD));
			fuzz_reseal(out + out_len, c, key);
		}
		out_len += c;
		pos += c;
	}
	sim_write_file(sim, path, out, out_len);
	free(out);
}

static void plant(sim_fs *sim, const uint8_t *data, size_t size)
{
	size_t pos = 1;
	sim_mkdirs(sim, ST_ROOT);
	while (pos < size) {
		uint8_t kind = data[pos++];
		const char *topic = topic_names[kind >> 4];
		int32_t n = 0;
		uint64_t base = 0;
		unsigned k = kind & 15;
		if ((k >= 4 && k <= 7) || k == 9 || k == 14 || k == 15) {
			if (pos >= size)
				break;
			n = data[pos++] % 4;
		}
		if ((k >= 5 && k <= 7) || k == 15) {
			if (pos + 2 > size)
				break;
			base = rill__get_u16(data + pos);
			pos += 2;
		}
		if (pos + 2 > size)
			break;
		size_t len = rill__get_u16(data + pos);
		pos += 2;
		if (len > size - pos)
			len = size - pos;
		const uint8_t *p = data + pos;
		pos += len;

		char path[512], pdir[300], name[48];
		snprintf(pdir, sizeof(pdir), ST_ROOT "/%s/%s-%d", topic, topic, (int)n);
		const uint8_t *content = p;
		size_t content_len = len;
		if (k >= 8 && k <= 11) {
			clean_name(name, p, len);
			size_t used = strlen(name);
			if (used < len)
				used++; /* the NUL */
			content = p + (used < len ? used : len);
			content_len = len - (used < len ? used : len);
		}
		switch (k) {
		case 0: snprintf(path, sizeof(path), ST_ROOT "/STORE"); break;
		case 1: snprintf(path, sizeof(path), ST_ROOT "/.clean-shutdown"); break;
		case 2: snprintf(path, sizeof(path), ST_ROOT "/%s/topic.meta", topic); break;
		case 3: snprintf(path, sizeof(path), ST_ROOT "/%s/topic.conf", topic); break;
		case 4: snprintf(path, sizeof(path), "%s/partition.checkpoint", pdir); break;
		case 5: snprintf(path, sizeof(path), "%s/%020" PRIu64 ".log", pdir, base); break;
		case 6: snprintf(path, sizeof(path), "%s/%020" PRIu64 ".index", pdir, base); break;
		case 7: snprintf(path, sizeof(path), "%s/%020" PRIu64 ".timeindex", pdir, base); break;
		case 8: snprintf(path, sizeof(path), ST_ROOT "/%s/%s", topic, name); break;
		case 9: snprintf(path, sizeof(path), "%s/%s", pdir, name); break;
		case 10: snprintf(path, sizeof(path), ST_ROOT "/%s", name); break;
		case 11:
			snprintf(path, sizeof(path), ST_ROOT "/%s", name);
			sim_mkdirs(sim, path);
			continue;
		case 12: {
			char text[64];
			int t = snprintf(text, sizeof(text), "rill-topic 1\npartitions=%d\n",
			                 1 + (len > 0 ? p[0] : 0) % 4);
			snprintf(path, sizeof(path), ST_ROOT "/%s/topic.meta", topic);
			sim_write_file(sim, path, text, (size_t)t);
			continue;
		}
		case 13: {
			rill_config c;
			rill_config_init(&c);
			c.segment_bytes = 4096;
			c.index_interval_bytes = len > 0 ? p[0] * 16 : 256;
			char text[RILL_CONFIG_TEXT_MAX];
			size_t t = rill__config_format(&c, text, sizeof(text));
			snprintf(path, sizeof(path), ST_ROOT "/%s/topic.conf", topic);
			sim_write_file(sim, path, text, t);
			continue;
		}
		case 14: {
			uint8_t f[8] = {0};
			memcpy(f, p, len < 8 ? len : 8);
			char text[512];
			size_t t = fuzz_checkpoint_text(text, sizeof(text), rill__get_u16(f), rill__get_u16(f + 2),
			                                rill__get_u16(f + 4), rill__get_u16(f + 6));
			snprintf(path, sizeof(path), "%s/partition.checkpoint", pdir);
			sim_write_file(sim, path, text, t);
			continue;
		}
		default:
			snprintf(path, sizeof(path), "%s/%020" PRIu64 ".log", pdir, base);
			plant_batches(sim, path, topic, n, p, len);
			continue;
		}
		/* A directory in the way makes this fail: fine, the tree stays. */
		sim_write_file(sim, path, content, content_len);
	}
}

/* ------------------------------------------------------------- one session */

typedef struct st_view {
	char names[ST_TOPICS_MAX][RILL_TOPIC_NAME_MAX + 1];
	size_t topic_count;
	int32_t partitions[ST_TOPICS_MAX];
	fuzz_recs recs[ST_TOPICS_MAX][ST_PARTITIONS_READ];
	bool appended[ST_TOPICS_MAX];  /* recs[i][0] ends with the appended record */
} st_view;

static int collect(void *arg, const char *name)
{
	st_view *v = arg;
	fuzz_check(strlen(name) <= RILL_TOPIC_NAME_MAX, "topic name too long");
	if (v->topic_count == ST_TOPICS_MAX)
		return 1;
	snprintf(v->names[v->topic_count++], RILL_TOPIC_NAME_MAX + 1, "%s", name);
	return 0;
}

static void view_free(st_view *v)
{
	for (size_t i = 0; i < ST_TOPICS_MAX; i++) {
		for (size_t j = 0; j < ST_PARTITIONS_READ; j++)
			fuzz_recs_free(&v->recs[i][j]);
	}
	memset(v, 0, sizeof(*v));
}

/* Open, look at everything; append and close (or crash) when `write`.
 * Returns the open's code. */
static int session(sim_fs *sim, uint32_t open_flags, int repair, bool write, bool crash,
                   st_view *v)
{
	rill_options o = RILL_OPTIONS_INIT;
	o.io = sim_io(sim);
	o.flags = open_flags;
	o.repair = repair;
	if (fuzz_debug())
		o.log = fuzz_log;
	memset(v, 0, sizeof(*v));
	rill_store *s = NULL;
	int rc = rill_store_open(&s, ST_ROOT, &o);
	check_code(rc, "store open");
	if (fuzz_debug())
		fprintf(stderr, "open%s: %d %s\n", open_flags ? " read-only" : "", rc, rc ? rill_errmsg() : "");
	if (rc != 0)
		return rc;
	rc = rill_topic_list(s, collect, v);
	fuzz_check(rc == 0 || rc == 1, "topic list");
	for (size_t i = 0; i < v->topic_count; i++) {
		rill_topic *t = NULL;
		fuzz_check(rill_topic_open(&t, s, v->names[i]) == 0, "a listed topic does not open");
		v->partitions[i] = rill_topic_partitions(t);
		fuzz_check(v->partitions[i] >= 1 && v->partitions[i] <= RILL_PARTITIONS_MAX,
		           "partition count");
		rill_config c;
		fuzz_check(rill_topic_config(&c, t) == 0, "topic config");
		fuzz_check(rill_config_validate(&c) == 0, "a loaded topic config does not validate");
		for (int32_t p = 0; p < v->partitions[i] && p < ST_PARTITIONS_READ; p++)
			fuzz_read_partition(t, p, &v->recs[i][p], ST_READ_MAX);
		if (write && !open_flags) {
			rill_record rec = {.key = "k", .key_len = 1, .value = "appended", .value_len = 8,
			                   .timestamp_ms = 1700000000000};
			rill_append_info info;
			int arc = rill_append(&info, t, 0, &rec, 1, RILL_APPEND_SYNC);
			fuzz_check(arc == 0 || arc == RILL_EINVAL || arc == RILL_ECORRUPT,
			           "append code");
			/* The appended record is part of what must be there later. */
			if (arc == 0 && v->recs[i][0].end_rc == RILL_EAGAIN) {
				fuzz_check(info.base_offset == v->recs[i][0].log_end, "append not at the log end");
				rill_record r = rec;
				r.offset = info.base_offset;
				fuzz_recs_push(&v->recs[i][0], &r);
				v->appended[i] = true;
			}
		}
		rill_topic_close(t);
	}
	uint64_t problems = 0;
	rc = rill_verify(s, NULL, NULL, NULL, NULL, &problems);
	check_code(rc, "verify");
	if (crash) {
		sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
		rill_store_close(s);
	} else {
		rc = rill_store_close(s);
		fuzz_check(rc == 0 || rc == RILL_EFAILED || open_flags != 0, "close");
	}
	return 0;
}

static void compare_topic(const st_view *a, size_t i, const st_view *b, size_t j,
                          bool without_appended, const char *what)
{
	fuzz_check(a->partitions[i] == b->partitions[j], what);
	for (int32_t p = 0; p < a->partitions[i] && p < ST_PARTITIONS_READ; p++) {
		const fuzz_recs *x = &a->recs[i][p];
		fuzz_recs y = b->recs[j][p];
		if (without_appended && p == 0 && b->appended[j])
			y.count--;
		if (x->end_rc == RILL_EAGAIN && y.end_rc == RILL_EAGAIN)
			fuzz_recs_same(x, &y, what);
	}
}

/* b's view equals a's, except that b may end partition 0 of a topic with
 * the record it appended when without_appended, and b may hold topics a
 * does not when a_may_hide: a read-only open skips a topic one of whose
 * partitions has no segment file yet (a writer creates the first segment
 * when it first loads the partition), a known limitation. */
static void compare_views(const st_view *a, const st_view *b, bool without_appended,
                          bool a_may_hide, const char *what)
{
	if (!a_may_hide)
		fuzz_check(a->topic_count == b->topic_count, what);
	size_t j = 0;
	for (size_t i = 0; i < a->topic_count; i++, j++) {
		while (a_may_hide && j < b->topic_count && strcmp(a->names[i], b->names[j]) != 0)
			j++;
		fuzz_check(j < b->topic_count && strcmp(a->names[i], b->names[j]) == 0, what);
		compare_topic(a, i, b, j, without_appended, what);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static st_view ro, first, again;
	if (size > ST_INPUT_MAX)
		size = ST_INPUT_MAX;
	uint8_t flags = size > 0 ? data[0] : 0;
	int repair = (flags & 0x02) != 0;
	int64_t live = fuzz_live_allocations();
	sim_fs *sim = sim_new(fuzz_seed(data, size));
	plant(sim, data, size);
	if (fuzz_debug() > 1)
		sim_dump(sim, stderr);

	int ro_rc = -1;
	if (flags & 0x01)
		ro_rc = session(sim, RILL_OPEN_READONLY, repair, false, false, &ro);
	int rc = session(sim, 0, repair, true, (flags & 0x04) != 0, &first);
	if (rc == 0) {
		if (ro_rc == 0)
			compare_views(&ro, &first, true, true, "read-only open and writer recovery disagree");
		rc = session(sim, 0, repair, false, false, &again);
		fuzz_check(rc == 0, "reopen after a successful writer session failed");
		compare_views(&first, &again, false, false, "records changed across a reopen");
	}
	view_free(&ro);
	view_free(&first);
	view_free(&again);
	fuzz_check_released(sim, live);
	sim_free(sim);
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

static void put_u16(seed_buf *s, size_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(s, b, 2);
}

static void entry(seed_buf *s, uint8_t kind, int n, int base, const void *p, size_t len)
{
	put(s, &kind, 1);
	unsigned k = kind & 15;
	if ((k >= 4 && k <= 7) || k == 9 || k == 14 || k == 15) {
		uint8_t b = (uint8_t)n;
		put(s, &b, 1);
	}
	if ((k >= 5 && k <= 7) || k == 15)
		put_u16(s, (size_t)base);
	put_u16(s, len);
	if (len > 0)
		put(s, p, len);
}

/* Payload of kind 15: `count` real batches of (topic, n) from offset `from`. */
static size_t batches(uint8_t *out, const char *topic, int32_t n, uint64_t from, int count)
{
	rill_batch_encoder *enc;
	fuzz_check(rill__batch_encoder_new(&enc) == 0, "encoder");
	size_t len = 0;
	for (int i = 0; i < count; i++) {
		rill_record r = {"key", 3, "some value", 10 - (size_t)i % 3, NULL, 0,
		                 1700000000000 + i, 0};
		rill_batch_params params = {
			.compression = RILL_COMPRESSION_NONE, .timestamp_type = RILL_TIMESTAMP_CREATE_TIME,
			.now_ms = 1700000000000, .leader_epoch = -1, .producer_id = -1,
			.producer_epoch = -1, .base_sequence = -1,
			.partition_key = rill__partition_key(topic, n),
			.max_batch_bytes = RILL_MESSAGE_BYTES_MAX,
		};
		uint8_t *b;
		size_t size;
		uint64_t hash;
		fuzz_check(rill__batch_encode(enc, &r, 1, &params, &b, &size, &hash) == 0, "encode");
		rill__batch_seal(b, from + (uint64_t)i, INT64_MIN, hash);
		out[len++] = (uint8_t)size;
		out[len++] = (uint8_t)(size >> 8);
		memcpy(out + len, b, size);
		len += size;
	}
	rill__batch_encoder_free(enc);
	return len;
}

static void fuzz_generate(const char *dir)
{
	static seed_buf s;
	static uint8_t payload[16384];
	uint8_t one[8] = {1, 0, 0, 0, 0, 0, 0, 0};

	/* A whole store: two topics, segments with batches, a checkpoint. */
	s.len = 0;
	put(&s, "\x01", 1);
	entry(&s, 0, 0, 0, "rill-store 1\n", 13);
	entry(&s, 12, 0, 0, one, 1);                 /* t: 2 partitions */
	entry(&s, 13, 0, 0, one, 1);
	entry(&s, 15, 0, 0, payload, batches(payload, "t", 0, 0, 5));
	entry(&s, 15, 0, 5, payload, batches(payload, "t", 0, 5, 3));
	entry(&s, 15, 1, 0, payload, batches(payload, "t", 1, 0, 2));
	uint8_t cp[8] = {0, 0, 5, 0, 5, 0, 0, 0};   /* recovery 5 in segment 5 at 0 */
	entry(&s, 14, 0, 0, cp, 8);
	entry(&s, 0x1c, 0, 0, one, 0);               /* a.b: 1 partition */
	entry(&s, 0x1d, 0, 0, one, 1);
	entry(&s, 0x1f, 0, 0, payload, batches(payload, "a.b", 0, 0, 4));
	fuzz_write_seed(dir, "store", s.bytes, s.len);

	/* The same after a clean shutdown. */
	entry(&s, 1, 0, 0, NULL, 0);
	fuzz_write_seed(dir, "store-clean", s.bytes, s.len);

	/* Raw files as the library writes them. */
	s.len = 0;
	put(&s, "\x04", 1);
	entry(&s, 0, 0, 0, "rill-store 1\n", 13);
	entry(&s, 2, 0, 0, "rill-topic 1\npartitions=1\n", 26);
	rill_config c;
	rill_config_init(&c);
	char text[RILL_CONFIG_TEXT_MAX];
	size_t t = rill__config_format(&c, text, sizeof(text));
	entry(&s, 3, 0, 0, text, t);
	char cpt[256];
	size_t cpn = fuzz_checkpoint_text(cpt, sizeof(cpt), 0, 0, 0, 0);
	entry(&s, 4, 0, 0, cpt, cpn);
	entry(&s, 5, 0, 0, NULL, 0);
	fuzz_write_seed(dir, "raw-empty-topic", s.bytes, s.len);

	/* Leftovers of interrupted operations and stray names. */
	s.len = 0;
	put(&s, "\x00", 1);
	entry(&s, 0, 0, 0, "rill-store 1\n", 13);
	entry(&s, 12, 0, 0, one, 0);
	entry(&s, 13, 0, 0, one, 1);
	entry(&s, 0x4c, 0, 0, one, 0);                /* .tmp-t */
	entry(&s, 0x5c, 0, 0, one, 0);                /* .deleted-t */
	entry(&s, 11, 0, 0, "t/t-3", 5);              /* past the partition count */
	entry(&s, 9, 0, 0, "partition.checkpoint.tmp\0junk", 29);
	entry(&s, 10, 0, 0, "STORE.tmp\0x", 11);
	entry(&s, 8, 0, 0, "topic.meta.tmp\0rill-topic 1\npartitions=9\n", 41);
	entry(&s, 6, 0, 7, "\x01\x02\x03", 3);         /* indexes without a log */
	fuzz_write_seed(dir, "leftovers", s.bytes, s.len);

	/* Foreign versions and garbage. */
	s.len = 0;
	put(&s, "\x01", 1);
	entry(&s, 0, 0, 0, "rill-store 2\n", 13);
	fuzz_write_seed(dir, "store-version", s.bytes, s.len);
	s.len = 0;
	put(&s, "\x00", 1);
	entry(&s, 0, 0, 0, "rill-store 1\n", 13);
	entry(&s, 2, 0, 0, "rill-topic 2\npartitions=1\n", 26);
	entry(&s, 3, 0, 0, "segment.bytes=abc\nunknown.key=1\n", 32);
	fuzz_write_seed(dir, "topic-version", s.bytes, s.len);
}
#endif /* RILL_FUZZ_GENERATE */
