/*
 * sim_io.c — an in-memory rill_io that simulates power loss and injects
 * I/O faults, for the crash-safety tests. API and usage: sim_io.h.
 *
 * MODEL
 *
 * Files and directories are inodes; directories map names to inodes. Every
 * inode carries two views:
 *
 *   volatile   what the running process sees: every write, truncate,
 *              create, rename and unlink is applied here at once
 *              (inode.data for files, inode.live for directories);
 *   durable    what survives power loss (inode.saved, inode.durable).
 *
 * and a queue of the operations applied to the volatile view since its
 * last sync, in call order:
 *
 *   files        WRITE(offset, bytes), TRUNCATE(size), EXTEND(size)
 *   directories  LINK(name -> inode), UNLINK(name, inode),
 *                RENAME(old, new, inode) (same directory, atomic)
 *
 * Invariant: durable view + queue replayed in order = volatile view (except
 * after a failed sync, below). fsync or fdatasync of a file replays its
 * queue into its durable bytes (data and size; the two calls are the same
 * here). fsync or fdatasync of a directory fd replays that directory's
 * entry queue. Nothing else makes anything durable, so:
 *
 *   - a file created in a directory that is never synced vanishes at a
 *     crash, even if the file itself was synced (the LINK is still queued);
 *   - a same-directory rename is one RENAME op: after a crash either the
 *     old name or the new one exists, never both or neither;
 *   - a cross-directory rename is UNLINK in the source and LINK in the
 *     destination: the new name survives only if the destination is
 *     synced, the old name disappears only if the source is synced;
 *   - UNLINK removes a durable entry only if it still names the inode the
 *     process unlinked, so a dropped re-create never removes older data.
 *
 * Open fds hold inodes, not names: reading or writing an unlinked or
 * renamed file works as POSIX says. An inode is freed by a mark-and-sweep
 * collection once nothing can reach it (neither view of any directory,
 * no queued op, no fd).
 *
 * Failed syncs follow Linux (the "fsyncgate" of 2018, REFERENCE.md R8):
 * after a writeback error the kernel marks the pages clean, so a retried
 * fsync returns 0 although the data never reached the disk. An injected
 * sync failure therefore discards the inode's queue: the volatile view
 * keeps the data, the durable image never gets it.
 *
 * CRASH MODES (sim_crash)
 *
 * A crash resolves every queued op, then the durable image becomes the
 * volatile view, every fd dies and every lock is released. Randomness
 * comes from the crash seed only. Per crash a keep probability (10-90%)
 * and a sector size (512 or 4096) are drawn.
 *
 *   DROP_ALL   every queued op is lost: the strictest reading of "only
 *              fsync makes data durable" (SQLite test6.c without
 *              SQLITE_DEVCAP flags, dm-log-writes at the last flush).
 *   KEEP_ALL   every queued op reached the disk in order: the state just
 *              before the crash, catching code that only works because
 *              data was lost (e.g. a recovery that mishandles a fully
 *              written but unsynced tail).
 *   RANDOM     each op kept or lost independently and applied in call
 *              order, so a later write can persist without an earlier one
 *              (test6.c's write list; ALICE, OSDI'14: appends and
 *              overwrites persist out of order without fsync; REFERENCE.md
 *              R6). Directory ops too (ALICE's weakest persistence model).
 *   TORN       each write kept, lost, or torn: only a prefix persists,
 *              cut at a sector boundary inside the write (ALICE: appends
 *              are not atomic; TigerBeetle's torn-write fault; R5, R7).
 *              A write inside one sector is kept or lost whole.
 *   GARBAGE    every unsynced write is applied and its sectors then hold
 *              random bytes (test6.c's SQLITE_DEVCAP garbage on crash;
 *              TigerBeetle's storage faults). By default (powersafe
 *              overwrite, SQLite's SQLITE_IOCAP_POWERSAFE_OVERWRITE) bytes
 *              that were durable and not overwritten survive even when they
 *              share a sector; SIM_FLAG_NO_PSOW garbles whole sectors.
 *   SIZE_ONLY  a file keeps the size its queue gives it but no queued
 *              data: the grown part reads as zeros or garbage (SQLite's
 *              atomic-commit notes, "the file size is updated before the
 *              content"; ALICE's block-append anomaly; R5).
 *   MIXED      per file one in five resolved by SIZE_ONLY, else each write
 *              kept, lost, torn or garbled, other ops kept or lost.
 *
 * Directory ops: lost (DROP_ALL), kept (KEEP_ALL), or kept independently
 * with the keep probability (every other mode).
 *
 * FAULTS
 *
 * sim_fail_at arms rules on op classes (the Nth matching call fails with an
 * errno, a short write or read, or a flipped bit; transient or persistent),
 * after SQLite's aSyscall table and do_faultsim_test. sim_crash_after makes
 * the Nth mutating call the moment of death: it and every later call fail
 * with -EIO, so a workload stops exactly there, like test6.c's crash after
 * N writes. sim_set_capacity makes the file system full. sim_flip_bits
 * corrupts what pread returns (TigerBeetle's read faults).
 *
 * NOT MODELLED (deliberately)
 *
 *   - mmap: map/unmap are NULL; a shared mapping that tracks later writes
 *     cannot be built simply on memory that moves. The library uses pread.
 *   - Hard links, symlinks, permissions and modes, timestamps, O_APPEND,
 *     multiple processes.
 *   - ".." is resolved lexically ("/file/.." is "/"), and a trailing slash
 *     on a file is accepted.
 *   - Misdirected writes and latent sector errors that persist (use
 *     sim_corrupt_file to damage stored bytes).
 *   - Eviction of pages after a writeback error (the volatile view keeps
 *     the data a failed fsync lost), and errseq subtleties of which fd
 *     sees the error.
 *   - Ordering across directories or journal-style prefix persistence:
 *     RANDOM is weaker than ext4's ordered journal; code correct here is
 *     correct there.
 *   - After a crash that kept only one half of a cross-directory rename of
 *     a directory, that directory can have two parents.
 *   - Space: ftruncate never fails for space (it is sparse) but its size
 *     counts toward the capacity; an allocated-but-unwritten range costs
 *     no memory.
 *
 * SECTIONS
 *   types and helpers / contents / directory entries / inodes and
 *   collection / paths / faults / the rill_io table / crash / test helpers
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sim_io.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_PATH_MAX 4096                        /* longest path accepted */
#define SIM_NAME_MAX 255                         /* longest component */
#define SIM_FD_BASE (1 << 20)                    /* fds look unlike real ones */
#define SIM_FILE_BYTES_MAX (UINT64_C(1) << 32)   /* -EFBIG beyond */
#define SIM_EPOCH_MS INT64_C(1700000000000)      /* initial wall clock */
#define SIM_GC_SLACK 64                          /* inodes before a collection */

/* ------------------------------------------------------ types and helpers */

typedef struct content {
	unsigned char *bytes; /* materialized prefix of the file */
	uint64_t len;         /* bytes materialized, <= size */
	uint64_t cap;         /* bytes allocated at `bytes` */
	uint64_t size;        /* logical size; [len, size) reads as zeros */
} content;

enum file_op_kind { FOP_WRITE = 1, FOP_TRUNCATE = 2, FOP_EXTEND = 3 };

typedef struct file_op {
	int kind;            /* FOP_* */
	uint64_t offset;     /* WRITE: position; TRUNCATE, EXTEND: new size */
	uint64_t len;        /* WRITE: bytes at data */
	unsigned char *data; /* WRITE: copy of the bytes written */
} file_op;

enum dir_op_kind { DOP_LINK = 1, DOP_UNLINK = 2, DOP_RENAME = 3 };

struct inode;

typedef struct dir_op {
	int kind;          /* DOP_* */
	char *name;        /* LINK: the new name; UNLINK, RENAME: the old name */
	char *name2;       /* RENAME: the new name */
	struct inode *ino; /* the inode linked, unlinked or renamed */
} dir_op;

typedef struct entry {
	char *name;        /* owned */
	struct inode *ino; /* not owned (the collector frees inodes) */
} entry;

typedef struct entries {
	entry *v;     /* in insertion order */
	size_t count; /* used */
	size_t cap;   /* allocated */
} entries;

typedef struct open_file open_file;

typedef struct inode {
	uint64_t number;        /* creation order: crash resolution walks by it */
	int type;               /* RILL_IO_FILE or RILL_IO_DIR */
	content data;           /* file: volatile bytes */
	content saved;          /* file: durable bytes */
	entries live;           /* dir: volatile entries */
	entries durable;        /* dir: durable entries */
	file_op *fops;          /* file: unsynced ops, in call order */
	size_t fop_count;       /* used */
	size_t fop_cap;         /* allocated */
	dir_op *dops;           /* dir: unsynced entry ops, in call order */
	size_t dop_count;       /* used */
	size_t dop_cap;         /* allocated */
	uint64_t reserved;      /* keep-size allocate: space held past size */
	open_file *lock_excl;   /* holder of the exclusive lock, or NULL */
	unsigned lock_shared;   /* holders of shared locks */
	int mark;               /* collector mark */
	int live_mark;          /* reachable in the volatile view (capacity) */
	struct inode *next;     /* all inodes, creation order */
	struct inode *prev;     /* previous in that list */
} inode;

