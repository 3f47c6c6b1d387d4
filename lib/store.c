/*
 * store.c — the store: a directory, its writer lock, the clean-shutdown
 * marker, the topics in it, and store-wide calls (maintenance, stats,
 * verify, the optional background thread).
 *
 * Directory "<store>/":
 *   STORE             "rill-store 1\n": the format version of the whole tree
 *   LOCK              advisory lock (flock) held by the one writer process
 *   .clean-shutdown   present only between a clean close and the next open
 *   <topic>/          one per topic (topic.c)
 *   .tmp-<topic>/     a topic being created (removed at open: never whole)
 *   .deleted-<topic>/ a topic being deleted (removal finished at open)
 *
 * Open (writer): create the directory if missing (and sync its parent),
 * take the lock, then read and REMOVE the clean-shutdown marker and sync
 * the directory before loading anything. A crash while loading therefore
 * reads as unclean next time (Kafka's KAFKA-10471). Each partition then
 * loads: after a clean shutdown its checkpoint says where the log ends and
 * nothing is scanned; otherwise it recovers from its recovery point.
 *
 * Close: every partition syncs, trims preallocation, persists its index
 * and writes a checkpoint (a topic's many partitions from several threads,
 * topic.c); only if all of that succeeded is the marker written, synced,
 * and its directory synced.
 *
 * Read-only open takes no lock and writes nothing: it scans from each
 * recovery point to find the end the writer has reached, and readers
 * re-scan (rill__partition_refresh) when they reach that end.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "fs.h"

/* =========================================================== topic lookup */

rill_topic_state *rill__store_find_topic(rill_store *store, const char *name)
{
	for (size_t i = 0; i < store->topic_count; i++) {
		if (strcmp(store->topics[i]->name, name) == 0)
			return store->topics[i];
	}
	return NULL;
}

static int add_topic(rill_store *store, rill_topic_state *t)
{
	if (store->topic_count == store->topic_capacity) {
		size_t cap = store->topic_capacity ? store->topic_capacity * 2 : 8;
		rill_topic_state **grown = rill__realloc(store->topics, cap * sizeof(*grown));
		if (grown == NULL)
			return rill__error(RILL_ENOMEM, "cannot grow the topic list");
		store->topics = grown;
		store->topic_capacity = cap;
	}
	store->topics[store->topic_count++] = t;
	return 0;
}

static void remove_topic(rill_store *store, rill_topic_state *t)
{
	for (size_t i = 0; i < store->topic_count; i++) {
		if (store->topics[i] == t) {
			store->topics[i] = store->topics[--store->topic_count];
			return;
		}
	}
}

int rill__store_new_handle(rill_topic **out, rill_store *store, rill_topic_state *t)
{
	rill_topic *h = rill__calloc(1, sizeof(*h));
	if (h == NULL)
		return rill__error(RILL_ENOMEM, "cannot allocate a topic handle");
	h->state = t;
	h->next_handle = store->handles;
	if (store->handles != NULL)
		store->handles->prev_handle = h;
	store->handles = h;
	t->handles++;
	*out = h;
	return 0;
}

void rill__store_free_handle(rill_store *store, rill_topic *h)
{
	if (h->prev_handle != NULL)
		h->prev_handle->next_handle = h->next_handle;
	else
		store->handles = h->next_handle;
	if (h->next_handle != NULL)
		h->next_handle->prev_handle = h->prev_handle;
	h->state->handles--;
	rill__free(h);
}

/* ============================================================ open / close */

typedef struct load_ctx {
	rill_store *store;
	bool clean;
	int rc;
	char **names;
	size_t count;
} load_ctx;

