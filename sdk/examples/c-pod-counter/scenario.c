// Example firedrill scenario in C: counts Ready pods of each service.
//
// `inject` records the counts as state and evidence (it breaks nothing, so it is safe
// to try anywhere); `verify` reports recovered once every service has its replicas
// Ready, naming the cluster change that prompted the call; `findings` asks for a
// follow-up for each service still short of its replicas when the phase's wait ends.
// Targets firedrill:scenario@0.2.0 (sdk/wit/since_v0.2.0), whose capability interfaces
// are 0.1.0's: imports are named `firedrill_scenario_0_1_0_*`, the types new in 0.2.0
// `firedrill_scenario_0_2_0_types_*`. plugins/build generates scenario.h/scenario.c with
// `wasm-kit c-bindings`, compiles with clang for wasm32-wasi and makes a component with
// `wasm-kit component`.
//
// Ownership follows wit-bindgen's C conventions: values returned from exports are
// malloc'd here and freed by the generated post-return code; values returned by
// imports belong to us and are freed with the generated *_free functions.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

typedef scenario_error_t error_t_;
typedef firedrill_scenario_0_1_0_types_service_t service_t;

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
    set_error(err, FIREDRILL_SCENARIO_0_1_0_TYPES_ERROR_INVALID_PARAMS, "phase parameters must be a JSON object");
    return false;
  }
  return true;
}

// Ready, non-terminating pods of a service; false (with err set) if the cluster call failed.
static bool ready_pods(service_t *service, uint32_t *ready, error_t_ *err) {
  firedrill_scenario_0_1_0_cluster_list_pod_t pods;
  if (!firedrill_scenario_0_1_0_cluster_list_pods(&service->namespace_, &service->selector, &pods, err)) return false;
  *ready = 0;
  for (size_t i = 0; i < pods.len; i++) {
    if (pods.ptr[i].ready && !pods.ptr[i].terminating) (*ready)++;
  }
  firedrill_scenario_0_1_0_cluster_list_pod_free(&pods);
  return true;
}

// Writes ` after Pod web/web-4 became Ready` (or ` after Node node-a cordoned` for a
// cluster-scoped object) into `out`.
static void describe_change(const scenario_change_t *change, char *out, size_t size) {
  if (change->namespace_.is_some) {
    snprintf(out, size, " after %.*s %.*s/%.*s %.*s", (int)change->kind.len, (char *)change->kind.ptr,
             (int)change->namespace_.val.len, (char *)change->namespace_.val.ptr, (int)change->name.len,
             (char *)change->name.ptr, (int)change->summary.len, (char *)change->summary.ptr);
  } else {
    snprintf(out, size, " after %.*s %.*s %.*s", (int)change->kind.len, (char *)change->kind.ptr,
             (int)change->name.len, (char *)change->name.ptr, (int)change->summary.len, (char *)change->summary.ptr);
  }
}

void exports_scenario_describe(scenario_description_t *ret) {
  scenario_string_dup(&ret->name, "c-pod-counter");
  scenario_string_dup(&ret->version, "0.1.0");
  scenario_string_dup(&ret->summary, "Counts Ready pods per service (example in C).");
  scenario_string_dup(&ret->params_schema, "{\"type\":\"object\",\"properties\":{\"note\":{\"type\":\"string\"}}}");

  firedrill_scenario_0_1_0_types_capability_t *capability = malloc(sizeof *capability);
  capability->tag = FIREDRILL_SCENARIO_0_1_0_TYPES_CAPABILITY_CLUSTER;
  capability->val.cluster.verbs.ptr = malloc(sizeof(firedrill_scenario_0_1_0_types_verb_t));
  capability->val.cluster.verbs.ptr[0] = FIREDRILL_SCENARIO_0_1_0_TYPES_VERB_LIST;
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
    service_t *s = &phase->services.ptr[i];
    char target[512];
    snprintf(target, sizeof target, "%.*s/%.*s", (int)s->namespace_.len, (char *)s->namespace_.ptr,
             (int)s->selector.len, (char *)s->selector.ptr);
    // Counting pods is no kind the daemon knows: `other`, by a lowercase-dashed name.
    ret->ptr[i].kind.tag = FIREDRILL_SCENARIO_0_2_0_TYPES_ACTION_KIND_OTHER;
    scenario_string_dup(&ret->ptr[i].kind.val.other, "count-pods");
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
    service_t *s = &phase->services.ptr[i];
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
  firedrill_scenario_0_1_0_log_write(FIREDRILL_SCENARIO_0_1_0_LOG_LEVEL_INFO, &message);

  scenario_string_set(&key, "counts");
  scenario_string_set(&value, json);
  if (!firedrill_scenario_0_1_0_state_set(&key, &value, err)) return false;
  scenario_string_set(&name, "ready-pods.json");
  scenario_string_set(&media_type, "application/json");
  return firedrill_scenario_0_1_0_evidence_attach(&name, &media_type, &value, err);
}

