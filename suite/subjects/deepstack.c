/* Subject for omni's suite: memory deep in the main thread's stack (where the
 * stack grows past its first pages), a kernel write made for a second thread,
 * and typed globals gdb decodes differently from plain integers.
 * Prints "addr=<16 KiB local buffer>" after filling it with 0x5a, then
 * "buf=<what thread 2 read from the pipe>". */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

char g_buf[32];
double g_inf = 1.0;
enum big { SMALL = 1, BIG = 0x80000000u } g_enum = SMALL;
struct flags {
  int a;
  unsigned lo : 4, hi : 4;
} g_flags = {1, 3, 5};
static int g_pipe[2];

static int deep(void) {
  char buf[16384];
  memset(buf, 0x5a, sizeof buf);
  printf("addr=%p\n", (void *)buf);
  fflush(stdout);
  return buf[100];
}

static void *reader(void *arg) {
  (void)arg;
  ssize_t n = read(g_pipe[0], g_buf, sizeof g_buf - 1); /* blocks until main writes */
  return (void *)n;
}

int main(void) {
  int r = deep();
  g_inf = INFINITY;
  g_enum = BIG;
  pipe(g_pipe);
  pthread_t t;
  pthread_create(&t, NULL, reader, NULL);
  usleep(100000);
  write(g_pipe[1], "through a pipe", 14);
  pthread_join(t, NULL);
  printf("buf=%s r=%d\n", g_buf, r);
  return 0;
}
