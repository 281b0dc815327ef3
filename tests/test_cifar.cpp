// tests/test_cifar.cpp — CIFAR reading (synthetic files and the real data), the crop/flip/normalize transform,
// and the DataLoader's contract: every sample once per epoch, reproducible order, in-order batches, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <unistd.h>

#include "core/error.h"
#include "data/cifar.h"
#include "data/loader.h"
#include "data/transforms.h"

using namespace tern;
namespace fs = std::filesystem;

namespace {

const std::string kRealCifar10 = "../shared/data/cifar-10-batches-bin";

// A fresh directory under /tmp, removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() / ("tern_cifar_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string str() const { return path.string(); }
    fs::path data_batch(int k) const { return path / ("data_batch_" + std::to_string(k) + ".bin"); }
};

// A recognizable pixel byte for record r, channel c, row y, column x.
uint8_t pixel_byte(int r, int c, int y, int x) { return uint8_t(r * 7 + c * 50 + y * 3 + x); }

// One record as the file stores it: label byte(s), then the R, G and B planes.
std::string record_bytes(std::vector<uint8_t> labels, int r) {
    std::string rec(labels.begin(), labels.end());
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x) rec += char(pixel_byte(r, c, y, x));
    return rec;
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// A CIFAR-10 file of records with the given labels (record r's pixels from pixel_byte(r, ...)).
std::string cifar10_file(const std::vector<int>& labels) {
    std::string bytes;
    for (size_t r = 0; r < labels.size(); ++r) bytes += record_bytes({uint8_t(labels[r])}, int(r));
    return bytes;
}

// The message of the tern::Error that f throws ("" if it throws none).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Reading files

TEST_CASE("cifar: synthetic CIFAR-10 files read back exactly, pixels reordered from planes to HWC") {
    TempDir dir;
    write_file(dir.path / "test_batch.bin", cifar10_file({3, 0, 9}));
    write_file(dir.path / "batches.meta.txt", "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
    const CifarData d = load_cifar(dir.str(), CifarKind::Cifar10, Split::Test);
    REQUIRE(d.size() == 3);
    CHECK(d.labels == std::vector<int32_t>{3, 0, 9});
    CHECK(d.class_names.size() == 10);
    CHECK(d.class_names[3] == "cat");
    bool all_equal = true;  // image r, HWC element (y, x, c) == file byte of plane c at (y, x)
    for (int r = 0; r < 3; ++r)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x)
                for (int c = 0; c < 3; ++c) all_equal &= d.image(r)[(y * 32 + x) * 3 + c] == pixel_byte(r, c, y, x);
    CHECK(all_equal);

    // The training split is the five batches in order.
    for (int k = 1; k <= 5; ++k) write_file(dir.data_batch(k), cifar10_file({k, k}));
    const CifarData train = load_cifar(dir.str(), CifarKind::Cifar10, Split::Train);
    CHECK(train.labels == std::vector<int32_t>{1, 1, 2, 2, 3, 3, 4, 4, 5, 5});
}

TEST_CASE("cifar: synthetic CIFAR-100 files use the fine label, and class names are numbers without a names file") {
    TempDir dir;
    write_file(dir.path / "train.bin", record_bytes({19, 99}, 0) + record_bytes({0, 0}, 1));
    const CifarData d = load_cifar(dir.str(), CifarKind::Cifar100, Split::Train);
    CHECK(d.labels == std::vector<int32_t>{99, 0});
    CHECK(d.image(1)[(5 * 32 + 6) * 3 + 2] == pixel_byte(1, 2, 5, 6));
    REQUIRE(d.class_names.size() == 100);
    CHECK(d.class_names[42] == "42");

    write_file(dir.path / "fine_label_names.txt", "apple\nbaby\n");
    CHECK(error_of([&] { load_cifar(dir.str(), CifarKind::Cifar100, Split::Train); }).find("fine_label_names.txt") !=
          std::string::npos);
}

