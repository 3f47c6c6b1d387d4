/*
 * segment.c — one segment: the NNN.log file of record batches back to
 * back, its sparse offset index NNN.index and time index NNN.timeindex,
 * and the store-wide cache of open descriptors and mappings.
 *
 * Sections: file cache · segment lifetime · byte access · indexes ·
 * scanning (validation and recovery).
 *
 * Files (NNN = base offset, 20 digits, zero-padded, as Kafka names them):
 *   NNN.log        batches (batch.h). The file may extend past the last
 *                  batch with zeros when preallocated; zeros never parse as
 *                  a batch (magic 0 and length 0 are invalid), so the end of
 *                  the log is "the first position that is not a valid batch
 *                  continuing the offsets", never the file size.
 *   NNN.index      entries of 8 bytes: relative base offset u32, position
 *                  u32 (little-endian), strictly increasing.
 *   NNN.timeindex  entries of 12 bytes: running max timestamp i64 (the
 *                  largest batch max timestamp up to and including that
 *                  batch), relative base offset u32. Entry i of both files
 *                  describes the same batch (lockstep), so "first batch with
 *                  max timestamp >= T" is: the last entry whose running max
 *                  is < T, then a forward scan of at most one index interval.
 *
 * Index rules. An entry is added before a batch when index.interval.bytes
 * of log have been appended since the previous entry (interval 0: every
 * batch), and at seal time for the last batch, so the last time entry of a
 * sealed segment is the segment's max timestamp. Indexes are hints (R6 in
 * docs/FORMAT.md): entries are written to the files only for log bytes
 * already synced, then the index files are synced; at load they are checked
 * (size a multiple of the entry size, equal counts, strictly increasing
 * offsets and positions, positions inside the log, non-decreasing
 * timestamps) and rebuilt from the log when anything is off. One bad index
 * rebuilds one segment, never the partition.
 *
 * File cache. A store may hold many thousands of segments; descriptors and
 * mappings are opened on demand and kept in one LRU list with a capacity
 * (rill_options.max_open_files). A segment is pinned while in use (append,
 * sync, a reader holding pointers into it) and is never evicted while
 * pinned. A full cache evicts a round of descriptors at once (an eighth
 * of its capacity, at most 32). Closing a segment with unsynced bytes
 * first writes them back through the descriptor that wrote them (R9: a
 * write-back error reported to a later descriptor can be lost), without
 * waiting for a device flush (rill_options.io_writeback; fdatasync
 * without one): what makes them durable is the partition's next sync
 * point, as for bytes the kernel wrote back on its own. The round's
 * write-backs start together. If one fails the owning partition is
 * failed, exactly as if its own sync had failed, and each of its later
 * syncs reports it (a sync through a new descriptor cannot see it).
 */
#include "segment.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "partition.h"

/* ================================================================ file cache */

int rill__file_cache_init(rill_file_cache *cache, const rill_io *io,
                          const rill_logger *logger, size_t capacity)
{
	memset(cache, 0, sizeof(*cache));
	if (pthread_mutex_init(&cache->lock, NULL) != 0)
		return rill__error(RILL_ENOMEM, "cannot create file cache mutex");
	cache->io = io;
	cache->logger = *logger;
	cache->capacity = capacity < 4 ? 4 : capacity;
	return 0;
}

void rill__file_cache_destroy(rill_file_cache *cache)
{
	RILL_ASSERT(cache->head == NULL);
	RILL_ASSERT(cache->open_count == 0);
	pthread_mutex_destroy(&cache->lock);
}

static void lru_unlink(rill_file_cache *cache, rill_segment *seg)
{
	if (!seg->in_lru)
		return;
	if (seg->lru_prev != NULL)
		seg->lru_prev->lru_next = seg->lru_next;
	else
		cache->head = seg->lru_next;
	if (seg->lru_next != NULL)
		seg->lru_next->lru_prev = seg->lru_prev;
	else
		cache->tail = seg->lru_prev;
	seg->lru_prev = seg->lru_next = NULL;
	seg->in_lru = false;
}

static void lru_push_head(rill_file_cache *cache, rill_segment *seg)
{
	RILL_ASSERT(!seg->in_lru);
	seg->lru_prev = NULL;
	seg->lru_next = cache->head;
	if (cache->head != NULL)
		cache->head->lru_prev = seg;
	cache->head = seg;
	if (cache->tail == NULL)
		cache->tail = seg;
	seg->in_lru = true;
}

/* Bytes written and not yet synced, which a close must not leave behind
 * unseen (R9); never for a segment retention deleted (it is never read
 * again) nor in a read-only store (it wrote nothing). */
