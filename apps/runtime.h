// apps/runtime.h — process setup shared by tern's programs: how OpenMP threads wait.
//
// Between two parallel regions an OpenMP thread either spins (OMP_WAIT_POLICY=active) or sleeps in the kernel
// (passive). On these 2-core VMs the choice is worth more than any kernel, and the right answer depends on
// whether anything else is running:
// - Alone, sleeping is slow: a ResNet-20 training step starts ~200 parallel regions, and waking a sleeping vCPU
//   costs ~100 µs. apps/bench_train, batch 128, runs alternating: spinning 116–125 ms per step, sleeping 147–156.
// - Beside a busy process, spinning is a trap: a spinning thread holds its core while the thread everyone waits
//   for is descheduled. bench_train beside a 2-thread training run: sleeping 249–310 ms per step; spinning up to
//   30k / 100k / 300k iterations (libgomp's default) before sleeping: 442 / 845 / 1640 ms.
// libgomp reads the policy before main() runs, so a program that wants one sets the variable and re-executes
// itself once. prefer_openmp_wait_policy_by_load picks by what is running when the program starts: spin if no
// other thread on the machine is runnable, else sleep. Load that starts later is not seen — run such a program
// with OMP_WAIT_POLICY=passive. A variable set by the user always stands.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace tern {

inline void prefer_openmp_wait_policy(char** argv, const char* policy) {  // policy: "PASSIVE" or "ACTIVE"
    if (std::getenv("OMP_WAIT_POLICY")) return;  // the user's choice (or our own re-exec) stands
    setenv("OMP_WAIT_POLICY", policy, 1);
    execv("/proc/self/exe", argv);  // only returns on failure: then we simply run with the default policy
}

inline void prefer_passive_openmp_wait(char** argv) { prefer_openmp_wait_policy(argv, "PASSIVE"); }

// Threads on the machine that are runnable right now besides this one: /proc/stat's procs_running (which counts
// the reader) − 1, the median of 5 samples 10 ms apart (a daemon waking once does not count). −1 if unreadable.
inline int other_runnable_threads() {
    int samples[5];
    for (int i = 0; i < 5; ++i) {
        if (i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        FILE* f = std::fopen("/proc/stat", "r");
        if (!f) return -1;
        samples[i] = -1;
        char line[256];
        while (std::fgets(line, sizeof line, f))
            if (std::strncmp(line, "procs_running ", 14) == 0) samples[i] = std::atoi(line + 14) - 1;
        std::fclose(f);
    }
    std::sort(samples, samples + 5);
    return samples[2];
}

// Spin when the machine is otherwise idle at start, sleep when anything else runs (see the header). Marks the
// choice in TERN_OMP_WAIT_AUTO so that openmp_wait_policy_note can say why.
inline void prefer_openmp_wait_policy_by_load(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY")) return;
    const bool idle = other_runnable_threads() == 0;
    setenv("TERN_OMP_WAIT_AUTO", idle ? "idle" : "busy", 1);
    prefer_openmp_wait_policy(argv, idle ? "ACTIVE" : "PASSIVE");
}

// One line for the log: the policy in force and where it came from.
inline std::string openmp_wait_policy_note() {
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const char* automatic = std::getenv("TERN_OMP_WAIT_AUTO");
    if (!policy) return "OpenMP wait policy: libgomp's default";
    std::string p = policy;
    for (char& ch : p) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (!automatic) return "OpenMP threads wait " + p + " (OMP_WAIT_POLICY)";
    if (std::strcmp(automatic, "idle") == 0)
        return "OpenMP threads spin while waiting: nothing else was running at start "
               "(OMP_WAIT_POLICY=passive if other programs will share the cores)";
    return "OpenMP threads sleep while waiting: other threads were running at start (OMP_WAIT_POLICY=active "
           "spins, faster on an idle machine)";
}

}  // namespace tern