struct open_file {
	inode *ino;     /* the inode, whatever its names are now */
	uint32_t flags; /* RILL_O_* given to open */
	int lock;       /* 0 none, 1 shared, 2 exclusive */
};

typedef struct fault_rule {
	uint32_t mask;      /* classes counted; 0 = rule unused */
	uint64_t countdown; /* matching calls left before it fires */
	int kind;           /* negative errno, SIM_FAULT_SHORT or SIM_FAULT_FLIP */
	int persistent;     /* keeps firing once fired */
	int firing;         /* persistent and fired */
} fault_rule;

struct sim_fs {
	pthread_mutex_t mu;         /* guards everything below */
	rill_io io;                 /* the table handed out, ctx = this */
	uint32_t flags;             /* SIM_FLAG_* */
	uint64_t rng;               /* splitmix64 state for non-crash choices */
	uint64_t list_seed;         /* scrambles list_dir order */
	inode *root;                /* "/" */
	inode *first;               /* all inodes, creation order */
	inode *last;                /* newest inode */
	uint64_t inode_count;       /* inodes in the list */
	uint64_t inode_count_gc;    /* inodes left by the last collection */
	uint64_t next_number;       /* next inode number */
	open_file **fds;            /* slot i is fd SIM_FD_BASE + i; never reused */
	size_t fd_slots;            /* slots used */
	size_t fd_cap;              /* slots allocated */
	uint64_t open_count;        /* fds open now */
	uint64_t calls[SIM_OP_CLASSES]; /* calls per class */
	uint64_t mutations;         /* mutating calls */
	uint64_t crash_countdown;   /* mutating calls to the crash point; 0 off */
	int dead;                   /* crash point fired: every call fails */
	fault_rule rules[SIM_FAULT_RULES_MAX]; /* armed faults */
	uint32_t flip_ppm;          /* pread bit flip probability, per million */
	uint64_t capacity;          /* bytes; UINT64_MAX unlimited */
	int64_t wall_ns;            /* now_ms * 1e6 */
	int64_t mono_ns;            /* monotonic_ns */
	int64_t step_ns;            /* added by every clock read */
	sim_stats crash_stats;      /* crash counters of the last crash */
	uint64_t crashes;           /* sim_crash calls */
};

static void *xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);
	if (p == NULL) {
		fputs("sim_io: out of memory\n", stderr);
		abort();
	}
	return p;
}

static void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
	if (p == NULL) {
		fputs("sim_io: out of memory\n", stderr);
		abort();
	}
	return p;
}

static void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size == 0 ? 1 : size);
	if (p == NULL) {
		fputs("sim_io: out of memory\n", stderr);
		abort();
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = xmalloc(n);
	memcpy(p, s, n);
	return p;
}

/* Grow a dynamic array by one slot when it is full. */
#define GROW(ptr, count, cap)                                               \
	do {                                                                    \
		if ((count) == (cap)) {                                             \
			(cap) = (cap) != 0 ? 2 * (cap) : 8;                             \
			(ptr) = xrealloc((ptr), (cap) * sizeof(*(ptr)));                \
		}                                                                   \
	} while (0)

static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static uint64_t below(uint64_t *state, uint64_t n)
{
	return n == 0 ? 0 : splitmix(state) % n;
}

