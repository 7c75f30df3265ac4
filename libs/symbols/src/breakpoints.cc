// gdb's breakpoint placement (gdb 13 on amd64, as Debian 12 ships it):
//  - a function: symtab.c skip_prologue_sal. If the function's compilation
//    unit is GCC's and has location lists (optimized code, gdb's
//    "locations_valid"), the entry itself. Otherwise amd64_skip_prologue:
//    after `[endbr64] push %rbp; mov %rsp,%rbp` (and only then: a function
//    without that frame setup is "frameless" and stops at its entry), and,
//    when that is in the middle of a line, the start of the next line-table
//    entry, if it is still in the function.
//  - FILE:LINE: every is_stmt line-table address of that line
//    (find_pcs_for_symtab_line), keeping the lowest of those in the same
//    gdb block (innermost lexical block with variables, or function,
//    create_sals_line_offset), each moved past its function's prologue when
//    it is not beyond it (skip_prologue_sal).
#include "breakpoints.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>

namespace omni::symbols {

namespace {

// The code bytes at run-time address `addr` (up to `size`), from the
// module's ELF sections.
std::vector<uint8_t> code_at(Dwfl_Module* module, uint64_t addr, size_t size) {
  Dwarf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module, &bias);
  if (elf == nullptr) return {};
  uint64_t at = addr - bias;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_PROGBITS || !(shdr.sh_flags & SHF_EXECINSTR))
      continue;
    if (at < shdr.sh_addr || at >= shdr.sh_addr + shdr.sh_size) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) return {};
    size_t offset = at - shdr.sh_addr;
    size_t n = std::min<size_t>(size, data->d_size > offset ? data->d_size - offset : 0);
    const uint8_t* p = static_cast<const uint8_t*>(data->d_buf) + offset;
    return std::vector<uint8_t>(p, p + n);
  }
  return {};
}

// amd64_analyze_prologue: the address after `push %rbp; mov %rsp,%rbp`
// (an endbr64 before them skipped), or nullopt when the function does not
// set up a frame that way (gdb then calls it frameless: no skip).
std::optional<uint64_t> after_frame_setup(Dwfl_Module* module, uint64_t entry) {
  std::vector<uint8_t> code = code_at(module, entry, 12);
  size_t i = 0;
  static const uint8_t kEndbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
  if (code.size() >= 4 && std::memcmp(code.data(), kEndbr64, 4) == 0) i = 4;
  if (code.size() < i + 1 || code[i] != 0x55) return std::nullopt;
  ++i;
  static const uint8_t kMov1[] = {0x48, 0x89, 0xe5}, kMov2[] = {0x48, 0x8b, 0xec};
  static const uint8_t kMovl1[] = {0x89, 0xe5}, kMovl2[] = {0x8b, 0xec};
  if (code.size() >= i + 3 && (std::memcmp(&code[i], kMov1, 3) == 0 || std::memcmp(&code[i], kMov2, 3) == 0))
    return entry + i + 3;
  if (code.size() >= i + 2 && (std::memcmp(&code[i], kMovl1, 2) == 0 || std::memcmp(&code[i], kMovl2, 2) == 0))
    return entry + i + 2;
  return std::nullopt;
}

// The DW_TAG_subprogram (not inlined) containing run-time address pc.
std::optional<Dwarf_Die> subprogram_at(Dwfl_Module* module, uint64_t pc, Dwarf_Addr& bias) {
  Dwarf_Die* cu = dwfl_module_addrdie(module, pc, &bias);
  if (cu == nullptr) return std::nullopt;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(cu, pc - bias, &scopes);
  std::optional<Dwarf_Die> out;
  for (int i = 0; i < n; ++i)
    if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram) {
      out = scopes[i];
      break;
    }
  std::free(scopes);
  return out;
}

