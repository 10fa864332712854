# ugains — build, test, sanitize, fuzz, bench.
#
#   make deps        install the Debian packages the build needs (root or sudo)
#   make             build/bin/ugains
#   make test        build and run every Check suite (tests/test_*.c)
#   make sanitize    the same tests under ASan + UBSan (build/san)
#   make fuzz        libFuzzer targets tests/fuzz/fuzz_*.c with clang (build/fuzz)
#   make format      clang-format every C source in place (.clang-format)
#   make format-check  fail when a C source differs from clang-format's output (CI runs it)
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

# Keep test objects between runs (they are intermediates of the test binaries).
.SECONDARY:

.PHONY: all deps test tests sanitize fuzz fuzz-targets format format-check clean
all: $(BUILD)/bin/ugains

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/ugains: $(APP_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(APP_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(HELPER_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(HELPER_OBJ) $(LIB) $(CHECK_LIBS) $(LDLIBS) -o $@

tests: $(TEST_BIN) $(BUILD)/bin/ugains

# The CLI tests run build/bin/ugains; UGAINS_BIN tells them where it is.
test: tests
	UGAINS_BIN=$(BUILD)/bin/ugains sh tests/run_all.sh $(TEST_BIN)

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
              weights-tools/*.[ch] apps/*.[ch] bench/*.[ch] tests/*.[ch] tests/fuzz/*.[ch]))
CLANG_FORMAT ?= clang-format

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files clean"

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(HELPER_OBJ:.o=.d) $(TEST_SRC:%.c=$(BUILD)/%.d)
