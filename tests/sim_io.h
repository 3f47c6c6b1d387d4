/*
 * sim_io.h — a crash-simulating, fault-injecting, in-memory rill_io for the
 * crash-safety tests (after SQLite's src/test6.c crash VFS and TigerBeetle's
 * storage fault model). No real file is ever touched.
 *
 * The sim keeps two views of one in-memory file system: the VOLATILE state
 * the running process sees, and the DURABLE image that survives power loss.
 * Writes, truncates and directory changes are applied to the volatile state
 * at once and queued as unsynced operations; fsync/fdatasync moves a file's
 * (or a directory's) queue into the durable image. sim_crash() decides, per
 * crash mode and seed, what happens to each operation still queued, then
 * makes the durable image the new volatile state. See sim_io.c for the model.
 *
 * Typical crash test:
 *
 *     sim_fs *sim = sim_new(seed);
 *     sim_mkdirs(sim, "/sim");
 *     rill_options o = RILL_OPTIONS_INIT; o.io = sim_io(sim);
 *     ... open the store at "/sim/store", append, record what was acked ...
 *     sim_crash(sim, SIM_CRASH_RANDOM, seed);   // power loss
 *     ... rill_store_close(old) (its closes get -EBADF), reopen, verify ...
 *     sim_free(sim);
 *
 * and the exhaustive "crash at every mutation" loop:
 *
 *     run the workload once, m = sim_mutations() delta;
 *     for n in 1..m: fresh sim, sim_crash_after(sim, n), run the workload
 *     (it stops at the nth mutating call: that call and every later call
 *     return -EIO), sim_crash(), reopen, verify.
 *
 * Every function is thread-safe (one mutex per sim). Functions taking a path
 * accept absolute or relative paths ("." and ".." are resolved lexically,
 * relative paths start at "/"). Memory returned to the caller is malloc'd:
 * free it with free() (sim_list_free for lists).
 */
#ifndef RILL_SIM_IO_H
#define RILL_SIM_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rill.h"

typedef struct sim_fs sim_fs;

/* ------------------------------------------------------------ lifetime */

/** A new sim holding only the root directory "/". Aborts on out of memory.
 * seed drives every random choice outside sim_crash (short-write lengths,
 * bit flips, listing order). */
sim_fs *sim_new(uint64_t seed);
/** Free the sim and everything in it. Accepts NULL. No fd may be in use. */
void sim_free(sim_fs *sim);
/** The rill_io table bound to this sim (ctx = sim). Owned by the sim, valid
 * until sim_free. map/unmap are NULL (the library falls back to pread). */
const rill_io *sim_io(sim_fs *sim);
/* Its write-back without a flush, for rill_options.io_writeback (ctx:
 * the table's): the pages go to the device but nothing becomes durable;
 * a failure (a sync-class call) drops the data as a failed sync does. */
int sim_io_writeback(void *ctx, int fd, int wait);

/* Behaviour flags (sim_set_flags). Set them before handing the table to the
 * library: a library that copies the table sees the members it copied. */
#define SIM_FLAG_ALLOCATE_KEEP_SIZE 0x01u /* allocate reserves space, size unchanged */
#define SIM_FLAG_ALLOCATE_NULL 0x02u      /* io->allocate = NULL (unsupported) */
#define SIM_FLAG_NO_PSOW 0x04u            /* GARBAGE may hit synced bytes sharing a sector */
#define SIM_FLAG_SYNC_FAIL_KEEPS 0x08u    /* a failed sync leaves its ops queued */
#define SIM_FLAG_LIST_SORTED 0x10u        /* list_dir in name order (default: seeded scramble) */

/** Replace the behaviour flags (SIM_FLAG_*; default 0). */
void sim_set_flags(sim_fs *sim, uint32_t flags);

/* ------------------------------------------------------------- crashes */

enum sim_crash_mode {
	SIM_CRASH_DROP_ALL = 0,  /* every unsynced op is lost */
	SIM_CRASH_KEEP_ALL = 1,  /* every unsynced op reached the disk */
	SIM_CRASH_RANDOM = 2,    /* each op kept or lost independently */
	SIM_CRASH_TORN = 3,      /* writes kept, lost, or torn at a sector boundary */
	SIM_CRASH_GARBAGE = 4,   /* sectors under unsynced writes hold random bytes */
	SIM_CRASH_SIZE_ONLY = 5, /* grown files keep their size, data is zeros/garbage */
	SIM_CRASH_MIXED = 6,     /* any of the above, chosen per file and per op */
	SIM_CRASH_MODES = 7      /* number of modes, for loops */
};

/** Name of a crash mode ("drop_all", ...), or "?" . */
const char *sim_crash_mode_name(int mode);

