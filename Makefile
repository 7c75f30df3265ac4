# Thin wrapper: `make` configures and builds everything into build/.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all test clean demo
all: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/CMakeCache.txt: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

test: all
	cd $(BUILD) && ctest --output-on-failure

clean:
	rm -rf $(BUILD)
