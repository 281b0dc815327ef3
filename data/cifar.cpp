// data/cifar.cpp — reading the CIFAR binary files (see cifar.h for the format) and CifarDataset.
#include "data/cifar.h"

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace tern {
namespace fs = std::filesystem;

namespace {

const char* kind_name(CifarKind kind) { return kind == CifarKind::Cifar10 ? "CIFAR-10" : "CIFAR-100"; }

std::string download_hint(CifarKind kind) {
    return std::string("download the \"") + kind_name(kind) +
           " binary version\" from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it there";
}

// The files of a split, and how many records the official version of each holds (a bound on what we read).
std::vector<std::string> split_files(CifarKind kind, Split split) {
    if (kind == CifarKind::Cifar100) return {split == Split::Train ? "train.bin" : "test.bin"};
    if (split == Split::Test) return {"test_batch.bin"};
    return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"};
}
int64_t max_records(CifarKind kind, Split split) {
    return kind == CifarKind::Cifar100 && split == Split::Train ? 50000 : 10000;
}

// How many records `size` bytes of a `kind` file hold. Throws naming the file if that is not a whole, non-zero
// number of records or is more than `max_count`: checked from the size alone, before anything is allocated.
int64_t record_count(uint64_t size, CifarKind kind, int64_t max_count, const std::string& name) {
    const int64_t label_bytes = kind == CifarKind::Cifar100 ? 2 : 1;  // CIFAR-100: [coarse][fine]
    const int64_t record_bytes = label_bytes + kCifarImageBytes;
    TERN_CHECK(size > 0, "cifar: " << name << " is empty");
    TERN_CHECK(size % uint64_t(record_bytes) == 0,
               "cifar: " << name << " has " << size << " bytes, not a whole number of " << record_bytes
                         << "-byte records (" << label_bytes << " label byte(s) + " << kCifarImageBytes
                         << " pixel bytes); truncated, or not a " << kind_name(kind) << " binary file?");
    const uint64_t count = size / uint64_t(record_bytes);
    TERN_CHECK(count <= uint64_t(max_count), "cifar: " << name << " holds " << count << " records, more than the "
                                                       << max_count << " of the official file; wrong file?");
    return int64_t(count);
}

// Appends the records of one file to `data`: the size checked first (record_count), then read whole and parsed.
void read_records(const fs::path& path, int64_t max_count, CifarData& data) {
    const std::string name = path.string();
    std::error_code ec;
    const uintmax_t file_bytes = fs::file_size(path, ec);
    TERN_CHECK(!ec, "cifar: cannot read the size of " << name << ": " << ec.message());
    record_count(file_bytes, data.kind, max_count, name);  // refuse a wrong-sized file before reading it
    const std::vector<uint8_t> bytes = read_file(name);
    parse_cifar_records(bytes.data(), bytes.size(), max_count, name, data);
}

// One name per non-empty line; the class number when the file is absent.
std::vector<std::string> read_class_names(const fs::path& path, int num_classes) {
    std::vector<std::string> names;
    std::ifstream in(path);
    if (!in) {
        for (int i = 0; i < num_classes; ++i) names.push_back(std::to_string(i));
        return names;
    }
    std::string line;
    while (int(names.size()) <= num_classes && std::getline(in, line)) {
        const size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
        if (b != std::string::npos) names.push_back(line.substr(b, e - b + 1));
    }
    TERN_CHECK(int(names.size()) == num_classes, "cifar: " << path.string() << " should list " << num_classes
                                                           << " class names, one per line; found "
                                                           << (int(names.size()) > num_classes ? "more" : "fewer"));
    return names;
}

}  // namespace

void parse_cifar_records(const uint8_t* bytes, size_t size, int64_t max_count, const std::string& name,
                         CifarData& data) {
    const bool c100 = data.kind == CifarKind::Cifar100;
    const int64_t label_bytes = c100 ? 2 : 1;  // CIFAR-100: [coarse][fine]
    const int64_t record_bytes = label_bytes + kCifarImageBytes;
    const int64_t count = record_count(size, data.kind, max_count, name);

    const int64_t first = data.size();
    // Labels first, checked before `data` grows: on an error it is left unchanged.
    std::vector<int32_t> labels(static_cast<size_t>(count));
    for (int64_t r = 0; r < count; ++r) {
        const uint8_t* record = bytes + r * record_bytes;
        if (c100)
            TERN_CHECK(record[0] < 20, "cifar: " << name << " record " << r << ": coarse label "
                                                 << int(record[0]) << " is out of range [0, 20)");
        const int label = record[label_bytes - 1];
        TERN_CHECK(label < data.num_classes(), "cifar: " << name << " record " << r << ": label " << label
                                                         << " is out of range [0, " << data.num_classes() << ")");
        labels[size_t(r)] = label;
    }
    data.labels.insert(data.labels.end(), labels.begin(), labels.end());
    data.images.resize(size_t(first + count) * kCifarImageBytes);
    constexpr int64_t plane = kCifarSide * kCifarSide;  // 1024 bytes per colour plane
    for (int64_t r = 0; r < count; ++r) {
        const uint8_t* planes = bytes + r * record_bytes + label_bytes;  // R plane, G plane, B plane
        uint8_t* hwc = data.images.data() + (first + r) * kCifarImageBytes;
        for (int64_t c = 0; c < kCifarChannels; ++c)
            for (int64_t p = 0; p < plane; ++p) hwc[p * kCifarChannels + c] = planes[c * plane + p];
    }
}

CifarData load_cifar(const std::string& dir, CifarKind kind, Split split) {
    TERN_CHECK(fs::is_directory(dir), "cifar: directory " << dir << " does not exist; " << download_hint(kind));
    CifarData data;
    data.kind = kind;
    data.split = split;
    for (const std::string& file : split_files(kind, split)) {
        const fs::path path = fs::path(dir) / file;
        TERN_CHECK(fs::exists(path), "cifar: missing " << path.string() << "; " << download_hint(kind));
        read_records(path, max_records(kind, split), data);
    }
    const char* names_file = kind == CifarKind::Cifar10 ? "batches.meta.txt" : "fine_label_names.txt";
    data.class_names = read_class_names(fs::path(dir) / names_file, data.num_classes());
    return data;
}

CifarDataset::CifarDataset(CifarData data, CifarOptions options) : data_(std::move(data)), options_(options) {
    TERN_CHECK(int64_t(data_.images.size()) == data_.size() * kCifarImageBytes,
               "CifarDataset: " << data_.images.size() << " pixel bytes do not make " << data_.size()
                                << " images of " << kCifarImageBytes << " bytes");
    TERN_CHECK(options_.pad >= 0, "CifarDataset: padding must be >= 0, got " << options_.pad);
}

int32_t CifarDataset::get(int64_t i, float* out, Rng& rng) const {
    TERN_CHECK(i >= 0 && i < size(), "CifarDataset: index " << i << " out of range [0, " << size() << ")");
    const CropFlip t = options_.augment ? random_crop_flip(rng, options_.pad, /*flip*/ true) : CropFlip{};
    crop_flip_normalize(data_.image(i), kCifarSide, kCifarSide, kCifarChannels, t, options_.norm, out);
    return data_.labels[size_t(i)];
}

std::string CifarDataset::describe() const {
    return std::string(kind_name(data_.kind)) + (data_.split == Split::Train ? " train, " : " test, ") +
           std::to_string(size()) + " images" + (options_.augment ? ", augmented" : "");
}

}  // namespace tern
