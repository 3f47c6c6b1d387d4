/*
 * rill.h — the public API of librill, an embeddable, partitioned, durable
 * event log: Kafka's storage model as an in-process library.
 *
 * This header is the contract. What it does not declare is not API.
 *
 * Model
 *   A store is a directory. It holds topics; a topic holds a fixed-but-growable
 *   number of partitions; a partition is an ordered, append-only sequence of
 *   records, each identified by a dense 64-bit offset. Records are written in
 *   batches (one checksum, one compression pass, one write per batch). The
 *   on-disk format is described byte by byte in docs/FORMAT.md.
 *
 * Conventions
 *   - Fallible functions return 0 on success or a negative RILL_E* code.
 *     rill_strerror() gives the text for a code; rill_errmsg() gives a
 *     per-thread message that says exactly what failed (file, key, offset).
 *     The message is set on every failure, so it never describes an older one.
 *   - Out-parameters come first and are named out*.
 *   - Handles are opaque; what rill allocates, rill frees. Close and free
 *     functions accept NULL.
 *   - Option and table structs start with a `version` field; fields are only
 *     ever appended. Use the *_INIT macros.
 *   - Offsets are uint64_t; timestamps are int64_t milliseconds since the
 *     Unix epoch; flags are uint32_t.
 *
 * Thread safety
 *   Stated per function. In short: a rill_store and its rill_topic handles
 *   may be used from many threads at once (appends, offset queries, stats,
 *   maintenance). A rill_reader belongs to one thread at a time.
 *
 * ABI
 *   Within a major version, functions are only added and enum values and
 *   error codes never change. The shared library exports only rill_ symbols.
 */
#ifndef RILL_H
#define RILL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define RILL_API __attribute__((visibility("default")))
#else
#define RILL_API
#endif

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */

#define RILL_VERSION_MAJOR 0
#define RILL_VERSION_MINOR 2
#define RILL_VERSION_PATCH 0
#define RILL_VERSION_NUMBER \
	(RILL_VERSION_MAJOR * 10000 + RILL_VERSION_MINOR * 100 + RILL_VERSION_PATCH)
#define RILL_VERSION_STRING "0.2.0"

/** Runtime version of the linked library, as RILL_VERSION_NUMBER. */
RILL_API unsigned rill_version_number(void);
/** Runtime version string of the linked library ("0.2.0"). Static text. */
RILL_API const char *rill_version_string(void);

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/* Values are pinned: they never change once released. */
enum rill_error {
	RILL_OK = 0,
	RILL_EINVAL = -1,      /* bad argument: NULL, bad name, bad value */
	RILL_ENOMEM = -2,      /* an allocation failed; nothing was changed */
	RILL_EIO = -3,         /* the I/O layer reported an error */
	RILL_ENOTFOUND = -4,   /* topic, partition or config key does not exist */
	RILL_EEXIST = -5,      /* topic already exists */
	RILL_ELOCKED = -6,     /* another process holds the store's writer lock */
	RILL_ERANGE = -7,      /* offset below the log start or past the log end */
	RILL_ETOOBIG = -8,     /* record or batch larger than max.message.bytes */
	RILL_ECORRUPT = -9,    /* acknowledged data failed validation */
	RILL_ENOSPC = -10,     /* the file system is full */
	RILL_EBUSY = -11,      /* object in use (topic open elsewhere, ...) */
	RILL_EREADONLY = -12,  /* store was opened read-only */
	RILL_EFAILED = -13,    /* partition failed earlier (fsync or write error); reopen */
	RILL_ETIMEDOUT = -14,  /* wait timed out with nothing new */
	RILL_EAGAIN = -15,     /* nothing available now; try again */
	RILL_ECLOSED = -16,    /* the object was closed or deleted */
	RILL_EVERSION = -17,   /* on-disk format or struct version not supported */
};

/** Static text for an error code. Never NULL. Thread-safe. */
RILL_API const char *rill_strerror(int code);
/**
 * Detail message of the last failure on the calling thread ("" if none).
 * Valid until the next rill call on this thread. Thread-safe (per thread).
 */
RILL_API const char *rill_errmsg(void);

