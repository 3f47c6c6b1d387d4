/*
 * check_config.c — topic configuration: the key table documented in rill.h,
 * strict value parsing, the text form stored in a topic's config file, and
 * validation.
 *
 * How: `specs` below restates rill.h's table (name, field, default, range
 * or spellings, mutability) independently of lib/config.c, and a loop test
 * runs once per key: default, both ends of the range, one past each end,
 * garbage, overflow and the empty string, checking the code, the exact
 * message, and that a failed set leaves the struct untouched. Other cases
 * cover the text form byte for byte, the parser's comments, whitespace,
 * line numbers and refusals, the mutability table, and validate on a bad
 * field and a bad version.
 */
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* ------------------------------------------------------------ the spec */

typedef struct key_spec {
	const char *name;           /* Kafka key */
	size_t offset;              /* field in rill_config */
	size_t size;                /* sizeof the field */
	const char *default_text;   /* rill_config_get after rill_config_init */
	int64_t min;                /* integer keys: documented range */
	int64_t max;
	const char *const *names;   /* named keys: valid spellings, NULL-ended */
	bool is_mutable;            /* may change after creation */
} key_spec;

#define FIELD(f) offsetof(rill_config, f), sizeof(((rill_config *)0)->f)

static const char *const compression_names[] = {"none", "zstd", NULL};
static const char *const timestamp_names[] = {"CreateTime", "LogAppendTime", NULL};
static const char *const durability_names[] = {"append", "interval", "os", NULL};
static const char *const bool_names[] = {"true", "false", NULL};

/* rill.h, "Configuration (per topic)", in its order. */
static const key_spec specs[] = {
	{"segment.bytes", FIELD(segment_bytes), "1073741824", 4096, INT32_MAX, NULL, true},
	{"segment.ms", FIELD(segment_ms), "604800000", 1, INT64_MAX, NULL, true},
	{"segment.index.bytes", FIELD(segment_index_bytes), "10485760", 64, INT32_MAX, NULL, false},
	{"index.interval.bytes", FIELD(index_interval_bytes), "4096", 0, INT32_MAX, NULL, true},
	{"retention.ms", FIELD(retention_ms), "604800000", -1, INT64_MAX, NULL, true},
	{"retention.bytes", FIELD(retention_bytes), "-1", -1, INT64_MAX, NULL, true},
	{"max.message.bytes", FIELD(max_message_bytes), "1048588", 64, 1 << 30, NULL, true},
	{"compression.type", FIELD(compression_type), "none", 0, 0, compression_names, true},
	{"compression.zstd.level", FIELD(compression_zstd_level), "3", 1, 19, NULL, true},
	{"message.timestamp.type", FIELD(timestamp_type), "CreateTime", 0, 0, timestamp_names, true},
	{"flush.messages", FIELD(flush_messages), "1", 1, INT64_MAX, NULL, true},
	{"flush.ms", FIELD(flush_ms), "1000", 0, INT64_MAX, NULL, true},
	{"durability", FIELD(durability), "append", 0, 0, durability_names, true},
	{"preallocate", FIELD(preallocate), "true", 0, 0, bool_names, true},
};
#define SPEC_COUNT ((int)(sizeof(specs) / sizeof(specs[0])))

static const char default_text[] =
	"segment.bytes=1073741824\n"
	"segment.ms=604800000\n"
	"segment.index.bytes=10485760\n"
	"index.interval.bytes=4096\n"
	"retention.ms=604800000\n"
	"retention.bytes=-1\n"
	"max.message.bytes=1048588\n"
	"compression.type=none\n"
	"compression.zstd.level=3\n"
	"message.timestamp.type=CreateTime\n"
	"flush.messages=1\n"
	"flush.ms=1000\n"
	"durability=append\n"
	"preallocate=true\n";

