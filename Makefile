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
#   make CUDA=1      build/cuda/bin/ugains with the CUDA backend (nvcc, sm_80 + sm_90 + PTX)
#   make CUDA=emu    build/emu/bin/ugains with the same .cu sources built by the host compiler
#                    against the CUDA emulator (tests/cuda_emu/): --device cuda runs on the CPU
#   make cuda-check  every .cu through nvcc for sm_80 and sm_90, warnings as errors, with the
#                    ptxas register / spill / shared-memory lines (CI runs it; no GPU needed)
#   make cuda-report after cuda-check: one line per kernel (sm_90 registers, stack, spills, shared
#                    memory, tensor-core instructions in the PTX); fails on a spill in a hot kernel
#
# BUILD=dir puts every object elsewhere (parallel builds in one tree). `make test` runs the
# plain suites, then the CUDA suites of a CUDA=emu build in $(BUILD)/emu.

CUDA    ?=
ifeq ($(CUDA),emu)
BUILD   ?= build/emu
else ifeq ($(CUDA),1)
BUILD   ?= build/cuda
else
BUILD   ?= build
endif
CC      ?= cc
OPT     ?= -O2
ARCH    ?= -march=x86-64-v3
CFLAGS  := -std=c11 $(OPT) $(ARCH) -g -Wall -Wextra -Wshadow -Wno-unused-parameter \
           -D_GNU_SOURCE -I. -pthread $(EXTRA_CFLAGS)
# Files named *_avx512.c hold AVX-512 kernels, *_avx512bf16.c AVX-512 kernels that also use the
# BF16 dot products (vdpbf16ps); both chosen at run time (engine/cpu.h).
AVX512  := -mavx512f -mavx512bw -mavx512dq -mavx512vl
AVX512BF16 := $(AVX512) -mavx512bf16
LDFLAGS += $(EXTRA_LDFLAGS)
LDLIBS  := -lpng -ljpeg -lz -lm -pthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

