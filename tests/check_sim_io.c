/*
 * check_sim_io.c — tests of the simulated I/O layer itself (tests/sim_io.c),
 * not of the library: the crash tests are only as good as the crash model.
 *
 * What it proves, each through the rill_io table the library will use:
 *   - POSIX behaviour: errors (-ENOENT, -EEXIST, -ENOTDIR, -EISDIR,
 *     -ENOTEMPTY, -EBADF), path normalization, O_TRUNC/O_EXCL, unlinked
 *     files stay readable through open fds, list_dir callbacks may re-enter;
 *   - durability rules of REFERENCE.md D: synced data survives every crash
 *     mode; unsynced data is gone under DROP_ALL; a file whose directory
 *     was never synced vanishes; a same-directory rename is atomic and a
 *     cross-directory one needs both directories synced; a failed fsync
 *     loses its data even if a retry succeeds (fsyncgate);
 *   - the crash modes do what they say: RANDOM persists writes out of
 *     order, TORN cuts writes only at sector boundaries, GARBAGE touches
 *     only sectors under unsynced writes, SIZE_ONLY keeps sizes without
 *     data, and every mode is deterministic in its seed;
 *   - faults: the Nth call of each class fails, once or forever; short
 *     writes and reads; bit flips; the crash point stops a workload at
 *     exactly the Nth mutation; capacity gives short writes then -ENOSPC;
 *   - locks, clocks, fds invalid after a crash, inode collection, and a
 *     two-thread smoke test (run it under -fsanitize=thread).
 *
 * Randomized tests print their seed; RILL_TEST_SEED=n replays one.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_io.h"
#include "test_util.h"

Suite *sim_io_suite(void);

/* ---------------------------------------------------------------- helpers */

#define RW (RILL_O_READ | RILL_O_WRITE)
#define CREATE_RW (RILL_O_READ | RILL_O_WRITE | RILL_O_CREATE)

static int xopen(const rill_io *io, const char *path, uint32_t flags)
{
	int fd = -1;
	int rc = io->open(io->ctx, path, flags, 0644, &fd);
	ck_assert_msg(rc == 0, "open %s: %d", path, rc);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static void xclose(const rill_io *io, int fd)
{
	ck_assert_int_eq(io->close(io->ctx, fd), 0);
}

static void xwrite(const rill_io *io, int fd, uint64_t offset, const void *data,
                   size_t len)
{
	size_t done = 0;
	ck_assert_int_eq(io->pwrite(io->ctx, fd, data, len, offset, &done), 0);
	ck_assert_uint_eq(done, len);
}

static void xsync(const rill_io *io, int fd)
{
	ck_assert_int_eq(io->fdatasync(io->ctx, fd), 0);
}

static void xsync_dir(const rill_io *io, const char *path)
{
	int fd = xopen(io, path, RILL_O_READ | RILL_O_DIRECTORY);
	ck_assert_int_eq(io->fsync(io->ctx, fd), 0);
	xclose(io, fd);
}

/* `len` bytes derived from `tag` (malloc'd). */
static unsigned char *pattern(size_t len, uint64_t tag)
{
	unsigned char *p = malloc(len + 1);
	tu_fill(p, len, tag, 1);
	return p;
}

/* Create path with `len` bytes of pattern `tag`, synced, directory synced. */
static void make_synced(const rill_io *io, const char *dir, const char *path,
                        size_t len, uint64_t tag)
{
	unsigned char *buf = pattern(len, tag);
	int fd = xopen(io, path, CREATE_RW);
	xwrite(io, fd, 0, buf, len);
	xsync(io, fd);
	xclose(io, fd);
	xsync_dir(io, dir);
	free(buf);
}

/* 1 if the file (durable or volatile view) holds exactly data[0, len). */
static int file_is(sim_fs *sim, int durable, const char *path, const void *data,
                   size_t len)
{
	void *buf;
	size_t n;
	int rc = durable ? sim_read_durable(sim, path, &buf, &n)
	                 : sim_read_file(sim, path, &buf, &n);
	if (rc != 0)
		return 0;
	int same = n == len && memcmp(buf, data, len) == 0;
	free(buf);
	return same;
}

/* A fresh sim with /d planted (durable). */
static sim_fs *fresh(uint64_t seed, const rill_io **out_io)
{
	sim_fs *sim = sim_new(seed);
	ck_assert_ptr_nonnull(sim);
	ck_assert_int_eq(sim_mkdirs(sim, "/d"), 0);
	*out_io = sim_io(sim);
	return sim;
}

/* ------------------------------------------------------------ POSIX basics */

static int count_cb(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_posix_basics)
{
	const rill_io *io;
	sim_fs *sim = fresh(1, &io);
	int fd, type, n = 0;
	size_t done;
	uint64_t size;
	char buf[64];

	ck_assert_uint_eq(io->version, RILL_IO_VERSION);
	ck_assert_ptr_eq(io->ctx, sim);
	ck_assert_ptr_null(io->map);
	ck_assert_ptr_null(io->unmap);

	ck_assert_int_eq(io->open(io->ctx, "/d/missing", RW, 0, &fd), -ENOENT);
	ck_assert_int_eq(io->open(io->ctx, "/nodir/f", CREATE_RW, 0, &fd), -ENOENT);
	fd = xopen(io, "/d/f", CREATE_RW);
	xwrite(io, fd, 0, "hello world", 11);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, sizeof(buf), 6, &done), 0);
	ck_assert_uint_eq(done, 5);
	ck_assert_mem_eq(buf, "world", 5);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, sizeof(buf), 100, &done), 0);
	ck_assert_uint_eq(done, 0);
	/* a hole reads as zeros */
	xwrite(io, fd, 20, "x", 1);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 21, 0, &done), 0);
	ck_assert_uint_eq(done, 21);
	ck_assert_int_eq(buf[15], 0);
	ck_assert_int_eq(buf[20], 'x');
	ck_assert_int_eq(io->file_size(io->ctx, fd, &size), 0);
	ck_assert_uint_eq(size, 21);
	ck_assert_int_eq(io->ftruncate(io->ctx, fd, 5), 0);
	ck_assert_int_eq(io->file_size(io->ctx, fd, &size), 0);
	ck_assert_uint_eq(size, 5);
	xclose(io, fd);

	ck_assert_int_eq(io->stat(io->ctx, "/d/f", &type), 0);
	ck_assert_int_eq(type, RILL_IO_FILE);
	ck_assert_int_eq(io->stat(io->ctx, "/d", &type), 0);
	ck_assert_int_eq(type, RILL_IO_DIR);
	ck_assert_int_eq(io->stat(io->ctx, "/d/nope", &type), -ENOENT);
	ck_assert_int_eq(io->stat(io->ctx, "/d/f/x", &type), -ENOTDIR);

	/* errors */
	ck_assert_int_eq(io->open(io->ctx, "/d/f", CREATE_RW | RILL_O_EXCL, 0, &fd),
	                 -EEXIST);
	ck_assert_int_eq(io->open(io->ctx, "/d/f/x", CREATE_RW, 0, &fd), -ENOTDIR);
	ck_assert_int_eq(io->open(io->ctx, "/d", RW, 0, &fd), -EISDIR);
	ck_assert_int_eq(io->open(io->ctx, "/d/f", RILL_O_READ | RILL_O_DIRECTORY, 0,
	                          &fd),
	                 -ENOTDIR);
	ck_assert_int_eq(io->mkdir(io->ctx, "/d", 0755), -EEXIST);
	ck_assert_int_eq(io->mkdir(io->ctx, "/d/f", 0755), -EEXIST);
	ck_assert_int_eq(io->mkdir(io->ctx, "/x/y", 0755), -ENOENT);
	ck_assert_int_eq(io->unlink(io->ctx, "/d"), -EISDIR);
	ck_assert_int_eq(io->unlink(io->ctx, "/d/nope"), -ENOENT);
	ck_assert_int_eq(io->rmdir(io->ctx, "/d"), -ENOTEMPTY);
	ck_assert_int_eq(io->rmdir(io->ctx, "/d/f"), -ENOTDIR);
	ck_assert_int_eq(io->rmdir(io->ctx, "/"), -EBUSY);
	ck_assert_int_eq(io->rename(io->ctx, "/d/nope", "/d/x"), -ENOENT);
	ck_assert_int_eq(io->rename(io->ctx, "/d", "/d/sub"), -EINVAL);
	ck_assert_int_eq(io->mkdir(io->ctx, "/e", 0755), 0);
	ck_assert_int_eq(io->rename(io->ctx, "/d/f", "/e"), -EISDIR);
	ck_assert_int_eq(io->rename(io->ctx, "/e", "/d/f"), -ENOTDIR);
	ck_assert_int_eq(io->rename(io->ctx, "/e", "/d"), -ENOTEMPTY);
	ck_assert_int_eq(io->rename(io->ctx, "/d/f", "/d/f"), 0);
	ck_assert_int_eq(io->rmdir(io->ctx, "/e"), 0);
	ck_assert_int_eq(io->list_dir(io->ctx, "/d/f", count_cb, &n), -ENOTDIR);
	ck_assert_int_eq(io->list_dir(io->ctx, "/nope", count_cb, &n), -ENOENT);

	/* EBADF: closed, never opened, read-only writes */
	fd = xopen(io, "/d/f", RILL_O_READ);
	ck_assert_int_eq(io->pwrite(io->ctx, fd, "z", 1, 0, &done), -EBADF);
	ck_assert_int_eq(io->ftruncate(io->ctx, fd, 0), -EBADF);
	xclose(io, fd);
	ck_assert_int_eq(io->close(io->ctx, fd), -EBADF);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 1, 0, &done), -EBADF);
	ck_assert_int_eq(io->fsync(io->ctx, 12345), -EBADF);
	ck_assert_int_eq(io->close(io->ctx, -1), -EBADF);

	/* O_TRUNC empties, O_EXCL creates */
	fd = xopen(io, "/d/f", RW | RILL_O_TRUNC);
	ck_assert_int_eq(io->file_size(io->ctx, fd, &size), 0);
	ck_assert_uint_eq(size, 0);
	xclose(io, fd);
	fd = xopen(io, "/d/g", CREATE_RW | RILL_O_EXCL);
	xclose(io, fd);
	ck_assert_int_eq(io->list_dir(io->ctx, "/d", count_cb, &n), 0);
	ck_assert_int_eq(n, 2);
	sim_free(sim);
}
END_TEST

