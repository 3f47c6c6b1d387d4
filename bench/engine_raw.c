/*
 * engine_raw.c — the physical limit: one plain file per partition holding
 * length-prefixed, checksummed records, written with pwrite.
 *
 * Record frame (little endian):
 *   u32 length | u64 XXH3_64bits(payload) | payload
 * A zero length ends the log (the preallocated file is zero-filled).
 *
 * Two variants:
 *   raw     the file grows with every write (block allocation and a
 *           metadata update with every fdatasync of new size)
 *   rawpre  the file is preallocated (fallocate) and pre-zeroed at open, so
 *           writes land on allocated, written blocks and fdatasync flushes
 *           data only; past the preallocated size it grows like raw
 *
 * Durable appends (params.durable) use group commit, as any serious log
 * would: a writer pwrites its batch under the partition lock, then either
 * becomes the syncer (fdatasync covering everything written so far) or
 * waits for the current sync to cover it. One producer = one fdatasync per
 * call. The syncer first waits, at most half its last fdatasync, for as
 * many writers as shared the last sync to be back (the gather rill does
 * too, lib/partition.c): without it a sync covers only the writers that
 * wrote while the previous one ran, about half of them, and the physical
 * limit would be set by a weaker design than the engine measured
 * against it. Non-durable appends reserve their position under the lock and
 * pwrite outside it.
 *
 * Random reads use an offset index: the file position of each record (u64),
 * kept in memory while writing and written to p<N>.idx at close; readers
 * mmap both files, so a lookup is two loads and a checksum.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#define FRAME_HEADER 12u

typedef struct raw_part {
	pthread_mutex_t lock;   /* position, index, group commit state */
	pthread_cond_t synced_cond;
	int fd;                 /* data file */
	uint64_t end;           /* next write position */
	uint64_t capacity;      /* preallocated bytes (0: growing) */
	uint64_t *index;        /* file position per offset */
	uint64_t index_count;   /* records */
	uint64_t index_cap;     /* entries allocated */
	uint64_t written_seq;   /* batches written */
	uint64_t synced_seq;    /* batches covered by a finished fdatasync */
	int syncing;            /* a writer leads a sync (gathering or in fdatasync) */
	pthread_cond_t gather_cond; /* the last arrival of a group wakes its syncer */
	int gathering;          /* the syncer waits for its group */
	int arrived;            /* writers waiting for a sync not yet started */
	int group_expect;       /* writers that shared the last sync */
	int64_t last_sync_ns;   /* duration of the last fdatasync */
	int failed;             /* a write or sync failed: refuse appends */
} raw_part;

typedef struct raw_engine {
	char dir[4096];
	int partitions;
	int durable;
	int prealloc;
	uint64_t syncs;        /* fdatasyncs done (under part locks) */
	raw_part *part;
} raw_engine;

typedef struct raw_handle {
	raw_engine *e;
	uint8_t *buf;          /* encoded batch */
	size_t buf_cap;
	/* reads */
	const uint8_t *map;    /* data file mapping of the partition read last */
	size_t map_len;
	const uint64_t *idx;   /* index mapping or the in-memory index */
	size_t idx_len_bytes;  /* mapped index bytes (0: in-memory) */
	uint64_t idx_count;
	int map_part;          /* partition mapped, -1 none */
} raw_handle;

static int write_all(int fd, const void *buf, size_t len, uint64_t pos)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			engine_set_errmsg("pwrite: %s", strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
		pos += (uint64_t)n;
	}
	return 0;
}

static int prezero(int fd, uint64_t size)
{
	if (posix_fallocate(fd, 0, (off_t)size) != 0) {
		engine_set_errmsg("fallocate %llu bytes failed", (unsigned long long)size);
		return -1;
	}
	size_t chunk = 1u << 20;
	uint8_t *zero = calloc(1, chunk);
	if (zero == NULL)
		return -1;
	int rc = 0;
	for (uint64_t pos = 0; pos < size && rc == 0; pos += chunk) {
		size_t n = size - pos < chunk ? (size_t)(size - pos) : chunk;
		rc = write_all(fd, zero, n, pos);
	}
	free(zero);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -1;
	return rc;
}

