// optim/weight_average.cpp — running mean of model states (see weight_average.h).
#include "optim/weight_average.h"

#include "core/error.h"

namespace tern {

void WeightAverage::add(const std::map<std::string, Tensor>& state, const std::string& source) {
    if (count_ == 0) {
        TERN_CHECK(!state.empty(), "weight average: " << source << " holds no tensors");
        for (const auto& [name, t] : state) average_[name] = t.detach().clone();
        first_source_ = source;
        count_ = 1;
        return;
    }
    TERN_CHECK(state.size() == average_.size(), "weight average: " << source << " has " << state.size()
                   << " tensors, " << first_source_ << " has " << average_.size() << " (not the same model)");
    for (const auto& [name, t] : state) {
        const auto it = average_.find(name);
        TERN_CHECK(it != average_.end(), "weight average: " << source << " has '" << name << "', which "
                                                               << first_source_ << " does not");
        TERN_CHECK(t.shape() == it->second.shape(), "weight average: '" << name << "' is " << t.shape_str() << " in "
                       << source << " but " << it->second.shape_str() << " in " << first_source_);
    }
    ++count_;
    const float inv_n = 1.f / float(count_);
    for (const auto& [name, t] : state) {
        const Tensor x = t.detach().contiguous();
        float* avg = average_[name].data();
        const float* px = x.data();
        for (int64_t i = 0, n = x.numel(); i < n; ++i) avg[i] += (px[i] - avg[i]) * inv_n;
    }
}

void WeightAverage::restore(const std::map<std::string, Tensor>& average, int count, const std::string& source) {
    TERN_CHECK(count >= 1, "weight average: " << source << " claims " << count << " snapshots (must be ≥ 1)");
    TERN_CHECK(!average.empty(), "weight average: " << source << " holds no tensors");
    average_.clear();
    for (const auto& [name, t] : average) average_[name] = t.detach().clone();
    first_source_ = source;
    count_ = count;
}

}  // namespace tern