static bool has_unsynced(const rill_env *env, rill_segment *seg)
{
	return seg->fd >= 0 && atomic_load(&seg->synced_size) < atomic_load(&seg->size) &&
	       !env->readonly && !atomic_load(&seg->deleted);
}

/* Close a segment's files; cache lock held, segment unpinned. */
static void close_files_locked(rill_env *env, rill_segment *seg)
{
	rill_file_cache *cache = env->cache;
	RILL_ASSERT(seg->users == 0);
	if (seg->map != NULL) {
		env->io->unmap(env->io->ctx, seg->map, seg->map_len);
		seg->map = NULL;
		seg->map_len = 0;
	}
	if (seg->fd >= 0) {
		if (has_unsynced(env, seg)) {
			/* Through the descriptor that wrote (R9): a write error
			 * reported to a later descriptor can be lost. A write-back
			 * is enough for that: the bytes become durable at the
			 * partition's next sync point, through a new descriptor,
			 * as bytes the kernel's own flusher wrote back do (an
			 * fdatasync covers a file's data whoever wrote it back).
			 * Nothing waits here for a device flush. */
			uint64_t size = atomic_load(&seg->size);
			bool writeback = env->writeback != NULL;
			int rc = writeback ? env->writeback(env->io->ctx, seg->fd, 1) : 0;
			if (rc == -EOPNOTSUPP || rc == -ENOSYS)
				writeback = false; /* the table has none after all */
			if (!writeback)
				rc = env->io->fdatasync(env->io->ctx, seg->fd);
			if (rc != 0) {
				/* The partition writes its failed marker when it next
				 * holds its lock (check_failed in partition.c); its
				 * appends and syncs fail from now on. */
				atomic_store(&seg->partition->failed_unmarked, 1);
				atomic_store(&seg->partition->failed, 1);
				rill__log(&env->logger, RILL_LOG_ERROR,
				          "%s of segment %020" PRIu64 " in %s failed on close: %s",
				          writeback ? "write-back" : "fdatasync", seg->base_offset,
				          seg->partition->dir, strerror(-rc));
			} else if (!writeback) {
				atomic_store(&seg->synced_size, size);
			}
		}
		env->io->close(env->io->ctx, seg->fd);
		seg->fd = -1;
		RILL_ASSERT(cache->open_count > 0);
		cache->open_count--;
	}
	lru_unlink(cache, seg);
	/* A sealed segment's index is a cache of its files: drop it too. */
	if (atomic_load(&seg->sealed) && seg->index.loaded &&
	    seg->index.persisted == seg->index.count) {
		rill__index_free(&seg->index);
	}
}

void rill__segment_close_files(rill_env *env, rill_segment *seg)
{
	pthread_mutex_lock(&env->cache->lock);
	close_files_locked(env, seg);
	pthread_mutex_unlock(&env->cache->lock);
}

bool rill__segment_close_files_if_unpinned(rill_env *env, rill_segment *seg)
{
	pthread_mutex_lock(&env->cache->lock);
	bool unpinned = seg->users == 0;
	if (unpinned)
		close_files_locked(env, seg);
	pthread_mutex_unlock(&env->cache->lock);
	return unpinned;
}

/* At most this many descriptors close in one round of eviction. */
#define EVICT_ROUND_MAX 32

/*
 * Make room for one more descriptor. A full cache closes its least
 * recently used unpinned descriptors an eighth of its capacity at a time
 * (up to EVICT_ROUND_MAX), not one: with more partitions than descriptors,
 * appends spread over all of them evict on nearly every call, and each
 * victim has bytes to write back before it closes.
 * Started together, those writes share the device's latency, and the
 * next appends find free slots (in a standalone program over 1,000 files
 * and 256 descriptors on this project's test machine, 44,000-60,000
 * writes/s against 16,000 with one write-back waited for per close).
 */
static void evict_if_full(rill_env *env)
{
	rill_file_cache *cache = env->cache;
	if (cache->open_count < cache->capacity)
		return;
	size_t round = cache->capacity / 8;
	if (round < 1)
		round = 1;
	if (round > EVICT_ROUND_MAX)
		round = EVICT_ROUND_MAX;
	size_t target = cache->capacity - round; /* open descriptors after the round */
	while (cache->open_count > target) {
		rill_segment *victims[EVICT_ROUND_MAX];
		size_t n = 0;
		size_t want = cache->open_count - target;
		for (rill_segment *v = cache->tail; v != NULL && n < want && n < EVICT_ROUND_MAX; v = v->lru_prev)
			if (v->users == 0 && v->fd >= 0)
				victims[n++] = v;
		if (n == 0)
			return; /* every descriptor is pinned: the cache runs over */
		for (size_t i = 0; i < n; i++)
			if (env->writeback != NULL && has_unsynced(env, victims[i]))
				(void)env->writeback(env->io->ctx, victims[i]->fd, 0); /* the wait reports */
		for (size_t i = 0; i < n; i++) {
			close_files_locked(env, victims[i]);
			atomic_fetch_add(&cache->evictions, 1);
		}
	}
}

