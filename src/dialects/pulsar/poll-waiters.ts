/** The long-polls open now: per user (for the cap) and per topic (for the stats). */
export class PollWaiters {
  readonly perUser = new Map<string, number>();
  readonly perTopic = new Map<string, number>();
  active = 0;

  enter(userId: string, topics: string[]) {
    this.active++;
    this.perUser.set(userId, (this.perUser.get(userId) ?? 0) + 1);
    for (const t of topics) this.perTopic.set(t, (this.perTopic.get(t) ?? 0) + 1);
  }

  leave(userId: string, topics: string[]) {
    this.active--;
    const n = this.perUser.get(userId)! - 1;
    if (n) this.perUser.set(userId, n);
    else this.perUser.delete(userId);
    for (const t of topics) {
      const c = this.perTopic.get(t)! - 1;
      if (c) this.perTopic.set(t, c);
      else this.perTopic.delete(t);
    }
  }
}