/* End of the log in a file: walk the frames (used on reopen). */
static uint64_t find_end(int fd, const uint64_t *idx, uint64_t count)
{
	if (count == 0)
		return 0;
	uint8_t h[4];
	uint64_t pos = idx[count - 1];
	if (pread(fd, h, 4, (off_t)pos) != 4)
		return pos;
	uint32_t len;
	memcpy(&len, h, 4);
	return pos + FRAME_HEADER + len;
}

static int raw_open_common(void **out, const engine_params *p, int prealloc)
{
	raw_engine *e = calloc(1, sizeof *e);
	if (e == NULL)
		return -1;
	snprintf(e->dir, sizeof e->dir, "%s", p->dir);
	e->partitions = p->partitions;
	e->durable = p->durable;
	e->prealloc = prealloc;
	e->part = calloc((size_t)p->partitions, sizeof *e->part);
	if (e->part == NULL || bench_mkdirs(p->dir) != 0) {
		engine_set_errmsg("raw: cannot create %s", p->dir);
		free(e->part);
		free(e);
		return -1;
	}
	for (int i = 0; i < p->partitions; i++) {
		raw_part *rp = &e->part[i];
		pthread_mutex_init(&rp->lock, NULL);
		pthread_cond_init(&rp->synced_cond, NULL);
		pthread_condattr_t monotonic;
		pthread_condattr_init(&monotonic);
		pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
		pthread_cond_init(&rp->gather_cond, &monotonic);
		pthread_condattr_destroy(&monotonic);
		char path[4200];
		snprintf(path, sizeof path, "%s/p%d.log", p->dir, i);
		rp->fd = open(path, O_RDWR | O_CREAT | (p->reopen ? 0 : O_TRUNC), 0644);
		if (rp->fd < 0) {
			engine_set_errmsg("open %s: %s", path, strerror(errno));
			return -1;
		}
		if (p->reopen) {
			snprintf(path, sizeof path, "%s/p%d.idx", p->dir, i);
			int ifd = open(path, O_RDONLY);
			struct stat st;
			if (ifd >= 0 && fstat(ifd, &st) == 0 && st.st_size > 0) {
				rp->index_count = (uint64_t)st.st_size / 8;
				rp->index_cap = rp->index_count;
				rp->index = malloc((size_t)st.st_size);
				if (rp->index == NULL ||
				    pread(ifd, rp->index, (size_t)st.st_size, 0) != st.st_size) {
					engine_set_errmsg("read %s failed", path);
					close(ifd);
					return -1;
				}
			}
			if (ifd >= 0)
				close(ifd);
			rp->end = find_end(rp->fd, rp->index, rp->index_count);
			continue;
		}
		rp->index_cap = p->records_hint / (uint64_t)p->partitions + 1024;
		rp->index = malloc(rp->index_cap * sizeof *rp->index);
		if (rp->index == NULL)
			return -1;
		if (prealloc && p->prealloc_bytes > 0) {
			rp->capacity = p->prealloc_bytes;
			if (prezero(rp->fd, rp->capacity) != 0)
				return -1;
		}
	}
	*out = e;
	return 0;
}

static int raw_open(void **out, const engine_params *p)
{
	return raw_open_common(out, p, 0);
}

static int rawpre_open(void **out, const engine_params *p)
{
	return raw_open_common(out, p, 1);
}

static int raw_close(void *engine)
{
	raw_engine *e = engine;
	int rc = 0;
	for (int i = 0; i < e->partitions; i++) {
		raw_part *rp = &e->part[i];
		if (rp->fd >= 0) {
			if (fdatasync(rp->fd) != 0)
				rc = -1;
			close(rp->fd);
		}
		char path[4200];
		snprintf(path, sizeof path, "%s/p%d.idx", e->dir, i);
		int ifd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (ifd >= 0) {
			if (write_all(ifd, rp->index, rp->index_count * 8, 0) != 0 ||
			    fdatasync(ifd) != 0)
				rc = -1;
			close(ifd);
		}
		free(rp->index);
		pthread_mutex_destroy(&rp->lock);
		pthread_cond_destroy(&rp->synced_cond);
		pthread_cond_destroy(&rp->gather_cond);
	}
	free(e->part);
	free(e);
	return rc;
}

static int raw_handle_open(void **out, void *engine, int for_read)
{
	(void)for_read;
	raw_handle *h = calloc(1, sizeof *h);
	if (h == NULL)
		return -1;
	h->e = engine;
	h->map_part = -1;
	*out = h;
	return 0;
}

