/*
 * partition.c — one partition: ordered segments, the active segment that
 * takes appends, durability with group commit, recovery on open,
 * retention, and the positioning half of readers.
 *
 * Sections: checkpoint · open and recovery · rolling · append and group
 * commit · close · offsets and timestamps · retention · readers · verify.
 *
 * Directory "<store>/<topic>/<topic>-<n>/":
 *   NNN.log, NNN.index, NNN.timeindex     segments (segment.c)
 *   partition.checkpoint                  log start offset and recovery point
 *
 * Durability. Appends are written (pwrite) under the partition lock, one
 * write per batch, so the log is always a prefix of complete batches plus,
 * at worst, one torn batch being written. `durable` is the offset below
 * which everything is known synced. A thread that must wait for durability
 * either becomes the syncer (no sync in flight: it snapshots the log end,
 * drops the lock, fdatasyncs, and publishes the snapshot as durable) or
 * waits for the syncer in flight and re-checks: every appender whose batch
 * was written before a sync began is covered by that one sync (group
 * commit), with no background thread. A roll syncs the old segment before
 * the first byte goes to the new one, so syncing the active segment alone
 * is enough. A failed fdatasync fails the partition for good (R8): it is
 * never retried into a false success, and nothing more is acknowledged.
 *
 * Recovery point. partition.checkpoint records the log start offset and a
 * recovery point (offset, segment, position) below which every batch is
 * synced and valid. It is written (atomically, R3) at every roll, by
 * maintenance, and at close, always after the data it covers was synced
 * (R6, R10). After an unclean shutdown only batches after the recovery
 * point are scanned: each must parse, lie inside the file, continue the
 * offsets densely and match its checksum. The first that does not ends
 * the log: what follows is a torn tail (never acknowledged under
 * durability=append, because an fdatasync covers every earlier write) and
 * is cut, reported through the log callback and stats. A bad batch in a
 * segment that is followed by a valid later segment is different: a roll
 * synced it, so it was acknowledged data, and open fails with RILL_ECORRUPT
 * naming partition, segment and offset unless the host asked for repair.
 *
 * Retention moves the log start to a segment base and deletes what is
 * below without syncing it first: the deleted data is never read again,
 * and the new first segment's file is durable (created with a directory
 * sync), so no crash can leave the log end below the start. Records below
 * the log start count as durable; delete_before, which may cut inside a
 * segment, syncs up to its offset first.
 *
 * Lookups by timestamp find their batch under the partition lock (segment
 * max timestamps, the time index, batch headers) and check and read it
 * after letting go, holding a pin: hashing a large batch under the lock
 * would stall every append to the partition meanwhile.
 *
 * Lock order: partition lock, then the file-cache lock. Never the reverse.
 * The batch cache's lock is never taken under the partition lock.
 */
#include "partition.h"

#include <errno.h>
#include <time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#include "batch_cache.h"
#include "fs.h"

#define PREALLOC_CHUNK (1u << 20)     /* zero-fill this far ahead of the log */
#define CHECKPOINT_TEXT_MAX 512
#define RECOVERY_CHECKPOINT_BYTES (64u << 20) /* synced bytes between checkpoints */

static int64_t now_ms(const rill_partition *p)
{
	return p->env->io->now_ms(p->env->io->ctx);
}

static rill_segment *active_segment(const rill_partition *p)
{
	RILL_ASSERT(p->segment_count > 0);
	return p->segments[p->segment_count - 1];
}

static uint32_t index_entries_max(const rill_config *config)
{
	int64_t n = config->segment_index_bytes / RILL_TIME_INDEX_ENTRY;
	if (n < 2)
		n = 2;
	if (n > (int64_t)UINT32_MAX)
		n = UINT32_MAX;
	return (uint32_t)n;
}

/* Reserve the active segment's index up front (the entries a full
 * segment can need, capped by segment.index.bytes) so appends never
 * reallocate it: no allocation per record after warm-up. The arrays are
 * virtual memory until touched. Failure is not an error: appends then
 * grow the index as they go. */
static void reserve_active_index(const rill_config *config, rill_segment *seg)
{
	uint64_t interval = config->index_interval_bytes > RILL_BATCH_HEADER_SIZE
	                        ? (uint64_t)config->index_interval_bytes
	                        : RILL_BATCH_HEADER_SIZE;
	uint64_t want = (uint64_t)config->segment_bytes / interval + 2;
	if (want > seg->index.max_entries)
		want = seg->index.max_entries;
	uint64_t pow2 = 64;
	while (pow2 < want)
		pow2 *= 2;
	if (rill__index_reserve(&seg->index, (uint32_t)(pow2 < seg->index.max_entries ? pow2 : want)) != 0)
		rill__error_clear();
}

static uint64_t map_capacity(const rill_config *config)
{
	uint64_t cap = (uint64_t)config->segment_bytes + (uint64_t)config->max_message_bytes;
	uint64_t page = 4096;
	return (cap + page - 1) / page * page;
}

static int sync_active_locked(rill_partition *p);

/* Fail the partition for good: nothing is acknowledged after this. */
static void write_failed_marker(rill_partition *p);
static int delete_segment_files(rill_partition *p, uint64_t base);
static int drop_newest_segments(rill_partition *p, size_t keep, const char *why);
static int checkpoint_now(rill_partition *p);

/* Fail the partition for good: nothing is acknowledged after this. The
 * durable end is recorded (best effort) in partition.failed, because
 * after a failed fsync the page cache may still serve bytes that will
 * never reach the disk: a restart without a reboot would read them back
 * as valid and build on them. The next open cuts the log there. */
static void fail_partition(rill_partition *p, const char *what)
{
	if (atomic_exchange(&p->failed, 1) == 0) {
		rill__log(&p->env->logger, RILL_LOG_ERROR, "partition %s failed: %s", p->dir, what);
		write_failed_marker(p);
	}
	pthread_cond_broadcast(&p->sync_cond);
}

/* The file cache fails a partition when the write-back or sync of one of
 * its descriptors fails as it closes it (segment.c), holding only its own
 * lock: the partition writes the failed marker when it next holds its
 * lock, here. Lock held. */
static void mark_cache_failure(rill_partition *p)
{
	if (atomic_exchange(&p->failed_unmarked, 0) != 0)
		write_failed_marker(p);
}

/* A sync through a new descriptor returns 0 over data whose write failed
 * on a closed one (R9), so every sync checks here once it is done. Lock
 * held; RILL_EFAILED (message `why`) if the partition has failed. */
static int check_failed(rill_partition *p, const char *why)
{
	if (!atomic_load(&p->failed))
		return 0;
	mark_cache_failure(p);
	pthread_cond_broadcast(&p->sync_cond);
	return rill__error(RILL_EFAILED, "partition %s %s; reopen the store", p->dir, why);
}

/* ============================================================ failed marker */

#define FAILED_MARKER_FILE "partition.failed"

/* The checkpoint and the failed marker are one line each:
 * "<fields> checksum=<16 hex>\n", the checksum XXH3-64 of the bytes before
 * " checksum=". These two write and read that frame; callers own the fields. */
static int write_checked_line(rill_partition *p, const char *name, const char *fields)
{
	char text[CHECKPOINT_TEXT_MAX];
	int n = snprintf(text, sizeof(text), "%s checksum=%016" PRIx64 "\n", fields,
	                 XXH3_64bits(fields, strlen(fields)));
	if (n < 0 || (size_t)n >= sizeof(text))
		return rill__error(RILL_EINVAL, "%s/%s: line too long", p->dir, name);
	return rill__atomic_write(p->env->io, p->dir, name, text, (size_t)n);
}

/* *out (heap, NUL-terminated where " checksum=" began) holds the fields.
 * RILL_ENOTFOUND if the file is missing, RILL_ECORRUPT (no message: the
 * caller names the file) if the checksum is missing or wrong. */
static int read_checked_line(rill_partition *p, const char *name, char **out)
{
	char path[RILL_PATH_MAX];
	int rc = rill__path(path, sizeof(path), "%s/%s", p->dir, name);
	if (rc != 0)
		return rc;
	char *text = NULL;
	size_t len = 0;
	rc = rill__read_small_file(p->env->io, path, &text, &len, CHECKPOINT_TEXT_MAX);
	if (rc != 0)
		return rc;
	char *mark = strstr(text, " checksum=");
	unsigned long long sum = 0;
	if (mark == NULL || sscanf(mark, " checksum=%16llx", &sum) != 1 ||
	    XXH3_64bits(text, (size_t)(mark - text)) != (uint64_t)sum) {
		rill__free(text);
		return RILL_ECORRUPT;
	}
	*mark = '\0';
	*out = text;
	return 0;
}

static void write_failed_marker(rill_partition *p)
{
	if (p->env->readonly || p->segment_count == 0)
		return;
	char saved[512];
	snprintf(saved, sizeof(saved), "%s", rill_errmsg());
	char fields[CHECKPOINT_TEXT_MAX];
	snprintf(fields, sizeof(fields),
	         "rill-partition-failed 1 durable=%" PRIu64 " segment=%" PRIu64 " position=%" PRIu64,
	         atomic_load(&p->durable), p->durable_segment, p->durable_position);
	if (write_checked_line(p, FAILED_MARKER_FILE, fields) != 0)
		rill__log(&p->env->logger, RILL_LOG_ERROR, "partition %s: cannot record the durable end: %s",
		          p->dir, rill_errmsg());
	rill__error(RILL_OK, "%s", saved); /* the caller reports the original failure */
}

/* At open: cut the log back to the durable end a failed partition
 * recorded. Everything after it was written after the last successful
 * sync, so under durability=append it was never acknowledged; under os and
 * interval nothing past a sync is promised. */
static int apply_failed_marker(rill_partition *p)
{
	char path[RILL_PATH_MAX];
	int rc = rill__path(path, sizeof(path), "%s/%s", p->dir, FAILED_MARKER_FILE);
	if (rc != 0)
		return rc;
	char *text = NULL;
	rc = read_checked_line(p, FAILED_MARKER_FILE, &text);
	if (rc == RILL_ENOTFOUND) {
		rill__error_clear();
		return 0;
	}
	if (rc != 0 && rc != RILL_ECORRUPT)
		return rc;
	unsigned long long v[3] = {0, 0, 0};
	bool valid = rc == 0 && sscanf(text, "rill-partition-failed 1 durable=%llu segment=%llu position=%llu",
	                               &v[0], &v[1], &v[2]) == 3;
	rill__free(text);
	uint64_t durable = v[0], base = v[1], position = v[2];
	size_t k = p->segment_count;
	if (valid) {
		for (size_t i = 0; i < p->segment_count; i++)
			if (p->segments[i]->base_offset == base)
				k = i;
	}
	uint64_t end = atomic_load(&p->next_offset);
	if (!valid || k == p->segment_count || durable < base || durable < p->log_start) {
		if (valid && durable < end)
			rill__log(&p->env->logger, RILL_LOG_WARN,
			          "partition %s: %s does not match the log; ignored", p->dir, FAILED_MARKER_FILE);
	} else if (durable < end) {
		rill_segment *seg = p->segments[k];
		rc = rill__segment_pin(p->env, seg, false);
		if (rc != 0)
			return rc;
		rc = rill__index_load(p->env, seg, (uint64_t)p->config.index_interval_bytes);
		/* The marker must point at a batch boundary with that offset. */
		uint64_t from = 0;
		uint32_t rel = 0;
		if (rc == 0)
			from = rill__index_lookup_offset_entry(&seg->index, (uint32_t)(durable - seg->base_offset), &rel);
		uint64_t expect = seg->base_offset + rel;
		rill_scan scan;
		if (rc == 0)
			rc = rill__segment_scan(p->env, seg, from, expect, position, p->partition_key, NULL, 0, &scan);
		rill__segment_unpin(p->env, seg);
		if (rc != 0)
			return rc;
		if (scan.valid_end != position || scan.next_offset != durable) {
			rill__log(&p->env->logger, RILL_LOG_WARN,
			          "partition %s: %s does not match the log; ignored", p->dir, FAILED_MARKER_FILE);
		} else {
			rill__log(&p->env->logger, RILL_LOG_WARN,
			          "partition %s: cutting offsets %" PRIu64 "..%" PRIu64 " written after a failed fsync",
			          p->dir, durable, end - 1);
			rc = drop_newest_segments(p, k + 1, "written after a failed fsync");
			if (rc != 0)
				return rc;
			rc = rill__segment_pin(p->env, seg, false);
			if (rc != 0)
				return rc;
			int err = p->env->io->ftruncate(p->env->io->ctx, seg->fd, position);
			if (err == 0)
				err = p->env->io->fdatasync(p->env->io->ctx, seg->fd);
			rill__segment_unpin(p->env, seg);
			if (err != 0)
				return rill__io_error(err, "truncate", p->dir);
			atomic_store(&seg->sealed, false);
			atomic_store(&seg->size, position);
			atomic_store(&seg->synced_size, position);
			rill__segment_renew_cache_id(seg); /* new bytes will follow at these positions */
			seg->file_size = seg->prealloc_end = position;
			seg->next_offset = durable;
			rill__index_truncate(&seg->index, position);
			seg->index.persisted = 0; /* rewrite the files at the next persist */
			seg->index.files_empty = false;
			if (scan.batches > 0) {
				/* segment_scan recorded the last batch's position */
				if (scan.max_timestamp > seg->index.running_max_ts)
					seg->index.running_max_ts = scan.max_timestamp;
			}
			seg->max_timestamp = seg->index.running_max_ts;
			uint64_t last_entry = seg->index.count > 0
			                          ? rill__get_u32(seg->index.offsets + (size_t)(seg->index.count - 1) * RILL_OFFSET_INDEX_ENTRY + 4)
			                          : 0;
			seg->index.bytes_since_entry = position - last_entry;
			atomic_store(&p->next_offset, durable);
			atomic_store(&p->durable, durable);
			p->durable_segment = seg->base_offset;
			p->durable_position = position;
			rc = rill__sync_dir(p->env->io, p->dir);
			if (rc == 0)
				rc = checkpoint_now(p);
			if (rc != 0)
				return rc;
		}
	}
	int err = p->env->io->unlink(p->env->io->ctx, path);
	if (err != 0 && err != -ENOENT)
		return rill__io_error(err, "remove", path);
	return rill__sync_dir(p->env->io, p->dir);
}

