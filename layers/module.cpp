// layers/module.cpp — recursive naming, state dicts and train/eval mode.
#include "layers/module.h"

#include <sstream>

#include "core/autograd.h"
#include "core/error.h"

namespace tern {

std::string LoadReport::describe() const {
    std::ostringstream os;
    auto list = [&os](const char* what, const std::vector<std::string>& v) {
        os << what << " (" << v.size() << ")";
        for (size_t i = 0; i < v.size() && i < 20; ++i) os << (i ? ", " : ": ") << v[i];
        if (v.size() > 20) os << ", …";
    };
    list("missing", missing);
    os << "; ";
    list("unexpected", unexpected);
    return os.str();
}

Tensor Module::forward(const Tensor&) { TERN_FAIL("this module has no single-tensor forward()"); }

template <class F>
void Module::visit(const std::string& prefix, F f) {
    f(prefix, this);
    for (auto& [name, child] : children_) child->visit(prefix + name + ".", f);
}

template <class F>
void Module::visit(const std::string& prefix, F f) const {
    f(prefix, this);
    for (const auto& [name, child] : children_) static_cast<const Module&>(*child).visit(prefix + name + ".", f);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
    std::vector<std::pair<std::string, Tensor>> out;
    visit("", [&out](const std::string& prefix, const Module* m) {
        for (const auto& [name, t] : m->params_) out.emplace_back(prefix + name, *t);
    });
    return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
    std::vector<std::pair<std::string, Tensor>> out;
    visit("", [&out](const std::string& prefix, const Module* m) {
        for (const auto& [name, t] : m->buffers_) out.emplace_back(prefix + name, *t);
    });
    return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
    std::vector<std::pair<std::string, Module*>> out;
    visit("", [&out](const std::string& prefix, Module* m) {
        out.emplace_back(prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1), m);
    });
    return out;
}

std::vector<Tensor> Module::parameters() const {
    std::vector<Tensor> out;
    for (auto& [name, t] : named_parameters()) out.push_back(t);
    return out;
}

std::map<std::string, Tensor> Module::state_dict() const {
    std::map<std::string, Tensor> out;
    for (auto& [name, t] : named_parameters()) out[name] = t;
    for (auto& [name, t] : named_buffers()) out[name] = t;
    return out;
}

LoadReport Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
    LoadReport report;
    std::map<std::string, Tensor> mine = state_dict();
    NoGradGuard no_grad;
    for (auto& [name, t] : mine) {
        auto it = state.find(name);
        if (it == state.end()) {
            report.missing.push_back(name);
            continue;
        }
        TERN_CHECK(it->second.shape() == t.shape(), "load_state_dict: '" << name << "' has shape "
                                                                         << it->second.shape_str() << " in the file but "
                                                                         << t.shape_str() << " in the model");
        t.copy_(it->second);
    }
    for (auto& [name, t] : state) {
        const std::string suffix = ".num_batches_tracked";
        const bool ignored = name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(),
                                                                          suffix) == 0;
        if (!ignored && !mine.count(name)) report.unexpected.push_back(name);
    }
    TERN_CHECK(!strict || report.ok(), "load_state_dict: keys do not match the model: " << report.describe());
    return report;
}

void Module::train(bool on) {
    visit("", [on](const std::string&, Module* m) { m->training_ = on; });
}

void Module::zero_grad() {
    for (auto& [name, t] : named_parameters()) t.zero_grad();
}

void Module::register_parameter(const std::string& name, Tensor* t) {
    t->set_requires_grad(true);
    params_.emplace_back(name, t);
}

void Module::register_buffer(const std::string& name, Tensor* t) { buffers_.emplace_back(name, t); }

void Module::register_module(const std::string& name, std::shared_ptr<Module> m) {
    for (auto& [n, c] : children_) TERN_CHECK(n != name, "register_module: '" << name << "' registered twice");
    children_.emplace_back(name, std::move(m));
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> m) {
    for (auto& [n, c] : children_)
        if (n == name) {
            c = std::move(m);
            return;
        }
    register_module(name, std::move(m));
}

void Module::remove_module(const std::string& name) {
    for (auto it = children_.begin(); it != children_.end(); ++it)
        if (it->first == name) {
            children_.erase(it);
            return;
        }
}

}  // namespace tern
