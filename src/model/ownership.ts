import { ROLES, type Owner, type Role } from './model.js';

/**
 * Ownership rides in the object's COMMENT as a trailing marker:
 *   `API response times [chpipe:api_latency/table]`
 * so any database read back says which pipeline an object serves and whether
 * chpipe manages it at all. Pipeline names never contain `/`, `]` or spaces.
 */
const MARKER = /\s*\[chpipe:([^\s/\]]+)\/([a-z_]+)\]$/u;

export function ownershipComment(owner: Owner, description?: string): string {
  const marker = `[chpipe:${owner.pipeline}/${owner.role}]`;
  return description ? `${description} ${marker}` : marker;
}

export function parseOwnership(comment: string): { owner?: Owner; description: string } {
  const m = MARKER.exec(comment);
  if (!m || !(ROLES as readonly string[]).includes(m[2] as string)) return { description: comment };
  return {
    owner: { pipeline: m[1] as string, role: m[2] as Role },
    description: comment.slice(0, m.index),
  };
}
