// Mounting (btrfs disk-io.c open_ctree): the newest valid superblock, the chunk map from
// sys_chunk_array then the chunk tree, the root tree and every global tree, block groups
// and their free space. Every block is read through the verifying choke point.
import type { BlockDevice } from '../device/block-device.js';
import { Key } from '../format/key.js';
import { viewOf } from '../format/struct.js';
import { RootItem, DevItem, BlockGroupItem, ROOT_ITEM_LEGACY_SIZE } from '../format/structs.js';
import {
  ItemType, CHUNK_TREE_OBJECTID, ROOT_TREE_OBJECTID, EXTENT_TREE_OBJECTID, DEV_TREE_OBJECTID, FS_TREE_OBJECTID,
  CSUM_TREE_OBJECTID, UUID_TREE_OBJECTID, FREE_SPACE_TREE_OBJECTID, DATA_RELOC_TREE_OBJECTID, QUOTA_TREE_OBJECTID,
  CompatRoFlags, FIRST_CHUNK_TREE_OBJECTID, DEV_ITEMS_OBJECTID,
} from '../format/constants.js';
import { csumTypeById, loadKernels } from '../kernels/checksum.js';
import { iterItems, lookup } from '../tree/ctree.js';
import { Volumes, decodeChunk } from '../volume/volumes.js';
import { FsError } from '../util/errors.js';
import { FsInfo, Root } from './fs-info.js';
import { readSuper, validateSuper, parseSysChunkArray, newestBackupSlot, backupRoot, SUPPORTED_COMPAT_RO } from './super.js';
import { newBlockGroup } from './space.js';
import { loadFreeSpaceTree } from './free-space-tree.js';

export interface OpenOptions {
  readonly?: boolean;
  /** nologreplay: mount (read-only) ignoring a tree-log left by fsync. */
  noLogReplay?: boolean;
  /** rescue=usebackuproot: try the backup roots, newest first, when the current ones fail. */
  useBackupRoot?: boolean;
  cacheBytes?: number;
}

/** Trees loaded at mount, besides the root and chunk trees. */
const GLOBAL_TREES = [EXTENT_TREE_OBJECTID, DEV_TREE_OBJECTID, FS_TREE_OBJECTID, CSUM_TREE_OBJECTID, UUID_TREE_OBJECTID, FREE_SPACE_TREE_OBJECTID, DATA_RELOC_TREE_OBJECTID, QUOTA_TREE_OBJECTID];
const REQUIRED_TREES = new Set([EXTENT_TREE_OBJECTID, DEV_TREE_OBJECTID, FS_TREE_OBJECTID, CSUM_TREE_OBJECTID]);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function openFs(devices: BlockDevice[], options: OpenOptions = {}): Promise<FsInfo> {
  await loadKernels();
  if (devices.length !== 1) throw new FsError('EINVAL', devices.length === 0 ? 'mount needs a device' : 'mounting several devices is not supported yet');
  const { sb } = await readSuper(devices[0]);
  validateSuper(sb);
  const csum = csumTypeById(sb.csumType).name;
  let readonly = options.readonly ?? false;
  const unknownRo = sb.compatRoFlags - (sb.compatRoFlags & SUPPORTED_COMPAT_RO);
  if (unknownRo !== 0 && !readonly) {
    throw new FsError('EINVAL', `superblock has compat_ro features 0x${unknownRo.toString(16)} that butterfs cannot write; mount read-only`);
  }
  const hasFst = (sb.compatRoFlags & CompatRoFlags.FREE_SPACE_TREE) !== 0 && (sb.compatRoFlags & CompatRoFlags.FREE_SPACE_TREE_VALID) !== 0;
  if (!hasFst && !readonly) throw new FsError('EINVAL', 'filesystems without a valid free space tree can only be mounted read-only');
  if (sb.logRoot !== 0 && !options.noLogReplay) {
    throw new FsError('EOPNOTSUPP', 'the filesystem has a tree-log (from an fsync) to replay, and log replay is not implemented yet; mount with ro,nologreplay to read it without the logged changes');
  }
  if (sb.numDevices !== 1) throw new FsError('EINVAL', `filesystem has ${sb.numDevices} devices; multi-device mounts are not supported yet`);
  if (!equalBytes(sb.devItem.fsid, sb.fsid)) throw new FsError('EUCLEAN', 'superblock dev_item fsid does not match');

  if (devices[0].sizeBytes < sb.devItem.totalBytes) {
    throw new FsError('EINVAL', `device holds ${devices[0].sizeBytes} bytes but the superblock says ${sb.devItem.totalBytes} (a truncated image?)`);
  }
  const volumes = new Volumes();
  volumes.devices.set(sb.devItem.devid, { devid: sb.devItem.devid, uuid: sb.devItem.uuid, device: devices[0], item: { ...sb.devItem } });
  for (const c of parseSysChunkArray(sb)) volumes.addChunk(c);

  const fs = new FsInfo({ sb, csum, volumes, readonly, cacheBytes: options.cacheBytes });
  const slot = newestBackupSlot(sb);
  fs.backupSlot = slot < 0 ? 0 : (slot + 1) % 4;

  const attempts: { root: number; rootLevel: number; generation: number; chunkRoot: number; chunkLevel: number; chunkGen: number }[] = [
    { root: sb.root, rootLevel: sb.rootLevel, generation: sb.generation, chunkRoot: sb.chunkRoot, chunkLevel: sb.chunkRootLevel, chunkGen: sb.chunkRootGeneration },
  ];
  if (options.useBackupRoot) {
    for (let k = 1; k <= 4; k++) {
      const b = backupRoot(sb, ((slot < 0 ? 0 : slot) - k + 8) % 4);
      if (b.treeRoot === 0 || b.treeRootGen >= sb.generation) continue;
      attempts.push({ root: b.treeRoot, rootLevel: b.treeRootLevel, generation: b.treeRootGen, chunkRoot: b.chunkRoot, chunkLevel: b.chunkRootLevel, chunkGen: b.chunkRootGen });
    }
  }
  const errors: string[] = [];
  for (const a of attempts) {
    try {
      await loadTrees(fs, a);
      if (a.generation !== sb.generation) {
        // Mounting an older root: later commits continue from it.
        fs.sb.generation = a.generation;
        fs.sb.logRoot = 0;
      }
      return fs;
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
      errors.push(`generation ${a.generation}: ${e.message}`);
      fs.roots.clear();
      fs.cache.clear();
    }
  }
  throw new FsError(errors.length > 1 ? 'EIO' : (errors.length ? 'EIO' : 'EINVAL'), `cannot open filesystem: ${errors.join('; ')}`);
}

