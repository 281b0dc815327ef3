// core/atomic_file.cpp — write-to-temp, fsync, rename: the crash-safe write, plus read_file and the
// writable-directory probe.
#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace tern {

void write_bytes(std::FILE* f, const void* data, size_t size) {
    if (size == 0) return;
    TERN_CHECK(std::fwrite(data, 1, size, f) == size, "short write (" << std::strerror(errno) << ")");
}

// fsync on the directory makes a rename durable. A few filesystems cannot sync a directory and say EINVAL;
// there is nothing more we can do on those, so that one is not an error.
static void sync_directory(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    TERN_CHECK(fd >= 0, "cannot open directory " << dir << " to sync it: " << std::strerror(errno));
    const int rc = ::fsync(fd), err = errno;
    ::close(fd);
    TERN_CHECK(rc == 0 || err == EINVAL, "cannot sync directory " << dir << ": " << std::strerror(err));
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    TERN_CHECK(f, "cannot write " << path << ": cannot create " << tmp << ": " << std::strerror(errno));

    // 1–2. Write and fsync the temp file. On any failure: close it, remove it, report. `path` is untouched.
    try {
        writer(f);
        TERN_CHECK(!std::ferror(f), "write error (" << std::strerror(errno) << ")");
        TERN_CHECK(std::fflush(f) == 0, "flush failed (" << std::strerror(errno) << ")");  // e.g. disk full
        TERN_CHECK(::fsync(::fileno(f)) == 0, "fsync failed (" << std::strerror(errno) << ")");
    } catch (const Error& e) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw Error("cannot write " + path + ": " + e.what());
    } catch (...) {  // the writer's own exception: clean up and let it through unchanged
        std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
    if (std::fclose(f) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        TERN_FAIL("cannot write " << path << ": close failed (" << std::strerror(err) << ")");
    }

    // 3. Replace the target in one step.
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        TERN_FAIL("cannot write " << path << ": rename from " << tmp << " failed (" << std::strerror(err) << ")");
    }

    // 4. Make the rename durable.
    const std::string dir = std::filesystem::path(path).parent_path().string();
    sync_directory(dir.empty() ? "." : dir);
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    TERN_CHECK(f, "cannot open " << path << ": " << std::strerror(errno));
    struct stat st {};
    if (::fstat(::fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        std::fclose(f);
        TERN_FAIL("cannot read " << path << ": not a regular file");
    }
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
    const int err = errno;
    const bool failed = std::ferror(f);
    std::fclose(f);
    TERN_CHECK(got == bytes.size(), "cannot read " << path << ": got " << got << " of " << bytes.size()
                                                   << " bytes (" << (failed ? std::strerror(err) : "file shrank")
                                                   << ")");
    return bytes;
}

int remove_stale_temp_files(const std::string& dir) {
    int removed = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        // "<file>.tmp.<pid>", or the probe file of probe_writable_dir ".tern-write-probe.<pid>"
        const std::string name = entry.path().filename().string();
        const size_t dot = name.rfind('.');
        const bool temp = dot != std::string::npos && dot >= 4 && name.compare(dot - 4, 5, ".tmp.") == 0;
        const bool probe = name.rfind(".tern-write-probe.", 0) == 0 && dot == 17;
        if (!temp && !probe) continue;
        const std::string digits = name.substr(dot + 1);
        if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const pid_t pid = pid_t(std::stol(digits));
        if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // a live (or foreign) writer
        if (std::filesystem::remove(entry.path(), ec)) ++removed;
    }
    return removed;
}

void probe_writable_dir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);  // mkdir -p; no error when it already exists
    TERN_CHECK(!ec, "cannot create output directory " << dir << ": " << ec.message());
    TERN_CHECK(std::filesystem::is_directory(dir, ec), "output path " << dir << " exists but is not a directory");

    const std::string probe = dir + "/.tern-write-probe." + std::to_string(::getpid());
    try {
        write_file_atomic(probe, [](std::FILE* f) { write_bytes(f, "ok\n", 3); });
    } catch (const Error& e) {
        throw Error("output directory " + dir + " is not writable: " + e.what());
    }
    std::remove(probe.c_str());
}

}  // namespace tern
