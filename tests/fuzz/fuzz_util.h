/*
 * fuzz_util.h — what the store-level fuzz targets (fuzz_segment.c,
 * fuzz_index.c, fuzz_store.c) share: planting a store on the simulated file
 * system, reading every record of a partition into fingerprints, the
 * leak checks, the checksum by its definition, and the two extra mains:
 *
 *   -DRILL_FUZZ_REPLAY    main(argv): run every file in the directories
 *                         (or the files) named on the command line once;
 *                         a missing or empty directory replays nothing and
 *                         is not an error. make test runs the seed corpus
 *                         and every kept crash input this way.
 *   -DRILL_FUZZ_GENERATE  main(argv[1]): write the target's seed corpus
 *                         into that directory (fuzz_generate()).
 *
 * A target defines FUZZ_NAME ("segment", ...) and, for the generator,
 * fuzz_generate(dir), then includes this header. Every helper aborts with
 * a message on a broken oracle so libFuzzer records the input as a crash.
 */
#ifndef RILL_FUZZ_UTIL_H
#define RILL_FUZZ_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "batch.h"
#include "config.h"
#include "sim_io.h"

#define FUZZ_UNUSED __attribute__((unused))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a "crash" to libFuzzer) when an oracle fails. */
FUZZ_UNUSED static void fuzz_check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_%s: %s (last rill error: %s)\n", FUZZ_NAME, what, rill_errmsg());
		abort();
	}
}

/* Error codes a call on damaged files may return: anything else (EINVAL,
 * ENOMEM, EIO on a sim without faults, ...) is a bug. */
FUZZ_UNUSED static void fuzz_check_code(int rc, const char *what)
{
	if (rc == 0 || rc == RILL_ECORRUPT || rc == RILL_EVERSION || rc == RILL_ENOTFOUND)
		return;
	fprintf(stderr, "fuzz_%s: %s returned %d (%s): %s\n", FUZZ_NAME, what, rc, rill_strerror(rc),
	        rill_errmsg());
	abort();
}

/* The checksum by its definition (docs/FORMAT.md), written out again
 * rather than through rill__batch_seal, which asserts on its input. */
FUZZ_UNUSED static void fuzz_reseal(uint8_t *batch, size_t size, uint64_t key)
{
	uint64_t records_hash = XXH3_64bits_withSeed(batch + RILL_BATCH_HEADER_SIZE,
	                                             size - RILL_BATCH_HEADER_SIZE, key);
	rill__put_u64(batch + 64, XXH3_64bits_withSeed(batch, 64, records_hash));
}

/* A partition.checkpoint file with a valid checksum (partition.c). */
FUZZ_UNUSED static size_t fuzz_checkpoint_text(char *buf, size_t size, uint64_t log_start,
                                               uint64_t recovery, uint64_t segment,
                                               uint64_t position)
{
	int n = snprintf(buf, size,
	                 "rill-partition-checkpoint 1 log_start=%" PRIu64 " recovery=%" PRIu64
	                 " segment=%" PRIu64 " position=%" PRIu64,
	                 log_start, recovery, segment, position);
	uint64_t sum = XXH3_64bits(buf, (size_t)n);
	n += snprintf(buf + n, size - (size_t)n, " checksum=%016" PRIx64 "\n", sum);
	return (size_t)n;
}

/* Plant STORE, <topic>/topic.meta and topic.conf and the partition
 * directories of a store at `root` (no .clean-shutdown: the next open is
 * unclean unless the caller plants one). */
FUZZ_UNUSED static void fuzz_plant_store(sim_fs *sim, const char *root, const char *topic,
                                         int32_t partitions, const rill_config *config)
{
	char path[512], text[RILL_CONFIG_TEXT_MAX];
	snprintf(path, sizeof(path), "%s/STORE", root);
	fuzz_check(sim_write_file(sim, path, "rill-store 1\n", 13) == 0, "plant STORE");
	snprintf(path, sizeof(path), "%s/%s/topic.meta", root, topic);
	int n = snprintf(text, sizeof(text), "rill-topic 1\npartitions=%d\n", (int)partitions);
	fuzz_check(sim_write_file(sim, path, text, (size_t)n) == 0, "plant topic.meta");
	size_t len = rill__config_format(config, text, sizeof(text));
	fuzz_check(len < sizeof(text), "config text");
	snprintf(path, sizeof(path), "%s/%s/topic.conf", root, topic);
	fuzz_check(sim_write_file(sim, path, text, len) == 0, "plant topic.conf");
	for (int32_t p = 0; p < partitions; p++) {
		snprintf(path, sizeof(path), "%s/%s/%s-%d", root, topic, topic, (int)p);
		fuzz_check(sim_mkdirs(sim, path) == 0, "plant partition directory");
	}
}