static void fill_random(uint64_t *state, unsigned char *p, uint64_t n)
{
	uint64_t i = 0;
	while (i < n) {
		uint64_t r = splitmix(state);
		for (int b = 0; b < 8 && i < n; b++, i++)
			p[i] = (unsigned char)(r >> (8 * b));
	}
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void sim_lock(sim_fs *sim)
{
	if (pthread_mutex_lock(&sim->mu) != 0)
		abort();
}

static void sim_unlock(sim_fs *sim)
{
	if (pthread_mutex_unlock(&sim->mu) != 0)
		abort();
}

/* -------------------------------------------------------------- contents */

static void content_reserve(content *c, uint64_t n)
{
	if (n <= c->cap)
		return;
	uint64_t cap = c->cap != 0 ? c->cap : 4096;
	while (cap < n)
		cap *= 2;
	c->bytes = xrealloc(c->bytes, (size_t)cap);
	c->cap = cap;
}

/* Make [0, end) real memory; the bytes past the old prefix are zeros. */
static void content_materialize(content *c, uint64_t end)
{
	if (end <= c->len)
		return;
	content_reserve(c, end);
	memset(c->bytes + c->len, 0, (size_t)(end - c->len));
	c->len = end;
}

static void content_write(content *c, uint64_t offset, const void *src,
                          uint64_t n)
{
	if (n == 0)
		return;
	content_materialize(c, offset + n);
	memcpy(c->bytes + offset, src, (size_t)n);
	if (offset + n > c->size)
		c->size = offset + n;
}

static void content_set_size(content *c, uint64_t size)
{
	c->size = size;
	if (c->len > size)
		c->len = size;
}

static void content_extend(content *c, uint64_t size)
{
	if (size > c->size)
		c->size = size;
}

/* Copy up to n bytes at offset into dst; returns the bytes copied. */
static uint64_t content_read(const content *c, uint64_t offset, void *dst,
                             uint64_t n)
{
	if (offset >= c->size)
		return 0;
	if (n > c->size - offset)
		n = c->size - offset;
	unsigned char *out = dst;
	uint64_t real = 0;
	if (offset < c->len) {
		real = min_u64(n, c->len - offset);
		memcpy(out, c->bytes + offset, (size_t)real);
	}
	if (n > real)
		memset(out + real, 0, (size_t)(n - real));
	return n;
}

static void content_copy(content *dst, const content *src)
{
	content_reserve(dst, src->len);
	if (src->len > 0)
		memcpy(dst->bytes, src->bytes, (size_t)src->len);
	dst->len = src->len;
	dst->size = src->size;
}

/* Random bytes over [from, to), clipped to the file's size. */
static void content_randomize(content *c, uint64_t from, uint64_t to,
                              uint64_t *rng)
{
	to = min_u64(to, c->size);
	if (from >= to)
		return;
	content_materialize(c, to);
	fill_random(rng, c->bytes + from, to - from);
}

static void content_free(content *c)
{
	free(c->bytes);
	memset(c, 0, sizeof(*c));
}

/* Length of the materialized prefix without trailing zeros: two contents
 * with the same size and the same trimmed prefix hold the same bytes. */
static uint64_t content_trimmed(const content *c)
{
	uint64_t n = c->len;
	while (n > 0 && c->bytes[n - 1] == 0)
		n--;
	return n;
}

/* ------------------------------------------------------ directory entries */

static long entries_find(const entries *es, const char *name)
{
	for (size_t i = 0; i < es->count; i++)
		if (strcmp(es->v[i].name, name) == 0)
			return (long)i;
	return -1;
}

static inode *entries_get(const entries *es, const char *name)
{
	long i = entries_find(es, name);
	return i < 0 ? NULL : es->v[i].ino;
}

static void entries_set(entries *es, const char *name, inode *ino)
{
	long i = entries_find(es, name);
	if (i >= 0) {
		es->v[i].ino = ino;
		return;
	}
	GROW(es->v, es->count, es->cap);
	es->v[es->count].name = xstrdup(name);
	es->v[es->count].ino = ino;
	es->count++;
}

static void entries_remove_at(entries *es, size_t i)
{
	free(es->v[i].name);
	memmove(&es->v[i], &es->v[i + 1], (es->count - i - 1) * sizeof(entry));
	es->count--;
}

static void entries_remove(entries *es, const char *name)
{
	long i = entries_find(es, name);
	if (i >= 0)
		entries_remove_at(es, (size_t)i);
}

static void entries_clear(entries *es)
{
	for (size_t i = 0; i < es->count; i++)
		free(es->v[i].name);
	es->count = 0;
}

static void entries_copy(entries *dst, const entries *src)
{
	entries_clear(dst);
	for (size_t i = 0; i < src->count; i++) {
		GROW(dst->v, dst->count, dst->cap);
		dst->v[dst->count].name = xstrdup(src->v[i].name);
		dst->v[dst->count].ino = src->v[i].ino;
		dst->count++;
	}
}

static void entries_free(entries *es)
{
	entries_clear(es);
	free(es->v);
	memset(es, 0, sizeof(*es));
}

/* ------------------------------------------------- inodes and collection */

static inode *inode_new(sim_fs *sim, int type)
{
	inode *ino = xcalloc(1, sizeof(*ino));
	ino->number = sim->next_number++;
	ino->type = type;
	ino->prev = sim->last;
	if (sim->last != NULL)
		sim->last->next = ino;
	else
		sim->first = ino;
	sim->last = ino;
	sim->inode_count++;
	return ino;
}

static void file_op_push(inode *ino, int kind, uint64_t offset, uint64_t len,
                         const void *data)
{
	GROW(ino->fops, ino->fop_count, ino->fop_cap);
	file_op *op = &ino->fops[ino->fop_count++];
	op->kind = kind;
	op->offset = offset;
	op->len = len;
	op->data = NULL;
	if (kind == FOP_WRITE) {
		op->data = xmalloc((size_t)len);
		memcpy(op->data, data, (size_t)len);
	}
}

static void dir_op_push(inode *dir, int kind, const char *name,
                        const char *name2, inode *ino)
{
	GROW(dir->dops, dir->dop_count, dir->dop_cap);
	dir_op *op = &dir->dops[dir->dop_count++];
	op->kind = kind;
	op->name = xstrdup(name);
	op->name2 = name2 != NULL ? xstrdup(name2) : NULL;
	op->ino = ino;
}

static void inode_clear_ops(inode *ino)
{
	for (size_t i = 0; i < ino->fop_count; i++)
		free(ino->fops[i].data);
	ino->fop_count = 0;
	for (size_t i = 0; i < ino->dop_count; i++) {
		free(ino->dops[i].name);
		free(ino->dops[i].name2);
	}
	ino->dop_count = 0;
}

static void inode_free(inode *ino)
{
	inode_clear_ops(ino);
	free(ino->fops);
	free(ino->dops);
	content_free(&ino->data);
	content_free(&ino->saved);
	entries_free(&ino->live);
	entries_free(&ino->durable);
	free(ino);
}

static void inode_unlist(sim_fs *sim, inode *ino)
{
	if (ino->prev != NULL)
		ino->prev->next = ino->next;
	else
		sim->first = ino->next;
	if (ino->next != NULL)
		ino->next->prev = ino->prev;
	else
		sim->last = ino->prev;
	sim->inode_count--;
}

/* Mark everything an inode keeps alive: both views of its entries and the
 * inodes named by its queued ops. Depth is the directory depth. */
static void gc_mark(inode *ino)
{
	if (ino == NULL || ino->mark)
		return;
	ino->mark = 1;
	for (size_t i = 0; i < ino->live.count; i++)
		gc_mark(ino->live.v[i].ino);
	for (size_t i = 0; i < ino->durable.count; i++)
		gc_mark(ino->durable.v[i].ino);
	for (size_t i = 0; i < ino->dop_count; i++)
		gc_mark(ino->dops[i].ino);
}

static void gc(sim_fs *sim)
{
	for (inode *ino = sim->first; ino != NULL; ino = ino->next)
		ino->mark = 0;
	gc_mark(sim->root);
	for (size_t i = 0; i < sim->fd_slots; i++)
		if (sim->fds[i] != NULL)
			gc_mark(sim->fds[i]->ino);
	inode *ino = sim->first;
	while (ino != NULL) {
		inode *next = ino->next;
		if (!ino->mark) {
			inode_unlist(sim, ino);
			inode_free(ino);
		}
		ino = next;
	}
	sim->inode_count_gc = sim->inode_count;
}

static void maybe_gc(sim_fs *sim)
{
	if (sim->inode_count > 2 * sim->inode_count_gc + SIM_GC_SLACK)
		gc(sim);
}

static void live_mark(inode *ino)
{
	if (ino == NULL || ino->live_mark)
		return;
	ino->live_mark = 1;
	for (size_t i = 0; i < ino->live.count; i++)
		live_mark(ino->live.v[i].ino);
}

/* What the capacity counts: files linked in the volatile view or open. */
static uint64_t bytes_used(sim_fs *sim)
{
	for (inode *ino = sim->first; ino != NULL; ino = ino->next)
		ino->live_mark = 0;
	live_mark(sim->root);
	for (size_t i = 0; i < sim->fd_slots; i++)
		if (sim->fds[i] != NULL)
			live_mark(sim->fds[i]->ino);
	uint64_t used = 0;
	for (inode *ino = sim->first; ino != NULL; ino = ino->next)
		if (ino->live_mark && ino->type == RILL_IO_FILE)
			used += max_u64(ino->data.size, ino->reserved);
	return used;
}

/* Growing a file from what it holds now to `end` bytes: how far it may go
 * within the capacity (== end when it all fits). */
static uint64_t capacity_limit(sim_fs *sim, const inode *ino, uint64_t end)
{
	if (sim->capacity == UINT64_MAX)
		return end;
	uint64_t have = max_u64(ino->data.size, ino->reserved);
	if (end <= have)
		return end;
	uint64_t used = bytes_used(sim);
	uint64_t avail = sim->capacity > used ? sim->capacity - used : 0;
	return min_u64(end, have + avail);
}

static void apply_file_op(content *c, const file_op *op)
{
	switch (op->kind) {
	case FOP_WRITE:
		content_write(c, op->offset, op->data, op->len);
		break;
	case FOP_TRUNCATE:
		content_set_size(c, op->offset);
		break;
	case FOP_EXTEND:
		content_extend(c, op->offset);
		break;
	default:
		abort();
	}
}

static void apply_dir_op(inode *dir, const dir_op *op)
{
	long i;
	switch (op->kind) {
	case DOP_LINK:
		entries_set(&dir->durable, op->name, op->ino);
		break;
	case DOP_UNLINK:
	case DOP_RENAME:
		i = entries_find(&dir->durable, op->name);
		if (i >= 0 && dir->durable.v[i].ino == op->ino)
			entries_remove_at(&dir->durable, (size_t)i);
		if (op->kind == DOP_RENAME)
			entries_set(&dir->durable, op->name2, op->ino);
		break;
	default:
		abort();
	}
}

/* fsync: the whole queue becomes durable, in order. */
static void sync_inode(inode *ino)
{
	for (size_t i = 0; i < ino->fop_count; i++)
		apply_file_op(&ino->saved, &ino->fops[i]);
	for (size_t i = 0; i < ino->dop_count; i++)
		apply_dir_op(ino, &ino->dops[i]);
	inode_clear_ops(ino);
}

/* ----------------------------------------------------------------- paths */

/* Normalize into out (SIM_PATH_MAX + 2 bytes): "/" then components joined
 * by single slashes, "." dropped, ".." popping (lexically; not past "/").
 * Relative paths start at "/". */
static int normalize(const char *path, char *out)
{
	if (path == NULL)
		return -EFAULT;
	if (path[0] == '\0')
		return -ENOENT;
	if (strlen(path) >= SIM_PATH_MAX)
		return -ENAMETOOLONG;
	size_t n = 0;
	out[n++] = '/';
	out[n] = '\0';
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p != '\0' && *p != '/')
			p++;
		size_t len = (size_t)(p - start);
		if (len > SIM_NAME_MAX)
			return -ENAMETOOLONG;
		if (len == 1 && start[0] == '.')
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.') {
			while (n > 1 && out[n - 1] != '/')
				n--;
			if (n > 1)
				n--;
			out[n] = '\0';
			continue;
		}
		if (n > 1)
			out[n++] = '/';
		memcpy(out + n, start, len);
		n += len;
		out[n] = '\0';
	}
	return 0;
}

/*
 * Look a normalized path up in one view (durable = 0: volatile). `norm` is
 * cut into components in place. On success *out_parent is the directory
 * holding the last component (NULL for "/"), *out_name that component, and
 * *out_ino its inode, or NULL when only the last component is missing.
 */
static int walk(sim_fs *sim, char *norm, int durable, inode **out_parent,
                char **out_name, inode **out_ino)
{
	*out_parent = NULL;
	*out_name = NULL;
	*out_ino = NULL;
	if (norm[1] == '\0') {
		*out_ino = sim->root;
		return 0;
	}
	inode *dir = sim->root;
	char *p = norm + 1;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash != NULL)
			*slash = '\0';
		inode *child = entries_get(durable ? &dir->durable : &dir->live, p);
		if (slash == NULL) {
			*out_parent = dir;
			*out_name = p;
			*out_ino = child;
			return 0;
		}
		if (child == NULL)
			return -ENOENT;
		if (child->type != RILL_IO_DIR)
			return -ENOTDIR;
		dir = child;
		p = slash + 1;
	}
}

static int resolve(sim_fs *sim, const char *path, int durable, char *buf,
                   inode **out_parent, char **out_name, inode **out_ino)
{
	int rc = normalize(path, buf);
	if (rc != 0)
		return rc;
	return walk(sim, buf, durable, out_parent, out_name, out_ino);
}

/* ---------------------------------------------------------------- faults */

static int class_index(uint32_t op_class)
{
	return __builtin_ctz(op_class);
}

/*
 * Every table call passes here first, under the lock: count it, stop a
 * dead process, fire the crash point, fire fault rules. Returns 0 to go
 * on or the errno to return; *out_fault is the kind of rule that fired (0
 * none). For SIM_FAULT_SHORT on reads and writes and SIM_FAULT_FLIP on
 * reads the call goes on (returns 0) and implements the fault itself.
 */
static int gate(sim_fs *sim, uint32_t op_class, int mutating, int *out_fault)
{
	*out_fault = 0;
	sim->calls[class_index(op_class)]++;
	if (sim->dead)
		return -EIO;
	if (mutating) {
		sim->mutations++;
		if (sim->crash_countdown > 0 && --sim->crash_countdown == 0) {
			sim->dead = 1;
			return -EIO;
		}
	}
	int fired = 0;
	for (int i = 0; i < SIM_FAULT_RULES_MAX; i++) {
		fault_rule *r = &sim->rules[i];
		if ((r->mask & op_class) == 0)
			continue;
		int fire = 0;
		if (r->firing) {
			fire = 1;
		} else if (--r->countdown == 0) {
			fire = 1;
			if (r->persistent)
				r->firing = 1;
			else
				r->mask = 0;
		}
		if (fire && fired == 0)
			fired = r->kind;
	}
	*out_fault = fired;
	if (fired < 0)
		return fired;
	if (fired == SIM_FAULT_SHORT &&
	    (op_class == SIM_OP_READ || op_class == SIM_OP_WRITE))
		return 0;
	if (fired == SIM_FAULT_FLIP && op_class == SIM_OP_READ)
		return 0;
	return fired != 0 ? -EIO : 0;
}

