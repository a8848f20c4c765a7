/* The console and the process's surroundings, where Windows differs.
 *
 * daiban speaks UTF-8 everywhere. On Linux the command line, the
 * environment and the terminal already are UTF-8 and every function
 * here is the plain POSIX one. On Windows the C runtime hands main() its
 * arguments, and getenv() its values, in the PC's ANSI code page (936 on
 * a Chinese PC, where a folder named 张三 survives, but not one named
 * with a character outside GBK; 1252 on an English one, where nothing
 * Chinese survives), and the console shows bytes in its own code page.
 * So on Windows: the arguments are taken again from the wide command
 * line, values from the wide environment, and the console is switched to
 * UTF-8 (code page 65001) for what daiban prints. */
#ifndef DAIBAN_AGENT_CONSOLE_H
#define DAIBAN_AGENT_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

/* Call first in main(). Windows: replaces *argv with the UTF-8 of the
 * wide command line (kept for the life of the process) and sets the
 * console's code pages to UTF-8. Elsewhere nothing. */
void console_start(int *argc, char ***argv);

/* The environment variable name as UTF-8, or NULL when unset. The
 * pointer stays valid for the life of the process (Windows keeps a copy
 * per name; Linux is getenv). */
const char *console_getenv(const char *name);

/* Whether the PC's own language is Chinese when no LANG, LC_ALL or
 * LC_MESSAGES says: Windows' display language; elsewhere false (LANG
 * decides). */
bool console_system_zh(void);

/* One line of a secret (a password) into buf: from the terminal without
 * echo, after showing prompt on stderr, else read as one line from
 * standard input. The line's end is removed. 0, or -1 at end of input. */
int console_read_secret(const char *prompt, char *buf, size_t n);

#endif
