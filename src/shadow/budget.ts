/**
 * Bounds shared by every shadowed session of an instance: the pending-comparison budget (memory) and
 * the event-name labels of the comparison metrics (cardinality). Pure.
 */
import { ANY_EVENT, type ShadowConfig } from "../config/shadow-config.js";

/**
 * Pending comparisons waiting at once, across all sessions of the instance. A comparator acquires one
 * unit per event it buffers and releases it when the event is resolved; when the budget is full the
 * event is not buffered and the refusal is counted. The capacity is read on every acquisition, so a
 * lowered `maxPending` takes effect at once (what is already buffered stays until it resolves).
 */
export class PendingBudget {
  private held = 0;
  private refused = 0;
  private readonly capacityOf: () => number;

  constructor(capacity: number | (() => number)) {
    this.capacityOf = typeof capacity === "number" ? () => capacity : capacity;
  }

  get capacity(): number {
    return this.capacityOf();
  }

  /** Units held now. */
  get used(): number {
    return this.held;
  }

  /** Acquisitions refused since the start (events not compared). */
  get overflowed(): number {
    return this.refused;
  }

  tryAcquire(): boolean {
    if (this.held >= this.capacityOf()) {
      this.refused++;
      return false;
    }
    this.held++;
    return true;
  }

  release(units = 1): void {
    this.held = Math.max(0, this.held - units);
  }
}

export const OTHER_EVENT_LABEL = "_other";
export const DEFAULT_MAX_EVENT_LABELS = 64;
const MAX_LABEL_LENGTH = 100;
/** The comparator's pseudo-events: few and always worth a label of their own. */
const BUILT_IN_LABELS = new Set(["$connect", "$connect_error", "$disconnect", "$ack"]);

/**
 * Maps event names to a bounded set of metric labels: names with a rule of their own always keep
 * their name; otherwise the first `maxNames` distinct names seen keep theirs and the rest become
 * "_other". Very long names are "_other" too. Share one instance per process.
 */
export class EventLabels {
  private readonly seen = new Set<string>();
  private rulesSeen: ShadowConfig["rules"] | undefined;
  private ruleNames = new Set<string>();

  constructor(
    private readonly config: () => ShadowConfig,
    private readonly maxNames = DEFAULT_MAX_EVENT_LABELS,
  ) {}

  label(name: string): string {
    if (this.seen.has(name) || BUILT_IN_LABELS.has(name)) return name;
    if (name.length > MAX_LABEL_LENGTH || name === OTHER_EVENT_LABEL) return OTHER_EVENT_LABEL;
    if (this.namesWithRules().has(name)) return name;
    if (this.seen.size >= this.maxNames) return OTHER_EVENT_LABEL;
    this.seen.add(name);
    return name;
  }

  private namesWithRules(): ReadonlySet<string> {
    const rules = this.config().rules;
    if (rules !== this.rulesSeen) {
      this.rulesSeen = rules;
      this.ruleNames = new Set(rules.map((rule) => rule.event).filter((event) => event !== ANY_EVENT));
    }
    return this.ruleNames;
  }
}