int rill__segment_pin(rill_env *env, rill_segment *seg, bool want_map)
{
	rill_file_cache *cache = env->cache;
	int rc = 0;
	pthread_mutex_lock(&cache->lock);
	if (seg->fd < 0) {
		char path[RILL_PATH_MAX];
		rc = rill__segment_path(path, sizeof(path), seg->partition->dir,
		                        seg->base_offset, ".log");
		if (rc != 0)
			goto out;
		evict_if_full(env);
		uint32_t flags = env->readonly ? RILL_O_READ : RILL_O_WRITE;
		int fd = -1;
		int err = env->io->open(env->io->ctx, path, flags, 0644, &fd);
		if (err != 0) {
			rc = rill__io_error(err, "open", path);
			goto out;
		}
		seg->fd = fd;
		cache->open_count++;
	}
	if (want_map && seg->map == NULL && env->io->map != NULL) {
		uint64_t len = seg->map_capacity;
		if (atomic_load(&seg->sealed) || len < seg->file_size)
			len = seg->file_size;
		if (len > 0) {
			void *addr = NULL;
			if (env->io->map(env->io->ctx, seg->fd, len, &addr) == 0) {
				seg->map = addr;
				seg->map_len = len;
			}
			/* A failed mapping is not an error: reads use pread. */
		}
	}
	lru_unlink(cache, seg);
	lru_push_head(cache, seg);
	seg->users++;
out:
	pthread_mutex_unlock(&cache->lock);
	return rc;
}

void rill__segment_unpin(rill_env *env, rill_segment *seg)
{
	pthread_mutex_lock(&env->cache->lock);
	RILL_ASSERT(seg->users > 0);
	seg->users--;
	pthread_mutex_unlock(&env->cache->lock);
}

/* ========================================================= segment lifetime */

int rill__segment_path(char *buf, size_t size, const char *dir, uint64_t base,
                       const char *suffix)
{
	int n = snprintf(buf, size, "%s/%020" PRIu64 "%s", dir, base, suffix);
	if (n < 0 || (size_t)n >= size)
		return rill__error(RILL_EINVAL, "path too long: %s/%020" PRIu64 "%s", dir,
		                   base, suffix);
	return 0;
}

void rill__segment_renew_cache_id(rill_segment *seg)
{
	static _Atomic uint64_t next_cache_id = 1;
	atomic_store(&seg->cache_id, atomic_fetch_add(&next_cache_id, 1));
}

rill_segment *rill__segment_new(struct rill_partition *p, uint64_t base,
                                uint32_t index_max_entries)
{
	rill_segment *seg = rill__calloc(1, sizeof(*seg));
	if (seg == NULL)
		return NULL;
	seg->base_offset = base;
	seg->next_offset = base;
	seg->max_timestamp = -1;
	seg->first_timestamp = -1;
	seg->created_ms = -1;
	seg->partition = p;
	seg->fd = -1;
	seg->index.max_entries = index_max_entries;
	seg->index.running_max_ts = -1;
	atomic_init(&seg->refs, 1);
	rill__segment_renew_cache_id(seg);
	return seg;
}

void rill__segment_ref(rill_segment *seg)
{
	atomic_fetch_add(&seg->refs, 1);
}

void rill__segment_unref(rill_env *env, rill_segment *seg)
{
	if (seg == NULL)
		return;
	int before = atomic_fetch_sub(&seg->refs, 1);
	RILL_ASSERT(before > 0);
	if (before != 1)
		return;
	pthread_mutex_lock(&env->cache->lock);
	close_files_locked(env, seg);
	pthread_mutex_unlock(&env->cache->lock);
	rill__index_free(&seg->index);
	rill__free(seg);
}

/* ============================================================== byte access */

