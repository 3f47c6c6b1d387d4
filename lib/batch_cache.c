/*
 * batch_cache.c — checked, decoded copies of record batches, for reads that
 * land in the middle of a batch (RocksDB's block cache, for rill's batches).
 *
 * Why it exists: a record is returned only from a batch whose checksum
 * checked out, and the checksum covers the whole batch. Reading one record
 * of a 1000-record batch therefore hashes ~100 KB and decodes the records
 * before it, about 8 us, where reading a one-record batch costs 0.6 us.
 * Kafka pays the same (and leaves the check to its consumers); RocksDB keeps
 * checked, uncompressed blocks in memory. So does this cache: a reader that
 * seeks to a record other than the first of its batch takes the batch from
 * here; on a miss it checks the batch once, copies its records section
 * (decompressed, for zstd) here and notes where every record starts. The
 * next read of any record of that batch is a hash lookup and the decode of
 * one record. Reads that start at a batch's first record (scans, tailing,
 * one-record batches) never fill it: they check each batch once anyway (a
 * seek to a first record takes the batch from here if it is already here).
 * Lookups by timestamp do (partition.c): the record they want is anywhere
 * in its batch, and an entry notes whether the batch's timestamps never
 * decrease, so such a batch is searched by halves.
 *
 * Keys are places: (segment, position). A segment's cache name is unique
 * in the process and renewed if its published bytes are ever cut and
 * written again, so an entry is always the batch at its place; one whose
 * segment retention deleted, or whose topic was deleted, is never asked
 * for again and ages out. Keyed by place, a hit needs nothing from the log
 * but the offset index the reader positions with: not even the batch's
 * header, a cache and TLB miss saved on every read. A read-only store (a
 * writer in another process may cut and rewrite its tail after a crash)
 * reads the header at the place and compares the checksum first.
 *
 * Where a record lies: a point read loads its record start, then the
 * record, two cache misses in a row. When the batch's records are near one
 * size (most logs: one kind of event), the entry notes the stride that fits
 * the starts and how far the worst start lies from it, and the reader
 * fetches the record's likely lines while its start loads
 * (rill__cached_batch_prefetch_record): one miss's wait instead of two.
 *
 * A copy, not a mark: remembering "the batch at this position checked out"
 * would keep trusting bytes the page cache may drop and read from disk
 * again, and a damaged block read back would then go unnoticed.
 *
 * Memory: one arena of the capacity, mapped at open and touched only as
 * entries fill it, in 2 MiB huge pages where the kernel gives them (a point
 * read touches an entry, its record start and the record: with 4 KiB pages
 * each is also a TLB miss). Entries are written one after another at a
 * cursor that wraps around, evicting whatever it runs into, oldest first
 * (FIFO: a hit moves nothing; it takes the lock to find the entry and
 * count a reference, and letting go is one atomic decrement). So the cache never allocates after open, however many
 * misses, and never fragments. An entry a reader still holds (its records
 * point into it) is not overwritten: it leaves the table and the cursor
 * steps over it, this lap and any later one, until it is let go. A batch
 * above an eighth of the capacity is not cached, so one huge batch cannot
 * empty the cache.
 *
 * Thread safety: one mutex guards the table, the arena's order, the
 * counters and the reference counts; it is held for lookups, placement and
 * linking only, never while a batch is copied, checked or decoded.
 */
#include "batch_cache.h"

#include <errno.h>
#include <stdalign.h>
#include <sys/mman.h>
#include <unistd.h>

#define BYTES_PER_BUCKET (16u << 10) /* about one 16 KiB batch per bucket */
#define BUCKETS_MIN 64u
#define BUCKETS_MAX (1u << 20)

static size_t bucket_of(const rill_batch_cache *c, uint64_t segment_id, uint64_t position)
{
	uint64_t h = (segment_id * 0x9e3779b97f4a7c15u) ^ (position * 0xc2b2ae3d27d4eb4fu);
	h ^= h >> 31;
	return (size_t)h & c->bucket_mask;
}

#define HUGE_PAGE (2u << 20)
#define ENTRY_ALIGN 64u /* entries start on a cache line */

