// The block group profiles as a table (btrfs volumes.c btrfs_raid_array[]). Code reads
// this table; it does not repeat its numbers.
import { BlockGroupFlags, BLOCK_GROUP_PROFILE_MASK } from '../format/constants.js';
import { FsError } from '../util/errors.js';

export type ProfileName = 'single' | 'dup' | 'raid0' | 'raid1' | 'raid1c3' | 'raid1c4' | 'raid10' | 'raid5' | 'raid6';

export interface RaidAttr {
  name: ProfileName;
  /** The block group flag bit (0 for single). */
  flag: number;
  /** Stripes per "sub stripe" group (2 for raid10). */
  subStripes: number;
  /** Maximum stripes (0 = as many devices as there are). */
  devsMax: number;
  devsMin: number;
  /** Devices whose loss the profile survives. */
  toleratedFailures: number;
  /** Stripes allocated per device (2 for dup). */
  devsIncrement: number;
  /** Copies of each byte. */
  ncopies: number;
  /** Parity stripes. */
  nparity: number;
  /** Whether the mapping from logical to stripes is implemented here yet. */
  implemented: boolean;
}

export const RAID_PROFILES: readonly RaidAttr[] = [
  { name: 'raid10', flag: BlockGroupFlags.RAID10, subStripes: 2, devsMax: 0, devsMin: 2, toleratedFailures: 1, devsIncrement: 1, ncopies: 2, nparity: 0, implemented: true },
  { name: 'raid1', flag: BlockGroupFlags.RAID1, subStripes: 1, devsMax: 2, devsMin: 2, toleratedFailures: 1, devsIncrement: 1, ncopies: 2, nparity: 0, implemented: true },
  { name: 'raid1c3', flag: BlockGroupFlags.RAID1C3, subStripes: 1, devsMax: 3, devsMin: 3, toleratedFailures: 2, devsIncrement: 1, ncopies: 3, nparity: 0, implemented: true },
  { name: 'raid1c4', flag: BlockGroupFlags.RAID1C4, subStripes: 1, devsMax: 4, devsMin: 4, toleratedFailures: 3, devsIncrement: 1, ncopies: 4, nparity: 0, implemented: true },
  { name: 'dup', flag: BlockGroupFlags.DUP, subStripes: 1, devsMax: 1, devsMin: 1, toleratedFailures: 0, devsIncrement: 1, ncopies: 2, nparity: 0, implemented: true },
  { name: 'raid0', flag: BlockGroupFlags.RAID0, subStripes: 1, devsMax: 0, devsMin: 1, toleratedFailures: 0, devsIncrement: 1, ncopies: 1, nparity: 0, implemented: true },
  { name: 'single', flag: 0, subStripes: 1, devsMax: 1, devsMin: 1, toleratedFailures: 0, devsIncrement: 1, ncopies: 1, nparity: 0, implemented: true },
  { name: 'raid5', flag: BlockGroupFlags.RAID5, subStripes: 1, devsMax: 0, devsMin: 2, toleratedFailures: 1, devsIncrement: 1, ncopies: 1, nparity: 1, implemented: false },
  { name: 'raid6', flag: BlockGroupFlags.RAID6, subStripes: 1, devsMax: 0, devsMin: 3, toleratedFailures: 2, devsIncrement: 1, ncopies: 1, nparity: 2, implemented: false },
];

export function profileByName(name: string): RaidAttr | undefined {
  return RAID_PROFILES.find((p) => p.name === name);
}

/** The profile of a block group / chunk type. */
export function profileOfFlags(flags: number): RaidAttr {
  const bits = flags & BLOCK_GROUP_PROFILE_MASK;
  const p = RAID_PROFILES.find((r) => r.flag === bits);
  if (!p) throw new FsError('EUCLEAN', `unknown block group profile bits 0x${bits.toString(16)}`);
  return p;
}

export function profileDisplay(flags: number): string {
  return profileOfFlags(flags).name.toUpperCase();
}
