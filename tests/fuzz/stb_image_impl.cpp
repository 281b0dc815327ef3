// tests/fuzz/stb_image_impl.cpp — stb_image's implementation, compiled into the fuzz harnesses in place of
// Debian's libstb.so (the same source: the libstb-dev header), so that it is instrumented for coverage and
// ASan. Only the fuzz build uses this file; the normal build links -lstb.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
