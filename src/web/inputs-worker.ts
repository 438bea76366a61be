// A module Worker (build/web/inputs-worker.js) that builds a built-in example's
// inputs: data from the engine's own normals and, for the linear networks, w*
// trained by 5000 AdamW steps — about half a second that would otherwise freeze
// the page. Same .wasm, same bits as building them anywhere else.
import { createEngine, type Variant } from "../engine.ts";
import { exampleCases } from "../cases.ts";
import type { EstimateInputs } from "../estimator.ts";

export type InputsRequest = { module: WebAssembly.Module; variant: Variant; name: keyof typeof exampleCases };
export type InputsReply = { ok: true; inputs: EstimateInputs } | { ok: false; message: string };

interface Scope {
  postMessage(message: InputsReply): void;
  onmessage: ((event: { data: InputsRequest }) => void) | null;
}
const scope = globalThis as unknown as Scope;

scope.onmessage = async ({ data }) => {
  try {
    const engine = await createEngine(data.module, data.variant);
    scope.postMessage({ ok: true, inputs: exampleCases[data.name]().inputs(engine) });
  } catch (e) {
    scope.postMessage({ ok: false, message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
};