static void poke(rill_config *config, const key_spec *s, int64_t value)
{
	unsigned char *field = (unsigned char *)config + s->offset;
	if (s->size == sizeof(int64_t)) {
		memcpy(field, &value, sizeof(value));
	} else {
		int narrow = (int)value;
		memcpy(field, &narrow, sizeof(narrow));
	}
}

static int64_t peek(const rill_config *config, const key_spec *s)
{
	const unsigned char *field = (const unsigned char *)config + s->offset;
	if (s->size == sizeof(int64_t)) {
		int64_t value;
		memcpy(&value, field, sizeof(value));
		return value;
	}
	int narrow;
	memcpy(&narrow, field, sizeof(narrow));
	return narrow;
}

static void expect_get(const rill_config *config, const char *key, const char *want)
{
	char buf[64];
	ck_assert_int_eq(rill_config_get(config, key, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
}

/* set must fail with `code` and message `message`, leaving *config as it was. */
static void expect_set_fails(rill_config *config, const char *key,
                             const char *value, int code, const char *message)
{
	rill_config before = *config;
	ck_assert_int_eq(rill_config_set(config, key, value), code);
	ck_assert_msg(memcmp(&before, config, sizeof(before)) == 0,
	              "failed set %s=%s changed the config", key, value);
	if (message != NULL)
		ck_assert_str_eq(rill_errmsg(), message);
}

static void expect_set_ok(rill_config *config, const key_spec *s,
                          const char *value, int64_t field_value)
{
	ck_assert_msg(rill_config_set(config, s->name, value) == 0, "set %s=%s: %s",
	              s->name, value, rill_errmsg());
	ck_assert_int_eq(peek(config, s), field_value);
	expect_get(config, s->name, value);
}

/* ------------------------------------------------------ every key, one by one */

START_TEST(test_key_default_and_range)
{
	const key_spec *s = &specs[_i];
	rill_config config;
	char text[64], message[256], range[128];

	rill_config_init(&config);
	ck_assert_uint_eq(config.version, RILL_CONFIG_VERSION);
	ck_assert_str_eq(rill_config_key((size_t)_i), s->name);
	expect_get(&config, s->name, s->default_text);

	if (s->names != NULL) {
		for (size_t n = 0; s->names[n] != NULL; n++) {
			ck_assert_int_eq(rill_config_set(&config, s->name, s->names[n]), 0);
			expect_get(&config, s->name, s->names[n]);
		}
		char expected[128] = "expected one of ";
		for (size_t n = 0; s->names[n] != NULL; n++) {
			if (n > 0)
				strcat(expected, "|");
			strcat(expected, s->names[n]);
		}
		/* Wrong case, numbers, blanks, empty: all refused with one message. */
		const char *bad[] = {"", "0", "1", "NONE", "Zstd", "createtime",
		                     "True", "FALSE", " os", "append ", "yes", "gzip"};
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			bool valid = false;
			for (size_t n = 0; s->names[n] != NULL; n++)
				valid |= strcmp(s->names[n], bad[b]) == 0;
			if (valid)
				continue;
			snprintf(message, sizeof(message), "config %s=%s: %s", s->name,
			         bad[b], expected);
			expect_set_fails(&config, s->name, bad[b], RILL_EINVAL, message);
		}
		return;
	}

	snprintf(range, sizeof(range), "out of range [%" PRId64 ", %" PRId64 "]",
	         s->min, s->max);

	/* Both ends of the range are accepted. */
	snprintf(text, sizeof(text), "%" PRId64, s->min);
	expect_set_ok(&config, s, text, s->min);
	snprintf(text, sizeof(text), "%" PRId64, s->max);
	expect_set_ok(&config, s, text, s->max);

	/* One below the minimum (every documented minimum is above INT64_MIN). */
	snprintf(text, sizeof(text), "%" PRId64, s->min - 1);
	snprintf(message, sizeof(message), "config %s=%s: %s", s->name, text, range);
	expect_set_fails(&config, s->name, text, RILL_EINVAL, message);

	/* One above the maximum: past INT64_MAX that is an overflow, which is
	 * reported as the same range error. */
	if (s->max < INT64_MAX)
		snprintf(text, sizeof(text), "%" PRId64, s->max + 1);
	else
		snprintf(text, sizeof(text), "9223372036854775808");
	snprintf(message, sizeof(message), "config %s=%s: %s", s->name, text, range);
	expect_set_fails(&config, s->name, text, RILL_EINVAL, message);

	const char *overflow[] = {"99999999999999999999", "-9223372036854775809",
	                          "-99999999999999999999",
	                          "100000000000000000000000000000000000000"};
	for (size_t o = 0; o < sizeof(overflow) / sizeof(overflow[0]); o++) {
		snprintf(message, sizeof(message), "config %s=%s: %s", s->name,
		         overflow[o], range);
		expect_set_fails(&config, s->name, overflow[o], RILL_EINVAL, message);
	}

	const char *garbage[] = {"", "-", "abc", "12abc", "abc12", " 4096", "4096 ",
	                         "+4096", "0x1000", "1e4", "4096.0", "--5", "4 096",
	                         "1GB", "\t8192", "99999999999999999999x"};
	for (size_t g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++) {
		snprintf(message, sizeof(message), "config %s=%s: not an integer",
		         s->name, garbage[g]);
		expect_set_fails(&config, s->name, garbage[g], RILL_EINVAL, message);
	}
}
END_TEST

/* Validate names the key of a bad field, whichever key it is. */
START_TEST(test_validate_each_field)
{
	const key_spec *s = &specs[_i];
	rill_config config;

	rill_config_init(&config);
	ck_assert_int_eq(rill_config_validate(&config), 0);
	poke(&config, s, s->names != NULL ? 99 : s->min - 1);
	ck_assert_int_eq(rill_config_validate(&config), RILL_EINVAL);
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "config %s=", s->name);
	ck_assert_msg(strncmp(rill_errmsg(), prefix, strlen(prefix)) == 0,
	              "message '%s' does not start with '%s'", rill_errmsg(), prefix);

	/* And the text form of that config is refused on the same key. */
	char text[RILL_CONFIG_TEXT_MAX];
	rill_config parsed;
	size_t len = rill__config_format(&config, text, sizeof(text));
	ck_assert_int_eq(rill__config_parse(&parsed, text, len), RILL_EINVAL);
	snprintf(prefix, sizeof(prefix), "config line %d: %s=", _i + 1, s->name);
	ck_assert_msg(strncmp(rill_errmsg(), prefix, strlen(prefix)) == 0,
	              "message '%s' does not start with '%s'", rill_errmsg(), prefix);
}
END_TEST