START_TEST(test_paths)
{
	const rill_io *io;
	sim_fs *sim = fresh(2, &io);
	char longname[300];
	int fd, type;

	fd = xopen(io, "//d///./sub/../f", CREATE_RW);
	xwrite(io, fd, 0, "abc", 3);
	xclose(io, fd);
	ck_assert(file_is(sim, 0, "/d/f", "abc", 3));
	ck_assert(file_is(sim, 0, "d/f", "abc", 3));        /* relative = from "/" */
	ck_assert(file_is(sim, 0, "/../../d/./f/", "abc", 3)); /* ".." stops at "/" */
	ck_assert_int_eq(io->stat(io->ctx, "/d/", &type), 0);
	ck_assert_int_eq(type, RILL_IO_DIR);
	ck_assert_int_eq(io->stat(io->ctx, "/", &type), 0);
	ck_assert_int_eq(type, RILL_IO_DIR);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(io->stat(io->ctx, longname, &type), -ENAMETOOLONG);
	ck_assert_int_eq(io->stat(io->ctx, "", &type), -ENOENT);
	sim_free(sim);
}
END_TEST

START_TEST(test_unlinked_open_file)
{
	const rill_io *io;
	sim_fs *sim = fresh(3, &io);
	char buf[8];
	size_t done;

	int fd = xopen(io, "/d/f", CREATE_RW);
	xwrite(io, fd, 0, "data", 4);
	int fd2 = xopen(io, "/d/f", RILL_O_READ);
	ck_assert_int_eq(io->unlink(io->ctx, "/d/f"), 0);
	ck_assert_int_eq(sim_exists(sim, "/d/f"), 0);
	/* POSIX: the inode lives while an fd holds it */
	xwrite(io, fd, 4, "more", 4);
	ck_assert_int_eq(io->pread(io->ctx, fd2, buf, 8, 0, &done), 0);
	ck_assert_uint_eq(done, 8);
	ck_assert_mem_eq(buf, "datamore", 8);
	/* a new file with the old name is a different inode */
	int fd3 = xopen(io, "/d/f", CREATE_RW | RILL_O_EXCL);
	ck_assert_int_eq(io->pread(io->ctx, fd3, buf, 8, 0, &done), 0);
	ck_assert_uint_eq(done, 0);
	/* renaming an open file: the fd follows the inode */
	xwrite(io, fd3, 0, "new", 3);
	ck_assert_int_eq(io->rename(io->ctx, "/d/f", "/d/g"), 0);
	xwrite(io, fd3, 3, "er", 2);
	ck_assert(file_is(sim, 0, "/d/g", "newer", 5));
	xclose(io, fd);
	xclose(io, fd2);
	xclose(io, fd3);
	sim_free(sim);
}
END_TEST

typedef struct relist {
	const rill_io *io;
	int calls;
	int stop_after;
	char prev[64];
	int sorted;
} relist;

static int unlink_cb(void *arg, const char *name)
{
	relist *r = arg;
	char path[128];
	snprintf(path, sizeof(path), "/d/%s", name);
	/* re-entering the table from the callback must not deadlock */
	ck_assert_int_eq(r->io->unlink(r->io->ctx, path), 0);
	if (r->prev[0] != '\0' && strcmp(r->prev, name) > 0)
		r->sorted = 0;
	snprintf(r->prev, sizeof(r->prev), "%s", name);
	r->calls++;
	return r->stop_after != 0 && r->calls == r->stop_after ? 7 : 0;
}

START_TEST(test_list_dir)
{
	const rill_io *io;
	sim_fs *sim = fresh(4, &io);
	char path[64];
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/d/file-%02d", i);
		ck_assert_int_eq(sim_write_file(sim, path, "x", 1), 0);
	}
	relist r = {io, 0, 3, "", 1};
	ck_assert_int_eq(io->list_dir(io->ctx, "/d", unlink_cb, &r), 7);
	ck_assert_int_eq(r.calls, 3);
	ck_assert_int_eq(sim_file_count(sim, "/d"), 17);
	relist all = {io, 0, 0, "", 1};
	ck_assert_int_eq(io->list_dir(io->ctx, "/d", unlink_cb, &all), 0);
	ck_assert_int_eq(all.calls, 17);
	ck_assert_int_eq(all.sorted, 0); /* scrambled: callers must sort */
	ck_assert_int_eq(sim_file_count(sim, "/d"), 0);

	sim_set_flags(sim, SIM_FLAG_LIST_SORTED);
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/d/file-%02d", 19 - i);
		ck_assert_int_eq(sim_write_file(sim, path, "x", 1), 0);
	}
	relist sorted = {io, 0, 0, "", 1};
	ck_assert_int_eq(io->list_dir(io->ctx, "/d", unlink_cb, &sorted), 0);
	ck_assert_int_eq(sorted.calls, 20);
	ck_assert_int_eq(sorted.sorted, 1);
	sim_free(sim);
}
END_TEST

/* ------------------------------------------------------- durability rules */

/* Synced bytes survive every mode, whatever else was in flight. */
START_TEST(test_synced_survives_every_mode)
{
	int mode = _i;
	uint64_t seed = tu_seed("test_synced_survives_every_mode");
	unsigned char *a = pattern(10000, 1), *b = pattern(10000, 2);
	for (uint64_t k = 0; k < 40; k++) {
		const rill_io *io;
		sim_fs *sim = fresh(seed + k, &io);
		make_synced(io, "/d", "/d/f", 10000, 9);
		void *ref;
		size_t ref_len;
		ck_assert_int_eq(sim_read_file(sim, "/d/f", &ref, &ref_len), 0);
		make_synced(io, "/d", "/d/keep", 3000, 10);
		/* in flight: an append, a new file, a new dir, a rename elsewhere */
		int fd = xopen(io, "/d/f", RW);
		xwrite(io, fd, 10000, a, 10000);
		xwrite(io, fd, 20000, b, 777);
		int fd2 = xopen(io, "/d/new", CREATE_RW);
		xwrite(io, fd2, 0, b, 5000);
		ck_assert_int_eq(io->mkdir(io->ctx, "/d/sub", 0755), 0);
		sim_crash(sim, mode, seed + k);
		void *got;
		size_t got_len;
		ck_assert_msg(sim_read_file(sim, "/d/f", &got, &got_len) == 0,
		              "mode %s seed %llu: synced file lost",
		              sim_crash_mode_name(mode), (unsigned long long)(seed + k));
		ck_assert_uint_ge(got_len, 10000);
		ck_assert_msg(memcmp(got, ref, 10000) == 0,
		              "mode %s seed %llu: synced bytes changed",
		              sim_crash_mode_name(mode), (unsigned long long)(seed + k));
		void *keep;
		size_t keep_len;
		ck_assert_int_eq(sim_read_file(sim, "/d/keep", &keep, &keep_len), 0);
		ck_assert_uint_eq(keep_len, 3000);
		free(keep);
		free(got);
		free(ref);
		/* fds died with the process */
		ck_assert_int_eq(io->close(io->ctx, fd), -EBADF);
		ck_assert_int_eq(io->close(io->ctx, fd2), -EBADF);
		sim_stats st;
		sim_stats_get(sim, &st);
		ck_assert_uint_eq(st.pending_data_ops, 0);
		ck_assert_uint_eq(st.pending_dir_ops, 0);
		ck_assert_uint_eq(st.open_fds, 0);
		ck_assert_uint_eq(sim_hash(sim, 0), sim_hash(sim, 1));
		sim_free(sim);
	}
	free(a);
	free(b);
}
END_TEST

