// Space: per block group type (Data, Metadata, System), bytes used inside block groups against
// bytes allocated to them, and the device split into what each type takes raw (DUP metadata
// takes twice its size) and what is still unallocated. As btrfs filesystem usage has it.
import { progsSize } from '../app/format.js';
import { kindTitle } from '../app/space.js';
import { el, type FsView, type Panel, type RefreshReason } from './panel.js';

export class SpacePanel implements Panel {
  readonly id = 'space';
  readonly title = 'Space';
  readonly subtitle = 'used vs allocated per block group type, as of the last commit';
  readonly refreshOn: readonly RefreshReason[] = ['mounted', 'commit'];
  private body!: HTMLElement;

  mount(body: HTMLElement): void {
    this.body = body;
  }

  async refresh(view: FsView): Promise<void> {
    const s = await view.space();
    const device = s.devices.reduce((a, d) => a + d.totalBytes, 0) || s.totalBytes;
    const allocated = s.devices.reduce((a, d) => a + d.bytesUsed, 0);
    const rows = s.kinds.map((k) => {
      const pct = k.totalBytes ? (k.usedBytes / k.totalBytes) * 100 : 0;
      return el('div', { class: `space-row kind-${k.kind.toLowerCase()}`, 'data-kind': k.kind },
        el('div', { class: 'space-label' }, el('strong', { text: kindTitle(k.kind) }), el('span', { class: 'space-profile', text: k.profile === 'single' ? 'single' : k.profile.toUpperCase() })),
        el('div', { class: 'space-bar', role: 'img', 'aria-label': `${kindTitle(k.kind)}: ${progsSize(k.usedBytes)} used of ${progsSize(k.totalBytes)} allocated` },
          el('div', { class: 'space-fill', style: `width:${Math.max(pct, k.usedBytes ? 0.8 : 0)}%` })),
        el('div', { class: 'space-nums', text: `${progsSize(k.usedBytes)} / ${progsSize(k.totalBytes)}` }));
    });
    const segs = s.kinds.map((k) => el('div', { class: `dev-seg kind-${k.kind.toLowerCase()}`, style: `width:${(k.rawBytes / device) * 100}%`, title: `${kindTitle(k.kind)} ${k.profile}: ${progsSize(k.rawBytes)} raw` }));
    const deviceBar = el('div', { class: 'dev-bar', role: 'img', 'aria-label': `device: ${progsSize(allocated)} allocated of ${progsSize(device)}` }, ...segs);
    const legend = el('div', { class: 'space-legend' },
      el('span', { text: `Device ${progsSize(device)}` }),
      el('span', { text: `allocated ${progsSize(allocated)}` }),
      el('span', { text: `unallocated ${progsSize(device - allocated)}` }),
      el('span', { text: `bytes used ${progsSize(s.bytesUsed)}` }));
    const note = el('p', { class: 'panel-note', text: 'Compression savings appear here when compression lands in the engine.' });
    this.body.replaceChildren(el('div', { class: 'space-rows' }, ...rows), deviceBar, legend, note);
  }
}
