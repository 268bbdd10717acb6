// The process hands freed native memory back: glibc's malloc_trim through koffi, on a real heap.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mallocTrim } from '../../cmd/tke-apiserver/memory.ts';

describe('native memory', () => {
  it('hands back to the system the freed memory that lies between chunks still in use', function () {
    if (process.platform !== 'linux') this.skip();
    assert.equal(typeof mallocTrim(), 'function', 'malloc_trim from glibc through koffi');
    // In a process of its own, so that this one's allocations do not blur the figures: 64 MiB of
    // native buffers, every other one freed (holes free() cannot give back), then a trim.
    const script = `
      import { mallocTrim } from './cmd/tke-apiserver/memory.ts';
      let bufs = Array.from({ length: 1024 }, () => Buffer.allocUnsafeSlow(64 * 1024).fill(1));
      const kept = bufs.filter((_, i) => i % 2 === 1);
      bufs = undefined;
      for (let i = 0; i < 3; i++) gc();
      await new Promise(r => setTimeout(r, 50));
      const before = process.memoryUsage.rss();
      mallocTrim()(0);
      const after = process.memoryUsage.rss();
      console.log(JSON.stringify({ before, after, kept: kept.length }));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const { before, after } = JSON.parse(out.trim().split('\n').pop()!) as { before: number; after: number };
    assert.ok((before - after) / 1048576 > 24, `RSS ${before >> 20} -> ${after >> 20} MiB: the 32 MiB of holes should have been handed back`);
  });
});
