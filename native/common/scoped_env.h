// Environment variables set for a scope and restored after it: the native tests and sas_bench switch the
// CUDA kernel variants (kernels/src/variants.h) per case this way. POSIX (setenv); not part of the library.
#pragma once

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace sas_test {

class ScopedEnv {
  public:
    ScopedEnv() = default;
    ScopedEnv(const ScopedEnv &) = delete;
    ScopedEnv &operator=(const ScopedEnv &) = delete;
    // Sets name = value, remembering the value before the first set of `name` in this scope.
    void set(const char *name, const char *value) {
        bool seen = false;
        for (const auto &e : saved_) seen |= e.first == name;
        if (!seen) {
            const char *old = std::getenv(name);
            saved_.push_back({name, old ? std::make_pair(true, std::string(old)) : std::make_pair(false, std::string())});
        }
        setenv(name, value, 1);
    }
    ~ScopedEnv() {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
            if (it->second.first)
                setenv(it->first.c_str(), it->second.second.c_str(), 1);
            else
                unsetenv(it->first.c_str());
        }
    }

  private:
    std::vector<std::pair<std::string, std::pair<bool, std::string>>> saved_;
};

}  // namespace sas_test
