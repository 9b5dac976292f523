// Placing the launches the apps want onto one offer. Pure: the offer, the wants and a view of
// where each app's instances run in; the tasks to launch and their instance records out. An
// app's instances go on the offer while its constraints allow and its resources fit; the
// wants' counts go down by what was placed.
import {
  type HealthCheck,
  type Offer,
  offerRunsExecutor,
  type TaskInfo,
  TaskState,
  takeTasks,
  taskInfo,
} from "../../framework-sdk/index.js";
import type { AppSpec, HealthCheck as SpecHealthCheck } from "./app-spec.js";
import { type AgentView, placementViolation } from "./constraints.js";
import type { InstanceRecord } from "./service-state.js";

export interface Want {
  revision: number;
  count: number;
}

export interface PlacementInput {
  offer: Offer;
  agent: AgentView;
  /** By app name; counts are decremented in place. */
  wants: Map<string, Want>;
  /** The spec of an app's revision; undefined to skip the app (e.g. being deleted). */
  specOf(app: string, revision: number): AppSpec | undefined;
  /** Agents that run the live instances of an app's revision (one entry per instance). */
  placedOf(app: string, revision: number): AgentView[];
  /** Every agent known in the cluster (for GROUP_BY). */
  known: AgentView[];
  now: number;
  newTaskId(app: string, revision: number): string;
  /**
   * True to leave the app's launches off this offer for now (locality-hold.ts: its agent
   * lacks the release and the app may still wait for one that holds it). Default: never.
   */
  holdOff?(app: string, revision: number, spec: AppSpec): boolean;
}

export interface Placement {
  tasks: TaskInfo[];
  instances: InstanceRecord[];
}

/** The spec's health check as the agent runs it (TaskInfo.health_check). */
export function taskHealthCheck(hc: SpecHealthCheck): HealthCheck {
  return {
    kind: hc.kind,
    httpPath: hc.kind === "http" ? hc.path : "",
    portIndex: hc.portIndex,
    command: hc.kind === "command" ? hc.command : "",
    intervalSeconds: hc.intervalSeconds,
    timeoutSeconds: hc.timeoutSeconds,
    gracePeriodSeconds: hc.gracePeriodSeconds,
    failures: hc.failures,
  };
}

export function placeOnOffer(input: PlacementInput): Placement {
  const { offer, agent } = input;
  const out: Placement = { tasks: [], instances: [] };
  let left = offer.resources;
  if (!left) return out;
  for (const [name, want] of input.wants) {
    const spec = input.specOf(name, want.revision);
    if (!spec) continue;
    const executor = spec.image ? "docker" : "process";
    if (!offerRunsExecutor(offer, executor)) continue;
    if (want.count > 0 && input.holdOff?.(name, want.revision, spec)) continue;
    const placed = input.placedOf(name, want.revision);
    while (want.count > 0) {
      if (placementViolation(spec.constraints, agent, placed, input.known)) break;
      const r = spec.resources;
      const take = takeTasks(left, [{ cpus: r.cpus, mem: r.mem, disk: r.disk, ports: r.ports }]);
      const p = take.placed[0];
      if (!p) break;
      left = take.remaining;
      const taskId = input.newTaskId(name, want.revision);
      out.instances.push({
        taskId,
        app: name,
        revision: want.revision,
        agentId: offer.agentId,
        hostname: offer.hostname,
        port: p.resources.ports[0]?.begin ?? 0,
        state: TaskState.TASK_STAGING,
        launchedAt: input.now,
        message: "",
        stopping: false,
      });
      out.tasks.push(
        taskInfo({
          taskId,
          name: `${name}.${want.revision}`,
          agentId: offer.agentId,
          command: spec.command || undefined,
          env: { ...spec.env, YARD_APP: name, YARD_REVISION: String(want.revision) },
          cpus: r.cpus,
          mem: r.mem,
          disk: r.disk,
          ports: p.resources.ports,
          executor,
          image: spec.image || undefined,
          labels: { "yard.app": name, "yard.revision": String(want.revision) },
          killGraceSeconds: spec.killGraceSeconds,
          release: spec.release || undefined,
          healthCheck: spec.healthCheck && taskHealthCheck(spec.healthCheck),
        }),
      );
      placed.push(agent);
      want.count--;
    }
  }
  return out;
}
