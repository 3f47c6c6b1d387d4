/*
 * config.c — typed per-topic configuration, addressed by Kafka's key names.
 *
 * Design
 *   One table (`keys` below) describes every key: its Kafka name, where its
 *   field lives in rill_config and how wide it is, its valid range or its
 *   spellings, its default, and whether it may change after the topic is
 *   created. Every operation — init, set, get, validate, the text format
 *   and its parser — walks that table, so adding a key is one line and the
 *   operations cannot disagree about a key.
 *
 *   Values are parsed strictly. The text form is durable state (the topic
 *   layer stores rill__config_format's output as the topic's config file),
 *   and a lenient parser turns typos into silent misconfiguration:
 *   atoi("1GB") is 1, strtoll("10 MiB") is 10. So integers are decimal with
 *   an optional '-', the whole string, no '+', no blanks, overflow
 *   detected; names are matched exactly and case-sensitively, as Kafka
 *   spells them (CreateTime, not createtime).
 *
 *   Text format: one "key=value\n" line per key, in table order, so the
 *   same configuration always produces the same bytes (the file can be
 *   compared, and rewritten only when it changes). The parser starts from
 *   the defaults, so a file written by an older rill that did not know a
 *   key gets that key's default. It refuses unknown keys rather than
 *   skipping them: a key written by a newer rill (a durability mode, say)
 *   carries a promise this version cannot keep, and opening the topic
 *   anyway would break it silently.
 *
 *   Errors name the key and the offending value ("config segment.bytes=abc:
 *   not an integer"), and for parsed text the line number, because the
 *   person reading the message is looking at a file or a command line.
 *
 * Sections: key table — integer and name codecs — public API — text form.
 */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

/* ------------------------------------------------------------- key table */

/* One spelling of a named value (enums and booleans). */
typedef struct config_name {
	const char *name; /* exact, case-sensitive spelling */
	int value;        /* the field value it stands for */
} config_name;

typedef struct config_key {
	const char *name;          /* Kafka's key name */
	size_t offset;             /* offsetof(rill_config, field) */
	size_t size;               /* sizeof the field: int64_t or int */
	int64_t min;               /* smallest valid value (integer keys) */
	int64_t max;               /* largest valid value (integer keys) */
	int64_t default_value;     /* what rill_config_init sets */
	bool is_mutable;           /* may change after topic creation */
	const config_name *names;  /* named keys: spellings, NULL-terminated;
	                              NULL for integer keys */
} config_key;

#define FIELD(f) .offset = offsetof(rill_config, f), .size = sizeof(((rill_config *)0)->f)

#define MS_PER_DAY INT64_C(86400000)
#define MIB INT64_C(1048576)

static const config_name compression_names[] = {
	{"none", RILL_COMPRESSION_NONE},
	{"zstd", RILL_COMPRESSION_ZSTD},
	{NULL, 0},
};

static const config_name timestamp_names[] = {
	{"CreateTime", RILL_TIMESTAMP_CREATE_TIME},
	{"LogAppendTime", RILL_TIMESTAMP_LOG_APPEND_TIME},
	{NULL, 0},
};

static const config_name durability_names[] = {
	{"append", RILL_DURABILITY_APPEND},
	{"interval", RILL_DURABILITY_INTERVAL},
	{"os", RILL_DURABILITY_OS},
	{NULL, 0},
};

static const config_name bool_names[] = {
	{"true", 1},
	{"false", 0},
	{NULL, 0},
};

/* The order here is the order of rill_config_key() and of the text form:
 * append new keys at the end. */
