// Address-space changes as the index keeps them (the maps table): a typed
// kind, its name in the table, and the one rule of what each does to memory,
// which the builder (granule finals) and replay's memory both follow.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace omni::index {

enum class MapKind : uint8_t { Startup, Mmap, Munmap, Mprotect, BrkGrow, BrkShrink };

// The maps table's `event` text ("startup", "mmap", "munmap", "mprotect",
// "brk-grow", "brk-shrink"), and back (nullopt: not one of them).
const char* map_kind_name(MapKind kind);
std::optional<MapKind> map_kind_from_name(std::string_view name);
// From the stream's OMNI_MAP_* (nullopt: another number).
std::optional<MapKind> map_kind_of_stream(uint32_t event);

// A mapping begins over the range (replacing what was there).
inline bool maps_range(MapKind kind) {
  return kind == MapKind::Startup || kind == MapKind::Mmap || kind == MapKind::BrkGrow;
}
// The range stops being mapped.
inline bool unmaps_range(MapKind kind) { return kind == MapKind::Munmap || kind == MapKind::BrkShrink; }
// Writes to the range before the change do not describe its memory after
// it: new memory starts from its own contents, unmapped memory has none.
// (Startup mappings precede every write; mprotect keeps the contents.)
inline bool forgets_contents(MapKind kind) {
  return kind == MapKind::Mmap || kind == MapKind::BrkGrow || unmaps_range(kind);
}

}  // namespace omni::index
