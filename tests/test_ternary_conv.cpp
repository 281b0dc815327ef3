// tests/test_ternary_conv.cpp — ternary convolution for inference: weight packing round trip, the reference on a
// hand-computed example and against the float convolution, and every SIMD kernel against the reference bit for
// bit (all epilogues, odd shapes, stride 1/2/3, padding 0/1/3, kernels 1/3/7, pad value 0 and 128).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/kernels/conv2d.h"
#include "core/kernels/ternary_conv.h"

using namespace tern;
using namespace tern::kernels;

namespace {

std::vector<int8_t> random_codes(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int8_t> v(static_cast<size_t>(n));
    for (int8_t& c : v) c = int8_t(int(rng() % 3) - 1);
    return v;
}
std::vector<uint8_t> random_bytes(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(static_cast<size_t>(n));
    for (uint8_t& c : v) c = uint8_t(rng());
    return v;
}
std::vector<float> random_floats(int64_t n, float lo, float hi, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& f : v) f = d(rng);
    return v;
}

// Restores the instruction set chosen before the test.
struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { force_isa(saved); }
};

}  // namespace

TEST_CASE("ternary weights pack into 2 bits each and unpack unchanged") {
    struct W {
        int64_t OC, C, KH, KW;
    };
    uint32_t seed = 1;
    for (const W& s : {W{5, 3, 7, 7}, W{17, 5, 3, 3}, W{1, 1, 1, 1}, W{33, 17, 1, 1}, W{16, 64, 3, 3}, W{3, 13, 5, 2}}) {
        INFO("OC" << s.OC << " C" << s.C << " K" << s.KH << "x" << s.KW);
        const std::vector<int8_t> codes = random_codes(s.OC * s.C * s.KH * s.KW, ++seed);
        const PackedTernaryWeights p = PackedTernaryWeights::pack(codes.data(), s.OC, s.C, s.KH, s.KW);
        CHECK(p.codes() == codes);
        // ⌈OC/16⌉ blocks × ⌈KH·⌈KW·C/4⌉/4⌉ chunks × 64 bytes; e.g. 16×64×3×3 → 1 × 36 × 64 = 2304 B = 2 bits/weight.
        const int64_t chunks = (s.KH * ((s.KW * s.C + 3) / 4) + 3) / 4;
        CHECK(p.bytes() == size_t((s.OC + 15) / 16 * chunks * 64));
    }
    const PackedTernaryWeights p = PackedTernaryWeights::pack(random_codes(16 * 64 * 9, 7).data(), 16, 64, 3, 3);
    CHECK(p.bytes() * 8 == size_t(2 * 16 * 64 * 9));
    const int8_t bad[2] = {1, 2};
    CHECK_THROWS_WITH_AS(PackedTernaryWeights::pack(bad, 2, 1, 1, 1), doctest::Contains("not in {-1, 0, 1}"),
                         tern::Error);
}

