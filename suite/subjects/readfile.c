/* Subject: read() argv[1] into g_buf (one call, at most sizeof g_buf bytes).
 * Output: "read=<count>" on stdout, "readfile: done" on stderr.
 * Exit status: argv[2] when given, else 0; 1 on a usage or I/O error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char g_buf[65536];

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: readfile FILE [EXIT_STATUS]\n");
    return 1;
  }
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  ssize_t n = read(fd, g_buf, sizeof g_buf);
  if (n < 0) {
    perror("read");
    return 1;
  }
  close(fd);
  printf("read=%zd\n", n);
  fprintf(stderr, "readfile: done\n");
  return argc > 2 ? atoi(argv[2]) : 0;
}
