/*
 * topic.c — topics: the partitions of a topic, its metadata and
 * configuration files, partition choice, and the public per-topic calls
 * (append, offsets, sync, retention, alter).
 *
 * Directory "<store>/<topic>/":
 *   topic.meta          "rill-topic 1\npartitions=N\n", replaced atomically
 *   topic.conf          the configuration as key=value lines, replaced atomically
 *   <topic>-<n>/        partition n (partition.c)
 *
 * Atomic create: everything is built in "<store>/.tmp-<topic>/" (meta,
 * config, empty partition directories), that directory is fsync'd, renamed
 * to "<store>/<topic>" and the store directory fsync'd. A crash before the
 * rename leaves a .tmp- directory that the next open removes; after it,
 * the whole topic. Partitions create their first segment when first opened.
 *
 * Atomic delete: rename to "<store>/.deleted-<topic>", fsync the store
 * directory, then remove the tree; the next open finishes an interrupted
 * removal.
 *
 * Adding partitions: the new partition directories are created and synced
 * into the topic directory first, then topic.meta is replaced with the new
 * count. Directories past the count in topic.meta are leftovers of an
 * interrupted add (nothing in them was ever acknowledged) and are removed.
 *
 * Appends encode outside every lock with an encoder borrowed from the
 * store's pool (so compression runs in parallel and, after warm-up,
 * nothing is allocated), then take only the partition lock to write.
 *
 * A topic of many partitions closes them, and recovers them after an
 * unclean stop, from several threads: each partition pays syncs of its own
 * (a close with new data syncs the log and replaces the checkpoint), and
 * one after another 10,000 of them took 20 s to close; in parallel the
 * file system folds concurrent syncs into shared journal commits. Few
 * partitions open and close in the calling thread alone, in order, so a
 * run on a simulated file system keeps its order of operations (crash
 * tests replay by operation count).
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <xxhash.h>

#include "config.h"
#include "fs.h"
#include "partitioner.h"

#define TOPIC_META_MAX 256

/* ============================================================= meta files */

/*
 * Both metadata files carry an XXH3-64 checksum line that rill always
 * writes, so that a flipped bit cannot quietly change a partition count or
 * a retention setting (and delete data on that word):
 *   topic.meta:  "rill-topic 1\npartitions=N\nchecksum=<16 hex>\n"
 *                (checksum of the two lines before it)
 *   topic.conf:  "# rill topic configuration checksum=<16 hex>\n" then the
 *                key=value lines (checksum of everything after line 1)
 * A file without the line (written by hand) is accepted; one with a line
 * that does not match is RILL_ECORRUPT naming the file.
 */
#define CONF_CHECKSUM_PREFIX "# rill topic configuration checksum="

static int write_meta(const rill_io *io, const char *dir, int32_t partitions)
{
	char text[TOPIC_META_MAX];
	int n = snprintf(text, sizeof(text), "rill-topic 1\npartitions=%d\n", (int)partitions);
	uint64_t sum = XXH3_64bits(text, (size_t)n);
	n += snprintf(text + n, sizeof(text) - (size_t)n, "checksum=%016" PRIx64 "\n", sum);
	return rill__atomic_write(io, dir, RILL_TOPIC_META, text, (size_t)n);
}

static int read_meta(const rill_io *io, const char *dir, int32_t *out_partitions)
{
	char path[RILL_PATH_MAX];
	int rc = rill__path(path, sizeof(path), "%s/%s", dir, RILL_TOPIC_META);
	if (rc != 0)
		return rc;
	char *text = NULL;
	size_t len = 0;
	rc = rill__read_small_file(io, path, &text, &len, TOPIC_META_MAX);
	if (rc != 0)
		return rc;
	int partitions = 0, consumed = 0, body = 0;
	unsigned long long sum = 0;
	bool ok = sscanf(text, "rill-topic 1\npartitions=%d\n%n", &partitions, &consumed) == 1 &&
	          partitions >= 1 && partitions <= RILL_PARTITIONS_MAX && consumed > 0 &&
	          text[11] == '1' && text[12] == '\n' && text[consumed - 1] == '\n';
	if (ok && (size_t)consumed != len) {
		body = consumed;
		int more = 0;
		ok = sscanf(text + body, "checksum=%16llx\n%n", &sum, &more) == 1 && more == 17 + 9 &&
		     (size_t)(body + more) == len && text[len - 1] == '\n';
		if (ok && XXH3_64bits(text, (size_t)body) != (uint64_t)sum)
			rc = rill__error(RILL_ECORRUPT, "%s: checksum mismatch", path);
	}
	if (rc == 0 && !ok) {
		rc = strncmp(text, "rill-topic ", 11) == 0 && strncmp(text, "rill-topic 1\n", 13) != 0
		         ? rill__error(RILL_EVERSION, "%s: unsupported topic format", path)
		         : rill__error(RILL_ECORRUPT, "%s: not a valid topic.meta", path);
	}
	if (rc == 0)
		*out_partitions = partitions;
	rill__free(text);
	return rc;
}