TEST_CASE("ternary_conv_ref on a hand-computed example") {
    // x is one 3×3 single-channel image holding 1..9 (row-major). Two 2×2 filters:
    //   oc 0: +1 top-left, −1 bottom-right → x[i, j] − x[i+1, j+1] = −4 at every position
    //   oc 1: all +1                       → the window sums 1+2+4+5 = 12, 2+3+5+6 = 16, 24, 28
    const std::vector<uint8_t> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const std::vector<int8_t> codes = {1, 0, 0, -1, /* oc 1 */ 1, 1, 1, 1};  // (OC 2, C 1, 2, 2)
    const PackedTernaryWeights w = PackedTernaryWeights::pack(codes.data(), 2, 1, 2, 2);
    const auto s = TernaryConvShape::make(1, 3, 3, 1, 2, 2, 2, 1, 0);
    REQUIRE(s.OH == 2);
    std::vector<int32_t> acc(8);
    ternary_conv_ref(s, x.data(), 0, w, Epilogue{}, acc.data());
    CHECK(acc == std::vector<int32_t>{-4, 12, -4, 16, -4, 24, -4, 28});  // (1, 2, 2, 2): pixel-major

    // Float: a = (0.5, 0.25), b = (1, −1): oc 0 → 0.5·(−4) + 1 = −1; oc 1 → 0.25·12 − 1 = 2, then 3, 5, 6.
    // Adding a residual of 0.5 gives −0.5 and 2.5, 3.5, 5.5, 6.5; ReLU turns −0.5 into 0.
    const float a[2] = {0.5f, 0.25f}, b[2] = {1.f, -1.f};
    const std::vector<float> residual(8, 0.5f);
    std::vector<float> y(8);
    Epilogue e;
    e.kind = Epilogue::Float, e.scale = a, e.bias = b;
    ternary_conv_ref(s, x.data(), 0, w, e, y.data());
    CHECK(y == std::vector<float>{-1, 2, -1, 3, -1, 5, -1, 6});
    e.residual = residual.data(), e.relu = true;
    ternary_conv_ref(s, x.data(), 0, w, e, y.data());
    CHECK(y == std::vector<float>{0, 2.5f, 0, 3.5f, 0, 5.5f, 0, 6.5f});

    // Uint8: a = 0.25, b = 0, out_inv_step 0.5, qmax 3. oc 1: 0.25·(12, 16, 24, 28) = (3, 4, 6, 7), times 0.5
    // = (1.5, 2, 3, 3.5) → half to even (2, 2, 3, 4) → clamped to qmax (2, 2, 3, 3). oc 0: −1·0.5 → 0.
    const float a8[2] = {0.25f, 0.25f};
    e = Epilogue{};
    e.kind = Epilogue::Uint8, e.scale = a8, e.out_inv_step = 0.5f, e.qmax = 3;
    std::vector<uint8_t> q(8);
    ternary_conv_ref(s, x.data(), 0, w, e, q.data());
    CHECK(q == std::vector<uint8_t>{0, 2, 0, 2, 0, 3, 0, 3});

    // Padding 1 with pad value 10: output 4×4. Corner (0, 0) sees three padded 10s and x[0, 0] = 1:
    // oc 0 → 10 − 1 = 9, oc 1 → 10 + 10 + 10 + 1 = 31. Corner (3, 3) sees x[2, 2] = 9 top-left, then 10s:
    // oc 0 → 9 − 10 = −1, oc 1 → 9 + 30 = 39.
    const auto sp = TernaryConvShape::make(1, 3, 3, 1, 2, 2, 2, 1, 1);
    std::vector<int32_t> accp(32);
    ternary_conv_ref(sp, x.data(), 10, w, Epilogue{}, accp.data());
    CHECK(accp[0] == 9);
    CHECK(accp[1] == 31);
    CHECK(accp[30] == -1);
    CHECK(accp[31] == 39);
}

TEST_CASE("ternary_conv_ref equals the float convolution on small integers") {
    // Sums of at most 7·7·5 products of bytes and ±1 are far below 2²⁴, so the float convolution (accumulated in
    // double) is exact and must agree with the int32 sums. Padding reads as 0 in both.
    const auto s = TernaryConvShape::make(2, 9, 8, 5, 7, 7, 7, 2, 3);
    const std::vector<uint8_t> x = random_bytes(2 * 9 * 8 * 5, 11);
    const std::vector<int8_t> codes = random_codes(7 * 5 * 7 * 7, 12);
    std::vector<int32_t> acc(size_t(s.N * s.OH * s.OW * s.OC));
    ternary_conv_ref(s, x.data(), 0, PackedTernaryWeights::pack(codes.data(), 7, 5, 7, 7), Epilogue{}, acc.data());
    const std::vector<float> xf(x.begin(), x.end()), wf(codes.begin(), codes.end());
    std::vector<float> yf(acc.size());
    conv2d_forward_ref(ConvShape::make(2, 9, 8, 5, 7, 7, 7, 2, 2, 3, 3, 1), xf.data(), wf.data(), nullptr, yf.data());
    CHECK(std::vector<float>(acc.begin(), acc.end()) == yf);
}

