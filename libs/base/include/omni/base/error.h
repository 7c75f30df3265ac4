// The one exception type of omni. Libraries throw it with enough context for a
// user to act on; only the multitool's main catches it and prints
// "omni: error: <what>".
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace omni {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Throws Error with strerror(errno) appended: "<what>: <strerror>".
[[noreturn]] void fail_errno(const std::string& what);

}  // namespace omni
