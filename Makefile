# rill — top-level Makefile.
#
#   make            library (static + shared), examples, the rill tool, tests
#   make demo       the main job: examples/demo.c on a local store (./demo-store)
#   make test       the Check suite (and the examples' self-checks)
#   make asan       the same tests under AddressSanitizer + UBSan
#   make tsan       the concurrency tests under ThreadSanitizer
#   make bench      the quick benchmark profile (bench/README.md)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make install    PREFIX=/usr/local DESTDIR= : header, libs, rill.pc, rill tool
#
# Quiet by default; V=1 shows every command. Objects live in $(BUILD)
# (build/ by default; sanitizer builds use build/asan, build/tsan).

VERSION_MAJOR := $(shell sed -n 's/^\#define RILL_VERSION_MAJOR \([0-9]*\).*/\1/p' include/rill.h)
VERSION_MINOR := $(shell sed -n 's/^\#define RILL_VERSION_MINOR \([0-9]*\).*/\1/p' include/rill.h)
VERSION_PATCH := $(shell sed -n 's/^\#define RILL_VERSION_PATCH \([0-9]*\).*/\1/p' include/rill.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man

CC ?= cc
BUILD ?= build
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wcast-align -Wformat=2 -Wvla -Wpointer-arith -Wundef -Wwrite-strings \
	-Wno-format-nonliteral
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARNINGS) -Iinclude -MMD -MP -pthread
LIB_CFLAGS := -fPIC -fvisibility=hidden
LIBS := -lzstd -lxxhash -pthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
STATIC_LIB := $(BUILD)/librill.a
SONAME := librill.so.$(VERSION_MAJOR)
SHARED_LIB := $(BUILD)/librill.so.$(VERSION)

# Test support files (simulated I/O, helpers) are tests/*.c that are not
# check_*.c suites; fuzz targets live in tests/fuzz/.
TEST_SUITES := $(filter-out tests/check_main.c,$(wildcard tests/check_*.c))
TEST_SUPPORT := $(filter-out $(TEST_SUITES) tests/check_main.c tests/%_main.c,$(wildcard tests/*.c))
TEST_OBJ := $(TEST_SUITES:%.c=$(BUILD)/%.o) $(TEST_SUPPORT:%.c=$(BUILD)/%.o) $(BUILD)/tests/check_main.o
TEST_BIN := $(BUILD)/tests/check_rill

EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: rill.pc all build deps lib examples test check test-run asan tsan demo bench bench-full fuzz install uninstall clean headertest
.DEFAULT_GOAL := all

# Every entry point checks the build dependencies first: installs them as
# root, or stops with the exact apt-get command to run.
all:
	@sh .ci/deps.sh
	@$(MAKE) --no-print-directory build

deps:
	@sh .ci/deps.sh

build: lib examples $(TEST_BIN)

lib: $(STATIC_LIB) $(SHARED_LIB)

$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(LIB_CFLAGS) -c $< -o $@

# The AVX2 checksum path: only this file may hold AVX2 code (it is called
# after a CPU check). Compilers for other targets reject -mavx2; the file then
# builds its portable stub.
AVX2_FLAG := $(shell $(CC) -mavx2 -x c -c /dev/null -o /dev/null 2>/dev/null && echo -mavx2)
$(BUILD)/lib/checksum_avx2.o: LIB_CFLAGS += $(AVX2_FLAG)

$(STATIC_LIB): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ) lib/rill.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/rill.map \
		-Wl,-z,defs -o $@ $(LIB_OBJ) $(LIBS)
	$(Q)ln -sf librill.so.$(VERSION) $(BUILD)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(BUILD)/librill.so

# ---------------------------------------------------------------- tests
$(BUILD)/tests/suites.h: $(TEST_SUITES)
	@mkdir -p $(dir $@)
	$(Q)sed -n 's/^Suite \*\([a-z0-9_]*_suite\)(void)$$/X(\1)/p' $(TEST_SUITES) | sort > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/check_main.o: tests/check_main.c $(BUILD)/tests/suites.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -Ilib -I$(BUILD)/tests -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -Ilib -Itests -c $< -o $@

$(TEST_BIN): $(TEST_OBJ) $(STATIC_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $(TEST_OBJ) $(STATIC_LIB) $(CHECK_LIBS) $(LIBS)

# ------------------------------------------------------------- examples
$(BUILD)/examples/%: examples/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(STATIC_LIB) $(LIBS)

examples: $(EXAMPLE_BIN)

# test: unit suites, then whatever the fragments add to TEST_EXTRA.
TEST_EXTRA :=
-include examples/examples.mk
-include bench/bench.mk
-include tests/tests.mk

test check:
	@sh .ci/deps.sh
	@$(MAKE) --no-print-directory test-run

test-run: $(TEST_BIN) $(EXAMPLE_BIN) headertest
	@echo "  TEST    $(TEST_BIN)"
	$(Q)TMPDIR=$${TMPDIR:-/tmp} $(TEST_BIN)
	$(Q)for t in $(TEST_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

headertest:
	@mkdir -p $(BUILD)
	$(Q)printf '#include "rill.h"\nint main(void){return rill_version_number()>0?0:1;}\n' > $(BUILD)/headertest.c
	$(Q)$(CC) -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude -fsyntax-only $(BUILD)/headertest.c
	$(Q)printf '#include "rill.h"\nint main(){return rill_version_number()>0?0:1;}\n' > $(BUILD)/headertest.cc
	$(Q)c++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -fsyntax-only $(BUILD)/headertest.cc
	@echo "  HEADER  rill.h compiles alone as C11 -pedantic and as C++"

# The sanitizer builds run the unit suites (not the bench smoke or the
# CLI script, which the plain `make test` covers).
asan:
	@sh .ci/deps.sh
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		build/asan/tests/check_rill
	TMPDIR=$${TMPDIR:-/tmp} build/asan/tests/check_rill

tsan:
	@sh .ci/deps.sh
	$(MAKE) BUILD=build/tsan CFLAGS="-O1 -g -fsanitize=thread" build/tsan/tests/check_rill
	TSAN_OPTIONS="halt_on_error=1" CK_RUN_CASE=$${CK_RUN_CASE:-concurrency} CK_FORK=no build/tsan/tests/check_rill

demo:
	@sh .ci/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/examples/demo
	$(BUILD)/examples/demo ./demo-store

# -------------------------------------------------------------- install
rill.pc: rill.pc.in include/rill.h
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' $< > $@

install: lib examples rill.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 0644 include/rill.h $(DESTDIR)$(INCLUDEDIR)/rill.h
	install -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/librill.a
	install -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/librill.so.$(VERSION)
	ln -sf librill.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/librill.so
	install -m 0644 rill.pc $(DESTDIR)$(PKGCONFIGDIR)/rill.pc
	if [ -x $(BUILD)/examples/rill ]; then install -m 0755 $(BUILD)/examples/rill $(DESTDIR)$(BINDIR)/rill; fi

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/rill.h $(DESTDIR)$(LIBDIR)/librill.* $(DESTDIR)$(PKGCONFIGDIR)/rill.pc $(DESTDIR)$(BINDIR)/rill

clean:
	rm -rf build rill.pc demo-store

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
