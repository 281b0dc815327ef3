// layers/module.h — Module: the base of every layer and model, as in PyTorch's nn.Module.
//
// A module owns named parameters (trainable tensors), buffers (state such as BatchNorm's running mean) and
// submodules. Names compose with dots exactly as in PyTorch — `layer1.0.conv1.weight` — so a PyTorch
// state dict saved as safetensors loads without renaming.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace tern {

struct LoadReport {
    std::vector<std::string> missing;     // the module has them, the state dict does not
    std::vector<std::string> unexpected;  // the state dict has them, the module does not
    bool ok() const { return missing.empty() && unexpected.empty(); }
    std::string describe() const;         // "missing: a, b; unexpected: c"
};

class Module {
public:
    virtual ~Module() = default;
    Module() = default;
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    // Most layers map one tensor to one tensor; modules that do not (none yet) can ignore these.
    virtual Tensor forward(const Tensor& x);
    Tensor operator()(const Tensor& x) { return forward(x); }

    std::vector<std::pair<std::string, Tensor>> named_parameters() const;  // recursive, dotted names
    std::vector<std::pair<std::string, Tensor>> named_buffers() const;
    std::vector<std::pair<std::string, Module*>> named_modules();          // this module first, as ""
    std::vector<Tensor> parameters() const;

    // Parameters and buffers by dotted name (the PyTorch state dict).
    std::map<std::string, Tensor> state_dict() const;
    // Copies matching tensors into this module. A shape mismatch is an error naming the tensor. Missing and
    // unexpected names are returned; with strict = true they are an error listing them. Keys ending in
    // ".num_batches_tracked" (a PyTorch BatchNorm counter tern does not keep) are ignored.
    LoadReport load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

    void train(bool on = true);  // recursive
    void eval() { train(false); }
    bool is_training() const { return training_; }
    void zero_grad();

protected:
    // Registration stores the address of a member Tensor, so loading copies into the tensor the layer uses.
    void register_parameter(const std::string& name, Tensor* t);
    void register_buffer(const std::string& name, Tensor* t);
    void register_module(const std::string& name, std::shared_ptr<Module> m);
    void replace_module(const std::string& name, std::shared_ptr<Module> m);  // registers if absent
    void remove_module(const std::string& name);

    bool training_ = true;

private:
    std::vector<std::pair<std::string, Tensor*>> params_, buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;

    template <class F>
    void visit(const std::string& prefix, F f);
    template <class F>
    void visit(const std::string& prefix, F f) const;
};

}  // namespace tern
