/*
 * partition.h — one partition: an ordered list of segments, the active
 * segment that takes appends, durability (group commit), recovery on open,
 * retention and readers. See partition.c for the design.
 */
#ifndef RILL_PARTITION_H
#define RILL_PARTITION_H

#include "segment.h"

/* Per-partition checkpoint file, replaced atomically. */
#define RILL_CHECKPOINT_FILE "partition.checkpoint"

typedef struct rill_partition {
	rill_env *env;                /* store-wide context */
	char *dir;                    /* "<store>/<topic>/<topic>-<n>" */
	char *topic_name;             /* for messages and the partition key */
	int32_t number;               /* partition number */
	uint64_t partition_key;       /* binds batches to this partition */

	pthread_mutex_t lock;         /* everything below unless noted */
	pthread_cond_t sync_cond;     /* group commit: waiting for a sync */
	pthread_cond_t data_cond;     /* readers waiting for new records */
	rill_config config;           /* copy of the topic's, updated on alter */
	rill_segment **segments;      /* ordered by base offset; last is active */
	size_t segment_count;
	size_t segment_capacity;
	uint64_t log_start;           /* first readable offset */
	_Atomic uint64_t next_offset; /* log end: next offset to assign */
	_Atomic uint64_t durable;     /* every offset below is synced */
	bool syncing;                 /* a thread leads a sync (gathering or in fdatasync) */
	bool gathering;               /* the leader waits for the group (gather_cond) */
	pthread_cond_t gather_cond;   /* arrivals wake a gathering leader */
	int sync_arrived;             /* sync_to callers since the last sync's snapshot */
	int group_expect;             /* threads sharing a sync, as last seen */
	int64_t last_fsync_ns;        /* duration of the last fdatasync */
	bool sealed_unsynced;         /* a roll without sync left sealed data unsynced */
	_Atomic int failed;           /* sticky: an fsync or write failed */
	_Atomic int failed_unmarked;  /* failed by the file cache; marker not yet written */
	uint64_t unsynced_records;    /* interval durability bookkeeping */
	int64_t last_sync_ms;         /* wall clock of the last sync */
	uint64_t checkpoint_recovery; /* recovery point last persisted */
	uint64_t checkpoint_position; /* its byte position (active segment) */
	uint64_t durable_segment;     /* base of the segment `durable` lies in */
	uint64_t durable_position;    /* byte position of `durable` in it */
	uint64_t checkpoint_log_start;/* log start last persisted */
	uint64_t checkpoint_segment;  /* its recovery segment */
	bool checkpoint_known;        /* the four checkpoint_* fields are the file on
	                               * stable storage (written, or read at a clean
	                               * open): an equal checkpoint is not rewritten */
	int waiters;                  /* threads in data_cond */
	int *event_fds;               /* eventfds of readers that asked for one */
	size_t event_fd_count;
	size_t event_fd_capacity;
	bool closing;                 /* store is closing: wake waiters */

	/* stats (atomics: read without the lock) */
	_Atomic uint64_t records_appended;
	_Atomic uint64_t batches_appended;
	_Atomic uint64_t bytes_appended;
	_Atomic uint64_t records_read;
	_Atomic uint64_t bytes_read;
	_Atomic uint64_t fsyncs;
	_Atomic uint64_t fsync_ns_total;
	_Atomic uint64_t fsync_ns_max;
	uint64_t recovered_bytes_cut;
	uint64_t recovered_bytes_scanned;

	/* a decoder for timestamp lookups, taken and given back with an
	 * exchange (NULL while in use: a concurrent lookup makes its own) */
	rill_batch_decoder *_Atomic spare_decoder;
} rill_partition;

/* Create the directory of a new, empty partition (not yet synced into its
 * parent: the caller syncs the parent). */
int rill__partition_create_dir(rill_env *env, const char *dir);

/* Open a partition directory: load segments and checkpoint; when `clean`
 * is false (unclean shutdown) recover everything after the recovery point.
 * Read-only envs change nothing on disk. */
int rill__partition_open(rill_partition **out, rill_env *env, const char *dir,
                         const char *topic, int32_t number,
                         const rill_config *config, bool clean);
/* Sync, persist indexes and checkpoint, trim preallocation, free. */
int rill__partition_close(rill_partition *p);
/* Update the config copy (alter). */
void rill__partition_set_config(rill_partition *p, const rill_config *config);