/* ================================================================ checkpoint */

typedef struct checkpoint {
	uint64_t log_start;
	uint64_t recovery;            /* recovery point offset */
	uint64_t segment;             /* base of the segment holding it */
	uint64_t position;            /* byte position of it in that segment */
} checkpoint;

/* What stable storage says: the file, or for a new partition its absence. */
static void note_checkpoint_on_disk(rill_partition *p, const checkpoint *cp)
{
	p->checkpoint_recovery = cp->recovery;
	p->checkpoint_position = cp->position;
	p->checkpoint_log_start = cp->log_start;
	p->checkpoint_segment = cp->segment;
	p->checkpoint_known = true;
}

static int checkpoint_write(rill_partition *p, const checkpoint *cp)
{
	char fields[CHECKPOINT_TEXT_MAX];
	snprintf(fields, sizeof(fields),
	         "rill-partition-checkpoint 1 log_start=%" PRIu64 " recovery=%" PRIu64 " segment=%" PRIu64
	         " position=%" PRIu64,
	         cp->log_start, cp->recovery, cp->segment, cp->position);
	int rc = write_checked_line(p, RILL_CHECKPOINT_FILE, fields);
	if (rc == 0)
		note_checkpoint_on_disk(p, cp);
	return rc;
}

/* 0 and *cp filled; RILL_ENOTFOUND if missing; RILL_ECORRUPT if garbled. */
static int checkpoint_read(rill_partition *p, checkpoint *cp)
{
	char path[RILL_PATH_MAX];
	int rc = rill__path(path, sizeof(path), "%s/%s", p->dir, RILL_CHECKPOINT_FILE);
	if (rc != 0)
		return rc;
	char *text = NULL;
	rc = read_checked_line(p, RILL_CHECKPOINT_FILE, &text);
	if (rc != 0 && rc != RILL_ECORRUPT)
		return rc;
	unsigned long long v[4];
	if (rc != 0 ||
	    sscanf(text, "rill-partition-checkpoint 1 log_start=%llu recovery=%llu segment=%llu position=%llu",
	           &v[0], &v[1], &v[2], &v[3]) != 4 || v[1] < v[2]) {
		rc = rill__error(RILL_ECORRUPT, "%s: not a valid checkpoint", path);
	} else {
		cp->log_start = v[0];
		cp->recovery = v[1];
		cp->segment = v[2];
		cp->position = v[3];
	}
	rill__free(text);
	return rc;
}

/* Write a checkpoint whose recovery point is the durable end. Data must
 * already be synced; the active index is persisted first (R6). */
static int checkpoint_now(rill_partition *p)
{
	if (p->env->readonly)
		return 0;
	rill_segment *seg = active_segment(p);
	uint64_t durable = atomic_load(&p->durable);
	checkpoint cp = {p->log_start, durable, seg->base_offset, 0};
	if (durable >= seg->next_offset) {
		cp.recovery = seg->next_offset;
		cp.position = atomic_load(&seg->size);
	} else {
		/* The last sync's (offset, segment, position): everything before
		 * it is synced, so recovery may start there. Without one (nothing
		 * synced since open), the oldest segment: a full scan, but safe. */
		bool found = false;
		for (size_t i = p->segment_count; i-- > 0;) {
			if (p->segments[i]->base_offset == p->durable_segment && durable >= p->durable_segment) {
				cp.segment = p->durable_segment;
				cp.position = p->durable_position;
				found = true;
				break;
			}
		}
		if (!found) {
			cp.segment = cp.recovery = p->segments[0]->base_offset;
			cp.position = 0;
		}
	}
	int rc = rill__index_persist(p->env, seg);
	if (rc != 0)
		return rc;
	/* Unchanged (a clean open, a close or a maintenance pass with nothing
	 * new): the file already says this, on stable storage. Rewriting it
	 * cost an fdatasync, a rename and a directory fsync per partition. */
	if (p->checkpoint_known && cp.log_start == p->checkpoint_log_start &&
	    cp.recovery == p->checkpoint_recovery && cp.segment == p->checkpoint_segment &&
	    cp.position == p->checkpoint_position)
		return 0;
	return checkpoint_write(p, &cp);
}

/* ======================================================= open and recovery */

int rill__partition_create_dir(rill_env *env, const char *dir)
{
	int err = env->io->mkdir(env->io->ctx, dir, 0755);
	if (err != 0)
		return rill__io_error(err, "create directory", dir);
	return 0;
}

typedef struct dir_listing {
	rill_partition *p;
	uint64_t *bases;
	size_t count;
	size_t capacity;
	int rc;
} dir_listing;