LIB_SRC    := $(wildcard engine/*.c ops/*.c models/*.c pipeline/*.c eval/*.c weights-tools/*.c)
APP_SRC    := $(wildcard apps/*.c bench/*.c)
CUDA_TEST_SRC := $(wildcard tests/test_cuda_*.c)
TEST_SRC   := $(filter-out $(CUDA_TEST_SRC),$(wildcard tests/test_*.c))
HELPER_SRC := $(filter-out $(TEST_SRC) $(CUDA_TEST_SRC) tests/cuda_testutil.c,$(wildcard tests/*.c))

# ---- the CUDA backend: ops/cuda/*.cu (kernels + extern "C" entries) and ops/cuda/*.c ----
CU_SRC     := $(wildcard ops/cuda/*.cu bench/*.cu)
CUDA_HOME  ?= /usr/local/cuda
NVCC       ?= $(CUDA_HOME)/bin/nvcc
CXX        ?= g++
NVCC_ARCH  := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
              -gencode arch=compute_90,code=compute_90
NVCCFLAGS  := -std=c++17 -O3 -I. -D_GNU_SOURCE -DUG_HAVE_CUDA --Werror all-warnings \
              -Xcompiler -Wall,-Wextra,-Wno-unused-parameter $(NVCC_ARCH)
ifneq ($(CUDA),)
# Both kinds of CUDA build: the backend's C files join the library, every C file sees
# UG_HAVE_CUDA, and the CUDA suites (tests/test_cuda_*.c) are built and run.
LIB_SRC    += $(wildcard ops/cuda/*.c)
HELPER_SRC += tests/cuda_testutil.c
TEST_SRC   := $(CUDA_TEST_SRC)
CUDA_DEFS  := -DUG_HAVE_CUDA
endif
# The emulator's own suite (planted bugs, schedules) exists only where the emulator does.
ifeq ($(CUDA),1)
TEST_SRC   := $(filter-out tests/test_cuda_emu.c,$(TEST_SRC))
endif
ifeq ($(CUDA),emu)
LIB_SRC    += tests/cuda_emu/emu.c
EMU_TEST_CU := $(wildcard tests/cuda_emu/*.cu)
CUDA_DEFS  += -DUG_CUDA_EMU
# -ffp-contract=off: a * b + c rounds twice, as written, unless a kernel asks for fmaf; the
# host compiler does not know #pragma unroll, which is nvcc's.
CXXFLAGS   := -std=c++17 $(OPT) $(ARCH) -g -Wall -Wextra -Wshadow -Wno-unused-parameter -D_GNU_SOURCE \
              -I. -pthread -fno-exceptions -fno-rtti -ffp-contract=off -Wno-unknown-pragmas $(CUDA_DEFS) \
              $(EXTRA_CFLAGS)
CUDA_LIBS  := -lstdc++
else ifeq ($(CUDA),1)
CUDA_LIBS  := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
CFLAGS     += -I$(CUDA_HOME)/include
endif
CFLAGS     += $(CUDA_DEFS)
LDLIBS     += $(CUDA_LIBS)
CU_OBJ     := $(if $(CUDA),$(CU_SRC:%.cu=$(BUILD)/%.o))
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

LIB        := $(BUILD)/libugains.a
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_OBJ)
APP_OBJ    := $(APP_SRC:%.c=$(BUILD)/%.o)
HELPER_OBJ := $(HELPER_SRC:%.c=$(BUILD)/%.o) $(EMU_TEST_CU:%.cu=$(BUILD)/%.o)
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

.PHONY: all deps test tests sanitize fuzz fuzz-targets format format-check clean install uninstall examples \
        cuda-check cuda-report
all: $(BUILD)/bin/ugains

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512) -MMD -MP -c $< -o $@

$(BUILD)/%_avx512bf16.o: %_avx512bf16.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512BF16) -MMD -MP -c $< -o $@

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PIC_CFLAGS) -MMD -MP -c $< -o $@

ifeq ($(CUDA),emu)
$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -x c++ -MMD -MP -c $< -o $@
else
$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@
endif

# nvcc for both architectures with warnings as errors; ptxas prints each kernel's registers,
# spills and shared memory. Objects go to build/cuda-check (no GPU needed).
cuda-check:
	@for f in $(CU_SRC); do o=build/cuda-check/$${f%.cu}; mkdir -p $$(dirname $$o); \
	  echo "nvcc $$f"; \
	  $(NVCC) $(NVCCFLAGS) -Xptxas -v -c $$f -o $$o.o > $$o.log 2>&1; rc=$$?; \
	  grep -E 'ptxas info *: (Compiling|Used)|spill' $$o.log | sed 's/^/  /'; \
	  if [ $$rc -ne 0 ]; then cat $$o.log; exit 1; fi; done

cuda-report: cuda-check
	@sh bench/cuda_report.sh

$(BUILD)/pic/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PIC_CFLAGS) $(AVX512) -MMD -MP -c $< -o $@

$(BUILD)/pic/%_avx512bf16.o: %_avx512bf16.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PIC_CFLAGS) $(AVX512BF16) -MMD -MP -c $< -o $@

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
ifeq ($(CUDA),)
	$(MAKE) CUDA=emu BUILD=$(BUILD)/emu test
endif

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
              include/*.h apps/examples/*.c ops/cuda/*.[ch] ops/cuda/*.cu ops/cuda/*.cuh \
              tests/cuda_emu/*.[ch] tests/cuda_emu/*.cu bench/*.cu))
CLANG_FORMAT ?= clang-format

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files clean"

clean:
	rm -rf build

-include $(CU_OBJ:.o=.d) $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(HELPER_OBJ:.o=.d) $(TEST_SRC:%.c=$(BUILD)/%.d) $(PIC_OBJ:.o=.d)
