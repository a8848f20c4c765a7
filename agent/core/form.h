/* A form of the catalogue as the fronts show it, as JSON
 * (agent/core/form.c). */
#ifndef DAIBAN_AGENT_CORE_FORM_H
#define DAIBAN_AGENT_CORE_FORM_H

#include <stdint.h>

#include <jansson.h>

#include "forms/catalog.h"

/* A bundle keeps every matter's definition of a shared field or
 * material; what several matters say alike is shown once. */
#define SAID_BEFORE(defs, d, member)                                                     \
        ({                                                                               \
                bool said_ = false;                                                      \
                for (size_t e_ = 0; e_ < (d) && !said_; e_++)                            \
                        said_ = (defs)[e_]->member && (defs)[d]->member &&               \
                                strcmp((defs)[e_]->member, (defs)[d]->member) == 0;      \
                said_;                                                                   \
        })

/* A form as `catalog show --json` prints it (also the station daemon's
 * GET /api/forms/CODE). cal NULL: no deficiency_until. */
json_t *catalog_form_json(const struct cat_form *form, const calendar *cal, int32_t today);

/* One material of a form; with its deficiency_until, the last day a
 * deficient material may come, deficiency_days working days from today
 * by the catalogue's calendar (cal NULL: not given). */
json_t *catalog_material_json(const struct cat_form_material *fm, const calendar *cal, int32_t today);

#endif
