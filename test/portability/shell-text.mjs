// UTF-8 TextEncoder/TextDecoder for the bare js102 and jsc shells, which lack
// them (every browser, Node and Deno has them; build/index.js creates one at
// load time). Imported before the library by shell-estimate.mjs; a no-op where
// the real ones exist.
globalThis.TextEncoder ??= class TextEncoder {
  encode(text = "") {
    const bytes = unescape(encodeURIComponent(text));
    return Uint8Array.from(bytes, (c) => c.charCodeAt(0));
  }
};
globalThis.TextDecoder ??= class TextDecoder {
  decode(bytes = new Uint8Array(0)) {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return decodeURIComponent(escape(binary));
  }
};
