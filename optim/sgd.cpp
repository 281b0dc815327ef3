// optim/sgd.cpp — the SGD update (see sgd.h for the formula), fused in one pass per parameter.
#include "optim/sgd.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/profiler.h"

namespace tern {

SGD::SGD(std::vector<ParamGroup> groups, SgdOptions options) : groups_(std::move(groups)), options_(options) {
    for (const ParamGroup& g : groups_) {
        momentum_.emplace_back(g.params.size());
        for (const Tensor& p : g.params)
            TERN_CHECK(p.is_leaf() && p.is_contiguous(), "SGD: parameters must be contiguous leaf tensors");
    }
}

ParamGroup* SGD::group(const std::string& name) {
    for (ParamGroup& g : groups_)
        if (g.name == name) return &g;
    return nullptr;
}

void SGD::step() {
    ProfileScope scope(OpKind::Optimizer);
    NoGradGuard no_grad;
    const float mu = options_.momentum;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
        const ParamGroup& group = groups_[gi];
        if (group.frozen) continue;
        const float lr = options_.lr * group.lr_scale, wd = group.weight_decay;
        for (size_t pi = 0; pi < group.params.size(); ++pi) {
            const Tensor& p = group.params[pi];
            const Tensor grad = p.grad();
            if (!grad.defined()) continue;
            float* w = p.data();
            const float* g = grad.data();
            const int64_t n = p.numel();
            Tensor& buf = momentum_[gi][pi];
            if (mu == 0.f) {
                for (int64_t i = 0; i < n; ++i) w[i] -= lr * (g[i] + wd * w[i]);
                continue;
            }
            const bool first = !buf.defined();
            if (first) buf = Tensor::empty(p.shape());
            float* b = buf.data();
            for (int64_t i = 0; i < n; ++i) {
                const float d = g[i] + wd * w[i];
                b[i] = first ? d : mu * b[i] + d;
                w[i] -= lr * (options_.nesterov ? d + mu * b[i] : b[i]);
            }
        }
    }
}

void SGD::zero_grad() {
    for (ParamGroup& g : groups_)
        for (Tensor& p : g.params) p.zero_grad();
}

std::map<std::string, Tensor> SGD::state() const {
    std::map<std::string, Tensor> out;
    for (size_t gi = 0; gi < groups_.size(); ++gi)
        for (size_t pi = 0; pi < momentum_[gi].size(); ++pi)
            if (momentum_[gi][pi].defined())
                out[groups_[gi].name + "/" + std::to_string(pi)] = momentum_[gi][pi];
    return out;
}

void SGD::load_state(const std::map<std::string, Tensor>& state) {
    for (size_t gi = 0; gi < groups_.size(); ++gi)
        for (size_t pi = 0; pi < momentum_[gi].size(); ++pi) {
            auto it = state.find(groups_[gi].name + "/" + std::to_string(pi));
            if (it == state.end()) {
                momentum_[gi][pi] = Tensor();
                continue;
            }
            TERN_CHECK(it->second.shape() == groups_[gi].params[pi].shape(),
                       "SGD state: momentum '" << it->first << "' has shape " << it->second.shape_str()
                                               << ", parameter has " << groups_[gi].params[pi].shape_str());
            momentum_[gi][pi] = Tensor::empty(it->second.shape());
            momentum_[gi][pi].copy_(it->second);
        }
}

}  // namespace tern

namespace tern {
void SGD::reset_state() {
    for (auto& group : momentum_)
        for (Tensor& b : group) b = Tensor();
}

bool SGD::reset_state(const Tensor& param) {
    for (size_t gi = 0; gi < groups_.size(); ++gi)
        for (size_t pi = 0; pi < groups_[gi].params.size(); ++pi)
            if (groups_[gi].params[pi].impl() == param.impl()) {
                momentum_[gi][pi] = Tensor();
                return true;
            }
    return false;
}
}  // namespace tern
