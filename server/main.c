#include "config.h"
#include <stdio.h>
int main(void) { puts("vellum"); return 0; }