static void unmap(raw_handle *h)
{
	if (h->map != NULL)
		munmap((void *)(uintptr_t)h->map, h->map_len);
	h->map = NULL;
	h->map_part = -1;
}

static void raw_handle_close(void *handle)
{
	raw_handle *h = handle;
	unmap(h);
	free(h->buf);
	free(h);
}

static int index_push(raw_part *rp, uint64_t pos)
{
	if (rp->index_count == rp->index_cap) {
		uint64_t cap = rp->index_cap * 2 + 1024;
		uint64_t *n = realloc(rp->index, cap * sizeof *n);
		if (n == NULL)
			return -1;
		rp->index = n;
		rp->index_cap = cap;
	}
	rp->index[rp->index_count++] = pos;
	return 0;
}

/* The syncer's wait for its group (lock held, rp->syncing set): until as
 * many writers as shared the last sync have written again, or half the
 * last fdatasync has passed; a timeout shrinks the group to who came. */
static void gather(raw_part *rp)
{
	if (rp->group_expect <= 1 || rp->arrived >= rp->group_expect || rp->last_sync_ns <= 0)
		return;
	int64_t wait_ns = rp->last_sync_ns / 2;
	if (wait_ns > 500000)
		wait_ns = 500000;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += (long)wait_ns;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	rp->gathering = 1;
	while (rp->arrived < rp->group_expect) {
		if (pthread_cond_timedwait(&rp->gather_cond, &rp->lock, &deadline) == ETIMEDOUT) {
			rp->group_expect = rp->arrived;
			break;
		}
	}
	rp->gathering = 0;
}

static int raw_append(void *handle, int partition, const bench_rec *recs, size_t n)
{
	raw_handle *h = handle;
	raw_engine *e = h->e;
	raw_part *rp = &e->part[partition];
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += FRAME_HEADER + recs[i].len;
	if (bytes > h->buf_cap) {
		free(h->buf);
		h->buf_cap = bytes * 2;
		h->buf = malloc(h->buf_cap);
		if (h->buf == NULL)
			return -1;
	}
	uint8_t *w = h->buf;
	for (size_t i = 0; i < n; i++) {
		uint32_t len = (uint32_t)recs[i].len;
		uint64_t sum = XXH3_64bits(recs[i].value, recs[i].len);
		memcpy(w, &len, 4);
		memcpy(w + 4, &sum, 8);
		memcpy(w + FRAME_HEADER, recs[i].value, len);
		w += FRAME_HEADER + len;
	}
	pthread_mutex_lock(&rp->lock);
	if (rp->failed) {
		pthread_mutex_unlock(&rp->lock);
		return -1;
	}
	uint64_t pos = rp->end;
	rp->end += bytes;
	uint64_t p = pos;
	for (size_t i = 0; i < n; i++) {
		if (index_push(rp, p) != 0) {
			pthread_mutex_unlock(&rp->lock);
			return -1;
		}
		p += FRAME_HEADER + recs[i].len;
	}
	if (!e->durable) {
		pthread_mutex_unlock(&rp->lock);
		return write_all(rp->fd, h->buf, bytes, pos);
	}
	int rc = write_all(rp->fd, h->buf, bytes, pos);
	if (rc != 0) {
		rp->failed = 1;
		pthread_mutex_unlock(&rp->lock);
		return rc;
	}
	uint64_t mine = ++rp->written_seq;
	rp->arrived++;
	if (rp->gathering && rp->arrived >= rp->group_expect)
		pthread_cond_signal(&rp->gather_cond);
	while (rp->synced_seq < mine && !rp->failed) {
		if (rp->syncing) {
			pthread_cond_wait(&rp->synced_cond, &rp->lock);
			continue;
		}
		rp->syncing = 1;
		gather(rp);
		int covered = rp->arrived;
		rp->arrived = 0;
		uint64_t target = rp->written_seq;
		pthread_mutex_unlock(&rp->lock);
		int64_t t0 = (int64_t)bench_now_ns();
		int s = fdatasync(rp->fd);
		int64_t took = (int64_t)bench_now_ns() - t0;
		pthread_mutex_lock(&rp->lock);
		rp->syncing = 0;
		rp->last_sync_ns = took;
		if (covered + rp->arrived > rp->group_expect)
			rp->group_expect = covered + rp->arrived;
		e->syncs++;
		if (s != 0) {
			rp->failed = 1;
			engine_set_errmsg("fdatasync: %s", strerror(errno));
		} else {
			rp->synced_seq = target;
		}
		pthread_cond_broadcast(&rp->synced_cond);
	}
	rc = rp->failed ? -1 : 0;
	pthread_mutex_unlock(&rp->lock);
	return rc;
}

