/* `daiban doctor`'s checks of a node's home: what is wrong, in both
 * languages, with what a person should do about it. No printing: the
 * CLI prints the findings, a UI page can show the same JSON. */
#ifndef DAIBAN_AGENT_DOCTOR_H
#define DAIBAN_AGENT_DOCTOR_H

#include <jansson.h>

/* Free space on the home's file system below which doctor says so. */
#define DOCTOR_FREE_WARN  (1024ull << 20)       /* 1 GiB: warn */
#define DOCTOR_FREE_FAIL  (100ull << 20)        /* 100 MiB: captures may fail */
/* The link: events waiting longer than this, or no sync for this long. */
#define DOCTOR_STALE_S    (3 * 86400)
/* a backup older than this is a warning (the timer makes one daily) */
#define DOCTOR_BACKUP_STALE_S (7 * 86400)
/* Another node's event stamped this far past this PC's clock. */
#define DOCTOR_CLOCK_BEHIND_MS (10 * 60 * 1000)

/* Run every check on the home at dir. Returns an array of findings, each
 * {"check", "name_en", "name_zh", "level": "ok"|"warn"|"fail", "en",
 * "zh", "todo_en", "todo_zh"} (the todo fields absent when level is
 * "ok"). A home that
 * cannot be opened gives one "home" finding. now: seconds since the
 * epoch (time(NULL); tests pass their own). */
json_t *doctor_run(const char *dir, long long now);

/* Whether any finding needs a person (a "warn" or a "fail"). */
int doctor_needs_person(const json_t *findings);

#endif