/* ------------------------------------------------------------------------
 * I/O table (host-replaceable, like SQLite's VFS)
 *
 * Every file-system access of the library goes through one of these
 * functions. Each returns 0 or a negative errno value (-EIO, -ENOSPC, ...).
 * "fd" is an opaque handle chosen by the table. Paths are absolute or
 * relative to the process working directory, exactly as the store was opened.
 * All members are required except map/unmap/allocate, which may be NULL or
 * return -EOPNOTSUPP; the library then falls back to pread / plain growth.
 * A table's write-back without a device flush, if it has one, is given in
 * rill_options.io_writeback.
 * Members are called from several threads at once (appends and reads of
 * different partitions, the background thread, a close of many
 * partitions), so a table must be thread-safe.
 * ------------------------------------------------------------------------ */

#define RILL_IO_VERSION 1

/* open flags */
#define RILL_O_READ 0x01u      /* read access */
#define RILL_O_WRITE 0x02u     /* read and write access */
#define RILL_O_CREATE 0x04u    /* create if missing */
#define RILL_O_EXCL 0x08u      /* with CREATE: fail with -EEXIST if present */
#define RILL_O_TRUNC 0x10u     /* truncate to zero length */
#define RILL_O_DIRECTORY 0x20u /* open a directory (for fsync) */

/* stat types */
#define RILL_IO_FILE 1
#define RILL_IO_DIR 2

typedef struct rill_io {
	unsigned version; /* RILL_IO_VERSION */
	void *ctx;        /* passed as first argument to every member */

	int (*open)(void *ctx, const char *path, uint32_t flags, unsigned mode,
	            int *out_fd);
	int (*close)(void *ctx, int fd);
	/* Reads up to len bytes; *out_done < len only at end of file. */
	int (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t offset,
	             size_t *out_done);
	/* Writes up to len bytes; may write fewer (*out_done), rill retries. */
	int (*pwrite)(void *ctx, int fd, const void *buf, size_t len,
	              uint64_t offset, size_t *out_done);
	int (*fdatasync)(void *ctx, int fd); /* data and size of a file */
	int (*fsync)(void *ctx, int fd);     /* files and directories */
	int (*ftruncate)(void *ctx, int fd, uint64_t size);
	/* Reserve blocks for [offset, offset+len) without changing the size
	 * (FALLOC_FL_KEEP_SIZE semantics are not required: the file may grow,
	 * in which case the new bytes read as zeros). May be NULL. */
	int (*allocate)(void *ctx, int fd, uint64_t offset, uint64_t len);
	int (*file_size)(void *ctx, int fd, uint64_t *out_size);
	/* *out_type = RILL_IO_FILE or RILL_IO_DIR; -ENOENT if missing. */
	int (*stat)(void *ctx, const char *path, int *out_type);
	int (*rename)(void *ctx, const char *from, const char *to);
	int (*unlink)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path, unsigned mode);
	int (*rmdir)(void *ctx, const char *path);
	/* Calls each(arg, name) for every entry except "." and ".."; stops
	 * and returns the callback's value if it returns non-zero. */
	int (*list_dir)(void *ctx, const char *path,
	                int (*each)(void *arg, const char *name), void *arg);
	/* Non-blocking advisory lock on an open file: -EWOULDBLOCK if held. */
	int (*lock)(void *ctx, int fd, int exclusive);
	/* Read-only shared mapping of [0, len) of the file. May be NULL. */
	int (*map)(void *ctx, int fd, uint64_t len, void **out_addr);
	int (*unmap)(void *ctx, void *addr, uint64_t len);
	/* Milliseconds: wall clock (timestamps) and a monotonic clock. */
	int64_t (*now_ms)(void *ctx);
	int64_t (*monotonic_ns)(void *ctx);
} rill_io;

/** The default table: plain POSIX. Static; never free it. Thread-safe. */
RILL_API const rill_io *rill_io_posix(void);