// gdb's locations_valid: the CU was made by GCC and some DIE of it has a
// location list (a variable's location, a frame base).
bool locations_valid(Dwarf_Die* die_in_cu) {
  Dwarf_Die cu;
  if (dwarf_diecu(die_in_cu, &cu, nullptr, nullptr) == nullptr) return false;
  Dwarf_Attribute attr;
  const char* producer = dwarf_formstring(dwarf_attr(&cu, DW_AT_producer, &attr));
  if (producer == nullptr || std::strncmp(producer, "GNU ", 4) != 0) return false;
  // GCC 4.5 and later (gdb's producer_is_gcc_ge_4 >= 5).
  const char* version = std::strpbrk(producer + 4, "0123456789");
  if (version == nullptr) return false;
  int major = std::atoi(version);
  const char* dot = std::strchr(version, '.');
  int minor = dot ? std::atoi(dot + 1) : 0;
  if (major < 4 || (major == 4 && minor < 5)) return false;
  bool found = false;
  std::function<void(Dwarf_Die*)> walk = [&](Dwarf_Die* die) {
    Dwarf_Die child;
    if (found || dwarf_child(die, &child) != 0) return;
    do {
      for (int name : {DW_AT_location, DW_AT_frame_base}) {
        Dwarf_Attribute a;
        if (dwarf_attr(&child, name, &a) == nullptr) continue;
        unsigned form = dwarf_whatform(&a);
        if (form == DW_FORM_sec_offset || form == DW_FORM_loclistx || form == DW_FORM_data4 ||
            form == DW_FORM_data8) {
          found = true;
          return;
        }
      }
      walk(&child);
    } while (!found && dwarf_siblingof(&child, &child) == 0);
  };
  walk(&cu);
  return found;
}

// The line-table entries of the module: run-time address, line, is_stmt,
// file (absolute where the CU says where it was compiled), in address order
// per CU. `end` marks an end of sequence.
struct LineEntry {
  uint64_t addr;
  int line;
  bool stmt, end;
  std::string file;
};
std::vector<LineEntry> line_entries(Dwfl_Module* module) {
  std::vector<LineEntry> out;
  Dwarf_Die* cu = nullptr;
  Dwarf_Addr bias = 0;
  while ((cu = dwfl_module_nextcu(module, cu, &bias)) != nullptr) {
    Dwarf_Lines* lines = nullptr;
    size_t n = 0;
    if (dwarf_getsrclines(cu, &lines, &n) != 0) continue;
    Dwarf_Attribute attr;
    const char* comp_dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    for (size_t i = 0; i < n; ++i) {
      Dwarf_Line* l = dwarf_onesrcline(lines, i);
      Dwarf_Addr addr = 0;
      int lineno = 0;
      bool stmt = false, end = false;
      dwarf_lineaddr(l, &addr);
      dwarf_lineno(l, &lineno);
      dwarf_linebeginstatement(l, &stmt);
      dwarf_lineendsequence(l, &end);
      const char* file = dwarf_linesrc(l, nullptr, nullptr);
      std::string name = file ? file : "";
      if (!name.empty() && name[0] != '/' && comp_dir && comp_dir[0] == '/') name = std::string(comp_dir) + "/" + name;
      out.push_back({addr + bias, lineno, stmt, end, std::move(name)});
    }
  }
  return out;
}

// gdb's sal.end of address pc: the first line-table address after the
// entry that covers pc (none: nullopt).
std::optional<uint64_t> line_end(const std::vector<LineEntry>& entries, uint64_t pc) {
  std::optional<uint64_t> covering;
  for (const LineEntry& e : entries)
    if (!e.end && e.addr <= pc && (!covering || e.addr > *covering)) covering = e.addr;
  if (!covering) return std::nullopt;
  std::optional<uint64_t> end;
  for (const LineEntry& e : entries)
    if (e.addr > *covering && (!end || e.addr < *end)) end = e.addr;
  return end;
}

bool line_starts_at(const std::vector<LineEntry>& entries, uint64_t pc) {
  for (const LineEntry& e : entries)
    if (!e.end && e.addr == pc) return true;
  return false;
}

bool file_matches(const std::string& file, std::string_view asked) {
  if (file == asked) return true;
  return file.size() > asked.size() && file.compare(file.size() - asked.size(), asked.size(), asked) == 0 &&
         file[file.size() - asked.size() - 1] == '/';
}

