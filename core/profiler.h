// core/profiler.h — optional wall-time accounting by op kind, for apps/bench_train's time split.
// Ops open a ProfileScope with their kind; when profiling is off (the default) a scope costs one branch.
#pragma once
#include <chrono>
#include <cstdint>

namespace tern {

enum class OpKind { ConvForward, ConvBackwardData, ConvBackwardWeight, BatchNorm, Elementwise, Pool, Linear, Loss,
                    Quantizer, Optimizer, Other, Count };
const char* op_kind_name(OpKind k);

struct Profile {
    double seconds[int(OpKind::Count)] = {};
};

void set_profiling(bool on);
bool profiling();
Profile profile_snapshot();  // totals since the last reset
void profile_reset();
void profile_add(OpKind kind, double seconds);

class ProfileScope {
public:
    explicit ProfileScope(OpKind kind) : kind_(kind), on_(profiling()) {
        if (on_) start_ = std::chrono::steady_clock::now();
    }
    ~ProfileScope() {
        if (on_) profile_add(kind_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    ProfileScope(const ProfileScope&) = delete;
    ProfileScope& operator=(const ProfileScope&) = delete;

private:
    OpKind kind_;
    bool on_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace tern