/* FUZZ_DEBUG=1 in the environment: print the library's log and what the
 * harness planted (replaying one input by hand); 2: the whole sim too. */
FUZZ_UNUSED static int fuzz_debug(void)
{
	static int debug = -1;
	if (debug < 0) {
		const char *env = getenv("FUZZ_DEBUG");
		debug = env != NULL ? atoi(env) : 0;
	}
	return debug;
}

FUZZ_UNUSED static void fuzz_log(void *ctx, int level, const char *message)
{
	(void)ctx;
	fprintf(stderr, "  rill[%d] %s\n", level, message);
}

/* ------------------------------------------------------- record oracles */

/* A record as a comparable fingerprint. */
typedef struct fuzz_rec {
	uint64_t offset;
	int64_t timestamp_ms;
	uint64_t hash;                 /* key, value, headers, null-ness */
} fuzz_rec;

typedef struct fuzz_recs {
	fuzz_rec *v;
	size_t count;
	size_t capacity;
	uint64_t log_start;            /* offsets at the time of reading */
	uint64_t log_end;
	int end_rc;                    /* why reading stopped: RILL_EAGAIN at the end */
} fuzz_recs;

FUZZ_UNUSED static uint64_t fuzz_hash_bytes(uint64_t h, const void *p, size_t len)
{
	uint64_t hdr[2] = {p == NULL ? UINT64_MAX : (uint64_t)len, h};
	h = XXH3_64bits_withSeed(hdr, sizeof(hdr), h);
	return p == NULL || len == 0 ? h : XXH3_64bits_withSeed(p, len, h);
}

FUZZ_UNUSED static uint64_t fuzz_record_hash(const rill_record *r)
{
	uint64_t h = fuzz_hash_bytes(0, r->key, r->key_len);
	h = fuzz_hash_bytes(h, r->value, r->value_len);
	h = fuzz_hash_bytes(h, &r->header_count, sizeof(r->header_count));
	for (size_t i = 0; i < r->header_count; i++) {
		/* a header name is never null: an empty one may be NULL or not */
		h = fuzz_hash_bytes(h, r->headers[i].name_len ? r->headers[i].name : "",
		                    r->headers[i].name_len);
		h = fuzz_hash_bytes(h, r->headers[i].value, r->headers[i].value_len);
	}
	return h;
}

FUZZ_UNUSED static void fuzz_recs_push(fuzz_recs *l, const rill_record *r)
{
	if (l->count == l->capacity) {
		l->capacity = l->capacity ? l->capacity * 2 : 64;
		l->v = realloc(l->v, l->capacity * sizeof(*l->v));
		fuzz_check(l->v != NULL, "out of memory in the harness");
	}
	l->v[l->count++] = (fuzz_rec){r->offset, r->timestamp_ms, fuzz_record_hash(r)};
}

