// The README's runnable snippets: a fenced block right after a line
// `<!-- readme-test: KIND -->` (KIND node | deno | browser | sh) is run by
// test/package.test.ts from a project where the packed package is installed, so
// what the README shows a user stays true. Unmarked blocks are illustrations.

export type SnippetKind = "node" | "deno" | "browser" | "sh";

export interface Snippet {
  kind: SnippetKind;
  code: string;
  /** 1-based line of the opening fence in README.md. */
  line: number;
}

const KINDS: readonly SnippetKind[] = ["node", "deno", "browser", "sh"];

export function readmeSnippets(markdown: string): Snippet[] {
  const lines = markdown.split("\n");
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = /^<!--\s*readme-test:\s*(\S+)\s*-->\s*$/.exec(lines[i]);
    if (!marker) continue;
    const kind = marker[1] as SnippetKind;
    if (!KINDS.includes(kind)) throw new Error(`README.md:${i + 1}: unknown snippet kind ${JSON.stringify(kind)} (expected ${KINDS.join(", ")})`);
    const fence = i + 1;
    if (!/^```(ts|sh)\s*$/.test(lines[fence] ?? "")) throw new Error(`README.md:${i + 1}: a readme-test marker must be followed by a \`\`\`ts or \`\`\`sh fence`);
    const end = lines.findIndex((l, j) => j > fence && /^```\s*$/.test(l));
    if (end < 0) throw new Error(`README.md:${fence + 1}: unclosed fence`);
    snippets.push({ kind, code: lines.slice(fence + 1, end).join("\n") + "\n", line: fence + 1 });
    i = end;
  }
  return snippets;
}
