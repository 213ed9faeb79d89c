/**
 * Mermaid's own parser (the `mermaid` package's `mermaid.parse`), run in Node
 * under jsdom: it needs a DOM for its sanitizer, not for parsing.
 */
import { JSDOM } from 'jsdom';

type Mermaid = { parse(text: string): Promise<{ diagramType: string } | false> };
let loaded: Promise<Mermaid> | undefined;

async function load(): Promise<Mermaid> {
  const dom = new JSDOM('<!doctype html><html><body></body></html>');
  Object.assign(globalThis, { window: dom.window, document: dom.window.document });
  const m = (await import('mermaid')) as unknown as { default: Mermaid };
  return m.default;
}

/** The diagram type Mermaid parsed `text` as; throws Mermaid's parse error. */
export async function parseMermaid(text: string): Promise<string> {
  loaded ??= load();
  const result = await (await loaded).parse(text);
  if (!result) throw new Error('mermaid.parse returned false');
  return result.diagramType;
}