typedef struct rill_append_batch {
	uint8_t *data;                /* encoded batch, sealed in place */
	size_t size;
	uint64_t records_hash;        /* from the encoder */
	uint32_t record_count;
	int64_t first_timestamp;
	int64_t max_timestamp;
	bool log_append_time;         /* stamp max timestamp with the clock */
} rill_append_batch;

int rill__partition_append(rill_partition *p, rill_append_batch *batch,
                           uint32_t flags, rill_append_info *out);
int rill__partition_sync(rill_partition *p);
void rill__partition_offsets(rill_partition *p, rill_offsets *out);
int rill__partition_offset_for_timestamp(rill_partition *p, int64_t ts,
                                         uint64_t *out);
int rill__partition_delete_before(rill_partition *p, uint64_t offset);
int rill__partition_retain(rill_partition *p, int64_t now_ms,
                           uint64_t *out_deleted);
/* Flush if interval durability says so; write a checkpoint if behind. */
int rill__partition_maintain(rill_partition *p, int64_t now_ms);
void rill__partition_stats(rill_partition *p, rill_partition_stats *out);
/* Wake every waiting reader (store closing). */
void rill__partition_wake(rill_partition *p);
/* Read-only stores: pick up batches the writer has added since. */
int rill__partition_refresh(rill_partition *p);

typedef void (*rill_problem_fn)(void *arg, const rill_verify_problem *problem);
int rill__partition_verify(rill_partition *p, rill_batch_decoder *dec,
                           rill_problem_fn fn, void *arg, uint64_t *batches,
                           uint64_t *problems);

struct rill_cached_batch;
/* The batch cache's checked copy of the batch with header h (already
 * parsed) at pos of segment seg (pinned), with a reference for the caller:
 * found in the cache when look_up (*out_filled false), else checked,
 * copied and inserted now with dec (*out_filled true). RILL_EAGAIN: the
 * cache is off or cannot take the batch (too large, or held entries leave
 * no room): read it in place. RILL_ECORRUPT: it fails its checksum or does
 * not decode (the message says why, without the place). */
int rill__partition_cached_batch(rill_partition *p, rill_segment *seg, uint64_t pos,
                                 const rill_batch_header *h, uint64_t total, bool look_up,
                                 rill_batch_decoder *dec, uint8_t **scratch, size_t *scratch_cap,
                                 struct rill_cached_batch **out, bool *out_filled);

/* Reader support */
typedef struct rill_reader_state {
	rill_segment *seg;            /* current segment (ref held) or NULL */
	uint64_t pos;                 /* file position of the next batch */
	uint64_t expect_base;         /* base offset the batch at pos must have */
	bool pinned;                  /* seg pinned while a batch is in use */
	bool from_index;              /* pos is an index entry's, not yet read */
} rill_reader_state;

/* Position a reader state at offset: find the segment and the file
 * position of the batch containing it. ERANGE below start / past end.
 * RILL_START_EARLIEST / RILL_START_LATEST are resolved here, under the
 * partition lock, and *out_offset is the offset positioned at.
 * Below the log end the segment comes back pinned (st->pinned), ready to
 * read; a pin st already held on that segment is kept, one on another
 * segment released. */
int rill__partition_locate(rill_partition *p, uint64_t offset,
                           rill_reader_state *st, uint64_t *out_offset);
/* The batch at st->pos (an index entry's position, st->from_index) does
 * not parse or does not continue the offsets: the index is only a hint,
 * so log it and move st to the start of its segment. */
void rill__reader_state_index_miss(rill_partition *p, rill_reader_state *st);
/* Next segment after st->seg, or RILL_EAGAIN, or (positive, not an error
 * code) RILL_PARTITION_SEGMENT_GONE when retention deleted st->seg: the
 * caller locates its offset again. Drops the old ref. */
#define RILL_PARTITION_SEGMENT_GONE 1
int rill__partition_next_segment(rill_partition *p, rill_reader_state *st);
/* Drop the reader's pin on its segment, keeping its place and reference. */
void rill__reader_state_unpin(rill_partition *p, rill_reader_state *st);
void rill__reader_state_release(rill_partition *p, rill_reader_state *st);
int rill__partition_add_event_fd(rill_partition *p, int fd);
void rill__partition_remove_event_fd(rill_partition *p, int fd);

#endif /* RILL_PARTITION_H */