static const config_key keys[] = {
	{.name = "segment.bytes", FIELD(segment_bytes),
	 .min = 4096, .max = INT32_MAX, .default_value = 1024 * MIB,
	 .is_mutable = true},
	{.name = "segment.ms", FIELD(segment_ms),
	 .min = 1, .max = INT64_MAX, .default_value = 7 * MS_PER_DAY,
	 .is_mutable = true},
	/* Index files are preallocated to this size when a segment starts;
	 * existing segments could not follow a change. */
	{.name = "segment.index.bytes", FIELD(segment_index_bytes),
	 .min = 64, .max = INT32_MAX, .default_value = 10 * MIB,
	 .is_mutable = false},
	{.name = "index.interval.bytes", FIELD(index_interval_bytes),
	 .min = 0, .max = INT32_MAX, .default_value = 4096,
	 .is_mutable = true},
	{.name = "retention.ms", FIELD(retention_ms),
	 .min = -1, .max = INT64_MAX, .default_value = 7 * MS_PER_DAY,
	 .is_mutable = true},
	{.name = "retention.bytes", FIELD(retention_bytes),
	 .min = -1, .max = INT64_MAX, .default_value = -1,
	 .is_mutable = true},
	{.name = "max.message.bytes", FIELD(max_message_bytes),
	 .min = 64, .max = RILL_MESSAGE_BYTES_MAX, .default_value = 1048588,
	 .is_mutable = true},
	{.name = "compression.type", FIELD(compression_type),
	 .default_value = RILL_COMPRESSION_NONE, .is_mutable = true,
	 .names = compression_names},
	{.name = "compression.zstd.level", FIELD(compression_zstd_level),
	 .min = 1, .max = 19, .default_value = 3,
	 .is_mutable = true},
	{.name = "message.timestamp.type", FIELD(timestamp_type),
	 .default_value = RILL_TIMESTAMP_CREATE_TIME, .is_mutable = true,
	 .names = timestamp_names},
	{.name = "flush.messages", FIELD(flush_messages),
	 .min = 1, .max = INT64_MAX, .default_value = 1,
	 .is_mutable = true},
	{.name = "flush.ms", FIELD(flush_ms),
	 .min = 0, .max = INT64_MAX, .default_value = 1000,
	 .is_mutable = true},
	{.name = "durability", FIELD(durability),
	 .default_value = RILL_DURABILITY_APPEND, .is_mutable = true,
	 .names = durability_names},
	{.name = "preallocate", FIELD(preallocate),
	 .default_value = 1, .is_mutable = true,
	 .names = bool_names},
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))
#define KEY_NAME_MAX 31     /* longest key name, checked in the format loop */
#define VALUE_TEXT_MAX 20   /* "-9223372036854775808"; names are shorter */
#define WHY_MAX 128         /* "out of range [...]" / "expected one of ..." */

/* Every line of the text form fits, so RILL_CONFIG_TEXT_MAX always does. */
RILL_STATIC_ASSERT(KEY_COUNT * (KEY_NAME_MAX + 1 + VALUE_TEXT_MAX + 1) <
                       RILL_CONFIG_TEXT_MAX,
                   "RILL_CONFIG_TEXT_MAX too small for the key table");
RILL_STATIC_ASSERT(RILL_MESSAGE_BYTES_MAX == (1u << 30),
                   "max.message.bytes range is documented as [64, 2^30]");

static const config_key *find_key(const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	}
	return NULL;
}

static int64_t load(const rill_config *config, const config_key *k)
{
	const unsigned char *field = (const unsigned char *)config + k->offset;
	if (k->size == sizeof(int64_t)) {
		int64_t value;
		memcpy(&value, field, sizeof(value));
		return value;
	}
	RILL_ASSERT(k->size == sizeof(int));
	int value;
	memcpy(&value, field, sizeof(value));
	return value;
}

/* Only values that passed decode() are stored, so int fields never
 * receive a value they cannot hold. */
static void store(rill_config *config, const config_key *k, int64_t value)
{
	unsigned char *field = (unsigned char *)config + k->offset;
	if (k->size == sizeof(int64_t)) {
		memcpy(field, &value, sizeof(value));
		return;
	}
	RILL_ASSERT(k->size == sizeof(int));
	RILL_ASSERT(value >= INT_MIN);
	RILL_ASSERT(value <= INT_MAX);
	int narrow = (int)value;
	memcpy(field, &narrow, sizeof(narrow));
}

