/* edgecore.h: the public API of edgecore plugins (libedgecore-1). */
#pragma once

#define EC_INSIDE_EDGECORE_H
#include <ec-version.h>
#include <ec-json.h>
#include <ec-message.h>
#include <ec-endpoint.h>
#include <ec-metric.h>
#include <ec-context.h>
#include <ec-store.h>
#include <ec-plugin.h>
#include <ec-worker.h>
#include <ec-codec.h>
#undef EC_INSIDE_EDGECORE_H