/**
 * Power loss. Each unsynced operation is resolved by `mode` with random
 * choices drawn from `seed` only (same volatile history + same mode + same
 * seed = same image). Then every fd becomes invalid (later calls on it
 * return -EBADF), every lock is released, the volatile state becomes the
 * durable image, the unsynced queues are empty, and the "dead" state,
 * the crash point and every sim_fail_at rule are cleared (bit flipping and
 * the capacity, properties of the disk, stay). Directory operations
 * are dropped (DROP_ALL), kept (KEEP_ALL) or kept independently at random
 * (every other mode).
 */
void sim_crash(sim_fs *sim, int mode, uint64_t seed);

/** Mutating calls made through the table since sim_new / sim_reset_counters:
 * pwrite, fsync, fdatasync, ftruncate, allocate, rename, unlink, mkdir,
 * rmdir, and open with RILL_O_CREATE or RILL_O_TRUNC (counted whether or
 * not they succeed; calls made after the crash point fired are not). */
uint64_t sim_mutations(sim_fs *sim);
/**
 * Arm a crash point: the nth mutating call from now (1 = the next) is not
 * performed and returns -EIO, and from then on every call of the table
 * returns -EIO (the process is dead) until sim_crash(). n = 0 disarms.
 */
void sim_crash_after(sim_fs *sim, uint64_t n);
/** 1 once the crash point fired (until sim_crash), else 0. */
int sim_is_dead(sim_fs *sim);

/* -------------------------------------------------------------- faults */

/* Operation classes, as bits (masks may combine them). */
#define SIM_OP_OPEN 0x0001u     /* open */
#define SIM_OP_CLOSE 0x0002u    /* close */
#define SIM_OP_READ 0x0004u     /* pread */
#define SIM_OP_WRITE 0x0008u    /* pwrite */
#define SIM_OP_SYNC 0x0010u     /* fsync, fdatasync, writeback (waiting) */
#define SIM_OP_TRUNCATE 0x0020u /* ftruncate */
#define SIM_OP_ALLOCATE 0x0040u /* allocate */
#define SIM_OP_RENAME 0x0080u   /* rename */
#define SIM_OP_UNLINK 0x0100u   /* unlink */
#define SIM_OP_MKDIR 0x0200u    /* mkdir */
#define SIM_OP_RMDIR 0x0400u    /* rmdir */
#define SIM_OP_LIST 0x0800u     /* list_dir */
#define SIM_OP_LOCK 0x1000u     /* lock */
#define SIM_OP_STAT 0x2000u     /* stat, file_size */
#define SIM_OP_MAP 0x4000u      /* map (never called: map is NULL) */
#define SIM_OP_ALL 0x7fffu
#define SIM_OP_CLASSES 15

/* Fault kinds other than a plain negative errno (-EIO, -ENOSPC, -EINTR, ...,
 * which the matching call returns without doing anything). */
#define SIM_FAULT_SHORT 1 /* pwrite: writes a random non-empty proper prefix
                           * (nothing if len is 1), returns 0 with
                           * *out_done < len; pread: returns fewer bytes than
                           * are there (not at end of file); other classes:
                           * -EIO */
#define SIM_FAULT_FLIP 2  /* pread: one random bit of the returned data is
                           * flipped (the stored data is intact); other
                           * classes: -EIO */
#define SIM_FAULT_RULES_MAX 16

/**
 * The nth call (1 = the next) whose class is in `op_mask` fails with `kind`
 * (a negative errno, SIM_FAULT_SHORT or SIM_FAULT_FLIP). Transient: only that
 * call; persistent: that call and every matching call after it. A failing
 * sync with an errno other than -EINTR discards the file's (or directory's)
 * unsynced ops, as Linux marks pages clean after a writeback error: a later
 * fsync succeeds, yet the data never reaches the durable image (unless
 * SIM_FLAG_SYNC_FAIL_KEEPS). A failing close still releases the fd.
 * Several rules may be armed at once; each counts its matching calls.
 * @return 0, -EINVAL (n = 0, empty mask, kind 0 or above SIM_FAULT_FLIP),
 *   -ENOSPC (SIM_FAULT_RULES_MAX rules armed already).
 */
int sim_fail_at(sim_fs *sim, uint32_t op_mask, uint64_t n, int kind,
                int persistent);
/** Disarm every sim_fail_at rule, the crash point and bit flipping. */
void sim_clear_faults(sim_fs *sim);
/** Every pread that returns data flips one random bit of it with
 * probability per_million / 1e6 (0 disables). Stored data is intact. */
void sim_flip_bits(sim_fs *sim, uint32_t per_million);
/** Calls made through the table whose class is in op_mask. */
uint64_t sim_calls(sim_fs *sim, uint32_t op_mask);
/** Zero sim_calls and sim_mutations. */
void sim_reset_counters(sim_fs *sim);

/**
 * Capacity in bytes of all files (logical sizes of files that are linked
 * or open, plus space reserved by a keep-size allocate); UINT64_MAX (the
 * default) = unlimited. A pwrite that would go past it writes what fits and
 * reports a short write (*out_done < len, return 0); when nothing fits it
 * returns -ENOSPC. allocate past it returns -ENOSPC with nothing reserved.
 * ftruncate never fails for space (sparse), but the size it sets counts.
 */
