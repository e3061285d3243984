// Which generations a crash state may mount to: the last commit whose final flush happened
// before the crash, or the one being committed when the power went (its superblock may have
// landed). Shared by the crash suites.

export interface CommitSpan {
  /** Index of the first device event of the commit. */
  commitStart: number;
  /** Index after the commit's last device event (its final flush). */
  commitEnd: number;
}

export function allowedGenerations(gens: ReadonlyMap<number, CommitSpan>, eventsBeforeCrash: number): number[] {
  let durable = 0;
  let inFlight: number | undefined;
  for (const [g, span] of gens) {
    if (span.commitEnd <= eventsBeforeCrash) durable = Math.max(durable, g);
    else if (span.commitStart < eventsBeforeCrash) inFlight = g;
  }
  return inFlight === undefined ? [durable] : [durable, inFlight];
}
