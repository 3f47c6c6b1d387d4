/*
 * engine_lmdb.c — LMDB, set up as lmdb.h documents for append-only integer
 * keys:
 *   - one named database per partition, MDB_INTEGERKEY (native u64 keys);
 *   - one write transaction per append call, mdb_put(..., MDB_APPEND);
 *   - durable: default flags (the commit syncs before returning);
 *     non-durable: MDB_NOSYNC (the OS decides);
 *   - MDB_NOTLS so read transactions belong to handles, not threads;
 *   - reads: one read transaction per read handle, cursor scans (MDB_NEXT),
 *     mdb_get point reads (values point into the map: no copy).
 * LMDB has one writer at a time: concurrent producers queue on its write
 * lock (mdb_txn_begin blocks), each commit syncs on its own.
 */
#include "bench.h"

#ifdef BENCH_HAVE_LMDB

#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

typedef struct lm_engine {
	MDB_env *env;
	MDB_dbi *dbi;        /* per partition */
	uint64_t *next;      /* next offset per partition (under the write txn) */
	int partitions;
} lm_engine;

typedef struct lm_handle {
	lm_engine *e;
	MDB_txn *read_txn;   /* for_read handles */
	MDB_cursor *cursor;
} lm_handle;

static int lm_fail(int rc, const char *what)
{
	engine_set_errmsg("lmdb %s: %s", what, mdb_strerror(rc));
	return -1;
}

static int lm_open(void **out, const engine_params *p)
{
	lm_engine *e = calloc(1, sizeof *e);
	if (e == NULL || bench_mkdirs(p->dir) != 0)
		return -1;
	e->partitions = p->partitions;
	e->dbi = calloc((size_t)p->partitions, sizeof *e->dbi);
	e->next = calloc((size_t)p->partitions, sizeof *e->next);
	int rc = mdb_env_create(&e->env);
	if (rc != 0)
		return lm_fail(rc, "env_create");
	/* address space only: the file grows as pages are written */
	mdb_env_set_mapsize(e->env, (size_t)256 << 30);
	mdb_env_set_maxdbs(e->env, (MDB_dbi)p->partitions + 1);
	mdb_env_set_maxreaders(e->env, 256);
	unsigned flags = MDB_NOTLS | (p->durable ? 0u : MDB_NOSYNC);
	rc = mdb_env_open(e->env, p->dir, flags, 0644);
	if (rc != 0)
		return lm_fail(rc, "env_open");
	MDB_txn *txn;
	rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc != 0)
		return lm_fail(rc, "txn_begin");
	for (int i = 0; i < p->partitions; i++) {
		char name[32];
		snprintf(name, sizeof name, "p%d", i);
		rc = mdb_dbi_open(txn, name, MDB_CREATE | MDB_INTEGERKEY, &e->dbi[i]);
		if (rc != 0)
			return lm_fail(rc, "dbi_open");
		if (p->reopen) {
			MDB_cursor *c;
			MDB_val k, v;
			mdb_cursor_open(txn, e->dbi[i], &c);
			if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0) {
				uint64_t last;
				memcpy(&last, k.mv_data, sizeof last);
				e->next[i] = last + 1;
			}
			mdb_cursor_close(c);
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return lm_fail(rc, "commit");
	*out = e;
	return 0;
}

static int lm_close(void *engine)
{
	lm_engine *e = engine;
	int rc = mdb_env_sync(e->env, 1);
	mdb_env_close(e->env);
	free(e->dbi);
	free(e->next);
	free(e);
	return rc == 0 ? 0 : -1;
}

static int lm_handle_open(void **out, void *engine, int for_read)
{
	lm_handle *h = calloc(1, sizeof *h);
	if (h == NULL)
		return -1;
	h->e = engine;
	if (for_read) {
		int rc = mdb_txn_begin(h->e->env, NULL, MDB_RDONLY, &h->read_txn);
		if (rc != 0) {
			free(h);
			return lm_fail(rc, "read txn");
		}
	}
	*out = h;
	return 0;
}

static void lm_handle_close(void *handle)
{
	lm_handle *h = handle;
	if (h->read_txn != NULL)
		mdb_txn_abort(h->read_txn);
	free(h);
}

static int lm_append(void *handle, int partition, const bench_rec *recs, size_t n)
{
	lm_handle *h = handle;
	lm_engine *e = h->e;
	MDB_txn *txn;
	int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
	if (rc != 0)
		return lm_fail(rc, "txn_begin");
	uint64_t next = e->next[partition];
	for (size_t i = 0; i < n; i++) {
		uint64_t key = next + i;
		MDB_val k = {sizeof key, &key};
		MDB_val v = {recs[i].len, (void *)(uintptr_t)recs[i].value};
		rc = mdb_put(txn, e->dbi[partition], &k, &v, MDB_APPEND);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return lm_fail(rc, "put");
		}
	}
	e->next[partition] = next + n; /* still under the write lock */
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		e->next[partition] = next;
		return lm_fail(rc, "commit");
	}
	return 0;
}

static int lm_scan(void *handle, int partition, uint64_t *out_records,
                   uint64_t *out_bytes)
{
	lm_handle *h = handle;
	MDB_cursor *c;
	int rc = mdb_cursor_open(h->read_txn, h->e->dbi[partition], &c);
	if (rc != 0)
		return lm_fail(rc, "cursor");
	MDB_val k, v;
	uint64_t records = 0, bytes = 0, touch = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		touch += ((const uint8_t *)v.mv_data)[0];
		records++;
		bytes += v.mv_size;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return lm_fail(rc, "scan");
	BENCH_TOUCH(touch);
	*out_records = records;
	*out_bytes = bytes;
	return 0;
}

static int lm_get(void *handle, int partition, uint64_t offset, size_t *out_len)
{
	lm_handle *h = handle;
	MDB_val k = {sizeof offset, &offset}, v;
	int rc = mdb_get(h->read_txn, h->e->dbi[partition], &k, &v);
	if (rc != 0)
		return lm_fail(rc, "get");
	BENCH_TOUCH(((const uint8_t *)v.mv_data)[0]);
	*out_len = v.mv_size;
	return 0;
}

const engine_ops engine_lmdb = {
	.name = "lmdb",
	.summary = "DB per partition with MDB_INTEGERKEY, txn per append call with "
	           "MDB_APPEND, durable: default sync, else MDB_NOSYNC; reads: "
	           "one read txn, cursor / mdb_get",
	.open = lm_open,
	.close = lm_close,
	.handle_open = lm_handle_open,
	.handle_close = lm_handle_close,
	.append = lm_append,
	.scan = lm_scan,
	.get = lm_get,
	.ts_lookup = NULL,
	.syncs = NULL,
	.zero_copy = NULL,
};

#endif /* BENCH_HAVE_LMDB */