START_TEST(test_drop_all_and_keep_all)
{
	unsigned char *a = pattern(4096, 1), *b = pattern(6000, 2);
	for (int keep = 0; keep < 2; keep++) {
		const rill_io *io;
		sim_fs *sim = fresh(5, &io);
		int fd = xopen(io, "/d/f", CREATE_RW);
		xwrite(io, fd, 0, a, 4096);
		xsync(io, fd);
		xsync_dir(io, "/d");
		xwrite(io, fd, 100, b, 6000); /* overwrite and extend, unsynced */
		void *vol;
		size_t vol_len;
		ck_assert_int_eq(sim_read_file(sim, "/d/f", &vol, &vol_len), 0);
		ck_assert_uint_eq(vol_len, 6100);
		ck_assert(file_is(sim, 1, "/d/f", a, 4096)); /* durable view */
		sim_stats st;
		sim_stats_get(sim, &st);
		ck_assert_uint_eq(st.pending_data_ops, 1);
		ck_assert_uint_eq(st.pending_data_bytes, 6000);
		sim_crash(sim, keep ? SIM_CRASH_KEEP_ALL : SIM_CRASH_DROP_ALL, 1);
		if (keep)
			ck_assert(file_is(sim, 0, "/d/f", vol, vol_len));
		else
			ck_assert(file_is(sim, 0, "/d/f", a, 4096));
		free(vol);
		sim_free(sim);
	}
	free(a);
	free(b);
}
END_TEST

START_TEST(test_create_needs_dir_sync)
{
	const rill_io *io;
	unsigned char *a = pattern(1000, 3);

	/* file synced, directory not: the file vanishes */
	sim_fs *sim = fresh(6, &io);
	int fd = xopen(io, "/d/f", CREATE_RW);
	xwrite(io, fd, 0, a, 1000);
	xsync(io, fd);
	ck_assert_int_eq(sim_exists_durable(sim, "/d/f"), 0);
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_exists(sim, "/d/f"), 0);
	sim_free(sim);

	/* directory synced, file data not: the name survives, empty */
	sim = fresh(6, &io);
	fd = xopen(io, "/d/f", CREATE_RW);
	xwrite(io, fd, 0, a, 1000);
	xsync_dir(io, "/d");
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_exists(sim, "/d/f"), RILL_IO_FILE);
	ck_assert_int_eq(sim_file_size(sim, "/d/f"), 0);
	sim_free(sim);

	/* both: survives whole */
	sim = fresh(6, &io);
	make_synced(io, "/d", "/d/f", 1000, 3);
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_file_size(sim, "/d/f"), 1000);
	sim_free(sim);

	/* a new directory needs its parent synced, up to the planted root */
	sim = fresh(6, &io);
	ck_assert_int_eq(io->mkdir(io->ctx, "/d/a", 0755), 0);
	ck_assert_int_eq(io->mkdir(io->ctx, "/d/a/b", 0755), 0);
	make_synced(io, "/d/a/b", "/d/a/b/f", 10, 3);
	xsync_dir(io, "/d/a");
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_exists(sim, "/d/a"), 0); /* /d never synced */
	sim_free(sim);
	sim = fresh(6, &io);
	ck_assert_int_eq(io->mkdir(io->ctx, "/d/a", 0755), 0);
	ck_assert_int_eq(io->mkdir(io->ctx, "/d/a/b", 0755), 0);
	make_synced(io, "/d/a/b", "/d/a/b/f", 10, 3);
	xsync_dir(io, "/d/a");
	xsync_dir(io, "/d");
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_file_size(sim, "/d/a/b/f"), 10);
	sim_free(sim);

	/* unlink and rmdir are undone by a crash unless the parent is synced */
	sim = fresh(6, &io);
	make_synced(io, "/d", "/d/f", 10, 3);
	ck_assert_int_eq(io->mkdir(io->ctx, "/d/e", 0755), 0);
	xsync_dir(io, "/d");
	ck_assert_int_eq(io->unlink(io->ctx, "/d/f"), 0);
	ck_assert_int_eq(io->rmdir(io->ctx, "/d/e"), 0);
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_file_size(sim, "/d/f"), 10);
	ck_assert_int_eq(sim_exists(sim, "/d/e"), RILL_IO_DIR);
	ck_assert_int_eq(io->unlink(io->ctx, "/d/f"), 0);
	ck_assert_int_eq(io->rmdir(io->ctx, "/d/e"), 0);
	xsync_dir(io, "/d");
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_exists(sim, "/d/f"), 0);
	ck_assert_int_eq(sim_exists(sim, "/d/e"), 0);
	sim_free(sim);
	free(a);
}
END_TEST

START_TEST(test_rename_durability)
{
	const rill_io *io;
	uint64_t seed = tu_seed("test_rename_durability");
	unsigned char *old = pattern(500, 4), *new = pattern(700, 5);

	/* same directory, not synced: old name under DROP_ALL, new under KEEP_ALL */
	for (int keep = 0; keep < 2; keep++) {
		sim_fs *sim = fresh(7, &io);
		make_synced(io, "/d", "/d/tmp", 700, 5);
		ck_assert_int_eq(io->rename(io->ctx, "/d/tmp", "/d/final"), 0);
		sim_crash(sim, keep ? SIM_CRASH_KEEP_ALL : SIM_CRASH_DROP_ALL, 1);
		ck_assert_int_eq(sim_exists(sim, "/d/tmp"), keep ? 0 : RILL_IO_FILE);
		ck_assert_int_eq(sim_exists(sim, "/d/final"), keep ? RILL_IO_FILE : 0);
		sim_free(sim);
	}
	/* synced: the new name */
	sim_fs *sim = fresh(7, &io);
	make_synced(io, "/d", "/d/tmp", 700, 5);
	ck_assert_int_eq(io->rename(io->ctx, "/d/tmp", "/d/final"), 0);
	xsync_dir(io, "/d");
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_exists(sim, "/d/tmp"), 0);
	ck_assert(file_is(sim, 0, "/d/final", new, 700));
	sim_free(sim);

	/* atomic replace under random crashes: old or new, never both/neither */
	int saw_old = 0, saw_new = 0;
	for (uint64_t k = 0; k < 200; k++) {
		sim = fresh(seed + k, &io);
		make_synced(io, "/d", "/d/final", 500, 4);
		make_synced(io, "/d", "/d/tmp", 700, 5);
		ck_assert_int_eq(io->rename(io->ctx, "/d/tmp", "/d/final"), 0);
		sim_crash(sim, (int)(k % 2) ? SIM_CRASH_MIXED : SIM_CRASH_RANDOM, seed + k);
		if (file_is(sim, 0, "/d/final", old, 500)) {
			saw_old = 1;
			ck_assert(file_is(sim, 0, "/d/tmp", new, 700));
		} else {
			ck_assert(file_is(sim, 0, "/d/final", new, 700));
			ck_assert_int_eq(sim_exists(sim, "/d/tmp"), 0);
			saw_new = 1;
		}
		sim_free(sim);
	}
	ck_assert(saw_old && saw_new);

	/* across directories each side needs its own directory synced */
	for (int which = 0; which < 4; which++) {
		sim = fresh(8, &io);
		ck_assert_int_eq(sim_mkdirs(sim, "/a"), 0);
		ck_assert_int_eq(sim_mkdirs(sim, "/b"), 0);
		make_synced(io, "/a", "/a/x", 700, 5);
		ck_assert_int_eq(io->rename(io->ctx, "/a/x", "/b/x"), 0);
		if (which & 1)
			xsync_dir(io, "/a");
		if (which & 2)
			xsync_dir(io, "/b");
		sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
		ck_assert_int_eq(sim_exists(sim, "/a/x"), (which & 1) ? 0 : RILL_IO_FILE);
		ck_assert_int_eq(sim_exists(sim, "/b/x"), (which & 2) ? RILL_IO_FILE : 0);
		if (which & 2)
			ck_assert(file_is(sim, 0, "/b/x", new, 700));
		sim_free(sim);
	}
	free(old);
	free(new);
}
END_TEST

