// optim/sgd.h — stochastic gradient descent with momentum, Nesterov and weight decay, as torch.optim.SGD.
//
// For each parameter p with gradient g, per step (dampening 0):
//   g ← g + wd·p                         (weight decay added to the gradient, as PyTorch)
//   b ← g on the first step, else b ← μ·b + g    (momentum buffer)
//   g ← g + μ·b if nesterov, else g ← b
//   p ← p − lr·g
// Parameters are grouped; each group has its own lr multiplier and weight decay (BN parameters and quantizer
// thresholds take wd = 0). Schedules (optim/schedule.h) set the base learning rate.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tern {

struct ParamGroup {
    std::string name;              // for logs and checkpoints ("weights", "no_decay", "thresholds", ...)
    std::vector<Tensor> params;
    float weight_decay = 0.f;
    float lr_scale = 1.f;          // the group's lr = base lr × lr_scale
    bool frozen = false;           // skipped by step() (e.g. δ during TGA's weight phase)
};

struct SgdOptions {
    float lr = 0.1f;
    float momentum = 0.9f;
    bool nesterov = false;
};

class SGD {
public:
    SGD(std::vector<ParamGroup> groups, SgdOptions options);

    void step();       // updates every non-frozen parameter that has a gradient
    void zero_grad();  // drops the gradients of all parameters
    void set_lr(float lr) { options_.lr = lr; }
    float lr() const { return options_.lr; }
    std::vector<ParamGroup>& groups() { return groups_; }
    ParamGroup* group(const std::string& name);

    // Momentum buffers by "group/index", for checkpoints. load_state checks shapes.
    std::map<std::string, Tensor> state() const;
    void load_state(const std::map<std::string, Tensor>& state);
    void reset_state();  // forget the momentum buffers (a new training phase starts from rest)
    bool reset_state(const Tensor& param);  // forget one parameter's buffer (false if it is in no group)

private:
    std::vector<ParamGroup> groups_;
    SgdOptions options_;
    std::vector<std::vector<Tensor>> momentum_;  // [group][param], undefined until the first step
};

}  // namespace tern