void sim_set_capacity(sim_fs *sim, uint64_t bytes);

/* --------------------------------------------------------------- clock */

/** Wall clock now_ms() reports (starts at 1700000000000, Nov 2023). */
void sim_set_time_ms(sim_fs *sim, int64_t ms);
/** Advance both clocks (wall and monotonic) by ms (>= 0). */
void sim_advance_ms(sim_fs *sim, int64_t ms);
/** Current wall clock, ms. */
int64_t sim_time_ms(sim_fs *sim);
/** Every now_ms/monotonic_ns call advances both clocks by ns (default 0:
 * time moves only through sim_set_time_ms / sim_advance_ms). */
void sim_set_clock_step_ns(sim_fs *sim, int64_t ns);

/* ---------------------------------------------------- inspection, planting */

/* These bypass the table: no call counting, no faults, no crash point. */

/** Copy of a file's bytes (volatile view). *out_buf is malloc'd (non-NULL
 * even for an empty file). @return 0, -ENOENT, -ENOTDIR, -EISDIR. */
int sim_read_file(sim_fs *sim, const char *path, void **out_buf,
                  size_t *out_len);
/** The same in the durable image (what a crash with DROP_ALL would leave). */
int sim_read_durable(sim_fs *sim, const char *path, void **out_buf,
                     size_t *out_len);
/** Plant a file (both views, nothing unsynced), creating missing parent
 * directories and replacing any file's content. @return 0, -ENOTDIR, -EISDIR. */
int sim_write_file(sim_fs *sim, const char *path, const void *data,
                   size_t len);
/** mkdir -p in both views. @return 0, -ENOTDIR. */
int sim_mkdirs(sim_fs *sim, const char *path);
/** Remove a file or an empty directory from both views. @return 0,
 * -ENOENT, -ENOTEMPTY. */
int sim_remove(sim_fs *sim, const char *path);
/** RILL_IO_FILE or RILL_IO_DIR if path exists (volatile view), else 0. */
int sim_exists(sim_fs *sim, const char *path);
/** Same in the durable image. */
int sim_exists_durable(sim_fs *sim, const char *path);
/** Size of a file (volatile view), or a negative errno. */
int64_t sim_file_size(sim_fs *sim, const char *path);
/** Names in a directory (volatile view), sorted, malloc'd; free with
 * sim_list_free. @return 0, -ENOENT, -ENOTDIR. */
int sim_list(sim_fs *sim, const char *path, char ***out_names,
             size_t *out_count);
void sim_list_free(char **names, size_t count);
/** Regular files under path, recursively (volatile view); -1 if missing. */
long sim_file_count(sim_fs *sim, const char *path);

/* sim_corrupt_file patterns (0..255 sets every byte to that value) */
#define SIM_CORRUPT_RANDOM (-1) /* random bytes */
#define SIM_CORRUPT_INVERT (-2) /* every bit flipped: always a change */
/**
 * Damage bytes [offset, offset+len) of a file, clipped to its size, in both
 * views (the media changed under the file system). @return 0, -ENOENT,
 * -EISDIR, -EINVAL (bad pattern).
 */
int sim_corrupt_file(sim_fs *sim, const char *path, uint64_t offset,
                     uint64_t len, int pattern);
/** Set a file's size in both views (zeros when growing). @return 0, -ENOENT,
 * -EISDIR. */
int sim_truncate_file(sim_fs *sim, const char *path, uint64_t size);

typedef struct sim_stats {
	uint64_t pending_data_ops;  /* unsynced writes, truncates, extends */
	uint64_t pending_data_bytes;/* bytes carried by unsynced writes */
	uint64_t pending_dir_ops;   /* unsynced links, unlinks, renames */
	uint64_t inodes;            /* files and directories held (incl. root) */
	uint64_t open_fds;          /* fds open now */
	uint64_t bytes_used;        /* what sim_set_capacity counts */
	uint64_t mutations;         /* as sim_mutations */
	uint64_t crashes;           /* sim_crash calls */
	/* what the last sim_crash did with the ops it resolved */
	uint64_t crash_applied;     /* ops applied whole */
	uint64_t crash_dropped;     /* ops lost */
	uint64_t crash_torn;        /* writes cut at a sector boundary */
	uint64_t crash_garbage;     /* writes whose sectors became random */
	uint64_t crash_size_only;   /* files resolved by size-only */
	uint32_t crash_sector;      /* sector size chosen (512 or 4096) */
} sim_stats;

/** Counters as of now. */
void sim_stats_get(sim_fs *sim, sim_stats *out);
/** 64-bit hash of the whole tree — names, types, sizes, bytes — in the
 * durable image (durable = 1) or the volatile view. Equal trees hash equal;
 * use it to compare images or to skip crash states already checked. */
uint64_t sim_hash(sim_fs *sim, int durable);
/** Print both views and the unsynced queues (debugging). */
void sim_dump(sim_fs *sim, FILE *out);

#endif /* RILL_SIM_IO_H */