static int write_conf(const rill_io *io, const char *dir, const rill_config *config)
{
	char text[RILL_CONFIG_TEXT_MAX + 64];
	size_t header = strlen(CONF_CHECKSUM_PREFIX) + 16 + 1;
	size_t n = rill__config_format(config, text + header, sizeof(text) - header);
	if (n >= sizeof(text) - header)
		return rill__error(RILL_EINVAL, "configuration text too long");
	uint64_t sum = XXH3_64bits(text + header, n);
	char line[64];
	snprintf(line, sizeof(line), "%s%016" PRIx64 "\n", CONF_CHECKSUM_PREFIX, sum);
	memcpy(text, line, header);
	return rill__atomic_write(io, dir, RILL_TOPIC_CONF, text, header + n);
}

static int read_conf(const rill_io *io, const char *dir, rill_config *out)
{
	char path[RILL_PATH_MAX];
	int rc = rill__path(path, sizeof(path), "%s/%s", dir, RILL_TOPIC_CONF);
	if (rc != 0)
		return rc;
	char *text = NULL;
	size_t len = 0;
	rc = rill__read_small_file(io, path, &text, &len, RILL_CONFIG_PARSE_BYTES_MAX);
	if (rc != 0)
		return rc;
	size_t prefix = strlen(CONF_CHECKSUM_PREFIX);
	if (len >= prefix && memcmp(text, CONF_CHECKSUM_PREFIX, prefix) == 0) {
		unsigned long long sum = 0;
		int used = 0;
		if (sscanf(text + prefix, "%16llx\n%n", &sum, &used) != 1 || used != 17 ||
		    len < prefix + 17 || text[prefix + 16] != '\n' ||
		    XXH3_64bits(text + prefix + 17, len - prefix - 17) != (uint64_t)sum)
			rc = rill__error(RILL_ECORRUPT, "%s: checksum mismatch", path);
	}
	if (rc == 0) {
		rc = rill__config_parse(out, text, len);
		if (rc != 0)
			rc = rill__error(rc == RILL_ENOMEM ? rc : RILL_ECORRUPT, "%s: %s", path, rill_errmsg());
	}
	rill__free(text);
	return rc;
}

static int partition_dir(char *buf, size_t size, const char *topic_dir, const char *name, int32_t n)
{
	return rill__path(buf, size, "%s/%s-%d", topic_dir, name, (int)n);
}

/* ========================================================= create and load */

int rill__topic_create_files(rill_store *store, const char *name, int32_t partitions,
                             const rill_config *config)
{
	const rill_io *io = store->env.io;
	char tmp[RILL_PATH_MAX], final[RILL_PATH_MAX], dir[RILL_PATH_MAX];
	int rc = rill__path(tmp, sizeof(tmp), "%s/%s%s", store->path, RILL_TMP_PREFIX, name);
	if (rc == 0)
		rc = rill__path(final, sizeof(final), "%s/%s", store->path, name);
	if (rc != 0)
		return rc;
	rc = rill__remove_tree(io, tmp); /* a leftover of a crashed create */
	if (rc != 0)
		return rc;
	int err = io->mkdir(io->ctx, tmp, 0755);
	if (err != 0)
		return rill__io_error(err, "create directory", tmp);
	rc = write_conf(io, tmp, config);
	if (rc == 0)
		rc = write_meta(io, tmp, partitions);
	for (int32_t i = 0; i < partitions && rc == 0; i++) {
		rc = partition_dir(dir, sizeof(dir), tmp, name, i);
		if (rc == 0)
			rc = rill__partition_create_dir(&store->env, dir);
	}
	if (rc == 0)
		rc = rill__sync_dir(io, tmp);
	if (rc == 0) {
		err = io->rename(io->ctx, tmp, final);
		if (err != 0)
			rc = rill__io_error(err, "rename", tmp);
	}
	if (rc == 0)
		rc = rill__sync_dir(io, store->path);
	if (rc != 0) {
		int saved = rc;
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", rill_errmsg());
		rill__remove_tree(io, tmp);
		rc = rill__error(saved, "%s", msg);
	}
	return rc;
}