// gdb's block for pc: the innermost lexical block that declares variables,
// inlined instance or function (by DIE offset); 0 without DWARF.
uint64_t gdb_block(Dwfl_Module* module, uint64_t pc) {
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(module, pc, &bias);
  if (cu == nullptr) return 0;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(cu, pc - bias, &scopes);
  uint64_t out = 0;
  for (int i = 0; i < n && !out; ++i) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
      out = dwarf_dieoffset(&scopes[i]);
    } else if (tag == DW_TAG_lexical_block) {
      Dwarf_Die child;
      if (dwarf_child(&scopes[i], &child) == 0) do {
          if (dwarf_tag(&child) == DW_TAG_variable) {
            out = dwarf_dieoffset(&scopes[i]);
            break;
          }
        } while (dwarf_siblingof(&child, &child) == 0);
    }
  }
  std::free(scopes);
  return out;
}

uint64_t skip_prologue(Dwfl_Module* module, const std::vector<LineEntry>& entries, uint64_t entry) {
  Dwarf_Addr bias = 0;
  std::optional<Dwarf_Die> function = subprogram_at(module, entry, bias);
  if (function && locations_valid(&*function)) return entry;
  std::optional<uint64_t> pc = after_frame_setup(module, entry);
  if (!pc) return entry;
  if (line_starts_at(entries, *pc)) return *pc;
  std::optional<uint64_t> end = line_end(entries, *pc);
  if (!end) return *pc;
  // Only if the next line is still in the function.
  if (function) {
    Dwarf_Addr low = 0, high = 0;
    if (dwarf_lowpc(&*function, &low) == 0 && dwarf_highpc(&*function, &high) == 0 &&
        !(low + bias <= *end && *end < high + bias))
      return *pc;
  } else {
    GElf_Sym sym_pc, sym_end;
    GElf_Off off;
    const char* a = dwfl_module_addrinfo(module, *pc, &off, &sym_pc, nullptr, nullptr, nullptr);
    const char* b = dwfl_module_addrinfo(module, *end, &off, &sym_end, nullptr, nullptr, nullptr);
    if (a == nullptr || b == nullptr || sym_pc.st_value != sym_end.st_value) return *pc;
  }
  return *end;
}

}  // namespace

uint64_t gdb_function_breakpoint(Dwfl_Module* module, uint64_t entry) {
  return skip_prologue(module, line_entries(module), entry);
}

std::vector<uint64_t> gdb_line_breakpoints(Dwfl_Module* module, std::string_view file, int line,
                                           std::optional<int>* later_line, bool* file_seen) {
  std::vector<LineEntry> entries = line_entries(module);
  std::vector<uint64_t> pcs;
  for (const LineEntry& e : entries) {
    if (e.end || !e.stmt || !file_matches(e.file, file)) continue;
    *file_seen = true;
    if (e.line == line) pcs.push_back(e.addr);
    else if (e.line > line && (!*later_line || e.line < **later_line)) *later_line = e.line;
  }
  std::sort(pcs.begin(), pcs.end());
  pcs.erase(std::unique(pcs.begin(), pcs.end()), pcs.end());
  // One location per gdb block: the lowest address.
  std::vector<uint64_t> kept;
  std::vector<uint64_t> blocks;
  for (uint64_t pc : pcs) {
    uint64_t block = gdb_block(module, pc);
    if (block && std::find(blocks.begin(), blocks.end(), block) != blocks.end()) continue;
    blocks.push_back(block);
    kept.push_back(pc);
  }
  // Past the prologue of the function holding it, unless beyond it already.
  std::vector<uint64_t> out;
  for (uint64_t pc : kept) {
    Dwarf_Addr bias = 0;
    std::optional<Dwarf_Die> function = subprogram_at(module, pc, bias);
    Dwarf_Addr low = 0;
    if (function && dwarf_entrypc(&*function, &low) == 0) {
      uint64_t after = skip_prologue(module, entries, low + bias);
      if (pc <= after) pc = after;
    }
    out.push_back(pc);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace omni::symbols
