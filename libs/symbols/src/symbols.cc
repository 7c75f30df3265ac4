#include <charconv>
#include "omni/symbols/symbols.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstdlib>
#include <unordered_map>

#include "omni/base/error.h"

namespace omni::symbols {

namespace {

// Owns an open file descriptor and the Elf handle read from it.
class ElfFile {
 public:
  explicit ElfFile(const std::string& path) {
    // elf_version must be called before any other libelf function; it is
    // idempotent, so calling it per file is cheaper than a global init order.
    elf_version(EV_CURRENT);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ >= 0) elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
  }
  ~ElfFile() {
    if (elf_ != nullptr) elf_end(elf_);
    if (fd_ >= 0) ::close(fd_);
  }
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  Elf* get() const { return elf_; }

 private:
  int fd_ = -1;
  Elf* elf_ = nullptr;
};

std::string to_hex(const void* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xf]);
  }
  return out;
}

// ELF symbol names of C++ code are mangled; DWARF names are not, so demangle
// to keep what users see readable. Non-C++ names come back unchanged.
std::string demangle(const char* name) {
  int status = 0;
  char* plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || plain == nullptr) return name;
  std::string out(plain);
  std::free(plain);
  return out;
}

// Binding preference when several symbols share a name: a global definition
// is what the program refers to by that name; statics are a fallback.
int binding_rank(unsigned char binding) {
  switch (binding) {
    case STB_GLOBAL: return 3;
    case STB_WEAK: return 2;
    case STB_LOCAL: return 1;
    default: return 0;
  }
}


// The DIE of the file-scope variable `name` in `module`, with a type.
std::optional<Dwarf_Die> dwarf_variable(Dwfl_Module* module, std::string_view name) {
  Dwarf_Die* cu = nullptr;
  Dwarf_Addr cu_bias = 0;
  while ((cu = dwfl_module_nextcu(module, cu, &cu_bias)) != nullptr) {
    Dwarf_Die child;
    if (dwarf_child(cu, &child) != 0) continue;
    do {
      if (dwarf_tag(&child) != DW_TAG_variable) continue;
      const char* die_name = dwarf_diename(&child);
      if (die_name == nullptr || name != die_name) continue;
      Dwarf_Attribute attr;
      if (dwarf_attr_integrate(&child, DW_AT_type, &attr) != nullptr) return child;
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  return std::nullopt;
}

std::optional<Dwarf_Die> type_of(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  Dwarf_Die type;
  if (dwarf_attr_integrate(die, DW_AT_type, &attr) == nullptr || dwarf_formref_die(&attr, &type) == nullptr)
    return std::nullopt;
  return type;
}

// Follows typedefs and qualifiers to the type that says what the bytes are.
std::optional<Dwarf_Die> strip(std::optional<Dwarf_Die> type) {
  while (type) {
    int tag = dwarf_tag(&*type);
    if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type &&
        tag != DW_TAG_restrict_type && tag != DW_TAG_atomic_type)
      break;
    type = type_of(&*type);
  }
  return type;
}

std::string type_name(std::optional<Dwarf_Die> type) {
  if (!type) return "void";
  const char* name = dwarf_diename(&*type);
  switch (dwarf_tag(&*type)) {
    case DW_TAG_structure_type: return std::string("struct ") + (name ? name : "<anonymous>");
    case DW_TAG_union_type: return std::string("union ") + (name ? name : "<anonymous>");
    case DW_TAG_enumeration_type: return std::string("enum ") + (name ? name : "<anonymous>");
    case DW_TAG_pointer_type: return type_name(type_of(&*type)) + " *";
    case DW_TAG_const_type: return "const " + type_name(type_of(&*type));
    case DW_TAG_volatile_type: return "volatile " + type_name(type_of(&*type));
    case DW_TAG_array_type: {
      std::string dims;
      Dwarf_Die sub;
      if (dwarf_child(&*type, &sub) == 0) {
        do {
          if (dwarf_tag(&sub) != DW_TAG_subrange_type) continue;
          Dwarf_Word count = 0;
          Dwarf_Attribute attr;
          if (dwarf_attr_integrate(&sub, DW_AT_count, &attr) && dwarf_formudata(&attr, &count) == 0)
            dims += fmt::format("[{}]", count);
          else if (dwarf_attr_integrate(&sub, DW_AT_upper_bound, &attr) && dwarf_formudata(&attr, &count) == 0)
            dims += fmt::format("[{}]", count + 1);
          else
            dims += "[]";
        } while (dwarf_siblingof(&sub, &sub) == 0);
      }
      return type_name(type_of(&*type)) + dims;
    }
    default: return name ? name : "?";
  }
}

TypeInfo describe(std::optional<Dwarf_Die> declared) {
  TypeInfo info;
  info.name = type_name(declared);
  std::optional<Dwarf_Die> type = strip(declared);
  if (!type) return info;
  Dwarf_Word size = 0;
  if (dwarf_aggregate_size(&*type, &size) == 0) info.size = size;
  switch (dwarf_tag(&*type)) {
    case DW_TAG_base_type: {
      Dwarf_Attribute attr;
      Dwarf_Word encoding = 0;
      if (dwarf_attr_integrate(&*type, DW_AT_encoding, &attr)) dwarf_formudata(&attr, &encoding);
      switch (encoding) {
        case DW_ATE_signed:
        case DW_ATE_signed_char: info.kind = TypeInfo::Kind::Signed; break;
        case DW_ATE_unsigned:
        case DW_ATE_unsigned_char: info.kind = TypeInfo::Kind::Unsigned; break;
        case DW_ATE_float: info.kind = TypeInfo::Kind::Float; break;
        case DW_ATE_boolean: info.kind = TypeInfo::Kind::Bool; break;
        default: break;
      }
      break;
    }
    case DW_TAG_pointer_type: info.kind = TypeInfo::Kind::Pointer; info.size = 8; break;
    case DW_TAG_enumeration_type: {
      // Signed unless its underlying type says otherwise.
      info.kind = TypeInfo::Kind::Enum;
      if (auto underlying = strip(type_of(&*type))) {
        Dwarf_Attribute attr;
        Dwarf_Word encoding = 0;
        if (dwarf_attr_integrate(&*underlying, DW_AT_encoding, &attr) && dwarf_formudata(&attr, &encoding) == 0 &&
            (encoding == DW_ATE_unsigned || encoding == DW_ATE_unsigned_char))
          info.kind = TypeInfo::Kind::Unsigned;
      }
      break;
    }
    case DW_TAG_structure_type: info.kind = TypeInfo::Kind::Struct; break;
    case DW_TAG_union_type: info.kind = TypeInfo::Kind::Union; break;
    case DW_TAG_array_type: info.kind = TypeInfo::Kind::Array; break;
    default: break;
  }
  return info;
}

// Size of the DWARF type of the file-scope variable `name`, if `module`
// describes it.
std::optional<uint64_t> dwarf_variable_size(Dwfl_Module* module, std::string_view name) {
  std::optional<Dwarf_Die> variable = dwarf_variable(module, name);
  std::optional<Dwarf_Die> type = variable ? type_of(&*variable) : std::nullopt;
  Dwarf_Word size = 0;
  if (type && dwarf_aggregate_size(&*type, &size) == 0 && size > 0) return size;
  return std::nullopt;
}

}  // namespace

