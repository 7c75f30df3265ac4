// Memory at any moment: the address space as the map events left it at that
// time, each byte's starting contents, and the latest write at or before it.
#include "omni/replay/memory.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <unordered_map>

#include "omni/index/format.h"

#include "omni/base/error.h"
#include "omni/index/files.h"
#include "omni/elf/elf.h"

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
  bool shared;  // MAP_SHARED / SysV shm: never read from the file (stream.h, OMNI_PROT_SHARED)
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

// The mapping holding `addr` (its start and description), or null.
const AddressSpace::value_type* mapping_of(const AddressSpace& space, uint64_t addr) {
  auto it = space.upper_bound(addr);
  if (it == space.begin()) return nullptr;
  --it;
  if (addr >= it->second.end) return nullptr;
  return &*it;
}

// A decoded chunk; past its first kScannedLookups lookups, with its events
// chained by the granules they touch (before, a lookup scans the events: a
// question that reads a few bytes, such as --read, does not build the
// chains). Chains, not a sort by granule: built in one pass over the events,
// a third of the sort's time on a 65,536-event chunk.
struct ChunkView {
  index::DecodedChunk chunk;  // its events up to `until` only
  uint64_t until = 0;
  // Bucket b's newest entry + 1 (0: none); a granule's bucket is a hash of
  // it, so a chain also holds other granules' events (a lookup skips them).
  // Empty until the chains are built.
  std::vector<uint32_t> heads;
  // Per (event, granule it touches): the event, and the entry + 1 of the
  // next older event in the same bucket (0: none). Events are in time order,
  // so a chain runs newest first.
  std::vector<std::pair<uint32_t, uint32_t>> entries;
  unsigned lookups = 0;
  bool chained() const { return !heads.empty(); }
  size_t bucket_of(uint64_t granule) const {
    return static_cast<size_t>((granule * 0x9E3779B97F4A7C15ull) >> 32) & (heads.size() - 1);
  }
};
constexpr unsigned kScannedLookups = 4;

// Decoded chunks kept (~4 MB each with their granule order). 64 made
// --calls on python3 use 620 MB and spend its time faulting fresh pages in;
// 16: 420 MB and 25% faster, with the same answers.
constexpr size_t kChunkCache = 16;

}  // namespace

struct MemoryReader::Impl {
  index::IndexReader& reader;
  std::vector<index::MapRow> maps;  // every address-space change, in order
  // The address space after maps[0, applied): valid for times in
  // [maps[applied - 1].time, maps[applied].time).
  AddressSpace space;
  size_t applied = 0;
  bool space_valid = false;
  struct Row {
    index::IndexReader::WriteRow row;
    std::unordered_map<uint64_t, std::vector<uint32_t>> lists;  // decoded so far
  };
  // Address index rows by (page, segment asked for): the page's latest row
  // at or before that segment (null: none).
  std::map<std::pair<uint64_t, uint32_t>, std::shared_ptr<Row>> rows;
  std::unordered_map<uint32_t, std::shared_ptr<ChunkView>> chunks;
  std::vector<uint32_t> chunk_order;  // oldest first, for eviction
  struct Finals {
    std::vector<uint8_t> body;
    bool complete = false;
  };
  std::map<std::pair<uint32_t, uint64_t>, Finals> finals_cache;
  std::map<uint64_t, std::optional<std::vector<uint8_t>>> initial;
  std::map<std::string, std::FILE*> files;
  // Pages of mapped files, read whole: replayed code loads constants from
  // them one small read at a time. Bounded: cleared when full.
  std::map<std::pair<std::FILE*, uint64_t>, std::vector<uint8_t>> file_pages;
  std::map<std::string, std::string> recorded_build_ids;

  explicit Impl(index::IndexReader& r) : reader(r), maps(r.maps(static_cast<uint64_t>(INT64_MAX))) {
    for (const index::ObjectRow& object : reader.objects()) recorded_build_ids[object.path] = object.build_id;
  }
  ~Impl() {
    for (auto& [path, f] : files)
      if (f) std::fclose(f);
  }

