/*
 * segment.h — one segment of a partition's log: the NNN.log file of
 * record batches, its two sparse indexes (NNN.index, NNN.timeindex), and
 * the store-wide cache that bounds open descriptors and mappings.
 *
 * See segment.c for the design and docs/FORMAT.md for the bytes.
 */
#ifndef RILL_SEGMENT_H
#define RILL_SEGMENT_H

#include <pthread.h>
#include <stdatomic.h>

#include "batch.h"
#include "internal.h"

#define RILL_OFFSET_INDEX_ENTRY 8  /* rel offset u32, position u32 */
#define RILL_TIME_INDEX_ENTRY 12   /* max timestamp so far i64, rel offset u32 */
#define RILL_SEGMENT_NAME_DIGITS 20

struct rill_partition;
struct rill_file_cache;
struct rill_batch_cache;

/* Shared, read-mostly context of a store that lower layers need. */
typedef struct rill_env {
	const rill_io *io;            /* the I/O table */
	/* its write-back without a flush (rill_options.io_writeback); NULL:
	 * a closing descriptor's unsynced bytes are fdatasynced */
	int (*writeback)(void *ctx, int fd, int wait);
	rill_logger logger;           /* log callback */
	struct rill_file_cache *cache;/* bounded descriptors and maps */
	struct rill_batch_cache *batch_cache; /* checked copies of batches */
	bool readonly;                /* opened with RILL_OPEN_READONLY */
	bool repair;                  /* cut at corruption instead of failing */
} rill_env;

/* Both sparse indexes, kept in lockstep: entry i of each describes the
 * same batch. In memory as little-endian byte arrays, exactly the bytes of
 * the files, so persisting is one pwrite of the tail. */
typedef struct rill_index {
	uint8_t *offsets;             /* count * 8 bytes */
	uint8_t *times;               /* count * 12 bytes */
	uint32_t count;               /* valid entries */
	uint32_t capacity;            /* allocated entries */
	uint32_t persisted;           /* entries known written and synced to files */
	uint32_t max_entries;         /* from segment.index.bytes: full -> roll */
	uint64_t bytes_since_entry;   /* log bytes appended since the last entry */
	int64_t running_max_ts;       /* largest batch max timestamp so far */
	bool loaded;                  /* arrays reflect the files (or a rebuild) */
	bool files_empty;             /* persisted == 0 and the files were cut to zero:
	                               * a persist with nothing new writes nothing */
} rill_index;

typedef struct rill_segment {
	uint64_t base_offset;         /* first offset; names the files */
	uint64_t next_offset;         /* one past the last offset (partition lock) */
	_Atomic uint64_t size;        /* bytes of complete, valid batches */
	_Atomic uint64_t synced_size; /* bytes known on stable storage */
	_Atomic uint64_t file_size;   /* bytes the file spans (>= size if preallocated);
	                              * written under the partition lock, read by pins */
	int64_t max_timestamp;        /* largest batch max timestamp, -1 if empty */
	int64_t first_timestamp;      /* first batch's first timestamp, -1 if empty */
	int64_t created_ms;           /* wall clock when first written, for segment.ms */
	uint64_t last_batch_pos;      /* position of the last batch (size > 0) */
	uint64_t last_batch_base;     /* its base offset */
	uint64_t map_capacity;        /* bytes to map: room to grow while active */
	uint64_t prealloc_end;        /* zero-filled, synced up to here */
	rill_index index;             /* offset and time index */
	_Atomic bool sealed;          /* no more appends; size is final */
	_Atomic bool deleted;         /* removed by retention or truncation */
	/* Names these bytes in the batch cache: unique in the process, and
	 * renewed (rill__segment_renew_cache_id) if bytes below `size` ever
	 * change in place (a cut), so no cached batch outlives its bytes. */
	_Atomic uint64_t cache_id;
	_Atomic int refs;             /* partition list + readers */
	struct rill_partition *partition; /* owner (for paths and failure) */
	/* file cache state (cache lock) */
	int fd;                       /* -1 when closed */
	void *map;                    /* read-only mapping of the log, or NULL */
	uint64_t map_len;             /* bytes mapped */
	_Atomic int users;            /* pins: not evictable while > 0 (cache lock to change) */
	struct rill_segment *lru_prev, *lru_next;
	bool in_lru;
} rill_segment;

typedef struct rill_file_cache {
	pthread_mutex_t lock;
	rill_segment *head, *tail;    /* most recently used at head */
	size_t open_count;            /* segments with an open descriptor */
	size_t capacity;              /* max open descriptors */
	const rill_io *io;
	rill_logger logger;
	_Atomic uint64_t evictions;
} rill_file_cache;

int rill__file_cache_init(rill_file_cache *cache, const rill_io *io,
                          const rill_logger *logger, size_t capacity);
void rill__file_cache_destroy(rill_file_cache *cache);

/* Path of a segment file: "<dir>/<20-digit base><suffix>". */
int rill__segment_path(char *buf, size_t size, const char *dir, uint64_t base,
                       const char *suffix);

rill_segment *rill__segment_new(struct rill_partition *p, uint64_t base,
                                uint32_t index_max_entries);