/* --------------------------------------------------- integer and name codecs */

enum decimal_result {
	DECIMAL_OK,
	DECIMAL_SYNTAX,   /* empty, '+', blanks, anything but [-]digits */
	DECIMAL_OVERFLOW, /* digits only, but outside int64_t */
};

/* Full-string decimal: optional '-', then one or more digits. A syntax
 * error anywhere wins over overflow, so "99999999999999999999x" is
 * "not an integer". */
static enum decimal_result parse_decimal(const char *text, int64_t *out)
{
	const char *p = text;
	bool negative = false;
	bool overflow = false;
	uint64_t magnitude = 0;

	if (*p == '-') {
		negative = true;
		p++;
	}
	if (*p == '\0')
		return DECIMAL_SYNTAX;
	uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return DECIMAL_SYNTAX;
		uint64_t digit = (uint64_t)(*p - '0');
		if (overflow || magnitude > (limit - digit) / 10)
			overflow = true;
		else
			magnitude = magnitude * 10 + digit;
	}
	if (overflow)
		return DECIMAL_OVERFLOW;
	RILL_ASSERT(magnitude <= limit);
	if (!negative)
		*out = (int64_t)magnitude;
	else if (magnitude == (uint64_t)INT64_MAX + 1)
		*out = INT64_MIN;
	else
		*out = -(int64_t)magnitude;
	return DECIMAL_OK;
}

/* "expected one of none|zstd" */
static void describe_names(const config_key *k, char *why, size_t why_size)
{
	size_t used = (size_t)snprintf(why, why_size, "expected one of ");
	for (const config_name *n = k->names; n->name != NULL && used < why_size; n++) {
		used += (size_t)snprintf(why + used, why_size - used, "%s%s",
		                         n == k->names ? "" : "|", n->name);
	}
}

static void describe_range(const config_key *k, char *why, size_t why_size)
{
	snprintf(why, why_size, "out of range [%" PRId64 ", %" PRId64 "]", k->min,
	         k->max);
}

/* Whether `value` is valid for k; if not, says why. */
static bool value_valid(const config_key *k, int64_t value, char *why,
                        size_t why_size)
{
	if (k->names != NULL) {
		for (const config_name *n = k->names; n->name != NULL; n++) {
			if (n->value == value)
				return true;
		}
		describe_names(k, why, why_size);
		return false;
	}
	if (value >= k->min && value <= k->max)
		return true;
	describe_range(k, why, why_size);
	return false;
}

/* Text to a valid value for k; if impossible, says why. */
static bool decode(const config_key *k, const char *text, int64_t *out,
                   char *why, size_t why_size)
{
	if (k->names != NULL) {
		for (const config_name *n = k->names; n->name != NULL; n++) {
			if (strcmp(n->name, text) == 0) {
				*out = n->value;
				return true;
			}
		}
		describe_names(k, why, why_size);
		return false;
	}
	int64_t value = 0;
	switch (parse_decimal(text, &value)) {
	case DECIMAL_OK:
		break;
	case DECIMAL_SYNTAX:
		snprintf(why, why_size, "not an integer");
		return false;
	case DECIMAL_OVERFLOW:
		describe_range(k, why, why_size);
		return false;
	}
	if (!value_valid(k, value, why, why_size))
		return false;
	*out = value;
	return true;
}

/* Value to text. A named field holding a value with no name (only possible
 * if the caller wrote the struct directly) is shown as its number, which
 * validation and parsing then reject. */
static void encode(const config_key *k, int64_t value, char *buf, size_t size)
{
	if (k->names != NULL) {
		for (const config_name *n = k->names; n->name != NULL; n++) {
			if (n->value == value) {
				snprintf(buf, size, "%s", n->name);
				return;
			}
		}
	}
	snprintf(buf, size, "%" PRId64, value);
}

/* ------------------------------------------------------------- public API */