/*
 * An UNLINK removes a durable name only if it still names the inode the
 * process unlinked. History: /d/f (X, durable); unlink f; create f (Y);
 * rename f -> g. If only the rename persists, f must still be X: the
 * rename moved Y, not X.
 */
START_TEST(test_unlink_matches_inode)
{
	uint64_t seed = tu_seed("test_unlink_matches_inode");
	unsigned char *x = pattern(300, 20), *y = pattern(400, 21);
	int seen_both = 0;
	for (uint64_t k = 0; k < 300; k++) {
		const rill_io *io;
		sim_fs *sim = fresh(seed + k, &io);
		make_synced(io, "/d", "/d/f", 300, 20);
		ck_assert_int_eq(io->unlink(io->ctx, "/d/f"), 0);
		int fd = xopen(io, "/d/f", CREATE_RW | RILL_O_EXCL);
		xwrite(io, fd, 0, y, 400);
		xsync(io, fd);
		xclose(io, fd);
		ck_assert_int_eq(io->rename(io->ctx, "/d/f", "/d/g"), 0);
		sim_crash(sim, SIM_CRASH_RANDOM, seed + k);
		int f = sim_exists(sim, "/d/f") != 0, g = sim_exists(sim, "/d/g") != 0;
		ck_assert(!f || file_is(sim, 0, "/d/f", x, 300) ||
		          file_is(sim, 0, "/d/f", y, 400));
		ck_assert(!g || file_is(sim, 0, "/d/g", y, 400));
		if (f && g)
			ck_assert(file_is(sim, 0, "/d/f", x, 300));
		seen_both |= f && g;
		sim_free(sim);
	}
	ck_assert(seen_both);
	free(x);
	free(y);
}
END_TEST

/* Linux after a writeback error: the retry "succeeds", the data is gone. */
START_TEST(test_fsync_failure_loses_data)
{
	unsigned char *a = pattern(2000, 6), *b = pattern(2000, 7);
	for (int variant = 0; variant < 3; variant++) {
		const rill_io *io;
		sim_fs *sim = fresh(9, &io);
		if (variant == 1)
			sim_set_flags(sim, SIM_FLAG_SYNC_FAIL_KEEPS);
		int fd = xopen(io, "/d/f", CREATE_RW);
		xwrite(io, fd, 0, a, 2000);
		xsync(io, fd);
		xsync_dir(io, "/d");
		xwrite(io, fd, 0, b, 2000);
		int err = variant == 2 ? -EINTR : -EIO;
		ck_assert_int_eq(sim_fail_at(sim, SIM_OP_SYNC, 1, err, 0), 0);
		ck_assert_int_eq(io->fdatasync(io->ctx, fd), err);
		ck_assert(file_is(sim, 0, "/d/f", b, 2000)); /* page cache has it */
		ck_assert_int_eq(io->fdatasync(io->ctx, fd), 0);
		sim_crash(sim, SIM_CRASH_KEEP_ALL, 1);
		if (variant == 0)
			ck_assert(file_is(sim, 0, "/d/f", a, 2000)); /* lost */
		else
			ck_assert(file_is(sim, 0, "/d/f", b, 2000)); /* kept / retried */
		sim_free(sim);
	}
	free(a);
	free(b);
}
END_TEST

/* ------------------------------------------------------------ crash modes */

/* RANDOM persists writes independently: every combination of two appears. */
START_TEST(test_random_out_of_order)
{
	uint64_t seed = tu_seed("test_random_out_of_order");
	unsigned char *a = pattern(100, 8), *b = pattern(100, 9);
	int seen[4] = {0, 0, 0, 0};
	for (uint64_t k = 0; k < 200; k++) {
		const rill_io *io;
		sim_fs *sim = fresh(seed + k, &io);
		int fd = xopen(io, "/d/f", CREATE_RW);
		ck_assert_int_eq(io->ftruncate(io->ctx, fd, 8192), 0);
		xsync(io, fd);
		xsync_dir(io, "/d");
		xwrite(io, fd, 0, a, 100);    /* first */
		xwrite(io, fd, 4096, b, 100); /* second */
		sim_crash(sim, SIM_CRASH_RANDOM, seed + k);
		void *got;
		size_t len;
		ck_assert_int_eq(sim_read_file(sim, "/d/f", &got, &len), 0);
		ck_assert_uint_eq(len, 8192);
		unsigned char *g = got;
		int first = memcmp(g, a, 100) == 0;
		int second = memcmp(g + 4096, b, 100) == 0;
		ck_assert(first || g[0] == 0);
		ck_assert(second || g[4096] == 0);
		seen[first * 2 + second] = 1;
		free(got);
		sim_free(sim);
	}
	ck_assert_msg(seen[0] && seen[1] && seen[2] && seen[3],
	              "combinations seen: %d %d %d %d", seen[0], seen[1], seen[2],
	              seen[3]);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_torn_whole_sectors)
{
	uint64_t seed = tu_seed("test_torn_whole_sectors");
	const size_t head = 100, len = 9000;
	unsigned char *base = pattern(head, 10), *w = pattern(len, 11);
	int seen_torn = 0, seen_drop = 0, seen_full = 0, seen_512 = 0, seen_4096 = 0;
	for (uint64_t k = 0; k < 300; k++) {
		const rill_io *io;
		sim_fs *sim = fresh(seed + k, &io);
		int fd = xopen(io, "/d/f", CREATE_RW);
		xwrite(io, fd, 0, base, head);
		xsync(io, fd);
		xsync_dir(io, "/d");
		xwrite(io, fd, head, w, len); /* one unaligned write */
		sim_crash(sim, SIM_CRASH_TORN, seed + k);
		sim_stats st;
		sim_stats_get(sim, &st);
		void *got;
		size_t n;
		ck_assert_int_eq(sim_read_file(sim, "/d/f", &got, &n), 0);
		ck_assert_uint_ge(n, head);
		ck_assert_mem_eq(got, base, head);
		ck_assert_mem_eq((unsigned char *)got + head, w, n - head);
		if (n == head) {
			seen_drop = 1;
		} else if (n == head + len) {
			seen_full = 1;
		} else {
			ck_assert_msg(n % st.crash_sector == 0,
			              "torn at %zu, sector %u, seed %llu", n,
			              st.crash_sector, (unsigned long long)(seed + k));
			ck_assert_uint_eq(st.crash_torn, 1);
			seen_torn = 1;
		}
		seen_512 |= st.crash_sector == 512;
		seen_4096 |= st.crash_sector == 4096;
		free(got);
		sim_free(sim);
	}
	ck_assert(seen_torn && seen_drop && seen_full && seen_512 && seen_4096);
	free(base);
	free(w);
}
END_TEST

START_TEST(test_garbage_only_overlapped_sectors)
{
	uint64_t seed = tu_seed("test_garbage_only_overlapped_sectors");
	const size_t size = 16384, off = 5000, len = 100;
	unsigned char *a = pattern(size, 12), *b = pattern(len, 13);
	for (int psow = 0; psow < 2; psow++) {
		for (uint64_t k = 0; k < 40; k++) {
			const rill_io *io;
			sim_fs *sim = fresh(seed + k, &io);
			if (!psow)
				sim_set_flags(sim, SIM_FLAG_NO_PSOW);
			int fd = xopen(io, "/d/f", CREATE_RW);
			xwrite(io, fd, 0, a, size);
			xsync(io, fd);
			xsync_dir(io, "/d");
			xwrite(io, fd, off, b, len);
			sim_crash(sim, SIM_CRASH_GARBAGE, seed + k);
			sim_stats st;
			sim_stats_get(sim, &st);
			ck_assert_uint_eq(st.crash_garbage, 1);
			void *got;
			size_t n;
			ck_assert_int_eq(sim_read_file(sim, "/d/f", &got, &n), 0);
			ck_assert_uint_eq(n, size);
			unsigned char *g = got;
			size_t s = st.crash_sector;
			size_t lo = psow ? off : off / s * s;
			size_t hi = psow ? off + len : (off + len + s - 1) / s * s;
			ck_assert_mem_eq(g, a, lo);
			ck_assert_mem_eq(g + hi, a + hi, size - hi);
			ck_assert(memcmp(g + off, b, len) != 0);
			if (!psow) /* the whole sector changed, not just the write */
				ck_assert(memcmp(g + lo, a + lo, off - lo) != 0);
			free(got);
			sim_free(sim);
		}
	}
	free(a);
	free(b);
}
END_TEST

