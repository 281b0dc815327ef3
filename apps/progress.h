// apps/progress.h — what long-running programs show while they work: a live progress line (rewritten in place on
// a terminal, printed every few seconds into a log), durations as "4m05s", and JSONL metric records.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace tern {

inline std::string format_duration(double seconds) {
    if (!(seconds >= 0) || seconds > 1e7) return "?";
    const long s = long(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%lds", s);
    return buf;
}

class ProgressLine {
public:
    ProgressLine() : tty_(isatty(fileno(stdout))) {}
    // Shows `text` now if on a terminal (at most 10×/s) or every `log_every` seconds otherwise.
    void update(const std::string& text, double log_every = 10.0) {
        const auto now = std::chrono::steady_clock::now();
        const double since = std::chrono::duration<double>(now - last_).count();
        if (tty_ && since >= 0.1) {
            std::printf("\r\033[K%s", text.c_str());
            std::fflush(stdout);
            last_ = now;
            shown_ = true;
        } else if (!tty_ && since >= log_every) {
            std::printf("%s\n", text.c_str());
            std::fflush(stdout);
            last_ = now;
        }
    }
    // Ends the live line so that the next print starts on a fresh line.
    void finish() {
        if (tty_ && shown_) std::printf("\r\033[K");
        shown_ = false;
        std::fflush(stdout);
    }

private:
    bool tty_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point last_{};
};

// Appends one JSON object per line to a file (flushed after each record, so a killed run keeps its history).
class JsonlWriter {
public:
    explicit JsonlWriter(const std::string& path) : path_(path), out_(path, std::ios::app) {
        TERN_CHECK(out_, "cannot open " << path << " for writing");
    }
    void write(const nlohmann::json& record) {
        out_ << record.dump() << "\n";
        out_.flush();
        TERN_CHECK(out_, "writing " << path_ << " failed (disk full?)");
    }

private:
    std::string path_;
    std::ofstream out_;
};

// Rewrites a JSONL file of per-epoch records keeping only the records with "epoch" ≤ last_epoch, in order;
// lines that do not parse (a record cut short by a kill) go too. A run resumed from the checkpoint of epoch k
// calls this with k before it appends epochs k+1…, so that no epoch is listed twice. Atomic
// (core/atomic_file.h); a missing file is left missing.
inline void keep_jsonl_epochs_through(const std::string& path, int64_t last_epoch) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return;
    const std::vector<uint8_t> bytes = read_file(path);
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    std::string kept, line;
    while (std::getline(in, line)) {
        const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (record.is_object() && record.contains("epoch") && record["epoch"].is_number_integer() &&
            record["epoch"].get<int64_t>() <= last_epoch)
            kept += line + "\n";
    }
    write_file_atomic(path, [&](std::FILE* f) { write_bytes(f, kept.data(), kept.size()); });
}

}  // namespace tern