/* --------------------------------------------------------- the rill_io table */

static open_file *fd_get(sim_fs *sim, int fd)
{
	if (fd < SIM_FD_BASE)
		return NULL;
	size_t i = (size_t)(fd - SIM_FD_BASE);
	return i < sim->fd_slots ? sim->fds[i] : NULL;
}

static int fd_add(sim_fs *sim, open_file *f)
{
	GROW(sim->fds, sim->fd_slots, sim->fd_cap);
	sim->fds[sim->fd_slots] = f;
	sim->open_count++;
	return SIM_FD_BASE + (int)sim->fd_slots++;
}

static void fd_release(sim_fs *sim, int fd)
{
	open_file *f = fd_get(sim, fd);
	if (f == NULL)
		return;
	if (f->lock == 2)
		f->ino->lock_excl = NULL;
	else if (f->lock == 1)
		f->ino->lock_shared--;
	free(f);
	sim->fds[fd - SIM_FD_BASE] = NULL;
	sim->open_count--;
}

static int io_open(void *ctx, const char *path, uint32_t flags, unsigned mode,
                   int *out_fd)
{
	sim_fs *sim = ctx;
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	int fault;
	(void)mode;
	if (out_fd != NULL)
		*out_fd = -1;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_OPEN,
	              (flags & (RILL_O_CREATE | RILL_O_TRUNC)) != 0, &fault);
	if (rc != 0)
		goto out;
	if (out_fd == NULL) {
		rc = -EFAULT;
		goto out;
	}
	rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc != 0)
		goto out;
	if (ino == NULL) {
		if ((flags & RILL_O_CREATE) == 0) {
			rc = -ENOENT;
			goto out;
		}
		if (flags & RILL_O_DIRECTORY) {
			rc = -EINVAL;
			goto out;
		}
		ino = inode_new(sim, RILL_IO_FILE);
		entries_set(&parent->live, name, ino);
		dir_op_push(parent, DOP_LINK, name, NULL, ino);
	} else {
		if ((flags & RILL_O_CREATE) && (flags & RILL_O_EXCL)) {
			rc = -EEXIST;
			goto out;
		}
		if (ino->type == RILL_IO_DIR) {
			if (flags & (RILL_O_WRITE | RILL_O_TRUNC)) {
				rc = -EISDIR;
				goto out;
			}
		} else {
			if (flags & RILL_O_DIRECTORY) {
				rc = -ENOTDIR;
				goto out;
			}
			if ((flags & RILL_O_TRUNC) && (flags & RILL_O_WRITE)) {
				file_op_push(ino, FOP_TRUNCATE, 0, 0, NULL);
				content_set_size(&ino->data, 0);
				ino->reserved = 0;
			}
		}
	}
	open_file *f = xcalloc(1, sizeof(*f));
	f->ino = ino;
	f->flags = flags;
	*out_fd = fd_add(sim, f);
out:
	sim_unlock(sim);
	return rc;
}

static int io_close(void *ctx, int fd)
{
	sim_fs *sim = ctx;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_CLOSE, 0, &fault);
	if (!sim->dead) {
		/* Like Linux, the fd is gone even when close reports an error. */
		if (fd_get(sim, fd) == NULL) {
			rc = -EBADF;
		} else {
			fd_release(sim, fd);
			maybe_gc(sim);
		}
	}
	sim_unlock(sim);
	return rc;
}

static int io_pread(void *ctx, int fd, void *buf, size_t len, uint64_t offset,
                    size_t *out_done)
{
	sim_fs *sim = ctx;
	int fault;
	if (out_done != NULL)
		*out_done = 0;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_READ, 0, &fault);
	if (rc != 0)
		goto out;
	open_file *f = fd_get(sim, fd);
	if (f == NULL) {
		rc = -EBADF;
		goto out;
	}
	if (f->ino->type == RILL_IO_DIR) {
		rc = -EISDIR;
		goto out;
	}
	if (out_done == NULL || (buf == NULL && len > 0)) {
		rc = -EFAULT;
		goto out;
	}
	uint64_t n = content_read(&f->ino->data, offset, buf, len);
	if (fault == SIM_FAULT_SHORT)
		n = below(&sim->rng, n);
	int flip = fault == SIM_FAULT_FLIP ||
	           (sim->flip_ppm > 0 && below(&sim->rng, 1000000) < sim->flip_ppm);
	if (flip && n > 0) {
		uint64_t bit = below(&sim->rng, n * 8);
		((unsigned char *)buf)[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	*out_done = (size_t)n;
out:
	sim_unlock(sim);
	return rc;
}

static int io_pwrite(void *ctx, int fd, const void *buf, size_t len,
                     uint64_t offset, size_t *out_done)
{
	sim_fs *sim = ctx;
	int fault;
	if (out_done != NULL)
		*out_done = 0;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_WRITE, 1, &fault);
	if (rc != 0)
		goto out;
	open_file *f = fd_get(sim, fd);
	if (f == NULL || (f->flags & RILL_O_WRITE) == 0) {
		rc = -EBADF;
		goto out;
	}
	if (f->ino->type == RILL_IO_DIR) {
		rc = -EISDIR;
		goto out;
	}
	if (out_done == NULL || (buf == NULL && len > 0)) {
		rc = -EFAULT;
		goto out;
	}
	if (len == 0)
		goto out;
	if (offset > SIM_FILE_BYTES_MAX || len > SIM_FILE_BYTES_MAX - offset) {
		rc = -EFBIG;
		goto out;
	}
	uint64_t n = len;
	if (fault == SIM_FAULT_SHORT)
		n = len >= 2 ? 1 + below(&sim->rng, len - 1) : 0;
	if (n > 0) {
		/* a full disk: write what fits, report it short; -ENOSPC if none */
		uint64_t end = capacity_limit(sim, f->ino, offset + n);
		if (end <= offset) {
			rc = -ENOSPC;
			goto out;
		}
		n = end - offset;
		file_op_push(f->ino, FOP_WRITE, offset, n, buf);
		content_write(&f->ino->data, offset, buf, n);
	}
	*out_done = (size_t)n;
out:
	sim_unlock(sim);
	return rc;
}

/* The gate of a sync-class call, lock held. An injected failure is a
 * write-back error (fsyncgate): reported once, and the data is gone from
 * the queue; the page cache (volatile view) still has it. 0 with the open
 * file in *out, or the error. */
static int sync_gate(sim_fs *sim, int fd, open_file **out)
{
	int fault;
	int rc = gate(sim, SIM_OP_SYNC, 1, &fault);
	open_file *f = fd_get(sim, fd);
	if (rc != 0) {
		if (fault != 0 && rc != -EINTR && f != NULL &&
		    (sim->flags & SIM_FLAG_SYNC_FAIL_KEEPS) == 0)
			inode_clear_ops(f->ino);
		return rc;
	}
	*out = f;
	return f == NULL ? -EBADF : 0;
}

static int io_sync(sim_fs *sim, int fd)
{
	open_file *f = NULL;
	sim_lock(sim);
	int rc = sync_gate(sim, fd, &f);
	if (rc == 0) {
		sync_inode(f->ino);
		maybe_gc(sim);
	}
	sim_unlock(sim);
	return rc;
}

static int io_fdatasync(void *ctx, int fd)
{
	return io_sync(ctx, fd);
}

/* sync_file_range: the pages go to the device but its cache is not
 * flushed, so nothing becomes durable (the queue stays for a crash to
 * resolve). A failure is a write-back error: as for a failed sync the
 * kernel marks the pages clean, so their data never reaches the disk.
 * Starting (wait 0) reports nothing; the wait is a sync-class call. */
int sim_io_writeback(void *ctx, int fd, int wait)
{
	sim_fs *sim = ctx;
	if (!wait)
		return 0;
	open_file *f = NULL;
	sim_lock(sim);
	int rc = sync_gate(sim, fd, &f);
	sim_unlock(sim);
	return rc;
}

static int io_fsync(void *ctx, int fd)
{
	return io_sync(ctx, fd);
}

static int io_ftruncate(void *ctx, int fd, uint64_t size)
{
	sim_fs *sim = ctx;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_TRUNCATE, 1, &fault);
	if (rc != 0)
		goto out;
	open_file *f = fd_get(sim, fd);
	if (f == NULL || (f->flags & RILL_O_WRITE) == 0) {
		rc = -EBADF;
		goto out;
	}
	if (f->ino->type == RILL_IO_DIR) {
		rc = -EISDIR;
		goto out;
	}
	if (size > SIM_FILE_BYTES_MAX) {
		rc = -EFBIG;
		goto out;
	}
	file_op_push(f->ino, FOP_TRUNCATE, size, 0, NULL);
	content_set_size(&f->ino->data, size);
	f->ino->reserved = min_u64(f->ino->reserved, size);
out:
	sim_unlock(sim);
	return rc;
}