typedef struct extra_dirs {
	const char *name;
	int32_t count;
	char **extra;                 /* partition dirs numbered >= count */
	size_t extra_count;
	int rc;
} extra_dirs;

static int find_extra(void *arg, const char *entry)
{
	extra_dirs *x = arg;
	size_t len = strlen(x->name);
	if (strncmp(entry, x->name, len) != 0 || entry[len] != '-')
		return 0;
	char *end = NULL;
	errno = 0;
	long n = strtol(entry + len + 1, &end, 10);
	if (errno != 0 || end == entry + len + 1 || *end != '\0' || n < x->count)
		return 0;
	char **grown = rill__realloc(x->extra, (x->extra_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		x->rc = rill__error(RILL_ENOMEM, "cannot list partitions");
		return 1;
	}
	x->extra = grown;
	x->extra[x->extra_count] = rill__strdup(entry);
	if (x->extra[x->extra_count] == NULL) {
		x->rc = rill__error(RILL_ENOMEM, "cannot list partitions");
		return 1;
	}
	x->extra_count++;
	return 0;
}

static int count_entry(void *arg, const char *name)
{
	(void)name;
	(*(size_t *)arg)++;
	return 0;
}

/* Remove partition directories past the count (interrupted add). */
static int remove_extra_partitions(rill_store *store, rill_topic_state *t)
{
	const rill_io *io = store->env.io;
	extra_dirs x = {t->name, t->partition_count, NULL, 0, 0};
	int err = io->list_dir(io->ctx, t->dir, find_extra, &x);
	int rc = err == 1 ? x.rc : err != 0 ? rill__io_error(err, "list", t->dir) : 0;
	for (size_t i = 0; i < x.extra_count; i++) {
		if (rc == 0) {
			char path[RILL_PATH_MAX];
			rc = rill__path(path, sizeof(path), "%s/%s", t->dir, x.extra[i]);
			/* An interrupted add leaves its directories empty: they are
			 * opened (and take files) only after topic.meta names them
			 * durably. One that holds files was named by topic.meta once,
			 * so a count that no longer names it is damage (topic.meta has
			 * no checksum: one flipped bit turns "3" into "2"), and its
			 * data must not be deleted on that word. */
			size_t entries = 0;
			if (rc == 0) {
				int e = io->list_dir(io->ctx, path, count_entry, &entries);
				if (e != 0)
					rc = rill__io_error(e, "list", path);
				else if (entries > 0)
					rc = rill__error(RILL_ECORRUPT,
					                 "%s/%s says %d partitions, but %s holds %zu files: topic.meta is damaged "
					                 "(nothing was removed)",
					                 t->dir, RILL_TOPIC_META, (int)t->partition_count, path, entries);
			}
			if (rc == 0) {
				rill__log(&store->env.logger, RILL_LOG_WARN,
				          "topic %s: removing %s left by an interrupted add-partitions", t->name, x.extra[i]);
				rc = rill__remove_tree(io, path);
			}
		}
		rill__free(x.extra[i]);
	}
	rill__free(x.extra);
	if (rc == 0 && x.extra_count > 0)
		rc = rill__sync_dir(io, t->dir);
	return rc;
}

static void topic_state_free(rill_topic_state *t)
{
	if (t == NULL)
		return;
	rill__free(t->partitions);
	rill__free(t->name);
	rill__free(t->dir);
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->partitioner_lock);
	rill__free(t);
}

/* Runs of at least this many partitions are opened or closed in
 * parallel. */
#define PARALLEL_MIN 32
/* Helper threads for that, beside the caller: the work is mostly waiting
 * for syncs, not computing, so more threads than cores still help. */
#define PARALLEL_HELPERS 7

