// optim/weight_average.h — the equal-weight average of several snapshots of one model's state: stochastic weight
// averaging (Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization", UAI 2018) and
// checkpoint averaging, as torch.optim.swa_utils.AveragedModel keeps it.
//
//   avg ← avg + (x − avg) / n      after the n-th snapshot x (a running mean: no sum that grows with n)
//
// Every tensor of the state is averaged, parameters and buffers alike. Two cautions:
// - BN running statistics of the average are the average of the snapshots' statistics, not the statistics of the
//   averaged network; re-estimate them (train_cifar --precise-bn N, PyTorch's swa_utils.update_bn) before use.
// - For a ternary model the average is of the latent full-precision weights; the quantizer ternarizes the
//   average (a weight flipping between two codes across snapshots settles on the side it spent more time on).
#pragma once
#include <map>
#include <string>

#include "core/tensor.h"

namespace tern {

class WeightAverage {
public:
    // Adds one snapshot. Its keys and shapes must match the first snapshot's; `source` names it in errors.
    void add(const std::map<std::string, Tensor>& state, const std::string& source);
    // Continues an average saved earlier: `average` is the mean of `count` (≥ 1) snapshots, as average() gave it
    // (train_cifar --resume restores its --average-epochs this way). Replaces whatever this object held.
    void restore(const std::map<std::string, Tensor>& average, int count, const std::string& source);
    int count() const { return count_; }
    const std::map<std::string, Tensor>& average() const { return average_; }  // empty before the first add

private:
    std::map<std::string, Tensor> average_;
    std::string first_source_;
    int count_ = 0;
};

}  // namespace tern