static int io_allocate(void *ctx, int fd, uint64_t offset, uint64_t len)
{
	sim_fs *sim = ctx;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_ALLOCATE, 1, &fault);
	if (rc != 0)
		goto out;
	open_file *f = fd_get(sim, fd);
	if (f == NULL || (f->flags & RILL_O_WRITE) == 0) {
		rc = -EBADF;
		goto out;
	}
	if (f->ino->type == RILL_IO_DIR) {
		rc = -EISDIR;
		goto out;
	}
	if (len == 0) {
		rc = -EINVAL;
		goto out;
	}
	if (offset > SIM_FILE_BYTES_MAX || len > SIM_FILE_BYTES_MAX - offset) {
		rc = -EFBIG;
		goto out;
	}
	uint64_t end = offset + len;
	if (capacity_limit(sim, f->ino, end) < end) {
		rc = -ENOSPC;
		goto out;
	}
	if (sim->flags & SIM_FLAG_ALLOCATE_KEEP_SIZE) {
		f->ino->reserved = max_u64(f->ino->reserved, end);
	} else if (end > f->ino->data.size) {
		file_op_push(f->ino, FOP_EXTEND, end, 0, NULL);
		content_extend(&f->ino->data, end);
	}
out:
	sim_unlock(sim);
	return rc;
}

static int io_file_size(void *ctx, int fd, uint64_t *out_size)
{
	sim_fs *sim = ctx;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_STAT, 0, &fault);
	if (rc != 0)
		goto out;
	open_file *f = fd_get(sim, fd);
	if (f == NULL) {
		rc = -EBADF;
		goto out;
	}
	if (out_size == NULL) {
		rc = -EFAULT;
		goto out;
	}
	*out_size = f->ino->type == RILL_IO_DIR ? 0 : f->ino->data.size;
out:
	sim_unlock(sim);
	return rc;
}

static int io_stat(void *ctx, const char *path, int *out_type)
{
	sim_fs *sim = ctx;
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_STAT, 0, &fault);
	if (rc != 0)
		goto out;
	rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc != 0)
		goto out;
	if (ino == NULL) {
		rc = -ENOENT;
		goto out;
	}
	if (out_type == NULL) {
		rc = -EFAULT;
		goto out;
	}
	*out_type = ino->type;
out:
	sim_unlock(sim);
	return rc;
}

static int io_rename(void *ctx, const char *from, const char *to)
{
	sim_fs *sim = ctx;
	char from_buf[SIM_PATH_MAX + 2], to_buf[SIM_PATH_MAX + 2];
	inode *from_dir, *from_ino, *to_dir, *to_ino;
	char *from_name, *to_name;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_RENAME, 1, &fault);
	if (rc != 0)
		goto out;
	if ((rc = normalize(from, from_buf)) != 0 ||
	    (rc = normalize(to, to_buf)) != 0)
		goto out;
	int same = strcmp(from_buf, to_buf) == 0;
	size_t from_len = strlen(from_buf);
	int into_self = strncmp(to_buf, from_buf, from_len) == 0 &&
	                to_buf[from_len] == '/';
	rc = walk(sim, from_buf, 0, &from_dir, &from_name, &from_ino);
	if (rc != 0)
		goto out;
	if (from_ino == NULL) {
		rc = -ENOENT;
		goto out;
	}
	if (from_dir == NULL) {
		rc = -EBUSY;
		goto out;
	}
	rc = walk(sim, to_buf, 0, &to_dir, &to_name, &to_ino);
	if (rc != 0)
		goto out;
	if (to_dir == NULL) {
		rc = -EBUSY;
		goto out;
	}
	if (same || to_ino == from_ino)
		goto out;
	if (from_ino->type == RILL_IO_DIR) {
		if (into_self) {
			rc = -EINVAL;
			goto out;
		}
		if (to_ino != NULL && to_ino->type != RILL_IO_DIR) {
			rc = -ENOTDIR;
			goto out;
		}
		if (to_ino != NULL && to_ino->live.count > 0) {
			rc = -ENOTEMPTY;
			goto out;
		}
	} else if (to_ino != NULL && to_ino->type == RILL_IO_DIR) {
		rc = -EISDIR;
		goto out;
	}
	entries_remove(&from_dir->live, from_name);
	entries_set(&to_dir->live, to_name, from_ino);
	if (from_dir == to_dir) {
		dir_op_push(from_dir, DOP_RENAME, from_name, to_name, from_ino);
	} else {
		dir_op_push(from_dir, DOP_UNLINK, from_name, NULL, from_ino);
		dir_op_push(to_dir, DOP_LINK, to_name, NULL, from_ino);
	}
	maybe_gc(sim);
out:
	sim_unlock(sim);
	return rc;
}

/* unlink (want_dir = 0) and rmdir (want_dir = 1) */
static int remove_entry(sim_fs *sim, const char *path, int want_dir)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, want_dir ? SIM_OP_RMDIR : SIM_OP_UNLINK, 1, &fault);
	if (rc != 0)
		goto out;
	rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc != 0)
		goto out;
	if (ino == NULL) {
		rc = -ENOENT;
		goto out;
	}
	if (parent == NULL) {
		rc = want_dir ? -EBUSY : -EISDIR;
		goto out;
	}
	if (want_dir && ino->type != RILL_IO_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!want_dir && ino->type == RILL_IO_DIR) {
		rc = -EISDIR;
		goto out;
	}
	if (want_dir && ino->live.count > 0) {
		rc = -ENOTEMPTY;
		goto out;
	}
	entries_remove(&parent->live, name);
	dir_op_push(parent, DOP_UNLINK, name, NULL, ino);
	maybe_gc(sim);
out:
	sim_unlock(sim);
	return rc;
}

static int io_unlink(void *ctx, const char *path)
{
	return remove_entry(ctx, path, 0);
}

static int io_rmdir(void *ctx, const char *path)
{
	return remove_entry(ctx, path, 1);
}

static int io_mkdir(void *ctx, const char *path, unsigned mode)
{
	sim_fs *sim = ctx;
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	int fault;
	(void)mode;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_MKDIR, 1, &fault);
	if (rc != 0)
		goto out;
	rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc != 0)
		goto out;
	if (ino != NULL) {
		rc = -EEXIST;
		goto out;
	}
	ino = inode_new(sim, RILL_IO_DIR);
	entries_set(&parent->live, name, ino);
	dir_op_push(parent, DOP_LINK, name, NULL, ino);
out:
	sim_unlock(sim);
	return rc;
}

typedef struct list_item {
	uint64_t key; /* order */
	char *name;   /* owned */
} list_item;

static int list_item_cmp(const void *a, const void *b)
{
	const list_item *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->name, y->name);
}

static uint64_t name_hash(const char *name, uint64_t seed)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;
	for (const char *p = name; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= UINT64_C(0x100000001b3);
	}
	return splitmix(&h);
}

/* Names are copied under the lock and the callback runs without it, so
 * it may call back into the table (unlink what it lists, say). Order is a
 * seeded scramble (readdir promises no order) unless SIM_FLAG_LIST_SORTED. */
static int io_list_dir(void *ctx, const char *path,
                       int (*each)(void *arg, const char *name), void *arg)
{
	sim_fs *sim = ctx;
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	int fault;
	list_item *items = NULL;
	size_t count = 0;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_LIST, 0, &fault);
	if (rc != 0)
		goto unlock;
	rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc != 0)
		goto unlock;
	if (ino == NULL) {
		rc = -ENOENT;
		goto unlock;
	}
	if (ino->type != RILL_IO_DIR) {
		rc = -ENOTDIR;
		goto unlock;
	}
	if (each == NULL) {
		rc = -EFAULT;
		goto unlock;
	}
	count = ino->live.count;
	items = xcalloc(count, sizeof(*items));
	for (size_t i = 0; i < count; i++) {
		items[i].name = xstrdup(ino->live.v[i].name);
		items[i].key = (sim->flags & SIM_FLAG_LIST_SORTED)
		                   ? 0
		                   : name_hash(items[i].name, sim->list_seed);
	}
unlock:
	sim_unlock(sim);
	if (items != NULL) {
		qsort(items, count, sizeof(*items), list_item_cmp);
		for (size_t i = 0; i < count && rc == 0; i++)
			rc = each(arg, items[i].name);
		for (size_t i = 0; i < count; i++)
			free(items[i].name);
		free(items);
	}
	return rc;
}

/* flock() semantics: locks belong to open fds, so two fds of one process
 * conflict; a holder may convert its lock; close releases it. */
static int io_lock(void *ctx, int fd, int exclusive)
{
	sim_fs *sim = ctx;
	int fault;
	sim_lock(sim);
	int rc = gate(sim, SIM_OP_LOCK, 0, &fault);
	if (rc != 0)
		goto out;
	open_file *f = fd_get(sim, fd);
	if (f == NULL) {
		rc = -EBADF;
		goto out;
	}
	inode *ino = f->ino;
	if (exclusive) {
		if (f->lock == 2)
			goto out;
		unsigned others = ino->lock_shared - (f->lock == 1 ? 1u : 0u);
		if ((ino->lock_excl != NULL && ino->lock_excl != f) || others > 0) {
			rc = -EWOULDBLOCK;
			goto out;
		}
		if (f->lock == 1)
			ino->lock_shared--;
		f->lock = 2;
		ino->lock_excl = f;
	} else {
		if (f->lock == 1)
			goto out;
		if (ino->lock_excl != NULL && ino->lock_excl != f) {
			rc = -EWOULDBLOCK;
			goto out;
		}
		if (f->lock == 2)
			ino->lock_excl = NULL;
		f->lock = 1;
		ino->lock_shared++;
	}
out:
	sim_unlock(sim);
	return rc;
}