typedef int (*partition_fn)(rill_topic_state *t, int32_t i, void *arg);

typedef struct partition_work {
	rill_topic_state *topic;
	int32_t to;
	partition_fn fn;
	void *arg;
	bool stop_on_error;
	atomic_int next;              /* next partition to start */
	atomic_bool failed;
	pthread_mutex_t lock;         /* the first error, below */
	int rc;
	char msg[512];
} partition_work;

static void *partition_worker(void *arg)
{
	partition_work *w = arg;
	for (;;) {
		if (w->stop_on_error && atomic_load(&w->failed))
			break;
		int32_t i = atomic_fetch_add(&w->next, 1);
		if (i >= w->to)
			break;
		int rc = w->fn(w->topic, i, w->arg);
		if (rc != 0) {
			/* the message is this thread's: keep it for the caller */
			pthread_mutex_lock(&w->lock);
			if (w->rc == 0) {
				w->rc = rc;
				snprintf(w->msg, sizeof(w->msg), "%s", rill_errmsg());
			}
			pthread_mutex_unlock(&w->lock);
			atomic_store(&w->failed, true);
		}
	}
	return NULL;
}

/*
 * fn(t, i, arg) for every partition i in [from, to): from several threads
 * when asked and there are PARALLEL_MIN or more, else in the calling
 * thread alone, in order. With stop_on_error no partition is started after one failed
 * (those already running finish). Returns the first failure, with the
 * message of the thread it happened in.
 */
static int for_each_partition(rill_topic_state *t, int32_t from, int32_t to, partition_fn fn,
                              void *arg, bool stop_on_error, bool parallel)
{
	partition_work w = {.topic = t, .to = to, .fn = fn, .arg = arg, .stop_on_error = stop_on_error};
	atomic_init(&w.next, from);
	atomic_init(&w.failed, false);
	pthread_mutex_init(&w.lock, NULL);
	pthread_t helpers[PARALLEL_HELPERS];
	int started = 0;
	if (parallel && to - from >= PARALLEL_MIN) {
		/* A helper that cannot start leaves its share to the others. */
		while (started < PARALLEL_HELPERS &&
		       pthread_create(&helpers[started], NULL, partition_worker, &w) == 0)
			started++;
	}
	partition_worker(&w);
	for (int i = 0; i < started; i++)
		pthread_join(helpers[i], NULL);
	pthread_mutex_destroy(&w.lock);
	if (w.rc != 0)
		return rill__error(w.rc, "%s", w.msg);
	return 0;
}

static int open_one(rill_topic_state *t, int32_t i, void *arg)
{
	bool clean = *(const bool *)arg;
	char dir[RILL_PATH_MAX];
	int rc = partition_dir(dir, sizeof(dir), t->dir, t->name, i);
	if (rc != 0)
		return rc;
	int type = 0;
	int err = t->store->env.io->stat(t->store->env.io->ctx, dir, &type);
	if (err == -ENOENT && !t->store->env.readonly) {
		/* A partition directory named in topic.meta is missing: it
		 * was created before the meta (add-partitions), so this is
		 * damage, not an interrupted operation. */
		return rill__error(RILL_ECORRUPT, "topic %s: partition directory %s is missing", t->name, dir);
	}
	if (err != 0)
		return rill__io_error(err, "stat", dir);
	return rill__partition_open(&t->partitions[i], &t->store->env, dir, t->name, i, &t->config, clean);
}

/* Partitions [from, to); in parallel when there are many and the stop was
 * unclean: for a recovery, which scans each partition's tail (1,000
 * partitions with 32 MB to recover opened in 0.97-1.02 s instead of
 * 1.45-2.59 s). Not for a clean open, little work a partition and mostly
 * the CPU's (10,000 partitions reopened in 1.9-2.0 s in parallel on 2
 * vCPUs, 1.5-1.7 s in order), nor for a topic's first open: creating
 * 10,000 partitions went from 14-21 s to 10-13 s, but the close that
 * followed took as much longer. On failure those opened stay in
 * t->partitions for the caller to close. */
static int open_partitions(rill_topic_state *t, int32_t from, int32_t to, bool clean)
{
	return for_each_partition(t, from, to, open_one, &clean, true, !clean);
}

static int close_one(rill_topic_state *t, int32_t i, void *arg)
{
	(void)arg;
	int rc = rill__partition_close(t->partitions[i]);
	t->partitions[i] = NULL;
	return rc;
}

