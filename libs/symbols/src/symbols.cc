// The Symbolizer: objects (libdwfl modules by run-time bias), symbol-table
// functions and their signatures as users write them, source lines and
// inline chains, parameters, file-scope variables and variable expressions,
// and a frame's locals. DWARF type names and TypeInfo are dwarf_types.cc's;
// evaluating a local's location expression is dwarf_location.cc's.
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
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "omni/base/error.h"
#include "breakpoints.h"
#include "dwarf_location.h"
#include "dwarf_types.h"

namespace omni::symbols {

namespace {

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

// ---- names as users write them ---------------------------------------------

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; }

// Replaces each `from` by `to`, keeping a space where `to` would run into
// the word after it ("...> const&" becomes "std::string const&").
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
    size_t end = at + to.size();
    if (!to.empty() && end < s.size() && is_word_char(to.back()) && is_word_char(s[end])) s.insert(end, " ");
  }
}

// One spelling for what the demangler and a user may write differently:
// spaces only between two words, no "[abi:cxx11]" tags, std::string for
// the basic_string<char> it stands for, std:: for std::__cxx11::.
std::string canonical(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (!out.empty() && is_word_char(out.back()) && j < text.size() && is_word_char(text[j])) out += ' ';
      i = j - 1;
      continue;
    }
    out += c;
  }
  for (size_t at = out.find("[abi:"); at != std::string::npos; at = out.find("[abi:", at)) {
    size_t close = out.find(']', at);
    if (close == std::string::npos) break;
    out.erase(at, close + 1 - at);
  }
  replace_all(out, "std::__cxx11::", "std::");
  replace_all(out, "std::basic_string<char,std::char_traits<char>,std::allocator<char>>", "std::string");
  return out;
}

// The parts of a demangled (or user-written) function name: the parameter
// list is the parenthesised group that the last ')' closes, before any
// " [clone .cold]" suffix.
struct SignatureParts {
  std::string_view base;    // qualified name, template arguments included, no return type
  std::string_view params;  // inside the parentheses
  std::string_view quals;   // after them: " const", " &&"
  bool has_params = false;
};
// `typed`: the text is the user's, who may write a return type
// ("int check(int)"); the demangler writes one only before a function
// template's parameters, and its special names ("vtable for X", "guard
// variable for x", "non-virtual thunk to f()") have no base name to match.
SignatureParts split_signature(std::string_view text, bool typed) {
  SignatureParts parts;
  if (size_t clone = text.find(" [clone "); clone != std::string_view::npos) text = text.substr(0, clone);
  std::string_view prefix = text;
  size_t close = text.rfind(')');
  if (close != std::string_view::npos) {
    int depth = 0;
    size_t open = std::string_view::npos;
    for (size_t i = close + 1; i-- > 0;) {
      if (text[i] == ')') ++depth;
      else if (text[i] == '(' && --depth == 0) {
        open = i;
        break;
      }
    }
    // "(anonymous namespace)::f" alone has no parameter list.
    if (open != std::string_view::npos && open > 0 && text.substr(close + 1).find("::") == std::string_view::npos) {
      parts.has_params = true;
      parts.params = text.substr(open + 1, close - open - 1);
      parts.quals = text.substr(close + 1);
      prefix = text.substr(0, open);
    }
  }
  // A return type ends at the last space outside <...> and (...), unless
  // that space belongs to an operator's name ("operator new", "operator
  // unsigned int").
  if (!typed && !(parts.has_params && prefix.ends_with('>'))) {
    parts.base = prefix;
    return parts;
  }
  size_t limit = prefix.size();
  for (size_t at = prefix.find("operator"); at != std::string_view::npos; at = prefix.find("operator", at + 1))
    if (at == 0 || prefix[at - 1] == ':' || prefix[at - 1] == ' ') limit = at;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < limit; ++i) {
    char c = prefix[i];
    if (c == '<' || c == '(') ++depth;
    else if ((c == '>' || c == ')') && depth > 0) --depth;
    else if (c == ' ' && depth == 0) start = i + 1;
  }
  parts.base = prefix.substr(start);
  return parts;
}

// A parameter's spelling: "const T&" is "T const&", "(void)" is "()".
std::string canonical_param(std::string_view param) {
  std::string p = canonical(param);
  if (p.rfind("const ", 0) == 0) {
    size_t end = p.size();
    while (end > 6 && (p[end - 1] == '&' || p[end - 1] == '*')) --end;
    p = canonical(p.substr(6, end - 6) + " const" + p.substr(end));
  }
  return p;
}

// The comparable form of a function's full signature: qualified name and
// parameter types, no return type.
std::string canonical_signature(const SignatureParts& parts) {
  std::vector<std::string> params;
  if (!canonical(parts.params).empty()) {
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= parts.params.size(); ++i) {
      char c = i < parts.params.size() ? parts.params[i] : ',';
      if (c == '<' || c == '(') ++depth;
      else if ((c == '>' || c == ')') && depth > 0) --depth;
      else if (c == ',' && depth == 0) {
        params.push_back(canonical_param(parts.params.substr(start, i - start)));
        start = i + 1;
      }
    }
  }
  if (params.size() == 1 && params[0] == "void") params.clear();
  std::string out = canonical(parts.base) + "(";
  for (size_t i = 0; i < params.size(); ++i) out += (i ? "," : "") + params[i];
  return out + ")" + canonical(parts.quals);
}

// One defined symbol of an object's symbol table, with the names a user
// may know it by.
struct SymbolEntry {
  std::string plain;      // ELF name without its @version
  std::string demangled;  // plain, demangled (plain itself for C names)
  std::string base;       // canonical demangled name without parameters or return type
  std::string signature;  // canonical "name(params)quals"; empty without parameters
  int type = 0;           // STT_*
  unsigned char binding = 0;
  bool old_version = false;  // "name@VERSION": not the default version of name
  uint64_t address = 0;      // run-time
  uint64_t size = 0;
};

// The module's function and object symbols; only those whose ELF name
// contains `containing` when it is not empty (demangling every symbol of a
// library such as libc is most of the work).
std::vector<SymbolEntry> read_symbols(Dwfl_Module* module, std::string_view containing = {}) {
  std::vector<SymbolEntry> out;
  int count = dwfl_module_getsymtab(module);
  for (int i = 1; i < count; ++i) {  // entry 0 is the null symbol
    GElf_Sym sym;
    GElf_Addr address = 0;  // bias already applied by libdwfl
    GElf_Word shndx = 0;
    const char* raw = dwfl_module_getsym_info(module, i, &sym, &address, &shndx, nullptr, nullptr);
    if (raw == nullptr || raw[0] == '\0' || shndx == SHN_UNDEF) continue;
    if (!containing.empty() && std::string_view(raw).find(containing) == std::string_view::npos) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT) continue;
    SymbolEntry entry;
    std::string_view name(raw);
    size_t at = name.find('@');
    entry.old_version = at != std::string_view::npos && name.substr(at, 2) != "@@";
    entry.plain = std::string(name.substr(0, at));
    entry.demangled = demangle(entry.plain.c_str());
    SignatureParts parts = split_signature(entry.demangled, false);
    entry.base = canonical(parts.base);
    if (parts.has_params && entry.demangled != entry.plain) entry.signature = canonical_signature(parts);
    entry.type = type;
    entry.binding = GELF_ST_BIND(sym.st_info);
    entry.address = address;
    entry.size = sym.st_size;
    out.push_back(std::move(entry));
  }
  return out;
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

