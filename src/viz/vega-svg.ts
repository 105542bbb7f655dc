/**
 * Vega-Lite charts rendered to SVG in Node, no browser: compile to Vega, evaluate the
 * dataflow, draw the scenegraph with Vega's headless SVG renderer.
 *
 * `View.toSVG()` is asynchronous only because it waits for external data and images; charts
 * here carry their data inline and draw no images, so `view.run()` evaluates the whole
 * dataflow synchronously and the renderer can be driven directly. That keeps callers such as
 * the trainer's "rewrite curves.svg after each validation" synchronous. The renderer's size and
 * origin are the ones `toSVG()` uses (its `initializeRenderer`); test/viz/curves.test.ts checks
 * that both give the same SVG, so a Vega upgrade that changes this shows up there.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

interface ViewSize {
  _viewWidth: number;
  _viewHeight: number;
}

function viewFor(spec: TopLevelSpec): vega.View {
  return new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
}

/** The SVG of a Vega-Lite spec with inline data, rendered synchronously. */
export function vegaLiteToSvg(spec: TopLevelSpec): string {
  const view = viewFor(spec).run();
  const size = view as unknown as ViewSize;
  const pad = view.padding() as { left: number; right: number; top: number; bottom: number };
  const origin = view.origin();
  const Renderer = (vega.renderModule as unknown as (name: string) => { headless: unknown })("svg").headless as new (loader: unknown) => {
    initialize(el: null, w: number, h: number, origin: [number, number]): { background(c: unknown): unknown };
    render(scene: unknown): unknown;
    svg(): string;
  };
  const r = new Renderer(view.loader());
  const width = Math.max(0, size._viewWidth + pad.left + pad.right);
  const height = Math.max(0, size._viewHeight + pad.top + pad.bottom);
  r.initialize(null, width, height, [pad.left + origin[0], pad.top + origin[1]]).background(view.background());
  r.render((view.scenegraph() as unknown as { root: unknown }).root);
  const svg = r.svg();
  view.finalize();
  return `${svg}\n`;
}

/** The same through Vega's own asynchronous `toSVG()` (the reference the synchronous path must match). */
export async function vegaLiteToSvgAsync(spec: TopLevelSpec): Promise<string> {
  const view = viewFor(spec);
  const svg = await view.toSVG();
  view.finalize();
  return `${svg}\n`;
}
