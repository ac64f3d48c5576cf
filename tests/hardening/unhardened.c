/* unhardened.c - a program built without any hardening (tests/CMakeLists.txt), so the test
 * command can see check-hardening.sh reject it: the check can fail. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	char buf[64];

	snprintf(buf, sizeof buf, "%s", argc > 1 ? argv[1] : "");
	return (int)strlen(buf) == 0;
}
