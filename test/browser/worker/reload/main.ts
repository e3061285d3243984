// The page of the reload and two-tab tests (test/node/worker/reload.test.ts drives it with
// playwright-core): connect, act, report plain data on window.
import { connect, connectionInfo, type FilesystemClient } from '../../../../src/worker/client.js';

let fs: FilesystemClient | undefined;

const api = {
  async connect(name: string, backend: 'opfs' | 'idb', whenBusy: 'wait' | 'share' | 'fail') {
    fs = await connect({ name, backend, deviceSizeBytes: 64 << 20, mkfs: { label: 'reload' }, whenBusy });
    const info = connectionInfo(fs);
    return { state: info.state, formatted: info.summary?.formatted ?? null, label: info.summary?.label ?? null, generation: await fs.generation };
  },
  async write(path: string, text: string) {
    await fs!.promises.writeFile(path, text);
  },
  async read(path: string): Promise<string> {
    return fs!.promises.readFile(path, 'utf8');
  },
  async sync() {
    await fs!.sync();
    return fs!.generation;
  },
  async check() {
    return (await fs!.check()).ok;
  },
  state() {
    return fs ? connectionInfo(fs).state : 'none';
  },
  async close() {
    await fs!.close();
  },
};
(window as unknown as { butterfs: typeof api }).butterfs = api;
document.title = 'ready';