/* get's text set back gives the same struct, for any valid value. */
START_TEST(test_get_set_round_trip)
{
	const key_spec *s = &specs[_i];
	rill_config config, copy;
	char buf[64];

	rill_config_init(&config);
	if (s->names == NULL) {
		poke(&config, s, s->max - 1);
	} else {
		size_t last = 0; /* the last spelling: never the default */
		while (s->names[last + 1] != NULL)
			last++;
		ck_assert_int_eq(rill_config_set(&config, s->name, s->names[last]), 0);
	}
	copy = config;
	ck_assert_int_eq(rill_config_get(&config, s->name, buf, sizeof(buf)), 0);
	rill_config_init(&config);
	ck_assert_int_eq(rill_config_set(&config, s->name, buf), 0);
	ck_assert_int_eq(memcmp(&config, &copy, sizeof(copy)), 0);
}
END_TEST

/* --------------------------------------------------------- API edges */

START_TEST(test_defaults)
{
	rill_config config;
	memset(&config, 0xa5, sizeof(config));
	rill_config_init(&config);
	ck_assert_uint_eq(config.version, RILL_CONFIG_VERSION);
	ck_assert_int_eq(config.segment_bytes, INT64_C(1) << 30);
	ck_assert_int_eq(config.segment_ms, INT64_C(7) * 24 * 3600 * 1000);
	ck_assert_int_eq(config.segment_index_bytes, 10 * 1024 * 1024);
	ck_assert_int_eq(config.index_interval_bytes, 4096);
	ck_assert_int_eq(config.retention_ms, INT64_C(7) * 24 * 3600 * 1000);
	ck_assert_int_eq(config.retention_bytes, -1);
	ck_assert_int_eq(config.max_message_bytes, 1048588);
	ck_assert_int_eq(config.compression_type, RILL_COMPRESSION_NONE);
	ck_assert_int_eq(config.compression_zstd_level, 3);
	ck_assert_int_eq(config.timestamp_type, RILL_TIMESTAMP_CREATE_TIME);
	ck_assert_int_eq(config.flush_messages, 1);
	ck_assert_int_eq(config.flush_ms, 1000);
	ck_assert_int_eq(config.durability, RILL_DURABILITY_APPEND);
	ck_assert_int_eq(config.preallocate, 1);
	ck_assert_int_eq(rill_config_validate(&config), 0);
	rill_config_init(NULL); /* tolerated */
}
END_TEST