std::optional<ElfInfo> read_elf_info(const std::string& path) {
  ElfFile file(path);
  Elf* elf = file.get();
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) return std::nullopt;

  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return std::nullopt;
  std::optional<GElf_Phdr> first_load;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) return std::nullopt;
    if (phdr.p_type == PT_LOAD && (!first_load || phdr.p_vaddr < first_load->p_vaddr)) {
      first_load = phdr;
    }
  }
  // Without a PT_LOAD (e.g. a relocatable .o) nothing of the file is mapped,
  // so there is no load address to relate to the recorder's memory map.
  if (!first_load) return std::nullopt;

  ElfInfo info;
  const void* build_id = nullptr;
  ssize_t build_id_size = dwelf_elf_gnu_build_id(elf, &build_id);
  if (build_id_size > 0) info.build_id = to_hex(build_id, static_cast<size_t>(build_id_size));
  // 4 KiB pages: the recorder's map entries start at page boundaries.
  info.first_load_vaddr = first_load->p_vaddr & ~uint64_t{0xfff};
  info.first_load_offset = first_load->p_offset & ~uint64_t{0xfff};
  return info;
}

struct Symbolizer::Impl {
  // One Dwfl per object: objects from different processes of a recording
  // may overlap in address space, which a single Dwfl cannot represent.
  struct Object {
    Dwfl* dwfl = nullptr;          // owned; null if dwfl_begin failed
    Dwfl_Module* module = nullptr; // owned by dwfl; null if the file is unusable
    std::unordered_map<uint64_t, std::optional<Location>> locations;
    std::unordered_map<std::string, std::optional<Variable>> variables;

    Object() = default;
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;
    ~Object() {
      if (dwfl != nullptr) dwfl_end(dwfl);
    }
  };

  // unique_ptr so that Object addresses stay stable as the vector grows.
  std::vector<std::unique_ptr<Object>> objects;

