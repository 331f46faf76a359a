// Example firedrill scenario in JavaScript: counts Ready pods of each service.
//
// `inject` records the count as state and evidence (it breaks nothing, so it is safe to
// try anywhere); `verify` reports recovered once every service has its replicas Ready,
// naming the cluster change that prompted the call; `findings` asks for a follow-up for
// each service still short of its replicas when the phase's wait ends.
// Built by plugins/build with componentize-js against sdk/wit/since_v0.2.0
// (firedrill:scenario@0.2.0, whose capability interfaces are 0.1.0's).
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

// `Pod web/web-4 became Ready`, or `Node node-a cordoned` for a cluster-scoped object.
function describeChange(change) {
  const object = change.namespace === undefined ? change.name : `${change.namespace}/${change.name}`;
  return `${change.kind} ${object} ${change.summary}`;
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
  // Counting pods is no kind the daemon knows: `other`, by a lowercase-dashed name.
  return phase.services.map((s) => ({
    kind: { tag: 'other', val: 'count-pods' },
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

// `trigger` is the latest cluster change the host saw, or undefined for a timer call.
export function verify(phase, trigger) {
  const after = trigger === undefined ? '' : ` after ${describeChange(trigger)}`;
  if (trigger !== undefined) write('debug', `verify${after} (${trigger.ageMs} ms ago)`);
  for (const service of phase.services) {
    const ready = readyPods(service);
    if (ready < service.replicas) {
      return { tag: 'recovering', val: `${service.name}: ${ready}/${service.replicas} ready${after}` };
    }
  }
  return { tag: 'recovered' };
}

// Called once the wait for recovery ended. A pod counter measures no data loss; a
// service still short of replicas is a follow-up for the operator.
export function findings(phase) {
  paramsOf(phase);
  const followUps = [];
  for (const service of phase.services) {
    const ready = readyPods(service);
    if (ready < service.replicas) {
      followUps.push(`${service.name}: ${ready}/${service.replicas} pods Ready after the phase; find out why the rest did not come back`);
    }
  }
  return { dataLoss: undefined, followUps };
}

export function rollback(_phase) {
  remove('counts');
}
