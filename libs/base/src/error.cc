#include "omni/base/error.h"

#include <cerrno>
#include <cstring>

namespace omni {

void fail_errno(const std::string& what) {
  throw Error(what + ": " + std::strerror(errno));
}

}  // namespace omni
