/*
 * error.c — error codes to text, and the per-thread detail message.
 *
 * Codes are pinned values (rill.h). The detail message lives in
 * thread-local storage so that concurrent callers never see each other's
 * failures; it is formatted at the point where a failure is first
 * understood (which file, which key, which offset) and never describes an
 * older failure because public entry points clear it.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define ERRMSG_MAX 512

static _Thread_local char thread_errmsg[ERRMSG_MAX];

const char *rill_strerror(int code)
{
	switch (code) {
	case RILL_OK: return "success";
	case RILL_EINVAL: return "invalid argument";
	case RILL_ENOMEM: return "out of memory";
	case RILL_EIO: return "I/O error";
	case RILL_ENOTFOUND: return "not found";
	case RILL_EEXIST: return "already exists";
	case RILL_ELOCKED: return "store is locked by another writer";
	case RILL_ERANGE: return "offset out of range";
	case RILL_ETOOBIG: return "record or batch too large";
	case RILL_ECORRUPT: return "data corruption detected";
	case RILL_ENOSPC: return "no space left on device";
	case RILL_EBUSY: return "resource busy";
	case RILL_EREADONLY: return "store is read-only";
	case RILL_EFAILED: return "partition failed after an I/O error; reopen the store";
	case RILL_ETIMEDOUT: return "timed out";
	case RILL_EAGAIN: return "no data available yet";
	case RILL_ECLOSED: return "closed";
	case RILL_EVERSION: return "unsupported version";
	default: return "unknown error";
	}
}

const char *rill_errmsg(void)
{
	return thread_errmsg;
}

void rill__error_clear(void)
{
	thread_errmsg[0] = '\0';
}

int rill__error(int code, const char *fmt, ...)
{
	/* Format into a local buffer first: callers wrap an inner failure by
	 * passing rill_errmsg() (this very buffer) as an argument, and
	 * vsnprintf from a buffer into itself is undefined (it garbles the
	 * message that names the file and offset). */
	char message[ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	memcpy(thread_errmsg, message, strlen(message) + 1);
	return code;
}

int rill__io_error(int neg_errno, const char *what, const char *path)
{
	int err = -neg_errno;
	int code;
	switch (err) {
	case ENOSPC:
	case EDQUOT: code = RILL_ENOSPC; break;
	case ENOMEM: code = RILL_ENOMEM; break;
	case ENOENT: code = RILL_ENOTFOUND; break;
	case EEXIST: code = RILL_EEXIST; break;
	case EWOULDBLOCK: code = RILL_ELOCKED; break;
	case EROFS:
	case EACCES:
	case EPERM: code = RILL_EIO; break;
	default: code = RILL_EIO; break;
	}
	return rill__error(code, "%s %s: %s", what, path ? path : "", strerror(err));
}

void rill__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "rill: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

bool rill__valid_topic_name(const char *name)
{
	if (name == NULL)
		return false;
	size_t len = strnlen(name, RILL_TOPIC_NAME_MAX + 1);
	if (len == 0 || len > RILL_TOPIC_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

void rill__log(const rill_logger *logger, int level, const char *fmt, ...)
{
	if (logger == NULL || logger->fn == NULL)
		return;
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	logger->fn(logger->ctx, level, message);
}
