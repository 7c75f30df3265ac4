/* Subject for omni's suite (test_socket_channel.cc): before anything else it
 * reads every free-slot message the recorder sends to the tool off the
 * tool's connection, until none comes for a second (a socket in Valgrind's reserved descriptors, >= 1024,
 * used by its number: Valgrind does not guard recv()), so that the tool,
 * at its first full buffer, finds nothing to read and would wait forever.
 * Prints "stole N" (N bytes taken; 0 natively, where there is no such
 * socket), then stores into a large buffer (the tool's buffer fills) and
 * prints "after". */
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_big[8 << 20];

int main(void) {
  long stolen = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 2;
  int fds[256], n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL && n < 256) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd >= 1024) fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; ++i) {
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
    if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    /* The recorder sends all 16 once the tool's hello has passed its check,
       and one more for each slot the tool has handed over by now: take
       them until none has come for a second. */
    struct pollfd p = {fds[i], POLLIN, 0};
    while (poll(&p, 1, stolen ? 1000 : 5000) > 0) {
      char buf[4096];
      ssize_t got = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
      if (got <= 0) break;
      stolen += got;
    }
  }
  printf("stole %ld\n", stolen);
  fflush(stdout);
  for (int round = 0; round < 24; ++round) memset(g_big, round, sizeof g_big);
  printf("after\n");
  return 0;
}
