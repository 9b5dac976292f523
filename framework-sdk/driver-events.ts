// The events a SchedulerDriver delivers, as a map from name to payload; the same objects
// come through `driver.on(name, ...)` and through `driver.events()` (tagged with `type`).
import type { Offer, TaskStatus } from "../proto/gen/yard/v1/common.js";

export interface DriverEventMap {
  /**
   * The master accepted the subscription. `reconnected` is true when the driver subscribed
   * with an existing framework id (after a broken stream, or a restarted framework that
   * passed `framework.id`): the framework should then reconcile its tasks.
   */
  /**
   * `secret` is the framework secret (never log it): the proof a failover must present. Keep it
   * with the framework id, as durably, and pass both back as `framework.id` and
   * `framework.secret` after a restart (docs/framework-guide.md).
   */
  subscribed: { frameworkId: string; reconnected: boolean; heartbeatIntervalSeconds: number; secret: string };
  /** Resources offered; answer each with accept/launch or decline. */
  offers: { offers: Offer[] };
  /** An offer is no longer valid (agent lost or drained, offer timed out). */
  rescind: { offerId: string; reason: string };
  /**
   * A task changed state. With autoAcknowledge (the default) the driver acknowledges it once
   * every `update` listener has returned (or its promise resolved); if one throws, the update
   * is not acknowledged and the master sends it again.
   */
  update: { status: TaskStatus };
  /** An agent was lost; its tasks' updates follow separately. */
  failure: { agentId: string; message: string };
  /** The master sent an ERROR event, or the driver hit a fatal error (e.g. FrameworkRemovedError). */
  error: { message: string; error?: Error };
  /** The event stream broke; the driver re-subscribes by itself unless it was stopped. */
  disconnected: { reason: string };
}

export type DriverEventName = keyof DriverEventMap;

export type DriverEvent = { [K in DriverEventName]: { type: K } & DriverEventMap[K] }[DriverEventName];

/** A listener may be async: auto-acknowledgement of an update waits for it. */
export type DriverListener<K extends DriverEventName> = (event: DriverEventMap[K]) => void | Promise<void>;
