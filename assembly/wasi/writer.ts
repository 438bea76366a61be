// JSON output as JSON.stringify(value, null, indent) lays it out (indent 0:
// compact), streamed: numbers in ECMAScript's shortest round-trip form,
// non-finite numbers as null.

import { CharSink, appendNumber } from "./numbers";
import { appendQuoted } from "./json";

export class JsonWriter {
  out: CharSink;
  indent: i32;
  counts: i32[] = []; // members written so far, per open container
  afterKey: bool = false;
  constructor(out: CharSink, indent: i32) {
    this.out = out;
    this.indent = indent;
  }
  private newline(depth: i32): void {
    if (this.indent == 0) return;
    this.out.push(10);
    for (let i = 0; i < depth * this.indent; i++) this.out.push(32);
  }
  /** Separator and indentation before an array element (object members get theirs from key()). */
  private beforeValue(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    const depth = this.counts.length;
    if (depth == 0) return;
    if (this.counts[depth - 1] > 0) this.out.push(44);
    this.counts[depth - 1]++;
    this.newline(depth);
  }
  key(k: string): void {
    const depth = this.counts.length;
    if (this.counts[depth - 1] > 0) this.out.push(44);
    this.counts[depth - 1]++;
    this.newline(depth);
    appendQuoted(this.out, k);
    this.out.push(58);
    if (this.indent > 0) this.out.push(32);
    this.afterKey = true;
  }
  private open(c: i32): void {
    this.beforeValue();
    this.out.push(c);
    this.counts.push(0);
  }
  private close(c: i32): void {
    const had = this.counts.pop();
    if (had > 0) this.newline(this.counts.length);
    this.out.push(c);
  }
  beginObject(): void {
    this.open(123);
  }
  endObject(): void {
    this.close(125);
  }
  beginArray(): void {
    this.open(91);
  }
  endArray(): void {
    this.close(93);
  }
  number(x: f64): void {
    this.beforeValue();
    if (isFinite(x)) appendNumber(this.out, x);
    else this.out.pushString("null");
  }
  numbers(xs: f64[]): void {
    this.beginArray();
    for (let i = 0; i < xs.length; i++) this.number(xs[i]);
    this.endArray();
  }
  string(s: string): void {
    this.beforeValue();
    appendQuoted(this.out, s);
  }
  boolean(b: bool): void {
    this.beforeValue();
    this.out.pushString(b ? "true" : "false");
  }
  nullValue(): void {
    this.beforeValue();
    this.out.pushString("null");
  }
}
