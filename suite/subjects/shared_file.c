/* Subject for omni's suite (issue 7, item 6): a file mapped MAP_SHARED.
 * Usage: shared_file FILE (existing, 8192 bytes, printable text). Maps three
 * pages of it shared (the third lies past the file's end and is never
 * touched), prints the address and what the mapping holds, writes into it,
 * prints again; then a forked child (not recorded) writes into the mapping
 * and the parent prints what it sees. One write(2) per line. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

char g_private[32] = "not shared at all";

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) return 3;
  char* m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return 4;
  printf("addr=%p private=%p\n", (void*)m, (void*)g_private);
  printf("mapped=%.32s|%.16s\n", m, m + 4096);
  memcpy(m + 8, "PROGRAM!", 8);
  printf("written=%.32s\n", m);
  pid_t child = fork();
  if (child == 0) {
    memcpy(m + 16, "CHILD!!!", 8);
    _exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  printf("after_child=%.32s\n", m);
  return 0;
}
