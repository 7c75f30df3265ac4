// Subject for omni's suite (names as a C++ user writes them): overloads, a
// namespaced function and global, a std::map global, a const std::string&
// parameter, and a call of glibc's pthread_mutex_lock (an alias there).
// Output (stdout), one "key=value" per line:
//   a=<check(int)> b=<check(int, string)> c=<check(double)>
//   total=<app::g_total> map_size=<g_map.size()>
#include <pthread.h>

#include <cstdio>
#include <map>
#include <string>

std::map<int, std::string> g_map;
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

namespace app {
long g_total;
int scale(int x) {
  g_total = x * 3L;
  return static_cast<int>(g_total);
}
}  // namespace app

int check(int x) { return x + 1; }
int check(int x, const std::string& s) { return x + static_cast<int>(s.size()); }
int check(double d) { return static_cast<int>(d * 2); }

int main() {
  g_map[1] = "one";
  g_map[2] = "two";
  pthread_mutex_lock(&g_lock);
  int a = check(5);
  std::string hello("hello");
  int b = check(7, hello);
  int c = check(2.5);
  pthread_mutex_unlock(&g_lock);
  app::scale(a + b + c);
  std::printf("a=%d\nb=%d\nc=%d\n", a, b, c);
  std::printf("total=%ld\nmap_size=%zu\n", app::g_total, g_map.size());
  return 0;
}
