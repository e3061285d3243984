// fs.property: `btrfs property get / set / list` (btrfs-progs cmds/property.c, props.c;
// kernel props.c). Three properties, each for its kind of object:
//
//   ro           subvolumes (a path that is a subvolume's root): 'true' | 'false'
//                (BTRFS_IOC_SUBVOL_SETFLAGS; a received subvolume becomes writable only
//                with { force: true }, and loses its received_uuid)
//   compression  files and directories: the btrfs.compression xattr, 'zlib' | 'lzo' | 'zstd'
//                | 'no' | 'none' | '' (unset). A codec sets COMPRESS (and the incompat bit
//                lzo / zstd need); 'no' / 'none' set NOCOMPRESS and '' clears both flags,
//                as the kernel's prop_compression_apply does.
//   label        the filesystem (the path '/'): the superblock label, committed at once
//                (fs.filesystem.setLabel: BTRFS_IOC_SET_FSLABEL commits).
import type { FsInfo } from '../fs/fs-info.js';
import { FIRST_INODE_OBJECTID, InodeFlags } from '../format/constants.js';
import { readInode, writeInode } from '../inode/inode.js';
import { setCompressIncompat } from '../inode/file.js';
import type { CompressionName } from '../kernels/compression.js';
import { getXattr, setXattr, removeXattr, checkMutable } from '../inode/namei.js';
import { setSubvolumeReadonly, isReadonlySubvolume, subvolumeOfDir } from '../subvol/subvolume.js';
import { FsError } from '../util/errors.js';
import type { Filesystem } from './filesystem.js';
import { pathString, type PathLike, type Loc } from './path.js';
import { withPath } from './inode-ops.js';

export type PropertyName = 'ro' | 'compression' | 'label';

export interface PropertyEntry {
  name: PropertyName;
  description: string;
  value: string;
}

const PROPERTIES: readonly { name: PropertyName; description: string; applies: 'subvolume' | 'inode' | 'filesystem' }[] = [
  { name: 'ro', description: 'read-only status of a subvolume', applies: 'subvolume' },
  { name: 'label', description: 'label of the filesystem', applies: 'filesystem' },
  { name: 'compression', description: 'compression algorithm for the file or directory', applies: 'inode' },
];

const COMPRESSION_XATTR = new TextEncoder().encode('btrfs.compression');
const CODECS = ['zlib', 'lzo', 'zstd'];
const utf8 = new TextDecoder();

export class PropertyApi {
  constructor(private readonly filesystem: Filesystem) {}

  private async run<T>(write: boolean, path: string, syscall: string, fn: (fs: FsInfo) => Promise<T>): Promise<T> {
    try {
      return await (write ? this.filesystem.transaction(fn) : this.filesystem.read(fn));
    } catch (e) {
      throw withPath(e, syscall, path);
    }
  }

  private applies(loc: Loc, applies: 'subvolume' | 'inode' | 'filesystem'): boolean {
    if (applies === 'inode') return true;
    if (applies === 'subvolume') return subvolumeOfDir(loc.root, loc.ino) !== undefined;
    return loc.root === this.filesystem.topRoot && loc.ino === FIRST_INODE_OBJECTID;
  }

  private spec(name: string, loc: Loc): (typeof PROPERTIES)[number] {
    const spec = PROPERTIES.find((x) => x.name === name);
    if (!spec) throw new FsError('EINVAL', `unknown property '${name}'`);
    if (!this.applies(loc, spec.applies)) throw new FsError('EINVAL', `property '${name}' is for ${spec.applies === 'filesystem' ? "the filesystem ('/')" : `a ${spec.applies}`}`);
    return spec;
  }

