/** A pulled pipeline as the YAML file a person would have written. Pure. */
import { Document, isMap, isScalar, isSeq, type Node } from 'yaml';
import type { PulledPipeline } from './recognize.js';

/** `schemaRef`: the path from the file to pipeline.schema.json, for editors (yaml-language-server), when the project has it. */
export function renderPipelineYaml(p: PulledPipeline, schemaRef?: string): string {
  const doc = new Document(p.doc);
  const lines = [...(schemaRef !== undefined ? [` yaml-language-server: $schema=${schemaRef}`] : []), ` Pulled by \`chpipe pull\` from objects that already existed: ${Object.values(p.objects).join(', ')}.`];
  for (const s of p.secrets) lines.push(` ${s.setting} read back as [HIDDEN]: set the environment variable ${s.variable} to its value.`);
  doc.commentBefore = lines.join('\n');
  // Short lists on one line: `order_by: [a, b]`, `columns: [x, y]`.
  const flowLists = (node: Node | null | undefined): void => {
    if (isMap(node)) for (const pair of node.items) flowLists(pair.value as Node);
    else if (isSeq(node) && node.items.every((i) => isScalar(i))) node.flow = true;
  };
  flowLists(doc.contents as Node);
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
