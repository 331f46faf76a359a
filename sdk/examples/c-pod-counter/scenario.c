// Example firedrill scenario in C: counts Ready pods of each service.
//
// `inject` records the counts as state and evidence (it breaks nothing, so it is safe
// to try anywhere); `verify` reports recovered once every service has its replicas
// Ready. plugins/build generates scenario.h/scenario.c with `wasm-kit c-bindings`,
// compiles with clang for wasm32-wasi and makes a component with `wasm-kit component`.
//
// Ownership follows wit-bindgen's C conventions: values returned from exports are
// malloc'd here and freed by the generated post-return code; values returned by
// imports belong to us and are freed with the generated *_free functions.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

typedef firedrill_scenario_types_error_t error_t_;

static void set_error(error_t_ *err, uint8_t tag, const char *message) {
  err->tag = tag;
  // Every case of the error variant carries a string at the same place.
  scenario_string_dup(&err->val.failed, message);
}

// Parameters must be empty or a JSON object; this example reads none of them.
static bool check_params(scenario_phase_t *phase, error_t_ *err) {
  for (size_t i = 0; i < phase->params.len; i++) {
    char c = (char)phase->params.ptr[i];
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
    if (c == '{') return true;
    set_error(err, FIREDRILL_SCENARIO_TYPES_ERROR_INVALID_PARAMS, "phase parameters must be a JSON object");
    return false;
  }
  return true;
}

// Ready, non-terminating pods of a service; false (with err set) if the cluster call failed.
static bool ready_pods(firedrill_scenario_types_service_t *service, uint32_t *ready, error_t_ *err) {
  firedrill_scenario_cluster_list_pod_t pods;
  if (!firedrill_scenario_cluster_list_pods(&service->namespace_, &service->selector, &pods, err)) return false;
  *ready = 0;
  for (size_t i = 0; i < pods.len; i++) {
    if (pods.ptr[i].ready && !pods.ptr[i].terminating) (*ready)++;
  }
  firedrill_scenario_cluster_list_pod_free(&pods);
  return true;
}

void exports_scenario_describe(scenario_description_t *ret) {
  scenario_string_dup(&ret->name, "c-pod-counter");
  scenario_string_dup(&ret->version, "0.1.0");
  scenario_string_dup(&ret->summary, "Counts Ready pods per service (example in C).");
  scenario_string_dup(&ret->params_schema, "{\"type\":\"object\",\"properties\":{\"note\":{\"type\":\"string\"}}}");

  firedrill_scenario_types_capability_t *capability = malloc(sizeof *capability);
  capability->tag = FIREDRILL_SCENARIO_TYPES_CAPABILITY_CLUSTER;
  capability->val.cluster.verbs.ptr = malloc(sizeof(firedrill_scenario_types_verb_t));
  capability->val.cluster.verbs.ptr[0] = FIREDRILL_SCENARIO_TYPES_VERB_LIST;
  capability->val.cluster.verbs.len = 1;
  capability->val.cluster.namespaces.ptr = malloc(sizeof(scenario_string_t));
  scenario_string_dup(&capability->val.cluster.namespaces.ptr[0], "*");
  capability->val.cluster.namespaces.len = 1;
  ret->capabilities.ptr = capability;
  ret->capabilities.len = 1;
}

bool exports_scenario_plan(scenario_phase_t *phase, scenario_list_action_t *ret, error_t_ *err) {
  if (!check_params(phase, err)) return false;
  size_t count = phase->services.len;
  ret->ptr = calloc(count ? count : 1, sizeof(scenario_action_t));
  ret->len = count;
  for (size_t i = 0; i < count; i++) {
    firedrill_scenario_types_service_t *s = &phase->services.ptr[i];
    char target[512];
    snprintf(target, sizeof target, "%.*s/%.*s", (int)s->namespace_.len, (char *)s->namespace_.ptr,
             (int)s->selector.len, (char *)s->selector.ptr);
    scenario_string_dup(&ret->ptr[i].kind, "count-pods");
    scenario_string_dup(&ret->ptr[i].target, target);
    scenario_string_dup(&ret->ptr[i].detail, "list pods, count Ready ones");
  }
  return true;
}

bool exports_scenario_inject(scenario_phase_t *phase, error_t_ *err) {
  if (!check_params(phase, err)) return false;
  // Service names are DNS labels, so they need no JSON escaping.
  char json[4096];
  size_t used = (size_t)snprintf(json, sizeof json, "{");
  for (size_t i = 0; i < phase->services.len && used < sizeof json; i++) {
    firedrill_scenario_types_service_t *s = &phase->services.ptr[i];
    uint32_t ready;
    if (!ready_pods(s, &ready, err)) return false;
    used += (size_t)snprintf(json + used, sizeof json - used, "%s\"%.*s\":%u", i ? "," : "",
                             (int)s->name.len, (char *)s->name.ptr, ready);
  }
  if (used < sizeof json) snprintf(json + used, sizeof json - used, "}");

  scenario_string_t message, key, value, name, media_type;
  char line[4200];
  snprintf(line, sizeof line, "ready pods: %s", json);
  scenario_string_set(&message, line);
  firedrill_scenario_log_write(FIREDRILL_SCENARIO_LOG_LEVEL_INFO, &message);

  scenario_string_set(&key, "counts");
  scenario_string_set(&value, json);
  if (!firedrill_scenario_state_set(&key, &value, err)) return false;
  scenario_string_set(&name, "ready-pods.json");
  scenario_string_set(&media_type, "application/json");
  return firedrill_scenario_evidence_attach(&name, &media_type, &value, err);
}

bool exports_scenario_verify(scenario_phase_t *phase, scenario_verdict_t *ret, error_t_ *err) {
  for (size_t i = 0; i < phase->services.len; i++) {
    firedrill_scenario_types_service_t *s = &phase->services.ptr[i];
    uint32_t ready;
    if (!ready_pods(s, &ready, err)) return false;
    if (ready < s->replicas) {
      char reason[512];
      snprintf(reason, sizeof reason, "%.*s: %u/%u ready", (int)s->name.len, (char *)s->name.ptr, ready, s->replicas);
      ret->tag = FIREDRILL_SCENARIO_TYPES_VERDICT_RECOVERING;
      scenario_string_dup(&ret->val.recovering, reason);
      return true;
    }
  }
  ret->tag = FIREDRILL_SCENARIO_TYPES_VERDICT_RECOVERED;
  return true;
}

bool exports_scenario_rollback(scenario_phase_t *phase, error_t_ *err) {
  (void)phase;
  (void)err;
  scenario_string_t key;
  scenario_string_set(&key, "counts");
  firedrill_scenario_state_remove(&key);
  return true;
}
