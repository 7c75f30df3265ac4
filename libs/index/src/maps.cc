#include "omni/index/maps.h"

#include "omni/trace/stream.h"

namespace omni::index {

namespace {

struct Named {
  MapKind kind;
  const char* name;
  uint32_t stream;
};
constexpr Named kKinds[] = {
    {MapKind::Startup, "startup", OMNI_MAP_STARTUP},     {MapKind::Mmap, "mmap", OMNI_MAP_MMAP},
    {MapKind::Munmap, "munmap", OMNI_MAP_MUNMAP},        {MapKind::Mprotect, "mprotect", OMNI_MAP_MPROTECT},
    {MapKind::BrkGrow, "brk-grow", OMNI_MAP_BRK_GROW},   {MapKind::BrkShrink, "brk-shrink", OMNI_MAP_BRK_SHRINK},
};

}  // namespace

const char* map_kind_name(MapKind kind) {
  for (const Named& n : kKinds)
    if (n.kind == kind) return n.name;
  return "unknown";
}

std::optional<MapKind> map_kind_from_name(std::string_view name) {
  for (const Named& n : kKinds)
    if (name == n.name) return n.kind;
  return std::nullopt;
}

std::optional<MapKind> map_kind_of_stream(uint32_t event) {
  for (const Named& n : kKinds)
    if (n.stream == event) return n.kind;
  return std::nullopt;
}

}  // namespace omni::index
