# guise — rootless containers, images and builds.
#
#   make            build ./guise (release: -O2)
#   make asan       build build/asan/guise with AddressSanitizer + UBSan
#   make check      install missing dependencies (as root), build both, run unit and
#                   integration tests (the integration tests run as an unprivileged user)
#   make bench      run the benchmarks in bench/ and record them in bench/README.md
#   make demo       the main job: an unprivileged image build with apt
#   make format     clang-format every source file
#   make install    install guise, guise-full, man pages and shell completions under
#                   PREFIX (default /usr/local; DESTDIR= for a staging tree)
#   make dist       guise-VERSION.tar.gz, the source tarball of HEAD

.DEFAULT_GOAL := all
CC ?= cc
PKGS := libseccomp libcap libarchive sqlite3 jansson libcurl openssl zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -I. $(WARN) $(PKG_CFLAGS) -MMD -MP
RELEASE_CFLAGS := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
LDLIBS := $(PKG_LIBS) -lpthread

VERSION := 0.1.0
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions

# What cli/main.c compiles in: the version and where make install puts guise-full (its last
# place to look, for when /proc is not mounted).  Rewritten only when a value changes, so that
# `make install PREFIX=...` rebuilds what depends on it and nothing else.
build/config.h: FORCE
	@mkdir -p build
	@printf '#define GUISE_VERSION "%s"\n#define GUISE_LIBEXECDIR "%s"\n' '$(VERSION)' \
	  '$(LIBEXECDIR)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# Layers, lowest first: util <- tracer <- fakefs <- runtime, image <- builder <- cli.
LIB_DIRS := util tracer fakefs runtime image builder
LIB_SRC := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
CLI_SRC := $(wildcard cli/*.c)
CORE_CLI_SRC := cli/run.c cli/fake.c cli/db.c
UNIT_SRC := $(wildcard tests/unit/test_*.c)
HELPER_SRC := $(wildcard tests/helpers/*.c)
# Defined here, before check-run names it as a prerequisite (expanded when read).
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

define variant
$(1)_LIB_OBJ := $$(LIB_SRC:%.c=build/$(1)/%.o)
$(1)_CLI_OBJ := $$(CLI_SRC:%.c=build/$(1)/%.o)
$(1)_UNITS := $$(UNIT_SRC:tests/unit/%.c=build/$(1)/tests/unit/%)

build/$(1)/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $$($(2)) -c $$< -o $$@

build/$(1)/libguise.a: $$($(1)_LIB_OBJ) build/$(1)/gen/fake_filter.o
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^

# The faking supervisor's seccomp program, built with libseccomp when guise is built
# (runtime/fake_filter.h), by a generator linked from the layers it uses.
$(1)_GEN_LINK := $$(filter build/$(1)/util/% build/$(1)/tracer/% build/$(1)/fakefs/%,$$($(1)_LIB_OBJ))

build/$(1)/tools/fake_filter_gen: build/$(1)/tools/fake_filter_gen.o $$($(1)_GEN_LINK)
	$$(CC) $$($(2)) -o $$@ $$^ $$(LDLIBS)

build/$(1)/gen/fake_filter.c: build/$(1)/tools/fake_filter_gen
	@mkdir -p $$(dir $$@)
	$$< >$$@.tmp && mv $$@.tmp $$@

build/$(1)/gen/fake_filter.o: build/$(1)/gen/fake_filter.c
	$$(CC) $$(BASE_CFLAGS) $$($(2)) -c $$< -o $$@

# guise-full: every command.  guise: the container commands only, linked --as-needed so that
# it loads none of the image libraries (see cli/main.c); it runs guise-full for the rest.
$(1)_CORE_OBJ := build/$(1)/cli/main-core.o $$(CORE_CLI_SRC:%.c=build/$(1)/%.o)

build/$(1)/cli/main.o: build/config.h
build/$(1)/cli/main-core.o: cli/main.c build/config.h
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $$($(2)) -DGUISE_CORE -c $$< -o $$@

build/$(1)/guise-full: $$($(1)_CLI_OBJ) build/$(1)/libguise.a
	$$(CC) $$($(2)) -o $$@ $$($(1)_CLI_OBJ) build/$(1)/libguise.a $$(LDLIBS)

build/$(1)/guise: $$($(1)_CORE_OBJ) build/$(1)/libguise.a build/$(1)/guise-full
	$$(CC) $$($(2)) -o $$@ $$($(1)_CORE_OBJ) build/$(1)/libguise.a $$($(1)_CORE_LINK)

build/$(1)/tests/unit/%: build/$(1)/tests/unit/%.o build/$(1)/libguise.a
	$$(CC) $$($(2)) -o $$@ $$< build/$(1)/libguise.a $$(LDLIBS) -lcmocka

-include $$($(1)_LIB_OBJ:.o=.d) $$($(1)_CLI_OBJ:.o=.d) build/$(1)/cli/main-core.d $$($(1)_UNITS:=.d)
-include build/$(1)/tools/fake_filter_gen.d build/$(1)/gen/fake_filter.d
endef

# How guise (the container commands) is linked.  Every `guise run` pays for it at exec, at each
# fork (page tables to copy) and at exit.  Release: static-pie (ASLR kept), no dynamic loader at
# all, ~2.5 ms less per `guise run` here (bench/README.md); the static libraries come with the
# same -dev packages (STATIC=0 links it dynamically).  libsqlite3.a refers to dlopen for SQLite
# extensions, which guise never loads: the linker's warning about dlopen is expected.
# ASan: dynamic (ASan cannot be linked statically), --as-needed.
CORE_PKGS := libseccomp libcap sqlite3 jansson
STATIC ?= 1
ifeq ($(STATIC),1)
release_CORE_LINK := -static-pie $(shell pkg-config --static --libs $(CORE_PKGS) 2>/dev/null)
else
release_CORE_LINK := -Wl,--as-needed $(LDLIBS)
endif
asan_CORE_LINK := -Wl,--as-needed $(LDLIBS)

$(eval $(call variant,release,RELEASE_CFLAGS))
$(eval $(call variant,asan,ASAN_CFLAGS))

# Test helpers (small programs run inside containers) are linked statically so that they
# work in any rootfs, busybox included.
build/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -O2 -static -o $@ $<

HELPERS := $(HELPER_SRC:tests/helpers/%.c=build/helpers/%)

.PHONY: all asan units check deps unit-tests integration-tests bench demo format clean install docs \
        dist FORCE

all: guise

guise: build/release/guise
	ln -sf build/release/guise guise
	ln -sf build/release/guise-full guise-full

asan: build/asan/guise

units: $(release_UNITS) $(asan_UNITS)

deps:
	@bash tests/setup/install-deps.sh

# Dependencies first (a fresh machine lacks the -dev packages the build needs), then the rest
# in a sub-make so that pkg-config is evaluated after the install.
check: deps
	@$(MAKE) --no-print-directory check-run

.PHONY: check-run
check-run: guise asan units $(HELPERS) $(FUZZ_TARGETS)
	@bash tests/run-all.sh

unit-tests: units
	@bash tests/run-all.sh --unit-only

integration-tests: guise asan $(HELPERS)
	@bash tests/run-all.sh --integration-only

bench: guise $(HELPERS)
	@bash bench/run.sh

demo: deps
	@$(MAKE) --no-print-directory guise
	@bash tests/setup/demo.sh

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(UNIT_SRC) $(HELPER_SRC) $(wildcard tools/*.c) \
	  $(wildcard */*.h)