// Every variable with a static address in `module`'s DWARF (at file scope
// or in namespaces), by run-time address: the DIE with its location, whose
// type dwarf_attr_integrate finds through DW_AT_specification.
// Calls visit(die, bias) for every DIE at file scope of each of `module`'s
// compile units, and inside the scopes whose tag `descend` accepts
// (namespaces; classes too for member functions), until visit returns false.
void for_each_scoped_die(Dwfl_Module* module, bool (*descend)(int tag),
                         const std::function<bool(Dwarf_Die&, Dwarf_Addr)>& visit) {
  Dwarf_Die* cu = nullptr;
  Dwarf_Addr bias = 0;
  bool go_on = true;
  std::function<void(Dwarf_Die*)> scan = [&](Dwarf_Die* parent) {
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0) return;
    do {
      if (descend(dwarf_tag(&child))) scan(&child);
      else go_on = visit(child, bias);
    } while (go_on && dwarf_siblingof(&child, &child) == 0);
  };
  while (go_on && (cu = dwfl_module_nextcu(module, cu, &bias)) != nullptr) scan(cu);
}

std::unordered_map<uint64_t, Dwarf_Die> dwarf_variables_by_address(Dwfl_Module* module) {
  std::unordered_map<uint64_t, Dwarf_Die> out;
  for_each_scoped_die(
      module, [](int tag) { return tag == DW_TAG_namespace; },
      [&](Dwarf_Die& child, Dwarf_Addr bias) {
        if (dwarf_tag(&child) != DW_TAG_variable) return true;
        Dwarf_Attribute attr;
        Dwarf_Op* ops = nullptr;
        size_t count = 0;
        if (dwarf_attr(&child, DW_AT_location, &attr) == nullptr || dwarf_getlocation(&attr, &ops, &count) != 0 ||
            count != 1)
          return true;
        Dwarf_Addr address = 0;
        if (ops[0].atom == DW_OP_addr) {
          address = ops[0].number;
        } else if (ops[0].atom == DW_OP_addrx || ops[0].atom == DW_OP_GNU_addr_index) {
          Dwarf_Attribute indexed;
          if (dwarf_getlocation_attr(&attr, &ops[0], &indexed) != 0 || dwarf_formaddr(&indexed, &address) != 0)
            return true;
        } else {
          return true;
        }
        out.emplace(address + bias, child);
        return true;
      });
  return out;
}

// A function's name as users read it: the demangled linkage name for C++
// ("app::scale(int)", as nm -C and gdb's `info symbol` print it), else
// DW_AT_name (C). Both are found through DW_AT_abstract_origin and
// DW_AT_specification, so inlined instances and out-of-class definitions
// have them.
std::string function_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (linkage == nullptr) linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  if (linkage != nullptr) {
    std::string plain = demangle(linkage);
    if (plain != linkage) return plain;
  }
  const char* name = dwarf_diename(die);
  return name ? name : "";
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

// ---- frames: scopes, inline chains, locals ---------------------------------

// The malloc'd array dwarf_getscopes / dwarf_getscopes_die return.
struct ScopeArray {
  Dwarf_Die* dies = nullptr;
  int count = 0;
  ScopeArray() = default;
  ScopeArray(const ScopeArray&) = delete;
  ScopeArray& operator=(const ScopeArray&) = delete;
  ~ScopeArray() { std::free(dies); }
};

bool is_function_tag(int tag) { return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine; }

// The lexical scopes containing `pc` (innermost first; after an inlined
// instance come the scopes of its abstract definition, which is what name
// lookup wants). Sets `bias` to the module's DWARF bias. Empty without DWARF.
void lexical_scopes(Dwfl_Module* module, uint64_t pc, ScopeArray& out, Dwarf_Addr& bias) {
  bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(module, pc, &bias);
  if (cu == nullptr) return;
  out.count = std::max(0, dwarf_getscopes(cu, pc - bias, &out.dies));
}

// The DIEs physically containing `pc`, innermost first: lexical blocks,
// inlined instances and finally the out-of-line function that holds them
// (then the CU). Empty without DWARF.
void physical_scopes(Dwfl_Module* module, uint64_t pc, ScopeArray& out, Dwarf_Addr& bias) {
  ScopeArray lexical;
  lexical_scopes(module, pc, lexical, bias);
  if (lexical.count <= 0) return;
  out.count = std::max(0, dwarf_getscopes_die(&lexical.dies[0], &out.dies));
}

// File `index` of the line table of `die`'s CU, made absolute with the CU's
// compilation directory as locate() does; empty if unknown.
std::string cu_file(Dwarf_Die* die, Dwarf_Word index) {
  Dwarf_Die cu;
  if (dwarf_diecu(die, &cu, nullptr, nullptr) == nullptr) return {};
  Dwarf_Files* files = nullptr;
  size_t count = 0;
  if (dwarf_getsrcfiles(&cu, &files, &count) != 0 || index >= count) return {};
  const char* file = dwarf_filesrc(files, index, nullptr, nullptr);
  if (file == nullptr) return {};
  std::string out(file);
  Dwarf_Attribute attr;
  const char* comp_dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));
  if (file[0] != '/' && comp_dir != nullptr && comp_dir[0] == '/') out = std::string(comp_dir) + "/" + file;
  return out;
}


// Parameters of a function, by its DIE (or its abstract origin's, which
// lists them all even where an out-of-line copy omits some).
struct FunctionInfo {
  std::vector<Parameter> parameters;
  bool variadic = false;
  std::optional<TypeInfo> return_type;  // none: void, or no DWARF
  bool described = false;               // DWARF has the function
};