TEST_CASE("cifar: malformed files throw errors that name the file and what is wrong") {
    TempDir dir;
    const std::string file = (dir.path / "test_batch.bin").string();
    auto load = [&] { load_cifar(dir.str(), CifarKind::Cifar10, Split::Test); };

    // Missing directory and missing file: say which, and where to get the data.
    std::string msg = error_of([&] { load_cifar(dir.str() + "/nowhere", CifarKind::Cifar10, Split::Test); });
    CHECK(msg.find("nowhere") != std::string::npos);
    CHECK(msg.find("https://www.cs.toronto.edu/~kriz/cifar.html") != std::string::npos);
    msg = error_of(load);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find("CIFAR-10 binary version") != std::string::npos);
    for (int k = 1; k <= 4; ++k) write_file(dir.data_batch(k), cifar10_file({0}));
    CHECK(error_of([&] { load_cifar(dir.str(), CifarKind::Cifar10, Split::Train); }).find("data_batch_5.bin") !=
          std::string::npos);

    // Empty file.
    write_file(file, "");
    msg = error_of(load);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find("empty") != std::string::npos);

    // Truncated record: 2 records of 3073 bytes minus 10 = 6136 bytes.
    write_file(file, cifar10_file({1, 2}).substr(0, 6136));
    msg = error_of(load);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find("6136 bytes") != std::string::npos);
    CHECK(msg.find("3073-byte records") != std::string::npos);

    // Extra bytes after the last record.
    write_file(file, cifar10_file({1, 2}) + "xyz");
    msg = error_of(load);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find("6149 bytes") != std::string::npos);

    // Label out of range, in record 1.
    write_file(file, cifar10_file({1, 10, 2}));
    msg = error_of(load);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find("record 1: label 10 is out of range [0, 10)") != std::string::npos);

    // More records than the official file (10,000): refused from the size alone, before reading anything.
    // The file is sparse, so this costs no disk.
    write_file(file, "");
    fs::resize_file(file, 10001 * 3073);
    msg = error_of(load);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find("10001 records") != std::string::npos);

    // CIFAR-100: coarse and fine labels are both checked.
    write_file(dir.path / "test.bin", record_bytes({3, 100}, 0));
    msg = error_of([&] { load_cifar(dir.str(), CifarKind::Cifar100, Split::Test); });
    CHECK(msg.find("test.bin record 0: label 100 is out of range [0, 100)") != std::string::npos);
    write_file(dir.path / "test.bin", record_bytes({20, 1}, 0));
    CHECK(error_of([&] { load_cifar(dir.str(), CifarKind::Cifar100, Split::Test); }).find("coarse label 20") !=
          std::string::npos);
}

TEST_CASE("cifar: the real CIFAR-10 files have the published counts, labels and pixels") {
    if (!fs::exists(kRealCifar10)) {
        MESSAGE("skipped: " << kRealCifar10 << " not found");
        return;
    }
    const CifarData test = load_cifar(kRealCifar10, CifarKind::Cifar10, Split::Test);
    REQUIRE(test.size() == 10000);
    std::vector<int> counts(10, 0);
    for (int32_t l : test.labels) counts[size_t(l)]++;
    CHECK(counts == std::vector<int>(10, 1000));
    CHECK(test.class_names.front() == "airplane");
    CHECK(test.class_names.back() == "truck");

    // Record 0 of test_batch.bin, read with python (bytes 0, 1..4, 1025, 2049, 1024 of the file):
    //   label 3 (cat); R plane starts 158 159 165 166; G and B at (0, 0) are 112 and 49; R at (31, 31) is 21.
    CHECK(test.labels[0] == 3);
    const uint8_t* img = test.image(0);
    CHECK(std::vector<int>{img[0], img[1], img[2]} == std::vector<int>{158, 112, 49});   // pixel (0, 0): R, G, B
    CHECK(std::vector<int>{img[3], img[6], img[9]} == std::vector<int>{159, 165, 166});  // R at x = 1, 2, 3
    CHECK(img[(31 * 32 + 31) * 3] == 21);

    // data_batch_1.bin = training images 0 … 9999; counts from the dataset's PROVENANCE.txt.
    const CifarData train = load_cifar(kRealCifar10, CifarKind::Cifar10, Split::Train);
    REQUIRE(train.size() == 50000);
    std::vector<int> batch1(10, 0), all(10, 0);
    for (int64_t i = 0; i < train.size(); ++i) {
        if (i < 10000) batch1[size_t(train.labels[size_t(i)])]++;
        all[size_t(train.labels[size_t(i)])]++;
    }
    CHECK(batch1 == std::vector<int>{1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981});
    CHECK(all == std::vector<int>(10, 5000));
}