  const AddressSpace& space_at(uint64_t time) {
    size_t wanted = 0;
    while (wanted < maps.size() && maps[wanted].time <= time) ++wanted;
    if (!space_valid || wanted < applied) {
      space.clear();
      applied = 0;
      space_valid = true;
    }
    for (; applied < wanted; ++applied) {
      const index::MapRow& row = maps[applied];
      uint64_t end = row.start + row.length;
      if (index::unmaps_range(row.kind)) {
        unmap(space, row.start, end);
      } else if (index::maps_range(row.kind)) {
        unmap(space, row.start, end);
        space.emplace(row.start, Mapping{end, row.time, row.kind == index::MapKind::Startup, row.writable,
                                         row.shared, row.path, row.offset});
      }
    }
    return space;
  }

  Row* write_row(uint64_t page, uint32_t segment) {
    auto key = std::make_pair(page, segment);
    auto it = rows.find(key);
    if (it == rows.end()) {
      if (rows.size() >= 4096) rows.clear();
      std::shared_ptr<Row> row;
      if (auto found = reader.write_row(page, segment)) {
        row = std::make_shared<Row>();
        row->row = std::move(*found);
      }
      it = rows.emplace(key, std::move(row)).first;
    }
    return it->second.get();
  }

  // The chunks of a row's segment that wrote `granule`, ascending. A hot
  // page's row lists dozens of chunks for each of its 512 granules: only the
  // granules asked for are decoded.
  const std::vector<uint32_t>& granule_chunks(Row& row, uint64_t granule) {
    static const std::vector<uint32_t> kNone;
    auto known = row.lists.find(granule);
    if (known != row.lists.end()) return known->second;
    const index::IndexReader::RowGranule* where = row.row.list(granule);
    if (!where) return kNone;
    return row.lists.emplace(granule, row.row.chunks(*where)).first->second;
  }

  const Finals& finals(uint32_t id, uint64_t page) {
    auto key = std::make_pair(id, page);
    auto it = finals_cache.find(key);
    if (it != finals_cache.end()) return it->second;
    if (finals_cache.size() >= 16384) finals_cache.clear();
    Finals f;
    f.body = reader.load_finals(id, page, &f.complete);
    return finals_cache.emplace(key, std::move(f)).first->second;
  }

  // Reads are at or before the later of their own time and this (0: their
  // own): a chunk is decoded that far, not to its end (MemoryReader::
  // set_horizon).
  uint64_t horizon = 0;

  // Chunk `id` decoded at least up to `time`.
  std::shared_ptr<ChunkView> chunk(uint32_t id, uint64_t time) {
    auto it = chunks.find(id);
    std::shared_ptr<ChunkView> view;
    if (it != chunks.end()) {
      if (it->second->until >= time) return it->second;
      // Decoded not far enough: again, further, in the same storage.
      if (it->second.use_count() == 1) view = it->second;
      chunks.erase(it);
      std::erase(chunk_order, id);
    }
    if (!view && chunk_order.size() >= kChunkCache) {
      // Recycle the oldest view's storage (3 MB of events: no page faults).
      auto old = chunks.find(chunk_order.front());
      if (old->second.use_count() == 1) view = old->second;
      chunks.erase(old);
      chunk_order.erase(chunk_order.begin());
    }
    if (!view) view = std::make_shared<ChunkView>();
    view->until = std::max(time, horizon);
    reader.load_chunk_into(id, view->chunk, view->until);
    view->heads.clear();
    view->entries.clear();
    view->lookups = 0;
    chunk_order.push_back(id);
    chunks.emplace(id, view);
    return view;
  }

