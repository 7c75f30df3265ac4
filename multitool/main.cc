// omni: the multitool. Subcommands are registered explicitly in cli.cc.
#include <unistd.h>

#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  omni::cli::Io io{std::cout, std::cerr, isatty(STDERR_FILENO) != 0};
  int status = omni::cli::run(std::vector<std::string>(argv, argv + argc), io);
  std::cout.flush();
  return status;
}