# Man pages and shell completions are made from one source, the --help texts of the built
# binaries (tools/gen-docs.sh; help2man for the pages).
docs: build/docs/.stamp

build/docs/.stamp: build/release/guise build/release/guise-full tools/gen-docs.sh
	bash tools/gen-docs.sh build/release/guise $(VERSION) build/docs
	@touch $@

# guise-full goes where guise looks for it (cli/main.c): PREFIX/libexec/guise/.
install: guise docs
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(LIBEXECDIR)/guise' '$(DESTDIR)$(MANDIR)/man1' \
	  '$(DESTDIR)$(BASHCOMPDIR)' '$(DESTDIR)$(ZSHCOMPDIR)'
	install -m 755 build/release/guise '$(DESTDIR)$(BINDIR)/guise'
	install -m 755 build/release/guise-full '$(DESTDIR)$(LIBEXECDIR)/guise/guise-full'
	install -m 644 build/docs/man1/*.1 '$(DESTDIR)$(MANDIR)/man1/'
	install -m 644 build/docs/guise.bash '$(DESTDIR)$(BASHCOMPDIR)/guise'
	install -m 644 build/docs/_guise '$(DESTDIR)$(ZSHCOMPDIR)/_guise'

dist:
	git archive --format=tar.gz --prefix=guise-$(VERSION)/ -o guise-$(VERSION).tar.gz HEAD

clean:
	rm -rf build guise guise-full

# --- Fuzzing (tests/fuzz/) ------------------------------------------------------------------
# libFuzzer targets, one per parser of outside input (tests/fuzz/fuzz_*.c), built with clang and
# ASan+UBSan against the library sources compiled for coverage in build/fuzz/.
#   make fuzz        run each for FUZZ_SECONDS (60) from a seed corpus (fixtures/ and
#                    tests/fuzz/corpus/); the corpus grows in build/fuzz/corpus/, crashes are
#                    kept in build/fuzz/crashes/
#   make fuzz-smoke  every regression input (tests/fuzz/regressions/TARGET/) and a few seconds
#                    (FUZZ_SMOKE_SECONDS) per target: make check builds them and tests/run-all.sh
#                    runs this smoke, one case per target, so they stay built and working
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# clang counts a variable that only owns a resource (__attribute__((cleanup))) as unused.
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -Wno-unused-variable
# What the parsers need: util, image, the faked-state database, the Containerfile and ignore
# parsers (not the tracer, the runtime nor the rest of the builder).
FUZZ_LIB_SRC := $(foreach d,util image,$(wildcard $(d)/*.c)) fakefs/db.c \
                builder/containerfile.c builder/ignore.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build/fuzz/%.o)

# The library's warnings are gcc's to enforce (release, asan); clang's own (string
# concatenation in arrays, missing field initializers) do not fail this build.  The targets
# themselves are held to -Werror.
build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_CFLAGS) -Wno-error -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libguise.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o build/fuzz/libguise.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libguise.a $(LDLIBS)

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_TARGETS:build/fuzz/%=build/fuzz/tests/fuzz/%.d)

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZ_TARGETS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh fuzz $(FUZZ_TARGETS)

fuzz-smoke: $(FUZZ_TARGETS)
	@FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) bash tests/fuzz/run.sh smoke $(FUZZ_TARGETS)
