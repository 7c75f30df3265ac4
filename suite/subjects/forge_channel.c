/* Subject for omni's suite (issue 8, item 15): a program that writes into the
 * recorder's channels. Under omni record, Valgrind's descriptors are visible
 * in /proc/self/fd: the tool's connection to the recorder's socket (or, with
 * an older recorder, the FIFO of slot messages and the pipe of free slots);
 * this program uses them (send()/recv() on the socket's number, which
 * Valgrind does not guard; FIFOs and pipes reopened through /proc) and
 * forges or steals messages, as a hostile or buggy program could.
 *   forge_channel list     print each descriptor >= 3 and what it names
 *   forge_channel fifo     24-byte plausible slot message into each FIFO/socket
 *   forge_channel fifo8    8-byte message (u32 slot 0, u32 100 bytes) into each FIFO/socket
 *   forge_channel garbage  13 bytes of text into each FIFO/socket
 *   forge_channel release  16-byte plausible free-slot message into each pipe
 *                          (on a socket: sent on it, so to the recorder)
 *   forge_channel steal    read every pending message out of each pipe/socket
 *   forge_channel steal1   read one 16-byte message out of each pipe/socket
 *   forge_channel hold     reopen each FIFO for writing (dup each socket),
 *                          fork a child that keeps it open for 60 s, print
 *                          "done N" and wait 60 s (the test then SIGKILLs
 *                          Valgrind: it ends without its final message, and
 *                          the FIFO or connection keeps a writer)
 * It prints "before" first (flushed), "done N" after touching N descriptors,
 * Only descriptors above the program's own range (>= 1024, where Valgrind
 * keeps its own) are touched, and no pipe that Valgrind holds both ends of
 * (its own lock). It then stores into a large buffer (so the recorder flushes slots) and prints
 * "after". */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_big[8 << 20];

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "list";
  printf("before\n");
  fflush(stdout);
  int touched = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 2;
  int fds[256], n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL && n < 256) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd >= 3 && fd != dirfd(d)) fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; ++i) {
    char path[64], link[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
    ssize_t len = readlink(path, link, sizeof link - 1);
    if (len < 0) continue;
    link[len] = 0;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && fds[i] >= 1024 && strcmp(mode, "list") != 0) {
      /* The socket cannot be reopened; its number works with the socket calls. */
      int fd = fds[i];
      if (strcmp(mode, "hold") == 0) {
        if (dup(fd) >= 0) ++touched;
        continue;
      }
      uint32_t msg[6] = {0};
      size_t size = 0;
      if (strcmp(mode, "fifo") == 0) {
        msg[0] = 2; msg[1] = 0; msg[2] = 4096; msg[3] = 1;
        size = 24;
      } else if (strcmp(mode, "fifo8") == 0) {
        msg[0] = 0; msg[1] = 100;
        size = 8;
      } else if (strcmp(mode, "garbage") == 0) {
        memcpy(msg, "hello, omni!\n", 13);
        size = 13;
      } else if (strcmp(mode, "release") == 0) {
        msg[0] = 1; msg[1] = 16;
        size = 16;
      }
      if (strcmp(mode, "steal") == 0 || strcmp(mode, "steal1") == 0) {
        /* The recorder hands out its free-slot messages once the tool has
           said hello: wait for them. */
        struct pollfd p = {fd, POLLIN, 0};
        poll(&p, 1, 5000);
        char buf[4096];
        if (strcmp(mode, "steal1") == 0) {
          size_t got = 0;
          while (got < 16) {
            ssize_t r = recv(fd, buf, 16 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
          }
        } else {
          while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
          }
        }
        ++touched;
      } else if (size > 0 && send(fd, msg, size, MSG_NOSIGNAL) == (ssize_t)size) {
        ++touched;
      }
      continue;
    }
    if (stat(path, &st) != 0 || !S_ISFIFO(st.st_mode)) {
      if (strcmp(mode, "list") == 0) printf("fd %d: %s\n", fds[i], link);
      continue;
    }
    int anonymous = strncmp(link, "pipe:", 5) == 0;
    int both_ends = 0;
    for (int j = 0; j < n; ++j) {
      char other[64], other_link[512];
      snprintf(other, sizeof other, "/proc/self/fd/%d", fds[j]);
      ssize_t l = readlink(other, other_link, sizeof other_link - 1);
      if (j != i && l == len && memcmp(other_link, link, len) == 0) both_ends = 1;
    }
    if (strcmp(mode, "list") == 0) {
      printf("fd %d: %s (%s)\n", fds[i], link, anonymous ? "pipe" : "fifo");
      continue;
    }
    if (strcmp(mode, "hold") == 0) {
      if (!anonymous && fds[i] >= 1024 && open(path, O_WRONLY | O_NONBLOCK) >= 0) ++touched;
      continue;
    }
    int steal_one = strcmp(mode, "steal1") == 0;
    int to_pipe = strcmp(mode, "release") == 0 || strcmp(mode, "steal") == 0 || steal_one;
    if (anonymous != to_pipe || both_ends || fds[i] < 1024) continue;
    int steal = strcmp(mode, "steal") == 0 || steal_one;
    int fd = open(path, (steal ? O_RDONLY : O_WRONLY) | O_NONBLOCK);
    if (fd < 0) continue;
    uint32_t msg[6] = {0};
    size_t size = 0;
    if (strcmp(mode, "fifo") == 0) {
      msg[0] = 2; msg[1] = 0; msg[2] = 4096; msg[3] = 1;  /* kind SLOT, slot 0, bytes, sequence */
      size = 24;
    } else if (strcmp(mode, "fifo8") == 0) {
      msg[0] = 0; msg[1] = 100;
      size = 8;
    } else if (strcmp(mode, "garbage") == 0) {
      memcpy(msg, "hello, omni!\n", 13);
      size = 13;
    } else if (strcmp(mode, "release") == 0) {
      msg[0] = 1; msg[1] = 16;  /* slot 1, the next sequence number */
      size = 16;
    }
    if (steal) {
      char buf[4096];
      while (read(fd, buf, steal_one ? 16 : sizeof buf) > 0 && !steal_one) {
      }
      ++touched;
    } else if (write(fd, msg, size) == (ssize_t)size) {
      ++touched;
    }
    close(fd);
  }
  printf("done %d\n", touched);
  fflush(stdout);
  if (strcmp(mode, "hold") == 0) {
    if (fork() == 0) {
      sleep(60);
      _exit(0);
    }
    sleep(60);
    return 0;
  }
  /* Enough stores to fill many slots: a free-slot message is read only when
     a slot is needed. */
  for (int round = 0; round < 24; ++round) memset(g_big, round, sizeof g_big);
  sleep(1);
  printf("after\n");
  return 0;
}
