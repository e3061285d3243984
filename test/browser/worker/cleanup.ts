// Removing what a test run made: IndexedDB devices by name, OPFS directories by prefix.
import { IdbDevice } from '../../../src/device/idb.js';

export async function removeRun(prefix: string, idbDevices: string[]): Promise<void> {
  for (const device of idbDevices) await IdbDevice.remove(device);
  const root = await navigator.storage.getDirectory();
  const names: string[] = [];
  for await (const key of (root as unknown as { keys(): AsyncIterable<string> }).keys()) if (key.startsWith(prefix)) names.push(key);
  for (const key of names) await root.removeEntry(key, { recursive: true });
}
