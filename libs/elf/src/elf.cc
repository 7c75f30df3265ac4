#include "omni/elf/elf.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>

namespace omni::elf {

namespace {

// An open file and its libelf handle; both released together.
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

std::string to_hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

// The NT_GNU_BUILD_ID note in `data` (a note section or segment), as hex.
std::optional<std::string> build_id_in(Elf_Data* data) {
  if (data == nullptr) return std::nullopt;
  size_t offset = 0, next;
  GElf_Nhdr note;
  size_t name_at, desc_at;
  while (offset < data->d_size && (next = gelf_getnote(data, offset, &note, &name_at, &desc_at)) > 0) {
    const auto* base = static_cast<const uint8_t*>(data->d_buf);
    if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && std::memcmp(base + name_at, "GNU", 4) == 0 &&
        note.n_descsz > 0)
      return to_hex(base + desc_at, note.n_descsz);
    offset = next;
  }
  return std::nullopt;
}

// As the loader sees it: the PT_NOTE segments (sections may be stripped),
// then SHT_NOTE sections.
std::string gnu_build_id(Elf* elf) {
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) == 0)
    for (size_t i = 0; i < phnum; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_NOTE) continue;
      Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(phdr.p_offset), phdr.p_filesz,
                                            phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
      if (auto id = build_id_in(data)) return *id;
    }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE) continue;
    if (auto id = build_id_in(elf_getdata(scn, nullptr))) return *id;
  }
  return {};
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
    if (phdr.p_type == PT_LOAD && (!first_load || phdr.p_vaddr < first_load->p_vaddr)) first_load = phdr;
  }
  // Without a PT_LOAD (e.g. a relocatable .o) nothing of the file is mapped,
  // so there is no load address to relate to the recorder's memory map.
  if (!first_load) return std::nullopt;

  ElfInfo info;
  info.build_id = gnu_build_id(elf);
  // 4 KiB pages: the recorder's map entries start at page boundaries.
  info.first_load_vaddr = first_load->p_vaddr & ~uint64_t{0xfff};
  info.first_load_offset = first_load->p_offset & ~uint64_t{0xfff};
  return info;
}

}  // namespace omni::elf
