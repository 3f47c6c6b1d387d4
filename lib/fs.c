/*
 * fs.c — see fs.h. These helpers are the only places that know the
 * sequences the ordering rules require; callers do not open-code them.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>

int rill__path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return rill__error(RILL_EINVAL, "path too long (over %zu bytes)", size - 1);
	return 0;
}

int rill__sync_dir(const rill_io *io, const char *dir)
{
	int fd = -1;
	int err = io->open(io->ctx, dir, RILL_O_DIRECTORY | RILL_O_READ, 0, &fd);
	if (err != 0)
		return rill__io_error(err, "open directory", dir);
	err = io->fsync(io->ctx, fd);
	io->close(io->ctx, fd);
	if (err != 0)
		return rill__io_error(err, "fsync directory", dir);
	return 0;
}

int rill__atomic_write(const rill_io *io, const char *dir, const char *name,
                       const void *data, size_t len)
{
	char tmp[RILL_PATH_MAX], final[RILL_PATH_MAX];
	int rc = rill__path(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	if (rc != 0)
		return rc;
	rc = rill__path(final, sizeof(final), "%s/%s", dir, name);
	if (rc != 0)
		return rc;
	int fd = -1;
	int err = io->open(io->ctx, tmp, RILL_O_WRITE | RILL_O_CREATE | RILL_O_TRUNC, 0644, &fd);
	if (err != 0)
		return rill__io_error(err, "create", tmp);
	size_t written = 0;
	int interrupted = 0;
	while (written < len) {
		size_t done = 0;
		err = io->pwrite(io->ctx, fd, (const char *)data + written, len - written,
		                 written, &done);
		if (err == -EINTR && ++interrupted <= 1000)
			continue; /* retried, but not forever (no hang) */
		if (err != 0)
			break;
		if (done == 0) {
			err = -EIO;
			break;
		}
		written += done;
	}
	if (err == 0)
		err = io->fdatasync(io->ctx, fd);
	io->close(io->ctx, fd);
	if (err != 0) {
		rc = rill__io_error(err, "write", tmp);
		io->unlink(io->ctx, tmp);
		return rc;
	}
	err = io->rename(io->ctx, tmp, final);
	if (err != 0) {
		rc = rill__io_error(err, "rename", tmp);
		io->unlink(io->ctx, tmp);
		return rc;
	}
	return rill__sync_dir(io, dir);
}

int rill__read_small_file(const rill_io *io, const char *path, char **out,
                          size_t *out_len, size_t max_len)
{
	int fd = -1;
	int err = io->open(io->ctx, path, RILL_O_READ, 0, &fd);
	if (err != 0)
		return rill__io_error(err, "open", path);
	uint64_t size = 0;
	int rc = 0;
	char *buf = NULL;
	err = io->file_size(io->ctx, fd, &size);
	if (err != 0) {
		rc = rill__io_error(err, "stat", path);
		goto out;
	}
	if (size > max_len) {
		rc = rill__error(RILL_ECORRUPT, "%s is %llu bytes, more than the %zu expected",
		                 path, (unsigned long long)size, max_len);
		goto out;
	}
	buf = rill__malloc((size_t)size + 1);
	if (buf == NULL) {
		rc = rill__error(RILL_ENOMEM, "cannot allocate %llu bytes to read %s",
		                 (unsigned long long)size, path);
		goto out;
	}
	/* The whole file or an error: a prefix of topic.conf or topic.meta
	 * can parse as valid text with other values (missing keys take their
	 * defaults), so a short read must never pass as the content. */
	size_t done = 0;
	while (done < (size_t)size) {
		size_t n = 0;
		err = io->pread(io->ctx, fd, buf + done, (size_t)size - done, done, &n);
		if (err != 0) {
			rc = rill__io_error(err, "read", path);
			goto out;
		}
		if (n == 0)
			break;
		done += n;
	}
	if (done != (size_t)size) {
		rc = rill__error(RILL_EIO, "read %s: %zu of %llu bytes (short read)", path, done,
		                 (unsigned long long)size);
		goto out;
	}
	buf[done] = '\0';
	*out = buf;
	*out_len = done;
	buf = NULL;
out:
	rill__free(buf);
	io->close(io->ctx, fd);
	return rc;
}

static int remove_tree_depth(const rill_io *io, const char *path, int depth);

typedef struct remove_ctx {
	const rill_io *io;
	const char *dir;
	int depth;
	int rc;
} remove_ctx;

/* list_dir callbacks return 1 to stop; the RILL_E code goes in ctx->rc,
 * because RILL_E codes and negative errno values share a range. */
static int remove_entry(void *arg, const char *name)
{
	remove_ctx *ctx = arg;
	char path[RILL_PATH_MAX];
	int rc = rill__path(path, sizeof(path), "%s/%s", ctx->dir, name);
	if (rc != 0)
		goto fail;
	int type = 0;
	int err = ctx->io->stat(ctx->io->ctx, path, &type);
	if (err == -ENOENT)
		return 0;
	if (err != 0) {
		rc = rill__io_error(err, "stat", path);
		goto fail;
	}
	if (type == RILL_IO_DIR) {
		if (ctx->depth >= 4) {
			rc = rill__error(RILL_EINVAL, "%s: nested deeper than a store ever is", path);
			goto fail;
		}
		rc = remove_tree_depth(ctx->io, path, ctx->depth + 1);
		if (rc != 0)
			goto fail;
		return 0;
	}
	err = ctx->io->unlink(ctx->io->ctx, path);
	if (err != 0 && err != -ENOENT) {
		rc = rill__io_error(err, "remove", path);
		goto fail;
	}
	return 0;
fail:
	ctx->rc = rc;
	return 1;
}

static int remove_tree_depth(const rill_io *io, const char *path, int depth)
{
	remove_ctx ctx = {io, path, depth, 0};
	int err = io->list_dir(io->ctx, path, remove_entry, &ctx);
	if (err == 1)
		return ctx.rc;
	if (err == -ENOENT)
		return 0;
	if (err != 0)
		return rill__io_error(err, "list", path);
	err = io->rmdir(io->ctx, path);
	if (err != 0 && err != -ENOENT)
		return rill__io_error(err, "remove", path);
	return 0;
}

int rill__remove_tree(const rill_io *io, const char *path)
{
	return remove_tree_depth(io, path, 0);
}