START_TEST(test_size_only)
{
	uint64_t seed = tu_seed("test_size_only");
	unsigned char *a = pattern(1000, 14), *b = pattern(5000, 15);
	unsigned char zeros[5000];
	memset(zeros, 0, sizeof(zeros));
	int seen_zero = 0, seen_garbage = 0;
	for (uint64_t k = 0; k < 60; k++) {
		const rill_io *io;
		sim_fs *sim = fresh(seed + k, &io);
		int fd = xopen(io, "/d/f", CREATE_RW);
		xwrite(io, fd, 0, a, 1000);
		xsync(io, fd);
		xsync_dir(io, "/d");
		xwrite(io, fd, 1000, b, 2500);
		xwrite(io, fd, 3500, b + 2500, 2500);
		xwrite(io, fd, 10, b, 10); /* an overwrite: dropped */
		sim_crash(sim, SIM_CRASH_SIZE_ONLY, seed + k);
		void *got;
		size_t n;
		ck_assert_int_eq(sim_read_file(sim, "/d/f", &got, &n), 0);
		ck_assert_uint_eq(n, 6000);
		unsigned char *g = got;
		ck_assert_mem_eq(g, a, 1000);
		ck_assert(memcmp(g + 1000, b, 5000) != 0);
		if (memcmp(g + 1000, zeros, 5000) == 0)
			seen_zero = 1;
		else
			seen_garbage = 1;
		free(got);
		sim_free(sim);
	}
	ck_assert(seen_zero && seen_garbage);
	free(a);
	free(b);
}
END_TEST

/* A workload with every kind of unsynced op, from a fixed seed. */
static void busy_workload(const rill_io *io)
{
	uint64_t r = 42;
	unsigned char buf[3000];
	int fds[4];
	char path[64];
	ck_assert_int_eq(io->mkdir(io->ctx, "/d/sub", 0755), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "/d/%s/f%d", i % 2 ? "sub" : ".", i);
		fds[i] = xopen(io, path, CREATE_RW);
	}
	xsync_dir(io, "/d");
	for (int step = 0; step < 60; step++) {
		int f = (int)(tu_rand(&r) % 4);
		size_t len = 1 + tu_rand(&r) % sizeof(buf);
		uint64_t off = tu_rand(&r) % 20000;
		tu_fill(buf, len, 77, (uint64_t)step);
		switch (tu_rand(&r) % 10) {
		case 0:
			xsync(io, fds[f]);
			break;
		case 1:
			ck_assert_int_eq(io->ftruncate(io->ctx, fds[f], off), 0);
			break;
		case 2:
			ck_assert_int_eq(io->allocate(io->ctx, fds[f], off, len), 0);
			break;
		default:
			xwrite(io, fds[f], off, buf, len);
			break;
		}
	}
	ck_assert_int_eq(io->rename(io->ctx, "/d/f0", "/d/g0"), 0);
	ck_assert_int_eq(io->rename(io->ctx, "/d/sub/f1", "/d/g1"), 0);
	ck_assert_int_eq(io->unlink(io->ctx, "/d/f2"), 0);
	for (int i = 0; i < 4; i++)
		xclose(io, fds[i]);
}

/* Same history + mode + seed = same image; other seeds differ. */
START_TEST(test_determinism)
{
	int mode = _i;
	uint64_t seed = tu_seed("test_determinism");
	uint64_t hashes[20];
	int distinct = 0;
	for (uint64_t k = 0; k < 20; k++) {
		uint64_t h[2];
		sim_stats st[2];
		for (int run = 0; run < 2; run++) {
			const rill_io *io;
			sim_fs *sim = fresh(1000 + k * 7 + (uint64_t)run, &io);
			busy_workload(io);
			sim_crash(sim, mode, seed + k);
			h[run] = sim_hash(sim, 1);
			ck_assert_uint_eq(h[run], sim_hash(sim, 0));
			sim_stats_get(sim, &st[run]);
			sim_free(sim);
		}
		ck_assert_msg(h[0] == h[1], "mode %s seed %llu not deterministic",
		              sim_crash_mode_name(mode), (unsigned long long)(seed + k));
		ck_assert_uint_eq(st[0].crash_applied, st[1].crash_applied);
		ck_assert_uint_eq(st[0].crash_dropped, st[1].crash_dropped);
		ck_assert_uint_eq(st[0].crash_torn, st[1].crash_torn);
		hashes[k] = h[0];
		int fresh_hash = 1;
		for (uint64_t j = 0; j < k; j++)
			if (hashes[j] == h[0])
				fresh_hash = 0;
		distinct += fresh_hash;
	}
	if (mode == SIM_CRASH_DROP_ALL || mode == SIM_CRASH_KEEP_ALL)
		ck_assert_int_eq(distinct, 1); /* no randomness to draw on */
	else
		ck_assert_int_gt(distinct, 10);
}
END_TEST

/* ----------------------------------------------------------------- faults */

/* One call of class `cls`, meant to succeed when no fault is armed. */
static int one_call(sim_fs *sim, const rill_io *io, uint32_t cls, int fd)
{
	char buf[16];
	size_t done;
	int type, other, rc, n = 0;
	switch (cls) {
	case SIM_OP_OPEN:
		rc = io->open(io->ctx, "/d/f", RILL_O_READ, 0, &other);
		if (rc == 0)
			ck_assert_int_eq(io->close(io->ctx, other), 0);
		return rc;
	case SIM_OP_CLOSE:
		other = xopen(io, "/d/f", RILL_O_READ);
		return io->close(io->ctx, other);
	case SIM_OP_READ:
		return io->pread(io->ctx, fd, buf, sizeof(buf), 0, &done);
	case SIM_OP_WRITE:
		return io->pwrite(io->ctx, fd, "abc", 3, 0, &done);
	case SIM_OP_SYNC:
		return io->fsync(io->ctx, fd);
	case SIM_OP_TRUNCATE:
		return io->ftruncate(io->ctx, fd, 10);
	case SIM_OP_ALLOCATE:
		return io->allocate(io->ctx, fd, 0, 100);
	case SIM_OP_RENAME:
		if (sim_exists(sim, "/d/r1"))
			return io->rename(io->ctx, "/d/r1", "/d/r2");
		return io->rename(io->ctx, "/d/r2", "/d/r1");
	case SIM_OP_UNLINK:
		ck_assert_int_eq(sim_write_file(sim, "/d/u", "x", 1), 0);
		return io->unlink(io->ctx, "/d/u");
	case SIM_OP_MKDIR:
		sim_remove(sim, "/d/m");
		return io->mkdir(io->ctx, "/d/m", 0755);
	case SIM_OP_RMDIR:
		ck_assert_int_eq(sim_mkdirs(sim, "/d/m2"), 0);
		return io->rmdir(io->ctx, "/d/m2");
	case SIM_OP_LIST:
		return io->list_dir(io->ctx, "/d", count_cb, &n);
	case SIM_OP_LOCK:
		other = xopen(io, "/d/lock", CREATE_RW);
		rc = io->lock(io->ctx, other, 1);
		xclose(io, other);
		return rc;
	case SIM_OP_STAT:
		return io->stat(io->ctx, "/d/f", &type);
	default:
		ck_abort_msg("class %u", cls);
		return -1;
	}
}

START_TEST(test_fail_nth_each_class)
{
	uint32_t cls = 1u << _i;
	static const int kinds[] = {-EIO, -ENOSPC, -EINTR, -EACCES};
	for (int persistent = 0; persistent < 2; persistent++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			const rill_io *io;
			sim_fs *sim = fresh(10, &io);
			ck_assert_int_eq(sim_write_file(sim, "/d/f", "0123456789", 10), 0);
			ck_assert_int_eq(sim_write_file(sim, "/d/r1", "r", 1), 0);
			int fd = xopen(io, "/d/f", RW);
			uint64_t before = sim_calls(sim, cls);
			ck_assert_int_eq(sim_fail_at(sim, cls, 2, kinds[k], persistent), 0);
			ck_assert_int_eq(one_call(sim, io, cls, fd), 0);
			ck_assert_int_eq(one_call(sim, io, cls, fd), kinds[k]);
			ck_assert_int_eq(one_call(sim, io, cls, fd), (persistent ? kinds[k] : 0));
			ck_assert_int_eq(one_call(sim, io, cls, fd), (persistent ? kinds[k] : 0));
			ck_assert_uint_eq(sim_calls(sim, cls) - before, 4);
			sim_clear_faults(sim);
			ck_assert_int_eq(one_call(sim, io, cls, fd), 0);
			sim_free(sim);
		}
	}
}
END_TEST

