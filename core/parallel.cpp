// core/parallel.cpp — thread count shared by tern's OpenMP loops and OpenBLAS.
#include "core/parallel.h"

#include <omp.h>

extern "C" void openblas_set_num_threads(int num_threads);

namespace tern {

int num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

}  // namespace tern
