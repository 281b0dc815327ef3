// optim/checkpoint.cpp — checkpoints as one safetensors file (see checkpoint.h).
#include "optim/checkpoint.h"

#include "core/error.h"
#include "core/safetensors.h"

namespace tern {

static const char* kInfoKey = "tern.checkpoint";

void save_checkpoint(const std::string& path, const Module& model, const std::vector<const SGD*>& optimizers,
                     const nlohmann::json& info) {
    std::map<std::string, Tensor> tensors;
    for (auto& [name, t] : model.state_dict()) tensors["model." + name] = t;
    for (const SGD* opt : optimizers)
        for (auto& [name, t] : opt->state()) tensors["optim." + name] = t;
    save_tensors(path, tensors, {{kInfoKey, info.dump()}});
}

nlohmann::json read_checkpoint_info(const std::string& path) {
    const SafetensorsFile file = read_safetensors(path);
    auto it = file.metadata.find(kInfoKey);
    TERN_CHECK(it != file.metadata.end(), path << " is not a tern checkpoint (no '" << kInfoKey << "' metadata)");
    try {
        return nlohmann::json::parse(it->second);
    } catch (const std::exception& e) {
        TERN_FAIL(path << ": checkpoint metadata is not valid JSON: " << e.what());
    }
}

// The entries whose names start with `prefix` ("model.", "optim."), with the prefix removed.
static std::map<std::string, Tensor> entries_under(const std::map<std::string, Tensor>& all, const std::string& prefix) {
    std::map<std::string, Tensor> part;
    for (const auto& [name, t] : all)
        if (name.rfind(prefix, 0) == 0) part[name.substr(prefix.size())] = t;
    return part;
}

std::map<std::string, Tensor> load_model_state(const std::string& path) {
    std::map<std::string, Tensor> all = load_tensors(path), model_part = entries_under(all, "model.");
    return model_part.empty() ? all : model_part;
}

nlohmann::json load_checkpoint(const std::string& path, Module& model, const std::vector<SGD*>& optimizers) {
    const nlohmann::json info = read_checkpoint_info(path);
    const std::map<std::string, Tensor> all = load_tensors(path);
    const std::map<std::string, Tensor> model_state = entries_under(all, "model."), optim_state = entries_under(all, "optim.");
    try {
        model.load_state_dict(model_state, /*strict=*/true);
        for (SGD* opt : optimizers) opt->load_state(optim_state);
    } catch (const Error& e) {
        TERN_FAIL(path << ": checkpoint does not fit this model/optimizer: " << e.what());
    }
    return info;
}

}  // namespace tern
