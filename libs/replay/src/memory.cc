// Memory at any moment: the address space as the map events left it at that
// time, each byte's starting contents, and the latest write at or before it.
#include "omni/replay/memory.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "omni/base/error.h"
#include "omni/symbols/symbols.h"

namespace omni::replay {

namespace {

constexpr uint64_t kPage = 4096;

// One mapping live at the queried time. `since` is when it was mapped: writes
// before then went to an earlier mapping and do not count.
struct Mapping {
  uint64_t end;
  uint64_t since;
  bool startup;
  bool writable_at_start;
  std::string path;
  uint64_t offset;  // file offset of the mapping's start
};

using AddressSpace = std::map<uint64_t, Mapping>;  // by start; no overlaps

void unmap(AddressSpace& space, uint64_t start, uint64_t end) {
  auto it = space.lower_bound(start);
  if (it != space.begin() && std::prev(it)->second.end > start) --it;
  while (it != space.end() && it->first < end) {
    uint64_t s = it->first;
    Mapping m = it->second;
    it = space.erase(it);
    if (s < start) {
      Mapping left = m;
      left.end = start;
      space.emplace(s, left);
    }
    if (m.end > end) {
      Mapping right = m;
      if (!right.path.empty()) right.offset += end - s;
      space.emplace(end, right);
    }
  }
}

AddressSpace address_space_at(index::IndexReader& reader, uint64_t time) {
  AddressSpace space;
  for (const index::MapRow& row : reader.maps(time)) {
    uint64_t end = row.start + row.length;
    if (row.event == "munmap" || row.event == "brk-shrink") {
      unmap(space, row.start, end);
    } else if (row.event == "startup" || row.event == "mmap" || row.event == "brk-grow") {
      unmap(space, row.start, end);
      space.emplace(row.start, Mapping{end, row.time, row.event == "startup", row.prot.size() > 1 && row.prot[1] == 'w',
                                       row.path, row.offset});
    }
  }
  return space;
}

// The mapping holding `addr` (its start and description), or null.
const AddressSpace::value_type* mapping_of(const AddressSpace& space, uint64_t addr) {
  auto it = space.upper_bound(addr);
  if (it == space.begin()) return nullptr;
  --it;
  if (addr >= it->second.end) return nullptr;
  return &*it;
}

}  // namespace

MemoryImage read_memory(index::IndexReader& reader, uint64_t addr, uint64_t size, uint64_t time) {
  if (size == 0 || size > (64u << 20)) fail("--read size must be between 1 byte and 64 MiB");
  MemoryImage image{addr, size, time, std::vector<uint8_t>(size, 0), std::vector<bool>(size, false), {}};
  AddressSpace space = address_space_at(reader, time);

  // Which mapping holds each byte (its start), and the bytes still to settle.
  std::vector<const AddressSpace::value_type*> owner(size, nullptr);
  std::vector<bool> settled(size, false);
  uint64_t unsettled = 0;
  for (uint64_t i = 0; i < size; ++i) {
    owner[i] = mapping_of(space, addr + i);
    image.mapped[i] = owner[i] != nullptr;
    if (owner[i]) ++unsettled;
  }

  // The latest write at or before `time`, walking back chunk by chunk: a hot
  // address is settled by the newest chunk and nothing older is read.
  std::vector<uint32_t> ids = reader.chunks_writing(addr, size);
  const auto& chunks = reader.chunks();
  for (auto it = ids.rbegin(); it != ids.rend() && unsettled > 0; ++it) {
    if (*it >= chunks.size()) fail("index is corrupt: chunk {} is missing; run `omni index` again", *it);
    if (chunks[*it].time_first > time) continue;
    index::DecodedChunk chunk = reader.load_chunk(*it);
    for (auto e = chunk.events.rbegin(); e != chunk.events.rend() && unsettled > 0; ++e) {
      if (e->time > time || e->addr >= addr + size || e->addr + e->size <= addr) continue;
      uint64_t first = std::max(e->addr, addr), last = std::min(e->addr + e->size, addr + size);
      for (uint64_t a = first; a < last; ++a) {
        uint64_t i = a - addr;
        if (settled[i] || !owner[i] || e->time < owner[i]->second.since) continue;
        image.bytes[i] = chunk.data[e->data_offset + (a - e->addr)];
        settled[i] = true;
        --unsettled;
      }
    }
  }

  // Bytes never written since their mapping appeared hold its starting
  // contents: the recorded initial page for memory writable at startup, else
  // the mapped file's bytes, else zero.
  std::map<uint64_t, std::optional<std::vector<uint8_t>>> pages;
  std::map<std::string, std::FILE*> files;
  // An ELF file whose build-id is no longer the recorded one (a library
  // upgraded since) is not the recorded file: its bytes are not used.
  std::map<std::string, std::string> recorded_build_ids;
  for (const index::ObjectRow& object : reader.objects())
    if (!object.build_id.empty()) recorded_build_ids[object.path] = object.build_id;
  auto open_recorded = [&](const std::string& path) -> std::FILE* {
    auto recorded = recorded_build_ids.find(path);
    if (recorded != recorded_build_ids.end()) {
      auto now = symbols::read_elf_info(path);
      if (!now || now->build_id != recorded->second) return nullptr;
    }
    return std::fopen(path.c_str(), "rbe");
  };
  for (uint64_t i = 0; i < size && unsettled > 0; ++i) {
    if (settled[i] || !owner[i]) continue;
    uint64_t a = addr + i, start = owner[i]->first;
    const Mapping* m = &owner[i]->second;
    if (m->startup && m->writable_at_start) {
      uint64_t page = a & ~(kPage - 1);
      auto found = pages.find(page);
      if (found == pages.end()) found = pages.emplace(page, reader.initial_page(page)).first;
      if (found->second && a - page < found->second->size()) image.bytes[i] = (*found->second)[a - page];
    } else if (!m->path.empty()) {
      auto f = files.find(m->path);
      if (f == files.end()) f = files.emplace(m->path, open_recorded(m->path)).first;
      if (!f->second) {
        image.file_missing.insert(m->path);
      } else {
        int c = EOF;
        if (std::fseek(f->second, static_cast<long>(m->offset + (a - start)), SEEK_SET) == 0)
          c = std::fgetc(f->second);
        // Past the end of the file a mapping reads as zeros.
        image.bytes[i] = c == EOF ? 0 : static_cast<uint8_t>(c);
      }
    }
  }
  for (auto& [path, f] : files)
    if (f) std::fclose(f);
  return image;
}

}  // namespace omni::replay
