// Placing the launches the apps want onto offers. Pure: the offers, the wants and a view of
// where each app's instances run in; the tasks to launch and their instance records out. An
// app's instances go on an offer while its constraints allow and its resources fit; the
// wants' counts go down by what was placed. Within a batch of offers, the agents that already
// hold an app's release get its instances first (placeOnOffers).
import {
  type HealthCheck,
  holdsRelease,
  type Offer,
  type Resources,
  offerRunsExecutor,
  PendingReasonCode,
  type PendingTally,
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
  /** What is left of the offer to place on; default: all of it. */
  resources?: Resources;
  /** Which apps may be placed in this call (by their revision's spec); default: every one. */
  eligible?: (spec: AppSpec) => boolean;
  /** Told why an app's want did not (all) fit on this offer ("why pending"). */
  tally?: PendingTally;
}

export interface Placement {
  tasks: TaskInfo[];
  instances: InstanceRecord[];
  /** What is left of the offer after these tasks. */
  remaining: Resources | undefined;
}

export interface BatchPlacementInput
  extends Omit<PlacementInput, "offer" | "agent" | "resources" | "eligible" | "holdOff" | "tally"> {
  /** Told why wants did not fit, on the last pass only (each offer counts once per app). */
  tally?: PendingTally;
  /** The offers of one batch, each with the view of its agent, in the order to try them. */
  offers: readonly { offer: Offer; agent: AgentView }[];
  /** PlacementInput.holdOff, told which agent's offer it is asked about. */
  holdOff?(app: string, revision: number, spec: AppSpec, agent: AgentView): boolean;
}

/**
 * Places the wants on a batch of offers, in two passes. First every app whose revision names a
 * release goes on the offers whose agent holds that release (Offer.releases), so that a
 * launch there needs no download; then whatever is still wanted goes on any offer, the
 * holders' leftovers included. Constraints and resources are checked alike in both passes:
 * locality only orders the offers an app may use, it never places an instance that a
 * constraint forbids, and it never holds a launch back waiting for a holder's offer. Ties keep
 * the batch's order (the master's seeded shuffle). Returns one placement per offer, in order.
 */
export function placeOnOffers(input: BatchPlacementInput): Placement[] {
  // Instances placed earlier in this batch count for the constraints of the later offers.
  const placedSoFar = new Map<string, AgentView[]>();
  const placedOf = (app: string, revision: number): AgentView[] => {
    const key = `${app}\u0000${revision}`;
    let list = placedSoFar.get(key);
    if (!list) {
      list = input.placedOf(app, revision);
      placedSoFar.set(key, list);
    }
    return list;
  };
  const out: Placement[] = input.offers.map(({ offer }) => ({
    tasks: [],
    instances: [],
    remaining: offer.resources,
  }));
  const passes: ((offer: Offer) => (spec: AppSpec) => boolean)[] = [
    (offer) => (spec) => spec.release !== "" && holdsRelease(offer, spec.release),
    () => () => true,
  ];
  passes.forEach((eligibleOn, pass) => {
    const tally = pass === passes.length - 1 ? input.tally : undefined;
    input.offers.forEach(({ offer, agent }, i) => {
      const sofar = out[i]!;
      const { holdOff } = input;
      const p = placeOnOffer({
        ...input,
        offer,
        agent,
        placedOf,
        resources: sofar.remaining,
        eligible: eligibleOn(offer),
        holdOff: holdOff && ((app, revision, spec) => holdOff(app, revision, spec, agent)),
        tally,
      });
      sofar.tasks.push(...p.tasks);
      sofar.instances.push(...p.instances);
      sofar.remaining = p.remaining;
    });
  });
  return out;
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
  let left = input.resources ?? offer.resources;
  const out: Placement = { tasks: [], instances: [], remaining: left };
  if (!left) return out;
  for (const [name, want] of input.wants) {
    if (want.count <= 0) continue;
    const spec = input.specOf(name, want.revision);
    if (!spec || (input.eligible && !input.eligible(spec))) continue;
    const executor = spec.image ? "docker" : "process";
    const { tally } = input;
    if (!offerRunsExecutor(offer, executor)) {
      tally?.misfit(
        "app",
        name,
        PendingReasonCode.EXECUTOR,
        `needs the ${executor} executor; ${offer.hostname || offer.agentId} runs ${offer.executors.join(", ") || "none"}`,
      );
      continue;
    }
    if (want.count > 0 && input.holdOff?.(name, want.revision, spec)) {
      tally?.misfit(
        "app",
        name,
        PendingReasonCode.RELEASE_NOT_STAGED,
        `waits a while for an agent that holds release ${spec.release}`,
      );
      continue;
    }
    const placed = input.placedOf(name, want.revision);
    while (want.count > 0) {
      const violation = placementViolation(spec.constraints, agent, placed, input.known);
      if (violation) {
        tally?.misfit("app", name, PendingReasonCode.CONSTRAINT, violation);
        break;
      }
      const r = spec.resources;
      const need = { cpus: r.cpus, mem: r.mem, disk: r.disk, ports: r.ports };
      const take = takeTasks(left, [need]);
      const p = take.placed[0];
      if (!p) {
        tally?.tooSmall("app", name, left, need);
        break;
      }
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
  out.remaining = left;
  return out;
}