static int collect_entry(void *arg, const char *name)
{
	load_ctx *ctx = arg;
	rill_store *store = ctx->store;
	char path[RILL_PATH_MAX];
	if (rill__path(path, sizeof(path), "%s/%s", store->path, name) != 0)
		return 0;
	bool tmp = strncmp(name, RILL_TMP_PREFIX, strlen(RILL_TMP_PREFIX)) == 0;
	bool deleted = strncmp(name, RILL_DELETED_PREFIX, strlen(RILL_DELETED_PREFIX)) == 0;
	if (tmp || deleted) {
		if (!store->env.readonly) {
			/* A create that never finished, or a delete that did not. */
			int rc = rill__remove_tree(store->env.io, path);
			if (rc != 0) {
				ctx->rc = rc;
				return 1;
			}
		}
		return 0;
	}
	if (!rill__valid_topic_name(name))
		return 0;
	int type = 0;
	int err = store->env.io->stat(store->env.io->ctx, path, &type);
	if (err != 0 && err != -ENOENT) {
		/* Not knowing whether this is a topic must fail the open: a
		 * skipped topic would look deleted (and its name free). */
		ctx->rc = rill__io_error(err, "stat", path);
		return 1;
	}
	if (err != 0 || type != RILL_IO_DIR)
		return 0;
	char **grown = rill__realloc(ctx->names, (ctx->count + 1) * sizeof(*grown));
	if (grown == NULL) {
		ctx->rc = rill__error(RILL_ENOMEM, "cannot list topics");
		return 1;
	}
	ctx->names = grown;
	ctx->names[ctx->count] = rill__strdup(name);
	if (ctx->names[ctx->count] == NULL) {
		ctx->rc = rill__error(RILL_ENOMEM, "cannot list topics");
		return 1;
	}
	ctx->count++;
	return 0;
}

static int load_topics(rill_store *store, bool clean)
{
	load_ctx ctx = {store, clean, 0, NULL, 0};
	int err = store->env.io->list_dir(store->env.io->ctx, store->path, collect_entry, &ctx);
	int rc = err == 1 ? ctx.rc : err != 0 ? rill__io_error(err, "list", store->path) : 0;
	for (size_t i = 0; i < ctx.count; i++) {
		if (rc == 0) {
			rill_topic_state *t = NULL;
			rc = rill__topic_load(&t, store, ctx.names[i], clean);
			if (rc == RILL_ENOTFOUND) {
				/* A directory without topic.meta is not a topic. */
				rc = 0;
			} else if (rc == 0) {
				rc = add_topic(store, t);
				if (rc != 0)
					rill__topic_state_close(t);
			}
		}
		rill__free(ctx.names[i]);
	}
	rill__free(ctx.names);
	return rc;
}

static size_t default_max_open_files(void)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
		size_t quarter = (size_t)lim.rlim_cur / 4;
		return quarter < 64 ? 64 : quarter > 4096 ? 4096 : quarter;
	}
	return 256;
}

static void store_free(rill_store *store)
{
	if (store == NULL)
		return;
	for (size_t i = 0; i < store->encoder_count; i++)
		rill__batch_encoder_free(store->encoders[i]);
	rill__free(store->encoders);
	rill__free(store->topics);
	rill__free(store->path);
	pthread_mutex_destroy(&store->lock);
	pthread_mutex_destroy(&store->pool_lock);
	pthread_mutex_destroy(&store->thread_lock);
	pthread_cond_destroy(&store->thread_cond);
	rill__free(store);
}

static int check_io_table(const rill_io *io)
{
	if (io->version < 1)
		return rill__error(RILL_EVERSION, "I/O table version %u not supported", io->version);
	if (!io->open || !io->close || !io->pread || !io->pwrite || !io->fdatasync || !io->fsync ||
	    !io->ftruncate || !io->file_size || !io->stat || !io->rename || !io->unlink || !io->mkdir ||
	    !io->rmdir || !io->list_dir || !io->lock || !io->now_ms || !io->monotonic_ns)
		return rill__error(RILL_EINVAL, "I/O table is missing a required function");
	if ((io->map == NULL) != (io->unmap == NULL))
		return rill__error(RILL_EINVAL, "I/O table has map without unmap or the reverse");
	return 0;
}

/* Create the store directory if missing; its entry is synced into the
 * parent so the store itself survives a power loss (R2). */