/* ------------------------------------------------------------------------
 * Configuration (per topic)
 *
 * Keys follow Kafka's topic configuration names. Defaults differ from
 * Kafka's where rill is a library, not a replicated server: every append is
 * fsync'd before it is acknowledged unless the topic says otherwise.
 *
 *   key                       default        range / values
 *   segment.bytes             1 GiB          [4096, 2^31-1]  (mutable)
 *   segment.ms                7 days         [1, 2^63-1]      (mutable)
 *   segment.index.bytes       10 MiB         [64, 2^31-1]
 *   index.interval.bytes      4096           [0, 2^31-1]      (mutable)
 *   retention.ms              7 days         -1 (forever) or >= 0 (mutable)
 *   retention.bytes           -1             -1 (unlimited) or >= 0 (mutable)
 *   max.message.bytes         1048588        [64, 2^30]       (mutable)
 *   compression.type          none           none | zstd      (mutable)
 *   compression.zstd.level    3              [1, 19]          (mutable)
 *   message.timestamp.type    CreateTime     CreateTime | LogAppendTime (mutable)
 *   flush.messages            1              [1, 2^63-1]      (mutable)
 *   flush.ms                  1000           [0, 2^63-1]      (mutable)
 *   durability                append         append | interval | os (mutable)
 *   preallocate               true           true | false     (mutable)
 *
 * durability=append: every append is on stable storage (fdatasync) before it
 *   returns; concurrent appenders share fsyncs (group commit).
 * durability=interval: fsync once flush.messages records or flush.ms have
 *   accumulated since the last sync (checked on append and by maintenance).
 * durability=os: the OS decides; data is synced at close and on rill_sync.
 * ------------------------------------------------------------------------ */

enum rill_durability {
	RILL_DURABILITY_APPEND = 0,   /* fsync before every acknowledgement */
	RILL_DURABILITY_INTERVAL = 1, /* every flush.messages / flush.ms */
	RILL_DURABILITY_OS = 2,       /* left to the operating system */
};

enum rill_compression {
	RILL_COMPRESSION_NONE = 0,
	RILL_COMPRESSION_ZSTD = 4, /* same codec number as Kafka */
};

enum rill_timestamp_type {
	RILL_TIMESTAMP_CREATE_TIME = 0,     /* the producer's timestamp */
	RILL_TIMESTAMP_LOG_APPEND_TIME = 1, /* the store's clock at append */
};

#define RILL_CONFIG_VERSION 1

typedef struct rill_config {
	unsigned version;                 /* RILL_CONFIG_VERSION */
	int64_t segment_bytes;            /* roll the active segment past this size */
	int64_t segment_ms;               /* roll a segment older than this */
	int64_t segment_index_bytes;      /* capacity of each index file */
	int64_t index_interval_bytes;     /* bytes of log between index entries */
	int64_t retention_ms;             /* delete segments older than this; -1 never */
	int64_t retention_bytes;          /* drop oldest segments while the rest is >= this; -1 no limit */
	int64_t max_message_bytes;        /* largest batch, encoded, accepted */
	int compression_type;             /* enum rill_compression */
	int compression_zstd_level;       /* zstd level when compressing */
	int timestamp_type;               /* enum rill_timestamp_type */
	int64_t flush_messages;           /* interval durability: records per sync */
	int64_t flush_ms;                 /* interval durability: ms between syncs */
	int durability;                   /* enum rill_durability */
	int preallocate;                  /* reserve segment.bytes when a segment starts */
} rill_config;

/** Fill *out with the documented defaults. Thread-safe. */
RILL_API void rill_config_init(rill_config *out);
/**
 * Set one field by its Kafka name ("retention.ms", "compression.type", ...).
 * @return 0; RILL_EINVAL for a NULL argument or a value out of range or
 *   unparsable; RILL_ENOTFOUND for an unknown key. The message names the key.
 * Thread-safe for distinct configs.
 */
RILL_API int rill_config_set(rill_config *config, const char *key,
                             const char *value);
/**
 * Format one field as text into buf (NUL-terminated, truncated to buf_size).
 * @return 0, RILL_ENOTFOUND for an unknown key, RILL_EINVAL for bad args.
 */
RILL_API int rill_config_get(const rill_config *config, const char *key,
                             char *buf, size_t buf_size);
/** Check every field. @return 0 or RILL_EINVAL naming the first bad key. */
RILL_API int rill_config_validate(const rill_config *config);
/** The i-th known key name, or NULL past the end. For listing. */
RILL_API const char *rill_config_key(size_t index);

/* ------------------------------------------------------------------------
 * Store
 * ------------------------------------------------------------------------ */

typedef struct rill_store rill_store;
typedef struct rill_topic rill_topic;
typedef struct rill_reader rill_reader;

