// core/autograd.cpp — the graph walk behind backward(): topological sort, then each node once, in reverse.
#include "core/autograd.h"

#include <unordered_set>

#include "core/error.h"
#include "core/ops/elementwise.h"

namespace tern {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
    if (!g_grad_enabled) return false;
    for (const Tensor& t : inputs)
        if (t.defined() && t.requires_grad()) return true;
    return false;
}

void record(const Tensor& out, const char* op, std::vector<Tensor> inputs, BackwardFn backward) {
    if (!any_requires_grad(inputs)) return;
    auto node = std::make_shared<Node>();
    node->op = op;
    node->inputs = std::move(inputs);
    node->backward = std::move(backward);
    out.impl()->grad_fn = std::move(node);
    out.impl()->requires_grad = true;
}

// Adds g to t's gradient. A leaf owns its gradient buffer (g may be shared with other tensors, and optimizers
// read leaf gradients later), so the first contribution is copied; an intermediate may alias g.
static void accumulate_grad(const Tensor& t, const Tensor& g, const char* op) {
    TERN_CHECK(g.shape() == t.shape(), "autograd: backward of '" << op << "' returned a gradient of shape "
                                                                 << g.shape_str() << " for an input of shape "
                                                                 << t.shape_str());
    TensorImpl* impl = t.impl();
    if (!impl->grad) {
        if (t.is_leaf()) {
            Tensor own = Tensor::empty(g.shape());
            own.copy_(g);
            impl->grad = own.impl_ptr();
        } else {
            impl->grad = g.impl_ptr();
        }
        return;
    }
    // An intermediate's gradient that nothing else holds (no other tensor, no view of its storage) is summed in
    // place: no new buffer, one write stream less. Typical case: a residual block's input, whose shortcut
    // gradient arrives first and is released by the other branch before the convolution's gradient comes.
    const bool sole_owner = impl->grad.use_count() == 1 && impl->grad->storage.use_count() == 1;
    Tensor current(impl->grad);
    if (t.is_leaf() || (sole_owner && current.is_contiguous())) {
        add_inplace(current, g);  // the leaf's own buffer, or an intermediate's unshared one
    } else {
        impl->grad = add(current, g).impl_ptr();
    }
}

void backward(const Tensor& root, const Tensor& grad) {
    TERN_CHECK(root.requires_grad(), "backward(): the tensor does not require grad (was it computed under "
                                     "NoGradGuard, or from inputs that do not require grad?)");
    TERN_CHECK(grad.shape() == root.shape(), "backward(): seed gradient shape " << grad.shape_str()
                                                                                << " differs from " << root.shape_str());
    NoGradGuard no_grad;  // backward functions compute with plain tensors

    // Post-order DFS from the root over grad_fn edges: every tensor comes after the inputs it was computed from.
    std::vector<std::shared_ptr<TensorImpl>> order;
    std::unordered_set<TensorImpl*> visited;
    std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack;  // (tensor, next input to visit)
    stack.push_back({root.impl_ptr(), 0});
    visited.insert(root.impl());
    while (!stack.empty()) {
        auto& [impl, next] = stack.back();
        Node* node = impl->grad_fn.get();
        if (node && next < node->inputs.size()) {
            const Tensor& in = node->inputs[next++];
            if (in.defined() && in.requires_grad() && visited.insert(in.impl()).second)
                stack.push_back({in.impl_ptr(), 0});
            continue;
        }
        order.push_back(impl);
        stack.pop_back();
    }

    // Seed, then visit from the root back to the leaves.
    if (root.is_leaf()) {
        accumulate_grad(root, grad, "seed");
        return;
    }
    root.impl()->grad = grad.impl_ptr();
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        std::shared_ptr<TensorImpl> impl = std::move(*it);  // dropped at the end of this iteration
        if (!impl->grad_fn) continue;                        // a leaf: its .grad is final
        std::shared_ptr<Node> node = std::move(impl->grad_fn);
        Tensor grad_out(std::move(impl->grad));              // an intermediate's gradient is freed after use
        if (!grad_out.defined()) continue;                   // nothing flowed into this branch
        std::vector<Tensor> grads = node->backward(contiguous_data(grad_out));  // backward fns see dense grads
        TERN_CHECK(grads.size() == node->inputs.size(), "autograd: backward of '" << node->op << "' returned "
                                                            << grads.size() << " gradients for "
                                                            << node->inputs.size() << " inputs");
        for (size_t i = 0; i < grads.size(); ++i) {
            const Tensor& in = node->inputs[i];
            if (grads[i].defined() && in.defined() && in.requires_grad()) accumulate_grad(in, grads[i], node->op);
        }
    }
}

}  // namespace tern
