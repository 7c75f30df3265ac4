/* Subject for omni's suite: output through every path --output covers.
 * stdout: printf lines (stdio buffered), a writev of three pieces, bytes that
 * are not UTF-8; stderr: an unbuffered message. Reads argv[1] (if given) in
 * 100-byte read() calls, to give the syscall tests something to compare. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  for (int i = 0; i < 3; ++i) printf("line %d of chatty\n", i);
  fflush(stdout);
  struct iovec pieces[3] = {{"writev ", 7}, {"in three ", 9}, {"pieces\n", 7}};
  writev(1, pieces, 3);
  static const char not_utf8[] = {'b', 'y', 't', 'e', 's', ' ', (char)0xff, (char)0xc3, '\n'};
  write(1, not_utf8, sizeof not_utf8);
  fprintf(stderr, "chatty: to stderr\n");
  if (argc > 1) {
    int fd = open(argv[1], O_RDONLY);
    char buf[100];
    long total = 0;
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) total += n;
    if (fd >= 0) close(fd);
    printf("total=%ld\n", total);
  }
  return 0;
}