  std::FILE* open_recorded(const std::string& path) {
    auto f = files.find(path);
    if (f != files.end()) return f->second;
    // An ELF file whose build-id is no longer the recorded one (a library
    // upgraded since) is not the recorded file: its bytes are not used, but
    // those of its copy in the recording (index/files.h) are, when there is one.
    std::FILE* file = nullptr;
    auto recorded = recorded_build_ids.find(path);
    std::optional<std::string> source = path;
    if (recorded != recorded_build_ids.end())
      source = index::recorded_file(reader.trace_dir(), path, recorded->second);
    if (source) file = std::fopen(source->c_str(), "rbe");
    files.emplace(path, file);
    return file;
  }

  // The file's page holding `offset` (shorter at the file's end). A failed
  // read is an error, not zeros.
  const std::vector<uint8_t>& file_page(std::FILE* f, const std::string& path, uint64_t offset) {
    auto key = std::make_pair(f, offset & ~(kPage - 1));
    auto it = file_pages.find(key);
    if (it != file_pages.end()) return it->second;
    if (file_pages.size() >= 4096) file_pages.clear();
    std::vector<uint8_t> page(kPage);
    ssize_t n;
    while ((n = pread(fileno(f), page.data(), kPage, static_cast<off_t>(key.second))) < 0 && errno == EINTR) {
    }
    if (n < 0) fail_errno(fmt::format("cannot read {} at offset {:#x}", path, key.second));
    page.resize(static_cast<size_t>(n));
    return file_pages.emplace(key, std::move(page)).first->second;
  }

  // Applies chunk `id`'s writes to granule g at or before `time`, newest
  // first, to the bytes of [lo, hi] still unsettled.
  void settle_from_chunk(uint32_t id, uint64_t g, uint64_t lo, uint64_t hi, uint64_t time, uint64_t addr,
                         const std::vector<const AddressSpace::value_type*>& owner, std::vector<bool>& settled,
                         uint64_t& unsettled, MemoryImage& image) {
    if (unsettled == 0) return;
    auto view = chunk(id, time);
    const auto& events = view->chunk.events;
    auto apply = [&](const index::Event& ev) {
      if (ev.time > time) return;
      uint64_t first = std::max(ev.addr, lo), end = std::min(ev.addr + ev.size - 1, hi);
      for (uint64_t a = first; a <= end; ++a) {
        uint64_t i = a - addr;
        if (settled[i] || !owner[i] || ev.time < owner[i]->second.since) continue;
        image.bytes[i] = view->chunk.data[ev.data_offset + (a - ev.addr)];
        settled[i] = true;
        --unsettled;
      }
    };
    if (!view->chained() && ++view->lookups <= kScannedLookups) {
      // Newest first, as the chains below.
      for (size_t i = events.size(); i-- > 0 && unsettled > 0;) {
        const index::Event& ev = events[i];
        if (ev.size == 0 || ev.addr > hi || ev.addr + ev.size - 1 < lo) continue;
        apply(ev);
      }
      return;
    }
    if (!view->chained()) {
      size_t buckets = 1024;
      while (buckets < events.size()) buckets *= 2;
      view->heads.assign(buckets, 0);
      view->entries.reserve(events.size() + events.size() / 8);
      for (uint32_t i = 0; i < events.size(); ++i) {
        const index::Event& e = events[i];
        if (e.size == 0) continue;
        for (uint64_t gr = index::granule_of(e.addr); gr <= index::granule_of(e.addr + e.size - 1); ++gr) {
          uint32_t& head = view->heads[view->bucket_of(gr)];
          view->entries.emplace_back(i, head);
          head = static_cast<uint32_t>(view->entries.size());
        }
      }
    }
    for (uint32_t e = view->heads[view->bucket_of(g)]; e != 0 && unsettled > 0;) {
      const auto& [event, next] = view->entries[e - 1];
      const index::Event& ev = events[event];
      if (ev.addr <= hi && ev.addr + ev.size - 1 >= lo) apply(ev);
      e = next;
    }
  }