void rill_config_init(rill_config *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	out->version = RILL_CONFIG_VERSION;
	for (size_t i = 0; i < KEY_COUNT; i++)
		store(out, &keys[i], keys[i].default_value);
}

int rill_config_set(rill_config *config, const char *key, const char *value)
{
	if (config == NULL || key == NULL || value == NULL)
		return rill__error(RILL_EINVAL, "rill_config_set: %s is NULL",
		                   config == NULL ? "config" : key == NULL ? "key" : "value");
	const config_key *k = find_key(key);
	if (k == NULL)
		return rill__error(RILL_ENOTFOUND, "unknown config key '%.64s'", key);

	char why[WHY_MAX];
	int64_t parsed = 0;
	if (!decode(k, value, &parsed, why, sizeof(why)))
		return rill__error(RILL_EINVAL, "config %s=%.64s: %s", k->name, value, why);
	store(config, k, parsed);
	return 0;
}

int rill_config_get(const rill_config *config, const char *key, char *buf,
                    size_t buf_size)
{
	if (config == NULL || key == NULL || buf == NULL || buf_size == 0)
		return rill__error(RILL_EINVAL, "rill_config_get: %s",
		                   config == NULL ? "config is NULL"
		                   : key == NULL  ? "key is NULL"
		                   : buf == NULL  ? "buf is NULL"
		                                  : "buf_size is 0");
	const config_key *k = find_key(key);
	if (k == NULL)
		return rill__error(RILL_ENOTFOUND, "unknown config key '%.64s'", key);

	char text[VALUE_TEXT_MAX + 1];
	encode(k, load(config, k), text, sizeof(text));
	snprintf(buf, buf_size, "%s", text);
	return 0;
}

int rill_config_validate(const rill_config *config)
{
	if (config == NULL)
		return rill__error(RILL_EINVAL, "rill_config_validate: config is NULL");
	if (config->version != RILL_CONFIG_VERSION)
		return rill__error(RILL_EVERSION,
		                   "config version %u not supported (expected %d)",
		                   config->version, RILL_CONFIG_VERSION);
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const config_key *k = &keys[i];
		int64_t value = load(config, k);
		char why[WHY_MAX];
		if (!value_valid(k, value, why, sizeof(why))) {
			char text[VALUE_TEXT_MAX + 1];
			encode(k, value, text, sizeof(text));
			return rill__error(RILL_EINVAL, "config %s=%s: %s", k->name, text, why);
		}
	}
	return 0;
}

const char *rill_config_key(size_t index)
{
	return index < KEY_COUNT ? keys[index].name : NULL;
}

bool rill__config_key_mutable(const char *key)
{
	if (key == NULL)
		return false;
	const config_key *k = find_key(key);
	return k != NULL && k->is_mutable;
}

/* -------------------------------------------------------------- text form */

