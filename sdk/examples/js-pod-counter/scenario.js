// Example firedrill scenario in JavaScript: counts Ready pods of each service.
//
// `inject` records the count as state and evidence (it breaks nothing, so it is safe to
// try anywhere); `verify` reports recovered once every service has its replicas Ready.
// Built by plugins/build with `jco componentize` against sdk/wit/since_v0.1.0.
// Imports that return `result` throw their error; throwing from an export returns
// the thrown value as the WIT `error` (e.g. `{ tag: 'failed', val: 'why' }`).

import { listPods } from 'firedrill:scenario/cluster@0.1.0';
import { write } from 'firedrill:scenario/log@0.1.0';
import { set, remove } from 'firedrill:scenario/state@0.1.0';
import { attach } from 'firedrill:scenario/evidence@0.1.0';

function readyPods(service) {
  return listPods(service.namespace, service.selector).filter((pod) => pod.ready && !pod.terminating).length;
}

function paramsOf(phase) {
  let params;
  try {
    params = JSON.parse(phase.params || '{}');
  } catch (error) {
    throw { tag: 'invalid-params', val: `phase parameters: ${error}` };
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw { tag: 'invalid-params', val: 'phase parameters must be a JSON object' };
  }
  return params;
}

export function describe() {
  return {
    name: 'js-pod-counter',
    version: '0.1.0',
    summary: 'Counts Ready pods per service (example in JavaScript).',
    paramsSchema: JSON.stringify({ type: 'object', properties: { note: { type: 'string' } } }),
    capabilities: [{ tag: 'cluster', val: { verbs: ['list'], namespaces: ['*'] } }],
  };
}

export function plan(phase) {
  paramsOf(phase);
  return phase.services.map((s) => ({
    kind: 'count-pods',
    target: `${s.namespace}/${s.selector}`,
    detail: 'list pods, count Ready ones',
  }));
}

export function inject(phase) {
  const note = paramsOf(phase).note ?? '';
  const counts = {};
  for (const service of phase.services) counts[service.name] = readyPods(service);
  write('info', `ready pods: ${JSON.stringify(counts)} ${note}`.trim());
  set('counts', JSON.stringify(counts));
  attach('ready-pods.json', 'application/json', JSON.stringify(counts));
}

export function verify(phase) {
  for (const service of phase.services) {
    const ready = readyPods(service);
    if (ready < service.replicas) {
      return { tag: 'recovering', val: `${service.name}: ${ready}/${service.replicas} ready` };
    }
  }
  return { tag: 'recovered' };
}

export function rollback(_phase) {
  remove('counts');
}
