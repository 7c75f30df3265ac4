// DWARF types (dwarf_types.h): names as C and C++ declarators spell them
// (C++ types qualified by their namespaces and classes, inline namespaces
// left out as gdb does; C aggregates with their struct/union/enum keyword)
// and TypeInfo, which the value decoders trust for kind and size.
#include "dwarf_types.h"

#include <dwarf.h>

#include <cstdlib>

#include "omni/base/error.h"

namespace omni::symbols {

namespace {

// Whether the DIE comes from a C++ compilation unit (whose types print
// without "struct"/"enum" keywords, and with their namespaces).
bool in_cplusplus(Dwarf_Die* die) {
  Dwarf_Die cu;
  if (dwarf_diecu(die, &cu, nullptr, nullptr) == nullptr) return false;
  switch (dwarf_srclang(&cu)) {
    case DW_LANG_C_plus_plus:
    case DW_LANG_C_plus_plus_03:
    case DW_LANG_C_plus_plus_11:
    case DW_LANG_C_plus_plus_14:
      return true;
    default:
      return false;
  }
}

// `name` with the namespaces and classes around its DIE, as C++ spells it
// ("std::string": an inline namespace such as std::__cxx11 is left out, as
// gdb does).
std::string qualified_name(Dwarf_Die* die, const char* name) {
  std::string out = name;
  Dwarf_Die* scopes = nullptr;
  int count = dwarf_getscopes_die(die, &scopes);
  for (int i = 1; i < count; ++i) {  // scopes[0] is the DIE itself
    int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_namespace && tag != DW_TAG_structure_type && tag != DW_TAG_class_type &&
        tag != DW_TAG_union_type)
      continue;
    if (tag == DW_TAG_namespace && dwarf_hasattr(&scopes[i], DW_AT_export_symbols)) continue;
    const char* scope = dwarf_diename(&scopes[i]);
    out = std::string(scope ? scope : "(anonymous namespace)") + "::" + out;
  }
  std::free(scopes);
  return out;
}


// "ret (*)(args)" for a pointer to a function type; `inner` is what the
// declarator holds ("*", "&", "Class::*").
std::string function_type_name(Dwarf_Die* function, const std::string& inner) {
  std::string args;
  Dwarf_Die child;
  if (dwarf_child(function, &child) == 0) {
    do {
      int tag = dwarf_tag(&child);
      if (tag == DW_TAG_formal_parameter) {
        if (!args.empty()) args += ", ";
        args += type_name(type_of(&child));
      } else if (tag == DW_TAG_unspecified_parameters) {
        args += args.empty() ? "..." : ", ...";
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  if (args.empty() && !in_cplusplus(function)) args = "void";
  return type_name(type_of(function)) + " (" + inner + ")(" + args + ")";
}

// A pointer, reference or member pointer to `pointee`, declarator `op`
// ("char *", "char **", "const std::string &").
std::string pointer_name(std::optional<Dwarf_Die> pointee, const std::string& op) {
  if (pointee && dwarf_tag(&*pointee) == DW_TAG_subroutine_type) return function_type_name(&*pointee, op);
  std::string inner = type_name(pointee);
  if (!inner.empty() && (inner.back() == '*' || inner.back() == '&')) return inner + op;
  return inner + " " + op;
}

}  // namespace

std::optional<Dwarf_Die> type_of(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  Dwarf_Die type;
  if (dwarf_attr_integrate(die, DW_AT_type, &attr) == nullptr || dwarf_formref_die(&attr, &type) == nullptr)
    return std::nullopt;
  return type;
}

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

// A DWARF type as C or C++ spells it: every tag a parameter's type can have
// gets a name ("?" only for a DIE that is no type at all).
std::string type_name(std::optional<Dwarf_Die> type) {
  if (!type) return "void";
  const char* name = dwarf_diename(&*type);
  bool cplusplus = in_cplusplus(&*type);
  auto named = [&](const char* keyword) {
    std::string base = name ? (cplusplus ? qualified_name(&*type, name) : std::string(name)) : "<anonymous>";
    return cplusplus ? base : std::string(keyword) + base;
  };
  switch (dwarf_tag(&*type)) {
    case DW_TAG_structure_type: return named("struct ");
    case DW_TAG_class_type: return named("class ");
    case DW_TAG_union_type: return named("union ");
    case DW_TAG_enumeration_type: return named("enum ");
    case DW_TAG_typedef: return name ? (cplusplus ? qualified_name(&*type, name) : std::string(name)) : "?";
    case DW_TAG_pointer_type: return pointer_name(type_of(&*type), "*");
    case DW_TAG_reference_type: return pointer_name(type_of(&*type), "&");
    case DW_TAG_rvalue_reference_type: return pointer_name(type_of(&*type), "&&");
    case DW_TAG_ptr_to_member_type: {
      std::string owner = "?";
      Dwarf_Attribute attr;
      Dwarf_Die containing;
      if (dwarf_attr_integrate(&*type, DW_AT_containing_type, &attr) &&
          dwarf_formref_die(&attr, &containing) != nullptr)
        owner = type_name(containing);
      return pointer_name(type_of(&*type), owner + "::*");
    }
    case DW_TAG_const_type: return "const " + type_name(type_of(&*type));
    case DW_TAG_volatile_type: return "volatile " + type_name(type_of(&*type));
    case DW_TAG_restrict_type: return type_name(type_of(&*type)) + " restrict";
    case DW_TAG_atomic_type: return "_Atomic " + type_name(type_of(&*type));
    case DW_TAG_subroutine_type: return function_type_name(&*type, "");
    case DW_TAG_unspecified_type: return name ? name : "void";
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
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type:
    case DW_TAG_rvalue_reference_type: info.kind = TypeInfo::Kind::Pointer; info.size = 8; break;
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
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type: {
      info.kind = dwarf_tag(&*type) == DW_TAG_union_type ? TypeInfo::Kind::Union : TypeInfo::Kind::Struct;
      // A C++ class with a non-trivial copy constructor or destructor is
      // passed and returned through a pointer to a copy (Itanium C++ ABI).
      Dwarf_Attribute attr;
      Dwarf_Word convention = 0;
      if (dwarf_attr_integrate(&*type, DW_AT_calling_convention, &attr) && dwarf_formudata(&attr, &convention) == 0)
        info.by_reference = convention == DW_CC_pass_by_reference;
      break;
    }
    case DW_TAG_array_type: {
      info.kind = TypeInfo::Kind::Array;
      // One dimension of 1-byte characters: C text.
      int dims = 0;
      Dwarf_Die sub;
      if (dwarf_child(&*type, &sub) == 0) {
        do {
          if (dwarf_tag(&sub) == DW_TAG_subrange_type) ++dims;
        } while (dwarf_siblingof(&sub, &sub) == 0);
      }
      std::optional<Dwarf_Die> element = strip(type_of(&*type));
      Dwarf_Attribute attr;
      Dwarf_Word encoding = 0, element_size = 0;
      if (dims == 1 && element && dwarf_tag(&*element) == DW_TAG_base_type &&
          dwarf_attr_integrate(&*element, DW_AT_encoding, &attr) && dwarf_formudata(&attr, &encoding) == 0 &&
          (encoding == DW_ATE_signed_char || encoding == DW_ATE_unsigned_char) &&
          dwarf_aggregate_size(&*element, &element_size) == 0 && element_size == 1)
        info.chars = true;
      break;
    }
    default: break;
  }
  return info;
}

}  // namespace omni::symbols
