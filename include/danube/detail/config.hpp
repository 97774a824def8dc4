// How danube-cpp's non-template definitions are compiled (docs/getting-started.md, "Header-only or
// separately compiled").
//
// Header-only (the default): every header carries its definitions, and DANUBE_DECL is `inline`.
// Separately compiled: define DANUBE_SEPARATE_COMPILATION for every translation unit of the program
// (the CMake targets danube::compiled and danube::testing do) and compile src/danube.cpp, plus
// src/danube_testing.cpp for the embedded broker, once. Headers then declare, DANUBE_DECL is empty,
// and the definitions (include/danube/**/impl/*.ipp) are compiled only in those files.
//
// The same declarations and the same definition text serve both modes, so a program that mixes
// header-only and separately compiled translation units still has one definition of everything.
#pragma once

#if defined(DANUBE_SEPARATE_COMPILATION)
#define DANUBE_DECL
#else
#define DANUBE_DECL inline
#endif
