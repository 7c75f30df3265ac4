/* Subject for omni's suite (expressions as a gdb user types them): a struct
 * pointer global g_p that points to one heap node, then to another; an array
 * of structs with char name fields; a null and a bad pointer.
 * Output (stdout), one "key=value" per line:
 *   first=<address> first_b=<b of the first node>   (after the first node is done)
 *   second=<address> second_b=<b of the second node> name=<g_p->it->name>
 */
#include <stdio.h>
#include <stdlib.h>

struct item {
  int id;
  char name[12];
};
struct node {
  int a;
  long b;
  struct item *it;
};

struct node *g_p;
struct node *g_null;
struct node *g_bad = (struct node *)16;
struct item g_tab[5];

static void bump(struct node *n, int k) {
  for (int i = 0; i < k; i++)
    n->b += i + 1;
}

int main(void) {
  for (int i = 0; i < 5; i++) {
    g_tab[i].id = 100 + i;
    snprintf(g_tab[i].name, sizeof g_tab[i].name, "item-%d", i * 7);
  }
  struct node *first = malloc(sizeof *first);
  struct node *second = malloc(sizeof *second);
  if (!first || !second)
    return 2;
  first->a = 11;
  first->b = 0;
  first->it = &g_tab[3];
  g_p = first;
  bump(g_p, 4);
  printf("first=%p\nfirst_b=%ld\n", (void *)first, first->b);
  fflush(stdout); /* one output write per block, whatever stdout is */
  second->a = 22;
  second->b = 1000;
  second->it = &g_tab[1];
  g_p = second;
  bump(g_p, 3);
  printf("second=%p\nsecond_b=%ld\nname=%s\n", (void *)second, second->b, g_p->it->name);
  fflush(stdout);
  return 0; /* not freed: the nodes stay readable at the end */
}