int rill__batch_cache_init(rill_batch_cache *c, size_t capacity)
{
	RILL_ASSERT(capacity <= SIZE_MAX / 2); /* rill_store_open refuses more: rounding cannot wrap */
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	if (capacity == 0)
		return 0;
	/* Whole huge pages from 2 MiB up; below that, whole pages. */
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t unit = capacity >= HUGE_PAGE ? HUGE_PAGE : page;
	capacity = (capacity + unit - 1) / unit * unit;
	/* Mapped with room to align the arena on a huge page. */
	size_t mapping_size = capacity + (unit == HUGE_PAGE ? HUGE_PAGE : 0);
	void *mapping = mmap(NULL, mapping_size, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mapping == MAP_FAILED) {
		pthread_mutex_destroy(&c->lock);
		return rill__error(RILL_ENOMEM, "cannot map a batch cache of %zu bytes: %s", capacity,
		                   strerror(errno));
	}
	uintptr_t at = ((uintptr_t)mapping + unit - 1) / unit * unit;
	if (unit == HUGE_PAGE)
		(void)madvise((void *)at, capacity, MADV_HUGEPAGE); /* a hint: fine if refused */
	size_t buckets = BUCKETS_MIN;
	while (buckets < BUCKETS_MAX && buckets * BYTES_PER_BUCKET < capacity)
		buckets *= 2;
	c->buckets = rill__calloc(buckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		munmap(mapping, mapping_size);
		pthread_mutex_destroy(&c->lock);
		return rill__error(RILL_ENOMEM, "cannot allocate the batch cache's table");
	}
	c->bucket_mask = buckets - 1;
	c->arena = (uint8_t *)at;
	c->capacity = capacity;
	c->mapping = mapping;
	c->mapping_size = mapping_size;
	return 0;
}

