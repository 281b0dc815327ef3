// data/cifar.h — CIFAR-10 and CIFAR-100 from the official "binary version" files, and CifarDataset, which
// serves them to the DataLoader with the standard training augmentation.
//
// File format (https://www.cs.toronto.edu/~kriz/cifar.html), one fixed-size record per image:
//   CIFAR-10   data_batch_1.bin … data_batch_5.bin (train), test_batch.bin (test); 10,000 records each of
//              [label byte 0..9][3072 pixel bytes]
//   CIFAR-100  train.bin (50,000 records), test.bin (10,000) of [coarse label 0..19][fine label 0..99][3072]
// The 3072 pixel bytes are the R plane, then G, then B, each 32×32 row-major. We use the fine CIFAR-100
// labels. Class names come from batches.meta.txt (CIFAR-10) or fine_label_names.txt (CIFAR-100), one per line;
// without that file a class is named by its number.
//
// In memory the pixels stay bytes (50,000 × 3072 = 150 MB for a training set) but are reordered to HWC —
// pixel (y, x) channel c of image i is images[i·3072 + (y·32 + x)·3 + c] — the layout of tern's tensors, so
// the per-sample transform reads and writes in the same order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"

namespace tern {

enum class CifarKind { Cifar10, Cifar100 };
enum class Split { Train, Test };

constexpr int kCifarSide = 32, kCifarChannels = 3;
constexpr int64_t kCifarImageBytes = kCifarSide * kCifarSide * kCifarChannels;  // 3072

struct CifarData {
    CifarKind kind = CifarKind::Cifar10;
    Split split = Split::Train;
    std::vector<uint8_t> images;  // size() × 3072 bytes, each image 32×32×3 HWC (see the top of this file)
    std::vector<int32_t> labels;  // one per image; CIFAR-100: the fine label
    std::vector<std::string> class_names;

    int64_t size() const { return int64_t(labels.size()); }
    int num_classes() const { return kind == CifarKind::Cifar10 ? 10 : 100; }
    const uint8_t* image(int64_t i) const { return images.data() + i * kCifarImageBytes; }
};

// Reads every file of the split from `dir` (train: the five batches in order, so image 10000·k + j is record
// j of data_batch_{k+1}.bin). Throws tern::Error naming the file for a missing directory or file, a size that
// is not a whole number of records (or more records than the official file has), or a label out of range.
CifarData load_cifar(const std::string& dir, CifarKind kind, Split split);
// The records of one such file already in memory (load_cifar reads each file and calls this), appended to
// `data`, whose `kind` says the record layout. The same checks and messages, `name` standing for the file; on
// an error `data` is left unchanged. Takes any bytes: tests/fuzz/fuzz_cifar.cpp feeds it random ones.
void parse_cifar_records(const uint8_t* bytes, size_t size, int64_t max_records, const std::string& name,
                         CifarData& data);

struct CifarOptions {
    bool augment = false;                  // random crop (zero padding `pad`) + horizontal flip; for training
    int pad = 4;
    Normalization norm = kCifarStats;
};

// Sample i is image i, transformed by crop_flip_normalize (data/transforms.h): (32, 32, 3) floats.
class CifarDataset : public Dataset {
public:
    CifarDataset(CifarData data, CifarOptions options);
    int64_t size() const override { return data_.size(); }
    SampleShape sample_shape() const override { return {kCifarSide, kCifarSide, kCifarChannels}; }
    int32_t get(int64_t i, float* out, Rng& rng) const override;
    std::string describe() const override;  // "CIFAR-10 train, 50000 images, augmented"
    const CifarData& data() const { return data_; }

private:
    CifarData data_;
    CifarOptions options_;
};

}  // namespace tern