static int64_t io_now_ms(void *ctx)
{
	sim_fs *sim = ctx;
	sim_lock(sim);
	sim->wall_ns += sim->step_ns;
	sim->mono_ns += sim->step_ns;
	int64_t ms = sim->wall_ns / 1000000;
	sim_unlock(sim);
	return ms;
}

static int64_t io_monotonic_ns(void *ctx)
{
	sim_fs *sim = ctx;
	sim_lock(sim);
	sim->wall_ns += sim->step_ns;
	sim->mono_ns += sim->step_ns;
	int64_t ns = sim->mono_ns;
	sim_unlock(sim);
	return ns;
}

static void build_table(sim_fs *sim)
{
	rill_io *io = &sim->io;
	memset(io, 0, sizeof(*io));
	io->version = RILL_IO_VERSION;
	io->ctx = sim;
	io->open = io_open;
	io->close = io_close;
	io->pread = io_pread;
	io->pwrite = io_pwrite;
	io->fdatasync = io_fdatasync;
	io->fsync = io_fsync;
	io->ftruncate = io_ftruncate;
	io->allocate = (sim->flags & SIM_FLAG_ALLOCATE_NULL) ? NULL : io_allocate;
	io->file_size = io_file_size;
	io->stat = io_stat;
	io->rename = io_rename;
	io->unlink = io_unlink;
	io->mkdir = io_mkdir;
	io->rmdir = io_rmdir;
	io->list_dir = io_list_dir;
	io->lock = io_lock;
	io->map = NULL;
	io->unmap = NULL;
	io->now_ms = io_now_ms;
	io->monotonic_ns = io_monotonic_ns;
}

/* ----------------------------------------------------------------- crash */

enum crash_action { ACT_DROP, ACT_APPLY, ACT_TORN, ACT_GARBAGE };

typedef struct crash_ctx {
	sim_fs *sim;       /* flags, stats */
	int mode;          /* SIM_CRASH_* */
	uint64_t rng;      /* seeded from the crash seed only */
	uint64_t keep_ppm; /* keep probability of a random op, per million */
	uint64_t sector;   /* 512 or 4096 */
} crash_ctx;

static int keep_coin(crash_ctx *c)
{
	return below(&c->rng, 1000000) < c->keep_ppm;
}

static int pick_action(crash_ctx *c, const file_op *op)
{
	static const int torn_choices[3] = {ACT_APPLY, ACT_DROP, ACT_TORN};
	static const int mixed_choices[4] = {ACT_APPLY, ACT_DROP, ACT_TORN,
	                                     ACT_GARBAGE};
	int write = op->kind == FOP_WRITE;
	switch (c->mode) {
	case SIM_CRASH_DROP_ALL:
		return ACT_DROP;
	case SIM_CRASH_KEEP_ALL:
		return ACT_APPLY;
	case SIM_CRASH_TORN:
		if (write)
			return torn_choices[below(&c->rng, 3)];
		break;
	case SIM_CRASH_GARBAGE:
		if (write)
			return ACT_GARBAGE;
		break;
	case SIM_CRASH_MIXED:
		if (write)
			return mixed_choices[below(&c->rng, 4)];
		break;
	default:
		break;
	}
	return keep_coin(c) ? ACT_APPLY : ACT_DROP;
}

/* Only the size survives: durable bytes up to the lowest truncation stay,
 * the rest up to the final size is zeros or garbage. */
static void crash_size_only(crash_ctx *c, inode *ino)
{
	content *d = &ino->saved;
	uint64_t low = d->size, final_size = d->size;
	for (size_t i = 0; i < ino->fop_count; i++) {
		const file_op *op = &ino->fops[i];
		if (op->kind == FOP_WRITE) {
			final_size = max_u64(final_size, op->offset + op->len);
		} else if (op->kind == FOP_TRUNCATE) {
			final_size = op->offset;
			low = min_u64(low, op->offset);
		} else {
			final_size = max_u64(final_size, op->offset);
		}
	}
	uint64_t keep = min_u64(low, final_size);
	content_set_size(d, keep);
	content_extend(d, final_size);
	if (final_size > keep && below(&c->rng, 2) == 1)
		content_randomize(d, keep, final_size, &c->rng);
	c->sim->crash_stats.crash_size_only++;
}

static void crash_garble(crash_ctx *c, content *d, const file_op *op,
                         uint64_t size0)
{
	uint64_t s = c->sector;
	uint64_t end = op->offset + op->len;
	uint64_t lo = op->offset / s * s;
	uint64_t hi = (end + s - 1) / s * s;
	if (c->sim->flags & SIM_FLAG_NO_PSOW) {
		content_randomize(d, lo, hi, &c->rng);
		return;
	}
	/* Powersafe overwrite: bytes durable before and not overwritten are
	 * safe even in a garbled sector. */
	content_randomize(d, op->offset, end, &c->rng);
	if (max_u64(lo, size0) < op->offset)
		content_randomize(d, max_u64(lo, size0), op->offset, &c->rng);
	content_randomize(d, max_u64(end, size0), hi, &c->rng);
}

static void crash_file(crash_ctx *c, inode *ino)
{
	content *d = &ino->saved;
	sim_stats *st = &c->sim->crash_stats;
	uint64_t size0 = d->size;
	if (c->mode == SIM_CRASH_SIZE_ONLY ||
	    (c->mode == SIM_CRASH_MIXED && below(&c->rng, 5) == 0)) {
		crash_size_only(c, ino);
		return;
	}
	for (size_t i = 0; i < ino->fop_count; i++) {
		const file_op *op = &ino->fops[i];
		int action = pick_action(c, op);
		if (action == ACT_TORN) {
			uint64_t s = c->sector;
			uint64_t end = op->offset + op->len;
			uint64_t first = (op->offset / s + 1) * s;
			if (first >= end) {
				/* within one sector: the sector is written or not */
				action = keep_coin(c) ? ACT_APPLY : ACT_DROP;
			} else {
				uint64_t cuts = (end - 1) / s - op->offset / s;
				uint64_t cut = first + below(&c->rng, cuts) * s;
				content_write(d, op->offset, op->data, cut - op->offset);
				st->crash_torn++;
				continue;
			}
		}
		switch (action) {
		case ACT_DROP:
			st->crash_dropped++;
			break;
		case ACT_APPLY:
			apply_file_op(d, op);
			st->crash_applied++;
			break;
		case ACT_GARBAGE:
			apply_file_op(d, op);
			crash_garble(c, d, op, size0);
			st->crash_garbage++;
			break;
		default:
			abort();
		}
	}
}

static void crash_dir(crash_ctx *c, inode *dir)
{
	sim_stats *st = &c->sim->crash_stats;
	for (size_t i = 0; i < dir->dop_count; i++) {
		int keep = c->mode == SIM_CRASH_KEEP_ALL ||
		           (c->mode != SIM_CRASH_DROP_ALL && keep_coin(c));
		if (keep) {
			apply_dir_op(dir, &dir->dops[i]);
			st->crash_applied++;
		} else {
			st->crash_dropped++;
		}
	}
}

const char *sim_crash_mode_name(int mode)
{
	static const char *const names[SIM_CRASH_MODES] = {
		"drop_all", "keep_all", "random", "torn", "garbage", "size_only", "mixed"};
	return mode >= 0 && mode < SIM_CRASH_MODES ? names[mode] : "?";
}

void sim_crash(sim_fs *sim, int mode, uint64_t seed)
{
	if (mode < 0 || mode >= SIM_CRASH_MODES) {
		fprintf(stderr, "sim_crash: bad mode %d\n", mode);
		abort();
	}
	sim_lock(sim);
	crash_ctx c;
	c.sim = sim;
	c.mode = mode;
	c.rng = seed ^ UINT64_C(0x5DEECE66D2545F49);
	c.keep_ppm = 100000 + below(&c.rng, 800001);
	c.sector = below(&c.rng, 2) == 0 ? 512 : 4096;
	sim_stats *st = &sim->crash_stats;
	st->crash_applied = st->crash_dropped = st->crash_torn = 0;
	st->crash_garbage = st->crash_size_only = 0;
	st->crash_sector = (uint32_t)c.sector;

	/* 1. resolve every queue into the durable image, in inode order */
	for (inode *ino = sim->first; ino != NULL; ino = ino->next) {
		if (ino->fop_count > 0)
			crash_file(&c, ino);
		if (ino->dop_count > 0)
			crash_dir(&c, ino);
		inode_clear_ops(ino);
	}
	/* 2. the process is gone: fds, locks */
	for (size_t i = 0; i < sim->fd_slots; i++) {
		free(sim->fds[i]);
		sim->fds[i] = NULL;
	}
	sim->open_count = 0;
	/* 3. reboot: what is durable is all there is */
	for (inode *ino = sim->first; ino != NULL; ino = ino->next) {
		ino->lock_excl = NULL;
		ino->lock_shared = 0;
		if (ino->type == RILL_IO_FILE) {
			content_copy(&ino->data, &ino->saved);
			ino->reserved = min_u64(ino->reserved, ino->data.size);
		} else {
			entries_copy(&ino->live, &ino->durable);
		}
	}
	gc(sim);
	sim->dead = 0;
	sim->crash_countdown = 0;
	memset(sim->rules, 0, sizeof(sim->rules));
	sim->crashes++;
	sim_unlock(sim);
}

