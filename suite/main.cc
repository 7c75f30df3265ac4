// omni-suite: the test runner. Every suite/test_*.cc adds its cases to this binary.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