// ---------------------------------------------------------------------------------------------------------
// Transforms

TEST_CASE("cifar transforms: crop/flip index arithmetic") {
    // Crop at offset (0, 0) of the image padded by 4: output (y, x) shows source (y − 4, x − 4), so rows and
    // columns 0..3 are padding and output (4, 4) is source (0, 0); output (31, 31) is source (27, 27).
    const CropFlip corner{0, 0, 4, false};
    CHECK(crop_flip_source(3, 10, corner, 32).y == -1);
    CHECK(crop_flip_source(10, 3, corner, 32).x == -1);
    CHECK(crop_flip_source(4, 4, corner, 32).y == 0);
    CHECK(crop_flip_source(4, 4, corner, 32).x == 0);
    CHECK(crop_flip_source(31, 31, corner, 32).x == 27);
    // Offset (4, 4) is the centre crop: the identity. With the flip, x → 31 − x and y is unchanged.
    const CropFlip centre_flipped{4, 4, 4, true};
    for (int x : {0, 5, 31}) {
        CHECK(crop_flip_source(7, x, centre_flipped, 32).x == 31 - x);
        CHECK(crop_flip_source(7, x, centre_flipped, 32).y == 7);
    }
    // Offset (8, 8) with the flip: output x = 0 shows the crop's last column, source 31 − 0 + 8 − 4 = 35,
    // which is padding; output x = 4 shows source 31.
    const CropFlip far_flipped{8, 8, 4, true};
    CHECK(crop_flip_source(0, 0, far_flipped, 32).x == 35);
    CHECK(crop_flip_source(0, 4, far_flipped, 32).x == 31);
    CHECK(crop_flip_source(0, 0, far_flipped, 32).y == 4);
}