void rill__batch_cache_destroy(rill_batch_cache *c)
{
	for (rill_cached_batch *e = c->first; e != NULL; e = e->next)
		RILL_ASSERT(atomic_load(&e->refs) == 0); /* readers are freed first */
	if (c->mapping != NULL)
		munmap(c->mapping, c->mapping_size);
	rill__free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

static rill_cached_batch *find(rill_batch_cache *c, uint64_t segment_id, uint64_t position)
{
	rill_cached_batch *e = c->buckets[bucket_of(c, segment_id, position)];
	while (e != NULL && (e->position != position || e->segment_id != segment_id))
		e = e->hash_next;
	return e;
}

/* Out of the table: no reader finds it any more. */
static void unlink_entry(rill_batch_cache *c, rill_cached_batch *e)
{
	RILL_ASSERT(e->linked);
	rill_cached_batch **link = &c->buckets[bucket_of(c, e->segment_id, e->position)];
	while (*link != e)
		link = &(*link)->hash_next;
	*link = e->hash_next;
	e->hash_next = NULL;
	e->linked = false;
	c->bytes -= e->size;
	c->entries--;
}

/* Out of the arena's order: its bytes are free. */
static void remove_entry(rill_batch_cache *c, rill_cached_batch *e)
{
	if (e->linked)
		unlink_entry(c, e);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->first = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->last = e->prev;
}

/* Into the arena's order just before `before` (NULL: at the end). */
static void insert_before(rill_batch_cache *c, rill_cached_batch *e, rill_cached_batch *before)
{
	e->next = before;
	e->prev = before != NULL ? before->prev : c->last;
	if (e->prev != NULL)
		e->prev->next = e;
	else
		c->first = e;
	if (before != NULL)
		before->prev = e;
	else
		c->last = e;
}

rill_cached_batch *rill__batch_cache_get(rill_batch_cache *c, uint64_t segment_id,
                                         uint64_t position)
{
	if (!rill__batch_cache_enabled(c))
		return NULL;
	pthread_mutex_lock(&c->lock);
	rill_cached_batch *e = find(c, segment_id, position);
	if (e != NULL) {
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
		c->hits++;
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

static size_t entry_size(const rill_batch_header *h)
{
	_Static_assert(sizeof(rill_cached_batch) % alignof(uint32_t) == 0, "record starts follow the entry");
	size_t size = sizeof(rill_cached_batch) + (size_t)h->record_count * sizeof(uint32_t) + h->records_size;
	return (size + ENTRY_ALIGN - 1) / ENTRY_ALIGN * ENTRY_ALIGN;
}

/*
 * Place `need` bytes at the cursor: evict the entries in the way, step
 * over held ones (out of the table, they stay where they are), and wrap
 * to the start of the arena once if the end is reached. Returns the
 * position, or SIZE_MAX if held entries leave no room.
 */
static size_t place(rill_batch_cache *c, size_t need)
{
	bool wrapped = false;
	for (;;) {
		if (c->cursor + need > c->capacity) {
			if (wrapped)
				return SIZE_MAX;
			/* The entries between here and the end stay (the oldest,
			 * evicted when the cursor next comes by). */
			wrapped = true;
			c->cursor = 0;
			c->after = c->first;
			continue;
		}
		rill_cached_batch *e = c->after;
		if (e == NULL || e->start >= c->cursor + need)
			return c->cursor;
		c->after = e->next;
		/* Acquire: pairs with a release's decrement, so a reader's last
		 * reads of the entry come before it is written over. Nobody
		 * can take a new reference meanwhile: that takes the lock. */
		if (atomic_load_explicit(&e->refs, memory_order_acquire) > 0) {
			if (e->linked)
				unlink_entry(c, e);
			c->cursor = e->start + e->size;
			continue;
		}
		remove_entry(c, e);
	}
}

rill_cached_batch *rill__batch_cache_reserve(rill_batch_cache *c, uint64_t segment_id,
                                             uint64_t position, const rill_batch_header *h,
                                             uint64_t stored_size)
{
	if (!rill__batch_cache_enabled(c))
		return NULL;
	size_t need = entry_size(h);
	pthread_mutex_lock(&c->lock);
	c->misses++;
	if (need > c->capacity / 8) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	size_t at = place(c, need);
	if (at == SIZE_MAX) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	rill_cached_batch *e = (rill_cached_batch *)(c->arena + at);
	memset(e, 0, sizeof(*e));
	e->start = at;
	e->size = need;
	atomic_store_explicit(&e->refs, 1, memory_order_relaxed); /* the filler's: the
	                                     * cursor steps over it until inserted */
	insert_before(c, e, c->after);
	c->cursor = at + need;
	pthread_mutex_unlock(&c->lock);
	e->segment_id = segment_id;
	e->position = position;
	e->checksum = h->checksum;
	e->header = *h;
	e->stored_size = stored_size;
	e->record_starts = (uint32_t *)(e + 1);
	e->section = (uint8_t *)(e->record_starts + h->record_count);
	return e;
}

void rill__batch_cache_discard(rill_batch_cache *c, rill_cached_batch *e)
{
	/* Left in place, unlinked: free room when the cursor comes by. */
	(void)c;
	RILL_ASSERT(!e->linked && atomic_load(&e->refs) == 1);
	atomic_store_explicit(&e->refs, 0, memory_order_release);
}

/* The stride that fits the filled record starts, and how far the worst
 * start (or the section's end) lies from it. */
static void fit_stride(rill_cached_batch *e)
{
	uint32_t n = e->header.record_count;
	uint64_t size = e->header.records_size;
	e->stride_slack = RILL_STRIDE_NONE;
	if (n == 0)
		return;
	uint64_t stride = (size << 16) / n;
	uint64_t slack = 0;
	for (uint32_t i = 0; i <= n && slack <= RILL_STRIDE_SLACK_MAX; i++) {
		uint64_t at = i < n ? e->record_starts[i] : size;
		uint64_t guess = ((uint64_t)i * stride) >> 16;
		uint64_t off = at > guess ? at - guess : guess - at;
		if (off > slack)
			slack = off;
	}
	e->record_stride = stride;
	if (slack <= RILL_STRIDE_SLACK_MAX)
		e->stride_slack = (uint32_t)slack;
}

rill_cached_batch *rill__batch_cache_insert(rill_batch_cache *c, rill_cached_batch *e)
{
	fit_stride(e); /* before the lock: it reads every record start */
	pthread_mutex_lock(&c->lock);
	RILL_ASSERT(!e->linked && atomic_load(&e->refs) == 1);
	rill_cached_batch *existing = find(c, e->segment_id, e->position);
	if (existing != NULL && existing->checksum != e->checksum) {
		unlink_entry(c, existing); /* stale: the bytes there changed */
		existing = NULL;
	}
	if (existing != NULL) {
		/* Another reader checked the same batch first: this copy is
		 * free room. */
		atomic_fetch_add_explicit(&existing->refs, 1, memory_order_relaxed);
		atomic_store_explicit(&e->refs, 0, memory_order_release);
		pthread_mutex_unlock(&c->lock);
		return existing;
	}
	size_t b = bucket_of(c, e->segment_id, e->position);
	e->hash_next = c->buckets[b];
	c->buckets[b] = e;
	e->linked = true;
	c->bytes += e->size;
	c->entries++;
	pthread_mutex_unlock(&c->lock);
	return e; /* the filler's reference is now the caller's */
}

void rill__batch_cache_release(rill_batch_cache *c, rill_cached_batch *e)
{
	(void)c;
	int before = atomic_fetch_sub_explicit(&e->refs, 1, memory_order_release);
	RILL_ASSERT(before > 0);
	(void)before;
}

void rill__batch_cache_stats(rill_batch_cache *c, rill_batch_cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	out->bytes = c->bytes;
	out->entries = c->entries;
	out->hits = c->hits;
	out->misses = c->misses;
	pthread_mutex_unlock(&c->lock);
}