static bool parse_segment_name(const char *name, const char *suffix, uint64_t *out)
{
	size_t len = strlen(name);
	size_t slen = strlen(suffix);
	if (len != RILL_SEGMENT_NAME_DIGITS + slen || strcmp(name + RILL_SEGMENT_NAME_DIGITS, suffix) != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < RILL_SEGMENT_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		uint64_t digit = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

static int list_entry(void *arg, const char *name)
{
	dir_listing *l = arg;
	rill_partition *p = l->p;
	uint64_t base;
	size_t len = strlen(name);
	if (parse_segment_name(name, ".log", &base)) {
		if (l->count == l->capacity) {
			size_t cap = l->capacity ? l->capacity * 2 : 16;
			if (cap > RILL_SEGMENTS_PER_PARTITION_MAX) {
				l->rc = rill__error(RILL_ECORRUPT, "%s: more than %u segments", p->dir,
				                    RILL_SEGMENTS_PER_PARTITION_MAX);
				return 1;
			}
			uint64_t *grown = rill__realloc(l->bases, cap * sizeof(*grown));
			if (grown == NULL) {
				l->rc = rill__error(RILL_ENOMEM, "cannot list segments of %s", p->dir);
				return 1;
			}
			l->bases = grown;
			l->capacity = cap;
		}
		l->bases[l->count++] = base;
	} else if (!p->env->readonly && len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
		/* An interrupted atomic replace: the old file is still whole. */
		char path[RILL_PATH_MAX];
		if (rill__path(path, sizeof(path), "%s/%s", p->dir, name) == 0)
			p->env->io->unlink(p->env->io->ctx, path);
	}
	return 0;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int push_segment(rill_partition *p, rill_segment *seg)
{
	if (p->segment_count == p->segment_capacity) {
		size_t cap = p->segment_capacity ? p->segment_capacity * 2 : 8;
		rill_segment **grown = rill__realloc(p->segments, cap * sizeof(*grown));
		if (grown == NULL)
			return rill__error(RILL_ENOMEM, "cannot grow segment list of %s", p->dir);
		p->segments = grown;
		p->segment_capacity = cap;
	}
	p->segments[p->segment_count++] = seg;
	return 0;
}

static int segment_file_size(rill_partition *p, rill_segment *seg, uint64_t *out)
{
	int rc = rill__segment_pin(p->env, seg, false);
	if (rc != 0)
		return rc;
	int err = p->env->io->file_size(p->env->io->ctx, seg->fd, out);
	rill__segment_unpin(p->env, seg);
	if (err != 0) {
		char path[RILL_PATH_MAX];
		rill__segment_path(path, sizeof(path), p->dir, seg->base_offset, ".log");
		return rill__io_error(err, "stat", path);
	}
	return 0;
}

/* Max timestamp of a sealed segment from the last time index entry, a
 * hint checked for sanity; -2 means "unknown, load the index to learn". */
static void read_sealed_max_timestamp(rill_partition *p, rill_segment *seg)
{
	seg->max_timestamp = -2;
	char path[RILL_PATH_MAX];
	if (rill__segment_path(path, sizeof(path), p->dir, seg->base_offset, ".timeindex") != 0)
		return;
	const rill_io *io = p->env->io;
	int fd = -1;
	if (io->open(io->ctx, path, RILL_O_READ, 0, &fd) != 0)
		return;
	uint64_t size = 0;
	uint8_t entry[RILL_TIME_INDEX_ENTRY];
	size_t done = 0;
	if (io->file_size(io->ctx, fd, &size) == 0 && size >= RILL_TIME_INDEX_ENTRY &&
	    size % RILL_TIME_INDEX_ENTRY == 0 &&
	    io->pread(io->ctx, fd, entry, sizeof(entry), size - RILL_TIME_INDEX_ENTRY, &done) == 0 &&
	    done == sizeof(entry)) {
		uint32_t rel = rill__get_u32(entry + 8);
		if (rel < seg->next_offset - seg->base_offset)
			seg->max_timestamp = (int64_t)rill__get_u64(entry);
	}
	io->close(io->ctx, fd);
}

static int delete_segment_files(rill_partition *p, uint64_t base)
{
	static const char *const suffixes[] = {".log", ".index", ".timeindex"};
	/* The log last: a log without indexes is whole (they are rebuilt);
	 * indexes without a log are ignored and removed at the next open. */
	for (int i = 2; i >= 0; i--) {
		char path[RILL_PATH_MAX];
		int rc = rill__segment_path(path, sizeof(path), p->dir, base, suffixes[i]);
		if (rc != 0)
			return rc;
		int err = p->env->io->unlink(p->env->io->ctx, path);
		if (err != 0 && err != -ENOENT)
			return rill__io_error(err, "remove", path);
	}
	return 0;
}

/* Remove segments [keep, count), newest first: they hold nothing
 * acknowledged (after a torn tail, or past a failed partition's durable
 * end). Read-only stores only forget them. */
static int drop_newest_segments(rill_partition *p, size_t keep, const char *why)
{
	while (p->segment_count > keep) {
		rill_segment *gone = p->segments[p->segment_count - 1];
		if (!p->env->readonly) {
			rill__log(&p->env->logger, RILL_LOG_WARN, "partition %s: removing segment %020" PRIu64 " %s",
			          p->dir, gone->base_offset, why);
			rill__segment_close_files(p->env, gone);
			int rc = delete_segment_files(p, gone->base_offset);
			if (rc != 0)
				return rc;
		}
		p->segment_count--;
		rill__segment_unref(p->env, gone);
	}
	return 0;
}

/* Create the empty .log of a new segment, removing index files a previous
 * segment at this base left (*out_no_index: both are known gone, so the
 * new segment's index needs no files until it has entries). */
static int create_segment_file(rill_partition *p, uint64_t base, bool *out_no_index)
{
	*out_no_index = false;
	char path[RILL_PATH_MAX];
	int rc = rill__segment_path(path, sizeof(path), p->dir, base, ".log");
	if (rc != 0)
		return rc;
	int fd = -1;
	/* TRUNC: a file at this base can only be a leftover beyond the log
	 * end (a roll that crashed before anything in it was acknowledged). */
	int err = p->env->io->open(p->env->io->ctx, path,
	                           RILL_O_WRITE | RILL_O_CREATE | RILL_O_TRUNC, 0644, &fd);
	if (err != 0)
		return rill__io_error(err, "create", path);
	p->env->io->close(p->env->io->ctx, fd);
	/* Remove stale index files of a previous segment with this base. */
	static const char *const idx[] = {".index", ".timeindex"};
	bool gone = true;
	for (int i = 0; i < 2; i++) {
		if (rill__segment_path(path, sizeof(path), p->dir, base, idx[i]) != 0) {
			gone = false;
			continue;
		}
		int e = p->env->io->unlink(p->env->io->ctx, path);
		if (e != 0 && e != -ENOENT)
			gone = false; /* left as it was: the first persist cuts it */
	}
	/* R2: the new entry is durable before anything in it is acknowledged. */
	rc = rill__sync_dir(p->env->io, p->dir);
	*out_no_index = rc == 0 && gone;
	return rc;
}

/* Cut a segment's file at `position` (recovery of a torn tail). */
static int cut_segment(rill_partition *p, rill_segment *seg, uint64_t position,
                       uint64_t file_size, bool zeros_only)
{
	/* Zeros where the next batch would start are the preallocated room
	 * past the last write: routine after a crash, not damage. */
	if (zeros_only)
		rill__log(&p->env->logger, RILL_LOG_INFO,
		          "partition %s segment %020" PRIu64 ": trimming %" PRIu64 " bytes past the last batch at position %" PRIu64
		          " (zeros where a batch would start: preallocated room)",
		          p->dir, seg->base_offset, file_size - position, position);
	else
		rill__log(&p->env->logger, RILL_LOG_WARN,
		          "partition %s segment %020" PRIu64 ": cutting torn tail at position %" PRIu64
		          " (%" PRIu64 " bytes)",
		          p->dir, seg->base_offset, position, file_size - position);
	p->recovered_bytes_cut += file_size - position;
	if (p->env->readonly)
		return 0;
	int rc = rill__segment_pin(p->env, seg, false);
	if (rc != 0)
		return rc;
	char path[RILL_PATH_MAX];
	rill__segment_path(path, sizeof(path), p->dir, seg->base_offset, ".log");
	int err = p->env->io->ftruncate(p->env->io->ctx, seg->fd, position);
	if (err == 0)
		err = p->env->io->fdatasync(p->env->io->ctx, seg->fd);
	rill__segment_unpin(p->env, seg);
	if (err != 0)
		return rill__io_error(err, "truncate", path);
	seg->file_size = position;
	return 0;
}

/* Does a segment file start with a valid batch? (tells a torn tail from
 * corruption followed by good data) */
static bool segment_starts_valid(rill_partition *p, rill_segment *seg)
{
	uint64_t size = 0;
	if (segment_file_size(p, seg, &size) != 0 || size == 0)
		return false;
	atomic_store(&seg->size, size);
	rill_scan scan;
	if (rill__segment_scan(p->env, seg, 0, seg->base_offset, size, p->partition_key, NULL, 0, &scan) != 0)
		return false;
	return scan.batches > 0;
}

/* Recover (or, read-only, find the end of) segments [first, count) starting
 * at `position` of segment `first`. */
static int recover_tail(rill_partition *p, size_t first, uint64_t position,
                        uint64_t expect_offset, uint64_t synced_position, bool *out_cut)
{
	int rc = 0;
	*out_cut = false;
	for (size_t i = first; i < p->segment_count; i++) {
		rill_segment *seg = p->segments[i];
		uint64_t file_size = 0;
		rc = segment_file_size(p, seg, &file_size);
		if (rc != 0)
			return rc;
		seg->file_size = file_size;
		uint64_t start = i == first ? position : 0;
		if (i != first) {
			if (seg->base_offset != expect_offset) {
				/* A later segment whose name does not continue the offsets. */
				/* Under os and interval a roll does not sync, so a torn
				 * older segment may precede a surviving newer one. */
				if (p->config.durability == RILL_DURABILITY_APPEND && segment_starts_valid(p, seg) &&
				    !p->env->repair)
					return rill__error(RILL_ECORRUPT,
					                   "partition %s: segment %020" PRIu64 " does not continue the log at offset %" PRIu64,
					                   p->dir, seg->base_offset, expect_offset);
				goto drop_rest;
			}
			rill__index_free(&seg->index);
		}
		if (start > file_size) {
			/* The checkpoint points past the file: the file lost synced
			 * data, which only corruption or tampering explains. */
			if (!p->env->repair)
				return rill__error(RILL_ECORRUPT,
				                   "partition %s segment %020" PRIu64 ": recovery point position %" PRIu64 " is past the file end %" PRIu64,
				                   p->dir, seg->base_offset, start, file_size);
			start = 0;
			expect_offset = seg->base_offset;
			rill__index_free(&seg->index);
		}
		seg->index.loaded = true;
		rill__index_truncate(&seg->index, start);
		seg->index.bytes_since_entry = start;
		if (seg->index.count > 0) {
			uint32_t last = seg->index.count - 1;
			uint32_t last_pos = rill__get_u32(seg->index.offsets + (size_t)last * RILL_OFFSET_INDEX_ENTRY + 4);
			seg->index.bytes_since_entry = start - last_pos;
		}
		rill_scan scan;
		rc = rill__segment_scan(p->env, seg, start, expect_offset, file_size, p->partition_key,
		                        &seg->index, (uint64_t)p->config.index_interval_bytes, &scan);
		if (rc != 0)
			return rc;
		p->recovered_bytes_scanned += scan.valid_end - start;
		atomic_store(&seg->size, scan.valid_end);
		atomic_store(&seg->synced_size, scan.valid_end);
		seg->next_offset = scan.next_offset;
		if (scan.max_timestamp > seg->max_timestamp)
			seg->max_timestamp = scan.max_timestamp;
		if (start == 0)
			seg->first_timestamp = scan.first_timestamp;
		expect_offset = scan.next_offset;
		if (i == first && scan.valid_end < synced_position && scan.valid_end == file_size && !p->env->repair) {
			/* The file ends below the recovery point (it was cut, or lost
			 * its tail): synced, acknowledged data is gone. */
			return rill__error(RILL_ECORRUPT,
			                   "partition %s segment %020" PRIu64 " offset %" PRIu64 ": the file ends at position %" PRIu64
			                   ", below the recovery point at position %" PRIu64 " (synced data lost)",
			                   p->dir, seg->base_offset, scan.next_offset, file_size, synced_position);
		}
		if (scan.valid_end < file_size && i == first && scan.valid_end < synced_position &&
		    !p->env->repair) {
			/* Below the recovery point everything was synced: a bad
			 * batch there is corruption of acknowledged data. */
			return rill__error(RILL_ECORRUPT,
			                   "partition %s segment %020" PRIu64 " offset %" PRIu64 " position %" PRIu64 ": %s (below the recovery point)",
			                   p->dir, seg->base_offset, scan.next_offset, scan.valid_end, scan.stop_reason);
		}
		if (scan.valid_end < file_size) {
			/* Is there valid data after the stop point? In a later
			 * segment: that segment's roll synced this one, so this is
			 * corruption of acknowledged data. */
			/* Only under durability=append does every roll sync the old
			 * segment; under os and interval a torn older segment may
			 * legitimately precede a surviving newer one. */
			if (i + 1 < p->segment_count && p->config.durability == RILL_DURABILITY_APPEND &&
			    segment_starts_valid(p, p->segments[i + 1]) && !p->env->repair) {
				return rill__error(RILL_ECORRUPT,
				                   "partition %s segment %020" PRIu64 " offset %" PRIu64 " position %" PRIu64 ": %s (valid segments follow)",
				                   p->dir, seg->base_offset, scan.next_offset, scan.valid_end, scan.stop_reason);
			}
			bool zeros_only = strstr(scan.stop_reason, "magic 0") != NULL ||
			                  strstr(scan.stop_reason, "length 0") != NULL;
			if (!zeros_only || !p->env->readonly) {
				rc = cut_segment(p, seg, scan.valid_end, file_size, zeros_only);
				if (rc != 0)
					return rc;
				*out_cut = *out_cut || !zeros_only;
			}
			seg->file_size = scan.valid_end;
			if (p->env->readonly)
				seg->file_size = file_size;
			i++;
			goto drop_rest;
		}
		continue;
	drop_rest:
		/* Segments after the cut hold nothing acknowledged. */
		if (i > 0) {
			rc = drop_newest_segments(p, i, "after the torn tail");
			if (rc != 0)
				return rc;
		}
		break;
	}
	if (!p->env->readonly) {
		rc = rill__sync_dir(p->env->io, p->dir);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* See the caller in load_partition. *out_ok says whether `position` of
 * `seg` is the boundary where offset `offset` starts. */
static int walk_to_point(rill_partition *p, rill_segment *seg, uint64_t file_size, uint64_t position,
                         uint64_t offset, bool use_index, bool *out_ok, bool *out_bad_data);

static int check_recovery_point(rill_partition *p, rill_segment *seg, uint64_t file_size,
                                uint64_t position, uint64_t offset, bool *out_ok)
{
	*out_ok = false;
	if (position > file_size) {
		/* The file lost synced bytes: recover_tail reports that. */
		*out_ok = true;
		return 0;
	}
	if (offset < seg->base_offset)
		return 0;
	bool bad_data = false;
	int rc = walk_to_point(p, seg, file_size, position, offset, true, out_ok, &bad_data);
	if (rc == 0 && !*out_ok && seg->index.loaded) {
		/* Maybe only the index entry was wrong: walk from the start. */
		rc = walk_to_point(p, seg, file_size, position, offset, false, out_ok, &bad_data);
	}
	if (rc == 0 && bad_data && !p->env->repair)
		rc = RILL_ECORRUPT; /* message set by the walk */
	return rc;
}

static int walk_to_point(rill_partition *p, rill_segment *seg, uint64_t file_size, uint64_t position,
                         uint64_t offset, bool use_index, bool *out_ok, bool *out_bad_data)
{
	*out_ok = false;
	*out_bad_data = false;
	uint64_t pos = 0, expect = seg->base_offset;
	if (use_index && seg->index.loaded && offset - seg->base_offset <= UINT32_MAX) {
		uint32_t rel = 0;
		uint64_t entry = rill__index_lookup_offset_entry(&seg->index, (uint32_t)(offset - seg->base_offset), &rel);
		if (entry <= position) {
			pos = entry;
			expect = seg->base_offset + rel;
		}
	}
	int rc = rill__segment_pin(p->env, seg, true);
	if (rc != 0)
		return rc;
	uint8_t *scratch = NULL;
	size_t scratch_cap = 0;
	while (rc == 0 && pos < position) {
		const uint8_t *bytes = NULL;
		rill_batch_header h;
		const char *why = NULL;
		if (file_size - pos < RILL_BATCH_HEADER_SIZE) {
			why = "partial batch header";
		} else {
			rc = rill__segment_bytes(p->env, seg, pos, RILL_BATCH_HEADER_SIZE, &scratch, &scratch_cap, &bytes);
			if (rc != 0)
				break;
			if (rill__batch_parse_header(bytes, RILL_BATCH_HEADER_SIZE, file_size - pos, &h) != 0) {
				why = "bad batch header";
			} else {
				uint64_t total = rill__batch_total_size(&h);
				rc = rill__segment_bytes(p->env, seg, pos, (size_t)total, &scratch, &scratch_cap, &bytes);
				if (rc != 0)
					break;
				if (rill__batch_verify(bytes, (size_t)total, p->partition_key) != 0)
					why = "checksum mismatch";
				else if (h.base_offset != expect)
					break; /* the index entry was wrong: not a verdict on data */
				else {
					pos += total;
					expect = h.base_offset + h.last_offset_delta + 1;
				}
			}
		}
		if (why != NULL) {
			/* From the segment start every batch below the point was
			 * synced: a bad one is corruption. From an index entry it
			 * may be the entry that is wrong; the caller retries. */
			if (!use_index || pos == 0) {
				*out_bad_data = true;
				rill__error(RILL_ECORRUPT,
				            "partition %s segment %020" PRIu64 " position %" PRIu64 " offset %" PRIu64
				            ": %s below the recovery point",
				            p->dir, seg->base_offset, pos, expect, why);
			}
			break;
		}
	}
	rill__segment_unpin(p->env, seg);
	rill__free(scratch);
	if (rc == 0)
		*out_ok = pos == position && expect == offset;
	return rc;
}

static int load_partition(rill_partition *p, bool clean)
{
	rill_env *env = p->env;
	dir_listing listing = {p, NULL, 0, 0, 0};
	int rc = 0;
	int err = env->io->list_dir(env->io->ctx, p->dir, list_entry, &listing);
	if (err == 1) {
		rc = listing.rc;
		goto out;
	}
	if (err != 0) {
		rc = rill__io_error(err, "list", p->dir);
		goto out;
	}
	if (listing.count > 0)
		qsort(listing.bases, listing.count, sizeof(uint64_t), compare_u64);

	checkpoint cp = {0, 0, 0, 0};
	rc = checkpoint_read(p, &cp);
	bool have_cp = rc == 0;
	bool cp_missing = rc == RILL_ENOTFOUND;
	if (cp_missing && listing.count > 0 && listing.bases[0] == 0) {
		/* A partition that has not written a checkpoint yet: a new one
		 * writes none until it has something to say (a synced roll,
		 * maintenance, close, a move of the log start, which always
		 * writes one before deleting segment 0). No file with segment 0
		 * there means {log start 0, recovery point offset 0 at position
		 * 0}, what its first checkpoint used to say: recovery scans the
		 * whole log, and a clean open of an empty one scans nothing. */
		have_cp = true;
		rc = 0;
		note_checkpoint_on_disk(p, &cp);
	}
	if (rc == RILL_ECORRUPT || (rc == RILL_ENOTFOUND && listing.count > 0)) {
		rill__log(&env->logger, RILL_LOG_WARN, "partition %s: %s; scanning the whole log",
		          p->dir, rill_errmsg());
		clean = false;
		rc = 0;
	} else if (rc == RILL_ENOTFOUND) {
		rc = 0;
	} else if (rc != 0) {
		goto out;
	}
	if (!have_cp) {
		cp.log_start = listing.count > 0 ? listing.bases[0] : 0;
		cp.recovery = cp.segment = cp.log_start;
		cp.position = 0;
	}

	/* Segments wholly below the log start were being deleted by retention
	 * when the process stopped: finish the job, oldest first. */
	size_t skip = 0;
	while (skip + 1 < listing.count && listing.bases[skip + 1] <= cp.log_start) {
		if (!env->readonly) {
			rc = delete_segment_files(p, listing.bases[skip]);
			if (rc != 0)
				goto out;
		}
		skip++;
	}
	if (listing.count > skip && listing.bases[skip] > cp.log_start) {
		/* Log start below the first segment: the segment files are
		 * authoritative; the start moves up (never below what exists). */
		cp.log_start = listing.bases[skip];
	}
	if (listing.count == skip) {
		/* An empty partition: its first segment. */
		if (env->readonly) {
			/* The writer always keeps one: files were removed behind
			 * its back. Not RILL_ENOTFOUND, which the topic loader
			 * reads as "not a topic" and would hide the whole topic. */
			rc = rill__error(RILL_ECORRUPT,
			                 "partition %s has no segment file; a read-write open recreates an empty one at the log start",
			                 p->dir);
			goto out;
		}
		bool no_index = false;
		rc = create_segment_file(p, cp.log_start, &no_index);
		if (rc != 0)
			goto out;
		rill_segment *seg = rill__segment_new(p, cp.log_start, index_entries_max(&p->config));
		if (seg == NULL) {
			rc = rill__error(RILL_ENOMEM, "cannot allocate a segment");
			goto out;
		}
		seg->map_capacity = map_capacity(&p->config);
		seg->index.loaded = true;
		/* No index files yet: the first persist writes them once there
		 * are entries, never an empty pair (two fdatasyncs a segment,
		 * paid by every partition of a new topic at its first close). */
		seg->index.files_empty = no_index;
		reserve_active_index(&p->config, seg);
		rc = push_segment(p, seg);
		if (rc != 0) {
			rill__segment_unref(env, seg);
			goto out;
		}
		p->log_start = cp.log_start;
		atomic_store(&p->next_offset, cp.log_start);
		atomic_store(&p->durable, cp.log_start);
		cp.recovery = cp.segment = cp.log_start;
		cp.position = 0;
		if (cp_missing && cp.log_start == 0) {
			/* A new partition: no checkpoint file says the same as this
			 * one (read so above), so none is written until there is
			 * something to say. Saves an fdatasync, a rename and a
			 * directory fsync per partition of a new topic. */
			note_checkpoint_on_disk(p, &cp);
			goto out;
		}
		rc = checkpoint_write(p, &cp);
		goto out;
	}
	for (size_t i = skip; i < listing.count; i++) {
		rill_segment *seg = rill__segment_new(p, listing.bases[i], index_entries_max(&p->config));
		if (seg == NULL) {
			rc = rill__error(RILL_ENOMEM, "cannot allocate a segment");
			goto out;
		}
		seg->map_capacity = map_capacity(&p->config);
		rc = push_segment(p, seg);
		if (rc != 0) {
			rill__segment_unref(env, seg);
			goto out;
		}
	}
	p->log_start = cp.log_start;

	/* Which segment holds the recovery point? */
	size_t rec = 0;
	bool cp_usable = have_cp;
	if (cp_usable) {
		bool found = false;
		for (size_t i = 0; i < p->segment_count; i++) {
			if (p->segments[i]->base_offset == cp.segment) {
				rec = i;
				found = true;
			}
		}
		/* Position 0 of a segment is its base offset, and only there: a
		 * checkpoint saying otherwise would have recovery scan an empty
		 * range yet set the log end to its recovery offset. */
		if (!found || cp.recovery < cp.segment || (cp.position == 0) != (cp.recovery == cp.segment)) {
			rill__log(&env->logger, RILL_LOG_WARN,
			          "partition %s: checkpoint names segment %020" PRIu64 " which is not there or does not match it; scanning the whole log",
			          p->dir, cp.segment);
			cp_usable = false;
			clean = false;
		}
	}
	if (!cp_usable) {
		rec = 0;
		cp.segment = p->segments[0]->base_offset;
		cp.recovery = cp.segment;
		cp.position = 0;
	}

	/* Sealed segments below the recovery segment: trusted, not scanned. */
	for (size_t i = 0; i < rec; i++) {
		rill_segment *seg = p->segments[i];
		uint64_t size = 0;
		rc = segment_file_size(p, seg, &size);
		if (rc != 0)
			goto out;
		atomic_store(&seg->size, size);
		atomic_store(&seg->synced_size, size);
		seg->file_size = size;
		seg->next_offset = p->segments[i + 1]->base_offset;
		atomic_store(&seg->sealed, true);
		read_sealed_max_timestamp(p, seg);
	}

	rill_segment *rseg = p->segments[rec];
	bool last_is_rec = rec + 1 == p->segment_count;
	uint64_t rsize = 0;
	rc = segment_file_size(p, rseg, &rsize);
	if (rc != 0)
		goto out;
	if (clean && cp_usable && last_is_rec && rsize == cp.position && !env->readonly) {
		/* Clean shutdown: the checkpoint is the end. Scan nothing. */
		atomic_store(&rseg->size, rsize);
		atomic_store(&rseg->synced_size, rsize);
		rseg->file_size = rsize;
		rseg->next_offset = cp.recovery;
		rc = rill__index_load(env, rseg, (uint64_t)p->config.index_interval_bytes);
		if (rc != 0)
			goto out;
		rseg->max_timestamp = rseg->index.running_max_ts;
		if (rseg->index.count > 0) {
			uint32_t last = rseg->index.count - 1;
			uint32_t pos = rill__get_u32(rseg->index.offsets + (size_t)last * RILL_OFFSET_INDEX_ENTRY + 4);
			rseg->index.bytes_since_entry = rsize - pos;
		} else {
			rseg->index.bytes_since_entry = rsize;
		}
		rseg->last_batch_pos = 0;
		rseg->last_batch_base = rseg->base_offset;
		if (rsize > 0) {
			/* The last batch's position is needed to seal; find it from the
			 * last index entry with a short scan (bounded by the interval). */
			uint32_t start_rel = 0;
			uint32_t start = rill__index_lookup_time(&rseg->index, INT64_MAX, &start_rel);
			rill_scan scan;
			rc = rill__segment_scan(env, rseg, start, rseg->base_offset + start_rel, rsize,
			                        p->partition_key, NULL, 0, &scan);
			if (rc != 0)
				goto out;
			if (scan.valid_end != rsize || scan.next_offset != cp.recovery) {
				/* The checkpoint and the log disagree: recover properly. */
				rill__log(&env->logger, RILL_LOG_WARN,
				          "partition %s: log end does not match the checkpoint; recovering", p->dir);
				clean = false;
			} else {
				if (scan.max_timestamp > rseg->max_timestamp)
					rseg->max_timestamp = scan.max_timestamp;
				if (rseg->index.running_max_ts < rseg->max_timestamp)
					rseg->index.running_max_ts = rseg->max_timestamp;
			}
		}
		if (clean) {
			rseg->file_size = rsize;
			/* A clean shutdown synced this checkpoint before its
			 * marker: it is the file on stable storage. */
			p->checkpoint_log_start = cp.log_start;
			p->checkpoint_recovery = cp.recovery;
			p->checkpoint_segment = cp.segment;
			p->checkpoint_position = cp.position;
			p->checkpoint_known = true;
			goto loaded;
		}
	}
	{
		/* Unclean (or read-only): trust the recovery segment's index below
		 * the recovery point, then validate everything after it. */
		/* Check the index against the file as it is (entries past the
		 * recovery point are dropped by recover_tail, not a reason to
		 * rebuild everything below it). */
		atomic_store(&rseg->size, rsize);
		rseg->next_offset = rseg->base_offset;
		uint64_t synced_position = cp_usable ? cp.position : 0;
		if (cp.position > 0) {
			rc = rill__index_load_files(env, rseg);
			if (rc == RILL_ECORRUPT) {
				/* A bad index is a hint gone wrong, not lost data:
				 * rebuild it by scanning this segment from its start. */
				rill__index_free(&rseg->index);
				cp.position = 0;
				cp.recovery = rseg->base_offset;
				rc = 0;
			} else if (rc != 0) {
				goto out;
			}
		}
		/* Whatever the index files' length says now (here or at the clean
		 * path's load) may not be on stable storage after an unclean stop:
		 * cut them at the next persist. */
		rseg->index.files_empty = false;
		if (cp.position > 0) {
			/* The recovery point must be a batch boundary holding offset
			 * cp.recovery: walk there from the nearest index entry (at
			 * most one index interval). A batch that fails on the way is
			 * synced data gone bad; a walk that misses the point means
			 * the checkpoint itself is wrong (distrusted: full scan). */
			bool point_ok = false;
			rc = check_recovery_point(p, rseg, rsize, cp.position, cp.recovery, &point_ok);
			if (rc != 0)
				goto out;
			if (!point_ok) {
				rill__log(&env->logger, RILL_LOG_WARN,
				          "partition %s: checkpoint position %" PRIu64 " is not the boundary of offset %" PRIu64
				          "; scanning segment %020" PRIu64 " from its start",
				          p->dir, cp.position, cp.recovery, rseg->base_offset);
				rill__index_free(&rseg->index);
				cp.position = 0;
				cp.recovery = rseg->base_offset;
				synced_position = 0;
			}
		}
		bool cut = false;
		rc = recover_tail(p, rec, cp.position, cp.recovery, synced_position, &cut);
		if (rc != 0)
			goto out;
		if (!env->readonly) {
			/* R9: sync what recovery is about to trust, then move the
			 * recovery point past it (R10). */
			for (size_t i = rec; i < p->segment_count; i++) {
				rill_segment *seg = p->segments[i];
				rc = rill__segment_pin(env, seg, false);
				if (rc != 0)
					goto out;
				int e = env->io->fdatasync(env->io->ctx, seg->fd);
				rill__segment_unpin(env, seg);
				if (e != 0) {
					char path[RILL_PATH_MAX];
					rill__segment_path(path, sizeof(path), p->dir, seg->base_offset, ".log");
					rc = rill__io_error(e, "fdatasync", path);
					goto out;
				}
			}
		}
		for (size_t i = rec; i + 1 < p->segment_count; i++) {
			rill_segment *seg = p->segments[i];
			atomic_store(&seg->sealed, true);
			/* As at a roll (a scan adds entries only every
			 * index.interval.bytes). */
			rc = rill__index_add_last_batch(seg, seg->max_timestamp);
			if (rc != 0)
				goto out;
			if (!env->readonly) {
				rc = rill__index_persist(env, p->segments[i]);
				if (rc != 0)
					goto out;
			}
		}
		rill__log(&env->logger, RILL_LOG_INFO,
		          "partition %s recovered: scanned %" PRIu64 " bytes, cut %" PRIu64 " bytes, log end %" PRIu64,
		          p->dir, p->recovered_bytes_scanned, p->recovered_bytes_cut,
		          active_segment(p)->next_offset);
	}
loaded:
	{
		/* Timestamps for stats and retention that a clean open did not
		 * scan for: the first batch's header, the index's running max. */
		rill_segment *first = p->segments[0];
		if (first->first_timestamp < 0 && atomic_load(&first->size) >= RILL_BATCH_HEADER_SIZE &&
		    rill__segment_pin(env, first, false) == 0) {
			uint8_t header[RILL_BATCH_HEADER_SIZE];
			size_t done = 0;
			rill_batch_header h;
			if (env->io->pread(env->io->ctx, first->fd, header, sizeof(header), 0, &done) == 0 &&
			    done == sizeof(header) &&
			    rill__batch_parse_header(header, sizeof(header), atomic_load(&first->size), &h) == 0)
				first->first_timestamp = h.first_timestamp;
			rill__segment_unpin(env, first);
			rill__error_clear();
		}
		for (size_t i = 0; i < p->segment_count; i++) {
			rill_segment *seg = p->segments[i];
			if (seg->index.loaded && seg->index.running_max_ts > seg->max_timestamp)
				seg->max_timestamp = seg->index.running_max_ts;
		}
		rill_segment *active = active_segment(p);
		if (!env->readonly)
			reserve_active_index(&p->config, active);
		atomic_store(&p->next_offset, active->next_offset);
		atomic_store(&p->durable, active->next_offset);
		p->durable_segment = active->base_offset;
		p->durable_position = atomic_load(&active->size);
		if (p->log_start > active->next_offset)
			p->log_start = active->next_offset;
		active->index.loaded = true;
		active->prealloc_end = active->file_size;
		if (active->created_ms < 0)
			active->created_ms = active->first_timestamp >= 0 ? now_ms(p) : -1;
		if (!env->readonly) {
			rc = checkpoint_now(p);
			if (rc != 0)
				goto out;
		}
	}
out:
	rill__free(listing.bases);
	return rc;
}

static void partition_free(rill_partition *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->segment_count; i++)
		rill__segment_unref(p->env, p->segments[i]);
	rill__free(p->segments);
	rill__free(p->event_fds);
	rill__batch_decoder_free(atomic_load(&p->spare_decoder));
	rill__free(p->dir);
	rill__free(p->topic_name);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->sync_cond);
	pthread_cond_destroy(&p->gather_cond);
	pthread_cond_destroy(&p->data_cond);
	rill__free(p);
}

int rill__partition_open(rill_partition **out, rill_env *env, const char *dir,
                         const char *topic, int32_t number,
                         const rill_config *config, bool clean)
{
	*out = NULL;
	rill_partition *p = rill__calloc(1, sizeof(*p));
	if (p == NULL)
		return rill__error(RILL_ENOMEM, "cannot allocate partition %s", dir);
	p->env = env;
	p->number = number;
	p->config = *config;
	p->dir = rill__strdup(dir);
	p->topic_name = rill__strdup(topic);
	if (p->dir == NULL || p->topic_name == NULL) {
		rill__free(p->dir);
		rill__free(p->topic_name);
		rill__free(p);
		return rill__error(RILL_ENOMEM, "cannot allocate partition %s", dir);
	}
	p->partition_key = rill__partition_key(topic, number);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->sync_cond, NULL);
	pthread_condattr_t monotonic;
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&p->gather_cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_cond_init(&p->data_cond, NULL);
	p->last_sync_ms = env->io->now_ms(env->io->ctx);
	int rc = load_partition(p, clean);
	if (rc == 0 && !env->readonly)
		rc = apply_failed_marker(p);
	if (rc != 0) {
		partition_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void rill__partition_set_config(rill_partition *p, const rill_config *config)
{
	pthread_mutex_lock(&p->lock);
	/* Entering durability=append: first make everything durable, so the
	 * rule "a roll syncs the old segment" holds for the whole log. */
	if (config->durability == RILL_DURABILITY_APPEND && p->config.durability != RILL_DURABILITY_APPEND &&
	    !p->env->readonly && !atomic_load(&p->failed))
		sync_active_locked(p);
	p->config = *config;
	pthread_mutex_unlock(&p->lock);
}

/* ================================================================= rolling */

static bool should_roll(rill_partition *p, rill_segment *seg, size_t batch_size,
                        uint32_t record_count, int64_t now)
{
	uint64_t size = atomic_load(&seg->size);
	if (size == 0)
		return false;
	if (size + batch_size > (uint64_t)p->config.segment_bytes)
		return true;
	if (size + batch_size > UINT32_MAX)
		return true;
	if (seg->next_offset - seg->base_offset + record_count > UINT32_MAX)
		return true;
	if (seg->index.count + 1 >= seg->index.max_entries)
		return true;
	if (seg->created_ms >= 0 && now - seg->created_ms >= p->config.segment_ms)
		return true;
	return false;
}

/* Count a successful fdatasync and its latency in the stats. */
static void note_fsync(rill_partition *p, int64_t ns)
{
	atomic_fetch_add(&p->fsyncs, 1);
	atomic_fetch_add(&p->fsync_ns_total, (uint64_t)ns);
	if ((uint64_t)ns > atomic_load(&p->fsync_ns_max))
		atomic_store(&p->fsync_ns_max, (uint64_t)ns);
}

/* fdatasync one segment through its own descriptor (R9), counting it in
 * the stats; a failure fails the partition (R8). Lock held. */
static int sync_segment_locked(rill_partition *p, rill_segment *seg)
{
	int rc = rill__segment_pin(p->env, seg, false);
	if (rc != 0)
		return rc;
	int64_t t0 = p->env->io->monotonic_ns(p->env->io->ctx);
	int err = p->env->io->fdatasync(p->env->io->ctx, seg->fd);
	int64_t ns = p->env->io->monotonic_ns(p->env->io->ctx) - t0;
	rill__segment_unpin(p->env, seg);
	if (err != 0) {
		char path[RILL_PATH_MAX];
		rill__segment_path(path, sizeof(path), p->dir, seg->base_offset, ".log");
		rc = rill__io_error(err, "fdatasync", path);
		fail_partition(p, rill_errmsg());
		return rc;
	}
	note_fsync(p, ns);
	return check_failed(p, "failed: a write of its data failed when its descriptor was closed");
}

/* Sync sealed segments that a roll left unsynced (durability os and
 * interval roll without a sync, so the OS decides when to write them),
 * then persist their indexes. Lock held. */
static int sync_sealed_locked(rill_partition *p)
{
	if (!p->sealed_unsynced)
		return 0;
	for (size_t i = 0; i + 1 < p->segment_count; i++) {
		rill_segment *seg = p->segments[i];
		uint64_t size = atomic_load(&seg->size);
		if (atomic_load(&seg->synced_size) < size) {
			int rc = sync_segment_locked(p, seg);
			if (rc != 0)
				return rc;
			atomic_store(&seg->synced_size, size);
		}
		/* Also when a close synced it (the file cache syncs without a
		 * write-back table, but never writes indexes): else its index
		 * stayed unwritten and the next open rebuilt it. */
		int rc = rill__index_persist(p->env, seg);
		if (rc != 0) {
			fail_partition(p, rill_errmsg());
			return rc;
		}
	}
	p->sealed_unsynced = false;
	return 0;
}

/* Sync everything now, under the lock (roll, close, maintenance). */
static int sync_active_locked(rill_partition *p)
{
	int rc = sync_sealed_locked(p);
	if (rc != 0)
		return rc;
	rill_segment *seg = active_segment(p);
	uint64_t end = atomic_load(&p->next_offset);
	uint64_t size = atomic_load(&seg->size);
	if (atomic_load(&p->durable) >= end && atomic_load(&seg->synced_size) >= size)
		return 0;
	rc = sync_segment_locked(p, seg);
	if (rc != 0)
		return rc;
	if (atomic_load(&seg->synced_size) < size)
		atomic_store(&seg->synced_size, size);
	if (atomic_load(&p->durable) < end) {
		atomic_store(&p->durable, end);
		p->durable_segment = seg->base_offset;
		p->durable_position = size;
	}
	p->unsynced_records = 0;
	p->last_sync_ms = now_ms(p);
	pthread_cond_broadcast(&p->sync_cond);
	return 0;
}

/* Trim preallocated zeros past the last batch (seal, close). */
static int trim_preallocation(rill_partition *p, rill_segment *seg)
{
	uint64_t size = atomic_load(&seg->size);
	if (seg->file_size <= size)
		return 0;
	int rc = rill__segment_pin(p->env, seg, false);
	if (rc != 0)
		return rc;
	int err = p->env->io->ftruncate(p->env->io->ctx, seg->fd, size);
	/* The new size must be durable before a checkpoint trusts the sealed
	 * segment's file size: the caller's sync is skipped when no data is
	 * pending, and an unsynced trim lost to a power loss brings the
	 * zeros back inside a segment that is never scanned again. */
	const char *what = "truncate";
	if (err == 0) {
		err = p->env->io->fdatasync(p->env->io->ctx, seg->fd);
		what = "fdatasync";
	}
	rill__segment_unpin(p->env, seg);
	if (err != 0) {
		char path[RILL_PATH_MAX];
		rill__segment_path(path, sizeof(path), p->dir, seg->base_offset, ".log");
		return rill__io_error(err, what, path);
	}
	seg->file_size = size;
	seg->prealloc_end = size;
	return 0;
}

static int roll(rill_partition *p)
{
	rill_segment *old = active_segment(p);
	uint64_t base = atomic_load(&p->next_offset);
	/* Under durability=append the old segment is complete and synced
	 * before the new one takes a byte: a bad batch followed by a valid
	 * later segment is then corruption, and each roll moves the recovery
	 * point. Under os and interval nothing asks for durability at a roll,
	 * so the sync is left to the next sync point (which covers sealed
	 * segments too) and the append does not wait for the writeback. */
	bool synced_roll = p->config.durability == RILL_DURABILITY_APPEND;
	/* Preallocated zeros never stay inside a sealed segment, whatever the
	 * durability: a segment preallocated under append and rolled after an
	 * alter to os or interval kept them, and readers of the sealed segment
	 * met them as corruption. Without preallocation this does nothing, so
	 * os and interval rolls stay free of syncs. */
	int rc = trim_preallocation(p, old);
	if (rc == 0 && synced_roll)
		rc = sync_active_locked(p);
	if (rc != 0)
		goto fail;
	/* 2. Its index gets the last batch and goes to disk (synced data). */
	rc = rill__index_add_last_batch(old, old->max_timestamp);
	if (rc != 0)
		goto fail;
	if (synced_roll) {
		rc = rill__index_persist(p->env, old);
		if (rc != 0)
			goto fail;
	}
	/* 3. The new segment file exists durably (R2). */
	bool no_index = false;
	rc = create_segment_file(p, base, &no_index);
	if (rc != 0)
		goto fail;
	rill_segment *seg = rill__segment_new(p, base, index_entries_max(&p->config));
	if (seg == NULL) {
		rc = rill__error(RILL_ENOMEM, "cannot allocate a segment");
		goto fail;
	}
	seg->map_capacity = map_capacity(&p->config);
	seg->index.loaded = true;
	seg->index.files_empty = no_index; /* as at a first open */
	reserve_active_index(&p->config, seg);
	rc = push_segment(p, seg);
	if (rc != 0) {
		rill__segment_unref(p->env, seg);
		goto fail;
	}
	atomic_store(&old->sealed, true);
	rill__log(&p->env->logger, RILL_LOG_INFO, "partition %s: rolled segment %020" PRIu64 " at offset %" PRIu64,
	          p->dir, old->base_offset, base);
	/* 4. The recovery point moves to the new segment (everything below
	 *    is synced and indexed). */
	if (synced_roll) {
		rc = checkpoint_now(p);
		if (rc != 0)
			goto fail;
	} else {
		p->sealed_unsynced = true;
	}
	return 0;
fail:
	fail_partition(p, rill_errmsg());
	return rc;
}

/* ===================================================== append, group commit */

/* Zero-fill ahead so per-append fdatasyncs do not also commit a size
 * change (a file that does not grow syncs about 1.5x faster). */
static int preallocate(rill_partition *p, rill_segment *seg, uint64_t need_end)
{
	static const uint8_t zeros[65536];
	/* Batches written while preallocation was off (durability os or
	 * interval until an alter made it append, or preallocate altered to
	 * true) lie past prealloc_end: the zero-fill, and the cut-back on its
	 * failure, start at the end of the file, never over written data. */
	if (seg->prealloc_end < seg->file_size)
		seg->prealloc_end = seg->file_size;
	if (need_end <= seg->prealloc_end)
		return 0;
	uint64_t limit = (uint64_t)p->config.segment_bytes;
	uint64_t end = seg->prealloc_end + PREALLOC_CHUNK;
	if (end > limit)
		end = limit;
	if (end < need_end)
		return 0; /* the batch passes the segment's planned size: just grow */
	for (uint64_t pos = seg->prealloc_end; pos < end;) {
		size_t n = end - pos > sizeof(zeros) ? sizeof(zeros) : (size_t)(end - pos);
		int rc = rill__segment_write(p->env, seg, zeros, n, pos);
		if (rc != 0) {
			/* Cut the partial zero-fill back; zeros are not data, so the
			 * log is unchanged either way. */
			p->env->io->ftruncate(p->env->io->ctx, seg->fd, seg->prealloc_end);
			return rc;
		}
		pos += n;
	}
	seg->prealloc_end = end;
	if (end > seg->file_size)
		seg->file_size = end;
	return 0;
}

static void notify_readers(rill_partition *p)
{
	if (p->waiters > 0)
		pthread_cond_broadcast(&p->data_cond);
	for (size_t i = 0; i < p->event_fd_count; i++) {
		uint64_t one = 1;
		ssize_t n = write(p->event_fds[i], &one, sizeof(one));
		(void)n; /* a full eventfd counter is still readable: fine */
	}
}

/* Longest a leader waits for the rest of its group, and the share of the
 * last fdatasync's duration it may spend waiting. */
#define GATHER_WAIT_MAX_NS INT64_C(500000)
#define GATHER_WAIT_SHARE 2 /* at most half the last fdatasync */

/*
 * Group commit, the leader's wait: when the last sync was shared by
 * several threads, the leader waits until as many have written and are
 * waiting again (or a bounded time passes) before it syncs. Without the
 * wait a sync covers only the threads that wrote while the previous one
 * ran, about half of them: the threads it released are still on their way
 * back. A lone producer (group of one) never waits, so its latency is
 * that of fdatasync alone; a group that shrinks costs one bounded wait
 * (at most half the last fdatasync), after which group_expect has
 * shrunk to what came. Lock held; p->syncing set.
 */
static void gather_group(rill_partition *p)
{
	int expect = p->group_expect;
	if (expect <= 1 || p->sync_arrived >= expect)
		return;
	int64_t wait_ns = p->last_fsync_ns / GATHER_WAIT_SHARE;
	if (wait_ns > GATHER_WAIT_MAX_NS)
		wait_ns = GATHER_WAIT_MAX_NS;
	if (wait_ns <= 0)
		return;
	/* A real-time wait, not the I/O table's clock: this is a scheduling
	 * heuristic and changes nothing on disk. */
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += (long)wait_ns;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	p->gathering = true;
	while (p->sync_arrived < expect && !p->closing && !atomic_load(&p->failed)) {
		if (pthread_cond_timedwait(&p->gather_cond, &p->lock, &deadline) == ETIMEDOUT) {
			p->group_expect = p->sync_arrived; /* the group shrank */
			break;
		}
	}
	p->gathering = false;
}

/* sync_to's loop; the caller has counted itself in sync_arrived. */
static int sync_to_waiting(rill_partition *p, uint64_t target)
{
	while (atomic_load(&p->durable) < target) {
		int rc = check_failed(p, "failed earlier");
		if (rc != 0)
			return rc;
		if (p->syncing) {
			pthread_cond_wait(&p->sync_cond, &p->lock);
			continue;
		}
		p->syncing = true;
		gather_group(p);
		/* After the wait for the group, which lets go of the lock: a
		 * roll meanwhile (os and interval rolls do not sync) may have
		 * sealed the segment this group wrote to. Its bytes are synced
		 * first, else the sync below would move the durable end past
		 * them. */
		if (p->sealed_unsynced) {
			rc = sync_sealed_locked(p);
			if (rc != 0) {
				p->syncing = false;
				pthread_cond_broadcast(&p->sync_cond);
				return rc;
			}
		}
		rill_segment *seg = active_segment(p);
		uint64_t snapshot_end = atomic_load(&p->next_offset);
		/* Everyone who arrived so far wrote before the snapshot: this
		 * sync covers them; later arrivals are the next group. */
		int covered = p->sync_arrived;
		p->sync_arrived = 0;
		uint64_t snapshot_size = atomic_load(&seg->size);
		rc = rill__segment_pin(p->env, seg, false);
		if (rc != 0) {
			p->syncing = false;
			pthread_cond_broadcast(&p->sync_cond);
			return rc;
		}
		int fd = seg->fd;
		pthread_mutex_unlock(&p->lock);
		int64_t t0 = p->env->io->monotonic_ns(p->env->io->ctx);
		int err = p->env->io->fdatasync(p->env->io->ctx, fd);
		int64_t ns = p->env->io->monotonic_ns(p->env->io->ctx) - t0;
		pthread_mutex_lock(&p->lock);
		rill__segment_unpin(p->env, seg);
		p->syncing = false;
		if (err != 0) {
			char path[RILL_PATH_MAX];
			rill__segment_path(path, sizeof(path), p->dir, seg->base_offset, ".log");
			rc = rill__io_error(err, "fdatasync", path);
			fail_partition(p, rill_errmsg());
			return rc == RILL_ENOSPC ? rc : RILL_EIO;
		}
		if (atomic_load(&p->failed)) {
			pthread_cond_broadcast(&p->sync_cond);
			return rill__error(RILL_EFAILED, "partition %s failed during the sync", p->dir);
		}
		note_fsync(p, ns);
		p->last_fsync_ns = ns;
		/* The group: the threads this sync covered and those that
		 * arrived while it ran. It only grows here (threads still on
		 * their way back are not counted yet); a gather that times out
		 * shrinks it. */
		if (covered + p->sync_arrived > p->group_expect)
			p->group_expect = covered + p->sync_arrived;
		if (atomic_load(&seg->synced_size) < snapshot_size)
			atomic_store(&seg->synced_size, snapshot_size);
		if (atomic_load(&p->durable) < snapshot_end) {
			atomic_store(&p->durable, snapshot_end);
			p->durable_segment = seg->base_offset;
			p->durable_position = snapshot_size;
		}
		p->unsynced_records = 0;
		p->last_sync_ms = now_ms(p);
		pthread_cond_broadcast(&p->sync_cond);
		/* Keep unclean recovery short: move the recovery point once
		 * enough synced data has built up past it. */
		if (p->durable_segment == active_segment(p)->base_offset &&
		    p->durable_position >= p->checkpoint_position + RECOVERY_CHECKPOINT_BYTES &&
		    p->checkpoint_recovery < snapshot_end) {
			rc = checkpoint_now(p);
			if (rc != 0) {
				fail_partition(p, rill_errmsg());
				return rc;
			}
		}
	}
	return 0;
}

/* Wait until `target` is durable, syncing if nobody else is. Lock held. */
static int sync_to(rill_partition *p, uint64_t target)
{
	if (atomic_load(&p->durable) >= target)
		return 0;
	p->sync_arrived++;
	if (p->gathering)
		pthread_cond_signal(&p->gather_cond);
	return sync_to_waiting(p, target);
}

int rill__partition_append(rill_partition *p, rill_append_batch *b,
                           uint32_t flags, rill_append_info *out)
{
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (p->env->readonly) {
		rc = rill__error(RILL_EREADONLY, "store is read-only");
		goto out;
	}
	rc = check_failed(p, "failed earlier");
	if (rc != 0)
		goto out;
	if (p->closing) {
		rc = rill__error(RILL_ECLOSED, "partition %s is closing", p->dir);
		goto out;
	}
	int64_t now = now_ms(p);
	rill_segment *seg = active_segment(p);
	if (should_roll(p, seg, b->size, b->record_count, now)) {
		rc = roll(p);
		if (rc != 0)
			goto out;
		seg = active_segment(p);
	}
	uint64_t base = atomic_load(&p->next_offset);
	uint64_t position = atomic_load(&seg->size);
	if (base > UINT64_MAX - b->record_count) {
		rc = rill__error(RILL_ERANGE, "partition %s: offsets exhausted", p->dir);
		goto out;
	}
	int64_t stamp = b->log_append_time ? now : INT64_MIN;
	rill__batch_seal(b->data, base, stamp, b->records_hash);
	int64_t batch_max_ts = b->log_append_time ? now : b->max_timestamp;

	rc = rill__segment_pin(p->env, seg, false);
	if (rc != 0)
		goto out;
	if (p->config.preallocate && p->config.durability == RILL_DURABILITY_APPEND) {
		rc = preallocate(p, seg, position + b->size);
		if (rc != 0) {
			rill__segment_unpin(p->env, seg);
			goto out; /* nothing of the batch was written */
		}
	}
	rc = rill__segment_write(p->env, seg, b->data, b->size, position);
	if (rc != 0) {
		/* Cut back to the last good end so nothing half-written remains
		 * (redis aof.c). If that fails too, the tail is unknown: fail. */
		int err;
		if (seg->prealloc_end > position) {
			static const uint8_t zeros[4096];
			err = 0;
			for (uint64_t pos = position; pos < position + b->size && err == 0;) {
				size_t n = position + b->size - pos > sizeof(zeros) ? sizeof(zeros) : (size_t)(position + b->size - pos);
				size_t done = 0;
				err = p->env->io->pwrite(p->env->io->ctx, seg->fd, zeros, n, pos, &done);
				if (err == 0 && done == 0)
					err = -EIO;
				pos += done;
			}
		} else {
			err = p->env->io->ftruncate(p->env->io->ctx, seg->fd, position);
		}
		rill__segment_unpin(p->env, seg);
		if (err != 0 || rc != RILL_ENOSPC)
			fail_partition(p, rill_errmsg());
		goto out;
	}
	if (position + b->size > atomic_load_explicit(&seg->file_size, memory_order_relaxed))
		atomic_store_explicit(&seg->file_size, position + b->size, memory_order_relaxed);
	rill__segment_unpin(p->env, seg);

	/* Index before publishing the new size: a reader that sees the size
	 * can look the batch up. */
	uint64_t interval = (uint64_t)p->config.index_interval_bytes;
	if (interval == 0 || seg->index.bytes_since_entry >= interval) {
		rc = rill__index_add(&seg->index, (uint32_t)(base - seg->base_offset), (uint32_t)position,
		                     batch_max_ts);
		if (rc != 0) {
			/* The batch is written but unindexed: the index is only a
			 * hint, lookups scan a little further. Not an error. */
			rc = 0;
			if (batch_max_ts > seg->index.running_max_ts)
				seg->index.running_max_ts = batch_max_ts;
		}
	} else if (batch_max_ts > seg->index.running_max_ts) {
		seg->index.running_max_ts = batch_max_ts;
	}
	seg->index.bytes_since_entry += b->size;
	if (seg->first_timestamp < 0)
		seg->first_timestamp = b->first_timestamp;
	if (batch_max_ts > seg->max_timestamp)
		seg->max_timestamp = batch_max_ts;
	if (seg->created_ms < 0)
		seg->created_ms = now;
	seg->last_batch_pos = position;
	seg->last_batch_base = base;
	seg->next_offset = base + b->record_count;
	atomic_store_explicit(&seg->size, position + b->size, memory_order_release);
	atomic_store_explicit(&p->next_offset, base + b->record_count, memory_order_release);
	atomic_fetch_add(&p->records_appended, b->record_count);
	atomic_fetch_add(&p->batches_appended, 1);
	atomic_fetch_add(&p->bytes_appended, b->size);
	notify_readers(p);

	bool want_sync;
	if (flags & RILL_APPEND_SYNC)
		want_sync = true;
	else if (flags & RILL_APPEND_NOSYNC)
		want_sync = false;
	else if (p->config.durability == RILL_DURABILITY_APPEND)
		want_sync = true;
	else if (p->config.durability == RILL_DURABILITY_INTERVAL) {
		p->unsynced_records += b->record_count;
		want_sync = p->unsynced_records >= (uint64_t)p->config.flush_messages ||
		            now - p->last_sync_ms >= p->config.flush_ms;
	} else {
		want_sync = false;
	}
	bool durable = false;
	if (want_sync) {
		rc = sync_to(p, base + b->record_count);
		if (rc != 0)
			goto out;
		durable = true;
	}
	if (out != NULL) {
		out->partition = p->number;
		out->base_offset = base;
		out->last_offset = base + b->record_count - 1;
		out->durable = durable || atomic_load(&p->durable) >= base + b->record_count;
	}
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int rill__partition_sync(rill_partition *p)
{
	pthread_mutex_lock(&p->lock);
	int rc = 0;
	if (p->env->readonly)
		rc = rill__error(RILL_EREADONLY, "store is read-only");
	else
		rc = sync_to(p, atomic_load(&p->next_offset));
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* =================================================================== close */

int rill__partition_close(rill_partition *p)
{
	if (p == NULL)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->data_cond);
	while (p->syncing)
		pthread_cond_wait(&p->sync_cond, &p->lock);
	if (!p->env->readonly && !atomic_load(&p->failed)) {
		rill_segment *seg = active_segment(p);
		rc = trim_preallocation(p, seg);
		if (rc == 0)
			rc = sync_active_locked(p);
		/* a sync with nothing to do checks nothing: the file cache may
		 * have failed the partition while this close reopened files */
		if (rc == 0)
			rc = check_failed(p, "failed while closing");
		if (rc == 0)
			rc = checkpoint_now(p);
	} else if (atomic_load(&p->failed) && !p->env->readonly) {
		mark_cache_failure(p);
		rc = rill__error(RILL_EFAILED, "partition %s had failed; its unsynced tail is recovered at the next open", p->dir);
	}
	pthread_mutex_unlock(&p->lock);
	partition_free(p);
	return rc;
}

void rill__partition_wake(rill_partition *p)
{
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->data_cond);
	pthread_mutex_unlock(&p->lock);
}

/* ================================================== offsets and timestamps */

void rill__partition_offsets(rill_partition *p, rill_offsets *out)
{
	pthread_mutex_lock(&p->lock);
	out->log_start = p->log_start;
	out->log_end = atomic_load(&p->next_offset);
	out->durable = atomic_load(&p->durable);
	pthread_mutex_unlock(&p->lock);
}

static rill_segment *find_segment(const rill_partition *p, uint64_t offset, size_t *out_index)
{
	size_t lo = 0, hi = p->segment_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->segments[mid]->base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if (out_index != NULL)
		*out_index = lo - 1;
	return p->segments[lo - 1];
}

/* Is the index entry that sent a lookup to `pos` true to the log: a batch
 * header starts there, with base offset base_max (at most base_max unless
 * base_exact) and a max timestamp below max_ts_below? Index files pass only
 * sanity checks at load (sizes, order, bounds), so an entry can still point
 * mid-batch or understate a timestamp; a lookup that meets one starts from
 * the segment's first batch instead, which costs a scan, never an error or
 * a later answer. With last_batch, the batch must also end the segment.
 * One header read. Segment pinned. */
static bool index_hint_ok(rill_partition *p, rill_segment *seg, uint64_t pos, uint64_t base_max,
                          bool base_exact, int64_t max_ts_below, bool last_batch)
{
	uint8_t *scratch = NULL;
	size_t scratch_cap = 0;
	const uint8_t *bytes = NULL;
	rill_batch_header h;
	uint64_t size = atomic_load(&seg->size);
	bool ok = pos < size && size - pos >= RILL_BATCH_HEADER_SIZE &&
	          rill__segment_bytes(p->env, seg, pos, RILL_BATCH_HEADER_SIZE, &scratch, &scratch_cap, &bytes) == 0 &&
	          rill__batch_parse_header(bytes, RILL_BATCH_HEADER_SIZE, size - pos, &h) == 0 &&
	          h.base_offset >= seg->base_offset && h.base_offset <= base_max &&
	          (!base_exact || h.base_offset == base_max) && h.max_timestamp < max_ts_below &&
	          (!last_batch || pos + rill__batch_total_size(&h) == size);
	rill__free(scratch);
	if (!ok)
		rill__log(&p->env->logger, RILL_LOG_WARN,
		          "partition %s segment %020" PRIu64 ": index entry at position %" PRIu64 " does not match the log; scanning from the segment start",
		          p->dir, seg->base_offset, pos);
	return ok;
}

/* May offset_for_timestamp skip sealed segment seg because its max
 * timestamp is below ts? That max comes from the last time index entry (a
 * hint read at open), and the last entry of a sealed segment describes its
 * last batch, so check that batch before skipping records for good. */
static bool segment_max_ok(rill_partition *p, rill_segment *seg)
{
	const rill_index *index = &seg->index;
	if (index->count == 0 || seg->max_timestamp == INT64_MAX)
		return false;
	const uint8_t *last = index->offsets + (size_t)(index->count - 1) * RILL_OFFSET_INDEX_ENTRY;
	return index_hint_ok(p, seg, rill__get_u32(last + 4), seg->base_offset + rill__get_u32(last), true,
	                     seg->max_timestamp + 1, true);
}

/* Ensure a segment's index is loaded; the segment must be pinned. */
static int ensure_index(rill_partition *p, rill_segment *seg)
{
	if (seg->index.loaded)
		return 0;
	int rc = rill__index_load(p->env, seg, (uint64_t)p->config.index_interval_bytes);
	if (rc == 0 && atomic_load(&seg->sealed) && seg->max_timestamp == -2)
		seg->max_timestamp = seg->index.running_max_ts;
	return rc;
}

/* The `total` bytes of the batch at pos of segment seg (pinned), checked
 * against its checksum: an I/O error as is, a mismatch RILL_ECORRUPT. */
static int verified_bytes(rill_partition *p, rill_segment *seg, uint64_t pos, uint64_t total,
                          uint8_t **scratch, size_t *scratch_cap, const uint8_t **out)
{
	int rc = rill__segment_bytes(p->env, seg, pos, (size_t)total, scratch, scratch_cap, out);
	if (rc == 0)
		rc = rill__batch_verify(*out, (size_t)total, p->partition_key);
	return rc;
}

int rill__partition_cached_batch(rill_partition *p, rill_segment *seg, uint64_t pos,
                                 const rill_batch_header *h, uint64_t total, bool look_up,
                                 rill_batch_decoder *dec, uint8_t **scratch, size_t *scratch_cap,
                                 rill_cached_batch **out, bool *out_filled)
{
	rill_batch_cache *cache = p->env->batch_cache;
	*out = NULL;
	*out_filled = false;
	if (!rill__batch_cache_enabled(cache))
		return RILL_EAGAIN;
	uint64_t segment_id = atomic_load_explicit(&seg->cache_id, memory_order_relaxed);
	rill_cached_batch *e = look_up ? rill__batch_cache_get(cache, segment_id, pos) : NULL;
	if (e != NULL && (e->checksum != h->checksum || e->header.base_offset != h->base_offset)) {
		/* A read-only store's: the writer cut the log and wrote other
		 * batches here. Replaced below. */
		rill__batch_cache_release(cache, e);
		e = NULL;
	}
	if (e == NULL) {
		e = rill__batch_cache_reserve(cache, segment_id, pos, h, total);
		if (e == NULL)
			return RILL_EAGAIN;
		const uint8_t *bytes = NULL;
		int rc = verified_bytes(p, seg, pos, total, scratch, scratch_cap, &bytes);
		if (rc == 0)
			rc = rill__batch_decoder_start_copy(dec, bytes, (size_t)total, h, e->section);
		if (rc == 0)
			rc = rill__batch_decoder_note_starts(dec, e->record_starts, &e->timestamps_sorted);
		if (rc != 0) {
			rill__batch_cache_discard(cache, e);
			return rc;
		}
		e = rill__batch_cache_insert(cache, e);
		*out_filled = true;
	}
	*out = e;
	return 0;
}

/* The timestamp of record `index` of cached batch e (checked whole when
 * it was cached). */
static int cached_timestamp(rill_batch_decoder *dec, const rill_cached_batch *e, uint32_t index,
                            int64_t *out)
{
	rill__cached_batch_prefetch_record(e, index);
	rill__batch_decoder_start_at(dec, &e->header, e->section, index, e->record_starts[index]);
	rill_record record;
	int rc = rill__batch_decoder_next(dec, &record);
	*out = record.timestamp_ms;
	return rc;
}

/*
 * The first record at or after offset `from` with a timestamp of at least
 * ts, in the batch with header h at pos of segment seg (pinned), which
 * holds `from` or starts after it. The batch is checked whole first: from
 * the batch cache when it has the batch or takes it (a later lookup near
 * the same time then decodes only), else in place. In a cached batch
 * whose timestamps never decrease (a producer's clock, LogAppendTime) the
 * record is found by halves: ten records of a thousand, not five hundred.
 */
static int first_record_at(rill_partition *p, rill_segment *seg, uint64_t pos,
                           const rill_batch_header *h, uint64_t total, int64_t ts, uint64_t from,
                           rill_batch_decoder *dec, uint8_t **scratch, size_t *scratch_cap,
                           uint64_t *out, bool *found)
{
	rill_cached_batch *e = NULL;
	bool filled;
	*found = false;
	/* a one-record batch is read in place: a copy would buy nothing */
	int rc = h->record_count > 1 ? rill__partition_cached_batch(p, seg, pos, h, total, true, dec, scratch,
	                                                           scratch_cap, &e, &filled)
	                             : RILL_EAGAIN;
	uint64_t first = from > h->base_offset ? from - h->base_offset : 0;
	if (rc == 0 && e->timestamps_sorted) {
		uint32_t lo = (uint32_t)first, hi = e->header.record_count; /* the answer is in [lo, hi] */
		RILL_ASSERT(lo < hi);
		while (rc == 0 && lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			int64_t at = 0;
			rc = cached_timestamp(dec, e, mid, &at);
			if (at >= ts)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (rc == 0 && lo < e->header.record_count) {
			*out = e->header.base_offset + lo;
			*found = true;
		}
		goto done;
	}
	if (rc == 0) {
		RILL_ASSERT(first < e->header.record_count);
		rill__batch_decoder_start_at(dec, &e->header, e->section, (uint32_t)first,
		                             e->record_starts[first]);
	} else if (rc == RILL_EAGAIN) {
		const uint8_t *bytes = NULL;
		rc = verified_bytes(p, seg, pos, total, scratch, scratch_cap, &bytes);
		if (rc == 0)
			rc = rill__batch_decoder_start(dec, bytes, (size_t)total);
	}
	rill_record records[32];
	size_t n = 0;
	while (rc == 0 && !*found) {
		rc = rill__batch_decoder_read(dec, records, sizeof(records) / sizeof(records[0]), &n);
		for (size_t i = 0; rc == 0 && i < n && !*found; i++) {
			if (records[i].offset >= from && records[i].timestamp_ms >= ts) {
				*out = records[i].offset;
				*found = true;
			}
		}
	}
	if (rc == RILL_EAGAIN)
		rc = 0; /* the batch ended (its max timestamp counted records below `from`) */
done:
	if (rc == RILL_ECORRUPT)
		rc = rill__error(RILL_ECORRUPT, "partition %s segment %020" PRIu64 " position %" PRIu64 ": %s",
		                 p->dir, seg->base_offset, pos, rill_errmsg());
	if (e != NULL)
		rill__batch_cache_release(p->env->batch_cache, e);
	return rc;
}

/*
 * The batch a timestamp lookup decodes next: the first at or after offset
 * `from` whose max timestamp reaches ts, by the segments' max timestamps,
 * the time index and the batch headers (read through the caller's scratch
 * where not mapped). Found (*found), its segment comes back pinned and
 * referenced. Partition lock held.
 */
static int timestamp_candidate(rill_partition *p, int64_t ts, uint64_t from, uint8_t **scratch,
                               size_t *scratch_cap, rill_segment **out_seg, uint64_t *out_pos,
                               rill_batch_header *out_h, bool *found)
{
	int rc = 0;
	*found = false;
	for (size_t i = 0; i < p->segment_count && !*found && rc == 0; i++) {
		rill_segment *seg = p->segments[i];
		if (atomic_load(&seg->size) == 0)
			continue;
		if (i + 1 < p->segment_count && p->segments[i + 1]->base_offset <= from)
			continue; /* every offset of it is below `from` */
		rc = rill__segment_pin(p->env, seg, true);
		if (rc != 0)
			break;
		rc = ensure_index(p, seg);
		if (rc == 0 && seg->max_timestamp == -2)
			seg->max_timestamp = seg->index.running_max_ts;
		if (rc != 0 || (seg->max_timestamp >= 0 && seg->max_timestamp < ts && i + 1 < p->segment_count &&
		                segment_max_ok(p, seg))) {
			rill__segment_unpin(p->env, seg);
			continue;
		}
		uint32_t rel = 0;
		uint64_t pos = rill__index_lookup_time(&seg->index, ts, &rel);
		if (pos > 0 && !index_hint_ok(p, seg, pos, seg->base_offset + rel, true, ts, false))
			pos = 0;
		uint64_t end = atomic_load(&seg->size);
		while (pos < end) {
			const uint8_t *bytes = NULL;
			rill_batch_header h;
			rc = rill__segment_bytes(p->env, seg, pos, RILL_BATCH_HEADER_SIZE, scratch, scratch_cap, &bytes);
			if (rc != 0)
				break;
			rc = rill__batch_parse_header(bytes, RILL_BATCH_HEADER_SIZE, end - pos, &h);
			if (rc != 0) {
				rc = rill__error(RILL_ECORRUPT, "partition %s segment %020" PRIu64 " position %" PRIu64 ": %s",
				                 p->dir, seg->base_offset, pos, rill_errmsg());
				break;
			}
			if (h.max_timestamp >= ts && h.base_offset + h.last_offset_delta >= from) {
				rill__segment_ref(seg);
				*out_seg = seg;
				*out_pos = pos;
				*out_h = h;
				*found = true;
				break;
			}
			pos += rill__batch_total_size(&h);
		}
		if (!*found)
			rill__segment_unpin(p->env, seg);
	}
	return rc;
}

/*
 * The first offset whose record's timestamp is at least ts. The batch that
 * holds it is found under the partition lock (headers and indexes only)
 * and checked and decoded without it: hashing a large batch must not stall
 * the partition's appends. Should its records all lie below the log start
 * (retention moved it meanwhile) or fall short of its max timestamp's
 * promise, the search goes on after it.
 */
int rill__partition_offset_for_timestamp(rill_partition *p, int64_t ts, uint64_t *out)
{
	int rc = 0;
	uint8_t *scratch = NULL;
	size_t scratch_cap = 0;
	rill_batch_decoder *dec = atomic_exchange(&p->spare_decoder, NULL);
	uint64_t from = 0;
	for (;;) {
		rill_segment *seg = NULL;
		uint64_t pos = 0;
		rill_batch_header h;
		bool found = false;
		pthread_mutex_lock(&p->lock);
		*out = atomic_load(&p->next_offset);
		if (from < p->log_start)
			from = p->log_start;
		rc = timestamp_candidate(p, ts, from, &scratch, &scratch_cap, &seg, &pos, &h, &found);
		pthread_mutex_unlock(&p->lock);
		if (rc != 0 || !found)
			break;
		if (dec == NULL)
			rc = rill__batch_decoder_new(&dec);
		if (rc == 0)
			rc = first_record_at(p, seg, pos, &h, rill__batch_total_size(&h), ts, from, dec,
			                     &scratch, &scratch_cap, out, &found);
		rill__segment_unpin(p->env, seg);
		rill__segment_unref(p->env, seg);
		if (rc != 0 || found)
			break;
		from = h.base_offset + h.last_offset_delta + 1;
	}
	rill__free(scratch);
	rill_batch_decoder *expected = NULL;
	if (dec != NULL && !atomic_compare_exchange_strong(&p->spare_decoder, &expected, dec))
		rill__batch_decoder_free(dec);
	return rc;
}

/* =============================================================== retention */

/* Remove segments [0, count) — the caller persisted the new log start. */
static int drop_oldest_segments(rill_partition *p, size_t count, uint64_t *deleted)
{
	int rc = 0;
	size_t removed = 0;
	for (; removed < count; removed++) {
		rill_segment *seg = p->segments[removed];
		atomic_store(&seg->deleted, true);
		rc = delete_segment_files(p, seg->base_offset);
		if (rc != 0)
			break;
		rill__log(&p->env->logger, RILL_LOG_INFO, "partition %s: deleted segment %020" PRIu64 " (retention)",
		          p->dir, seg->base_offset);
	}
	for (size_t i = 0; i < removed; i++)
		rill__segment_unref(p->env, p->segments[i]);
	memmove(p->segments, p->segments + removed, (p->segment_count - removed) * sizeof(*p->segments));
	p->segment_count -= removed;
	if (deleted != NULL)
		*deleted += removed;
	if (removed > 0) {
		int e = rill__sync_dir(p->env->io, p->dir);
		if (rc == 0)
			rc = e;
	}
	return rc;
}

/* Move the log start (persisted first, R4) and delete what falls below. */
static int advance_log_start(rill_partition *p, uint64_t new_start, uint64_t *deleted)
{
	if (new_start <= p->log_start)
		return 0;
	uint64_t old_start = p->log_start;
	p->log_start = new_start;
	int rc = checkpoint_now(p);
	if (rc != 0) {
		p->log_start = old_start;
		return rc;
	}
	size_t n = 0;
	while (n + 1 < p->segment_count && p->segments[n + 1]->base_offset <= new_start)
		n++;
	return drop_oldest_segments(p, n, deleted);
}

int rill__partition_delete_before(rill_partition *p, uint64_t offset)
{
	pthread_mutex_lock(&p->lock);
	int rc = 0;
	if (p->env->readonly) {
		rc = rill__error(RILL_EREADONLY, "store is read-only");
	} else if (offset > atomic_load(&p->next_offset)) {
		rc = rill__error(RILL_ERANGE, "partition %s: offset %" PRIu64 " is past the log end %" PRIu64,
		                 p->dir, offset, atomic_load(&p->next_offset));
	} else if (atomic_load(&p->failed)) {
		rc = rill__error(RILL_EFAILED, "partition %s failed earlier; reopen the store", p->dir);
	} else {
		/* Records to be hidden must be durable first: a crash must not
		 * bring back a log start above data that was then lost. */
		rc = sync_to(p, offset);
		if (rc == 0)
			rc = advance_log_start(p, offset, NULL);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int rill__partition_retain(rill_partition *p, int64_t now, uint64_t *out_deleted)
{
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (p->env->readonly || atomic_load(&p->failed) || p->closing)
		goto out;
	size_t n = 0;
	/* Time: oldest first, stop at the first segment still in retention. */
	if (p->config.retention_ms >= 0) {
		while (n < p->segment_count) {
			rill_segment *seg = p->segments[n];
			if (seg->max_timestamp == -2) {
				rc = rill__segment_pin(p->env, seg, false);
				if (rc != 0)
					goto out;
				rc = ensure_index(p, seg);
				rill__segment_unpin(p->env, seg);
				if (rc != 0)
					goto out;
			}
			if (atomic_load(&seg->size) == 0 || seg->max_timestamp < 0 ||
			    now - seg->max_timestamp <= p->config.retention_ms)
				break;
			n++;
		}
	}
	/* Size: delete while what remains still exceeds retention.bytes. */
	if (p->config.retention_bytes >= 0) {
		uint64_t total = 0;
		for (size_t i = 0; i < p->segment_count; i++)
			total += atomic_load(&p->segments[i]->size);
		for (size_t i = 0; i < n; i++)
			total -= atomic_load(&p->segments[i]->size);
		while (n + 1 < p->segment_count) {
			uint64_t size = atomic_load(&p->segments[n]->size);
			if (total - size < (uint64_t)p->config.retention_bytes)
				break;
			total -= size;
			n++;
		}
	}
	if (n == 0)
		goto out;
	if (n == p->segment_count) {
		/* The whole log expired: roll so the active segment can go, as
		 * Kafka does; the new empty segment keeps the log end. */
		rc = roll(p);
		if (rc != 0)
			goto out;
	}
	uint64_t new_start = p->segments[n]->base_offset;
	/* Unlike delete_before, retention needs no sync first: what it
	 * deletes is never read again, so writing it back would be wasted
	 * (at 100 MiB/s of appends it was all of retention's cost), and the
	 * new start is the base of a segment whose file exists durably (R2:
	 * every roll syncs the directory entry), so a crash cannot bring the
	 * log end back below it; recovery scans from that segment's start.
	 * Records below the log start count as durable: nothing can lose
	 * them any more, and the checkpoint's recovery point may then name
	 * the new first segment, position 0. */
	if (atomic_load(&p->durable) < new_start) {
		atomic_store(&p->durable, new_start);
		p->durable_segment = new_start;
		p->durable_position = 0;
	}
	rc = advance_log_start(p, new_start, out_deleted);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int rill__partition_maintain(rill_partition *p, int64_t now)
{
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (p->env->readonly || atomic_load(&p->failed) || p->closing)
		goto out;
	if (p->config.durability == RILL_DURABILITY_INTERVAL &&
	    atomic_load(&p->durable) < atomic_load(&p->next_offset) &&
	    now - p->last_sync_ms >= p->config.flush_ms) {
		rc = sync_to(p, atomic_load(&p->next_offset));
		if (rc != 0)
			goto out;
	}
	/* Advance the recovery point so an unclean open scans only what came
	 * since: a checkpoint when durable data passed the last one. */
	if (atomic_load(&p->durable) > p->checkpoint_recovery)
		rc = checkpoint_now(p);
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void rill__partition_stats(rill_partition *p, rill_partition_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	out->log_start = p->log_start;
	out->log_end = atomic_load(&p->next_offset);
	out->durable = atomic_load(&p->durable);
	out->segments = p->segment_count;
	out->first_timestamp = -1;
	out->max_timestamp = -1;
	for (size_t i = 0; i < p->segment_count; i++) {
		rill_segment *seg = p->segments[i];
		out->bytes_on_disk += atomic_load(&seg->size);
		if (out->first_timestamp < 0 && seg->first_timestamp >= 0)
			out->first_timestamp = seg->first_timestamp;
		if (seg->max_timestamp > out->max_timestamp)
			out->max_timestamp = seg->max_timestamp;
	}
	out->recovered_bytes_cut = p->recovered_bytes_cut;
	out->recovered_bytes_scanned = p->recovered_bytes_scanned;
	pthread_mutex_unlock(&p->lock);
	out->records_appended = atomic_load(&p->records_appended);
	out->batches_appended = atomic_load(&p->batches_appended);
	out->bytes_appended = atomic_load(&p->bytes_appended);
	out->records_read = atomic_load(&p->records_read);
	out->bytes_read = atomic_load(&p->bytes_read);
	out->fsyncs = atomic_load(&p->fsyncs);
	out->fsync_ns_total = atomic_load(&p->fsync_ns_total);
	out->fsync_ns_max = atomic_load(&p->fsync_ns_max);
	out->failed = atomic_load(&p->failed);
}

/* ================================================================= readers */

int rill__partition_locate(rill_partition *p, uint64_t offset, rill_reader_state *st, uint64_t *out_offset)
{
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	uint64_t end = atomic_load(&p->next_offset);
	/* Resolved under the lock that retention holds to move the log start:
	 * read beforehand, the start could pass it before the lookup, and a
	 * seek to RILL_START_EARLIEST failed with RILL_ERANGE. */
	if (offset == RILL_START_EARLIEST)
		offset = p->log_start;
	else if (offset == RILL_START_LATEST)
		offset = end;
	*out_offset = offset;
	if (offset < p->log_start || offset > end) {
		rc = rill__error(RILL_ERANGE, "partition %s: offset %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]",
		                 p->dir, offset, p->log_start, end);
		goto out;
	}
	rill_segment *seg = find_segment(p, offset, NULL);
	if (seg == NULL)
		seg = p->segments[0];
	uint64_t pos = 0;
	uint64_t expect = seg->base_offset;
	bool pinned = false;   /* the reader gets seg pinned */
	bool keep_pin = false; /* ... and already holds that pin */
	if (offset == end) {
		seg = active_segment(p);
		pos = atomic_load(&seg->size);
		expect = end;
	} else {
		/* The reader reads this segment next: pin it mapped and hand
		 * the pin over, or keep the one it holds on the same segment
		 * (random reads within a segment then take no cache lock). */
		pinned = true;
		keep_pin = st->pinned && st->seg == seg;
		if (!keep_pin) {
			rc = rill__segment_pin(p->env, seg, true);
			if (rc != 0)
				goto out;
		}
		rc = ensure_index(p, seg);
		if (rc != 0) {
			if (!keep_pin)
				rill__segment_unpin(p->env, seg);
			goto out;
		}
		uint32_t rel = 0;
		pos = rill__index_lookup_offset_entry(&seg->index, (uint32_t)(offset - seg->base_offset), &rel);
		expect = seg->base_offset + rel;
	}
	if (!keep_pin) {
		rill__reader_state_release(p, st);
		rill__segment_ref(seg);
		st->seg = seg;
		st->pinned = pinned;
	}
	st->pos = pos;
	st->expect_base = expect;
	/* The entry is a hint: the reader checks the batch it points at (it
	 * parses that header anyway) and falls back to the segment start if
	 * it does not match (rill__reader_state_index_miss). */
	st->from_index = pos > 0 && offset != end;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int rill__partition_next_segment(rill_partition *p, rill_reader_state *st)
{
	int rc = RILL_EAGAIN;
	pthread_mutex_lock(&p->lock);
	rill_segment *cur = st->seg;
	if (atomic_load(&cur->deleted)) {
		/* Retention removed it after the caller last looked: the next
		 * segment in the list may start past the reader's offset, which
		 * is then below the log start. The caller positions again. */
		pthread_mutex_unlock(&p->lock);
		return RILL_PARTITION_SEGMENT_GONE;
	}
	if (st->pos < atomic_load(&cur->size)) {
		/* The segment grew after the caller read its size (and may have
		 * been sealed since): read the rest before moving on. */
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	for (size_t i = 0; i < p->segment_count; i++) {
		if (p->segments[i]->base_offset > cur->base_offset) {
			rill_segment *next = p->segments[i];
			/* Only move on once the current one is sealed (its size final). */
			if (!atomic_load(&cur->sealed) && !atomic_load(&cur->deleted))
				break;
			rill__segment_ref(next);
			pthread_mutex_unlock(&p->lock);
			rill__reader_state_release(p, st);
			st->seg = next;
			st->pos = 0;
			st->expect_base = next->base_offset;
			st->from_index = false;
			return 0;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void rill__reader_state_index_miss(rill_partition *p, rill_reader_state *st)
{
	RILL_ASSERT(st->from_index);
	rill__log(&p->env->logger, RILL_LOG_WARN,
	          "partition %s segment %020" PRIu64 ": index entry at position %" PRIu64 " does not match the log; scanning from the segment start",
	          p->dir, st->seg->base_offset, st->pos);
	st->pos = 0;
	st->expect_base = st->seg->base_offset;
	st->from_index = false;
}

void rill__reader_state_unpin(rill_partition *p, rill_reader_state *st)
{
	if (st->pinned) {
		rill__segment_unpin(p->env, st->seg);
		st->pinned = false;
	}
}

void rill__reader_state_release(rill_partition *p, rill_reader_state *st)
{
	rill__reader_state_unpin(p, st);
	if (st->seg != NULL) {
		rill__segment_unref(p->env, st->seg);
		st->seg = NULL;
	}
}

int rill__partition_add_event_fd(rill_partition *p, int fd)
{
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (p->event_fd_count == p->event_fd_capacity) {
		size_t cap = p->event_fd_capacity ? p->event_fd_capacity * 2 : 4;
		int *grown = rill__realloc(p->event_fds, cap * sizeof(*grown));
		if (grown == NULL) {
			rc = rill__error(RILL_ENOMEM, "cannot register a reader descriptor");
			goto out;
		}
		p->event_fds = grown;
		p->event_fd_capacity = cap;
	}
	p->event_fds[p->event_fd_count++] = fd;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void rill__partition_remove_event_fd(rill_partition *p, int fd)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->event_fd_count; i++) {
		if (p->event_fds[i] == fd) {
			p->event_fds[i] = p->event_fds[--p->event_fd_count];
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
}

int rill__partition_refresh(rill_partition *p)
{
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (!p->env->readonly)
		goto out;
	for (int rounds = 0; rounds < 64; rounds++) {
		rill_segment *seg = active_segment(p);
		uint64_t file_size = 0;
		rc = segment_file_size(p, seg, &file_size);
		if (rc != 0)
			goto out;
		uint64_t size = atomic_load(&seg->size);
		if (file_size > size) {
			/* The mapping was sized for growth; a new size means remap,
			 * unless a reader of this store still holds records of the old
			 * mapping (then bytes past it are read with pread). */
			rill__segment_close_files_if_unpinned(p->env, seg);
			rill_scan scan;
			rc = rill__segment_scan(p->env, seg, size, seg->next_offset, file_size, p->partition_key,
			                        &seg->index, (uint64_t)p->config.index_interval_bytes, &scan);
			if (rc != 0)
				goto out;
			seg->file_size = file_size;
			if (scan.valid_end > size) {
				seg->next_offset = scan.next_offset;
				if (scan.max_timestamp > seg->max_timestamp)
					seg->max_timestamp = scan.max_timestamp;
				atomic_store(&seg->size, scan.valid_end);
				atomic_store(&p->next_offset, scan.next_offset);
				atomic_store(&p->durable, scan.next_offset);
			}
		}
		/* A new segment continues the log? */
		char path[RILL_PATH_MAX];
		rc = rill__segment_path(path, sizeof(path), p->dir, seg->next_offset, ".log");
		if (rc != 0)
			goto out;
		int type = 0;
		if (seg->next_offset == seg->base_offset ||
		    p->env->io->stat(p->env->io->ctx, path, &type) != 0)
			break;
		rill_segment *next = rill__segment_new(p, seg->next_offset, index_entries_max(&p->config));
		if (next == NULL) {
			rc = rill__error(RILL_ENOMEM, "cannot allocate a segment");
			goto out;
		}
		next->map_capacity = map_capacity(&p->config);
		next->index.loaded = true;
		rc = push_segment(p, next);
		if (rc != 0) {
			rill__segment_unref(p->env, next);
			goto out;
		}
		atomic_store(&seg->sealed, true);
	}
	/* The writer's retention may have moved the log start. */
	checkpoint cp;
	if (checkpoint_read(p, &cp) == 0 && cp.log_start > p->log_start &&
	    cp.log_start <= atomic_load(&p->next_offset)) {
		p->log_start = cp.log_start;
		size_t n = 0;
		while (n + 1 < p->segment_count && p->segments[n + 1]->base_offset <= cp.log_start)
			n++;
		for (size_t i = 0; i < n; i++) {
			atomic_store(&p->segments[i]->deleted, true);
			rill__segment_unref(p->env, p->segments[i]);
		}
		memmove(p->segments, p->segments + n, (p->segment_count - n) * sizeof(*p->segments));
		p->segment_count -= n;
	}
	rc = 0;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ================================================================== verify */

int rill__partition_verify(rill_partition *p, rill_batch_decoder *dec,
                           rill_problem_fn fn, void *arg, uint64_t *batches,
                           uint64_t *problems)
{
	/* Snapshot the segment list with references, then check without the
	 * partition lock so appends go on. */
	pthread_mutex_lock(&p->lock);
	size_t count = p->segment_count;
	rill_segment **list = rill__calloc(count, sizeof(*list));
	if (list == NULL) {
		pthread_mutex_unlock(&p->lock);
		return rill__error(RILL_ENOMEM, "cannot allocate for verify");
	}
	uint64_t *sizes = rill__calloc(count, sizeof(*sizes));
	if (sizes == NULL) {
		pthread_mutex_unlock(&p->lock);
		rill__free(list);
		return rill__error(RILL_ENOMEM, "cannot allocate for verify");
	}
	for (size_t i = 0; i < count; i++) {
		list[i] = p->segments[i];
		sizes[i] = atomic_load(&list[i]->size);
		rill__segment_ref(list[i]);
	}
	pthread_mutex_unlock(&p->lock);

	int rc = 0;
	uint8_t *scratch = NULL;
	size_t scratch_cap = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		rill_segment *seg = list[i];
		uint64_t end = sizes[i];
		if (!p->env->readonly) {
			/* A sealed segment's file should hold exactly its batches. */
			uint64_t fsize = 0;
			if (segment_file_size(p, seg, &fsize) == 0 && atomic_load(&seg->sealed) && fsize > end)
				end = fsize;
		}
		rc = rill__segment_pin(p->env, seg, true);
		if (rc != 0 && atomic_load(&seg->deleted)) {
			/* Retention deleted it after the snapshot (it marks a
			 * segment deleted before removing its file) and its
			 * descriptor was evicted: gone, not damaged. */
			rill__error_clear();
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		uint64_t pos = 0;
		uint64_t expect = seg->base_offset;
		while (pos < end) {
			const uint8_t *bytes = NULL;
			rill_batch_header h;
			const char *what = NULL;
			char why[200];
			uint64_t total = 0;
			if (end - pos < RILL_BATCH_HEADER_SIZE) {
				what = "trailing bytes shorter than a batch header";
			} else {
				rc = rill__segment_bytes(p->env, seg, pos, RILL_BATCH_HEADER_SIZE, &scratch, &scratch_cap, &bytes);
				if (rc != 0)
					break;
				if (rill__batch_parse_header(bytes, RILL_BATCH_HEADER_SIZE, end - pos, &h) != 0) {
					snprintf(why, sizeof(why), "%s", rill_errmsg());
					what = why;
				} else {
					total = rill__batch_total_size(&h);
					rc = rill__segment_bytes(p->env, seg, pos, (size_t)total, &scratch, &scratch_cap, &bytes);
					if (rc != 0)
						break;
					if (rill__batch_verify(bytes, (size_t)total, p->partition_key) != 0) {
						snprintf(why, sizeof(why), "%s", rill_errmsg());
						what = why;
					} else if (h.base_offset != expect) {
						snprintf(why, sizeof(why), "base offset %" PRIu64 ", expected %" PRIu64, h.base_offset, expect);
						what = why;
					} else if ((rc = rill__batch_check_records(dec, bytes, (size_t)total)) != 0) {
						if (rc == RILL_ENOMEM)
							break; /* out of memory is not a bad batch */
						rc = 0;
						snprintf(why, sizeof(why), "%s", rill_errmsg());
						what = why;
					}
				}
			}
			if (what != NULL) {
				(*problems)++;
				if (fn != NULL) {
					rill_verify_problem prob = {p->topic_name, p->number, seg->base_offset, pos, expect, what};
					fn(arg, &prob);
				}
				/* A batch whose header holds together is skipped; otherwise
				 * nothing further in this segment can be framed. */
				if (total == 0 || pos + total > end)
					break;
				pos += total;
				expect = h.base_offset + h.last_offset_delta + 1;
				continue;
			}
			(*batches)++;
			pos += total;
			expect = h.base_offset + h.last_offset_delta + 1;
		}
		rill__segment_unpin(p->env, seg);
		if (rc == 0 && pos >= end && i + 1 < count && expect != list[i + 1]->base_offset) {
			/* Dense across segments too: a sealed segment (a truncated
			 * file, say) must end where the next one begins. */
			(*problems)++;
			if (fn != NULL) {
				char why[200];
				snprintf(why, sizeof(why), "segment ends at offset %" PRIu64 ", the next starts at %" PRIu64,
				         expect, list[i + 1]->base_offset);
				rill_verify_problem prob = {p->topic_name, p->number, seg->base_offset, pos, expect, why};
				fn(arg, &prob);
			}
		}
	}
	for (size_t i = 0; i < count; i++)
		rill__segment_unref(p->env, list[i]);
	rill__free(list);
	rill__free(sizes);
	rill__free(scratch);
	return rc;
}
