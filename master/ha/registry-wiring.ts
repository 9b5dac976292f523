// The one place where the HA master meets the etcd registry store (master/store/): open it as
// a warm follower, promote it on winning, learn when its fence is refused.
import type { Etcd3 } from "etcd3";
import type { Fence } from "../../common/etcd/mirrored-kv.js";
import type { Logger } from "../../common/logger.js";
import type { RegistryStore } from "../store/registry-store.js";
import { EtcdRegistryStore } from "../store/etcd-registry-store.js";

export interface WarmRegistry {
  /** The registry as the Master reads and writes it. */
  readonly store: RegistryStore;
  /** Catches up to the fence's revision and accepts writes, fenced on it. */
  promote(fence: Fence): Promise<void>;
  /** Once: a write was refused by the fence (another master leads). */
  onFenceLost?: (err: Error) => void;
  /** While following: the registry's releases changed (a standby then copies the new ones). */
  onReleasesChanged?: () => void;
  /** Resolves when everything written so far is in etcd. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface WarmRegistryInit {
  client: Etcd3;
  /** The cluster's prefix; the registry lives under `<prefix>/registry/`. */
  prefix: string;
  logger: Logger;
  /** etcd's --max-txn-ops (128 by default). */
  maxTxnOps?: number;
}

export async function openWarmRegistry(init: WarmRegistryInit): Promise<WarmRegistry> {
  const store = await EtcdRegistryStore.open({
    client: init.client,
    prefix: init.prefix,
    logger: init.logger,
    maxTxnOps: init.maxTxnOps,
  });
  const warm: WarmRegistry = {
    store,
    promote: (fence) => store.promote(fence),
    flush: () => store.flush(),
    close: () => store.close(),
  };
  store.onFenceLost = (err) => warm.onFenceLost?.(err);
  store.mirror.onChange = (key) => {
    if (key.startsWith("releases/")) warm.onReleasesChanged?.();
  };
  return warm;
}
