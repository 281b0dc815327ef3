# tern — build, test and install dependencies.
#   make deps    install the Debian packages tern needs (apt-get; only what is missing)
#   make         build the library, the apps and the tests
#   make test    build and run the test suite (doctest)
#   make clean   remove build outputs
# Objects and the library go to .build/; programs to apps/ (apps/train_cifar …) and .build/tests/.

CXX      ?= g++
OPT      ?= -O3 -march=native
CXXFLAGS ?= $(OPT) -g -std=c++17 -fopenmp -Wall -Wextra -Wno-unused-parameter
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
CPPFLAGS += -I. -I/usr/include/x86_64-linux-gnu/openblas-openmp -MMD -MP
LDFLAGS  += -fopenmp -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR)
LDLIBS   += -lopenblas -lstb -llzma -lpthread -lm

BUILD    := .build
DEB_PACKAGES := libopenblas-openmp-dev libstb-dev nlohmann-json3-dev doctest-dev liblzma-dev

LIB_SRCS  := $(wildcard core/*.cpp core/ops/*.cpp core/kernels/*.cpp layers/*.cpp optim/*.cpp data/*.cpp \
                        models/*.cpp quant/*.cpp)
APP_SRCS  := $(wildcard apps/*.cpp)
TEST_SRCS := $(wildcard tests/*.cpp)

LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
APPS      := $(APP_SRCS:%.cpp=%)
LIB       := $(BUILD)/libtern.a
TEST_BIN  := $(BUILD)/tests/run_tests

.PHONY: all test deps clean
all: $(LIB) $(APPS) $(TEST_BIN)

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

apps/%: $(BUILD)/apps/%.o $(LIB)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(TEST_BIN): $(TEST_OBJS) $(LIB)
	$(CXX) $(LDFLAGS) $(TEST_OBJS) $(LIB) $(LDLIBS) -o $@

# Tests run from the repository root so that ../shared/data resolves. TEST_ARGS passes doctest options,
# e.g. make test TEST_ARGS='-tc="*conv*"'.
test: $(TEST_BIN)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} ./$(TEST_BIN) $(TEST_ARGS)

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
	rm -rf $(BUILD) $(APPS)

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(APP_SRCS:%.cpp=$(BUILD)/%.d)