/* log levels for the log callback */
enum rill_log_level {
	RILL_LOG_DEBUG = 0,
	RILL_LOG_INFO = 1,   /* segment rolled, segments deleted, recovery results,
	                      * preallocated room trimmed after a crash */
	RILL_LOG_WARN = 2,   /* torn tail cut, index rebuilt */
	RILL_LOG_ERROR = 3,  /* fsync failed, corruption found */
};

/* store open flags */
#define RILL_OPEN_READONLY 0x01u  /* no lock, no writes, no recovery changes */
#define RILL_OPEN_NOCREATE 0x02u  /* fail with RILL_ENOTFOUND if missing */

#define RILL_OPTIONS_VERSION 3 /* 2: batch_cache_bytes; 3: io_writeback */

/* Default capacity of the batch cache (rill_options.batch_cache_bytes). */
#define RILL_BATCH_CACHE_DEFAULT ((int64_t)32 << 20)

typedef struct rill_options {
	unsigned version;             /* RILL_OPTIONS_VERSION */
	uint32_t flags;               /* RILL_OPEN_* */
	const rill_io *io;            /* NULL: rill_io_posix() */
	/* Notable events (segment rolled, retention, recovery). May be NULL.
	 * Called from the thread that caused the event, possibly with internal
	 * locks held: do not call back into rill from it. */
	void (*log)(void *log_ctx, int level, const char *message);
	void *log_ctx;
	int max_open_files;           /* cap on cached segment descriptors; 0: a quarter of
	                               * RLIMIT_NOFILE, 64 to 4096 (256 if unlimited) */
	/* Repair: when open finds corruption below a partition's recovery point,
	 * cut the log there (reported) instead of failing with RILL_ECORRUPT. */
	int repair;
	/* Batch cache: checked, decoded copies of batches that readers entered
	 * in the middle (a seek to a record other than a batch's first), so the
	 * next read of any record of such a batch skips checking the whole
	 * batch and decoding the records before it. Scans and one-record
	 * batches never fill it. Bytes; 0: RILL_BATCH_CACHE_DEFAULT (32 MiB),
	 * -1: no cache. Memory is taken as batches are read, not up front. */
	int64_t batch_cache_bytes;
	/* Version 3. The I/O table's write-back without a device flush: write
	 * the file's dirty pages to the device through this descriptor (called
	 * with io->ctx); wait = 0 only starts the writes, wait = 1 also waits
	 * for them and returns a write error not yet reported to this
	 * descriptor. rill calls it when the file cache closes a descriptor
	 * with unsynced bytes, so that a write error still reaches the
	 * descriptor that wrote while the close waits for no flush (the bytes
	 * become durable at the partition's next sync); the writes of several
	 * files closed together start at once. NULL: sync_file_range for the
	 * default table (io NULL or rill_io_posix()), fdatasync for any other.
	 * Returning -EOPNOTSUPP or -ENOSYS makes rill use fdatasync. */
	int (*io_writeback)(void *io_ctx, int fd, int wait);
} rill_options;

#define RILL_OPTIONS_INIT {RILL_OPTIONS_VERSION, 0, NULL, NULL, NULL, 0, 0, 0, NULL}

/**
 * Open (creating if missing) the store in directory `path`.
 * A writer takes an advisory lock on path/LOCK; a second writer (in any
 * process, or a second open in this one) gets RILL_ELOCKED. A read-only open
 * takes no lock, runs beside a writer, changes nothing on disk, and sees the
 * records the writer has completely written.
 * After an unclean shutdown the writer recovers every partition (see
 * docs/FORMAT.md, "Recovery"); a topic's partitions from up to 8 threads
 * when it has 32 or more.
 * @param[out] out    the store; set to NULL on failure
 * @param[in] path    directory
 * @param[in] options NULL for defaults
 * @return 0; RILL_EINVAL, RILL_ENOMEM, RILL_EIO, RILL_ENOTFOUND (NOCREATE or
 *   read-only on a missing store), RILL_ELOCKED, RILL_ECORRUPT, RILL_EVERSION.
 * Thread-safe.
 */
RILL_API int rill_store_open(rill_store **out, const char *path,
                             const rill_options *options);
/**
 * Sync everything, write the clean-shutdown marker, release the lock and
 * free the store. Topic handles still open are closed. Accepts NULL. The
 * partitions of a topic with 32 or more are closed from up to 8 threads,
 * so that their syncs share the file system's journal commits.
 * @return 0, or the first sync error (the store is freed regardless).
 * Not thread-safe: no other call on this store may be running.
 */
