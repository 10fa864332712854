# ugains — build, test, sanitize, fuzz, bench.
#
#   make deps        install the Debian packages the build needs (root or sudo)
#   make             build/bin/ugains
#   make test        build and run every Check suite (tests/test_*.c)
#   make sanitize    the same tests under ASan + UBSan (build/san)
#   make fuzz        libFuzzer targets tests/fuzz/fuzz_*.c with clang (build/fuzz)
#   make format      clang-format every C source in place (.clang-format)
#   make format-check  fail when a C source differs from clang-format's output (CI runs it)
#   make install     libugains.a, libugains.so.X.Y.Z, ugains.h, ugains.pc and the ugains binary
#                    into PREFIX (/usr/local), staged under DESTDIR if set (docs/LIBRARY.md)
#   make examples    build/bin/ugains_demo, the example of the public API (apps/examples/)
#
# BUILD=dir puts every object elsewhere (parallel builds in one tree).

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
ARCH    ?= -march=x86-64-v3
CFLAGS  := -std=c11 $(OPT) $(ARCH) -g -Wall -Wextra -Wshadow -Wno-unused-parameter \
           -D_GNU_SOURCE -I. -pthread $(EXTRA_CFLAGS)
# Files named *_avx512.c hold AVX-512 kernels, chosen at run time (engine/cpu.h).
AVX512  := -mavx512f -mavx512bw -mavx512dq -mavx512vl
LDFLAGS += $(EXTRA_LDFLAGS)
LDLIBS  := -lpng -ljpeg -lz -lm -pthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

LIB_SRC    := $(wildcard engine/*.c ops/*.c models/*.c pipeline/*.c eval/*.c weights-tools/*.c)
APP_SRC    := $(wildcard apps/*.c bench/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
HELPER_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

LIB        := $(BUILD)/libugains.a
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
APP_OBJ    := $(APP_SRC:%.c=$(BUILD)/%.o)
HELPER_OBJ := $(HELPER_SRC:%.c=$(BUILD)/%.o)
TEST_BIN   := $(TEST_SRC:%.c=$(BUILD)/%)
FUZZ_BIN   := $(FUZZ_SRC:%.c=$(BUILD)/%)

# The version is written once, in include/ugains.h (UGAINS_VERSION_MAJOR/MINOR/PATCH); the CLI's
# --version, the shared library's name and its soname all come from there.
ugains_ver  = $(shell sed -n 's/^.define UGAINS_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' include/ugains.h)
VERSION_MAJOR := $(call ugains_ver,MAJOR)
VERSION_MINOR := $(call ugains_ver,MINOR)
VERSION_PATCH := $(call ugains_ver,PATCH)
VERSION    := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME     := libugains.so.$(VERSION_MAJOR)
# The shared library: the library sources again, position independent, in their own object
# folder ($(BUILD)/pic), exporting only the UGAINS_API functions of include/ugains.h. Built
# only by `make install` and for the test that installs it.
SO         := $(BUILD)/libugains.so.$(VERSION)
PIC_OBJ    := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
PIC_CFLAGS := -fPIC -fvisibility=hidden
PREFIX     ?= /usr/local
DESTDIR    ?=

# Keep test objects between runs (they are intermediates of the test binaries).
.SECONDARY:

.PHONY: all deps test tests sanitize fuzz fuzz-targets format format-check clean install uninstall examples
all: $(BUILD)/bin/ugains

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512) -MMD -MP -c $< -o $@

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PIC_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/pic/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PIC_CFLAGS) $(AVX512) -MMD -MP -c $< -o $@

$(SO): $(PIC_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs $(PIC_OBJ) $(LDLIBS) -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/ugains: $(APP_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(APP_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(HELPER_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(HELPER_OBJ) $(LIB) $(CHECK_LIBS) $(LDLIBS) -o $@

# test_install runs `make install BUILD=$(BUILD)` into a tmpdir: what it installs is built first.
$(BUILD)/tests/test_install: $(SO) $(BUILD)/bin/ugains

tests: $(TEST_BIN) $(BUILD)/bin/ugains

# The CLI tests run build/bin/ugains; UGAINS_BIN tells them where it is, UGAINS_BUILD where
# the build folder is (test_install).
test: tests
	UGAINS_BIN=$(BUILD)/bin/ugains UGAINS_BUILD=$(BUILD) sh tests/run_all.sh $(TEST_BIN)

# The example of the public API, built in the tree (the install test builds it against the
# installed library with pkg-config instead).
examples: $(BUILD)/bin/ugains_demo

$(BUILD)/bin/ugains_demo: apps/examples/ugains_demo.c include/ugains.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iinclude $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# pkg-config: Libs for shared linking, Libs.private what static linking adds.
install: $(LIB) $(SO) $(BUILD)/bin/ugains
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libugains.a
	install -m 755 $(SO) $(DESTDIR)$(PREFIX)/lib/libugains.so.$(VERSION)
	ln -sf libugains.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libugains.so
	install -m 644 include/ugains.h $(DESTDIR)$(PREFIX)/include/ugains.h
	printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' 'libdir=$${prefix}/lib' \
	  'includedir=$${prefix}/include' '' 'Name: ugains' \
	  'Description: UGainS anomaly instance segmentation (RbA + Segment Anything) in C' \
	  'Version: $(VERSION)' 'Libs: -L$${libdir} -lugains' \
	  'Libs.private: $(LDLIBS)' 'Cflags: -I$${includedir}' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ugains.pc
	install -m 755 $(BUILD)/bin/ugains $(DESTDIR)$(PREFIX)/bin/ugains

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libugains.a $(DESTDIR)$(PREFIX)/lib/libugains.so.$(VERSION) \
	  $(DESTDIR)$(PREFIX)/lib/$(SONAME) $(DESTDIR)$(PREFIX)/lib/libugains.so \
	  $(DESTDIR)$(PREFIX)/include/ugains.h $(DESTDIR)$(PREFIX)/lib/pkgconfig/ugains.pc \
	  $(DESTDIR)$(PREFIX)/bin/ugains

sanitize:
	$(MAKE) BUILD=build/san OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test

# libFuzzer: the library is rebuilt with clang and fuzzer instrumentation.
fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" fuzz-targets

fuzz-targets: $(FUZZ_BIN)

$(BUILD)/tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer,address,undefined $< $(LIB) $(LDLIBS) -o $@

deps:
	sh tests/install_deps.sh

# Every C source and header of the tree (build outputs excluded).
FORMAT_SRC := $(sort $(wildcard engine/*.[ch] ops/*.[ch] models/*.[ch] pipeline/*.[ch] eval/*.[ch] \
              weights-tools/*.[ch] apps/*.[ch] bench/*.[ch] tests/*.[ch] tests/fuzz/*.[ch] \
              include/*.h apps/examples/*.c))
CLANG_FORMAT ?= clang-format

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files clean"

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(HELPER_OBJ:.o=.d) $(TEST_SRC:%.c=$(BUILD)/%.d) $(PIC_OBJ:.o=.d)