static int ensure_directory(const rill_io *io, const char *path, uint32_t flags)
{
	int type = 0;
	int err = io->stat(io->ctx, path, &type);
	if (err == 0) {
		if (type != RILL_IO_DIR)
			return rill__error(RILL_EINVAL, "%s exists and is not a directory", path);
		return 0;
	}
	if (err != -ENOENT)
		return rill__io_error(err, "stat", path);
	if (flags & (RILL_OPEN_NOCREATE | RILL_OPEN_READONLY))
		return rill__error(RILL_ENOTFOUND, "store %s does not exist", path);
	err = io->mkdir(io->ctx, path, 0755);
	if (err != 0 && err != -EEXIST)
		return rill__io_error(err, "create directory", path);
	char parent[RILL_PATH_MAX];
	int rc = rill__path(parent, sizeof(parent), "%s", path);
	if (rc != 0)
		return rc;
	char *slash = strrchr(parent, '/');
	while (slash != NULL && slash != parent && slash[1] == '\0') {
		*slash = '\0';
		slash = strrchr(parent, '/');
	}
	if (slash == NULL)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	return rill__sync_dir(io, parent);
}

static int check_marker(rill_store *store)
{
	const rill_io *io = store->env.io;
	char path[RILL_PATH_MAX];
	int rc = rill__path(path, sizeof(path), "%s/%s", store->path, RILL_STORE_MARKER);
	if (rc != 0)
		return rc;
	char *text = NULL;
	size_t len = 0;
	rc = rill__read_small_file(io, path, &text, &len, 256);
	if (rc == RILL_ENOTFOUND) {
		if (store->env.readonly)
			return rill__error(RILL_ENOTFOUND, "%s is not a rill store (no %s)", store->path, RILL_STORE_MARKER);
		return rill__atomic_write(io, store->path, RILL_STORE_MARKER, RILL_STORE_MARKER_TEXT,
		                          strlen(RILL_STORE_MARKER_TEXT));
	}
	if (rc != 0)
		return rc;
	if (strcmp(text, RILL_STORE_MARKER_TEXT) != 0)
		rc = strncmp(text, "rill-store ", 11) == 0
		         ? rill__error(RILL_EVERSION, "%s: store format not supported by rill %s", path, RILL_VERSION_STRING)
		         : rill__error(RILL_ECORRUPT, "%s: not a rill store marker", path);
	rill__free(text);
	return rc;
}