FunctionInfo function_info(Dwarf_Die* function) {
  Dwarf_Die origin;
  Dwarf_Attribute attr;
  Dwarf_Die* declaring = function;
  if (dwarf_attr(function, DW_AT_abstract_origin, &attr) != nullptr && dwarf_formref_die(&attr, &origin) != nullptr)
    declaring = &origin;
  FunctionInfo info;
  info.described = true;
  // The return type may sit on the declaration a C++ definition refers to
  // (DW_AT_specification), which type_of() follows: a function without one
  // anywhere returns void.
  if (dwarf_hasattr_integrate(declaring, DW_AT_type)) info.return_type = describe(type_of(declaring));
  Dwarf_Die child;
  if (dwarf_child(declaring, &child) != 0) return info;
  do {
    int tag = dwarf_tag(&child);
    if (tag == DW_TAG_formal_parameter) {
      const char* name = dwarf_diename(&child);
      info.parameters.push_back(Parameter{name ? name : "", describe(type_of(&child))});
    } else if (tag == DW_TAG_unspecified_parameters) {
      info.variadic = true;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return info;
}

// What is visible at one pc: names in search order, with their DIEs.
struct ScopeInfo {
  std::vector<std::pair<std::string, Dwarf_Die>> visible;
  std::optional<Dwarf_Die> frame_function;  // the out-of-line function: its DW_AT_frame_base
  std::string function_name;                // the innermost function, for messages
  Dwarf_Addr bias = 0;
};

ScopeInfo scope_info(Dwfl_Module* module, uint64_t pc, int depth) {
  ScopeInfo info;
  // The physical nesting: for depth 0 the scopes up to the innermost
  // function; for depth k those after the (k-1)-th function-like DIE (the
  // blocks around its call site) up to the k-th. The abstract definition of
  // an inlined function is never searched: its names come with the concrete
  // instance.
  ScopeArray scopes;
  physical_scopes(module, pc, scopes, info.bias);
  int first = 0;
  int functions_seen = 0;
  while (first < scopes.count && functions_seen < depth) {
    if (is_function_tag(dwarf_tag(&scopes.dies[first]))) ++functions_seen;
    ++first;
  }
  std::unordered_set<std::string> seen;
  auto add_children = [&](Dwarf_Die* scope, int wanted) {
    Dwarf_Die child;
    if (dwarf_child(scope, &child) != 0) return;
    do {
      if (dwarf_tag(&child) != wanted) continue;
      const char* name = dwarf_diename(&child);
      if (name == nullptr || !seen.insert(name).second) continue;
      info.visible.emplace_back(name, child);
    } while (dwarf_siblingof(&child, &child) == 0);
  };
  for (int i = first; i < scopes.count; ++i) {
    Dwarf_Die* scope = &scopes.dies[i];
    int tag = dwarf_tag(scope);
    if (tag == DW_TAG_compile_unit || tag == DW_TAG_partial_unit) break;  // depth beyond the chain
    add_children(scope, DW_TAG_variable);
    if (!is_function_tag(tag)) continue;
    // The function's own scope: its locals, then its parameters; the
    // scopes outside a function hold no locals.
    add_children(scope, DW_TAG_formal_parameter);
    info.function_name = function_name(scope);
    break;
  }
  for (int i = 0; i < scopes.count; ++i) {
    if (dwarf_tag(&scopes.dies[i]) == DW_TAG_subprogram) {
      info.frame_function = scopes.dies[i];
      break;
    }
  }
  return info;
}

// ---- finding separate debug files -------------------------------------------

// Where libdwfl looks for separate debug files: beside the object, in its
// .debug directory, and under /usr/lib/debug (by build-id or by path). Its
// default, given explicitly so that find_debuginfo() below looks where
// libdwfl does.
constexpr const char* kDebuginfoPath = ":.debug:/usr/lib/debug";
constexpr std::string_view kDebugRoot = "/usr/lib/debug";

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string directory_of(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return std::string(path.substr(0, slash == 0 ? 1 : slash));
}

// Whether a file lies at any place libdwfl's standard search would open
// for the module: by build-id, then `debuglink` (or the object's name +
// ".debug") in each directory of kDebuginfoPath, for the object's path and
// for the file it links to. A superset of what it tries; when this is
// false the search finds nothing.
bool debuginfo_may_exist(Dwfl_Module* module, const char* file_name, const char* debuglink) {
  const unsigned char* id = nullptr;
  GElf_Addr id_vaddr = 0;
  int id_len = dwfl_module_build_id(module, &id, &id_vaddr);
  if (id_len > 0) {
    std::string path = fmt::format("{}/.build-id/{:02x}/", kDebugRoot, id[0]);
    for (int i = 1; i < id_len; ++i) path += fmt::format("{:02x}", id[i]);
    if (file_exists(path + ".debug")) return true;
  }
  if (file_name == nullptr) return true;
  std::string_view file(file_name);
  std::string name = debuglink != nullptr ? std::string(debuglink)
                                          : std::string(file.substr(file.rfind('/') + 1)) + ".debug";
  if (name.find('/') != std::string::npos) return true;  // a path of its own: leave it to libdwfl
  std::vector<std::string> directories{directory_of(file)};
  if (char* real = ::realpath(file_name, nullptr)) {
    directories.push_back(directory_of(real));
    std::free(real);
  }
  for (const std::string& dir : directories) {
    if (file_exists(dir + "/" + name) || file_exists(dir + "/.debug/" + name) ||
        file_exists(std::string(kDebugRoot) + (dir[0] == '/' ? "" : "/") + dir + "/" + name))
      return true;
  }
  return file_exists(std::string(kDebugRoot) + "/" + name);
}

// libdwfl's standard search for a module's separate debug file, which ends
// by asking debuginfod. Asking means loading libdebuginfod and its ~30
// libraries (curl, TLS, Kerberos...) into the process, ~15 ms for every
// question that touches an object without a debug file (a stripped
// program), though debuginfod answers nothing at all when DEBUGINFOD_URLS
// is unset or empty. So without DEBUGINFOD_URLS an object with no file
// where the search looks gets the search's answer without it: not found
// (-ENOSYS, debuginfod's "no servers").
int find_debuginfo(Dwfl_Module* module, void** userdata, const char* modname, GElf_Addr base, const char* file_name,
                   const char* debuglink, GElf_Word debuglink_crc, char** debuginfo_file_name) {
  const char* urls = std::getenv("DEBUGINFOD_URLS");
  // An alternate (dwz) debug file is asked for by its own name and
  // build-id, with no CRC: libdwfl's alone.
  bool alternate = debuglink != nullptr && debuglink_crc == 0;
  if ((urls != nullptr && urls[0] != '\0') || alternate || debuginfo_may_exist(module, file_name, debuglink))
    return dwfl_standard_find_debuginfo(module, userdata, modname, base, file_name, debuglink, debuglink_crc,
                                        debuginfo_file_name);
  errno = ENOENT;
  return -ENOSYS;
}

bool has_symtab_section(Elf* elf) {
  if (elf == nullptr) return false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == SHT_SYMTAB) return true;
  }
  return false;
}

}  // namespace

struct Symbolizer::Impl {
  // One Dwfl per object: objects from different processes of a recording
  // may overlap in address space, which a single Dwfl cannot represent.
  // The file is opened on the first question about the object (object()),
  // so that a question answered in one object reads no other.
  struct Object {
    std::string path;
    uint64_t bias = 0;
    std::function<std::string()> file;  // which file to open (default: path)
    bool opened = false;           // open() ran: dwfl and module are final
    Dwfl* dwfl = nullptr;          // owned; null if dwfl_begin failed
    Dwfl_Module* module = nullptr; // owned by dwfl; null if the file is unusable
    std::unordered_map<uint64_t, std::optional<Location>> locations;
    std::unordered_map<std::string, std::optional<Variable>> variables;
    std::unordered_map<std::string, std::vector<FunctionMatch>> functions;
    std::optional<std::vector<SymbolEntry>> symbol_entries;                  // read on first use
    std::optional<std::unordered_map<uint64_t, Dwarf_Die>> variable_dies;   // likewise
    std::unordered_map<uint64_t, FunctionInfo> function_infos;  // by pc asked about
    std::unordered_map<uint64_t, std::vector<Location>> inline_chains;
    std::unordered_map<uint64_t, CodeAnswer> code_answers;  // by code_answers()
    std::optional<std::vector<uint64_t>> symbol_bounds;     // read on first use
    // The first subprogram of the physical scopes at each address
    // code_answers() answered from DWARF scopes (for function_info_at).
    std::unordered_map<uint64_t, Dwarf_Die> subprogram_at;
    std::map<std::pair<uint64_t, int>, ScopeInfo> scopes;  // by pc and inline depth

    Object() = default;
    Object(const Object&) = delete;
    Object& operator=(const Object&) = delete;
    ~Object() {
      if (dwfl != nullptr) dwfl_end(dwfl);
    }
  };

  // unique_ptr so that Object addresses stay stable as the vector grows.
  std::vector<std::unique_ptr<Object>> objects;

  // The object behind `handle`, its file opened if it was not yet.
  Object& object(int handle) {
    if (handle < 0 || static_cast<size_t>(handle) >= objects.size()) {
      fail("symbols: invalid object handle {}", handle);
    }
    Object& target = *objects[static_cast<size_t>(handle)];
    if (!target.opened) open(target);
    return target;
  }
  static void open(Object& target);