START_TEST(test_fail_at_args_and_classes)
{
	const rill_io *io;
	sim_fs *sim = fresh(11, &io);
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_READ, 0, -EIO, 0), -EINVAL);
	ck_assert_int_eq(sim_fail_at(sim, 0, 1, -EIO, 0), -EINVAL);
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_READ, 1, 0, 0), -EINVAL);
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_READ, 1, 3, 0), -EINVAL);
	for (int i = 0; i < SIM_FAULT_RULES_MAX; i++)
		ck_assert_int_eq(sim_fail_at(sim, SIM_OP_MAP, 1, -EIO, 0), 0);
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_MAP, 1, -EIO, 0), -ENOSPC);
	sim_clear_faults(sim);
	/* a mask counts every class in it; SHORT outside read/write is -EIO */
	int fd = xopen(io, "/d/f", CREATE_RW);
	int type;
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_STAT | SIM_OP_SYNC, 2, SIM_FAULT_SHORT, 0), 0);
	ck_assert_int_eq(io->stat(io->ctx, "/d/f", &type), 0);
	ck_assert_int_eq(io->fsync(io->ctx, fd), -EIO);
	ck_assert_int_eq(io->stat(io->ctx, "/d/f", &type), 0);
	ck_assert_uint_eq(sim_calls(sim, SIM_OP_STAT | SIM_OP_SYNC), 3);
	ck_assert_uint_eq(sim_calls(sim, SIM_OP_ALL),
	                  sim_calls(sim, SIM_OP_STAT | SIM_OP_SYNC | SIM_OP_OPEN));
	sim_reset_counters(sim);
	ck_assert_uint_eq(sim_calls(sim, SIM_OP_ALL), 0);
	ck_assert_uint_eq(sim_mutations(sim), 0);
	xclose(io, fd);
	sim_free(sim);
}
END_TEST

START_TEST(test_short_write_and_read)
{
	const rill_io *io;
	sim_fs *sim = fresh(12, &io);
	unsigned char *a = pattern(1000, 16);
	unsigned char buf[1000];
	size_t done;
	int fd = xopen(io, "/d/f", CREATE_RW);

	/* short write: a non-empty proper prefix, return 0 */
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_WRITE, 1, SIM_FAULT_SHORT, 0), 0);
	ck_assert_int_eq(io->pwrite(io->ctx, fd, a, 1000, 0, &done), 0);
	ck_assert_uint_ge(done, 1);
	ck_assert_uint_lt(done, 1000);
	ck_assert(file_is(sim, 0, "/d/f", a, done));
	xwrite(io, fd, done, a + done, 1000 - done); /* the retry completes it */
	ck_assert(file_is(sim, 0, "/d/f", a, 1000));
	/* a one-byte short write makes no progress */
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_WRITE, 1, SIM_FAULT_SHORT, 0), 0);
	ck_assert_int_eq(io->pwrite(io->ctx, fd, "z", 1, 1000, &done), 0);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(sim_file_size(sim, "/d/f"), 1000);

	/* short read: fewer bytes than are there */
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_READ, 1, SIM_FAULT_SHORT, 0), 0);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 1000, 0, &done), 0);
	ck_assert_uint_lt(done, 1000);
	ck_assert_mem_eq(buf, a, done);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 1000, 0, &done), 0);
	ck_assert_uint_eq(done, 1000);

	/* flipped bit: exactly one bit differs, stored data intact */
	ck_assert_int_eq(sim_fail_at(sim, SIM_OP_READ, 1, SIM_FAULT_FLIP, 0), 0);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 1000, 0, &done), 0);
	ck_assert_uint_eq(done, 1000);
	int bits = 0;
	for (size_t i = 0; i < 1000; i++)
		bits += __builtin_popcount((unsigned)(buf[i] ^ a[i]));
	ck_assert_int_eq(bits, 1);
	ck_assert(file_is(sim, 0, "/d/f", a, 1000));
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 1000, 0, &done), 0);
	ck_assert_mem_eq(buf, a, 1000);

	/* probabilistic flipping: always, then never */
	sim_flip_bits(sim, 1000000);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(io->pread(io->ctx, fd, buf, 1000, 0, &done), 0);
		ck_assert(memcmp(buf, a, 1000) != 0);
	}
	sim_flip_bits(sim, 0);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 1000, 0, &done), 0);
	ck_assert_mem_eq(buf, a, 1000);
	xclose(io, fd);
	free(a);
	sim_free(sim);
}
END_TEST

/*
 * The crash-point workload: each step is one table call; `mutating` says
 * whether the sim counts it. Returns how many mutating calls succeeded
 * before the first failure (all of them if none failed); the first
 * failure must be a mutating call returning -EIO.
 */
static uint64_t crash_point_workload(const rill_io *io, int *out_failed)
{
	uint64_t ok = 0;
	int fd = -1, dfd = -1, type;
	size_t done;
	char buf[8];
	*out_failed = 0;
#define STEP(mutating, call)                                                \
	do {                                                                    \
		int step_rc_ = (call);                                              \
		if (step_rc_ != 0) {                                                \
			ck_assert_int_eq(step_rc_, -EIO);                               \
			ck_assert_msg((mutating), "non-mutating call failed first");    \
			*out_failed = 1;                                                \
			return ok;                                                      \
		}                                                                   \
		ok += (mutating) ? 1 : 0;                                           \
	} while (0)
	STEP(1, io->mkdir(io->ctx, "/d/w", 0755));
	STEP(1, io->open(io->ctx, "/d/w/a", CREATE_RW, 0644, &fd));
	STEP(1, io->pwrite(io->ctx, fd, "hello", 5, 0, &done));
	STEP(0, io->pread(io->ctx, fd, buf, 5, 0, &done));
	STEP(1, io->pwrite(io->ctx, fd, "world", 5, 5, &done));
	STEP(1, io->fdatasync(io->ctx, fd));
	STEP(0, io->open(io->ctx, "/d/w", RILL_O_READ | RILL_O_DIRECTORY, 0, &dfd));
	STEP(1, io->fsync(io->ctx, dfd));
	STEP(1, io->ftruncate(io->ctx, fd, 7));
	STEP(1, io->allocate(io->ctx, fd, 0, 4096));
	STEP(0, io->stat(io->ctx, "/d/w/a", &type));
	STEP(1, io->rename(io->ctx, "/d/w/a", "/d/w/b"));
	STEP(1, io->fsync(io->ctx, dfd));
	STEP(0, io->close(io->ctx, fd));
	STEP(1, io->open(io->ctx, "/d/w/b", RW | RILL_O_TRUNC, 0644, &fd));
	STEP(1, io->mkdir(io->ctx, "/d/w/sub", 0755));
	STEP(1, io->rmdir(io->ctx, "/d/w/sub"));
	STEP(1, io->unlink(io->ctx, "/d/w/b"));
	STEP(0, io->close(io->ctx, fd));
	STEP(0, io->close(io->ctx, dfd));
#undef STEP
	return ok;
}

START_TEST(test_crash_after_exact)
{
	const rill_io *io;
	int failed;
	sim_fs *sim = fresh(13, &io);
	uint64_t total = crash_point_workload(io, &failed);
	ck_assert_int_eq(failed, 0);
	ck_assert_uint_eq(sim_mutations(sim), total);
	ck_assert_uint_eq(total, 14);
	sim_free(sim);

	for (uint64_t n = 1; n <= total + 1; n++) {
		sim = fresh(13, &io);
		sim_crash_after(sim, n);
		uint64_t ok = crash_point_workload(io, &failed);
		ck_assert_uint_eq(ok, (n - 1 < total ? n - 1 : total));
		ck_assert_int_eq(failed, n <= total);
		ck_assert_int_eq(sim_is_dead(sim), n <= total);
		/* the fatal call was counted: it is the nth */
		ck_assert_uint_eq(sim_mutations(sim), (n <= total ? n : total));
		if (n <= total) {
			/* dead: every call fails, nothing changes */
			uint64_t h = sim_hash(sim, 0);
			int type, fd;
			ck_assert_int_eq(io->stat(io->ctx, "/d", &type), -EIO);
			ck_assert_int_eq(io->open(io->ctx, "/d/z", CREATE_RW, 0, &fd), -EIO);
			ck_assert_int_eq(io->mkdir(io->ctx, "/d/z", 0755), -EIO);
			ck_assert_uint_eq(sim_hash(sim, 0), h);
		}
		/* KEEP_ALL persists exactly the volatile state at death */
		uint64_t at_death = sim_hash(sim, 0);
		sim_crash(sim, SIM_CRASH_KEEP_ALL, n);
		ck_assert_uint_eq(sim_hash(sim, 1), at_death);
		ck_assert_int_eq(sim_is_dead(sim), 0);
		int type;
		ck_assert_int_eq(io->stat(io->ctx, "/d", &type), 0); /* alive again */
		sim_free(sim);
	}
}
END_TEST