int rill_store_open(rill_store **out, const char *path, const rill_options *options)
{
	rill__error_clear();
	if (out == NULL)
		return rill__error(RILL_EINVAL, "output store pointer is NULL");
	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return rill__error(RILL_EINVAL, "store path is empty");
	if (strlen(path) > RILL_PATH_MAX - 600)
		return rill__error(RILL_EINVAL, "store path longer than %d bytes", RILL_PATH_MAX - 600);
	rill_options defaults = RILL_OPTIONS_INIT;
	if (options == NULL)
		options = &defaults;
	/* Version 1 ended before batch_cache_bytes, version 2 before
	 * io_writeback: neither is read from an older version. */
	if (options->version < 1 || options->version > RILL_OPTIONS_VERSION)
		return rill__error(RILL_EVERSION, "rill_options version %u, expected 1 to %u",
		                   options->version, RILL_OPTIONS_VERSION);
	int64_t batch_cache_bytes = options->version >= 2 ? options->batch_cache_bytes : 0;
	if (batch_cache_bytes < -1)
		return rill__error(RILL_EINVAL, "batch_cache_bytes %" PRId64 ": 0 (default), -1 (none) or a size",
		                   batch_cache_bytes);
	if (batch_cache_bytes == 0)
		batch_cache_bytes = RILL_BATCH_CACHE_DEFAULT;
	if (batch_cache_bytes == -1)
		batch_cache_bytes = 0;
	if ((uint64_t)batch_cache_bytes > SIZE_MAX / 2)
		return rill__error(RILL_EINVAL, "batch_cache_bytes %" PRId64 " is too large", batch_cache_bytes);
	if ((options->flags & ~(RILL_OPEN_READONLY | RILL_OPEN_NOCREATE)) != 0)
		return rill__error(RILL_EINVAL, "unknown store open flags 0x%x", options->flags);
	if (options->max_open_files < 0)
		return rill__error(RILL_EINVAL, "max_open_files %d is negative", options->max_open_files);
	const rill_io *io = options->io != NULL ? options->io : rill_io_posix();
	int rc = check_io_table(io);
	if (rc != 0)
		return rc;

	rill_store *store = rill__calloc(1, sizeof(*store));
	if (store == NULL)
		return rill__error(RILL_ENOMEM, "cannot allocate the store");
	store->lock_fd = -1;
	pthread_mutex_init(&store->lock, NULL);
	pthread_mutex_init(&store->pool_lock, NULL);
	pthread_mutex_init(&store->thread_lock, NULL);
	pthread_cond_init(&store->thread_cond, NULL);
	store->io = *io;
	store->env.io = &store->io;
	if (options->version >= 3 && options->io_writeback != NULL)
		store->env.writeback = options->io_writeback;
	else if (io == rill_io_posix())
		store->env.writeback = rill__posix_writeback;
	store->env.logger.fn = options->log;
	store->env.logger.ctx = options->log_ctx;
	store->env.readonly = (options->flags & RILL_OPEN_READONLY) != 0;
	store->env.repair = options->repair != 0;
	store->path = rill__strdup(path);
	bool cache_ready = false;
	bool batch_cache_ready = false;
	if (store->path == NULL) {
		rc = rill__error(RILL_ENOMEM, "cannot allocate the store");
		goto fail;
	}
	size_t cap = options->max_open_files > 0 ? (size_t)options->max_open_files : default_max_open_files();
	rc = rill__file_cache_init(&store->cache, &store->io, &store->env.logger, cap);
	if (rc != 0)
		goto fail;
	cache_ready = true;
	store->env.cache = &store->cache;
	rc = rill__batch_cache_init(&store->batch_cache, (size_t)batch_cache_bytes);
	if (rc != 0)
		goto fail;
	batch_cache_ready = true;
	store->env.batch_cache = &store->batch_cache;

	rc = ensure_directory(io, path, options->flags);
	if (rc != 0)
		goto fail;
	if (!store->env.readonly) {
		char lock_path[RILL_PATH_MAX];
		rc = rill__path(lock_path, sizeof(lock_path), "%s/%s", path, RILL_LOCK_FILE);
		if (rc != 0)
			goto fail;
		int err = io->open(io->ctx, lock_path, RILL_O_WRITE | RILL_O_CREATE, 0644, &store->lock_fd);
		if (err != 0) {
			rc = rill__io_error(err, "open", lock_path);
			goto fail;
		}
		err = io->lock(io->ctx, store->lock_fd, 1);
		if (err == -EWOULDBLOCK || err == -EAGAIN) {
			rc = rill__error(RILL_ELOCKED, "store %s is locked by another writer (%s)", path, lock_path);
			goto fail;
		}
		if (err != 0) {
			rc = rill__io_error(err, "lock", lock_path);
			goto fail;
		}
	}
	rc = check_marker(store);
	if (rc != 0)
		goto fail;

	char marker[RILL_PATH_MAX];
	rc = rill__path(marker, sizeof(marker), "%s/%s", path, RILL_CLEAN_MARKER);
	if (rc != 0)
		goto fail;
	int type = 0;
	store->clean_open = io->stat(io->ctx, marker, &type) == 0;
	if (!store->env.readonly && store->clean_open) {
		/* Gone before anything is trusted: a crash from here on is unclean. */
		int err = io->unlink(io->ctx, marker);
		if (err != 0) {
			rc = rill__io_error(err, "remove", marker);
			goto fail;
		}
		rc = rill__sync_dir(io, path);
		if (rc != 0)
			goto fail;
	}
	rc = load_topics(store, store->clean_open);
	if (rc != 0)
		goto fail;
	if (!store->env.readonly && !store->clean_open) {
		/* R9: the topic entries just trusted may exist only in the page
		 * cache (a process killed between a topic's rename and the sync
		 * of this directory); make them durable before anything in them
		 * is acknowledged, or a later power loss takes back a topic that
		 * took appends (or brings back one this open saw deleted). */
		rc = rill__sync_dir(io, path);
		if (rc != 0)
			goto fail;
	}
	rill__log(&store->env.logger, RILL_LOG_INFO, "store %s opened%s after a%s shutdown: %zu topics", path,
	          store->env.readonly ? " read-only" : "", store->clean_open ? " clean" : "n unclean",
	          store->topic_count);
	*out = store;
	return 0;
fail:
	{
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", rill_errmsg());
		for (size_t i = 0; i < store->topic_count; i++)
			rill__topic_state_close(store->topics[i]);
		store->topic_count = 0;
		if (store->lock_fd >= 0)
			io->close(io->ctx, store->lock_fd);
		if (cache_ready)
			rill__file_cache_destroy(&store->cache);
		if (batch_cache_ready)
			rill__batch_cache_destroy(&store->batch_cache);
		store_free(store);
		rill__error(rc, "%s", msg);
	}
	return rc;
}

