// core/kernels/float_vector.h — the float vector the FP32 kernels compute with: one machine register of floats.
//
// `Vec` is a GCC vector extension of kLanes floats (+, −, ·, comparisons, `scalar * Vec` broadcasts). Built for a
// CPU with AVX-512 (-march=native there) it is one 512-bit register of 16 floats; otherwise one 256-bit AVX2
// register of 8. GCC also compiles a vector wider than the machine's registers, but badly: with 16-float vectors
// on an AVX2-only CPU the register-blocked kernels kept their accumulators on the stack (a 2 × 256-bit copy per
// multiply-add) and ResNet-20 trained at 55 img/s instead of ~600. So the kernels take their width and their
// register budget from here, and their packed layouts are in blocks of kLanes channels.
#pragma once

namespace tern::kernels {

#if defined(__AVX512F__)
constexpr int kLanes = 16;            // floats per vector
constexpr int kVectorRegisters = 32;  // zmm0–zmm31
#else
constexpr int kLanes = 8;
constexpr int kVectorRegisters = 16;  // ymm0–ymm15
#endif

typedef float Vec __attribute__((vector_size(kLanes * sizeof(float)), aligned(4)));  // unaligned loads allowed

inline Vec load_vec(const float* p) { return *reinterpret_cast<const Vec*>(p); }
inline void store_vec(float* p, Vec v) { *reinterpret_cast<Vec*>(p) = v; }

// Rows of a register-blocked kernel that keeps rows × V accumulators, V loaded vectors and one broadcast scalar in
// registers. With 32 registers the kernels use the values tuned on AVX-512 (24 / V: slack the compiler uses);
// with 16 they take what fits: 14, 6, 4, 2 rows for V = 1 … 4.
constexpr int register_rows(int V, int tuned_avx512) {
    return kVectorRegisters == 32 ? tuned_avx512 : (kVectorRegisters - 1 - V) / V;
}

}  // namespace tern::kernels
