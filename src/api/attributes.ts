// chattr / lsattr for butterfs (`fs.attributes`): the btrfs file attributes of btrfs-man5
// FILE ATTRIBUTES by path. The rules live in src/inode/attr.ts; this resolves paths and maps
// errors as the rest of the API does (syscall 'ioctl', as chattr's FS_IOC_SETFLAGS).
import type { FsPromises } from './promises.js';
import { pathString, type PathLike } from './path.js';
import { readInode } from '../inode/inode.js';
import { checkMutable } from '../inode/namei.js';
import { applyAttributeSpec, attributeLetters, setAttributes, ATTRIBUTES } from '../inode/attr.js';

export class Attributes {
  /** The letters btrfs supports, with what each means. */
  readonly supported = ATTRIBUTES.map(({ letter, meaning }) => ({ letter, meaning }));

  constructor(private readonly promises: FsPromises) {}

  /** lsattr: the attribute letters set on `path` (e.g. 'aC'), in lsattr's order. */
  get(path: PathLike): Promise<string> {
    const p = pathString(path, 'ioctl');
    return this.promises.call(false, { syscall: 'ioctl', path: p }, async (fs) => {
      const loc = await this.promises.locate(fs, p);
      return attributeLetters((await readInode(fs, loc.root, loc.ino)).flags);
    });
  }

  /**
   * chattr: `spec` as chattr takes it ('+C', '-a', '=iA', several separated by spaces). Returns
   * the letters now set. As btrfs: 'c' with 'm' is EINVAL, 'C' changes only on empty regular
   * files (kept as it was otherwise), unknown letters are EOPNOTSUPP.
   */
  set(path: PathLike, spec: string): Promise<string> {
    const p = pathString(path, 'ioctl');
    return this.promises.call(true, { syscall: 'ioctl', path: p }, async (fs) => {
      const loc = await this.promises.locate(fs, p);
      checkMutable(loc.root, loc.ino);
      const item = await readInode(fs, loc.root, loc.ino);
      const flags = await setAttributes(fs, loc.root, loc.ino, applyAttributeSpec(item.flags, spec));
      return attributeLetters(flags);
    });
  }
}