TEST_CASE("cifar transforms: random offsets cover [0, 2·pad] and about half the images are flipped") {
    Rng rng(7);
    std::set<int> offsets;
    int flips = 0;
    for (int i = 0; i < 2000; ++i) {
        const CropFlip t = random_crop_flip(rng, 4, true);
        offsets.insert(t.oy);
        offsets.insert(t.ox);
        flips += t.flip;
    }
    CHECK(offsets == std::set<int>{0, 1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(flips > 900);
    CHECK(flips < 1100);
    CHECK_FALSE(random_crop_flip(rng, 4, false).flip);
}

TEST_CASE("cifar transforms: normalization values, and padding is normalized as a zero byte") {
    // An all-255 3×3 RGB image cropped at (0, 0) with padding 1: row 0 and column 0 are padding.
    // CIFAR stats, red: padding (0 − 0.4914) / 0.2470 = −1.989474, image (1 − 0.4914) / 0.2470 = 2.059109.
    // ImageNet stats, blue: padding −0.406 / 0.225 = −1.804444.
    const std::vector<uint8_t> white(27, 255);
    std::vector<float> out(27);
    crop_flip_normalize(white.data(), 3, 3, 3, CropFlip{0, 0, 1, false}, kCifarStats, out.data());
    CHECK(out[0] == doctest::Approx(-1.989474).epsilon(1e-5));                // (0, 0) R: padding
    CHECK(out[(1 * 3 + 0) * 3] == doctest::Approx(-1.989474).epsilon(1e-5));  // (1, 0) R: padding
    CHECK(out[(1 * 3 + 1) * 3] == doctest::Approx(2.059109).epsilon(1e-5));   // (1, 1) R: source (0, 0)
    crop_flip_normalize(white.data(), 3, 3, 3, CropFlip{0, 0, 1, false}, kImageNetStats, out.data());
    CHECK(out[2] == doctest::Approx(-1.804444).epsilon(1e-5));

    // No normalization is ToTensor alone: byte / 255. Identity crop: a plain copy.
    const std::vector<uint8_t> bytes{0, 51, 255};
    crop_flip_normalize(bytes.data(), 1, 1, 3, CropFlip{}, kNoNormalization, out.data());
    CHECK(out[0] == 0.f);
    CHECK(out[1] == doctest::Approx(0.2f));
    CHECK(out[2] == 1.f);
}

TEST_CASE("cifar dataset: samples are normalized HWC floats; augmentation depends only on the sample's Rng") {
    CifarData data;
    data.images.resize(2 * kCifarImageBytes);
    for (int64_t i = 0; i < int64_t(data.images.size()); ++i) data.images[size_t(i)] = uint8_t(i % 251);
    data.labels = {4, 7};
    std::vector<float> a(kCifarImageBytes), b(kCifarImageBytes);

    CifarDataset plain(data, CifarOptions{false, 4, kNoNormalization});
    Rng rng(1);
    CHECK(plain.get(1, a.data(), rng) == 7);
    CHECK(a[100] == doctest::Approx(float((kCifarImageBytes + 100) % 251) / 255.f));
    CHECK(plain.describe() == "CIFAR-10 train, 2 images");
    CHECK_THROWS_AS(plain.get(2, a.data(), rng), Error);

    CifarDataset augmented(data, CifarOptions{true, 4, kCifarStats});
    Rng r1(mix_seed(5, 0, 1)), r2(mix_seed(5, 0, 1));
    augmented.get(1, a.data(), r1);
    augmented.get(1, b.data(), r2);
    CHECK(a == b);
}

// ---------------------------------------------------------------------------------------------------------
// DataLoader, on a tiny dataset whose sample i is {i, a random number from its Rng}

namespace {

struct CountingDataset : Dataset {
    int64_t n;
    int64_t throw_at = -1;    // get() of this index throws
    int sleep_us = 0;         // per sample, to let threads interleave
    explicit CountingDataset(int64_t n_) : n(n_) {}
    int64_t size() const override { return n; }
    SampleShape sample_shape() const override { return {1, 1, 2}; }
    int32_t get(int64_t i, float* out, Rng& rng) const override {
        TERN_CHECK(i != throw_at, "CountingDataset: sample " << i << " is broken");
        if (sleep_us) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us * (1 + i % 3)));
        out[0] = float(i);
        out[1] = rng.uniform();
        return int32_t(i % 10);
    }
    std::string describe() const override { return "counting"; }
};

struct Epoch {
    std::vector<int64_t> indices;  // in the order delivered
    std::vector<float> values;     // every sample's two floats, in order
    std::vector<int64_t> batch_sizes;
};

Epoch run_epoch(DataLoader& loader, int64_t epoch) {
    Epoch e;
    loader.start_epoch(epoch);
    int64_t expected_step = 0;
    while (auto batch = loader.next()) {
        CHECK(batch->step == expected_step++);  // strictly in order
        const int64_t b = batch->images.size(0);
        e.batch_sizes.push_back(b);
        REQUIRE(int64_t(batch->indices.size()) == b);
        const std::vector<float> v = batch->images.to_vector();
        for (int64_t k = 0; k < b; ++k) {
            CHECK(v[size_t(2 * k)] == float(batch->indices[size_t(k)]));  // image k belongs to indices[k]
            CHECK(batch->labels[size_t(k)] == batch->indices[size_t(k)] % 10);
        }
        e.indices.insert(e.indices.end(), batch->indices.begin(), batch->indices.end());
        e.values.insert(e.values.end(), v.begin(), v.end());
    }
    return e;
}

LoaderOptions options(int64_t batch_size, int workers) {
    LoaderOptions o;
    o.batch_size = batch_size;
    o.workers = workers;
    o.seed = 42;
    return o;
}

std::vector<int64_t> sorted(std::vector<int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}
std::vector<int64_t> range(int64_t begin, int64_t end) {
    std::vector<int64_t> v;
    for (int64_t i = begin; i < end; ++i) v.push_back(i);
    return v;
}

}  // namespace