  Object& object(int handle) {
    if (handle < 0 || static_cast<size_t>(handle) >= objects.size()) {
      fail("symbols: invalid object handle {}", handle);
    }
    return *objects[static_cast<size_t>(handle)];
  }

  static std::optional<Location> compute_location(Dwfl_Module* module, uint64_t pc);
};

std::optional<Location> Symbolizer::Impl::compute_location(Dwfl_Module* module, uint64_t pc) {
  Location location;

  Dwarf_Addr cu_bias = 0;
  if (Dwarf_Die* cu = dwfl_module_addrdie(module, pc, &cu_bias)) {
    Dwarf_Die* scopes = nullptr;
    int count = dwarf_getscopes(cu, pc - cu_bias, &scopes);
    // scopes[0] is the innermost; the first function-like scope is the one
    // executing. dwarf_diename follows DW_AT_abstract_origin, which is where
    // an inlined instance keeps its name.
    for (int i = 0; i < count; ++i) {
      int tag = dwarf_tag(&scopes[i]);
      if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine) continue;
      if (const char* name = dwarf_diename(&scopes[i])) {
        location.function = name;
        location.inlined = tag == DW_TAG_inlined_subroutine;
        break;
      }
    }
    std::free(scopes);  // dwarf_getscopes mallocs the array; null if count <= 0
  }

  if (location.function.empty()) {
    GElf_Off offset = 0;
    GElf_Sym sym;
    if (const char* name =
            dwfl_module_addrinfo(module, pc, &offset, &sym, nullptr, nullptr, nullptr)) {
      location.function = demangle(name);
    }
  }

  if (Dwfl_Line* line = dwfl_module_getsrc(module, pc)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
      location.file = file;
      // A relative name is relative to the compilation directory; users (and
      // editors) want the full path, as gdb's "fullname" gives.
      const char* comp_dir = dwfl_line_comp_dir(line);
      if (file[0] != '/' && comp_dir && comp_dir[0] == '/')
        location.file = std::string(comp_dir) + "/" + file;
      location.line = lineno;
    }
  }

  if (location.function.empty() && location.file.empty()) return std::nullopt;
  return location;
}

Symbolizer::Symbolizer() : impl_(std::make_unique<Impl>()) {}
Symbolizer::~Symbolizer() = default;

int Symbolizer::add_object(const std::string& path, uint64_t bias) {
  // Static: a Dwfl keeps a pointer to its callbacks for its whole life.
  static const Dwfl_Callbacks kCallbacks = {
      .find_elf = nullptr,  // only dwfl_report_elf is used, which opens the file itself
      .find_debuginfo = dwfl_standard_find_debuginfo,
      .section_address = dwfl_offline_section_address,
      .debuginfo_path = nullptr,
  };

  auto object = std::make_unique<Impl::Object>();
  object->dwfl = dwfl_begin(&kCallbacks);
  if (object->dwfl != nullptr) {
    dwfl_report_begin(object->dwfl);
    // add_p_vaddr = true makes `base` the bias itself. With false, libdwfl
    // takes `base` as the address of the first PT_LOAD (p_vaddr rounded down
    // to p_align) and derives bias = base - that vaddr, which differs from
    // ours for any ET_DYN whose first segment is not at vaddr 0. For ET_EXEC
    // libdwfl ignores `base` and uses bias 0.
    Dwfl_Module* module =
        dwfl_report_elf(object->dwfl, path.c_str(), path.c_str(), -1, bias, true);
    dwfl_report_end(object->dwfl, nullptr, nullptr);
    Dwarf_Addr actual_bias = 0;
    // A bias libdwfl could not honour (an ET_EXEC seen at a nonzero bias
    // means the file on disk is not the one that was recorded) would make
    // every answer wrong, so such an object answers nothing.
    if (module != nullptr && dwfl_module_getelf(module, &actual_bias) != nullptr &&
        actual_bias == bias) {
      object->module = module;
    }
  }
  impl_->objects.push_back(std::move(object));
  return static_cast<int>(impl_->objects.size() - 1);
}

std::optional<Location> Symbolizer::locate(int object, uint64_t pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return std::nullopt;
  auto cached = target.locations.find(pc);
  if (cached != target.locations.end()) return cached->second;
  auto location = Impl::compute_location(target.module, pc);
  target.locations.emplace(pc, location);
  return location;
}