  static const std::vector<SymbolEntry>& symbol_entries(Object& target) {
    if (!target.symbol_entries) target.symbol_entries = read_symbols(target.module);
    return *target.symbol_entries;
  }
  static std::optional<Dwarf_Die> variable_die(Object& target, uint64_t address) {
    if (!target.variable_dies) target.variable_dies = dwarf_variables_by_address(target.module);
    auto found = target.variable_dies->find(address);
    if (found == target.variable_dies->end()) return std::nullopt;
    return found->second;
  }
  static std::optional<Location> compute_location(Dwfl_Module* module, uint64_t pc);
  static std::vector<Location> compute_inline_chain(Dwfl_Module* module, uint64_t pc);
  static void dwarf_function(const ScopeArray& lexical, Location& location);
  static void elf_function(Dwfl_Module* module, uint64_t pc, Location& location);
  static void line_of(Dwfl_Module* module, uint64_t pc, Location& location);
  static std::vector<Location> chain_of(const ScopeArray& scopes, std::string file, int line);
  static std::vector<Location> chain_of(Dwarf_Die* dies, int count, std::string file, int line);
  static const std::vector<uint64_t>& symbol_bounds(Object& target);
  const FunctionInfo& function_info_at(Object& target, uint64_t pc);
  const ScopeInfo& scope_info_at(Object& target, uint64_t pc, int depth);
};

// The function compute_location names from DWARF: the first function-like
// lexical scope with a name. function_name follows DW_AT_abstract_origin,
// which is where an inlined instance keeps its name.
void Symbolizer::Impl::dwarf_function(const ScopeArray& lexical, Location& location) {
  for (int i = 0; i < lexical.count; ++i) {
    int tag = dwarf_tag(&lexical.dies[i]);
    if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine) continue;
    if (std::string name = function_name(&lexical.dies[i]); !name.empty()) {
      location.function = std::move(name);
      location.inlined = tag == DW_TAG_inlined_subroutine;
      return;
    }
  }
}

// The ELF symbol at pc, for a pc DWARF names no function for.
void Symbolizer::Impl::elf_function(Dwfl_Module* module, uint64_t pc, Location& location) {
  GElf_Off offset = 0;
  GElf_Sym sym;
  if (const char* name = dwfl_module_addrinfo(module, pc, &offset, &sym, nullptr, nullptr, nullptr)) {
    // "pthread_mutex_lock@@GLIBC_2.2.5": the version is no part of the name.
    location.function = demangle(std::string(name, std::strcspn(name, "@")).c_str());
  }
}

// The line table's file and line at pc.
void Symbolizer::Impl::line_of(Dwfl_Module* module, uint64_t pc, Location& location) {
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
}

std::optional<Location> Symbolizer::Impl::compute_location(Dwfl_Module* module, uint64_t pc) {
  Location location;
  ScopeArray lexical;
  Dwarf_Addr bias = 0;
  lexical_scopes(module, pc, lexical, bias);
  dwarf_function(lexical, location);
  if (location.function.empty()) elf_function(module, pc, location);
  line_of(module, pc, location);
  if (location.function.empty() && location.file.empty()) return std::nullopt;
  return location;
}

Symbolizer::Symbolizer() : impl_(std::make_unique<Impl>()) {}
Symbolizer::~Symbolizer() = default;

int Symbolizer::add_object(const std::string& path, uint64_t bias, std::function<std::string()> file) {
  // The same file at the same bias (a library in each process of a
  // recording) answers the same: one object, read and cached once.
  for (size_t i = 0; i < impl_->objects.size(); ++i)
    if (impl_->objects[i]->path == path && impl_->objects[i]->bias == bias) return static_cast<int>(i);
  auto object = std::make_unique<Impl::Object>();
  object->path = path;
  object->bias = bias;
  object->file = std::move(file);
  impl_->objects.push_back(std::move(object));
  return static_cast<int>(impl_->objects.size() - 1);
}

void Symbolizer::Impl::open(Object& target) {
  // Static: a Dwfl keeps a pointer to its callbacks for its whole life.
  static char* debuginfo_path = const_cast<char*>(kDebuginfoPath);
  static const Dwfl_Callbacks kCallbacks = {
      .find_elf = nullptr,  // only dwfl_report_elf is used, which opens the file itself
      .find_debuginfo = find_debuginfo,
      .section_address = dwfl_offline_section_address,
      .debuginfo_path = &debuginfo_path,
  };

  target.opened = true;
  target.dwfl = dwfl_begin(&kCallbacks);
  if (target.dwfl == nullptr) return;
  const std::string path = target.file ? target.file() : target.path;
  dwfl_report_begin(target.dwfl);
  // add_p_vaddr = true makes `base` the bias itself. With false, libdwfl
  // takes `base` as the address of the first PT_LOAD (p_vaddr rounded down
  // to p_align) and derives bias = base - that vaddr, which differs from
  // ours for any ET_DYN whose first segment is not at vaddr 0. For ET_EXEC
  // libdwfl ignores `base` and uses bias 0.
  Dwfl_Module* module = dwfl_report_elf(target.dwfl, path.c_str(), path.c_str(), -1, target.bias, true);
  dwfl_report_end(target.dwfl, nullptr, nullptr);
  Dwarf_Addr actual_bias = 0;
  // A bias libdwfl could not honour (an ET_EXEC seen at a nonzero bias
  // means the file on disk is not the one that was recorded) would make
  // every answer wrong, so such an object answers nothing.
  if (module != nullptr && dwfl_module_getelf(module, &actual_bias) != nullptr && actual_bias == target.bias)
    target.module = module;
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

  std::string wanted = canonical(name);
  const SymbolEntry* best = nullptr;
  for (const SymbolEntry& entry : Impl::symbol_entries(target)) {
    if (entry.type != STT_OBJECT || (entry.plain != name && entry.base != wanted)) continue;
    if (best == nullptr || binding_rank(entry.binding) > binding_rank(best->binding)) best = &entry;
  }
  if (best == nullptr && wanted.find("::") == std::string::npos) {
    // As gdb does for `print g_state`: the last part of a qualified name
    // ("(anonymous namespace)::g_state", "app::g_total"), when exactly one
    // variable has it; several are ambiguous, so none is taken.
    const std::string suffix = "::" + wanted;
    int matches = 0;
    for (const SymbolEntry& entry : Impl::symbol_entries(target)) {
      if (entry.type != STT_OBJECT || !entry.base.ends_with(suffix)) continue;
      if (best == nullptr || entry.address != best->address) ++matches;
      best = &entry;
    }
    if (matches != 1) best = nullptr;
  }
  std::optional<Variable> found;
  if (best != nullptr) {
    found = Variable{.address = best->address, .size = best->size};
    if (found->size == 0) {
      std::optional<Dwarf_Die> die = Impl::variable_die(target, best->address);
      std::optional<Dwarf_Die> type = die ? type_of(&*die) : std::nullopt;
      Dwarf_Word size = 0;
      if (type && dwarf_aggregate_size(&*type, &size) == 0 && size > 0) found->size = size;
      // 0 when neither says: the caller asks for a length instead of guessing.
      else found->size = dwarf_variable_size(target.module, best->plain).value_or(0);
    }
  }
  target.variables.emplace(std::move(key), found);
  return found;
}

