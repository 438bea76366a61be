// A strict little XML parser for the figure tests: it builds the element tree
// and throws on anything not well-formed that our SVG could produce (unbalanced
// or misnested tags, unquoted or duplicate attributes, a raw "<" or "&" in text,
// an unknown entity, text after the root), so "parses" means "well-formed".
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (entities decoded), not its descendants'. */
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(raw: string, where: number): string {
  return raw.replace(/&([^;\s]*);?/g, (m, name: string) => {
    if (!m.endsWith(";")) throw new Error(`XML: bare "&" at ${where}`);
    if (name in ENTITIES) return ENTITIES[name];
    const code = /^#x([0-9a-f]+)$/i.exec(name)?.[1] ?? /^#([0-9]+)$/.exec(name)?.[1];
    if (code === undefined) throw new Error(`XML: unknown entity &${name}; at ${where}`);
    return String.fromCodePoint(name[1] === "x" || name[1] === "X" ? parseInt(code, 16) : Number(code));
  });
}

export function parseXml(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  if (text.startsWith("<?xml")) i = text.indexOf("?>") + 2;
  while (i < text.length) {
    const lt = text.indexOf("<", i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (chunk.trim() !== "") {
      if (stack.length === 0) throw new Error(`XML: text outside the root at ${i}`);
      if (chunk.includes(">")) throw new Error(`XML: raw ">" in text at ${i}`);
      stack[stack.length - 1].text += decode(chunk, i);
    }
    if (lt < 0) break;
    const gt = text.indexOf(">", lt);
    if (gt < 0) throw new Error(`XML: unclosed tag at ${lt}`);
    const tag = text.slice(lt + 1, gt);
    if (tag.startsWith("/")) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`XML: </${name}> closes <${open?.name ?? "nothing"}> at ${lt}`);
    } else {
      if (root !== undefined && stack.length === 0) throw new Error(`XML: a second root element at ${lt}`);
      const selfClosing = tag.endsWith("/");
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z_][\w:.-]*)/.exec(body);
      if (!m) throw new Error(`XML: bad tag name in <${tag}> at ${lt}`);
      const el: XmlElement = { name: m[1], attrs: {}, children: [], text: "" };
      let rest = body.slice(m[1].length);
      const attr = /^\s+([A-Za-z_][\w:.-]*)="([^"<]*)"/;
      for (let a = attr.exec(rest); a; a = attr.exec(rest)) {
        if (a[1] in el.attrs) throw new Error(`XML: duplicate attribute ${a[1]} in <${el.name}> at ${lt}`);
        el.attrs[a[1]] = decode(a[2], lt);
        rest = rest.slice(a[0].length);
      }
      if (rest.trim() !== "") throw new Error(`XML: malformed attributes ${JSON.stringify(rest)} in <${el.name}> at ${lt}`);
      if (stack.length) stack[stack.length - 1].children.push(el);
      else root = el;
      if (!selfClosing) stack.push(el);
    }
    i = gt + 1;
  }
  if (stack.length) throw new Error(`XML: <${stack[stack.length - 1].name}> never closed`);
  if (!root) throw new Error("XML: no root element");
  return root;
}

/** Every element below `el` (depth first, document order) that satisfies `pred`. */
export function findAll(el: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (pred(e)) out.push(e);
    e.children.forEach(walk);
  };
  walk(el);
  return out;
}

export const texts = (root: XmlElement) => findAll(root, (e) => e.name === "text").map((e) => e.text);