/* ---------------------------------------------------------- test helpers */

sim_fs *sim_new(uint64_t seed)
{
	sim_fs *sim = xcalloc(1, sizeof(*sim));
	if (pthread_mutex_init(&sim->mu, NULL) != 0)
		abort();
	sim->rng = seed ^ UINT64_C(0x2545F4914F6CDD1D);
	sim->list_seed = splitmix(&sim->rng);
	sim->capacity = UINT64_MAX;
	sim->wall_ns = SIM_EPOCH_MS * 1000000;
	sim->mono_ns = 1000000000;
	sim->next_number = 1;
	sim->root = inode_new(sim, RILL_IO_DIR);
	build_table(sim);
	return sim;
}

void sim_free(sim_fs *sim)
{
	if (sim == NULL)
		return;
	inode *ino = sim->first;
	while (ino != NULL) {
		inode *next = ino->next;
		inode_free(ino);
		ino = next;
	}
	for (size_t i = 0; i < sim->fd_slots; i++)
		free(sim->fds[i]);
	free(sim->fds);
	pthread_mutex_destroy(&sim->mu);
	free(sim);
}

const rill_io *sim_io(sim_fs *sim)
{
	return &sim->io;
}

void sim_set_flags(sim_fs *sim, uint32_t flags)
{
	sim_lock(sim);
	sim->flags = flags;
	sim->io.allocate = (flags & SIM_FLAG_ALLOCATE_NULL) ? NULL : io_allocate;
	sim_unlock(sim);
}

uint64_t sim_mutations(sim_fs *sim)
{
	sim_lock(sim);
	uint64_t n = sim->mutations;
	sim_unlock(sim);
	return n;
}

void sim_crash_after(sim_fs *sim, uint64_t n)
{
	sim_lock(sim);
	sim->crash_countdown = n;
	sim_unlock(sim);
}

int sim_is_dead(sim_fs *sim)
{
	sim_lock(sim);
	int dead = sim->dead;
	sim_unlock(sim);
	return dead;
}

int sim_fail_at(sim_fs *sim, uint32_t op_mask, uint64_t n, int kind,
                int persistent)
{
	if (n == 0 || (op_mask & SIM_OP_ALL) == 0 || kind == 0 ||
	    kind > SIM_FAULT_FLIP)
		return -EINVAL;
	int rc = -ENOSPC;
	sim_lock(sim);
	for (int i = 0; i < SIM_FAULT_RULES_MAX; i++) {
		fault_rule *r = &sim->rules[i];
		if (r->mask != 0)
			continue;
		r->mask = op_mask & SIM_OP_ALL;
		r->countdown = n;
		r->kind = kind;
		r->persistent = persistent != 0;
		r->firing = 0;
		rc = 0;
		break;
	}
	sim_unlock(sim);
	return rc;
}

void sim_clear_faults(sim_fs *sim)
{
	sim_lock(sim);
	memset(sim->rules, 0, sizeof(sim->rules));
	sim->crash_countdown = 0;
	sim->flip_ppm = 0;
	sim_unlock(sim);
}

void sim_flip_bits(sim_fs *sim, uint32_t per_million)
{
	sim_lock(sim);
	sim->flip_ppm = per_million;
	sim_unlock(sim);
}

uint64_t sim_calls(sim_fs *sim, uint32_t op_mask)
{
	uint64_t n = 0;
	sim_lock(sim);
	for (int i = 0; i < SIM_OP_CLASSES; i++)
		if (op_mask & (1u << i))
			n += sim->calls[i];
	sim_unlock(sim);
	return n;
}

void sim_reset_counters(sim_fs *sim)
{
	sim_lock(sim);
	memset(sim->calls, 0, sizeof(sim->calls));
	sim->mutations = 0;
	sim_unlock(sim);
}

void sim_set_capacity(sim_fs *sim, uint64_t bytes)
{
	sim_lock(sim);
	sim->capacity = bytes;
	sim_unlock(sim);
}

void sim_set_time_ms(sim_fs *sim, int64_t ms)
{
	sim_lock(sim);
	sim->wall_ns = ms * 1000000;
	sim_unlock(sim);
}

void sim_advance_ms(sim_fs *sim, int64_t ms)
{
	sim_lock(sim);
	if (ms > 0) {
		sim->wall_ns += ms * 1000000;
		sim->mono_ns += ms * 1000000;
	}
	sim_unlock(sim);
}

int64_t sim_time_ms(sim_fs *sim)
{
	sim_lock(sim);
	int64_t ms = sim->wall_ns / 1000000;
	sim_unlock(sim);
	return ms;
}

void sim_set_clock_step_ns(sim_fs *sim, int64_t ns)
{
	sim_lock(sim);
	sim->step_ns = ns > 0 ? ns : 0;
	sim_unlock(sim);
}

static int read_view(sim_fs *sim, const char *path, int durable,
                     void **out_buf, size_t *out_len)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	*out_buf = NULL;
	*out_len = 0;
	sim_lock(sim);
	int rc = resolve(sim, path, durable, buf, &parent, &name, &ino);
	if (rc == 0 && ino == NULL)
		rc = -ENOENT;
	if (rc == 0 && ino->type == RILL_IO_DIR)
		rc = -EISDIR;
	if (rc == 0) {
		const content *c = durable ? &ino->saved : &ino->data;
		*out_buf = xmalloc((size_t)c->size);
		*out_len = (size_t)content_read(c, 0, *out_buf, c->size);
	}
	sim_unlock(sim);
	return rc;
}

int sim_read_file(sim_fs *sim, const char *path, void **out_buf,
                  size_t *out_len)
{
	return read_view(sim, path, 0, out_buf, out_len);
}

int sim_read_durable(sim_fs *sim, const char *path, void **out_buf,
                     size_t *out_len)
{
	return read_view(sim, path, 1, out_buf, out_len);
}

/* Walk a normalized path making every component a directory in both views
 * ("planting": no queued op). With `last_is_file` the last component is
 * left alone and its parent returned in *out_dir with its name. */
static int plant_dirs(sim_fs *sim, char *norm, int last_is_file,
                      inode **out_dir, char **out_name)
{
	inode *dir = sim->root;
	char *p = norm + 1;
	*out_dir = dir;
	*out_name = NULL;
	if (*p == '\0')
		return last_is_file ? -EISDIR : 0;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash != NULL)
			*slash = '\0';
		if (slash == NULL && last_is_file) {
			*out_dir = dir;
			*out_name = p;
			return 0;
		}
		inode *child = entries_get(&dir->live, p);
		if (child == NULL) {
			child = inode_new(sim, RILL_IO_DIR);
			entries_set(&dir->live, p, child);
		}
		if (child->type != RILL_IO_DIR)
			return -ENOTDIR;
		entries_set(&dir->durable, p, child);
		dir = child;
		*out_dir = dir;
		if (slash == NULL)
			return 0;
		p = slash + 1;
	}
}

int sim_write_file(sim_fs *sim, const char *path, const void *data,
                   size_t len)
{
	char buf[SIM_PATH_MAX + 2];
	inode *dir;
	char *name;
	sim_lock(sim);
	int rc = normalize(path, buf);
	if (rc == 0)
		rc = plant_dirs(sim, buf, 1, &dir, &name);
	if (rc == 0) {
		inode *ino = entries_get(&dir->live, name);
		if (ino != NULL && ino->type == RILL_IO_DIR) {
			rc = -EISDIR;
		} else {
			if (ino == NULL) {
				ino = inode_new(sim, RILL_IO_FILE);
				entries_set(&dir->live, name, ino);
			}
			entries_set(&dir->durable, name, ino);
			inode_clear_ops(ino);
			content_set_size(&ino->data, 0);
			content_write(&ino->data, 0, data, len);
			content_copy(&ino->saved, &ino->data);
		}
	}
	sim_unlock(sim);
	return rc;
}

int sim_mkdirs(sim_fs *sim, const char *path)
{
	char buf[SIM_PATH_MAX + 2];
	inode *dir;
	char *name;
	sim_lock(sim);
	int rc = normalize(path, buf);
	if (rc == 0)
		rc = plant_dirs(sim, buf, 0, &dir, &name);
	sim_unlock(sim);
	return rc;
}

int sim_remove(sim_fs *sim, const char *path)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	sim_lock(sim);
	int rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc == 0 && ino == NULL)
		rc = -ENOENT;
	if (rc == 0 && parent == NULL)
		rc = -EBUSY;
	if (rc == 0 && ino->type == RILL_IO_DIR && ino->live.count > 0)
		rc = -ENOTEMPTY;
	if (rc == 0) {
		entries_remove(&parent->live, name);
		entries_remove(&parent->durable, name);
		gc(sim);
	}
	sim_unlock(sim);
	return rc;
}