static void stop_background(rill_store *store)
{
	pthread_mutex_lock(&store->thread_lock);
	bool started = store->thread_started;
	store->thread_stop = true;
	pthread_cond_broadcast(&store->thread_cond);
	pthread_mutex_unlock(&store->thread_lock);
	if (started)
		pthread_join(store->thread, NULL);
}

void rill__reader_free_at_close(struct rill_reader *reader);

int rill_store_close(rill_store *store)
{
	if (store == NULL)
		return 0;
	rill__error_clear();
	stop_background(store);
	const rill_io *io = store->env.io;
	/* Readers and handles the host left open are released here. */
	while (store->readers != NULL)
		rill__reader_free_at_close(store->readers);
	while (store->handles != NULL)
		rill__store_free_handle(store, store->handles);
	int rc = 0;
	char msg[512] = "";
	for (size_t i = 0; i < store->topic_count; i++) {
		int e = rill__topic_state_close(store->topics[i]);
		if (e != 0 && rc == 0) {
			rc = e;
			snprintf(msg, sizeof(msg), "%s", rill_errmsg());
		}
	}
	store->topic_count = 0;
	if (!store->env.readonly && rc == 0) {
		char dir_marker[RILL_PATH_MAX];
		if (rill__path(dir_marker, sizeof(dir_marker), "%s/%s", store->path, RILL_CLEAN_MARKER) == 0) {
			int fd = -1;
			int err = io->open(io->ctx, dir_marker, RILL_O_WRITE | RILL_O_CREATE | RILL_O_TRUNC, 0644, &fd);
			if (err == 0) {
				err = io->fsync(io->ctx, fd);
				io->close(io->ctx, fd);
			}
			if (err == 0)
				rc = rill__sync_dir(io, store->path);
			else
				rc = rill__io_error(err, "create", dir_marker);
			if (rc != 0)
				snprintf(msg, sizeof(msg), "%s", rill_errmsg());
		}
	}
	if (store->lock_fd >= 0)
		io->close(io->ctx, store->lock_fd);
	rill__file_cache_destroy(&store->cache);
	rill__batch_cache_destroy(&store->batch_cache);
	store_free(store);
	if (rc != 0)
		rill__error(rc, "%s", msg);
	return rc;
}

/* ================================================================= topics */

int rill_topic_create(rill_store *store, const char *name, int32_t partitions, const rill_config *config)
{
	rill__error_clear();
	if (store == NULL)
		return rill__error(RILL_EINVAL, "store is NULL");
	if (!rill__valid_topic_name(name))
		return rill__error(RILL_EINVAL,
		                   "invalid topic name '%.64s': use 1-249 of [A-Za-z0-9._-], not '.' or '..'",
		                   name ? name : "(null)");
	if (partitions < 1 || partitions > RILL_PARTITIONS_MAX)
		return rill__error(RILL_EINVAL, "topic %s: %d partitions, must be 1..%d", name, (int)partitions,
		                   RILL_PARTITIONS_MAX);
	if (store->env.readonly)
		return rill__error(RILL_EREADONLY, "store is read-only");
	rill_config defaults;
	if (config == NULL) {
		rill_config_init(&defaults);
		config = &defaults;
	}
	int rc = rill_config_validate(config);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&store->lock);
	if (rill__store_find_topic(store, name) != NULL) {
		rc = rill__error(RILL_EEXIST, "topic %s already exists", name);
		goto out;
	}
	char path[RILL_PATH_MAX];
	rc = rill__path(path, sizeof(path), "%s/%s", store->path, name);
	if (rc != 0)
		goto out;
	int type = 0;
	if (store->env.io->stat(store->env.io->ctx, path, &type) == 0) {
		rc = rill__error(RILL_EEXIST, "%s already exists", path);
		goto out;
	}
	rc = rill__topic_create_files(store, name, partitions, config);
	if (rc != 0)
		goto out;
	rill_topic_state *t = NULL;
	rc = rill__topic_load(&t, store, name, true);
	if (rc == 0) {
		rc = add_topic(store, t);
		if (rc != 0)
			rill__topic_state_close(t);
	}
	if (rc != 0) {
		/* The files are in place but the topic could not be loaded (no
		 * memory, an I/O error): take them away again, as a delete does,
		 * so a failed create leaves nothing and the name stays free
		 * (otherwise open says ENOTFOUND and create EEXIST until the next
		 * store open). Best effort: if this fails too, the next open
		 * loads the topic. */
		char msg[512], gone[RILL_PATH_MAX];
		snprintf(msg, sizeof(msg), "%s", rill_errmsg());
		const rill_io *io = store->env.io;
		if (rill__path(gone, sizeof(gone), "%s/%s%s", store->path, RILL_DELETED_PREFIX, name) == 0 &&
		    rill__remove_tree(io, gone) == 0 && io->rename(io->ctx, path, gone) == 0 &&
		    rill__sync_dir(io, store->path) == 0 && rill__remove_tree(io, gone) == 0)
			rill__sync_dir(io, store->path);
		rill__error(rc, "%s", msg);
	}