START_TEST(test_capacity)
{
	const rill_io *io;
	sim_fs *sim = fresh(14, &io);
	unsigned char *a = pattern(6000, 17);
	size_t done;
	sim_set_capacity(sim, 10000);
	int fd = xopen(io, "/d/f", CREATE_RW);
	xwrite(io, fd, 0, a, 6000);
	/* what fits is written and reported short; then -ENOSPC */
	ck_assert_int_eq(io->pwrite(io->ctx, fd, a, 6000, 6000, &done), 0);
	ck_assert_uint_eq(done, 4000);
	ck_assert_int_eq(io->pwrite(io->ctx, fd, a, 10, 10000, &done), -ENOSPC);
	ck_assert_uint_eq(done, 0);
	/* overwrites need no space */
	xwrite(io, fd, 0, a, 6000);
	ck_assert_int_eq(io->allocate(io->ctx, fd, 0, 20000), -ENOSPC);
	sim_stats st;
	sim_stats_get(sim, &st);
	ck_assert_uint_eq(st.bytes_used, 10000);
	/* an unlinked file holds its space until its last fd closes */
	ck_assert_int_eq(io->unlink(io->ctx, "/d/f"), 0);
	int fd2 = xopen(io, "/d/g", CREATE_RW);
	ck_assert_int_eq(io->pwrite(io->ctx, fd2, a, 10, 0, &done), -ENOSPC);
	xclose(io, fd);
	xwrite(io, fd2, 0, a, 6000);
	/* keep-size allocation reserves space without growing the file */
	sim_set_flags(sim, SIM_FLAG_ALLOCATE_KEEP_SIZE);
	ck_assert_int_eq(io->allocate(io->ctx, fd2, 0, 9000), 0);
	ck_assert_int_eq(sim_file_size(sim, "/d/g"), 6000);
	int fd3 = xopen(io, "/d/h", CREATE_RW);
	ck_assert_int_eq(io->pwrite(io->ctx, fd3, a, 2000, 0, &done), 0);
	ck_assert_uint_eq(done, 1000);
	xclose(io, fd2);
	xclose(io, fd3);
	free(a);
	sim_free(sim);
}
END_TEST

START_TEST(test_allocate_modes)
{
	const rill_io *io;
	sim_fs *sim = fresh(15, &io);
	unsigned char buf[64], zeros[64];
	size_t done;
	uint64_t size;
	memset(zeros, 0, sizeof(zeros));
	int fd = xopen(io, "/d/f", CREATE_RW);
	xwrite(io, fd, 0, "abc", 3);
	/* default: the file grows (posix_fallocate), the new bytes are zeros,
	 * and a gigabyte costs no memory */
	ck_assert_int_eq(io->allocate(io->ctx, fd, 0, UINT64_C(1) << 30), 0);
	ck_assert_int_eq(io->file_size(io->ctx, fd, &size), 0);
	ck_assert_uint_eq(size, UINT64_C(1) << 30);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 64, (UINT64_C(1) << 30) - 64, &done), 0);
	ck_assert_uint_eq(done, 64);
	ck_assert_mem_eq(buf, zeros, 64);
	ck_assert_int_eq(io->allocate(io->ctx, fd, 0, 0), -EINVAL);
	/* the growth is an unsynced op like any other */
	xsync_dir(io, "/d");
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_file_size(sim, "/d/f"), 0);
	fd = xopen(io, "/d/f", RW);
	sim_set_flags(sim, SIM_FLAG_ALLOCATE_KEEP_SIZE);
	ck_assert_int_eq(io->allocate(io->ctx, fd, 0, 8192), 0);
	ck_assert_int_eq(io->file_size(io->ctx, fd, &size), 0);
	ck_assert_uint_eq(size, 0);
	sim_set_flags(sim, SIM_FLAG_ALLOCATE_NULL);
	ck_assert_ptr_null(io->allocate);
	sim_set_flags(sim, 0);
	ck_assert_ptr_nonnull(io->allocate);
	xclose(io, fd);
	sim_free(sim);
}
END_TEST

START_TEST(test_lock)
{
	const rill_io *io;
	sim_fs *sim = fresh(16, &io);
	int a = xopen(io, "/d/LOCK", CREATE_RW);
	int b = xopen(io, "/d/LOCK", RW);
	int c = xopen(io, "/d/LOCK", RW);
	ck_assert_int_eq(io->lock(io->ctx, a, 1), 0);
	ck_assert_int_eq(io->lock(io->ctx, a, 1), 0); /* again: fine */
	ck_assert_int_eq(io->lock(io->ctx, b, 1), -EWOULDBLOCK);
	ck_assert_int_eq(io->lock(io->ctx, b, 0), -EWOULDBLOCK);
	xclose(io, a);
	ck_assert_int_eq(io->lock(io->ctx, b, 0), 0);
	ck_assert_int_eq(io->lock(io->ctx, c, 0), 0); /* shared + shared */
	ck_assert_int_eq(io->lock(io->ctx, b, 1), -EWOULDBLOCK); /* c shares */
	xclose(io, c);
	ck_assert_int_eq(io->lock(io->ctx, b, 1), 0); /* upgrade */
	ck_assert_int_eq(io->lock(io->ctx, b, 0), 0); /* downgrade */
	int d = xopen(io, "/d/LOCK", RW);
	ck_assert_int_eq(io->lock(io->ctx, d, 0), 0);
	ck_assert_int_eq(io->lock(io->ctx, d, 1), -EWOULDBLOCK);
	xclose(io, d);
	ck_assert_int_eq(io->lock(io->ctx, b, 1), 0);
	/* locks on different files are independent */
	int e = xopen(io, "/d/other", CREATE_RW);
	ck_assert_int_eq(io->lock(io->ctx, e, 1), 0);
	/* a crash releases everything */
	xsync_dir(io, "/d");
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	int f = xopen(io, "/d/LOCK", RW);
	ck_assert_int_eq(io->lock(io->ctx, f, 1), 0);
	ck_assert_int_eq(io->close(io->ctx, b), -EBADF);
	ck_assert_int_eq(io->lock(io->ctx, b, 1), -EBADF);
	xclose(io, f);
	sim_free(sim);
}
END_TEST

START_TEST(test_clock)
{
	const rill_io *io;
	sim_fs *sim = fresh(17, &io);
	int64_t t0 = io->now_ms(io->ctx), m0 = io->monotonic_ns(io->ctx);
	ck_assert_int_eq(t0, INT64_C(1700000000000));
	ck_assert_int_eq(io->now_ms(io->ctx), t0); /* frozen */
	sim_advance_ms(sim, 5000);
	ck_assert_int_eq(io->now_ms(io->ctx), t0 + 5000);
	ck_assert_int_eq(io->monotonic_ns(io->ctx), m0 + INT64_C(5000000000));
	sim_set_time_ms(sim, 42);
	ck_assert_int_eq(io->now_ms(io->ctx), 42);
	ck_assert_int_eq(sim_time_ms(sim), 42);
	ck_assert_int_eq(io->monotonic_ns(io->ctx), m0 + INT64_C(5000000000));
	sim_set_clock_step_ns(sim, 1000000);
	int64_t m1 = io->monotonic_ns(io->ctx);
	ck_assert_int_eq(io->monotonic_ns(io->ctx), m1 + 1000000);
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1); /* clocks survive a crash */
	ck_assert_int_ge(io->now_ms(io->ctx), 44);
	sim_free(sim);
}
END_TEST

START_TEST(test_fds_after_crash)
{
	const rill_io *io;
	sim_fs *sim = fresh(18, &io);
	char buf[4];
	size_t done;
	int fd = xopen(io, "/d/f", CREATE_RW);
	xwrite(io, fd, 0, "abcd", 4);
	xsync(io, fd);
	xsync_dir(io, "/d");
	sim_crash(sim, SIM_CRASH_KEEP_ALL, 1);
	ck_assert_int_eq(io->pread(io->ctx, fd, buf, 4, 0, &done), -EBADF);
	ck_assert_int_eq(io->pwrite(io->ctx, fd, buf, 4, 0, &done), -EBADF);
	ck_assert_int_eq(io->fsync(io->ctx, fd), -EBADF);
	int fd2 = xopen(io, "/d/f", RW);
	ck_assert_int_ne(fd2, fd); /* numbers are never reused */
	ck_assert_int_eq(io->close(io->ctx, fd), -EBADF);
	ck_assert_int_eq(io->pread(io->ctx, fd2, buf, 4, 0, &done), 0);
	ck_assert_mem_eq(buf, "abcd", 4);
	xclose(io, fd2);
	sim_free(sim);
}
END_TEST

