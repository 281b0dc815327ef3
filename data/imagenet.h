// data/imagenet.h — ImageNet (ILSVRC-2012) as a tern Dataset: JPEGs decoded and transformed on the fly into
// 224×224×3 normalized floats (data/image.h), in the two layouts ImageNet is usually stored in.
//
// (a) ImageFolder: root/<synset>/<image>.JPEG. Classes are the sorted class-directory names, so with all 1000
//     synset directories class i is torchvision's (and every pretrained model's) class i. If root/labels.txt
//     exists ("<relative path> <class index>" per line) labels come from it instead, which keeps the
//     1000-class indices when only some class directories are present.
// (b) The flat validation folder: root/ILSVRC2012_val_00000001.JPEG …, sorted by file name, with a ground-truth
//     file holding one label per line in that order ("<label>", or "<file name> <label>" as in Caffe's val.txt).
//     Two label conventions exist:
//       GroundTruth::ZeroBased  torchvision/Caffe indices 0…999 into the sorted synset list (val.txt);
//       GroundTruth::Devkit     the devkit's ILSVRC2012_validation_ground_truth.txt: 1-based ILSVRC2012_IDs.
//     The devkit IDs are NOT the sorted order plus one (image 1, a sea snake, is ID 490 but torchvision class
//     65), so Devkit needs the devkit's ID → synset table `devkit_map` (map_clsloc.txt: "<wnid> <ID> <name>"
//     per line), and converts each label to the index of its synset among the sorted synsets of that table.
//
// Images are the files whose extension torchvision's ImageFolder accepts (case-insensitive), directly inside
// each directory. get() never throws for a bad image: it writes zeros (the mean image after normalization),
// returns the label, and records the file and the reason; failures() lists them for the caller to report.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tern {

enum class GroundTruth { ZeroBased, Devkit };

struct ImageNetOptions {
    bool train = false;        // true: RandomResizedCrop(224) + flip; false: Resize(256) + CenterCrop(224)
    int64_t limit = -1;        // keep only the first `limit` images in sorted order (−1: all)
    bool use_labels_txt = true;  // ImageFolder: take labels from root/labels.txt when it exists
    std::string ground_truth;  // non-empty: the flat validation layout, labels from this file
    GroundTruth ground_truth_format = GroundTruth::ZeroBased;
    std::string devkit_map;    // GroundTruth::Devkit: the ILSVRC2012_ID → synset table (map_clsloc.txt)
    std::string synsets;       // class names ("nXXXXXXXX name, synonyms" per line); default root/synsets.txt
};

class ImageNetDataset : public Dataset {
public:
    explicit ImageNetDataset(const std::string& root, ImageNetOptions options = {});

    int64_t size() const override { return int64_t(paths_.size()); }
    SampleShape sample_shape() const override { return {224, 224, 3}; }
    int32_t get(int64_t i, float* out, Rng& rng) const override;
    std::string describe() const override;

    int32_t label(int64_t i) const;
    const std::string& path(int64_t i) const;
    int64_t num_classes() const { return num_classes_; }
    // The first name of class c in the synsets file ("tench"); without one, the class directory name
    // (ImageFolder) or the number.
    std::string class_name(int32_t c) const;

    struct Failure {
        std::string path, reason;
    };
    std::vector<Failure> failures() const;  // images get() could not decode, once each, in index order

private:
    std::string root_;
    ImageNetOptions options_;
    std::vector<std::string> paths_;
    std::vector<int32_t> labels_;
    std::vector<std::string> class_names_;
    int64_t num_classes_ = 0;

    mutable std::mutex failures_mutex_;
    mutable std::map<int64_t, std::string> failures_;  // index → reason
};

}  // namespace tern