RILL_API int rill_store_close(rill_store *store);

/**
 * Start a background thread that runs rill_store_maintain() every
 * interval_ms (interval durability flushes and retention). No thread runs
 * unless this is called. Stopped by rill_store_close.
 * @return 0, RILL_EINVAL (interval_ms < 1 or already started), RILL_EREADONLY.
 * Thread-safe.
 */
RILL_API int rill_store_start_background(rill_store *store, int64_t interval_ms);

/**
 * Run periodic work now: flush partitions with interval durability whose
 * flush.ms has passed, and apply retention to every topic.
 * @param[out] out_segments_deleted  may be NULL
 * @return 0 or the first error met. Thread-safe.
 */
RILL_API int rill_store_maintain(rill_store *store,
                                 uint64_t *out_segments_deleted);

/* ------------------------------------------------------------------------
 * Topics
 * ------------------------------------------------------------------------ */

#define RILL_TOPIC_NAME_MAX 249
#define RILL_PARTITIONS_MAX 100000

/**
 * Create a topic with `partitions` partitions and configuration `config`
 * (NULL: defaults). Names are 1-249 characters of [A-Za-z0-9._-], not "."
 * or "..". The topic is durable (directories and config synced) when this
 * returns; a crash during create leaves all of it or none of it.
 * @return 0; RILL_EINVAL (name, partitions out of [1, RILL_PARTITIONS_MAX],
 *   config), RILL_EEXIST, RILL_EREADONLY, RILL_EIO, RILL_ENOSPC, RILL_ENOMEM.
 * Thread-safe.
 */
RILL_API int rill_topic_create(rill_store *store, const char *name,
                               int32_t partitions, const rill_config *config);

/**
 * Open a topic by name. A topic may be open several times; each handle is
 * closed with rill_topic_close. Handles are cheap (they share state).
 * @return 0; RILL_EINVAL, RILL_ENOTFOUND, RILL_ENOMEM.
 * Thread-safe.
 */
RILL_API int rill_topic_open(rill_topic **out, rill_store *store,
                             const char *name);
/** Close a handle. Accepts NULL. Not thread-safe for the same handle. */
RILL_API void rill_topic_close(rill_topic *topic);

/**
 * Delete a topic and all its data. Fails with RILL_EBUSY while any handle
 * to it is open in this process. Atomic with respect to crashes: after the
 * next open the topic is either whole or gone.
 * @return 0; RILL_EINVAL, RILL_ENOTFOUND, RILL_EBUSY, RILL_EREADONLY, RILL_EIO.
 * Thread-safe.
 */
RILL_API int rill_topic_delete(rill_store *store, const char *name);

/**
 * List topic names, sorted. Calls each(arg, name) per topic; stops early
 * if it returns non-zero (and returns that value).
 * @return 0, the callback's value, RILL_EINVAL, RILL_ENOMEM. Thread-safe.
 */
RILL_API int rill_topic_list(rill_store *store,
                             int (*each)(void *arg, const char *name),
                             void *arg);

/** Number of partitions. Thread-safe. */
RILL_API int32_t rill_topic_partitions(const rill_topic *topic);
/** The topic's name; valid while the handle is open. Thread-safe. */
RILL_API const char *rill_topic_name(const rill_topic *topic);

/**
 * Grow the topic to `partitions` partitions (never shrink).
 * @return 0; RILL_EINVAL (fewer than now or above RILL_PARTITIONS_MAX),
 *   RILL_EREADONLY, RILL_EIO, RILL_ENOMEM. Thread-safe.
 */
RILL_API int rill_topic_add_partitions(rill_topic *topic, int32_t partitions);

/** Copy the topic's current configuration into *out. Thread-safe. */
RILL_API int rill_topic_config(rill_config *out, const rill_topic *topic);
/**
 * Change one configuration value (Kafka names). segment.index.bytes cannot
 * change after creation (RILL_EINVAL). Persisted atomically before return.
 * @return 0; RILL_EINVAL, RILL_ENOTFOUND (key), RILL_EREADONLY, RILL_EIO.
 * Thread-safe.
 */
RILL_API int rill_topic_alter(rill_topic *topic, const char *key,
                              const char *value);

/* ------------------------------------------------------------------------
 * Records and append
 * ------------------------------------------------------------------------ */

