/* Subject for omni's suite: maps all of FILE (argv[1]) MAP_SHARED read-only
 * and prints its address, its size and the bytes at two offsets (argv[2],
 * argv[3], decimal) as hex. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return 3;
  const unsigned char* m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return 4;
  long a = atol(argv[2]), b = atol(argv[3]);
  printf("addr=%p size=%ld\n", (const void*)m, (long)st.st_size);
  printf("at_a=%02x%02x%02x%02x\n", m[a], m[a + 1], m[a + 2], m[a + 3]);
  printf("at_b=%02x%02x%02x%02x\n", m[b], m[b + 1], m[b + 2], m[b + 3]);
  return 0;
}