int rill__segment_pread(rill_env *env, rill_segment *seg, uint64_t pos,
                        size_t len, uint8_t **scratch, size_t *scratch_cap,
                        const uint8_t **out)
{
	RILL_ASSERT(seg->users > 0);
	if (*scratch_cap < len) {
		size_t cap = *scratch_cap ? *scratch_cap : 4096;
		while (cap < len)
			cap *= 2;
		uint8_t *grown = rill__realloc(*scratch, cap);
		if (grown == NULL)
			return rill__error(RILL_ENOMEM, "cannot allocate %zu bytes of read buffer", cap);
		*scratch = grown;
		*scratch_cap = cap;
	}
	size_t done = 0;
	int err = env->io->pread(env->io->ctx, seg->fd, *scratch, len, pos, &done);
	if (err != 0) {
		char path[RILL_PATH_MAX];
		rill__segment_path(path, sizeof(path), seg->partition->dir, seg->base_offset, ".log");
		return rill__io_error(err, "read", path);
	}
	if (done < len) {
		return rill__error(RILL_ECORRUPT,
		                   "segment %020" PRIu64 " of %s: short read at position %" PRIu64,
		                   seg->base_offset, seg->partition->dir, pos);
	}
	*out = *scratch;
	return 0;
}

int rill__write_all(const rill_io *io, int fd, const void *buf, size_t len,
                    uint64_t position, const char *path)
{
	size_t written = 0;
	int zero_progress = 0;
	int interrupted = 0;
	while (written < len) {
		size_t done = 0;
		int err = io->pwrite(io->ctx, fd, (const uint8_t *)buf + written,
		                     len - written, position + written, &done);
		/* Retried, but not forever: a table that never stops saying
		 * EINTR would otherwise hang the caller with locks held. */
		if ((err == -EINTR || err == -EAGAIN) && ++interrupted <= 1000)
			continue;
		if (err != 0)
			return rill__io_error(err, "write", path);
		interrupted = 0;
		if (done == 0) {
			/* A write that makes no progress again and again is a full
			 * device that does not say so. */
			if (++zero_progress > 16)
				return rill__error(RILL_EIO, "write %s: no progress", path);
			continue;
		}
		zero_progress = 0;
		written += done;
	}
	return 0;
}

int rill__segment_write(rill_env *env, rill_segment *seg, const void *buf, size_t len,
                        uint64_t position)
{
	/* The path is for the error message only: formatting it on every
	 * append showed up in profiles of one-record appends. */
	int rc = rill__write_all(env->io, seg->fd, buf, len, position, "segment log");
	if (rc != 0) {
		char path[RILL_PATH_MAX];
		rill__segment_path(path, sizeof(path), seg->partition->dir, seg->base_offset, ".log");
		rc = rill__error(rc, "%s: %s", path, rill_errmsg());
	}
	return rc;
}

/* ================================================================= indexes */

int rill__index_reserve(rill_index *index, uint32_t entries)
{
	if (entries <= index->capacity)
		return 0;
	uint32_t cap = index->capacity ? index->capacity : 64;
	while (cap < entries)
		cap = cap > UINT32_MAX / 2 ? entries : cap * 2;
	uint8_t *offsets = rill__realloc(index->offsets, (size_t)cap * RILL_OFFSET_INDEX_ENTRY);
	if (offsets == NULL)
		return rill__error(RILL_ENOMEM, "cannot grow offset index to %u entries", cap);
	index->offsets = offsets;
	uint8_t *times = rill__realloc(index->times, (size_t)cap * RILL_TIME_INDEX_ENTRY);
	if (times == NULL)
		return rill__error(RILL_ENOMEM, "cannot grow time index to %u entries", cap);
	index->times = times;
	index->capacity = cap;
	return 0;
}

static uint32_t entry_rel(const rill_index *index, uint32_t i)
{
	return rill__get_u32(index->offsets + (size_t)i * RILL_OFFSET_INDEX_ENTRY);
}

static uint32_t entry_pos(const rill_index *index, uint32_t i)
{
	return rill__get_u32(index->offsets + (size_t)i * RILL_OFFSET_INDEX_ENTRY + 4);
}

int rill__index_add_last_batch(rill_segment *seg, int64_t max_timestamp)
{
	rill_index *index = &seg->index;
	if (atomic_load(&seg->size) == 0 || index->count == UINT32_MAX)
		return 0;
	if (index->count > 0 && entry_pos(index, index->count - 1) >= seg->last_batch_pos)
		return 0;
	return rill__index_add(index, (uint32_t)(seg->last_batch_base - seg->base_offset),
	                       (uint32_t)seg->last_batch_pos, max_timestamp);
}

static int64_t entry_ts(const rill_index *index, uint32_t i)
{
	return (int64_t)rill__get_u64(index->times + (size_t)i * RILL_TIME_INDEX_ENTRY);
}