int rill__topic_load(rill_topic_state **out, rill_store *store, const char *name, bool clean)
{
	*out = NULL;
	rill_topic_state *t = rill__calloc(1, sizeof(*t));
	if (t == NULL)
		return rill__error(RILL_ENOMEM, "cannot allocate topic %s", name);
	pthread_rwlock_init(&t->lock, NULL);
	pthread_mutex_init(&t->partitioner_lock, NULL);
	t->store = store;
	t->name = rill__strdup(name);
	char dir[RILL_PATH_MAX];
	int rc = rill__path(dir, sizeof(dir), "%s/%s", store->path, name);
	if (rc != 0)
		goto fail;
	t->dir = rill__strdup(dir);
	if (t->name == NULL || t->dir == NULL) {
		rc = rill__error(RILL_ENOMEM, "cannot allocate topic %s", name);
		goto fail;
	}
	rc = read_meta(store->env.io, t->dir, &t->partition_count);
	if (rc == 0)
		rc = read_conf(store->env.io, t->dir, &t->config);
	if (rc != 0)
		goto fail;
	t->partitions = rill__calloc((size_t)t->partition_count, sizeof(*t->partitions));
	if (t->partitions == NULL) {
		rc = rill__error(RILL_ENOMEM, "cannot allocate %d partitions", (int)t->partition_count);
		goto fail;
	}
	if (!store->env.readonly) {
		rc = remove_extra_partitions(store, t);
		if (rc != 0)
			goto fail;
	}
	rc = open_partitions(t, 0, t->partition_count, clean);
	if (rc != 0)
		goto fail;
	if (!store->env.readonly && !clean) {
		/* R9: topic.meta, topic.conf and the partition entries read above
		 * may be renames still in the page cache (a process killed before
		 * the directory sync); make them durable before the partitions
		 * acknowledge appends, or a power loss brings back the old count
		 * beside partitions that hold acknowledged data. */
		rc = rill__sync_dir(store->env.io, t->dir);
		if (rc != 0)
			goto fail;
	}
	*out = t;
	return 0;
fail:
	if (t->partitions != NULL) {
		for (int32_t i = 0; i < t->partition_count; i++) {
			if (t->partitions[i] != NULL) {
				/* keep the first error's message */
				char msg[512];
				snprintf(msg, sizeof(msg), "%s", rill_errmsg());
				rill__partition_close(t->partitions[i]);
				rill__error(rc, "%s", msg);
			}
		}
	}
	topic_state_free(t);
	return rc;
}

int rill__topic_state_close(rill_topic_state *t)
{
	int rc = for_each_partition(t, 0, t->partition_count, close_one, NULL, false, true);
	topic_state_free(t);
	return rc;
}

/* ============================================================ public calls */

static int check_handle(const rill_topic *topic)
{
	if (topic == NULL || topic->state == NULL)
		return rill__error(RILL_EINVAL, "topic handle is NULL");
	return 0;
}

