/*
 * engine_sqlite.c — SQLite as a log, configured as its documentation
 * recommends for an append-heavy table:
 *   - journal_mode=WAL (https://sqlite.org/wal.html);
 *   - one table per partition: log_N(off INTEGER PRIMARY KEY, ts INTEGER,
 *     value BLOB); the rowid is the offset (+1, rowids start at 1);
 *   - prepared statements, bound with SQLITE_STATIC (no copy);
 *   - one transaction (BEGIN IMMEDIATE ... COMMIT) per append call;
 *   - durable: synchronous=FULL (WAL synced at every commit);
 *     non-durable: synchronous=OFF (the OS decides, like rill's
 *     durability=os; --sqlite-sync normal selects NORMAL instead).
 * Each thread has its own connection (SQLITE_OPEN_NOMUTEX). SQLite allows
 * one writer at a time; rather than spinning in the busy handler (which
 * sleeps), writers of this process queue on a mutex around the write
 * transaction. Readers run one read transaction per handle.
 */
#include "bench.h"

#ifdef BENCH_HAVE_SQLITE

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

typedef struct sq_engine {
	char path[4200];
	int partitions;
	int durable;
	int sync_off;
	pthread_mutex_t write_lock; /* one writer transaction at a time */
} sq_engine;

typedef struct sq_handle {
	sq_engine *e;
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt **insert;  /* per partition, prepared on first use */
	sqlite3_stmt **select;  /* per partition: by offset */
	int in_read_txn;
} sq_handle;

static int sq_fail(sqlite3 *db, const char *what)
{
	engine_set_errmsg("sqlite %s: %s", what, db != NULL ? sqlite3_errmsg(db) : "?");
	return -1;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		engine_set_errmsg("sqlite '%s': %s", sql, err != NULL ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

static int sq_connect(sq_engine *e, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(e->path, &db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                             SQLITE_OPEN_NOMUTEX,
	                         NULL);
	if (rc != SQLITE_OK) {
		sq_fail(db, "open");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 60000);
	const char *sync = e->durable ? "PRAGMA synchronous=FULL"
	                   : e->sync_off ? "PRAGMA synchronous=OFF"
	                                 : "PRAGMA synchronous=NORMAL";
	if (exec(db, "PRAGMA journal_mode=WAL") != 0 || exec(db, sync) != 0) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

static int sq_open(void **out, const engine_params *p)
{
	sq_engine *e = calloc(1, sizeof *e);
	if (e == NULL)
		return -1;
	if (bench_mkdirs(p->dir) != 0) {
		free(e);
		return -1;
	}
	snprintf(e->path, sizeof e->path, "%s/log.db", p->dir);
	e->partitions = p->partitions;
	e->durable = p->durable;
	e->sync_off = p->sqlite_off;
	pthread_mutex_init(&e->write_lock, NULL);
	sqlite3 *db;
	if (sq_connect(e, &db) != 0) {
		free(e);
		return -1;
	}
	if (!p->reopen) {
		if (exec(db, "BEGIN") != 0)
			return -1;
		for (int i = 0; i < p->partitions; i++) {
			char sql[256];
			snprintf(sql, sizeof sql,
			         "CREATE TABLE log_%d(off INTEGER PRIMARY KEY, ts INTEGER "
			         "NOT NULL, value BLOB NOT NULL)", i);
			if (exec(db, sql) != 0)
				return -1;
		}
		if (exec(db, "COMMIT") != 0)
			return -1;
	}
	sqlite3_close(db);
	*out = e;
	return 0;
}

static int sq_close(void *engine)
{
	sq_engine *e = engine;
	/* A last connection checkpoints the WAL on close, as an application
	 * closing its database would. */
	pthread_mutex_destroy(&e->write_lock);
	free(e);
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) !=
	    SQLITE_OK)
		return sq_fail(db, sql);
	return 0;
}

static void sq_handle_close(void *handle)
{
	sq_handle *h = handle;
	if (h == NULL)
		return;
	if (h->in_read_txn)
		exec(h->db, "COMMIT");
	for (int i = 0; i < h->e->partitions; i++) {
		if (h->insert != NULL)
			sqlite3_finalize(h->insert[i]);
		if (h->select != NULL)
			sqlite3_finalize(h->select[i]);
	}
	sqlite3_finalize(h->begin);
	sqlite3_finalize(h->commit);
	sqlite3_finalize(h->rollback);
	sqlite3_close(h->db);
	free(h->insert);
	free(h->select);
	free(h);
}

static int sq_handle_open(void **out, void *engine, int for_read)
{
	sq_engine *e = engine;
	sq_handle *h = calloc(1, sizeof *h);
	if (h == NULL)
		return -1;
	h->e = e;
	h->insert = calloc((size_t)e->partitions, sizeof *h->insert);
	h->select = calloc((size_t)e->partitions, sizeof *h->select);
	if (h->insert == NULL || h->select == NULL || sq_connect(e, &h->db) != 0 ||
	    prepare(h->db, "BEGIN IMMEDIATE", &h->begin) != 0 ||
	    prepare(h->db, "COMMIT", &h->commit) != 0 ||
	    prepare(h->db, "ROLLBACK", &h->rollback) != 0) {
		sq_handle_close(h);
		return -1;
	}
	if (for_read) {
		if (exec(h->db, "BEGIN") != 0) {
			sq_handle_close(h);
			return -1;
		}
		h->in_read_txn = 1;
	}
	*out = h;
	return 0;
}

static int step_done(sqlite3 *db, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_fail(db, what);
	return 0;
}

static int sq_append(void *handle, int partition, const bench_rec *recs, size_t n)
{
	sq_handle *h = handle;
	sqlite3_stmt *ins = h->insert[partition];
	if (ins == NULL) {
		char sql[128];
		snprintf(sql, sizeof sql, "INSERT INTO log_%d(off, ts, value) VALUES(NULL, ?, ?)",
		         partition);
		if (prepare(h->db, sql, &h->insert[partition]) != 0)
			return -1;
		ins = h->insert[partition];
	}
	pthread_mutex_lock(&h->e->write_lock);
	int rc = step_done(h->db, h->begin, "begin");
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_bind_int64(ins, 1, recs[i].ts);
		sqlite3_bind_blob(ins, 2, recs[i].value, (int)recs[i].len, SQLITE_STATIC);
		rc = step_done(h->db, ins, "insert");
	}
	if (rc == 0)
		rc = step_done(h->db, h->commit, "commit");
	else
		step_done(h->db, h->rollback, "rollback");
	pthread_mutex_unlock(&h->e->write_lock);
	return rc;
}

