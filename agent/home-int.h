/* What the files of the home module (home*.c) share and no one else
 * uses. */
#ifndef DAIBAN_AGENT_HOME_INT_H
#define DAIBAN_AGENT_HOME_INT_H

/* Make path and its parents (mode 0755). 0 or -errno. */
int home_mkdirs(const char *path);

/* Make dir 0700 and its private files (home_private_files) 0600 again:
 * a home made, or copied, under a looser umask. Best effort. */
void home_make_private(const char *dir);

#endif
