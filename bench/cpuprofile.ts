/**
 * A V8 `.cpuprofile` (node --cpu-prof) loaded for the readers in this folder
 * (`cpuprofile-top.ts`: functions by self time; `cpuprofile-long.ts`: the event loop's long
 * tasks): the nodes by id, each node's parent, and readable frame names.
 */
import { readFileSync } from 'node:fs';

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface LoadedProfile {
  prof: Profile;
  byId: Map<number, ProfileNode>;
  parent: Map<number, number>;
}

export function loadProfile(file: string): LoadedProfile {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { prof, byId, parent };
}

/** A script URL shortened to what names it here (`apps/…`, `node_modules/…`). */
export function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/(apps|packages|bench)\//, '$1/');
}

/** `name file[:line]` of a node (`(native)` for frames without a script). */
export function frameName(p: LoadedProfile, id: number | undefined, withLine = false): string {
  if (id === undefined) return '(root)';
  const f = p.byId.get(id)!.callFrame;
  return `${f.functionName || '(anonymous)'} ${shortUrl(f.url) || '(native)'}${withLine ? `:${f.lineNumber + 1}` : ''}`;
}
