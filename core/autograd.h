// core/autograd.h — define-by-run reverse-mode automatic differentiation.
//
// Every op computes its output and, when an input requires a gradient, calls record() with a backward
// function written right beside the forward code (micrograd style):
//
//     Tensor y = ...forward...;
//     record(y, "relu", {x}, [x, y_saved = y.detach()](const Tensor& gy) {
//         return std::vector<Tensor>{ gy * (y_saved > 0) };          // ∂L/∂x = ∂L/∂y · 1[y > 0]
//     });
//
// backward(root) sorts the recorded graph topologically and calls each backward function once, in reverse,
// with ∂L/∂out; the returned ∂L/∂input are summed into the inputs (a tensor used twice gets both terms).
// Rules for backward functions: never modify grad_out in place (it may be shared); return one gradient per
// input, with the input's shape, or an undefined Tensor where no gradient is needed; capture the op's output
// only as out.detach() (capturing `out` itself would make a reference cycle).
// After a node has run, its saved tensors are released, as in PyTorch without retain_graph.
#pragma once
#include <functional>
#include <vector>

#include "core/tensor.h"

namespace tern {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

struct Node {
    const char* op = "";          // the op's name, for error messages
    std::vector<Tensor> inputs;   // the op's inputs, in order
    BackwardFn backward;          // ∂L/∂out ↦ {∂L/∂inputs[i]}
};

// Gradient mode (thread-local). Under a NoGradGuard no graph is recorded: use it for evaluation and for
// optimizer updates.
bool grad_enabled();
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// True when grad mode is on and any of the inputs requires a gradient: the op must record itself.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attaches the op's backward to `out` if any input requires a gradient (otherwise does nothing).
void record(const Tensor& out, const char* op, std::vector<Tensor> inputs, BackwardFn backward);

// Runs reverse-mode differentiation from `root` seeded with ∂L/∂root = grad (same shape as root).
// Leaves accumulate into .grad(); intermediate gradients are freed as soon as they have been used.
void backward(const Tensor& root, const Tensor& grad);

}  // namespace tern
