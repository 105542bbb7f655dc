/**
 * The page's handle on the in-browser captioning worker: load once, then one promise per
 * caption request.
 */
import type { CaptionOptions } from "../../decode/caption-features.js";
import type { TfjsBackend } from "./encoders.js";
import type { BrowserResult, FromWorker, LoadedInfo, ToWorker } from "./protocol.js";

export class BrowserCaptioner {
  private worker: Worker | null = null;
  private loading: Promise<LoadedInfo> | null = null;
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: BrowserResult) => void; reject: (e: Error) => void }>();
  private onLoad: { resolve: (i: LoadedInfo) => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly workerUrl: URL,
    private readonly onProgress: (stage: string, done: number, total: number) => void = () => {},
  ) {}

  private send(m: ToWorker, transfer: Transferable[] = []): void {
    this.worker!.postMessage(m, transfer);
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case "progress":
        this.onProgress(m.stage, m.done, m.total);
        break;
      case "loaded":
        this.onLoad?.resolve(m.info);
        break;
      case "load-error":
        this.loading = null;
        this.onLoad?.reject(new Error(m.message));
        break;
      case "result":
      case "error": {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.type === "result") p?.resolve(m.result);
        else p?.reject(new Error(m.message));
      }
    }
  }

  /** Starts (or joins) loading the model and encoder in the worker. */
  load(base = "", backends?: TfjsBackend[]): Promise<LoadedInfo> {
    if (this.loading) return this.loading;
    if (!this.worker) {
      this.worker = new Worker(this.workerUrl, { type: "module", name: "sat-captioner" });
      this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
      this.worker.onerror = (e) => {
        const err = new Error(`the captioning worker failed: ${e.message || "could not start"}`);
        this.onLoad?.reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        this.loading = null;
      };
    }
    this.loading = new Promise<LoadedInfo>((resolve, reject) => {
      this.onLoad = { resolve, reject };
    });
    this.send({ type: "load", base, backends });
    return this.loading;
  }

  /** Captions one preprocessed crop (crop x crop x 3 RGB). */
  async caption(rgb: Uint8Array, options: CaptionOptions): Promise<BrowserResult> {
    await this.load();
    const id = this.nextId++;
    const copy = rgb.slice();
    return new Promise<BrowserResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ type: "caption", id, rgb: copy, options }, [copy.buffer]);
    });
  }
}
