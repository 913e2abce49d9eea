/* The api table handed to every plugin. */
#ifndef UNIC_API_H
#define UNIC_API_H

#include "unic/plugin.h"

const unic_api *unic_core_api(void);
int unic_registrar_add(unic_registrar *g, const unic_component *c);

#endif
