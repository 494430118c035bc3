import type { SearchHit, SearchOutcome, SearchRequest, SnapshotView } from '../ports';

/** Queries per FAISS call: bounds how long one batch holds the event loop. */
export const MAX_SEARCH_BATCH = 32;

interface Pending {
  snapshot: SnapshotView;
  request: SearchRequest;
  resolve: (hits: SearchHit[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces the searches of concurrent requests into one `searchMany` per snapshot. A flat FAISS query
 * reads every stored vector, so it is bound by memory bandwidth and a batch of n costs little more
 * than one: under concurrency, queries/s grow with the batch instead of staying at one query's rate
 * (searches run on the event loop, one at a time). A query waits only for the current turn of the event
 * loop to end (setImmediate), so a query on its own is searched at once.
 */
export class SearchBatcher {
  private pending: Pending[] = [];
  private scheduled = false;

  /** `observe` is told the size of every batch searched (a metric). */
  constructor(private readonly observe?: (size: number) => void) {}

  search(snapshot: SnapshotView, request: SearchRequest): Promise<SearchHit[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ snapshot, request, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const taken = this.pending.splice(0, MAX_SEARCH_BATCH);
    // More than a batch waiting: the rest goes after the I/O that arrived meanwhile.
    if (this.pending.length > 0) this.schedule();
    const bySnapshot = new Map<SnapshotView, Pending[]>();
    for (const entry of taken) {
      const group = bySnapshot.get(entry.snapshot);
      if (group) group.push(entry);
      else bySnapshot.set(entry.snapshot, [entry]);
    }
    for (const [snapshot, group] of bySnapshot) {
      let outcomes: SearchOutcome[];
      try {
        outcomes = snapshot.searchMany(group.map((entry) => entry.request));
      } catch (err) {
        for (const entry of group) entry.reject(err);
        continue;
      }
      this.observe?.(group.length);
      group.forEach((entry, i) => {
        const outcome = outcomes[i];
        if (!outcome)
          entry.reject(new Error(`searchMany answered ${outcomes.length} of ${group.length} queries`));
        else if ('error' in outcome) entry.reject(outcome.error);
        else entry.resolve(outcome.hits);
      });
    }
  }
}