START_TEST(test_helpers)
{
	const rill_io *io;
	sim_fs *sim = fresh(19, &io);
	char **names;
	size_t count;
	void *got;
	size_t len;

	ck_assert_int_eq(sim_write_file(sim, "/p/q/r.log", "0123456789", 10), 0);
	ck_assert_int_eq(sim_exists_durable(sim, "/p/q/r.log"), RILL_IO_FILE);
	ck_assert_int_eq(sim_exists(sim, "/p/q"), RILL_IO_DIR);
	ck_assert_int_eq(sim_write_file(sim, "/p/q", "x", 1), -EISDIR);
	ck_assert_int_eq(sim_write_file(sim, "/p/q/r.log/x", "x", 1), -ENOTDIR);
	ck_assert_int_eq(sim_corrupt_file(sim, "/p/q/r.log", 2, 3, 'x'), 0);
	ck_assert(file_is(sim, 1, "/p/q/r.log", "01xxx56789", 10));
	ck_assert(file_is(sim, 0, "/p/q/r.log", "01xxx56789", 10));
	ck_assert_int_eq(sim_corrupt_file(sim, "/p/q/r.log", 8, 100, SIM_CORRUPT_INVERT), 0);
	ck_assert_int_eq(sim_read_file(sim, "/p/q/r.log", &got, &len), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_int_eq(((unsigned char *)got)[8], (unsigned char)~'8');
	free(got);
	ck_assert_int_eq(sim_corrupt_file(sim, "/p/q/r.log", 0, 1, 300), -EINVAL);
	ck_assert_int_eq(sim_corrupt_file(sim, "/p/none", 0, 1, 0), -ENOENT);
	ck_assert_int_eq(sim_truncate_file(sim, "/p/q/r.log", 4), 0);
	ck_assert(file_is(sim, 1, "/p/q/r.log", "01xx", 4));
	ck_assert_int_eq(sim_truncate_file(sim, "/p/q/r.log", 6), 0);
	ck_assert(file_is(sim, 0, "/p/q/r.log", "01xx\0\0", 6));
	ck_assert_int_eq(sim_write_file(sim, "/p/q/a", "", 0), 0);
	ck_assert_int_eq(sim_list(sim, "/p/q", &names, &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(names[0], "a");
	ck_assert_str_eq(names[1], "r.log");
	sim_list_free(names, count);
	ck_assert_int_eq(sim_list(sim, "/p/q/a", &names, &count), -ENOTDIR);
	ck_assert_int_eq(sim_file_count(sim, "/p"), 2);
	ck_assert_int_eq(sim_file_count(sim, "/zz"), -1);
	ck_assert_int_eq(sim_remove(sim, "/p/q"), -ENOTEMPTY);
	ck_assert_int_eq(sim_remove(sim, "/p/q/a"), 0);
	ck_assert_int_eq(sim_remove(sim, "/p/q/a"), -ENOENT);
	ck_assert_int_eq(sim_file_count(sim, "/p"), 1);
	ck_assert_int_eq(sim_read_file(sim, "/p", &got, &len), -EISDIR);
	/* planting survives any crash */
	sim_crash(sim, SIM_CRASH_DROP_ALL, 1);
	ck_assert_int_eq(sim_file_size(sim, "/p/q/r.log"), 6);
	FILE *null = fopen("/dev/null", "w");
	if (null != NULL) {
		sim_dump(sim, null);
		fclose(null);
	}
	ck_assert_str_eq(sim_crash_mode_name(SIM_CRASH_TORN), "torn");
	ck_assert_str_eq(sim_crash_mode_name(99), "?");
	sim_free(sim);
	sim_free(NULL);
}
END_TEST

/* Unlinked, closed, synced-away inodes are collected. */
START_TEST(test_collection)
{
	const rill_io *io;
	sim_fs *sim = fresh(20, &io);
	unsigned char *a = pattern(4096, 18);
	char path[64];
	for (int i = 0; i < 2000; i++) {
		snprintf(path, sizeof(path), "/d/seg-%d", i);
		int fd = xopen(io, path, CREATE_RW);
		xwrite(io, fd, 0, a, 4096);
		xsync(io, fd);
		xclose(io, fd);
		xsync_dir(io, "/d");
		ck_assert_int_eq(io->unlink(io->ctx, path), 0);
		xsync_dir(io, "/d");
	}
	sim_stats st;
	sim_stats_get(sim, &st);
	ck_assert_uint_lt(st.inodes, 200);
	ck_assert_uint_eq(st.open_fds, 0);
	free(a);
	sim_free(sim);
}
END_TEST

/* -------------------------------------------------------------- threads */

typedef struct writer_arg {
	const rill_io *io;
	int id;
} writer_arg;

static void *writer_main(void *p)
{
	writer_arg *w = p;
	char path[32];
	unsigned char buf[100];
	size_t done;
	int fd = -1;
	snprintf(path, sizeof(path), "/t/w%d", w->id);
	if (w->io->open(w->io->ctx, path, CREATE_RW, 0644, &fd) != 0)
		return (void *)1;
	for (int i = 0; i < 1000; i++) {
		tu_fill(buf, sizeof(buf), (uint64_t)w->id, (uint64_t)i);
		if (w->io->pwrite(w->io->ctx, fd, buf, sizeof(buf),
		                  (uint64_t)i * sizeof(buf), &done) != 0 ||
		    done != sizeof(buf))
			return (void *)2;
		if (i % 100 == 99 && w->io->fdatasync(w->io->ctx, fd) != 0)
			return (void *)3;
		int type;
		if (w->io->stat(w->io->ctx, "/t", &type) != 0)
			return (void *)4;
	}
	if (w->io->close(w->io->ctx, fd) != 0)
		return (void *)5;
	return NULL;
}

START_TEST(test_threads)
{
	const rill_io *io;
	sim_fs *sim = fresh(21, &io);
	ck_assert_int_eq(sim_mkdirs(sim, "/t"), 0);
	pthread_t th[2];
	writer_arg args[2] = {{io, 0}, {io, 1}};
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main, &args[i]), 0);
	for (int i = 0; i < 2; i++) {
		void *ret;
		ck_assert_int_eq(pthread_join(th[i], &ret), 0);
		ck_assert_ptr_null(ret);
	}
	unsigned char expect[100];
	for (int w = 0; w < 2; w++) {
		char path[32];
		void *got;
		size_t len;
		snprintf(path, sizeof(path), "/t/w%d", w);
		ck_assert_int_eq(sim_read_file(sim, path, &got, &len), 0);
		ck_assert_uint_eq(len, 100000);
		for (int i = 0; i < 1000; i++) {
			tu_fill(expect, sizeof(expect), (uint64_t)w, (uint64_t)i);
			ck_assert_mem_eq((unsigned char *)got + i * 100, expect, 100);
		}
		free(got);
	}
	ck_assert_uint_eq(sim_calls(sim, SIM_OP_WRITE), 2000);
	ck_assert_uint_eq(sim_calls(sim, SIM_OP_SYNC), 20);
	sim_free(sim);
}
END_TEST

/* ---------------------------------------------------------------- suite */

Suite *sim_io_suite(void)
{
	Suite *s = suite_create("sim_io");

	TCase *tc = tcase_create("posix");
	tcase_add_test(tc, test_posix_basics);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_unlinked_open_file);
	tcase_add_test(tc, test_list_dir);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_clock);
	tcase_add_test(tc, test_fds_after_crash);
	tcase_add_test(tc, test_helpers);
	tcase_add_test(tc, test_collection);
	suite_add_tcase(s, tc);

	tc = tcase_create("durability");
	tcase_add_loop_test(tc, test_synced_survives_every_mode, 0, SIM_CRASH_MODES);
	tcase_add_test(tc, test_drop_all_and_keep_all);
	tcase_add_test(tc, test_create_needs_dir_sync);
	tcase_add_test(tc, test_rename_durability);
	tcase_add_test(tc, test_unlink_matches_inode);
	tcase_add_test(tc, test_fsync_failure_loses_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("crash_modes");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_random_out_of_order);
	tcase_add_test(tc, test_torn_whole_sectors);
	tcase_add_test(tc, test_garbage_only_overlapped_sectors);
	tcase_add_test(tc, test_size_only);
	tcase_add_test(tc, test_allocate_modes);
	tcase_add_loop_test(tc, test_determinism, 0, SIM_CRASH_MODES);
	suite_add_tcase(s, tc);

	tc = tcase_create("faults");
	/* every class but map (map is NULL in the table) */
	tcase_add_loop_test(tc, test_fail_nth_each_class, 0, SIM_OP_CLASSES - 1);
	tcase_add_test(tc, test_fail_at_args_and_classes);
	tcase_add_test(tc, test_short_write_and_read);
	tcase_add_test(tc, test_crash_after_exact);
	tcase_add_test(tc, test_capacity);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}
