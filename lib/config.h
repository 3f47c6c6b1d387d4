/*
 * config.h — internal side of topic configuration: the text form stored in
 * a topic's config file, and which keys may change after creation.
 *
 * The public side (rill_config_init/set/get/validate/key) is in rill.h;
 * both are implemented by config.c from one key table.
 */
#ifndef RILL_CONFIG_H
#define RILL_CONFIG_H

#include "internal.h"

/* A buffer of this size always fits rill__config_format's output (checked
 * by a static assertion in config.c against the key table). */
#define RILL_CONFIG_TEXT_MAX 4096
/* rill__config_parse refuses larger input: a config file is a few hundred
 * bytes, so anything this large is not one. */
#define RILL_CONFIG_PARSE_BYTES_MAX (64u * 1024u)

/*
 * Serialize every key as "key=value\n" lines, in key-table order (the
 * order of rill_config_key). Writes at most `size` bytes including the
 * terminating NUL (none if size is 0).
 * @return bytes written excluding the NUL, or the size that would have been
 *   needed if `size` was too small (like snprintf).
 */
size_t rill__config_format(const rill_config *config, char *buf, size_t size);

/*
 * Parse "key=value" lines into *out, starting from the defaults so keys the
 * text does not mention keep their default. Blank lines and lines whose
 * first non-blank character is '#' are skipped; whitespace around key and
 * value is trimmed; a key may appear once. The result is validated.
 * *out is written only on success.
 * @return 0; RILL_ENOTFOUND for an unknown key; RILL_EINVAL for a bad value,
 *   a line without '=', a duplicate key, a NUL byte, or input larger than
 *   RILL_CONFIG_PARSE_BYTES_MAX. The message names the line number.
 */
int rill__config_parse(rill_config *out, const char *text, size_t len);

/*
 * Whether `key` may change after topic creation (rill_topic_alter). Every
 * key may, as in Kafka, except segment.index.bytes: index files are sized
 * when a segment starts. Unknown or NULL keys: false.
 */
bool rill__config_key_mutable(const char *key);

#endif /* RILL_CONFIG_H */