int32_t rill_topic_partitions(const rill_topic *topic)
{
	if (topic == NULL || topic->state == NULL)
		return 0;
	rill_topic_state *t = topic->state;
	pthread_rwlock_rdlock(&t->lock);
	int32_t n = t->partition_count;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

const char *rill_topic_name(const rill_topic *topic)
{
	if (topic == NULL || topic->state == NULL)
		return NULL;
	return topic->state->name;
}

int rill_topic_config(rill_config *out, const rill_topic *topic)
{
	rill__error_clear();
	if (out == NULL)
		return rill__error(RILL_EINVAL, "output config is NULL");
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	pthread_rwlock_rdlock(&topic->state->lock);
	*out = topic->state->config;
	pthread_rwlock_unlock(&topic->state->lock);
	return 0;
}

int rill_topic_alter(rill_topic *topic, const char *key, const char *value)
{
	rill__error_clear();
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	if (key == NULL || value == NULL)
		return rill__error(RILL_EINVAL, "config key or value is NULL");
	rill_topic_state *t = topic->state;
	if (t->store->env.readonly)
		return rill__error(RILL_EREADONLY, "store is read-only");
	pthread_rwlock_wrlock(&t->lock);
	rill_config next = t->config;
	rc = rill_config_set(&next, key, value);
	if (rc == 0 && !rill__config_key_mutable(key))
		rc = rill__error(RILL_EINVAL, "config %s cannot change after the topic is created", key);
	if (rc == 0)
		rc = rill_config_validate(&next);
	if (rc == 0)
		rc = write_conf(t->store->env.io, t->dir, &next);
	if (rc == 0) {
		t->config = next;
		for (int32_t i = 0; i < t->partition_count; i++)
			rill__partition_set_config(t->partitions[i], &next);
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int rill_topic_add_partitions(rill_topic *topic, int32_t partitions)
{
	rill__error_clear();
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	rill_topic_state *t = topic->state;
	if (t->store->env.readonly)
		return rill__error(RILL_EREADONLY, "store is read-only");
	pthread_rwlock_wrlock(&t->lock);
	int32_t old = t->partition_count;
	if (partitions < old || partitions > RILL_PARTITIONS_MAX) {
		rc = rill__error(RILL_EINVAL, "topic %s: cannot go from %d to %d partitions (only grow, at most %d)",
		                 t->name, (int)old, (int)partitions, RILL_PARTITIONS_MAX);
		goto out;
	}
	if (partitions == old)
		goto out;
	rill_partition **grown = rill__realloc(t->partitions, (size_t)partitions * sizeof(*grown));
	if (grown == NULL) {
		rc = rill__error(RILL_ENOMEM, "cannot allocate %d partitions", (int)partitions);
		goto out;
	}
	t->partitions = grown;
	for (int32_t i = old; i < partitions; i++)
		t->partitions[i] = NULL;
	const rill_io *io = t->store->env.io;
	for (int32_t i = old; i < partitions && rc == 0; i++) {
		char dir[RILL_PATH_MAX];
		rc = partition_dir(dir, sizeof(dir), t->dir, t->name, i);
		if (rc == 0)
			rc = rill__remove_tree(io, dir);
		if (rc == 0)
			rc = rill__partition_create_dir(&t->store->env, dir);
	}
	/* The directories are durable before the count that names them. */
	if (rc == 0)
		rc = rill__sync_dir(io, t->dir);
	if (rc == 0)
		rc = write_meta(io, t->dir, partitions);
	if (rc == 0) {
		rc = open_partitions(t, old, partitions, true);
		if (rc != 0) {
			for (int32_t i = old; i < partitions; i++) {
				rill__partition_close(t->partitions[i]);
				t->partitions[i] = NULL;
			}
			/* The meta names them; the next open retries loading. */
		} else {
			t->partition_count = partitions;
		}
	}
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int rill_topic_set_partitioner(rill_topic *topic, int kind,
                               int32_t (*fn)(void *ctx, const rill_record *record, int32_t partitions),
                               void *ctx)
{
	rill__error_clear();
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	if (fn == NULL && kind != RILL_PARTITIONER_XXH3 && kind != RILL_PARTITIONER_MURMUR2)
		return rill__error(RILL_EINVAL, "unknown partitioner kind %d", kind);
	rill_topic_state *t = topic->state;
	pthread_mutex_lock(&t->partitioner_lock);
	t->partitioner_kind = kind;
	t->partitioner_fn = fn;
	t->partitioner_ctx = ctx;
	pthread_mutex_unlock(&t->partitioner_lock);
	return 0;
}

/* Choose the partition of an AUTO batch; every keyed record must agree. */
static int choose_partition(rill_topic_state *t, const rill_record *records, size_t count,
                            int32_t partitions, int32_t *out)
{
	pthread_mutex_lock(&t->partitioner_lock);
	int kind = t->partitioner_kind;
	int32_t (*fn)(void *, const rill_record *, int32_t) = t->partitioner_fn;
	void *ctx = t->partitioner_ctx;
	pthread_mutex_unlock(&t->partitioner_lock);
	int32_t chosen = -1;
	for (size_t i = 0; i < count; i++) {
		int32_t p;
		if (fn != NULL) {
			p = fn(ctx, &records[i], partitions);
			if (p < 0 || p >= partitions)
				return rill__error(RILL_EINVAL, "partitioner callback returned %d for %d partitions",
				                   (int)p, (int)partitions);
		} else if (records[i].key != NULL) {
			p = rill_partition_for_key(kind, records[i].key, records[i].key_len, partitions);
		} else {
			continue;
		}
		if (chosen >= 0 && p != chosen)
			return rill__error(RILL_EINVAL,
			                   "records of one batch map to different partitions (record 0 -> %d, record %zu -> %d); "
			                   "append them separately or name the partition",
			                   (int)chosen, i, (int)p);
		chosen = p;
	}
	if (chosen < 0) /* no keys: sticky, one partition per batch, then the next */
		chosen = (int32_t)(atomic_fetch_add(&t->sticky, 1) % (uint32_t)partitions);
	*out = chosen;
	return 0;
}

static int borrow_encoder(rill_store *store, rill_batch_encoder **out)
{
	pthread_mutex_lock(&store->pool_lock);
	if (store->encoder_count > 0) {
		*out = store->encoders[--store->encoder_count];
		pthread_mutex_unlock(&store->pool_lock);
		return 0;
	}
	pthread_mutex_unlock(&store->pool_lock);
	return rill__batch_encoder_new(out);
}

static void return_encoder(rill_store *store, rill_batch_encoder *enc)
{
	pthread_mutex_lock(&store->pool_lock);
	if (store->encoder_count == store->encoder_capacity) {
		size_t cap = store->encoder_capacity ? store->encoder_capacity * 2 : 8;
		rill_batch_encoder **grown = rill__realloc(store->encoders, cap * sizeof(*grown));
		if (grown == NULL) {
			pthread_mutex_unlock(&store->pool_lock);
			rill__batch_encoder_free(enc);
			return;
		}
		store->encoders = grown;
		store->encoder_capacity = cap;
	}
	store->encoders[store->encoder_count++] = enc;
	pthread_mutex_unlock(&store->pool_lock);
}

int rill_append(rill_append_info *out, rill_topic *topic, int32_t partition,
                const rill_record *records, size_t record_count, uint32_t flags)
{
	rill__error_clear();
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	if (records == NULL || record_count == 0)
		return rill__error(RILL_EINVAL, "append needs at least one record");
	if (record_count > RILL_RECORDS_PER_BATCH_MAX)
		return rill__error(RILL_EINVAL, "append of %zu records: at most %u per batch", record_count,
		                   RILL_RECORDS_PER_BATCH_MAX);
	if ((flags & ~(RILL_APPEND_SYNC | RILL_APPEND_NOSYNC)) != 0 ||
	    ((flags & RILL_APPEND_SYNC) && (flags & RILL_APPEND_NOSYNC)))
		return rill__error(RILL_EINVAL, "append flags 0x%x: unknown or contradictory", flags);
	rill_topic_state *t = topic->state;
	rill_store *store = t->store;
	if (store->env.readonly)
		return rill__error(RILL_EREADONLY, "store is read-only");

	pthread_rwlock_rdlock(&t->lock);
	int32_t partitions = t->partition_count;
	rill_config config = t->config;
	if (partition == RILL_PARTITION_AUTO) {
		rc = choose_partition(t, records, record_count, partitions, &partition);
	} else if (partition < 0 || partition >= partitions) {
		rc = rill__error(RILL_EINVAL, "topic %s has no partition %d (it has %d)", t->name, (int)partition,
		                 (int)partitions);
	}
	rill_partition *p = rc == 0 ? t->partitions[partition] : NULL;
	pthread_rwlock_unlock(&t->lock);
	if (rc != 0)
		return rc;

	rill_batch_encoder *enc = NULL;
	rc = borrow_encoder(store, &enc);
	if (rc != 0)
		return rc;
	int64_t now = store->env.io->now_ms(store->env.io->ctx);
	rill_batch_params params = {
		.compression = config.compression_type,
		.zstd_level = config.compression_zstd_level,
		.timestamp_type = config.timestamp_type,
		.now_ms = now,
		.leader_epoch = -1,
		.producer_id = -1,
		.producer_epoch = -1,
		.base_sequence = -1,
		.partition_key = p->partition_key,
		.max_batch_bytes = (uint64_t)config.max_message_bytes,
	};
	rill_append_batch batch;
	memset(&batch, 0, sizeof(batch));
	rc = rill__batch_encode(enc, records, record_count, &params, &batch.data, &batch.size,
	                        &batch.records_hash);
	if (rc == 0) {
		rill_batch_header h;
		rc = rill__batch_parse_header(batch.data, batch.size, batch.size, &h);
		RILL_ASSERT(rc == 0);
		batch.record_count = (uint32_t)record_count;
		batch.first_timestamp = h.first_timestamp;
		batch.max_timestamp = h.max_timestamp;
		batch.log_append_time = config.timestamp_type == RILL_TIMESTAMP_LOG_APPEND_TIME;
		rc = rill__partition_append(p, &batch, flags, out);
	}
	return_encoder(store, enc);
	return rc;
}

static int get_partition(rill_topic *topic, int32_t partition, rill_partition **out)
{
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	rill_topic_state *t = topic->state;
	pthread_rwlock_rdlock(&t->lock);
	if (partition < 0 || partition >= t->partition_count)
		rc = rill__error(RILL_EINVAL, "topic %s has no partition %d (it has %d)", t->name, (int)partition,
		                 (int)t->partition_count);
	else
		*out = t->partitions[partition];
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int rill__topic_get_partition(rill_topic *topic, int32_t partition, rill_partition **out);
int rill__topic_get_partition(rill_topic *topic, int32_t partition, rill_partition **out)
{
	return get_partition(topic, partition, out);
}

int rill_partition_offsets(rill_offsets *out, rill_topic *topic, int32_t partition)
{
	rill__error_clear();
	if (out == NULL)
		return rill__error(RILL_EINVAL, "output is NULL");
	rill_partition *p = NULL;
	int rc = get_partition(topic, partition, &p);
	if (rc != 0)
		return rc;
	if (topic->state->store->env.readonly) {
		rc = rill__partition_refresh(p);
		if (rc != 0)
			return rc;
	}
	rill__partition_offsets(p, out);
	return 0;
}

int rill_offset_for_timestamp(uint64_t *out, rill_topic *topic, int32_t partition, int64_t ts)
{
	rill__error_clear();
	if (out == NULL)
		return rill__error(RILL_EINVAL, "output is NULL");
	rill_partition *p = NULL;
	int rc = get_partition(topic, partition, &p);
	if (rc != 0)
		return rc;
	return rill__partition_offset_for_timestamp(p, ts, out);
}

int rill_sync(rill_topic *topic, int32_t partition)
{
	rill__error_clear();
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	if (partition == -1) {
		int32_t n = rill_topic_partitions(topic);
		for (int32_t i = 0; i < n; i++) {
			rill_partition *p = NULL;
			int e = get_partition(topic, i, &p);
			if (e == 0)
				e = rill__partition_sync(p);
			if (rc == 0)
				rc = e;
		}
		return rc;
	}
	rill_partition *p = NULL;
	rc = get_partition(topic, partition, &p);
	if (rc != 0)
		return rc;
	return rill__partition_sync(p);
}

int rill_delete_records(rill_topic *topic, int32_t partition, uint64_t offset)
{
	rill__error_clear();
	rill_partition *p = NULL;
	int rc = get_partition(topic, partition, &p);
	if (rc != 0)
		return rc;
	return rill__partition_delete_before(p, offset);
}

int rill_topic_retain(rill_topic *topic, uint64_t *out_segments_deleted)
{
	rill__error_clear();
	int rc = check_handle(topic);
	if (rc != 0)
		return rc;
	uint64_t deleted = 0;
	int64_t now = topic->state->store->env.io->now_ms(topic->state->store->env.io->ctx);
	int32_t n = rill_topic_partitions(topic);
	for (int32_t i = 0; i < n; i++) {
		rill_partition *p = NULL;
		int e = get_partition(topic, i, &p);
		if (e == 0)
			e = rill__partition_retain(p, now, &deleted);
		if (rc == 0)
			rc = e;
	}
	if (out_segments_deleted != NULL)
		*out_segments_deleted = deleted;
	return rc;
}

int rill_partition_stats_get(rill_partition_stats *out, rill_topic *topic, int32_t partition)
{
	rill__error_clear();
	if (out == NULL)
		return rill__error(RILL_EINVAL, "output is NULL");
	rill_partition *p = NULL;
	int rc = get_partition(topic, partition, &p);
	if (rc != 0)
		return rc;
	if (topic->state->store->env.readonly)
		rill__partition_refresh(p);
	rill__partition_stats(p, out);
	return 0;
}
