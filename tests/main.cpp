// tests/main.cpp — the doctest runner. Every tests/test_*.cpp file links into one binary: `make test`.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
