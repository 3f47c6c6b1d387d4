/*
 * fs.h — file-system steps every layer needs, built on the I/O table:
 * fsync a directory, replace a small file atomically, read one, remove a
 * tree. Each encodes an ordering rule of docs/FORMAT.md ("Ordering rules").
 */
#ifndef RILL_FS_H
#define RILL_FS_H

#include "internal.h"

/* fsync a directory so the entries created, renamed or removed in it are
 * durable (R2). */
int rill__sync_dir(const rill_io *io, const char *dir);
/* Replace dir/name with data: write dir/name.tmp, fdatasync it, rename it
 * over dir/name, fsync dir (R3). A crash leaves the old or the new file. */
int rill__atomic_write(const rill_io *io, const char *dir, const char *name,
                       const void *data, size_t len);
/* Read a whole file of at most max_len bytes into a NUL-terminated heap
 * buffer. Missing file: RILL_ENOTFOUND (message names it). */
int rill__read_small_file(const rill_io *io, const char *path, char **out,
                          size_t *out_len, size_t max_len);
/* Remove a directory and everything in it (two levels: the store never
 * nests deeper below a topic). Missing entries are not an error. */
int rill__remove_tree(const rill_io *io, const char *path);
/* snprintf into a path buffer; RILL_EINVAL if it does not fit. */
int rill__path(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
