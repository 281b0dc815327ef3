// layers/init.h — weight initializers, matching torch.nn.init.
#pragma once
#include "core/rng.h"
#include "core/tensor.h"

namespace tern {

// fan_in = in·kh·kw (dimension 1 onward), fan_out = out·kh·kw, for a weight (out, in, kh, kw) or (out, in).
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);

enum class FanMode { In, Out };
// N(0, std²) with std = √2 / √fan  (kaiming_normal_ with nonlinearity='relu'; used by ResNets)
void kaiming_normal_(const Tensor& w, Rng& rng, FanMode mode = FanMode::In);
// U(−b, b) with b = 1/√fan_in: PyTorch's default for Conv2d/Linear weights (kaiming_uniform_, a = √5) and biases.
void default_uniform_(const Tensor& t, int64_t fan_in, Rng& rng);
void uniform_(const Tensor& t, float lo, float hi, Rng& rng);
void normal_(const Tensor& t, float mean, float std, Rng& rng);

}  // namespace tern
