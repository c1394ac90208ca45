# C++ flags shared by the library, the tests and the bench: C++17, warnings are errors, hidden symbols.
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(CMAKE_CXX_VISIBILITY_PRESET hidden)
set(CMAKE_CUDA_VISIBILITY_PRESET hidden)
set(CMAKE_VISIBILITY_INLINES_HIDDEN ON)

# Flags for host C++ sources (not passed to nvcc, see SasCuda.cmake for the device side).
set(SAS_CXX_WARNINGS -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter)
set(SAS_CXX_OPT $<$<CONFIG:Release,RelWithDebInfo>:-O3> -fno-math-errno)

find_package(Threads REQUIRED)