namespace {
struct Case {
    int64_t N, H, W, C, OC, K, stride, pad;
};

// Runs every supported SIMD kernel against the reference on one shape (conv, or linear when `linear`) with
// each epilogue; outputs must match byte for byte and nothing past the output may be written.
void check_against_reference(const Case& c, bool linear, uint32_t seed) {
    const auto s = TernaryConvShape::make(c.N, c.H, c.W, c.C, c.OC, c.K, c.K, c.stride, c.pad);
    const int64_t out_n = s.N * s.OH * s.OW * s.OC;
    const std::vector<uint8_t> x = random_bytes(c.N * c.H * c.W * c.C, seed);
    std::vector<int8_t> codes = random_codes(c.OC * c.C * c.K * c.K, seed + 1);
    std::fill(codes.begin(), codes.begin() + c.C * c.K * c.K, int8_t(0));  // channel 0 sums to 0 (see −0 below)
    const PackedTernaryWeights w = PackedTernaryWeights::pack(codes.data(), c.OC, c.C, c.K, c.K);
    // Scales that bring the sums (spread ~ 128·√(C·K²)) to about ±qmax, so uint8 outputs hit 0, qmax and
    // everything between; one case with a = 0.5 makes every odd sum a rounding tie.
    const float spread = 128.f * std::sqrt(float(c.C * c.K * c.K));
    const std::vector<float> scale = random_floats(c.OC, 0.2f / spread, 2.f / spread, seed + 2);
    const std::vector<float> bias = random_floats(c.OC, -0.5f, 1.f, seed + 3);
    const std::vector<float> halves(size_t(c.OC), 0.5f), residual = random_floats(out_n, -1.f, 1.f, seed + 4);
    const std::vector<float> minus_one(size_t(c.OC), -1.f), minus_zero(size_t(c.OC), -0.f);

    std::vector<Epilogue> epilogues;
    epilogues.push_back(Epilogue{});
    Epilogue f;
    f.kind = Epilogue::Float;
    epilogues.push_back(f);  // no scale, no bias: float(acc)
    f.scale = scale.data(), f.bias = bias.data();
    epilogues.push_back(f);
    f.residual = residual.data(), f.relu = true;
    epilogues.push_back(f);
    f.residual = nullptr;
    epilogues.push_back(f);  // relu without residual
    // fmaf(−1, 0, −0) = −0 on channel 0: stored as −0 without ReLU, as +0 with it (max(−0, 0) takes the 0).
    Epilogue z;
    z.kind = Epilogue::Float, z.scale = minus_one.data(), z.bias = minus_zero.data();
    epilogues.push_back(z);
    z.relu = true;
    epilogues.push_back(z);
    for (int qmax : {3, 15, 255}) {
        Epilogue q;
        q.kind = Epilogue::Uint8, q.scale = scale.data(), q.bias = bias.data(), q.qmax = qmax;
        q.out_inv_step = float(qmax) / 2.f;
        epilogues.push_back(q);
    }
    Epilogue ties;
    ties.kind = Epilogue::Uint8, ties.scale = halves.data(), ties.bias = bias.data(), ties.qmax = 255;
    epilogues.push_back(ties);

    IsaGuard guard;
    for (uint8_t pad_value : {uint8_t(0), uint8_t(128)}) {
        for (size_t k = 0; k < epilogues.size(); ++k) {
            const Epilogue& e = epilogues[k];
            const size_t elem = e.kind == Epilogue::Uint8 ? 1 : 4, bytes = size_t(out_n) * elem;
            std::vector<uint8_t> want(bytes + 64, 0xCD), got(bytes + 64);
            if (linear) ternary_linear_ref(c.W, x.data(), w, e, want.data());
            else ternary_conv_ref(s, x.data(), pad_value, w, e, want.data());
            for (Isa isa : {Isa::Avx2, Isa::Avx512Vnni}) {
                if (!isa_supported(isa)) continue;
                INFO(isa_name(isa) << (linear ? " linear" : " conv") << " N" << c.N << " H" << c.H << " W" << c.W
                                   << " C" << c.C << " OC" << c.OC << " K" << c.K << " stride " << c.stride
                                   << " pad " << c.pad << " pad value " << int(pad_value) << " epilogue #" << k);
                force_isa(isa);
                std::fill(got.begin(), got.end(), uint8_t(0xCD));  // every output byte must be written, no more
                if (linear) ternary_linear(c.W, x.data(), w, e, got.data());
                else ternary_conv(s, x.data(), pad_value, w, e, got.data());
                CHECK(std::memcmp(got.data(), want.data(), got.size()) == 0);
            }
            if (linear) break;  // no padding in a linear layer
        }
    }
}
}  // namespace

