#ifndef GRAPEVINE_CSODIUM_SHIM_H
#define GRAPEVINE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