std::optional<Variable> Symbolizer::find_variable(int object, std::string_view name) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return std::nullopt;
  std::string key(name);
  auto cached = target.variables.find(key);
  if (cached != target.variables.end()) return cached->second;

  std::optional<Variable> best;
  int best_rank = 0;
  int count = dwfl_module_getsymtab(target.module);
  for (int i = 1; i < count; ++i) {  // entry 0 is the null symbol
    GElf_Sym sym;
    GElf_Addr address = 0;  // bias already applied by libdwfl
    GElf_Word shndx = 0;
    const char* sym_name =
        dwfl_module_getsym_info(target.module, i, &sym, &address, &shndx, nullptr, nullptr);
    if (sym_name == nullptr || name != sym_name) continue;
    if (GELF_ST_TYPE(sym.st_info) != STT_OBJECT || shndx == SHN_UNDEF) continue;
    int rank = binding_rank(GELF_ST_BIND(sym.st_info));
    if (rank <= best_rank) continue;
    best = Variable{.address = address, .size = sym.st_size};
    best_rank = rank;
    if (rank == binding_rank(STB_GLOBAL)) break;
  }
  if (best && best->size == 0) {
    best->size = dwarf_variable_size(target.module, name).value_or(1);
  }
  target.variables.emplace(std::move(key), best);
  return best;
}

std::optional<VariablePart> Symbolizer::resolve_expression(int object, std::string_view name,
                                                           std::string_view accessors) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return std::nullopt;
  std::optional<Dwarf_Die> variable = dwarf_variable(target.module, name);
  if (!variable) return std::nullopt;
  std::optional<Dwarf_Die> declared = type_of(&*variable);
  uint64_t offset = 0;
  std::string path(name);
  size_t i = 0;
  while (i < accessors.size()) {
    std::optional<Dwarf_Die> type = strip(declared);
    int tag = type ? dwarf_tag(&*type) : 0;
    if (accessors[i] == '.') {
      size_t end = accessors.find_first_of(".[", i + 1);
      std::string field(accessors.substr(i + 1, end == std::string_view::npos ? end : end - i - 1));
      if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type)
        fail("{} is a {}, not a struct or union: no field '{}'", path, type_name(declared), field);
      Dwarf_Die member;
      bool found = false;
      if (dwarf_child(&*type, &member) == 0) {
        do {
          const char* member_name = dwarf_diename(&member);
          if (dwarf_tag(&member) != DW_TAG_member || !member_name || field != member_name) continue;
          Dwarf_Attribute attr;
          if (dwarf_attr_integrate(&member, DW_AT_bit_size, &attr))
            fail("{}.{} is a bit-field; bit-fields are not supported yet (read {} instead)", path, field, path);
          Dwarf_Word member_offset = 0;
          if (dwarf_attr_integrate(&member, DW_AT_data_member_location, &attr))
            dwarf_formudata(&attr, &member_offset);
          offset += member_offset;
          declared = type_of(&member);
          found = true;
          break;
        } while (dwarf_siblingof(&member, &member) == 0);
      }
      if (!found) fail("{} has no field '{}' ({})", path, field, type_name(declared));
      path += "." + field;
      i = end == std::string_view::npos ? accessors.size() : end;
    } else if (accessors[i] == '[') {
      size_t close = accessors.find(']', i);
      std::string text(accessors.substr(i + 1, close == std::string_view::npos ? 0 : close - i - 1));
      uint64_t index = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
      if (close == std::string_view::npos || text.empty() || ec != std::errc() || ptr != text.data() + text.size())
        fail("malformed index in '{}{}': expected [N]", name, accessors);
      if (tag != DW_TAG_array_type) fail("{} is a {}, not an array: no [{}]", path, type_name(declared), index);
      // The first dimension; what remains is the element (or a smaller array).
      Dwarf_Die sub;
      uint64_t count = UINT64_MAX;
      int dims = 0;
      if (dwarf_child(&*type, &sub) == 0) {
        do {
          if (dwarf_tag(&sub) != DW_TAG_subrange_type) continue;
          if (++dims > 1) continue;
          Dwarf_Attribute attr;
          Dwarf_Word value = 0;
          if (dwarf_attr_integrate(&sub, DW_AT_count, &attr) && dwarf_formudata(&attr, &value) == 0)
            count = value;
          else if (dwarf_attr_integrate(&sub, DW_AT_upper_bound, &attr) && dwarf_formudata(&attr, &value) == 0)
            count = value + 1;
        } while (dwarf_siblingof(&sub, &sub) == 0);
      }
      if (dims > 1) fail("{}: multi-dimensional arrays are not supported yet", path);
      if (index >= count) fail("index {} is out of bounds of {} ({})", index, path, type_name(declared));
      declared = type_of(&*type);
      offset += index * describe(declared).size;
      path += fmt::format("[{}]", index);
      i = close + 1;
    } else {
      fail("malformed variable expression '{}{}': expected .FIELD or [N]", name, accessors);
    }
  }
  TypeInfo info = describe(declared);
  return VariablePart{offset, info.size, info};
}

}  // namespace omni::symbols
