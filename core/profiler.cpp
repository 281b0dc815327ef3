// core/profiler.cpp — global per-kind time totals (only touched from the thread that runs the ops).
#include "core/profiler.h"

namespace tern {
namespace {
bool g_on = false;
Profile g_profile;
}  // namespace

const char* op_kind_name(OpKind k) {
    static const char* names[] = {"conv_forward", "conv_backward_data", "conv_backward_weight", "batch_norm",
                                  "elementwise", "pool", "linear", "loss", "quantizer", "optimizer", "other"};
    return names[int(k)];
}
void set_profiling(bool on) { g_on = on; }
bool profiling() { return g_on; }
Profile profile_snapshot() { return g_profile; }
void profile_reset() { g_profile = Profile(); }
void profile_add(OpKind kind, double seconds) { g_profile.seconds[int(kind)] += seconds; }

}  // namespace tern
