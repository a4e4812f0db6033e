// What the fuzz targets share: a property check that survives NDEBUG
// (buildtype=debugoptimized keeps assert(), a release build would not) and
// tells libFuzzer about a broken property by aborting, which it reports as a
// crash and saves as an artifact.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)
