// tests/temp_dir.h — a fresh directory under /tmp for a test's files, removed with everything in it when the
// test ends.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/error.h"

namespace tern::testing {

class TempDir {
public:
    TempDir() {
        char name[] = "/tmp/tern-test-XXXXXX";
        TERN_CHECK(::mkdtemp(name), "cannot create a temporary directory under /tmp");
        path_ = name;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

}  // namespace tern::testing