  MemoryImage read(uint64_t addr, uint64_t size, uint64_t time) {
    if (size == 0 || size > (64u << 20)) fail("--read size must be between 1 byte and 64 MiB");
    MemoryImage image{addr, size, time, std::vector<uint8_t>(size, 0), std::vector<bool>(size, false), {}, {}, {}};
    const AddressSpace& now = space_at(time);
    std::vector<const AddressSpace::value_type*> owner(size, nullptr);
    std::vector<bool> settled(size, false);
    for (uint64_t i = 0; i < size; ++i) {
      owner[i] = mapping_of(now, addr + i);
      image.mapped[i] = owner[i] != nullptr;
    }

    // Granule by granule, the latest write at or before `time`: only the
    // chunks that wrote the granule are read, newest first, and only the
    // granule's own events in them.
    // The chunk holding `time` (the last one to begin at or before it) and
    // its segment: chunks are looked up one by one, not read as a list.
    std::optional<index::ChunkRow> at = reader.chunk_at(time);
    int64_t last_segment = at ? static_cast<int64_t>(index::write_segment_of_chunk(at->id)) : -1;
    uint64_t last = addr + size - 1;
    for (uint64_t g = index::granule_of(addr); g <= index::granule_of(last); ++g) {
      uint64_t lo = std::max(index::granule_address(g), addr),
               hi = std::min(index::granule_address(g) + index::kGranuleBytes - 1, last);
      uint64_t unsettled = 0, since = UINT64_MAX;
      for (uint64_t a = lo; a <= hi; ++a)
        if (owner[a - addr]) {
          ++unsettled;
          since = std::min(since, owner[a - addr]->second.since);
        }
      if (unsettled == 0) continue;
      // Applies chunk `id`'s writes to the granule; true once nothing older
      // can matter (every byte settled, or the chunk older than the mappings).
      auto apply = [&](uint32_t id) {
        index::ChunkRow meta = reader.chunk(id);
        if (meta.time_last < since) return true;  // older than every mapping here
        if (meta.time_last <= time && meta.time_first > since) {
          // The whole chunk is at or before `time` and after the mappings
          // appeared: the granule as the chunk left it (its own writes and
          // earlier ones since the memory was mapped) is the answer.
          index::GranuleFinal found;
          const Finals& row = finals(id, index::page_of_granule(g));
          // The address index says this chunk wrote the granule, and no
          // remapping in it can have dropped the granule from its finals
          // (the chunk began after the mapping appeared): a missing final
          // is damage, not "no write" (that would answer an older value).
          if (!index::find_final(row.body, g, found))
            fail("index is corrupt: chunk {} wrote {:#x} but its finals do not say what; run `omni index` again", id,
                 index::granule_address(g));
          for (uint64_t a = lo; a <= hi; ++a) {
            uint64_t i = a - addr;
            if (settled[i] || !owner[i] || !(found.mask & (1u << (a & 7)))) continue;
            image.bytes[i] = found.bytes[a & 7];
            settled[i] = true;
            --unsettled;
          }
          // A complete row vouches that the other bytes were not written
          // since the mapping appeared: they hold its starting contents.
          return row.complete || unsettled == 0;
        }
        // The chunk holding `time` (its writes up to `time` are in no
        // chunk's finals yet) is decoded only when the address index says
        // it wrote the granule: register replay reads hundreds of granules
        // it did not, each of which used to be looked up in its events.
        settle_from_chunk(id, g, lo, hi, time, addr, owner, settled, unsettled, image);
        return unsettled == 0;
      };
      // Writers newest first: the chunks of the page's latest row that wrote
      // the granule, then the last earlier writer the row carries, then that
      // writer's own row, and so on: a step per writer, however many segments
      // lie between. A row whose carries are incomplete (the builder forgot
      // writers) goes on at the row before it.
      uint64_t page = index::page_of_granule(g);
      int64_t segment = last_segment;
      uint64_t below = UINT64_MAX;  // only chunks before this one are left
      bool done = false;
      while (segment >= 0 && !done) {
        Row* row = write_row(page, static_cast<uint32_t>(segment));
        if (!row) break;
        const std::vector<uint32_t>& ids = granule_chunks(*row, g);
        // Chunk ids ascend with time: start at the last one beginning at or
        // before `time`.
        auto start = std::upper_bound(ids.begin(), ids.end(), time, [&](uint64_t t, uint32_t id) {
          return t < reader.chunk(id).time_first;
        });
        for (auto it = std::make_reverse_iterator(start); it != ids.rend() && !done; ++it)
          if (*it < below) done = apply(*it);
        if (done) break;
        if (std::optional<uint32_t> carried = row->row.carried_writer(g)) {
          done = apply(*carried);
          segment = index::write_segment_of_chunk(*carried);
          below = *carried;
        } else if (row->row.carry_complete) {
          break;  // nothing wrote the granule before the row's segment
        } else {
          segment = static_cast<int64_t>(row->row.segment) - 1;
          below = UINT64_MAX;
        }
      }
    }

    // Bytes never written since their mapping appeared hold its starting
    // contents: the recorded initial page (memory writable at startup; in a
    // forked child also the read-only pages that no longer held their
    // file's bytes, such as relocated RELRO), else the mapped file's bytes,
    // else zero.
    for (uint64_t i = 0; i < size; ++i) {
      if (settled[i] || !owner[i]) continue;
      uint64_t a = addr + i, start = owner[i]->first;
      const Mapping* m = &owner[i]->second;
      const std::optional<std::vector<uint8_t>>* initial_bytes = nullptr;
      if (m->startup) {
        uint64_t page = a & ~(kPage - 1);
        auto found = initial.find(page);
        if (found == initial.end()) found = initial.emplace(page, reader.initial_page(page)).first;
        initial_bytes = &found->second;
      }
      if (m->startup && (m->writable_at_start || (*initial_bytes && !m->shared))) {
        uint64_t page = a & ~(kPage - 1);
        if (*initial_bytes && a - page < (*initial_bytes)->size()) image.bytes[i] = (**initial_bytes)[a - page];
      } else if (m->shared && !m->path.empty()) {
        // What the recorder copied when it was mapped settled the bytes it
        // could read; the file as it is now is no answer for the others.
        if (image.unknown.empty()) image.unknown.assign(size, false);
        image.unknown[i] = true;
      } else if (!m->path.empty()) {
        std::FILE* f = open_recorded(m->path);
        if (!f) {
          image.file_missing.insert(m->path);
        } else {
          // Past the end of the file a mapping reads as zeros.
          const std::vector<uint8_t>& page = file_page(f, m->path, m->offset + (a - start));
          uint64_t at = (m->offset + (a - start)) & (kPage - 1);
          image.bytes[i] = at < page.size() ? page[at] : 0;
        }
      }
    }
    for (uint64_t i = 0; i < size;) {
      if (!owner[i] || !owner[i]->second.shared) {
        ++i;
        continue;
      }
      uint64_t j = i;
      while (j < size && owner[j] == owner[i]) ++j;
      image.shared.push_back({addr + i, j - i, owner[i]->second.path});
      i = j;
    }
    return image;
  }
};

MemoryReader::MemoryReader(index::IndexReader& reader) : impl_(std::make_unique<Impl>(reader)) {}
MemoryReader::~MemoryReader() = default;
MemoryImage MemoryReader::read(uint64_t addr, uint64_t size, uint64_t time) { return impl_->read(addr, size, time); }
void MemoryReader::set_horizon(uint64_t time) { impl_->horizon = time; }

MemoryImage read_memory(index::IndexReader& reader, uint64_t addr, uint64_t size, uint64_t time) {
  return MemoryReader(reader).read(addr, size, time);
}

}  // namespace omni::replay
