// omni: the multitool. Subcommands are registered explicitly in cli.cc.
#include <malloc.h>
#include <unistd.h>

#include <iostream>

#include "commands.h"
#include "omni/base/huge_pages.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  // Questions decode and drop multi-megabyte chunks and replay pages over and
  // over: keep freed memory in the process (up to these sizes) instead of
  // returning it to the kernel and faulting it in again for the next one.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  omni::advise_huge_heap(size_t{64} << 20);
  omni::cli::Io io{std::cout, std::cerr, isatty(STDERR_FILENO) != 0};
  int status = omni::cli::run(std::vector<std::string>(argv, argv + argc), io);
  std::cout.flush();
  return status;
}