size_t rill__config_format(const rill_config *config, char *buf, size_t size)
{
	RILL_ASSERT(config != NULL);
	RILL_ASSERT(buf != NULL || size == 0);
	size_t total = 0;

	if (size > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const config_key *k = &keys[i];
		char text[VALUE_TEXT_MAX + 1];
		RILL_ASSERT(strlen(k->name) <= KEY_NAME_MAX);
		encode(k, load(config, k), text, sizeof(text));

		/* Past the end of buf keep counting: snprintf(NULL, 0) measures. */
		char *dst = total < size ? buf + total : NULL;
		size_t room = total < size ? size - total : 0;
		int n = snprintf(dst, room, "%s=%s\n", k->name, text);
		RILL_ASSERT(n > 0);
		total += (size_t)n;
	}
	RILL_ASSERT(total < RILL_CONFIG_TEXT_MAX);
	return total;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trim blanks from both ends of [*begin, *end). */
static void trim(const char **begin, const char **end)
{
	while (*begin < *end && is_blank(**begin))
		(*begin)++;
	while (*end > *begin && is_blank((*end)[-1]))
		(*end)--;
}

/* Copy [begin, end) into a NUL-terminated buffer; false if it does not fit. */
static bool copy_span(char *dst, size_t dst_size, const char *begin,
                      const char *end)
{
	size_t len = (size_t)(end - begin);
	if (len >= dst_size)
		return false;
	memcpy(dst, begin, len);
	dst[len] = '\0';
	return true;
}

/* One "key=value" line (not blank, not a comment) into *config. */
static int parse_line(rill_config *config, bool *seen, size_t line_number,
                      const char *begin, const char *end)
{
	const char *eq = memchr(begin, '=', (size_t)(end - begin));
	if (eq == NULL)
		return rill__error(RILL_EINVAL, "config line %zu: expected key=value",
		                   line_number);

	const char *key_begin = begin, *key_end = eq;
	const char *value_begin = eq + 1, *value_end = end;
	trim(&key_begin, &key_end);
	trim(&value_begin, &value_end);
	if (key_begin == key_end)
		return rill__error(RILL_EINVAL, "config line %zu: expected key=value",
		                   line_number);

	char key[KEY_NAME_MAX + 1];
	const config_key *k = NULL;
	if (copy_span(key, sizeof(key), key_begin, key_end))
		k = find_key(key);
	if (k == NULL) {
		ptrdiff_t shown = key_end - key_begin > 64 ? 64 : key_end - key_begin;
		return rill__error(RILL_ENOTFOUND,
		                   "config line %zu: unknown config key '%.*s'",
		                   line_number, (int)shown, key_begin);
	}
	size_t index = (size_t)(k - keys);
	if (seen[index])
		return rill__error(RILL_EINVAL, "config line %zu: duplicate key '%s'",
		                   line_number, k->name);
	seen[index] = true;

	char value[VALUE_TEXT_MAX + 1];
	if (!copy_span(value, sizeof(value), value_begin, value_end))
		return rill__error(RILL_EINVAL,
		                   "config line %zu: %s=%.*s...: value too long",
		                   line_number, k->name, VALUE_TEXT_MAX, value_begin);
	char why[WHY_MAX];
	int64_t parsed = 0;
	if (!decode(k, value, &parsed, why, sizeof(why)))
		return rill__error(RILL_EINVAL, "config line %zu: %s=%s: %s",
		                   line_number, k->name, value, why);
	store(config, k, parsed);
	return 0;
}

int rill__config_parse(rill_config *out, const char *text, size_t len)
{
	if (out == NULL || (text == NULL && len > 0))
		return rill__error(RILL_EINVAL, "rill__config_parse: %s is NULL",
		                   out == NULL ? "out" : "text");
	if (len > RILL_CONFIG_PARSE_BYTES_MAX)
		return rill__error(RILL_EINVAL,
		                   "config text is %zu bytes (at most %u expected)", len,
		                   RILL_CONFIG_PARSE_BYTES_MAX);
	if (len > 0 && memchr(text, '\0', len) != NULL) {
		size_t line_number = 1;
		for (const char *p = text; *p != '\0'; p++)
			line_number += *p == '\n';
		return rill__error(RILL_EINVAL, "config line %zu: NUL byte", line_number);
	}

	rill_config config;
	bool seen[KEY_COUNT] = {false};
	size_t line_number = 0;
	size_t pos = 0;

	rill_config_init(&config);
	while (pos < len) {
		const char *begin = text + pos;
		const char *newline = memchr(begin, '\n', len - pos);
		const char *end = newline != NULL ? newline : text + len;
		line_number++;
		pos = (size_t)(end - text) + (newline != NULL ? 1 : 0);

		trim(&begin, &end);
		if (begin == end || *begin == '#')
			continue;
		int rc = parse_line(&config, seen, line_number, begin, end);
		if (rc != 0)
			return rc;
	}
	RILL_ASSERT(pos == len);

	int rc = rill_config_validate(&config);
	if (rc != 0)
		return rc;
	*out = config;
	return 0;
}