int rill__index_add(rill_index *index, uint32_t rel_offset, uint32_t position,
                    int64_t max_timestamp)
{
	int rc = rill__index_reserve(index, index->count + 1);
	if (rc != 0)
		return rc;
	if (index->count > 0) {
		RILL_ASSERT(entry_rel(index, index->count - 1) < rel_offset);
		RILL_ASSERT(entry_pos(index, index->count - 1) < position);
	}
	if (max_timestamp > index->running_max_ts)
		index->running_max_ts = max_timestamp;
	uint8_t *o = index->offsets + (size_t)index->count * RILL_OFFSET_INDEX_ENTRY;
	rill__put_u32(o, rel_offset);
	rill__put_u32(o + 4, position);
	uint8_t *t = index->times + (size_t)index->count * RILL_TIME_INDEX_ENTRY;
	rill__put_u64(t, (uint64_t)index->running_max_ts);
	rill__put_u32(t + 8, rel_offset);
	index->count++;
	index->bytes_since_entry = 0;
	return 0;
}

uint32_t rill__index_lookup_offset(const rill_index *index, uint32_t rel)
{
	uint32_t entry_rel_out = 0;
	return rill__index_lookup_offset_entry(index, rel, &entry_rel_out);
}

uint32_t rill__index_lookup_offset_entry(const rill_index *index, uint32_t rel, uint32_t *out_rel)
{
	/*
	 * Largest entry with rel offset <= rel. Offsets grow nearly in step
	 * with positions in most logs (batches of similar size), so a guess
	 * interpolated from the first and last entries lands on or near the
	 * entry; galloping out from it bounds the binary search to a few
	 * neighbouring entries (one or two cache lines) instead of the ~log2(n)
	 * misses of a plain binary search over a large index, which dominated
	 * random reads. Uneven batches cost a longer gallop, never a wrong
	 * answer: the invariant is entry_rel(lo - 1) <= rel < entry_rel(hi).
	 */
	uint32_t n = index->count, lo = 0, hi = n;
	if (n > 8) {
		uint32_t first = entry_rel(index, 0), last = entry_rel(index, n - 1);
		if (rel < first) {
			hi = 0;
		} else if (rel >= last) {
			lo = n;
		} else {
			uint32_t guess = (uint32_t)((uint64_t)(rel - first) * (n - 1) / (last - first));
			uint32_t step = 1;
			if (entry_rel(index, guess) <= rel) {
				lo = guess + 1; /* gallop up: entry_rel(lo - 1) <= rel */
				while (lo + step < n && entry_rel(index, lo + step) <= rel) {
					lo += step + 1;
					step *= 2;
				}
				hi = lo + step < n ? lo + step : n;
			} else {
				hi = guess; /* gallop down: rel < entry_rel(hi) */
				while (hi > step && entry_rel(index, hi - step) > rel) {
					hi -= step;
					step *= 2;
				}
				lo = hi > step ? hi - step + 1 : 0;
			}
		}
	}
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (entry_rel(index, mid) <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out_rel = lo == 0 ? 0 : entry_rel(index, lo - 1);
	return lo == 0 ? 0 : entry_pos(index, lo - 1);
}

uint32_t rill__index_lookup_time(const rill_index *index, int64_t ts,
                                 uint32_t *out_rel)
{
	/* Last entry whose running max is < ts: every batch up to it is older,
	 * so the first batch reaching ts is at or after it. */
	uint32_t lo = 0, hi = index->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (entry_ts(index, mid) < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		*out_rel = 0;
		return 0;
	}
	*out_rel = entry_rel(index, lo - 1);
	return entry_pos(index, lo - 1);
}

void rill__index_truncate(rill_index *index, uint64_t position)
{
	while (index->count > 0 && entry_pos(index, index->count - 1) >= position)
		index->count--;
	if (index->persisted > index->count)
		index->persisted = index->count;
	index->running_max_ts = index->count > 0 ? entry_ts(index, index->count - 1) : -1;
}

void rill__index_free(rill_index *index)
{
	rill__free(index->offsets);
	rill__free(index->times);
	index->offsets = NULL;
	index->times = NULL;
	index->count = 0;
	index->capacity = 0;
	index->persisted = 0;
	index->files_empty = false;
	index->loaded = false;
}

/* Write bytes to an index file at `position` and fdatasync it. */
static int write_index_file(rill_env *env, const char *path, const uint8_t *data,
                            size_t len, uint64_t position, bool truncate_first)
{
	int fd = -1;
	int err = env->io->open(env->io->ctx, path, RILL_O_WRITE | RILL_O_CREATE, 0644, &fd);
	if (err != 0)
		return rill__io_error(err, "open", path);
	int rc = 0;
	if (truncate_first) {
		err = env->io->ftruncate(env->io->ctx, fd, position);
		if (err != 0) {
			rc = rill__io_error(err, "truncate", path);
			goto out;
		}
	}
	if (len > 0) {
		rc = rill__write_all(env->io, fd, data, len, position, path);
		if (rc != 0)
			goto out;
	}
	err = env->io->fdatasync(env->io->ctx, fd);
	if (err != 0)
		rc = rill__io_error(err, "fdatasync", path);
out:
	env->io->close(env->io->ctx, fd);
	return rc;
}

int rill__index_persist(rill_env *env, rill_segment *seg)
{
	rill_index *index = &seg->index;
	if (env->readonly || !index->loaded)
		return 0;
	uint64_t synced = atomic_load(&seg->synced_size);
	uint32_t upto = index->persisted;
	while (upto < index->count && entry_pos(index, upto) < synced)
		upto++;
	/* A fresh pair is written even empty, so stale bytes go; once only:
	 * an active segment under durability=os has no synced entries at
	 * any checkpoint, and rewriting its empty files each time cost two
	 * fdatasyncs per checkpoint. */
	bool fresh = index->persisted == 0 && !index->files_empty;
	if (upto == index->persisted && !fresh)
		return 0;
	char path[RILL_PATH_MAX];
	int rc = rill__segment_path(path, sizeof(path), seg->partition->dir, seg->base_offset, ".index");
	if (rc != 0)
		return rc;
	uint32_t n = upto - index->persisted;
	/* The files hold exactly `persisted` entries; a fresh pair is cut to
	 * zero first so stale bytes from a rebuilt index cannot linger. */
	/* n == 0 (a fresh, empty pair) may have no arrays at all: NULL + 0 is UB. */
	rc = write_index_file(env, path,
	                      n > 0 ? index->offsets + (size_t)index->persisted * RILL_OFFSET_INDEX_ENTRY : NULL,
	                      (size_t)n * RILL_OFFSET_INDEX_ENTRY,
	                      (uint64_t)index->persisted * RILL_OFFSET_INDEX_ENTRY, fresh);
	if (rc != 0)
		return rc;
	rc = rill__segment_path(path, sizeof(path), seg->partition->dir, seg->base_offset, ".timeindex");
	if (rc != 0)
		return rc;
	rc = write_index_file(env, path,
	                      n > 0 ? index->times + (size_t)index->persisted * RILL_TIME_INDEX_ENTRY : NULL,
	                      (size_t)n * RILL_TIME_INDEX_ENTRY,
	                      (uint64_t)index->persisted * RILL_TIME_INDEX_ENTRY, fresh);
	if (rc != 0)
		return rc;
	index->persisted = upto;
	index->files_empty = upto == 0;
	return 0;
}

/* Read a whole small file into a fresh buffer; -ENOENT passes through. */
static int read_file(rill_env *env, const char *path, uint8_t **out, size_t *out_len,
                     size_t max_len)
{
	int fd = -1;
	int err = env->io->open(env->io->ctx, path, RILL_O_READ, 0, &fd);
	if (err != 0)
		return err == -ENOENT ? -ENOENT : rill__io_error(err, "open", path);
	uint64_t size = 0;
	int rc = 0;
	uint8_t *buf = NULL;
	err = env->io->file_size(env->io->ctx, fd, &size);
	if (err != 0) {
		rc = rill__io_error(err, "stat", path);
		goto out;
	}
	if (size > max_len) {
		rc = rill__error(RILL_ECORRUPT, "%s: %" PRIu64 " bytes, more than %zu", path, size, max_len);
		goto out;
	}
	buf = rill__malloc((size_t)size + 1);
	if (buf == NULL) {
		rc = rill__error(RILL_ENOMEM, "cannot allocate %" PRIu64 " bytes for %s", size, path);
		goto out;
	}
	size_t done = 0;
	err = env->io->pread(env->io->ctx, fd, buf, (size_t)size, 0, &done);
	if (err != 0) {
		rc = rill__io_error(err, "read", path);
		goto out;
	}
	*out = buf;
	*out_len = done;
	buf = NULL;
out:
	rill__free(buf);
	env->io->close(env->io->ctx, fd);
	return rc;
}

/* Check loaded entries against the segment; returns NULL if sane. */
static const char *index_insane(const rill_index *index, const rill_segment *seg)
{
	uint64_t size = atomic_load(&seg->size);
	for (uint32_t i = 0; i < index->count; i++) {
		uint32_t rel = entry_rel(index, i);
		uint32_t pos = entry_pos(index, i);
		if (pos >= size)
			return "entry points past the end of the log";
		if (seg->next_offset > seg->base_offset && rel >= seg->next_offset - seg->base_offset)
			return "entry offset past the end of the segment";
		if (rill__get_u32(index->times + (size_t)i * RILL_TIME_INDEX_ENTRY + 8) != rel)
			return "time index does not match offset index";
		if (i > 0) {
			if (rel <= entry_rel(index, i - 1) || pos <= entry_pos(index, i - 1))
				return "entries not increasing";
			if (entry_ts(index, i) < entry_ts(index, i - 1))
				return "timestamps decreasing";
		}
	}
	return NULL;
}

static int index_load(rill_env *env, rill_segment *seg, uint64_t index_interval, bool rebuild);

int rill__index_load(rill_env *env, rill_segment *seg, uint64_t index_interval)
{
	return index_load(env, seg, index_interval, true);
}

int rill__index_load_files(rill_env *env, rill_segment *seg)
{
	return index_load(env, seg, 0, false);
}

static int index_load(rill_env *env, rill_segment *seg, uint64_t index_interval, bool rebuild)
{
	rill_index *index = &seg->index;
	if (index->loaded)
		return 0;
	char path[RILL_PATH_MAX];
	uint8_t *offsets = NULL, *times = NULL;
	size_t offsets_len = 0, times_len = 0;
	const char *why = NULL;
	int rc = rill__segment_path(path, sizeof(path), seg->partition->dir, seg->base_offset, ".index");
	if (rc != 0)
		return rc;
	size_t max_len = (size_t)(index->max_entries + 1) * RILL_TIME_INDEX_ENTRY;
	rc = read_file(env, path, &offsets, &offsets_len, max_len);
	bool absent = false;
	if (rc == -ENOENT) {
		/* A new segment's index files are written with its first
		 * entries, not before: both absent are an empty pair. */
		rc = rill__segment_path(path, sizeof(path), seg->partition->dir, seg->base_offset, ".timeindex");
		if (rc != 0)
			goto out;
		int type = 0;
		absent = env->io->stat(env->io->ctx, path, &type) == -ENOENT;
		if (!absent)
			why = "missing";
	} else if (rc == RILL_ECORRUPT) {
		why = "too large";
		rc = 0;
	} else if (rc != 0) {
		goto out;
	}
	if (why == NULL && !absent) {
		rc = rill__segment_path(path, sizeof(path), seg->partition->dir, seg->base_offset, ".timeindex");
		if (rc != 0)
			goto out;
		rc = read_file(env, path, &times, &times_len, max_len);
		if (rc == -ENOENT) {
			why = "time index missing";
			rc = 0;
		} else if (rc == RILL_ECORRUPT) {
			why = "time index too large";
			rc = 0;
		} else if (rc != 0) {
			goto out;
		}
	}
	if (why == NULL) {
		if (offsets_len % RILL_OFFSET_INDEX_ENTRY != 0 || times_len % RILL_TIME_INDEX_ENTRY != 0)
			why = "size not a multiple of the entry size";
		else if (offsets_len / RILL_OFFSET_INDEX_ENTRY != times_len / RILL_TIME_INDEX_ENTRY)
			why = "offset and time index differ in length";
		else if (offsets_len == 0 && atomic_load(&seg->size) > index_interval && index_interval > 0)
			why = "empty for a non-empty segment";
		else if (offsets_len == 0 && atomic_load(&seg->size) > 0 && atomic_load(&seg->sealed))
			/* a roll gives a sealed segment's last batch an entry
			 * (its max timestamp, which retention reads); stores
			 * from before rolls did so for a lone batch at position
			 * 0 rebuild such an index once */
			why = "without the entry of a sealed segment's last batch";
	}
	if (why == NULL) {
		rill__index_free(index);
		index->offsets = offsets;
		index->times = times;
		offsets = times = NULL;
		index->count = index->capacity = (uint32_t)(offsets_len / RILL_OFFSET_INDEX_ENTRY);
		index->persisted = index->count;
		/* Empty files need no cut (unclean opens reset this: there the
		 * length read need not be the one on stable storage). */
		index->files_empty = index->count == 0;
		why = index_insane(index, seg);
		if (why == NULL) {
			index->running_max_ts = index->count > 0 ? entry_ts(index, index->count - 1) : -1;
			index->loaded = true;
			goto out;
		}
		rill__index_free(index);
	}
	/* Rebuild from the log: a hint that is wrong must not be trusted. */
	rill__log(&env->logger, RILL_LOG_WARN, "index of segment %020" PRIu64 " in %s %s: rebuilding",
	          seg->base_offset, seg->partition->dir, why);
	if (!rebuild) {
		rc = RILL_ECORRUPT; /* the caller rebuilds as part of recovery */
		goto out;
	}
	index->running_max_ts = -1;
	index->bytes_since_entry = 0;
	index->loaded = true;
	rill_scan scan;
	rc = rill__segment_scan(env, seg, 0, seg->base_offset, atomic_load(&seg->size),
	                        seg->partition->partition_key, index, index_interval, &scan);
	if (rc != 0)
		goto fail;
	if (scan.valid_end != atomic_load(&seg->size)) {
		rc = rill__error(RILL_ECORRUPT,
		                 "partition %s segment %020" PRIu64 " position %" PRIu64 " offset %" PRIu64 ": %s",
		                 seg->partition->dir, seg->base_offset, scan.valid_end, scan.next_offset,
		                 scan.stop_reason);
		goto fail;
	}
	if (atomic_load(&seg->sealed)) {
		rc = rill__index_add_last_batch(seg, scan.max_timestamp);
		if (rc != 0)
			goto fail;
	}
	/* The files are rewritten from scratch at the next persist. */
	index->persisted = 0;
	index->files_empty = false;
	if (!env->readonly && atomic_load(&seg->sealed)) {
		rc = rill__index_persist(env, seg);
		if (rc != 0)
			goto fail;
	}
	goto out;
fail:
	rill__index_free(index);
out:
	rill__free(offsets);
	rill__free(times);
	return rc;
}

/* ================================================================ scanning */

int rill__segment_scan(rill_env *env, rill_segment *seg, uint64_t position,
                       uint64_t expect_offset, uint64_t end, uint64_t partition_key,
                       rill_index *index, uint64_t index_interval, rill_scan *scan)
{
	uint8_t *scratch = NULL;
	size_t scratch_cap = 0;
	int rc = rill__segment_pin(env, seg, true);
	if (rc != 0)
		return rc;
	memset(scan, 0, sizeof(*scan));
	scan->max_timestamp = -1;
	scan->first_timestamp = -1;
	uint64_t pos = position;
	uint64_t next = expect_offset;
	while (pos < end) {
		const uint8_t *p = NULL;
		rill_batch_header h;
		if (end - pos < RILL_BATCH_HEADER_SIZE) {
			snprintf(scan->stop_reason, sizeof(scan->stop_reason),
			         "%" PRIu64 " trailing bytes, too few for a batch header", end - pos);
			scan->stop_error = RILL_ECORRUPT;
			break;
		}
		rc = rill__segment_bytes(env, seg, pos, RILL_BATCH_HEADER_SIZE, &scratch, &scratch_cap, &p);
		if (rc != 0)
			goto out;
		rc = rill__batch_parse_header(p, RILL_BATCH_HEADER_SIZE, end - pos, &h);
		if (rc != 0) {
			snprintf(scan->stop_reason, sizeof(scan->stop_reason), "%s", rill_errmsg());
			scan->stop_error = rc;
			rc = 0;
			break;
		}
		if (h.base_offset != next) {
			snprintf(scan->stop_reason, sizeof(scan->stop_reason),
			         "batch base offset %" PRIu64 ", expected %" PRIu64, h.base_offset, next);
			scan->stop_error = RILL_ECORRUPT;
			break;
		}
		uint64_t total = rill__batch_total_size(&h);
		if (h.base_offset - seg->base_offset + h.last_offset_delta > UINT32_MAX ||
		    pos + total > UINT32_MAX) {
			snprintf(scan->stop_reason, sizeof(scan->stop_reason),
			         "batch does not fit the segment's 32-bit index");
			scan->stop_error = RILL_ECORRUPT;
			break;
		}
		rc = rill__segment_bytes(env, seg, pos, (size_t)total, &scratch, &scratch_cap, &p);
		if (rc != 0)
			goto out;
		rc = rill__batch_verify(p, (size_t)total, partition_key);
		if (rc != 0) {
			snprintf(scan->stop_reason, sizeof(scan->stop_reason), "%s", rill_errmsg());
			scan->stop_error = rc;
			rc = 0;
			break;
		}
		if (index != NULL) {
			if (index_interval == 0 || index->bytes_since_entry >= index_interval) {
				if (index->count < index->max_entries) {
					rc = rill__index_add(index, (uint32_t)(h.base_offset - seg->base_offset),
					                     (uint32_t)pos, h.max_timestamp);
					if (rc != 0)
						goto out;
				}
			} else if (h.max_timestamp > index->running_max_ts) {
				index->running_max_ts = h.max_timestamp;
			}
			index->bytes_since_entry += total;
		}
		if (scan->first_timestamp < 0 && scan->batches == 0)
			scan->first_timestamp = h.first_timestamp;
		if (h.max_timestamp > scan->max_timestamp)
			scan->max_timestamp = h.max_timestamp;
		seg->last_batch_pos = pos;
		seg->last_batch_base = h.base_offset;
		scan->batches++;
		pos += total;
		next = h.base_offset + h.last_offset_delta + 1;
	}
out:
	scan->valid_end = pos;
	scan->next_offset = next;
	rill__free(scratch);
	rill__segment_unpin(env, seg);
	return rc;
}