// `maybe_trigger` is the latest cluster change the host saw, or NULL for a timer call.
bool exports_scenario_verify(scenario_phase_t *phase, scenario_change_t *maybe_trigger, scenario_verdict_t *ret,
                             error_t_ *err) {
  char after[512] = "";
  if (maybe_trigger) {
    describe_change(maybe_trigger, after, sizeof after);
    char line[600];
    snprintf(line, sizeof line, "verify%s (%u ms ago)", after, maybe_trigger->age_ms);
    scenario_string_t message;
    scenario_string_set(&message, line);
    firedrill_scenario_0_1_0_log_write(FIREDRILL_SCENARIO_0_1_0_LOG_LEVEL_DEBUG, &message);
  }
  for (size_t i = 0; i < phase->services.len; i++) {
    service_t *s = &phase->services.ptr[i];
    uint32_t ready;
    if (!ready_pods(s, &ready, err)) return false;
    if (ready < s->replicas) {
      char reason[1024];
      snprintf(reason, sizeof reason, "%.*s: %u/%u ready%s", (int)s->name.len, (char *)s->name.ptr, ready, s->replicas,
               after);
      ret->tag = FIREDRILL_SCENARIO_0_1_0_TYPES_VERDICT_RECOVERING;
      scenario_string_dup(&ret->val.recovering, reason);
      return true;
    }
  }
  ret->tag = FIREDRILL_SCENARIO_0_1_0_TYPES_VERDICT_RECOVERED;
  return true;
}

// Called once the wait for recovery ended. A pod counter measures no data loss; a
// service still short of replicas is a follow-up for the operator.
bool exports_scenario_findings(scenario_phase_t *phase, scenario_findings_t *ret, error_t_ *err) {
  if (!check_params(phase, err)) return false;
  size_t count = phase->services.len;
  ret->data_loss.is_some = false;
  ret->follow_ups.ptr = calloc(count ? count : 1, sizeof(scenario_string_t));
  ret->follow_ups.len = 0;
  for (size_t i = 0; i < count; i++) {
    service_t *s = &phase->services.ptr[i];
    uint32_t ready;
    if (!ready_pods(s, &ready, err)) {
      // An error result is not freed by the post-return code: free what was made.
      scenario_list_string_free(&ret->follow_ups);
      return false;
    }
    if (ready < s->replicas) {
      char follow_up[512];
      snprintf(follow_up, sizeof follow_up,
               "%.*s: %u/%u pods Ready after the phase; find out why the rest did not come back", (int)s->name.len,
               (char *)s->name.ptr, ready, s->replicas);
      scenario_string_dup(&ret->follow_ups.ptr[ret->follow_ups.len++], follow_up);
    }
  }
  return true;
}

bool exports_scenario_rollback(scenario_phase_t *phase, error_t_ *err) {
  (void)phase;
  (void)err;
  scenario_string_t key;
  scenario_string_set(&key, "counts");
  firedrill_scenario_0_1_0_state_remove(&key);
  return true;
}