START_TEST(test_key_listing)
{
	for (int i = 0; i < SPEC_COUNT; i++)
		ck_assert_str_eq(rill_config_key((size_t)i), specs[i].name);
	ck_assert_ptr_null(rill_config_key((size_t)SPEC_COUNT));
	ck_assert_ptr_null(rill_config_key(SIZE_MAX));
}
END_TEST

START_TEST(test_named_values_map_to_enums)
{
	rill_config config;
	rill_config_init(&config);
	ck_assert_int_eq(rill_config_set(&config, "compression.type", "zstd"), 0);
	ck_assert_int_eq(config.compression_type, RILL_COMPRESSION_ZSTD);
	ck_assert_int_eq(rill_config_set(&config, "message.timestamp.type", "LogAppendTime"), 0);
	ck_assert_int_eq(config.timestamp_type, RILL_TIMESTAMP_LOG_APPEND_TIME);
	ck_assert_int_eq(rill_config_set(&config, "durability", "interval"), 0);
	ck_assert_int_eq(config.durability, RILL_DURABILITY_INTERVAL);
	ck_assert_int_eq(rill_config_set(&config, "durability", "os"), 0);
	ck_assert_int_eq(config.durability, RILL_DURABILITY_OS);
	ck_assert_int_eq(rill_config_set(&config, "preallocate", "false"), 0);
	ck_assert_int_eq(config.preallocate, 0);
	ck_assert_int_eq(rill_config_validate(&config), 0);
}
END_TEST

START_TEST(test_documented_messages)
{
	rill_config config;
	rill_config_init(&config);
	expect_set_fails(&config, "segment.bytes", "abc", RILL_EINVAL,
	                 "config segment.bytes=abc: not an integer");
	expect_set_fails(&config, "segment.bytes", "1", RILL_EINVAL,
	                 "config segment.bytes=1: out of range [4096, 2147483647]");
	expect_set_fails(&config, "retention.ms", "-2", RILL_EINVAL,
	                 "config retention.ms=-2: out of range [-1, 9223372036854775807]");
	expect_set_fails(&config, "compression.type", "gzip", RILL_EINVAL,
	                 "config compression.type=gzip: expected one of none|zstd");
	expect_set_fails(&config, "foo", "1", RILL_ENOTFOUND, "unknown config key 'foo'");
}
END_TEST