std::optional<VariablePart> Symbolizer::resolve_expression(int object, std::string_view name,
                                                           std::string_view accessors, int derefs,
                                                           const PointerMemory* memory, std::string_view expression) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return std::nullopt;
  std::optional<Variable> variable = find_variable(object, name);
  if (!variable) return std::nullopt;
  std::optional<Dwarf_Die> die = Impl::variable_die(target, variable->address);
  if (!die) die = dwarf_variable(target.module, name);
  if (!die) return std::nullopt;
  const std::string expr = expression.empty() ? std::string(derefs > 0 ? derefs : 0, '*') + std::string(name) +
                                                    std::string(accessors)
                                              : std::string(expression);
  std::optional<Dwarf_Die> declared = type_of(&*die);
  uint64_t address = variable->address;
  std::string path(name);
  VariablePart part{};

  auto tag_of = [&]() {
    std::optional<Dwarf_Die> type = strip(declared);
    return type ? dwarf_tag(&*type) : 0;
  };
  // Replaces the pointer stored at `address` by what it points to.
  auto follow = [&](std::string_view wanted) {
    if (tag_of() == DW_TAG_array_type && wanted.substr(0, 1) != "[") {
      // As in C, an array used as a pointer is its first element (gdb takes
      // "g_tab->id" and "*g_tab").
      std::optional<Dwarf_Die> array = strip(declared);
      std::optional<Dwarf_Die> element = type_of(&*array);
      if (element) {
        declared = element;
        path += "[0]";
        return;
      }
    }
    if (tag_of() != DW_TAG_pointer_type)
      fail("'{}': {} is a {}, not a pointer: no {}", expr, path, type_name(declared), wanted);
    std::optional<Dwarf_Die> pointer = strip(declared);
    std::optional<Dwarf_Die> pointee = type_of(&*pointer);
    std::optional<Dwarf_Die> pointee_type = strip(pointee);
    Dwarf_Word pointee_size = 0;
    if (!pointee_type || dwarf_aggregate_size(&*pointee_type, &pointee_size) != 0)
      fail("'{}': {} is a {}: what it points to has no known type or size", expr, path, type_name(declared));
    if (memory == nullptr || !memory->read)
      fail("'{}': following the pointer {} needs the recording's memory", expr, path);
    std::optional<uint64_t> value = memory->read(address);
    if (!value)
      fail("'{}': {} (at {:#x}) was not mapped {}{}", expr, path, address, memory->moment,
           part.pointer.empty() ? "" : fmt::format(" ({} points to {:#x})", part.pointer, part.pointer_value));
    if (*value == 0) fail("'{}': {} is a null pointer {}", expr, path, memory->moment);
    part.pointer = path;
    part.pointer_value = *value;
    address = *value;
    declared = pointee;
  };
  auto field = [&](const std::string& name_of_field, std::string_view separator) {
    std::optional<Dwarf_Die> type = strip(declared);
    int tag = tag_of();
    if (tag != DW_TAG_structure_type && tag != DW_TAG_union_type && tag != DW_TAG_class_type)
      fail("{} is a {}, not a struct or union: no field '{}'", path, type_name(declared), name_of_field);
    Dwarf_Die member;
    if (dwarf_child(&*type, &member) == 0) {
      do {
        const char* member_name = dwarf_diename(&member);
        if (dwarf_tag(&member) != DW_TAG_member || !member_name || name_of_field != member_name) continue;
        Dwarf_Attribute attr;
        if (dwarf_attr_integrate(&member, DW_AT_bit_size, &attr))
          fail("{}{}{} is a bit-field; bit-fields are not supported yet (read {} instead)", path, separator,
               name_of_field, path);
        Dwarf_Word member_offset = 0;
        // A constant offset; a location expression (a virtual base) is not
        // followed, and never read as offset 0.
        if (dwarf_attr_integrate(&member, DW_AT_data_member_location, &attr) &&
            dwarf_formudata(&attr, &member_offset) != 0)
          fail("{}{}{}: its offset in {} is not a constant (a virtual base?); read it by address", path,
               separator, name_of_field, path);
        address += member_offset;
        declared = type_of(&member);
        path += std::string(separator) + name_of_field;
        return;
      } while (dwarf_siblingof(&member, &member) == 0);
    }
    fail("{} has no field '{}' ({})", path, name_of_field, type_name(declared));
  };

  size_t i = 0;
  while (i < accessors.size()) {
    bool arrow = accessors.substr(i, 2) == "->";
    if (accessors[i] == '.' || arrow) {
      size_t first = i + (arrow ? 2 : 1);
      size_t end = first;
      while (end < accessors.size() && is_word_char(accessors[end])) ++end;
      std::string name_of_field(accessors.substr(first, end - first));
      if (name_of_field.empty())
        fail("malformed variable expression '{}': expected a field name after '{}'", expr, arrow ? "->" : ".");
      if (arrow) follow("->" + name_of_field);
      field(name_of_field, arrow ? "->" : ".");
      i = end;
    } else if (accessors[i] == '[') {
      size_t close = accessors.find(']', i);
      std::string text(accessors.substr(i + 1, close == std::string_view::npos ? 0 : close - i - 1));
      uint64_t index = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
      if (close == std::string_view::npos || text.empty() || ec != std::errc() || ptr != text.data() + text.size())
        fail("malformed index in '{}{}': expected [N]", name, accessors);
      int tag = tag_of();
      if (tag == DW_TAG_pointer_type) {
        // p[N] is *(p + N).
        follow(fmt::format("[{}]", index));
        address += index * describe(declared).size;
        path += fmt::format("[{}]", index);
        i = close + 1;
        continue;
      }
      if (tag != DW_TAG_array_type)
        fail("{} is a {}, not an array or pointer: no [{}]", path, type_name(declared), index);
      std::optional<Dwarf_Die> type = strip(declared);
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
      address += index * describe(declared).size;
      path += fmt::format("[{}]", index);
      i = close + 1;
    } else {
      fail("malformed variable expression '{}': expected .FIELD, ->FIELD or [N] after {}", expr, path);
    }
  }
  for (int k = 0; k < derefs; ++k) {
    bool array = tag_of() == DW_TAG_array_type;
    follow("*");
    if (!array) path = "*" + path;
  }
  TypeInfo info = describe(declared);
  part.address = address;
  part.size = info.size;
  part.type = info;
  return part;
}

// The inline chain of the physical scopes `scopes`, its first entry at
// `file`:`line` (pc's line), each further one at the call site of the one
// before it.
std::vector<Location> Symbolizer::Impl::chain_of(const ScopeArray& scopes, std::string file,
                                                 int line) {
  return chain_of(scopes.dies, scopes.count, std::move(file), line);
}

std::vector<Location> Symbolizer::Impl::chain_of(Dwarf_Die* dies, int count, std::string file,
                                                 int line) {
  std::vector<Location> chain;
  for (int i = 0; i < count; ++i) {
    Dwarf_Die* scope = &dies[i];
    int tag = dwarf_tag(scope);
    if (!is_function_tag(tag)) continue;
    chain.push_back(Location{function_name(scope), file, line, tag == DW_TAG_inlined_subroutine});
    if (tag == DW_TAG_subprogram) break;
    // The next entry out stands at this instance's call site.
    Dwarf_Attribute attr;
    Dwarf_Word value = 0;
    file.clear();
    line = 0;
    if (dwarf_attr(scope, DW_AT_call_file, &attr) != nullptr && dwarf_formudata(&attr, &value) == 0)
      file = cu_file(scope, value);
    if (dwarf_attr(scope, DW_AT_call_line, &attr) != nullptr && dwarf_formudata(&attr, &value) == 0)
      line = static_cast<int>(value);
  }
  return chain;
}

std::vector<Location> Symbolizer::Impl::compute_inline_chain(Dwfl_Module* module, uint64_t pc) {
  ScopeArray scopes;
  Dwarf_Addr bias = 0;
  physical_scopes(module, pc, scopes, bias);
  // The innermost entry stands at pc itself: the line table says where.
  Location here;
  line_of(module, pc, here);
  std::vector<Location> chain = chain_of(scopes, here.file, here.line);
  if (chain.empty()) {
    // No DWARF for pc: the ELF symbol, if any, is all there is.
    if (auto location = compute_location(module, pc); location && !location->function.empty())
      chain.push_back(*location);
  }
  return chain;
}

