// What a panel is: a titled box that shows one view of the filesystem and refreshes when told.
// The board (board.ts) owns when: on mount, on every commit (a new generation) and after the
// shell changes something. A later feature's panel (scrub progress, devices, zones) is one more
// module implementing this interface, added to the list in main.ts.
import type { FilesystemClient } from '../../src/worker/client.js';
import type { Session } from '../app/session.js';
import { loadSpace, type SpaceReport } from '../app/space.js';
import { parseSubvolumes, type SubvolumeInfo } from '../app/btrfs-dump.js';

/** Why a refresh happens: panels that only change at commit skip 'data'. */
export type RefreshReason = 'mounted' | 'commit' | 'data' | 'cwd';

/** One refresh's shared reads (each loaded at most once, by whichever panel asks first). */
export class FsView {
  private spaceP: Promise<SpaceReport> | undefined;
  private subvolsP: Promise<SubvolumeInfo[]> | undefined;

  constructor(readonly session: Session, readonly cwd: string, readonly reason: RefreshReason) {}

  get fs(): FilesystemClient {
    return this.session.fs;
  }

  space(): Promise<SpaceReport> {
    this.spaceP ??= loadSpace(this.fs);
    return this.spaceP;
  }

  /** Subvolumes with the top level first: from `fs.subvolume` when the engine has it, else the root tree. */
  subvolumes(): Promise<SubvolumeInfo[]> {
    this.subvolsP ??= loadSubvolumes(this.fs);
    return this.subvolsP;
  }
}

interface ApiSubvolume {
  id: number; gen: number; cgen: number; topLevel: number; name: string; path: string; uuid: string; parentUuid: string;
  readonly: boolean; ctransid: number; otransid: number; otime: Date;
}
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

function fromApi(s: ApiSubvolume): SubvolumeInfo {
  return {
    id: s.id, path: s.path, name: s.name, parentId: s.id === 5 ? undefined : s.topLevel, generation: s.gen, otransid: s.cgen,
    ctransid: s.ctransid, uuid: s.uuid, parentUuid: s.parentUuid === '-' ? ZERO_UUID : s.parentUuid, readonly: s.readonly,
    otime: s.otime instanceof Date ? s.otime.toISOString() : String(s.otime),
  };
}

export async function loadSubvolumes(fs: FilesystemClient): Promise<SubvolumeInfo[]> {
  const api = (fs as unknown as { subvolume?: { list(): Promise<ApiSubvolume[]>; show(id: number): Promise<ApiSubvolume> } }).subvolume!;
  try {
    const [list, top] = await Promise.all([api.list(), api.show(5)]);
    return [fromApi(top), ...list.map(fromApi)];
  } catch (e) {
    if (!/is not a function|Cannot read properties of undefined|undefined is not an object/.test(e instanceof Error ? e.message : String(e))) throw e;
    return parseSubvolumes(await fs.dumpTree({ tree: 1 }));
  }
}

export interface Panel {
  readonly id: string;
  readonly title: string;
  /** One line under the title saying what the panel shows and where it comes from. */
  readonly subtitle?: string;
  /** The reasons this panel refreshes for. */
  readonly refreshOn: readonly RefreshReason[];
  mount(body: HTMLElement): void;
  refresh(view: FsView): Promise<void>;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}