START_TEST(test_unknown_keys)
{
	rill_config config;
	char buf[32];
	rill_config_init(&config);
	const char *unknown[] = {"foo", "", "Segment.bytes", "segment.bytes ",
	                         " segment.bytes", "segment_bytes", "segment",
	                         "cleanup.policy", "compression.zstd"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		char message[128];
		snprintf(message, sizeof(message), "unknown config key '%s'", unknown[i]);
		expect_set_fails(&config, unknown[i], "1", RILL_ENOTFOUND, message);
		ck_assert_int_eq(rill_config_get(&config, unknown[i], buf, sizeof(buf)),
		                 RILL_ENOTFOUND);
		ck_assert_str_eq(rill_errmsg(), message);
	}
	/* A very long key is named, shortened, not overrun. */
	char long_key[1000];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	ck_assert_int_eq(rill_config_set(&config, long_key, "1"), RILL_ENOTFOUND);
	ck_assert_int_lt(strlen(rill_errmsg()), 200);
}
END_TEST

START_TEST(test_null_arguments)
{
	rill_config config;
	char buf[32];
	rill_config_init(&config);
	ck_assert_int_eq(rill_config_set(NULL, "segment.bytes", "4096"), RILL_EINVAL);
	ck_assert_int_eq(rill_config_set(&config, NULL, "4096"), RILL_EINVAL);
	ck_assert_int_eq(rill_config_set(&config, "segment.bytes", NULL), RILL_EINVAL);
	ck_assert_str_eq(rill_errmsg(), "rill_config_set: value is NULL");
	ck_assert_int_eq(rill_config_get(NULL, "segment.bytes", buf, sizeof(buf)), RILL_EINVAL);
	ck_assert_int_eq(rill_config_get(&config, NULL, buf, sizeof(buf)), RILL_EINVAL);
	ck_assert_int_eq(rill_config_get(&config, "segment.bytes", NULL, 8), RILL_EINVAL);
	ck_assert_int_eq(rill_config_get(&config, "segment.bytes", buf, 0), RILL_EINVAL);
	ck_assert_int_eq(rill_config_validate(NULL), RILL_EINVAL);
	ck_assert_int_eq(rill__config_parse(NULL, "", 0), RILL_EINVAL);
	ck_assert_int_eq(rill__config_parse(&config, NULL, 5), RILL_EINVAL);
	ck_assert_int_eq(rill__config_key_mutable(NULL), false);
}
END_TEST

