/*
 * engine_rocksdb.c — RocksDB through its C API (rocksdb/c.h), set up as
 * its examples and tuning guide recommend (examples/simple_example.cc:
 * IncreaseParallelism, OptimizeLevelStyleCompaction; create_if_missing):
 *   - key = big-endian u32 partition | big-endian u64 offset, so keys sort
 *     by partition then offset and a partition is one iterator range;
 *   - one WriteBatch per append call (reused, cleared), one write;
 *   - durable: WriteOptions.sync = true (the WAL is fdatasync'd before the
 *     write returns; concurrent writers are group-committed by RocksDB);
 *     non-durable: sync = false, WAL on (data reaches the OS at each write);
 *   - reads: iterator for scans (checksums verified, RocksDB's default),
 *     rocksdb_get_pinned for point reads (no copy of the value).
 * Offsets are assigned by an atomic counter per partition.
 */
#include "bench.h"

#ifdef BENCH_HAVE_ROCKSDB

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rocksdb/c.h>

typedef struct rdb_engine {
	rocksdb_t *db;
	rocksdb_options_t *options;
	rocksdb_writeoptions_t *write_options;
	rocksdb_readoptions_t *read_options;
	int partitions;
	atomic_uint_fast64_t *next; /* next offset per partition */
} rdb_engine;

typedef struct rdb_handle {
	rdb_engine *e;
	rocksdb_writebatch_t *batch;
} rdb_handle;

static void make_key(uint8_t key[12], int partition, uint64_t offset)
{
	uint32_t p = (uint32_t)partition;
	for (int i = 0; i < 4; i++)
		key[i] = (uint8_t)(p >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		key[4 + i] = (uint8_t)(offset >> (56 - 8 * i));
}

static int rdb_fail(char *err, const char *what)
{
	engine_set_errmsg("rocksdb %s: %s", what, err != NULL ? err : "?");
	free(err);
	return -1;
}

static int rdb_open(void **out, const engine_params *p)
{
	rdb_engine *e = calloc(1, sizeof *e);
	if (e == NULL)
		return -1;
	e->partitions = p->partitions;
	e->next = calloc((size_t)p->partitions, sizeof *e->next);
	e->options = rocksdb_options_create();
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	rocksdb_options_increase_parallelism(e->options, cpus > 0 ? (int)cpus : 2);
	rocksdb_options_optimize_level_style_compaction(e->options, 512u << 20);
	rocksdb_options_set_create_if_missing(e->options, 1);
	e->write_options = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(e->write_options, (unsigned char)(p->durable != 0));
	e->read_options = rocksdb_readoptions_create();
	char *err = NULL;
	e->db = rocksdb_open(e->options, p->dir, &err);
	if (err != NULL)
		return rdb_fail(err, "open");
	if (p->reopen) {
		/* offsets: find each partition's last key */
		rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, e->read_options);
		for (int i = 0; i < p->partitions; i++) {
			uint8_t key[12];
			make_key(key, i, UINT64_MAX);
			rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof key);
			if (rocksdb_iter_valid(it)) {
				size_t klen;
				const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);
				if (klen == 12 && memcmp(k, key, 4) == 0) {
					uint64_t off = 0;
					for (int j = 0; j < 8; j++)
						off = off << 8 | k[4 + j];
					e->next[i] = off + 1;
				}
			}
		}
		rocksdb_iter_destroy(it);
	}
	*out = e;
	return 0;
}

static int rdb_close(void *engine)
{
	rdb_engine *e = engine;
	rocksdb_close(e->db);
	rocksdb_options_destroy(e->options);
	rocksdb_writeoptions_destroy(e->write_options);
	rocksdb_readoptions_destroy(e->read_options);
	free(e->next);
	free(e);
	return 0;
}

static int rdb_handle_open(void **out, void *engine, int for_read)
{
	(void)for_read;
	rdb_handle *h = calloc(1, sizeof *h);
	if (h == NULL)
		return -1;
	h->e = engine;
	h->batch = rocksdb_writebatch_create();
	*out = h;
	return 0;
}

static void rdb_handle_close(void *handle)
{
	rdb_handle *h = handle;
	rocksdb_writebatch_destroy(h->batch);
	free(h);
}

static int rdb_append(void *handle, int partition, const bench_rec *recs, size_t n)
{
	rdb_handle *h = handle;
	uint64_t base = atomic_fetch_add(&h->e->next[partition], n);
	rocksdb_writebatch_clear(h->batch);
	for (size_t i = 0; i < n; i++) {
		uint8_t key[12];
		make_key(key, partition, base + i);
		rocksdb_writebatch_put(h->batch, (const char *)key, sizeof key,
		                       recs[i].value, recs[i].len);
	}
	char *err = NULL;
	rocksdb_write(h->e->db, h->e->write_options, h->batch, &err);
	if (err != NULL)
		return rdb_fail(err, "write");
	return 0;
}

static int rdb_scan(void *handle, int partition, uint64_t *out_records,
                    uint64_t *out_bytes)
{
	rdb_handle *h = handle;
	rocksdb_iterator_t *it = rocksdb_create_iterator(h->e->db, h->e->read_options);
	uint8_t key[12];
	make_key(key, partition, 0);
	uint64_t records = 0, bytes = 0, touch = 0;
	for (rocksdb_iter_seek(it, (const char *)key, sizeof key); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		if (klen != 12 || memcmp(k, key, 4) != 0)
			break;
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vlen);
		touch += v[0];
		records++;
		bytes += vlen;
	}
	char *err = NULL;
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	if (err != NULL)
		return rdb_fail(err, "scan");
	BENCH_TOUCH(touch);
	*out_records = records;
	*out_bytes = bytes;
	return 0;
}

static int rdb_get(void *handle, int partition, uint64_t offset, size_t *out_len)
{
	rdb_handle *h = handle;
	uint8_t key[12];
	make_key(key, partition, offset);
	char *err = NULL;
	rocksdb_pinnableslice_t *v = rocksdb_get_pinned(h->e->db, h->e->read_options,
	                                                (const char *)key, sizeof key, &err);
	if (err != NULL)
		return rdb_fail(err, "get");
	if (v == NULL) {
		engine_set_errmsg("rocksdb: offset %llu not found", (unsigned long long)offset);
		return -1;
	}
	size_t len;
	const char *val = rocksdb_pinnableslice_value(v, &len);
	BENCH_TOUCH(val[0]);
	*out_len = len;
	rocksdb_pinnableslice_destroy(v);
	return 0;
}

const engine_ops engine_rocksdb = {
	.name = "rocksdb",
	.summary = "IncreaseParallelism + OptimizeLevelStyleCompaction, key = BE partition "
	           "+ BE offset, WriteBatch per append call, durable: sync=true, else "
	           "sync=false with WAL; reads: iterator / get_pinned",
	.open = rdb_open,
	.close = rdb_close,
	.handle_open = rdb_handle_open,
	.handle_close = rdb_handle_close,
	.append = rdb_append,
	.scan = rdb_scan,
	.get = rdb_get,
	.ts_lookup = NULL,
	.syncs = NULL,
	.zero_copy = NULL,
};

#endif /* BENCH_HAVE_ROCKSDB */
