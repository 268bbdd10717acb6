// The newest change events, oldest first, in a fixed amount of memory.
import type { ChangeEvent } from '../interface.ts';

export class EventRing {
  private buf: (ChangeEvent | undefined)[];
  private start = 0;
  private len = 0;

  /** The ring holds every change with startRV < rv <= the newest pushed. */
  constructor(
    private readonly capacity: number,
    public startRV: bigint,
  ) {
    this.buf = new Array<ChangeEvent | undefined>(capacity);
  }

  push(e: ChangeEvent): void {
    if (this.len === this.capacity) {
      const evicted = this.buf[this.start];
      if (evicted) this.startRV = evicted.rv;
      this.start = (this.start + 1) % this.capacity;
      this.len--;
    }
    this.buf[(this.start + this.len) % this.capacity] = e;
    this.len++;
  }

  reset(startRV: bigint): void {
    this.buf = new Array<ChangeEvent | undefined>(this.capacity);
    this.start = 0;
    this.len = 0;
    this.startRV = startRV;
  }

  private at(i: number): ChangeEvent {
    return this.buf[(this.start + i) % this.capacity] as ChangeEvent;
  }

  /** Events with rv > after, in order. */
  *since(after: bigint): Generator<ChangeEvent> {
    let lo = 0;
    let hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).rv <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.len; i++) yield this.at(i);
  }
}