FUZZ_UNUSED static void fuzz_recs_free(fuzz_recs *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * Read partition p from its log start until the reader stops (at most
 * max_records). Offsets must be dense from the log start; any stop other
 * than RILL_EAGAIN at the log end must be a clean error code.
 */
FUZZ_UNUSED static void fuzz_read_partition(rill_topic *t, int32_t p, fuzz_recs *out,
                                            size_t max_records)
{
	rill_offsets o;
	memset(out, 0, sizeof(*out));
	fuzz_check(rill_partition_offsets(&o, t, p) == 0, "partition offsets");
	fuzz_check(o.log_start <= o.log_end, "log start past log end");
	fuzz_check(o.durable <= o.log_end, "durable past log end");
	out->log_start = o.log_start;
	out->log_end = o.log_end;
	rill_reader *r = NULL;
	int rc = rill_reader_open(&r, t, p, RILL_START_EARLIEST);
	if (rc != 0) {
		fuzz_check_code(rc, "reader open");
		out->end_rc = rc;
		return;
	}
	fuzz_check(rill_reader_position(r) == o.log_start, "reader does not start at the log start");
	uint64_t want = o.log_start;
	rill_record rec;
	while (out->count < max_records && (rc = rill_reader_next(r, &rec)) == 0) {
		fuzz_check(rec.offset == want, "reader offsets not dense");
		fuzz_check(rec.offset < o.log_end, "reader returned a record past the log end");
		fuzz_recs_push(out, &rec);
		want++;
	}
	if (fuzz_debug())
		fprintf(stderr, "  read partition %d: [%" PRIu64 ", %" PRIu64 "): %zu records, stop %d %s\n",
		        (int)p, o.log_start, o.log_end, out->count, rc, rc ? rill_errmsg() : "");
	if (out->count < max_records) {
		if (rc == RILL_EAGAIN)
			fuzz_check(want == o.log_end, "reader stopped before the log end without an error");
		else
			fuzz_check_code(rc, "reader next");
		out->end_rc = rc;
	}
	rill_reader_close(r);
}

/* Two reads of the same partition saw the same records. */
FUZZ_UNUSED static void fuzz_recs_same(const fuzz_recs *a, const fuzz_recs *b, const char *what)
{
	fuzz_check(a->count == b->count, what);
	for (size_t i = 0; i < a->count; i++) {
		fuzz_check(a->v[i].offset == b->v[i].offset, what);
		fuzz_check(a->v[i].timestamp_ms == b->v[i].timestamp_ms, what);
		fuzz_check(a->v[i].hash == b->v[i].hash, what);
	}
}

/* ------------------------------------------------------------ leak checks */

FUZZ_UNUSED static int64_t fuzz_live_allocations(void)
{
	rill_alloc_hook_state st;
	rill__alloc_stats(&st);
	return st.live;
}

/* After everything is closed: no descriptor left open in the sim and no
 * library allocation outstanding. */
FUZZ_UNUSED static void fuzz_check_released(sim_fs *sim, int64_t live_before)
{
	sim_stats st;
	sim_stats_get(sim, &st);
	fuzz_check(st.open_fds == 0, "a file descriptor was left open");
	int64_t live = fuzz_live_allocations();
	if (live != live_before)
		fprintf(stderr, "fuzz_%s: %lld library allocations outstanding\n", FUZZ_NAME,
		        (long long)(live - live_before));
	fuzz_check(live == live_before, "library allocations leaked");
}

/* 64-bit seed for the sim from the input (scrambled listings differ per
 * input, yet each input replays the same). */
FUZZ_UNUSED static uint64_t fuzz_seed(const uint8_t *data, size_t size)
{
	return XXH3_64bits(data, size) | 1;
}

/* ------------------------------------------------------------ extra mains */

#ifdef RILL_FUZZ_REPLAY
#include <dirent.h>
#include <sys/stat.h>

#define FUZZ_REPLAY_MAX (4u << 20)

static int fuzz_replay_file(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	uint8_t *buf = malloc(FUZZ_REPLAY_MAX);
	size_t n = buf != NULL ? fread(buf, 1, FUZZ_REPLAY_MAX, f) : 0;
	fclose(f);
	if (buf == NULL)
		return -1;
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	(*count)++;
	return 0;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			if (errno == ENOENT)
				continue; /* no crash inputs kept yet, say */
			perror(argv[i]);
			failed = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= fuzz_replay_file(argv[i], &count) != 0;
			continue;
		}
		DIR *dir = opendir(argv[i]);
		if (dir == NULL) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		struct dirent *e;
		while ((e = readdir(dir)) != NULL) {
			char path[4096];
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
				failed |= fuzz_replay_file(path, &count) != 0;
		}
		closedir(dir);
	}
	printf("fuzz_%s: replayed %zu inputs\n", FUZZ_NAME, count);
	return failed ? 1 : 0;
}
#endif /* RILL_FUZZ_REPLAY */

#ifdef RILL_FUZZ_GENERATE
static void fuzz_generate(const char *dir);

/* Write one seed file dir/name. */
FUZZ_UNUSED static void fuzz_write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	fuzz_generate(argv[1]);
	return 0;
}
#endif /* RILL_FUZZ_GENERATE */

#endif /* RILL_FUZZ_UTIL_H */
