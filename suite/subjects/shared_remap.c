/* Subject for omni's suite (issue 7, item 10): an empty file mapped
 * MAP_SHARED is moved with mremap(MREMAP_FIXED | MREMAP_MAYMOVE) over an
 * anonymous page. The moved pages lie beyond the file's end: touching them
 * would raise SIGBUS, so a recorder must not read them. Then the file grows
 * and the program writes through the moved mapping.
 * Usage: shared_remap FILE (created empty). Prints what it saw. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 3;
  char* shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  char* dest = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED || dest == MAP_FAILED) return 4;
  dest[0] = 'x';
  char* moved = mremap(shared, 4096, 4096, MREMAP_FIXED | MREMAP_MAYMOVE, dest);
  printf("mremap %s\n", moved == dest ? "moved" : "failed");
  if (ftruncate(fd, 4096) != 0) return 5;
  strcpy(moved, "written through the moved mapping");
  printf("text=%s\n", moved);
  fprintf(stderr, "done\n");
  return 0;
}
