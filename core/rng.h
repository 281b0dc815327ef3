// core/rng.h — tern's random generator: PCG32 (O'Neill 2014). Its whole state is two 64-bit integers, so a
// checkpoint saves and restores it exactly, and streams derived from (seed, epoch, sample) make data
// augmentation reproducible no matter which worker thread handles which sample.
#pragma once
#include <cmath>
#include <cstdint>

namespace tern {

class Rng {
public:
    explicit Rng(uint64_t seed = 0, uint64_t stream = 0) { reseed(seed, stream); }

    void reseed(uint64_t seed, uint64_t stream = 0) {
        state_ = 0;
        inc_ = (stream << 1u) | 1u;
        next_u32();
        state_ += seed;
        next_u32();
    }

    uint32_t next_u32() {
        const uint64_t old = state_;
        state_ = old * 6364136223846793005ULL + inc_;
        const uint32_t xorshifted = uint32_t(((old >> 18u) ^ old) >> 27u);
        const uint32_t rot = uint32_t(old >> 59u);
        return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
    }

    // Uniform integer in [0, n) without modulo bias (Lemire's method).
    uint32_t below(uint32_t n) {
        uint64_t m = uint64_t(next_u32()) * n;
        uint32_t low = uint32_t(m);
        if (low < n) {
            const uint32_t threshold = uint32_t(-n) % n;
            while (low < threshold) {
                m = uint64_t(next_u32()) * n;
                low = uint32_t(m);
            }
        }
        return uint32_t(m >> 32);
    }

    float uniform() { return float(next_u32() >> 8) * (1.0f / 16777216.0f); }  // [0, 1), 24 random bits
    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

    // Standard normal by Box–Muller (no cached second value, so the state stays two integers).
    float normal() {
        float u1 = uniform();
        while (u1 <= 1e-12f) u1 = uniform();
        const float u2 = uniform();
        return std::sqrt(-2.f * std::log(u1)) * std::cos(6.283185307179586f * u2);
    }

    uint64_t state() const { return state_; }
    uint64_t increment() const { return inc_; }
    void restore(uint64_t state, uint64_t increment) {
        state_ = state;
        inc_ = increment;
    }

private:
    uint64_t state_ = 0, inc_ = 1;
};

// A well-mixed 64-bit hash (SplitMix64 finalizer), for deriving independent seeds from (seed, epoch, index).
inline uint64_t mix_seed(uint64_t a, uint64_t b = 0, uint64_t c = 0) {
    uint64_t z = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL) * 0xBF58476D1CE4E5B9ULL ^
                 (c + 0x1D8E4E27C47D124FULL) * 0x94D049BB133111EBULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

}  // namespace tern
