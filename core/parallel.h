// core/parallel.h — how tern uses threads: OpenMP everywhere, one team for the whole program.
// OpenBLAS is the OpenMP build, so an sgemm called inside an OpenMP region runs on the calling thread instead
// of starting a second team that would fight ours for the two cores.
#pragma once
#include <cstdint>

namespace tern {

// Below this many elements an elementwise loop is not worth waking a second thread for.
constexpr int64_t kParallelGrain = 32768;

int num_threads();              // threads tern ops use (OpenMP's max threads)
void set_num_threads(int n);    // also tells OpenBLAS

}  // namespace tern
