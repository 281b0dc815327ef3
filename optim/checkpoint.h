// optim/checkpoint.h — save and restore a training run: model state, optimizer momentum, and the run's position.
//
// One safetensors file: tensors "model.<name>" (the state dict) and "optim.<group>/<i>" (momentum buffers), and a
// JSON document in the metadata under "tern.checkpoint" (epoch, step, config, anything the caller adds).
// Written atomically (temp file + rename): a run killed during a save leaves the previous checkpoint intact.
#pragma once
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"
#include "optim/sgd.h"

namespace tern {

// Optimizers keep their state under their group names, so several (e.g. weights and thresholds) share one file.
void save_checkpoint(const std::string& path, const Module& model, const std::vector<const SGD*>& optimizers,
                     const nlohmann::json& info);
// Restores the model (strict: every key must match) and the optimizers; returns the info document.
// Throws tern::Error naming the file if it is missing, malformed, or does not fit the model.
nlohmann::json load_checkpoint(const std::string& path, Module& model, const std::vector<SGD*>& optimizers);
// The model's tensors from a checkpoint (its "model." entries, prefix removed), or the whole file when it is a
// plain state dict (best.safetensors, a pretrained file): what a teacher model or an evaluation loads.
std::map<std::string, Tensor> load_model_state(const std::string& path);
// Reads only the info document (to decide how to resume before building anything).
nlohmann::json read_checkpoint_info(const std::string& path);

}  // namespace tern