typedef struct rill_header {
	const char *name;   /* header key bytes (not NUL-terminated on read) */
	size_t name_len;
	const void *value;  /* NULL: null value */
	size_t value_len;
} rill_header;

/* timestamp_ms value meaning "use the store's clock" on append */
#define RILL_TIMESTAMP_NOW INT64_MIN

typedef struct rill_record {
	const void *key;            /* NULL: no key */
	size_t key_len;
	const void *value;          /* NULL: tombstone (no value) */
	size_t value_len;
	const rill_header *headers; /* header_count entries */
	size_t header_count;
	int64_t timestamp_ms;       /* RILL_TIMESTAMP_NOW on append for "now" */
	uint64_t offset;            /* set on read; ignored on append */
} rill_record;

/* partition argument: let the topic's partitioner choose */
#define RILL_PARTITION_AUTO (-1)

/* append flags */
#define RILL_APPEND_SYNC 0x01u   /* wait for fsync whatever the durability */
#define RILL_APPEND_NOSYNC 0x02u /* return once written whatever the durability */

typedef struct rill_append_info {
	int32_t partition;      /* where the batch went */
	uint64_t base_offset;   /* offset of the first record */
	uint64_t last_offset;   /* offset of the last record */
	int durable;            /* 1 if synced before return */
} rill_append_info;

/**
 * Append records as one batch (one checksum, one compression pass, one
 * write) to one partition. With partition == RILL_PARTITION_AUTO the
 * topic's partitioner picks it from the first record: its key's hash, or the
 * sticky partition for records without a key; every keyed record of the
 * batch must map to that same partition (else RILL_EINVAL, nothing written).
 * Under durability=append (or RILL_APPEND_SYNC) returns after fdatasync.
 * @param[out] out  may be NULL
 * @return 0; RILL_EINVAL (args, partition out of range, count 0 or above
 *   2^31-1), RILL_ETOOBIG (encoded batch above max.message.bytes: nothing
 *   written), RILL_EREADONLY, RILL_EFAILED (an earlier fsync or write failed:
 *   reopen the store), RILL_EIO, RILL_ENOSPC (nothing visible was written),
 *   RILL_ENOMEM, RILL_ECLOSED (topic deleted).
 * Thread-safe: any number of threads may append to any partitions at once.
 */
RILL_API int rill_append(rill_append_info *out, rill_topic *topic,
                         int32_t partition, const rill_record *records,
                         size_t record_count, uint32_t flags);

/**
 * Partitioners. The default hashes keys with XXH3-64 (seed 0):
 * partition = XXH3_64bits(key) % partitions. RILL_PARTITIONER_MURMUR2
 * matches Kafka's Java client (toPositive(murmur2(key)) % partitions).
 */
enum rill_partitioner_kind {
	RILL_PARTITIONER_XXH3 = 0,
	RILL_PARTITIONER_MURMUR2 = 1,
};

/** The partition a key maps to with the given partitioner. Thread-safe. */
RILL_API int32_t rill_partition_for_key(int kind, const void *key,
                                        size_t key_len, int32_t partitions);
/** Kafka's murmur2 hash (seed 0x9747b28c) of a key. Thread-safe. */
RILL_API int32_t rill_murmur2(const void *key, size_t key_len);

/**
 * Choose the topic's partitioner: a built-in kind, or a callback
 * (fn != NULL) that returns a partition in [0, partitions) for a record.
 * Setting applies to this process only (not persisted).
 * @return 0 or RILL_EINVAL. Thread-safe.
 */
RILL_API int rill_topic_set_partitioner(
	rill_topic *topic, int kind,
	int32_t (*fn)(void *ctx, const rill_record *record, int32_t partitions),
	void *ctx);

/* ------------------------------------------------------------------------
 * Offsets and durability
 * ------------------------------------------------------------------------ */

typedef struct rill_offsets {
	uint64_t log_start;     /* first readable offset */
	uint64_t log_end;       /* next offset to be assigned */
	uint64_t durable;       /* every offset below this is synced */
} rill_offsets;

/** Offsets of one partition. @return 0, RILL_EINVAL. Thread-safe. */
RILL_API int rill_partition_offsets(rill_offsets *out, rill_topic *topic,
                                    int32_t partition);