TEST_CASE("SIMD ternary convolutions equal the reference bit for bit") {
    const Case cases[] = {
        {1, 7, 9, 3, 16, 3, 1, 1},   {3, 7, 9, 5, 17, 3, 1, 1},   {3, 8, 8, 17, 5, 3, 2, 1},
        {2, 9, 7, 16, 32, 3, 2, 1},  {1, 5, 6, 64, 64, 3, 1, 1},  {3, 6, 5, 64, 17, 3, 1, 0},
        {2, 7, 7, 5, 5, 1, 1, 0},    {2, 8, 8, 16, 32, 1, 2, 0},  {1, 13, 11, 3, 16, 7, 2, 3},
        {1, 30, 30, 16, 16, 3, 1, 1}, {1, 3, 50, 3, 5, 3, 1, 1},  {3, 4, 4, 64, 80, 3, 1, 1},
        {1, 1, 1, 16, 16, 3, 1, 1},  {2, 5, 5, 8, 16, 3, 3, 1},   {1, 9, 9, 16, 64, 7, 1, 3},
        {3, 9, 9, 32, 17, 1, 2, 0},  {1, 6, 6, 4, 20, 3, 1, 0},
        {1, 24, 24, 5, 20, 3, 1, 1},  // rows of 24 pixels: one block of R = 24
        {2, 5, 6, 7, 64, 3, 1, 1},    // rows of 6: 4 channel blocks at once (V = 4)
        {17, 5, 5, 8, 16, 3, 1, 1},   // batch ≥ 16: whole images per work item
    };
    uint32_t seed = 100;
    for (const Case& c : cases) check_against_reference(c, false, seed += 10);
}

TEST_CASE("SIMD ternary linear layers equal the reference bit for bit") {
    // (N, C) → (N, OC), written as Case{1, 1, N, C, OC, 1, 1, 0}.
    const Case cases[] = {{1, 1, 3, 17, 5, 1, 1, 0}, {1, 1, 1, 512, 100, 1, 1, 0}, {1, 1, 37, 100, 33, 1, 1, 0},
                          {1, 1, 2, 64, 10, 1, 1, 0}};
    uint32_t seed = 900;
    for (const Case& c : cases) check_against_reference(c, true, seed += 10);
}

TEST_CASE("ternary_conv rejects weights of another shape and misused epilogues") {
    const std::vector<int8_t> codes = random_codes(8 * 3 * 3 * 3, 5);
    const PackedTernaryWeights w = PackedTernaryWeights::pack(codes.data(), 8, 3, 3, 3);
    const std::vector<uint8_t> x(4 * 4 * 4);
    std::vector<int32_t> out(4 * 4 * 8);
    CHECK_THROWS_WITH_AS(ternary_conv(TernaryConvShape::make(1, 4, 4, 4, 8, 3, 3, 1, 1), x.data(), 0, w, Epilogue{},
                                      out.data()),
                         doctest::Contains("do not match"), tern::Error);
    const auto s = TernaryConvShape::make(1, 4, 4, 3, 8, 3, 3, 1, 1);
    Epilogue e;
    e.relu = true;  // ReLU belongs to the Float epilogue
    CHECK_THROWS_WITH_AS(ternary_conv(s, x.data(), 0, w, e, out.data()), doctest::Contains("Float epilogue only"),
                         tern::Error);
    e = Epilogue{};
    e.kind = Epilogue::Uint8, e.qmax = 256;
    CHECK_THROWS_WITH_AS(ternary_conv_ref(s, x.data(), 0, w, e, out.data()), doctest::Contains("qmax"), tern::Error);
}