void rill__segment_ref(rill_segment *seg);
/* A new batch-cache name for a segment whose published bytes changed. */
void rill__segment_renew_cache_id(rill_segment *seg);
/* Drop a reference; the last one closes the files and frees. */
void rill__segment_unref(rill_env *env, rill_segment *seg);

/* Pin the segment's descriptor (opening it, possibly evicting another) and,
 * if want_map, its mapping. Returns 0 or an error. Pair with unpin. */
int rill__segment_pin(rill_env *env, rill_segment *seg, bool want_map);
void rill__segment_unpin(rill_env *env, rill_segment *seg);
/* Close descriptor and mapping now (segment must be unpinned). */
void rill__segment_close_files(rill_env *env, rill_segment *seg);
/* The same unless a reader has it pinned (its record pointers point into
 * the mapping); returns whether it closed them. */
bool rill__segment_close_files_if_unpinned(rill_env *env, rill_segment *seg);

/* rill__segment_bytes when the bytes are not mapped: pread into *scratch. */
int rill__segment_pread(rill_env *env, rill_segment *seg, uint64_t pos,
                        size_t len, uint8_t **scratch, size_t *scratch_cap,
                        const uint8_t **out);

/* Get `len` bytes at `pos` of a pinned segment: a pointer into the mapping
 * when mapped, else pread into *scratch (grown as needed). Inline: a point
 * read asks twice (header, then batch), and the call was most of the cost. */
static inline int rill__segment_bytes(rill_env *env, rill_segment *seg, uint64_t pos,
                                      size_t len, uint8_t **scratch, size_t *scratch_cap,
                                      const uint8_t **out)
{
	RILL_ASSERT(seg->users > 0);
	if (seg->map != NULL && pos + len <= seg->map_len && pos + len >= pos) {
		*out = (const uint8_t *)seg->map + pos;
		return 0;
	}
	return rill__segment_pread(env, seg, pos, len, scratch, scratch_cap, out);
}

/* Index maintenance (partition lock held). */
int rill__index_reserve(rill_index *index, uint32_t entries);
/* Record a batch at `position` (rel offset of its base, its max ts). */
int rill__index_add(rill_index *index, uint32_t rel_offset, uint32_t position,
                    int64_t max_timestamp);
/* A sealing segment's last batch gets an entry unless one is there (a
 * lone batch at position 0 too): the last time entry of a sealed segment
 * is its max timestamp, which the next open and time retention read. */
int rill__index_add_last_batch(rill_segment *seg, int64_t max_timestamp);
/* Largest entry with rel offset <= rel: its position (0 if none). */
uint32_t rill__index_lookup_offset(const rill_index *index, uint32_t rel);
/* The same, and *out_rel = the entry's relative offset (0 with none). */
uint32_t rill__index_lookup_offset_entry(const rill_index *index, uint32_t rel, uint32_t *out_rel);
/* Start position for "first batch with max timestamp >= ts". */
uint32_t rill__index_lookup_time(const rill_index *index, int64_t ts,
                                 uint32_t *out_rel);
/* Drop entries whose position >= position (truncation). */
void rill__index_truncate(rill_index *index, uint64_t position);
void rill__index_free(rill_index *index);

/* Write entries [persisted, count) whose position < synced_size to the
 * index files and fdatasync them. */
int rill__index_persist(rill_env *env, rill_segment *seg);
/* Load a segment's index files and check them against the log size; a
 * missing, short or inconsistent pair is rebuilt by scanning the log.
 * index_interval is index.interval.bytes. */
int rill__index_load(rill_env *env, rill_segment *seg, uint64_t index_interval);
/* Only load and check the files: RILL_ECORRUPT (index left unloaded) when
 * they do not check out, for recovery to rebuild while it scans. */
int rill__index_load_files(rill_env *env, rill_segment *seg);

/* Result of scanning batches in a segment. */
typedef struct rill_scan {
	uint64_t valid_end;           /* position after the last valid batch */
	uint64_t next_offset;         /* offset after the last valid batch */
	uint64_t batches;             /* valid batches seen */
	int64_t max_timestamp;        /* largest max timestamp seen, -1 none */
	int64_t first_timestamp;      /* first batch's first timestamp, -1 none */
	int stop_error;               /* 0: clean end of file; else why it stopped */
	char stop_reason[160];        /* text of the failure at valid_end */
} rill_scan;

/* Validate batches from `position` (expected first offset `expect_offset`)
 * up to `end`, adding index entries when index != NULL. Stops at the first
 * invalid batch (not an error: see scan->stop_error). Returns an error only
 * for I/O failures. Segment must be pinned. */
int rill__segment_scan(rill_env *env, rill_segment *seg, uint64_t position,
                       uint64_t expect_offset, uint64_t end, uint64_t partition_key,
                       rill_index *index, uint64_t index_interval, rill_scan *scan);

/* Writes, retrying short writes; on failure the bytes past `position` are
 * in an unknown state and the caller must cut or fail. */
int rill__write_all(const rill_io *io, int fd, const void *buf, size_t len,
                    uint64_t position, const char *path);
/* rill__write_all to a segment's log through its descriptor (pinned), the
 * error message naming the file. */
int rill__segment_write(rill_env *env, rill_segment *seg, const void *buf, size_t len,
                        uint64_t position);

#endif /* RILL_SEGMENT_H */
