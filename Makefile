# tern — build, test and install dependencies.
#   make deps    install the Debian packages tern needs (apt-get; only what is missing)
#   make         build the library, the apps and the tests
#   make test    build and run the test suite (doctest), and the apps it runs
#   make asan    the test suite built with AddressSanitizer + UndefinedBehaviorSanitizer (in .build-asan/)
#   make fuzz    build the libFuzzer harnesses tests/fuzz/fuzz_*.cpp with clang (in .build-fuzz/) and run each
#                for SECS seconds (default 60) on its seed corpus tests/fuzz/corpus/<harness>/
#   make clean   remove build outputs
# Objects and the library go to .build/; programs to apps/ (apps/train_cifar …) and .build/tests/.

CXX      ?= g++
OPT      ?= -O3 -march=native
CXXFLAGS ?= $(OPT) -g -std=c++17 -fopenmp -Wall -Wextra -Wno-unused-parameter
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
CPPFLAGS += -I. -I/usr/include/x86_64-linux-gnu/openblas-openmp -MMD -MP
LDFLAGS  += -fopenmp -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR)
LDLIBS   += -lopenblas -lstb -llzma -lpthread -lm
SANITIZE ?=
CXXFLAGS += $(SANITIZE)
LDFLAGS  += $(SANITIZE)

BUILD    := .build
DEB_PACKAGES := libopenblas-openmp-dev libstb-dev nlohmann-json3-dev doctest-dev liblzma-dev

LIB_SRCS  := $(wildcard core/*.cpp core/ops/*.cpp core/kernels/*.cpp layers/*.cpp optim/*.cpp data/*.cpp \
                        models/*.cpp quant/*.cpp)
APP_SRCS  := $(wildcard apps/*.cpp)
TEST_SRCS := $(wildcard tests/*.cpp)

LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
APP_DIR   ?= apps
APPS      := $(APP_SRCS:apps/%.cpp=$(APP_DIR)/%)
TEST_APPS := $(APP_DIR)/train_cifar
LIB       := $(BUILD)/libtern.a
TEST_BIN  := $(BUILD)/tests/run_tests

.PHONY: all test asan fuzz deps clean
all: $(LIB) $(APPS) $(TEST_BIN)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(APP_DIR)/%: $(BUILD)/apps/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(TEST_BIN): $(TEST_OBJS) $(LIB)
	$(CXX) $(LDFLAGS) $(TEST_OBJS) $(LIB) $(LDLIBS) -o $@

# Tests run from the repository root so that ../shared/data resolves. TEST_ARGS passes doctest options,
# e.g. make test TEST_ARGS='-tc="*conv*"'. The kill-and-resume test runs $(APP_DIR)/train_cifar.
test: $(TEST_BIN) $(TEST_APPS)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} TERN_APP_DIR=$(APP_DIR) \
	    ./$(TEST_BIN) $(TEST_ARGS)

# ---- make asan: the same tests, built (objects, library, apps, test runner) with ASan + UBSan in .build-asan/ -------
# -O1 keeps ASan's reports readable and the build fast. ASAN_SKIP (doctest -tce patterns) leaves out the two
# SIGKILL tests of train_cifar (~135 s under ASan instead of ~14 s; they test kill timing and atomic renames, not
# memory safety, and the third app test still runs the sanitized app end to end) and the page-fault count of
# the allocator test (ASan's shadow memory and quarantine touch new pages by design).
ASAN_BUILD := .build-asan
ASAN_SKIP  ?= *SIGKILL*,*allocates no new memory*
asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MAKE) test BUILD=$(ASAN_BUILD) APP_DIR=$(ASAN_BUILD)/apps OPT='-O1 -march=native' \
	    SANITIZE='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
	    TEST_ARGS='-tce="$(ASAN_SKIP)" $(TEST_ARGS)'

# ---- make fuzz SECS=N: one libFuzzer harness per tests/fuzz/fuzz_*.cpp, never part of `all` or `test` ---------------
# Everything is rebuilt with clang, instrumented for coverage (fuzzer-no-link), ASan and UBSan, in .build-fuzz/.
# stb_image is compiled in from its header (tests/fuzz/stb_image_impl.cpp) so that it is instrumented too.
# Each harness runs SECS seconds at nice 19 on its committed seeds (tests/fuzz/corpus/<harness>/, read-only) plus
# what it finds (.build-fuzz/corpus/<harness>/); crashing inputs go to .build-fuzz/artifacts/. A file
# tests/fuzz/<harness>.dict, if there is one, is passed as a libFuzzer dictionary.
FUZZ_CXX   ?= clang++
FUZZ_BUILD := .build-fuzz
FUZZ_FLAGS := -O1 -g -march=native -std=c++17 -fopenmp -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.cpp)
FUZZERS    := $(FUZZ_SRCS:tests/fuzz/%.cpp=$(FUZZ_BUILD)/%)
FUZZ_LIB   := $(FUZZ_BUILD)/libtern.a
FUZZ_STB   := $(FUZZ_BUILD)/tests/fuzz/stb_image_impl.o
SECS       ?= 60

$(FUZZ_BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -w -c $< -o $@

$(FUZZ_LIB): $(LIB_SRCS:%.cpp=$(FUZZ_BUILD)/%.o)
	rm -f $@ && ar rcs $@ $^

# stb_image 2.27 shifts by more than 31 and overflows ints while decoding some corrupt JPEGs, and calls
# memcpy(NULL, p, 0) for an empty PNG data chunk: undefined behaviour inside Debian's library, harmless in
# practice, that a caller cannot prevent (README.md, "Reliability"). Those three UBSan checks are off for stb
# alone, so that fuzzing goes on; ASan still checks every memory access it makes.
$(FUZZ_STB): tests/fuzz/stb_image_impl.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
	    -fno-sanitize=shift,signed-integer-overflow,nonnull-attribute -w -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_STB) $(FUZZ_LIB)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -Wl,--as-needed \
	    -lopenblas -llzma -lpthread -lm -o $@

fuzz: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do n=$${f##*/}; \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/artifacts; \
	  dict=""; if [ -f tests/fuzz/$$n.dict ]; then dict="-dict=tests/fuzz/$$n.dict"; fi; \
	  echo "== $$n: $(SECS) s"; \
	  OMP_NUM_THREADS=1 nice -n 19 ./$$f $$dict -max_total_time=$(SECS) -timeout=30 -rss_limit_mb=2048 \
	      -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- \
	      $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n; \
	done

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "all dependencies are installed"; fi

clean:
	rm -rf $(BUILD) $(APPS) $(ASAN_BUILD) $(FUZZ_BUILD)

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(APP_SRCS:%.cpp=$(BUILD)/%.d)
-include $(wildcard $(FUZZ_BUILD)/*/*.d $(FUZZ_BUILD)/*/*/*.d)
