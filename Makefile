# mva - multivariate analysis of XRF maps.  See README.md.
#   make            library (static + shared), tools, sample generator
#   make test       unit tests (cmocka) and command-line tests
#   make demo       install missing build dependencies (as root), build, generate the
#                   sample map, run mva-pca on it
#   make bench      benchmarks (prints figures)
#   make sanitize   build and test with AddressSanitizer + UBSan
#   make install PREFIX=/usr/local

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

LIB_SRC  := $(wildcard src/*.c io/*.c roi/*.c pca/*.c nmf/*.c report/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(wildcard tools/mva-*.c)
TOOLS    := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
TOOL_LIB := $(BUILD)/tools/cli.o $(BUILD)/tools/pca_tool.o
GEN      := $(BUILD)/bin/mva-gen
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_LIB := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/util/*.c))
STATIC   := $(BUILD)/lib/libmva.a
SHARED   := $(BUILD)/lib/libmva.so

.PHONY: all test test-deps demo bench sanitize install clean deps check-deps
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

$(GEN): $(BUILD)/samples/mva-gen.o $(STATIC)
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