namespace {

// The ranges of `die`'s outermost descendants that have ranges (its
// children's, or for a child without any, that child's own such
// descendants), sorted by start, in run-time addresses.
std::vector<std::pair<uint64_t, uint64_t>> inner_ranges(Dwarf_Die* die, uint64_t bias) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  std::function<void(Dwarf_Die*)> walk = [&](Dwarf_Die* parent) {
    Dwarf_Die child;
    if (dwarf_child(parent, &child) != 0) return;
    do {
      ptrdiff_t off = 0;
      Dwarf_Addr b = 0, s = 0, e = 0;
      bool ranged = false;
      while ((off = dwarf_ranges(&child, off, &b, &s, &e)) > 0) {
        out.emplace_back(s + bias, e + bias);
        ranged = true;
      }
      if (!ranged) walk(&child);
    } while (dwarf_siblingof(&child, &child) == 0);
  };
  walk(die);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// Every address where the ELF symbol dwfl_module_addrinfo names can change:
// each symbol's start and end and each allocated section's start and end
// (libdwfl picks among the symbols holding an address, or the closest
// sizeless one in its section). Between two of them the name is the same.
const std::vector<uint64_t>& Symbolizer::Impl::symbol_bounds(Object& target) {
  if (target.symbol_bounds) return *target.symbol_bounds;
  std::vector<uint64_t> bounds;
  Dwfl_Module* module = target.module;
  int count = dwfl_module_getsymtab(module);
  for (int i = 0; i < count; ++i) {
    GElf_Sym sym;
    GElf_Addr addr = 0;
    GElf_Word shndx = 0;
    Elf* elf = nullptr;
    Dwarf_Addr bias = 0;
    if (dwfl_module_getsym_info(module, i, &sym, &addr, &shndx, &elf, &bias) == nullptr) continue;
    bounds.push_back(addr);
    bounds.push_back(addr + sym.st_size);
  }
  Dwarf_Addr bias = 0;
  if (Elf* elf = dwfl_module_getelf(module, &bias)) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr || !(shdr.sh_flags & SHF_ALLOC)) continue;
      bounds.push_back(shdr.sh_addr + bias);
      bounds.push_back(shdr.sh_addr + bias + shdr.sh_size);
    }
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return *(target.symbol_bounds = std::move(bounds));
}

std::vector<CodeAnswer> Symbolizer::code_answers(int object, const std::vector<uint64_t>& pcs) {
  Impl::Object& target = impl_->object(object);
  std::vector<CodeAnswer> out;
  out.reserve(pcs.size());
  if (target.module == nullptr) {
    for (uint64_t pc : pcs) out.push_back({pc, std::nullopt, {}});
    return out;
  }
  // Answers computed for another process with the same object (a shell in
  // each of a pipeline's processes) are kept: only new addresses are computed.
  std::vector<uint64_t> fresh;
  for (uint64_t pc : pcs)
    if (!target.code_answers.count(pc)) fresh.push_back(pc);
  Dwfl_Module* module = target.module;
  // The ELF symbol's name over [elf_lo, elf_hi) (symbol_bounds).
  uint64_t elf_lo = 1, elf_hi = 0;
  std::string elf_name;
  auto elf_function = [&](uint64_t p, Location& here) {
    if (!(elf_lo <= p && p < elf_hi)) {
      Location l;
      Impl::elf_function(module, p, l);
      elf_name = std::move(l.function);
      const std::vector<uint64_t>& bounds = Impl::symbol_bounds(target);
      auto next = std::upper_bound(bounds.begin(), bounds.end(), p);
      elf_hi = next == bounds.end() ? UINT64_MAX : *next;
      elf_lo = next == bounds.begin() ? 0 : *std::prev(next);
    }
    here.function = elf_name;
  };
  // A DWARF scope that was the innermost at some address, with what depends
  // on it alone: the function DWARF names for locate, and the inline chain
  // but its first entry's file and line. The innermost scope of any address
  // in its range [lo, hi) outside its descendants' ranges is the same. The
  // stack holds the scopes whose range holds the current address, outermost
  // first: the addresses ascend, so a nested scope is left for its parent.
  struct Scope {
    uint64_t lo = 0, hi = 0;
    std::vector<std::pair<uint64_t, uint64_t>> inner;  // inner_ranges
    std::vector<uint64_t> max_end;                     // of inner[0..i]
    Location named;
    std::vector<Location> skeleton;
    std::vector<Dwarf_Die> path;  // the physical scopes, innermost first (this one first)
    bool inside_inner(uint64_t p) const {
      auto it = std::upper_bound(inner.begin(), inner.end(), std::make_pair(p, UINT64_MAX));
      return it != inner.begin() && max_end[static_cast<size_t>(it - inner.begin()) - 1] > p;
    }
  };
  std::vector<Scope> stack;
  auto answer_in = [&](const Scope& scope, uint64_t p) {
    for (const Dwarf_Die& die : scope.path)
      if (dwarf_tag(const_cast<Dwarf_Die*>(&die)) == DW_TAG_subprogram) {
        target.subprogram_at.emplace(p, die);
        break;
      }
    Location here = scope.named;
    if (here.function.empty()) elf_function(p, here);
    Impl::line_of(module, p, here);
    CodeAnswer answer{p, std::nullopt, scope.skeleton};
    if (!here.function.empty() || !here.file.empty()) answer.location = here;
    if (!answer.chain.empty()) {
      answer.chain[0].file = here.file;
      answer.chain[0].line = here.line;
    } else if (answer.location && !answer.location->function.empty()) {
      answer.chain.push_back(*answer.location);
    }
    return answer;
  };
  // Completes a scope whose path is known: its inline chain, its range
  // holding pc and its nested ranges. False when the range cannot be known
  // as dwarf_getscopes would find it: the scope then answers pc alone.
  auto complete = [&](Scope& scope, uint64_t pc, Dwarf_Addr bias) {
    scope.skeleton = Impl::chain_of(scope.path.data(), static_cast<int>(scope.path.size()), {}, 0);
    if (scope.path.empty()) return false;
    Dwarf_Die* die = &scope.path[0];
    bool held = false;
    ptrdiff_t offset = 0;
    Dwarf_Addr base = 0, start = 0, stop = 0;
    while ((offset = dwarf_ranges(die, offset, &base, &start, &stop)) > 0)
      if (start + bias <= pc && pc < stop + bias) {
        scope.lo = start + bias;
        scope.hi = stop + bias;
        held = true;
        break;
      }
    if (!held) return false;
    scope.inner = inner_ranges(die, bias);
    uint64_t max_end = 0;
    for (const auto& [s, e] : scope.inner) scope.max_end.push_back(max_end = std::max(max_end, e));
    // The innermost scope holds no narrower one at pc.
    return !scope.inside_inner(pc);
  };
  // The innermost scope at pc below `top` (pc is in one of its nested
  // ranges), found by descending through the DIEs holding pc as
  // dwarf_getscopes does, without its walk of the whole CU; nullopt where
  // this could differ from it (an unusual tag holding pc, a function
  // without a name), so that dwarf_getscopes answers instead.
  auto descend = [&](const Scope& top, uint64_t pc, Dwarf_Addr bias) -> std::optional<Scope> {
    std::vector<Dwarf_Die> added;  // outermost first
    Dwarf_Die cur = top.path[0];
    for (;;) {
      Dwarf_Die child;
      bool found = false;
      if (dwarf_child(&cur, &child) == 0) {
        do {
          if (dwarf_haspc(&child, pc - bias) > 0) {
            found = true;
            break;
          }
        } while (dwarf_siblingof(&child, &child) == 0);
      }
      if (!found) break;
      int tag = dwarf_tag(&child);
      if (tag != DW_TAG_lexical_block && tag != DW_TAG_inlined_subroutine) return std::nullopt;
      added.push_back(child);
      cur = child;
    }
    if (added.empty()) return std::nullopt;
    Scope scope;
    scope.path.assign(added.rbegin(), added.rend());
    scope.path.insert(scope.path.end(), top.path.begin(), top.path.end());
    for (Dwarf_Die& die : scope.path) {
      int tag = dwarf_tag(&die);
      if (!is_function_tag(tag)) continue;
      std::string name = function_name(&die);
      if (name.empty()) return std::nullopt;
      scope.named.function = std::move(name);
      scope.named.inlined = tag == DW_TAG_inlined_subroutine;
      break;
    }
    if (!complete(scope, pc, bias)) return std::nullopt;
    return scope;
  };
  // The module's DWARF bias, known once a scope is on the stack.
  Dwarf_Addr module_bias = 0;
  for (uint64_t pc : fresh) {
    while (!stack.empty() && !(stack.back().lo <= pc && pc < stack.back().hi)) stack.pop_back();
    if (!stack.empty() && !stack.back().inside_inner(pc)) {
      target.code_answers.emplace(pc, answer_in(stack.back(), pc));
      continue;
    }
    if (!stack.empty()) {
      if (std::optional<Scope> inner = descend(stack.back(), pc, module_bias)) {
        target.code_answers.emplace(pc, answer_in(*inner, pc));
        stack.push_back(std::move(*inner));
        continue;
      }
    }
    ScopeArray lexical;
    Dwarf_Addr bias = 0;
    lexical_scopes(module, pc, lexical, bias);
    if (lexical.count <= 0) {
      // Without DWARF scopes: the ELF symbol and the line table.
      target.code_answers.emplace(pc, answer_in(Scope{}, pc));
      continue;
    }
    module_bias = bias;
    Scope scope;
    Impl::dwarf_function(lexical, scope.named);
    ScopeArray physical;
    physical.count = std::max(0, dwarf_getscopes_die(&lexical.dies[0], &physical.dies));
    scope.path.assign(physical.dies, physical.dies + physical.count);
    bool held = complete(scope, pc, bias);
    target.code_answers.emplace(pc, answer_in(scope, pc));
    if (held) stack.push_back(std::move(scope));
  }
  for (uint64_t pc : pcs) out.push_back(target.code_answers.at(pc));
  return out;
}