  private async value(fs: FsInfo, name: PropertyName, loc: Loc): Promise<string> {
    switch (name) {
      case 'ro':
        return isReadonlySubvolume(loc.root) ? 'true' : 'false';
      case 'label':
        return utf8.decode(fs.sb.label).replace(/\0.*$/s, '');
      case 'compression':
        try {
          return utf8.decode(await getXattr(fs, loc.root, loc.ino, COMPRESSION_XATTR));
        } catch (e) {
          if (e instanceof FsError && e.code === 'ENODATA') return '';
          throw e;
        }
    }
  }

  /** `btrfs property get PATH NAME`: the value ('' for an unset compression). */
  async get(path: PathLike, name: PropertyName): Promise<string> {
    const p = pathString(path, 'ioctl');
    return this.run(false, p, 'ioctl', async (fs) => {
      const loc = await this.filesystem.promises.locate(fs, p);
      this.spec(name, loc);
      return this.value(fs, name, loc);
    });
  }

  /** `btrfs property list PATH` with the values: the properties that apply to `path`. */
  async list(path: PathLike): Promise<PropertyEntry[]> {
    const p = pathString(path, 'ioctl');
    return this.run(false, p, 'ioctl', async (fs) => {
      const loc = await this.filesystem.promises.locate(fs, p);
      const out: PropertyEntry[] = [];
      for (const s of PROPERTIES) {
        if (this.applies(loc, s.applies)) out.push({ name: s.name, description: s.description, value: await this.value(fs, s.name, loc) });
      }
      return out;
    });
  }

  /** `btrfs property set [-f] PATH NAME VALUE`. */
  async set(path: PathLike, name: PropertyName, value: string, options: { force?: boolean } = {}): Promise<void> {
    const p = pathString(path, 'ioctl');
    if (typeof value !== 'string') throw new FsError('EINVAL', 'the property value must be a string', { syscall: 'ioctl', path: p });
    let label = false;
    await this.run(name !== 'label', p, 'ioctl', async (fs) => {
      const loc = await this.filesystem.promises.locate(fs, p);
      this.spec(name, loc);
      switch (name) {
        case 'ro': {
          if (value !== 'true' && value !== 'false') throw new FsError('EINVAL', `invalid value for property ro: '${value}' (true or false)`);
          await setSubvolumeReadonly(fs, loc.root, value === 'true', { force: options.force });
          return;
        }
        case 'label':
          label = true; // fs.filesystem.setLabel commits it, outside this call's transaction
          return;
        case 'compression':
          await this.setCompression(fs, loc, value);
      }
    });
    if (label) {
      try {
        await this.filesystem.filesystem.setLabel(value);
      } catch (e) {
        throw withPath(e, 'ioctl', p);
      }
    }
  }

  /** btrfs_set_prop for btrfs.compression: validate, store (or remove) the xattr, apply the flags. */
  private async setCompression(fs: FsInfo, loc: Loc, value: string): Promise<void> {
    checkMutable(loc.root, loc.ino);
    const codec = value.split(':')[0];
    const none = value === 'no' || value === 'none';
    if (value !== '' && !none && !CODECS.includes(codec)) throw new FsError('EINVAL', `invalid compression '${value}' (zlib, lzo, zstd, no, none or '')`);
    if (value === '') {
      try {
        await removeXattr(fs, loc.root, loc.ino, COMPRESSION_XATTR);
      } catch (e) {
        if (!(e instanceof FsError && e.code === 'ENODATA')) throw e;
      }
    } else {
      await setXattr(fs, loc.root, loc.ino, COMPRESSION_XATTR, new TextEncoder().encode(value));
    }
    const item = await readInode(fs, loc.root, loc.ino);
    item.flags -= item.flags & (InodeFlags.COMPRESS | InodeFlags.NOCOMPRESS);
    if (none) item.flags |= InodeFlags.NOCOMPRESS;
    else if (value !== '') {
      // prop_compression_apply: the codec compresses the inode's writes from now on.
      item.flags |= InodeFlags.COMPRESS;
      setCompressIncompat(fs, codec as CompressionName);
    }
    await writeInode(fs, loc.root, loc.ino, item);
  }
}
