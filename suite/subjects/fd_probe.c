/* Subject for omni's suite: prints the lowest free descriptor (what open()
 * returns) and every open descriptor below 1024 other than 0-2, so that a
 * descriptor a recorder leaves in the program's range shows. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
  int fd = open("/dev/null", O_RDONLY);
  printf("first_free=%d\n", fd);
  close(fd);
  for (int i = 3; i < 1024; ++i)
    if (fcntl(i, F_GETFD) != -1) printf("open=%d\n", i);
  return 0;
}
