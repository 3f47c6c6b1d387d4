/*
 * io_posix.c — the default I/O table: plain POSIX.
 *
 * Every file-system call of the library goes through a rill_io table so a
 * host can substitute its own (encryption, an in-memory file system, fault
 * injection in tests), as SQLite's VFS allows. This file is the default.
 * Rules it keeps:
 *   - EINTR is retried here for calls that are safe to repeat; a short
 *     pwrite is reported as such (the caller loops and, on failure, cuts the
 *     file back to its last good end).
 *   - fdatasync errors are returned, never retried (fsyncgate: after a
 *     failed fsync the kernel may have dropped the dirty pages, so a later
 *     success proves nothing). The caller fails the partition instead.
 *     rill__posix_writeback (sync_file_range, the default table's
 *     write-back without a flush) reports errors the same way.
 *   - Files are created 0644 and directories 0755, filtered by the umask.
 *   - allocate uses fallocate(2) in its default mode, which allocates
 *     blocks and extends the size; the new bytes read as zeros, which the
 *     batch format can never mistake for a record (magic 0 is invalid).
 *   - map is a read-only MAP_SHARED mapping: it sees later pwrites to the
 *     file (one page cache), and is never written through (a write error
 *     on a mapping surfaces as SIGBUS or not at all).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int posix_open(void *ctx, const char *path, uint32_t flags, unsigned mode,
                      int *out_fd)
{
	(void)ctx;
	int oflags = O_CLOEXEC;
	if (flags & RILL_O_DIRECTORY)
		oflags |= O_RDONLY | O_DIRECTORY;
	else if (flags & RILL_O_WRITE)
		oflags |= O_RDWR;
	else
		oflags |= O_RDONLY;
	if (flags & RILL_O_CREATE)
		oflags |= O_CREAT;
	if (flags & RILL_O_EXCL)
		oflags |= O_EXCL;
	if (flags & RILL_O_TRUNC)
		oflags |= O_TRUNC;
	int fd;
	do {
		fd = open(path, oflags, (mode_t)mode);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	*out_fd = fd;
	return 0;
}

static int posix_close(void *ctx, int fd)
{
	(void)ctx;
	/* Never retry close on EINTR: on Linux the descriptor is gone. */
	return close(fd) == 0 ? 0 : (errno == EINTR ? 0 : -errno);
}

static int posix_pread(void *ctx, int fd, void *buf, size_t len, uint64_t offset,
                       size_t *out_done)
{
	(void)ctx;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(offset + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*out_done = done;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*out_done = done;
	return 0;
}

static int posix_pwrite(void *ctx, int fd, const void *buf, size_t len,
                        uint64_t offset, size_t *out_done)
{
	(void)ctx;
	ssize_t n;
	do {
		n = pwrite(fd, buf, len, (off_t)offset);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		*out_done = 0;
		return -errno;
	}
	*out_done = (size_t)n;
	return 0;
}

static int posix_fdatasync(void *ctx, int fd)
{
	(void)ctx;
	return fdatasync(fd) == 0 ? 0 : -errno;
}

int rill__posix_writeback(void *ctx, int fd, int wait)
{
	(void)ctx;
#ifdef __linux__
	unsigned flags = SYNC_FILE_RANGE_WRITE;
	if (wait)
		flags |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
	/* Since Linux 4.14 the wait reports a write-back error through the
	 * descriptor's own error cursor, as fdatasync does. */
	return sync_file_range(fd, 0, 0, flags) == 0 ? 0 : -errno;
#else
	(void)fd;
	(void)wait;
	return -EOPNOTSUPP; /* the caller uses fdatasync */
#endif
}

static int posix_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd) == 0 ? 0 : -errno;
}

static int posix_ftruncate(void *ctx, int fd, uint64_t size)
{
	(void)ctx;
	int rc;
	do {
		rc = ftruncate(fd, (off_t)size);
	} while (rc < 0 && errno == EINTR);
	return rc == 0 ? 0 : -errno;
}

static int posix_allocate(void *ctx, int fd, uint64_t offset, uint64_t len)
{
	(void)ctx;
	int rc;
	do {
		rc = fallocate(fd, 0, (off_t)offset, (off_t)len);
	} while (rc < 0 && errno == EINTR);
	return rc == 0 ? 0 : -errno;
}

static int posix_file_size(void *ctx, int fd, uint64_t *out_size)
{
	(void)ctx;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	*out_size = (uint64_t)st.st_size;
	return 0;
}

static int posix_stat(void *ctx, const char *path, int *out_type)
{
	(void)ctx;
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	*out_type = S_ISDIR(st.st_mode) ? RILL_IO_DIR : RILL_IO_FILE;
	return 0;
}

static int posix_rename(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	return rename(from, to) == 0 ? 0 : -errno;
}

static int posix_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path) == 0 ? 0 : -errno;
}

static int posix_mkdir(void *ctx, const char *path, unsigned mode)
{
	(void)ctx;
	return mkdir(path, (mode_t)mode) == 0 ? 0 : -errno;
}

static int posix_rmdir(void *ctx, const char *path)
{
	(void)ctx;
	return rmdir(path) == 0 ? 0 : -errno;
}

static int posix_list_dir(void *ctx, const char *path,
                          int (*each)(void *arg, const char *name), void *arg)
{
	(void)ctx;
	DIR *dir = opendir(path);
	if (dir == NULL)
		return -errno;
	int rc = 0;
	for (;;) {
		errno = 0;
		struct dirent *entry = readdir(dir);
		if (entry == NULL) {
			if (errno != 0)
				rc = -errno;
			break;
		}
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		rc = each(arg, entry->d_name);
		if (rc != 0)
			break;
	}
	closedir(dir);
	return rc;
}

static int posix_lock(void *ctx, int fd, int exclusive)
{
	(void)ctx;
	/* flock locks belong to the open file description, so a second open in
	 * the same process conflicts too (fcntl locks would not). */
	int rc;
	do {
		rc = flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
	} while (rc < 0 && errno == EINTR);
	return rc == 0 ? 0 : -errno;
}

static int posix_map(void *ctx, int fd, uint64_t len, void **out_addr)
{
	(void)ctx;
	if (len == 0 || len > (uint64_t)SIZE_MAX)
		return -EINVAL;
	void *addr = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED)
		return -errno;
	*out_addr = addr;
	return 0;
}

static int posix_unmap(void *ctx, void *addr, uint64_t len)
{
	(void)ctx;
	return munmap(addr, (size_t)len) == 0 ? 0 : -errno;
}

static int64_t posix_now_ms(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t posix_monotonic_ns(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const rill_io posix_io = {
	.version = RILL_IO_VERSION,
	.ctx = NULL,
	.open = posix_open,
	.close = posix_close,
	.pread = posix_pread,
	.pwrite = posix_pwrite,
	.fdatasync = posix_fdatasync,
	.fsync = posix_fsync,
	.ftruncate = posix_ftruncate,
	.allocate = posix_allocate,
	.file_size = posix_file_size,
	.stat = posix_stat,
	.rename = posix_rename,
	.unlink = posix_unlink,
	.mkdir = posix_mkdir,
	.rmdir = posix_rmdir,
	.list_dir = posix_list_dir,
	.lock = posix_lock,
	.map = posix_map,
	.unmap = posix_unmap,
	.now_ms = posix_now_ms,
	.monotonic_ns = posix_monotonic_ns,
};

const rill_io *rill_io_posix(void)
{
	return &posix_io;
}
