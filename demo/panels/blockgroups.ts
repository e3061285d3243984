// A map of the device: every cell is a slice of the device's bytes, coloured by the block group
// whose stripe lives there (data, metadata, system; DUP block groups appear twice) and filled to
// the block group's use. Superblock copies are marked. From the chunk tree (stripes: physical
// offsets) and the block group items (used bytes).
import { progsSize } from '../app/format.js';
import { kindTitle } from '../app/space.js';
import type { ChunkInfo } from '../app/btrfs-dump.js';
import { el, type FsView, type Panel, type RefreshReason } from './panel.js';

const MiB = 1024 * 1024;
const MAX_CELLS = 256;
/** btrfs superblock copies: 64 KiB, 64 MiB, 256 GiB. */
const SUPERBLOCKS = [64 * 1024, 64 * MiB, 256 * 1024 * MiB];

export class BlockGroupPanel implements Panel {
  readonly id = 'map';
  readonly title = 'Device map';
  readonly subtitle = 'block groups on the device, by type and fill';
  readonly refreshOn: readonly RefreshReason[] = ['mounted', 'commit'];
  private body!: HTMLElement;

  mount(body: HTMLElement): void {
    this.body = body;
  }

  async refresh(view: FsView): Promise<void> {
    const s = await view.space();
    const dev = s.devices[0];
    const deviceBytes = dev?.totalBytes ?? s.totalBytes;
    const cellBytes = Math.max(MiB, Math.ceil(deviceBytes / MAX_CELLS / MiB) * MiB);
    const cells = Math.ceil(deviceBytes / cellBytes);
    const stripes: { chunk: ChunkInfo; start: number; end: number; copy: number }[] = [];
    for (const c of s.chunks) {
      c.stripes.forEach((st, i) => {
        if (st.devid === (dev?.devid ?? 1)) stripes.push({ chunk: c, start: st.offset, end: st.offset + c.length, copy: i });
      });
    }
    const grid = el('div', { class: 'map-grid', role: 'img', 'aria-label': `device map, ${cells} cells of ${progsSize(cellBytes)}` });
    for (let i = 0; i < cells; i++) {
      const lo = i * cellBytes;
      const hi = Math.min(lo + cellBytes, deviceBytes);
      const hit = stripes.find((st) => st.start < hi && st.end > lo);
      const cell = el('div', { class: 'map-cell' });
      const supers = SUPERBLOCKS.filter((sb) => sb >= lo && sb < hi);
      let title = `${progsSize(lo)} – ${progsSize(hi)}: `;
      if (hit) {
        const c = hit.chunk;
        const pct = c.length ? ((c.used ?? 0) / c.length) * 100 : 0;
        cell.classList.add(`kind-${c.kind.toLowerCase()}`);
        cell.style.setProperty('--fill', `${Math.max(pct, (c.used ?? 0) > 0 ? 6 : 0)}%`);
        cell.dataset.kind = c.kind;
        title += `${kindTitle(c.kind)} ${c.profile === 'single' ? 'single' : c.profile.toUpperCase()} block group at logical ${c.logical}` +
          `${c.stripes.length > 1 ? `, copy ${hit.copy + 1} of ${c.stripes.length}` : ''}; ${progsSize(c.used ?? 0)} used of ${progsSize(c.length)}`;
      } else {
        cell.classList.add('free');
        title += 'unallocated';
      }
      if (supers.length) {
        cell.classList.add('has-super');
        title += `; superblock copy at ${progsSize(supers[0])}`;
      }
      cell.title = title;
      grid.append(cell);
    }
    const legend = el('div', { class: 'map-legend' },
      ...['data', 'metadata', 'system'].map((k) => el('span', { class: `lg lg-${k}`, text: k === 'data' ? 'Data' : k === 'metadata' ? 'Metadata' : 'System' })),
      el('span', { class: 'lg lg-free', text: 'unallocated' }),
      el('span', { class: 'lg lg-super', text: 'superblock' }),
      el('span', { class: 'map-scale', text: `one cell = ${progsSize(cellBytes)}` }));
    this.body.replaceChildren(grid, legend);
  }
}