/**
 * The first offset whose record has timestamp >= ts (by the time index and
 * the batches' max timestamps). *out = log end if none. The batch holding
 * it is checked whole and then read without the partition's lock (appends
 * go on meanwhile), through the store's batch cache: a batch whose
 * timestamps never decrease is searched by halves.
 * @return 0, RILL_EINVAL, RILL_EIO, RILL_ECORRUPT. Thread-safe.
 */
RILL_API int rill_offset_for_timestamp(uint64_t *out, rill_topic *topic,
                                       int32_t partition, int64_t ts);
/**
 * Make everything appended so far to this partition durable (fdatasync).
 * partition = -1 syncs every partition of the topic.
 * @return 0, RILL_EINVAL, RILL_EFAILED, RILL_EIO, RILL_EREADONLY. Thread-safe.
 */
RILL_API int rill_sync(rill_topic *topic, int32_t partition);

/**
 * Delete records before `offset`: the log start offset moves up to it
 * (persisted before any file is removed) and whole segments below it are
 * deleted. Offsets past the log end are RILL_ERANGE.
 * @return 0, RILL_EINVAL, RILL_ERANGE, RILL_EREADONLY, RILL_EIO. Thread-safe.
 */
RILL_API int rill_delete_records(rill_topic *topic, int32_t partition,
                                 uint64_t offset);

/**
 * Apply retention (retention.ms, retention.bytes) to every partition of
 * the topic now. @param[out] out_segments_deleted may be NULL.
 * @return 0 or the first error. Thread-safe.
 */
RILL_API int rill_topic_retain(rill_topic *topic,
                               uint64_t *out_segments_deleted);

/* ------------------------------------------------------------------------
 * Readers (consumer cursors)
 * ------------------------------------------------------------------------ */

/* where a reader starts */
#define RILL_START_EARLIEST UINT64_MAX      /* the log start offset */
#define RILL_START_LATEST (UINT64_MAX - 1)  /* the log end (only new records) */

/**
 * Open a reader on one partition at `offset` (or RILL_START_EARLIEST /
 * RILL_START_LATEST). An offset below the log start or past the log end
 * is RILL_ERANGE. A reader keeps the topic's data alive until closed.
 * @return 0; RILL_EINVAL, RILL_ERANGE, RILL_ENOMEM, RILL_EIO.
 * Thread-safe; the reader itself belongs to one thread at a time.
 */
RILL_API int rill_reader_open(rill_reader **out, rill_topic *topic,
                              int32_t partition, uint64_t offset);
/** Reposition at an offset (same rules as open). */
RILL_API int rill_reader_seek(rill_reader *reader, uint64_t offset);
/** Reposition at the first record with timestamp >= ts (end if none). */
RILL_API int rill_reader_seek_timestamp(rill_reader *reader, int64_t ts);
/**
 * The next record. For uncompressed batches key, value and headers point
 * into the mapped log (no copy); for compressed batches into the reader's
 * buffer; after a seek into the middle of a batch, into the store's batch
 * cache (rill_options.batch_cache_bytes). Either way they stay valid until
 * the next call on this reader.
 * @return 0 with *out filled; RILL_EAGAIN at the end of the log;
 *   RILL_ERANGE if retention deleted the reader's position (seek again);
 *   RILL_ECORRUPT (message names partition, segment and offset); RILL_EIO;
 *   RILL_ENOMEM.
 */
RILL_API int rill_reader_next(rill_reader *reader, rill_record *out);
/**
 * The next records, at most `max` of them and all from one stored batch:
 * the bulk form of rill_reader_next, for scans (one call per batch instead
 * of one per record). Pointers in the records stay valid until the next
 * call on this reader, as with rill_reader_next. A record with headers is
 * the last of its call (its headers array is reused by the next call).
 * @param[out] out        room for `max` records
 * @param[out] out_count  records filled in (at least 1 when 0 is returned)
 * @return as rill_reader_next; RILL_EINVAL also for max == 0.
 */
RILL_API int rill_reader_read(rill_reader *reader, rill_record *out, size_t max,
                              size_t *out_count);
/**
 * Wait until a record past the reader's position exists or timeout_ms
 * passes (-1: forever). @return 0 (data available), RILL_ETIMEDOUT,
 * RILL_ECLOSED (store closing).
 */
