// The guided tour: a short scripted sequence typed into the real shell, one step at a time, that
// a visitor can run, step past or skip. Steps that need an engine feature that has not landed
// (subvolumes) have a stand-in that shows the same idea with what exists (reflink copies).

export interface TourStep {
  title: string;
  text: string;
  command?: string;
  /** When the feature is missing, this step is used instead. */
  fallback?: Omit<TourStep, 'fallback' | 'needs'>;
  needs?: 'subvolume';
}

export const TOUR: TourStep[] = [
  {
    title: 'This is btrfs, in a browser tab',
    text: 'A real btrfs filesystem lives on a 256 MiB device in this browser: the same bytes Linux writes. The shell on the left speaks the commands you know; the panels on the right show what happens on disk.',
  },
  {
    title: 'Make a place to work',
    text: 'A subvolume is an independent file tree inside the filesystem, which can be snapshotted on its own.',
    command: 'btrfs subvolume create /work',
    needs: 'subvolume',
    fallback: { title: 'Make a place to work', text: 'Directories are b-tree items: a DIR_ITEM, a DIR_INDEX and an INODE_REF for every name.', command: 'mkdir -p /work' },
  },
  {
    title: 'Write a file',
    text: 'Small files are stored inline, inside the metadata b-tree leaf itself.',
    command: 'echo "version 1" > /work/notes.txt && cat /work/notes.txt',
  },
  {
    title: 'Snapshot it',
    text: 'A snapshot is instant and takes no space: it shares every block with its source until one of them changes.',
    command: 'btrfs subvolume snapshot -r /work /work-v1',
    needs: 'subvolume',
    fallback: { title: 'Copy it for free', text: 'A reflink copy shares the data extents of its source: instant, and no extra space until one of them changes.', command: 'head -c 1M /dev/urandom > /work/photo.raw && cp --reflink /work/photo.raw /work/photo-copy.raw && ls -l /work' },
  },
  {
    title: 'Change the original',
    text: 'Copy-on-write: the new version goes to new blocks; the old blocks stay for whoever still refers to them.',
    command: 'echo "version 2" > /work/notes.txt',
  },
  {
    title: 'Compare',
    text: 'Both versions are there.',
    command: 'cat /work/notes.txt /work-v1/notes.txt',
    needs: 'subvolume',
    fallback: { title: 'Where space goes', text: 'The reflinked copy used no data space of its own: compare du (per file) with the filesystem\'s own accounting.', command: 'du -h /work && sync && btrfs filesystem df /' },
  },
  {
    title: 'Commit',
    text: 'Until a commit, changes live in memory. sync writes a new generation: new tree blocks, then the superblock. Watch the generation and the panels.',
    command: 'sync',
  },
  {
    title: 'Look inside',
    text: 'The items of the filesystem tree, printed as btrfs-progs prints them: inodes, names, file extents.',
    command: 'btrfs inspect-internal dump-tree -t fs',
  },
  {
    title: 'Check it',
    text: 'Every tree block, every back reference, every byte count, checked in your browser.',
    command: 'btrfs check',
  },
  {
    title: 'Take it with you',
    text: '"Export image" saves the device as a file: a btrfs filesystem Linux can mount (sudo mount -o loop butterfs-demo.img /mnt). "Import image" opens one made elsewhere, by mkfs.btrfs for one. Everything persists across reloads; Reset starts over.',
  },
];

export class Tour {
  private index = 0;
  private readonly card: HTMLElement;
  private steps: TourStep[] = [];

  constructor(host: HTMLElement, private readonly run: (line: string) => Promise<number>, private readonly hasSubvolumes: () => Promise<boolean>) {
    this.card = host;
    host.hidden = true;
  }

  async start(): Promise<void> {
    const subvols = await this.hasSubvolumes();
    this.steps = TOUR.map((s) => (s.needs === 'subvolume' && !subvols && s.fallback ? { ...s.fallback } : s));
    this.index = 0;
    this.render();
  }

  stop(): void {
    this.card.hidden = true;
    localStorage.setItem('butterfs-demo:toured', '1');
  }

  private render(): void {
    const step = this.steps[this.index];
    if (!step) {
      this.stop();
      return;
    }
    this.card.hidden = false;
    this.card.innerHTML = '';
    const head = document.createElement('div');
    head.className = 'tour-head';
    head.innerHTML = `<span class="tour-count">Tour ${this.index + 1} / ${this.steps.length}</span>`;
    const skip = document.createElement('button');
    skip.type = 'button';
    skip.className = 'btn-link tour-skip';
    skip.textContent = 'Skip tour';
    skip.addEventListener('click', () => this.stop());
    head.append(skip);
    const h = document.createElement('h3');
    h.textContent = step.title;
    const p = document.createElement('p');
    p.textContent = step.text;
    this.card.append(head, h, p);
    if (step.command) {
      const code = document.createElement('code');
      code.className = 'tour-cmd';
      code.textContent = step.command;
      this.card.append(code);
    }
    const actions = document.createElement('div');
    actions.className = 'tour-actions';
    const next = document.createElement('button');
    next.type = 'button';
    const last = this.index === this.steps.length - 1;
    if (step.command) {
      next.className = 'btn btn-primary';
      next.textContent = 'Run it';
      next.addEventListener('click', () => {
        next.disabled = true;
        void this.run(step.command!).finally(() => {
          this.index++;
          this.render();
        });
      });
      const pass = document.createElement('button');
      pass.type = 'button';
      pass.className = 'btn';
      pass.textContent = 'Next';
      pass.addEventListener('click', () => {
        this.index++;
        this.render();
      });
      actions.append(pass, next);
    } else {
      next.className = 'btn btn-primary';
      next.textContent = last ? 'Done' : this.index === 0 ? 'Show me' : 'Next';
      next.addEventListener('click', () => {
        this.index++;
        this.render();
      });
      actions.append(next);
    }
    this.card.append(actions);
  }
}