async function loadTrees(fs: FsInfo, a: { root: number; rootLevel: number; generation: number; chunkRoot: number; chunkLevel: number; chunkGen: number }): Promise<void> {
  const chunkNode = await fs.readBlock(a.chunkRoot, { generation: a.chunkGen, level: a.chunkLevel, owner: CHUNK_TREE_OBJECTID });
  const chunkTree = new Root(CHUNK_TREE_OBJECTID, chunkNode, undefined);
  fs.roots.set(CHUNK_TREE_OBJECTID, chunkTree);
  for await (const it of iterItems(fs, chunkTree, Key.MIN, Key.MAX)) {
    if (it.key.type === ItemType.DEV_ITEM && it.key.objectid === DEV_ITEMS_OBJECTID) {
      if (it.data.length !== DevItem.size) throw new FsError('EUCLEAN', `dev item ${it.key} has size ${it.data.length}`);
      const item = DevItem.decode(viewOf(it.data), 0);
      const d = fs.volumes.devices.get(item.devid);
      if (!d) throw new FsError('EINVAL', `device ${item.devid} of this filesystem is missing`);
      if (!equalBytes(d.uuid, item.uuid)) throw new FsError('EUCLEAN', `device ${item.devid} uuid does not match the chunk tree`);
      if (d.device && d.device.sizeBytes < item.totalBytes) {
        throw new FsError('EINVAL', `device ${item.devid} holds ${d.device.sizeBytes} bytes but the filesystem says ${item.totalBytes} (a truncated image?)`);
      }
      d.item = item;
    } else if (it.key.type === ItemType.CHUNK_ITEM && it.key.objectid === FIRST_CHUNK_TREE_OBJECTID) {
      const map = decodeChunk(it.key.offset, it.data);
      const have = fs.volumes.chunkAt(map.start);
      if (have && have.start === map.start && have.length === map.length) continue; // from sys_chunk_array
      fs.volumes.addChunk(map);
    }
  }
  const rootNode = await fs.readBlock(a.root, { generation: a.generation, level: a.rootLevel, owner: ROOT_TREE_OBJECTID });
  const rootTree = new Root(ROOT_TREE_OBJECTID, rootNode, undefined);
  fs.roots.set(ROOT_TREE_OBJECTID, rootTree);
  for (const id of GLOBAL_TREES) {
    const data = await lookup(fs, rootTree, Key.of(id, ItemType.ROOT_ITEM, 0));
    if (!data) {
      if (REQUIRED_TREES.has(id)) throw new FsError('EUCLEAN', `root item of tree ${id} is missing`);
      if (id === FREE_SPACE_TREE_OBJECTID && !fs.readonly) throw new FsError('EUCLEAN', 'free space tree is flagged but missing');
      continue;
    }
    const item = decodeRootItem(data, id);
    const node = await fs.readBlock(item.bytenr, { generation: item.generation, level: item.level, owner: id });
    fs.roots.set(id, new Root(id, node, item));
  }
  // Block groups: one BLOCK_GROUP_ITEM per chunk (btrfs_read_block_groups).
  for (const c of fs.volumes.allChunks()) {
    const data = await lookup(fs, fs.extentTree, Key.of(c.start, ItemType.BLOCK_GROUP_ITEM, c.length));
    if (!data) throw new FsError('EUCLEAN', `chunk ${c.start} has no block group item`);
    const bgi = BlockGroupItem.decode(viewOf(data), 0);
    if (bgi.flags !== c.type) throw new FsError('EUCLEAN', `block group ${c.start} flags 0x${bgi.flags.toString(16)} differ from its chunk 0x${c.type.toString(16)}`);
    const bg = newBlockGroup(fs, c, bgi.used);
    bg.free = undefined;
    fs.blockGroups.add(bg);
  }
  if (fs.freeSpaceTree) await loadFreeSpaceTree(fs);
}

/** A ROOT_ITEM of either size btrfs has written (with or without the v2 fields). */
export function decodeRootItem(data: Uint8Array, id: number): ReturnType<typeof RootItem.decode> {
  if (data.length === RootItem.size) return RootItem.decode(viewOf(data), 0);
  if (data.length === ROOT_ITEM_LEGACY_SIZE) {
    const full = new Uint8Array(RootItem.size);
    full.set(data);
    return RootItem.decode(viewOf(full), 0);
  }
  throw new FsError('EUCLEAN', `root item of tree ${id} has size ${data.length}`);
}