START_TEST(test_get_truncates)
{
	rill_config config;
	char buf[4];
	rill_config_init(&config);
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(rill_config_get(&config, "message.timestamp.type", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "Cre");
	ck_assert_int_eq(rill_config_get(&config, "segment.bytes", buf, 1), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_validate_version_and_first_bad_key)
{
	rill_config config;
	rill_config_init(&config);
	config.version = 0;
	ck_assert_int_eq(rill_config_validate(&config), RILL_EVERSION);
	ck_assert_str_eq(rill_errmsg(), "config version 0 not supported (expected 1)");
	config.version = RILL_CONFIG_VERSION + 1;
	ck_assert_int_eq(rill_config_validate(&config), RILL_EVERSION);

	/* Two bad fields: the first in key order is named. */
	rill_config_init(&config);
	config.flush_ms = -5;
	config.segment_ms = 0;
	ck_assert_int_eq(rill_config_validate(&config), RILL_EINVAL);
	ck_assert_str_eq(rill_errmsg(),
	                 "config segment.ms=0: out of range [1, 9223372036854775807]");

	/* Enum and boolean fields out of their sets. */
	rill_config_init(&config);
	config.compression_type = 1; /* Kafka's gzip: not supported */
	ck_assert_int_eq(rill_config_validate(&config), RILL_EINVAL);
	ck_assert_str_eq(rill_errmsg(), "config compression.type=1: expected one of none|zstd");
	rill_config_init(&config);
	config.preallocate = 2;
	ck_assert_int_eq(rill_config_validate(&config), RILL_EINVAL);
	ck_assert_str_eq(rill_errmsg(), "config preallocate=2: expected one of true|false");

	/* A zeroed struct with the right version: segment.bytes is first. */
	memset(&config, 0, sizeof(config));
	config.version = RILL_CONFIG_VERSION;
	ck_assert_int_eq(rill_config_validate(&config), RILL_EINVAL);
	ck_assert_str_eq(rill_errmsg(), "config segment.bytes=0: out of range [4096, 2147483647]");
}
END_TEST

START_TEST(test_mutability)
{
	for (int i = 0; i < SPEC_COUNT; i++)
		ck_assert_msg(rill__config_key_mutable(specs[i].name) == specs[i].is_mutable,
		              "%s mutability", specs[i].name);
	ck_assert(!rill__config_key_mutable("segment.index.bytes"));
	ck_assert(rill__config_key_mutable("retention.ms"));
	ck_assert(!rill__config_key_mutable("foo"));
	ck_assert(!rill__config_key_mutable(""));
}
END_TEST

/* ----------------------------------------------------------- text form */

START_TEST(test_format_defaults_exact)
{
	rill_config config;
	char buf[RILL_CONFIG_TEXT_MAX];
	rill_config_init(&config);
	size_t n = rill__config_format(&config, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(default_text));
	ck_assert_str_eq(buf, default_text);
}
END_TEST

START_TEST(test_format_sizes_like_snprintf)
{
	rill_config config;
	char buf[RILL_CONFIG_TEXT_MAX];
	rill_config_init(&config);
	size_t need = rill__config_format(&config, NULL, 0);
	ck_assert_uint_eq(need, strlen(default_text));

	/* Exactly enough, and one byte short (truncated, still terminated). */
	memset(buf, 'x', sizeof(buf));
	ck_assert_uint_eq(rill__config_format(&config, buf, need + 1), need);
	ck_assert_str_eq(buf, default_text);
	memset(buf, 'x', sizeof(buf));
	ck_assert_uint_eq(rill__config_format(&config, buf, need), need);
	ck_assert_uint_eq(strlen(buf), need - 1);
	ck_assert_int_eq(strncmp(buf, default_text, need - 1), 0);
	ck_assert_int_eq(buf[need], 'x');
	for (size_t size = 1; size < need; size += 7) {
		memset(buf, 'x', sizeof(buf));
		ck_assert_uint_eq(rill__config_format(&config, buf, size), need);
		ck_assert_uint_eq(strlen(buf), size - 1);
		ck_assert_int_eq(buf[size], 'x');
	}
}
END_TEST

/* The widest possible values — even invalid ones a caller poked into the
 * struct — still fit RILL_CONFIG_TEXT_MAX. */
START_TEST(test_format_worst_case_fits)
{
	rill_config config;
	rill_config_init(&config);
	for (int i = 0; i < SPEC_COUNT; i++)
		poke(&config, &specs[i], specs[i].size == sizeof(int64_t) ? INT64_MIN : INT_MIN);
	size_t need = rill__config_format(&config, NULL, 0);
	ck_assert_uint_lt(need, RILL_CONFIG_TEXT_MAX);
	char buf[RILL_CONFIG_TEXT_MAX];
	ck_assert_uint_eq(rill__config_format(&config, buf, sizeof(buf)), need);
	ck_assert(strstr(buf, "segment.bytes=-9223372036854775808\n") != NULL);
	ck_assert(strstr(buf, "compression.type=-2147483648\n") != NULL);
}
END_TEST

START_TEST(test_format_parse_round_trip)
{
	rill_config config, parsed;
	char buf[RILL_CONFIG_TEXT_MAX];

	/* Defaults, every range end, and a non-default everywhere. */
	for (int pass = 0; pass < 3; pass++) {
		rill_config_init(&config);
		for (int i = 0; i < SPEC_COUNT; i++) {
			const key_spec *s = &specs[i];
			if (s->names != NULL && pass > 0) {
				size_t last = 0;
				while (s->names[last + 1] != NULL)
					last++;
				ck_assert_int_eq(rill_config_set(&config, s->name, s->names[last]), 0);
			} else if (s->names == NULL && pass > 0) {
				poke(&config, s, pass == 1 ? s->min : s->max);
			}
		}
		ck_assert_int_eq(rill_config_validate(&config), 0);
		size_t n = rill__config_format(&config, buf, sizeof(buf));
		memset(&parsed, 0, sizeof(parsed));
		ck_assert_msg(rill__config_parse(&parsed, buf, n) == 0, "%s", rill_errmsg());
		ck_assert_int_eq(memcmp(&parsed, &config, sizeof(config)), 0);
	}
}
END_TEST

START_TEST(test_parse_comments_whitespace_defaults)
{
	static const char text[] =
		"# topic config, hand-edited\n"
		"\n"
		"   \t\n"
		"  segment.bytes =  8192  \n"
		"\t# indented comment\n"
		"compression.type\t=\tzstd\r\n"
		"durability=interval\n"
		"retention.ms=-1"; /* no final newline */
	rill_config config, expected;

	rill_config_init(&expected);
	expected.segment_bytes = 8192;
	expected.compression_type = RILL_COMPRESSION_ZSTD;
	expected.durability = RILL_DURABILITY_INTERVAL;
	expected.retention_ms = -1;
	ck_assert_msg(rill__config_parse(&config, text, strlen(text)) == 0, "%s", rill_errmsg());
	ck_assert_int_eq(memcmp(&config, &expected, sizeof(config)), 0);

	/* Empty text (or NULL with length 0), only comments: all defaults. */
	rill_config_init(&expected);
	ck_assert_int_eq(rill__config_parse(&config, "", 0), 0);
	ck_assert_int_eq(memcmp(&config, &expected, sizeof(config)), 0);
	ck_assert_int_eq(rill__config_parse(&config, NULL, 0), 0);
	ck_assert_int_eq(memcmp(&config, &expected, sizeof(config)), 0);
	ck_assert_int_eq(rill__config_parse(&config, "#x\n\n#y", 6), 0);
	ck_assert_int_eq(memcmp(&config, &expected, sizeof(config)), 0);
}
END_TEST

/* The text need not be NUL-terminated: only len bytes are read. */
START_TEST(test_parse_reads_only_len)
{
	static const char text[] = "segment.bytes=8192999\nfoo=1\n";
	rill_config config;
	ck_assert_int_eq(rill__config_parse(&config, text, strlen("segment.bytes=8192")), 0);
	ck_assert_int_eq(config.segment_bytes, 8192);
}
END_TEST

typedef struct parse_failure {
	const char *text;    /* NUL-terminated here, passed with its length */
	int code;            /* expected error */
	const char *message; /* expected rill_errmsg() */
} parse_failure;

static const parse_failure parse_failures[] = {
	{"segment.bytes=8192\n\nfoo=1\n", RILL_ENOTFOUND,
	 "config line 3: unknown config key 'foo'"},
	{"# c\nsegment.bytes=abc\n", RILL_EINVAL,
	 "config line 2: segment.bytes=abc: not an integer"},
	{"segment.bytes=1\n", RILL_EINVAL,
	 "config line 1: segment.bytes=1: out of range [4096, 2147483647]"},
	{"a\nb\nc\nsegment.bytes\n", RILL_EINVAL, "config line 1: expected key=value"},
	{"\n\n\n   segment.bytes 4096\n", RILL_EINVAL,
	 "config line 4: expected key=value"},
	{"=4096\n", RILL_EINVAL, "config line 1: expected key=value"},
	{"segment.bytes=\n", RILL_EINVAL,
	 "config line 1: segment.bytes=: not an integer"},
	{"segment.bytes=8192\nsegment.bytes=8192\n", RILL_EINVAL,
	 "config line 2: duplicate key 'segment.bytes'"},
	{"compression.type=zstd # fast\n", RILL_EINVAL,
	 "config line 1: compression.type=zstd # fast: expected one of none|zstd"},
	{"Compression.Type=zstd\n", RILL_ENOTFOUND,
	 "config line 1: unknown config key 'Compression.Type'"},
	{"segment.bytes=+8192\n", RILL_EINVAL,
	 "config line 1: segment.bytes=+8192: not an integer"},
	{"segment.ms=99999999999999999999\n", RILL_EINVAL,
	 "config line 1: segment.ms=99999999999999999999: out of range [1, 9223372036854775807]"},
	{"segment.bytes=123456789012345678901234\n", RILL_EINVAL,
	 "config line 1: segment.bytes=12345678901234567890...: value too long"},
	{"flush.ms=1\r\nflush.ms: 2\r\n", RILL_EINVAL, "config line 2: expected key=value"},
};

START_TEST(test_parse_failures)
{
	const parse_failure *f = &parse_failures[_i];
	rill_config config, before;
	memset(&config, 0x5a, sizeof(config));
	before = config;
	ck_assert_int_eq(rill__config_parse(&config, f->text, strlen(f->text)), f->code);
	ck_assert_str_eq(rill_errmsg(), f->message);
	ck_assert_msg(memcmp(&config, &before, sizeof(config)) == 0,
	              "failed parse wrote *out");
}
END_TEST

START_TEST(test_parse_nul_and_size_limits)
{
	static const char with_nul[] = "segment.bytes=8192\nflush.ms=1\0\n";
	rill_config config;
	ck_assert_int_eq(rill__config_parse(&config, with_nul, sizeof(with_nul) - 1),
	                 RILL_EINVAL);
	ck_assert_str_eq(rill_errmsg(), "config line 2: NUL byte");

	static char big[RILL_CONFIG_PARSE_BYTES_MAX + 2];
	memset(big, '\n', sizeof(big));
	ck_assert_int_eq(rill__config_parse(&config, big, RILL_CONFIG_PARSE_BYTES_MAX), 0);
	ck_assert_int_eq(rill__config_parse(&config, big, RILL_CONFIG_PARSE_BYTES_MAX + 1),
	                 RILL_EINVAL);

	/* A long unknown key is named, shortened. */
	char line[512];
	memset(line, 'k', 400);
	memcpy(line + 400, "=1\n", 4);
	ck_assert_int_eq(rill__config_parse(&config, line, strlen(line)), RILL_ENOTFOUND);
	ck_assert_int_lt(strlen(rill_errmsg()), 200);
}
END_TEST

/* Found by the Makefile (suites.h); the prototype satisfies
 * -Wmissing-prototypes. */
Suite *config_suite(void);
Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("keys");
	tcase_add_loop_test(tc, test_key_default_and_range, 0, SPEC_COUNT);
	tcase_add_loop_test(tc, test_validate_each_field, 0, SPEC_COUNT);
	tcase_add_loop_test(tc, test_get_set_round_trip, 0, SPEC_COUNT);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_key_listing);
	tcase_add_test(tc, test_named_values_map_to_enums);
	tcase_add_test(tc, test_documented_messages);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_null_arguments);
	tcase_add_test(tc, test_get_truncates);
	tcase_add_test(tc, test_validate_version_and_first_bad_key);
	tcase_add_test(tc, test_mutability);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_test(tc, test_format_defaults_exact);
	tcase_add_test(tc, test_format_sizes_like_snprintf);
	tcase_add_test(tc, test_format_worst_case_fits);
	tcase_add_test(tc, test_format_parse_round_trip);
	tcase_add_test(tc, test_parse_comments_whitespace_defaults);
	tcase_add_test(tc, test_parse_reads_only_len);
	tcase_add_loop_test(tc, test_parse_failures, 0,
	                    (int)(sizeof(parse_failures) / sizeof(parse_failures[0])));
	tcase_add_test(tc, test_parse_nul_and_size_limits);
	suite_add_tcase(s, tc);
	return s;
}
