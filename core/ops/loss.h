// core/ops/loss.h — log-softmax and the cross-entropy loss for classification.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace tern {

// log softmax over the last dimension: y_i = x_i − log Σ_j e^{x_j}   (computed stably: max subtracted first)
Tensor log_softmax(const Tensor& x);

// Mean cross-entropy of logits (N, K) against integer labels (N) in [0, K):
//   L = (1/N) Σ_n Σ_k −q_nk · log softmax(x_n)_k,  q_n = (1 − ε)·onehot(label_n) + ε/K   (ε = label smoothing,
// PyTorch's definition). Fused: backward is (softmax(x_n) − q_n) / N.
Tensor cross_entropy(const Tensor& logits, const std::vector<int32_t>& labels, float label_smoothing = 0.f);

// Knowledge distillation (Hinton et al., 2015): the student's logits s (N, K) against a teacher's t (N, K), both
// softened by the temperature T:
//   L = T² · (1/N) Σ_n KL(p_n ‖ q_n),  p_n = softmax(t_n / T) (the teacher, a constant), q_n = softmax(s_n / T).
// The T² keeps the gradient's size independent of T:  ∂L/∂s_nk = T · (q_nk − p_nk) / N. No gradient reaches t.
Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits, float temperature);

// Number of rows whose arg-max equals the label (ties: the first maximum, as torch.argmax).
int64_t count_correct(const Tensor& logits, const std::vector<int32_t>& labels);

}  // namespace tern
