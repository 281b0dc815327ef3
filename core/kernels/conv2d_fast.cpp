// core/kernels/conv2d_fast.cpp — placeholder dispatch to the reference (the fast kernels come next).
#include "core/kernels/conv2d.h"

namespace tern::kernels {
bool conv2d_fast_path(const ConvShape&) { return false; }
void conv2d_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y) {
    conv2d_forward_ref(s, x, w, b, y);
}
void conv2d_backward_data(const ConvShape& s, const float* dy, const float* w, float* dx) {
    conv2d_backward_data_ref(s, dy, w, dx);
}
void conv2d_backward_weight(const ConvShape& s, const float* x, const float* dy, float* dw) {
    conv2d_backward_weight_ref(s, x, dy, dw);
}
}  // namespace tern::kernels
