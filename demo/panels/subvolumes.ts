// Subvolumes and snapshots as a timeline: one lane per subvolume, from the generation it was
// created in (otransid) to its last change (generation); a snapshot names its source
// (parent_uuid). Read from the root tree (ROOT_ITEM, ROOT_BACKREF), so it shows the subvolumes of
// an imported image today, and the demo's own as soon as the engine's `fs.subvolume` lands.
import { el, type FsView, type Panel, type RefreshReason } from './panel.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export class SubvolumePanel implements Panel {
  readonly id = 'subvolumes';
  readonly title = 'Subvolumes & snapshots';
  readonly subtitle = 'each lane runs from the generation it was made in to its last change';
  readonly refreshOn: readonly RefreshReason[] = ['mounted', 'commit', 'data'];
  private body!: HTMLElement;
  private lastKey = '';

  constructor(private readonly apiAvailable: () => Promise<boolean>) {}

  mount(body: HTMLElement): void {
    this.body = body;
  }

  async refresh(view: FsView): Promise<void> {
    const subs = await view.subvolumes();
    const generation = view.session.generation;
    const available = subs.length <= 1 ? await this.apiAvailable() : true;
    const key = JSON.stringify([subs, generation, available]);
    if (key === this.lastKey) return;
    this.lastKey = key;
    const lanes = [...subs].sort((a, b) => (a.id === 5 ? -1 : b.id === 5 ? 1 : a.otransid - b.otransid || a.id - b.id));
    const maxGen = Math.max(generation, ...lanes.map((s) => s.generation), 1);
    // The axis starts just before the oldest subvolume (the top level's lane runs in from the left).
    const made = lanes.filter((s) => s.id !== 5).map((s) => s.otransid);
    const minGen = Math.max(0, Math.min(maxGen - 1, (made.length ? Math.min(...made) : 1) - 1));
    const pct = (g: number) => Math.max(0, ((g - minGen) / (maxGen - minGen)) * 100);
    const byUuid = new Map(lanes.map((s) => [s.uuid, s]));
    const rows = lanes.map((s) => {
      const start = s.id === 5 ? 0 : s.otransid;
      const end = Math.max(s.generation, start);
      const source = s.parentUuid && s.parentUuid !== ZERO_UUID ? byUuid.get(s.parentUuid) : undefined;
      const isSnapshot = !!s.parentUuid && s.parentUuid !== ZERO_UUID;
      const kind = s.id === 5 ? 'top' : isSnapshot ? 'snap' : 'sub';
      const name = s.id === 5 ? '/' : `/${s.path}`;
      const meta = [`id ${s.id}`, isSnapshot ? `snapshot of ${source ? (source.id === 5 ? '/' : `/${source.path}`) : 'a deleted subvolume'}` : s.id === 5 ? 'top level' : 'subvolume', ...(s.readonly ? ['read-only'] : [])].join(' · ');
      return el('div', { class: `tl-row tl-${kind}${s.readonly ? ' tl-ro' : ''}`, 'data-subvol': String(s.id), title: `made at generation ${s.otransid}, last changed at ${s.generation}` },
        el('div', { class: 'tl-label' }, el('span', { class: 'tl-name', text: name }), el('span', { class: 'tl-meta', text: meta })),
        el('div', { class: 'tl-track' },
          el('div', { class: 'tl-bar', style: `left:min(${pct(start)}%, calc(100% - 8px));width:max(8px, ${pct(end) - pct(start)}%)` }),
          ...(isSnapshot ? [el('div', { class: 'tl-origin', style: `left:min(${pct(start)}%, calc(100% - 8px))` })] : [])));
    });
    const axis = el('div', { class: 'tl-row tl-axisrow' }, el('div', {}), el('div', { class: 'tl-axis' }, el('span', { text: `generation ${minGen}` }), el('span', { text: `${maxGen}` })));
    const parts: Node[] = [el('div', { class: 'tl' }, ...rows, axis)];
    if (lanes.length <= 1) {
      parts.push(el('p', { class: 'panel-note', text: available
        ? 'Only the top level so far: try  btrfs subvolume create /work  then  btrfs subvolume snapshot -r /work /work-v1'
        : 'Only the top level. Making subvolumes and snapshots needs the engine\'s fs.subvolume, which is being built; the subvolumes of an imported image show here already.' }));
    }
    this.body.replaceChildren(...parts);
  }
}
