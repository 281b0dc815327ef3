// data/imagenet.cpp — listing an ImageNet folder, reading its label files, and get(): decode + transform.
#include "data/imagenet.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/image.h"

namespace tern {

namespace fs = std::filesystem;

namespace {

// torchvision's IMG_EXTENSIONS, so a folder lists the same images (hence the same indices) as ImageFolder.
// stb cannot decode .tif or .webp; such files become recorded failures, not silently missing samples.
bool is_image_file(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    for (const char* e : {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})
        if (ext == e) return true;
    return false;
}

// Names of the image files directly inside dir, sorted (byte order, which is Python's order for UTF-8).
std::vector<std::string> sorted_image_names(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_regular_file() && is_image_file(entry.path())) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// One line of a label file: "<label>" or "<name> <label>". The label is the last token, so names may contain
// spaces and apostrophes ("n02966687/n02966687_carpenter's_kit.JPEG 477").
struct LabelLine {
    std::string name;  // empty when the line holds only a label
    int64_t label = 0;
};

std::vector<LabelLine> read_label_file(const std::string& path) {
    std::ifstream file(path);
    TERN_CHECK(file, "cannot open label file " << path);
    std::vector<LabelLine> lines;
    std::string line;
    for (int number = 1; std::getline(file, line); ++number) {
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();  // \r too
        if (line.empty()) continue;
        const size_t space = line.find_last_of(" \t");
        const std::string token = space == std::string::npos ? line : line.substr(space + 1);
        LabelLine entry;
        size_t used = 0;
        try {
            entry.label = std::stoll(token, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        TERN_CHECK(used == token.size() && used > 0,
                   path << ":" << number << ": expected '<label>' or '<name> <label>', got '" << line << "'");
        if (space != std::string::npos) {
            entry.name = line.substr(0, space);
            while (!entry.name.empty() && std::isspace(static_cast<unsigned char>(entry.name.back())))
                entry.name.pop_back();
        }
        lines.push_back(entry);
    }
    return lines;
}

// "n01440764 tench, Tinca tinca" → {"n01440764", "tench"}.
std::vector<std::pair<std::string, std::string>> read_synsets(const std::string& path) {
    std::ifstream file(path);
    TERN_CHECK(file, "cannot open synsets file " << path);
    std::vector<std::pair<std::string, std::string>> synsets;
    std::string line;
    while (std::getline(file, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        const size_t space = line.find(' ');
        const std::string wnid = line.substr(0, space);
        const std::string names = space == std::string::npos ? wnid : line.substr(space + 1);
        synsets.emplace_back(wnid, names.substr(0, names.find(',')));
    }
    return synsets;
}

// The devkit's table "<wnid> <ILSVRC2012_ID> <name>" → for each ID, the index of its wnid among the sorted wnids
// (the torchvision class index).
std::map<int64_t, int32_t> devkit_id_to_index(const std::string& path) {
    std::ifstream file(path);
    TERN_CHECK(file, "cannot open devkit map " << path << " (GroundTruth::Devkit needs the ILSVRC2012_ID → synset "
                                                           "table, e.g. the devkit's map_clsloc.txt)");
    std::vector<std::pair<std::string, int64_t>> entries;  // (wnid, id)
    std::string wnid;
    int64_t id = 0;
    std::string rest;
    while (file >> wnid >> id) {
        entries.emplace_back(wnid, id);
        std::getline(file, rest);  // the class name
    }
    TERN_CHECK(file.eof() && !entries.empty(), path << ": expected lines '<wnid> <ILSVRC2012_ID> <name>'");
    std::sort(entries.begin(), entries.end());
    std::map<int64_t, int32_t> index;
    for (size_t i = 0; i < entries.size(); ++i) index[entries[i].second] = int32_t(i);
    return index;
}

}  // namespace

ImageNetDataset::ImageNetDataset(const std::string& root, ImageNetOptions options)
    : root_(root), options_(std::move(options)) {
    TERN_CHECK(fs::is_directory(root_), "ImageNetDataset: " << root_ << " is not a directory");
    std::vector<LabelLine> label_lines;  // labels read from a file, applied below
    std::vector<std::string> names;      // each image's name as label files call it

    if (options_.ground_truth.empty()) {
        // (a) ImageFolder: class index = position of the directory name in sorted order.
        std::vector<std::string> classes;
        for (const auto& entry : fs::directory_iterator(root_))
            if (entry.is_directory()) classes.push_back(entry.path().filename().string());
        std::sort(classes.begin(), classes.end());
        TERN_CHECK(!classes.empty(), "ImageNetDataset: " << root_ << " has no class directories (expected "
                                                         << "<root>/<synset>/<image>.JPEG, or set ground_truth for "
                                                         << "a flat validation folder)");
        for (size_t c = 0; c < classes.size(); ++c)
            for (const std::string& name : sorted_image_names(fs::path(root_) / classes[c])) {
                paths_.push_back((fs::path(root_) / classes[c] / name).string());
                names.push_back(classes[c] + "/" + name);
                labels_.push_back(int32_t(c));
            }
        class_names_ = classes;
        const fs::path labels_txt = fs::path(root_) / "labels.txt";
        if (options_.use_labels_txt && fs::exists(labels_txt)) label_lines = read_label_file(labels_txt.string());
    } else {
        // (b) Flat validation folder.
        for (const std::string& name : sorted_image_names(root_)) {
            paths_.push_back((fs::path(root_) / name).string());
            names.push_back(name);
            labels_.push_back(-1);
        }
        label_lines = read_label_file(options_.ground_truth);
        if (options_.ground_truth_format == GroundTruth::Devkit) {
            const auto id_to_index = devkit_id_to_index(options_.devkit_map);
            for (LabelLine& line : label_lines) {
                const auto it = id_to_index.find(line.label);
                TERN_CHECK(it != id_to_index.end(), options_.ground_truth << ": ILSVRC2012_ID " << line.label
                                                                          << " is not in " << options_.devkit_map);
                line.label = it->second;
            }
        }
    }
    TERN_CHECK(!paths_.empty(), "ImageNetDataset: no images (.JPEG, .jpg, .png, …) found under " << root_);

    // Apply the label file: by name when its lines have names, else line i labels image i.
    const std::string label_file = options_.ground_truth.empty() ? root_ + "/labels.txt" : options_.ground_truth;
    if (!label_lines.empty() && !label_lines[0].name.empty()) {
        std::map<std::string, int64_t> by_name;
        for (const LabelLine& line : label_lines) by_name[line.name] = line.label;
        for (size_t i = 0; i < paths_.size(); ++i) {
            const auto it = by_name.find(names[i]);
            TERN_CHECK(it != by_name.end(), label_file << " has no label for " << names[i]);
            labels_[i] = int32_t(it->second);
        }
    } else if (!label_lines.empty()) {
        TERN_CHECK(label_lines.size() == paths_.size(),
                   label_file << " has " << label_lines.size() << " labels but " << root_ << " has " << paths_.size()
                              << " images");
        for (size_t i = 0; i < paths_.size(); ++i) labels_[i] = int32_t(label_lines[i].label);
    }

    // Class names, and the class count they imply.
    std::string synsets_path = options_.synsets;
    if (synsets_path.empty() && fs::exists(fs::path(root_) / "synsets.txt"))
        synsets_path = (fs::path(root_) / "synsets.txt").string();
    if (!synsets_path.empty()) {
        class_names_.clear();
        for (const auto& [wnid, name] : read_synsets(synsets_path)) class_names_.push_back(name);
    }
    num_classes_ = int64_t(class_names_.size());
    for (size_t i = 0; i < labels_.size(); ++i) {
        TERN_CHECK(labels_[i] >= 0, "ImageNetDataset: label " << labels_[i] << " of " << paths_[i] << " is negative");
        num_classes_ = std::max<int64_t>(num_classes_, labels_[i] + 1);
    }
    TERN_CHECK(synsets_path.empty() || num_classes_ == int64_t(class_names_.size()),
               "ImageNetDataset: labels reach " << num_classes_ - 1 << " but " << synsets_path << " lists only "
                                                << class_names_.size() << " classes");

    if (options_.limit >= 0 && options_.limit < size()) {
        paths_.resize(size_t(options_.limit));
        labels_.resize(size_t(options_.limit));
    }
}

int32_t ImageNetDataset::get(int64_t i, float* out, Rng& rng) const {
    TERN_CHECK(0 <= i && i < size(), "ImageNetDataset::get: index " << i << " is outside [0, " << size() << ")");
    try {
        const Image img = decode_image(paths_[size_t(i)]);
        if (options_.train)
            train_transform(img, out, rng);
        else
            eval_transform(img, out);
    } catch (const std::exception& e) {
        // One bad file must not end an epoch: it becomes a zero image (the mean image after Normalize), keeps
        // its label, and is reported by failures().
        std::fill_n(out, sample_shape().numel(), 0.f);
        std::lock_guard<std::mutex> lock(failures_mutex_);
        failures_.emplace(i, e.what());
    }
    return labels_[size_t(i)];
}

int32_t ImageNetDataset::label(int64_t i) const {
    TERN_CHECK(0 <= i && i < size(), "ImageNetDataset::label: index " << i << " is outside [0, " << size() << ")");
    return labels_[size_t(i)];
}

const std::string& ImageNetDataset::path(int64_t i) const {
    TERN_CHECK(0 <= i && i < size(), "ImageNetDataset::path: index " << i << " is outside [0, " << size() << ")");
    return paths_[size_t(i)];
}

std::string ImageNetDataset::class_name(int32_t c) const {
    TERN_CHECK(0 <= c && c < num_classes_, "ImageNetDataset::class_name: class " << c << " is outside [0, "
                                                                                  << num_classes_ << ")");
    return size_t(c) < class_names_.size() ? class_names_[size_t(c)] : std::to_string(c);
}

std::vector<ImageNetDataset::Failure> ImageNetDataset::failures() const {
    std::lock_guard<std::mutex> lock(failures_mutex_);
    std::vector<Failure> list;
    for (const auto& [index, reason] : failures_) list.push_back({paths_[size_t(index)], reason});
    return list;
}

std::string ImageNetDataset::describe() const {
    std::ostringstream os;
    os << "ImageNet " << (options_.ground_truth.empty() ? "ImageFolder " : "validation folder ") << root_ << ", "
       << size() << " images, " << num_classes_ << " classes, "
       << (options_.train ? "train transform (RandomResizedCrop 224, flip)" : "eval transform (Resize 256, "
                                                                              "CenterCrop 224)");
    return os.str();
}

}  // namespace tern
