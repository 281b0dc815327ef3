// core/error.h — tern's single error type and the check macro that raises it.
// Every user-visible failure (bad shape, truncated file, NaN loss) is a tern::Error whose message says what is
// wrong and, for files, which file. Nothing in tern calls abort() on bad input.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tern {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace tern

// TERN_CHECK(cond, message stream): throws tern::Error with the streamed message when cond is false.
//   TERN_CHECK(x.dim() == 4, "conv2d: input must be (N,H,W,C), got " << x.shape_str());
#define TERN_CHECK(cond, msg)                                   \
    do {                                                        \
        if (!(cond)) {                                          \
            std::ostringstream tern_check_os_;                  \
            tern_check_os_ << msg;                              \
            throw ::tern::Error(tern_check_os_.str());          \
        }                                                       \
    } while (0)

#define TERN_FAIL(msg) TERN_CHECK(false, msg)
