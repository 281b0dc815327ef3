// tests/test_atomic_file.cpp — write_file_atomic keeps the old file on every failure; read_file and
// probe_writable_dir report unusable paths clearly.
#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tests/temp_dir.h"

using namespace tern;
using tern::testing::TempDir;

static void write_text(const std::string& path, const std::string& text) {
    write_file_atomic(path, [&](std::FILE* f) { write_bytes(f, text.data(), text.size()); });
}

static std::string read_text(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file(path);
    return std::string(bytes.begin(), bytes.end());
}

static std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
    return names;
}

// The message of the tern::Error that fn throws ("" if it throws none).
template <class Fn>
static std::string error_of(Fn fn) {
    try {
        fn();
    } catch (const tern::Error& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("atomic write replaces the file and leaves no temporary file") {
    TempDir dir;
    write_text(dir / "ckpt.bin", "old");
    write_text(dir / "ckpt.bin", "new contents");
    CHECK(read_text(dir / "ckpt.bin") == "new contents");
    CHECK(files_in(dir.path()) == std::vector<std::string>{"ckpt.bin"});
}

TEST_CASE("atomic write: a writer that throws leaves the previous file intact") {
    TempDir dir;
    write_text(dir / "ckpt.bin", "old");
    auto failing_writer = [](std::FILE* f) {
        write_bytes(f, "half a checkp", 13);
        throw std::runtime_error("simulated crash in the writer");
    };
    CHECK_THROWS_WITH_AS(write_file_atomic(dir / "ckpt.bin", failing_writer), "simulated crash in the writer",
                         std::runtime_error);
    CHECK(read_text(dir / "ckpt.bin") == "old");
    CHECK(files_in(dir.path()) == std::vector<std::string>{"ckpt.bin"});
}

TEST_CASE("atomic write: a short write (disk full) leaves the previous file intact") {
    // A file-size limit makes write() fail with EFBIG once the file reaches 1 KB, as a full disk fails with
    // ENOSPC: the same short write, without needing a full disk. (SIGXFSZ would kill the process; ignore it.)
    TempDir dir;
    write_text(dir / "ckpt.bin", "old");
    rlimit saved{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    rlimit small = saved;
    small.rlim_cur = 1024;
    const auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    const std::vector<char> megabyte(1 << 20, 'x');
    const std::string message = error_of([&] {
        write_file_atomic(dir / "ckpt.bin", [&](std::FILE* f) { write_bytes(f, megabyte.data(), megabyte.size()); });
    });
    setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, saved_handler);

    CHECK(message.find("cannot write " + dir / "ckpt.bin") != std::string::npos);
    CHECK(message.find("File too large") != std::string::npos);
    CHECK(read_text(dir / "ckpt.bin") == "old");
    CHECK(files_in(dir.path()) == std::vector<std::string>{"ckpt.bin"});
}

TEST_CASE("atomic write: a failing rename removes the temporary file") {
    // The target is a non-empty directory, so rename() over it fails after the temp file is complete.
    TempDir dir;
    std::filesystem::create_directory(dir / "ckpt.bin");
    write_text(dir / "ckpt.bin/inside", "x");
    const std::string message = error_of([&] { write_text(dir / "ckpt.bin", "new"); });
    CHECK(message.find("cannot write " + dir / "ckpt.bin") != std::string::npos);
    CHECK(message.find("rename") != std::string::npos);
    CHECK(files_in(dir.path()) == std::vector<std::string>{"ckpt.bin"});
}

TEST_CASE("atomic write into a directory that does not exist names the path and the reason") {
    const std::string message = error_of([] { write_text("/proc/tern-not-writable/ckpt.bin", "x"); });
    CHECK(message.find("cannot write /proc/tern-not-writable/ckpt.bin") != std::string::npos);
    CHECK(message.find("No such file or directory") != std::string::npos);
}

TEST_CASE("read_file reports missing files and directories") {
    TempDir dir;
    const std::string missing = error_of([&] { read_file(dir / "missing.bin"); });
    CHECK(missing == "cannot open " + dir / "missing.bin" + ": No such file or directory");
    CHECK(error_of([&] { read_file(dir.path()); }) == "cannot read " + dir.path() + ": not a regular file");
    write_text(dir / "empty.bin", "");
    CHECK(read_file(dir / "empty.bin").empty());
}

TEST_CASE("probe_writable_dir creates missing directories and leaves nothing behind") {
    TempDir dir;
    probe_writable_dir(dir / "runs/exp1");
    CHECK(std::filesystem::is_directory(dir / "runs/exp1"));
    CHECK(files_in(dir / "runs/exp1").empty());
}

TEST_CASE("probe_writable_dir rejects unwritable and non-directory paths") {
    CHECK(error_of([] { probe_writable_dir("/proc/tern-not-writable"); })
              .find("cannot create output directory /proc/tern-not-writable") != std::string::npos);
    // /proc exists but no regular file can be created in it.
    CHECK(error_of([] { probe_writable_dir("/proc"); }).find("output directory /proc is not writable") !=
          std::string::npos);
    TempDir dir;
    write_text(dir / "a_file", "x");
    CHECK(error_of([&] { probe_writable_dir(dir / "a_file"); }).find(dir / "a_file") != std::string::npos);
}