RILL_API int rill_reader_wait(rill_reader *reader, int64_t timeout_ms);
/**
 * A file descriptor that becomes readable when new records may be
 * available on this reader's partition (an eventfd written by appends in
 * this process). Poll it, read(2) 8 bytes to clear it, then drain with
 * rill_reader_next until RILL_EAGAIN. Owned by the reader; do not close.
 * Read-only stores have no writer in the process to signal it: they return
 * RILL_EINVAL, and rill_reader_wait (which polls the files) is the way to
 * wait there. @return the fd, or a negative RILL_E* code.
 */
RILL_API int rill_reader_fd(rill_reader *reader);
/** The offset the next rill_reader_next will return. */
RILL_API uint64_t rill_reader_position(const rill_reader *reader);
/** Close a reader. Accepts NULL. */
RILL_API void rill_reader_close(rill_reader *reader);

/* ------------------------------------------------------------------------
 * Stats, verification
 * ------------------------------------------------------------------------ */

typedef struct rill_partition_stats {
	uint64_t log_start;          /* first readable offset */
	uint64_t log_end;            /* next offset to assign */
	uint64_t durable;            /* synced below this */
	uint64_t segments;           /* segment files */
	uint64_t bytes_on_disk;      /* sum of segment log sizes */
	uint64_t records_appended;   /* since open */
	uint64_t batches_appended;   /* since open */
	uint64_t bytes_appended;     /* since open, encoded */
	uint64_t records_read;       /* since open */
	uint64_t bytes_read;         /* since open, encoded batches */
	uint64_t fsyncs;             /* data syncs since open */
	uint64_t fsync_ns_total;     /* time spent in them */
	uint64_t fsync_ns_max;       /* slowest */
	uint64_t recovered_bytes_cut;/* torn tail removed at open */
	uint64_t recovered_bytes_scanned; /* bytes validated at open */
	int64_t first_timestamp;     /* oldest batch's first timestamp, -1 empty */
	int64_t max_timestamp;       /* newest max timestamp, -1 empty */
	int failed;                  /* 1 after an fsync or write failure */
} rill_partition_stats;

/** Stats of one partition. @return 0, RILL_EINVAL. Thread-safe. */
RILL_API int rill_partition_stats_get(rill_partition_stats *out,
                                      rill_topic *topic, int32_t partition);

typedef struct rill_store_stats {
	uint64_t topics;
	uint64_t partitions;
	uint64_t segments;
	uint64_t bytes_on_disk;
	uint64_t records_appended;
	uint64_t bytes_appended;
	uint64_t records_read;
	uint64_t fsyncs;
	uint64_t open_files;         /* descriptors held now */
	uint64_t recovered_bytes_cut;
	uint64_t recovered_bytes_scanned;
	int clean_open;              /* 1 if the last shutdown was clean */
	uint64_t batch_cache_bytes;  /* memory the batch cache holds now */
	uint64_t batch_cache_batches;/* batches in it */
	uint64_t batch_cache_hits;   /* reads into a batch found there, since open */
	uint64_t batch_cache_misses; /* and not found (checked and added, or too large) */
} rill_store_stats;

/** Store-wide stats. @return 0, RILL_EINVAL, RILL_ENOMEM. Thread-safe. */
RILL_API int rill_store_stats_get(rill_store_stats *out, rill_store *store);

/* one problem found by verify */
typedef struct rill_verify_problem {
	const char *topic;       /* topic name */
	int32_t partition;
	uint64_t segment_base;   /* base offset naming the segment */
	uint64_t file_position;  /* byte position in the .log file */
	uint64_t offset;         /* offset expected at that position */
	const char *what;        /* "checksum mismatch", "bad magic", ... */
} rill_verify_problem;

/**
 * Read and check every batch of a topic (name != NULL) or of the whole store
 * (name == NULL): lengths, magic, checksums, dense offsets, decompression.
 * Calls problem(arg, p) for each bad batch (may be NULL).
 * @param[out] out_batches  batches checked (may be NULL)
 * @param[out] out_problems problems found (may be NULL)
 * @return 0 if clean, RILL_ECORRUPT if any problem, or another error.
 * Thread-safe (runs beside appends).
 */
RILL_API int rill_verify(rill_store *store, const char *name,
                         void (*problem)(void *arg, const rill_verify_problem *p),
                         void *arg, uint64_t *out_batches,
                         uint64_t *out_problems);

#ifdef __cplusplus
}
#endif

#endif /* RILL_H */