const FunctionInfo& Symbolizer::Impl::function_info_at(Object& target, uint64_t pc) {
  auto cached = target.function_infos.find(pc);
  if (cached != target.function_infos.end()) return cached->second;
  FunctionInfo info;
  // The subprogram code_answers found at pc: its physical scopes are the
  // ones below, without a walk of the CU.
  if (auto known = target.subprogram_at.find(pc); known != target.subprogram_at.end()) {
    info = function_info(&known->second);
    return target.function_infos.emplace(pc, std::move(info)).first->second;
  }
  ScopeArray scopes;
  Dwarf_Addr bias = 0;
  physical_scopes(target.module, pc, scopes, bias);
  for (int i = 0; i < scopes.count; ++i) {
    if (dwarf_tag(&scopes.dies[i]) == DW_TAG_subprogram) {
      info = function_info(&scopes.dies[i]);
      break;
    }
  }
  return target.function_infos.emplace(pc, std::move(info)).first->second;
}

const ScopeInfo& Symbolizer::Impl::scope_info_at(Object& target, uint64_t pc, int depth) {
  if (depth < 0) fail("symbols: invalid inline depth {}", depth);
  auto key = std::make_pair(pc, depth);
  auto cached = target.scopes.find(key);
  if (cached != target.scopes.end()) return cached->second;
  return target.scopes.emplace(key, scope_info(target.module, pc, depth)).first->second;
}

std::vector<FunctionMatch> Symbolizer::find_functions(int object, std::string_view name) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr || name.empty()) return {};
  std::string key(name);
  auto cached = target.functions.find(key);
  if (cached != target.functions.end()) return cached->second;

  // A plain identifier can only be matched (below) by a symbol whose ELF
  // name spells it: a C name is itself, and a mangled name holds each
  // identifier of its demangled name literally, except the class names that
  // std:: abbreviations stand for (Sa, Sb, Ss, Si, So, Sd), whose
  // constructors and destructors are named by them. Only those symbols are
  // read then, unless all of them were read already.
  static constexpr std::string_view kAbbreviated[] = {"allocator",     "basic_string",   "string",
                                                      "basic_istream", "istream",        "basic_ostream",
                                                      "ostream",       "basic_iostream", "iostream"};
  bool identifier = !std::isdigit(static_cast<unsigned char>(name[0])) &&
                    std::all_of(name.begin(), name.end(), [](char c) { return is_word_char(c); }) &&
                    std::find(std::begin(kAbbreviated), std::end(kAbbreviated), name) == std::end(kAbbreviated);
  std::vector<SymbolEntry> named;
  if (identifier && !target.symbol_entries) named = read_symbols(target.module, name);
  const std::vector<SymbolEntry>& entries =
      identifier && !target.symbol_entries ? named : Impl::symbol_entries(target);
  auto is_function = [](const SymbolEntry& e) { return e.type == STT_FUNC || e.type == STT_GNU_IFUNC; };
  std::vector<const SymbolEntry*> found;
  SignatureParts request = split_signature(name, true);
  if (request.has_params) {
    std::string wanted = canonical_signature(request);
    for (const SymbolEntry& e : entries)
      if (is_function(e) && (e.signature == wanted || (e.signature.empty() && e.plain == name))) found.push_back(&e);
  } else {
    std::string wanted = canonical(name);
    for (const SymbolEntry& e : entries)
      if (is_function(e) && (e.plain == name || e.base == wanted)) found.push_back(&e);
    if (found.empty()) {
      // gdb's wild matching: "scale" names app::scale and Widget::scale.
      std::string suffix = "::" + wanted;
      for (const SymbolEntry& e : entries)
        if (is_function(e) && e.base.size() > suffix.size() && e.base.ends_with(suffix)) found.push_back(&e);
    }
  }
  // A global definition is what the program calls by that name; a default
  // version is what it links to.
  if (std::any_of(found.begin(), found.end(), [](auto* e) { return e->binding != STB_LOCAL; }))
    std::erase_if(found, [](auto* e) { return e->binding == STB_LOCAL; });
  std::erase_if(found, [&](const SymbolEntry* e) {
    return e->old_version && std::any_of(found.begin(), found.end(), [&](const SymbolEntry* other) {
             return !other->old_version && other->plain == e->plain;
           });
  });
  // One match per entry: aliases at one address are one function. Name it
  // by the symbol the user named when that is one of them.
  std::stable_sort(found.begin(), found.end(), [&](const SymbolEntry* a, const SymbolEntry* b) {
    if (a->address != b->address) return a->address < b->address;
    return (a->plain == name) > (b->plain == name);
  });
  std::vector<FunctionMatch> matches;
  for (const SymbolEntry* e : found)
    if (matches.empty() || matches.back().entry != e->address) matches.push_back({e->address, e->demangled});
  target.functions.emplace(std::move(key), matches);
  return matches;
}

