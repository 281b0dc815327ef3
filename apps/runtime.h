// apps/runtime.h — process setup shared by tern's programs.
//
// OpenMP threads that wait at a barrier spin by default (OMP_WAIT_POLICY=active). On a 2-core machine that is a
// trap: when anything else wants a core (the data loader's worker, another program, a test run), a spinning
// thread holds it while the thread everyone waits for is descheduled. Measured with apps/bench_train and one busy
// competing process: spinning 294 img/s, sleeping 381 img/s; alone the two are equal (703 vs 713). libgomp reads
// the variable before main() runs, so when the user has not chosen a policy we set PASSIVE and re-execute the
// program once.
#pragma once
#include <unistd.h>

#include <cstdlib>

namespace tern {

inline void prefer_passive_openmp_wait(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY")) return;  // the user's choice (or our own re-exec) stands
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // only returns on failure: then we simply run with the default policy
}

}  // namespace tern