static int exists_view(sim_fs *sim, const char *path, int durable)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	sim_lock(sim);
	int rc = resolve(sim, path, durable, buf, &parent, &name, &ino);
	int type = rc == 0 && ino != NULL ? ino->type : 0;
	sim_unlock(sim);
	return type;
}

int sim_exists(sim_fs *sim, const char *path)
{
	return exists_view(sim, path, 0);
}

int sim_exists_durable(sim_fs *sim, const char *path)
{
	return exists_view(sim, path, 1);
}

int64_t sim_file_size(sim_fs *sim, const char *path)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	sim_lock(sim);
	int64_t rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc == 0 && ino == NULL)
		rc = -ENOENT;
	if (rc == 0 && ino->type == RILL_IO_DIR)
		rc = -EISDIR;
	if (rc == 0)
		rc = (int64_t)ino->data.size;
	sim_unlock(sim);
	return rc;
}

static int strptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sim_list(sim_fs *sim, const char *path, char ***out_names,
             size_t *out_count)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	*out_names = NULL;
	*out_count = 0;
	sim_lock(sim);
	int rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc == 0 && ino == NULL)
		rc = -ENOENT;
	if (rc == 0 && ino->type != RILL_IO_DIR)
		rc = -ENOTDIR;
	if (rc == 0) {
		char **names = xcalloc(ino->live.count, sizeof(char *));
		for (size_t i = 0; i < ino->live.count; i++)
			names[i] = xstrdup(ino->live.v[i].name);
		qsort(names, ino->live.count, sizeof(char *), strptr_cmp);
		*out_names = names;
		*out_count = ino->live.count;
	}
	sim_unlock(sim);
	return rc;
}

void sim_list_free(char **names, size_t count)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

static long count_files(inode *dir, int depth)
{
	long n = 0;
	if (depth > 256)
		return 0; /* a directory with two parents cannot loop us */
	for (size_t i = 0; i < dir->live.count; i++) {
		inode *child = dir->live.v[i].ino;
		n += child->type == RILL_IO_DIR ? count_files(child, depth + 1) : 1;
	}
	return n;
}

long sim_file_count(sim_fs *sim, const char *path)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	sim_lock(sim);
	long n = -1;
	if (resolve(sim, path, 0, buf, &parent, &name, &ino) == 0 && ino != NULL)
		n = ino->type == RILL_IO_DIR ? count_files(ino, 0) : 1;
	sim_unlock(sim);
	return n;
}

static void corrupt_content(content *c, uint64_t offset, uint64_t len,
                            int pattern, const unsigned char *random_bytes)
{
	if (offset >= c->size)
		return;
	uint64_t end = min_u64(c->size, offset + len);
	content_materialize(c, end);
	for (uint64_t i = offset; i < end; i++) {
		if (pattern == SIM_CORRUPT_INVERT)
			c->bytes[i] ^= 0xFF;
		else if (pattern == SIM_CORRUPT_RANDOM)
			c->bytes[i] = random_bytes[i - offset];
		else
			c->bytes[i] = (unsigned char)pattern;
	}
}

int sim_corrupt_file(sim_fs *sim, const char *path, uint64_t offset,
                     uint64_t len, int pattern)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	if (pattern < SIM_CORRUPT_INVERT || pattern > 255)
		return -EINVAL;
	sim_lock(sim);
	int rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc == 0 && ino == NULL)
		rc = -ENOENT;
	if (rc == 0 && ino->type == RILL_IO_DIR)
		rc = -EISDIR;
	if (rc == 0) {
		uint64_t size = max_u64(ino->data.size, ino->saved.size);
		if (offset < size) {
			len = min_u64(len, size - offset);
			unsigned char *random_bytes = NULL;
			if (pattern == SIM_CORRUPT_RANDOM) {
				random_bytes = xmalloc((size_t)len);
				fill_random(&sim->rng, random_bytes, len);
			}
			corrupt_content(&ino->data, offset, len, pattern, random_bytes);
			corrupt_content(&ino->saved, offset, len, pattern, random_bytes);
			free(random_bytes);
		}
	}
	sim_unlock(sim);
	return rc;
}

int sim_truncate_file(sim_fs *sim, const char *path, uint64_t size)
{
	char buf[SIM_PATH_MAX + 2];
	inode *parent, *ino;
	char *name;
	sim_lock(sim);
	int rc = resolve(sim, path, 0, buf, &parent, &name, &ino);
	if (rc == 0 && ino == NULL)
		rc = -ENOENT;
	if (rc == 0 && ino->type == RILL_IO_DIR)
		rc = -EISDIR;
	if (rc == 0 && size > SIM_FILE_BYTES_MAX)
		rc = -EFBIG;
	if (rc == 0) {
		content_set_size(&ino->data, min_u64(size, ino->data.size));
		content_extend(&ino->data, size);
		content_set_size(&ino->saved, min_u64(size, ino->saved.size));
		content_extend(&ino->saved, size);
	}
	sim_unlock(sim);
	return rc;
}

void sim_stats_get(sim_fs *sim, sim_stats *out)
{
	sim_lock(sim);
	*out = sim->crash_stats;
	out->pending_data_ops = 0;
	out->pending_data_bytes = 0;
	out->pending_dir_ops = 0;
	for (inode *ino = sim->first; ino != NULL; ino = ino->next) {
		out->pending_data_ops += ino->fop_count;
		out->pending_dir_ops += ino->dop_count;
		for (size_t i = 0; i < ino->fop_count; i++)
			out->pending_data_bytes += ino->fops[i].len;
	}
	out->inodes = sim->inode_count;
	out->open_fds = sim->open_count;
	out->bytes_used = bytes_used(sim);
	out->mutations = sim->mutations;
	out->crashes = sim->crashes;
	sim_unlock(sim);
}

static void hash_bytes(uint64_t *h, const void *p, uint64_t n)
{
	const unsigned char *b = p;
	for (uint64_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= UINT64_C(0x100000001b3);
	}
}

static void hash_u64(uint64_t *h, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	hash_bytes(h, b, 8);
}

/* Entry indexes of a directory view in name order (malloc'd). */
static size_t *sorted_index(const entries *es)
{
	size_t *idx = xcalloc(es->count, sizeof(size_t));
	for (size_t i = 0; i < es->count; i++)
		idx[i] = i;
	/* insertion sort: directories here are small */
	for (size_t i = 1; i < es->count; i++) {
		size_t v = idx[i], j = i;
		while (j > 0 && strcmp(es->v[idx[j - 1]].name, es->v[v].name) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
	return idx;
}

static void hash_tree(uint64_t *h, const inode *dir, int durable, int depth)
{
	const entries *es = durable ? &dir->durable : &dir->live;
	if (depth > 256)
		return;
	size_t *idx = sorted_index(es);
	hash_u64(h, es->count);
	for (size_t k = 0; k < es->count; k++) {
		const entry *e = &es->v[idx[k]];
		hash_bytes(h, e->name, strlen(e->name) + 1);
		hash_u64(h, (uint64_t)e->ino->type);
		if (e->ino->type == RILL_IO_DIR) {
			hash_tree(h, e->ino, durable, depth + 1);
		} else {
			const content *c = durable ? &e->ino->saved : &e->ino->data;
			uint64_t n = content_trimmed(c);
			hash_u64(h, c->size);
			hash_u64(h, n);
			hash_bytes(h, c->bytes, n);
		}
	}
	free(idx);
}

uint64_t sim_hash(sim_fs *sim, int durable)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	sim_lock(sim);
	hash_tree(&h, sim->root, durable != 0, 0);
	sim_unlock(sim);
	return h;
}

static void dump_tree(FILE *out, const inode *dir, int durable, int depth)
{
	const entries *es = durable ? &dir->durable : &dir->live;
	if (depth > 64)
		return;
	size_t *idx = sorted_index(es);
	for (size_t k = 0; k < es->count; k++) {
		const entry *e = &es->v[idx[k]];
		const inode *ino = e->ino;
		if (ino->type == RILL_IO_DIR) {
			fprintf(out, "%*s%s/  (inode %llu, %zu unsynced entry ops)\n",
			        2 * depth + 2, "", e->name, (unsigned long long)ino->number,
			        ino->dop_count);
			dump_tree(out, ino, durable, depth + 1);
		} else {
			const content *c = durable ? &ino->saved : &ino->data;
			fprintf(out, "%*s%s  (inode %llu, %llu bytes, %zu unsynced ops)\n",
			        2 * depth + 2, "", e->name, (unsigned long long)ino->number,
			        (unsigned long long)c->size, ino->fop_count);
		}
	}
	free(idx);
}

void sim_dump(sim_fs *sim, FILE *out)
{
	sim_lock(sim);
	fprintf(out, "sim: %llu inodes, %llu fds open, %llu mutations%s\n",
	        (unsigned long long)sim->inode_count,
	        (unsigned long long)sim->open_count,
	        (unsigned long long)sim->mutations, sim->dead ? ", DEAD" : "");
	fprintf(out, "volatile view:\n");
	dump_tree(out, sim->root, 0, 0);
	fprintf(out, "durable image:\n");
	dump_tree(out, sim->root, 1, 0);
	sim_unlock(sim);
}