out:
	pthread_mutex_unlock(&store->lock);
	return rc;
}

int rill_topic_open(rill_topic **out, rill_store *store, const char *name)
{
	rill__error_clear();
	if (out == NULL)
		return rill__error(RILL_EINVAL, "output topic pointer is NULL");
	*out = NULL;
	if (store == NULL)
		return rill__error(RILL_EINVAL, "store is NULL");
	if (!rill__valid_topic_name(name))
		return rill__error(RILL_EINVAL, "invalid topic name '%.64s'", name ? name : "(null)");
	pthread_mutex_lock(&store->lock);
	int rc = 0;
	rill_topic_state *t = rill__store_find_topic(store, name);
	if (t == NULL && store->env.readonly) {
		/* A read-only store learns of topics created since it opened. */
		char path[RILL_PATH_MAX];
		int type = 0;
		if (rill__path(path, sizeof(path), "%s/%s", store->path, name) == 0 &&
		    store->env.io->stat(store->env.io->ctx, path, &type) == 0 && type == RILL_IO_DIR) {
			rc = rill__topic_load(&t, store, name, false);
			if (rc == 0) {
				rc = add_topic(store, t);
				if (rc != 0) {
					rill__topic_state_close(t);
					t = NULL;
				}
			}
			if (rc != 0 && rc != RILL_ENOTFOUND)
				goto out;
			rc = 0;
		}
	}
	if (t == NULL) {
		rc = rill__error(RILL_ENOTFOUND, "topic %s does not exist", name);
		goto out;
	}
	rc = rill__store_new_handle(out, store, t);
out:
	pthread_mutex_unlock(&store->lock);
	return rc;
}

void rill_topic_close(rill_topic *topic)
{
	if (topic == NULL || topic->state == NULL)
		return;
	rill_store *store = topic->state->store;
	pthread_mutex_lock(&store->lock);
	rill__store_free_handle(store, topic);
	pthread_mutex_unlock(&store->lock);
}

