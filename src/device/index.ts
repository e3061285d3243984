// The block devices, for the layers above and the public API. Browser-safe: nothing here imports
// a Node module statically (file.ts loads node:fs/promises only when FileDevice.create/open run).

export { DEVICE_ALIGN_BYTES } from './block-device.js';
export type { BlockDevice, ZoneInfo, ZoneReport } from './block-device.js';
export { MemoryDevice, MEMORY_PAGE_BYTES } from './memory.js';
export { FileDevice } from './file.js';
export { OpfsDevice, type OpfsOpenOptions } from './opfs.js';
export { IdbDevice, IDB_PAGE_BYTES, IDB_DB_PREFIX, type IdbOpenOptions } from './idb.js';
export { ZonedDevice, MIN_ZONE_BYTES, MAX_ZONE_BYTES, type ZonedOptions } from './zoned.js';
export {
  FaultDevice, mulberry32,
  type FaultDeviceOptions, type RecordedEvent, type RecordedFlush, type RecordedWrite, type UnflushedPolicy,
} from './fault.js';