std::optional<uint64_t> Symbolizer::find_function(int object, std::string_view name) {
  std::vector<FunctionMatch> matches = find_functions(object, name);
  if (matches.empty()) return std::nullopt;
  return matches.front().entry;
}

bool Symbolizer::is_clone(int object, uint64_t entry_pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return false;
  for (const SymbolEntry& e : Impl::symbol_entries(target))
    if (e.address == entry_pc && (e.type == STT_FUNC || e.type == STT_GNU_IFUNC) &&
        (e.plain.find(".constprop.") != std::string::npos || e.plain.find(".isra.") != std::string::npos ||
         e.plain.find(".part.") != std::string::npos))
      return true;
  return false;
}

bool Symbolizer::is_ifunc(int object, uint64_t entry_pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return false;
  for (const SymbolEntry& e : Impl::symbol_entries(target))
    if (e.address == entry_pc && e.type == STT_GNU_IFUNC) return true;
  return false;
}

bool Symbolizer::inlined_only(int object, std::string_view name) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr || name.empty()) return false;
  std::string wanted = canonical(name);
  bool abstract = false, concrete = false;
  for_each_scoped_die(
      target.module,
      [](int tag) { return tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type; },
      [&](Dwarf_Die& child, Dwarf_Addr) {
        if (dwarf_tag(&child) != DW_TAG_subprogram) return true;
        std::string full = function_name(&child);
        Dwarf_Attribute name_attr;  // an out-of-line copy has its name through DW_AT_abstract_origin
        const char* plain = dwarf_formstring(dwarf_attr_integrate(&child, DW_AT_name, &name_attr));
        if (full != name && canonical(full) != wanted && (plain == nullptr || name != plain)) return true;
        Dwarf_Attribute attr;
        if (dwarf_attr(&child, DW_AT_inline, &attr) != nullptr) abstract = true;
        Dwarf_Addr low = 0;
        if (dwarf_lowpc(&child, &low) == 0) concrete = true;
        return !concrete;  // one concrete copy decides
      });
  return abstract && !concrete;
}

bool Symbolizer::has_symbol_table(int object) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return false;
  Dwarf_Addr bias = 0;
  if (has_symtab_section(dwfl_module_getelf(target.module, &bias))) return true;
  // The separate debug file (found by build-id or .gnu_debuglink), which
  // libdwfl opens for its symbol table without reading its DWARF.
  dwfl_module_getsymtab(target.module);
  const char* debug_file = nullptr;
  dwfl_module_info(target.module, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, &debug_file);
  if (debug_file == nullptr) return false;
  int fd = ::open(debug_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  bool found = has_symtab_section(elf);
  if (elf != nullptr) elf_end(elf);
  ::close(fd);
  return found;
}

std::vector<Parameter> Symbolizer::parameters(int object, uint64_t entry_pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return {};
  return impl_->function_info_at(target, entry_pc).parameters;
}

std::optional<TypeInfo> Symbolizer::return_type(int object, uint64_t entry_pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return std::nullopt;
  return impl_->function_info_at(target, entry_pc).return_type;
}

bool Symbolizer::returns_void(int object, uint64_t entry_pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return false;
  const FunctionInfo& info = impl_->function_info_at(target, entry_pc);
  return info.described && !info.return_type;
}

bool Symbolizer::is_variadic(int object, uint64_t entry_pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return false;
  return impl_->function_info_at(target, entry_pc).variadic;
}

std::vector<Location> Symbolizer::inline_chain(int object, uint64_t pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return {};
  auto cached = target.inline_chains.find(pc);
  if (cached != target.inline_chains.end()) return cached->second;
  return target.inline_chains.emplace(pc, Impl::compute_inline_chain(target.module, pc)).first->second;
}

std::vector<std::string> Symbolizer::local_names(int object, uint64_t pc, int inline_depth) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return {};
  std::vector<std::string> names;
  for (const auto& [name, die] : impl_->scope_info_at(target, pc, inline_depth).visible) names.push_back(name);
  return names;
}

std::optional<LocalValue> Symbolizer::find_local(int object, std::string_view name, const FrameContext& ctx) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return std::nullopt;
  const ScopeInfo& scope = impl_->scope_info_at(target, ctx.pc, ctx.inline_depth);
  auto found = std::find_if(scope.visible.begin(), scope.visible.end(),
                            [&](const auto& entry) { return entry.first == name; });
  if (found == scope.visible.end()) return std::nullopt;
  Dwarf_Die die = found->second;

  LocalValue local;
  local.name = found->first;
  local.type = describe(type_of(&die));
  const std::string what = fmt::format("'{}' (in {})", local.name,
                                       scope.function_name.empty() ? "?" : scope.function_name);

  Dwarf_Attribute attr;
  if (dwarf_attr_integrate(&die, DW_AT_location, &attr) != nullptr) {
    evaluate_location(&attr, ctx, scope.bias, scope.frame_function, what, local);
    return local;
  }

  if (dwarf_attr_integrate(&die, DW_AT_const_value, &attr) != nullptr) {
    local.where = LocalValue::Where::Value;
    Dwarf_Block block;
    Dwarf_Sword signed_value = 0;
    Dwarf_Word unsigned_value = 0;
    switch (dwarf_whatform(&attr)) {
      case DW_FORM_block:
      case DW_FORM_block1:
      case DW_FORM_block2:
      case DW_FORM_block4:
      case DW_FORM_data16:
        if (dwarf_formblock(&attr, &block) != 0) fail("{}: cannot read its constant value: {}", what, dwarf_errmsg(-1));
        local.bytes.assign(block.data, block.data + block.length);
        if (local.type.size != 0) local.bytes.resize(local.type.size, 0);
        break;
      case DW_FORM_sdata:
      case DW_FORM_implicit_const:
        if (dwarf_formsdata(&attr, &signed_value) != 0)
          fail("{}: cannot read its constant value: {}", what, dwarf_errmsg(-1));
        local.bytes = le_bytes(static_cast<uint64_t>(signed_value), local.type.size ? local.type.size : 8, true);
        break;
      case DW_FORM_data1:
      case DW_FORM_data2:
      case DW_FORM_data4:
      case DW_FORM_data8:
      case DW_FORM_udata:
        if (dwarf_formudata(&attr, &unsigned_value) != 0)
          fail("{}: cannot read its constant value: {}", what, dwarf_errmsg(-1));
        local.bytes = le_bytes(unsigned_value, local.type.size ? local.type.size : 8, false);
        break;
      default: fail("{}: its constant value has a DWARF form that is not supported", what);
    }
    return local;
  }

  if (dwarf_hasattr_integrate(&die, DW_AT_declaration)) {
    // `extern T name;` inside a function: the definition is a global.
    if (auto variable = find_variable(object, local.name)) {
      local.where = LocalValue::Where::Memory;
      local.address = variable->address;
      return local;
    }
    fail("{} is declared extern here but not defined in this object", what);
  }
  fail("{} is optimized out at pc {:#x}", what, ctx.pc);
}

uint64_t Symbolizer::breakpoint_address(int object, uint64_t entry_pc) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return entry_pc;
  return gdb_function_breakpoint(target.module, entry_pc);
}

std::vector<uint64_t> Symbolizer::line_breakpoints(int object, std::string_view file, int line, bool* file_seen,
                                                   std::optional<int>* later_line) {
  Impl::Object& target = impl_->object(object);
  if (target.module == nullptr) return {};
  return gdb_line_breakpoints(target.module, file, line, later_line, file_seen);
}

}  // namespace omni::symbols