static int sq_scan(void *handle, int partition, uint64_t *out_records,
                   uint64_t *out_bytes)
{
	sq_handle *h = handle;
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT value FROM log_%d ORDER BY off", partition);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(h->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(h->db, sql);
	uint64_t records = 0, bytes = 0, touch = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const uint8_t *v = sqlite3_column_blob(s, 0);
		int len = sqlite3_column_bytes(s, 0);
		touch += v[0];
		records++;
		bytes += (uint64_t)len;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sq_fail(h->db, "scan");
	BENCH_TOUCH(touch);
	*out_records = records;
	*out_bytes = bytes;
	return 0;
}

static int sq_get(void *handle, int partition, uint64_t offset, size_t *out_len)
{
	sq_handle *h = handle;
	sqlite3_stmt *s = h->select[partition];
	if (s == NULL) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT value FROM log_%d WHERE off = ?", partition);
		if (prepare(h->db, sql, &h->select[partition]) != 0)
			return -1;
		s = h->select[partition];
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)offset + 1);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		engine_set_errmsg("sqlite: offset %llu not found", (unsigned long long)offset);
		return -1;
	}
	const uint8_t *v = sqlite3_column_blob(s, 0);
	BENCH_TOUCH(v[0]);
	*out_len = (size_t)sqlite3_column_bytes(s, 0);
	sqlite3_reset(s);
	return 0;
}

const engine_ops engine_sqlite = {
	.name = "sqlite",
	.summary = "WAL, table per partition (off INTEGER PRIMARY KEY, ts, value BLOB), "
	           "prepared statements, transaction per append call, durable: "
	           "synchronous=FULL, else OFF (NORMAL with --sqlite-sync normal)",
	.open = sq_open,
	.close = sq_close,
	.handle_open = sq_handle_open,
	.handle_close = sq_handle_close,
	.append = sq_append,
	.scan = sq_scan,
	.get = sq_get,
	.ts_lookup = NULL,
	.syncs = NULL,
	.zero_copy = NULL,
};

#endif /* BENCH_HAVE_SQLITE */
