// What identifies an ELF file and relates it to a recorded mapping: its GNU
// build-id and its first loadable segment. libelf only: the index and replay
// need this and no DWARF (libs/symbols owns everything DWARF).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace omni::elf {

struct ElfInfo {
  std::string build_id;       // lowercase hex, empty if the file has none
  uint64_t first_load_vaddr;  // p_vaddr of the PT_LOAD with the lowest vaddr, page-aligned down
  uint64_t first_load_offset; // its p_offset, page-aligned down
};

// Reads the ELF headers of `path`; nullopt if it is not a readable ELF file
// with a loadable segment.
std::optional<ElfInfo> read_elf_info(const std::string& path);

}  // namespace omni::elf
