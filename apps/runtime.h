// apps/runtime.h — process setup shared by tern's programs.
//
// OpenMP threads that wait at a barrier spin by default (OMP_WAIT_POLICY=active). On a 2-core machine that is a
// trap: when anything else wants a core (the data loader's worker, another program, a test run), a spinning
// thread holds it while the thread everyone waits for is descheduled. Measured with apps/bench_train and one busy
// competing process: spinning 294 img/s, sleeping 381 img/s; alone the two are equal (703 vs 713). libgomp reads
// the variable before main() runs, so when the user has not chosen a policy we set PASSIVE and re-execute the
// program once.
//
// A latency benchmark on a quiet machine wants the opposite: at batch 1 a ResNet-20 forward is ~40 short parallel
// regions, and waking sleeping threads for each costs more than the work (apps/bench_infer, packed ResNet-20 at
// batch 1: passive 1.5–1.8 ms, spinning 0.42 ms). bench_infer therefore asks for ACTIVE.
#pragma once
#include <unistd.h>

#include <cstdlib>

namespace tern {

inline void prefer_openmp_wait_policy(char** argv, const char* policy) {  // policy: "PASSIVE" or "ACTIVE"
    if (std::getenv("OMP_WAIT_POLICY")) return;  // the user's choice (or our own re-exec) stands
    setenv("OMP_WAIT_POLICY", policy, 1);
    execv("/proc/self/exe", argv);  // only returns on failure: then we simply run with the default policy
}

inline void prefer_passive_openmp_wait(char** argv) { prefer_openmp_wait_policy(argv, "PASSIVE"); }

}  // namespace tern