int rill_topic_delete(rill_store *store, const char *name)
{
	rill__error_clear();
	if (store == NULL)
		return rill__error(RILL_EINVAL, "store is NULL");
	if (!rill__valid_topic_name(name))
		return rill__error(RILL_EINVAL, "invalid topic name '%.64s'", name ? name : "(null)");
	if (store->env.readonly)
		return rill__error(RILL_EREADONLY, "store is read-only");
	const rill_io *io = store->env.io;
	pthread_mutex_lock(&store->lock);
	int rc = 0;
	rill_topic_state *t = rill__store_find_topic(store, name);
	if (t == NULL) {
		rc = rill__error(RILL_ENOTFOUND, "topic %s does not exist", name);
		goto out;
	}
	if (t->handles > 0) {
		rc = rill__error(RILL_EBUSY, "topic %s has %d open handles or readers", name, t->handles);
		goto out;
	}
	char from[RILL_PATH_MAX], to[RILL_PATH_MAX];
	rc = rill__path(from, sizeof(from), "%s/%s", store->path, name);
	if (rc == 0)
		rc = rill__path(to, sizeof(to), "%s/%s%s", store->path, RILL_DELETED_PREFIX, name);
	if (rc != 0)
		goto out;
	rc = rill__remove_tree(io, to); /* an earlier interrupted delete */
	if (rc != 0)
		goto out;
	remove_topic(store, t);
	rill__topic_state_close(t);
	rill__error_clear();
	int err = io->rename(io->ctx, from, to);
	if (err != 0) {
		rc = rill__io_error(err, "rename", from);
		goto out;
	}
	/* Once this sync returns the topic is gone, whatever happens next. */
	rc = rill__sync_dir(io, store->path);
	if (rc == 0)
		rc = rill__remove_tree(io, to);
	if (rc == 0)
		rc = rill__sync_dir(io, store->path);
out:
	pthread_mutex_unlock(&store->lock);
	return rc;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rill_topic_list(rill_store *store, int (*each)(void *arg, const char *name), void *arg)
{
	rill__error_clear();
	if (store == NULL || each == NULL)
		return rill__error(RILL_EINVAL, "store or callback is NULL");
	pthread_mutex_lock(&store->lock);
	size_t n = store->topic_count;
	char **names = rill__calloc(n ? n : 1, sizeof(*names));
	int rc = 0;
	if (names == NULL) {
		pthread_mutex_unlock(&store->lock);
		return rill__error(RILL_ENOMEM, "cannot list topics");
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		names[i] = rill__strdup(store->topics[i]->name);
		if (names[i] == NULL)
			rc = rill__error(RILL_ENOMEM, "cannot list topics");
	}
	pthread_mutex_unlock(&store->lock);
	if (rc == 0) {
		qsort(names, n, sizeof(*names), compare_names);
		/* The callback runs without locks: it may call back into rill. */
		for (size_t i = 0; i < n; i++) {
			rc = each(arg, names[i]);
			if (rc != 0)
				break;
		}
	}
	for (size_t i = 0; i < n; i++)
		rill__free(names[i]);
	rill__free(names);
	return rc;
}

/* ============================================================ maintenance */

int rill_store_maintain(rill_store *store, uint64_t *out_segments_deleted)
{
	rill__error_clear();
	if (store == NULL)
		return rill__error(RILL_EINVAL, "store is NULL");
	uint64_t deleted = 0;
	int rc = 0;
	if (!store->env.readonly) {
		int64_t now = store->env.io->now_ms(store->env.io->ctx);
		pthread_mutex_lock(&store->lock);
		for (size_t i = 0; i < store->topic_count; i++) {
			rill_topic_state *t = store->topics[i];
			pthread_rwlock_rdlock(&t->lock);
			for (int32_t j = 0; j < t->partition_count; j++) {
				int e = rill__partition_maintain(t->partitions[j], now);
				if (e == 0)
					e = rill__partition_retain(t->partitions[j], now, &deleted);
				if (rc == 0)
					rc = e;
			}
			pthread_rwlock_unlock(&t->lock);
		}
		pthread_mutex_unlock(&store->lock);
	}
	if (out_segments_deleted != NULL)
		*out_segments_deleted = deleted;
	return rc;
}

static void *background_main(void *arg)
{
	rill_store *store = arg;
	pthread_mutex_lock(&store->thread_lock);
	while (!store->thread_stop) {
		struct timespec deadline;
		clock_gettime(CLOCK_REALTIME, &deadline);
		int64_t ns = deadline.tv_nsec + (store->thread_interval_ms % 1000) * 1000000;
		deadline.tv_sec += (time_t)(store->thread_interval_ms / 1000 + ns / 1000000000);
		deadline.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&store->thread_cond, &store->thread_lock, &deadline);
		if (store->thread_stop)
			break;
		pthread_mutex_unlock(&store->thread_lock);
		int rc = rill_store_maintain(store, NULL);
		if (rc != 0)
			rill__log(&store->env.logger, RILL_LOG_ERROR, "background maintenance: %s", rill_errmsg());
		pthread_mutex_lock(&store->thread_lock);
	}
	pthread_mutex_unlock(&store->thread_lock);
	return NULL;
}

