// Release pins: which frameworks depend on which releases. A framework replaces its whole set
// with SetPins (the service framework pins the releases of its deployed revisions, so that an
// undo or a rollback still finds its bytes); Remove refuses a pinned release.
//
// Contracts:
// - setPins(framework, releases) replaces that framework's set; it is durable before it returns.
// - A framework that the master removed (torn down, or away past its failover timeout) pins
//   nothing: its pins are dropped the next time the book is consulted, so that a framework
//   which disappeared cannot hold a release forever.
import type { StoredPin } from "../store/registry-store.js";

export interface PinsComponents {
  persist: (frameworkId: string, releases: readonly string[], pinnedAt: number) => void;
  /** Whether the framework is known to the master and not removed. */
  isLive: (frameworkId: string) => boolean;
  /** Seconds since the epoch. */
  now?: () => number;
}

export class PinBook {
  /** framework id → releases (NAME@VERSION) */
  private readonly byFramework = new Map<string, Set<string>>();
  private readonly now: () => number;

  constructor(
    private readonly components: PinsComponents,
    initial: readonly StoredPin[] = [],
  ) {
    this.now = components.now ?? (() => Date.now() / 1000);
    for (const p of initial) {
      let set = this.byFramework.get(p.frameworkId);
      if (!set) {
        set = new Set();
        this.byFramework.set(p.frameworkId, set);
      }
      set.add(p.release);
    }
  }

  /** Replaces the releases `frameworkId` pins (deduplicated); an empty list drops them. */
  set(frameworkId: string, releases: readonly string[]): void {
    const unique = [...new Set(releases)].sort();
    this.components.persist(frameworkId, unique, this.now());
    if (unique.length === 0) this.byFramework.delete(frameworkId);
    else this.byFramework.set(frameworkId, new Set(unique));
  }

  /** The releases a framework pins, sorted. */
  of(frameworkId: string): string[] {
    return [...(this.byFramework.get(frameworkId) ?? [])].sort();
  }

  /** The live frameworks that pin `release`, sorted; drops the pins of removed frameworks. */
  pinners(release: string): string[] {
    this.prune();
    const out: string[] = [];
    for (const [fw, set] of this.byFramework) if (set.has(release)) out.push(fw);
    return out.sort();
  }

  /** Drops the pins of every framework that is no longer live; returns their ids. */
  prune(): string[] {
    const gone = [...this.byFramework.keys()].filter((fw) => !this.components.isLive(fw));
    for (const fw of gone) this.set(fw, []);
    return gone;
  }
}
