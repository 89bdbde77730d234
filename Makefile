# mva - multivariate analysis of XRF maps.  See README.md.
#   make            library (static + shared), tools, sample generator
#   make test       unit tests (cmocka) and command-line tests
#   make demo       install missing build dependencies (as root), build, generate the
#                   sample map, run mva-pca on it
#   make bench      benchmarks (prints figures)
#   make sanitize   build and test with AddressSanitizer + UBSan
#   make valgrind   unit tests and a subset of the command-line tests under valgrind memcheck
#   make fuzz       libFuzzer targets (clang), each run FUZZ_SECONDS (default 60)
#   make install PREFIX=/usr/local   (also the Python package, for $(PYTHON))

PREFIX  ?= /usr/local
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -g

PKGS     := hdf5-serial lapacke openblas zlib libpng
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) gsl 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
              $(shell pkg-config --define-variable=GSL_CBLAS_LIB= --libs gsl 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

CPPFLAGS += -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
CFLAGS   += -std=c11 $(OPT) -Wall -Wextra -Werror -fPIC -pthread -MMD -MP $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -pthread -lm

VERSION := $(shell sed -n 's/^\#define MVA_VERSION_STRING "\(.*\)"/\1/p' include/mva/error.h)

LIB_SRC  := $(wildcard src/*.c io/*.c results/*.c roi/*.c pca/*.c nmf/*.c cluster/*.c report/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(wildcard tools/mva-*.c)
TOOLS    := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
TOOL_LIB := $(BUILD)/tools/cli.o $(BUILD)/tools/pca_tool.o $(BUILD)/tools/pca_unmix.o
GEN      := $(BUILD)/bin/mva-gen
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_LIB := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/util/*.c))
STATIC   := $(BUILD)/lib/libmva.a
SHARED   := $(BUILD)/lib/libmva.so

.PHONY: all test test-deps demo bench sanitize valgrind fuzz fuzz-build install clean deps check-deps
# Keep the objects make builds on the way (tools/cli.o is also linked by the fuzz replays).
.SECONDARY:
all: check-deps $(STATIC) $(SHARED) $(TOOLS) $(GEN)

check-deps:
	@pkg-config --exists $(PKGS) gsl || { \
	  echo "missing build dependencies: run ./scripts/deps.sh as root (it lists them)"; exit 1; }

deps:
	./scripts/deps.sh

# Short lines by default; make V=1 shows the commands.
$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The readers' decode loops (unshuffle, conversion to and from double, the spill's) are
# vectorized at -O3 only: 5% less CPU per pass over a gzip map.  (An OPT given on the command
# line, as the sanitizer builds do, still wins.)
$(BUILD)/io/hdf5.o $(BUILD)/io/hdf5_direct.o $(BUILD)/io/inflate.o $(BUILD)/io/edf.o $(BUILD)/io/edf_header.o \
$(BUILD)/src/spill.o $(BUILD)/src/dtype.o: OPT += -O3

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libmva.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(TOOL_LIB) $(STATIC)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(GEN): $(BUILD)/samples/mva-gen.o $(patsubst %.c,$(BUILD)/%.o,$(wildcard samples/gen/*.c)) $(STATIC)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(TEST_CFLAGS) -c $< -o $@

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_LIB) $(STATIC)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

test: test-deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@./tests/run.sh $(BUILD)

test-deps:
	@./scripts/deps.sh --test

demo:
	@./scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh $(BUILD)

bench: all
	@./bench/bench.sh $(BUILD)

# The test scripts that compile against the library add MVA_LINK_EXTRA to their link lines.
sanitize:
	MVA_LINK_EXTRA="-fsanitize=address,undefined" $(MAKE) BUILD=build-san \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" test


# Memcheck: every tool is replaced by a wrapper that runs it under valgrind, and the
# command-line tests are pointed at the wrappers through MVA_BIN.  Each run logs to its own
# file (empty with -q unless memcheck found something), so errors are caught even where a
# test expects the tool to fail.  VG_TESTS picks the scripts (the long ones are left out).
VALGRIND ?= valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite -q
VG_TESTS ?= tests/cli/test_tools.sh tests/cli/test_compress.sh $(wildcard tests/cli/test_faults.sh)
# test_igram and test_pca check numerics on matrices large enough to exercise every path of
# the exact Gram (10 s and 4 s natively, far over ten minutes under memcheck): they run under
# ASan + UBSan in make sanitize instead.
VG_UNIT  ?= $(filter-out $(BUILD)/tests/test_igram $(BUILD)/tests/test_pca,$(TESTS))
VG_DIR   := $(BUILD)/vg-bin
valgrind:
	@$(MAKE) --no-print-directory all $(TESTS)
	@rm -rf $(VG_DIR) && mkdir -p $(VG_DIR)/log
	@for t in $(TOOLS) $(GEN); do w=$(VG_DIR)/$$(basename $$t); \
	  printf '#!/bin/sh\nexec %s --log-file=%s/%%p.log %s "$$@"\n' '$(VALGRIND)' \
	    "$(CURDIR)/$(VG_DIR)/log" "$(CURDIR)/$$t" >$$w && chmod +x $$w; done
	@failed=""; export OPENBLAS_NUM_THREADS=1; \
	for t in $(VG_UNIT); do echo "== valgrind $$t"; \
	  $(VALGRIND) --log-file=$(VG_DIR)/log/unit-%p.log $$t >$(VG_DIR)/unit.out 2>&1 || \
	    { tail -20 $(VG_DIR)/unit.out; failed="$$failed $$t"; }; done; \
	for t in $(VG_TESTS); do echo "== valgrind $$t"; \
	  MVA_BIN=$(CURDIR)/$(VG_DIR) BUILD=$(BUILD) sh $$t || failed="$$failed $$t"; done; \
	for l in $(VG_DIR)/log/*.log; do [ -s "$$l" ] || continue; cat "$$l"; failed="$$failed $$l"; done; \
	if [ -n "$$failed" ]; then echo "valgrind FAILED:$$failed"; exit 1; fi; \
	echo "valgrind: no memcheck errors, no definite leaks"

# libFuzzer (clang, with libclang-rt-dev): the library and tools/cli.o are rebuilt with
# coverage + ASan + UBSan under $(FUZZ_DIR)/obj; each target in fuzz/ runs FUZZ_SECONDS on a
# corpus under $(FUZZ_DIR)/corpus/ seeded from fuzz/seeds/ and tests/regress/.  A crash stops
# the run and leaves its input in $(FUZZ_DIR)/crash-TARGET-*: fix it, then copy the input to
# tests/regress/TARGET/ so that every `make test` replays it (tests/cli/test_regress.sh).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= edf spec options hdf5
FUZZ_DIR     := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_FLAGS   ?= -max_len=4096 -timeout=20 -rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR)/obj CC=$(FUZZ_CC) \
	  OPT="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	  $(FUZZ_DIR)/obj/lib/libmva.a $(FUZZ_DIR)/obj/tools/cli.o
	@for t in $(FUZZ_TARGETS); do echo "  LD      $(FUZZ_DIR)/fuzz_$$t"; \
	  $(FUZZ_CC) $(CPPFLAGS) -Itools -std=c11 -O1 -g -Wall -Wextra -Werror $(PKG_CFLAGS) \
	    $(FUZZ_SAN) -fsanitize=fuzzer fuzz/fuzz_$$t.c $(FUZZ_DIR)/obj/tools/cli.o \
	    $(FUZZ_DIR)/obj/lib/libmva.a $(LDLIBS) -o $(FUZZ_DIR)/fuzz_$$t || exit 1; done

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do c=$(FUZZ_DIR)/corpus/$$t; mkdir -p $$c; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s (corpus $$c)"; \
	  $(FUZZ_DIR)/fuzz_$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=$(FUZZ_DIR)/crash-$$t- $$c fuzz/seeds/$$t $$(ls -d tests/regress/$$t 2>/dev/null) \
	    >$(FUZZ_DIR)/fuzz_$$t.log 2>&1 || { tail -60 $(FUZZ_DIR)/fuzz_$$t.log; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss)|cov:' \
	    $(FUZZ_DIR)/fuzz_$$t.log | tail -4; done

# MPI builds of mva-pca, mva-roi, mva-nmf (issue 9) and mva-cluster (issue 18): make MPI=1 adds
# build/bin/mva-pca-mpi, mva-roi-mpi, mva-nmf-mpi and mva-cluster-mpi, each rank streaming its
# own slab of pixels; make MPI=1 test-mpi
# runs them under mpirun against the single-process tools.  Only mpi/ includes mpi.h; the library is
# the same libmva.a.  Needs libopenmpi-dev and openmpi-bin.
MPICC     ?= mpicc
MPI_TOOLS := $(BUILD)/bin/mva-pca-mpi $(BUILD)/bin/mva-roi-mpi $(BUILD)/bin/mva-nmf-mpi \
             $(BUILD)/bin/mva-cluster-mpi
ifeq ($(MPI),1)
.PHONY: mpi-tools test-mpi install-mpi
all: mpi-tools
mpi-tools: $(MPI_TOOLS)

$(BUILD)/mpi/%.o: mpi/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  MPICC   $<")
	$(Q)$(MPICC) $(CPPFLAGS) -Itools $(CFLAGS) -c $< -o $@

# A tool's body without its main (-DMVA_ROI_NO_MAIN for tools/mva-roi.c, ...), linked with
# its MPI entry point mpi/mva-X-mpi.c.
$(BUILD)/mpi/mva-%-nomain.o: tools/mva-%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (no main)")
	$(Q)$(CC) $(CPPFLAGS) -DMVA_$(shell echo '$*' | tr a-z A-Z)_NO_MAIN $(CFLAGS) -c $< -o $@

$(BUILD)/bin/mva-%-mpi: $(BUILD)/mpi/mva-%-mpi.o $(BUILD)/mpi/mva-%-nomain.o \
                        $(BUILD)/mpi/mpi_glue.o $(TOOL_LIB) $(STATIC)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  MPILD   $@")
	$(Q)$(MPICC) $(CFLAGS) -o $@ $^ $(LDLIBS)

test-mpi: all
	@sh tests/mpi/test_mpi.sh $(BUILD)

install: install-mpi
install-mpi: $(MPI_TOOLS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(MPI_TOOLS) $(DESTDIR)$(PREFIX)/bin/
else
test-mpi:
	@echo "test-mpi needs the MPI build: make MPI=1 test-mpi"; exit 1
endif


# The Python package (python/mva, ctypes over libmva): for Debian's python3, into the
# dist-packages directory that python3 searches for PREFIX (/usr: /usr/lib/python3/dist-packages;
# /usr/local and others: PREFIX/lib/python3.X/dist-packages), with the installed library's path
# recorded in mva/_installed.py.  In the source tree: PYTHONPATH=python after make.
PYTHON  ?= /usr/bin/python3
PY_SITE  = $(shell $(PYTHON) -c 'import sys, sysconfig; p = sys.argv[1].rstrip("/") or "/";   print(sysconfig.get_path("purelib", "deb_system", vars={"base": p}) if p == "/usr" and   "deb_system" in sysconfig.get_scheme_names() else   "%s/lib/python%d.%d/dist-packages" % ((p,) + sys.version_info[:2]))' '$(PREFIX)')
.PHONY: install-python
install: install-python
install-python:
	install -d $(DESTDIR)$(PY_SITE)/mva
	install -m 644 python/mva/*.py $(DESTDIR)$(PY_SITE)/mva/
	printf '"""Written by make install."""\nLIBRARY = "%s"\n' '$(PREFIX)/lib/libmva.so.0' \
	  > $(DESTDIR)$(PY_SITE)/mva/_installed.py
	@echo "python package installed in $(PY_SITE)/mva"

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/mva \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/mva.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/mva/*.h $(DESTDIR)$(PREFIX)/include/mva/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libmva.so.0
	ln -sf libmva.so.0 $(DESTDIR)$(PREFIX)/lib/libmva.so
	install -m 755 $(TOOLS) $(GEN) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' mva.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mva.pc

clean:
	rm -rf $(BUILD) build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
