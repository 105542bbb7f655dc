/**
 * A bound on the bytes of uploads in flight (being received, waiting in the queue, or being
 * captioned): each caption request reserves its size before its body is read (its
 * Content-Length, or the largest allowed upload when it does not declare one) and gives it
 * back when its response is done. A request that does not fit is refused at once (503), so
 * memory held by uploads stays under the budget at any concurrency.
 */
export class UploadBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  /** Reserves `bytes`; false (nothing reserved) if that would pass the limit. */
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limitBytes) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  get inUse(): number {
    return this.used;
  }
}