/* Map the partition's data file and use its index (reads happen after the
 * writes of a phase are complete). */
static int map_part(raw_handle *h, int partition)
{
	if (h->map_part == partition)
		return 0;
	unmap(h);
	raw_part *rp = &h->e->part[partition];
	if (rp->end == 0) {
		h->idx = rp->index;
		h->idx_count = 0;
		h->map_part = partition;
		return 0;
	}
	void *m = mmap(NULL, rp->end, PROT_READ, MAP_SHARED, rp->fd, 0);
	if (m == MAP_FAILED) {
		engine_set_errmsg("mmap: %s", strerror(errno));
		return -1;
	}
	h->map = m;
	h->map_len = rp->end;
	h->idx = rp->index;
	h->idx_count = rp->index_count;
	h->map_part = partition;
	return 0;
}

static int raw_scan(void *handle, int partition, uint64_t *out_records,
                    uint64_t *out_bytes)
{
	raw_handle *h = handle;
	if (map_part(h, partition) != 0)
		return -1;
	madvise((void *)(uintptr_t)h->map, h->map_len, MADV_SEQUENTIAL);
	const uint8_t *p = h->map, *end = h->map + h->map_len;
	uint64_t records = 0, bytes = 0;
	while (p + FRAME_HEADER <= end) {
		uint32_t len;
		uint64_t sum;
		memcpy(&len, p, 4);
		if (len == 0 || p + FRAME_HEADER + len > end)
			break;
		memcpy(&sum, p + 4, 8);
		if (XXH3_64bits(p + FRAME_HEADER, len) != sum) {
			engine_set_errmsg("raw: checksum mismatch at %zu",
			                  (size_t)(p - h->map));
			return -1;
		}
		records++;
		bytes += len;
		p += FRAME_HEADER + len;
	}
	*out_records = records;
	*out_bytes = bytes;
	return 0;
}

static int raw_get(void *handle, int partition, uint64_t offset, size_t *out_len)
{
	raw_handle *h = handle;
	if (map_part(h, partition) != 0)
		return -1;
	if (offset >= h->idx_count) {
		engine_set_errmsg("raw: offset %llu out of range", (unsigned long long)offset);
		return -1;
	}
	const uint8_t *p = h->map + h->idx[offset];
	uint32_t len;
	uint64_t sum;
	memcpy(&len, p, 4);
	memcpy(&sum, p + 4, 8);
	if (XXH3_64bits(p + FRAME_HEADER, len) != sum) {
		engine_set_errmsg("raw: checksum mismatch at offset %llu",
		                  (unsigned long long)offset);
		return -1;
	}
	*out_len = len;
	return 0;
}

static uint64_t raw_syncs(void *engine)
{
	return ((raw_engine *)engine)->syncs;
}

const engine_ops engine_raw = {
	.name = "raw",
	.summary = "plain file per partition, u32 length + XXH3-64 + payload, pwrite; "
	           "durable: fdatasync per commit (group commit); reads: mmap + offset index",
	.open = raw_open,
	.close = raw_close,
	.handle_open = raw_handle_open,
	.handle_close = raw_handle_close,
	.append = raw_append,
	.scan = raw_scan,
	.get = raw_get,
	.ts_lookup = NULL,
	.syncs = raw_syncs,
	.zero_copy = NULL,
};

const engine_ops engine_rawpre = {
	.name = "rawpre",
	.summary = "as raw, but the file is fallocated and pre-zeroed at open "
	           "(fdatasync then flushes data only)",
	.open = rawpre_open,
	.close = raw_close,
	.handle_open = raw_handle_open,
	.handle_close = raw_handle_close,
	.append = raw_append,
	.scan = raw_scan,
	.get = raw_get,
	.ts_lookup = NULL,
	.syncs = raw_syncs,
	.zero_copy = NULL,
};
