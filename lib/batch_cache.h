/*
 * batch_cache.h — checked, decoded copies of record batches, for reads that
 * land in the middle of a batch. See batch_cache.c for the design.
 */
#ifndef RILL_BATCH_CACHE_H
#define RILL_BATCH_CACHE_H

#include <pthread.h>
#include <stdatomic.h>

#include "batch.h"

/* One cached batch, in the cache's arena: the struct, then the record
 * starts, then the records section. Immutable while linked: readers use it
 * without the cache lock, holding a reference. */
typedef struct rill_cached_batch {
	/* key: where the batch is */
	uint64_t segment_id;          /* the segment's cache_id */
	uint64_t position;            /* of the batch in the segment */
	uint64_t checksum;            /* what the batch there was (its header's) */
	rill_batch_header header;     /* records_size: bytes of `section` */
	uint64_t stored_size;         /* the batch's bytes in the log */
	uint32_t *record_starts;      /* record i begins at section + record_starts[i] */
	uint8_t *section;             /* the records section, decompressed */
	bool timestamps_sorted;       /* record timestamps never decrease */
	/* Where record i most likely starts, to fetch its lines alongside
	 * its start (rill__cached_batch_prefetch_record): i * record_stride
	 * / 65536, off by at most stride_slack bytes; no guess when the
	 * records' sizes vary more than RILL_STRIDE_SLACK_MAX. */
	uint64_t record_stride;       /* bytes per record, 16.16 fixed point */
	uint32_t stride_slack;
	/* cache state (cache lock) */
	size_t start;                 /* position in the arena */
	size_t size;                  /* bytes it takes there */
	_Atomic int refs;             /* readers holding it, or the reader filling it;
	                               * raised under the lock, dropped without it */
	bool linked;                  /* in the table: readers can find it */
	struct rill_cached_batch *hash_next;
	struct rill_cached_batch *prev, *next; /* every entry in the arena, by position */
} rill_cached_batch;

typedef struct rill_batch_cache {
	pthread_mutex_t lock;
	rill_cached_batch **buckets;  /* NULL: the cache is off */
	size_t bucket_mask;
	uint8_t *arena;               /* capacity bytes, mapped at init, touched as used */
	size_t capacity;
	void *mapping;                /* the arena's mapping (aligned inside) */
	size_t mapping_size;
	rill_cached_batch *first, *last; /* entries by position */
	size_t cursor;                /* where the next entry goes */
	rill_cached_batch *after;     /* first entry at or past the cursor, or NULL */
	uint64_t bytes;               /* of linked entries */
	uint64_t entries;             /* linked entries */
	uint64_t hits, misses;
} rill_batch_cache;

/* capacity 0: off (every call below is then a cheap no-op or a miss). */
int rill__batch_cache_init(rill_batch_cache *cache, size_t capacity);
/* Unmaps the arena; no entry may be held by a reader. */
void rill__batch_cache_destroy(rill_batch_cache *cache);

static inline bool rill__batch_cache_enabled(const rill_batch_cache *cache)
{
	return cache != NULL && cache->buckets != NULL;
}

/* The entry for the batch at this place with a reference taken (a hit),
 * or NULL. */
rill_cached_batch *rill__batch_cache_get(rill_batch_cache *cache, uint64_t segment_id,
                                         uint64_t position);
/* Room for an entry holding the batch with header `h` (key fields and
 * header filled, arrays placed, not linked, held by the caller), evicting
 * the oldest entries to make it. NULL when the batch is too large to cache
 * (above an eighth of the capacity) or held entries leave no room: the
 * caller reads it uncached. Counts a miss either way. */
rill_cached_batch *rill__batch_cache_reserve(rill_batch_cache *cache, uint64_t segment_id,
                                             uint64_t position, const rill_batch_header *h,
                                             uint64_t stored_size);
/* Give back a reserved entry that was not filled (the batch was corrupt
 * or memory short). */
void rill__batch_cache_discard(rill_batch_cache *cache, rill_cached_batch *entry);
/* Link a filled entry; returns it with a reference for the caller, or,
 * when another reader inserted the same batch first, that entry (with a
 * reference) after discarding this one. An entry at the same place with
 * another checksum (bytes a writer process cut and wrote again, seen by a
 * read-only store) is replaced. */
rill_cached_batch *rill__batch_cache_insert(rill_batch_cache *cache, rill_cached_batch *entry);
/* Most records of a batch are near one size (a log of one kind of event):
 * a cached batch then predicts where record i lies within a few lines.
 * Fetching those lines while its start is still being loaded makes a point
 * read wait for one cache miss instead of two in a row (its start, then
 * the record), and for the record's last byte, read last, too. Larger
 * deviations guess nothing: the lines would be wasted bandwidth. */
#define RILL_STRIDE_SLACK_MAX 128u
#define RILL_STRIDE_NONE UINT32_MAX

static inline void rill__cached_batch_prefetch_record(const rill_cached_batch *e, uint32_t index)
{
	if (e->stride_slack == RILL_STRIDE_NONE)
		return;
	uintptr_t section = (uintptr_t)e->section;
	uintptr_t first = section + (uintptr_t)(((uint64_t)index * e->record_stride) >> 16);
	uintptr_t end = section + (uintptr_t)(((uint64_t)(index + 1) * e->record_stride) >> 16);
	uintptr_t lo = (first > section + e->stride_slack ? first - e->stride_slack : section) & ~(uintptr_t)63;
	uintptr_t hi = end + e->stride_slack;
	if (hi - lo > 8 * 64) {
		/* A long record: its start (the header) and its end (read
		 * last), not the value between. */
		for (uintptr_t a = lo; a < first + e->stride_slack + 64; a += 64)
			__builtin_prefetch((const void *)a);
		lo = (end - e->stride_slack - 1) & ~(uintptr_t)63;
	}
	for (uintptr_t a = lo; a < hi; a += 64)
		__builtin_prefetch((const void *)a);
}

/* Drop a reference from get or insert. */
void rill__batch_cache_release(rill_batch_cache *cache, rill_cached_batch *entry);

typedef struct rill_batch_cache_stats {
	uint64_t bytes, entries, hits, misses;
} rill_batch_cache_stats;
void rill__batch_cache_stats(rill_batch_cache *cache, rill_batch_cache_stats *out);

#endif /* RILL_BATCH_CACHE_H */
