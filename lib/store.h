/*
 * store.h — the store and topic structures shared by store.c, topic.c and
 * reader.c. Not API: rill.h exposes only opaque handles.
 */
#ifndef RILL_STORE_H
#define RILL_STORE_H

#include "batch_cache.h"
#include "partition.h"

#define RILL_STORE_MARKER "STORE"
#define RILL_STORE_MARKER_TEXT "rill-store 1\n"
#define RILL_CLEAN_MARKER ".clean-shutdown"
#define RILL_LOCK_FILE "LOCK"
#define RILL_TOPIC_META "topic.meta"
#define RILL_TOPIC_CONF "topic.conf"
#define RILL_TMP_PREFIX ".tmp-"
#define RILL_DELETED_PREFIX ".deleted-"

struct rill_reader;

/* A topic's shared state; rill_topic handles point at it. */
typedef struct rill_topic_state {
	struct rill_store *store;
	char *name;
	char *dir;                    /* "<store>/<name>" */
	pthread_rwlock_t lock;        /* config, partitions array */
	rill_config config;
	rill_partition **partitions;
	int32_t partition_count;
	int handles;                  /* open handles + readers (store lock) */
	_Atomic uint32_t sticky;      /* sticky partitioner position */
	int partitioner_kind;
	int32_t (*partitioner_fn)(void *ctx, const rill_record *record, int32_t partitions);
	void *partitioner_ctx;
	pthread_mutex_t partitioner_lock; /* partitioner_* fields */
} rill_topic_state;

struct rill_topic {
	rill_topic_state *state;
	struct rill_topic *next_handle; /* store's list of open handles */
	struct rill_topic *prev_handle;
};

struct rill_reader {
	rill_topic *topic;            /* a handle of its own */
	rill_partition *partition;
	rill_reader_state st;         /* segment and position */
	uint64_t position;            /* next offset to return */
	rill_batch_decoder *decoder;
	rill_cached_batch *cached;    /* the batch cache's entry the decoder is in */
	bool in_batch;                /* decoder holds a batch */
	bool sought;                  /* positioned, and no batch entered since */
	uint64_t batch_size;          /* total size of that batch */
	uint64_t batch_next_base;     /* offset after that batch */
	uint64_t batch_decoded_to;    /* offset of the decoder's next record */
	rill_record skipped[64];      /* records before a seek target, decoded and dropped */
	uint64_t unflushed_reads;     /* records read, not yet added to stats */
	uint8_t *scratch;             /* pread fallback buffer */
	size_t scratch_cap;
	int event_fd;                 /* -1 until rill_reader_fd */
	struct rill_reader *next_reader, *prev_reader;
};

struct rill_store {
	char *path;
	rill_env env;
	rill_file_cache cache;
	rill_batch_cache batch_cache;
	rill_io io;                   /* copy of the host's table */
	int lock_fd;                  /* -1 for read-only */
	bool clean_open;
	pthread_mutex_t lock;         /* topics, handles, readers lists */
	rill_topic_state **topics;
	size_t topic_count;
	size_t topic_capacity;
	rill_topic *handles;          /* open handles (freed at close) */
	struct rill_reader *readers;  /* open readers (freed at close) */
	pthread_mutex_t pool_lock;    /* encoder pool */
	rill_batch_encoder **encoders;
	size_t encoder_count;
	size_t encoder_capacity;
	/* background maintenance */
	pthread_t thread;
	bool thread_started;
	bool thread_stop;
	int64_t thread_interval_ms;
	pthread_mutex_t thread_lock;
	pthread_cond_t thread_cond;
};

/* topic.c */
/* clean: the last shutdown was clean. Otherwise every partition recovers
 * (in parallel when there are many). */
int rill__topic_load(rill_topic_state **out, struct rill_store *store, const char *name, bool clean);
int rill__topic_state_close(rill_topic_state *t);
int rill__topic_create_files(struct rill_store *store, const char *name, int32_t partitions,
                             const rill_config *config);
rill_topic_state *rill__store_find_topic(struct rill_store *store, const char *name);
int rill__store_new_handle(rill_topic **out, struct rill_store *store, rill_topic_state *t);
void rill__store_free_handle(struct rill_store *store, rill_topic *handle);

#endif
