// The address space: maps (every change, in stream order) and objects (each
// ELF file mapped at its first load segment's offset, with its bias and the
// span of its mappings, unloaded by the first munmap that covers its start). Objects
// are written at finish, numbered from 1 in load order.
#include <algorithm>

#include "builder_tables.h"
#include "omni/trace/stream.h"

namespace omni::index {

namespace {

std::string prot_text(uint32_t prot) {
  std::string text = "---";
  if (prot & 1) text[0] = 'r';
  if (prot & 2) text[1] = 'w';
  if (prot & 4) text[2] = 'x';
  if (prot & OMNI_PROT_SHARED) text += 's';
  return text;
}

}  // namespace

MapsWriter::MapsWriter(Database& db)
    : db_(db),
      insert_map_(db, "INSERT INTO maps (time,event,start,length,prot,path,offset) VALUES (?,?,?,?,?,?,?)") {}

void MapsWriter::map(const trace::MapEvent& event, MapKind kind) {
  insert_map_.bind(1, event.time)
      .bind(2, std::string_view(map_kind_name(kind)))
      .bind(3, event.start)
      .bind(4, event.length)
      .bind(5, std::string_view(prot_text(event.prot)));
  if (event.path.empty()) insert_map_.bind_null(6).bind_null(7);
  else insert_map_.bind(6, std::string_view(event.path)).bind(7, event.offset);
  insert_map_.run();
  track_objects(event);
}

void MapsWriter::finish() {
  Statement object(db_, "INSERT INTO objects VALUES (?,?,?,?,?,?,?,?)");
  for (const Object& o : objects_) {
    object.bind(1, o.id).bind(2, std::string_view(o.path));
    if (o.build_id.empty()) object.bind_null(3);
    else object.bind(3, std::string_view(o.build_id));
    object.bind(4, o.bias).bind(5, o.start).bind(6, o.end).bind(7, o.time_loaded);
    if (o.time_unloaded) object.bind(8, *o.time_unloaded);
    else object.bind_null(8);
    object.run();
  }
}

void MapsWriter::track_objects(const trace::MapEvent& event) {
  uint64_t end = event.start + event.length;
  if (event.event == OMNI_MAP_MUNMAP) {
    for (Object& o : objects_)
      if (!o.time_unloaded && event.start <= o.start && o.start < end) o.time_unloaded = event.time;
    return;
  }
  if ((event.event != OMNI_MAP_STARTUP && event.event != OMNI_MAP_MMAP) || event.path.empty()) return;
  for (Object& o : objects_) {
    if (!o.time_unloaded && o.path == event.path && event.start >= o.start && event.start <= o.end + (64u << 20)) {
      o.start = std::min(o.start, event.start);
      o.end = std::max(o.end, end);
      return;
    }
  }
  auto cached = elf_info_.find(event.path);
  if (cached == elf_info_.end()) cached = elf_info_.emplace(event.path, elf::read_elf_info(event.path)).first;
  const auto& info = cached->second;
  if (!info || event.offset != info->first_load_offset) return;
  objects_.push_back({static_cast<int64_t>(objects_.size() + 1), event.path, info->build_id,
                      event.start - info->first_load_vaddr, event.start, end, event.time, {}});
}

}  // namespace omni::index