int rill_store_start_background(rill_store *store, int64_t interval_ms)
{
	rill__error_clear();
	if (store == NULL || interval_ms < 1)
		return rill__error(RILL_EINVAL, "background interval must be >= 1 ms");
	if (store->env.readonly)
		return rill__error(RILL_EREADONLY, "store is read-only");
	pthread_mutex_lock(&store->thread_lock);
	int rc = 0;
	if (store->thread_started) {
		rc = rill__error(RILL_EINVAL, "background thread already started");
	} else {
		store->thread_interval_ms = interval_ms;
		store->thread_stop = false;
		if (pthread_create(&store->thread, NULL, background_main, store) != 0)
			rc = rill__error(RILL_ENOMEM, "cannot start the background thread");
		else
			store->thread_started = true;
	}
	pthread_mutex_unlock(&store->thread_lock);
	return rc;
}

/* ================================================================== stats */

int rill_store_stats_get(rill_store_stats *out, rill_store *store)
{
	rill__error_clear();
	if (out == NULL || store == NULL)
		return rill__error(RILL_EINVAL, "store or output is NULL");
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&store->lock);
	out->topics = store->topic_count;
	for (size_t i = 0; i < store->topic_count; i++) {
		rill_topic_state *t = store->topics[i];
		pthread_rwlock_rdlock(&t->lock);
		for (int32_t j = 0; j < t->partition_count; j++) {
			rill_partition_stats ps;
			if (store->env.readonly)
				rill__partition_refresh(t->partitions[j]);
			rill__partition_stats(t->partitions[j], &ps);
			out->partitions++;
			out->segments += ps.segments;
			out->bytes_on_disk += ps.bytes_on_disk;
			out->records_appended += ps.records_appended;
			out->bytes_appended += ps.bytes_appended;
			out->records_read += ps.records_read;
			out->fsyncs += ps.fsyncs;
			out->recovered_bytes_cut += ps.recovered_bytes_cut;
			out->recovered_bytes_scanned += ps.recovered_bytes_scanned;
		}
		pthread_rwlock_unlock(&t->lock);
	}
	pthread_mutex_unlock(&store->lock);
	pthread_mutex_lock(&store->cache.lock);
	out->open_files = store->cache.open_count;
	pthread_mutex_unlock(&store->cache.lock);
	out->clean_open = store->clean_open;
	rill_batch_cache_stats bc;
	rill__batch_cache_stats(&store->batch_cache, &bc);
	out->batch_cache_bytes = bc.bytes;
	out->batch_cache_batches = bc.entries;
	out->batch_cache_hits = bc.hits;
	out->batch_cache_misses = bc.misses;
	return 0;
}

/* ================================================================= verify */

int rill_verify(rill_store *store, const char *name,
                void (*problem)(void *arg, const rill_verify_problem *p), void *arg,
                uint64_t *out_batches, uint64_t *out_problems)
{
	rill__error_clear();
	if (store == NULL)
		return rill__error(RILL_EINVAL, "store is NULL");
	if (name != NULL && !rill__valid_topic_name(name))
		return rill__error(RILL_EINVAL, "invalid topic name '%.64s'", name);
	rill_batch_decoder *dec = NULL;
	int rc = rill__batch_decoder_new(&dec);
	if (rc != 0)
		return rc;
	uint64_t batches = 0, problems = 0;
	bool found = name == NULL;
	pthread_mutex_lock(&store->lock);
	for (size_t i = 0; i < store->topic_count && rc == 0; i++) {
		rill_topic_state *t = store->topics[i];
		if (name != NULL && strcmp(name, t->name) != 0)
			continue;
		found = true;
		pthread_rwlock_rdlock(&t->lock);
		for (int32_t j = 0; j < t->partition_count && rc == 0; j++)
			rc = rill__partition_verify(t->partitions[j], dec, problem, arg, &batches, &problems);
		pthread_rwlock_unlock(&t->lock);
	}
	pthread_mutex_unlock(&store->lock);
	rill__batch_decoder_free(dec);
	if (out_batches != NULL)
		*out_batches = batches;
	if (out_problems != NULL)
		*out_problems = problems;
	if (rc != 0)
		return rc;
	if (!found)
		return rill__error(RILL_ENOTFOUND, "topic %s does not exist", name);
	if (problems > 0)
		return rill__error(RILL_ECORRUPT, "%" PRIu64 " bad batches found", problems);
	return 0;
}