TEST_CASE("cifar loader: every index once per epoch; the order depends on (seed, epoch), not on the workers") {
    CountingDataset ds(103);
    ds.sleep_us = 20;
    DataLoader one(ds, options(8, 1)), three(ds, options(8, 3)), inline_(ds, options(8, 0));
    const Epoch e0 = run_epoch(three, 0), e1 = run_epoch(three, 1);
    CHECK(sorted(e0.indices) == range(0, 103));
    CHECK(sorted(e1.indices) == range(0, 103));
    CHECK(e0.indices != e1.indices);
    CHECK(e0.values != e1.values);  // augmentation draws differ between epochs too
    CHECK(e0.batch_sizes.size() == 13);  // 12 × 8 + a last batch of 7
    CHECK(e0.batch_sizes.back() == 7);
    CHECK(three.batches_per_epoch() == 13);

    // Same (seed, epoch) → the same batches, bit for bit, with 1, 3 or no worker threads.
    const Epoch again = run_epoch(one, 1), synchronous = run_epoch(inline_, 1);
    CHECK(again.indices == e1.indices);
    CHECK(again.values == e1.values);
    CHECK(synchronous.values == e1.values);

    // shuffle = false: dataset order.
    LoaderOptions o = options(8, 2);
    o.shuffle = false;
    DataLoader ordered(ds, o);
    CHECK(run_epoch(ordered, 3).indices == range(0, 103));
}

TEST_CASE("cifar loader: drop_last and an index range") {
    CountingDataset ds(10);
    LoaderOptions o = options(4, 2);
    o.drop_last = true;
    DataLoader dropping(ds, o);
    const Epoch e = run_epoch(dropping, 0);
    CHECK(e.batch_sizes == std::vector<int64_t>{4, 4});
    CHECK(dropping.batches_per_epoch() == 2);

    o = options(4, 2);
    o.begin = 3;
    o.end = 8;
    DataLoader subset(ds, o);
    CHECK(subset.num_samples() == 5);
    const Epoch s = run_epoch(subset, 0);
    CHECK(sorted(s.indices) == range(3, 8));
    CHECK(s.batch_sizes == std::vector<int64_t>{4, 1});

    o.end = 11;
    CHECK_THROWS_AS(DataLoader(ds, o), Error);
    CHECK_THROWS_AS(DataLoader(ds, options(0, 1)), Error);
    DataLoader not_started(ds, options(4, 1));
    CHECK_THROWS_AS(not_started.next(), Error);
}

TEST_CASE("cifar loader: an exception in a worker surfaces from next(), in order") {
    CountingDataset ds(20);
    ds.throw_at = 7;  // in batch 3 = samples 6, 7 (no shuffle, batches of 2)
    for (int workers : {0, 1, 3}) {
        LoaderOptions o = options(2, workers);
        o.shuffle = false;
        DataLoader loader(ds, o);
        loader.start_epoch(0);
        for (int step = 0; step < 3; ++step) CHECK(loader.next().has_value());
        const std::string msg = error_of([&] { loader.next(); });
        CHECK(msg.find("sample 7 is broken") != std::string::npos);
        CHECK_FALSE(loader.next().has_value());  // the error ended the epoch
    }
}

TEST_CASE("cifar loader: restarting mid-epoch and destroying mid-epoch stop the workers cleanly") {
    CountingDataset ds(200);
    ds.sleep_us = 100;
    LoaderOptions o = options(4, 3);
    o.prefetch = 2;
    {
        DataLoader loader(ds, o);
        loader.start_epoch(0);
        CHECK(loader.next().has_value());
        const Epoch e = run_epoch(loader, 1);  // start_epoch(1) while epoch 0 is in flight
        CHECK(sorted(e.indices) == range(0, 200));
        loader.start_epoch(2);
        loader.next();
    }  // destroyed with workers blocked on a full ring: must not hang
    DataLoader never_read(ds, o);
    never_read.start_epoch(0);  // destroyed while its workers are still filling the ring
}
